//! pluggy's calls and semantics that go beyond the call loop: historic
//! result callbacks, registration during a call, blocking, `call_extra`,
//! `subset_hook_caller`, `get_hookcallers`, fallible hooks, panic payloads,
//! monitors that see arguments and outcomes, wrappers that keep each
//! answer's plugin. Expected orders were checked against pluggy 1.x.

use std::sync::{Arc, Mutex};

use arc_core::nn::Layer;
use arc_core::plugin::{
    Answers, HookOutcome, Inner, LayerHookSpec, LayerRegistrations, Plugin, PluginManager, PluginMetadata,
    Registrations,
};
use arc_core::spec::Config;
use arc_core::{Error, Result, hookimpl, hookspec};

type Log = Arc<Mutex<Vec<String>>>;

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[hookspec]
pub trait ExtraSpec {
    /// `None` is "nothing to say".
    #[hookspec(historic)]
    fn configure(&self, tag: String) -> Option<i32> {
        let _ = tag;
        None
    }

    #[hookspec(monitor_args)]
    fn compute(&self, x: i32, label: &str) -> i32 {
        let _ = label;
        x
    }

    /// A fallible hook: an `Err` stops the call.
    fn check(&self, x: i32) -> std::result::Result<i32, Refused> {
        Ok(x)
    }

    /// A fallible firstresult hook.
    #[hookspec(firstresult)]
    fn pick(&self, x: i32) -> std::result::Result<Option<i32>, Refused> {
        let _ = x;
        Ok(None)
    }
}

/// An implementation's own error type.
#[derive(Debug, PartialEq)]
pub struct Refused(pub i32);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is refused", self.0)
    }
}

impl std::error::Error for Refused {}

macro_rules! plugin_type {
    ($($ty:ident),*) => {$(
        impl Plugin for $ty {
            fn metadata(&self) -> PluginMetadata {
                PluginMetadata::named(stringify!($ty))
            }
        }
    )*};
}

/// Answers `configure` and `compute` with its number, logging each call.
struct Num(i32, Log);
/// The same, `tryfirst`.
struct NumFirst(i32, Log);
/// The same, `trylast`.
struct NumLast(i32, Log);
/// Answers nothing to `configure` (`None`).
struct Quiet;
plugin_type!(Num, NumFirst, NumLast, Quiet);

