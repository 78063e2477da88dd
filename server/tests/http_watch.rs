//! Watch on real `redraft-server` processes (DESIGN.md §9): the changes to a key or a range as
//! Server-Sent Events or WebSocket messages, from a revision, in order, once each; resumed where a
//! stream was cut off; refused as compacted before the history a node keeps, which a restart
//! rebuilds from its log; and a watcher that stops reading cut off with bounded memory.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Write as _};
use std::time::{Duration, Instant};

use common::{http_json as call, ok, revision, ServerProcess};
use redraft_net::resp::Frame;
use serde_json::{json, Value};

/// Reads Server-Sent Events from a watch until `until` says stop or the deadline passes; each
/// event's SSE `id:` is put into its data as `"sse_id"`.
fn watch_events(
    addr: &str,
    path: &str,
    headers: &str,
    until: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    // HTTP/1.0: the body is not chunked, and ends when the connection closes.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n").expect("write");
    let mut reader = BufReader::new(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut events, mut kind, mut line, mut id) = (Vec::new(), String::new(), String::new(), None);
    while Instant::now() < deadline && !until(&events) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                continue
            }
            Err(e) => panic!("reading the watch: {e}"),
        }
        if let Some(name) = line.trim_end().strip_prefix("event: ") {
            kind = name.to_owned();
        } else if let Some(value) = line.trim_end().strip_prefix("id: ") {
            id = Some(value.to_owned());
        } else if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let mut event: Value = serde_json::from_str(data).expect("JSON data");
            event["sse_id"] = json!(id.take());
            events.push((kind.clone(), event));
        } else if line.starts_with("HTTP/1.") && !line.contains(" 200 ") {
            panic!("the watch was refused: {line}");
        }
    }
    events
}

/// The status and JSON body of a watch that must be refused. One that starts instead fails the
/// test at once: its stream (progress events) would never end.
fn refused_watch(addr: &str, path: &str) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    assert_ne!(status, 200, "the watch {path} started");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut reader, &mut response).expect("the refusal");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

fn summary(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .filter(|(kind, _)| kind != "progress")
        .map(|(kind, e)| match kind.as_str() {
            "put" => format!(
                "put {}={} @{}",
                e["key"].as_str().unwrap_or("?"),
                e["value"].as_str().unwrap_or("?"),
                e["revision"]
            ),
            "delete" => format!(
                "delete {} {} @{}",
                e["key"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("?"),
                e["revision"]
            ),
            other => format!("{other} @{}", e["revision"]),
        })
        .collect()
}

/// A watch sends every change to its keys in revision order, exactly once, from the revision it
/// asks for, puts and deletes with their reason (client, expiry, flush) and progress while quiet;
/// a resume from the last revision seen repeats nothing; a revision older than what the node
/// holds is refused as compacted, naming the oldest available.
#[test]
fn watch_streams_changes_from_a_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("node");
    let server = ServerProcess::start(&data_dir, &[]);
    let http = server.http_addr.clone();
    let mut resp = server.client();
    assert_eq!(resp.call(&["SET", "w/a", "1"]).expect("SET"), ok());
    let (_, a) = call(&http, "GET", "/v1/kv/w/a", None);
    let start = revision(&a);
    assert_eq!(resp.call(&["SET", "elsewhere", "1"]).expect("SET"), ok());
    assert_eq!(resp.call(&["SET", "w/b", "2", "PX", "100"]).expect("SET"), ok());
    assert_eq!(resp.call(&["DEL", "w/a"]).expect("DEL"), Frame::Integer(1));
    // w/b expires, and active expiry removes it (DBSIZE counts expired keys still stored).
    let deadline = Instant::now() + Duration::from_secs(10);
    while resp.call(&["DBSIZE"]).expect("DBSIZE") != Frame::Integer(1) {
        assert!(Instant::now() < deadline, "active expiry did not remove w/b");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(resp.call(&["FLUSHALL"]).expect("FLUSHALL"), ok());
    assert_eq!(resp.call(&["SET", "w/c", "3"]).expect("SET"), ok());

    let done = |events: &[(String, Value)]| events.iter().any(|(_, e)| e["key"] == "w/c");
    let events = watch_events(&http, &format!("/v1/watch?prefix=w/&start_revision={start}"), "", done);
    let seen = summary(&events);
    let kinds: Vec<&str> = seen.iter().map(|s| s.split(" @").next().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        ["put w/a=1", "put w/b=2", "delete w/a client", "delete w/b expiry", "flush", "put w/c=3"],
        "{seen:?}"
    );
    let revisions: Vec<u64> = events
        .iter()
        .filter(|(k, _)| k != "progress")
        .map(|(_, e)| e["revision"].as_u64().expect("revision"))
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]) && revisions[0] == start, "{revisions:?}");

    // Resuming after the delete of w/a (as EventSource does with Last-Event-ID) repeats nothing.
    let last = format!("Last-Event-ID: {}\r\n", revisions[2]);
    let resumed = watch_events(&http, "/v1/watch?prefix=w/", &last, done);
    assert_eq!(summary(&resumed).len(), 3, "{:?}", summary(&resumed));

    // Live: a quiet watch says how far it is complete, then sees a new write once.
    let (_, now) = call(&http, "GET", "/v1/kv/w/c", None);
    let live_from = revision(&now) + 1;
    let writer_addr = server.port();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        let mut client = common::SyncClient::connect(&format!("127.0.0.1:{writer_addr}")).expect("connect");
        client.call(&["SET", "w/live", "now"]).expect("SET")
    });
    let live = watch_events(&http, "/v1/watch?key=w/live&progress_ms=200", "", |events| {
        events.iter().any(|(kind, _)| kind == "put")
    });
    assert_eq!(writer.join().expect("writer"), ok());
    let progress: Vec<u64> = live.iter().filter(|(k, _)| k == "progress").map(|(_, e)| revision(e)).collect();
    assert!(!progress.is_empty() && progress.iter().all(|r| *r + 1 >= live_from), "{live:?}");
    assert_eq!(summary(&live).len(), 1, "{live:?}");

    // After a snapshot and a restart the node holds no history before the snapshot.
    assert_eq!(resp.call(&["SAVE"]).expect("SAVE"), ok());
    drop(resp);
    server.stop();
    let server = ServerProcess::start(&data_dir, &[]);
    let (status, refused) = refused_watch(&server.http_addr, "/v1/watch?prefix=w/&start_revision=1");
    assert_eq!((status, refused["code"].as_str()), (410, Some("compacted")), "{refused}");
    assert!(refused["oldest_revision"].as_u64().expect("oldest_revision") > start, "{refused}");
}

