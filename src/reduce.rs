//! The event-level stage, polars expressions over the streamed events:
//! per-task rounding, settlement cycles in the billing time zone, and the
//! reduction of events to compact [`Bucket`]s for the per-account stage
//! (summed per packed key by [`crate::grouping`]).
//!
//! ## Buckets that never straddle a cut
//! Deduction needs to know, for every event, which packages are valid, whether
//! the account is suspended and whether a refund has happened. Those change only
//! at *cut points*: a package's `effective_at`, `expires_at` and in-period
//! `refunded_at`, and suspension edges. Between two cut points the greedy,
//! priority-ordered deduction of a sum equals the deduction of its events one by
//! one, so events may be summed as long as no bucket contains a cut.
//!
//! Each event goes to the coarsest aligned bucket (the cycle, then its calendar
//! day, hour, minute, second, else its exact instant, all in the billing time
//! zone) that no cut of its account and item falls strictly inside. Each event
//! looks its account and item up in a map of the cuts inside the period and
//! finds its level by binary search ([`bucket_of`]), in an elementwise
//! expression, so the work stays linear in events and streaming-friendly;
//! accounts without cuts in the period collapse to one row per item and
//! cycle.

use std::collections::BTreeSet;
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::Array;
use rayon::prelude::*;
use rust_decimal::prelude::*;

use crate::catalog::{Catalog, Cycle, Measure};
use crate::engine::{PartialBucket, PartialResolution};
use crate::error::Result;
use crate::grouping::{Event, Group, Scatter};
use crate::held::{Held, HeldEvent, Holder, Refusable, HELD_MAX_EVENTS};
use crate::ingest::{str_list, UsageScan};
use crate::model::{Bucket, Micros};
use crate::period::{Period, DAY, HOUR, MINUTE, SECOND};

const MICRO: i64 = 1_000_000;
/// The bucket levels finer than a day, coarse to fine.
const LEVELS: [(&str, i64); 4] = [
    ("day", DAY),
    ("hour", HOUR),
    ("minute", MINUTE),
    ("second", SECOND),
];
/// Events a bucket may hold for an exact i64 sum of whole units: each event
/// is below 10^12 units, so fewer than 9.2 million cannot overflow.
const MAX_EVENTS_I64: i64 = 9_000_000;
/// Stand-in width for the month cycle (wider than any fixed level).
const MONTH_W: i64 = i64::MAX;
/// The bucket level of a whole-period bucket (0 is an exact instant, then
/// the [`LEVELS`] from seconds up to days).
const PERIOD_LEVEL: i64 = LEVELS.len() as i64 + 1;
/// Bits of a bucket's start offset into the period (2^42 µs is 50 days).
const OFFSET_BITS: u32 = 42;
/// Bucket levels: 0 (an instant) up to [`PERIOD_LEVEL`].
const LEVEL_COUNT: i64 = PERIOD_LEVEL + 1;

/// A point in time where deduction state may change for one account and item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cut {
    pub account_id: String,
    pub item: String,
    pub at: Micros,
}

/// How an item's billable measure is read from an event.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    Quantity,
    InPlusOut,
    In,
    Out,
}

/// Per-item parameters by catalog index (`_ic`), looked up per event by
/// elementwise expressions (no join, which would copy every column).
struct ItemTable {
    codes: PlHashMap<String, i64>,
    read: Vec<Read>,
    /// Per-task rounding step in micro-units (0: none).
    step: Vec<i64>,
    free_preview: Vec<bool>,
    cycle_w: Vec<i64>,
    default_region: Vec<Option<String>>,
}

impl ItemTable {
    fn new(catalog: &Catalog) -> std::sync::Arc<ItemTable> {
        let mut t = ItemTable {
            codes: PlHashMap::default(),
            read: Vec::new(),
            step: Vec::new(),
            free_preview: Vec::new(),
            cycle_w: item_cycles(catalog),
            default_region: Vec::new(),
        };
        for p in &catalog.products {
            for i in &p.items {
                let n = t.codes.len() as i64;
                t.codes.entry(i.id.clone()).or_insert(n);
                t.default_region.push(p.default_region.clone());
                t.read.push(match i.measure {
                    Measure::Count | Measure::Quantity | Measure::Tokens => Read::Quantity,
                    Measure::InputPlusOutputSeconds => Read::InPlusOut,
                    Measure::InputSeconds => Read::In,
                    Measure::OutputSeconds => Read::Out,
                });
                // Steps are validated positive decimals with at most 6 places.
                t.step.push(
                    i.rounding
                        .as_ref()
                        .and_then(|r| (r.step * Decimal::from(MICRO)).to_i64())
                        .unwrap_or(0),
                );
                t.free_preview.push(i.free_when_preview);
            }
        }
        std::sync::Arc::new(t)
    }

    /// The billable micro-units of one event of item `ic`: the item's
    /// measure, rounded up to its per-task step, zero for a preview call
    /// of an item whose previews are free; null when the measure is.
    fn billable(
        &self,
        ic: usize,
        quantity: Option<i64>,
        input: Option<i64>,
        output: Option<i64>,
        preview: Option<bool>,
    ) -> Option<i64> {
        let (inp, outp) = (input.unwrap_or(0), output.unwrap_or(0));
        let m = match self.read[ic] {
            Read::Quantity => quantity,
            Read::InPlusOut => Some(inp + outp),
            Read::In => Some(inp),
            Read::Out => Some(outp),
        };
        let step = self.step[ic];
        let rounded = match step {
            s if s > 0 => m.map(|m| (m + s - 1).div_euclid(s) * s),
            _ => m,
        };
        if self.free_preview[ic] && preview == Some(true) {
            Some(0)
        } else {
            rounded
        }
    }
}

/// The item's catalog index (`_ic`) of each event; null for an item the
/// catalog does not list.
fn item_code(t: std::sync::Arc<ItemTable>) -> Expr {
    col("item").map(
        move |c| {
            let items = Strs::new(c.str()?);
            let mut out = I64Out::with_capacity(c.len());
            for k in 0..c.len() {
                out.push(items.get(k).and_then(|s| t.codes.get(s).copied()));
            }
            Ok(out.finish("_ic"))
        },
        |_, _| Ok(Field::new("_ic".into(), DataType::Int64)),
    )
}

/// An elementwise expression making the `Int64` column `name` from `input`.
fn i64_column(
    input: Expr,
    name: &'static str,
    f: impl Fn(&Column) -> PolarsResult<Int64Chunked> + Send + Sync + 'static,
) -> Expr {
    input.map(
        move |c| Ok(f(&c)?.with_name(name.into()).into_column()),
        move |_, _| Ok(Field::new(name.into(), DataType::Int64)),
    )
}

/// Billable measure per event in micro-units ([`ItemTable::billable`]).
fn billable_micro(t: std::sync::Arc<ItemTable>) -> Expr {
    col("_ic").map_many(
        move |c: &mut [Column]| {
            let (ic, q) = (Ints::new(c[0].i64()?), Ints::new(c[1].i64()?));
            let (inp, outp) = (Ints::new(c[2].i64()?), Ints::new(c[3].i64()?));
            let preview = Bools::new(c[4].bool()?);
            let mut out = I64Out::with_capacity(c[0].len());
            for k in 0..c[0].len() {
                out.push(ic.get(k).and_then(|ic| {
                    t.billable(
                        ic as usize,
                        q.get(k),
                        inp.get(k),
                        outp.get(k),
                        preview.get(k),
                    )
                }));
            }
            Ok(out.finish("_m"))
        },
        &[
            col("quantity_micro"),
            col("input_micro"),
            col("output_micro"),
            col("preview_only"),
        ],
        |_, _| Ok(Field::new("_m".into(), DataType::Int64)),
    )
}

/// Each event's item's cycle width (`_cycle_w`).
fn cycle_width(t: std::sync::Arc<ItemTable>) -> Expr {
    i64_column(col("_ic"), "_cycle_w", move |c| {
        Ok(c.i64()?
            .iter()
            .map(|ic| ic.map(|ic| t.cycle_w[ic as usize]))
            .collect())
    })
}

/// Each event's region, its product's default where it has none.
fn region_or_default(t: std::sync::Arc<ItemTable>) -> Expr {
    col("region").map_many(
        move |c: &mut [Column]| {
            let (region, ic) = (c[0].str()?, c[1].i64()?);
            let filled: StringChunked = region
                .iter()
                .zip(ic.iter())
                .map(|(r, ic)| r.or_else(|| t.default_region[ic? as usize].as_deref()))
                .collect();
            Ok(filled.with_name("region".into()).into_column())
        },
        &[col("_ic")],
        |_, _| Ok(Field::new("region".into(), DataType::String)),
    )
}

/// The catalog's item ids, in the order of their `_ic` codes.
fn item_ids(catalog: &Catalog) -> Vec<&str> {
    catalog
        .products
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.id.as_str()))
        .collect()
}

/// Each item's cycle width (`MONTH_W` for the month), in `_ic` order.
fn item_cycles(catalog: &Catalog) -> Vec<i64> {
    catalog
        .products
        .iter()
        .flat_map(|p| {
            p.items.iter().map(|i| match i.cycle {
                Cycle::Hour => HOUR,
                Cycle::Day => DAY,
                Cycle::Month => MONTH_W,
            })
        })
        .collect()
}

/// A `(region, resolution)` pair of an event, after default regions.
type Variant = (Option<String>, Option<String>);

/// Every pair an event may carry once a null region takes its product's
/// default: the pairs read, with each null region also as every default.
/// Their index is the `_rr` code the reduction groups on.
fn variant_list(variants: &DataFrame, catalog: &Catalog) -> Result<Vec<Variant>> {
    let mut defaults: BTreeSet<Option<String>> = catalog
        .products
        .iter()
        .map(|p| p.default_region.clone())
        .collect();
    defaults.insert(None);
    let region = variants.column("region")?.str()?;
    let resolution = variants.column("resolution")?.str()?;
    let mut set = BTreeSet::new();
    for k in 0..variants.height() {
        let s = resolution.get(k).map(str::to_string);
        match region.get(k) {
            Some(r) => {
                set.insert((Some(r.to_string()), s));
            }
            None => {
                for d in &defaults {
                    set.insert((d.clone(), s.clone()));
                }
            }
        }
    }
    Ok(set.into_iter().collect())
}

