//! Reading credentials, judging the broker's answers and computing a BrokerAccount's status,
//! without a cluster; and the verification itself against the Alpaca stand-in.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::status::{self, Check, Observation};
use super::validate;
use super::verify::{self, Credentials, Outcome, Verification};
use crate::api::broker_account::{BrokerAccount, BrokerAccountStatus, Environment};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::test_support::condition;

const KEY_ID: &str = "PKTESTKEYID0001";
const SECRET_KEY: &str = "s3cr3t-value-that-must-never-leak";

fn account(spec: serde_json::Value) -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "alpaca", "namespace": "desk", "generation": 3},
        "spec": spec,
    }))
    .unwrap()
}

fn alpaca(extra: serde_json::Value) -> BrokerAccount {
    let mut spec = json!({"broker": "Alpaca", "credentialsSecretRef": {"name": "alpaca-keys"}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    account(spec)
}

fn secret(entries: &[(&str, &str)]) -> Secret {
    Secret {
        data: Some(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn compute(
    previous: Option<&BrokerAccountStatus>,
    check: Check<'_>,
    now: Timestamp,
) -> BrokerAccountStatus {
    status::compute(
        &Observation {
            generation: Some(3),
            previous,
            check,
            bound_strategies: vec!["momo".to_string()],
            environment: Environment::Paper,
            paper_equity: None,
        },
        now,
    )
    .0
}

#[test]
fn credentials_come_from_the_default_keys_trimmed() {
    let s = secret(&[
        ("APCA_API_KEY_ID", "PKID\n"),
        ("APCA_API_SECRET_KEY", " sk "),
    ]);
    let found = verify::credentials(&alpaca(json!({})), Some(&s)).unwrap();
    assert_eq!(found, Credentials::new("PKID", "sk"));
}

#[test]
fn custom_key_names_are_honoured() {
    let a = alpaca(
        json!({"credentialsSecretRef": {"name": "k", "keyIdKey": "id", "secretKeyKey": "secret"}}),
    );
    let s = secret(&[("id", "A"), ("secret", "B")]);
    assert_eq!(
        verify::credentials(&a, Some(&s)).unwrap(),
        Credentials::new("A", "B")
    );
    // The defaults are not looked at when the spec names other keys.
    let defaults = secret(&[("APCA_API_KEY_ID", "A"), ("APCA_API_SECRET_KEY", "B")]);
    let problem = verify::credentials(&a, Some(&defaults)).unwrap_err();
    assert_eq!(problem.reason, "SecretKeyMissing");
    assert!(problem.message.contains("no key id"), "{}", problem.message);
}

#[test]
fn a_missing_secret_or_key_or_an_unusable_value_is_a_named_problem() {
    let a = alpaca(json!({}));
    let missing = verify::credentials(&a, None).unwrap_err();
    assert_eq!(missing.reason, "SecretNotFound");
    assert!(missing.message.contains("alpaca-keys"));

    let no_secret_key = verify::credentials(&a, Some(&secret(&[("APCA_API_KEY_ID", "A")])));
    let problem = no_secret_key.unwrap_err();
    assert_eq!(problem.reason, "SecretKeyMissing");
    assert!(problem.message.contains("APCA_API_SECRET_KEY"));

    let bad = secret(&[
        ("APCA_API_KEY_ID", "A"),
        ("APCA_API_SECRET_KEY", "two words"),
    ]);
    let problem = verify::credentials(&a, Some(&bad)).unwrap_err();
    assert_eq!(problem.reason, "SecretKeyInvalid");
    assert!(
        !problem.message.contains("two words"),
        "{}",
        problem.message
    );
    assert!(
        problem.message.contains("APCA_API_SECRET_KEY"),
        "{}",
        problem.message
    );

    let empty = secret(&[("APCA_API_KEY_ID", "A"), ("APCA_API_SECRET_KEY", "\n")]);
    let problem = verify::credentials(&a, Some(&empty)).unwrap_err();
    assert_eq!(problem.reason, "SecretKeyInvalid");
    assert!(
        problem.message.contains("APCA_API_SECRET_KEY") && problem.message.contains("is empty"),
        "{}",
        problem.message
    );
}

#[test]
fn credentials_never_print() {
    let printed = format!("{:?}", Credentials::new(KEY_ID, SECRET_KEY));
    assert!(!printed.contains(KEY_ID) && !printed.contains(SECRET_KEY));
}

#[test]
fn the_account_url_follows_the_environment_unless_an_endpoint_overrides_it() {
    assert_eq!(
        validate::account_url(&alpaca(json!({}))),
        "https://paper-api.alpaca.markets/v2/account"
    );
    assert_eq!(
        validate::account_url(&alpaca(
            json!({"environment": "Live", "liveTradingAcknowledged": true})
        )),
        "https://api.alpaca.markets/v2/account"
    );
    assert_eq!(
        validate::account_url(&alpaca(json!({"endpoint": "http://gateway:8080/alpaca/"}))),
        "http://gateway:8080/alpaca/v2/account"
    );
}

#[test]
fn answers_are_classified_by_status_and_body() {
    let ok = verify::classify(
        200,
        br#"{"status": "ACTIVE", "equity": "100000.5", "trading_blocked": false}"#,
    );
    assert_eq!(
        ok,
        Outcome::Accepted {
            equity: Some("100000.5".to_string()),
            blocked: None
        }
    );
    let blocked = verify::classify(200, br#"{"status": "ACTIVE", "account_blocked": true}"#);
    assert!(matches!(
        blocked,
        Outcome::Accepted {
            blocked: Some(_),
            ..
        }
    ));
    let not_a_number = verify::classify(200, br#"{"equity": "lots"}"#);
    assert_eq!(
        not_a_number,
        Outcome::Accepted {
            equity: None,
            blocked: None
        }
    );

    let refused = verify::classify(
        401,
        br#"{"code": 40110000, "message": "request is not authorized"}"#,
    );
    assert!(
        matches!(&refused, Outcome::Rejected { message } if message.contains("request is not authorized"))
    );
    assert!(matches!(
        verify::classify(403, b""),
        Outcome::Rejected { .. }
    ));
    for transient in [408, 429, 500, 503] {
        assert!(
            verify::classify(transient, b"").is_transient(),
            "{transient}"
        );
    }
    assert!(matches!(
        verify::classify(404, b"not found"),
        Outcome::Unexpected { .. }
    ));
    assert!(matches!(
        verify::classify(200, b"<html>"),
        Outcome::Unexpected { .. }
    ));
}

#[test]
fn redaction_removes_both_credentials() {
    let credentials = Credentials::new(KEY_ID, SECRET_KEY);
    let echoed = format!("bad header {SECRET_KEY} for {KEY_ID}");
    let redacted = verify::redact(&echoed, &credentials);
    assert!(!redacted.contains(SECRET_KEY) && !redacted.contains(KEY_ID));
    assert!(redacted.contains("[redacted]"));
}

#[test]
fn the_broker_is_asked_again_only_when_keys_change_or_the_answer_is_due() {
    let accepted = Outcome::Accepted {
        equity: None,
        blocked: None,
    };
    let last = Verification::new("fp".to_string(), at(0), accepted, verify::REVERIFY_EVERY);
    assert!(verify::is_due(None, "fp", at(0)));
    assert!(!verify::is_due(Some(&last), "fp", at(1)));
    assert!(verify::is_due(Some(&last), "other", at(1)));
    assert!(verify::is_due(Some(&last), "fp", at(600)));
    assert_eq!(last.due_in(at(100)), Duration::from_secs(500));
    assert_eq!(last.due_in(at(700)), Duration::ZERO);

    let unreachable = Outcome::Unreachable {
        message: String::new(),
    };
    let retry = Verification::new("fp".to_string(), at(0), unreachable, Duration::from_secs(4));
    assert!(!verify::is_due(Some(&retry), "fp", at(3)));
    assert!(verify::is_due(Some(&retry), "fp", at(4)));
}

#[test]
fn a_paper_account_is_ready_at_once_without_credentials() {
    let status = compute(None, Check::NotRequired, at(0));
    assert_eq!(
        condition(&status.conditions, "CredentialsValid"),
        ("True", "NotRequired")
    );
    assert_eq!(condition(&status.conditions, "Ready").0, "True");
    assert_eq!(condition(&status.conditions, "Stalled").0, "False");
    assert_eq!(condition(&status.conditions, "Reconciling").0, "False");
    assert_eq!(status.phase.as_deref(), Some("Ready"));
    assert_eq!(status.bound_strategies, ["momo"]);
    assert_eq!(status.bound_strategy_count, Some(1));
    assert_eq!(status.observed_generation, Some(3));
}

#[test]
fn accepted_credentials_record_time_and_equity_and_the_same_answer_writes_nothing_new() {
    let outcome = Outcome::Accepted {
        equity: Some("100000".to_string()),
        blocked: None,
    };
    let first = compute(
        None,
        Check::Answered {
            outcome: &outcome,
            at: at(0),
        },
        at(0),
    );
    assert_eq!(
        condition(&first.conditions, "CredentialsValid"),
        ("True", "Verified")
    );
    assert_eq!(condition(&first.conditions, "Ready"), ("True", "Verified"));
    assert_eq!(first.equity.as_deref(), Some("100000"));
    assert_eq!(first.last_verified_time.as_ref().map(|t| t.0), Some(at(0)));

    // A later reconcile with the remembered answer computes the identical status.
    let again = compute(
        Some(&first),
        Check::Answered {
            outcome: &outcome,
            at: at(0),
        },
        at(30),
    );
    assert_eq!(again, first);
}

#[test]
fn rejected_credentials_stall_with_a_greppable_reason_until_something_changes() {
    let outcome = Outcome::Rejected {
        message: "the broker refused the credentials (HTTP 401: request is not authorized)"
            .to_string(),
    };
    let status = compute(
        None,
        Check::Answered {
            outcome: &outcome,
            at: at(0),
        },
        at(0),
    );
    assert_eq!(
        condition(&status.conditions, "CredentialsValid"),
        ("False", "CredentialsRejected")
    );
    assert_eq!(
        condition(&status.conditions, "Ready"),
        ("False", "CredentialsRejected")
    );
    assert_eq!(
        condition(&status.conditions, "Stalled"),
        ("True", "CredentialsRejected")
    );
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.last_verified_time, None);
}

#[test]
fn an_unreadable_secret_is_reported_on_every_condition() {
    let problem = verify::Problem {
        reason: "SecretNotFound",
        message: "credentialsSecretRef: Secret alpaca-keys not found".to_string(),
    };
    let status = compute(None, Check::Unreadable(problem), at(0));
    assert_eq!(
        condition(&status.conditions, "CredentialsValid"),
        ("False", "SecretNotFound")
    );
    assert_eq!(
        condition(&status.conditions, "Ready"),
        ("False", "SecretNotFound")
    );
    assert_eq!(
        condition(&status.conditions, "Stalled"),
        ("True", "SecretNotFound")
    );
}

#[test]
fn an_unreachable_broker_leaves_the_last_verdict_on_the_credentials_standing() {
    let accepted = Outcome::Accepted {
        equity: Some("5".to_string()),
        blocked: None,
    };
    let verified = compute(
        None,
        Check::Answered {
            outcome: &accepted,
            at: at(0),
        },
        at(0),
    );
    let down = Outcome::Unreachable {
        message: "could not reach the broker".to_string(),
    };
    let status = compute(
        Some(&verified),
        Check::Answered {
            outcome: &down,
            at: at(600),
        },
        at(600),
    );
    assert_eq!(
        condition(&status.conditions, "CredentialsValid"),
        ("True", "Verified")
    );
    assert_eq!(
        condition(&status.conditions, "Ready"),
        ("False", "BrokerUnreachable")
    );
    assert_eq!(
        condition(&status.conditions, "Reconciling"),
        ("True", "BrokerUnreachable")
    );
    assert_eq!(condition(&status.conditions, "Stalled").0, "False");
    // What the broker last said is still the best knowledge of the account.
    assert_eq!(status.equity.as_deref(), Some("5"));
    assert_eq!(status.last_verified_time.as_ref().map(|t| t.0), Some(at(0)));

    // Without an earlier verdict, the credentials are not known to be valid.
    let first = compute(
        None,
        Check::Answered {
            outcome: &down,
            at: at(0),
        },
        at(0),
    );
    assert_eq!(
        condition(&first.conditions, "CredentialsValid"),
        ("False", "BrokerUnreachable")
    );
}

#[test]
fn bound_strategies_are_those_naming_the_account_sorted() {
    let strategy = |name: &str, account: &str| -> TradingStrategy {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": name, "namespace": "desk"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": account}},
        }))
        .unwrap()
    };
    let all = [
        strategy("zeta", "alpaca"),
        strategy("other", "paper"),
        strategy("alpha", "alpaca"),
    ];
    assert_eq!(status::bound_strategies("alpaca", &all), ["alpha", "zeta"]);
    assert!(status::bound_strategies("none", &all).is_empty());
}

#[test]
fn a_paper_account_holds_its_strategies_books_together_and_says_which_environment_it_is() {
    let strategy = |name: &str, account: &str, equity: Option<&str>| -> TradingStrategy {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": name, "namespace": "desk"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": account}},
            "status": equity.map(|e| json!({"equity": e})).unwrap_or(json!({})),
        }))
        .unwrap()
    };
    let all = [
        strategy("a", "paper", Some("100000.00")),
        strategy("b", "paper", Some("99500.25")),
        strategy("c", "paper", None),
        strategy("d", "paper", Some("not a number")),
        strategy("e", "other", Some("5")),
    ];
    let equity = status::paper_equity("paper", &all);
    assert_eq!(equity.as_deref(), Some("199500.25"));
    assert_eq!(status::paper_equity("nobody-reported", &all), None);

    let (status, _) = status::compute(
        &Observation {
            generation: Some(1),
            previous: None,
            check: Check::NotRequired,
            bound_strategies: vec!["a".into(), "b".into()],
            environment: Environment::Paper,
            paper_equity: equity,
        },
        at(0),
    );
    assert_eq!(status.equity.as_deref(), Some("199500.25"));
    assert_eq!(status.environment.as_deref(), Some("Paper"));
    assert_eq!(status.last_verified_time, None, "nothing was verified");
}

