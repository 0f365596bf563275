//! The pages in a real browser: Debian's Chromium, headless, driven by its ChromeDriver over
//! the W3C WebDriver protocol (plain JSON over HTTP), against a running `spx sandbox` (its
//! registries loaded, its scenarios played): sign in as the admin it prints, open the
//! dashboard, drill down a region (htmx swaps the districts in), open a beneficiary the
//! scenarios enrolled, check a citizen's status on a phone-sized window. Each step saves a
//! screenshot under `<target>/tmp/browser/`.
//!
//! It needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs them). Without them the test is listed as ignored,
//! unless `SPX_REQUIRE_BROWSER=1` (as in CI) turns their absence into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::cli::Sandbox;
use crate::support::{TempDir, runtime};
use crate::web::paid_person;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub const TESTS: &[(&str, crate::PlainTest)] = &[(
    "browser::sign_in_dashboard_drill_down_beneficiary_and_citizen_status",
    sign_in_dashboard_drill_down_beneficiary_and_citizen_status,
)];

/// Whether the browser tests can run here.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// Whether CI requires them to.
pub fn required() -> bool {
    std::env::var("SPX_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// The WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session at a ChromeDriver.
struct Browser {
    http: reqwest::Client,
    session: String,
    shots: PathBuf,
}

impl Browser {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        ensure!(status.is_success(), "{path}: HTTP {status}: {answer}");
        Ok(answer["value"].clone())
    }

    async fn go(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    async fn find(&self, css: &str) -> Result<String> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .with_context(|| format!("no element {css}"))?;
        found[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{css}: {found}"))
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let element = self.find(css).await?;
        let path = format!("/element/{element}/value");
        self.call(reqwest::Method::POST, &path, Some(json!({"text": text})))
            .await
            .map(drop)
    }

    async fn click(&self, css: &str) -> Result<()> {
        let element = self.find(css).await?;
        let path = format!("/element/{element}/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await
            .map(drop)
    }

    async fn source(&self) -> Result<String> {
        let source = self.call(reqwest::Method::GET, "/source", None).await?;
        Ok(source.as_str().unwrap_or_default().to_string())
    }

    async fn url(&self) -> Result<String> {
        let url = self.call(reqwest::Method::GET, "/url", None).await?;
        Ok(url.as_str().unwrap_or_default().to_string())
    }

    /// Waits (5 s at most) until the page's source contains `text`.
    async fn wait_for(&self, text: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let source = self.source().await?;
            if source.contains(text) {
                return Ok(source);
            }
            ensure!(
                Instant::now() < deadline,
                "the page never showed {text:?}:\n{source}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot as `<name>.png`; its path.
    async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().context("a screenshot")?)?;
        ensure!(bytes.starts_with(b"\x89PNG"), "{name} is not a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, bytes)?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    async fn window(&self, width: u32, height: u32) -> Result<()> {
        let rect = json!({"width": width, "height": height});
        self.call(reqwest::Method::POST, "/window/rect", Some(rect))
            .await
            .map(drop)
    }
}

/// Starts ChromeDriver on a free port and opens a headless Chromium session (with the flags
/// this machine's closed network needs); the driver process and the session.
async fn open_browser(profile: &Path) -> Result<(crate::cli::Running, Browser)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting chromedriver")?;
    let driver = crate::cli::Running(driver);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.get(format!("{base}/status")).send().await.is_err() {
        ensure!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let capabilities = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    }}});
    let response = http
        .post(format!("{base}/session"))
        .json(&capabilities)
        .send()
        .await?;
    let answer: Value = response.json().await?;
    let id = answer["value"]["sessionId"]
        .as_str()
        .ok_or_else(|| anyhow!("no session: {answer}"))?;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots)?;
    let browser = Browser {
        http,
        session: format!("{base}/session/{id}"),
        shots,
    };
    Ok((driver, browser))
}

/// People in the sandbox the browser test drives (as many as `cli::sandbox_…` uses).
const PEOPLE: usize = 3000;

