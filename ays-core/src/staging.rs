//! The working set of a change: services and actors read through it see the change's own
//! writes, and [`Staging::into_batch`] turns the whole change into one atomic batch, index
//! entries included (stale entries deleted, new ones added, computed from the records' old and
//! new values).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ays_store::{Batch, KvStore};

use crate::actor::{Actor, CompiledActor};
use crate::error::CoreError;
use crate::ids::{ActorName, ServiceKey};
use crate::keys::{self, IndexKind};
use crate::record;
use crate::service::Service;
use crate::template::ActionCode;

/// How many entries a scan reads per call.
pub(crate) const PAGE: usize = 1024;

#[derive(Debug)]
struct Slot {
    /// The record as read from the store (a guarded batch requires it to be unchanged).
    stored: Option<Vec<u8>>,
    original: Option<Service>,
    current: Option<Service>,
}

#[derive(Debug)]
struct ActorSlot {
    compiled: Option<Arc<CompiledActor>>,
    dirty: bool,
}

/// The read-your-writes working set of one change: records and index entries staged here are
/// committed as one atomic batch.
pub(crate) struct Staging<'r> {
    store: &'r dyn KvStore,
    services: BTreeMap<ServiceKey, Slot>,
    by_actor: HashMap<ActorName, BTreeSet<ServiceKey>>,
    actors: BTreeMap<ActorName, ActorSlot>,
    codes: BTreeMap<String, (ActionCode, ActorName)>,
    raw: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// Keys (without values) of a prefix scan.
pub(crate) fn scan_keys(store: &dyn KvStore, prefix: &[u8]) -> Result<Vec<Vec<u8>>, CoreError> {
    store
        .scan(prefix, PAGE)
        .map(|e| e.map(|(k, _)| k))
        .collect::<Result<_, _>>()
        .map_err(CoreError::store("scan"))
}

/// Service keys listed by an index prefix.
pub(crate) fn index_keys(
    store: &dyn KvStore,
    kind: IndexKind,
    value: &str,
) -> Result<Vec<ServiceKey>, CoreError> {
    let prefix = keys::index_prefix(kind, value);
    let mut out = Vec::new();
    for k in scan_keys(store, &prefix)? {
        let key = keys::key_after_prefix(&prefix, &k).ok_or_else(|| CoreError::Corrupt {
            key: String::from_utf8_lossy(&k).into_owned(),
            reason: "index entry does not end with a service key".to_owned(),
        })?;
        out.push(key);
    }
    Ok(out)
}

pub(crate) fn load_service(
    store: &dyn KvStore,
    key: &ServiceKey,
) -> Result<Option<Service>, CoreError> {
    let k = keys::service(key);
    match store.get(&k).map_err(CoreError::store("get service"))? {
        Some(bytes) => Ok(Some(record::decode_service(&key.to_string(), &bytes)?)),
        None => Ok(None),
    }
}

