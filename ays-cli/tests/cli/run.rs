//! Runs through the binary: the 8.1 failing scenario under both schedules, the example web
//! farm end to end, and resuming runs killed with SIGKILL at seeded moments.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ays_core::testing::{copy_scenario, copy_tree};
use serde_json::Value;

use crate::repo::{json, ok, stores};
use crate::{ays, stderr, stdout};

/// sample_repo3's template with the actions and chains its README describes, written in this
/// project's formats.
fn sample_repo3(tmp: &Path, store: Option<&str>) -> std::path::PathBuf {
    let repo = tmp.join("repo3");
    let mut args = vec!["init", "repo3"];
    if let Some(url) = store {
        args.extend_from_slice(&["--store", url]);
    }
    ok(tmp, &args);
    copy_scenario("sample_repo3", &repo).unwrap();
    let template = repo.join("actorTemplates/runtime_error_service");
    std::fs::write(
        template.join("config.yaml"),
        "depends:\n  test: [install]\n  test2: [install]\n  test3: [test2]\n",
    )
    .unwrap();
    std::fs::write(
        template.join("actions.sh"),
        "test() {\n    echo \"Error from service $AYS_SERVICE\" >&2\n    return 1\n}\n\n\
         test2() {\n    :\n}\n\ntest3() {\n    :\n}\n",
    )
    .unwrap();
    repo
}

