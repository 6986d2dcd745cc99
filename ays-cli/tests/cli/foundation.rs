//! The foundation commands: `ays schema convert`, `ays template migrate`, `ays data`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{ays, mask_id, pair_block, stderr, stdout, template_from_fixture};

#[test]
fn schema_convert_prints_the_82_schema_with_a_stable_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = template_from_fixture(tmp.path(), "app__cockpit.txt", "cockpit");
    let path = dir.join("schema.hrd");
    let first = ays(
        tmp.path(),
        &["schema", "convert", path.to_str().unwrap()],
        b"",
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let expected = pair_block(
        "app__cockpit.txt",
        "schema.capnp (committed, AYS 8.2 upgrade, with defaults)",
    );
    assert_eq!(mask_id(&stdout(&first)), mask_id(&expected));

    let second = ays(
        tmp.path(),
        &["schema", "convert", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(
        stdout(&first),
        stdout(&second),
        "converting twice must give identical bytes"
    );

    let old = ays(
        tmp.path(),
        &[
            "schema",
            "convert",
            "--style",
            "8.1",
            path.to_str().unwrap(),
        ],
        b"",
    );
    let expected_81 = pair_block("app__cockpit.txt", "schema.capnp (AYS 8.1 runtime");
    assert_eq!(mask_id(&stdout(&old)), mask_id(&expected_81));
}

#[test]
fn schema_convert_reports_file_and_line_of_a_bad_type() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("schema.hrd"),
        "name = type:str\nport = type:nosuchtype\n",
    )
    .unwrap();
    let out = ays(tmp.path(), &["schema", "convert", "broken/schema.hrd"], b"");
    // An invalid schema is bad input (issue 9, item 16).
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("schema.hrd:2:"),
        "the error names file and line: {err}"
    );
    assert!(
        err.contains("nosuchtype"),
        "the error names the type: {err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn usage_errors_exit_with_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ays(tmp.path(), &["schema", "convert"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = ays(tmp.path(), &["no-such-command"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn template_migrate_writes_the_82_layout_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = template_from_fixture(tmp.path(), "app__s3.txt", "s3");
    std::fs::write(
        dir.join("actor.hrd"),
        "recurring.monitor =\n    period: 30s,\n    log: True,\n\n",
    )
    .unwrap();
    let out = ays(tmp.path(), &["template", "migrate", "s3"], b"");
    assert!(out.status.success(), "{}", stderr(&out));

    let capnp = std::fs::read_to_string(dir.join("schema.capnp")).unwrap();
    let expected = pair_block(
        "app__s3.txt",
        "schema.capnp (committed, AYS 8.2 upgrade, with defaults)",
    );
    assert_eq!(mask_id(&capnp), mask_id(&expected));
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(config.contains("links:"), "{config}");
    assert!(
        config.contains("sshkey"),
        "the consumed role is listed: {config}"
    );
    assert!(
        config.contains("monitor"),
        "the recurring action is listed: {config}"
    );

    // A second migration without --force fails and leaves both files as they were.
    std::fs::write(dir.join("config.yaml"), "kept: true\n").unwrap();
    let again = ays(tmp.path(), &["template", "migrate", "s3"], b"");
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(dir.join("config.yaml")).unwrap(),
        "kept: true\n"
    );
    let forced = ays(tmp.path(), &["template", "migrate", "--force", "s3"], b"");
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(
        std::fs::read_to_string(dir.join("config.yaml")).unwrap(),
        "kept: true\n"
    );
}

