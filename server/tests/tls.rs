//! Redis clients over TLS, on a real `redraft-server` process with certificates made here
//! (rcgen): `redis-cli --tls` connects and runs commands; with `tls-auth-clients` at its default
//! (yes), a client without a certificate signed by the CA is refused; with `no`, it is let in;
//! a plain client on the TLS port gets nothing; redis-py with `ssl=True` works. HTTPS on the HTTP port with the same certificates
//! answers curl.
//!
//! `dev-cluster --tls` starts three nodes with mutual TLS between them, and its printed commands
//! work.
//!
//! Needs `redis-cli` built with TLS (Debian's redis-tools is), `curl`, and redis-py for python3;
//! ci/test installs them.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // real processes on real time

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{free_port, ServerProcess};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as `dev-cluster --tls`
/// makes them: (ca, server cert, server key, client cert, client key).
fn certificates(dir: &Path) -> [PathBuf; 5] {
    let certs = redraft_server::dev_certs::write(dir, [1]).expect("certificates");
    let (client_cert, client_key) = certs.client();
    [certs.ca(), certs.node_cert(1), certs.node_key(1), client_cert, client_key]
}

fn redis_cli(port: u16, tls: &[&Path], args: &[&str]) -> (bool, String) {
    let mut command = Command::new("redis-cli");
    command.args(["-p", &port.to_string()]);
    if let [ca, rest @ ..] = tls {
        command.arg("--tls").arg("--cacert").arg(ca);
        if let [cert, key] = rest {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
    }
    let output = command.args(args).output().expect("redis-cli runs (apt-get install redis-tools)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (
        output.status.success() && !text.contains("Error") && !text.contains("Could not"),
        text.trim().to_owned(),
    )
}

#[test]
fn redis_cli_talks_to_the_tls_port_and_client_certificates_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let [ca, cert, key, client_cert, client_key] = certificates(dir.path());
    let port = free_port();
    let tls_args = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            cert.display().to_string(),
            "--tls-key-file".to_owned(),
            key.display().to_string(),
            "--tls-ca-cert-file".to_owned(),
            ca.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };

    let args = tls_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start(&dir.path().join("node"), &args);
    assert_eq!(
        redis_cli(port, &[&ca, &client_cert, &client_key], &["SET", "k", "over tls"]),
        (true, "OK".into())
    );
    assert_eq!(redis_cli(port, &[&ca, &client_cert, &client_key], &["GET", "k"]), (true, "over tls".into()));
    let (ok, text) = redis_cli(port, &[&ca], &["PING"]);
    assert!(!ok, "a client without a certificate must be refused: {text}");
    let (ok, text) = redis_cli(port, &[], &["PING"]);
    assert!(!ok || text.is_empty(), "a plain client on the TLS port must get no reply: {text}");
    // The plain port still serves.
    assert_eq!(server.client().call(&["GET", "k"]).expect("GET"), common::bulk("over tls"));
    // redis-py, with ssl=True and the client certificate.
    let script = "import sys, redis\n\
        r = redis.Redis(port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2], ssl_certfile=sys.argv[3], \
        ssl_keyfile=sys.argv[4])\n\
        r.set('from-python', 'yes')\n\
        print(r.get('k').decode(), r.get('from-python').decode())\n";
    let output = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .args([&ca, &client_cert, &client_key])
        .output()
        .expect("python3 runs (ci/test installs redis-py)");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "over tls yes",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    drop(server);

    let args = tls_args(&["--tls-auth-clients", "no", "--http-tls"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start(&dir.path().join("node"), &args);
    assert_eq!(redis_cli(port, &[&ca], &["PING"]), (true, "PONG".into()));

    // HTTPS on the HTTP port, with the same certificates: curl checks the server against the CA.
    let url = format!("https://{}/healthz", server.http_addr);
    let output =
        Command::new("curl").args(["-s", "--cacert"]).arg(&ca).arg(&url).output().expect("curl runs");
    let body = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && body.contains("\"ok\""),
        "{body} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plain = format!("http://{}/healthz", server.http_addr);
    let output = Command::new("curl").args(["-s", "-m", "5", &plain]).output().expect("curl runs");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("\"ok\""), "plain HTTP on the HTTPS port");
}

/// `redraft-server dev-cluster --tls`: one command makes a CA and certificates and starts three
/// nodes that talk mutual TLS; a write over TLS to node 1 is read over TLS from node 3, and the
/// HTTPS port answers curl with the client certificate it made.
#[test]
fn dev_cluster_with_tls_takes_one_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Node N uses BASE+N-1, BASE+1000+N-1, BASE+2000+N-1 and BASE+10000+N-1.
    let base =
        common::free_dev_cluster_base(20_000 + u16::try_from(std::process::id() % 9000).expect("small"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_redraft-server"))
        .args(["dev-cluster", "--tls", "--base-port", &base.to_string(), "--dir"])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("dev-cluster.log")).expect("a log file"))
        .spawn()
        .expect("redraft-server runs");
    let tls = dir.path().join("tls");
    let (ca, cert, key) = (tls.join("ca.pem"), tls.join("client.pem"), tls.join("client.key"));
    let files: [&Path; 3] = [&ca, &cert, &key];
    // Until a leader is settled, a write may be refused or left UNKNOWN (three nodes started
    // at once can elect twice in a row: CI saw a SET answered UNKNOWN as leadership moved from
    // node 1, elected in term 2, to node 3, in term 3). The SET is retried as a client would; a
    // GET is retried until it reads the value (or the deadline passes), as a read during an
    // election may err.
    let until_answered = |port: u16, args: &[&str], answered: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let reply = redis_cli(port, &files, args);
            if (reply.0 && answered(&reply.1)) || std::time::Instant::now() > deadline {
                break reply;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let log = || std::fs::read_to_string(dir.path().join("dev-cluster.log")).unwrap_or_default();
    let set = until_answered(base + 2000, &["SET", "k", "over mutual tls"], &|reply| reply == "OK");
    assert_eq!(set, (true, "OK".into()), "{}", log());
    let get = until_answered(base + 2002, &["GET", "k"], &|reply| reply == "over mutual tls");
    assert_eq!(get, (true, "over mutual tls".into()), "{}", log());
    assert!(log().contains("TLS: redis-cli --tls --cacert"), "dev-cluster prints how to connect:\n{}", log());

    let url = format!("https://127.0.0.1:{}/v1/cluster", base + 1000);
    let output = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(&url)
        .output()
        .expect("curl runs");
    let body = String::from_utf8_lossy(&output.stdout);
    assert!(body.contains("\"members\""), "{body} {}", String::from_utf8_lossy(&output.stderr));

    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().expect("dev-cluster exits");
    assert!(status.success(), "dev-cluster stops cleanly on SIGTERM: {status}\n{}", log());
}
