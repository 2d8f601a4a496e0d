//! Physical names on AWS and logical ids in the templates. A stateful
//! resource's physical name must never change once deployed (a new name is a
//! new, empty resource), so everything here depends only on the service,
//! stage and resource names, never on order or on the rest of the manifest.

use sha2::{Digest, Sha256};
use strata_model::{Address, ResourceKind, StackKind};

use super::SynthError;

/// SQS queue names: at most 80 characters, `.fifo` included.
const QUEUE_NAME_MAX: usize = 80;
/// S3 bucket names: at most 63 characters.
const BUCKET_NAME_MAX: usize = 63;
/// `-` and a 12-digit account id, appended to every bucket name.
const ACCOUNT_SUFFIX_LEN: usize = 13;

/// Names of one stage of one service.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub service: &'a str,
    pub stage: &'a str,
}

/// A value a stateful resource publishes for the stateless stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attr {
    Name,
    Arn,
    Url,
    StreamArn,
}

impl Attr {
    /// The last segment of the SSM parameter name (SPEC §1 words).
    pub fn path(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Arn => "arn",
            Self::Url => "url",
            Self::StreamArn => "stream_arn",
        }
    }

    /// The logical-id part.
    pub fn id(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::Arn => "Arn",
            Self::Url => "Url",
            Self::StreamArn => "StreamArn",
        }
    }
}

/// `Table`, `Bucket`, ...: the prefix of a stateful resource's logical id.
pub fn kind_id(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Table => "Table",
        ResourceKind::Bucket => "Bucket",
        ResourceKind::Queue => "Queue",
        ResourceKind::Parameter => "Parameter",
        ResourceKind::Function => "Function",
    }
}

/// Logical id of a stateful resource in the stateful template: `TableOrders`.
/// The kind prefix keeps ids apart from the output parameters (`Output...`).
pub fn resource_id(address: &Address) -> String {
    format!("{}{}", kind_id(address.kind), address.name)
}

/// Logical id of a published output in the stateful template:
/// `OutputTableOrdersArn`.
pub fn output_id(address: &Address, attr: Attr) -> String {
    format!("Output{}", input_id(address, attr))
}

/// Logical id of the template parameter that reads an output in the
/// stateless template: `TableOrdersArn`.
pub fn input_id(address: &Address, attr: Attr) -> String {
    format!("{}{}", resource_id(address), attr.id())
}

impl Names<'_> {
    pub fn stack(&self, kind: StackKind) -> String {
        format!("{}-{}-{}", self.service, self.stage, kind.as_str())
    }

    /// `<service>-<stage>-<Name>`: DynamoDB table names allow mixed case and
    /// 255 characters, more than service, stage and name can reach.
    pub fn table(&self, name: &str) -> String {
        format!("{}-{}-{name}", self.service, self.stage)
    }

    /// `<service>-<stage>-<Name>`, plus `.fifo` for FIFO queues (SQS requires it).
    pub fn queue(&self, address: &Address, fifo: bool) -> Result<String, SynthError> {
        let mut name = format!("{}-{}-{}", self.service, self.stage, address.name);
        if fifo {
            name.push_str(".fifo");
        }
        if name.len() > QUEUE_NAME_MAX {
            return Err(SynthError::NameTooLong {
                address: address.clone(),
                name,
                max: QUEUE_NAME_MAX,
            });
        }
        Ok(name)
    }

    /// The bucket name as an `Fn::Sub` text: `<service>-<stage>-<name>-${AWS::AccountId}`.
    ///
    /// Bucket names are global across all accounts, so the account id makes
    /// them unique. They are lower case, so the resource name is lowered; two
    /// buckets whose names differ only in case would clash, which the
    /// stateful synthesis reports. When the whole would pass 63 characters,
    /// the readable part is cut and an 8-hex hash of the full part keeps it
    /// unique and stable.
    pub fn bucket(&self, name: &str) -> String {
        let stem = format!("{}-{}-{name}", self.service, self.stage).to_lowercase();
        let room = BUCKET_NAME_MAX - ACCOUNT_SUFFIX_LEN;
        let stem = if stem.len() <= room {
            stem
        } else {
            let hash = Sha256::digest(stem.as_bytes());
            let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
            // Names are ASCII (validated), so byte slicing is on characters.
            let keep = stem[..room - 9].trim_end_matches('-');
            format!("{keep}-{hex}")
        };
        format!("{stem}-${{AWS::AccountId}}")
    }

    /// `/<service>/<stage>/<Name>`: the parameter itself, apart from the
    /// `/strata/...` tree of published outputs.
    pub fn parameter(&self, name: &str) -> String {
        format!("/{}/{}/{name}", self.service, self.stage)
    }

    /// `/strata/<service>/<stage>/<Resource>/<attr>` (SPEC §6).
    pub fn output_parameter(&self, address: &Address, attr: Attr) -> String {
        format!(
            "/strata/{}/{}/{}/{}",
            self.service,
            self.stage,
            address.name,
            attr.path()
        )
    }

    /// `<service>-<stage>-<function>`; validation keeps it within Lambda's 64.
    pub fn function(&self, function: &str) -> String {
        format!("{}-{}-{}", self.service, self.stage, function)
    }

    /// The HTTP API's name.
    pub fn api(&self) -> String {
        format!("{}-{}", self.service, self.stage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_parameters_follow_the_spec() {
        let n = Names {
            service: "orders",
            stage: "prod",
        };
        let a = Address::new(ResourceKind::Table, "Orders");
        assert_eq!(
            n.output_parameter(&a, Attr::StreamArn),
            "/strata/orders/prod/Orders/stream_arn"
        );
        assert_eq!(output_id(&a, Attr::Arn), "OutputTableOrdersArn");
        assert_eq!(input_id(&a, Attr::Arn), "TableOrdersArn");
    }

    #[test]
    fn bucket_names_are_lower_case_and_fit_63_characters_with_the_account() {
        let n = Names {
            service: "orders",
            stage: "prod",
        };
        assert_eq!(
            n.bucket("Receipts"),
            "orders-prod-receipts-${AWS::AccountId}"
        );
        let long = Names {
            service: "a-very-long-service-name-of-forty-chars",
            stage: "production",
        };
        let name = long.bucket("Uploads");
        let stem = name.trim_end_matches("-${AWS::AccountId}");
        assert_eq!(stem.len() + ACCOUNT_SUFFIX_LEN, BUCKET_NAME_MAX);
        assert!(stem.starts_with("a-very-long-service-name-of-forty-chars-p"));
        // Another bucket with the same cut prefix still gets another name.
        assert_ne!(long.bucket("Uploads2"), name);
        assert!(!stem.contains("--"), "{stem}");
    }

    #[test]
    fn a_queue_name_over_80_characters_is_refused_with_the_limit() {
        let n = Names {
            service: "a-very-long-service-name-of-forty-chars",
            stage: "production",
        };
        let a = Address::new(ResourceKind::Queue, "AQueueWithAQuiteLongNameIndeedYes");
        let err = n.queue(&a, true).expect_err("too long");
        assert!(err.to_string().contains("80"), "{err}");
        assert!(
            n.queue(&Address::new(ResourceKind::Queue, "Jobs"), true)
                .is_ok()
        );
    }
}