/// Successful events of catalog items with their item's index (`_ic`) and
/// billable micro-units (`_m`); with `fill_region`, `region` is the
/// product's default where the event has none (the reduction reads the
/// default in [`VariantCodes`] instead, without copying the column).
fn prepared(usage: LazyFrame, items: &std::sync::Arc<ItemTable>, fill_region: bool) -> LazyFrame {
    let lf = usage
        .filter(col("success"))
        .with_column(item_code(items.clone()).alias("_ic"))
        .filter(col("_ic").is_not_null())
        .with_column(billable_micro(items.clone()).alias("_m"));
    if fill_region {
        lf.with_column(region_or_default(items.clone()).alias("region"))
    } else {
        lf
    }
}

/// Seeds of the pair-key hashes (any fixed values; see [`pair_key`]).
const KEY_SEEDS: [[u64; 4]; 2] = [
    [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ],
    [
        0x4528_21e6_38d0_1377,
        0xbe54_66cf_34e9_0c6c,
        0xc0ac_29b7_c97c_50dd,
        0x3f84_d5b5_b547_0917,
    ],
];

/// A 64-bit key of (account, item), for the second pass's join: the rows it
/// joins are then compared on the account and item themselves, so pairs
/// whose keys collide are never mixed up.
fn pair_key() -> Expr {
    let [a, i] = KEY_SEEDS;
    col("account_id")
        .hash(a[0], a[1], a[2], a[3])
        .xor(col("item").hash(i[0], i[1], i[2], i[3]))
}

/// The cuts strictly inside the period, as sorted local instants, of each
/// account's items (by catalog index, `_ic`) that have any.
type PairCuts = PlHashMap<String, Vec<(i64, Vec<i64>)>>;

/// [`PairCuts`] of `cuts` in `period`. A cut of an item the catalog does
/// not list is left out: such events never reach the buckets.
fn pair_cuts(cuts: &[Cut], period: &Period, catalog: &Catalog) -> PairCuts {
    let offset = i64::from(period.offset) * MICRO;
    let (start, end) = (period.start(), period.end());
    let items = item_ids(catalog);
    let mut out = PairCuts::default();
    for c in cuts.iter().filter(|c| start < c.at && c.at < end) {
        let Some(ic) = items.iter().position(|i| *i == c.item) else {
            continue;
        };
        let pairs = out.entry(c.account_id.clone()).or_default();
        let k = match pairs.iter().position(|p| p.0 == ic as i64) {
            Some(k) => k,
            None => {
                pairs.push((ic as i64, Vec::new()));
                pairs.len() - 1
            }
        };
        pairs[k].1.push(c.at + offset);
    }
    for (_, times) in out.values_mut().flat_map(|p| p.iter_mut()) {
        times.sort_unstable();
        times.dedup();
    }
    out
}

/// The bucket `(level, start)` of an event at local time `t` of an item whose
/// cycle is `cycle_w` wide, for a pair whose cuts inside the period are
/// `cuts` (local, sorted; see [`pair_cuts`]): the whole period when the
/// cycle is the month and the pair has no cut, else the coarsest aligned
/// level no wider than the cycle with no cut strictly inside the event's
/// bucket, else the event's own instant (level 0). A cut on a bucket's edge
/// is not inside it.
fn bucket_of(t: i64, cycle_w: i64, cuts: &[i64], pstart_local: i64) -> (i64, i64) {
    if cycle_w == MONTH_W && cuts.is_empty() {
        return (PERIOD_LEVEL, pstart_local);
    }
    for (k, &(_, w)) in LEVELS.iter().enumerate() {
        if cycle_w < w {
            continue;
        }
        let b = t.div_euclid(w) * w;
        let next = cuts.partition_point(|&c| c <= b);
        if next == cuts.len() || cuts[next] >= b + w {
            return ((LEVELS.len() - k) as i64, b);
        }
    }
    (0, t)
}

/// The bucket of each event as one integer, `level << OFFSET_BITS` plus the
/// bucket's start offset into the period ([`bucket_of`]), from its account
/// (`account_id`), item (`_ic`), local time (`_local`) and cycle width
/// (`_cycle_w`): one look-up per event in the accounts with cuts, an
/// elementwise expression the streaming engine runs batch by batch.
fn bucket_low(cuts: PairCuts, pstart_local: i64) -> Expr {
    let cuts = std::sync::Arc::new(cuts);
    col("account_id").map_many(
        move |c: &mut [Column]| {
            let (accounts, items) = (c[0].str()?, c[1].i64()?);
            let (times, cycles) = (c[2].i64()?, c[3].i64()?);
            let low: Int64Chunked = accounts
                .iter()
                .zip(items.iter())
                .zip(times.iter().zip(cycles.iter()))
                .map(|((a, ic), (t, w))| {
                    let (t, w) = (t?, w?);
                    let pair = match (a, ic) {
                        (Some(a), Some(ic)) if !cuts.is_empty() => cuts
                            .get(a)
                            .and_then(|p| p.iter().find(|p| p.0 == ic))
                            .map(|p| p.1.as_slice()),
                        _ => None,
                    };
                    let (level, start) = bucket_of(t, w, pair.unwrap_or(&[]), pstart_local);
                    Some((level << OFFSET_BITS) + (start - pstart_local))
                })
                .collect();
            Ok(low.with_name("_low".into()).into_column())
        },
        &[col("_ic"), col("_local"), col("_cycle_w")],
        |_, _| Ok(Field::new("_low".into(), DataType::Int64)),
    )
}

/// Dense integer codes for the account ids of the events: the accounts
/// with cuts first, in sorted order (their codes index the cut table), then
/// the others as the scan meets them. The codes of the others depend on the
/// order batches arrive in; only the grouping does, not the buckets, which
/// are named by the account id again afterwards.
struct AccountCodes {
    codes: std::sync::RwLock<PlHashMap<String, i64>>,
}

impl AccountCodes {
    fn seeded<'a>(ids: impl IntoIterator<Item = &'a str>) -> AccountCodes {
        let mut codes = PlHashMap::default();
        for id in ids {
            let n = codes.len() as i64;
            codes.entry(id.to_string()).or_insert(n);
        }
        AccountCodes {
            codes: std::sync::RwLock::new(codes),
        }
    }

    /// The code of each account of a batch whose row is `live` (null for a
    /// null id or a row not live): looked up under one shared lock, the
    /// accounts new to the scan numbered under one exclusive lock.
    fn of(&self, accounts: &StringChunked, live: &[bool]) -> Vec<Option<i64>> {
        let mut out = Vec::with_capacity(accounts.len());
        let mut new = Vec::new();
        {
            let codes = self.codes.read().unwrap_or_else(|e| e.into_inner());
            for (k, a) in accounts.iter().enumerate() {
                out.push(a.filter(|_| live[k]).and_then(|a| {
                    let c = codes.get(a).copied();
                    if c.is_none() {
                        new.push(k);
                    }
                    c
                }));
            }
        }
        if !new.is_empty() {
            let mut codes = self.codes.write().unwrap_or_else(|e| e.into_inner());
            for k in new {
                let a = accounts.get(k).expect("only non-null ids are new");
                let n = codes.len() as i64;
                out[k] = Some(*codes.entry(a.to_string()).or_insert(n));
            }
        }
        out
    }

    /// Account ids by code, once the scan is over.
    fn names(&self) -> Vec<String> {
        let codes = self.codes.read().unwrap_or_else(|e| e.into_inner());
        let mut names = vec![String::new(); codes.len()];
        for (id, &c) in codes.iter() {
            names[c as usize] = id.clone();
        }
        names
    }
}

/// The one-integer group key of the packed reduction.
///
/// A bucket of a level above the instant is `((account × codes + code) ×
/// levels + level) × slots + second`: account code, item × pair code,
/// level, and its start in whole seconds into the period. An instant
/// (level 0) only happens in a second a cut of its pair falls strictly
/// inside; each such (pair, cut) has an index `g` ([`CutTable`]), and the
/// instant is `-1 - ((g × pairs + pair) × 10^6 + µs into that second)`.
/// Both are exact while they stay within 63 bits, which [`Packing::new`]
/// and [`Packing::key`] check.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Packing {
    /// Item × (region, resolution) codes.
    codes: i64,
    /// (region, resolution) pairs.
    pairs: i64,
    /// Seconds in the period, plus one.
    slots: i64,
    /// Account codes that still fit.
    accounts: i64,
    /// Cuts inside the period (the `g` of an instant is below).
    cuts: i64,
}

impl Packing {
    /// The packing for `items` items, `pairs` pairs, `cuts` cuts and a
    /// period `period_len` µs long, if at least one account fits.
    fn new(items: i64, pairs: i64, cuts: i64, period_len: i64) -> Option<Packing> {
        let codes = items.checked_mul(pairs)?;
        let slots = period_len / SECOND + 1;
        let per_account = codes.checked_mul(LEVEL_COUNT)?.checked_mul(slots)?;
        let accounts = i64::MAX / per_account.max(1);
        cuts.checked_mul(pairs)?.checked_mul(SECOND)?;
        (codes > 0 && accounts > 0).then_some(Packing {
            codes,
            pairs,
            slots,
            accounts,
            cuts,
        })
    }

    /// The key of a bucket above the instant level.
    fn key(&self, account: i64, code: i64, level: i64, second: i64) -> Option<i64> {
        (account < self.accounts && level > 0 && (0..self.slots).contains(&second))
            .then(|| ((account * self.codes + code) * LEVEL_COUNT + level) * self.slots + second)
    }

    /// The key of an instant `micro` µs into the second of cut `g`, pair `pair`.
    fn instant(&self, g: i64, pair: i64, micro: i64) -> Option<i64> {
        ((0..self.cuts).contains(&g) && (0..SECOND).contains(&micro))
            .then(|| -1 - ((g * self.pairs + pair) * SECOND + micro))
    }

    /// The parts of a key: `Ok((account, code, level, second))` above the
    /// instant level, `Err((g, pair, micro))` for an instant.
    #[allow(clippy::type_complexity)]
    fn parts(&self, key: i64) -> std::result::Result<(i64, i64, i64, i64), (i64, i64, i64)> {
        if key < 0 {
            let v = -1 - key;
            let (rest, micro) = (v / SECOND, v % SECOND);
            return Err((rest / self.pairs, rest % self.pairs, micro));
        }
        let (rest, second) = (key / self.slots, key % self.slots);
        let (rest, level) = (rest / LEVEL_COUNT, rest % LEVEL_COUNT);
        Ok((rest / self.codes, rest % self.codes, level, second))
    }
}

/// The cuts of the packed reduction, by account code: per item (`_ic`) of
/// the account, its sorted local cut instants and the index `g` of the
/// first of them among all cuts (so cut `k` of the pair is `g + k`).
type CutTable = Vec<Vec<(i64, Vec<i64>, i64)>>;

