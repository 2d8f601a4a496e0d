//! The aws target: CloudFormation synthesis of a stage's two stacks
//! (`synth`), and their deploy through change sets (`deploy`). The deploy
//! logic is always built and tested; the AWS SDK client that drives it
//! (`sdk`) is behind the `aws` feature, and this is the only crate in the
//! workspace that links `aws-sdk-*`.

pub mod deploy;
#[cfg(feature = "aws")]
pub mod sdk;
pub mod synth;
