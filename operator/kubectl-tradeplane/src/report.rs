//! `report NAME -o file.zip`: a support bundle, as `kubectl cnpg report` makes one. The
//! strategy, the BrokerAccount and AgentPool it references, the Secrets they name, every child
//! the operator labelled with the strategy, the namespace's Events about any of them, each
//! trader pod's logs (the last lines only) and the journal summary. Whatever cannot be read
//! goes into `errors.txt` instead of failing the bundle.
//!
//! Nothing secret leaves: every object goes through [`redact::object`], and every Secret value
//! seen is then replaced wherever else it appears in any file (logs, Events, summaries).

use std::collections::BTreeSet;
use std::io::Write;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{ApiResource, DynamicObject, ListParams, LogParams};
use kube::core::GroupVersionKind;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tradeplane_contract::journal_api::StrategySummary;

use crate::cli::ReportArgs;
use crate::cluster::Target;
use crate::error::Error;
use crate::logs::CONTAINER;
use crate::names;
use crate::proxy::RuntimeProxy;
use crate::render::redact;
use crate::zip::ZipWriter;

/// Lines and bytes of each pod's log kept.
const LOG_LINES: i64 = 2000;
const LOG_BYTES: i64 = 2 * 1024 * 1024;

/// The files gathered so far, and what could not be read.
#[derive(Default)]
pub struct Bundle {
    pub files: Vec<(String, String)>,
    pub errors: Vec<String>,
    /// Secret values seen, to be replaced wherever they appear.
    pub secrets: Vec<String>,
    /// Names of the objects gathered, for the Events about them.
    pub names: BTreeSet<String>,
}

impl Bundle {
    /// Adds `object`, redacted, as `path` (YAML).
    pub fn object<K: Serialize + Resource>(&mut self, dir: &str, object: &K) {
        let name = object.meta().name.clone().unwrap_or_default();
        self.names.insert(name.clone());
        let Ok(mut value) = serde_json::to_value(object) else {
            self.errors
                .push(format!("{dir}/{name}: could not be encoded"));
            return;
        };
        // k8s-openapi's types write their kind, which the redaction of Secrets reads.
        redact::object(&mut value);
        let text = serde_yaml::to_string(&value).unwrap_or_default();
        self.files.push((format!("{dir}/{name}.yaml"), text));
    }

    /// Remembers a Secret's values, then adds it redacted.
    pub fn secret(&mut self, dir: &str, secret: &Secret) {
        for value in secret.data.iter().flat_map(|d| d.values()) {
            self.secrets
                .push(String::from_utf8_lossy(&value.0).into_owned());
        }
        for value in secret.string_data.iter().flat_map(|d| d.values()) {
            self.secrets.push(value.clone());
        }
        self.object(dir, secret);
    }

    /// The zip: every file with seen Secret values replaced, and `errors.txt`.
    pub fn zip(mut self) -> Result<Vec<u8>, Error> {
        if !self.errors.is_empty() {
            let text = self.errors.join("\n") + "\n";
            self.files.push(("errors.txt".into(), text));
        }
        let mut zip = ZipWriter::default();
        for (path, text) in &self.files {
            let clean = redact::text(text, &self.secrets);
            zip.add(path, clean.as_bytes())
                .map_err(|e| Error::Encode(e.to_string()))?;
        }
        zip.finish().map_err(|e| Error::Encode(e.to_string()))
    }
}

pub async fn run(target: &Target, args: &ReportArgs, out: &mut dyn Write) -> Result<(), Error> {
    let bundle = gather(target, &args.name).await?;
    let (files, errors) = (bundle.files.len(), bundle.errors.len());
    let bytes = bundle.zip()?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| format!("report-{}.zip", args.name).into());
    std::fs::write(&path, &bytes)?;
    writeln!(
        out,
        "wrote {} ({} bytes, {files} files{}); Secret values are redacted",
        path.display(),
        bytes.len(),
        if errors > 0 {
            format!(", {errors} parts unreadable: see errors.txt")
        } else {
            String::new()
        }
    )?;
    Ok(())
}

