//! CloudFormation synthesis of one stage: the stateful and the stateless
//! template, the stateful stack's policy, and the code zips.
//!
//! Output depends on the manifest and the code folders alone: object keys
//! are sorted, arrays are built in manifest or sorted order, nothing carries
//! a time, and zips are reproducible (`strata-artifact`). So the same input
//! gives the same bytes, golden files hold, and a deploy can tell "no change"
//! by comparing bytes.
//!
//! The two templates never reference each other by export: the stateful
//! stack writes each output to SSM under `/strata/<service>/<stage>/...`, and
//! the stateless stack reads them through SSM-typed template parameters.

mod iam;
mod names;
mod stateful;
mod stateless;
mod template;

use std::path::{Path, PathBuf};

use serde_json::json;
use strata_artifact::{ArtifactError, Package};
use strata_model::{Address, FunctionName, Service, StageName, Target};

pub use names::{Attr, Names, output_id};
pub use stateless::{CODE_BUCKET_PARAMETER, LOG_RETENTION_DAYS, code_key_parameter};
pub use template::{DIRECT_UPLOAD_MAX_BYTES, Limit, Rendered, sorted};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("stage `{stage}` is not declared")]
    UnknownStage { stage: String },
    #[error(
        "stage `{stage}` targets {target}; synth writes CloudFormation only for a stage whose target is aws"
    )]
    NotAws { stage: StageName, target: Target },
    #[error("logical id `{id}` would be used twice in stack {stack}")]
    DuplicateLogicalId { stack: String, id: String },
    #[error(
        "{address} would be named `{name}` on AWS, longer than the {max} characters AWS allows"
    )]
    NameTooLong {
        address: Address,
        name: String,
        max: usize,
    },
    #[error(
        "{first} and {second} would both be named `{name}` on AWS (bucket names are lower case)"
    )]
    NameClash {
        first: Address,
        second: Address,
        name: String,
    },
    #[error(
        "stack {stack} has {actual} {}; CloudFormation allows at most {} per template",
        limit.what(),
        limit.max()
    )]
    Limit {
        stack: String,
        limit: Limit,
        actual: usize,
    },
    #[error("cannot package the code of {function} from {}", folder.display())]
    Package {
        function: Address,
        folder: PathBuf,
        #[source]
        source: ArtifactError,
    },
}

/// One synthesized stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackTemplate {
    /// `<service>-<stage>-stateful` or `...-stateless`.
    pub stack_name: String,
    pub rendered: Rendered,
}

impl StackTemplate {
    pub fn file_name(&self) -> String {
        format!("{}.template.json", self.stack_name)
    }
}

/// The templates of one stage; pure, no file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    pub stateful: StackTemplate,
    pub stateless: StackTemplate,
    /// Stack policies are set on the stack, not in the template.
    pub stack_policy: String,
}

impl Templates {
    pub fn stack_policy_file_name(&self) -> String {
        format!("{}.stack-policy.json", self.stateful.stack_name)
    }
}

/// The code zip of one folder, shared by every function whose code is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeAsset {
    /// As written in the manifest, relative to its directory.
    pub folder: String,
    pub functions: Vec<FunctionName>,
    pub package: Package,
}

/// Everything `strata synth` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synthesis {
    pub templates: Templates,
    /// Sorted by folder.
    pub code: Vec<CodeAsset>,
    /// Which code key parameter takes which zip (JSON).
    pub assets: String,
}

impl Synthesis {
    /// Every output file, name and bytes, in a stable order.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        let t = &self.templates;
        let mut files: Vec<(String, &[u8])> = vec![
            (t.stateful.file_name(), t.stateful.rendered.body.as_bytes()),
            (
                t.stateless.file_name(),
                t.stateless.rendered.body.as_bytes(),
            ),
            (t.stack_policy_file_name(), t.stack_policy.as_bytes()),
            (
                format!("{}.assets.json", t.stateless.stack_name),
                self.assets.as_bytes(),
            ),
        ];
        for asset in &self.code {
            files.push((asset.package.file_name(), &asset.package.bytes));
        }
        files
    }
}

/// Both templates and the stack policy of `stage`, which must target aws.
pub fn templates(service: &Service, stage: &str) -> Result<Templates, SynthError> {
    let stage = service
        .stage(stage)
        .ok_or_else(|| SynthError::UnknownStage {
            stage: stage.to_owned(),
        })?;
    if stage.target != Target::Aws {
        return Err(SynthError::NotAws {
            stage: stage.name.clone(),
            target: stage.target,
        });
    }
    let names = Names {
        service: service.name.as_str(),
        stage: stage.name.as_str(),
    };
    let stateful = stateful::build(service, names)?;
    let stateless = stateless::build(service, names)?;
    let mut policy = serde_json::to_string_pretty(&template::sorted(stateful.stack_policy))
        .expect("a JSON value always serializes");
    policy.push('\n');
    Ok(Templates {
        stateful: StackTemplate {
            stack_name: stateful.template.stack().to_owned(),
            rendered: stateful.template.render()?,
        },
        stateless: StackTemplate {
            stack_name: stateless.stack().to_owned(),
            rendered: stateless.render()?,
        },
        stack_policy: policy,
    })
}

/// Zips every function's code folder once, `root` being the manifest's directory.
pub fn package_code(service: &Service, root: &Path) -> Result<Vec<CodeAsset>, SynthError> {
    let mut assets: Vec<CodeAsset> = Vec::new();
    let mut functions: Vec<_> = service.stateless.functions.iter().collect();
    functions.sort_by(|a, b| a.code.cmp(&b.code).then(a.name.cmp(&b.name)));
    for f in functions {
        if let Some(last) = assets.last_mut().filter(|a| a.folder == f.code) {
            last.functions.push(f.name.clone());
            continue;
        }
        let folder = root.join(&f.code);
        let package = strata_artifact::package(&folder).map_err(|source| SynthError::Package {
            function: f.address(),
            folder: folder.clone(),
            source,
        })?;
        assets.push(CodeAsset {
            folder: f.code.clone(),
            functions: vec![f.name.clone()],
            package,
        });
    }
    Ok(assets)
}

/// The templates, the zips, and the map between them.
pub fn synthesize(service: &Service, stage: &str, root: &Path) -> Result<Synthesis, SynthError> {
    let templates = templates(service, stage)?;
    let code = package_code(service, root)?;
    let mut functions = serde_json::Map::new();
    for asset in &code {
        for f in &asset.functions {
            functions.insert(
                f.to_string(),
                json!({
                    "parameter": code_key_parameter(f.as_str()),
                    "file": asset.package.file_name(),
                    "folder": asset.folder,
                    "sha256": asset.package.sha256.to_string(),
                }),
            );
        }
    }
    let assets = json!({
        "stack": templates.stateless.stack_name,
        "code_bucket_parameter": CODE_BUCKET_PARAMETER,
        "functions": functions,
    });
    let mut assets = serde_json::to_string_pretty(&template::sorted(assets))
        .expect("a JSON value always serializes");
    assets.push('\n');
    Ok(Synthesis {
        templates,
        code,
        assets,
    })
}

#[cfg(test)]
mod tests;
