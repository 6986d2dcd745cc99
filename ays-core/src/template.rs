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
//! - action settings: `config.yaml` (`recurring`, `timeouts`, `retries`, `depends`) or
//!   `actor.hrd` (`recurring.<action>`, `timeout.<action>`, `retries.<action>`,
//!   `depends.<action> = install, init`);
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
use crate::ids::{ActionName, ActorName};

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
    /// The function body (shell) or the whole `def` (python), as written.
    pub code: String,
    /// The parameter list (`job` for python, empty for shell).
    pub args: String,
    /// The docstring, if any.
    pub doc: String,
}

impl ActionCode {
    /// The content key: hex SHA-256 of runtime, name and code (first 32 hex digits). Identical
    /// code shares one record.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.runtime.as_str().as_bytes());
        h.update([0]);
        h.update(self.name.as_str().as_bytes());
        h.update([0]);
        h.update(self.code.as_bytes());
        hex(&h.finalize()).chars().take(32).collect()
    }
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
    /// Hex SHA-256 of every file read.
    pub hash: String,
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
}

/// Every template a repository can use.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    templates: BTreeMap<ActorName, TemplateInfo>,
}

impl TemplateSet {
    /// Finds the templates of `local` (the repository's `actorTemplates/`, may be absent) and of
    /// the `global` directories.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Duplicate`] for two global (or two local) templates with one name,
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
        Ok(TemplateSet { templates: globals })
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
        Template::load(&info.name, &info.path)
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
            if let Some(first) = out.get(&actor) {
                return Err(TemplateError::Duplicate {
                    name,
                    first: first.path.clone(),
                    second: path,
                });
            }
            out.insert(
                actor.clone(),
                TemplateInfo {
                    name: actor,
                    path,
                    local,
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

/// Action settings gathered from `config.yaml` or `actor.hrd`.
#[derive(Debug, Default)]
struct Settings {
    recurring: BTreeMap<String, (u32, bool)>,
    timeouts: BTreeMap<String, u32>,
    retries: BTreeMap<String, u32>,
    depends: BTreeMap<String, Vec<String>>,
    parent: Option<ParentSpec>,
    consumes: Vec<ConsumeSpec>,
}

impl Template {
    /// Reads the template `name` in directory `dir`.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Io`], [`TemplateError::Hrd`] (schema.hrd, actor.hrd),
    /// [`TemplateError::Schema`] (schema.capnp) and [`TemplateError::Malformed`] (config.yaml,
    /// actions files, both actions files present).
    pub fn load(name: &ActorName, dir: &Path) -> Result<Template, TemplateError> {
        let t = name.as_str();
        let mut hasher = Sha256::new();
        let mut read = |file: &str| -> Result<Option<String>, TemplateError> {
            let text = read_opt(&dir.join(file))?;
            if let Some(text) = &text {
                hasher.update(file.as_bytes());
                hasher.update([0]);
                hasher.update(text.as_bytes());
                hasher.update([0]);
            }
            Ok(text)
        };
        let hrd_text = read("schema.hrd")?;
        let capnp_text = read("schema.capnp")?;
        let config_text = read("config.yaml")?;
        let actor_hrd = read("actor.hrd")?;
        let sh = read("actions.sh")?;
        let py = read("actions.py")?;
        let hrd_file = dir.join("schema.hrd").display().to_string();
        let hrd = hrd_text
            .as_deref()
            .map(|src| ays_hrd::ActorSchema::parse(src, &hrd_file))
            .transpose()
            .map_err(|source| TemplateError::Hrd {
                template: t.to_owned(),
                source: Box::new(source),
            })?;
        let schema_text = match (&capnp_text, &hrd) {
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
        let mut settings = Settings::default();
        if let Some(text) = &config_text {
            parse_config_yaml(t, &dir.join("config.yaml"), text, &mut settings)?;
        }
        if let Some(text) = &actor_hrd {
            parse_actor_hrd(t, &dir.join("actor.hrd"), text, &mut settings)?;
        }
        let (parent, consumes) = match &hrd {
            Some(schema) => relations_from_hrd(schema),
            None => (
                settings.parent.take(),
                std::mem::take(&mut settings.consumes),
            ),
        };
        let codes = match (sh, py) {
            (Some(_), Some(_)) => {
                return Err(TemplateError::Malformed {
                    at: Location::new(dir.join("actions.py").display().to_string(), 0),
                    template: t.to_owned(),
                    reason: "both actions.sh and actions.py exist; keep one".to_owned(),
                });
            }
            (Some(src), None) => parse_shell(t, &dir.join("actions.sh"), &src)?,
            (None, Some(src)) => parse_python(t, &dir.join("actions.py"), &src)?,
            (None, None) => Vec::new(),
        };
        let actions = assemble_actions(t, dir, codes, &settings)?;
        Ok(Template {
            name: name.clone(),
            path: dir.to_path_buf(),
            hrd_text,
            schema_text,
            parent,
            consumes,
            actions,
            hash: hex(&hasher.finalize()),
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
            },
        );
    }
    for code in codes {
        by_name.insert(code.name.to_string(), code);
    }
    let mut depends: BTreeMap<String, Vec<String>> = DEFAULT_CHAIN
        .iter()
        .map(|(a, r)| ((*a).to_owned(), vec![(*r).to_owned()]))
        .collect();
    depends.extend(settings.depends.clone());
    let mut out = Vec::with_capacity(by_name.len());
    for (name, code) in by_name {
        let mut depends_on = Vec::new();
        for d in depends.get(&name).into_iter().flatten() {
            let action: ActionName =
                d.parse()
                    .map_err(|e: crate::ids::NameError| TemplateError::Malformed {
                        at: Location::new(dir.display().to_string(), 0),
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
        });
    }
    Ok(out)
}

/// Parses a duration such as `30s`, `5m`, `1h30m` or whole seconds.
pub(crate) fn parse_duration(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u32>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
    }
    if !num.is_empty() || text.is_empty() {
        return None;
    }
    u32::try_from(total).ok()
}

fn parse_config_yaml(
    t: &str,
    path: &Path,
    text: &str,
    s: &mut Settings,
) -> Result<(), TemplateError> {
    use saphyr::{LoadableYamlNode, Yaml};
    let file = path.display().to_string();
    let bad = |reason: String| TemplateError::Malformed {
        at: Location::new(file.clone(), 0),
        template: t.to_owned(),
        reason,
    };
    let docs = Yaml::load_from_str(text).map_err(|e| TemplateError::Malformed {
        at: Location::new(file.clone(), e.marker().line()),
        template: t.to_owned(),
        reason: e.info().to_owned(),
    })?;
    let Some(doc) = docs.first() else {
        return Ok(());
    };
    let str_of = |y: &Yaml<'_>| -> Option<String> {
        match y {
            Yaml::Value(v) => v
                .as_str()
                .map(str::to_owned)
                .or_else(|| v.as_integer().map(|i| i.to_string())),
            _ => None,
        }
    };
    let get = |y: &'_ Yaml<'_>, k: &str| -> Option<Yaml<'static>> {
        y.as_mapping().and_then(|m| {
            m.iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v.clone().into_owned_static())
        })
    };
    let bool_of = |y: Option<Yaml<'_>>| y.and_then(|v| v.as_bool()).unwrap_or(false);
    let count = |y: Option<Yaml<'_>>, d: u32, what: &str| -> Result<u32, TemplateError> {
        match y {
            None => Ok(d),
            Some(v) => v
                .as_integer()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad(format!("`{what}` must be a count"))),
        }
    };
    if let Some(links) = get(doc, "links") {
        if let Some(p) = get(&links, "parent").filter(|p| p.is_mapping()) {
            let role = get(&p, "role")
                .as_ref()
                .and_then(str_of)
                .ok_or_else(|| bad("links.parent needs a `role`".to_owned()))?;
            let arg = get(&p, "argname")
                .as_ref()
                .and_then(str_of)
                .unwrap_or_else(|| role.clone());
            s.parent = Some(ParentSpec {
                role: cut_role(&role),
                arg_key: arg.clone(),
                arg_name: field_name(&arg),
                auto: bool_of(get(&p, "auto")),
                optional: bool_of(get(&p, "optional")),
            });
        }
        if let Some(list) = get(&links, "consume") {
            for c in list.as_vec().into_iter().flatten() {
                let role = get(c, "role")
                    .as_ref()
                    .and_then(str_of)
                    .ok_or_else(|| bad("links.consume entries need a `role`".to_owned()))?;
                let arg = get(c, "argname")
                    .as_ref()
                    .and_then(str_of)
                    .unwrap_or_else(|| role.clone());
                let min = count(get(c, "min"), 0, "min")?;
                let max = count(get(c, "max"), 100, "max")?;
                s.consumes.push(ConsumeSpec {
                    role: cut_role(&role),
                    arg_key: arg.clone(),
                    arg_name: field_name(&arg),
                    min,
                    max,
                    auto: bool_of(get(c, "auto")),
                });
            }
        }
    }
    if let Some(list) = get(doc, "recurring") {
        for r in list.as_vec().into_iter().flatten() {
            let action = get(r, "action")
                .as_ref()
                .and_then(str_of)
                .ok_or_else(|| bad("recurring entries need an `action`".to_owned()))?;
            let period_text = get(r, "period")
                .as_ref()
                .and_then(str_of)
                .unwrap_or_default();
            let period = parse_duration(&period_text)
                .ok_or_else(|| bad(format!("recurring `{action}`: bad period `{period_text}`")))?;
            let log = get(r, "log").and_then(|v| v.as_bool()).unwrap_or(true);
            s.recurring.insert(action, (period, log));
        }
    }
    for (section, seconds) in [("timeouts", true), ("retries", false)] {
        let Some(y) = get(doc, section) else { continue };
        // Either a mapping or 8.2's list of one-entry mappings.
        let mut pairs: Vec<(Yaml<'static>, Yaml<'static>)> = Vec::new();
        let items: Vec<Yaml<'static>> = match &y {
            Yaml::Sequence(items) => items
                .iter()
                .map(|i| i.clone().into_owned_static())
                .collect(),
            other => vec![other.clone()],
        };
        for item in items {
            if let Some(m) = item.as_mapping() {
                for (k, v) in m {
                    pairs.push((k.clone().into_owned_static(), v.clone().into_owned_static()));
                }
            }
        }
        for (k, v) in pairs {
            let action =
                str_of(&k).ok_or_else(|| bad(format!("`{section}` keys are action names")))?;
            let text = str_of(&v).unwrap_or_default();
            let n = if seconds {
                parse_duration(&text)
            } else {
                text.parse().ok()
            }
            .ok_or_else(|| bad(format!("{section} of `{action}`: bad value `{text}`")))?;
            if seconds {
                s.timeouts.insert(action, n);
            } else {
                s.retries.insert(action, n);
            }
        }
    }
    if let Some(m) = get(doc, "depends") {
        for (k, v) in m.as_mapping().into_iter().flatten() {
            let action =
                str_of(k).ok_or_else(|| bad("`depends` keys are action names".to_owned()))?;
            let list: Vec<String> = match v {
                Yaml::Sequence(items) => items.iter().filter_map(str_of).collect(),
                other => str_of(other).map(|s| split_names(&s)).unwrap_or_default(),
            };
            s.depends.insert(action, list);
        }
    }
    Ok(())
}

