//! The lifecycle hooks are really called, in order, with their arguments;
//! `validate_model` hook issues are reported with their YAML location.

use std::sync::{Arc, Mutex};

use arc::data::Table;
use arc::graph::GraphModel;
use arc::nn::ModelView;
use arc::plugin::{
    LifecycleHookSpec, Plugin, PluginManager, PluginMetadata, Registrations, ValidatorHookSpec, ValidatorRegistrations,
};
use arc::spec::{ArcSpec, Config};
use arc::validate::{ValidationIssue, Validator, validate};
use arc::{Error, Result, hookimpl};

const SPEC: &str = "examples/specs/iris.yaml";

type Log = Arc<Mutex<Vec<String>>>;

/// Records every lifecycle call with its arguments.
struct Recorder(Log);

impl Plugin for Recorder {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("recorder")
    }
}

#[hookimpl]
impl LifecycleHookSpec for Recorder {
    fn pre_validation(&self, spec: &ArcSpec) {
        self.0.lock().unwrap().push(format!("pre_validation({})", spec.model_name));
    }

    fn post_validation(&self, spec: &ArcSpec, issues: &[ValidationIssue]) {
        let messages: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
        self.0.lock().unwrap().push(format!("post_validation({}, {messages:?})", spec.model_name));
    }

    fn pre_model_build(&self, spec: &ArcSpec) {
        self.0.lock().unwrap().push(format!("pre_model_build({})", spec.model_name));
    }

    fn post_model_build(&self, spec: &ArcSpec, model: &dyn ModelView) {
        let nodes = model.node_names().join(",");
        self.0.lock().unwrap().push(format!("post_model_build({}, [{nodes}])", spec.model_name));
    }
}

/// A model validator: warns about a node named `act`, rejects `fc2` wider than 2.
struct Naming;

impl Plugin for Naming {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("naming")
    }
}

#[hookimpl]
impl ValidatorHookSpec for Naming {
    fn validate_model(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        for (i, node) in spec.model.graph.iter().enumerate() {
            if node.name == "act" {
                issues.push(ValidationIssue::warning("`act` is a vague name").at(format!("model.graph[{i}].name")));
            }
            if node.name == "fc2" && node.params.as_ref().and_then(|p| p.get_u64("out_features")) > Some(2) {
                issues.push(ValidationIssue::error("fc2 is too wide").at(format!("model.graph[{i}].params")));
            }
        }
        issues
    }
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec() -> Result<ArcSpec> {
    let text = std::fs::read_to_string(root().join(SPEC)).expect("the iris spec is committed");
    ArcSpec::from_yaml(&text, SPEC)
}

fn table(pm: &PluginManager) -> Result<Table> {
    pm.get_data_source("csv")?
        .create(&Config::new())?
        .load(&root().join("examples/data/iris.csv").display().to_string())
}

/// Every linked plugin plus the given runtime ones.
fn manager(extra: impl FnOnce(&PluginManager) -> Result<()>) -> Result<PluginManager> {
    let pm = PluginManager::new();
    pm.discover_plugins()?;
    extra(&pm)?;
    pm.refresh_registries()?;
    Ok(pm)
}

#[test]
fn training_calls_the_four_hooks_in_order_with_their_arguments() -> Result<()> {
    let log = Log::default();
    let pm = manager(|pm| pm.register_plugin(Recorder(log.clone()), "recorder"))?;
    let spec = spec()?;
    let mut trainer = spec.trainer()?.clone();
    trainer.config.epochs = 1;
    arc::train::train(&spec, &trainer, &table(&pm)?, &pm, &mut |_| {})?;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "pre_validation(iris)",
            "post_validation(iris, [])",
            "pre_model_build(iris)",
            "post_model_build(iris, [fc1,act,fc2])",
        ]
    );
    Ok(())
}

#[test]
fn validate_model_issues_are_reported_located_and_seen_by_post_validation() -> Result<()> {
    let log = Log::default();
    let pm = manager(|pm| {
        pm.register_plugin(Recorder(log.clone()), "recorder")?;
        pm.register_plugin(Naming, "naming")
    })?;
    let spec = spec()?;
    let report = validate(&spec, &pm)?;
    let shown: Vec<String> = report.issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [format!("{SPEC}:37:13: warning: `act` is a vague name"), format!("{SPEC}:41:15: error: fc2 is too wide"),]
    );
    assert_eq!(
        *log.lock().unwrap(),
        ["pre_validation(iris)", "post_validation(iris, [\"`act` is a vague name\", \"fc2 is too wide\"])"]
    );
    // Training stops on the plugin's error, before any model is built.
    log.lock().unwrap().clear();
    let trainer = spec.trainer()?.clone();
    let err = arc::train::train(&spec, &trainer, &table(&pm)?, &pm, &mut |_| {}).err().expect("training fails");
    assert!(matches!(&err, Error::InvalidSpec { issues } if issues.len() == 2), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "the spec has 1 error(s):\n{SPEC}:37:13: warning: `act` is a vague name\n{SPEC}:41:15: error: fc2 is too wide"
        )
    );
    assert_eq!(log.lock().unwrap().len(), 2, "no model hooks after failed validation");
    Ok(())
}

/// A validator component: flags a spec without a description.
struct Described;

impl Validator for Described {
    fn validate(&self, spec: &ArcSpec) -> Vec<ValidationIssue> {
        match spec.description {
            Some(_) => Vec::new(),
            None => vec![ValidationIssue::warning("the spec has no description").at("model_name")],
        }
    }
}

fn described(_: &Config) -> Result<Box<dyn Validator>> {
    Ok(Box::new(Described))
}

struct Docs;

impl Plugin for Docs {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("docs")
    }
}

#[hookimpl]
impl ValidatorHookSpec for Docs {
    fn register_validators(&self) -> ValidatorRegistrations {
        Registrations::new().add("described", described)
    }
}

#[test]
fn registered_validators_run_too() -> Result<()> {
    let pm = manager(|pm| pm.register_plugin(Docs, "docs"))?;
    let text = std::fs::read_to_string(root().join(SPEC)).expect("the iris spec is committed");
    let bare = text.replace("description: Classify iris flowers from sepal and petal measurements.\n", "");
    let report = validate(&ArcSpec::from_yaml(&bare, SPEC)?, &pm)?;
    let shown: Vec<String> = report.issues.iter().map(ToString::to_string).collect();
    assert_eq!(shown, [format!("{SPEC}:4:13: warning: the spec has no description")]);
    assert_eq!(validate(&spec()?, &pm)?.issues, []);
    Ok(())
}

#[test]
fn a_model_built_from_a_spec_calls_the_build_hooks_only() -> Result<()> {
    let log = Log::default();
    let pm = manager(|pm| pm.register_plugin(Recorder(log.clone()), "recorder"))?;
    let spec = spec()?;
    let vars = [("n_features".to_owned(), 4.0)].into();
    let model = GraphModel::build_spec(&spec, &vars, &pm)?;
    assert_eq!(model.node_names(), ["fc1", "act", "fc2"]);
    assert_eq!(*log.lock().unwrap(), ["pre_model_build(iris)", "post_model_build(iris, [fc1,act,fc2])"]);
    Ok(())
}
