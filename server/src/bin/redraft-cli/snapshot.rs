//! `redraft-cli snapshot save FILE` and `redraft-cli snapshot verify FILE`: a backup of a live
//! node, fetched from its HTTP port (`GET /v1/snapshot`, a consistent snapshot at one revision),
//! written to FILE, and checked; and the same check of a file on its own, which prints its
//! revision, keys and bytes, or where it is damaged. `redraft-server restore FILE` makes a new
//! cluster from it. Redis has no `SNAPSHOT` command, so the word never shadows one.

use std::io::{IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use redraft_server::storage::state_machine_store::{verify_snapshot, SnapshotSummary};

use crate::Settings;

const USAGE: &str = "usage: redraft-cli [-h host] [--http-addr host:port] [-a password] snapshot save <file>
       redraft-cli snapshot verify <file>";

/// The snapshot command a command line asks for, if it is one.
#[derive(Debug, PartialEq, Eq)]
pub enum SnapshotCommand {
    Save(PathBuf),
    Verify(PathBuf),
    Usage,
}

/// Recognises `snapshot save|verify FILE`.
pub fn parse(command: &[Bytes]) -> Option<SnapshotCommand> {
    if !command.first()?.eq_ignore_ascii_case(b"snapshot") {
        return None;
    }
    let file = || PathBuf::from(String::from_utf8_lossy(&command[2]).into_owned());
    Some(match (command.get(1).map(|w| w.to_ascii_lowercase()).as_deref(), command.len()) {
        (Some(b"save"), 3) => SnapshotCommand::Save(file()),
        (Some(b"verify"), 3) => SnapshotCommand::Verify(file()),
        _ => SnapshotCommand::Usage,
    })
}

pub fn run(settings: &Settings, command: SnapshotCommand) -> ExitCode {
    let outcome = match command {
        SnapshotCommand::Save(file) => save(settings, &file),
        SnapshotCommand::Verify(file) => verify(&file),
        SnapshotCommand::Usage => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(summary) => {
            println!(
                "revision {}, {} keys, {} sessions, {} bytes",
                summary.revision, summary.keys, summary.sessions, summary.bytes
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn verify(file: &Path) -> Result<SnapshotSummary, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    verify_snapshot(&bytes).map(|(summary, _, _)| summary).map_err(|e| format!("{}: {e}", file.display()))
}

/// Fetches a snapshot, checks it, and writes it to `file` (through a temporary file, so a
/// failed save leaves no partial backup under the name).
fn save(settings: &Settings, file: &Path) -> Result<SnapshotSummary, String> {
    let addr = &settings.http_addr;
    eprintln!("fetching a snapshot from http://{addr}/v1/snapshot ...");
    let bytes = http_get(addr, "/v1/snapshot", settings)?;
    let (summary, _, _) =
        verify_snapshot(&bytes).map_err(|e| format!("the snapshot received is damaged: {e}"))?;
    let partial = file.with_extension("partial");
    std::fs::write(&partial, &bytes).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, file).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(summary)
}

/// A plain HTTP/1.1 GET, with the session's user as Basic auth; the body of a 200 answer.
fn http_get(addr: &str, path: &str, settings: &Settings) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(300)));
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(auth) = &settings.auth {
        let user = auth.user.as_deref().unwrap_or("default");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", auth.password));
        request.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut response =
        read_with_progress(&mut stream).map_err(|e| format!("cannot read from {addr}: {e}"))?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{addr} did not answer HTTP"))?;
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let body = response.split_off(head_end + 4);
    let status = head.split(' ').nth(1).unwrap_or_default();
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(&body).ok_or_else(|| format!("{addr} sent a broken chunked body"))?
    } else {
        body
    };
    if status != "200" {
        return Err(format!("{addr} answered {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}

/// Reads the whole response; on a terminal, shows how much has arrived (of the length the
/// headers give, once they have come).
// A terminal's progress display, on wall time: not code that runs in simulation.
#[allow(clippy::disallowed_methods)]
fn read_with_progress(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let terminal = std::io::stderr().is_terminal();
    let mut response = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut shown = std::time::Instant::now();
    loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
        if terminal && shown.elapsed() >= Duration::from_millis(200) {
            shown = std::time::Instant::now();
            match content_length(&response) {
                Some(total) if total > 0 => {
                    let have = response.len().min(total);
                    let width = 30 * have / total;
                    eprint!(
                        "\r[{}{}] {:.1} of {:.1} MB",
                        "#".repeat(width),
                        " ".repeat(30 - width),
                        have as f64 / 1e6,
                        total as f64 / 1e6
                    );
                }
                _ => eprint!("\r{:.1} MB", response.len() as f64 / 1e6),
            }
        }
    }
    if terminal {
        eprintln!();
    }
    Ok(response)
}

/// The body's length from a response's headers, once they have arrived.
fn content_length(response: &[u8]) -> Option<usize> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok()).flatten()
    })?;
    Some(head_end + 4 + length)
}

/// The body of a chunked transfer.
fn dechunk(mut input: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = input.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&input[..line_end]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        input = &input[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(input.get(..size)?);
        input = input.get(size + 2..)?;
    }
}
