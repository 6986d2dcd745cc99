//! `ays actor update`: bring actors in line with their templates.
//!
//! Per action: changed code → the action becomes `changed` on every service of the actor; a new
//! action is added as `new`; a removed one is removed. A schema change migrates every service's
//! data: new fields get their defaults, removed fields are dropped, and a field whose type
//! changed is an error that changes nothing. Everything is written in one batch.

use std::collections::BTreeMap;

use ays_schema::{Encoding, Record, SchemaFile};
use serde::Serialize;

use crate::action_state::ActionState;
use crate::actor::{Actor, CompiledActor};
use crate::error::CoreError;
use crate::ids::{ActionName, ActorName};
use crate::keys;
use crate::repo::Repository;
use crate::service::{Service, ServiceAction};
use crate::staging::{Staging, scan_keys};
use crate::template::{ActionCode, Template};

/// What an actor update changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActorUpdate {
    /// The actor.
    pub actor: String,
    /// Actions whose code changed (now `changed` on every service).
    pub changed_actions: Vec<ActionName>,
    /// Actions added (`new` on every service).
    pub added_actions: Vec<ActionName>,
    /// Actions removed.
    pub removed_actions: Vec<ActionName>,
    /// Data fields added (services get their defaults).
    pub added_fields: Vec<String>,
    /// Data fields removed (dropped from every service).
    pub removed_fields: Vec<String>,
    /// Whether the actor changed at all (actions, schema, relations, periods, dependencies).
    pub actor_changed: bool,
    /// How many services were rewritten.
    pub services: usize,
}

