-- The journal schema (SQLite). Keep in step with ../postgres/0001_journal.sql.

CREATE TABLE cycles (
    cycle_id    TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    summary     TEXT
);

CREATE TABLE decisions (
    id              INTEGER PRIMARY KEY,
    cycle_id        TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_quantity REAL NOT NULL,
    confidence      REAL NOT NULL,
    rationale       TEXT NOT NULL,
    reports         TEXT NOT NULL,
    decided_at      TEXT NOT NULL
);
CREATE INDEX decisions_cycle ON decisions (cycle_id);

CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    cycle_id        TEXT,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    quantity        REAL NOT NULL,
    reference_price REAL NOT NULL,
    status          TEXT NOT NULL,
    broker_order_id TEXT,
    message         TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE fills (
    id              INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    quantity        REAL NOT NULL,
    price           REAL NOT NULL,
    commission      REAL NOT NULL,
    filled_at       TEXT NOT NULL
);

CREATE TABLE positions (
    symbol        TEXT PRIMARY KEY,
    quantity      REAL NOT NULL,
    average_price REAL NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE equity_snapshots (
    id       INTEGER PRIMARY KEY,
    taken_at TEXT NOT NULL,
    cash     REAL NOT NULL,
    equity   REAL NOT NULL
);

CREATE TABLE risk_rejections (
    id          INTEGER PRIMARY KEY,
    cycle_id    TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    cycle_id   TEXT,
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,
    details    TEXT,
    created_at TEXT NOT NULL
);

-- The paper broker's own books: its side of the account, as a real broker would keep it.
CREATE TABLE paper_account (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    cash       REAL NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE paper_orders (
    client_order_id      TEXT PRIMARY KEY,
    id                   TEXT NOT NULL,
    symbol               TEXT NOT NULL,
    side                 TEXT NOT NULL,
    quantity             REAL NOT NULL,
    filled_quantity      REAL NOT NULL,
    filled_average_price REAL,
    commission           REAL NOT NULL,
    status               TEXT NOT NULL,
    submitted_at         TEXT NOT NULL,
    filled_at            TEXT
);

CREATE TABLE paper_positions (
    symbol        TEXT PRIMARY KEY,
    quantity      REAL NOT NULL,
    average_price REAL NOT NULL,
    mark_price    REAL NOT NULL
);
