//! The one place that turns domain values into stored bytes and back: the fixed Cap'n Proto
//! models of ays-schema (`Actor`, `Service`, `ActionCode`, `Repo`), as unpacked messages.

use capnp::message::{Builder, HeapAllocator};

use crate::action_state::ActionState;
use crate::actor::{Actor, ActorAction};
use crate::error::CoreError;
use crate::ids::{ActionName, ActorName, ServiceKey};
use crate::service::{EventFilter, Service, ServiceAction, ServiceRef};
use crate::template::{ActionCode, ConsumeSpec, ParentSpec, Runtime, field_name};
use ays_schema::models::{self, ActionState as MState};

use ays_schema::models::to_bytes;

mod limits;
mod runs;
pub(crate) use limits::{apply_actor_limits, encode_actor_limits};
pub(crate) use runs::{
    RunPart, count_run_jobs, decode_job, decode_run, encode_job, encode_run, merge_run_jobs,
};

/// The words of a record's first segment. capnp's default is 1,024 words (8 KiB), allocated
/// and zeroed for every message, while a service or job record takes about 100 words and a run
/// encodes two of them per job; a larger record grows into more segments.
const FIRST_SEGMENT_WORDS: u32 = 256;

/// The builder of one service, job or run record.
fn builder() -> Builder<HeapAllocator> {
    Builder::new(HeapAllocator::new().first_segment_words(FIRST_SEGMENT_WORDS))
}

fn read(
    key: &str,
    bytes: &[u8],
) -> Result<capnp::message::Reader<capnp::serialize::OwnedSegments>, CoreError> {
    models::read(bytes).map_err(corrupt(key))
}

fn corrupt<E: std::fmt::Display>(key: &str) -> impl Fn(E) -> CoreError + '_ {
    move |e| CoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    }
}

fn text(key: &str, r: capnp::Result<capnp::text::Reader<'_>>) -> Result<String, CoreError> {
    let r = r.map_err(corrupt(key))?;
    r.to_str().map(str::to_owned).map_err(corrupt(key))
}

fn parse<T: std::str::FromStr>(key: &str, s: &str) -> Result<T, CoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(corrupt(key))
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(crate) fn state_to_model(s: ActionState) -> MState {
    match s {
        ActionState::New => MState::New,
        ActionState::Changed => MState::Changed,
        ActionState::Ok => MState::Ok,
        ActionState::Scheduled => MState::Scheduled,
        ActionState::Disabled => MState::Disabled,
        ActionState::Error => MState::Error,
        ActionState::Running => MState::Running,
    }
}

fn state_from_model(s: MState) -> ActionState {
    match s {
        MState::New => ActionState::New,
        MState::Changed => ActionState::Changed,
        MState::Ok => ActionState::Ok,
        MState::Scheduled => ActionState::Scheduled,
        MState::Disabled => ActionState::Disabled,
        MState::Error => ActionState::Error,
        MState::Running => ActionState::Running,
    }
}

