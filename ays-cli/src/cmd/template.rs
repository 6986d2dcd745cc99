//! `ays template migrate`: writes the 8.2 layout (schema.capnp, config.yaml) beside an HRD
//! template.

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::{Style, TemplateCommand};
use crate::output::{self, Table};

pub fn run(env: &super::Env, command: TemplateCommand) -> anyhow::Result<()> {
    match command {
        TemplateCommand::List => list(env),
        TemplateCommand::Check { names } => check(env, &names),
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

/// One template's check, for `--json`.
#[derive(serde::Serialize)]
struct Checked {
    template: String,
    path: std::path::PathBuf,
    ok: bool,
    actions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn check(env: &super::Env, names: &[String]) -> anyhow::Result<()> {
    let repo = env.repository()?;
    let set = repo.templates()?;
    let infos = if names.is_empty() {
        set.list()
    } else {
        names
            .iter()
            .map(|name| {
                set.find(name).cloned().ok_or_else(|| {
                    crate::exit::BadInput(format!(
                        "no template `{name}` (`ays template list` lists them)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if infos.is_empty() {
        return output::line("no templates to check");
    }
    let checked: Vec<Checked> = infos
        .iter()
        .map(|info| {
            let (actions, error) = match set.load(info.name.as_str()) {
                Ok(t) => {
                    let actions = t
                        .actions
                        .iter()
                        .filter(|a| a.code.runtime != ays_core::Runtime::None)
                        .map(|a| a.code.name.to_string())
                        .collect();
                    (actions, None)
                }
                Err(err) => (Vec::new(), Some(format!("{:#}", anyhow::Error::from(err)))),
            };
            Checked {
                template: info.name.to_string(),
                path: info.path.clone(),
                ok: error.is_none(),
                actions,
                error,
            }
        })
        .collect();
    let failed = checked.iter().filter(|c| !c.ok).count();
    if env.json {
        output::json(&checked)?;
    } else {
        for c in &checked {
            match &c.error {
                None => output::line(&format!("ok     {}", c.template))?,
                Some(error) => output::line(&format!("error  {}: {error}", c.template))?,
            }
        }
    }
    if failed > 0 {
        return Err(crate::exit::BadInput(format!(
            "{failed} of {} template(s) have problems",
            checked.len()
        ))
        .into());
    }
    Ok(())
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
