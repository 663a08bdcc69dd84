-- The read-only journal API: what each decision's analysts saw (the data window: symbol,
-- timeframe, first and last bar, bar count, each seat's indicator values, as JSON), and the
-- indexes its pages walk — each list newest first by (time, key), so a page of a journal of a
-- million rows is an index range, never a sort. Keep in step with ../sqlite/0007_journal_api.sql.

ALTER TABLE decisions ADD COLUMN data_window TEXT;

CREATE INDEX cycles_started ON cycles (started_at, cycle_id);
CREATE INDEX orders_created ON orders (created_at, client_order_id);
CREATE INDEX orders_cycle ON orders (cycle_id);
CREATE INDEX fills_filled ON fills (filled_at, fill_id);
CREATE INDEX equity_snapshots_taken ON equity_snapshots (taken_at, id);
CREATE INDEX equity_snapshots_equity ON equity_snapshots (equity);
CREATE INDEX risk_rejections_cycle ON risk_rejections (cycle_id);
CREATE INDEX events_cycle ON events (cycle_id);
CREATE INDEX llm_calls_called ON llm_calls (called_at);
