//! The hook call loop: pluggy's `_multicall`, typed.
//!
//! A [`HookCaller`] holds the implementations of one hook, sorted once when
//! it is built (see [`HookCaller::build`] and the `order` module), so a
//! call is a plain slice walk. Call order, as in pluggy: wrappers first
//! (outermost first), then the plain implementations; inside each group
//! `tryfirst` ones, then the unmarked, then `trylast`; the `tryfirst` and
//! unmarked bands run the last registered first, the `trylast` band the
//! first registered first; `before`/`after` reorder inside a band.

use std::any::Any;
use std::fmt;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use super::PluginInfo;
use super::answers::{Answers, Inner, Owner, Rest};
use super::monitor::{HookCallInfo, HookMonitors, HookOutcome};
use super::order::{OrderItem, call_order};
use crate::{Error, Result as HookResult};

/// The error an implementation of a fallible hook (one declared as
/// returning `Result<_, E>`) may return: anything that converts into a
/// boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// Plugins whose implementation of this hook, in the same band, this
    /// one runs before.
    pub before: &'static [&'static str],
    /// Plugins whose implementation of this hook, in the same band, this
    /// one runs after.
    pub after: &'static [&'static str],
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

impl<S: ?Sized> Clone for PluginImpl<S> {
    fn clone(&self) -> Self {
        Self { plugin: self.plugin.clone(), info: self.info.clone(), methods: self.methods }
    }
}

/// One implementation of one hook.
pub struct HookImpl<S: ?Sized> {
    /// The plugin (private: `target` points into it).
    plugin: Arc<S>,
    /// Who it is.
    pub info: Arc<PluginInfo>,
    /// Its options for this hook.
    pub opts: HookImplOpts,
    /// `plugin`'s target, resolved once (see [`HookImpl::target`]).
    target: Target<S>,
}

/// A pointer to an `Arc<dyn Spec>`'s value: calling through it skips the
/// alignment arithmetic that every `Arc<dyn _>` deref does with the vtable.
struct Target<S: ?Sized>(NonNull<S>);

// SAFETY: a `Target` is only read as `&S` (see `HookImpl::target`), and
// `S: Sync` makes `&S` shareable between and sendable to threads.
unsafe impl<S: ?Sized + Sync> Send for Target<S> {}
// SAFETY: as above.
unsafe impl<S: ?Sized + Sync> Sync for Target<S> {}

impl<S: ?Sized> HookImpl<S> {
    /// One implementation of `plugin`, with its identity and options.
    pub fn new(plugin: Arc<S>, info: Arc<PluginInfo>, opts: HookImplOpts) -> Self {
        let target = Target(NonNull::from(&*plugin));
        Self { plugin, info, opts, target }
    }

    /// The plugin.
    pub fn plugin(&self) -> &Arc<S> {
        &self.plugin
    }

    /// The plugin, as the spec's trait object.
    #[inline(always)]
    pub fn target(&self) -> &S {
        // SAFETY: `target` was made from `plugin`, which this `HookImpl`
        // owns a strong reference to and never replaces (the field is only
        // ever set in `new`); an `Arc`'s value does not move while it lives.
        unsafe { self.target.0.as_ref() }
    }
}

impl<S: ?Sized> Clone for HookImpl<S> {
    fn clone(&self) -> Self {
        Self::new(self.plugin.clone(), self.info.clone(), self.opts)
    }
}

/// The results of a collecting hook call, in call order: up to four are
/// held inline, so a call with few implementations does not allocate.
pub type HookResults<R> = smallvec::SmallVec<[R; 4]>;

/// Receives each answer of a historic call, with the plugin that gave it.
pub type ResultCallback<R> = Arc<dyn Fn(&PluginInfo, R) + Send + Sync>;

type HistoricCall<S> = Arc<dyn Fn(&HookImpl<S>) -> Result<(), BoxError> + Send + Sync>;

/// The hook arguments a monitor may see (`#[hookspec(monitor_args)]`).
pub type MonitorArgs<'a> = Option<&'a dyn fmt::Debug>;

