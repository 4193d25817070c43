//! The SpinKube deployment in `deploy/spinkube/` (docs/deploy.md) cannot drift from the
//! application: the SpinApps are valid against the SpinApp CRD's OpenAPI v3 schema (the CRD of
//! spinframework/spin-operator, `tests/fixtures/spinkube/`), with unknown fields refused as the
//! API server's strict field validation refuses them; SpinKube's manifest is `spin.toml` without
//! its cron triggers; the two SpinApps run every component once; and the CronJobs call the run
//! route of each cron trigger's component on its schedule. The last test serves the SpinKube
//! manifest with this host and runs each job the way the CronJobs and `spin aka cron` call it.

use serde_json::{json, Value};

use fieldline_tests::{client, workspace, Start};

/// Every YAML document of a file under the workspace, as JSON values.
fn yaml_documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(workspace().join(path)).expect(path);
    serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn toml_file(path: &str) -> toml::Table {
    let text = std::fs::read_to_string(workspace().join(path)).expect(path);
    text.parse()
        .unwrap_or_else(|e| panic!("{path} is not TOML: {e}"))
}

/// `additionalProperties: false` on every object schema that lists its properties and does not
/// say otherwise: the API server's strict field validation (kubectl's default since Kubernetes
/// 1.27) refuses a field the schema does not name, which plain JSON Schema would let through.
fn strict(schema: &mut Value) {
    let Some(node) = schema.as_object_mut() else {
        return;
    };
    if let Some(props) = node.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(strict);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = node.get_mut(key) {
            strict(sub);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(subs) = node.get_mut(key).and_then(Value::as_array_mut) {
            subs.iter_mut().for_each(strict);
        }
    }
    let preserves = node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if node.contains_key("properties") && !node.contains_key("additionalProperties") && !preserves {
        node.insert("additionalProperties".into(), Value::Bool(false));
    }
}

/// The CRD's `apiVersion` for SpinApps and its schema, compiled (OpenAPI v3.0 schemas are JSON
/// Schema draft 4 with extensions, which draft 4 validators ignore).
fn spinapp_schema() -> (String, jsonschema::Validator) {
    let crd = yaml_documents("tests/fixtures/spinkube/core.spinkube.dev_spinapps.yaml")
        .pop()
        .expect("the CRD");
    assert_eq!(crd["kind"], "CustomResourceDefinition");
    assert_eq!(crd["spec"]["names"]["kind"], "SpinApp");
    let version = crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["storage"] == true)
        .expect("the stored version");
    let api_version = format!(
        "{}/{}",
        crd["spec"]["group"].as_str().expect("group"),
        version["name"].as_str().expect("version name")
    );
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    strict(&mut schema);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("the CRD's schema compiles");
    (api_version, validator)
}

/// What is wrong with a SpinApp, as the API server would list it (empty: it would be admitted).
fn spinapp_errors(doc: &Value, api_version: &str, schema: &jsonschema::Validator) -> Vec<String> {
    let mut errors: Vec<String> = schema
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if doc["apiVersion"] != api_version {
        errors.push(format!(
            "apiVersion {} is not {api_version}",
            doc["apiVersion"]
        ));
    }
    if doc["metadata"]["name"].as_str().is_none_or(str::is_empty) {
        errors.push("metadata.name is missing".into());
    }
    errors
}

fn spinapps() -> Vec<Value> {
    let docs = yaml_documents("deploy/spinkube/spinapp.yaml");
    assert!(docs.iter().all(|d| d["kind"] == "SpinApp"), "{docs:?}");
    docs
}

#[test]
fn spinapps_are_valid_against_the_spinapp_crd_schema() {
    let (api_version, schema) = spinapp_schema();
    let apps = spinapps();
    assert_eq!(apps.len(), 2);
    for app in &apps {
        let errors = spinapp_errors(app, &api_version, &schema);
        assert!(
            errors.is_empty(),
            "{}: {errors:#?}",
            app["metadata"]["name"]
        );
    }
}

