//! CUDA against the CPU: matmul (cuBLAS, every shape rule), linear, index_select / gather,
//! concat / narrow / split, views of i64 tensors, where_cond / masked_fill / dropout, and
//! device fills, forward and gradients. Skipped, with the reason printed, where no GPU is
//! present.
//!
//! Gradients are compared for a fixed random upstream gradient seeded with
//! `backward_with`, so these tests need no reduction kernel, except the ones in
//! `broadcast_gradients_that_sum_over_dims_match_the_cpu` (their backward sums a gradient
//! over broadcast dims).

mod common;

use arc_core::tensor::Rng;
use arc_core::{Error, Result, Tensor};
use common::{ELEMENTWISE, REDUCTION, check_op as check, gpu, randn};

/// `t` moved to the device of `like`.
fn on(t: &Tensor, like: &Tensor) -> Result<Tensor> {
    t.to_device(like.device())
}

#[test]
fn matmul_2d_odd_sizes_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("matmul_2d_odd_sizes_match_the_cpu") else { return Ok(()) };
    let sizes = [1, 7, 33, 129];
    let mut seed = 0;
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                seed += 2;
                let (a, b) = (randn(&[m, k], seed), randn(&[k, n], seed + 1));
                check(&format!("matmul [{m},{k}]x[{k},{n}]"), dev, &[a, b], REDUCTION, |t| t[0].matmul(&t[1]))?;
            }
        }
    }
    Ok(())
}

#[test]
fn matmul_transposed_and_strided_operands_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("matmul_transposed_and_strided_operands_match_the_cpu") else { return Ok(()) };
    let (at, b) = (randn(&[33, 7], 1), randn(&[33, 129], 2));
    check("a^T @ b", dev, &[at.clone(), b.clone()], REDUCTION, |t| t[0].t()?.matmul(&t[1]))?;
    let (a, bt) = (randn(&[7, 33], 3), randn(&[129, 33], 4));
    check("a @ b^T (linear-like)", dev, &[a.clone(), bt.clone()], REDUCTION, |t| t[0].matmul(&t[1].t()?))?;
    check("a^T @ b^T", dev, &[at, bt], REDUCTION, |t| t[0].t()?.matmul(&t[1].t()?))?;
    // A row window (row stride 33 > 20 columns: no copy) and a permuted batch (copied).
    let (w, v) = (randn(&[7, 33], 5), randn(&[20, 9], 6));
    check("narrowed lhs", dev, &[w, v], REDUCTION, |t| t[0].narrow(1, 4, 20)?.matmul(&t[1]))?;
    let (p, q) = (randn(&[7, 3, 5], 7), randn(&[3, 5, 4], 8));
    check("permuted batch", dev, &[p, q], REDUCTION, |t| t[0].permute(&[1, 0, 2])?.matmul(&t[1]))?;
    // Batched transposed views of contiguous data.
    let (x, y) = (randn(&[3, 33, 7], 9), randn(&[3, 5, 33], 10));
    check("batched transposes", dev, &[x, y], REDUCTION, |t| t[0].transpose(-1, -2)?.matmul(&t[1].transpose(-1, -2)?))?;
    Ok(())
}

#[test]
fn matmul_batched_broadcast_and_vector_shapes_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("matmul_batched_broadcast_and_vector_shapes_match_the_cpu") else { return Ok(()) };
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 7, 33], &[3, 33, 5]),
        (&[2, 3, 7, 33], &[2, 3, 33, 129]),
        // A batched lhs with a shared 2-D rhs: folded into one gemm, backward included.
        (&[4, 7, 33], &[33, 5]),
        (&[2, 3, 1, 129], &[129, 7]),
        (&[33], &[33, 7]),
        (&[7, 33], &[33]),
        (&[33], &[33]),
        // A shared 2-D lhs with a batched rhs: its gradient's batch sum is folded too.
        (&[7, 33], &[4, 33, 5]),
        (&[7, 33], &[2, 3, 33, 5]),
        (&[129], &[4, 129, 1]),
    ];
    for (i, (sa, sb)) in cases.iter().enumerate() {
        let (a, b) = (randn(sa, 30 + 2 * i as u64), randn(sb, 31 + 2 * i as u64));
        check(&format!("matmul {sa:?}x{sb:?}"), dev, &[a, b], REDUCTION, |t| t[0].matmul(&t[1]))?;
    }
    // Empty extents: zeros of the right shape, on the GPU.
    let (a, b) = (Tensor::zeros(&[3, 0]).to_device(dev)?, Tensor::zeros(&[0, 4]).to_device(dev)?);
    let c = a.matmul(&b)?;
    assert_eq!((c.shape(), c.device()), (&[3usize, 4][..], dev));
    assert_eq!(c.to_vec()?, vec![0.0; 12]);
    // Shape errors are the CPU's.
    let err = randn(&[2, 3], 0).to_device(dev)?.matmul(&randn(&[2, 3], 1).to_device(dev)?).unwrap_err();
    assert_eq!(err.to_string(), "op `matmul`: shapes [2, 3] and [2, 3] are incompatible");
    // Mixed devices are an error, not a copy.
    let err = randn(&[2, 3], 0).to_device(dev)?.matmul(&randn(&[3, 2], 1)).unwrap_err();
    assert!(matches!(err, Error::DeviceMismatch { .. }), "{err}");
    Ok(())
}

