//! Distributed workers (issue 12) through the `ays` binary: `ays worker` processes on one Redis
//! server (started by the test on a free loopback port), a coordinator `ays run create
//! --workers`, and workers or coordinators killed with SIGKILL mid-run.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ays_store::testing::RedisServer;
use serde_json::Value;

use crate::repo::{json, ok};
use crate::{config_dir, stderr};

/// A repository on `url` with `n` services of actor `node`, whose `install` notes its start
/// and end with the worker's pid (`$PPID` of a job is the worker that forked its bash) in
/// `<tmp>/ran.log`, sleeping `sleep` seconds in between.
fn repo(tmp: &Path, url: &str, n: usize, sleep: &str) -> (PathBuf, PathBuf) {
    let root = tmp.join("repo");
    ok(tmp, &["init", "repo", "--store", url]);
    let log = tmp.join("ran.log");
    let actions = format!(
        "install() {{\n    echo \"start $AYS_SERVICE $PPID\" >> '{log}'\n    sleep {sleep}\n    \
         echo \"end $AYS_SERVICE $PPID\" >> '{log}'\n}}\n",
        log = log.display()
    );
    std::fs::create_dir_all(root.join("actorTemplates/node")).unwrap();
    std::fs::write(root.join("actorTemplates/node/actions.sh"), actions).unwrap();
    let mut bp = String::new();
    for i in 0..n {
        bp.push_str(&format!("node__n{i:03}:\n"));
    }
    bp.push_str("actions:\n  - action: install\n");
    std::fs::write(root.join("blueprints/nodes.yaml"), bp).unwrap();
    ok(&root, &["blueprint"]);
    (root, log)
}

/// An `ays` process in the background, its stderr in a file.
struct Background {
    child: Child,
    err: PathBuf,
}

