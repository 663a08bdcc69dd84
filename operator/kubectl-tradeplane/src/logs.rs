//! `logs NAME`: the leader's logs (or every replica's with `--all`), each JSON line made
//! readable by [`crate::render::logs`]. `-f` follows; `--since` and `--tail` bound what is
//! read, as `kubectl logs` does.

use std::io::Write;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;

use crate::cli::LogsArgs;
use crate::cluster::Target;
use crate::error::Error;
use crate::render::logs::readable;

/// The runtime's container in a trader pod.
pub const CONTAINER: &str = "agent-runtime";

/// The pods whose logs to read: the leader's, or all with `all`. A strategy without a leader
/// (cron cycles, or not started) falls back to all its trader pods.
pub fn chosen(pods: Vec<Pod>, leader: Option<&str>, all: bool) -> Vec<String> {
    let names: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.name).collect();
    match leader {
        Some(leader) if !all && names.iter().any(|n| n == leader) => vec![leader.to_string()],
        _ => names,
    }
}

pub async fn run(target: &Target, args: &LogsArgs, out: &mut dyn Write) -> Result<(), Error> {
    let strategy = target.strategy(&args.name).await?;
    let leader = strategy.status.as_ref().and_then(|s| s.leader.clone());
    let pods = chosen(
        target.trader_pods(&args.name).await?,
        leader.as_deref(),
        args.all,
    );
    if pods.is_empty() {
        return Err(Error::NotApplicable(format!(
            "'{}' has no trader pods in {}; `kubectl tradeplane status {}` says why",
            args.name, target.namespace, args.name
        )));
    }
    let params = LogParams {
        container: Some(CONTAINER.to_string()),
        follow: args.follow,
        since_seconds: args.since.map(|d| d.as_secs() as i64),
        tail_lines: args.tail,
        ..LogParams::default()
    };
    let api = target.api::<Pod>();
    let prefixed = pods.len() > 1;
    let mut streams = Vec::new();
    for pod in &pods {
        let reader = api
            .log_stream(pod, &params)
            .await
            .map_err(|e| Error::from_kube(e, "get", "pods/log", &target.namespace))?;
        let prefix = prefixed.then(|| pod.clone());
        streams.push(
            reader
                .lines()
                .map_ok(move |line| readable(&line, prefix.as_deref()))
                .boxed(),
        );
    }
    // One pod's lines in order; several pods' interleaved as they come.
    let mut merged = futures::stream::select_all(streams);
    while let Some(line) = merged.next().await {
        let line = line?;
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod
    }

    #[test]
    fn the_leader_alone_unless_all_or_there_is_none() {
        let pods = || vec![pod("a"), pod("b")];
        assert_eq!(chosen(pods(), Some("b"), false), ["b"]);
        assert_eq!(chosen(pods(), Some("b"), true), ["a", "b"]);
        assert_eq!(chosen(pods(), None, false), ["a", "b"]);
        assert_eq!(chosen(pods(), Some("gone"), false), ["a", "b"]);
    }
}
