//! How a failure reaches the page: an HTTP status and a sentence. A refusal by the API
//! server keeps the API server's own words (which name the user, the verb and the resource),
//! so a view-only user reads exactly why an action was refused.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

#[derive(Debug, Serialize)]
pub struct ApiFailure {
    #[serde(skip)]
    pub status: StatusCode,
    pub message: String,
}

impl ApiFailure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A failed API call: the API server's status and message when it answered, else a
    /// 502 saying what was being done.
    pub fn from_kube(error: kube::Error, doing: &str) -> Self {
        match error {
            kube::Error::Api(status) => Self::new(
                StatusCode::from_u16(status.code).unwrap_or(StatusCode::BAD_GATEWAY),
                format!("the API server refused to {doing}: {}", status.message),
            ),
            other => Self::new(
                StatusCode::BAD_GATEWAY,
                format!("the API server could not be asked to {doing}: {other}"),
            ),
        }
    }
}

impl From<Error> for ApiFailure {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::UnknownStrategy { .. } | Error::UnknownCycle { .. } => StatusCode::NOT_FOUND,
            Error::NotApplicable(_) => StatusCode::CONFLICT,
            Error::RuntimeRefused { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            Error::RuntimeUnreachable { .. } | Error::Decode { .. } | Error::Kube { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::Kubeconfig(_) | Error::Io(_) | Error::Encode(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_servers_words_are_kept() {
        let status = kube::core::Status::failure(
            "tradingstrategies.tradeplane.io \"momo\" is forbidden: User \"viewer\" cannot patch",
            "Forbidden",
        )
        .with_code(403);
        let failure = ApiFailure::from_kube(kube::Error::Api(status.boxed()), "patch momo");
        assert_eq!(failure.status, StatusCode::FORBIDDEN);
        assert!(
            failure.message.contains("User \"viewer\" cannot patch"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn plugin_errors_keep_their_sentence_and_get_a_status() {
        let failure = ApiFailure::from(Error::NotApplicable("needs a standby".into()));
        assert_eq!(failure.status, StatusCode::CONFLICT);
        assert_eq!(failure.message, "needs a standby");
    }
}
