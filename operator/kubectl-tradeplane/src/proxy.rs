//! The runtime's journal API, reached through the API server's service proxy:
//! `/api/v1/namespaces/{ns}/services/{service}:{port}/proxy/api/v1/...`.
//!
//! Why the proxy: it needs nothing but the user's kubeconfig and `get services/proxy` — no
//! port-forward, no Ingress, no credential of the operator's — and the user's RBAC is the
//! only gate. The API server answers some failures itself (no Service, no ready endpoint,
//! refused); those are told apart from the runtime's own refusals (its `ApiError` body).

use http::Request;
use kube::Client;
use kube::client::Body;
use serde::de::DeserializeOwned;
use tradeplane_contract::journal_api::{API_PREFIX, ApiError, encode_query_value};

use crate::error::Error;
use crate::names;

/// One strategy's runtime, through its Service.
#[derive(Clone)]
pub struct RuntimeProxy {
    client: Client,
    pub namespace: String,
    pub strategy: String,
    pub service: String,
    pub port: String,
}

impl RuntimeProxy {
    pub fn new(client: Client, namespace: &str, strategy: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_string(),
            strategy: strategy.to_string(),
            service: names::service(strategy),
            port: names::SERVICE_PORT_NAME.to_string(),
        }
    }

    /// The API server path of a journal API endpoint, e.g. `summary` or `cycles?limit=5`.
    pub fn path(&self, endpoint: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy{API_PREFIX}/{endpoint}",
            self.namespace, self.service, self.port
        )
    }

    /// GETs an endpoint and decodes its answer.
    pub async fn get<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, Error> {
        let path = self.path(endpoint);
        let request = Request::get(&path)
            .header("Accept", "application/json")
            .body(Body::from(Vec::new()))
            .map_err(|e| self.unreachable(format!("the request could not be built: {e}")))?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| self.unreachable(format!("the API server could not be asked: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| self.unreachable(format!("the answer was cut off: {e}")))?;
        let shown = format!("{API_PREFIX}/{endpoint}");
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| Error::Decode {
                path: shown,
                detail: e.to_string(),
            });
        }
        Err(self.refusal(&shown, status, &body))
    }

    /// What a non-2xx answer means: the runtime's own refusal, or the API server's.
    fn refusal(&self, shown: &str, status: u16, body: &[u8]) -> Error {
        if let Ok(refused) = serde_json::from_slice::<ApiError>(body) {
            return Error::RuntimeRefused {
                path: shown.to_string(),
                status,
                message: refused.message,
            };
        }
        let message = serde_json::from_slice::<kube::core::Status>(body)
            .map(|s| s.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_string());
        match status {
            403 => Error::Forbidden {
                verb: "get",
                resource: "services/proxy",
                namespace: self.namespace.clone(),
            },
            404 => self.unreachable(format!(
                "the Service or its port was not found ({message}); is the strategy running as \
                 a trader (not cycle CronJobs) and has the operator reconciled it?"
            )),
            503 => self.unreachable(format!(
                "no ready endpoint answered ({message}); the runtime pods may be starting or \
                 not Ready"
            )),
            _ => self.unreachable(format!("the API server answered {status}: {message}")),
        }
    }

    fn unreachable(&self, reason: String) -> Error {
        Error::RuntimeUnreachable {
            strategy: self.strategy.clone(),
            namespace: self.namespace.clone(),
            service: self.service.clone(),
            port: self.port.clone(),
            reason,
        }
    }
}

/// A query string from pairs, each value percent-encoded (times carry `:` and `+`).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(key, value)| {
            value
                .as_ref()
                .map(|v| format!("{key}={}", encode_query_value(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_absent_values_and_encode_times() {
        assert_eq!(query(&[("limit", None)]), "");
        assert_eq!(
            query(&[
                ("limit", Some("5".into())),
                ("symbol", None),
                ("since", Some("2030-01-01T00:00:00+00:00".into())),
            ]),
            "?limit=5&since=2030-01-01T00%3A00%3A00%2B00%3A00"
        );
    }
}
