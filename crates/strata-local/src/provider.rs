//! The local target's [`Provider`]: the engine's create, update, delete, read
//! and data-at-risk calls carried out on the stage's own data directory —
//! tables through the DynamoDB table API, queues through the SQS store,
//! parameters through the SSM store, buckets through the S3 service's store
//! (the bucket registry and its objects, which a destroy deletes and a plan
//! counts).
//!
//! Every call is idempotent. `create` adopts what already exists under the
//! physical name (a retained resource coming back, or a create a killed run
//! finished) and brings it to the manifest's settings, so a rerun after a
//! crash converges instead of failing on "already exists".
//!
//! After a create or update the resource's outputs (name, arn, url,
//! stream_arn) are published as String parameters under
//! `/strata/<service>/<stage>/<Resource>/<attr>`, the same tree the aws
//! target writes, so the stateless side reads both targets the same way.
//!
//! Secure parameters are never given a value here: `strata param set` stores
//! it (sealed with the stage's key), and a deploy leaves it alone.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use strata_engine::provider::{DataAtRisk, Live, Provider, ProviderError};
use strata_model::{Address, Parameter, Queue, Resource, ResourceKind, ResourceSpec};

use crate::buckets::Buckets;
use crate::durability::Durability;
use crate::dynamodb::DynamoDb;
use crate::dynamodb::tables::{TableError, TableState};
use crate::s3::{S3, S3OpenError};
use crate::sqlite::DbError;
use crate::sqs::{QueueInfo, QueueSettings, Sqs, SqsError};
use crate::ssm::{Ssm, SsmError};
use crate::store::{DataDir, StoreError};

/// S3 bucket names: at most 63 characters.
const BUCKET_NAME_MAX: usize = 63;
/// Queue URLs name the default endpoint; SQS takes the queue from the path's
/// last segment, so a client on another port reaches the same queue.
const QUEUE_URL_BASE: &str = "http://127.0.0.1:4566/000000000000";

/// Why the provider could not open the stage's stores.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Ssm(#[from] SsmError),
    #[error(transparent)]
    S3(#[from] S3OpenError),
}

/// Physical names of one stage of one service on the local target. They
/// follow the aws target's (`strata-aws/src/synth/names.rs`) without the
/// account id, which a single machine does not need to be unique in.
#[derive(Debug, Clone)]
pub struct LocalNames {
    pub service: String,
    pub stage: String,
}

impl LocalNames {
    /// `<service>-<stage>-<Name>`.
    pub fn table(&self, name: &str) -> String {
        format!("{}-{}-{name}", self.service, self.stage)
    }

    /// `<service>-<stage>-<Name>`, plus `.fifo` for FIFO queues (SQS requires it).
    pub fn queue(&self, name: &str, fifo: bool) -> String {
        let base = self.table(name);
        if fifo { format!("{base}.fifo") } else { base }
    }

    /// `<service>-<stage>-<name>` in lower case; over 63 characters the
    /// readable part is cut and an 8-hex hash of the whole keeps it unique.
    pub fn bucket(&self, name: &str) -> String {
        let stem = self.table(name).to_lowercase();
        if stem.len() <= BUCKET_NAME_MAX {
            return stem;
        }
        let hash = Sha256::digest(stem.as_bytes());
        let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
        // Names are ASCII (validated), so byte slicing is on characters.
        let keep = stem[..BUCKET_NAME_MAX - 9].trim_end_matches('-');
        format!("{keep}-{hex}")
    }

    /// `/<service>/<stage>/<Name>`.
    pub fn parameter(&self, name: &str) -> String {
        format!("/{}/{}/{name}", self.service, self.stage)
    }

    /// `/strata/<service>/<stage>/<Resource>`: where a resource's outputs live.
    pub fn outputs_path(&self, address: &Address) -> String {
        format!("/strata/{}/{}/{}", self.service, self.stage, address.name)
    }

    /// The logical name behind a queue's physical name, when it follows the
    /// scheme (`orders-dev-Jobs.fifo` -> `Jobs`).
    fn queue_logical<'a>(&self, physical: &'a str) -> &'a str {
        let prefix = format!("{}-{}-", self.service, self.stage);
        let stem = physical.strip_suffix(".fifo").unwrap_or(physical);
        stem.strip_prefix(prefix.as_str()).unwrap_or(stem)
    }
}

