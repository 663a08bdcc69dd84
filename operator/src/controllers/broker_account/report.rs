//! The update_status step of an account: the strategies bound to it, the paper equity they
//! report, and the status computed from the verdict (pure, in `status`), written only when it
//! changed.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::KIND;
use super::status::{self, Check, Observation};
use super::validate::ValidAccount;
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::finish::{Report, finish};
use crate::controllers::{Context, Error};

/// Writes the account's status from the verdict `check`.
pub async fn report(
    account: &BrokerAccount,
    valid: &ValidAccount,
    shared: &Context,
    namespace: &str,
    check: Check<'_>,
    now: Timestamp,
) -> Result<(), Error> {
    let name = account.name_any();
    let strategies: Api<TradingStrategy> = Api::namespaced(shared.client.clone(), namespace);
    let listed = strategies
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::resolve("the namespace's TradingStrategies", source))?;
    let bound = status::bound_strategies(&name, &listed.items);
    let paper_equity = status::paper_equity(&name, &listed.items);

    let previous = account.status.as_ref();
    let (status, observed) = status::compute(
        &Observation {
            generation: account.metadata.generation,
            previous,
            check: check.clone(),
            bound_strategies: bound,
            environment: valid.environment,
            paper_equity,
        },
        now,
    );
    // A transient failure counts as one for the metrics, and keeps its backoff running: the
    // reconciles its own status write triggers must not reset it.
    let transient = check.is_transient();
    if transient {
        shared.metrics.reconcile_error(KIND, "BrokerUnreachable");
    }
    finish(
        shared,
        Report {
            object: account,
            status,
            previous: previous.cloned(),
            previous_conditions: previous
                .map(|s| s.conditions.as_slice())
                .unwrap_or_default(),
            observed: &observed,
            action: "Verify",
            succeeded: !transient,
        },
    )
    .await?;
    Ok(())
}
