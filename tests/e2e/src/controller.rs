//! One of the operator's controllers running inside the test process, for one namespace, until
//! the test stops it: the tests see its metrics and can check that it shuts down cleanly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tradeplane_operator::controllers::{Context, Settings};
use tradeplane_operator::telemetry::Metrics;

/// Resolves when the test stops the controller; the controllers' `run` take it as shutdown.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

pub struct InProcessController {
    pub metrics: Arc<Metrics>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl InProcessController {
    /// Starts `run` (a controller's `run`, wrapped to own its arguments) for `namespace`.
    ///
    /// ```ignore
    /// InProcessController::start(&client, "ns", |context, ns, shutdown| async move {
    ///     agent_pool::run(context, Some(&ns), shutdown).await
    /// })
    /// ```
    pub fn start<Run, Running>(client: &Client, namespace: &str, run: Run) -> anyhow::Result<Self>
    where
        Run: FnOnce(Arc<Context>, String, Shutdown) -> Running,
        Running: Future<Output = ()> + Send + 'static,
    {
        let metrics = Arc::new(Metrics::new()?);
        let context = Arc::new(Context::new(
            client.clone(),
            metrics.clone(),
            Settings::default(),
            Some("test".into()),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: Shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run(context, namespace.to_string(), shutdown));
        Ok(Self {
            metrics,
            stop,
            task,
        })
    }

    /// Signals shutdown and waits (up to 30 s) for the controller to return.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .map_err(|_| {
                anyhow::anyhow!("the controller did not stop within 30 s of shutdown")
            })??;
        Ok(())
    }
}
