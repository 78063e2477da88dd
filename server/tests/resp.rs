//! The RESP front end over a real socket, with a node in this process: raw transcripts pinned
//! with insta, pipelining, transactions and WATCH across connections, the `redis` crate as a
//! client, Redis's limits (an error and a closed connection for that client only), and malformed
//! input from proptest and a corpus that never takes the server down.
#![cfg(not(madsim))]

mod common;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use common::{bulk, ok, Client, TestServer};
use proptest::prelude::*;
use redraft_core::{Command, Reply, Write};
use redraft_net::resp::Frame;
use redraft_server::error::NodeError;
use redraft_server::resp::RespSettings;

/// Runs each line (split like an inline command) and records the request and the raw reply.
async fn transcript(client: &mut Client, lines: &[&str]) -> String {
    let mut out = String::new();
    for line in lines {
        let args: Vec<&str> = line.split(' ').collect();
        client.send(&args).await;
        let (_, raw) = client.read_raw().await.expect("a reply");
        out.push_str(&format!("> {line}\n"));
        for piece in String::from_utf8_lossy(&raw).split_terminator("\r\n") {
            out.push_str(&format!("< {piece}\n"));
        }
    }
    out
}

/// The replies of the data and connection commands, byte for byte, in RESP2 and then RESP3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_of_commands_in_resp2_and_resp3() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let resp2 = transcript(
        &mut client,
        &[
            "PING",
            "PING hello",
            "ECHO x",
            "SET k v",
            "GET k",
            "GET missing",
            "INCR k",
            "SET n 10",
            "INCRBY n 5",
            "MSET a 1 b 2",
            "MGET a b missing",
            "DEL a b missing",
            "EXISTS k n",
            "SET t v PX 100000",
            "TYPE t",
            "GET",
            "NOSUCH arg",
            "SELECT 0",
            "SELECT 1",
            "CLIENT SETNAME tester",
            "CLIENT GETNAME",
            "CONFIG GET maxclients",
            "CONFIG SET maxclients 0",
            "CONFIG SET nosuch 1",
            "COMMAND COUNT",
            "COMMAND INFO get",
            "DBSIZE",
            "EXEC",
            "AUTH secret",
        ],
    )
    .await;
    insta::assert_snapshot!("resp2", resp2);
    let resp3 = transcript(
        &mut client,
        &[
            "HELLO 3 SETNAME tester3",
            "GET missing",
            "MGET k missing",
            "CONFIG GET appendonly",
            "HELLO 4",
            "RESET",
            "GET missing",
        ],
    )
    .await;
    // The client id depends on how many connections the process opened before.
    let resp3 = resp3.replace(&format!(":{}\n", client_id(&mut server.client().await).await - 1), ":<id>\n");
    insta::assert_snapshot!("resp3", resp3);
}

async fn client_id(client: &mut Client) -> i64 {
    match client.call(&["CLIENT", "ID"]).await {
        Frame::Integer(id) => id,
        other => panic!("CLIENT ID answered {other:?}"),
    }
}

/// A pipeline of writes and reads sent in one write gets every reply, in order, and each read
/// sees the writes before it in the pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_replies_in_order_and_reads_see_earlier_writes() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut bytes = Vec::new();
    for i in 0..300 {
        bytes.extend_from_slice(format!("SET key{i} {i}\r\nINCR key{i}\r\nGET key{i}\r\n").as_bytes());
    }
    client.send_raw(&bytes).await;
    for i in 0..300 {
        assert_eq!(client.read().await, Some(ok()), "SET key{i}");
        assert_eq!(client.read().await, Some(Frame::Integer(i + 1)), "INCR key{i}");
        assert_eq!(client.read().await, Some(bulk(&(i + 1).to_string())), "GET key{i}");
    }
    assert_eq!(client.call(&["DBSIZE"]).await, Frame::Integer(300));
}