pub(crate) fn load_actor(
    store: &dyn KvStore,
    name: &ActorName,
) -> Result<Option<Actor>, CoreError> {
    let k = keys::actor(name);
    let Some(bytes) = store.get(&k).map_err(CoreError::store("get actor"))? else {
        return Ok(None);
    };
    let hrd = store
        .get(&keys::actor_hrd(name))
        .map_err(CoreError::store("get actor hrd"))?
        .map(|b| {
            String::from_utf8(b).map_err(|e| CoreError::Corrupt {
                key: String::from_utf8_lossy(&keys::actor_hrd(name)).into_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    let mut actor = record::decode_actor(name.as_str(), &bytes, hrd)?;
    let lk = keys::actor_limits(name);
    if let Some(limits) = store
        .get(&lk)
        .map_err(CoreError::store("get actor limits"))?
    {
        record::apply_actor_limits(&String::from_utf8_lossy(&lk), &limits, &mut actor)?;
    }
    Ok(Some(actor))
}

impl<'r> Staging<'r> {
    pub(crate) fn new(store: &'r dyn KvStore) -> Self {
        Staging {
            store,
            services: BTreeMap::new(),
            by_actor: HashMap::new(),
            actors: BTreeMap::new(),
            codes: BTreeMap::new(),
            raw: BTreeMap::new(),
        }
    }

    fn load(&mut self, key: &ServiceKey) -> Result<&mut Slot, CoreError> {
        if !self.services.contains_key(key) {
            let stored = self
                .store
                .get(&keys::service(key))
                .map_err(CoreError::store("get service"))?;
            self.insert_slot(key, stored)?;
        }
        self.services
            .get_mut(key)
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })
    }

    /// Reads the services of `keys` that are not staged yet, in one read of the store (a change
    /// that touches many services, such as a batch of job ends, calls it first).
    pub(crate) fn preload<'k>(
        &mut self,
        keys: impl IntoIterator<Item = &'k ServiceKey>,
    ) -> Result<(), CoreError> {
        let mut missing: Vec<&ServiceKey> = keys
            .into_iter()
            .filter(|k| !self.services.contains_key(*k))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let store_keys: Vec<Vec<u8>> = missing.iter().map(|k| keys::service(k)).collect();
        let refs: Vec<&[u8]> = store_keys.iter().map(Vec::as_slice).collect();
        let values = self
            .store
            .get_many(&refs)
            .map_err(CoreError::store("get services"))?;
        for (key, value) in missing.into_iter().zip(values) {
            self.insert_slot(key, value)?;
        }
        Ok(())
    }

    fn insert_slot(&mut self, key: &ServiceKey, stored: Option<Vec<u8>>) -> Result<(), CoreError> {
        let original = match &stored {
            Some(bytes) => Some(record::decode_service(key.as_str(), bytes)?),
            None => None,
        };
        self.services.insert(
            key.clone(),
            Slot {
                stored,
                current: original.clone(),
                original,
            },
        );
        Ok(())
    }

    /// The change as one batch that holds only if nothing it read has changed since and no
    /// writer holds the write lock: every service read must still be stored as it was read.
    /// For writers that do not take the write lock (a run's journal); a
    /// [`ays_store::StoreError::Conflict`] on commit means another writer came first, and the
    /// change must be staged again.
    pub(crate) fn into_guarded_batch(mut self) -> Result<Batch, CoreError> {
        let mut guards = Vec::with_capacity(self.services.len());
        for (key, slot) in &mut self.services {
            guards.push((keys::service(key), slot.stored.take()));
        }
        let mut batch = self.into_batch()?;
        batch.require_absent(keys::WRITE_LOCK);
        for (key, stored) in guards {
            match stored {
                Some(bytes) => batch.require_value(&key, &bytes),
                None => batch.require_absent(&key),
            };
        }
        Ok(batch)
    }

    /// The service as the change sees it.
    pub(crate) fn service(&mut self, key: &ServiceKey) -> Result<Option<&Service>, CoreError> {
        Ok(self.load(key)?.current.as_ref())
    }

    /// The service, to modify in place.
    pub(crate) fn service_mut(
        &mut self,
        key: &ServiceKey,
    ) -> Result<Option<&mut Service>, CoreError> {
        Ok(self.load(key)?.current.as_mut())
    }

    /// Whether the service exists as the change sees it.
    pub(crate) fn exists(&mut self, key: &ServiceKey) -> Result<bool, CoreError> {
        Ok(self.service(key)?.is_some())
    }

    /// Creates or replaces a service.
    pub(crate) fn put_service(&mut self, s: Service) -> Result<(), CoreError> {
        self.by_actor
            .entry(s.actor.clone())
            .or_default()
            .insert(s.key.clone());
        let slot = self.load(&s.key)?;
        slot.current = Some(s);
        Ok(())
    }

    /// Deletes a service, its scheduled-action args and the last executions of its recurring
    /// actions.
    pub(crate) fn delete_service(&mut self, key: &ServiceKey) -> Result<(), CoreError> {
        self.load(key)?.current = None;
        for prefix in [keys::args_of(key), keys::recurring_of(key)] {
            for k in scan_keys(self.store, &prefix)? {
                self.raw.insert(k, None);
            }
        }
        Ok(())
    }

    /// Sets (or with `None` deletes) a raw key outside the service records.
    pub(crate) fn put_raw(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.raw.insert(key, value);
    }

    /// The services of actor `actor` (exactly), as the change sees them, sorted.
    pub(crate) fn keys_of_actor(
        &mut self,
        actor: &ActorName,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        let mut candidates: BTreeSet<ServiceKey> =
            index_keys(self.store, IndexKind::Actor, actor.as_str())?
                .into_iter()
                .collect();
        candidates.extend(self.by_actor.get(actor).into_iter().flatten().cloned());
        let mut out = Vec::with_capacity(candidates.len());
        for k in candidates {
            if self.service(&k)?.is_some_and(|s| &s.actor == actor) {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// The services of `role`, as the change sees them, sorted.
    pub(crate) fn keys_of_role(&mut self, role: &str) -> Result<Vec<ServiceKey>, CoreError> {
        let prefix = keys::services_of_role(role);
        let mut candidates = BTreeSet::new();
        for k in scan_keys(self.store, &prefix)? {
            if let Some(key) = keys::key_after_prefix(keys::SERVICE_PREFIX.as_bytes(), &k) {
                candidates.insert(key);
            }
        }
        candidates.extend(self.services.keys().filter(|k| k.role() == role).cloned());
        let mut out = Vec::with_capacity(candidates.len());
        for k in candidates {
            if self.exists(&k)? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// The services named `instance` (any role), as the change sees them, sorted.
    pub(crate) fn keys_of_instance(
        &mut self,
        instance: &str,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        let mut candidates: BTreeSet<ServiceKey> =
            index_keys(self.store, IndexKind::Instance, instance)?
                .into_iter()
                .collect();
        candidates.extend(
            self.services
                .keys()
                .filter(|k| k.instance() == instance)
                .cloned(),
        );
        let mut out = Vec::with_capacity(candidates.len());
        for k in candidates {
            if self.exists(&k)? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Every service key, as the change sees them, sorted.
    pub(crate) fn all_keys(&mut self) -> Result<Vec<ServiceKey>, CoreError> {
        let mut candidates = BTreeSet::new();
        for k in scan_keys(self.store, keys::SERVICE_PREFIX.as_bytes())? {
            if let Some(key) = keys::key_after_prefix(keys::SERVICE_PREFIX.as_bytes(), &k) {
                candidates.insert(key);
            }
        }
        candidates.extend(self.services.keys().cloned());
        let mut out = Vec::with_capacity(candidates.len());
        for k in candidates {
            if self.exists(&k)? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// The actor, compiled, as the change sees it.
    pub(crate) fn actor(
        &mut self,
        name: &ActorName,
    ) -> Result<Option<Arc<CompiledActor>>, CoreError> {
        if let Some(slot) = self.actors.get(name) {
            return Ok(slot.compiled.clone());
        }
        let compiled = match load_actor(self.store, name)? {
            Some(a) => Some(Arc::new(CompiledActor::new(a)?)),
            None => None,
        };
        self.actors.insert(
            name.clone(),
            ActorSlot {
                compiled: compiled.clone(),
                dirty: false,
            },
        );
        Ok(compiled)
    }

    /// The action code record `key`, staged or stored.
    pub(crate) fn code(&self, key: &str) -> Result<Option<ActionCode>, CoreError> {
        if let Some((code, _)) = self.codes.get(key) {
            return Ok(Some(code.clone()));
        }
        match self
            .store
            .get(&keys::code(key))
            .map_err(CoreError::store("get code"))?
        {
            Some(bytes) => Ok(Some(record::decode_code(key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Creates or replaces an actor and records its action code.
    pub(crate) fn put_actor(
        &mut self,
        actor: Actor,
        codes: Vec<ActionCode>,
    ) -> Result<Arc<CompiledActor>, CoreError> {
        for c in codes {
            self.codes.insert(c.key(), (c, actor.name.clone()));
        }
        let name = actor.name.clone();
        self.actor(&name)?;
        let compiled = Arc::new(CompiledActor::new(actor)?);
        if let Some(slot) = self.actors.get_mut(&name) {
            slot.compiled = Some(compiled.clone());
            slot.dirty = true;
        }
        Ok(compiled)
    }

    /// The whole change as one batch (empty when nothing changes). The caller holds the write
    /// lock (see [`crate::lock`]), so the records read are still current at commit.
    pub(crate) fn into_batch(self) -> Result<Batch, CoreError> {
        let mut batch = Batch::new();
        for (name, slot) in &self.actors {
            if !slot.dirty {
                continue;
            }

            if let Some(c) = &slot.compiled {
                batch.put_owned(keys::actor(name), record::encode_actor(&c.actor));
                match &c.actor.hrd_text {
                    Some(t) => batch.put(&keys::actor_hrd(name), t.as_bytes()),
                    None => batch.delete_owned(keys::actor_hrd(name)),
                };
                match record::encode_actor_limits(&c.actor) {
                    Some(l) => batch.put_owned(keys::actor_limits(name), l),
                    None => batch.delete_owned(keys::actor_limits(name)),
                };
            }
        }
        for (hash, (code, actor)) in &self.codes {
            let k = keys::code(hash);
            // Content-addressed: an existing record holds the same code.
            if self
                .store
                .get(&k)
                .map_err(CoreError::store("get code"))?
                .is_none()
            {
                batch.put_owned(k, record::encode_code(code, actor));
            }
        }
        for (key, slot) in &self.services {
            if slot.original == slot.current {
                continue;
            }

            let (stale, added) =
                Service::index_changes(slot.original.as_ref(), slot.current.as_ref());
            for k in stale {
                batch.delete_owned(k);
            }
            for k in added {
                batch.put_owned(k, Vec::new());
            }
            match &slot.current {
                Some(s) => batch.put_owned(keys::service(key), record::encode_service(s)),
                None => batch.delete_owned(keys::service(key)),
            };
        }
        for (k, v) in self.raw {
            match v {
                Some(v) => batch.put_owned(k, v),
                None => batch.delete_owned(k),
            };
        }
        Ok(batch)
    }
}
