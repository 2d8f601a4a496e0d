//! The MD5 digests SQS returns with every message, computed exactly as SQS
//! does, because SDKs (the Java and .NET ones, older boto) recompute them and
//! reject a message whose digest differs.
//!
//! The body digest is the MD5 of the UTF-8 body. The attribute digest is the
//! MD5 of every attribute sorted by name, each encoded as: name, data type
//! (both as a 4-byte big-endian length then the UTF-8 bytes), one transport
//! byte (1 for String and Number types, 2 for Binary), then the value as a
//! length-prefixed byte string.

use md5::{Digest, Md5};

use super::message::{AttributeValue, MessageAttributes};

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

fn push_bytes(hasher: &mut Md5, bytes: &[u8]) {
    // Attribute names, types and values are bounded by the message size
    // limit, far below 4 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

/// The `MD5OfMessageAttributes` of a set of attributes; `None` when empty,
/// because SQS then leaves the field out.
pub fn attributes_md5(attributes: &MessageAttributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut hasher = Md5::new();
    // A BTreeMap iterates in byte order of the names, which is SQS's order.
    for (name, value) in attributes {
        push_bytes(&mut hasher, name.as_bytes());
        push_bytes(&mut hasher, value.data_type.as_bytes());
        match &value.value {
            AttributeValue::String(text) => {
                hasher.update([1u8]);
                push_bytes(&mut hasher, text.as_bytes());
            }
            AttributeValue::Binary(bytes) => {
                hasher.update([2u8]);
                push_bytes(&mut hasher, bytes);
            }
        }
    }
    Some(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::super::message::MessageAttribute;
    use super::*;

    #[test]
    fn body_digest_is_plain_md5() {
        // RFC 1321's test vector.
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn attribute_digest_follows_the_documented_encoding() {
        let mut attrs = MessageAttributes::new();
        attrs.insert(
            "b".to_owned(),
            MessageAttribute {
                data_type: "Binary".to_owned(),
                value: AttributeValue::Binary(vec![0, 1]),
            },
        );
        attrs.insert(
            "a".to_owned(),
            MessageAttribute {
                data_type: "String".to_owned(),
                value: AttributeValue::String("x".to_owned()),
            },
        );
        let mut expected = Vec::new();
        for (name, ty, transport, value) in [
            ("a", "String", 1u8, b"x".as_slice()),
            ("b", "Binary", 2u8, [0u8, 1].as_slice()),
        ] {
            for part in [name.as_bytes(), ty.as_bytes()] {
                expected.extend_from_slice(&(part.len() as u32).to_be_bytes());
                expected.extend_from_slice(part);
            }
            expected.push(transport);
            expected.extend_from_slice(&(value.len() as u32).to_be_bytes());
            expected.extend_from_slice(value);
        }
        assert_eq!(attributes_md5(&attrs), Some(md5_hex(&expected)));
        assert_eq!(attributes_md5(&MessageAttributes::new()), None);
    }
}