/// Everything the bundle holds.
pub async fn gather(target: &Target, name: &str) -> Result<Bundle, Error> {
    let strategy = target.strategy(name).await?;
    let mut bundle = Bundle::default();
    bundle.object("tradingstrategies", &strategy);
    let mut specs = vec![serde_json::to_value(&strategy.spec).unwrap_or_default()];
    let account = strategy.spec.broker_account_ref.name.clone();
    match target
        .api::<tradeplane_api::BrokerAccount>()
        .get(&account)
        .await
    {
        Ok(a) => {
            specs.push(serde_json::to_value(&a.spec).unwrap_or_default());
            bundle.object("brokeraccounts", &a);
        }
        Err(e) => bundle.errors.push(format!("BrokerAccount {account}: {e}")),
    }
    if let Some(pool) = &strategy.spec.agent_pool_ref {
        match target
            .api::<tradeplane_api::AgentPool>()
            .get(&pool.name)
            .await
        {
            Ok(p) => {
                specs.push(serde_json::to_value(&p.spec).unwrap_or_default());
                bundle.object("agentpools", &p);
            }
            Err(e) => bundle.errors.push(format!("AgentPool {}: {e}", pool.name)),
        }
    }
    referenced_secrets(target, &specs, &mut bundle).await;
    children(target, name, &mut bundle).await;
    events(target, &mut bundle).await;
    logs(target, name, &mut bundle).await;
    journal(target, name, &mut bundle).await;
    Ok(bundle)
}

/// The names of the Secrets a spec refers to: `…SecretRef.name` and `…SecretName` fields.
pub fn secret_names(spec: &Value, found: &mut BTreeSet<String>) {
    match spec {
        Value::Object(map) => {
            for (key, value) in map {
                let lower = key.to_ascii_lowercase();
                if lower.ends_with("secretref")
                    && let Some(n) = value.get("name").and_then(Value::as_str)
                {
                    found.insert(n.to_string());
                }
                if lower.ends_with("secretname")
                    && let Some(n) = value.as_str()
                {
                    found.insert(n.to_string());
                }
                secret_names(value, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| secret_names(v, found)),
        _ => {}
    }
}

async fn referenced_secrets(target: &Target, specs: &[Value], bundle: &mut Bundle) {
    let mut wanted = BTreeSet::new();
    specs.iter().for_each(|s| secret_names(s, &mut wanted));
    let api = target.api::<Secret>();
    for name in wanted {
        match api.get(&name).await {
            Ok(secret) => bundle.secret("secrets", &secret),
            Err(e) => bundle.errors.push(format!("Secret {name}: {e}")),
        }
    }
}

async fn list<K>(target: &Target, selector: &str) -> Result<Vec<K>, kube::Error>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let params = ListParams::default().labels(selector);
    Ok(target.api::<K>().list(&params).await?.items)
}

macro_rules! gather_kind {
    ($target:expr, $selector:expr, $bundle:expr, $kind:ty, $dir:expr) => {
        match list::<$kind>($target, $selector).await {
            Ok(items) => items.iter().for_each(|o| $bundle.object($dir, o)),
            Err(e) => $bundle.errors.push(format!("{}: {e}", $dir)),
        }
    };
}

/// Every object the operator labelled with the strategy.
async fn children(target: &Target, name: &str, bundle: &mut Bundle) {
    let selector = format!("{}={name}", names::STRATEGY_LABEL);
    let s = selector.as_str();
    match list::<Secret>(target, s).await {
        Ok(items) => items
            .iter()
            .for_each(|o| bundle.secret("children/secrets", o)),
        Err(e) => bundle.errors.push(format!("children/secrets: {e}")),
    }
    gather_kind!(target, s, bundle, Deployment, "children/deployments");
    gather_kind!(target, s, bundle, ReplicaSet, "children/replicasets");
    gather_kind!(target, s, bundle, Pod, "children/pods");
    gather_kind!(target, s, bundle, Service, "children/services");
    gather_kind!(target, s, bundle, CronJob, "children/cronjobs");
    gather_kind!(target, s, bundle, Job, "children/jobs");
    gather_kind!(target, s, bundle, ConfigMap, "children/configmaps");
    gather_kind!(target, s, bundle, HorizontalPodAutoscaler, "children/hpas");
    gather_kind!(target, s, bundle, Lease, "children/leases");
    gather_kind!(target, s, bundle, Role, "children/roles");
    gather_kind!(target, s, bundle, RoleBinding, "children/rolebindings");
    gather_kind!(
        target,
        s,
        bundle,
        ServiceAccount,
        "children/serviceaccounts"
    );
    gather_kind!(target, s, bundle, PersistentVolumeClaim, "children/pvcs");
    gather_kind!(target, s, bundle, PodDisruptionBudget, "children/pdbs");
    for kind in ["PodMonitor", "PrometheusRule"] {
        monitoring(target, s, kind, bundle).await;
    }
}

/// The prometheus-operator's kinds, where the cluster serves them.
async fn monitoring(target: &Target, selector: &str, kind: &str, bundle: &mut Bundle) {
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind);
    let resource = ApiResource::from_gvk(&gvk);
    let api: Api<DynamicObject> =
        Api::namespaced_with(target.client.clone(), &target.namespace, &resource);
    match api.list(&ListParams::default().labels(selector)).await {
        Ok(list) => list
            .items
            .iter()
            .for_each(|o| bundle.object(&format!("children/{}", resource.plural), o)),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => bundle.errors.push(format!("{kind}: {e}")),
    }
}

