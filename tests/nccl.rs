//! The NCCL backend (feature `nccl`): a world of one on one GPU, and two
//! processes on two GPUs (torchrun-style variables, the id served over
//! loopback) training what one process with twice the batch trains. Each
//! skips with its reason where the GPUs are missing.
#![cfg(feature = "nccl")]

use std::path::Path;
use std::process::Command;

use arc::distributed::{Collective, NcclCollective, ReduceOp};
use arc::tensor::cuda_device_count;

#[path = "support/iris.rs"]
mod iris;
#[path = "support/skip.rs"]
mod skip;

/// The GPU count, or `None` after printing why `test` skips (fewer than `need`).
fn gpus(test: &str, need: usize) -> Option<usize> {
    match cuda_device_count() {
        Ok(n) if n >= need => Some(n),
        Ok(n) => {
            skip::skip_gpu_test(test, &format!("{n} CUDA device(s), {need} needed"));
            None
        }
        Err(why) => {
            skip::skip_gpu_test(test, &format!("no CUDA device ({why})"));
            None
        }
    }
}

#[test]
fn a_world_of_one_gpu_reduces_broadcasts_and_meets() -> arc::Result<()> {
    if gpus("a_world_of_one_gpu_reduces_broadcasts_and_meets", 1).is_none() {
        return Ok(());
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port");
    let one = NcclCollective::over_tcp(0, 1, 0, &free.to_string())?;
    let mut buf = [1.0f32, -2.0, 3.5];
    one.all_reduce(&mut buf, ReduceOp::Sum)?;
    assert_eq!(buf, [1.0, -2.0, 3.5]);
    one.all_reduce(&mut buf, ReduceOp::Average)?;
    assert_eq!(buf, [1.0, -2.0, 3.5]);
    one.broadcast(&mut buf, 0)?;
    one.barrier()?;
    let mut bytes = b"state".to_vec();
    one.broadcast_bytes(&mut bytes, 0)?;
    assert_eq!((one.rank(), one.world_size(), bytes.as_slice()), (0, 1, &b"state"[..]));
    Ok(())
}

fn spec_file(dir: &Path, batch: usize) -> std::path::PathBuf {
    let text = iris::spec_text()
        .replace("epochs: 100", "epochs: 5")
        .replace("batch_size: 16", &format!("batch_size: {batch}\n    device: cuda"));
    let path = dir.join(format!("iris-{batch}.yaml"));
    std::fs::write(&path, text).expect("spec written");
    path
}

#[test]
fn two_gpus_train_what_one_gpu_with_twice_the_batch_trains() {
    if gpus("two_gpus_train_what_one_gpu_with_twice_the_batch_trains", 2).is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("arc-nccl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data = iris::root().join(iris::DATA);
    let train = |spec: &Path, out: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_arc"));
        cmd.arg("train").arg(spec).arg("--data").arg(&data).arg("--out").arg(out);
        cmd
    };
    let (one, two) = (dir.join("one"), dir.join("two"));
    assert!(train(&spec_file(&dir, 32), &one).status().expect("arc runs").success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let ranks: Vec<_> = (0..2)
        .map(|rank| {
            train(&spec_file(&dir, 16), &two)
                .envs([("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1")])
                .env("MASTER_PORT", port.to_string())
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .spawn()
                .expect("a rank starts")
        })
        .collect();
    for mut rank in ranks {
        assert!(rank.wait().expect("the rank ends").success());
    }
    let weights = |d: &Path| {
        let mut w: Vec<(String, Vec<f32>)> = arc::model_dir::load(d)
            .expect("a model directory")
            .weights
            .into_iter()
            .filter(|(_, t)| t.dtype() == arc::DType::F32)
            .map(|(n, t)| (n, t.to_vec().expect("host")))
            .collect();
        w.sort_by(|a, b| a.0.cmp(&b.0));
        w
    };
    for ((na, a), (_, b)) in weights(&one).iter().zip(weights(&two)) {
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "`{na}` differs by {worst}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
