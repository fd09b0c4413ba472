//! Hook-call semantics: order, tryfirst/trylast, wrappers, firstresult,
//! historic calls, panics, monitoring. The ordering and wrapper cases are
//! pluggy's testing/test_hookcaller.py and testing/test_multicall.py,
//! ported by behaviour.

use std::sync::{Arc, Mutex};

use arc_core::plugin::{Answers, Inner, Plugin, PluginManager, PluginMetadata};
use arc_core::{Error, hookimpl, hookspec};

type Log = Arc<Mutex<Vec<String>>>;

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[hookspec]
pub trait OrderSpec {
    fn compute(&self, x: i32) -> i32 {
        x
    }

    #[hookspec(firstresult)]
    fn first(&self, x: i32) -> Option<i32> {
        let _ = x;
        None
    }

    fn maybe(&self, x: i32) -> Option<i32> {
        let _ = x;
        None
    }

    #[hookspec(historic)]
    fn configure(&self, config: String) -> usize {
        config.len()
    }
}

/// Plugin types answering `compute` with their tag (and logging the call),
/// one type per option combination.
macro_rules! plain_impls {
    ($($ty:ident $(($opt:ident))?;)*) => {$(
        struct $ty(i32, Log);
        impl Plugin for $ty {
            fn metadata(&self) -> PluginMetadata {
                PluginMetadata::named(stringify!($ty))
            }
        }
        #[hookimpl]
        impl OrderSpec for $ty {
            $(#[hookimpl($opt)])?
            fn compute(&self, _x: i32) -> i32 {
                self.1.lock().unwrap().push(format!("m{}", self.0));
                self.0
            }
        }
    )*};
}

/// Wrapper plugin types: log set-up and teardown around the inner call.
macro_rules! wrapper_impls {
    ($($ty:ident $(($opt:ident))?;)*) => {$(
        struct $ty(i32, Log);
        impl Plugin for $ty {
            fn metadata(&self) -> PluginMetadata {
                PluginMetadata::named(stringify!($ty))
            }
        }
        #[hookimpl]
        impl OrderSpec for $ty {
            #[hookimpl(wrapper $(, $opt)?)]
            fn compute(&self, _x: i32, inner: &mut Inner<'_, Answers<i32>>) {
                self.1.lock().unwrap().push(format!("w{} init", self.0));
                inner.call();
                self.1.lock().unwrap().push(format!("w{} finish", self.0));
            }
        }
    )*};
}

plain_impls! { Plain; First(tryfirst); Last(trylast); }
wrapper_impls! { Wrap; WrapFirst(tryfirst); WrapLast(trylast); }

fn compute(pm: &PluginManager) -> Vec<i32> {
    pm.hook::<dyn OrderSpec>().compute(0).unwrap().into_vec()
}

#[test]
fn calls_run_last_registered_first() {
    // test_hookcaller.py::test_adding_nonwrappers
    let (pm, log) = (PluginManager::new(), Log::default());
    for i in 1..=3 {
        pm.register_plugin(Plain(i, log.clone()), &format!("p{i}")).unwrap();
    }
    assert_eq!(compute(&pm), [3, 2, 1]);
    assert_eq!(log_of(&log), ["m3", "m2", "m1"]);
}

#[test]
fn trylast_goes_after_plain() {
    // test_adding_nonwrappers_trylast: m1 (trylast), m2, m3.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Last(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Plain(2, log.clone()), "m2").unwrap();
    pm.register_plugin(Plain(3, log.clone()), "m3").unwrap();
    assert_eq!(compute(&pm), [3, 2, 1]);
}

#[test]
fn trylast_band_runs_the_first_registered_first() {
    // test_adding_nonwrappers_trylast3: m1, m2 (trylast), m3, m4 (trylast).
    // pluggy inserts each trylast impl at the front of the list it walks
    // backwards, so m2 (registered first) runs before m4.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Last(2, log.clone()), "m2").unwrap();
    pm.register_plugin(Plain(3, log.clone()), "m3").unwrap();
    pm.register_plugin(Last(4, log.clone()), "m4").unwrap();
    assert_eq!(compute(&pm), [3, 1, 2, 4]);
}

#[test]
fn trylast_wrappers_run_the_first_registered_outermost() {
    // The same band rule for wrappers: w1 and w2 trylast, w1 registered first.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(WrapLast(1, log.clone()), "w1").unwrap();
    pm.register_plugin(WrapLast(2, log.clone()), "w2").unwrap();
    pm.register_plugin(Plain(3, log.clone()), "m3").unwrap();
    compute(&pm);
    assert_eq!(log_of(&log), ["w1 init", "w2 init", "m3", "w2 finish", "w1 finish"]);
}

#[test]
fn trylast_registered_last_still_runs_last() {
    // test_adding_nonwrappers_trylast2: m1, m2, m3 (trylast).
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Plain(2, log.clone()), "m2").unwrap();
    pm.register_plugin(Last(3, log.clone()), "m3").unwrap();
    assert_eq!(compute(&pm), [2, 1, 3]);
}

