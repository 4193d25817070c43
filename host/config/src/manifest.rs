//! The Spin application manifest (`spin.toml`, `spin_manifest_version = 2`), read strictly.
//!
//! Every key real Spin accepts is either supported here or refused at start-up with a message that
//! names the file, the component and the key; nothing unknown is silently ignored, and nothing is
//! accepted here that real Spin would reject.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file, for messages.
    pub file: PathBuf,
    /// The directory relative paths are resolved against.
    pub dir: PathBuf,
    pub application: Application,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub cron_triggers: Vec<CronTrigger>,
    pub mqtt_triggers: Vec<MqttTrigger>,
    pub components: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Clone, Default)]
pub struct Application {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    /// `[application.trigger.mqtt]` (spin-trigger-mqtt): broker settings, templates allowed.
    pub mqtt: Option<MqttSettings>,
}

/// `[application.trigger.mqtt]`, as the MQTT trigger plugin reads it: four strings, all required.
/// `address`, `username` and `password` may hold `{{ variable }}` templates; the plugin parses
/// `keep_alive_interval` as a number of seconds without expanding it (0 turns keep-alives off).
#[derive(Debug, Clone, Default)]
pub struct MqttSettings {
    pub address: String,
    pub username: String,
    pub password: String,
    pub keep_alive_interval: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteSpec {
    Public(String),
    Private,
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    pub id: Option<String>,
    pub route: RouteSpec,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct CronTrigger {
    pub component: String,
    pub cron_expression: String,
}

/// One `[[trigger.mqtt]]`: `component`, `topic` (templates allowed) and `qos`, all required
/// strings, as the plugin reads them; `id` is Spin's own and allowed on every trigger.
#[derive(Debug, Clone)]
pub struct MqttTrigger {
    pub component: String,
    pub topic: String,
    /// 0, 1 or 2.
    pub qos: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FileMount {
    /// A glob pattern relative to the manifest directory, mounted at the same relative path.
    Pattern(String),
    /// A file or directory mounted at `destination`.
    Placement { source: String, destination: String },
}

#[derive(Debug, Clone, Default)]
pub struct ComponentDecl {
    pub id: String,
    pub description: Option<String>,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Component variable name → template (`"{{ app_var }}"`, literal text, or a mix).
    pub variables: BTreeMap<String, String>,
    pub environment: BTreeMap<String, String>,
    pub files: Vec<FileMount>,
    pub exclude_files: Vec<String>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses manifest text; `path` names the file in messages and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file = path.to_path_buf();
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let table: Table = text
            .parse()
            .map_err(|e| anyhow!("{}: not valid TOML: {e}", file.display()))?;
        let mut root = Fields::new(table, format!("{}", file.display()));

        match root.take("spin_manifest_version") {
            Some(Value::Integer(2)) => {}
            Some(Value::String(s)) if s == "1" => bail!(
                "{}: spin_manifest_version \"1\" is the old format; this host (like Spin 2 and later) reads version 2 only",
                file.display()
            ),
            Some(other) => bail!(
                "{}: spin_manifest_version must be 2, found {other}",
                file.display()
            ),
            None => bail!("{}: missing `spin_manifest_version = 2`", file.display()),
        }

        let application = parse_application(root.take_table("application")?, &file)?;
        let variables = match root.take_table("variables")? {
            Some(t) => parse_variables(t, &file)?,
            None => BTreeMap::new(),
        };
        let mut components = BTreeMap::new();
        if let Some(t) = root.take_table("component")? {
            for (id, value) in t {
                validate_component_id(&id)
                    .map_err(|e| anyhow!("{}: component `{id}`: {e}", file.display()))?;
                let Value::Table(ct) = value else {
                    bail!("{}: component `{id}` must be a table", file.display());
                };
                let decl = parse_component(&id, ct, &file, &dir)?;
                components.insert(id, decl);
            }
        }

        let mut http_triggers = Vec::new();
        let mut cron_triggers = Vec::new();
        let mut mqtt_triggers = Vec::new();
        if let Some(t) = root.take_table("trigger")? {
            for (kind, value) in t {
                let Value::Array(items) = value else {
                    bail!(
                        "{}: `trigger.{kind}` must be an array of tables (`[[trigger.{kind}]]`)",
                        file.display()
                    );
                };
                for (i, item) in items.into_iter().enumerate() {
                    let Value::Table(tt) = item else {
                        bail!(
                            "{}: `trigger.{kind}` entry {} must be a table",
                            file.display(),
                            i + 1
                        );
                    };
                    let ctx = format!("{}: [[trigger.{kind}]] #{}", file.display(), i + 1);
                    match kind.as_str() {
                        "http" => http_triggers.push(parse_http_trigger(tt, ctx)?),
                        "cron" => cron_triggers.push(parse_cron_trigger(tt, ctx)?),
                        "mqtt" => mqtt_triggers.push(parse_mqtt_trigger(tt, ctx)?),
                        other => bail!(
                            "{}: trigger type `{other}` is not supported by this host (supported: http, cron, mqtt)",
                            file.display()
                        ),
                    }
                }
            }
        }
        root.finish()?;

        let manifest = Manifest {
            file,
            dir,
            application,
            variables,
            http_triggers,
            cron_triggers,
            mqtt_triggers,
            components,
        };
        manifest.check_references()?;
        Ok(manifest)
    }

    fn check_references(&self) -> Result<()> {
        let file = self.file.display();
        let named = self
            .http_triggers
            .iter()
            .map(|t| &t.component)
            .chain(self.cron_triggers.iter().map(|t| &t.component))
            .chain(self.mqtt_triggers.iter().map(|t| &t.component));
        for c in named {
            if !self.components.contains_key(c) {
                bail!("{file}: a trigger names component `{c}`, but there is no [component.{c}]");
            }
        }
        if !self.mqtt_triggers.is_empty() && self.application.mqtt.is_none() {
            bail!("{file}: [[trigger.mqtt]] needs the broker settings in [application.trigger.mqtt] (address, username, password, keep_alive_interval)");
        }
        // The plugin expands these when it starts; an unknown variable stops it there.
        let mut templates: Vec<(String, &str)> = Vec::new();
        if let Some(m) = &self.application.mqtt {
            for (key, value) in [
                ("address", &m.address),
                ("username", &m.username),
                ("password", &m.password),
            ] {
                templates.push((format!("[application.trigger.mqtt]: key `{key}`"), value));
            }
        }
        for (i, t) in self.mqtt_triggers.iter().enumerate() {
            templates.push((
                format!(
                    "[[trigger.mqtt]] #{} (component `{}`): key `topic`",
                    i + 1,
                    t.component
                ),
                &t.topic,
            ));
        }
        for (place, template) in templates {
            for reference in crate::templates::template_references(template)
                .map_err(|e| anyhow!("{file}: {place}: {e}"))?
            {
                if !self.variables.contains_key(&reference) {
                    bail!("{file}: {place} refers to `{{{{ {reference} }}}}`, which is not declared in [variables]");
                }
            }
        }
        for (id, c) in &self.components {
            for host in c.allowed_outbound_hosts.iter().filter(|h| h.contains("{{")) {
                for reference in crate::templates::template_references(host)
                    .map_err(|e| anyhow!("{file}: component `{id}`: allowed_outbound_hosts: {e}"))?
                {
                    if !self.variables.contains_key(&reference) {
                        bail!("{file}: component `{id}`: allowed_outbound_hosts entry `{host}` refers to `{{{{ {reference} }}}}`, which is not declared in [variables]");
                    }
                }
            }
            for (name, template) in &c.variables {
                for reference in crate::templates::template_references(template)
                    .map_err(|e| anyhow!("{file}: component `{id}`: variable `{name}`: {e}"))?
                {
                    if !self.variables.contains_key(&reference) {
                        bail!("{file}: component `{id}`: variable `{name}` refers to `{{{{ {reference} }}}}`, which is not declared in [variables]");
                    }
                }
            }
        }
        Ok(())
    }
}

/// A table whose keys are taken one by one; whatever is left over is an unsupported key.
struct Fields {
    table: Table,
    ctx: String,
}

impl Fields {
    fn new(table: Table, ctx: String) -> Self {
        Self { table, ctx }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.table.remove(key)
    }

    fn take_table(&mut self, key: &str) -> Result<Option<Table>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(_) => bail!("{}: `{key}` must be a table", self.ctx),
        }
    }

