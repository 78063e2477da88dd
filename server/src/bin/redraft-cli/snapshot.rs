//! `redraft-cli snapshot save FILE` and `redraft-cli snapshot verify FILE`: a backup of a live
//! node, fetched from its HTTP port (`GET /v1/snapshot`, a consistent snapshot at one revision),
//! written to FILE, and checked; and the same check of a file on its own, which prints its
//! revision, keys and bytes, or where it is damaged. `redraft-server restore FILE` makes a new
//! cluster from it. Redis has no `SNAPSHOT` command, so the word never shadows one.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use redraft_server::storage::snapshot_file::{verify_snapshot, SnapshotSummary};

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
    let input = File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    verify_snapshot(BufReader::with_capacity(BUFFER_BYTES, input))
        .map(|(summary, _)| summary)
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Buffered between a snapshot and its file or connection.
const BUFFER_BYTES: usize = 256 * 1024;

/// Fetches a snapshot into a temporary file beside `file`, checks it there, and then gives it
/// the name, so a failed save leaves no partial backup under the name; the snapshot is never
/// whole in memory.
fn save(settings: &Settings, file: &Path) -> Result<SnapshotSummary, String> {
    let addr = &settings.http_addr;
    eprintln!("fetching a snapshot from http://{addr}/v1/snapshot ...");
    let partial = file.with_extension("partial");
    let outcome = (|| {
        let out = File::create(&partial).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, out);
        http_get_into(addr, "/v1/snapshot", settings, &mut out)?;
        let out = out.into_inner().map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        out.sync_all().map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        let input = File::open(&partial).map_err(|e| format!("cannot read {}: {e}", partial.display()))?;
        let (summary, _) = verify_snapshot(BufReader::with_capacity(BUFFER_BYTES, input))
            .map_err(|e| format!("the snapshot received is damaged: {e}"))?;
        std::fs::rename(&partial, file).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        Ok(summary)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// A plain HTTP/1.1 GET, with the session's user as Basic auth: the body of a 200 answer goes
/// to `out` as it arrives (with a progress bar on a terminal), any other answer is the error.
fn http_get_into(addr: &str, path: &str, settings: &Settings, out: &mut impl Write) -> Result<(), String> {
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
    let failed = |e: std::io::Error| format!("cannot read from {addr}: {e}");
    let mut input = BufReader::with_capacity(BUFFER_BYTES, stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).map_err(failed)? == 0 || head.len() > HEAD_BYTES_MAX {
            return Err(format!("{addr} did not answer HTTP"));
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split(' ').nth(1).unwrap_or_default().to_owned();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_ascii_lowercase())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) || status != "200" {
        // Error answers are short; a chunked body comes only from a server older than this CLI.
        let mut body = Vec::new();
        input.take(ERROR_BYTES_MAX).read_to_end(&mut body).map_err(failed)?;
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let body = if chunked {
            dechunk(&body).ok_or_else(|| format!("{addr} sent a broken chunked body"))?
        } else {
            body
        };
        if status != "200" {
            return Err(format!("{addr} answered {status}: {}", String::from_utf8_lossy(&body)));
        }
        return out.write_all(&body).map_err(|e| format!("cannot write the snapshot: {e}"));
    }
    let total = header("content-length").and_then(|v| v.parse::<u64>().ok());
    copy_with_progress(&mut input, out, total).map_err(failed)?;
    Ok(())
}

/// Longest response head read, and error body.
const HEAD_BYTES_MAX: usize = 64 * 1024;
const ERROR_BYTES_MAX: u64 = 1 << 20;

/// Copies `input` to `out` until it ends (or `total` bytes when given); on a terminal, shows how
/// much has arrived.
// A terminal's progress display, on wall time: not code that runs in simulation.
#[allow(clippy::disallowed_methods)]
fn copy_with_progress(
    input: &mut impl Read,
    out: &mut impl Write,
    total: Option<u64>,
) -> std::io::Result<u64> {
    let terminal = std::io::stderr().is_terminal();
    let mut input = input.take(total.unwrap_or(u64::MAX));
    let mut piece = vec![0u8; BUFFER_BYTES];
    let (mut have, mut shown) = (0u64, std::time::Instant::now());
    loop {
        let read = input.read(&mut piece)?;
        if read == 0 {
            break;
        }
        out.write_all(&piece[..read])?;
        have += read as u64;
        if terminal && shown.elapsed() >= Duration::from_millis(200) {
            shown = std::time::Instant::now();
            match total {
                Some(total) if total > 0 => {
                    let width = (30 * have.min(total) / total) as usize;
                    eprint!(
                        "\r[{}{}] {:.1} of {:.1} MB",
                        "#".repeat(width),
                        " ".repeat(30 - width),
                        have as f64 / 1e6,
                        total as f64 / 1e6
                    );
                }
                _ => eprint!("\r{:.1} MB", have as f64 / 1e6),
            }
        }
    }
    if terminal {
        eprintln!();
    }
    if total.is_some_and(|total| have < total) {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the snapshot ended early"));
    }
    Ok(have)
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
