//! CUDA against the CPU: unary, binary (broadcasting), comparisons, casts, copies.
//! Skipped, with the reason printed, where no GPU is present.

mod common;

use arc_core::tensor::DType;
use arc_core::{Device, Result, Tensor};
use common::{ELEMENTWISE, assert_close, check_op, gpu, randn};

#[test]
fn without_a_gpu_moving_a_tensor_is_an_error_not_a_panic() {
    if arc_core::tensor::cuda_device_count().is_ok() {
        return;
    }
    let err = Tensor::zeros(&[2]).to_device(Device::Cuda(0)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("CUDA") || msg.contains("cuda"), "the error says CUDA is missing: {msg}");
    assert_eq!(Device::auto(), Device::Cpu);
    assert!(Device::cuda(0).is_err());
}

#[test]
fn unary_ops_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("unary_ops_match_the_cpu") else { return Ok(()) };
    let x = randn(&[33, 65], 1);
    let pos = x.abs()?.add_scalar(0.1)?;
    type F = fn(&Tensor) -> Result<Tensor>;
    let ops: &[(&str, F)] = &[
        ("neg", |t| t.neg()),
        ("square", |t| t.square()),
        ("exp", |t| t.exp()),
        ("abs", |t| t.abs()),
        ("clamp", |t| t.clamp(-0.5, 0.7)),
        ("affine", |t| t.affine(1.5, -0.25)),
        ("relu", |t| t.relu()),
        ("sigmoid", |t| t.sigmoid()),
        ("tanh", |t| t.tanh()),
        ("gelu", |t| t.gelu()),
        ("gelu_tanh", |t| t.gelu_tanh()),
        ("silu", |t| t.silu()),
    ];
    for (name, f) in ops {
        check_op(name, dev, std::slice::from_ref(&x), ELEMENTWISE, |t| f(&t[0]))?;
    }
    let positive: &[(&str, F)] =
        &[("sqrt", |t| t.sqrt()), ("log", |t| t.log()), ("recip", |t| t.recip()), ("powf", |t| t.powf(1.7))];
    for (name, f) in positive {
        check_op(name, dev, std::slice::from_ref(&pos), ELEMENTWISE, |t| f(&t[0]))?;
    }
    Ok(())
}

#[test]
fn binary_ops_broadcast_like_the_cpu() -> Result<()> {
    let Some(dev) = gpu("binary_ops_broadcast_like_the_cpu") else { return Ok(()) };
    let shapes: &[(&[usize], &[usize])] =
        &[(&[17, 9], &[17, 9]), (&[4, 17, 9], &[9]), (&[5, 1, 3], &[1, 4, 1]), (&[6], &[])];
    type F = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let ops: &[(&str, F)] = &[
        ("add", |a, b| a.add(b)),
        ("sub", |a, b| a.sub(b)),
        ("mul", |a, b| a.mul(b)),
        ("div", |a, b| a.div(&b.abs()?.add_scalar(0.5)?)),
        ("maximum", |a, b| a.maximum(b)),
        ("minimum", |a, b| a.minimum(b)),
    ];
    for (i, (sa, sb)) in shapes.iter().enumerate() {
        let (a, b) = (randn(sa, 10 + i as u64), randn(sb, 20 + i as u64));
        for (name, f) in ops {
            check_op(&format!("{name} {sa:?} {sb:?}"), dev, &[a.clone(), b.clone()], ELEMENTWISE, |t| f(&t[0], &t[1]))?;
        }
    }
    // A transposed (strided) operand.
    let (a, b) = (randn(&[8, 12], 3), randn(&[12, 8], 4));
    check_op("add transposed", dev, &[a, b], ELEMENTWISE, |t| t[0].add(&t[1].t()?))?;
    Ok(())
}

#[test]
fn comparisons_casts_and_copies_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("comparisons_casts_and_copies_match_the_cpu") else { return Ok(()) };
    let (a, b) = (randn(&[7, 5], 5), randn(&[5], 6));
    let (ag, bg) = (a.to_device(dev)?, b.to_device(dev)?);
    for (c, g) in [(a.lt(&b)?, ag.lt(&bg)?), (a.ge(&b)?, ag.ge(&bg)?), (a.eq(&a)?, ag.eq(&ag)?)] {
        assert_close("comparison", &c, &g, 0.0)?;
    }
    let i = Tensor::from_vec_i64(vec![3, -1, 7, 0], &[4])?;
    let ig = i.to_device(dev)?;
    assert_eq!(ig.to_dtype(DType::F32)?.to_vec()?, vec![3.0, -1.0, 7.0, 0.0]);
    assert_eq!(ag.to_dtype(DType::I64)?.to_vec_i64()?, a.to_dtype(DType::I64)?.to_vec_i64()?);
    assert_eq!(ig.ne(&ig)?.to_vec()?, vec![0.0; 4]);
    // Round trips, views and contiguous copies.
    assert_eq!(ag.to_device(Device::Cpu)?.to_vec()?, a.to_vec()?);
    assert_eq!(ag.t()?.contiguous()?.to_vec()?, a.t()?.contiguous()?.to_vec()?);
    assert_eq!(ag.t()?.to_vec()?, a.t()?.to_vec()?);
    assert_eq!(ag.narrow(0, 2, 3)?.to_vec()?, a.narrow(0, 2, 3)?.to_vec()?);
    assert_eq!(Tensor::scalar(2.5).to_device(dev)?.item()?, 2.5);
    Ok(())
}
