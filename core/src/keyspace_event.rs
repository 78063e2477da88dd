//! Keyspace notifications: the events commands raise as they change keys (Redis's
//! `notifyKeyspaceEvent`), their classes, and the `notify-keyspace-events` setting that picks
//! which of them a node publishes.
//!
//! Commands raise events as the state machine applies their entry, so every node raises the same
//! events in log order; each node publishes those its own setting asks for to
//! `__keyspace@0__:<key>` (the event's name as the message) and `__keyevent@0__:<event>` (the
//! key), keyspace first, as Redis does.

/// The class of an event, as `notify-keyspace-events` names it by one character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventClass {
    /// `g`: DEL, EXPIRE, RENAME, COPY, PERSIST and the `del` of an aggregate left empty.
    Generic,
    /// `$`: string commands.
    String,
    /// `l`: list commands.
    List,
    /// `s`: set commands.
    Set,
    /// `h`: hash commands.
    Hash,
    /// `z`: sorted set commands.
    ZSet,
    /// `x`: a key removed by expiry.
    Expired,
    /// `n`: a key created (not part of `A`, as in Redis).
    New,
}

impl EventClass {
    fn bit(self) -> u16 {
        1 << match self {
            EventClass::Generic => 0,
            EventClass::String => 1,
            EventClass::List => 2,
            EventClass::Set => 3,
            EventClass::Hash => 4,
            EventClass::ZSet => 5,
            EventClass::Expired => 6,
            EventClass::New => 10,
        }
    }
}

/// One event: its class, its name (`set`, `lpush`, `expired`, ...) and the key it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub class: EventClass,
    pub name: &'static str,
}

impl Event {
    pub const fn new(class: EventClass, name: &'static str) -> Event {
        Event { class, name }
    }

    /// `del`, raised by DEL and by a command that leaves an aggregate empty.
    pub const DEL: Event = Event::new(EventClass::Generic, "del");
    /// `expire`, raised when a key's deadline is set.
    pub const EXPIRE: Event = Event::new(EventClass::Generic, "expire");
    /// `expired`, raised when expiry removes a key.
    pub const EXPIRED: Event = Event::new(EventClass::Expired, "expired");
    /// `new`, raised when a key is created.
    pub const NEW: Event = Event::new(EventClass::New, "new");
}

/// The setting `notify-keyspace-events`: which classes a node publishes, and to which of the
/// two channels. Empty (the default) publishes nothing, as in Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyFlags(u16);

/// The characters of the setting in the order Redis prints them, with their bits. `e` (evicted),
/// `t` (stream), `d` (module) and `m` (key miss) are accepted and kept, though redraft raises
/// none of them: it evicts nothing and has no streams or modules, and a miss changes nothing.
const CLASSES: [(char, u16); 11] = [
    ('g', 1 << 0),
    ('$', 1 << 1),
    ('l', 1 << 2),
    ('s', 1 << 3),
    ('h', 1 << 4),
    ('z', 1 << 5),
    ('x', 1 << 6),
    ('e', 1 << 7),
    ('t', 1 << 8),
    ('d', 1 << 9),
    ('n', 1 << 10),
];
/// `A`: every class but `n` and `m`.
const ALL: u16 = (1 << 10) - 1;
const KEYSPACE: u16 = 1 << 11;
const KEYEVENT: u16 = 1 << 12;
const KEY_MISS: u16 = 1 << 13;

impl NotifyFlags {
    /// Parses the setting as Redis's `keyspaceEventsStringToFlags` does; `None` for a character
    /// that names no class.
    pub fn parse(text: &str) -> Option<NotifyFlags> {
        let mut flags = 0;
        for c in text.chars() {
            flags |= match c {
                'A' => ALL,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                'm' => KEY_MISS,
                c => CLASSES.iter().find(|(name, _)| *name == c)?.1,
            };
        }
        Some(NotifyFlags(flags))
    }

    /// Whether a node with this setting publishes anything: some class and some channel.
    pub fn publishes(self) -> bool {
        self.0 & (KEYSPACE | KEYEVENT) != 0 && self.0 & !(KEYSPACE | KEYEVENT) != 0
    }

    /// Whether events of `class` are published to `__keyspace@0__:<key>`.
    pub fn keyspace(self, class: EventClass) -> bool {
        self.0 & KEYSPACE != 0 && self.0 & class.bit() != 0
    }

    /// Whether events of `class` are published to `__keyevent@0__:<event>`.
    pub fn keyevent(self, class: EventClass) -> bool {
        self.0 & KEYEVENT != 0 && self.0 & class.bit() != 0
    }
}

impl std::fmt::Display for NotifyFlags {
    /// As CONFIG GET prints it (Redis's `keyspaceEventsFlagsToString`): `A` when every class of
    /// `A` is on (which then leaves out `n`, as Redis 7.0 does), else each class; then `K`, `E`
    /// and `m`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 & ALL == ALL {
            f.write_str("A")?;
        } else {
            for (name, bit) in CLASSES {
                if self.0 & bit != 0 {
                    write!(f, "{name}")?;
                }
            }
        }
        for (bit, name) in [(KEYSPACE, "K"), (KEYEVENT, "E"), (KEY_MISS, "m")] {
            if self.0 & bit != 0 {
                f.write_str(name)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Redis 7.0.15 answers to CONFIG GET after CONFIG SET of each setting (read from a real
    /// `redis-server`).
    #[test]
    fn settings_print_as_redis_prints_them() {
        for (set, get) in [
            ("KEA", "AKE"),
            ("Kl", "lK"),
            ("E$", "$E"),
            ("", ""),
            ("A", "A"),
            ("Kg$lshzxetdmn", "AKm"),
            ("xKE", "xKE"),
            ("Kn$", "$nK"),
            ("KEAn", "AKE"),
            ("E$lg", "g$lE"),
        ] {
            assert_eq!(NotifyFlags::parse(set).expect(set).to_string(), get, "{set}");
        }
        assert_eq!(NotifyFlags::parse("Kq"), None);
        assert_eq!(NotifyFlags::parse("KEA d"), None);
    }

    #[test]
    fn a_class_is_published_only_with_a_channel() {
        let flags = NotifyFlags::parse("Kl").unwrap();
        assert!(flags.publishes() && flags.keyspace(EventClass::List));
        assert!(!flags.keyevent(EventClass::List) && !flags.keyspace(EventClass::Hash));
        assert!(!NotifyFlags::parse("A").unwrap().publishes());
        assert!(!NotifyFlags::parse("KE").unwrap().publishes());
        assert!(!NotifyFlags::parse("KEA").unwrap().keyspace(EventClass::New));
    }
}
