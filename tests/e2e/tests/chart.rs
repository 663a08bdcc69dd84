//! The Helm chart (charts/tradeplane) on a real API server: its rendering accepted by a dry
//! run, `helm install` and `helm upgrade` into the local control plane, and then the operator
//! binary run with the chart's ServiceAccount token — so the RBAC under test is the RBAC the
//! chart renders — reconciling every example to Ready, followed by a `kubectl auth can-i`
//! table that shows it may do no more than that. chart_render.rs checks the rendering itself.
//!
//! The shared cluster already has the CRDs (other tests install them), and they are
//! cluster-scoped, so the tests there install with `crds.install=false` and a `namespaces`
//! list (Roles only: nothing cluster-scoped, nothing another test could meet). The CRDs the
//! chart installs, upgrades and keeps, and the cluster-wide ClusterRole, are tested on a
//! private API server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::PathBuf;
use std::time::Duration;

use e2e::cli::{run_ok, token_kubeconfig};
use e2e::conditions::is_ready;
use e2e::helm::{ChartOperator, chart, chart_dir, copy_dir, yaml_files};
use e2e::rbac::{assert_table, listed_rules, table};
use e2e::{PrivateCluster, TestNamespace, apply_strict, install_crds, repo_root, shared_client};
use e2e::{wait_for, yaml_documents};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::{Value, json};
use standins::alpaca::AlpacaStandin;
use tradeplane_operator::api::{AgentPool, BrokerAccount, TradingStrategy};

const READY_WITHIN: Duration = Duration::from_secs(180);

/// `program` with the whitespace-separated words of `line` (no word here holds a space; the
/// chart's path is checked), which must succeed; returns what it printed.
async fn sh(program: &str, line: &str, stdin: Option<&str>) -> String {
    assert!(
        !chart().contains(char::is_whitespace),
        "a space in {}",
        chart()
    );
    let words: Vec<&str> = line.split_whitespace().collect();
    run_ok(program, &words, stdin).await.unwrap()
}

/// `helm template` output applied as a dry run by the API server: every object passes its
/// schema, strict field validation and admission, without being stored.
#[tokio::test]
async fn the_rendered_chart_is_accepted_by_the_api_server() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "chart-dry").await.unwrap();
    for values in ["{}".to_string(), format!("namespaces: [{}]", ns.name)] {
        let template = format!("template tp {} --namespace {} -f -", chart(), ns.name);
        let manifest = sh("helm", &template, Some(&values)).await;
        // --force-conflicts: the CRDs exist already, applied by other tests' field manager.
        let apply = "apply --server-side --dry-run=server --validate=strict --force-conflicts \
                     --field-manager=helm-dry-run -f -";
        let applied = sh("kubectl", apply, Some(&manifest)).await;
        println!("values {values}:\n{applied}");
        for kind in [
            "deployment.apps",
            "serviceaccount",
            "service",
            "role.rbac",
            "customresourcedefinition",
        ] {
            assert!(applied.contains(kind), "{kind} missing from {applied}");
        }
    }
    ns.delete().await.unwrap();
}

/// Waits for the Tradeplane object `kind` `namespace/name` to be Ready.
async fn wait_object_ready(client: Client, namespace: String, kind: String, name: String) {
    let what = format!("{kind} {namespace}/{name} to be Ready");
    let ns = namespace.as_str();
    let waited = match kind.as_str() {
        "TradingStrategy" => {
            let api = Api::<TradingStrategy>::namespaced(client, ns);
            wait_for(&api, &name, &what, READY_WITHIN, is_ready)
                .await
                .map(drop)
        }
        "BrokerAccount" => {
            let api = Api::<BrokerAccount>::namespaced(client, ns);
            wait_for(&api, &name, &what, READY_WITHIN, is_ready)
                .await
                .map(drop)
        }
        "AgentPool" => {
            let api = Api::<AgentPool>::namespaced(client, ns);
            wait_for(&api, &name, &what, READY_WITHIN, is_ready)
                .await
                .map(drop)
        }
        other => panic!("{other} is not a Tradeplane kind"),
    };
    waited.unwrap();
}

