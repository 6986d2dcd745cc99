//! Actor templates: finding them ([`TemplateSet`]) and reading one ([`Template`]).
//!
//! A template is a directory holding any of `schema.hrd`, `schema.capnp`, `actions.sh`,
//! `actions.py` or `config.yaml`; its name is the directory name. Sources are the repository's
//! `actorTemplates/` (local) and the template directories of the repository config (global); a
//! local template overrides a global one, two global ones with one name are an error. Hidden and
//! `_`-prefixed directories are skipped, and a template's own subdirectories are not searched.
//!
//! Files of a template:
//! - data schema: `schema.capnp` verbatim, else `schema.hrd` converted
//!   ([`ays_hrd::CapnpStyle::Ays82`], defaults in the schema), else an empty `Schema` struct;
//! - relations: `schema.hrd` (`parent:`, `consume:`), else `config.yaml` `links:`;
//!   `config.yaml` is read by [`ays_hrd::ConfigYaml`], which owns its format and locates its
//!   errors (line and column, as [`TemplateError::ConfigYaml`]); this module takes the values;
//! - action settings: `config.yaml` (`recurring`, `timeouts`, `retries`, `retry_delay`,
//!   `retry_max_delay`, `depends`) or `actor.hrd` (`recurring.<action>`, `timeout.<action>`,
//!   `retries.<action>`, `retry_delay.<action>`, `retry_max_delay.<action>`,
//!   `depends.<action> = install, init`). Each is keyed by action; durations read `30s`, `5m`,
//!   `1h30m` or whole seconds. An action with `retries: N` is tried up to N more times after a
//!   failure, waiting `retry_delay` (default 1s) before the first retry, then twice as long each
//!   time, never more than `retry_max_delay` (default 1m):
//!
//!   ```yaml
//!   retries: {install: 3}
//!   retry_delay: {install: 2s}
//!   retry_max_delay: {install: 1m}
//!   ```
//! - actor settings: `concurrency: N` in `config.yaml` (`concurrency = N` in `actor.hrd`): at
//!   most N jobs of the actor's services run at once;
//! - events (AYS 9): `events:` in `config.yaml`, a list of `{command, action, tags, secret,
//!   channel}` that run an action of every service of the actor when an external event matches
//!   (see [`crate::Repository::event_targets`]); an entry naming an action the template does
//!   not have is an error;
//! - actions: `actions.sh` (shell functions `name() {` … `}`) or `actions.py`
//!   (`def name(job):`), every function at column 0 being an action.
//!
//! The default dependency chain (8.1's `init_actions_`) is `install` ← `init`, `start` ←
//! `install`, `monitor` ← `start`, `uninstall` ← `stop`; the template's `depends` replace the
//! entry of the actions they name. The actions of the default chain always exist: those the
//! actions file does not define have empty code (runtime `none`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Location, TemplateError};

mod actions;
mod settings;

use crate::ids::{ActionName, ActorName};
use crate::service::EventFilter;
use actions::{PyProbes, python_actions, shell_actions};
pub(crate) use settings::parse_duration;
use settings::{Required, Settings, apply_config_yaml, parse_actor_hrd};

/// The files that make a directory a template.
const MARKERS: [&str; 5] = [
    "schema.hrd",
    "schema.capnp",
    "actions.sh",
    "actions.py",
    "config.yaml",
];

/// The actions every actor has, in the order of 8.1's default chain.
pub const DEFAULT_ACTIONS: [&str; 6] = ["init", "install", "start", "monitor", "stop", "uninstall"];

/// 8.1's default dependency chain: `(action, requires)`.
const DEFAULT_CHAIN: [(&str, &str); 4] = [
    ("install", "init"),
    ("start", "install"),
    ("monitor", "start"),
    ("uninstall", "stop"),
];

/// How an action's code runs (recorded now, executed by ays-run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// No code: the action succeeds without doing anything.
    None,
    /// A shell function from `actions.sh`.
    Shell,
    /// A Python function from `actions.py`.
    Python,
}

impl Runtime {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::None => "none",
            Runtime::Shell => "shell",
            Runtime::Python => "python",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Runtime> {
        match s {
            "none" => Some(Runtime::None),
            "shell" => Some(Runtime::Shell),
            "python" => Some(Runtime::Python),
            _ => None,
        }
    }
}

