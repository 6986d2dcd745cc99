//! Real AYS 8.1 content (`../shared/fixtures/upstream-81/`): its QA blueprints apply on its
//! templates, and their plans order actions as 8.1 did (#10).

use std::collections::BTreeMap;
use std::path::Path;

use crate::repo::ok;
use crate::{ays, stderr, stdout};

/// The QA blueprint `name` with its placeholders filled as 8.1's QA driver did: `{random_X}`
/// one fresh name per X, `{random}` a fresh name each time, the others from its config.
fn qa_blueprint(name: &str) -> String {
    let path = ays_core::testing::fixture(&format!(
        "upstream-81/tests/bp_test_templates/basic/{name}.yaml"
    ))
    .unwrap();
    let mut text = std::fs::read_to_string(path).unwrap();
    for (placeholder, value) in [
        ("{environment}", "env.example.com"),
        ("{username}", "qauser"),
        ("{password}", "secret"),
        ("{account}", "acc1"),
        ("{location}", "loc1"),
    ] {
        text = text.replace(placeholder, value);
    }
    let mut n = 0;
    while let Some(start) = text.find("{random") {
        let end = start + text[start..].find('}').unwrap();
        let placeholder = text[start..=end].to_owned();
        n += 1;
        let value = format!("r{n}");
        text = if placeholder == "{random}" {
            text.replacen(&placeholder, &value, 1)
        } else {
            text.replace(&placeholder, &value)
        };
    }
    text
}

/// The step of each `service action` in `ays run create --dry-run`'s plan.
fn plan_steps(repo: &Path) -> BTreeMap<String, usize> {
    let plan = ok(repo, &["run", "create", "--dry-run"]);
    let mut step = 0;
    let mut steps = BTreeMap::new();
    for line in plan.lines() {
        if let Some(n) = line.strip_prefix("step ") {
            step = n.trim().parse().unwrap();
        } else if let Some(job) = line.strip_prefix("  ") {
            let mut words = job.split_whitespace();
            let (service, action) = (words.next().unwrap(), words.next().unwrap());
            steps.insert(format!("{service} {action}"), step);
        }
    }
    steps
}

