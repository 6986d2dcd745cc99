//! `ays template migrate`: writes the 8.2 layout (schema.capnp, config.yaml) beside an HRD
//! template.

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::{Style, TemplateCommand};
use crate::output::{self, Table};

pub fn run(env: &super::Env, command: TemplateCommand) -> anyhow::Result<()> {
    match command {
        TemplateCommand::List => list(env),
        TemplateCommand::Migrate { dir, force } => migrate(&dir, force),
    }
}

fn list(env: &super::Env) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let templates = repo.templates()?.list();
    if env.json {
        return output::json(&templates);
    }
    let shadowing = templates.iter().any(|t| !t.ignored.is_empty());
    let mut header = vec!["TEMPLATE", "SOURCE", "PATH"];
    if shadowing {
        header.push("IGNORED (SAME NAME)");
    }
    let mut table = Table::new(&header);
    for t in templates {
        let source = if t.local { "local" } else { "global" };
        let mut row = vec![
            t.name.to_string(),
            source.to_owned(),
            t.path.display().to_string(),
        ];
        if shadowing {
            let ignored: Vec<String> = t.ignored.iter().map(|p| p.display().to_string()).collect();
            row.push(ignored.join(", "));
        }
        table.row(row);
    }
    table.print_or(
        "no templates: put them in actorTemplates/ (or give `ays init --template-dir DIR`)",
    )
}

fn migrate(dir: &Path, force: bool) -> anyhow::Result<()> {
    let schema_path = dir.join("schema.hrd");
    if !schema_path.is_file() {
        bail!(
            "`{}` is not an HRD template: it has no schema.hrd",
            dir.display()
        );
    }
    let capnp_path = dir.join("schema.capnp");
    let config_path = dir.join("config.yaml");
    if !force {
        for path in [&capnp_path, &config_path] {
            if path.exists() {
                bail!(
                    "`{}` exists already: pass --force to overwrite it",
                    path.display()
                );
            }
        }
    }
    let actor = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", dir.display()))?
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .with_context(|| format!("cannot tell the actor name of `{}`", dir.display()))?;

    let src = super::read_text(&schema_path)?;
    let schema = ays_hrd::ActorSchema::parse(&src, &schema_path.display().to_string())?;
    let capnp = super::schema::convert(&schema_path, &actor, Style::Ays82)?;

    let actor_hrd = dir.join("actor.hrd");
    let config = if actor_hrd.is_file() {
        let src = super::read_text(&actor_hrd)?;
        Some(ays_hrd::ActorConfig::parse_actor_hrd(
            &src,
            &actor_hrd.display().to_string(),
        )?)
    } else {
        None
    };
    let mut yaml = ays_hrd::ConfigYaml::from_hrd(&schema, config.as_ref());
    // 8.1's `init_actions_` in actions.py, for the actions that actor.hrd gives no `depends`.
    // Only actions.py is read for it: the config.yaml being replaced does not matter.
    let actions_py = dir.join("actions.py");
    let source = ays_core::TemplateSource {
        actions_py: actions_py
            .is_file()
            .then(|| super::read_text(&actions_py))
            .transpose()?,
        ..ays_core::TemplateSource::default()
    };
    let template = ays_core::Template::from_source(&actor.parse()?, dir, &source)?;
    let from = dir.join("actions.py").display().to_string();
    for (action, required) in template.init_actions.into_iter().flatten() {
        let at = ays_hrd::Location::new(&from, 0, 0);
        let required = required
            .into_iter()
            .map(|value| ays_hrd::Located {
                value,
                at: at.clone(),
            })
            .collect();
        yaml.depends.entry(action).or_insert(required);
    }
    let yaml = yaml.to_yaml();

    // Both files are converted before either is written, and each is written to a temporary
    // file first and renamed, so that a failure leaves the template as it was.
    write_atomically(&capnp_path, &capnp)?;
    write_atomically(&config_path, &yaml)?;
    println!("wrote {}", capnp_path.display());
    println!("wrote {}", config_path.display());
    Ok(())
}

fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move `{}` to `{}`", tmp.display(), path.display()))
}
