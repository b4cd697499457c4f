//! Black-box: the dashboard in a real browser. A fresh SQLite file is loaded with `nic-ledger demo`,
//! the real binary serves it, a viewer token is made with the command line, and headless Chromium
//! opens `/#token=…`: the overview's scorecard, the driver diagram (an SVG graph with the demo's
//! change ideas) and a run chart show the demo's data; text users wrote is shown as text, never
//! run; a PDSA cycle planned through the API shows on the open page within 2 seconds without a
//! reload; the replay control shows the diagram and the timeline as of a past date. Every view the
//! test visits passes axe-core's WCAG 2.1 A and AA rules, whatever their impact, and its
//! label-content-name-mismatch check.
//! Screenshots are left in the target directory (`dashboard.png`, and one per view).
//!
//! Chromium is driven through chromedriver (WebDriver) with fantoccini. The test fails, never
//! skips, when Chromium, chromedriver or axe-core is missing (`scripts/test` installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, SubsecRound, Utc};
use common::Server;
use fantoccini::{error::CmdError, wd::WebDriverCompatibleCommand, Client, ClientBuilder};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// axe-core, installed by `npm ci` in `tests/browser` (`scripts/test` runs it).
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/axe-core/axe.min.js"
);
const WIDTH: u32 = 1400;
const HEIGHT: u32 = 1000;