fn fields(schema: &SchemaFile) -> BTreeMap<String, String> {
    schema
        .find_struct("Schema")
        .map(|s| {
            s.fields
                .iter()
                .map(|f| (f.name.clone(), f.ty.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Repository {
    /// Updates the actor `name`, or every actor, from its template.
    ///
    /// # Errors
    ///
    /// [`CoreError::ActorNotFound`], [`CoreError::Template`] (template gone or invalid),
    /// [`CoreError::IncompatibleSchema`] (nothing written), store and codec errors.
    pub fn update_actors(&self, name: Option<&str>) -> Result<Vec<ActorUpdate>, CoreError> {
        let _lock = self.write_lock()?;
        let templates = self.templates()?;
        let names: Vec<ActorName> = match name {
            Some(n) => vec![n.parse()?],
            None => scan_keys(self.store().as_ref(), keys::ACTOR_PREFIX.as_bytes())?
                .into_iter()
                .filter_map(|k| {
                    std::str::from_utf8(k.strip_prefix(keys::ACTOR_PREFIX.as_bytes())?)
                        .ok()?
                        .parse()
                        .ok()
                })
                .collect(),
        };
        let mut st = self.staging();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let old = st.actor(&name)?.ok_or_else(|| CoreError::ActorNotFound {
                name: name.to_string(),
            })?;
            let template = templates.load(name.as_str())?;
            out.push(update_actor(&mut st, &old, &template)?);
        }
        let batch = st.into_batch()?;
        self.commit(&batch, "update actors")?;
        Ok(out)
    }

    /// Creates the actor of `template`, or updates it as `ays actor update` does (changed code
    /// makes actions `changed`, a schema change migrates every service's data): how an embedder
    /// gives the repository a template built in code ([`Template::from_source`]). Blueprints then
    /// use the stored actor; `update_actors` still looks for templates on disk.
    ///
    /// # Errors
    ///
    /// [`CoreError::IncompatibleSchema`] (nothing written), store and codec errors.
    pub fn install_template(&self, template: &Template) -> Result<ActorUpdate, CoreError> {
        let _lock = self.write_lock()?;
        let mut st = self.staging();
        let report = match st.actor(&template.name)? {
            Some(old) => update_actor(&mut st, &old, template)?,
            None => {
                let (actor, codes) = Actor::from_template(template);
                let report = ActorUpdate {
                    actor: template.name.to_string(),
                    added_actions: actor.actions.iter().map(|a| a.name.clone()).collect(),
                    actor_changed: true,
                    ..ActorUpdate::default()
                };
                st.put_actor(actor, codes)?;
                tracing::info!(actor = %template.name, "actor created from a template");
                report
            }
        };
        let batch = st.into_batch()?;
        self.commit(&batch, "install template")?;
        Ok(report)
    }
}

fn update_actor(
    st: &mut Staging<'_>,
    old: &CompiledActor,
    template: &Template,
) -> Result<ActorUpdate, CoreError> {
    let name = &template.name;
    let (new, codes) = Actor::from_template(template);
    let mut report = ActorUpdate {
        actor: name.to_string(),
        ..ActorUpdate::default()
    };
    if new == old.actor {
        return Ok(report);
    }
    report.actor_changed = true;
    let new_c = CompiledActor::new(new.clone())?;
    for a in &new.actions {
        match old.actor.action(a.name.as_str()) {
            Some(o) if o.code_key != a.code_key => {
                let code = codes.iter().find(|c| c.key() == a.code_key);
                if code_changed(st, &o.code_key, code)? {
                    report.changed_actions.push(a.name.clone());
                }
            }
            Some(_) => {}
            None => report.added_actions.push(a.name.clone()),
        }
    }
    for o in &old.actor.actions {
        if new.action(o.name.as_str()).is_none() {
            report.removed_actions.push(o.name.clone());
        }
    }
    let migrate = old.actor.schema_text != new.schema_text;
    if migrate {
        let (of, nf) = (fields(&old.schema), fields(&new_c.schema));
        for (f, ty) in &of {
            match nf.get(f) {
                Some(nty) if nty != ty => {
                    return Err(CoreError::IncompatibleSchema {
                        actor: name.to_string(),
                        field: f.clone(),
                        change: format!("type {ty} became {nty}"),
                    });
                }
                Some(_) => {}
                None => report.removed_fields.push(f.clone()),
            }
        }
        report.added_fields = nf
            .keys()
            .filter(|f| !of.contains_key(*f))
            .cloned()
            .collect();
    }
    for key in st.keys_of_actor(name)? {
        let Some(mut s) = st.service(&key)?.cloned() else {
            continue;
        };
        s.actions = updated_actions(&s, &new, &report.changed_actions);
        if migrate {
            migrate_data(&mut s, old, &new_c)?;
        }
        st.put_service(s)?;
        report.services += 1;
    }
    st.put_actor(new, codes)?;
    tracing::info!(actor = %name, services = report.services, "actor updated");
    Ok(report)
}

/// Whether the code of an action changed from the record `old_key` to `new`: the fingerprints
/// of two whole-file records say whether the action itself changed (not a comment, not another
/// action of the file); without them, any other key is a change.
fn code_changed(
    st: &Staging<'_>,
    old_key: &str,
    new: Option<&ActionCode>,
) -> Result<bool, CoreError> {
    let Some(new) = new.filter(|c| !c.fingerprint.is_empty()) else {
        return Ok(true);
    };
    Ok(st
        .code(old_key)?
        .is_none_or(|old| old.fingerprint.is_empty() || old.fingerprint != new.fingerprint))
}

/// The service's actions after an update: `changed` ones become `changed`, new ones `new`,
/// removed ones are dropped, the others keep their state (with the new code's key).
fn updated_actions(s: &Service, new: &Actor, changed: &[ActionName]) -> Vec<ServiceAction> {
    new.actions
        .iter()
        .map(|a| match s.action(a.name.as_str()) {
            Some(cur) if changed.contains(&a.name) => ServiceAction {
                code_key: a.code_key.clone(),
                state: cur.state.code_changed(),
                ..cur.clone()
            },
            Some(cur) => ServiceAction {
                code_key: a.code_key.clone(),
                ..cur.clone()
            },
            None => ServiceAction {
                name: a.name.clone(),
                code_key: a.code_key.clone(),
                state: ActionState::New,
                period: a.period,
                last_run: 0,
                log: a.log,
            },
        })
        .collect()
}

/// Re-encodes the service's data with the new schema: fields the new schema lacks are dropped,
/// new fields take their defaults.
fn migrate_data(
    s: &mut Service,
    old: &CompiledActor,
    new: &CompiledActor,
) -> Result<(), CoreError> {
    let codec_err = |source| CoreError::Codec {
        key: s.key.to_string(),
        source,
    };
    let rec = old
        .codec
        .decode(&s.data, Encoding::Packed)
        .map_err(codec_err)?;
    let kept: Record = rec
        .iter()
        .filter(|(f, _)| new.fields().iter().any(|d| d.name == *f))
        .map(|(f, v)| (f.to_owned(), v.clone()))
        .collect();
    let codec_err = |source| CoreError::Codec {
        key: s.key.to_string(),
        source,
    };
    s.data = new
        .codec
        .encode(&kept, Encoding::Packed)
        .map_err(codec_err)?;
    s.data_schema_id = new.actor.schema_hash();
    Ok(())
}
