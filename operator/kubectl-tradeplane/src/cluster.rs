//! The Kubernetes side: a client from the user's kubeconfig, and the reads every subcommand
//! shares, each turning a refusal into the permission it needs.

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tradeplane_api::TradingStrategy;

use crate::cli::GlobalArgs;
use crate::error::{Error, status_code};
use crate::names;

/// A client and the namespace the command is about.
#[derive(Clone)]
pub struct Target {
    pub client: Client,
    pub namespace: String,
}

impl Target {
    /// The usual kubeconfig resolution: `--kubeconfig`, else `KUBECONFIG`, else
    /// ~/.kube/config (or the in-cluster account); `--context` picks the context, `-n` the
    /// namespace, else the context's.
    pub async fn connect(global: &GlobalArgs) -> Result<Self, Error> {
        let options = KubeConfigOptions {
            context: global.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match (&global.kubeconfig, &global.context) {
            (Some(path), _) => {
                let file = Kubeconfig::read_from(path)
                    .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| e.to_string())
            }
            (None, Some(_)) => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| e.to_string()),
            (None, None) => Config::infer().await.map_err(|e| e.to_string()),
        }
        .map_err(Error::Kubeconfig)?;
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        Ok(Self {
            client: client(config)?,
            namespace,
        })
    }

    /// A target for a client the caller built (tests).
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_string(),
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The strategy, or an error that lists the strategies there are.
    pub async fn strategy(&self, name: &str) -> Result<TradingStrategy, Error> {
        let api = self.api::<TradingStrategy>();
        match api.get(name).await {
            Ok(strategy) => Ok(strategy),
            Err(error) if status_code(&error) == Some(404) => {
                let list = api.list(&ListParams::default()).await.map_err(|e| {
                    Error::from_kube(e, "list", "tradingstrategies", &self.namespace)
                })?;
                let mut available: Vec<String> = list
                    .items
                    .iter()
                    .filter_map(|s| s.metadata.name.clone())
                    .collect();
                available.sort();
                Err(Error::UnknownStrategy {
                    name: name.to_string(),
                    namespace: self.namespace.clone(),
                    available,
                })
            }
            Err(error) => Err(Error::from_kube(
                error,
                "get",
                "tradingstrategies",
                &self.namespace,
            )),
        }
    }

    /// The strategy's trader pods, by name.
    pub async fn trader_pods(&self, strategy: &str) -> Result<Vec<Pod>, Error> {
        let params = ListParams::default().labels(&names::trader_pods(strategy));
        let mut pods = self
            .api::<Pod>()
            .list(&params)
            .await
            .map_err(|e| Error::from_kube(e, "list", "pods", &self.namespace))?
            .items;
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(pods)
    }

    /// The leader Lease, if there is one yet.
    pub async fn leader_lease(&self, strategy: &str) -> Result<Option<Lease>, Error> {
        self.api::<Lease>()
            .get_opt(&names::leader_lease(strategy))
            .await
            .map_err(|e| Error::from_kube(e, "get", "leases", &self.namespace))
    }

    /// The strategy's Warning Events, newest first.
    pub async fn warning_events(&self, strategy: &str) -> Result<Vec<Event>, Error> {
        let params = ListParams::default().fields(&format!(
            "involvedObject.kind=TradingStrategy,involvedObject.name={strategy},type=Warning"
        ));
        let mut events = self
            .api::<Event>()
            .list(&params)
            .await
            .map_err(|e| Error::from_kube(e, "list", "events", &self.namespace))?
            .items;
        events.sort_by_key(|e| std::cmp::Reverse(event_time(e)));
        Ok(events)
    }
}

/// The plugin's client for `config`. Without kube's default retry: it retries a 503 up to 15
/// times with a backoff growing to minutes, and the service proxy answers 503 whenever a
/// strategy has no ready pod, so `status` would hang for minutes instead of saying so.
/// A person at a terminal retries by running the command again.
pub fn client(mut config: Config) -> Result<Client, Error> {
    config.default_retry = false;
    Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))
}

/// When an Event last happened, whichever of its times is set.
pub fn event_time(event: &Event) -> Option<DateTime<Utc>> {
    event
        .last_timestamp
        .as_ref()
        .and_then(utc)
        .or_else(|| event.event_time.as_ref().and_then(micro_utc))
        .or_else(|| event.metadata.creation_timestamp.as_ref().and_then(utc))
}

/// A Kubernetes time (jiff) as the chrono time the journal API's types use.
pub fn utc(time: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        time.0.as_second(),
        time.0.subsec_nanosecond().unsigned_abs(),
    )
}

fn micro_utc(time: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        time.0.as_second(),
        time.0.subsec_nanosecond().unsigned_abs(),
    )
}
