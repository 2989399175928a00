//! Deduction and rating for one account: the per-account stage that runs on
//! rayon after polars has reduced the events to [`Bucket`]s.
//!
//! Quantities inside the engine are in *measure units* (calls, tokens after
//! per-task rounding, seconds): exact decimals. They become billing units
//! (calls, 1,000 tokens, minutes) only when written, and money is computed as
//! `measure × unit_price / unit_size`, rounded once per line.

use std::collections::BTreeMap;

use rayon::prelude::*;
use rust_decimal::prelude::*;

use crate::catalog::{self, Catalog, Item, PriceList, Product, TierMode};
use crate::model::*;
use crate::period::{self, Period};
use crate::policy::Policy;

/// What every account's run shares.
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub period: Period,
    pub policy: &'a Policy,
}

/// Everything one account brings to the period.
#[derive(Debug, Clone, Default)]
pub struct AccountInput {
    pub account_id: String,
    pub buckets: Vec<Bucket>,
    pub packages: Vec<Package>,
    pub settings: Vec<AccountSetting>,
    pub subscriptions: Vec<Subscription>,
}

/// A bucket whose usage was only partly refused: which of its events were
/// refused is found by a second, targeted pass over the events
/// ([`crate::reduce::resolve_partials`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialBucket {
    pub account_id: String,
    pub item: String,
    pub region: Option<String>,
    pub resolution: Option<String>,
    pub start: Micros,
    pub end: Micros,
    /// Quantity (measure units) of the bucket's events, in event order, that
    /// was funded before refusal began.
    pub funded: Decimal,
    /// Events in the bucket (sizes the second pass's batches).
    pub events: u64,
}

impl PartialBucket {
    /// Bucket `b`, of which `funded` was funded.
    pub fn of(b: &Bucket, funded: Decimal) -> PartialBucket {
        PartialBucket {
            account_id: b.account_id.to_string(),
            item: b.item.to_string(),
            region: b.region.as_deref().map(str::to_string),
            resolution: b.resolution.as_deref().map(str::to_string),
            start: b.start,
            end: b.end,
            funded,
            events: b.events,
        }
    }

    /// The funded part in micro-units, as the second pass compares running
    /// totals with it (past `i64`, the largest `i64`).
    pub fn funded_micro(&self) -> i64 {
        (self.funded * Decimal::from(1_000_000))
            .to_i64()
            .unwrap_or(i64::MAX)
    }
}

/// What the second pass says of a partial bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialResolution {
    pub first_time: Micros,
    pub first_event_id: String,
    pub refused_events: u64,
}

/// An exception row still waiting for its partial buckets to be resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionDraft {
    pub row: ExceptionRow,
    /// Earliest refused event seen so far (time, event id), from wholly refused buckets.
    pub first: Option<(Micros, String)>,
    /// The row key of `first`'s event when its id is yet to be read.
    pub first_row: Option<i64>,
    pub partials: Vec<PartialBucket>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountResult {
    pub lines: Vec<InvoiceLine>,
    pub ledger: Vec<LedgerRow>,
    pub exceptions: Vec<ExceptionDraft>,
}

/// Run every account on rayon; results come back in input order, so the
/// output does not depend on the thread count. `done` is called after each
/// account (for a progress bar).
pub fn run_accounts(
    ctx: &Context,
    inputs: Vec<AccountInput>,
    done: &(dyn Fn() + Sync),
) -> Vec<AccountResult> {
    inputs
        .into_par_iter()
        .map(|a| {
            let r = run_account(ctx, a);
            done();
            r
        })
        .collect()
}

struct PkgState {
    pkg: Package,
    unit_size: Decimal,
    opening: Decimal,
    balance: Decimal,
    deducted: Decimal,
    refunded: Decimal,
    expired: Decimal,
    /// Drawn from before this period (opening below size) or in it.
    used: bool,
    removed: bool,
}

/// Key of one usage line: item, cycle and price key (borrowed from the
/// account's buckets).
type LineKey<'b> = (&'b str, Micros, Option<&'b str>, Option<&'b str>);