#[test]
fn linear_matches_the_cpu() -> Result<()> {
    let Some(dev) = gpu("linear_matches_the_cpu") else { return Ok(()) };
    let (x, w, b) = (randn(&[9, 33], 1), randn(&[7, 33], 2), randn(&[7], 3));
    check("linear with bias", dev, &[x.clone(), w.clone(), b.clone()], REDUCTION, |t| t[0].linear(&t[1], Some(&t[2])))?;
    check("linear without bias", dev, &[x, w.clone()], REDUCTION, |t| t[0].linear(&t[1], None))?;
    let x3 = randn(&[2, 5, 33], 4);
    check("linear 3-D x", dev, &[x3.clone(), w.clone(), b.clone()], REDUCTION, |t| t[0].linear(&t[1], Some(&t[2])))?;
    let wt = randn(&[33, 7], 5);
    check("linear transposed weight", dev, &[x3, wt], REDUCTION, |t| t[0].linear(&t[1].t()?, None))?;
    let (x1, w1, b1) = (randn(&[1, 1], 6), randn(&[129, 1], 7), randn(&[129], 8));
    check("linear 1x1 -> 129", dev, &[x1, w1, b1], REDUCTION, |t| t[0].linear(&t[1], Some(&t[2])))?;
    let err = randn(&[2, 33], 0).to_device(dev)?.linear(&w, Some(&b)).unwrap_err();
    assert!(matches!(err, Error::DeviceMismatch { .. }), "{err}");
    Ok(())
}

#[test]
fn index_select_and_gather_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("index_select_and_gather_match_the_cpu") else { return Ok(()) };
    let x = randn(&[5, 7, 3], 1);
    // Repeated indices: their gradients accumulate (atomicAdd on the GPU).
    let picks = [(0, vec![4, 0, 4, 2]), (1, vec![6, 6, 0, 3, 6]), (2, vec![2, 2, 2])];
    for (dim, ids) in &picks {
        let idx = Tensor::from_vec_i64(ids.clone(), &[ids.len()])?;
        check(&format!("index_select dim {dim}"), dev, std::slice::from_ref(&x), ELEMENTWISE, |t| {
            t[0].index_select(*dim, &on(&idx, &t[0])?)
        })?;
    }
    // Through a transposed view, and on i64 data.
    let idx = Tensor::from_vec_i64(vec![1, 0, 1], &[3])?;
    check("index_select of a view", dev, std::slice::from_ref(&x), ELEMENTWISE, |t| {
        t[0].transpose(0, 2)?.index_select(1, &on(&idx, &t[0])?)
    })?;
    let labels = Tensor::from_vec_i64((0..12).collect(), &[3, 4])?;
    let want = labels.index_select(1, &idx)?.to_vec_i64()?;
    let got = labels.to_device(dev)?.index_select(1, &idx.to_device(dev)?)?;
    assert_eq!((got.device(), got.to_vec_i64()?), (dev, want));

    let mut rng = Rng::new(3);
    for (dim, shape) in [(0usize, [4usize, 7, 3]), (1, [5, 9, 2]), (2, [5, 6, 5])] {
        let size = x.shape()[dim] as i64;
        let idx = Tensor::randint(&shape, 0, size, &mut rng)?;
        check(&format!("gather dim {dim}"), dev, std::slice::from_ref(&x), ELEMENTWISE, |t| {
            t[0].gather(dim as isize, &on(&idx, &t[0])?)
        })?;
    }
    Ok(())
}

