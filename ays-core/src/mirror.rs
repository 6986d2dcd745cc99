//! `ays export` / `ays restore`: the git-friendly file mirror of AYS 8.1.
//!
//! ```text
//! actors/<actor>/actor.json      the actor: relations, actions with their code, origin
//! actors/<actor>/schema.capnp    its data schema
//! actors/<actor>/schema.hrd      its schema.hrd, when it has one
//! actors/<actor>/actions.sh|py   regenerated from the stored code
//! services/<role>!<instance>/    service.json, data.json, schema.capnp; children are nested
//!                                under their parent's directory
//! ```
//!
//! Export replaces `actors/` and `services/` under the target directory. Restore replaces the
//! repository's actors, services and indexes with the mirror's, in one batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ays_schema::{Encoding, Record};
use ays_store::Batch;
use serde::{Deserialize, Serialize};

use crate::action_state::ActionState;
use crate::actor::{Actor, ActorAction, CompiledActor};
use crate::error::CoreError;
use crate::ids::{ActorName, ServiceKey};
use crate::keys;
use crate::record;
use crate::repo::Repository;
use crate::service::{EventFilter, Service, ServiceAction, ServiceFilter, ServiceRef};
use crate::template::{ActionCode, ConsumeSpec, ParentSpec, Runtime, field_name};

/// What `export` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The mirror directory.
    pub dir: PathBuf,
    /// Whether export created it.
    pub created: bool,
    /// Actors written.
    pub actors: usize,
    /// Services written.
    pub services: usize,
}

