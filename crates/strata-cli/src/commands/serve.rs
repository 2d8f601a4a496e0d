//! `strata serve`: the AWS-compatible endpoint alone, on the stage's durable
//! data, until Ctrl-C or SIGTERM. Needs no strata.yaml: it is a local
//! DynamoDB, S3, SQS and SSM Parameter Store for any client.
//!
//! The first line on stdout is the address, with the real port when
//! `--aws-port 0` asked the OS for one; tests and scripts read it from there.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use miette::{IntoDiagnostic, Result, WrapErr};
use strata_local::dynamodb::DynamoDb;
use strata_local::dynamodb::ttl::TtlSweeper;
use strata_local::endpoint::{ServiceTable, shutdown_signal};
use strata_local::s3::S3;
use strata_local::sqs::Sqs;
use strata_local::ssm::Ssm;
use strata_local::{AccessRegistry, DataDir, Endpoint, EndpointConfig};

use crate::cli::{Global, ServeArgs};

pub fn run(g: &Global, args: &ServeArgs) -> Result<ExitCode> {
    let data_path = match &args.data {
        Some(path) => path.clone(),
        None => default_data_dir(g)?,
    };
    let data = DataDir::open(&data_path).into_diagnostic()?;
    let dynamodb = DynamoDb::open(&data, args.durability).into_diagnostic()?;
    let ttl_dynamodb = dynamodb.clone();
    let sqs = Sqs::open(&data, args.durability).into_diagnostic()?;
    let ssm = Ssm::open(&data, args.durability).into_diagnostic()?;
    let s3 = S3::open(&data, args.durability).into_diagnostic()?;
    let services = ServiceTable::new()
        .with(Arc::new(dynamodb))
        .and_then(|t| t.with(Arc::new(sqs)))
        .and_then(|t| t.with(Arc::new(ssm)))
        .and_then(|t| t.with(Arc::new(s3)))
        .into_diagnostic()?;
    let config = EndpointConfig::loopback(args.aws_port);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(async {
        let endpoint = Endpoint::bind(&config, services, Arc::new(AccessRegistry::new()))
            .await
            .map_err(|e| {
                miette::miette!(
                    help = "another `strata dev` or `strata serve` may be running; pick another port with --aws-port",
                    "{}",
                    super::local::chain(&e)
                )
            })?;
        outln!("AWS endpoint listening on http://{}", endpoint.local_addr());
        outln!(
            "data in {} (durability: {})",
            data.path().display(),
            args.durability
        );
        let sweeper = (args.ttl_sweep > 0)
            .then(|| TtlSweeper::start(&ttl_dynamodb, Duration::from_secs(args.ttl_sweep)));
        drop(ttl_dynamodb);
        let served = endpoint.serve(shutdown_signal()).await.into_diagnostic();
        // Let a sweep under way finish before the directory lock goes.
        if let Some(sweeper) = sweeper {
            sweeper.stop().await;
        }
        served
    })?;
    // Connections the drain limit cut off still hold services (and their
    // databases); end them before letting go of the directory lock. A job
    // already running on a database's thread may finish in the instant
    // before the process exits, which SQLite's own file locks keep safe.
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(data);
    Ok(ExitCode::SUCCESS)
}

/// `.strata/<stage>/data` beside the manifest.
/// `<dir>/.strata/<stage>/data`, for a stage the manifest declares (or any
/// well-formed stage name when there is no manifest: `serve` works alone too).
/// A typo must not start an empty store that looks like lost data.
fn default_data_dir(g: &Global) -> Result<PathBuf> {
    if !g.dir.is_dir() {
        return Err(miette::miette!(
            help = "pass the folder that holds strata.yaml, or `--data DIR` for a store of its own",
            "{} is not a directory",
            g.dir.display()
        ));
    }
    if g.dir.join(crate::manifest::FILE_NAME).exists() {
        crate::manifest::load(&g.dir, &g.stage)?;
    } else if !strata_model::StageName::is_valid(&g.stage) {
        return Err(miette::miette!(
            help = "a stage name is lowercase letters, digits and `-`, starting with a letter",
            "`{}` is not a stage name",
            g.stage
        ));
    }
    Ok(g.dir.join(".strata").join(&g.stage).join("data"))
}