impl Background {
    fn start(dir: &Path, args: &[&str], err: PathBuf) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_ays"))
            .env("AYS_CONFIG_DIR", config_dir())
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Self { child, err }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Sends SIGTERM and waits: whether it exited 0.
    fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.wait(Duration::from_secs(30))
    }

    fn wait(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("ays did not exit within {limit:?}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker(tmp: &Path, url: &str, name: &str, concurrency: &str) -> Background {
    Background::start(
        tmp,
        &[
            "worker",
            "--store",
            url,
            "--name",
            name,
            "--concurrency",
            concurrency,
            "--lease",
            "2s",
        ],
        tmp.join(format!("{name}.err")),
    )
}

/// The live workers `ays worker list --json` shows, by name.
fn workers(tmp: &Path, url: &str) -> BTreeMap<String, Value> {
    let list = json(tmp, &["worker", "list", "--store", url]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap().to_owned(), w.clone()))
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each line of the log: (event, service, worker pid).
fn ran(log: &Path) -> Vec<(String, String, u32)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.split(' ');
            Some((
                words.next()?.to_owned(),
                words.next()?.to_owned(),
                words.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// The line "ran on worker ..." of each job of the latest run of `root`, by service (empty
/// when a job has none).
fn ran_on(root: &Path) -> BTreeMap<String, String> {
    let detail = json(root, &["run", "show", "latest"]);
    detail["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let said = j["logs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["message"].as_str())
                .find(|m| m.starts_with("ran on worker"))
                .unwrap_or_default()
                .to_owned();
            (j["service"].as_str().unwrap().to_owned(), said)
        })
        .collect()
}

/// `ays run create --workers` in the background, in `root`.
fn start_run(root: &Path, tmp: &Path) -> Background {
    Background::start(root, &["run", "create", "--workers"], tmp.join("run.err"))
}

/// Waits until `n` jobs logged their end in `log`.
fn wait_ends(log: &Path, n: usize) {
    wait_for(&format!("{n} jobs to end"), Duration::from_secs(60), || {
        ran(log).iter().filter(|(e, _, _)| e == "end").count() >= n
    });
}

#[test]
fn issue_12_three_workers_one_killed_every_job_succeeds_exactly_once() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = repo(tmp.path(), &url, 500, "0.1");
    let w1 = worker(tmp.path(), &url, "w1", "8");
    let w2 = worker(tmp.path(), &url, "w2", "8");
    let w3 = worker(tmp.path(), &url, "w3", "8");
    wait_for("three live workers", Duration::from_secs(20), || {
        workers(tmp.path(), &url).len() == 3
    });
    let mut run = start_run(&root, tmp.path());
    // Killed once it has finished a few jobs and holds others.
    let victim = w2.pid();
    wait_for("w2 to finish 20 jobs", Duration::from_secs(60), || {
        ran(&log)
            .iter()
            .filter(|(e, _, pid)| e == "end" && *pid == victim)
            .count()
            >= 20
    });
    let mut w2 = w2;
    w2.child.kill().unwrap();
    w2.child.wait().unwrap();
    assert!(
        run.wait(Duration::from_secs(120)),
        "the run failed: {}",
        run.stderr()
    );

    // Every job ran to success exactly once, as the run records it.
    let jobs = json(&root, &["job", "list", "--all"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 500);
    let mut seen = BTreeSet::new();
    for j in jobs {
        assert_eq!(j["state"], "ok", "{j}");
        assert!(
            seen.insert(j["service"].as_str().unwrap().to_owned()),
            "{j}"
        );
    }
    // Every job the killed worker started is accounted for: it reported it before it died,
    // or another worker claimed it after its lease and ran it to its end.
    let ran_on = ran_on(&root);
    assert_eq!(ran_on.len(), 500);
    for (service, said) in &ran_on {
        assert!(
            ["w1", "w2", "w3"]
                .iter()
                .any(|w| said.starts_with(&format!("ran on worker `{w}`"))),
            "{service}: {said}"
        );
    }
    let claimed_from_w2: BTreeSet<&str> = ran_on
        .iter()
        .filter(|(_, said)| said.contains("after worker `w2` held it past its lease"))
        .map(|(s, _)| s.as_str())
        .collect();
    assert!(
        !claimed_from_w2.is_empty(),
        "w2 was killed while it held jobs, which others claimed"
    );
    let lines = ran(&log);
    let ended_elsewhere: BTreeSet<&str> = lines
        .iter()
        .filter(|(e, _, pid)| e == "end" && *pid != victim)
        .map(|(_, s, _)| s.as_str())
        .collect();
    for service in &claimed_from_w2 {
        assert!(
            ended_elsewhere.contains(service),
            "{service} was claimed from w2 and ran to its end on another worker"
        );
    }
    let started_on_w2: BTreeSet<&str> = lines
        .iter()
        .filter(|(e, _, pid)| e == "start" && *pid == victim)
        .map(|(_, s, _)| s.as_str())
        .collect();
    for service in started_on_w2 {
        let said = &ran_on[service];
        assert!(
            said.starts_with("ran on worker `w2`") || claimed_from_w2.contains(service),
            "{service}, started on w2, is accounted for: {said}"
        );
    }

    // The killed worker's heartbeat expires with its lease; the others stop cleanly.
    wait_for("w2 to leave the list", Duration::from_secs(10), || {
        !workers(tmp.path(), &url).contains_key("w2")
    });
    let alive = workers(tmp.path(), &url);
    assert_eq!(alive.keys().collect::<Vec<_>>(), ["w1", "w3"]);
    for (name, w) in [("w1", w1), ("w3", w3)] {
        let err = w.err.clone();
        assert!(
            w.terminate(),
            "{name}: {}",
            std::fs::read_to_string(err).unwrap()
        );
    }
    assert!(workers(tmp.path(), &url).is_empty());
}

/// A coordinator killed mid-run: `ays run resume` from another checkout of the repository
/// (another machine, as far as the run is concerned) finishes the run with the workers.
#[test]
fn issue_12_a_killed_coordinator_is_resumed_elsewhere() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = repo(tmp.path(), &url, 60, "0.1");
    let w1 = worker(tmp.path(), &url, "w1", "4");
    let mut run = start_run(&root, tmp.path());
    wait_ends(&log, 10);
    run.child.kill().unwrap();
    run.child.wait().unwrap();

    // Another checkout: the repository's config, without the first one's run files.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join(".ays")).unwrap();
    for entry in std::fs::read_dir(root.join(".ays")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), elsewhere.join(".ays").join(entry.file_name())).unwrap();
        }
    }
    let out = crate::ays(&elsewhere, &["run", "resume"], b"");
    assert!(out.status.success(), "resume failed: {}", stderr(&out));
    let jobs = json(&elsewhere, &["job", "list", "--all"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 60);
    assert!(jobs.iter().all(|j| j["state"] == "ok"), "{jobs:?}");
    // Every job ran on the worker (the resumed run went on with workers, as it was made).
    for (service, said) in ran_on(&elsewhere) {
        assert!(said.starts_with("ran on worker `w1`"), "{service}: {said}");
    }
    assert!(w1.terminate());
}

