//! The daemon's dashboard (`GET /dashboard`) in a real browser: headless Chromium loads the page
//! while `ays run create`, another process, executes a run on the same embedded store, and the
//! page must show the repository, its services with their action states, and the run's jobs in
//! their live states; a wrong token must show an error and no data. A screenshot of the run in
//! progress is left in the target directory for people to look at.
//!
//! Chromium is found at `/usr/bin/chromium` or on the PATH (`apt-get install -y chromium`).
//! Without it the test fails when `CI` is set, and is skipped with a note otherwise.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{Daemon, get, ok_with};

/// How long the slow action waits for its release before giving up (and failing).
const SLOW_CAP_SECS: u32 = 120;

/// The actions of `slow`: `install` waits for the file RELEASE, for CAP seconds at most.
const SLOW_ACTIONS: &str = r#"install() {
    echo 'waiting for the release'
    local end=$((SECONDS + CAP))
    while [ ! -e 'RELEASE' ]; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
    echo released
}
"#;

/// The size of the browser's window, and so of the screenshot.
const WINDOW: (u32, u32) = (1400, 1000);

/// The Chromium binary, if one is installed.
fn chromium() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A repository `r` with two services whose `install` is scheduled: `quick!a` echoes a line
/// holding markup and ends at once, `slow!b` waits until the file `release` exists.
fn repository(config: &Path, parent: &Path, release: &Path) -> PathBuf {
    ok_with(config, parent, &["init", "r"]);
    let root = parent.join("r");
    for actor in ["quick", "slow"] {
        let template = root.join("actorTemplates").join(actor);
        std::fs::create_dir_all(&template).unwrap();
        std::fs::write(template.join("schema.hrd"), "note = type:str default:''\n").unwrap();
    }
    std::fs::write(
        root.join("actorTemplates/quick/actions.sh"),
        "install() {\n    echo 'quick <b>done</b> & fine'\n}\n",
    )
    .unwrap();
    let release = release.to_str().unwrap();
    assert!(!release.contains('\''), "{release}");
    std::fs::write(
        root.join("actorTemplates/slow/actions.sh"),
        SLOW_ACTIONS
            .replace("CAP", &SLOW_CAP_SECS.to_string())
            .replace("RELEASE", release),
    )
    .unwrap();
    std::fs::write(
        root.join("blueprints/bp.yaml"),
        "quick__a:\nslow__b:\nactions:\n  - action: install\n",
    )
    .unwrap();
    ok_with(config, &root, &["blueprint"]);
    root
}

/// `ays run create` running in the background; on drop, the slow action is released and the
/// process waited for (killed if it does not end).
struct BackgroundRun {
    child: Child,
    release: PathBuf,
}

impl BackgroundRun {
    fn start(config: &Path, root: &Path, release: &Path) -> BackgroundRun {
        let child = Command::new(env!("CARGO_BIN_EXE_ays"))
            .env("AYS_CONFIG_DIR", config)
            .args(["run", "create"])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        BackgroundRun {
            child,
            release: release.to_path_buf(),
        }
    }

    /// Releases the slow action and waits for the run to end, which must succeed.
    fn finish(mut self) {
        std::fs::write(&self.release, "").unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "ays run create: {err}");
    }
}

