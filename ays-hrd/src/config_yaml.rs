//! `config.yaml`, the 8.2 layout of a template's relations, property docs and action settings
//! (`hrd.md` §3.8): [`ConfigYaml`] read from text with located errors, built from an HRD
//! template, and written back. One submodule per section of the file, each reading and writing
//! it; `yaml` holds the node access and scalar quoting they share.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::actor_config::{ActorConfig, RecurringAction};
use crate::error::ConfigYamlError;
use crate::location::{Located, Location};
use crate::schema::ActorSchema;

mod depends;
mod doc;
mod events;
mod links;
mod recurring;
mod settings;
mod yaml;

pub use yaml::yaml_nesting_beyond;

/// The content of a template's `config.yaml`.
///
/// ```yaml
/// links:
///   parent:                 # links.parent, read into `parent`
///     role: "vdc"
///     argname: "vdc"
///     auto: true
///     optional: false
///   consume:                # `consumes`
///     - role: "sshkey"
///       argname: "sshkey"
///       auto: true
///       min: 1
///       max: 100
/// doc:
///   property:               # `properties`
///     - image: "the OS image"
/// recurring:                # `recurring`
///   - action: "monitor"
///     period: "30s"
///     log: true
/// concurrency: 2            # at most 2 jobs of the actor at once
/// timeouts: {install: 2m}   # also retries (a count), retry_delay, retry_max_delay
/// depends:
///   test: [install]         # or `test: install, start`
/// events:                   # AYS 9: external events that run an action on every service
///   - command: "deploy"
///     action: "install"
///     tags: ["prod"]        # optional: every tag must come with the event
///     secret: "s3cret"      # optional: the event must carry it
///     channel: "webservice" # optional: empty or `all` for any channel
/// ```
///
/// The timeouts, retries and delays may also be 8.2's list of one-entry mappings
/// (`timeouts: [{install: 2m}]`); a later entry for the same action replaces an earlier one.
/// Durations read `30s`, `5m`, `1h30m`, `1d`, `2w` or whole seconds ([`parse_duration`]), and
/// zero is allowed. Strings may be written as integers (`role: 5`, `period: 30`).
///
/// The reader is as lenient as AYS has always been with this file: keys it does not know are
/// ignored, and so are sections of the wrong kind (`links: 5`, an empty `recurring: {}`; a
/// `recurring` mapping with entries is an error, its actions would never recur), a
/// `links.parent` that is not a mapping, list items in `timeouts` that are not mappings,
/// `depends` items that are neither strings nor integers, `auto`/`optional`/`log` values that
/// are not booleans (`auto` and `optional` then read `false`, `log` reads `true`), and an
/// `argname` that is not a string (the role is used). `doc` is documentation only: entries of
/// another shape than the one written here are skipped. Only the first YAML document is read.
///
/// [`parse_duration`]: crate::parse_duration
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConfigYaml {
    /// `links.parent`: the parent relation.
    pub parent: Option<ParentLink>,
    /// `links.consume`: the consumed roles, in file order.
    pub consumes: Vec<ConsumeLink>,
    /// `doc.property`: a description per schema field, in file order.
    pub properties: Vec<PropertyDoc>,
    /// `recurring`: the recurring actions, in file order.
    pub recurring: Vec<RecurringAction>,
    /// `concurrency`: at most this many jobs of the actor at once.
    pub concurrency: Option<NonZeroU32>,
    /// `timeouts`, by action.
    pub timeouts: BTreeMap<String, Located<Duration>>,
    /// `retries`: how many more times a failed action is tried, by action.
    pub retries: BTreeMap<String, Located<u32>>,
    /// `retry_delay`: the wait before the first retry, by action.
    pub retry_delays: BTreeMap<String, Located<Duration>>,
    /// `retry_max_delay`: the longest wait between retries, by action.
    pub retry_max_delays: BTreeMap<String, Located<Duration>>,
    /// `depends`: the actions each action requires, replacing its default ones.
    pub depends: BTreeMap<String, Vec<Located<String>>>,
    /// `events`: the external events that run an action on every service of the actor, in
    /// file order.
    pub events: Vec<EventEntry>,
}

/// One entry of `events`: an external event that runs `action` (AYS 9).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventEntry {
    /// `command`: the event's command.
    pub command: String,
    /// `action`: the action it runs.
    pub action: String,
    /// `tags`: tags the event must all carry (a single string is one tag).
    pub tags: Vec<String>,
    /// `secret`: a secret the event must carry (empty: none).
    pub secret: String,
    /// `channel`: the channel it must come from (empty or `all`: any).
    pub channel: String,
    /// Where the entry starts.
    pub at: Location,
}

/// `links.parent`: the parent relation of an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParentLink {
    /// `role`: the parent's role as written (`node.ssh`).
    pub role: String,
    /// `argname`: the field naming the parent instance (`role` when absent).
    pub arg_name: String,
    /// `auto`: create a missing parent (default `false`).
    pub auto: bool,
    /// `optional`: the parent may be absent (default `false`).
    pub optional: bool,
    /// Where the mapping starts.
    pub at: Location,
}

/// One entry of `links.consume`: a consumed role.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumeLink {
    /// `role`: the producers' role as written (`fs.btrfs`).
    pub role: String,
    /// `argname`: the field naming the producer instances (`role` when absent).
    pub arg_name: String,
    /// `auto`: create missing producers (default `false`).
    pub auto: bool,
    /// `min`: the minimum number of producers (default 0).
    pub min: u32,
    /// `max`: the maximum number of producers (default 100).
    pub max: u32,
    /// Where the entry starts.
    pub at: Location,
}

