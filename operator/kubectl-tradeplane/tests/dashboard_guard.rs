//! The console's guard over real HTTP: only requests addressed to it are answered, and an
//! action without the page's token or from another origin is refused before anything is
//! asked of the API server. (The API server here is an address nothing listens on: a request
//! the guard lets through fails there, with a 502, which is how the test tells it passed.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up

use std::net::SocketAddr;

use kubectl_tradeplane::dashboard::{Console, Scope, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start() -> (SocketAddr, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bound = listener.local_addr().unwrap();
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let console = Console::new(client, Scope::Namespace("desk".into()), bound);
    let token = console.token.clone();
    tokio::spawn(async move { axum::serve(listener, router(console)).await });
    (bound, token)
}

/// One HTTP/1.1 request; the status code and the body.
async fn ask(
    at: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(at).await.unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn actions_need_the_pages_token_and_origin() {
    let (at, token) = start().await;
    let host = ("Host", at.to_string());
    let origin = ("Origin", format!("http://{at}"));
    let suspend = "/api/v1/strategies/desk/momo/actions/suspend";

    let (status, page) = ask(at, "GET", "/", std::slice::from_ref(&host)).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("content=\"{token}\"")), "{page}");

    let (status, body) = ask(at, "POST", suspend, &[host.clone(), origin.clone()]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("token"), "{body}");

    let wrong = ("X-Tradeplane-Token", "0".repeat(64));
    let (status, _) = ask(at, "POST", suspend, &[host.clone(), origin.clone(), wrong]).await;
    assert_eq!(status, 403);

    let ours = ("X-Tradeplane-Token", token.clone());
    let elsewhere = ("Origin", "http://evil.example".to_string());
    let (status, body) = ask(
        at,
        "POST",
        suspend,
        &[host.clone(), elsewhere, ours.clone()],
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // Token and origin right: the guard lets it through to the (absent) API server.
    let (status, body) = ask(at, "POST", suspend, &[host.clone(), origin, ours]).await;
    assert_eq!(status, 502, "{body}");
}

#[tokio::test]
async fn only_requests_addressed_to_the_console_are_answered() {
    let (at, _) = start().await;
    let (status, _) = ask(
        at,
        "GET",
        "/",
        &[("Host", format!("rebound.example:{}", at.port()))],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = ask(
        at,
        "GET",
        "/",
        &[("Host", format!("localhost:{}", at.port()))],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = ask(
        at,
        "GET",
        "/api/v1/strategies/other/x",
        &[("Host", at.to_string())],
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("-n other or -A"), "{body}");
}

/// The head of an answer (lower-cased) and its body; with `head_only`, what arrived with the
/// head (the event stream never ends).
async fn ask_raw(
    at: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    head_only: bool,
) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(at).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = |answer: &[u8]| answer.windows(4).position(|w| w == b"\r\n\r\n");
    loop {
        let read = stream.read(&mut chunk).await.unwrap();
        answer.extend_from_slice(&chunk[..read]);
        if read == 0 || (head_only && head_end(&answer).is_some()) {
            break;
        }
    }
    let split = head_end(&answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
    (head, answer[split + 4..].to_vec())
}

#[tokio::test]
async fn answers_are_gzipped_for_a_browser_that_takes_it_but_not_the_event_stream() {
    let (at, _) = start().await;
    let host = ("Host", at.to_string());
    let gzip = ("Accept-Encoding", "gzip, deflate, br".to_string());
    let (plain_head, plain) = ask_raw(
        at,
        "/assets/strategy.js",
        std::slice::from_ref(&host),
        false,
    )
    .await;
    assert!(!plain_head.contains("content-encoding"), "{plain_head}");
    let (head, packed) = ask_raw(
        at,
        "/assets/strategy.js",
        &[host.clone(), gzip.clone()],
        false,
    )
    .await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
    // Chunked framing aside, the gzipped answer is far smaller than the file.
    assert!(
        packed.len() < plain.len() / 2,
        "{} of {}",
        packed.len(),
        plain.len()
    );
    let (events, _) = ask_raw(at, "/api/v1/events", &[host, gzip], true).await;
    assert!(events.contains("text/event-stream"), "{events}");
    assert!(!events.contains("content-encoding"), "{events}");
}
