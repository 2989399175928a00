//! Reconciliation: match reckon's invoice against the vendor's statement and
//! give every difference exactly one class, its money delta and a sentence.
//!
//! Both sides are summed per account, item, charge type and billing period
//! (cycles differ between exports; monthly sums are what both must agree on).
//! Vendor lines that repeat a line id are duplicates before anything else.

use std::collections::BTreeMap;

use smallvec::SmallVec;

use polars::prelude::PlHashMap;
use rayon::prelude::*;
use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{ExceptionRow, InvoiceLine};
use crate::recon_model::{Discrepancy, Statement, StatementLine, CLASSES};
use crate::tally::Tally;

/// One of reckon's invoice lines, as reconciliation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OurLine {
    pub account_id: String,
    pub item: String,
    pub charge_type: String,
    pub usage: Decimal,
    pub deducted: Decimal,
    pub billed: Decimal,
    pub refused: Decimal,
    pub unit_price: Option<Decimal>,
    pub amount: Decimal,
    pub currency: String,
}

impl OurLine {
    /// From an invoice line's figures. Usage lines split into package-covered
    /// (`deducted`) and postpaid (`billed`) quantities; one-off lines bill
    /// their whole quantity.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        account_id: String,
        item: String,
        charge_type: String,
        usage: Decimal,
        packaged: Decimal,
        postpaid: Decimal,
        refused: Decimal,
        unit_price: Option<Decimal>,
        amount: Decimal,
        currency: String,
    ) -> OurLine {
        let is_usage = charge_type == "usage";
        OurLine {
            account_id,
            item,
            charge_type,
            usage,
            deducted: if is_usage { packaged } else { Decimal::ZERO },
            billed: if is_usage { postpaid } else { usage },
            refused,
            unit_price,
            amount,
            currency,
        }
    }

    /// [`OurLine::from_line`], taking the line's strings over.
    pub fn from_owned(l: InvoiceLine) -> OurLine {
        OurLine::new(
            l.account_id,
            l.item,
            l.charge_type,
            l.usage_quantity,
            l.free_quantity + l.campaign_quantity + l.prepaid_quantity,
            l.postpaid_quantity,
            l.refused_quantity,
            l.unit_price,
            l.amount,
            l.currency,
        )
    }

    pub fn from_line(l: &InvoiceLine) -> OurLine {
        OurLine::from_owned(l.clone())
    }
}

/// The named columns of every row of a finished run's output CSV, in the
/// order asked, with the file's path for messages.
fn read_run_csv<const N: usize>(
    dir: &Path,
    file: &str,
    names: [&str; N],
) -> Result<(PathBuf, Vec<[String; N]>)> {
    let path = dir.join(file);
    let mut r = csv::Reader::from_path(&path).map_err(|e| Error::input(&path, e.to_string()))?;
    let headers = r
        .headers()
        .map_err(|e| Error::input(&path, e.to_string()))?
        .clone();
    let mut at = [0usize; N];
    for (k, name) in names.iter().enumerate() {
        at[k] = headers
            .iter()
            .position(|h| h == *name)
            .ok_or_else(|| Error::input(&path, format!("missing column {name}")))?;
    }
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::input(&path, e.to_string()))?;
        rows.push(std::array::from_fn(|k| {
            rec.get(at[k]).unwrap_or("").to_string()
        }));
    }
    Ok((path, rows))
}

/// A decimal cell of a run's output (empty = zero), or an error naming it.
fn cell_decimal(path: &Path, row: usize, column: &str, v: &str) -> Result<Decimal> {
    if v.is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(v).map_err(|_| {
        Error::input(
            path,
            format!("row {}, column {column}: not a decimal: {v:?}", row + 2),
        )
    })
}

/// Read a finished run's `invoice_lines.csv` (for `reckon diff`).
pub fn read_our_lines(dir: &Path) -> Result<Vec<OurLine>> {
    const COLS: [&str; 12] = [
        "account_id",
        "item",
        "charge_type",
        "usage_quantity",
        "free_quantity",
        "campaign_quantity",
        "prepaid_quantity",
        "postpaid_quantity",
        "refused_quantity",
        "unit_price",
        "amount",
        "currency",
    ];
    let (path, rows) = read_run_csv(dir, "invoice_lines.csv", COLS)?;
    rows.into_iter()
        .enumerate()
        .map(|(n, [account, item, charge, usage, free, campaign, prepaid, postpaid, refused, price, amount, currency])| {
            let dec = |k: usize, v: &str| cell_decimal(&path, n, COLS[k], v);
            Ok(OurLine::new(
                account,
                item,
                charge,
                dec(3, &usage)?,
                dec(4, &free)? + dec(5, &campaign)? + dec(6, &prepaid)?,
                dec(7, &postpaid)?,
                dec(8, &refused)?,
                if price.is_empty() { None } else { Some(dec(9, &price)?) },
                dec(10, &amount)?,
                currency,
            ))
        })
        .collect()
}

