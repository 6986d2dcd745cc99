//! One module per command group; each reads its inputs, calls the libraries and renders output.

mod data;
mod schema;
mod template;

use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schema(command) => schema::run(command),
        Command::Template(command) => template::run(command),
        Command::Data(command) => data::run(command),
    }
}

/// Reads a UTF-8 text file, naming it in the error.
fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// The actor name of a template file: the name of the directory that holds it.
fn actor_name_of(path: &Path) -> anyhow::Result<String> {
    let dir = path
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", path.display()))?;
    dir.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "cannot tell the actor name of `{}`: pass --actor NAME",
                path.display()
            )
        })
}