/// The examples, each folder in a namespace of its own as a user would apply it, with the
/// HA example's Alpaca account pointed at the local stand-in (the only change: the broker the
/// example names is not reachable from here). Returns (namespace, kind, name) of each
/// Tradeplane object.
async fn apply_examples(
    client: &Client,
    namespaces: &[(&str, TestNamespace)],
    alpaca: &AlpacaStandin,
) -> Vec<(String, String, String)> {
    let mut applied = Vec::new();
    for (folder, ns) in namespaces {
        let dir = repo_root().join("examples").join(folder);
        for file in yaml_files(&dir).unwrap() {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            for mut document in yaml_documents(&text).unwrap() {
                let kind = document["kind"].as_str().unwrap().to_string();
                if kind == "BrokerAccount" && document["spec"]["broker"] == "Alpaca" {
                    document["spec"]["endpoint"] = json!(alpaca.base_url());
                }
                apply_strict(client, &ns.name, &document)
                    .await
                    .unwrap()
                    .unwrap();
                if ["TradingStrategy", "BrokerAccount", "AgentPool"].contains(&kind.as_str()) {
                    let name = document["metadata"]["name"].as_str().unwrap().to_string();
                    applied.push((ns.name.clone(), kind, name));
                }
            }
        }
    }
    applied
}

/// What the operator restricted to namespaces may do in one it watches ({W}), in its own
/// ({R}) and elsewhere; `-` is cluster-wide.
const RESTRICTED: &str = "
yes watch   tradingstrategies.tradeplane.io         W  reads the spec
yes patch   tradingstrategies.tradeplane.io:status  W  writes status
yes get     tradingstrategies.tradeplane.io:status  W  granted to each runtime's Role
yes patch   brokeraccounts.tradeplane.io:status     W  writes status
yes patch   agentpools.tradeplane.io:status         W  writes status
yes watch   backtests.tradeplane.io                 W  reads the spec
yes patch   backtests.tradeplane.io:status          W  writes status
yes get     backtests.tradeplane.io:status          W  granted to each backtest run's Role
no  patch   backtests.tradeplane.io                 W  never writes a user's spec
yes get     secrets                                 W  reads the credential Secrets resources name
yes watch   secrets                                 W  a rotated key rolls the pods
yes create  secrets                                 W  writes the child Secrets
yes patch   deployments.apps                        W  trader and worker Deployments
yes create  deployments.apps                        W  an apply that creates checks create
yes delete  deployments.apps                        W  a strategy moved to cron
yes patch   cronjobs.batch                          W  backup and cycle CronJobs
yes patch   jobs.batch                              W  backup-now and restore Jobs
yes watch   jobs.batch                              W  backup and restore Jobs' status
yes delete  jobs.batch                              W  a restore Job once restored
yes patch   poddisruptionbudgets.policy             W  child
yes delete  horizontalpodautoscalers.autoscaling    W  autoscaling turned off
yes patch   persistentvolumeclaims                  W  the sqlite journal
yes patch   services                                W  child
yes patch   serviceaccounts                         W  each runtime's identity
yes create  roles.rbac.authorization.k8s.io         W  each runtime's Role
yes patch   rolebindings.rbac.authorization.k8s.io  W  child
yes delete  rolebindings.rbac.authorization.k8s.io  W  journal readers no longer listed
yes get     services:proxy                          W  held to write the journal readers' Role
yes update  leases.coordination.k8s.io              W  granted to each runtime's Role
yes watch   leases.coordination.k8s.io              W  granted to each runtime's Role
yes create  events.events.k8s.io                    W  condition transitions, failures
yes create  leases.coordination.k8s.io              R  its own leader Lease
yes update  leases.coordination.k8s.io/LEASE        R  its own leader Lease
no  *       *                                       W  no wildcard anywhere
no  update  tradingstrategies.tradeplane.io         W  never writes a user's spec
no  patch   tradingstrategies.tradeplane.io         W  never writes a user's spec
no  delete  tradingstrategies.tradeplane.io         W  never deletes users' objects
no  create  brokeraccounts.tradeplane.io            W  never creates users' objects
yes delete  secrets                                 W  a shadow's Secrets once it is promoted or refused
yes delete  services                                W  a shadow's Service once it is promoted or refused
yes delete  serviceaccounts                         W  a shadow's ServiceAccount once it is promoted or refused
no  create  pods:exec                               W  no exec into anything
no  get     pods                                    W  reads Deployments, not pods
yes patch   pods                                    W  marks the leader's pod to go last
no  delete  pods                                    W  the ReplicaSet removes pods, not the operator
no  create  serviceaccounts:token                   W  must not mint tokens
no  escalate roles.rbac.authorization.k8s.io        W  Roles only within its own rights
no  bind    roles.rbac.authorization.k8s.io         W  Roles only within its own rights
no  impersonate serviceaccounts                     W  acts as itself only
no  update  deployments.apps                        W  server-side apply: patch and create
no  get     secrets                                 R  its own namespace is not watched
no  get     secrets                                 kube-system  not a watched namespace
no  patch   pods                                    kube-system  not a watched namespace
no  patch   deployments.apps                        kube-system  not a watched namespace
no  list    secrets                                 -  no cluster-wide Secret reads
no  delete  customresourcedefinitions.apiextensions.k8s.io  -  CRDs belong to the chart
no  create  clusterroles.rbac.authorization.k8s.io  -  nothing cluster-scoped
no  bind    clusterroles.rbac.authorization.k8s.io  -  nothing cluster-scoped
no  list    nodes                                   -  nothing cluster-scoped
no  delete  namespaces                              -  nothing cluster-scoped
";

