//! A plan: the jobs of a run, their prerequisites and their steps.

use std::fmt::Write as _;

use ays_core::{ActionName, ActionState, ActorName, ServiceKey};

use crate::error::JobKey;

/// The index of a job in its [`Plan`]; job ids follow step order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub(crate) usize);

impl JobId {
    /// The position of the job in [`Plan::jobs`].
    pub fn index(self) -> usize {
        self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job{}", self.0)
    }
}

/// One job of a plan: an action of a service that is not `ok` yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedJob {
    pub(crate) id: JobId,
    pub(crate) key: JobKey,
    pub(crate) actor: ActorName,
    pub(crate) state: ActionState,
    pub(crate) step: usize,
    pub(crate) prerequisites: Vec<JobId>,
}

impl PlannedJob {
    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The (service, action) pair.
    pub fn key(&self) -> &JobKey {
        &self.key
    }

    /// The service.
    pub fn service(&self) -> &ServiceKey {
        &self.key.service
    }

    /// The action.
    pub fn action(&self) -> &ActionName {
        &self.key.action
    }

    /// The service's actor.
    pub fn actor(&self) -> &ActorName {
        &self.actor
    }

    /// The action's state when the plan was made.
    pub fn state(&self) -> ActionState {
        self.state
    }

    /// The step the job belongs to, from 1.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The jobs that must end `ok` before this one starts (the nearest jobs before it in the
    /// dependency graph, looking through actions that are already `ok`).
    pub fn prerequisites(&self) -> &[JobId] {
        &self.prerequisites
    }
}

/// One step: jobs that may all run at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub(crate) number: usize,
    pub(crate) jobs: Vec<JobId>,
}

impl Step {
    /// The step number, from 1.
    pub fn number(&self) -> usize {
        self.number
    }

    /// The jobs of the step.
    pub fn jobs(&self) -> &[JobId] {
        &self.jobs
    }
}

/// The jobs of a run, grouped in steps, each with its prerequisite jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub(crate) jobs: Vec<PlannedJob>,
    pub(crate) steps: Vec<Step>,
}

impl Plan {
    /// All jobs, in step order.
    pub fn jobs(&self) -> &[PlannedJob] {
        &self.jobs
    }

    /// One job.
    pub fn job(&self, id: JobId) -> Option<&PlannedJob> {
        self.jobs.get(id.0)
    }

    /// The job of a (service, action) pair, if planned.
    pub fn find(&self, service: &str, action: &str) -> Option<&PlannedJob> {
        self.jobs
            .iter()
            .find(|job| job.key.service.as_str() == service && job.key.action.as_str() == action)
    }

    /// The steps, in order (the `steps` schedule).
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The plan as text: one block per step, one line per job with its prerequisites.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            let _ = writeln!(out, "step {}", step.number);
            for job in step.jobs.iter().filter_map(|id| self.job(*id)) {
                let _ = write!(
                    out,
                    "  {} {} [{}]",
                    job.key.service, job.key.action, job.state
                );
                let mut first = true;
                for pre in job.prerequisites.iter().filter_map(|id| self.job(*id)) {
                    out.push_str(if first { " after " } else { ", " });
                    first = false;
                    let _ = write!(out, "{}", pre.key);
                }
                out.push('\n');
            }
        }
        if self.steps.is_empty() {
            out.push_str("nothing to do\n");
        }
        out
    }

    /// The plan as a Graphviz DOT digraph: one cluster per step, an edge from each prerequisite.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
        for step in &self.steps {
            let _ = writeln!(out, "  subgraph cluster_step{} {{", step.number);
            let _ = writeln!(out, "    label=\"step {}\";", step.number);
            for job in step.jobs.iter().filter_map(|id| self.job(*id)) {
                let _ = writeln!(
                    out,
                    "    {} [label=\"{}\\n{}\"];",
                    job.id,
                    dot_escape(job.key.service.as_str()),
                    dot_escape(job.key.action.as_str())
                );
            }
            out.push_str("  }\n");
        }
        for job in &self.jobs {
            for pre in &job.prerequisites {
                let _ = writeln!(out, "  {pre} -> {};", job.id);
            }
        }
        out.push_str("}\n");
        out
    }
}

fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
