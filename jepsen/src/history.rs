//! The history model of DESIGN.md §6: one Jepsen-style event per line of JSON, and a streaming
//! reader and writer for it.
//!
//! A client event is either the invocation of an operation or its completion (`ok`, `fail` or
//! `info`). Pairing invocations with completions and checking that the pairs make sense for a model
//! lives in [`crate::operation`]; this module only knows the wire format.
//!
//! # Nemesis events
//!
//! As in Jepsen, the fault injector records what it does in the same history, as lines whose
//! `process` is the string `"nemesis"`. Their `type` is `info` (Jepsen writes one `info` line when
//! a fault is requested and another when it is in place), their `f` names the action and their
//! `value`, if any, says what it did (which nodes were cut off, and so on):
//!
//! ```text
//! {"index": 8, "time": 52000000, "process": "nemesis", "type": "info", "f": "start-partition", "value": null}
//! {"index": 9, "time": 52100000, "process": "nemesis", "type": "info", "f": "start-partition", "value": "majority/minority"}
//! {"index": 20, "time": 98000000, "process": "nemesis", "type": "info", "f": "stop-partition", "value": null}
//! ```
//!
//! They are [`NemesisEvent`]s, not [`Op`]s: the checker never sees them, because a fault is not an
//! operation on the data. [`HistoryReader`] yields only client ops and sets nemesis events aside
//! (see [`HistoryReader::take_nemesis`]); [`read_events`] and [`write_events`] keep both, in file
//! order. How `f` names pair up into fault intervals is up to [`crate::nemesis`].

use std::fmt;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of a history: one line of the JSON Lines file.
///
/// The order of events in a history is their real-time order. `time` is carried for drawing and
/// for people; the checker orders events by their position in the history, because simulated
/// clocks may give two events the same `time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// A label for the event, unique within its history. The checker reports it back and does not
    /// otherwise rely on it.
    pub index: u64,
    /// Nanoseconds since the start of the run (virtual time in simulation).
    pub time: u64,
    /// The client that issued the operation. A process runs one operation at a time.
    pub process: u64,
    /// Whether this event invokes an operation or says how it ended.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The operation.
    pub f: OpFunction,
    /// The key the operation acts on. Histories of a single object (a lone counter) may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument (on an invocation) or the result (on an `ok` read). `null` when absent, and a
    /// read of `null` means the key was absent. For `cas` it is `[expected, new]`; for `incr` it is
    /// the delta.
    #[serde(default)]
    pub value: Value,
}

/// The four kinds of event in Jepsen's op model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client is about to send the operation.
    Invoke,
    /// The operation happened, and `value` holds its result.
    Ok,
    /// The operation certainly did not happen.
    Fail,
    /// The outcome is unknown: the operation may have happened, at any time after its invocation,
    /// or never.
    Info,
}

/// The operations the register and counter models understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpFunction {
    /// Read a register or a counter.
    Read,
    /// Overwrite a register.
    Write,
    /// Compare-and-set a register: `value` is `[expected, new]`.
    Cas,
    /// Add `value` to a counter.
    Incr,
}

/// One fault-injector event: a line whose `process` is `"nemesis"` (see the module documentation).
///
/// It is written back with `"process": "nemesis"` in the position of a client op's process, so a
/// history read and written again keeps its nemesis lines.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisEvent {
    /// A label for the event, unique within its history, as for [`Op::index`].
    pub index: u64,
    /// Nanoseconds since the start of the run, on the same clock as the client ops.
    pub time: u64,
    /// Jepsen records every nemesis event as `info`; other types are kept as written.
    pub kind: OpType,
    /// The action, such as `start-partition`, `stop-partition`, `kill`, `start`, `pause`, `resume`
    /// or `clock-skew`.
    pub f: String,
    /// What the nemesis reported, if anything; `null` when absent.
    pub value: Value,
}

/// The `process` of every nemesis line.
pub const NEMESIS_PROCESS: &str = "nemesis";

