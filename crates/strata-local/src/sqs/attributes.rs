//! Queue attributes: which names exist, their ranges and defaults, and the
//! typed settings the queue logic reads from them.
//!
//! A queue stores only settable attributes, with every default filled in at
//! creation, as strings (the way SQS returns them). Computed attributes
//! (`QueueArn`, the `Approximate*` counts, timestamps) are derived on read.

use std::collections::BTreeMap;

use serde_json::Value;

use super::wire::SqsError;

pub type Attributes = BTreeMap<String, String>;

/// Settable attributes with their defaults (`None`: no default, absent until set).
const SETTABLE: &[(&str, Option<&str>)] = &[
    ("DelaySeconds", Some("0")),
    ("MaximumMessageSize", Some("262144")),
    ("MessageRetentionPeriod", Some("345600")),
    ("ReceiveMessageWaitTimeSeconds", Some("0")),
    ("VisibilityTimeout", Some("30")),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
    ("Policy", None),
    ("KmsMasterKeyId", None),
    ("KmsDataKeyReusePeriodSeconds", None),
    ("SqsManagedSseEnabled", Some("true")),
    ("FifoQueue", None),
    ("ContentBasedDeduplication", None),
    ("DeduplicationScope", None),
    ("FifoThroughputLimit", None),
];

/// Attributes only FIFO queues have.
const FIFO_ONLY: &[&str] = &[
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Computed attributes a client may ask for.
pub const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

pub fn is_known(name: &str) -> bool {
    SETTABLE.iter().any(|(n, _)| *n == name) || COMPUTED.contains(&name)
}

/// Integer attributes and their inclusive ranges.
fn range(name: &str) -> Option<(i64, i64)> {
    Some(match name {
        "DelaySeconds" => (0, 900),
        "MaximumMessageSize" => (1024, 1_048_576),
        "MessageRetentionPeriod" => (60, 1_209_600),
        "ReceiveMessageWaitTimeSeconds" => (0, 20),
        "VisibilityTimeout" => (0, 43_200),
        "KmsDataKeyReusePeriodSeconds" => (60, 86_400),
        _ => return None,
    })
}

fn bad_value(name: &str, message: impl Into<String>) -> SqsError {
    SqsError::InvalidAttributeValue {
        name: name.to_owned(),
        message: message.into(),
    }
}

/// Check `given` (from CreateQueue or SetQueueAttributes) and merge it into
/// `base`. `fifo` is whether the queue is (or will be) FIFO; FIFO-only
/// attributes on a standard queue are unknown names, as in SQS.
pub fn merge(base: &mut Attributes, given: &Attributes, fifo: bool) -> Result<(), SqsError> {
    for (name, value) in given {
        if !SETTABLE.iter().any(|(n, _)| n == name) || (!fifo && FIFO_ONLY.contains(&name.as_str()))
        {
            return Err(SqsError::InvalidAttributeName { name: name.clone() });
        }
        if let Some((low, high)) = range(name) {
            match value.trim().parse::<i64>() {
                Ok(n) if (low..=high).contains(&n) => {}
                _ => {
                    return Err(bad_value(
                        name,
                        format!("must be an integer between {low} and {high}."),
                    ));
                }
            }
        }
        match name.as_str() {
            "FifoQueue" | "ContentBasedDeduplication" | "SqsManagedSseEnabled"
                if value != "true" && value != "false" =>
            {
                return Err(bad_value(name, "must be true or false."));
            }
            "DeduplicationScope" if value != "messageGroup" && value != "queue" => {
                return Err(bad_value(name, "must be messageGroup or queue."));
            }
            "FifoThroughputLimit" if value != "perQueue" && value != "perMessageGroupId" => {
                return Err(bad_value(name, "must be perQueue or perMessageGroupId."));
            }
            "RedrivePolicy" if !value.is_empty() => {
                parse_redrive(value)?;
            }
            _ => {}
        }
        if name == "RedrivePolicy" && value.is_empty() {
            // An empty policy removes redrive, as in SQS.
            base.remove(name);
        } else {
            base.insert(name.clone(), value.trim().to_owned());
        }
    }
    Ok(())
}

/// The attributes of a new queue: defaults, then what was given.
pub fn for_new_queue(given: &Attributes, fifo: bool) -> Result<Attributes, SqsError> {
    let mut attrs: Attributes = SETTABLE
        .iter()
        .filter_map(|(n, d)| d.map(|d| ((*n).to_owned(), d.to_owned())))
        .collect();
    if fifo {
        attrs.insert("FifoQueue".to_owned(), "true".to_owned());
        attrs.insert("ContentBasedDeduplication".to_owned(), "false".to_owned());
        attrs.insert("DeduplicationScope".to_owned(), "queue".to_owned());
        attrs.insert("FifoThroughputLimit".to_owned(), "perQueue".to_owned());
    }
    merge(&mut attrs, given, fifo)?;
    Ok(attrs)
}

/// `deadLetterTargetArn` and `maxReceiveCount` of a redrive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub target_queue: String,
    pub max_receive_count: i64,
}

