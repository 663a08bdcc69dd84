-- Fills: one row per fill, so an order filled in parts has a row for each part, keyed by
-- `fill_id` (the broker's order id and the cumulative quantity the fill brought it to)
-- instead of by order. A fill journalled before this was an order's whole fill: its order's
-- client order id stays its key. Keep in step with ../sqlite/0005_fill_ids.sql.

ALTER TABLE fills ADD COLUMN fill_id TEXT;
UPDATE fills SET fill_id = client_order_id;
ALTER TABLE fills ALTER COLUMN fill_id SET NOT NULL,
    DROP CONSTRAINT fills_client_order_id_key,
    ADD CONSTRAINT fills_fill_id_key UNIQUE (fill_id);
CREATE INDEX fills_order ON fills (client_order_id);