// Against the Alpaca stand-in, which checks the two headers as Alpaca does.

#[tokio::test]
async fn valid_credentials_are_accepted_with_the_equity_the_broker_reports() {
    let standin = standins::alpaca::AlpacaStandin::start(KEY_ID, SECRET_KEY)
        .await
        .unwrap();
    let url = format!("{}/v2/account", standin.base_url());
    let outcome = verify::verify(
        &reqwest::Client::new(),
        &url,
        &Credentials::new(KEY_ID, SECRET_KEY),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Accepted {
            equity: Some("100000".to_string()),
            blocked: None
        }
    );
    standin.stop().await;
}

#[tokio::test]
async fn wrong_credentials_are_rejected_and_the_secret_is_nowhere_in_the_status() {
    let standin = standins::alpaca::AlpacaStandin::start(KEY_ID, "the-right-secret")
        .await
        .unwrap();
    let url = format!("{}/v2/account", standin.base_url());
    let outcome = verify::verify(
        &reqwest::Client::new(),
        &url,
        &Credentials::new(KEY_ID, SECRET_KEY),
    )
    .await;
    assert!(matches!(outcome, Outcome::Rejected { .. }), "{outcome:?}");
    let status = compute(
        None,
        Check::Answered {
            outcome: &outcome,
            at: at(0),
        },
        at(0),
    );
    let written = serde_json::to_string(&status).unwrap();
    assert!(written.contains("CredentialsRejected"));
    assert!(!written.contains(SECRET_KEY), "{written}");
    assert!(!written.contains(KEY_ID), "{written}");
    standin.stop().await;
}

