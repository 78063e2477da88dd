//! The log's record framing (`[len][crc32c][payload]`) on any bytes, as recovery reads a
//! segment: neither the whole-segment reader nor the streaming one panics, and on a segment the
//! whole reader finds clean, the streaming reader fed it in two pieces finds the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redraft_core::record::{decode_all, RecordDecoder, Tail};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else { return };
    let whole = decode_all(input, 0);
    let at = usize::from(cut) % (input.len() + 1);
    let mut streaming = RecordDecoder::new(0);
    let mut records = Vec::new();
    let mut corrupt = false;
    for piece in [&input[..at], &input[at..]] {
        streaming.feed(piece);
        loop {
            match streaming.next_record() {
                Ok(Some(record)) => records.push(record),
                Ok(None) => break,
                Err(_) => {
                    corrupt = true;
                    break;
                }
            }
        }
        if corrupt {
            break;
        }
    }
    let tail = if corrupt { None } else { streaming.finish().ok() };
    if let Ok((expected, Tail::Clean { end_offset })) = whole {
        assert_eq!(records, expected, "fed in two at {at}");
        assert_eq!(tail, Some(Tail::Clean { end_offset }));
    }
});