/// The code of one action, content-addressed by [`ActionCode::key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionCode {
    /// The action name.
    pub name: ActionName,
    /// How it runs.
    pub runtime: Runtime,
    /// The whole actions file as written, in which `name` is a function (or, in records stored
    /// before whole files were, when `file` is empty: the function's body).
    pub code: String,
    /// The parameter list (`job` for python, empty for shell).
    pub args: String,
    /// The docstring, if any.
    pub doc: String,
    /// The template's actions file `code` was read from (empty for a function body stored
    /// before whole files were, and for actions without code).
    pub file: String,
    /// With `file`: a hash of the function's own definition and of the file's code outside its
    /// actions (top-level lines, helpers), as bash or Python parse them: it changes when a change
    /// of the file can change what this action does, and only then (not for a comment, or an
    /// edit of another action). Empty otherwise.
    pub fingerprint: String,
}

impl ActionCode {
    /// The content key: hex SHA-256 of runtime, name, code and file (first 32 hex digits).
    /// Identical code shares one record.
    pub fn key(&self) -> String {
        let mut parts = vec![self.runtime.as_str(), self.name.as_str(), &self.code];
        if !self.file.is_empty() {
            parts.push(&self.file);
        }
        let mut key = sha256_hex(&parts);
        key.truncate(32);
        key
    }
}

/// Hex SHA-256 of `parts`, separated by NUL bytes.
pub(crate) fn sha256_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0]);
        }
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _infallible = write!(s, "{b:02x}");
    }
    s
}

/// The parent relation of an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentSpec {
    /// The parent's role.
    pub role: String,
    /// The blueprint attribute naming the parent (HRD spelling).
    pub arg_key: String,
    /// The data field holding the parent's instance name.
    pub arg_name: String,
    /// Create a missing parent (`auto_N` of the actor named exactly `role`).
    pub auto: bool,
    /// The parent may be absent.
    pub optional: bool,
}

/// A consumed role of an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumeSpec {
    /// The producer's role.
    pub role: String,
    /// The blueprint attribute naming the producers (HRD spelling).
    pub arg_key: String,
    /// The data field holding the producers' instance names.
    pub arg_name: String,
    /// The minimum number of producers.
    pub min: u32,
    /// The maximum number of producers.
    pub max: u32,
    /// Create missing producers (`auto_0`, `auto_1`, … of the actor named exactly `role`).
    pub auto: bool,
}

/// One action of a template, with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateAction {
    /// The code (empty with runtime `none` when the actions file does not define it).
    pub code: ActionCode,
    /// The actions it requires on the same service.
    pub depends_on: Vec<ActionName>,
    /// Recurring period in seconds (0: not recurring).
    pub period: u32,
    /// Whether runs of it are logged.
    pub log: bool,
    /// Timeout in seconds (0: the runner's default).
    pub timeout: u32,
    /// Retries (0: the runner's default).
    pub retries: u32,
    /// Seconds before the first retry (`None`: the runner's default).
    pub retry_delay: Option<u32>,
    /// Longest wait between retries, in seconds (`None`: the runner's default).
    pub retry_max_delay: Option<u32>,
}

/// A read actor template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The name (directory name).
    pub name: ActorName,
    /// The directory.
    pub path: PathBuf,
    /// The `schema.hrd` text, if any.
    pub hrd_text: Option<String>,
    /// The data schema, as Cap'n Proto text.
    pub schema_text: String,
    /// The parent relation.
    pub parent: Option<ParentSpec>,
    /// The consumed roles.
    pub consumes: Vec<ConsumeSpec>,
    /// The actions, sorted by name.
    pub actions: Vec<TemplateAction>,
    /// At most this many jobs of the actor at once (0: no limit).
    pub concurrency: u32,
    /// Hex SHA-256 of every file read.
    pub hash: String,
    /// The dependencies that the `init_actions_(service, args)` of its actions.py returns (8.1's
    /// way to give them): merged into [`TemplateAction::depends_on`] for the actions that
    /// `config.yaml` and `actor.hrd` give none; `ays template migrate` writes them to
    /// `config.yaml`.
    pub init_actions: Option<BTreeMap<String, Vec<String>>>,
    /// `events:` of `config.yaml` (AYS 9): the external events that run an action on every
    /// service of the actor, each naming one of its actions.
    pub events: Vec<EventFilter>,
}

/// Where a template was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateInfo {
    /// The template name.
    pub name: ActorName,
    /// Its directory.
    pub path: PathBuf,
    /// Whether it comes from the repository's `actorTemplates/`.
    pub local: bool,
    /// Other directories of templates with the same name, found earlier and ignored (as in
    /// 8.1, the one found last is used).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<PathBuf>,
}

