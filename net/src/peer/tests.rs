//! The transport on real loopback sockets: calls, refusals, backoff and timeouts.

#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::auth::NONCE_BYTES;
use super::backoff::BACKOFF_MAX;
use super::frame::write_frame;
use super::*;

const ROUTE: Route = Route { from: 1, to: 2 };

async fn echo_server(cluster: &str) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = watch::channel(false);
    let handler = |_: Route, body: Vec<u8>| async move { body.into_iter().rev().collect::<Vec<u8>>() };
    tokio::spawn(serve(listener, PeerAuth::open(cluster.into()), handler, stopped));
    (addr, stop)
}

#[tokio::test]
async fn calls_are_answered_over_one_connection_and_reconnect_after_a_restart() {
    let (addr, stop) = echo_server("c1").await;
    let mut client = PeerClient::new(PeerAuth::open("c1".into()), addr.clone());
    for _ in 0..3 {
        assert_eq!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
    }
    let _ = stop.send(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.is_err(), "the server is gone");
    // A new server on the same port: the client connects again after its backoff.
    let listener = TcpListener::bind(&addr).await.expect("rebind");
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(serve(
        listener,
        PeerAuth::open("c1".into()),
        |_: Route, b: Vec<u8>| async move { b },
        stopped,
    ));
    tokio::time::sleep(BACKOFF_MAX).await;
    assert_eq!(client.call(ROUTE, b"xyz", Duration::from_secs(5)).await.expect("reconnected"), b"xyz");
}

#[tokio::test]
async fn a_node_of_another_cluster_is_refused_by_name() {
    let (addr, _stop) = echo_server("prod").await;
    let mut client = PeerClient::new(PeerAuth::open("staging".into()), addr);
    let error = client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
    let text = error.to_string();
    assert!(text.contains("\"prod\"") && text.contains("\"staging\""), "{text}");
    assert!(error.certainly_not_sent());
}

/// A new nonce per call, as the server's generator gives (tests need no randomness).
fn counting_nonce() -> [u8; NONCE_BYTES] {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut nonce = [0u8; NONCE_BYTES];
    nonce[..8].copy_from_slice(&NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes());
    nonce
}

fn with_secret(cluster: &str, secret: Option<&[u8]>) -> PeerAuth {
    PeerAuth {
        cluster: cluster.into(),
        secret: secret.map(|s| ClusterSecret::new(s).expect("a valid secret")),
        tls: None,
        nonce: counting_nonce,
    }
}

async fn echo_server_with(auth: PeerAuth) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = watch::channel(false);
    let handler = |_: Route, body: Vec<u8>| async move { body.into_iter().rev().collect::<Vec<u8>>() };
    tokio::spawn(serve(listener, auth, handler, stopped));
    (addr, stop)
}

const SECRET: &[u8] = b"a secret of the cluster";

/// Peers with the same secret talk; a peer without it, with another, or offering one to a
/// node that has none is refused before its request is handled.
#[tokio::test]
async fn only_peers_with_the_cluster_secret_are_answered() {
    let (addr, _stop) = echo_server_with(with_secret("c1", Some(SECRET))).await;
    let mut client = PeerClient::new(with_secret("c1", Some(SECRET)), addr.clone());
    for _ in 0..3 {
        assert_eq!(client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
    }
    let refused = |client: PeerClient| async move {
        let mut client = client;
        let error = client.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
        assert!(error.certainly_not_sent(), "{error}");
        error.to_string()
    };
    let text = refused(PeerClient::new(with_secret("c1", None), addr.clone())).await;
    assert!(text.contains("requires the cluster secret"), "{text}");
    let text = refused(PeerClient::new(with_secret("c1", Some(b"another secret, 16+")), addr.clone())).await;
    assert!(text.contains("does not verify"), "{text}");

    let (open_addr, _stop) = echo_server_with(with_secret("c1", None)).await;
    let text = refused(PeerClient::new(with_secret("c1", Some(SECRET)), open_addr)).await;
    assert!(text.contains("has no cluster secret"), "{text}");
}

/// A hand-made request frame, sent raw to a node with a secret, is refused and not handled.
#[tokio::test]
async fn a_raw_frame_without_the_handshake_is_refused() {
    let handled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (_stop, stopped) = watch::channel(false);
    let seen = handled.clone();
    let handler = move |_: Route, body: Vec<u8>| {
        seen.store(true, std::sync::atomic::Ordering::SeqCst);
        async move { body }
    };
    tokio::spawn(serve(listener, with_secret("c1", Some(SECRET)), handler, stopped));
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let frame = encode_frame(KIND_MESSAGE, "c1", ROUTE, b"write a key").expect("small");
    write_frame(&mut stream, &frame).await.expect("sent");
    let answer = read_frame(&mut stream).await.expect("reads").expect("a refusal");
    assert_eq!(answer.kind, KIND_REFUSED);
    assert!(read_frame(&mut stream).await.map_or(true, |f| f.is_none()), "then closed");
    assert!(!handled.load(std::sync::atomic::Ordering::SeqCst), "the request was handled");
}

#[tokio::test]
async fn a_dead_address_backs_off_and_a_slow_peer_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let mut client = PeerClient::new(PeerAuth::open("c".into()), addr);
    assert!(matches!(client.call(ROUTE, b"x", Duration::from_secs(1)).await, Err(PeerError::Connect { .. })));
    assert!(matches!(
        client.call(ROUTE, b"x", Duration::from_secs(1)).await,
        Err(PeerError::BackingOff { .. })
    ));

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (_stop, stopped) = watch::channel(false);
    let slow = |_: Route, b: Vec<u8>| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        b
    };
    tokio::spawn(serve(listener, PeerAuth::open("c".into()), slow, stopped));
    let mut client = PeerClient::new(PeerAuth::open("c".into()), addr);
    let error = client.call(ROUTE, b"x", Duration::from_millis(100)).await.expect_err("times out");
    assert!(matches!(error, PeerError::Timeout { .. }) && !error.certainly_not_sent());
}

