//! The security log's chain: each event carries an HMAC-SHA256, under a key
//! derived from the server key, over the previous event's hash and its own
//! fields. Someone who can write the database but does not hold the server
//! key cannot extend or recompute the chain; events cut off at the end are
//! found against a head (count and hash, signed) kept outside the database
//! (docs/SECURITY.md, row LOG-05).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::EventRecord;
use crate::error::CoreError;
use crate::secret_box::length_prefixed;
use crate::store::EventLog;
use crate::token::hex;

type HmacSha256 = Hmac<Sha256>;

/// The `prev_hash` of the first event in the chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How a head line starts; the rest is `COUNT:HASH:SIGNATURE`, one token
/// without spaces so it can be found in a log file.
const HEAD_PREFIX: &str = "latchkey-head:v1:";

/// The HMAC key of the chain. `Debug` never shows it.
#[derive(Clone)]
pub struct ChainKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// The fields of an event a link covers, after the previous hash.
fn event_fields<'a>(prev_hash: &'a str, event: &'a EventRecord, at: &'a str, user: &'a str) -> [&'a [u8]; 6] {
    [
        prev_hash.as_bytes(),
        user.as_bytes(),
        event.kind.as_str().as_bytes(),
        at.as_bytes(),
        event.client.ip.as_deref().unwrap_or("").as_bytes(),
        event.client.user_agent.as_deref().unwrap_or("").as_bytes(),
    ]
}

impl ChainKey {
    /// What the chain key is derived from the server key under, so it is
    /// no other use's key.
    pub(crate) const LABEL: &'static [u8] = b"latchkey security event chain v1";

    /// The chain key, from the key derived for it.
    pub(crate) fn new(derived: &[u8; 32]) -> Self {
        ChainKey { mac: crate::secret_box::hmac_sha256(derived) }
    }

    /// The chain key of a server key (derived from it, so only a holder of
    /// the server key extends the chain).
    pub fn of(key: &crate::SecretBox) -> Self {
        ChainKey::new(&key.derive(Self::LABEL))
    }

    fn mac_of(&self, fields: &[&[u8]]) -> String {
        let mut mac = self.mac.clone();
        length_prefixed(fields, |bytes| mac.update(bytes));
        hex(&mac.finalize().into_bytes())
    }

    /// The hash that links `event` after `prev_hash`. Hex, lower case.
    pub fn link(&self, prev_hash: &str, event: &EventRecord) -> String {
        ChainLink::Keyed(self).hash(prev_hash, event)
    }
}

/// How a chain's hashes are made: this key's HMAC, or the plain SHA-256 of
/// the versions before the log was keyed (read once, when a store is
/// upgraded: see [`crate::store::EventLog::key_event_chain`]).
#[derive(Debug, Clone, Copy)]
pub enum ChainLink<'a> {
    /// SHA-256 without a key: anyone could recompute it.
    Legacy,
    /// HMAC-SHA256 under the chain key.
    Keyed(&'a ChainKey),
}

impl ChainLink<'_> {
    /// The hash of `event` after `prev_hash`.
    pub fn hash(&self, prev_hash: &str, event: &EventRecord) -> String {
        let (at, user) = (event.at.unix_timestamp().to_string(), event.user_id.to_string());
        let fields = event_fields(prev_hash, event, &at, &user);
        match self {
            ChainLink::Legacy => {
                let mut hasher = Sha256::new();
                length_prefixed(&fields, |bytes| hasher.update(bytes));
                hex(&hasher.finalize())
            }
            ChainLink::Keyed(key) => key.mac_of(&fields),
        }
    }
}

/// A stored event with its place in the chain.
#[derive(Debug, Clone)]
pub struct ChainedEvent {
    /// Its row id (the order of the chain).
    pub id: i64,
    /// The event.
    pub event: EventRecord,
    /// The hash it says came before it.
    pub prev_hash: String,
    /// The hash it says it has.
    pub hash: String,
}

/// A point of the chain: how many events it held and the last one's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Events up to and including the last.
    pub count: u64,
    /// The last event's hash ([`GENESIS`] for an empty log).
    pub hash: String,
}

