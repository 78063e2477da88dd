//! Helpers shared by the server's integration tests: a node with its RESP listener in this
//! process (on port 0), a `redraft-server` child process, and small RESP clients.
#![allow(dead_code)]

pub mod cluster;
pub mod redis_server;

/// A loopback port nothing listens on now, drawn below Linux's ephemeral range (32768 and up by
/// default), where the kernel never puts the local end of an outgoing connection. A port from
/// binding port 0 comes from that range, and between its release and the server's bind the many
/// client connections of the tests running beside it could take it: "Address already in use",
/// twice in one CI run. No port is handed out twice in one test process, so the ports drawn
/// for one cluster, all before its first node binds any, differ: a cluster of three draws six,
/// and CI once saw its second node fail to bind one, most likely a port drawn for it and for
/// the first node both.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(handed_out.len() < 10_000, "a test process drew 10,000 ports");
    loop {
        // A draw no test needs to repeat: std's randomly keyed hasher, fresh keys each time.
        let mut draw = std::collections::hash_map::RandomState::new().build_hasher();
        draw.write_u8(0);
        let port = 20_000 + (draw.finish() % 12_768) as u16;
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
}

/// A base port for `redraft-server dev-cluster --base-port` with every port it will use for
/// three nodes free right now (BASE+N-1, +1000, +2000 and +10000 each), starting the search at
/// `start`: a fixed base collides, now and then, with a port another process holds.
pub fn free_dev_cluster_base(start: u16) -> u16 {
    let mut base = start;
    loop {
        let ports =
            [0u16, 1000, 2000, 10_000].iter().flat_map(|offset| (0..3).map(move |n| base + offset + n));
        let held: Vec<std::net::TcpListener> =
            ports.filter_map(|port| std::net::TcpListener::bind(("127.0.0.1", port)).ok()).collect();
        if held.len() == 12 {
            return base;
        }
        base += 7;
        assert!(base < start + 5000, "no free dev-cluster ports from {start}");
    }
}

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redraft_net::resp::{encode_request, Frame, ReplyDecoder};
use redraft_server::clock::SystemClock;
use redraft_server::metrics::Metrics;
use redraft_server::node::{Node, NodeOptions};
use redraft_server::resp::{RespServer, RespSettings};
use redraft_server::storage::file_disk::FileDisk;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A node and its RESP listener in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(RespSettings::default()).await
    }

    pub async fn start_with(settings: RespSettings) -> TestServer {
        TestServer::start_with_options(settings, TestServer::options()).await
    }

    /// The node options of a test server: Raft timings for loopback.
    pub fn options() -> NodeOptions {
        NodeOptions {
            heartbeat_ms: 50,
            election_timeout_ms_min: 150,
            election_timeout_ms_max: 300,
            ..NodeOptions::default()
        }
    }

    pub async fn start_with_options(settings: RespSettings, options: NodeOptions) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = FileDisk::new(dir.path()).expect("data dir");
        let node = Node::start(options, disk, Arc::new(SystemClock), Arc::new(Metrics::new()))
            .await
            .expect("node starts");
        node.raft()
            .wait(Some(Duration::from_secs(10)))
            .metrics(|m| m.current_leader == Some(1), "node 1 leads")
            .await
            .expect("elected");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("bound");
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(RespServer::new(node.clone(), settings).serve(listener, stopped));
        TestServer { addr, node, stop, _dir: dir }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// An async RESP client that can also send raw bytes and show raw replies.
pub struct Client {
    pub stream: TcpStream,
    buffer: BytesMut,
    decoder: ReplyDecoder,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client { stream, buffer: BytesMut::new(), decoder: ReplyDecoder::default() }
    }

    pub async fn send(&mut self, args: &[&str]) {
        let mut out = BytesMut::new();
        encode_request(args, &mut out);
        self.stream.write_all(&out).await.expect("write");
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next reply and its raw bytes, or `None` when the server closed the connection.
    pub async fn read_raw(&mut self) -> Option<(Frame, Bytes)> {
        loop {
            let before = self.buffer.clone();
            if let Some(frame) = self.decoder.decode(&mut self.buffer).expect("the server speaks RESP") {
                let used = before.len() - self.buffer.len();
                return Some((frame, before.freeze().slice(..used)));
            }
            let read = self.stream.read_buf(&mut self.buffer).await.unwrap_or(0);
            if read == 0 {
                return None;
            }
        }
    }

    pub async fn read(&mut self) -> Option<Frame> {
        self.read_raw().await.map(|(frame, _)| frame)
    }

    pub async fn call(&mut self, args: &[&str]) -> Frame {
        self.send(args).await;
        self.read().await.expect("a reply before the connection closed")
    }
}