/// Read a finished run's `exceptions.csv` (the refused usage matters here).
pub fn read_exceptions(dir: &Path) -> Result<Vec<ExceptionRow>> {
    let (path, rows) = read_run_csv(
        dir,
        "exceptions.csv",
        ["account_id", "item", "reason", "quantity"],
    )?;
    rows.into_iter()
        .enumerate()
        .map(|(n, [account_id, item, reason, quantity])| {
            Ok(ExceptionRow {
                account_id,
                item,
                event_id: None,
                event_time: None,
                reason,
                quantity: cell_decimal(&path, n, "quantity", &quantity)?,
                package_id: None,
                events: 0,
                detail: String::new(),
            })
        })
        .collect()
}

/// Differences inside these bounds count as matched (per currency).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Absolute tolerance per currency (`USD = "0.01"`); default 0.
    #[serde(default)]
    pub absolute: BTreeMap<String, Decimal>,
    /// Relative tolerance per currency, as a fraction of the larger side (`"0.001"`); default 0.
    #[serde(default)]
    pub relative: BTreeMap<String, Decimal>,
}

impl Tolerance {
    pub fn allows(&self, currency: &str, ours: Decimal, theirs: Decimal) -> bool {
        let delta = (theirs - ours).abs();
        let abs = self.absolute.get(currency).copied().unwrap_or_default();
        let rel =
            self.relative.get(currency).copied().unwrap_or_default() * ours.abs().max(theirs.abs());
        delta <= abs.max(rel)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key<'k> {
    account_id: &'k str,
    item: &'k str,
    charge_type: &'k str,
}

#[derive(Debug, Default, Clone)]
struct Side<'a> {
    usage: Option<Decimal>,
    deducted: Option<Decimal>,
    billed: Option<Decimal>,
    refused: Decimal,
    /// The distinct unit prices, ascending (nearly always one: kept
    /// inline, like the currencies).
    prices: SmallSet<Decimal, 2>,
    amount: Decimal,
    /// Borrowed from the lines, ascending.
    currencies: SmallSet<&'a str, 1>,
    /// Vendor line ids, borrowed from the statement.
    line_ids: Vec<&'a str>,
    lines: usize,
    /// Amounts of the individual one-off lines (purchases: one per
    /// package); not kept for usage, where nothing reads them.
    amounts: Vec<Decimal>,
}

/// A set of few values, ascending, without a heap allocation up to `N` of
/// them: what a `BTreeSet` would hold (an equal value already in it is
/// kept), for the millions of sides a large month compares.
#[derive(Debug, Clone, PartialEq)]
struct SmallSet<T, const N: usize>(SmallVec<[T; N]>)
where
    [T; N]: smallvec::Array<Item = T>;

impl<T, const N: usize> Default for SmallSet<T, N>
where
    [T; N]: smallvec::Array<Item = T>,
{
    fn default() -> Self {
        SmallSet(SmallVec::new())
    }
}

