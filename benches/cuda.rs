//! Criterion benchmarks of the CUDA backend against what the hardware does without Arc:
//! - `sgemm2048`: Arc's `matmul` on the GPU against cuBLAS called directly (FLOP/s);
//! - `add_16m`, `gelu_16m`: elementwise kernels against a device-to-device copy's bandwidth;
//! - `mlp_step_b1024`: one training step of an MLP 784-256-256-10 (ReLU, cross-entropy,
//!   `core.Adam`) at batch 1024 on the GPU and on the CPU.
//!
//! Without a GPU (or without the `cuda` feature) it prints why and measures nothing:
//! `cargo bench --bench cuda --features cuda`. Besides criterion's timings it prints
//! `case<TAB>value<TAB>unit` rows with the rates and the reference rates.

use std::hint::black_box;
use std::time::Instant;

use arc::nn::{Param, init};
use arc::spec::Config;
use arc::tensor::{CrossEntropyOptions, Rng, cuda_device_count};
use arc::{Device, Result, Tensor};
use criterion::Criterion;

/// Waits for the GPU's queued work (Arc's GPU ops are asynchronous).
fn sync(device: Device) -> Result<()> {
    #[cfg(feature = "cuda")]
    {
        arc::tensor::cuda_bench::synchronize(device)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = device;
        Ok(())
    }
}

/// Seconds per call of `f` (synchronised), over enough calls to fill ~0.5 s.
fn seconds_per_call(device: Device, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    sync(device)?;
    let mut iters = 1usize;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        sync(device)?;
        let secs = start.elapsed().as_secs_f64();
        if secs > 0.5 || iters >= 1 << 20 {
            return Ok(secs / iters as f64);
        }
        iters *= 2;
    }
}

fn row(case: &str, value: f64, unit: &str) {
    println!("{case}\t{value:.4e}\t{unit}");
}

/// The MLP's parameters (PyTorch's default init) on `device`.
fn mlp(device: Device) -> Result<Vec<(String, Param)>> {
    init::manual_seed(0);
    let mut params = Vec::new();
    for (name, fan_in, fan_out) in [("0", 784, 256), ("2", 256, 256), ("4", 256, 10)] {
        let w = init::kaiming_uniform(&[fan_out, fan_in], fan_in).to_device(device)?;
        let b = init::kaiming_uniform(&[fan_out], fan_in).to_device(device)?;
        params.push((format!("{name}.weight"), Param::new(w)?));
        params.push((format!("{name}.bias"), Param::new(b)?));
    }
    Ok(params)
}

/// One zero-grad, forward, cross-entropy, backward, Adam step.
fn mlp_step(
    params: &[(String, Param)],
    adam: &mut dyn arc::nn::Optimizer,
    x: &Tensor,
    y: &Tensor,
    options: &CrossEntropyOptions,
) -> Result<()> {
    let named: Vec<(&str, &Param)> = params.iter().map(|(n, p)| (n.as_str(), p)).collect();
    for (_, p) in &named {
        p.zero_grad();
    }
    let v: Vec<Tensor> = named.iter().map(|(_, p)| p.value()).collect();
    let h = x.linear(&v[0], Some(&v[1]))?.relu()?;
    let h = h.linear(&v[2], Some(&v[3]))?.relu()?;
    h.linear(&v[4], Some(&v[5]))?.cross_entropy(y, options)?.backward()?;
    adam.step(&named)
}

fn bench(c: &mut Criterion, dev: Device) -> Result<()> {
    let mut rng = Rng::new(0);
    // sgemm: Arc against cuBLAS.
    {
        let _guard = arc::tensor::no_grad();
        let n = 2048;
        let a = Tensor::randn(&[n, n], &mut rng).to_device(dev)?;
        let b = Tensor::randn(&[n, n], &mut rng).to_device(dev)?;
        let flop = 2.0 * (n as f64).powi(3);
        let arc_s = seconds_per_call(dev, || a.matmul(&b).map(|_| ()))?;
        row("sgemm2048_arc", flop / arc_s, "FLOP/s");
        #[cfg(feature = "cuda")]
        {
            let cublas = arc::tensor::cuda_bench::cublas_sgemm_flops(dev, n, 50)?;
            row("sgemm2048_cublas", cublas, "FLOP/s");
            row("sgemm2048_arc_vs_cublas", flop / arc_s / cublas, "ratio");
        }
        c.bench_function("sgemm2048_cuda", |bn| {
            bn.iter(|| {
                let out = a.matmul(&b);
                let _ = sync(dev);
                black_box(out)
            })
        });

        // Elementwise: bytes moved against a device-to-device copy.
        let n = 1 << 24;
        let x = Tensor::randn(&[n], &mut rng).to_device(dev)?;
        let y = Tensor::randn(&[n], &mut rng).to_device(dev)?;
        let add_s = seconds_per_call(dev, || x.add(&y).map(|_| ()))?;
        let gelu_s = seconds_per_call(dev, || x.gelu().map(|_| ()))?;
        row("add_16m_arc", 3.0 * 4.0 * n as f64 / add_s, "B/s");
        row("gelu_16m_arc", 2.0 * 4.0 * n as f64 / gelu_s, "B/s");
        #[cfg(feature = "cuda")]
        row("dtod_copy_16m", arc::tensor::cuda_bench::dtod_copy_bandwidth(dev, n, 50)?, "B/s");
        c.bench_function("add_16m_cuda", |bn| {
            bn.iter(|| {
                let out = x.add(&y);
                let _ = sync(dev);
                black_box(out)
            })
        });
        c.bench_function("gelu_16m_cuda", |bn| {
            bn.iter(|| {
                let out = x.gelu();
                let _ = sync(dev);
                black_box(out)
            })
        });
    }

    // The MLP step at batch 1024, GPU against CPU.
    const BATCH: usize = 1024;
    let options = CrossEntropyOptions::default();
    let pm = arc::get_plugin_manager();
    let x = Tensor::randn(&[BATCH, 784], &mut rng);
    let y = Tensor::randint(&[BATCH], 0, 10, &mut rng)?;
    for device in [dev, Device::Cpu] {
        let params = mlp(device)?;
        let mut adam = pm.get_optimizer("Adam")?.create(&Config::from_yaml("lr: 1e-3")?)?;
        let (xd, yd) = (x.to_device(device)?, y.to_device(device)?);
        let s = seconds_per_call(device, || mlp_step(&params, adam.as_mut(), &xd, &yd, &options))?;
        let label = if device.is_cpu() { "cpu" } else { "cuda" };
        row(&format!("mlp_step_b1024_{label}"), BATCH as f64 / s, "examples/s");
        c.bench_function(&format!("mlp_step_b1024_{label}"), |bn| {
            bn.iter(|| {
                let out = mlp_step(&params, adam.as_mut(), &xd, &yd, &options);
                let _ = sync(device);
                black_box(out)
            })
        });
    }
    Ok(())
}

fn main() {
    let dev = match cuda_device_count() {
        Ok(_) => Device::Cuda(0),
        Err(why) => {
            println!("skipping the cuda benchmarks: no CUDA device ({why})");
            return;
        }
    };
    let mut c = Criterion::default().configure_from_args();
    if let Err(e) = bench(&mut c, dev) {
        eprintln!("cuda benchmarks failed: {e}");
        std::process::exit(1);
    }
    c.final_summary();
}
