//! One append transaction on the wire: its steps as RESP commands (`APPEND append:<k> "<e>,"` and
//! `GET append:<k>`), sent alone, inside MULTI/EXEC one command at a time, or as MULTI/EXEC
//! pipelined in one write; and the replies sorted into how the transaction ended and what its
//! reads saw.
//!
//! The rules, beyond the harness's for an error reply or a lost one
//! ([`crate::harness::Completion::of`]):
//!
//! - EXEC's array of replies is `ok`, each GET's string parsed back into its list (nil is an
//!   absent key). A list element that does not parse reads as element 0, which no client appends,
//!   so the checker reports the read as garbage rather than the runner hiding it.
//! - EXEC's error (EXECABORT for a refused step, or one of the server's code words) is sorted by
//!   the harness; a null array (an aborted transaction) is `fail`.
//! - An array of the wrong length, or a step's reply inside it of the wrong type or an error, is
//!   `info`: the transaction ran, but what it did is unclear.
//! - Sent one command at a time, a transaction whose MULTI or any step got no reply is `fail`:
//!   the client drops the connection, and with it the queued transaction, before EXEC is sent.
//!   MULTI refused is `fail` likewise, as nothing else was sent.
//! - Pipelined, everything was sent at once: MULTI refused, or a step answered as if no
//!   transaction were open, is `info`, as the steps may have run on their own.

use super::keys::key_name;
use crate::elle::{Element, MicroOp};
use crate::harness::{Answer, Completion, Recorder};
use crate::runner::ending::ending_of;
use crate::runner::resp::{CallError, Reply, RespClient};

/// How a transaction is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Its one step as a command of its own, without MULTI.
    Single,
    /// MULTI, each step, EXEC, waiting for each reply before the next command.
    Multi,
    /// MULTI, each step and EXEC in one write.
    Pipelined,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `ok`, `fail` or `info`.
    pub completion: Completion,
    /// Its steps, with each read's list filled in when it ended `ok` (unknown otherwise).
    pub ops: Vec<MicroOp>,
    /// Whether the connection failed, so the client may try another node.
    pub connection_lost: bool,
}

/// Sends `ops` as `shape` says (a single command only when there is one step) and sorts the
/// replies; every reason for not ending `ok` is tallied in `recorder`.
pub async fn send(client: &mut RespClient, recorder: &Recorder, ops: Vec<MicroOp>, shape: Shape) -> Ended {
    match (shape, ops.as_slice()) {
        (Shape::Single, [op]) => {
            let op = op.clone();
            let result = client.call(&refs(&command(&op))).await;
            let (completion, op) = single(&op, ending_of(&result, recorder), recorder);
            Ended { completion, ops: vec![op], connection_lost: result.is_err() }
        }
        (Shape::Pipelined, _) => pipelined(client, recorder, ops).await,
        _ => one_at_a_time(client, recorder, ops).await,
    }
}

/// The command for a step.
fn command(op: &MicroOp) -> Vec<Vec<u8>> {
    match op {
        MicroOp::Append(key, element) => {
            vec![b"APPEND".to_vec(), key_name(*key).into_bytes(), format!("{element},").into_bytes()]
        }
        MicroOp::Read(key, _) => vec![b"GET".to_vec(), key_name(*key).into_bytes()],
    }
}

fn refs(command: &[Vec<u8>]) -> Vec<&[u8]> {
    command.iter().map(Vec::as_slice).collect()
}

/// A step sent on its own: an APPEND's length is `ok` and anything else `info` (it may have
/// appended); a GET's string is `ok` and anything else `fail` (a read changes nothing).
fn single(op: &MicroOp, ending: Result<Reply, Completion>, recorder: &Recorder) -> (Completion, MicroOp) {
    match (op, ending) {
        (MicroOp::Append(..), Ok(Reply::Integer(_))) => (Completion::Ok, op.clone()),
        (MicroOp::Append(..), Ok(_)) => {
            recorder.tally("append-malformed".to_owned());
            (Completion::Info, op.clone())
        }
        (MicroOp::Read(key, _), Ok(Reply::Bulk(bytes))) => {
            let (list, garbled) = parse_list(bytes.as_deref());
            if garbled {
                recorder.tally("read-malformed".to_owned());
            }
            (Completion::Ok, MicroOp::Read(*key, list))
        }
        (MicroOp::Read(..), Ok(_)) => {
            recorder.tally("read-malformed".to_owned());
            (Completion::Fail, op.clone())
        }
        (_, Err(completion)) => (completion, op.clone()),
    }
}

