//! The events of the buckets packages may leave partly refused, held aside
//! by the reduction as it scans them, so that the second pass (which finds
//! each such bucket's first refused event) needs no second scan.
//!
//! A bucket is partly refused when packages fund part of it and the rest
//! may not be billed postpaid: postpaid is off for the account's product, or
//! the item has no postpaid price, or no price for the event's region and
//! resolution. Which buckets end so is known only after deduction, but the
//! (account, item) pairs where it *can* happen are known before the scan:
//! the pairs with a package ([`refusable`]). The reduction keeps those
//! pairs' events (32 bytes each: account and item × pair codes, time, row
//! key, billable micro-units) as it computes their bucket keys
//! ([`Holder`]); once sorted they give each partial bucket's events in
//! event order, whose ties in time the event ids break ([`Held::plan`]).
//!
//! Whatever is not held (a pair outside the set, more than
//! [`HELD_MAX_EVENTS`] events, a bucket whose held events do not add up to
//! its count) is resolved by the scan as before
//! ([`crate::reduce::resolve_partials`]); both give the same answer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use polars::prelude::PlHashMap;
use rayon::prelude::*;

use crate::catalog::Catalog;
use crate::engine::{self, PartialBucket, PartialResolution};
use crate::error::Result;
use crate::model::{AccountSetting, Package};

/// The most events held (about 1.3 GB); past it the scan resolves them all.
pub const HELD_MAX_EVENTS: usize = 40_000_000;

/// One held event. Sorted, the events of one (account, item × pair) are
/// in time order, then row order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldEvent {
    pub account: u32,
    pub code: u32,
    pub t: i64,
    pub row: i64,
    pub m: i64,
}

/// An (account, item) pair with a package, and whether usage beyond the
/// packages is billed postpaid there.
pub type Refusable = (String, String, bool);

/// The pairs where a bucket may end partly refused: each (account, item)
/// with a package, and whether postpaid is on for it (each account's first
/// setting for the item's product, as the engine reads them), sorted.
pub fn refusable(
    catalog: &Catalog,
    packages: &[Package],
    settings: &[AccountSetting],
) -> Vec<Refusable> {
    let mut first: PlHashMap<(&str, &str), &AccountSetting> = PlHashMap::default();
    for s in settings {
        first
            .entry((s.account_id.as_str(), s.product.as_str()))
            .or_insert(s);
    }
    let mut out: Vec<Refusable> = packages
        .iter()
        .filter_map(|p| {
            let (product, item) = catalog.item(&p.item)?;
            let setting = first
                .get(&(p.account_id.as_str(), product.id.as_str()))
                .copied();
            Some((
                p.account_id.clone(),
                p.item.clone(),
                engine::postpaid_on(item, setting),
            ))
        })
        .collect();
    // Equal pairs are the same in every field: their order does not matter.
    out.par_sort_unstable();
    out.dedup();
    out
}

/// What decides whether an event is held: its account code (the reduction
/// numbers the refusable accounts up front), item and (region, resolution).
struct Rule {
    /// Refusable account → its code.
    codes: PlHashMap<String, u32>,
    /// Per account code × item: 0 no package, 1 packages and postpaid on,
    /// 2 packages and postpaid off.
    flags: Vec<u8>,
    items: usize,
    /// Per item × (region, resolution): the catalog has no price.
    unpriced: Vec<bool>,
    pairs: usize,
    /// Item id → its index.
    item_index: PlHashMap<String, usize>,
    /// (region, resolution) → its index.
    pair_index: PlHashMap<(Option<String>, Option<String>), usize>,
}

impl Rule {
    /// Whether events of account code `a`, item `ic`, pair `rr` are held.
    #[inline]
    fn holds(&self, a: i64, ic: i64, rr: i64) -> bool {
        let (Ok(a), Ok(ic), Ok(rr)) =
            (usize::try_from(a), usize::try_from(ic), usize::try_from(rr))
        else {
            return false;
        };
        match self.flags.get(a * self.items + ic) {
            Some(2) => true,
            Some(1) => self.unpriced.get(ic * self.pairs + rr) == Some(&true),
            _ => false,
        }
    }
}

