//! Users, AUTH and ACL rules, against a real `redis-server`: the same commands go to Redis 7 and
//! to a redraft node, and every reply must be the same (ages and client details in ACL LOG
//! aside). What redraft does differently on purpose (users are replicated; selectors and
//! first-argument rules are refused) is tested in `redraft_core::acl` and below without Redis.
//!
//! Needs `redis-server` (Debian's redis-server; ci/test installs it).
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // a process test on real time

mod common;

use common::redis_server::RedisServer;
use common::{Client, TestServer};
use redraft_net::resp::Frame;
use redraft_server::node::NodeOptions;
use redraft_server::resp::RespSettings;

/// One step: which of the script's connections sends it, and the command.
type Step<'a> = (usize, &'a str);

/// Runs `script` on `connections` connections to each server and compares every reply.
async fn same_replies(redis: &RedisServer, redraft: &TestServer, connections: usize, script: &[Step<'_>]) {
    let mut theirs = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..connections {
        theirs.push(Client::connect(redis.addr()).await);
        ours.push(redraft.client().await);
    }
    for (connection, line) in script {
        let args = split(line);
        let expected = mask(theirs[*connection].call(&args).await);
        let got = mask(ours[*connection].call(&args).await);
        assert_eq!(got, expected, "connection {connection}: {line}");
    }
}

/// Splits a line at spaces; `'...'` keeps spaces inside one argument.
fn split(line: &str) -> Vec<&str> {
    let mut args = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').expect("a closing quote");
            args.push(&quoted[..end]);
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            args.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
    }
    args
}

/// ACL LOG's age and client details differ between any two servers: blanked.
fn mask(frame: Frame) -> Frame {
    match frame {
        Frame::Array(items) => {
            let mut out: Vec<Frame> = Vec::with_capacity(items.len());
            for item in items {
                let after_volatile = matches!(out.last(), Some(Frame::Bulk(b)) if &b[..] == b"age-seconds" || &b[..] == b"client-info");
                out.push(if after_volatile { Frame::Null } else { mask(item) });
            }
            Frame::Array(out)
        }
        other => other,
    }
}

async fn pair(requirepass: Option<&str>, redis_args: &[&str]) -> (RedisServer, TestServer) {
    let options = NodeOptions { requirepass: requirepass.map(str::to_owned), ..TestServer::options() };
    (
        RedisServer::start_with(redis_args),
        TestServer::start_with_options(RespSettings::default(), options).await,
    )
}

/// ACL SETUSER's rules, their refusals, and how users are described back (ACL LIST, GETUSER,
/// USERS, CAT), as Redis 7.0 does them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_descriptions_match_redis() {
    let (redis, redraft) = pair(None, &[]).await;
    let script: Vec<Step<'_>> = [
        "ACL LIST",
        "ACL USERS",
        "ACL WHOAMI",
        "ACL CAT",
        "ACL GETUSER default",
        "ACL GETUSER nosuch",
        "ACL SETUSER alice on >p1 ~cached:* %R~ro:* +get +@string -setex",
        "ACL SETUSER u1",
        "ACL SETUSER u2 reset",
        "ACL SETUSER u3 on nopass allkeys allchannels allcommands",
        "ACL SETUSER u5 on >a <a +@all -flushall",
        "ACL SETUSER w on >p %W~* +@all",
        "ACL SETUSER u4 on >a >b ~x %W~y %RW~z &ch*",
        "ACL SETUSER u6 on #ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb !ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
        "ACL LIST",
        "ACL GETUSER alice",
        "ACL GETUSER u4",
        "ACL SETUSER u3 <nope",
        "ACL SETUSER u3 !abc",
        "ACL SETUSER u3 #abc",
        "ACL SETUSER u3 ~x",
        "ACL SETUSER u3 %X~a",
        "ACL SETUSER u3 &b",
        "ACL SETUSER u1 +nosuch",
        "ACL SETUSER u1 +@nosuch",
        "ACL SETUSER u1 bogus",
        "ACL SETUSER u1 +config|nosuch",
        "ACL SETUSER u1 on resetkeys %R~a %W~a",
        "ACL GETUSER u1",
        "ACL SETUSER x &a allchannels &b",
        "ACL SETUSER 'bad name' on",
        "ACL DELUSER default",
        "ACL DELUSER u1 nosuch",
        "ACL USERS",
        "ACL SETUSER",
        "ACL",
        "ACL nosuch",
        "ACL WHOAMI extra",
        "ACL GENPASS 0",
        "ACL CAT nosuch",
        "ACL LOG",
    ]
    .into_iter()
    .map(|line| (0, line))
    .collect();
    same_replies(&redis, &redraft, 1, &script).await;
}

