//! Who may place orders: the seam for leader election.
//!
//! With several replicas only the holder of the strategy's Lease trades, and it checks that it
//! still holds it before each order. The Kubernetes Lease implementation comes with the
//! operator's HA work; until then a single replica is always the leader. The cycle depends only
//! on this trait, so swapping the implementation changes no pipeline code.

use futures::FutureExt;
use futures::future::BoxFuture;

pub trait Leadership: Send + Sync {
    /// Whether this process may place an order now. Implementations must answer from a
    /// lease they know to be valid, not from a cached belief.
    fn is_leader(&self) -> BoxFuture<'_, bool>;

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
