//! A token bucket: a provider's requests-per-minute limit, enforced before each call.
//!
//! The bucket holds up to one second's worth of requests (at least one), so a quiet provider
//! can take a small burst and a busy one is spaced evenly at the configured rate. Waiters
//! queue on a fair async mutex and sleep while holding it, so they are served in arrival
//! order and none spins. Being told to slow down by the provider (429) is handled by the
//! retry policy instead; this bucket keeps us from being told.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    capacity: f64,
    state: Mutex<State>,
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
            state: Mutex::new(State {
                tokens: capacity,
                refilled: Instant::now(),
            }),
        }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&self) {
        let mut state = self.state.lock().await;
        self.refill(&mut state);
        if state.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - state.tokens) / self.per_second);
            tokio::time::sleep(wait).await;
            self.refill(&mut state);
        }
        state.tokens = (state.tokens - 1.0).max(0.0);
    }

    fn refill(&self, state: &mut State) {
        let now = Instant::now();
        let elapsed = now.duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.capacity);
        state.refilled = now;
    }
}