impl<T: Ord + Copy, const N: usize> SmallSet<T, N>
where
    [T; N]: smallvec::Array<Item = T>,
{
    fn insert(&mut self, v: T) {
        if let Err(at) = self.0.binary_search(&v) {
            self.0.insert(at, v);
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    fn first(&self) -> Option<T> {
        self.0.first().copied()
    }
}

fn add(x: &mut Option<Decimal>, v: Option<Decimal>) {
    if let Some(v) = v {
        *x = Some(x.unwrap_or_default() + v);
    }
}

/// A quantity as written in the outputs (6 decimal places).
fn fmt(d: Decimal) -> String {
    d.round_dp(6).normalize().to_string()
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

/// The line indices in `with_id` (line index and the hash of its id, in
/// line order) whose id (`id_of`) occurred at an earlier one: dealt into
/// partitions by hash, each searched in parallel in a table of hashes and
/// indices. Equal hashes alone never make a repeat; the texts must be equal.
fn repeated_ids<'a>(
    with_id: &[(usize, u64)],
    id_of: impl Fn(usize) -> &'a str + Sync,
) -> Vec<usize> {
    // Bits the tables below do not use for a slot or its tag.
    let dealt = deal(with_id, |&(_, h)| ((h >> 32) % PARTITIONS as u64) as usize);
    dealt
        .into_par_iter()
        .flat_map_iter(|part| {
            let mut seen: hashbrown::HashTable<(u64, usize)> =
                hashbrown::HashTable::with_capacity(part.len());
            part.into_iter()
                .filter(|&(i, h)| {
                    let repeat = seen
                        .find(h, |&(g, j)| g == h && id_of(j) == id_of(i))
                        .is_some();
                    if !repeat {
                        seen.insert_unique(h, (h, i), |&(g, _)| g);
                    }
                    repeat
                })
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Reconcile one period. `exceptions` tell which usage reckon refused.
pub fn reconcile(
    period: &str,
    ours: &[&OurLine],
    exceptions: &[ExceptionRow],
    statement: &Statement,
    tolerance: &Tolerance,
) -> Vec<Discrepancy> {
    // Vendor side first: duplicates by line id, in statement order. Each
    // id's 64-bit hash is taken in one pass over the lines in order; the ids
    // are dealt into partitions by their hash and each partition finds its
    // repeats (every occurrence after the first, in statement order) in
    // parallel, in a table of hashes and line indices: the text of an id is
    // read again only to confirm a repeat of its hash. The same lines as
    // one pass over the statement.
    let mut out = Vec::new();
    let lines: Vec<&StatementLine> = statement
        .par_lines()
        .filter(|l| l.billing_period == period)
        .collect();
    let hasher = foldhash::fast::FixedState::with_seed(0);
    let with_id: Vec<(usize, u64)> = lines
        .par_iter()
        .enumerate()
        .filter_map(|(i, l)| l.line_id.as_deref().map(|id| (i, hasher.hash_one(id))))
        .collect();
    let id_of = |i: usize| lines[i].line_id.as_deref().unwrap_or_default();
    let mut repeats = repeated_ids(&with_id, id_of);
    repeats.par_sort_unstable();
    let mut repeats = repeats.into_iter().peekable();
    let mut their_lines: Vec<(&StatementLine, &str)> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let item = l.item.as_deref().unwrap_or(&l.vendor_sku);
        if repeats.next_if_eq(&i).is_some() {
            out.push(duplicate(l, item, "the same vendor line id appears twice"));
        } else {
            their_lines.push((l, item));
        }
    }
    drop(lines);

    // Then per account: lines are dealt into partitions by a hash of their
    // account (each keeping its lines' order), compared in parallel, and
    // the differences sorted at the end: the same as one pass.
    let ours_in = deal(ours, |l| partition(&l.account_id));
    let theirs_in = deal(&their_lines, |(l, _)| partition(&l.account_id));
    drop(their_lines);
    let refused: Vec<&ExceptionRow> = exceptions
        .iter()
        .filter(|e| matches!(e.reason.as_str(), "postpaid_disabled" | "account_suspended"))
        .collect();
    let refused_in = deal(&refused, |e| partition(&e.account_id));
    let found: Vec<Vec<Discrepancy>> = ours_in
        .into_par_iter()
        .zip(theirs_in)
        .zip(refused_in)
        .map(|((ours, theirs), refused)| compare(period, &ours, &theirs, &refused, tolerance))
        .collect();
    out.extend(found.into_iter().flatten());
    out.par_sort_by(|a, b| {
        (
            &a.account_id,
            &a.item,
            &a.charge_type,
            &a.class,
            &a.vendor_lines,
        )
            .cmp(&(
                &b.account_id,
                &b.item,
                &b.charge_type,
                &b.class,
                &b.vendor_lines,
            ))
    });
    out
}

/// Account partitions compared in parallel by [`reconcile`].
const PARTITIONS: usize = 64;

/// The partition of a text (account or line id). FNV-1a: any fixed hash
/// will do, the result does not depend on it.
fn partition(s: &str) -> usize {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h % PARTITIONS as u64) as usize
}

/// `items` dealt into [`PARTITIONS`] partitions by `part`, each keeping the
/// items' order: dealt in parallel pieces, then each partition's share of
/// every piece joined in piece order.
fn deal<T: Copy + Send + Sync>(items: &[T], part: impl Fn(&T) -> usize + Sync) -> Vec<Vec<T>> {
    let piece = (items.len() / (4 * rayon::current_num_threads())).max(1 << 14);
    let pieces: Vec<Vec<Vec<T>>> = items
        .par_chunks(piece)
        .map(|c| {
            let mut v = vec![Vec::new(); PARTITIONS];
            for x in c {
                v[part(x)].push(*x);
            }
            v
        })
        .collect();
    (0..PARTITIONS)
        .into_par_iter()
        .map(|p| {
            let mut out = Vec::with_capacity(pieces.iter().map(|v| v[p].len()).sum());
            for v in &pieces {
                out.extend_from_slice(&v[p]);
            }
            out
        })
        .collect()
}

/// The differences of one partition's accounts (unsorted).
fn compare(
    period: &str,
    ours: &[&OurLine],
    theirs_lines: &[(&StatementLine, &str)],
    exceptions: &[&ExceptionRow],
    tolerance: &Tolerance,
) -> Vec<Discrepancy> {
    let mut out = Vec::new();
    // Summed by (account, item, charge type) borrowed from the lines, a run
    // of lines with one key looked up once (`Tally`); keys in the order met.
    type K<'k> = (&'k str, &'k str, &'k str);
    let mut our: Tally<K, Side> = Tally::default();
    for l in ours {
        let s = our.at((&l.account_id, &l.item, &l.charge_type));
        add(&mut s.usage, Some(l.usage));
        add(&mut s.deducted, Some(l.deducted));
        add(&mut s.billed, Some(l.billed));
        s.refused += l.refused;
        if let Some(p) = l.unit_price {
            if l.charge_type != "usage" || !l.billed.is_zero() {
                s.prices.insert(p);
            }
        }
        s.amount += l.amount;
        s.currencies.insert(&l.currency);
        s.lines += 1;
        if l.charge_type != "usage" {
            s.amounts.push(l.amount);
        }
    }
    let mut refused: PlHashMap<(&str, &str), Decimal> = PlHashMap::default();
    for e in exceptions {
        *refused.entry((&e.account_id, &e.item)).or_default() += e.quantity;
    }
    let mut theirs: Tally<K, Side> = Tally::default();
    for &(l, item) in theirs_lines {
        let s = theirs.at((&l.account_id, item, &l.charge_type));
        add(&mut s.usage, l.usage_quantity);
        add(&mut s.deducted, l.deducted_quantity);
        add(&mut s.billed, l.billed_quantity);
        if let Some(p) = l.unit_price {
            s.prices.insert(p);
        }
        s.amount += l.amount;
        s.currencies.insert(&l.currency);
        s.line_ids.extend(l.line_id.as_deref());
        s.lines += 1;
        if l.charge_type != "usage" {
            s.amounts.push(l.amount);
        }
    }

    // Every key once: ours in the order met, then the vendor's own. Each
    // side's sums are at hand as the keys are walked; only the other side's
    // are looked up (once per key).
    let refused_at = |k: &K| {
        if refused.is_empty() {
            None
        } else {
            refused.get(&(k.0, k.1)).copied()
        }
    };
    fn key<'k>(k: &K<'k>) -> Key<'k> {
        Key {
            account_id: k.0,
            item: k.1,
            charge_type: k.2,
        }
    }
    let mut matched = vec![false; theirs.values.len()];
    for (k, o) in &our.values {
        let t = theirs.position(k).map(|i| {
            matched[i] = true;
            &theirs.values[i].1
        });
        out.extend(classify(
            period,
            &key(k),
            Some(o),
            t,
            refused_at(k),
            tolerance,
        ));
    }
    for ((k, t), _) in theirs.values.iter().zip(&matched).filter(|(_, &m)| !m) {
        out.extend(classify(
            period,
            &key(k),
            None,
            Some(t),
            refused_at(k),
            tolerance,
        ));
    }
    out
}

