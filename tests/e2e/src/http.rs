//! Loopback ports and HTTP readiness, for every test that runs a server as a host process (a
//! runtime, a worker, Prometheus): one way to pick its port and one way to wait for it.

use std::time::{Duration, Instant};

use anyhow::bail;

/// A free loopback port (free when asked: bind it soon).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A client that gives up on a process that does not answer (a stopped one, say).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default()
}

/// The status code `url` answers a GET with, 0 when it does not answer.
pub async fn status(url: &str) -> u16 {
    match client().get(url).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// Waits until `url` (a `/readyz`, Prometheus' `/-/ready`) answers a GET with 2xx; returns
/// how long that took. On a timeout the error says what `url` was and ends with `log()` (the
/// server's log, say), since why it never became ready is usually in there.
pub async fn wait_ready(
    url: &str,
    within: Duration,
    log: impl Fn() -> String,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while !(200..300).contains(&status(url).await) {
        if started.elapsed() > within {
            bail!("{url} is not ready after {within:?}:\n{}", log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(started.elapsed())
}
