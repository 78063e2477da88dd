//! The peer frame's header parser on any bytes (what a node reads from anyone who reaches its
//! Raft port, and what the jepsen proxy reads): it never panics, asks for more bytes only
//! forward, refuses lengths past the limit before reading them, and a header it finds encodes
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redraft_core::limits::PEER_FRAME_BYTES_MAX;
use redraft_net::peer::{encode_frame, parse_header, HeaderParse};

fuzz_target!(|data: &[u8]| {
    match parse_header(data) {
        HeaderParse::NeedMore(total) => {
            assert!(total > data.len(), "asks for {total} with {} held", data.len())
        }
        HeaderParse::Invalid(_) => {}
        HeaderParse::Found(header) => {
            assert!(header.header_bytes <= data.len());
            assert!(header.header_bytes + header.body_bytes <= 4 + PEER_FRAME_BYTES_MAX);
            let body_held = data.len().min(header.header_bytes + header.body_bytes) - header.header_bytes;
            if body_held == header.body_bytes {
                let body = &data[header.header_bytes..header.header_bytes + header.body_bytes];
                let encoded =
                    encode_frame(header.kind, &header.cluster, header.route, body).expect("within the limit");
                assert_eq!(&encoded[..], &data[..encoded.len()]);
            }
        }
    }
});