/// Headless Chromium on a fresh profile, driven by chromedriver on a free port.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    chromedriver: Child,
    profile: PathBuf,
    /// The accessibility violations found, by view.
    violations: Vec<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium; then chromedriver goes.
        if let Some(client) = self.client.take() {
            let close =
                async { tokio::time::timeout(Duration::from_secs(10), client.close()).await };
            let _ = self.rt.block_on(close);
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// chromedriver's own command that reads (and empties) the log of the page's console.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

impl Browser {
    fn launch() -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing; scripts/test installs it (as root: apt-get install -y {package})"
            );
        }
        let profile =
            std::env::temp_dir().join(format!("nic-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // Dates in the page are shown and read in UTC, as the test computes them.
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut b = Browser {
            rt,
            client: None,
            chromedriver,
            profile,
            violations: Vec::new(),
        };
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    // Screenshots of the page, not of a scrollbar; the layout is the full width.
                    "--hide-scrollbars",
                    format!("--window-size={WIDTH},{HEIGHT}"),
                    format!("--user-data-dir={}", b.profile.display()),
                ],
            },
            // The page's console, uncaught exceptions included, kept for `errors`.
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let client = b.rt.block_on(
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.as_object().unwrap().clone())
                .connect(&format!("http://127.0.0.1:{port}")),
        );
        b.client = Some(client.expect("a chromedriver session"));
        b.set_viewport(WIDTH, HEIGHT);
        b
    }

    /// Runs one WebDriver call to its end.
    fn block<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<T, CmdError>>,
    ) -> T {
        self.rt
            .block_on(call)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn navigate(&self, url: &str) {
        self.block(url, self.client().goto(url));
    }

    /// Runs JavaScript statements in the page.
    fn run(&self, script: &str) {
        self.block(script, self.client().execute(script, vec![]));
    }

    /// Evaluates a JavaScript expression in the page and returns its value (a promise's, once it
    /// settles).
    fn eval(&self, expression: &str) -> Value {
        let script = format!("return ({expression});");
        self.block(expression, self.client().execute(&script, vec![]))
    }

    /// Polls `expression` until it is true (an exception, say of a page still loading, counts as
    /// not yet); returns how long that took.
    fn wait_for(&self, what: &str, expression: &str, within: Duration) -> Duration {
        let start = Instant::now();
        let guarded = format!("(() => {{ try {{ return ({expression}) === true; }} catch (_) {{ return false; }} }})()");
        loop {
            if self.eval(&guarded) == json!(true) {
                return start.elapsed();
            }
            if start.elapsed() > within {
                let text = self.eval("document.body.innerText.slice(0, 3000)");
                panic!("not within {within:?}: {what}\npage text: {text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sets the address's fragment (the dashboard's hash routing) and waits for the view.
    fn show(&self, hash: &str, ready: &str) {
        self.run(&format!("location.hash = {}", json!(hash)));
        self.wait_for(hash, ready, Duration::from_secs(20));
    }

    /// Runs axe-core on the page as it is; keeps its serious and critical violations.
    fn audit(&mut self, view: &str) {
        if self.eval("typeof axe === 'undefined'") == json!(true) {
            let axe = std::fs::read_to_string(AXE).unwrap_or_else(|e| {
                panic!("{AXE}: {e}; run `npm ci` in crates/nic-ledger/tests/browser (scripts/test does)")
            });
            self.run(&axe);
        }
        // Every WCAG 2.0/2.1 A and AA rule, whatever its impact, and the experimental check that
        // a control's accessible name starts with its visible text.
        let found = self.eval(
            "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice', 'experimental'] } })
                .then(r => r.violations
                .filter(v => v.tags.some(t => t.startsWith('wcag')) || v.id === 'label-content-name-mismatch')
                .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`))",
        );
        for v in found.as_array().unwrap() {
            self.violations
                .push(format!("{view}: {}", v.as_str().unwrap()));
        }
    }

    /// The page's uncaught exceptions and console errors since the last call.
    fn errors(&self) -> Vec<String> {
        let log = self.block("the browser log", self.client().issue_cmd(BrowserLog));
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .filter(|e| e["source"] == "javascript" || e["source"] == "console-api")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Sizes the window so that the page's viewport is `width` × `height`.
    fn set_viewport(&self, width: u32, height: u32) {
        let frame = self.eval("[outerWidth - innerWidth, outerHeight - innerHeight]");
        let frame = |i: usize| frame[i].as_u64().unwrap() as u32;
        let size = self
            .client()
            .set_window_size(width + frame(0), height + frame(1));
        self.block("resize the window", size);
    }

    /// The page as printed (its print styles), a PDF in the target directory; its page count.
    fn print(&self, name: &str) -> (PathBuf, usize) {
        let pdf = self.block(
            "print",
            self.client()
                .print(fantoccini::wd::PrintConfiguration::default()),
        );
        assert!(pdf.starts_with(b"%PDF"), "a PDF");
        let pages = pdf
            .windows(11)
            .filter(|w| w == b"/Type /Page" || w == b"/Type/Page\n")
            .count()
            - pdf.windows(12).filter(|w| w == b"/Type /Pages").count();
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, pdf).unwrap();
        (path, pages)
    }

    /// Opens the sign-in link of `token` (the token in the fragment) and waits for `ready`.
    fn sign_in(&self, base: &str, token: &str, what: &str, ready: &str) {
        self.navigate(&format!("{base}/#token={token}"));
        self.wait_for(what, ready, Duration::from_secs(30));
    }

    /// A PNG of what the window shows, in the target directory.
    fn screenshot_window(&self, name: &str) -> PathBuf {
        let png = self.block("screenshot", self.client().screenshot());
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    /// A PNG of the whole page (at most 4000 pixels high), in the target directory.
    fn screenshot(&self, name: &str) -> PathBuf {
        let height = self.eval("document.documentElement.scrollHeight");
        self.set_viewport(WIDTH, height.as_u64().unwrap().min(4000) as u32);
        let png = self.block("screenshot", self.client().screenshot());
        self.set_viewport(WIDTH, HEIGHT);
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// A new token from `nic-ledger token create`, with its role, name and granted programs.
fn create_token(db: &str, role: &str, name: &str, programs: &[&str]) -> String {
    let mut args = vec![
        "token",
        "create",
        "--role",
        role,
        "--name",
        name,
        "--database-url",
        db,
    ];
    for p in programs {
        args.extend(["--program", p]);
    }
    cli(&args).trim().to_string()
}

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nic-ledger {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A JavaScript expression: does the element `selector` exist and hold `text`?
fn holds(selector: &str, text: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector({}); return !!e && e.textContent.includes({}); }})()",
        json!(selector),
        json!(text)
    )
}

/// The time of the last event in the log.
fn last_event_time(s: &Server) -> DateTime<Utc> {
    let head = s.get("/api/v1/projections").json()["head"]
        .as_u64()
        .unwrap();
    let page = s
        .get(&format!("/api/v1/events?after={}&limit=1", head - 1))
        .json();
    page["events"][0]["recorded_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The texts of the page's charts that reach outside their drawing (clipped), as "chart: text".
const LABELS_OUTSIDE_THEIR_CHART: &str = "(() => { const out = []; \
    for (const svg of document.querySelectorAll('#run-chart-svg, #control-chart-svg, svg.small-multiple')) { \
      const r = svg.getBoundingClientRect(); \
      for (const t of svg.querySelectorAll('text')) { \
        const b = t.getBoundingClientRect(); \
        if (b.left < r.left - 0.5 || b.right > r.right + 0.5 || b.top < r.top - 0.5 || b.bottom > r.bottom + 0.5) \
          out.push(`${svg.id || svg.getAttribute('aria-label')}: ${t.textContent}`); } } \
    return out; })()";

/// The elements that reach past the window's right edge (a page wider than the screen), outermost
/// first, as `tag#id.class`; nothing inside a scrolling box counts.
const WIDER_THAN_THE_WINDOW: &str = "(() => { const out = []; \
    for (const el of document.body.querySelectorAll('*')) { \
      if (el.closest('.scroll, .board, .diagram-wrap, .chart-wrap') && !el.matches('.scroll, .board, .diagram-wrap, .chart-wrap')) continue; \
      const r = el.getBoundingClientRect(); \
      if (r.width > 0 && r.right > innerWidth + 0.5) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}`); } \
    return out.slice(0, 8); })()";

/// A script that types `pairs` (element id, value) into a form's fields as a person would (each
/// field told of the change), then submits the form `submit` names, if any.
fn fill(pairs: &[(&str, &str)], submit: Option<&str>) -> String {
    let pairs: Vec<Value> = pairs.iter().map(|(k, v)| json!([k, v])).collect();
    format!(
        "(() => {{ for (const [id, v] of {}) {{ const el = document.getElementById(id); \
           el.value = v; el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input')); }} \
           const form = {}; if (form) document.querySelector(form).requestSubmit(); }})()",
        json!(pairs),
        json!(submit)
    )
}

#[test]
fn the_dashboard_shows_the_demo_live_and_as_of_a_past_date() {
    // The demo, then the server: the demo leaves no token, so serve prints the first admin token.
    let db = common::fresh_database(common::Db::Sqlite);
    cli(&["demo", "--database-url", &db]);
    let s = common::start_with(&db);
    assert!(
        s.token.starts_with("nic_"),
        "serve prints a first admin token on a demo database"
    );
    let viewer = create_token(&db, "viewer", "wall-screen", &[]);
    assert!(viewer.starts_with("nic_"), "{viewer}");

    // The page and its assets are public, embedded, with cache headers and a strict CSP.
    let page = s.raw("GET", "/", &[("Authorization", "")], b"");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    let etag = page.header("etag").unwrap().to_string();
    let again = s.raw(
        "GET",
        "/",
        &[("Authorization", ""), ("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(again.status, 304);
    let js_href = page
        .body
        .split('"')
        .find(|p| p.starts_with("/assets/app.js?v="))
        .expect("the page names app.js by its hash")
        .to_string();
    let js = s.raw("GET", &js_href, &[("Authorization", "")], b"");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let unversioned = s.raw("GET", "/assets/app.css", &[("Authorization", "")], b"");
    assert_eq!(
        unversioned.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(unversioned.header("cache-control"), Some("no-cache"));
    s.raw("GET", "/assets/nothing.js", &[("Authorization", "")], b"")
        .problem(404, "not-found");
    // The data is not public.
    s.raw("GET", "/api/v1/networks", &[("Authorization", "")], b"")
        .problem(401, "unauthorized");

    // What the demo holds, read through the API.
    let network = s.get("/api/v1/networks").json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let n = format!("/api/v1/networks/{network}");
    let diagram = s.get(&format!("{n}/driver-diagram")).json();
    let nodes = diagram["nodes"].as_array().unwrap();
    let idea = nodes
        .iter()
        .filter(|n| n["kind"] == "change_idea")
        .max_by_key(|n| n["evidence"]["programs"].as_array().map_or(0, Vec::len))
        .unwrap();
    let idea_id = idea["id"].as_str().unwrap().to_string();
    let idea_title = idea["title"].as_str().unwrap().to_string();
    let program = idea["evidence"]["programs"][0]["program_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secondary = nodes.iter().find(|n| n["kind"] == "secondary").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let measure = &s.get(&format!("{n}/measures")).json()["items"][1];
    let measure_id = measure["id"].as_str().unwrap().to_string();
    let measure_name = measure["title"].as_str().unwrap().to_string();
    let chart = s
        .get(&format!("/api/v1/measures/{measure_id}/run-chart"))
        .json();
    let points = chart["points"].as_array().unwrap().len();
    // One program's point excluded, with its reason: the network-wide chart marks the period.
    let contribution = &chart["points"][3]["contributions"][0];
    s.ok(
        &format!(
            "/api/v1/measures/{measure_id}/data-points/{}/exclude",
            contribution["point_id"].as_str().unwrap()
        ),
        &json!({"reason": "Counted twice in the export"}),
    );
    let excluded_program = contribution["program_id"].as_str().unwrap().to_string();

    // Text a user wrote that would be markup if it were parsed as HTML.
    let hostile = r#"<img src=x id=xss-probe onerror="document.title='owned'"> peer huddles"#;
    s.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": hostile, "serves": [{"node_id": secondary}]}),
    );

    let mut b = Browser::launch();
    let base = format!("http://{}", s.addr);

    // Without a token the page asks for one, in a labelled form, and refuses a wrong one.
    b.navigate(&format!("{base}/"));
    b.wait_for(
        "the token form",
        "!document.querySelector('#token-panel').hidden && document.querySelector('label[for=\"token-input\"]').textContent.includes('token')",
        Duration::from_secs(20),
    );
    b.audit("the token form");
    b.run("document.querySelector('#token-input').value = 'nic_not_a_token'; document.querySelector('#token-form').requestSubmit()");
    b.wait_for(
        "the wrong token refused",
        &holds("#token-error", "refused"),
        Duration::from_secs(10),
    );

    // A link with the token: the page keeps it and takes it out of the address bar.
    b.sign_in(
        &base,
        &viewer,
        "the overview's scorecard",
        "!!document.querySelector('.scorecard td a')",
    );
    assert_eq!(b.eval("location.href.includes('nic_')"), json!(false));
    assert_eq!(
        b.eval("localStorage.getItem('nic-ledger.token')"),
        json!(viewer)
    );
    assert!(b
        .eval("document.querySelector('#ov-h').textContent")
        .as_str()
        .unwrap()
        .contains("STEM PUSH"));
    b.wait_for(
        "the scorecard names the measure",
        &holds(".scorecard", &measure_name),
        Duration::from_secs(5),
    );
    b.wait_for(
        "the live feed is connected",
        &holds("#live-status", "Live"),
        Duration::from_secs(10),
    );
    b.audit("the overview");
    let overview = b.screenshot("dashboard-overview.png");

    // The driver diagram: an SVG graph, change ideas as links, strong and weak links drawn apart.
    b.show("#/diagram", &holds("#diagram-svg", &idea_title));
    let ideas = b.eval("document.querySelectorAll('#diagram-svg a[href^=\"#/diagram/\"]').length");
    assert!(ideas.as_u64().unwrap() >= 10, "{ideas} change ideas drawn");
    assert_eq!(
        b.eval("!!document.querySelector('#diagram-svg path.link.strong') && !!document.querySelector('#diagram-svg path.link.weak')"),
        json!(true)
    );
    // The hostile title shows as text and made no element.
    b.wait_for(
        "the hostile title as text",
        &holds("#diagram-svg", "<img src=x id=xss-probe"),
        Duration::from_secs(5),
    );
    assert_eq!(
        b.eval(
            "document.getElementById('xss-probe') === null && !document.title.includes('owned')"
        ),
        json!(true)
    );
    // Keyboard: a change idea is a real link that takes focus.
    assert_eq!(
        b.eval("(() => { const a = document.querySelector('#diagram-svg a[href^=\"#/diagram/\"]'); a.focus(); return document.activeElement === a; })()"),
        json!(true)
    );
    b.audit("the driver diagram");
    let diagram_png = b.screenshot("dashboard-diagram.png");

    // A change idea's evidence leads to its cycles.
    b.show(
        &format!("#/diagram/{idea_id}"),
        &holds("#idea-h", &idea_title),
    );
    let cycle_links = b.eval("document.querySelectorAll('.detail a[href^=\"#/cycles/\"]').length");
    assert!(cycle_links.as_u64().unwrap() >= 1, "{cycle_links}");
    b.audit("a change idea");
    b.run("document.querySelector('.detail a[href^=\"#/cycles/\"]').click()");
    b.wait_for(
        "a cycle's page",
        "!!document.querySelector('#cy-h') && document.body.textContent.includes('Plan')",
        Duration::from_secs(10),
    );
    // Names, never ids: the change idea it tests is named by its title, linked to the diagram.
    assert_eq!(
        b.eval(&format!(
            "(() => {{ const a = document.querySelector('#cy-h').parentElement\
             .querySelector('a[href=\"#/diagram/{idea_id}\"]'); return a && a.textContent; }})()"
        )),
        json!(idea_title)
    );
    // Its measures by name, linked to the program's run chart of each; its ramp's neighbours.
    let cycle_id = b.eval("location.hash.split('/')[2]");
    let cycle = s
        .get(&format!(
            "/api/v1/pdsa-cycles/{}",
            cycle_id.as_str().unwrap()
        ))
        .json();
    let plan = &cycle["planned"];
    assert_eq!(
        b.eval("[...document.querySelectorAll('#cy-h ~ dl a[href^=\"#/measures/\"]')].map(a => a.getAttribute('href').split('/')[2])"),
        plan["plan"]["measure_ids"],
    );
    assert_eq!(
        b.eval("document.body.textContent.includes('no longer listed')"),
        json!(false)
    );
    if let Some(previous) = plan["previous_cycle_id"].as_str() {
        assert_eq!(
            b.eval(&format!(
                "!!document.querySelector('#cy-h ~ dl a[href=\"#/cycles/{previous}\"]')"
            )),
            json!(true)
        );
    }
    b.audit("a cycle");
    let cycle_png = b.screenshot("dashboard-cycle.png");
    // The worksheet prints on one or two pages, without the forms around it.
    let (cycle_pdf, pages) = b.print("dashboard-cycle.pdf");
    assert!(
        (1..=2).contains(&pages),
        "the cycle's worksheet prints on one or two pages: {pages}"
    );

    // The PDSA register, filtered to the change idea: the rows the API lists, with names, and
    // the CSV of the same list (fetched as the page's button fetches it).
    let register = s
        .get(&format!(
            "{n}/pdsa-register?change_idea_id={idea_id}&limit=500"
        ))
        .json();
    let total = register["total"].as_u64().unwrap();
    assert!(total >= 1, "{register}");
    b.show(
        &format!("#/register?change_idea_id={idea_id}"),
        &holds("#rg-table caption", &format!("{total} cycle")),
    );
    let shown = b.eval("document.querySelectorAll('#rg-table tbody tr').length");
    assert_eq!(shown, json!(total.min(50)));
    assert_eq!(
        b.eval("document.querySelector('#rg-table tbody tr td:nth-child(3) a').textContent"),
        json!(idea_title)
    );
    b.audit("the PDSA register");
    let register_png = b.screenshot("dashboard-register.png");
    b.run("document.querySelector('#rg-csv').click()");
    b.wait_for(
        "the register's CSV downloaded",
        &holds("#rg-csv-status", "downloaded"),
        Duration::from_secs(10),
    );
    let csv_lines = b.eval(&format!(
        "fetch('{n}/pdsa-register?format=csv&change_idea_id={idea_id}', {{ headers: \
         {{ Authorization: 'Bearer ' + localStorage.getItem('nic-ledger.token') }} }})\
         .then(r => r.text()).then(t => t.trim().split('\\n').length)"
    ));
    assert_eq!(
        csv_lines,
        json!(total + 1),
        "a header and one row per cycle"
    );

    // The standards matrix: a row per program, a column per standard, as the API has them.
    let matrix = s.get(&format!("{n}/standards-matrix")).json();
    let (rows, columns) = (
        matrix["programs"].as_array().unwrap().len(),
        matrix["standards"].as_array().unwrap().len(),
    );
    assert!(rows > 0 && columns > 0, "{matrix}");
    b.show(
        "#/standards",
        "!!document.querySelector('#sm-table tbody tr')",
    );
    assert_eq!(
        b.eval("[document.querySelectorAll('#sm-table tbody tr').length, document.querySelectorAll('#sm-table thead th').length - 1]"),
        json!([rows, columns])
    );
    let first_program = matrix["programs"][0]["program_name"].as_str().unwrap();
    assert_eq!(
        b.eval("document.querySelector('#sm-table tbody th a').textContent"),
        json!(first_program)
    );
    b.audit("the standards matrix");
    let matrix_png = b.screenshot("dashboard-standards.png");
    let (matrix_pdf, pages) = b.print("dashboard-standards.pdf");
    assert!(
        (1..=3).contains(&pages),
        "the matrix prints on a page or three: {pages}"
    );

    // The syntheses: the list, then one with everything it cites, by name.
    let syntheses = s.get(&format!("{n}/syntheses")).json();
    let items = syntheses["items"].as_array().unwrap();
    assert!(!items.is_empty(), "the demo publishes syntheses");
    b.show("#/syntheses", "!!document.querySelector('#sy-list li')");
    assert_eq!(
        b.eval("document.querySelectorAll('#sy-list li').length"),
        json!(items.len())
    );
    b.audit("the syntheses");
    let synthesis = s
        .get(&format!(
            "/api/v1/syntheses/{}",
            items[0]["id"].as_str().unwrap()
        ))
        .json();
    let sy = &synthesis["synthesis"];
    b.run("document.querySelector('#sy-list a').click()");
    b.wait_for(
        "a synthesis",
        &holds("#sy1-h", sy["title"].as_str().unwrap()),
        Duration::from_secs(10),
    );
    let count = |key: &str| sy[key].as_array().map_or(0, Vec::len);
    assert_eq!(
        b.eval("['#sy-cycles', '#sy-measures', '#sy-nodes'].map((id) => document.querySelector(id).parentElement.querySelectorAll('li').length)"),
        json!([count("cycle_ids"), count("measure_ids"), count("node_ids")])
    );
    assert_eq!(
        b.eval("document.body.textContent.includes('no longer on record')"),
        json!(false),
        "every citation is named"
    );
    b.audit("a synthesis");
    let synthesis_png = b.screenshot("dashboard-synthesis.png");

    // A program's evidence packet: its standards, every cycle of its board, the measures it
    // reports; it prints on a few pages.
    let board = s
        .get(&format!("/api/v1/programs/{program}/pdsa-board"))
        .json();
    let cycles: usize = ["planned", "doing", "studying", "acted", "abandoned"]
        .iter()
        .map(|c| board["columns"][c].as_array().unwrap().len())
        .sum();
    let portfolio = s
        .get(&format!("/api/v1/programs/{program}/portfolio"))
        .json();
    b.show(
        &format!("#/programs/{program}/packet"),
        "!!document.querySelector('#ep-h') && !!document.querySelector('#pf-h')",
    );
    assert_eq!(
        b.eval("[document.querySelectorAll('#pf-h ~ div table tbody tr').length, document.querySelectorAll('#ep-cycles tbody tr').length, document.querySelectorAll('#ep-measures tbody tr').length > 0]"),
        json!([portfolio["standards"].as_array().unwrap().len(), cycles, true])
    );
    b.audit("an evidence packet");
    // The packet as one CSV table, from the API as of the same point, downloaded from the page.
    b.run("document.querySelector('#ep-csv').click()");
    b.wait_for(
        "the packet's CSV downloaded",
        &holds("#ep-status", ".csv downloaded"),
        Duration::from_secs(10),
    );
    let packet_png = b.screenshot("dashboard-packet.png");
    let (packet_pdf, pages) = b.print("dashboard-packet.pdf");
    assert!(
        (1..=6).contains(&pages),
        "the packet prints on a few pages: {pages}"
    );

    // A run chart: every point drawn, the median, the PDSA cycles at their periods, the signals.
    b.show(
        &format!("#/measures/{measure_id}"),
        &holds("#rc-h", &measure_name),
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#run-chart-svg .point').length"),
        json!(points)
    );
    assert_eq!(
        b.eval("!!document.querySelector('#run-chart-svg path.median') && document.querySelectorAll('#run-chart-svg .cycle-mark').length > 0 && document.querySelectorAll('.signals button').length > 0"),
        json!(true)
    );
    // Selecting a signal highlights its points.
    b.run("document.querySelector('.signals button').click()");
    b.wait_for(
        "the signal's points highlighted",
        "document.querySelectorAll('#run-chart-svg .highlighted').length > 0",
        Duration::from_secs(10),
    );
    // The control chart of the same points: centre line, limits, the points the rules flag.
    assert_eq!(
        b.eval("!!document.querySelector('#control-chart-svg path.ucl') && !!document.querySelector('#control-chart-svg path.centre') && document.querySelectorAll('#control-chart-svg .cpoint').length > 0"),
        json!(true)
    );
    // Small multiples: the measure for every program that reported it, each a link to its chart.
    let reporting = chart["points"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["contributions"].as_array().unwrap())
        .map(|c| c["program_id"].as_str().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(
        b.eval("document.querySelectorAll('.multiples a.multiple svg.small-multiple').length"),
        json!(reporting)
    );
    b.audit("a run chart");
    let chart_png = b.screenshot("dashboard-run-chart.png");
    // Its CSV button downloads (an error in the page would show in the log checked at the end).
    b.run("document.querySelector('#rc-csv').click()");

    // Every chart of every measure draws its labels whole: each text lies inside its drawing.
    for (k, m) in s.get(&format!("{n}/measures")).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let id = m["id"].as_str().unwrap();
        b.show(
            &format!("#/measures/{id}"),
            &format!(
                "{} && !!document.querySelector('#control-chart-svg')",
                holds("#rc-h", m["title"].as_str().unwrap())
            ),
        );
        assert_eq!(
            b.eval(LABELS_OUTSIDE_THEIR_CHART),
            json!([]),
            "labels cut off on the charts of {}",
            m["title"]
        );
        b.screenshot(&format!("dashboard-measure-{k}.png"));
    }

    // One program reports the current month: the network point is provisional, drawn hollow,
    // left out of the analysis, and says how many programs reported.
    let last = chart["points"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(chart["period_kind"], "month");
    let due = last["programs_due"].as_u64().unwrap();
    assert!(due >= 2, "{last}");
    assert_eq!(last["provisional"], false, "the demo's months are complete");
    let reporter = last["contributions"][0]["program_id"].as_str().unwrap();
    let this_month = Utc::now().format("%Y-%m").to_string();
    let numbers = if chart["scale"] == "ratio" {
        json!({"numerator": 7, "denominator": 10})
    } else {
        json!({"value": 7})
    };
    let mut body = json!({"program_id": reporter, "period": this_month});
    body.as_object_mut()
        .unwrap()
        .extend(numbers.as_object().unwrap().clone());
    let before_chart = s
        .get(&format!("/api/v1/measures/{measure_id}/run-chart"))
        .json();
    s.ok(&format!("/api/v1/measures/{measure_id}/data-points"), &body);
    let now_chart = s
        .get(&format!("/api/v1/measures/{measure_id}/run-chart"))
        .json();
    let newest = now_chart["points"].as_array().unwrap().last().unwrap();
    assert_eq!(newest["period"], json!(this_month));
    assert_eq!(newest["provisional"], true);
    assert_eq!(newest["programs_reported"], 1);
    assert_eq!(newest["programs_due"], due);
    let judged = |c: &Value| -> Vec<(Value, Value)> {
        c["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ph| (ph["analysis"]["median"].clone(), ph["signals"].clone()))
            .collect()
    };
    assert_eq!(
        judged(&now_chart),
        judged(&before_chart),
        "a provisional point changes no median and no signal"
    );
    let reported = format!("1 of {due}");
    b.show(
        &format!("#/measures/{measure_id}"),
        "!!document.querySelector('#run-chart-svg .point.provisional')",
    );
    assert_eq!(b.eval(&holds("#run-chart-svg", &reported)), json!(true));
    assert_eq!(b.eval(LABELS_OUTSIDE_THEIR_CHART), json!([]));
    b.audit("a run chart with a provisional point");
    let provisional_png = b.screenshot("dashboard-run-chart-provisional.png");
    b.show(
        "#/",
        &holds(
            ".scorecard",
            &format!("{this_month} provisional: {reported}"),
        ),
    );

    // Recording in the browser: the hub's token, a program's page, its data-entry form. The
    // measure is picked by name with its definition beside it; nobody types an id.
    b.sign_in(
        &base,
        &s.token,
        "the overview with the hub's token",
        "!!document.querySelector('.scorecard td a')",
    );
    b.show(
        &format!("#/programs/{reporter}"),
        "!!document.querySelector('#de-grid')",
    );
    b.run(&format!(
        "(() => {{ const m = document.querySelector('#de-measure'); m.value = {}; m.dispatchEvent(new Event('change')); }})()",
        json!(measure_id)
    ));
    b.wait_for(
        "the measure's definition beside the grid",
        &format!(
            "{} && {}",
            holds("#de-definition", "Numerator"),
            holds("#de-grid caption", &measure_name)
        ),
        Duration::from_secs(10),
    );
    // An earlier period, typed into a row of its own.
    b.run("document.querySelector('#de-add-row').click()");
    b.wait_for(
        "a row for an earlier period",
        "document.querySelector('#dg-0-period').value === ''",
        Duration::from_secs(10),
    );
    // A numerator above its denominator: refused beside its cell, with what was typed kept.
    b.run(&fill(
        &[
            ("dg-0-period", "2024-09"),
            ("dg-0-numerator", "30"),
            ("dg-0-denominator", "20"),
        ],
        Some("#de-form"),
    ));
    b.wait_for(
        "the refusal beside the numerator",
        "document.querySelector('#dg-0-err-numerator').textContent.length > 0",
        Duration::from_secs(10),
    );
    assert_eq!(
        b.eval("[document.querySelector('#dg-0-numerator').value, document.querySelector('#dg-0-period').value, document.querySelector('#dg-0-numerator').getAttribute('aria-invalid')]"),
        json!(["30", "2024-09", "true"])
    );
    b.audit("the data-entry grid with a refusal");
    b.run(&fill(&[("dg-0-numerator", "12")], Some("#de-form")));
    b.wait_for(
        "the data point recorded",
        &holds("#de-result", "Recorded 1 of 1"),
        Duration::from_secs(10),
    );
    let own = s
        .get(&format!(
            "/api/v1/measures/{measure_id}/run-chart?program_id={reporter}"
        ))
        .json();
    let recorded = own["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == "2024-09")
        .expect("the point recorded in the browser is on the program's chart");
    assert_eq!(
        (
            recorded["numerator"].clone(),
            recorded["denominator"].clone()
        ),
        (json!(12.0), json!(20.0))
    );
    b.audit("the data-entry grid");
    let entry_png = b.screenshot("dashboard-data-entry.png");

    // Planning a cycle in the browser: the change idea picked by its title, two questions with
    // their predictions; a plan ending before it starts is refused beside the end date.
    let plan_title = "Check-ins by text message";
    b.run(&fill(
        &[
            ("pc-title", plan_title),
            ("pc-scale", "two mentors, six students"),
            ("pc-planned_start", "2026-12-07"),
            ("pc-planned_end", "2026-12-01"),
            (
                "pc-plan-objective",
                "See whether a text reminder gets check-ins done",
            ),
            (
                "pc-plan-questions-0-question",
                "Will students answer the text?",
            ),
            ("pc-plan-questions-0-prediction", "Five of six will."),
            (
                "pc-plan-questions-1-question",
                "Will mentors log the check-ins?",
            ),
            ("pc-plan-questions-1-prediction", "Yes, with the reminder."),
        ],
        None,
    ));
    b.run(&format!(
        "(() => {{ const box = [...document.querySelectorAll('#pc-change_idea_ids label')].find((l) => l.textContent.includes({})).querySelector('input'); box.click(); document.querySelector('#pc-form').requestSubmit(); }})()",
        json!(idea_title)
    ));
    b.wait_for(
        "the refusal beside the end date",
        "document.querySelector('#pc-err-planned_end').textContent.length > 0",
        Duration::from_secs(10),
    );
    assert_eq!(
        b.eval("[document.querySelector('#pc-title').value, document.querySelector('#pc-plan-questions-1-prediction').value, document.querySelector('#pc-change_idea_ids input:checked') !== null]"),
        json!([plan_title, "Yes, with the reminder.", true]),
        "a refused plan keeps what was typed"
    );
    b.audit("the plan form with a refusal");
    b.run(&fill(&[("pc-planned_end", "2026-12-20")], Some("#pc-form")));
    b.wait_for(
        "the cycle planned",
        &holds("#pc-result", "Planned"),
        Duration::from_secs(10),
    );
    let cycles = s
        .get(&format!("/api/v1/programs/{reporter}/pdsa-cycles"))
        .json();
    assert!(
        cycles["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["title"] == plan_title),
        "{cycles}"
    );
    b.audit("the plan form");
    let plan_png = b.screenshot("dashboard-plan.png");

    // The rest of the worksheet on the cycle's page: start, do, study (a result per question
    // beside its prediction), act.
    let planned = cycles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"] == plan_title)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.show(
        &format!("#/cycles/{planned}"),
        &holds("#st-h", "Start the test"),
    );
    b.audit("the cycle's start form");
    b.run("document.querySelector('#st-form').requestSubmit()");
    b.wait_for(
        "the Do form",
        &holds("#st-h", "Do"),
        Duration::from_secs(10),
    );
    b.run(&fill(
        &[(
            "st-what_happened",
            "Six texts went out; five students answered within a day.",
        )],
        Some("#st-form"),
    ));
    b.wait_for(
        "the Study form",
        &holds("#st-h", "Study"),
        Duration::from_secs(10),
    );
    b.audit("the cycle's study form");
    let study_png = b.screenshot("dashboard-cycle-study.png");
    b.run(&fill(
        &[
            ("st-results-0-result", "Five of six answered."),
            ("st-results-1-result", "Mentors logged four of five."),
            ("st-results-1-prediction_held", "partly"),
            ("st-summary", "Texts work; logging needs a nudge."),
        ],
        Some("#st-form"),
    ));
    b.wait_for(
        "the Act form",
        &holds("#st-h", "Act"),
        Duration::from_secs(10),
    );
    b.run(&fill(
        &[
            ("st-decision", "adapt"),
            ("st-reason", "Answers came; logging lagged."),
            ("st-next_cycle", "Add a logging reminder to the text."),
        ],
        Some("#st-form"),
    ));
    b.wait_for(
        "the cycle closed",
        "!document.querySelector('#st-form') && document.querySelector('.badge').textContent === 'acted'",
        Duration::from_secs(10),
    );
    let closed = s.get(&format!("/api/v1/pdsa-cycles/{planned}")).json();
    assert_eq!(closed["phase"], "acted");
    assert_eq!(closed["act"]["decision"], "adapt");
    assert_eq!(closed["study"]["results"][1]["prediction_held"], "partly");
    b.audit("a cycle acted on in the browser");

    // An admin erases the decision's reason (written by mistake): the page shows it erased.
    let stream = s.get(&format!("/api/v1/streams/pdsa-{planned}")).json();
    let act = stream
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "PdsaActDecided")
        .unwrap()["event_id"]
        .clone();
    let erased = s.post(
        "/api/v1/erasures",
        &json!({"subject": {"kind": "field", "event_id": act, "field": "/act/reason"},
                "basis": "mistake"}),
    );
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.json()["fields"], 1);
    b.show("#/syntheses", "!!document.querySelector('#sy-list li')");
    // The page's live feed quoted the reason in a timeline sentence: the read models are folded
    // again and the feed is told to drop what it holds.
    b.show(
        &format!("#/cycles/{planned}"),
        "document.body.textContent.includes('[erased]') \
         && !document.body.textContent.includes('Answers came; logging lagged.')",
    );
    let erased_png = b.screenshot("dashboard-erased.png");
    b.audit("a cycle with an erased field");

    // The next cycle of the ramp, from the pre-filled form: same ideas and questions, new
    // predictions and dates; it builds on the cycle just adapted.
    b.run("document.querySelector('#cy-next').click()");
    b.wait_for(
        "the next cycle's plan, pre-filled",
        "!!document.querySelector('#pc-previous') && document.querySelector('#pc-plan-questions-0-question').value.length > 0",
        Duration::from_secs(10),
    );
    assert_eq!(
        b.eval("[document.querySelector('#pc-h').textContent, document.querySelector('#pc-plan-objective').value, document.querySelectorAll('#pc-change_idea_ids input:checked').length]"),
        json!(["Plan cycle 2 of the ramp", "Add a logging reminder to the text.", 1])
    );
    let next_png = b.screenshot("dashboard-next-cycle.png");
    b.run(&fill(
        &[
            ("pc-title", "Check-ins with a logging reminder"),
            ("pc-planned_start", "2026-12-21"),
            ("pc-planned_end", "2027-01-10"),
            ("pc-plan-questions-0-prediction", "Five of six will, again."),
            (
                "pc-plan-questions-1-prediction",
                "All five mentors will log.",
            ),
        ],
        Some("#pc-form"),
    ));
    b.wait_for(
        "the next cycle planned",
        &holds("#pc-result", "Planned"),
        Duration::from_secs(10),
    );
    let board = s
        .get(&format!("/api/v1/programs/{reporter}/pdsa-board"))
        .json();
    let ramp = board["ramps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cycles"][0]["cycle_id"] == json!(planned))
        .expect("the adapted cycle's ramp");
    let numbers: Vec<&Value> = ramp["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["cycle_number"])
        .collect();
    assert_eq!(numbers, [&json!(1), &json!(2)], "{ramp}");
    assert_eq!(ramp["cycles"][1]["previous_cycle_id"], json!(planned));
    b.audit("the next cycle's plan");

    // A facilitator of that program signs in from a link and sees what needs them: every overdue
    // cycle of the program, every cycle waiting for its Study and Act.
    let facilitator = create_token(&db, "facilitator", "Reporter's facilitator", &[reporter]);
    b.sign_in(
        &base,
        &facilitator,
        "the overview with the facilitator's token",
        "!!document.querySelector('.scorecard td a')",
    );
    b.show(
        "#/mine",
        "!!document.querySelector('.needs, #my-h + p + section, section h3')",
    );
    let overdue = s
        .get(&format!(
            "{n}/pdsa-register?program_id={reporter}&overdue=true&limit=500"
        ))
        .json();
    let board = s
        .get(&format!("/api/v1/programs/{reporter}/pdsa-board"))
        .json();
    let studying = board["columns"]["studying"].as_array().unwrap().len();
    let needs = b.eval("[...document.querySelectorAll('.needs li')].map((li) => li.textContent)");
    let needs = needs.as_array().unwrap();
    for row in overdue["rows"].as_array().unwrap() {
        let title = row["cycle"]["title"].as_str().unwrap();
        assert!(
            needs.iter().any(|t| t.as_str().unwrap().starts_with(title)),
            "{title} is overdue: {needs:?}"
        );
    }
    assert!(needs.len() >= overdue["total"].as_u64().unwrap() as usize + studying);
    assert_eq!(
        b.eval("document.querySelector('#my-h').textContent"),
        json!("My work, Reporter's facilitator")
    );
    b.audit("a facilitator's work");
    let mine_png = b.screenshot("dashboard-my-work.png");

    // Another program's adopted cycle, started afresh in the facilitator's own: the plan
    // pre-filled from it, the dates and predictions their own, the origin cited on both pages.
    let register = s
        .get(&format!("{n}/pdsa-register?decision=adopt&limit=500"))
        .json();
    let original = register["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["program"]["id"] != reporter)
        .expect("an adopted cycle of another program");
    let original_id = original["cycle"]["cycle_id"].as_str().unwrap().to_string();
    let original_title = original["cycle"]["title"].as_str().unwrap().to_string();
    b.show(
        &format!("#/cycles/{original_id}"),
        "!!document.querySelector('#cy-adapt-submit')",
    );
    b.audit("another program's cycle, to adapt");
    b.run("document.querySelector('#cy-adapt-submit').click()");
    b.wait_for(
        "the adapted plan, pre-filled",
        &format!(
            "{} && document.querySelector('#pc-title').value === {}",
            holds("#pc-previous", "Adapted from"),
            json!(original_title)
        ),
        Duration::from_secs(10),
    );
    let start = (Utc::now().date_naive() + Span::days(3)).to_string();
    let end = (Utc::now().date_naive() + Span::days(17)).to_string();
    b.run(
        "(() => { for (const i of document.querySelectorAll('[id^=\"pc-plan-questions-\"][id$=\"-prediction\"]')) { i.value = 'We expect the same.'; i.dispatchEvent(new Event('input')); } })()",
    );
    b.run(&fill(
        &[("pc-planned_start", &start), ("pc-planned_end", &end)],
        Some("#pc-form"),
    ));
    b.wait_for(
        "the adapted cycle planned",
        &holds("#pc-result", "Planned"),
        Duration::from_secs(10),
    );
    let adapted = s
        .get(&format!("/api/v1/programs/{reporter}/pdsa-cycles"))
        .json();
    let adapted_id = adapted["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|c| c["title"] == original_title.as_str())
        .expect("the adapted cycle in the facilitator's program")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cycle = s.get(&format!("/api/v1/pdsa-cycles/{adapted_id}")).json();
    assert_eq!(
        cycle["planned"]["adapted_from_cycle_id"],
        json!(original_id)
    );
    b.show(
        &format!("#/cycles/{adapted_id}"),
        &holds("#cy-origin", &original_title),
    );
    b.audit("a cycle adapted from another program's");

    // The facilitator abandons the cycle just planned: without a reason it is refused beside the
    // field; with one, the cycle closes.
    let second = board["ramps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["cycles"].as_array().unwrap())
        .find(|c| c["previous_cycle_id"] == json!(planned))
        .expect("the ramp's second cycle")["cycle_id"]
        .as_str()
        .unwrap()
        .to_string();
    b.show(
        &format!("#/cycles/{second}"),
        "!!document.querySelector('#ab summary')",
    );
    b.run("document.querySelector('#ab summary').click(); document.querySelector('#ab-form').requestSubmit()");
    b.wait_for(
        "the refusal beside the reason",
        "document.querySelector('#ab-err-reason').textContent.length > 0",
        Duration::from_secs(10),
    );
    b.audit("the abandon form with a refusal");
    b.run(&fill(
        &[(
            "ab-reason",
            "The mentors' schedule changed for the holidays.",
        )],
        Some("#ab-form"),
    ));
    b.wait_for(
        "the cycle abandoned",
        "!document.querySelector('#ab-form') && document.querySelector('.badge').textContent === 'abandoned'",
        Duration::from_secs(10),
    );
    let abandoned_cycle = s.get(&format!("/api/v1/pdsa-cycles/{second}")).json();
    assert_eq!(abandoned_cycle["phase"], "abandoned");
    assert_eq!(
        abandoned_cycle["abandoned"]["reason"],
        "The mentors' schedule changed for the holidays."
    );
    assert!(
        abandoned_cycle["abandoned"]["in_phase"] == "planned",
        "{abandoned_cycle}"
    );

    // An admissions office signs in from its link: the program's standing on the standards and
    // a verification code, which checks out from the page; nothing else of the network shows.
    let office = create_token(
        &db,
        "admissions",
        "State University admissions",
        &[reporter],
    );
    b.sign_in(
        &base,
        &office,
        "the admissions statement",
        "!!document.querySelector('#ad-code-0')",
    );
    let statement = s
        .get(&format!("/api/v1/programs/{reporter}/admissions"))
        .json();
    assert_eq!(
        b.eval("[document.querySelector('#ad-h-0').textContent, document.querySelector('#ad-code-0').textContent, ...['#nav', '#tools', '#live'].map((q) => getComputedStyle(document.querySelector(q)).display)]"),
        json!([statement["program_name"], statement["verification"]["code"], "none", "none", "none"])
    );
    let met = statement["standards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["meets"] == true)
        .count();
    assert_eq!(
        b.eval("document.querySelectorAll('.standing li').length"),
        json!(met)
    );
    b.run("document.querySelector('#ad-check-0').click()");
    b.wait_for(
        "the code checked",
        "document.querySelector('#ad-result-0').textContent.startsWith('Verified.')",
        Duration::from_secs(10),
    );
    b.audit("an admissions statement");
    let admissions_png = b.screenshot("dashboard-admissions.png");
    // Back to the hub's token for the rest.
    b.sign_in(
        &base,
        &s.token,
        "the overview with the hub's token again",
        "!!document.querySelector('.scorecard td a')",
    );

    // A stale edit: the page shows a planned cycle; someone else starts it meanwhile; the page's
    // own start is refused (If-Match), nothing is written twice, and the newer version is shown.
    let planned_row = s
        .get(&format!("{n}/pdsa-register?phase=planned&limit=500"))
        .json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["program"]["id"] != json!(reporter))
        .expect("a planned cycle of another program")
        .clone();
    let stale = planned_row["cycle"]["cycle_id"]
        .as_str()
        .unwrap()
        .to_string();
    b.show(
        &format!("#/cycles/{stale}"),
        &holds("#st-h", "Start the test"),
    );
    // The person fills the form in (a form being filled in is not refreshed under them).
    b.run(&fill(
        &[(
            "st-started_on",
            planned_row["cycle"]["planned_start"].as_str().unwrap(),
        )],
        None,
    ));
    let elsewhere = s.post(
        &format!("/api/v1/pdsa-cycles/{stale}/start"),
        &json!({"started_on": planned_row["cycle"]["planned_start"]}),
    );
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
    b.run("document.querySelector('#st-form').requestSubmit()");
    b.wait_for(
        "the stale edit refused and the newer version shown",
        "!!document.querySelector('#cy-notice') && document.querySelector('#st-h').textContent.startsWith('Do')",
        Duration::from_secs(10),
    );
    let after = s.get(&format!("/api/v1/streams/pdsa-{stale}")).json();
    let started = after
        .as_array()
        .or(after["events"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "PdsaCycleStarted")
        .count();
    assert_eq!(started, 1, "the stale start wrote nothing");
    b.audit("a stale edit refused");
    let stale_png = b.screenshot("dashboard-stale-edit.png");
    // The program's own chart marks its excluded point, with the reason.
    b.show(
        &format!("#/measures/{measure_id}/{excluded_program}"),
        "document.querySelectorAll('#run-chart-svg .point').length > 0",
    );
    assert_eq!(
        b.eval(&holds(
            "#run-chart-svg .point.excluded",
            "Counted twice in the export"
        )),
        json!(true)
    );
    b.audit("a program's run chart");

    // The timeline, filtered and paged.
    b.show(
        "#/timeline?kind=cycle",
        "document.querySelectorAll('.entries li').length > 0",
    );
    b.run("document.querySelector('#tl-next').click()");
    b.wait_for(
        "the timeline's second page",
        &holds(".pager", "Page 2"),
        Duration::from_secs(10),
    );
    b.audit("the timeline");

    // Live: a program's board is open; a cycle planned through the API shows on it, and in the
    // live feed, within 2 seconds, without a reload.
    b.show(
        &format!("#/programs/{program}"),
        "!!document.querySelector('#pb-h') && !!document.querySelector('.board')",
    );
    b.audit("a program's board");
    b.run("window.__notReloaded = true");
    // The replay below needs a second between the log as it is now and the new cycle.
    let before = last_event_time(&s);
    while Utc::now() < before + Span::milliseconds(2_100) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let title = format!(
        "Live huddle test {}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    s.ok(
        &format!("/api/v1/programs/{program}/pdsa-cycles"),
        &json!({"title": title, "change_idea_ids": [idea_id], "purpose": "test", "scale": "one mentor",
                "planned_start": "2026-11-02", "planned_end": "2026-11-13",
                "plan": {"objective": "See it live", "questions": [{"question": "Shown?", "prediction": "Yes"}]}}),
    );
    let feed = b.wait_for(
        "the new cycle in the live feed",
        &holds("#live-feed", &title),
        Duration::from_secs(2),
    );
    let board = b.wait_for(
        "the new cycle on the open board",
        &holds(".board", &title),
        Duration::from_secs(2) - feed,
    );
    assert_eq!(b.eval("window.__notReloaded === true"), json!(true));
    eprintln!("live: in the feed after {feed:?}, on the board {board:?} later");
    let shot = b.screenshot("dashboard.png");

    // A change idea added after the replayed date.
    let late = format!(
        "Late idea {}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    s.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": late, "serves": [{"node_id": secondary}]}),
    );
    b.show("#/diagram", &holds("#diagram-svg", &late));

    // Replay: as of a second after the log as it was, before the new cycle and the late idea.
    let as_of = before.trunc_subsecs(0) + Span::seconds(1);
    b.run(&format!(
        "document.querySelector('#replay-at').value = {}; document.querySelector('#replay-form').requestSubmit()",
        json!(as_of.format("%Y-%m-%dT%H:%M:%S").to_string())
    ));
    b.wait_for(
        "the diagram as of the past date",
        &format!(
            "!document.querySelector('#replay-banner').hidden && {} && !document.querySelector('#diagram-svg').textContent.includes({})",
            holds("#dd-h", "as the ledger knew it at"),
            json!(late)
        ),
        Duration::from_secs(20),
    );
    assert_eq!(
        b.eval(&holds("#diagram-svg", &idea_title)),
        json!(true),
        "the demo's change ideas were there then"
    );
    assert_eq!(b.eval(&holds("#diff-h", "Changed since then")), json!(true));
    b.audit("the replayed diagram");
    let replay_png = b.screenshot("dashboard-replay.png");
    let program_cycles = format!("#/timeline?program_id={program}&kind=cycle");
    b.show(
        &program_cycles,
        "document.querySelectorAll('.entries li').length > 0",
    );
    assert_eq!(
        b.eval(&holds(".entries", &title)),
        json!(false),
        "the replayed timeline ends before the new cycle"
    );
    b.audit("the replayed timeline");

    // The other clock: the network's work as it stood on a day in the middle of its two years,
    // whenever it was recorded (the demo was recorded today, with its history's dates).
    let mid = "2025-06-15";
    let then = s.get(&format!("{n}/driver-diagram?as_of={mid}")).json();
    let now = s.get(&format!("{n}/driver-diagram")).json();
    let titles = |d: &Value| -> Vec<String> {
        d["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (then_titles, now_titles) = (titles(&then), titles(&now));
    let later = now_titles
        .iter()
        .find(|t| !then_titles.contains(t))
        .expect("the demo's diagram grew after June 2025")
        .clone();
    b.run(&format!(
        "document.querySelector('#replay-clock').value = 'happened'; document.querySelector('#replay-at').value = {}; document.querySelector('#replay-form').requestSubmit()",
        json!(format!("{mid}T12:00:00"))
    ));
    b.show(
        "#/diagram",
        &format!(
            "{} && {} && !document.querySelector('#diagram-svg').textContent.includes({})",
            holds("#dd-h", "as the work stood on"),
            holds("#replay-banner", "what had happened by then"),
            json!(later)
        ),
    );
    let shortest = then_titles.iter().min_by_key(|t| t.len()).unwrap();
    assert_eq!(
        b.eval(&holds("#diagram-svg", shortest)),
        json!(true),
        "the diagram as it stood then"
    );
    b.audit("the diagram as the work stood on a day");
    let replay_day_png = b.screenshot("dashboard-replay-day.png");
    let chart_then = s
        .get(&format!(
            "/api/v1/measures/{measure_id}/run-chart?as_of={mid}"
        ))
        .json();
    let plotted = chart_then["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["plotted"].is_null())
        .count();
    assert!(
        plotted > 3
            && chart_then["points"].as_array().unwrap().last().unwrap()["period"] == "2025-05",
        "{chart_then}"
    );
    b.show(
        &format!("#/measures/{measure_id}"),
        &format!(
            "{} && document.querySelectorAll('#run-chart-svg .point').length === {plotted}",
            holds("#rc-h", "as the work stood on")
        ),
    );
    b.audit("a run chart as the work stood on a day");
    b.show(&program_cycles, &holds("#tl-h", "as the work stood on"));

    // Back to live: the new cycle is in the timeline.
    b.run("document.querySelector('#replay-live').click()");
    b.wait_for(
        "the live timeline",
        &holds(".entries", &title),
        Duration::from_secs(20),
    );

    b.audit("the live timeline");
    // The timeline reads as two years of work: in the order things happened, the charter first,
    // dated by its day in 2024 and saying it was recorded later.
    b.show(
        "#/timeline",
        "document.querySelectorAll('.entries li').length > 0",
    );
    let first = b.eval("document.querySelector('.entries li').textContent");
    let first = first.as_str().unwrap();
    assert!(
        first.contains("2024") && first.contains("chartered") && first.contains("later"),
        "{first}"
    );
    let errors = b.errors();
    assert!(errors.is_empty(), "errors in the page: {errors:?}");
    assert!(
        b.violations.is_empty(),
        "accessibility violations (axe-core, WCAG 2.1 A and AA, any impact):\n{}",
        b.violations.join("\n")
    );
    for p in [
        &overview,
        &diagram_png,
        &chart_png,
        &provisional_png,
        &entry_png,
        &plan_png,
        &study_png,
        &cycle_png,
        &next_png,
        &mine_png,
        &admissions_png,
        &stale_png,
        &erased_png,
        &register_png,
        &matrix_png,
        &synthesis_png,
        &matrix_pdf,
        &packet_png,
        &packet_pdf,
        &cycle_pdf,
        &replay_png,
        &replay_day_png,
        &shot,
    ] {
        eprintln!("screenshot: {}", p.display());
    }
}

/// A script that chooses, in the select `id`, the option whose text holds `text` (as a person
/// picks a name from a list), and tells the form.
fn pick(id: &str, text: &str) -> String {
    format!(
        "(() => {{ const s = document.getElementById({}); \
           s.value = [...s.options].find((o) => o.textContent.includes({})).value; \
           s.dispatchEvent(new Event('change')); }})()",
        json!(id),
        json!(text)
    )
}

/// A script that ticks, in the fieldset `id`, the checkbox whose label holds `text`.
fn tick(id: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#{id} label')].find((l) => l.textContent.includes({})).querySelector('input').click()",
        json!(text)
    )
}

/// A script that clicks the link or button `selector` whose text holds `text`.
fn click(selector: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll({})].find((e) => e.textContent.includes({})).click()",
        json!(selector),
        json!(text)
    )
}

/// The workspace from an empty ledger, as its people use it, with no command line after `serve`
/// and no id typed: the hub signs in, charters the network, states its aim, builds a small
/// driver diagram, defines a measure, enrols a program and gives a facilitator a token; the
/// facilitator signs in from the link, pastes three months of data into the grid, plans a cycle
/// with two questions and their predictions, starts, does, studies and adapts it, plans the next
/// cycle of the ramp from the pre-filled form, and sees both cycles on the board and the data on
/// the run chart. A refused form keeps its input; a stale edit is refused and the newer version
/// shown; axe-core finds nothing on any view. Screenshots of each step are left as
/// `workspace-*.png`.
#[test]
fn the_hub_and_a_facilitator_do_their_work_in_the_browser() {
    let db = common::fresh_database(common::Db::Sqlite);
    let s = common::start_with(&db);
    let base = format!("http://{}", s.addr);
    let mut b = Browser::launch();
    let mut shots = Vec::new();
    let wait = |b: &Browser, what: &str, ready: &str| {
        b.wait_for(what, ready, Duration::from_secs(15));
    };

    // The hub's first sign-in: an empty ledger welcomes it with the charter form.
    b.sign_in(
        &base,
        &s.token,
        "the welcome",
        "!!document.querySelector('#ch-form')",
    );
    b.audit("the welcome");
    shots.push(b.screenshot("workspace-1-welcome.png"));
    b.run(&fill(
        &[
            ("ch-name", "Pittsburgh STEM Network"),
            ("ch-purpose", "Pre-college STEM programs improving together"),
        ],
        Some("#ch-form"),
    ));
    wait(
        &b,
        "the network in the selector",
        &holds("#network-select", "Pittsburgh STEM Network"),
    );
    assert_eq!(
        b.eval("[...document.querySelectorAll('#nav [data-role]')].every((li) => !li.hidden)"),
        json!(true),
        "the hub's views are in the admin's menu"
    );
    b.run(&click("#nav a", "Network setup"));
    wait(
        &b,
        "the network setup",
        "!!document.querySelector('#aim-form')",
    );

    // The aim: a target that is not a number is refused beside it, what was typed kept.
    let statement = "By June 2028, 80% of students complete their STEM course";
    b.run(&fill(
        &[
            ("aim-aim-statement", statement),
            ("aim-aim-what", "STEM course completion"),
            ("aim-aim-for_whom", "Students of the network's programs"),
            ("aim-aim-baseline", "62"),
            ("aim-aim-target", "eighty"),
            ("aim-aim-unit", "percent"),
            ("aim-aim-by_when", "2028-06-30"),
        ],
        Some("#aim-form"),
    ));
    wait(
        &b,
        "the refusal beside the target",
        "document.querySelector('#aim-err-aim-target').textContent.length > 0",
    );
    assert_eq!(
        b.eval("[document.querySelector('#aim-aim-statement').value, document.querySelector('#aim-aim-target').getAttribute('aria-invalid')]"),
        json!([statement, "true"]),
        "a refused form keeps what was typed"
    );
    b.audit("the aim form with a refusal");
    shots.push(b.screenshot("workspace-2-aim-refused.png"));
    b.run(&fill(&[("aim-aim-target", "80")], Some("#aim-form")));
    wait(&b, "the aim stated", &holds("#hub-aim", statement));

    // A small driver diagram: a primary driver, a secondary serving it, a change idea serving
    // the secondary, each picked by name.
    b.run(&fill(
        &[
            ("dr-kind", "primary"),
            ("dr-title", "Students feel they belong"),
        ],
        Some("#dr-form"),
    ));
    wait(
        &b,
        "the primary driver",
        &holds("#hub-nodes", "Students feel they belong"),
    );
    b.run(&fill(
        &[
            ("dr-kind", "secondary"),
            ("dr-title", "Mentors who know each student"),
        ],
        None,
    ));
    b.run(&pick("dr-serves", "Students feel they belong"));
    b.run("document.querySelector('#dr-form').requestSubmit()");
    wait(
        &b,
        "the secondary driver",
        &holds("#hub-nodes", "serves Students feel they belong"),
    );
    b.run(&fill(
        &[
            ("ci-title", "Weekly mentor check-ins"),
            ("ci-definition", "Ten minutes with each student, every week"),
        ],
        None,
    ));
    b.run(&tick("ci-serves", "Mentors who know each student"));
    b.run("document.querySelector('#ci-form').requestSubmit()");
    wait(
        &b,
        "the change idea accepted",
        &holds("#ci-result", "accepted"),
    );
    assert!(b
        .eval("document.querySelector('#hub-nodes').textContent")
        .as_str()
        .unwrap()
        .contains("Weekly mentor check-ins · accepted → serves Mentors who know each student"));

    // An ecosystem, a program enrolled in it, a measure with its operational definition.
    b.run(&fill(
        &[
            ("eco-name", "Pittsburgh STEM Learning Ecosystem"),
            ("eco-region", "Western Pennsylvania"),
        ],
        Some("#eco-form"),
    ));
    wait(
        &b,
        "the enrolment form",
        "!!document.querySelector('#en-form')",
    );
    b.run(&fill(&[("en-name", "Lab Explorers")], None));
    b.run(&pick(
        "en-ecosystem_id",
        "Pittsburgh STEM Learning Ecosystem",
    ));
    b.run("document.querySelector('#en-form').requestSubmit()");
    wait(
        &b,
        "the program enrolled",
        &holds("#hub-pr-h + p + p", "Lab Explorers"),
    );
    b.run(&fill(
        &[
            ("me-name", "Session attendance"),
            (
                "me-description",
                "Share of enrolled students at the month's sessions",
            ),
            ("me-data_type", "proportion"),
            ("me-numerator", "students who attended a session"),
            ("me-denominator", "students enrolled"),
            ("me-unit", "percent"),
            ("me-period", "month"),
        ],
        Some("#me-form"),
    ));
    wait(
        &b,
        "the measure defined",
        &holds("#me-result", "Session attendance"),
    );
    b.run("document.querySelector('#sd-details').open = true");
    b.run(&fill(
        &[
            ("sd-code", "S1"),
            ("sd-title", "Every student has a mentor who knows them"),
        ],
        Some("#sd-form"),
    ));
    wait(
        &b,
        "the standard defined",
        &holds("#sd-result", "Defined S1"),
    );
    b.audit("the network setup");
    shots.push(b.screenshot("workspace-3-network-setup.png"));
    // The README's picture of the workspace (docs/workspace.png): the window as a person sees it.
    b.set_viewport(1200, 820);
    b.run("document.querySelector('#hub-dd-h').closest('section').scrollIntoView()");
    shots.push(b.screenshot_window("workspace.png"));
    b.set_viewport(WIDTH, HEIGHT);

    // A stale edit: the page's revision of the aim was filled in against the aim as it was; the
    // aim was revised meanwhile elsewhere: refused, told, and the newer aim shown.
    b.run("document.querySelector('#aim-details').open = true");
    b.run(&fill(
        &[
            (
                "aim-aim-statement",
                "By June 2028, 85% of students complete their STEM course",
            ),
            ("aim-aim-target", "85"),
            ("aim-reason", "The first year went well"),
        ],
        None,
    ));
    let network = s.get("/api/v1/networks").json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let elsewhere = "By June 2028, 75% of students complete their STEM course";
    let revised = s.post(
        &format!("/api/v1/networks/{network}/aim"),
        &json!({"aim": {"statement": elsewhere, "what": "STEM course completion",
                "for_whom": "Students", "target": 75.0, "unit": "percent", "by_when": "2028-06-30"},
                "reason": "Agreed at the convening"}),
    );
    assert_eq!(revised.status, 200, "{}", revised.body);
    b.run("document.querySelector('#aim-form').requestSubmit()");
    wait(
        &b,
        "the stale revision refused and the newer aim shown",
        &format!(
            "{} && {}",
            holds("#hub-notice", "Someone else changed this record"),
            holds("#hub-aim", elsewhere)
        ),
    );
    let aim = s.get(&format!("/api/v1/networks/{network}")).json()["aim"]["statement"].clone();
    assert_eq!(aim, json!(elsewhere), "the stale revision wrote nothing");
    b.audit("a stale edit refused");
    shots.push(b.screenshot("workspace-4-stale-aim.png"));

    // People: a facilitator's token with no program is refused beside the programs, the name
    // kept; with the program, it is shown once with its sign-in link.
    b.run(&click("#nav a", "People"));
    wait(
        &b,
        "the people page",
        "!!document.querySelector('#tk-form')",
    );
    b.run(&fill(
        &[
            ("tk-name", "Ana Ruiz, Lab Explorers"),
            ("tk-role", "facilitator"),
        ],
        Some("#tk-form"),
    ));
    wait(
        &b,
        "the refusal beside the programs",
        "document.querySelector('#tk-err-programs').textContent.length > 0",
    );
    assert_eq!(
        b.eval("document.querySelector('#tk-name').value"),
        json!("Ana Ruiz, Lab Explorers")
    );
    b.run(&tick("tk-programs", "Lab Explorers"));
    b.run("document.querySelector('#tk-form').requestSubmit()");
    wait(
        &b,
        "the token shown once",
        "!!document.querySelector('#pe-link')",
    );
    let issued_id = s.get("/api/v1/tokens").json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Ana Ruiz, Lab Explorers")
        .unwrap()["token_id"]
        .clone();
    let link = b.eval("document.querySelector('#pe-link').value");
    let link = link.as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{base}/#token=nic_")), "{link}");
    assert!(
        b.eval(&holds("#pe-table", "Ana Ruiz, Lab Explorers")) == json!(true),
        "the new token is listed"
    );
    b.audit("the people page with a new token");
    shots.push(b.screenshot("workspace-5-people.png"));

    // The facilitator signs in from the link; the hub's views are not in their menu.
    b.navigate(&link);
    wait(
        &b,
        "the facilitator's overview",
        &holds("#network-select", "Pittsburgh STEM Network"),
    );
    assert_eq!(b.eval("location.href.includes('nic_')"), json!(false));
    assert_eq!(
        b.eval("[...document.querySelectorAll('#nav [data-role]')].every((li) => li.hidden)"),
        json!(true)
    );
    b.run(&click("#nav a", "My work"));
    wait(&b, "my work", &holds("#my-h", "Ana Ruiz"));
    b.run(&click("#view a", "Lab Explorers"));
    wait(
        &b,
        "the program's grid",
        "!!document.querySelector('#dg-5-numerator')",
    );

    // Three months pasted from a spreadsheet: a block of periods, numerators and denominators.
    let months: Vec<String> = (1..=3)
        .rev()
        .map(|k| {
            let d = Utc::now().date_naive() - chrono::Months::new(k);
            d.format("%Y-%m").to_string()
        })
        .collect();
    let block = format!(
        "{}\t18\t24\n{}\t20\t25\n{}\t21\t24\n",
        months[0], months[1], months[2]
    );
    b.run(&format!(
        "(() => {{ const dt = new DataTransfer(); dt.setData('text/plain', {}); \
           document.querySelector('#dg-0-numerator').dispatchEvent(new ClipboardEvent('paste', {{ clipboardData: dt, bubbles: true, cancelable: true }})); }})()",
        json!(block)
    ));
    wait(
        &b,
        "the pasted cells in their periods' rows",
        "[...document.querySelectorAll('#de-grid input')].filter((i) => i.value === '20' || i.value === '25').length === 2",
    );
    b.audit("the data grid, pasted");
    shots.push(b.screenshot("workspace-6-pasted.png"));
    b.run("document.querySelector('#de-form').requestSubmit()");
    wait(
        &b,
        "three points recorded",
        &holds("#de-result", "Recorded 3 of 3"),
    );
    let measure = s
        .get(&format!("/api/v1/networks/{network}/measures"))
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let me = s
        .get(&format!("/api/v1/networks/{network}/programs"))
        .json();
    let program = me["items"][0]["id"].as_str().unwrap().to_string();
    let chart = s
        .get(&format!(
            "/api/v1/measures/{measure}/run-chart?program_id={program}"
        ))
        .json();
    let points: Vec<(String, f64, f64)> = chart["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_str().unwrap().to_string(),
                p["numerator"].as_f64().unwrap(),
                p["denominator"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        points,
        vec![
            (months[0].clone(), 18.0, 24.0),
            (months[1].clone(), 20.0, 25.0),
            (months[2].clone(), 21.0, 24.0)
        ]
    );

    // A recorded month corrected, saying what was wrong: the chart reads the right numbers and
    // counts the correction; the original stays on record.
    b.run("document.querySelector('#fx-details').open = true");
    b.run(&pick("fx-period", &months[1]));
    b.run(&fill(
        &[
            ("fx-numerator", "19"),
            ("fx-denominator", "25"),
            ("fx-reason", "A visitor was counted as a student"),
        ],
        Some("#fx-form"),
    ));
    wait(
        &b,
        "the correction recorded",
        &holds("#fx-result", "Corrected"),
    );
    let chart = s
        .get(&format!(
            "/api/v1/measures/{measure}/run-chart?program_id={program}"
        ))
        .json();
    let corrected = &chart["points"][1]["contributions"][0];
    assert_eq!(
        (
            corrected["numerator"].as_f64(),
            corrected["corrections"].as_u64()
        ),
        (Some(19.0), Some(1)),
        "{chart}"
    );
    b.audit("a correction");

    // A cycle with two questions and their predictions, the change idea picked by name.
    let today = Utc::now().date_naive();
    let day = |n: i64| (today + Span::days(n)).format("%Y-%m-%d").to_string();
    b.run(&fill(
        &[
            ("pc-title", "Check-ins at the start of each session"),
            ("pc-scale", "two mentors, eight students"),
            ("pc-planned_start", &day(0)),
            ("pc-planned_end", &day(14)),
            (
                "pc-plan-objective",
                "See whether a fixed time gets every check-in done",
            ),
            (
                "pc-plan-questions-0-question",
                "Will every student get a check-in?",
            ),
            ("pc-plan-questions-0-prediction", "Seven of eight will."),
            ("pc-plan-questions-1-question", "Will sessions start late?"),
            ("pc-plan-questions-1-prediction", "By five minutes at most."),
        ],
        None,
    ));
    b.run(&tick("pc-change_idea_ids", "Weekly mentor check-ins"));
    b.run(&tick("pc-plan-measure_ids", "Session attendance"));
    b.run("document.querySelector('#pc-form').requestSubmit()");
    wait(&b, "the cycle planned", &holds("#pc-result", "Planned"));
    shots.push(b.screenshot("workspace-7-planned.png"));
    b.run(&click("#pc-result a", "Open the cycle"));
    wait(&b, "the start form", &holds("#st-h", "Start the test"));
    b.run("document.querySelector('#st-form').requestSubmit()");
    wait(&b, "the Do form", &holds("#st-h", "Do"));
    b.run(&fill(
        &[(
            "st-what_happened",
            "Both mentors checked in with every student but one.",
        )],
        Some("#st-form"),
    ));
    wait(&b, "the Study form", &holds("#st-h", "Study"));
    b.run(&fill(
        &[
            ("st-results-0-result", "Seven of eight had a check-in."),
            ("st-results-1-result", "Sessions started ten minutes late."),
            ("st-results-1-prediction_held", "no"),
            ("st-summary", "Check-ins work; they cost session time."),
        ],
        Some("#st-form"),
    ));
    wait(&b, "the Act form", &holds("#st-h", "Act"));
    b.audit("the Act form");
    b.run(&fill(
        &[
            ("st-decision", "adapt"),
            (
                "st-reason",
                "Every student was reached, but sessions started late.",
            ),
            (
                "st-next_cycle",
                "Hold check-ins during the warm-up instead.",
            ),
        ],
        Some("#st-form"),
    ));
    wait(
        &b,
        "the next-cycle button",
        "!!document.querySelector('#cy-next')",
    );
    shots.push(b.screenshot("workspace-8-acted.png"));

    // The closed cycle's Do corrected: without saying what was wrong it is refused beside the
    // field, what was typed kept; with it, the page shows the corrected section and the reason.
    b.run("document.querySelector('#co-details').open = true");
    let corrected = "Both mentors checked in with seven of the eight students.";
    b.run(&fill(
        &[("co-correction-corrected-what_happened", corrected)],
        Some("#co-form"),
    ));
    wait(
        &b,
        "the correction refused beside its reason",
        "document.querySelector('#co-err-reason').textContent.length > 0",
    );
    assert_eq!(
        b.eval("document.querySelector('#co-correction-corrected-what_happened').value"),
        json!(corrected)
    );
    b.run(&fill(
        &[("co-reason", "The first note missed one student")],
        Some("#co-form"),
    ));
    wait(
        &b,
        "the corrected Do on the page",
        &format!(
            "{} && {}",
            holds("#cy-corrections", "The first note missed one student"),
            holds("#view", corrected)
        ),
    );
    b.audit("a corrected cycle");
    shots.push(b.screenshot("workspace-8-corrected.png"));
    b.run("document.querySelector('#cy-next').click()");
    wait(
        &b,
        "the next cycle's plan, pre-filled",
        "!!document.querySelector('#pc-previous') && document.querySelector('#pc-plan-objective').value === 'Hold check-ins during the warm-up instead.'",
    );
    b.run(&fill(
        &[
            ("pc-title", "Check-ins during the warm-up"),
            ("pc-planned_start", &day(15)),
            ("pc-planned_end", &day(29)),
            ("pc-plan-questions-0-prediction", "All eight will."),
            ("pc-plan-questions-1-prediction", "On time."),
        ],
        Some("#pc-form"),
    ));
    wait(
        &b,
        "the next cycle planned",
        &holds("#pc-result", "Planned"),
    );
    // Both cycles on the board, the second building on the first.
    wait(
        &b,
        "both cycles on the board",
        &format!(
            "{} && {}",
            holds(".board", "Check-ins at the start of each session"),
            holds(".board", "Check-ins during the warm-up")
        ),
    );
    assert!(b
        .eval("document.querySelector('.ramp').textContent")
        .as_str()
        .unwrap()
        .contains("adapt"));
    b.audit("the program's board with both cycles");
    shots.push(b.screenshot("workspace-9-board.png"));

    // A self-assessment against the standard, in the scale's words, citing the cycle and the
    // measure by name.
    b.run(&fill(&[("sa-rating", "3")], None));
    b.run(&tick("sa-cycles", "Check-ins at the start of each session"));
    b.run(&tick("sa-measures", "Session attendance"));
    b.run("document.querySelector('#sa-form').requestSubmit()");
    wait(
        &b,
        "the self-assessment recorded",
        &holds("#sa-result", "Meets the standard"),
    );
    wait(&b, "the portfolio's rating", &holds("#pf-h + div", "S1"));
    let portfolio = s
        .get(&format!("/api/v1/programs/{program}/portfolio"))
        .json();
    let evidence = &portfolio["standards"][0]["ratings"][0]["evidence"];
    assert_eq!(portfolio["standards"][0]["latest_rating"], 3, "{portfolio}");
    assert_eq!(evidence.as_array().unwrap().len(), 2, "{portfolio}");
    b.audit("the self-assessment");
    b.run("document.querySelector('#pf-h').scrollIntoView()");
    shots.push(b.screenshot_window("workspace-9-self-assessment.png"));

    // The facilitator proposes a change idea to the network.
    b.run("document.querySelector('#pp-details').open = true");
    b.run(&fill(
        &[
            ("pp-title", "Text reminders before sessions"),
            (
                "pp-rationale",
                "Two of our students missed sessions they had forgotten",
            ),
        ],
        None,
    ));
    b.run(&tick("pp-serves", "Mentors who know each student"));
    b.run("document.querySelector('#pp-form').requestSubmit()");
    wait(&b, "the idea proposed", &holds("#pp-result", "Proposed"));

    // The data on the program's run chart: a point per month pasted.
    b.run(&click("#de-result a", "See its run chart"));
    wait(
        &b,
        "the program's run chart",
        "document.querySelectorAll('#run-chart-svg .point').length === 3",
    );
    assert_eq!(
        b.eval("location.hash"),
        json!(format!("#/measures/{measure}/{program}"))
    );
    b.audit("the program's run chart");
    shots.push(b.screenshot("workspace-10-run-chart.png"));

    // Ten tabs of the workspace share one live stream: each opens (none waits for a connection
    // the browser has no more of), one connection serves them all, and when the tab that reads
    // it closes, another takes over and the others still see what happens.
    let live_clients = || {
        let metrics = s.get("/metrics").body;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("nic_ledger_live_clients "))
            .map(|v| v.trim().parse::<f64>().unwrap() as u64)
            .unwrap()
    };
    let first = b.block("this tab", b.client().window());
    let mut tabs = vec![first.clone()];
    for i in 1..10 {
        let tab = b.block("a new tab", b.client().new_window(true)).handle;
        b.block("switch tabs", b.client().switch_to_window(tab.clone()));
        b.navigate(&format!("{base}/#/mine"));
        b.wait_for(
            &format!("tab {} opens its view, live", i + 1),
            &format!(
                "{} && {}",
                holds("#my-h", "Ana Ruiz"),
                holds("#live-status", "Live")
            ),
            Duration::from_secs(15),
        );
        tabs.push(tab);
    }
    common::eventually(|| (live_clients() == 1).then_some(()));
    // The first tab, which reads the stream, closes.
    b.block("switch tabs", b.client().switch_to_window(first));
    b.block("close the tab", b.client().close_window());
    let last = tabs.pop().unwrap();
    b.block("switch tabs", b.client().switch_to_window(last.clone()));
    let cycle_title = "Check-ins by a sign-up sheet";
    let planned = s.post(
        &format!("/api/v1/programs/{program}/pdsa-cycles"),
        &json!({"title": cycle_title, "change_idea_ids": [s.get(&format!("/api/v1/networks/{network}/driver-diagram")).json()["nodes"]
                    .as_array().unwrap().iter().find(|n| n["kind"] == "change_idea").unwrap()["id"]],
                "purpose": "test", "scale": "one mentor", "planned_start": day(30), "planned_end": day(40),
                "plan": {"objective": "See whether a sheet works", "questions": [{"question": "Will students sign up?", "prediction": "Most will."}]}}),
    );
    assert_eq!(planned.status, 201, "{}", planned.body);
    b.wait_for(
        "the new cycle in a remaining tab's live feed",
        &holds("#live-feed", cycle_title),
        Duration::from_secs(15),
    );
    common::eventually(|| (live_clients() == 1).then_some(()));
    for tab in tabs.drain(1..) {
        b.block("switch tabs", b.client().switch_to_window(tab));
        b.block("close the tab", b.client().close_window());
    }
    b.block("switch tabs", b.client().switch_to_window(last));

    // The hub declines the program's proposal, saying why, and moves its own idea to testing.
    b.sign_in(
        &base,
        &s.token,
        "the hub again",
        &holds("#network-select", "Pittsburgh STEM Network"),
    );
    b.run(&click("#nav a", "Network setup"));
    wait(
        &b,
        "the proposal",
        &holds("#hub-proposed", "Text reminders before sessions"),
    );
    b.audit("a proposed change idea");
    b.run("document.querySelector('#hub-proposed').scrollIntoView()");
    shots.push(b.screenshot_window("workspace-13-proposal.png"));
    b.run(
        "(() => { const li = [...document.querySelectorAll('#hub-proposed li')].find((l) => l.textContent.includes('Text reminders')); \
           li.querySelector('input').value = 'The network tested texts last year'; li.querySelector('form').requestSubmit(); })()",
    );
    wait(
        &b,
        "the proposal declined",
        "!document.querySelector('#hub-proposed')",
    );
    b.run("document.querySelector('#stg-details').open = true");
    b.run(&pick("stg-node", "Weekly mentor check-ins"));
    b.run(&fill(
        &[
            ("stg-stage", "testing"),
            ("stg-reason", "Lab Explorers is testing it"),
        ],
        Some("#stg-form"),
    ));
    wait(
        &b,
        "the idea in testing",
        &holds("#hub-nodes", "Weekly mentor check-ins · testing"),
    );
    let diagram = s.get(&format!("/api/v1/networks/{network}")).json();
    let stages: Vec<(String, String)> = diagram["nodes"]
        .as_object()
        .unwrap()
        .values()
        .filter(|n| n["kind"] == "change_idea")
        .map(|n| {
            (
                n["title"].as_str().unwrap().to_string(),
                n["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        stages.contains(&("Text reminders before sessions".into(), "declined".into()))
            && stages.contains(&("Weekly mentor check-ins".into(), "testing".into())),
        "{stages:?}"
    );

    // The hub writes what the network learned, citing the cycle by its name and program.
    wait(
        &b,
        "the synthesis form",
        "!!document.querySelector('#sy-form')",
    );
    b.run("document.querySelector('#sy-details').open = true");
    b.run(&fill(
        &[
            ("sy-title", "Check-ins need their own time"),
            (
                "sy-statement",
                "Check-ins reach every student but cost session time when held at the start.",
            ),
            ("sy-recommendation", "Hold check-ins during the warm-up."),
            ("sy-occurred_on", &day(-7)),
        ],
        None,
    ));
    b.run(&tick(
        "sy-cycle_ids",
        "Check-ins at the start of each session (Lab Explorers, acted)",
    ));
    b.run(&tick("sy-node_ids", "Weekly mentor check-ins"));
    b.run("document.querySelector('#sy-form').requestSubmit()");
    wait(
        &b,
        "the synthesis published",
        &holds("#sy-result", "Published"),
    );
    let syntheses = s
        .get(&format!("/api/v1/networks/{network}/syntheses"))
        .json();
    assert_eq!(
        syntheses["items"][0]["title"],
        "Check-ins need their own time"
    );
    // Agreed at a meeting a week ago, recorded today: the timeline puts it on its day.
    let timeline = s
        .get(&format!(
            "/api/v1/timeline?network_id={network}&kind=synthesis"
        ))
        .json();
    assert_eq!(
        timeline["entries"][0]["happened_on"],
        json!(day(-7)),
        "{timeline}"
    );
    b.audit("the synthesis form");

    // The hub gives a university's admissions office a link to the program's standing: the
    // office opens it and checks the verification code; the hub revokes it, and it opens nothing.
    b.run(&click("#nav a", "People"));
    wait(
        &b,
        "the people page",
        "!!document.querySelector('#tk-form')",
    );
    b.run(&fill(
        &[
            ("tk-name", "State University admissions"),
            ("tk-role", "admissions"),
        ],
        None,
    ));
    b.run(&tick("tk-programs", "Lab Explorers"));
    b.run("document.querySelector('#tk-form').requestSubmit()");
    wait(
        &b,
        "the admissions link",
        &holds("#pe-issued", "State University admissions"),
    );
    let office_link = b.eval("document.querySelector('#pe-link').value");
    let office_link = office_link.as_str().unwrap().to_string();
    b.navigate(&office_link);
    wait(
        &b,
        "the admissions statement",
        "!!document.querySelector('#ad-code-0')",
    );
    assert!(
        b.eval(&holds(".standing", "S1")) == json!(true),
        "S1 is met"
    );
    b.run("document.querySelector('#ad-check-0').click()");
    wait(
        &b,
        "the code checked",
        "document.querySelector('#ad-result-0').textContent.startsWith('Verified.')",
    );
    b.audit("the admissions statement from the hub's link");
    shots.push(b.screenshot("workspace-12-admissions.png"));
    b.sign_in(
        &base,
        &s.token,
        "the hub again",
        &holds("#network-select", "Pittsburgh STEM Network"),
    );
    b.run(&click("#nav a", "People"));
    wait(
        &b,
        "the people page",
        "!!document.querySelector('#pe-table')",
    );
    b.run(
        "(() => { const row = [...document.querySelectorAll('#pe-table tbody tr')].find((r) => r.textContent.includes('State University admissions')); \
           row.querySelector('input').value = 'the admissions season ended'; row.querySelector('form').requestSubmit(); })()",
    );
    wait(
        &b,
        "the link revoked",
        &holds("#pe-notice", "Revoked State University admissions"),
    );
    let office = office_link.split("#token=").nth(1).unwrap();
    let refused = s.raw(
        "GET",
        &format!("/api/v1/programs/{program}/admissions"),
        &[("Authorization", &format!("Bearer {office}"))],
        b"",
    );
    assert_eq!(refused.status, 401, "a revoked link opens nothing");

    // The hub sets the charts' reporting deadline and how long a withdrawn program's text is
    // kept.
    b.run(&click("#nav a", "Network setup"));
    wait(
        &b,
        "the settings forms",
        "!!document.querySelector('#cs-form')",
    );
    b.run("document.querySelector('#cs-details').open = true; document.querySelector('#rt-details').open = true");
    b.run(&fill(
        &[("cs-reporting_deadline_days", "30")],
        Some("#cs-form"),
    ));
    wait(&b, "the chart settings", &holds("#cs-result", "recorded"));
    b.run(&fill(
        &[("rt-withdrawn_program_text_days", "365")],
        Some("#rt-form"),
    ));
    wait(&b, "the retention", &holds("#rt-result", "365 days"));
    let state = s.get(&format!("/api/v1/networks/{network}")).json();
    assert_eq!(
        (
            state["chart_settings"]["reporting_deadline_days"].clone(),
            state["retention_days"].clone()
        ),
        (json!(30), json!(365))
    );
    b.audit("the settings forms");

    // At Ana's request, her data is erased from the People page: what would go is shown first,
    // then, confirmed, her name and what she wrote read "[erased]" and her token is revoked.
    b.run(&click("#nav a", "People"));
    wait(
        &b,
        "the erasure list",
        "!!document.querySelector('#pe-erase')",
    );
    b.run(
        "(() => { const li = [...document.querySelectorAll('#pe-erase li')].find((l) => l.textContent.includes('Ana Ruiz')); \
           li.querySelector('input').value = 'ticket 2291'; li.querySelector('form').requestSubmit(); })()",
    );
    wait(
        &b,
        "what would be erased",
        &holds("#pe-erase-preview", "would be erased"),
    );
    let before = s
        .get(&format!("/api/v1/programs/{program}/pdsa-board"))
        .json();
    assert_eq!(
        before["columns"]["acted"][0]["title"], "Check-ins at the start of each session",
        "a dry run erases nothing"
    );
    b.audit("an erasure, previewed");
    shots.push(b.screenshot("workspace-14-erasure.png"));
    b.run("document.querySelector('#pe-erase-confirm').click()");
    wait(
        &b,
        "the erasure done",
        &holds("#pe-notice", "reads “[erased]”"),
    );
    common::eventually(|| {
        let board = s
            .get(&format!("/api/v1/programs/{program}/pdsa-board"))
            .json();
        (board["columns"]["acted"][0]["title"] == "[erased]").then_some(())
    });
    let tokens = s.get("/api/v1/tokens").json();
    let ana = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_id"] == issued_id)
        .unwrap()
        .clone();
    assert_eq!(
        (ana["name"].clone(), ana["revoked"].clone()),
        (json!("[erased]"), json!(true))
    );

    // A narrow screen (a tablet held upright): the grid and the forms still fit.
    b.set_viewport(700, 1000);
    b.run(&click("#nav a", "My work"));
    wait(&b, "my work, narrow", "!!document.querySelector('#my-h')");
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= innerWidth"),
        json!(true),
        "nothing is wider than a narrow screen"
    );
    b.audit("my work on a narrow screen");
    shots.push(b.screenshot_window("workspace-11-narrow.png"));
    // The program's page (its board, forms and data grid) and the hub's setup fit too.
    for (what, ready) in [
        (
            format!("#/programs/{program}"),
            "!!document.querySelector('#de-grid')",
        ),
        (
            "#/hub".to_string(),
            "!!document.querySelector('#hub-nodes')",
        ),
    ] {
        b.show(&what, ready);
        assert_eq!(
            b.eval(WIDER_THAN_THE_WINDOW),
            json!([]),
            "{what} is no wider than a narrow screen"
        );
    }
    shots.push(b.screenshot_window("workspace-11-narrow-hub.png"));
    b.set_viewport(WIDTH, HEIGHT);

    let errors = b.errors();
    assert!(errors.is_empty(), "errors in the page: {errors:?}");
    assert!(
        b.violations.is_empty(),
        "accessibility violations (axe-core, WCAG 2.1 A and AA, any impact):\n{}",
        b.violations.join("\n")
    );
    for p in shots {
        eprintln!("screenshot: {}", p.display());
    }
}
