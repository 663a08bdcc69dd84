//! LLM answers in the journal: the store `--llm record` writes and `--llm replay` reads (see
//! `agents/llm/answers.rs` for the key). The first answer recorded for a question is kept,
//! so a replay cannot change under a later recording.

use chrono::Utc;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Journal, JournalError, with_pool};
use crate::agents::llm::{AnswerKey, AnswerStore, Completion, Usage};

impl Journal {
    /// Stores `completion` under `key` unless an answer is already stored there.
    pub async fn record_llm_answer(
        &self,
        key: &AnswerKey,
        completion: &Completion,
    ) -> Result<(), JournalError> {
        let sql = "INSERT INTO llm_answers (key_hash, key_text, provider, model, temperature, \
                   content, prompt_tokens, completion_tokens, recorded_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                   ON CONFLICT (key_hash) DO NOTHING";
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let now = Utc::now();
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&key.hash)
            .bind(&key.text)
            .bind(&key.provider)
            .bind(&key.model)
            .bind(key.temperature)
            .bind(&completion.content)
            .bind(tokens(completion.usage.prompt_tokens))
            .bind(tokens(completion.usage.completion_tokens))
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The answer stored under `key`, when its stored key text is `key.text`. A stored
    /// answer whose text differs (a hash collision, or a row edited by hand) is not served.
    pub async fn llm_answer(&self, key: &AnswerKey) -> Result<Option<Completion>, JournalError> {
        let sql = "SELECT key_text, content, prompt_tokens, completion_tokens \
                   FROM llm_answers WHERE key_hash = $1";
        let row: Option<(String, String, i64, i64)> = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(&key.hash)
            .fetch_optional(pool)
            .await)?;
        let Some((text, content, prompt, completion)) = row else {
            return Ok(None);
        };
        if text != key.text {
            tracing::warn!(
                hash = key.hash,
                "stored LLM answer has another key text; not served"
            );
            return Ok(None);
        }
        let tokens = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(Some(Completion {
            content,
            usage: Usage {
                prompt_tokens: tokens(prompt),
                completion_tokens: tokens(completion),
            },
        }))
    }

    /// How many answers are stored, for reports and tests.
    pub async fn llm_answer_count(&self) -> Result<i64, JournalError> {
        let sql = "SELECT COUNT(*) FROM llm_answers";
        let (count,): (i64,) = with_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(count)
    }
}

impl AnswerStore for Journal {
    fn put<'a>(
        &'a self,
        key: &'a AnswerKey,
        completion: &'a Completion,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            self.record_llm_answer(key, completion)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a AnswerKey) -> BoxFuture<'a, Result<Option<Completion>, String>> {
        async move { self.llm_answer(key).await.map_err(|e| e.to_string()) }.boxed()
    }
}
