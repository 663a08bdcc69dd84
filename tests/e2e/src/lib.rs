//! Support for the tests that run against a real control plane.
//!
//! `make test` starts one local cluster (tests/cluster/up.sh) and exports its `KUBECONFIG`;
//! each test takes a namespace of its own in it ([`TestNamespace`]) so tests run in parallel
//! without seeing each other's objects. A test that has to break its cluster — kill the API
//! server, say — starts a private one beside it ([`PrivateCluster`]).

pub mod apply;
pub mod argocd;
pub mod audit;
pub mod backtest_pods;
pub mod backup_pods;
pub mod browser;
pub mod children;
pub mod cli;
pub mod cluster;
pub mod conditions;
pub mod controller;
pub mod crds;
pub mod failover_rig;
pub mod fixtures;
pub mod helm;
pub mod http;
pub mod journal_pod;
pub mod metrics_table;
pub mod namespace;
pub mod operator_process;
pub mod postgres;
pub mod procfs;
pub mod prometheus;
pub mod rbac;
pub mod runtime_pods;
pub mod runtime_process;
pub mod shadow_rig;
pub mod wait;

pub use apply::{FIELD_MANAGER, apply_strict, yaml_documents};
pub use cluster::{PrivateCluster, repo_root, shared_client};
pub use controller::InProcessController;
pub use crds::install_crds;
pub use namespace::TestNamespace;
pub use operator_process::OperatorProcess;
pub use wait::{WaitError, wait_deleted, wait_for};
