//! What keeps the console the user's own: it listens on loopback unless told otherwise, it
//! answers only requests addressed to it by the name it printed (a page on another site that
//! rebinds a DNS name to 127.0.0.1 sends another Host), and it acts only on POSTs carrying
//! the token it embedded in its own page and coming from its own origin (another site's page
//! can send a POST to localhost, but cannot read the token nor forge the Origin).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Console;
use super::error::ApiFailure;

/// The header the page sends its token in.
pub const TOKEN_HEADER: &str = "x-tradeplane-token";

/// Where to listen: loopback, unless `--address` names another address. Refuses a
/// non-loopback address that did not come from `--address`.
pub fn listen_address(explicit: Option<IpAddr>) -> IpAddr {
    explicit.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// A fresh random token for this process: 32 bytes from the OS's generator, as hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Host values this console answers to: the address it listens on with its port, and
/// `localhost:PORT` when that address is loopback.
pub fn allowed_hosts(bound: SocketAddr) -> Vec<String> {
    let mut hosts = vec![bound.to_string()];
    if bound.ip().is_loopback() {
        hosts.push(format!("localhost:{}", bound.port()));
    }
    hosts
}

/// Whether a request may be answered at all: its Host is one of ours.
pub fn host_allowed(headers: &HeaderMap, hosts: &[String]) -> bool {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(h)))
}

/// Why a state-changing request is refused, if it is: no or a wrong token, or an Origin
/// that is not this console's. Browsers send Origin on every POST, so one that is missing
/// is refused too.
pub fn action_refusal(headers: &HeaderMap, token: &str, hosts: &[String]) -> Option<&'static str> {
    let sent = headers.get(TOKEN_HEADER).and_then(|t| t.to_str().ok());
    if !sent.is_some_and(|t| same(t.as_bytes(), token.as_bytes())) {
        return Some("the request does not carry this console's token; reload the page");
    }
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let ours = origin.is_some_and(|o| {
        hosts
            .iter()
            .any(|h| o.eq_ignore_ascii_case(&format!("http://{h}")))
    });
    if !ours {
        return Some("the request does not come from this console's page");
    }
    None
}

/// Compares without stopping at the first difference, so the time taken says nothing about
/// how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: every request must name this console as its Host; every request that is
/// not a GET or HEAD must pass [`action_refusal`].
pub async fn check(
    State(console): State<std::sync::Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    if !host_allowed(request.headers(), &console.hosts) {
        return ApiFailure::new(
            StatusCode::FORBIDDEN,
            "this console answers only to the address it printed; open that URL",
        )
        .into_response();
    }
    let reads = request.method() == Method::GET || request.method() == Method::HEAD;
    if !reads && let Some(why) = action_refusal(request.headers(), &console.token, &console.hosts) {
        return ApiFailure::new(StatusCode::FORBIDDEN, why).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        map
    }

    #[test]
    fn the_default_address_is_loopback() {
        assert!(listen_address(None).is_loopback());
        let any: IpAddr = "0.0.0.0".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(listen_address(Some(any)), any);
    }

    #[test]
    fn tokens_are_long_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn only_our_host_is_answered() {
        let hosts = allowed_hosts(
            "127.0.0.1:9898"
                .parse()
                .unwrap_or(SocketAddr::from(([0; 4], 0))),
        );
        assert!(host_allowed(
            &headers(&[("host", "127.0.0.1:9898")]),
            &hosts
        ));
        assert!(host_allowed(
            &headers(&[("host", "localhost:9898")]),
            &hosts
        ));
        assert!(!host_allowed(
            &headers(&[("host", "evil.example:9898")]),
            &hosts
        ));
        assert!(!host_allowed(
            &headers(&[("host", "127.0.0.1:9899")]),
            &hosts
        ));
        assert!(!host_allowed(&HeaderMap::new(), &hosts));
    }

    #[test]
    fn an_action_needs_the_token_and_our_origin() {
        let hosts = vec!["127.0.0.1:9898".to_string()];
        let good = [
            ("x-tradeplane-token", "abc"),
            ("origin", "http://127.0.0.1:9898"),
        ];
        assert_eq!(action_refusal(&headers(&good), "abc", &hosts), None);
        let no_token = [("origin", "http://127.0.0.1:9898")];
        assert!(
            action_refusal(&headers(&no_token), "abc", &hosts).is_some_and(|w| w.contains("token"))
        );
        let wrong = [
            ("x-tradeplane-token", "abd"),
            ("origin", "http://127.0.0.1:9898"),
        ];
        assert!(action_refusal(&headers(&wrong), "abc", &hosts).is_some());
        let other_site = [
            ("x-tradeplane-token", "abc"),
            ("origin", "http://evil.example"),
        ];
        assert!(
            action_refusal(&headers(&other_site), "abc", &hosts)
                .is_some_and(|w| w.contains("page"))
        );
        let no_origin = [("x-tradeplane-token", "abc")];
        assert!(action_refusal(&headers(&no_origin), "abc", &hosts).is_some());
    }
}