pub(crate) fn encode_actor(a: &Actor) -> Vec<u8> {
    let mut message = Builder::new_default();
    let mut m = message.init_root::<models::actor::Builder>();
    m.set_name(a.name.as_str());
    m.set_state(models::ActorState::New);
    m.set_has_parent(a.parent.is_some());
    if let Some(p) = &a.parent {
        let mut pb = m.reborrow().init_parent();
        pb.set_actor_role(&p.role);
        pb.set_min_services(1);
        pb.set_max_services(1);
        pb.set_auto(p.auto);
        pb.set_optional(p.optional);
        pb.set_arg_key(&p.arg_key);
    }
    {
        let mut list = m.reborrow().init_producers(len_u32(a.consumes.len()));
        for (i, c) in a.consumes.iter().enumerate() {
            let mut pb = list.reborrow().get(len_u32(i));
            pb.set_actor_role(&c.role);
            pb.set_min_services(c.min);
            pb.set_max_services(c.max);
            pb.set_auto(c.auto);
            pb.set_arg_key(&c.arg_key);
        }
    }
    {
        let mut list = m.reborrow().init_actions(len_u32(a.actions.len()));
        for (i, act) in a.actions.iter().enumerate() {
            let mut ab = list.reborrow().get(len_u32(i));
            ab.set_name(act.name.as_str());
            ab.set_action_key(&act.code_key);
            ab.set_period(act.period);
            ab.set_log(act.log);
            ab.set_state(MState::New);
            ab.set_timeout(act.timeout);
            ab.set_retries(act.retries);
            let mut deps = ab.init_depends_on(len_u32(act.depends_on.len()));
            for (j, d) in act.depends_on.iter().enumerate() {
                deps.set(len_u32(j), d.as_str());
            }
        }
    }
    {
        let mut o = m.reborrow().init_origin();
        o.set_path(&a.origin);
        o.set_template_hash(&a.template_hash);
    }
    m.set_service_data_schema(&a.schema_text);
    m.set_schema_id(a.schema_hash());
    to_bytes(&message)
}

pub(crate) fn decode_actor(
    key: &str,
    bytes: &[u8],
    hrd_text: Option<String>,
) -> Result<Actor, CoreError> {
    let message = read(key, bytes)?;
    let m = message
        .get_root::<models::actor::Reader>()
        .map_err(corrupt(key))?;
    let name: ActorName = parse(key, &text(key, m.get_name())?)?;
    let parent = if m.get_has_parent() {
        let p = m.get_parent().map_err(corrupt(key))?;
        let arg_key = text(key, p.get_arg_key())?;
        Some(ParentSpec {
            role: text(key, p.get_actor_role())?,
            arg_name: field_name(&arg_key),
            arg_key,
            auto: p.get_auto(),
            optional: p.get_optional(),
        })
    } else {
        None
    };
    let mut consumes = Vec::new();
    for p in m.get_producers().map_err(corrupt(key))? {
        let arg_key = text(key, p.get_arg_key())?;
        consumes.push(ConsumeSpec {
            role: text(key, p.get_actor_role())?,
            arg_name: field_name(&arg_key),
            arg_key,
            min: p.get_min_services(),
            max: p.get_max_services(),
            auto: p.get_auto(),
        });
    }
    let mut actions = Vec::new();
    for a in m.get_actions().map_err(corrupt(key))? {
        let mut depends_on = Vec::new();
        for d in a.get_depends_on().map_err(corrupt(key))? {
            let d = d.map_err(corrupt(key))?.to_str().map_err(corrupt(key))?;
            depends_on.push(parse::<ActionName>(key, d)?);
        }
        actions.push(ActorAction {
            name: parse(key, &text(key, a.get_name())?)?,
            code_key: text(key, a.get_action_key())?,
            depends_on,
            period: a.get_period(),
            log: a.get_log(),
            timeout: a.get_timeout(),
            retries: a.get_retries(),
            // Stored under their own key: see `limits`.
            retry_delay: None,
            retry_max_delay: None,
        });
    }
    let origin = m.get_origin().map_err(corrupt(key))?;
    Ok(Actor {
        name,
        parent,
        consumes,
        actions,
        concurrency: 0,
        schema_text: text(key, m.get_service_data_schema())?,
        origin: text(key, origin.get_path())?,
        template_hash: text(key, origin.get_template_hash())?,
        hrd_text,
        // Stored with the limits: see `limits`.
        events: Vec::new(),
    })
}

fn set_pointer(mut b: models::service_pointer::Builder<'_>, r: &ServiceRef) {
    b.set_actor_name(r.actor.as_str());
    b.set_service_name(r.key.instance());
    b.set_key(r.key.to_string());
}

fn get_pointer(key: &str, r: models::service_pointer::Reader<'_>) -> Result<ServiceRef, CoreError> {
    Ok(ServiceRef {
        actor: parse(key, &text(key, r.get_actor_name())?)?,
        key: parse::<ServiceKey>(key, &text(key, r.get_key())?)?,
    })
}

