//! The bootstrap stack: one artifact bucket per account and region, shared by
//! every Strata service there, made by the first deploy that finds it
//! missing. Code zips and large templates go into it under content-hash
//! keys, so an object is uploaded once and never changes.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::synth::sorted;

/// Name of the bootstrap stack.
pub const STACK: &str = "strata-bootstrap";
/// The output holding the artifact bucket's name.
pub const BUCKET_OUTPUT: &str = "ArtifactBucket";

/// The bootstrap template. The bucket's name is CloudFormation's (bucket
/// names are global: a fixed one could be taken by anybody); the bucket is
/// kept when the stack is deleted, since live stacks point at its objects.
pub fn template() -> String {
    let t = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Strata bootstrap: the artifact bucket for code zips and large templates, shared by the Strata services of this account and region",
        "Metadata": { "strata:stack": "bootstrap", "strata:bootstrap-version": 1 },
        "Resources": {
            BUCKET_OUTPUT: {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true,
                    },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
                        ]
                    },
                },
            }
        },
        "Outputs": {
            BUCKET_OUTPUT: { "Value": { "Ref": BUCKET_OUTPUT }, "Description": "where Strata uploads code zips and templates" }
        },
    });
    serde_json::to_string(&sorted(t)).expect("a JSON value always serializes")
}

/// Object key of a code zip: its SHA-256, so equal code is one object.
pub fn code_key(sha256_hex: &str) -> String {
    format!("code/{sha256_hex}.zip")
}

/// Object key of a template too large to send inline.
pub fn template_key(stack: &str, body: &str) -> String {
    let hash = Sha256::digest(body.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("templates/{stack}/{hex}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_template_is_small_and_stable() {
        let t = template();
        assert_eq!(t, template());
        assert!(t.len() < crate::synth::DIRECT_UPLOAD_MAX_BYTES);
        let v: serde_json::Value = serde_json::from_str(&t).expect("json");
        assert_eq!(v["Resources"]["ArtifactBucket"]["DeletionPolicy"], "Retain");
        assert_eq!(
            v["Outputs"]["ArtifactBucket"]["Value"]["Ref"],
            "ArtifactBucket"
        );
    }

    #[test]
    fn keys_are_named_by_content() {
        assert_eq!(code_key("ab12"), "code/ab12.zip");
        let a = template_key("s", "{}");
        assert_eq!(a, template_key("s", "{}"));
        assert_ne!(a, template_key("s", "{ }"));
        assert!(a.starts_with("templates/s/") && a.ends_with(".json"));
    }
}
