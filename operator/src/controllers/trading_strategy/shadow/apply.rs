//! The shadow's part of the apply step: its children made to exist while a shadow runs (and
//! removed otherwise), and the comparison of the two journals read. Only this module and
//! `journal` touch the API for the shadow; what they decide is in `gate` and `analysis`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::api::Api;
use kube::{Resource, ResourceExt};
use tradeplane_contract::config::{BrokerConfig, RuntimeConfig};
use tradeplane_contract::layout::CONFIG_FILE;

use super::analysis::{Verdict, judge};
use super::gate::{Comparison, Gate, previous_tally};
use super::journal::{self, JournalProxy};
use super::names::{DECISION_REVISION_ANNOTATION, ShadowNames};
use super::render::{Seed, ShadowChildren, ShadowInputs, render};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::trading_strategy::KIND;
use crate::controllers::trading_strategy::validate::ShadowPolicy;
use crate::controllers::{Context, Error, children};

/// What a Shadow strategy's shadow is made from, beside the strategy.
pub struct ShadowPlan {
    pub policy: Option<ShadowPolicy>,
    /// The decision revision the spec asks for.
    pub decision_revision: String,
    /// The new revision's validated runtime config, image and credentials.
    pub config: RuntimeConfig,
    pub image: String,
    pub credentials: BTreeMap<String, Vec<u8>>,
    /// The promotion gates do not admit `decision_revision` (`gates`): the live pods keep
    /// the template they run, whatever the shadow says.
    pub gates_hold: bool,
}

/// Makes the shadow exist as `gate` says and reads the comparison; returns it and how many
/// children were written. `live_revision` is the live pods' template revision.
pub async fn apply(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
    plan: &ShadowPlan,
    gate: &Gate,
    live_revision: &str,
) -> Result<(Comparison, usize), Error> {
    let names = ShadowNames::of(&strategy.name_any());
    let (Some(policy), Gate::Shadow) = (plan.policy.as_ref(), gate) else {
        return Ok((
            Comparison::Skipped,
            remove(context, namespace, &names).await?,
        ));
    };
    let revision = &plan.decision_revision;
    let previous = strategy.status.as_ref().and_then(|s| s.rollout.as_ref());
    let (tally, last_cycle) = previous_tally(previous, revision);
    let decided = previous
        .filter(|p| p.shadow_revision.as_deref() == Some(revision))
        .and_then(|p| p.verdict.as_deref())
        .is_some_and(|v| v == Verdict::Succeeded.as_str());
    if decided {
        // It passed and waits for a promote: it runs on as it is, the verdict is kept.
        return Ok((Comparison::Skipped, 0));
    }
    let live_journal = JournalProxy {
        client: &context.client,
        namespace,
        service: &crate::api::names::strategy_service(&strategy.name_any()),
    };
    let seed = match seed_of(context, namespace, &names, revision).await? {
        Some(seed) => seed,
        None => match journal::seed(&live_journal, &plan.config.symbols).await {
            Ok(seed) => seed,
            Err(reason) => {
                let writes = remove(context, namespace, &names).await?;
                let reason = format!("waiting to seed the shadow from the live book: {reason}");
                return Ok((
                    Comparison::Waiting {
                        seeding: true,
                        reason,
                    },
                    writes,
                ));
            }
        },
    };
    let rendered = render(&ShadowInputs {
        strategy,
        config: &plan.config,
        image: &plan.image,
        credentials: &plan.credentials,
        live_revision,
        seed: &seed,
    });
    let children = match rendered {
        Ok(children) => annotated(children, revision),
        Err(problem) => {
            let reason = format!("the shadow cannot be rendered: {problem}");
            return Ok((
                Comparison::Waiting {
                    seeding: true,
                    reason,
                },
                0,
            ));
        }
    };
    let writes = ensure(context, namespace, children).await?;
    let shadow_journal = JournalProxy {
        client: &context.client,
        namespace,
        service: &names.service,
    };
    let comparison = match journal::compare(&live_journal, &shadow_journal, tally, last_cycle).await
    {
        Ok(step) => Comparison::Judged {
            judgement: judge(&policy.thresholds, &step.tally),
            tally: step.tally,
            last_cycle: step.last_cycle,
            pnl_difference: step.pnl_difference,
        },
        Err(reason) => Comparison::Waiting {
            seeding: false,
            reason,
        },
    };
    Ok((comparison, writes))
}

