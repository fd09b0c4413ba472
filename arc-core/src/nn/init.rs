//! Parameter initialisation, as PyTorch's `torch.nn.init`, drawn from a
//! seeded per-thread stream: [`manual_seed`] plays `torch.manual_seed`.
//!
//! ```
//! use arc_core::nn::init;
//!
//! init::manual_seed(7);
//! let a = init::kaiming_uniform(&[3, 4], 4).to_vec()?;
//! init::manual_seed(7);
//! let b = init::kaiming_uniform(&[3, 4], 4).to_vec()?;
//! assert_eq!(a, b);
//! // Linear's bound: 1 / sqrt(fan_in) = 0.5.
//! assert!(a.iter().all(|v| v.abs() <= 0.5));
//! # Ok::<(), arc_core::Error>(())
//! ```

use std::cell::RefCell;

use crate::Tensor;
use crate::tensor::Rng;

thread_local! {
    static INIT_RNG: RefCell<Rng> = RefCell::new(Rng::new(0));
}

/// Seeds this thread's initialisation stream.
pub fn manual_seed(seed: u64) {
    INIT_RNG.with(|rng| *rng.borrow_mut() = Rng::new(seed));
}

/// Runs `f` with this thread's initialisation stream.
pub fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    INIT_RNG.with(|rng| f(&mut rng.borrow_mut()))
}

/// `U(-bound, bound)`.
pub fn uniform(shape: &[usize], bound: f32) -> Tensor {
    with_rng(|rng| Tensor::uniform(shape, -bound, bound, rng))
}

/// PyTorch's default for `Linear`, the convolutions and the recurrent
/// weights' effective bound: `kaiming_uniform_(a = sqrt(5))`, which is
/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
pub fn kaiming_uniform(shape: &[usize], fan_in: usize) -> Tensor {
    uniform(shape, 1.0 / (fan_in.max(1) as f32).sqrt())
}

/// `xavier_uniform_`: `U(-a, a)`, `a = gain * sqrt(6 / (fan_in + fan_out))`.
pub fn xavier_uniform(shape: &[usize], fan_in: usize, fan_out: usize, gain: f32) -> Tensor {
    uniform(shape, gain * (6.0 / (fan_in + fan_out).max(1) as f32).sqrt())
}

/// `normal_(mean, std)`, e.g. `Embedding`'s `N(0, 1)`.
pub fn normal(shape: &[usize], mean: f32, std: f32) -> Tensor {
    with_rng(|rng| Tensor::normal(shape, mean, std, rng))
}