pub fn bulk(text: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn ok() -> Frame {
    Frame::Simple("OK".into())
}

/// A blocking RESP client for tests that drive child processes.
pub struct SyncClient {
    stream: std::net::TcpStream,
    buffer: BytesMut,
    decoder: ReplyDecoder,
}

impl SyncClient {
    pub fn connect(addr: &str) -> std::io::Result<SyncClient> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(SyncClient { stream, buffer: BytesMut::new(), decoder: ReplyDecoder::default() })
    }

    /// Waits up to `timeout` for each reply (30 s unless set).
    pub fn set_read_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Sends a command and reads its reply; an error when the connection breaks.
    pub fn call(&mut self, args: &[&str]) -> std::io::Result<Frame> {
        let mut replies = self.pipeline(&[args])?;
        Ok(replies.pop().expect("one reply"))
    }

    /// Sends a command of any bytes and reads its reply.
    pub fn call_bytes(&mut self, args: &[Bytes]) -> std::io::Result<Frame> {
        let mut out = BytesMut::new();
        encode_request(args, &mut out);
        self.stream.write_all(&out)?;
        self.read_reply()
    }

    /// Sends commands in one write and reads their replies, in order (arguments as `&str` or
    /// `String`).
    pub fn pipeline<A: AsRef<[u8]>, C: AsRef<[A]>>(&mut self, commands: &[C]) -> std::io::Result<Vec<Frame>> {
        let mut out = BytesMut::new();
        for args in commands {
            encode_request(args.as_ref(), &mut out);
        }
        self.stream.write_all(&out)?;
        let mut replies = Vec::with_capacity(commands.len());
        while replies.len() < commands.len() {
            replies.push(self.read_reply()?);
        }
        Ok(replies)
    }

    /// Sends a command without waiting for a reply (SUBSCRIBE answers with several).
    pub fn send(&mut self, args: &[&str]) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        encode_request(args, &mut out);
        self.stream.write_all(&out)
    }

    /// Reads the next frame the server sends: a reply, or a pushed message.
    pub fn read_reply(&mut self) -> std::io::Result<Frame> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer).map_err(std::io::Error::other)? {
                return Ok(frame);
            }
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// Runs a python3 script that uses redis-py (which `ci/test` installs) against the server at
/// `addr`, given its host and port as arguments, and requires it to print `ok`.
pub fn run_redis_py(script: &str, addr: &str) {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let output = Command::new("python3")
        .args(["-c", script, host, port])
        .output()
        .expect("python3 runs (ci/test installs redis-py)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ok"), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
}

/// A `redraft-server` child process, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub resp_addr: String,
    pub http_addr: String,
    pub data_dir: PathBuf,
    /// Every line the server logged until it was ready.
    pub log: Vec<String>,
}

/// How a child server ended before it became ready.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<i32>,
    pub log: String,
}

