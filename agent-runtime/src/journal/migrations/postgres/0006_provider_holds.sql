-- Each LLM provider's rate-limit hold: until when it asked (a 429's Retry-After, or the
-- backoff after a 429 without one) not to be called. A restarted trader waits out what its
-- previous life was told instead of calling again at once. One row per provider, the latest
-- end kept. The end is Unix milliseconds, rounded up, so both backends compare it as a
-- number. Keep in step with ../sqlite/0006_provider_holds.sql.

CREATE TABLE provider_holds (
    provider      TEXT PRIMARY KEY,
    held_until_ms BIGINT NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL
);
