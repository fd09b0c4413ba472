//! Averaging gradients over the ranks in a few large calls (DDP's buckets).

use super::{Collective, ReduceOp};
use crate::nn::Param;
use crate::{Result, Tensor};

/// PyTorch DDP's default bucket: 25 MiB of gradients per all-reduce call.
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// Averages gradients over the ranks after each backward pass: the
/// gradients are packed, in parameter order, into one flat buffer (kept
/// from step to step), summed in calls of at most `bucket_bytes`, scaled by
/// `1 / world` and written back. A few extra values ride in the last call
/// (summed, not averaged), so that a batch's loss costs no call of its own.
///
/// A parameter without a gradient is skipped; every rank runs the same
/// graph, so every rank skips the same ones.
///
/// ```
/// use arc_core::distributed::{GradientBuckets, SingleProcess};
/// use arc_core::{nn::Param, Tensor};
///
/// let w = Param::new(Tensor::from_vec(vec![1.0, 2.0], &[2])?)?;
/// w.value().mul_scalar(3.0)?.sum_all()?.backward()?;
/// let mut buckets = GradientBuckets::new(64);
/// let mut loss = [0.25f32];
/// buckets.average(&SingleProcess, &[&w], &mut loss)?;
/// assert_eq!((w.grad().unwrap().to_vec()?, loss), (vec![3.0, 3.0], [0.25]));
/// assert_eq!(buckets.calls(), 0, "one rank: nothing to send");
/// # Ok::<(), arc_core::Error>(())
/// ```
pub struct GradientBuckets {
    bucket_len: usize,
    /// This rank's gradients, packed.
    flat: Vec<f32>,
    /// Their sums over the ranks.
    summed: Vec<f32>,
    calls: usize,
}

impl GradientBuckets {
    /// Buckets of `bucket_bytes` (at least one `f32`).
    pub fn new(bucket_bytes: usize) -> Self {
        Self { bucket_len: (bucket_bytes / size_of::<f32>()).max(1), flat: Vec::new(), summed: Vec::new(), calls: 0 }
    }

    /// The number of all-reduce calls the last [`average`](Self::average) made.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// Averages the gradients of `params` over `collective`'s ranks and
    /// sums `extra` over them. With one rank, nothing is copied.
    pub fn average(&mut self, collective: &dyn Collective, params: &[&Param], extra: &mut [f32]) -> Result<()> {
        self.calls = 0;
        let world = collective.world_size();
        if world == 1 {
            return Ok(());
        }
        self.flat.clear();
        let grads: Vec<Option<Tensor>> = params.iter().map(|p| p.grad()).collect();
        for g in grads.iter().flatten() {
            self.flat.extend_from_slice(&g.on_host()?.f32_data("all_reduce")?);
        }
        let grads_len = self.flat.len();
        self.flat.extend_from_slice(extra);
        self.summed.resize(self.flat.len(), 0.0);
        for (send, recv) in self.flat.chunks(self.bucket_len).zip(self.summed.chunks_mut(self.bucket_len)) {
            collective.all_reduce_into(send, recv, ReduceOp::Sum)?;
            self.calls += 1;
        }
        let scale = 1.0 / world as f32;
        let mut at = 0;
        for (param, grad) in params.iter().zip(&grads) {
            let Some(grad) = grad else { continue };
            let n = grad.numel();
            let averaged: Vec<f32> = self.summed[at..at + n].iter().map(|g| g * scale).collect();
            at += n;
            let averaged = Tensor::from_vec(averaged, grad.shape())?.to_device(grad.device())?;
            param.set_grad(Some(averaged))?;
        }
        extra.copy_from_slice(&self.summed[grads_len..]);
        Ok(())
    }
}