trait OwnedStatic {
    fn into_owned_static(self) -> saphyr::Yaml<'static>;
}

impl OwnedStatic for saphyr::Yaml<'_> {
    fn into_owned_static(self) -> saphyr::Yaml<'static> {
        use saphyr::{Scalar, Yaml};
        match self {
            Yaml::Value(v) => Yaml::Value(match v {
                Scalar::Null => Scalar::Null,
                Scalar::Boolean(b) => Scalar::Boolean(b),
                Scalar::Integer(i) => Scalar::Integer(i),
                Scalar::FloatingPoint(f) => Scalar::FloatingPoint(f),
                Scalar::String(s) => Scalar::String(std::borrow::Cow::Owned(s.into_owned())),
            }),
            Yaml::Sequence(items) => Yaml::Sequence(
                items
                    .into_iter()
                    .map(OwnedStatic::into_owned_static)
                    .collect(),
            ),
            Yaml::Mapping(m) => Yaml::Mapping(
                m.into_iter()
                    .map(|(k, v)| (k.into_owned_static(), v.into_owned_static()))
                    .collect(),
            ),
            _ => Yaml::Value(Scalar::Null),
        }
    }
}

fn parse_actor_hrd(
    t: &str,
    path: &Path,
    text: &str,
    s: &mut Settings,
) -> Result<(), TemplateError> {
    let file = path.display().to_string();
    let config = ays_hrd::ActorConfig::parse_actor_hrd(text, &file).map_err(|source| {
        TemplateError::Hrd {
            template: t.to_owned(),
            source: Box::new(source),
        }
    })?;
    for r in config.recurring() {
        let period = u32::try_from(r.period.as_secs()).unwrap_or(u32::MAX);
        s.recurring.insert(r.action.clone(), (period, r.log));
    }
    for (prefix, which) in [("timeout", 0), ("retries", 1), ("depends", 2)] {
        for (action, entry) in config.document().with_prefix(prefix) {
            let text = entry.value.to_text().unwrap_or_default();
            let bad = || TemplateError::Malformed {
                at: Location::new(file.clone(), usize::try_from(entry.at.line).unwrap_or(0)),
                template: t.to_owned(),
                reason: format!("`{}`: bad value `{text}`", entry.key),
            };
            match which {
                0 => {
                    s.timeouts
                        .insert(action.to_owned(), parse_duration(&text).ok_or_else(bad)?);
                }
                1 => {
                    s.retries
                        .insert(action.to_owned(), text.trim().parse().map_err(|_| bad())?);
                }
                _ => {
                    let list = match &entry.value {
                        ays_hrd::Value::List(items) => {
                            items.iter().filter_map(ays_hrd::Value::to_text).collect()
                        }
                        _ => split_names(&text),
                    };
                    s.depends.insert(action.to_owned(), list);
                }
            }
        }
    }
    Ok(())
}

