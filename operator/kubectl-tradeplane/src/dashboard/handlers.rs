//! The console's endpoints. Reads call the plugin's own functions (`status::gather`, the
//! journal proxy) and hand back their types as JSON; the live feed is a watch on
//! TradingStrategies made as the user; an action is the plugin's own patch, made as the user,
//! answered once the operator's status confirms it (the test of `actions::confirmed`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tradeplane_api::TradingStrategy;
use tradeplane_contract::journal_api::{
    ChartSeries, CycleDetail, CycleView, EquitySeries, FillView, LlmSpendView, OrderView, Page,
    PositionView, StrategySummary,
};

use super::error::ApiFailure;
use super::rows::{OverviewRow, row};
use super::{Console, Scope, assets, backtests, resources};
use crate::actions::{self, Action, FIELD_MANAGER, POLL_EVERY};
use crate::backup::{self, Progress};
use crate::proxy::{RuntimeProxy, query};
use crate::status;

type Shared = State<Arc<Console>>;

/// How long an action waits for the operator, as the plugin's `--timeout` default.
const CONFIRM_WITHIN: Duration = Duration::from_secs(120);
/// The journal API's query parameters the console passes on; others are dropped.
const PASSED_ON: [&str; 7] = [
    "limit", "cursor", "since", "until", "symbol", "points", "cycles",
];

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::file))
        .route("/api/v1/strategies", get(list))
        .route("/api/v1/events", get(events))
        .route("/api/v1/strategies/{namespace}/{name}", get(detail))
        .route("/api/v1/backtests", get(backtests::list))
        .route(
            "/api/v1/backtests/{namespace}/{name}",
            get(backtests::detail),
        )
        .route(
            "/api/v1/strategies/{namespace}/{name}/journal/{*endpoint}",
            get(journal),
        )
        .route(
            "/api/v1/strategies/{namespace}/{name}/actions/{action}",
            post(act),
        )
}

fn strategies(console: &Console) -> Api<TradingStrategy> {
    scoped(console)
}

/// The console's reach for a namespaced kind: one namespace, or all of them with `-A`.
pub(super) fn scoped<K>(console: &Console) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match &console.scope {
        Scope::All => Api::all(console.client.clone()),
        Scope::Namespace(n) => Api::namespaced(console.client.clone(), n),
    }
}

pub(super) fn in_scope(console: &Console, namespace: &str) -> Result<(), ApiFailure> {
    if console.scope.covers(namespace) {
        return Ok(());
    }
    Err(ApiFailure::new(
        StatusCode::NOT_FOUND,
        format!(
            "namespace {namespace} is not shown by this console; start it with -n {namespace} or -A"
        ),
    ))
}

/// `GET /api/v1/strategies`: a row per strategy, by namespace and name.
async fn list(State(console): Shared) -> Result<Json<Vec<OverviewRow>>, ApiFailure> {
    let list = strategies(&console)
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiFailure::from_kube(e, "list tradingstrategies"))?;
    let mut rows: Vec<OverviewRow> = list.items.iter().map(row).collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Json(rows))
}

/// `GET /api/v1/events`: server-sent events from watches, made as the user, on
/// TradingStrategies, AgentPools and BrokerAccounts. Each kind has its [`FeedNames`]: a row
/// when one is added or changed, its row again when it goes, a mark once the first list is
/// in, and a sentence when the watch is refused or breaks (it is retried with a backoff).
async fn events(State(console): Shared) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let feeds = [
        feed(strategies(&console), &STRATEGY_FEED, row).boxed(),
        feed(scoped(&console), &POOL_FEED, resources::pool_row).boxed(),
        feed(scoped(&console), &ACCOUNT_FEED, resources::account_row).boxed(),
    ];
    Sse::new(futures::stream::select_all(feeds)).keep_alive(KeepAlive::default())
}

/// The event names of one kind's feed on the console's stream.
struct FeedNames {
    changed: &'static str,
    deleted: &'static str,
    synced: &'static str,
    failure: &'static str,
    /// The resource, as a refusal names it.
    resource: &'static str,
}