/// Collects the held events while the reduction's scan runs.
pub struct Holder {
    rule: Arc<Rule>,
    events: Mutex<Vec<Vec<HeldEvent>>>,
    count: AtomicUsize,
    given_up: AtomicBool,
    limit: usize,
}

impl Holder {
    /// A holder for `refusable`'s pairs, where `accounts[k]` has code `k`
    /// and `items` and `pairs` are in the reduction's `_ic` and `_rr` order.
    pub fn new(
        catalog: &Catalog,
        refusable: &[Refusable],
        accounts: &[&str],
        items: &[&str],
        pairs: &[(Option<String>, Option<String>)],
        limit: usize,
    ) -> Holder {
        let item_index: PlHashMap<String, usize> = items
            .iter()
            .enumerate()
            .map(|(k, i)| (i.to_string(), k))
            .collect();
        let mut codes = PlHashMap::default();
        let wanted: PlHashMap<&str, ()> = refusable.iter().map(|r| (r.0.as_str(), ())).collect();
        for (k, a) in accounts.iter().enumerate() {
            if wanted.contains_key(a) {
                codes.insert(a.to_string(), k as u32);
            }
        }
        let mut flags = vec![0u8; accounts.len() * items.len()];
        for (account, item, postpaid_on) in refusable {
            if let (Some(&a), Some(&ic)) = (codes.get(account), item_index.get(item)) {
                let f = &mut flags[a as usize * items.len() + ic];
                *f = (*f).max(if *postpaid_on { 1 } else { 2 });
            }
        }
        let mut unpriced = vec![false; items.len() * pairs.len()];
        for (ic, id) in items.iter().enumerate() {
            if let Some((product, item)) = catalog.item(id) {
                for (rr, (region, resolution)) in pairs.iter().enumerate() {
                    unpriced[ic * pairs.len() + rr] =
                        !engine::priced(product, item, region.as_deref(), resolution.as_deref());
                }
            }
        }
        let pair_index = pairs
            .iter()
            .cloned()
            .enumerate()
            .map(|(k, p)| (p, k))
            .collect();
        Holder {
            rule: Arc::new(Rule {
                codes,
                flags,
                items: items.len(),
                unpriced,
                pairs: pairs.len(),
                item_index,
                pair_index,
            }),
            events: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            given_up: AtomicBool::new(false),
            limit,
        }
    }

    /// Whether events of account code `a`, item `ic`, pair `rr` are held.
    #[inline]
    pub fn holds(&self, a: i64, ic: i64, rr: i64) -> bool {
        self.rule.holds(a, ic, rr)
    }

    /// Keep one batch's held events (past the limit, none at all).
    pub fn keep(&self, batch: Vec<HeldEvent>) {
        if batch.is_empty() || self.given_up.load(Ordering::Relaxed) {
            return;
        }
        if self.count.fetch_add(batch.len(), Ordering::Relaxed) + batch.len() > self.limit {
            self.give_up();
            return;
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(batch);
    }

    /// Hold nothing: every partial bucket goes to the scan (an event the
    /// holder could not take whole, or the scan being run again).
    pub fn give_up(&self) {
        self.given_up.store(true, Ordering::Relaxed);
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The held events, sorted (taken: the holder is left empty).
    pub fn finish(&self) -> Held {
        let complete = !self.given_up.load(Ordering::Relaxed);
        let mut events: Vec<HeldEvent> = if complete {
            let batches =
                std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()));
            let mut all = Vec::with_capacity(batches.iter().map(Vec::len).sum());
            for b in batches {
                all.extend(b);
            }
            all
        } else {
            Vec::new()
        };
        events.par_sort_unstable();
        Held {
            rule: Some(self.rule.clone()),
            events,
            complete,
        }
    }
}