#[test]
fn tryfirst_goes_before_plain() {
    // test_adding_nonwrappers_tryfirst: m1 (tryfirst), m2, m3.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(First(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Plain(2, log.clone()), "m2").unwrap();
    pm.register_plugin(Plain(3, log.clone()), "m3").unwrap();
    assert_eq!(compute(&pm), [1, 3, 2]);
}

#[test]
fn tryfirst_and_trylast_are_separate_buckets() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Last(1, log.clone()), "l1").unwrap();
    pm.register_plugin(Plain(2, log.clone()), "p2").unwrap();
    pm.register_plugin(First(3, log.clone()), "f3").unwrap();
    pm.register_plugin(Last(4, log.clone()), "l4").unwrap();
    pm.register_plugin(Plain(5, log.clone()), "p5").unwrap();
    pm.register_plugin(First(6, log.clone()), "f6").unwrap();
    // Checked against pluggy 1.x: [6, 3, 5, 2, 1, 4].
    assert_eq!(compute(&pm), [6, 3, 5, 2, 1, 4]);
}

#[test]
fn wrappers_run_around_plain_implementations() {
    // test_adding_wrappers_ordering: m1 plain, then wrappers w2, w3.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Wrap(2, log.clone()), "w2").unwrap();
    pm.register_plugin(Wrap(3, log.clone()), "w3").unwrap();
    assert_eq!(compute(&pm), [1]);
    // test_multicall.py::test_hookwrapper_order: the last registered is outermost.
    assert_eq!(log_of(&log), ["w3 init", "w2 init", "m1", "w2 finish", "w3 finish"]);
}

#[test]
fn wrapper_bands_follow_tryfirst_and_trylast() {
    // test_adding_wrappers_ordering_tryfirst, extended with trylast.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(WrapFirst(1, log.clone()), "w1").unwrap();
    pm.register_plugin(WrapLast(2, log.clone()), "w2").unwrap();
    pm.register_plugin(Wrap(3, log.clone()), "w3").unwrap();
    pm.register_plugin(Plain(4, log.clone()), "m4").unwrap();
    compute(&pm);
    assert_eq!(log_of(&log), ["w1 init", "w3 init", "w2 init", "m4", "w2 finish", "w3 finish", "w1 finish"]);
}

#[test]
fn wrappers_complex_ordering() {
    // test_adding_wrappers_complex, by behaviour: plain and wrapper
    // registrations interleaved in every band.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Wrap(2, log.clone()), "w2").unwrap();
    pm.register_plugin(Last(3, log.clone()), "m3").unwrap();
    pm.register_plugin(WrapFirst(4, log.clone()), "w4").unwrap();
    pm.register_plugin(First(5, log.clone()), "m5").unwrap();
    pm.register_plugin(Plain(6, log.clone()), "m6").unwrap();
    pm.register_plugin(WrapLast(7, log.clone()), "w7").unwrap();
    assert_eq!(compute(&pm), [5, 6, 1, 3]);
    assert_eq!(
        log_of(&log),
        ["w4 init", "w2 init", "w7 init", "m5", "m6", "m1", "m3", "w7 finish", "w2 finish", "w4 finish"]
    );
}

struct Replace;
impl Plugin for Replace {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("replace")
    }
}
#[hookimpl]
impl OrderSpec for Replace {
    /// Sees the result and replaces it; turns an error into a value.
    #[hookimpl(wrapper)]
    fn compute(&self, x: i32, inner: &mut Inner<'_, Answers<i32>>) {
        let me = inner.me();
        let outcome = inner.call();
        match outcome {
            Ok(v) => v.push(me, x * 100),
            Err(Error::HookPanicked { plugin, .. }) => {
                let mut v = Answers::new();
                v.push(me, -1);
                v.push(me, plugin.len() as i32);
                *outcome = Ok(v);
            }
            Err(_) => {}
        }
    }
}

