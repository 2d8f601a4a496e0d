//! The state file format against golden files of every version ever written.

use super::*;

#[test]
fn every_written_version_decodes_and_v1_round_trips() {
    let v1 = include_bytes!("../../testdata/state/v1.json");
    let state = decode(v1).expect("v1 decodes");
    assert_eq!(state.serial, 3);
    assert_eq!(state.resources.len(), 2);
    assert!(
        state
            .retained
            .contains_key(&"queue/Jobs".parse().expect("address"))
    );
    // The current version writes v1 byte for byte.
    assert_eq!(
        String::from_utf8(encode(&state)).expect("utf-8"),
        String::from_utf8(v1.to_vec()).expect("utf-8")
    );
}

#[test]
fn refuses_foreign_and_future_files() {
    assert!(matches!(
        decode(br#"{"format":"terraform","version":4,"state":{}}"#),
        Err(FileError::WrongFormat { .. })
    ));
    assert!(matches!(
        decode(br#"{"format":"strata-state","version":99,"state":{}}"#),
        Err(FileError::TooNew { found: 99 })
    ));
    assert!(matches!(decode(b"not json"), Err(FileError::Json(_))));
}

#[test]
fn saves_atomically_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StateStore::new(dir.path());
    let mut state = StackState::empty("shop", "dev", StackKind::Stateful);
    store.save(&mut state).expect("saves");
    store.save(&mut state).expect("saves again");
    assert_eq!(
        store
            .load("shop", "dev", StackKind::Stateful)
            .expect("loads")
            .serial,
        2
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["stateful.json"]);
    assert!(matches!(
        store.load("other", "dev", StackKind::Stateful),
        Err(StoreError::Mismatch { .. })
    ));
}