/// One entry of `doc.property`: the description of a schema field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PropertyDoc {
    /// The field name (sanitised, as in `schema.capnp`).
    pub name: String,
    /// The description (empty when the field has none).
    pub description: String,
    /// Where the entry starts.
    pub at: Location,
}

impl ConfigYaml {
    /// Reads a `config.yaml`; `file` names it in locations (no I/O happens here).
    ///
    /// # Errors
    ///
    /// A [`ConfigYamlError`] at the line and column of the offending node:
    /// [`Syntax`](ConfigYamlError::Syntax) for text that is not YAML,
    /// [`Missing`](ConfigYamlError::Missing) for a `links.parent` or `links.consume` entry
    /// without a `role`, or a `recurring` entry without an `action` or `period`,
    /// [`WrongType`](ConfigYamlError::WrongType) for a value of the wrong kind (a `min` that is
    /// not a count, a `concurrency` below 1, a key of `timeouts` that is not a name, …) and
    /// [`BadDuration`](ConfigYamlError::BadDuration) for a period, timeout or delay that does
    /// not parse; an `events` entry without a `command` or an `action` is
    /// [`Missing`](ConfigYamlError::Missing), one whose values are of the wrong kind
    /// [`WrongType`](ConfigYamlError::WrongType).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let src = "recurring:\n  - action: monitor\n    period: 5m\ntimeouts: {install: 2m}\n";
    /// let config = ays_hrd::ConfigYaml::parse(src, "config.yaml")?;
    /// assert_eq!(config.recurring[0].period, Duration::from_secs(300));
    /// assert_eq!(config.timeouts["install"].value, Duration::from_secs(120));
    ///
    /// let err = ays_hrd::ConfigYaml::parse("retries:\n  install: often\n", "config.yaml");
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "config.yaml:2:12: `retries.install` expects a count, found the string `often`"
    /// );
    /// # Ok::<(), ays_hrd::ConfigYamlError>(())
    /// ```
    pub fn parse(text: &str, file: &str) -> Result<ConfigYaml, ConfigYamlError> {
        let reader = yaml::Reader::new(file, text);
        let docs = reader.load()?;
        let Some(doc) = docs.first() else {
            return Ok(ConfigYaml::default());
        };
        // Sections are read in the order ays-core read them, so that a file with several
        // errors reports the same one first.
        Ok(ConfigYaml {
            parent: links::read_parent(&reader, doc)?,
            consumes: links::read_consumes(&reader, doc)?,
            properties: doc::read(&reader, doc),
            recurring: recurring::read(&reader, doc)?,
            concurrency: settings::read_concurrency(&reader, doc)?,
            timeouts: settings::read_durations(&reader, doc, "timeouts")?,
            retries: settings::read_counts(&reader, doc, "retries")?,
            retry_delays: settings::read_durations(&reader, doc, "retry_delay")?,
            retry_max_delays: settings::read_durations(&reader, doc, "retry_max_delay")?,
            depends: depends::read(&reader, doc)?,
            events: events::read(&reader, doc)?,
        })
    }

    /// The `config.yaml` AYS 8.2's template upgrader wrote for an HRD template: the relations
    /// of `schema`, a description per field and the recurring actions of `actor.hrd`. Every
    /// other section is left empty, as 8.2 did.
    ///
    /// Deviations from 8.2: `parent.role` and `consume[].role` are the roles as written (8.2
    /// sanitised the parent role), `parent.argname` is added (as in later 8.2 templates), and
    /// `min`/`max` are always integers (8.2 kept written counts as strings).
    pub fn from_hrd(schema: &ActorSchema, config: Option<&ActorConfig>) -> ConfigYaml {
        let parent = schema.parent().map(|p| ParentLink {
            role: p.raw_role.clone(),
            arg_name: p.arg_name.clone(),
            auto: p.auto,
            optional: p.optional,
            at: p.at.clone(),
        });
        let consumes = schema
            .consumes()
            .iter()
            .map(|c| ConsumeLink {
                role: c.raw_role.clone(),
                arg_name: c.arg_name.clone(),
                auto: c.auto,
                min: u32::from(c.min),
                max: u32::from(c.max),
                at: c.at.clone(),
            })
            .collect();
        let properties = schema
            .fields()
            .iter()
            .map(|f| PropertyDoc {
                name: f.name().to_owned(),
                description: f.description().unwrap_or_default().to_owned(),
                at: f.location().clone(),
            })
            .collect();
        ConfigYaml {
            parent,
            consumes,
            properties,
            recurring: config.map(|c| c.recurring().to_vec()).unwrap_or_default(),
            ..ConfigYaml::default()
        }
    }

    /// Writes the file. Output is deterministic, and [`ConfigYaml::parse`] reads it back to an
    /// equal value apart from locations. `links`, `doc` and `recurring` are always written (as
    /// 8.2 did), the other sections only when they hold something. Every string is
    /// double-quoted with YAML escapes, so any text is safe.
    ///
    /// ```
    /// let schema = ays_hrd::ActorSchema::parse("vdc = type:str parent:'vdc' auto\n", "schema.hrd")?;
    /// let yaml = ays_hrd::ConfigYaml::from_hrd(&schema, None).to_yaml();
    /// assert!(yaml.starts_with("links:\n  parent:\n    role: \"vdc\"\n"));
    /// # Ok::<(), ays_hrd::HrdError>(())
    /// ```
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        links::write(&mut out, self.parent.as_ref(), &self.consumes);
        doc::write(&mut out, &self.properties);
        recurring::write(&mut out, &self.recurring);
        settings::write(&mut out, self);
        depends::write(&mut out, &self.depends);
        events::write(&mut out, &self.events);
        out
    }
}

#[cfg(test)]
mod tests;
