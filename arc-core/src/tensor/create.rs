//! Constructors. Every constructor makes a contiguous tensor that does not require grad, on
//! the CPU unless it names a device (`*_on`).

use super::Tensor;
use super::device::{DType, Device};
use super::rng::Rng;
use crate::{Error, Result};

/// A tensor a constructor could not make: its element count overflows, or its bytes could
/// not be allocated. Constructors are infallible, so they panic with this payload (never
/// aborting the process); a component factory's caller (`Component::create`) turns it into
/// [`Error::TooLarge`], naming the component and, through the builder, the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationRefused {
    /// The shape asked for.
    pub shape: Vec<usize>,
    /// Its bytes, when the element count did not overflow.
    pub bytes: Option<u128>,
}

impl std::fmt::Display for AllocationRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.bytes {
            Some(bytes) => write!(
                f,
                "a tensor of shape {:?} needs {}, more than this machine can allocate",
                self.shape,
                crate::types::human_bytes(bytes)
            ),
            None => write!(f, "a tensor of shape {:?} has more elements than memory can address", self.shape),
        }
    }
}

/// The element count of `shape`: refused ([`AllocationRefused`]) when it overflows.
fn numel(shape: &[usize]) -> usize {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .unwrap_or_else(|| std::panic::panic_any(AllocationRefused { shape: shape.to_vec(), bytes: None }))
}

/// An empty vector with room for `shape`'s elements: refused ([`AllocationRefused`]) when
/// the element count overflows or the allocation fails, instead of aborting the process.
pub(crate) fn room_for<T>(shape: &[usize]) -> Vec<T> {
    let n = numel(shape);
    let mut v = Vec::new();
    if v.try_reserve_exact(n).is_err() {
        let bytes = n as u128 * size_of::<T>() as u128;
        std::panic::panic_any(AllocationRefused { shape: shape.to_vec(), bytes: Some(bytes) });
    }
    v
}

/// `shape`'s elements, each `value`.
fn filled<T: Copy>(shape: &[usize], value: T) -> Vec<T> {
    let n = numel(shape);
    let mut v = room_for(shape);
    v.resize(n, value);
    v
}

/// `shape`'s elements, drawn in order from `draw`.
fn drawn(shape: &[usize], mut draw: impl FnMut() -> f32) -> Vec<f32> {
    let n = numel(shape);
    let mut v = room_for(shape);
    v.extend((0..n).map(|_| draw()));
    v
}

