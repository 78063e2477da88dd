//! `redraft-cli import --from redis://[user:password@]host:port[/db]`: copies a running Redis's
//! keys into the redraft node the CLI is connected to, with their TTLs, as the first step of a
//! move from Redis. It walks the source with SCAN, asks each key's TYPE, and for the types
//! redraft holds (strings, today) reads PTTL and the value and writes them with SET ... PX, a
//! batch at a time, pipelined on both sides. Keys of other types are skipped and counted by type.
//! With `--resume FILE` the SCAN cursor and the counts are kept in FILE after every batch, so an
//! interrupted import (or one stopped by `--limit N` keys) goes on where it stopped; FILE is
//! removed when the import completes. SCAN returns every key that exists for the whole walk;
//! keys written to the source meanwhile may or may not be copied, as with any SCAN.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use redraft_net::resp::Frame;

use crate::connection::{Connection, Credentials, Endpoint};
use crate::Settings;

const USAGE: &str =
    "usage: redraft-cli [-h host] [-p port] import --from redis://[user:password@]host[:port][/db] [--resume FILE] [--limit N]";

/// Keys asked for per SCAN call.
const SCAN_COUNT: &str = "500";

/// What `import` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportCommand {
    source: Source,
    resume: Option<PathBuf>,
    limit: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
struct Source {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    db: i64,
}

/// Recognises `import --from URL [--resume FILE] [--limit N]`; `Err` with the usage for a
/// malformed one.
pub fn parse(command: &[Bytes]) -> Option<Result<ImportCommand, String>> {
    if !command.first()?.eq_ignore_ascii_case(b"import") {
        return None;
    }
    let text: Vec<String> = command[1..].iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    let (mut from, mut resume, mut limit) = (None, None, None);
    let mut words = text.iter();
    while let Some(word) = words.next() {
        let value = words.next();
        match (word.as_str(), value) {
            ("--from", Some(url)) => from = Some(url.clone()),
            ("--resume", Some(file)) => resume = Some(PathBuf::from(file)),
            ("--limit", Some(n)) => match n.parse::<u64>() {
                Ok(n) if n > 0 => limit = Some(n),
                _ => return Some(Err(format!("--limit wants a positive number, not {n:?}\n{USAGE}"))),
            },
            _ => return Some(Err(USAGE.into())),
        }
    }
    let Some(from) = from else { return Some(Err(USAGE.into())) };
    Some(parse_url(&from).map(|source| ImportCommand { source, resume, limit }))
}

/// `redis://[[user]:password@]host[:port][/db]`.
fn parse_url(url: &str) -> Result<Source, String> {
    let bad = || format!("{url:?} is not redis://[user:password@]host[:port][/db]");
    let rest = url.strip_prefix("redis://").ok_or_else(bad)?;
    let (authority, db) = match rest.split_once('/') {
        Some((authority, "")) => (authority, 0),
        Some((authority, db)) => (authority, db.parse::<i64>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (credentials, address) = match authority.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, authority),
    };
    let (user, password) = match credentials.map(|c| c.split_once(':')) {
        None => (None, None),
        Some(None) => (None, credentials.map(str::to_owned)),
        Some(Some((user, password))) => {
            ((!user.is_empty()).then(|| user.to_owned()), Some(password.to_owned()))
        }
    };
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad())?),
        None => (address, 6379),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Source { host: host.to_owned(), port, user, password, db })
}

/// Where an import stands: the SCAN cursor to go on from and what was done so far.
#[derive(Debug, Default)]
struct Progress {
    cursor: String,
    copied: u64,
    /// Keys skipped, by why.
    skipped: BTreeMap<String, u64>,
}

impl Progress {
    fn load(file: &PathBuf) -> Result<Progress, String> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Progress::fresh()),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        let mut progress = Progress::fresh();
        for line in text.lines() {
            let (name, value) = line.split_once(' ').unwrap_or((line, ""));
            match name {
                "cursor" => progress.cursor = value.to_owned(),
                "copied" => progress.copied = value.parse().unwrap_or(0),
                "skipped" => {
                    if let Some((why, count)) = value.rsplit_once(' ') {
                        progress.skipped.insert(why.to_owned(), count.parse().unwrap_or(0));
                    }
                }
                _ => return Err(format!("{} is not an import's resume file", file.display())),
            }
        }
        Ok(progress)
    }

    fn fresh() -> Progress {
        Progress { cursor: "0".into(), ..Progress::default() }
    }

    fn save(&self, file: &PathBuf) -> Result<(), String> {
        let mut text = format!("cursor {}\ncopied {}\n", self.cursor, self.copied);
        for (why, count) in &self.skipped {
            text.push_str(&format!("skipped {why} {count}\n"));
        }
        let partial = file.with_extension("partial");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, file))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))
    }

    fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

