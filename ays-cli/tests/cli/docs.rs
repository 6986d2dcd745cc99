//! The user guide's examples (`docs/*.md`) run through the binary, so that the guide says what
//! `ays` does.
//!
//! Each page runs in a directory of its own, its fenced blocks in order:
//!
//! - a block whose info string holds `file=PATH` (```` ```yaml file=actorTemplates/web/config.yaml ````)
//!   writes its text to `PATH` in the page's directory;
//! - a ```` ```sh test ```` block is a shell session: each line that is not a comment is a command
//!   (a line ending in `\` goes on on the next one), run by `bash` in the page's directory with
//!   the built `ays` first on the `PATH`; `# => TEXT` lines after a command are lines its output
//!   (stdout and stderr together) must hold, in that order, other lines may come between them
//!   and `...` stands for any text; `# exit status N` says the command must exit with N (default
//!   0); other comments are for the reader;
//! - a ```` ```sh ```` block without `test` is an error: every shell example runs.
//!
//! A failing example names its page and line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ays_store::testing::RedisServer;

/// The guide.
fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// A fenced block of a page.
#[derive(Debug)]
struct Block {
    /// The line of the opening fence, from 1.
    line: usize,
    /// The words of the info string (`sh`, `test`, `file=…`).
    info: Vec<String>,
    /// The lines between the fences.
    lines: Vec<String>,
}

impl Block {
    fn language(&self) -> &str {
        self.info.first().map_or("", String::as_str)
    }

    fn has(&self, word: &str) -> bool {
        self.info.iter().any(|w| w == word)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.info
            .iter()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    }
}

/// The fenced blocks of a Markdown text.
fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        match open.take() {
            Some(block) if line.trim_end() == "```" => out.push(block),
            Some(mut block) => {
                block.lines.push(line.to_owned());
                open = Some(block);
            }
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some(Block {
                        line: number,
                        info: info.split_whitespace().map(str::to_owned).collect(),
                        lines: Vec::new(),
                    });
                }
            }
        }
    }
    match open {
        Some(block) => Err(format!("line {}: the block is never closed", block.line)),
        None => Ok(out),
    }
}

/// One command of a shell block, with what its output must hold.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
    status: i32,
}

/// The commands of a ```` ```sh test ```` block.
fn steps(block: &Block) -> Result<Vec<Step>, String> {
    let mut out: Vec<Step> = Vec::new();
    let mut lines = block.lines.iter().enumerate();
    while let Some((i, line)) = lines.next() {
        let number = block.line + 1 + i;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("#") {
            let rest = rest.trim_start();
            let current = out.last_mut();
            if let Some(expected) = rest.strip_prefix("=>") {
                let step = current.ok_or(format!("line {number}: `# =>` before any command"))?;
                step.expected
                    .push(expected.strip_prefix(' ').unwrap_or(expected).to_owned());
            } else if let Some(code) = rest.strip_prefix("exit status ") {
                let step =
                    current.ok_or(format!("line {number}: `# exit status` before any command"))?;
                step.status = code
                    .trim()
                    .parse()
                    .map_err(|_| format!("line {number}: `{code}` is not an exit status"))?;
            }
            continue;
        }
        let mut command = line.clone();
        while command.ends_with('\\') {
            // Kept with its backslash, which bash reads as the continuation it is.
            command.push('\n');
            let (_, next) = lines
                .next()
                .ok_or(format!("line {number}: the command goes on past the block"))?;
            command.push_str(next);
        }
        out.push(Step {
            line: number,
            command,
            expected: Vec::new(),
            status: 0,
        });
    }
    Ok(out)
}

/// Whether `line` is what `pattern` shows, `...` standing for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let (pattern, line) = (pattern.trim_end(), line.trim_end());
    let mut parts = pattern.split("...");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The first expected line that `output` does not hold after the lines found before it.
fn missing_line<'a>(expected: &'a [String], output: &str) -> Option<&'a str> {
    let mut lines = output.lines();
    expected
        .iter()
        .find(|want| !lines.by_ref().any(|line| line_matches(want, line)))
        .map(String::as_str)
}

/// What the commands of a page see.
struct Env {
    /// The directory holding the built `ays`, put first on the `PATH`.
    path: String,
    /// A Redis server's URL, for pages that use `$REDIS_URL`.
    redis: Option<String>,
}