/// What [`packed_key`] makes each event's key from.
struct KeyParts {
    accounts: std::sync::Arc<AccountCodes>,
    variants: VariantCodes,
    cuts: CutTable,
    pack: Packing,
    pstart_local: i64,
    offset: i64,
    holder: Arc<Holder>,
}

/// The packed group key `_key` of each event ([`Packing`]), from its account
/// (`account_id`, coded by `accounts`), item (`_ic`), `(region,
/// resolution)` (coded by `variants`) and time (`t`, made local with
/// `offset`) in the item's cycle; the cuts of the seeded accounts are
/// `cuts[account code]`. One expression for all of it, so the codes and
/// local times are never columns of their own. A key that does not fit
/// stops the scan with [`PACKED_KEY_FULL`] (the caller then groups on the
/// account id itself).
fn packed_key(parts: KeyParts) -> Expr {
    col("account_id").map_many(
        move |c: &mut [Column]| {
            let KeyParts {
                accounts,
                variants,
                cuts,
                pack,
                pstart_local,
                offset,
                holder,
            } = &parts;
            let (pack, pstart_local, offset) = (*pack, *pstart_local, *offset);
            let n = c[0].len();
            let items = Ints::new(c[1].i64()?);
            let (success, kept) = (Bools::new(c[7].bool()?), Bools::new(c[8].bool()?));
            // The rows bucketed: kept, successful calls of catalog items.
            // The others get no key, and the group-by passes over them.
            let live: Vec<bool> = (0..n)
                .map(|k| {
                    kept.get(k) == Some(true)
                        && success.get(k) == Some(true)
                        && items.get(k).is_some()
                })
                .collect();
            let codes = accounts.of(c[0].str()?, &live);
            let (regions, resolutions) = (Strs::new(c[2].str()?), Strs::new(c[3].str()?));
            let (times, micro, rows) = (
                Ints::new(c[4].i64()?),
                Ints::new(c[5].i64()?),
                Ints::new(c[6].i64()?),
            );
            let mut keys = I64Out::with_capacity(n);
            let mut held = Vec::new();
            for (k, a) in codes.into_iter().enumerate() {
                if !live[k] {
                    keys.push(None);
                    continue;
                }
                let missing = || polars_err!(ComputeError: "{KEY_PART_MISSING}");
                let (Some(a), Some(ic), Some(utc)) = (a, items.get(k), times.get(k)) else {
                    return Err(missing());
                };
                let rr = variants
                    .code(regions.get(k), resolutions.get(k), ic)
                    .ok_or_else(missing)?;
                if holder.holds(a, ic, rr) {
                    match (micro.get(k), rows.get(k)) {
                        (Some(m), Some(row)) if m >= 0 => held.push(HeldEvent {
                            account: a as u32,
                            code: (ic * pack.pairs + rr) as u32,
                            t: utc,
                            row,
                            m,
                        }),
                        _ => holder.give_up(),
                    }
                }
                let t = utc + offset;
                let w = variants.items.cycle_w[ic as usize];
                let pair = cuts
                    .get(a as usize)
                    .and_then(|p| p.iter().find(|p| p.0 == ic));
                let times = pair.map(|p| p.1.as_slice()).unwrap_or(&[]);
                let (level, start) = bucket_of(t, w, times, pstart_local);
                let key = if level > 0 {
                    let second = (start - pstart_local).div_euclid(SECOND);
                    pack.key(a, ic * pack.pairs + rr, level, second)
                } else {
                    // The cut inside the event's second.
                    let b = t.div_euclid(SECOND) * SECOND;
                    let next = times.partition_point(|&c| c <= b) as i64;
                    pair.and_then(|p| pack.instant(p.2 + next, rr, t - b))
                };
                keys.push(Some(
                    key.ok_or_else(|| polars_err!(ComputeError: "{PACKED_KEY_FULL}"))?,
                ));
            }
            holder.keep(held);
            Ok(keys.finish("_key"))
        },
        &[
            col("_ic"),
            col("region"),
            col("resolution"),
            col("t"),
            col("_m"),
            col("_row"),
            col("success"),
            col("_kept"),
        ],
        |_, _| Ok(Field::new("_key".into(), DataType::Int64)),
    )
}

/// The error of a bucketed row without an account, time or known
/// `(region, resolution)` (validation and the pairs read make it
/// impossible).
const KEY_PART_MISSING: &str =
    "internal: a usage row's account or (region, resolution) is missing from the keys read";

/// The error [`packed_key`] stops the scan with when a key does not fit.
const PACKED_KEY_FULL: &str = "reckon: the packed bucket key is full";

/// The `_rr` code of an event's `(region, resolution)`, a null region read
/// as its product's default: its index in the pairs of [`variant_list`]
/// (none if absent, which the caller reports).
struct VariantCodes {
    /// Per region, the few resolutions of that region with their codes.
    by_region: PlHashMap<String, Vec<(Option<String>, i64)>>,
    /// The same for no region at all.
    nulls: Vec<(Option<String>, i64)>,
    /// Per item, the code of an event with neither region nor resolution
    /// (most events), found once.
    bare: Vec<Option<i64>>,
    items: std::sync::Arc<ItemTable>,
}

impl VariantCodes {
    fn new(pairs: &[Variant], items: std::sync::Arc<ItemTable>) -> VariantCodes {
        let mut by_region: PlHashMap<Option<String>, Vec<(Option<String>, i64)>> =
            PlHashMap::default();
        for (k, (region, resolution)) in pairs.iter().enumerate() {
            by_region
                .entry(region.clone())
                .or_default()
                .push((resolution.clone(), k as i64));
        }
        let nulls = by_region.remove(&None).unwrap_or_default();
        let by_region = by_region
            .into_iter()
            .map(|(r, v)| (r.expect("the null region was taken out"), v))
            .collect();
        let mut codes = VariantCodes {
            by_region,
            nulls,
            bare: Vec::new(),
            items,
        };
        codes.bare = (0..codes.items.default_region.len() as i64)
            .map(|ic| codes.look_up(None, None, ic))
            .collect();
        codes
    }

    /// The code of `(region, resolution)` for an event of item `ic`.
    #[inline]
    fn code(&self, region: Option<&str>, resolution: Option<&str>, ic: i64) -> Option<i64> {
        match (region, resolution) {
            (None, None) => *self.bare.get(usize::try_from(ic).ok()?)?,
            _ => self.look_up(region, resolution, ic),
        }
    }

    fn look_up(&self, region: Option<&str>, resolution: Option<&str>, ic: i64) -> Option<i64> {
        // No region: the product's default.
        let region = region.or_else(|| self.items.default_region[ic as usize].as_deref());
        let of_region = match region {
            Some(r) => self.by_region.get(r)?,
            None => &self.nulls,
        };
        of_region
            .iter()
            .find(|(s, _)| s.as_deref() == resolution)
            .map(|(_, k)| *k)
    }
}

/// The `_rr` code of each event ([`VariantCodes`]).
fn variant_code(codes: VariantCodes) -> Expr {
    col("region").map_many(
        move |c: &mut [Column]| {
            let (regions, resolutions) = (Strs::new(c[0].str()?), Strs::new(c[1].str()?));
            let ic = Ints::new(c[2].i64()?);
            let mut out = I64Out::with_capacity(c[0].len());
            for k in 0..c[0].len() {
                out.push(
                    ic.get(k)
                        .and_then(|ic| codes.code(regions.get(k), resolutions.get(k), ic)),
                );
            }
            Ok(out.finish("_rr"))
        },
        &[col("resolution"), col("_ic")],
        |_, _| Ok(Field::new("_rr".into(), DataType::Int64)),
    )
}

/// Reduce a period's usage to buckets: one vector per account (accounts,
/// and each account's buckets, in no particular order; the per-account
/// stage sorts each account's own), made on rayon an account at a time.
/// `usage` has every row read, each with `_kept`
/// ([`crate::ingest::UsageScan::marked`]): only kept rows are bucketed.
///
/// The group key is one integer ([`Packing`]): the account's code
/// ([`AccountCodes`]), the item's catalog index (`_ic`) with the `(region,
/// resolution)` pair's index in [`variant_list`] (`_rr`, by an exact
/// look-up in the few pairs `variants` lists, [`variant_code`]), and the
/// bucket's level and start. Where that cannot hold every bucket (more
/// accounts × codes × levels × seconds than 63 bits hold) the keys are the
/// account id and two integers. A bucket keeps its smallest row key, not
/// an id: a one-event bucket carries its event's row key, whose id is read
/// only if an exception names that event ([`crate::ingest::EventIds::lookup`]).
///
/// The events of `refusable`'s pairs are held aside as they are scanned
/// (see [`crate::held`]), for the second pass.
pub fn reduce(
    usage: LazyFrame,
    variants: &DataFrame,
    catalog: &Catalog,
    period: &Period,
    cuts: &[Cut],
    refusable: &[Refusable],
) -> Result<(Vec<Vec<Bucket>>, Held)> {
    reduce_keyed(usage, variants, catalog, period, cuts, refusable, true)
}

/// What the group-by gave: per bucket, the account id, the item × pair
/// code and the bucket's `level << OFFSET_BITS` plus start offset (µs).
enum Grouped {
    /// One integer key; the account ids by code; the cuts by index `g`
    /// (account code, item, local instant).
    Packed(Packing, Vec<String>, Vec<(i64, i64, i64)>),
    /// The account id and two integers.
    Wide,
}