fn duplicate(l: &StatementLine, item: &str, why: &str) -> Discrepancy {
    Discrepancy {
        account_id: l.account_id.to_string(),
        item: item.to_string(),
        charge_type: l.charge_type.to_string(),
        billing_period: l.billing_period.to_string(),
        cycle_start: l.cycle_start,
        class: "duplicate_charge".into(),
        our_usage_quantity: None,
        their_usage_quantity: l.usage_quantity,
        our_deducted_quantity: None,
        their_deducted_quantity: l.deducted_quantity,
        our_billed_quantity: None,
        their_billed_quantity: l.billed_quantity,
        our_unit_price: None,
        their_unit_price: l.unit_price,
        our_amount: Decimal::ZERO,
        their_amount: l.amount,
        delta_amount: l.amount,
        currency: l.currency.to_string(),
        within_tolerance: false,
        explanation: format!(
            "vendor line {} charges {} {} again for {} {}: {why}",
            l.line_id.as_deref().unwrap_or_default(),
            money(l.amount),
            l.currency,
            l.charge_type,
            item
        ),
        vendor_lines: l.line_id.as_deref().unwrap_or_default().to_string(),
    }
}

fn one_price(s: &Side<'_>) -> Option<Decimal> {
    (s.prices.len() == 1).then(|| s.prices.first().expect("one"))
}