/// The held events, sorted, and what they cover.
pub struct Held {
    rule: Option<Arc<Rule>>,
    events: Vec<HeldEvent>,
    complete: bool,
}

/// The first refused event of a walked bucket: by its row (its id read
/// afterwards) or, after a tie in time, by its id.
#[derive(Debug, Clone, PartialEq)]
enum First {
    Row(i64),
    Id(String),
}

/// None refused, or the first refused event's time, the event and how many
/// were refused.
type Refused = Option<(i64, First, u64)>;

/// A partial bucket walked over its held events.
#[derive(Debug, Clone, PartialEq)]
enum Walk {
    Done(Refused),
    /// Events at one time whose order (by id) decides: walk the events
    /// `from..to` again once the ids of `tie` (a range of them) are read.
    Ties {
        from: usize,
        to: usize,
        funded: i128,
        tie: (usize, usize),
    },
}

/// The second pass planned over the held events: per partial bucket its
/// walk, or `None` where the scan must resolve it.
pub struct Plan<'a> {
    held: &'a Held,
    walks: Vec<Option<Walk>>,
}

impl Held {
    /// Nothing held: every partial bucket goes to the scan.
    pub fn none() -> Held {
        Held {
            rule: None,
            events: Vec::new(),
            complete: false,
        }
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The held events of `p`'s bucket, as a range of `events`, when they
    /// are held and add up to its event count.
    fn range(&self, p: &PartialBucket) -> Option<(usize, usize)> {
        let rule = self.rule.as_ref().filter(|_| self.complete)?;
        let a = *rule.codes.get(&p.account_id)?;
        let ic = *rule.item_index.get(&p.item)?;
        let rr = *rule
            .pair_index
            .get(&(p.region.clone(), p.resolution.clone()))?;
        if !rule.holds(i64::from(a), ic as i64, rr as i64) {
            return None;
        }
        let c = u32::try_from(ic * rule.pairs + rr).ok()?;
        let at = |t: i64| {
            self.events
                .partition_point(|e| (e.account, e.code, e.t) < (a, c, t))
        };
        let (from, to) = (at(p.start), at(p.end));
        (to - from == usize::try_from(p.events).ok()?).then_some((from, to))
    }

    /// Walk each of `partials` over its held events.
    pub fn plan(&self, partials: &[PartialBucket]) -> Plan<'_> {
        let walks = partials
            .par_iter()
            .map(|p| {
                let (from, to) = self.range(p)?;
                let funded = i128::from(p.funded_micro());
                Some(match walk(&self.events[from..to], funded, None) {
                    Ok(done) => Walk::Done(done),
                    Err((a, b)) => Walk::Ties {
                        from,
                        to,
                        funded,
                        tie: (from + a, from + b),
                    },
                })
            })
            .collect();
        Plan { held: self, walks }
    }
}

