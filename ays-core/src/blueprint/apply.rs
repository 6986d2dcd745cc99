//! Resolving parsed blueprints against the repository and building the one batch.

mod creating;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ays_schema::{Encoding, Record, Type, Value};

use super::parse::{self, Parsed, ServiceBlock};
use super::value::{attrs_from_json, attrs_json, convert_attrs};
use super::{ApplyOptions, BlueprintReport, FieldChange, ScheduledAction, UpdatedService};
use crate::action_state::ActionState;
use crate::actor::{Actor, CompiledActor};
use crate::creation::{CreationSession, INIT, INPUT};
use crate::error::{BlueprintError, CoreError, Location, TemplateError};
use crate::ids::{ActionName, ActorName, InstanceName, ServiceKey};
use crate::keys;
use crate::repo::Repository;
use crate::service::{Service, ServiceAction, ServiceRef};
use crate::staging::Staging;
use crate::template::TemplateSet;

/// How deep auto-created services may chain (an auto parent needing an auto parent…).
const MAX_AUTO_DEPTH: usize = 16;
/// How deep creation actions may nest (an `init` creating a service whose `init` creates…).
const MAX_CREATION_DEPTH: usize = 32;
/// The action scheduled when a blueprint changes a service's data.
const PROCESS_CHANGE: &str = "processChange";

#[tracing::instrument(skip_all, fields(repo = %repo.id(), files = sources.len(), dry_run = options.dry_run))]
pub(crate) fn apply(
    repo: &Repository,
    sources: &[(String, String)],
    options: ApplyOptions,
) -> Result<BlueprintReport, CoreError> {
    // A dry run only reads; a real one reads and writes under the write lock.
    let _lock = if options.dry_run {
        None
    } else {
        Some(repo.write_lock()?)
    };
    let mut parsed = Parsed::default();
    for (name, text) in sources {
        parse::parse(name, text, &mut parsed)?;
    }
    let mut a = Applier {
        repo,
        st: repo.staging(),
        templates: None,
        report: BlueprintReport {
            files: sources.iter().map(|(n, _)| n.clone()).collect(),
            dry_run: options.dry_run,
            ..BlueprintReport::default()
        },
        records: HashMap::new(),
        dirty: BTreeSet::new(),
        session: None,
        initialized: BTreeSet::new(),
        codes: HashMap::new(),
        refused: None,
        depth: 0,
    };
    a.check_duplicates(&parsed.services)?;
    // Every service the blueprints name, read in one go rather than one read each.
    let named: Vec<ServiceKey> = parsed
        .services
        .iter()
        .map(|b| ServiceKey::new(&b.actor, b.instance.clone()))
        .collect();
    a.st.preload(&named)?;
    let mut order = Vec::with_capacity(parsed.services.len());
    let mut created = Vec::with_capacity(parsed.services.len());
    for block in &parsed.services {
        let (key, new) = a.apply_block(block)?;
        created.push(new);
        order.push((key, block.at.clone()));
    }
    // Each service is linked, then (when a block created it) initialised, in blueprint order:
    // a block may name services declared further down, and what an `init` creates is there
    // for the blocks after it, as in 8.1.
    for ((key, at), new) in order.iter().zip(created) {
        if a.dirty.remove(key) {
            a.resolve(key, at, 0)?;
        }
        if new {
            a.init_service(key, at)?;
        }
    }
    // `init` again for every other service whose template defines it, as 8.1 did on each
    // blueprint execution.
    let first = order.first().map_or_else(
        || {
            Location::new(
                sources.first().map(|(n, _)| n.clone()).unwrap_or_default(),
                1,
            )
        },
        |(_, at)| at.clone(),
    );
    a.init_existing(&order, &first)?;
    a.refuse_cycles(&parsed.services, &order)?;
    for e in &parsed.actions {
        a.schedule(e)?;
    }
    for f in &parsed.filters {
        a.attach_filter(f)?;
    }
    let Applier { st, report, .. } = a;
    let batch = st.into_batch()?;
    if !options.dry_run {
        repo.commit(&batch, "apply blueprint")?;
    }
    tracing::info!(
        created = report.created.len(),
        updated = report.updated.len(),
        scheduled = report.scheduled.len(),
        writes = batch.writes().len(),
        "blueprint applied"
    );
    Ok(report)
}