#[test]
fn out_of_range_indices_are_the_cpus_errors() -> Result<()> {
    let Some(dev) = gpu("out_of_range_indices_are_the_cpus_errors") else { return Ok(()) };
    let x = Tensor::zeros(&[2, 3]);
    let xg = x.to_device(dev)?;
    let bad = Tensor::from_vec_i64(vec![0, 2, 5], &[3])?;
    let (c, g) = (x.index_select(0, &bad).unwrap_err(), xg.index_select(0, &bad.to_device(dev)?).unwrap_err());
    assert_eq!(c.to_string(), g.to_string());
    let neg = Tensor::from_vec_i64(vec![0, -1], &[2, 1])?;
    let (c, g) = (x.gather(1, &neg).unwrap_err(), xg.gather(1, &neg.to_device(dev)?).unwrap_err());
    assert!(matches!(g, Error::IndexOutOfRange { op: "gather", index: -1, size: 3 }), "{g}");
    assert_eq!(c.to_string(), g.to_string());
    // The device is still usable after a rejected launch.
    let ok = Tensor::from_vec_i64(vec![1], &[1])?.to_device(dev)?;
    assert_eq!(xg.index_select(0, &ok)?.shape(), &[1, 3]);
    // An index on the host with data on the GPU is a device mismatch.
    assert!(matches!(xg.index_select(0, &bad), Err(Error::DeviceMismatch { .. })));
    Ok(())
}

#[test]
fn concat_narrow_and_split_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("concat_narrow_and_split_match_the_cpu") else { return Ok(()) };
    for dim in [0usize, 1, 2] {
        let mut shapes = [[3usize, 4, 5], [3, 4, 5], [3, 4, 5]];
        for (i, s) in shapes.iter_mut().enumerate() {
            s[dim] = i + 1;
        }
        let inputs: Vec<Tensor> = shapes.iter().enumerate().map(|(i, s)| randn(s, i as u64)).collect();
        check(&format!("concat dim {dim}"), dev, &inputs, ELEMENTWISE, |t| {
            Tensor::concat(&t.iter().collect::<Vec<_>>(), dim as isize)
        })?;
    }
    // Strided inputs and a last-dim concat given as -1.
    let (a, b) = (randn(&[4, 6], 7), randn(&[6, 4], 8));
    check("concat of views", dev, &[a, b], ELEMENTWISE, |t| Tensor::concat(&[&t[0].t()?, &t[1]], -1))?;
    let labels = Tensor::from_vec_i64(vec![1, 2, 3, 4], &[2, 2])?;
    let lg = labels.to_device(dev)?;
    let got = Tensor::concat(&[&lg, &lg.t()?], 1)?;
    assert_eq!((got.device(), got.to_vec_i64()?), (dev, Tensor::concat(&[&labels, &labels.t()?], 1)?.to_vec_i64()?));

    let x = randn(&[3, 8, 5], 9);
    check("narrow", dev, std::slice::from_ref(&x), ELEMENTWISE, |t| t[0].narrow(1, 2, 3))?;
    check("split", dev, std::slice::from_ref(&x), ELEMENTWISE, |t| Ok(t[0].split(3, -1)?[1].clone()))?;
    check("split_sizes recombined", dev, std::slice::from_ref(&x), ELEMENTWISE, |t| {
        let parts = t[0].split_sizes(&[5, 3], 1)?;
        Tensor::concat(&[&parts[1], &parts[0]], 1)
    })?;
    Ok(())
}

#[test]
fn views_of_f32_and_i64_tensors_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("views_of_f32_and_i64_tensors_match_the_cpu") else { return Ok(()) };
    let x = randn(&[2, 3, 4], 1);
    check("permute + reshape", dev, std::slice::from_ref(&x), ELEMENTWISE, |t| {
        t[0].permute(&[2, 0, 1])?.reshape(&[4, 6])
    })?;
    check("transpose + contiguous", dev, std::slice::from_ref(&x), ELEMENTWISE, |t| {
        t[0].transpose(0, 2)?.contiguous()
    })?;
    let l = Tensor::from_vec_i64((0..24).collect(), &[2, 3, 4])?;
    let lg = l.to_device(dev)?;
    for (c, g) in [
        (l.permute(&[2, 0, 1])?.reshape(&[24])?, lg.permute(&[2, 0, 1])?.reshape(&[24])?),
        (l.transpose(0, 1)?.contiguous()?, lg.transpose(0, 1)?.contiguous()?),
        (l.narrow(2, 1, 2)?.t()?, lg.narrow(2, 1, 2)?.t()?),
    ] {
        assert_eq!(g.device(), dev);
        assert_eq!(c.to_vec_i64()?, g.to_vec_i64()?);
    }
    Ok(())
}