    fn take_string(&mut self, key: &str) -> Result<Option<String>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => bail!(
                "{}: `{key}` must be a string, found {}",
                self.ctx,
                other.type_str()
            ),
        }
    }

    fn require_string(&mut self, key: &str) -> Result<String> {
        self.take_string(key)?
            .ok_or_else(|| anyhow!("{}: missing `{key}`", self.ctx))
    }

    fn take_bool(&mut self, key: &str) -> Result<bool> {
        match self.table.remove(key) {
            None => Ok(false),
            Some(Value::Boolean(b)) => Ok(b),
            Some(other) => bail!(
                "{}: `{key}` must be true or false, found {}",
                self.ctx,
                other.type_str()
            ),
        }
    }

    fn take_strings(&mut self, key: &str) -> Result<Vec<String>> {
        match self.table.remove(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => bail!(
                        "{}: `{key}` must be a list of strings, found a {}",
                        self.ctx,
                        other.type_str()
                    ),
                })
                .collect(),
            Some(other) => bail!(
                "{}: `{key}` must be a list of strings, found {}",
                self.ctx,
                other.type_str()
            ),
        }
    }

    fn take_string_map(&mut self, key: &str) -> Result<BTreeMap<String, String>> {
        match self.take_table(key)? {
            None => Ok(BTreeMap::new()),
            Some(t) => t
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => bail!(
                        "{}: `{key}.{k}` must be a string, found {}",
                        self.ctx,
                        other.type_str()
                    ),
                })
                .collect(),
        }
    }

    /// Refuses any key nobody took.
    fn finish(self) -> Result<()> {
        self.finish_or(
            "this host follows Spin's manifest version 2; check the spelling, or remove it",
        )
    }

    /// Refuses any key nobody took, saying what is accepted here.
    fn finish_or(self, hint: &str) -> Result<()> {
        if let Some(key) = self.table.keys().next() {
            bail!("{}: unsupported key `{key}` ({hint})", self.ctx);
        }
        Ok(())
    }
}

