//! Application variables (`[variables]`), their providers (`SPIN_VARIABLE_<NAME>` in the
//! environment, then the manifest default), and component variables as `{{ template }}`s.

use crate::bindings::variables::{self, Error as VarError};
use crate::manifest::Manifest;
use fieldline_host_config::templates::{parse_template, Part};
pub use fieldline_host_config::templates::{template_references, validate_name};
use std::collections::{BTreeMap, HashMap};
use wasmtime::component::HasData;

/// Resolved application variables; component variables are expanded from them.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    values: HashMap<String, String>,
    /// Required variables nobody provided: like Spin, the guest learns of it when it reads one.
    missing: Vec<String>,
}

impl Resolver {
    /// Resolves every application variable: `SPIN_VARIABLE_<NAME>` (via `env`), else the default.
    pub fn new(manifest: &Manifest, env: impl Fn(&str) -> Option<String>) -> Self {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        for (name, decl) in &manifest.variables {
            let env_name = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match env(&env_name).or_else(|| decl.default.clone()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => missing.push(name.clone()),
            }
        }
        Resolver { values, missing }
    }

    /// The process environment, then a `.env` file in the working directory, as Spin's provider.
    /// Warns of required variables nobody set: the application still starts, as under Spin.
    pub fn from_process_env(manifest: &Manifest) -> Self {
        let dotenv: HashMap<String, String> = dotenvy::from_path_iter(".env")
            .map(|it| it.filter_map(Result::ok).collect())
            .unwrap_or_default();
        let resolver = Self::new(manifest, |k| {
            std::env::var(k).ok().or_else(|| dotenv.get(k).cloned())
        });
        let missing = resolver.missing();
        if !missing.is_empty() {
            tracing::warn!("required variables have no value yet (components will get an error reading them): {}", missing.join(", "));
        }
        resolver
    }

    /// Required variables with no value, with the environment variable that would set each.
    pub fn missing(&self) -> Vec<String> {
        self.missing
            .iter()
            .map(|n| format!("`{n}` (set SPIN_VARIABLE_{})", n.to_ascii_uppercase()))
            .collect()
    }

    /// Expands a component's variable templates into their values.
    pub fn component_values(
        &self,
        component: &str,
        templates: &BTreeMap<String, String>,
    ) -> ComponentVariables {
        ComponentVariables {
            component: component.to_string(),
            values: templates
                .iter()
                .map(|(name, template)| (name.clone(), self.expand_template(template)))
                .collect(),
        }
    }

    /// Expands one template, such as a trigger setting, against the application variables.
    pub fn expand_template(&self, template: &str) -> Result<String, GetError> {
        let mut out = String::new();
        let parts = parse_template(template)
            .map_err(|e| GetError::Other(format!("invalid variable template: {e}")))?;
        for part in parts {
            match part {
                Part::Literal(s) => out.push_str(&s),
                Part::Variable(v) => match self.values.get(&v) {
                    Some(value) => out.push_str(value),
                    None => {
                        return Err(GetError::Provider(format!(
                            "no provider resolved required variable {v:?}"
                        )))
                    }
                },
            }
        }
        Ok(out)
    }
}

/// What the guest's `variables.get` sees: the component's own variables only.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    component: String,
    values: HashMap<String, Result<String, GetError>>,
}

/// Mirrors `fermyon:spin/variables@2.0.0` errors, with Spin's messages.
#[derive(Debug, Clone, PartialEq)]
pub enum GetError {
    InvalidName(String),
    Undefined(String),
    Provider(String),
    Other(String),
}

impl GetError {
    /// The message, whichever the kind.
    pub fn message(&self) -> &str {
        match self {
            GetError::InvalidName(m)
            | GetError::Undefined(m)
            | GetError::Provider(m)
            | GetError::Other(m) => m,
        }
    }
}

impl ComponentVariables {
    pub fn get(&self, name: &str) -> Result<String, GetError> {
        validate_name(name).map_err(|e| GetError::InvalidName(format!("{name:?}: {e}")))?;
        match self.values.get(name) {
            Some(v) => v.clone(),
            None => Err(GetError::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.component
            ))),
        }
    }
}

/// The [`HasData`] that links `fermyon:spin/variables` against a component's
/// [`ComponentVariables`], which instances only read.
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a ComponentVariables;
}

impl variables::Host for &ComponentVariables {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, VarError>> {
        Ok(ComponentVariables::get(self, &name).map_err(|e| match e {
            GetError::InvalidName(m) => VarError::InvalidName(m),
            GetError::Undefined(m) => VarError::Undefined(m),
            GetError::Provider(m) => VarError::Provider(m),
            GetError::Other(m) => VarError::Other(m),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
token = { required = true, secret = true }
region = { default = "eu" }
[component.c]
source = "c.wasm"
variables = { key = "{{ token }}", url = "https://{{region}}.example.com/{{ token }}", plain = "x" }
"#,
            Path::new("spin.toml"),
        )
        .expect("valid manifest")
    }

    #[test]
    fn environment_overrides_default_and_templates_expand() {
        let m = manifest();
        let r = Resolver::new(&m, |k| match k {
            "SPIN_VARIABLE_TOKEN" => Some("s3cret".into()),
            "SPIN_VARIABLE_REGION" => Some("us".into()),
            _ => None,
        });
        let v = r.component_values("c", &m.components["c"].variables);
        assert_eq!(v.get("key"), Ok("s3cret".into()));
        assert_eq!(v.get("url"), Ok("https://us.example.com/s3cret".into()));
        assert_eq!(v.get("plain"), Ok("x".into()));
    }

    #[test]
    fn default_applies_without_environment() {
        let m = manifest();
        let r = Resolver::new(&m, |k| {
            (k == "SPIN_VARIABLE_TOKEN").then(|| "t".to_string())
        });
        let v = r.component_values("c", &m.components["c"].variables);
        assert_eq!(v.get("url"), Ok("https://eu.example.com/t".into()));
    }

    #[test]
    fn missing_required_variable_fails_when_read() {
        let m = manifest();
        let r = Resolver::new(&m, |_| None);
        assert_eq!(
            r.missing(),
            vec!["`token` (set SPIN_VARIABLE_TOKEN)".to_string()]
        );
        let v = r.component_values("c", &m.components["c"].variables);
        assert!(matches!(v.get("key"), Err(GetError::Provider(m)) if m.contains("token")));
        assert_eq!(v.get("plain"), Ok("x".into()));
    }

    #[test]
    fn guest_errors() {
        let vars = ComponentVariables {
            component: "c".into(),
            values: HashMap::from([("a".to_string(), Ok("1".to_string()))]),
        };
        assert_eq!(vars.get("a"), Ok("1".into()));
        assert!(matches!(vars.get("b"), Err(GetError::Undefined(_))));
        assert!(matches!(
            vars.get("Bad-Name"),
            Err(GetError::InvalidName(_))
        ));
    }
}
