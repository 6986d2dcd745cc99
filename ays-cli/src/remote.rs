//! `--remote URL`: a small blocking client of the daemon's API (`ays daemon`), and the API's
//! JSON read back into the types the printers take, so that a command prints through the
//! daemon what it prints on a local repository.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;

use anyhow::Context;
use ays_core::{
    ActionName, ActionState, ActorName, ActorSummary, ActorUpdate, BlueprintReport, DeletePlan,
    DestroyReport, EventFilter, FieldChange, JobLog, JobRecord, JobRef, JobState, JobStateChange,
    RunId, RunRecord, RunStepRecord, RunSummary, ScheduledAction, ServiceAction, ServiceDetail,
    ServiceKey, Unlinked, UpdatedService,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::exit::BadInput;

/// A request to the daemon that failed.
#[derive(Debug)]
pub enum RemoteError {
    /// The daemon could not be reached (or the connection broke).
    Unreachable {
        /// The daemon's URL.
        url: String,
        /// Why.
        source: ureq::Error,
    },
    /// The daemon refused the request: its error body.
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code (`unauthorized`, `run_not_found`…).
        code: String,
        /// The daemon's message.
        message: String,
    },
    /// The daemon answered something that is not what its API says.
    Unexpected {
        /// The request.
        what: String,
        /// What was wrong.
        reason: String,
    },
}

impl RemoteError {
    /// Whether the request itself was wrong (exit code 2): a bad or unknown name, a wrong
    /// token, a bad value, as the same mistakes are on a local repository.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            RemoteError::Api {
                status: 400 | 401 | 404 | 422,
                ..
            }
        ) || matches!(self, RemoteError::Api { code, .. } if code == "producer_needed")
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::Unreachable { url, source } => {
                let reason = match source {
                    ureq::Error::Io(io) => io.to_string(),
                    other => other.to_string(),
                };
                write!(f, "cannot reach the daemon at {url}: {reason}")
            }
            RemoteError::Api { code, message, .. } => write!(f, "{code}: {message}"),
            RemoteError::Unexpected { what, reason } => {
                write!(f, "unexpected answer of the daemon to {what}: {reason}")
            }
        }
    }
}

impl std::error::Error for RemoteError {}

/// The daemon and the repository that commands work on.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
    repository: String,
}

impl Client {
    /// A client of the daemon at `url`, with the token of `AYS_TOKEN` or of the token file,
    /// working on `repository` or else on the only repository the daemon serves.
    pub fn connect(url: &str, repository: Option<&str>) -> anyhow::Result<Client> {
        let base = url.trim_end_matches('/').to_owned();
        if base.starts_with("https://") {
            return Err(BadInput(format!(
                "--remote {url}: this `ays` speaks plain HTTP only (the daemon serves plain \
                 HTTP): use http://, or a tunnel"
            ))
            .into());
        }
        if !base.starts_with("http://") || base.len() == "http://".len() {
            return Err(BadInput(format!(
                "--remote {url}: expected the daemon's URL, such as http://127.0.0.1:5000"
            ))
            .into());
        }
        let token = match std::env::var("AYS_TOKEN") {
            Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
            _ => ays_daemon::token::TokenFile::locate()?
                .read()?
                .as_str()
                .to_owned(),
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut client = Client {
            agent,
            base,
            token,
            repository: String::new(),
        };
        client.repository = match repository {
            Some(name) => name.to_owned(),
            None => client.only_repository()?,
        };
        tracing::debug!(url = %client.base, repository = %client.repository, "remote");
        Ok(client)
    }

    /// The daemon's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The repository commands work on.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The one repository the daemon serves.
    fn only_repository(&self) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Listed {
            name: String,
        }
        let listed: Vec<Listed> = self.get("/ays/repository", &[])?;
        match listed.as_slice() {
            [one] => Ok(one.name.clone()),
            [] => Err(BadInput(format!("the daemon at {} serves no repository", self.base)).into()),
            many => Err(BadInput(format!(
                "the daemon at {} serves {} repositories ({}): name one with --repository NAME \
                 (or AYS_REPOSITORY)",
                self.base,
                many.len(),
                many.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into()),
        }
    }

    /// The path of `rest` under the repository: `/ays/repository/NAME/rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/ays/repository/{}/{rest}", segment(&self.repository))
    }

    fn request(
        &self,
        method: &str,
        path: &str,
    ) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let url = format!("{}{path}", self.base);
        let builder = match method {
            "DELETE" => self.agent.delete(&url),
            _ => self.agent.get(&url),
        };
        builder.header("Authorization", &format!("Bearer {}", self.token))
    }

