//! Finding dependency cycles and naming them, as Elle does: the graph's strongly connected
//! components hold every cycle, and inside each, a breadth-first search finds a short cycle of
//! the mildest kind the component holds.
//!
//! In each component the searches go, first without real-time edges and then with them:
//! ww edges only (G0); ww and wr (G1c); exactly one rw edge closed by a ww/wr path (G-single);
//! then any edges (G2). The first cycle found is the component's anomaly, named by the edges it
//! actually has ([`Cycle::new`]). So a component gets a `-realtime` anomaly only when none of its
//! cycles can do without real time.

use super::anomaly::{Cycle, EdgeKind, Step};
use super::csr::{Csr, KindSet};
use super::graph::Graph;
use super::path::{Bfs, PathStep};
use super::scc;

/// Arcs the single-anti-dependency searches may look at over a whole check. They are the only
/// searches whose total cost is not linear in the graph, since each rw edge may need its own;
/// past this, a component holding a G-single cycle may be reported with a G2 cycle instead.
const SINGLE_SEARCH_STEPS: u64 = 20_000_000;

/// Components at most this large are searched from every node, for the shortest cycle; larger
/// ones from one node only, to keep the cost linear.
const EXHAUSTIVE_COMPONENT: usize = 32;

/// The cycles found, one per strongly connected component, and whether the budget for
/// single-anti-dependency searches ran out.
pub(super) fn find_cycles(graph: &Graph) -> (Vec<Cycle>, bool) {
    let mut components = scc::components(&graph.csr, KindSet::ALL);
    // Components in order of their first transaction, so reports read in history order.
    for component in &mut components {
        component.sort_unstable();
    }
    components.sort_unstable_by_key(|component| component.first().copied());
    let mut scratch = vec![usize::MAX; graph.csr.len()];
    let mut budget = SINGLE_SEARCH_STEPS;
    let mut cycles = Vec::with_capacity(components.len());
    for nodes in &components {
        let local = graph.csr.induced(nodes, &mut scratch);
        if let Some(path) = search_component(&local, &mut budget) {
            let steps = path
                .into_iter()
                .filter_map(|(from, arc)| {
                    let edge = graph.edges.get(arc.edge)?;
                    Some(Step::new(*nodes.get(from)?, *nodes.get(arc.to)?, edge.dependency.clone()))
                })
                .collect();
            cycles.push(Cycle::new(rotate_to_smallest(steps)));
        }
    }
    (cycles, budget == 0)
}

/// The mildest short cycle in a strongly connected graph.
fn search_component(graph: &Csr, budget: &mut u64) -> Option<Vec<PathStep>> {
    let ww = KindSet::of(EdgeKind::WriteWrite);
    let realtime = KindSet::of(EdgeKind::Realtime);
    for extra in [KindSet::NONE, realtime] {
        let writes = ww.union(extra);
        let flows = writes.with(EdgeKind::WriteRead);
        let found = cycle_within(graph, writes)
            .or_else(|| cycle_within(graph, flows))
            .or_else(|| single_anti_dependency(graph, flows, budget))
            .or_else(|| cycle_within(graph, flows.with(EdgeKind::ReadWrite)));
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A short cycle of `allowed` arcs, if there is one: the shortest through some node of the
/// smallest component they make.
fn cycle_within(graph: &Csr, allowed: KindSet) -> Option<Vec<PathStep>> {
    let component = scc::components(graph, allowed).into_iter().min_by_key(Vec::len)?;
    let mut member = vec![false; graph.len()];
    for &node in &component {
        member[node] = true;
    }
    let mut bfs = Bfs::new(graph.len());
    let starts = if component.len() <= EXHAUSTIVE_COMPONENT { &component[..] } else { &component[..1] };
    starts
        .iter()
        .filter_map(|&start| {
            // Unbounded: one search costs at most the component's size.
            let mut unbounded = u64::MAX;
            bfs.path(graph, start, start, allowed, |node| member[node], &mut unbounded)
        })
        .min_by_key(Vec::len)
}

/// A cycle of one rw arc and a path of `base` arcs back, when `base` arcs alone make no cycle:
/// for each rw arc `a -> b`, a search for a path from `b` to `a`, through nodes no later than `a`
/// in a topological order of the `base` arcs.
fn single_anti_dependency(graph: &Csr, base: KindSet, budget: &mut u64) -> Option<Vec<PathStep>> {
    let rank = scc::topological_ranks(graph, base);
    let mut bfs = Bfs::new(graph.len());
    for node in 0..graph.len() {
        for arc in graph.arcs(node).iter().filter(|arc| arc.kind == EdgeKind::ReadWrite) {
            if *budget == 0 {
                return None;
            }
            if rank[arc.to] >= rank[node] {
                continue;
            }
            let limit = rank[node];
            if let Some(back) = bfs.path(graph, arc.to, node, base, |other| rank[other] < limit, budget) {
                let mut cycle = vec![(node, *arc)];
                cycle.extend(back);
                return Some(cycle);
            }
        }
    }
    None
}

/// The same cycle, starting at its smallest transaction.
fn rotate_to_smallest(mut steps: Vec<Step>) -> Vec<Step> {
    if let Some(first) = steps.iter().enumerate().min_by_key(|(_, step)| step.from).map(|(at, _)| at) {
        steps.rotate_left(first);
    }
    steps
}
