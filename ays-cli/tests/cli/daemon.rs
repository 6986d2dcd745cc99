//! `ays daemon` (the REST API, started on a free loopback port, stopped with SIGTERM) and
//! `ays token show|rotate`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{stderr, stdout};

/// Runs `ays` in `dir` with `config` as its configuration directory.
fn ays_with(config: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ays"))
        .env("AYS_CONFIG_DIR", config)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// As [`ays_with`], which must succeed: its stdout.
pub fn ok_with(config: &Path, dir: &Path, args: &[&str]) -> String {
    let out = ays_with(config, dir, args);
    assert!(out.status.success(), "ays {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A repository `name` under `parent` with one service, `sshkey!main`.
fn repository(config: &Path, parent: &Path, name: &str) -> PathBuf {
    ok_with(config, parent, &["init", name]);
    let root = parent.join(name);
    std::fs::create_dir_all(root.join("actorTemplates/sshkey")).unwrap();
    std::fs::write(
        root.join("actorTemplates/sshkey/schema.hrd"),
        "path = type:str default:'/root/.ssh'\n",
    )
    .unwrap();
    std::fs::write(root.join("blueprints/keys.yaml"), "sshkey__main:\n").unwrap();
    ok_with(config, &root, &["blueprint"]);
    root
}

/// A running `ays daemon`, killed on drop if a test fails before stopping it.
pub struct Daemon {
    child: Child,
    /// Its first line of output.
    line: String,
}

impl Daemon {
    /// Starts `ays daemon ARGS` in `dir` and waits for its first line.
    pub fn start(config: &Path, dir: &Path, args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ays"))
            .env("AYS_CONFIG_DIR", config)
            .arg("daemon")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = send.send(line);
        });
        let line = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon printed nothing within 60 s");
        let mut daemon = Daemon { child, line };
        if daemon.line.is_empty() {
            let mut err = String::new();
            daemon
                .child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the daemon stopped before listening: {err}");
        }
        daemon
    }

    /// The URL it prints after `listening on `.
    pub fn url(&self) -> String {
        self.line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not a `listening on` line: {:?}", self.line))
            .to_owned()
    }

    /// Sends SIGTERM and waits for the exit: its status code and stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), err)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A no-op once it has exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET url`, with `token` as the bearer token if given: the status and the JSON body.
pub fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

#[test]
fn daemon_serves_its_repository_with_the_token_until_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let root = repository(&config, tmp.path(), "r");
    let token = std::fs::read_to_string(config.join("token")).unwrap();
    let token = token.trim_end();

    let daemon = Daemon::start(&config, &root, &["--port", "0"]);
    let url = daemon.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_ne!(url, "http://127.0.0.1:0");

    assert_eq!(
        get(&format!("{url}/health"), None),
        (200, json!({"status": "ok"}))
    );
    let service = format!("{url}/ays/repository/r/service/sshkey/main");
    let (status, body) = get(&service, Some(token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"], "sshkey!main");
    assert_eq!(body["data"], json!({"path": "/root/.ssh"}));
    let (status, body) = get(&service, None);
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, body) = get(&service, Some(&"0".repeat(64)));
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, body) = get(&format!("{url}/ays/repository/.."), Some(token));
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_name"))
    );

    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn token_show_and_rotate_use_the_token_that_init_creates_once() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("cfg/ays");
    let file = config.join("token");

    let missing = ays_with(&config, tmp.path(), &["token", "show"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        stderr(&missing),
        format!(
            "error: no API token at {}: `ays token rotate` or `ays init` creates it\n",
            file.display()
        )
    );

    let first = ok_with(&config, tmp.path(), &["init", "a"]);
    assert!(
        first.contains(&format!(
            "created the API token of `ays daemon` in {} (`ays token show` prints it)",
            file.display()
        )),
        "{first}"
    );
    let second = ok_with(&config, tmp.path(), &["init", "b"]);
    assert!(!second.contains("token"), "said once only: {second}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&config), 0o700);

    let shown = ok_with(&config, tmp.path(), &["token", "show"]);
    assert_eq!(shown, std::fs::read_to_string(&file).unwrap());
    assert_eq!(shown.trim_end().len(), 64);

    let rotated = ok_with(&config, tmp.path(), &["token", "rotate"]);
    assert_ne!(rotated, shown);
    assert_eq!(rotated.trim_end().len(), 64);
    assert_eq!(ok_with(&config, tmp.path(), &["token", "show"]), rotated);
    assert_eq!(mode(&file), 0o600);

    let json: Value =
        serde_json::from_str(&ok_with(&config, tmp.path(), &["--json", "token", "show"])).unwrap();
    assert_eq!(
        json,
        json!({"token": rotated.trim_end(), "path": file.display().to_string()})
    );

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = ays_with(&config, tmp.path(), &["token", "show"]);
    assert_eq!(exposed.status.code(), Some(2));
    assert!(
        stderr(&exposed).contains("is readable by other users (mode 644)"),
        "{}",
        stderr(&exposed)
    );
}

#[test]
fn a_remote_address_needs_allow_remote_and_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let root = repository(&config, tmp.path(), "r");

    let refused = ays_with(
        &config,
        &root,
        &["daemon", "--bind", "0.0.0.0", "--port", "0"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        stderr(&refused),
        "error: refusing to listen on 0.0.0.0: other machines could reach the API there; pass \
         --allow-remote to allow it\n"
    );
    assert_eq!(stdout(&refused), "");

    let daemon = Daemon::start(
        &config,
        &root,
        &["--bind", "0.0.0.0", "--port", "0", "--allow-remote"],
    );
    let url = daemon.url();
    let port = url.rsplit_once(':').unwrap().1;
    assert_eq!(get(&format!("http://127.0.0.1:{port}/health"), None).0, 200);
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: listening on {url}, which other machines can reach"
        )),
        "{err}"
    );
}

#[test]
fn repos_dir_serves_every_repository_under_it_and_names_must_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let repos = tmp.path().join("repos");
    std::fs::create_dir(&repos).unwrap();
    repository(&config, &repos, "shop");
    repository(&config, &repos, "farm");
    // Without a token, the daemon makes one.
    std::fs::remove_file(config.join("token")).unwrap();
    let daemon = Daemon::start(
        &config,
        tmp.path(),
        &["--repos-dir", "repos", "--port", "0"],
    );
    assert_eq!(mode(&config.join("token")), 0o600);
    let token = ok_with(&config, tmp.path(), &["token", "show"]);
    let (status, body) = get(
        &format!("{}/ays/repository", daemon.url()),
        Some(token.trim_end()),
    );
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["farm", "shop"]);
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "created the API token in {} (`ays token show` prints it)",
            config.join("token").display()
        )),
        "{err}"
    );

    std::fs::create_dir(tmp.path().join("other")).unwrap();
    repository(&config, &tmp.path().join("other"), "shop");
    let twice = ays_with(
        &config,
        tmp.path(),
        &[
            "daemon",
            "--repo",
            "repos/shop",
            "--repo",
            "other/shop",
            "--port",
            "0",
        ],
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        stderr(&twice).contains("two repositories are named `shop`"),
        "{}",
        stderr(&twice)
    );

    let nowhere = ays_with(&config, tmp.path(), &["daemon", "--port", "0"]);
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(
        stderr(&nowhere).contains("is not inside an AYS repository"),
        "{}",
        stderr(&nowhere)
    );
}