/// Every template a repository can use.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    templates: BTreeMap<ActorName, TemplateInfo>,
    /// What Python said of the set's actions.py files: all of them are read by one `python3`
    /// when the first is needed.
    probes: std::sync::Arc<PyProbes>,
}

impl TemplateSet {
    /// Finds the templates of `local` (the repository's `actorTemplates/`, may be absent) and of
    /// the `global` directories.
    ///
    /// Two global (or two local) templates with one name are not an error: as in 8.1, the one
    /// found last (directories are read in name order) is used, with a warning naming both.
    /// A local template is used over a global one of the same name, without a warning.
    ///
    /// # Errors
    ///
    /// [`TemplateError::BadName`] for a template directory whose name is not an actor name,
    /// [`TemplateError::Io`] for an unreadable directory (an absent one is empty).
    pub fn discover(local: &Path, global: &[PathBuf]) -> Result<TemplateSet, TemplateError> {
        let mut globals: BTreeMap<ActorName, TemplateInfo> = BTreeMap::new();
        for dir in global {
            collect(dir, false, &mut globals)?;
        }
        let mut locals = BTreeMap::new();
        collect(local, true, &mut locals)?;
        globals.extend(locals);
        for t in globals.values().filter(|t| !t.ignored.is_empty()) {
            let ignored: Vec<String> = t.ignored.iter().map(|p| p.display().to_string()).collect();
            tracing::warn!(
                "template `{}` is defined more than once: {} is used, {} ignored",
                t.name,
                t.path.display(),
                ignored.join(", ")
            );
        }
        Ok(TemplateSet {
            templates: globals,
            probes: std::sync::Arc::default(),
        })
    }

    /// The templates, by name.
    pub fn list(&self) -> Vec<TemplateInfo> {
        self.templates.values().cloned().collect()
    }

    /// The template named `name`.
    pub fn find(&self, name: &str) -> Option<&TemplateInfo> {
        self.templates
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }

    /// Reads the template named `name`.
    ///
    /// # Errors
    ///
    /// [`TemplateError::NotFound`], or the errors of [`Template::load`].
    pub fn load(&self, name: &str) -> Result<Template, TemplateError> {
        let info = self.find(name).ok_or_else(|| TemplateError::NotFound {
            name: name.to_owned(),
        })?;
        let source = TemplateSource::read(&info.path)?;
        if let Some(src) = &source.actions_py {
            let file = info.path.join("actions.py").display().to_string();
            if self.probes.get(&file, src).is_none() {
                self.read_python_files();
            }
        }
        Template::from_source_with(&info.name, &info.path, &source, &self.probes)
    }

    /// Has one `python3` read every actions.py of the set (one that cannot be read is left for
    /// its own template's load to report).
    fn read_python_files(&self) {
        let files: Vec<(String, String)> = self
            .templates
            .values()
            .filter_map(|t| {
                let path = t.path.join("actions.py");
                let src = fs::read_to_string(&path).ok()?;
                Some((path.display().to_string(), src))
            })
            .collect();
        if let Err(reason) = self.probes.read(&files) {
            tracing::debug!("reading the actions.py files together failed: {reason}");
        }
    }
}

fn collect(
    dir: &Path,
    local: bool,
    out: &mut BTreeMap<ActorName, TemplateInfo>,
) -> Result<(), TemplateError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(TemplateError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| TemplateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') || !path.is_dir() {
            continue;
        }
        dirs.push((name, path));
    }
    dirs.sort();
    for (name, path) in dirs {
        if MARKERS.iter().any(|m| path.join(m).is_file()) {
            let actor: ActorName = name.parse().map_err(|source| TemplateError::BadName {
                path: path.clone(),
                source,
            })?;
            let ignored = match out.remove(&actor) {
                Some(earlier) => {
                    let mut ignored = earlier.ignored;
                    ignored.push(earlier.path);
                    ignored
                }
                None => Vec::new(),
            };
            out.insert(
                actor.clone(),
                TemplateInfo {
                    name: actor,
                    path,
                    local,
                    ignored,
                },
            );
        } else {
            collect(&path, local, out)?;
        }
    }
    Ok(())
}

