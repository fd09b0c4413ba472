//! The hook call loop: pluggy's `_multicall`, typed.
//!
//! A [`HookCaller`] holds the implementations of one hook, sorted once when
//! it is built (see [`HookCaller::build`]), so a call is a plain slice walk.
//! Call order, as in pluggy: wrappers first (outermost first), then the
//! plain implementations; inside each group `tryfirst` ones, then the
//! unmarked, then `trylast`; inside each band the last registered first.

use std::any::Any;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use super::PluginInfo;
use super::monitor::{HookCallInfo, HookMonitors};
use crate::{Error, Result as HookResult};

/// Options a hook implementation was marked with (`#[hookimpl(..)]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookImplOpts {
    /// Call before the unmarked implementations.
    pub tryfirst: bool,
    /// Call after the unmarked implementations.
    pub trylast: bool,
    /// Run around the other implementations, seeing and able to replace
    /// their result or error.
    pub wrapper: bool,
}

/// One hook method a plugin type implements, as recorded by `#[hookimpl]`.
#[derive(Clone, Copy, Debug)]
pub struct HookImplMethod {
    /// The hook's name (the trait method's name).
    pub hook: &'static str,
    /// Its options.
    pub opts: HookImplOpts,
}

/// The declaration of one hook, as written by `#[hookspec]`.
#[derive(Clone, Copy, Debug)]
pub struct HookDecl {
    /// The hook's name (the trait method's name).
    pub name: &'static str,
    /// Stop at the first implementation that answers `Some`.
    pub firstresult: bool,
    /// Calls are remembered and replayed to plugins registered later.
    pub historic: bool,
}

/// A hook specification: implemented by `#[hookspec]` for `dyn Trait`.
pub trait HookSpec: Send + Sync + 'static {
    /// The trait's name, e.g. `LayerHookSpec`.
    const NAME: &'static str;
    /// Every hook of the trait, in declaration order.
    const HOOKS: &'static [HookDecl];
    /// The generated relay: one [`HookCaller`] per hook, with typed methods.
    type Relay: SpecRelay<Self>;
}

/// The generated per-spec relay: built from the registered implementations.
pub trait SpecRelay<S: ?Sized + HookSpec>: Send + Sync + Sized + 'static {
    /// Builds the relay; `prev` carries historic call records over.
    fn build(impls: &[PluginImpl<S>], monitors: &Arc<HookMonitors>, prev: Option<&Self>) -> Self;
    /// The caller of the hook named `hook`.
    fn caller(&self, hook: &str) -> Option<&HookCaller<S>>;
}

/// A registered plugin seen as an implementation of spec `S`.
pub struct PluginImpl<S: ?Sized> {
    /// The plugin, as the spec's trait object.
    pub plugin: Arc<S>,
    /// Who it is.
    pub info: Arc<PluginInfo>,
    /// The hooks of `S` it implements, with their options.
    pub methods: &'static [HookImplMethod],
}

/// One implementation of one hook.
pub struct HookImpl<S: ?Sized> {
    /// The plugin.
    pub plugin: Arc<S>,
    /// Who it is.
    pub info: Arc<PluginInfo>,
    /// Its options for this hook.
    pub opts: HookImplOpts,
}

impl<S: ?Sized> Clone for HookImpl<S> {
    fn clone(&self) -> Self {
        Self { plugin: self.plugin.clone(), info: self.info.clone(), opts: self.opts }
    }
}

/// The results of a collecting hook call, in call order: up to four are
/// held inline, so a call with few implementations does not allocate.
pub type HookResults<R> = smallvec::SmallVec<[R; 4]>;

/// Receives each result of a historic call, with the plugin that gave it.
pub type ResultCallback<R> = Arc<dyn Fn(&PluginInfo, R) + Send + Sync>;

type HistoricCall<S> = Arc<dyn Fn(&S, &PluginInfo) + Send + Sync>;

