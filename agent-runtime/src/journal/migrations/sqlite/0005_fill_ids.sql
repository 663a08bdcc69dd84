-- Fills: one row per fill, so an order filled in parts has a row for each part, keyed by
-- `fill_id` (the broker's order id and the cumulative quantity the fill brought it to)
-- instead of by order. SQLite cannot drop a UNIQUE constraint, so the table is rebuilt, with
-- `fill_id` last as PostgreSQL's ALTER TABLE places it. A fill journalled before this was
-- an order's whole fill: its order's client order id stays its key. Keep in step with
-- ../postgres/0005_fill_ids.sql.

ALTER TABLE fills RENAME TO fills_before_fill_ids;
CREATE TABLE fills (
    id              INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,
    quantity        REAL NOT NULL,
    price           REAL NOT NULL,
    commission      REAL NOT NULL,
    filled_at       TEXT NOT NULL,
    fill_id         TEXT NOT NULL UNIQUE
);
INSERT INTO fills (id, client_order_id, symbol, side, quantity, price, commission, filled_at,
                   fill_id)
    SELECT id, client_order_id, symbol, side, quantity, price, commission, filled_at,
           client_order_id
    FROM fills_before_fill_ids;
DROP TABLE fills_before_fill_ids;
CREATE INDEX fills_order ON fills (client_order_id);