fn classify(
    period: &str,
    key: &Key,
    o: Option<&Side<'_>>,
    t: Option<&Side<'_>>,
    refused: Option<Decimal>,
    tol: &Tolerance,
) -> Option<Discrepancy> {
    // The first currency of a side (there is one unless it is a mismatch).
    fn currency<'s>(s: &Side<'s>) -> &'s str {
        s.currencies.first().unwrap_or_default()
    }
    let base = |class: &str, o: Option<&Side<'_>>, t: Option<&Side<'_>>, explanation: String| {
        let our_amount = o.map(|s| s.amount).unwrap_or_default();
        let their_amount = t.map(|s| s.amount).unwrap_or_default();
        let cur = match (t, o) {
            (Some(s), _) => currency(s),
            (None, Some(s)) => currency(s),
            (None, None) => "",
        }
        .to_string();
        Discrepancy {
            account_id: key.account_id.to_string(),
            item: key.item.to_string(),
            charge_type: key.charge_type.to_string(),
            billing_period: period.to_string(),
            cycle_start: None,
            class: class.to_string(),
            our_usage_quantity: o.and_then(|s| s.usage),
            their_usage_quantity: t.and_then(|s| s.usage),
            our_deducted_quantity: o.and_then(|s| s.deducted),
            their_deducted_quantity: t.and_then(|s| s.deducted),
            our_billed_quantity: o.and_then(|s| s.billed),
            their_billed_quantity: t.and_then(|s| s.billed),
            our_unit_price: o.and_then(one_price),
            their_unit_price: t.and_then(one_price),
            our_amount,
            their_amount,
            delta_amount: their_amount - our_amount,
            currency: cur,
            within_tolerance: false,
            explanation,
            vendor_lines: t.map(|s| s.line_ids.join(";")).unwrap_or_default(),
        }
    };
    // Made for a difference only (most keys agree).
    let what = || format!("{} {} for {}", key.charge_type, key.item, key.account_id);
    match (o, t) {
        (None, None) => None,
        (Some(o), None) => {
            if o.amount.is_zero() {
                return None; // nothing to bill, nothing listed
            }
            let what = what();
            Some(base(
                "missing_from_statement",
                Some(o),
                None,
                format!(
                    "reckon expects {} {} of {what} ({} units billed) but the statement has no such charge",
                    money(o.amount),
                    currency(o),
                    fmt(o.billed.unwrap_or_default())
                ),
            ))
        }
        (None, Some(t)) => {
            let what = what();
            let (class, why) = match refused {
                Some(r) if key.charge_type == "usage" => (
                    "refused_usage_billed",
                    format!(
                        "the vendor billed {} {} for usage reckon refused ({} units: postpaid off or account suspended); nothing was billable",
                        money(t.amount),
                        currency(t),
                        fmt(r)
                    ),
                ),
                _ => (
                    "unexpected_charge",
                    format!(
                        "the vendor billed {} {} of {what} but reckon has no usage, package or subscription to explain it",
                        money(t.amount),
                        currency(t)
                    ),
                ),
            };
            Some(base(class, None, Some(t), why))
        }
        (Some(o), Some(t)) => {
            let (oc, tc) = (currency(o), currency(t));
            if oc != tc || t.currencies.len() > 1 {
                let what = what();
                return Some(base(
                    "currency_mismatch",
                    Some(o),
                    Some(t),
                    format!(
                        "reckon bills {what} in {oc} ({}) but the vendor billed {} ({}); amounts in different currencies are not compared",
                        money(o.amount),
                        t.currencies.iter().cloned().collect::<Vec<_>>().join("+"),
                        money(t.amount)
                    ),
                ));
            }
            // Repeated identical one-off charges beyond what reckon expects.
            if key.charge_type != "usage" && t.lines > o.lines {
                let mut extra = t.amounts.clone();
                for a in &o.amounts {
                    if let Some(i) = extra.iter().position(|x| x == a) {
                        extra.remove(i);
                    }
                }
                if extra.len() == t.lines - o.lines
                    && o.amounts.iter().all(|a| t.amounts.contains(a))
                {
                    let dup: Decimal = extra.iter().copied().sum();
                    let mut d = base(
                        "duplicate_charge",
                        Some(o),
                        Some(t),
                        format!(
                            "the vendor lists {} {} charges for {} but reckon expects {}; the extra {} {} is charged twice",
                            t.lines, key.charge_type, key.item, o.lines, money(dup), tc
                        ),
                    );
                    d.within_tolerance = tol.allows(tc, o.amount, t.amount);
                    return Some(d);
                }
            }
            // Quantities are written with 6 decimals (minutes from seconds do
            // not terminate), so sums of written lines may differ from exact
            // sums by up to half a millionth per line.
            let slack = Decimal::new(o.lines.max(t.lines) as i64, 6);
            let qty_eq = |a: Option<Decimal>, b: Option<Decimal>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= slack,
                _ => true, // a side without the figure cannot disagree on it
            };
            let amounts_eq = o.amount == t.amount;
            let usage_eq = qty_eq(o.usage, t.usage);
            let ded_eq = qty_eq(o.deducted, t.deducted);
            let billed_eq = qty_eq(o.billed, t.billed);
            let (op, tp) = (one_price(o), one_price(t));
            let price_eq = match (op, tp) {
                (Some(a), Some(b)) => a == b,
                _ => o.prices == t.prices || o.prices.is_empty() || t.prices.is_empty(),
            };
            if amounts_eq && usage_eq && ded_eq && billed_eq && price_eq {
                return None;
            }
            let ob = o.billed.unwrap_or_default();
            let tb = t.billed.unwrap_or(ob);
            let extra_billed = tb - ob;
            let class = if key.charge_type == "usage"
                && refused.is_some_and(|r| extra_billed > Decimal::ZERO && extra_billed <= r)
            {
                "refused_usage_billed"
            } else if !usage_eq {
                "quantity_mismatch"
            } else if !ded_eq
                || (t.deducted.is_none()
                    && !billed_eq
                    && o.deducted.unwrap_or_default() > Decimal::ZERO)
            {
                "deduction_mismatch"
            } else if !billed_eq {
                "quantity_mismatch"
            } else if !price_eq {
                "price_mismatch"
            } else {
                "amount_mismatch"
            };
            let p = |x: Option<Decimal>| x.map(fmt).unwrap_or_else(|| "-".into());
            let what = what();
            let expl = match class {
                "refused_usage_billed" => format!(
                    "the vendor billed {} more units of {what} than reckon ({} vs {}); reckon refused {} units (postpaid off or account suspended): expected {}, billed {} {tc}",
                    fmt(extra_billed), fmt(tb), fmt(ob), p(refused), money(o.amount), money(t.amount)
                ),
                "quantity_mismatch" => format!(
                    "metered usage of {what} differs: reckon counts {} used / {} billed, the vendor {} used / {} billed: expected {}, billed {} {tc}",
                    p(o.usage), fmt(ob), p(t.usage), p(t.billed), money(o.amount), money(t.amount)
                ),
                "deduction_mismatch" => format!(
                    "package deduction differs for {what}: reckon deducts {} (billing {} at {}), the vendor deducts {} (billing {} at {}): expected {}, billed {} {tc}",
                    p(o.deducted), fmt(ob), p(op), p(t.deducted), p(t.billed), p(tp), money(o.amount), money(t.amount)
                ),
                "price_mismatch" => format!(
                    "the vendor billed {} units of {what} at {} but reckon prices them at {} (the tier the billed quantity reaches): expected {}, billed {} {tc}",
                    fmt(tb), p(tp), p(op), money(o.amount), money(t.amount)
                ),
                _ => format!(
                    "same quantities ({} billed) and unit price ({}) for {what}, but the amounts differ: expected {}, billed {} {tc} (arithmetic or rounding)",
                    fmt(ob), p(op), money(o.amount), money(t.amount)
                ),
            };
            let mut d = base(class, Some(o), Some(t), expl);
            d.within_tolerance =
                tol.allows(tc, o.amount, t.amount) && usage_eq && ded_eq && billed_eq;
            if d.within_tolerance && amounts_eq {
                return None;
            }
            Some(d)
        }
    }
}