/// The seed of the shadow already rendered for `revision`, read back from its config
/// Secret: a shadow is seeded once, when it starts, not again at every reconcile (its book
/// is its own from then on, and a new seed would restart it).
async fn seed_of(
    context: &Context,
    namespace: &str,
    names: &ShadowNames,
    revision: &str,
) -> Result<Option<Seed>, Error> {
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), namespace);
    let secret = secrets
        .get_opt(&names.config)
        .await
        .map_err(|source| Error::resolve(format!("Secret {}", names.config), source))?;
    let Some(secret) = secret.filter(|s| {
        s.annotations()
            .get(DECISION_REVISION_ANNOTATION)
            .map(String::as_str)
            == Some(revision)
    }) else {
        return Ok(None);
    };
    let text = secret
        .data
        .as_ref()
        .and_then(|d| d.get(CONFIG_FILE))
        .map(|b| String::from_utf8_lossy(&b.0).to_string())
        .unwrap_or_default();
    // A config the operator wrote that no longer parses is re-seeded rather than trusted.
    let Ok(config) = RuntimeConfig::parse(&text, std::path::Path::new(CONFIG_FILE)) else {
        return Ok(None);
    };
    let (BrokerConfig::Paper { starting_cash, .. }, Some(shadow)) = (config.broker, config.shadow)
    else {
        return Ok(None);
    };
    Ok(Some(Seed {
        cash: starting_cash,
        positions: shadow.seed_positions,
        resume_after: shadow.resume_after,
    }))
}

/// `children`, each marked with the decision revision it shadows.
fn annotated(mut children: ShadowChildren, revision: &str) -> ShadowChildren {
    let mark = |meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.annotations.get_or_insert_default().insert(
            DECISION_REVISION_ANNOTATION.to_string(),
            revision.to_string(),
        );
    };
    mark(children.config.meta_mut());
    mark(children.deployment.meta_mut());
    children
}

/// Applies the shadow's children, the identity and Secrets before the pods that use them.
async fn ensure(
    context: &Context,
    namespace: &str,
    children: ShadowChildren,
) -> Result<usize, Error> {
    let ShadowChildren {
        config,
        credentials,
        service_account,
        service,
        deployment,
    } = children;
    let (client, cache) = (&context.client, &context.children);
    let first = futures::try_join!(
        children::ensure_known(client, cache, KIND, namespace, service_account),
        children::ensure_known(client, cache, KIND, namespace, credentials),
        children::ensure_known(client, cache, KIND, namespace, config),
        children::ensure_known(client, cache, KIND, namespace, service),
    )?;
    let deployment = children::ensure_known(client, cache, KIND, namespace, deployment).await?;
    Ok([first.0, first.1, first.2, first.3, deployment]
        .iter()
        .filter(|w| **w)
        .count())
}

/// Removes the shadow's children, the pods first.
async fn remove(context: &Context, namespace: &str, names: &ShadowNames) -> Result<usize, Error> {
    let (client, cache) = (&context.client, &context.children);
    let deployment =
        children::remove_known::<Deployment>(client, cache, KIND, namespace, &names.deployment)
            .await?;
    let rest = futures::try_join!(
        children::remove_known::<Service>(client, cache, KIND, namespace, &names.service),
        children::remove_known::<Secret>(client, cache, KIND, namespace, &names.config),
        children::remove_known::<Secret>(client, cache, KIND, namespace, &names.credentials),
        children::remove_known::<ServiceAccount>(client, cache, KIND, namespace, &names.account),
    )?;
    Ok([deployment, rest.0, rest.1, rest.2, rest.3]
        .iter()
        .filter(|w| **w)
        .count())
}
