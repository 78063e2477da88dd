//! A reply's bytes gathered on the stack, to be written out with one copy: each `put_slice` into
//! the connection's buffer costs its bounds check and a `memcpy` call (`resp.rs`'s `bulk`).

/// Bytes of one reply gathered on the stack, to be written out with one copy.
pub(super) struct Gathered {
    buffer: [u8; GATHERED_BYTES],
    pub(super) len: usize,
}

/// Room for a length header (a type byte, 20 digits and a sign, CRLF) and a short value.
pub(super) const GATHERED_BYTES: usize = 64;

impl Gathered {
    pub(super) fn new() -> Gathered {
        Gathered { buffer: [0; GATHERED_BYTES], len: 0 }
    }

    pub(super) fn number_line(&mut self, kind: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        // At most 24 bytes, into an empty buffer of 64: these cannot fail.
        let written = self.push(&[kind]) && self.push(digits) && self.push(b"\r\n");
        debug_assert!(written);
    }

    /// Appends `bytes` if they fit, and says whether they did.
    pub(super) fn push(&mut self, bytes: &[u8]) -> bool {
        match self.buffer.get_mut(self.len..self.len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
                true
            }
            None => false,
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}
