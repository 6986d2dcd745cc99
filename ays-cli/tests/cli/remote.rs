//! `ays --remote URL ...`: the commands through `ays daemon`'s API, run from a directory that
//! is not the repository, print what they print on the repository itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::daemon::{Daemon, ays_with, ok_with};
use crate::{stderr, stdout};

/// A repository `r` under `parent`: `db!main` and its child `web!site`, both with a shell
/// `install` scheduled; web's install runs `web_install`.
fn repository(config: &Path, parent: &Path, web_install: &str) -> PathBuf {
    ok_with(config, parent, &["init", "r"]);
    let root = parent.join("r");
    let db = root.join("actorTemplates/db");
    let web = root.join("actorTemplates/web");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(db.join("schema.hrd"), "size = type:int default:1\n").unwrap();
    std::fs::write(db.join("actions.sh"), "install() {\n    echo db ready\n}\n").unwrap();
    std::fs::write(web.join("schema.hrd"), "db = type:str parent:'db'\n").unwrap();
    std::fs::write(
        web.join("actions.sh"),
        format!("install() {{\n    {web_install}\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("blueprints/bp.yaml"),
        "db__main:\nweb__site:\n  db: main\nactions:\n  - action: install\n",
    )
    .unwrap();
    ok_with(config, &root, &["blueprint"]);
    root
}

struct Setup {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    root: PathBuf,
    /// A directory that is no repository.
    elsewhere: PathBuf,
}

fn setup(web_install: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let root = repository(&config, tmp.path(), web_install);
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    Setup {
        _tmp: tmp,
        config,
        root,
        elsewhere,
    }
}

/// `ays --remote URL ARGS` from `dir`, with `env` set: its output.
fn remote_in(s: &Setup, url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ays"));
    command
        .env("AYS_CONFIG_DIR", &s.config)
        .env_remove("AYS_REMOTE")
        .env_remove("AYS_REPOSITORY")
        .env_remove("AYS_TOKEN")
        .args(["--remote", url])
        .args(args)
        .current_dir(&s.elsewhere)
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// As [`remote_in`], which must succeed: its stdout.
fn remote_ok(s: &Setup, url: &str, args: &[&str]) -> String {
    let out = remote_in(s, url, args, &[]);
    assert!(
        out.status.success(),
        "ays --remote {args:?}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Reading commands print the same through the daemon as on the repository, text and JSON;
/// a run created with --follow streams its jobs and ends as a local run does, and its jobs
/// read the same afterwards.
#[test]
fn issue_11_commands_through_the_daemon_print_what_they_print_locally() {
    let s = setup("echo web up");
    let reads: &[&[&str]] = &[
        &["service", "list"],
        &["service", "list", "--actor", "web"],
        &["service", "list", "--parent", "db!main"],
        &["service", "show"],
        &["service", "show", "web!site"],
        &["actor", "list"],
        &["run", "list"],
    ];
    let mut local = Vec::new();
    for args in reads {
        local.push(ok_with(&s.config, &s.root, args));
        let json: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        local.push(ok_with(&s.config, &s.root, &json));
    }

    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let url = daemon.url();
    for (i, args) in reads.iter().enumerate() {
        assert_eq!(remote_ok(&s, &url, args), local[2 * i], "{args:?}");
        let json: Vec<&str> = std::iter::once("--json")
            .chain(args.iter().copied())
            .collect();
        assert_eq!(remote_ok(&s, &url, &json), local[2 * i + 1], "{json:?}");
    }

    let out = remote_in(&s, &url, &["run", "create", "--follow"], &[]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    for line in [
        "started  db!main:install",
        "finished db!main:install: ok",
        "started  web!site:install",
        "finished web!site:install: ok",
    ] {
        assert!(err.contains(line), "{line} in {err}");
    }
    assert!(
        err.find("finished db!main:install") < err.find("started  web!site:install"),
        "{err}"
    );
    assert!(text.contains("web!site  install  ok"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("run ") && last.ends_with(": ok"), "{text}");

    let remote_jobs = remote_ok(&s, &url, &["--json", "job", "list"]);
    let remote_web = remote_ok(&s, &url, &["job", "list", "--service", "web!site"]);
    let remote_run = remote_ok(&s, &url, &["--json", "run", "show"]);
    let remote_runs = remote_ok(&s, &url, &["run", "list"]);
    let remote_job = remote_ok(&s, &url, &["job", "show", "latest", "2"]);
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        remote_jobs,
        ok_with(&s.config, &s.root, &["--json", "job", "list"])
    );
    assert_eq!(
        remote_web,
        ok_with(
            &s.config,
            &s.root,
            &["job", "list", "--service", "web!site"]
        )
    );
    assert_eq!(
        remote_run,
        ok_with(&s.config, &s.root, &["--json", "run", "show"])
    );
    assert_eq!(remote_runs, ok_with(&s.config, &s.root, &["run", "list"]));
    assert_eq!(
        remote_job,
        ok_with(&s.config, &s.root, &["job", "show", "latest", "2"])
    );
    assert!(remote_job.contains("[out] web up"), "{remote_job}");
}

/// A run whose job fails exits as a local one does (3), naming the job; without --follow the
/// run is queued and its id printed.
#[test]
fn issue_11_a_failed_run_through_the_daemon_exits_non_zero() {
    let s = setup("echo broken >&2; exit 1");
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let url = daemon.url();

    let dry = remote_ok(&s, &url, &["run", "create", "--dry-run"]);
    let local_dry = ok_with(&s.config, &s.root, &["run", "create", "--dry-run"]);
    assert_eq!(dry, local_dry);

    let out = remote_in(&s, &url, &["run", "create", "--follow"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{}{err}", stdout(&out));
    assert!(err.contains("finished web!site:install: error"), "{err}");
    assert!(err.contains("1 job(s) failed"), "{err}");
    assert!(err.contains("web!site:install"), "{err}");

    // The failed action is picked up again: queued, and its id printed at once.
    let queued = remote_ok(&s, &url, &["run", "create"]);
    assert!(
        queued.starts_with("run ") && queued.trim_end().ends_with(": queued"),
        "{queued}"
    );
    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}

/// A wrong token, a daemon that is not there and a command without a route each give one
/// clear line and a non-zero exit; nothing falls back to a local repository.
#[test]
fn issue_11_remote_refusals_are_clear() {
    let s = setup("true");
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let url = daemon.url();

    let wrong = "0".repeat(64);
    let out = remote_in(&s, &url, &["service", "list"], &[("AYS_TOKEN", &wrong)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: unauthorized: wrong bearer token (`ays token show` prints the daemon's)\n"
    );
    let out = remote_in(
        &s,
        &url,
        &["--json", "service", "list"],
        &[("AYS_TOKEN", &wrong)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"code\":2"), "{}", stderr(&out));

    let out = remote_in(&s, &url, &["service", "show", "web!nope"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: service_not_found: "),
        "{}",
        stderr(&out)
    );

    for (args, name) in [
        (&["service", "state"][..], "service state"),
        (&["run", "abandon", "x"][..], "run abandon"),
    ] {
        let out = remote_in(&s, &url, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!(
                "error: `ays {name}` is not available with --remote"
            )),
            "{err}"
        );
    }
    // AYS_REMOTE works as --remote does.
    let mut command = Command::new(env!("CARGO_BIN_EXE_ays"));
    let out = command
        .env("AYS_CONFIG_DIR", &s.config)
        .env("AYS_REMOTE", &url)
        .env_remove("AYS_TOKEN")
        .args(["service", "list"])
        .current_dir(&s.elsewhere)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("web!site"), "{}", stderr(&out));
    let out = remote_in(&s, &url, &["--repository", "nope", "service", "list"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: repository_not_found: "),
        "{}",
        stderr(&out)
    );

    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
    let gone = remote_in(&s, &url, &["service", "list"], &[]);
    assert_eq!(gone.status.code(), Some(1));
    let err = stderr(&gone);
    assert!(
        err.starts_with(&format!("error: cannot reach the daemon at {url}: ")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `ays ARGS` on repository `root` and `ays --remote URL ARGS` through the daemon serving
/// another repository of the same content: the same exit code and output.
fn same(s: &Setup, url: &str, local: &Setup, args: &[&str]) -> String {
    let here = ays_with(&local.config, &local.root, args);
    let there = remote_in(s, url, args, &[]);
    assert_eq!(
        there.status.code(),
        here.status.code(),
        "{args:?}: {}{}",
        stderr(&there),
        stderr(&here)
    );
    assert_eq!(
        stdout(&there),
        stdout(&here),
        "{args:?}: {}",
        stderr(&there)
    );
    stdout(&there)
}

/// The services of both repositories, as `service list --json` prints them: the same.
fn same_services(s: &Setup, url: &str, local: &Setup) -> String {
    same(s, url, local, &["--json", "service", "list"])
}

/// Changes through the daemon (a blueprint uploaded and executed, every blueprint executed,
/// an actor updated, services deleted, the repository destroyed) print what they print on a
/// repository of the same content, and leave the same services.
#[test]
fn issue_11_changes_through_the_daemon_print_what_they_print_locally() {
    let s = setup("true");
    let local = setup("true");
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let url = daemon.url();

    // A blueprint file of the client's, uploaded as `more.yaml`; locally, the same file in
    // blueprints/ (the report names it `blueprints/more.yaml` in both).
    let more = "db__extra:\n  size: 2\n";
    std::fs::write(s.elsewhere.join("more.yaml"), more).unwrap();
    std::fs::write(local.root.join("blueprints/more.yaml"), more).unwrap();
    let here = ays_with(
        &local.config,
        &local.root,
        &["blueprint", "blueprints/more.yaml"],
    );
    let there = remote_in(&s, &url, &["blueprint", "more.yaml"], &[]);
    assert_eq!(there.status.code(), Some(0), "{}", stderr(&there));
    assert_eq!(stdout(&there), stdout(&here));
    assert!(stdout(&there).contains("db!extra"), "{}", stdout(&there));
    // Changed, as JSON: the blueprint exists now, and is rewritten.
    let more = "db__extra:\n  size: 5\n";
    std::fs::write(s.elsewhere.join("more.yaml"), more).unwrap();
    std::fs::write(local.root.join("blueprints/more.yaml"), more).unwrap();
    let here = ays_with(
        &local.config,
        &local.root,
        &["--json", "blueprint", "blueprints/more.yaml"],
    );
    let there = remote_in(&s, &url, &["--json", "blueprint", "more.yaml"], &[]);
    assert_eq!(there.status.code(), Some(0), "{}", stderr(&there));
    assert_eq!(stdout(&there), stdout(&here));
    assert!(stdout(&there).contains("\"old\": 2"), "{}", stdout(&there));
    same_services(&s, &url, &local);
    // Every active blueprint, in name order.
    let all = same(&s, &url, &local, &["blueprint"]);
    assert!(
        all.starts_with("applied blueprints/bp.yaml, blueprints/more.yaml: "),
        "{all}"
    );
    same(&s, &url, &local, &["--json", "blueprint"]);

    // The template of db gets an action: the actor update says so.
    for root in [&s.root, &local.root] {
        std::fs::write(
            root.join("actorTemplates/db/actions.sh"),
            "install() {\n    echo db ready\n}\nstart() {\n    echo db started\n}\n",
        )
        .unwrap();
    }
    let updated = same(&s, &url, &local, &["actor", "update", "db"]);
    assert!(updated.contains("changed: start"), "{updated}");
    same(&s, &url, &local, &["--json", "actor", "update"]);
    same(&s, &url, &local, &["actor", "update"]);

    let deleted = same(
        &s,
        &url,
        &local,
        &["service", "delete", "web!site", "--yes"],
    );
    assert_eq!(
        deleted,
        "deleted web!site\nunlinked db!main from web!site\n"
    );
    same(
        &s,
        &url,
        &local,
        &[
            "--json", "service", "delete", "db!extra", "--yes", "--force",
        ],
    );
    same_services(&s, &url, &local);

    let dry = same(&s, &url, &local, &["destroy", "--dry-run"]);
    assert_eq!(
        dry,
        "would remove 2 actor(s) and 1 service(s); runs are kept\n"
    );
    same(&s, &url, &local, &["--json", "destroy", "--dry-run"]);
    same(&s, &url, &local, &["destroy", "--yes"]);
    same(&s, &url, &local, &["--json", "destroy", "--yes"]);
    assert_eq!(same_services(&s, &url, &local), "[]\n");
    // The blueprints stay: executing them makes the services again. (Only one: through the
    // daemon, each blueprint is executed as a unit of its own, so that the `actions` of
    // bp.yaml would not reach the services of more.yaml as they do locally.)
    for root in [&s.root, &local.root] {
        std::fs::remove_file(root.join("blueprints/more.yaml")).unwrap();
    }
    same(&s, &url, &local, &["blueprint"]);
    same_services(&s, &url, &local);

    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}

/// The refusals of changes through the daemon exit as the local ones do: an unknown service
/// or actor, a blueprint that is no blueprint (named with its line), one that the repository
/// refuses (and that does not stay behind), and the dry runs the API does not have.
#[test]
fn issue_11_change_refusals_through_the_daemon_exit_as_local_ones() {
    let s = setup("true");
    let local = setup("true");
    let daemon = Daemon::start(&s.config, &s.root, &["--port", "0"]);
    let url = daemon.url();

    for args in [
        &["service", "delete", "web!nope", "--yes"][..],
        &["actor", "update", "nope"][..],
    ] {
        let here = ays_with(&local.config, &local.root, args);
        let there = remote_in(&s, &url, args, &[]);
        assert_eq!(here.status.code(), Some(2), "{args:?}");
        assert_eq!(there.status.code(), Some(2), "{args:?}: {}", stderr(&there));
        assert!(stderr(&there).starts_with("error: "), "{}", stderr(&there));
    }
    let err = stderr(&remote_in(
        &s,
        &url,
        &["service", "delete", "web!nope", "--yes"],
        &[],
    ));
    assert!(err.starts_with("error: service_not_found: "), "{err}");

    // Not a blueprint: refused before it is written, naming the file and the line.
    let bad = "db__main:\n  size: 2\nweb1: {}\n";
    std::fs::write(s.elsewhere.join("bad.yaml"), bad).unwrap();
    std::fs::write(local.root.join("blueprints/bad.yaml"), bad).unwrap();
    let here = ays_with(
        &local.config,
        &local.root,
        &["blueprint", "blueprints/bad.yaml"],
    );
    let there = remote_in(&s, &url, &["blueprint", "bad.yaml"], &[]);
    assert_eq!(
        there.status.code(),
        here.status.code(),
        "{}",
        stderr(&there)
    );
    assert_eq!(there.status.code(), Some(2));
    let err = stderr(&there);
    assert!(
        err.starts_with("error: invalid_blueprint: ")
            && err.contains("bad.yaml")
            && err.contains('3'),
        "{err}"
    );
    std::fs::remove_file(local.root.join("blueprints/bad.yaml")).unwrap();

    // A blueprint the repository refuses: it does not stay in the daemon's blueprints.
    let unknown = "nope__x:\n";
    std::fs::write(s.elsewhere.join("unknown.yaml"), unknown).unwrap();
    std::fs::write(local.root.join("blueprints/unknown.yaml"), unknown).unwrap();
    let here = ays_with(
        &local.config,
        &local.root,
        &["blueprint", "blueprints/unknown.yaml"],
    );
    let there = remote_in(&s, &url, &["blueprint", "unknown.yaml"], &[]);
    assert_eq!(
        there.status.code(),
        here.status.code(),
        "{}",
        stderr(&there)
    );
    let err = stderr(&there);
    assert!(
        err.starts_with("error: blueprint_refused: ") && err.contains("unknown.yaml"),
        "{err}"
    );
    assert!(!s.root.join("blueprints/unknown.yaml").exists());
    // One that rewrites a blueprint of the daemon's: refused, the former content is back.
    let former = std::fs::read_to_string(s.root.join("blueprints/bp.yaml")).unwrap();
    std::fs::write(s.elsewhere.join("bp.yaml"), unknown).unwrap();
    let there = remote_in(&s, &url, &["blueprint", "bp.yaml"], &[]);
    assert_eq!(
        there.status.code(),
        here.status.code(),
        "{}",
        stderr(&there)
    );
    assert_eq!(
        std::fs::read_to_string(s.root.join("blueprints/bp.yaml")).unwrap(),
        former
    );
    std::fs::remove_file(local.root.join("blueprints/unknown.yaml")).unwrap();
    same(&s, &url, &local, &["blueprint"]);

    for (args, flag) in [
        (&["blueprint", "--dry-run"][..], "`ays blueprint --dry-run`"),
        (
            &["service", "delete", "web!site", "--dry-run"][..],
            "`ays service delete --dry-run`",
        ),
    ] {
        let out = remote_in(&s, &url, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: {flag} is not available with --remote")),
            "{err}"
        );
    }
    same_services(&s, &url, &local);

    let (code, err) = daemon.terminate();
    assert_eq!(code, Some(0), "{err}");
}
