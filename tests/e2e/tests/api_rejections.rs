//! Bad input is refused by the API server, not discovered by the operator: each case below is a
//! small JSON merge patch (RFC 7386: `null` removes a field) over a valid object, applied to the
//! real API server as `kubectl apply --server-side --validate=strict` would, and must be
//! rejected with the named field and a message saying what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use e2e::{TestNamespace, apply_strict, install_crds, shared_client};
use kube::core::Status;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Strategy,
    Account,
    Pool,
}

/// A valid object of each kind; every case starts from one of these.
fn base(kind: Kind) -> Value {
    match kind {
        Kind::Strategy => json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "spec": { "symbols": ["AAPL", "MSFT"], "brokerAccountRef": { "name": "paper" } }
        }),
        Kind::Account => json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
            "spec": { "broker": "Paper" }
        }),
        Kind::Pool => json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
            "spec": {
                "providers": [{ "name": "rules", "kind": "Rules" }],
                "agents": [{ "role": "trend", "providers": ["rules"], "method": "Trend" }]
            }
        }),
    }
}

struct Case {
    what: &'static str,
    kind: Kind,
    /// For an update: the patch of the object as first created (which must be accepted).
    before: Option<Value>,
    patch: Value,
    /// The path the API server names, e.g. `spec.replicas`.
    field: &'static str,
    /// A part of the message it gives for that path.
    message: &'static str,
}

fn bad(
    what: &'static str,
    kind: Kind,
    patch: Value,
    field: &'static str,
    message: &'static str,
) -> Case {
    Case {
        what,
        kind,
        before: None,
        patch,
        field,
        message,
    }
}

fn bad_update(
    what: &'static str,
    kind: Kind,
    before: Value,
    patch: Value,
    field: &'static str,
    message: &'static str,
) -> Case {
    Case {
        before: Some(before),
        ..bad(what, kind, patch, field, message)
    }
}

use Kind::{Account, Pool, Strategy};

// Server-side apply checks types and list keys itself, before validation, in its own words.
const DUPLICATE: &str = "duplicate entries";
const PATTERN: &str = "should match";
const REQUIRED: &str = "Required value";
const ENUM: &str = "Unsupported value";
const UNKNOWN: &str = "field not declared in schema";
const AT_LEAST: &str = "greater than or equal to";
const AT_MOST: &str = "less than or equal to";
const ABOVE_ZERO: &str = "greater than 0";
const NOT_EMPTY: &str = "at least 1 chars long";
// Our own messages, where the API server's would only quote a long pattern.
const IMAGE: &str = "must be an image reference such as";
const IMAGE_NAME_LENGTH: &str = "at most 255 characters";

fn postgres_journal() -> Value {
    json!({ "backend": "Postgres", "postgres": { "urlSecretRef": { "name": "pg", "key": "url" } } })
}

fn openai() -> Value {
    json!({ "name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1" })
}

fn alpaca() -> Value {
    json!({ "broker": "Alpaca", "credentialsSecretRef": { "name": "alpaca" } })
}