#[test]
fn issue_12_workers_need_a_store_they_share() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "repo"]);
    let out = crate::ays(
        &tmp.path().join("repo"),
        &["worker", "--concurrency", "1"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no message queue"),
        "{}",
        stderr(&out)
    );
    let out = crate::ays(
        tmp.path(),
        &["worker", "--store", "mem://", "--lease", "soon"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--lease `soon`"), "{}", stderr(&out));
}

/// The same, on a Redis Cluster (3 masters, 3 replicas): two workers share a run, and a second
/// worker with a live worker's name is refused.
#[test]
fn issue_12_workers_on_a_redis_cluster() {
    let cluster = ays_store::testing::RedisCluster::start()
        .unwrap_or_else(|e| panic!("cannot start a redis cluster: {e}"));
    let url = cluster.url();
    let tmp = tempfile::tempdir().unwrap();
    let (root, _log) = repo(tmp.path(), &url, 100, "0.05");
    let w1 = worker(tmp.path(), &url, "w1", "4");
    let w2 = worker(tmp.path(), &url, "w2", "4");
    wait_for("two live workers", Duration::from_secs(20), || {
        workers(tmp.path(), &url).len() == 2
    });
    let twin = crate::ays(
        tmp.path(),
        &["worker", "--store", &url, "--name", "w1"],
        b"",
    );
    assert_eq!(twin.status.code(), Some(2), "{}", stderr(&twin));
    assert!(
        stderr(&twin).contains("a live worker is already named `w1`"),
        "{}",
        stderr(&twin)
    );
    let text = ok(tmp.path(), &["worker", "list", "--store", &url]);
    assert!(
        text.lines().next().unwrap().starts_with("NAME")
            && text.contains("w1")
            && text.contains("w2"),
        "{text}"
    );

    ok(&root, &["run", "create", "--workers"]);
    let jobs = json(&root, &["job", "list", "--all"]);
    assert_eq!(jobs.as_array().unwrap().len(), 100);
    assert!(jobs.as_array().unwrap().iter().all(|j| j["state"] == "ok"));
    let mut on: BTreeMap<String, usize> = BTreeMap::new();
    for said in ran_on(&root).into_values() {
        *on.entry(said).or_default() += 1;
    }
    assert_eq!(
        on.keys().collect::<Vec<_>>(),
        ["ran on worker `w1`", "ran on worker `w2`"],
        "both workers ran jobs: {on:?}"
    );
    for w in [w1, w2] {
        assert!(w.terminate());
    }
}

/// The master holding the repository's slot dies mid-run. The coordinator's journal cannot
/// commit until the replica takes over, so the run stops unfinished (or, if the failover fell
/// between two commits, ends); `ays run resume` after the failover finishes it, and every job
/// ends ok once.
#[test]
fn issue_12_a_failover_mid_run_is_resumed() {
    let mut cluster = ays_store::testing::RedisCluster::start()
        .unwrap_or_else(|e| panic!("cannot start a redis cluster: {e}"));
    let url = cluster.url();
    let tmp = tempfile::tempdir().unwrap();
    let (root, log) = repo(tmp.path(), &url, 200, "0.05");
    let config = std::fs::read_to_string(root.join(".ays/config.yaml")).unwrap();
    let namespace = config
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().trim_matches(['\'', '"']).to_owned())
        .unwrap_or_else(|| panic!("no id in {config}"));
    let w1 = worker(tmp.path(), &url, "w1", "4");
    let w2 = worker(tmp.path(), &url, "w2", "4");
    let mut run = start_run(&root, tmp.path());
    wait_ends(&log, 30);
    let old = cluster.kill_master_of(&namespace).unwrap();
    let finished = run.wait(Duration::from_secs(120));
    cluster
        .wait_failover(&namespace, &old, Duration::from_secs(20))
        .unwrap();
    if !finished {
        assert!(
            run.stderr().contains("interrupted") || run.stderr().contains("cannot reach"),
            "{}",
            run.stderr()
        );
        let out = crate::ays(&root, &["run", "resume"], b"");
        assert!(out.status.success(), "resume failed: {}", stderr(&out));
    }
    let jobs = json(&root, &["job", "list", "--all"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 200);
    let mut seen = BTreeSet::new();
    for j in jobs {
        assert_eq!(j["state"], "ok", "{j}");
        assert!(seen.insert(j["service"].as_str().unwrap().to_owned()));
    }
    for w in [w1, w2] {
        let err = w.err.clone();
        assert!(w.terminate(), "{}", std::fs::read_to_string(err).unwrap());
    }
}

/// A repository whose config says `workers: true` has the runs `ays daemon` executes for it
/// run by workers, without anyone asking for them.
#[test]
fn issue_12_a_daemon_sends_a_workers_repositorys_runs_to_workers() {
    use crate::daemon::{Daemon, get};
    use crate::daemon_runs::send;

    let server = RedisServer::start().unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let (root, _log) = repo(tmp.path(), &url, 5, "0");
    let config = root.join(".ays/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}workers: true\n")).unwrap();
    let w1 = worker(tmp.path(), &url, "w1", "2");
    let token = std::fs::read_to_string(config_dir().join("token"))
        .unwrap()
        .trim_end()
        .to_owned();
    let daemon = Daemon::start(&config_dir(), &root, &["--port", "0"]);
    let runs = format!("{}/ays/repository/repo/aysrun", daemon.url());
    let (status, queued) = send("POST", &runs, &token, None);
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let (_, run) = get(&format!("{runs}/{id}"), Some(&token));
        if run["run"]["state"] == "ok" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not end: {run}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran_on = ran_on(&root);
    assert_eq!(ran_on.len(), 5);
    for (service, said) in ran_on {
        assert!(said.starts_with("ran on worker `w1`"), "{service}: {said}");
    }
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
    assert!(w1.terminate());
}
