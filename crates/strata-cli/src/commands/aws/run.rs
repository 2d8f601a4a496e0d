//! The aws commands over the AWS SDK: connect (credential chain, the stage's
//! region, `--endpoint-url`), run `strata_aws::deploy` on a current-thread
//! runtime, print its progress, and map the outcome to the exit codes.
//! `drift` and `outputs` only read.

use std::cell::RefCell;
use std::path::Path;
use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, miette};
use strata_aws::deploy::cloud::{Cloud, CloudError};
use strata_aws::deploy::{
    self, DeployError, DeployOutcome, Note, Observer, StackPlan, Stacks, Target,
};
use strata_aws::sdk::{self, ConnectError, SdkCloud};
use strata_model::Service;

use super::text;
use crate::cli::{DeployArgs, DestroyArgs, DriftArgs, Global, PlanArgs, StackArg};
use crate::commands::local;
use crate::commands::plan::{CHANGES, REFUSED};
use crate::commands::plan_text;
use crate::manifest;
use crate::report::plural;

/// The manifest, its directory and the connected SDK.
struct Aws {
    service: Service,
    root: std::path::PathBuf,
    cloud: SdkCloud,
    runtime: tokio::runtime::Runtime,
}

impl Aws {
    fn open(g: &Global, endpoint_url: Option<&str>) -> Result<Self> {
        let (manifest, service) = manifest::load(&g.dir, &g.stage)?;
        let region = manifest::stage_of(&service, &g.stage)?.region.clone();
        let root = manifest
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .into_diagnostic()?;
        let cloud = runtime
            .block_on(sdk::connect(region.as_deref(), endpoint_url))
            .map_err(|e| match e {
                ConnectError::NoRegion => miette!(
                    help = format!(
                        "declare it on the stage (`{}: {{ target: aws, region: eu-west-1 }}`) or set AWS_REGION",
                        g.stage
                    ),
                    "{e}"
                ),
            })?;
        Ok(Self {
            service,
            root,
            cloud,
            runtime,
        })
    }

    fn target<'a>(&'a self, g: &'a Global) -> Target<'a> {
        Target {
            service: &self.service,
            stage: &g.stage,
            root: &self.root,
        }
    }
}

/// Prints progress (on stderr when stdout carries JSON) and asks before each
/// change set runs unless `--yes`.
struct Console {
    json: bool,
    yes: bool,
    /// `plan` prints the plans itself, at the end.
    plans_at_end: bool,
    /// A question that could not be asked (no terminal), raised after the run.
    failed_prompt: RefCell<Option<miette::Report>>,
}

impl Console {
    fn line(&self, text: &str) {
        if self.json {
            errln!("{text}");
        } else {
            outln!("{text}");
        }
    }
}

impl Observer for Console {
    fn note(&mut self, note: Note<'_>) {
        if self.plans_at_end && matches!(note, Note::Plan(_) | Note::NoChanges { .. }) {
            return;
        }
        if let Some(line) = text::note(&note) {
            self.line(&line);
        }
    }

    fn approve(&mut self, plan: &StackPlan) -> bool {
        if self.yes {
            return true;
        }
        match local::confirm(&format!("Execute this change set on {}?", plan.stack)) {
            Ok(yes) => yes,
            Err(e) => {
                *self.failed_prompt.borrow_mut() = Some(e);
                false
            }
        }
    }
}

/// The command the refusal advises, with the endpoint when one was given.
fn advice(g: &Global, endpoint_url: Option<&str>) -> (String, String) {
    let prefix = local::prefix(g);
    let command = match endpoint_url {
        Some(url) => format!("deploy --endpoint-url {url}"),
        None => "deploy".to_owned(),
    };
    (prefix, command)
}

