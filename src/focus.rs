//! reckon's own invoice as a FOCUS dataset (FinOps Open Cost and Usage
//! Specification, version [`FOCUS_VERSION`]): `focus.parquet` and `focus.csv`.
//!
//! One or more rows per invoice line:
//!
//! * a usage line becomes one `Usage` row per package it drew from
//!   (`CommitmentDiscountId` = the package, `CommitmentDiscountStatus` `Used`,
//!   `BilledCost` 0, `EffectiveCost` the amortised share of a priced package),
//!   one row for its postpaid part (one per tier slice under graduated
//!   pricing), and one zero-cost row for usage covered by a concurrency / QPS
//!   subscription; a line with none of these (only refused usage) still gets
//!   one zero row so every line appears;
//! * a package purchase is a one-time `Purchase` with the package as
//!   `CommitmentDiscountId` and `EffectiveCost` 0 (it pays for later usage);
//! * a package refund is a negative one-time `Purchase` (FOCUS: "Purchase ...
//!   including refunds"), `ChargeClass` `Correction` when the purchase was
//!   invoiced in an earlier billing period;
//! * a subscription is a recurring `Purchase` (`EffectiveCost` = `BilledCost`).
//!
//! Number rules: `ListCost = ListUnitPrice × PricingQuantity` and
//! `ContractedCost = ContractedUnitPrice × PricingQuantity` hold exactly in
//! the written text (reckon has no negotiated prices, so contracted = list).
//! `PricingQuantity` is the line's quantity at [`QTY_SCALE`] digits (exact for
//! every shipped item). `BilledCost` is the invoice amount, rounded to the
//! currency's minor unit, so it may differ from `ListCost` by that rounding;
//! `BilledCost` summed per account and currency equals the invoice total.
//! Each decimal column is written at one scale: the most digits any of its
//! values needs, and at least the minor unit for money and unit prices and
//! [`QTY_SCALE`] digits for quantities (so readers that guess types from CSV
//! text see decimals, not integers); nothing is rounded on the way out. Date/times are UTC, in CSV as `YYYY-MM-DDTHH:MM:SSZ`.
//! Custom columns follow the FOCUS columns and start with `x_`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{TimeZone as _, Utc};
use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::prelude::*;

use crate::catalog::{self, Catalog, Cycle, Measure, Tier, TierMode};
use crate::error::Result;
use crate::model::{InvoiceLine, Micros, Package, PackageKind};
use crate::output::{
    decimal_column, overlapped, push_scaled, push_text, push_utc, put, scaled_up, utc_column,
    CsvFile, ParquetGroups, Staging, QTY_SCALE,
};
use crate::period::{Period, DAY, HOUR};
use crate::run::Month;

/// The FOCUS version the columns and rules follow.
pub const FOCUS_VERSION: &str = "1.0";

/// Digits kept for amortised package cost (`EffectiveCost` of covered usage).
pub const AMORTISED_SCALE: u32 = 6;

/// `ServiceCategory` of every row.
pub const SERVICE_CATEGORY: &str = "AI and Machine Learning";

/// The FOCUS 1.0 columns, in the specification's (alphabetical) order.
pub const FOCUS_COLUMNS: &[&str] = &[
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

/// reckon's own columns, after the FOCUS ones.
pub const CUSTOM_COLUMNS: &[&str] = &["x_InvoiceLine", "x_ChargeType", "x_Reference", "x_Tier"];

/// Text of a row: borrowed from the invoice line, the catalog or the
/// export's labels where it can be, made for the row where it must.
pub type Text<'a> = Cow<'a, str>;

/// One FOCUS row. Columns always null in reckon's data (availability zone,
/// resources, names reckon does not know, tags) are not fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FocusRow<'a> {
    pub billed_cost: Decimal,
    pub billing_account_id: Text<'a>,
    pub billing_currency: Text<'a>,
    pub billing_period_start: Micros,
    pub billing_period_end: Micros,
    /// `Usage` or `Purchase` (`Adjustment` for a charge type reckon does not know).
    pub charge_category: &'static str,
    /// `Correction` or null.
    pub charge_class: Option<&'static str>,
    pub charge_description: Text<'a>,
    /// `Usage-Based`, `One-Time` or `Recurring`.
    pub charge_frequency: &'static str,
    pub charge_period_start: Micros,
    pub charge_period_end: Micros,
    /// Package id (commitment-based discount in FOCUS terms).
    pub commitment_discount_id: Option<Text<'a>>,
    pub commitment_discount_name: Option<Text<'a>>,
    /// `Used` on covered usage rows.
    pub commitment_discount_status: Option<&'static str>,
    pub commitment_discount_type: Option<Text<'a>>,
    pub consumed_quantity: Option<Decimal>,
    pub consumed_unit: Option<Text<'a>>,
    pub contracted_cost: Decimal,
    pub contracted_unit_price: Option<Decimal>,
    pub effective_cost: Decimal,
    pub list_cost: Decimal,
    pub list_unit_price: Option<Decimal>,
    /// `Standard` or `Committed`.
    pub pricing_category: &'static str,
    pub pricing_quantity: Option<Decimal>,
    pub pricing_unit: Option<Text<'a>>,
    /// Provider, publisher and invoice issuer (`Tencent Cloud`, `Alibaba Cloud`).
    pub provider_name: Text<'a>,
    pub region_id: Option<Text<'a>>,
    pub service_name: Text<'a>,
    pub sku_id: Option<Text<'a>>,
    pub sku_price_id: Option<Text<'a>>,
    pub sub_account_id: Text<'a>,
    /// 1-based position of the invoice line in `invoice_lines`.
    pub x_invoice_line: i64,
    /// reckon charge type: `usage`, `purchase`, `subscription`, `refund`.
    pub x_charge_type: Text<'a>,
    /// Package or subscription id of purchase / refund / subscription lines.
    pub x_reference: Option<Text<'a>>,
    pub x_tier: Option<Text<'a>>,
}

impl FocusRow<'_> {
    /// The row with all its text owned.
    pub fn into_owned(self) -> FocusRow<'static> {
        let own = |t: Text<'_>| -> Text<'static> { Cow::Owned(t.into_owned()) };
        let opt = |t: Option<Text<'_>>| t.map(own);
        FocusRow {
            billed_cost: self.billed_cost,
            billing_account_id: own(self.billing_account_id),
            billing_currency: own(self.billing_currency),
            billing_period_start: self.billing_period_start,
            billing_period_end: self.billing_period_end,
            charge_category: self.charge_category,
            charge_class: self.charge_class,
            charge_description: own(self.charge_description),
            charge_frequency: self.charge_frequency,
            charge_period_start: self.charge_period_start,
            charge_period_end: self.charge_period_end,
            commitment_discount_id: opt(self.commitment_discount_id),
            commitment_discount_name: opt(self.commitment_discount_name),
            commitment_discount_status: self.commitment_discount_status,
            commitment_discount_type: opt(self.commitment_discount_type),
            consumed_quantity: self.consumed_quantity,
            consumed_unit: opt(self.consumed_unit),
            contracted_cost: self.contracted_cost,
            contracted_unit_price: self.contracted_unit_price,
            effective_cost: self.effective_cost,
            list_cost: self.list_cost,
            list_unit_price: self.list_unit_price,
            pricing_category: self.pricing_category,
            pricing_quantity: self.pricing_quantity,
            pricing_unit: opt(self.pricing_unit),
            provider_name: own(self.provider_name),
            region_id: opt(self.region_id),
            service_name: own(self.service_name),
            sku_id: opt(self.sku_id),
            sku_price_id: opt(self.sku_price_id),
            sub_account_id: own(self.sub_account_id),
            x_invoice_line: self.x_invoice_line,
            x_charge_type: own(self.x_charge_type),
            x_reference: opt(self.x_reference),
            x_tier: opt(self.x_tier),
        }
    }
}

/// `Tencent Cloud` / `Alibaba Cloud` for a catalog vendor id.
pub fn provider_name(vendor: &str) -> String {
    match vendor {
        "tencent" => "Tencent Cloud".into(),
        "alibaba" => "Alibaba Cloud".into(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => "Unknown".into(),
            }
        }
    }
}

/// A catalog unit (`call`, `1k_tokens`, `concurrent task`) as a FOCUS unit
/// (`Calls`, `1000 Tokens`, `Concurrent Tasks`).
pub fn unit_label(unit: &str) -> String {
    let words: Vec<String> = unit
        .split(['_', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            if let Some(n) = w
                .strip_suffix('k')
                .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                format!("{n}000")
            } else if w
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                w.to_string()
            } else {
                let mut c = w.chars();
                let first = c
                    .next()
                    .map(|f| f.to_uppercase().collect::<String>())
                    .unwrap_or_default();
                first + c.as_str()
            }
        })
        .collect();
    let mut out = words.join(" ");
    let last_is_word = words
        .last()
        .is_some_and(|w| w.chars().any(|c| c.is_ascii_lowercase()));
    if last_is_word && !out.ends_with('s') {
        out.push('s');
    }
    out
}

fn money_round(x: Decimal, minor: u32) -> Decimal {
    x.round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero)
}

