//! Data-parallel overheads (feature `mpi`): the all-reduce of the MLP's
//! gradients through Arc's layer against MPI's own all-reduce of the same
//! buffer, and the `mlp784_256_256_10_adam_step_b128` step (forward,
//! backward, gradient all-reduce, Adam) at 1 and 2 processes.
//!
//! `cargo bench --bench data_parallel --features mpi` runs the 1-process
//! cases itself and the 2-process ones under `mpirun -np 2` (one rayon
//! thread per process on a 2-core machine), and prints
//! `case<TAB>value<TAB>unit` rows, the anchors' format: the median of 5
//! repeats (`ANCHOR_STAT=min`: the best), each of a count of calls that
//! rank 0 picks and every rank runs.

use std::process::Command;
use std::time::Instant;

use arc::distributed::rsmpi::collective::SystemOperation;
use arc::distributed::rsmpi::topology::SimpleCommunicator;
use arc::distributed::rsmpi::traits::CommunicatorCollectives;
use arc::distributed::{Collective, GradientBuckets, MpiCollective, ReduceOp, SingleProcess};
use arc::nn::{Optimizer, Param, init};
use arc::spec::Config;
use arc::tensor::{CrossEntropyOptions, Rng};
use arc::{Result, Tensor};

const STEP: &str = "mlp784_256_256_10_adam_step_b128";
const BATCH: usize = 128;
const CHILD: &str = "ARC_DP_BENCH_CHILD";

/// The MLP 784-256-256-10, PyTorch's initialisation.
struct Mlp {
    params: Vec<(String, Param)>,
    x: Tensor,
    y: Tensor,
}

impl Mlp {
    fn new(seed: u64) -> Result<Self> {
        init::manual_seed(0);
        let mut params = Vec::new();
        for (name, fan_in, fan_out) in [("0", 784, 256), ("2", 256, 256), ("4", 256, 10)] {
            params.push((format!("{name}.weight"), Param::new(init::kaiming_uniform(&[fan_out, fan_in], fan_in))?));
            params.push((format!("{name}.bias"), Param::new(init::kaiming_uniform(&[fan_out], fan_in))?));
        }
        let mut rng = Rng::new(seed);
        let x = Tensor::randn(&[BATCH, 784], &mut rng);
        let y = Tensor::randint(&[BATCH], 0, 10, &mut rng)?;
        Ok(Self { params, x, y })
    }

    fn forward_backward(&self) -> Result<()> {
        let v: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p)| {
                p.zero_grad();
                p.value()
            })
            .collect();
        let h = self.x.linear(&v[0], Some(&v[1]))?.relu()?;
        let h = h.linear(&v[2], Some(&v[3]))?.relu()?;
        let loss = h.linear(&v[4], Some(&v[5]))?.cross_entropy(&self.y, &CrossEntropyOptions::default())?;
        loss.backward()
    }

    fn plain(&self) -> Vec<&Param> {
        self.params.iter().map(|(_, p)| p).collect()
    }

    fn numel(&self) -> usize {
        self.params.iter().map(|(_, p)| p.value().numel()).sum()
    }
}

/// Microseconds per call: `calls` per repeat, the median (or best) of 5,
/// the same count on every rank (a barrier before each repeat).
fn us_per_call(world: &dyn Collective, calls: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..calls.div_ceil(10) {
        f();
    }
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            world.barrier().expect("barrier");
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    if std::env::var("ANCHOR_STAT").as_deref() == Ok("min") { runs[0] } else { runs[2] }
}

/// Step rows for a world of `world.world_size()` processes: each trains batch 128.
fn step_rows(world: &dyn Collective, suffix: &str) -> Result<()> {
    let mlp = Mlp::new(1 + world.rank() as u64)?;
    let named: Vec<(&str, &Param)> = mlp.params.iter().map(|(n, p)| (n.as_str(), p)).collect();
    let plain = mlp.plain();
    let mut adam: Box<dyn Optimizer> =
        arc::get_plugin_manager().get_optimizer("Adam")?.create(&Config::from_yaml("lr: 1e-3")?)?;
    let mut buckets = GradientBuckets::new(arc::distributed::DEFAULT_BUCKET_BYTES);
    let us = us_per_call(world, 200, || {
        mlp.forward_backward().expect("forward and backward");
        buckets.average(world, &plain, &mut [0.0]).expect("all-reduce");
        adam.step(&named).expect("Adam");
    });
    if world.is_root() {
        let rows = (BATCH * world.world_size()) as f64;
        println!("{STEP}_{suffix}\t{us:.4}\tus/call");
        println!("{STEP}_{suffix}\t{:.4}\texamples/s", rows / us * 1e6);
    }
    Ok(())
}

