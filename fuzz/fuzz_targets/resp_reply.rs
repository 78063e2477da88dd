//! The client-side reply decoder (redraft-cli, the jepsen client, the tests) on any bytes: it
//! never panics, and a reply it decodes encodes back (RESP3) to bytes that decode to the same
//! reply, but for RESP3's one null standing for both RESP2 nulls and line breaks in a status or
//! an error, which the encoder turns into spaces as Redis does.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use redraft_net::resp::{Frame, Protocol, ReplyDecoder, RequestLimits};

const LIMITS: RequestLimits =
    RequestLimits { bulk_bytes_max: 4096, array_len_max: 64, inline_bytes_max: 1024 };

/// The frame as RESP3 can say it: the null array is the null, and a line holds no line break.
fn resp3(frame: Frame) -> Frame {
    let one_line = |text: String| text.replace(['\r', '\n'], " ");
    match frame {
        Frame::NullArray => Frame::Null,
        Frame::Simple(text) => Frame::Simple(one_line(text)),
        Frame::Error(text) => Frame::Error(one_line(text)),
        Frame::Array(items) => Frame::Array(items.into_iter().map(resp3).collect()),
        Frame::Set(items) => Frame::Set(items.into_iter().map(resp3).collect()),
        Frame::Map(pairs) => Frame::Map(pairs.into_iter().map(|(k, v)| (resp3(k), resp3(v))).collect()),
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let decoder = ReplyDecoder::new(LIMITS);
    let mut buffer = BytesMut::from(data);
    while let Ok(Some(frame)) = decoder.decode(&mut buffer) {
        let mut encoded = BytesMut::new();
        frame.encode(Protocol::Resp3, &mut encoded);
        let again = decoder.decode(&mut encoded).expect("an encoded reply decodes").expect("whole");
        assert!(encoded.is_empty(), "one reply, all of it");
        // NaN is the one value not equal to itself.
        if !format!("{frame:?}").contains("NaN") {
            assert_eq!(again, resp3(frame));
        }
    }
});
