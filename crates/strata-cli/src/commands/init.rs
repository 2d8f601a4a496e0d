//! `strata init`: a small service that validates and runs as it is.

use std::path::Path;
use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, WrapErr, miette};

use crate::manifest::FILE_NAME;

const HANDLER: &str = r#""""Items API: store and fetch JSON items in the Items table."""

import base64
import json
import os
import uuid
from decimal import Decimal, DecimalException

import boto3
from botocore.exceptions import ClientError

# AWS_ENDPOINT_URL, credentials and region come from the environment, on AWS
# and on the local target alike; ITEMS_TABLE is injected by `uses`.
table = boto3.resource("dynamodb").Table(os.environ["ITEMS_TABLE"])


def _json_default(value):
    # DynamoDB numbers come back as Decimal: whole ones as int, others as float.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _response(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, default=_json_default),
    }


def _body(event):
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    # Decimal, not float: DynamoDB stores exact numbers and refuses floats.
    return json.loads(body, parse_float=Decimal)


def create(event, context):
    try:
        item = _body(event)
    except (ValueError, UnicodeDecodeError):
        return _response(400, {"error": "body must be JSON"})
    if not isinstance(item, dict):
        return _response(400, {"error": "body must be a JSON object"})
    item["id"] = str(uuid.uuid4())
    try:
        table.put_item(Item=item)
    except DecimalException:
        return _response(400, {"error": "numbers must fit in 38 significant digits"})
    except ClientError as e:
        if e.response["Error"]["Code"] != "ValidationException":
            raise
        return _response(400, {"error": e.response["Error"]["Message"]})
    return _response(201, item)


def get(event, context):
    item_id = event["pathParameters"]["id"]
    found = table.get_item(Key={"id": item_id}).get("Item")
    if found is None:
        return _response(404, {"error": f"no item {item_id}"})
    return _response(200, found)
"#;

pub fn run(dir: &Path, name: Option<&str>) -> Result<ExitCode> {
    let manifest = dir.join(FILE_NAME);
    if manifest.exists() {
        return Err(miette!(
            help = "edit it, or run `strata init` in an empty directory",
            "{} already exists; nothing was written",
            manifest.display()
        ));
    }
    let service = match name {
        Some(n) => n.to_owned(),
        None => service_name(dir),
    };
    let handler = dir.join("src").join("app.py");
    if handler.exists() {
        return Err(miette!(
            help = "run `strata init` in a new folder, or write strata.yaml by hand (`strata schema` describes it)",
            "{} already exists; nothing was written",
            handler.display()
        ));
    }
    let yaml = format!(
        "# For editor completion: `strata schema > strata.schema.json`, then add the line\n\
         # `# yaml-language-server: $schema=strata.schema.json` at the top of this file.\n\
         service: {service}\n\
         \n\
         # Data: changed only through a plan, never deleted by accident.\n\
         stateful:\n  tables:\n    Items: {{ partition_key: id:S }}\n\
         \n\
         # Code: redeployed, rolled back or thrown away freely.\n\
         stateless:\n  defaults: {{ runtime: python3.12, code: src, memory: 256, timeout: 10 }}\n  functions:\n\
         \x20   createItem:\n      handler: app.create\n      uses: {{ Items: read_write }}\n      events: [ {{ http: POST /items }} ]\n\
         \x20   getItem:\n      handler: app.get\n      uses: {{ Items: read }}\n      events: [ {{ http: \"GET /items/{{id}}\" }} ]\n"
    );
    // Check what we are about to write, so a bad --name fails before any file exists.
    if let Err(diags) = strata_model::check_str(&yaml, &Scaffold) {
        let problems: Vec<String> = diags.errors().map(|d| d.problem.to_string()).collect();
        let help = diags
            .errors()
            .find_map(|d| d.help.clone())
            .unwrap_or_default();
        return Err(miette!(
            help = help,
            "cannot scaffold this service: {}; nothing was written",
            problems.join("; ")
        ));
    }
    std::fs::create_dir_all(dir.join("src"))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&handler, HANDLER)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", handler.display()))?;
    std::fs::write(&manifest, yaml)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", manifest.display()))?;
    // Local data and state live in .strata/; they must never be committed.
    let ignore = dir.join(".gitignore");
    let existing = std::fs::read_to_string(&ignore).unwrap_or_default();
    if !existing
        .lines()
        .any(|l| matches!(l.trim(), ".strata" | ".strata/" | "/.strata" | "/.strata/"))
    {
        let separator = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        std::fs::write(&ignore, format!("{existing}{separator}.strata/\n")).into_diagnostic()?;
    }
    outln!(
        "created {} (service {service}) and {}",
        manifest.display(),
        handler.display()
    );
    outln!(
        "next: strata validate --dir {0} && strata graph --dir {0}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The files `init` writes, as validation sees them before they exist.
struct Scaffold;

impl strata_model::CodeTree for Scaffold {
    fn is_dir(&self, path: &str) -> bool {
        path == "src"
    }

    fn is_file(&self, path: &str) -> bool {
        path == "src/app.py"
    }
}

/// A valid service name from a directory name: `My Service_2` -> `my-service-2`.
fn service_name(dir: &Path) -> String {
    let base = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut name = String::new();
    for c in base.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let name: String = name.chars().take(40).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "my-service".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::service_name;
    use std::path::Path;

    #[test]
    fn names_from_directories() {
        assert_eq!(service_name(Path::new("/tmp/My Service_2")), "my-service-2");
        assert_eq!(service_name(Path::new("/tmp/123")), "my-service");
        assert_eq!(service_name(Path::new("/tmp/orders")), "orders");
    }
}
