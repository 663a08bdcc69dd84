//! Set-ups several controller tests share: a namespace with one of the operator's controllers
//! running in-process, the paper account `paper`, and a hot-standby strategy (two replicas on a
//! Postgres journal).

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};
use tradeplane_operator::controllers::{Context, agent_pool, broker_account, trading_strategy};

use crate::controller::Shutdown;
use crate::{InProcessController, TestNamespace, install_crds, shared_client};

/// A fresh namespace `<prefix>-…` with the CRDs installed and `run` (a controller's `run`,
/// as [`InProcessController::start`] takes it) running in this process for it.
pub async fn controller_in_namespace<Run, Running>(
    prefix: &str,
    run: Run,
) -> anyhow::Result<(TestNamespace, InProcessController)>
where
    Run: FnOnce(Arc<Context>, String, Shutdown) -> Running,
    Running: Future<Output = ()> + Send + 'static,
{
    let client = shared_client().await?;
    install_crds(&client).await?;
    let namespace = TestNamespace::create(&client, prefix).await?;
    let controller = InProcessController::start(&client, &namespace.name, run)?;
    Ok((namespace, controller))
}

/// A fresh namespace with the TradingStrategy controller running for it.
pub async fn strategy_controller(
    prefix: &str,
) -> anyhow::Result<(TestNamespace, InProcessController)> {
    controller_in_namespace(prefix, |context, ns, shutdown| async move {
        trading_strategy::run(context, Some(&ns), shutdown).await
    })
    .await
}

/// A fresh namespace with the AgentPool controller running for it.
pub async fn pool_controller(prefix: &str) -> anyhow::Result<(TestNamespace, InProcessController)> {
    controller_in_namespace(prefix, |context, ns, shutdown| async move {
        agent_pool::run(context, Some(&ns), shutdown).await
    })
    .await
}

/// A fresh namespace with the BrokerAccount controller running for it.
pub async fn account_controller(
    prefix: &str,
) -> anyhow::Result<(TestNamespace, InProcessController)> {
    controller_in_namespace(prefix, |context, ns, shutdown| async move {
        broker_account::run(context, Some(&ns), shutdown).await
    })
    .await
}

/// The paper account `paper` with the defaults (the name the strategies of the tests refer to).
pub fn paper_account() -> anyhow::Result<BrokerAccount> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper"}, "spec": {"broker": "Paper"},
    }))?)
}

/// Creates [`paper_account`] in `namespace`.
pub async fn create_paper_account(namespace: &TestNamespace) -> anyhow::Result<()> {
    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &paper_account()?)
        .await?;
    Ok(())
}

/// Server-side applies `object` as `name`, forced, as a user with `kubectl apply
/// --server-side --force-conflicts` would (field manager `e2e-user`).
pub async fn apply_as_user<K>(api: &Api<K>, name: &str, object: Value) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(api
        .patch(
            name,
            &PatchParams::apply("e2e-user").force(),
            &Patch::Apply(&object),
        )
        .await?)
}

/// A paper account `paper`, the journal URL Secret `pg`, and the strategy `name` with two
/// replicas on that Postgres journal; `extra` adds to (or overrides) its spec.
pub async fn hot_standby(
    namespace: &TestNamespace,
    name: &str,
    extra: Value,
) -> anyhow::Result<()> {
    create_paper_account(namespace).await?;
    let url: Secret = serde_json::from_value(json!({
        "metadata": {"name": "pg"},
        "stringData": {"url": "postgres://trader:first@db:5432/journal"},
    }))?;
    namespace
        .api::<Secret>()
        .create(&PostParams::default(), &url)
        .await?;
    let mut spec = json!({
        "symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}, "replicas": 2,
        "journal": {"backend": "Postgres", "postgres": {"urlSecretRef": {"name": "pg", "key": "url"}}},
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let strategy: TradingStrategy = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": name}, "spec": spec,
    }))?;
    namespace
        .api::<TradingStrategy>()
        .create(&PostParams::default(), &strategy)
        .await?;
    Ok(())
}