/// A user's commands and keys, checked as Redis checks them (inside MULTI too), and ACL LOG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_match_redis() {
    let (redis, redraft) = pair(None, &[]).await;
    let script: Vec<Step<'_>> = vec![
        (0, "ACL SETUSER alice on >p1 ~cached:* %R~ro:* %W~wo:* +@string +exists -setex +multi +exec"),
        (0, "SET ro:1 v"),
        (1, "AUTH alice wrong"),
        (1, "ACL WHOAMI"),
        (1, "AUTH alice p1"),
        (1, "SET foo bar"),
        (1, "GET foo"),
        (1, "SETEX cached:1 10 v"),
        (1, "SET ro:1 v"),
        (1, "GET ro:1"),
        (1, "SET cached:1 v"),
        (1, "GET cached:1"),
        (1, "INCR cached:n"),
        (1, "SET wo:1 v"),
        (1, "GET wo:1"),
        (1, "SET wo:1 v GET"),
        (1, "EXISTS wo:1 ro:1 elsewhere"),
        (1, "EXISTS wo:1 ro:1"),
        (1, "MSET cached:a 1 other 2"),
        (1, "DEL cached:1"),
        (1, "CONFIG GET maxclients"),
        (1, "CLIENT ID"),
        (1, "PING"),
        (1, "MULTI"),
        (1, "SET cached:2 v"),
        (1, "DEL x"),
        (1, "EXEC"),
        (1, "GET cached:2"),
        (0, "ACL SETUSER alice +ping"),
        (1, "PING"),
        (0, "ACL LOG"),
        (0, "ACL LOG 2"),
        (0, "ACL LOG RESET"),
        (0, "ACL LOG"),
        (0, "AUTH default anything"),
        (0, "AUTH onlyonearg"),
        // A user with no commands may still log in and out, and QUIT.
        (0, "ACL SETUSER nobody on >n -@all"),
        (1, "AUTH nobody n"),
        (1, "PING"),
        (1, "AUTH default x"),
        (1, "ACL WHOAMI"),
        (1, "AUTH nobody n"),
        (1, "RESET"),
        (1, "ACL WHOAMI"),
        (1, "AUTH nobody n"),
        (1, "QUIT"),
    ];
    same_replies(&redis, &redraft, 2, &script).await;
}

/// With requirepass: nothing runs before AUTH (an unknown command is still unknown first),
/// HELLO needs credentials, a failed AUTH keeps the user the connection had, RESET logs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_matches_redis() {
    let (redis, redraft) = pair(Some("s3cret"), &["--requirepass", "s3cret"]).await;
    let script: Vec<Step<'_>> = [
        "PING",
        "GET k",
        "nosuchcmd",
        "ACL WHOAMI",
        "HELLO",
        "HELLO 3",
        "AUTH wrong",
        "AUTH default wrong",
        "HELLO 2 AUTH default wrong",
        "AUTH a b c",
        "AUTH s3cret",
        "ACL WHOAMI",
        "AUTH nouser x",
        "ACL WHOAMI",
        "SET k v",
        "RESET",
        "GET k",
        "AUTH default s3cret",
        "GET k",
        "ACL SETUSER default resetpass >other",
        "ACL LIST",
        "QUIT",
    ]
    .into_iter()
    .map(|line| (0, line))
    .collect();
    same_replies(&redis, &redraft, 1, &script).await;
    // A new connection: the password changed by rule.
    let (mut theirs, mut ours) = (Client::connect(redis.addr()).await, redraft.client().await);
    for line in ["AUTH s3cret", "AUTH other", "ACL WHOAMI"] {
        let args = split(line);
        assert_eq!(ours.call(&args).await, theirs.call(&args).await, "{line}");
    }
}

