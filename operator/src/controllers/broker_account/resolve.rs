//! The dereference step of an account: its credentials Secret, and the broker's verdict on
//! them — asked again only when due (see `verify::is_due`), remembered in the context
//! otherwise.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;

use super::AccountContext;
use super::validate::ValidAccount;
use super::verify::{self, Problem, Verification};
use crate::api::broker_account::BrokerAccount;
use crate::controllers::Error;

/// The verdict on the account's credentials: none when its broker needs none, a problem
/// when they cannot be read.
pub async fn resolve(
    account: &BrokerAccount,
    valid: &ValidAccount,
    context: &AccountContext,
    namespace: &str,
    key: &ObjectRef<BrokerAccount>,
    now: Timestamp,
) -> Result<Result<Option<Verification>, Problem>, Error> {
    let shared = &context.shared;
    let verification = if let Some(url) = &valid.account_url {
        let secret = match &account.spec.credentials_secret_ref {
            Some(reference) => Api::<Secret>::namespaced(shared.client.clone(), namespace)
                .get_opt(&reference.name)
                .await
                .map_err(|source| {
                    Error::resolve(format!("credentials Secret {}", reference.name), source)
                })?,
            None => None,
        };
        match verify::credentials(account, secret.as_ref()) {
            Err(problem) => Err(problem),
            Ok(credentials) => {
                let fingerprint = verify::fingerprint(url, &credentials);
                match context.remembered(key) {
                    Some(last) if !verify::is_due(Some(&last), &fingerprint, now) => Ok(Some(last)),
                    _ => {
                        let outcome = verify::verify(&context.http, url, &credentials).await;
                        let retry_in = if outcome.is_transient() {
                            // The shared backoff: 1 s doubling to 5 min, reset on success.
                            shared.backoff(key.to_string())
                        } else {
                            verify::REVERIFY_EVERY
                        };
                        tracing::info!(
                            account = %key,
                            %url,
                            outcome = outcome_name(&outcome),
                            retry_in_seconds = retry_in.as_secs(),
                            "verified broker credentials"
                        );
                        Ok(Some(Verification::new(fingerprint, now, outcome, retry_in)))
                    }
                }
            }
        }
    } else {
        Ok(None)
    };
    Ok(verification)
}

/// A stable, secret-free name for an outcome, for logs.
fn outcome_name(outcome: &verify::Outcome) -> &'static str {
    match outcome {
        verify::Outcome::Accepted { blocked: None, .. } => "accepted",
        verify::Outcome::Accepted { .. } => "accepted-blocked",
        verify::Outcome::Rejected { .. } => "rejected",
        verify::Outcome::Unexpected { .. } => "unexpected",
        verify::Outcome::Unreachable { .. } => "unreachable",
    }
}
