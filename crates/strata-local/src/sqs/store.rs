//! Queues and messages in SQLite (`<data>/sqs.sqlite`): the queue logic.
//!
//! One row per message, in one table for all queues. A message's state is
//! entirely in its row, so whatever was committed before a response is what
//! a restarted process (after `kill -9`) sees:
//!
//! - `visible_ms` is when it may next be received. A send sets it to now plus
//!   the delay; a receive moves it to now plus the visibility timeout. There
//!   is no timer to fire when a timeout runs out: a message is receivable
//!   exactly when `visible_ms <= now`, so expiry "happens" by the clock alone,
//!   and survives restarts for free.
//! - `receipt` is the token of its latest receive (NULL: never received, or
//!   moved to a dead-letter queue). A receipt handle carries the row id and
//!   that token; only the latest token deletes, as SQS documents.
//! - in flight means `receipt IS NOT NULL AND visible_ms > now`; delayed
//!   means `receipt IS NULL AND visible_ms > now`.
//!
//! **Invariant:** a message row is deleted only by DeleteMessage(Batch) with
//! its latest receipt handle, by PurgeQueue or DeleteQueue, or by retention
//! (`sent_ms + MessageRetentionPeriod` passed); redrive moves it (changes its
//! `queue`), never copies or drops it. Every change happens in a transaction
//! that commits before the caller answers.
//!
//! FIFO ordering: within a message group, messages are delivered in row-id
//! (send) order, and a group with any message in flight is skipped entirely,
//! so a group is processed strictly one batch at a time, in order.
//!
//! Cost of a receive: it must not grow with the queue's depth. Candidates are
//! read from the index `messages_by_queue (queue, visible_ms, seq)` in that
//! order, a page at a time, so a receive visits the messages it returns plus
//! a bounded page, never every visible message; bodies are read only for the
//! rows chosen (`UPDATE ... RETURNING`). Visible order is "became receivable
//! first": for a never-received message without delay that is send order,
//! and a message back from a visibility timeout queues behind those that
//! became visible before it (standard queues promise no order). A FIFO queue
//! uses the same scan only to pick groups; each chosen group is then read in
//! `seq` order through `messages_by_group`, and whether it has a message in
//! flight is one range probe on `messages_by_group_visibility`. What a FIFO
//! receive may still step over are visible messages of groups that are
//! blocked, which is the group's own backlog, not the queue's. Retention is
//! a range delete on `messages_by_sent`, the deduplication window one on
//! `dedup_by_expiry`.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::attributes::{Attributes, Settings};
use super::digest;
use super::message::{self, MessageAttributes};
use super::wire::SqsError;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_s INTEGER NOT NULL,
    modified_s INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER,
    receipt TEXT,
    group_id TEXT,
    dedup_id TEXT,
    sender TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages(queue, visible_ms, seq);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, key)
);
-- Added after the first release: indexes only, created by this same
-- idempotent script on an existing file, so no data moves (see
-- `an_existing_database_gets_the_new_indexes`).
CREATE INDEX IF NOT EXISTS messages_by_sent ON messages(queue, sent_ms);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages(queue, group_id, seq)
    WHERE group_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_group_visibility ON messages(queue, group_id, visible_ms)
    WHERE group_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS dedup_by_expiry ON dedup(queue, expires_ms);
";

/// FIFO deduplication window: five minutes, as in SQS.
const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// A queue as stored.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    pub attributes: Attributes,
    pub tags: Attributes,
    pub created_s: i64,
    pub modified_s: i64,
}