/// MULTI/EXEC applies atomically; a queued command with bad arguments aborts EXEC; WATCH makes
/// EXEC fail when another connection changed the key, and succeed otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_watch_across_connections() {
    let server = TestServer::start().await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    assert_eq!(a.call(&["MULTI"]).await, ok());
    assert_eq!(a.call(&["SET", "x", "1"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(a.call(&["INCRBY", "x", "9"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(a.call(&["GET", "x"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(a.call(&["EXEC"]).await, Frame::Array(vec![ok(), Frame::Integer(10), bulk("10")]));

    assert_eq!(a.call(&["MULTI"]).await, ok());
    assert!(matches!(a.call(&["GET"]).await, Frame::Error(_)));
    assert_eq!(a.call(&["SET", "y", "1"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(
        a.call(&["EXEC"]).await,
        Frame::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(b.call(&["EXISTS", "y"]).await, Frame::Integer(0), "an aborted transaction wrote nothing");

    assert_eq!(a.call(&["WATCH", "x"]).await, ok());
    assert_eq!(b.call(&["SET", "x", "changed"]).await, ok());
    assert_eq!(a.call(&["MULTI"]).await, ok());
    assert_eq!(a.call(&["SET", "x", "mine"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(a.call(&["EXEC"]).await, Frame::NullArray, "the watched key changed");
    assert_eq!(b.call(&["GET", "x"]).await, bulk("changed"));

    assert_eq!(a.call(&["WATCH", "x", "absent"]).await, ok());
    assert_eq!(a.call(&["MULTI"]).await, ok());
    assert_eq!(a.call(&["SET", "x", "mine"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(a.call(&["EXEC"]).await, Frame::Array(vec![ok()]), "nothing watched changed");
    assert_eq!(a.call(&["DISCARD"]).await, Frame::Error("ERR DISCARD without MULTI".into()));
}

/// The `redis` crate, as an application would use it: commands, a pipeline, an atomic pipeline
/// and TTLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_client_works() {
    let server = TestServer::start().await;
    let url = format!("redis://{}/", server.addr);
    tokio::task::spawn_blocking(move || {
        use redis::Commands;
        let client = redis::Client::open(url).expect("url");
        let mut con = client.get_connection().expect("connect");
        let _: () = con.set("greeting", "hello").expect("SET");
        let got: String = con.get("greeting").expect("GET");
        assert_eq!(got, "hello");
        let n: i64 = con.incr("counter", 5).expect("INCRBY");
        assert_eq!(n, 5);
        let values: Vec<Option<String>> = con.mget(&["greeting", "nope"]).expect("MGET");
        assert_eq!(values, vec![Some("hello".to_owned()), None]);
        let (a, b): (i64, i64) = redis::pipe().incr("p", 1).incr("p", 1).query(&mut con).expect("pipeline");
        assert_eq!((a, b), (1, 2));
        let (c,): (i64,) = redis::pipe().atomic().incr("p", 10).query(&mut con).expect("MULTI/EXEC");
        assert_eq!(c, 12);
        let _: () = con.set_ex("temp", "v", 100).expect("SETEX");
        let ttl: i64 = con.ttl("temp").expect("TTL");
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        let error = con.incr::<_, _, i64>("greeting", 1).expect_err("not an integer");
        assert!(error.to_string().contains("not an integer"), "{error}");
    })
    .await
    .expect("client thread");
}

/// Oversized or malformed requests get Redis's error text and lose their connection; another
/// client is served throughout, and nothing the bad client sent was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_only_that_connection() {
    let server = TestServer::start().await;
    let mut good = server.client().await;
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n$536870913\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1048577\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*2\r\n$3\r\nSET\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"SET k \"unbalanced\r\n", "ERR Protocol error: unbalanced quotes in request"),
    ];
    for (bytes, expected) in cases {
        let mut bad = server.client().await;
        bad.send_raw(b"SET before ok\r\n").await;
        assert_eq!(bad.read().await, Some(ok()));
        bad.send_raw(bytes).await;
        assert_eq!(
            bad.read().await,
            Some(Frame::Error((*expected).into())),
            "{:?}",
            Bytes::from_static(bytes)
        );
        assert_eq!(bad.read().await, None, "the connection is closed after {:?}", Bytes::from_static(bytes));
        assert_eq!(good.call(&["PING"]).await, Frame::Simple("PONG".into()));
    }
    // An inline request longer than 64 KiB without a line end.
    let mut bad = server.client().await;
    bad.send_raw(&vec![b'a'; 70 * 1024]).await;
    assert_eq!(bad.read().await, Some(Frame::Error("ERR Protocol error: too big inline request".into())));
    assert_eq!(bad.read().await, None);
    assert_eq!(good.call(&["EXISTS", "k"]).await, Frame::Integer(0));
}

/// WATCH keeps one watch per key however often it is named, and takes up to the limit of keys
/// in one call: 10,000 distinct keys are accepted, one more is refused, and a key named twice
/// still aborts EXEC when another client changes it. (Watching is linear in the keys now; its
/// speed is not asserted here, as no test asserts a duration.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_takes_each_key_once_up_to_the_limit() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut other = server.client().await;
    let keys: Vec<String> = (0..redraft_core::limits::WATCHED_KEYS_MAX).map(|i| format!("w{i}")).collect();
    let mut watch = vec!["WATCH"];
    watch.extend(keys.iter().map(String::as_str));
    assert_eq!(client.call(&watch).await, ok());
    assert!(matches!(client.call(&["WATCH", "one-more"]).await, Frame::Error(_)), "over the limit");
    assert_eq!(client.call(&["UNWATCH"]).await, ok());
    assert_eq!(client.call(&["WATCH", "k", "k", "k"]).await, ok());
    assert_eq!(other.call(&["SET", "k", "changed"]).await, ok());
    assert_eq!(client.call(&["MULTI"]).await, ok());
    assert_eq!(client.call(&["SET", "k", "mine"]).await, Frame::Simple("QUEUED".into()));
    assert_eq!(client.call(&["EXEC"]).await, Frame::NullArray, "the watched key changed");
    assert_eq!(client.call(&["GET", "k"]).await, bulk("changed"));
}

/// An HTTP request sent to the RESP port (what a web page doing cross-protocol scripting sends)
/// closes the connection as Redis 7 does: no reply to anything that arrived with `POST` or
/// `Host:` (a real redis-server sends no `+PONG` for the `PING` before it either), and nothing
/// after it is run, however it is spelled or wherever it stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_to_the_resp_port_are_closed_unrun() {
    let server = TestServer::start().await;
    let mut good = server.client().await;
    let cases: &[&[u8]] = &[
        b"PING\r\nPOST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nSET attack 1\r\n",
        b"PING\r\nGET / HTTP/1.1\r\nhost: 127.0.0.1\r\nContent-Length: 12\r\n\r\nSET attack 1\r\n",
        b"PING\r\n*2\r\n$4\r\npost\r\n$1\r\n/\r\n*3\r\n$3\r\nSET\r\n$6\r\nattack\r\n$1\r\n1\r\n",
    ];
    for bytes in cases {
        let mut browser = server.client().await;
        browser.send_raw(bytes).await;
        assert_eq!(browser.read().await, None, "closed after {:?}", Bytes::from_static(bytes));
        assert_eq!(good.call(&["EXISTS", "attack"]).await, Frame::Integer(0), "nothing after it ran");
    }
}

/// At `maxclients` a new connection gets Redis's error and is closed; once a client leaves, a new
/// one is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maxclients_refuses_connections_beyond_the_limit() {
    let settings = RespSettings::default();
    settings.maxclients.store(2, Ordering::Relaxed);
    let server = TestServer::start_with(settings).await;
    let mut first = server.client().await;
    let mut second = server.client().await;
    assert_eq!(first.call(&["PING"]).await, Frame::Simple("PONG".into()));
    assert_eq!(second.call(&["PING"]).await, Frame::Simple("PONG".into()));
    let mut third = server.client().await;
    assert_eq!(third.read().await, Some(Frame::Error("ERR max number of clients reached".into())));
    assert_eq!(third.read().await, None);
    assert_eq!(server.node.metrics().connections_rejected.get(), 1);
    drop(second);
    // The server notices the close when its task next reads, which nothing here can order, so
    // try again until a connection is accepted (bounded, so a regression fails instead of hangs).
    let mut attempts = 0;
    let mut fourth = loop {
        attempts += 1;
        assert!(attempts < 10_000, "no connection accepted after a client left");
        let mut client = server.client().await;
        client.send(&["PING"]).await;
        match client.read().await {
            Some(Frame::Simple(pong)) if pong == "PONG" => break client,
            _ => tokio::task::yield_now().await,
        }
    };
    assert_eq!(fourth.call(&["ECHO", "in"]).await, bulk("in"));
}

/// A client that sends a long pipeline and never reads its replies blocks only its own
/// connection: the server keeps answering another client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_stall_others() {
    let server = TestServer::start().await;
    let mut other = server.client().await;
    assert_eq!(other.call(&["SET", "big", &"x".repeat(64 * 1024)]).await, ok());
    let mut stuck = server.client().await;
    let mut pipeline = Vec::new();
    for _ in 0..2_000 {
        pipeline.extend_from_slice(b"GET big\r\n");
    }
    // 2,000 replies of 64 KiB fill both socket buffers long before the client would read them.
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = stuck.stream.write_all(&pipeline).await;
        stuck
    });
    for i in 0..50 {
        assert_eq!(other.call(&["INCR", "c"]).await, Frame::Integer(i + 1));
    }
    writer.abort();
}

/// Corpus files of malformed requests: each is answered (maybe with an error) or the connection is
/// closed, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_of_malformed_requests_never_breaks_the_server() {
    let server = TestServer::start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/resp");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("corpus dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is in {}", dir.display());
    for file in files {
        let bytes = std::fs::read(&file).expect("corpus file");
        let mut client = server.client().await;
        client.send_raw(&bytes).await;
        client.send_raw(b"\r\n*1\r\n$4\r\nPING\r\n").await;
        // Read until PONG or the server closes the connection.
        while let Some(frame) = client.read().await {
            if frame == Frame::Simple("PONG".into()) {
                break;
            }
        }
        let mut fresh = server.client().await;
        assert_eq!(fresh.call(&["PING"]).await, Frame::Simple("PONG".into()), "after {}", file.display());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary bytes, and valid requests with bytes flipped or cut, never take the server down:
    /// a fresh client is answered after each.
    #[test]
    fn arbitrary_bytes_never_break_the_server(
        noise in prop::collection::vec(any::<u8>(), 0..512),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async {
            let server = shared_server().await;
            let mut valid = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec();
            for (at, byte) in &flips {
                let index = at.index(valid.len());
                valid[index] = *byte;
            }
            for input in [noise.clone(), valid] {
                let mut client = Client::connect(server).await;
                client.send_raw(&input).await;
                client.send_raw(b"\r\nPING\r\n").await;
                while let Some(frame) = client.read().await {
                    if frame == Frame::Simple("PONG".into()) {
                        break;
                    }
                }
                let mut fresh = Client::connect(server).await;
                assert_eq!(fresh.call(&["PING"]).await, Frame::Simple("PONG".into()));
            }
        });
    }
}

/// One server for every proptest case, on a runtime of its own that outlives the cases.
async fn shared_server() -> std::net::SocketAddr {
    use std::sync::OnceLock;
    static ADDR: OnceLock<std::net::SocketAddr> = OnceLock::new();
    if let Some(addr) = ADDR.get() {
        return *addr;
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    #[allow(clippy::disallowed_methods)] // A test's own server thread, outside any simulation.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let server = TestServer::start().await;
            sender.send(server.addr).expect("the test waits");
            std::future::pending::<()>().await;
        });
    });
    let addr = receiver.recv().expect("the server starts");
    *ADDR.get_or_init(|| addr)
}

/// Every command in core's table that the server answers itself (PING, MULTI, RAFT.INFO, ...) is
/// one it knows: sent with the fewest arguments its arity allows, each on a fresh connection, none
/// gets "unknown command". The filler argument is "0", which no command acts on (RAFT.REMOVE 0
/// is refused: ids are positive), so the node stays a healthy cluster of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_command_in_the_spec_is_answered() {
    let server = TestServer::start().await;
    for spec in redraft_core::spec::COMMANDS.iter().filter(|spec| spec.data.is_none()) {
        let arg_count = usize::try_from(spec.arity.unsigned_abs()).expect("arities are small");
        let mut args = vec![spec.name];
        args.resize(arg_count, "0");
        let reply = server.client().await.call(&args).await;
        assert!(
            !matches!(&reply, Frame::Error(text) if text.starts_with("ERR unknown command")),
            "{args:?}: {reply:?}"
        );
    }
}

/// A write too large for one log entry (an MSET of two 300 MB values, a transaction of two big
/// SETs) once panicked the Raft core in the log's encoder and left a zombie node. It is refused
/// with a clear error before it is proposed, the writes around it in a pipeline go through, and
/// the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_too_large_for_one_entry_is_refused_and_the_node_goes_on() {
    let server = TestServer::start().await;
    // Zeroed pages from the allocator, never touched: the writes are refused before anything
    // reads or copies them.
    let big = Bytes::from(vec![0u8; 300 << 20]);
    let command = |args: Vec<Bytes>| Command::parse(&args).expect("a valid command");
    let arg = |text: &str| Bytes::copy_from_slice(text.as_bytes());
    let write = |command: Command| Write::Command { session: None, command };
    let mset = command(vec![arg("MSET"), arg("k1"), big.clone(), arg("k2"), big.clone()]);
    let transaction = Write::Transaction {
        session: None,
        watches: Vec::new(),
        commands: vec![
            command(vec![arg("SET"), arg("k1"), big.clone()]),
            command(vec![arg("SET"), arg("k2"), big.clone()]),
        ],
    };
    let replies = server
        .node
        .write_batch(vec![
            write(command(vec![arg("SET"), arg("a"), arg("1")])),
            write(mset),
            transaction,
            write(command(vec![arg("SET"), arg("b"), arg("2")])),
        ])
        .await;
    assert_eq!(replies[0], Ok(Reply::Ok));
    for refused in &replies[1..3] {
        match refused {
            Err(NodeError::Invalid(why)) => assert!(why.contains("too large for one log entry"), "{why}"),
            other => panic!("an oversized write must be refused, got {other:?}"),
        }
    }
    assert_eq!(replies[3], Ok(Reply::Ok));
    let mut client = server.client().await;
    assert_eq!(
        client.call(&["MGET", "a", "b", "k1"]).await,
        Frame::Array(vec![bulk("1"), bulk("2"), Frame::Null])
    );
}