#[tokio::test]
async fn installed_and_upgraded_the_charts_service_account_reconciles_every_example_and_no_more() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let release_ns = TestNamespace::create(&client, "chart").await.unwrap();
    let rns = release_ns.name.clone();
    // The restricted Pod Security Standard, enforced by the API server's own admission.
    sh(
        "kubectl",
        &format!("label namespace {rns} pod-security.kubernetes.io/enforce=restricted"),
        None,
    )
    .await;
    let mut examples = Vec::new();
    for folder in ["quickstart", "llm", "ha"] {
        let ns = TestNamespace::create(&client, &format!("chart-{folder}"))
            .await
            .unwrap();
        examples.push((folder, ns));
    }
    let watched: Vec<&str> = examples.iter().map(|(_, ns)| ns.name.as_str()).collect();
    let release = format!("tp{:06x}", rand::random::<u32>() & 0xff_ffff);
    let values = format!(
        "crds: {{install: false}}\nnamespaces: [{}]\n",
        watched.join(", ")
    );

    let install = format!(
        "install {release} {} -n {rns} -f - --wait --timeout 3m",
        chart()
    );
    let installed = sh("helm", &install, Some(&values)).await;
    println!("$ helm install {release} charts/tradeplane -n {rns} -f - --wait\n{installed}");
    assert!(installed.contains("STATUS: deployed"), "{installed}");
    assert!(
        installed.contains("What to apply next"),
        "NOTES.txt: {installed}"
    );
    let upgrade = format!(
        "upgrade {release} {} -n {rns} --reuse-values --set concurrency=4 --wait --timeout 3m",
        chart()
    );
    let upgraded = sh("helm", &upgrade, None).await;
    assert!(
        upgraded.contains("REVISION: 2") && upgraded.contains("STATUS: deployed"),
        "{upgraded}"
    );

    let name = format!("{release}-tradeplane");
    let deployment = release_ns.api::<Deployment>().get(&name).await.unwrap();
    let ready_replicas = deployment.status.as_ref().and_then(|s| s.ready_replicas);
    assert_eq!(
        ready_replicas,
        Some(2),
        "helm --wait returned before 2 ready replicas"
    );

    // The chart's ServiceAccount identity: a token from the TokenRequest API.
    let token = sh(
        "kubectl",
        &format!("create token {name} -n {rns} --duration 2h"),
        None,
    )
    .await;
    let admin = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap());
    let kubeconfig = std::env::temp_dir().join(format!("{release}-{rns}.kubeconfig"));
    std::fs::write(&kubeconfig, token_kubeconfig(&admin, token.trim()).unwrap()).unwrap();
    // It holds a credential: readable by this user only.
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&kubeconfig, private).unwrap();
    let whoami = format!(
        "auth whoami -o jsonpath={{.status.userInfo.username}} --kubeconfig {}",
        kubeconfig.display()
    );
    let subject = format!("system:serviceaccount:{rns}:{name}");
    assert_eq!(sh("kubectl", &whoami, None).await, subject);

    let alpaca = AlpacaStandin::start("PLACEHOLDER-key-id", "PLACEHOLDER-secret-key")
        .await
        .unwrap();
    let operator = ChartOperator::start(&deployment, &rns, &kubeconfig)
        .await
        .unwrap();
    println!("started: tradeplane-operator {}", operator.args.join(" "));
    let lease = operator
        .args
        .iter()
        .find_map(|f| f.strip_prefix("--lease-name=").map(str::to_string))
        .unwrap();
    assert!(
        operator.args.contains(&"--concurrency=4".to_string()),
        "the upgrade did not apply"
    );
    assert!(
        operator
            .args
            .contains(&format!("--namespaces={}", watched.join(",")))
    );
    let objects = apply_examples(&client, &examples, &alpaca).await;
    assert!(
        objects.len() >= 7,
        "only {} Tradeplane objects in examples/",
        objects.len()
    );
    for (namespace, kind, object) in objects {
        let waiting = wait_object_ready(
            client.clone(),
            namespace.clone(),
            kind.clone(),
            object.clone(),
        );
        if tokio::spawn(waiting).await.is_err() {
            panic!(
                "{kind} {namespace}/{object} is not Ready; the operator's log:\n{}",
                operator.log()
            );
        }
        println!("Ready: {kind} {namespace}/{object}");
    }
    // It led through its own Lease, as a replica of the Deployment would.
    let leases = Api::<Lease>::namespaced(client.clone(), &rns);
    let held = leases
        .get(&lease)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(held.as_deref(), Some("chart-test-operator"));
    let log = operator.log();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something:\n{log}"
    );
    // Events went out too (a refused Event is only logged, so look for them).
    for (_, ns) in &examples {
        let events = Api::<Event>::namespaced(client.clone(), &ns.name);
        let listed = events.list(&ListParams::default()).await.unwrap().items;
        let ours = listed
            .iter()
            .any(|e| e.reporting_controller.as_deref() == Some("tradeplane-operator"));
        assert!(ours, "no Event from the operator in {}", ns.name);
    }
    operator.stop().await;
    alpaca.stop().await;

    let checks = table(
        &RESTRICTED.replace("LEASE", &lease),
        &[("W", watched[0]), ("R", &rns)],
    );
    let title = format!(
        "RBAC of the chart with namespaces: [{}]",
        watched.join(", ")
    );
    assert_table(&title, None, &subject, &checks).await.unwrap();
    for (resource, verbs) in listed_rules(None, &subject, watched[0]).await.unwrap() {
        assert!(
            !resource.contains('*') && !verbs.contains('*'),
            "{resource} {verbs}"
        );
    }

    users_get_the_kinds_through_view_and_edit(&client, watched[0], &rns).await;

    let uninstalled = sh(
        "helm",
        &format!("uninstall {release} -n {rns} --wait"),
        None,
    )
    .await;
    assert!(uninstalled.contains("uninstalled"), "{uninstalled}");
    let _ = std::fs::remove_file(&kubeconfig);
    for (_, ns) in examples {
        ns.delete().await.unwrap();
    }
    release_ns.delete().await.unwrap();
}

