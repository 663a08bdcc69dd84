-- The journal schema (PostgreSQL). Keep in step with ../sqlite/0001_journal.sql.

CREATE TABLE cycles (
    cycle_id    TEXT PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      TEXT NOT NULL,
    summary     TEXT
);

CREATE TABLE decisions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cycle_id        TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_quantity DOUBLE PRECISION NOT NULL,
    confidence      DOUBLE PRECISION NOT NULL,
    rationale       TEXT NOT NULL,
    reports         TEXT NOT NULL,
    decided_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX decisions_cycle ON decisions (cycle_id);

CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    cycle_id        TEXT,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    quantity        DOUBLE PRECISION NOT NULL,
    reference_price DOUBLE PRECISION NOT NULL,
    status          TEXT NOT NULL,
    broker_order_id TEXT,
    message         TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_status ON orders (status);

CREATE TABLE fills (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    quantity        DOUBLE PRECISION NOT NULL,
    price           DOUBLE PRECISION NOT NULL,
    commission      DOUBLE PRECISION NOT NULL,
    filled_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE positions (
    symbol        TEXT PRIMARY KEY,
    quantity      DOUBLE PRECISION NOT NULL,
    average_price DOUBLE PRECISION NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE equity_snapshots (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at TIMESTAMPTZ NOT NULL,
    cash     DOUBLE PRECISION NOT NULL,
    equity   DOUBLE PRECISION NOT NULL
);

CREATE TABLE risk_rejections (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cycle_id    TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cycle_id   TEXT,
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,
    details    TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

-- The paper broker's own books: its side of the account, as a real broker would keep it.
CREATE TABLE paper_account (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    cash       DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE paper_orders (
    client_order_id      TEXT PRIMARY KEY,
    id                   TEXT NOT NULL,
    symbol               TEXT NOT NULL,
    side                 TEXT NOT NULL,
    quantity             DOUBLE PRECISION NOT NULL,
    filled_quantity      DOUBLE PRECISION NOT NULL,
    filled_average_price DOUBLE PRECISION,
    commission           DOUBLE PRECISION NOT NULL,
    status               TEXT NOT NULL,
    submitted_at         TIMESTAMPTZ NOT NULL,
    filled_at            TIMESTAMPTZ
);

CREATE TABLE paper_positions (
    symbol        TEXT PRIMARY KEY,
    quantity      DOUBLE PRECISION NOT NULL,
    average_price DOUBLE PRECISION NOT NULL,
    mark_price    DOUBLE PRECISION NOT NULL
);