#[test]
fn a_spinapp_with_a_wrong_field_fails_the_crd_schema() {
    let (api_version, schema) = spinapp_schema();
    let good = spinapps().remove(0);
    let wrong = |f: &dyn Fn(&mut Value)| {
        let mut app = good.clone();
        f(&mut app);
        spinapp_errors(&app, &api_version, &schema)
    };
    // A misspelt field, a field in the wrong place, a wrong type, a missing required field, a
    // misspelt key of a secret reference, a bad quantity, another API version.
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "spec.replica",
            Box::new(|a| a["spec"]["replica"] = json!(2)),
        ),
        (
            "spec.runtimeConfig.loadFromSecrets",
            Box::new(|a| a["spec"]["runtimeConfig"] = json!({"loadFromSecrets": "x"})),
        ),
        (
            "replicas as text",
            Box::new(|a| a["spec"]["replicas"] = json!("two")),
        ),
        (
            "no image",
            Box::new(|a| {
                a["spec"].as_object_mut().expect("spec").remove("image");
            }),
        ),
        (
            "secretKeyRef.keys",
            Box::new(|a| {
                a["spec"]["variables"][1]["valueFrom"]["secretKeyRef"] =
                    json!({"name": "fieldline-secrets", "keys": "postgres-url"})
            }),
        ),
        (
            "memory limit",
            Box::new(|a| a["spec"]["resources"]["limits"]["memory"] = json!("lots")),
        ),
        (
            "apiVersion",
            Box::new(|a| a["apiVersion"] = json!("core.spinoperator.dev/v1alpha1")),
        ),
    ];
    for (what, change) in cases {
        let errors = wrong(&*change);
        assert!(!errors.is_empty(), "{what}: admitted");
    }
    // The same from YAML as a person would write it.
    let typo = serde_saphyr::from_str::<Value>(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: x\n\
         spec:\n  image: r/x:1\n  executor: containerd-shim-spin\n  replicas: 1\n\
         \x20 variables:\n    - name: storage\n      vaule: postgres\n",
    )
    .expect("YAML");
    let errors = spinapp_errors(&typo, &api_version, &schema);
    assert!(
        errors.iter().any(|e| e.contains("vaule")),
        "the misspelt `vaule` is named: {errors:?}"
    );
}

/// `spin.toml` as SpinKube runs it: no `[[trigger.cron]]`, no build tables, sources one level
/// further up (what `scripts/spinkube-manifest` writes, computed here independently).
fn spin_toml_for_spinkube(mut root: toml::Table) -> toml::Table {
    if let Some(triggers) = root.get_mut("trigger").and_then(|t| t.as_table_mut()) {
        triggers.remove("cron");
    }
    if let Some(components) = root.get_mut("component").and_then(|c| c.as_table_mut()) {
        for (_, c) in components.iter_mut() {
            let c = c.as_table_mut().expect("a component table");
            c.remove("build");
            let source = c.get("source").and_then(|s| s.as_str()).map(str::to_owned);
            if let Some(source) = source {
                c.insert(
                    "source".into(),
                    toml::Value::String(format!("../../{source}")),
                );
            }
        }
    }
    root
}

#[test]
fn spinkube_manifest_is_spin_toml_without_its_cron_triggers() {
    let root = toml_file("spin.toml");
    let kube = toml_file("deploy/spinkube/spin.toml");
    assert!(
        kube.get("trigger").and_then(|t| t.get("cron")).is_none(),
        "containerd-shim-spin refuses a cron trigger"
    );
    assert_eq!(
        spin_toml_for_spinkube(root),
        kube,
        "deploy/spinkube/spin.toml is not spin.toml without its cron triggers: run \
         scripts/spinkube-manifest"
    );
}