/// The provider of one stage. Holds the data directory's lock for as long as
/// it lives: no `strata serve` can open the same files meanwhile.
#[derive(Debug)]
pub struct LocalProvider {
    names: LocalNames,
    dynamodb: DynamoDb,
    sqs: Sqs,
    ssm: Ssm,
    s3: S3,
    /// The registry on `s3`'s connection: one database handle per file.
    buckets: Buckets,
    // Declared last so it is dropped last: the lock goes only after every
    // database above is closed.
    data: DataDir,
}

impl LocalProvider {
    /// Open the stores of the locked data directory `data`.
    pub fn open(
        data: DataDir,
        service: &str,
        stage: &str,
        durability: Durability,
    ) -> Result<Self, OpenError> {
        let s3 = S3::open(&data, durability)?;
        Ok(Self {
            names: LocalNames {
                service: service.to_owned(),
                stage: stage.to_owned(),
            },
            dynamodb: DynamoDb::open(&data, durability)?,
            sqs: Sqs::open(&data, durability)?,
            ssm: Ssm::open(&data, durability)?,
            buckets: s3.buckets(),
            s3,
            data,
        })
    }

    pub fn names(&self) -> &LocalNames {
        &self.names
    }

    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The stores behind the provider, for an endpoint served by the same
    /// process (`strata dev`): one process, one set of open databases.
    pub fn dynamodb(&self) -> &DynamoDb {
        &self.dynamodb
    }

    pub fn sqs(&self) -> &Sqs {
        &self.sqs
    }

    pub fn ssm(&self) -> &Ssm {
        &self.ssm
    }

    pub fn s3(&self) -> &S3 {
        &self.s3
    }

    /// `strata param set`: store the value of the parameter `resource` under
    /// its physical name. Secure values are sealed and never returned.
    pub fn set_parameter(
        &self,
        resource: &Resource,
        physical_id: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        let address = resource.address();
        let ResourceSpec::Parameter(p) = &resource.spec else {
            return Err(failed(&address, "only parameters have a value to set"));
        };
        if p.secure {
            self.ssm.put_secure(physical_id, value)
        } else {
            self.ssm.put_string(physical_id, value)
        }
        .map_err(|e| failed(&address, e))?;
        Ok(())
    }

    /// Write `outputs` under `address`'s output path and remove any other
    /// output left there (a stream turned off has no `stream_arn` any more).
    pub fn publish(
        &self,
        address: &Address,
        outputs: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let path = self.names.outputs_path(address);
        for (attr, value) in outputs {
            self.ssm
                .put_string(&format!("{path}/{attr}"), value)
                .map_err(|e| failed(address, e))?;
        }
        for stale in self
            .ssm
            .names_under(&path)
            .map_err(|e| failed(address, e))?
        {
            let attr = stale.rsplit('/').next().unwrap_or_default();
            if !outputs.contains_key(attr) {
                self.ssm
                    .remove_parameter(&stale)
                    .map_err(|e| failed(address, e))?;
            }
        }
        Ok(())
    }

    /// Remove every output published under `address`.
    pub fn unpublish(&self, address: &Address) -> Result<(), ProviderError> {
        self.publish(address, &BTreeMap::new())
    }

    fn table_live(&self, table: &TableState) -> Live {
        let mut outputs = BTreeMap::from([
            ("name".to_owned(), table_name(&table.arn)),
            ("arn".to_owned(), table.arn.clone()),
        ]);
        if let Some(stream) = &table.stream_arn {
            outputs.insert("stream_arn".to_owned(), stream.clone());
        }
        Live {
            properties: serde_json::to_value(&table.spec).expect("a table spec serializes"),
            outputs,
        }
    }

    fn queue_live(&self, queue: &QueueInfo) -> Live {
        let s = &queue.settings;
        Live {
            properties: json!({
                "fifo": s.fifo,
                "visibility_timeout": s.visibility_timeout,
                "retention": s.retention,
                "delay": s.delay,
                "dead_letter": s.dead_letter.as_ref().map(|(dlq, max)| json!({
                    "queue": self.names.queue_logical(dlq),
                    "max_receives": max,
                })),
            }),
            outputs: BTreeMap::from([
                ("name".to_owned(), queue.name.clone()),
                ("arn".to_owned(), queue.arn.clone()),
                ("url".to_owned(), format!("{QUEUE_URL_BASE}/{}", queue.name)),
            ]),
        }
    }

