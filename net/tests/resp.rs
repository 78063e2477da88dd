//! The RESP codec: requests split at every byte still decode, inline commands split as Redis
//! splits them, every limit is refused from the header with Redis's error, arbitrary bytes never
//! panic, and replies encode byte for byte as Redis sends them (pinned with insta) and decode back.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use redraft_core::limits::ARG_COPIED_BYTES_MAX;
use redraft_core::stored_key::INLINE_VALUE_BYTES_MAX;
use redraft_core::Reply;
use redraft_net::resp::{
    encode_reply, encode_request, split_inline, Frame, Protocol, ReplyDecoder, RequestDecoder, RequestLimits,
};

fn decode_all(decoder: &mut RequestDecoder, input: &[u8]) -> Result<Vec<Vec<Bytes>>, String> {
    let mut buffer = BytesMut::from(input);
    let mut requests = Vec::new();
    while let Some(request) = decoder.decode(&mut buffer).map_err(|e| e.0)? {
        requests.push(request);
    }
    Ok(requests)
}

fn args(items: &[&str]) -> Vec<Bytes> {
    items.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
}

/// A pipeline of multibulk and inline requests, fed in two parts split at every byte offset,
/// decodes to the same requests.
#[test]
fn pipeline_split_anywhere_decodes_the_same() {
    let input =
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\nPING\r\n*0\r\n\r\nGET k\n*1\r\n$4\r\nPING\r\n";
    let expected =
        vec![args(&["SET", "k", "v\r\nxy"]), args(&["PING"]), args(&["GET", "k"]), args(&["PING"])];
    for split in 0..=input.len() {
        let mut decoder = RequestDecoder::default();
        let mut buffer = BytesMut::new();
        let mut got = Vec::new();
        for part in [&input[..split], &input[split..]] {
            buffer.extend_from_slice(part);
            while let Some(request) = decoder.decode(&mut buffer).expect("valid") {
                got.push(request);
            }
        }
        assert_eq!(got, expected, "split at {split}");
        assert!(buffer.is_empty());
    }
}

/// A value the map would keep as it arrives (longer than a record inlines, up to the copy bound)
/// is decoded into memory of its own, not as a slice of the read buffer, which it would keep
/// alive with the key; shorter arguments and longer values are slices. Both decoding paths:
/// the whole request in the buffer, and the request arriving in two parts.
#[test]
fn values_a_key_keeps_do_not_share_the_read_buffer() {
    let (inline, copied_max) = (INLINE_VALUE_BYTES_MAX, ARG_COPIED_BYTES_MAX);
    for (len, copied) in [(10, false), (inline, false), (inline + 1, true), (1000, true), (copied_max, true)]
        .into_iter()
        .chain([(copied_max + 1, false)])
    {
        let value = vec![b'v'; len];
        let mut input = BytesMut::new();
        encode_request(&[&b"SET"[..], b"k", &value], &mut input);
        for split in [input.len(), input.len() - 3] {
            let mut buffer = BytesMut::with_capacity(input.len());
            buffer.extend_from_slice(&input[..split]);
            let start = buffer.as_ptr() as usize;
            let read = start..start + input.len();
            let mut decoder = RequestDecoder::default();
            let mut request = decoder.decode(&mut buffer).expect("valid");
            if request.is_none() {
                buffer.extend_from_slice(&input[split..]);
                request = decoder.decode(&mut buffer).expect("valid");
            }
            let request = request.expect("a whole request");
            assert_eq!(&request[2][..], &value[..]);
            let shares = read.contains(&(request[2].as_ptr() as usize));
            assert_eq!(shares, !copied, "a {len}-byte value, split at {split}");
            assert!(read.contains(&(request[1].as_ptr() as usize)), "the key is a slice");
        }
    }
}

