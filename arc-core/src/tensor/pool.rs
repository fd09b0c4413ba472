//! Running a whole step on rayon's pool. A thread outside the pool (a program's main
//! thread) hands every parallel op to the pool and sleeps on a latch until it is done:
//! a futex wake-up per op. Called from a pool thread, the same ops split their work with
//! the other pool threads without that wait: one hand-off per step instead of one per op
//! (the MLP training step 664 -> 615 us on the 2-core dev VM).

use super::autograd::{is_grad_enabled, set_grad_enabled};

/// Runs `f` on one of rayon's pool threads and returns its result; on a pool thread
/// already, runs it in place. The caller's gradient mode ([`is_grad_enabled`]) goes with
/// it: the pool thread's own flag could be another caller's no-grad mode. Panics in `f`
/// reach the caller, as from a direct call. Thread-local state other than the gradient
/// mode (for example [`crate::nn::init::manual_seed`]'s stream) stays with the caller.
///
/// Results are the same either way: the kernels split their work by the pool's thread
/// count, not by the calling thread.
///
/// ```
/// use arc_core::Tensor;
/// use arc_core::tensor::on_pool;
/// # fn main() -> arc_core::Result<()> {
/// let w = Tensor::ones(&[3]).requires_grad_()?;
/// let loss = on_pool(|| w.mul_scalar(2.0)?.sum_all())?;
/// on_pool(|| loss.backward())?;
/// assert_eq!(w.grad().unwrap().to_vec()?, vec![2.0; 3]);
/// # Ok(()) }
/// ```
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let recording = is_grad_enabled();
    rayon::scope(|_| {
        let _mode = set_grad_enabled(recording);
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::no_grad;

    #[test]
    fn the_callers_grad_mode_goes_to_the_pool_thread() {
        assert!(rayon::current_thread_index().is_none(), "a test thread is outside the pool");
        assert_eq!(on_pool(|| (rayon::current_thread_index().is_some(), is_grad_enabled())), (true, true));
        let _off = no_grad();
        assert_eq!(on_pool(|| (rayon::current_thread_index().is_some(), is_grad_enabled())), (true, false));
        // Nested: in place, on the same pool thread.
        assert!(on_pool(|| rayon::current_thread_index() == on_pool(rayon::current_thread_index)));
        // A panic reaches the caller.
        assert!(std::panic::catch_unwind(|| on_pool(|| panic!("in the pool"))).is_err());
    }
}
