//! Actions files as people write them (#9 items 7 and 8): the file runs as written, its
//! functions are found by bash and Python themselves, and errors name the template's own file
//! and line.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::repo::{json, ok};
use crate::{ays, stderr, stdout};

/// A repository `r` in `dir` with one template `app` whose actions file is `file` (`actions.sh`
/// or `actions.py`) holding `actions`, and a blueprint with `app__a` scheduling `schedule`.
fn repo_with(dir: &Path, file: &str, actions: &str, schedule: &[&str]) -> PathBuf {
    ok(dir, &["init", "r"]);
    let repo = dir.join("r");
    let template = repo.join("actorTemplates/app");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("schema.hrd"), "port = type:int\n").unwrap();
    std::fs::write(template.join(file), actions).unwrap();
    let mut bp = String::from("app__a:\n  port: 80\nactions:\n");
    for a in schedule {
        bp.push_str(&format!("  - action: {a}\n"));
    }
    std::fs::write(repo.join("blueprints/bp.yaml"), bp).unwrap();
    repo
}

/// Applies the blueprint and runs it; each job, by action, as `ays job show --json` gives it.
fn run_jobs(repo: &Path) -> std::collections::BTreeMap<String, Value> {
    ok(repo, &["blueprint"]);
    let _ = ays(repo, &["run", "create", "-y"], b"");
    let jobs = json(repo, &["job", "list", "--all"]);
    jobs.as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let number = j["number"].to_string();
            let job = json(repo, &["job", "show", "latest", &number]);
            (j["action"].as_str().unwrap().to_owned(), job)
        })
        .collect()
}

/// `ays blueprint` in `repo`, which must be refused as bad input: its stderr.
fn refused(repo: &Path) -> String {
    let out = ays(repo, &["blueprint"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stderr(&out)
}

/// Everything a job logged, one text.
fn log_text(job: &Value) -> String {
    job["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn issue_9_shell_functions_in_any_style_run_with_the_files_top_level() {
    let tmp = tempfile::tempdir().unwrap();
    let sh = "#!/bin/bash\nset -e\nMYVAR=hello\nhelper() { echo \"helped $1\"; }\n\
              install() { echo \"one line $MYVAR\"; helper install; }\n\
              start()\n{\n  echo \"brace on the next line\"\n  }\n\
              function monitor {\n    false\n    echo not reached\n    }\n\
              _private() { echo private; }\n";
    let repo = repo_with(
        tmp.path(),
        "actions.sh",
        sh,
        &["install", "start", "monitor"],
    );
    let jobs = run_jobs(&repo);
    let install = &jobs["install"];
    assert_eq!(install["state"], "ok", "{install}");
    let log = log_text(install);
    assert!(
        log.contains("one line hello") && log.contains("helped install"),
        "{log}"
    );
    let start = &jobs["start"];
    assert_eq!(start["state"], "ok", "{start}");
    assert!(
        log_text(start).contains("brace on the next line"),
        "{start}"
    );
    // `set -e` at the top of the file holds in the actions: `false` ends `monitor`.
    let monitor = &jobs["monitor"];
    assert_eq!(monitor["state"], "error", "{monitor}");
    assert!(!log_text(monitor).contains("not reached"), "{monitor}");
}

#[test]
fn issue_9_a_shell_syntax_error_names_the_template_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let sh = "MYVAR=1\n\ninstall() {\n  if then\n}\n";
    let repo = repo_with(tmp.path(), "actions.sh", sh, &["install"]);
    let err = refused(&repo);
    assert!(
        err.contains("actorTemplates/app/actions.sh:4:") && err.contains("bash:"),
        "{err}"
    );
    assert_eq!(
        json(&repo, &["service", "list"]),
        serde_json::json!([]),
        "nothing applied"
    );
}

#[test]
fn issue_9_actions_py_is_loaded_as_the_module_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let py = "import os\nimport json\n\nGREETING = 'hello'\n\n\
              def helper(word):\n    return GREETING + ' ' + word\n\n\
              def install(job):\n    print(helper(os.path.basename('/x/world')))\n    \
              print('in repo', os.path.samefile('.', job.repo), job.repo == os.environ['AYS_REPO'])\n    \
              job.service.data.port = 81\n    \
              print('pickled', pickle.loads(pickle.dumps(Point(3))))\n    return {'done': True}\n\n\
              def start(job):\n    x = 1\n    raise ValueError('broken ' + str(x))\n\n\
              import pickle\nfrom dataclasses import dataclass\n\n@dataclass\nclass Point:\n    x: int\n";
    let repo = repo_with(tmp.path(), "actions.py", py, &["install", "start"]);
    let jobs = run_jobs(&repo);
    let install = &jobs["install"];
    assert_eq!(install["state"], "ok", "{install}");
    let log = log_text(install);
    assert!(log.contains("hello world"), "{log}");
    assert!(
        log.contains("in repo True True"),
        "where shell actions run: {log}"
    );
    assert!(log.contains("returned {\"done\": true}"), "{log}");
    let service = json(&repo, &["service", "show", "app!a"]);
    assert_eq!(service[0]["data"]["port"], 81, "{service}");
    // The traceback names the template's file and the line of the `raise`.
    let start = &jobs["start"];
    assert_eq!(start["state"], "error", "{start}");
    let log = log_text(start);
    let template = repo.join("actorTemplates/app/actions.py");
    assert!(
        log.contains(&format!(
            "File \"{}\", line 18, in start",
            template.display()
        )),
        "{log}"
    );
    assert!(
        log.contains("raise ValueError('broken ' + str(x))"),
        "{log}"
    );
}

#[test]
fn issue_9_a_python_syntax_error_is_reported_at_load_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let py = "import os\n\ndef install(job)\n    pass\n";
    let repo = repo_with(tmp.path(), "actions.py", py, &["install"]);
    let err = refused(&repo);
    assert!(
        err.contains("actorTemplates/app/actions.py:3:") && err.contains("python:"),
        "{err}"
    );
    // A helper named like an action would silently do nothing: refused.
    let py = "def install(service):\n    pass\n";
    std::fs::write(repo.join("actorTemplates/app/actions.py"), py).unwrap();
    let err = refused(&repo);
    assert!(
        err.contains("actions.py:1:") && err.contains("first parameter is `job`"),
        "{err}"
    );
}

