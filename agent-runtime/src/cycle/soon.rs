//! [`Soon`]: what a port says, either at once or after a wait.
//!
//! Every port of the cycle (broker, journal, market data) may have to wait — on a network, a
//! database — but a backtest's in-process ports never do, and answer through their `_at_once`
//! methods. A step written as an `async fn` around such a call still builds its own state
//! machine, which the step that awaits it holds inline and moves; a backtest does this a
//! dozen times per bar, and the moves cost more than the answers. A step that returns a
//! `Soon` instead does its work right away when the port answers at once, and boxes a future
//! only when it must wait — so the awaiting step holds a few words, not a state machine.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

/// An answer that is here already, or one still to come.
pub enum Soon<'a, T> {
    /// Here: taken by the first poll.
    Now(Option<T>),
    /// To come: a future that waits on something outside the process.
    Later(BoxFuture<'a, T>),
}

impl<'a, T> Soon<'a, T> {
    pub fn now(value: T) -> Self {
        Soon::Now(Some(value))
    }

    pub fn later(future: impl Future<Output = T> + Send + 'a) -> Self {
        Soon::Later(Box::pin(future))
    }
}

// A `Soon` never pins what it holds: its value is moved out, never polled, and its future is
// boxed (and so pinned on the heap already).
impl<T> Unpin for Soon<'_, T> {}

impl<T> Future for Soon<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            // Polled again after it answered: like any finished future it has nothing more to
            // give, and it says so by never answering again rather than by panicking.
            Soon::Now(value) => value.take().map_or(Poll::Pending, Poll::Ready),
            Soon::Later(future) => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::FutureExt;

    use super::Soon;

    #[test]
    fn an_answer_at_hand_is_ready_on_the_first_poll() {
        let mut soon = Soon::now(7);
        assert_eq!((&mut soon).now_or_never(), Some(7));
        // Answered once; a second poll has nothing.
        assert_eq!(soon.now_or_never(), None);
    }

    #[test]
    fn an_answer_to_come_is_the_future_s_and_runs_only_when_awaited() {
        let runs = AtomicUsize::new(0);
        let soon = Soon::later(async {
            runs.fetch_add(1, Ordering::SeqCst);
            "waited"
        });
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(futures::executor::block_on(soon), "waited");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
