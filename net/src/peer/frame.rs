//! The peer frame, as [`encode_frame`] writes it and [`parse_header`] reads it back:
//!
//! ```text
//! [len: u32 BE][kind: u8][cluster_len: u8][cluster id][from: u64 BE][to: u64 BE][body]
//! ```
//!
//! where `len` counts everything after itself. Every frame names its cluster, so a node of
//! another cluster is refused by name instead of misread, and its [`Route`]: the node that sent
//! it and the node it is for (an answer's route is the request's, reversed). Tools between peers
//! (the jepsen runner's fault proxy) read the route with [`parse_header`] and never look into the
//! body, whose encoding is the server's.

use std::io;

use redraft_core::limits::{CLUSTER_ID_BYTES_MAX, PEER_FRAME_BYTES_MAX};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A frame that carries a request or its answer.
pub const KIND_MESSAGE: u8 = 0;
/// The receiver refuses the connection; the body is the reason, in UTF-8.
pub const KIND_REFUSED: u8 = 1;
/// The first frame each way of a connection between peers that hold the cluster secret; the
/// body is the sender's nonce (`auth.rs`).
pub const KIND_HELLO: u8 = 2;

/// The bytes before the cluster id: the length, the kind and the cluster id's length.
const PREFIX_BYTES: usize = 4 + 2;
/// The bytes of the route, after the cluster id.
const ROUTE_BYTES: usize = 16;

/// Who sends a frame to whom, by node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    pub from: u64,
    pub to: u64,
}

impl Route {
    /// The route of the answer to a frame on this route.
    pub fn reversed(self) -> Route {
        Route { from: self.to, to: self.from }
    }
}

/// Encodes one frame into a single buffer, so it goes out in one write.
///
/// # Errors
/// [`FrameError::TooLarge`] for a frame over [`PEER_FRAME_BYTES_MAX`], which no peer would read
/// (and whose length would not fit the prefix).
///
/// # Panics
/// If `cluster` is longer than [`CLUSTER_ID_BYTES_MAX`] (callers check ids at configuration).
pub fn encode_frame(kind: u8, cluster: &str, route: Route, body: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode_frame_with_room(kind, cluster, route, body, 0)
}

/// [`encode_frame`] with a length prefix that counts `room` more bytes, which the caller appends
/// (an authentication tag).
pub(super) fn encode_frame_with_room(
    kind: u8,
    cluster: &str,
    route: Route,
    body: &[u8],
    room: usize,
) -> Result<Vec<u8>, FrameError> {
    assert!(cluster.len() <= CLUSTER_ID_BYTES_MAX, "cluster id longer than {CLUSTER_ID_BYTES_MAX} bytes");
    let len = 2 + cluster.len() + ROUTE_BYTES + body.len() + room;
    if len > PEER_FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge(len));
    }
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.push(kind);
    frame.push(cluster.len() as u8);
    frame.extend_from_slice(cluster.as_bytes());
    frame.extend_from_slice(&route.from.to_be_bytes());
    frame.extend_from_slice(&route.to.to_be_bytes());
    frame.extend_from_slice(body);
    Ok(frame)
}

/// A frame's header: everything before its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: u8,
    pub cluster: String,
    pub route: Route,
    /// The bytes of the header, length prefix included.
    pub header_bytes: usize,
    /// The bytes of the body that follows.
    pub body_bytes: usize,
}

/// What the first bytes of a frame say.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderParse {
    /// At least this many bytes in all are needed.
    NeedMore(usize),
    /// The header, complete.
    Found(FrameHeader),
    /// Not a frame of this protocol.
    Invalid(FrameError),
}

