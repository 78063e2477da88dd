//! A real `redis-server` child process on a free loopback port, for tests that compare redraft
//! with Redis: killed when dropped (also when a test panics).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::free_port;

pub struct RedisServer {
    child: Child,
    pub port: u16,
    /// Kept open so the server's log writes never hit a closed pipe; never read after startup.
    _log: BufReader<ChildStdout>,
    /// The server's own directory: it starts empty (a `dump.rdb` left in a shared directory would
    /// be loaded at start), and a BGSAVE a test sends writes there. Removed when dropped.
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server with no persistence.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A server with no persistence and `extra` settings (`["--requirepass", "x"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        require("redis-server");
        require("redis-cli");
        let port = free_port();
        let dir = tempfile::tempdir().expect("a directory for redis-server");
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server was found on the PATH, so it can be started");
        let stdout = child.stdout.take().expect("stdout was piped");
        let mut log = BufReader::new(stdout);
        // Wait for the server's own word that it listens instead of polling the port on a timer.
        let mut line = String::new();
        loop {
            line.clear();
            let read = log.read_line(&mut line).unwrap_or(0);
            if read == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server exited before accepting connections on port {port}; was the port taken?"
                );
            }
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        RedisServer { child, port, _log: log, _dir: dir }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn require(program: &str) {
    if let Err(error) = Command::new(program).arg("--version").output() {
        panic!(
            "{program} could not be run ({error}); these tests compare against a real Redis: \
             run `apt-get install -y redis-server redis-tools` (ci/test installs them)"
        );
    }
}