fn sign_in_dashboard_drill_down_beneficiary_and_citizen_status() -> Result<()> {
    let dir = TempDir::new("browser-sandbox");
    let sandbox = Sandbox::serve(&dir.0, PEOPLE)?;
    let base = sandbox.pages();
    let password = sandbox.password()?.to_string();
    // The sandbox's population, generated again from its seed (42, the default).
    let data = synth::Dataset::generate(&synth::Config {
        people: PEOPLE,
        seed: 42,
        today: time::OffsetDateTime::now_utc().date(),
    });
    runtime().block_on(async {
        let profile = TempDir::new("chromium");
        let (_driver, browser) = open_browser(&profile.0).await?;
        browser.window(1280, 1400).await?;

        // Sign in: the staff page sends a stranger to the login form.
        browser.go(&format!("{base}/dashboard")).await?;
        browser.wait_for("Staff sign-in").await?;
        ensure!(browser.url().await?.ends_with("/login"));
        browser.type_into("input[name=username]", "admin").await?;
        browser.type_into("input[name=password]", &password).await?;
        browser.screenshot("1-login").await?;
        browser.click("form.card button[type=submit]").await?;
        let dashboard = browser
            .wait_for("Coverage of the integrated beneficiary registry")
            .await?;
        ensure!(dashboard.contains("<svg"), "the charts are drawn");
        browser.screenshot("2-dashboard").await?;

        // Drill down: htmx swaps the region's districts in and puts the region in the URL.
        browser.click("#places a[hx-get]").await?;
        let districts = browser.wait_for("Districts of").await?;
        ensure!(districts.contains("All regions"));
        let url = browser.url().await?;
        ensure!(url.contains("/dashboard?region="), "htmx pushed the region: {url}");
        browser.screenshot("3-districts").await?;

        // A beneficiary the sandbox's scenarios enrolled: the programme's list, then the first
        // one's history, with the decision and the civil registry's facts behind it.
        browser.go(&format!("{base}/programmes/OAA")).await?;
        browser.wait_for("/programmes/OAA/beneficiaries/").await?;
        browser
            .click("a[href^='/programmes/OAA/beneficiaries/']")
            .await?;
        let history = browser.wait_for("aged 65 or more").await?;
        ensure!(
            history.contains("birth_date = ")
                && history.contains("deceased = false, from crvs: Person UIN="),
            "the decision names its facts and where they came from: {history}"
        );
        browser.screenshot("4-beneficiary").await?;
        browser.click("header form button").await?;
        browser.wait_for("Staff sign-in").await?;

        // A citizen on a phone: a wrong birth date shows nothing, the right one everything.
        browser.window(390, 844).await?;
        let (uin, born, name) = paid_person(&data)?;
        let look_up = |born: String| {
            let (browser, base, uin) = (&browser, &base, &uin);
            async move {
                browser.go(&format!("{base}/status")).await?;
                browser.type_into("input[name=uin]", uin).await?;
                // A date input takes its value in the browser's locale; set it as the form
                // sends it.
                browser
                    .call(
                        reqwest::Method::POST,
                        "/execute/sync",
                        Some(json!({
                            "script": "document.querySelector('input[name=birth_date]').value = arguments[0]",
                            "args": [born],
                        })),
                    )
                    .await?;
                browser.click("form.card button[type=submit]").await
            }
        };
        look_up((born + time::Duration::days(1)).to_string()).await?;
        let refused = browser.wait_for("do not match").await?;
        ensure!(!refused.contains(&name), "nothing shown with a wrong birth date");
        look_up(born.to_string()).await?;
        let status = browser.wait_for("Who looked at your records").await?;
        ensure!(status.contains(&name) && status.contains("USD "), "{status}");
        let width = browser
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "return document.documentElement.scrollWidth", "args": []})),
            )
            .await?;
        ensure!(
            width.as_i64().is_some_and(|w| w <= 390),
            "the page fits a phone's width (scrollWidth {width})"
        );
        browser.screenshot("5-citizen-status-phone").await?;
        browser.call(reqwest::Method::DELETE, "", None).await?;
        Ok(())
    })
}