/// The component ids of a manifest's triggers of one type.
fn trigger_components(manifest: &toml::Table, kind: &str) -> Vec<String> {
    manifest
        .get("trigger")
        .and_then(|t| t.get(kind))
        .and_then(|t| t.as_array())
        .map(|ts| {
            ts.iter()
                .map(|t| t["component"].as_str().expect("component").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Variables the SpinApps set before spin.toml declares them: the PostgreSQL backend's, which
/// arrive with the storage branch. The test fails once spin.toml declares one, so that it is
/// taken off this list.
const PENDING_VARIABLES: &[&str] = &[];

#[test]
fn spinapps_run_every_component_once_and_mqtt_on_one_replica() {
    let kube = toml_file("deploy/spinkube/spin.toml");
    let mut all: Vec<String> = kube["component"]
        .as_table()
        .expect("components")
        .keys()
        .cloned()
        .collect();
    all.sort();
    let mqtt = trigger_components(&kube, "mqtt");
    let declared = kube["variables"].as_table().expect("[variables]");
    let mut seen = Vec::new();
    for app in spinapps() {
        let name = app["metadata"]["name"].as_str().expect("name");
        let components: Vec<String> = app["spec"]["components"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: list its components"))
            .iter()
            .map(|c| c.as_str().expect("component id").to_owned())
            .collect();
        if components.iter().any(|c| mqtt.contains(c)) {
            assert_eq!(
                app["spec"]["replicas"], 1,
                "{name} runs the MQTT trigger: every replica would store each message"
            );
        }
        for v in app["spec"]["variables"].as_array().expect("variables") {
            let v = v["name"].as_str().expect("variable name");
            assert!(
                declared.contains_key(v) || PENDING_VARIABLES.contains(&v),
                "{name} sets the variable {v}, which spin.toml does not declare"
            );
        }
        assert_eq!(
            app["spec"]["runtimeConfig"]["loadFromSecret"], "fieldline-runtime-config",
            "{name}"
        );
        seen.extend(components);
    }
    for v in PENDING_VARIABLES {
        assert!(
            !declared.contains_key(*v),
            "spin.toml declares {v} now: take it off PENDING_VARIABLES"
        );
    }
    seen.sort();
    assert_eq!(seen, all, "each component in exactly one SpinApp");
}

#[test]
fn runtime_config_secret_holds_the_runtime_config_file() {
    let file = std::fs::read_to_string(workspace().join("deploy/spinkube/runtime-config.toml"))
        .expect("runtime-config.toml");
    let config: toml::Table = file.parse().expect("runtime config is TOML");
    assert_eq!(
        config["key_value_store"]["default"]["type"].as_str(),
        Some("redis")
    );
    let secret = yaml_documents("deploy/spinkube/runtime-config.yaml").remove(0);
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["metadata"]["name"], "fieldline-runtime-config");
    assert_eq!(
        secret["stringData"]["runtime-config.toml"].as_str(),
        Some(file.as_str()),
        "the Secret holds deploy/spinkube/runtime-config.toml as it is"
    );
}

/// A six-field cron expression (seconds first, as spin-trigger-cron takes it) as the five
/// fields of Kubernetes and `spin aka cron`; `None` when it fires at a second other than 0.
fn five_fields(expression: &str) -> Option<String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    assert_eq!(fields.len(), 6, "{expression}");
    (fields[0] == "0").then(|| fields[1..].join(" "))
}

#[test]
fn cronjobs_call_each_cron_trigger_route_on_its_schedule() {
    let root = toml_file("spin.toml");
    let kube = toml_file("deploy/spinkube/spin.toml");
    let crons = root["trigger"]["cron"]
        .as_array()
        .expect("[[trigger.cron]]");
    let jobs = yaml_documents("deploy/spinkube/cronjobs.yaml");
    assert_eq!(jobs.len(), crons.len(), "one CronJob per cron trigger");
    for cron in crons {
        let component = cron["component"].as_str().expect("component");
        let expression = cron["cron_expression"].as_str().expect("cron_expression");
        let schedule = five_fields(expression)
            .unwrap_or_else(|| panic!("{component}: {expression} has no five-field form"));
        let route = format!("/{component}/run");
        // The route exists, for that component, in the manifest SpinKube runs.
        let routed = kube["trigger"]["http"]
            .as_array()
            .expect("[[trigger.http]]")
            .iter()
            .any(|t| {
                t["component"].as_str() == Some(component)
                    && [route.as_str(), &format!("/{component}/...")]
                        .contains(&t["route"].as_str().unwrap_or_default())
            });
        assert!(routed, "no HTTP route {route} for {component}");
        let job = jobs
            .iter()
            .find(|j| {
                j["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
                    .as_array()
                    .is_some_and(|a| {
                        a.iter()
                            .any(|x| x.as_str() == Some(&format!("http://fieldline{route}")))
                    })
            })
            .unwrap_or_else(|| panic!("no CronJob calls {route}"));
        let spec = &job["spec"];
        assert_eq!(job["apiVersion"], "batch/v1");
        assert_eq!(job["kind"], "CronJob");
        assert_eq!(
            spec["schedule"],
            schedule.as_str(),
            "{component}: {expression}"
        );
        assert_eq!(spec["timeZone"], "Etc/UTC", "spin-trigger-cron runs in UTC");
        assert_eq!(spec["concurrencyPolicy"], "Forbid");
        let container = &spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg"))
            .collect();
        let after = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1]);
        assert_eq!(after("-X"), Some("POST"), "{args:?}");
        assert_eq!(after("-H"), Some("authorization: Bearer $(CRON_TOKEN)"));
        assert!(
            args.contains(&"--fail-with-body"),
            "an HTTP error fails the Job"
        );
        assert_eq!(
            container["env"][0],
            json!({"name": "CRON_TOKEN", "valueFrom": {"secretKeyRef":
                {"name": "fieldline-secrets", "key": "cron-token"}}})
        );
    }
}

/// The SpinKube manifest runs (this host reads it as strictly as Spin), and each job answers
/// as the schedulers call it: the CronJobs' POST with the scheduler's token as a Bearer, Akamai
/// Functions' bare GET with `?token=`; never the operator token in a URL.
#[test]
fn spinkube_manifest_serves_the_run_routes_to_the_schedulers() {
    const CRON: &str = fieldline_tests::CRON_TOKEN;
    let h = Start::new(workspace().join("deploy/spinkube/spin.toml"))
        .env("SPIN_VARIABLE_JWT_SECRET", fieldline_tests::JWT_SECRET)
        .env(
            "SPIN_VARIABLE_SENSORBIS_SECRET",
            fieldline_tests::SENSORBIS_SECRET,
        )
        .env(
            "SPIN_VARIABLE_OPERATOR_TOKEN",
            fieldline_tests::OPERATOR_TOKEN,
        )
        .env("SPIN_VARIABLE_CRON_TOKEN", CRON)
        .env("SPIN_VARIABLE_MAIL_TRANSPORT", "none")
        .start()
        .expect("the SpinKube manifest starts");
    let c = client();
    for (route, field) in [
        ("/maintenance/run", "purgedCounters"),
        ("/notifier/run", "points"),
    ] {
        let url = h.url(route);
        let r = c.post(&url).bearer_auth(CRON).send().expect("run");
        assert_eq!(r.status().as_u16(), 200, "{route}: {}", h.output());
        let body: Value = r.json().expect("json");
        assert!(body.get(field).is_some(), "{route}: {body}");
        let r = c.get(format!("{url}?token={CRON}")).send().expect("run");
        assert_eq!(r.status().as_u16(), 200, "{route} by GET ?token=");
        let r = c
            .get(format!("{url}?token={}", fieldline_tests::OPERATOR_TOKEN))
            .send()
            .expect("run");
        assert_eq!(
            r.status().as_u16(),
            401,
            "{route}: the operator token is never a query"
        );
        let r = c.get(&url).bearer_auth(CRON).send().expect("run");
        assert_eq!(r.status().as_u16(), 405, "{route}: GET only with ?token=");
    }
}
