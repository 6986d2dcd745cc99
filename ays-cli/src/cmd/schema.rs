//! `ays schema convert`.

use std::io::Write;

use anyhow::Context;

use crate::cli::{SchemaCommand, Style};

pub fn run(command: SchemaCommand) -> anyhow::Result<()> {
    match command {
        SchemaCommand::Convert { path, actor, style } => {
            let actor = match actor {
                Some(actor) => actor,
                None => super::actor_name_of(&path)?,
            };
            let text = convert(&path, &actor, style)?;
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("cannot write to stdout")
        }
    }
}

/// Converts one schema.hrd file to Cap'n Proto schema text.
pub fn convert(path: &std::path::Path, actor: &str, style: Style) -> anyhow::Result<String> {
    let src = super::read_text(path)?;
    let schema = ays_hrd::ActorSchema::parse(&src, &path.display().to_string())?;
    for field in schema.redefined() {
        crate::output::warn(&format!(
            "{}: field `{}` defined twice: it keeps its first position and takes this definition",
            field.at, field.value
        ));
    }
    let style = match style {
        Style::Ays81 => ays_hrd::CapnpStyle::Ays81,
        Style::Ays82 => ays_hrd::CapnpStyle::Ays82,
    };
    Ok(schema.to_capnp(actor, style)?)
}
