//! Lambda runtimes Strata runs, and the handler form each one takes.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Python,
    Node,
    /// An executable `bootstrap` (e.g. Rust on the `lambda_runtime` crate).
    Provided,
}

/// A runtime identifier as AWS Lambda names it (`python3.12`, `nodejs22.x`,
/// `provided.al2023`). `provided` is accepted as `provided.al2023`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct Runtime {
    id: &'static str,
    language: Language,
}

/// Runtimes AWS Lambda supports for new functions (late 2026).
const SUPPORTED: &[(&str, Language)] = &[
    ("python3.10", Language::Python),
    ("python3.11", Language::Python),
    ("python3.12", Language::Python),
    ("python3.13", Language::Python),
    ("python3.14", Language::Python),
    ("nodejs20.x", Language::Node),
    ("nodejs22.x", Language::Node),
    ("nodejs24.x", Language::Node),
    ("provided.al2023", Language::Provided),
    ("provided.al2", Language::Provided),
];

/// Runtimes Lambda no longer accepts for new functions, with what replaces them.
const DEPRECATED: &[(&str, &str)] = &[
    ("python3.9", "python3.13"),
    ("python3.8", "python3.13"),
    ("python3.7", "python3.13"),
    ("nodejs18.x", "nodejs22.x"),
    ("nodejs16.x", "nodejs22.x"),
    ("nodejs14.x", "nodejs22.x"),
    ("go1.x", "provided.al2023"),
    ("provided.al1", "provided.al2023"),
];

#[derive(Debug)]
pub enum RuntimeError {
    Unknown { suggestion: Option<&'static str> },
    Deprecated { replacement: &'static str },
}

impl Runtime {
    pub const NAMES: &'static [&'static str] = &[
        "python3.10",
        "python3.11",
        "python3.12",
        "python3.13",
        "python3.14",
        "nodejs20.x",
        "nodejs22.x",
        "nodejs24.x",
        "provided",
        "provided.al2023",
        "provided.al2",
    ];

    pub fn parse(text: &str) -> Result<Self, RuntimeError> {
        let text = if text == "provided" {
            "provided.al2023"
        } else {
            text
        };
        if let Some((id, language)) = SUPPORTED.iter().find(|(id, _)| *id == text) {
            return Ok(Self {
                id,
                language: *language,
            });
        }
        if let Some((_, replacement)) = DEPRECATED.iter().find(|(id, _)| *id == text) {
            return Err(RuntimeError::Deprecated { replacement });
        }
        // `nodejs22` and `python312` are common slips.
        let suggestion = crate::diagnostic::did_you_mean(text, Self::NAMES.iter().copied());
        Err(RuntimeError::Unknown { suggestion })
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// Whether `handler` has the form this runtime loads, e.g. `module.function`.
    pub fn handler_form_ok(&self, handler: &str) -> bool {
        let ident = |s: &str| {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        };
        match self.language {
            Language::Provided => !handler.is_empty(),
            Language::Python | Language::Node => match handler.rsplit_once('.') {
                Some((module, function)) => {
                    let file_ok = |p: &str| {
                        !p.is_empty()
                            && p.split(['/', '.'])
                                .all(|part| !part.is_empty() && part != "..")
                    };
                    file_ok(module) && ident(function)
                }
                None => false,
            },
        }
    }

    /// The files a handler may live in, relative to the code directory.
    /// Python `pkg.mod.fn` is `pkg/mod.py` or `pkg/mod/__init__.py`; Node
    /// `src/index.handler` is `src/index.js`, `.mjs` or `.cjs`.
    pub fn handler_files(&self, handler: &str) -> Vec<String> {
        let Some((module, _)) = handler.rsplit_once('.') else {
            return vec![];
        };
        match self.language {
            Language::Python => {
                let path = module.replace('.', "/");
                vec![format!("{path}.py"), format!("{path}/__init__.py")]
            }
            Language::Node => ["js", "mjs", "cjs"]
                .iter()
                .map(|ext| format!("{module}.{ext}"))
                .collect(),
            Language::Provided => vec!["bootstrap".to_owned()],
        }
    }

    pub fn handler_example(&self) -> &'static str {
        match self.language {
            Language::Python => "`app.handler` for a function `handler` in `app.py`",
            Language::Node => "`index.handler` for `export const handler` in `index.mjs`",
            Language::Provided => "any name; the `bootstrap` executable is what runs",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

impl From<Runtime> for String {
    fn from(r: Runtime) -> Self {
        r.id.to_owned()
    }
}

/// Read back from Strata's own records (releases), which hold the id.
impl<'de> serde::Deserialize<'de> for Runtime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a supported runtime")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_forms() {
        let py = Runtime::parse("python3.12").expect("known");
        assert!(py.handler_form_ok("orders.create"));
        assert!(py.handler_form_ok("pkg.orders.create"));
        assert!(py.handler_form_ok("src/orders.create"));
        assert!(!py.handler_form_ok("orders"));
        assert!(!py.handler_form_ok("orders."));
        assert!(!py.handler_form_ok("../x.create"));
        assert_eq!(
            py.handler_files("pkg.mod.fn"),
            ["pkg/mod.py", "pkg/mod/__init__.py"]
        );
        let node = Runtime::parse("nodejs22.x").expect("known");
        assert_eq!(
            node.handler_files("src/index.handler"),
            ["src/index.js", "src/index.mjs", "src/index.cjs"]
        );
    }

    #[test]
    fn provided_alias_and_deprecations() {
        assert_eq!(
            Runtime::parse("provided").expect("known").id(),
            "provided.al2023"
        );
        assert!(matches!(
            Runtime::parse("python3.8"),
            Err(RuntimeError::Deprecated {
                replacement: "python3.13"
            })
        ));
        assert!(matches!(
            Runtime::parse("nodejs22"),
            Err(RuntimeError::Unknown {
                suggestion: Some("nodejs22.x")
            })
        ));
    }
}