pub fn run(settings: &Settings, command: Result<ImportCommand, String>) -> ExitCode {
    match command.and_then(|command| import(settings, &command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn bulk(word: &str) -> Bytes {
    Bytes::copy_from_slice(word.as_bytes())
}

fn import(settings: &Settings, command: &ImportCommand) -> Result<(), String> {
    let source = &command.source;
    let auth = source.password.clone().map(|password| Credentials { user: source.user.clone(), password });
    let endpoint = Endpoint { host: source.host.clone(), port: source.port };
    let mut from = Connection::open(&endpoint, auth.as_ref(), source.db, false).map_err(|e| e.to_string())?;
    let mut to = Connection::open(&settings.endpoint, settings.auth.as_ref(), settings.db, false)
        .map_err(|e| e.to_string())?;
    let mut progress = match &command.resume {
        Some(file) => Progress::load(file)?,
        None => Progress::fresh(),
    };
    let total = match from.request(&[bulk("DBSIZE")]).map_err(|e| e.to_string())? {
        Frame::Integer(n) => u64::try_from(n).unwrap_or(0),
        _ => 0,
    };
    let terminal = std::io::stderr().is_terminal();
    let started_with = progress.copied + progress.skipped_total();
    loop {
        let scan = vec![bulk("SCAN"), bulk(&progress.cursor), bulk("COUNT"), bulk(SCAN_COUNT)];
        let (cursor, keys) = match from.request(&scan).map_err(|e| e.to_string())? {
            Frame::Array(mut parts) if parts.len() == 2 => {
                let keys = match parts.pop() {
                    Some(Frame::Array(keys)) => keys,
                    _ => return Err("SCAN answered without a key list".into()),
                };
                (text_of(&parts[0]).ok_or("SCAN answered without a cursor")?, keys)
            }
            Frame::Error(error) => return Err(format!("the source refused SCAN: {error}")),
            other => return Err(format!("SCAN answered {other:?}")),
        };
        let keys: Vec<Bytes> = keys
            .into_iter()
            .filter_map(|key| match key {
                Frame::Bulk(key) => Some(key),
                _ => None,
            })
            .collect();
        copy_batch(&mut from, &mut to, &keys, &mut progress)?;
        progress.cursor = cursor;
        let done = progress.cursor == "0";
        if let Some(file) = &command.resume {
            progress.save(file)?;
        }
        if terminal {
            eprint!(
                "\rcopied {} of about {total} keys, skipped {}   ",
                progress.copied,
                progress.skipped_total()
            );
        }
        let this_run = progress.copied + progress.skipped_total() - started_with;
        if done || command.limit.is_some_and(|limit| this_run >= limit) {
            if terminal {
                eprintln!();
            }
            report(&progress, done);
            if done {
                if let Some(file) = &command.resume {
                    let _ = std::fs::remove_file(file);
                }
            }
            return Ok(());
        }
    }
}

fn text_of(frame: &Frame) -> Option<String> {
    match frame {
        Frame::Bulk(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Frame::Simple(text) => Some(text.clone()),
        _ => None,
    }
}

/// Copies the keys of one SCAN batch: their types, then the strings' TTLs and values, then the
/// writes, each step one pipeline.
fn copy_batch(
    from: &mut Connection,
    to: &mut Connection,
    keys: &[Bytes],
    progress: &mut Progress,
) -> Result<(), String> {
    let types = from
        .pipeline(&keys.iter().map(|key| vec![bulk("TYPE"), key.clone()]).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    let mut strings = Vec::new();
    for (key, kind) in keys.iter().zip(types) {
        match text_of(&kind).as_deref() {
            Some("string") => strings.push(key.clone()),
            // Expired or deleted since SCAN saw it.
            Some("none") => {}
            Some(kind) => {
                *progress.skipped.entry(format!("{kind} (a type redraft does not hold yet)")).or_default() +=
                    1;
            }
            None => *progress.skipped.entry("unreadable TYPE reply".into()).or_default() += 1,
        }
    }
    let reads: Vec<Vec<Bytes>> = strings
        .iter()
        .flat_map(|key| [vec![bulk("PTTL"), key.clone()], vec![bulk("GET"), key.clone()]])
        .collect();
    let answers = from.pipeline(&reads).map_err(|e| e.to_string())?;
    let mut writes = Vec::new();
    for (key, pair) in strings.iter().zip(answers.chunks(2)) {
        let (Frame::Integer(ttl), Frame::Bulk(value)) = (&pair[0], &pair[1]) else {
            // Gone between TYPE and GET, or no longer a string.
            continue;
        };
        let mut set = vec![bulk("SET"), key.clone(), value.clone()];
        match *ttl {
            -2 => continue,
            ttl if ttl > 0 => set.extend([bulk("PX"), bulk(&ttl.to_string())]),
            _ => {}
        }
        writes.push(set);
    }
    let replies = to.pipeline(&writes).map_err(|e| e.to_string())?;
    for (write, reply) in writes.iter().zip(replies) {
        match reply {
            Frame::Simple(ok) if ok == "OK" => progress.copied += 1,
            other => {
                return Err(format!(
                    "redraft refused SET {}: {other:?}; {} keys were copied{}",
                    String::from_utf8_lossy(&write[1]),
                    progress.copied,
                    " (run again with --resume FILE to go on from a checkpoint)"
                ))
            }
        }
    }
    Ok(())
}

fn report(progress: &Progress, done: bool) {
    let mut out = std::io::stdout().lock();
    let state = if done {
        "import complete"
    } else {
        "import stopped at --limit; run again with the same --resume file"
    };
    let _ = writeln!(out, "{state}: copied {} keys, skipped {}", progress.copied, progress.skipped_total());
    for (why, count) in &progress.skipped {
        let _ = writeln!(out, "  skipped {count}: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls_are_read_as_redis_reads_them() {
        let source = parse_url("redis://127.0.0.1:6380").expect("valid");
        assert_eq!((source.host.as_str(), source.port, source.db), ("127.0.0.1", 6380, 0));
        let source = parse_url("redis://app:s3cret@cache.internal/2").expect("valid");
        assert_eq!(source.user.as_deref(), Some("app"));
        assert_eq!(source.password.as_deref(), Some("s3cret"));
        assert_eq!((source.port, source.db), (6379, 2));
        let source = parse_url("redis://:only-password@h:1").expect("valid");
        assert_eq!((source.user, source.password.as_deref()), (None, Some("only-password")));
        assert!(parse_url("http://h:1").is_err());
        assert!(parse_url("redis://h:port").is_err());
        assert!(parse_url("redis://").is_err());
    }
}