impl Queue {
    pub fn settings(&self) -> Settings {
        Settings::of(&self.attributes)
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not recoverable in any useful way; a
    // time-derived fallback keeps ids unique enough for one local process.
    if getrandom::fill(&mut buf).is_err() {
        let t = crate::sqlite::now_ms().to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = t[i % t.len()] ^ (i as u8);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID (version 4 layout), SQS's message id format.
pub fn new_message_id() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn receipt_handle(queue: &str, seq: i64, token: &str) -> String {
    B64URL.encode(format!("{seq}:{token}:{queue}"))
}

/// `(seq, token)` of a handle for `queue`, or ReceiptHandleIsInvalid.
pub fn parse_handle(queue: &str, handle: &str) -> Result<(i64, String), SqsError> {
    let invalid = || SqsError::ReceiptHandleIsInvalid {
        handle: handle.to_owned(),
    };
    let bytes = B64URL.decode(handle).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let seq = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    let token = parts.next().ok_or_else(invalid)?.to_owned();
    // A handle from another queue is as invalid as garbage.
    if parts.next() != Some(queue) {
        return Err(invalid());
    }
    Ok((seq, token))
}

pub fn get_queue(conn: &Connection, name: &str) -> Result<Option<Queue>, SqsError> {
    let row = conn
        .query_row(
            "SELECT attributes, tags, created_s, modified_s FROM queues WHERE name = ?1",
            [name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(attributes, tags, created_s, modified_s)| Queue {
        name: name.to_owned(),
        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        created_s,
        modified_s,
    }))
}

pub fn require_queue(conn: &Connection, name: &str) -> Result<Queue, SqsError> {
    get_queue(conn, name)?.ok_or_else(|| SqsError::NonExistentQueue {
        queue: name.to_owned(),
    })
}

pub fn insert_queue(conn: &Connection, queue: &Queue) -> Result<(), SqsError> {
    conn.execute(
        "INSERT INTO queues (name, attributes, tags, created_s, modified_s) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            queue.name,
            serde_json::to_string(&queue.attributes).unwrap_or_default(),
            serde_json::to_string(&queue.tags).unwrap_or_default(),
            queue.created_s,
            queue.modified_s
        ],
    )?;
    Ok(())
}

pub fn update_attributes(
    conn: &Connection,
    name: &str,
    attributes: &Attributes,
    modified_s: i64,
) -> Result<(), SqsError> {
    conn.execute(
        "UPDATE queues SET attributes = ?2, modified_s = ?3 WHERE name = ?1",
        params![
            name,
            serde_json::to_string(attributes).unwrap_or_default(),
            modified_s
        ],
    )?;
    Ok(())
}

/// Delete a queue and every message in it, in one transaction.
pub fn delete_queue(conn: &mut Connection, name: &str) -> Result<(), SqsError> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM messages WHERE queue = ?1", [name])?;
    tx.execute("DELETE FROM dedup WHERE queue = ?1", [name])?;
    tx.execute("DELETE FROM queues WHERE name = ?1", [name])?;
    tx.commit()?;
    Ok(())
}

pub fn queue_names(conn: &Connection) -> Result<Vec<String>, SqsError> {
    let mut stmt = conn.prepare("SELECT name FROM queues ORDER BY name")?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

const EXPIRE: &str = "DELETE FROM messages WHERE queue = ?1 AND sent_ms <= ?2";

/// Drop messages older than the retention period. Called before anything
/// reads a queue's messages, so an expired message is never delivered or
/// counted even though nothing deletes it on a timer. A range on
/// `messages_by_sent`: it costs the rows it deletes, not the queue's depth.
pub fn expire(conn: &Connection, queue: &Queue, now: i64) -> Result<(), SqsError> {
    let cutoff = now - queue.settings().retention_s * 1000;
    conn.prepare_cached(EXPIRE)?
        .execute(params![queue.name, cutoff])?;
    Ok(())
}

/// `(visible, in flight, delayed)` message counts.
pub fn counts(conn: &Connection, queue: &str, now: i64) -> Result<(i64, i64, i64), SqsError> {
    Ok(conn.query_row(
        "SELECT
            COALESCE(SUM(visible_ms <= ?2), 0),
            COALESCE(SUM(visible_ms > ?2 AND receipt IS NOT NULL), 0),
            COALESCE(SUM(visible_ms > ?2 AND receipt IS NULL), 0)
         FROM messages WHERE queue = ?1",
        params![queue, now],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// A message to enqueue, already validated.
#[derive(Debug)]
pub struct NewMessage {
    pub body: String,
    pub attributes: MessageAttributes,
    pub delay_s: i64,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub sender: String,
}

#[derive(Debug)]
pub struct Sent {
    pub message_id: String,
    pub sequence_number: Option<String>,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
}

fn sequence_number(seq: i64) -> String {
    format!("{seq:020}")
}

const DEDUP_EXPIRE: &str = "DELETE FROM dedup WHERE queue = ?1 AND expires_ms <= ?2";

/// Enqueue one message. For a FIFO queue, a deduplication id seen in the
/// last five minutes returns the earlier message's id and enqueues nothing:
/// that is what makes a retried send exactly-once.
pub fn send(conn: &Connection, queue: &Queue, msg: NewMessage, now: i64) -> Result<Sent, SqsError> {
    let md5_body = digest::md5_hex(msg.body.as_bytes());
    let md5_attributes = digest::attributes_md5(&msg.attributes);
    let settings = queue.settings();
    let dedup_key = match (&msg.dedup_id, &msg.group_id) {
        (Some(id), Some(group)) if settings.dedup_by_group => Some(format!("{group}\u{0}{id}")),
        (Some(id), _) => Some(id.clone()),
        (None, _) => None,
    };
    if let Some(key) = &dedup_key {
        conn.prepare_cached(DEDUP_EXPIRE)?
            .execute(params![queue.name, now])?;
        let seen: Option<(String, i64)> = conn
            .query_row(
                "SELECT message_id, seq FROM dedup WHERE queue = ?1 AND key = ?2",
                params![queue.name, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((message_id, seq)) = seen {
            return Ok(Sent {
                message_id,
                sequence_number: Some(sequence_number(seq)),
                md5_body,
                md5_attributes,
            });
        }
    }
    let message_id = new_message_id();
    conn.execute(
        "INSERT INTO messages (queue, id, body, attributes, sent_ms, visible_ms, group_id, dedup_id, sender)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            queue.name,
            message_id,
            msg.body,
            message::attributes_json(&msg.attributes).to_string(),
            now,
            now + msg.delay_s * 1000,
            msg.group_id,
            msg.dedup_id,
            msg.sender,
        ],
    )?;
    let seq = conn.last_insert_rowid();
    if let Some(key) = dedup_key {
        conn.execute(
            "INSERT OR REPLACE INTO dedup (queue, key, message_id, seq, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![queue.name, key, message_id, seq, now + DEDUP_WINDOW_MS],
        )?;
    }
    Ok(Sent {
        message_id,
        sequence_number: settings.fifo.then(|| sequence_number(seq)),
        md5_body,
        md5_attributes,
    })
}

/// One delivered message, as stored after this receive.
#[derive(Debug)]
pub struct Received {
    pub id: String,
    pub receipt_handle: String,
    pub body: String,
    pub attributes: MessageAttributes,
    pub sent_ms: i64,
    pub receive_count: i64,
    pub first_receive_ms: i64,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub sequence_number: String,
    pub sender: String,
}

/// What one receive did.
#[derive(Debug, Default)]
pub struct ReceiveOutcome {
    pub messages: Vec<Received>,
    /// Dead-letter queues that got messages (their long pollers must wake).
    pub redriven_to: Vec<String>,
}

/// Receive up to `max` messages, making each invisible for `visibility_s`.
/// All of it is one `IMMEDIATE` transaction: the choice of messages and the
/// new visibility are committed together, so two receivers can never get the
/// same message, and a crash leaves either both or neither.
pub fn receive(
    conn: &mut Connection,
    queue: &Queue,
    max: usize,
    visibility_s: i64,
    now: i64,
) -> Result<ReceiveOutcome, SqsError> {
    let settings = queue.settings();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    expire(&tx, queue, now)?;
    // The dead-letter queue applies only while it exists; a message whose
    // dead-letter queue is gone keeps being delivered, rather than lost.
    let redrive = match settings.redrive {
        Some(r) if get_queue(&tx, &r.target_queue)?.is_some() => Some(r),
        _ => None,
    };
    let mut pick = Pick {
        tx: &tx,
        queue,
        max,
        hidden_until: now + visibility_s * 1000,
        now,
        redrive: redrive.as_ref(),
        outcome: ReceiveOutcome::default(),
    };
    // Rows this receive has already handled. A message delivered with a
    // visibility timeout of 0 (or moved into this very queue) gets a new key
    // at `now`, which the scan below can meet again; it must not be taken
    // twice. (A FIFO group is read once per receive, in `seq` order, so the
    // group set below does the same for FIFO queues.)
    let mut handled: HashSet<i64> = HashSet::new();
    // FIFO: groups already looked at in this receive (delivered from, or
    // found blocked): later candidates of theirs are skipped.
    let mut groups: HashSet<String> = HashSet::new();
    let mut after = (i64::MIN, i64::MIN);
    'scan: while !pick.full() {
        // A page of candidates in `(visible_ms, seq)` order after the cursor:
        // index entries plus their row's group, no bodies.
        let page = CANDIDATE_PAGE.max(max);
        let candidates: Vec<(i64, i64, i64, Option<String>)> = {
            let mut stmt = tx.prepare_cached(CANDIDATES)?;
            let rows = stmt.query_map(
                params![queue.name, now, after.0, after.1, page as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            rows.collect::<Result<_, _>>()?
        };
        let exhausted = candidates.len() < page;
        for (visible_ms, seq, count, group) in candidates {
            after = (visible_ms, seq);
            if pick.full() {
                break 'scan;
            }
            match group {
                Some(group) if settings.fifo => {
                    if !groups.insert(group.clone()) || group_in_flight(&tx, queue, &group, now)? {
                        continue;
                    }
                    // The group's visible messages from its oldest, in send
                    // order; the candidate is one of them.
                    pick.group(&group)?;
                }
                _ => {
                    if handled.insert(seq) {
                        pick.one(seq, count)?;
                    }
                }
            }
        }
        if exhausted {
            break;
        }
    }
    let outcome = pick.outcome;
    tx.commit()?;
    Ok(outcome)
}

const CANDIDATES: &str = "SELECT visible_ms, seq, receive_count, group_id FROM messages
     WHERE queue = ?1 AND visible_ms <= ?2 AND (visible_ms, seq) > (?3, ?4)
     ORDER BY visible_ms, seq LIMIT ?5";

const GROUP_MEMBERS: &str = "SELECT seq, receive_count FROM messages
     WHERE queue = ?1 AND group_id = ?2 AND seq > ?3 AND visible_ms <= ?4
     ORDER BY seq LIMIT ?5";

const GROUP_IN_FLIGHT: &str = "SELECT EXISTS (SELECT 1 FROM messages
     WHERE queue = ?1 AND group_id = ?2 AND visible_ms > ?3 AND receipt IS NOT NULL)";

/// Candidates read per query: a receive takes at most 10, and a page a bit
/// larger absorbs the rows it skips (redriven, blocked groups) in one go.
const CANDIDATE_PAGE: usize = 32;

/// Whether `group` has a message in flight (received, timeout not run out).
/// A range on `messages_by_group_visibility`: it visits the group's hidden
/// messages only.
fn group_in_flight(
    tx: &Connection,
    queue: &Queue,
    group: &str,
    now: i64,
) -> Result<bool, SqsError> {
    let mut stmt = tx.prepare_cached(GROUP_IN_FLIGHT)?;
    Ok(stmt.query_row(params![queue.name, group, now], |r| r.get(0))?)
}

/// The state of one receive while it chooses messages.
struct Pick<'a> {
    tx: &'a Connection,
    queue: &'a Queue,
    max: usize,
    hidden_until: i64,
    now: i64,
    redrive: Option<&'a super::attributes::Redrive>,
    outcome: ReceiveOutcome,
}

impl Pick<'_> {
    fn full(&self) -> bool {
        self.outcome.messages.len() >= self.max
    }

    /// Deliver the visible messages of a FIFO group that has none in flight,
    /// oldest first, until the receive is full. Delayed ones are stepped over,
    /// as before: a delay does not block its group.
    fn group(&mut self, group: &str) -> Result<(), SqsError> {
        let mut after = i64::MIN;
        while !self.full() {
            let page = CANDIDATE_PAGE.max(self.max);
            let members: Vec<(i64, i64)> = {
                let mut stmt = self.tx.prepare_cached(GROUP_MEMBERS)?;
                let rows = stmt.query_map(
                    params![self.queue.name, group, after, self.now, page as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                rows.collect::<Result<_, _>>()?
            };
            let exhausted = members.len() < page;
            for (seq, count) in members {
                after = seq;
                if self.full() {
                    return Ok(());
                }
                self.one(seq, count)?;
            }
            if exhausted {
                break;
            }
        }
        Ok(())
    }

    /// Deliver one visible message, or move it to the dead-letter queue if it
    /// has been received `maxReceiveCount` times already.
    fn one(&mut self, seq: i64, count: i64) -> Result<(), SqsError> {
        if let Some(r) = self.redrive
            && count >= r.max_receive_count
        {
            // Received maxReceiveCount times already and not deleted: move it,
            // as fresh, to the dead-letter queue instead of delivering it again.
            // In a FIFO queue the group's later messages wait behind it no
            // longer; they stay in order behind each other.
            self.tx.execute(
                "UPDATE messages SET queue = ?2, receipt = NULL, receive_count = 0,
                 first_receive_ms = NULL, visible_ms = ?3 WHERE seq = ?1",
                params![seq, r.target_queue, self.now],
            )?;
            if !self.outcome.redriven_to.contains(&r.target_queue) {
                self.outcome.redriven_to.push(r.target_queue.clone());
            }
            return Ok(());
        }
        let token = random_hex(8);
        // The body and the rest are read here, for the chosen row only.
        let mut stmt = self.tx.prepare_cached(
            "UPDATE messages SET receipt = ?2, visible_ms = ?3, receive_count = receive_count + 1,
             first_receive_ms = COALESCE(first_receive_ms, ?4) WHERE seq = ?1
             RETURNING id, body, attributes, sent_ms, receive_count, first_receive_ms,
                       group_id, dedup_id, sender",
        )?;
        let received = stmt.query_row(params![seq, token, self.hidden_until, self.now], |r| {
            Ok(Received {
                receipt_handle: receipt_handle(&self.queue.name, seq, &token),
                id: r.get(0)?,
                body: r.get(1)?,
                attributes: message::attributes_from_stored(&r.get::<_, String>(2)?),
                sent_ms: r.get(3)?,
                receive_count: r.get(4)?,
                first_receive_ms: r.get(5)?,
                group_id: r.get(6)?,
                dedup_id: r.get(7)?,
                sequence_number: sequence_number(seq),
                sender: r.get(8)?,
            })
        })?;
        self.outcome.messages.push(received);
        Ok(())
    }
}

/// When the next message of `queue` becomes receivable (a delay or a
/// visibility timeout running out), so a long poll sleeps until then instead
/// of polling.
pub fn next_visible_ms(conn: &Connection, queue: &str, now: i64) -> Result<Option<i64>, SqsError> {
    Ok(conn.query_row(
        "SELECT MIN(visible_ms) FROM messages WHERE queue = ?1 AND visible_ms > ?2",
        params![queue, now],
        |r| r.get(0),
    )?)
}

/// Delete by receipt handle. A handle superseded by a later receive succeeds
/// without deleting, and so does one whose message is already gone: SQS
/// documents both, and it is what makes a retried delete safe.
pub fn delete(conn: &Connection, queue: &str, handle: &str) -> Result<(), SqsError> {
    let (seq, token) = parse_handle(queue, handle)?;
    conn.execute(
        "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
        params![seq, queue, token],
    )?;
    Ok(())
}

/// Change the visibility of an in-flight message, counted from now.
pub fn change_visibility(
    conn: &Connection,
    queue: &str,
    handle: &str,
    timeout_s: i64,
    now: i64,
) -> Result<(), SqsError> {
    let (seq, token) = parse_handle(queue, handle)?;
    let row: Option<(Option<String>, i64)> = conn
        .query_row(
            "SELECT receipt, visible_ms FROM messages WHERE seq = ?1 AND queue = ?2",
            params![seq, queue],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        None => Err(SqsError::invalid(format!(
            "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
        ))),
        // Visible again (or received since by someone else): not ours to change.
        Some((receipt, visible_ms)) if receipt.as_deref() != Some(&token) || visible_ms <= now => {
            Err(SqsError::MessageNotInflight)
        }
        Some(_) => {
            conn.execute(
                "UPDATE messages SET visible_ms = ?2 WHERE seq = ?1",
                params![seq, now + timeout_s * 1000],
            )?;
            Ok(())
        }
    }
}

pub fn purge(conn: &Connection, queue: &str) -> Result<(), SqsError> {
    conn.execute("DELETE FROM messages WHERE queue = ?1", [queue])?;
    conn.execute("DELETE FROM dedup WHERE queue = ?1", [queue])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqs::attributes;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("memory db");
        conn.execute_batch(SCHEMA).expect("schema");
        conn
    }

    fn queue(conn: &Connection, name: &str, given: &[(&str, &str)]) -> Queue {
        let fifo = name.ends_with(".fifo");
        let given: Attributes = given
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let q = Queue {
            name: name.to_owned(),
            attributes: attributes::for_new_queue(&given, fifo).expect("valid"),
            tags: Attributes::new(),
            created_s: 0,
            modified_s: 0,
        };
        insert_queue(conn, &q).expect("insert");
        q
    }

    fn msg(body: &str, group: Option<&str>, dedup: Option<&str>) -> NewMessage {
        NewMessage {
            body: body.to_owned(),
            attributes: MessageAttributes::new(),
            delay_s: 0,
            group_id: group.map(str::to_owned),
            dedup_id: dedup.map(str::to_owned),
            sender: "AKID".to_owned(),
        }
    }

    fn bodies(r: &ReceiveOutcome) -> Vec<&str> {
        r.messages.iter().map(|m| m.body.as_str()).collect()
    }

    #[test]
    fn received_message_is_invisible_until_its_timeout_then_returns() {
        let mut c = db();
        let q = queue(&c, "q", &[]);
        send(&c, &q, msg("a", None, None), 1_000).expect("send");
        let first = receive(&mut c, &q, 10, 5, 1_000).expect("receive");
        assert_eq!(bodies(&first), ["a"]);
        assert!(
            receive(&mut c, &q, 10, 5, 5_999)
                .expect("receive")
                .messages
                .is_empty()
        );
        let again = receive(&mut c, &q, 10, 5, 6_000).expect("receive");
        assert_eq!(again.messages[0].receive_count, 2);
        // The first handle is superseded: deleting with it keeps the message.
        delete(&c, "q", &first.messages[0].receipt_handle).expect("delete");
        assert_eq!(counts(&c, "q", 6_000).expect("counts"), (0, 1, 0));
        delete(&c, "q", &again.messages[0].receipt_handle).expect("delete");
        assert_eq!(counts(&c, "q", 6_000).expect("counts"), (0, 0, 0));
    }

    #[test]
    fn redrive_moves_after_max_receive_count() {
        let mut c = db();
        let dlq = queue(&c, "dlq", &[]);
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#;
        let q = queue(&c, "q", &[("RedrivePolicy", policy)]);
        send(&c, &q, msg("a", None, None), 0).expect("send");
        assert_eq!(bodies(&receive(&mut c, &q, 1, 0, 0).expect("r1")), ["a"]);
        assert_eq!(bodies(&receive(&mut c, &q, 1, 0, 1).expect("r2")), ["a"]);
        let third = receive(&mut c, &q, 1, 0, 2).expect("r3");
        assert!(third.messages.is_empty());
        assert_eq!(third.redriven_to, ["dlq"]);
        let moved = receive(&mut c, &dlq, 1, 30, 3).expect("dlq");
        assert_eq!(bodies(&moved), ["a"]);
        assert_eq!(moved.messages[0].receive_count, 1);
    }

    #[test]
    fn fifo_blocks_a_group_while_a_message_is_in_flight() {
        let mut c = db();
        let q = queue(&c, "f.fifo", &[("ContentBasedDeduplication", "true")]);
        for (body, group) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
            send(&c, &q, msg(body, Some(group), None), 0).expect("send");
        }
        let first = receive(&mut c, &q, 1, 30, 0).expect("r1");
        assert_eq!(bodies(&first), ["a1"]);
        // a2 waits behind a1; b is free.
        assert_eq!(bodies(&receive(&mut c, &q, 10, 30, 0).expect("r2")), ["b1"]);
        delete(&c, "f.fifo", &first.messages[0].receipt_handle).expect("delete");
        assert_eq!(bodies(&receive(&mut c, &q, 10, 30, 0).expect("r3")), ["a2"]);
    }

    #[test]
    fn fifo_deduplicates_within_five_minutes() {
        let c = db();
        let q = queue(&c, "f.fifo", &[]);
        let a = send(&c, &q, msg("x", Some("g"), Some("d")), 0).expect("send");
        let b = send(&c, &q, msg("y", Some("g"), Some("d")), DEDUP_WINDOW_MS - 1).expect("send");
        assert_eq!(a.message_id, b.message_id);
        assert_eq!(counts(&c, "f.fifo", 0).expect("counts").0, 1);
        let later = send(&c, &q, msg("z", Some("g"), Some("d")), DEDUP_WINDOW_MS).expect("send");
        assert_ne!(later.message_id, a.message_id);
    }

    #[test]
    fn retention_drops_old_messages_on_read() {
        let mut c = db();
        let q = queue(&c, "q", &[("MessageRetentionPeriod", "60")]);
        send(&c, &q, msg("old", None, None), 0).expect("send");
        send(&c, &q, msg("new", None, None), 30_000).expect("send");
        assert_eq!(
            bodies(&receive(&mut c, &q, 10, 30, 60_000).expect("r")),
            ["new"]
        );
    }

    #[test]
    fn handles_of_another_queue_or_garbage_are_invalid() {
        let mut c = db();
        let q = queue(&c, "q", &[]);
        queue(&c, "other", &[]);
        send(&c, &q, msg("a", None, None), 0).expect("send");
        let r = receive(&mut c, &q, 1, 30, 0).expect("r");
        let handle = &r.messages[0].receipt_handle;
        assert!(matches!(
            delete(&c, "other", handle),
            Err(SqsError::ReceiptHandleIsInvalid { .. })
        ));
        assert!(matches!(
            delete(&c, "q", "!!"),
            Err(SqsError::ReceiptHandleIsInvalid { .. })
        ));
        assert!(matches!(
            change_visibility(&c, "q", handle, 0, 31_000),
            Err(SqsError::MessageNotInflight)
        ));
    }

    /// Receive everything with `max` per call, deleting each batch after it
    /// arrived when `delete` is set; returns the bodies in delivery order.
    fn drain(c: &mut Connection, q: &Queue, max: usize, delete_each: bool) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let r = receive(c, q, max, 3_600, 1_000).expect("receive");
            if r.messages.is_empty() {
                return got;
            }
            for m in &r.messages {
                got.push(m.body.clone());
                if delete_each {
                    delete(c, &q.name, &m.receipt_handle).expect("delete");
                }
            }
        }
    }

    #[test]
    fn a_deep_standard_queue_delivers_every_message_once_in_send_order() {
        let mut c = db();
        let q = queue(&c, "deep", &[]);
        for i in 0..10_000 {
            send(&c, &q, msg(&format!("{i}"), None, None), 1_000).expect("send");
        }
        let got = drain(&mut c, &q, 10, false);
        let expected: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
        assert_eq!(got, expected);
        assert_eq!(counts(&c, "deep", 1_000).expect("counts"), (0, 10_000, 0));
    }

    #[test]
    fn a_deep_fifo_queue_delivers_every_message_once_in_group_order() {
        let mut c = db();
        let q = queue(&c, "deep.fifo", &[("ContentBasedDeduplication", "true")]);
        let groups = ["a", "b", "c", "d", "e", "f", "g"];
        for i in 0..10_000 {
            let group = groups[i % groups.len()];
            send(
                &c,
                &q,
                msg(&format!("{group}:{i}"), Some(group), None),
                1_000,
            )
            .expect("send");
        }
        // Nothing deleted: each group gives one batch, then is blocked.
        let blocked = drain(&mut c, &q, 10, false);
        assert_eq!(blocked.len(), 10 * groups.len());
        purge(&c, "deep.fifo").expect("purge");
        for i in 0..10_000 {
            let group = groups[i % groups.len()];
            send(
                &c,
                &q,
                msg(&format!("{group}:{i}"), Some(group), None),
                1_000,
            )
            .expect("send");
        }
        let got = drain(&mut c, &q, 10, true);
        assert_eq!(got.len(), 10_000);
        let mut seen = HashSet::new();
        let mut last: std::collections::HashMap<&str, usize> = Default::default();
        for body in &got {
            assert!(seen.insert(body.clone()), "{body} delivered twice");
            let (group, n) = body.split_once(':').expect("group:n");
            let n: usize = n.parse().expect("number");
            if let Some(before) = last.insert(group, n) {
                assert!(before < n, "group {group}: {n} after {before}");
            }
        }
    }

    #[test]
    fn one_large_blocked_fifo_group_does_not_hide_the_others() {
        let mut c = db();
        let q = queue(&c, "one.fifo", &[("ContentBasedDeduplication", "true")]);
        for i in 0..5_000 {
            send(&c, &q, msg(&format!("big{i}"), Some("big"), None), 1_000).expect("send");
        }
        send(&c, &q, msg("small", Some("small"), None), 1_000).expect("send");
        let first = receive(&mut c, &q, 10, 3_600, 1_000).expect("r1");
        assert_eq!(first.messages.len(), 10);
        assert_eq!(first.messages[0].body, "big0");
        assert_eq!(
            bodies(&receive(&mut c, &q, 10, 3_600, 1_000).expect("r2")),
            ["small"]
        );
    }

    #[test]
    fn a_zero_visibility_timeout_never_returns_a_message_twice_in_one_receive() {
        let mut c = db();
        let q = queue(&c, "q", &[]);
        let f = queue(&c, "f.fifo", &[("ContentBasedDeduplication", "true")]);
        for body in ["a", "b", "c"] {
            send(&c, &q, msg(body, None, None), 0).expect("send");
            send(&c, &f, msg(body, Some("g"), None), 0).expect("send");
        }
        assert_eq!(
            bodies(&receive(&mut c, &q, 10, 0, 0).expect("r")),
            ["a", "b", "c"]
        );
        assert_eq!(
            bodies(&receive(&mut c, &f, 10, 0, 0).expect("r")),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn a_message_back_from_its_timeout_keeps_its_fifo_place() {
        let mut c = db();
        let q = queue(&c, "f.fifo", &[("ContentBasedDeduplication", "true")]);
        send(&c, &q, msg("1", Some("g"), None), 0).expect("send");
        send(&c, &q, msg("2", Some("g"), None), 0).expect("send");
        assert_eq!(bodies(&receive(&mut c, &q, 1, 1, 0).expect("r1")), ["1"]);
        // "2" has been visible longer than "1", yet "1" comes first.
        assert_eq!(
            bodies(&receive(&mut c, &q, 10, 30, 1_000).expect("r2")),
            ["1", "2"]
        );
    }

    #[test]
    fn receive_queries_use_indexes_not_scans_or_sorts() {
        let c = db();
        let cases: [(&str, &[&dyn rusqlite::ToSql]); 5] = [
            (CANDIDATES, params!["q", 0, 0, 0, 10]),
            (GROUP_MEMBERS, params!["q", "g", 0, 0, 10]),
            (GROUP_IN_FLIGHT, params!["q", "g", 0]),
            (EXPIRE, params!["q", 0]),
            (DEDUP_EXPIRE, params!["q", 0]),
        ];
        for (sql, args) in cases {
            let mut stmt = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan");
            let plan: Vec<String> = stmt
                .query_map(args, |r| r.get(3))
                .expect("query plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            let plan = plan.join("; ");
            assert!(plan.contains("USING"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
            assert!(
                !plan.contains("SCAN messages") && !plan.contains("SCAN dedup"),
                "{sql}: {plan}"
            );
        }
    }

    /// The schema as the first release wrote it, before the indexes that
    /// keep a receive independent of depth.
    const FIRST_SCHEMA: &str = "
        CREATE TABLE queues (name TEXT PRIMARY KEY, attributes TEXT NOT NULL, tags TEXT NOT NULL,
            created_s INTEGER NOT NULL, modified_s INTEGER NOT NULL);
        CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
            id TEXT NOT NULL, body TEXT NOT NULL, attributes TEXT NOT NULL, sent_ms INTEGER NOT NULL,
            visible_ms INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0,
            first_receive_ms INTEGER, receipt TEXT, group_id TEXT, dedup_id TEXT,
            sender TEXT NOT NULL);
        CREATE INDEX messages_by_queue ON messages(queue, visible_ms, seq);
        CREATE TABLE dedup (queue TEXT NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL,
            seq INTEGER NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (queue, key));
    ";

    #[test]
    fn an_existing_database_gets_the_new_indexes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("sqs.sqlite");
        {
            let old = Connection::open(&path).expect("open old");
            old.execute_batch(FIRST_SCHEMA).expect("old schema");
            let q = queue(&old, "f.fifo", &[("ContentBasedDeduplication", "true")]);
            send(&old, &q, msg("kept", Some("g"), None), 0).expect("send");
        }
        let db =
            crate::sqlite::Db::open_path(&path, crate::durability::Durability::Process, SCHEMA)
                .expect("open with the current schema");
        db.run_blocking(|c, _| {
            let indexes: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            assert_eq!(
                indexes,
                [
                    "dedup_by_expiry",
                    "messages_by_group",
                    "messages_by_group_visibility",
                    "messages_by_queue",
                    "messages_by_sent"
                ]
            );
            let q = require_queue(c, "f.fifo").expect("queue");
            assert_eq!(bodies(&receive(c, &q, 10, 30, 1).expect("receive")), ["kept"]);
            Ok::<_, rusqlite::Error>(())
        })
        .expect("old data readable");
    }
}
