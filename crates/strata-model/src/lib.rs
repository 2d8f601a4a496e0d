//! strata.yaml -> a validated [`Service`] of two stacks.
//!
//! Pure: no I/O and no async. The caller hands in the manifest text and a
//! [`CodeTree`] that answers whether code paths exist, and gets back either
//! the service (with any warnings) or every problem of the file at once.
//!
//! The pipeline is `yaml` (text -> spanned nodes) -> `decode` (nodes ->
//! `RawManifest`, keys and types) -> `validate` (cross-references, names,
//! AWS limits -> `Service`).

mod decode;
pub mod diagnostic;
pub mod raw;
pub mod route;
pub mod runtime;
pub mod schedule;
pub mod service;
mod validate;
mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Problem, Severity, Span};
pub use service::*;

use decode::{Cx, Decode};

/// The file system as validation sees it: paths relative to the manifest's directory.
pub trait CodeTree {
    fn is_dir(&self, path: &str) -> bool;
    fn is_file(&self, path: &str) -> bool;
}

/// A manifest that passed: the service and any warnings.
#[derive(Debug)]
pub struct Checked {
    pub service: Service,
    pub warnings: Diagnostics,
}

/// Parses and validates manifest bytes. Errors come back all together, sorted
/// by position; warnings come with the service, or with the errors.
pub fn check(bytes: &[u8], tree: &dyn CodeTree) -> Result<Checked, Diagnostics> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            let mut diags = Diagnostics::default();
            diags.push(
                Diagnostic::error(Problem::NotUtf8, Span::new(at, at))
                    .label("the first byte that is not UTF-8")
                    .help("save the file as UTF-8"),
            );
            return Err(diags);
        }
    };
    check_str(text, tree)
}

pub fn check_str(text: &str, tree: &dyn CodeTree) -> Result<Checked, Diagnostics> {
    let root = match yaml::parse(text)? {
        Some(root) => root,
        None => {
            let mut diags = Diagnostics::default();
            diags.push(Diagnostic::error(Problem::Empty, Span::new(0, 0)).help(
                "a manifest needs at least `service: NAME`; `strata init` writes a working one",
            ));
            return Err(diags);
        }
    };
    let mut cx = Cx::default();
    let service = raw::RawManifest::decode(&root, &mut cx)
        .and_then(|raw| validate::validate(&raw, tree, &mut cx));
    let mut diags = cx.diags;
    diags.sort();
    match service {
        Some(service) if !diags.has_errors() => Ok(Checked {
            service,
            warnings: diags,
        }),
        _ => Err(diags),
    }
}

/// The JSON Schema of strata.yaml, generated from the same types the decoder reads.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<raw::RawManifest>();
    schema.to_value()
}
