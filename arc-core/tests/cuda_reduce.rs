//! CUDA against the CPU: reductions (sum, mean, max, var), argmax / argmin and one_hot,
//! forward and gradients, over odd shapes, rows wider than a block, keepdim, negative dims
//! and strided inputs. Skipped, with the reason printed, where no GPU is present.

mod common;

use arc_core::tensor::DType;
use arc_core::{Error, Result, Tensor};
use common::{REDUCTION, assert_close, check_op, gpu, randn};

/// Integer-valued data in -2..=2 (rounded toward zero), so that maxima tie.
fn ties(shape: &[usize], seed: u64) -> Result<Tensor> {
    randn(shape, seed).mul_scalar(1.2)?.to_dtype(DType::I64)?.to_dtype(DType::F32)
}

const DIM_SETS: &[&[isize]] = &[&[], &[0], &[-1], &[1], &[0, 2], &[1, 2], &[0, 1], &[-3, -1]];

#[test]
fn sum_mean_max_var_match_the_cpu_over_every_kind_of_dim_set() -> Result<()> {
    let Some(dev) = gpu("sum_mean_max_var_match_the_cpu_over_every_kind_of_dim_set") else { return Ok(()) };
    for (i, shape) in [&[2, 3, 4][..], &[7, 1, 33], &[3, 1025, 5], &[1, 1, 1], &[5, 300, 1]].iter().enumerate() {
        let x = randn(shape, 100 + i as u64);
        for dims in DIM_SETS {
            for keepdim in [false, true] {
                let what = |op: &str| format!("{op} {shape:?} dims {dims:?} keepdim {keepdim}");
                check_op(&what("sum"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].sum(dims, keepdim))?;
                check_op(&what("mean"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].mean(dims, keepdim))?;
                check_op(&what("max"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].max(dims, keepdim))?;
                check_op(&what("var"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].var(dims, true, keepdim))?;
                check_op(&what("var biased"), dev, std::slice::from_ref(&x), REDUCTION, |t| {
                    t[0].var(dims, false, keepdim)
                })?;
            }
        }
    }
    Ok(())
}

#[test]
fn long_and_wide_reductions_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("long_and_wide_reductions_match_the_cpu") else { return Ok(()) };
    // sum_all of many elements (split rows), a long column (split columns), rows wider than
    // 256 and 1024, a single element, and many short rows.
    let cases: &[(&[usize], &[isize])] = &[
        (&[300_001], &[]),
        (&[70_001, 3], &[0]),
        (&[2, 5000], &[-1]),
        (&[33, 1000], &[1]),
        (&[17, 1300], &[-1]),
        (&[1], &[0]),
        (&[7], &[]),
        (&[4099, 7], &[-1]),
        (&[9, 2049, 3], &[1]),
    ];
    for (i, (shape, dims)) in cases.iter().enumerate() {
        let x = randn(shape, 200 + i as u64);
        for keepdim in [false, true] {
            let what = |op: &str| format!("{op} {shape:?} dims {dims:?} keepdim {keepdim}");
            check_op(&what("sum"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].sum(dims, keepdim))?;
            check_op(&what("mean"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].mean(dims, keepdim))?;
            check_op(&what("max"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].max(dims, keepdim))?;
        }
    }
    Ok(())
}

#[test]
fn strided_inputs_ties_nan_and_empty_dims_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("strided_inputs_ties_nan_and_empty_dims_match_the_cpu") else { return Ok(()) };
    // A transposed and a narrowed view.
    let x = randn(&[33, 65], 300);
    for dims in [&[0isize][..], &[1], &[]] {
        check_op("sum of a transpose", dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].t()?.sum(dims, false))?;
        check_op("max of a transpose", dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].t()?.max(dims, true))?;
        // A narrowed view (forward only: narrow's own backward is not this file's concern).
        let (n, ng) = (x.narrow(1, 3, 40)?, x.to_device(dev)?.narrow(1, 3, 40)?);
        assert_close("mean of a narrow", &n.mean(dims, false)?, &ng.mean(dims, false)?, REDUCTION)?;
        assert_close("max of a narrow", &n.max(dims, true)?, &ng.max(dims, true)?, REDUCTION)?;
    }
    // Tied maxima share the gradient equally.
    let x = ties(&[6, 37], 301)?;
    for dims in [&[0isize][..], &[1], &[]] {
        check_op("max with ties", dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].max(dims, false))?;
    }
    // NaN: the CPU's max skips it; sums propagate it.
    let mut v = randn(&[4, 40], 302).to_vec()?;
    v[5] = f32::NAN;
    v[41] = f32::NAN;
    v[120..160].iter_mut().for_each(|e| *e = f32::NAN);
    let x = Tensor::from_vec(v, &[4, 40])?;
    let xg = x.to_device(dev)?;
    for dims in [&[0isize][..], &[1], &[]] {
        assert_close("max with NaN", &x.max(dims, false)?, &xg.max(dims, false)?, REDUCTION)?;
        assert_close("sum with NaN", &x.sum(dims, false)?, &xg.sum(dims, false)?, REDUCTION)?;
    }
    // Empty tensors: sums are 0, the mean NaN, a max an error.
    let e = Tensor::zeros(&[0, 3]);
    let eg = e.to_device(dev)?;
    assert_close("sum over an empty dim", &e.sum(&[0], false)?, &eg.sum(&[0], false)?, 0.0)?;
    assert_close("sum of an empty dim kept", &e.sum(&[1], true)?, &eg.sum(&[1], true)?, 0.0)?;
    assert_close("mean over an empty dim", &e.mean(&[0], false)?, &eg.mean(&[0], false)?, 0.0)?;
    assert!(matches!(eg.max(&[0], false), Err(Error::InvalidArgument { op: "max", .. })));
    assert_eq!(eg.max(&[1], false)?.shape(), &[0]);
    assert!(matches!(xg.sum(&[2], false), Err(Error::BadAxis { .. })));
    // Outputs stay on the GPU.
    assert_eq!(xg.sum_all()?.device(), dev);
    assert_eq!(xg.mean_all()?.device(), dev);
    Ok(())
}