    /// Reads the answer of `what`: its JSON body as `T`, or the daemon's error.
    fn answer<T: DeserializeOwned>(
        &self,
        what: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, T), RemoteError> {
        let response = self.check(what, sent)?;
        let status = response.status().as_u16();
        let reader = response.into_body().into_reader();
        let value = serde_json::from_reader(BufReader::new(reader)).map_err(|err| {
            RemoteError::Unexpected {
                what: what.to_owned(),
                reason: err.to_string(),
            }
        })?;
        Ok((status, value))
    }

    /// The response of `what` if it succeeded; else the daemon's error.
    fn check(
        &self,
        what: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, RemoteError> {
        let mut response = sent.map_err(|source| RemoteError::Unreachable {
            url: self.base.clone(),
            source,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        #[derive(Deserialize)]
        struct Body {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            code: String,
            message: String,
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Err(match serde_json::from_str::<Body>(&text) {
            Ok(body) => RemoteError::Api {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => RemoteError::Unexpected {
                what: what.to_owned(),
                reason: format!("{status}: {}", text.trim()),
            },
        })
    }

    /// `GET path?query`: the JSON answer as `T`.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, RemoteError> {
        let mut request = self.request("GET", path);
        for (name, value) in query {
            request = request.query(*name, *value);
        }
        tracing::debug!(path, ?query, "GET");
        self.answer(&format!("GET {path}"), request.call())
            .map(|(_, value)| value)
    }

    /// `POST path` with the JSON `body`: the status and the JSON answer.
    pub fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), RemoteError> {
        self.send("POST", path, body)
    }

    /// `PUT path` with the JSON `body`: the status and the JSON answer.
    pub fn put(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), RemoteError> {
        self.send("PUT", path, body)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), RemoteError> {
        let url = format!("{}{path}", self.base);
        tracing::debug!(path, %body, method);
        let builder = match method {
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        };
        let sent = builder
            .header("Authorization", &format!("Bearer {}", self.token))
            .content_type("application/json")
            .send(body.to_string());
        self.answer(&format!("{method} {path}"), sent)
    }

    /// `DELETE path?query`: the JSON answer as `T`.
    pub fn delete<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, RemoteError> {
        let mut request = self.request("DELETE", path);
        for (name, value) in query {
            request = request.query(*name, *value);
        }
        tracing::debug!(path, ?query, "DELETE");
        self.answer(&format!("DELETE {path}"), request.call())
            .map(|(_, value)| value)
    }

    /// `DELETE path` answered without a body (204).
    pub fn delete_empty(&self, path: &str) -> Result<(), RemoteError> {
        tracing::debug!(path, "DELETE");
        let sent = self.request("DELETE", path).call();
        self.check(&format!("DELETE {path}"), sent).map(|_| ())
    }

    /// `GET path` as an event stream: its events, `(name, data)`, as they come.
    pub fn events(&self, path: &str) -> Result<Events, RemoteError> {
        tracing::debug!(path, "GET (events)");
        let sent = self
            .request("GET", path)
            .header("Accept", "text/event-stream")
            .call();
        let response = self.check(&format!("GET {path}"), sent)?;
        Ok(Events {
            lines: BufReader::new(Box::new(response.into_body().into_reader())),
            url: self.base.clone(),
        })
    }
}

/// The events of a server-sent event stream.
pub struct Events {
    lines: BufReader<Box<dyn Read + Send>>,
    url: String,
}

impl Iterator for Events {
    type Item = anyhow::Result<(String, serde_json::Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            match self.lines.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => {
                    return Some(Err(anyhow::Error::from(err).context(format!(
                        "the connection to the daemon at {} broke",
                        self.url
                    ))));
                }
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                let parsed = serde_json::from_str(&data)
                    .with_context(|| format!("the daemon sent an event that is not JSON: {data}"));
                return Some(parsed.map(|value| (name, value)));
            }
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim_start().to_owned();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
        }
    }
}

/// `text` as one path segment: every byte but the unreserved ones percent-encoded.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// The API's JSON, read into ays-core's types (which serialize only): names and states are
// text that their `FromStr` checks.

fn text<'de, D: Deserializer<'de>, T: FromStr<Err: fmt::Display>>(d: D) -> Result<T, D::Error> {
    String::deserialize(d)?
        .parse()
        .map_err(serde::de::Error::custom)
}

fn texts<'de, D: Deserializer<'de>, T: FromStr<Err: fmt::Display>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|t| t.parse().map_err(serde::de::Error::custom))
        .collect()
}

