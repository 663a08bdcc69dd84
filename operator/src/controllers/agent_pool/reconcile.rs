//! One reconcile of an AgentPool, the steps in order: [`resolve_keys`] (dereference) →
//! [`validate`] → render the children (pure, `render`) → [`apply_children`] → [`report`] the
//! status. Only resolve, apply and report touch the API.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::KIND;
use super::apply::{Applied, apply_children, live_workload};
use super::render::{self, Inputs};
use super::report::report;
use super::resolve::resolve_keys;
use super::validate::validate;
use crate::api::agent_pool::AgentPool;
use crate::controllers::{Context, Error, Step};

/// One reconcile: resolve the keys, render, apply what differs, report.
pub async fn reconcile(pool: Arc<AgentPool>, context: Arc<Context>) -> Result<Action, Error> {
    let _timer = context.metrics.reconcile_started(KIND);
    let name = pool.name_any();
    let namespace = pool.namespace().ok_or_else(|| Error::NoNamespace {
        kind: KIND,
        name: name.clone(),
    })?;
    if pool.metadata.deletion_timestamp.is_some() {
        // Owner references take the children with it.
        return Ok(Action::await_change());
    }

    let (blocker, applied) = match resolve_keys(&pool, &namespace, &context).await? {
        Step::Blocked(blocker) => (Some(blocker), None),
        Step::Ready(keys) => match render_and_apply(&pool, &context, &namespace, keys).await? {
            Step::Blocked(blocker) => (Some(blocker), None),
            Step::Ready(applied) => (None, Some(applied)),
        },
    };
    let applied = match applied {
        Some(applied) => applied,
        // The workers of the last good rendering keep running; report them as they are.
        None => Applied {
            workload: live_workload(&context, &namespace, &name).await?,
            autoscaler_desired: None,
        },
    };
    let requeue = report(&pool, &context, &namespace, blocker, applied).await?;
    Ok(Action::requeue(requeue))
}

/// Validates and renders the workers' config and children, then applies them; a config the
/// workers would refuse, or a child the API server refuses, blocks instead.
async fn render_and_apply(
    pool: &AgentPool,
    context: &Context,
    namespace: &str,
    keys: BTreeMap<String, Vec<u8>>,
) -> Result<Step<Applied>, Error> {
    let valid = match validate(pool, namespace, &context.settings.runtime_image) {
        Ok(valid) => valid,
        Err(blocker) => return Ok(Step::Blocked(blocker)),
    };
    let inputs = Inputs {
        valid: &valid,
        keys,
    };
    let rendered = render::render(pool, &inputs).map_err(|source| Error::Render {
        what: "the pool's children",
        source,
    })?;
    match apply_children(context, namespace, &pool.name_any(), rendered).await {
        Ok(applied) => Ok(Step::Ready(applied)),
        Err(error) => match error.as_blocker() {
            Some(blocker) => Ok(Step::Blocked(blocker)),
            None => Err(error),
        },
    }
}
