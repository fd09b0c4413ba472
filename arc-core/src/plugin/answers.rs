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
/// [`Owner`]. Up to four are held inline. Derefs to `[R]`; iterating by
/// value gives the answers.
///
/// A collecting hook call returns them; a wrapper reads and changes them
/// through [`Inner::call`]. The visitor form (`visit_*`) and the component
/// registries credit each answer to its owner, so a wrapper never hides
/// who registered what.
pub struct Answers<R> {
    // Two lists, so that the collecting call hands `values` over as is.
    values: super::HookResults<R>,
    owners: smallvec::SmallVec<[Owner; 4]>,
}

impl<R> Default for Answers<R> {
    #[inline]
    fn default() -> Self {
        Self { values: smallvec::SmallVec::new(), owners: smallvec::SmallVec::new() }
    }
}

impl<R> std::ops::Deref for Answers<R> {
    type Target = [R];
    fn deref(&self) -> &[R] {
        &self.values
    }
}

impl<R> std::ops::DerefMut for Answers<R> {
    /// The answers, mutably: changing one keeps its owner.
    fn deref_mut(&mut self) -> &mut [R] {
        &mut self.values
    }
}

impl<R> IntoIterator for Answers<R> {
    type Item = R;
    type IntoIter = smallvec::IntoIter<[R; 4]>;
    /// The answers, by value, in call order (owners dropped).
    fn into_iter(self) -> Self::IntoIter {
        self.values.into_iter()
    }
}

impl<'a, R> IntoIterator for &'a Answers<R> {
    type Item = &'a R;
    type IntoIter = std::slice::Iter<'a, R>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.iter()
    }
}

impl<R: PartialEq> PartialEq<[R]> for Answers<R> {
    fn eq(&self, other: &[R]) -> bool {
        self.values[..] == *other
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for Answers<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<R> Answers<R> {
    /// No answers.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// No answers, room for `n` without reallocating.
    #[inline]
    pub fn with_capacity(n: usize) -> Self {
        Self { values: smallvec::SmallVec::with_capacity(n), owners: smallvec::SmallVec::with_capacity(n) }
    }

    /// Adds an answer, credited to `owner`.
    #[inline]
    pub fn push(&mut self, owner: Owner, answer: R) {
        self.values.push(answer);
        self.owners.push(owner);
    }

    /// How many answers.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The answers with their owners.
    pub fn attributed(&self) -> impl Iterator<Item = (Owner, &R)> {
        self.owners.iter().copied().zip(self.values.iter())
    }

    /// Keeps the answers for which `keep` says `true`, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(Owner, &mut R) -> bool) {
        let kept: Vec<bool> = self.owners.iter().zip(self.values.iter_mut()).map(|(o, r)| keep(*o, r)).collect();
        let mut flags = kept.iter();
        self.values.retain(|_| *flags.next().unwrap_or(&false));
        let mut flags = kept.iter();
        self.owners.retain(|_| *flags.next().unwrap_or(&false));
    }

    /// The answers without their owners.
    #[inline]
    pub fn into_values(self) -> super::HookResults<R> {
        self.values
    }

    /// The answers without their owners, as a `Vec`.
    pub fn into_vec(self) -> Vec<R> {
        self.values.into_vec()
    }

    /// The answers with their owners, by value.
    pub fn into_attributed(self) -> impl Iterator<Item = (Owner, R)> {
        self.owners.into_iter().zip(self.values)
    }
}

/// Runs the rest of a hook call into its outcome slot: implemented by the
/// call loop, handed to wrappers inside [`Inner`].
pub(crate) trait Rest<O> {
    /// Runs wrapper `level` (or, past the wrappers, the plain
    /// implementations); returns the outcome it leaves in the slot.
    fn run(&mut self, level: usize) -> &mut HookResult<O>;
    /// The outcome so far.
    fn outcome(&mut self) -> &mut HookResult<O>;
}

/// The rest of a hook call, handed to a wrapper (pluggy's `yield`).
///
/// [`call`](Self::call) runs the inner wrappers and the implementations
/// once and gives their outcome, the result or the error, by reference: the
/// wrapper reads it and may change it in place or replace it (a value by an
/// error, an error by a value). Whatever it holds when the wrapper returns
/// is the outcome the outer wrappers and the caller see. A wrapper that
/// returns without calling `call` fails the hook call
/// ([`Error::WrapperSkippedInner`](crate::Error::WrapperSkippedInner)).
///
/// ```
/// use arc_core::plugin::{Answers, Inner};
/// # struct Audit;
/// # impl Audit {
/// fn compute(&self, x: i32, inner: &mut Inner<'_, Answers<i32>>) {
///     let me = inner.me();
///     match inner.call() {
///         // Add an answer of our own, credited to us.
///         Ok(answers) => answers.push(me, x * 100),
///         // Or replace the error by a value.
///         outcome @ Err(_) => *outcome = Ok(Answers::new()),
///     }
/// }
/// # }
/// ```
pub struct Inner<'a, O> {
    pub(crate) rest: &'a mut dyn Rest<O>,
    pub(crate) level: usize,
    pub(crate) called: bool,
    pub(crate) plugins: &'a [Arc<PluginInfo>],
}

impl<'a, O> Inner<'a, O> {
    /// Runs the inner wrappers and the implementations (once: a second call
    /// gives the same outcome) and returns their outcome, to read or change.
    pub fn call(&mut self) -> &mut HookResult<O> {
        if !self.called {
            self.called = true;
            return self.rest.run(self.level + 1);
        }
        self.rest.outcome()
    }

    /// Whether [`call`](Self::call) has run.
    pub fn called(&self) -> bool {
        self.called
    }

    /// The wrapper's own [`Owner`], to credit an answer it adds.
    pub fn me(&self) -> Owner {
        Owner(self.level as u32)
    }

    /// Who the owners of this call are.
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
