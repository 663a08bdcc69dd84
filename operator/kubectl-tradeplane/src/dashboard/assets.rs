//! The page and its files, embedded in the binary (no CDN: the console works offline and
//! serves exactly what was built). The page carries this process's token in a `<meta>` tag;
//! the Content-Security-Policy keeps every script, style and connection on this origin.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Console;

const INDEX: &str = include_str!("../../assets/index.html");
const FILES: [(&str, &str, &str); 7] = [
    (
        "app.js",
        "text/javascript",
        include_str!("../../assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript",
        include_str!("../../assets/api.js"),
    ),
    (
        "overview.js",
        "text/javascript",
        include_str!("../../assets/overview.js"),
    ),
    (
        "resources.js",
        "text/javascript",
        include_str!("../../assets/resources.js"),
    ),
    (
        "strategy.js",
        "text/javascript",
        include_str!("../../assets/strategy.js"),
    ),
    (
        "backtest.js",
        "text/javascript",
        include_str!("../../assets/backtest.js"),
    ),
    (
        "style.css",
        "text/css",
        include_str!("../../assets/style.css"),
    ),
];

/// The charting library (lightweight-charts, Apache-2.0), when the build found it
/// (build.rs).
#[cfg(tradeplane_charts)]
const CHARTS: Option<&str> = Some(include_str!(env!("TRADEPLANE_CHARTS_JS")));
#[cfg(not(tradeplane_charts))]
const CHARTS: Option<&str> = None;

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' \
                      data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                      frame-ancestors 'none'";

/// Whether this build has the charts.
pub fn has_charts() -> bool {
    CHARTS.is_some()
}

/// The page, with this process's token and whether the charts are in.
pub fn page(token: &str) -> String {
    INDEX
        .replace("{{TOKEN}}", token)
        .replace("{{CHARTS}}", if has_charts() { "yes" } else { "no" })
}

pub async fn index(State(console): State<Arc<Console>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page(&console.token),
    )
        .into_response()
}

pub async fn file(Path(name): Path<String>) -> Response {
    let found = FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, body)| (*kind, *body))
        .or_else(|| {
            (name == "lightweight-charts.js")
                .then_some(CHARTS)
                .flatten()
                .map(|body| ("text/javascript", body))
        });
    match found {
        Some((kind, body)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_token_and_no_placeholder() {
        let page = page("t0k3n");
        assert!(page.contains("content=\"t0k3n\""));
        assert!(!page.contains("{{"));
    }

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let page = page("t");
        for (name, _, _) in FILES {
            let named = page.contains(&format!("/assets/{name}"))
                || FILES
                    .iter()
                    .any(|(_, _, body)| body.contains(&format!("./{name}")));
            assert!(named, "{name} is embedded but nothing loads it");
        }
    }
}
