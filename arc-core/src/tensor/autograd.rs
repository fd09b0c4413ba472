//! Define-by-run reverse-mode autodiff.
//!
//! An op whose inputs require gradients (and which runs outside [`no_grad`]) records a
//! [`Node`] on its output: the op name, the input tensors, and a backward closure that maps
//! the output's gradient to one gradient per input. [`Tensor::backward`] sorts the nodes
//! reachable from the root topologically, runs the closures from the root down, and
//! accumulates the gradients of leaf tensors into their `grad` slot. Backward closures run
//! under `no_grad` (no higher-order gradients).
//!
//! After a backward the graph is freed (saved tensors released), as in PyTorch; a second
//! backward through it is [`Error::GraphFreed`] unless the first passed `retain_graph`.

use std::borrow::Cow;
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::{FxHashMap, FxHashSet};

use super::Tensor;
use crate::{Error, Result};

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record autograd nodes.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Turns gradient recording off on this thread until the guard drops (PyTorch's
/// `torch.no_grad()`); guards nest and restore the previous state.
///
/// ```
/// use arc_core::tensor::{no_grad, is_grad_enabled};
/// use arc_core::Tensor;
/// # fn main() -> arc_core::Result<()> {
/// let w = Tensor::ones(&[2]);
/// w.set_requires_grad(true)?;
/// {
///     let _guard = no_grad();
///     assert!(!is_grad_enabled());
///     assert!(!w.mul(&w)?.requires_grad());
/// }
/// assert!(w.mul(&w)?.requires_grad());
/// # Ok(()) }
/// ```
pub fn no_grad() -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(false));
    NoGradGuard { prev, _not_send: PhantomData }
}

/// Sets this thread's gradient recording to `enabled` until the guard drops (PyTorch's
/// `torch.set_grad_enabled`). Work handed to another thread (a rayon job) must carry the
/// caller's mode this way: a pool thread's own flag is whatever the job it interrupted left.
///
/// ```
/// use arc_core::tensor::{is_grad_enabled, no_grad, set_grad_enabled};
/// let _off = no_grad();
/// {
///     let _on = set_grad_enabled(true);
///     assert!(is_grad_enabled());
/// }
/// assert!(!is_grad_enabled());
/// ```
pub fn set_grad_enabled(enabled: bool) -> NoGradGuard {
    let prev = GRAD_ENABLED.with(|g| g.replace(enabled));
    NoGradGuard { prev, _not_send: PhantomData }
}

/// Restores the previous gradient-recording state on drop. See [`no_grad`] and
/// [`set_grad_enabled`].
#[must_use = "gradients are recorded again as soon as the guard drops"]
pub struct NoGradGuard {
    prev: bool,
    // The flag is thread-local: the guard must drop on the thread that made it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.prev));
    }
}

/// What a backward closure receives.
pub(crate) struct BackwardArgs<'a> {
    /// Gradient of the loss with respect to the op's output.
    pub(crate) grad: &'a Tensor,
    /// The op's inputs, in call order.
    pub(crate) inputs: &'a [Tensor],
    /// The op's output (detached), for ops recorded with [`record_with_output`].
    pub(crate) output: Option<&'a Tensor>,
    /// Which inputs need a gradient; a closure may return `None` for the others.
    pub(crate) needs: &'a [bool],
}

impl BackwardArgs<'_> {
    /// The saved output; only called by closures recorded with [`record_with_output`].
    pub(crate) fn output(&self) -> &Tensor {
        self.output.expect("record_with_output always saves the output")
    }
}

