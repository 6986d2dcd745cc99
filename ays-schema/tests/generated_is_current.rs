//! Checks that the committed `capnpc` output in `src/generated/` matches the `.capnp` files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// The schema files and the generated file each produces.
const SCHEMAS: &[(&str, &str)] = &[("model.capnp", "model_capnp.rs")];

/// The header line that names the `capnp` tool's version, which may differ between machines
/// without changing the code.
const TOOL_VERSION_LINE: &str = "// capnp binary version:";

fn without_tool_version(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with(TOOL_VERSION_LINE))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn generated_code_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema_dir = crate_dir.join("schema");
    let out = tempfile::tempdir().unwrap();
    let mut command = capnpc::CompilerCommand::new();
    command
        .src_prefix(&schema_dir)
        .default_parent_module(vec!["generated".into()])
        .output_path(out.path());
    for (schema, _) in SCHEMAS {
        command.file(schema_dir.join(schema));
    }
    if let Err(err) = command.run() {
        panic!(
            "capnpc could not regenerate the models ({err}); the `capnp` tool is required \
             for this test: install capnproto (apt-get install -y capnproto)"
        );
    }

    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale: Vec<PathBuf> = Vec::new();
    for (_, generated) in SCHEMAS {
        let fresh = std::fs::read_to_string(out.path().join(generated)).unwrap();
        let committed_path = crate_dir.join("src/generated").join(generated);
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if without_tool_version(&fresh) != without_tool_version(&committed) {
            if update {
                std::fs::write(&committed_path, &fresh).unwrap();
            } else {
                stale.push(committed_path);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run \
         `UPDATE_GENERATED=1 cargo test -p ays-schema --test generated_is_current`"
    );
}
