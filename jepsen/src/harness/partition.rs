//! The partition planner: which nodes to cut from which, drawn from the run's random source. The
//! simulator clogs the links it names in madsim's network; the real-process runner cuts them at
//! its peer proxies. Nodes are named by position (0 to count - 1), links are directed: `(a, b)`
//! means what `a` sends `b` is lost.
//!
//! The draws are part of every simulator seed's schedule: changing their order, their number or
//! their types changes what every recorded seed replays (`sim/tests/simulation.rs`).

use rand::seq::SliceRandom;
use rand::Rng;

/// A partition's shape, by node position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One node cut off from all others, both ways: the leader when one leads.
    Isolated(usize),
    /// Two sides that cannot reach each other, and one node that reaches both.
    Bridge {
        /// The node both sides reach.
        bridge: usize,
        /// One side.
        left: Vec<usize>,
        /// The other side.
        right: Vec<usize>,
    },
    /// What `from` sends `to` is lost; the other way it arrives. With the leader alone in
    /// `from`, it hears its followers but cannot reach them.
    OneWay {
        /// The side whose messages are lost.
        from: Vec<usize>,
        /// Every other node.
        to: Vec<usize>,
    },
    /// Two sides that cannot reach each other, of random sizes.
    Halves(Vec<usize>, Vec<usize>),
}

/// A partition: its shape, and the directed links it cuts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// What the partition looks like.
    pub shape: Shape,
    /// The links to cut, `(from, to)` by node position, in the order to cut them.
    pub links: Vec<(usize, usize)>,
}

impl Partition {
    /// The partition in words, with nodes named by `name`: `isolated n1`,
    /// `bridge n2 between n1 | n3`, `one-way n1 -/-> n2,n3`, `halves n2 | n1,n3`.
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        let names = |side: &[usize]| side.iter().map(|&node| name(node)).collect::<Vec<_>>().join(",");
        match &self.shape {
            Shape::Isolated(node) => format!("isolated {}", name(*node)),
            Shape::Bridge { bridge, left, right } => {
                format!("bridge {} between {} | {}", name(*bridge), names(left), names(right))
            }
            Shape::OneWay { from, to } => format!("one-way {} -/-> {}", names(from), names(to)),
            Shape::Halves(side, rest) => format!("halves {} | {}", names(side), names(rest)),
        }
    }
}

