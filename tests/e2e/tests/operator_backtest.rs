//! The Backtest controller against the real control plane, started in-process for the test's
//! namespace, with real `agent-runtime backtest` processes. kwok runs nothing in a Job's pod,
//! so the test plays the kubelet: for each index of the Indexed Job it takes the container's
//! arguments and environment as rendered, expands `$(JOB_COMPLETION_INDEX)` as the kubelet
//! does, moves the mount points (the runs ConfigMap, the bars) into a directory of its own,
//! and runs the runtime with a token of the Backtest's run ServiceAccount — so the Role the
//! operator rendered is what the runs write with.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::Path;
use std::time::Duration;

use e2e::backtest_pods::{PlayedPod, run_identity};
use e2e::browser::Browser;
use e2e::fixtures::controller_in_namespace;
use e2e::runtime_process::temp_dir;
use e2e::{TestNamespace, repo_root, wait_deleted, wait_for, yaml_documents};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kubectl_tradeplane::backtest::BacktestArgs;
use kubectl_tradeplane::cluster::Target;
use kubectl_tradeplane::dashboard::{Console, Scope, router};
use serde_json::{Value, json};
use tradeplane_contract::backtest_results::{RESULTS_KEY, RunResults};
use tradeplane_operator::api::backtest::{Backtest, BacktestStatus, RunPhase};
use tradeplane_operator::controllers::backtest;

const WAIT: Duration = Duration::from_secs(60);

/// Daily bars, one a calendar day, of a price swinging around a slow rise: moving averages
/// of every period in the sweep cross several times.
fn bars_csv(count: usize, bad_line: Option<usize>) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let mut csv = String::from("date,open,high,low,close,volume\n");
    for i in 0..count {
        let day = start + chrono::Days::new(i as u64);
        let close = 100.0 + 20.0 * (i as f64 / 15.0).sin() + 0.05 * i as f64;
        let open = close - 0.5;
        // Line numbers count the header as line 1.
        let (high, low) = if bad_line == Some(i + 2) {
            (close - 5.0, close + 5.0)
        } else {
            (close + 1.0, close - 1.5)
        };
        csv.push_str(&format!(
            "{day},{open:.2},{high:.2},{low:.2},{close:.2},1000\n"
        ));
    }
    csv
}

fn example() -> Value {
    let text = std::fs::read_to_string(repo_root().join("examples/backtest/sweep.yaml")).unwrap();
    yaml_documents(&text).unwrap().remove(0)
}

async fn create_bars(namespace: &TestNamespace, name: &str, csv: String) {
    let map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name}, "data": {"AAPL.csv": csv},
    }))
    .unwrap();
    namespace
        .api::<ConfigMap>()
        .create(&PostParams::default(), &map)
        .await
        .unwrap();
}

async fn create(namespace: &TestNamespace, manifest: Value) -> Result<Backtest, kube::Error> {
    let backtest: Backtest = serde_json::from_value(manifest).unwrap();
    namespace
        .api::<Backtest>()
        .create(&PostParams::default(), &backtest)
        .await
}