/// A deploy error as a report with the fix.
fn report(err: DeployError) -> miette::Report {
    let help: Option<String> = match &err {
        DeployError::Synth(_) => {
            if let DeployError::Synth(e) = err {
                return crate::commands::synth::to_report(*e);
            }
            None
        }
        DeployError::Cloud { source, .. } => Some(match source {
            CloudError::NoCredentials { .. } => "give the AWS credential chain credentials: AWS_PROFILE (after `aws configure` or `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; against a local endpoint any values do (AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)".to_owned(),
            CloudError::Unreachable { .. } => "check --endpoint-url (or AWS_ENDPOINT_URL) and the network: is the endpoint running and listening there?".to_owned(),
            CloudError::Rejected { code, .. }
                if matches!(code.as_str(), "InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken" | "UnrecognizedClientException" | "AccessDenied" | "AccessDeniedException") =>
            {
                "the credentials were refused: check AWS_PROFILE or the keys in the environment, or log in again (`aws sso login`)".to_owned()
            }
            CloudError::NotImplemented { .. } => "the endpoint lacks this operation; against AWS itself it exists".to_owned(),
            _ => "the message above is AWS's; the next `strata deploy` starts from what exists".to_owned(),
        }),
        DeployError::ChangeSetRejected { .. } => Some(
            "CloudFormation refused the template itself: `strata synth --stage STAGE` writes it for a look, and cfn-lint finds most causes; nothing was changed".to_owned(),
        ),
        DeployError::StackFailed { failures, .. } => Some(format!(
            "the stack rolled back to what it was; fix the cause and deploy again\n{}",
            text::failures(failures).trim_end()
        )),
        DeployError::StackStuck { stack, status, .. } => Some(match status.as_str() {
            "UPDATE_ROLLBACK_FAILED" => format!(
                "let CloudFormation finish the rollback (`aws cloudformation continue-update-rollback --stack-name {stack}`), then deploy again"
            ),
            "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => format!(
                "its first creation failed and rolled back; resources with DeletionPolicy Retain were kept. Delete the stack (`aws cloudformation delete-stack --stack-name {stack}`), check what it kept, then deploy again"
            ),
            _ => format!(
                "delete it again from the console or with `aws cloudformation delete-stack --stack-name {stack}`, then deploy again"
            ),
        }),
        DeployError::Timeout { .. } => Some(
            "the operation goes on in AWS; the next `strata deploy` waits for it to finish".to_owned(),
        ),
        DeployError::NeedsBootstrap { .. } => Some(
            "run `strata deploy` once: it creates the artifact bucket (stack strata-bootstrap) first".to_owned(),
        ),
        DeployError::NoBootstrapBucket { stack, .. } => Some(format!(
            "the stack {stack} was changed outside Strata; delete it (its bucket is kept) and deploy again"
        )),
    };
    let mut text = err.to_string();
    if let DeployError::StackFailed { stack, status, .. } = &err {
        text = format!("{stack} ended in {status}");
    }
    match help {
        Some(help) => miette!(help = help, "{text}"),
        None => miette!("{text}"),
    }
}

/// Which stacks `--stack` selects; aws stages default to both.
fn stacks(stack: Option<StackArg>) -> Stacks {
    match stack {
        None | Some(StackArg::All) => Stacks::BOTH,
        Some(StackArg::Stateful) => Stacks {
            stateful: true,
            stateless: false,
        },
        Some(StackArg::Stateless) => Stacks {
            stateful: false,
            stateless: true,
        },
    }
}

