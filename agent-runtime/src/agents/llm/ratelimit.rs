//! A provider's gate: its requests-per-minute limit and the hold a 429 puts on it, in one
//! place every call to that provider in the process passes through.
//!
//! A provider that answers 429 is telling the *key* to slow down, not the one request: if
//! the other symbols' and seats' calls carry on, they collect more 429s and, with some
//! providers, a ban. So a `Retry-After` (or `retry-after-ms`) closes the gate for everyone
//! until it passes, and a 429 without one closes it for an exponential backoff with full
//! jitter (so replicas and processes that were refused together do not return together).
//! The hold is lifted — the strike count reset — by the next answer that is not a 429.
//!
//! A hold outlives the process: its end, as a wall-clock time, goes to the provider's
//! ledger (the journal, the pool's ledger) before the 429 is acted on, and a process that
//! starts later — or another replica of the pool — closes its own gate until that end with
//! [`Gate::hold_until_wall`]. Otherwise a crash-looping pod would call again at each start a
//! provider that had asked it to wait.
//!
//! The rate limit is a token bucket holding up to one second's worth of requests (at least
//! one), so a quiet provider can take a small burst and a busy one is spaced evenly. Waiters
//! queue on a fair async mutex and sleep while holding it, so they are served in arrival
//! order and none spins. A caller passes its deadline: a wait that would end after it is not
//! started ([`GateClosed`]), so a seat falls back at once instead of sleeping past its cycle.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The gate would open only after the caller's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateClosed {
    /// How long the caller would have had to wait from now.
    pub wait: Duration,
}

#[derive(Debug)]
pub struct Gate {
    bucket: Option<TokenBucket>,
    hold: Mutex<Hold>,
}

#[derive(Debug, Default)]
struct Hold {
    until: Option<Instant>,
    /// 429s in a row, for the exponential backoff of those without `Retry-After`.
    strikes: u32,
}

impl Gate {
    /// A gate with a rate limit of `requests_per_minute` when given, else only the hold.
    pub fn new(requests_per_minute: Option<u32>) -> Self {
        Self {
            bucket: requests_per_minute.map(TokenBucket::per_minute),
            hold: Mutex::new(Hold::default()),
        }
    }

    /// Waits until the gate is open and a request token is taken, or refuses at once when
    /// that would end after `deadline`.
    pub async fn pass(&self, deadline: Instant) -> Result<(), GateClosed> {
        loop {
            let now = Instant::now();
            if let Some(until) = self.held_until().filter(|until| *until > now) {
                if until > deadline {
                    return Err(GateClosed { wait: until - now });
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            match &self.bucket {
                Some(bucket) => bucket.acquire(deadline).await?,
                None => return Ok(()),
            }
            // A 429 may have closed the gate while this call queued for its token: the
            // token is spent either way, but the call must still respect the hold.
            if self
                .held_until()
                .is_none_or(|until| until <= Instant::now())
            {
                return Ok(());
            }
        }
    }

    /// Records a 429: closes the gate for `asked` (the server's `Retry-After`) or, without
    /// one, for `backoff(strikes)` with full jitter. Returns how long the gate is now closed.
    pub fn rate_limited(
        &self,
        asked: Option<Duration>,
        backoff: impl Fn(u32) -> Duration,
    ) -> Duration {
        let mut hold = self.lock();
        let wait = asked.unwrap_or_else(|| jitter(backoff(hold.strikes)));
        hold.strikes = hold.strikes.saturating_add(1);
        let now = Instant::now();
        let until = now + wait;
        // Never shorten a hold another call set: the longest wait asked for is the one owed.
        match hold.until {
            Some(current) if current >= until => current - now,
            _ => {
                hold.until = Some(until);
                wait
            }
        }
    }

    /// Closes the gate until the wall-clock time `until` — a hold this process learned from
    /// its ledger (its previous life's, another replica's) — unless the gate is already
    /// closed for as long. Returns how long from now the gate is closed when this hold
    /// lengthened it; `None` when it changed nothing (it has ended, or a hold at least as
    /// long is in force). The strikes are left alone: they count this process's own 429s.
    pub fn hold_until_wall(&self, until: DateTime<Utc>) -> Option<Duration> {
        // Wall clock to the monotonic clock, once, at this moment: from here on the hold is
        // immune to the wall clock being stepped.
        let left = (until - Utc::now())
            .to_std()
            .ok()
            .filter(|left| !left.is_zero())?;
        let mut hold = self.lock();
        let until = Instant::now() + left;
        if hold.until.is_some_and(|current| current >= until) {
            return None;
        }
        hold.until = Some(until);
        Some(left)
    }

    /// Records an answer that was not a 429: the backoff starts again from the beginning.
    pub fn answered(&self) {
        self.lock().strikes = 0;
    }

    /// When the current hold ends, if there is one.
    pub fn held_until(&self) -> Option<Instant> {
        self.lock().until
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hold> {
        // Two plain values: a panic elsewhere cannot leave them half-written.
        self.hold
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Full jitter: a uniformly random wait between half of `wait` and all of it, so calls
/// refused together spread out, yet each still waits a meaningful part of the backoff.
fn jitter(wait: Duration) -> Duration {
    let factor = 0.5 + rand::random::<f64>() * 0.5;
    wait.mul_f64(factor)
}

/// A token bucket: a provider's requests-per-minute limit.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    capacity: f64,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A bucket for `requests_per_minute` (at least 1), starting full.
    pub fn per_minute(requests_per_minute: u32) -> Self {
        let per_minute = f64::from(requests_per_minute.max(1));
        let capacity = (per_minute / 60.0).ceil().max(1.0);
        Self {
            per_second: per_minute / 60.0,
            capacity,
            state: tokio::sync::Mutex::new(State {
                tokens: capacity,
                refilled: Instant::now(),
            }),
        }
    }

    /// Waits for a token and takes it, unless the wait would end after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), GateClosed> {
        let mut state = self.state.lock().await;
        self.refill(&mut state);
        if state.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - state.tokens) / self.per_second);
            if Instant::now() + wait > deadline {
                return Err(GateClosed { wait });
            }
            tokio::time::sleep(wait).await;
            self.refill(&mut state);
        }
        state.tokens = (state.tokens - 1.0).max(0.0);
        Ok(())
    }

