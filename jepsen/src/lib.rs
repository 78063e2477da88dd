//! Jepsen-style testing for redraft: the history model (DESIGN.md §6), the linearizability checker
//! and a runner that drives real server processes under faults.
//!
//! Empty until the jepsen issue. It sees redraft only through its client API, never its internals.