#[test]
fn argmax_argmin_match_the_cpu_including_ties_and_nan() -> Result<()> {
    let Some(dev) = gpu("argmax_argmin_match_the_cpu_including_ties_and_nan") else { return Ok(()) };
    let mut cases = vec![ties(&[5, 7], 400)?, ties(&[3, 300, 4], 401)?, randn(&[2, 1300], 402), randn(&[1], 403)];
    let mut v = ties(&[6, 50], 404)?.to_vec()?;
    v[3] = f32::NAN;
    v[10] = f32::NAN;
    v[60] = f32::NAN;
    v[149] = f32::NAN;
    cases.push(Tensor::from_vec(v, &[6, 50])?);
    for x in &cases {
        let xg = x.to_device(dev)?;
        for dim in -(x.rank() as isize)..x.rank() as isize {
            for keepdim in [false, true] {
                for (name, c, g) in [
                    ("argmax", x.argmax(dim, keepdim)?, xg.argmax(dim, keepdim)?),
                    ("argmin", x.argmin(dim, keepdim)?, xg.argmin(dim, keepdim)?),
                ] {
                    assert_eq!(g.device(), dev);
                    assert_eq!(c.shape(), g.shape(), "{name} {:?} dim {dim}", x.shape());
                    assert_eq!(c.to_vec_i64()?, g.to_vec_i64()?, "{name} {:?} dim {dim}", x.shape());
                }
            }
        }
        // A transposed view.
        if x.rank() == 2 {
            let (t, tg) = (x.t()?, xg.t()?);
            assert_eq!(t.argmax(-1, false)?.to_vec_i64()?, tg.argmax(-1, false)?.to_vec_i64()?);
            assert_eq!(t.argmin(0, true)?.to_vec_i64()?, tg.argmin(0, true)?.to_vec_i64()?);
        }
    }
    let e = Tensor::zeros(&[0, 3]).to_device(dev)?;
    assert!(matches!(e.argmax(0, false), Err(Error::InvalidArgument { op: "argmax", .. })));
    assert_eq!(e.argmin(1, false)?.shape(), &[0]);
    Ok(())
}

#[test]
fn one_hot_matches_the_cpu_and_rejects_bad_labels() -> Result<()> {
    let Some(dev) = gpu("one_hot_matches_the_cpu_and_rejects_bad_labels") else { return Ok(()) };
    let labels = Tensor::from_vec_i64((0..35).map(|i| (i * 7) % 5).collect(), &[5, 7])?;
    let g = labels.to_device(dev)?.one_hot(5)?;
    assert_eq!(g.device(), dev);
    assert_close("one_hot", &labels.one_hot(5)?, &g, 0.0)?;
    let wide = Tensor::from_vec_i64(vec![1299, 0, 640], &[3])?;
    assert_close("one_hot wide", &wide.one_hot(1300)?, &wide.to_device(dev)?.one_hot(1300)?, 0.0)?;
    for bad in [vec![0i64, 3, 1, -1], vec![-2, 0, 0, 9], vec![1, 1, 1, 4]] {
        let t = Tensor::from_vec_i64(bad, &[4])?;
        let (c, g) = (t.one_hot(4).unwrap_err(), t.to_device(dev)?.one_hot(4).unwrap_err());
        assert!(matches!(g, Error::IndexOutOfRange { op: "one_hot", .. }));
        assert_eq!(c.to_string(), g.to_string());
    }
    let t = Tensor::from_vec_i64(vec![0], &[1])?.to_device(dev)?;
    assert!(matches!(t.one_hot(0), Err(Error::IndexOutOfRange { op: "one_hot", .. })));
    let empty = Tensor::from_vec_i64(vec![], &[0])?.to_device(dev)?.one_hot(3)?;
    assert_eq!(empty.shape(), &[0, 3]);
    assert!(matches!(Tensor::zeros(&[2]).to_device(dev)?.one_hot(2), Err(Error::DTypeMismatch { .. })));
    Ok(())
}