/// The rest of a hook call, handed to a wrapper.
///
/// A wrapper must call [`Inner::call`] exactly once (pluggy: a wrapper must
/// yield); it then sees the inner result and may return it, change it, or
/// replace an error with a value (or a value with an error).
pub struct Inner<'a, O> {
    next: &'a mut dyn FnMut() -> HookResult<O>,
}

impl<O> Inner<'_, O> {
    /// Runs the inner wrappers and the implementations; returns their
    /// result or error.
    pub fn call(self) -> HookResult<O> {
        (self.next)()
    }
}

/// The implementations of one hook, sorted in call order.
pub struct HookCaller<S: ?Sized> {
    spec: &'static str,
    decl: &'static HookDecl,
    /// Call order: `impls[..wrappers]` are wrappers, the rest plain.
    impls: Box<[HookImpl<S>]>,
    wrappers: usize,
    monitors: Arc<HookMonitors>,
    history: Option<Arc<Mutex<Vec<HistoricCall<S>>>>>,
}

impl<S: ?Sized + HookSpec> HookCaller<S> {
    /// Builds the caller of hook `decl` from the plugins in registration
    /// order, keeping only those that implement it.
    pub fn build(
        decl: &'static HookDecl,
        impls: &[PluginImpl<S>],
        monitors: &Arc<HookMonitors>,
        prev: Option<&Self>,
    ) -> Self {
        let mut sorted: Vec<HookImpl<S>> = Vec::new();
        // Bands, as pluggy's `_add_hookimpl` keeps them; each band is walked
        // last-registered first.
        let band = |o: &HookImplOpts| match (o.wrapper, o.tryfirst, o.trylast) {
            (true, true, _) => 0,
            (true, false, false) => 1,
            (true, false, true) => 2,
            (false, true, _) => 3,
            (false, false, false) => 4,
            (false, false, true) => 5,
        };
        for b in 0..6 {
            for imp in impls.iter().rev() {
                for m in imp.methods.iter().filter(|m| m.hook == decl.name) {
                    if band(&m.opts) == b {
                        sorted.push(HookImpl { plugin: imp.plugin.clone(), info: imp.info.clone(), opts: m.opts });
                    }
                }
            }
        }
        let wrappers = sorted.iter().take_while(|i| i.opts.wrapper).count();
        let history = if decl.historic { Some(prev.and_then(|p| p.history.clone()).unwrap_or_default()) } else { None };
        Self { spec: S::NAME, decl, impls: sorted.into_boxed_slice(), wrappers, monitors: monitors.clone(), history }
    }

