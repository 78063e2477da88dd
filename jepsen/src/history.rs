//! The history model of DESIGN.md §6: one Jepsen-style event per line of JSON, and a streaming
//! reader and writer for it.
//!
//! An event is either the invocation of an operation or its completion (`ok`, `fail` or `info`).
//! Pairing invocations with completions and checking that the pairs make sense for a model lives
//! in [`crate::operation`]; this module only knows the wire format.

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
/// Blank lines are skipped. Iteration stops for good after the first error.
#[derive(Debug)]
pub struct HistoryReader<R> {
    reader: R,
    /// The 1-based number of the line read last; 0 before the first.
    line: usize,
    buffer: String,
    failed: bool,
}

impl<R: BufRead> HistoryReader<R> {
    /// Wraps a buffered reader positioned at the start of a history.
    pub fn new(reader: R) -> Self {
        Self { reader, line: 0, buffer: String::new(), failed: false }
    }

    /// The 1-based number of the line that produced the last item, or 0 before the first.
    pub fn line_number(&self) -> usize {
        self.line
    }
}

impl<R: BufRead> Iterator for HistoryReader<R> {
    type Item = Result<Op, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
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
            return Some(serde_json::from_str::<Op>(text).map_err(|error| {
                self.failed = true;
                json_error(self.line, &error)
            }));
        }
    }
}

/// Reads a whole history into memory.
///
/// # Errors
///
/// Returns the first line that cannot be read or parsed; see [`ReadError`].
pub fn read_history<R: BufRead>(reader: R) -> Result<Vec<Op>, ReadError> {
    HistoryReader::new(reader).collect()
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
