//! The command line, as clap types. Nothing here leaves `main` and `cmd`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ays: a service lifecycle orchestrator (successor of AtYourService 8.1).
#[derive(Debug, Parser)]
#[command(name = "ays", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Actor data schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Actor templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Encode and decode service data, for scripting and debugging.
    #[command(subcommand)]
    Data(DataCommand),
}

/// `ays schema ...`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the Cap'n Proto schema of a schema.hrd.
    Convert {
        /// The schema.hrd file.
        path: PathBuf,
        /// The actor name, from which the schema id is derived (default: the name of the
        /// directory holding the file).
        #[arg(long)]
        actor: Option<String>,
        /// Which generator to reproduce: 8.2 renders defaults, 8.1 does not.
        #[arg(long, value_enum, default_value_t = Style::Ays82)]
        style: Style,
    },
}

/// The Cap'n Proto rendering of a schema.hrd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Style {
    /// As AYS 8.1 generated it at runtime: no defaults.
    #[value(name = "8.1")]
    Ays81,
    /// As the AYS 8.2 upgrader wrote it: with defaults.
    #[value(name = "8.2")]
    Ays82,
}

/// `ays template ...`
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Write schema.capnp and config.yaml beside an HRD template (the 8.2 layout).
    Migrate {
        /// The template directory (holding schema.hrd and, optionally, actor.hrd).
        dir: PathBuf,
        /// Overwrite schema.capnp and config.yaml if they exist.
        #[arg(long)]
        force: bool,
    },
}

/// `ays data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Read JSON on stdin, write Cap'n Proto on stdout.
    Encode(DataArgs),
    /// Read Cap'n Proto on stdin, write JSON on stdout.
    Decode(DataArgs),
}

/// The schema and framing of `ays data encode|decode`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The schema: a `.capnp` file, or a `schema.hrd` (converted first).
    #[arg(long)]
    pub schema: PathBuf,
    /// The struct to encode or decode (nested structs as `Outer.Inner`).
    #[arg(long = "struct", default_value = "Schema")]
    pub struct_name: String,
    /// Use the packed encoding.
    #[arg(long)]
    pub packed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