/// Reads a frame's header from the start of `head` (which may hold more bytes after it).
pub fn parse_header(head: &[u8]) -> HeaderParse {
    // The length first, alone: an oversized frame is refused before anything else is read.
    let Some(len) = head.first_chunk::<4>().map(|len| u32::from_be_bytes(*len) as usize) else {
        return HeaderParse::NeedMore(4);
    };
    if len > PEER_FRAME_BYTES_MAX {
        return HeaderParse::Invalid(FrameError::TooLarge(len));
    }
    if head.len() < PREFIX_BYTES {
        return HeaderParse::NeedMore(PREFIX_BYTES);
    }
    let (kind, cluster_len) = (head[4], head[5] as usize);
    let header_bytes = PREFIX_BYTES + cluster_len + ROUTE_BYTES;
    if 4 + len < header_bytes {
        return HeaderParse::Invalid(FrameError::TooShort(len));
    }
    if head.len() < header_bytes {
        return HeaderParse::NeedMore(header_bytes);
    }
    let Ok(cluster) = std::str::from_utf8(&head[PREFIX_BYTES..PREFIX_BYTES + cluster_len]) else {
        return HeaderParse::Invalid(FrameError::ClusterNotUtf8);
    };
    let id = |at: usize| u64::from_be_bytes(head[at..at + 8].try_into().expect("the slice is eight bytes"));
    let route = Route { from: id(PREFIX_BYTES + cluster_len), to: id(PREFIX_BYTES + cluster_len + 8) };
    HeaderParse::Found(FrameHeader {
        kind,
        cluster: cluster.to_owned(),
        route,
        header_bytes,
        body_bytes: 4 + len - header_bytes,
    })
}

/// A frame as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub cluster: String,
    pub route: Route,
    pub body: Vec<u8>,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("a frame of {0} bytes is over the limit of {PEER_FRAME_BYTES_MAX}")]
    TooLarge(usize),
    #[error("a frame of {0} bytes is too short for its header")]
    TooShort(usize),
    #[error("the cluster id is not UTF-8")]
    ClusterNotUtf8,
}

impl PartialEq for FrameError {
    fn eq(&self, other: &FrameError) -> bool {
        match (self, other) {
            (FrameError::Io(a), FrameError::Io(b)) => a.kind() == b.kind(),
            (FrameError::TooLarge(a), FrameError::TooLarge(b))
            | (FrameError::TooShort(a), FrameError::TooShort(b)) => a == b,
            (FrameError::ClusterNotUtf8, FrameError::ClusterNotUtf8) => true,
            _ => false,
        }
    }
}

impl Eq for FrameError {}

/// Reads one frame; `Ok(None)` when the stream ends cleanly before a frame starts. The body is
/// read as it arrives: a claimed length costs memory only as its bytes come in.
///
/// # Errors
/// [`FrameError`] for an I/O failure, a stream cut inside a frame, or a frame that breaks the
/// format.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Frame>, FrameError> {
    let mut head = vec![0u8; PREFIX_BYTES];
    if reader.read(&mut head[..1]).await? == 0 {
        return Ok(None);
    }
    let mut have = 1;
    let header = loop {
        match parse_header(&head[..have]) {
            HeaderParse::Found(header) => break header,
            HeaderParse::Invalid(error) => return Err(error),
            HeaderParse::NeedMore(total) => {
                head.resize(total, 0);
                reader.read_exact(&mut head[have..total]).await?;
                have = total;
            }
        }
    };
    let mut body = Vec::with_capacity(header.body_bytes.min(64 * 1024));
    let read = reader.take(header.body_bytes as u64).read_to_end(&mut body).await?;
    if read < header.body_bytes {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame").into());
    }
    Ok(Some(Frame { kind: header.kind, cluster: header.cluster, route: header.route, body }))
}

/// Reads a whole frame from `bytes`, which hold exactly one (tests build frames this way).
#[cfg(test)]
pub(super) fn read_frame_sync(bytes: &[u8]) -> Frame {
    let HeaderParse::Found(header) = parse_header(bytes) else { panic!("not a whole frame") };
    assert_eq!(bytes.len(), header.header_bytes + header.body_bytes, "one frame, whole");
    Frame {
        kind: header.kind,
        cluster: header.cluster,
        route: header.route,
        body: bytes[header.header_bytes..].to_vec(),
    }
}

