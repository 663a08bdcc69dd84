//! The BrokerAccount controller against the real control plane, started in-process for the
//! test's namespace, with the Alpaca stand-in as the broker: paper accounts are ready at once,
//! Alpaca credentials are read from their Secret and verified over the wire, bound strategies
//! are counted, and no credential reaches the status, an Event or a log line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use e2e::conditions::{self, has_condition};
use e2e::fixtures::{account_controller, apply_as_user};
use e2e::{InProcessController, TestNamespace, wait_for};
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::DeleteParams;
use kube::{Api, Client};
use serde_json::json;
use standins::alpaca::AlpacaStandin;
use tradeplane_operator::api::broker_account::BrokerAccount;
use tradeplane_operator::api::trading_strategy::TradingStrategy;

const WAIT: Duration = Duration::from_secs(30);
const KEY_ID: &str = "PKE2EKEYID42";
const SECRET_KEY: &str = "e2e-secret-key-never-shown-7f3a";
const WRONG_SECRET_KEY: &str = "e2e-wrong-secret-also-never-shown-9c1d";

/// Everything this test process logs, at debug level, to check that no credential is in it.
/// One subscriber for the whole process (the tests of this file run in it side by side).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || Capture(sink.clone()))
            .try_init()
            .unwrap();
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The shared set-up, with this process's logs captured from the start.
async fn setup(prefix: &str) -> (Client, TestNamespace, InProcessController) {
    captured_logs();
    let (ns, running) = account_controller(prefix).await.unwrap();
    (ns.client().clone(), ns, running)
}

async fn events_about(client: &Client, namespace: &str, name: &str) -> Vec<Event> {
    conditions::events_about(client, namespace, name)
        .await
        .unwrap()
}

/// Waits until an Event with `reason` about `name` exists; Events are written after the
/// status, so a test that saw the condition may be a moment early.
async fn wait_for_event(client: &Client, namespace: &str, name: &str, reason: &str) -> Event {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let events = events_about(client, namespace, name).await;
        if let Some(event) = events
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
        {
            return event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Event {reason} about {name} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn strategy(name: &str, account: &str) -> serde_json::Value {
    json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": name},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": account}},
    })
}

