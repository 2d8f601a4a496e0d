//! The parameter calls the local provider and `strata param set` make
//! without going through HTTP: write a plain value only when it changed (so
//! a deploy that changes nothing adds no version), write a secure value
//! sealed with the stage's key, read a parameter's current version, delete
//! one, and list a path (the outputs one resource published).
//!
//! The rules are PutParameter's: the same name validation and value limits,
//! and a SecureString is stored only in its sealed form.

use super::store::{self, Version};
use super::{Ssm, SsmError, arn, names};
use crate::sqlite::now_ms;

/// Who the stored versions say wrote them.
const WRITER: &str = "arn:aws:iam::000000000000:user/strata";
/// PutParameter's limit for the Standard tier.
const MAX_VALUE_CHARS: usize = 4096;

/// A parameter's current version, never holding a secure value in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterInfo {
    pub name: String,
    pub arn: String,
    pub secure: bool,
    /// The value of a plain parameter; `None` for a SecureString.
    pub value: Option<String>,
    pub version: i64,
}

impl Ssm {
    /// Make `value` the current value of the plain (`String`) parameter
    /// `name`. Writes a version only when the value or type differs.
    pub fn put_string(&self, name: &str, value: &str) -> Result<ParameterInfo, SsmError> {
        self.put(name, value, false, false)
    }

    /// Store `value` as a new version of the SecureString `name`, sealed with
    /// the stage's key.
    pub fn put_secure(&self, name: &str, value: &str) -> Result<ParameterInfo, SsmError> {
        self.put(name, value, true, true)
    }

    fn put(
        &self,
        name: &str,
        value: &str,
        secure: bool,
        always: bool,
    ) -> Result<ParameterInfo, SsmError> {
        names::validate(name)?;
        if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
            return Err(SsmError::validation(format!(
                "the value of {name} must be 1 to {MAX_VALUE_CHARS} characters long"
            )));
        }
        let kind = if secure { "SecureString" } else { "String" };
        self.db.run_blocking(|conn, _| {
            let tx = conn.transaction()?;
            let existing = store::current(&tx, name)?;
            let unchanged = existing
                .as_ref()
                .is_some_and(|e| e.kind == kind && e.value == value.as_bytes());
            if always || !unchanged {
                let version = existing.as_ref().map_or(1, |e| e.version + 1);
                let stored = if secure {
                    self.key.seal(name, version, value)?
                } else {
                    value.as_bytes().to_vec()
                };
                store::insert(
                    &tx,
                    &Version {
                        name: name.to_owned(),
                        version,
                        kind: kind.to_owned(),
                        value: stored,
                        description: existing.as_ref().and_then(|e| e.description.clone()),
                        allowed_pattern: None,
                        tier: "Standard".to_owned(),
                        data_type: "text".to_owned(),
                        modified_ms: now_ms(),
                        modified_user: WRITER.to_owned(),
                    },
                )?;
            }
            tx.commit()?;
            Ok::<_, SsmError>(())
        })?;
        self.parameter(name)?
            .ok_or_else(|| SsmError::ParameterNotFound {
                name: name.to_owned(),
            })
    }

    /// The current version of `name`, or `None` when it does not exist.
    pub fn parameter(&self, name: &str) -> Result<Option<ParameterInfo>, SsmError> {
        let current = self.db.run_blocking(|conn, _| store::current(conn, name))?;
        current.map(|v| info(&v)).transpose()
    }

    /// Delete `name` and its history; false when there was nothing to delete.
    pub fn remove_parameter(&self, name: &str) -> Result<bool, SsmError> {
        self.db.run_blocking(|conn, _| store::delete(conn, name))
    }

    /// Names of the parameters under `path` (`/a/b` finds `/a/b/c` and
    /// deeper), sorted.
    pub fn names_under(&self, path: &str) -> Result<Vec<String>, SsmError> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let all = self.db.run_blocking(|conn, _| store::all_current(conn))?;
        Ok(all
            .into_iter()
            .map(|v| v.name)
            .filter(|n| n.starts_with(&prefix))
            .collect())
    }
}

fn info(v: &Version) -> Result<ParameterInfo, SsmError> {
    let secure = v.kind == "SecureString";
    let value = if secure {
        None
    } else {
        Some(String::from_utf8(v.value.clone()).map_err(|_| SsmError::Internal)?)
    };
    Ok(ParameterInfo {
        name: v.name.clone(),
        arn: arn(&v.name),
        secure,
        value,
        version: v.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::Durability;
    use crate::store::DataDir;

    #[test]
    fn plain_values_are_versioned_only_when_they_change() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let ssm = Ssm::open(&data, Durability::Process).expect("open");
        assert_eq!(ssm.put_string("/a/b", "x").expect("put").version, 1);
        assert_eq!(ssm.put_string("/a/b", "x").expect("same").version, 1);
        let changed = ssm.put_string("/a/b", "y").expect("change");
        assert_eq!((changed.version, changed.value.as_deref()), (2, Some("y")));
        assert_eq!(ssm.names_under("/a").expect("list"), vec!["/a/b"]);
        assert!(ssm.names_under("/a/b").expect("list").is_empty());
        assert!(ssm.remove_parameter("/a/b").expect("delete"));
        assert!(!ssm.remove_parameter("/a/b").expect("delete again"));
    }

    #[test]
    fn secure_values_are_sealed_and_never_read_back_in_the_clear() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(tmp.path()).expect("data dir");
        let ssm = Ssm::open(&data, Durability::Process).expect("open");
        let put = ssm.put_secure("/s/k", "hunter2-secret").expect("put");
        assert!(put.secure);
        assert_eq!(put.value, None);
        assert_eq!(
            ssm.put_secure("/s/k", "hunter2-secret")
                .expect("again")
                .version,
            2
        );
        drop(ssm);
        let raw = std::fs::read(tmp.path().join(super::super::DATABASE_FILE)).expect("db");
        let wal = std::fs::read(tmp.path().join("ssm.sqlite-wal")).unwrap_or_default();
        for bytes in [raw, wal] {
            assert!(
                !bytes
                    .windows("hunter2-secret".len())
                    .any(|w| w == b"hunter2-secret")
            );
        }
    }
}