macro_rules! numbered {
    ($ty:ident $(, $opt:ident)?) => {
        #[hookimpl]
        impl ExtraSpec for $ty {
            $(#[hookimpl($opt)])?
            fn configure(&self, _tag: String) -> Option<i32> {
                self.1.lock().unwrap().push(format!("configure {}", self.0));
                Some(self.0)
            }

            $(#[hookimpl($opt)])?
            fn compute(&self, _x: i32, _label: &str) -> i32 {
                self.1.lock().unwrap().push(format!("m{}", self.0));
                self.0
            }

            fn check(&self, x: i32) -> std::result::Result<i32, Refused> {
                self.1.lock().unwrap().push(format!("check {}", self.0));
                if x == self.0 { Err(Refused(x)) } else { Ok(self.0) }
            }

            fn pick(&self, x: i32) -> std::result::Result<Option<i32>, Refused> {
                self.1.lock().unwrap().push(format!("pick {}", self.0));
                match x {
                    x if x == self.0 => Err(Refused(x)),
                    x if x == -self.0 => Ok(Some(self.0)),
                    _ => Ok(None),
                }
            }
        }
    };
}
numbered!(Num);
numbered!(NumFirst, tryfirst);
numbered!(NumLast, trylast);

#[hookimpl]
impl ExtraSpec for Quiet {
    fn configure(&self, _tag: String) -> Option<i32> {
        None
    }
}

/// Registers 4 (tryfirst), 5 and 6 (trylast) from inside its first call.
struct Registrar(PluginManager2, Log);
type PluginManager2 = Arc<PluginManager>;
plugin_type!(Registrar);

#[hookimpl]
impl ExtraSpec for Registrar {
    fn configure(&self, _tag: String) -> Option<i32> {
        let pm = &self.0;
        if !pm.is_registered("p4") {
            pm.register_plugin(NumFirst(4, self.1.clone()), "p4").unwrap();
            pm.register_plugin(Num(5, self.1.clone()), "p5").unwrap();
            pm.register_plugin(NumLast(6, self.1.clone()), "p6").unwrap();
        }
        Some(2)
    }

    fn compute(&self, _x: i32, _label: &str) -> i32 {
        let pm = &self.0;
        if !pm.is_registered("p4") {
            pm.register_plugin(NumFirst(4, self.1.clone()), "p4").unwrap();
            pm.register_plugin(Num(5, self.1.clone()), "p5").unwrap();
            pm.register_plugin(NumLast(6, self.1.clone()), "p6").unwrap();
        }
        2
    }
}

fn registering_manager(log: &Log) -> Arc<PluginManager> {
    let pm = Arc::new(PluginManager::new());
    pm.register_plugin(Num(1, log.clone()), "p1").unwrap();
    pm.register_plugin(Registrar(pm.clone(), log.clone()), "p2").unwrap();
    pm.register_plugin(Num(3, log.clone()), "p3").unwrap();
    pm
}

#[test]
fn registering_during_a_call_changes_only_later_calls() {
    // test_pluginmanager.py::test_register_while_calling, historic=False.
    let log = Log::default();
    let pm = registering_manager(&log);
    assert_eq!(pm.hook::<dyn ExtraSpec>().compute(0, "").unwrap().into_vec(), [3, 2, 1]);
    assert_eq!(pm.hook::<dyn ExtraSpec>().compute(0, "").unwrap().into_vec(), [4, 5, 3, 2, 1, 6]);
    // The cycle Registrar -> manager -> Registrar is broken for the test's end.
    pm.unregister("p2").unwrap();
}

#[test]
fn a_plugin_registered_during_a_historic_call_answers_at_once() {
    // test_register_while_calling, historic=True: the plugins registered
    // inside the call are replayed at registration, before the running
    // call's own answers, which come after the call in call order.
    let log = Log::default();
    let pm = registering_manager(&log);
    let results = Arc::new(Mutex::new(Vec::new()));
    let sink = results.clone();
    let hook = pm.hook::<dyn ExtraSpec>();
    hook.configure_with_results("a".into(), move |_, r| sink.lock().unwrap().push(r)).unwrap();
    assert_eq!(*results.lock().unwrap(), [4, 5, 6, 3, 2, 1]);
    results.lock().unwrap().clear();
    let sink = results.clone();
    pm.hook::<dyn ExtraSpec>().configure_with_results("b".into(), move |_, r| sink.lock().unwrap().push(r)).unwrap();
    assert_eq!(*results.lock().unwrap(), [4, 5, 3, 2, 1, 6]);
    pm.unregister("p2").unwrap();
}

#[test]
fn historic_callbacks_see_only_answers_after_the_call() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Num(1, log.clone()), "p1").unwrap();
    pm.register_plugin(Quiet, "quiet").unwrap();
    let seen: Log = Log::default();
    let (sink, order) = (seen.clone(), log.clone());
    pm.hook::<dyn ExtraSpec>()
        .configure_with_results("x".into(), move |plugin, r| {
            // The call has returned: every implementation was called already.
            sink.lock().unwrap().push(format!("{}={r} after {:?}", plugin.name, order.lock().unwrap()));
        })
        .unwrap();
    assert_eq!(log_of(&seen), ["p1=1 after [\"configure 1\"]"]);
    // A replay at registration: the callback sees the new plugin's answer only.
    pm.register_plugin(Quiet, "quiet2").unwrap();
    pm.register_plugin(Num(7, log.clone()), "p7").unwrap();
    assert_eq!(log_of(&seen).len(), 2);
    assert!(log_of(&seen)[1].starts_with("p7=7 after"));
}

#[test]
fn unregistering_a_blocked_name_is_not_an_error() {
    // test_pluginmanager.py::test_set_blocked.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.set_blocked("somename");
    assert_eq!(pm.unregister("somename").unwrap(), None);
    assert!(pm.is_blocked("somename"));
    // Registering under a blocked name stays an error (our choice).
    let err = pm.register_plugin(Num(1, log.clone()), "somename").unwrap_err();
    assert!(matches!(err, Error::PluginBlocked { .. }));
    // A name neither registered nor blocked is an error.
    assert!(matches!(pm.unregister("other").unwrap_err(), Error::PluginNotFound { .. }));
    assert!(pm.unblock("somename"));
    pm.register_plugin(Num(1, log.clone()), "somename").unwrap();
    assert_eq!(pm.unregister("somename").unwrap().unwrap().name, "Num");
}