/// Why a head line was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// No `latchkey-head:v1:COUNT:HASH:SIGNATURE` in the text.
    #[error("no head line (latchkey-head:v1:COUNT:HASH:SIGNATURE) found")]
    Missing,
    /// The signature is not this key's: made up, of another store's key,
    /// or from before a key rotation.
    #[error(
        "the head's signature is not this server key's: it was made up, belongs to another store, or was signed before a key rotation"
    )]
    Forged,
}

impl Head {
    fn signature(&self, key: &ChainKey) -> String {
        key.mac_of(&[b"head", self.count.to_string().as_bytes(), self.hash.as_bytes()])
    }

    /// The head as one signed line, to keep outside the database.
    pub fn line(&self, key: &ChainKey) -> String {
        format!("{HEAD_PREFIX}{}:{}:{}", self.count, self.hash, self.signature(key))
    }

    /// The last head line in `text` (a line, or a whole log file), if this
    /// key signed it.
    pub fn parse_signed(text: &str, key: &ChainKey) -> Result<Head, HeadError> {
        let start = text.rfind(HEAD_PREFIX).ok_or(HeadError::Missing)? + HEAD_PREFIX.len();
        let token: &str = text[start..].split(|c: char| !(c.is_ascii_alphanumeric() || c == ':')).next().unwrap_or("");
        let mut parts = token.split(':');
        let (Some(count), Some(hash), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HeadError::Missing);
        };
        let count = count.parse().map_err(|_| HeadError::Missing)?;
        let head = Head { count, hash: hash.to_string() };
        if bool::from(head.signature(key).as_bytes().ct_eq(signature.as_bytes())) {
            Ok(head)
        } else {
            Err(HeadError::Forged)
        }
    }
}

/// The chain's head as the store holds it now (not checked).
pub async fn current_head(store: &dyn EventLog) -> Result<Head, CoreError> {
    let (count, hash) = store.chain_head().await?;
    Ok(Head { count, hash: hash.unwrap_or_else(|| GENESIS.to_string()) })
}

/// What walking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every event links to the one before under the key, and the known
    /// head (if one was given) is in it.
    Intact {
        /// How many events were checked.
        events: u64,
    },
    /// The first event that does not fit: it, or one before it, was changed,
    /// removed, reordered, or written without the key.
    BrokenAt {
        /// Its row id.
        id: i64,
    },
    /// The chain is intact but shorter than the known head: events at its
    /// end were removed.
    Truncated {
        /// Events the store holds.
        events: u64,
        /// Events the head counted.
        head: u64,
    },
    /// The chain is intact, but its event at the head's position is not the
    /// head's: the log was rewritten from there on.
    HeadNotInChain {
        /// The head's count.
        head: u64,
    },
}

/// Walks events in chain order, as a store hands them out in pages.
#[derive(Debug)]
struct ChainWalker<'a> {
    link: ChainLink<'a>,
    expected_prev: String,
    checked: u64,
}

impl<'a> ChainWalker<'a> {
    fn new(link: ChainLink<'a>) -> Self {
        ChainWalker { link, expected_prev: GENESIS.to_string(), checked: 0 }
    }

    /// Checks the next event; `Err(id)` at the first that does not fit.
    fn check(&mut self, chained: &ChainedEvent) -> Result<(), i64> {
        let fits = chained.prev_hash == self.expected_prev
            && bool::from(self.link.hash(&chained.prev_hash, &chained.event).as_bytes().ct_eq(chained.hash.as_bytes()));
        if !fits {
            return Err(chained.id);
        }
        self.expected_prev.clone_from(&chained.hash);
        self.checked += 1;
        Ok(())
    }
}