fn parse_application(table: Option<Table>, file: &Path) -> Result<Application> {
    let ctx = format!("{}: [application]", file.display());
    let table = table.ok_or_else(|| anyhow!("{}: missing [application]", file.display()))?;
    let mut f = Fields::new(table, ctx.clone());
    let mut app = Application {
        name: f.require_string("name")?,
        version: f.take_string("version")?,
        description: f.take_string("description")?,
        authors: f.take_strings("authors")?,
        mqtt: None,
    };
    // Deployment targets and other tools' settings: meaningful to other tools, not to running.
    f.take("targets");
    f.take("tool");
    if let Some(triggers) = f.take_table("trigger")? {
        for (kind, value) in triggers {
            let Value::Table(t) = value else {
                bail!("{ctx}: `trigger.{kind}` must be a table");
            };
            let tctx = format!("{}: [application.trigger.{kind}]", file.display());
            match kind.as_str() {
                "mqtt" => app.mqtt = Some(parse_mqtt_settings(t, tctx)?),
                "http" => {
                    let mut h = Fields::new(t, tctx.clone());
                    match h.take_string("base")?.as_deref() {
                        None => {}
                        Some("/") => tracing::warn!("{tctx}: the deprecated `base` is set to its default `/`; remove it"),
                        Some(_) => bail!("{tctx}: key `base`: the deprecated trigger base is not supported (as in Spin); prepend it to each [[trigger.http]] route"),
                    }
                    h.finish()?;
                }
                // The cron plugin has no application-level settings.
                "cron" => Fields::new(t, tctx).finish()?,
                other => bail!("{ctx}: trigger type `{other}` is not supported by this host"),
            }
        }
    }
    f.finish()?;
    Ok(app)
}

fn parse_variables(table: Table, file: &Path) -> Result<BTreeMap<String, VariableDecl>> {
    let mut out = BTreeMap::new();
    for (name, value) in table {
        crate::templates::validate_name(&name)
            .map_err(|e| anyhow!("{}: [variables]: `{name}`: {e}", file.display()))?;
        let Value::Table(t) = value else {
            bail!(
                "{}: [variables]: `{name}` must be a table such as {{ default = \"...\" }} or {{ required = true }}",
                file.display()
            );
        };
        let mut f = Fields::new(t, format!("{}: [variables]: `{name}`", file.display()));
        let decl = VariableDecl {
            default: f.take_string("default")?,
            required: f.take_bool("required")?,
            secret: f.take_bool("secret")?,
        };
        f.take_string("description")?;
        f.finish()?;
        if decl.required && decl.default.is_some() {
            bail!(
                "{}: [variables]: `{name}` cannot have both `required = true` and a `default`",
                file.display()
            );
        }
        if !decl.required && decl.default.is_none() {
            bail!(
                "{}: [variables]: `{name}` needs either a `default` or `required = true`",
                file.display()
            );
        }
        out.insert(name, decl);
    }
    Ok(out)
}

