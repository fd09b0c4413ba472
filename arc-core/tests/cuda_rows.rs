//! CUDA against the CPU for the row kernels: softmax / log_softmax along any dim, LayerNorm
//! and RMSNorm (with and without weight / bias), and cross-entropy with every option, forward
//! and gradients. Skipped, with the reason printed, where no GPU is present.

mod common;

use arc_core::tensor::{CrossEntropyOptions, Reduction};
use arc_core::{Device, Error, Result, Tensor};
use common::{REDUCTION, assert_close, check_op, gpu, randn};

#[test]
fn softmax_and_log_softmax_match_the_cpu_along_every_dim() -> Result<()> {
    let Some(dev) = gpu("softmax_and_log_softmax_match_the_cpu_along_every_dim") else { return Ok(()) };
    let shapes: &[&[usize]] = &[&[7], &[1, 1], &[7, 33], &[4, 1000], &[3, 1025], &[2, 3, 300], &[5, 1, 257]];
    for (i, shape) in shapes.iter().enumerate() {
        let x = randn(shape, 500 + i as u64).mul_scalar(3.0)?;
        for dim in -(shape.len() as isize)..shape.len() as isize {
            let what = |op: &str| format!("{op} {shape:?} dim {dim}");
            check_op(&what("softmax"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].softmax(dim))?;
            check_op(&what("log_softmax"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].log_softmax(dim))?;
        }
    }
    // A transposed input, large logits (stability), and a -inf logit.
    let x = randn(&[40, 9], 510);
    check_op("softmax of a transpose", dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].t()?.softmax(-1))?;
    check_op("log_softmax of a transpose", dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].t()?.log_softmax(0))?;
    let big = Tensor::from_vec(vec![1000.0, 1000.0, 999.0, -1000.0, f32::NEG_INFINITY, 0.0], &[2, 3])?;
    let bg = big.to_device(dev)?;
    for dim in [0, 1] {
        assert_close("softmax, large logits", &big.softmax(dim)?, &bg.softmax(dim)?, REDUCTION)?;
        assert_close("log_softmax, large logits", &big.log_softmax(dim)?, &bg.log_softmax(dim)?, REDUCTION)?;
    }
    assert!(matches!(bg.softmax(2), Err(Error::BadAxis { op: "softmax", .. })));
    assert_eq!(bg.softmax(-1)?.device(), dev);
    Ok(())
}

