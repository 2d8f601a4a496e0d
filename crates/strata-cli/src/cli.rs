//! The command line, declared once with clap. `--help` text lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Strata deploys a serverless service as two stacks: a stateful stack that
/// holds data (tables, buckets, queues, parameters) and changes only through a
/// careful plan, and a stateless stack (functions, routes, triggers) that can be
/// replaced at any time. One manifest, strata.yaml, describes both.
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory holding strata.yaml.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Stage to act on; `dev` always exists and targets local.
    #[arg(long, global = true, default_value = "dev", value_name = "STAGE")]
    pub stage: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check strata.yaml and report every problem in it, with file:line:col.
    ///
    /// Exits 0 when the manifest is valid (warnings are printed but do not
    /// fail), 1 otherwise.
    Validate {
        /// Print the result as JSON (diagnostics with file, line and column).
        #[arg(long)]
        json: bool,
    },
    /// Show the two stacks and every link between them.
    ///
    /// Links always point from a function (stateless) to a stateful resource,
    /// either through `uses` (with its access level) or through an event.
    Graph {
        /// Output format: text for people, dot for Graphviz, json for tools.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Print the JSON Schema of strata.yaml, for editors and CI.
    ///
    /// Point your editor's YAML support at it, e.g. with the first line
    /// `# yaml-language-server: $schema=<path>/strata.schema.json`.
    Schema,
    /// Write a small working service into DIR (default: the current directory).
    ///
    /// Creates strata.yaml, a Python handler and .gitignore. Refuses to
    /// overwrite an existing strata.yaml.
    Init {
        /// Directory to create the service in.
        dir: Option<PathBuf>,
        /// Service name (default: derived from the directory name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Serve the AWS-compatible endpoint alone (DynamoDB), for any client.
    ///
    /// Point an AWS SDK or the AWS CLI at it with
    /// `AWS_ENDPOINT_URL=http://127.0.0.1:4566`. Data is kept under
    /// `.strata/<stage>/data` beside strata.yaml and survives restarts.
    /// Stops on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Write both CloudFormation templates, the stack policy and the code zips of an aws stage.
    ///
    /// The output is deterministic: the same manifest and code give the same
    /// bytes. Refuses a stage whose target is not aws.
    Synth {
        /// Folder to write to (default: .strata/<stage>/synth beside strata.yaml).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port of the AWS-compatible endpoint on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 4566, value_name = "PORT")]
    pub aws_port: u16,
    /// Data directory (default: `.strata/<stage>/data` beside strata.yaml).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// What an acknowledged write survives: `process` (kill -9; SQLite WAL,
    /// synchronous=NORMAL) or `power` (power loss; an fsync per commit).
    #[arg(long, default_value = "process", value_name = "LEVEL")]
    pub durability: strata_local::Durability,
    /// Seconds between sweeps that delete items whose TTL has passed; 0 turns
    /// the background deletion off.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub ttl_sweep: u64,
}