impl Tensor {
    /// An f32 tensor of `shape` filled with 0.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::from_f32(filled(shape, 0.0), shape)
    }

    /// An f32 tensor of `shape` filled with 1.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// An f32 tensor of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::from_f32(filled(shape, value), shape)
    }

    /// A rank-0 f32 tensor holding `value`.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_f32(vec![value], &[])
    }

    /// An f32 tensor of `shape` filled with `value` on `device` (filled there by a kernel
    /// on a GPU, no host copy). Errors when the device cannot be used.
    ///
    /// ```
    /// use arc_core::{Device, Tensor};
    /// # fn main() -> arc_core::Result<()> {
    /// assert_eq!(Tensor::full_on(&[2], 1.5, Device::Cpu)?.to_vec()?, vec![1.5, 1.5]);
    /// # Ok(()) }
    /// ```
    pub fn full_on(shape: &[usize], value: f32, device: Device) -> Result<Tensor> {
        match device {
            Device::Cpu => Ok(Tensor::full(shape, value)),
            Device::Cuda(ordinal) => super::cuda::full_on(ordinal, shape, DType::F32, value as f64),
        }
    }

    /// An f32 tensor of `shape` filled with 0 on `device`.
    pub fn zeros_on(shape: &[usize], device: Device) -> Result<Tensor> {
        Tensor::full_on(shape, 0.0, device)
    }

    /// An f32 tensor of `shape` filled with 1 on `device`.
    pub fn ones_on(shape: &[usize], device: Device) -> Result<Tensor> {
        Tensor::full_on(shape, 1.0, device)
    }

    /// An i64 tensor of `shape` filled with `value` on `device`.
    pub fn full_i64_on(shape: &[usize], value: i64, device: Device) -> Result<Tensor> {
        match device {
            Device::Cpu => Ok(Tensor::full_i64(shape, value)),
            Device::Cuda(ordinal) => super::cuda::full_on(ordinal, shape, DType::I64, value as f64),
        }
    }

    /// Zeros with the shape of `other`, on the host whatever `other`'s device (use
    /// [`zeros_on`](Self::zeros_on)`(shape, other.device())` to follow it).
    pub fn zeros_like(other: &Tensor) -> Tensor {
        Tensor::zeros(other.shape())
    }

    /// Ones with the shape of `other`, on the host (see [`ones_on`](Self::ones_on)).
    pub fn ones_like(other: &Tensor) -> Tensor {
        Tensor::ones(other.shape())
    }

    /// An f32 tensor from row-major `data`; errors when `data.len()` is not the shape's
    /// element count.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert_eq!(t.to_vec()?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    /// let err = Tensor::from_vec(vec![1.0; 5], &[2, 3]).unwrap_err();
    /// assert_eq!(err.to_string(), "op `from_vec`: shape [2, 3] holds 6 elements, got 5");
    /// # Ok(()) }
    /// ```
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        check_len("from_vec", data.len(), shape)?;
        Ok(Tensor::from_f32(data, shape))
    }

    /// An i64 tensor (indices, class labels) from row-major `data`.
    pub fn from_vec_i64(data: Vec<i64>, shape: &[usize]) -> Result<Tensor> {
        check_len("from_vec_i64", data.len(), shape)?;
        Ok(Tensor::from_i64(data, shape))
    }

    /// An i64 tensor of `shape` filled with `value`.
    pub fn full_i64(shape: &[usize], value: i64) -> Tensor {
        Tensor::from_i64(filled(shape, value), shape)
    }

    /// An f32 tensor from an ndarray array (any layout).
    pub fn from_ndarray(array: &ndarray::ArrayD<f32>) -> Tensor {
        let shape = array.shape().to_vec();
        Tensor::from_f32(array.iter().copied().collect(), &shape)
    }

    /// `[start, start + step, ...]` up to but excluding `end` (PyTorch's `arange`), as f32.
    ///
    /// ```
    /// use arc_core::Tensor;
    /// # fn main() -> arc_core::Result<()> {
    /// assert_eq!(Tensor::arange(0.0, 2.0, 0.5)?.to_vec()?, vec![0.0, 0.5, 1.0, 1.5]);
    /// assert!(Tensor::arange(0.0, 1.0, 0.0).is_err());
    /// # Ok(()) }
    /// ```
    pub fn arange(start: f32, end: f32, step: f32) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::InvalidArgument {
                op: "arange",
                name: "step",
                value: step.to_string(),
                expected: "a finite non-zero step and finite bounds",
            });
        }
        let n = (((end as f64) - (start as f64)) / step as f64).ceil().max(0.0) as usize;
        let data: Vec<f32> = (0..n).map(|i| (start as f64 + i as f64 * step as f64) as f32).collect();
        Ok(Tensor::from_f32(data, &[n]))
    }

    /// `[start, start + 1, ..., end - 1]` as i64.
    pub fn arange_i64(start: i64, end: i64) -> Tensor {
        let data: Vec<i64> = (start..end.max(start)).collect();
        let n = data.len();
        Tensor::from_i64(data, &[n])
    }

    /// Uniform samples in `[0, 1)`, drawn in row-major order from `rng`.
    ///
    /// ```
    /// use arc_core::{tensor::Rng, Tensor};
    /// # fn main() -> arc_core::Result<()> {
    /// let a = Tensor::rand(&[3], &mut Rng::new(0));
    /// let b = Tensor::rand(&[3], &mut Rng::new(0));
    /// assert_eq!(a.to_vec()?, b.to_vec()?); // same seed, same values
    /// # Ok(()) }
    /// ```
    pub fn rand(shape: &[usize], rng: &mut Rng) -> Tensor {
        Tensor::from_f32(drawn(shape, || rng.uniform()), shape)
    }

    /// Uniform samples in `[low, high)`.
    pub fn uniform(shape: &[usize], low: f32, high: f32, rng: &mut Rng) -> Tensor {
        let span = high - low;
        Tensor::from_f32(drawn(shape, || low + span * rng.uniform()), shape)
    }

    /// Standard normal samples (mean 0, std 1).
    pub fn randn(shape: &[usize], rng: &mut Rng) -> Tensor {
        Tensor::from_f32(drawn(shape, || rng.normal()), shape)
    }

    /// Normal samples with the given mean and standard deviation.
    pub fn normal(shape: &[usize], mean: f32, std: f32, rng: &mut Rng) -> Tensor {
        Tensor::from_f32(drawn(shape, || mean + std * rng.normal()), shape)
    }

    /// Uniform integers in `[low, high)` as i64 (e.g. random class labels).
    pub fn randint(shape: &[usize], low: i64, high: i64, rng: &mut Rng) -> Result<Tensor> {
        if high <= low {
            return Err(Error::InvalidArgument {
                op: "randint",
                name: "high",
                value: high.to_string(),
                expected: "high > low",
            });
        }
        let span = (high - low) as u64;
        let data = (0..numel(shape)).map(|_| low + rng.below(span) as i64).collect();
        Ok(Tensor::from_i64(data, shape))
    }
}