struct Panics;
impl Plugin for Panics {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("panics")
    }
}
#[hookimpl]
impl OrderSpec for Panics {
    fn compute(&self, x: i32) -> i32 {
        if x == 7 {
            panic!("seven is not allowed");
        }
        x
    }
}

#[test]
fn wrapper_sees_and_replaces_the_result() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Replace, "replace").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().compute(3).unwrap().into_vec(), [1, 300]);
}

#[test]
fn wrapper_sees_and_replaces_an_error() {
    // test_multicall.py::test_wrapper_exception, by behaviour.
    let pm = PluginManager::new();
    pm.register_plugin(Panics, "bad").unwrap();
    pm.register_plugin(Replace, "replace").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().compute(7).unwrap().into_vec(), [-1, 3]);
}

struct Skipper;
impl Plugin for Skipper {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("skipper")
    }
}
#[hookimpl]
impl OrderSpec for Skipper {
    #[hookimpl(wrapper)]
    fn compute(&self, _x: i32, inner: &mut Inner<'_, Answers<i32>>) {
        let _ = inner.me();
    }
}

#[test]
fn wrapper_that_skips_the_inner_call_is_an_error() {
    // test_multicall.py::test_hookwrapper_not_yield.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Skipper, "skipper").unwrap();
    let err = pm.hook::<dyn OrderSpec>().compute(0).unwrap_err();
    assert!(matches!(err, Error::WrapperSkippedInner { ref plugin, hook: "compute" } if plugin == "skipper"));
    assert!(log_of(&log).is_empty());
}

struct Raise;
impl Plugin for Raise {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("raise")
    }
}
#[hookimpl]
impl OrderSpec for Raise {
    /// Turns a result into an error at teardown.
    #[hookimpl(wrapper, trylast)]
    fn compute(&self, _x: i32, inner: &mut Inner<'_, Answers<i32>>) {
        if inner.call().is_ok() {
            *inner.call() =
                Err(Error::HookFailed { plugin: "raise".into(), hook: "compute".into(), source: "rejected".into() });
        }
    }
}

#[test]
fn outer_wrapper_sees_an_inner_wrappers_error() {
    // test_multicall.py::test_unwind_inner_wrapper_teardown_exc: the inner
    // wrapper fails at teardown; an outer wrapper that lets it pass sees it
    // go by, and the call fails with it.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Raise, "raise").unwrap();
    let err = pm.hook::<dyn OrderSpec>().compute(0).unwrap_err();
    assert_eq!(err.to_string(), "plugin `raise` failed in hook `compute`: rejected");
    pm.register_plugin(Wrap(2, log.clone()), "w2").unwrap();
    assert!(pm.hook::<dyn OrderSpec>().compute(0).is_err());
    assert_eq!(log_of(&log), ["m1", "w2 init", "m1", "w2 finish"]);
}

struct Suppress(Log);
impl Plugin for Suppress {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("suppress")
    }
}
#[hookimpl]
impl OrderSpec for Suppress {
    /// Replaces an inner wrapper's error with its own answer.
    #[hookimpl(wrapper)]
    fn compute(&self, _x: i32, inner: &mut Inner<'_, Answers<i32>>) {
        let me = inner.me();
        let outcome = inner.call();
        if let Err(e) = outcome {
            self.0.lock().unwrap().push(format!("suppressed: {e}"));
            let mut answers = Answers::new();
            answers.push(me, 42);
            *outcome = Ok(answers);
        }
    }
}

#[test]
fn outer_wrapper_suppresses_an_inner_wrappers_error() {
    // test_multicall.py::test_suppress_inner_wrapper_teardown_exc: the outer
    // wrapper replaces the inner one's error with a value; the caller gets
    // the value.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Raise, "raise").unwrap();
    pm.register_plugin(Suppress(log.clone()), "suppress").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().compute(0).unwrap().into_vec(), [42]);
    assert_eq!(log_of(&log), ["m1", "suppressed: plugin `raise` failed in hook `compute`: rejected"]);
    // The visitor form credits the replacement to the suppressing wrapper.
    let mut seen = Vec::new();
    pm.hook::<dyn OrderSpec>()
        .visit_compute(0, |plugin, r| {
            seen.push(format!("{}={r}", plugin.name));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, ["suppress=42"]);
}

