//! Fixed inputs for the render tests, written as the API answers them (JSON).

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use serde_json::json;
use tradeplane_api::TradingStrategy;
use tradeplane_contract::journal_api::{
    CycleDetail, DecisionView, FillView, LlmSpendView, OrderView, StrategySummary,
};

use super::{LeaseView, ReplicaView, RuntimeSection, RuntimeView, StatusView, WarningView};

pub fn now() -> DateTime<Utc> {
    "2030-01-01T12:00:00Z".parse().unwrap()
}

pub fn order() -> OrderView {
    serde_json::from_value(json!({
        "clientOrderId": "momo-20300101-aapl-1", "cycleId": "20300101T000000Z",
        "symbol": "AAPL", "side": "buy", "quantity": 12.0, "referencePrice": 190.0,
        "status": "filled", "createdAt": "2030-01-01T11:00:01Z",
        "updatedAt": "2030-01-01T11:00:02Z"
    }))
    .unwrap()
}

pub fn fill() -> FillView {
    serde_json::from_value(json!({
        "fillId": "f-1", "clientOrderId": "momo-20300101-aapl-1", "symbol": "AAPL",
        "side": "buy", "quantity": 12.0, "price": 190.05, "commission": 1.0,
        "filledAt": "2030-01-01T11:00:02Z"
    }))
    .unwrap()
}

pub fn decision() -> DecisionView {
    let mut order = serde_json::to_value(order()).unwrap();
    order["fills"] = json!([serde_json::to_value(fill()).unwrap()]);
    serde_json::from_value(json!({
        "id": 7, "cycleId": "20300101T000000Z", "symbol": "AAPL",
        "decidedAt": "2030-01-01T11:00:00Z", "action": "buy", "targetQuantity": 12.0,
        "confidence": 0.72, "rationale": "trend and debate agree; news is priced in",
        "dataWindow": {
            "symbol": "AAPL", "timeframe": "1d", "firstBarAt": "2029-10-01T00:00:00Z",
            "lastBarAt": "2029-12-31T00:00:00Z", "barCount": 60, "lastClose": 190.0,
            "indicators": [{"role": "trend", "values": {"sma_fast": 191.0, "sma_slow": 185.5}}]
        },
        "analysts": [
            {"role": "trend", "signal": "bullish", "confidence": 0.8,
             "rationale": "fast average above the slow one for 12 bars\nsecond line",
             "source": "quant:trend"},
            {"role": "news", "signal": "bearish", "confidence": 0.4,
             "rationale": "a long rationale that goes on about earnings, guidance, the supply chain, the macro picture and the next quarter so that it has to wrap over several lines",
             "source": "llm:openai/gpt-4o-mini", "provider": "openai", "model": "gpt-4o-mini",
             "promptTokens": 812, "completionTokens": 95, "costUsd": 0.0012}
        ],
        "debate": {"role": "debate", "signal": "bullish", "confidence": 0.7,
                   "rationale": "the trend outweighs the news", "source": "llm:openai/gpt-4o"},
        "risk": {"outcome": "approved"},
        "orders": [order]
    }))
    .unwrap()
}

pub fn cycle_detail() -> CycleDetail {
    serde_json::from_value(json!({
        "cycle": {"id": "20300101T000000Z", "startedAt": "2030-01-01T11:00:00Z",
                  "finishedAt": "2030-01-01T11:00:03Z", "status": "completed",
                  "summary": "1 decisions, 1 orders, 0 rejections"},
        "decisions": [serde_json::to_value(decision()).unwrap()],
        "events": [{"kind": "risk_clipped", "message": "clipped to the notional limit",
                    "createdAt": "2030-01-01T11:00:01Z"}]
    }))
    .unwrap()
}

pub fn summary() -> StrategySummary {
    serde_json::from_value(json!({
        "apiVersion": "v1", "namespace": "desk", "strategy": "momo", "role": "leader",
        "tradingState": "Active", "journalBackend": "postgres", "journalSchemaVersion": 7,
        "equity": 99722.7552, "cash": 43204.19, "profitAndLoss": -277.2447,
        "drawdown": 0.0031356, "equityAt": "2030-01-01T11:00:00Z",
        "positions": [
            {"symbol": "AAPL", "quantity": 63.0, "averagePrice": 368.0143,
             "updatedAt": "2030-01-01T11:00:00Z"},
            {"symbol": "MSFT", "quantity": 621.0, "averagePrice": 54.1146,
             "updatedAt": "2030-01-01T11:00:00Z"}
        ]
    }))
    .unwrap()
}

pub fn strategy() -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "momo", "namespace": "desk", "generation": 3},
        "spec": {
            "symbols": ["AAPL", "MSFT"], "brokerAccountRef": {"name": "paper"},
            "replicas": 2,
            "backup": {"schedule": "0 22 * * 1-5", "destination": {"volume": {}}}
        },
        "status": {
            "observedGeneration": 3, "phase": "Trading", "mode": "Paper",
            "tradingState": "Active", "readyReplicas": 2, "desiredReplicas": 2,
            "leader": "momo-trader-7d9f-abcde",
            "currentRevision": "5f2a9c", "desiredRevision": "5f2a9c",
            "lastBackup": {"name": "momo-20300101T000000Z",
                           "completionTime": "2030-01-01T00:00:00Z"},
            "nextScheduleTime": "2030-01-01T22:00:00Z",
            "lastBackupFailure": {"job": "momo-backup-now-1", "time": "2030-01-01T10:00:00Z",
                                  "message": "bucket not found\nmore detail"},
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                 "lastTransitionTime": "2030-01-01T00:00:00Z"},
                {"type": "BackupSucceeded", "status": "False", "reason": "BackupFailed",
                 "message": "the last backup failed: bucket not found",
                 "lastTransitionTime": "2030-01-01T10:00:00Z"},
                {"type": "Stalled", "status": "False", "reason": "Fine", "message": "",
                 "lastTransitionTime": "2030-01-01T00:00:00Z"}
            ]
        }
    }))
    .unwrap()
}

pub fn status_view() -> StatusView {
    StatusView {
        strategy: strategy(),
        replicas: vec![
            ReplicaView {
                pod: "momo-trader-7d9f-abcde".into(),
                leader: true,
                ready: true,
                restarts: 0,
                started_at: Some("2030-01-01T09:00:00Z".parse().unwrap()),
            },
            ReplicaView {
                pod: "momo-trader-7d9f-fghij".into(),
                leader: false,
                ready: false,
                restarts: 2,
                started_at: None,
            },
        ],
        lease: Some(LeaseView {
            holder: Some("momo-trader-7d9f-abcde".into()),
            renewed_at: Some("2030-01-01T11:59:58Z".parse().unwrap()),
            acquired_at: None,
            transitions: Some(1),
        }),
        runtime: RuntimeSection::Answered(Box::new(RuntimeView {
            summary: summary(),
            cycles: vec![cycle_detail()],
            orders: vec![order()],
            fills: vec![fill()],
            llm_spend: vec![
                serde_json::from_value::<LlmSpendView>(json!({
                    "day": "2030-01-01", "provider": "openai", "calls": 14,
                    "promptTokens": 11000, "completionTokens": 1300, "costUsd": 0.0421
                }))
                .unwrap(),
            ],
        })),
        warnings: vec![WarningView {
            reason: "BackupFailed".into(),
            message: "backup Job momo-backup-now-1 failed: bucket not found".into(),
            count: 3,
            last_seen: Some("2030-01-01T10:00:00Z".parse().unwrap()),
        }],
        unavailable: vec![],
    }
}
