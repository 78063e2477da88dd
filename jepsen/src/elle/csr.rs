//! A compact adjacency list (compressed sparse rows) for the dependency graph and its pieces,
//! and the sets of edge kinds a search may follow.

use super::anomaly::EdgeKind;

/// A set of edge kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KindSet(u8);

impl KindSet {
    /// No kinds.
    pub(super) const NONE: KindSet = KindSet(0);
    /// Every kind.
    pub(super) const ALL: KindSet = KindSet(0b1111);

    /// The set holding just `kind`.
    pub(super) const fn of(kind: EdgeKind) -> KindSet {
        KindSet(1 << kind as u8)
    }

    /// This set and `kind`.
    pub(super) const fn with(self, kind: EdgeKind) -> KindSet {
        KindSet(self.0 | KindSet::of(kind).0)
    }

    /// The kinds in either set.
    pub(super) const fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    /// Whether `kind` is in the set.
    pub(super) fn contains(self, kind: EdgeKind) -> bool {
        self.0 & KindSet::of(kind).0 != 0
    }
}

/// One outgoing edge of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arc {
    /// The node it leads to.
    pub(super) to: usize,
    /// Its kind.
    pub(super) kind: EdgeKind,
    /// The edge it stands for, as an index into the dependency graph's edge list.
    pub(super) edge: usize,
}

/// Nodes `0..len()` and their outgoing arcs.
#[derive(Debug, Clone, Default)]
pub(super) struct Csr {
    /// Node `n`'s arcs are `arcs[offsets[n]..offsets[n + 1]]`.
    offsets: Vec<usize>,
    arcs: Vec<Arc>,
}

impl Csr {
    /// A graph of `nodes` nodes with the given `(from, arc)` pairs. Each node's arcs keep the
    /// order they are given in. Pairs naming a node out of range are dropped.
    pub(super) fn new(nodes: usize, arcs: impl Iterator<Item = (usize, Arc)> + Clone) -> Self {
        let mut offsets = vec![0; nodes + 1];
        for (from, arc) in arcs.clone() {
            if from < nodes && arc.to < nodes {
                offsets[from + 1] += 1;
            }
        }
        for node in 0..nodes {
            offsets[node + 1] += offsets[node];
        }
        let mut next = offsets.clone();
        let placeholder = Arc { to: 0, kind: EdgeKind::WriteWrite, edge: 0 };
        let mut placed = vec![placeholder; offsets[nodes]];
        for (from, arc) in arcs {
            if from < nodes && arc.to < nodes {
                placed[next[from]] = arc;
                next[from] += 1;
            }
        }
        Self { offsets, arcs: placed }
    }

    /// How many nodes it has.
    pub(super) fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The arcs leaving `node`.
    pub(super) fn arcs(&self, node: usize) -> &[Arc] {
        match (self.offsets.get(node), self.offsets.get(node + 1)) {
            (Some(&start), Some(&end)) => &self.arcs[start..end],
            _ => &[],
        }
    }

    /// The subgraph induced by `nodes`, whose node `i` is `nodes[i]`. `scratch` must have an
    /// entry per node of this graph, all `usize::MAX`; it is left that way.
    pub(super) fn induced(&self, nodes: &[usize], scratch: &mut [usize]) -> Csr {
        for (local, &node) in nodes.iter().enumerate() {
            scratch[node] = local;
        }
        let lookup: &[usize] = scratch;
        let arcs = nodes.iter().enumerate().flat_map(|(local, &node)| {
            self.arcs(node).iter().filter_map(move |arc| {
                let to = lookup[arc.to];
                (to != usize::MAX).then_some((local, Arc { to, ..*arc }))
            })
        });
        let induced = Csr::new(nodes.len(), arcs);
        for &node in nodes {
            scratch[node] = usize::MAX;
        }
        induced
    }
}
