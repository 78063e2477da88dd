//! Real-time edges: `T1` precedes `T2` when `T1` completed `ok` before `T2` was invoked.
//!
//! Linking every such pair would take quadratically many edges. As in Elle, each transaction is
//! linked only from the *frontier* at its invocation: the completed transactions not already
//! known to precede another completed one. A transaction leaves the frontier when one invoked
//! after it completed itself completes, since the latter's incoming edges then imply it. Every
//! pair in real-time order stays connected by a path of real-time edges, so no cycle through
//! real time is missed.
//!
//! The transactions on the frontier all overlap one another, so they were all running at one
//! moment: a transaction gets at most as many incoming edges as the peak concurrency (the number
//! of client processes, in a well-formed history).

use super::anomaly::Dependency;
use super::history::Transaction;

/// Passes each real-time edge of `history` to `add`, as `(from, to, dependency)`. Failed
/// transactions get none; a transaction that did not complete `ok` gets incoming edges only,
/// because it may have taken effect at any time after its invocation.
pub(super) fn add_edges(history: &[Transaction], mut add: impl FnMut(usize, usize, Dependency)) {
    // (time, 0 for an invocation or 1 for a completion, transaction): at equal times invocations
    // come first, so a transaction completing at the moment another is invoked does not precede
    // it.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * history.len());
    for (position, transaction) in history.iter().enumerate().filter(|(_, t)| !t.is_failed()) {
        events.push((transaction.invoke, 0, position));
        if transaction.is_ok() {
            events.push((transaction.complete, 1, position));
        }
    }
    events.sort_unstable();

    let mut frontier: Vec<usize> = Vec::new();
    let mut on_frontier = vec![false; history.len()];
    // The frontier each transaction saw at its invocation.
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); history.len()];
    for (_, phase, position) in events {
        if phase == 0 {
            for &earlier in &frontier {
                let dependency = Dependency::Realtime {
                    completed: history[earlier].complete,
                    invoked: history[position].invoke,
                };
                add(earlier, position, dependency);
            }
            predecessors[position].clone_from(&frontier);
        } else {
            for earlier in std::mem::take(&mut predecessors[position]) {
                on_frontier[earlier] = false;
            }
            frontier.retain(|&earlier| on_frontier[earlier]);
            frontier.push(position);
            on_frontier[position] = true;
        }
    }
}