pub(crate) type BackwardFn = dyn Fn(&BackwardArgs<'_>) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static;

struct NodeState {
    inputs: Vec<Tensor>,
    output: Option<Tensor>,
    backward: Box<BackwardFn>,
}

/// One recorded op: its name and, until the graph is freed, its inputs and backward.
pub(crate) struct Node {
    name: Cow<'static, str>,
    state: Mutex<Option<NodeState>>,
}

impl Node {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, Option<NodeState>> {
        // A poisoned lock only means a backward closure panicked; the state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether an op over `inputs` must record a node.
#[inline]
pub(crate) fn needs_grad(inputs: &[&Tensor]) -> bool {
    inputs.iter().any(|t| t.requires_grad()) && is_grad_enabled()
}

/// Attaches a backward to `out` when any input requires grad (and grad mode is on).
pub(crate) fn record<F>(out: Tensor, name: &'static str, inputs: &[&Tensor], backward: F) -> Tensor
where
    F: Fn(&BackwardArgs<'_>) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    if !needs_grad(inputs) {
        return out;
    }
    attach(out, Cow::Borrowed(name), inputs, None, Box::new(backward))
}

/// Like [`record`], also saving the (detached) output for the backward.
pub(crate) fn record_with_output<F>(out: Tensor, name: &'static str, inputs: &[&Tensor], backward: F) -> Tensor
where
    F: Fn(&BackwardArgs<'_>) -> Result<Vec<Option<Tensor>>> + Send + Sync + 'static,
{
    if !needs_grad(inputs) {
        return out;
    }
    let saved = out.detach();
    attach(out, Cow::Borrowed(name), inputs, Some(saved), Box::new(backward))
}

/// Attaches a node with a runtime name (custom ops).
pub(crate) fn attach(
    out: Tensor,
    name: Cow<'static, str>,
    inputs: &[&Tensor],
    output: Option<Tensor>,
    backward: Box<BackwardFn>,
) -> Tensor {
    let state = NodeState { inputs: inputs.iter().map(|t| (*t).clone()).collect(), output, backward };
    out.with_node(Arc::new(Node { name, state: Mutex::new(Some(state)) }))
}

impl Tensor {
    /// Whether gradients flow to (a leaf) or through (an op output) this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.node.is_some() || self.leaf_requires_grad()
    }

    /// Whether this tensor was made by a constructor (not recorded from an op).
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// Marks a leaf tensor as a parameter whose gradient `backward` accumulates.
    ///
    /// Errors on an op output ([`Error::NotALeaf`]) and, when turning it on, on an i64 tensor.
    pub fn set_requires_grad(&self, requires_grad: bool) -> Result<()> {
        if let Some(node) = &self.0.node {
            return Err(Error::NotALeaf { op: node.name().to_owned() });
        }
        if requires_grad && self.dtype() != super::DType::F32 {
            return Err(Error::DTypeMismatch {
                op: "set_requires_grad",
                expected: super::DType::F32,
                got: self.dtype(),
            });
        }
        self.0.requires_grad.store(requires_grad, Ordering::Relaxed);
        Ok(())
    }

    /// Builder form of [`set_requires_grad`](Self::set_requires_grad)`(true)`.
    pub fn requires_grad_(self) -> Result<Tensor> {
        self.set_requires_grad(true)?;
        Ok(self)
    }

    /// The gradient accumulated into this leaf, if any backward reached it.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the gradient accumulated into this leaf (PyTorch's `x.grad = g`), as a
    /// data-parallel run does with the gradients averaged over its ranks. `grad` must have this
    /// tensor's shape and device.
    ///
    /// ```
    /// use arc_core::Tensor;
    ///
    /// let w = Tensor::from_vec(vec![1.0, 2.0], &[2])?.requires_grad_()?;
    /// w.set_grad(Some(Tensor::from_vec(vec![0.5, -0.5], &[2])?))?;
    /// assert_eq!(w.grad().unwrap().to_vec()?, [0.5, -0.5]);
    /// assert!(w.set_grad(Some(Tensor::zeros(&[3]))).is_err());
    /// # Ok::<(), arc_core::Error>(())
    /// ```
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        if let Some(g) = &grad {
            if g.shape() != self.shape() {
                return Err(Error::ShapeMismatch {
                    op: "set_grad",
                    lhs: self.shape().to_vec(),
                    rhs: g.shape().to_vec(),
                });
            }
            if g.device() != self.device() {
                return Err(Error::DeviceMismatch {
                    op: "set_grad",
                    expected: self.device().to_string(),
                    got: g.device(),
                });
            }
        }
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad.map(|g| g.detach());
        Ok(())
    }

    /// Clears the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The same data with no autograd history; shares storage, never requires grad.
    pub fn detach(&self) -> Tensor {
        self.view_with(self.layout().clone())
    }

    /// The name of the op that produced this tensor, if it was recorded.
    pub fn grad_fn_name(&self) -> Option<&str> {
        self.0.node.as_deref().map(Node::name)
    }

    /// Backpropagates from a one-element tensor (seed gradient 1) and frees the graph.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// // y = sum(x^2 + 3x): dy/dx = 2x + 3
    /// let x = Tensor::from_vec(vec![1.0, -2.0], &[2])?.requires_grad_()?;
    /// let y = x.mul(&x)?.add(&x.mul_scalar(3.0)?)?.sum_all()?;
    /// y.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec()?, vec![5.0, -1.0]);
    /// assert!(y.backward().is_err()); // the graph was freed
    /// # Ok(()) }
    /// ```
    pub fn backward(&self) -> Result<()> {
        self.backward_with_options(None, false)
    }

    /// Backpropagates `seed` (the gradient of some scalar with respect to `self`, same shape).
    pub fn backward_with(&self, seed: &Tensor) -> Result<()> {
        self.backward_with_options(Some(seed), false)
    }

    /// Backpropagates with an optional seed; `retain_graph` keeps the graph for another pass.
    pub fn backward_with_options(&self, seed: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        let _guard = no_grad();
        if !self.requires_grad() {
            return Err(Error::NoGradFn);
        }
        let seed = match seed {
            None if self.numel() != 1 => {
                return Err(Error::NonScalarBackward { shape: self.shape().to_vec() });
            }
            // The seed lives where the output does, so that every gradient stays on its
            // input's device.
            None => Tensor::ones_on(self.shape(), self.device())?,
            Some(s) => {
                if s.shape() != self.shape() {
                    return Err(Error::ShapeMismatch {
                        op: "backward",
                        lhs: self.shape().to_vec(),
                        rhs: s.shape().to_vec(),
                    });
                }
                if s.dtype() != super::DType::F32 {
                    return Err(Error::DTypeMismatch { op: "backward", expected: super::DType::F32, got: s.dtype() });
                }
                if s.device() != self.device() {
                    return Err(Error::DeviceMismatch {
                        op: "backward",
                        expected: self.device().to_string(),
                        got: s.device(),
                    });
                }
                s.detach()
            }
        };
        let Some(root) = &self.0.node else {
            return accumulate_leaf(self, seed);
        };
        let order = topo_order(root)?;
        let mut grads: FxHashMap<*const Node, Tensor> = FxHashMap::default();
        grads.insert(Arc::as_ptr(root), seed);
        for node in order.iter().rev() {
            let Some(grad) = grads.remove(&Arc::as_ptr(node)) else {
                continue;
            };
            let mut slot = node.lock();
            let state = slot.as_ref().ok_or_else(|| Error::GraphFreed { op: node.name().to_owned() })?;
            let needs: Vec<bool> = state.inputs.iter().map(Tensor::requires_grad).collect();
            let args =
                BackwardArgs { grad: &grad, inputs: &state.inputs, output: state.output.as_ref(), needs: &needs };
            let input_grads = (state.backward)(&args)?;
            if input_grads.len() != state.inputs.len() {
                return Err(Error::BadGradient {
                    op: node.name().to_owned(),
                    input: input_grads.len(),
                    expected: vec![state.inputs.len()],
                    got: vec![input_grads.len()],
                });
            }
            for (i, (input, g)) in state.inputs.iter().zip(input_grads).enumerate() {
                if !needs[i] {
                    continue;
                }
                let g = g.ok_or_else(|| Error::MissingGradient { op: node.name().to_owned(), input: i })?;
                if g.shape() != input.shape() {
                    return Err(Error::BadGradient {
                        op: node.name().to_owned(),
                        input: i,
                        expected: input.shape().to_vec(),
                        got: g.shape().to_vec(),
                    });
                }
                if g.device() != input.device() {
                    // A backward (a plugin's, typically) returned a gradient on another device.
                    return Err(Error::DeviceMismatch {
                        op: "backward",
                        expected: input.device().to_string(),
                        got: g.device(),
                    });
                }
                match &input.0.node {
                    Some(parent) => {
                        let key = Arc::as_ptr(parent);
                        let sum = match grads.remove(&key) {
                            Some(prev) => prev.add(&g)?,
                            None => g,
                        };
                        grads.insert(key, sum);
                    }
                    None => accumulate_leaf(input, g)?,
                }
            }
            if !retain_graph {
                *slot = None;
            }
        }
        Ok(())
    }
}

fn accumulate_leaf(leaf: &Tensor, g: Tensor) -> Result<()> {
    if !leaf.leaf_requires_grad() {
        return Ok(());
    }
    let mut slot = leaf.0.grad.lock().unwrap_or_else(|e| e.into_inner());
    *slot = Some(match slot.take() {
        Some(prev) => prev.add(&g)?,
        None => g,
    });
    Ok(())
}

/// Nodes reachable from `root`, each after all nodes it feeds (post-order of a DFS over
/// inputs); iterating it backwards visits every node before its inputs' nodes.
fn topo_order(root: &Arc<Node>) -> Result<Vec<Arc<Node>>> {
    let mut order = Vec::new();
    let mut seen: FxHashSet<*const Node> = FxHashSet::default();
    // (node, whether its inputs were already pushed)
    let mut stack = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            order.push(node);
            continue;
        }
        // Mark on expansion, not on push: a node reached again through a longer path must
        // still finish after every node it feeds.
        if !seen.insert(Arc::as_ptr(&node)) {
            continue;
        }
        let parents: Vec<Arc<Node>> = {
            let slot = node.lock();
            let state = slot.as_ref().ok_or_else(|| Error::GraphFreed { op: node.name().to_owned() })?;
            state.inputs.iter().filter_map(|t| t.0.node.clone()).collect()
        };
        stack.push((node, true));
        for p in parents {
            if !seen.contains(&Arc::as_ptr(&p)) {
                stack.push((p, false));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_accumulate_across_backward_calls() -> Result<()> {
        // y = sum(3x) twice: grad = 3 + 3
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2])?.requires_grad_()?;
        x.mul_scalar(3.0)?.sum_all()?.backward()?;
        x.mul_scalar(3.0)?.sum_all()?.backward()?;
        assert_eq!(x.grad().map(|g| g.to_vec()).transpose()?, Some(vec![6.0, 6.0]));
        x.zero_grad();
        assert!(x.grad().is_none());
        Ok(())
    }

    #[test]
    fn shared_subexpressions_sum_their_gradients() -> Result<()> {
        // z = y*y with y = 2x: dz/dx = 2y * 2 = 8x
        let x = Tensor::from_vec(vec![1.0, -3.0], &[2])?.requires_grad_()?;
        let y = x.mul_scalar(2.0)?;
        y.mul(&y)?.sum_all()?.backward()?;
        assert_eq!(x.grad().map(|g| g.to_vec()).transpose()?, Some(vec![8.0, -24.0]));
        Ok(())
    }

    #[test]
    fn a_node_reached_by_paths_of_different_length_gets_all_its_gradient() -> Result<()> {
        // a = 2x, b = 3a, c = a + b = 8x: a feeds c directly and through b, so a's backward
        // must run only after both contributions arrived. dc/dx = 2 + 6 = 8.
        let x = Tensor::from_vec(vec![1.0, 5.0], &[2])?.requires_grad_()?;
        let a = x.mul_scalar(2.0)?;
        let b = a.mul_scalar(3.0)?;
        a.add(&b)?.sum_all()?.backward()?;
        assert_eq!(x.grad().map(|g| g.to_vec()).transpose()?, Some(vec![8.0, 8.0]));
        Ok(())
    }

    #[test]
    fn a_missing_gradient_for_an_input_that_needs_one_is_an_error() -> Result<()> {
        let x = Tensor::ones(&[2]).requires_grad_()?;
        let out = record(x.detach(), "drops_grads", &[&x], |_| Ok(vec![None]));
        let err = out.sum_all()?.backward().unwrap_err();
        assert_eq!(err.to_string(), "op `drops_grads`: backward returned no gradient for input 0, which requires one");
        Ok(())
    }

    #[test]
    fn backward_twice_errors_unless_retained() -> Result<()> {
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2])?.requires_grad_()?;
        let y = x.exp()?.sum_all()?;
        y.backward_with_options(None, true)?;
        y.backward()?; // graph was retained for this one, then freed
        let err = y.backward().unwrap_err();
        assert!(matches!(err, Error::GraphFreed { .. }));
        assert!(err.to_string().contains("retain_graph"), "{err}");
        // d/dx sum(exp x) = exp x, accumulated twice
        let g = x.grad().map(|g| g.to_vec()).transpose()?.unwrap_or_default();
        assert!((g[0] - 2.0 * 1f32.exp()).abs() < 1e-6 && (g[1] - 2.0 * 2f32.exp()).abs() < 1e-5);
        Ok(())
    }

    #[test]
    fn backward_misuse_is_an_error() -> Result<()> {
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2])?.requires_grad_()?;
        let y = x.mul_scalar(2.0)?;
        let err = y.backward().unwrap_err();
        assert_eq!(
            err.to_string(),
            "backward without a seed gradient needs a one-element tensor, got shape [2]; use backward_with"
        );
        let err = y.backward_with(&Tensor::ones(&[3])).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { op: "backward", .. }));
        y.backward_with(&Tensor::from_vec(vec![1.0, 10.0], &[2])?)?;
        assert_eq!(x.grad().map(|g| g.to_vec()).transpose()?, Some(vec![2.0, 20.0]));
        let plain = Tensor::ones(&[1]);
        assert!(matches!(plain.backward(), Err(Error::NoGradFn)));
        assert!(matches!(y.set_requires_grad(false), Err(Error::NotALeaf { .. })));
        let labels = Tensor::from_vec_i64(vec![1, 2], &[2])?;
        assert!(matches!(labels.set_requires_grad(true), Err(Error::DTypeMismatch { .. })));
        Ok(())
    }

    #[test]
    fn tensors_cross_threads() -> Result<()> {
        // Predictors and layers share tensors between threads: Tensor is Send + Sync, and a
        // graph built on one thread can be backpropagated on another.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tensor>();
        let x = Tensor::from_vec(vec![2.0], &[1])?.requires_grad_()?;
        let y = x.square()?.sum_all()?;
        std::thread::scope(|s| s.spawn(|| y.backward()).join().unwrap_or(Err(Error::NoGradFn)))?;
        assert_eq!(x.grad().map(|g| g.to_vec()).transpose()?, Some(vec![4.0]));
        let err = Tensor::ones(&[1]).backward().unwrap_err();
        assert_eq!(err.to_string(), "backward on a tensor that does not require grad and has no grad_fn");
        Ok(())
    }

    #[test]
    fn no_grad_and_detach_stop_recording() -> Result<()> {
        let x = Tensor::ones(&[2]).requires_grad_()?;
        {
            let _g = no_grad();
            assert!(!x.add(&x)?.requires_grad());
            let _inner = no_grad();
        }
        assert!(is_grad_enabled());
        assert!(!x.detach().requires_grad());
        assert_eq!(x.add(&x)?.grad_fn_name(), Some("add"));
        Ok(())
    }
}
