//! The dashboard every node serves at `/`, clicked through in headless Chromium (Debian's
//! `chromium`, driven by Playwright: `tests/dashboard/drive.mjs`) against a real 3-node cluster:
//! a key saved in the page is read back with redis-cli, a key written with redis-cli shows in the
//! page's live feed, and a killed node shows as down. The screenshots are kept under
//! `target/dashboard-screenshots/`. `ci/test` installs Chromium and playwright-core.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::Cluster;

/// Kills the driver (and so its browser) when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // A driver that finished closes its browser itself; give it a moment first.
        for _ in 0..100 {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_cli(addr: &str, args: &[&str]) -> String {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .output()
        .expect("redis-cli runs (apt-get install redis-tools)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_dashboard_shows_the_cluster_writes_keys_and_follows_changes() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    assert!(
        here.join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the dashboard test needs Chromium and playwright-core: run ci/test, or \
         apt-get install chromium && npm install --prefix server/tests/dashboard"
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../dashboard-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    let mut cluster = Cluster::start(3);
    let leader = cluster.leader();
    let http = cluster.nodes[&leader].http_addr.clone();
    let resp = cluster.addrs[&leader].0.clone();
    let mut driver = Command::new("node")
        .arg(here.join("drive.mjs"))
        .arg(&http)
        .arg(&shots)
        .current_dir(&here)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs drive.mjs");
    let mut to_driver = driver.stdin.take().expect("stdin");
    // Lines from the driver through a thread, so that a driver that hangs fails the test on time
    // instead of blocking it.
    let (lines, from_driver) = std::sync::mpsc::channel();
    let stdout = BufReader::new(driver.stdout.take().expect("stdout"));
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|line| lines.send(line)));
    let _stop = KillOnDrop(driver);
    let expect = |step: &str| {
        let line = from_driver.recv_timeout(Duration::from_secs(90)).unwrap_or_default();
        assert_eq!(line, step, "the page did not get to '{step}' (its reason is above)");
    };

    expect("saved");
    assert_eq!(redis_cli(&resp, &["GET", "dash/page"]), "written in the page");
    let ttl: i64 = redis_cli(&resp, &["PTTL", "dash/page"]).parse().expect("a PTTL");
    assert!(ttl > 500_000 && ttl <= 600_000, "the page's TTL: {ttl}");

    assert_eq!(redis_cli(&resp, &["SET", "dash/cli", "from redis-cli"]), "OK");
    writeln!(to_driver, "written").expect("to the driver");
    expect("seen");

    let victim = cluster.follower(leader);
    cluster.nodes.remove(&victim).expect("the follower").kill();
    writeln!(to_driver, "killed {victim}").expect("to the driver");
    expect("down");

    drop(to_driver);
    for shot in ["1-cluster.png", "2-feed.png", "3-node-down.png"] {
        assert!(shots.join(shot).exists(), "{shot} was taken");
    }
}