/// `discrepancy_summary` rows: per account and class, per currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub account_id: String,
    pub class: String,
    pub currency: String,
    pub count: u64,
    pub ours: Decimal,
    pub theirs: Decimal,
    pub delta: Decimal,
    pub within_tolerance: u64,
}

pub fn summarize(ds: &[Discrepancy]) -> Vec<SummaryRow> {
    let mut m: BTreeMap<(String, String, String), SummaryRow> = BTreeMap::new();
    for d in ds {
        let r = m
            .entry((d.account_id.clone(), d.class.clone(), d.currency.clone()))
            .or_insert_with(|| SummaryRow {
                account_id: d.account_id.clone(),
                class: d.class.clone(),
                currency: d.currency.clone(),
                count: 0,
                ours: Decimal::ZERO,
                theirs: Decimal::ZERO,
                delta: Decimal::ZERO,
                within_tolerance: 0,
            });
        r.count += 1;
        r.ours += d.our_amount;
        r.theirs += d.their_amount;
        r.delta += d.delta_amount;
        r.within_tolerance += u64::from(d.within_tolerance);
    }
    m.into_values().collect()
}

/// When a run should fail (`--fail-on`).
#[derive(Debug, Clone, PartialEq)]
pub enum FailOn {
    None,
    Any,
    /// Total |delta| outside tolerance above this amount (any currency).
    Amount(Decimal),
}

