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
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ays_store::{Batch, KvStore};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::action_state::ActionState;
use crate::actor::{Actor, CompiledActor};
use crate::error::{CoreError, Location};
use crate::ids::{ActionName, ServiceKey};
use crate::keys::{self, IndexKind};
use crate::lock::{LOCK_WAIT, WriteLock};
use crate::record::{self, RepoRecord};
use crate::service::{Service, ServiceFilter, ServiceStates, ServiceView};
use crate::staging::{self, Staging, index_keys, load_service, scan_keys};
use crate::template::{ActionCode, TemplateSet, hex};

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
    store: Arc<dyn KvStore>,
}

#[derive(Debug, Default)]
struct Config {
    id: String,
    store: Option<String>,
    templates: Vec<PathBuf>,
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
            other => {
                return Err(bad(
                    0,
                    format!("unknown key `{other}` (expected id, store, templates)"),
                ));
            }
        }
    }
    if c.id.is_empty() {
        return Err(bad(0, "missing `id`".to_owned()));
    }
    Ok(c)
}

impl Repository {
    /// Makes `dir` (created if needed) an AYS repository: `.ays/config.yaml` with a fresh unique
    /// id, `actorTemplates/` and `blueprints/`, and the repository record in the store.
    ///
    /// # Errors
    ///
    /// [`CoreError::AlreadyRepository`], [`CoreError::Io`], and the errors of opening the store.
    pub fn init(dir: &Path, options: InitOptions) -> Result<Repository, CoreError> {
        std::fs::create_dir_all(dir).map_err(CoreError::io("cannot create", dir))?;
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
            std::fs::create_dir_all(&sub).map_err(CoreError::io("cannot create", &sub))?;
        }
        let config = Config {
            id: new_id(&root),
            store: options.store_url,
            templates: options.template_dirs,
        };
        write_config(&marker.join(CONFIG), &config)?;
        let repo = Repository::open(&root, None)?;
        let rec = RepoRecord {
            id: repo.id.clone(),
            name: root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: root.display().to_string(),
            store_url: repo.store_url.clone(),
            created_at: now_ms(),
        };
        repo.store
            .put(keys::REPO, &record::encode_repo(&rec))
            .map_err(CoreError::store("write repo record"))?;
        tracing::info!(repo = %repo.id, path = %root.display(), "repository created");
        Ok(repo)
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

    /// Opens the repository rooted at `dir`; `store_override` (the CLI's `--store` or
    /// `AYS_STORE`) replaces the configured store URL.
    ///
    /// # Errors
    ///
    /// [`CoreError::Io`] and [`CoreError::Config`] for the config, [`CoreError::Store`] when the
    /// store cannot be opened.
    pub fn open(dir: &Path, store_override: Option<&str>) -> Result<Repository, CoreError> {
        let root = std::fs::canonicalize(dir).map_err(CoreError::io("cannot resolve", dir))?;
        let config = read_config(&root.join(MARKER).join(CONFIG))?;
        let store_url = match (store_override, &config.store) {
            (Some(url), _) => url.to_owned(),
            (None, Some(url)) => url.clone(),
            (None, None) => format!("redb://{}", root.join(MARKER).join(STORE_FILE).display()),
        };
        let store = ays_store::open_namespaced(&store_url, &config.id)
            .map_err(CoreError::store("open store"))?;
        Ok(Repository {
            root,
            id: config.id,
            store_url,
            template_dirs: config.templates,
            store,
        })
    }

    /// Finds the repository holding `start` ([`Repository::discover`]) and opens it
    /// ([`Repository::open`]): what every command but `init` does.
    ///
    /// # Errors
    ///
    /// As [`Repository::discover`] and [`Repository::open`].
    pub fn open_from(start: &Path, store_override: Option<&str>) -> Result<Repository, CoreError> {
        Repository::open(&Repository::discover(start)?, store_override)
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The unique id (also the store namespace).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The store URL in use.
    pub fn store_url(&self) -> &str {
        &self.store_url
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

    /// The service with this key.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn service(&self, key: &ServiceKey) -> Result<Option<Service>, CoreError> {
        load_service(self.store.as_ref(), key)
    }

    /// The keys of the services that pass `filter`, sorted. Uses the most selective index, so
    /// the cost follows the size of the result, not of the repository.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn service_keys(&self, filter: &ServiceFilter) -> Result<Vec<ServiceKey>, CoreError> {
        Ok(self.services(filter)?.into_iter().map(|s| s.key).collect())
    }

