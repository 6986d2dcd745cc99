//! Queries and changes of services: filters over the indexes, views, action states, a
//! runner's records and data patches, and delete.

use crate::action_state::ActionState;
use crate::actor::CompiledActor;
use crate::error::CoreError;
use crate::ids::{ActionName, ServiceKey};
use crate::keys::{self, IndexKind};
use crate::record;
use crate::service::{Service, ServiceDetail, ServiceFilter, ServiceStates};
use crate::staging::{self, index_keys, load_service};

use super::{ActionRun, Repository};

/// Actions that undo each other: once one has run, the other is needed again.
const OPPOSITES: [(&str, &str); 2] = [("install", "uninstall"), ("start", "stop")];

/// The action that undoes `action`, if it has one.
pub(crate) fn opposite_action(action: &str) -> Option<&'static str> {
    OPPOSITES.iter().find_map(|(a, b)| {
        if *a == action {
            Some(*b)
        } else if *b == action {
            Some(*a)
        } else {
            None
        }
    })
}

impl Service {
    /// The state `action` of this service gets when it is scheduled (`ays do`): `scheduled`,
    /// but an `ok` action stays `ok` unless `force`, or unless its opposite (`install` and
    /// `uninstall`, `start` and `stop`) ran after it: after `uninstall`, `install` is needed
    /// again. `None` when the service has no such action.
    ///
    /// # Errors
    ///
    /// [`TransitionError::Disabled`](crate::TransitionError::Disabled) for a disabled action.
    pub fn scheduled_state(
        &self,
        action: &ActionName,
        force: bool,
    ) -> Option<Result<ActionState, crate::TransitionError>> {
        let this = self.action(action.as_str())?;
        let undone = opposite_action(action.as_str())
            .and_then(|o| self.action(o))
            .is_some_and(|o| o.last_run > this.last_run);
        Some(this.state.schedule(force || undone))
    }
}

impl Repository {
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
        } else if let Some((a, s)) = filter
            .action_state
            .as_ref()
            .filter(|(_, s)| crate::service::is_indexed(*s))
        {
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
        self.compiled_actor(s)?.service_data(s)
    }

    /// A service with its data decoded and its children (`ays service show`).
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], and the errors of [`Repository::service_data`].
    pub fn show_service(&self, key: &ServiceKey) -> Result<ServiceDetail, CoreError> {
        let s = self
            .service(key)?
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        let data = self.service_data(&s)?;
        let children = index_keys(self.store.as_ref(), IndexKind::Parent, &key.to_string())?;
        Ok(ServiceDetail {
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
        self.change_actions(filter, action, |s, current| {
            current
                .set_manually(state)
                .map_err(|source| CoreError::Transition {
                    key: s.key.to_string(),
                    action: action.to_string(),
                    source,
                })
        })
    }

    /// Schedules `action` on every service that passes `filter` and has it (see
    /// [`Service::scheduled_state`]: `ok` ones only with `force`, or when their opposite ran
    /// since); returns the services whose state changed.
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
        self.change_actions(filter, action, |s, _| {
            match s.scheduled_state(action, force) {
                Some(Ok(state)) => Ok(state),
                Some(Err(source)) => Err(CoreError::Transition {
                    key: s.key.to_string(),
                    action: action.to_string(),
                    source,
                }),
                // change_actions only calls this for services that have the action.
                None => Ok(ActionState::New),
            }
        })
    }

    fn change_actions(
        &self,
        filter: &ServiceFilter,
        action: &ActionName,
        next: impl Fn(&Service, ActionState) -> Result<ActionState, CoreError>,
    ) -> Result<Vec<ServiceKey>, CoreError> {
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let mut changed = Vec::new();
        for mut s in self.services(filter)? {
            let key = s.key.clone();
            let Some(current) = s.action(action.as_str()).map(|a| a.state) else {
                continue;
            };
            let to = next(&s, current)?;
            if to != current {
                if let Some(a) = s.action_mut(action.as_str()) {
                    a.state = to;
                }
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
        let changed = self.apply_data_patch(&mut s, patch)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        staging.put_service(s)?;
        let batch = staging.into_batch()?;
        self.commit(&batch, "patch service data")?;
        Ok(changed)
    }

    /// Checks a data patch against the service's actor schema without writing anything.
    ///
    /// # Errors
    ///
    /// As [`Repository::patch_service_data`].
    pub fn validate_data_patch(
        &self,
        key: &ServiceKey,
        patch: &serde_json::Value,
    ) -> Result<(), CoreError> {
        let mut s = self
            .service(key)?
            .ok_or_else(|| CoreError::ServiceNotFound {
                key: key.to_string(),
            })?;
        self.apply_data_patch(&mut s, patch).map(|_| ())
    }

    /// Applies a JSON patch to the data of `s` in memory, its fields named in either spelling
    /// (`mem.gb` or `memGb`); returns the fields whose value changed (Cap'n Proto names).
    pub(crate) fn apply_data_patch(
        &self,
        s: &mut Service,
        patch: &serde_json::Value,
    ) -> Result<Vec<String>, CoreError> {
        let actor = self.compiled_actor(s)?;
        let key = s.key.to_string();
        let codec_err = |source| CoreError::Codec {
            key: key.clone(),
            source,
        };
        // Fields may be named as in schema.hrd (`mem.gb`) or as in Cap'n Proto (`memGb`).
        let patch = match patch {
            serde_json::Value::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(name, v)| (crate::template::field_name(name), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        let given =
            ays_schema::Record::from_json(&actor.schema, "Schema", &patch).map_err(codec_err)?;
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
        if !changed.is_empty() {
            s.data = actor
                .codec
                .encode(&rec, ays_schema::Encoding::Packed)
                .map_err(codec_err)?;
        }
        Ok(changed)
    }
}