fn split_names(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn cut_role(role: &str) -> String {
    role.split('.').next().unwrap_or(role).to_owned()
}

/// Sanitises a `schema.hrd` field name as AYS does: `os.image` → `osImage`,
/// `field_with_underscore` → `fieldWithUnderscore`.
pub(crate) fn field_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut upper = false;
    for c in raw.chars() {
        if c == '.' || c == '_' {
            upper = !out.is_empty();
            continue;
        }
        if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn malformed(t: &str, path: &Path, line: usize, reason: String) -> TemplateError {
    TemplateError::Malformed {
        at: Location::new(path.display().to_string(), line),
        template: t.to_owned(),
        reason,
    }
}

fn action_name(t: &str, path: &Path, line: usize, name: &str) -> Result<ActionName, TemplateError> {
    name.parse()
        .map_err(|e: crate::ids::NameError| malformed(t, path, line, e.to_string()))
}

/// Shell functions at column 0: `name() {` or `function name {` / `function name() {`, ending
/// at a `}` at column 0. The code is the body between the braces.
fn parse_shell(t: &str, path: &Path, src: &str) -> Result<Vec<ActionCode>, TemplateError> {
    let mut out = Vec::new();
    let mut current: Option<(ActionName, usize, Vec<&str>)> = None;
    for (i, line) in src.lines().enumerate() {
        let number = i.saturating_add(1);
        if let Some((name, _start, body)) = &mut current {
            if line.trim_end() == "}" {
                out.push(ActionCode {
                    name: name.clone(),
                    runtime: Runtime::Shell,
                    code: join_body(body),
                    args: String::new(),
                    doc: String::new(),
                });
                current = None;
            } else {
                body.push(line);
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) || line.trim().is_empty() || line.starts_with('#')
        {
            continue;
        }
        let head = line.trim_end();
        let head = head.strip_prefix("function ").unwrap_or(head).trim();
        let Some(head) = head.strip_suffix('{') else {
            continue;
        };
        let name = head.trim().trim_end_matches("()").trim();
        if name.is_empty() {
            continue;
        }
        current = Some((action_name(t, path, number, name)?, number, Vec::new()));
    }
    if let Some((name, start, _)) = current {
        return Err(malformed(
            t,
            path,
            start,
            format!("function `{name}` has no closing `}}` at column 0"),
        ));
    }
    dedupe(t, path, out)
}

/// Python functions at column 0: `def name(job):`; the body is every following line that is
/// indented or blank. A docstring right after the `def` becomes the doc.
fn parse_python(t: &str, path: &Path, src: &str) -> Result<Vec<ActionCode>, TemplateError> {
    let mut out = Vec::new();
    let mut current: Option<(ActionName, String, Vec<&str>)> = None;
    let flush = |cur: Option<(ActionName, String, Vec<&str>)>, out: &mut Vec<ActionCode>| {
        if let Some((name, args, body)) = cur {
            let code = join_body(&body);
            let doc = docstring(&code);
            out.push(ActionCode {
                name,
                runtime: Runtime::Python,
                code,
                args,
                doc,
            });
        }
    };
    for (i, line) in src.lines().enumerate() {
        let number = i.saturating_add(1);
        let at_col0 = !line.starts_with(char::is_whitespace) && !line.trim().is_empty();
        if !at_col0 {
            if let Some((_, _, body)) = &mut current {
                body.push(line);
            }
            continue;
        }
        flush(current.take(), &mut out);
        if let Some(rest) = line.strip_prefix("def ") {
            let (name, after) = rest.split_once('(').ok_or_else(|| {
                malformed(t, path, number, format!("`{line}` is not `def name(job):`"))
            })?;
            let args = after.split_once(')').map(|(a, _)| a.trim()).unwrap_or("");
            current = Some((
                action_name(t, path, number, name.trim())?,
                args.to_owned(),
                Vec::new(),
            ));
        }
    }
    flush(current.take(), &mut out);
    dedupe(t, path, out)
}

fn docstring(code: &str) -> String {
    let first = code.trim_start();
    for q in ["\"\"\"", "'''"] {
        if let Some(rest) = first.strip_prefix(q)
            && let Some((doc, _)) = rest.split_once(q)
        {
            return doc.trim().to_owned();
        }
    }
    String::new()
}

fn join_body(body: &[&str]) -> String {
    let mut lines: Vec<&str> = body.to_vec();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

fn dedupe(t: &str, path: &Path, codes: Vec<ActionCode>) -> Result<Vec<ActionCode>, TemplateError> {
    let mut seen = std::collections::BTreeSet::new();
    for c in &codes {
        if !seen.insert(c.name.clone()) {
            return Err(malformed(
                t,
                path,
                0,
                format!("action `{}` is defined twice", c.name),
            ));
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_and_python_functions_become_actions() {
        let sh = "#!/bin/sh\nhelper=1\ninstall() {\n  echo hi\n}\nfunction start {\n  true\n}\n";
        let codes = parse_shell("t", Path::new("actions.sh"), sh).unwrap();
        let names: Vec<_> = codes.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["install", "start"]);
        assert_eq!(codes[0].code, "  echo hi\n");
        let py = "import os\n\ndef install(job):\n    \"\"\"Installs.\"\"\"\n    pass\n\ndef test(job):\n    x = 1\n";
        let codes = parse_python("t", Path::new("actions.py"), py).unwrap();
        assert_eq!(codes.len(), 2);
        assert_eq!(codes[0].doc, "Installs.");
        assert_eq!(codes[1].code, "    x = 1\n");
        assert_eq!(codes[1].args, "job");
    }

    #[test]
    fn code_keys_are_content_addressed() {
        let c = |name: &str, code: &str| ActionCode {
            name: name.parse().unwrap(),
            runtime: Runtime::Shell,
            code: code.into(),
            args: String::new(),
            doc: String::new(),
        };
        assert_eq!(c("a", "x").key(), c("a", "x").key());
        assert_ne!(c("a", "x").key(), c("a", "y").key());
        assert_ne!(c("a", "x").key(), c("b", "x").key());
        assert_eq!(c("a", "x").key().len(), 32);
    }

    #[test]
    fn durations_and_field_names() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("12"), Some(12));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(field_name("os.image"), "osImage");
        assert_eq!(field_name("field_with_underscore"), "fieldWithUnderscore");
        assert_eq!(field_name("osImage"), "osImage");
    }
}
