//! The server's RESP request decoder on any bytes: it never panics, and the requests (or the
//! protocol error) it finds do not depend on how the bytes arrived: all at once, or cut in two
//! at any point (a read boundary), as the decoder's fast path and its incremental path must agree.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use redraft_net::resp::{RequestDecoder, RequestLimits};

/// Small limits, so the fuzzer reaches them.
const LIMITS: RequestLimits =
    RequestLimits { bulk_bytes_max: 4096, array_len_max: 64, inline_bytes_max: 1024 };

fn decode(chunks: &[&[u8]]) -> (Vec<Vec<bytes::Bytes>>, Option<String>) {
    let mut decoder = RequestDecoder::new(LIMITS);
    let mut buffer = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => break,
                Err(error) => return (requests, Some(error.reply_text().to_owned())),
            }
        }
    }
    (requests, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else { return };
    let whole = decode(&[input]);
    let at = usize::from(cut) % (input.len() + 1);
    let split = decode(&[&input[..at], &input[at..]]);
    assert_eq!(whole, split, "cut at {at}");
});