/// MULTI, each step and EXEC, one reply at a time.
async fn one_at_a_time(client: &mut RespClient, recorder: &Recorder, ops: Vec<MicroOp>) -> Ended {
    let failed = |ops, connection_lost| Ended { completion: Completion::Fail, ops, connection_lost };
    let opened = client.call(&[b"MULTI"]).await;
    match ending_of(&opened, recorder) {
        Ok(Reply::Simple(text)) if text == "OK" => {}
        Ok(_) => {
            recorder.tally("multi-refused".to_owned());
            client.disconnect();
            return failed(ops, false);
        }
        // Nothing but MULTI was sent, so whatever the answer, nothing happened.
        Err(_) => return failed(ops, opened.is_err()),
    }
    for op in &ops {
        match client.call(&refs(&command(op))).await {
            Ok(Reply::Simple(text)) if text == "QUEUED" => {}
            // A refused step: EXEC aborts the transaction and says so.
            Ok(Reply::Error(_)) => {}
            Ok(_) => {
                recorder.tally("not-queued".to_owned());
                client.disconnect();
                return Ended { completion: Completion::Info, ops, connection_lost: false };
            }
            Err(error) => {
                recorder.tally(error.label().to_owned());
                return failed(ops, true);
            }
        }
    }
    match client.call(&[b"EXEC"]).await {
        Ok(reply) => {
            let (completion, ops) = exec(&reply, ops, recorder);
            Ended { completion, ops, connection_lost: false }
        }
        Err(error) => Ended { completion: no_reply(error, recorder), ops, connection_lost: true },
    }
}

/// MULTI, each step and EXEC in one write.
async fn pipelined(client: &mut RespClient, recorder: &Recorder, ops: Vec<MicroOp>) -> Ended {
    let mut commands = vec![vec![b"MULTI".to_vec()]];
    commands.extend(ops.iter().map(command));
    commands.push(vec![b"EXEC".to_vec()]);
    let requests: Vec<Vec<&[u8]>> = commands.iter().map(|command| refs(command)).collect();
    let requests: Vec<&[&[u8]]> = requests.iter().map(Vec::as_slice).collect();
    let replies = match client.pipeline(&requests).await {
        Ok(replies) => replies,
        Err(error) => return Ended { completion: no_reply(error, recorder), ops, connection_lost: true },
    };
    let (completion, ops) = match sort_pipelined(&replies, ops) {
        Sorted::Exec(reply, ops) => exec(reply, ops, recorder),
        Sorted::Unclear(why, ops) => {
            recorder.tally(why.to_owned());
            client.disconnect();
            (Completion::Info, ops)
        }
    };
    Ended { completion, ops, connection_lost: false }
}

/// What a pipelined transaction's replies say before EXEC's.
#[derive(Debug, PartialEq)]
enum Sorted<'a> {
    /// MULTI and every step were taken as a transaction: EXEC's reply decides.
    Exec(&'a Reply, Vec<MicroOp>),
    /// Something else happened, and the steps may have run on their own: why.
    Unclear(&'static str, Vec<MicroOp>),
}

fn sort_pipelined(replies: &[Reply], ops: Vec<MicroOp>) -> Sorted<'_> {
    let [opened, queued @ .., executed] = replies else {
        return Sorted::Unclear("pipeline-short", ops);
    };
    if *opened != Reply::Simple("OK".to_owned()) {
        return Sorted::Unclear("multi-refused", ops);
    }
    if queued.len() != ops.len() {
        return Sorted::Unclear("pipeline-short", ops);
    }
    let taken = |reply: &Reply| {
        matches!(reply, Reply::Simple(text) if text == "QUEUED") || matches!(reply, Reply::Error(_))
    };
    if !queued.iter().all(taken) {
        return Sorted::Unclear("not-queued", ops);
    }
    Sorted::Exec(executed, ops)
}