fn opt_text<'de, D: Deserializer<'de>, T: FromStr<Err: fmt::Display>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|t| t.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// `GET .../job/{run}/{number}` and the items of `GET .../job`.
#[derive(Deserialize)]
pub struct JobWire {
    #[serde(deserialize_with = "text")]
    run: RunId,
    number: u32,
    #[serde(deserialize_with = "text")]
    service: ServiceKey,
    #[serde(deserialize_with = "text")]
    actor: ActorName,
    #[serde(deserialize_with = "text")]
    action: ActionName,
    code_key: String,
    #[serde(deserialize_with = "text")]
    state: JobState,
    state_changes: Vec<StateChangeWire>,
    logs: Vec<LogWire>,
    args: String,
    result: String,
    attempts: u32,
    max_attempts: u32,
    timeout_secs: u32,
    created_at: i64,
    started_at: i64,
    finished_at: i64,
}

#[derive(Deserialize)]
struct StateChangeWire {
    at_ms: i64,
    #[serde(deserialize_with = "text")]
    state: JobState,
}

#[derive(Deserialize)]
struct LogWire {
    at_ms: i64,
    #[serde(deserialize_with = "text")]
    category: ays_core::JobLogCategory,
    message: String,
}

impl From<JobWire> for JobRecord {
    fn from(j: JobWire) -> JobRecord {
        JobRecord {
            run: j.run,
            number: j.number,
            service: j.service,
            actor: j.actor,
            action: j.action,
            code_key: j.code_key,
            state: j.state,
            state_changes: j
                .state_changes
                .into_iter()
                .map(|c| JobStateChange {
                    at_ms: c.at_ms,
                    state: c.state,
                })
                .collect(),
            logs: j
                .logs
                .into_iter()
                .map(|l| JobLog {
                    at_ms: l.at_ms,
                    category: l.category,
                    message: l.message,
                })
                .collect(),
            args: j.args,
            result: j.result,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            timeout_secs: j.timeout_secs,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// The items of `GET .../aysrun`.
#[derive(Deserialize)]
pub struct RunSummaryWire {
    #[serde(deserialize_with = "text")]
    id: RunId,
    #[serde(deserialize_with = "text")]
    state: JobState,
    created_at: i64,
    finished_at: i64,
    steps: usize,
    jobs: usize,
    /// The queue request of a run asked for through the API.
    #[serde(default)]
    queue: Option<serde_json::Value>,
}

impl RunSummaryWire {
    /// Whether the run is stored (a request still queued, or refused, has no steps yet).
    pub fn is_stored(&self) -> bool {
        self.queue.is_none() || self.steps > 0
    }
}

impl From<RunSummaryWire> for RunSummary {
    fn from(r: RunSummaryWire) -> RunSummary {
        RunSummary {
            id: r.id,
            state: r.state,
            created_at: r.created_at,
            finished_at: r.finished_at,
            steps: r.steps,
            jobs: r.jobs,
        }
    }
}

#[derive(Deserialize)]
struct JobRefWire {
    number: u32,
    #[serde(deserialize_with = "text")]
    service: ServiceKey,
    #[serde(deserialize_with = "text")]
    actor: ActorName,
    #[serde(deserialize_with = "text")]
    action: ActionName,
}

#[derive(Deserialize)]
struct StepWire {
    number: u32,
    #[serde(deserialize_with = "text")]
    state: JobState,
    started_at: i64,
    finished_at: i64,
    jobs: Vec<JobRefWire>,
}

#[derive(Deserialize)]
struct RunWire {
    #[serde(deserialize_with = "text")]
    id: RunId,
    #[serde(deserialize_with = "text")]
    state: JobState,
    created_at: i64,
    finished_at: i64,
    steps: Vec<StepWire>,
}

impl From<RunWire> for RunRecord {
    fn from(r: RunWire) -> RunRecord {
        RunRecord {
            id: r.id,
            state: r.state,
            created_at: r.created_at,
            finished_at: r.finished_at,
            steps: r
                .steps
                .into_iter()
                .map(|s| RunStepRecord {
                    number: s.number,
                    state: s.state,
                    started_at: s.started_at,
                    finished_at: s.finished_at,
                    jobs: s
                        .jobs
                        .into_iter()
                        .map(|j| JobRef {
                            number: j.number,
                            service: j.service,
                            actor: j.actor,
                            action: j.action,
                        })
                        .collect(),
                })
                .collect(),
            settings: String::new(),
        }
    }
}

/// `GET .../aysrun/{run}`.
#[derive(Deserialize)]
pub struct RunDetailWire {
    run: RunWire,
    jobs: Vec<JobWire>,
}

impl From<RunDetailWire> for ays_run::RunDetail {
    fn from(d: RunDetailWire) -> ays_run::RunDetail {
        ays_run::RunDetail {
            run: d.run.into(),
            jobs: d.jobs.into_iter().map(JobRecord::from).collect(),
        }
    }
}

#[derive(Deserialize)]
struct ActionWire {
    #[serde(deserialize_with = "text")]
    name: ActionName,
    code_key: String,
    #[serde(deserialize_with = "text")]
    state: ActionState,
    period: u32,
    last_run: i64,
    log: bool,
}

/// `GET .../service/{role}/{name}`.
#[derive(Deserialize)]
pub struct ServiceWire {
    #[serde(deserialize_with = "text")]
    key: ServiceKey,
    #[serde(deserialize_with = "text")]
    actor: ActorName,
    role: String,
    instance: String,
    #[serde(deserialize_with = "opt_text")]
    parent: Option<ServiceKey>,
    #[serde(deserialize_with = "texts")]
    producers: Vec<ServiceKey>,
    #[serde(deserialize_with = "texts")]
    consumers: Vec<ServiceKey>,
    #[serde(deserialize_with = "texts")]
    children: Vec<ServiceKey>,
    actions: Vec<ActionWire>,
    event_filters: Vec<EventFilter>,
    data: serde_json::Value,
}

impl From<ServiceWire> for ServiceDetail {
    fn from(s: ServiceWire) -> ServiceDetail {
        ServiceDetail {
            key: s.key,
            actor: s.actor,
            role: s.role,
            instance: s.instance,
            parent: s.parent,
            producers: s.producers,
            consumers: s.consumers,
            children: s.children,
            actions: s
                .actions
                .into_iter()
                .map(|a| ServiceAction {
                    name: a.name,
                    code_key: a.code_key,
                    state: a.state,
                    period: a.period,
                    last_run: a.last_run,
                    log: a.log,
                })
                .collect(),
            event_filters: s.event_filters,
            data: s.data,
        }
    }
}

/// The items of `GET .../actor`.
#[derive(Deserialize)]
pub struct ActorWire {
    name: String,
    role: String,
    services: usize,
    actions: Vec<String>,
    origin: String,
}

impl From<ActorWire> for ActorSummary {
    fn from(a: ActorWire) -> ActorSummary {
        ActorSummary {
            name: a.name,
            role: a.role,
            services: a.services,
            actions: a.actions,
            origin: a.origin,
        }
    }
}

/// `POST .../blueprint/{name}`: what executing a blueprint did.
#[derive(Deserialize)]
pub struct BlueprintReportWire {
    files: Vec<String>,
    dry_run: bool,
    #[serde(deserialize_with = "texts")]
    actors_created: Vec<ActorName>,
    #[serde(deserialize_with = "texts")]
    created: Vec<ServiceKey>,
    updated: Vec<UpdatedWire>,
    scheduled: Vec<ScheduledWire>,
}

#[derive(Deserialize)]
struct UpdatedWire {
    #[serde(deserialize_with = "text")]
    key: ServiceKey,
    changed: Vec<String>,
    fields: Vec<FieldChangeWire>,
}

#[derive(Deserialize)]
struct FieldChangeWire {
    field: String,
    old: serde_json::Value,
    new: serde_json::Value,
}

#[derive(Deserialize)]
struct ScheduledWire {
    #[serde(deserialize_with = "text")]
    key: ServiceKey,
    #[serde(deserialize_with = "text")]
    action: ActionName,
    #[serde(deserialize_with = "text")]
    from: ActionState,
    #[serde(deserialize_with = "text")]
    to: ActionState,
}

impl From<BlueprintReportWire> for BlueprintReport {
    fn from(r: BlueprintReportWire) -> BlueprintReport {
        BlueprintReport {
            files: r.files,
            dry_run: r.dry_run,
            actors_created: r.actors_created,
            created: r.created,
            updated: r
                .updated
                .into_iter()
                .map(|u| UpdatedService {
                    key: u.key,
                    changed: u.changed,
                    fields: u
                        .fields
                        .into_iter()
                        .map(|f| FieldChange {
                            field: f.field,
                            old: f.old,
                            new: f.new,
                        })
                        .collect(),
                })
                .collect(),
            scheduled: r
                .scheduled
                .into_iter()
                .map(|s| ScheduledAction {
                    key: s.key,
                    action: s.action,
                    from: s.from,
                    to: s.to,
                })
                .collect(),
        }
    }
}

/// `DELETE .../service/{role}/{name}`: what was deleted and unlinked.
#[derive(Deserialize)]
pub struct DeletedWire {
    #[serde(deserialize_with = "texts")]
    deleted: Vec<ServiceKey>,
    unlinked: Vec<UnlinkedWire>,
}

#[derive(Deserialize)]
struct UnlinkedWire {
    #[serde(deserialize_with = "text")]
    service: ServiceKey,
    #[serde(deserialize_with = "text")]
    lost: ServiceKey,
    field: String,
    min: u32,
    left: u32,
}

impl From<DeletedWire> for DeletePlan {
    fn from(d: DeletedWire) -> DeletePlan {
        DeletePlan {
            deleted: d.deleted,
            unlinked: d
                .unlinked
                .into_iter()
                .map(|u| Unlinked {
                    service: u.service,
                    lost: u.lost,
                    field: u.field,
                    min: u.min,
                    left: u.left,
                })
                .collect(),
        }
    }
}

/// `PUT .../actor/{actor}`: the actor and what its update changed.
#[derive(Deserialize)]
pub struct ActorUpdatedWire {
    actor: NamedWire,
    update: ActorUpdateWire,
}

#[derive(Deserialize)]
struct NamedWire {
    name: String,
}

#[derive(Deserialize)]
struct ActorUpdateWire {
    #[serde(deserialize_with = "texts")]
    changed_actions: Vec<ActionName>,
    #[serde(deserialize_with = "texts")]
    added_actions: Vec<ActionName>,
    #[serde(deserialize_with = "texts")]
    removed_actions: Vec<ActionName>,
    added_fields: Vec<String>,
    removed_fields: Vec<String>,
    actor_changed: bool,
    services: usize,
}

impl From<ActorUpdatedWire> for ActorUpdate {
    fn from(a: ActorUpdatedWire) -> ActorUpdate {
        let u = a.update;
        ActorUpdate {
            actor: a.actor.name,
            changed_actions: u.changed_actions,
            added_actions: u.added_actions,
            removed_actions: u.removed_actions,
            added_fields: u.added_fields,
            removed_fields: u.removed_fields,
            actor_changed: u.actor_changed,
            services: u.services,
        }
    }
}

/// `POST .../destroy`: what was removed.
#[derive(Deserialize)]
pub struct DestroyWire {
    actors: usize,
    services: usize,
}

impl From<DestroyWire> for DestroyReport {
    fn from(d: DestroyWire) -> DestroyReport {
        DestroyReport {
            actors: d.actors,
            services: d.services,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("node!web 1"), "node%21web%201");
        assert_eq!(segment("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn api_errors_of_the_request_are_bad_input() {
        let api = |status| RemoteError::Api {
            status,
            code: "x".into(),
            message: "y".into(),
        };
        assert!(api(404).is_bad_input());
        assert!(api(401).is_bad_input());
        assert!(!api(409).is_bad_input());
        let needed = RemoteError::Api {
            status: 409,
            code: "producer_needed".into(),
            message: "y".into(),
        };
        assert!(
            needed.is_bad_input(),
            "as CoreError::ProducerNeeded is locally"
        );
        assert!(!api(503).is_bad_input());
        assert_eq!(api(404).to_string(), "x: y");
    }
}
