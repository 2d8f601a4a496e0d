//! The queue lifecycle the local provider drives: bring a queue to the
//! settings of a manifest queue (creating or adopting it), describe it, count
//! its messages and delete it, on the same store and with the same attribute
//! rules as CreateQueue and SetQueueAttributes over the wire.
//!
//! Only the attributes the manifest owns are written (visibility timeout,
//! retention, delay, redrive policy); anything a client set otherwise (a
//! policy, a maximum message size) is left as it is, so a deploy never undoes
//! a change it has no opinion on.

use super::attributes::{self, Attributes};
use super::store::{self, Queue};
use super::{SqsError, arn, check_redrive_target};
use crate::sqlite::now_ms;

use super::Sqs;

/// What the manifest says about a queue, with the dead-letter queue already
/// resolved to its physical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub fifo: bool,
    pub visibility_timeout: u32,
    pub retention: u32,
    pub delay: u32,
    /// Physical name of the dead-letter queue and the receive count that
    /// moves a message there.
    pub dead_letter: Option<(String, u32)>,
}

/// A queue as it exists in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub name: String,
    pub arn: String,
    pub settings: QueueSettings,
    /// Every message it holds: visible, in flight and delayed.
    pub messages: u64,
}

impl Sqs {
    /// Create `name` with `settings`, or adopt the existing queue and set
    /// them. Idempotent: a second call with the same settings changes nothing.
    pub fn ensure_queue(
        &self,
        name: &str,
        settings: &QueueSettings,
    ) -> Result<QueueInfo, SqsError> {
        let mut given = Attributes::new();
        given.insert(
            "VisibilityTimeout".into(),
            settings.visibility_timeout.to_string(),
        );
        given.insert(
            "MessageRetentionPeriod".into(),
            settings.retention.to_string(),
        );
        given.insert("DelaySeconds".into(), settings.delay.to_string());
        given.insert(
            "RedrivePolicy".into(),
            settings
                .dead_letter
                .as_ref()
                .map_or_else(String::new, |(dlq, max)| {
                    serde_json::json!({"deadLetterTargetArn": arn(dlq), "maxReceiveCount": max})
                        .to_string()
                }),
        );
        let fifo = settings.fifo;
        if name.ends_with(".fifo") != fifo {
            return Err(SqsError::invalid(format!(
                "queue name {name} does not match its type (a FIFO queue's name ends in .fifo)"
            )));
        }
        self.db.run_blocking(|conn, _| {
            let tx = conn.transaction()?;
            let now_s = now_ms() / 1000;
            match store::get_queue(&tx, name)? {
                Some(existing) => {
                    if existing.settings().fifo != fifo {
                        return Err(SqsError::invalid(format!(
                            "queue {name} exists as another type (FIFO or standard)"
                        )));
                    }
                    let mut attrs = existing.attributes.clone();
                    attributes::merge(&mut attrs, &given, fifo)?;
                    check_redrive_target(&tx, &attrs, fifo)?;
                    if attrs != existing.attributes {
                        store::update_attributes(&tx, name, &attrs, now_s)?;
                    }
                }
                None => {
                    let mut new = given.clone();
                    if fifo {
                        new.insert("FifoQueue".into(), "true".into());
                    }
                    let attrs = attributes::for_new_queue(&new, fifo)?;
                    check_redrive_target(&tx, &attrs, fifo)?;
                    store::insert_queue(
                        &tx,
                        &Queue {
                            name: name.to_owned(),
                            attributes: attrs,
                            tags: Attributes::new(),
                            created_s: now_s,
                            modified_s: now_s,
                        },
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })?;
        self.describe_queue(name)?
            .ok_or_else(|| SqsError::NonExistentQueue {
                queue: name.to_owned(),
            })
    }

    /// The queue as it is now, or `None` when there is no such queue.
    pub fn describe_queue(&self, name: &str) -> Result<Option<QueueInfo>, SqsError> {
        self.db.run_blocking(|conn, _| {
            let Some(queue) = store::get_queue(conn, name)? else {
                return Ok(None);
            };
            let now = now_ms();
            store::expire(conn, &queue, now)?;
            let (visible, in_flight, delayed) = store::counts(conn, name, now)?;
            let s = queue.settings();
            let seconds = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
            Ok(Some(QueueInfo {
                name: name.to_owned(),
                arn: arn(name),
                settings: QueueSettings {
                    fifo: s.fifo,
                    visibility_timeout: seconds(s.visibility_s),
                    retention: seconds(s.retention_s),
                    delay: seconds(s.delay_s),
                    dead_letter: s.redrive.map(|r| {
                        (
                            r.target_queue,
                            u32::try_from(r.max_receive_count).unwrap_or(u32::MAX),
                        )
                    }),
                },
                messages: u64::try_from(visible + in_flight + delayed).unwrap_or(0),
            }))
        })
    }

    /// Delete `name` and its messages; succeeds when it is already gone.
    /// Long polls on it wake up and answer QueueDoesNotExist.
    pub fn remove_queue(&self, name: &str) -> Result<(), SqsError> {
        self.db
            .run_blocking(|conn, _| store::delete_queue(conn, name))?;
        self.wake_all(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::Durability;
    use crate::store::DataDir;

    fn settings(dead_letter: Option<(&str, u32)>) -> QueueSettings {
        QueueSettings {
            fifo: false,
            visibility_timeout: 30,
            retention: 345_600,
            delay: 0,
            dead_letter: dead_letter.map(|(q, n)| (q.to_owned(), n)),
        }
    }

    #[test]
    fn ensure_creates_adopts_and_changes_only_managed_attributes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let sqs = Sqs::open(&data, Durability::Process).expect("open");
        sqs.ensure_queue("dlq", &settings(None)).expect("dlq");
        let made = sqs
            .ensure_queue("main", &settings(Some(("dlq", 5))))
            .expect("create");
        assert_eq!(made.settings.dead_letter, Some(("dlq".into(), 5)));
        assert_eq!(made.messages, 0);
        // Adopting with a new timeout and no redrive changes exactly those.
        let mut changed = settings(None);
        changed.visibility_timeout = 60;
        let again = sqs.ensure_queue("main", &changed).expect("adopt");
        assert_eq!(again.settings, changed);
        sqs.remove_queue("main").expect("delete");
        sqs.remove_queue("main").expect("delete again");
        assert_eq!(sqs.describe_queue("main").expect("describe"), None);
    }

    #[test]
    fn a_missing_dead_letter_queue_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let sqs = Sqs::open(&data, Durability::Process).expect("open");
        let err = sqs
            .ensure_queue("main", &settings(Some(("nowhere", 3))))
            .expect_err("no dlq");
        assert!(err.to_string().contains("Dead letter target"), "{err}");
        assert_eq!(sqs.describe_queue("main").expect("describe"), None);
    }

    #[test]
    fn fifo_names_must_end_in_fifo() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let sqs = Sqs::open(&data, Durability::Process).expect("open");
        let mut fifo = settings(None);
        fifo.fifo = true;
        assert!(sqs.ensure_queue("jobs", &fifo).is_err());
        let made = sqs.ensure_queue("jobs.fifo", &fifo).expect("fifo");
        assert!(made.settings.fifo);
    }
}
