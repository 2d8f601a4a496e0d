//! The aws target. For now: CloudFormation synthesis of a stage's two stacks
//! (`synth`). Deploying them through the AWS SDK comes later and will be the
//! only place in the workspace that links `aws-sdk-*`.

pub mod synth;