fn qty(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(QTY_SCALE, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// A price tier as the FOCUS rows label it: `[0,1000)`, `[1000,inf)`.
fn tier_label(t: &Tier) -> String {
    match t.to {
        Some(to) => format!("[{},{})", t.from.normalize(), to.normalize()),
        None => format!("[{},inf)", t.from.normalize()),
    }
}

fn num(x: Decimal) -> String {
    x.normalize().to_string()
}

/// The commitment's display name: `Prepaid package P1 of 100 call`.
fn package_name(kind: &str, pkg: Option<&Package>, unit: &str) -> Option<String> {
    pkg.map(|p| {
        format!(
            "{} package {} of {} {}",
            kind,
            p.package_id,
            p.size.normalize(),
            unit
        )
    })
}

fn kind_title(kind: PackageKind) -> &'static str {
    match kind {
        PackageKind::Free => "Free",
        PackageKind::Campaign => "Campaign",
        PackageKind::Prepaid => "Prepaid",
    }
}

/// `Free Package`, `Campaign Package`, ... for a kind title.
fn package_type(kind: &str) -> Text<'static> {
    match kind {
        "Free" => Cow::Borrowed("Free Package"),
        "Campaign" => Cow::Borrowed("Campaign Package"),
        "Prepaid" => Cow::Borrowed("Prepaid Package"),
        "Resource" => Cow::Borrowed("Resource Package"),
        other => Cow::Owned(format!("{other} Package")),
    }
}

/// Parse the `package_id:quantity;...` draws of a usage line.
fn draws(s: &str) -> Vec<(&str, Decimal)> {
    s.split(';')
        .filter(|x| !x.is_empty())
        .filter_map(|x| {
            let (id, q) = x.rsplit_once(':')?;
            Some((id, Decimal::from_str(q).ok()?))
        })
        .collect()
}

/// Row fields shared by every row of one line.
struct Base<'r> {
    line: &'r InvoiceLine,
    index: i64,
    provider: &'r str,
    service: &'r str,
    period: &'r Period,
    /// Fill the text columns; without, only the numbers and the currency
    /// (what finding the export's scales needs) are made.
    text: bool,
}

impl<'r> Base<'r> {
    /// `f()` when rows get their text, else the empty string.
    fn text(&self, f: impl FnOnce() -> Text<'r>) -> Text<'r> {
        if self.text {
            f()
        } else {
            Cow::Borrowed("")
        }
    }

    fn row(
        &self,
        category: &'static str,
        frequency: &'static str,
        window: (Micros, Micros),
    ) -> FocusRow<'r> {
        let l = self.line;
        let text = |s: &'r str| Cow::Borrowed(if self.text { s } else { "" });
        let opt = |s: &'r Option<String>| s.as_deref().filter(|_| self.text).map(Cow::Borrowed);
        FocusRow {
            billed_cost: Decimal::ZERO,
            billing_account_id: text(&l.account_id),
            billing_currency: Cow::Borrowed(&l.currency),
            billing_period_start: self.period.start(),
            billing_period_end: self.period.end(),
            charge_category: category,
            charge_class: None,
            charge_description: Cow::Borrowed(""),
            charge_frequency: frequency,
            charge_period_start: window.0,
            charge_period_end: window.1,
            commitment_discount_id: None,
            commitment_discount_name: None,
            commitment_discount_status: None,
            commitment_discount_type: None,
            consumed_quantity: None,
            consumed_unit: None,
            contracted_cost: Decimal::ZERO,
            contracted_unit_price: None,
            effective_cost: Decimal::ZERO,
            list_cost: Decimal::ZERO,
            list_unit_price: None,
            pricing_category: "Standard",
            pricing_quantity: None,
            pricing_unit: None,
            provider_name: text(self.provider),
            region_id: None,
            service_name: text(self.service),
            sku_id: Some(text(&l.item)),
            sku_price_id: None,
            sub_account_id: text(&l.account_id),
            x_invoice_line: self.index,
            x_charge_type: text(&l.charge_type),
            x_reference: opt(&l.reference),
            x_tier: opt(&l.tier),
        }
    }
}

/// Set the price columns: list = contracted = `price × quantity`, exactly.
fn priced<'r>(r: &mut FocusRow<'r>, quantity: Decimal, price: Decimal, unit: Text<'r>) {
    let cost = price * quantity;
    r.pricing_quantity = Some(quantity);
    r.pricing_unit = Some(unit);
    r.list_unit_price = Some(price);
    r.contracted_unit_price = Some(price);
    r.list_cost = cost;
    r.contracted_cost = cost;
}

/// The cycle window `[start, end)` of a usage line.
fn cycle_window(cycle: Cycle, start: Micros, period: &Period) -> (Micros, Micros) {
    let end = match cycle {
        Cycle::Hour => start + HOUR,
        Cycle::Day => start + DAY,
        Cycle::Month => period.end(),
    };
    (start, end.min(period.end()).max(start))
}

/// What the rows of every line are made from, and the labels they share.
struct Lines<'a> {
    cat: &'a Catalog,
    period: &'a Period,
    /// The month's packages by id, each with the price its amortised share
    /// of covered usage is figured from ([`crate::engine::package_price`],
    /// found once per package, not once per row it covers).
    packages: PlHashMap<&'a str, (&'a Package, Option<Decimal>)>,
    /// FOCUS unit labels ([`unit_label`]) of the catalog's units.
    units: PlHashMap<&'a str, String>,
    /// Provider names ([`provider_name`]) of the catalog's vendors and `unknown`.
    providers: PlHashMap<&'a str, String>,
    /// The label of every catalog price tier (`[0,1000)`, `[1000,inf)`), by
    /// the tier's address: made once, not once per row.
    tier_labels: PlHashMap<usize, String>,
}

impl<'a> Lines<'a> {
    fn new(month: &'a Month, cat: &'a Catalog, period: &'a Period) -> Lines<'a> {
        let packages = month
            .ledger
            .iter()
            .map(|r| {
                let p = &r.package;
                let price = (!p.size.is_zero())
                    .then(|| crate::engine::package_price(cat, p).map(|(price, _)| price))
                    .flatten();
                (p.package_id.as_str(), (p, price))
            })
            .collect();
        let mut units: PlHashMap<&'a str, String> = PlHashMap::default();
        let mut providers: PlHashMap<&'a str, String> = PlHashMap::default();
        for unit in ["unit"]
            .into_iter()
            .chain(cat.products.iter().flat_map(|p| {
                p.items
                    .iter()
                    .map(|i| i.unit.as_str())
                    .chain(p.subscriptions.iter().map(|s| s.unit.as_str()))
            }))
        {
            units.entry(unit).or_insert_with(|| unit_label(unit));
        }
        for vendor in ["unknown"]
            .into_iter()
            .chain(cat.products.iter().map(|p| p.vendor.as_str()))
        {
            providers
                .entry(vendor)
                .or_insert_with(|| provider_name(vendor));
        }
        let tier_labels = cat
            .products
            .iter()
            .flat_map(|p| &p.items)
            .flat_map(|i| &i.price_lists)
            .flat_map(|pl| &pl.tiers)
            .map(|t| (std::ptr::from_ref(t) as usize, tier_label(t)))
            .collect();
        Lines {
            cat,
            period,
            packages,
            units,
            providers,
            tier_labels,
        }
    }

    /// The label of a catalog tier ([`tier_label`]).
    fn tier_label(&self, t: &Tier) -> Text<'_> {
        match self.tier_labels.get(&(std::ptr::from_ref(t) as usize)) {
            Some(label) => Cow::Borrowed(label),
            None => Cow::Owned(tier_label(t)),
        }
    }

    /// The FOCUS label of a catalog unit.
    fn unit(&self, unit: &str) -> Text<'_> {
        match self.units.get(unit) {
            Some(label) => Cow::Borrowed(label),
            None => Cow::Owned(unit_label(unit)),
        }
    }

    /// Append the rows of invoice line `l`, the month's line `i` (0-based),
    /// if it is `provider`'s.
    fn rows<'r>(
        &'r self,
        i: usize,
        l: &'r InvoiceLine,
        provider: Option<&str>,
        text: bool,
        out: &mut Vec<FocusRow<'r>>,
    ) {
        let cat = self.cat;
        let product = cat
            .product_of_item(&l.item)
            .or_else(|| cat.subscription(&l.item).map(|(p, _)| p));
        let vendor = product.map(|p| p.vendor.as_str()).unwrap_or("unknown");
        let provider_name = self
            .providers
            .get(vendor)
            .map(String::as_str)
            .expect("every catalog vendor has its provider name");
        if let Some(want) = provider {
            if !want.eq_ignore_ascii_case(vendor) && !want.eq_ignore_ascii_case(provider_name) {
                return;
            }
        }
        let base = Base {
            line: l,
            index: i as i64 + 1,
            provider: provider_name,
            service: product.map(|p| p.name.as_str()).unwrap_or(&l.item),
            period: self.period,
            text,
        };
        match l.charge_type.as_str() {
            "usage" => usage_rows(&base, self, out),
            "purchase" | "refund" => package_row(&base, self, out),
            "subscription" => subscription_row(&base, self, out),
            _ => other_row(&base, out),
        }
    }
}

/// reckon's invoice for `period` as FOCUS rows, optionally only one
/// provider's (`provider` matches the catalog vendor id, e.g. `tencent`, or
/// the provider name, e.g. `Tencent Cloud`, ignoring case).
pub fn focus_rows(
    month: &Month,
    cat: &Catalog,
    period: &Period,
    provider: Option<&str>,
) -> Vec<FocusRow<'static>> {
    rows_of(month, cat, period, provider, true)
}