/// What `restore` loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// Actors restored.
    pub actors: usize,
    /// Services restored.
    pub services: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelationJson {
    role: String,
    arg_key: String,
    min: u32,
    max: u32,
    auto: bool,
    optional: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActionJson {
    name: String,
    code_key: String,
    depends_on: Vec<String>,
    period: u32,
    log: bool,
    timeout: u32,
    retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_delay: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_max_delay: Option<u32>,
    runtime: String,
    code: String,
    args: String,
    doc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    fingerprint: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActorJson {
    name: String,
    parent: Option<RelationJson>,
    consumes: Vec<RelationJson>,
    actions: Vec<ActionJson>,
    #[serde(default, skip_serializing_if = "is_zero")]
    concurrency: u32,
    origin: String,
    template_hash: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<crate::service::EventFilter>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PointerJson {
    actor: String,
    key: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceActionJson {
    name: String,
    code_key: String,
    state: String,
    period: u32,
    last_run: i64,
    log: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceJson {
    key: String,
    actor: String,
    parent: Option<PointerJson>,
    producers: Vec<PointerJson>,
    consumers: Vec<PointerJson>,
    actions: Vec<ServiceActionJson>,
    event_filters: Vec<EventFilter>,
}

fn write(path: &Path, text: &str) -> Result<(), CoreError> {
    std::fs::write(path, text).map_err(CoreError::io("cannot write", path))
}

fn mirror_err(path: &Path, reason: impl ToString) -> CoreError {
    CoreError::Mirror {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn to_json<T: Serialize>(path: &Path, v: &T) -> Result<String, CoreError> {
    serde_json::to_string_pretty(v)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| mirror_err(path, e))
}

fn pointer(r: &ServiceRef) -> PointerJson {
    PointerJson {
        actor: r.actor.to_string(),
        key: r.key.to_string(),
    }
}

impl Repository {
    /// Writes the mirror under `dir` (default: the repository root, else created), replacing
    /// the `actors/` and `services/` of an earlier export there.
    ///
    /// # Errors
    ///
    /// [`CoreError::NotAMirror`] when `dir/actors` or `dir/services` holds something an export
    /// did not write (nothing is touched), [`CoreError::Io`], store, codec and corrupt-record
    /// errors.
    pub fn export(&self, dir: Option<&Path>) -> Result<ExportReport, CoreError> {
        let dir = dir.map_or_else(|| self.root().to_path_buf(), Path::to_path_buf);
        let created = !dir.exists();
        check_mirror_target(&dir)?;
        for sub in ["actors", "services"] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(CoreError::io("cannot remove", &p))?;
            }
            std::fs::create_dir_all(&p).map_err(CoreError::io("cannot create", &p))?;
        }
        let mut compiled: BTreeMap<ActorName, CompiledActor> = BTreeMap::new();
        let summaries = self.actors()?;
        for summary in &summaries {
            let Some(actor) = self.actor(&summary.name)? else {
                continue;
            };
            self.export_actor(&dir, &actor)?;
            compiled.insert(actor.name.clone(), CompiledActor::new(actor)?);
        }
        let services = self.services(&ServiceFilter::all())?;
        let parents: BTreeMap<ServiceKey, Option<ServiceKey>> = services
            .iter()
            .map(|s| (s.key.clone(), s.parent.as_ref().map(|p| p.key.clone())))
            .collect();
        for s in &services {
            export_service(&dir, s, &parents, &compiled)?;
        }
        tracing::info!(dir = %dir.display(), actors = compiled.len(), services = services.len(), "exported");
        Ok(ExportReport {
            dir,
            created,
            actors: compiled.len(),
            services: services.len(),
        })
    }

    /// Writes `actors/<name>/`: actor.json, schema.capnp, schema.hrd and the actions file.
    fn export_actor(&self, dir: &Path, actor: &Actor) -> Result<(), CoreError> {
        let adir = dir.join("actors").join(actor.name.as_str());
        std::fs::create_dir_all(&adir).map_err(CoreError::io("cannot create", &adir))?;
        let mut actions = Vec::with_capacity(actor.actions.len());
        let mut file = String::new();
        let mut runtime = Runtime::None;
        for a in &actor.actions {
            let code = self
                .action_code(&a.code_key)?
                .ok_or_else(|| CoreError::Corrupt {
                    key: String::from_utf8_lossy(&keys::code(&a.code_key)).into_owned(),
                    reason: format!("action code of `{}` is missing", a.name),
                })?;
            match code.runtime {
                // The whole file, as written, once.
                Runtime::Shell | Runtime::Python if !code.file.is_empty() => {
                    if file.is_empty() {
                        file.clone_from(&code.code);
                    }
                }
                Runtime::Shell => file.push_str(&format!("{}() {{\n{}}}\n\n", a.name, code.code)),
                Runtime::Python => {
                    file.push_str(&format!("def {}({}):\n{}\n", a.name, code.args, code.code))
                }
                Runtime::None => {}
            }
            if code.runtime != Runtime::None {
                runtime = code.runtime;
            }
            actions.push(ActionJson {
                name: a.name.to_string(),
                code_key: a.code_key.clone(),
                depends_on: a.depends_on.iter().map(ToString::to_string).collect(),
                period: a.period,
                log: a.log,
                timeout: a.timeout,
                retries: a.retries,
                retry_delay: a.retry_delay,
                retry_max_delay: a.retry_max_delay,
                runtime: code.runtime.as_str().to_owned(),
                code: code.code,
                args: code.args,
                doc: code.doc,
                file: code.file,
                fingerprint: code.fingerprint,
            });
        }
        let json = ActorJson {
            name: actor.name.to_string(),
            parent: actor.parent.as_ref().map(|p| RelationJson {
                role: p.role.clone(),
                arg_key: p.arg_key.clone(),
                min: 1,
                max: 1,
                auto: p.auto,
                optional: p.optional,
            }),
            consumes: actor
                .consumes
                .iter()
                .map(|c| RelationJson {
                    role: c.role.clone(),
                    arg_key: c.arg_key.clone(),
                    min: c.min,
                    max: c.max,
                    auto: c.auto,
                    optional: false,
                })
                .collect(),
            actions,
            concurrency: actor.concurrency,
            origin: actor.origin.clone(),
            template_hash: actor.template_hash.clone(),
            events: actor.events.clone(),
        };
        let p = adir.join("actor.json");
        write(&p, &to_json(&p, &json)?)?;
        write(&adir.join("schema.capnp"), &actor.schema_text)?;
        if let Some(h) = &actor.hrd_text {
            write(&adir.join("schema.hrd"), h)?;
        }
        match runtime {
            Runtime::Shell => write(&adir.join("actions.sh"), &file)?,
            Runtime::Python => write(&adir.join("actions.py"), &file)?,
            Runtime::None => {}
        }
        Ok(())
    }

    /// Replaces the repository's actors and services with the mirror under `dir` (default: the
    /// repository root), in one batch.
    ///
    /// # Errors
    ///
    /// [`CoreError::NoMirror`] when `dir`, `dir/actors` or `dir/services` is not a directory,
    /// [`CoreError::Mirror`] for a malformed mirror file, [`CoreError::RunLocked`] while a run
    /// is in progress (nothing is written in each case), [`CoreError::Io`], store and codec
    /// errors.
    pub fn restore(&self, dir: Option<&Path>) -> Result<RestoreReport, CoreError> {
        let dir = dir.map_or_else(|| self.root().to_path_buf(), Path::to_path_buf);
        for (path, missing) in [
            (dir.clone(), "the directory"),
            (dir.join("actors"), "actors/"),
            (dir.join("services"), "services/"),
        ] {
            if !path.is_dir() {
                return Err(CoreError::NoMirror {
                    dir,
                    missing: missing.to_owned(),
                });
            }
        }
        let _runs = self.hold_runs("restore")?;
        let _lock = self.write_lock()?;
        let (mut batch, _) = self.destroy_batch()?;
        let mut compiled: BTreeMap<ActorName, CompiledActor> = BTreeMap::new();
        let adir = dir.join("actors");
        let mut actor_dirs = list_dirs(&adir)?;
        actor_dirs.sort();
        for d in actor_dirs {
            let (actor, codes) = read_actor(&d)?;
            put_actor(&mut batch, &actor, &codes);
            compiled.insert(actor.name.clone(), CompiledActor::new(actor)?);
        }
        let mut files = Vec::new();
        find_services(&dir.join("services"), &mut files)?;
        files.sort();
        for f in &files {
            let s = read_service(f, &compiled)?;
            for k in s.index_keys() {
                batch.put(&k, b"");
            }
            batch.put(&keys::service(&s.key), &record::encode_service(&s));
        }
        self.commit(&batch, "restore")?;
        tracing::info!(dir = %dir.display(), actors = compiled.len(), services = files.len(), "restored");
        Ok(RestoreReport {
            actors: compiled.len(),
            services: files.len(),
        })
    }
}

/// Refuses to export into `dir` when its `actors/` or `services/`, which export replaces, hold
/// something an export did not write.
fn check_mirror_target(dir: &Path) -> Result<(), CoreError> {
    let not_mirror = |reason: String| CoreError::NotAMirror {
        dir: dir.to_path_buf(),
        reason,
    };
    for (sub, marker) in [("actors", "actor.json"), ("services", "service.json")] {
        let path = dir.join(sub);
        if path.exists() && !path.is_dir() {
            return Err(not_mirror(format!("{sub} is not a directory")));
        }
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CoreError::Io {
                    op: "cannot read",
                    path,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(CoreError::io("cannot read", &path))?;
            let entry = entry.path();
            if !entry.join(marker).is_file() {
                return Err(not_mirror(format!(
                    "{} has no {marker}",
                    entry.strip_prefix(dir).unwrap_or(&entry).display()
                )));
            }
        }
    }
    Ok(())
}

fn put_actor(batch: &mut Batch, actor: &Actor, codes: &[ActionCode]) {
    batch.put(&keys::actor(&actor.name), &record::encode_actor(actor));
    if let Some(h) = &actor.hrd_text {
        batch.put(&keys::actor_hrd(&actor.name), h.as_bytes());
    }
    if let Some(l) = record::encode_actor_limits(actor) {
        batch.put(&keys::actor_limits(&actor.name), &l);
    }
    for c in codes {
        batch.put(&keys::code(&c.key()), &record::encode_code(c, &actor.name));
    }
}

fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>, CoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CoreError::Io {
                op: "cannot read",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(CoreError::io("cannot read", dir))?;
        if e.path().is_dir() {
            out.push(e.path());
        }
    }
    Ok(out)
}

fn find_services(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CoreError> {
    for d in list_dirs(dir)? {
        let f = d.join("service.json");
        if f.is_file() {
            out.push(f);
        }
        find_services(&d, out)?;
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CoreError> {
    let text = std::fs::read_to_string(path).map_err(CoreError::io("cannot read", path))?;
    serde_json::from_str(&text).map_err(|e| mirror_err(path, e))
}

fn read_actor(dir: &Path) -> Result<(Actor, Vec<ActionCode>), CoreError> {
    let p = dir.join("actor.json");
    let j: ActorJson = read_json(&p)?;
    let bad = |e: &dyn std::fmt::Display| mirror_err(&p, e);
    let schema_path = dir.join("schema.capnp");
    let schema_text = std::fs::read_to_string(&schema_path)
        .map_err(CoreError::io("cannot read", &schema_path))?;
    let hrd_path = dir.join("schema.hrd");
    let hrd_text = if hrd_path.is_file() {
        Some(std::fs::read_to_string(&hrd_path).map_err(CoreError::io("cannot read", &hrd_path))?)
    } else {
        None
    };
    let mut codes = Vec::new();
    let mut actions = Vec::new();
    for a in j.actions {
        let name = a.name.parse().map_err(|e| bad(&e))?;
        let runtime = Runtime::from_name(&a.runtime)
            .ok_or_else(|| bad(&format!("unknown runtime `{}`", a.runtime)))?;
        let code = ActionCode {
            name: a.name.parse().map_err(|e| bad(&e))?,
            runtime,
            code: a.code,
            args: a.args,
            doc: a.doc,
            file: a.file,
            fingerprint: a.fingerprint,
        };
        if code.key() != a.code_key {
            return Err(bad(&format!(
                "the code of action `{}` does not match its key",
                a.name
            )));
        }
        codes.push(code);
        let mut depends_on = Vec::new();
        for d in a.depends_on {
            depends_on.push(d.parse().map_err(|e| bad(&e))?);
        }
        actions.push(ActorAction {
            name,
            code_key: a.code_key,
            depends_on,
            period: a.period,
            log: a.log,
            timeout: a.timeout,
            retries: a.retries,
            retry_delay: a.retry_delay,
            retry_max_delay: a.retry_max_delay,
        });
    }
    let actor = Actor {
        name: j.name.parse().map_err(|e| bad(&e))?,
        parent: j.parent.map(|r| ParentSpec {
            role: r.role,
            arg_name: field_name(&r.arg_key),
            arg_key: r.arg_key,
            auto: r.auto,
            optional: r.optional,
        }),
        consumes: j
            .consumes
            .into_iter()
            .map(|r| ConsumeSpec {
                role: r.role,
                arg_name: field_name(&r.arg_key),
                arg_key: r.arg_key,
                min: r.min,
                max: r.max,
                auto: r.auto,
            })
            .collect(),
        actions,
        concurrency: j.concurrency,
        schema_text,
        origin: j.origin,
        template_hash: j.template_hash,
        hrd_text,
        events: j.events,
    };
    Ok((actor, codes))
}

fn read_service(
    path: &Path,
    actors: &BTreeMap<ActorName, CompiledActor>,
) -> Result<Service, CoreError> {
    let j: ServiceJson = read_json(path)?;
    let bad = |e: &dyn std::fmt::Display| mirror_err(path, e);
    let ptr = |p: PointerJson| -> Result<ServiceRef, CoreError> {
        Ok(ServiceRef {
            actor: p.actor.parse().map_err(|e| bad(&e))?,
            key: p.key.parse().map_err(|e| bad(&e))?,
        })
    };
    let actor_name: ActorName = j.actor.parse().map_err(|e| bad(&e))?;
    let actor = actors
        .get(&actor_name)
        .ok_or_else(|| bad(&format!("actor `{actor_name}` is not in the mirror")))?;
    let data_path = path.with_file_name("data.json");
    let data_json: serde_json::Value = read_json(&data_path)?;
    let rec = Record::from_json(&actor.schema, "Schema", &data_json)
        .map_err(|e| mirror_err(&data_path, e))?;
    let data = actor
        .codec
        .encode(&rec, Encoding::Packed)
        .map_err(|e| mirror_err(&data_path, e))?;
    let mut actions = Vec::new();
    for a in j.actions {
        actions.push(ServiceAction {
            name: a.name.parse().map_err(|e| bad(&e))?,
            code_key: a.code_key,
            state: a.state.parse::<ActionState>().map_err(|e| bad(&e))?,
            period: a.period,
            last_run: a.last_run,
            log: a.log,
        });
    }
    Ok(Service {
        key: j.key.parse().map_err(|e| bad(&e))?,
        actor: actor_name,
        parent: j.parent.map(ptr).transpose()?,
        producers: j.producers.into_iter().map(ptr).collect::<Result<_, _>>()?,
        consumers: j.consumers.into_iter().map(ptr).collect::<Result<_, _>>()?,
        actions,
        event_filters: j.event_filters,
        data,
        data_schema_id: actor.actor.schema_hash(),
    })
}

/// Writes `services/<parent chain>/<role>!<instance>/`: service.json, data.json, schema.capnp.
fn export_service(
    dir: &Path,
    s: &Service,
    parents: &BTreeMap<ServiceKey, Option<ServiceKey>>,
    compiled: &BTreeMap<ActorName, CompiledActor>,
) -> Result<(), CoreError> {
    let mut chain = vec![s.key.clone()];
    let mut cur = parents.get(&s.key).cloned().flatten();
    while let Some(p) = cur {
        if chain.contains(&p) || chain.len() > 64 {
            break;
        }
        cur = parents.get(&p).cloned().flatten();
        chain.push(p);
    }
    let mut sdir = dir.join("services");
    for k in chain.iter().rev() {
        sdir.push(k.to_string());
    }
    std::fs::create_dir_all(&sdir).map_err(CoreError::io("cannot create", &sdir))?;
    let actor = compiled
        .get(&s.actor)
        .ok_or_else(|| CoreError::ActorNotFound {
            name: s.actor.to_string(),
        })?;
    let json = ServiceJson {
        key: s.key.to_string(),
        actor: s.actor.to_string(),
        parent: s.parent.as_ref().map(pointer),
        producers: s.producers.iter().map(pointer).collect(),
        consumers: s.consumers.iter().map(pointer).collect(),
        actions: s
            .actions
            .iter()
            .map(|a| ServiceActionJson {
                name: a.name.to_string(),
                code_key: a.code_key.clone(),
                state: a.state.to_string(),
                period: a.period,
                last_run: a.last_run,
                log: a.log,
            })
            .collect(),
        event_filters: s.event_filters.clone(),
    };
    let p = sdir.join("service.json");
    write(&p, &to_json(&p, &json)?)?;
    let data = actor
        .codec
        .decode(&s.data, Encoding::Packed)
        .map_err(|source| CoreError::Codec {
            key: s.key.to_string(),
            source,
        })?;
    let p = sdir.join("data.json");
    write(&p, &to_json(&p, &data.to_json())?)?;
    write(&sdir.join("schema.capnp"), &actor.actor.schema_text)?;
    Ok(())
}
