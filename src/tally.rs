//! Sums by key over many lines, one hash look-up per run of lines.

use polars::prelude::PlHashMap;

/// Sums by key over many lines: the key of a
/// run of lines is looked up once, and each sum takes its values in line
/// order (the same arithmetic as one hash look-up per line).
pub struct Tally<K, V> {
    index: PlHashMap<K, usize>,
    /// The keys in the order first met, with their sums.
    pub values: Vec<(K, V)>,
    last: Option<(K, usize)>,
}

impl<K, V> Default for Tally<K, V> {
    fn default() -> Self {
        Tally {
            index: PlHashMap::default(),
            values: Vec::new(),
            last: None,
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy, V: Default> Tally<K, V> {
    /// The sum of `k`, started at the default when new.
    pub fn at(&mut self, k: K) -> &mut V {
        let i = match self.last {
            Some((last, i)) if last == k => i,
            _ => {
                let values = &mut self.values;
                let i = *self.index.entry(k).or_insert_with(|| {
                    values.push((k, V::default()));
                    values.len() - 1
                });
                self.last = Some((k, i));
                i
            }
        };
        &mut self.values[i].1
    }

    /// Where `k` and its sum are in [`Tally::values`], if it was met.
    pub fn position(&self, k: &K) -> Option<usize> {
        self.index.get(k).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_follow_their_key_across_runs_in_the_order_first_met() {
        let mut t: Tally<&str, i64> = Tally::default();
        for (k, v) in [
            ("b", 1),
            ("b", 2),
            ("a", 10),
            ("b", 4),
            ("c", 100),
            ("a", 20),
        ] {
            *t.at(k) += v;
        }
        assert_eq!(t.values, vec![("b", 7), ("a", 30), ("c", 100)]);
        assert_eq!((t.position(&"a"), t.position(&"z")), (Some(1), None));
        assert_eq!((t.position(&"c"), t.values[1].1), (Some(2), 30));
    }
}
