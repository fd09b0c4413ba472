//! Finding a whole cycle in a dependency graph, in order.

/// The first cycle met by a depth-first walk in declaration order, as
/// indices in data-flow order (each feeds the next, the last feeds the
/// first), starting at its earliest-declared node. `deps[i]` holds the
/// indices node `i` reads from.
///
/// ```
/// // 0 reads 2, 1 reads 0, 2 reads 1: 0 → 1 → 2 → 0.
/// assert_eq!(arc_core::graph::find_cycle(&[vec![2], vec![0], vec![1]]), Some(vec![0, 1, 2]));
/// assert_eq!(arc_core::graph::find_cycle(&[vec![], vec![0]]), None);
/// ```
pub fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(i: usize, deps: &[Vec<usize>], marks: &mut [Mark], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
        marks[i] = Mark::Open;
        stack.push(i);
        for &d in &deps[i] {
            match marks[d] {
                Mark::Open => {
                    // `stack` from `d` is a path d ← ... ← i: reverse it so each node feeds the next.
                    let start = stack.iter().position(|&s| s == d).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[start..].to_vec();
                    cycle.reverse();
                    // Start the cycle at its earliest-declared node.
                    let first = cycle.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(k, _)| k);
                    cycle.rotate_left(first);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(d, deps, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; deps.len()];
    for i in 0..deps.len() {
        if marks[i] == Mark::New
            && let Some(c) = visit(i, deps, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}
