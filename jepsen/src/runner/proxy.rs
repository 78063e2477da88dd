//! The fault-injecting TCP proxy between peers, which is how `jepsen run` partitions a cluster of
//! real processes without root, iptables or network namespaces.
//!
//! Node j listens for its peers on its real Raft address; the runner puts a [`PeerProxy`] in
//! front of it, and every node's `--peers` names node j at the proxy's address (node j itself
//! advertises it with `--raft-advertise-addr`). All peer traffic to node j therefore passes
//! through j's proxy. A connection carries the requests of one node only (the server's
//! connection pool is per node), so the proxy learns the sender from the route in the first
//! frame's header, read with the peer transport's own parser (`redraft_net::peer::parse_header`);
//! it never decodes a body.
//!
//! [`LinkCuts`] holds the directed links that are cut: `(i, j)` cut means the requests node i
//! sends to node j are dropped (and so it gets no answers from j to them). Cutting both
//! directions separates two nodes; cutting one gives a one-way partition. A cut behaves like
//! dropped packets, not like refused connections: the proxy keeps accepting and reading, and
//! forwards nothing, so the sender waits for its timeout as it would on a real network. When the
//! link heals, the proxy closes those held connections, so the sender reconnects and every
//! request it sends afterwards is delivered whole.
//!
//! While the node behind a proxy is down (the runner killed it), the proxy stops listening, so
//! its peers see what they would see without a proxy: connections refused, which the server
//! backs off from. A proxy that accepted and then reset every connection would instead make
//! the peers retry at once, hundreds of times a second.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use redraft_net::peer::{parse_header, HeaderParse};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The directed links that are cut, shared by every proxy of a cluster.
#[derive(Debug)]
pub struct LinkCuts {
    /// `(from, to)` pairs whose requests are dropped. A watch channel, so every connection
    /// notices a change at once.
    cut: watch::Sender<BTreeSet<(u64, u64)>>,
}

impl LinkCuts {
    /// No link cut.
    pub fn new() -> Arc<LinkCuts> {
        Arc::new(LinkCuts { cut: watch::Sender::new(BTreeSet::new()) })
    }

    /// Cuts these directed links, in addition to any already cut.
    pub fn cut(&self, links: impl IntoIterator<Item = (u64, u64)>) {
        self.cut.send_modify(|cut| cut.extend(links));
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.cut.send_modify(BTreeSet::clear);
    }

    /// Whether requests from `from` to `to` are dropped.
    pub fn is_cut(&self, from: u64, to: u64) -> bool {
        self.cut.borrow().contains(&(from, to))
    }

    /// The cut links, in order.
    pub fn links(&self) -> Vec<(u64, u64)> {
        self.cut.borrow().iter().copied().collect()
    }
}

/// What a proxy saw, for `results.json` and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProxyStats {
    /// Connections accepted, by sending node.
    pub connections_from: BTreeMap<u64, u64>,
    /// Connections whose requests were dropped because their link was cut (when they arrived or
    /// later).
    pub held: u64,
    /// Connections closed at once because the node behind the proxy did not accept (it was
    /// killed or not yet restarted).
    pub upstream_refused: u64,
    /// Connections closed because their first frame was not a peer frame.
    pub malformed: u64,
}

/// A proxy in front of one node's Raft address. Dropping it stops it and closes its connections.
#[derive(Debug)]
pub struct PeerProxy {
    addr: SocketAddr,
    stats: Arc<Mutex<ProxyStats>>,
    /// Whether the node behind the proxy is up; while it is not, the proxy does not listen.
    upstream_up: watch::Sender<bool>,
    /// The accept loop, which owns every connection's task: aborting it drops them all.
    task: tokio::task::JoinHandle<()>,
}