impl Drop for BackgroundRun {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.release, "");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks the daemon, until `timeout`, for the run's jobs until `quick!a` is ok and `slow!b`
/// running: the run's id.
fn wait_until_live(url: &str, token: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (status, runs) = get(&format!("{url}/ays/repository/r/aysrun"), Some(token));
        assert_eq!(status, 200, "{runs}");
        if let Some(id) = runs[0]["id"].as_str() {
            let (status, jobs) = get(&format!("{url}/ays/repository/r/job?run={id}"), Some(token));
            assert_eq!(status, 200, "{jobs}");
            let states = job_states_of(&jobs);
            if states.get("quick!a").map(String::as_str) == Some("ok")
                && states.get("slow!b").map(String::as_str) == Some("running")
            {
                return id.to_owned();
            }
            last = jobs;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the daemon never saw quick!a ok and slow!b running; last jobs: {last}");
}

/// The state of each job of a JSON list of jobs, by service.
fn job_states_of(jobs: &Value) -> BTreeMap<String, String> {
    jobs.as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            (
                j["service"].as_str().unwrap_or_default().to_owned(),
                j["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Runs headless Chromium on `url` with `extra` arguments, in a new profile under `tmp`, with
/// enough virtual time for the page's script to load its data; its stdout.
fn browse(chromium: &Path, tmp: &Path, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir_in(tmp).unwrap();
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let window = format!("--window-size={},{}", WINDOW.0, WINDOW.1);
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=4000",
            &window,
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(extra)
        .arg(url)
        .current_dir(profile.path())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium {extra:?} failed ({status}): {err}"
    );
    std::fs::read_to_string(&out_path).unwrap()
}

/// The start tags of `dom`'s markup before its script, in order (`<tr data-job="1" …>`).
fn start_tags(dom: &str) -> Vec<&str> {
    let markup = dom.split("<script").next().unwrap_or_default();
    let mut tags = Vec::new();
    let mut rest = markup;
    while let Some(at) = rest.find('<') {
        rest = &rest[at..];
        let Some(end) = rest.find('>') else { break };
        if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            tags.push(&rest[..=end]);
        }
        rest = &rest[end + 1..];
    }
    tags
}

/// The value of attribute `name` of a start tag, as serialised (entities not decoded).
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// What the page shows, read from the hooks of its markup.
#[derive(Debug, Default)]
struct Shown {
    state: String,
    error_code: Option<String>,
    repositories: Vec<String>,
    /// The services, each with its actions' states.
    services: BTreeMap<String, BTreeMap<String, String>>,
    /// The runs listed, with their states.
    runs: BTreeMap<String, String>,
    /// The run shown, and its state.
    run: Option<(String, String)>,
    /// The jobs shown, by service.
    jobs: BTreeMap<String, String>,
    /// The job whose log is shown.
    log_of: Option<String>,
}

fn shown(dom: &str) -> Shown {
    let mut shown = Shown::default();
    let mut service: Option<String> = None;
    for tag in start_tags(dom) {
        let attr = |name| attribute(tag, name).map(str::to_owned);
        if tag.starts_with("<body") {
            shown.state = attr("data-state").unwrap_or_default();
        }
        if tag.starts_with("<div id=\"error\"") {
            shown.error_code = attr("data-error-code");
        }
        if let Some(name) = attr("data-repository").filter(|_| tag.starts_with("<li")) {
            shown.repositories.push(name);
        }
        if let (Some(key), Some(_)) = (attr("data-service"), attr("data-actor")) {
            shown.services.insert(key.clone(), BTreeMap::new());
            service = Some(key);
        }
        if let (Some(action), Some(state), Some(key)) =
            (attr("data-action"), attr("data-action-state"), &service)
        {
            shown.services.get_mut(key).unwrap().insert(action, state);
        }
        if let (Some(id), Some(state)) = (attr("data-run"), attr("data-run-state")) {
            if tag.starts_with("<li") {
                shown.runs.insert(id, state);
            } else if tag.starts_with("<section") {
                shown.run = Some((id, state));
            }
        }
        if let (Some(key), Some(state)) = (attr("data-service"), attr("data-job-state")) {
            shown.jobs.insert(key, state);
        }
        if tag.starts_with("<section id=\"job\"") && attribute(tag, "hidden").is_none() {
            shown.log_of = attr("data-job");
        }
    }
    shown
}

/// Whether `path` is a PNG of the window's size, and not a nearly empty one.
fn check_screenshot(path: &Path) {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|err| panic!("no screenshot at {}: {err}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(&bytes[12..16], b"IHDR");
    assert_eq!((be(16), be(20)), WINDOW, "the screenshot's size");
    // A blank page of this size compresses to a few kilobytes; text, tables and badges do not.
    assert!(
        bytes.len() > 20_000,
        "{} is only {} bytes: a blank page?",
        path.display(),
        bytes.len()
    );
}

#[test]
fn the_dashboard_shows_a_run_in_progress_in_a_browser() {
    let Some(chromium) = chromium() else {
        let message = "chromium is not installed (apt-get install -y chromium): the dashboard \
                       was not checked in a browser";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("NOTE: SKIPPED: {message}");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let release = tmp.path().join("release");
    let root = repository(&config, tmp.path(), &release);
    let token = std::fs::read_to_string(config.join("token")).unwrap();
    let token = token.trim_end();

    // The run executes in its own process; the daemon reads the same redb file.
    let run = BackgroundRun::start(&config, &root, &release);
    let daemon = Daemon::start(&config, &root, &["--port", "0"]);
    let url = daemon.url();
    let id = wait_until_live(&url, token, Duration::from_secs(60));

    let page = format!("{url}/dashboard#token={token}&repository=r&run={id}&job=1");
    let dom = browse(&chromium, tmp.path(), &page, &["--dump-dom"]);
    let seen = shown(&dom);
    assert_eq!(seen.state, "ready", "{seen:?}\n{dom}");
    assert_eq!(seen.error_code, None, "{dom}");
    assert_eq!(seen.repositories, ["r"], "{seen:?}");
    assert_eq!(
        seen.services.keys().collect::<Vec<_>>(),
        ["quick!a", "slow!b"],
        "{seen:?}"
    );
    assert_eq!(seen.services["quick!a"]["install"], "ok", "{seen:?}");
    assert_eq!(seen.services["slow!b"]["install"], "running", "{seen:?}");
    assert_eq!(seen.runs.get(&id).map(String::as_str), Some("running"));
    assert_eq!(seen.run, Some((id.clone(), "running".to_owned())));
    assert_eq!(
        seen.jobs,
        BTreeMap::from([
            ("quick!a".to_owned(), "ok".to_owned()),
            ("slow!b".to_owned(), "running".to_owned()),
        ]),
        "one job ok, one running"
    );
    // The log of job 1 is shown, its markup as text.
    assert_eq!(seen.log_of.as_deref(), Some("1"), "{seen:?}");
    assert!(
        dom.contains("quick &lt;b&gt;done&lt;/b&gt; &amp; fine"),
        "the log is not shown as text: {dom}"
    );
    assert!(!dom.contains("quick <b>done</b>"), "the log became markup");

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-run.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(
        &chromium,
        tmp.path(),
        &page,
        &[&format!("--screenshot={}", screenshot.display())],
    );
    check_screenshot(&screenshot);
    eprintln!("dashboard screenshot: {}", screenshot.display());

    // A wrong token: the daemon's refusal on the page, and no data.
    let wrong = format!("{url}/dashboard#token={}&repository=r", "0".repeat(64));
    let dom = browse(&chromium, tmp.path(), &wrong, &["--dump-dom"]);
    let refused = shown(&dom);
    assert_eq!(refused.state, "unauthorized", "{dom}");
    assert_eq!(refused.error_code.as_deref(), Some("unauthorized"), "{dom}");
    assert!(dom.contains("wrong bearer token"), "{dom}");
    assert!(refused.repositories.is_empty(), "{refused:?}");
    assert!(refused.services.is_empty(), "{refused:?}");
    assert!(
        refused.runs.is_empty() && refused.jobs.is_empty(),
        "{refused:?}"
    );
    assert!(!dom.contains(&format!("{}", root.display())), "{dom}");

    // Once the run ends, the page shows it ended.
    run.finish();
    let dom = browse(&chromium, tmp.path(), &page, &["--dump-dom"]);
    let done = shown(&dom);
    assert_eq!(done.run, Some((id, "ok".to_owned())), "{done:?}");
    assert!(done.jobs.values().all(|s| s == "ok"), "{done:?}");
    assert_eq!(done.services["slow!b"]["install"], "ok", "{done:?}");
}
