//! The console on the quick start as it trades on real pods: tests/node/test.sh applies
//! examples/quickstart to a cluster with a real node, waits for index-trend's first order,
//! and runs this with TRADEPLANE_QUICKSTART_NAMESPACE naming the namespace (it is ignored
//! elsewhere: it needs those pods).
//!
//! In headless Chromium, against what the test reads on its own: both strategies' overview
//! rows with their status' P&L, the quick start's AgentPool and BrokerAccount rows, and
//! index-trend's page with its price charts marking the journal's fills.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

mod console_pages;

use std::time::Duration;

use console_pages::{overview_shows_the_pnl, screenshots, serve, strategy_page_draws_the_journal};
use e2e::browser::Browser;
use kubectl_tradeplane::proxy::RuntimeProxy;

const STRATEGIES: [&str; 2] = ["index-trend", "tech-momentum"];

#[tokio::test]
#[ignore = "needs the quick start on real pods: tests/node/test.sh runs it"]
async fn the_console_shows_the_quick_start_as_it_trades() {
    let ns = std::env::var("TRADEPLANE_QUICKSTART_NAMESPACE")
        .expect("TRADEPLANE_QUICKSTART_NAMESPACE names the quick start's namespace");
    let client = kube::Client::try_default().await.unwrap();
    let url = serve(client.clone(), &ns).await.unwrap();
    let shots = screenshots();
    let mut browser = Browser::start().await.unwrap();
    browser.screen(1280, 800, false).await.unwrap();
    browser.navigate(&url).await.unwrap();
    for strategy in STRATEGIES {
        overview_shows_the_pnl(&mut browser, &client, &ns, strategy)
            .await
            .unwrap();
    }
    let pool = format!("document.querySelector('tr[data-pool=\"{ns}/quant-analysts\"]')");
    let shown = browser
        .wait_for(
            &format!("{pool} && {pool}.innerText"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    // One worker ready, and tech-momentum bound to it (the status' count).
    let text = shown.as_str().unwrap_or_default();
    assert!(text.contains("1/1") && text.contains("Ready"), "{text}");
    let account = format!("document.querySelector('tr[data-account=\"{ns}/paper\"]')");
    let shown = browser
        .wait_for(
            &format!("{account} && {account}.innerText"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let text = shown.as_str().unwrap_or_default();
    assert!(
        text.contains("Paper") && text.contains("simulated"),
        "{text}"
    );
    browser
        .screenshot(&shots.join("quickstart-overview.png"))
        .await
        .unwrap();

    // index-trend bought in its first cycle; its page marks that fill where the journal has
    // it. A cycle that lands between the page's reads and the test's is tried once more.
    let proxy = RuntimeProxy::new(client.clone(), &ns, "index-trend");
    let page = format!("{url}#/s/{ns}/index-trend");
    let symbols = ["SPY", "QQQ"];
    let mut drawn = strategy_page_draws_the_journal(&mut browser, &proxy, &page, &symbols).await;
    if let Err(first) = &drawn {
        eprintln!("index-trend's page, first try: {first:#}");
        browser.navigate("about:blank").await.unwrap();
        drawn = strategy_page_draws_the_journal(&mut browser, &proxy, &page, &symbols).await;
    }
    drawn.unwrap();
    browser
        .screenshot(&shots.join("quickstart-index-trend.png"))
        .await
        .unwrap();
    eprintln!("screenshots in {}", shots.display());
    browser.close().await.unwrap();
}