/// A partition of `count` nodes drawn from `rng`: the leader (or any node, while none leads)
/// alone; a bridge; one side's messages to the other lost (the side is the leader alone, when one
/// leads, half the time); or random halves. A cluster of fewer than three nodes gets no bridge:
/// its draw falls through to one-way or halves.
///
/// # Panics
/// When `count` is below 2 (a single node cannot be partitioned) or `leader` is not below it.
pub fn plan_partition<R: Rng + ?Sized>(rng: &mut R, count: usize, leader: Option<usize>) -> Partition {
    assert!(count >= 2 && leader.is_none_or(|leader| leader < count), "{count} nodes, leader {leader:?}");
    let n = count;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    // Both directions of every link between `side` and the rest.
    let split = |side: &[usize]| -> Vec<(usize, usize)> {
        let mut cut = Vec::new();
        for a in 0..n {
            for b in 0..n {
                if side.contains(&a) != side.contains(&b) {
                    cut.push((a, b));
                }
            }
        }
        cut
    };
    // The range is an i32 one (the literal's default type): another type draws differently.
    match rng.gen_range(0..4) {
        // The leader alone (or any node, when none leads right now).
        0 => {
            let alone = leader.unwrap_or(order[0]);
            Partition { shape: Shape::Isolated(alone), links: split(&[alone]) }
        }
        // A bridge: two sides that cannot reach each other, and one node that reaches both.
        1 if n >= 3 => {
            let bridge = order[0];
            let left: Vec<usize> = order[1..].iter().copied().step_by(2).collect();
            let right: Vec<usize> = order[2..].iter().copied().step_by(2).collect();
            let mut cut = Vec::new();
            for a in &left {
                for b in &right {
                    cut.push((*a, *b));
                    cut.push((*b, *a));
                }
            }
            Partition { shape: Shape::Bridge { bridge, left, right }, links: cut }
        }
        // One way: what one side sends the other is lost; the other way it arrives. The side is
        // the leader, when one leads, half the time: it hears its followers but cannot reach them.
        2 => {
            let size = rng.gen_range(1..n);
            let side: Vec<usize> = match leader {
                Some(leader) if rng.gen_bool(0.5) => vec![leader],
                _ => order[..size].to_vec(),
            };
            let rest: Vec<usize> = (0..n).filter(|i| !side.contains(i)).collect();
            let cut = side.iter().flat_map(|&a| rest.iter().map(move |&b| (a, b))).collect();
            Partition { shape: Shape::OneWay { from: side, to: rest }, links: cut }
        }
        // Random halves.
        _ => {
            let size = rng.gen_range(1..n);
            let side: Vec<usize> = order[..size].to_vec();
            let rest: Vec<usize> = order[size..].to_vec();
            let cut = split(&side);
            Partition { shape: Shape::Halves(side, rest), links: cut }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    /// For many seeds, sizes and leaders: a link is cut exactly when the shape separates its
    /// ends (one way for one-way, both ways otherwise), every node is on exactly one side, and
    /// some link is always cut.
    #[test]
    fn partitions_cut_only_links_across_their_sides() {
        for count in 2..=7 {
            for seed in 0..200 {
                let mut rng = StdRng::seed_from_u64(seed);
                let leader = (seed % 3 != 0).then_some(seed as usize % count);
                let partition = plan_partition(&mut rng, count, leader);
                let Partition { shape, links } = &partition;
                assert!(!links.is_empty(), "{shape:?}");
                let (a, b): (&[usize], &[usize]) = match shape {
                    Shape::Isolated(node) => (std::slice::from_ref(node), &[]),
                    Shape::Bridge { left, right, .. } => (left, right),
                    Shape::OneWay { from, to } => (from, to),
                    Shape::Halves(side, rest) => (side, rest),
                };
                let mut nodes: Vec<usize> = a.iter().chain(b).copied().collect();
                if let Shape::Bridge { bridge, .. } = shape {
                    nodes.push(*bridge);
                }
                if let Shape::Isolated(node) = shape {
                    nodes.extend((0..count).filter(|other| other != node));
                }
                nodes.sort_unstable();
                assert_eq!(nodes, (0..count).collect::<Vec<_>>(), "{shape:?}");
                for from in 0..count {
                    for to in (0..count).filter(|&to| to != from) {
                        let cut = links.contains(&(from, to));
                        let across = match shape {
                            Shape::Isolated(node) => (from == *node) != (to == *node),
                            Shape::Bridge { left, right, .. } => {
                                (left.contains(&from) && right.contains(&to))
                                    || (right.contains(&from) && left.contains(&to))
                            }
                            Shape::OneWay { from: side, .. } => side.contains(&from) && !side.contains(&to),
                            Shape::Halves(side, _) => side.contains(&from) != side.contains(&to),
                        };
                        assert_eq!(cut, across, "{shape:?}: {from}->{to}");
                    }
                }
                assert!(!matches!(shape, Shape::Bridge { .. }) || count >= 3, "{shape:?}");
            }
        }
    }

    /// Descriptions name the nodes in the order the shape holds them.
    #[test]
    fn descriptions_name_the_sides() {
        let name = |node: usize| format!("n{}", node + 1);
        let describe = |shape: Shape| Partition { shape, links: Vec::new() }.describe(name);
        assert_eq!(describe(Shape::Isolated(0)), "isolated n1");
        assert_eq!(
            describe(Shape::Bridge { bridge: 1, left: vec![0], right: vec![2, 3] }),
            "bridge n2 between n1 | n3,n4"
        );
        assert_eq!(describe(Shape::OneWay { from: vec![2], to: vec![0, 1] }), "one-way n3 -/-> n1,n2");
        assert_eq!(describe(Shape::Halves(vec![1], vec![2, 0])), "halves n2 | n3,n1");
    }
}