/// A transaction's changes share one revision. A stream cut off between two of them resumes, as
/// a browser's EventSource does (the same URL, with `Last-Event-ID`), with the rest of that
/// revision: nothing twice, nothing lost.
#[test]
fn a_watch_cut_off_inside_a_revision_resumes_with_the_rest_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let http = server.http_addr.clone();
    let put = |key: &str, value: &str| json!({ "put": { "key": key, "value": value } });
    let body = json!({ "compare": [], "success": [put("t/a", "1"), put("t/b", "2"), put("t/c", "3")] });
    let (status, done) = call(&http, "POST", "/v1/txn", Some(body));
    assert_eq!((status, done["succeeded"].as_bool()), (200, Some(true)), "{done}");
    let at = revision(&done);
    let path = format!("/v1/watch?prefix=t/&start_revision={at}");
    let changes = |events: &[(String, Value)]| events.iter().filter(|(k, _)| k != "progress").count();
    let first = watch_events(&http, &path, "", |events| changes(events) == 2);
    let ids: Vec<String> =
        first.iter().map(|(_, e)| e["sse_id"].as_str().unwrap_or("none").to_owned()).collect();
    assert_eq!(ids, [format!("{at}.1"), format!("{at}.2")], "{first:?}");

    let header = format!("Last-Event-ID: {}\r\n", ids[1]);
    let rest = watch_events(&http, &path, &header, |events| changes(events) == 1);
    assert_eq!(summary(&rest), [format!("put t/c=3 @{at}")], "{rest:?}");
    assert_eq!(rest[0].1["sse_id"], json!(at.to_string()), "the revision is whole after its last change");
    // Resuming after the whole revision (or after a progress event) starts past it.
    let header = format!("Last-Event-ID: {at}\r\n");
    let (_, more) = call(&http, "PUT", "/v1/kv/t/d", Some(json!({ "value": "4" })));
    let after = watch_events(&http, &path, &header, |events| changes(events) == 1);
    assert_eq!(summary(&after), [format!("put t/d=4 @{}", revision(&more))], "{after:?}");
}