pub(super) async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame).await?;
    writer.flush().await
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    const ROUTE: Route = Route { from: 1, to: 2 };

    #[tokio::test]
    async fn frames_round_trip_and_cut_frames_are_errors() {
        let frame = encode_frame(KIND_MESSAGE, "c1", ROUTE, b"hello").expect("small");
        let read = read_frame(&mut &frame[..]).await.expect("reads").expect("a frame");
        assert_eq!(
            read,
            Frame { kind: KIND_MESSAGE, cluster: "c1".into(), route: ROUTE, body: b"hello".to_vec() }
        );
        assert!(read_frame(&mut &[][..]).await.expect("clean end").is_none());
        for cut in 1..frame.len() {
            assert!(read_frame(&mut &frame[..cut]).await.is_err(), "a frame cut at {cut} must not read");
        }
        let huge = ((PEER_FRAME_BYTES_MAX + 1) as u32).to_be_bytes();
        assert!(matches!(read_frame(&mut &huge[..]).await, Err(FrameError::TooLarge(_))));
    }

    /// A body too large for a frame is refused when encoding: its length would not fit the
    /// prefix (over 4 GiB it would wrap, and the rest of the body would be read as frames).
    #[test]
    fn an_oversized_frame_is_not_encoded() {
        // Zeroed pages from the allocator, never touched: cheap however large.
        let body = vec![0u8; PEER_FRAME_BYTES_MAX];
        assert!(matches!(encode_frame(KIND_MESSAGE, "c", ROUTE, &body), Err(FrameError::TooLarge(_))));
        let over_by_one = PEER_FRAME_BYTES_MAX - 2 - 1 - ROUTE_BYTES + 1;
        assert_eq!(
            encode_frame(KIND_MESSAGE, "c", ROUTE, &body[..over_by_one]),
            Err(FrameError::TooLarge(PEER_FRAME_BYTES_MAX + 1))
        );
    }

    /// The header is read from any prefix that holds it, and every shorter prefix asks for more
    /// bytes, never more than the header has: a proxy reads exactly the header and no body.
    #[test]
    fn the_route_is_read_from_the_header_alone() {
        let frame =
            encode_frame(KIND_MESSAGE, "jepsen", Route { from: 3, to: 5 }, b"append entries").expect("small");
        let header_bytes = 4 + 2 + "jepsen".len() + 16;
        let expected = FrameHeader {
            kind: KIND_MESSAGE,
            cluster: "jepsen".into(),
            route: Route { from: 3, to: 5 },
            header_bytes,
            body_bytes: b"append entries".len(),
        };
        assert_eq!(parse_header(&frame), HeaderParse::Found(expected.clone()));
        assert_eq!(parse_header(&frame[..header_bytes]), HeaderParse::Found(expected));
        for cut in 0..header_bytes {
            match parse_header(&frame[..cut]) {
                HeaderParse::NeedMore(total) => {
                    assert!(total > cut && total <= header_bytes, "{cut}: {total}")
                }
                other => panic!("a prefix of {cut} bytes: {other:?}"),
            }
        }
        let mut short = frame.clone();
        short[..4].copy_from_slice(&10u32.to_be_bytes());
        assert_eq!(parse_header(&short), HeaderParse::Invalid(FrameError::TooShort(10)));
    }

    /// The frame's bytes, pinned: changing them breaks every peer of another version and the
    /// jepsen runner's proxy, so a change here must be deliberate.
    #[test]
    fn a_frame_is_encoded_as_pinned() {
        let frame = encode_frame(KIND_MESSAGE, "c1", Route { from: 1, to: 258 }, b"body").expect("small");
        insta::assert_snapshot!(hex(&frame), @"00 00 00 18 00 02 63 31 00 00 00 00 00 00 00 01 00 00 00 00 00 00 01 02 62 6f 64 79");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }
}
