//! Declarative ordering: `before = ".."` / `after = ".."` on an
//! implementation (or on a whole `#[hookimpl]` block), honoured inside its
//! tryfirst / unmarked / trylast band; cycles refused at registration.

use std::sync::{Arc, Mutex};

use arc_core::nn::Layer;
use arc_core::plugin::{
    Answers, Inner, LayerHookSpec, LayerRegistrations, Plugin, PluginManager, PluginMetadata, Registrations,
};
use arc_core::spec::Config;
use arc_core::{Error, Result, hookimpl, hookspec};

type Log = Arc<Mutex<Vec<String>>>;

#[hookspec]
pub trait Steps {
    fn step(&self) -> &'static str {
        ""
    }

    fn other(&self) -> &'static str {
        ""
    }
}

/// A plugin type answering `step` with `$tag`, with the given options.
macro_rules! step_plugin {
    ($ty:ident, $tag:literal $(, $opt:meta)*) => {
        struct $ty;
        impl Plugin for $ty {
            fn metadata(&self) -> PluginMetadata {
                PluginMetadata::named($tag)
            }
        }
        #[hookimpl]
        impl Steps for $ty {
            $(#[$opt])*
            fn step(&self) -> &'static str {
                $tag
            }
        }
    };
}

step_plugin!(A, "a");
step_plugin!(B, "b");
step_plugin!(C, "c");
step_plugin!(ABeforeC, "a", hookimpl(before = "c"));
step_plugin!(CAfterA, "c", hookimpl(after = "a"));
step_plugin!(BBeforeA, "b", hookimpl(before = ["a"]));
step_plugin!(CBeforeB, "c", hookimpl(before = "b"));
step_plugin!(ABeforeB, "a", hookimpl(before = "b"));
step_plugin!(BBeforeC, "b", hookimpl(before = "c"));
step_plugin!(CBeforeA, "c", hookimpl(before = "a"));
step_plugin!(TryfirstAfterC, "t", hookimpl(tryfirst, after = "c"));
step_plugin!(TrylastBeforeA, "l", hookimpl(trylast, before = "a"));
step_plugin!(LastX, "x", hookimpl(trylast));
step_plugin!(LastYBeforeX, "y", hookimpl(trylast, before = "x"));
step_plugin!(AfterLate, "e", hookimpl(after = "late"));
step_plugin!(Late, "late");
step_plugin!(ABeforeN, "a", hookimpl(before = "n"));
step_plugin!(BAfterNBeforeA, "b", hookimpl(after = "n", before = "a"));
step_plugin!(N, "n");

fn order(pm: &PluginManager) -> Vec<&'static str> {
    pm.hook::<dyn Steps>().step().unwrap().into_vec()
}

/// Registers one plugin under the name it is given.
type Registerer = Box<dyn FnOnce(&PluginManager, &str) -> Result<()>>;

fn manager(plugins: Vec<(&str, Registerer)>) -> Result<PluginManager> {
    let pm = PluginManager::new();
    for (name, register) in plugins {
        register(&pm, name)?;
    }
    Ok(pm)
}

macro_rules! plugins {
    ($($name:literal: $p:expr),* $(,)?) => {
        vec![$(($name, Box::new(|pm: &PluginManager, n: &str| pm.register_plugin($p, n)) as Registerer)),*]
    };
}

#[test]
fn before_moves_an_implementation_ahead_within_its_band() {
    // Without options: c, b, a (last registered first).
    assert_eq!(order(&manager(plugins!["a": A, "b": B, "c": C]).unwrap()), ["c", "b", "a"]);
    // a before c: the smallest change to the default order.
    assert_eq!(order(&manager(plugins!["a": ABeforeC, "b": B, "c": C]).unwrap()), ["b", "a", "c"]);
    // The same constraint written on c as `after`.
    assert_eq!(order(&manager(plugins!["a": A, "b": B, "c": CAfterA]).unwrap()), ["b", "a", "c"]);
}

#[test]
fn constraints_chain() {
    // a before b, b before c: a, b, c, whatever the registration order.
    let pm = manager(plugins!["c": C, "b": BBeforeC, "a": ABeforeB]).unwrap();
    assert_eq!(order(&pm), ["a", "b", "c"]);
    let pm = manager(plugins!["a": ABeforeB, "b": BBeforeC, "c": C]).unwrap();
    assert_eq!(order(&pm), ["a", "b", "c"]);
}

#[test]
fn a_cycle_is_refused_at_registration_naming_every_plugin_in_it() {
    let pm = manager(plugins!["a": ABeforeB, "b": BBeforeC]).unwrap();
    let err = pm.register_plugin(CBeforeA, "c").unwrap_err();
    let Error::HookOrderCycle { spec, hook, ref plugins } = err else { panic!("{err}") };
    assert_eq!((spec, hook), ("Steps", "step"));
    let mut named = plugins[..plugins.len() - 1].to_vec();
    named.sort();
    assert_eq!(named, ["a", "b", "c"]);
    assert_eq!(plugins.first(), plugins.last());
    assert!(err.to_string().starts_with("hook `Steps.step`: the `before`/`after` options of plugins `"), "{err}");
    // The refused plugin is not registered; the others still work.
    assert!(!pm.is_registered("c"));
    assert_eq!(order(&pm), ["a", "b"]);
    // Two plugins naming each other.
    let pm = manager(plugins!["b": BBeforeA]).unwrap();
    let err = pm.register_plugin(ABeforeB, "a").unwrap_err();
    assert!(matches!(err, Error::HookOrderCycle { ref plugins, .. } if plugins.len() == 3), "{err}");
}