/// [`reduce`]; with `packed` false, always on the account id and two integers.
fn reduce_keyed(
    usage: LazyFrame,
    variants: &DataFrame,
    catalog: &Catalog,
    period: &Period,
    cuts: &[Cut],
    refusable: &[Refusable],
    packed: bool,
) -> Result<(Vec<Vec<Bucket>>, Held)> {
    let offset = i64::from(period.offset) * MICRO;
    let pstart_local = period.start() + offset;
    let period_len = period.end() - period.start();
    let pairs = variant_list(variants, catalog)?;
    let items = ItemTable::new(catalog);
    // The packed key reads every row and gives none to the rows it leaves
    // out (`_kept` false, failed calls, unknown items): filtering them
    // first would copy every other row of their batches.
    let marked = usage
        .clone()
        .with_column(item_code(items.clone()).alias("_ic"))
        .with_column(billable_micro(items.clone()).alias("_m"));
    let lf = prepared(usage.filter(col("_kept")), &items, false);
    let cuts = pair_cuts(cuts, period, catalog);

    let whole = col("_m").floor_div(lit(MICRO));
    let frac = col("_m") - whole.clone() * lit(MICRO);
    // Whole units and millionths summed apart (`_whole`, `_frac`): whole
    // units in i64, exact unless a bucket holds `MAX_EVENTS_I64` events or
    // more; then again as 38-digit decimals. (The packed key's own
    // group-by, [`packed_groups`], sums exactly in i128.)
    let aggregate = |lf: LazyFrame, keys: &[Expr]| -> PolarsResult<DataFrame> {
        let run = |sums: Vec<Expr>| -> PolarsResult<DataFrame> {
            let mut aggs = sums;
            aggs.extend([
                len().alias("_events"),
                col("t").min().alias("_first_t"),
                col("_row").min().alias("_first_row"),
            ]);
            Ok(lf
                .clone()
                .group_by(keys)
                .agg(aggs)
                .collect_with_engine(Engine::Streaming)?
                .unwrap_single())
        };
        let events_max = |df: &DataFrame| -> PolarsResult<i64> {
            Ok(df
                .column("_events")?
                .cast(&DataType::Int64)?
                .i64()?
                .max()
                .unwrap_or(0))
        };
        let split =
            |whole_sum: Expr| vec![whole_sum.alias("_whole"), frac.clone().sum().alias("_frac")];
        let df = run(split(whole.clone().sum()))?;
        if events_max(&df)? >= MAX_EVENTS_I64 {
            let wide = whole.clone().cast(DataType::Decimal(38, 0)).sum();
            run(split(wide))
        } else {
            Ok(df)
        }
    };
    let started = std::time::Instant::now();
    // Packed unless the key has no room.
    let mut seeded: Vec<&str> = cuts.keys().map(String::as_str).collect();
    seeded.sort_unstable();
    let mut table: CutTable = Vec::with_capacity(seeded.len());
    // Per cut index g: (account code, item, local cut instant).
    let mut instants: Vec<(i64, i64, i64)> = Vec::new();
    for (a, id) in seeded.iter().enumerate() {
        let mut row = Vec::new();
        for (ic, times) in &cuts[*id] {
            row.push((*ic, times.clone(), instants.len() as i64));
            instants.extend(times.iter().map(|&t| (a as i64, *ic, t)));
        }
        table.push(row);
    }
    let pack = Packing::new(
        item_ids(catalog).len() as i64,
        pairs.len() as i64,
        instants.len() as i64,
        period_len,
    );
    let mut grouped = None;
    let mut held = Held::none();
    if let Some(pack) = pack.filter(|_| packed) {
        // The accounts with cuts, then the other refusable ones, numbered
        // up front (the held events name them by code).
        let mut extra: Vec<&str> = refusable
            .iter()
            .map(|r| r.0.as_str())
            .filter(|a| !cuts.contains_key(*a))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        let seeded: Vec<&str> = seeded.iter().copied().chain(extra).collect();
        let holder = Arc::new(Holder::new(
            catalog,
            refusable,
            &seeded,
            &item_ids(catalog),
            &pairs,
            HELD_MAX_EVENTS,
        ));
        let accounts = std::sync::Arc::new(AccountCodes::seeded(seeded.iter().copied()));
        let key = packed_key(KeyParts {
            accounts: accounts.clone(),
            variants: VariantCodes::new(&pairs, items.clone()),
            cuts: table,
            pack,
            pstart_local,
            offset,
            holder: holder.clone(),
        });
        match packed_groups(marked.with_column(key.alias("_key"))) {
            Ok(df) => {
                grouped = Some((df, Grouped::Packed(pack, accounts.names(), instants)));
            }
            Err(e) if e.to_string().contains(PACKED_KEY_FULL) => holder.give_up(),
            Err(e) => return Err(e.into()),
        }
        held = holder.finish();
        tracing::info!(
            events = held.len(),
            "reduce: events held for the second pass"
        );
    }
    let (mut df, grouped) = match grouped {
        Some(g) => g,
        None => {
            let code = col("_ic") * lit(pairs.len() as i64) + col("_rr");
            let low = bucket_low(cuts, pstart_local);
            let lf = lf
                .with_columns([
                    variant_code(VariantCodes::new(&pairs, items.clone())).alias("_rr"),
                    (col("t") + lit(offset)).alias("_local"),
                    cycle_width(items.clone()).alias("_cycle_w"),
                ])
                .with_columns([code.alias("_code"), low.alias("_low")]);
            let keys = [col("account_id"), col("_code"), col("_low")];
            (aggregate(lf, &keys)?, Grouped::Wide)
        }
    };
    df.rechunk_mut_par();
    // The buckets an account at a time (accounts in no particular order),
    // so the per-account stage looks each account up once. The frame's rows
    // are put in that order first, one gather per column, and then read in
    // sequence: read in account order straight from the group-by's order,
    // each bucket's columns were cache misses one after the other (3.7 s of
    // the 100M-event month's 28 s reduction; 0.7 s now).
    let mut order: Vec<(i64, IdxSize)> = match &grouped {
        Grouped::Packed(pack, _, instants) => {
            let k = ints(&df, "_key")?;
            (0..df.height())
                .into_par_iter()
                .map(|r| {
                    let a = match pack.parts(k.get(r).unwrap_or(0)) {
                        Ok((a, ..)) => a,
                        Err((g, ..)) => instants.get(g as usize).map_or(-1, |x| x.0),
                    };
                    (a, r as IdxSize)
                })
                .collect()
        }
        Grouped::Wide => (0..df.height()).map(|r| (0, r as IdxSize)).collect(),
    };
    match &grouped {
        Grouped::Wide => {
            let a = df.column("account_id")?.str()?;
            order.par_sort_by_key(|&(_, r)| a.get(r as usize));
        }
        Grouped::Packed(..) => order.par_sort_unstable(),
    }
    let mut df = df.take(&IdxCa::from_vec(
        "_order".into(),
        order.iter().map(|&(_, r)| r).collect(),
    ))?;
    df.rechunk_mut_par();
    let i = |name: &str| ints(&df, name);
    let (events, first_t, first_row) = (i("_events")?, i("_first_t")?, i("_first_row")?);
    // The micro-units summed as they are, or whole units and millionths apart.
    let (micro_sum, frac) = match df.column("_msum") {
        Ok(_) => (Some(i("_msum")?), None),
        Err(_) => (None, Some(i("_frac")?)),
    };
    // (account, code, low) per bucket, from the packed key or the three columns.
    let (key, acc, code, low) = match &grouped {
        Grouped::Packed(..) => (Some(i("_key")?), None, None, None),
        Grouped::Wide => (
            None,
            Some(df.column("account_id")?.str()?.clone()),
            Some(i("_code")?),
            Some(i("_low")?),
        ),
    };
    let bucket_key = |r: usize| -> Option<(&str, i64, i64)> {
        match (&grouped, &key, &acc, &code, &low) {
            (Grouped::Packed(pack, names, instants), Some(k), ..) => {
                let (a, c, low) = match pack.parts(k.get(r)?) {
                    Ok((a, c, level, second)) => (a, c, (level << OFFSET_BITS) + second * SECOND),
                    Err((g, rr, micro)) => {
                        let &(a, ic, cut) = instants.get(g as usize)?;
                        let start = cut.div_euclid(SECOND) * SECOND + micro;
                        (a, ic * pack.pairs + rr, start - pstart_local)
                    }
                };
                Some((names.get(a as usize)?.as_str(), c, low))
            }
            (Grouped::Wide, _, Some(a), Some(c), Some(lo)) => {
                Some((a.get(r)?, c.get(r)?, lo.get(r)?))
            }
            _ => None,
        }
    };
    tracing::info!(
        buckets = df.height(),
        packed = matches!(grouped, Grouped::Packed(..)),
        group_by_s = started.elapsed().as_secs_f64(),
        "reduce: grouped"
    );
    let items = item_ids(catalog);
    let (narrow, wide) = match (&micro_sum, df.column("_whole")) {
        (Some(_), _) => (None, None),
        (None, whole) => {
            let whole = whole?;
            match whole.dtype() {
                DataType::Int64 => (Some(Ints::new(whole.i64()?)), None),
                _ => (None, Some(whole.cast(&DataType::String)?.str()?.clone())),
            }
        }
    };
    let frac_at = |r: usize| frac.as_ref().and_then(|f| f.get(r)).unwrap_or(0);
    let cycles = item_cycles(catalog);
    // Where each account's run of buckets starts (the rows are in account order).
    let mut starts: Vec<usize> = (0..order.len())
        .filter(|&k| {
            k == 0
                || match &acc {
                    Some(a) => a.get(k) != a.get(k - 1),
                    None => order[k].0 != order[k - 1].0,
                }
        })
        .collect();
    starts.push(order.len());
    // Text shared by one account's buckets: its id, and each item and
    // (region, resolution) made once per account on first use, so a
    // bucket's text is a reference count held by that account's task alone.
    type SharedPair = (Option<Arc<str>>, Option<Arc<str>>);
    struct Shared {
        account: Option<Arc<str>>,
        items: Vec<Option<Arc<str>>>,
        pairs: Vec<Option<SharedPair>>,
    }
    let make = |r: usize, shared: &mut Shared| -> Result<Bucket> {
        let quantity = match (&micro_sum, &narrow) {
            (Some(m), _) => {
                let m = m.get(r).unwrap_or(0);
                units(m.div_euclid(MICRO), m.rem_euclid(MICRO))
            }
            (None, Some(v)) => units(v.get(r).unwrap_or(0), frac_at(r)),
            (None, None) => {
                let t = wide.as_ref().and_then(|v| v.get(r)).unwrap_or("0");
                let t = Decimal::from_str(t).map_err(|e| {
                    crate::error::Error::Config(format!(
                        "a usage bucket's whole units {t} exceed the decimal range: {e}"
                    ))
                })?;
                (t + Decimal::new(frac_at(r), 6)).normalize()
            }
        };
        let (account, c, lo) =
            bucket_key(r).ok_or_else(|| crate::error::Error::Config(KEY_PART_MISSING.into()))?;
        let (ic, rr) = (
            (c / pairs.len() as i64) as usize,
            (c % pairs.len() as i64) as usize,
        );
        let lvl = lo >> OFFSET_BITS;
        let b0 = period.start() + (lo & ((1i64 << OFFSET_BITS) - 1));
        let width = match lvl {
            0 => 1,
            PERIOD_LEVEL => period_len,
            l => LEVELS[LEVELS.len() - l as usize].1,
        };
        let cycle_start = match cycles[ic] {
            MONTH_W => period.start(),
            w => (b0 + offset).div_euclid(w) * w - offset,
        };
        let n = events.get(r).unwrap_or(0) as u64;
        // The event's id is read only if an exception names it.
        let first_row = if n == 1 { first_row.get(r) } else { None };
        let account_id = match &shared.account {
            Some(a) if **a == *account => a.clone(),
            _ => shared.account.insert(Arc::from(account)).clone(),
        };
        let item = shared.items[ic]
            .get_or_insert_with(|| Arc::from(items[ic]))
            .clone();
        let (region, resolution) = shared.pairs[rr]
            .get_or_insert_with(|| {
                let (g, s) = &pairs[rr];
                (g.as_deref().map(Arc::from), s.as_deref().map(Arc::from))
            })
            .clone();
        Ok(Bucket {
            account_id,
            item,
            region,
            resolution,
            cycle_start,
            start: b0,
            end: b0.saturating_add(width),
            quantity,
            events: n,
            first_time: first_t.get(r).unwrap_or(0),
            first_event_id: String::new(),
            first_row,
        })
    };
    let runs = starts
        .par_windows(2)
        .map(|w| {
            let mut shared = Shared {
                account: None,
                items: vec![None; items.len()],
                pairs: vec![None; pairs.len()],
            };
            // Sized up front: a collect through `Result` would grow it by doubling.
            let mut run = Vec::with_capacity(w[1] - w[0]);
            for r in w[0]..w[1] {
                run.push(make(r, &mut shared)?);
            }
            Ok(run)
        })
        .collect::<Result<_>>()?;
    Ok((runs, held))
}