#[test]
fn call_extra_places_extras_as_pluggy_does() {
    // pluggy's call_extra: an extra runs as an unmarked implementation
    // registered last: after the tryfirst ones, before the others.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Num(1, log.clone()), "a").unwrap();
    pm.register_plugin(NumFirst(2, log.clone()), "b").unwrap();
    pm.register_plugin(NumLast(3, log.clone()), "c").unwrap();
    let hook = pm.hook::<dyn ExtraSpec>();
    let extra = hook.with_extra("extra", Arc::new(Num(9, log.clone()))).unwrap();
    assert_eq!(extra.compute(0, "").unwrap().into_vec(), [2, 9, 1, 3]);
    // Nothing was registered; the original callers are unchanged.
    assert!(!pm.is_registered("extra"));
    assert_eq!(hook.compute(0, "").unwrap().into_vec(), [2, 1, 3]);
    // A plugin with no #[hookimpl] for the spec is refused.
    struct Nothing;
    plugin_type!(Nothing);
    let err = hook.with_extra("nothing", Arc::new(Nothing)).err().unwrap();
    assert_eq!(err.to_string(), "plugin `nothing` has no `#[hookimpl]` block for hook spec `ExtraSpec`");
}

#[test]
fn subset_hook_caller_leaves_out_the_named_plugins() {
    let (pm, log) = (PluginManager::new(), Log::default());
    for i in 1..=3 {
        pm.register_plugin(Num(i, log.clone()), &format!("p{i}")).unwrap();
    }
    let subset = pm.subset_hook_caller::<dyn ExtraSpec>(&["p2"]);
    assert_eq!(subset.compute(0, "").unwrap().into_vec(), [3, 1]);
    let names: Vec<_> = subset.compute_impls().iter().map(|i| i.info.name.to_string()).collect();
    assert_eq!(names, ["p3", "p1"]);
}

#[test]
fn the_hooks_of_a_plugin_and_the_implementations_of_a_hook() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(NumFirst(1, log.clone()), "first").unwrap();
    pm.register_plugin(Quiet, "quiet").unwrap();
    let hooks = pm.get_hookcallers("first").unwrap();
    let listed: Vec<_> = hooks.iter().map(|h| (h.spec, h.decl.name, h.opts.tryfirst)).collect();
    assert_eq!(
        listed,
        [
            ("ExtraSpec", "configure", true),
            ("ExtraSpec", "compute", true),
            ("ExtraSpec", "check", false),
            ("ExtraSpec", "pick", false)
        ]
    );
    assert!(hooks[0].decl.historic);
    let quiet: Vec<_> = pm.get_hookcallers("quiet").unwrap().iter().map(|h| h.decl.name).collect();
    assert_eq!(quiet, ["configure"]);
    assert!(matches!(pm.get_hookcallers("nobody").unwrap_err(), Error::PluginNotFound { .. }));
    let hook = pm.hook::<dyn ExtraSpec>();
    let impls: Vec<_> = hook.configure_impls().iter().map(|i| (i.info.name.to_string(), i.opts.tryfirst)).collect();
    assert_eq!(impls, [("first".to_owned(), true), ("quiet".to_owned(), false)]);
}

#[test]
fn a_fallible_implementation_fails_the_call_with_its_error_as_source() {
    let (pm, log) = (PluginManager::new(), Log::default());
    for i in 1..=3 {
        pm.register_plugin(Num(i, log.clone()), &format!("p{i}")).unwrap();
    }
    let hook = pm.hook::<dyn ExtraSpec>();
    assert_eq!(hook.check(0).unwrap().into_vec(), [3, 2, 1]);
    log.lock().unwrap().clear();
    let err = hook.check(2).unwrap_err();
    assert_eq!(err.to_string(), "plugin `p2` failed in hook `check`: 2 is refused");
    let source = std::error::Error::source(&err).expect("the original error is kept");
    assert_eq!(source.downcast_ref::<Refused>(), Some(&Refused(2)));
    // The call stopped at the failure: p1 was not called.
    assert_eq!(log_of(&log), ["check 3", "check 2"]);
    // firstresult: an error before any answer fails the call ...
    assert!(matches!(hook.pick(3).unwrap_err(), Error::HookFailed { ref plugin, .. } if plugin == "p3"));
    // ... an answer stops it before a later failure.
    assert_eq!(hook.pick(-2).unwrap(), Some(2));
    assert_eq!(hook.pick(0).unwrap(), None);
}

struct PanicsWithNumber;
plugin_type!(PanicsWithNumber);
#[hookimpl]
impl ExtraSpec for PanicsWithNumber {
    fn compute(&self, x: i32, _label: &str) -> i32 {
        std::panic::panic_any(x * 2)
    }
}

#[test]
fn a_non_string_panic_payload_keeps_a_message() {
    let pm = PluginManager::new();
    pm.register_plugin(PanicsWithNumber, "numbers").unwrap();
    let err = pm.hook::<dyn ExtraSpec>().compute(21, "").unwrap_err();
    assert_eq!(err.to_string(), "plugin `numbers` panicked in hook `compute`: 42 (a `i32` panic payload)");
}

