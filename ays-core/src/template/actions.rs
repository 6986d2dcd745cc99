//! Actions files: shell functions (`actions.sh`) and Python functions (`actions.py`).

use std::path::Path;

use super::{ActionCode, Runtime};
use crate::error::{Location, TemplateError};
use crate::ids::ActionName;

fn malformed(t: &str, path: &Path, line: usize, reason: String) -> TemplateError {
    TemplateError::Malformed {
        at: Location::new(path.display().to_string(), line),
        template: t.to_owned(),
        reason,
    }
}

fn action_name(t: &str, path: &Path, line: usize, name: &str) -> Result<ActionName, TemplateError> {
    name.parse()
        .map_err(|e: crate::ids::NameError| malformed(t, path, line, e.to_string()))
}

/// Has bash read `src`, the `actions.sh` at `path`, without running it (`bash -n`): a syntax
/// error is reported when the template is loaded, with the template's own file and line, not
/// when a job runs. Without a bash to ask, the check is skipped with a warning (the jobs would
/// then fail to start anyway).
pub(crate) fn check_shell_syntax(t: &str, path: &Path, src: &str) -> Result<(), TemplateError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            tracing::warn!(file = %path.display(), "cannot check the shell syntax: bash: {err}");
            return Ok(());
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // bash stops reading at the first error; what it did not read does not matter.
        let _ = stdin.write_all(src.as_bytes());
    }
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(err) => {
            tracing::warn!(file = %path.display(), "cannot check the shell syntax: bash: {err}");
            return Ok(());
        }
    };
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    // `bash: line 3: syntax error near unexpected token `('`
    let first = text.lines().next().unwrap_or_default();
    let (line, reason) = first
        .split_once("line ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .and_then(|(n, reason)| Some((n.trim().parse::<usize>().ok()?, reason)))
        .unwrap_or((0, first));
    Err(malformed(t, path, line, format!("bash: {}", reason.trim())))
}

/// Shell functions at column 0: `name() {` or `function name {` / `function name() {`, ending
/// at a `}` at column 0. The code is the body between the braces.
pub(crate) fn parse_shell(
    t: &str,
    path: &Path,
    src: &str,
) -> Result<Vec<ActionCode>, TemplateError> {
    let mut out = Vec::new();
    let mut current: Option<(ActionName, usize, Vec<&str>)> = None;
    for (i, line) in src.lines().enumerate() {
        let number = i.saturating_add(1);
        if let Some((name, _start, body)) = &mut current {
            if line.trim_end() == "}" {
                out.push(ActionCode {
                    name: name.clone(),
                    runtime: Runtime::Shell,
                    code: join_body(body),
                    args: String::new(),
                    doc: String::new(),
                });
                current = None;
            } else {
                body.push(line);
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) || line.trim().is_empty() || line.starts_with('#')
        {
            continue;
        }
        let head = line.trim_end();
        let head = head.strip_prefix("function ").unwrap_or(head).trim();
        let Some(head) = head.strip_suffix('{') else {
            continue;
        };
        let name = head.trim().trim_end_matches("()").trim();
        if name.is_empty() {
            continue;
        }
        current = Some((action_name(t, path, number, name)?, number, Vec::new()));
    }
    if let Some((name, start, _)) = current {
        return Err(malformed(
            t,
            path,
            start,
            format!("function `{name}` has no closing `}}` at column 0"),
        ));
    }
    dedupe(t, path, out)
}

/// Python functions at column 0: `def name(job):`; the body is every following line that is
/// indented or blank. A docstring right after the `def` becomes the doc.
pub(crate) fn parse_python(
    t: &str,
    path: &Path,
    src: &str,
) -> Result<Vec<ActionCode>, TemplateError> {
    let mut out = Vec::new();
    let mut current: Option<(ActionName, String, Vec<&str>)> = None;
    let flush = |cur: Option<(ActionName, String, Vec<&str>)>, out: &mut Vec<ActionCode>| {
        if let Some((name, args, body)) = cur {
            let code = join_body(&body);
            let doc = docstring(&code);
            out.push(ActionCode {
                name,
                runtime: Runtime::Python,
                code,
                args,
                doc,
            });
        }
    };
    for (i, line) in src.lines().enumerate() {
        let number = i.saturating_add(1);
        let at_col0 = !line.starts_with(char::is_whitespace) && !line.trim().is_empty();
        if !at_col0 {
            if let Some((_, _, body)) = &mut current {
                body.push(line);
            }
            continue;
        }
        flush(current.take(), &mut out);
        if let Some(rest) = line.strip_prefix("def ") {
            let (name, after) = rest.split_once('(').ok_or_else(|| {
                malformed(t, path, number, format!("`{line}` is not `def name(job):`"))
            })?;
            let args = after.split_once(')').map(|(a, _)| a.trim()).unwrap_or("");
            current = Some((
                action_name(t, path, number, name.trim())?,
                args.to_owned(),
                Vec::new(),
            ));
        }
    }
    flush(current.take(), &mut out);
    dedupe(t, path, out)
}

fn docstring(code: &str) -> String {
    let first = code.trim_start();
    for q in ["\"\"\"", "'''"] {
        if let Some(rest) = first.strip_prefix(q)
            && let Some((doc, _)) = rest.split_once(q)
        {
            return doc.trim().to_owned();
        }
    }
    String::new()
}

fn join_body(body: &[&str]) -> String {
    let mut lines: Vec<&str> = body.to_vec();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

fn dedupe(t: &str, path: &Path, codes: Vec<ActionCode>) -> Result<Vec<ActionCode>, TemplateError> {
    let mut seen = std::collections::BTreeSet::new();
    for c in &codes {
        if !seen.insert(c.name.clone()) {
            return Err(malformed(
                t,
                path,
                0,
                format!("action `{}` is defined twice", c.name),
            ));
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_and_python_functions_become_actions() {
        let sh = "#!/bin/sh\nhelper=1\ninstall() {\n  echo hi\n}\nfunction start {\n  true\n}\n";
        let codes = parse_shell("t", Path::new("actions.sh"), sh).unwrap();
        let names: Vec<_> = codes.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["install", "start"]);
        assert_eq!(codes[0].code, "  echo hi\n");
        let py = "import os\n\ndef install(job):\n    \"\"\"Installs.\"\"\"\n    pass\n\ndef test(job):\n    x = 1\n";
        let codes = parse_python("t", Path::new("actions.py"), py).unwrap();
        assert_eq!(codes.len(), 2);
        assert_eq!(codes[0].doc, "Installs.");
        assert_eq!(codes[1].code, "    x = 1\n");
        assert_eq!(codes[1].args, "job");
    }
}