fn read_opt(path: &Path) -> Result<Option<String>, TemplateError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TemplateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
/// The files of a template as text, for a template built in code ([`Template::from_source`])
/// rather than read from a directory. Every file is optional, as in a template directory: a
/// template with none has an empty schema and no action code.
///
/// ```
/// use ays_core::{Template, TemplateSource};
///
/// let source = TemplateSource {
///     schema_hrd: Some("port = type:int default:80\n".into()),
///     actions_sh: Some("install() {\n    echo installing\n}\n".into()),
///     config_yaml: Some("retries:\n  install: 2\n".into()),
///     ..TemplateSource::default()
/// };
/// let template = Template::from_source(&"web".parse()?, "in code/web", &source)?;
/// let install = template.actions.iter().find(|a| a.code.name.as_str() == "install");
/// assert_eq!(install.map(|a| a.retries), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateSource {
    /// `schema.hrd`: the data schema in HRD (its relations too).
    pub schema_hrd: Option<String>,
    /// `schema.capnp`: the data schema in Cap'n Proto (wins over `schema_hrd` for the schema).
    pub schema_capnp: Option<String>,
    /// `config.yaml`: relations, recurring actions, timeouts, retries, dependencies.
    pub config_yaml: Option<String>,
    /// `actor.hrd`: the 8.1 form of the same settings.
    pub actor_hrd: Option<String>,
    /// `actions.sh`: shell actions.
    pub actions_sh: Option<String>,
    /// `actions.py`: Python actions (not with `actions_sh`).
    pub actions_py: Option<String>,
}

impl TemplateSource {
    /// Reads the files of the template directory `dir` (absent files are `None`).
    ///
    /// # Errors
    ///
    /// [`TemplateError::Io`] for a file that exists but cannot be read.
    pub fn read(dir: &Path) -> Result<TemplateSource, TemplateError> {
        Ok(TemplateSource {
            schema_hrd: read_opt(&dir.join("schema.hrd"))?,
            schema_capnp: read_opt(&dir.join("schema.capnp"))?,
            config_yaml: read_opt(&dir.join("config.yaml"))?,
            actor_hrd: read_opt(&dir.join("actor.hrd"))?,
            actions_sh: read_opt(&dir.join("actions.sh"))?,
            actions_py: read_opt(&dir.join("actions.py"))?,
        })
    }

    /// The files present, as (file name, text), in a fixed order.
    fn files(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("schema.hrd", &self.schema_hrd),
            ("schema.capnp", &self.schema_capnp),
            ("config.yaml", &self.config_yaml),
            ("actor.hrd", &self.actor_hrd),
            ("actions.sh", &self.actions_sh),
            ("actions.py", &self.actions_py),
        ]
        .into_iter()
        .filter_map(|(file, text)| Some((file, text.as_deref()?)))
    }
}

impl Template {
    /// Reads the template `name` in directory `dir`.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Io`], and the errors of [`Template::from_source`].
    pub fn load(name: &ActorName, dir: &Path) -> Result<Template, TemplateError> {
        Template::from_source(name, dir, &TemplateSource::read(dir)?)
    }

    /// Builds the template `name` from the text of its files; `origin` names where it comes
    /// from (a directory, or any label for a template built in code) in errors and in the
    /// actor's record.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Hrd`] (schema.hrd, actor.hrd), [`TemplateError::ConfigYaml`],
    /// [`TemplateError::Schema`] (schema.capnp) and [`TemplateError::Malformed`] (a setting that
    /// does not fit the template: a duration beyond `u32` seconds, a `depends` entry that is not
    /// an action name; actions files; both actions files present).
    pub fn from_source(
        name: &ActorName,
        origin: impl AsRef<Path>,
        source: &TemplateSource,
    ) -> Result<Template, TemplateError> {
        Template::from_source_with(name, origin.as_ref(), source, &PyProbes::default())
    }

