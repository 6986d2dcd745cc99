//! [`Repository`]: creating, finding and opening a repository, and every query and change that
//! is not a blueprint.
//!
//! On disk:
//!
//! ```text
//! myrepo/
//!   .ays/config.yaml     id, optional store URL, optional global template directories
//!   .ays/store.redb      the default store (embedded redb), when no URL is configured
//!   actorTemplates/      local templates
//!   blueprints/          *.yaml, applied in file-name order; `_`-prefixed ones are archived
//!   actors/ services/    the mirror written by `export` (8.1's git-friendly layout)
//! ```
//!
//! `config.yaml`:
//!
//! ```yaml
//! id: "myrepo-3f2a9c1d5e7b8a60"   # the store namespace: unique per repository
//! store: "redis://127.0.0.1:6379/0"   # optional
//! templates:                        # optional global template directories
//!   - "/opt/ays_templates"
//! no_exec: true                     # optional: runs mark jobs ok without running them
//! workers: true                     # optional: runs execute their jobs on `ays worker`s
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ays_store::{Batch, KvStore};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::actor::Actor;
use crate::creation::CreationRuntime;
use crate::error::{CoreError, Location};
use crate::ids::{ActionName, ServiceKey};
use crate::keys::{self, IndexKind};
use crate::lock::{LOCK_WAIT, WriteLock};

mod delete;
mod reading;
mod services;

use crate::record::{self, RepoRecord};
use crate::staging::{self, Staging, index_keys, scan_keys};
use crate::template::{ActionCode, TemplateSet, hex};
pub use delete::{DeleteOptions, DeletePlan, Unlinked};
pub use reading::DataDecoder;

/// The marker directory.
const MARKER: &str = ".ays";
/// The config file inside the marker directory.
const CONFIG: &str = "config.yaml";
/// The default embedded store file inside the marker directory.
const STORE_FILE: &str = "store.redb";

/// Options of [`Repository::init`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitOptions {
    /// The store URL to record in the config (default: the embedded `.ays/store.redb`).
    pub store_url: Option<String>,
    /// Global template directories to record in the config.
    pub template_dirs: Vec<PathBuf>,
}

/// Options of [`Repository::open`] and [`Repository::open_from`]; the default opens the store
/// the repository's config names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// A store URL that replaces the configured one (the CLI's `--store` or `AYS_STORE`);
    /// default `None`: the URL in `.ays/config.yaml`, else the embedded `.ays/store.redb`.
    pub store_url: Option<String>,
}

/// Whether a repository is opened to change it or only to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// An actor as listed by `ays actor list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActorSummary {
    /// The actor.
    pub name: String,
    /// Its role.
    pub role: String,
    /// How many services it has.
    pub services: usize,
    /// Its actions.
    pub actions: Vec<String>,
    /// The template directory it was made from.
    pub origin: String,
}

/// What a run did to an action, for [`Repository::record_action_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionRun {
    /// A job of the action started: the action becomes `running`.
    Started,
    /// The job succeeded at this time (ms since the epoch): `ok`, and `last_run` is set.
    Succeeded {
        /// When it finished.
        at_ms: i64,
    },
    /// The job failed: `error`.
    Failed,
}

/// What `destroy` removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestroyReport {
    /// How many actors were removed.
    pub actors: usize,
    /// How many services were removed.
    pub services: usize,
}

/// An AYS repository bound to its store.
#[derive(Debug, Clone)]
pub struct Repository {
    root: PathBuf,
    id: String,
    store_url: String,
    template_dirs: Vec<PathBuf>,
    no_exec: bool,
    workers: bool,
    store: Arc<dyn KvStore>,
    creation: Option<Arc<dyn CreationRuntime>>,
}

