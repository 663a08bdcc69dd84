-- Every billed LLM call, so a restarted trader restores the day's spend per provider
-- instead of starting the day at zero. Keep in step with ../sqlite/0002_llm_calls.sql.

CREATE TABLE llm_calls (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day               TEXT NOT NULL,
    provider          TEXT NOT NULL,
    role              TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd          DOUBLE PRECISION NOT NULL,
    called_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_calls_day ON llm_calls (day, provider);
