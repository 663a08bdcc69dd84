//! Cron-scheduled strategies: no long-running trader, a CronJob whose Jobs each run one
//! `cycle` and exit.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use tradeplane_contract::command::PodMode;

use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::Component;
use crate::controllers::trading_strategy::pods::Pods;

/// The strategy's cron expression, when it runs on one.
pub fn cron(strategy: &TradingStrategy) -> Option<String> {
    strategy.spec.schedule.as_ref().and_then(|s| s.cron.clone())
}

/// The CronJob running one cycle per `cron` slot. `suspend` stops trading at once: no new
/// cycle starts.
pub fn cron_job(pods: &Pods<'_>, cron: String) -> CronJob {
    let spec = &pods.strategy.spec;
    CronJob {
        metadata: pods.meta.child(&pods.names.cycle, Component::Cycle),
        spec: CronJobSpec {
            schedule: cron,
            time_zone: spec.schedule.as_ref().and_then(|s| s.time_zone.clone()),
            suspend: Some(spec.suspend == Some(true)),
            concurrency_policy: Some("Forbid".to_string()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: run_once(pods.template(Component::Cycle, PodMode::Cycle)),
            ..CronJobSpec::default()
        },
        ..CronJob::default()
    }
}

/// A Job template that runs the pod once, with no restarts and no retries: a failed cycle is
/// reported by its Job, and the next slot runs the next one.
fn run_once(mut pod: PodTemplateSpec) -> JobTemplateSpec {
    if let Some(spec) = pod.spec.as_mut() {
        spec.restart_policy = Some("Never".to_string());
    }
    JobTemplateSpec {
        metadata: None,
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: pod,
            ..JobSpec::default()
        }),
    }
}