impl Plan<'_> {
    /// Partial buckets the scan must resolve.
    pub fn unresolved(&self) -> usize {
        self.walks.iter().filter(|w| w.is_none()).count()
    }

    /// The rows whose event ids the walks need: each first refused event,
    /// and every event of a tie in time.
    pub fn rows(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for w in self.walks.iter().flatten() {
            match w {
                Walk::Done(Some((_, First::Row(r), _))) => out.push(*r),
                Walk::Done(_) => {}
                Walk::Ties { tie: (a, b), .. } => {
                    out.extend(self.held.events[*a..*b].iter().map(|e| e.row));
                }
            }
        }
        out
    }

    /// Each partial bucket's resolution, in order: from its walk with the
    /// ids `names` (as [`Plan::rows`] asked), else from `scan` (given the
    /// partial buckets left, in order).
    pub fn finish(
        self,
        partials: &[PartialBucket],
        names: &PlHashMap<i64, String>,
        scan: impl FnOnce(&[PartialBucket]) -> Result<Vec<Option<PartialResolution>>>,
    ) -> Result<Vec<Option<PartialResolution>>> {
        let events = &self.held.events;
        let done: Vec<Option<Option<PartialResolution>>> = self
            .walks
            .into_iter()
            .map(|w| {
                let done = match w? {
                    Walk::Done(d) => d,
                    Walk::Ties {
                        from, to, funded, ..
                    } => walk(&events[from..to], funded, Some(names)).ok()?,
                };
                Some(match done {
                    None => None,
                    Some((first_time, first, refused_events)) => Some(PartialResolution {
                        first_time,
                        first_event_id: match first {
                            First::Row(r) => names.get(&r)?.clone(),
                            First::Id(id) => id,
                        },
                        refused_events,
                    }),
                })
            })
            .collect();
        let rest: Vec<PartialBucket> = partials
            .iter()
            .zip(&done)
            .filter(|(_, d)| d.is_none())
            .map(|(p, _)| p.clone())
            .collect();
        let mut scanned = if rest.is_empty() {
            Vec::new()
        } else {
            tracing::info!(
                buckets = rest.len(),
                "second pass: buckets not held, scanned"
            );
            scan(&rest)?
        }
        .into_iter();
        Ok(done
            .into_iter()
            .map(|d| d.unwrap_or_else(|| scanned.next().flatten()))
            .collect())
    }
}

