//! Parameter names as SSM accepts them, and the selectors and ARNs that can
//! stand in for a name in GetParameter(s).

use super::SsmError;

/// Longest name SSM stores (the full ARN may be 2048).
const MAX_NAME: usize = 1011;
/// Deepest hierarchy: `/a/b/.../o` has at most 15 levels.
pub const MAX_LEVELS: usize = 15;

const CHARSET_MESSAGE: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" \
    (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash \
    symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 \
    symbols .-_";

/// Check a name for PutParameter (and any name that must already be valid).
pub fn validate(name: &str) -> Result<(), SsmError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(SsmError::validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_NAME} and greater than or equal to 1"
        )));
    }
    let lower = name.trim_start_matches('/').to_ascii_lowercase();
    let charset_ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'));
    if !charset_ok
        || lower.starts_with("aws")
        || lower.starts_with("ssm")
        || name.contains("//")
        || (name.len() > 1 && name.ends_with('/'))
        || name == "/"
    {
        return Err(SsmError::validation(CHARSET_MESSAGE));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(SsmError::validation(
            "Parameter name must be a fully qualified name.",
        ));
    }
    if levels(name) > MAX_LEVELS {
        return Err(SsmError::HierarchyLevelLimitExceeded);
    }
    Ok(())
}

pub fn levels(name: &str) -> usize {
    name.trim_start_matches('/').split('/').count()
}

/// A name as given to GetParameter(s): maybe an ARN, maybe with a
/// `:version` selector.
#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub version: Option<i64>,
    pub selector: Option<String>,
}

pub fn parse_reference(given: &str) -> Result<Reference, SsmError> {
    // arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>
    let name_part = match given.strip_prefix("arn:") {
        Some(rest) => {
            let resource = rest.splitn(5, ':').nth(4).unwrap_or_default();
            let path = resource
                .strip_prefix("parameter/")
                .ok_or_else(|| SsmError::validation(format!("Invalid parameter ARN {given}")))?;
            if path.contains('/') {
                format!("/{path}")
            } else {
                path.to_owned()
            }
        }
        None => given.to_owned(),
    };
    let (name, selector) = match name_part.split_once(':') {
        Some((name, sel)) => (name.to_owned(), Some(sel.to_owned())),
        None => (name_part, None),
    };
    let version = match &selector {
        Some(sel) => Some(
            sel.parse::<i64>()
                .map_err(|_| SsmError::ParameterVersionNotFound {
                    name: name.clone(),
                    selector: sel.clone(),
                })?,
        ),
        None => None,
    };
    Ok(Reference {
        name,
        version,
        selector: selector.map(|s| format!(":{s}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        for good in ["a", "SupportEmail", "/app/prod/db-url", "/a.b_c-d", "/x"] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a b",
            "aws-thing",
            "/ssm/x",
            "SSMx",
            "a/b",
            "/a//b",
            "/a/",
            "/",
            "é",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        let deep = "/l".repeat(16);
        assert!(matches!(
            validate(&deep),
            Err(SsmError::HierarchyLevelLimitExceeded)
        ));
        assert!(validate(&"/l".repeat(15)).is_ok());
    }

    #[test]
    fn references_take_arns_and_version_selectors() {
        let r = parse_reference("arn:aws:ssm:us-east-1:000000000000:parameter/a/b:3").expect("ok");
        assert_eq!((r.name.as_str(), r.version), ("/a/b", Some(3)));
        let r = parse_reference("plain").expect("ok");
        assert_eq!((r.name.as_str(), r.version), ("plain", None));
        assert!(parse_reference("x:label").is_err());
    }
}
