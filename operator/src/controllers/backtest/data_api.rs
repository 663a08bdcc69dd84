//! Bars from the Alpaca-compatible market data API (`spec.data.api`): the validate step for
//! what the schema cannot check — the referenced BrokerAccount (read by the resolve step) and
//! the times — and what the render needs: the runs' flags and which Secret keys to mount.
//! Pure. The runs read only market data with the account's keys; they still trade the
//! simulated broker.

use chrono::{DateTime, Utc};
use tradeplane_contract::backtest_job::DataApi;

use crate::api::backtest::Backtest;
use crate::api::broker_account::{Broker, BrokerAccount, CredentialsSecretReference};
use crate::controllers::Blocker;

/// Alpaca's market data host, for an account without its own `endpoint`.
pub const ALPACA_DATA_URL: &str = "https://data.alpaca.markets";

/// The runs' market data API: their flags and the account's credentials Secret.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiAccess {
    pub settings: DataApi,
    pub secret: String,
    pub key_id_key: String,
    pub secret_key_key: String,
}

/// None without `spec.data.api`; otherwise the access, or what blocks it, naming the field.
pub fn check(
    backtest: &Backtest,
    account: Option<&BrokerAccount>,
) -> Result<Option<ApiAccess>, Blocker> {
    let data = &backtest.spec.data;
    let Some(api) = &data.api else {
        return Ok(None);
    };
    let start = time("spec.data.start", data.start.as_deref())?;
    let end = time("spec.data.end", data.end.as_deref())?;
    if end <= start {
        return Err(invalid(format!(
            "spec.data.end: {end} is not after spec.data.start {start}"
        )));
    }
    let name = &api.broker_account_ref.name;
    let field = "spec.data.api.brokerAccountRef";
    let Some(account) = account else {
        return Err(Blocker::new(
            "BrokerAccountNotFound",
            format!("{field}: the BrokerAccount `{name}` does not exist"),
        ));
    };
    let credentials = match (&account.spec.broker, &account.spec.credentials_secret_ref) {
        (Broker::Alpaca, Some(credentials)) => credentials,
        (Broker::Alpaca, None) => {
            return Err(invalid(format!(
                "{field}: the BrokerAccount `{name}` has no credentialsSecretRef"
            )));
        }
        (Broker::Paper, _) => {
            return Err(invalid(format!(
                "{field}: the BrokerAccount `{name}` is a Paper account, which serves no market data"
            )));
        }
    };
    Ok(Some(ApiAccess {
        settings: DataApi {
            url: account
                .spec
                .endpoint
                .clone()
                .unwrap_or_else(|| ALPACA_DATA_URL.to_string()),
            start: start.to_rfc3339(),
            end: end.to_rfc3339(),
            timeframe: api.timeframe.clone().unwrap_or_else(|| "1Day".to_string()),
        },
        secret: credentials.name.clone(),
        key_id_key: credentials
            .key_id_key
            .clone()
            .unwrap_or_else(|| CredentialsSecretReference::DEFAULT_KEY_ID_KEY.to_string()),
        secret_key_key: credentials
            .secret_key_key
            .clone()
            .unwrap_or_else(|| CredentialsSecretReference::DEFAULT_SECRET_KEY_KEY.to_string()),
    }))
}

fn time(field: &str, text: Option<&str>) -> Result<DateTime<Utc>, Blocker> {
    let text = text.unwrap_or_default();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| invalid(format!("{field}: {text:?} is not an RFC 3339 time: {e}")))
}

fn invalid(message: String) -> Blocker {
    Blocker::new("InvalidData", message)
}