#[test]
fn issue_10_the_qa_blueprints_apply_and_test_runs_after_install() {
    let upstream = ays_core::testing::fixture("upstream-81").unwrap();
    for (blueprint, qa_actor) in [
        ("add_user_to_vm", "test_add_user_to_vm"),
        ("create_cloudspace", "test_create_cloudspace"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let templates = upstream.join("templates");
        let qa = upstream.join("tests/test_services");
        let init = ays(
            tmp.path(),
            &[
                "init",
                "r",
                "--template-dir",
                templates.to_str().unwrap(),
                "--template-dir",
                qa.to_str().unwrap(),
            ],
            b"",
        );
        assert!(init.status.success(), "{}", stderr(&init));
        let repo = tmp.path().join("r");
        std::fs::write(repo.join("blueprints/qa.yaml"), qa_blueprint(blueprint)).unwrap();
        let applied = ays(&repo, &["blueprint"], b"");
        assert!(
            applied.status.success(),
            "{blueprint}: {}",
            stderr(&applied)
        );
        // `{username}` names a uservdc that the blueprint does not create: not invented.
        assert!(
            stderr(&applied).contains("producer `uservdc!qauser` does not exist"),
            "{}",
            stderr(&applied)
        );
        assert!(
            !stdout(&applied).contains("uservdc!qauser"),
            "{}",
            stdout(&applied)
        );
        let steps = plan_steps(&repo);
        let of = |action: &str| {
            steps
                .iter()
                .find(|(job, _)| job.starts_with(&format!("{qa_actor}!")) && job.ends_with(action))
                .map(|(_, step)| *step)
                .unwrap_or_else(|| panic!("{blueprint}: no {action} in {steps:?}"))
        };
        let test = if qa_actor == "test_add_user_to_vm" {
            "test"
        } else {
            qa_actor
        };
        assert!(of(test) > of("install"), "{blueprint}: {steps:?}");
    }
}

#[test]
fn issue_10_the_docker_ovc_example_applies_as_one_unit() {
    let upstream = ays_core::testing::fixture("upstream-81").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let templates = upstream.join("templates");
    let init = ays(
        tmp.path(),
        &["init", "r", "--template-dir", templates.to_str().unwrap()],
        b"",
    );
    assert!(init.status.success(), "{}", stderr(&init));
    let repo = tmp.path().join("r");
    ays_core::testing::copy_tree(
        &upstream.join("examples/docker_ovc/blueprints"),
        &repo.join("blueprints"),
    )
    .unwrap();
    let applied = ays(&repo, &["blueprint"], b"");
    assert!(applied.status.success(), "{}", stderr(&applied));
    let out = stdout(&applied);
    for created in [
        "create    node!demo",
        "create    os!demo",
        "create    node!docker",
    ] {
        assert!(out.contains(created), "{created}: {out}");
    }
    let steps = plan_steps(&repo);
    assert!(
        steps["node!demo install"] < steps["os!demo install"],
        "{steps:?}"
    );
}

/// A repository `r` under `tmp` on the upstream templates, with `blueprint` in `blueprints/`.
fn upstream_repo(tmp: &Path, blueprint: &str) -> std::path::PathBuf {
    let templates = ays_core::testing::fixture("upstream-81/templates").unwrap();
    let init = ays(
        tmp,
        &["init", "r", "--template-dir", templates.to_str().unwrap()],
        b"",
    );
    assert!(init.status.success(), "{}", stderr(&init));
    let repo = tmp.join("r");
    std::fs::write(repo.join("blueprints/bp.yaml"), blueprint).unwrap();
    repo
}

#[test]
fn issue_10_node_ovc_init_creates_its_os_service() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = upstream_repo(
        tmp.path(),
        "g8client__env:\n  url: env.example.com\n  login: qa\n  password: pw\n\
         vdc__v:\n  g8client: env\n  location: loc1\n\
         sshkey__k:\n\
         node.ovc__n1:\n  vdc: v\n  sshkey: k\n\
         app_docker__d:\n  os: n1\n\
         actions:\n  - action: install\n",
    );
    let applied = ays(&repo, &["blueprint"], b"");
    assert!(applied.status.success(), "{}", stderr(&applied));
    let out = stdout(&applied);
    // os.ssh.ubuntu!n1 is not in the blueprint: node.ovc's init created it, and the
    // blueprint's `actions:` scheduled it too.
    for line in ["create    os!n1", "schedule  os!n1"] {
        assert!(out.contains(line), "{line}: {out}");
    }
    // app_docker's parent is that os, which the blueprint never declares (as in upstream's
    // test_node_docker blueprint).
    let app = ok(&repo, &["service", "show", "app_docker!d"]);
    assert!(app.contains("parent: os!n1"), "{app}");
    let os = ok(&repo, &["service", "show", "os!n1"]);
    for line in ["actor: os.ssh.ubuntu", "parent: node!n1", "sshkey = \"k\""] {
        assert!(os.contains(line), "{line}: {os}");
    }
    // vdc's init copied the account from its g8client (whose input set it from the login).
    let vdc = ok(&repo, &["service", "show", "vdc!v"]);
    assert!(vdc.contains("account = \"qa\""), "{vdc}");
    // sshkey's input generated a key pair into the service's directory.
    let key = ok(&repo, &["service", "show", "sshkey!k"]);
    assert!(key.contains("ssh-rsa "), "{key}");
    assert!(repo.join(".ays/services/sshkey!k/id_rsa").is_file());
    // Runs skip init, which ran at creation.
    let steps = plan_steps(&repo);
    assert!(!steps.contains_key("node!n1 init"), "{steps:?}");
    assert!(
        steps["node!n1 install"] < steps["os!n1 install"],
        "{steps:?}"
    );
}

#[test]
fn issue_10_a_failing_input_rejects_the_blueprint_with_its_traceback() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = upstream_repo(
        tmp.path(),
        "g8client__env:\n  url: env.example.com\n  login: qa\n  password: pw\n\
         vdc__v:\n  g8client: env\n",
    );
    let applied = ays(&repo, &["blueprint"], b"");
    assert_eq!(applied.status.code(), Some(2), "{}", stderr(&applied));
    let err = stderr(&applied);
    assert!(
        err.contains("blueprints/bp.yaml:5: `vdc!v`: input failed: ")
            && err.contains("location argument cannot be empty"),
        "{err}"
    );
    assert!(err.contains("/ovc/vdc/actions.py\", line "), "{err}");
    assert!(
        ok(&repo, &["service", "list"]).contains("no services"),
        "a rejected blueprint wrote services"
    );
}
