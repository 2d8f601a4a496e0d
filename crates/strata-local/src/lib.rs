//! The local target's data plane: the durable store of a stage and the one
//! AWS-compatible HTTP endpoint (`127.0.0.1:4566` by default) that real AWS
//! SDKs reach through `AWS_ENDPOINT_URL`.
//!
//! The pieces, from the socket inwards:
//! - [`endpoint`] accepts HTTP, finds the AWS service a request is for through a
//!   dispatch table ([`endpoint::ServiceTable`]) and hands it over;
//! - [`access`] turns the request's access key into a [`access::Principal`] and
//!   decides what that principal may touch;
//! - [`dynamodb`] serves the DynamoDB JSON protocol on the dynoxide-rs engine;
//! - [`sqs`] and [`ssm`] serve SQS and SSM Parameter Store on SQLite files
//!   opened through [`sqlite`];
//! - [`s3`] serves S3 (REST/XML) with objects streamed to and from files,
//!   over [`buckets`], the durable bucket registry the provider also uses;
//! - [`gateway`] is the HTTP API (API Gateway HTTP API behaviour) in front
//!   of the functions of the active release;
//! - [`compute`] runs functions as Lambda Runtime API workers, with their
//!   triggers and the Lambda Invoke API;
//! - [`provider`] is the engine's `Provider` for stateful resources;
//! - [`store`] owns the stage's data directory and [`durability`] the promise
//!   made about an acknowledged write.
//!
//! This crate never prints: the CLI reports what it returns.

pub mod access;
pub mod buckets;
pub mod compute;
pub mod control;
pub mod durability;
pub mod dynamodb;
pub mod endpoint;
pub mod gateway;
pub mod provider;
pub mod s3;
pub mod serial;
pub mod sqlite;
pub mod sqs;
pub mod ssm;
pub mod store;

pub use access::{AccessRegistry, Principal};
pub use durability::Durability;
pub use endpoint::{Endpoint, EndpointConfig, EndpointError};
pub use store::{DataDir, StoreError};