#[tokio::test]
async fn a_paper_account_is_ready_at_once_and_counts_the_strategies_bound_to_it() {
    let (client, ns, running) = setup("ba-paper").await;
    let accounts: Api<BrokerAccount> = ns.api();
    apply_as_user(
        &accounts,
        "paper",
        json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
            "metadata": {"name": "paper"},
            "spec": {"broker": "Paper", "paper": {"startingCash": 10000.0}},
        }),
    )
    .await
    .unwrap();
    let ready = wait_for(
        &accounts,
        "paper",
        "a ready paper account",
        WAIT,
        |a: Option<&BrokerAccount>| {
            has_condition(a, "Ready", "True", "PaperAccount")
                && has_condition(a, "CredentialsValid", "True", "NotRequired")
                && has_condition(a, "Stalled", "False", "Reconciled")
        },
    )
    .await
    .unwrap();
    let status = ready.status.unwrap();
    assert_eq!(status.bound_strategy_count, Some(0));
    assert_eq!(status.phase.as_deref(), Some("Ready"));
    assert_eq!(status.observed_generation, ready.metadata.generation);

    let strategies: Api<TradingStrategy> = ns.api();
    apply_as_user(&strategies, "momo", strategy("momo", "paper"))
        .await
        .unwrap();
    apply_as_user(&strategies, "alpha", strategy("alpha", "paper"))
        .await
        .unwrap();
    apply_as_user(&strategies, "elsewhere", strategy("elsewhere", "another"))
        .await
        .unwrap();
    wait_for(
        &accounts,
        "paper",
        "two bound strategies",
        WAIT,
        |a: Option<&BrokerAccount>| {
            a.and_then(|a| a.status.as_ref()).is_some_and(|s| {
                s.bound_strategies == ["alpha", "momo"] && s.bound_strategy_count == Some(2)
            })
        },
    )
    .await
    .unwrap();

    // Moving a strategy to another account unbinds it here.
    apply_as_user(&strategies, "momo", strategy("momo", "another"))
        .await
        .unwrap();
    strategies
        .delete("alpha", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        &accounts,
        "paper",
        "no bound strategies",
        WAIT,
        |a: Option<&BrokerAccount>| {
            a.and_then(|a| a.status.as_ref())
                .is_some_and(|s| s.bound_strategies.is_empty() && s.bound_strategy_count == Some(0))
        },
    )
    .await
    .unwrap();

    let ready_events = events_about(&client, &ns.name, "paper").await;
    assert!(
        ready_events
            .iter()
            .any(|e| e.reason.as_deref() == Some("PaperAccount")
                && e.type_.as_deref() == Some("Normal")),
        "{ready_events:?}"
    );
    running.stop().await.unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn alpaca_credentials_are_verified_against_the_broker_and_never_shown() {
    let standin = AlpacaStandin::start(KEY_ID, SECRET_KEY).await.unwrap();
    let (client, ns, running) = setup("ba-alpaca").await;
    let accounts: Api<BrokerAccount> = ns.api();
    let secrets: Api<Secret> = ns.api();
    apply_as_user(
        &accounts,
        "alpaca",
        json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
            "metadata": {"name": "alpaca"},
            "spec": {"broker": "Alpaca", "endpoint": standin.base_url(),
                     "credentialsSecretRef": {"name": "alpaca-keys"}},
        }),
    )
    .await
    .unwrap();

    // No Secret yet: said in a condition and an Event; the broker is not asked.
    wait_for(
        &accounts,
        "alpaca",
        "SecretNotFound",
        WAIT,
        |a: Option<&BrokerAccount>| {
            has_condition(a, "CredentialsValid", "False", "SecretNotFound")
                && has_condition(a, "Ready", "False", "SecretNotFound")
                && has_condition(a, "Stalled", "True", "SecretNotFound")
        },
    )
    .await
    .unwrap();
    let event = wait_for_event(&client, &ns.name, "alpaca", "SecretNotFound").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.message.unwrap_or_default().contains("alpaca-keys"));
    assert!(standin.requests().is_empty());

    // The wrong secret key: the broker refuses it.
    let keys = |secret_key: &str| {
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alpaca-keys"},
            "stringData": {"APCA_API_KEY_ID": KEY_ID, "APCA_API_SECRET_KEY": secret_key},
        })
    };
    apply_as_user(&secrets, "alpaca-keys", keys(WRONG_SECRET_KEY))
        .await
        .unwrap();
    let rejected = wait_for(
        &accounts,
        "alpaca",
        "CredentialsRejected",
        WAIT,
        |a: Option<&BrokerAccount>| {
            has_condition(a, "CredentialsValid", "False", "CredentialsRejected")
                && has_condition(a, "Ready", "False", "CredentialsRejected")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        rejected.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed")
    );
    wait_for_event(&client, &ns.name, "alpaca", "CredentialsRejected").await;

    // The right one: verified, with the broker's equity.
    apply_as_user(&secrets, "alpaca-keys", keys(SECRET_KEY))
        .await
        .unwrap();
    let verified = wait_for(
        &accounts,
        "alpaca",
        "verified credentials",
        WAIT,
        |a: Option<&BrokerAccount>| {
            has_condition(a, "CredentialsValid", "True", "Verified")
                && has_condition(a, "Ready", "True", "Verified")
        },
    )
    .await
    .unwrap();
    let status = verified.status.clone().unwrap();
    assert_eq!(status.equity.as_deref(), Some("100000"));
    assert!(status.last_verified_time.is_some());
    assert_eq!(status.phase.as_deref(), Some("Ready"));
    assert!(
        standin
            .requests()
            .iter()
            .all(|r| r.method == "GET" && r.path == "/v2/account")
    );

    // Verified means verified: the controller does not ask the broker again on every
    // reconcile (its own status writes trigger some), only when due or when keys change.
    let asked = standin.requests().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        standin.requests().len(),
        asked,
        "the broker is asked in a loop"
    );

    // No credential anywhere the operator writes.
    let account = accounts.get("alpaca").await.unwrap();
    let written = serde_json::to_string(&account.status).unwrap();
    let events = serde_json::to_string(&events_about(&client, &ns.name, "alpaca").await).unwrap();
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(
        logs.contains("verified broker credentials"),
        "the logs were not captured"
    );
    for value in [SECRET_KEY, WRONG_SECRET_KEY, KEY_ID] {
        assert!(!logs.contains(value), "a log line holds a credential");
        assert!(
            !written.contains(value),
            "status holds a credential: {written}"
        );
        assert!(
            !events.contains(value),
            "an Event holds a credential: {events}"
        );
    }

    // Deleting the Secret is noticed through the watch, without waiting for a resync.
    secrets
        .delete("alpaca-keys", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        &accounts,
        "alpaca",
        "SecretNotFound again",
        WAIT,
        |a: Option<&BrokerAccount>| has_condition(a, "CredentialsValid", "False", "SecretNotFound"),
    )
    .await
    .unwrap();

    running.stop().await.unwrap();
    standin.stop().await;
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn custom_keys_and_an_unreachable_broker_are_reported_without_stalling() {
    let (_client, ns, running) = setup("ba-down").await;
    let accounts: Api<BrokerAccount> = ns.api();
    let secrets: Api<Secret> = ns.api();
    apply_as_user(
        &secrets,
        "keys",
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys"},
            "stringData": {"id": KEY_ID},
        }),
    )
    .await
    .unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    apply_as_user(
        &accounts,
        "down",
        json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
            "metadata": {"name": "down"},
            "spec": {"broker": "Alpaca", "endpoint": "http://127.0.0.1:9",
                     "credentialsSecretRef": {"name": "keys", "keyIdKey": "id", "secretKeyKey": "secret"}},
        }),
    )
.await
.unwrap();
    let missing = wait_for(
        &accounts,
        "down",
        "SecretKeyMissing",
        WAIT,
        |a: Option<&BrokerAccount>| {
            has_condition(a, "CredentialsValid", "False", "SecretKeyMissing")
        },
    )
    .await
    .unwrap();
    let message = conditions::message(&missing, "CredentialsValid");
    assert!(
        message.contains("secret") && message.contains("keys"),
        "{message}"
    );

    apply_as_user(
        &secrets,
        "keys",
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys"},
            "stringData": {"id": KEY_ID, "secret": SECRET_KEY},
        }),
    )
    .await
    .unwrap();
    // Unreachable is transient: reconciling (retrying with backoff), not stalled.
    wait_for(
        &accounts,
        "down",
        "BrokerUnreachable",
        WAIT,
        |a: Option<&BrokerAccount>| {
            has_condition(a, "Ready", "False", "BrokerUnreachable")
                && has_condition(a, "Reconciling", "True", "BrokerUnreachable")
                && has_condition(a, "Stalled", "False", "Retrying")
        },
    )
    .await
    .unwrap();

    running.stop().await.unwrap();
    ns.delete().await.unwrap();
}
