//! How a reconcile ends when it does not succeed, in two kinds that are handled differently:
//!
//! - [`Blocker`]: the user's input stops the reconcile (a missing reference, a config the
//!   runtime would refuse, a child the API server rejects). It is reported in conditions and an
//!   Event, and the reconcile waits for a change: retrying cannot help.
//! - [`Error`]: a step failed for a reason that may pass (the API server unreachable, a
//!   conflict). It is counted under its [`Error::reason`], published as a Warning Event, and
//!   retried with backoff.
//!
//! One [`Error`] variant per step of the pipeline (resolve → validate → render → apply →
//! status), so logs, Events and the `reconcile_errors_total{error}` label say where a reconcile
//! failed. Messages are sentences for people: an API error is described by its code, reason
//! and message, never by a `Debug` dump.

use kube::Resource;

/// A problem in the user's input that stops the operator from rendering or applying the
/// children. Its reason becomes the condition reason and the Event reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// CamelCase reason, e.g. `BrokerAccountNotFound`.
    pub reason: &'static str,
    pub message: String,
}

impl Blocker {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// The outcome of a step that depends on the user's input: what it produced, or what blocks
/// the reconcile until the input changes.
#[derive(Debug)]
pub enum Step<T> {
    Ready(T),
    Blocked(Blocker),
}

/// A failed reconcile step that is retried with backoff (see the module docs).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} {name} has no namespace; Tradeplane kinds are namespaced")]
    NoNamespace { kind: &'static str, name: String },
    #[error("could not read {what}: {}", describe(source))]
    Resolve {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not render {what}: {source}")]
    Render {
        what: &'static str,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("could not apply {kind} {name}: {}", describe(source))]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not write the status: {}", describe(source))]
    Status {
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// The stable name of the failed step: the Event reason and the `error` metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NoNamespace { .. } => "NoNamespace",
            Error::Resolve { .. } => "ResolveFailed",
            Error::Render { .. } => "RenderFailed",
            Error::Apply { .. } => "ApplyFailed",
            Error::Status { .. } => "StatusWriteFailed",
        }
    }

    /// A failure to read what the resource refers to.
    pub fn resolve(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Resolve {
            what: what.into(),
            source,
        }
    }

    /// A failure to apply (or read, or delete) the child `name` of kind `K`.
    pub fn apply<K: Resource<DynamicType = ()>>(name: &str, source: kube::Error) -> Self {
        Error::Apply {
            kind: K::kind(&()).to_string(),
            name: name.to_string(),
            source,
        }
    }

    /// The blocker this error is when retrying cannot help: the API server refused a child
    /// as invalid (400 or 422), which only a change of the resource can fix.
    pub fn as_blocker(&self) -> Option<Blocker> {
        match self {
            Error::Apply { kind, name, source } if is_refusal(source) => Some(Blocker::new(
                "ChildRejected",
                format!(
                    "the API server refused {kind} {name}: {}",
                    api_message(source)
                ),
            )),
            _ => None,
        }
    }
}

/// Whether the API server refused the request as invalid, which no retry changes.
fn is_refusal(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 400 || status.code == 422)
}

/// The API server's own message for an API error; the error's sentence otherwise.
fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => describe(other),
    }
}

/// A sentence for a Kubernetes client error. The client's own `Display` of an API error
/// appends a `Debug` dump of the whole response; people get the code, reason and message.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", status.reason)
            };
            let message = if status.message.is_empty() {
                "no message".to_string()
            } else {
                status.message.clone()
            };
            format!("the API server answered {}{reason}: {message}", status.code)
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::CronJob;
    use kube::core::Status;

    fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut status = Status::failure(message, reason);
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn an_api_error_reads_as_a_sentence_without_a_debug_dump() {
        let error = Error::apply::<CronJob>(
            "s-backup",
            api_error(
                422,
                "Invalid",
                "CronJob.batch \"s-backup\" is invalid: spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",
            ),
        );
        let text = error.to_string();
        assert_eq!(
            text,
            "could not apply CronJob s-backup: the API server answered 422 Invalid: CronJob.batch \"s-backup\" is invalid: spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"
        );
        assert!(!text.contains("Status {"), "{text}");
        assert_eq!(error.reason(), "ApplyFailed");
    }

    #[test]
    fn a_refused_child_is_a_blocker_and_an_unreachable_server_is_not() {
        let refused = Error::apply::<CronJob>("s-cycle", api_error(422, "Invalid", "bad zone"));
        let blocker = refused.as_blocker().unwrap();
        assert_eq!(blocker.reason, "ChildRejected");
        assert_eq!(
            blocker.message,
            "the API server refused CronJob s-cycle: bad zone"
        );
        for code in [409, 429, 500, 503] {
            let transient = Error::apply::<CronJob>("s-cycle", api_error(code, "X", "later"));
            assert!(transient.as_blocker().is_none(), "{code}");
        }
        let status = Error::Status {
            source: api_error(422, "Invalid", "bad"),
        };
        assert!(status.as_blocker().is_none());
        assert_eq!(status.reason(), "StatusWriteFailed");
    }

    #[test]
    fn every_step_has_its_own_reason() {
        let kube = || api_error(500, "InternalError", "x");
        let reasons = [
            Error::NoNamespace {
                kind: "TradingStrategy",
                name: "s".into(),
            }
            .reason(),
            Error::resolve("BrokerAccount a", kube()).reason(),
            Error::Render {
                what: "the runtime config",
                source: serde_yaml::from_str::<u8>("x").unwrap_err(),
            }
            .reason(),
            Error::apply::<CronJob>("c", kube()).reason(),
            Error::Status { source: kube() }.reason(),
        ];
        let unique: std::collections::HashSet<_> = reasons.iter().collect();
        assert_eq!(unique.len(), reasons.len(), "{reasons:?}");
    }
}
