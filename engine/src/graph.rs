//! The build graph: steps and their dependency edges, checked once on construction.
//!
//! Construction rejects duplicate ids, unknown dependencies and cycles (engine errors, not
//! step failures) and fixes a deterministic topological order used for reports.

use std::collections::HashMap;
use std::sync::Arc;

use crate::step::Step;

/// A malformed graph. These are bugs in the domain's planner, never user errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// Two steps share an id.
    #[error("two steps have the id `{0}`")]
    DuplicateId(String),
    /// A step depends on an id that is not in the graph.
    #[error("step `{step}` depends on unknown step `{dep}`")]
    UnknownDep {
        /// The dependent.
        step: String,
        /// The missing id.
        dep: String,
    },
    /// The dependencies form a cycle through these steps.
    #[error("dependency cycle through: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// A checked, acyclic set of steps.
pub struct Graph {
    pub(crate) steps: Vec<Arc<dyn Step>>,
    /// For each step (by index), the indices of its dependencies.
    pub(crate) deps: Vec<Vec<usize>>,
    /// For each step, the indices of the steps that depend on it.
    pub(crate) dependents: Vec<Vec<usize>>,
    /// A topological order (dependencies first, ties in insertion order).
    pub(crate) order: Vec<usize>,
}

impl Graph {
    /// Checks and indexes `steps`.
    pub fn new(steps: Vec<Arc<dyn Step>>) -> Result<Self, GraphError> {
        let mut index = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            if index.insert(s.id().to_string(), i).is_some() {
                return Err(GraphError::DuplicateId(s.id().to_string()));
            }
        }
        let mut deps = Vec::with_capacity(steps.len());
        let mut dependents = vec![Vec::new(); steps.len()];
        for (i, s) in steps.iter().enumerate() {
            let mut d = Vec::new();
            for dep in s.deps() {
                let j = *index.get(dep).ok_or_else(|| GraphError::UnknownDep {
                    step: s.id().to_string(),
                    dep: dep.clone(),
                })?;
                d.push(j);
                dependents[j].push(i);
            }
            deps.push(d);
        }
        let order = topo_order(&steps, &deps)?;
        Ok(Graph {
            steps,
            deps,
            dependents,
            order,
        })
    }

    /// The steps in topological order.
    pub fn steps_in_order(&self) -> impl Iterator<Item = &Arc<dyn Step>> {
        self.order.iter().map(|&i| &self.steps[i])
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the graph has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

fn topo_order(steps: &[Arc<dyn Step>], deps: &[Vec<usize>]) -> Result<Vec<usize>, GraphError> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut mark = vec![0u8; steps.len()];
    let mut order = Vec::with_capacity(steps.len());
    for start in 0..steps.len() {
        let mut stack = vec![(start, 0usize)];
        while let Some((i, next)) = stack.pop() {
            if next == 0 {
                match mark[i] {
                    2 => continue,
                    1 => return Err(cycle(steps, &stack, i)),
                    _ => mark[i] = 1,
                }
            }
            if let Some(&d) = deps[i].get(next) {
                stack.push((i, next + 1));
                if mark[d] == 1 {
                    stack.push((i, 0));
                    return Err(cycle(steps, &stack, d));
                }
                stack.push((d, 0));
            } else {
                mark[i] = 2;
                order.push(i);
            }
        }
    }
    Ok(order)
}

fn cycle(steps: &[Arc<dyn Step>], stack: &[(usize, usize)], at: usize) -> GraphError {
    let mut path: Vec<String> = Vec::new();
    let mut seen = false;
    for &(i, _) in stack {
        if i == at {
            seen = true;
        }
        if seen && path.last().map(String::as_str) != Some(steps[i].id()) {
            path.push(steps[i].id().to_string());
        }
    }
    path.push(steps[at].id().to_string());
    GraphError::Cycle(path)
}