/// The watch over a WebSocket: the same changes as JSON messages, and a progress answer as soon
/// as the client asks for one, saying every change up to it was sent.
#[test]
fn watch_over_a_websocket_answers_progress_requests() {
    use tungstenite::Message;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(&dir.path().join("node"), &[]);
    let mut resp = server.client();
    assert_eq!(resp.call(&["SET", "ws/before", "1"]).expect("SET"), ok());
    let url = format!("ws://{}/v1/watch?prefix=ws/&progress_ms=600000", server.http_addr);
    let (mut socket, _) = tungstenite::connect(url).expect("the WebSocket upgrade");
    let next = |socket: &mut tungstenite::WebSocket<_>| -> Value {
        loop {
            match socket.read().expect("a message") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    socket.send(Message::Text(json!({ "progress": true }).to_string())).expect("send");
    let progress = next(&mut socket);
    assert_eq!(progress["type"], "progress", "{progress}");
    let (_, before) = call(&server.http_addr, "GET", "/v1/kv/ws/before", None);
    assert!(revision(&progress) >= before["mod_revision"].as_u64().expect("mod_revision"), "{progress}");

    assert_eq!(resp.call(&["SET", "ws/k", "v"]).expect("SET"), ok());
    let put = next(&mut socket);
    assert_eq!(
        (put["type"].as_str(), put["key"].as_str(), put["value"].as_str()),
        (Some("put"), Some("ws/k"), Some("v"))
    );
    socket.send(Message::Text("hello".into())).expect("send");
    assert_eq!(next(&mut socket)["code"], "bad_request");
    socket.send(Message::Text(json!({ "progress": true }).to_string())).expect("send");
    let after = next(&mut socket);
    assert_eq!(
        (after["type"].as_str(), after["revision"].as_u64()),
        (Some("progress"), put["revision"].as_u64())
    );
    socket.close(None).expect("close");
}

/// A restart rebuilds the history from its log, and keeps, as before it, the newest changes
/// the window holds: a watch from the oldest it names sees every change from there on, once, in
/// order, and one from before is refused as compacted. (The replay records only those changes,
/// `change_feed::ReplayHistory`; what it skips must leave no gap.)
#[test]
fn a_restart_rebuilds_the_newest_history_from_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("redraft.toml");
    std::fs::write(&config, "watch-history-changes = 3\nfsync = \"always\"\n").expect("config");
    let args = ["--config", config.to_str().expect("utf-8")];
    let data = dir.path().join("node");
    let server = ServerProcess::start(&data, &args);
    let revisions: Vec<u64> = (0..8)
        .map(|i| {
            let body = Some(json!({ "value": i.to_string() }));
            let (status, put) = call(&server.http_addr, "PUT", &format!("/v1/kv/r/{i}"), body);
            assert_eq!(status, 201, "created: {put}");
            revision(&put)
        })
        .collect();
    // A delete of no key changes nothing; once it is synced, the log knows the last put
    // committed, and the restart's replay applies all eight puts: it alone fills the window,
    // and where the window starts is the replay's to say.
    let (status, _) = call(&server.http_addr, "DELETE", "/v1/kv/r/none", None);
    assert_eq!(status, 200);
    server.stop();

    let server = ServerProcess::start(&data, &args);
    let path = format!("/v1/watch?prefix=r/&start_revision={}", revisions[4]);
    let (status, refused) = refused_watch(&server.http_addr, &path);
    assert_eq!((status, refused["code"].as_str()), (410, Some("compacted")), "{refused}");
    let oldest = refused["oldest_revision"].as_u64().expect("oldest_revision");
    assert!(oldest > revisions[4] && oldest <= revisions[5], "{oldest} in {revisions:?}");
    let path = format!("/v1/watch?prefix=r/&start_revision={oldest}");
    let events = watch_events(&server.http_addr, &path, "", |events| summary(events).len() >= 3);
    let expected: Vec<String> = (5..8).map(|i| format!("put r/{i}={i} @{}", revisions[i])).collect();
    assert_eq!(summary(&events), expected);
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// A watcher that stops reading is cut off with `compacted` once the changes it has not taken
/// leave the history window, and costs the server no more memory than the window: 100 MB of
/// changes go by while it sleeps, and the server's resident memory grows by far less.
#[test]
fn a_watcher_that_stops_reading_is_cut_off_with_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("redraft.toml");
    std::fs::write(&config, "watch-history-changes = 50\nfsync = \"no\"\n").expect("config");
    let server =
        ServerProcess::start(&dir.path().join("node"), &["--config", config.to_str().expect("utf-8")]);
    let mut resp = server.client();
    let mut stream = std::net::TcpStream::connect(&server.http_addr).expect("connect");
    write!(stream, "GET /v1/watch?prefix=slow/ HTTP/1.0\r\nHost: x\r\n\r\n").expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let before = resident_bytes(server.child.id());
    let value = "x".repeat(64 * 1024);
    for round in 0..40 {
        let commands: Vec<Vec<String>> = (0..40)
            .map(|i| vec!["SET".into(), format!("slow/{}", i % 10), format!("{round}{value}")])
            .collect();
        let replies = resp.pipeline(&commands).expect("SET");
        assert!(replies.iter().all(|r| *r == ok()), "{replies:?}");
    }
    let after = resident_bytes(server.child.id());
    assert!(
        after < before + 40 * 1024 * 1024,
        "RSS grew from {before} to {after} bytes for one stalled watcher"
    );

    // Now it reads: some changes, then the reason it was cut off, then the end.
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut events = Vec::new();
    let mut kind = String::new();
    for line in BufReader::new(stream).lines() {
        let line = line.expect("the stream ends rather than stalls");
        if let Some(name) = line.strip_prefix("event: ") {
            kind = name.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((kind.clone(), serde_json::from_str::<Value>(data).expect("JSON")));
        }
    }
    let (last_kind, last) = events.last().expect("events");
    assert_eq!((last_kind.as_str(), last["code"].as_str()), ("error", Some("compacted")), "{last}");
    assert!(last["error"].as_str().is_some_and(|e| e.contains("fell behind")), "{last}");
    let puts = events.iter().filter(|(k, _)| k == "put").count();
    assert!(puts < 1600, "it was cut off before the end: {puts} puts");
}
