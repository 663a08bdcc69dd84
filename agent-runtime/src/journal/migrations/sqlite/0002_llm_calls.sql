-- Every billed LLM call, so a restarted trader restores the day's spend per provider
-- instead of starting the day at zero. Keep in step with ../postgres/0002_llm_calls.sql.

CREATE TABLE llm_calls (
    id                INTEGER PRIMARY KEY,
    day               TEXT NOT NULL,
    provider          TEXT NOT NULL,
    role              TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd          REAL NOT NULL,
    called_at         TEXT NOT NULL
);
CREATE INDEX llm_calls_day ON llm_calls (day, provider);