/// Runs one command in `dir`; `Err` says how it went wrong.
fn run_step(env: &Env, dir: &Path, step: &Step) -> Result<(), String> {
    let mut command = Command::new("timeout");
    command
        .args(["300", "bash", "-c"])
        .arg(format!("set -o pipefail\nexec 2>&1\n{}", step.command))
        .current_dir(dir)
        .env("PATH", &env.path)
        .env("AYS_CONFIG_DIR", crate::config_dir())
        .env_remove("AYS_STORE")
        .env_remove("AYS_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = &env.redis {
        command.env("REDIS_URL", url);
    }
    let out = command
        .output()
        .map_err(|e| format!("cannot start bash: {e}"))?;
    let output = String::from_utf8_lossy(&out.stdout);
    let status = {
        use std::os::unix::process::ExitStatusExt;
        out.status
            .code()
            .or_else(|| out.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    };
    let mut problem = String::new();
    if status == 124 && step.status != 124 {
        problem.push_str("timed out after 300 s");
    } else if status != step.status {
        let _ = write!(problem, "exit status {status}, not {}", step.status);
    } else if let Some(line) = missing_line(&step.expected, &output) {
        let _ = write!(problem, "no line `{line}` (in this order)");
    }
    if problem.is_empty() {
        return Ok(());
    }
    let indented: String = output.lines().map(|l| format!("    | {l}\n")).collect();
    Err(format!(
        "`{}`: {problem}; its output:\n{indented}",
        step.command
    ))
}

/// Runs the examples of one page; the problems found, each naming the page and line.
fn run_page(env: &Env, page: &Path) -> Vec<String> {
    let name = format!(
        "docs/{}",
        page.file_name().unwrap_or_default().to_string_lossy()
    );
    let text = std::fs::read_to_string(page).unwrap();
    let blocks = match blocks(&text) {
        Ok(blocks) => blocks,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut problems = Vec::new();
    for block in &blocks {
        let at = format!("{name}:{}", block.line);
        if let Some(path) = block.attribute("file") {
            if Path::new(path).is_absolute() || path.split('/').any(|p| p == "..") {
                problems.push(format!(
                    "{at}: `file={path}` must stay in the page's directory"
                ));
                break;
            }
            let mut content = block.lines.join("\n");
            content.push('\n');
            write_file(dir, path, &content);
            continue;
        }
        if block.language() != "sh" {
            continue;
        }
        if !block.has("test") {
            problems.push(format!(
                "{at}: a `sh` example that does not run: mark it `sh test`"
            ));
            continue;
        }
        let steps = match steps(block) {
            Ok(steps) => steps,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                break;
            }
        };
        let failure = steps.iter().find_map(|step| {
            run_step(env, dir, step)
                .err()
                .map(|e| format!("{name}:{}: {e}", step.line))
        });
        if let Some(failure) = failure {
            // Later blocks build on this one: stop the page here.
            problems.push(failure);
            break;
        }
    }
    problems
}

/// Writes `content` at `path` under `dir`.
fn write_file(dir: &Path, path: &str, content: &str) {
    let target = dir.join(path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, content).unwrap();
}

#[test]
fn issue_9_every_example_of_the_guide_runs() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(docs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    assert!(pages.len() > 1, "the guide has pages: {pages:?}");
    let uses_redis = pages
        .iter()
        .any(|p| std::fs::read_to_string(p).unwrap().contains("$REDIS_URL"));
    let server = uses_redis.then(|| {
        RedisServer::shared().unwrap_or_else(|err| panic!("cannot start redis-server: {err}"))
    });
    let bin = Path::new(env!("CARGO_BIN_EXE_ays"));
    let env = Env {
        path: format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        redis: server.as_ref().map(|s| s.url()),
    };
    let problems: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = pages
            .iter()
            .map(|page| scope.spawn(|| run_page(&env, page)))
            .collect();
        runs.into_iter()
            .flat_map(|run| run.join().unwrap())
            .collect()
    });
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_guide_is_linked_from_the_readme_and_links_every_page() {
    let readme = std::fs::read_to_string(docs_dir().join("../README.md")).unwrap();
    assert!(
        readme.contains("](docs/README.md)"),
        "README.md links the guide"
    );
    let index = std::fs::read_to_string(docs_dir().join("README.md")).unwrap();
    for entry in std::fs::read_dir(docs_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".md") {
            continue;
        }
        if name != "README.md" {
            assert!(
                index.contains(&format!("]({name})")),
                "docs/README.md links {name}"
            );
        }
        // Every link to another page names one that exists.
        let text = std::fs::read_to_string(&path).unwrap();
        for (_, rest) in text.match_indices("](").map(|(i, _)| text.split_at(i + 2)) {
            let target = rest.split([')', '#']).next().unwrap_or_default();
            if target.ends_with(".md") && !target.contains("://") {
                assert!(
                    path.parent().unwrap().join(target).is_file(),
                    "docs/{name} links {target}, which does not exist"
                );
            }
        }
    }
}

#[test]
fn expected_lines_match_in_order_with_wildcards() {
    assert!(line_matches("run ...: ok", "run 1796-1f: ok"));
    assert!(line_matches("a...b...c", "a-b-c"));
    assert!(line_matches("...", ""));
    assert!(
        !line_matches("ab...ba", "aba"),
        "the parts must not overlap"
    );
    assert!(!line_matches("run ok", "run ok, really"));
    let want = |lines: &[&str]| lines.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    assert_eq!(missing_line(&want(&["b", "d"]), "a\nb\nc\nd\n"), None);
    assert_eq!(missing_line(&want(&["d", "b"]), "a\nb\nc\nd\n"), Some("b"));
    let block = Block {
        line: 10,
        info: want(&["sh", "test"]),
        lines: want(&[
            "# a comment",
            "ays init \\",
            "  here",
            "# => initialised ...",
            "false",
            "# exit status 1",
        ]),
    };
    let steps = steps(&block).unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.line, s.command.as_str(), s.expected.len(), s.status))
            .collect::<Vec<_>>(),
        [(12, "ays init \\\n  here", 1, 0), (15, "false", 0, 1)]
    );
}