/// A world of two whose calls do nothing: [`GradientBuckets::average`]'s
/// own copying (pack, scale, unpack), without MPI.
struct NoPeers;

impl Collective for NoPeers {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        2
    }
    fn backend(&self) -> &str {
        "none"
    }
    fn all_reduce(&self, _: &mut [f32], _: ReduceOp) -> Result<()> {
        Ok(())
    }
    fn all_reduce_into(&self, _: &[f32], _: &mut [f32], _: ReduceOp) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _: &mut [f32], _: usize) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
}

/// Two ranks: the all-reduce rows, then the step rows.
fn two_ranks() -> Result<()> {
    let mpi = MpiCollective::init()?;
    let raw = SimpleCommunicator::world();
    let mlp = Mlp::new(1 + mpi.rank() as u64)?;
    mlp.forward_backward()?;
    let n = mlp.numel();
    let send = vec![0.5f32; n];
    let mut recv = vec![0.0f32; n];
    let raw_us = us_per_call(&mpi, 500, || raw.all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum()));
    let mut flat = vec![0.5f32; n];
    let trait_us = us_per_call(&mpi, 500, || mpi.all_reduce(&mut flat, ReduceOp::Sum).expect("all-reduce"));
    let plain = mlp.plain();
    let mut buckets = GradientBuckets::new(arc::distributed::DEFAULT_BUCKET_BYTES);
    let arc_us = us_per_call(&mpi, 500, || buckets.average(&mpi, &plain, &mut [0.0]).expect("all-reduce"));
    let copy_us = us_per_call(&mpi, 500, || buckets.average(&NoPeers, &plain, &mut [0.0]).expect("copies"));
    if mpi.is_root() {
        let mb = (n * 4) as f64 / 1e6;
        println!(
            "# the MLP's gradients: {n} floats ({mb:.2} MB), 2 processes, {} call(s) per average",
            buckets.calls()
        );
        println!("allreduce_mlp_grads_raw_mpi_np2\t{raw_us:.4}\tus/call");
        println!("allreduce_mlp_grads_collective_np2\t{trait_us:.4}\tus/call");
        println!("allreduce_mlp_grads_arc_buckets_np2\t{arc_us:.4}\tus/call");
        println!("allreduce_mlp_grads_arc_copies_only\t{copy_us:.4}\tus/call");
        println!("allreduce_mlp_grads_arc_overhead_np2\t{:.4}\tx raw", arc_us / raw_us);
    }
    step_rows(&mpi, "np2_t1")
}

fn run_child(cmd: &mut Command) {
    match cmd.output() {
        Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Ok(out) => eprintln!("{:?} failed:\n{}", cmd, String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("{cmd:?} did not start: {e}"),
    }
}

fn main() {
    let result = match (arc::distributed::launcher_world(), std::env::var(CHILD)) {
        (Ok(l), _) if l.size() > 1 => two_ranks(),
        (_, Ok(suffix)) => step_rows(&SingleProcess, &suffix),
        _ => {
            println!("# arc {} (rust, release): data-parallel overheads", env!("CARGO_PKG_VERSION"));
            let me = std::env::current_exe().expect("this benchmark's path");
            for threads in ["1", "2"] {
                run_child(Command::new(&me).env(CHILD, format!("np1_t{threads}")).env("RAYON_NUM_THREADS", threads));
            }
            run_child(
                Command::new("mpirun")
                    .args(["-np", "2"])
                    .arg(&me)
                    .env("RAYON_NUM_THREADS", "1")
                    .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                    .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
                    .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none"),
            );
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("data_parallel bench failed: {e}");
        std::process::exit(1);
    }
}
