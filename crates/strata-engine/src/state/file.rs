//! The state file format: a versioned JSON envelope around [`StackState`].
//! Every version ever written has a golden file under `testdata/state/`, and
//! `decode` upgrades any of them to the current model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StackState;

/// Version written by this build. Bump it, add an upgrade step in `upgrade`
/// and a golden file whenever the model's serialized form changes.
pub const CURRENT_VERSION: u32 = 1;
const FORMAT: &str = "strata-state";

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("state file is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a Strata state file (format `{found}`)")]
    WrongFormat { found: String },
    #[error(
        "state file version {found} is newer than this strata understands (up to {CURRENT_VERSION}); upgrade strata"
    )]
    TooNew { found: u32 },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    state: Value,
}

/// Deterministic bytes: sorted maps, two-space indent, trailing newline.
pub fn encode(state: &StackState) -> Vec<u8> {
    let envelope = Envelope {
        format: FORMAT.to_owned(),
        version: CURRENT_VERSION,
        state: serde_json::to_value(state).expect("state always serializes"),
    };
    let mut bytes = serde_json::to_vec_pretty(&envelope).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

pub fn decode(bytes: &[u8]) -> Result<StackState, FileError> {
    let envelope: Envelope = serde_json::from_slice(bytes)?;
    if envelope.format != FORMAT {
        return Err(FileError::WrongFormat {
            found: envelope.format,
        });
    }
    if envelope.version > CURRENT_VERSION {
        return Err(FileError::TooNew {
            found: envelope.version,
        });
    }
    let state = upgrade(envelope.version, envelope.state);
    Ok(serde_json::from_value(state)?)
}

/// Brings an older version's state value up to the current one, step by step.
fn upgrade(version: u32, state: Value) -> Value {
    // Version 1 is the first format; later steps go here as
    // `if version < 2 { state = v1_to_v2(state) }`.
    debug_assert!(version >= 1);
    state
}
