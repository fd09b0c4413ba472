//! A world of threads in one process: the collective semantics without a
//! launcher, for tests and for trying a data-parallel run on one machine.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Collective, ReduceOp, error};
use crate::Result;

/// One rank of a world of threads. [`LocalWorld::new`]`(n)` gives the `n`
/// ranks; hand one to each thread. Sums run in rank order, so every rank
/// gets bit-identical results, run after run.
///
/// ```
/// use arc_core::distributed::{Collective, LocalWorld, ReduceOp};
///
/// let ranks = LocalWorld::new(2);
/// let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
///     let handles: Vec<_> = ranks
///         .iter()
///         .map(|rank| {
///             s.spawn(move || {
///                 let mut buf = vec![rank.rank() as f32 + 1.0; 3];
///                 rank.all_reduce(&mut buf, ReduceOp::Sum).map(|()| buf)
///             })
///         })
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
/// });
/// assert_eq!(sums, [vec![3.0; 3], vec![3.0; 3]]);
/// ```
pub struct LocalWorld {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    /// Each rank's deposited buffer for the operation in progress.
    slots: Mutex<Vec<Vec<f32>>>,
    gate: Mutex<Gate>,
    turned: Condvar,
}

struct Gate {
    arrived: usize,
    generation: u64,
    aborted: bool,
}

impl LocalWorld {
    /// The `size` ranks of a new world, rank 0 first.
    pub fn new(size: usize) -> Vec<LocalWorld> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            size,
            slots: Mutex::new(vec![Vec::new(); size]),
            gate: Mutex::new(Gate { arrived: 0, generation: 0, aborted: false }),
            turned: Condvar::new(),
        });
        (0..size).map(|rank| LocalWorld { rank, shared: Arc::clone(&shared) }).collect()
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Vec<f32>>> {
        self.shared.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for every rank; an error once any rank has aborted.
    fn wait(&self) -> Result<()> {
        let mut gate = self.shared.gate.lock().unwrap_or_else(|e| e.into_inner());
        if gate.aborted {
            return Err(aborted());
        }
        gate.arrived += 1;
        if gate.arrived == self.shared.size {
            gate.arrived = 0;
            gate.generation += 1;
            self.shared.turned.notify_all();
            return Ok(());
        }
        let generation = gate.generation;
        while gate.generation == generation && !gate.aborted {
            gate = self.shared.turned.wait(gate).unwrap_or_else(|e| e.into_inner());
        }
        if gate.generation == generation { Err(aborted()) } else { Ok(()) }
    }

    fn check_root(&self, root: usize) -> Result<()> {
        if root >= self.shared.size {
            return Err(error("local", format!("broadcast from rank {root} in a world of {}", self.shared.size)));
        }
        Ok(())
    }
}

fn aborted() -> crate::Error {
    error("local", "another rank aborted the run")
}

impl Collective for LocalWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.shared.size
    }

    fn backend(&self) -> &str {
        "local"
    }

    fn all_reduce(&self, buf: &mut [f32], op: ReduceOp) -> Result<()> {
        self.slots()[self.rank] = buf.to_vec();
        self.wait()?;
        {
            let slots = self.slots();
            if let Some(bad) = slots.iter().position(|s| s.len() != buf.len()) {
                drop(slots);
                self.abort(1);
                return Err(error(
                    "local",
                    format!(
                        "all_reduce of {} values on rank {}, of a different length on rank {bad}",
                        buf.len(),
                        self.rank
                    ),
                ));
            }
            buf.fill(0.0);
            for slot in slots.iter() {
                buf.iter_mut().zip(slot).for_each(|(b, v)| *b += v);
            }
        }
        if op == ReduceOp::Average {
            let n = self.shared.size as f32;
            buf.iter_mut().for_each(|b| *b /= n);
        }
        // Nobody deposits the next operation's buffer before every rank has read this one.
        self.wait()
    }

    fn broadcast(&self, buf: &mut [f32], root: usize) -> Result<()> {
        self.check_root(root)?;
        if self.rank == root {
            self.slots()[root] = buf.to_vec();
        }
        self.wait()?;
        {
            let slots = self.slots();
            if slots[root].len() != buf.len() {
                return Err(error(
                    "local",
                    format!(
                        "broadcast of {} values from rank {root} into {} on rank {}",
                        slots[root].len(),
                        buf.len(),
                        self.rank
                    ),
                ));
            }
            buf.copy_from_slice(&slots[root]);
        }
        self.wait()
    }

    fn barrier(&self) -> Result<()> {
        self.wait()
    }

    /// Wakes every waiting rank with an error; later calls fail at once.
    fn abort(&self, _code: i32) {
        let mut gate = self.shared.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.aborted = true;
        self.shared.turned.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_every_rank<T: Send>(size: usize, f: impl Fn(&LocalWorld) -> T + Sync) -> Vec<T> {
        let ranks = LocalWorld::new(size);
        std::thread::scope(|s| {
            let handles: Vec<_> = ranks.iter().map(|r| s.spawn(|| f(r))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn average_broadcast_and_bytes_reach_every_rank() {
        let out = on_every_rank(3, |r| {
            let mut avg = vec![r.rank() as f32; 2];
            r.all_reduce(&mut avg, ReduceOp::Average).unwrap();
            let mut b = vec![r.rank() as f32 * 10.0; 2];
            r.broadcast(&mut b, 2).unwrap();
            let mut bytes = if r.rank() == 1 { b"hello, ranks".to_vec() } else { vec![9; 40] };
            r.broadcast_bytes(&mut bytes, 1).unwrap();
            (avg, b, bytes)
        });
        for (avg, b, bytes) in out {
            assert_eq!(avg, [1.0, 1.0]);
            assert_eq!(b, [20.0, 20.0]);
            assert_eq!(bytes, b"hello, ranks");
        }
    }

    #[test]
    fn an_aborting_rank_releases_the_others_with_an_error() {
        let out = on_every_rank(2, |r| {
            if r.rank() == 1 {
                r.abort(1);
                return "aborted".to_owned();
            }
            r.barrier().unwrap_err().to_string()
        });
        assert_eq!(out[0], "distributed (local): another rank aborted the run");
    }

    #[test]
    fn mismatched_lengths_are_an_error_not_a_hang() {
        let out = on_every_rank(2, |r| {
            let mut buf = vec![1.0; 2 + r.rank()];
            r.all_reduce(&mut buf, ReduceOp::Sum).map_err(|e| e.to_string())
        });
        assert!(out.iter().all(Result::is_err), "{out:?}");
    }
}