impl ServerProcess {
    /// Starts a server on `data_dir` with ports chosen by the system, and waits for its log line
    /// saying it is ready.
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        ServerProcess::try_start(data_dir, extra).unwrap_or_else(|failure| {
            panic!("redraft-server did not start (exit {:?}):\n{}", failure.status, failure.log)
        })
    }

    pub fn try_start(data_dir: &Path, extra: &[&str]) -> Result<ServerProcess, StartFailure> {
        ServerProcess::try_start_until(data_dir, extra, "ready: try")
    }

    /// Starts a server and waits for a log line containing `marker`. Addresses not given in
    /// `extra` are chosen by the system.
    pub fn try_start_until(
        data_dir: &Path,
        extra: &[&str],
        marker: &str,
    ) -> Result<ServerProcess, StartFailure> {
        ServerProcess::spawn(ServerProcess::command(data_dir, extra), data_dir, marker)
    }

    /// Starts a server whose open-file limit is `soft` (and `hard`), as `ulimit -n` would set
    /// it, with `env` added to its environment; waits until it is ready.
    pub fn start_with_open_files(
        data_dir: &Path,
        env: &[(&str, &str)],
        soft: u64,
        hard: u64,
    ) -> ServerProcess {
        let mut command = ServerProcess::command(data_dir, &[]);
        command.envs(env.iter().copied());
        // SAFETY: setrlimit is async-signal-safe, as code between fork and exec must be.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        ServerProcess::spawn(command, data_dir, "ready: try").unwrap_or_else(|failure| {
            panic!("redraft-server did not start (exit {:?}):\n{}", failure.status, failure.log)
        })
    }

    fn command(data_dir: &Path, extra: &[&str]) -> Command {
        let mut defaults = Vec::new();
        for flag in ["--resp-addr", "--http-addr", "--raft-addr"] {
            if !extra.contains(&flag) {
                defaults.extend([flag, "127.0.0.1:0"]);
            }
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_redraft-server"));
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(defaults)
            .args(["--log-level", "info"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    fn spawn(mut command: Command, data_dir: &Path, marker: &str) -> Result<ServerProcess, StartFailure> {
        let mut child = command.spawn().expect("the server binary runs");
        let stderr = child.stderr.take().expect("stderr was piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut log = Vec::new();
        let (mut resp_addr, mut http_addr) = (String::new(), String::new());
        loop {
            let Some(Ok(line)) = lines.next() else {
                let status = child.wait().ok().and_then(|s| s.code());
                return Err(StartFailure { status, log: log.join("\n") });
            };
            if let Some(rest) = line.split("listening for Redis clients on ").nth(1) {
                resp_addr = rest.split([',', ' ']).next().unwrap_or_default().to_owned();
                if let Some(http) = rest.split("HTTP on ").nth(1) {
                    http_addr = http.split([',', ' ']).next().unwrap_or_default().to_owned();
                }
            }
            let ready = line.contains(marker);
            log.push(line);
            if ready {
                break;
            }
        }
        // Keep draining the log so the server never blocks on a full pipe. A test thread, not
        // simulated code, so the determinism lint does not apply.
        // The rest of the log goes to `server.log` beside the data directory, for failures.
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(data_dir.with_extension("log")).ok();
        #[allow(clippy::disallowed_methods)]
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(file) = file.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
            }
        });
        Ok(ServerProcess { child, resp_addr, http_addr, data_dir: data_dir.to_owned(), log })
    }

    pub fn client(&self) -> SyncClient {
        SyncClient::connect(&self.resp_addr).expect("connect to the server")
    }

    /// SIGKILL: no clean shutdown, no final sync.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit; returns its status code.
    pub fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().ok().and_then(|s| s.code())
    }

    pub fn port(&self) -> String {
        self.resp_addr.rsplit(':').next().expect("host:port").to_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, None)
}

/// A plain HTTP/1.1 request, with a JSON body if given; returns the status code and the body.
pub fn http_request(addr: &str, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    http_request_with(addr, method, path, json, "")
}

/// [`http_request`] with a JSON body if given, answered with JSON: the status code and the body.
pub fn http_json(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let text = body.map(|b| b.to_string());
    let (status, body) = http_request(addr, method, path, text.as_deref());
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}")))
}

/// The `revision` of an HTTP API answer.
pub fn revision(body: &serde_json::Value) -> u64 {
    body["revision"].as_u64().unwrap_or_else(|| panic!("no revision in {body}"))
}

/// [`http_request`] with extra header lines (each ending in `\r\n`).
pub fn http_request_with(
    addr: &str,
    method: &str,
    path: &str,
    json: Option<&str>,
    headers: &str,
) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to HTTP");
    // A stream that never ends (a watch that was not refused) fails the test, not hangs it.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).expect("timeout");
    let body = json.unwrap_or_default();
    let content_type = if json.is_some() { "Content-Type: application/json\r\n" } else { "" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{content_type}{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