fn job_states(repo: &Path) -> BTreeMap<String, String> {
    let detail = json(repo, &["run", "show"]);
    detail["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["action"].as_str().unwrap().to_owned(),
                j["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn sample_repo3_fails_as_in_81_under_steps_and_runs_test3_under_dag() {
    let (_redis, stores) = stores();
    for store in stores {
        let tmp = tempfile::tempdir().unwrap();
        let repo = sample_repo3(tmp.path(), store.as_deref());
        ok(&repo, &["blueprint"]);

        let plan = json(&repo, &["run", "create", "--dry-run"]);
        assert_eq!(
            plan["steps"],
            serde_json::json!([
                ["runtime_error_service!instance:install"],
                [
                    "runtime_error_service!instance:test",
                    "runtime_error_service!instance:test2"
                ],
                ["runtime_error_service!instance:test3"]
            ])
        );
        assert_eq!(
            json(&repo, &["run", "list"]),
            Value::Array(vec![]),
            "a dry run stores nothing"
        );

        let steps = ays(&repo, &["run", "create", "--schedule", "steps"], b"");
        assert_eq!(steps.status.code(), Some(3));
        assert!(
            stderr(&steps).contains("ended in error"),
            "{}",
            stderr(&steps)
        );
        let detail = json(&repo, &["run", "show"]);
        assert_eq!(detail["run"]["state"], "error");
        let step_states: Vec<&str> = detail["run"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["state"].as_str().unwrap())
            .collect();
        // The README's steps: `init` ran at creation (as in 8.1), so the run starts with install.
        assert_eq!(step_states, ["ok", "error", "new"]);
        let states = job_states(&repo);
        assert_eq!(states["install"], "ok");
        assert_eq!(states["test"], "error");
        assert_eq!(states["test2"], "ok");
        assert_eq!(states["test3"], "new");
        let dot = ok(&repo, &["run", "show", "--dot"]);
        assert!(dot.starts_with("digraph \"run "), "{dot}");
        assert!(
            dot.contains(
                "[label=\"runtime_error_service!instance\\ntest [error]\", fillcolor=salmon]"
            ),
            "the failed job is drawn in red: {dot}"
        );
        assert_eq!(dot.matches("subgraph cluster_").count(), 3);
        assert_eq!(
            dot.matches(" -> ").count(),
            2,
            "one edge between consecutive steps"
        );

        let failed = json(&repo, &["job", "list", "--state", "error"]);
        let log = failed[0]["logs"].to_string();
        assert!(
            log.contains("Error from service runtime_error_service!instance"),
            "the error message is in the job log: {log}"
        );

        // The dag schedule runs test3 (it needs test2 only); the run still ends in error.
        let dag = ays(&repo, &["run", "create"], b"");
        assert_eq!(dag.status.code(), Some(3));
        let states = job_states(&repo);
        assert_eq!(states["test"], "error");
        assert_eq!(states["test3"], "ok");
        assert_eq!(json(&repo, &["run", "list"]).as_array().unwrap().len(), 2);
    }
}

fn pid_alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_example_web_farm_installs_starts_and_uninstalls() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("farm");
    ok(tmp.path(), &["init", "farm"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webfarm");
    for sub in ["actorTemplates", "blueprints"] {
        copy_tree(&example.join(sub), &repo.join(sub)).unwrap();
    }
    ok(&repo, &["blueprint"]);
    ok(&repo, &["run", "create", "-j", "4"]);

    assert_eq!(
        std::fs::read_to_string(repo.join("var/lb!front/backends.conf")).unwrap(),
        "backend app!shop1 127.0.0.1:8001\nbackend app!shop2 127.0.0.1:8002\n\
         backend app!shop3 127.0.0.1:8003\n"
    );
    let node = json(&repo, &["service", "show", "node!web2"]);
    assert_eq!(node[0]["data"]["hostname"], "web2.farm");
    let mut pids = Vec::new();
    for app in ["app!shop1", "app!shop2", "app!shop3"] {
        let shown = json(&repo, &["service", "show", app]);
        let pid = shown[0]["data"]["pid"].as_i64().unwrap();
        assert!(pid > 0 && pid_alive(pid), "{app} runs a process ({pid})");
        pids.push(pid);
    }

    ok(&repo, &["do", "uninstall"]);
    for pid in pids {
        // The process was killed by `stop`; give the kernel a moment to reap it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pid_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        assert!(zombie, "the app process {pid} is stopped");
    }
    assert!(!repo.join("var/app!shop1").exists());
    assert!(!repo.join("var/lb!front").exists());

    // An action no service has is an error naming those they have.
    let nosuch = ays(&repo, &["do", "nosuch"], b"");
    assert_eq!(nosuch.status.code(), Some(2));
    let err = stderr(&nosuch);
    assert!(
        err.contains("no selected service has an action `nosuch`") && err.contains("install"),
        "{err}"
    );
    // After uninstall, install is needed again: the dry run shows it, changing nothing.
    let dry = ok(&repo, &["do", "install", "--dry-run"]);
    assert!(
        dry.contains("app!shop1") && dry.contains("install"),
        "{dry}"
    );
    assert!(
        !repo.join("var/lb!front").exists(),
        "a dry run runs nothing"
    );
    let states = json(&repo, &["service", "state", "--role", "app"]);
    assert!(
        !states.to_string().contains("scheduled"),
        "a dry run schedules nothing: {states}"
    );
    ok(&repo, &["do", "install"]);
    assert!(
        repo.join("var/lb!front/backends.conf").is_file(),
        "installed again"
    );
    // And with --force, a dry run of an ok action shows it too.
    let forced = ok(&repo, &["do", "install", "--force", "--dry-run"]);
    assert!(forced.contains("app!shop1"), "{forced}");
    ok(&repo, &["do", "uninstall"]);
}

/// A small deterministic generator, so that the kill points are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Lines of the executions log: one per run of an action.
fn executions(repo: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(repo.join("executions.log")).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// A repository of `services` independent workers whose `install` sleeps 50 ms and appends
/// the service to `executions.log`, with install scheduled everywhere.
fn worker_repo(tmp: &Path, services: usize) -> std::path::PathBuf {
    let repo = tmp.join("r");
    ok(tmp, &["init", "r"]);
    let template = repo.join("actorTemplates/worker");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("schema.hrd"), "size = type:int default:1\n").unwrap();
    std::fs::write(
        template.join("actions.sh"),
        "install() {\n    sleep 0.05\n    echo \"$AYS_SERVICE\" >> \"$AYS_REPO/executions.log\"\n}\n",
    )
    .unwrap();
    let mut blueprint = String::new();
    for i in 0..services {
        blueprint.push_str(&format!("worker__w{i:02}:\n"));
    }
    blueprint.push_str("actions:\n  - action: install\n");
    std::fs::write(repo.join("blueprints/workers.yaml"), blueprint).unwrap();
    ok(&repo, &["blueprint"]);
    repo
}

/// The services whose `install` job of the newest run is recorded ok.
fn installs_done(repo: &Path) -> Vec<String> {
    let done = json(
        repo,
        &["job", "list", "--state", "ok", "--action", "install"],
    );
    done.as_array()
        .unwrap()
        .iter()
        .map(|j| j["service"].as_str().unwrap().to_owned())
        .collect()
}

/// Starts `ays run create -j 4` in `repo` and kills it with SIGKILL once `executed` actions
/// have run (a seeded point in the run, independent of the machine's speed), after a further
/// `jitter`.
fn kill_run_after(repo: &Path, executed: usize, jitter: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ays"))
        .args(["run", "create", "-j", "4"])
        .current_dir(repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline
        && executions(repo).values().sum::<usize>() < executed
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(jitter);
    child.kill().unwrap(); // SIGKILL (a no-op if the run already ended)
    child.wait().unwrap();
}

#[test]
fn an_unfinished_run_blocks_a_new_one_until_abandoned() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = worker_repo(tmp.path(), 40);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ays"))
        .args(["run", "create", "-j", "1"])
        .current_dir(&repo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once a worker has run, the run is stored and unfinished.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && executions(&repo).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Another process reads the repository while the run executes (the embedded store is
    // shared between processes).
    let during = json(&repo, &["run", "list"]);
    assert_eq!(during[0]["state"], "running", "{during}");
    child.kill().unwrap();
    child.wait().unwrap();
    let run = json(&repo, &["run", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let refused = ays(&repo, &["run", "create"], b"");
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(err.contains(&run) && err.contains("unfinished"), "{err}");

    let abandoned = json(&repo, &["run", "abandon", &run]);
    assert_eq!(abandoned["state"], "error");
    ok(&repo, &["run", "create"]);
    assert_eq!(json(&repo, &["run", "list"])[0]["state"], "ok");
    assert_eq!(executions(&repo).len(), 40, "every worker ran");
}

#[test]
fn ctrl_c_once_lets_running_jobs_finish_and_leaves_a_resumable_run() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = worker_repo(tmp.path(), 30);
    let child = Command::new(env!("CARGO_BIN_EXE_ays"))
        .args(["run", "create", "-j", "1", "-y", "--follow"])
        .current_dir(&repo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && executions(&repo).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interrupted"), "{err}");
    assert!(err.contains("ays run resume"), "{err}");

    let stopped = executions(&repo);
    assert!(
        stopped.len() < 30,
        "no new job started after Ctrl-C: {}",
        stopped.len()
    );
    let run = &json(&repo, &["run", "list"])[0];
    assert_eq!(run["state"], "running", "the run is left resumable");
    let done = installs_done(&repo);
    assert!(!done.is_empty(), "the running job was allowed to finish");

    ok(&repo, &["run", "resume"]);
    assert_eq!(json(&repo, &["run", "list"])[0]["state"], "ok");
    let after = executions(&repo);
    assert_eq!(after.len(), 30, "every worker ran");
    for service in &done {
        assert_eq!(after.get(service), Some(&1), "{service} ran once");
    }
}

#[test]
fn a_run_killed_at_20_seeded_points_resumes_without_losing_finished_jobs() {
    const SERVICES: usize = 24;
    let mut rng = Lcg(0x5eed);
    let mut interrupted = 0;
    for point in 0..20 {
        let tmp = tempfile::tempdir().unwrap();
        let repo = worker_repo(tmp.path(), SERVICES);
        let executed = 1 + usize::try_from(rng.next(SERVICES as u64 - 2)).unwrap();
        kill_run_after(&repo, executed, Duration::from_millis(rng.next(40)));

        let runs = json(&repo, &["run", "list"]);
        match runs.as_array().unwrap().first() {
            None => {
                // Killed before the run was stored: a new run does the work.
                ok(&repo, &["run", "create"]);
            }
            Some(run) if run["state"] == "ok" => {}
            Some(_) => {
                interrupted += 1;
                // Installs recorded ok before the kill. (Actions that were running go on in
                // their own process groups and may still append; those jobs run again.)
                let done = installs_done(&repo);
                let before = executions(&repo);
                ok(&repo, &["run", "resume"]);
                let after = executions(&repo);
                for service in &done {
                    assert_eq!(
                        before.get(service),
                        after.get(service),
                        "point {point}: {service} finished before the kill and ran again"
                    );
                }
            }
        }
        let newest = &json(&repo, &["run", "list"])[0];
        assert_eq!(newest["state"], "ok", "point {point}: the run ends ok");
        let states = json(&repo, &["service", "state"]);
        for s in states.as_array().unwrap() {
            let install = s["actions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a[0] == "install")
                .unwrap();
            assert_eq!(install[1], "ok", "point {point}: {} installed", s["key"]);
        }
        let counts = executions(&repo);
        assert_eq!(counts.len(), SERVICES, "point {point}: every service ran");
    }
    assert!(
        interrupted >= 15,
        "only {interrupted} of 20 kill points hit a running run: the test must interrupt runs"
    );
}

/// A blueprint of one `app` with `install` scheduled.
const INSTALL_A: &str = "app__a:\nactions:\n  - action: install\n";

/// A repository `r` in `dir` with one template `app` (`port = type:int` and `actions`) and the
/// blueprint `blueprint`, applied.
fn app_repo(dir: &Path, actions: &str, blueprint: &str) -> std::path::PathBuf {
    ok(dir, &["init", "r"]);
    let repo = dir.join("r");
    let template = repo.join("actorTemplates/app");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("schema.hrd"), "port = type:int\n").unwrap();
    std::fs::write(template.join("actions.sh"), actions).unwrap();
    std::fs::write(repo.join("blueprints/bp.yaml"), blueprint).unwrap();
    ok(&repo, &["blueprint"]);
    repo
}

/// A shell action whose interpreter cannot start fails its job with the operating system's
/// reason, and the run's error names the job and that reason.
#[test]
fn issue_7_a_missing_bash_fails_the_job_with_the_os_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = app_repo(
        tmp.path(),
        "install() {\n    echo installing\n}\n",
        "app__a:\n  port: 80\nactions:\n  - action: install\n",
    );
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ays"))
        .args(["run", "create", "-y"])
        .current_dir(&repo)
        .env("PATH", empty.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("app!a:install: ")
            && err.contains("cannot start `bash`")
            && err.contains("No such file or directory"),
        "{err}"
    );
}

/// A run of more than 50 jobs prints a summary per step, its failures in full, and lists
/// every job only with `--all`.
#[test]
fn issue_8_large_runs_print_a_summary_unless_all() {
    let tmp = tempfile::tempdir().unwrap();
    let mut blueprint = String::new();
    for i in 0..60 {
        blueprint.push_str(&format!("app__a{i}:\n  port: {i}\n"));
    }
    blueprint.push_str("actions:\n  - action: install\n");
    let repo = app_repo(
        tmp.path(),
        "install() {\n    [ \"$AYS_SERVICE_INSTANCE\" != a7 ]\n}\n",
        &blueprint,
    );
    let out = crate::ays(&repo, &["run", "create", "-y"], b"");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = crate::stdout(&out);
    assert!(
        text.contains("STEP  STATE  JOBS  OK  ERROR  RUNNING  NEW"),
        "{text}"
    );
    assert!(
        text.contains("failed jobs:") && text.contains("app!a7"),
        "{text}"
    );
    assert!(text.contains("60 jobs; `--all` lists every job"), "{text}");
    assert!(!text.contains("app!a3 "), "{text}");

    let show = crate::stdout(&crate::ays(&repo, &["run", "show"], b""));
    assert!(show.contains("60 jobs; `--all`"), "{show}");
    let all = crate::stdout(&crate::ays(&repo, &["run", "show", "--all"], b""));
    assert!(
        all.contains("app!a3:install") && all.lines().count() > 60,
        "{all}"
    );
    let jobs = crate::stdout(&crate::ays(&repo, &["job", "list", "--all"], b""));
    assert_eq!(jobs.lines().count(), 61, "{jobs}");
    let listed = json(&repo, &["job", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(60));
}

#[test]
fn issue_9_runs_are_named_by_prefix_or_latest_with_readable_times() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "empty"]);
    let empty = tmp.path().join("empty");
    assert_eq!(ok(&empty, &["run", "list"]), "no runs yet\n");
    assert_eq!(ok(&empty, &["service", "list"]), "no services match\n");
    assert_eq!(ok(&empty, &["job", "list"]), "no runs yet\n");
    assert!(ok(&empty, &["actor", "list"]).starts_with("no actors yet"));
    assert!(ok(&empty, &["template", "list"]).starts_with("no templates"));
    for args in [&["run", "abandon", "nosuch"][..], &["run", "resume"]] {
        let out = ays(&empty, args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let unlock = ays(&empty, &["run", "unlock", "--force"], b"");
    assert_eq!(stdout(&unlock), "the repository was not locked\n");
    assert!(
        !stderr(&unlock).contains("removed by force"),
        "{}",
        stderr(&unlock)
    );
    let repo = app_repo(tmp.path(), "", INSTALL_A);
    ok(&repo, &["run", "create", "-y"]);
    let runs = json(&repo, &["run", "list"]);
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    assert!(
        runs[0]["created_at"].is_i64(),
        "raw numbers in JSON: {runs}"
    );
    let listed = ok(&repo, &["run", "list"]);
    assert!(
        listed.contains("CREATED") && listed.contains("Z\n"),
        "{listed}"
    );
    for name in ["latest", &id[..6], &id] {
        let job = json(&repo, &["job", "show", name, "1"]);
        assert_eq!(job["run"], id.as_str(), "{name}");
    }
    let none = ays(&repo, &["job", "show", "nosuch", "1"], b"");
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("no run `nosuch`"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn issue_9_quiet_runs_print_results_only_and_verbose_ones_log() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = app_repo(tmp.path(), "", INSTALL_A);
    let quiet = ays(&repo, &["-q", "run", "create", "-y"], b"");
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "", "no progress");
    assert!(
        stdout(&quiet).contains("ok"),
        "results still: {}",
        stdout(&quiet)
    );
    let in_memory = ays(&repo, &["-q", "--store", "mem://q", "blueprint"], b"");
    assert_eq!(stderr(&in_memory), "", "no warning");
    let verbose = ays(&repo, &["-v", "run", "create", "-y"], b"");
    assert!(verbose.status.success());
    assert!(stderr(&verbose).contains("INFO"), "{}", stderr(&verbose));
}

/// The processes (other than zombies) whose environment names `repo` as `AYS_REPO`.
fn processes_of(repo: &Path) -> Vec<String> {
    let wanted = format!("AYS_REPO={}", repo.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        let Ok(env) = std::fs::read(dir.join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(dir.join("stat")).is_ok_and(|s| s.contains(") Z "));
        if !zombie && env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            let wchan = std::fs::read_to_string(dir.join("wchan")).unwrap_or_default();
            found.push(format!("{} ({wchan})", dir.display()));
        }
    }
    found
}

/// A run whose first job kills `ays` while others are asked for: the jobs its bash server
/// forks afterwards exit instead of waiting forever to open their output for a reader that is
/// gone, and nothing of the run is left running.
#[test]
fn issue_8_a_killed_run_leaves_no_bash_job_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = worker_repo(tmp.path(), 40);
    std::fs::write(
        repo.join("actorTemplates/worker/actions.sh"),
        "install() {\n    if [ \"$AYS_SERVICE\" = worker!w05 ]; then kill -9 \"$PPID\"; fi\n    \
         sleep 0.2\n}\n",
    )
    .unwrap();
    ok(&repo, &["actor", "update"]);
    // Each round is a race (the jobs asked for just before ays died); six rounds with sixteen
    // jobs at once lose it most of the time without the fix.
    for _ in 0..6 {
        let out = crate::ays(&repo, &["run", "create", "-y", "-j", "16"], b"");
        assert_eq!(
            out.status.code(),
            None,
            "ays was not killed: {}",
            stderr(&out)
        );
        // Jobs that were running when ays died end on their own (0.2 s); none may wait on.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left = processes_of(&repo);
            if left.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "left behind: {left:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let runs = json(&repo, &["run", "list"]);
        let id = runs[0]["id"].as_str().unwrap().to_owned();
        ok(&repo, &["run", "abandon", &id]);
    }
}
