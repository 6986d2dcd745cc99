//! End-to-end tests of the `ays` binary: what a user types, what they see, and the files and
//! store state left behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod actions;
mod daemon;
mod daemon_changes;
mod daemon_events;
mod daemon_recurring;
mod daemon_runs;
mod dashboard;
mod docs;
mod foundation;
mod read_only;
mod remote;
mod repo;
mod run;
mod times;
mod upstream;
mod workers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The configuration directory (`AYS_CONFIG_DIR`) of the commands the tests run, so that
/// `ays init` makes its API token there rather than in the home directory of whoever runs the
/// tests.
pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ays-config")
}

/// Runs `ays` with `args`, feeding `stdin`, in `dir`.
pub fn ays(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ays"))
        .env("AYS_CONFIG_DIR", config_dir())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The standard output of a finished command, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The standard error of a finished command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// One block of an hrd-pairs fixture file: the text after `=== <header>` up to the next `===`.
pub fn pair_block(name: &str, header: &str) -> String {
    let path = ays_core::testing::fixture(&format!("hrd-pairs/{name}")).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find(&format!("=== {header}")).unwrap();
    let body = &text[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n=== ").unwrap() + 1].to_owned()
}

/// Replaces the `@0x…;` id line of a Cap'n Proto schema, which tests must not compare.
pub fn mask_id(capnp: &str) -> String {
    capnp
        .lines()
        .map(|line| {
            if line.starts_with("@0x") {
                "@0x<id>;"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A template directory `<tmp>/<actor>/` holding the schema.hrd of a fixture.
pub fn template_from_fixture(tmp: &Path, fixture: &str, actor: &str) -> PathBuf {
    let dir = tmp.join(actor);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.hrd"), pair_block(fixture, "schema.hrd")).unwrap();
    dir
}