    /// [`Template::from_source`], asking `probes` what an actions.py defines before `python3`.
    fn from_source_with(
        name: &ActorName,
        dir: &Path,
        source: &TemplateSource,
        probes: &PyProbes,
    ) -> Result<Template, TemplateError> {
        let t = name.as_str();
        let mut hasher = Sha256::new();
        for (file, text) in source.files() {
            hasher.update(file.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
        }
        let hrd_file = dir.join("schema.hrd").display().to_string();
        let hrd = source
            .schema_hrd
            .as_deref()
            .map(|src| ays_hrd::ActorSchema::parse(src, &hrd_file))
            .transpose()
            .map_err(|source| TemplateError::Hrd {
                template: t.to_owned(),
                source: Box::new(source),
            })?;
        // Said once, when the template is loaded, not each time an actor made from it is read.
        for ignored in hrd.iter().flat_map(ays_hrd::ActorSchema::ignored_parents) {
            tracing::warn!(template = t, "{ignored}");
        }
        for field in hrd.iter().flat_map(ays_hrd::ActorSchema::redefined) {
            tracing::warn!(
                template = t,
                "{}: field `{}` defined twice: it keeps its first position and takes this definition",
                field.at,
                field.value
            );
        }
        let schema_text = match (&source.schema_capnp, &hrd) {
            (Some(text), _) => text.clone(),
            (None, Some(schema)) => {
                schema
                    .to_capnp(t, ays_hrd::CapnpStyle::Ays82)
                    .map_err(|source| TemplateError::Hrd {
                        template: t.to_owned(),
                        source: Box::new(source),
                    })?
            }
            (None, None) => format!(
                "\n@0x{:016x};\nstruct Schema {{\n\n}}\n",
                ays_hrd::schema_id(t)
            ),
        };
        // Check the schema now, so that a broken template fails here and not at first use.
        ays_schema::parse_schema(
            &schema_text,
            &dir.join("schema.capnp").display().to_string(),
        )
        .map_err(|source| TemplateError::Schema {
            template: t.to_owned(),
            source: Box::new(source),
        })?;
        let yaml_file = dir.join("config.yaml").display().to_string();
        let config = source
            .config_yaml
            .as_deref()
            .map(|src| ays_hrd::ConfigYaml::parse(src, &yaml_file))
            .transpose()
            .map_err(|source| TemplateError::ConfigYaml {
                template: t.to_owned(),
                source: Box::new(source),
            })?;
        let mut settings = Settings::default();
        if let Some(config) = &config {
            apply_config_yaml(t, config, &mut settings)?;
        }
        if let Some(text) = &source.actor_hrd {
            parse_actor_hrd(t, &dir.join("actor.hrd"), text, &mut settings)?;
        }
        let (parent, consumes) = match &hrd {
            Some(schema) => relations_from_hrd(schema),
            None => (
                settings.parent.take(),
                std::mem::take(&mut settings.consumes),
            ),
        };
        let mut init_actions = None;
        let codes = match (&source.actions_sh, &source.actions_py) {
            (Some(_), Some(_)) => {
                return Err(TemplateError::Malformed {
                    at: Location::new(dir.join("actions.py").display().to_string(), 0),
                    template: t.to_owned(),
                    reason: "both actions.sh and actions.py exist; keep one".to_owned(),
                });
            }
            (Some(src), None) => shell_actions(t, &dir.join("actions.sh"), src)?,
            (None, Some(src)) => {
                let path = dir.join("actions.py");
                let python = python_actions(t, &path, src, probes)?;
                if let Some((line, depends)) = python.depends {
                    settings.init_actions(&path, line, depends.clone());
                    init_actions = Some(depends);
                }
                python.codes
            }
            (None, None) => Vec::new(),
        };
        let actions = assemble_actions(t, dir, codes, &settings)?;
        let events = check_events(t, &actions, settings.events)?;
        Ok(Template {
            name: name.clone(),
            path: dir.to_path_buf(),
            hrd_text: source.schema_hrd.clone(),
            schema_text,
            parent,
            consumes,
            actions,
            concurrency: settings.concurrency.unwrap_or(0),
            hash: hex(&hasher.finalize()),
            init_actions,
            events,
        })
    }
}

fn relations_from_hrd(schema: &ays_hrd::ActorSchema) -> (Option<ParentSpec>, Vec<ConsumeSpec>) {
    let parent = schema.parent().map(|p| ParentSpec {
        role: p.role.clone(),
        arg_key: p.arg_key.clone(),
        arg_name: p.arg_name.clone(),
        auto: p.auto,
        optional: p.optional,
    });
    let consumes = schema
        .consumes()
        .iter()
        .map(|c| ConsumeSpec {
            role: c.role.clone(),
            arg_key: c.arg_key.clone(),
            arg_name: c.arg_name.clone(),
            min: u32::from(c.min),
            max: u32::from(c.max),
            auto: c.auto,
        })
        .collect();
    (parent, consumes)
}

fn assemble_actions(
    t: &str,
    dir: &Path,
    codes: Vec<ActionCode>,
    settings: &Settings,
) -> Result<Vec<TemplateAction>, TemplateError> {
    let mut by_name: BTreeMap<String, ActionCode> = BTreeMap::new();
    for name in DEFAULT_ACTIONS {
        let name: ActionName =
            name.parse()
                .map_err(|e: crate::ids::NameError| TemplateError::Malformed {
                    at: Location::new(dir.display().to_string(), 0),
                    template: t.to_owned(),
                    reason: e.to_string(),
                })?;
        by_name.insert(
            name.to_string(),
            ActionCode {
                name,
                runtime: Runtime::None,
                code: String::new(),
                args: String::new(),
                doc: String::new(),
                file: String::new(),
                fingerprint: String::new(),
            },
        );
    }
    for code in codes {
        by_name.insert(code.name.to_string(), code);
    }
    let default_at = Location::new(dir.display().to_string(), 0);
    let mut depends: BTreeMap<String, Vec<Required>> = DEFAULT_CHAIN
        .iter()
        .map(|(a, r)| {
            let required = Required {
                name: (*r).to_owned(),
                at: default_at.clone(),
            };
            ((*a).to_owned(), vec![required])
        })
        .collect();
    depends.extend(settings.depends.clone());
    let mut out = Vec::with_capacity(by_name.len());
    for (name, code) in by_name {
        let mut depends_on = Vec::new();
        for d in depends.get(&name).into_iter().flatten() {
            let action: ActionName =
                d.name
                    .parse()
                    .map_err(|e: crate::ids::NameError| TemplateError::Malformed {
                        at: d.at.clone(),
                        template: t.to_owned(),
                        reason: format!("action `{name}` depends on {e}"),
                    })?;
            depends_on.push(action);
        }
        let (period, log) = settings.recurring.get(&name).copied().unwrap_or((0, true));
        out.push(TemplateAction {
            code,
            depends_on,
            period,
            log,
            timeout: settings.timeouts.get(&name).copied().unwrap_or(0),
            retries: settings.retries.get(&name).copied().unwrap_or(0),
            retry_delay: settings.retry_delays.get(&name).copied(),
            retry_max_delay: settings.retry_max_delays.get(&name).copied(),
        });
    }
    Ok(out)
}
/// The `events` filters, each naming an action of the template.
fn check_events(
    t: &str,
    actions: &[TemplateAction],
    events: Vec<(EventFilter, Location)>,
) -> Result<Vec<EventFilter>, TemplateError> {
    let mut out = Vec::with_capacity(events.len());
    for (i, (filter, at)) in events.into_iter().enumerate() {
        if !actions
            .iter()
            .any(|a| a.code.name.as_str() == filter.action)
        {
            let names: Vec<&str> = actions.iter().map(|a| a.code.name.as_str()).collect();
            return Err(TemplateError::Malformed {
                at,
                template: t.to_owned(),
                reason: format!(
                    "`events[{i}].action`: the template has no action `{}` (it has {})",
                    filter.action,
                    names.join(", ")
                ),
            });
        }
        out.push(filter);
    }
    Ok(out)
}

/// Sanitises a `schema.hrd` field name as AYS does: `os.image` → `osImage`,
/// `field_with_underscore` → `fieldWithUnderscore`.
pub(crate) fn field_name(raw: &str) -> String {
    // A name that cannot be a field's stays as given, and is then reported as an unknown field.
    ays_hrd::capnp_field_name(raw).unwrap_or_else(|_| raw.to_owned())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_keys_are_content_addressed() {
        let c = |name: &str, code: &str| ActionCode {
            name: name.parse().unwrap(),
            runtime: Runtime::Shell,
            code: code.into(),
            args: String::new(),
            doc: String::new(),
            file: String::new(),
            fingerprint: String::new(),
        };
        assert_eq!(c("a", "x").key(), c("a", "x").key());
        let in_file = |file: &str| ActionCode {
            file: file.into(),
            ..c("a", "x")
        };
        assert_ne!(in_file("t/actions.sh").key(), c("a", "x").key());
        assert_ne!(in_file("t/actions.sh").key(), in_file("u/actions.sh").key());
        assert_ne!(c("a", "x").key(), c("a", "y").key());
        assert_ne!(c("a", "x").key(), c("b", "x").key());
        assert_eq!(c("a", "x").key().len(), 32);
    }

    #[test]
    fn field_names_are_sanitised_like_8_1() {
        assert_eq!(field_name("os.image"), "osImage");
        assert_eq!(field_name("field_with_underscore"), "fieldWithUnderscore");
        assert_eq!(field_name("osImage"), "osImage");
    }
}
