//! Actions files: shell functions (`actions.sh`) and Python functions (`actions.py`).
//!
//! A file is kept whole, as written, and each of its actions is stored with the whole file
//! ([`ActionCode::code`]) and the function's name: the runtimes source (shell) or import
//! (python) the file as it is, so top-level lines, imports and helper functions work, and
//! line numbers are the template's own. Which functions a file defines is asked of bash and
//! of Python themselves, without running the file: bash parses the file as the body of a
//! function it only defines, Python's `ast` parses the module.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{ActionCode, DEFAULT_ACTIONS, Runtime};
use crate::error::{Location, TemplateError};
use crate::ids::ActionName;

/// Reads the functions of an actions.py without running it (see the file).
const PYTHON_PROBE: &str = include_str!("probe.py");

fn malformed(t: &str, path: &Path, line: usize, reason: String) -> TemplateError {
    TemplateError::Malformed {
        at: Location::new(path.display().to_string(), line),
        template: t.to_owned(),
        reason,
    }
}

/// Runs `program args` with `input` on its stdin: whether it succeeded, its stdout and its
/// stderr (`Err` when it cannot be run).
fn ask(program: &str, args: &[&str], input: &str) -> Result<(bool, String, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start {program}: {err}"))?;
    let writer = child.stdin.take().map(|mut stdin| {
        let input = input.to_owned();
        // A program that stops reading early (bash at the first syntax error) closes the pipe;
        // what it did not read does not matter.
        std::thread::spawn(move || {
            let _ignored = stdin.write_all(input.as_bytes());
        })
    });
    let out = child
        .wait_with_output()
        .map_err(|err| format!("{program} failed: {err}"))?;
    if let Some(writer) = writer {
        let _ignored = writer.join();
    }
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The actions of `src`, the `actions.sh` at `path`: every function bash defines in it, in any
/// style bash accepts, whose name is an action name not starting with `_` (the others are
/// helpers). A syntax error (`bash -n`) is reported with the template's own file and line.
pub(crate) fn shell_actions(
    t: &str,
    path: &Path,
    src: &str,
) -> Result<Vec<ActionCode>, TemplateError> {
    let needs_bash =
        |err: String| malformed(t, path, 0, format!("bash is needed to read it: {err}"));
    let (ok, _, err) = ask("bash", &["-n"], src).map_err(needs_bash)?;
    if !ok {
        // `bash: line 3: syntax error near unexpected token `('`
        let first = err.lines().next().unwrap_or_default();
        let (line, reason) = first
            .split_once("line ")
            .and_then(|(_, rest)| rest.split_once(": "))
            .and_then(|(n, reason)| Some((n.trim().parse::<usize>().ok()?, reason)))
            .unwrap_or((0, first));
        return Err(malformed(t, path, line, format!("bash: {}", reason.trim())));
    }
    // The file, which parses, becomes the body (after a `:`, for a file with no command) of a
    // function that is only defined, never called; bash then prints it back in its canonical
    // form, one `function name ()` line per function it defines.
    let script = "IFS= builtin read -r -d '' _ays_src\n\
                  builtin eval \"_ays_probe() {\n:\n${_ays_src}\n}\" && builtin declare -f _ays_probe";
    let (ok, out, err) =
        ask("bash", &["--norc", "--noprofile", "-c", script], src).map_err(needs_bash)?;
    if !ok {
        return Err(malformed(
            t,
            path,
            0,
            format!("bash could not list its functions: {}", err.trim()),
        ));
    }
    let (functions, rest) = shell_functions(&out);
    // A function is an action when its name is an action name not starting with `_`.
    let functions: Vec<(Option<ActionName>, String, String)> = functions
        .into_iter()
        .map(|(name, text)| {
            let action = Some(&name)
                .filter(|n| !n.starts_with('_'))
                .and_then(|n| n.parse().ok());
            (action, name, text)
        })
        .collect();
    // What every action shares: the lines outside the actions, helpers included.
    let mut shared = rest;
    for (_, name, text) in functions.iter().filter(|(action, ..)| action.is_none()) {
        tracing::debug!(template = t, function = %name, "a helper, not an action");
        shared.push_str(text);
    }
    let file = path.display().to_string();
    let mut codes: Vec<ActionCode> = Vec::new();
    for (action, name, text) in functions {
        let Some(action) = action else {
            continue;
        };
        // Defined more than once (in the branches of an `if`): every definition counts.
        if let Some(earlier) = codes.iter_mut().find(|c| c.name == action) {
            earlier.fingerprint = fingerprint(&earlier.fingerprint, &text, "");
            continue;
        }
        codes.push(ActionCode {
            fingerprint: fingerprint(&name, &text, &shared),
            name: action,
            runtime: Runtime::Shell,
            code: src.to_owned(),
            args: String::new(),
            doc: String::new(),
            file: file.clone(),
        });
    }
    Ok(codes)
}

/// Hex SHA-256 of an action's name, its own definition and what it shares with the file's
/// other actions.
fn fingerprint(name: &str, own: &str, shared: &str) -> String {
    super::sha256_hex(&[name, own, shared])
}

/// The functions in bash's `declare -f` of the probe function that are not inside another
/// function, with their canonical text, and the rest of the text. bash prints each function as
/// `function name () ` (bash 4: `name () `) at the indentation of the block it is in, and closes
/// its body with `}` at that indentation.
fn shell_functions(declared: &str) -> (Vec<(String, String)>, String) {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut rest = String::new();
    // The indentation of the closing `}` of the function we are inside of, if any.
    let mut inside: Option<usize> = None;
    // Past `_ays_probe () ` and `{ `. bash ends a command with `;` unless it is the last of
    // its block: without it, the text of a function does not depend on what follows it.
    for line in declared.lines().skip(2) {
        let line = line.trim_end().trim_end_matches(';');
        let indent = line
            .len()
            .saturating_sub(line.trim_start_matches(' ').len());
        let text = &line[indent..];
        if let (Some(depth), Some((_, body))) = (inside, found.last_mut()) {
            body.push_str(line);
            body.push('\n');
            if indent == depth && text.starts_with('}') {
                inside = None;
            }
            continue;
        }
        let name = text
            .strip_suffix(" ()")
            .map(|head| head.strip_prefix("function ").unwrap_or(head))
            .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace));
        match name {
            Some(name) => {
                found.push((name.to_owned(), format!("{line}\n")));
                inside = Some(indent);
            }
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    (found, rest)
}

/// One function of an actions.py, as the probe reports it.
#[derive(Debug, Clone, serde::Deserialize)]
struct PyFunction {
    name: String,
    line: usize,
    params: Vec<String>,
    doc: String,
    is_async: bool,
    dump: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct PySyntaxError {
    line: usize,
    msg: String,
    text: String,
}

/// What Python's parser says of one actions.py.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct PyProbe {
    #[serde(default)]
    functions: Vec<PyFunction>,
    #[serde(default)]
    rest: String,
    #[serde(default)]
    init_actions: Option<PyInitActions>,
    error: Option<PySyntaxError>,
}

/// What 8.1's `init_actions_(service, args)` returns: the actions each action requires.
#[derive(Debug, Clone, serde::Deserialize)]
struct PyInitActions {
    line: usize,
    #[serde(default)]
    value: Option<std::collections::BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    error: Option<String>,
}

/// The actions of an actions.py, and the dependencies its `init_actions_` gives (8.1), with
/// the line of its `return`.
#[derive(Debug, Default)]
pub(crate) struct PythonActions {
    pub(crate) codes: Vec<ActionCode>,
    pub(crate) depends: Option<(usize, std::collections::BTreeMap<String, Vec<String>>)>,
}

/// What Python's parser said of the actions.py files read so far, by file and content, so that
/// the files of a template set are read by one `python3` together.
#[derive(Debug, Default)]
pub(crate) struct PyProbes(std::sync::Mutex<std::collections::HashMap<String, PyProbe>>);

fn probe_key(file: &str, src: &str) -> String {
    super::sha256_hex(&[file, src])
}

impl PyProbes {
    pub(crate) fn get(&self, file: &str, src: &str) -> Option<PyProbe> {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&probe_key(file, src)).cloned()
    }

    /// Has one `python3` read each of `files` (file name, source) not read yet.
    pub(crate) fn read(&self, files: &[(String, String)]) -> Result<(), String> {
        let todo: Vec<&(String, String)> = files
            .iter()
            .filter(|(file, src)| self.get(file, src).is_none())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let input: Vec<serde_json::Value> = todo
            .iter()
            .map(|(file, source)| serde_json::json!({ "file": file, "source": source }))
            .collect();
        let input = serde_json::Value::Array(input).to_string();
        let (ok, out, err) = ask("python3", &["-I", "-S", "-c", PYTHON_PROBE], &input)
            .map_err(|err| format!("python3 is needed to read it: {err}"))?;
        let probes: Vec<PyProbe> = match serde_json::from_str(out.trim()) {
            Ok(probes) if ok => probes,
            _ => return Err(format!("python3 could not read it: {}", err.trim())),
        };
        if probes.len() != todo.len() {
            return Err(format!(
                "python3 read {} of {} files",
                probes.len(),
                todo.len()
            ));
        }
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((file, src), probe) in todo.into_iter().zip(probes) {
            map.insert(probe_key(file, src), probe);
        }
        Ok(())
    }
}

