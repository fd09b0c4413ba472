//! Call order: pluggy's six bands, then `before`/`after` inside a band.
//!
//! pluggy's `_add_hookimpl` keeps one list that `_multicall` walks
//! backwards. Read in call order that gives: wrappers, then plain
//! implementations; inside each, `tryfirst`, unmarked, `trylast`. The
//! `tryfirst` and unmarked bands run the last registered first; the
//! `trylast` band runs the first registered first (pluggy inserts each new
//! `trylast` implementation at the front of the list it walks backwards).
//!
//! Arc adds declarative order: an implementation marked
//! `before = "other"` / `after = "other"` runs before / after plugin
//! `other`'s implementation of the same hook when both are in the same
//! band. The band's default order is kept wherever the constraints allow
//! (a stable topological sort); a cycle is an error naming every plugin in
//! it. A name no registered plugin has is ignored (the other plugin may be
//! optional, or registered later): see [`PluginManager::order_warnings`].
//!
//! [`PluginManager::order_warnings`]: super::PluginManager::order_warnings

use super::hook::HookImplOpts;

/// The band an implementation is called in, 0 (outermost wrapper) to 5.
pub(crate) fn band(o: &HookImplOpts) -> u8 {
    match (o.wrapper, o.tryfirst, o.trylast) {
        (true, true, _) => 0,
        (true, false, false) => 1,
        (true, false, true) => 2,
        (false, true, _) => 3,
        (false, false, false) => 4,
        (false, false, true) => 5,
    }
}

/// Whether a band runs its first registered implementation first.
pub(crate) fn band_is_fifo(band: u8) -> bool {
    band == 2 || band == 5
}

/// One implementation of a hook, as ordering sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OrderItem<'a> {
    /// The plugin's registered name.
    pub plugin: &'a str,
    /// Its options for the hook.
    pub opts: &'a HookImplOpts,
}

/// The call order of every implementation of one hook, given in
/// registration order: indices into `items`. `honour` applies `before` /
/// `after`; `Err` then holds the plugins of a cycle, in the order they
/// would have to run.
pub(crate) fn call_order(items: &[OrderItem<'_>], honour: bool) -> Result<Vec<usize>, Vec<String>> {
    let mut order = Vec::with_capacity(items.len());
    for b in 0..6u8 {
        let mut members: Vec<usize> = (0..items.len()).filter(|&i| band(items[i].opts) == b).collect();
        if !band_is_fifo(b) {
            members.reverse();
        }
        order.extend(if honour { order_band(items, &members)? } else { members });
    }
    Ok(order)
}

/// Orders one band (`members`, in its default order) by the `before` /
/// `after` constraints between its members: a stable topological sort
/// that always takes the earliest ready member in default order.
fn order_band(items: &[OrderItem<'_>], members: &[usize]) -> Result<Vec<usize>, Vec<String>> {
    let constrained = members.iter().any(|&i| !items[i].opts.before.is_empty() || !items[i].opts.after.is_empty());
    if !constrained {
        return Ok(members.to_vec());
    }
    let n = members.len();
    let position = |name: &str| members.iter().position(|&m| items[m].plugin == name);
    // edges[a] holds the members that must run after member a.
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (a, &m) in members.iter().enumerate() {
        for b in items[m].opts.before.iter().filter_map(|name| position(name)) {
            if b != a && !edges[a].contains(&b) {
                edges[a].push(b);
            }
        }
        for b in items[m].opts.after.iter().filter_map(|name| position(name)) {
            if b != a && !edges[b].contains(&a) {
                edges[b].push(a);
            }
        }
    }
    let mut indegree = vec![0usize; n];
    for targets in &edges {
        for &t in targets {
            indegree[t] += 1;
        }
    }
    let mut done = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(next) = (0..n).find(|&i| !done[i] && indegree[i] == 0) else {
            return Err(cycle(items, members, &edges, &done));
        };
        done[next] = true;
        out.push(members[next]);
        for &t in &edges[next] {
            indegree[t] -= 1;
        }
    }
    Ok(out)
}

/// A cycle among the members not yet placed (each has a predecessor among
/// them): walk predecessors until one repeats.
fn cycle(items: &[OrderItem<'_>], members: &[usize], edges: &[Vec<usize>], done: &[bool]) -> Vec<String> {
    let n = members.len();
    let predecessor = |of: usize| (0..n).find(|&p| !done[p] && edges[p].contains(&of));
    let mut path = vec![(0..n).find(|&i| !done[i]).expect("a stuck sort has members left")];
    loop {
        let last = *path.last().expect("the path is never empty");
        let Some(p) = predecessor(last) else { break };
        if let Some(at) = path.iter().position(|&x| x == p) {
            // path[at..] walked backwards along edges: reverse for run order.
            let mut cycle: Vec<String> =
                path[at..].iter().rev().map(|&i| items[members[i]].plugin.to_owned()).collect();
            cycle.push(cycle[0].clone());
            return cycle;
        }
        path.push(p);
    }
    path.iter().map(|&i| items[members[i]].plugin.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(before: &'static [&'static str], after: &'static [&'static str]) -> HookImplOpts {
        HookImplOpts { before, after, ..HookImplOpts::default() }
    }

    fn order(items: &[(&str, HookImplOpts)]) -> Result<Vec<String>, Vec<String>> {
        let list: Vec<_> = items.iter().map(|(p, o)| OrderItem { plugin: p, opts: o }).collect();
        call_order(&list, true).map(|o| o.into_iter().map(|i| items[i].0.to_owned()).collect())
    }

    #[test]
    fn pluggy_bands_without_constraints() {
        let trylast = HookImplOpts { trylast: true, ..HookImplOpts::default() };
        let tryfirst = HookImplOpts { tryfirst: true, ..HookImplOpts::default() };
        let plain = HookImplOpts::default();
        // a (plain), b (trylast), c (plain), d (trylast), e (tryfirst).
        let got = order(&[("a", plain), ("b", trylast), ("c", plain), ("d", trylast), ("e", tryfirst)]).unwrap();
        assert_eq!(got, ["e", "c", "a", "b", "d"]);
    }

    #[test]
    fn before_and_after_move_only_what_they_must() {
        // Default order c, b, a; "a" must run before "c".
        let got = order(&[("a", opts(&["c"], &[])), ("b", opts(&[], &[])), ("c", opts(&[], &[]))]).unwrap();
        assert_eq!(got, ["b", "a", "c"]);
        // "c" after "a", written on c: the same.
        let got = order(&[("a", opts(&[], &[])), ("b", opts(&[], &[])), ("c", opts(&[], &["a"]))]).unwrap();
        assert_eq!(got, ["b", "a", "c"]);
        // An unknown name is ignored.
        let got = order(&[("a", opts(&["zzz"], &[])), ("b", opts(&[], &[]))]).unwrap();
        assert_eq!(got, ["b", "a"]);
    }

    #[test]
    fn a_cycle_names_every_plugin_in_it() {
        let err = order(&[
            ("a", opts(&["b"], &[])),
            ("b", opts(&["c"], &[])),
            ("c", opts(&["a"], &[])),
            ("d", opts(&[], &[])),
        ])
        .unwrap_err();
        assert_eq!(err.len(), 4, "{err:?}");
        assert_eq!(err[0], err[3]);
        let mut names = err[..3].to_vec();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        // Each runs before the next, as the constraints say.
        let at = |n: &str| ["a", "b", "c"].iter().position(|x| *x == n).unwrap();
        for w in err.windows(2) {
            assert_eq!((at(&w[0]) + 1) % 3, at(&w[1]), "{err:?}");
        }
    }
}
