//! BITFIELD's typed form and arithmetic: integers of 1 to 64 bits (unsigned up to 63) at any
//! bit offset of a string, read and written most significant bit first, with Redis's overflow
//! rules (WRAP, SAT, FAIL; Redis's `checkSignedBitfieldOverflow` and
//! `checkUnsignedBitfieldOverflow`). Parsing is `parse/bitmap.rs`, running `exec/bitmap.rs`.

use serde::{Deserialize, Serialize};

/// One operation of BITFIELD, with the overflow rule in force where it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldOp {
    pub action: FieldAction,
    pub field: Field,
    pub overflow: Overflow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldAction {
    Get,
    /// SET: answers the old value.
    Set(i64),
    /// INCRBY: answers the new value.
    IncrBy(i64),
}

/// An integer field: `i<bits>` (1 to 64) or `u<bits>` (1 to 63) at a bit offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub signed: bool,
    pub bits: u32,
    pub offset: u64,
}

/// OVERFLOW WRAP (the default), SAT or FAIL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    #[default]
    Wrap,
    Sat,
    Fail,
}

impl Field {
    /// The last bit the field covers.
    pub fn last_bit(&self) -> u64 {
        self.offset + u64::from(self.bits) - 1
    }

    /// The field's bits as an unsigned number (bits past the end of `value` read as 0).
    fn raw(&self, value: &[u8]) -> u64 {
        (0..u64::from(self.bits)).fold(0, |acc, i| {
            let at = self.offset + i;
            let byte = usize::try_from(at / 8).ok().and_then(|b| value.get(b)).copied().unwrap_or(0);
            (acc << 1) | u64::from((byte >> (7 - at % 8)) & 1)
        })
    }

    /// The field's value in `value` (sign-extended for a signed field).
    pub fn get(&self, value: &[u8]) -> i64 {
        let raw = self.raw(value);
        if self.signed && self.bits < 64 && raw & (1 << (self.bits - 1)) != 0 {
            (raw | (u64::MAX << self.bits)) as i64
        } else {
            raw as i64
        }
    }

    /// Writes the low `bits` of `new` into the field; `value` is long enough.
    pub fn put(&self, value: &mut [u8], new: u64) {
        for i in 0..u64::from(self.bits) {
            let bit = (new >> (u64::from(self.bits) - 1 - i)) & 1;
            let at = self.offset + i;
            let (byte, mask) = ((at / 8) as usize, 0x80u8 >> (at % 8));
            if bit == 1 {
                value[byte] |= mask;
            } else {
                value[byte] &= !mask;
            }
        }
    }

    /// `old + incr` as the field stores it under `overflow`; `None` when FAIL refuses it.
    pub fn add(&self, old: i64, incr: i64, overflow: Overflow) -> Option<i64> {
        let (overflowed, limit) = if self.signed {
            self.signed_overflow(old, incr)
        } else {
            self.unsigned_overflow(old as u64, incr)
        };
        match (overflowed, overflow) {
            (false, _) => Some(old.wrapping_add(incr)),
            (true, Overflow::Fail) => None,
            (true, Overflow::Sat) => Some(limit),
            (true, Overflow::Wrap) => Some(self.wrapped(old, incr)),
        }
    }

    /// Whether `value + incr` leaves a signed field, and the bound it passed.
    fn signed_overflow(&self, value: i64, incr: i64) -> (bool, i64) {
        let max = if self.bits == 64 { i64::MAX } else { (1i64 << (self.bits - 1)) - 1 };
        let min = -max - 1;
        let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
        let min_incr = min.wrapping_sub(value);
        let narrow = self.bits != 64;
        if value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
            (true, max)
        } else if value < min || (narrow && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
            (true, min)
        } else {
            (false, 0)
        }
    }

    /// Whether `value + incr` leaves an unsigned field, and the bound it passed.
    fn unsigned_overflow(&self, value: u64, incr: i64) -> (bool, i64) {
        let max = (1u64 << self.bits) - 1;
        let max_incr = max.wrapping_sub(value) as i64;
        let min_incr = value.wrapping_neg() as i64;
        if value > max || (incr > 0 && incr > max_incr) {
            (true, max as i64)
        } else if incr < 0 && incr < min_incr {
            (true, 0)
        } else {
            (false, 0)
        }
    }

    /// `value + incr` wrapped into the field's width.
    fn wrapped(&self, value: i64, incr: i64) -> i64 {
        let sum = (value as u64).wrapping_add(incr as u64);
        if self.bits == 64 {
            return sum as i64;
        }
        let high = u64::MAX << self.bits;
        if self.signed && sum & (1 << (self.bits - 1)) != 0 {
            (sum | high) as i64
        } else {
            (sum & !high) as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(signed: bool, bits: u32, offset: u64) -> Field {
        Field { signed, bits, offset }
    }

    #[test]
    fn fields_read_and_write_most_significant_bit_first() {
        let mut value = vec![0u8; 3];
        field(false, 8, 4).put(&mut value, 0xab);
        assert_eq!(value, [0x0a, 0xb0, 0]);
        assert_eq!(field(false, 8, 4).get(&value), 0xab);
        assert_eq!(field(true, 8, 4).get(&value), 0xab - 256);
        assert_eq!(field(false, 4, 20).get(&value), 0);
        assert_eq!(field(false, 8, 100).get(&value), 0, "past the end reads 0");
        assert_eq!(field(true, 64, 0).get(&[0xff; 8]), -1);
    }

    /// Examples from Redis's BITFIELD documentation and its overflow rules.
    #[test]
    fn overflow_wraps_saturates_or_fails() {
        let u2 = field(false, 2, 0);
        assert_eq!(u2.add(3, 1, Overflow::Wrap), Some(0));
        assert_eq!(u2.add(3, 1, Overflow::Sat), Some(3));
        assert_eq!(u2.add(3, 1, Overflow::Fail), None);
        assert_eq!(u2.add(0, -1, Overflow::Sat), Some(0));
        assert_eq!(u2.add(0, -1, Overflow::Wrap), Some(3));
        let i8 = field(true, 8, 0);
        assert_eq!(i8.add(127, 1, Overflow::Wrap), Some(-128));
        assert_eq!(i8.add(100, 100, Overflow::Sat), Some(127));
        assert_eq!(i8.add(-100, -100, Overflow::Sat), Some(-128));
        assert_eq!(i8.add(1, 2, Overflow::Fail), Some(3));
        let i64 = field(true, 64, 0);
        assert_eq!(i64.add(i64::MAX, 1, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(i64.add(i64::MIN, -1, Overflow::Sat), Some(i64::MIN));
        // SET checks its value as an increment of 0.
        assert_eq!(i8.add(300, 0, Overflow::Wrap), Some(44));
        assert_eq!(u2.add(-1, 0, Overflow::Sat), Some(3));
    }
}
