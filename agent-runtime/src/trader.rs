//! The `trader` and `cycle` modes: reconcile with the broker, then run cycles on the schedule.
//!
//! Two drivers, one per market data source, chosen once in [`Trader::run`]: the live driver
//! runs a cycle at each slot of the schedule (behind the market gate below); the replay
//! driver steps the replay feed, one nominal interval apart, and idles, ready, at its end.
//!
//! Shutdown is cooperative. A SIGTERM between cycles stops at once; during a cycle the cycle
//! is given [`SHUTDOWN_GRACE`] to finish (orders already journalled and sent complete
//! normally), after which it is dropped — abandoned between awaits, never half-journalled: an
//! order journalled but without a result is exactly what restart reconciliation looks up.
//! Then the lease is released so a standby takes over at once.
//!
//! With `marketHoursOnly`, a broker with a market clock (`/v2/clock`) decides each slot —
//! it knows holidays and early closes, and a closed answer's `next_open` lets the trader
//! sleep until the open instead of asking at every slot; without one, the schedule's built-in
//! calendar does. A closed market skips the slot (`cycles_total{outcome="skipped"}`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use tokio::sync::watch;

use crate::cycle::build::MarketSource;
use crate::cycle::ports::{JournalEntry, PortError};
use crate::cycle::{CycleError, CycleReport, CycleRunner};
use crate::leadership::LeaseLeadership;
use crate::leadership::lease::Role;
use crate::market::ReplayFeed;
use crate::schedule::CycleSchedule;
use crate::server::Health;
use crate::status_report::StatusReporter;

/// How long a cycle in flight may run on after SIGTERM before it is abandoned. Below the
/// default 30 s termination grace period of a pod, with room for the lease release.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

pub struct Trader {
    pub runner: CycleRunner,
    pub source: MarketSource,
    pub schedule: CycleSchedule,
    pub health: Arc<Health>,
    /// With several replicas, the strategy's Lease: the trader then leads only while it
    /// holds it, and stands by, hot, otherwise. `None`: a single replica always leads.
    pub election: Option<Arc<LeaseLeadership>>,
    /// Where the leader reports its part of the status; `None` outside a cluster.
    pub status: Option<StatusReporter>,
    /// The equity P&L is measured from (the paper broker's starting cash, or the first
    /// equity the journal recorded).
    pub baseline: Option<f64>,
    /// A shadow's `resumeAfter`: with a journal of its own that is still empty, the replay
    /// driver resumes after the live pods' last cycle rather than at the feed's start.
    pub resume_after: Option<DateTime<Utc>>,
}

impl Trader {
    /// Reconciles with the broker, retrying with backoff; false if shutdown came first.
    /// Reconciling writes the journal, so only a replica that leads may do it.
    pub async fn reconcile(&self, shutdown: &mut watch::Receiver<bool>) -> bool {
        self.until_broker_answers(BrokerStep::Reconcile, shutdown)
            .await
    }