struct Applier<'r> {
    repo: &'r Repository,
    st: Staging<'r>,
    templates: Option<TemplateSet>,
    report: BlueprintReport,
    /// Decoded data of the services touched, so that resolution need not decode again.
    records: HashMap<ServiceKey, Record>,
    /// Services whose relations must be (re)resolved.
    dirty: BTreeSet<ServiceKey>,
    /// Where creation actions run, started on first need.
    session: Option<Box<dyn CreationSession>>,
    /// Services whose `init` ran in this application.
    initialized: BTreeSet<ServiceKey>,
    /// The creation code of each action code key looked up (`None`: nothing runs).
    codes: HashMap<String, Option<crate::template::ActionCode>>,
    /// The first change a running creation action asked for and was refused: the blueprint
    /// fails with it even if the action caught the exception.
    refused: Option<CoreError>,
    /// How many creation actions are running, nested.
    depth: usize,
}

impl<'r> Applier<'r> {
    fn check_duplicates(&self, blocks: &[ServiceBlock]) -> Result<(), BlueprintError> {
        let mut seen: HashMap<ServiceKey, &Location> = HashMap::new();
        for b in blocks {
            let key = ServiceKey::new(&b.actor, b.instance.clone());
            if let Some(first) = seen.insert(key.clone(), &b.at) {
                return Err(BlueprintError::Duplicate {
                    at: b.at.clone(),
                    key: key.to_string(),
                    first: first.clone(),
                });
            }
        }
        Ok(())
    }

    /// The actor, created from its template on first use.
    fn actor(
        &mut self,
        name: &ActorName,
        at: &Location,
        key: &str,
    ) -> Result<Arc<CompiledActor>, CoreError> {
        if let Some(a) = self.st.actor(name)? {
            return Ok(a);
        }
        if self.templates.is_none() {
            self.templates = Some(self.repo.templates()?);
        }
        let templates = self
            .templates
            .as_ref()
            .ok_or_else(|| CoreError::ActorNotFound {
                name: name.to_string(),
            })?;
        let template = templates.load(name.as_str()).map_err(|e| match e {
            TemplateError::NotFound { .. } => BlueprintError::UnknownActor {
                at: at.clone(),
                key: key.to_owned(),
                actor: name.to_string(),
            },
            source => BlueprintError::Template {
                at: at.clone(),
                key: key.to_owned(),
                source: Box::new(source),
            },
        })?;
        let (actor, codes) = Actor::from_template(&template);
        let compiled = self.st.put_actor(actor, codes)?;
        self.report.actors_created.push(name.clone());
        tracing::debug!(actor = %name, "actor created from template");
        Ok(compiled)
    }

    fn decode(&mut self, actor: &CompiledActor, s: &Service) -> Result<Record, CoreError> {
        if let Some(r) = self.records.get(&s.key) {
            return Ok(r.clone());
        }
        actor
            .codec
            .decode(&s.data, Encoding::Packed)
            .map_err(|source| CoreError::Codec {
                key: s.key.to_string(),
                source,
            })
    }

    fn encode(
        &mut self,
        actor: &CompiledActor,
        key: &ServiceKey,
        rec: Record,
        at: &Location,
    ) -> Result<Vec<u8>, CoreError> {
        let bytes = actor
            .codec
            .encode(&rec, Encoding::Packed)
            .map_err(|source| {
                CoreError::Blueprint(BlueprintError::BadValue {
                    at: at.clone(),
                    key: key.to_string(),
                    attribute: String::new(),
                    reason: source.to_string(),
                })
            })?;
        self.records.insert(key.clone(), rec);
        Ok(bytes)
    }

