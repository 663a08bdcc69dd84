-- Which backups this database was loaded from (`agent-runtime restore`): it describes the
-- database, not the strategy's trading, so backups do not carry it. Keep in step with
-- ../postgres/0004_restores.sql.

CREATE TABLE restores (
    backup          TEXT PRIMARY KEY,
    source_strategy TEXT NOT NULL,
    checksum        TEXT NOT NULL,
    row_count       INTEGER NOT NULL,
    restored_at     TEXT NOT NULL
);