#[test]
fn monitors_see_arguments_and_outcomes() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Num(1, log.clone()), "p1").unwrap();
    pm.register_plugin(Num(2, log.clone()), "p2").unwrap();
    let seen: Log = Log::default();
    let (b, a) = (seen.clone(), seen.clone());
    let id = pm.add_hookcall_monitoring(
        move |call| b.lock().unwrap().push(format!("before {} {:?}", call.hook, call.args)),
        move |call, outcome| {
            let outcome = match outcome {
                HookOutcome::Answered(n) => format!("{n} answers"),
                HookOutcome::Failed(e) => format!("failed: {e}"),
            };
            a.lock().unwrap().push(format!("after {} {outcome}", call.hook))
        },
    );
    let hook = pm.hook::<dyn ExtraSpec>();
    hook.compute(5, "five").unwrap();
    hook.check(0).unwrap();
    hook.check(1).unwrap_err();
    hook.pick(-2).unwrap();
    assert_eq!(
        log_of(&seen),
        [
            "before compute Some([5, \"five\"])",
            "after compute 2 answers",
            // `check` is not declared `monitor_args`: no arguments shown.
            "before check None",
            "after check 2 answers",
            "before check None",
            "after check failed: plugin `p1` failed in hook `check`: 1 is refused",
            "before pick None",
            "after pick 1 answers",
        ]
    );
    assert!(pm.remove_hookcall_monitoring(id));
}

// ---- wrappers keep each answer's plugin -----------------------------------

struct Dense;
impl Layer for Dense {
    fn output_shape(&self, inputs: &[arc_core::nn::ShapeSpec]) -> Result<arc_core::nn::ShapeSpec> {
        Ok(inputs[0].clone())
    }
}

fn dense(_: &Config) -> Result<Box<dyn Layer>> {
    Ok(Box::new(Dense))
}

struct Pack(&'static str, &'static str);
impl Plugin for Pack {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("pack").with_namespace(self.0)
    }
}
#[hookimpl]
impl LayerHookSpec for Pack {
    fn register_layers(&self) -> LayerRegistrations {
        Registrations::new().add(self.1, dense)
    }
}

/// Wraps `register_layers`: drops nothing, adds a layer of its own.
struct Auditor(Log);
impl Plugin for Auditor {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("auditor").with_namespace("audit")
    }
}
#[hookimpl]
impl LayerHookSpec for Auditor {
    #[hookimpl(wrapper)]
    fn register_layers(&self, inner: &mut Inner<'_, Answers<LayerRegistrations>>) {
        let (me, plugins) = (inner.me(), inner.plugins());
        let Ok(answers) = inner.call() else { return };
        for (owner, regs) in answers.attributed() {
            let plugin = plugins.get(owner).unwrap();
            self.0.lock().unwrap().push(format!("{} registers {}", plugin.name, regs.len()));
        }
        answers.push(me, Registrations::new().add("Audited", dense));
    }
}

#[test]
fn a_wrapper_on_register_layers_keeps_every_layer_with_its_plugin() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Pack("a", "Dense"), "pack_a").unwrap();
    pm.register_plugin(Pack("b", "Sparse"), "pack_b").unwrap();
    pm.register_plugin(Auditor(log.clone()), "auditor").unwrap();
    pm.refresh_registries().unwrap();
    assert_eq!(log_of(&log), ["pack_b registers 1", "pack_a registers 1"]);
    let mut layers = pm.get_layers();
    layers.sort();
    let expected = [("a.Dense", "pack_a"), ("audit.Audited", "auditor"), ("b.Sparse", "pack_b")];
    assert_eq!(layers, expected.map(|(n, p)| (n.to_owned(), p.to_owned())));
    assert_eq!(pm.get_layer("Sparse").unwrap().plugin().name.as_ref(), "pack_b");
}

#[test]
fn monitors_see_wrapped_calls_and_the_wrappers_changes() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Pack("a", "Dense"), "pack_a").unwrap();
    pm.register_plugin(Auditor(log.clone()), "auditor").unwrap();
    let seen: Log = Log::default();
    let (b, a) = (seen.clone(), seen.clone());
    pm.add_hookcall_monitoring(
        move |call| b.lock().unwrap().push(format!("before {} {:?}", call.hook, call.plugins)),
        move |call, outcome| a.lock().unwrap().push(format!("after {} {outcome:?}", call.hook)),
    );
    let answers = pm.hook::<dyn LayerHookSpec>().register_layers().unwrap();
    // The plugin's registration and the wrapper's own.
    assert_eq!(answers.len(), 2);
    assert_eq!(
        log_of(&seen),
        ["before register_layers [\"auditor\", \"pack_a\"]", "after register_layers Answered(2)"]
    );
}
