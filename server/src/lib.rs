//! The redraft node: openraft wiring, the RESP and HTTP listeners, configuration and metrics.
//!
//! Empty until the node issue. The simulator (`sim`) runs this very library, so everything it does
//! with time, tasks, the network or the disk goes through a seam that madsim can replace
//! (DESIGN.md §5).