#[test]
fn where_masked_fill_and_dropout_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("where_masked_fill_and_dropout_match_the_cpu") else { return Ok(()) };
    let (a, b) = (randn(&[5, 4], 1), randn(&[5, 4], 2));
    let mask = randn(&[5, 4], 3).gt(&Tensor::scalar(0.0))?;
    check("where_cond", dev, &[a.clone(), b], ELEMENTWISE, |t| Tensor::where_cond(&on(&mask, &t[0])?, &t[0], &t[1]))?;
    let imask = Tensor::from_vec_i64(vec![0, 1, 1, 0], &[4])?;
    let c = a.clone();
    check("where_cond i64 broadcast cond", dev, &[a.clone(), c], ELEMENTWISE, |t| {
        Tensor::where_cond(&on(&imask, &t[0])?, &t[0], &t[1].neg()?)
    })?;
    let row = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[1, 4])?;
    check("masked_fill", dev, std::slice::from_ref(&a), ELEMENTWISE, |t| t[0].masked_fill(&on(&row, &t[0])?, -1e9))?;
    check("masked_fill -inf", dev, std::slice::from_ref(&a), ELEMENTWISE, |t| {
        t[0].masked_fill(&on(&mask, &t[0])?, f32::NEG_INFINITY)?.exp()
    })?;
    // The same seed drops the same elements on both devices: exact parity.
    let x = randn(&[33, 17], 4);
    check("dropout", dev, std::slice::from_ref(&x), 0.0, |t| t[0].dropout(0.3, &mut Rng::new(5)))?;
    let y = x.to_device(dev)?.dropout(1.0, &mut Rng::new(0))?;
    assert_eq!((y.device(), y.to_vec()?), (dev, vec![0.0; 33 * 17]));
    Ok(())
}

#[test]
fn device_fills_land_on_the_device() -> Result<()> {
    let Some(dev) = gpu("device_fills_land_on_the_device") else { return Ok(()) };
    let z = Tensor::zeros_on(&[3, 5], dev)?;
    assert_eq!((z.device(), z.shape(), z.to_vec()?), (dev, &[3usize, 5][..], vec![0.0; 15]));
    let f = Tensor::full_on(&[], 2.5, dev)?;
    assert_eq!((f.device(), f.item()?), (dev, 2.5));
    assert_eq!(Tensor::ones_on(&[0, 2], dev)?.numel(), 0);
    let i = Tensor::full_i64_on(&[2], -3, dev)?;
    assert_eq!((i.device(), i.to_vec_i64()?), (dev, vec![-3, -3]));
    // A scalar output seeds its own backward on its device.
    let w = randn(&[4, 3], 1).to_device(dev)?.requires_grad_()?;
    let v = randn(&[3], 2).to_device(dev)?;
    let s = v.matmul(&w.t()?)?.matmul(&randn(&[4], 3).to_device(dev)?)?;
    s.backward()?;
    assert_eq!(w.grad().map(|g| g.device()), Some(dev));
    Ok(())
}

#[test]
fn broadcast_gradients_that_sum_over_dims_match_the_cpu() -> Result<()> {
    // These backwards reduce a gradient over broadcast dims (`sum` on the GPU).
    let Some(dev) = gpu("broadcast_gradients_that_sum_over_dims_match_the_cpu") else { return Ok(()) };
    let (a, b) = (randn(&[2, 1, 7, 5], 1), randn(&[3, 5, 4], 2));
    check("matmul broadcast batch", dev, &[a, b], REDUCTION, |t| t[0].matmul(&t[1]))?;
    let (c, x, y) = (randn(&[5, 1], 5).gt(&Tensor::scalar(0.0))?, randn(&[5, 4], 6), randn(&[4], 7));
    check("where_cond broadcast", dev, &[x, y], ELEMENTWISE, |t| Tensor::where_cond(&on(&c, &t[0])?, &t[0], &t[1]))?;
    Ok(())
}