/// A Python job still running when `ays` is killed with SIGKILL does not go on unseen (a
/// resumed run would run it a second time alongside): its server ends it.
#[test]
fn issue_11_a_killed_run_leaves_no_python_job_running() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    assert!(ays(tmp.path(), &["init", "r"], b"").status.success());
    let template = repo.join("actorTemplates/slow");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("schema.hrd"), "x = type:int\n").unwrap();
    std::fs::write(
        template.join("actions.py"),
        "import os, time\n\n\ndef install(job):\n    \
         open(os.path.join(os.environ['AYS_TEST_DIR'], 'job.pid'), 'w').write(str(os.getpid()))\n    \
         time.sleep(300)\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("blueprints/s.yaml"),
        "slow__a:\n  x: 1\nactions:\n  - action: install\n",
    )
    .unwrap();
    assert!(ays(&repo, &["blueprint"], b"").status.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ays"))
        .args(["run", "create"])
        .env("AYS_CONFIG_DIR", crate::config_dir())
        .env("AYS_TEST_DIR", tmp.path())
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = tmp.path().join("job.pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let job = std::fs::read_to_string(&pid_file).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let proc_dir = std::path::Path::new("/proc").join(job.trim());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proc_dir.exists()
        && !std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| s.contains(") Z "))
    {
        if std::time::Instant::now() >= deadline {
            let _ = std::process::Command::new("kill").arg(job.trim()).status();
            panic!("the python job {job} outlived ays");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
#[test]
fn issue_10_a_blueprint_killed_during_init_writes_nothing_and_leaves_no_python() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    assert!(ays(tmp.path(), &["init", "r"], b"").status.success());
    let template = repo.join("actorTemplates/slow");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("schema.hrd"), "x = type:int\n").unwrap();
    std::fs::write(
        template.join("actions.py"),
        "import os, time\n\n\ndef init(job):\n    \
         open(os.path.join(job.repo, 'init.pid'), 'w').write(str(os.getpid()))\n    \
         time.sleep(300)\n",
    )
    .unwrap();
    std::fs::write(repo.join("blueprints/s.yaml"), "slow__a:\n  x: 1\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ays"))
        .arg("blueprint")
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = repo.join("init.pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "init never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let python = std::fs::read_to_string(&pid_file).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // Python goes with ays, though its action never reads its closed stdin.
    let proc_dir = std::path::Path::new("/proc").join(python.trim());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while proc_dir.exists()
        && !std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| s.contains(") Z "))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "python {python} outlived ays"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let list = ays(&repo, &["service", "list"], b"");
    assert!(stdout(&list).contains("no services"), "{}", stdout(&list));
}
