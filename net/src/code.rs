//! The error code words a client acts on (DESIGN.md §4), defined once: the server writes them as
//! the first word of an error reply, and every client (the CLI, the simulator's and the jepsen
//! runner's clients) reads them back with [`ErrorCode::of`] to decide what happened.
//!
//! The word says what the client does next, and so what a history records: a write refused with
//! `NOTLEADER`, `CLUSTERDOWN`, `TRYAGAIN` or `REMOVED` certainly did not take effect (`fail`);
//! one answered `UNKNOWN` may have (`info`).

/// An error reply's code word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// This node is not the leader; the request did not happen. Retry at the leader it names.
    NotLeader,
    /// No leader is elected yet; the request did not happen. Retry shortly.
    ClusterDown,
    /// No quorum answered, or the node is stopping; the request did not happen. Retry.
    TryAgain,
    /// The write may or may not have been applied. Find out before retrying a non-idempotent
    /// write.
    Unknown,
    /// This node was removed from the cluster; the request did not happen. Use another member.
    Removed,
}

/// What an error reply says about the request that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The request certainly did not take effect (Jepsen's `fail`).
    NotApplied,
    /// The request may or may not have taken effect (Jepsen's `info`).
    Unknown,
}

impl ErrorCode {
    /// Every code word, for tests and documentation.
    pub const ALL: [ErrorCode; 5] = [
        ErrorCode::NotLeader,
        ErrorCode::ClusterDown,
        ErrorCode::TryAgain,
        ErrorCode::Unknown,
        ErrorCode::Removed,
    ];

    /// The word as it opens an error reply.
    pub const fn word(self) -> &'static str {
        match self {
            ErrorCode::NotLeader => "NOTLEADER",
            ErrorCode::ClusterDown => "CLUSTERDOWN",
            ErrorCode::TryAgain => "TRYAGAIN",
            ErrorCode::Unknown => "UNKNOWN",
            ErrorCode::Removed => "REMOVED",
        }
    }

    /// The code word an error reply's text opens with, if it is one of ours (`None` for Redis's
    /// own errors such as `ERR` or `WRONGTYPE`, which the request's semantics produced).
    pub fn of(error_text: &str) -> Option<ErrorCode> {
        let word = error_text.split_ascii_whitespace().next()?;
        ErrorCode::ALL.into_iter().find(|code| code.word() == word)
    }

    /// Whether the request that got this code may have taken effect.
    pub const fn outcome(self) -> Outcome {
        match self {
            ErrorCode::Unknown => Outcome::Unknown,
            ErrorCode::NotLeader | ErrorCode::ClusterDown | ErrorCode::TryAgain | ErrorCode::Removed => {
                Outcome::NotApplied
            }
        }
    }

    /// An error reply's text: the word, a space, and what happened.
    pub fn reply(self, detail: &str) -> String {
        format!("{} {detail}", self.word())
    }
}

/// What an error reply's text says about its request: `Unknown` only for our `UNKNOWN` word;
/// every other error (ours or Redis's) means the request did not take effect.
pub fn outcome_of(error_text: &str) -> Outcome {
    ErrorCode::of(error_text).map_or(Outcome::NotApplied, ErrorCode::outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word reads back as its code, and the outcome follows DESIGN.md §4.
    #[test]
    fn each_word_reads_back_as_its_code() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::of(&code.reply("something happened")), Some(code));
            assert_eq!(ErrorCode::of(code.word()), Some(code));
        }
        assert_eq!(outcome_of("UNKNOWN the write's outcome is unknown"), Outcome::Unknown);
        assert_eq!(outcome_of("TRYAGAIN no quorum"), Outcome::NotApplied);
        assert_eq!(outcome_of("ERR syntax error"), Outcome::NotApplied);
    }

    /// A word must stand alone: `UNKNOWNX` or a word inside the text is no code.
    #[test]
    fn only_the_first_whole_word_counts() {
        assert_eq!(ErrorCode::of("UNKNOWNX whatever"), None);
        assert_eq!(ErrorCode::of("ERR UNKNOWN command"), None);
        assert_eq!(ErrorCode::of(""), None);
    }
}
