//! The planner: from a [`PlanInput`] to a [`Plan`] (AYS 8.1 §5.2).
//!
//! Nodes are (service, action) pairs. The seeds are the actions in `scheduled`, `changed` or
//! `error`. From each node the planner pulls in, recursively, the actions its actor's chain says
//! it needs on the same service, then the same action on every producer (the parent counts as a
//! producer), or on every consumer for `stop` and `uninstall`, which tear down consumers first.
//! Unlike 8.1, a pulled-in producer action is expanded like a seed (its own chain and producers),
//! because `init` is an ordinary action here rather than something done at creation.
//!
//! The steps are the Kahn layers of that graph. Nodes whose action is already `ok`, or that the
//! service does not define, are not jobs but still order the others; layers holding no job make no
//! step.

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use tracing::{debug, instrument};

use ays_core::{ActionName, ActionState};

use crate::error::{JobKey, PlanError};
use crate::input::{ActionChains, PlanInput, ServiceInput};
use crate::plan::{JobId, Plan, PlannedJob, Step};

static DEFAULT_CHAINS: LazyLock<ActionChains> = LazyLock::new(ActionChains::default);

/// Builds plans. It holds no state between calls.
#[derive(Debug, Clone, Default)]
pub struct Planner {
    only_actions: Vec<ActionName>,
}

impl Planner {
    /// A planner seeding every candidate action.
    pub fn new() -> Self {
        Self::default()
    }

    /// Seeds only candidates of these actions (`ays run --action`); prerequisites are still
    /// pulled in whatever their name.
    pub fn only_actions(mut self, actions: &[ActionName]) -> Self {
        self.only_actions = actions.to_vec();
        self
    }

    /// Builds the plan of the candidate actions of `input`.
    ///
    /// # Errors
    ///
    /// [`PlanError::UnknownService`] for a relation to a missing service,
    /// [`PlanError::DisabledPrerequisite`] when a needed action is disabled and
    /// [`PlanError::Cycle`] naming the actions of a dependency cycle.
    #[instrument(skip_all, fields(services = input.services.len()))]
    pub fn plan(&self, input: &PlanInput) -> Result<Plan, PlanError> {
        let mut graph = Graph::new(input)?;
        for (index, service) in graph.services.iter().enumerate() {
            for (action, state) in &service.actions {
                let wanted = self.only_actions.is_empty() || self.only_actions.contains(action);
                if state.is_candidate() && wanted {
                    graph.seeds.push((index, action));
                }
            }
        }
        graph.expand()?;
        let plan = graph.layer()?;
        debug!(
            jobs = plan.jobs.len(),
            steps = plan.steps.len(),
            "plan built"
        );
        Ok(plan)
    }
}

