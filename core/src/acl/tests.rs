//! The rules and the checks. What Redis replies to the same rules is compared with a running
//! `redis-server` in `server/tests/acl.rs`; these pin the semantics that test cannot see.

use bytes::Bytes;

use super::category::{position, ACL_COMMANDS};
use super::*;

fn rules(text: &str) -> Vec<Bytes> {
    text.split(' ').map(|r| Bytes::copy_from_slice(r.as_bytes())).collect()
}

fn command(args: &str) -> Command {
    Command::parse(&rules(args)).expect("a valid command")
}

fn allowed(user: &User, args: &str) -> Result<(), Denied> {
    let command_args = rules(args);
    let index = category::of_request(&command_args).expect("a known command");
    check(user, index, key_access(&command(args)))
}

#[test]
fn a_new_server_has_a_default_user_that_may_do_anything() {
    let users = Users::default();
    assert_eq!(users.list(), vec!["user default on nopass ~* &* +@all"]);
    let default = users.authenticate(b"default", b"anything").expect("nopass takes any password");
    assert!(allowed(default, "FLUSHALL").is_ok());
}

#[test]
fn passwords_open_only_an_enabled_user() {
    let mut users = Users::default();
    users.set_user(b"alice", &rules(">p1 >p2")).expect("valid");
    assert!(users.authenticate(b"alice", b"p1").is_none(), "a new user is off");
    users.set_user(b"alice", &rules("on <p1")).expect("valid");
    assert!(users.authenticate(b"alice", b"p1").is_none(), "p1 was removed");
    assert!(users.authenticate(b"alice", b"p2").is_some());
    assert!(users.authenticate(b"alice", b"").is_none());
    assert!(users.authenticate(b"nobody", b"p2").is_none());
    // Redis's hash of "p1", from its `ACL LIST`.
    assert_eq!(hash_password(b"p1"), "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a");
    let hash = hash_password(b"p2");
    assert!(users.get("alice").expect("exists").describe().contains(&format!("#{hash}")));
}

#[test]
fn a_refused_rule_leaves_the_user_unchanged() {
    let mut users = Users::default();
    users.set_user(b"bob", &rules("on >pw +get")).expect("valid");
    let before = users.clone();
    let error = users.set_user(b"bob", &rules("-get +nosuch")).expect_err("unknown command");
    assert_eq!(error, "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL");
    assert_eq!(users, before);
    assert!(users.set_user(b"eve", &rules("bogus")).is_err());
    assert!(users.get("eve").is_none(), "a user whose rules fail is not created");
    assert!(users.set_user(b"bad name", &rules("on")).is_err());
}

#[test]
fn commands_and_keys_are_checked_with_the_access_each_key_needs() {
    let mut users = Users::default();
    users
        .set_user(b"alice", &rules("on nopass ~cached:* %R~ro:* %W~wo:* +@string -setex +exists"))
        .expect("valid");
    let alice = users.get("alice").expect("exists");
    assert_eq!(allowed(alice, "GET cached:1"), Ok(()));
    assert_eq!(allowed(alice, "SETEX cached:1 10 v"), Err(Denied::Command("setex")));
    assert_eq!(allowed(alice, "DEL cached:1"), Err(Denied::Command("del")));
    assert_eq!(allowed(alice, "GET other"), Err(Denied::Key(Bytes::from_static(b"other"))));
    assert_eq!(allowed(alice, "GET ro:1"), Ok(()));
    assert!(allowed(alice, "SET ro:1 v").is_err(), "read-only pattern");
    assert_eq!(allowed(alice, "SET wo:1 v"), Ok(()));
    assert!(allowed(alice, "SET wo:1 v GET").is_err(), "SET ... GET reads too");
    assert!(allowed(alice, "INCR wo:1").is_err(), "INCR reads and writes");
    assert_eq!(allowed(alice, "EXISTS wo:1 ro:1"), Ok(()), "EXISTS needs only a matching pattern");
    assert!(allowed(alice, "EXISTS elsewhere").is_err());
    assert!(allowed(alice, "MSET cached:a 1 other 2").is_err(), "every key is checked");
}

#[test]
fn containers_are_checked_by_subcommand() {
    let mut users = Users::default();
    users.set_user(b"ops", &rules("on nopass allkeys -@all +config|get +client")).expect("valid");
    let ops = users.get("ops").expect("exists");
    let may = |args: &str| {
        let args = rules(args);
        ops.may_run(category::of_request(&args).expect("known"))
    };
    assert!(may("CONFIG GET maxclients"));
    assert!(!may("CONFIG SET maxclients 10"));
    assert!(may("CLIENT ID") && may("CLIENT LIST"));
    assert!(users.set_user(b"ops", &rules("+config|nosuch")).is_err());
    assert!(
        users.set_user(b"ops", &rules("+get|x")).is_err(),
        "first-argument rules are refused, not ignored"
    );
}

/// The description rebuilds the same user: what snapshots rely on.
#[test]
fn a_description_rebuilds_the_same_user() {
    let mut users = Users::default();
    users.set_user(b"a", &rules("on >x ~k:* %R~r:* &chan +@read -keys +set")).expect("valid");
    users.set_user(b"b", &rules("reset skip-sanitize-payload +@all -flushall -config|set")).expect("valid");
    users.set_user(b"default", &rules("resetpass >secret")).expect("valid");
    let rebuilt = Users::from_rules(&users.to_rules()).expect("rebuilds");
    assert_eq!(rebuilt.list(), users.list());
    for name in ["a", "b", "default"] {
        let (old, new) = (users.get(name).unwrap(), rebuilt.get(name).unwrap());
        for (index, command) in ACL_COMMANDS.iter().enumerate() {
            assert_eq!(old.may_run(index), new.may_run(index), "{name} {}", command.name);
        }
    }
    assert_eq!(users.get("b").unwrap().command_rules(), "+@all -flushall -config|set");
    assert!(users.get("a").unwrap().may_run(position(b"set").unwrap()));
}

#[test]
fn the_default_user_cannot_be_deleted() {
    let mut users = Users::default();
    users.set_user(b"x", &[]).expect("valid");
    assert_eq!(users.del_users(&rules("x nosuch")), Ok(1));
    assert!(users.del_users(&rules("default")).is_err());
    assert!(users.get("default").is_some());
}
