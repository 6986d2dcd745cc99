//! A repository this user may not write: reading commands work and change no byte of the
//! store, changing commands fail naming the store file (issue 9, item 16).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ays_core::testing::copy_scenario;
use serde_json::Value;

use crate::repo::ok;
use crate::{stderr, stdout};

/// The unprivileged user and group the commands run as when the tests run as root.
const NOBODY: &str = "65534";

/// How the commands under test are started.
struct Runner {
    /// `ays`, copied where an unprivileged user may run it.
    bin: PathBuf,
    /// Run through `setpriv` as [`NOBODY`], because this process writes read-only files.
    drop_privileges: bool,
}

impl Runner {
    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let mut command = if self.drop_privileges {
            let mut command = Command::new("setpriv");
            command
                .args([
                    &format!("--reuid={NOBODY}"),
                    &format!("--regid={NOBODY}"),
                    "--clear-groups",
                    "--",
                ])
                .arg(&self.bin);
            command
        } else {
            Command::new(&self.bin)
        };
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

/// Whether this process may write a file whose mode forbids it (root, or `CAP_DAC_OVERRIDE`),
/// in which case `chmod` alone cannot make a repository read-only to it.
fn writes_read_only_files(dir: &Path) -> bool {
    let probe = dir.join("probe");
    std::fs::write(&probe, b"").unwrap();
    set_mode(&probe, 0o444);
    let writable = std::fs::OpenOptions::new().write(true).open(&probe).is_ok();
    std::fs::remove_file(&probe).unwrap();
    writable
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `chmod -R a-w` (`writable == false`) or `u+w` back, on `path` and everything below it.
fn chmod_tree(path: &Path, writable: bool) {
    let mode = std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode();
    let mode = if writable {
        mode | 0o200
    } else {
        mode & !0o222
    };
    if path.is_dir() {
        if writable {
            set_mode(path, mode);
        }
        for entry in std::fs::read_dir(path).unwrap() {
            chmod_tree(&entry.unwrap().path(), writable);
        }
    }
    set_mode(path, mode);
}

/// Makes the tree writable again when the test ends, so that the temporary directory goes.
struct Restore<'a>(&'a Path);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        chmod_tree(self.0, true);
    }
}

/// The commands that only read, each run with `--json` where it prints JSON.
const READING: &[&[&str]] = &[
    &["--json", "service", "list"],
    &["--json", "service", "show", "cockpit!cockpitv1"],
    &["--json", "service", "show"],
    &["--json", "service", "state"],
    &["--json", "actor", "list"],
    &["--json", "run", "list"],
    &["--json", "run", "show", "latest"],
    &["--json", "job", "list"],
    &["--json", "job", "show", "latest", "1"],
    &["--json", "template", "list"],
    &["--json", "blueprint", "--dry-run"],
    &["--json", "run", "create", "--dry-run"],
    &["--json", "destroy", "--dry-run"],
    &["--json", "service", "delete", "sshkey!main", "--dry-run"],
    &["service", "list"],
    &["run", "show", "--logs"],
];

/// The commands that change the repository.
const CHANGING: &[&[&str]] = &[
    &["blueprint"],
    &["service", "set-state", "install", "--state", "new"],
    &["run", "create"],
    &["do", "install", "--force"],
    &["destroy", "-y"],
    &["service", "delete", "sshkey!main", "-y"],
    &["actor", "update"],
    &["run", "unlock", "--force"],
];

#[test]
fn issue_9_a_read_only_repository_can_still_be_listed() {
    let probe = tempfile::tempdir().unwrap();
    let privileged = writes_read_only_files(probe.path());
    let has_setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if privileged && !has_setpriv {
        let message = "this test runs with privileges that chmod does not stop (root?), and \
                       `setpriv` (util-linux) is missing to drop them: only the read-only open \
                       is checked, through the store file's bytes, not the refusal";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("NOTE: {message}");
    }
    let drop_privileges = privileged && has_setpriv;
    // The unprivileged user must reach the tree: /tmp is open to all, a TMPDIR may not be.
    let tmp = if drop_privileges {
        tempfile::tempdir_in("/tmp").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    set_mode(tmp.path(), 0o755);
    let repo = tmp.path().join("repo");
    ok(tmp.path(), &["init", "repo"]);
    copy_scenario("sample_repo1", &repo).unwrap();
    ok(&repo, &["blueprint"]);
    ok(&repo, &["run", "create", "--no-exec"]);
    let bin = tmp.path().join("ays");
    std::fs::copy(env!("CARGO_BIN_EXE_ays"), &bin).unwrap();
    set_mode(&bin, 0o755);
    let runner = Runner {
        bin,
        drop_privileges,
    };
    let reach = runner.run(&repo, &["service", "list"]);
    assert!(
        reach.status.success(),
        "the user running the commands cannot use {}: {}",
        repo.display(),
        stderr(&reach)
    );
    let expected: Vec<String> = READING
        .iter()
        .map(|args| stdout(&runner.run(&repo, args)))
        .collect();

    let store = repo.join(".ays/store.redb");
    let before = std::fs::read(&store).unwrap();
    chmod_tree(&repo, false);
    let _restore = Restore(&repo);
    for (args, expected) in READING.iter().zip(&expected) {
        let out = runner.run(&repo, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        if args.first() == Some(&"--json") {
            let got: Value = serde_json::from_str(&stdout(&out)).unwrap();
            let want: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(got, want, "{args:?}");
        } else {
            assert_eq!(&stdout(&out), expected, "{args:?}");
        }
    }
    let listed = stdout(&runner.run(&repo, &["service", "list"]));
    assert!(listed.contains("cockpit!cockpitv1"), "{listed}");
    assert!(
        std::fs::read(&store).unwrap() == before,
        "a reading command changed the store file"
    );

    if !runner.drop_privileges && privileged {
        return;
    }
    let shown = store.canonicalize().unwrap().display().to_string();
    for args in CHANGING {
        let out = runner.run(&repo, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(
            err.trim_end(),
            format!(
                "error: this command changes the repository, which this user may not write \
                 (commands that only read it still work): store failed during open store: \
                 store {shown} is read-only to this process: it cannot be changed: I/O error: \
                 Permission denied (os error 13)"
            ),
            "{args:?}"
        );
    }
    assert!(
        std::fs::read(&store).unwrap() == before,
        "a refused command changed the store file"
    );
}