    /// Creates or updates the service of one block (data only; relations come after every
    /// block is known). Returns its key.
    fn apply_block(&mut self, b: &ServiceBlock) -> Result<(ServiceKey, bool), CoreError> {
        let key = ServiceKey::new(&b.actor, b.instance.clone());
        let actor = self.actor(&b.actor, &b.at, &b.key)?;
        let existing = self.st.service(&key)?.cloned();
        match existing {
            Some(mut s) => {
                // Applied again: `input` translates attributes the schema does not know, as it
                // did at creation (it does not run otherwise: it may have side effects, like
                // making a key).
                let given = match convert_attrs(&actor, b, &key) {
                    Err(BlueprintError::UnknownAttribute { .. })
                        if self.creation_code(&actor, INPUT)?.is_some() =>
                    {
                        self.translated(&actor, b, &key)?
                    }
                    other => other?,
                };
                if s.actor != b.actor {
                    return Err(BlueprintError::Malformed {
                        at: b.at.clone(),
                        key: b.key.clone(),
                        reason: format!("service `{key}` exists with actor `{}`", s.actor),
                    }
                    .into());
                }
                let mut rec = self.decode(&actor, &s)?;
                let mut changed = Vec::new();
                let mut fields = Vec::new();
                for (name, v) in given {
                    if rec.get(&name) != Some(&v) {
                        fields.push(FieldChange {
                            old: rec
                                .get(&name)
                                .map_or(serde_json::Value::Null, |old| field_json(&name, old)),
                            new: field_json(&name, &v),
                            field: name.clone(),
                        });
                        rec.insert(name.clone(), v);
                        changed.push(name);
                    }
                }
                // A changed relation field, or a producer or parent deleted since the last
                // apply and declared again, means the service must be linked again.
                if changed.iter().any(|c| is_relation_field(&actor.actor, c))
                    || !links_match(&actor.actor, &rec, &s)
                {
                    self.dirty.insert(key.clone());
                }
                if changed.is_empty() {
                    self.records.insert(key.clone(), rec);
                    return Ok((key, false));
                }
                s.data = self.encode(&actor, &key, rec, &b.at)?;
                if let Some(a) = s.action_mut(PROCESS_CHANGE) {
                    let from = a.state;
                    let to = from.schedule(true).map_err(|e| BlueprintError::Action {
                        at: b.at.clone(),
                        key: key.to_string(),
                        action: PROCESS_CHANGE.to_owned(),
                        reason: e.to_string(),
                    })?;
                    a.state = to;
                    let name: ActionName = PROCESS_CHANGE.parse()?;
                    // Still pending from an earlier apply: the run will see both changes.
                    let mut all: Vec<String> = if from == ActionState::Scheduled {
                        self.repo
                            .action_args(&key, &name)?
                            .and_then(|v| v.get("changed").cloned())
                            .and_then(|v| serde_json::from_value(v).ok())
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    for c in &changed {
                        if !all.contains(c) {
                            all.push(c.clone());
                        }
                    }
                    let args = serde_json::json!({"changeCategory": "config", "changed": all});
                    self.st
                        .put_raw(keys::args(&key, &name), Some(args.to_string().into_bytes()));
                    if from != to {
                        self.report.scheduled.push(ScheduledAction {
                            key: key.clone(),
                            action: name,
                            from,
                            to,
                        });
                    }
                }
                self.st.put_service(s)?;
                self.report.updated.push(UpdatedService {
                    key: key.clone(),
                    changed,
                    fields,
                });
            }
            None => {
                let has_input = self.creation_code(&actor, INPUT)?.is_some();
                let rec: Record = self.translated(&actor, b, &key)?.into_iter().collect();
                self.create(&actor, &key, rec, &b.at)?;
                if has_input {
                    self.set_state(&key, INPUT, ActionState::Ok)?;
                }
                return Ok((key, true));
            }
        }
        Ok((key, false))
    }

    /// The block's attributes after the template's `input` (if it has one) saw them as
    /// written and maybe replaced them, checked against the schema.
    fn translated(
        &mut self,
        actor: &CompiledActor,
        b: &ServiceBlock,
        key: &ServiceKey,
    ) -> Result<Vec<(String, Value)>, CoreError> {
        let Some(code) = self.creation_code(actor, INPUT)? else {
            return Ok(convert_attrs(actor, b, key)?);
        };
        let view = match self.st.exists(key)? {
            true => self.view(key, &b.at)?,
            false => self.new_view(key, &b.actor),
        };
        let done = self.run_creation(INPUT, code, key, &b.actor, view, attrs_json(b), &b.at)?;
        Ok(match done.args {
            Some(args) => {
                let replaced = ServiceBlock {
                    attrs: attrs_from_json(&args, &b.attrs, b.at.line),
                    ..b.clone()
                };
                convert_attrs(actor, &replaced, key)?
            }
            None => convert_attrs(actor, b, key)?,
        })
    }

    fn create(
        &mut self,
        actor: &CompiledActor,
        key: &ServiceKey,
        rec: Record,
        at: &Location,
    ) -> Result<(), CoreError> {
        let data = self.encode(actor, key, rec, at)?;
        // As in 8.1, `init` belongs to creation: without code it has nothing left to do, and
        // with code it runs before the blueprint is written (`init_service`), so runs skip it.
        let init_done = self.creation_code(actor, INIT)?.is_none();
        let s = Service {
            key: key.clone(),
            actor: actor.actor.name.clone(),
            parent: None,
            producers: Vec::new(),
            consumers: Vec::new(),
            actions: actor
                .actor
                .actions
                .iter()
                .map(|a| ServiceAction {
                    name: a.name.clone(),
                    code_key: a.code_key.clone(),
                    state: if init_done && a.name.as_str() == INIT {
                        ActionState::Ok
                    } else {
                        ActionState::New
                    },
                    period: a.period,
                    last_run: 0,
                    log: a.log,
                })
                .collect(),
            event_filters: Vec::new(),
            data,
            data_schema_id: actor.actor.schema_hash(),
        };
        self.st.put_service(s)?;
        self.report.created.push(key.clone());
        self.dirty.insert(key.clone());
        Ok(())
    }

    /// Creates `role!name` (or the first free `role!auto_N`) of the actor named exactly `role`,
    /// and resolves its own relations.
    fn create_auto(
        &mut self,
        role: &str,
        name: Option<&str>,
        at: &Location,
        for_key: &ServiceKey,
        depth: usize,
    ) -> Result<ServiceKey, CoreError> {
        if depth >= MAX_AUTO_DEPTH {
            return Err(BlueprintError::Malformed {
                at: at.clone(),
                key: for_key.to_string(),
                reason: format!("auto-created services chain deeper than {MAX_AUTO_DEPTH}"),
            }
            .into());
        }
        let actor_name: ActorName = role.parse()?;
        let actor = self.actor(&actor_name, at, &for_key.to_string())?;
        let key = match name {
            Some(n) => ServiceKey::new(&actor_name, n.parse::<InstanceName>()?),
            None => {
                let mut n = 0usize;
                loop {
                    let k =
                        ServiceKey::new(&actor_name, format!("auto_{n}").parse::<InstanceName>()?);
                    if !self.st.exists(&k)? {
                        break k;
                    }
                    n = n.saturating_add(1);
                }
            }
        };
        self.create(&actor, &key, Record::new(), at)?;
        self.dirty.remove(&key);
        self.resolve(&key, at, depth.saturating_add(1))?;
        self.init_service(&key, at)?;
        tracing::debug!(service = %key, for_service = %for_key, "auto-created");
        Ok(key)
    }

    fn service_ref(&mut self, key: &ServiceKey) -> Result<ServiceRef, CoreError> {
        let s = self
            .st
            .service(key)?
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        Ok(s.as_ref())
    }

    /// Refuses relations that form a cycle through a service the blueprints name (their
    /// producers are followed through the store, so a cycle with existing services is found
    /// too): a depth-first search over producer links, each service visited once.
    fn refuse_cycles(
        &mut self,
        blocks: &[ServiceBlock],
        order: &[(ServiceKey, Location)],
    ) -> Result<(), CoreError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        let mut marks: HashMap<ServiceKey, Mark> = HashMap::new();
        for ((start, at), block) in order.iter().zip(blocks) {
            if marks.contains_key(start) {
                continue;
            }
            // The path from `start`, each entry with the producers still to visit.
            let mut path: Vec<(ServiceKey, Vec<ServiceKey>)> = Vec::new();
            let producers =
                |st: &mut Staging<'_>, k: &ServiceKey| -> Result<Vec<ServiceKey>, CoreError> {
                    Ok(st
                        .service(k)?
                        .map(|s| s.producers.iter().map(|p| p.key.clone()).collect())
                        .unwrap_or_default())
                };
            marks.insert(start.clone(), Mark::Open);
            path.push((start.clone(), producers(&mut self.st, start)?));
            while let Some((_, todo)) = path.last_mut() {
                let Some(next) = todo.pop() else {
                    if let Some((done, _)) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                    continue;
                };
                match marks.get(&next) {
                    Some(Mark::Done) => {}
                    Some(Mark::Open) => {
                        let from = path.iter().position(|(k, _)| *k == next).unwrap_or(0);
                        let members: Vec<&ServiceKey> = path
                            .get(from..)
                            .unwrap_or_default()
                            .iter()
                            .map(|(k, _)| k)
                            .collect();
                        // Named where the first of the cycle that a blueprint declares is.
                        let (at, key) = order
                            .iter()
                            .zip(blocks)
                            .find(|((k, _), _)| members.contains(&k))
                            .map_or((at, &block.key), |((_, at), b)| (at, &b.key));
                        let mut cycle: Vec<String> =
                            members.iter().map(ToString::to_string).collect();
                        cycle.push(next.to_string());
                        return Err(BlueprintError::Cycle {
                            at: at.clone(),
                            key: key.clone(),
                            cycle,
                        }
                        .into());
                    }
                    None => {
                        marks.insert(next.clone(), Mark::Open);
                        let todo = producers(&mut self.st, &next)?;
                        path.push((next, todo));
                    }
                }
            }
        }
        Ok(())
    }

    /// Links a service to its parent and producers (both sides), creating `auto` ones.
    fn resolve(&mut self, key: &ServiceKey, at: &Location, depth: usize) -> Result<(), CoreError> {
        let Some(mut s) = self.st.service(key)?.cloned() else {
            return Ok(());
        };
        let actor = self.actor(&s.actor, at, &key.to_string())?;
        let mut rec = self.decode(&actor, &s)?;
        let me = s.as_ref();
        for p in std::mem::take(&mut s.producers) {
            if let Some(o) = self.st.service_mut(&p.key)? {
                o.consumers.retain(|c| c != &me);
            }
        }
        s.parent = None;
        self.link_parent(&mut s, &actor, &mut rec, at, depth)?;
        self.link_producers(&mut s, &actor, &mut rec, at, depth)?;
        s.data = self.encode(&actor, key, rec, at)?;
        for p in s.producers.clone() {
            if let Some(o) = self.st.service_mut(&p.key)? {
                o.add_consumer(me.clone());
            }
        }
        self.st.put_service(s)?;
        Ok(())
    }

    /// Links `s` to its parent (named, the only candidate, or auto-created) and records the
    /// parent's name in the relation field.
    fn link_parent(
        &mut self,
        s: &mut Service,
        actor: &CompiledActor,
        rec: &mut Record,
        at: &Location,
        depth: usize,
    ) -> Result<(), CoreError> {
        let Some(ps) = actor.actor.parent.clone() else {
            return Ok(());
        };
        let key = &s.key.clone();
        let kstr = key.to_string();
        let named = text_values(rec.get(&ps.arg_name)).into_iter().next();
        let parent = match named {
            Some(n) => {
                let pk = named_key(at, &kstr, &ps.arg_key, &ps.role, &n)?;
                if self.st.exists(&pk)? {
                    Some(pk)
                } else if ps.optional {
                    // As in 8.1: the name found nothing, so the parent is absent (optional) or
                    // a new `auto_N` (auto), not a service of that name.
                    tracing::warn!(
                        "{at}: `{kstr}`: parent `{pk}` does not exist: no parent instead (as in 8.1)"
                    );
                    None
                } else if ps.auto {
                    tracing::warn!(
                        "{at}: `{kstr}`: parent `{pk}` does not exist: a new auto_N instead (as in 8.1)"
                    );
                    Some(self.create_auto(&ps.role, None, at, key, depth)?)
                } else {
                    return Err(BlueprintError::MissingParent {
                        at: at.clone(),
                        key: kstr,
                        role: ps.role.clone(),
                        instance: Some(n),
                    }
                    .into());
                }
            }
            None => {
                let cands: Vec<ServiceKey> = self
                    .st
                    .keys_of_role(&ps.role)?
                    .into_iter()
                    .filter(|k| k != key)
                    .collect();
                match cands.as_slice() {
                    [one] => Some(one.clone()),
                    [] if ps.optional => None,
                    [] if ps.auto => Some(self.create_auto(&ps.role, None, at, key, depth)?),
                    [] => {
                        return Err(BlueprintError::MissingParent {
                            at: at.clone(),
                            key: kstr,
                            role: ps.role.clone(),
                            instance: None,
                        }
                        .into());
                    }
                    many => {
                        return Err(BlueprintError::AmbiguousParent {
                            at: at.clone(),
                            key: kstr,
                            role: ps.role.clone(),
                            count: many.len(),
                        }
                        .into());
                    }
                }
            }
        };
        if let Some(pk) = parent {
            let r = self.service_ref(&pk)?;
            set_names(actor, rec, &ps.arg_name, &[pk.instance().to_string()]);
            s.parent = Some(r.clone());
            s.add_producer(r);
        }
        Ok(())
    }

    /// Links `s` to the producers of every consume spec: the named ones, then existing services
    /// of the role up to `min`, then auto-created `auto_N` ones.
    fn link_producers(
        &mut self,
        s: &mut Service,
        actor: &CompiledActor,
        rec: &mut Record,
        at: &Location,
        depth: usize,
    ) -> Result<(), CoreError> {
        let key = &s.key.clone();
        let kstr = key.to_string();
        for c in actor.actor.consumes.clone() {
            let named = text_values(rec.get(&c.arg_name));
            if named.len() > usize::try_from(c.max).unwrap_or(usize::MAX) {
                return Err(BlueprintError::TooManyProducers {
                    at: at.clone(),
                    key: kstr,
                    role: c.role.clone(),
                    max: c.max,
                    found: named.len(),
                }
                .into());
            }
            let min = usize::try_from(c.min).unwrap_or(usize::MAX);
            let mut linked: Vec<ServiceKey> = Vec::new();
            for n in &named {
                let pk = named_key(at, &kstr, &c.arg_key, &c.role, n)?;
                if !self.st.exists(&pk)? {
                    // As in 8.1: a named producer that does not exist is dropped; `min` is
                    // then met by existing services of the role and, with `auto`, new ones.
                    tracing::warn!(
                        "{at}: `{kstr}`: producer `{pk}` does not exist: not linked (as in 8.1)"
                    );
                    continue;
                }
                if !linked.contains(&pk) {
                    linked.push(pk);
                }
            }
            if linked.len() < min {
                let role_actor: ActorName = c.role.parse()?;
                for k in self.st.keys_of_actor(&role_actor)? {
                    if linked.len() >= min {
                        break;
                    }
                    if &k != key && !linked.contains(&k) {
                        linked.push(k);
                    }
                }
            }
            let mut n = 0usize;
            while linked.len() < min {
                if !c.auto {
                    return Err(BlueprintError::TooFewProducers {
                        at: at.clone(),
                        key: kstr,
                        role: c.role.clone(),
                        min: c.min,
                        found: linked.len(),
                    }
                    .into());
                }
                let name = format!("auto_{n}");
                let pk: ServiceKey = format!("{}!{name}", c.role).parse()?;
                n = n.saturating_add(1);
                if linked.contains(&pk) {
                    continue;
                }
                if !self.st.exists(&pk)? {
                    self.create_auto(&c.role, Some(&name), at, key, depth)?;
                }
                linked.push(pk);
            }
            let names: Vec<String> = linked.iter().map(|k| k.instance().to_string()).collect();
            set_names(actor, rec, &c.arg_name, &names);
            for pk in linked {
                let r = self.service_ref(&pk)?;
                s.add_producer(r);
            }
        }
        Ok(())
    }

    /// The services an entry of `section` (`actions`, `eventfilters`) at `at` selects.
    fn matching(
        &mut self,
        at: &Location,
        section: &str,
        actor: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        let keys = match (actor, service) {
            (Some(a), _) => match a.strip_suffix(".*").or_else(|| a.strip_suffix('*')) {
                Some(role) => self.st.keys_of_role(role.trim_end_matches('.'))?,
                None => {
                    let actor: ActorName = a.parse().map_err(|e: crate::ids::NameError| {
                        BlueprintError::Malformed {
                            at: at.clone(),
                            key: section.to_owned(),
                            reason: format!("`actor`: {e}"),
                        }
                    })?;
                    self.st.keys_of_actor(&actor)?
                }
            },
            (None, Some(n)) => self.st.keys_of_instance(n)?,
            (None, None) => self.st.all_keys()?,
        };
        Ok(keys
            .into_iter()
            .filter(|k| service.is_none_or(|n| k.instance() == n))
            .collect())
    }

    fn schedule(&mut self, e: &parse::ActionEntry) -> Result<(), CoreError> {
        let keys = self.matching(&e.at, "actions", e.actor.as_deref(), e.service.as_deref())?;
        if keys.is_empty() {
            return Err(BlueprintError::NoMatch {
                at: e.at.clone(),
                action: e
                    .actions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                actor: e.actor.clone().unwrap_or_else(|| "*".into()),
                service: e.service.clone().unwrap_or_else(|| "*".into()),
            }
            .into());
        }
        for key in keys {
            let Some(s) = self.st.service(&key)? else {
                continue;
            };
            let mut s = s.clone();
            let mut touched = false;
            for action in &e.actions {
                let err = |reason: String| BlueprintError::Action {
                    at: e.at.clone(),
                    key: key.to_string(),
                    action: action.to_string(),
                    reason,
                };
                let a = s
                    .action_mut(action.as_str())
                    .ok_or_else(|| err("the service has no such action".to_owned()))?;
                let from = a.state;
                let to = from.schedule(e.force).map_err(|t| err(t.to_string()))?;
                if let Some(p) = e.recurring
                    && a.period != p
                {
                    a.period = p;
                    touched = true;
                }
                if from != to {
                    a.state = to;
                    touched = true;
                    self.report.scheduled.push(ScheduledAction {
                        key: key.clone(),
                        action: action.clone(),
                        from,
                        to,
                    });
                }
            }
            if touched {
                self.st.put_service(s)?;
            }
        }
        Ok(())
    }

    fn attach_filter(&mut self, f: &parse::FilterEntry) -> Result<(), CoreError> {
        let keys = self.matching(
            &f.at,
            "eventfilters",
            f.actor.as_deref(),
            f.service.as_deref(),
        )?;
        if keys.is_empty() {
            return Err(BlueprintError::NoMatch {
                at: f.at.clone(),
                action: format!("eventfilter {}", f.filter.action),
                actor: f.actor.clone().unwrap_or_else(|| "*".into()),
                service: f.service.clone().unwrap_or_else(|| "*".into()),
            }
            .into());
        }
        for key in keys {
            if let Some(s) = self.st.service(&key)?
                && !s.event_filters.contains(&f.filter)
            {
                let mut s = s.clone();
                s.event_filters.push(f.filter.clone());
                self.st.put_service(s)?;
            }
        }
        Ok(())
    }
}

