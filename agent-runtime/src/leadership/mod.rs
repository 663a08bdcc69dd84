//! Who may place orders.
//!
//! With several replicas only the holder of the strategy's Lease trades ([`lease`]), and it
//! checks that it still holds it — by its own monotonic clock — before each order. A single
//! replica, or a process with no Lease configured (a backtest), is always the leader
//! ([`AlwaysLeader`]). The cycle depends only on this trait.

pub mod lease;

use futures::FutureExt;
use futures::future::BoxFuture;

pub use lease::{LeaseLeadership, LeaseTimings};

pub trait Leadership: Send + Sync {
    /// Whether this process may place an order now. Implementations must answer from a
    /// lease they know to be valid, not from a cached belief.
    fn is_leader(&self) -> BoxFuture<'_, bool>;

    /// The Lease's transition count when this process acquired it: the leadership epoch,
    /// journalled with each order. `None` without a Lease.
    fn epoch(&self) -> Option<i32> {
        None
    }

    /// Stops leading at once: called when an order was abandoned because the lease could not
    /// be confirmed. The next acquisition, if any, is a new epoch.
    fn step_down(&self) {}

    /// Gives the lease up (on shutdown), so a standby takes over at once.
    fn release(&self) -> BoxFuture<'_, ()> {
        futures::future::ready(()).boxed()
    }
}

/// A single replica: always the leader.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysLeader;

impl Leadership for AlwaysLeader {
    fn is_leader(&self) -> BoxFuture<'_, bool> {
        futures::future::ready(true).boxed()
    }
}