struct Graph<'a> {
    services: Vec<&'a ServiceInput>,
    chains: Vec<&'a ActionChains>,
    producers: Vec<Vec<usize>>,
    consumers: Vec<Vec<usize>>,
    seeds: Vec<(usize, &'a ActionName)>,
    nodes: HashMap<(usize, &'a ActionName), NodeIndex>,
    graph: DiGraph<(usize, &'a ActionName), ()>,
}

impl<'a> Graph<'a> {
    fn new(input: &'a PlanInput) -> Result<Self, PlanError> {
        let services: Vec<&ServiceInput> = input.services.values().collect();
        let index: HashMap<_, _> = services
            .iter()
            .enumerate()
            .map(|(i, s)| (&s.key, i))
            .collect();
        let mut producers = vec![Vec::new(); services.len()];
        let mut consumers = vec![Vec::new(); services.len()];
        for (i, service) in services.iter().enumerate() {
            for producer in &service.producers {
                let p = *index
                    .get(producer)
                    .ok_or_else(|| PlanError::UnknownService {
                        service: service.key.clone(),
                        missing: producer.clone(),
                    })?;
                if let Some(list) = producers.get_mut(i) {
                    list.push(p);
                }
                if let Some(list) = consumers.get_mut(p) {
                    list.push(i);
                }
            }
        }
        let chains = services
            .iter()
            .map(|s| input.chains.get(&s.actor).unwrap_or(&DEFAULT_CHAINS))
            .collect();
        Ok(Self {
            services,
            chains,
            producers,
            consumers,
            seeds: Vec::new(),
            nodes: HashMap::new(),
            graph: DiGraph::new(),
        })
    }

    fn key(&self, node: NodeIndex) -> Option<JobKey> {
        let (service, action) = *self.graph.node_weight(node)?;
        Some(JobKey {
            service: self.services.get(service)?.key.clone(),
            action: action.clone(),
        })
    }

    fn state(&self, node: NodeIndex) -> Option<ActionState> {
        let (service, action) = *self.graph.node_weight(node)?;
        self.services.get(service)?.actions.get(action).copied()
    }

    /// Whether the node is a job: the service defines the action and it is not `ok`.
    fn is_job(&self, node: NodeIndex) -> bool {
        self.state(node).is_some_and(|s| s != ActionState::Ok)
    }

    /// Returns the node of a pair, creating it (and queueing it for expansion) if needed.
    fn node(
        &mut self,
        pair: (usize, &'a ActionName),
        work: &mut Vec<NodeIndex>,
    ) -> Result<NodeIndex, PlanError> {
        if let Some(node) = self.nodes.get(&pair) {
            return Ok(*node);
        }
        let node = self.graph.add_node(pair);
        self.nodes.insert(pair, node);
        work.push(node);
        Ok(node)
    }

    /// Adds `needed -> needer` and refuses a disabled prerequisite.
    fn need(&mut self, needer: NodeIndex, needed: NodeIndex) -> Result<(), PlanError> {
        if self.state(needed) == Some(ActionState::Disabled)
            && let (Some(disabled), Some(needed_by)) = (self.key(needed), self.key(needer))
        {
            return Err(PlanError::DisabledPrerequisite {
                disabled,
                needed_by,
            });
        }
        self.graph.add_edge(needed, needer, ());
        Ok(())
    }

    fn expand(&mut self) -> Result<(), PlanError> {
        let mut work = Vec::new();
        for pair in std::mem::take(&mut self.seeds) {
            self.node(pair, &mut work)?;
        }
        while let Some(node) = work.pop() {
            let Some(&(service, action)) = self.graph.node_weight(node) else {
                continue;
            };
            let chains = self.chains.get(service).copied().unwrap_or(&DEFAULT_CHAINS);
            for need in chains.needs(action) {
                let needed = self.node((service, need), &mut work)?;
                self.need(node, needed)?;
            }
            let others = if action.is_teardown() {
                self.consumers.get(service)
            } else {
                self.producers.get(service)
            };
            for other in others.cloned().unwrap_or_default() {
                let needed = self.node((other, action), &mut work)?;
                self.need(node, needed)?;
            }
        }
        Ok(())
    }

    /// Kahn layering, then jobs, steps and job prerequisites.
    fn layer(&self) -> Result<Plan, PlanError> {
        let count = self.graph.node_count();
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| {
                self.graph
                    .neighbors_directed(n, Direction::Incoming)
                    .count()
            })
            .collect();
        let mut layers: Vec<Vec<NodeIndex>> = Vec::new();
        let mut current: Vec<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| indegree.get(n.index()) == Some(&0))
            .collect();
        let mut done = 0;
        while !current.is_empty() {
            done += current.len();
            let mut next = Vec::new();
            for node in &current {
                for succ in self.graph.neighbors_directed(*node, Direction::Outgoing) {
                    if let Some(d) = indegree.get_mut(succ.index()) {
                        *d = d.saturating_sub(1);
                        if *d == 0 {
                            next.push(succ);
                        }
                    }
                }
            }
            layers.push(std::mem::replace(&mut current, next));
        }
        if done < count {
            return Err(PlanError::Cycle {
                cycle: self.find_cycle(),
            });
        }
        self.build_plan(&layers)
    }

    fn build_plan(&self, layers: &[Vec<NodeIndex>]) -> Result<Plan, PlanError> {
        let mut job_of: Vec<Option<JobId>> = vec![None; self.graph.node_count()];
        let mut plan = Plan::default();
        for layer in layers {
            let mut jobs: Vec<NodeIndex> =
                layer.iter().copied().filter(|n| self.is_job(*n)).collect();
            if jobs.is_empty() {
                continue;
            }
            jobs.sort_by_key(|n| self.graph.node_weight(*n).copied());
            let number = plan.steps.len() + 1;
            let mut ids = Vec::with_capacity(jobs.len());
            for node in jobs {
                let id = JobId(plan.jobs.len());
                if let Some(slot) = job_of.get_mut(node.index()) {
                    *slot = Some(id);
                }
                let service = self
                    .graph
                    .node_weight(node)
                    .and_then(|(s, _)| self.services.get(*s));
                let (Some(key), Some(service), Some(state)) =
                    (self.key(node), service, self.state(node))
                else {
                    continue;
                };
                plan.jobs.push(PlannedJob {
                    id,
                    key,
                    actor: service.actor.clone(),
                    state,
                    step: number,
                    prerequisites: Vec::new(),
                });
                ids.push(id);
            }
            plan.steps.push(Step { number, jobs: ids });
        }
        // Prerequisite jobs, looking through non-job nodes, in topological (layer) order.
        let mut reach: Vec<Vec<JobId>> = vec![Vec::new(); self.graph.node_count()];
        for node in layers.iter().flatten() {
            let mut found = Vec::new();
            for pred in self.graph.neighbors_directed(*node, Direction::Incoming) {
                match job_of.get(pred.index()).copied().flatten() {
                    Some(id) => found.push(id),
                    None => found.extend(reach.get(pred.index()).into_iter().flatten().copied()),
                }
            }
            found.sort_unstable();
            found.dedup();
            match job_of.get(node.index()).copied().flatten() {
                Some(id) => {
                    if let Some(job) = plan.jobs.get_mut(id.0) {
                        job.prerequisites = found;
                    }
                }
                None => {
                    if let Some(slot) = reach.get_mut(node.index()) {
                        *slot = found;
                    }
                }
            }
        }
        Ok(plan)
    }

    /// Finds one cycle, in "needs" order, starting from its smallest node.
    fn find_cycle(&self) -> Vec<JobKey> {
        let sccs = petgraph::algo::tarjan_scc(&self.graph);
        let cyclic = sccs
            .into_iter()
            .filter(|scc| scc.len() > 1 || scc.iter().any(|n| self.graph.contains_edge(*n, *n)));
        let Some(scc) = cyclic.min_by_key(|scc| scc.iter().map(|n| self.key(*n)).min()) else {
            return Vec::new();
        };
        let Some(start) = scc.iter().copied().min_by_key(|n| self.key(*n)) else {
            return Vec::new();
        };
        // Breadth-first along "needs" edges (incoming) inside the component, back to the start.
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut end = None;
        while let Some(node) = queue.pop_front() {
            if self.graph.contains_edge(start, node) {
                end = Some(node);
                break;
            }
            for next in self.graph.neighbors_directed(node, Direction::Incoming) {
                if next != start && scc.contains(&next) && !parent.contains_key(&next) {
                    parent.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        let mut path = Vec::new();
        let mut at = end;
        while let Some(node) = at {
            path.push(node);
            at = if node == start {
                None
            } else {
                parent.get(&node).copied()
            };
        }
        path.reverse();
        path.into_iter().filter_map(|n| self.key(n)).collect()
    }
}
