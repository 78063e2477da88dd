//! Redis clients over TLS, on a real `redraft-server` process with certificates made here
//! (rcgen): `redis-cli --tls` connects and runs commands; with `tls-auth-clients` at its default
//! (yes), a client without a certificate signed by the CA is refused; with `no`, it is let in;
//! a plain client on the TLS port gets nothing. HTTPS on the HTTP port with the same certificates
//! answers curl.
//!
//! Needs `redis-cli` built with TLS (Debian's redis-tools is; ci/test installs it) and `curl`.
#![cfg(not(madsim))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{free_port, ServerProcess};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

/// Parameters with a subject of their own: with rcgen's default name on every certificate, a
/// leaf's subject equals its issuer's and OpenSSL takes it for self-signed.
fn params(names: &[&str], common_name: &str) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("params");
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    params
}

/// Writes a CA, a server certificate for 127.0.0.1 and a client certificate, all PEM, and returns
/// their paths: (ca, server cert, server key, client cert, client key).
fn certificates(dir: &Path) -> [PathBuf; 5] {
    let mut ca_params = params(&[], "redraft test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("a key");
    let ca = ca_params.self_signed(&ca_key).expect("the CA");
    let mut server_params = params(&["127.0.0.1", "localhost"], "redraft test server");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().expect("a key");
    let server = server_params.signed_by(&server_key, &ca, &ca_key).expect("the server's certificate");
    let mut client_params = params(&["client"], "redraft test client");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().expect("a key");
    let client = client_params.signed_by(&client_key, &ca, &ca_key).expect("the client's certificate");
    let files = [
        ("ca.pem", ca.pem()),
        ("server.pem", server.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.pem", client.pem()),
        ("client.key", client_key.serialize_pem()),
    ];
    files.map(|(name, pem)| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write a PEM file");
        path
    })
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