/// The rows of [`focus_rows`] with only their numbers and currency filled
/// (every text column empty): what the export reads to learn each decimal
/// column's scale (one line of each kind, or every line when a value does
/// not fit the scales so found), at a fraction of the cost.
pub fn focus_numbers(month: &Month, cat: &Catalog, period: &Period) -> Vec<FocusRow<'static>> {
    rows_of(month, cat, period, None, false)
}

fn rows_of(
    month: &Month,
    cat: &Catalog,
    period: &Period,
    provider: Option<&str>,
    text: bool,
) -> Vec<FocusRow<'static>> {
    let lines = Lines::new(month, cat, period);
    let mut out = Vec::new();
    for (i, l) in month.lines.iter().enumerate() {
        lines.rows(i, l, provider, text, &mut out);
    }
    out.into_iter().map(FocusRow::into_owned).collect()
}

fn usage_rows<'r>(b: &Base<'r>, lines: &'r Lines<'_>, out: &mut Vec<FocusRow<'r>>) {
    let (cat, packages) = (lines.cat, &lines.packages);
    let l = b.line;
    let Some((product, item)) = cat.item(&l.item) else {
        // Not in the catalog: one plain row with the invoice's money.
        let mut r = b.row("Usage", "Usage-Based", (b.period.start(), b.period.end()));
        let q = qty(l.postpaid_quantity);
        priced(
            &mut r,
            q,
            l.unit_price.unwrap_or(Decimal::ZERO),
            Cow::Borrowed("Units"),
        );
        r.consumed_quantity = Some(q);
        r.consumed_unit = Some(Cow::Borrowed("Units"));
        r.billed_cost = l.amount;
        r.effective_cost = l.amount;
        r.sku_price_id = Some(Cow::Owned(format!("{}:unknown", l.item)));
        r.charge_description = Cow::Owned(format!(
            "{}: usage of an item the catalog does not list",
            l.item
        ));
        out.push(r);
        return;
    };
    let window = cycle_window(item.cycle, l.cycle_start, b.period);
    let unit = lines.unit(&item.unit);
    let (consumed_unit, consumed_factor): (Text<'r>, Decimal) = match item.measure {
        _ if item.unit_size == Decimal::ONE => (unit.clone(), Decimal::ONE),
        Measure::Tokens => (Cow::Borrowed("Tokens"), item.unit_size),
        Measure::InputPlusOutputSeconds | Measure::InputSeconds | Measure::OutputSeconds => {
            (Cow::Borrowed("Seconds"), item.unit_size)
        }
        Measure::Count | Measure::Quantity => (unit.clone(), Decimal::ONE),
    };
    let region: Option<&'r str> = l.region.as_deref().or(product.default_region.as_deref());
    let pl = catalog::price_list(item, region, l.resolution.as_deref());
    let price_key = |tier: &str| -> Text<'r> {
        if !b.text {
            return Cow::Borrowed("");
        }
        let parts = [region, l.resolution.as_deref()];
        let room = parts.iter().flatten().map(|p| p.len() + 1).sum::<usize>();
        let mut k = String::with_capacity(l.item.len() + room + 1 + tier.len());
        k.push_str(&l.item);
        for part in parts.into_iter().flatten() {
            k.push(':');
            k.push_str(part);
        }
        k.push(':');
        k.push_str(tier);
        Cow::Owned(k)
    };
    let tier_label = |t: &Tier| -> Text<'r> {
        match b.text {
            true => lines.tier_label(t),
            false => Cow::Borrowed(""),
        }
    };
    // The list price of covered usage: the line's postpaid price when it has
    // one, else the tier the cycle's whole usage reaches (what it would have
    // cost without packages); zero for items sold only in packages.
    let list_for = |units: Decimal| -> (Decimal, Text<'r>) {
        match pl {
            Some(pl) => {
                let t = l
                    .unit_price
                    .and_then(|p| pl.tiers.iter().find(|t| t.unit_price == p))
                    .or_else(|| pl.tiers.iter().rev().find(|t| units >= t.from))
                    .or(pl.tiers.first())
                    .expect("price lists have tiers");
                (t.unit_price, price_key(&tier_label(t)))
            }
            None => (Decimal::ZERO, price_key("no-postpaid-price")),
        }
    };
    // `255.5 Minutes`, `3 × 1,000 tokens`: appended to a description.
    let amount_of = |d: &mut String, q: Decimal| {
        let times = if unit.starts_with(|c: char| c.is_ascii_digit()) {
            " × "
        } else {
            " "
        };
        let _ = write!(d, "{}{times}{unit}", q.normalize());
    };
    // A description: `item: <amount>` and what `rest` appends.
    let describe = |q: Decimal, rest: &dyn Fn(&mut String)| -> String {
        let mut d = String::with_capacity(item.name.len() + 96);
        d.push_str(&item.name);
        d.push_str(": ");
        amount_of(&mut d, q);
        rest(&mut d);
        d
    };
    let start = out.len();
    let usage_row = |desc: &dyn Fn() -> String| {
        let mut r = b.row("Usage", "Usage-Based", window);
        if b.text {
            r.region_id = region.map(Cow::Borrowed);
            r.charge_description = Cow::Owned(desc());
        }
        r
    };
    let consumed = |r: &mut FocusRow<'r>, q: Decimal| {
        r.consumed_quantity = Some(q * consumed_factor);
        r.consumed_unit = Some(b.text(|| consumed_unit.clone()));
    };

    // Package-covered rows, one per package drawn (the list price found
    // only for lines that draw any: most lines are postpaid alone).
    let draws = draws(&l.packages);
    let (covered_price, covered_key) = match draws.is_empty() {
        true => (Decimal::ZERO, Cow::Borrowed("")),
        false => list_for(l.usage_quantity),
    };
    for (id, drawn) in draws {
        let q = qty(drawn);
        let (pkg, pkg_price) = match packages.get(id) {
            Some(&(p, price)) => (Some(p), price),
            None => (None, None),
        };
        let kind = pkg.map(|p| kind_title(p.kind)).unwrap_or("Resource");
        let mut r = usage_row(&|| {
            describe(q, &|d| {
                let _ = write!(d, " covered by {} package {id}", kind.to_lowercase());
            })
        });
        priced(&mut r, q, covered_price, unit.clone());
        consumed(&mut r, q);
        r.sku_price_id = Some(covered_key.clone());
        r.pricing_category = "Committed";
        r.commitment_discount_id = Some(Cow::Borrowed(id));
        r.commitment_discount_status = Some("Used");
        r.commitment_discount_type = Some(b.text(|| package_type(kind)));
        if b.text {
            r.commitment_discount_name = package_name(kind, pkg, &unit).map(Cow::Owned);
        }
        // Amortised share of what the package cost (zero for free packages).
        if let (Some(p), Some(price)) = (pkg, pkg_price) {
            r.effective_cost = (drawn * price / p.size)
                .round_dp_with_strategy(AMORTISED_SCALE, RoundingStrategy::MidpointAwayFromZero);
        }
        out.push(r);
    }

    // Postpaid rows.
    if !l.postpaid_quantity.is_zero() || !l.amount.is_zero() {
        let minor = catalog::minor_units(&l.currency).unwrap_or(2);
        let graduated =
            pl.filter(|pl| pl.tier_mode == TierMode::Graduated && l.unit_price.is_some());
        // (quantity, unit price, tier, SkuPriceId)
        let mut slices: Vec<(Decimal, Decimal, Option<Text<'r>>, Text<'r>)> = Vec::new();
        if let Some(pl) = graduated {
            let q = qty(l.postpaid_quantity);
            for t in &pl.tiers {
                let hi = t.to.unwrap_or(Decimal::MAX);
                if q > t.from {
                    let tier = tier_label(t);
                    slices.push((
                        q.min(hi) - t.from,
                        t.unit_price,
                        Some(b.text(|| Cow::Owned(format!("graduated {tier}")))),
                        price_key(&tier),
                    ));
                }
            }
            // Keep the split only when it reproduces the invoice amount.
            let total: Decimal = slices.iter().map(|(q, p, _, _)| q * p).sum();
            if money_round(total, minor) != l.amount {
                slices.clear();
            }
        }
        if slices.is_empty() {
            let (price, key) = match (l.unit_price, pl) {
                (Some(p), Some(_)) => {
                    let tier = l.tier.as_deref().unwrap_or_default();
                    let key = pl
                        .and_then(|pl| pl.tiers.iter().find(|t| t.unit_price == p))
                        .map(|t| price_key(&tier_label(t)))
                        .unwrap_or_else(|| price_key(tier));
                    (p, key)
                }
                (Some(p), None) => (p, price_key("unlisted")),
                (None, _) => (Decimal::ZERO, price_key("no-postpaid-price")),
            };
            slices.push((
                qty(l.postpaid_quantity),
                price,
                l.tier.as_deref().map(Cow::Borrowed),
                key,
            ));
        }
        // Billed money per slice: rounded, the last slice takes the remainder
        // so the rows add up to the invoice amount.
        let n = slices.len();
        let mut billed_so_far = Decimal::ZERO;
        for (k, (q, price, tier, key)) in slices.into_iter().enumerate() {
            let billed = if k + 1 == n {
                l.amount - billed_so_far
            } else {
                money_round(q * price, minor)
            };
            billed_so_far += billed;
            let mut r = usage_row(&|| {
                describe(q, &|d| {
                    let _ = write!(d, " postpaid at {} {} each", price.normalize(), l.currency);
                    if let Some(t) = &tier {
                        d.push_str(", tier ");
                        d.push_str(t);
                    }
                })
            });
            priced(&mut r, q, price, unit.clone());
            consumed(&mut r, q);
            r.sku_price_id = Some(key);
            r.billed_cost = billed;
            r.effective_cost = billed;
            out.push(r);
        }
    }

    // Usage covered by a concurrency / QPS subscription: not rated per call.
    if !l.subscription_quantity.is_zero() {
        let q = qty(l.subscription_quantity);
        let mode = l.tier.as_deref().unwrap_or("subscription");
        let mut r = usage_row(&|| {
            describe(q, &|d| {
                let _ = write!(
                    d,
                    " covered by the account's subscription ({mode}); charged on its subscription line"
                );
            })
        });
        priced(&mut r, q, Decimal::ZERO, unit.clone());
        consumed(&mut r, q);
        r.sku_price_id = Some(price_key(&mode.replace(' ', "-")));
        out.push(r);
    }

    if out.len() == start {
        let mut r = usage_row(&|| {
            let refused = qty(l.refused_quantity);
            let mut d = String::with_capacity(item.name.len() + 96);
            d.push_str(&item.name);
            d.push_str(": nothing billable in the cycle (");
            amount_of(&mut d, refused);
            d.push_str(" refused, see exceptions)");
            d
        });
        priced(&mut r, Decimal::ZERO, Decimal::ZERO, unit.clone());
        consumed(&mut r, Decimal::ZERO);
        r.sku_price_id = Some(price_key("none"));
        out.push(r);
    }
}

