//! A replicated entry's encoding (format version byte, then bincode) on any bytes, as a node
//! decodes what its log or a peer hands it: it never panics nor allocates past the record limit,
//! and an entry it decodes encodes back to bytes that decode to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redraft_core::codec::{decode_any_version, encode_versioned};
use redraft_core::LogEntry;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = decode_any_version::<LogEntry>(1..=3, data) {
        let encoded = encode_versioned(3, &entry);
        let again: LogEntry = decode_any_version(3..=3, &encoded).expect("an encoded entry decodes");
        assert_eq!(format!("{again:?}"), format!("{entry:?}"));
    }
});
