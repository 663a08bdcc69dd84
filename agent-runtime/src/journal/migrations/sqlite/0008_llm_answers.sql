-- LLM answers, recorded so a backtest (or a live decision) can be replayed without calling
-- a provider: keyed by the SHA-256 of a canonical JSON of provider, model, temperature and
-- the exact messages, with that JSON kept in full so a lookup verifies it found the same
-- question. The first answer to a question is kept (a replay must not change under it).
-- Keep in step with ../postgres/0008_llm_answers.sql.

CREATE TABLE llm_answers (
    key_hash          TEXT PRIMARY KEY,
    key_text          TEXT NOT NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    temperature       REAL NOT NULL,
    content           TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    recorded_at       TEXT NOT NULL
);
