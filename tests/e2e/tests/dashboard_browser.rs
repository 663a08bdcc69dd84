//! `kubectl tradeplane dashboard` in a real headless Chromium, against the local control
//! plane with real runtime processes (the failover rig of plugin_live.rs: two replicas on
//! PostgreSQL replaying history, the TradingStrategy controller in-process).
//!
//! What the page shows is checked against the journal API and the strategy's status, read
//! by the test on its own: the overview's P&L, the charts' points and trade marks, an
//! analyst's reasoning; then Suspend, clicked and confirmed, must show phase Halted within
//! 5 s of the operator writing it; a request without the page's token and an action by a
//! view-only user are refused, the latter with the API server's words on the page.
//! Screenshots go to target/screenshots/ (or $TRADEPLANE_SCREENSHOTS).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

mod console_pages;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use console_pages::{overview_shows_the_pnl, screenshots, serve, strategy_page_draws_the_journal};
use e2e::browser::Browser;
use e2e::failover_rig::{FailoverRig, Feed, STRATEGY, SYMBOLS};
use e2e::shared_client;
use kube::Api;
use kubectl_tradeplane::proxy::RuntimeProxy;
use serde_json::{Value, json};
use tradeplane_api::TradingStrategy;
use tradeplane_contract::journal_api::{CycleDetail, CycleView, EquitySeries, Page};

#[tokio::test]
async fn the_console_shows_the_journal_and_suspends_as_the_user() {
    let client = shared_client().await.unwrap();
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    let rig = FailoverRig::start(&client, &admin, "dashboard", Feed::Replay)
        .await
        .unwrap();
    let ns = rig.namespace.name.clone();
    let mut pods = Vec::new();
    for name in rig.pod_names().await.unwrap() {
        pods.push(rig.pods.start_on_pod_ip(&client, &name).await.unwrap());
    }
    rig.new_holder(None, Duration::from_secs(60)).await.unwrap();
    let proxy = RuntimeProxy::new(client.clone(), &ns, STRATEGY);
    eprintln!("waiting for the replay to finish, so the journal holds still");
    let cycles = replay_finished(&proxy).await;
    let url = serve(client.clone(), &ns).await.unwrap();
    let shots = screenshots();
    let mut browser = Browser::start().await.unwrap();

    browser.navigate(&url).await.unwrap();
    overview_shows_the_pnl(&mut browser, &client, &ns, STRATEGY)
        .await
        .unwrap();
    sparkline_is_the_journals(&mut browser, &proxy, &ns).await;
    browser
        .screenshot(&shots.join("overview.png"))
        .await
        .unwrap();
    let page = format!("{url}#/s/{ns}/{STRATEGY}");
    strategy_page_draws_the_journal(&mut browser, &proxy, &page, &SYMBOLS)
        .await
        .unwrap();
    browser
        .screenshot(&shots.join("strategy.png"))
        .await
        .unwrap();
    a_decision_opens_to_the_analysts(&mut browser, &proxy, &cycles).await;
    browser
        .screenshot(&shots.join("decision.png"))
        .await
        .unwrap();
    a_request_without_the_token_is_refused(&mut browser, &ns).await;
    phone_width_fits(&mut browser, &url).await;
    browser
        .screenshot(&shots.join("overview-phone.png"))
        .await
        .unwrap();
    browser.screen(1280, 800, false).await.unwrap();
    a_viewer_is_refused_in_the_api_servers_words(&mut browser, &client, &ns).await;
    suspend_shows_halted_within_5s(&mut browser, &client, &ns, &url).await;
    browser
        .screenshot(&shots.join("suspended.png"))
        .await
        .unwrap();
    eprintln!("screenshots in {}", shots.display());

    browser.close().await.unwrap();
    rig.teardown(pods).await.unwrap();
}