fn is_kebab_or_snake(label: &str) -> bool {
    ['-', '_'].iter().any(|&sep| {
        label.starts_with(|c: char| c.is_ascii_lowercase())
            && label.split(sep).all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    })
}

fn validate_component_id(id: &str) -> Result<(), String> {
    // Spin's ids are kebab-case: lowercase letters, digits and single dashes between words.
    let ok = !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err("component ids are kebab-case: lowercase letters and digits, words joined by `-`, starting with a letter".into())
    }
}

fn parse_component(id: &str, table: Table, file: &Path, dir: &Path) -> Result<ComponentDecl> {
    let ctx = format!("{}: component `{id}`", file.display());
    let mut f = Fields::new(table, ctx.clone());
    let source = match f.take("source") {
        Some(Value::String(s)) => dir.join(s),
        Some(Value::Table(_)) => bail!(
            "{ctx}: key `source`: remote and registry sources are not supported by this host; build the component and point `source` at the .wasm file"
        ),
        Some(other) => bail!("{ctx}: `source` must be a path string, found {}", other.type_str()),
        None => bail!("{ctx}: missing `source`"),
    };
    let description = f.take_string("description")?;
    let allowed_outbound_hosts = f.take_strings("allowed_outbound_hosts")?;
    for host in &allowed_outbound_hosts {
        // An entry with a `{{ variable }}` (Spin 2.4 and later) is checked once the variables
        // have values, when the application loads; here only its template syntax.
        if host.contains("{{") {
            crate::templates::template_references(host)
                .map_err(|e| anyhow!("{ctx}: key `allowed_outbound_hosts`: `{host}`: {e}"))?;
        } else {
            crate::allowed_hosts::AllowedHost::parse(host)
                .map_err(|e| anyhow!("{ctx}: key `allowed_outbound_hosts`: `{host}`: {e}"))?;
        }
    }
    if f.take("allowed_http_hosts").is_some() {
        bail!("{ctx}: key `allowed_http_hosts` is from manifest version 1; use `allowed_outbound_hosts = [\"https://example.com\"]`");
    }
    let key_value_stores = f.take_strings("key_value_stores")?;
    let sqlite_databases = f.take_strings("sqlite_databases")?;
    for label in key_value_stores.iter().chain(&sqlite_databases) {
        if !is_kebab_or_snake(label) {
            bail!("{ctx}: store label `{label}`: expected kebab-case or snake_case");
        }
    }
    let variables = f.take_string_map("variables")?;
    for name in variables.keys() {
        crate::templates::validate_name(name)
            .map_err(|e| anyhow!("{ctx}: key `variables`: `{name}`: {e}"))?;
    }
    let environment = f.take_string_map("environment")?;
    let files = match f.take("files") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| parse_file_mount(v, &ctx))
            .collect::<Result<_>>()?,
        Some(other) => bail!("{ctx}: `files` must be a list, found {}", other.type_str()),
    };
    let exclude_files = f.take_strings("exclude_files")?;
    if let Some(build) = f.take_table("build")? {
        // `spin build` settings: read so mistakes are caught, not used at run time.
        let mut b = Fields::new(build, format!("{ctx}: [component.{id}.build]"));
        match b.take("command") {
            Some(Value::String(_)) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_str) => {}
            Some(_) => bail!("{ctx}: `build.command` must be a string or a list of strings"),
            None => bail!("{ctx}: `build` needs a `command`"),
        }
        b.take_string("workdir")?;
        b.take_strings("watch")?;
        b.finish()?;
    }
    // `tool` holds settings for other tools by design; Spin ignores it too.
    f.take("tool");
    match f.take("ai_models") {
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(_) => bail!("{ctx}: key `ai_models`: Serverless AI is not supported by this host"),
        None => {}
    }
    for unsupported in ["dependencies", "dependencies_inherit_configuration"] {
        if f.take(unsupported).is_some() {
            bail!(
                "{ctx}: key `{unsupported}`: component dependencies are not supported by this host"
            );
        }
    }
    f.finish()?;
    Ok(ComponentDecl {
        id: id.to_string(),
        description,
        source,
        allowed_outbound_hosts,
        key_value_stores,
        sqlite_databases,
        variables,
        environment,
        files,
        exclude_files,
    })
}