/// Inline commands: whitespace, double quotes with escapes, single quotes.
#[test]
fn inline_commands_split_like_sdssplitargs() {
    assert_eq!(split_inline(b"  SET  k   v ").expect("ok"), args(&["SET", "k", "v"]));
    assert_eq!(split_inline(br#"SET "a b" 'c d'"#).expect("ok"), args(&["SET", "a b", "c d"]));
    assert_eq!(split_inline(br#"SET k "\x41\n\"""#).expect("ok"), args(&["SET", "k", "A\n\""]));
    assert_eq!(split_inline(br"SET k 'it\'s'").expect("ok"), args(&["SET", "k", "it's"]));
    assert_eq!(split_inline(b"SET k \"\"").expect("ok"), args(&["SET", "k", ""]));
    for bad in [&br#"SET "k"#[..], br#"SET "k"x"#, b"SET 'k"] {
        assert_eq!(
            split_inline(bad).expect_err("unbalanced").0,
            "ERR Protocol error: unbalanced quotes in request"
        );
    }
}

/// Each limit is refused as soon as the header declaring the size is read, with Redis's text.
#[test]
fn limits_are_refused_from_the_header() {
    let limits = RequestLimits { bulk_bytes_max: 10, array_len_max: 4, inline_bytes_max: 32 };
    let refuse = |input: &[u8]| decode_all(&mut RequestDecoder::new(limits), input).expect_err("refused");
    assert_eq!(refuse(b"*5\r\n"), "ERR Protocol error: invalid multibulk length");
    assert_eq!(refuse(b"*x\r\n"), "ERR Protocol error: invalid multibulk length");
    assert_eq!(refuse(b"*1\r\n$11\r\n"), "ERR Protocol error: invalid bulk length");
    assert_eq!(refuse(b"*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
    assert_eq!(refuse(b"*1\r\n+OK\r\n"), "ERR Protocol error: expected '$', got '+'");
    assert_eq!(refuse(&[b'A'; 40]), "ERR Protocol error: too big inline request");
    assert_eq!(refuse(&[b'*'; 40]), "ERR Protocol error: too big mbulk count string");
    let mut long_header = b"*1\r\n$".to_vec();
    long_header.extend_from_slice(&[b'1'; 40]);
    assert_eq!(refuse(&long_header), "ERR Protocol error: too big bulk count string");
    assert_eq!(refuse(b"*1\r\n$1\r\nab\r\n"), "ERR Protocol error: invalid bulk string terminator");
}

/// Every reply type, in RESP2 and RESP3, byte for byte.
#[test]
fn reply_encodings_are_pinned() {
    let frames = vec![
        Frame::simple("OK"),
        Frame::Error("ERR bad\r\nthing".to_owned()),
        Frame::Integer(-42),
        Frame::text("hello"),
        Frame::Bulk(Bytes::new()),
        Frame::Null,
        Frame::NullArray,
        Frame::Array(vec![Frame::Integer(1), Frame::Null]),
        Frame::Map(vec![(Frame::text("proto"), Frame::Integer(3))]),
        Frame::Set(vec![Frame::text("a")]),
        Frame::Double(1.5),
        Frame::Boolean(true),
        Frame::Verbatim { format: *b"txt", text: Bytes::from_static(b"# Server") },
    ];
    let mut out = String::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        for frame in &frames {
            let mut bytes = BytesMut::new();
            frame.encode(protocol, &mut bytes);
            out.push_str(&format!("{protocol:?} {:?}\n", String::from_utf8_lossy(&bytes)));
        }
    }
    insta::assert_snapshot!("reply_encodings", out);
}

/// A bulk string is its length header, its bytes and CRLF, whatever its length: short ones are
/// gathered and written at once, longer ones piece by piece, so the lengths either side of where
/// one way gives way to the other are each checked, appended after what the buffer holds.
#[test]
fn bulk_strings_encode_at_every_length() {
    for len in 0..=200 {
        let value: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut out = BytesMut::from(&b"+OK\r\n"[..]);
        encode_reply(&Reply::Bulk(Bytes::from(value.clone())), Protocol::Resp2, &mut out);
        let mut expected = format!("+OK\r\n${len}\r\n").into_bytes();
        expected.extend_from_slice(&value);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(&out[..], &expected[..], "a bulk string of {len} bytes");
    }
    let mut out = BytesMut::new();
    encode_reply(&Reply::Integer(i64::MIN), Protocol::Resp2, &mut out);
    assert_eq!(&out[..], b":-9223372036854775808\r\n");
}

/// A reply line with nothing before its `\r\n` has no type byte: an error, at the top or inside
/// an aggregate, never a panic (it used to slice past the line's end).
#[test]
fn a_reply_line_without_a_type_byte_is_an_error() {
    for input in [&b"\r\n"[..], b"*1\r\n\r\n", b"%1\r\n+k\r\n\r\n"] {
        let error = ReplyDecoder::default().decode(&mut BytesMut::from(input)).expect_err("refused");
        assert_eq!(error.to_string(), "ERR Protocol error: a reply line with no type byte", "{input:?}");
    }
}

fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 ]{0,10}".prop_map(Frame::Simple),
        "ERR [a-z ]{0,10}".prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Frame::Bulk(b.into())),
        Just(Frame::Null),
        any::<bool>().prop_map(Frame::Boolean),
        (-1e9f64..1e9).prop_map(Frame::Double),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Frame::Array),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Frame::Map),
            proptest::collection::vec(inner, 0..3).prop_map(Frame::Set),
        ]
    })
}

fn reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        Just(Reply::Ok),
        "[a-z\r\n ]{0,8}".prop_map(Reply::Status),
        "ERR [a-z\r\n ]{0,8}".prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Reply::Bulk(b.into())),
        Just(Reply::Nil),
        Just(Reply::NilArray),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(Reply::Array))
}