pub(crate) fn encode_service(s: &Service) -> Vec<u8> {
    let mut message = builder();
    let mut m = message.init_root::<models::service::Builder>();
    m.set_key(s.key.to_string());
    m.set_name(s.key.instance());
    m.set_actor_name(s.actor.as_str());
    m.set_actor_key(s.actor.as_str());
    m.set_state(models::ServiceState::New);
    m.set_has_parent(s.parent.is_some());
    if let Some(p) = &s.parent {
        set_pointer(m.reborrow().init_parent(), p);
    }
    {
        let mut list = m.reborrow().init_producers(len_u32(s.producers.len()));
        for (i, p) in s.producers.iter().enumerate() {
            set_pointer(list.reborrow().get(len_u32(i)), p);
        }
    }
    {
        let mut list = m.reborrow().init_consumers(len_u32(s.consumers.len()));
        for (i, p) in s.consumers.iter().enumerate() {
            set_pointer(list.reborrow().get(len_u32(i)), p);
        }
    }
    {
        let mut list = m.reborrow().init_actions(len_u32(s.actions.len()));
        for (i, a) in s.actions.iter().enumerate() {
            let mut ab = list.reborrow().get(len_u32(i));
            ab.set_name(a.name.as_str());
            ab.set_action_key(&a.code_key);
            ab.set_state(state_to_model(a.state));
            ab.set_period(a.period);
            ab.set_last_run(a.last_run);
            ab.set_log(a.log);
        }
    }
    {
        let mut list = m
            .reborrow()
            .init_event_filters(len_u32(s.event_filters.len()));
        for (i, f) in s.event_filters.iter().enumerate() {
            let mut fb = list.reborrow().get(len_u32(i));
            fb.set_channel(&f.channel);
            fb.set_command(&f.command);
            fb.set_action(&f.action);
            fb.set_secret(&f.secret);
            let mut tags = fb.init_tags(len_u32(f.tags.len()));
            for (j, t) in f.tags.iter().enumerate() {
                tags.set(len_u32(j), t.as_str());
            }
        }
    }
    m.set_data(&s.data);
    m.set_data_schema_id(s.data_schema_id);
    to_bytes(&message)
}

pub(crate) fn decode_service(key: &str, bytes: &[u8]) -> Result<Service, CoreError> {
    let message = read(key, bytes)?;
    let m = message
        .get_root::<models::service::Reader>()
        .map_err(corrupt(key))?;
    let skey: ServiceKey = parse(key, &text(key, m.get_key())?)?;
    let parent = if m.get_has_parent() {
        Some(get_pointer(key, m.get_parent().map_err(corrupt(key))?)?)
    } else {
        None
    };
    let mut producers = Vec::new();
    for p in m.get_producers().map_err(corrupt(key))? {
        producers.push(get_pointer(key, p)?);
    }
    let mut consumers = Vec::new();
    for p in m.get_consumers().map_err(corrupt(key))? {
        consumers.push(get_pointer(key, p)?);
    }
    let mut actions = Vec::new();
    for a in m.get_actions().map_err(corrupt(key))? {
        actions.push(ServiceAction {
            name: parse(key, &text(key, a.get_name())?)?,
            code_key: text(key, a.get_action_key())?,
            state: state_from_model(a.get_state().map_err(corrupt(key))?),
            period: a.get_period(),
            last_run: a.get_last_run(),
            log: a.get_log(),
        });
    }
    let mut event_filters = Vec::new();
    for f in m.get_event_filters().map_err(corrupt(key))? {
        let mut tags = Vec::new();
        for t in f.get_tags().map_err(corrupt(key))? {
            tags.push(
                t.map_err(corrupt(key))?
                    .to_str()
                    .map_err(corrupt(key))?
                    .to_owned(),
            );
        }
        event_filters.push(EventFilter {
            channel: text(key, f.get_channel())?,
            command: text(key, f.get_command())?,
            action: text(key, f.get_action())?,
            secret: text(key, f.get_secret())?,
            tags,
        });
    }
    Ok(Service {
        key: skey,
        actor: parse(key, &text(key, m.get_actor_name())?)?,
        parent,
        producers,
        consumers,
        actions,
        event_filters,
        data: m.get_data().map_err(corrupt(key))?.to_vec(),
        data_schema_id: m.get_data_schema_id(),
    })
}

