//! Strongly connected components (Tarjan 1972) and topological ranks, over the arcs of a
//! [`Csr`] whose kinds are in a [`KindSet`]. Both are iterative, so a long chain of transactions
//! cannot overflow the stack.

use std::collections::VecDeque;

use super::csr::{Csr, KindSet};

const UNVISITED: usize = usize::MAX;

/// The strongly connected components of more than one node, each listed in the order Tarjan's
/// algorithm closes it. Every cycle of the graph lies inside one of them.
pub(super) fn components(graph: &Csr, allowed: KindSet) -> Vec<Vec<usize>> {
    let nodes = graph.len();
    let mut index = vec![UNVISITED; nodes];
    let mut low = vec![0; nodes];
    let mut on_stack = vec![false; nodes];
    let mut stack: Vec<usize> = Vec::new();
    // The depth-first path: each node and how many of its arcs it has looked at.
    let mut path: Vec<(usize, usize)> = Vec::new();
    let mut next_index = 0;
    let mut found = Vec::new();
    for root in 0..nodes {
        if index[root] != UNVISITED {
            continue;
        }
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        path.push((root, 0));
        while let Some(&mut (node, ref mut seen)) = path.last_mut() {
            if let Some(arc) = graph.arcs(node).get(*seen) {
                *seen += 1;
                if !allowed.contains(arc.kind) {
                    continue;
                }
                let to = arc.to;
                if index[to] == UNVISITED {
                    index[to] = next_index;
                    low[to] = next_index;
                    next_index += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    path.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(index[to]);
                }
                continue;
            }
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    found.push(component);
                }
            }
        }
    }
    found
}

/// A rank per node such that every allowed arc goes from a lower rank to a higher one, when the
/// allowed arcs form no cycle (Kahn 1962). Nodes on a cycle get `usize::MAX`.
pub(super) fn topological_ranks(graph: &Csr, allowed: KindSet) -> Vec<usize> {
    let nodes = graph.len();
    let mut incoming = vec![0usize; nodes];
    for node in 0..nodes {
        for arc in graph.arcs(node).iter().filter(|arc| allowed.contains(arc.kind)) {
            incoming[arc.to] += 1;
        }
    }
    let mut ready: VecDeque<usize> = (0..nodes).filter(|&node| incoming[node] == 0).collect();
    let mut rank = vec![usize::MAX; nodes];
    let mut next = 0;
    while let Some(node) = ready.pop_front() {
        rank[node] = next;
        next += 1;
        for arc in graph.arcs(node).iter().filter(|arc| allowed.contains(arc.kind)) {
            incoming[arc.to] -= 1;
            if incoming[arc.to] == 0 {
                ready.push_back(arc.to);
            }
        }
    }
    rank
}