/// The packed reduction's group-by ([`crate::grouping`]): the events of
/// `lf` (with its `_key`) streamed into a [`Scatter`] and summed per key,
/// as the frame polars' group-by gives: `_key`, the micro-units summed
/// (`_msum`, or whole units and millionths apart, `_whole` and `_frac`,
/// where a sum passes i64; `_whole` as text where even that does),
/// `_events`, `_first_t` and `_first_row`. Rows without a key are passed
/// over; a null micro-unit counts as 0, as polars' sum skips it.
fn packed_groups(lf: LazyFrame) -> PolarsResult<DataFrame> {
    let scatter = Arc::new(std::sync::Mutex::new(Scatter::default()));
    let sink = Arc::clone(&scatter);
    lf.select([col("_key"), col("_m"), col("t"), col("_row")])
        .sink_batches(
            PlanCallback::new(move |df: DataFrame| {
                let column = |name: &str| -> PolarsResult<Int64Chunked> {
                    Ok(df.column(name)?.i64()?.rechunk().into_owned())
                };
                if df.height() == 0 {
                    return Ok(false);
                }
                let (key, m, t, row) = (
                    column("_key")?,
                    column("_m")?,
                    column("t")?,
                    column("_row")?,
                );
                let (key, m, t, row) = (
                    key.downcast_as_array(),
                    m.downcast_as_array(),
                    t.downcast_as_array(),
                    row.downcast_as_array(),
                );
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                // A row without a key is one the key leaves out; a keyed
                // row has its time and row key ([`packed_key`]).
                for k in (0..key.len()).filter(|&k| key.is_valid(k)) {
                    s.push(Event {
                        key: key.value(k),
                        m: if m.is_valid(k) { m.value(k) } else { 0 },
                        t: t.value(k),
                        row: row.value(k),
                    });
                }
                Ok(false)
            }),
            false,
            None,
        )?
        .collect_with_engine(Engine::Streaming)?;
    let scatter = std::mem::take(&mut *scatter.lock().unwrap_or_else(|e| e.into_inner()));
    let t = std::time::Instant::now();
    let groups = scatter.groups();
    tracing::info!(
        seconds = t.elapsed().as_secs_f64(),
        "reduce: partitions summed"
    );
    group_frame(&groups)
}

/// The frame of [`packed_groups`] from the groups of each partition.
fn group_frame(parts: &[Vec<Group>]) -> PolarsResult<DataFrame> {
    let n: usize = parts.iter().map(Vec::len).sum();
    let groups = || parts.iter().flatten();
    let column = |name: &str, f: fn(&Group) -> i64| {
        let v: Vec<i64> = groups().map(f).collect();
        Int64Chunked::from_vec(name.into(), v).into_column()
    };
    let mut columns = vec![column("_key", |g| g.key)];
    if groups().all(|g| i64::try_from(g.sum).is_ok()) {
        columns.push(column("_msum", |g| g.sum as i64));
    } else {
        let micro = i128::from(MICRO);
        let whole: Vec<i128> = groups().map(|g| g.sum.div_euclid(micro)).collect();
        let frac = column("_frac", |g| g.sum.rem_euclid(i128::from(MICRO)) as i64);
        match whole
            .iter()
            .map(|&w| i64::try_from(w))
            .collect::<std::result::Result<Vec<i64>, _>>()
        {
            Ok(w) => columns.push(Int64Chunked::from_vec("_whole".into(), w).into_column()),
            Err(_) => {
                let text: Vec<String> = whole.iter().map(i128::to_string).collect();
                columns.push(
                    StringChunked::from_iter_values("_whole".into(), text.iter()).into_column(),
                );
            }
        }
        columns.push(frac);
    }
    columns.extend([
        column("_events", |g| g.events),
        column("_first_t", |g| g.first_t),
        column("_first_row", |g| g.first_row),
    ]);
    DataFrame::new(n, columns)
}

/// `whole` units plus `micro` millionths (any sign and size an i64 holds)
/// as a normalised decimal: `(whole + micro / 10^6).normalize()` without
/// decimal arithmetic (the bucket loop makes one per bucket).
fn units(whole: i64, micro: i64) -> Decimal {
    if micro == 0 {
        return Decimal::from(whole);
    }
    // |m| < 2^63 · 10^6 + 2^63 < 2^84: inside the 96-bit mantissa.
    let mut m = i128::from(whole) * i128::from(MICRO) + i128::from(micro);
    let mut scale = 6;
    while scale > 0 && m % 10 == 0 {
        m /= 10;
        scale -= 1;
    }
    Decimal::from_i128_with_scale(m, scale)
}

/// A column's values by row, read from its one chunk: the bucket loop and
/// the elementwise expressions read every row, and `ChunkedArray::get`
/// finds the chunk again on each call.
struct OneChunk<T: PolarsDataType>(Option<T::Array>);

impl<T: PolarsDataType> OneChunk<T> {
    fn new(ca: &ChunkedArray<T>) -> OneChunk<T> {
        OneChunk(ca.rechunk().downcast_iter().next().cloned())
    }

    /// The value of row `r` (none when null or past the end).
    #[inline]
    fn get(&self, r: usize) -> Option<<T::Array as StaticArray>::ValueT<'_>> {
        self.0.as_ref()?.get(r)
    }
}

type Ints = OneChunk<Int64Type>;

/// Column `name` of `df` as 64-bit integers, read from one chunk.
fn ints(df: &DataFrame, name: &str) -> PolarsResult<Ints> {
    let c = df.column(name)?.cast(&DataType::Int64)?;
    Ok(Ints::new(c.i64()?))
}
type Bools = OneChunk<BooleanType>;
type Strs = OneChunk<StringType>;

/// An `Int64` column made value by value: the values in one vector, and a
/// validity mask only once a null comes (most batches have none).
struct I64Out {
    values: Vec<i64>,
    validity: Option<polars_arrow::bitmap::MutableBitmap>,
}

impl I64Out {
    fn with_capacity(n: usize) -> I64Out {
        I64Out {
            values: Vec::with_capacity(n),
            validity: None,
        }
    }

    #[inline]
    fn push(&mut self, v: Option<i64>) {
        match (v, &mut self.validity) {
            (Some(v), None) => self.values.push(v),
            (Some(v), Some(m)) => {
                m.push(true);
                self.values.push(v);
            }
            (None, m) => {
                let n = self.values.len();
                m.get_or_insert_with(|| {
                    let mut m =
                        polars_arrow::bitmap::MutableBitmap::with_capacity(self.values.capacity());
                    m.extend_constant(n, true);
                    m
                })
                .push(false);
                self.values.push(0);
            }
        }
    }

    fn finish(self, name: &str) -> Column {
        Int64Chunked::from_vec_validity(name.into(), self.values, self.validity.map(Into::into))
            .into_column()
    }
}

/// The second pass: for each partly refused bucket, walk its events in event
/// order (time, then id) and find the first refused one and how many were.
///
/// The events of the partial buckets are sorted in memory, so the buckets go
/// in batches of at most [`PARTIAL_BATCH_EVENTS`] events (one scan each):
/// memory stays bounded however much of the month is refused.
pub fn resolve_partials(
    usage: &UsageScan,
    catalog: &Catalog,
    partials: &[PartialBucket],
) -> Result<Vec<Option<PartialResolution>>> {
    let mut out = Vec::with_capacity(partials.len());
    let mut from = 0;
    while from < partials.len() {
        let mut to = from;
        let mut events = 0u64;
        while to < partials.len()
            && (to == from || events + partials[to].events <= PARTIAL_BATCH_EVENTS)
        {
            events += partials[to].events;
            to += 1;
        }
        tracing::info!(buckets = to - from, events, "second pass batch");
        out.extend(resolve_batch(usage, catalog, &partials[from..to])?);
        from = to;
    }
    Ok(out)
}

/// Events per batch of the second pass (about 60 bytes each while sorted).
const PARTIAL_BATCH_EVENTS: u64 = 16_000_000;