    /// The services that pass `filter`, sorted by key.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn services(&self, filter: &ServiceFilter) -> Result<Vec<Service>, CoreError> {
        let store = self.store.as_ref();
        let candidates: Option<Vec<ServiceKey>> = if let Some(p) = &filter.parent {
            Some(index_keys(store, IndexKind::Parent, &p.to_string())?)
        } else if let Some(p) = &filter.producer {
            Some(index_keys(store, IndexKind::Producer, &p.to_string())?)
        } else if let Some(c) = &filter.consumer {
            Some(index_keys(store, IndexKind::Consumer, &c.to_string())?)
        } else if let (Some(r), Some(n)) = (&filter.role, &filter.name) {
            Some(format!("{r}!{n}").parse().into_iter().collect())
        } else if let Some(a) = &filter.actor {
            Some(index_keys(store, IndexKind::Actor, a)?)
        } else if let Some(n) = &filter.name {
            Some(index_keys(store, IndexKind::Instance, n)?)
        } else if let Some((a, s)) = &filter.action_state {
            Some(index_keys(
                store,
                IndexKind::State,
                &keys::state_value(a, *s),
            )?)
        } else {
            None
        };
        let mut out = Vec::new();
        match candidates {
            Some(keys) => {
                for k in keys {
                    if let Some(s) = load_service(store, &k)?
                        && filter.matches(&s)
                    {
                        out.push(s);
                    }
                }
            }
            None => {
                let prefix = match &filter.role {
                    Some(r) => keys::services_of_role(r),
                    None => keys::SERVICE_PREFIX.as_bytes().to_vec(),
                };
                for entry in store.scan(&prefix, staging::PAGE) {
                    let (k, v) = entry.map_err(CoreError::store("scan services"))?;
                    let s = record::decode_service(&String::from_utf8_lossy(&k), &v)?;
                    if filter.matches(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(crate) fn compiled_actor(&self, s: &Service) -> Result<CompiledActor, CoreError> {
        let actor = self
            .actor(s.actor.as_str())?
            .ok_or_else(|| CoreError::ActorNotFound {
                name: s.actor.to_string(),
            })?;
        CompiledActor::new(actor)
    }

    /// The data of a service as JSON, every field present.
    ///
    /// # Errors
    ///
    /// [`CoreError::ActorNotFound`], [`CoreError::Codec`].
    pub fn service_data(&self, s: &Service) -> Result<serde_json::Value, CoreError> {
        let actor = self.compiled_actor(s)?;
        let rec = actor
            .codec
            .decode(&s.data, ays_schema::Encoding::Packed)
            .map_err(|source| CoreError::Codec {
                key: s.key.to_string(),
                source,
            })?;
        Ok(rec.to_json())
    }

    /// A service with its data decoded and its children (`ays service show`).
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], and the errors of [`Repository::service_data`].
    pub fn show_service(&self, key: &ServiceKey) -> Result<ServiceView, CoreError> {
        let s = self
            .service(key)?
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        let data = self.service_data(&s)?;
        let children = index_keys(self.store.as_ref(), IndexKind::Parent, &key.to_string())?;
        Ok(ServiceView {
            role: s.key.role().to_owned(),
            instance: s.key.instance().to_string(),
            key: s.key,
            actor: s.actor,
            parent: s.parent.map(|p| p.key),
            producers: s.producers.into_iter().map(|p| p.key).collect(),
            consumers: s.consumers.into_iter().map(|p| p.key).collect(),
            children,
            actions: s.actions,
            event_filters: s.event_filters,
            data,
        })
    }

    /// The action states of the services that pass `filter` (`ays service state`).
    ///
    /// # Errors
    ///
    /// As [`Repository::services`].
    pub fn service_states(&self, filter: &ServiceFilter) -> Result<Vec<ServiceStates>, CoreError> {
        Ok(self
            .services(filter)?
            .into_iter()
            .map(|s| ServiceStates {
                actions: s
                    .actions
                    .iter()
                    .map(|a| (a.name.clone(), a.state))
                    .collect(),
                key: s.key,
            })
            .collect())
    }

    /// Sets `action` to `state` by hand on every service that passes `filter` and has the action
    /// (`ays service set-state`); returns the services changed.
    ///
    /// # Errors
    ///
    /// [`CoreError::Transition`] for `changed`/`running` (nothing is written), else as
    /// [`Repository::services`].
    pub fn set_action_state(
        &self,
        filter: &ServiceFilter,
        action: &ActionName,
        state: ActionState,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        self.change_actions(filter, action, |key, current| {
            current
                .set_manually(state)
                .map_err(|source| CoreError::Transition {
                    key: key.to_string(),
                    action: action.to_string(),
                    source,
                })
        })
    }

    /// Schedules `action` on every service that passes `filter` and has it (`ok` ones only with
    /// `force`); returns the services whose state changed.
    ///
    /// # Errors
    ///
    /// [`CoreError::Transition`] when the action is disabled on a matching service (nothing is
    /// written), else as [`Repository::services`].
    pub fn schedule_action(
        &self,
        filter: &ServiceFilter,
        action: &ActionName,
        force: bool,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        self.change_actions(filter, action, |key, current| {
            current
                .schedule(force)
                .map_err(|source| CoreError::Transition {
                    key: key.to_string(),
                    action: action.to_string(),
                    source,
                })
        })
    }

    fn change_actions(
        &self,
        filter: &ServiceFilter,
        action: &ActionName,
        next: impl Fn(&ServiceKey, ActionState) -> Result<ActionState, CoreError>,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let mut changed = Vec::new();
        for mut s in self.services(filter)? {
            let key = s.key.clone();
            let Some(a) = s.action_mut(action.as_str()) else {
                continue;
            };
            let to = next(&key, a.state)?;
            if to != a.state {
                a.state = to;
                staging.service(&key)?;
                staging.put_service(s)?;
                changed.push(key);
            }
        }
        let batch = staging.into_batch()?;
        self.commit(&batch, "change action states")?;
        Ok(changed)
    }

    /// Records a job's effect on its action (for ays-run); returns the state before.
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], [`CoreError::UnknownAction`], [`CoreError::Transition`]
    /// (starting a disabled action), [`CoreError::Busy`].
    pub fn record_action_run(
        &self,
        key: &ServiceKey,
        action: &ActionName,
        run: ActionRun,
    ) -> Result<ActionState, CoreError> {
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let s = staging
            .service_mut(key)?
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        let a = s
            .action_mut(action.as_str())
            .ok_or_else(|| CoreError::UnknownAction {
                key: key.to_string(),
                action: action.to_string(),
            })?;
        let before = a.state;
        a.state = match run {
            ActionRun::Started => before.start().map_err(|source| CoreError::Transition {
                key: key.to_string(),
                action: action.to_string(),
                source,
            })?,
            ActionRun::Succeeded { at_ms } => {
                a.last_run = at_ms;
                before.finish(true)
            }
            ActionRun::Failed => before.finish(false),
        };
        let batch = staging.into_batch()?;
        self.commit(&batch, "record action run")?;
        Ok(before)
    }

    /// Sets data fields of a service from a JSON object (a runner's data patch, or `ays service
    /// set`), checked against the actor's schema; returns the fields whose value changed.
    /// Relation fields are plain data here: links change only through a blueprint.
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], [`CoreError::Codec`] for an unknown field or a value of
    /// the wrong type (nothing is written), [`CoreError::Busy`].
    pub fn patch_service_data(
        &self,
        key: &ServiceKey,
        patch: &serde_json::Value,
    ) -> Result<Vec<String>, CoreError> {
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let mut s = staging
            .service(key)?
            .cloned()
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        let actor = self.compiled_actor(&s)?;
        let codec_err = |source| CoreError::Codec {
            key: key.to_string(),
            source,
        };
        let given =
            ays_schema::Record::from_json(&actor.schema, "Schema", patch).map_err(codec_err)?;
        let mut rec = actor
            .codec
            .decode(&s.data, ays_schema::Encoding::Packed)
            .map_err(codec_err)?;
        let mut changed = Vec::new();
        for (name, v) in given.iter() {
            if rec.get(name) != Some(v) {
                rec.insert(name, v.clone());
                changed.push(name.to_owned());
            }
        }
        if changed.is_empty() {
            return Ok(changed);
        }
        s.data = actor
            .codec
            .encode(&rec, ays_schema::Encoding::Packed)
            .map_err(codec_err)?;
        staging.put_service(s)?;
        let batch = staging.into_batch()?;
        self.commit(&batch, "patch service data")?;
        Ok(changed)
    }

    /// Deletes a service and, recursively, its children, and removes them from the producer
    /// and consumer lists of the others; returns the deleted keys (`ays service delete`).
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn delete_service(&self, key: &ServiceKey) -> Result<Vec<ServiceKey>, CoreError> {
        let _lock = self.write_lock()?;
        let store = self.store.as_ref();
        if load_service(store, key)?.is_none() {
            return Err(CoreError::ServiceNotFound {
                key: key.to_string(),
            });
        }
        let mut doomed = vec![key.clone()];
        let mut i = 0;
        while let Some(k) = doomed.get(i).cloned() {
            for child in index_keys(store, IndexKind::Parent, &k.to_string())? {
                if !doomed.contains(&child) {
                    doomed.push(child);
                }
            }
            i += 1;
        }
        let mut staging = self.staging();
        for k in &doomed {
            let Some(s) = staging.service(k)?.cloned() else {
                continue;
            };
            for other in s.producers.iter().chain(&s.consumers) {
                if doomed.contains(&other.key) {
                    continue;
                }
                if let Some(o) = staging.service_mut(&other.key)? {
                    o.producers.retain(|p| &p.key != k);
                    o.consumers.retain(|c| &c.key != k);
                    if o.parent.as_ref().is_some_and(|p| &p.key == k) {
                        o.parent = None;
                    }
                }
            }
            staging.delete_service(k)?;
        }
        let batch = staging.into_batch()?;
        self.commit(&batch, "delete services")?;
        tracing::info!(service = %key, deleted = doomed.len(), "services deleted");
        Ok(doomed)
    }

    /// Removes every actor, service, scheduled-action arg and index entry of the repository in
    /// one batch; runs, jobs and action code records stay (`ays destroy`).
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`].
    pub fn destroy(&self) -> Result<DestroyReport, CoreError> {
        let _lock = self.write_lock()?;
        let (batch, report) = self.destroy_batch()?;
        self.commit(&batch, "destroy")?;
        Ok(report)
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