/// The completion of a call that got no reply (sorted by the harness), tallied.
fn no_reply(error: CallError, recorder: &Recorder) -> Completion {
    ending_of(&Err(error), recorder).err().unwrap_or(Completion::Info)
}

/// EXEC's reply: the completion and the steps with their reads filled in; the reason for
/// anything but `ok` is tallied.
fn exec(reply: &Reply, ops: Vec<MicroOp>, recorder: &Recorder) -> (Completion, Vec<MicroOp>) {
    let (completion, ops, why) = exec_replies(reply, ops);
    if let Some(why) = why {
        recorder.tally(why);
    }
    (completion, ops)
}

/// EXEC's reply: the completion, the steps with their reads filled in when `ok`, and what to
/// tally, if anything. An error reply is sorted by the harness's rules.
fn exec_replies(reply: &Reply, ops: Vec<MicroOp>) -> (Completion, Vec<MicroOp>, Option<String>) {
    let items = match reply {
        Reply::Array(Some(items)) if items.len() == ops.len() => items,
        Reply::Array(None) => return (Completion::Fail, ops, Some("exec-aborted".to_owned())),
        Reply::Error(text) => {
            let completion = Completion::of(Answer::Error(text));
            return (completion, ops, Some(first_word(text)));
        }
        _ => return (Completion::Info, ops, Some("exec-malformed".to_owned())),
    };
    let mut filled = Vec::with_capacity(ops.len());
    let mut why = None;
    for (op, item) in ops.iter().zip(items) {
        match (op, item) {
            (MicroOp::Append(..), Reply::Integer(_)) => filled.push(op.clone()),
            (MicroOp::Read(key, _), Reply::Bulk(bytes)) => {
                let (list, garbled) = parse_list(bytes.as_deref());
                if garbled {
                    why = Some("read-malformed".to_owned());
                }
                filled.push(MicroOp::Read(*key, list));
            }
            // A step failed inside a transaction that ran: what the transaction did is unclear.
            (_, Reply::Error(text)) => return (Completion::Info, ops, Some(first_word(text))),
            _ => return (Completion::Info, ops, Some("exec-malformed".to_owned())),
        }
    }
    (Completion::Ok, filled, why)
}

fn first_word(text: &str) -> String {
    text.split_whitespace().next().unwrap_or("error").to_owned()
}

