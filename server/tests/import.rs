//! `redraft-cli import --from redis://...` against a real `redis-server` holding strings (with
//! and without TTLs, binary ones among them) and keys of types redraft does not hold yet: the
//! import runs in two steps through a resume file (`--limit`, then the rest), skips and counts the
//! other types, and every string is then in redraft with its value and its TTL, compared key by
//! key with the source.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // real processes on real time

mod common;

use std::process::Command;

use bytes::Bytes;
use common::redis_server::RedisServer;
use common::{ServerProcess, SyncClient};
use redraft_net::resp::Frame;

fn import(args: &[&str]) -> (bool, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_redraft-cli")).args(args).output().expect("redraft-cli runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn bytes_call(client: &mut SyncClient, args: &[&[u8]]) -> Frame {
    let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    client.call_bytes(&args).expect("a reply")
}

#[test]
fn a_redis_keyspace_is_imported_in_two_steps_with_its_ttls() {
    let redis = RedisServer::start();
    let mut source = SyncClient::connect(&redis.addr().to_string()).expect("connect to redis");
    let mut strings: Vec<Vec<u8>> = Vec::new();
    for i in 0..1200u32 {
        let key = format!("s:{i}").into_bytes();
        let value = format!("value {i}").into_bytes();
        let reply = if i % 3 == 0 {
            bytes_call(&mut source, &[b"SET", &key, &value, b"PX", b"500000"])
        } else {
            bytes_call(&mut source, &[b"SET", &key, &value])
        };
        assert_eq!(reply, Frame::Simple("OK".into()));
        strings.push(key);
    }
    let binary_key = b"bin:\x00\xff\r\n".to_vec();
    bytes_call(&mut source, &[b"SET", &binary_key, b"\x00\x01\x02\xfe\xff"]);
    strings.push(binary_key);
    for (kind, command) in [
        ("hash", vec!["HSET", "h:1", "f", "v"]),
        ("hash", vec!["HSET", "h:2", "f", "v"]),
        ("list", vec!["RPUSH", "l:1", "a", "b"]),
        ("set", vec!["SADD", "set:1", "a"]),
        ("zset", vec!["ZADD", "z:1", "1", "a"]),
    ] {
        let reply = source.call(&command).expect(kind);
        assert!(matches!(reply, Frame::Integer(_)), "{kind}: {reply:?}");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let redraft = ServerProcess::start(&dir.path().join("node"), &[]);
    let port = redraft.port();
    let from = format!("redis://127.0.0.1:{}", redis.port);
    let resume = dir.path().join("import.resume");
    let resume = resume.to_str().expect("utf-8");

    let (ok, text) = import(&["-p", &port, "import", "--from", &from, "--resume", resume, "--limit", "300"]);
    assert!(ok && text.contains("import stopped at --limit"), "{text}");
    assert!(std::path::Path::new(resume).exists(), "the resume file keeps the cursor");
    let mut client = redraft.client();
    let partly = client.call(&["DBSIZE"]).expect("DBSIZE");
    assert!(matches!(partly, Frame::Integer(n) if (300..1201).contains(&n)), "a first part: {partly:?}");

    let (ok, text) = import(&["-p", &port, "import", "--from", &from, "--resume", resume]);
    assert!(ok && text.contains("import complete: copied 1201 keys, skipped 5"), "{text}");
    assert!(text.contains("skipped 2: hash"), "{text}");
    assert!(text.contains("skipped 1: zset"), "{text}");
    assert!(!std::path::Path::new(resume).exists(), "a complete import removes its resume file");

    assert_eq!(client.call(&["DBSIZE"]).expect("DBSIZE"), Frame::Integer(1201));
    for key in &strings {
        let want = bytes_call(&mut source, &[b"GET", key]);
        assert_eq!(bytes_call(&mut client, &[b"GET", key]), want, "{}", String::from_utf8_lossy(key));
        let (Frame::Integer(source_ttl), Frame::Integer(ttl)) =
            (bytes_call(&mut source, &[b"PTTL", key]), bytes_call(&mut client, &[b"PTTL", key]))
        else {
            panic!("PTTL answers integers");
        };
        if source_ttl < 0 {
            assert_eq!(ttl, source_ttl, "{}", String::from_utf8_lossy(key));
        } else {
            // Set from the source's PTTL a moment earlier, and read at redraft's state-machine
            // time, which moves in steps (DESIGN.md §3): within a second either way.
            assert!((ttl - source_ttl).abs() < 1_000, "{ttl} vs {source_ttl}");
        }
    }
}