    /// The hook's name.
    pub fn name(&self) -> &'static str {
        self.decl.name
    }

    /// The implementations in call order (wrappers first).
    pub fn impls(&self) -> &[HookImpl<S>] {
        &self.impls
    }

    /// Whether no plugin implements this hook.
    pub fn is_empty(&self) -> bool {
        self.impls.is_empty()
    }

    /// Calls every implementation; collects their results in call order.
    #[inline]
    pub fn call_collect<R>(
        &self,
        call: impl Fn(&S) -> R,
        wrap: impl Fn(&S, Inner<'_, HookResults<R>>) -> HookResult<HookResults<R>>,
    ) -> HookResult<HookResults<R>> {
        self.collect(|p, out| out.push(call(p)), wrap)
    }

    /// Calls every implementation; collects the `Some` results (a `None`
    /// means "nothing to say" and is dropped, as pluggy drops `None`).
    #[inline]
    pub fn call_collect_some<R>(
        &self,
        call: impl Fn(&S) -> Option<R>,
        wrap: impl Fn(&S, Inner<'_, HookResults<R>>) -> HookResult<HookResults<R>>,
    ) -> HookResult<HookResults<R>> {
        self.collect(|p, out| out.extend(call(p)), wrap)
    }

    /// The plain walk of both collecting forms: `push` adds a plugin's answer.
    #[inline]
    fn collect<R>(
        &self,
        push: impl Fn(&S, &mut HookResults<R>),
        wrap: impl Fn(&S, Inner<'_, HookResults<R>>) -> HookResult<HookResults<R>>,
    ) -> HookResult<HookResults<R>> {
        self.execute(
            |plain| {
                let mut out = HookResults::with_capacity(plain.len());
                self.guarded_walk(plain, |imp| {
                    push(&imp.plugin, &mut out);
                    ControlFlow::Continue(())
                })?;
                Ok(out)
            },
            &wrap,
        )
    }

    /// `firstresult`: calls implementations until one answers `Some`.
    #[inline]
    pub fn call_first<R>(
        &self,
        call: impl Fn(&S) -> Option<R>,
        wrap: impl Fn(&S, Inner<'_, Option<R>>) -> HookResult<Option<R>>,
    ) -> HookResult<Option<R>> {
        self.execute(
            |plain| {
                let mut out = None;
                self.guarded_walk(plain, |imp| match call(&imp.plugin) {
                    // Halt further implementation calls.
                    Some(r) => {
                        out = Some(r);
                        ControlFlow::Break(())
                    }
                    None => ControlFlow::Continue(()),
                })?;
                Ok(out)
            },
            &wrap,
        )
    }

    /// The allocation-free visitor form: hands each result to `visit` as it
    /// comes, with the plugin that gave it; `visit` may stop the walk.
    ///
    /// With wrappers present the results are collected first (wrappers see
    /// the whole list), then visited.
    #[inline]
    pub fn visit<R>(
        &self,
        call: impl Fn(&S) -> R,
        visit: impl FnMut(&Arc<PluginInfo>, R) -> ControlFlow<()>,
        wrap: impl Fn(&S, Inner<'_, HookResults<R>>) -> HookResult<HookResults<R>>,
    ) -> HookResult<()> {
        self.visit_some(|p| Some(call(p)), visit, wrap)
    }

    /// [`visit`](Self::visit) for hooks answering `Option<R>`: `None`
    /// answers are skipped.
    #[inline]
    pub fn visit_some<R>(
        &self,
        call: impl Fn(&S) -> Option<R>,
        mut visit: impl FnMut(&Arc<PluginInfo>, R) -> ControlFlow<()>,
        wrap: impl Fn(&S, Inner<'_, HookResults<R>>) -> HookResult<HookResults<R>>,
    ) -> HookResult<()> {
        if self.wrappers > 0 {
            // Wrappers may have changed the list, so no plugin is attributable.
            let anonymous = PluginInfo::anonymous();
            for r in self.call_collect_some(&call, wrap)? {
                if visit(&anonymous, r).is_break() {
                    break;
                }
            }
            return Ok(());
        }
        self.execute(
            |plain| {
                self.guarded_walk(plain, |imp| match call(&imp.plugin) {
                    Some(r) => visit(&imp.info, r),
                    None => ControlFlow::Continue(()),
                })
            },
            &|_: &S, inner: Inner<'_, ()>| inner.call(),
        )
    }

    /// A historic call: runs now and is remembered, so each plugin
    /// registered later is called with the same arguments on registration.
    /// `on_result` receives every result, now and at each replay.
    pub fn call_historic<R: 'static>(
        &self,
        call: impl Fn(&S) -> R + Send + Sync + 'static,
        on_result: Option<ResultCallback<R>>,
    ) -> HookResult<()> {
        let record: HistoricCall<S> = Arc::new(move |plugin: &S, info: &PluginInfo| {
            let r = call(plugin);
            if let Some(f) = &on_result {
                f(info, r);
            }
        });
        if let Some(history) = &self.history {
            history.lock().unwrap_or_else(|e| e.into_inner()).push(record.clone());
        }
        self.execute(
            |plain| {
                self.guarded_walk(plain, |imp| {
                    record(&imp.plugin, &imp.info);
                    ControlFlow::Continue(())
                })
            },
            &|_: &S, inner: Inner<'_, ()>| inner.call(),
        )
    }

    /// Replays the remembered historic calls to one newly registered
    /// implementation.
    pub fn replay(&self, imp: &HookImpl<S>) -> HookResult<()> {
        let Some(history) = &self.history else {
            return Ok(());
        };
        let calls: Vec<_> = history.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for record in calls {
            guard(&imp.info, self.decl.name, || record(&imp.plugin, &imp.info))?;
        }
        Ok(())
    }

    /// Wrappers, monitoring and tracing around the plain walk.
    #[inline]
    fn execute<O>(
        &self,
        plain: impl FnOnce(&[HookImpl<S>]) -> HookResult<O>,
        wrap: &dyn Fn(&S, Inner<'_, O>) -> HookResult<O>,
    ) -> HookResult<O> {
        // The hot path: no wrapper, no monitor, no trace subscriber.
        let monitored = self.monitors.is_active();
        if self.wrappers == 0 && !monitored && !tracing::level_enabled!(tracing::Level::TRACE) {
            return plain(&self.impls);
        }
        self.execute_traced(plain, wrap, monitored)
    }

    #[inline(never)]
    fn execute_traced<O>(
        &self,
        plain: impl FnOnce(&[HookImpl<S>]) -> HookResult<O>,
        wrap: &dyn Fn(&S, Inner<'_, O>) -> HookResult<O>,
        monitored: bool,
    ) -> HookResult<O> {
        let _span = tracing::level_enabled!(tracing::Level::TRACE)
            .then(|| tracing::trace_span!("hook", spec = self.spec, hook = self.decl.name).entered());
        if monitored {
            self.monitors.before(&self.call_info());
        }
        let out = if self.wrappers == 0 {
            plain(&self.impls)
        } else {
            let mut plain = Some(plain);
            self.wrapped(0, &mut plain, wrap)
        };
        if monitored {
            self.monitors.after(&self.call_info(), out.as_ref().map(|_| ()));
        }
        out
    }

    fn call_info(&self) -> HookCallInfo<'_> {
        HookCallInfo {
            spec: self.spec,
            hook: self.decl.name,
            plugins: self.impls.iter().map(|i| &*i.info.name).collect(),
        }
    }

    /// Runs wrapper `i` around the rest of the call.
    fn wrapped<O, P>(
        &self,
        i: usize,
        plain: &mut Option<P>,
        wrap: &dyn Fn(&S, Inner<'_, O>) -> HookResult<O>,
    ) -> HookResult<O>
    where
        P: FnOnce(&[HookImpl<S>]) -> HookResult<O>,
    {
        if i == self.wrappers {
            let plain = plain.take().expect("the plain implementations run once per call");
            return plain(&self.impls[self.wrappers..]);
        }
        let w = &self.impls[i];
        let mut called = false;
        let result = {
            let mut next = || {
                called = true;
                self.wrapped(i + 1, plain, wrap)
            };
            guard(&w.info, self.decl.name, || wrap(&w.plugin, Inner { next: &mut next }))
        };
        match result {
            // A wrapper that never ran the inner call broke the protocol.
            Ok(_) if !called => {
                Err(Error::WrapperSkippedInner { plugin: w.info.name.to_string(), hook: self.decl.name })
            }
            Ok(r) => r,
            Err(panic) => Err(panic),
        }
    }

    /// Walks the plain implementations under one panic guard.
    #[inline]
    fn guarded_walk(
        &self,
        plain: &[HookImpl<S>],
        mut step: impl FnMut(&HookImpl<S>) -> ControlFlow<()>,
    ) -> HookResult<()> {
        let mut at = 0;
        let walk = catch_unwind(AssertUnwindSafe(|| {
            for (i, imp) in plain.iter().enumerate() {
                at = i;
                if step(imp).is_break() {
                    break;
                }
            }
        }));
        walk.map_err(|payload| panicked(&plain[at].info, self.decl.name, payload))
    }
}

/// Runs `f`, turning a panic into [`Error::HookPanicked`].
fn guard<R>(info: &PluginInfo, hook: &'static str, f: impl FnOnce() -> R) -> HookResult<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(info, hook, payload))
}

fn panicked(info: &PluginInfo, hook: &'static str, payload: Box<dyn Any + Send>) -> Error {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    Error::HookPanicked { plugin: info.name.to_string(), hook, message }
}