#[derive(Debug, Default)]
struct Config {
    id: String,
    store: Option<String>,
    templates: Vec<PathBuf>,
    no_exec: bool,
    workers: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A fresh repository id: the sanitised directory name and 16 hex digits of a hash of the path,
/// the time and the process id, so two repositories with one folder name never share a namespace.
fn new_id(root: &Path) -> String {
    let base: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(root.to_string_lossy().as_bytes());
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let local = 0u8;
    h.update(format!("{:p}", &local).as_bytes());
    let digest: String = hex(&h.finalize()).chars().take(16).collect();
    if base.is_empty() {
        format!("repo-{digest}")
    } else {
        format!("{base}-{digest}")
    }
}

fn quote(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::Value::String(s.to_owned()).to_string()
}

fn write_config(path: &Path, c: &Config) -> Result<(), CoreError> {
    let mut out = String::from("# AYS repository config\n");
    out.push_str(&format!("id: {}\n", quote(&c.id)));
    if let Some(s) = &c.store {
        out.push_str(&format!("store: {}\n", quote(s)));
    }
    if !c.templates.is_empty() {
        out.push_str("templates:\n");
        for t in &c.templates {
            out.push_str(&format!("  - {}\n", quote(&t.to_string_lossy())));
        }
    }
    if c.no_exec {
        out.push_str("no_exec: true\n");
    }
    if c.workers {
        out.push_str("workers: true\n");
    }
    std::fs::write(path, out).map_err(CoreError::io("cannot write", path))
}

fn read_config(path: &Path) -> Result<Config, CoreError> {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(path).map_err(CoreError::io("cannot read", path))?;
    let file = path.display().to_string();
    let bad = |line: usize, reason: String| CoreError::Config {
        at: Location::new(file.clone(), line),
        reason,
    };
    let docs =
        Yaml::load_from_str(&text).map_err(|e| bad(e.marker().line(), e.info().to_owned()))?;
    let doc = docs
        .first()
        .and_then(|d| d.as_mapping())
        .ok_or_else(|| bad(1, "expected a mapping with an `id`".to_owned()))?;
    let mut c = Config::default();
    for (k, v) in doc {
        let key = k.as_str().unwrap_or_default();
        match key {
            "id" => {
                c.id = v
                    .as_str()
                    .ok_or_else(|| bad(0, "`id` must be a string".to_owned()))?
                    .to_owned();
            }
            "store" => {
                c.store = Some(
                    v.as_str()
                        .ok_or_else(|| bad(0, "`store` must be a string".to_owned()))?
                        .to_owned(),
                );
            }
            "templates" => {
                for t in v.as_vec().into_iter().flatten() {
                    let t = t
                        .as_str()
                        .ok_or_else(|| bad(0, "`templates` must list directories".to_owned()))?;
                    c.templates.push(PathBuf::from(t));
                }
            }
            "no_exec" => {
                c.no_exec = v
                    .as_bool()
                    .ok_or_else(|| bad(0, "`no_exec` must be true or false".to_owned()))?;
            }
            "workers" => {
                c.workers = v
                    .as_bool()
                    .ok_or_else(|| bad(0, "`workers` must be true or false".to_owned()))?;
            }
            other => {
                return Err(bad(
                    0,
                    format!(
                        "unknown key `{other}` (expected id, store, templates, no_exec, workers)"
                    ),
                ));
            }
        }
    }
    if c.id.is_empty() {
        return Err(bad(0, "missing `id`".to_owned()));
    }
    Ok(c)
}

/// The store URL of the repository at `root`: `given` (`--store`), else the configured one,
/// else the embedded `.ays/store.redb`.
fn store_url_of(root: &Path, given: Option<String>, config: &Config) -> String {
    match (given, &config.store) {
        (Some(url), _) => url,
        (None, Some(url)) => url.clone(),
        (None, None) => format!("redb://{}", root.join(MARKER).join(STORE_FILE).display()),
    }
}

impl Repository {
    /// The repository at `root` with `config`, bound to `store` (at `store_url`).
    fn bound(root: PathBuf, config: Config, store_url: String, store: Arc<dyn KvStore>) -> Self {
        Repository {
            root,
            id: config.id,
            store_url,
            template_dirs: config.templates,
            no_exec: config.no_exec,
            workers: config.workers,
            store,
            creation: None,
        }
    }
}

/// What `init` made so far; removed on drop unless kept.
#[derive(Default)]
struct Made {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Made {
    fn keep(&mut self) {
        self.dirs.clear();
        self.files.clear();
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        // Nothing else can be done about a failure here; the error that got us here is
        // reported.
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Repository {
    /// Makes `dir` (created if needed) an AYS repository: `.ays/config.yaml` with a fresh unique
    /// id, `actorTemplates/` and `blueprints/`, and the repository record in the store.
    ///
    /// # Errors
    ///
    /// [`CoreError::AlreadyRepository`], [`CoreError::Io`], and the errors of creating the store;
    /// on error, the directories and files made so far are removed again.
    pub fn init(dir: &Path, options: InitOptions) -> Result<Repository, CoreError> {
        // Everything made here is removed again if a later step fails: a failed init leaves
        // nothing behind, and a second one starts afresh.
        let mut made = Made::default();
        if !dir.exists() {
            // The outermost directory made here, so that removing it removes them all.
            let outermost = dir
                .ancestors()
                .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
                .last()
                .unwrap_or(dir)
                .to_path_buf();
            std::fs::create_dir_all(dir).map_err(CoreError::io("cannot create", dir))?;
            made.dirs.push(outermost);
        }
        let root = std::fs::canonicalize(dir).map_err(CoreError::io("cannot resolve", dir))?;
        let marker = root.join(MARKER);
        if marker.join(CONFIG).exists() {
            return Err(CoreError::AlreadyRepository { dir: root });
        }
        for sub in [
            marker.clone(),
            root.join("actorTemplates"),
            root.join("blueprints"),
        ] {
            if !sub.exists() {
                std::fs::create_dir_all(&sub).map_err(CoreError::io("cannot create", &sub))?;
                made.dirs.push(sub);
            }
        }
        let config = Config {
            id: new_id(&root),
            store: options.store_url,
            templates: options.template_dirs,
            no_exec: false,
            workers: false,
        };
        let store_url = store_url_of(&root, None, &config);
        if let Some(path) = store_url.strip_prefix("redb://").map(PathBuf::from)
            && !path.exists()
        {
            made.files.push(path);
        }
        let store = ays_store::open_namespaced(&store_url, &config.id)
            .map_err(CoreError::store("create the store"))?;
        let rec = RepoRecord {
            id: config.id.clone(),
            name: root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: root.display().to_string(),
            store_url: store_url.clone(),
            created_at: now_ms(),
        };
        store
            .put(keys::REPO, &record::encode_repo(&rec))
            .map_err(CoreError::store("write repo record"))?;
        // The config is written last: it is what makes the directory a repository.
        let written = write_config(&marker.join(CONFIG), &config);
        if written.is_err() {
            // Best effort: the record is in a namespace no repository will use again.
            let _ = store.delete(keys::REPO);
        }
        written?;
        made.keep();
        tracing::info!(repo = %config.id, path = %root.display(), "repository created");
        Ok(Repository::bound(root, config, store_url, store))
    }

    /// The root of the repository holding `start` (`start` itself or its nearest ancestor with
    /// `.ays/config.yaml`).
    ///
    /// # Errors
    ///
    /// [`CoreError::NotARepository`].
    pub fn discover(start: &Path) -> Result<PathBuf, CoreError> {
        let abs = std::fs::canonicalize(start).map_err(CoreError::io("cannot resolve", start))?;
        abs.ancestors()
            .find(|d| d.join(MARKER).join(CONFIG).is_file())
            .map(Path::to_path_buf)
            .ok_or(CoreError::NotARepository { start: abs })
    }

    /// Opens the repository rooted at `dir`, on the store `options` name (by default the
    /// configured one).
    ///
    /// A private in-memory store (`mem://`) starts empty each time it is opened, so a
    /// repository opened on one shows none of its services (a warning is logged); name the
    /// store (`mem://NAME`) to share it between the handles of one process.
    ///
    /// # Errors
    ///
    /// [`CoreError::Io`] and [`CoreError::Config`] for the config, [`CoreError::Store`] when the
    /// store cannot be opened.
    pub fn open(dir: &Path, options: OpenOptions) -> Result<Repository, CoreError> {
        Repository::open_with(dir, options, Access::ReadWrite)
    }

    /// Opens the repository rooted at `dir` like [`Repository::open`], for reading only: the
    /// store is opened with [`ays_store::open_read_only`], so a repository whose files this user
    /// may not write can still be listed and shown, and reading it changes no byte of an
    /// embedded store. Every change through the returned repository fails with
    /// [`CoreError::Store`] caused by [`ays_store::StoreError::ReadOnly`].
    ///
    /// # Errors
    ///
    /// As [`Repository::open`].
    pub fn open_read_only(dir: &Path, options: OpenOptions) -> Result<Repository, CoreError> {
        Repository::open_with(dir, options, Access::ReadOnly)
    }

    fn open_with(
        dir: &Path,
        options: OpenOptions,
        access: Access,
    ) -> Result<Repository, CoreError> {
        let root = std::fs::canonicalize(dir).map_err(CoreError::io("cannot resolve", dir))?;
        let config = read_config(&root.join(MARKER).join(CONFIG))?;
        let store_url = store_url_of(&root, options.store_url, &config);
        // Only `init` creates a store: a mistyped path must not become a new, empty one.
        let store = match access {
            Access::ReadWrite => ays_store::open_existing(&store_url, &config.id),
            Access::ReadOnly => ays_store::open_read_only(&store_url, &config.id),
        }
        .map_err(CoreError::store("open store"))?;
        if store_url == "mem://" {
            tracing::warn!(
                repo = %config.id,
                "a private in-memory store (mem://) starts empty: this repository's services are \
                 not in it; use mem://NAME to share one store within a process"
            );
        }
        Ok(Repository::bound(root, config, store_url, store))
    }

    /// Finds the repository holding `start` ([`Repository::discover`]) and opens it
    /// ([`Repository::open`]): what every command but `init` does.
    ///
    /// # Errors
    ///
    /// As [`Repository::discover`] and [`Repository::open`].
    pub fn open_from(start: &Path, options: OpenOptions) -> Result<Repository, CoreError> {
        Repository::open(&Repository::discover(start)?, options)
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs templates' `input` and `init` with `runtime` when blueprints create services (see
    /// [`crate::creation`]). Without one, a blueprint creating a service whose template defines
    /// either is refused.
    pub fn with_creation_runtime(mut self, runtime: Arc<dyn CreationRuntime>) -> Self {
        self.creation = Some(runtime);
        self
    }

    /// The runtime of creation actions, if one is set.
    pub fn creation_runtime(&self) -> Option<&Arc<dyn CreationRuntime>> {
        self.creation.as_ref()
    }

    /// The directory of a service's files, `.ays/services/<key>/` (`service.path` of actions).
    pub fn service_dir(&self, key: &ServiceKey) -> PathBuf {
        self.root.join(MARKER).join("services").join(key.as_str())
    }

    /// The directory of run `run`'s files, `.ays/runs/<run>/` (the action code it ran).
    pub fn run_dir(&self, run: &crate::ids::RunId) -> PathBuf {
        self.root.join(MARKER).join("runs").join(run.as_str())
    }

    /// The unique id (also the store namespace).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The store URL in use.
    pub fn store_url(&self) -> &str {
        &self.store_url
    }

    /// Whether the config asks for no-exec runs (`no_exec: true`): jobs are marked ok without
    /// running.
    pub fn no_exec(&self) -> bool {
        self.no_exec
    }

    /// Whether the config asks for runs on workers (`workers: true`): their jobs execute on
    /// `ays worker` processes, through the store's message queue.
    pub fn workers(&self) -> bool {
        self.workers
    }

    /// The store, for ays-run.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    /// The `blueprints/` directory.
    pub fn blueprints_dir(&self) -> PathBuf {
        self.root.join("blueprints")
    }

    /// The templates this repository can use (`ays template list`).
    ///
    /// # Errors
    ///
    /// The errors of [`TemplateSet::discover`].
    pub fn templates(&self) -> Result<TemplateSet, CoreError> {
        let global: Vec<PathBuf> = self
            .template_dirs
            .iter()
            .map(|d| {
                if d.is_absolute() {
                    d.clone()
                } else {
                    self.root.join(d)
                }
            })
            .collect();
        Ok(TemplateSet::discover(
            &self.root.join("actorTemplates"),
            &global,
        )?)
    }

    /// Takes the repository write lock (waiting up to [`crate::lock::LOCK_WAIT`]).
    pub(crate) fn write_lock(&self) -> Result<WriteLock<'_>, CoreError> {
        WriteLock::acquire(self.store.as_ref(), LOCK_WAIT)
    }

    pub(crate) fn staging(&self) -> Staging<'_> {
        Staging::new(self.store.as_ref())
    }

    pub(crate) fn commit(&self, batch: &Batch, op: &'static str) -> Result<(), CoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.store.commit(batch).map_err(CoreError::store(op))
    }

    /// The actor named `name`, if it exists in the repository.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn actor(&self, name: &str) -> Result<Option<Actor>, CoreError> {
        staging::load_actor(self.store.as_ref(), &name.parse()?)
    }

