//! `ays data encode|decode`: JSON ↔ Cap'n Proto for one struct of a schema.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;

use crate::cli::{DataArgs, DataCommand, Style};
use crate::exit::Rejected;

pub fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Encode(args) => encode(&args),
        DataCommand::Decode(args) => decode(&args),
    }
}

fn encoding(args: &DataArgs) -> ays_schema::Encoding {
    if args.packed {
        ays_schema::Encoding::Packed
    } else {
        ays_schema::Encoding::Unpacked
    }
}

/// Loads the schema: a `.capnp` file as is, a `.hrd` file converted first.
fn load_schema(path: &Path) -> anyhow::Result<ays_schema::SchemaFile> {
    let text = if path.extension().is_some_and(|ext| ext == "hrd") {
        let actor = super::actor_name_of(path)?;
        super::schema::convert(path, &actor, Style::Ays82)?
    } else {
        super::read_text(path)?
    };
    Ok(ays_schema::parse_schema(
        &text,
        &path.display().to_string(),
    )?)
}

/// A codec error about what stdin holds (or about `--struct`), as bad input naming both.
fn rejected(args: &DataArgs, verb: &str, err: ays_schema::CodecError) -> Rejected {
    let what = match err {
        ays_schema::CodecError::UnknownStruct { .. } => "bad --struct".to_owned(),
        _ => format!(
            "stdin {verb} struct `{}` of `{}`",
            args.struct_name,
            args.schema.display()
        ),
    };
    Rejected::new(what, err)
}

fn encode(args: &DataArgs) -> anyhow::Result<()> {
    let schema = load_schema(&args.schema)?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read JSON from stdin")?;
    let json: serde_json::Value = serde_json::from_str(&input)
        .map_err(|err| Rejected::new("stdin is not valid JSON", err))?;
    // Fields may be named as in schema.hrd (`mem.gb`) or as in Cap'n Proto (`memGb`).
    let json = match json {
        serde_json::Value::Object(fields) => serde_json::Value::Object(
            fields
                .into_iter()
                .map(|(name, v)| {
                    let name = ays_hrd::capnp_field_name(&name).unwrap_or(name);
                    (name, v)
                })
                .collect(),
        ),
        other => other,
    };
    let record = ays_schema::Record::from_json(&schema, &args.struct_name, &json)
        .map_err(|err| rejected(args, "does not fit", err))?;
    let bytes = ays_schema::encode(&schema, &args.struct_name, &record, encoding(args))
        .map_err(|err| rejected(args, "does not fit", err))?;
    std::io::stdout()
        .write_all(&bytes)
        .context("cannot write to stdout")
}

fn decode(args: &DataArgs) -> anyhow::Result<()> {
    let schema = load_schema(&args.schema)?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read Cap'n Proto from stdin")?;
    let record = ays_schema::decode(&schema, &args.struct_name, &bytes, encoding(args))
        .map_err(|err| rejected(args, "is not a message of", err))?;
    let json = serde_json::to_string_pretty(&record.to_json()).context("cannot render JSON")?;
    println!("{json}");
    Ok(())
}
