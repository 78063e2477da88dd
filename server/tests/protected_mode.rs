//! Protected mode, as Redis has it, on a real `redraft-server` process: while the default user
//! needs no password, clients from other hosts are refused with DENIED; a password, or
//! `--protected-mode no`, lets them in. A client from another host is simulated by the machine's
//! own non-loopback address (the server listens on it alone), so nothing leaves the machine.
#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)] // real processes on real time

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};

use common::{free_port, ServerProcess};

/// This machine's address on its outbound interface (no packet is sent to find it).
fn own_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:1").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

/// Sends one inline command and reads what comes back until the server closes or 2 s pass.
fn exchange(addr: &str, command: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).expect("timeout");
    stream.write_all(format!("{command}\r\n").as_bytes()).expect("write");
    let mut reply = [0u8; 4096];
    let read = stream.read(&mut reply).unwrap_or(0);
    String::from_utf8_lossy(&reply[..read]).into_owned()
}

#[test]
fn clients_from_other_hosts_need_a_password_or_protected_mode_off() {
    let Some(ip) = own_address() else {
        panic!("this machine has no non-loopback IPv4 address, which this test needs to act as another host");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |name: &str, extra: &[&str]| {
        let addr = format!("{ip}:{}", free_port());
        let mut args = vec!["--resp-addr", &addr];
        args.extend_from_slice(extra);
        let server = ServerProcess::start(&dir.path().join(name), &args);
        (server, addr)
    };

    let (_open, addr) = start("open", &[]);
    let reply = exchange(&addr, "PING");
    assert!(reply.starts_with("-DENIED redraft is running in protected mode"), "{reply}");

    let (_locked, addr) = start("locked", &["--requirepass", "pw"]);
    assert_eq!(exchange(&addr, "PING"), "-NOAUTH Authentication required.\r\n");
    assert_eq!(exchange(&addr, "AUTH pw"), "+OK\r\n");

    let (_off, addr) = start("off", &["--protected-mode", "no"]);
    assert_eq!(exchange(&addr, "PING"), "+PONG\r\n");
}
