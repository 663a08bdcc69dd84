//! The validate step of an account: its spec with every default applied ([`ValidAccount`]).
//! Pure, and it cannot fail: the API server's schema checks the spec's shapes (and refuses
//! `Live` without the acknowledgement); what only the broker can judge, the credentials, is
//! the verdict the resolve step asks for (`verify`).

use super::verify::{ACCOUNT_PATH, ALPACA_LIVE_URL, ALPACA_PAPER_URL};
use crate::api::broker_account::{Broker, BrokerAccount, Environment};
use crate::controllers::runtime_config::is_live;

/// An account's spec with its defaults applied: what the resolve and report steps read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidAccount {
    /// `spec.environment`, Paper when unset.
    pub environment: Environment,
    /// The endpoint the credentials are checked against, for a broker the operator asks;
    /// `None` for the Paper broker, which has no credentials.
    pub account_url: Option<String>,
}

/// The account with its defaults applied.
pub fn validate(account: &BrokerAccount) -> ValidAccount {
    ValidAccount {
        environment: account.spec.environment.unwrap_or_default(),
        account_url: (account.spec.broker == Broker::Alpaca).then(|| account_url(account)),
    }
}

/// The account endpoint the credentials are checked against: the same base URL the
/// strategies' runtimes trade against (`spec.endpoint`, or the broker's paper or live URL).
pub fn account_url(account: &BrokerAccount) -> String {
    let base = match &account.spec.endpoint {
        Some(endpoint) => endpoint.trim_end_matches('/'),
        None if is_live(account) => ALPACA_LIVE_URL,
        None => ALPACA_PAPER_URL,
    };
    format!("{base}{ACCOUNT_PATH}")
}