    /// Every actor of the repository, by name (`ays actor list`).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn actors(&self) -> Result<Vec<ActorSummary>, CoreError> {
        let mut out = Vec::new();
        for k in scan_keys(self.store.as_ref(), keys::ACTOR_PREFIX.as_bytes())? {
            let name = String::from_utf8_lossy(
                k.strip_prefix(keys::ACTOR_PREFIX.as_bytes()).unwrap_or(&k),
            )
            .into_owned();
            let Some(actor) = self.actor(&name)? else {
                continue;
            };
            let services = index_keys(self.store.as_ref(), IndexKind::Actor, &name)?.len();
            out.push(ActorSummary {
                role: actor.role().to_owned(),
                name,
                services,
                actions: actor.actions.iter().map(|a| a.name.to_string()).collect(),
                origin: actor.origin.clone(),
            });
        }
        Ok(out)
    }

    /// The action code record with this key (for ays-run).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn action_code(&self, key: &str) -> Result<Option<ActionCode>, CoreError> {
        let k = keys::code(key);
        match self.store.get(&k).map_err(CoreError::store("get code"))? {
            Some(b) => Ok(Some(record::decode_code(key, &b)?)),
            None => Ok(None),
        }
    }

    /// The args recorded for a scheduled action (`processChange` gets
    /// `{"changeCategory": "config", "changed": [...]}`).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn action_args(
        &self,
        key: &ServiceKey,
        action: &ActionName,
    ) -> Result<Option<serde_json::Value>, CoreError> {
        let k = keys::args(key, action);
        match self.store.get(&k).map_err(CoreError::store("get args"))? {
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| CoreError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: e.to_string(),
                }),
            None => Ok(None),
        }
    }

    /// The args of every scheduled action that has some, read in one scan (what a run planning
    /// many jobs needs, instead of one read per job).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn all_action_args(
        &self,
    ) -> Result<std::collections::HashMap<(ServiceKey, ActionName), serde_json::Value>, CoreError>
    {
        let mut out = std::collections::HashMap::new();
        for entry in self.store.scan(keys::ARGS_PREFIX.as_bytes(), 1024) {
            let (k, v) = entry.map_err(CoreError::store("scan args"))?;
            let corrupt = |reason: String| CoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                reason,
            };
            let (service, action) = keys::args_parts(&k)
                .ok_or_else(|| corrupt("not `svc-args/<service>/<action>`".to_owned()))?;
            let value = serde_json::from_slice(&v).map_err(|e| corrupt(e.to_string()))?;
            out.insert((service, action), value);
        }
        Ok(out)
    }

    /// Removes every actor, service, scheduled-action arg, index entry and last execution of a
    /// recurring action of the repository in one batch; runs, jobs and action code records
    /// stay (`ays destroy`).
    ///
    /// # Errors
    ///
    /// [`CoreError::RunLocked`] while a run is in progress, [`CoreError::Store`].
    pub fn destroy(&self) -> Result<DestroyReport, CoreError> {
        let _runs = self.hold_runs("destroy")?;
        let _lock = self.write_lock()?;
        let (batch, report) = self.destroy_batch()?;
        self.commit(&batch, "destroy")?;
        Ok(report)
    }

    /// What [`Repository::destroy`] would remove, without removing anything.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`].
    pub fn destroy_plan(&self) -> Result<DestroyReport, CoreError> {
        Ok(self.destroy_batch()?.1)
    }

    pub(crate) fn destroy_batch(&self) -> Result<(Batch, DestroyReport), CoreError> {
        let store = self.store.as_ref();
        let mut batch = Batch::new();
        let mut report = DestroyReport {
            actors: 0,
            services: 0,
        };
        for prefix in keys::DOMAIN_PREFIXES {
            for k in scan_keys(store, prefix.as_bytes())? {
                if prefix == keys::ACTOR_PREFIX {
                    report.actors += 1;
                } else if prefix == keys::SERVICE_PREFIX {
                    report.services += 1;
                }
                batch.delete(&k);
            }
        }
        Ok((batch, report))
    }
}