/// The dashboard, in a real headless Chromium: the overview lists the Backtest with its
/// `kubectl get bt` figures, and its page lists every run and plots the best run's equity
/// against buy-and-hold from the artifact the run wrote (`document`, read by the plugin).
async fn the_console_plots_the_runs(
    namespace: &TestNamespace,
    status: &BacktestStatus,
    document: &Value,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bound = listener.local_addr().unwrap();
    let scope = Scope::Namespace(namespace.name.clone());
    let console = Console::new(namespace.client().clone(), scope, bound);
    tokio::spawn(async move { axum::serve(listener, router(console)).await });
    let mut browser = Browser::start().await.unwrap();
    browser.navigate(&format!("http://{bound}/")).await.unwrap();
    let row = format!(
        "document.querySelector('tr[data-backtest=\"{}/sma-sweep\"]')",
        namespace.name
    );
    let text = browser
        .wait_for(
            &format!("{row} && {row}.innerText"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let text = text.as_str().unwrap_or_default();
    for figure in [
        &status.progress,
        &status.total_return,
        &status.sharpe,
        &status.max_drawdown,
    ] {
        let figure = figure.as_deref().unwrap();
        assert!(
            text.contains(figure),
            "{figure} not in the overview's row: {text}"
        );
    }
    browser
        .eval(&format!("{row}.querySelector('a').click(); true"))
        .await
        .unwrap();
    let points = document["results"]["equity"].as_array().unwrap().len();
    let shown = browser
        .wait_for(
            "document.getElementById('backtest-chart')?.dataset.points",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(shown, json!(points.to_string()));
    let final_equity = browser
        .eval("Number(document.getElementById('backtest-chart').dataset.finalEquity)")
        .await
        .unwrap();
    assert_eq!(
        final_equity.as_f64(),
        document["results"]["finalEquity"].as_f64()
    );
    let rows = browser
        .eval("document.querySelectorAll('table.runs tbody tr').length")
        .await
        .unwrap();
    assert_eq!(rows, json!(status.runs.len()));
    let current = browser
        .eval("document.querySelector('table.runs tr[aria-current=\"true\"]')?.dataset.run")
        .await
        .unwrap();
    assert_eq!(current, json!(document["run"].to_string()));
    // Both lines drawn: the chart's canvas has pixels.
    let painted = browser
        .wait_for(
            "[...document.querySelectorAll('#backtest-chart canvas')].some(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }) || null",
            Duration::from_secs(10),
        )
        .await;
    assert!(painted.is_ok(), "the equity chart is blank");
    browser.close().await.unwrap();
}

async fn indexed_job(namespace: &TestNamespace, name: &str) -> Job {
    wait_for(
        &namespace.api::<Job>(),
        name,
        "the backtest's Job",
        WAIT,
        |job: Option<&Job>| job.is_some(),
    )
    .await
    .unwrap()
}

fn phase_is(phase: &'static str) -> impl Fn(Option<&Backtest>) -> bool {
    move |b: Option<&Backtest>| {
        b.and_then(|b| b.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some(phase)
    }
}

fn condition_message(backtest: &Backtest, type_: &str) -> String {
    let status = backtest.status.as_ref().unwrap();
    let condition = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
    condition.message.clone()
}

#[tokio::test]
async fn a_16_point_sweep_is_one_indexed_job_whose_real_runs_fill_the_status() {
    let (namespace, controller) =
        controller_in_namespace("bt-sweep", |context, ns, shutdown| async move {
            backtest::run(context, Some(&ns), shutdown).await
        })
        .await
        .unwrap();
    create_bars(&namespace, "aapl-daily", bars_csv(400, None)).await;
    create(&namespace, example()).await.unwrap();

    let job = indexed_job(&namespace, "sma-sweep-backtest").await;
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(16));
    assert_eq!(spec.parallelism, Some(4));
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Backtest", "sma-sweep")
    );

    let dir = temp_dir("bt-sweep").unwrap();
    let pod = PlayedPod::new(&namespace, &job, "aapl-daily", &dir).await;
    // Two at a time: the machine's cores.
    for pair in (0..16).collect::<Vec<_>>().chunks(2) {
        let runs = pair.iter().map(|i| pod.run(&namespace.name, *i));
        for (i, (ok, log)) in pair.iter().zip(futures::future::join_all(runs).await) {
            assert!(ok, "run {i} failed:\n{log}");
        }
    }

    let api = namespace.api::<Backtest>();
    let done = wait_for(
        &api,
        "sma-sweep",
        "the sweep Complete",
        WAIT,
        phase_is("Complete"),
    )
    .await
    .unwrap();
    let status = done.status.clone().unwrap();
    assert_eq!(status.progress.as_deref(), Some("16/16"));
    assert_eq!(status.runs.len(), 16);
    for run in &status.runs {
        assert_eq!(run.phase, RunPhase::Succeeded, "{run:?}");
        let stats = run.stats.as_ref().unwrap();
        assert!(stats.bars == Some(400), "{run:?}");
        assert!(stats.bars_per_second.unwrap() > 0.0, "{run:?}");
        assert!(stats.buy_and_hold_return.is_some(), "{run:?}");
    }
    let mut speeds: Vec<f64> = status
        .runs
        .iter()
        .filter_map(|r| r.stats.as_ref()?.bars_per_second)
        .collect();
    speeds.sort_by(f64::total_cmp);
    println!(
        "16 runs of 400 bars: bars/s min {:.0}, median {:.0}, max {:.0} (debug build)",
        speeds[0], speeds[8], speeds[15]
    );
    // Different parameters, different trades: the sweep points reached the runs.
    let trades: std::collections::BTreeSet<i64> = status
        .runs
        .iter()
        .filter_map(|r| r.stats.as_ref()?.trades)
        .collect();
    assert!(trades.len() > 1, "every run traded alike: {trades:?}");
    // The best runs are the three highest Sharpe ratios, best first, with their points.
    let mut by_sharpe: Vec<(f64, i32)> = status
        .runs
        .iter()
        .filter_map(|r| Some((r.stats.as_ref()?.sharpe?, r.index)))
        .collect();
    by_sharpe.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let best: Vec<i32> = status.best_runs.iter().map(|b| b.index).collect();
    let expected: Vec<i32> = by_sharpe.iter().take(3).map(|(_, i)| *i).collect();
    assert_eq!(best, expected);
    let first = &status.best_runs[0];
    let fast = [5.0, 10.0, 15.0, 20.0][first.index as usize / 4];
    assert_eq!(first.params["analysts[0].params.fastPeriod"], fast);
    assert_eq!(status.sharpe, Some(format!("{:.2}", by_sharpe[0].0)));
    assert!(condition_message(&done, "Complete").contains("all 16 run(s) succeeded"));
    check_artifacts(&namespace, &status).await;

    // The plugin's table: the three best runs, best first, in 80 columns.
    let target = Target::new(namespace.client().clone(), &namespace.name);
    let mut out = Vec::new();
    let args = BacktestArgs {
        name: "sma-sweep".to_string(),
        all: false,
        output: None,
        run: None,
    };
    kubectl_tradeplane::backtest::run(&target, &args, &mut out)
        .await
        .unwrap();
    let screen = String::from_utf8(out).unwrap();
    println!("{screen}");
    let (table, curve) = screen.split_once("\n\n").unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0], "Backtest sma-sweep  Complete  16/16 runs",
        "{table}"
    );
    assert_eq!(lines.len(), 2 + 3, "{table}");
    assert!(
        lines[2].starts_with(&format!("{:>4}  fastPeriod={fast} ", first.index)),
        "{table}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{table}");
    // Then the best run's equity curve from its ConfigMap, read as the user: 12 plot rows
    // between the heading and the time axis, both glyphs, 80 columns.
    let curve: Vec<&str> = curve.lines().collect();
    assert_eq!(
        curve[0],
        format!("Equity of run {}", first.index),
        "{screen}"
    );
    assert!(curve[13].trim_start().starts_with("+---"), "{screen}");
    assert!(curve[1..13].iter().any(|l| l.contains('*')), "{screen}");
    assert!(curve[1..13].iter().any(|l| l.contains('.')), "{screen}");
    assert!(curve[14].contains("2020-01-01"), "{screen}");
    assert!(curve.iter().all(|l| l.chars().count() <= 80), "{screen}");
    // `-o json`: the status and that run's artifact.
    let mut out = Vec::new();
    let args = BacktestArgs {
        output: Some(kubectl_tradeplane::cli::OutputFormat::Json),
        ..args
    };
    kubectl_tradeplane::backtest::run(&target, &args, &mut out)
        .await
        .unwrap();
    let document: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(document["run"], first.index);
    assert_eq!(document["status"]["progress"], "16/16");
    let best = status.runs.iter().find(|r| r.index == first.index).unwrap();
    assert_eq!(
        document["results"]["finalEquity"].as_f64(),
        best.stats.as_ref().unwrap().final_equity
    );
    assert_eq!(document["results"]["equity"].as_array().unwrap().len(), 400);
    the_console_plots_the_runs(&namespace, &status, &document).await;

    // The run token may write only this Backtest's status.
    create_bars(&namespace, "other-bars", bars_csv(50, None)).await;
    let mut other = example();
    other["metadata"]["name"] = json!("other");
    other["spec"].as_object_mut().unwrap().remove("sweep");
    create(&namespace, other).await.unwrap();
    let (_, run_client) = run_identity(&namespace.name, "sma-sweep-run", &dir).await;
    let patch = json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "Backtest",
                       "status": {"runs": [{"index": 0, "phase": "Succeeded"}]}});
    let refused = Api::<Backtest>::namespaced(run_client, &namespace.name)
        .patch_status(
            "other",
            &PatchParams::apply("x").force(),
            &Patch::Apply(&patch),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, kube::Error::Api(s) if s.code == 403),
        "{refused:?}"
    );
    // Nor write another Backtest's results, nor read or create any ConfigMap.
    let maps =
        Api::<ConfigMap>::namespaced(run_client_maps(&namespace, &dir).await, &namespace.name);
    wait_for(
        &namespace.api::<ConfigMap>(),
        "other-run-0",
        "the other Backtest's results ConfigMap",
        WAIT,
        |m: Option<&ConfigMap>| m.is_some(),
    )
    .await
    .unwrap();
    let write = json!({"data": {"results.json": "{}"}});
    let denied = [
        maps.patch(
            "other-run-0",
            &PatchParams::default(),
            &Patch::Merge(&write),
        )
        .await
        .map(|_| ()),
        maps.get("sma-sweep-run-0").await.map(|_| ()),
        maps.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "mine"}})).unwrap(),
        )
        .await
        .map(|_| ()),
    ];
    for result in denied {
        let error = result.unwrap_err();
        assert!(
            matches!(&error, kube::Error::Api(s) if s.code == 403),
            "{error:?}"
        );
    }

    // Deleting the Backtest deletes its Job and its results.
    api.delete("sma-sweep", &DeleteParams::foreground())
        .await
        .unwrap();
    wait_deleted(
        &namespace.api::<Job>(),
        "sma-sweep-backtest",
        "the Job",
        WAIT,
    )
    .await
    .unwrap();
    wait_deleted(
        &namespace.api::<ConfigMap>(),
        "sma-sweep-run-0",
        "a results ConfigMap",
        WAIT,
    )
    .await
    .unwrap();
    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}

