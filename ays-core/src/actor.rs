//! Actors: the per-repository copy of a template (relations, actions, data schema), and the
//! compiled form used to check and encode service data.

use ays_schema::{Codec, SchemaFile};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{CoreError, TemplateError};
use crate::ids::{ActionName, ActorName};
use crate::service::EventFilter;
use crate::template::{ActionCode, ConsumeSpec, ParentSpec, Template};

/// One action of an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActorAction {
    /// The action name.
    pub name: ActionName,
    /// The key of its [`ActionCode`] record.
    pub code_key: String,
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
    /// Seconds before the first retry (`None`: the runner's default).
    pub retry_delay: Option<u32>,
    /// Longest wait between retries, in seconds (`None`: the runner's default).
    pub retry_max_delay: Option<u32>,
}

/// An actor as stored in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The actor name.
    pub name: ActorName,
    /// The parent relation.
    pub parent: Option<ParentSpec>,
    /// The consumed roles.
    pub consumes: Vec<ConsumeSpec>,
    /// The actions, sorted by name.
    pub actions: Vec<ActorAction>,
    /// At most this many jobs of the actor at once (0: no limit).
    pub concurrency: u32,
    /// The service data schema (Cap'n Proto text, root struct `Schema`).
    pub schema_text: String,
    /// The template directory it was made from.
    pub origin: String,
    /// The hash of the template files it was made from.
    pub template_hash: String,
    /// The template's `schema.hrd` text, if any (its validation rules apply to blueprint values).
    #[serde(skip)]
    pub hrd_text: Option<String>,
    /// The template's `events:` (AYS 9): filters that apply to every service of the actor,
    /// beside each service's own [`crate::Service::event_filters`].
    pub events: Vec<EventFilter>,
}

impl Actor {
    /// Builds the actor of a template, with the action code records it references.
    pub fn from_template(t: &Template) -> (Actor, Vec<ActionCode>) {
        let mut codes = Vec::with_capacity(t.actions.len());
        let actions = t
            .actions
            .iter()
            .map(|a| {
                codes.push(a.code.clone());
                ActorAction {
                    name: a.code.name.clone(),
                    code_key: a.code.key(),
                    depends_on: a.depends_on.clone(),
                    period: a.period,
                    log: a.log,
                    timeout: a.timeout,
                    retries: a.retries,
                    retry_delay: a.retry_delay,
                    retry_max_delay: a.retry_max_delay,
                }
            })
            .collect();
        let actor = Actor {
            name: t.name.clone(),
            parent: t.parent.clone(),
            consumes: t.consumes.clone(),
            actions,
            concurrency: t.concurrency,
            schema_text: t.schema_text.clone(),
            origin: t.path.display().to_string(),
            template_hash: t.hash.clone(),
            hrd_text: t.hrd_text.clone(),
            events: t.events.clone(),
        };
        (actor, codes)
    }

    /// The role of the actor.
    pub fn role(&self) -> &str {
        self.name.role()
    }

    /// The action named `name`.
    pub fn action(&self, name: &str) -> Option<&ActorAction> {
        self.actions.iter().find(|a| a.name.as_str() == name)
    }

    /// A content id of the data schema, stored on services to know which schema their data
    /// was written with.
    pub fn schema_hash(&self) -> u64 {
        schema_hash(&self.schema_text)
    }
}

pub(crate) fn schema_hash(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    for (d, s) in first.iter_mut().zip(digest.iter()) {
        *d = *s;
    }
    u64::from_be_bytes(first)
}

/// An actor with its schema compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledActor {
    pub(crate) actor: Actor,
    pub(crate) schema: SchemaFile,
    pub(crate) codec: Codec,
    pub(crate) hrd: Option<ays_hrd::ActorSchema>,
}

impl CompiledActor {
    /// The data of `s`, a service of this actor, as JSON with every field present.
    pub(crate) fn service_data(
        &self,
        s: &crate::service::Service,
    ) -> Result<serde_json::Value, CoreError> {
        let rec = self
            .codec
            .decode(&s.data, ays_schema::Encoding::Packed)
            .map_err(|source| CoreError::Codec {
                key: s.key.to_string(),
                source,
            })?;
        Ok(rec.to_json())
    }

    pub(crate) fn new(actor: Actor) -> Result<CompiledActor, CoreError> {
        let t = actor.name.to_string();
        let schema = ays_schema::parse_schema(&actor.schema_text, &format!("{t}/schema.capnp"))
            .map_err(|source| {
                CoreError::Template(TemplateError::Schema {
                    template: t.clone(),
                    source: Box::new(source),
                })
            })?;
        let codec = Codec::new(&schema, "Schema").map_err(|source| CoreError::Codec {
            key: t.clone(),
            source,
        })?;
        let hrd = actor
            .hrd_text
            .as_deref()
            .map(|src| ays_hrd::ActorSchema::parse(src, &format!("{t}/schema.hrd")))
            .transpose()
            .map_err(|source| {
                CoreError::Template(TemplateError::Hrd {
                    template: t.clone(),
                    source: Box::new(source),
                })
            })?;
        Ok(CompiledActor {
            actor,
            schema,
            codec,
            hrd,
        })
    }

    /// The fields of the root struct.
    pub(crate) fn fields(&self) -> &[ays_schema::FieldDef] {
        self.schema
            .find_struct("Schema")
            .map_or(&[], |s| s.fields.as_slice())
    }

    /// The data field a blueprint attribute names: HRD spelling (`os.image`), Cap'n Proto
    /// name (`osImage`), or, as in 8.1, the role of a relation (`vdc` for the field
    /// `vdcname = type:str parent:'vdc'`).
    pub(crate) fn field_for(&self, attr: &str) -> Option<&ays_schema::FieldDef> {
        let wanted = self.hrd.as_ref().and_then(|h| h.field(attr)).map_or_else(
            || crate::template::field_name(attr),
            |f| f.name().to_owned(),
        );
        self.fields().iter().find(|f| f.name == wanted).or_else(|| {
            let a = &self.actor;
            let relation = a
                .parent
                .iter()
                .map(|p| (&p.role, &p.arg_name))
                .chain(a.consumes.iter().map(|c| (&c.role, &c.arg_name)))
                .find(|(role, _)| role.as_str() == attr)?;
            self.fields().iter().find(|f| &f.name == relation.1)
        })
    }

    /// The HRD field of a data field, for its validation rules.
    pub(crate) fn hrd_field(&self, name: &str) -> Option<&ays_hrd::SchemaField> {
        self.hrd
            .as_ref()
            .and_then(|h| h.fields().iter().find(|f| f.name() == name))
    }

    /// The attribute names a blueprint may use, HRD spelling when known.
    pub(crate) fn valid_attributes(&self) -> Vec<String> {
        match &self.hrd {
            Some(h) => h.fields().iter().map(|f| f.raw_name().to_owned()).collect(),
            None => self.fields().iter().map(|f| f.name.clone()).collect(),
        }
    }
}