/// Pieces of requests, well formed and not: what a decoder fed them must judge the same way
/// whether they arrive at once (the fast path) or a byte at a time (the incremental path).
fn request_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"*2\r\n".to_vec()),
        Just(b"*3\r\n".to_vec()),
        Just(b"*17\r\n".to_vec()),
        Just(b"*0\r\n".to_vec()),
        Just(b"*-1\r\n".to_vec()),
        Just(b"*02\r\n".to_vec()),
        Just(b"*1\n".to_vec()),
        Just(b"$3\r\n".to_vec()),
        Just(b"$03\r\n".to_vec()),
        Just(b"$0\r\n".to_vec()),
        Just(b"$65\r\n".to_vec()),
        Just(b"$-1\r\n".to_vec()),
        Just(b"$3\n".to_vec()),
        Just(b"SET\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"GET k\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
        // Whole requests, and whole requests with a zero put before one of their lengths.
        (
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..4),
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(|(args, at, mutate)| {
                let mut bytes = BytesMut::new();
                encode_request(&args, &mut bytes);
                let mut bytes = bytes.to_vec();
                let headers: Vec<usize> = (0..bytes.len())
                    .filter(|&i| (bytes[i] == b'$' || bytes[i] == b'*') && (i == 0 || bytes[i - 1] == b'\n'))
                    .collect();
                if mutate {
                    bytes.insert(headers[usize::from(at) % headers.len()] + 1, b'0');
                }
                bytes
            }),
    ]
}

proptest! {
    /// A data command's reply encodes exactly as the frame it converts to, in both protocols.
    #[test]
    fn replies_encode_as_their_frames(reply in reply()) {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let mut direct = BytesMut::new();
            encode_reply(&reply, protocol, &mut direct);
            let mut framed = BytesMut::new();
            Frame::from(reply.clone()).encode(protocol, &mut framed);
            prop_assert_eq!(&direct, &framed);
        }
    }

    /// The decoder's fast path for whole requests and its incremental path agree on every input:
    /// the same requests, then the same error (or none), whether the bytes arrive at once or one
    /// at a time.
    #[test]
    fn whole_and_incremental_decoding_agree(pieces in proptest::collection::vec(request_piece(), 0..24)) {
        let input = pieces.concat();
        let limits = RequestLimits { bulk_bytes_max: 64, array_len_max: 8, inline_bytes_max: 64 };
        let mut at_once = RequestDecoder::new(limits);
        let mut buffer = BytesMut::from(&input[..]);
        let mut whole = Vec::new();
        let whole_end = loop {
            match at_once.decode(&mut buffer) {
                Ok(Some(request)) => whole.push(request),
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        let mut by_byte = RequestDecoder::new(limits);
        let mut buffer = BytesMut::new();
        let mut incremental = Vec::new();
        let mut incremental_end = None;
        'bytes: for &byte in &input {
            buffer.extend_from_slice(&[byte]);
            loop {
                match by_byte.decode(&mut buffer) {
                    Ok(Some(request)) => incremental.push(request),
                    Ok(None) => break,
                    Err(error) => {
                        incremental_end = Some(error);
                        break 'bytes;
                    }
                }
            }
        }
        prop_assert_eq!(whole, incremental);
        prop_assert_eq!(whole_end, incremental_end);
    }

    /// Requests encoded as clients send them decode to the same arguments, split anywhere.
    #[test]
    fn requests_round_trip(
        requests in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..5), 1..5),
        split in any::<prop::sample::Index>(),
    ) {
        let mut input = BytesMut::new();
        for request in &requests {
            encode_request(request, &mut input);
        }
        let split = split.index(input.len() + 1);
        let mut decoder = RequestDecoder::default();
        let mut buffer = BytesMut::from(&input[..split]);
        let mut got = Vec::new();
        while let Some(r) = decoder.decode(&mut buffer).expect("valid") { got.push(r); }
        buffer.extend_from_slice(&input[split..]);
        while let Some(r) = decoder.decode(&mut buffer).expect("valid") { got.push(r); }
        let want: Vec<Vec<Bytes>> = requests.into_iter().map(|r| r.into_iter().map(Bytes::from).collect()).collect();
        prop_assert_eq!(got, want);
    }

    /// RESP3 replies decode to the frame that was encoded.
    #[test]
    fn resp3_replies_round_trip(frame in frame()) {
        let mut bytes = BytesMut::new();
        frame.encode(Protocol::Resp3, &mut bytes);
        let decoded = ReplyDecoder::default().decode(&mut bytes).expect("valid").expect("whole");
        prop_assert_eq!(decoded, frame);
        prop_assert!(bytes.is_empty());
    }

    /// Arbitrary bytes never panic either decoder, however they are split.
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..256), split in 0usize..256) {
        let split = split.min(input.len());
        let mut decoder = RequestDecoder::new(RequestLimits { bulk_bytes_max: 64, array_len_max: 8, inline_bytes_max: 64 });
        let mut buffer = BytesMut::from(&input[..split]);
        let _ = decoder.decode(&mut buffer);
        buffer.extend_from_slice(&input[split..]);
        while let Ok(Some(_)) = decoder.decode(&mut buffer) {}
        let mut replies = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = ReplyDecoder::default().decode(&mut replies) {}
    }
}