    fn refill(&self, state: &mut State) {
        let now = Instant::now();
        let elapsed = now.duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.capacity);
        state.refilled = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling(strike: u32) -> Duration {
        Duration::from_millis(100) * 2_u32.pow(strike.min(10))
    }

    #[tokio::test]
    async fn a_retry_after_holds_every_caller_until_it_passes() {
        let gate = Gate::new(None);
        let started = Instant::now();
        let hold = Duration::from_millis(200);
        assert_eq!(gate.rate_limited(Some(hold), doubling), hold);
        let far = started + Duration::from_secs(60);
        let (a, b) = tokio::join!(gate.pass(far), gate.pass(far));
        assert_eq!((a, b), (Ok(()), Ok(())));
        assert!(Instant::now() >= started + hold);
    }

    #[tokio::test]
    async fn a_hold_past_the_deadline_is_refused_without_waiting() {
        let gate = Gate::new(None);
        gate.rate_limited(Some(Duration::from_secs(30)), doubling);
        let started = Instant::now();
        let refused = gate.pass(started + Duration::from_secs(5)).await;
        assert!(matches!(refused, Err(GateClosed { wait }) if wait > Duration::from_secs(29)));
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "no time spent waiting"
        );
    }

    #[test]
    fn repeated_429s_back_off_exponentially_with_jitter_and_reset_on_an_answer() {
        let gate = Gate::new(None);
        let waits: Vec<Duration> = (0..4).map(|_| gate.rate_limited(None, doubling)).collect();
        for (strike, wait) in waits.iter().enumerate() {
            let full = doubling(strike as u32);
            // Each later hold is at least as long as the earlier one (never shortened).
            assert!(*wait <= full, "strike {strike}: {wait:?} > {full:?}");
            assert!(*wait >= full / 2 - Duration::from_millis(5), "{wait:?}");
        }
        assert_eq!(gate.lock().strikes, 4);
        gate.answered();
        assert_eq!(
            gate.lock().strikes,
            0,
            "the next 429 starts from the first backoff"
        );
    }

    #[tokio::test]
    async fn a_hold_from_the_ledger_closes_the_gate_until_its_wall_clock_end() {
        let gate = Gate::new(None);
        let started = Instant::now();
        let left = gate.hold_until_wall(Utc::now() + chrono::Duration::milliseconds(300));
        assert!(
            left.is_some_and(|left| left > Duration::from_millis(250)),
            "{left:?}"
        );
        assert_eq!(gate.pass(started + Duration::from_secs(60)).await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(290));
        assert_eq!(gate.lock().strikes, 0, "not a 429 of this process");
    }

    #[test]
    fn an_ended_hold_from_the_ledger_is_ignored_and_none_shortens_a_longer_one() {
        let gate = Gate::new(None);
        assert_eq!(
            gate.hold_until_wall(Utc::now() - chrono::Duration::seconds(1)),
            None
        );
        assert_eq!(gate.held_until(), None);
        gate.rate_limited(Some(Duration::from_secs(10)), doubling);
        let longer = gate.held_until();
        assert_eq!(
            gate.hold_until_wall(Utc::now() + chrono::Duration::seconds(1)),
            None
        );
        assert_eq!(gate.held_until(), longer);
    }

    #[test]
    fn a_shorter_retry_after_never_shortens_a_hold() {
        let gate = Gate::new(None);
        gate.rate_limited(Some(Duration::from_secs(10)), doubling);
        let wait = gate.rate_limited(Some(Duration::from_secs(1)), doubling);
        assert!(wait > Duration::from_secs(9), "{wait:?}");
    }
}