/// The namespace's Events about anything in the bundle.
async fn events(target: &Target, bundle: &mut Bundle) {
    match target.api::<Event>().list(&ListParams::default()).await {
        Ok(list) => {
            let about: Vec<&Event> = list
                .items
                .iter()
                .filter(|e| {
                    e.involved_object
                        .name
                        .as_ref()
                        .is_some_and(|n| bundle.names.contains(n))
                })
                .collect();
            let mut value = serde_json::to_value(&about).unwrap_or_default();
            if let Some(items) = value.as_array_mut() {
                items.iter_mut().for_each(redact::object);
            }
            let text = serde_yaml::to_string(&value).unwrap_or_default();
            bundle.files.push(("events.yaml".into(), text));
        }
        Err(e) => bundle.errors.push(format!("events: {e}")),
    }
}

async fn logs(target: &Target, name: &str, bundle: &mut Bundle) {
    let pods = match target.trader_pods(name).await {
        Ok(pods) => pods,
        Err(e) => return bundle.errors.push(format!("pods: {e}")),
    };
    let params = LogParams {
        container: Some(CONTAINER.into()),
        tail_lines: Some(LOG_LINES),
        limit_bytes: Some(LOG_BYTES),
        ..LogParams::default()
    };
    for pod in pods.iter().filter_map(|p| p.metadata.name.clone()) {
        match target.api::<Pod>().logs(&pod, &params).await {
            Ok(text) => bundle.files.push((format!("logs/{pod}.log"), text)),
            Err(e) => bundle.errors.push(format!("logs of {pod}: {e}")),
        }
    }
}

async fn journal(target: &Target, name: &str, bundle: &mut Bundle) {
    let proxy = RuntimeProxy::new(target.client.clone(), &target.namespace, name);
    match proxy.get::<StrategySummary>("summary").await {
        Ok(summary) => {
            let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
            bundle.files.push(("journal/summary.json".into(), text));
        }
        Err(e) => bundle
            .files
            .push(("journal/error.txt".into(), format!("{e}\n"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_named_anywhere_in_a_spec_are_found() {
        let spec = json!({"credentialsSecretRef": {"name": "alpaca"},
            "providers": [{"apiKeySecretRef": {"name": "openai", "key": "k"}}],
            "journal": {"postgres": {"urlSecretRef": {"name": "pg", "key": "url"}}},
            "backup": {"destination": {"s3": {"credentialsSecretName": "s3"}}},
            "brokerAccountRef": {"name": "paper"}});
        let mut found = BTreeSet::new();
        secret_names(&spec, &mut found);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            ["alpaca", "openai", "pg", "s3"]
        );
    }
}
