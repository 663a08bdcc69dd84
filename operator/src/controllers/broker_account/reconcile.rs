//! One reconcile of a BrokerAccount: [`validate`] (its defaults applied) → [`resolve`] the
//! credentials and the broker's verdict → [`report`] the status. An account has no children,
//! so there is no render or apply step; what only the broker can judge is the verdict itself
//! (`verify::credentials`, `verify::verify`).

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::report::report;
use super::resolve::resolve;
use super::status::Check;
use super::validate::validate;
use super::{AccountContext, KIND, verify};
use crate::api::broker_account::BrokerAccount;
use crate::controllers::{Error, RESYNC};

/// One reconcile: read the Secret, ask the broker if due, count bound strategies, report.
pub async fn reconcile(
    account: Arc<BrokerAccount>,
    context: Arc<AccountContext>,
) -> Result<Action, Error> {
    let shared = &context.shared;
    let _timer = shared.metrics.reconcile_started(KIND);
    let name = account.name_any();
    let namespace = account.namespace().ok_or_else(|| Error::NoNamespace {
        kind: KIND,
        name: name.clone(),
    })?;
    if account.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let key = ObjectRef::from_obj(&*account);
    let now = verify::now_to_the_second();

    let valid = validate(&account);
    let verification = resolve(&account, &valid, &context, &namespace, &key, now).await?;
    // Remember only verdicts on credentials that could be read: once the Secret is fixed the
    // broker must be asked again even if it holds the same keys as before.
    context.remember(
        key.clone(),
        verification.as_ref().ok().and_then(Clone::clone),
    );
    let check = match &verification {
        Ok(None) => Check::NotRequired,
        Err(problem) => Check::Unreadable(problem.clone()),
        Ok(Some(v)) => Check::Answered {
            outcome: &v.outcome,
            at: v.at,
        },
    };

    report(&account, &valid, shared, &namespace, check, now).await?;
    Ok(match &verification {
        Ok(Some(v)) => Action::requeue(v.due_in(now).clamp(Duration::from_secs(1), RESYNC)),
        _ => Action::requeue(RESYNC),
    })
}