#[rustfmt::skip] // one case per line reads as a table
fn cases() -> Vec<Case> {
    vec![
        // TradingStrategy: symbols and references.
        bad("symbols as a string", Strategy, json!({"spec": {"symbols": "AAPL"}}), ".spec.symbols", "expected list"),
        bad("no symbols", Strategy, json!({"spec": {"symbols": []}}), "spec.symbols", "at least 1 items"),
        bad("lower-case symbol", Strategy, json!({"spec": {"symbols": ["aapl"]}}), "spec.symbols[0]", PATTERN),
        bad("symbol with a space", Strategy, json!({"spec": {"symbols": ["BRK B"]}}), "spec.symbols[0]", PATTERN),
        bad("symbol too long", Strategy, json!({"spec": {"symbols": ["ABCDEFGHIJKLMN"]}}), "spec.symbols[0]", PATTERN),
        bad("symbol twice", Strategy, json!({"spec": {"symbols": ["AAPL", "AAPL"]}}), ".spec.symbols", DUPLICATE),
        bad("no broker account", Strategy, json!({"spec": {"brokerAccountRef": null}}), "spec.brokerAccountRef", REQUIRED),
        bad("empty broker account name", Strategy, json!({"spec": {"brokerAccountRef": {"name": ""}}}), "spec.brokerAccountRef.name", NOT_EMPTY),
        bad("broker account name not DNS", Strategy, json!({"spec": {"brokerAccountRef": {"name": "Paper_1"}}}), "spec.brokerAccountRef.name", PATTERN),
        bad("empty agent pool name", Strategy, json!({"spec": {"agentPoolRef": {"name": ""}}}), "spec.agentPoolRef.name", NOT_EMPTY),
        // Replicas and the journal.
        bad("zero replicas", Strategy, json!({"spec": {"replicas": 0}}), "spec.replicas", AT_LEAST),
        bad("six replicas", Strategy, json!({"spec": {"replicas": 6}}), "spec.replicas", AT_MOST),
        bad("replicas as a word", Strategy, json!({"spec": {"replicas": "two"}}), ".spec.replicas", "expected numeric"),
        bad("HA with the default journal", Strategy, json!({"spec": {"replicas": 2}}), "spec.journal.backend", "requires journal.backend Postgres"),
        bad("HA with SQLite", Strategy, json!({"spec": {"replicas": 2, "journal": {"backend": "Sqlite"}}}), "spec.journal.backend", "requires journal.backend Postgres"),
        bad("Postgres without a URL", Strategy, json!({"spec": {"journal": {"backend": "Postgres"}}}), "spec.journal.postgres", "postgres is required"),
        bad("unknown journal backend", Strategy, json!({"spec": {"journal": {"backend": "Mysql"}}}), "spec.journal.backend", ENUM),
        bad("SQLite with Postgres settings", Strategy, json!({"spec": {"journal": {"backend": "Sqlite", "postgres": {"urlSecretRef": {"name": "pg", "key": "url"}}}}}), "spec.journal.postgres", "apply only to backend Postgres"),
        bad("storage size not a quantity", Strategy, json!({"spec": {"journal": {"backend": "Sqlite", "sqlite": {"storageSize": "lots"}}}}), "spec.journal.sqlite.storageSize", PATTERN),
        bad("empty Secret key", Strategy, json!({"spec": {"journal": {"backend": "Postgres", "postgres": {"urlSecretRef": {"name": "pg", "key": ""}}}}}), "spec.journal.postgres.urlSecretRef.key", NOT_EMPTY),
        // Schedule.
        bad("minute 61", Strategy, json!({"spec": {"schedule": {"cron": "61 * * * *"}}}), "spec.schedule.cron", PATTERN),
        bad("hour 24", Strategy, json!({"spec": {"schedule": {"cron": "0 24 * * *"}}}), "spec.schedule.cron", PATTERN),
        bad("six cron fields", Strategy, json!({"spec": {"schedule": {"cron": "0 0 9 * * 1-5"}}}), "spec.schedule.cron", PATTERN),
        bad("cron in words", Strategy, json!({"spec": {"schedule": {"cron": "every weekday"}}}), "spec.schedule.cron", PATTERN),
        bad("cron and interval", Strategy, json!({"spec": {"schedule": {"cron": "*/5 * * * *", "intervalSeconds": 60}}}), "spec.schedule.cron", "either intervalSeconds or cron"),
        bad("zero interval", Strategy, json!({"spec": {"schedule": {"intervalSeconds": 0}}}), "spec.schedule.intervalSeconds", AT_LEAST),
        bad("time zone with a space", Strategy, json!({"spec": {"schedule": {"timeZone": "New York"}}}), "spec.schedule.timeZone", PATTERN),
        // The right shape, but no such zone: CEL's timestamp functions refuse it.
        bad("time zone on Mars", Strategy, json!({"spec": {"schedule": {"timeZone": "Mars/Olympus"}}}), "spec.schedule.timeZone", "unknown time zone Mars/Olympus"),
        bad("backup time zone on Mars", Strategy, json!({"spec": {"backup": {"schedule": "0 22 * * *", "timeZone": "Mars/Olympus", "destination": {"volume": {}}}}}), "spec.backup.timeZone", "must be an IANA time zone"),
        bad("window time zone on Mars", Strategy, json!({"spec": {"upgrade": {"timeZone": "Mars/Olympus", "maintenanceWindows": [{"days": ["Sat"], "start": "02:00", "durationMinutes": 60}]}}}), "spec.upgrade.timeZone", "must be an IANA time zone"),
        // Trading state, decision, risk.
        bad("unknown trading state", Strategy, json!({"spec": {"tradingState": "Paused"}}), "spec.tradingState", ENUM),
        bad("suspend as a word", Strategy, json!({"spec": {"suspend": "yes"}}), ".spec.suspend", "expected boolean"),
        bad("confidence above 1", Strategy, json!({"spec": {"decision": {"minConfidence": 1.5}}}), "spec.decision.minConfidence", AT_MOST),
        bad("negative debate rounds", Strategy, json!({"spec": {"decision": {"debateRounds": -1}}}), "spec.decision.debateRounds", AT_LEAST),
        bad("position of 0.0%", Strategy, json!({"spec": {"risk": {"positionSizePercent": 0.0}}}), "spec.risk.positionSizePercent", ABOVE_ZERO),
        bad("position of 150%", Strategy, json!({"spec": {"risk": {"positionSizePercent": 150}}}), "spec.risk.positionSizePercent", AT_MOST),
        bad("zero stop loss", Strategy, json!({"spec": {"risk": {"stopLossPercent": 0}}}), "spec.risk.stopLossPercent", ABOVE_ZERO),
        bad("allowed symbol not traded", Strategy, json!({"spec": {"risk": {"allowedSymbols": ["TSLA"]}}}), "spec.risk.allowedSymbols", "must be one of symbols"),
        // Analysts and providers.
        bad("analysts beside a pool", Strategy, json!({"spec": {"agentPoolRef": {"name": "pool"}, "providers": [{"name": "rules", "kind": "Rules"}], "analysts": [{"role": "trend", "providers": ["rules"], "method": "Trend"}]}}), "spec.analysts", "must be empty when agentPoolRef is set"),
        bad("analyst with an undefined provider", Strategy, json!({"spec": {"analysts": [{"role": "trend", "providers": ["rules"], "method": "Trend"}]}}), "spec.analysts", "must be defined in providers"),
        bad("LLM analyst without a model", Strategy, json!({"spec": {"providers": [openai()], "analysts": [{"role": "news", "providers": ["openai"]}]}}), "spec.analysts", "model is required"),
        bad("recording answers without an LLM seat", Strategy, json!({"spec": {"recordLLMAnswers": true, "providers": [{"name": "rules", "kind": "Rules"}], "analysts": [{"role": "trend", "providers": ["rules"], "method": "Trend"}]}}), "spec.recordLLMAnswers", "needs an in-process LLM seat"),
        bad("recording a pool's answers", Strategy, json!({"spec": {"recordLLMAnswers": true, "agentPoolRef": {"name": "pool"}}}), "spec.recordLLMAnswers", "needs an in-process LLM seat"),
        bad("rules analyst without a method", Strategy, json!({"spec": {"providers": [{"name": "rules", "kind": "Rules"}], "analysts": [{"role": "trend", "providers": ["rules"]}]}}), "spec.analysts", "method is required"),
        bad("rules fallback without a method", Strategy, json!({"spec": {"providers": [openai()], "analysts": [{"role": "news", "providers": ["openai"], "model": "m", "fallback": "Rules"}]}}), "spec.analysts[0].method", "method is required when fallback is Rules"),
        bad("temperature 3", Strategy, json!({"spec": {"providers": [openai()], "analysts": [{"role": "news", "providers": ["openai"], "model": "m", "temperature": 3}]}}), "spec.analysts[0].temperature", AT_MOST),
        bad("the same role twice", Strategy, json!({"spec": {"providers": [{"name": "rules", "kind": "Rules"}], "analysts": [{"role": "trend", "providers": ["rules"], "method": "Trend"}, {"role": "trend", "providers": ["rules"], "method": "Momentum"}]}}), ".spec.analysts", DUPLICATE),
        bad("LLM provider without a URL", Strategy, json!({"spec": {"providers": [{"name": "openai", "kind": "OpenAICompatible"}]}}), "spec.providers[0].baseURL", "baseURL is required"),
        bad("rules provider with a URL", Strategy, json!({"spec": {"providers": [{"name": "rules", "kind": "Rules", "baseURL": "https://x.example"}]}}), "spec.providers[0].baseURL", "apply only to kind OpenAICompatible"),
        bad("provider URL not http", Strategy, json!({"spec": {"providers": [{"name": "openai", "kind": "OpenAICompatible", "baseURL": "ftp://x.example"}]}}), "spec.providers[0].baseURL", PATTERN),
        // Shadow rollouts: an analysis needs Shadow, Shadow needs a Deployment and replayed bars.
        bad("analysis of a Direct rollout", Strategy, json!({"spec": {"rollout": {"analysis": {"minCycles": 5}}}}), "spec.rollout.analysis", "analysis applies only to strategy Shadow"),
        bad("unknown rollout strategy", Strategy, json!({"spec": {"rollout": {"strategy": "Canary"}}}), "spec.rollout.strategy", ENUM),
        bad("agreement above 1", Strategy, json!({"spec": {"rollout": {"strategy": "Shadow", "analysis": {"minAgreement": 1.5}}}}), "spec.rollout.analysis.minAgreement", AT_MOST),
        bad("zero analysis cycles", Strategy, json!({"spec": {"rollout": {"strategy": "Shadow", "analysis": {"minCycles": 0}}}}), "spec.rollout.analysis.minCycles", AT_LEAST),
        bad("promote on failure", Strategy, json!({"spec": {"rollout": {"strategy": "Shadow", "analysis": {"onFailure": "Promote"}}}}), "spec.rollout.analysis.onFailure", ENUM),
        bad("shadow of cron cycles", Strategy, json!({"spec": {"schedule": {"cron": "*/5 * * * *"}, "rollout": {"strategy": "Shadow"}}}), "spec.rollout.strategy", "cycles on a cron schedule cannot be shadowed"),
        bad("shadow of the broker's bars", Strategy, json!({"spec": {"marketData": {"source": "Broker"}, "rollout": {"strategy": "Shadow"}}}), "spec.rollout.strategy", "needs marketData.source Replay"),
        // Promotion gates: a shadow gate needs Shadow rollouts; a gate block needs a gate.
        bad("shadow gate of a Direct rollout", Strategy, json!({"spec": {"promotionGates": {"shadow": {"minCycles": 5}}}}), "spec.promotionGates.shadow", "promotionGates.shadow needs rollout.strategy Shadow"),
        bad("empty promotion gates", Strategy, json!({"spec": {"promotionGates": {}}}), "spec.promotionGates", "promotionGates needs backtest or shadow"),
        bad("gate drawdown above 1", Strategy, json!({"spec": {"promotionGates": {"backtest": {"maxDrawdown": 1.5}}}}), "spec.promotionGates.backtest.maxDrawdown", AT_MOST),
        // Upgrades, backups, restore, nonces, alerting.
        // Failover timings: bounds, and retry < renew deadline < lease duration, defaults counted.
        bad("lease of one second", Strategy, json!({"spec": {"failover": {"leaseDurationSeconds": 1}}}), "spec.failover.leaseDurationSeconds", AT_LEAST),
        bad("lease of an hour", Strategy, json!({"spec": {"failover": {"leaseDurationSeconds": 3600}}}), "spec.failover.leaseDurationSeconds", AT_MOST),
        bad("renew deadline past the default lease", Strategy, json!({"spec": {"failover": {"renewDeadlineSeconds": 4}}}), "spec.failover.renewDeadlineSeconds", "must be less than leaseDurationSeconds"),
        bad("retry as long as the renew deadline", Strategy, json!({"spec": {"failover": {"leaseDurationSeconds": 10, "renewDeadlineSeconds": 5, "retryPeriodSeconds": 5}}}), "spec.failover.retryPeriodSeconds", "must be less than renewDeadlineSeconds"),
        bad("zero retry period", Strategy, json!({"spec": {"failover": {"retryPeriodSeconds": 0}}}), "spec.failover.retryPeriodSeconds", AT_LEAST),
        bad("empty switchover nonce", Strategy, json!({"spec": {"switchoverAt": ""}}), "spec.switchoverAt", NOT_EMPTY),
        bad("supervised without windows", Strategy, json!({"spec": {"upgrade": {"policy": "Supervised"}}}), "spec.upgrade.maintenanceWindows", "must not be empty when policy is Supervised"),
        bad("window without a time zone", Strategy, json!({"spec": {"upgrade": {"maintenanceWindows": [{"days": ["Sat"], "start": "02:00", "durationMinutes": 60}]}}}), "spec.upgrade.timeZone", "timeZone is required"),
        bad("window at 25:00", Strategy, json!({"spec": {"upgrade": {"timeZone": "UTC", "maintenanceWindows": [{"days": ["Sat"], "start": "25:00", "durationMinutes": 60}]}}}), "spec.upgrade.maintenanceWindows[0].start", PATTERN),
        bad("window on Funday", Strategy, json!({"spec": {"upgrade": {"timeZone": "UTC", "maintenanceWindows": [{"days": ["Funday"], "start": "02:00", "durationMinutes": 60}]}}}), "spec.upgrade.maintenanceWindows[0].days[0]", ENUM),
        bad("empty window", Strategy, json!({"spec": {"upgrade": {"timeZone": "UTC", "maintenanceWindows": [{"days": ["Sat"], "start": "02:00", "durationMinutes": 0}]}}}), "spec.upgrade.maintenanceWindows[0].durationMinutes", AT_LEAST),
        bad("backup without a destination", Strategy, json!({"spec": {"backup": {"schedule": "0 22 * * *"}}}), "spec.backup.destination", REQUIRED),
        bad("backup to two places", Strategy, json!({"spec": {"backup": {"destination": {"volume": {}, "s3": {"bucket": "backups", "credentialsSecretName": "s3"}}}}}), "spec.backup.destination", "exactly one of volume or s3"),
        bad("backup at hour 25", Strategy, json!({"spec": {"backup": {"schedule": "0 25 * * *", "destination": {"volume": {}}}}}), "spec.backup.schedule", PATTERN),
        bad("retention in words", Strategy, json!({"spec": {"backup": {"retention": {"keepWithin": "7 days"}, "destination": {"volume": {}}}}}), "spec.backup.retention.keepWithin", PATTERN),
        bad("backup zone without a schedule", Strategy, json!({"spec": {"backup": {"timeZone": "Europe/London", "destination": {"volume": {}}}}}), "spec.backup.timeZone", "backup.timeZone applies only to backup.schedule"),
        bad("empty backup-now nonce", Strategy, json!({"spec": {"backup": {"backupNowAt": "", "destination": {"volume": {}}}}}), "spec.backup.backupNowAt", NOT_EMPTY),
        bad("bucket with capitals", Strategy, json!({"spec": {"backup": {"destination": {"s3": {"bucket": "My_Bucket", "credentialsSecretName": "s3"}}}}}), "spec.backup.destination.s3.bucket", PATTERN),
        bad("empty restart nonce", Strategy, json!({"spec": {"restartAt": ""}}), "spec.restartAt", NOT_EMPTY),
        bad("zero alert drawdown", Strategy, json!({"spec": {"alerting": {"drawdown": {"threshold": 0}}}}), "spec.alerting.drawdown", "threshold is a percent"),
        bad("alert after 1.5 missed cycles", Strategy, json!({"spec": {"alerting": {"noCycle": {"threshold": 1.5}}}}), "spec.alerting.noCycle", "whole number"),
        bad("threshold on the kill switch", Strategy, json!({"spec": {"alerting": {"killSwitch": {"threshold": 1}}}}), "spec.alerting.killSwitch", "no threshold"),
        bad("alert for five minutes in words", Strategy, json!({"spec": {"alerting": {"drawdown": {"for": "five minutes"}}}}), "spec.alerting.drawdown.for", PATTERN),
        bad("alert label severity", Strategy, json!({"spec": {"alerting": {"alertLabels": {"severity": "low"}}}}), "spec.alerting.alertLabels", "must not set severity"),
        bad("sixteen rule labels and one more", Strategy, json!({"spec": {"alerting": {"labels": (0..17).map(|i| (format!("l{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}}}), "spec.alerting.labels", "Too many"),
        bad("pool alert severity Page", Pool, json!({"spec": {"alerting": {"noWorkers": {"severity": "Page"}}}}), "spec.alerting.noWorkers.severity", ENUM),
        bad("unknown spec field", Strategy, json!({"spec": {"leverage": 3}}), ".spec.leverage", UNKNOWN),
        bad("unknown risk field", Strategy, json!({"spec": {"risk": {"maxLeverage": 3}}}), ".spec.risk.maxLeverage", UNKNOWN),
        bad_update("journal moved to SQLite", Strategy, json!({"spec": {"journal": postgres_journal()}}), json!({"spec": {"journal": {"backend": "Sqlite"}}}), "spec.journal.backend", "journal.backend is immutable"),
        bad_update("journal dropped (SQLite)", Strategy, json!({"spec": {"journal": postgres_journal()}}), json!({}), "spec.journal.backend", "journal.backend is immutable"),
        bad_update("restore added later", Strategy, json!({}), json!({"spec": {"restore": {"fromStrategy": "old", "source": {"volume": {}}}}}), "spec.restore", "restore is immutable"),
        // BrokerAccount.
        bad("unknown broker", Account, json!({"spec": {"broker": "Robinhood"}}), "spec.broker", ENUM),
        bad("live without opt-in", Account, json!({"spec": alpaca_with(json!({"environment": "Live"}))}), "spec.liveTradingAcknowledged", "liveTradingAcknowledged must be true"),
        bad("live with opt-in false", Account, json!({"spec": alpaca_with(json!({"environment": "Live", "liveTradingAcknowledged": false}))}), "spec.liveTradingAcknowledged", "liveTradingAcknowledged must be true"),
        bad("Alpaca without credentials", Account, json!({"spec": {"broker": "Alpaca"}}), "spec.credentialsSecretRef", "required for broker Alpaca"),
        bad("paper broker, live environment", Account, json!({"spec": {"environment": "Live", "liveTradingAcknowledged": true}}), "spec.environment", "environment must be Paper"),
        bad("Alpaca with paper settings", Account, json!({"spec": alpaca_with(json!({"paper": {"startingCash": 1000}}))}), "spec.paper", "apply only to broker Paper"),
        bad("endpoint not a URL", Account, json!({"spec": alpaca_with(json!({"endpoint": "alpaca markets"}))}), "spec.endpoint", PATTERN),
        bad("negative order limit", Account, json!({"spec": {"limits": {"maxOrderNotional": -5}}}), "spec.limits.maxOrderNotional", AT_LEAST),
        bad("lower-case allowed symbol", Account, json!({"spec": {"limits": {"allowedSymbols": ["btc/usd"]}}}), "spec.limits.allowedSymbols[0]", PATTERN),
        bad("no starting cash", Account, json!({"spec": {"paper": {"startingCash": 0}}}), "spec.paper.startingCash", AT_LEAST),
        bad("empty credentials name", Account, json!({"spec": {"broker": "Alpaca", "credentialsSecretRef": {"name": ""}}}), "spec.credentialsSecretRef.name", NOT_EMPTY),
        bad("unknown account field", Account, json!({"spec": {"accountNumber": "123"}}), ".spec.accountNumber", UNKNOWN),
        bad_update("broker changed", Account, json!({}), json!({"spec": alpaca()}), "spec.broker", "broker is immutable"),
        // AgentPool.
        bad("no agents", Pool, json!({"spec": {"agents": []}}), "spec.agents", "at least 1 items"),
        bad("no providers", Pool, json!({"spec": {"providers": null}}), "spec.providers", REQUIRED),
        bad("agent with an undefined provider", Pool, json!({"spec": {"agents": [{"role": "trend", "providers": ["quant"], "method": "Trend"}]}}), "spec.agents", "must be defined in providers"),
        bad("LLM agent without a model", Pool, json!({"spec": {"providers": [openai()], "agents": [{"role": "news", "providers": ["openai"]}]}}), "spec.agents", "model is required"),
        bad("max below min replicas", Pool, json!({"spec": {"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}}), "spec.autoscaling.maxReplicas", "maxReplicas must be greater than or equal to minReplicas"),
        bad("autoscaling without a maximum", Pool, json!({"spec": {"autoscaling": {"minReplicas": 2}}}), "spec.autoscaling.maxReplicas", REQUIRED),
        bad("negative replicas", Pool, json!({"spec": {"replicas": -1}}), "spec.replicas", AT_LEAST),
        bad("101 replicas", Pool, json!({"spec": {"replicas": 101}}), "spec.replicas", AT_MOST),
        bad("CPU target of 150%", Pool, json!({"spec": {"autoscaling": {"maxReplicas": 3, "targetCPUUtilizationPercent": 150}}}), "spec.autoscaling.targetCPUUtilizationPercent", AT_MOST),
        bad("unknown provider kind", Pool, json!({"spec": {"providers": [{"name": "rules", "kind": "Anthropic"}]}}), "spec.providers[0].kind", ENUM),
        bad("Secret key with a space", Pool, json!({"spec": {"providers": [{"name": "rules", "kind": "Rules"}, {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1", "apiKeySecretRef": {"name": "k", "key": "api key"}}]}}), "spec.providers[1].apiKeySecretRef.key", PATTERN),
        bad("negative budget", Pool, json!({"spec": {"providers": [{"name": "rules", "kind": "Rules"}, {"name": "openai", "kind": "OpenAICompatible", "baseURL": "https://api.openai.com/v1", "dailyBudgetUSD": -1}]}}), "spec.providers[1].dailyBudgetUSD", AT_LEAST),
        bad("CPU request not a quantity", Pool, json!({"spec": {"resources": {"requests": {"cpu": "lots"}}}}), "spec.resources.requests.cpu", PATTERN),
        bad("unknown method", Pool, json!({"spec": {"agents": [{"role": "trend", "providers": ["rules"], "method": "Astrology"}]}}), "spec.agents[0].method", ENUM),
        bad("unknown pool field", Pool, json!({"spec": {"gpu": true}}), ".spec.gpu", UNKNOWN),
        // Image references (both kinds): the grammar a container runtime parses them with.
        bad("image with spaces", Strategy, json!({"spec": {"image": "my registry/agent runtime:latest"}}), "spec.image", IMAGE),
        bad("pool image with spaces", Pool, json!({"spec": {"image": "my registry/agent runtime:latest"}}), "spec.image", IMAGE),
        bad("image with an upper-case repository", Strategy, json!({"spec": {"image": "ghcr.io/Tradeplane/agent-runtime:0.1.0"}}), "spec.image", IMAGE),
        bad("pool image with an upper-case repository", Pool, json!({"spec": {"image": "ghcr.io/Tradeplane/agent-runtime:0.1.0"}}), "spec.image", IMAGE),
        bad("image with an empty tag", Strategy, json!({"spec": {"image": "x:"}}), "spec.image", IMAGE),
        bad("pool image with an empty tag", Pool, json!({"spec": {"image": "x:"}}), "spec.image", IMAGE),
        bad("image with a short digest", Strategy, json!({"spec": {"image": "ghcr.io/x@sha256:0123abcd"}}), "spec.image", IMAGE),
        bad("pool image with a short digest", Pool, json!({"spec": {"image": "ghcr.io/x@sha256:0123abcd"}}), "spec.image", IMAGE),
        bad("image digest without an algorithm", Strategy, json!({"spec": {"image": format!("ghcr.io/x@{}", "ab".repeat(32))}}), "spec.image", IMAGE),
        bad("image with a URL scheme", Strategy, json!({"spec": {"image": "https://ghcr.io/tradeplane/agent-runtime"}}), "spec.image", IMAGE),
        bad("image with a port in words", Pool, json!({"spec": {"image": "registry.example.com:https/agent-runtime"}}), "spec.image", IMAGE),
        bad("image tag of 129 characters", Strategy, json!({"spec": {"image": format!("x:{}", "t".repeat(129))}}), "spec.image", IMAGE),
        bad("image name of 256 characters", Strategy, json!({"spec": {"image": format!("registry.example.com/{}:1", "a".repeat(235))}}), "spec.image", IMAGE_NAME_LENGTH),
        bad("pool image name of 256 characters", Pool, json!({"spec": {"image": format!("registry.example.com/{}:1", "a".repeat(235))}}), "spec.image", IMAGE_NAME_LENGTH),
    ]
}

/// An Alpaca account with credentials, plus `extra`.
fn alpaca_with(extra: Value) -> Value {
    let mut spec = alpaca();
    merge(&mut spec, &extra);
    spec
}

/// RFC 7386 JSON merge patch: objects merge, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let target = target.as_object_mut().unwrap();
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn manifest(kind: Kind, name: &str, patch: &Value) -> Value {
    let mut object = base(kind);
    object["metadata"] = json!({ "name": name });
    merge(&mut object, patch);
    object
}

/// Whether the refusal names `field` with `message`: in a cause (validation errors), or in the
/// message itself (server-side apply's schema errors, such as unknown fields).
fn names(status: &Status, field: &str, message: &str) -> bool {
    let in_cause = status.details.as_ref().is_some_and(|details| {
        details
            .causes
            .iter()
            .any(|c| c.field == field && c.message.contains(message))
    });
    in_cause || (status.message.contains(field) && status.message.contains(message))
}

#[tokio::test]
async fn malformed_objects_are_rejected_with_the_field_and_a_reason() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "rejections").await.unwrap();

    // The bases themselves are accepted, so every rejection below is the patch's doing.
    for kind in [Strategy, Account, Pool] {
        let object = manifest(kind, &format!("base-{kind:?}").to_lowercase(), &json!({}));
        let applied = apply_strict(&client, &ns.name, &object).await.unwrap();
        assert!(applied.is_ok(), "base {kind:?} rejected: {applied:?}");
    }

    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let name = format!("case-{i:02}");
        if let Some(before) = &case.before {
            let first = manifest(case.kind, &name, before);
            if let Err(status) = apply_strict(&client, &ns.name, &first).await.unwrap() {
                failures.push(format!(
                    "{}: the object before the update was rejected: {}",
                    case.what, status.message
                ));
                continue;
            }
        }
        let object = manifest(case.kind, &name, &case.patch);
        match apply_strict(&client, &ns.name, &object).await.unwrap() {
            Ok(_) => failures.push(format!("{}: accepted {}", case.what, object["spec"])),
            Err(status) if names(&status, case.field, case.message) => {}
            Err(status) => failures.push(format!(
                "{}: expected {} / {:?}, got {:?} {:?}",
                case.what,
                case.field,
                case.message,
                status.message,
                status.details.map(|d| d.causes)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    ns.delete().await.unwrap();
}

/// The other side of the image cases above: references of the grammar, in all its parts, are
/// admitted for both kinds, so the check refuses only what a container runtime would.
#[tokio::test]
async fn image_references_of_the_grammar_are_admitted() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let ns = TestNamespace::create(&client, "images").await.unwrap();
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let images = [
        "ghcr.io/tradeplane/agent-runtime:0.1.0".to_string(),
        "agent-runtime".to_string(),
        "localhost/x".to_string(),
        "localhost:5000/agent-runtime".to_string(),
        "registry.example.com:5000/team/agent-runtime:v1.2".to_string(),
        "10.0.0.5:5000/desk/agent_runtime__v2:latest".to_string(),
        "[fd00::1]:5000/agent-runtime:1".to_string(),
        "Registry.Example.com/a--b/c.d:TAG_1.x-y".to_string(),
        format!("ghcr.io/tradeplane/agent-runtime@{digest}"),
        format!("ghcr.io/tradeplane/agent-runtime:0.1.0@{digest}"),
        format!("ghcr.io/x@sha512:{}", "ab".repeat(64)),
        format!("x:{}", "t".repeat(128)),
        format!("registry.example.com/{}:1", "a".repeat(234)),
    ];
    let mut refused = Vec::new();
    for (i, image) in images.iter().enumerate() {
        for kind in [Strategy, Pool] {
            let name = format!("{}-{i:02}", format!("{kind:?}").to_lowercase());
            let object = manifest(kind, &name, &json!({"spec": {"image": image}}));
            if let Err(status) = apply_strict(&client, &ns.name, &object).await.unwrap() {
                refused.push(format!("{kind:?} {image}: {}", status.message));
            }
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    ns.delete().await.unwrap();
}
