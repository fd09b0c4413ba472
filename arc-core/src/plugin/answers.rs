//! What a wrapper sees: the answers of the implementations it wraps, each
//! with the plugin that gave it, and the rest of the call to run.

use std::sync::Arc;

use super::PluginInfo;
use crate::Result as HookResult;

/// Who gave an answer, within one hook call: a cheap token that
/// [`Inner::plugin_of`] turns into the plugin. A wrapper that adds an
/// answer says whose it is, usually its own ([`Inner::me`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner(pub(crate) u32);

/// The answers of a collecting hook, in call order, each with its
/// [`Owner`]. Up to four are held inline.
///
/// A wrapper gets them from [`Inner::call`] and returns them, changed or
/// not; the visitor form (`visit_*`) and the component registries credit
/// each answer to its owner, so a wrapper never hides who registered what.
pub struct Answers<R> {
    items: smallvec::SmallVec<[(Owner, R); 4]>,
}

impl<R> Default for Answers<R> {
    fn default() -> Self {
        Self { items: smallvec::SmallVec::new() }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for Answers<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<R> Answers<R> {
    /// No answers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an answer, credited to `owner`.
    pub fn push(&mut self, owner: Owner, answer: R) {
        self.items.push((owner, answer));
    }

    /// How many answers.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The answers, in call order.
    pub fn iter(&self) -> impl Iterator<Item = &R> {
        self.items.iter().map(|(_, r)| r)
    }

    /// The answers, mutably: changing one keeps its owner.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.items.iter_mut().map(|(_, r)| r)
    }

    /// The answers with their owners.
    pub fn attributed(&self) -> impl Iterator<Item = (Owner, &R)> {
        self.items.iter().map(|(o, r)| (*o, r))
    }

    /// Keeps the answers for which `keep` says `true`.
    pub fn retain(&mut self, mut keep: impl FnMut(Owner, &mut R) -> bool) {
        self.items.retain(|(o, r)| keep(*o, r));
    }

    /// The answers without their owners.
    pub fn into_values(self) -> super::HookResults<R> {
        self.items.into_iter().map(|(_, r)| r).collect()
    }

    /// The answers with their owners, by value.
    pub fn into_attributed(self) -> impl Iterator<Item = (Owner, R)> {
        self.items.into_iter()
    }
}

/// The rest of a hook call, handed to a wrapper.
///
/// A wrapper must call [`Inner::call`] exactly once (pluggy: a wrapper must
/// yield); it then sees the inner result and may return it, change it, or
/// replace an error with a value (or a value with an error).
pub struct Inner<'a, O> {
    pub(crate) next: &'a mut dyn FnMut() -> HookResult<O>,
    pub(crate) plugins: &'a [Arc<PluginInfo>],
    pub(crate) me: Owner,
}

impl<'a, O> Inner<'a, O> {
    /// Runs the inner wrappers and the implementations; returns their
    /// result or error.
    pub fn call(self) -> HookResult<O> {
        (self.next)()
    }

    /// The wrapper's own [`Owner`], to credit an answer it adds.
    pub fn me(&self) -> Owner {
        self.me
    }

    /// Who the owners of this call are: keep it to look owners up after
    /// [`call`](Self::call).
    pub fn plugins(&self) -> Plugins<'a> {
        Plugins(self.plugins)
    }

    /// The plugin behind `owner`.
    pub fn plugin_of(&self, owner: Owner) -> Option<&'a Arc<PluginInfo>> {
        self.plugins().get(owner)
    }
}

/// The plugins of one hook call, for looking up an [`Owner`].
#[derive(Clone, Copy)]
pub struct Plugins<'a>(&'a [Arc<PluginInfo>]);

impl<'a> Plugins<'a> {
    /// The plugin behind `owner` (`None` for an owner of another call).
    pub fn get(&self, owner: Owner) -> Option<&'a Arc<PluginInfo>> {
        self.0.get(owner.0 as usize)
    }
}
