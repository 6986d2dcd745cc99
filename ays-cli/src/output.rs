//! Rendering of results: aligned tables for people, JSON for scripts.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
    line(&text)
}

/// Prints `items` as one pretty JSON array on stdout, rendering one item at a time (the same
/// text as [`json`] of the whole list, without holding it all): `--json` of a run's 200,000
/// jobs streams.
pub fn json_array<T: Serialize>(items: impl IntoIterator<Item = T>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_json_array(&mut out, items)?;
    out.flush().context("cannot write to stdout")
}

/// Writes `items` to `out` as [`json_array`] prints them.
fn write_json_array<T: Serialize>(
    out: &mut impl Write,
    items: impl IntoIterator<Item = T>,
) -> anyhow::Result<()> {
    let mut first = true;
    for item in items {
        let text = serde_json::to_string_pretty(&item).context("cannot render JSON")?;
        out.write_all(if first { b"[\n" } else { b",\n" })
            .context("cannot write to stdout")?;
        first = false;
        for (i, l) in text.lines().enumerate() {
            if i > 0 {
                out.write_all(b"\n").context("cannot write to stdout")?;
            }
            write!(out, "  {l}").context("cannot write to stdout")?;
        }
    }
    out.write_all(if first { b"[]\n" } else { b"\n]\n" })
        .context("cannot write to stdout")
}

/// Whether [`confirm`] will ask: stdin is a terminal and `--yes` was not given.
pub fn will_ask(yes: bool) -> bool {
    use std::io::IsTerminal;
    !yes && std::io::stdin().is_terminal()
}

/// Asks on the terminal whether to go on with `what` (for a change that cannot be undone):
/// yes without asking when `yes` is given or stdin is not a terminal; an answer other than `y`
/// or `yes` is an error saying that nothing was changed.
pub fn confirm(what: &str, yes: bool) -> anyhow::Result<()> {
    if !will_ask(yes) {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{what}? [y/N] ").context("cannot write to stderr")?;
    err.flush().context("cannot write to stderr")?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        anyhow::bail!("cancelled: nothing was changed")
    }
}

/// A time given in ms after the epoch, for people: `2026-11-30T15:26:17Z`. `--json` keeps the
/// raw number.
pub fn time(ms: i64) -> String {
    let Ok(ms) = u64::try_from(ms) else {
        return ms.to_string();
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// As [`time`], but `unset` for 0, which records store for "not yet" or "never".
pub fn time_or(ms: i64, unset: &str) -> String {
    if ms == 0 { unset.to_owned() } else { time(ms) }
}

/// A duration given in ms, for people: `1.250s`, `2m 5.003s`.
pub fn duration(ms: i64) -> String {
    let Ok(ms) = u64::try_from(ms) else {
        return format!("{ms}ms");
    };
    let (secs, millis) = (ms / 1000, ms % 1000);
    let whole = humantime::format_duration(std::time::Duration::from_secs(secs - secs % 60));
    match secs / 60 {
        0 => format!("{}.{millis:03}s", secs % 60),
        _ => format!("{whole} {}.{millis:03}s", secs % 60),
    }
}

/// A period given in seconds, for people: `30s`, `5m`, `1h 30m`.
pub fn period(secs: u32) -> String {
    humantime::format_duration(std::time::Duration::from_secs(u64::from(secs))).to_string()
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-q`: no warnings and no progress.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prints a warning on stderr (not with `-q`).
pub fn warn(text: &str) {
    if quiet() {
        return;
    }
    // A warning that cannot be written has nowhere else to go.
    let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
}

/// Prints a note for people on stderr, such as what a command did besides its result (not
/// with `-q`).
pub fn note(text: &str) {
    if quiet() {
        return;
    }
    // A note that cannot be written has nowhere else to go.
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Prints one line on stdout.
pub fn line(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("cannot write to stdout")
}

/// A table with a header row, printed with columns padded to their widest cell.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are blank.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table; a table without rows renders as nothing.
    pub fn render(&self) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate().take(columns) {
                let cell = row.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    /// Prints the table on stdout, or the line `empty` when it has no rows: an empty list
    /// says so.
    pub fn print_or(&self, empty: &str) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return line(empty);
        }
        self.print()
    }

    /// Prints the table on stdout.
    pub fn print(&self) -> anyhow::Result<()> {
        let text = self.render();
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .context("cannot write to stdout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_arrays_are_the_whole_list_rendered() {
        let items = vec![
            serde_json::json!({"a": 1, "b": ["x\ny", {"c": null}]}),
            serde_json::json!([]),
            serde_json::json!("s"),
        ];
        let mut out = Vec::new();
        write_json_array(&mut out, &items).unwrap();
        let whole = serde_json::to_string_pretty(&items).unwrap() + "\n";
        assert_eq!(String::from_utf8(out).unwrap(), whole);
        let mut out = Vec::new();
        write_json_array(&mut out, Vec::<serde_json::Value>::new()).unwrap();
        assert_eq!(out, b"[]\n");
    }

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut table = Table::new(&["SERVICE", "ACTOR"]);
        table.row(vec!["node!vm1".into(), "node.ovc".into()]);
        table.row(vec!["sshkey!main".into(), "sshkey".into()]);
        assert_eq!(
            table.render(),
            "SERVICE      ACTOR\nnode!vm1     node.ovc\nsshkey!main  sshkey\n"
        );
    }

    #[test]
    fn times_durations_and_periods_read_as_people_write_them() {
        assert_eq!(time(1_796_055_091_438), "2026-11-30T16:11:31Z");
        assert_eq!(time_or(0, "never"), "never");
        assert_eq!(time_or(1_796_055_091_438, "never"), "2026-11-30T16:11:31Z");
        assert_eq!(time(-5), "-5");
        assert_eq!(duration(0), "0.000s");
        assert_eq!(duration(1_250), "1.250s");
        assert_eq!(duration(125_003), "2m 5.003s");
        assert_eq!(duration(3_600_000), "1h 0.000s");
        assert_eq!(duration(-1), "-1ms");
        assert_eq!(period(30), "30s");
        assert_eq!(period(300), "5m");
        assert_eq!(period(5_400), "1h 30m");
    }

    #[test]
    fn an_empty_table_renders_nothing() {
        assert_eq!(Table::new(&["A"]).render(), "");
    }
}