#[test]
fn a_plugin_without_options_can_close_a_cycle_the_others_name_it_in() {
    // a before n, n before b (b's `after`), b before a: registering n, which
    // has no options of its own, closes the cycle.
    let pm = manager(plugins!["a": ABeforeN, "b": BAfterNBeforeA]).unwrap();
    let err = pm.register_plugin(N, "n").unwrap_err();
    assert!(matches!(err, Error::HookOrderCycle { ref plugins, .. } if plugins.len() == 4), "{err}");
    // Once b is gone, n registers.
    pm.unregister("b").unwrap();
    pm.register_plugin(N, "n").unwrap();
    assert_eq!(order(&pm), ["a", "n"]);
}

#[test]
fn bands_come_first_constraints_order_inside_a_band() {
    // t is tryfirst and asks to run after c (unmarked): the bands already
    // put t first, and a constraint across bands changes nothing.
    let pm = manager(plugins!["c": C, "t": TryfirstAfterC, "a": A]).unwrap();
    assert_eq!(order(&pm), ["t", "a", "c"]);
    // l is trylast and asks to run before a (unmarked): it still runs last.
    let pm = manager(plugins!["a": A, "l": TrylastBeforeA]).unwrap();
    assert_eq!(order(&pm), ["a", "l"]);
    // Inside the trylast band (first registered first: x, y) y before x.
    let pm = manager(plugins!["x": LastX, "y": LastYBeforeX, "b": B]).unwrap();
    assert_eq!(order(&pm), ["b", "y", "x"]);
}

#[test]
fn a_plugin_registered_later_is_ordered_when_it_arrives() {
    let pm = manager(plugins!["e": AfterLate, "b": B]).unwrap();
    // Not registered yet: the option is ignored, and reported.
    assert_eq!(order(&pm), ["b", "e"]);
    let warnings = pm.order_warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].to_string(),
        "plugin `e` orders its `Steps.step` relative to `late`, which is not registered: the option is ignored"
    );
    pm.register_plugin(Late, "late").unwrap();
    // Default order would be late, b, e; e must run after late.
    assert_eq!(order(&pm), ["late", "b", "e"]);
    assert!(pm.order_warnings().is_empty());
}

// ---- wrappers and whole blocks ---------------------------------------------

/// A wrapper logging around the call.
struct OuterWrap(Log);
impl Plugin for OuterWrap {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("outer")
    }
}
/// Every hook of the block runs before plugin `inner`'s.
#[hookimpl(before = "inner")]
impl Steps for OuterWrap {
    #[hookimpl(wrapper)]
    fn step(&self, inner: &mut Inner<'_, Answers<&'static str>>) {
        self.0.lock().unwrap().push("outer init".into());
        inner.call();
        self.0.lock().unwrap().push("outer finish".into());
    }

    fn other(&self) -> &'static str {
        "outer"
    }
}

struct InnerWrap(Log);
impl Plugin for InnerWrap {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("inner")
    }
}
#[hookimpl]
impl Steps for InnerWrap {
    #[hookimpl(wrapper)]
    fn step(&self, inner: &mut Inner<'_, Answers<&'static str>>) {
        self.0.lock().unwrap().push("inner init".into());
        inner.call();
        self.0.lock().unwrap().push("inner finish".into());
    }

    fn other(&self) -> &'static str {
        "inner"
    }
}

#[test]
fn wrappers_and_block_level_options() {
    let log = Log::default();
    let pm = PluginManager::new();
    pm.register_plugin(OuterWrap(log.clone()), "outer").unwrap();
    // Registered later, `inner` would be the outermost wrapper; `outer`'s
    // block says it runs before `inner`, so it wraps it.
    pm.register_plugin(InnerWrap(log.clone()), "inner").unwrap();
    pm.register_plugin(A, "a").unwrap();
    assert_eq!(pm.hook::<dyn Steps>().step().unwrap().into_vec(), ["a"]);
    assert_eq!(*log.lock().unwrap(), ["outer init", "inner init", "inner finish", "outer finish"]);
    // The block option covers its plain hooks too.
    assert_eq!(pm.hook::<dyn Steps>().other().unwrap().into_vec(), ["outer", "inner"]);
}

// ---- ordering never decides which duplicate component wins -----------------

struct Dense;
impl Layer for Dense {
    fn output_shape(&self, inputs: &[arc_core::nn::ShapeSpec]) -> Result<arc_core::nn::ShapeSpec> {
        Ok(inputs[0].clone())
    }
}

fn dense(_: &Config) -> Result<Box<dyn Layer>> {
    Ok(Box::new(Dense))
}

macro_rules! layer_plugin {
    ($ty:ident $(, $opt:meta)*) => {
        struct $ty;
        impl Plugin for $ty {
            fn metadata(&self) -> PluginMetadata {
                PluginMetadata::named(stringify!($ty)).with_namespace("shared")
            }
        }
        #[hookimpl]
        impl LayerHookSpec for $ty {
            $(#[$opt])*
            fn register_layers(&self) -> LayerRegistrations {
                Registrations::new().add("Dense", dense)
            }
        }
    };
}

layer_plugin!(EarlyFirst, hookimpl(after = "late"));
layer_plugin!(LateLayers, hookimpl(trylast));

#[test]
fn the_later_registered_plugin_wins_a_duplicate_name_whatever_the_call_order() {
    let pm = PluginManager::new();
    pm.register_plugin(EarlyFirst, "early").unwrap();
    pm.register_plugin(LateLayers, "late").unwrap();
    // Call order: early (unmarked) then late (trylast), and early asks to
    // run after late, which the bands overrule. Registration order decides.
    pm.refresh_registries().unwrap();
    assert_eq!(pm.get_layer("shared.Dense").unwrap().plugin().name.as_ref(), "late");
    let warnings = pm.registry_warnings();
    assert_eq!((warnings[0].winner.as_str(), warnings[0].loser.as_str()), ("late", "early"));
}