/// 8.1's `init_actions_` becomes `depends:` in config.yaml (#10).
#[test]
fn issue_10_template_migrate_writes_init_actions_as_depends() {
    let tmp = tempfile::tempdir().unwrap();
    let qa =
        ays_core::testing::fixture("upstream-81/tests/test_services/test_add_user_to_vm").unwrap();
    let dir = tmp.path().join("test_add_user_to_vm");
    ays_core::testing::copy_tree(&qa, &dir).unwrap();
    let out = ays(
        tmp.path(),
        &["template", "migrate", "test_add_user_to_vm"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let parsed = ays_hrd::ConfigYaml::parse(&config, "config.yaml").unwrap();
    let test: Vec<&str> = parsed.depends["test"]
        .iter()
        .map(|l| l.value.as_str())
        .collect();
    assert_eq!(test, ["install"], "{config}");
}

const DATA_SCHEMA: &str = r#"@0xb4c2c2b6e0f1a2d3;
struct Schema {
  name @0 :Text;
  port @1 :Int64 = 443;
  enabled @2 :Bool = true;
  ratio @3 :Float64;
  tags @4 :List(Text);
}
"#;

fn capnp_decode(schema: &Path, bytes: &[u8], packed: bool) -> String {
    let mut args = vec!["decode", schema.to_str().unwrap(), "Schema"];
    if packed {
        args.push("--packed");
    }
    let mut child = Command::new("capnp")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot run `capnp` ({err}): install capnproto (apt-get install -y capnproto)")
        });
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn data_encode_decode_round_trip_through_the_official_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = tmp.path().join("schema.capnp");
    std::fs::write(&schema, DATA_SCHEMA).unwrap();
    let json =
        br#"{"name": "vm1", "port": 22, "enabled": false, "ratio": 0.5, "tags": ["a", "b"]}"#;
    for packed in [false, true] {
        let mut args = vec!["data", "encode", "--schema", "schema.capnp"];
        if packed {
            args.push("--packed");
        }
        let encoded = ays(tmp.path(), &args, json);
        assert!(encoded.status.success(), "{}", stderr(&encoded));
        assert_eq!(
            capnp_decode(&schema, &encoded.stdout, packed).trim(),
            r#"(name = "vm1", port = 22, enabled = false, ratio = 0.5, tags = ["a", "b"])"#
        );

        args[1] = "decode";
        let decoded = ays(tmp.path(), &args, &encoded.stdout);
        assert!(decoded.status.success(), "{}", stderr(&decoded));
        let value: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(value, expected);
    }
}

