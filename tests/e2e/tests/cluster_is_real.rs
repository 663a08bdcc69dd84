//! Proof that the local control plane is a real Kubernetes: real controllers, real garbage
//! collection, real CEL validation — and that a dead API server fails a test instead of hanging it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::{Duration, Instant};

use e2e::{PrivateCluster, TestNamespace, WaitError, shared_client, wait_deleted, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::json;

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "main", "image": "registry.invalid/nothing:1" }] }
            }
        }
    }))
    .expect("valid deployment")
}

fn available_replicas(d: Option<&Deployment>) -> i32 {
    d.and_then(|d| d.status.as_ref())
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_deployment_becomes_available_with_running_pods_on_kwok_nodes() {
    let client = shared_client().await.unwrap();
    let ns = TestNamespace::create(&client, "deploy").await.unwrap();
    let deployments: Api<Deployment> = ns.api();
    deployments
        .create(&PostParams::default(), &deployment("web", 3))
        .await
        .unwrap();

    wait_for(
        &deployments,
        "web",
        "3 available replicas",
        Duration::from_secs(90),
        |d: Option<&Deployment>| available_replicas(d) == 3,
    )
    .await
    .unwrap();

    let pods: Api<Pod> = ns.api();
    let pods = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 3);
    for pod in &pods.items {
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let node = pod.spec.as_ref().unwrap().node_name.as_deref().unwrap();
        assert!(node.starts_with("kwok-node-"), "scheduled onto {node}");
    }
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn a_cronjob_creates_a_job_on_schedule() {
    let client = shared_client().await.unwrap();
    let ns = TestNamespace::create(&client, "cron").await.unwrap();
    let cronjob: CronJob = serde_json::from_value(json!({
        "metadata": { "name": "every-minute" },
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": { "spec": { "template": { "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": "main", "image": "registry.invalid/nothing:1" }]
            }}}}
        }
    }))
    .unwrap();
    let cronjobs: Api<CronJob> = ns.api();
    cronjobs
        .create(&PostParams::default(), &cronjob)
        .await
        .unwrap();

    // The next minute boundary is at most 60 s away; the controller acts within seconds of it.
    let scheduled = wait_for(
        &cronjobs,
        "every-minute",
        "a scheduled run",
        Duration::from_secs(90),
        |c: Option<&CronJob>| {
            c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.last_schedule_time.as_ref())
                .is_some()
        },
    )
    .await
    .unwrap();
    let jobs: Api<Job> = ns.api();
    let jobs = jobs.list(&ListParams::default()).await.unwrap();
    assert_eq!(jobs.items.len(), 1, "one job for one scheduled run");
    let owner = &jobs.items[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "CronJob");
    assert_eq!(owner.uid, scheduled.metadata.uid.unwrap());
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_dependents() {
    let client = shared_client().await.unwrap();
    let ns = TestNamespace::create(&client, "gc").await.unwrap();
    let configmaps: Api<ConfigMap> = ns.api();
    let owner = configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "owner" } })).unwrap(),
        )
        .await
        .unwrap();
    let dependent: ConfigMap = serde_json::from_value(json!({
        "metadata": {
            "name": "dependent",
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                "uid": owner.metadata.uid.unwrap()
            }]
        }
    }))
    .unwrap();
    configmaps
        .create(&PostParams::default(), &dependent)
        .await
        .unwrap();

    configmaps
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    wait_deleted(
        &configmaps,
        "dependent",
        "the garbage collector to delete the dependent",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
async fn a_crd_cel_rule_rejects_an_invalid_object_with_its_message() {
    let client = shared_client().await.unwrap();
    let suffix = format!("{:08x}", rand::random::<u32>());
    let plural = format!("ranges{suffix}");
    let group = "e2e.tradeplane.io";
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "plural": plural, "singular": format!("range{suffix}"), "kind": format!("Range{suffix}") },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": {
                        "type": "object",
                        "properties": { "min": { "type": "integer" }, "max": { "type": "integer" } },
                        "x-kubernetes-validations": [{
                            "rule": "self.min <= self.max",
                            "message": "spec.min must not exceed spec.max"
                        }]
                    }}
                }}
            }]
        }
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let name = crd.metadata.name.clone().unwrap();
    wait_for(
        &crds,
        &name,
        "the CRD to be established",
        Duration::from_secs(30),
        |c: Option<&CustomResourceDefinition>| {
            c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
        },
    )
    .await
    .unwrap();

    let ns = TestNamespace::create(&client, "cel").await.unwrap();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, "v1", &format!("Range{suffix}")),
        &plural,
    );
    let ranges: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    let object = |name: &str, min: i64, max: i64| {
        let mut o = DynamicObject::new(name, &resource);
        o.data = json!({ "spec": { "min": min, "max": max } });
        o
    };

    ranges
        .create(&PostParams::default(), &object("fine", 1, 2))
        .await
        .expect("a valid object is accepted");
    let err = ranges
        .create(&PostParams::default(), &object("inverted", 5, 2))
        .await
        .expect_err("an invalid object is rejected");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("spec: Invalid value")
            && status.message.contains("spec.min must not exceed spec.max"),
        "message: {}",
        status.message
    );

    ns.delete().await.unwrap();
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
}

/// The API server is killed with SIGKILL while a test waits on it. The wait must end with an
/// error that says the API server is gone, well before its own timeout — never a hang.
#[tokio::test]
async fn a_killed_api_server_fails_a_waiting_test_with_a_clear_error() {
    // No controller-manager: the Deployment can never become available, so only the dead API
    // server can end the wait early.
    let cluster = PrivateCluster::start("etcd,apiserver").unwrap();
    let client: Client = cluster.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    deployments
        .create(&PostParams::default(), &deployment("never-ready", 1))
        .await
        .unwrap();

    let timeout = Duration::from_secs(300);
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        wait_for(
            &deployments,
            "never-ready",
            "an available replica",
            timeout,
            |d: Option<&Deployment>| available_replicas(d) >= 1,
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill_hard("apiserver").unwrap();

    let outcome = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the wait ended on its own, not by this guard")
        .unwrap();
    let err = outcome.expect_err("a wait on a dead API server cannot succeed");
    assert!(matches!(err, WaitError::ApiUnreachable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let message = err.to_string();
    assert!(
        message.contains("API server stopped answering")
            && message.contains("an available replica"),
        "{message}"
    );
}
