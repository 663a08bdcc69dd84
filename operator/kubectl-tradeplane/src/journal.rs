//! `journal NAME`: the journal's entries through the runtime's list endpoints, oldest first;
//! `--follow` asks again every few seconds and prints what it has not printed yet.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tradeplane_contract::journal_api::{
    CycleDetail, CycleView, FillView, LlmSpendView, OrderView, Page,
};

use crate::cli::{JournalArgs, JournalKind};
use crate::cluster::Target;
use crate::error::Error;
use crate::output::write_as;
use crate::proxy::{RuntimeProxy, query};
use crate::render::journal::{Entry, line, ordered};

/// How often `--follow` asks.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);

pub async fn run(target: &Target, args: &JournalArgs, out: &mut dyn Write) -> Result<(), Error> {
    target.strategy(&args.name).await?;
    let proxy = RuntimeProxy::new(target.client.clone(), &target.namespace, &args.name);
    let kinds = match args.kind {
        Some(kind) => vec![kind],
        None => vec![
            JournalKind::Decisions,
            JournalKind::Orders,
            JournalKind::Fills,
        ],
    };
    let mut since = args
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() - d);
    let mut seen = HashSet::new();
    loop {
        let mut entries = Vec::new();
        for kind in &kinds {
            entries.extend(read(&proxy, *kind, args, since).await?);
        }
        let fresh: Vec<Entry> = ordered(entries)
            .into_iter()
            .filter(|e| seen.insert(e.key()))
            .collect();
        match args.output {
            Some(format) => write_as(out, format, &fresh)?,
            None => {
                for entry in &fresh {
                    writeln!(out, "{}", line(entry))?;
                }
            }
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        // Ask again from a little before the newest entry: a cycle journals its parts
        // over a few seconds, and `seen` keeps the overlap from printing twice.
        if let Some(newest) = fresh.iter().map(Entry::at).max() {
            since = Some(newest - chrono::Duration::minutes(5));
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

async fn read(
    proxy: &RuntimeProxy,
    kind: JournalKind,
    args: &JournalArgs,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Entry>, Error> {
    let since = since.map(|t| t.to_rfc3339());
    let limit = Some(args.limit.to_string());
    let symbol = args.symbol.clone();
    Ok(match kind {
        JournalKind::Decisions => {
            let cycles: Page<CycleView> = proxy
                .get(&format!(
                    "cycles{}",
                    query(&[("limit", limit), ("since", since)])
                ))
                .await?;
            let mut entries = Vec::new();
            for cycle in cycles.items {
                let detail: CycleDetail = proxy.get(&format!("cycles/{}", cycle.id)).await?;
                entries.extend(
                    detail
                        .decisions
                        .into_iter()
                        .filter(|d| symbol.as_ref().is_none_or(|s| &d.symbol == s))
                        .map(|d| Entry::Decision(Box::new(d))),
                );
            }
            entries
        }
        JournalKind::Orders => {
            let page: Page<OrderView> = proxy
                .get(&format!(
                    "orders{}",
                    query(&[("limit", limit), ("since", since), ("symbol", symbol)])
                ))
                .await?;
            page.items.into_iter().map(Entry::Order).collect()
        }
        JournalKind::Fills => {
            let page: Page<FillView> = proxy
                .get(&format!(
                    "fills{}",
                    query(&[("limit", limit), ("since", since), ("symbol", symbol)])
                ))
                .await?;
            page.items.into_iter().map(Entry::Fill).collect()
        }
        JournalKind::Llm => {
            let page: Page<LlmSpendView> = proxy
                .get(&format!(
                    "llm-spend{}",
                    query(&[("limit", limit), ("since", since)])
                ))
                .await?;
            page.items.into_iter().map(Entry::Llm).collect()
        }
    })
}