/// A client with the sweep's run token.
async fn run_client_maps(namespace: &TestNamespace, dir: &Path) -> Client {
    run_identity(&namespace.name, "sma-sweep-run", dir).await.1
}

/// Every run's artifact is in its own ConfigMap, where its status entry says, and agrees
/// with the statistics the run reported.
async fn check_artifacts(namespace: &TestNamespace, status: &BacktestStatus) {
    let maps = namespace.api::<ConfigMap>();
    for run in &status.runs {
        let artifact = run.artifact.as_ref().unwrap();
        let name = format!("sma-sweep-run-{}", run.index);
        assert_eq!(
            artifact.config_map.as_deref(),
            Some(name.as_str()),
            "{run:?}"
        );
        assert_eq!(artifact.key.as_deref(), Some(RESULTS_KEY));
        let map = maps.get(&name).await.unwrap();
        let owner = &map.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("Backtest", "sma-sweep")
        );
        let text = &map.data.as_ref().unwrap()[RESULTS_KEY];
        assert!(text.len() < 512 * 1024, "{}", text.len());
        let results: RunResults = serde_json::from_str(text).unwrap();
        let stats = run.stats.as_ref().unwrap();
        assert_eq!(
            Some(results.final_equity),
            stats.final_equity,
            "run {}",
            run.index
        );
        assert_eq!(
            Some(results.trades as i64),
            stats.trades,
            "run {}",
            run.index
        );
        // 400 bars, under the curve's cap: every cycle is a point.
        assert_eq!(results.equity.len(), 400, "run {}", run.index);
        assert_eq!(results.equity_every, 1);
        assert_eq!(results.equity.last().unwrap().equity, results.final_equity);
        let hold = stats.buy_and_hold_return.unwrap();
        let last_hold = results.equity.last().unwrap().buy_and_hold;
        let expected = results.starting_equity * (1.0 + hold);
        assert!(
            (last_hold - expected).abs() < 1e-6 * expected,
            "run {}",
            run.index
        );
        assert!(
            results.fill_count() >= 2 * results.trades,
            "run {}",
            run.index
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_or_the_line() {
    let (namespace, controller) =
        controller_in_namespace("bt-bad", |context, ns, shutdown| async move {
            backtest::run(context, Some(&ns), shutdown).await
        })
        .await
        .unwrap();
    let api = namespace.api::<Backtest>();

    // Both a strategy reference and a template: the API server refuses it.
    let mut both = example();
    both["spec"]["strategyRef"] = json!({"name": "live"});
    let refused = create(&namespace, both).await.unwrap_err().to_string();
    assert!(
        refused.contains("exactly one of strategyRef and template must be set"),
        "{refused}"
    );

    // Bars from both a ConfigMap and an S3 object: the API server refuses it.
    let mut two_sources = example();
    two_sources["spec"]["data"]["s3"] = json!({
        "bucket": "market-bars", "key": "daily/SPY.csv", "credentialsSecretName": "keys",
    });
    let refused = create(&namespace, two_sources)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(
            "exactly one of data.configMap, data.volume, data.s3 and data.api must be set"
        ),
        "{refused}"
    );

    // Bars from the market data API ending before they start: refused naming the field.
    let mut backwards = example();
    backwards["spec"]["data"] = json!({
        "api": {"brokerAccountRef": {"name": "alpaca"}},
        "start": "2024-06-01T00:00:00Z", "end": "2024-01-01T00:00:00Z",
    });
    let refused = create(&namespace, backwards).await.unwrap_err().to_string();
    assert!(
        refused.contains("spec.data.end") && refused.contains("data.end must be after data.start"),
        "{refused}"
    );

    // A sweep path the strategy does not have: Failed, naming the axis and the field.
    let mut unknown = example();
    unknown["metadata"]["name"] = json!("unknown-path");
    unknown["spec"]["sweep"]["axes"][1]["path"] = json!("risk.stopLos");
    create(&namespace, unknown).await.unwrap();
    let failed = wait_for(&api, "unknown-path", "Failed", WAIT, phase_is("Failed"))
        .await
        .unwrap();
    assert_eq!(
        condition_message(&failed, "Failed"),
        "spec.sweep.axes[1].path: risk.stopLos: the strategy spec has no field `risk.stopLos`"
    );
    assert!(
        namespace
            .api::<Job>()
            .get_opt("unknown-path-backtest")
            .await
            .unwrap()
            .is_none()
    );

    // A bad row in the bars: the run fails naming the file and line, and so does the Backtest.
    create_bars(&namespace, "bad-bars", bars_csv(200, Some(57))).await;
    let mut bad = example();
    bad["metadata"]["name"] = json!("bad-bars");
    bad["spec"]["data"]["configMap"]["name"] = json!("bad-bars");
    bad["spec"].as_object_mut().unwrap().remove("sweep");
    create(&namespace, bad).await.unwrap();
    let job = indexed_job(&namespace, "bad-bars-backtest").await;
    assert_eq!(job.spec.as_ref().unwrap().completions, Some(1));
    let dir = temp_dir("bt-bad").unwrap();
    let pod = PlayedPod::new(&namespace, &job, "bad-bars", &dir).await;
    let (ok, log) = pod.run(&namespace.name, 0).await;
    assert!(!ok, "a bad row passed:\n{log}");
    let failed = wait_for(&api, "bad-bars", "Failed", WAIT, phase_is("Failed"))
        .await
        .unwrap();
    let message = condition_message(&failed, "Failed");
    assert!(message.contains("line 57"), "{message}");
    let runs = &failed.status.as_ref().unwrap().runs;
    assert_eq!(runs[0].phase, RunPhase::Failed);

    controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}
