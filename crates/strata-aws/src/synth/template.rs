//! A CloudFormation template under construction, and its rendering.
//!
//! Every logical id goes through `add_*`, which refuses a second use of an
//! id (parameters and resources share one namespace in CloudFormation). The
//! rendering sorts every object's keys, so the bytes depend on the content
//! alone: the workspace builds serde_json with `preserve_order`, which would
//! otherwise keep insertion order.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::SynthError;

/// CloudFormation quotas a template must fit, checked before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Resources,
    Outputs,
    Parameters,
    TemplateBytes,
}

impl Limit {
    pub fn max(self) -> usize {
        match self {
            Self::Resources => 500,
            Self::Outputs => 200,
            Self::Parameters => 200,
            // The quota reads "1 MB" for a template in S3; we take the lower,
            // decimal reading so that no template we accept is refused.
            Self::TemplateBytes => 1_000_000,
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Self::Resources => "resources",
            Self::Outputs => "outputs",
            Self::Parameters => "parameters",
            Self::TemplateBytes => "bytes of template body",
        }
    }
}

/// A template body sent inline with the API call may be at most this long;
/// a larger one must be uploaded to S3 first and passed by URL.
pub const DIRECT_UPLOAD_MAX_BYTES: usize = 51_200;

#[derive(Debug)]
pub struct Template {
    stack: String,
    description: String,
    metadata: Value,
    parameters: BTreeMap<String, Value>,
    resources: BTreeMap<String, Value>,
    outputs: BTreeMap<String, Value>,
}

impl Template {
    pub fn new(stack: String, description: String, metadata: Value) -> Self {
        Self {
            stack,
            description,
            metadata,
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    fn claim(&self, id: &str) -> Result<(), SynthError> {
        if self.parameters.contains_key(id) || self.resources.contains_key(id) {
            return Err(SynthError::DuplicateLogicalId {
                stack: self.stack.clone(),
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    /// Adds a resource; `body` holds `Type`, `Properties` and any policies.
    pub fn add_resource(&mut self, id: impl Into<String>, body: Value) -> Result<(), SynthError> {
        let id = id.into();
        self.claim(&id)?;
        self.resources.insert(id, body);
        Ok(())
    }

    pub fn add_parameter(&mut self, id: impl Into<String>, body: Value) -> Result<(), SynthError> {
        let id = id.into();
        self.claim(&id)?;
        self.parameters.insert(id, body);
        Ok(())
    }

    pub fn has_parameter(&self, id: &str) -> bool {
        self.parameters.contains_key(id)
    }

    pub fn add_output(&mut self, id: impl Into<String>, body: Value) -> Result<(), SynthError> {
        let id = id.into();
        if self.outputs.contains_key(&id) {
            return Err(SynthError::DuplicateLogicalId {
                stack: self.stack.clone(),
                id,
            });
        }
        self.outputs.insert(id, body);
        Ok(())
    }

    fn to_value(&self) -> Value {
        let mut t = Map::new();
        t.insert("AWSTemplateFormatVersion".into(), json!("2010-09-09"));
        t.insert("Description".into(), json!(self.description));
        t.insert("Metadata".into(), self.metadata.clone());
        let section = |m: &BTreeMap<String, Value>| {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        };
        if !self.parameters.is_empty() {
            t.insert("Parameters".into(), section(&self.parameters));
        }
        t.insert("Resources".into(), section(&self.resources));
        if !self.outputs.is_empty() {
            t.insert("Outputs".into(), section(&self.outputs));
        }
        sorted(Value::Object(t))
    }

    /// Checks the quotas and renders the template as people read it
    /// (pretty JSON, sorted keys, final newline).
    pub fn render(&self) -> Result<Rendered, SynthError> {
        let counts = [
            (Limit::Resources, self.resources.len()),
            (Limit::Outputs, self.outputs.len()),
            (Limit::Parameters, self.parameters.len()),
        ];
        for (limit, actual) in counts {
            self.check(limit, actual)?;
        }
        let value = self.to_value();
        // Quotas apply to what is sent; deploy sends the compact form.
        let compact = serde_json::to_string(&value).expect("a JSON value always serializes");
        self.check(Limit::TemplateBytes, compact.len())?;
        let mut pretty =
            serde_json::to_string_pretty(&value).expect("a JSON value always serializes");
        pretty.push('\n');
        Ok(Rendered {
            body: pretty,
            compact_len: compact.len(),
        })
    }

    fn check(&self, limit: Limit, actual: usize) -> Result<(), SynthError> {
        if actual > limit.max() {
            return Err(SynthError::Limit {
                stack: self.stack.clone(),
                limit,
                actual,
            });
        }
        Ok(())
    }
}

/// A rendered template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Pretty JSON, as written to disk.
    pub body: String,
    /// Length of the compact form, the one deploy sends.
    pub compact_len: usize,
}

impl Rendered {
    /// Whether the template must go through S3 rather than inline.
    pub fn needs_upload(&self) -> bool {
        self.compact_len > DIRECT_UPLOAD_MAX_BYTES
    }
}

/// The value with every object's keys in byte order, recursively. Arrays keep
/// their order: it carries meaning (key schema, statements) and the builders
/// produce it deterministically.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `{"Ref": id}`.
pub fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`.
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// `{"Fn::Sub": text}`.
pub fn sub(text: impl Into<String>) -> Value {
    json!({ "Fn::Sub": text.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = sorted(json!({ "b": { "z": 1, "a": [ { "y": 1, "x": 2 } ] }, "a": 0 }));
        assert_eq!(
            serde_json::to_string(&v).expect("serializes"),
            r#"{"a":0,"b":{"a":[{"x":2,"y":1}],"z":1}}"#
        );
    }

    #[test]
    fn a_logical_id_is_used_once_across_parameters_and_resources() {
        let mut t = Template::new("s".into(), "d".into(), json!({}));
        t.add_parameter("X", json!({})).expect("first");
        let err = t.add_resource("X", json!({})).expect_err("second");
        assert!(matches!(err, SynthError::DuplicateLogicalId { ref id, .. } if id == "X"));
    }

    #[test]
    fn too_many_resources_names_the_limit() {
        let mut t = Template::new("svc-prod-stateless".into(), "d".into(), json!({}));
        for i in 0..=Limit::Resources.max() {
            t.add_resource(format!("R{i}"), json!({ "Type": "AWS::SQS::Queue" }))
                .expect("unique");
        }
        let err = t.render().expect_err("over the quota");
        assert_eq!(
            err.to_string(),
            "stack svc-prod-stateless has 501 resources; CloudFormation allows at most 500 per template"
        );
    }

    #[test]
    fn a_large_template_needs_an_upload_and_a_huge_one_is_refused() {
        let mut t = Template::new("s".into(), "d".into(), json!({}));
        let big = "x".repeat(4_000);
        for i in 0..20 {
            t.add_resource(
                format!("R{i}"),
                json!({ "Type": "T", "Metadata": { "m": big } }),
            )
            .expect("unique");
        }
        let r = t.render().expect("under 1 MB");
        assert!(r.needs_upload());
        for i in 20..300 {
            t.add_resource(
                format!("R{i}"),
                json!({ "Type": "T", "Metadata": { "m": big } }),
            )
            .expect("unique");
        }
        let err = t.render().expect_err("over 1 MB");
        assert!(matches!(
            err,
            SynthError::Limit {
                limit: Limit::TemplateBytes,
                ..
            }
        ));
    }
}
