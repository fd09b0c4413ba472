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

    /// Updates the value's elements with `f`: in place when this parameter holds the only
    /// reference to a contiguous host value (after `backward` has freed the graph and the
    /// step's clones are dropped), else on a copy that replaces the value. Either way, as
    /// after [`set`](Self::set), the value then has no gradient. What optimizers step with.
    ///
    /// ```
    /// use arc_core::nn::Param;
    /// use arc_core::Tensor;
    ///
    /// let w = Param::new(Tensor::from_vec(vec![1.0, 2.0], &[2])?)?;
    /// w.update(|v| { v.iter_mut().for_each(|x| *x *= 10.0); Ok(()) })?;
    /// assert_eq!(w.value().to_vec()?, [10.0, 20.0]);
    /// let held = w.value(); // a clone shares the storage: the update goes to a copy
    /// w.update(|v| { v[0] = 0.0; Ok(()) })?;
    /// assert_eq!((held.to_vec()?, w.value().to_vec()?), (vec![10.0, 20.0], vec![0.0, 20.0]));
    /// # Ok::<(), arc_core::Error>(())
    /// ```
    pub fn update(&self, f: impl FnOnce(&mut [f32]) -> Result<()>) -> Result<()> {
        let mut value = self.value.write().unwrap_or_else(|e| e.into_inner());
        value.zero_grad();
        if let Some(data) = value.unique_f32_mut() {
            return f(data);
        }
        let mut data = value.to_vec()?;
        f(&mut data)?;
        let new = Tensor::from_vec(data, value.shape())?;
        new.set_requires_grad(true)?;
        *value = new;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unheld_value_is_updated_in_its_own_storage_and_loses_its_gradient() -> Result<()> {
        let w = Param::new(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3])?)?;
        w.value().mul_scalar(2.0)?.sum_all()?.backward()?;
        assert!(w.grad().is_some());
        let before = w.value().as_f32_slice().map(<[f32]>::as_ptr);
        w.update(|v| {
            v[1] = -1.0;
            Ok(())
        })?;
        assert_eq!(w.value().as_f32_slice().map(<[f32]>::as_ptr), before, "no copy when nothing else holds it");
        assert_eq!(w.value().to_vec()?, [1.0, -1.0, 3.0]);
        assert!(w.grad().is_none());
        // A view of the storage (here a narrow) keeps the old data: the update is a copy.
        let view = w.value().narrow(0, 0, 2)?;
        w.update(|v| {
            v[0] = 9.0;
            Ok(())
        })?;
        assert_eq!((view.to_vec()?, w.value().to_vec()?), (vec![1.0, -1.0], vec![9.0, -1.0, 3.0]));
        // An error from `f` is returned.
        let err = crate::Error::NoBackward { op: "test".into() };
        assert!(w.update(|_| Err(err)).is_err());
        Ok(())
    }
}