/// One line of a history, client op or nemesis event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A client invocation or completion.
    Op(Op),
    /// A fault-injector event.
    Nemesis(NemesisEvent),
}

impl Serialize for NemesisEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut line = serializer.serialize_struct("NemesisEvent", 6)?;
        line.serialize_field("index", &self.index)?;
        line.serialize_field("time", &self.time)?;
        line.serialize_field("process", NEMESIS_PROCESS)?;
        line.serialize_field("type", &self.kind)?;
        line.serialize_field("f", &self.f)?;
        line.serialize_field("value", &self.value)?;
        line.end()
    }
}

impl<'de> Deserialize<'de> for NemesisEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The wire form, checked for its `process` before it becomes a [`NemesisEvent`].
        #[derive(Deserialize)]
        struct Line {
            index: u64,
            time: u64,
            process: String,
            #[serde(rename = "type")]
            kind: OpType,
            f: String,
            #[serde(default)]
            value: Value,
        }
        let line = Line::deserialize(deserializer)?;
        if line.process != NEMESIS_PROCESS {
            return Err(serde::de::Error::custom(format_args!(
                "a nemesis event has process \"{NEMESIS_PROCESS}\", found \"{}\"",
                line.process
            )));
        }
        Ok(NemesisEvent { index: line.index, time: line.time, kind: line.kind, f: line.f, value: line.value })
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        })
    }
}

impl fmt::Display for OpFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpFunction::Read => "read",
            OpFunction::Write => "write",
            OpFunction::Cas => "cas",
            OpFunction::Incr => "incr",
        })
    }
}

/// Why a history could not be read. Every variant names the 1-based line it is about; the caller
/// cannot retry, only report the line to whoever wrote the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying reader failed, or the line is not UTF-8.
    #[error("line {line}: cannot read: {source}")]
    Io {
        /// The line being read.
        line: usize,
        /// What the reader reported.
        #[source]
        source: io::Error,
    },
    /// The line is not a JSON object of the op model.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// The offending line.
        line: usize,
        /// The 1-based column within the line where parsing stopped.
        column: usize,
        /// What serde_json found wrong, without its own position (it only ever sees one line).
        message: String,
    },
}

impl ReadError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            ReadError::Io { line, .. } | ReadError::Json { line, .. } => *line,
        }
    }
}

/// Reads a history one line at a time, so a large file never has to be held as text.
///
/// As an iterator it yields the client [`Op`]s and sets [`NemesisEvent`]s aside, to be collected
/// with [`HistoryReader::take_nemesis`]; [`HistoryReader::next_event`] yields both. Blank lines are
/// skipped. Reading stops for good after the first error.
#[derive(Debug)]
pub struct HistoryReader<R> {
    reader: R,
    /// The 1-based number of the line read last; 0 before the first.
    line: usize,
    buffer: String,
    failed: bool,
    /// Nemesis events met by the iterator and not yet taken, in file order.
    nemesis: Vec<NemesisEvent>,
}

impl<R: BufRead> HistoryReader<R> {
    /// Wraps a buffered reader positioned at the start of a history.
    pub fn new(reader: R) -> Self {
        Self { reader, line: 0, buffer: String::new(), failed: false, nemesis: Vec::new() }
    }

    /// The 1-based number of the line that produced the last item, or 0 before the first.
    pub fn line_number(&self) -> usize {
        self.line
    }

    /// The nemesis events the iterator has passed over since the last call, in file order.
    pub fn take_nemesis(&mut self) -> Vec<NemesisEvent> {
        std::mem::take(&mut self.nemesis)
    }