/// Walks the whole chain of a store, a page at a time, under `key`; with a
/// known `head`, also checks that the chain still holds it.
pub async fn verify_chain(store: &dyn EventLog, key: &ChainKey, head: Option<&Head>) -> Result<ChainCheck, CoreError> {
    const PAGE: u32 = 1000;
    let mut walker = ChainWalker::new(ChainLink::Keyed(key));
    let mut at_head = None;
    let mut after = 0;
    loop {
        let page = store.chained_events(after, PAGE).await?;
        for chained in &page {
            if let Err(id) = walker.check(chained) {
                return Ok(ChainCheck::BrokenAt { id });
            }
            if head.is_some_and(|h| h.count == walker.checked) {
                at_head = Some(chained.hash.clone());
            }
            after = chained.id;
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    let events = walker.checked;
    Ok(match head {
        Some(head) if head.count > events => ChainCheck::Truncated { events, head: head.count },
        Some(head) if head.count > 0 && at_head.as_deref() != Some(head.hash.as_str()) => {
            ChainCheck::HeadNotInChain { head: head.count }
        }
        _ => ChainCheck::Intact { events },
    })
}

/// Whether `copy` holds exactly the chain of `original`, event by event
/// (ids, fields and links): how `migrate-store` checks its copy without the
/// server key. `Err(id)` names the first event that differs or is missing.
pub async fn same_chain(original: &dyn EventLog, copy: &dyn EventLog) -> Result<Result<u64, i64>, CoreError> {
    const PAGE: u32 = 1000;
    let (mut after, mut events) = (0, 0_u64);
    loop {
        let (ours, theirs) = (original.chained_events(after, PAGE).await?, copy.chained_events(after, PAGE).await?);
        for (index, event) in ours.iter().enumerate() {
            let same = theirs.get(index).is_some_and(|copied| {
                let (a, b) = (&event.event, &copied.event);
                copied.id == event.id
                    && copied.prev_hash == event.prev_hash
                    && copied.hash == event.hash
                    && (a.user_id, a.kind, a.at) == (b.user_id, b.kind, b.at)
                    && (&a.client.ip, &a.client.user_agent) == (&b.client.ip, &b.client.user_agent)
            });
            if !same {
                return Ok(Err(event.id));
            }
            after = event.id;
            events += 1;
        }
        if theirs.len() > ours.len() {
            return Ok(Err(theirs[ours.len()].id));
        }
        if ours.len() < PAGE as usize {
            return Ok(Ok(events));
        }
    }
}

/// Rewrites a chain made one way into one made with `new`, as a store does
/// it row by row inside its transaction: call [`Rechain::next`] for each
/// event in order; it gives the new `(prev_hash, hash)`, or `None` from the
/// first event that did not fit the old chain (that one and every later
/// one keep their hashes, so the break stays where it was).
#[derive(Debug)]
pub struct Rechain<'a> {
    old: ChainWalker<'a>,
    new: &'a ChainKey,
    new_prev: String,
    broken: bool,
}

impl<'a> Rechain<'a> {
    /// From the chain `old` made to one under `new`.
    pub fn new(old: ChainLink<'a>, new: &'a ChainKey) -> Self {
        Rechain { old: ChainWalker::new(old), new, new_prev: GENESIS.to_string(), broken: false }
    }

    /// The event's new links, or `None` once the old chain is broken.
    pub fn next(&mut self, chained: &ChainedEvent) -> Option<(String, String)> {
        if self.broken || self.old.check(chained).is_err() {
            if !self.broken {
                tracing::error!(
                    id = chained.id,
                    "the security log was broken here before it was re-keyed; it stays so"
                );
            }
            self.broken = true;
            return None;
        }
        let hash = self.new.link(&self.new_prev, &chained.event);
        let prev = std::mem::replace(&mut self.new_prev, hash.clone());
        Some((prev, hash))
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::events::EventKind;
    use crate::sessions::ClientInfo;
    use crate::UserId;

    fn event(kind: EventKind) -> EventRecord {
        EventRecord {
            user_id: UserId(uuid::Uuid::nil()),
            kind,
            at: OffsetDateTime::UNIX_EPOCH,
            client: ClientInfo { ip: Some("127.0.0.1".into()), user_agent: None },
        }
    }

    fn key(byte: u8) -> ChainKey {
        ChainKey::new(&[byte; 32])
    }

    fn chain(link: ChainLink<'_>, kinds: &[EventKind]) -> Vec<ChainedEvent> {
        let mut prev = GENESIS.to_string();
        let mut chain = Vec::new();
        for (id, kind) in kinds.iter().enumerate() {
            let hash = link.hash(&prev, &event(*kind));
            chain.push(ChainedEvent { id: id as i64 + 1, event: event(*kind), prev_hash: prev, hash: hash.clone() });
            prev = hash;
        }
        chain
    }

    const KINDS: [EventKind; 3] = [EventKind::SignedIn, EventKind::MfaEnabled, EventKind::SignedOut];

    #[test]
    fn a_chain_checks_until_the_first_changed_event() {
        let k = key(1);
        let chain = chain(ChainLink::Keyed(&k), &KINDS);
        let mut walker = ChainWalker::new(ChainLink::Keyed(&k));
        assert!(chain.iter().all(|e| walker.check(e).is_ok()));
        assert_eq!(walker.checked, 3);

        let mut changed = chain.clone();
        changed[1].event.kind = EventKind::MfaDisabled;
        let mut walker = ChainWalker::new(ChainLink::Keyed(&k));
        assert_eq!(changed.iter().try_for_each(|e| walker.check(e)), Err(2));

        let mut removed = chain.clone();
        removed.remove(1);
        let mut walker = ChainWalker::new(ChainLink::Keyed(&k));
        assert_eq!(removed.iter().try_for_each(|e| walker.check(e)), Err(3));
    }

    #[test]
    fn a_chain_recomputed_without_the_key_does_not_check() {
        let (ours, theirs) = (key(1), key(2));
        for forged in [chain(ChainLink::Legacy, &KINDS), chain(ChainLink::Keyed(&theirs), &KINDS)] {
            let mut walker = ChainWalker::new(ChainLink::Keyed(&ours));
            assert_eq!(forged.iter().try_for_each(|e| walker.check(e)), Err(1));
        }
    }

    #[test]
    fn fields_are_length_prefixed_so_shifting_text_between_them_changes_the_hash() {
        let mut a = event(EventKind::SignedIn);
        a.client.ip = Some("ab".into());
        a.client.user_agent = Some("c".into());
        let mut b = a.clone();
        b.client.ip = Some("a".into());
        b.client.user_agent = Some("bc".into());
        let k = key(1);
        assert_ne!(k.link(GENESIS, &a), k.link(GENESIS, &b));
        assert_ne!(ChainLink::Legacy.hash(GENESIS, &a), ChainLink::Legacy.hash(GENESIS, &b));
    }

    #[test]
    fn a_head_line_reads_back_only_under_its_key_and_is_found_in_a_log_line() {
        let k = key(1);
        let head = Head { count: 42, hash: "ab".repeat(32) };
        let line = head.line(&k);
        assert!(line.starts_with("latchkey-head:v1:42:") && !line.contains(' '));
        assert_eq!(Head::parse_signed(&line, &k), Ok(head.clone()));
        let logged = format!("2026-12-06T22:00:00Z INFO security log head head={line} count=42\n");
        assert_eq!(Head::parse_signed(&logged, &k), Ok(head.clone()));
        assert_eq!(Head::parse_signed(&line, &key(2)), Err(HeadError::Forged));
        let more = line.replace("latchkey-head:v1:42:", "latchkey-head:v1:43:");
        assert_eq!(Head::parse_signed(&more, &k), Err(HeadError::Forged));
        assert_eq!(Head::parse_signed("no head here", &k), Err(HeadError::Missing));
        assert_eq!(Head::parse_signed("latchkey-head:v1:x:y", &k), Err(HeadError::Missing));
    }

    #[test]
    fn rechaining_rewrites_up_to_a_break_and_keeps_it() {
        let new = key(2);
        let mut chain = chain(ChainLink::Legacy, &KINDS);
        chain[1].event.kind = EventKind::MfaDisabled;
        let mut rechain = Rechain::new(ChainLink::Legacy, &new);
        let first = rechain.next(&chain[0]).unwrap();
        assert_eq!(first, (GENESIS.to_string(), new.link(GENESIS, &chain[0].event)));
        assert_eq!(rechain.next(&chain[1]), None, "the changed event");
        assert_eq!(rechain.next(&chain[2]), None, "and everything after");
    }
}
