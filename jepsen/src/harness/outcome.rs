//! How an operation ended, decided once for every client of the harness (the simulator's and the
//! real-process runner's): Jepsen's `ok`, `fail` (certainly did not happen) or `info` (may have
//! happened), as DESIGN.md §6 records them.
//!
//! An error reply is sorted by its code word, as [`redraft_net::code`] defines it, never by
//! matching text here: `UNKNOWN` may have taken effect, every other error did not. A request that
//! got no reply may have taken effect; one that was certainly never sent did not. Each client
//! turns what it got back into an [`Answer`]; which replies an operation expects (a GET's bulk
//! string, a compare-and-set's null) is the workload's business.

use redraft_net::code::{outcome_of, Outcome};

use crate::history::OpType;

/// What a client got back for one request, whatever the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// A reply that is not an error.
    Reply,
    /// An error reply: its text, which opens with a code word when the error is ours.
    Error(&'a str),
    /// No reply: the connection broke or the client's timeout passed after the request may have
    /// been sent.
    Lost,
    /// No connection could be made, so the request was certainly never sent.
    NotSent,
}

/// How an operation ended: the three completions of a Jepsen history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It took effect (or, for a read, returned what it read).
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// It may or may not have taken effect: Jepsen's `info`. Never report it as failed.
    Info,
}

impl Completion {
    /// The completion an answer stands for.
    pub fn of(answer: Answer<'_>) -> Completion {
        match answer {
            Answer::Reply => Completion::Ok,
            Answer::Error(text) => match outcome_of(text) {
                Outcome::NotApplied => Completion::Fail,
                Outcome::Unknown => Completion::Info,
            },
            Answer::Lost => Completion::Info,
            Answer::NotSent => Completion::Fail,
        }
    }

    /// The completion of an answer that is not the reply the operation expects (an integer
    /// where a GET expects a bulk string, an error): `fail`, unless the outcome is unknown.
    pub fn failed_unless_unknown(self) -> Completion {
        match self {
            Completion::Info => Completion::Info,
            Completion::Ok | Completion::Fail => Completion::Fail,
        }
    }

    /// Whether the outcome is known (`ok` or `fail`). After an unknown one, Jepsen gives the
    /// client a new process, as the operation may still take effect at any later time.
    pub fn is_known(self) -> bool {
        self != Completion::Info
    }

    /// The history's event type for this completion.
    pub fn op_type(self) -> OpType {
        match self {
            Completion::Ok => OpType::Ok,
            Completion::Fail => OpType::Fail,
            Completion::Info => OpType::Info,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `UNKNOWN` and a lost reply leave the outcome open; the server's other code words,
    /// Redis's own errors and a connection never made certainly did not take effect.
    #[test]
    fn answers_sort_into_ok_fail_and_info() {
        assert_eq!(Completion::of(Answer::Reply), Completion::Ok);
        assert_eq!(Completion::of(Answer::Error("UNKNOWN the write's outcome is unknown")), Completion::Info);
        for text in ["NOTLEADER leader is 2", "CLUSTERDOWN no leader", "TRYAGAIN no quorum", "REMOVED"] {
            assert_eq!(Completion::of(Answer::Error(text)), Completion::Fail, "{text}");
        }
        assert_eq!(Completion::of(Answer::Error("ERR syntax error")), Completion::Fail);
        assert_eq!(Completion::of(Answer::Error("UNKNOWNX not our word")), Completion::Fail);
        assert_eq!(Completion::of(Answer::Lost), Completion::Info);
        assert_eq!(Completion::of(Answer::NotSent), Completion::Fail);
    }

    /// An unexpected reply is a failure, but an unknown outcome stays unknown.
    #[test]
    fn unexpected_answers_fail_unless_unknown() {
        assert_eq!(Completion::Ok.failed_unless_unknown(), Completion::Fail);
        assert_eq!(Completion::Fail.failed_unless_unknown(), Completion::Fail);
        assert_eq!(Completion::Info.failed_unless_unknown(), Completion::Info);
        assert!(Completion::Ok.is_known() && Completion::Fail.is_known() && !Completion::Info.is_known());
        assert_eq!(Completion::Info.op_type(), OpType::Info);
    }
}
