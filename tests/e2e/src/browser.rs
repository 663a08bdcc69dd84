//! A real headless Chromium (Debian's `chromium` package), driven over the DevTools protocol:
//! just enough of it for the dashboard's tests — open a page, evaluate JavaScript in it, wait
//! for a condition, emulate a screen size, take a screenshot.
//!
//! Chromium is started with its own throw-away profile and `--remote-debugging-port=0`; the
//! port it picked is read from its stderr, the page's websocket from `/json/list`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Where Debian puts it; `CHROMIUM` overrides.
pub fn chromium_binary() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

pub struct Browser {
    child: Child,
    profile: std::path::PathBuf,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium at 1280×800 and attaches to its first page.
    pub async fn start() -> anyhow::Result<Self> {
        let profile = std::env::temp_dir().join(format!("tp-chromium-{}", rand::random::<u64>()));
        let mut child = Command::new(chromium_binary())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromium; install it with `apt-get install -y chromium`")?;
        let stderr = child.stderr.take().context("chromium's stderr")?;
        let port = devtools_port(stderr).await?;
        let socket_url = page_socket(port).await?;
        let (socket, _) = tokio_tungstenite::connect_async(socket_url.as_str()).await?;
        let mut browser = Self {
            child,
            profile,
            socket,
            next_id: 0,
        };
        browser.call("Page.enable", json!({})).await?;
        browser.call("Runtime.enable", json!({})).await?;
        // The window's size includes headless Chromium's notional frame: set the page's own.
        browser.screen(1280, 800, false).await?;
        Ok(browser)
    }

    /// One DevTools command; its result (events that arrive meanwhile are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.socket.send(Message::text(request.to_string())).await?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(60), self.socket.next())
                .await
                .with_context(|| format!("{method}: no answer in 60s"))?
                .ok_or_else(|| anyhow!("chromium closed the DevTools socket"))??;
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text)?;
            if answer["id"] != id {
                continue;
            }
            if let Some(error) = answer.get("error") {
                bail!("{method} failed: {error}");
            }
            return Ok(answer["result"].clone());
        }
    }

    pub async fn navigate(&mut self, url: &str) -> anyhow::Result<()> {
        self.call("Page.navigate", json!({"url": url})).await?;
        Ok(())
    }

    /// Evaluates `expression` (awaiting a promise) and returns its value as JSON.
    pub async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await?;
        if let Some(thrown) = result.get("exceptionDetails") {
            bail!("{expression}: threw {thrown}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Evaluates `expression` every 100 ms until it is truthy; returns its value.
    pub async fn wait_for(&mut self, expression: &str, within: Duration) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let value = self.eval(expression).await.unwrap_or(Value::Null);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return Ok(value);
            }
            if started.elapsed() > within {
                bail!("not true after {within:?}: {expression}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Emulates a screen of `width`×`height` CSS pixels (a phone with `mobile`).
    pub async fn screen(&mut self, width: u32, height: u32, mobile: bool) -> anyhow::Result<()> {
        let params =
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.call("Emulation.setDeviceMetricsOverride", params)
            .await?;
        Ok(())
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) -> anyhow::Result<()> {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = shot["data"].as_str().context("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
        Ok(())
    }
}

/// "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" on stderr.
async fn devtools_port(stderr: tokio::process::ChildStderr) -> anyhow::Result<u16> {
    let mut lines = BufReader::new(stderr).lines();
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                let port = rest.split('/').next().unwrap_or_default().parse()?;
                // Keep draining stderr so chromium never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Ok(port);
            }
        }
        bail!("chromium ended without a DevTools address")
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .context("chromium gave no DevTools address in 30s")?
}

async fn page_socket(port: u16) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await?
            .json()
            .await?;
        let page = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str());
        if let Some(url) = page {
            return Ok(url.to_string());
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("chromium has no page target: {targets}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