fn parse_file_mount(value: Value, ctx: &str) -> Result<FileMount> {
    match value {
        Value::String(s) => Ok(FileMount::Pattern(s)),
        Value::Table(t) => {
            let mut f = Fields::new(t, format!("{ctx}: `files` entry"));
            let source = f.require_string("source")?;
            let destination = f.require_string("destination")?;
            f.finish()?;
            if !destination.starts_with('/') {
                bail!("{ctx}: `files` destination `{destination}` must be an absolute path");
            }
            Ok(FileMount::Placement {
                source,
                destination,
            })
        }
        other => bail!(
            "{ctx}: `files` entries are glob strings or {{ source, destination }} tables, found {}",
            other.type_str()
        ),
    }
}

fn parse_http_trigger(table: Table, ctx: String) -> Result<HttpTrigger> {
    let mut f = Fields::new(table, ctx.clone());
    let id = f.take_string("id")?;
    let route = match f.take("route") {
        Some(Value::String(r)) => {
            crate::routes::validate_route(&r).map_err(|e| anyhow!("{ctx}: route `{r}`: {e}"))?;
            RouteSpec::Public(r)
        }
        Some(Value::Table(t)) => {
            let mut rf = Fields::new(t, format!("{ctx}: `route`"));
            if !rf.take_bool("private")? {
                bail!("{ctx}: `route` must be a path string or {{ private = true }}");
            }
            rf.finish()?;
            RouteSpec::Private
        }
        Some(other) => bail!(
            "{ctx}: `route` must be a string, found {}",
            other.type_str()
        ),
        None => bail!("{ctx}: missing `route`"),
    };
    let component = take_component_ref(&mut f, &ctx)?;
    if let Some(executor) = f.take_table("executor")? {
        parse_http_executor(executor, &ctx)?;
    }
    f.finish()?;
    Ok(HttpTrigger {
        id,
        route,
        component,
    })
}

/// Spin's HTTP executors are `{ type = "http" }` (the default; `"spin"` is an alias Spin keeps for
/// old manifests), `{ type = "wagi", argv, entrypoint }` and, in recent releases,
/// `{ type = "wasip3-unstable" }`. This host runs the first only.
fn parse_http_executor(table: Table, ctx: &str) -> Result<()> {
    let ctx = format!("{ctx}: key `executor`");
    let mut e = Fields::new(table, ctx.clone());
    let kind = e.take_string("type")?.ok_or_else(|| {
        anyhow!("{ctx}: missing `type` (Spin's executors are `http`, `wagi` and `wasip3-unstable`)")
    })?;
    match kind.as_str() {
        "http" | "spin" => e.finish_or("the `http` executor takes no settings"),
        "wagi" | "wasip3-unstable" => bail!(
            "{ctx}: the `{kind}` executor is not supported by this host; it runs WASI 0.2 HTTP components (`type = \"http\"`, or no `executor` at all)"
        ),
        other => bail!(
            "{ctx}: Spin has no `{other}` executor (it knows `http`, `wagi` and `wasip3-unstable`)"
        ),
    }
}

fn take_component_ref(f: &mut Fields, ctx: &str) -> Result<String> {
    match f.take("component") {
        Some(Value::String(c)) => Ok(c),
        Some(Value::Table(_)) => bail!(
            "{ctx}: key `component`: inline component tables are not supported by this host; declare [component.<id>] and name it here"
        ),
        Some(other) => bail!("{ctx}: `component` must be a string, found {}", other.type_str()),
        None => bail!("{ctx}: missing `component`"),
    }
}

fn parse_cron_trigger(table: Table, ctx: String) -> Result<CronTrigger> {
    let mut f = Fields::new(table, ctx.clone());
    let component = take_component_ref(&mut f, &ctx)?;
    let cron_expression = f.require_string("cron_expression")?;
    crate::cron::parse_schedule(&cron_expression)
        .map_err(|e| anyhow!("{ctx}: cron_expression `{cron_expression}`: {e}"))?;
    f.take_string("id")?;
    f.finish()?;
    Ok(CronTrigger {
        component,
        cron_expression,
    })
}

/// What the MQTT plugin's per-trigger settings accept, for messages.
const MQTT_TRIGGER_KEYS: &str =
    "the MQTT trigger plugin accepts only `component`, `topic` and `qos`, and Spin adds `id`";

