//! The loss trait.

use crate::{Result, Tensor};

/// A loss, registered by `LossHookSpec::register_losses`: PyTorch's
/// semantics, `reduction` included.
pub trait Loss: Send + Sync {
    /// The inputs, in order: `["pred", "target"]` by default; the margin
    /// losses take three (e.g. `["input1", "input2", "target"]`).
    fn input_names(&self) -> &[&str] {
        &["pred", "target"]
    }

    /// The loss of `inputs` (one tensor per [`input_names`](Self::input_names)).
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor>;
}