impl PeerProxy {
    /// Listens on `listen` for node `target`'s peers and forwards to `upstream`, the node's real
    /// Raft address, honouring `cuts`.
    ///
    /// # Errors
    /// When `listen` cannot be bound.
    pub async fn start(
        listen: SocketAddr,
        target: u64,
        upstream: SocketAddr,
        cuts: Arc<LinkCuts>,
    ) -> io::Result<PeerProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Mutex::new(ProxyStats::default()));
        let link = Link { target, upstream, cuts, stats: stats.clone() };
        let upstream_up = watch::Sender::new(true);
        let task = tokio::spawn(accept_loop(listener, addr, link, upstream_up.subscribe()));
        Ok(PeerProxy { addr, stats, upstream_up, task })
    }

    /// Says whether the node behind the proxy is running: while it is not, the proxy closes its
    /// listening socket, so peers' connections are refused as they would be by the node's own
    /// address; when it is again, the proxy listens on the same address once more.
    pub fn set_upstream_up(&self, up: bool) {
        self.upstream_up.send_replace(up);
    }

    /// The address peers reach the node at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the proxy has seen so far.
    pub fn stats(&self) -> ProxyStats {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Drop for PeerProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every connection of one proxy shares.
#[derive(Debug, Clone)]
struct Link {
    target: u64,
    upstream: SocketAddr,
    cuts: Arc<LinkCuts>,
    stats: Arc<Mutex<ProxyStats>>,
}

impl Link {
    fn count(&self, update: impl FnOnce(&mut ProxyStats)) {
        update(&mut self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// Accepts until aborted, not listening while the node behind is down. This loop never ends on
/// its own: a failed accept (out of descriptors) or a failed bind is retried after a pause.
async fn accept_loop(listener: TcpListener, addr: SocketAddr, link: Link, mut up: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    let mut listener = Some(listener);
    loop {
        let Some(listening) = &listener else {
            tokio::select! {
                is_up = async { up.wait_for(|up| *up).await.is_ok() } => {
                    if !is_up {
                        // The proxy is being dropped; wait to be aborted.
                        std::future::pending::<()>().await;
                    }
                    // The address was ours moments ago, and tokio binds with SO_REUSEADDR, so
                    // this fails only if another process took the port meanwhile.
                    match TcpListener::bind(addr).await {
                        Ok(bound) => listener = Some(bound),
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                    }
                }
                Some(_) = connections.join_next() => {}
            }
            continue;
        };
        tokio::select! {
            down = async { up.wait_for(|up| !*up).await.is_ok() } => {
                if down {
                    listener = None;
                } else {
                    std::future::pending::<()>().await;
                }
            }
            accepted = listening.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, link.clone()));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Forwards one connection, dropping its requests while its link is cut.
async fn serve_connection(mut client: TcpStream, link: Link) {
    let _ = client.set_nodelay(true);
    let (head, from) = match read_sender(&mut client).await {
        Ok(found) => found,
        Err(_) => {
            link.count(|stats| stats.malformed += 1);
            return;
        }
    };
    link.count(|stats| *stats.connections_from.entry(from).or_default() += 1);
    let mut cuts = link.cuts.cut.subscribe();
    if link.cuts.is_cut(from, link.target) {
        link.count(|stats| stats.held += 1);
        hold(client, &mut cuts, from, link.target).await;
        return;
    }
    let mut server = match TcpStream::connect(link.upstream).await {
        Ok(server) => server,
        Err(_) => {
            // The closest a proxy can come to a refused connection: a reset, not a clean close.
            link.count(|stats| stats.upstream_refused += 1);
            // Deprecated because a lingering close blocks the thread; a zero linger never waits.
            #[allow(deprecated)]
            let _ = client.set_linger(Some(std::time::Duration::ZERO));
            return;
        }
    };
    let _ = server.set_nodelay(true);
    if tokio::io::AsyncWriteExt::write_all(&mut server, &head).await.is_err() {
        return;
    }
    let target = link.target;
    let cut = tokio::select! {
        // The cut first: a request that arrives together with the cut is dropped, not forwarded.
        biased;
        () = until_cut(&mut cuts, from, target) => true,
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
    };
    drop(server);
    if cut {
        link.count(|stats| stats.held += 1);
        hold(client, &mut cuts, from, target).await;
    }
}

/// Reads the first frame's header; returns the bytes read, to be forwarded, and the sender's
/// node id. The header is bounded (a cluster id of at most 255 bytes), so this reads little.
async fn read_sender(client: &mut TcpStream) -> io::Result<(Vec<u8>, u64)> {
    let mut head = Vec::with_capacity(64);
    loop {
        match parse_header(&head) {
            HeaderParse::Found(header) => return Ok((head, header.route.from)),
            HeaderParse::Invalid(reason) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, reason.to_string()))
            }
            HeaderParse::NeedMore(total) => {
                let start = head.len();
                head.resize(total, 0);
                client.read_exact(&mut head[start..]).await?;
            }
        }
    }
}

/// Waits until requests from `from` to `to` are cut.
async fn until_cut(cuts: &mut watch::Receiver<BTreeSet<(u64, u64)>>, from: u64, to: u64) {
    // If the sender is gone the proxy is being dropped; wait to be aborted.
    if cuts.wait_for(|cut| cut.contains(&(from, to))).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Reads and discards what the sender sends until the link heals or the sender gives up, then
/// closes the connection.
async fn hold(mut client: TcpStream, cuts: &mut watch::Receiver<BTreeSet<(u64, u64)>>, from: u64, to: u64) {
    let mut sink = [0u8; 8192];
    loop {
        tokio::select! {
            biased;
            healed = async { cuts.wait_for(|cut| !cut.contains(&(from, to))).await.is_ok() } => {
                if healed {
                    return;
                }
                // The proxy is being dropped; wait to be aborted.
                std::future::pending::<()>().await;
            }
            read = client.read(&mut sink) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use redraft_net::peer::{encode_frame, Route, KIND_MESSAGE};

    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer frame exactly as the server sends one.
    fn frame(from: u64, to: u64, payload: &[u8]) -> Vec<u8> {
        encode_frame(KIND_MESSAGE, "jepsen", Route { from, to }, payload).expect("a small frame")
    }

    /// A stand-in for a node's Raft listener: answers every frame with its payload reversed and
    /// counts the frames it got.
    async fn echo_node() -> (SocketAddr, Arc<Mutex<u64>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let received = Arc::new(Mutex::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let count = count.clone();
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 4];
                        if stream.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
                        if stream.read_exact(&mut rest).await.is_err() {
                            return;
                        }
                        *count.lock().expect("not poisoned") += 1;
                        rest.reverse();
                        let mut answer = len.to_vec();
                        answer.extend_from_slice(&rest);
                        if stream.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, received)
    }

    /// Sends a frame and reads the answer's length; `None` when the proxy closed the
    /// connection instead of answering.
    async fn exchange(stream: &mut TcpStream, bytes: &[u8]) -> Option<Vec<u8>> {
        stream.write_all(bytes).await.ok()?;
        read_answer(stream).await
    }

    async fn read_answer(stream: &mut TcpStream) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.ok()?;
        let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
        stream.read_exact(&mut rest).await.ok()?;
        Some(rest)
    }

    #[tokio::test]
    async fn frames_pass_a_cut_link_drops_them_and_healing_restores_it() {
        // Node 2's requests to node 1 pass, are dropped while 2->1 is cut (node 3's still pass),
        // and pass again after the heal. A dropped request is never delivered late: its
        // connection is closed at the heal without an answer, and node 1 never counted it.
        let (node, received) = echo_node().await;
        let cuts = LinkCuts::new();
        let proxy = PeerProxy::start("127.0.0.1:0".parse().expect("addr"), 1, node, cuts.clone())
            .await
            .expect("the proxy binds");
        let connect = || TcpStream::connect(proxy.addr());

        let mut from_two = connect().await.expect("connect");
        assert!(exchange(&mut from_two, &frame(2, 1, b"first")).await.is_some(), "frames pass");
        assert!(exchange(&mut from_two, &frame(2, 1, b"second")).await.is_some(), "and keep passing");
        assert_eq!(*received.lock().expect("not poisoned"), 2);

        cuts.cut([(2, 1)]);
        from_two.write_all(&frame(2, 1, b"dropped on an open connection")).await.expect("write");
        let mut new_from_two = connect().await.expect("connect while cut");
        new_from_two.write_all(&frame(2, 1, b"dropped on a new connection")).await.expect("write");
        let mut from_three = connect().await.expect("connect");
        assert!(exchange(&mut from_three, &frame(3, 1, b"other link")).await.is_some(), "3->1 is not cut");

        cuts.heal();
        assert_eq!(read_answer(&mut from_two).await, None, "closed at the heal, unanswered");
        assert_eq!(read_answer(&mut new_from_two).await, None, "closed at the heal, unanswered");
        assert_eq!(*received.lock().expect("not poisoned"), 3, "only node 3's frame arrived while cut");

        let mut healed = connect().await.expect("connect after the heal");
        assert!(exchange(&mut healed, &frame(2, 1, b"after")).await.is_some(), "healing restores");
        assert_eq!(*received.lock().expect("not poisoned"), 4);
        let stats = proxy.stats();
        assert_eq!(stats.connections_from, BTreeMap::from([(2, 3), (3, 1)]));
        assert_eq!(stats.held, 2);
    }

    #[tokio::test]
    async fn a_proxy_for_a_node_that_is_down_refuses_connections_until_it_is_up() {
        // While the runner says the node is down, connecting to its proxy is refused, as
        // connecting to the node would be; once it is up, the same address serves again.
        let (node, _) = echo_node().await;
        let proxy = PeerProxy::start("127.0.0.1:0".parse().expect("addr"), 1, node, LinkCuts::new())
            .await
            .expect("the proxy binds");
        proxy.set_upstream_up(false);
        let mut refused = false;
        for _ in 0..100 {
            tokio::task::yield_now().await;
            if let Err(error) = TcpStream::connect(proxy.addr()).await {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
                refused = true;
                break;
            }
        }
        assert!(refused, "the proxy stopped listening");
        proxy.set_upstream_up(true);
        for _ in 0..100 {
            tokio::task::yield_now().await;
            if let Ok(mut stream) = TcpStream::connect(proxy.addr()).await {
                assert!(exchange(&mut stream, &frame(2, 1, b"back")).await.is_some());
                return;
            }
        }
        panic!("the proxy did not listen again");
    }

    #[tokio::test]
    async fn a_dead_node_behind_the_proxy_resets_the_connection() {
        // With nothing listening upstream, the sender's request gets no answer and the proxy
        // counts the refusal.
        let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("bound");
        let proxy = PeerProxy::start("127.0.0.1:0".parse().expect("addr"), 1, dead, LinkCuts::new())
            .await
            .expect("the proxy binds");
        let mut stream = TcpStream::connect(proxy.addr()).await.expect("the proxy accepts");
        assert_eq!(exchange(&mut stream, &frame(2, 1, b"x")).await, None);
        assert_eq!(proxy.stats().upstream_refused, 1);
    }
}