struct PanicsAtTeardown(Log);
impl Plugin for PanicsAtTeardown {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("teardown")
    }
}
#[hookimpl]
impl OrderSpec for PanicsAtTeardown {
    /// Calls the rest twice (the second gives the same outcome, nothing
    /// runs again), then panics.
    #[hookimpl(wrapper, trylast)]
    fn compute(&self, _x: i32, inner: &mut Inner<'_, Answers<i32>>) {
        let first: Vec<i32> = inner.call().as_ref().map(|a| a.iter().copied().collect()).unwrap_or_default();
        let again: Vec<i32> = inner.call().as_ref().map(|a| a.iter().copied().collect()).unwrap_or_default();
        self.0.lock().unwrap().push(format!("saw {first:?} then {again:?}"));
        panic!("teardown failed");
    }
}

#[test]
fn an_outer_wrapper_sees_an_inner_wrappers_panic() {
    // test_multicall.py::test_unwind_inner_wrapper_teardown_exc, with a
    // panic: the inner wrapper's panic reaches the outer one as an error,
    // which it replaces with a value.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(PanicsAtTeardown(log.clone()), "teardown").unwrap();
    pm.register_plugin(Replace, "replace").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().compute(0).unwrap().into_vec(), [-1, "teardown".len() as i32]);
    assert_eq!(log_of(&log), ["m1", "saw [1] then [1]"]);
    // Without the outer wrapper the call fails, naming the wrapper.
    pm.unregister("replace").unwrap();
    let err = pm.hook::<dyn OrderSpec>().compute(0).unwrap_err();
    assert_eq!(err.to_string(), "plugin `teardown` panicked in hook `compute`: teardown failed");
}

/// Answers `first` and `maybe` with `Some(tag)` when the tag is positive.
macro_rules! answer_impls {
    ($($ty:ident $(($opt:ident))?;)*) => {$(
        struct $ty(i32, Log);
        impl Plugin for $ty {
            fn metadata(&self) -> PluginMetadata {
                PluginMetadata::named(stringify!($ty))
            }
        }
        #[hookimpl]
        impl OrderSpec for $ty {
            $(#[hookimpl($opt)])?
            fn first(&self, _x: i32) -> Option<i32> {
                self.1.lock().unwrap().push(format!("m{}", self.0));
                (self.0 > 0).then_some(self.0)
            }

            fn maybe(&self, _x: i32) -> Option<i32> {
                (self.0 > 0).then_some(self.0)
            }
        }
    )*};
}

answer_impls! { Answer; AnswerFirst(tryfirst); }

#[test]
fn firstresult_stops_at_the_first_some() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Answer(1, log.clone()), "a1").unwrap();
    pm.register_plugin(Answer(2, log.clone()), "a2").unwrap();
    pm.register_plugin(Answer(-3, log.clone()), "silent3").unwrap();
    // silent3 says None, a2 answers, a1 is never called.
    assert_eq!(pm.hook::<dyn OrderSpec>().first(0).unwrap(), Some(2));
    assert_eq!(log_of(&log), ["m-3", "m2"]);
    pm.register_plugin(AnswerFirst(-4, log.clone()), "silent4").unwrap();
    pm.register_plugin(AnswerFirst(5, log.clone()), "a5").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().first(0).unwrap(), Some(5));
}

#[test]
fn firstresult_with_no_answer_is_none() {
    // test_multicall.py::test_call_none_is_no_result.
    let (pm, log) = (PluginManager::new(), Log::default());
    assert_eq!(pm.hook::<dyn OrderSpec>().first(0).unwrap(), None);
    pm.register_plugin(Answer(-1, log.clone()), "silent").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().first(0).unwrap(), None);
}

#[test]
fn none_results_are_dropped_from_collected_results() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Answer(1, log.clone()), "a1").unwrap();
    pm.register_plugin(Answer(-2, log.clone()), "silent").unwrap();
    pm.register_plugin(Answer(3, log.clone()), "a3").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().maybe(0).unwrap().into_vec(), [3, 1]);
}