const STRATEGY_FEED: FeedNames = FeedNames {
    changed: "strategy",
    deleted: "deleted",
    synced: "synced",
    failure: "failure",
    resource: "tradingstrategies",
};
const POOL_FEED: FeedNames = FeedNames {
    changed: "pool",
    deleted: "pool-deleted",
    synced: "pool-synced",
    failure: "pool-failure",
    resource: "agentpools",
};
const ACCOUNT_FEED: FeedNames = FeedNames {
    changed: "account",
    deleted: "account-deleted",
    synced: "account-synced",
    failure: "account-failure",
    resource: "brokeraccounts",
};

/// One kind's watch as server-sent events of its rows.
fn feed<K, R>(
    api: Api<K>,
    names: &'static FeedNames,
    to_row: fn(&K) -> R,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
    R: Serialize + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| async move {
            let (name, data) = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    (names.changed, serde_json::to_string(&to_row(&o)))
                }
                Ok(watcher::Event::Delete(o)) => {
                    (names.deleted, serde_json::to_string(&to_row(&o)))
                }
                Ok(watcher::Event::InitDone) => (names.synced, Ok("{}".to_string())),
                Ok(watcher::Event::Init) => return None,
                Err(error) => (
                    names.failure,
                    serde_json::to_string(&ApiFailure::new(
                        StatusCode::BAD_GATEWAY,
                        format!("the watch on {} failed: {error}", names.resource),
                    )),
                ),
            };
            let data = data.unwrap_or_else(|e| format!("{{\"message\":\"{e}\"}}"));
            Some(Ok(SseEvent::default().event(name).data(data)))
        })
}

/// `GET /api/v1/strategies/{ns}/{name}`: what `kubectl tradeplane status -o json` prints.
async fn detail(
    State(console): Shared,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    in_scope(&console, &namespace)?;
    let view = status::gather(&console.target(&namespace), &name).await?;
    Ok(Json(view).into_response())
}

/// `GET /api/v1/strategies/{ns}/{name}/journal/{endpoint}`: one journal API endpoint through
/// the service proxy, decoded into the contract's type and encoded again, so the page reads
/// exactly what the runtime answered and nothing that is not in the contract.
async fn journal(
    State(console): Shared,
    Path((namespace, name, endpoint)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiFailure> {
    in_scope(&console, &namespace)?;
    let pairs: Vec<(&str, Option<String>)> = PASSED_ON
        .iter()
        .map(|key| (*key, params.get(*key).cloned()))
        .collect();
    let proxy = RuntimeProxy::new(console.client.clone(), &namespace, &name);
    let path = format!("{endpoint}{}", query(&pairs));
    match endpoint.as_str() {
        "summary" => relay::<StrategySummary>(&proxy, &path).await,
        "cycles" => relay::<Page<CycleView>>(&proxy, &path).await,
        "orders" => relay::<Page<OrderView>>(&proxy, &path).await,
        "fills" => relay::<Page<FillView>>(&proxy, &path).await,
        "positions" => relay::<Page<PositionView>>(&proxy, &path).await,
        "equity" => relay::<EquitySeries>(&proxy, &path).await,
        "chart" => relay::<ChartSeries>(&proxy, &path).await,
        "llm-spend" => relay::<Page<LlmSpendView>>(&proxy, &path).await,
        other => match other.strip_prefix("cycles/") {
            Some(id) if cycle_id_ok(id) => relay::<CycleDetail>(&proxy, &path).await,
            _ => Err(ApiFailure::new(
                StatusCode::NOT_FOUND,
                format!("the journal API has no endpoint '{other}'"),
            )),
        },
    }
}

async fn relay<T: DeserializeOwned + Serialize>(
    proxy: &RuntimeProxy,
    path: &str,
) -> Result<Response, ApiFailure> {
    let answer: T = proxy.get(path).await?;
    Ok(Json(answer).into_response())
}

/// A cycle id as the journal makes them (`20240520T000000Z`): nothing that could step out
/// of the path.
fn cycle_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.')
}

/// What an action answers once the operator has confirmed it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionDone {
    pub action: String,
    pub strategy: String,
    pub message: String,
    pub row: OverviewRow,
}