fn resolve_batch(
    usage: &UsageScan,
    catalog: &Catalog,
    partials: &[PartialBucket],
) -> Result<Vec<Option<PartialResolution>>> {
    let funded: Vec<i64> = partials.iter().map(PartialBucket::funded_micro).collect();
    let table = df!(
        "_pid" => (0..partials.len() as i64).collect::<Vec<_>>(),
        "account_id" => partials.iter().map(|p| p.account_id.clone()).collect::<Vec<_>>(),
        "item" => partials.iter().map(|p| p.item.clone()).collect::<Vec<_>>(),
        "_region" => partials.iter().map(|p| p.region.clone()).collect::<Vec<_>>(),
        "_resolution" => partials.iter().map(|p| p.resolution.clone()).collect::<Vec<_>>(),
        "_start" => partials.iter().map(|p| p.start).collect::<Vec<_>>(),
        "_end" => partials.iter().map(|p| p.end).collect::<Vec<_>>(),
        "_funded" => funded,
    )?
    .lazy()
    .with_column(pair_key().alias("_pk"))
    .rename(["account_id", "item"], ["_account_id", "_item"], true);
    // Only the partial buckets' accounts' rows go further: the scan compares
    // the raw account as it reads (the other columns are parsed for those
    // rows only); joined on the 64-bit pair key, then compared exactly.
    let mut accounts: Vec<&str> = partials.iter().map(|p| p.account_id.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let usage = usage.of_accounts(&accounts)?;
    let accounts = str_list(&accounts);
    let mut items: Vec<&str> = partials.iter().map(|p| p.item.as_str()).collect();
    items.sort_unstable();
    items.dedup();
    let items = str_list(&items);
    let df = prepared(
        usage.filter(
            col("account_id")
                .is_in(accounts, false)
                .and(col("item").is_in(items, false)),
        ),
        &ItemTable::new(catalog),
        true,
    )
    .with_column(pair_key().alias("_pk"))
    .join(
        table,
        [col("_pk")],
        [col("_pk")],
        JoinArgs::new(JoinType::Inner),
    )
    .filter(
        col("account_id")
            .eq(col("_account_id"))
            .and(col("item").eq(col("_item")))
            .and(col("region").eq_missing(col("_region")))
            .and(col("resolution").eq_missing(col("_resolution")))
            .and(col("t").gt_eq(col("_start")))
            .and(col("t").lt(col("_end"))),
    )
    .select([
        col("_pid"),
        col("t"),
        col("event_id"),
        col("_m"),
        col("_funded"),
    ])
    // The scan streams; only the partial buckets' events are held.
    .collect_with_engine(Engine::Streaming)?
    .unwrap_single()
    .lazy()
    .sort(["_pid", "t", "event_id"], SortMultipleOptions::default())
    .with_column(col("_m").cum_sum(false).over([col("_pid")])?.alias("_cum"))
    .filter(col("_cum").gt(col("_funded")))
    .group_by([col("_pid")])
    .agg([
        col("t").min().alias("_first_t"),
        col("event_id")
            .filter(col("t").eq(col("t").min()))
            .min()
            .alias("_first_id"),
        len().alias("_n"),
    ])
    .collect()?;
    let mut out = vec![None; partials.len()];
    let pid = df.column("_pid")?.i64()?.clone();
    let t = df.column("_first_t")?.i64()?.clone();
    let id = df.column("_first_id")?.str()?.clone();
    let n = df.column("_n")?.cast(&DataType::Int64)?;
    let n = n.i64()?;
    for r in 0..df.height() {
        if let (Some(p), Some(t), Some(id), Some(n)) = (pid.get(r), t.get(r), id.get(r), n.get(r)) {
            out[p as usize] = Some(PartialResolution {
                first_time: t,
                first_event_id: id.to_string(),
                refused_events: n as u64,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Item, Postpaid, Product, Rounding};
    use crate::ingest::EventIds;

    fn item(id: &str, measure: Measure, step: Option<&str>, cycle: Cycle) -> Item {
        Item {
            id: id.into(),
            name: id.into(),
            unit: "u".into(),
            measure,
            unit_size: Decimal::ONE,
            rounding: step.map(|s| Rounding {
                step: Decimal::from_str(s).unwrap(),
                scope: "task".into(),
                source: "t".into(),
            }),
            cycle,
            postpaid: Postpaid::Auto,
            free_when_preview: false,
            public_beta: false,
            covered_by_modes: vec![],
            price_lists: vec![],
            packages: vec![],
            source: "t".into(),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            products: vec![Product {
                id: "p".into(),
                vendor: "v".into(),
                name: "p".into(),
                currency: "USD".into(),
                timezone: "+08:00".into(),
                guide: "g".into(),
                default_region: None,
                items: vec![
                    item("calls", Measure::Count, None, Cycle::Month),
                    item(
                        "mins",
                        Measure::InputPlusOutputSeconds,
                        Some("60"),
                        Cycle::Hour,
                    ),
                ],
                subscriptions: vec![],
            }],
            version: String::new(),
            files: vec![],
            positions: Default::default(),
        }
    }

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    }

    fn usage() -> LazyFrame {
        let t = [
            "2026-10-05T10:00:00+08:00",
            "2026-10-05T10:00:01+08:00",
            "2026-10-20T10:00:00+08:00",
            "2026-10-20T10:00:00.700+08:00",
            "2026-10-05T10:10:00+08:00",
            "2026-10-05T10:20:00+08:00",
        ];
        df!(
            "event_id" => ["a", "b", "c", "d", "m1", "m2"],
            "account_id" => ["x"; 6],
            "item" => ["calls", "calls", "calls", "calls", "mins", "mins"],
            "t" => t.iter().map(|s| at(s)).collect::<Vec<_>>(),
            "success" => [true; 6],
            "quantity_micro" => [1_000_000i64; 6],
            "input_micro" => [None, None, None, None, Some(90_000_000i64), Some(1_500_000)],
            "output_micro" => [None, None, None, None, Some(23_000_000i64), None],
            "preview_only" => [false; 6],
            "region" => [None::<&str>; 6],
            "resolution" => [None::<&str>; 6],
            "_row" => (0..6i64).collect::<Vec<_>>(),
            "_kept" => [true; 6],
        )
        .unwrap()
        .lazy()
    }

    /// (account, item, event id, UTC µs, micro-units, input µs).
    type Event<'a> = (&'a str, &'a str, &'a str, i64, i64, Option<i64>);

    /// Successful events without region, resolution or preview, row keys
    /// in order.
    fn events(rows: &[Event]) -> LazyFrame {
        let n = rows.len();
        df!(
            "event_id" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "account_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "item" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "t" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            "success" => vec![true; n],
            "quantity_micro" => rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            "input_micro" => rows.iter().map(|r| r.5).collect::<Vec<_>>(),
            "output_micro" => vec![None::<i64>; n],
            "preview_only" => vec![false; n],
            "region" => vec![None::<&str>; n],
            "resolution" => vec![None::<&str>; n],
            "_row" => (0..n as i64).collect::<Vec<_>>(),
            "_kept" => vec![true; n],
        )
        .unwrap()
        .lazy()
    }

    /// [`reduce`] with the id lookup and pairs built from `u` as ingest does.
    fn reduce_of(u: LazyFrame, cat: &Catalog, p: &Period, cuts: &[Cut]) -> Vec<Bucket> {
        reduce_packing(u, cat, p, cuts, true)
    }

    /// The id lookup and the distinct pairs of `u`, as ingest makes them.
    fn ids_and_variants(u: &LazyFrame) -> (EventIds, DataFrame) {
        let ids = EventIds::from_frame(u.clone().select([col("_row"), col("event_id")]));
        let variants = u
            .clone()
            .select([col("region"), col("resolution")])
            .unique(None, UniqueKeepStrategy::Any)
            .collect()
            .unwrap();
        (ids, variants)
    }

    fn reduce_packing(
        u: LazyFrame,
        cat: &Catalog,
        p: &Period,
        cuts: &[Cut],
        packed: bool,
    ) -> Vec<Bucket> {
        let (ids, variants) = ids_and_variants(&u);
        let (runs, _) = reduce_keyed(u, &variants, cat, p, cuts, &[], packed).unwrap();
        // A run per account: one account in each, each account in one.
        for run in &runs {
            assert!(!run.is_empty() && run.iter().all(|x| x.account_id == run[0].account_id));
        }
        let accounts: std::collections::BTreeSet<&str> =
            runs.iter().map(|r| &*r[0].account_id).collect();
        assert_eq!(accounts.len(), runs.len(), "an account in two runs");
        let mut b: Vec<Bucket> = runs.into_iter().flatten().collect();
        // One-event buckets carry their row; named here as an exception would be.
        let rows = b.iter().filter_map(|x| x.first_row).collect();
        let names = ids.lookup(rows).unwrap();
        for x in &mut b {
            assert_eq!(x.first_row.is_some(), x.events == 1);
            if let Some(r) = x.first_row.take() {
                x.first_event_id = names[&r].clone();
            }
        }
        b.sort_by(|x, y| (&x.item, x.start, &x.region).cmp(&(&y.item, y.start, &y.region)));
        b
    }

    /// A cut of account `x`'s `item` at `t`.
    fn cut_of(item: &str, t: &str) -> Cut {
        Cut {
            account_id: "x".into(),
            item: item.into(),
            at: at(t),
        }
    }

    #[test]
    fn each_account_s_buckets_come_as_one_run_whatever_the_event_order() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        // 5 accounts × 9 days of an hourly item, interleaved: the group-by
        // meets the accounts mixed, and its buckets come out in no account
        // order.
        let account = |k: usize| format!("acct-{}", (k * 7) % 5);
        let (accounts, ids): (Vec<String>, Vec<String>) =
            (0..45).map(|k| (account(k), format!("e{k}"))).unzip();
        let rows: Vec<_> = (0..45)
            .map(|k| {
                let t = at(&format!("2026-10-{:02}T10:00:00+08:00", 1 + k % 9));
                (&*accounts[k], "mins", &*ids[k], t, MICRO, Some(60 * MICRO))
            })
            .collect();
        let u = events(&rows);
        // (reduce_packing checks the runs.)
        let mut packed = reduce_packing(u.clone(), &cat, &p, &[], true);
        assert_eq!(packed.len(), 45, "{packed:#?}");
        for b in &packed {
            let k: usize = b.first_event_id[1..].parse().unwrap();
            assert_eq!(&*b.account_id, account(k), "{b:#?}");
        }
        let mut wide = reduce_packing(u, &cat, &p, &[], false);
        let key = |b: &Bucket| (b.account_id.to_string(), b.start);
        packed.sort_by_key(key);
        wide.sort_by_key(key);
        assert_eq!(packed, wide);
    }

    #[test]
    fn sums_that_could_pass_i64_are_summed_apart() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        // Calls of 5·10^12 units: two such events' micro-units pass i64.
        let big = 5_000_000_000_000_000_000i64;
        let u = usage().with_column(
            when(col("item").eq(lit("calls")))
                .then(lit(big))
                .otherwise(col("quantity_micro"))
                .alias("quantity_micro"),
        );
        let packed = reduce_packing(u.clone(), &cat, &p, &[], true);
        assert_eq!(packed, reduce_packing(u, &cat, &p, &[], false));
        let calls: Vec<_> = packed.iter().filter(|b| &*b.item == "calls").collect();
        assert!(calls.iter().any(|b| b.events > 1));
        for b in calls {
            assert_eq!(
                b.quantity,
                Decimal::from(5_000_000_000_000i64 * b.events as i64)
            );
        }
    }

    #[test]
    fn the_packed_and_the_two_column_keys_give_the_same_buckets() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        // A cut inside a minute of "mins", and one inside a second of
        // "calls" (two instants).
        let cuts = [
            cut_of("mins", "2026-10-05T10:15:00.250+08:00"),
            cut_of("calls", "2026-10-20T10:00:00.500+08:00"),
        ];
        let packed = reduce_packing(usage(), &cat, &p, &cuts, true);
        let wide = reduce_packing(usage(), &cat, &p, &cuts, false);
        assert_eq!(packed, wide);
        let instants = packed.iter().filter(|b| b.end - b.start == 1).count();
        assert_eq!(instants, 2, "{packed:#?}");
        // The cut inside 10:15 makes the minute level for "mins": 10:10 and 10:20.
        let mins: Vec<_> = packed
            .iter()
            .filter(|b| &*b.item == "mins")
            .map(|b| (b.start, b.end, b.cycle_start))
            .collect();
        let hour = at("2026-10-05T10:00:00+08:00");
        assert_eq!(
            mins,
            vec![
                (
                    at("2026-10-05T10:10:00+08:00"),
                    at("2026-10-05T10:11:00+08:00"),
                    hour
                ),
                (
                    at("2026-10-05T10:20:00+08:00"),
                    at("2026-10-05T10:21:00+08:00"),
                    hour
                ),
            ]
        );
    }

    #[test]
    fn without_cuts_a_month_item_is_one_bucket_and_tasks_round_up() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        let mut b = reduce_of(usage(), &cat, &p, &[]);
        b.sort_by(|x, y| x.item.cmp(&y.item));
        assert_eq!(b.len(), 2, "{b:#?}");
        assert_eq!(&*b[0].item, "calls");
        assert_eq!((b[0].start, b[0].end), (p.start(), p.end()));
        assert_eq!(b[0].quantity, Decimal::from(4));
        // Only a one-event bucket names its event.
        assert_eq!(b[0].first_event_id, "");
        // 113 s -> 120 s, 1.5 s -> 60 s, same hour.
        assert_eq!(b[1].quantity, Decimal::from(180));
        assert_eq!(b[1].cycle_start, at("2026-10-05T10:00:00+08:00"));
    }

    #[test]
    fn a_bucket_is_the_coarsest_level_no_cut_falls_strictly_inside() {
        let (d, h, m) = (DAY, HOUR, MINUTE);
        let t = d + 9 * h + 10 * m + 3 * SECOND + 100_000;
        // No cut: the whole period for a month cycle, else the cycle's level.
        assert_eq!(bucket_of(t, MONTH_W, &[], -7), (PERIOD_LEVEL, -7));
        assert_eq!(bucket_of(t, DAY, &[], 0), (4, d));
        assert_eq!(bucket_of(t, HOUR, &[], 0), (3, d + 9 * h));
        // A cut elsewhere in the event's day: its hour; in its hour: its
        // minute; in its minute: its second; in its second: its instant.
        assert_eq!(bucket_of(t, MONTH_W, &[d + 20 * h], 0), (3, d + 9 * h));
        assert_eq!(
            bucket_of(t, MONTH_W, &[d + 9 * h + 40 * m], 0),
            (2, d + 9 * h + 10 * m)
        );
        let minute = d + 9 * h + 10 * m;
        assert_eq!(
            bucket_of(t, MONTH_W, &[minute + 50 * SECOND], 0),
            (1, t - 100_000)
        );
        assert_eq!(bucket_of(t, MONTH_W, &[t + 1], 0), (0, t));
        // A cut on an edge is not inside the bucket it starts: the hour
        // starting at the cut holds the event whole.
        assert_eq!(bucket_of(t, MONTH_W, &[d + 9 * h], 0), (3, d + 9 * h));
        // Cuts in other days leave the event's day whole (daily cycle).
        assert_eq!(bucket_of(t, DAY, &[d - 1, 2 * d + 1, 5 * d], 0), (4, d));
        // With a daily cycle no cut of the day can widen it past the day.
        assert_eq!(bucket_of(t, DAY, &[d + 20 * h], 0), (3, d + 9 * h));
    }

    #[test]
    fn a_cut_splits_only_the_buckets_it_falls_inside() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        let cut = cut_of("calls", "2026-10-20T10:00:00.500+08:00");
        let mut b = reduce_of(usage(), &cat, &p, std::slice::from_ref(&cut));
        b.sort_by(|x, y| (&x.item, x.start).cmp(&(&y.item, y.start)));
        let calls: Vec<_> = b.iter().filter(|b| &*b.item == "calls").collect();
        // Oct 5 (uncut day), Oct 20 10:00:00.000 exact, Oct 20 10:00:00.700 exact.
        assert_eq!(calls.len(), 3, "{calls:#?}");
        assert_eq!(calls[0].start, at("2026-10-05T00:00:00+08:00"));
        assert_eq!(calls[0].quantity, Decimal::from(2));
        assert!(
            calls.iter().all(|b| !(b.start < cut.at && cut.at < b.end)),
            "no bucket straddles the cut"
        );
        assert_eq!(calls[2].start, at("2026-10-20T10:00:00.700+08:00"));
        assert_eq!(
            (calls[2].events, calls[2].first_event_id.as_str()),
            (1, "d")
        );
        assert_eq!((calls[0].events, calls[0].first_event_id.as_str()), (2, ""));
    }

    #[test]
    fn regions_default_per_product_and_pairs_stay_apart() {
        let mut cat = catalog();
        cat.products[0].default_region = Some("ap-x".into());
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        let u = usage().with_columns([
            when(col("event_id").eq(lit("b")))
                .then(lit("eu"))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("region"),
            when(
                col("event_id")
                    .eq(lit("c"))
                    .or(col("event_id").eq(lit("b"))),
            )
            .then(lit("720p"))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias("resolution"),
        ]);
        let mut b = reduce_of(u, &cat, &p, &[]);
        b.sort_by(|x, y| {
            (&x.item, &x.region, &x.resolution).cmp(&(&y.item, &y.region, &y.resolution))
        });
        let got: Vec<_> = b
            .iter()
            .map(|b| {
                (
                    &*b.item,
                    b.region.as_deref(),
                    b.resolution.as_deref(),
                    b.events,
                    b.first_event_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("calls", Some("ap-x"), None, 2, ""),
                ("calls", Some("ap-x"), Some("720p"), 1, "c"),
                ("calls", Some("eu"), Some("720p"), 1, "b"),
                ("mins", Some("ap-x"), None, 2, ""),
            ]
        );
    }

    #[test]
    fn billable_units_follow_the_measure_step_and_preview_rule() {
        let mut cat = catalog();
        cat.products[0].items[0].free_when_preview = true;
        cat.products[0].items.push(item(
            "outs",
            Measure::OutputSeconds,
            Some("0.5"),
            Cycle::Day,
        ));
        let t = ItemTable::new(&cat);
        let (calls, mins, outs) = (t.codes["calls"] as usize, t.codes["mins"] as usize, 2);
        assert_eq!(t.codes["outs"], 2);
        // A count: the quantity as it is; a preview call of a free-preview item is free.
        assert_eq!(
            t.billable(calls, Some(3 * MICRO), None, None, None),
            Some(3 * MICRO)
        );
        assert_eq!(
            t.billable(calls, Some(3 * MICRO), None, None, Some(true)),
            Some(0)
        );
        assert_eq!(
            t.billable(calls, Some(3 * MICRO), None, None, Some(false)),
            Some(3 * MICRO)
        );
        assert_eq!(t.billable(calls, None, None, None, None), None);
        // Input + output seconds, up to the next whole minute (113 s -> 120 s).
        let s = |x: i64| x * MICRO;
        assert_eq!(
            t.billable(mins, None, Some(s(90)), Some(s(23)), None),
            Some(s(120))
        );
        assert_eq!(t.billable(mins, None, Some(s(60)), None, None), Some(s(60)));
        assert_eq!(t.billable(mins, None, None, None, None), Some(0));
        // Output seconds only, up to the next half second; previews paid.
        assert_eq!(
            t.billable(outs, None, Some(s(9)), Some(1_200_000), Some(true)),
            Some(1_500_000)
        );
    }

    #[test]
    fn packed_keys_give_back_their_parts_and_refuse_what_does_not_fit() {
        let month = 31 * DAY;
        let pack = Packing::new(40, 25, 7, month).unwrap();
        assert_eq!((pack.codes, pack.slots), (1000, 31 * 86_400 + 1));
        let last = pack.slots - 1;
        for (a, code, level, second) in [
            (0, 0, 1, 0),
            (3, 999, PERIOD_LEVEL, last),
            (pack.accounts - 1, 17, 4, 86_400),
        ] {
            let k = pack.key(a, code, level, second).unwrap();
            assert!(k >= 0);
            assert_eq!(pack.parts(k), Ok((a, code, level, second)));
        }
        for (g, pair, micro) in [(0, 0, 0), (6, 24, SECOND - 1), (3, 1, 250_000)] {
            let k = pack.instant(g, pair, micro).unwrap();
            assert!(k < 0);
            assert_eq!(pack.parts(k), Err((g, pair, micro)));
        }
        // Out of range: an account past the room, a second past the
        // period, level 0 as a second bucket, a cut or µs out of range.
        assert_eq!(pack.key(pack.accounts, 0, 1, 0), None);
        assert_eq!(pack.key(0, 0, 1, pack.slots), None);
        assert_eq!(pack.key(0, 0, 0, 5), None);
        assert_eq!(pack.instant(7, 0, 0), None);
        assert_eq!(pack.instant(0, 0, SECOND), None);
        // Too many codes for even one account: no packing.
        assert_eq!(Packing::new(1 << 31, 1 << 20, 0, month), None);
    }

    #[test]
    fn account_codes_number_the_seeded_first_and_each_new_account_once() {
        let codes = AccountCodes::seeded(["b", "a", "b"]);
        let batch: StringChunked = [Some("a"), Some("z"), None, Some("b"), Some("z"), Some("y")]
            .into_iter()
            .collect();
        assert_eq!(
            codes.of(&batch, &[true; 6]),
            vec![Some(1), Some(2), None, Some(0), Some(2), Some(3)]
        );
        assert_eq!(codes.names(), vec!["b", "a", "z", "y"]);
        // A row not live gets no code, and its account is not numbered.
        let batch: StringChunked = [Some("q"), Some("a"), Some("r")].into_iter().collect();
        assert_eq!(
            codes.of(&batch, &[false, false, true]),
            vec![None, None, Some(4)]
        );
        assert_eq!(codes.names(), vec!["b", "a", "z", "y", "r"]);
    }

    /// The second pass over the events the reduction held gives what the
    /// scan gives, for every bucket and every funded part: ties in time
    /// broken by id (here against row order), buckets split by a cut, an
    /// item without a price held for an account with postpaid on, and an
    /// account without packages left to the scan.
    #[test]
    fn the_held_second_pass_agrees_with_the_scan() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        let t = |s: &str| at(&format!("2026-10-{s}+08:00"));
        let rows: Vec<(&str, &str, &str, &str, i64)> = vec![
            ("x", "calls", "k", "05T10:00:00", 2),
            ("x", "calls", "e", "05T10:00:00", 1),
            ("x", "calls", "b", "05T10:00:00", 1),
            ("x", "calls", "a", "06T10:00:00", 3),
            ("x", "calls", "z", "20T09:00:00.5", 1),
            ("x", "calls", "y", "20T09:00:00.5", 1),
            ("x", "calls", "f", "21T09:00:00", 2),
            ("x", "mins", "m2", "07T10:00:00", 70),
            ("x", "mins", "m1", "07T10:00:00", 30),
            ("y", "calls", "q", "08T10:00:00", 1),
            ("y", "calls", "p", "08T10:00:00", 1),
            ("z", "calls", "s", "09T10:00:00", 2),
            ("z", "calls", "r", "09T11:00:00", 1),
        ];
        let u = events(
            &rows
                .iter()
                .map(|r| (r.0, r.1, r.2, t(r.3), r.4 * MICRO, Some(r.4 * MICRO)))
                .collect::<Vec<_>>(),
        );
        let (ids, variants) = ids_and_variants(&u);
        let refusable: Vec<Refusable> = vec![
            ("x".into(), "calls".into(), false),
            ("x".into(), "mins".into(), false),
            ("y".into(), "calls".into(), true),
        ];
        let cuts = [cut_of("calls", "2026-10-15T00:00:00+08:00")];
        let (runs, held) =
            reduce_keyed(u.clone(), &variants, &cat, &p, &cuts, &refusable, true).unwrap();
        assert_eq!(held.len(), 11, "x's and y's events are held, z's are not");
        let mut partials = Vec::new();
        for b in runs.into_iter().flatten() {
            let whole = b.quantity.to_i64().unwrap();
            for funded in 0..=whole {
                for extra in [Decimal::ZERO, Decimal::new(5, 1)] {
                    partials.push(PartialBucket::of(&b, Decimal::from(funded) + extra));
                }
            }
        }
        let scan = UsageScan::from_frame(u);
        let want = resolve_partials(&scan, &cat, &partials).unwrap();
        let plan = held.plan(&partials);
        let z = partials.iter().filter(|q| q.account_id == "z").count();
        assert!(z > 0);
        assert_eq!(plan.unresolved(), z);
        let names = ids.lookup(plan.rows()).unwrap();
        let mut scanned = 0;
        let got = plan
            .finish(&partials, &names, |rest| {
                scanned = rest.len();
                resolve_partials(&scan, &cat, rest)
            })
            .unwrap();
        assert_eq!(scanned, z);
        assert_eq!(got, want);
        // Nothing held (a holder past its limit): every bucket is scanned.
        assert_eq!(Held::none().plan(&partials).unresolved(), partials.len());
        // The ties mattered: x's bucket of the 5th, funded 1, refuses from "e"
        // (ids b, e, k at one time, 1 unit each but k's 2), not from the
        // first row, k.
        let first = partials
            .iter()
            .position(|q| {
                let tie = t("05T10:00:00");
                (q.account_id.as_str(), q.item.as_str(), q.funded) == ("x", "calls", Decimal::ONE)
                    && q.start <= tie
                    && tie < q.end
            })
            .unwrap();
        assert_eq!(got[first].as_ref().unwrap().first_event_id, "e");
    }

    proptest::proptest! {
        #[test]
        fn units_are_the_normalised_decimal_sum(
            whole in proptest::prelude::any::<i64>(),
            micro in proptest::prop_oneof![
                proptest::prelude::any::<i64>(),
                -3_000_000i64..3_000_000,
                proptest::strategy::Strategy::prop_map(-5i64..5, |k| k * 500_000),
            ],
        ) {
            let want = (Decimal::from(whole) + Decimal::new(micro, 6)).normalize();
            let got = units(whole, micro);
            // The same digits and scale, not only an equal value.
            proptest::prop_assert_eq!(got.to_string(), want.to_string());
            proptest::prop_assert_eq!(got.scale(), want.scale());
        }
    }

    #[test]
    fn pair_codes_read_a_missing_region_as_the_products_default() {
        let mut cat = catalog();
        cat.products[0].default_region = Some("east".into());
        let items = ItemTable::new(&cat);
        let s = |v: &str| Some(v.to_string());
        let pairs: Vec<Variant> = vec![
            (None, None),
            (s("east"), None),
            (s("east"), s("4k")),
            (s("west"), None),
        ];
        let codes = VariantCodes::new(&pairs, items.clone());
        for ic in 0..items.default_region.len() as i64 {
            // Neither region nor resolution: the default region's bare pair,
            // found once per item, as the general look-up finds it.
            assert_eq!(codes.code(None, None, ic), Some(1));
            assert_eq!(codes.look_up(None, None, ic), Some(1));
            assert_eq!(codes.code(None, Some("4k"), ic), Some(2));
            assert_eq!(codes.code(Some("west"), None, ic), Some(3));
            assert_eq!(codes.code(Some("west"), Some("4k"), ic), None);
            assert_eq!(codes.code(Some("north"), None, ic), None);
        }
        assert_eq!(codes.code(None, None, 99), None);
    }

    #[test]
    fn columns_made_value_by_value_keep_their_nulls() {
        // No null: no mask at all; a null after values: those values valid.
        for (pushed, want) in [
            (vec![Some(1), Some(2)], vec![Some(1), Some(2)]),
            (vec![Some(1), None, Some(3)], vec![Some(1), None, Some(3)]),
            (vec![None, None], vec![None, None]),
        ] {
            let mut out = I64Out::with_capacity(1);
            for v in &pushed {
                out.push(*v);
            }
            let c = out.finish("x");
            let got: Vec<Option<i64>> = c.i64().unwrap().iter().collect();
            assert_eq!(got, want);
            // And read back by row the same way.
            let (ints, past) = (Ints::new(c.i64().unwrap()), want.len());
            let back: Vec<Option<i64>> = (0..past).map(|r| ints.get(r)).collect();
            assert_eq!((back, ints.get(past)), (want, None));
        }
        let s = StringChunked::from_iter_options("s".into(), [Some("a"), None].into_iter());
        let b = BooleanChunked::from_iter_options("b".into(), [None, Some(true)].into_iter());
        let (s, b) = (Strs::new(&s), Bools::new(&b));
        assert_eq!((s.get(0), s.get(1), s.get(2)), (Some("a"), None, None));
        assert_eq!((b.get(0), b.get(1), b.get(2)), (None, Some(true), None));
    }

    #[test]
    fn rows_not_kept_failed_calls_and_unknown_items_make_no_bucket() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        let t = at("2026-10-05T10:00:00+08:00");
        // A rejected row (no account, no time), a dropped duplicate, a
        // failed call and an unknown item: none may count.
        let left_out = df!(
            "event_id" => ["r", "d", "f", "u"],
            "account_id" => [None, Some("x"), Some("x"), Some("x")],
            "item" => ["calls", "calls", "calls", "nope"],
            "t" => [None, Some(t), Some(t), Some(t)],
            "success" => [None, Some(true), Some(false), Some(true)],
            "quantity_micro" => [7_000_000i64; 4],
            "input_micro" => [None::<i64>; 4],
            "output_micro" => [None::<i64>; 4],
            "preview_only" => [false; 4],
            "region" => [None::<&str>; 4],
            "resolution" => [None::<&str>; 4],
            "_row" => (100..104i64).collect::<Vec<_>>(),
            "_kept" => [false, false, true, true],
        )
        .unwrap()
        .lazy();
        let all = concat([usage(), left_out], UnionArgs::default()).unwrap();
        for packed in [true, false] {
            assert_eq!(
                reduce_packing(all.clone(), &cat, &p, &[], packed),
                reduce_packing(usage(), &cat, &p, &[], packed),
                "packed: {packed}"
            );
        }
    }

    #[test]
    fn group_sums_too_wide_for_i64_come_as_whole_units_and_millionths() {
        let g = |key: i64, sum: i128| Group {
            key,
            sum,
            events: 2,
            first_t: 10,
            first_row: 3,
        };
        // Every sum fits: one `_msum` column.
        let df = group_frame(&[vec![g(1, 5)], vec![g(2, -7)]]).unwrap();
        assert_eq!(ints(&df, "_msum").unwrap().get(1), Some(-7));
        assert!(df.column("_whole").is_err());
        // One passes i64, its whole units too: whole units as text.
        let huge = i128::from(i64::MAX) * 3_000_000 + 7;
        let df = group_frame(&[vec![g(1, -5)], vec![], vec![g(2, huge)]]).unwrap();
        assert!(df.column("_msum").is_err());
        let whole = df.column("_whole").unwrap().str().unwrap().clone();
        let frac = ints(&df, "_frac").unwrap();
        assert_eq!(
            (whole.get(0), frac.get(0)),
            (Some("-1"), Some(999_995)),
            "millionths in [0, 10^6)"
        );
        let w: i128 = whole.get(1).unwrap().parse().unwrap();
        assert_eq!(
            w * i128::from(MICRO) + i128::from(frac.get(1).unwrap()),
            huge
        );
        assert_eq!(ints(&df, "_key").unwrap().get(1), Some(2));
        // Whole units that fit: an integer column.
        let df = group_frame(&[vec![g(3, i128::from(i64::MAX) + 1)]]).unwrap();
        assert_eq!(ints(&df, "_whole").unwrap().get(0), Some(i64::MAX / MICRO));
        assert_eq!(df.column("_whole").unwrap().dtype(), &DataType::Int64);
    }

    #[test]
    fn the_second_pass_finds_the_first_refused_event() {
        let cat = catalog();
        let p = Period::parse("2026-10", 8 * 3600).unwrap();
        let pb = PartialBucket {
            account_id: "x".into(),
            item: "calls".into(),
            region: None,
            resolution: None,
            start: p.start(),
            end: p.end(),
            funded: Decimal::from(2),
            events: 4,
        };
        let r = resolve_partials(&UsageScan::from_frame(usage()), &cat, &[pb]).unwrap();
        let r = r[0].clone().unwrap();
        assert_eq!((r.first_event_id.as_str(), r.refused_events), ("c", 2));
    }
}
