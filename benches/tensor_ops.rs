//! Criterion benchmarks of the tensor engine, named after the anchor cases
//! (`anchors/torch_layers.py`). `cargo bench --bench tensor_ops -- --table` instead prints the
//! same cases as `case<TAB>value<TAB>unit` rows (the table module the `table` bench uses).

use std::hint::black_box;

use arc_core::Tensor;
use arc_core::tensor::{Rng, no_grad};
use criterion::Criterion;

#[path = "table/tensor.rs"]
mod table_tensor;
#[path = "table/timing.rs"]
mod timing;

fn bench_layers(c: &mut Criterion) {
    let mut rng = Rng::new(0);
    let x = Tensor::randn(&[64, 1024], &mut rng);
    let w = Tensor::uniform(&[1024, 1024], -0.03, 0.03, &mut rng);
    let b = Tensor::uniform(&[1024], -0.03, 0.03, &mut rng);
    let xh = Tensor::randn(&[64, 4096], &mut rng);
    let (gamma, beta) = (Tensor::ones(&[4096]), Tensor::zeros(&[4096]));
    let gy = Tensor::randn(&[64, 1024], &mut rng);
    {
        let _guard = no_grad();
        c.bench_function("linear1024_fwd", |bn| bn.iter(|| black_box(x.linear(&w, Some(&b)))));
        c.bench_function("gelu_tanh_fwd_64x4096", |bn| bn.iter(|| black_box(xh.gelu_tanh())));
        c.bench_function("layernorm_fwd_64x4096", |bn| {
            bn.iter(|| black_box(xh.layer_norm(Some(&gamma), Some(&beta), 1e-5)))
        });
        c.bench_function("rmsnorm_fwd_64x4096", |bn| bn.iter(|| black_box(xh.rms_norm(Some(&gamma), 1e-6))));
        c.bench_function("softmax_fwd_64x4096", |bn| bn.iter(|| black_box(xh.softmax(-1))));
    }
    let params = [x.detach(), w.detach(), b.detach()];
    for p in &params {
        p.set_requires_grad(true).expect("f32 leaves accept requires_grad");
    }
    let [xg, wg, bg] = &params;
    c.bench_function("linear1024_fwd_bwd", |bn| {
        bn.iter(|| {
            for p in &params {
                p.zero_grad();
            }
            black_box(xg.linear(wg, Some(bg)).and_then(|y| y.backward_with(&gy)))
        })
    });
}

fn bench_sgemm(c: &mut Criterion) {
    let _guard = no_grad();
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(10);
    for n in [1024usize, 2048] {
        let mut rng = Rng::new(n as u64);
        let (a, b) = (Tensor::randn(&[n, n], &mut rng), Tensor::randn(&[n, n], &mut rng));
        group.bench_function(format!("sgemm{n}"), |bn| bn.iter(|| black_box(a.matmul(&b))));
    }
    group.finish();
}

fn bench_tiny(c: &mut Criterion) {
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).expect("4 elements for [2, 2]");
    let b = Tensor::from_vec(vec![5.0, 6.0, 7.0, 8.0], &[2, 2]).expect("4 elements for [2, 2]");
    c.bench_function("add_2x2_nograd", |bn| bn.iter(|| black_box(black_box(&a).add(&b))));
    let ag = a.detach();
    ag.set_requires_grad(true).expect("f32 leaves accept requires_grad");
    c.bench_function("add_2x2_grad", |bn| bn.iter(|| black_box(black_box(&ag).add(&b))));
}

fn main() {
    if std::env::args().any(|a| a == "--table") {
        table_tensor::run(&mut |case, value, unit| {
            let text = if value.abs() >= 100.0 { format!("{value:.1}") } else { format!("{value:.3}") };
            println!("{case}\t{text}\t{unit}");
        });
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_tiny(&mut c);
    bench_layers(&mut c);
    bench_sgemm(&mut c);
    c.final_summary();
}
