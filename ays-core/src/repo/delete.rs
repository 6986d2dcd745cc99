//! Deleting services: the cascade of children, what it does to the services that stay (their
//! relations to the deleted ones, and the names of those in their data), and the refusal to
//! leave a consumer without a producer it needs.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::CoreError;
use crate::ids::ServiceKey;
use crate::keys::IndexKind;
use crate::service::Service;
use crate::staging::{Staging, index_keys};

use super::Repository;

/// Options of [`Repository::delete_service`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Delete even when a service that stays needs a deleted producer (it then has fewer than
    /// its template's minimum).
    pub force: bool,
}

/// What deleting a service does ([`Repository::delete_plan`], [`Repository::delete_service`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletePlan {
    /// The service and, recursively, its children, parents first.
    pub deleted: Vec<ServiceKey>,
    /// The services that stay and lose a relation to a deleted one.
    pub unlinked: Vec<Unlinked>,
}

impl DeletePlan {
    /// The services that stay with fewer producers of a role than their template needs.
    pub fn needed(&self) -> impl Iterator<Item = &Unlinked> {
        self.unlinked.iter().filter(|u| u.left < u.min)
    }
}

/// A service that stays and loses a deleted producer (or consumer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unlinked {
    /// The service that stays.
    pub service: ServiceKey,
    /// The deleted service it was related to.
    pub lost: ServiceKey,
    /// The data field that named the deleted producer, from which its name is removed (empty
    /// when none did).
    pub field: String,
    /// How many producers of the lost one's role the template needs (0 for a lost consumer).
    pub min: u32,
    /// How many it has left.
    pub left: u32,
}

impl Repository {
    /// What [`Repository::delete_service`] would delete and change, without changing anything.
    ///
    /// # Errors
    ///
    /// [`CoreError::ServiceNotFound`], [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn delete_plan(&self, key: &ServiceKey) -> Result<DeletePlan, CoreError> {
        let mut staging = self.staging();
        self.plan_delete(&mut staging, key)
    }

    fn plan_delete(
        &self,
        staging: &mut Staging<'_>,
        key: &ServiceKey,
    ) -> Result<DeletePlan, CoreError> {
        let store = self.store.as_ref();
        if staging.service(key)?.is_none() {
            return Err(CoreError::ServiceNotFound {
                key: key.to_string(),
            });
        }
        let mut deleted = vec![key.clone()];
        let mut doomed = BTreeSet::from([key.clone()]);
        let mut i = 0;
        while let Some(k) = deleted.get(i).cloned() {
            for child in index_keys(store, IndexKind::Parent, k.as_str())? {
                if doomed.insert(child.clone()) {
                    deleted.push(child);
                }
            }
            i += 1;
        }
        let mut unlinked = Vec::new();
        for k in &deleted {
            let Some(s) = staging.service(k)?.cloned() else {
                continue;
            };
            for other in s.producers.iter().chain(&s.consumers) {
                if doomed.contains(&other.key) {
                    continue;
                }
                let Some(o) = staging.service(&other.key)?.cloned() else {
                    continue;
                };
                unlinked.push(self.unlink(staging, &o, k, &doomed)?);
            }
        }
        unlinked.sort_by(|a, b| (&a.service, &a.lost).cmp(&(&b.service, &b.lost)));
        unlinked.dedup();
        Ok(DeletePlan { deleted, unlinked })
    }

    /// What `o`, which stays, loses with `lost`.
    fn unlink(
        &self,
        staging: &mut Staging<'_>,
        o: &Service,
        lost: &ServiceKey,
        doomed: &BTreeSet<ServiceKey>,
    ) -> Result<Unlinked, CoreError> {
        let mut unlinked = Unlinked {
            service: o.key.clone(),
            lost: lost.clone(),
            field: String::new(),
            min: 0,
            left: 0,
        };
        if !o.producers.iter().any(|p| &p.key == lost) {
            return Ok(unlinked);
        }
        let role = lost.role();
        unlinked.left = u32::try_from(
            o.producers
                .iter()
                .filter(|p| p.key.role() == role && !doomed.contains(&p.key))
                .count(),
        )
        .unwrap_or(u32::MAX);
        let actor = staging
            .actor(&o.actor)?
            .ok_or_else(|| CoreError::ActorNotFound {
                name: o.actor.to_string(),
            })?;
        if let Some(spec) = actor.actor.consumes.iter().find(|c| c.role == role) {
            unlinked.min = spec.min;
            unlinked.field = spec.arg_name.clone();
        }
        Ok(unlinked)
    }

    /// Deletes a service and, recursively, its children; the services that stay lose their
    /// relations to the deleted ones, and the names of the deleted producers in their data.
    /// Returns what was done.
    ///
    /// # Errors
    ///
    /// [`CoreError::ProducerNeeded`] when a service that stays would have fewer producers of a
    /// role than its template needs, unless `options.force`; [`CoreError::ServiceNotFound`],
    /// [`CoreError::RunLocked`] while a run is in progress, [`CoreError::Store`],
    /// [`CoreError::Corrupt`], and codec errors. Nothing is changed on error.
    pub fn delete_service(
        &self,
        key: &ServiceKey,
        options: DeleteOptions,
    ) -> Result<DeletePlan, CoreError> {
        let _runs = self.hold_runs("service delete")?;
        let _lock = self.write_lock()?;
        let mut staging = self.staging();
        let plan = self.plan_delete(&mut staging, key)?;
        let needed: Vec<String> = plan
            .needed()
            .map(|u| {
                format!(
                    "{} needs at least {} {} and would have {}",
                    u.service,
                    u.min,
                    u.lost.role(),
                    u.left
                )
            })
            .collect();
        if !needed.is_empty() && !options.force {
            return Err(CoreError::ProducerNeeded {
                key: key.to_string(),
                needed,
            });
        }
        for u in &plan.unlinked {
            let Some(mut o) = staging.service(&u.service)?.cloned() else {
                continue;
            };
            o.producers.retain(|p| p.key != u.lost);
            o.consumers.retain(|c| c.key != u.lost);
            if o.parent.as_ref().is_some_and(|p| p.key == u.lost) {
                o.parent = None;
            }
            if !u.field.is_empty() {
                self.forget_name(&mut o, &u.field, u.lost.instance())?;
            }
            staging.put_service(o)?;
        }
        for k in &plan.deleted {
            staging.delete_service(k)?;
        }
        let batch = staging.into_batch()?;
        self.commit(&batch, "delete services")?;
        tracing::info!(service = %key, deleted = plan.deleted.len(), unlinked = plan.unlinked.len(), "services deleted");
        Ok(plan)
    }

    /// Removes `name` from the data field `field` of `s` (a list of names, or one name).
    fn forget_name(&self, s: &mut Service, field: &str, name: &str) -> Result<(), CoreError> {
        let data = self.service_data(s)?;
        let patch = match data.get(field) {
            Some(serde_json::Value::Array(items)) => {
                let kept: Vec<serde_json::Value> = items
                    .iter()
                    .filter(|v| v.as_str() != Some(name))
                    .cloned()
                    .collect();
                if kept.len() == items.len() {
                    return Ok(());
                }
                serde_json::Value::Array(kept)
            }
            Some(serde_json::Value::String(v)) if v == name => {
                serde_json::Value::String(String::new())
            }
            _ => return Ok(()),
        };
        let mut fields = serde_json::Map::new();
        fields.insert(field.to_owned(), patch);
        self.apply_data_patch(s, &serde_json::Value::Object(fields))
            .map(|_| ())
    }
}