/// Whether the service's links are those its relation fields name.
fn links_match(actor: &Actor, rec: &Record, s: &Service) -> bool {
    let linked = |role: &str| -> Vec<String> {
        s.producers
            .iter()
            .filter(|p| p.key.role() == role)
            .map(|p| p.key.instance().to_string())
            .collect()
    };
    let parent_ok = actor.parent.as_ref().is_none_or(|p| {
        let named = text_values(rec.get(&p.arg_name));
        let current = s.parent.as_ref().map(|r| r.key.instance().to_string());
        named.first().is_none_or(|n| current.as_ref() == Some(n))
    });
    parent_ok
        && actor.consumes.iter().all(|c| {
            let have = linked(&c.role);
            text_values(rec.get(&c.arg_name))
                .iter()
                .all(|n| have.contains(n))
        })
}

/// The service of role `role` that attribute `attribute` of service `key` names `name`; a name
/// that cannot be a service's is a bad value of the attribute, where it is written.
fn named_key(
    at: &Location,
    key: &str,
    attribute: &str,
    role: &str,
    name: &str,
) -> Result<ServiceKey, BlueprintError> {
    format!("{role}!{name}")
        .parse()
        .map_err(|e: crate::ids::NameError| BlueprintError::BadValue {
            at: at.clone(),
            key: key.to_owned(),
            attribute: attribute.to_owned(),
            reason: format!("`{name}` cannot name a service: {e}"),
        })
}

/// The JSON of one field's value.
fn field_json(name: &str, value: &Value) -> serde_json::Value {
    let one: Record = [(name.to_owned(), value.clone())].into_iter().collect();
    one.to_json()
        .get(name)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn is_relation_field(actor: &Actor, field: &str) -> bool {
    actor.parent.as_ref().is_some_and(|p| p.arg_name == field)
        || actor.consumes.iter().any(|c| c.arg_name == field)
}

/// The instance names held by a relation field (a text or a list of texts), empty ones left out.
fn text_values(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Text(t)) if !t.is_empty() => vec![t.clone()],
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::Text(t) if !t.is_empty() => Some(t.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes resolved instance names into a relation field, when the schema has it.
fn set_names(actor: &CompiledActor, rec: &mut Record, field: &str, names: &[String]) {
    let Some(def) = actor.fields().iter().find(|f| f.name == field) else {
        return;
    };
    match &def.ty {
        Type::Text => {
            rec.insert(
                field,
                Value::Text(names.first().cloned().unwrap_or_default()),
            );
        }
        Type::List(inner) if **inner == Type::Text => {
            rec.insert(
                field,
                Value::List(names.iter().map(|n| Value::Text(n.clone())).collect()),
            );
        }
        _ => {}
    }
}