pub fn deploy(g: &Global, args: &DeployArgs) -> Result<ExitCode> {
    let allow = local::allow_destroy(&args.allow_destroy)?;
    let aws = Aws::open(g, args.endpoint_url.as_deref())?;
    let mut console = Console {
        json: args.json,
        yes: args.yes,
        plans_at_end: false,
        failed_prompt: RefCell::new(None),
    };
    let outcome = aws.runtime.block_on(deploy::deploy(
        &aws.cloud,
        aws.target(g),
        stacks(args.stack),
        &allow,
        &mut console,
    ));
    if let Some(e) = console.failed_prompt.take() {
        return Err(e);
    }
    match outcome.map_err(report)? {
        DeployOutcome::Done(results) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "stacks": results }))
                        .expect("results serialize")
                );
            } else {
                let changed = results.iter().filter(|r| r.changed).count();
                outln!(
                    "\nDeployed stage {}: {} of {} stacks changed.",
                    g.stage,
                    changed,
                    results.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DeployOutcome::Refused(plan) => {
            let (prefix, command) = advice(g, args.endpoint_url.as_deref());
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "refused": plan }))
                        .expect("plans serialize")
                );
            } else {
                err!("{}", text::plan(&plan));
            }
            err!(
                "\n{}",
                plan_text::refusal(&plan.refusals, &prefix, &command)
            );
            Ok(ExitCode::from(REFUSED))
        }
        DeployOutcome::Declined { stack, .. } => {
            outln!("Nothing was changed in {stack} (its change set was deleted).");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn plan(g: &Global, args: &PlanArgs) -> Result<ExitCode> {
    let aws = Aws::open(g, args.endpoint_url.as_deref())?;
    let mut console = Console {
        json: args.json,
        yes: true,
        plans_at_end: true,
        failed_prompt: RefCell::new(None),
    };
    let plans = aws
        .runtime
        .block_on(deploy::plan(
            &aws.cloud,
            aws.target(g),
            &strata_engine::AllowDestroy::default(),
            &mut console,
        ))
        .map_err(report)?;
    let selected = stacks(args.stack);
    let plans: Vec<StackPlan> = plans
        .into_iter()
        .filter(|p| match p.role {
            deploy::Role::Stateful => selected.stateful,
            deploy::Role::Stateless => selected.stateless,
            deploy::Role::Bootstrap => true,
        })
        .collect();
    let refusals: Vec<_> = plans.iter().flat_map(|p| p.refusals.clone()).collect();
    let changes = plans.iter().any(StackPlan::has_changes);
    if args.json {
        let value = serde_json::json!({
            "stage": g.stage,
            "target": "aws",
            "stacks": plans,
            "refusals": refusals,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("plans serialize")
        );
    } else {
        for p in &plans {
            outln!("{}", text::plan(p).trim_end());
        }
        if !refusals.is_empty() {
            let (prefix, command) = advice(g, args.endpoint_url.as_deref());
            err!("\n{}", plan_text::refusal(&refusals, &prefix, &command));
        }
    }
    Ok(if !refusals.is_empty() {
        ExitCode::from(REFUSED)
    } else if args.detailed_exitcode && changes {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn destroy(g: &Global, args: &DestroyArgs) -> Result<ExitCode> {
    if args.stack != StackArg::Stateless {
        return Err(miette!(
            help = "`strata destroy --stack stateless` deletes the functions and their events; data resources are deleted outside Strata on aws",
            "on aws stages only the stateless stack can be destroyed: the stateful stack has termination protection and keeps its data (DeletionPolicy Retain)"
        ));
    }
    let aws = Aws::open(g, args.endpoint_url.as_deref())?;
    let mut console = Console {
        json: false,
        yes: true,
        plans_at_end: false,
        failed_prompt: RefCell::new(None),
    };
    let stack = strata_aws::synth::Names {
        service: aws.service.name.as_str(),
        stage: &g.stage,
    }
    .stack(strata_model::StackKind::Stateless);
    if !args.yes
        && !local::confirm(&format!(
            "Delete the stack {stack} (functions, routes, triggers; no data)?"
        ))?
    {
        outln!("Nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    let deleted = aws
        .runtime
        .block_on(deploy::destroy_stateless(
            &aws.cloud,
            aws.target(g),
            &mut console,
        ))
        .map_err(report)?;
    if deleted {
        outln!(
            "\nDestroyed the stateless stack {stack}; the stateful stack and its data are untouched."
        );
    } else {
        outln!("{stack} does not exist; nothing to destroy.");
    }
    Ok(ExitCode::SUCCESS)
}

/// The stateful stack's name, for messages.
fn stateful_stack(aws: &Aws, g: &Global) -> String {
    strata_aws::synth::Names {
        service: aws.service.name.as_str(),
        stage: &g.stage,
    }
    .stack(strata_model::StackKind::Stateful)
}

pub fn outputs(g: &Global, json: bool, endpoint_url: Option<&str>) -> Result<ExitCode> {
    let aws = Aws::open(g, endpoint_url)?;
    let outputs = aws
        .runtime
        .block_on(deploy::outputs(
            &aws.cloud,
            aws.service.name.as_str(),
            &g.stage,
        ))
        .map_err(report)?;
    let outputs = outputs.unwrap_or_default();
    if json {
        let mut by_address: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        for o in &outputs {
            let entry = by_address
                .entry(o.address.to_string())
                .or_insert_with(|| serde_json::json!({}));
            entry[o.attr.as_str()] = serde_json::json!(o.value);
        }
        outln!(
            "{}",
            serde_json::to_string_pretty(&by_address).expect("a JSON value serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if outputs.is_empty() {
        outln!(
            "Nothing is deployed in stage {} ({} does not exist); run `{} deploy` first.",
            g.stage,
            stateful_stack(&aws, g),
            local::prefix(g)
        );
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", text::outputs(&outputs));
    Ok(ExitCode::SUCCESS)
}

pub fn drift(g: &Global, args: &DriftArgs) -> Result<ExitCode> {
    let aws = Aws::open(g, args.endpoint_url.as_deref())?;
    let stack = stateful_stack(&aws, g);
    let outcome = aws.runtime.block_on(deploy::drift(
        &aws.cloud,
        aws.service.name.as_str(),
        &g.stage,
    ));
    let report = match outcome {
        Ok(Some(report)) => report,
        Ok(None) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "stack": stack, "deployed": false, "checked": 0,
                        "drift": [], "published": [], "not_checked": [],
                    }))
                    .expect("a JSON value serializes")
                );
            } else {
                outln!(
                    "Nothing is deployed in stage {} ({stack} does not exist); nothing can have drifted.",
                    g.stage
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        // moto and most emulators: one clear line, not the SDK's error.
        Err(DeployError::Cloud {
            source: CloudError::NotImplemented { operation, .. },
            ..
        }) => {
            return Err(miette!(
                "the endpoint {} does not support CloudFormation drift detection ({operation} is not implemented there)",
                aws.cloud.endpoint(),
            ));
        }
        Err(e) => return Err(report(e)),
    };
    if args.json {
        let mut value = serde_json::to_value(&report).expect("a drift report serializes");
        value["deployed"] = serde_json::json!(true);
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("a JSON value serializes")
        );
    } else {
        if let Some(reason) = &report.incomplete {
            errln!(
                "warning: drift detection of {stack} ended in DETECTION_FAILED ({reason}); what it checked is shown"
            );
        }
        if !report.not_checked.is_empty() {
            errln!(
                "note: CloudFormation did not check {}: {}",
                plural(report.not_checked.len(), "resource"),
                report.not_checked.join(", ")
            );
        }
        let drifted = report.drift.len() + report.published.len();
        if drifted == 0 {
            outln!(
                "No drift: {} of the stateful stack {stack} of stage {} {} as the last deploy left {} (CloudFormation drift detection).",
                plural(report.checked, "resource"),
                g.stage,
                if report.checked == 1 { "is" } else { "are" },
                if report.checked == 1 { "it" } else { "them" },
            );
        } else {
            out!(
                "Stateful stack {stack} of stage {}:\n\n{}\n",
                g.stage,
                text::drift(&report)
            );
            outln!(
                "{drifted} of {} drifted (CloudFormation drift detection). A deploy does not put them back: CloudFormation changes only what the template changes. Put them back by hand; CloudFormation's own view:\n      aws cloudformation describe-stack-resource-drifts --stack-name {stack} --stack-resource-drift-status-filters MODIFIED DELETED",
                plural(report.checked, "resource"),
            );
        }
    }
    Ok(if args.detailed_exitcode && report.has_drift() {
        ExitCode::from(CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}