/// The implementations of one hook, sorted in call order.
pub struct HookCaller<S: ?Sized> {
    spec: &'static str,
    decl: &'static HookDecl,
    /// Call order: `impls[..wrappers]` are wrappers, the rest plain.
    impls: Box<[HookImpl<S>]>,
    /// `impls[i].info`, for [`Inner`] and [`Owner`] look-ups.
    infos: Box<[Arc<PluginInfo>]>,
    wrappers: usize,
    monitors: Arc<HookMonitors>,
    history: Option<Arc<Mutex<Vec<HistoricCall<S>>>>>,
}

/// What a finished call reports to monitors.
trait Counted {
    fn count(&self) -> usize;
}

impl<R> Counted for Answers<R> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl<R> Counted for Option<R> {
    fn count(&self) -> usize {
        usize::from(self.is_some())
    }
}

impl Counted for usize {
    fn count(&self) -> usize {
        *self
    }
}

impl<S: ?Sized + HookSpec> HookCaller<S> {
    /// Builds the caller of hook `decl` from the plugins in registration
    /// order, keeping only those that implement it, in call order.
    pub fn build(
        decl: &'static HookDecl,
        impls: &[PluginImpl<S>],
        monitors: &Arc<HookMonitors>,
        prev: Option<&Self>,
    ) -> Self {
        let all: Vec<HookImpl<S>> = impls
            .iter()
            .flat_map(|imp| {
                imp.methods
                    .iter()
                    .filter(|m| m.hook == decl.name)
                    .map(|m| HookImpl::new(imp.plugin.clone(), imp.info.clone(), m.opts))
            })
            .collect();
        let items: Vec<_> = all.iter().map(|h| OrderItem { plugin: &h.info.name, opts: &h.opts }).collect();
        // Registration refuses cycles, so the fallback (bands only) is for
        // callers built from unchecked lists.
        let order = call_order(&items, true).or_else(|_| call_order(&items, false)).unwrap_or_default();
        let sorted: Box<[HookImpl<S>]> = order.into_iter().map(|i| all[i].clone()).collect();
        let infos = sorted.iter().map(|h| h.info.clone()).collect();
        let wrappers = sorted.iter().take_while(|i| i.opts.wrapper).count();
        let history = if decl.historic { Some(prev.and_then(|p| p.history.clone()).unwrap_or_default()) } else { None };
        Self { spec: S::NAME, decl, impls: sorted, infos, wrappers, monitors: monitors.clone(), history }
    }

