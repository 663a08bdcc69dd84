//! Page checks shared by the console's browser tests: what a page shows, compared with what
//! the test reads on its own from the API server and the strategy's journal API.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use e2e::browser::Browser;
use kube::Api;
use kubectl_tradeplane::dashboard::{Console, Scope, router};
use kubectl_tradeplane::proxy::RuntimeProxy;
use serde_json::json;
use tradeplane_api::TradingStrategy;
use tradeplane_contract::journal_api::{CycleView, EquitySeries, FillView, OrderView, Page};

/// Where screenshots go: $TRADEPLANE_SCREENSHOTS, else the target directory's screenshots/.
pub fn screenshots() -> PathBuf {
    std::env::var_os("TRADEPLANE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| e2e::repo_root().join("target"));
            target.join("screenshots")
        })
}

/// Serves a console for `namespace` with `client`'s identity, as the plugin does; its URL.
pub async fn serve(client: kube::Client, namespace: &str) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bound = listener.local_addr()?;
    let console: Arc<Console> = Console::new(client, Scope::Namespace(namespace.into()), bound);
    tokio::spawn(async move { axum::serve(listener, router(console)).await });
    Ok(format!("http://{bound}/"))
}

/// The overview's row of `strategy` shows the P&L and phase of its status, the paper mode,
/// and a drawdown from the journal API. The status is read again while the page catches up,
/// so a strategy that trades meanwhile is compared with its newest figures.
pub async fn overview_shows_the_pnl(
    browser: &mut Browser,
    client: &kube::Client,
    ns: &str,
    strategy: &str,
) -> anyhow::Result<()> {
    let row = format!("document.querySelector('tr[data-strategy=\"{ns}/{strategy}\"]')");
    browser
        .wait_for(
            &format!("{row} && {row}.cells.length"),
            Duration::from_secs(30),
        )
        .await
        .with_context(|| format!("no overview row for {strategy}"))?;
    let strategies: Api<TradingStrategy> = Api::namespaced(client.clone(), ns);
    let mut last = String::new();
    for _ in 0..20 {
        let status = strategies.get(strategy).await?.status.unwrap_or_default();
        let pnl = status
            .profit_and_loss
            .with_context(|| format!("{strategy}'s status carries no P&L"))?;
        let cell = browser
            .eval(&format!(
                "{row}.querySelector('td[data-label=\"P&L\"]').textContent"
            ))
            .await?;
        last = format!("page {cell}, status {pnl:?}");
        if cell == json!(pnl) {
            let text = browser.eval(&format!("{row}.innerText")).await?;
            let text = text.as_str().unwrap_or_default();
            ensure!(text.contains("paper"), "{strategy}: mode not shown: {text}");
            let phase = status.phase.as_deref().unwrap_or("?");
            ensure!(
                text.contains(phase),
                "{strategy}: phase {phase} not in {text}"
            );
            browser
                .wait_for(
                    &format!("!/…|n\\/a/.test({row}.querySelector('td[data-label=\"Drawdown\"]').textContent)"),
                    Duration::from_secs(10),
                )
                .await
                .with_context(|| format!("{strategy}: no drawdown from the journal API"))?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("{strategy}'s P&L on the overview is not its status': {last}")
}

/// The strategy page's equity chart holds the journal API's series, and each symbol's price
/// chart marks exactly the journal's fills of that symbol in the cycles it draws.
pub async fn strategy_page_draws_the_journal(
    browser: &mut Browser,
    proxy: &RuntimeProxy,
    page: &str,
    symbols: &[&str],
) -> anyhow::Result<()> {
    browser.navigate(page).await?;
    browser
        .wait_for(
            &format!("document.querySelectorAll('.price-chart canvas').length >= {} && document.querySelector('#equity-chart canvas')", symbols.len()),
            Duration::from_secs(60),
        )
        .await
        .context("the strategy page drew no charts")?;
    // One point a second at most, as the page draws it.
    let equity: EquitySeries = proxy.get("equity?points=500").await?;
    let seconds: BTreeSet<i64> = equity.points.iter().map(|p| p.at.timestamp()).collect();
    let drawn = browser
        .eval("document.getElementById('equity-chart').dataset.points")
        .await?;
    ensure!(
        drawn == json!(seconds.len().to_string()),
        "equity points: page {drawn}, journal {}",
        seconds.len()
    );
    ensure!(
        painted(browser, "#equity-chart").await?,
        "the equity chart is blank"
    );
    let fills = fills_in_drawn_cycles(proxy).await?;
    ensure!(!fills.is_empty(), "the journal holds no fill to mark");
    for symbol in symbols {
        let chart = format!("document.querySelector('.price-chart[data-symbol=\"{symbol}\"]')");
        let of_symbol: Vec<&FillView> = fills.iter().filter(|f| f.symbol == *symbol).collect();
        let expected: BTreeSet<String> = of_symbol
            .iter()
            .map(|f| f.client_order_id.clone())
            .collect();
        let marks = browser.eval(&format!("{chart}.dataset.markers")).await?;
        ensure!(
            marks == json!(of_symbol.len().to_string()),
            "{symbol} trade marks: page {marks}, journal {}",
            of_symbol.len()
        );
        let listed = browser
            .eval(&format!("[...{chart}.closest('figure').querySelectorAll('tbody tr')].map(r => r.cells[4].textContent)"))
            .await?;
        let listed: BTreeSet<String> = serde_json::from_value(listed).unwrap_or_default();
        ensure!(
            listed == expected,
            "{symbol}: the orders listed {listed:?}, journal {expected:?}"
        );
        ensure!(
            painted(browser, &format!(".price-chart[data-symbol=\"{symbol}\"]")).await?,
            "{symbol} chart blank"
        );
    }
    Ok(())
}

/// The journal's fills of the orders placed in the newest 200 cycles (what the page draws).
async fn fills_in_drawn_cycles(proxy: &RuntimeProxy) -> anyhow::Result<Vec<FillView>> {
    let cycles: Page<CycleView> = proxy.get("cycles?limit=200").await?;
    let drawn_cycles: BTreeSet<String> = cycles.items.into_iter().map(|c| c.id).collect();
    let orders: Page<OrderView> = proxy.get("orders?limit=1000").await?;
    let in_window: BTreeSet<String> = orders
        .items
        .into_iter()
        .filter(|o| {
            o.cycle_id
                .as_ref()
                .is_some_and(|c| drawn_cycles.contains(c))
        })
        .map(|o| o.client_order_id)
        .collect();
    let fills: Page<FillView> = proxy.get("fills?limit=1000").await?;
    Ok(fills
        .items
        .into_iter()
        .filter(|f| in_window.contains(&f.client_order_id))
        .collect())
}

/// Whether any canvas under `selector` has a pixel drawn.
pub async fn painted(browser: &mut Browser, selector: &str) -> anyhow::Result<bool> {
    let js = format!(
        "[...document.querySelectorAll('{selector} canvas')].some(c => {{ const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }})"
    );
    Ok(browser.eval(&js).await? == json!(true))
}
