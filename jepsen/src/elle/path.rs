//! Shortest paths by breadth-first search, for turning a component known to hold a cycle into
//! one short cycle.

use std::collections::VecDeque;

use super::csr::{Arc, Csr, KindSet};

/// Breadth-first search state, reused between searches on one graph so each search costs only
/// what it visits.
#[derive(Debug)]
pub(super) struct Bfs {
    /// The arc each node was first reached by, valid where `seen` holds the current generation.
    parent: Vec<(usize, Arc)>,
    seen: Vec<u32>,
    generation: u32,
    queue: VecDeque<usize>,
}

/// One step of a path: the node it leaves and the arc it takes.
pub(super) type PathStep = (usize, Arc);

impl Bfs {
    /// Search state for a graph of `nodes` nodes.
    pub(super) fn new(nodes: usize) -> Self {
        let placeholder = Arc { to: 0, kind: super::anomaly::EdgeKind::WriteWrite, edge: 0 };
        Self {
            parent: vec![(0, placeholder); nodes],
            seen: vec![0; nodes],
            generation: 0,
            queue: VecDeque::new(),
        }
    }

    /// A shortest path of allowed arcs from `start` to `goal` through nodes `keep` accepts; a
    /// shortest cycle through `start` when `goal` is `start`. Each arc looked at costs one unit
    /// of `budget`; `None` when there is no such path or the budget runs out first.
    pub(super) fn path(
        &mut self,
        graph: &Csr,
        start: usize,
        goal: usize,
        allowed: KindSet,
        keep: impl Fn(usize) -> bool,
        budget: &mut u64,
    ) -> Option<Vec<PathStep>> {
        self.generation = self.generation.checked_add(1).unwrap_or_else(|| {
            self.seen.fill(0);
            1
        });
        self.queue.clear();
        *self.seen.get_mut(start)? = self.generation;
        self.queue.push_back(start);
        while let Some(node) = self.queue.pop_front() {
            for arc in graph.arcs(node) {
                *budget = budget.checked_sub(1)?;
                if !allowed.contains(arc.kind) {
                    continue;
                }
                if arc.to == goal {
                    return Some(self.trace(start, (node, *arc)));
                }
                if self.seen[arc.to] != self.generation && keep(arc.to) {
                    self.seen[arc.to] = self.generation;
                    self.parent[arc.to] = (node, *arc);
                    self.queue.push_back(arc.to);
                }
            }
        }
        None
    }

    /// The path to `last`'s source and then `last`, from `start`.
    fn trace(&self, start: usize, last: PathStep) -> Vec<PathStep> {
        let mut steps = vec![last];
        let mut node = last.0;
        while node != start {
            let step = self.parent[node];
            steps.push(step);
            node = step.0;
        }
        steps.reverse();
        steps
    }
}
