//! What a key holds: a string, or one of Redis's aggregates (a hash, a list, a set or a sorted
//! set), each in its own module with its commands.
//!
//! An aggregate lives behind one pointer in its key's record (`stored_key.rs`) and is changed in
//! place by the command that names it (`Locked::update_aggregate`); an aggregate left empty is
//! removed with its key, as in Redis. Elements are 16 bytes each, with no allocation of their
//! own up to 15 bytes (`element.rs`). What each element costs is documented next to each
//! structure.

pub mod bitfield;
pub mod bitmap;
pub mod element;
pub mod hash;
pub mod hash_commands;
pub mod inspect;
pub mod list;
pub mod list_commands;
pub(crate) mod random;
pub(crate) mod scan;
pub mod set;
pub mod set_commands;
pub mod zset;
pub mod zset_commands;

use std::borrow::Cow;

use bytes::Bytes;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

pub use element::Element;

/// Which of Redis's types a key holds, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    String,
    Hash,
    List,
    Set,
    ZSet,
}

impl Kind {
    /// The name TYPE replies with and `SCAN ... TYPE` matches.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
        }
    }

    /// The kind TYPE names `name` (in any ASCII case), if any.
    pub fn parse(name: &[u8]) -> Option<Kind> {
        [Kind::String, Kind::Hash, Kind::List, Kind::Set, Kind::ZSet]
            .into_iter()
            .find(|kind| kind.as_str().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// A key's value, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string; binary safe.
    String(Bytes),
    /// A hash, list, set or sorted set; never empty once stored.
    Aggregate(Box<Aggregate>),
}

impl Value {
    /// The string, if the value is one.
    pub fn as_string(&self) -> Option<&Bytes> {
        match self {
            Value::String(bytes) => Some(bytes),
            Value::Aggregate(_) => None,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::String(_) => Kind::String,
            Value::Aggregate(aggregate) => aggregate.kind(),
        }
    }
}

impl From<Bytes> for Value {
    fn from(bytes: Bytes) -> Value {
        Value::String(bytes)
    }
}

impl PartialEq<Bytes> for Value {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_string() == Some(other)
    }
}

/// A hash, a list, a set or a sorted set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Hash(Hash),
    List(List),
    Set(Set),
    ZSet(ZSet),
}

impl Aggregate {
    /// An empty aggregate of `kind`; `None` for a string.
    pub fn empty(kind: Kind) -> Option<Aggregate> {
        match kind {
            Kind::String => None,
            Kind::Hash => Some(Aggregate::Hash(Hash::default())),
            Kind::List => Some(Aggregate::List(List::default())),
            Kind::Set => Some(Aggregate::Set(Set::default())),
            Kind::ZSet => Some(Aggregate::ZSet(ZSet::default())),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Aggregate::Hash(_) => Kind::Hash,
            Aggregate::List(_) => Kind::List,
            Aggregate::Set(_) => Kind::Set,
            Aggregate::ZSet(_) => Kind::ZSet,
        }
    }

    /// The number of elements: fields, items or members.
    pub fn len(&self) -> usize {
        match self {
            Aggregate::Hash(hash) => hash.len(),
            Aggregate::List(list) => list.len(),
            Aggregate::Set(set) => set.len(),
            Aggregate::ZSet(zset) => zset.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// About the bytes the aggregate has asked the allocator for, kept as it changes (O(1)).
    pub fn allocated_bytes(&self) -> usize {
        size_of::<Aggregate>()
            + match self {
                Aggregate::Hash(hash) => hash.allocated_bytes(),
                Aggregate::List(list) => list.allocated_bytes(),
                Aggregate::Set(set) => set.allocated_bytes(),
                Aggregate::ZSet(zset) => zset.allocated_bytes(),
            }
    }

    /// Every element as snapshots write them, in the aggregate's order: a hash's fields each
    /// followed by its value, a list's items head first, a set's members, a sorted set's members
    /// lowest first, each followed by its score's eight bytes (IEEE 754, little-endian: exact).
    pub fn parts(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            Aggregate::Hash(hash) => {
                Box::new(hash.iter().flat_map(|(field, value)| [Cow::Borrowed(field), Cow::Borrowed(value)]))
            }
            Aggregate::List(list) => Box::new(list.iter().map(Cow::Borrowed)),
            Aggregate::Set(set) => Box::new(set.iter().map(Cow::Borrowed)),
            Aggregate::ZSet(zset) => Box::new(zset.iter().flat_map(|(member, score)| {
                [Cow::Borrowed(member), Cow::Owned(score.to_le_bytes().to_vec())]
            })),
        }
    }

    /// How many parts [`Aggregate::parts`] gives.
    pub fn part_count(&self) -> usize {
        match self {
            Aggregate::Hash(_) | Aggregate::ZSet(_) => 2 * self.len(),
            _ => self.len(),
        }
    }

    /// Rebuilds an aggregate of `kind` from its parts, in order; `None` when they cannot make
    /// one (a hash or sorted set with an odd count, a score that is not eight bytes or is NaN, or
    /// a string kind).
    pub fn from_parts(kind: Kind, parts: Vec<Bytes>) -> Option<Aggregate> {
        let mut aggregate = Aggregate::empty(kind)?;
        match &mut aggregate {
            Aggregate::Hash(hash) => {
                if !parts.len().is_multiple_of(2) {
                    return None;
                }
                let mut parts = parts.into_iter();
                while let (Some(field), Some(value)) = (parts.next(), parts.next()) {
                    hash.insert(&field, &value);
                }
            }
            Aggregate::List(list) => parts.iter().for_each(|item| list.push_back(item)),
            Aggregate::Set(set) => parts.iter().for_each(|member| {
                set.insert(member);
            }),
            Aggregate::ZSet(zset) => {
                if !parts.len().is_multiple_of(2) {
                    return None;
                }
                for pair in parts.chunks_exact(2) {
                    let score = f64::from_le_bytes(pair[1][..].try_into().ok()?);
                    if score.is_nan() {
                        return None;
                    }
                    zset.insert(&pair[0], score);
                }
            }
        }
        Some(aggregate)
    }
}

/// What one element costs the allocator beyond its 16 bytes, which the structure holding it
/// counts ([`Element::allocation_bytes`]).
pub(crate) fn element_bytes(bytes: &[u8]) -> usize {
    Element::allocation_bytes(bytes)
}

/// An element holding a copy of `bytes`.
pub(crate) fn element(bytes: &[u8]) -> Element {
    Element::new(bytes)
}

#[cfg(test)]
mod tests {
    use super::Aggregate;

    /// Every key holding an aggregate holds it in a box of this size: the large forms are boxed
    /// again, so that a small aggregate's box stays small.
    #[test]
    fn an_aggregate_fits_in_48_bytes() {
        assert!(size_of::<Aggregate>() <= 48, "{}", size_of::<Aggregate>());
    }
}