    fn queue_settings(&self, queue: &Queue) -> QueueSettings {
        QueueSettings {
            fifo: queue.fifo,
            visibility_timeout: queue.visibility_timeout,
            retention: queue.retention,
            delay: queue.delay,
            // A dead-letter queue has the type of the queue that uses it
            // (validation checks it), so its name takes the same suffix.
            dead_letter: queue.dead_letter.as_ref().map(|d| {
                (
                    self.names.queue(d.queue.as_str(), queue.fifo),
                    d.max_receives,
                )
            }),
        }
    }

    fn parameter_outputs(physical_id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("name".to_owned(), physical_id.to_owned()),
            (
                "arn".to_owned(),
                format!(
                    "arn:aws:ssm:us-east-1:000000000000:parameter/{}",
                    physical_id.trim_start_matches('/')
                ),
            ),
        ])
    }

    /// Bring the resource to the manifest's settings, creating or adopting
    /// it; publish its outputs.
    fn ensure(&self, resource: &Resource, physical_id: &str) -> Result<Live, ProviderError> {
        let address = resource.address();
        let fail = |e: &dyn std::error::Error| failed(&address, chain(e));
        let live = match &resource.spec {
            ResourceSpec::Table(spec) => {
                let state = match self.dynamodb.describe_table(physical_id) {
                    Ok(Some(current)) if current.spec == *spec => Ok(current),
                    Ok(Some(_)) => self.dynamodb.update_table(physical_id, spec),
                    Ok(None) => match self.dynamodb.create_table(physical_id, spec) {
                        // Someone made it between the look and the create: adopt it.
                        Err(TableError::Exists { .. }) => {
                            self.dynamodb.update_table(physical_id, spec)
                        }
                        other => other,
                    },
                    Err(e) => Err(e),
                }
                .map_err(|e| fail(&e))?;
                self.table_live(&state)
            }
            ResourceSpec::Queue(queue) => {
                let info = self
                    .sqs
                    .ensure_queue(physical_id, &self.queue_settings(queue))
                    .map_err(|e| fail(&e))?;
                self.queue_live(&info)
            }
            ResourceSpec::Bucket(bucket) => {
                let info = self
                    .buckets
                    .ensure(physical_id, bucket.versioning)
                    .map_err(|e| fail(&e))?;
                bucket_live(&info.name, info.versioning.is_enabled())
            }
            ResourceSpec::Parameter(parameter) => {
                self.ensure_parameter(&address, parameter, physical_id)?
            }
        };
        self.publish(&address, &live.outputs)?;
        Ok(live)
    }

    fn ensure_parameter(
        &self,
        address: &Address,
        parameter: &Parameter,
        physical_id: &str,
    ) -> Result<Live, ProviderError> {
        // Only a plain value from the manifest is written. A secure value, or
        // a plain one left empty in the manifest, is set with `strata param
        // set` and must survive every deploy.
        if let (Some(value), false) = (&parameter.value, parameter.secure) {
            self.ssm
                .put_string(physical_id, value)
                .map_err(|e| failed(address, chain(&e)))?;
        }
        Ok(Live {
            properties: json!({"value": parameter.value, "secure": parameter.secure}),
            outputs: Self::parameter_outputs(physical_id),
        })
    }
}

fn bucket_live(name: &str, versioning: bool) -> Live {
    Live {
        properties: json!({ "versioning": versioning }),
        outputs: BTreeMap::from([
            ("name".to_owned(), name.to_owned()),
            ("arn".to_owned(), format!("arn:aws:s3:::{name}")),
        ]),
    }
}

/// The table name at the end of a table ARN.
fn table_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

/// An error and its sources as one line: the engine reports a message, and
/// the useful part (the SQLite error, the engine's reason) is often a source.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}

fn failed(address: &Address, message: impl ToString) -> ProviderError {
    ProviderError::Failed {
        address: address.clone(),
        message: message.to_string(),
    }
}

impl Provider for LocalProvider {
    fn physical_id(&self, resource: &Resource) -> String {
        let name = resource.name.as_str();
        match &resource.spec {
            ResourceSpec::Table(_) => self.names.table(name),
            ResourceSpec::Queue(q) => self.names.queue(name, q.fifo),
            ResourceSpec::Bucket(_) => self.names.bucket(name),
            ResourceSpec::Parameter(_) => self.names.parameter(name),
        }
    }

    fn create(&self, resource: &Resource, physical_id: &str) -> Result<Live, ProviderError> {
        self.ensure(resource, physical_id)
    }

