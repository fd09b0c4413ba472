//! Hook-call monitoring: callbacks run before and after every hook call
//! (pluggy's `add_hookcall_monitoring`).

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::Error;

/// What a monitor is told about a hook call.
#[derive(Debug)]
pub struct HookCallInfo<'a> {
    /// The spec trait's name, e.g. `LayerHookSpec`.
    pub spec: &'static str,
    /// The hook's name.
    pub hook: &'static str,
    /// The implementing plugins, in call order (wrappers first).
    pub plugins: Vec<&'a str>,
    /// The call's arguments, for hooks declared `#[hookspec(monitor_args)]`
    /// (their argument types are `Debug`); `None` for the others.
    pub args: Option<&'a dyn std::fmt::Debug>,
}

/// How a hook call ended, as its `after` monitor sees it.
#[derive(Clone, Copy, Debug)]
pub enum HookOutcome<'a> {
    /// It returned: how many answers (`Some` ones; 0 or 1 for a
    /// `firstresult` hook).
    Answered(usize),
    /// It failed (a panic, an implementation's error, a wrapper's error).
    Failed(&'a Error),
}

impl HookOutcome<'_> {
    /// Whether the call returned.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Answered(_))
    }
}

/// Called before a hook call.
pub type BeforeHook = Box<dyn Fn(&HookCallInfo<'_>) + Send + Sync>;
/// Called after a hook call with its outcome.
pub type AfterHook = Box<dyn Fn(&HookCallInfo<'_>, HookOutcome<'_>) + Send + Sync>;

/// Names a monitor pair, to remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MonitorId(u64);

/// The monitors of one plugin manager, shared by all its hook callers.
#[derive(Default)]
pub struct HookMonitors {
    // The hot path reads only this flag while no monitor is installed.
    active: AtomicBool,
    next_id: AtomicU64,
    monitors: RwLock<Vec<(MonitorId, BeforeHook, AfterHook)>>,
}

impl HookMonitors {
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, before: BeforeHook, after: AfterHook) -> MonitorId {
        let id = MonitorId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut monitors = self.monitors.write().unwrap_or_else(|e| e.into_inner());
        monitors.push((id, before, after));
        self.active.store(true, Ordering::Relaxed);
        id
    }

    pub(crate) fn remove(&self, id: MonitorId) -> bool {
        let mut monitors = self.monitors.write().unwrap_or_else(|e| e.into_inner());
        let before = monitors.len();
        monitors.retain(|(i, _, _)| *i != id);
        self.active.store(!monitors.is_empty(), Ordering::Relaxed);
        monitors.len() != before
    }

    pub(crate) fn before(&self, info: &HookCallInfo<'_>) {
        for (_, before, _) in self.monitors.read().unwrap_or_else(|e| e.into_inner()).iter() {
            before(info);
        }
    }

    pub(crate) fn after(&self, info: &HookCallInfo<'_>, outcome: HookOutcome<'_>) {
        for (_, _, after) in self.monitors.read().unwrap_or_else(|e| e.into_inner()).iter() {
            after(info, outcome);
        }
    }
}