/// People bound to Kubernetes' `view` in a namespace read the four kinds there; bound to
/// `edit`, they change them too (the plugin's actions are spec fields). The journal's
/// `services/proxy` is never part of what the chart aggregates into `view`.
const VIEWER: &str = "
yes get     tradingstrategies.tradeplane.io         W  view reads strategies
yes list    brokeraccounts.tradeplane.io            W  view reads accounts
yes watch   agentpools.tradeplane.io                W  view reads pools
yes list    backtests.tradeplane.io                 W  view reads backtests
yes get     tradingstrategies.tradeplane.io:status  W  view reads status
no  patch   tradingstrategies.tradeplane.io         W  an action changes the spec: edit only
no  get     services:proxy                          W  the journal is not part of view
no  get     tradingstrategies.tradeplane.io         R  bound in one namespace only
";
const EDITOR: &str = "
yes patch   tradingstrategies.tradeplane.io         W  suspend, resume, restart, switchover
yes create  brokeraccounts.tradeplane.io            W  edit creates the kinds
yes delete  agentpools.tradeplane.io                W  edit deletes the kinds
yes create  backtests.tradeplane.io                 W  edit starts backtests
no  patch   backtests.tradeplane.io:status          W  the status belongs to the operator and the runs
no  patch   tradingstrategies.tradeplane.io:status  W  the status belongs to the operator and runtime
yes get     services:proxy                          W  Kubernetes' own edit holds it (charts/tradeplane/README.md)
no  patch   tradingstrategies.tradeplane.io         R  bound in one namespace only
";

