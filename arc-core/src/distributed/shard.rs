//! Which rows each rank trains on: PyTorch's `DistributedSampler`.

/// This rank's share of an epoch's `order` (the seeded shuffle, the same on
/// every rank), as PyTorch's `DistributedSampler` takes it: every rank gets
/// the same number of rows, the positions `rank, rank + world, …` of the
/// order. When the rows do not divide evenly, `drop_last` drops the
/// order's tail; otherwise the order is padded with its own first rows
/// (those rows train twice in the epoch, as in PyTorch).
///
/// With equal shards and a per-rank batch of `b`, batch `k` of every rank
/// together is exactly batch `k` of one process with a batch of
/// `b × world`, so averaged gradients give the same step.
///
/// ```
/// use arc_core::distributed::shard;
///
/// let order = [4, 0, 3, 1, 2];
/// assert_eq!(shard(&order, 0, 2, false), [4, 3, 2]);
/// assert_eq!(shard(&order, 1, 2, false), [0, 1, 4]); // padded with the first row
/// assert_eq!(shard(&order, 1, 2, true), [0, 1]); // the tail dropped
/// ```
pub fn shard(order: &[usize], rank: usize, world: usize, drop_last: bool) -> Vec<usize> {
    let world = world.max(1);
    let n = order.len();
    let per_rank = if drop_last { n / world } else { n.div_ceil(world) };
    if n == 0 {
        return Vec::new();
    }
    (0..per_rank).map(|i| order[(rank + i * world) % n]).collect()
}

#[cfg(test)]
mod tests {
    use super::shard;

    /// The ranks' shards together are the order (padded or cut), each
    /// position once, as `DistributedSampler(…, shuffle=False)` over `order` gives.
    #[test]
    fn shards_cover_the_order_as_distributed_sampler_does() {
        let order: Vec<usize> = (0..10).map(|i| (i * 7) % 10).collect();
        // torch: list(DistributedSampler(range(10), num_replicas=3, rank=r, shuffle=False))
        // gives [0,3,6,9], [1,4,7,0], [2,5,8,1] (padded with the first two).
        let by_position = |r| shard(&(0..10).collect::<Vec<_>>(), r, 3, false);
        assert_eq!(by_position(0), [0, 3, 6, 9]);
        assert_eq!(by_position(1), [1, 4, 7, 0]);
        assert_eq!(by_position(2), [2, 5, 8, 1]);
        // drop_last=True: [0,3,6], [1,4,7], [2,5,8].
        assert_eq!(shard(&(0..10).collect::<Vec<_>>(), 2, 3, true), [2, 5, 8]);
        let mut all: Vec<usize> = (0..2).flat_map(|r| shard(&order, r, 2, false)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_world_larger_than_the_rows_pads_every_rank_with_a_row() {
        assert_eq!(shard(&[7], 2, 3, false), [7]);
        assert!(shard(&[7], 2, 3, true).is_empty());
        assert!(shard(&[], 0, 2, false).is_empty());
    }
}