#[test]
fn layer_norm_and_rms_norm_match_the_cpu_with_every_parameter_set() -> Result<()> {
    let Some(dev) = gpu("layer_norm_and_rms_norm_match_the_cpu_with_every_parameter_set") else { return Ok(()) };
    let shapes: &[&[usize]] = &[&[1, 7], &[33, 1000], &[5, 1300], &[3, 4, 257], &[5000, 3], &[9]];
    for (i, shape) in shapes.iter().enumerate() {
        let d = *shape.last().unwrap_or(&1);
        let seed = 600 + 10 * i as u64;
        let x = randn(shape, seed).affine(2.0, 0.5)?;
        let (w, b) = (randn(&[d], seed + 1), randn(&[d], seed + 2));
        let what = |op: &str| format!("{op} {shape:?}");
        check_op(&what("layer_norm w b"), dev, &[x.clone(), w.clone(), b.clone()], REDUCTION, |t| {
            t[0].layer_norm(Some(&t[1]), Some(&t[2]), 1e-5)
        })?;
        check_op(&what("layer_norm w"), dev, &[x.clone(), w.clone()], REDUCTION, |t| {
            t[0].layer_norm(Some(&t[1]), None, 1e-5)
        })?;
        check_op(&what("layer_norm b"), dev, &[x.clone(), b.clone()], REDUCTION, |t| {
            t[0].layer_norm(None, Some(&t[1]), 1e-5)
        })?;
        check_op(&what("layer_norm"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].layer_norm(None, None, 1e-5))?;
        check_op(&what("rms_norm w"), dev, &[x.clone(), w.clone()], REDUCTION, |t| t[0].rms_norm(Some(&t[1]), 1e-6))?;
        check_op(&what("rms_norm"), dev, std::slice::from_ref(&x), REDUCTION, |t| t[0].rms_norm(None, 1e-6))?;
    }
    // A transposed input, and a weight that does not need a gradient.
    let x = randn(&[24, 16], 690);
    let w = randn(&[24], 691);
    check_op("layer_norm of a transpose", dev, &[x.clone(), w.clone()], REDUCTION, |t| {
        t[0].t()?.layer_norm(Some(&t[1]), None, 1e-5)
    })?;
    let (wc, wg) = (w.clone(), w.to_device(dev)?);
    check_op("rms_norm, constant weight", dev, std::slice::from_ref(&x), REDUCTION, |t| {
        let w = if t[0].device().is_cpu() { &wc } else { &wg };
        t[0].t()?.rms_norm(Some(w), 1e-6)
    })?;
    // Errors: shapes, eps, and a weight on another device.
    let xg = x.to_device(dev)?;
    assert!(matches!(xg.layer_norm(Some(&Tensor::ones(&[3])), None, 1e-5), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(xg.rms_norm(None, -1.0), Err(Error::InvalidArgument { op: "rms_norm", .. })));
    assert!(matches!(xg.layer_norm(Some(&Tensor::ones(&[16])), None, 1e-5), Err(Error::DeviceMismatch { .. })));
    Ok(())
}

/// One tensor on the host and on the GPU; [`Pair::on`] picks the copy on `like`'s device.
struct Pair(Tensor, Tensor);

impl Pair {
    fn new(t: Tensor, dev: Device) -> Result<Pair> {
        let g = t.to_device(dev)?;
        Ok(Pair(t, g))
    }
    fn on(&self, like: &Tensor) -> &Tensor {
        if like.device().is_cpu() { &self.0 } else { &self.1 }
    }
}

#[test]
fn cross_entropy_matches_the_cpu_with_every_option() -> Result<()> {
    let Some(dev) = gpu("cross_entropy_matches_the_cpu_with_every_option") else { return Ok(()) };
    for (i, &(n, c)) in [(5usize, 4usize), (1, 1), (33, 1000), (7, 1300), (300, 7)].iter().enumerate() {
        let seed = 700 + 10 * i as u64;
        let x = randn(&[n, c], seed).mul_scalar(2.0)?;
        // Every fourth row ignored (-100), the others spread over the classes.
        let labels: Vec<i64> = (0..n).map(|r| if r % 4 == 3 { -100 } else { ((r * 7 + 3) % c) as i64 }).collect();
        let t = Pair::new(Tensor::from_vec_i64(labels, &[n])?, dev)?;
        let w = Pair::new(randn(&[c], seed + 1).abs()?.add_scalar(0.1)?, dev)?;
        for weighted in [false, true] {
            for eps in [0.0f32, 0.1, 1.0] {
                for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                    let what = format!("cross_entropy [{n}, {c}] weighted {weighted} eps {eps} {reduction:?}");
                    check_op(&what, dev, std::slice::from_ref(&x), REDUCTION, |v| {
                        let options = CrossEntropyOptions {
                            weight: weighted.then(|| w.on(&v[0]).clone()),
                            label_smoothing: eps,
                            reduction,
                            ..Default::default()
                        };
                        v[0].cross_entropy(t.on(&v[0]), &options)
                    })?;
                }
            }
        }
    }
    // An ignore_index that is a valid class, and a batch whose every row is ignored.
    let x = randn(&[6, 3], 790);
    let t = Pair::new(Tensor::from_vec_i64(vec![0, 1, 2, 1, 1, 0], &[6])?, dev)?;
    for ignore_index in [1i64, 0] {
        check_op("cross_entropy, ignore_index a class", dev, std::slice::from_ref(&x), REDUCTION, |v| {
            let options = CrossEntropyOptions { ignore_index, label_smoothing: 0.2, ..Default::default() };
            v[0].cross_entropy(t.on(&v[0]), &options)
        })?;
    }
    let all = Pair::new(Tensor::from_vec_i64(vec![-100; 6], &[6])?, dev)?;
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let options = CrossEntropyOptions { reduction, ..Default::default() };
        let xg = x.to_device(dev)?;
        assert_close("all ignored", &x.cross_entropy(&all.0, &options)?, &xg.cross_entropy(&all.1, &options)?, 0.0)?;
    }
    Ok(())
}

#[test]
fn cross_entropy_rejects_what_the_cpu_rejects() -> Result<()> {
    let Some(dev) = gpu("cross_entropy_rejects_what_the_cpu_rejects") else { return Ok(()) };
    let x = randn(&[4, 3], 800);
    let xg = x.to_device(dev)?;
    for bad in [vec![0i64, 3, 1, 2], vec![-1, 0, 5, 1], vec![1, 1, -100, 7]] {
        let t = Tensor::from_vec_i64(bad, &[4])?;
        let c = x.cross_entropy(&t, &Default::default()).unwrap_err();
        let g = xg.cross_entropy(&t.to_device(dev)?, &Default::default()).unwrap_err();
        assert!(matches!(g, Error::IndexOutOfRange { op: "cross_entropy", .. }));
        assert_eq!(c.to_string(), g.to_string());
    }
    let ok = Tensor::from_vec_i64(vec![0, 1, 2, 0], &[4])?;
    // Targets or weights left on the host are a device mismatch; f32 targets a dtype error.
    assert!(matches!(xg.cross_entropy(&ok, &Default::default()), Err(Error::DeviceMismatch { .. })));
    let options = CrossEntropyOptions { weight: Some(Tensor::ones(&[3])), ..Default::default() };
    assert!(matches!(xg.cross_entropy(&ok.to_device(dev)?, &options), Err(Error::DeviceMismatch { .. })));
    let f = Tensor::zeros(&[4]).to_device(dev)?;
    assert!(matches!(xg.cross_entropy(&f, &Default::default()), Err(Error::DTypeMismatch { .. })));
    let loss = xg.cross_entropy(&ok.to_device(dev)?, &Default::default())?;
    assert_eq!(loss.device(), dev);
    assert_eq!(loss.shape(), &[] as &[usize]);
    Ok(())
}
