-- Which backups this database was loaded from (`agent-runtime restore`): it describes the
-- database, not the strategy's trading, so backups do not carry it. Keep in step with
-- ../sqlite/0004_restores.sql.

CREATE TABLE restores (
    backup          TEXT PRIMARY KEY,
    source_strategy TEXT NOT NULL,
    checksum        TEXT NOT NULL,
    row_count       BIGINT NOT NULL,
    restored_at     TIMESTAMPTZ NOT NULL
);