    /// Retries `step` with backoff until the broker answers; false if shutdown came first.
    async fn until_broker_answers(
        &self,
        step: BrokerStep,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut backoff = Duration::from_secs(1);
        loop {
            let broker = self.runner.broker();
            let answered = match step {
                BrokerStep::Reconcile => broker.reconcile().await,
                BrokerStep::Check => broker.check().await,
            };
            match answered {
                Ok(()) => {
                    self.health.set_reconciled(true);
                    self.broker_answered(step.label(), true);
                    tracing::info!("{}", step.done());
                    return true;
                }
                Err(err) => {
                    self.broker_answered(step.label(), false);
                    tracing::warn!(%err, retry_in = backoff.as_secs(), "{}", step.failed());
                }
            }
            if wait_or_stop(backoff, shutdown).await {
                return false;
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Runs cycles until shutdown. A single replica reconciles and leads at once. With
    /// several, a replica starts as a standby that only reads the broker — another replica
    /// may be leading, and a standby that resolved that leader's orders or corrected its
    /// positions would race its writes — and reconciles once it holds the Lease. The lease is
    /// released after.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        match self.election.clone() {
            None => {
                if self.reconcile(&mut shutdown).await {
                    self.set_role(true);
                    self.lead(&mut shutdown).await;
                }
            }
            Some(election) => {
                if self
                    .until_broker_answers(BrokerStep::Check, &mut shutdown)
                    .await
                {
                    self.follow(&election, &mut shutdown).await;
                }
            }
        }
        self.stop().await;
    }

    /// With several replicas: stand by, hot and ready, until this replica holds the Lease;
    /// then reconcile with the broker again (the last leader's orders may have changed
    /// things) and lead until the Lease is lost or shutdown comes; then stand by again.
    async fn follow(&mut self, election: &LeaseLeadership, shutdown: &mut watch::Receiver<bool>) {
        let mut role = election.subscribe();
        election.set_ready(true);
        loop {
            self.set_role(false);
            tokio::select! {
                _ = role.wait_for(|r| matches!(r, Role::Leader { .. })) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            self.set_role(true);
            if !self.reconcile(shutdown).await {
                return;
            }
            self.lead(shutdown).await;
            // Leading ended without the Lease being lost (the journal could not be read, say):
            // pause before trying again rather than spin.
            if wait_or_stop(Duration::from_secs(1), shutdown).await {
                return;
            }
            tracing::warn!("no longer leading: standing by");
        }
    }

    /// Leads with the driver for the market data source — the live schedule or the replay
    /// feed — resuming after the last cycle the journal knows, until shutdown, the end of the
    /// schedule, or the loss of the Lease.
    async fn lead(&mut self, shutdown: &mut watch::Receiver<bool>) {
        let last = match self.runner.journal().last_cycle().await {
            Ok(last) => last,
            Err(err) => {
                tracing::error!(%err, "cannot read the journal's last cycle: not leading");
                return;
            }
        };
        match &self.source {
            MarketSource::Live(_) => self.drive_live(last, shutdown).await,
            MarketSource::Replay {
                feed,
                bars_per_cycle,
            } => {
                let (feed, bars_per_cycle) = (feed.clone(), *bars_per_cycle);
                let last = last.or(self.resume_after);
                resume_replay(&feed, bars_per_cycle, last);
                self.drive_replay(&feed, bars_per_cycle, last, shutdown)
                    .await
            }
        }
    }

    fn set_role(&self, leading: bool) {
        let metrics = self.runner.metrics();
        metrics.leader.set(i64::from(leading));
        metrics
            .role
            .with_label_values(&["leader"])
            .set(i64::from(leading));
        metrics
            .role
            .with_label_values(&["standby"])
            .set(i64::from(!leading));
        self.health.set_standby(!leading);
    }

    /// The live driver: a cycle at each slot of the schedule that the market gate lets
    /// through, until shutdown or a schedule that never fires again.
    async fn drive_live(
        &mut self,
        last: Option<DateTime<Utc>>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        if self.schedule.market_hours_only()
            && matches!(self.runner.broker().market_clock().await, Ok(Some(_)))
        {
            tracing::info!("market hours from the broker's clock");
            self.schedule.use_calendar(false);
        }
        let mut after = Utc::now();
        if let Some(last) = last
            && let Err(err) = self.journal_missed(last, after).await
        {
            tracing::error!(%err, "cannot journal the missed slots: not leading");
            return;
        }
        while let Some(slot) = self.next_open_slot(&mut after, shutdown).await {
            if !self.cycle(slot, shutdown).await {
                return;
            }
        }
    }

    /// Sleeps until the next slot after `after` that the market gate lets through, moving
    /// `after` past the slots it skips. `None` at shutdown, or — once shutdown comes — when
    /// the schedule never fires again.
    async fn next_open_slot(
        &mut self,
        after: &mut DateTime<Utc>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<DateTime<Utc>> {
        loop {
            let Some(slot) = self.schedule.next_after(*after) else {
                tracing::warn!("the schedule never fires again; idling");
                let _ = shutdown.wait_for(|stop| *stop).await;
                return None;
            };
            let wait = (slot - Utc::now()).to_std().unwrap_or_default();
            self.health.waiting_until(Instant::now() + wait);
            if wait_or_stop(wait, shutdown).await {
                return None;
            }
            *after = slot;
            match self.market_gate(slot).await {
                Gate::Open => return Some(slot),
                // Jump to the open rather than asking the clock at every slot of a holiday.
                Gate::Closed { next_open } => {
                    if let Some(open) = next_open.filter(|open| *open > slot) {
                        *after = open - chrono::Duration::seconds(1);
                    }
                }
                Gate::Unknown => {}
            }
        }
    }

    /// The replay driver: a cycle at each step of the feed, `bars_per_cycle` bars apart and
    /// one nominal interval apart in time; at the end of the feed it stays ready, idle.
    async fn drive_replay(
        &mut self,
        feed: &ReplayFeed,
        bars_per_cycle: usize,
        last: Option<DateTime<Utc>>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        // A feed that ended at or before the last journalled cycle has nothing left to run.
        while let Some(now) = feed.now().filter(|now| last.is_none_or(|last| *now > last)) {
            if !self.cycle(now, shutdown).await {
                return;
            }
            if feed.advance(bars_per_cycle).is_none() {
                break;
            }
            if wait_or_stop(self.schedule.nominal_interval(), shutdown).await {
                return;
            }
        }
        tracing::info!("replay finished; idling until shutdown");
        idle(&self.health, self.schedule.nominal_interval(), shutdown).await;
    }

    /// Journals every slot of the schedule after `last` and before `now` as missed: slots
    /// nobody ran while no one led (or while the trader was down). Bounded, so a strategy
    /// down for months does not journal for hours: the oldest are left out, with a warning.
    async fn journal_missed(
        &self,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let slots = missed_slots(&self.schedule, last, now, MAX_MISSED_SLOTS);
        if slots.len() == MAX_MISSED_SLOTS {
            tracing::warn!(
                max = MAX_MISSED_SLOTS,
                "more slots were missed than are journalled"
            );
        }
        for slot in &slots {
            let entry = JournalEntry::MissedCycle {
                cycle_id: crate::cycle::cycle_id(*slot),
                time: *slot,
            };
            self.runner.journal().record(&entry).await?;
        }
        if !slots.is_empty() {
            tracing::warn!(missed = slots.len(), since = %last, "journalled the slots no leader ran");
            self.runner
                .metrics()
                .cycles
                .with_label_values(&["missed"])
                .inc_by(u64::try_from(slots.len()).unwrap_or(u64::MAX));
        }
        Ok(())
    }

    /// Runs and reports the cycle at `now`; false when the trader is to stop leading
    /// (shutdown came, the cycle was abandoned to it, or the Lease is no longer held).
    async fn cycle(&mut self, now: DateTime<Utc>, shutdown: &mut watch::Receiver<bool>) -> bool {
        if !self.runner.leadership().is_leader().await {
            return false;
        }
        match run_with_grace(&mut self.runner, now, shutdown).await {
            Some(Ok(report)) => {
                self.cycle_done(&report);
                self.report_status(&report).await;
            }
            Some(Err(err)) => self.cycle_failed(&err),
            None => return false,
        }
        !*shutdown.borrow()
    }

    /// The leader's part of the status, after a cycle.
    async fn report_status(&self, report: &CycleReport) {
        let Some(status) = &self.status else { return };
        if !self.runner.leadership().is_leader().await {
            return;
        }
        let baseline = self.baseline.unwrap_or(report.account.equity);
        status
            .report(report, Utc::now(), baseline, self.runner.trading_state())
            .await;
        status.warn_corrections(report).await;
    }

    /// One cycle (the `cycle` mode): reconcile, run at the current slot, return. `None` when
    /// the market is closed and `marketHoursOnly` is set: nothing to do, not a failure.
    pub async fn run_once(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Option<CycleReport>, CycleError> {
        if !self.reconcile(&mut shutdown).await {
            return Err(CycleError::Broker(PortError {
                kind: "shutdown",
                message: "stopped before reconciling".into(),
            }));
        }
        let now = match &self.source {
            MarketSource::Replay { feed, .. } => feed.now().unwrap_or_else(Utc::now),
            // A CronJob starts within moments of its slot: the minute names the cycle.
            MarketSource::Live(_) => {
                match self.market_gate(current_slot(Utc::now())).await {
                    Gate::Open => {}
                    Gate::Closed { .. } => {
                        self.stop().await;
                        return Ok(None);
                    }
                    Gate::Unknown => {
                        self.stop().await;
                        return Err(CycleError::Broker(PortError {
                            kind: "clock",
                            message: "cannot tell whether the market is open".into(),
                        }));
                    }
                }
                current_slot(Utc::now())
            }
        };
        let result = match run_with_grace(&mut self.runner, now, &mut shutdown).await {
            Some(result) => result.map(Some),
            None => Err(CycleError::Abandoned),
        };
        if let Ok(Some(report)) = &result {
            self.cycle_done(report);
        }
        self.stop().await;
        result
    }

    /// With `marketHoursOnly`, whether this slot may trade: the broker's clock says where
    /// the broker has one (it knows holidays and early closes), the built-in calendar where
    /// it has none. When the clock cannot be read the slot is skipped: a trader that cannot
    /// tell whether the market is open does not trade.
    async fn market_gate(&self, slot: DateTime<Utc>) -> Gate {
        if !self.schedule.market_hours_only() {
            return Gate::Open;
        }
        let closed = |source: &str, next_open: Option<DateTime<Utc>>| {
            self.health.cycle_completed();
            self.runner
                .metrics()
                .cycles
                .with_label_values(&["skipped"])
                .inc();
            tracing::info!(
                source,
                next_open = next_open.map(|t| t.to_rfc3339()),
                "market closed: skipping this cycle"
            );
            Gate::Closed { next_open }
        };
        match self.runner.broker().market_clock().await {
            Ok(None) if self.schedule.in_session(slot) => Gate::Open,
            Ok(None) => closed("calendar", None),
            Ok(Some(clock)) if clock.is_open => {
                self.broker_answered("clock", true);
                Gate::Open
            }
            Ok(Some(clock)) => {
                self.broker_answered("clock", true);
                closed("broker clock", clock.next_open)
            }
            Err(err) => {
                self.broker_answered("clock", false);
                self.runner
                    .metrics()
                    .cycles
                    .with_label_values(&["error"])
                    .inc();
                tracing::warn!(%err, "cannot read the market clock: skipping this cycle");
                Gate::Unknown
            }
        }
    }

    /// Readiness and the broker metrics follow whether the broker answered `operation`.
    fn broker_answered(&self, operation: &str, ok: bool) {
        self.health.set_broker_reachable(ok);
        self.runner.metrics().broker_answered(operation, ok);
    }

    fn cycle_done(&self, report: &CycleReport) {
        self.health.cycle_completed();
        self.health.set_broker_reachable(true);
        tracing::info!(
            cycle_id = report.cycle_id,
            orders = report.orders_sent,
            rejections = report.rejections,
            equity = report.account.equity,
            drawdown = report.drawdown,
            "cycle complete"
        );
    }

    fn cycle_failed(&self, err: &CycleError) {
        if matches!(err, CycleError::Broker(_)) {
            self.health.set_broker_reachable(false);
        }
        tracing::error!(%err, kind = err.kind(), "cycle failed");
    }

    async fn stop(&self) {
        // Not ready any more: the Lease, once released, must not be taken back.
        if let Some(election) = &self.election {
            election.set_ready(false);
        }
        self.runner.leadership().release().await;
        self.set_role(false);
        tracing::info!("trader stopped");
    }
}

/// What a trader asks of the broker before it may be ready.
#[derive(Clone, Copy)]
enum BrokerStep {
    /// Resolve the journal's open orders and correct its positions: the leader's start.
    Reconcile,
    /// Read the account and positions, writing nothing: a standby's start.
    Check,
}

impl BrokerStep {
    /// The `operation` label of the broker metrics.
    fn label(self) -> &'static str {
        match self {
            Self::Reconcile => "reconcile",
            Self::Check => "check",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Reconcile => "reconciled with the broker",
            Self::Check => "the broker answered: standing by until this replica leads",
        }
    }

    fn failed(self) -> &'static str {
        match self {
            Self::Reconcile => "cannot reconcile with the broker",
            Self::Check => "cannot read the broker's account",
        }
    }
}

/// What the market clock says about a slot.
enum Gate {
    Open,
    Closed {
        next_open: Option<DateTime<Utc>>,
    },
    /// The clock could not be read.
    Unknown,
}

/// The most missed slots one takeover journals.
pub const MAX_MISSED_SLOTS: usize = 1000;

/// The slots of `schedule` strictly after `last` and strictly before `now`, oldest first, at
/// most `max` (the newest ones). Pure.
pub fn missed_slots(
    schedule: &CycleSchedule,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    max: usize,
) -> Vec<DateTime<Utc>> {
    let mut slots = std::collections::VecDeque::new();
    let mut after = last;
    while let Some(slot) = schedule.next_after(after).filter(|slot| *slot < now) {
        if slots.len() == max {
            slots.pop_front();
        }
        slots.push_back(slot);
        after = slot;
    }
    slots.into()
}

/// Moves a replay feed past the last cycle the journal knows, so a restarted or new leader
/// continues where the last one stopped instead of replaying (and re-deciding) from the
/// first bar.
pub fn resume_replay(feed: &ReplayFeed, bars_per_cycle: usize, last: Option<DateTime<Utc>>) {
    let Some(last) = last else { return };
    let mut skipped = 0usize;
    while feed.now().is_some_and(|now| now <= last) {
        if feed.advance(bars_per_cycle).is_none() {
            break;
        }
        skipped += 1;
    }
    if skipped > 0 {
        tracing::info!(%last, steps = skipped, "resumed the replay after the last journalled cycle");
    }
}

/// The minute a cycle started in: its slot.
pub fn current_slot(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(chrono::Duration::minutes(1))
        .unwrap_or(now)
}

/// Runs a cycle; on shutdown lets it finish within [`SHUTDOWN_GRACE`], else abandons it
/// (`None`).
async fn run_with_grace(
    runner: &mut CycleRunner,
    now: DateTime<Utc>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Result<CycleReport, CycleError>> {
    let cycle = runner.run(now);
    tokio::pin!(cycle);
    tokio::select! {
        result = &mut cycle => Some(result),
        _ = shutdown.wait_for(|stop| *stop) => {
            tracing::info!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "shutdown during a cycle: letting it finish");
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut cycle).await {
                Ok(result) => Some(result),
                Err(_) => {
                    tracing::warn!("cycle did not finish within the grace period: abandoned");
                    None
                }
            }
        }
    }
}

/// Sleeps for `duration`; true if shutdown was requested meanwhile.
async fn wait_or_stop(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    let stopped = tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = shutdown.wait_for(|stop| *stop) => true,
    };
    stopped || *shutdown.borrow()
}