#[derive(Clone, Copy)]
enum Request {
    Plain(Action),
    Backup,
}

fn request(name: &str) -> Option<Request> {
    Some(match name {
        "suspend" => Request::Plain(Action::Suspend),
        "resume" => Request::Plain(Action::Resume),
        "restart" => Request::Plain(Action::Restart),
        "switchover" => Request::Plain(Action::Switchover),
        "backup" => Request::Backup,
        _ => return None,
    })
}

/// `POST /api/v1/strategies/{ns}/{name}/actions/{action}`: the plugin's patch for the
/// action, as the user; then waits for the operator's confirmation in the status.
async fn act(
    State(console): Shared,
    Path((namespace, name, action)): Path<(String, String, String)>,
) -> Result<Json<ActionDone>, ApiFailure> {
    in_scope(&console, &namespace)?;
    let Some(wanted) = request(&action) else {
        return Err(ApiFailure::new(
            StatusCode::NOT_FOUND,
            format!(
                "no action '{action}'; the actions are suspend, resume, restart, switchover, backup"
            ),
        ));
    };
    let target = console.target(&namespace);
    let before = target.strategy(&name).await?;
    let requested = chrono::Utc::now();
    let stamp = requested.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = match wanted {
        Request::Plain(a) => {
            actions::precheck(a, &before)?;
            actions::patch(a, &stamp)
        }
        Request::Backup => {
            backup::precheck(&before)?;
            backup::patch(&stamp)
        }
    };
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let patched = target
        .api::<TradingStrategy>()
        .patch(&name, &params, &Patch::Merge(body))
        .await
        .map_err(|e| ApiFailure::from_kube(e, &format!("{action} {namespace}/{name}")))?;
    let generation = patched.metadata.generation.unwrap_or(0);
    // Whole seconds, as the backup's report time is compared with it.
    let requested = chrono::DateTime::parse_from_rfc3339(&stamp)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(requested);
    let started = Instant::now();
    let mut current = patched;
    loop {
        if let Some(message) = confirmation(wanted, &current, generation, &stamp, requested)? {
            return Ok(Json(ActionDone {
                action,
                strategy: name,
                message,
                row: row(&current),
            }));
        }
        if started.elapsed() >= CONFIRM_WITHIN {
            return Err(ApiFailure::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the change is in the spec, but the operator has not confirmed it after \
                     {}s; last seen: {}",
                    CONFIRM_WITHIN.as_secs(),
                    actions::last_seen(&current)
                ),
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
        current = target.strategy(&name).await?;
    }
}

/// The operator's confirmation, as the plugin's subcommands wait for it: `Some(sentence)`
/// once the status shows the action handled.
fn confirmation(
    wanted: Request,
    current: &TradingStrategy,
    generation: i64,
    stamp: &str,
    requested: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, ApiFailure> {
    Ok(match wanted {
        Request::Plain(a) => actions::confirmed(a, current, generation, stamp)
            .then(|| format!("the operator confirmed it: {}", actions::last_seen(current))),
        Request::Backup => match backup::progress(current, stamp, requested) {
            Progress::Succeeded(report) => Some(format!(
                "backup {} taken",
                report.name.as_deref().unwrap_or("(unnamed)")
            )),
            Progress::Failed(why) => {
                return Err(ApiFailure::new(
                    StatusCode::BAD_GATEWAY,
                    format!("the backup failed: {why}"),
                ));
            }
            Progress::Waiting(_) => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_ids_cannot_leave_the_path() {
        assert!(cycle_id_ok("20240520T000000Z"));
        for bad in ["", "../summary", "a/b", "a?b", ".hidden", &"x".repeat(65)] {
            assert!(!cycle_id_ok(bad), "{bad}");
        }
    }

    #[test]
    fn every_action_of_the_page_is_known() {
        for name in ["suspend", "resume", "restart", "switchover", "backup"] {
            assert!(request(name).is_some(), "{name}");
        }
        assert!(request("delete").is_none());
    }
}
