//! Running `input` and `init` while a blueprint is applied, and answering what they ask: the
//! host side of [`crate::creation`].

use std::collections::BTreeMap;

use ays_schema::{Encoding, Record};
use serde_json::{Map, Value, json};

use super::super::parse::ServiceBlock;
use super::super::value::{attrs_from_json, convert_attrs};
use super::{Applier, MAX_CREATION_DEPTH, is_relation_field};
use crate::action_state::ActionState;
use crate::actor::CompiledActor;
use crate::creation::{
    CreationCall, CreationDone, CreationError, CreationEvent, CreationFailure, CreationRequest,
    CreationSession, INIT, ServiceView,
};
use crate::error::{BlueprintError, CoreError, Location};
use crate::ids::{ActorName, InstanceName, ServiceKey};
use crate::template::{ActionCode, Runtime};

impl Applier<'_> {
    /// The code of `action` when it runs at creation: a Python `input` or `init`, or a shell
    /// `init`. `None` when the template does not define it.
    pub(super) fn creation_code(
        &mut self,
        actor: &CompiledActor,
        action: &str,
    ) -> Result<Option<ActionCode>, CoreError> {
        let Some(a) = actor
            .actor
            .actions
            .iter()
            .find(|a| a.name.as_str() == action)
        else {
            return Ok(None);
        };
        if a.code_key.is_empty() {
            return Ok(None);
        }
        if let Some(known) = self.codes.get(&a.code_key) {
            return Ok(known.clone());
        }
        let code = self.st.code(&a.code_key)?.filter(|c| match c.runtime {
            Runtime::Python => true,
            Runtime::Shell => action == INIT,
            Runtime::None => false,
        });
        self.codes.insert(a.code_key.clone(), code.clone());
        Ok(code)
    }

    /// The view of a service that does not exist yet (what `input` sees).
    pub(super) fn new_view(&self, key: &ServiceKey, actor: &ActorName) -> Value {
        view_json(&ServiceView {
            key: key.clone(),
            role: key.role().to_owned(),
            name: key.instance().to_owned(),
            actor: actor.clone(),
            data: Map::new(),
            parent: None,
            producers: BTreeMap::new(),
            consumers: BTreeMap::new(),
            path: self.repo.service_dir(key),
        })
    }

    /// The staged service `key` and its actor.
    fn staged(
        &mut self,
        key: &ServiceKey,
        at: &Location,
    ) -> Result<(crate::service::Service, std::sync::Arc<CompiledActor>), CoreError> {
        let s = self
            .st
            .service(key)?
            .cloned()
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        let actor = self.actor(&s.actor, at, key.as_str())?;
        Ok((s, actor))
    }

    /// The view of the staged service `key`: its data with every field (defaults included).
    pub(super) fn view(&mut self, key: &ServiceKey, at: &Location) -> Result<Value, CoreError> {
        let (s, actor) = self.staged(key, at)?;
        let data = match actor.codec.decode(&s.data, Encoding::Packed) {
            Ok(rec) => rec.to_json(),
            Err(source) => {
                return Err(CoreError::Codec {
                    key: key.to_string(),
                    source,
                });
            }
        };
        let by_role = |refs: &[crate::service::ServiceRef]| {
            let mut map: BTreeMap<String, Vec<ServiceKey>> = BTreeMap::new();
            for r in refs {
                map.entry(r.key.role().to_owned())
                    .or_default()
                    .push(r.key.clone());
            }
            map
        };
        Ok(view_json(&ServiceView {
            key: key.clone(),
            role: key.role().to_owned(),
            name: key.instance().to_owned(),
            actor: s.actor.clone(),
            data: match data {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            parent: s.parent.as_ref().map(|p| p.key.clone()),
            producers: by_role(&s.producers),
            consumers: by_role(&s.consumers),
            path: self.repo.service_dir(key),
        }))
    }

    pub(super) fn set_state(
        &mut self,
        key: &ServiceKey,
        action: &str,
        state: ActionState,
    ) -> Result<(), CoreError> {
        if let Some(a) = self.st.service_mut(key)?.and_then(|s| s.action_mut(action)) {
            a.state = state;
        }
        Ok(())
    }

    /// Runs `init` of `key` once per application, when its template defines it; it ends `ok`.
    pub(super) fn init_service(
        &mut self,
        key: &ServiceKey,
        at: &Location,
    ) -> Result<(), CoreError> {
        let Some(actor_name) = self.st.service(key)?.map(|s| s.actor.clone()) else {
            return Ok(());
        };
        let actor = self.actor(&actor_name, at, key.as_str())?;
        let Some(code) = self.creation_code(&actor, INIT)? else {
            return Ok(());
        };
        if !self.initialized.insert(key.clone()) {
            return Ok(());
        }
        let view = self.view(key, at)?;
        let done = self.run_creation(INIT, code, key, &actor_name, view, Map::new(), at)?;
        if !done.data.is_empty() {
            self.save_data(key, &done.data, at)?;
        }
        self.set_state(key, INIT, ActionState::Ok)
    }

    /// Runs `init` again for every stored service whose template defines it and that this
    /// application has not initialised yet; `order` names where blueprints declare services.
    pub(super) fn init_existing(
        &mut self,
        order: &[(ServiceKey, Location)],
        default_at: &Location,
    ) -> Result<(), CoreError> {
        let prefix = crate::keys::ACTOR_PREFIX.as_bytes();
        for k in crate::staging::scan_keys(self.repo.store().as_ref(), prefix)? {
            let name = String::from_utf8_lossy(k.strip_prefix(prefix).unwrap_or(&k)).into_owned();
            let Some(actor) = self.repo.actor(&name)? else {
                continue;
            };
            let defines = match actor.actions.iter().find(|a| a.name.as_str() == INIT) {
                Some(a) if !a.code_key.is_empty() => self
                    .st
                    .code(&a.code_key)?
                    .is_some_and(|c| c.runtime != Runtime::None),
                _ => false,
            };
            if !defines {
                continue;
            }
            for key in self.st.keys_of_actor(&actor.name)? {
                let at = order
                    .iter()
                    .find(|(k, _)| k == &key)
                    .map_or(default_at, |(_, at)| at)
                    .clone();
                self.init_service(&key, &at)?;
            }
        }
        Ok(())
    }

    /// Runs one creation action to its end, answering its requests.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run_creation(
        &mut self,
        action: &'static str,
        code: ActionCode,
        key: &ServiceKey,
        actor: &ActorName,
        service: Value,
        args: Map<String, Value>,
        at: &Location,
    ) -> Result<CreationDone, CoreError> {
        let unavailable = |reason: String| BlueprintError::NoCreationRuntime {
            at: at.clone(),
            key: key.to_string(),
            action,
            reason,
        };
        if self.depth >= MAX_CREATION_DEPTH {
            return Err(BlueprintError::Malformed {
                at: at.clone(),
                key: key.to_string(),
                reason: format!(
                    "input and init create services nested deeper than {MAX_CREATION_DEPTH}"
                ),
            }
            .into());
        }
        if self.session.is_none() {
            let runtime = self.repo.creation_runtime().ok_or_else(|| {
                unavailable(
                    "no creation runtime is set (an embedder sets one with \
                     Repository::with_creation_runtime, e.g. ays_run::CreationActions)"
                        .to_owned(),
                )
            })?;
            let session = runtime.session().map_err(|e| unavailable(e.message))?;
            self.session = Some(session);
        }
        let call = CreationCall {
            action: action.parse()?,
            code,
            actor: actor.clone(),
            service,
            args,
            repo: self.repo.root().to_path_buf(),
        };
        tracing::debug!(service = %key, action, "creation action starts");
        let outer = self.refused.take();
        self.depth = self.depth.saturating_add(1);
        let ended = self.converse(&call, at);
        self.depth = self.depth.saturating_sub(1);
        let refused = std::mem::replace(&mut self.refused, outer);
        let failed = |message: String, detail: String| BlueprintError::CreationFailed {
            at: at.clone(),
            key: key.to_string(),
            action,
            failure: Box::new(CreationFailure { message, detail }),
        };
        let done = ended.map_err(|e| failed(e.message, String::new()))?;
        for line in done.output.lines() {
            tracing::info!(service = %key, action, "{line}");
        }
        if let Some(f) = done.failure {
            return Err(failed(f.message, f.detail).into());
        }
        if let Some(err) = refused {
            return Err(err);
        }
        Ok(done)
    }

    fn session(&mut self) -> Result<&mut Box<dyn CreationSession>, CreationError> {
        self.session
            .as_mut()
            .ok_or_else(|| CreationError::new("no creation session"))
    }

    fn converse(
        &mut self,
        call: &CreationCall,
        at: &Location,
    ) -> Result<CreationDone, CreationError> {
        self.session()?.call(call)?;
        loop {
            match self.session()?.next()? {
                CreationEvent::Done(done) => return Ok(done),
                CreationEvent::Request(r) => {
                    tracing::debug!(request = ?r, "creation request");
                    let reply = self.handle(r, at).map_err(|e| {
                        let message = e.to_string();
                        if self.refused.is_none() {
                            self.refused = Some(e);
                        }
                        message
                    });
                    self.session()?.reply(reply)?;
                }
            }
        }
    }

    /// Answers one request of a creation action running for a service declared at `at`.
    fn handle(&mut self, r: CreationRequest, at: &Location) -> Result<Value, CoreError> {
        match r {
            CreationRequest::Get { key } => {
                let key: ServiceKey = key.parse()?;
                if self.st.exists(&key)? {
                    self.view(&key, at)
                } else {
                    Ok(Value::Null)
                }
            }
            CreationRequest::Find {
                actor,
                role,
                name,
                parent,
                producer,
            } => {
                let mut found = Vec::new();
                for key in self.st.all_keys()? {
                    let Some(s) = self.st.service(&key)? else {
                        continue;
                    };
                    let keep = actor.as_deref().is_none_or(|p| glob(p, s.actor.as_str()))
                        && role.as_deref().is_none_or(|p| glob(p, key.role()))
                        && name.as_deref().is_none_or(|p| glob(p, key.instance()))
                        && parent
                            .as_deref()
                            .is_none_or(|p| s.parent.as_ref().is_some_and(|r| r.key.as_str() == p))
                        && producer
                            .as_deref()
                            .is_none_or(|p| s.producers.iter().any(|r| r.key.as_str() == p));
                    if keep {
                        found.push(key);
                    }
                }
                let mut views = Vec::with_capacity(found.len());
                for key in found {
                    views.push(self.view(&key, at)?);
                }
                Ok(Value::Array(views))
            }
            CreationRequest::Actor { name } => {
                let actor: ActorName = name.parse()?;
                self.actor(&actor, at, &name)?;
                Ok(json!({ "name": actor.as_str() }))
            }
            CreationRequest::Create {
                actor,
                instance,
                args,
            } => {
                let key = self.create_requested(&actor, &instance, &args, at)?;
                self.view(&key, at)
            }
            CreationRequest::Consume { consumer, producer } => {
                let c: ServiceKey = consumer.parse()?;
                let p: ServiceKey = producer.parse()?;
                if c == p {
                    return Err(BlueprintError::Malformed {
                        at: at.clone(),
                        key: consumer,
                        reason: "a service cannot consume itself".to_owned(),
                    }
                    .into());
                }
                let pr = self.service_ref(&p)?;
                let cr = self.service_ref(&c)?;
                // In place, as `resolve` links both sides.
                if let Some(s) = self.st.service_mut(&c)? {
                    s.add_producer(pr);
                }
                if let Some(s) = self.st.service_mut(&p)? {
                    s.add_consumer(cr);
                }
                self.view(&c, at)
            }
            CreationRequest::Save { key, data } => {
                let key: ServiceKey = key.parse()?;
                self.save_data(&key, &data, at)?;
                self.view(&key, at)
            }
        }
    }

    /// `serviceCreate` from an action: the service created (its own `input` and `init`
    /// included) or updated as a blueprint block would be, its relations resolved now.
    fn create_requested(
        &mut self,
        actor: &str,
        instance: &str,
        args: &Map<String, Value>,
        at: &Location,
    ) -> Result<ServiceKey, CoreError> {
        let actor_name: ActorName = actor.parse()?;
        let inst: InstanceName = instance.parse()?;
        let block = ServiceBlock {
            at: at.clone(),
            key: format!("{actor}__{instance}"),
            actor: actor_name,
            instance: inst,
            attrs: attrs_from_json(args, &[], at.line),
        };
        let (key, created) = self.apply_block(&block)?;
        if created || self.dirty.contains(&key) {
            self.dirty.remove(&key);
            self.resolve(&key, at, 0)?;
        }
        if created {
            self.init_service(&key, at)?;
        }
        Ok(key)
    }

    /// Writes data fields (schema or camelCase names) of a staged service, checked as
    /// blueprint attributes are; a changed relation field links the service again.
    fn save_data(
        &mut self,
        key: &ServiceKey,
        data: &Map<String, Value>,
        at: &Location,
    ) -> Result<(), CoreError> {
        let (mut s, actor) = self.staged(key, at)?;
        let block = ServiceBlock {
            at: at.clone(),
            key: key.to_string(),
            actor: s.actor.clone(),
            instance: key.instance().parse()?,
            attrs: attrs_from_json(data, &[], at.line),
        };
        let given = convert_attrs(&actor, &block, key)?;
        let mut rec: Record = self.decode(&actor, &s)?;
        let mut relink = false;
        for (name, v) in given {
            if rec.get(&name) != Some(&v) {
                relink |= is_relation_field(&actor.actor, &name);
                rec.insert(name, v);
            }
        }
        s.data = self.encode(&actor, key, rec, at)?;
        self.st.put_service(s)?;
        if relink {
            self.resolve(key, at, 0)?;
        }
        Ok(())
    }
}

fn view_json(v: &ServiceView) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters and `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_as_8_1_patterns_did() {
        assert!(glob("node.*", "node.ovc"));
        assert!(glob("os.*", "os.ssh.ubuntu"));
        assert!(!glob("node.*", "nodes"));
        assert!(glob("a?c", "abc"));
        assert!(glob("*", ""));
        assert!(glob("vm", "vm"));
        assert!(!glob("vm", "vm1"));
        assert!(glob("*1", "vm1"));
    }
}