fn check_len(op: &'static str, got: usize, shape: &[usize]) -> Result<()> {
    let expected = numel(shape);
    if got != expected {
        return Err(Error::ElementCountMismatch { op, shape: shape.to_vec(), expected, got });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_fill_and_report_metadata() -> Result<()> {
        let t = Tensor::full(&[2, 3], 1.5);
        assert_eq!((t.shape(), t.rank(), t.numel()), (&[2usize, 3][..], 2, 6));
        assert_eq!((t.dtype(), t.device()), (DType::F32, Device::Cpu));
        assert_eq!(t.to_vec()?, vec![1.5; 6]);
        assert_eq!(Tensor::zeros(&[0, 4]).numel(), 0);
        assert_eq!(Tensor::scalar(3.0).item()?, 3.0);
        assert_eq!(Tensor::arange(1.0, 0.0, -0.25)?.to_vec()?, vec![1.0, 0.75, 0.5, 0.25]);
        let l = Tensor::arange_i64(2, 5);
        assert_eq!((l.dtype(), l.to_vec_i64()?), (DType::I64, vec![2, 3, 4]));
        assert_eq!(Tensor::full_i64(&[1], 7).item_i64()?, 7);
        Ok(())
    }

    #[test]
    fn seeded_constructors_are_reproducible() -> Result<()> {
        let a = Tensor::randn(&[4, 4], &mut Rng::new(3)).to_vec()?;
        assert_eq!(a, Tensor::randn(&[4, 4], &mut Rng::new(3)).to_vec()?);
        assert_ne!(a, Tensor::randn(&[4, 4], &mut Rng::new(4)).to_vec()?);
        let u = Tensor::uniform(&[1000], -2.0, 3.0, &mut Rng::new(0)).to_vec()?;
        assert!(u.iter().all(|v| (-2.0..3.0).contains(v)));
        let k = Tensor::randint(&[1000], -1, 2, &mut Rng::new(0))?.to_vec_i64()?;
        assert!(k.iter().all(|v| (-1..2).contains(v)) && k.contains(&-1) && k.contains(&1));
        assert!(Tensor::randint(&[1], 2, 2, &mut Rng::new(0)).is_err());
        Ok(())
    }

    #[test]
    fn device_constructors_on_the_cpu_and_a_missing_gpu() -> Result<()> {
        assert_eq!(Tensor::zeros_on(&[2, 2], Device::Cpu)?.to_vec()?, vec![0.0; 4]);
        assert_eq!(Tensor::ones_on(&[3], Device::Cpu)?.to_vec()?, vec![1.0; 3]);
        let s = Tensor::full_on(&[], -2.0, Device::Cpu)?;
        assert_eq!((s.shape(), s.item()?), (&[] as &[usize], -2.0));
        assert_eq!(Tensor::full_i64_on(&[2], 4, Device::Cpu)?.to_vec_i64()?, vec![4, 4]);
        if crate::tensor::cuda_device_count().is_err() {
            assert!(Tensor::zeros_on(&[1], Device::Cuda(0)).is_err());
            assert!(Tensor::full_i64_on(&[1], 0, Device::Cuda(0)).is_err());
        }
        Ok(())
    }

    #[test]
    fn dtype_misuse_and_scalar_errors() -> Result<()> {
        let labels = Tensor::from_vec_i64(vec![1, 2], &[2])?;
        let err = labels.to_vec().unwrap_err();
        assert_eq!(err.to_string(), "op `to_vec`: expected dtype f32, got i64");
        let err = Tensor::zeros(&[2, 2]).item().unwrap_err();
        assert_eq!(err.to_string(), "op `item`: tensor of shape [2, 2] does not hold exactly one element");
        // With the `cuda` feature the error depends on the machine (or there is none).
        #[cfg(not(feature = "cuda"))]
        {
            let err = Tensor::zeros(&[1]).to_device(Device::Cuda(0)).unwrap_err();
            assert_eq!(
                err.to_string(),
                "op `to_device`: arc-core was built without CUDA support (enable the `cuda` feature)"
            );
        }
        Ok(())
    }
}