#[tokio::test]
async fn a_broker_that_is_down_or_failing_is_transient() {
    let standin = standins::alpaca::AlpacaStandin::start(KEY_ID, SECRET_KEY)
        .await
        .unwrap();
    let url = format!("{}/v2/account", standin.base_url());
    let credentials = Credentials::new(KEY_ID, SECRET_KEY);
    standin.fail_next(1, 503);
    let failing = verify::verify(&reqwest::Client::new(), &url, &credentials).await;
    assert!(failing.is_transient(), "{failing:?}");
    standin.stop().await;

    // Nothing listens there any more.
    let down = verify::verify(&reqwest::Client::new(), &url, &credentials).await;
    assert!(down.is_transient(), "{down:?}");
    let Outcome::Unreachable { message } = down else {
        unreachable!()
    };
    assert!(message.contains("could not reach the broker"), "{message}");
    assert!(!message.contains(SECRET_KEY));
}

#[test]
fn the_validated_account_is_paper_unless_it_says_live_and_asks_the_broker_only_for_alpaca() {
    let paper_broker = validate::validate(&account(json!({"broker": "Paper"})));
    assert_eq!(paper_broker.environment, Environment::Paper);
    assert_eq!(paper_broker.account_url, None);

    let unset = validate::validate(&alpaca(json!({})));
    assert_eq!(unset.environment, Environment::Paper);
    assert_eq!(
        unset.account_url.as_deref(),
        Some("https://paper-api.alpaca.markets/v2/account")
    );
    let live = validate::validate(&alpaca(
        json!({"environment": "Live", "liveTradingAcknowledged": true}),
    ));
    assert_eq!(live.environment, Environment::Live);
}