impl FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(FailOn::None),
            "any" => Ok(FailOn::Any),
            _ => s
                .strip_prefix("amount:")
                .and_then(|n| Decimal::from_str(n).ok())
                .map(FailOn::Amount)
                .ok_or_else(|| format!("--fail-on {s:?}: use none, any or amount:N")),
        }
    }
}

impl FailOn {
    /// Whether these discrepancies fail the run (exit code 3).
    pub fn fails(&self, ds: &[Discrepancy]) -> bool {
        let outside = ds.iter().filter(|d| !d.within_tolerance);
        match self {
            FailOn::None => false,
            FailOn::Any => outside.count() > 0,
            FailOn::Amount(n) => {
                let mut per: BTreeMap<&str, Decimal> = BTreeMap::new();
                for d in outside {
                    *per.entry(&d.currency).or_default() += d.delta_amount.abs();
                }
                per.values().any(|v| v > n)
            }
        }
    }
}

/// Every class, with its count (zero included), for summaries.
pub fn class_counts(ds: &[Discrepancy]) -> BTreeMap<&'static str, u64> {
    let mut m: BTreeMap<&'static str, u64> = CLASSES.iter().map(|c| (*c, 0)).collect();
    for d in ds.iter().filter(|d| !d.within_tolerance) {
        if let Some(c) = CLASSES.iter().find(|c| **c == d.class) {
            *m.entry(c).or_default() += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_line_ids_are_equal_texts_not_equal_hashes() {
        // Every hash the same (as if all collided): only the later
        // occurrences of an equal text are repeats.
        let ids = ["a", "b", "a", "c", "b", "a", "d"];
        let with_id: Vec<(usize, u64)> = (0..ids.len()).map(|i| (i, 7)).collect();
        let mut r = repeated_ids(&with_id, |i| ids[i]);
        r.sort_unstable();
        assert_eq!(r, vec![2, 4, 5]);
        // Hashes spread over the partitions: the same.
        let with_id: Vec<(usize, u64)> = (0..ids.len())
            .map(|i| (i, (u64::from(ids[i].as_bytes()[0]) << 32) | 1))
            .collect();
        let mut r = repeated_ids(&with_id, |i| ids[i]);
        r.sort_unstable();
        assert_eq!(r, vec![2, 4, 5]);
    }
}