    /// The hook's name.
    pub fn name(&self) -> &'static str {
        self.decl.name
    }

    /// The hook's declaration.
    pub fn decl(&self) -> &'static HookDecl {
        self.decl
    }

    /// The implementations in call order (wrappers first), each with its
    /// plugin and options (pluggy's `get_hookimpls`, in call order).
    pub fn impls(&self) -> &[HookImpl<S>] {
        &self.impls
    }

    /// Whether no plugin implements this hook.
    pub fn is_empty(&self) -> bool {
        self.impls.is_empty()
    }

    /// No wrapper, no monitor, no trace subscriber: the plain walk alone.
    #[inline(always)]
    fn is_plain(&self) -> bool {
        self.wrappers == 0 && !self.monitors.is_active() && !tracing::level_enabled!(tracing::Level::TRACE)
    }

    /// Calls every implementation; collects their answers in call order
    /// (`None` means "nothing to say" and is dropped, as pluggy drops
    /// `None`). An implementation's `Err` stops the call.
    #[inline]
    pub fn call_collect<R, E: Into<BoxError>>(
        &self,
        args: MonitorArgs<'_>,
        call: impl Fn(&S) -> Result<Option<R>, E>,
        wrap: impl Fn(&S, &mut Inner<'_, Answers<R>>),
    ) -> HookResult<HookResults<R>> {
        if self.is_plain() {
            let mut out = HookResults::with_capacity(self.impls.len());
            self.walk::<E>(|_, imp| {
                if let Some(r) = call(imp.target())? {
                    out.push(r);
                }
                Ok(ControlFlow::Continue(()))
            })?;
            return Ok(out);
        }
        // The wrappers and the walk fill one outcome in place; it moves once.
        let mut slot = Ok(Answers::with_capacity(self.impls.len() - self.wrappers));
        self.slow(args, |out| self.answers(&call, out), &wrap, &mut slot);
        slot.map(Answers::into_values)
    }

    /// The plain implementations' answers, each credited to its plugin.
    #[inline(always)]
    fn answers<R, E: Into<BoxError>>(
        &self,
        call: &impl Fn(&S) -> Result<Option<R>, E>,
        out: &mut Answers<R>,
    ) -> HookResult<()> {
        self.walk::<E>(|at, imp| {
            if let Some(r) = call(imp.target())? {
                out.push(Owner(at as u32), r);
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// `firstresult`: calls implementations until one answers `Some`.
    #[inline]
    pub fn call_first<R, E: Into<BoxError>>(
        &self,
        args: MonitorArgs<'_>,
        call: impl Fn(&S) -> Result<Option<R>, E>,
        wrap: impl Fn(&S, &mut Inner<'_, Option<R>>),
    ) -> HookResult<Option<R>> {
        let plain = |out: &mut Option<R>| {
            self.walk::<E>(|_, imp| {
                Ok(match call(imp.target())? {
                    // Halt further implementation calls.
                    Some(r) => {
                        *out = Some(r);
                        ControlFlow::Break(())
                    }
                    None => ControlFlow::Continue(()),
                })
            })
        };
        if self.is_plain() {
            let mut out = None;
            plain(&mut out)?;
            return Ok(out);
        }
        self.slow_owned(args, plain, &wrap)
    }

    /// The allocation-free visitor form: hands each answer to `visit` as it
    /// comes, with the plugin that gave it; `visit` may stop the walk.
    ///
    /// With wrappers present the answers are collected first (wrappers see
    /// the whole list), then visited, each still credited to its plugin.
    #[inline]
    pub fn visit<R, E: Into<BoxError>>(
        &self,
        args: MonitorArgs<'_>,
        call: impl Fn(&S) -> Result<Option<R>, E>,
        mut visit: impl FnMut(&Arc<PluginInfo>, R) -> ControlFlow<()>,
        wrap: impl Fn(&S, &mut Inner<'_, Answers<R>>),
    ) -> HookResult<()> {
        if self.wrappers == 0 {
            let mut plain = |count: &mut usize| {
                self.walk::<E>(|_, imp| {
                    Ok(match call(imp.target())? {
                        Some(r) => {
                            *count += 1;
                            visit(&imp.info, r)
                        }
                        None => ControlFlow::Continue(()),
                    })
                })
            };
            if self.is_plain() {
                return plain(&mut 0);
            }
            return self.slow_owned(args, plain, &|_: &S, _: &mut Inner<'_, usize>| {}).map(drop);
        }
        for (owner, r) in self.slow_owned(args, |out| self.answers(&call, out), &wrap)?.into_attributed() {
            let info = self.infos.get(owner.0 as usize).cloned().unwrap_or_else(PluginInfo::anonymous);
            if visit(&info, r).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// A historic call: runs now and is remembered, so each plugin
    /// registered later is called with the same arguments on registration.
    ///
    /// `on_result` receives every answer (`None` is not one): this call's
    /// after the call has returned, in call order; a later plugin's at its
    /// registration, which may happen during this very call (a plugin
    /// registering another): its answer then comes first.
    pub fn call_historic<R: 'static, E: Into<BoxError> + 'static>(
        &self,
        args: MonitorArgs<'_>,
        call: impl Fn(&S) -> Result<Option<R>, E> + Send + Sync + 'static,
        on_result: Option<ResultCallback<R>>,
    ) -> HookResult<()> {
        let call = Arc::new(call);
        let record: HistoricCall<S> = {
            let (call, on_result) = (call.clone(), on_result.clone());
            Arc::new(move |imp: &HookImpl<S>| {
                if let (Some(r), Some(f)) = (call(imp.target()).map_err(Into::into)?, &on_result) {
                    f(&imp.info, r);
                }
                Ok(())
            })
        };
        if let Some(history) = &self.history {
            history.lock().unwrap_or_else(|e| e.into_inner()).push(record);
        }
        let mut answers = Vec::new();
        {
            let plain = |count: &mut usize| {
                self.walk::<E>(|_, imp| {
                    if let Some(r) = call(imp.target())? {
                        answers.push((imp.info.clone(), r));
                        *count += 1;
                    }
                    Ok(ControlFlow::Continue(()))
                })
            };
            self.slow_owned(args, plain, &|_: &S, _: &mut Inner<'_, usize>| {})?;
        }
        if let Some(f) = on_result {
            for (info, r) in answers {
                f(&info, r);
            }
        }
        Ok(())
    }

    /// Replays the remembered historic calls to one newly registered
    /// implementation.
    pub fn replay(&self, imp: &HookImpl<S>) -> HookResult<()> {
        let Some(history) = &self.history else {
            return Ok(());
        };
        let calls: Vec<_> = history.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for record in calls {
            guard(&imp.info, self.decl.name, || record(imp))?
                .map_err(|source| failed(&imp.info, self.decl.name, source))?;
        }
        Ok(())
    }

    /// [`slow`](Self::slow) into a new outcome.
    fn slow_owned<O: Counted + Default>(
        &self,
        args: MonitorArgs<'_>,
        plain: impl FnOnce(&mut O) -> HookResult<()>,
        wrap: &impl Fn(&S, &mut Inner<'_, O>),
    ) -> HookResult<O> {
        let mut slot = Ok(O::default());
        self.slow(args, plain, wrap, &mut slot);
        slot
    }

    /// Wrappers, monitoring and tracing around the plain walk, which fills
    /// `slot` (starting as `Ok(O::default())`) in place: the answers are
    /// never moved while the call runs.
    #[inline(never)]
    fn slow<O: Counted + Default>(
        &self,
        args: MonitorArgs<'_>,
        plain: impl FnOnce(&mut O) -> HookResult<()>,
        wrap: &impl Fn(&S, &mut Inner<'_, O>),
        slot: &mut HookResult<O>,
    ) {
        let monitored = self.monitors.is_active();
        if !monitored && !tracing::level_enabled!(tracing::Level::TRACE) {
            return self.wrapped(plain, wrap, slot);
        }
        self.observed(args, plain, wrap, slot, monitored)
    }

    /// The call under a monitor or a trace span.
    #[cold]
    #[inline(never)]
    fn observed<O: Counted + Default>(
        &self,
        args: MonitorArgs<'_>,
        plain: impl FnOnce(&mut O) -> HookResult<()>,
        wrap: &impl Fn(&S, &mut Inner<'_, O>),
        slot: &mut HookResult<O>,
        monitored: bool,
    ) {
        let _span = tracing::level_enabled!(tracing::Level::TRACE)
            .then(|| tracing::trace_span!("hook", spec = self.spec, hook = self.decl.name).entered());
        if monitored {
            self.monitors.before(&self.call_info(args));
        }
        self.wrapped(plain, wrap, slot);
        if monitored {
            let outcome = match &*slot {
                Ok(o) => HookOutcome::Answered(o.count()),
                Err(e) => HookOutcome::Failed(e),
            };
            self.monitors.after(&self.call_info(args), outcome);
        }
    }

    fn call_info<'a>(&'a self, args: MonitorArgs<'a>) -> HookCallInfo<'a> {
        HookCallInfo {
            spec: self.spec,
            hook: self.decl.name,
            plugins: self.impls.iter().map(|i| &*i.info.name).collect(),
            args,
        }
    }

    /// The wrappers, outermost first, around the plain walk, which fills
    /// the outcome in place.
    #[inline(always)]
    fn wrapped<O, P, W>(&self, plain: P, wrap: &W, slot: &mut HookResult<O>)
    where
        P: FnOnce(&mut O) -> HookResult<()>,
        W: Fn(&S, &mut Inner<'_, O>),
    {
        Chain { caller: self, plain: Some(plain), wrap, slot }.run(0);
    }

    /// Walks the plain implementations under one panic guard; `step` gets
    /// each one's index in [`impls`](Self::impls). An `Err` from `step`
    /// stops the walk and is credited to the implementation that gave it.
    #[inline(always)]
    fn walk<E: Into<BoxError>>(
        &self,
        mut step: impl FnMut(usize, &HookImpl<S>) -> Result<ControlFlow<()>, E>,
    ) -> HookResult<()> {
        let impls = &*self.impls;
        let mut at = self.wrappers;
        let walked = catch_unwind(AssertUnwindSafe(|| {
            while let Some(imp) = impls.get(at) {
                if step(at, imp)?.is_break() {
                    break;
                }
                at += 1;
            }
            Ok::<(), E>(())
        }));
        match walked {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failed(&impls[at].info, self.decl.name, e.into())),
            Err(payload) => Err(panicked(&impls[at].info, self.decl.name, payload)),
        }
    }
}

/// One wrapped call: each wrapper runs the rest through its [`Inner`]; the
/// outcome lives in one slot that every level reads and may replace, so no
/// level moves the result around.
struct Chain<'c, S: ?Sized, O, P, W> {
    caller: &'c HookCaller<S>,
    plain: Option<P>,
    wrap: &'c W,
    slot: &'c mut HookResult<O>,
}

impl<S, O, P, W> Rest<O> for Chain<'_, S, O, P, W>
where
    S: ?Sized + HookSpec,
    P: FnOnce(&mut O) -> HookResult<()>,
    W: Fn(&S, &mut Inner<'_, O>),
{
    fn run(&mut self, level: usize) -> &mut HookResult<O> {
        let caller = self.caller;
        let Some(w) = caller.impls[..caller.wrappers].get(level) else {
            // Each level runs the next at most once, so this runs once.
            if let (Some(plain), Ok(out)) = (self.plain.take(), &mut *self.slot)
                && let Err(e) = plain(out)
            {
                *self.slot = Err(e);
            }
            return self.slot;
        };
        let wrap = self.wrap;
        let mut inner = Inner { rest: self, level, called: false, plugins: &caller.infos };
        let caught = catch_unwind(AssertUnwindSafe(|| wrap(w.target(), &mut inner)));
        let called = inner.called;
        match caught {
            Ok(()) if called => {}
            // A wrapper that never ran the inner call broke the protocol.
            Ok(()) => *self.slot = Err(skipped(&w.info, caller.decl.name)),
            Err(payload) => *self.slot = Err(panicked(&w.info, caller.decl.name, payload)),
        }
        self.slot
    }

    fn outcome(&mut self) -> &mut HookResult<O> {
        self.slot
    }
}

/// Runs `f`, turning a panic into [`Error::HookPanicked`].
fn guard<R>(info: &PluginInfo, hook: &'static str, f: impl FnOnce() -> R) -> HookResult<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(info, hook, payload))
}

#[cold]
fn skipped(info: &PluginInfo, hook: &'static str) -> Error {
    Error::WrapperSkippedInner { plugin: info.name.to_string(), hook }
}

#[cold]
fn failed(info: &PluginInfo, hook: &'static str, source: BoxError) -> Error {
    Error::HookFailed { plugin: info.name.to_string(), hook: hook.to_owned(), source }
}

#[cold]
fn panicked(info: &PluginInfo, hook: &'static str, payload: Box<dyn Any + Send>) -> Error {
    Error::HookPanicked { plugin: info.name.to_string(), hook, message: panic_message(payload.as_ref()) }
}

/// The message of a panic payload: strings and errors as they are, a few
/// plain values printed, anything else said to be of another type.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    macro_rules! printed {
        ($($ty:ty),*) => {$(
            if let Some(v) = payload.downcast_ref::<$ty>() {
                return format!("{v:?} (a `{}` panic payload)", stringify!($ty));
            }
        )*};
    }
    if let Some(refused) = payload.downcast_ref::<crate::tensor::AllocationRefused>() {
        return refused.to_string();
    }
    if let Some(s) = payload.downcast_ref::<&str>() {
        return (*s).to_owned();
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        return s.clone();
    }
    if let Some(e) = payload.downcast_ref::<Error>() {
        return e.to_string();
    }
    if let Some(e) = payload.downcast_ref::<BoxError>() {
        return e.to_string();
    }
    if let Some(s) = payload.downcast_ref::<std::borrow::Cow<'static, str>>() {
        return s.to_string();
    }
    printed!(i32, i64, u32, u64, usize, isize, f32, f64, bool, char);
    "a panic payload that is neither a string nor an error (`std::panic::panic_any` with another type)".to_owned()
}