pub(crate) fn encode_code(c: &ActionCode, actor: &ActorName) -> Vec<u8> {
    let mut message = Builder::new_default();
    let mut m = message.init_root::<models::action_code::Builder>();
    m.set_key(c.key());
    m.set_name(c.name.as_str());
    m.set_actor_name(actor.as_str());
    m.set_runtime(match c.runtime {
        Runtime::None => models::ActionRuntime::None,
        Runtime::Shell => models::ActionRuntime::Shell,
        Runtime::Python => models::ActionRuntime::Python,
    });
    m.set_code(&c.code);
    m.set_args(&c.args);
    m.set_doc(&c.doc);
    m.set_file(&c.file);
    m.set_fingerprint(&c.fingerprint);
    m.set_origin(format!("actoraction:{actor}:{}", c.name));
    to_bytes(&message)
}

pub(crate) fn decode_code(key: &str, bytes: &[u8]) -> Result<ActionCode, CoreError> {
    let message = read(key, bytes)?;
    let m = message
        .get_root::<models::action_code::Reader>()
        .map_err(corrupt(key))?;
    Ok(ActionCode {
        name: parse(key, &text(key, m.get_name())?)?,
        runtime: match m.get_runtime().map_err(corrupt(key))? {
            models::ActionRuntime::Shell => Runtime::Shell,
            models::ActionRuntime::Python => Runtime::Python,
            models::ActionRuntime::None | models::ActionRuntime::Native => Runtime::None,
        },
        code: text(key, m.get_code())?,
        args: text(key, m.get_args())?,
        doc: text(key, m.get_doc())?,
        file: text(key, m.get_file())?,
        fingerprint: text(key, m.get_fingerprint())?,
    })
}

/// The repository record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) store_url: String,
    pub(crate) created_at: i64,
}

pub(crate) fn encode_repo(r: &RepoRecord) -> Vec<u8> {
    let mut message = Builder::new_default();
    let mut m = message.init_root::<models::repo::Builder>();
    m.set_id(&r.id);
    m.set_name(&r.name);
    m.set_path(&r.path);
    m.set_store_url(&r.store_url);
    m.set_created_at(r.created_at);
    to_bytes(&message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_round_trip() {
        let a: ActorName = "node.ovc".parse().unwrap();
        let key = ServiceKey::new(&a, "vm1".parse().unwrap());
        let vdc: ActorName = "vdc".parse().unwrap();
        let pref = ServiceRef {
            actor: vdc.clone(),
            key: ServiceKey::new(&vdc, "v".parse().unwrap()),
        };
        let s = Service {
            key: key.clone(),
            actor: a,
            parent: Some(pref.clone()),
            producers: vec![pref],
            consumers: vec![],
            actions: vec![ServiceAction {
                name: "install".parse().unwrap(),
                code_key: "k".into(),
                state: ActionState::Scheduled,
                period: 5,
                last_run: 7,
                log: true,
            }],
            event_filters: vec![EventFilter {
                channel: "all".into(),
                tags: vec!["x".into()],
                ..EventFilter::default()
            }],
            data: vec![1, 2, 3],
            data_schema_id: 42,
        };
        let back = decode_service("k", &encode_service(&s)).unwrap();
        assert_eq!(back, s);
        assert!(matches!(
            decode_service("k", &[1, 2]),
            Err(CoreError::Corrupt { .. })
        ));
    }
}