/// The actions of `src`, the `actions.py` at `path`, read by Python's own parser without
/// running the module (asked of `probes` first): the top-level functions whose first parameter
/// is `job` and whose name neither starts nor ends with `_`. Other functions are helpers, except
/// that a helper named like a default action (`def install(service)`) is refused: it would
/// silently do nothing. The literal dict that `init_actions_` returns comes with them.
pub(crate) fn python_actions(
    t: &str,
    path: &Path,
    src: &str,
    probes: &PyProbes,
) -> Result<PythonActions, TemplateError> {
    let file = path.display().to_string();
    let probe = match probes.get(&file, src) {
        Some(probe) => probe,
        None => {
            probes
                .read(&[(file.clone(), src.to_owned())])
                .map_err(|reason| malformed(t, path, 0, reason))?;
            probes
                .get(&file, src)
                .ok_or_else(|| malformed(t, path, 0, "python3 did not read it".to_owned()))?
        }
    };
    if let Some(e) = probe.error {
        let text = if e.text.is_empty() {
            String::new()
        } else {
            format!(": `{}`", e.text)
        };
        return Err(malformed(
            t,
            path,
            e.line,
            format!("python: {}{text}", e.msg),
        ));
    }
    let depends = match probe.init_actions {
        None => None,
        Some(PyInitActions {
            line,
            value: Some(value),
            ..
        }) => Some((line, value)),
        Some(PyInitActions { line, error, .. }) => {
            let reason = error.unwrap_or_else(|| "`init_actions_` gives nothing".to_owned());
            return Err(malformed(t, path, line, reason));
        }
    };
    let is_action = |f: &PyFunction| {
        !f.name.starts_with('_')
            && !f.name.ends_with('_')
            && f.params.first().is_some_and(|p| p == "job")
    };
    // What every action shares: the module's other statements and its helpers.
    let mut shared = probe.rest.clone();
    for f in probe.functions.iter().filter(|f| !is_action(f)) {
        shared.push('\n');
        shared.push_str(&f.dump);
    }
    let mut codes: Vec<ActionCode> = Vec::new();
    for f in probe.functions {
        if !is_action(&f) {
            let named_like_an_action = !f.name.starts_with('_') && !f.name.ends_with('_');
            if named_like_an_action && DEFAULT_ACTIONS.contains(&f.name.as_str()) {
                return Err(malformed(
                    t,
                    path,
                    f.line,
                    format!(
                        "`def {}({})` is not an action: an action's first parameter is `job`",
                        f.name,
                        f.params.join(", ")
                    ),
                ));
            }
            continue;
        }
        if f.is_async {
            return Err(malformed(
                t,
                path,
                f.line,
                format!("`async def {}`: actions are plain functions", f.name),
            ));
        }
        let name: ActionName = f
            .name
            .parse()
            .map_err(|e: crate::ids::NameError| malformed(t, path, f.line, e.to_string()))?;
        let code = ActionCode {
            name,
            runtime: Runtime::Python,
            code: src.to_owned(),
            args: f.params.join(", "),
            doc: f.doc,
            file: file.clone(),
            fingerprint: fingerprint(&f.name, &f.dump, &shared),
        };
        // A later `def` of the same name is the one Python keeps.
        if let Some(earlier) = codes.iter_mut().find(|c| c.name == code.name) {
            tracing::warn!(
                template = t,
                "{file}:{}: `{}` is defined again; this definition is the one that runs",
                f.line,
                code.name
            );
            *earlier = code;
        } else {
            codes.push(code);
        }
    }
    Ok(PythonActions { codes, depends })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(codes: &[ActionCode]) -> Vec<String> {
        codes.iter().map(|c| c.name.to_string()).collect()
    }

    #[test]
    fn bash_finds_the_functions_in_any_style() {
        let sh = "#!/bin/bash\nMYVAR=hello\nset -e\nhelper() { echo help; }\n\
                  install() { echo X; }\nstart()\n{\n  echo \"$MYVAR\"\n    }\n\
                  function stop {\n  cat <<EOT\n}\nEOT\n  inner() { :; }\n}\n\
                  function monitor() ( echo sub )\n_private() { :; }\n\
                  if true; then cond() { :; }; fi\nmy-helper() { :; }\n";
        for nothing in ["", "# only a comment\n", "\n"] {
            assert!(
                shell_actions("t", Path::new("a.sh"), nothing)
                    .unwrap()
                    .is_empty()
            );
        }
        let codes = shell_actions("t", Path::new("actions.sh"), sh).unwrap();
        assert_eq!(
            names(&codes),
            ["helper", "install", "start", "stop", "monitor", "cond"]
        );
        assert!(codes.iter().all(|c| c.code == sh && c.file == "actions.sh"));
    }

    #[test]
    fn a_shell_syntax_error_names_its_line() {
        let err = shell_actions("t", Path::new("a.sh"), "x=1\ninstall() {\n  echo (\n}\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("a.sh:3: template `t`: bash:"), "{err}");
    }

    #[test]
    fn python_actions_take_job_first() {
        let py = "import os\nLIMIT = 3\n\ndef helper(x):\n    return x\n\n\
                  def install(job):\n    \"\"\"Installs.\"\"\"\n    helper(LIMIT)\n\n\
                  def init_actions_(service, args):\n    return {}\n\n\
                  if os.name:\n    def start(job, *rest):\n        pass\n";
        let codes = python_actions("t", Path::new("actions.py"), py, &PyProbes::default())
            .unwrap()
            .codes;
        assert_eq!(names(&codes), ["install", "start"]);
        assert_eq!(codes[0].doc, "Installs.");
        assert_eq!(codes[1].args, "job");
        assert!(codes.iter().all(|c| c.code == py));
    }

    #[test]
    fn python_errors_name_the_template_line() {
        let err = python_actions(
            "t",
            Path::new("a.py"),
            "import os\n\ndef install(job)\n    pass\n",
            &PyProbes::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("a.py:3: template `t`: python:"), "{err}");
        let err = python_actions(
            "t",
            Path::new("a.py"),
            "def install(service):\n    pass\n",
            &PyProbes::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("a.py:1:") && err.contains("first parameter is `job`"),
            "{err}"
        );
    }

    /// The fingerprints of the actions of `src` by name.
    fn prints(src: &str, python: bool) -> std::collections::BTreeMap<String, String> {
        let codes = if python {
            python_actions("t", Path::new("a.py"), src, &PyProbes::default())
                .unwrap()
                .codes
        } else {
            shell_actions("t", Path::new("a.sh"), src).unwrap()
        };
        codes
            .into_iter()
            .map(|c| (c.name.to_string(), c.fingerprint))
            .collect()
    }

    /// Which actions of `a` changed in `b`.
    fn changed(a: &str, b: &str, python: bool) -> Vec<String> {
        let (a, b) = (prints(a, python), prints(b, python));
        b.iter()
            .filter(|(name, print)| a.get(*name) != Some(*print))
            .map(|(name, _)| name.clone())
            .collect()
    }

    #[test]
    fn editing_one_action_changes_only_its_fingerprint() {
        let sh = "X=1\n_h() { echo h; }\ninstall() {\n  echo a\n}\nstart() { echo b; }\n";
        let edit = |from: &str, to: &str| sh.replace(from, to);
        assert!(changed(sh, &format!("{sh}stop() {{ :; }}\n"), false) == ["stop"]);
        assert!(changed(sh, &edit("X=1\n", "X=1\n# a comment\n"), false).is_empty());
        assert_eq!(changed(sh, &edit("echo a", "echo A"), false), ["install"]);
        assert_eq!(
            changed(sh, &edit("X=1", "X=2"), false),
            ["install", "start"]
        );
        assert_eq!(
            changed(sh, &edit("echo h", "echo H"), false),
            ["install", "start"]
        );
        let py = "import os\n\ndef helper(x):\n    return x\n\n\
                  def install(job):\n    helper(1)\n\ndef start(job):\n    pass\n";
        let edit = |from: &str, to: &str| py.replace(from, to);
        assert!(changed(py, &edit("import os\n", "import os  # why\n"), true).is_empty());
        assert_eq!(
            changed(py, &edit("helper(1)", "helper(2)"), true),
            ["install"]
        );
        assert_eq!(
            changed(py, &edit("return x", "return -x"), true),
            ["install", "start"]
        );
    }

    #[test]
    fn init_actions_must_return_one_literal_dict() {
        let read = |src: &str| python_actions("t", Path::new("a.py"), src, &PyProbes::default());
        let ok = read(
            "def init_actions_(service, args):\n    x = 1\n    return {'test': ['install']}\n",
        )
        .unwrap();
        assert_eq!(ok.depends.unwrap().0, 3);
        for (src, line) in [
            ("def init_actions_(service, args):\n    return make()\n", 2),
            (
                "def init_actions_(s, a):\n    if a:\n        return {}\n    return {'x': []}\n",
                4,
            ),
            ("def init_actions_(s, a):\n    return {'x': 'install'}\n", 2),
            ("def init_actions_(s, a):\n    pass\n", 1),
        ] {
            let err = read(src).unwrap_err().to_string();
            assert!(err.starts_with(&format!("a.py:{line}: ")), "{src}: {err}");
        }
    }
}