/// Waits until the journal has stopped growing (the replay ran out); its cycles.
async fn replay_finished(proxy: &RuntimeProxy) -> Vec<CycleView> {
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut last = (0, Instant::now());
    loop {
        let page: Page<CycleView> = proxy.get("cycles?limit=1000").await.unwrap_or(Page {
            items: vec![],
            next_cursor: None,
        });
        let count = page.items.len();
        if count > 0 && count == last.0 && last.1.elapsed() > Duration::from_secs(8) {
            return page.items;
        }
        if count != last.0 {
            last = (count, Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "the replay still runs: {count} cycles"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The overview's equity sparkline draws the journal API's 48-point series.
async fn sparkline_is_the_journals(browser: &mut Browser, proxy: &RuntimeProxy, ns: &str) {
    let series: EquitySeries = proxy.get("equity?points=48").await.unwrap();
    assert!(
        series.points.len() >= 2,
        "the replay journalled {} equity points",
        series.points.len()
    );
    let spark =
        format!("document.querySelector('tr[data-strategy=\"{ns}/{STRATEGY}\"] svg.spark')");
    let drawn = browser
        .wait_for(
            &format!("{spark} && {spark}.dataset.points"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(
        drawn,
        json!(series.points.len().to_string()),
        "sparkline points"
    );
}

async fn a_decision_opens_to_the_analysts(
    browser: &mut Browser,
    proxy: &RuntimeProxy,
    cycles: &[CycleView],
) {
    // The newest cycle whose decisions carry analysts' reports.
    let mut chosen = None;
    for cycle in cycles.iter().take(30) {
        let detail: CycleDetail = proxy.get(&format!("cycles/{}", cycle.id)).await.unwrap();
        if detail.decisions.iter().any(|d| !d.analysts.is_empty()) {
            chosen = Some(detail);
            break;
        }
    }
    let detail = chosen.expect("a cycle with analysts' reports among the last 30");
    let item = format!(
        "document.querySelector('details.cycle[data-cycle=\"{}\"]')",
        detail.cycle.id
    );
    browser
        .wait_for(&item, Duration::from_secs(20))
        .await
        .unwrap();
    browser
        .eval(&format!(
            "{item}.scrollIntoView(); {item}.querySelector('summary').click(); true"
        ))
        .await
        .unwrap();
    let opened = browser
        .wait_for(
            &format!("{item}.querySelectorAll('.analyst').length"),
            Duration::from_secs(20),
        )
        .await;
    if let Err(error) = opened {
        let shown = browser.eval(&format!("{item}.innerText")).await;
        panic!("{error}; the cycle shows {shown:?}");
    }
    let text = browser.eval(&format!("{item}.innerText")).await.unwrap();
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let shown = flat(text.as_str().unwrap_or_default());
    for decision in &detail.decisions {
        for analyst in &decision.analysts {
            assert!(
                shown.contains(&flat(&analyst.rationale)),
                "{} of {}: {shown}",
                analyst.role,
                decision.symbol
            );
            assert!(shown.contains(&analyst.role), "{shown}");
        }
        assert!(
            shown.contains(&decision.risk.outcome),
            "risk verdict: {shown}"
        );
    }
}

async fn a_request_without_the_token_is_refused(browser: &mut Browser, ns: &str) {
    let js = format!(
        "fetch('/api/v1/strategies/{ns}/{STRATEGY}/actions/suspend', {{method: 'POST'}}).then(async r => [r.status, (await r.json()).message])"
    );
    let answer = browser.eval(&js).await.unwrap();
    assert_eq!(answer[0], json!(403), "{answer}");
    assert!(
        answer[1].as_str().unwrap_or_default().contains("token"),
        "{answer}"
    );
}

async fn phone_width_fits(browser: &mut Browser, url: &str) {
    browser.screen(390, 844, true).await.unwrap();
    browser.navigate(url).await.unwrap();
    browser
        .wait_for(
            "document.querySelector('tr[data-strategy]')",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let overflow = browser
        .eval("document.documentElement.scrollWidth - window.innerWidth")
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page is wider than the phone: {overflow}"
    );
}

/// A user who may read strategies but not change them: the page shows the API server's
/// refusal, naming the user and the verb.
async fn a_viewer_is_refused_in_the_api_servers_words(
    browser: &mut Browser,
    admin: &kube::Client,
    ns: &str,
) {
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "strategy-viewer"},
        "rules": [{"apiGroups": ["tradeplane.io"], "resources": ["tradingstrategies"], "verbs": ["get", "list", "watch"]}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "strategy-viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "strategy-viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dashboard-viewer"}]});
    for manifest in [role, binding] {
        e2e::apply_strict(admin, ns, &manifest)
            .await
            .unwrap()
            .unwrap();
    }
    let mut config = kube::Config::infer().await.unwrap();
    config.auth_info.impersonate = Some("dashboard-viewer".into());
    let viewer = kube::Client::try_from(config).unwrap();
    let url = serve(viewer, ns).await.unwrap();
    browser.navigate(&url).await.unwrap();
    let button =
        format!("document.querySelector('tr[data-strategy=\"{ns}/{STRATEGY}\"] button.suspend')");
    browser
        .wait_for(&button, Duration::from_secs(20))
        .await
        .unwrap();
    browser
        .eval(&format!(
            "{button}.click(); document.getElementById('confirm-ok').click(); true"
        ))
        .await
        .unwrap();
    let notice = browser
        .wait_for("document.getElementById('notice').dataset.kind === 'error' && document.getElementById('notice').textContent", Duration::from_secs(20))
        .await
        .unwrap();
    let text = notice.as_str().unwrap_or_default();
    assert!(
        text.contains("User \"dashboard-viewer\" cannot patch resource \"tradingstrategies\""),
        "{text}"
    );
}

async fn suspend_shows_halted_within_5s(
    browser: &mut Browser,
    client: &kube::Client,
    ns: &str,
    url: &str,
) {
    browser
        .navigate(&format!("{url}#/s/{ns}/{STRATEGY}"))
        .await
        .unwrap();
    let button = "document.querySelector('.controls button[data-action=\"suspend\"]')";
    browser
        .wait_for(button, Duration::from_secs(20))
        .await
        .unwrap();
    browser
        .eval(&format!("{button}.click(); true"))
        .await
        .unwrap();
    let asked = browser.eval("document.getElementById('confirm').open && document.getElementById('confirm-text').textContent").await.unwrap();
    let asked = asked.as_str().unwrap_or_default().to_string();
    assert!(
        asked.contains(STRATEGY) && asked.contains("paper"),
        "the confirmation: {asked}"
    );
    browser
        .eval("document.getElementById('confirm-ok').click(); true")
        .await
        .unwrap();
    let strategies: Api<TradingStrategy> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut operator_at, mut page_at) = (None, None);
    while operator_at.is_none() || page_at.is_none() {
        assert!(
            Instant::now() < deadline,
            "not Halted: operator {operator_at:?}, page {page_at:?}"
        );
        if operator_at.is_none() {
            let s = strategies.get(STRATEGY).await.unwrap();
            if s.status.and_then(|s| s.phase).as_deref() == Some("Halted") {
                operator_at = Some(Instant::now());
            }
        }
        if page_at.is_none()
            && browser
                .eval("document.getElementById('phase').dataset.phase")
                .await
                .unwrap()
                == json!("Halted")
        {
            page_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (operator_at, page_at) = (operator_at.unwrap(), page_at.unwrap());
    let lag = page_at.saturating_duration_since(operator_at);
    eprintln!("phase Halted on the page {lag:?} after the operator's status");
    assert!(lag <= Duration::from_secs(5), "the page took {lag:?}");
    let resume: Value = browser
        .wait_for(
            "document.querySelector('.controls button[data-action=\"resume\"]') !== null",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(resume, json!(true));
}
