//! Checked element counts for the layers' [`StateSize`](arc_core::plugin::StateSize)s: the
//! memory budget's estimate of a layer's parameters and buffers, from its config alone.

use arc_core::{Error, Result};

/// The elements of a layer's parameters and buffers, added up with checked arithmetic.
pub(crate) struct Tally {
    layer: &'static str,
    total: u64,
}

impl Tally {
    /// An empty tally for `layer` (its full name, for the overflow error).
    pub(crate) fn new(layer: &'static str) -> Self {
        Self { layer, total: 0 }
    }

    /// Adds a tensor of `shape`.
    pub(crate) fn tensor(mut self, shape: &[usize]) -> Result<Self> {
        let n = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64)).ok_or_else(|| self.overflow(shape))?;
        self.total = self.total.checked_add(n).ok_or_else(|| self.overflow(shape))?;
        Ok(self)
    }

    /// Adds a tensor of `shape` when `present`.
    pub(crate) fn tensor_if(self, present: bool, shape: &[usize]) -> Result<Self> {
        if present { self.tensor(shape) } else { Ok(self) }
    }

    /// The total.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    fn overflow(&self, shape: &[usize]) -> Error {
        Error::TooLarge {
            what: format!("layer `{}`", self.layer),
            message: format!("a tensor of shape {shape:?} has more elements than memory can address"),
        }
    }
}