    fn update(
        &self,
        resource: &Resource,
        physical_id: &str,
        _previous: &Value,
    ) -> Result<Live, ProviderError> {
        // Every kind's create already brings an existing resource to the
        // manifest in place, one step at a time (an index, the stream, TTL,
        // one attribute), and refuses what only a replacement can do.
        self.ensure(resource, physical_id)
    }

    fn delete(&self, address: &Address, physical_id: &str) -> Result<(), ProviderError> {
        let fail = |e: &dyn std::error::Error| failed(address, chain(e));
        match address.kind {
            ResourceKind::Table => match self.dynamodb.delete_table(physical_id) {
                Ok(()) | Err(TableError::NotFound { .. }) => Ok(()),
                Err(e) => Err(fail(&e)),
            },
            ResourceKind::Queue => self.sqs.remove_queue(physical_id).map_err(|e| fail(&e)),
            // An allowed destroy: the objects go with the bucket.
            ResourceKind::Bucket => self.s3.purge_bucket(physical_id).map_err(|e| fail(&e)),
            ResourceKind::Parameter => self
                .ssm
                .remove_parameter(physical_id)
                .map(drop)
                .map_err(|e| fail(&e)),
            ResourceKind::Function => Err(failed(address, "not a stateful resource")),
        }?;
        self.unpublish(address)
    }

    fn read(&self, address: &Address, physical_id: &str) -> Result<Option<Live>, ProviderError> {
        let fail = |e: &dyn std::error::Error| failed(address, chain(e));
        Ok(match address.kind {
            ResourceKind::Table => self
                .dynamodb
                .describe_table(physical_id)
                .map_err(|e| fail(&e))?
                .map(|t| self.table_live(&t)),
            ResourceKind::Queue => self
                .sqs
                .describe_queue(physical_id)
                .map_err(|e: SqsError| fail(&e))?
                .map(|q| self.queue_live(&q)),
            ResourceKind::Bucket => self
                .buckets
                .get(physical_id)
                .map_err(|e| fail(&e))?
                .map(|b| bucket_live(&b.name, b.versioning.is_enabled())),
            ResourceKind::Parameter => {
                let stored = self.ssm.parameter(physical_id).map_err(|e| fail(&e))?;
                // A secure parameter has no value until `param set`; it
                // exists once deploy has published its outputs.
                let published = self
                    .ssm
                    .parameter(&format!("{}/name", self.names.outputs_path(address)))
                    .map_err(|e| fail(&e))?
                    .is_some();
                match stored {
                    Some(p) => Some(Live {
                        properties: json!({"value": p.value, "secure": p.secure}),
                        outputs: Self::parameter_outputs(physical_id),
                    }),
                    None if published => Some(Live {
                        properties: json!({"value": null, "secure": true}),
                        outputs: Self::parameter_outputs(physical_id),
                    }),
                    None => None,
                }
            }
            ResourceKind::Function => return Err(failed(address, "not a stateful resource")),
        })
    }

    fn data_at_risk(
        &self,
        address: &Address,
        physical_id: &str,
    ) -> Result<DataAtRisk, ProviderError> {
        let fail = |e: &dyn std::error::Error| failed(address, chain(e));
        Ok(match address.kind {
            ResourceKind::Table => match self.dynamodb.table_size(physical_id) {
                Ok(size) => DataAtRisk {
                    items: Some(size.items),
                    bytes: Some(size.bytes),
                    ..DataAtRisk::default()
                },
                Err(TableError::NotFound { .. }) => DataAtRisk {
                    items: Some(0),
                    bytes: Some(0),
                    ..DataAtRisk::default()
                },
                Err(e) => return Err(fail(&e)),
            },
            ResourceKind::Queue => DataAtRisk {
                messages: Some(
                    self.sqs
                        .describe_queue(physical_id)
                        .map_err(|e| fail(&e))?
                        .map_or(0, |q| q.messages),
                ),
                ..DataAtRisk::default()
            },
            ResourceKind::Bucket => {
                let (objects, bytes) = self
                    .buckets
                    .usage(physical_id)
                    .map_err(|e| fail(&e))?
                    .unwrap_or((0, 0));
                DataAtRisk {
                    objects: Some(objects),
                    bytes: Some(bytes),
                    ..DataAtRisk::default()
                }
            }
            // A parameter holds one value; there is nothing to count.
            ResourceKind::Parameter | ResourceKind::Function => DataAtRisk::default(),
        })
    }
}

#[cfg(test)]
mod tests;
