//! A message's user-supplied parts as SQS validates them: body characters,
//! message attributes (names, data types, values) and the size that counts
//! against `MaximumMessageSize`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::wire::SqsError;

/// Attributes by name; a sorted map because the MD5 is over sorted names.
pub type MessageAttributes = BTreeMap<String, MessageAttribute>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    /// `String`, `Number` or `Binary`, optionally with a `.label` suffix.
    pub data_type: String,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    String(String),
    Binary(Vec<u8>),
}

const MAX_ATTRIBUTES: usize = 10;

/// Whether SQS accepts every character: XML 1.0's set, which excludes most
/// control characters and the surrogate range (Rust strings hold no
/// surrogates, so only the controls and U+FFFE/U+FFFF remain to check).
pub fn valid_body(body: &str) -> bool {
    body.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    })
}

fn valid_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// Decode and validate the `MessageAttributes` member of a send request.
pub fn parse_attributes(value: Option<&Value>) -> Result<MessageAttributes, SqsError> {
    let mut out = MessageAttributes::new();
    let Some(value) = value else {
        return Ok(out);
    };
    let Some(map) = value.as_object() else {
        return Err(SqsError::Serialization);
    };
    if map.len() > MAX_ATTRIBUTES {
        return Err(SqsError::invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            map.len()
        )));
    }
    for (name, attribute) in map {
        if !valid_attribute_name(name) {
            return Err(SqsError::invalid(format!(
                "Message (user) attribute name '{name}' is invalid."
            )));
        }
        let data_type = attribute
            .get("DataType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let base = data_type.split_once('.').map_or(data_type, |(b, _)| b);
        let value = match base {
            "String" | "Number" => {
                let text = attribute
                    .get("StringValue")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| empty_value(name, data_type))?;
                if base == "Number" && text.trim().parse::<f64>().is_err() {
                    return Err(SqsError::invalid(format!(
                        "Could not cast message attribute '{name}' value to number."
                    )));
                }
                AttributeValue::String(text.to_owned())
            }
            "Binary" => {
                let bytes = attribute
                    .get("BinaryValue")
                    .and_then(Value::as_str)
                    .and_then(|b| BASE64.decode(b).ok())
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| empty_value(name, data_type))?;
                AttributeValue::Binary(bytes)
            }
            _ => {
                return Err(SqsError::invalid(format!(
                    "The type of message (user) attribute '{name}' is invalid. You must use \
                     only the following supported type prefixes: Binary, Number, String."
                )));
            }
        };
        out.insert(
            name.clone(),
            MessageAttribute {
                data_type: data_type.to_owned(),
                value,
            },
        );
    }
    Ok(out)
}

fn empty_value(name: &str, data_type: &str) -> SqsError {
    SqsError::invalid(format!(
        "Message (user) attribute '{name}' must contain a non-empty value of message \
         attribute type '{data_type}'."
    ))
}

/// What counts against `MaximumMessageSize`: the body plus every attribute's
/// name, type and value.
pub fn size(body: &str, attributes: &MessageAttributes) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(name, a)| {
                name.len()
                    + a.data_type.len()
                    + match &a.value {
                        AttributeValue::String(s) => s.len(),
                        AttributeValue::Binary(b) => b.len(),
                    }
            })
            .sum::<usize>()
}

/// The wire (and stored) JSON form of attributes.
pub fn attributes_json(attributes: &MessageAttributes) -> Value {
    let mut map = Map::new();
    for (name, a) in attributes {
        let entry = match &a.value {
            AttributeValue::String(s) => json!({"DataType": a.data_type, "StringValue": s}),
            AttributeValue::Binary(b) => {
                json!({"DataType": a.data_type, "BinaryValue": BASE64.encode(b)})
            }
        };
        map.insert(name.clone(), entry);
    }
    Value::Object(map)
}

/// Read back the stored form; it was written by [`attributes_json`].
pub fn attributes_from_stored(text: &str) -> MessageAttributes {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    parse_attributes(Some(&value)).unwrap_or_default()
}

/// Whether a `MessageAttributeNames` selector asks for `name`: `All` or
/// `.*` take everything, `prefix.*` a prefix, anything else the exact name.
pub fn selected(selectors: &[String], name: &str) -> bool {
    selectors.iter().any(|s| {
        s == "All"
            || s == ".*"
            || s == name
            || s.strip_suffix(".*")
                .is_some_and(|prefix| name.starts_with(&format!("{prefix}.")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_characters_follow_xml() {
        assert!(valid_body("hello\tworld\n\u{1F600}"));
        assert!(!valid_body("bell\u{7}"));
        assert!(!valid_body("\u{FFFF}"));
    }

    #[test]
    fn attribute_names_follow_aws_rules() {
        for good in ["a", "a.b", "A-b_c"] {
            assert!(valid_attribute_name(good), "{good}");
        }
        for bad in ["", ".a", "a.", "a..b", "AWS.x", "amazon.y", "sp ace"] {
            assert!(!valid_attribute_name(bad), "{bad}");
        }
    }

    #[test]
    fn attributes_round_trip_through_the_stored_form() {
        let wire = json!({
            "n": {"DataType": "Number.int", "StringValue": "42"},
            "b": {"DataType": "Binary", "BinaryValue": "AAE="}
        });
        let parsed = parse_attributes(Some(&wire)).expect("valid");
        assert_eq!(
            attributes_from_stored(&attributes_json(&parsed).to_string()),
            parsed
        );
        let bad = json!({"n": {"DataType": "Number", "StringValue": "x"}});
        assert!(parse_attributes(Some(&bad)).is_err());
        let untyped = json!({"n": {"DataType": "Blob", "StringValue": "x"}});
        assert!(parse_attributes(Some(&untyped)).is_err());
    }

    #[test]
    fn selectors_match_all_prefixes_and_names() {
        let sel = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(selected(&sel(&["All"]), "x"));
        assert!(selected(&sel(&["foo.*"]), "foo.bar"));
        assert!(!selected(&sel(&["foo.*"]), "foobar"));
        assert!(selected(&sel(&["x"]), "x"));
        assert!(!selected(&sel(&[]), "x"));
    }
}