/// A GET's string as a list: `None` for nil, `[]` for the empty string, else the elements of
/// `"e1,e2,"`. Whatever does not parse (an empty or non-numeric element, a missing final comma)
/// reads as element 0, and the second value says so.
fn parse_list(bytes: Option<&[u8]>) -> (Option<Vec<Element>>, bool) {
    let Some(bytes) = bytes else {
        return (None, false);
    };
    let mut parts: Vec<&[u8]> = bytes.split(|&byte| byte == b',').collect();
    // "" splits into [""] and "1,2," into ["1", "2", ""]: the last part is what follows the
    // final comma, and must be empty.
    let tail = parts.pop().unwrap_or_default();
    let mut garbled = !tail.is_empty();
    let mut list: Vec<Element> = parts
        .iter()
        .map(|part| {
            let element = std::str::from_utf8(part).ok().and_then(|text| text.parse().ok()).unwrap_or(0);
            garbled |= element == 0;
            element
        })
        .collect();
    if !tail.is_empty() {
        list.push(0);
    }
    (Some(list), garbled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> Result<Reply, CallError> {
        Err(CallError::Lost { addr: "127.0.0.1:1".parse().expect("an address"), reason: "timed out".into() })
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Some(text.as_bytes().to_vec()))
    }

    #[test]
    fn an_exec_array_fills_the_reads_in_order() {
        let ops = vec![
            MicroOp::Append(1, 5),
            MicroOp::Read(1, None),
            MicroOp::Read(2, None),
            MicroOp::Read(3, None),
        ];
        let reply = Reply::Array(Some(vec![Reply::Integer(6), bulk("3,5,"), Reply::Bulk(None), bulk("")]));
        let (completion, filled, why) = exec_replies(&reply, ops);
        assert_eq!(completion, Completion::Ok);
        assert_eq!(why, None);
        assert_eq!(
            filled,
            vec![
                MicroOp::Append(1, 5),
                MicroOp::Read(1, Some(vec![3, 5])),
                MicroOp::Read(2, None),
                MicroOp::Read(3, Some(vec![])),
            ]
        );
    }

    #[test]
    fn unclear_exec_replies_are_info_and_aborted_ones_fail() {
        let ops = ops_unread;
        let cases = [
            (Reply::Array(Some(vec![Reply::Integer(1)])), Completion::Info, "exec-malformed"),
            (
                Reply::Array(Some(vec![Reply::Integer(1), Reply::Integer(2)])),
                Completion::Info,
                "exec-malformed",
            ),
            (
                Reply::Array(Some(vec![Reply::Error("WRONGTYPE x".into()), bulk("5,")])),
                Completion::Info,
                "WRONGTYPE",
            ),
            (Reply::Simple("OK".into()), Completion::Info, "exec-malformed"),
            (Reply::Array(None), Completion::Fail, "exec-aborted"),
            (Reply::Error("EXECABORT Transaction discarded".into()), Completion::Fail, "EXECABORT"),
            (Reply::Error("UNKNOWN the outcome is unknown".into()), Completion::Info, "UNKNOWN"),
        ];
        for (reply, expected, word) in cases {
            let (completion, ops, why) = exec_replies(&reply, ops());
            assert_eq!((completion, why.as_deref()), (expected, Some(word)), "{reply:?}");
            assert_eq!(ops, ops_unread(), "reads stay unknown: {reply:?}");
        }
    }

    fn ops_unread() -> Vec<MicroOp> {
        vec![MicroOp::Append(1, 5), MicroOp::Read(1, None)]
    }

    #[test]
    fn lists_parse_strictly_and_mark_what_they_cannot_read() {
        assert_eq!(parse_list(None), (None, false));
        assert_eq!(parse_list(Some(b"")), (Some(vec![]), false));
        assert_eq!(parse_list(Some(b"1,22,3,")), (Some(vec![1, 22, 3]), false));
        assert_eq!(parse_list(Some(b"1,x,3,")), (Some(vec![1, 0, 3]), true));
        assert_eq!(parse_list(Some(b"1,,3,")), (Some(vec![1, 0, 3]), true));
        assert_eq!(parse_list(Some(b"1,2")), (Some(vec![1, 0]), true));
    }

    #[test]
    fn pipelined_replies_go_to_exec_only_when_taken_as_a_transaction() {
        let ops = || vec![MicroOp::Append(1, 5)];
        let ok = Reply::Simple("OK".into());
        let queued = Reply::Simple("QUEUED".into());
        let exec = Reply::Array(Some(vec![Reply::Integer(2)]));
        let replies = [ok.clone(), queued.clone(), exec.clone()];
        assert_eq!(sort_pipelined(&replies, ops()), Sorted::Exec(&exec, ops()));
        let refused = [ok.clone(), Reply::Error("ERR wrong arguments".into()), exec.clone()];
        assert_eq!(sort_pipelined(&refused, ops()), Sorted::Exec(&exec, ops()));
        let no_multi = [Reply::Error("ERR".into()), Reply::Integer(2), Reply::Error("ERR EXEC".into())];
        assert_eq!(sort_pipelined(&no_multi, ops()), Sorted::Unclear("multi-refused", ops()));
        let ran_alone = [ok.clone(), Reply::Integer(2), exec.clone()];
        assert_eq!(sort_pipelined(&ran_alone, ops()), Sorted::Unclear("not-queued", ops()));
        assert_eq!(sort_pipelined(&[ok, exec], ops()), Sorted::Unclear("pipeline-short", ops()));
    }

    /// A node that answers the n-th request with `script[n]`, and closes the connection when
    /// the script runs out; returns its address.
    async fn scripted_node(script: Vec<&'static [u8]>) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("a client");
            let (mut received, mut answered) = (Vec::new(), 0);
            let mut chunk = [0u8; 4096];
            loop {
                // Our requests are arrays of short bulk strings with no `*` inside.
                let requests = received.iter().filter(|&&byte| byte == b'*').count();
                while answered < requests {
                    let Some(reply) = script.get(answered) else { return };
                    stream.write_all(reply).await.expect("written");
                    answered += 1;
                }
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => received.extend_from_slice(&chunk[..read]),
                }
            }
        });
        addr
    }

    fn on_a_scripted_node(script: Vec<&'static [u8]>, ops: Vec<MicroOp>, shape: Shape) -> Ended {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let addr = scripted_node(script).await;
            let mut client = RespClient::new(addr, std::time::Duration::from_secs(5));
            send(&mut client, &Recorder::new(|| 0), ops, shape).await
        })
    }

    #[test]
    fn transactions_go_over_the_wire_pipelined_or_one_command_at_a_time() {
        let ops = || vec![MicroOp::Append(1, 5), MicroOp::Read(1, None)];
        let answers: Vec<&'static [u8]> =
            vec![b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"*2\r\n:2\r\n$4\r\n3,5,\r\n"];
        let read = vec![MicroOp::Append(1, 5), MicroOp::Read(1, Some(vec![3, 5]))];
        for shape in [Shape::Pipelined, Shape::Multi] {
            let ended = on_a_scripted_node(answers.clone(), ops(), shape);
            assert_eq!(
                ended,
                Ended { completion: Completion::Ok, ops: read.clone(), connection_lost: false }
            );
        }
        // The node goes away after queueing: one command at a time, EXEC was never sent.
        let ended = on_a_scripted_node(answers[..2].to_vec(), ops(), Shape::Multi);
        assert_eq!(ended, Ended { completion: Completion::Fail, ops: ops(), connection_lost: true });
        // Pipelined, it may have been.
        let ended = on_a_scripted_node(answers[..2].to_vec(), ops(), Shape::Pipelined);
        assert_eq!(ended, Ended { completion: Completion::Info, ops: ops(), connection_lost: true });
        let aborted: Vec<&'static [u8]> =
            vec![b"+OK\r\n", b"-ERR no\r\n", b"+QUEUED\r\n", b"-EXECABORT x\r\n"];
        let ended = on_a_scripted_node(aborted, ops(), Shape::Pipelined);
        assert_eq!(ended.completion, Completion::Fail);
        let single = on_a_scripted_node(vec![b"$-1\r\n"], vec![MicroOp::Read(4, None)], Shape::Single);
        assert_eq!(single.ops, vec![MicroOp::Read(4, None)]);
        assert_eq!(single.completion, Completion::Ok);
    }

    #[test]
    fn single_commands_sort_by_what_they_may_have_done() {
        let recorder = Recorder::new(|| 0);
        let append = MicroOp::Append(1, 5);
        let read = MicroOp::Read(1, None);
        assert_eq!(single(&append, Ok(Reply::Integer(2)), &recorder), (Completion::Ok, append.clone()));
        assert_eq!(single(&append, Ok(bulk("?")), &recorder), (Completion::Info, append.clone()));
        assert_eq!(
            single(&read, Ok(bulk("5,")), &recorder),
            (Completion::Ok, MicroOp::Read(1, Some(vec![5])))
        );
        assert_eq!(single(&read, Ok(Reply::Integer(1)), &recorder), (Completion::Fail, read.clone()));
        assert_eq!(single(&append, ending_of(&lost(), &recorder), &recorder), (Completion::Info, append));
        assert_eq!(recorder.errors().get("timeout"), Some(&1));
        assert_eq!(recorder.errors().get("read-malformed"), Some(&1));
    }
}