/// One bucket's events in event order (time, then id) against `funded`
/// micro-units: the events whose running total exceeds it are refused.
/// Gives none refused or (first refused time, that event, refused count);
/// `Err` with the range of the tie in time whose order decides, when it
/// needs `ids` and they are not given (or lack one of its rows).
///
/// Held events are never negative (the holder gives up on one), so the
/// running total only rises: the events before the time group where it
/// first exceeds `funded` are funded, those after are refused, and only
/// within that group does the order by id matter. The first refused event
/// is then the least id among the group's refused events, as the scan has it.
fn walk(
    events: &[HeldEvent],
    funded: i128,
    ids: Option<&PlHashMap<i64, String>>,
) -> std::result::Result<Refused, (usize, usize)> {
    let mut cum: i128 = 0;
    let mut k = 0;
    while k < events.len() {
        let t = events[k].t;
        let mut e = k + 1;
        while e < events.len() && events[e].t == t {
            e += 1;
        }
        let group = &events[k..e];
        let sum: i128 = group.iter().map(|x| i128::from(x.m)).sum();
        if cum + sum <= funded {
            cum += sum;
            k = e;
            continue;
        }
        let after = (events.len() - e) as u64;
        if let [one] = group {
            return Ok(Some((t, First::Row(one.row), 1 + after)));
        }
        let by_id: Option<Vec<(&str, i64)>> = ids.and_then(|ids| {
            group
                .iter()
                .map(|x| Some((ids.get(&x.row)?.as_str(), x.m)))
                .collect()
        });
        let Some(mut by_id) = by_id else {
            return Err((k, e));
        };
        by_id.sort_unstable();
        for (n, (id, m)) in by_id.iter().enumerate() {
            cum += i128::from(*m);
            if cum > funded {
                let refused = (by_id.len() - n) as u64 + after;
                return Ok(Some((t, First::Id(id.to_string()), refused)));
            }
        }
        unreachable!("the group's sum exceeds the funded part");
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MICRO: i64 = 1_000_000;

    fn ev(t: i64, row: i64, m: i64) -> HeldEvent {
        HeldEvent {
            account: 0,
            code: 0,
            t,
            row,
            m,
        }
    }

    fn names(pairs: &[(i64, &str)]) -> PlHashMap<i64, String> {
        pairs.iter().map(|(r, s)| (*r, s.to_string())).collect()
    }

    #[test]
    fn a_walk_finds_the_first_refused_event_and_counts_the_refused() {
        // Funded 2 of 4 one-unit events at distinct times: the third is first.
        let evs = [
            ev(1, 10, MICRO),
            ev(2, 11, MICRO),
            ev(3, 12, MICRO),
            ev(4, 13, MICRO),
        ];
        let w = walk(&evs, 2 * i128::from(MICRO), None);
        assert_eq!(w, Ok(Some((3, First::Row(12), 2))));
        // Funded part-way into an event: that event is the first refused.
        let w = walk(&evs, 2 * i128::from(MICRO) + 1, None);
        assert_eq!(w, Ok(Some((3, First::Row(12), 2))));
        // All funded: none refused.
        assert_eq!(walk(&evs, 4 * i128::from(MICRO), None), Ok(None));
        // A zero event after the crossing is refused too (its running total
        // is still above the funded part); one before it is not.
        let evs = [ev(0, 9, 0), ev(1, 10, MICRO), ev(2, 11, 0)];
        assert_eq!(walk(&evs, 0, None), Ok(Some((1, First::Row(10), 2))));
    }

    #[test]
    fn ties_in_time_are_ordered_by_event_id() {
        // Three events at t = 5: rows 20, 21, 22 with ids "c", "a", "b";
        // funded 1 unit: in id order a (funded), b (refused first), c; and
        // the event after the tie.
        let evs = [
            ev(1, 9, 0),
            ev(5, 20, MICRO),
            ev(5, 21, MICRO),
            ev(5, 22, MICRO),
            ev(6, 30, MICRO),
        ];
        let funded = i128::from(MICRO);
        assert_eq!(
            walk(&evs, funded, None),
            Err((1, 4)),
            "the tie needs its ids"
        );
        let ids = names(&[(20, "c"), (21, "a"), (22, "b")]);
        let w = walk(&evs, funded, Some(&ids));
        assert_eq!(w, Ok(Some((5, First::Id("b".into()), 3))));
        // A tie wholly funded, or after the first refused event, needs no ids.
        assert_eq!(
            walk(&evs, 3 * funded, None),
            Ok(Some((6, First::Row(30), 1)))
        );
        assert_eq!(walk(&evs, 4 * funded, None), Ok(None));
        // The first refused time's tie names its least refused id.
        let evs = [ev(5, 20, MICRO), ev(5, 21, MICRO)];
        let ids = names(&[(20, "z"), (21, "y")]);
        assert_eq!(
            walk(&evs, 0, Some(&ids)),
            Ok(Some((5, First::Id("y".into()), 2)))
        );
        // An id missing: the walk cannot finish.
        let ids = names(&[(20, "z")]);
        assert_eq!(walk(&evs, 0, Some(&ids)), Err((0, 2)));
    }

    #[test]
    fn the_holder_sorts_what_it_keeps_and_keeps_nothing_past_its_limit() {
        let holder = |limit| Holder {
            rule: Arc::new(Rule {
                codes: PlHashMap::default(),
                flags: Vec::new(),
                items: 0,
                unpriced: Vec::new(),
                pairs: 0,
                item_index: PlHashMap::default(),
                pair_index: PlHashMap::default(),
            }),
            events: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            given_up: AtomicBool::new(false),
            limit,
        };
        let h = holder(3);
        h.keep(vec![ev(2, 1, 1), ev(1, 2, 1)]);
        h.keep(vec![ev(0, 3, 1)]);
        let held = h.finish();
        assert!(held.complete);
        assert_eq!(held.events, vec![ev(0, 3, 1), ev(1, 2, 1), ev(2, 1, 1)]);
        let h = holder(3);
        h.keep(vec![ev(1, 1, 1), ev(2, 2, 1)]);
        h.keep(vec![ev(3, 3, 1), ev(4, 4, 1)]);
        let held = h.finish();
        assert!(!held.complete && held.events.is_empty());
    }
}
