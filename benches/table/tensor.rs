//! Tensor-engine rows of the benchmark table, with the case names and units of
//! `anchors/torch_layers.py`: `us/call` and `examples/s` (64 rows / time) for the layers,
//! `GFLOPS` (2 n^3 / t) for the matrix products, `ns/call` for the tiny adds.
//!
//! Each case is timed by [`ns_per_call`] (the anchors' `timeit` method). Matrix products use
//! rayon's thread pool (set `RAYON_NUM_THREADS=2` to match the anchors' 2 torch threads).

use std::hint::black_box;

use arc_core::tensor::{Rng, no_grad};
use arc_core::{Result, Tensor};

use super::timing::ns_per_call;

const B: usize = 64;
const D: usize = 1024;
const H: usize = 4096;

fn per_call(
    out: &mut dyn FnMut(&str, f64, &str),
    case: &str,
    f: impl FnMut(),
    examples: Option<f64>,
    flops: Option<f64>,
) {
    let us = ns_per_call(f) / 1e3;
    out(case, us, "us/call");
    if let Some(e) = examples {
        out(case, e / us * 1e6, "examples/s");
    }
    if let Some(fl) = flops {
        out(case, fl / us / 1e3, "GFLOPS");
    }
}

/// Inputs shared by the cases (seeded, as in the anchors).
struct Inputs {
    x: Tensor,
    xh: Tensor,
    w: Tensor,
    b: Tensor,
    gamma: Tensor,
    beta: Tensor,
    gy: Tensor,
}

fn inputs() -> Inputs {
    let mut rng = Rng::new(0);
    let bound = 1.0 / (D as f32).sqrt(); // nn.Linear's U(-1/sqrt(in), 1/sqrt(in))
    Inputs {
        x: Tensor::randn(&[B, D], &mut rng),
        xh: Tensor::randn(&[B, H], &mut rng),
        w: Tensor::uniform(&[D, D], -bound, bound, &mut rng),
        b: Tensor::uniform(&[D], -bound, bound, &mut rng),
        gamma: Tensor::ones(&[H]),
        beta: Tensor::zeros(&[H]),
        gy: Tensor::randn(&[B, D], &mut rng),
    }
}

/// Runs every case and reports `(case, value, unit)`.
pub fn run(out: &mut dyn FnMut(&str, f64, &str)) {
    if let Err(e) = run_cases(out) {
        // A benchmark setup error is a bug in this file; report it as a row rather than abort
        // the rest of the table.
        eprintln!("tensor benches failed: {e}");
    }
}

fn run_cases(out: &mut dyn FnMut(&str, f64, &str)) -> Result<()> {
    let t = inputs();
    out("arc_num_threads", arc_core::tensor::num_threads() as f64, "threads");
    let (b, d) = (B as f64, D as f64);
    {
        let _guard = no_grad();
        let (x, w, bias) = (&t.x, &t.w, &t.b);
        per_call(out, "linear1024_fwd", || drop(black_box(x.linear(w, Some(bias)))), Some(b), Some(2.0 * b * d * d));
        let xh = &t.xh;
        per_call(out, "gelu_tanh_fwd_64x4096", || drop(black_box(xh.gelu_tanh())), Some(b), None);
        let (g, be) = (&t.gamma, &t.beta);
        per_call(
            out,
            "layernorm_fwd_64x4096",
            || drop(black_box(xh.layer_norm(Some(g), Some(be), 1e-5))),
            Some(b),
            None,
        );
        per_call(out, "rmsnorm_fwd_64x4096", || drop(black_box(xh.rms_norm(Some(g), 1e-6))), Some(b), None);
        per_call(out, "softmax_fwd_64x4096", || drop(black_box(xh.softmax(-1))), Some(b), None);
    }
    // Forward + backward: dX, dW, db through autograd, grads reset each call.
    let xg = t.x.detach().requires_grad_()?;
    let wg = t.w.detach().requires_grad_()?;
    let bg = t.b.detach().requires_grad_()?;
    let gy = &t.gy;
    per_call(
        out,
        "linear1024_fwd_bwd",
        || {
            for p in [&xg, &wg, &bg] {
                p.zero_grad();
            }
            let r = xg.linear(&wg, Some(&bg)).and_then(|y| y.backward_with(gy));
            drop(black_box(r));
        },
        Some(b),
        Some(3.0 * 2.0 * b * d * d),
    );
    {
        let _guard = no_grad();
        for n in [1024usize, 2048] {
            let mut rng = Rng::new(n as u64);
            let (a, c) = (Tensor::randn(&[n, n], &mut rng), Tensor::randn(&[n, n], &mut rng));
            let nf = n as f64;
            per_call(out, &format!("sgemm{n}"), || drop(black_box(a.matmul(&c))), None, Some(2.0 * nf * nf * nf));
        }
    }
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    let c = Tensor::from_vec(vec![5.0, 6.0, 7.0, 8.0], &[2, 2])?;
    out("add_2x2_nograd", ns_per_call(|| drop(black_box(black_box(&a).add(&c)))), "ns/call");
    let ag = a.detach().requires_grad_()?;
    out("add_2x2_grad", ns_per_call(|| drop(black_box(black_box(&ag).add(&c)))), "ns/call");
    Ok(())
}