fn parse_mqtt_trigger(table: Table, ctx: String) -> Result<MqttTrigger> {
    let mut f = Fields::new(table, ctx.clone());
    let component = take_component_ref(&mut f, &ctx)?;
    let topic = f.require_string("topic")?;
    if topic.is_empty() {
        bail!("{ctx}: key `topic` is empty; name a topic filter such as \"sensors/#\"");
    }
    let qos = match f.take("qos") {
        Some(Value::String(s)) => s,
        Some(other) => bail!(
            "{ctx}: key `qos` must be a string (\"0\", \"1\" or \"2\"), as the MQTT trigger plugin reads it; found {}",
            other.type_str()
        ),
        None => bail!("{ctx}: missing `qos` (\"0\", \"1\" or \"2\"; the MQTT trigger plugin has no default)"),
    };
    // The plugin parses an i32 and the MQTT client refuses anything but 0, 1 and 2.
    let qos = match qos.parse::<i32>() {
        Ok(q @ 0..=2) => q as u8,
        _ => bail!("{ctx}: key `qos` must be \"0\", \"1\" or \"2\", found `{qos}`"),
    };
    f.take_string("id")?;
    f.finish_or(MQTT_TRIGGER_KEYS)?;
    Ok(MqttTrigger {
        component,
        topic,
        qos,
    })
}

