//! Every way the plugin fails, each message saying what to do next: a name that is not
//! there lists the ones that are, a refusal names the permission, an unreachable runtime
//! names the Service and port that were tried.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("could not load your kubeconfig: {0}; check --kubeconfig, KUBECONFIG and --context")]
    Kubeconfig(String),

    #[error("no strategy '{name}' in namespace '{namespace}'; {}", list_hint(.available))]
    UnknownStrategy {
        name: String,
        namespace: String,
        available: Vec<String>,
    },

    #[error(
        "forbidden: you need {verb} on {resource} in {namespace} — {}; see docs/plugin.md (RBAC)",
        advice(.verb, .resource, .namespace)
    )]
    Forbidden {
        verb: &'static str,
        resource: &'static str,
        namespace: String,
    },

    #[error("the Kubernetes API failed while {doing}: {source}")]
    Kube {
        doing: String,
        #[source]
        source: kube::Error,
    },

    #[error(
        "the runtime of '{strategy}' is not reachable through Service {namespace}/{service} \
         port '{port}': {reason}; check `kubectl get endpoints {service} -n {namespace}` and \
         that the strategy's pods are Ready"
    )]
    RuntimeUnreachable {
        strategy: String,
        namespace: String,
        service: String,
        port: String,
        reason: String,
    },

    #[error("the runtime refused {path} ({status}): {message}")]
    RuntimeRefused {
        path: String,
        status: u16,
        message: String,
    },

    #[error(
        "the runtime's answer to {path} could not be read ({detail}); the plugin and the \
         runtime may differ in version — compare them with `kubectl tradeplane version`"
    )]
    Decode { path: String, detail: String },

    #[error(
        "no cycle '{cycle}' in the journal of '{strategy}'; list recent ones with \
         `kubectl tradeplane journal {strategy} --kind decisions`"
    )]
    UnknownCycle { strategy: String, cycle: String },

    #[error("{0}")]
    NotApplicable(String),

    #[error(
        "timed out after {}s waiting for the operator to confirm {what} on '{strategy}' \
         (the change is in the spec); last seen: {last_seen}. Check the operator's logs and \
         `kubectl tradeplane status {strategy}`{hint}",
        .waited.as_secs()
    )]
    Timeout {
        strategy: String,
        what: String,
        waited: Duration,
        last_seen: String,
        hint: String,
    },

    #[error("writing the output failed: {0}")]
    Io(#[from] std::io::Error),

    #[error("encoding the output failed: {0}")]
    Encode(String),
}

fn list_hint(available: &[String]) -> String {
    if available.is_empty() {
        "there are no strategies here; pick another namespace with -n".to_string()
    } else {
        format!("strategies here: {}", available.join(", "))
    }
}

/// What to ask for, per permission: the role (or the strategy's field) that grants it.
fn advice(verb: &str, resource: &str, namespace: &str) -> String {
    match (verb, resource) {
        (_, "services/proxy") => format!(
            "reading the journal needs a place in the strategy's spec.journalReaders (or \
             Kubernetes' edit role in {namespace})"
        ),
        ("patch", "tradingstrategies") => format!(
            "an action changes the strategy's spec: ask for Kubernetes' edit role in {namespace}"
        ),
        ("get" | "list" | "watch", _) => {
            format!("reading it needs Kubernetes' view role in {namespace}")
        }
        _ => format!("ask for a role in {namespace} that grants it"),
    }
}

impl Error {
    /// A failed API call: a 403 names the permission the user lacks, anything else says what
    /// was being done.
    pub fn from_kube(
        source: kube::Error,
        verb: &'static str,
        resource: &'static str,
        namespace: &str,
    ) -> Self {
        if status_code(&source) == Some(403) {
            return Self::Forbidden {
                verb,
                resource,
                namespace: namespace.to_string(),
            };
        }
        Self::Kube {
            doing: format!("trying to {verb} {resource} in {namespace}"),
            source,
        }
    }
}

/// The HTTP status of an API error, if it was one.
pub fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_strategy_lists_the_ones_there_are() {
        let error = Error::UnknownStrategy {
            name: "x".into(),
            namespace: "y".into(),
            available: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            error.to_string(),
            "no strategy 'x' in namespace 'y'; strategies here: a, b"
        );
        let none = Error::UnknownStrategy {
            name: "x".into(),
            namespace: "y".into(),
            available: vec![],
        };
        assert!(none.to_string().contains("pick another namespace with -n"));
    }

    #[test]
    fn a_403_names_the_verb_the_resource_and_the_docs() {
        let status = kube::core::Status::failure("nope", "Forbidden").with_code(403);
        let error = Error::from_kube(
            kube::Error::Api(status.boxed()),
            "patch",
            "tradingstrategies",
            "desk",
        );
        assert_eq!(
            error.to_string(),
            "forbidden: you need patch on tradingstrategies in desk — an action changes the \
             strategy's spec: ask for Kubernetes' edit role in desk; see docs/plugin.md (RBAC)"
        );
        let proxy = Error::Forbidden {
            verb: "get",
            resource: "services/proxy",
            namespace: "desk".into(),
        };
        assert_eq!(
            proxy.to_string(),
            "forbidden: you need get on services/proxy in desk — reading the journal needs a \
             place in the strategy's spec.journalReaders (or Kubernetes' edit role in desk); \
             see docs/plugin.md (RBAC)"
        );
        let read = Error::Forbidden {
            verb: "get",
            resource: "tradingstrategies",
            namespace: "desk".into(),
        };
        assert!(
            read.to_string()
                .contains("reading it needs Kubernetes' view role in desk"),
            "{read}"
        );
    }
}