/// Binds a user to `view` and another to `edit` in `namespace` and checks what each may do
/// with the kinds, once the cluster's role aggregation has taken the chart's roles in.
async fn users_get_the_kinds_through_view_and_edit(client: &Client, namespace: &str, rns: &str) {
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), namespace);
    for (user, role) in [("tradeplane-viewer", "view"), ("tradeplane-editor", "edit")] {
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": user},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }))
        .unwrap();
        bindings
            .create(&Default::default(), &binding)
            .await
            .unwrap();
    }
    let roles = Api::<ClusterRole>::all(client.clone());
    for (role, verb) in [("view", "get"), ("edit", "patch")] {
        let aggregated = move |object: Option<&ClusterRole>| {
            object.is_some_and(|role| {
                role.rules.iter().flatten().any(|rule| {
                    rule.resources
                        .iter()
                        .flatten()
                        .any(|r| r == "tradingstrategies")
                        && rule.verbs.iter().any(|v| v == verb)
                })
            })
        };
        let what = format!("the chart's roles aggregated into {role}");
        wait_for(&roles, role, &what, Duration::from_secs(60), aggregated)
            .await
            .unwrap();
    }
    let scopes = [("W", namespace), ("R", rns)];
    assert_table("view", None, "tradeplane-viewer", &table(VIEWER, &scopes))
        .await
        .unwrap();
    assert_table("edit", None, "tradeplane-editor", &table(EDITOR, &scopes))
        .await
        .unwrap();
}

/// What the cluster-wide operator may do: its kinds, children and credential Secrets in any
/// namespace ({D}: a user's), its Lease in its own ({R}); nothing beyond that.
const CLUSTER_WIDE: &str = "
yes watch   tradingstrategies.tradeplane.io         -  every namespace
yes patch   deployments.apps                        D  children in any namespace
yes get     secrets                                 D  credential Secrets wherever resources name them
yes list    secrets                                 -  cluster-wide mode: set namespaces to narrow this
yes create  leases.coordination.k8s.io              R  its own leader Lease
no  *       *                                       D  no wildcard anywhere
no  *       *                                       -  no wildcard anywhere
no  update  tradingstrategies.tradeplane.io         D  never writes a user's spec
yes delete  secrets                                 D  a shadow's Secrets once it is promoted or refused
no  create  pods:exec                               D  no exec into anything
no  create  serviceaccounts:token                   D  must not mint tokens
no  escalate roles.rbac.authorization.k8s.io        D  Roles only within its own rights
no  delete  customresourcedefinitions.apiextensions.k8s.io  -  CRDs belong to the chart
no  patch   customresourcedefinitions.apiextensions.k8s.io  -  CRDs belong to the chart
no  create  clusterrolebindings.rbac.authorization.k8s.io   -  no cluster-wide grants
no  list    nodes                                   -  reads no nodes
";

async fn crd(crds: &Api<CustomResourceDefinition>, name: &str) -> CustomResourceDefinition {
    crds.get(name).await.unwrap()
}