fn parse_mqtt_settings(table: Table, ctx: String) -> Result<MqttSettings> {
    let mut m = Fields::new(table, ctx.clone());
    let mut require = |key: &str| {
        m.take_string(key)?.ok_or_else(|| {
            anyhow!("{ctx}: missing `{key}` (the MQTT trigger plugin requires address, username, password and keep_alive_interval; use \"\" for no username or password)")
        })
    };
    let address = require("address")?;
    let username = require("username")?;
    let password = require("password")?;
    let keep_alive = require("keep_alive_interval")?;
    let keep_alive_interval = keep_alive.parse::<u64>().map_err(|_| {
        anyhow!("{ctx}: key `keep_alive_interval` must be a whole number of seconds in a string, such as \"30\" (the plugin does not expand variables here), found `{keep_alive}`")
    })?;
    m.finish_or(
        "the MQTT trigger plugin accepts only address, username, password and keep_alive_interval",
    )?;
    Ok(MqttSettings {
        address,
        username,
        password,
        keep_alive_interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("spin.toml"))
    }

    const BASE: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
version = "1.0.0"
[variables]
api_key = { required = true, secret = true }
region = { default = "eu" }
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = { private = true }
component = "api"
[component.api]
source = "target/api.wasm"
allowed_outbound_hosts = ["https://example.com", "mqtt://127.0.0.1:1883"]
key_value_stores = ["default"]
sqlite_databases = ["default"]
variables = { key = "{{ api_key }}", greeting = "hello {{region}}!" }
environment = { RUST_LOG = "info" }
files = ["static/**/*", { source = "assets", destination = "/assets" }]
[component.api.build]
command = "cargo build --target wasm32-wasip2 --release"
watch = ["src/**/*.rs"]
"#;

    #[test]
    fn reads_a_full_manifest() {
        let m = parse(BASE).expect("valid manifest");
        assert_eq!(m.application.name, "demo");
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(m.http_triggers[1].route, RouteSpec::Private);
        let api = &m.components["api"];
        assert_eq!(api.key_value_stores, vec!["default"]);
        assert_eq!(api.variables["greeting"], "hello {{region}}!");
        assert_eq!(api.environment["RUST_LOG"], "info");
        assert_eq!(api.files.len(), 2);
        assert!(api.source.ends_with("target/api.wasm"));
        assert!(m.variables["api_key"].secret);
    }

    #[test]
    fn allowed_hosts_may_be_templates_of_declared_variables() {
        let text = BASE.replace(
            r#""mqtt://127.0.0.1:1883"]"#,
            r#""mqtt://127.0.0.1:1883", "postgres://{{ region }}:5432"]"#,
        );
        let m = parse(&text).expect("a template of a declared variable");
        assert_eq!(
            m.components["api"].allowed_outbound_hosts[2],
            "postgres://{{ region }}:5432"
        );
        let undeclared = BASE.replace(
            r#""mqtt://127.0.0.1:1883"]"#,
            r#""mqtt://127.0.0.1:1883", "postgres://{{ db_host }}"]"#,
        );
        let e = parse(&undeclared)
            .expect_err("undeclared variable")
            .to_string();
        assert!(
            e.contains("component `api`")
                && e.contains("{{ db_host }}")
                && e.contains("not declared"),
            "{e}"
        );
        let broken = BASE.replace(
            r#""mqtt://127.0.0.1:1883"]"#,
            r#""mqtt://127.0.0.1:1883", "postgres://{{ region"]"#,
        );
        let e = parse(&broken).expect_err("unclosed template").to_string();
        assert!(e.contains("allowed_outbound_hosts"), "{e}");
    }

    #[test]
    fn unknown_component_key_names_file_component_and_key() {
        let text = BASE.replace(
            "[component.api.build]",
            "frobnicate = true\n[component.api.build]",
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("spin.toml"), "{err}");
        assert!(err.contains("component `api`"), "{err}");
        assert!(err.contains("frobnicate"), "{err}");
    }

    #[test]
    fn unknown_top_level_key_is_refused() {
        let err = parse(&format!("{BASE}\n[extras]\nx = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported key `extras`"), "{err}");
    }

    #[test]
    fn version_one_and_missing_version_are_refused() {
        let err =
            parse(&BASE.replace("spin_manifest_version = 2", "spin_manifest_version = \"1\""))
                .unwrap_err()
                .to_string();
        assert!(err.contains("version 2"), "{err}");
        let err = parse(&BASE.replace("spin_manifest_version = 2", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("spin_manifest_version"), "{err}");
    }

    #[test]
    fn trigger_must_name_a_declared_component() {
        let err = parse(&BASE.replace(
            "component = \"api\"\n[[trigger.http]]",
            "component = \"nope\"\n[[trigger.http]]",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn undeclared_template_variable_is_refused() {
        let err = parse(&BASE.replace("{{ api_key }}", "{{ missing }}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
        assert!(err.contains("component `api`"), "{err}");
    }

    #[test]
    fn unsupported_features_say_so() {
        let err = parse(&BASE.replace(
            "source = \"target/api.wasm\"",
            "source = { url = \"https://x\", digest = \"sha256:00\" }",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("key `source`"), "{err}");
        let err = parse(&format!(
            "{BASE}\n[[trigger.redis]]\ncomponent = \"api\"\nchannel = \"x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("`redis`"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        for (from, to, needle) in [
            (
                "region = { default = \"eu\" }",
                "Region = { default = \"eu\" }",
                "Region",
            ),
            ("region = { default = \"eu\" }", "region = { }", "region"),
            (
                "\"https://example.com\"",
                "\"example.com\"",
                "allowed_outbound_hosts",
            ),
            ("[component.api]", "[component.Api]", "kebab-case"),
            ("route = \"/api/...\"", "route = \"api\"", "route"),
        ] {
            let err = parse(&BASE.replace(from, to)).unwrap_err().to_string();
            assert!(err.contains(needle), "{to}: {err}");
        }
    }

    #[test]
    fn cron_and_mqtt_triggers() {
        let text = format!(
            "{}\n[[trigger.cron]]\ncomponent = \"api\"\ncron_expression = \"1/2 * * * * *\"\n[[trigger.mqtt]]\ncomponent = \"api\"\ntopic = \"a/#\"\nqos = \"1\"\n",
            BASE.replace(
                "version = \"1.0.0\"",
                "version = \"1.0.0\"\n[application.trigger.mqtt]\naddress = \"mqtt://127.0.0.1:1883\"\nusername = \"\"\npassword = \"\"\nkeep_alive_interval = \"30\""
            )
        );
        let m = parse(&text).expect("valid");
        assert_eq!(m.cron_triggers[0].cron_expression, "1/2 * * * * *");
        assert_eq!(m.mqtt_triggers[0].qos, 1);
        assert_eq!(
            m.application.mqtt.as_ref().map(|x| x.keep_alive_interval),
            Some(30)
        );
        assert_eq!(
            m.application.mqtt.as_ref().map(|x| x.address.as_str()),
            Some("mqtt://127.0.0.1:1883")
        );
        let bad = text.replace("1/2 * * * * *", "every minute");
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("cron_expression"));
    }

    /// The fixture with an MQTT trigger, as the plugin's own examples write it.
    fn with_mqtt(settings: &str, trigger: &str) -> String {
        format!(
            "{}\n[[trigger.mqtt]]\ncomponent = \"api\"\n{trigger}\n",
            BASE.replace(
                "version = \"1.0.0\"",
                &format!("version = \"1.0.0\"\n[application.trigger.mqtt]\n{settings}")
            )
        )
    }

    const SETTINGS: &str = "address = \"mqtt://{{ region }}.example:1883\"\nusername = \"\"\npassword = \"{{ api_key }}\"\nkeep_alive_interval = \"30\"";
    const TRIGGER: &str = "topic = \"{{ region }}/#\"\nqos = \"1\"";

    #[test]
    fn mqtt_settings_are_the_plugins_four_required_strings() {
        parse(&with_mqtt(SETTINGS, TRIGGER)).expect("the plugin's own layout");
        for (settings, needles) in [
            (
                SETTINGS.replace("username = \"\"\n", ""),
                vec!["[application.trigger.mqtt]", "missing `username`"],
            ),
            (
                SETTINGS.replace("password = \"{{ api_key }}\"\n", ""),
                vec!["missing `password`"],
            ),
            (
                SETTINGS.replace("keep_alive_interval = \"30\"", ""),
                vec!["missing `keep_alive_interval`"],
            ),
            (
                SETTINGS.replace("\"30\"", "30"),
                vec!["`keep_alive_interval` must be a string"],
            ),
            (
                SETTINGS.replace("\"30\"", "\"{{ region }}\""),
                vec!["key `keep_alive_interval`", "whole number of seconds"],
            ),
            (
                format!("{SETTINGS}\nclient_id = \"x\""),
                vec!["unsupported key `client_id`", "keep_alive_interval"],
            ),
            (
                SETTINGS.replace("{{ api_key }}", "{{ nope }}"),
                vec!["key `password`", "nope"],
            ),
        ] {
            let err = parse(&with_mqtt(&settings, TRIGGER))
                .expect_err(&settings)
                .to_string();
            assert!(err.contains("spin.toml"), "{err}");
            for n in needles {
                assert!(err.contains(n), "{settings}: {err}");
            }
        }
    }

    #[test]
    fn mqtt_triggers_take_component_topic_and_a_string_qos() {
        for (trigger, needles) in [
            (
                TRIGGER.replace("\"1\"", "1"),
                vec!["key `qos` must be a string"],
            ),
            (
                TRIGGER.replace("\"1\"", "\"3\""),
                vec!["`qos` must be \"0\", \"1\" or \"2\""],
            ),
            (TRIGGER.replace("qos = \"1\"", ""), vec!["missing `qos`"]),
            (
                TRIGGER.replace("topic = \"{{ region }}/#\"", ""),
                vec!["missing `topic`"],
            ),
            (
                format!("{TRIGGER}\nexecutor = {{ type = \"spin\" }}"),
                vec![
                    "[[trigger.mqtt]] #1",
                    "unsupported key `executor`",
                    "`component`, `topic` and `qos`",
                ],
            ),
            (
                TRIGGER.replace("{{ region }}", "{{ nope }}"),
                vec!["component `api`", "key `topic`", "nope"],
            ),
        ] {
            let err = parse(&with_mqtt(SETTINGS, &trigger))
                .expect_err(&trigger)
                .to_string();
            assert!(err.contains("spin.toml"), "{err}");
            for n in needles {
                assert!(err.contains(n), "{trigger}: {err}");
            }
        }
        let m = parse(&with_mqtt(SETTINGS, &format!("{TRIGGER}\nid = \"ingest\"")))
            .expect("Spin's `id`");
        assert_eq!(m.mqtt_triggers[0].qos, 1);
        assert_eq!(m.mqtt_triggers[0].topic, "{{ region }}/#");
    }

    #[test]
    fn http_executors_are_spins() {
        let with = |executor: &str| {
            parse(&BASE.replace(
                "route = \"/api/...\"",
                &format!("route = \"/api/...\"\nexecutor = {executor}"),
            ))
        };
        with("{ type = \"http\" }").expect("Spin's name for the default executor");
        with("{ type = \"spin\" }").expect("the alias Spin keeps");
        for (executor, needle) in [
            ("{ }", "missing `type`"),
            ("{ type = \"wagi\" }", "`wagi` executor is not supported"),
            (
                "{ type = \"wasip3-unstable\" }",
                "`wasip3-unstable` executor is not supported",
            ),
            ("{ type = \"wasi\" }", "Spin has no `wasi` executor"),
            (
                "{ type = \"http\", argv = \"x\" }",
                "unsupported key `argv`",
            ),
        ] {
            let err = with(executor).expect_err(executor).to_string();
            assert!(err.contains("[[trigger.http]] #1"), "{err}");
            assert!(err.contains("key `executor`"), "{err}");
            assert!(err.contains(needle), "{executor}: {err}");
        }
    }
}
