//! `jepsen run`: a test of real `redraft-server` processes under faults. The command itself
//! follows; these are its building blocks: the fault-injecting proxy that partitions peers
//! ([`proxy`]) and the small RESP client its clients use ([`resp`]).

pub mod proxy;
pub mod resp;