pub fn parse_redrive(text: &str) -> Result<Redrive, SqsError> {
    let name = "RedrivePolicy";
    let value: Value = serde_json::from_str(text)
        .map_err(|_| bad_value(name, "Redrive policy is not a valid JSON map."))?;
    let arn = value
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad_value(
                name,
                "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
            )
        })?;
    // maxReceiveCount arrives as a number or, from many tools, a string.
    let count = match value.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        bad_value(
            name,
            "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
        )
    })?;
    if !(1..=1000).contains(&count) {
        return Err(bad_value(
            name,
            "Value for parameter maxReceiveCount is invalid. Reason: Must be an integer from 1 to 1000.",
        ));
    }
    // arn:aws:sqs:<region>:<account>:<name>
    let target_queue = arn
        .rsplit(':')
        .next()
        .filter(|_| arn.starts_with("arn:") && arn.split(':').count() == 6)
        .ok_or_else(|| bad_value(name, "Dead-letter target ARN is not a valid queue ARN."))?;
    Ok(Redrive {
        target_queue: target_queue.to_owned(),
        max_receive_count: count,
    })
}

/// Typed view of the settings the queue logic uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub fifo: bool,
    pub delay_s: i64,
    pub max_size: usize,
    pub retention_s: i64,
    pub wait_s: i64,
    pub visibility_s: i64,
    pub content_dedup: bool,
    pub dedup_by_group: bool,
    pub redrive: Option<Redrive>,
}

impl Settings {
    pub fn of(attrs: &Attributes) -> Self {
        let int = |n: &str, d: i64| attrs.get(n).and_then(|v| v.parse().ok()).unwrap_or(d);
        Self {
            fifo: attrs.get("FifoQueue").is_some_and(|v| v == "true"),
            delay_s: int("DelaySeconds", 0),
            max_size: usize::try_from(int("MaximumMessageSize", 262_144)).unwrap_or(262_144),
            retention_s: int("MessageRetentionPeriod", 345_600),
            wait_s: int("ReceiveMessageWaitTimeSeconds", 0),
            visibility_s: int("VisibilityTimeout", 30),
            content_dedup: attrs
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v == "true"),
            dedup_by_group: attrs
                .get("DeduplicationScope")
                .is_some_and(|v| v == "messageGroup"),
            redrive: attrs
                .get("RedrivePolicy")
                .and_then(|p| parse_redrive(p).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_filled_in() {
        let a = for_new_queue(&Attributes::new(), false).expect("valid");
        let s = Settings::of(&a);
        assert_eq!((s.visibility_s, s.retention_s, s.delay_s), (30, 345_600, 0));
        assert!(!s.fifo);
        assert!(!a.contains_key("FifoQueue"));
    }

    #[test]
    fn ranges_and_names_are_checked() {
        let err = for_new_queue(&attrs(&[("VisibilityTimeout", "43201")]), false);
        assert!(matches!(err, Err(SqsError::InvalidAttributeValue { .. })));
        let err = for_new_queue(&attrs(&[("Bogus", "1")]), false);
        assert!(matches!(err, Err(SqsError::InvalidAttributeName { .. })));
        let err = for_new_queue(&attrs(&[("ContentBasedDeduplication", "true")]), false);
        assert!(matches!(err, Err(SqsError::InvalidAttributeName { .. })));
        assert!(for_new_queue(&attrs(&[("ContentBasedDeduplication", "true")]), true).is_ok());
    }

    #[test]
    fn redrive_policy_takes_numbers_or_strings() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:dlq";
        for count in ["3", "\"3\""] {
            let text = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":{count}}}"#);
            let r = parse_redrive(&text).expect("valid");
            assert_eq!((r.target_queue.as_str(), r.max_receive_count), ("dlq", 3));
        }
        assert!(parse_redrive(r#"{"deadLetterTargetArn":"dlq","maxReceiveCount":3}"#).is_err());
        let zero = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":0}}"#);
        assert!(parse_redrive(&zero).is_err());
    }
}
