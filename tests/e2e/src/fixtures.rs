//! Set-ups several controller tests share: a namespace with the TradingStrategy controller
//! running in-process, and a hot-standby strategy (two replicas on a Postgres journal).

use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use serde_json::{Value, json};
use tradeplane_operator::api::{BrokerAccount, TradingStrategy};
use tradeplane_operator::controllers::trading_strategy;

use crate::{InProcessController, TestNamespace, install_crds, shared_client};

/// A fresh namespace `<prefix>-…` with the CRDs installed and the TradingStrategy controller
/// running in this process for it.
pub async fn strategy_controller(
    prefix: &str,
) -> anyhow::Result<(TestNamespace, InProcessController)> {
    let client = shared_client().await?;
    install_crds(&client).await?;
    let namespace = TestNamespace::create(&client, prefix).await?;
    let controller = InProcessController::start(
        &client,
        &namespace.name,
        |context, ns, shutdown| async move { trading_strategy::run(context, Some(&ns), shutdown).await },
    )?;
    Ok((namespace, controller))
}

/// A paper account `paper`, the journal URL Secret `pg`, and the strategy `name` with two
/// replicas on that Postgres journal; `extra` adds to (or overrides) its spec.
pub async fn hot_standby(
    namespace: &TestNamespace,
    name: &str,
    extra: Value,
) -> anyhow::Result<()> {
    let account: BrokerAccount = serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper"}, "spec": {"broker": "Paper"},
    }))?;
    namespace
        .api::<BrokerAccount>()
        .create(&PostParams::default(), &account)
        .await?;
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
