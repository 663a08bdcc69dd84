//! Waiting for a condition, with errors that say what went wrong.
//!
//! A test that waits must never hang: it ends when the condition holds, when its time is up
//! (saying what it last saw), or when the API server has stopped answering (saying so), which
//! a bare watch would otherwise retry forever.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::wait::Condition;
use kube::runtime::watcher::{self, watch_object};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// How long the watch may fail without a single success before the API server counts as gone.
const UNREACHABLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("timed out after {after:?} waiting for {what}; last seen: {last_seen}")]
    Timeout {
        what: String,
        after: Duration,
        last_seen: String,
    },
    #[error(
        "the API server stopped answering while waiting for {what} \
         (no successful watch for {UNREACHABLE_AFTER:?}): {source}"
    )]
    ApiUnreachable {
        what: String,
        #[source]
        source: watcher::Error,
    },
}

/// Waits until `condition` holds for the object `name` (which may not exist yet) and returns it.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    condition: impl Condition<K>,
) -> Result<K, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    let exists_and_holds =
        move |object: Option<&K>| object.is_some() && condition.matches_object(object);
    let found = wait_until(api, name, what, timeout, exists_and_holds).await?;
    // The condition above only holds for an object, so `found` is always Some here.
    found.ok_or_else(|| WaitError::Timeout {
        what: what.to_string(),
        after: timeout,
        last_seen: describe::<K>(None),
    })
}

/// Waits until the object `name` no longer exists.
pub async fn wait_deleted<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
) -> Result<(), WaitError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    wait_until(api, name, what, timeout, |object: Option<&K>| {
        object.is_none()
    })
    .await?;
    Ok(())
}

async fn wait_until<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    condition: impl Condition<K>,
) -> Result<Option<K>, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    let deadline = Instant::now() + timeout;
    let mut events = std::pin::pin!(watch_object(api.clone(), name));
    let mut last_seen: Option<K> = None;
    let mut failing_since: Option<Instant> = None;
    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        match next {
            Err(_) | Ok(None) => {
                return Err(WaitError::Timeout {
                    what: what.to_string(),
                    after: timeout,
                    last_seen: describe(last_seen.as_ref()),
                });
            }
            Ok(Some(Ok(object))) => {
                failing_since = None;
                if condition.matches_object(object.as_ref()) {
                    return Ok(object);
                }
                last_seen = object;
            }
            Ok(Some(Err(source))) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= UNREACHABLE_AFTER {
                    return Err(WaitError::ApiUnreachable {
                        what: what.to_string(),
                        source,
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// The object's status (or "nothing") in one line, for a timeout message.
fn describe<K: Serialize>(object: Option<&K>) -> String {
    let Some(object) = object else {
        return "nothing (the object does not exist)".to_string();
    };
    let value = serde_json::to_value(object).unwrap_or_default();
    let shown = value.get("status").unwrap_or(&value).to_string();
    const MAX: usize = 600;
    if shown.len() > MAX {
        let cut = shown
            .char_indices()
            .nth(MAX)
            .map_or(shown.len(), |(i, _)| i);
        format!("{}…", &shown[..cut])
    } else {
        shown
    }
}