    /// Reads the next line, client op or nemesis event; `None` at the end or after an error.
    pub fn next_event(&mut self) -> Option<Result<Event, ReadError>> {
        if self.failed {
            return None;
        }
        loop {
            self.buffer.clear();
            self.line += 1;
            match self.reader.read_line(&mut self.buffer) {
                Ok(0) => {
                    self.line -= 1;
                    return None;
                }
                Ok(_) => {}
                Err(source) => {
                    self.failed = true;
                    return Some(Err(ReadError::Io { line: self.line, source }));
                }
            }
            let text = self.buffer.trim();
            if text.is_empty() {
                continue;
            }
            let event = parse_line(self.line, text);
            self.failed = event.is_err();
            return Some(event);
        }
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Op, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_event()? {
                Ok(Event::Op(op)) => return Some(Ok(op)),
                Ok(Event::Nemesis(event)) => self.nemesis.push(event),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// Parses one non-blank line. Client ops are tried first, as nearly every line is one; only a line
/// that fails as an op and names the nemesis as its process is parsed as a nemesis event, so a
/// mistake in a client line is reported as such.
fn parse_line(line: usize, text: &str) -> Result<Event, ReadError> {
    let op_error = match serde_json::from_str::<Op>(text) {
        Ok(op) => return Ok(Event::Op(op)),
        Err(error) => error,
    };
    #[derive(Deserialize)]
    struct Process {
        process: Value,
    }
    let is_nemesis =
        serde_json::from_str::<Process>(text).is_ok_and(|probe| probe.process == NEMESIS_PROCESS);
    if !is_nemesis {
        return Err(json_error(line, &op_error));
    }
    serde_json::from_str::<NemesisEvent>(text).map(Event::Nemesis).map_err(|error| json_error(line, &error))
}

/// Reads a whole history's client ops into memory, skipping nemesis events.
///
/// # Errors
///
/// Returns the first line that cannot be read or parsed; see [`ReadError`].
pub fn read_history<R: BufRead>(reader: R) -> Result<Vec<Op>, ReadError> {
    HistoryReader::new(reader).collect()
}

/// Reads every line of a history, client ops and nemesis events, in file order.
///
/// # Errors
///
/// Returns the first line that cannot be read or parsed; see [`ReadError`].
pub fn read_events<R: BufRead>(reader: R) -> Result<Vec<Event>, ReadError> {
    let mut reader = HistoryReader::new(reader);
    std::iter::from_fn(|| reader.next_event()).collect()
}

/// Why a history could not be written. The caller can only report it: the output is incomplete.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The underlying writer failed.
    #[error("cannot write op with index {index}: {source}")]
    Io {
        /// The `index` of the op being written.
        index: u64,
        /// What the writer reported.
        #[source]
        source: io::Error,
    },
}

/// Writes a history as JSON Lines, one op per line, in the field order of DESIGN.md §6.
#[derive(Debug)]
pub struct HistoryWriter<W> {
    writer: W,
}

impl<W: Write> HistoryWriter<W> {
    /// Wraps a writer. Pass a buffered writer when writing many ops to a file.
    pub fn new(writer: W) -> Self {
        Self { writer }
    }

    /// Appends one op as one line.
    ///
    /// # Errors
    ///
    /// [`WriteError::Io`] when the writer fails; the line may be partly written.
    pub fn write_op(&mut self, op: &Op) -> Result<(), WriteError> {
        let io_error = |source| WriteError::Io { index: op.index, source };
        serde_json::to_writer(&mut self.writer, op).map_err(|error| io_error(error.into()))?;
        self.writer.write_all(b"\n").map_err(io_error)
    }

    /// Appends one nemesis event as one line.
    ///
    /// # Errors
    ///
    /// [`WriteError::Io`] when the writer fails; the line may be partly written.
    pub fn write_nemesis(&mut self, event: &NemesisEvent) -> Result<(), WriteError> {
        let io_error = |source| WriteError::Io { index: event.index, source };
        serde_json::to_writer(&mut self.writer, event).map_err(|error| io_error(error.into()))?;
        self.writer.write_all(b"\n").map_err(io_error)
    }

    /// Appends one line of either kind.
    ///
    /// # Errors
    ///
    /// [`WriteError::Io`] when the writer fails; the line may be partly written.
    pub fn write_event(&mut self, event: &Event) -> Result<(), WriteError> {
        match event {
            Event::Op(op) => self.write_op(op),
            Event::Nemesis(event) => self.write_nemesis(event),
        }
    }

    /// Flushes and returns the inner writer.
    ///
    /// # Errors
    ///
    /// [`WriteError::Io`] when the flush fails; `index` is then `u64::MAX`, as no op is at fault.
    pub fn into_inner(mut self) -> Result<W, WriteError> {
        self.writer.flush().map_err(|source| WriteError::Io { index: u64::MAX, source })?;
        Ok(self.writer)
    }
}

/// Writes a whole history.
///
/// # Errors
///
/// See [`HistoryWriter::write_op`].
pub fn write_history<W: Write>(writer: W, ops: &[Op]) -> Result<W, WriteError> {
    let mut history = HistoryWriter::new(writer);
    for op in ops {
        history.write_op(op)?;
    }
    history.into_inner()
}

/// Writes a whole history of client ops and nemesis events, in the order given.
///
/// # Errors
///
/// See [`HistoryWriter::write_op`].
pub fn write_events<W: Write>(writer: W, events: &[Event]) -> Result<W, WriteError> {
    let mut history = HistoryWriter::new(writer);
    for event in events {
        history.write_event(event)?;
    }
    history.into_inner()
}

/// serde_json appends " at line 1 column N" to its messages; as it only ever sees one line, that
/// position would mislead, so it is replaced by the line of the file and the column alone.
fn json_error(line: usize, error: &serde_json::Error) -> ReadError {
    let mut message = error.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    ReadError::Json { line, column: error.column(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn design_example_round_trips_in_field_order() {
        // The example line of DESIGN.md §6 parses, and writing it back gives the same text.
        let line = r#"{"index":0,"time":1203,"process":3,"type":"invoke","f":"write","key":"k7","value":42}"#;
        let ops = read_history(line.as_bytes()).expect("the design example is a valid op");
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].kind, OpType::Invoke);
        assert_eq!(ops[0].f, OpFunction::Write);
        assert_eq!(ops[0].key.as_deref(), Some("k7"));
        assert_eq!(ops[0].value, json!(42));
        let written = write_history(Vec::new(), &ops).expect("writing to a Vec cannot fail");
        assert_eq!(String::from_utf8(written).expect("JSON is UTF-8"), format!("{line}\n"));
    }

    #[test]
    fn missing_value_and_key_read_as_null_and_none() {
        // A read invocation usually has no value, and a single-counter history no key.
        let ops = read_history(r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"read"}"#.as_bytes())
            .expect("value and key are optional");
        assert_eq!(ops[0].value, Value::Null);
        assert_eq!(ops[0].key, None);
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        // Blank lines count towards line numbers, and the message names the bad field value.
        let text = concat!(
            r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"read","key":"a"}"#,
            "\n\n",
            r#"{"index":1,"time":2,"process":0,"type":"okay","f":"read","key":"a"}"#,
            "\n"
        );
        let error = read_history(text.as_bytes()).expect_err("`okay` is not an op type");
        assert_eq!(error.line(), 3);
        let message = error.to_string();
        assert!(message.starts_with("line 3, column"), "{message}");
        assert!(message.contains("okay"), "{message}");
        assert!(!message.contains("line 1"), "{message}");
    }

    #[test]
    fn truncated_line_is_rejected_with_its_number() {
        // A file cut off mid-line (a crashed recorder) is an error on that line, not a panic.
        let text = "{\"index\":0,\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":1,";
        let error = read_history(text.as_bytes()).expect_err("the second line is cut off");
        assert_eq!(error.line(), 2);
    }

    /// A history in Jepsen's shape: a client op, a partition requested and done, the client op's
    /// completion, the partition healed.
    const WITH_NEMESIS: &str = concat!(
        r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
        "\n",
        r#"{"index":1,"time":20,"process":"nemesis","type":"info","f":"start-partition","value":null}"#,
        "\n",
        r#"{"index":2,"time":25,"process":"nemesis","type":"info","f":"start-partition","value":["n1","n2"]}"#,
        "\n",
        r#"{"index":3,"time":30,"process":0,"type":"info","f":"write","key":"k","value":1}"#,
        "\n",
        r#"{"index":4,"time":40,"process":"nemesis","type":"info","f":"stop-partition","value":"healed"}"#,
        "\n",
    );

    #[test]
    fn nemesis_lines_round_trip_byte_for_byte_in_file_order() {
        // Reading every line and writing it back gives the same text, nemesis lines included.
        let events = read_events(WITH_NEMESIS.as_bytes()).expect("nemesis lines are accepted");
        assert_eq!(events.len(), 5);
        let Event::Nemesis(partition) = &events[2] else { panic!("line 3 is a nemesis event: {events:?}") };
        assert_eq!(partition.f, "start-partition");
        assert_eq!(partition.kind, OpType::Info);
        assert_eq!(partition.value, json!(["n1", "n2"]));
        let written = write_events(Vec::new(), &events).expect("writing to a Vec cannot fail");
        assert_eq!(String::from_utf8(written).expect("JSON is UTF-8"), WITH_NEMESIS);
    }

    #[test]
    fn the_op_iterator_sets_nemesis_events_aside() {
        // The checker's input holds only client ops; the nemesis events wait in the reader, and
        // line numbers still count every line.
        let mut reader = HistoryReader::new(WITH_NEMESIS.as_bytes());
        let first = reader.next().expect("a first op").expect("valid");
        assert_eq!(first.index, 0);
        let second = reader.next().expect("a second op").expect("valid");
        assert_eq!((second.index, reader.line_number()), (3, 4));
        assert!(reader.next().is_none());
        let nemesis: Vec<u64> = reader.take_nemesis().iter().map(|event| event.index).collect();
        assert_eq!(nemesis, vec![1, 2, 4]);
        assert_eq!(read_history(WITH_NEMESIS.as_bytes()).expect("valid").len(), 2);
    }

    #[test]
    fn a_nemesis_line_without_a_value_reads_as_null() {
        // Jepsen often leaves the value out of the request line.
        let line = r#"{"index":7,"time":70,"process":"nemesis","type":"info","f":"kill"}"#;
        let events = read_events(line.as_bytes()).expect("value is optional");
        assert_eq!(
            events,
            vec![Event::Nemesis(NemesisEvent {
                index: 7,
                time: 70,
                kind: OpType::Info,
                f: "kill".into(),
                value: Value::Null
            })]
        );
    }

    #[test]
    fn bad_nemesis_lines_and_other_named_processes_are_rejected() {
        // A nemesis line with a missing field is reported as a nemesis line; a process named
        // anything else is a client op with a bad process.
        let missing_time = r#"{"index":7,"process":"nemesis","type":"info","f":"kill"}"#;
        let message = read_events(missing_time.as_bytes()).expect_err("time is required").to_string();
        assert!(message.contains("missing field `time`"), "{message}");
        let other = r#"{"index":7,"time":1,"process":"client-3","type":"invoke","f":"read"}"#;
        let message = read_events(other.as_bytes()).expect_err("processes are numbers").to_string();
        assert!(message.contains("client-3"), "{message}");
        assert!(message.starts_with("line 1, column"), "{message}");
    }

    #[test]
    fn string_and_array_values_survive_a_round_trip() {
        // Values are arbitrary JSON: strings and cas pairs come back unchanged.
        let ops = vec![
            Op {
                index: 0,
                time: 5,
                process: 1,
                kind: OpType::Invoke,
                f: OpFunction::Cas,
                key: Some("k".into()),
                value: json!(["a", "b"]),
            },
            Op {
                index: 1,
                time: 9,
                process: 1,
                kind: OpType::Ok,
                f: OpFunction::Cas,
                key: Some("k".into()),
                value: json!(["a", "b"]),
            },
        ];
        let bytes = write_history(Vec::new(), &ops).expect("writing to a Vec cannot fail");
        assert_eq!(read_history(bytes.as_slice()).expect("written histories read back"), ops);
    }
}
