//! The rendered messages of blueprint errors (our own output: insta snapshots).

use ays_core::testing::{TestRepo, TestResult};
use ays_core::{ApplyOptions, InitOptions, Repository};

use crate::support::fails;

#[test]
fn blueprint_errors_render_file_line_and_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let repo = Repository::init(
        &dir.path().join("r"),
        InitOptions {
            store_url: Some("mem://".into()),
            ..InitOptions::default()
        },
    )?;
    let t = TestRepo::wrap(repo, dir);
    t.template("vdc", "location = type:str\n")?;
    t.template(
        "node",
        "vdc = type:str parent:'vdc'\nsshkey = list type:str consume:sshkey:1:1\nport = type:int\n",
    )?;
    t.template("sshkey", "path = type:str\n")?;
    let cases = [
        "node__a:\n  nosuch: 1\n",
        "node__a:\n  port: eighty\n",
        "nope__a:\n",
        "vdc__v:\nvdc__v:\n",
        "vdc__v:\nnode__a:\n  vdc: other\n",
        "vdc__v:\nsshkey__k1:\nsshkey__k2:\nnode__a:\n  sshkey: [k1, k2]\n",
        "vdc__v:\nnode__a:\n",
        "actions:\n  - action: install\n    actor: vdc\n",
        "just text",
        "a: [unclosed\n",
    ];
    let mut out = String::new();
    for bp in cases {
        let err = fails(
            t.repo
                .apply_blueprint_text("bp.yaml", bp, ApplyOptions::default()),
        )?;
        out.push_str(&format!("{err}\n"));
    }
    insta::assert_snapshot!(out);
    Ok(())
}