fn package_row<'r>(b: &Base<'r>, lines: &'r Lines<'_>, out: &mut Vec<FocusRow<'r>>) {
    let (cat, packages) = (lines.cat, &lines.packages);
    let l = b.line;
    let refund = l.charge_type == "refund";
    let id: &'r str = l.reference.as_deref().unwrap_or(&l.packages);
    let pkg = packages.get(id).map(|&(p, _)| p);
    let item = cat.item(&l.item).map(|(_, i)| i);
    let unit = lines.unit(item.map(|i| i.unit.as_str()).unwrap_or("unit"));
    let kind = pkg.map(|p| kind_title(p.kind)).unwrap_or("Prepaid");
    let mut r = b.row("Purchase", "One-Time", (b.period.start(), b.period.end()));
    let price = l.unit_price.unwrap_or(Decimal::ZERO);
    priced(&mut r, l.usage_quantity, price, Cow::Borrowed("Packages"));
    r.billed_cost = l.amount;
    // A purchase that pays for later usage has no effective cost of its own:
    // covered usage carries it (amortised); likewise its refund.
    r.effective_cost = Decimal::ZERO;
    r.pricing_category = "Committed";
    r.commitment_discount_id = Some(Cow::Borrowed(id));
    r.commitment_discount_type = Some(package_type(kind));
    r.commitment_discount_name = package_name(kind, pkg, &unit).map(Cow::Owned);
    let size = pkg.map(|p| num(p.size)).unwrap_or_else(|| "?".into());
    r.sku_price_id = Some(Cow::Owned(format!(
        "{}:{}-package:{}",
        l.item,
        kind.to_lowercase(),
        size
    )));
    let what = format!(
        "{} package {} of {} {} for {}",
        kind.to_lowercase(),
        id,
        size,
        unit,
        item.map(|i| i.name.as_str()).unwrap_or(&l.item)
    );
    r.charge_description = Cow::Owned(if refund {
        // A refund of a purchase invoiced in an earlier period corrects that period.
        if pkg.is_some_and(|p| p.effective_at < b.period.start()) {
            r.charge_class = Some("Correction");
        }
        format!("Refund of {what}, requested {}", utc_text(l.cycle_start))
    } else {
        format!("Purchase of {what}")
    });
    out.push(r);
}

fn subscription_row<'r>(b: &Base<'r>, lines: &'r Lines<'_>, out: &mut Vec<FocusRow<'r>>) {
    let l = b.line;
    let sub = lines.cat.subscription(&l.item).map(|(_, s)| s);
    let tier = l.tier.as_deref().unwrap_or_default();
    let term = if tier.contains(" day(s) ") {
        "-Days"
    } else if tier.contains(" month(s) ") {
        "-Months"
    } else {
        ""
    };
    let unit = format!(
        "{}{term}",
        lines.unit(sub.map(|s| s.unit.as_str()).unwrap_or("unit"))
    );
    let mut r = b.row("Purchase", "Recurring", (b.period.start(), b.period.end()));
    let price = l.unit_price.unwrap_or(Decimal::ZERO);
    priced(&mut r, l.usage_quantity, price, Cow::Owned(unit));
    r.billed_cost = l.amount;
    // A fee for capacity held in this period: it is the period's cost.
    r.effective_cost = l.amount;
    r.sku_price_id = Some(Cow::Owned(format!(
        "{}:{}:{}",
        l.item,
        term.trim_start_matches('-').to_lowercase(),
        tier.rsplit("tier ").next().unwrap_or("")
    )));
    r.charge_description = Cow::Owned(format!(
        "{}: {} ({})",
        sub.map(|s| s.name.as_str()).unwrap_or(&l.item),
        tier,
        l.reference.as_deref().unwrap_or("subscription")
    ));
    out.push(r);
}

/// A charge type reckon does not emit today: an `Adjustment` with the
/// line's money, so the rows still add up to the invoice.
fn other_row<'r>(b: &Base<'r>, out: &mut Vec<FocusRow<'r>>) {
    let l = b.line;
    let mut r = b.row("Adjustment", "One-Time", (b.period.start(), b.period.end()));
    r.billed_cost = l.amount;
    r.effective_cost = l.amount;
    r.list_cost = l.amount;
    r.contracted_cost = l.amount;
    r.sku_price_id = None;
    r.charge_description = Cow::Owned(format!(
        "{} {}: {}",
        l.charge_type,
        l.item,
        l.tier.as_deref().unwrap_or("")
    ));
    out.push(r);
}

