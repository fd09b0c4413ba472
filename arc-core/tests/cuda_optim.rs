//! The fused optimizer kernels on a GPU against the CPU slice code: SGD (plain, momentum,
//! dampening, Nesterov, weight decay) and Adam / AdamW over several steps, plus the
//! host-side checks that run everywhere. Skipped, with the reason printed, without a GPU.

mod common;

use arc_core::tensor::fused::{AdamConfig, SgdConfig, adam_update_tensor, sgd_update_tensor};
use arc_core::{Device, Result, Tensor};
use common::{assert_close, gpu, randn};

/// Parameter updates compound over steps: 1e-5 relative per element.
const TOL: f32 = 1e-5;

#[test]
fn the_tensor_updates_match_the_slice_updates_on_the_cpu() -> Result<()> {
    let c = SgdConfig { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false };
    let (p, g) = (Tensor::from_vec(vec![1.0], &[1])?, Tensor::from_vec(vec![0.5], &[1])?);
    let (p, buf) = sgd_update_tensor(&p, &g, None, &c, true)?;
    let (p, _) = sgd_update_tensor(&p, &g, buf.as_ref(), &c, false)?;
    assert!((p.item()? - 0.855).abs() < 1e-6);
    // A later momentum step needs the previous buffer.
    assert!(sgd_update_tensor(&p, &g, None, &c, false).is_err());
    let zero = Tensor::zeros(&[1]);
    assert!(adam_update_tensor(&p, &g, &zero, &zero, 0, &AdamConfig::default()).is_err());
    Ok(())
}

#[test]
fn sgd_on_the_gpu_matches_the_cpu() -> Result<()> {
    let Some(dev) = gpu("sgd_on_the_gpu_matches_the_cpu") else { return Ok(()) };
    let configs = [
        SgdConfig { lr: 0.05, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false },
        SgdConfig { lr: 0.05, momentum: 0.0, dampening: 0.0, weight_decay: 0.01, nesterov: false },
        SgdConfig { lr: 0.05, momentum: 0.9, dampening: 0.1, weight_decay: 0.01, nesterov: false },
        SgdConfig { lr: 0.05, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: true },
    ];
    for (k, c) in configs.iter().enumerate() {
        // 70_003 elements: several blocks and a ragged tail.
        let (mut pc, mut pg) = (randn(&[70_003], 10), randn(&[70_003], 10).to_device(dev)?);
        let (mut bc, mut bg): (Option<Tensor>, Option<Tensor>) = (None, None);
        for step in 0..4 {
            let g = randn(&[70_003], 20 + step);
            let (np, nb) = sgd_update_tensor(&pc, &g, bc.as_ref(), c, step == 0)?;
            let (gp, gb) = sgd_update_tensor(&pg, &g.to_device(dev)?, bg.as_ref(), c, step == 0)?;
            assert_eq!(gp.device(), dev, "config {k}: the parameter left the GPU");
            (pc, bc, pg, bg) = (np, nb, gp, gb);
            assert_close(&format!("sgd config {k} step {step}"), &pc, &pg, TOL)?;
            if let (Some(b1), Some(b2)) = (&bc, &bg) {
                assert_eq!(b2.device(), dev);
                assert_close(&format!("sgd config {k} buffer step {step}"), b1, b2, TOL)?;
            }
        }
    }
    Ok(())
}

#[test]
fn adam_and_adamw_on_the_gpu_match_the_cpu() -> Result<()> {
    let Some(dev) = gpu("adam_and_adamw_on_the_gpu_match_the_cpu") else { return Ok(()) };
    for decoupled in [false, true] {
        let c = AdamConfig { lr: 0.01, weight_decay: 0.05, decoupled_weight_decay: decoupled, ..Default::default() };
        let shape = [257, 129];
        let p0 = randn(&shape, 1);
        let (mut cpu, mut cuda) = (
            (p0.clone(), Tensor::zeros(&shape), Tensor::zeros(&shape)),
            (p0.to_device(dev)?, Tensor::zeros(&shape).to_device(dev)?, Tensor::zeros(&shape).to_device(dev)?),
        );
        for step in 1..=5u64 {
            let g = randn(&shape, 100 + step);
            cpu = adam_update_tensor(&cpu.0, &g, &cpu.1, &cpu.2, step, &c)?;
            cuda = adam_update_tensor(&cuda.0, &g.to_device(dev)?, &cuda.1, &cuda.2, step, &c)?;
            let what = if decoupled { "adamw" } else { "adam" };
            assert_eq!(cuda.0.device(), dev);
            assert_close(&format!("{what} param step {step}"), &cpu.0, &cuda.0, TOL)?;
            assert_close(&format!("{what} m step {step}"), &cpu.1, &cuda.1, TOL)?;
            assert_close(&format!("{what} v step {step}"), &cpu.2, &cuda.2, TOL)?;
        }
    }
    // Mixed devices are an error, not a crash.
    let p = Tensor::zeros(&[4]).to_device(dev)?;
    let err = adam_update_tensor(&p, &Tensor::zeros(&[4]), &p, &p, 1, &AdamConfig::default()).unwrap_err();
    assert!(err.to_string().contains("cpu") || err.to_string().contains("device"), "{err}");
    assert_eq!(p.device(), Device::Cuda(0));
    Ok(())
}