#[derive(Default)]
struct LineAcc {
    by_kind: [Decimal; 3],
    postpaid: Decimal,
    subscription: Decimal,
    refused: Decimal,
    events: u64,
    draws: BTreeMap<String, Decimal>,
    covered_mode: Option<String>,
}

struct ExcAcc {
    quantity: Decimal,
    events: u64,
    first: Option<(Micros, String)>,
    first_row: Option<i64>,
    partials: Vec<PartialBucket>,
    detail: String,
}

const REFUSED_POSTPAID: &str = "postpaid_disabled";
const REFUSED_SUSPENDED: &str = "account_suspended";
const REFUSED_NO_PRICE: &str = "no_price";

/// Deduct and rate one account's period.
pub fn run_account(ctx: &Context, input: AccountInput) -> AccountResult {
    let cat = ctx.catalog;
    let offset = ctx.period.offset;
    let (pstart, pend) = (ctx.period.start(), ctx.period.end());
    let mut out = AccountResult::default();

    // Package state, per item, with opening balances in measure units.
    let mut pkgs: Vec<PkgState> = input
        .packages
        .into_iter()
        .map(|pkg| {
            let unit_size = cat
                .item(&pkg.item)
                .map(|(_, i)| i.unit_size)
                .unwrap_or(Decimal::ONE);
            let opening = pkg.remaining_measure.unwrap_or(pkg.remaining * unit_size);
            let used = opening < pkg.size * unit_size;
            PkgState {
                pkg,
                unit_size,
                opening,
                balance: opening,
                deducted: Decimal::ZERO,
                refunded: Decimal::ZERO,
                expired: Decimal::ZERO,
                used,
                removed: false,
            }
        })
        .collect();
    pkgs.sort_by(|a, b| a.pkg.package_id.cmp(&b.pkg.package_id));

    // Purchases made in the period are charged on this invoice.
    for st in &pkgs {
        let p = &st.pkg;
        let charged = match p.kind {
            PackageKind::Prepaid => true,
            PackageKind::Campaign => p.price.is_some_and(|x| x > Decimal::ZERO),
            PackageKind::Free => false,
        };
        if !(charged && pstart <= p.effective_at && p.effective_at < pend) {
            continue;
        }
        match package_price(cat, p) {
            Some((price, currency)) => out.lines.push(one_off_line(
                p,
                "purchase",
                Decimal::ONE,
                price,
                &currency,
                cat,
            )),
            None => out.exceptions.push(plain_exception(
                p,
                REFUSED_NO_PRICE,
                p.effective_at,
                format!(
                    "package {} bought without a price and the catalog lists no {} package of size {}",
                    p.package_id, p.item, p.size
                ),
            )),
        }
    }

    // Usage, item by item (no cross-item deduction), in event-time order with
    // refund requests interleaved at their own time.
    let mut buckets = input.buckets;
    buckets.sort_by(|a, b| {
        (&a.item, a.start, &a.region, &a.resolution).cmp(&(
            &b.item,
            b.start,
            &b.region,
            &b.resolution,
        ))
    });
    let mut lines: BTreeMap<LineKey<'_>, LineAcc> = BTreeMap::new();
    let mut excs: BTreeMap<(LineKey<'_>, &'static str), ExcAcc> = BTreeMap::new();

    let items: Vec<String> = {
        let mut v: Vec<&str> = buckets
            .iter()
            .map(|b| &*b.item)
            .chain(pkgs.iter().map(|p| p.pkg.item.as_str()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v.into_iter().map(str::to_string).collect()
    };

    for item_id in &items {
        let Some((product, item)) = cat.item(item_id) else {
            continue;
        };
        let setting = input.settings.iter().find(|s| s.product == product.id);
        let mode = setting.map(|s| s.billing_mode.as_str()).unwrap_or("usage");
        let covered = item.covered_by_modes.iter().any(|m| m == mode);
        let postpaid_on = postpaid_on(item, setting);
        let suspension = setting.and_then(|s| Some((s.suspended_from?, s.suspended_until?)));

        // Timeline: refund requests (0) sort before usage (1) at the same instant.
        let mut timeline: Vec<(Micros, u8, usize)> = Vec::new();
        for (i, st) in pkgs.iter().enumerate() {
            if st.pkg.item == *item_id {
                if let Some(r) = st.pkg.refunded_at {
                    if pstart <= r && r < pend {
                        timeline.push((r, 0, i));
                    }
                }
            }
        }
        for (i, b) in buckets.iter().enumerate() {
            if *b.item == **item_id {
                timeline.push((b.start, 1, i));
            }
        }
        timeline.sort();

        for (_, kind, idx) in timeline {
            if kind == 0 {
                process_refund(cat, offset, &mut pkgs[idx], &mut out);
                continue;
            }
            let b = &buckets[idx];
            let key: LineKey = (
                &b.item,
                b.cycle_start,
                b.region.as_deref(),
                b.resolution.as_deref(),
            );
            let acc = lines.entry(key).or_default();
            acc.events += b.events;
            if b.quantity.is_zero() {
                continue;
            }
            if covered {
                acc.subscription += b.quantity;
                acc.covered_mode = Some(mode.to_string());
                continue;
            }
            if let Some((from, until)) = suspension {
                if from <= b.start && b.start < until {
                    acc.refused += b.quantity;
                    refuse(
                        &mut excs,
                        key,
                        REFUSED_SUSPENDED,
                        b,
                        b.quantity,
                        Decimal::ZERO,
                        "usage while the account was suspended for arrears (package deduction paused, not billed)",
                    );
                    continue;
                }
            }
            // Packages valid for the whole bucket, in policy order.
            let mut order: Vec<usize> = pkgs
                .iter()
                .enumerate()
                .filter(|(_, st)| {
                    st.pkg.item == *item_id
                        && !st.removed
                        && st.balance > Decimal::ZERO
                        && st.pkg.effective_at <= b.start
                        && b.start < st.pkg.expires_at
                        && ctx.policy.kind_rank(st.pkg.kind).is_some()
                })
                .map(|(i, _)| i)
                .collect();
            order.sort_by(|&x, &y| {
                ctx.policy.compare(
                    &pkgs[x].pkg,
                    &pkgs[y].pkg,
                    (&pkgs[x].balance, &pkgs[y].balance),
                )
            });
            let mut left = b.quantity;
            for i in order {
                if left.is_zero() {
                    break;
                }
                let st = &mut pkgs[i];
                let take = left.min(st.balance);
                st.balance -= take;
                st.deducted += take;
                st.used = true;
                left -= take;
                acc.by_kind[kind_index(st.pkg.kind)] += take;
                *acc.draws.entry(st.pkg.package_id.clone()).or_default() += take;
            }
            if left.is_zero() {
                continue;
            }
            let funded = b.quantity - left;
            let priced = priced(product, item, b.region.as_deref(), b.resolution.as_deref());
            if postpaid_on && priced {
                acc.postpaid += left;
            } else {
                acc.refused += left;
                let (reason, why) = if !priced && item.postpaid != catalog::Postpaid::None {
                    (REFUSED_NO_PRICE, "usage with no price in the catalog for its item, region and resolution (unrated, not billed)")
                } else if item.postpaid == catalog::Postpaid::None {
                    (
                        REFUSED_POSTPAID,
                        "usage beyond the packages of an item with no postpaid price (not billed)",
                    )
                } else {
                    (REFUSED_POSTPAID, "calls after the packages ran out while postpaid is not enabled (the vendor refuses these; not billed)")
                };
                refuse(&mut excs, key, reason, b, left, funded, why);
            }
        }
    }

    // Rate the usage lines.
    for ((item_id, cycle_start, region, resolution), acc) in lines {
        let (product, item) = cat.item(item_id).expect("bucket items are catalog items");
        out.lines.push(rate_line(
            product,
            item,
            &input.account_id,
            cycle_start,
            region.map(str::to_string),
            resolution.map(str::to_string),
            acc,
        ));
    }

    for ((key, reason), e) in excs {
        out.exceptions.push(ExceptionDraft {
            row: ExceptionRow {
                account_id: input.account_id.clone(),
                item: key.0.to_string(),
                event_id: None,
                event_time: None,
                reason: reason.to_string(),
                quantity: to_billing(cat, key.0, e.quantity),
                package_id: None,
                events: e.events,
                detail: e.detail,
            },
            first: e.first,
            first_row: e.first_row,
            partials: e.partials,
        });
    }

    // Subscriptions.
    for s in &input.subscriptions {
        if let Some(line) = subscription_line(ctx, s) {
            out.lines.push(line);
        }
    }

    // Close the ledger: what expires by the period's end expires.
    for mut st in pkgs {
        if !st.removed && st.pkg.expires_at <= pend && st.balance > Decimal::ZERO {
            st.expired = st.balance;
            st.balance = Decimal::ZERO;
        }
        let us = st.unit_size;
        let mut pkg = st.pkg;
        pkg.remaining = st.balance / us;
        pkg.remaining_measure = Some(st.balance);
        out.ledger.push(LedgerRow {
            opening: st.opening / us,
            deducted: st.deducted / us,
            expired: st.expired / us,
            refunded: st.refunded / us,
            closing: st.balance / us,
            closing_measure: st.balance,
            package: pkg,
        });
    }

    out.lines.sort_by(|a, b| line_order(a).cmp(&line_order(b)));
    // Moved to a vector of exactly their size: the month keeps each
    // account's vector as it is ([`Lines`]), and one grown by doubling has
    // room for up to twice its lines (the allocator's shrink keeps the
    // block while at least half of it is used).
    if out.lines.capacity() > out.lines.len() {
        let mut exact = Vec::with_capacity(out.lines.len());
        exact.append(&mut out.lines);
        out.lines = exact;
    }
    out
}

/// The order of an account's invoice lines (a key borrowed from the line).
fn line_order(l: &InvoiceLine) -> (&str, &str, Micros, Option<&str>, Option<&str>, Option<&str>) {
    (
        &l.item,
        &l.charge_type,
        l.cycle_start,
        l.region.as_deref(),
        l.resolution.as_deref(),
        l.reference.as_deref(),
    )
}

fn kind_index(k: PackageKind) -> usize {
    match k {
        PackageKind::Free => 0,
        PackageKind::Campaign => 1,
        PackageKind::Prepaid => 2,
    }
}

fn refuse<'b>(
    excs: &mut BTreeMap<(LineKey<'b>, &'static str), ExcAcc>,
    key: LineKey<'b>,
    reason: &'static str,
    b: &Bucket,
    refused: Decimal,
    funded: Decimal,
    detail: &str,
) {
    let e = excs.entry((key, reason)).or_insert_with(|| ExcAcc {
        quantity: Decimal::ZERO,
        events: 0,
        first: None,
        first_row: None,
        partials: Vec::new(),
        detail: detail.to_string(),
    });
    e.quantity += refused;
    if funded.is_zero() {
        e.events += b.events;
        let cand = (b.first_time, b.first_event_id.clone());
        if e.first.as_ref().is_none_or(|f| cand < *f) {
            e.first = Some(cand);
            e.first_row = b.first_row;
        }
    } else {
        e.partials.push(PartialBucket::of(b, funded));
    }
}

impl ExceptionDraft {
    /// The row key whose event id this exception will name, when it is yet
    /// to be read: the exception holds one event, from a one-event bucket
    /// whose id the reduction did not read.
    pub fn wanted_row(&self) -> Option<i64> {
        let unnamed = self.first.as_ref().is_some_and(|f| f.1.is_empty());
        self.first_row.filter(|_| self.row.events == 1 && unnamed)
    }

    /// Name `first`'s event (the id of [`Self::wanted_row`]).
    pub fn name_first(&mut self, id: &str) {
        if let Some(f) = self.first.as_mut() {
            f.1 = id.to_string();
        }
    }

    /// Fold in what the second pass found for this draft's partial buckets:
    /// `event_time` is the first refused event, `event_id` names it when it is
    /// the only one.
    /// `resolved` holds one entry per partial bucket, in order.
    pub fn finish(mut self, resolved: &[Option<PartialResolution>]) -> ExceptionRow {
        let mut first = self.first.take();
        for r in resolved.iter().flatten() {
            {
                let r = r.clone();
                self.row.events += r.refused_events;
                let cand = (r.first_time, r.first_event_id);
                if first.as_ref().is_none_or(|f| cand < *f) {
                    first = Some(cand);
                }
            }
        }
        if let Some((t, id)) = first {
            self.row.event_time = Some(t);
            if self.row.events == 1 {
                self.row.event_id = Some(id);
            }
        }
        self.row
    }
}

fn process_refund(cat: &Catalog, offset: i32, st: &mut PkgState, out: &mut AccountResult) {
    let p = &st.pkg;
    let requested = p.refunded_at.expect("refund timeline entries have a time");
    let deadline = period::refund_deadline(p.effective_at, offset);
    let rejection = if p.kind != PackageKind::Prepaid {
        Some(format!("{} packages are not refundable", p.kind.as_str()))
    } else if st.removed || requested >= p.expires_at {
        Some("the package had already expired".to_string())
    } else if st.used {
        Some(format!(
            "partly used ({} of {} {} left)",
            (st.balance / st.unit_size).normalize(),
            p.size.normalize(),
            "units"
        ))
    } else if !period::within_refund_window(p.effective_at, requested, offset) {
        Some(format!(
            "requested on {} but refundable only through {} (7 days inclusive of the purchase day {})",
            period::local_date(requested, offset),
            deadline,
            period::local_date(p.effective_at, offset)
        ))
    } else {
        None
    };
    if let Some(why) = rejection {
        out.exceptions.push(plain_exception(
            p,
            "refund_rejected",
            requested,
            format!("refund of package {} rejected: {why}", p.package_id),
        ));
        return;
    }
    match package_price(cat, p) {
        Some((price, currency)) => {
            let mut line = one_off_line(p, "refund", -Decimal::ONE, price, &currency, cat);
            line.cycle_start = requested;
            out.lines.push(line);
            st.refunded = st.balance;
            st.balance = Decimal::ZERO;
            st.removed = true;
        }
        None => out.exceptions.push(plain_exception(
            p,
            REFUSED_NO_PRICE,
            requested,
            format!("refund of package {} has no price to credit", p.package_id),
        )),
    }
}

fn plain_exception(p: &Package, reason: &str, at: Micros, detail: String) -> ExceptionDraft {
    ExceptionDraft {
        row: ExceptionRow {
            account_id: p.account_id.clone(),
            item: p.item.clone(),
            event_id: None,
            event_time: Some(at),
            reason: reason.to_string(),
            quantity: p.size,
            package_id: Some(p.package_id.clone()),
            events: 0,
            detail,
        },
        first: None,
        first_row: None,
        partials: Vec::new(),
    }
}

/// What a package cost, and in which currency: its own price, else the
/// catalog's list price for a package of that kind and size.
pub fn package_price(cat: &Catalog, p: &Package) -> Option<(Decimal, String)> {
    let (product, item) = cat.item(&p.item)?;
    let currency = p
        .currency
        .clone()
        .unwrap_or_else(|| product.currency.clone());
    if let Some(price) = p.price {
        return Some((price, currency));
    }
    item.packages
        .iter()
        .find(|s| s.kind == p.kind.as_str() && s.size == Some(p.size))
        .and_then(|s| s.price)
        .map(|price| (price, currency))
}

fn one_off_line(
    p: &Package,
    charge_type: &str,
    quantity: Decimal,
    price: Decimal,
    currency: &str,
    cat: &Catalog,
) -> InvoiceLine {
    let minor = catalog::minor_units(currency).unwrap_or(2);
    InvoiceLine {
        account_id: p.account_id.clone(),
        item: p.item.clone(),
        charge_type: charge_type.to_string(),
        cycle_start: p.effective_at,
        usage_quantity: quantity,
        free_quantity: Decimal::ZERO,
        campaign_quantity: Decimal::ZERO,
        prepaid_quantity: Decimal::ZERO,
        postpaid_quantity: Decimal::ZERO,
        tier: Some(format!(
            "{} package of {} x {}",
            p.kind.as_str(),
            p.size.normalize(),
            cat.item(&p.item)
                .map(|(_, i)| i.unit.as_str())
                .unwrap_or("unit")
        )),
        unit_price: Some(price),
        amount: round_money(quantity * price, minor),
        currency: currency.to_string(),
        packages: p.package_id.clone(),
        region: None,
        resolution: None,
        subscription_quantity: Decimal::ZERO,
        refused_quantity: Decimal::ZERO,
        events: 0,
        reference: Some(p.package_id.clone()),
    }
}

/// Whether usage of `item` beyond its packages is billed postpaid for an
/// account with `setting` for the item's product (else it is refused).
pub fn postpaid_on(item: &Item, setting: Option<&AccountSetting>) -> bool {
    match item.postpaid {
        catalog::Postpaid::Auto => true,
        catalog::Postpaid::OptIn => setting.and_then(|s| s.postpaid_enabled).unwrap_or(false),
        catalog::Postpaid::None => false,
    }
}

/// Whether the catalog prices `item` in this region and resolution (a
/// missing region read as the product's default).
pub fn priced(
    product: &Product,
    item: &Item,
    region: Option<&str>,
    resolution: Option<&str>,
) -> bool {
    price_for(product, item, region, resolution).is_some()
}

/// The price list for usage in `region` (the product's default region when the
/// usage names none) and `resolution`.
fn price_for<'a>(
    product: &Product,
    item: &'a Item,
    region: Option<&str>,
    resolution: Option<&str>,
) -> Option<&'a PriceList> {
    catalog::price_list(
        item,
        region.or(product.default_region.as_deref()),
        resolution,
    )
}

