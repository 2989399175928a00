//! The packed reduction's group-by: events summed per integer key in
//! partitions small enough to stay in a core's cache.
//!
//! polars' streaming group-by has one partition per pipeline, so two on a
//! 2-core machine: at 100M events each held 6.9M groups, and each of the
//! ~100M events the per-pipeline hot tables passed on (on events in no key
//! order they almost never hit) was a random access into one of them
//! (`TotalIndexMap::entry` alone was a fifth of the reduction's CPU time).
//! Here the events' `(key, micro-units, time, row)` are scattered by a hash
//! of the key into [`PARTS`] partitions as the scan streams them (appends
//! only), and then each partition is summed on its own, on rayon, in a
//! table of a few megabytes. The sums are exact: micro-units are summed in
//! `i128`, which no month's events can pass (each is an `i64`, and there
//! are fewer than 2^63 of them).

use polars::prelude::PlHashMap;
use rayon::prelude::*;

/// Bits of the partition number: 512 partitions, about 27,000 groups each
/// for the 13.8M buckets of a 100M-event month.
const PART_BITS: u32 = 9;
/// Partitions the events are scattered into.
pub const PARTS: usize = 1 << PART_BITS;
/// Events per block of a partition: a partition grows by whole blocks, so
/// no event is copied when it grows.
const BLOCK: usize = 4096;

/// One event as the group-by needs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub key: i64,
    /// Billable micro-units.
    pub m: i64,
    /// Instant (µs).
    pub t: i64,
    /// Row key.
    pub row: i64,
}

/// One group: its key, the sum of its events' micro-units, how many events
/// it has, and its smallest instant and row key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Group {
    pub key: i64,
    pub sum: i128,
    pub events: i64,
    pub first_t: i64,
    pub first_row: i64,
}

/// The events scattered by key into [`PARTS`] partitions of blocks.
pub struct Scatter {
    parts: Vec<Vec<Vec<Event>>>,
}

impl Default for Scatter {
    fn default() -> Self {
        Scatter {
            parts: (0..PARTS).map(|_| Vec::new()).collect(),
        }
    }
}

/// The partition of `key`: the top bits of a multiplicative hash (keys
/// that differ only in low bits, as a bucket's second does, spread out).
#[inline]
fn part_of(key: i64) -> usize {
    ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - PART_BITS)) as usize
}

impl Scatter {
    /// Add one event.
    #[inline]
    pub fn push(&mut self, e: Event) {
        let blocks = &mut self.parts[part_of(e.key)];
        match blocks.last_mut() {
            Some(b) if b.len() < BLOCK => b.push(e),
            _ => {
                let mut b = Vec::with_capacity(BLOCK);
                b.push(e);
                blocks.push(b);
            }
        }
    }

    /// The groups of each partition (partitions in order; groups in no
    /// particular order), summed on rayon. A partition's events are freed
    /// as soon as it is summed.
    pub fn groups(self) -> Vec<Vec<Group>> {
        self.parts.into_par_iter().map(sum_part).collect()
    }
}

/// The groups of one partition's events.
fn sum_part(blocks: Vec<Vec<Event>>) -> Vec<Group> {
    let events: usize = blocks.iter().map(Vec::len).sum();
    // A bucket has about 7 events in a large month; the table grows if not.
    let mut index: PlHashMap<i64, (i128, i64, i64, i64)> =
        PlHashMap::with_capacity_and_hasher(events / 4 + 1, Default::default());
    for b in blocks {
        for e in b {
            index
                .entry(e.key)
                .and_modify(|g| {
                    g.0 += i128::from(e.m);
                    g.1 += 1;
                    g.2 = g.2.min(e.t);
                    g.3 = g.3.min(e.row);
                })
                .or_insert((i128::from(e.m), 1, e.t, e.row));
        }
    }
    index
        .into_iter()
        .map(|(key, (sum, events, first_t, first_row))| Group {
            key,
            sum,
            events,
            first_t,
            first_row,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The groups of `events` by a plain ordered map.
    fn reference(events: &[Event]) -> BTreeMap<i64, Group> {
        let mut out = BTreeMap::new();
        for e in events {
            out.entry(e.key)
                .and_modify(|g: &mut Group| {
                    g.sum += i128::from(e.m);
                    g.events += 1;
                    g.first_t = g.first_t.min(e.t);
                    g.first_row = g.first_row.min(e.row);
                })
                .or_insert(Group {
                    key: e.key,
                    sum: i128::from(e.m),
                    events: 1,
                    first_t: e.t,
                    first_row: e.row,
                });
        }
        out
    }

    fn grouped(events: &[Event]) -> BTreeMap<i64, Group> {
        let mut s = Scatter::default();
        for &e in events {
            s.push(e);
        }
        let parts = s.groups();
        assert_eq!(parts.len(), PARTS);
        let mut out = BTreeMap::new();
        for (p, part) in parts.into_iter().enumerate() {
            for g in part {
                assert_eq!(part_of(g.key), p, "a group in another key's partition");
                assert!(out.insert(g.key, g).is_none(), "a key in two groups");
            }
        }
        let counted: i64 = out.values().map(|g| g.events).sum();
        assert_eq!(counted, events.len() as i64, "every event in one group");
        out
    }

    #[test]
    fn sums_past_i64_stay_exact_and_smallest_time_and_row_are_kept() {
        let big = i64::MAX;
        let events = [
            Event {
                key: 7,
                m: big,
                t: 50,
                row: 9,
            },
            Event {
                key: 7,
                m: big,
                t: 10,
                row: 12,
            },
            Event {
                key: 7,
                m: 3,
                t: 30,
                row: 4,
            },
            Event {
                key: -7,
                m: -2,
                t: 5,
                row: 1,
            },
        ];
        let g = grouped(&events);
        assert_eq!(g.len(), 2);
        assert_eq!(g[&7].sum, 2 * i128::from(big) + 3);
        assert_eq!((g[&7].events, g[&7].first_t, g[&7].first_row), (3, 10, 4));
        assert_eq!((g[&-7].sum, g[&-7].events), (-2, 1));
    }

    #[test]
    fn partitions_grow_by_blocks_and_lose_no_event() {
        // More events than a block in one partition, and keys over many.
        let events: Vec<Event> = (0..3 * BLOCK as i64 + 17)
            .map(|k| Event {
                key: if k % 3 == 0 { 42 } else { k % 1000 },
                m: k,
                t: -k,
                row: k,
            })
            .collect();
        assert_eq!(grouped(&events), reference(&events));
    }

    proptest! {
        #[test]
        fn groups_equal_a_plain_map(
            raw in proptest::collection::vec((0i64..200, any::<i64>(), any::<i64>(), any::<i64>()), 0..600)
        ) {
            // Keys from a small range (many shared), spread over the i64 range.
            let events: Vec<Event> = raw
                .iter()
                .map(|&(k, m, t, row)| Event { key: k.wrapping_mul(0x0123_4567_89ab_cdef), m, t, row })
                .collect();
            prop_assert_eq!(grouped(&events), reference(&events));
        }
    }
}
