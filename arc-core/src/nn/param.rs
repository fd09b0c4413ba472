//! Trainable parameters.

use std::sync::RwLock;

use crate::{Result, Tensor};

/// A trainable parameter: a tensor that requires gradients, which an
/// optimizer replaces after each step. Shared by reference between the layer
/// that owns it and the optimizer; safe to read from many threads.
///
/// ```
/// use arc_core::nn::Param;
/// use arc_core::Tensor;
///
/// let w = Param::new(Tensor::from_vec(vec![1.0, 2.0], &[2])?)?;
/// let y = w.value().mul_scalar(3.0)?.sum_all()?;
/// y.backward()?;
/// assert_eq!(w.grad().unwrap().to_vec()?, [3.0, 3.0]);
/// w.set(Tensor::from_vec(vec![0.5, 0.5], &[2])?)?;
/// assert_eq!(w.value().to_vec()?, [0.5, 0.5]);
/// assert!(w.grad().is_none(), "a new value starts without a gradient");
/// # Ok::<(), arc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Param {
    value: RwLock<Tensor>,
}

impl Param {
    /// A parameter holding `value` (made a leaf that requires gradients).
    pub fn new(value: Tensor) -> Result<Self> {
        let value = value.detach();
        value.set_requires_grad(true)?;
        Ok(Self { value: RwLock::new(value) })
    }

    /// The current value (cheap: shares storage).
    pub fn value(&self) -> Tensor {
        self.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value (same shape expected; the new value requires
    /// gradients and has none yet).
    pub fn set(&self, value: Tensor) -> Result<()> {
        let value = value.detach();
        value.set_requires_grad(true)?;
        *self.value.write().unwrap_or_else(|e| e.into_inner()) = value;
        Ok(())
    }

    /// Moves the value to `device` (a copy; nothing happens when it is already there). Like
    /// [`set`](Self::set), the moved value starts without a gradient.
    pub fn to_device(&self, device: crate::Device) -> Result<()> {
        let value = self.value();
        if value.device() == device {
            return Ok(());
        }
        self.set(value.to_device(device)?)
    }

    /// The accumulated gradient, if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.value.read().unwrap_or_else(|e| e.into_inner()).grad()
    }

    /// Replaces the gradient (same shape and device as the value); see [`Tensor::set_grad`].
    pub fn set_grad(&self, grad: Option<Tensor>) -> Result<()> {
        self.value.read().unwrap_or_else(|e| e.into_inner()).set_grad(grad)
    }

    /// Clears the gradient.
    pub fn zero_grad(&self) {
        self.value.read().unwrap_or_else(|e| e.into_inner()).zero_grad();
    }

    /// The value's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.value.read().unwrap_or_else(|e| e.into_inner()).shape().to_vec()
    }
}
