//! Keyspace notifications as the differential test reads them: a connection subscribed to every
//! notification of a server that publishes them all, read up to a mark its client publishes.

use redraft_net::resp::Frame;

use super::{call, words, SyncClient};

/// A connection subscribed to every keyspace notification of a server that publishes them all.
pub struct EventListener {
    subscriber: SyncClient,
    marks: u64,
}

impl EventListener {
    pub fn start(client: &mut SyncClient, addr: &str) -> EventListener {
        assert_eq!(
            call(client, &words(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"])),
            Frame::Simple("OK".into())
        );
        let mut subscriber = SyncClient::connect(addr).expect("a second connection");
        call(&mut subscriber, &words(&["PSUBSCRIBE", "__key*@0__:*"]));
        call(&mut subscriber, &words(&["SUBSCRIBE", "mark"]));
        EventListener { subscriber, marks: 0 }
    }

    /// The notifications received since the last call, as (channel, message): `client`
    /// publishes a mark after its commands, and the subscriber reads up to it (messages arrive
    /// in the order they were published, on both servers).
    pub fn events_until_mark(&mut self, client: &mut SyncClient) -> Vec<(String, String)> {
        self.marks += 1;
        let mark = self.marks.to_string();
        call(client, &words(&["PUBLISH", "mark", &mark]));
        let mut events = Vec::new();
        loop {
            let frame = self.subscriber.read_reply().expect("the subscriber reads");
            let Frame::Array(parts) = frame else { panic!("a message: {frame:?}") };
            let text = |frame: &Frame| match frame {
                Frame::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                other => panic!("a bulk string: {other:?}"),
            };
            match parts.len() {
                3 if text(&parts[1]) == "mark" && text(&parts[2]) == mark => return events,
                3 => {}
                4 => events.push((text(&parts[2]), text(&parts[3]))),
                _ => panic!("a message: {parts:?}"),
            }
        }
    }
}