/// A CA that signs node certificates for the TLS tests.
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("a key");
        TestCa { cert: params.self_signed(&key).expect("the CA"), key }
    }

    /// TLS for a node whose certificate names `names`, in a cluster that trusts `trusted`.
    fn tls(&self, names: &[String], trusted: &TestCa) -> Arc<PeerTls> {
        let mut params = rcgen::CertificateParams::new(names.to_vec()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0].as_str());
        params.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("a node certificate");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let tls = PeerTls::new(vec![cert.der().clone()], key, vec![trusted.cert.der().clone()]);
        Arc::new(tls.expect("usable"))
    }

    fn node(&self, id: u64) -> Arc<PeerTls> {
        self.tls(&[node_name(id)], self)
    }
}

fn with_tls(tls: Arc<PeerTls>) -> PeerAuth {
    PeerAuth { tls: Some(tls), ..PeerAuth::open("c1".into()) }
}

/// Node 2 answers node 1 over mutual TLS. A peer whose certificate names node 1 cannot speak as
/// node 3; a certificate from another CA is refused in the handshake (both ways); a node that
/// meant to call node 5 does not accept node 2's certificate.
#[tokio::test]
async fn over_tls_a_peer_speaks_only_as_the_node_its_certificate_names() {
    let ca = TestCa::new("cluster CA");
    let (addr, _stop) = echo_server_with(with_tls(ca.node(2))).await;
    let mut node1 = PeerClient::new(with_tls(ca.node(1)), addr.clone());
    for _ in 0..3 {
        assert_eq!(node1.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect("answered"), b"cba");
    }

    let as_node3 = Route { from: 3, to: 2 };
    let error = node1.call(as_node3, b"abc", Duration::from_secs(5)).await.expect_err("refused");
    assert!(error.to_string().contains("names node 1"), "{error}");
    let mut fresh = PeerClient::new(with_tls(ca.node(1)), addr.clone());
    let error = fresh.call(as_node3, b"abc", Duration::from_secs(5)).await.expect_err("refused");
    assert!(error.to_string().contains("does not name node 3"), "{error}");

    let other = TestCa::new("another CA");
    let mut stranger = PeerClient::new(with_tls(other.tls(&[node_name(1)], &ca)), addr.clone());
    let error = stranger.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
    assert!(matches!(error, PeerError::Tls { .. } | PeerError::Io { .. }), "{error}");
    let mut trusting_another = PeerClient::new(with_tls(other.tls(&[node_name(1)], &other)), addr.clone());
    let error = trusting_another.call(ROUTE, b"abc", Duration::from_secs(5)).await.expect_err("refused");
    assert!(matches!(error, PeerError::Tls { .. }) && error.certainly_not_sent(), "{error}");

    let mut wrong_node = PeerClient::new(with_tls(ca.node(1)), addr.clone());
    let error = wrong_node.call(Route { from: 1, to: 5 }, b"abc", Duration::from_secs(5)).await;
    let error = error.expect_err("node 2 is not node 5");
    assert!(matches!(error, PeerError::Tls { .. }), "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");

    let mut plain = PeerClient::new(PeerAuth::open("c1".into()), addr);
    assert!(plain.call(ROUTE, b"abc", Duration::from_secs(5)).await.is_err(), "a plain peer is refused");
}