#[test]
fn visitor_form_sees_each_result_with_its_plugin_and_can_stop() {
    let (pm, log) = (PluginManager::new(), Log::default());
    for i in 1..=4 {
        pm.register_plugin(Plain(i, log.clone()), &format!("p{i}")).unwrap();
    }
    let mut seen = Vec::new();
    pm.hook::<dyn OrderSpec>()
        .visit_compute(0, |plugin, r| {
            seen.push(format!("{}={r}", plugin.name));
            if r == 3 { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!(seen, ["p4=4", "p3=3"]);
    assert_eq!(log_of(&log), ["m4", "m3"]);
}

struct Configured(Log);
impl Plugin for Configured {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("configured")
    }
}
#[hookimpl]
impl OrderSpec for Configured {
    fn configure(&self, config: String) -> usize {
        self.0.lock().unwrap().push(config.clone());
        config.len()
    }
}

#[test]
fn historic_calls_are_replayed_to_plugins_registered_later() {
    // test_pluginmanager.py::test_historic_call, by behaviour.
    let pm = PluginManager::new();
    let (early, late) = (Log::default(), Log::default());
    pm.register_plugin(Configured(early.clone()), "early").unwrap();
    let results: Log = Log::default();
    let sink = results.clone();
    pm.hook::<dyn OrderSpec>()
        .configure_with_results("verbose".into(), move |plugin, n| {
            sink.lock().unwrap().push(format!("{}:{n}", plugin.name))
        })
        .unwrap();
    pm.hook::<dyn OrderSpec>().configure("quiet".into()).unwrap();
    assert_eq!(log_of(&early), ["verbose", "quiet"]);
    pm.register_plugin(Configured(late.clone()), "late").unwrap();
    // Replayed on registration, in call order, with the result callback.
    assert_eq!(log_of(&late), ["verbose", "quiet"]);
    assert_eq!(log_of(&results), ["early:7", "late:7"]);
    // And it takes part in later calls like any plugin.
    pm.hook::<dyn OrderSpec>().configure("x".into()).unwrap();
    assert_eq!(log_of(&late), ["verbose", "quiet", "x"]);
    assert_eq!(log_of(&early), ["verbose", "quiet", "x"]);
}

#[test]
fn a_panicking_implementation_is_an_error_naming_plugin_and_hook() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Panics, "bad").unwrap();
    let err = pm.hook::<dyn OrderSpec>().compute(7).unwrap_err();
    assert_eq!(err.to_string(), "plugin `bad` panicked in hook `compute`: seven is not allowed");
    // The manager still works: the same hook, other arguments.
    assert_eq!(pm.hook::<dyn OrderSpec>().compute(2).unwrap().into_vec(), [2, 1]);
    pm.unregister("bad").unwrap();
    assert_eq!(pm.hook::<dyn OrderSpec>().compute(7).unwrap().into_vec(), [1]);
}

#[test]
fn monitors_see_every_call_and_can_be_removed() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Panics, "bad").unwrap();
    let seen: Log = Log::default();
    let (b, a) = (seen.clone(), seen.clone());
    let id = pm.add_hookcall_monitoring(
        move |call| b.lock().unwrap().push(format!("before {}.{} {:?}", call.spec, call.hook, call.plugins)),
        move |call, outcome| a.lock().unwrap().push(format!("after {} ok={}", call.hook, outcome.is_ok())),
    );
    pm.hook::<dyn OrderSpec>().compute(0).unwrap();
    pm.hook::<dyn OrderSpec>().compute(7).unwrap_err();
    assert_eq!(
        log_of(&seen),
        [
            "before OrderSpec.compute [\"bad\", \"m1\"]",
            "after compute ok=true",
            "before OrderSpec.compute [\"bad\", \"m1\"]",
            "after compute ok=false",
        ]
    );
    assert!(pm.remove_hookcall_monitoring(id));
    assert!(!pm.remove_hookcall_monitoring(id));
    pm.hook::<dyn OrderSpec>().compute(0).unwrap();
    assert_eq!(log_of(&seen).len(), 4);
}

#[test]
fn only_plugins_implementing_a_hook_are_called() {
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    pm.register_plugin(Answer(2, log.clone()), "a2").unwrap();
    let hook = pm.hook::<dyn OrderSpec>();
    let compute = arc_core::plugin::SpecRelay::caller(&*hook, "compute").unwrap();
    assert_eq!(compute.impls().iter().map(|i| &*i.info.name).collect::<Vec<_>>(), ["m1"]);
    let first = arc_core::plugin::SpecRelay::caller(&*hook, "first").unwrap();
    assert_eq!(first.impls().iter().map(|i| &*i.info.name).collect::<Vec<_>>(), ["a2"]);
}

#[test]
fn a_snapshot_is_unaffected_by_later_registrations() {
    // pluggy copies the impl list before calling (pluggy #438): a plugin
    // registered during or after a call does not change that call.
    let (pm, log) = (PluginManager::new(), Log::default());
    pm.register_plugin(Plain(1, log.clone()), "m1").unwrap();
    let snapshot = pm.hook::<dyn OrderSpec>();
    pm.register_plugin(Plain(2, log.clone()), "m2").unwrap();
    assert_eq!(snapshot.compute(0).unwrap().into_vec(), [1]);
    assert_eq!(compute(&pm), [2, 1]);
}