/// A connection whose user is deleted is closed; one whose rules change gets the new rules at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_changes_reach_open_connections() {
    let (redis, redraft) = pair(None, &[]).await;
    for (name, addr) in [("redis", redis.addr()), ("redraft", redraft.addr)] {
        let mut admin = Client::connect(addr).await;
        let mut bob = Client::connect(addr).await;
        assert_eq!(
            admin.call(&["ACL", "SETUSER", "bob", "on", ">pw", "allkeys", "+get"]).await,
            Frame::simple("OK")
        );
        assert_eq!(bob.call(&["AUTH", "bob", "pw"]).await, Frame::simple("OK"), "{name}");
        assert_eq!(bob.call(&["GET", "k"]).await, Frame::Null, "{name}");
        admin.call(&["ACL", "SETUSER", "bob", "-get"]).await;
        assert!(
            matches!(bob.call(&["GET", "k"]).await, Frame::Error(e) if e.starts_with("NOPERM")),
            "{name}"
        );
        admin.call(&["ACL", "DELUSER", "bob"]).await;
        bob.send(&["GET", "k"]).await;
        assert_eq!(bob.read().await, None, "{name}: a deleted user's connection is closed");
    }
}

/// ACL SAVE and ACL LOAD with an ACL file, against Redis with the same file: without one both
/// refuse with Redis's text; LOAD replaces the users (a file without the default user resets it),
/// refuses a bad file naming its line and changes nothing; SAVE writes what ACL LIST shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_files_load_and_save_as_in_redis() {
    let (redis, redraft) = pair(None, &[]).await;
    same_replies(&redis, &redraft, 1, &[(0, "ACL SAVE"), (0, "ACL LOAD")]).await;

    // Both servers read the same file, so that errors naming it are the same text.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.acl");
    let write = |text: &str| std::fs::write(&file, text).expect("write");
    write("user default on nopass ~* +@all\nuser app on >pw ~app:* +get\n");
    let redis = RedisServer::start_with(&["--aclfile", file.to_str().expect("utf-8")]);
    let settings = RespSettings { aclfile: Some(file.clone()), ..RespSettings::default() };
    let redraft = TestServer::start_with(settings).await;
    same_replies(&redis, &redraft, 1, &[(0, "ACL SETUSER extra on"), (0, "ACL LOAD"), (0, "ACL LIST")]).await;

    write("user default on nopass ~* +@all\nuser bad on +nosuchcmd\n");
    let mut ours = redraft.client().await;
    let mut theirs = Client::connect(redis.addr()).await;
    for client in [&mut ours, &mut theirs] {
        let reply = client.call(&["ACL", "LOAD"]).await;
        assert!(matches!(&reply, Frame::Error(e) if e.contains("users.acl:2")), "{reply:?}");
    }
    write("garbage\n");
    same_replies(&redis, &redraft, 1, &[(0, "ACL LOAD"), (0, "ACL LIST")]).await;
    write("user app on >pw ~app:* +get\n");
    same_replies(&redis, &redraft, 1, &[(0, "ACL LOAD"), (0, "ACL LIST"), (0, "ACL SETUSER x on")]).await;
    assert_eq!(theirs.call(&["ACL", "SAVE"]).await, Frame::simple("OK"));
    let saved_by_redis = std::fs::read_to_string(&file).expect("saved");
    assert_eq!(ours.call(&["ACL", "SAVE"]).await, Frame::simple("OK"));
    assert_eq!(std::fs::read_to_string(&file).expect("saved"), saved_by_redis);
}

/// A new cluster's users come from its ACL file (`aclfile`); after a restart the replicated users
/// stand, and the file is not applied over changes made since.
#[test]
fn a_new_cluster_starts_with_the_users_of_its_acl_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("users.acl");
    std::fs::write(&file, "user default on nopass ~* +@all\nuser app on >pw ~app:* +get\n").expect("write");
    let file = file.to_str().expect("utf-8");
    let data = dir.path().join("node");
    let node = common::ServerProcess::start(&data, &["--aclfile", file]);
    let mut client = node.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.call(&["AUTH", "app", "pw"]).expect("AUTH") != Frame::simple("OK") {
        assert!(std::time::Instant::now() < deadline, "the ACL file's user never appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut admin = node.client();
    assert_eq!(admin.call(&["ACL", "SETUSER", "later", "on", ">pw2"]).expect("SETUSER"), Frame::simple("OK"));
    assert_eq!(node.stop(), Some(0));

    let node = common::ServerProcess::start(&data, &["--aclfile", file]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut client = node.client();
    assert_eq!(client.call(&["AUTH", "later", "pw2"]).expect("AUTH"), Frame::simple("OK"));
    assert_eq!(client.call(&["AUTH", "app", "pw"]).expect("AUTH"), Frame::simple("OK"));
}