fn utc_text(t: Micros) -> String {
    Utc.timestamp_micros(t)
        .single()
        .expect("timestamp in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The least scale of a decimal column.
#[derive(Clone, Copy)]
enum Least {
    /// The largest minor unit of the currencies present (2 without rows).
    Minor,
    Digits(u32),
}

/// How a column is read from a row.
#[derive(Clone, Copy)]
enum Get {
    /// A column reckon never fills (text, null on every row).
    Null,
    Str(for<'x> fn(&'x FocusRow<'_>) -> Option<&'x str>),
    Dec(Least, fn(&FocusRow) -> Option<Decimal>),
    Time(fn(&FocusRow) -> Micros),
    Int(fn(&FocusRow) -> i64),
}

/// The written columns in order: [`FOCUS_COLUMNS`], then [`CUSTOM_COLUMNS`].
fn columns() -> Vec<(&'static str, Get)> {
    use Get::*;
    use Least::*;
    let null = Null;
    vec![
        ("AvailabilityZone", null),
        ("BilledCost", Dec(Minor, |r| Some(r.billed_cost))),
        ("BillingAccountId", Str(|r| Some(&*r.billing_account_id))),
        ("BillingAccountName", null),
        ("BillingCurrency", Str(|r| Some(&*r.billing_currency))),
        ("BillingPeriodEnd", Time(|r| r.billing_period_end)),
        ("BillingPeriodStart", Time(|r| r.billing_period_start)),
        ("ChargeCategory", Str(|r| Some(r.charge_category))),
        ("ChargeClass", Str(|r| r.charge_class)),
        ("ChargeDescription", Str(|r| Some(&*r.charge_description))),
        ("ChargeFrequency", Str(|r| Some(r.charge_frequency))),
        ("ChargePeriodEnd", Time(|r| r.charge_period_end)),
        ("ChargePeriodStart", Time(|r| r.charge_period_start)),
        (
            "CommitmentDiscountCategory",
            Str(|r| r.commitment_discount_id.as_ref().map(|_| "Usage")),
        ),
        (
            "CommitmentDiscountId",
            Str(|r| r.commitment_discount_id.as_deref()),
        ),
        (
            "CommitmentDiscountName",
            Str(|r| r.commitment_discount_name.as_deref()),
        ),
        (
            "CommitmentDiscountStatus",
            Str(|r| r.commitment_discount_status),
        ),
        (
            "CommitmentDiscountType",
            Str(|r| r.commitment_discount_type.as_deref()),
        ),
        (
            "ConsumedQuantity",
            Dec(Digits(QTY_SCALE), |r| r.consumed_quantity),
        ),
        ("ConsumedUnit", Str(|r| r.consumed_unit.as_deref())),
        ("ContractedCost", Dec(Minor, |r| Some(r.contracted_cost))),
        (
            "ContractedUnitPrice",
            Dec(Minor, |r| r.contracted_unit_price),
        ),
        ("EffectiveCost", Dec(Minor, |r| Some(r.effective_cost))),
        ("InvoiceIssuerName", Str(|r| Some(&*r.provider_name))),
        ("ListCost", Dec(Minor, |r| Some(r.list_cost))),
        ("ListUnitPrice", Dec(Minor, |r| r.list_unit_price)),
        ("PricingCategory", Str(|r| Some(r.pricing_category))),
        (
            "PricingQuantity",
            Dec(Digits(QTY_SCALE), |r| r.pricing_quantity),
        ),
        ("PricingUnit", Str(|r| r.pricing_unit.as_deref())),
        ("ProviderName", Str(|r| Some(&*r.provider_name))),
        ("PublisherName", Str(|r| Some(&*r.provider_name))),
        ("RegionId", Str(|r| r.region_id.as_deref())),
        ("RegionName", null),
        ("ResourceId", null),
        ("ResourceName", null),
        ("ResourceType", null),
        ("ServiceCategory", Str(|_| Some(SERVICE_CATEGORY))),
        ("ServiceName", Str(|r| Some(&*r.service_name))),
        ("SkuId", Str(|r| r.sku_id.as_deref())),
        ("SkuPriceId", Str(|r| r.sku_price_id.as_deref())),
        ("SubAccountId", Str(|r| Some(&*r.sub_account_id))),
        ("SubAccountName", null),
        ("Tags", null),
        ("x_InvoiceLine", Int(|r| r.x_invoice_line)),
        ("x_ChargeType", Str(|r| Some(&*r.x_charge_type))),
        ("x_Reference", Str(|r| r.x_reference.as_deref())),
        ("x_Tier", Str(|r| r.x_tier.as_deref())),
    ]
}

/// What a look at rows learns before any is written: per column, the most
/// digits after the point a value needs, and the largest minor unit of
/// their currencies.
#[derive(Debug, Clone)]
struct Shape {
    minor: Option<u32>,
    digits: Vec<u32>,
}

impl Shape {
    fn new(width: usize) -> Shape {
        Shape {
            minor: None,
            digits: vec![0; width],
        }
    }

    fn of(cols: &[(&str, Get)], rows: &[FocusRow]) -> Shape {
        let mut s = Shape::new(cols.len());
        s.add(cols, rows);
        s
    }

    fn add(&mut self, cols: &[(&str, Get)], rows: &[FocusRow]) {
        for r in rows {
            // Costs carry at least the minor unit of the currencies present.
            let minor = catalog::minor_units(&r.billing_currency).unwrap_or(2);
            self.minor = Some(self.minor.map_or(minor, |m| m.max(minor)));
            for (k, (_, get)) in cols.iter().enumerate() {
                if let Get::Dec(_, f) = get {
                    if let Some(d) = f(r) {
                        self.digits[k] = self.digits[k].max(digits_needed(d));
                    }
                }
            }
        }
    }

    fn merge(mut self, other: Shape) -> Shape {
        self.minor = match (self.minor, other.minor) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (a, b) in self.digits.iter_mut().zip(other.digits) {
            *a = (*a).max(b);
        }
        self
    }

    /// The scale each column is written at: the least scale that writes
    /// every value exactly, and at least the column's minimum (0 for
    /// columns that are not decimal).
    fn scales(&self, cols: &[(&str, Get)]) -> Vec<u32> {
        cols.iter()
            .zip(&self.digits)
            .map(|((_, get), &d)| match get {
                Get::Dec(Least::Minor, _) => d.max(self.minor.unwrap_or(2)),
                Get::Dec(Least::Digits(min), _) => d.max(*min),
                _ => 0,
            })
            .collect()
    }
}

/// `d` as text with exactly `scale` digits after the point (`scale` at
/// least the digits `d` needs); zero without a sign.
#[cfg(test)]
fn push_dec(buf: &mut Vec<u8>, d: Decimal, scale: u32) {
    push_scaled(buf, mantissa_at(d, scale), scale);
}

/// The mantissa of `d` at `scale` ([`at_scale`]): in integers when that
/// fits, as it nearly always does (`rescale` and its exactness check cost
/// more, and the export does this twice for every decimal cell).
fn mantissa_at(d: Decimal, scale: u32) -> i128 {
    scaled_up(d, scale).unwrap_or_else(|| at_scale(d, scale).mantissa())
}

/// The mantissa of `d` at `scale`, or `None` when `d` needs more digits
/// (it would be rounded).
fn fitted(d: Decimal, scale: u32) -> Option<i128> {
    scaled_up(d, scale).or_else(|| {
        let mut x = d;
        x.rescale(scale);
        (x == d && x.scale() == scale).then(|| x.mantissa())
    })
}

/// The digits after the point `d` needs: `d.normalize().scale()` without
/// 96-bit division for mantissas of 64 bits.
fn digits_needed(d: Decimal) -> u32 {
    match u64::try_from(d.mantissa().unsigned_abs()) {
        Ok(0) => 0,
        Ok(mut m) => {
            let mut s = d.scale();
            while s > 0 && m % 10 == 0 {
                m /= 10;
                s -= 1;
            }
            s
        }
        Err(_) => d.normalize().scale(),
    }
}

/// `d` at `scale`, which its row's CSV record was checked to fit first
/// ([`Record::write`]): should a value not fit all the same, it would be
/// rounded, so that stops the export.
fn at_scale(d: Decimal, scale: u32) -> Decimal {
    let mut x = d;
    x.rescale(scale);
    assert!(
        x == d && x.scale() == scale,
        "FOCUS export: {d} does not fit the scale {scale} its column was given"
    );
    x
}

/// One CSV record of `r`, with its line end; whether every decimal fits
/// its column's scale (a record that does not is not to be written): the
/// record [`Record`] writes, cell by cell over [`columns`].
#[cfg(test)]
fn csv_row(cols: &[(&str, Get)], scales: &[u32], r: &FocusRow, buf: &mut Vec<u8>) -> bool {
    let mut fits = true;
    for (k, ((_, get), &scale)) in cols.iter().zip(scales).enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        match get {
            Get::Null => {}
            Get::Str(f) => push_text(buf, f(r)),
            Get::Dec(_, f) => {
                if let Some(d) = f(r) {
                    match fitted(d, scale) {
                        Some(m) => push_scaled(buf, m, scale),
                        None => fits = false,
                    }
                }
            }
            Get::Time(f) => push_utc(buf, f(r)),
            Get::Int(f) => put(buf, format_args!("{}", f(r))),
        }
    }
    buf.push(b'\n');
    fits
}

/// The scale of each decimal column of [`columns`], by name, for
/// [`Record`].
struct DecScales {
    billed: u32,
    consumed: u32,
    contracted: u32,
    contracted_unit: u32,
    effective: u32,
    list: u32,
    list_unit: u32,
    pricing: u32,
}

/// Writes FOCUS records as `csv_row` (tests) does over [`columns`], field by field
/// in column order: no look-up per cell, the columns reckon never fills
/// written as their commas, and an instant written as the one before it in
/// its column is copied (the billing period is the same on every row, and
/// a line's rows share their charge period). The export's CSV text was
/// its largest part; a test holds every record to `csv_row`'s.
struct Record {
    scales: DecScales,
    /// Per time column, the last instant written and its text.
    times: [(Micros, Vec<u8>); 4],
}

impl Record {
    fn new(cols: &[(&str, Get)], scales: &[u32]) -> Record {
        let at = |name: &str| {
            let k = cols
                .iter()
                .position(|(n, _)| *n == name)
                .expect("a FOCUS decimal column");
            scales[k]
        };
        Record {
            scales: DecScales {
                billed: at("BilledCost"),
                consumed: at("ConsumedQuantity"),
                contracted: at("ContractedCost"),
                contracted_unit: at("ContractedUnitPrice"),
                effective: at("EffectiveCost"),
                list: at("ListCost"),
                list_unit: at("ListUnitPrice"),
                pricing: at("PricingQuantity"),
            },
            times: std::array::from_fn(|_| (i64::MIN, Vec::new())),
        }
    }

    /// One record of `r` with its line end; whether every decimal fits its
    /// column's scale (as `csv_row`).
    fn write(&mut self, r: &FocusRow, buf: &mut Vec<u8>) -> bool {
        let mut fits = true;
        let mut dec = |buf: &mut Vec<u8>, d: Option<Decimal>, scale: u32| {
            if let Some(d) = d {
                match fitted(d, scale) {
                    Some(m) => push_scaled(buf, m, scale),
                    None => fits = false,
                }
            }
        };
        let times = &mut self.times;
        let mut time = |buf: &mut Vec<u8>, k: usize, t: Micros| {
            let (last, text) = &mut times[k];
            if *last != t {
                text.clear();
                push_utc(text, t);
                *last = t;
            }
            buf.extend_from_slice(text);
        };
        let text = |buf: &mut Vec<u8>, s: Option<&str>| {
            buf.push(b',');
            push_text(buf, s);
        };
        let sc = &self.scales;
        // AvailabilityZone (never filled), BilledCost.
        buf.push(b',');
        dec(buf, Some(r.billed_cost), sc.billed);
        text(buf, Some(&r.billing_account_id));
        // BillingAccountName.
        buf.push(b',');
        text(buf, Some(&r.billing_currency));
        buf.push(b',');
        time(buf, 0, r.billing_period_end);
        buf.push(b',');
        time(buf, 1, r.billing_period_start);
        text(buf, Some(r.charge_category));
        text(buf, r.charge_class);
        text(buf, Some(&r.charge_description));
        text(buf, Some(r.charge_frequency));
        buf.push(b',');
        time(buf, 2, r.charge_period_end);
        buf.push(b',');
        time(buf, 3, r.charge_period_start);
        text(buf, r.commitment_discount_id.as_ref().map(|_| "Usage"));
        text(buf, r.commitment_discount_id.as_deref());
        text(buf, r.commitment_discount_name.as_deref());
        text(buf, r.commitment_discount_status);
        text(buf, r.commitment_discount_type.as_deref());
        buf.push(b',');
        dec(buf, r.consumed_quantity, sc.consumed);
        text(buf, r.consumed_unit.as_deref());
        buf.push(b',');
        dec(buf, Some(r.contracted_cost), sc.contracted);
        buf.push(b',');
        dec(buf, r.contracted_unit_price, sc.contracted_unit);
        buf.push(b',');
        dec(buf, Some(r.effective_cost), sc.effective);
        text(buf, Some(&r.provider_name));
        buf.push(b',');
        dec(buf, Some(r.list_cost), sc.list);
        buf.push(b',');
        dec(buf, r.list_unit_price, sc.list_unit);
        text(buf, Some(r.pricing_category));
        buf.push(b',');
        dec(buf, r.pricing_quantity, sc.pricing);
        text(buf, r.pricing_unit.as_deref());
        // ProviderName and PublisherName: InvoiceIssuerName's text again.
        let provider = buf.len();
        text(buf, Some(&r.provider_name));
        buf.extend_from_within(provider..);
        text(buf, r.region_id.as_deref());
        // RegionName, ResourceId, ResourceName, ResourceType (never filled).
        buf.extend_from_slice(b",,,,");
        text(buf, Some(SERVICE_CATEGORY));
        text(buf, Some(&r.service_name));
        text(buf, r.sku_id.as_deref());
        text(buf, r.sku_price_id.as_deref());
        text(buf, Some(&r.sub_account_id));
        // SubAccountName, Tags (never filled), x_InvoiceLine.
        buf.extend_from_slice(b",,,");
        put(buf, format_args!("{}", r.x_invoice_line));
        text(buf, Some(&r.x_charge_type));
        text(buf, r.x_reference.as_deref());
        text(buf, r.x_tier.as_deref());
        buf.push(b'\n');
        fits
    }
}

/// `rows` as a frame typed for Parquet (Decimal(38, scale), Datetime(µs,
/// UTC), String, Int64), each decimal column at its scale in `scales`; the
/// columns one after another (the export calls this from parallel tasks
/// already: a nested parallel loop only added scheduling).
fn typed_frame(
    cols: &[(&'static str, Get)],
    scales: &[u32],
    rows: &[FocusRow],
) -> Result<DataFrame> {
    let height = rows.len();
    let rows = || rows.iter();
    let columns = cols
        .iter()
        .zip(scales)
        .map(|(&(name, get), &scale)| -> Result<Column> {
            let name: PlSmallStr = name.into();
            Ok(match get {
                // Null on every row: made whole, not row by row.
                Get::Null => Column::full_null(name, height, &DataType::String),
                Get::Str(f) => crate::output::text_column(name, rows().map(f)),
                Get::Int(f) => {
                    Int64Chunked::from_iter_options(name, rows().map(|r| Some(f(r)))).into_column()
                }
                Get::Dec(_, f) => {
                    // The scale keeps every value exact: the mantissa at that scale.
                    let mantissas = rows().map(|r| f(r).map(|d| mantissa_at(d, scale)));
                    decimal_column(name, mantissas, scale)?
                }
                Get::Time(f) => utc_column(name, rows().map(|r| Some(f(r))))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DataFrame::new(height, columns)?)
}

/// The FOCUS rows as a frame typed for Parquet (Decimal(38, s), Datetime(µs,
/// UTC), String, Int64); the CSV is written row by row ([`Record`]).
pub fn focus_frame(rows: &[FocusRow]) -> Result<DataFrame> {
    let cols = columns();
    let scales = Shape::of(&cols, rows).scales(&cols);
    typed_frame(&cols, &scales, rows)
}

/// reckon's invoice for `period` as a FOCUS frame typed for Parquet.
pub fn focus_table(
    month: &Month,
    catalog: &Catalog,
    period: &Period,
    provider: Option<&str>,
) -> Result<DataFrame> {
    focus_frame(&focus_rows(month, catalog, period, provider))
}

/// Write `focus.parquet` and `focus.csv` into the staging directory.
pub fn write_focus(
    staging: &Staging,
    month: &Month,
    catalog: &Catalog,
    period: &Period,
) -> Result<()> {
    write_focus_to(&staging.dir, month, catalog, period)
}

/// Invoice lines whose rows are made, written and dropped together.
const LINES_PER_CHUNK: usize = 1 << 16;
/// Lines made into rows by one task.
const LINES_PER_PIECE: usize = 1 << 13;
/// Rows reserved per line of a piece (a usage line makes one row per
/// package drawn and one postpaid; most make one or two).
const ROWS_PER_LINE_ROOM: usize = 2;

/// Write `focus.parquet` and `focus.csv` into `dir`.
///
/// Each decimal column is written at the least scale that holds all its
/// values, which depends on every value; memory stays bounded whatever the
/// month's size, so the rows are made [`LINES_PER_CHUNK`] lines at a time
/// and never held all at once. The scales are taken from the rows of one
/// line of each kind ([`likely_shape`]: about a thousand lines of the 100M
/// month's 11.7M, where a pass over all the rows cost a sixth of the
/// export), and every value written
/// is checked to fit its column's scale. Should one not fit, the scales are
/// found again over every row ([`exact_shape`]) and the files written
/// again: the same files either way.
///
/// Each task turns its run of lines into rows, their CSV text and a typed
/// frame while the rows are in cache, and the results are appended to the
/// CSV and fed to the Parquet writer in line order (while the next run of
/// lines is made), which writes each row group of 262,144 rows as soon as
/// it is complete.
pub fn write_focus_to(dir: &Path, month: &Month, catalog: &Catalog, period: &Period) -> Result<()> {
    write_focus_guessing(dir, month, catalog, period, likely_shape)
}

/// [`write_focus_to`] with the scales first tried taken from `guess`
/// (which returns them with the number of lines it looked at).
fn write_focus_guessing(
    dir: &Path,
    month: &Month,
    catalog: &Catalog,
    period: &Period,
    guess: impl FnOnce(&Month, &Lines<'_>, &[(&str, Get)]) -> (Shape, usize),
) -> Result<()> {
    let lines = Lines::new(month, catalog, period);
    let cols = columns();
    let t0 = std::time::Instant::now();
    let (guess, kinds) = guess(month, &lines, &cols);
    let mut scales_s = t0.elapsed().as_secs_f64();
    let (written, refit) = match write_rows(dir, month, &lines, &cols, &guess.scales(&cols))? {
        Some(w) => (w, false),
        None => {
            let t = std::time::Instant::now();
            let exact = exact_shape(month, &lines, &cols);
            scales_s += t.elapsed().as_secs_f64();
            let w =
                write_rows(dir, month, &lines, &cols, &exact.scales(&cols))?.ok_or_else(|| {
                    crate::error::Error::Output {
                        path: dir.join("focus.csv"),
                        message: "a FOCUS value does not fit the scale found over every value"
                            .into(),
                    }
                })?;
            (w, true)
        }
    };
    tracing::info!(
        rows = written.rows,
        kinds,
        scales_s,
        made_s = written.made_s,
        write_s = written.write_s,
        refit,
        "focus: scales found (from one line of each kind; again over every row if refit); rows, CSV text and frames made; files written"
    );
    Ok(())
}

/// What [`write_rows`] wrote.
struct Written {
    rows: usize,
    made_s: f64,
    write_s: f64,
}

/// Each column's digits over the rows of one line of each kind: lines of
/// the same charge type, item, region, resolution, tier and currency whose
/// quantities, price, amount and postpaid list cost need the same digits,
/// and which draw packages or not, make rows of the same digits nearly
/// always (a package's amortised share is rounded to [`AMORTISED_SCALE`];
/// graduated tiers' slices are the exception). Costs carry the minor unit
/// of every currency of the month. Never more than the digits the rows need
/// ([`exact_shape`]): every digit counted is a written row's, so a value
/// that does not fit is found while writing.
fn likely_shape(month: &Month, lines: &Lines<'_>, cols: &[(&str, Get)]) -> (Shape, usize) {
    type Kind<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        [u8; 10],
        bool,
    );
    fn kind(l: &InvoiceLine) -> Kind<'_> {
        let digits = |d: Decimal| digits_needed(d) as u8;
        (
            &l.charge_type,
            &l.item,
            l.region.as_deref(),
            l.resolution.as_deref(),
            l.tier.as_deref(),
            &l.currency,
            [
                digits(l.usage_quantity),
                digits(l.free_quantity),
                digits(l.campaign_quantity),
                digits(l.prepaid_quantity),
                digits(l.postpaid_quantity),
                digits(l.subscription_quantity),
                digits(l.refused_quantity),
                l.unit_price.map_or(0, digits),
                digits(l.amount),
                // The list cost of the postpaid part.
                l.unit_price
                    .and_then(|p| p.checked_mul(l.postpaid_quantity))
                    .map_or(0, digits),
            ],
            l.packages.is_empty(),
        )
    }
    let n = month.lines.len();
    let pieces: Vec<usize> = (0..n).step_by(LINES_PER_PIECE).collect();
    // The first line of each kind, by index (the same whatever the threads).
    let first: PlHashMap<Kind, usize> = pieces
        .into_par_iter()
        .fold(
            PlHashMap::default,
            |mut seen: PlHashMap<Kind, usize>, from| {
                for (i, l) in month.lines.range(from..from + LINES_PER_PIECE) {
                    seen.entry(kind(l)).or_insert(i);
                }
                seen
            },
        )
        .reduce(PlHashMap::default, |mut a, b| {
            for (k, i) in b {
                let at = a.entry(k).or_insert(i);
                *at = (*at).min(i);
            }
            a
        });
    let mut chosen: Vec<usize> = first.into_values().collect();
    chosen.sort_unstable();
    let kinds = chosen.len();
    let mut shape = Shape::new(cols.len());
    let mut rows = Vec::new();
    for i in chosen {
        rows.clear();
        if let Some((i, l)) = month.lines.range(i..i + 1).next() {
            lines.rows(i, l, None, false, &mut rows);
        }
        shape.add(cols, &rows);
    }
    // Every currency of the month, not only the chosen lines'.
    let mut last: Option<&str> = None;
    for l in month.lines.iter() {
        if last != Some(l.currency.as_str()) {
            let minor = catalog::minor_units(&l.currency).unwrap_or(2);
            shape.minor = Some(shape.minor.map_or(minor, |m| m.max(minor)));
            last = Some(&l.currency);
        }
    }
    (shape, kinds)
}

/// Each column's digits over every row of the month (made without text).
fn exact_shape(month: &Month, lines: &Lines<'_>, cols: &[(&str, Get)]) -> Shape {
    let pieces: Vec<usize> = (0..month.lines.len()).step_by(LINES_PER_PIECE).collect();
    pieces
        .into_par_iter()
        .fold(
            || (Shape::new(cols.len()), Vec::new()),
            |(mut shape, mut rows), from| {
                for (i, l) in month.lines.range(from..from + LINES_PER_PIECE) {
                    rows.clear();
                    lines.rows(i, l, None, false, &mut rows);
                    shape.add(cols, &rows);
                }
                (shape, rows)
            },
        )
        .map(|(shape, _)| shape)
        .reduce(|| Shape::new(cols.len()), Shape::merge)
}

/// Write both files with each decimal column at its scale in `scales`;
/// `None` (the files half written, to be written again) as soon as a value
/// needs more digits than its column's scale.
fn write_rows(
    dir: &Path,
    month: &Month,
    lines: &Lines<'_>,
    cols: &[(&'static str, Get)],
    scales: &[u32],
) -> Result<Option<Written>> {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let n = month.lines.len();
    let schema = typed_frame(cols, scales, &[])?.schema().clone();
    let mut parquet = ParquetGroups::create_open(&dir.join("focus.parquet"), &schema)?;
    let mut csv = CsvFile::create(&dir.join("focus.csv"))?;
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    csv.header(&names)?;
    let misfit = AtomicBool::new(false);
    let (mut rows_written, mut made_s, mut write_s) = (0, 0.0, 0.0);
    // Runs of lines, in line order, each made into rows, then CSV text and
    // a typed frame while its rows are in cache; with the seconds it took.
    // A task whose values do not all fit makes nothing more.
    type Made = (Vec<(Vec<u8>, DataFrame)>, f64);
    let make = |start: usize| -> Result<Made> {
        let end = (start + LINES_PER_CHUNK).min(n);
        let t = std::time::Instant::now();
        let pieces: Vec<usize> = (start..end).step_by(LINES_PER_PIECE).collect();
        let made = pieces
            .into_par_iter()
            .map(|from| -> Result<Option<(Vec<u8>, DataFrame)>> {
                // Room for the piece's rows up front: a row is a few hundred
                // bytes, and a growing vector copies all of them each time.
                let mut rows = Vec::with_capacity(ROWS_PER_LINE_ROOM * LINES_PER_PIECE);
                for (i, l) in month.lines.range(from..(from + LINES_PER_PIECE).min(end)) {
                    lines.rows(i, l, None, true, &mut rows);
                }
                // A record is about 560 bytes (10M month): room for 768 each
                // so the text is not copied to a larger buffer half way.
                let mut buf = Vec::with_capacity(rows.len() * 768);
                let mut fits = true;
                let mut record = Record::new(cols, scales);
                for r in &rows {
                    fits &= record.write(r, &mut buf);
                }
                if !fits {
                    misfit.store(true, Relaxed);
                    return Ok(None);
                }
                Ok(Some((buf, typed_frame(cols, scales, &rows)?)))
            })
            .collect::<Result<Option<_>>>()?;
        Ok((made.unwrap_or_default(), t.elapsed().as_secs_f64()))
    };
    // Each chunk is written (in order; the Parquet writer encodes a row
    // group's columns in parallel once the group is complete) while the
    // next is made: the CSV's writes run on one thread, and at 100M events
    // the other core sat idle through a sixth of the export without this.
    let mut starts = (0..n).step_by(LINES_PER_CHUNK);
    overlapped(
        || {
            if misfit.load(Relaxed) {
                return None;
            }
            starts.next().map(make)
        },
        |(made, secs)| {
            made_s += secs;
            if misfit.load(Relaxed) {
                return Ok(());
            }
            let t = std::time::Instant::now();
            for (text, frame) in made {
                rows_written += frame.height();
                csv.write_all(&text)?;
                parquet.push(frame)?;
            }
            write_s += t.elapsed().as_secs_f64();
            Ok(())
        },
    )?;
    if misfit.load(Relaxed) {
        tracing::info!("focus: a value needs more digits than its column's scale; finding the scales over every row");
        return Ok(None);
    }
    parquet.finish()?;
    csv.finish()?;
    Ok(Some(Written {
        rows: rows_written,
        made_s,
        write_s,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_row() -> FocusRow<'static> {
        FocusRow {
            billed_cost: Decimal::ZERO,
            billing_account_id: "a".into(),
            billing_currency: "USD".into(),
            billing_period_start: 0,
            billing_period_end: 0,
            charge_category: "Usage",
            charge_class: None,
            charge_description: "".into(),
            charge_frequency: "Usage-Based",
            charge_period_start: 0,
            charge_period_end: 0,
            commitment_discount_id: None,
            commitment_discount_name: None,
            commitment_discount_status: None,
            commitment_discount_type: None,
            consumed_quantity: None,
            consumed_unit: None,
            contracted_cost: Decimal::ZERO,
            contracted_unit_price: None,
            effective_cost: Decimal::ZERO,
            list_cost: Decimal::ZERO,
            list_unit_price: None,
            pricing_category: "Standard",
            pricing_quantity: None,
            pricing_unit: None,
            provider_name: "Tencent Cloud".into(),
            region_id: None,
            service_name: "s".into(),
            sku_id: None,
            sku_price_id: None,
            sub_account_id: "a".into(),
            x_invoice_line: 1,
            x_charge_type: "usage".into(),
            x_reference: None,
            x_tier: None,
        }
    }

    #[test]
    fn records_written_field_by_field_are_those_written_over_the_columns() {
        // Every optional field sometimes null, sometimes filled; text with
        // commas and quotes; decimals at other scales and one past its
        // column's; instants that repeat and change (and one whose year
        // has five digits); consecutive rows of the same instants.
        let mut seed = 11u64;
        let mut pick = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let dec = |s: &str| Decimal::from_str_exact(s).unwrap();
        let decs = [
            dec("0"),
            dec("1.5"),
            dec("-2.25"),
            dec("15"),
            dec("0.000001"),
        ];
        let texts = ["a", "b, c", "say \"q\"", ""];
        let times = [0, 86_400_000_000, -3_600_000_000, 300_000_000_000_000_000];
        let mut rows = Vec::new();
        for _ in 0..3000 {
            let mut r = sample_row();
            let t = |pick: &mut dyn FnMut(usize) -> usize| Cow::Borrowed(texts[pick(4)]);
            let o = |pick: &mut dyn FnMut(usize) -> usize| {
                (pick(3) > 0).then(|| Cow::Borrowed(texts[pick(4)]))
            };
            r.billed_cost = decs[pick(5)];
            r.billing_account_id = t(&mut pick);
            r.billing_currency = ["USD", "CNY", "JPY"][pick(3)].into();
            r.billing_period_start = times[pick(4)];
            r.billing_period_end = times[pick(2)];
            r.charge_category = ["Usage", "Purchase"][pick(2)];
            r.charge_class = (pick(2) == 0).then_some("Correction");
            r.charge_description = t(&mut pick);
            r.charge_frequency = ["Usage-Based", "One-Time"][pick(2)];
            r.charge_period_start = times[pick(4)];
            r.charge_period_end = times[pick(4)];
            r.commitment_discount_id = o(&mut pick);
            r.commitment_discount_name = o(&mut pick);
            r.commitment_discount_status = (pick(2) == 0).then_some("Used");
            r.commitment_discount_type = o(&mut pick);
            r.consumed_quantity = (pick(3) > 0).then(|| decs[pick(5)]);
            r.consumed_unit = o(&mut pick);
            r.contracted_cost = decs[pick(5)];
            r.contracted_unit_price = (pick(3) > 0).then(|| decs[pick(5)]);
            r.effective_cost = decs[pick(5)];
            r.list_cost = decs[pick(5)];
            r.list_unit_price = (pick(3) > 0).then(|| decs[pick(5)]);
            r.pricing_category = ["Standard", "Committed"][pick(2)];
            r.pricing_quantity = (pick(3) > 0).then(|| decs[pick(5)]);
            r.pricing_unit = o(&mut pick);
            r.provider_name = t(&mut pick);
            r.region_id = o(&mut pick);
            r.service_name = t(&mut pick);
            r.sku_id = o(&mut pick);
            r.sku_price_id = o(&mut pick);
            r.sub_account_id = t(&mut pick);
            r.x_invoice_line = pick(1000) as i64 - 1;
            r.x_charge_type = t(&mut pick);
            r.x_reference = o(&mut pick);
            r.x_tier = o(&mut pick);
            // A run of the same row, as a line's rows mostly are.
            for _ in 0..1 + pick(3) {
                rows.push(r.clone());
            }
        }
        let cols = columns();
        let scales = Shape::of(&cols, &rows).scales(&cols);
        let (mut by_field, mut by_column) = (Vec::new(), Vec::new());
        let mut record = Record::new(&cols, &scales);
        for r in &rows {
            assert!(record.write(r, &mut by_field));
            assert!(csv_row(&cols, &scales, r, &mut by_column));
        }
        assert_eq!(
            String::from_utf8(by_field).unwrap(),
            String::from_utf8(by_column).unwrap()
        );
        // A decimal past its column's scale: neither writes it as fitting.
        let mut r = sample_row();
        r.list_cost = dec("0.123456789");
        assert!(!Record::new(&cols, &scales).write(&r, &mut Vec::new()));
        assert!(!csv_row(&cols, &scales, &r, &mut Vec::new()));
    }

    #[test]
    fn every_catalog_tier_has_its_label_made_once() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/catalog");
        let cat = crate::catalog_load::load(&dir).expect("the shipped catalog loads");
        let period = Period::parse("2026-10", crate::run::catalog_offset(&cat).unwrap()).unwrap();
        let month = Month {
            lines: Vec::new().into(),
            invoices: Vec::new(),
            ledger: Vec::new(),
            exceptions: Vec::new(),
        };
        let lines = Lines::new(&month, &cat, &period);
        let mut n = 0;
        for pl in cat
            .products
            .iter()
            .flat_map(|p| &p.items)
            .flat_map(|i| &i.price_lists)
        {
            for t in &pl.tiers {
                assert!(matches!(lines.tier_label(t), Cow::Borrowed(_)));
                assert_eq!(lines.tier_label(t), tier_label(t));
                n += 1;
            }
        }
        assert!(n > 10, "{n} tiers");
        // A tier the catalog does not hold is labelled all the same.
        let other = Tier {
            from: Decimal::new(15, 1),
            to: None,
            unit_price: Decimal::ONE,
            source: String::new(),
        };
        assert_eq!(lines.tier_label(&other), "[1.5,inf)");
        let bounded = Tier {
            to: Some(Decimal::new(2000, 0)),
            ..other
        };
        assert_eq!(lines.tier_label(&bounded), "[1.5,2000)");
    }

    /// 70,000 usage lines of an item the catalog does not list (one plain
    /// row each): quantities and amounts of 0 to 3 decimals, and one line
    /// near the end whose amount needs 5.
    fn plain_month(period: &Period) -> Month {
        let lines: Vec<InvoiceLine> = (0..70_000i64)
            .map(|i| {
                let q = Decimal::new(i % 977 + 1, (i % 4) as u32);
                InvoiceLine {
                    account_id: format!("acct-{:05}", i / 7),
                    item: "tencent.unlisted".into(),
                    charge_type: "usage".into(),
                    cycle_start: period.start(),
                    usage_quantity: q,
                    postpaid_quantity: q,
                    unit_price: Some(Decimal::new(125, 3)),
                    amount: if i == 69_000 {
                        Decimal::new(123_456_789, 5)
                    } else {
                        Decimal::new(i % 1000, 2)
                    },
                    currency: "USD".into(),
                    ..InvoiceLine::default()
                }
            })
            .collect();
        Month {
            lines: lines.into(),
            invoices: Vec::new(),
            ledger: Vec::new(),
            exceptions: Vec::new(),
        }
    }

    /// The scales come from one line of each kind and hold every value; when
    /// a value needs more digits than the scales first tried (here those of
    /// the first 1,000 lines: the line that needs 5 is in the second chunk,
    /// after a whole chunk was written), the files are written again at the
    /// scales of every row: byte for byte the files of the first way.
    #[test]
    fn a_value_past_the_scales_tried_has_the_files_written_again_the_same() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/catalog");
        let cat = crate::catalog_load::load(&dir).expect("the shipped catalog loads");
        let period = Period::parse("2026-10", crate::run::catalog_offset(&cat).unwrap()).unwrap();
        let month = plain_month(&period);
        let lines = Lines::new(&month, &cat, &period);
        let cols = columns();
        let (likely, kinds) = likely_shape(&month, &lines, &cols);
        let exact = exact_shape(&month, &lines, &cols);
        assert!(kinds < 200, "{kinds} kinds");
        // Never more digits than the rows need; here, all of them.
        for (l, e) in likely.digits.iter().zip(&exact.digits) {
            assert!(l <= e);
        }
        assert_eq!(likely.scales(&cols), exact.scales(&cols));
        let billed = cols.iter().position(|(n, _)| *n == "BilledCost").unwrap();
        assert_eq!(exact.scales(&cols)[billed], 5);

        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_focus_to(a.path(), &month, &cat, &period).unwrap();
        let mut tried = false;
        write_focus_guessing(b.path(), &month, &cat, &period, |m, l, c| {
            tried = true;
            let first = Month {
                lines: m
                    .lines
                    .range(0..1000)
                    .map(|(_, x)| x.clone())
                    .collect::<Vec<_>>()
                    .into(),
                invoices: Vec::new(),
                ledger: Vec::new(),
                exceptions: Vec::new(),
            };
            let shape = exact_shape(&first, l, c);
            assert!(shape.scales(c)[billed] < 5);
            (shape, 1000)
        })
        .unwrap();
        assert!(tried);
        for f in ["focus.csv", "focus.parquet"] {
            let (x, y) = (
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap(),
            );
            assert!(x == y, "{f}: {} bytes against {}", y.len(), x.len());
        }
        let csv = std::fs::read_to_string(a.path().join("focus.csv")).unwrap();
        assert_eq!(csv.lines().count(), 70_001);
        assert!(csv.contains(",1234.56789,"), "the long amount, whole");
        assert!(csv.contains(",9.99000,"), "every amount at 5 digits");
    }

    #[test]
    fn columns_are_the_focus_ones_then_the_custom_ones() {
        let names: Vec<&str> = columns().iter().map(|(n, _)| *n).collect();
        let want: Vec<&str> = FOCUS_COLUMNS
            .iter()
            .chain(CUSTOM_COLUMNS)
            .copied()
            .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn units_read_as_focus_units() {
        assert_eq!(unit_label("call"), "Calls");
        assert_eq!(unit_label("1k_tokens"), "1000 Tokens");
        assert_eq!(unit_label("minute"), "Minutes");
        assert_eq!(unit_label("QPS"), "QPS");
        assert_eq!(unit_label("concurrent task"), "Concurrent Tasks");
    }

    #[test]
    fn decimals_are_written_exactly_at_one_scale() {
        let cols = [("x", Get::Dec(Least::Digits(0), |r| r.pricing_quantity))];
        let row = |q: Option<Decimal>| {
            let mut r = sample_row();
            r.pricing_quantity = q;
            r
        };
        let rows = [
            row(Some(Decimal::new(125, 2))),
            row(Some(Decimal::new(5, 0))),
            row(None),
        ];
        assert_eq!(Shape::of(&cols, &rows).scales(&cols), vec![2]);
        let dec_text = |d: Decimal, scale: u32| {
            let mut buf = Vec::new();
            push_dec(&mut buf, d, scale);
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(dec_text(Decimal::new(5, 0), 2), "5.00");
        // The integer path and rust_decimal's rescale agree, sign and all,
        // up to the largest mantissa; a value that would round stops.
        for d in [
            Decimal::new(-125, 2),
            Decimal::new(7, 28),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::new(1, 0),
            Decimal::new(-3, 1),
        ] {
            assert_eq!(digits_needed(d), d.normalize().scale(), "{d}");
            for scale in d.scale()..=28 {
                let mut want = d;
                want.rescale(scale);
                if want == d && want.scale() == scale {
                    assert_eq!(mantissa_at(d, scale), want.mantissa(), "{d} at {scale}");
                    let mut buf = Vec::new();
                    push_dec(&mut buf, d, scale);
                    assert_eq!(
                        String::from_utf8(buf).unwrap(),
                        format!("{want:.*}", scale as usize)
                    );
                }
            }
        }
        for (m, s) in [
            (1_200i64, 3),
            (-5_000, 2),
            (0, 4),
            (7, 0),
            (10, 1),
            (i64::MAX, 9),
        ] {
            let d = Decimal::new(m, s);
            assert_eq!(digits_needed(d), d.normalize().scale(), "{d}");
        }
        assert!(std::panic::catch_unwind(|| mantissa_at(Decimal::new(125, 3), 2)).is_err());
        assert!(std::panic::catch_unwind(|| mantissa_at(Decimal::MAX, 1)).is_err());
        assert_eq!(dec_text(-Decimal::ZERO, 2), "0.00");
    }
}
