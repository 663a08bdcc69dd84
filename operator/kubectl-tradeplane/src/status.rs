//! `status NAME`: gathers the strategy, its pods, Lease and Warning Events from the API
//! server and the journal's figures from the runtime, then renders one screen.
//!
//! Only the strategy itself is required; every other part that cannot be read (a missing
//! permission, a runtime not up) is named on the screen instead of failing it, because the
//! moment a user runs `status` is often the moment something is broken.

use std::io::Write;

use k8s_openapi::api::core::v1::Pod;
use tradeplane_contract::journal_api::{
    CycleDetail, CycleView, FillView, LlmSpendView, OrderView, Page, StrategySummary,
};

use crate::cli::StatusArgs;
use crate::cluster::{Target, event_time, utc};
use crate::error::Error;
use crate::output::{style, write_as};
use crate::proxy::RuntimeProxy;
use crate::render::status::{
    LeaseView, ReplicaView, RuntimeSection, RuntimeView, StatusView, WarningView, render,
};

/// Cycles shown in full on the screen.
const CYCLES_SHOWN: u32 = 3;
/// Orders and fills shown.
const TRADES_SHOWN: u32 = 5;

pub async fn run(target: &Target, args: &StatusArgs, out: &mut dyn Write) -> Result<(), Error> {
    loop {
        let view = gather(target, &args.name).await?;
        match args.output {
            Some(format) => write_as(out, format, &view)?,
            None => {
                let style = style();
                if args.watch && style.colour {
                    // Clear the screen and go home, as `watch` does.
                    out.write_all(b"\x1b[2J\x1b[H")?;
                }
                let text = render(&view, chrono::Utc::now(), style);
                out.write_all(text.as_bytes())?;
            }
        }
        out.flush()?;
        if !args.watch {
            return Ok(());
        }
        tokio::time::sleep(args.interval).await;
    }
}

/// Everything the screen shows.
pub async fn gather(target: &Target, name: &str) -> Result<StatusView, Error> {
    let strategy = target.strategy(name).await?;
    let leader = strategy.status.as_ref().and_then(|s| s.leader.clone());
    let mut unavailable = Vec::new();

    let replicas = match target.trader_pods(name).await {
        Ok(pods) => pods.iter().map(|p| replica(p, leader.as_deref())).collect(),
        Err(error) => {
            unavailable.push(format!("replicas: {error}"));
            Vec::new()
        }
    };
    let lease = match target.leader_lease(name).await {
        Ok(lease) => lease.and_then(|l| l.spec).map(|spec| LeaseView {
            holder: spec.holder_identity,
            renewed_at: spec.renew_time.as_ref().and_then(micro),
            acquired_at: spec.acquire_time.as_ref().and_then(micro),
            transitions: spec.lease_transitions,
        }),
        Err(error) => {
            unavailable.push(format!("Lease: {error}"));
            None
        }
    };
    let warnings = match target.warning_events(name).await {
        Ok(events) => events
            .iter()
            .map(|e| WarningView {
                reason: e.reason.clone().unwrap_or_default(),
                message: e.message.clone().unwrap_or_default(),
                count: e.count.unwrap_or(1),
                last_seen: event_time(e),
            })
            .collect(),
        Err(error) => {
            unavailable.push(format!("events: {error}"));
            Vec::new()
        }
    };
    let proxy = RuntimeProxy::new(target.client.clone(), &target.namespace, name);
    let runtime = match runtime(&proxy).await {
        Ok(view) => RuntimeSection::Answered(Box::new(view)),
        Err(error) => RuntimeSection::Unavailable(error.to_string()),
    };
    Ok(StatusView {
        strategy,
        replicas,
        lease,
        runtime,
        warnings,
        unavailable,
    })
}

async fn runtime(proxy: &RuntimeProxy) -> Result<RuntimeView, Error> {
    let summary: StrategySummary = proxy.get("summary").await?;
    let cycles: Page<CycleView> = proxy.get(&format!("cycles?limit={CYCLES_SHOWN}")).await?;
    let mut details = Vec::new();
    for cycle in &cycles.items {
        let detail: CycleDetail = proxy.get(&format!("cycles/{}", cycle.id)).await?;
        details.push(detail);
    }
    let orders: Page<OrderView> = proxy.get(&format!("orders?limit={TRADES_SHOWN}")).await?;
    let fills: Page<FillView> = proxy.get(&format!("fills?limit={TRADES_SHOWN}")).await?;
    let spend: Page<LlmSpendView> = proxy.get("llm-spend?limit=3").await?;
    Ok(RuntimeView {
        summary,
        cycles: details,
        orders: orders.items,
        fills: fills.items,
        llm_spend: spend.items,
    })
}

fn replica(pod: &Pod, leader: Option<&str>) -> ReplicaView {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let restarts = status
        .and_then(|s| s.container_statuses.as_ref())
        .map(|c| c.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0);
    ReplicaView {
        leader: leader == Some(name.as_str()),
        pod: name,
        ready,
        restarts,
        started_at: status.and_then(|s| s.start_time.as_ref()).and_then(utc),
    }
}

fn micro(
    time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(
        time.0.as_second(),
        time.0.subsec_nanosecond().unsigned_abs(),
    )
}
