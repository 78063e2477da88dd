//! FNV-1a, 64-bit: a small, stable hash, the same in every process and on every machine (state
//! digests, the order HSCAN and SSCAN walk in).

/// FNV-1a, 64-bit: a small, stable digest (not a defence against tampering).
pub struct Fnv64(pub u64);

impl Default for Fnv64 {
    fn default() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