#[test]
fn issue_9_data_encode_takes_both_field_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("schema.capnp"),
        "@0xb4c2c2b6e0f1a2d4;\nstruct Schema {\n  memGb @0 :Int64;\n  osImage @1 :Text;\n}\n",
    )
    .unwrap();
    let args = ["data", "encode", "--schema", "schema.capnp"];
    let hrd = ays(tmp.path(), &args, br#"{"mem.gb": 8, "os_image": "debian"}"#);
    let capnp = ays(tmp.path(), &args, br#"{"memGb": 8, "osImage": "debian"}"#);
    assert!(hrd.status.success(), "{}", stderr(&hrd));
    assert_eq!(hrd.stdout, capnp.stdout);
    let decoded = ays(
        tmp.path(),
        &["data", "decode", "--schema", "schema.capnp"],
        &hrd.stdout,
    );
    let value: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(value, serde_json::json!({"memGb": 8, "osImage": "debian"}));
}

#[test]
fn issue_9_data_that_does_not_fit_its_schema_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("schema.capnp"), DATA_SCHEMA).unwrap();
    std::fs::write(tmp.path().join("bad.capnp"), "struct {\n").unwrap();
    let encode = ["data", "encode", "--schema", "schema.capnp"];
    let decode = ["data", "decode", "--schema", "schema.capnp"];
    let fits = "stdin does not fit struct `Schema` of `schema.capnp`";
    for (args, stdin, message) in [
        (
            &encode[..],
            &br#"{"port": "not a number"}"#[..],
            format!("{fits}: `port`: expected Int64, found JSON string"),
        ),
        (
            &encode,
            br#"{"port": 1, "nope": 2}"#,
            format!("{fits}: ``: struct `Schema` has no field `nope`"),
        ),
        (
            &encode,
            b"not json",
            "stdin is not valid JSON: expected ident at line 1 column 2".to_owned(),
        ),
        (
            &[
                "data",
                "encode",
                "--schema",
                "schema.capnp",
                "--struct",
                "Nope",
            ],
            b"{}",
            "bad --struct: schema `schema.capnp` has no struct `Nope`".to_owned(),
        ),
        (
            &decode,
            b"garbage!",
            "stdin is not a message of struct `Schema` of `schema.capnp`: ``: malformed \
             message: Failed: message has too many segments"
                .to_owned(),
        ),
        (
            &["data", "encode", "--schema", "bad.capnp"],
            b"{}",
            "bad.capnp:1:1: expected the file id `@0x…;`, found `struct`".to_owned(),
        ),
    ] {
        let out = ays(tmp.path(), args, stdin);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), format!("error: {message}\n"), "{args:?}");
        assert!(stdout(&out).is_empty());
    }
    // A schema file that cannot be read is a failure of the file system, not bad input.
    let out = ays(
        tmp.path(),
        &["data", "encode", "--schema", "missing.capnp"],
        b"{}",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = template_from_fixture(tmp.path(), "nodes__node.ovc.txt", "node.ovc");
    // `ays schema convert … | head -1`: the pipe closes after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ays"))
        .args([
            "schema",
            "convert",
            dir.join("schema.hrd").to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The commands of the README's tour, as a user pastes them into an interactive bash (history
/// expansion on, so an unquoted `app!shop1` would fail), with the `ays` under test.
#[test]
fn issue_9_the_readme_tour_runs_as_pasted_into_an_interactive_shell() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(workspace.join("README.md")).unwrap();
    let tour = &readme[readme.find("## A short tour").unwrap()..];
    let tour = &tour[tour.find("```sh\n").unwrap() + 6..];
    let tour = &tour[..tour.find("```").unwrap()];
    let bin = Path::new(env!("CARGO_BIN_EXE_ays")).parent().unwrap();
    let mut script = format!(
        "set -o history -H -e\nexport PATH={}:$PATH\n",
        bin.display()
    );
    let mut commands = 0;
    for line in tour.lines().filter(|l| !l.starts_with("cargo build")) {
        let line = line.replace("examples/", &format!("{}/examples/", workspace.display()));
        script.push_str(&line);
        script.push('\n');
        commands += 1;
    }
    assert!(commands >= 6, "the tour has its commands: {tour}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tour.sh"), &script).unwrap();
    let out = std::process::Command::new("bash")
        .arg("tour.sh")
        .env("AYS_CONFIG_DIR", crate::config_dir())
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the tour failed:\n{script}\n{err}");
    // bash skips a line whose history expansion fails, and goes on.
    assert!(!err.contains("event not found"), "{err}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("shop1"), "{shown}");
}

/// `ays template check` loads every template as a blueprint would and names each problem's
/// file and line, changing nothing (#10).
#[test]
fn issue_10_template_check_loads_every_template_and_names_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let upstream = ays_core::testing::fixture("upstream-81/templates").unwrap();
    let upstream = upstream.to_str().unwrap();
    let init = ays(tmp.path(), &["init", "r", "--template-dir", upstream], b"");
    assert!(init.status.success(), "{}", stderr(&init));
    let repo = tmp.path().join("r");
    let all = ays(&repo, &["template", "check"], b"");
    assert!(all.status.success(), "{}", stderr(&all));
    let ok = stdout(&all)
        .lines()
        .filter(|l| l.starts_with("ok "))
        .count();
    assert_eq!(ok, 46, "47 templates, `vfs` twice: {}", stdout(&all));
    assert!(stderr(&all).contains("template `vfs` is defined more than once"));

    let bad = repo.join("actorTemplates/bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("schema.hrd"), "port = type:int\n").unwrap();
    std::fs::write(
        bad.join("actions.py"),
        "import os\n\ndef install(job)\n    pass\n",
    )
    .unwrap();
    let worse = repo.join("actorTemplates/worse");
    std::fs::create_dir_all(&worse).unwrap();
    std::fs::write(worse.join("schema.hrd"), "port = type:nosuch\n").unwrap();
    let store = std::fs::read(repo.join(".ays/store.redb")).unwrap();
    let out = ays(&repo, &["template", "check", "bad", "worse", "sshkey"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("actorTemplates/bad/actions.py:3:"), "{text}");
    assert!(
        text.contains("actorTemplates/worse/schema.hrd:1:"),
        "{text}"
    );
    assert!(text.contains("ok     sshkey"), "{text}");
    assert!(stderr(&out).contains("2 of 3 template(s) have problems"));
    assert_eq!(
        std::fs::read(repo.join(".ays/store.redb")).unwrap(),
        store,
        "nothing written"
    );
}
