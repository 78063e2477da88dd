//! How a client's request ended, for the history: every workload sorts its calls' results
//! here, by the harness's rules.

use super::resp::{CallError, Reply};
use crate::harness::{Answer, Completion, Recorder};

/// Sorts a call's result by the harness's rules ([`Completion::of`]): an error reply by its code
/// word (`UNKNOWN` is `info`, any other error `fail`), a lost reply `info`, a connection never
/// made `fail`, as the request certainly did not take effect. A reply that is no error comes back
/// as `Ok`; every other result is tallied by why.
pub(super) fn ending_of(result: &Result<Reply, CallError>, recorder: &Recorder) -> Result<Reply, Completion> {
    match result {
        Ok(Reply::Error(text)) => {
            let word = text.split_whitespace().next().unwrap_or("error");
            recorder.tally(word.to_owned());
            Err(Completion::of(Answer::Error(text)))
        }
        Ok(reply) => Ok(reply.clone()),
        Err(error) => {
            recorder.tally(error.label().to_owned());
            Err(Completion::of(match error {
                CallError::Connect { .. } => Answer::NotSent,
                CallError::Lost { .. } => Answer::Lost,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[test]
    fn errors_sort_into_fail_and_info() {
        // UNKNOWN and a lost reply may have taken effect; other errors and a refused connection
        // did not.
        let recorder = Recorder::new(|| 0);
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let error = |text: &str| Ok(Reply::Error(text.to_owned()));
        assert_eq!(
            ending_of(&error("UNKNOWN the write's outcome is unknown"), &recorder),
            Err(Completion::Info)
        );
        assert_eq!(ending_of(&error("TRYAGAIN no quorum"), &recorder), Err(Completion::Fail));
        assert_eq!(ending_of(&error("CLUSTERDOWN no leader"), &recorder), Err(Completion::Fail));
        let lost = Err(CallError::Lost { addr, reason: "timed out after 1s".into() });
        assert_eq!(ending_of(&lost, &recorder), Err(Completion::Info));
        let refused = Err(CallError::Connect { addr, source: std::io::ErrorKind::ConnectionRefused.into() });
        assert_eq!(ending_of(&refused, &recorder), Err(Completion::Fail));
        assert_eq!(ending_of(&Ok(Reply::Simple("OK".into())), &recorder), Ok(Reply::Simple("OK".into())));
        let errors = recorder.errors();
        assert_eq!(errors.get("UNKNOWN"), Some(&1));
        assert_eq!(errors.get("timeout"), Some(&1));
        assert_eq!(errors.get("connect"), Some(&1));
    }
}