/// Round to the currency's minor unit, half away from zero.
pub fn round_money(x: Decimal, minor: u32) -> Decimal {
    let mut r = x.round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(minor);
    r
}

fn to_billing(cat: &Catalog, item: &str, measure: Decimal) -> Decimal {
    let us = cat
        .item(item)
        .map(|(_, i)| i.unit_size)
        .unwrap_or(Decimal::ONE);
    measure / us
}

/// The money of a postpaid quantity under one price list.
#[derive(Debug, Clone, PartialEq)]
pub struct Rated {
    pub tier: String,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

fn tier_label(from: Decimal, to: Option<Decimal>) -> String {
    match to {
        Some(t) => format!("[{},{})", from.normalize(), t.normalize()),
        None => format!("[{},inf)", from.normalize()),
    }
}

/// Price `measure` (measure units) under `pl`: volume tiers bill all of it at
/// the tier its billing-unit quantity reaches; graduated tiers bill each slice
/// at its own price. One rounding, at the end, half away from zero.
pub fn rate(pl: &PriceList, measure: Decimal, unit_size: Decimal, minor: u32) -> Rated {
    let units = measure / unit_size;
    let reached = pl
        .tiers
        .iter()
        .rev()
        .find(|t| units >= t.from)
        .or(pl.tiers.first())
        .expect("price lists have tiers");
    match pl.tier_mode {
        TierMode::Volume => Rated {
            tier: tier_label(reached.from, reached.to),
            unit_price: reached.unit_price,
            amount: round_money(measure * reached.unit_price / unit_size, minor),
        },
        TierMode::Graduated => {
            let mut raw = Decimal::ZERO;
            for t in &pl.tiers {
                let lo = t.from * unit_size;
                let hi = t.to.map(|x| x * unit_size).unwrap_or(Decimal::MAX);
                if measure > lo {
                    raw += (measure.min(hi) - lo) * t.unit_price;
                }
            }
            Rated {
                tier: format!("graduated up to {}", tier_label(reached.from, reached.to)),
                unit_price: reached.unit_price,
                amount: round_money(raw / unit_size, minor),
            }
        }
    }
}

fn rate_line(
    product: &Product,
    item: &Item,
    account_id: &str,
    cycle_start: Micros,
    region: Option<String>,
    resolution: Option<String>,
    acc: LineAcc,
) -> InvoiceLine {
    let us = item.unit_size;
    let pl = price_for(product, item, region.as_deref(), resolution.as_deref());
    let currency = pl
        .and_then(|p| p.currency.clone())
        .unwrap_or_else(|| product.currency.clone());
    let minor = catalog::minor_units(&currency).unwrap_or(2);
    let (tier, unit_price, amount) = match (pl, acc.postpaid.is_zero()) {
        (Some(pl), false) => {
            let r = rate(pl, acc.postpaid, us, minor);
            (Some(r.tier), Some(r.unit_price), r.amount)
        }
        _ => (
            acc.covered_mode.clone().map(|m| format!("{m} mode")),
            None,
            Decimal::ZERO,
        ),
    };
    let packaged: Decimal = acc.by_kind.iter().copied().sum();
    let packages = acc
        .draws
        .iter()
        .map(|(id, q)| format!("{id}:{}", (q / us).normalize()))
        .collect::<Vec<_>>()
        .join(";");
    InvoiceLine {
        account_id: account_id.to_string(),
        item: item.id.clone(),
        charge_type: "usage".into(),
        cycle_start,
        usage_quantity: (packaged + acc.postpaid) / us,
        free_quantity: acc.by_kind[0] / us,
        campaign_quantity: acc.by_kind[1] / us,
        prepaid_quantity: acc.by_kind[2] / us,
        postpaid_quantity: acc.postpaid / us,
        tier,
        unit_price,
        amount,
        currency,
        packages,
        region,
        resolution,
        subscription_quantity: acc.subscription / us,
        refused_quantity: acc.refused / us,
        events: acc.events,
        reference: None,
    }
}

fn subscription_line(ctx: &Context, s: &Subscription) -> Option<InvoiceLine> {
    let (product, sub) = ctx.catalog.subscription(&s.item)?;
    let term = sub.terms.iter().find(|t| t.term == s.term)?;
    let p = &ctx.period;
    let periods = match s.term.as_str() {
        "day" => period::overlapping_days(s.starts_at, s.ends_at, p),
        _ => i64::from(s.starts_at < p.end() && p.start() < s.ends_at),
    };
    if periods == 0 {
        return None;
    }
    let tier = term
        .tiers
        .iter()
        .rev()
        .find(|t| s.quantity >= t.from)
        .or(term.tiers.first())?;
    let minor = catalog::minor_units(&product.currency).unwrap_or(2);
    let quantity = s.quantity * Decimal::from(periods);
    Some(InvoiceLine {
        account_id: s.account_id.clone(),
        item: s.item.clone(),
        charge_type: "subscription".into(),
        cycle_start: s.starts_at.max(p.start()),
        usage_quantity: quantity,
        free_quantity: Decimal::ZERO,
        campaign_quantity: Decimal::ZERO,
        prepaid_quantity: Decimal::ZERO,
        postpaid_quantity: Decimal::ZERO,
        tier: Some(format!(
            "{} x {} {}(s) per {}, tier {}",
            s.quantity.normalize(),
            periods,
            s.term,
            sub.unit,
            tier_label(tier.from, tier.to)
        )),
        unit_price: Some(tier.unit_price),
        amount: round_money(quantity * tier.unit_price, minor),
        currency: product.currency.clone(),
        packages: String::new(),
        region: None,
        resolution: None,
        subscription_quantity: Decimal::ZERO,
        refused_quantity: Decimal::ZERO,
        events: 0,
        reference: Some(s.subscription_id.clone()),
    })
}
