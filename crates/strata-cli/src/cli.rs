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

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Directory holding strata.yaml.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Stage to act on; `dev` always exists and targets local.
    #[arg(long, global = true, default_value = "dev", value_name = "STAGE")]
    pub stage: String,
    /// Refuse to run unless the stage targets this (a guard for scripts and
    /// CI: `--stage prod --target aws` never acts on a local stage).
    #[arg(long, global = true, value_enum, value_name = "TARGET")]
    pub target: Option<TargetArg>,
}

/// Where a stage lives, as `--target` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    Local,
    Aws,
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
    /// Serve the AWS-compatible endpoint alone (DynamoDB, S3, SQS, SSM), for any client.
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
    /// Show what `deploy` would change, without changing anything.
    ///
    /// Each stateful resource gets `+` (create or adopt), `~` (update in
    /// place), `-/+` (replace: its data goes), `-` (delete) or `retain`
    /// (leaves the state, data kept); each function `+`, `~` or `-` against
    /// the current release. Exits 0, 1 on error, 2 with --detailed-exitcode
    /// when there are changes, and 3 when deploy would be refused by the
    /// safety rules.
    Plan(PlanArgs),
    /// Apply the plan: create, change, retain or (when allowed) destroy.
    ///
    /// A replacement or deletion of a stateful resource is refused (exit 3)
    /// unless its address is named with --allow-destroy; asks before
    /// changing it unless --yes. The stateless stack of a local stage is
    /// swapped into the running `strata dev`, or packaged and recorded as a
    /// release for it to serve.
    Deploy(DeployArgs),
    /// Delete the resources named with --allow-destroy, and their data.
    ///
    /// `--allow-destroy all` deletes every resource of the stack. Asks first
    /// unless --yes.
    Destroy(DestroyArgs),
    /// Compare the stateful stack's state with what really exists.
    ///
    /// Names every resource changed or deleted outside Strata, property by
    /// property. Changes nothing; on local stages `plan --refresh` and
    /// `deploy --refresh` put back what strata.yaml says. On aws stages it
    /// runs CloudFormation's drift detection on the stateful stack. Exits 0,
    /// or 2 with --detailed-exitcode when something drifted.
    Drift(DriftArgs),
    /// The releases of the stateless stack, newest first (the last 10 are kept).
    ///
    /// Each line shows what the release changed from the one before it; `*`
    /// marks the current one.
    Releases {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Go back to an earlier release of the stateless stack.
    ///
    /// Only functions, routes and triggers change; the stateful stack and its
    /// data are never touched. On a local stage the running `strata dev`
    /// swaps the release in.
    Rollback {
        /// The release to go back to (default: the one before the current).
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
    },
    /// The published outputs of the stateful stack (name, arn, url, stream_arn).
    Outputs {
        /// Print them as JSON, by address.
        #[arg(long)]
        json: bool,
        /// aws stages: send every AWS call to this endpoint instead of AWS's.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
    },
    /// Work on the state of a stage.
    #[command(subcommand)]
    State(StateCommand),
    /// Release a lock left by a process that died. Refuses while the holder runs.
    Unlock {
        /// The stack whose lock to release.
        #[arg(long, value_enum, default_value_t = StackArg::Stateful)]
        stack: StackArg,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Set values of parameters.
    #[command(subcommand)]
    Param(ParamCommand),
    /// Run the whole service locally: deploy, serve, watch and hot-swap.
    ///
    /// Deploys the stateful stack (destructive changes are refused and
    /// reported, the rest runs), serves the AWS-compatible endpoint and the
    /// HTTP routes, runs every function as a Lambda Runtime API worker, and
    /// swaps in a new release whenever the code or strata.yaml changes.
    /// Ctrl-C stops it; the data stays in `.strata/<stage>/data`.
    Dev(DevArgs),
    /// Run one function with an event and print its result.
    ///
    /// Talks to a running `strata dev` of the stage when there is one,
    /// otherwise starts the function alone for this call. Exits 1 when the
    /// function fails, printing its error document.
    Invoke(InvokeArgs),
    /// Print what functions wrote (kept by `strata dev` and `strata invoke`).
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Port of the HTTP API on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 3000, value_name = "PORT")]
    pub port: u16,
    /// Port of the AWS-compatible endpoint on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 4566, value_name = "PORT")]
    pub aws_port: u16,
    /// Workers each function may run at once.
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function, as named in strata.yaml.
    pub function: String,
    /// JSON event: a file, or `-` for standard input (default: `{}`).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this function (default: all).
    pub function: Option<String>,
    /// Keep printing new lines as they arrive.
    #[arg(long, short)]
    pub follow: bool,
}

/// Which stack a command acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StackArg {
    Stateful,
    Stateless,
    All,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The stack to plan: local stages plan `stateful` by default (their
    /// functions run in `strata dev`); aws stages plan both by default.
    #[arg(long, value_enum)]
    pub stack: Option<StackArg>,
    /// Print the plan as JSON for tools.
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when the plan has changes (0 when it has none).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read every stateful resource from the target first and plan against
    /// what really exists (changes made outside Strata are shown as drift).
    #[arg(long)]
    pub refresh: bool,
    /// aws stages: send every AWS call to this endpoint (a moto server, for
    /// instance) instead of AWS's; `AWS_ENDPOINT_URL` does the same.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Print what drifted as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 2 when something drifted (0 when nothing did).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// aws stages: send every AWS call to this endpoint instead of AWS's
    /// (drift detection needs one that implements DetectStackDrift).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The stack to deploy: local stages deploy `stateful` by default (their
    /// functions run in `strata dev`); aws stages deploy both by default,
    /// stateful first.
    #[arg(long, value_enum)]
    pub stack: Option<StackArg>,
    /// Allow this address to be replaced or deleted, losing its data
    /// (e.g. `table/Orders`). Repeat for more.
    #[arg(long = "allow-destroy", value_name = "ADDR")]
    pub allow_destroy: Vec<String>,
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
    /// Plan against what really exists, as `plan --refresh` does: what was
    /// changed outside Strata is put back, what vanished is created again.
    #[arg(long)]
    pub refresh: bool,
    /// Print the outcome as JSON for tools.
    #[arg(long)]
    pub json: bool,
    /// aws stages: send every AWS call to this endpoint (a moto server, for
    /// instance) instead of AWS's; `AWS_ENDPOINT_URL` does the same.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The stack to destroy: `stateless` (functions, routes and triggers; no
    /// data involved) or `stateful` (with --allow-destroy).
    #[arg(long, value_enum)]
    pub stack: StackArg,
    /// An address to delete with its data, or `all`. Repeat for more.
    /// Required for the stateful stack.
    #[arg(long = "allow-destroy", value_name = "ADDR")]
    pub allow_destroy: Vec<String>,
    /// Delete without asking.
    #[arg(long)]
    pub yes: bool,
    /// aws stages: send every AWS call to this endpoint instead of AWS's.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Rename an address in state, keeping the real resource and its data.
    ///
    /// Use it after renaming a block in strata.yaml (the plan suggests it).
    Mv {
        /// The address in state now, e.g. `table/Orders`.
        old: String,
        /// The address in strata.yaml now, e.g. `table/Purchases`.
        new: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ParamCommand {
    /// Set the value of a parameter declared in strata.yaml.
    ///
    /// Secure parameters are stored encrypted and never printed. VALUE `-`
    /// reads it from stdin (keeps it out of the shell's history).
    Set {
        /// The parameter's name in strata.yaml, e.g. `PaymentKey`.
        name: String,
        /// The value, or `-` to read it from stdin.
        value: String,
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