/// Nothing left to do but stay ready (a finished replay is not a failure).
async fn idle(health: &Health, every: Duration, shutdown: &mut watch::Receiver<bool>) {
    loop {
        health.cycle_completed();
        if wait_or_stop(every.max(Duration::from_secs(1)), shutdown).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_slots_nobody_ran_are_those_between_the_last_cycle_and_now() {
        let every_minute = config::Schedule {
            interval_seconds: 60,
            ..config::Schedule::default()
        };
        let schedule = CycleSchedule::from_config(&every_minute).unwrap();
        let last = utc("2026-12-01T10:00:00Z");
        let slots = missed_slots(&schedule, last, utc("2026-12-01T10:03:30Z"), 100);
        assert_eq!(
            slots,
            [
                utc("2026-12-01T10:01:00Z"),
                utc("2026-12-01T10:02:00Z"),
                utc("2026-12-01T10:03:00Z")
            ]
        );
        // The slot the new leader is about to run is not missed.
        assert!(missed_slots(&schedule, last, utc("2026-12-01T10:01:00Z"), 100).is_empty());
        // Bounded: the newest are kept.
        let bounded = missed_slots(&schedule, last, utc("2026-12-01T11:00:30Z"), 2);
        assert_eq!(
            bounded,
            [utc("2026-12-01T10:59:00Z"), utc("2026-12-01T11:00:00Z")]
        );
    }

    #[test]
    fn a_replay_resumes_after_the_last_journalled_cycle() {
        let feed = ReplayFeed::builtin(&["AAPL".to_string()], 5);
        let first = feed.now().unwrap();
        resume_replay(&feed, 1, None);
        assert_eq!(
            feed.now(),
            Some(first),
            "nothing journalled: start at the start"
        );
        let fresh = ReplayFeed::builtin(&["AAPL".to_string()], 5);
        fresh.advance(3);
        let last = fresh.now().unwrap();
        resume_replay(&feed, 1, Some(last));
        let resumed = feed.now().unwrap();
        assert!(resumed > last, "{resumed} after {last}");
        fresh.advance(1);
        assert_eq!(
            Some(resumed),
            fresh.now(),
            "the very next bar, none skipped"
        );
    }
}