/// On an API server of its own (the CRDs and the ClusterRole are cluster-scoped): the chart
/// installs the CRDs, `helm upgrade` brings an older copy up to date, `helm uninstall` leaves
/// them and the users' objects, and the cluster-wide RBAC is as narrow as it can be.
#[tokio::test]
async fn crds_the_chart_installs_are_upgraded_by_helm_upgrade_and_kept_by_helm_uninstall() {
    let cluster = PrivateCluster::start("etcd,apiserver").unwrap();
    let kubeconfig = cluster.kubeconfig();
    let kc = format!("--kubeconfig {}", kubeconfig.display());
    let client = cluster.client().await.unwrap();

    // Revision 1 is an older chart whose TradingStrategy CRD lacks the short name `ts`.
    let old = std::env::temp_dir().join(format!(
        "tradeplane-old-chart-{:08x}",
        rand::random::<u32>()
    ));
    copy_dir(&chart_dir(), &old).unwrap();
    let file = old.join("files/crds/tradingstrategies.yaml");
    let mut older: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    older["spec"]["names"]["shortNames"] = json!(["tsold"]);
    std::fs::write(&file, serde_yaml::to_string(&older).unwrap()).unwrap();
    let install = format!(
        "install tp {} -n tradeplane --create-namespace {kc}",
        old.display()
    );
    let installed = sh("helm", &install, None).await;
    let _ = std::fs::remove_dir_all(&old);
    println!("$ helm install tp <the chart with an older CRD> -n tradeplane\n{installed}");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let names: Vec<String> = tradeplane_operator::api::crd::all()
        .into_iter()
        .map(|(_, c)| c.metadata.name.unwrap())
        .collect();
    for name in &names {
        let annotations = crd(&crds, name)
            .await
            .metadata
            .annotations
            .unwrap_or_default();
        assert_eq!(annotations["helm.sh/resource-policy"], "keep", "{name}");
        assert_eq!(annotations["meta.helm.sh/release-name"], "tp", "{name}");
    }
    let strategies = "tradingstrategies.tradeplane.io";
    assert_eq!(
        crd(&crds, strategies).await.spec.names.short_names.unwrap(),
        ["tsold"]
    );

    // A user's object, which deleting its CRD would take with it.
    let established = |c: Option<&CustomResourceDefinition>| {
        let conditions = c
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.conditions.clone());
        conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    };
    let accounts_crd = "brokeraccounts.tradeplane.io";
    wait_for(
        &crds,
        accounts_crd,
        "the CRD to be served",
        READY_WITHIN,
        established,
    )
    .await
    .unwrap();
    sh("kubectl", &format!("create namespace desk {kc}"), None).await;
    let file = repo_root().join("examples/quickstart/broker-account.yaml");
    let account = yaml_documents(&std::fs::read_to_string(file).unwrap())
        .unwrap()
        .remove(0);
    apply_strict(&client, "desk", &account)
        .await
        .unwrap()
        .unwrap();

    let upgraded = sh(
        "helm",
        &format!("upgrade tp {} -n tradeplane {kc}", chart()),
        None,
    )
    .await;
    assert!(upgraded.contains("REVISION: 2"), "{upgraded}");
    let short_names = crd(&crds, strategies).await.spec.names.short_names.unwrap();
    assert_eq!(short_names, ["ts"], "helm upgrade left the CRD as it was");

    let subject = "system:serviceaccount:tradeplane:tp-tradeplane";
    let checks = table(CLUSTER_WIDE, &[("D", "desk"), ("R", "tradeplane")]);
    let title = "RBAC of the chart with namespaces: [] (cluster-wide)";
    assert_table(title, Some(&kubeconfig), subject, &checks)
        .await
        .unwrap();

    let uninstalled = sh("helm", &format!("uninstall tp -n tradeplane {kc}"), None).await;
    println!("$ helm uninstall tp -n tradeplane\n{uninstalled}");
    assert!(
        uninstalled.contains("kept due to the resource policy"),
        "{uninstalled}"
    );
    for name in &names {
        assert!(
            crds.get_opt(name).await.unwrap().is_some(),
            "helm uninstall deleted {name}"
        );
    }
    let accounts = Api::<BrokerAccount>::namespaced(client.clone(), "desk");
    assert!(
        accounts.get_opt("paper").await.unwrap().is_some(),
        "the user's BrokerAccount is gone"
    );
    let roles = Api::<ClusterRole>::all(client);
    assert!(
        roles.get_opt("tp-tradeplane").await.unwrap().is_none(),
        "the ClusterRole outlived the release"
    );
}
