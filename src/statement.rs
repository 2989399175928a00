//! Vendor statement readers: a Tencent Cloud bill-details export, an Alibaba
//! Cloud billing-details export (by billable item), a FOCUS 1.0–1.2 dataset or
//! reckon's canonical statement, as CSV or Parquet, one file or a directory of
//! them, normalised to [`Statement`] lines in reckon's terms.
//!
//! Everything vendor-specific is data in the map directory (`--statement-map`,
//! default `data/statements/`): `headers.toml` (header text → field, per format
//! and language; how a format is detected), `sku-map.toml` (vendor product /
//! component / billable-item / SKU names → item ids; transaction texts →
//! charge types) and `units.toml` (vendor units → billing units). See
//! `data/statements/README.md`.
//!
//! What is an error and what is a problem:
//! * [`Error::Input`]: a file that cannot be read at all (missing, not UTF-8,
//!   broken Parquet), whose header matches no known format (the message lists
//!   every format tried with the fields it missed), or a Parquet file with a
//!   float money or quantity column (binary floats cannot hold decimal amounts;
//!   the data contract rejects them, never rounding silently).
//! * [`StatementProblem`]: anything wrong with one row. A row whose account,
//!   item, charge type, amount, currency or period is missing or unusable is
//!   kept out of `lines` (reasons `missing_value`, `unmapped_sku`,
//!   `unknown_item`, `unknown_charge_type`, `bad_decimal`, `unknown_currency`,
//!   `bad_period`); a bad optional value (a quantity, a unit price, a unit, a
//!   usage start) is reported and left empty on a line that is kept
//!   (`bad_decimal`, `unknown_unit`, `unit_mismatch`, `bad_timestamp`).
//!
//! Numbers are parsed from text as exact decimals: `-` or empty is null,
//! thousands separators (`1,234.50`) and `$` / `¥` / `￥` are accepted;
//! exponent notation or any other text is `bad_decimal`, as are money values
//! with more than 8 decimals (quantities may carry up to 28: reckon's own
//! minute quantities are exact thirds and sixtieths).
//!
//! Quantities of usage lines are converted to the item's billing unit with
//! `units.toml` (90 seconds of a minute item = 90 / 60 = 1.5, rust_decimal
//! arithmetic); quantities of purchase, subscription, refund and adjustment
//! lines count packages or units bought and are kept as given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use compact_str::CompactString;
use csv::StringRecord;
use polars::prelude::{
    DataType, LazyFrame, PlRefPath, ScanArgsParquet, TimeUnit, TimeZone as PlTimeZone,
};
use polars::prelude::{PlHashMap as HashMap, PlHashSet as HashSet};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::catalog::{self, Catalog};
use crate::error::{Error, Result};
use crate::model::Micros;
use crate::recon_model::{Statement, StatementLine, StatementProblem};

/// The formats reckon reads, as named in `headers.toml` and `StatementLine::format`.
pub const FORMATS: &[&str] = &[
    "tencent_bill_details",
    "alibaba_billing_details",
    "focus",
    "canonical",
];

/// Charge types of statement lines.
pub const CHARGE_TYPES: &[&str] = &["usage", "purchase", "subscription", "refund", "adjustment"];

/// Most decimals a money value may carry (Tencent exports 8).
pub const MONEY_DECIMALS: u32 = 8;

/// Most decimals a quantity may carry (rust_decimal's limit).
pub const QUANTITY_DECIMALS: u32 = 28;

/// Billing time zone when the item's product does not name one: UTC+08:00.
pub const DEFAULT_OFFSET: i32 = 8 * 3600;

/// The map files of the map directory.
pub const HEADERS_FILE: &str = "headers.toml";
pub const SKU_MAP_FILE: &str = "sku-map.toml";
pub const UNITS_FILE: &str = "units.toml";

/// Charge-type sources `sku-map.toml` may hold rules for.
const CHARGE_SOURCES: &[&str] = &[
    "transaction_type",
    "billing_mode",
    "bill_type",
    "subscription_type",
    "charge_category",
];

const TENCENT_FIELDS: &[&str] = &[
    "payer_account_id",
    "owner_account_id",
    "product_name",
    "product_code",
    "sub_product",
    "billing_mode",
    "transaction_type",
    "transaction_id",
    "line_id",
    "transaction_time",
    "usage_start",
    "usage_end",
    "instance_type",
    "instance_id",
    "component_type",
    "component_name",
    "list_price",
    "price_unit",
    "usage",
    "usage_unit",
    "raw_usage",
    "deducted_usage",
    "original_cost",
    "discount_rate",
    "total_after_discount",
    "voucher_payment",
    "cash_payment",
    "free_credit_payment",
    "currency",
    "billing_cycle",
];
const ALIBABA_FIELDS: &[&str] = &[
    "billing_cycle",
    "usage_start",
    "usage_end",
    "payer_account_id",
    "owner_account_id",
    "product_code",
    "product_name",
    "sub_product",
    "subscription_type",
    "bill_type",
    "instance_id",
    "billable_item_code",
    "billable_item",
    "list_price",
    "price_unit",
    "usage",
    "usage_unit",
    "pretax_gross_amount",
    "discount_amount",
    "coupon_deduction",
    "pretax_amount",
    "deducted_by_resource_plan",
    "currency",
    "line_id",
];
const FOCUS_FIELDS: &[&str] = &[
    "billing_account_id",
    "sub_account_id",
    "billing_period_start",
    "charge_period_start",
    "charge_period_end",
    "charge_category",
    "charge_class",
    "charge_frequency",
    "billed_cost",
    "effective_cost",
    "list_cost",
    "list_unit_price",
    "contracted_unit_price",
    "pricing_quantity",
    "pricing_unit",
    "consumed_quantity",
    "consumed_unit",
    "billing_currency",
    "sku_id",
    "sku_price_id",
    "commitment_discount_id",
    "commitment_discount_status",
    "service_name",
    "provider_name",
    "line_id",
    "x_charge_type",
];
/// The canonical statement's columns (the data contract's, then `line_id`
/// and `cycle_start`); also what [`crate::faults::write_canonical`] writes.
pub const CANONICAL_FIELDS: &[&str] = &[
    "account_id",
    "item",
    "charge_type",
    "billing_period",
    "usage_quantity",
    "deducted_quantity",
    "billed_quantity",
    "unit_price",
    "amount",
    "currency",
    "line_id",
    "cycle_start",
];

fn format_fields(format: &str) -> &'static [&'static str] {
    match format {
        "tencent_bill_details" => TENCENT_FIELDS,
        "alibaba_billing_details" => ALIBABA_FIELDS,
        "focus" => FOCUS_FIELDS,
        "canonical" => CANONICAL_FIELDS,
        _ => &[],
    }
}

/// Fields holding money: refused as Parquet floats, at most 8 decimals.
fn money_fields(format: &str) -> &'static [&'static str] {
    match format {
        "tencent_bill_details" => &[
            "list_price",
            "original_cost",
            "total_after_discount",
            "voucher_payment",
            "cash_payment",
            "free_credit_payment",
        ],
        "alibaba_billing_details" => &[
            "list_price",
            "pretax_gross_amount",
            "discount_amount",
            "coupon_deduction",
            "pretax_amount",
        ],
        "focus" => &[
            "billed_cost",
            "effective_cost",
            "list_cost",
            "list_unit_price",
            "contracted_unit_price",
        ],
        "canonical" => &["unit_price", "amount"],
        _ => &[],
    }
}

/// Fields holding quantities: refused as Parquet floats.
fn quantity_fields(format: &str) -> &'static [&'static str] {
    match format {
        "tencent_bill_details" => &["usage", "raw_usage", "deducted_usage"],
        "alibaba_billing_details" => &["usage", "deducted_by_resource_plan"],
        "focus" => &["pricing_quantity", "consumed_quantity"],
        "canonical" => &["usage_quantity", "deducted_quantity", "billed_quantity"],
        _ => &[],
    }
}

// ---------------------------------------------------------------------------
// Map files

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadersFile {
    detect: DetectFile,
    #[serde(default)]
    currencies: BTreeMap<String, String>,
    formats: BTreeMap<String, FormatFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectFile {
    max_leading_lines: usize,
    #[serde(default)]
    total_row_labels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatFile {
    /// Documentation only.
    #[serde(default)]
    #[allow(dead_code)]
    vendor: String,
    order: u32,
    /// Documentation only.
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    required: Vec<String>,
    /// Language → (header text → field), in file order.
    headers: Ordered<Ordered<String>>,
}

/// A TOML table read in document order (header examples in messages follow
/// the file).
#[derive(Debug)]
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Ordered<V>, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = m.next_entry::<String, V>()? {
                    v.push((k, x));
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuFile {
    #[serde(default)]
    charge_types: BTreeMap<String, Vec<ChargeRuleFile>>,
    #[serde(default)]
    tencent: Vec<ItemRuleFile>,
    #[serde(default)]
    alibaba: Vec<ItemRuleFile>,
    #[serde(default)]
    focus: Vec<ItemRuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChargeRuleFile {
    #[serde(rename = "type")]
    charge_type: String,
    #[serde(rename = "match")]
    patterns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemRuleFile {
    item: String,
    #[serde(default)]
    charge_type: Option<String>,
    #[serde(default)]
    product: Vec<String>,
    #[serde(default)]
    sub_product: Vec<String>,
    #[serde(default)]
    component: Vec<String>,
    #[serde(default)]
    instance_type: Vec<String>,
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    sku: Vec<String>,
    /// Documentation only.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitsFile {
    unit: Vec<UnitFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitFile {
    dimension: String,
    size: Decimal,
    names: Vec<String>,
}

/// One statement format: which header texts name which fields.
#[derive(Debug, Clone, Default)]
struct FormatSpec {
    name: String,
    order: u32,
    /// Groups of alternative fields; each group must be present.
    required: Vec<Vec<String>>,
    /// Normalised header text → field.
    aliases: HashMap<String, String>,
    /// Per language: its normalised header texts, and field → its first header text.
    languages: Vec<(HashSet<String>, HashMap<String, String>)>,
}

impl FormatSpec {
    fn has_header_for(&self, field: &str) -> bool {
        self.languages
            .iter()
            .any(|(_, first)| first.contains_key(field))
    }

    /// Header texts naming `field`, one per language, the languages of
    /// `header` first.
    fn examples(&self, field: &str, header: &[String]) -> Vec<String> {
        let normed: Vec<String> = header.iter().map(|h| norm(h)).collect();
        let mut langs: Vec<(usize, usize, &HashMap<String, String>)> = self
            .languages
            .iter()
            .enumerate()
            .map(|(i, (set, first))| (normed.iter().filter(|h| set.contains(*h)).count(), i, first))
            .collect();
        langs.sort_by_key(|(hits, i, _)| (std::cmp::Reverse(*hits), *i));
        let mut out: Vec<String> = Vec::new();
        for (_, _, first) in langs {
            if let Some(h) = first.get(field) {
                if !out.contains(h) {
                    out.push(h.clone());
                }
            }
        }
        out
    }
}

/// A text pattern: exact (normalised) or a `*` wildcard.
#[derive(Debug, Clone)]
struct Pattern(String);

impl Pattern {
    fn new(s: &str) -> Pattern {
        Pattern(norm(s))
    }
    fn matches(&self, text: &str) -> bool {
        if self.0.contains('*') {
            glob(&self.0, text)
        } else {
            self.0 == text
        }
    }
}

fn any_match(patterns: &[Pattern], texts: &[String]) -> bool {
    patterns.iter().any(|p| texts.iter().any(|t| p.matches(t)))
}

#[derive(Debug, Clone)]
struct ChargeRule {
    charge_type: String,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct ItemRule {
    item: String,
    charge_type: Option<String>,
    product: Vec<Pattern>,
    sub_product: Vec<Pattern>,
    component: Vec<Pattern>,
    instance_type: Vec<Pattern>,
    any: Vec<Pattern>,
    sku: Vec<Pattern>,
}

/// The vendor texts of one row an item rule is matched against (normalised).
#[derive(Debug, Default)]
struct Texts {
    product: Vec<String>,
    sub_product: Vec<String>,
    component: Vec<String>,
    instance_type: Vec<String>,
    sku: Vec<String>,
}

impl ItemRule {
    /// The rule's score on `t`, `None` when some condition fails.
    fn score(&self, t: &Texts) -> Option<u32> {
        let mut score = 0;
        let mut cond = |pats: &[Pattern], texts: &[String], weight: u32| -> bool {
            if pats.is_empty() {
                return true;
            }
            if any_match(pats, texts) {
                score += weight;
                true
            } else {
                false
            }
        };
        let ok = cond(&self.product, &t.product, 1)
            && cond(&self.sub_product, &t.sub_product, 2)
            && cond(&self.instance_type, &t.instance_type, 3)
            && cond(&self.component, &t.component, 4)
            && cond(&self.sku, &t.sku, 4);
        if !ok {
            return None;
        }
        if !self.any.is_empty() {
            let w = [
                (&t.component, 4),
                (&t.instance_type, 3),
                (&t.sub_product, 2),
            ]
            .iter()
            .filter(|(texts, _)| any_match(&self.any, texts))
            .map(|(_, w)| *w)
            .max()?;
            score += w;
        }
        Some(score)
    }
}

/// The most specific rule matching `t` (ties: the earlier rule).
fn best_rule<'a>(rules: &'a [ItemRule], t: &Texts) -> Option<&'a ItemRule> {
    let mut best: Option<(u32, &ItemRule)> = None;
    for r in rules {
        if let Some(s) = r.score(t) {
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, r));
            }
        }
    }
    best.map(|(_, r)| r)
}

/// The loaded map directory.
#[derive(Debug, Clone)]
struct Maps {
    formats: Vec<FormatSpec>,
    max_leading_lines: usize,
    total_labels: Vec<String>,
    /// Normalised currency text → ISO code.
    currencies: HashMap<String, CompactString>,
    /// The ISO codes reckon knows, as written, with what [`Maps::currency`]
    /// makes of each: looked up as they stand first (a statement line's
    /// currency is nearly always one of them), without normalising.
    codes: Vec<(&'static str, Option<CompactString>)>,
    charge_rules: BTreeMap<String, Vec<ChargeRule>>,
    tencent: Vec<ItemRule>,
    alibaba: Vec<ItemRule>,
    focus: Vec<ItemRule>,
    /// Normalised unit name → (dimension, size in the dimension's base unit).
    units: HashMap<String, (String, Decimal)>,
}

fn map_error(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("statement map {}: {msg}", path.display()))
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| map_error(path, e))?;
    toml::from_str(&text).map_err(|e| map_error(path, e))
}

fn load_maps(dir: &Path) -> Result<Maps> {
    let hpath = dir.join(HEADERS_FILE);
    let h: HeadersFile = read_toml(&hpath)?;
    let mut formats = Vec::new();
    for (name, f) in &h.formats {
        if !FORMATS.contains(&name.as_str()) {
            return Err(map_error(
                &hpath,
                format!(
                    "format {name:?} has no reader (known: {})",
                    FORMATS.join(", ")
                ),
            ));
        }
        let known = format_fields(name);
        let mut aliases = HashMap::default();
        let mut languages = Vec::new();
        for (lang, map) in &f.headers.0 {
            let mut set = HashSet::default();
            let mut first: HashMap<String, String> = HashMap::default();
            for (header, field) in &map.0 {
                if !known.contains(&field.as_str()) {
                    return Err(map_error(
                        &hpath,
                        format!("format {name}, {lang}: header {header:?} names unknown field {field:?} (known: {})", known.join(", ")),
                    ));
                }
                let key = norm(header);
                if let Some(prev) = aliases.insert(key, field.clone()) {
                    if prev != *field {
                        return Err(map_error(
                            &hpath,
                            format!(
                                "format {name}: header {header:?} maps to both {prev} and {field}"
                            ),
                        ));
                    }
                }
                set.insert(norm(header));
                first.entry(field.clone()).or_insert_with(|| header.clone());
            }
            languages.push((set, first));
        }
        let spec_langs = FormatSpec {
            name: name.clone(),
            order: f.order,
            required: Vec::new(),
            aliases: HashMap::default(),
            languages,
        };
        let mut required = Vec::new();
        for group in &f.required {
            let alts: Vec<String> = group.split('|').map(|s| s.trim().to_string()).collect();
            for a in &alts {
                if !known.contains(&a.as_str()) {
                    return Err(map_error(
                        &hpath,
                        format!("format {name}: required field {a:?} is unknown"),
                    ));
                }
                if !spec_langs.has_header_for(a) {
                    return Err(map_error(
                        &hpath,
                        format!("format {name}: required field {a:?} has no header"),
                    ));
                }
            }
            required.push(alts);
        }
        if required.is_empty() {
            return Err(map_error(
                &hpath,
                format!("format {name}: `required` is empty"),
            ));
        }
        formats.push(FormatSpec {
            required,
            aliases,
            ..spec_langs
        });
    }
    formats.sort_by_key(|f| (f.order, f.name.clone()));
    let mut currencies = HashMap::default();
    for (text, code) in &h.currencies {
        currencies.insert(norm(text), code.trim().to_uppercase().into());
    }

    let spath = dir.join(SKU_MAP_FILE);
    let s: SkuFile = read_toml(&spath)?;
    let mut charge_rules = BTreeMap::new();
    for (source, rules) in &s.charge_types {
        if !CHARGE_SOURCES.contains(&source.as_str()) {
            return Err(map_error(
                &spath,
                format!(
                    "charge_types.{source}: unknown source (known: {})",
                    CHARGE_SOURCES.join(", ")
                ),
            ));
        }
        let mut out = Vec::new();
        for r in rules {
            if !CHARGE_TYPES.contains(&r.charge_type.as_str()) {
                return Err(map_error(
                    &spath,
                    format!("charge_types.{source}: unknown type {:?}", r.charge_type),
                ));
            }
            out.push(ChargeRule {
                charge_type: r.charge_type.clone(),
                patterns: r.patterns.iter().map(|p| Pattern::new(p)).collect(),
            });
        }
        charge_rules.insert(source.clone(), out);
    }
    let rules = |section: &str, v: &[ItemRuleFile]| -> Result<Vec<ItemRule>> {
        v.iter()
            .enumerate()
            .map(|(n, r)| {
                let p = |v: &[String]| v.iter().map(|s| Pattern::new(s)).collect::<Vec<_>>();
                let rule = ItemRule {
                    item: r.item.trim().to_string(),
                    charge_type: r.charge_type.clone(),
                    product: p(&r.product),
                    sub_product: p(&r.sub_product),
                    component: p(&r.component),
                    instance_type: p(&r.instance_type),
                    any: p(&r.any),
                    sku: p(&r.sku),
                };
                if rule.product.is_empty()
                    && rule.sub_product.is_empty()
                    && rule.component.is_empty()
                    && rule.instance_type.is_empty()
                    && rule.any.is_empty()
                    && rule.sku.is_empty()
                {
                    return Err(map_error(
                        &spath,
                        format!("[[{section}]] rule {} ({}) has no condition", n + 1, r.item),
                    ));
                }
                if let Some(ct) = &rule.charge_type {
                    if !CHARGE_TYPES.contains(&ct.as_str()) {
                        return Err(map_error(
                            &spath,
                            format!(
                                "[[{section}]] rule {} ({}): unknown charge_type {ct:?}",
                                n + 1,
                                r.item
                            ),
                        ));
                    }
                }
                Ok(rule)
            })
            .collect()
    };
    let tencent = rules("tencent", &s.tencent)?;
    let alibaba = rules("alibaba", &s.alibaba)?;
    let focus = rules("focus", &s.focus)?;

    let upath = dir.join(UNITS_FILE);
    let u: UnitsFile = read_toml(&upath)?;
    let mut units: HashMap<String, (String, Decimal)> = HashMap::default();
    for def in &u.unit {
        if def.size <= Decimal::ZERO {
            return Err(map_error(
                &upath,
                format!("unit size {} must be positive", def.size),
            ));
        }
        for name in &def.names {
            let key = unit_norm(name);
            let val = (def.dimension.clone(), def.size);
            if let Some(prev) = units.insert(key, val.clone()) {
                if prev != val {
                    return Err(map_error(
                        &upath,
                        format!("unit {name:?} is defined twice, differently"),
                    ));
                }
            }
        }
    }

    let mut maps = Maps {
        formats,
        max_leading_lines: h.detect.max_leading_lines.max(1),
        total_labels: h.detect.total_row_labels.iter().map(|s| norm(s)).collect(),
        currencies,
        codes: Vec::new(),
        charge_rules,
        tencent,
        alibaba,
        focus,
        units,
    };
    maps.codes = catalog::CURRENCIES
        .iter()
        .map(|&(code, _)| (code, maps.currency_of(code)))
        .collect();
    Ok(maps)
}

impl Maps {
    /// ISO code of a currency text, if reckon knows it.
    fn currency(&self, text: &str) -> Option<CompactString> {
        let t = trimmed(text);
        match self.codes.iter().find(|(code, _)| *code == t) {
            Some((_, known)) => known.clone(),
            None => self.currency_of(t),
        }
    }

    /// [`Maps::currency`] by normalising the text.
    fn currency_of(&self, text: &str) -> Option<CompactString> {
        let t = text.trim();
        let code = self
            .currencies
            .get(&*norm_cow(t))
            .cloned()
            .unwrap_or_else(|| t.to_uppercase().into());
        catalog::minor_units(&code).map(|_| code)
    }

    /// The first charge rule of `source` matching `text`.
    fn charge(&self, source: &str, text: &str) -> Option<&str> {
        let t = norm_cow(text);
        self.charge_rules
            .get(source)?
            .iter()
            .find(|r| r.patterns.iter().any(|p| p.matches(&t)))
            .map(|r| r.charge_type.as_str())
    }

    fn unit(&self, text: &str) -> Option<&(String, Decimal)> {
        self.units.get(&unit_norm(text))
    }
}

// ---------------------------------------------------------------------------
// Text helpers

/// Trim, lower-case, full-width → ASCII, collapse whitespace.
fn norm(s: &str) -> String {
    norm_cow(s).into_owned()
}

/// [`norm`], borrowing `s` when it is normal already: ASCII without
/// capitals or whitespace other than single inner spaces (most cells of
/// an export: ids, codes, periods), so a look-up by normal text need not
/// allocate.
fn norm_cow(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    let normal = !b.is_empty()
        && b[0] != b' '
        && b[b.len() - 1] != b' '
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii()
                && !c.is_ascii_uppercase()
                && !(b'\t'..=b'\r').contains(&c)
                && (c != b' ' || b[i - 1] != b' ')
        });
    if normal {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(norm_chars(s))
    }
}

/// [`norm`] character by character.
fn norm_chars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = match c {
            '\u{feff}' => continue,
            '\u{3000}' => ' ',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Unit names: normalised, then without spaces, `_` and `-`, and a leading "per".
fn unit_norm(s: &str) -> String {
    let n = norm(s);
    let n = n.strip_prefix("per ").unwrap_or(&n);
    n.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .collect()
}

/// `*` wildcard match.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `-`, `--`, `—` and empty cells are null.
fn is_null(s: &str) -> bool {
    is_null_trimmed(s.trim())
}

/// [`is_null`] of a text already trimmed.
fn is_null_trimmed(s: &str) -> bool {
    s.len() <= 3 && matches!(s, "" | "-" | "--" | "—" | "－")
}

/// Why a decimal text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecKind {
    Money,
    Quantity,
}

/// Parse a plain decimal: optional sign, optional `$`/`¥`/`￥`, digits with
/// optional `,` thousands groups, optional fraction. `Err` on anything else.
fn parse_decimal(text: &str, kind: DecKind) -> std::result::Result<Decimal, ()> {
    let max = match kind {
        DecKind::Money => MONEY_DECIMALS,
        DecKind::Quantity => QUANTITY_DECIMALS,
    };
    match plain_decimal(trimmed(text), max) {
        Some(d) => Ok(d),
        None => general_decimal(text, max),
    }
}

/// [`parse_decimal`] of any text, at most `max` digits after the point.
fn general_decimal(text: &str, max: u32) -> std::result::Result<Decimal, ()> {
    let mut s = text.trim();
    let mut negative = false;
    let mut signed = false;
    let take_sign =
        |s: &mut &str, negative: &mut bool, signed: &mut bool| -> std::result::Result<(), ()> {
            if let Some(r) = s.strip_prefix('-').or_else(|| s.strip_prefix('−')) {
                if *signed {
                    return Err(());
                }
                *negative = true;
                *signed = true;
                *s = r.trim_start();
            } else if let Some(r) = s.strip_prefix('+') {
                if *signed {
                    return Err(());
                }
                *signed = true;
                *s = r.trim_start();
            }
            Ok(())
        };
    take_sign(&mut s, &mut negative, &mut signed)?;
    for sym in ["US$", "$", "¥", "￥"] {
        if let Some(r) = s.strip_prefix(sym) {
            s = r.trim_start();
            break;
        }
    }
    take_sign(&mut s, &mut negative, &mut signed)?;
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let int_digits: std::borrow::Cow<str> = if int.contains(',') {
        let groups: Vec<&str> = int.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
        if !first_ok || !rest_ok {
            return Err(());
        }
        groups.concat().into()
    } else {
        int.into()
    };
    if !int_digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    let frac = frac.unwrap_or("");
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(());
    }
    if int_digits.is_empty() && frac.is_empty() {
        return Err(());
    }
    if s.ends_with('.') {
        return Err(());
    }
    if frac.len() > max as usize {
        return Err(());
    }
    let int_digits = int_digits.trim_start_matches('0');
    let mut unsigned = String::with_capacity(int_digits.len() + frac.len() + 2);
    unsigned.push_str(if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    });
    if !frac.is_empty() {
        unsigned.push('.');
        unsigned.push_str(frac);
    }
    // `from_str` would round digits a Decimal cannot hold: refuse instead.
    let d = Decimal::from_str_exact(&unsigned).map_err(|_| ())?;
    Ok(if negative { -d } else { d })
}

/// [`parse_decimal`]'s common case without allocating: an optional `-`,
/// ASCII digits and at most one `.` with digits after it, at most `max`
/// of them, and a mantissa that fits 96 bits: the decimal
/// `Decimal::from_str_exact` makes of it. `None` for anything else, which
/// the general parse decides (it may still accept it, or refuse it).
fn plain_decimal(s: &str, max: u32) -> Option<Decimal> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        b => (false, b),
    };
    let mut mantissa: u128 = 0;
    let mut scale: Option<u32> = None;
    for (k, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u128::from(c - b'0');
                if mantissa >= 1 << 96 {
                    return None;
                }
                if let Some(sc) = scale.as_mut() {
                    *sc += 1;
                }
            }
            b'.' if scale.is_none() && k > 0 && k + 1 < digits.len() => scale = Some(0),
            _ => return None,
        }
    }
    let scale = scale.unwrap_or(0);
    if digits.is_empty() || scale > max || scale > 28 {
        return None;
    }
    let d = Decimal::from_i128_with_scale(mantissa as i128, scale);
    Some(if negative { -d } else { d })
}

/// Split `"120 minutes"` into `("120", "minutes")`.
fn split_number_unit(text: &str) -> (&str, &str) {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '+' | '-' | ' ')))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    (t[..end].trim(), t[end..].trim())
}

/// `YYYY-MM` from a billing-cycle text: `2026-10`, `2026/10`, `202610`,
/// `2026年10月`, `2026-10-01`, `2026-10-01 00:00:00`.
fn parse_period(text: &str) -> Option<CompactString> {
    let t = text.trim();
    // `YYYY-MM` as it stands (what most exports write).
    if let [y0, y1, y2, y3, b'-', m0, m1] = *t.as_bytes() {
        let d = [y0, y1, y2, y3, m0, m1];
        if d.iter().all(u8::is_ascii_digit) {
            let year = d[..4]
                .iter()
                .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
            let month = u32::from(m0 - b'0') * 10 + u32::from(m1 - b'0');
            return ((1..=12).contains(&month) && (1900..=9999).contains(&year)).then(|| t.into());
        }
    }
    parse_period_chars(t).map(Into::into)
}

/// [`parse_period`] of any form, character by character.
fn parse_period_chars(t: &str) -> Option<String> {
    let chars: Vec<char> = t.chars().collect();
    if chars.len() < 6 || !chars[..4].iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let year: i32 = chars[..4].iter().collect::<String>().parse().ok()?;
    let mut i = 4;
    let sep = matches!(chars[i], '-' | '/' | '.' | '年');
    if sep {
        i += 1;
    }
    let start = i;
    while i < chars.len() && chars[i].is_ascii_digit() && i - start < 2 {
        i += 1;
    }
    let digits: String = chars[start..i].iter().collect();
    if digits.is_empty() || (!sep && digits.len() != 2) {
        return None;
    }
    if i < chars.len()
        && (chars[i].is_ascii_digit() || !matches!(chars[i], '-' | '/' | '.' | '月' | ' ' | 'T'))
    {
        return None;
    }
    let month: u32 = digits.parse().ok()?;
    if !(1..=12).contains(&month) || !(1900..=9999).contains(&year) {
        return None;
    }
    Some(format!("{year:04}-{month:02}"))
}

/// An instant from a timestamp text. Texts with an offset (or `Z`, or a
/// trailing `UTC`) are exact; naive texts are local time at `offset`.
fn parse_time(text: &str, offset: i32) -> Option<Micros> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_micros());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(t, f) {
            return Some(dt.timestamp_micros());
        }
    }
    let (t, utc) = match t.strip_suffix(" UTC").or_else(|| t.strip_suffix('Z')) {
        Some(r) => (r.trim(), true),
        None => (t, false),
    };
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y/%m/%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    let off = if utc { 0 } else { offset };
    Some(naive.and_utc().timestamp_micros() - i64::from(off) * 1_000_000)
}

fn period_of(t: Micros, offset: i32) -> String {
    crate::period::to_datetime(t, offset)
        .format("%Y-%m")
        .to_string()
}

fn fmt_utc_micros(t: i64) -> String {
    match Utc.timestamp_micros(t).single() {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
        None => String::new(),
    }
}

fn fmt_naive_micros(t: i64) -> String {
    match DateTime::from_timestamp_micros(t) {
        Some(dt) => dt.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------
// Reading files

/// A statement file as text cells, its format detected.
struct Table {
    file: String,
    format: FormatSpec,
    /// Field → column index.
    cols: HashMap<String, usize>,
    header: Vec<String>,
    rows: Rows,
}

/// A table's data rows: row numbers are CSV line numbers (header line
/// counted), Parquet index + 2.
enum Rows {
    /// Parquet rows, as text records.
    Records(Vec<(u64, StringRecord)>),
    /// A CSV file's bytes (valid UTF-8) and where its data rows begin: the
    /// rows are parsed as they are visited, never held all at once.
    Csv {
        bytes: Vec<u8>,
        start: csv::Position,
    },
}

impl Table {
    /// Visit every data row, in order, as (row number, cells): the plain
    /// reading [`Table::par_runs`] is tested against.
    #[cfg(test)]
    fn each_row(&self, mut f: impl FnMut(u64, &StringRecord)) -> Result<()> {
        match &self.rows {
            Rows::Records(rows) => {
                for (line, cells) in rows {
                    f(*line, cells);
                }
            }
            Rows::Csv { bytes, start } => {
                let mut rdr = csv_reader(std::io::Cursor::new(bytes.as_slice()));
                let bad = |e: csv::Error| {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    Error::input(&self.file, format!("line {line}: cannot parse CSV: {e}"))
                };
                rdr.seek(start.clone()).map_err(bad)?;
                let mut rec = StringRecord::new();
                while rdr.read_record(&mut rec).map_err(bad)? {
                    let line = record_line(bytes, &rec);
                    f(line, &rec);
                }
            }
        }
        Ok(())
    }
}

/// Data rows handed to one task when a table is read in parallel.
const ROWS_PER_CHUNK: usize = 1 << 14;
/// Bytes of CSV text (about) handed to one task when the text has no quotes.
const BYTES_PER_CHUNK: usize = 1 << 21;

impl Table {
    /// At least the number of data rows (CSV: the line breaks after the
    /// header, plus one), counted in parallel.
    fn rows_at_most(&self) -> usize {
        use rayon::prelude::*;
        match &self.rows {
            Rows::Records(rows) => rows.len(),
            Rows::Csv { bytes, start } => {
                let from = (start.byte() as usize).min(bytes.len());
                bytes[from..]
                    .par_chunks(1 << 20)
                    .map(|c| c.iter().filter(|&&b| b == b'\n').count())
                    .sum::<usize>()
                    + 1
            }
        }
    }

    /// Every data row visited in runs spread over rayon's threads: each run
    /// starts from `init(rows it may hold)` and `visit`s its rows in order;
    /// `sink` takes the runs' states in row order. Runs are made a few per
    /// thread at a time and sunk before the next ones start, so only those
    /// few are ever held beside what `sink` keeps.
    ///
    /// CSV text without a quote is cut at line breaks (every one ends a
    /// record there) and each piece is parsed by its own task, knowing the
    /// line it starts on. With quotes a line break may sit inside a cell, so
    /// one reader thread finds the records and hands runs of them on.
    fn par_runs<S: Send>(
        &self,
        init: impl Fn(usize) -> S + Sync,
        visit: impl Fn(&mut S, u64, &StringRecord) + Sync,
        sink: impl FnMut(S) + Send,
    ) -> Result<()> {
        self.par_runs_sized(BYTES_PER_CHUNK, ROWS_PER_CHUNK, init, visit, sink)
    }

    /// [`Table::par_runs`] with pieces of about `piece_bytes` of quote-free
    /// text, else runs of `run_rows` rows.
    fn par_runs_sized<S: Send>(
        &self,
        piece_bytes: usize,
        run_rows: usize,
        init: impl Fn(usize) -> S + Sync,
        visit: impl Fn(&mut S, u64, &StringRecord) + Sync,
        mut sink: impl FnMut(S) + Send,
    ) -> Result<()> {
        use rayon::prelude::*;
        let piece_bytes = piece_bytes.max(1);
        let run_rows = run_rows.max(1);
        let group = 4 * rayon::current_num_threads().max(1);
        let run = |rows: &[(u64, StringRecord)]| {
            let mut s = init(rows.len());
            for (line, cells) in rows {
                visit(&mut s, *line, cells);
            }
            s
        };
        let (bytes, start) = match &self.rows {
            Rows::Records(rows) => {
                for runs in rows.chunks(run_rows * group) {
                    let done: Vec<S> = runs.par_chunks(run_rows).map(run).collect();
                    done.into_iter().for_each(&mut sink);
                }
                return Ok(());
            }
            Rows::Csv { bytes, start } => (bytes, start),
        };
        let bad = |e: csv::Error| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::input(&self.file, format!("line {line}: cannot parse CSV: {e}"))
        };
        let from = (start.byte() as usize).min(bytes.len());
        if !bytes[from..].contains(&b'"') {
            let mut cuts = vec![from];
            let mut at = from;
            while at + piece_bytes < bytes.len() {
                match bytes[at + piece_bytes..].iter().position(|&b| b == b'\n') {
                    Some(i) if at + piece_bytes + i + 1 < bytes.len() => {
                        at += piece_bytes + i + 1;
                        cuts.push(at);
                    }
                    _ => break,
                }
            }
            cuts.push(bytes.len());
            let breaks: Vec<u64> = cuts
                .par_windows(2)
                .map(|w| bytes[w[0]..w[1]].iter().filter(|&&b| b == b'\n').count() as u64)
                .collect();
            let mut line = start.line();
            let pieces: Vec<(usize, usize, u64)> = cuts
                .windows(2)
                .zip(breaks)
                .map(|(w, n)| {
                    let piece = (w[0], w[1], line);
                    line += n;
                    piece
                })
                .collect();
            let parse = |&(a, b, line): &(usize, usize, u64)| -> Result<S> {
                let mut rdr = csv_reader(std::io::Cursor::new(&bytes[..b]));
                let mut pos = csv::Position::new();
                pos.set_byte(a as u64).set_line(line);
                rdr.seek(pos).map_err(bad)?;
                // Rows are at least a few dozen bytes long.
                let mut s = init((b - a) / 48 + 1);
                let mut rec = StringRecord::new();
                while rdr.read_record(&mut rec).map_err(bad)? {
                    let line = record_line(bytes, &rec);
                    visit(&mut s, line, &rec);
                }
                Ok(s)
            };
            // A group's results are handed over (in order, on one thread)
            // while the next group is parsed: at 100M events the hand-over
            // of 11.7M lines left the other core idle.
            let mut groups = pieces.chunks(group);
            return crate::output::overlapped(
                || {
                    groups
                        .next()
                        .map(|some| some.par_iter().map(parse).collect())
                },
                |done: Vec<S>| {
                    done.into_iter().for_each(&mut sink);
                    Ok(())
                },
            );
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(group);
        std::thread::scope(|scope| -> Result<()> {
            let reader = scope.spawn(move || -> Result<()> {
                let mut rdr = csv_reader(std::io::Cursor::new(bytes.as_slice()));
                rdr.seek(start.clone()).map_err(bad)?;
                let mut rec = StringRecord::new();
                loop {
                    let mut rows = Vec::with_capacity(run_rows);
                    while rows.len() < run_rows && rdr.read_record(&mut rec).map_err(bad)? {
                        let line = record_line(bytes, &rec);
                        rows.push((line, std::mem::take(&mut rec)));
                    }
                    let last = rows.len() < run_rows;
                    // The receiver only goes away once every run was taken.
                    if !rows.is_empty() && tx.send(rows).is_err() || last {
                        break;
                    }
                }
                Ok(())
            });
            let mut runs = rx.into_iter().peekable();
            while runs.peek().is_some() {
                let some: Vec<Vec<(u64, StringRecord)>> = runs.by_ref().take(group).collect();
                let done: Vec<S> = some.par_iter().map(|rows| run(rows)).collect();
                done.into_iter().for_each(&mut sink);
            }
            reader.join().expect("the statement reader thread panicked")
        })
    }
}

/// The line a record's first cell is on. The reader places a record where
/// it began looking for it: after a CRLF ending that is at the `\n`, and
/// before any blank lines it skipped; the line breaks from there on count.
fn record_line(bytes: &[u8], rec: &StringRecord) -> u64 {
    let Some(pos) = rec.position() else {
        return 0;
    };
    let from = (pos.byte() as usize).min(bytes.len());
    let breaks = bytes[from..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    pos.line() + breaks as u64
}

fn csv_reader<R: std::io::Read>(r: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(r)
}

/// A cell's text as read (a stray byte-order mark at its start dropped).
fn cell(cells: &StringRecord, i: usize) -> Option<&str> {
    // A byte-order mark starts with 0xEF: only then is it looked for.
    cells.get(i).map(|c| {
        if c.as_bytes().first() == Some(&0xEF) {
            c.trim_start_matches('\u{feff}')
        } else {
            c
        }
    })
}

/// `s.trim()`, without looking at characters when `s` begins and ends with
/// a printable ASCII character (no whitespace to trim), as most cells do.
fn trimmed(s: &str) -> &str {
    let printable = |b: Option<&u8>| b.is_some_and(|&b| (0x21..0x7f).contains(&b));
    let b = s.as_bytes();
    if printable(b.first()) && printable(b.last()) {
        s
    } else {
        s.trim()
    }
}

/// Which fields a header row names, per format; the best fitting format.
enum Detected {
    Found(FormatSpec, HashMap<String, usize>),
    /// Per format: the required field groups it missed.
    Missing(Vec<(String, Vec<Vec<String>>)>),
}

fn detect(maps: &Maps, header: &[String]) -> Detected {
    let mut best: Option<(usize, &FormatSpec, HashMap<String, usize>)> = None;
    let mut missing = Vec::new();
    for f in &maps.formats {
        let mut cols = HashMap::default();
        let mut named = 0;
        for (i, h) in header.iter().enumerate() {
            if let Some(field) = f.aliases.get(&norm(h)) {
                named += 1;
                cols.entry(field.clone()).or_insert(i);
            }
        }
        let miss: Vec<Vec<String>> = f
            .required
            .iter()
            .filter(|g| !g.iter().any(|a| cols.contains_key(a)))
            .cloned()
            .collect();
        if miss.is_empty() {
            if best.as_ref().is_none_or(|(n, _, _)| named > *n) {
                best = Some((named, f, cols));
            }
        } else {
            missing.push((f.name.clone(), miss));
        }
    }
    match best {
        Some((_, f, cols)) => Detected::Found(f.clone(), cols),
        None => Detected::Missing(missing),
    }
}

/// The "no format fits" message: per format, what it missed.
/// Per format: the required field groups missed by the header row closest to
/// fitting it, and that row.
type Missing = BTreeMap<String, (Vec<Vec<String>>, Vec<String>)>;

fn no_format_message(maps: &Maps, what: &str, missing: &Missing) -> String {
    let mut parts = Vec::new();
    for f in &maps.formats {
        let Some((miss, header)) = missing.get(&f.name) else {
            continue;
        };
        let groups: Vec<String> = miss
            .iter()
            .map(|g| {
                g.iter()
                    .map(|field| {
                        let ex = f.examples(field, header);
                        if ex.is_empty() {
                            field.clone()
                        } else {
                            let ex: Vec<String> = ex.iter().map(|h| format!("\"{h}\"")).collect();
                            format!("{field} ({})", ex.join(" / "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" or ")
            })
            .collect();
        parts.push(format!("{} (missing: {})", f.name, groups.join("; ")));
    }
    format!(
        "{what}: no known statement format fits; tried {}. See data/statements/README.md to add header names.",
        parts.join(", ")
    )
}

fn is_parquet(path: &Path) -> bool {
    use std::io::Read;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("parquet" | "pq")) {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| &magic == b"PAR1")
        .unwrap_or(false)
}

fn read_csv(path: &Path, maps: &Maps) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    // simdutf8 checks the file many times faster than the standard library;
    // only a file that fails is checked again for where (the line to report).
    let checked = simdutf8::basic::from_utf8(&bytes).or_else(|_| std::str::from_utf8(&bytes));
    let text = match checked {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            return Err(Error::input(
                path,
                format!(
                    "line {line}: not UTF-8 text (GBK export?): save the statement as UTF-8 CSV"
                ),
            ));
        }
    };
    let skip = if text.starts_with('\u{feff}') { 3 } else { 0 };
    if text[skip..].trim().is_empty() {
        return Err(Error::input(path, "empty file: no header row"));
    }
    // The header (after up to `max_leading_lines` lines of preamble) is
    // found here; the data rows are parsed when visited.
    let found = {
        let mut rdr = csv_reader(&bytes[skip..]);
        let mut header: Option<(FormatSpec, HashMap<String, usize>, Vec<String>)> = None;
        let mut scanned = 0usize;
        let mut missing: Missing = BTreeMap::new();
        let mut rec = StringRecord::new();
        loop {
            let more = rdr.read_record(&mut rec).map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                Error::input(path, format!("line {line}: cannot parse CSV: {e}"))
            })?;
            if !more {
                break;
            }
            let cells: Vec<String> = (0..rec.len())
                .filter_map(|i| cell(&rec, i).map(str::to_string))
                .collect();
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            scanned += 1;
            match detect(maps, &cells) {
                Detected::Found(f, cols) => {
                    header = Some((f, cols, cells));
                    break;
                }
                Detected::Missing(m) => {
                    for (name, miss) in m {
                        let e = missing
                            .entry(name)
                            .or_insert_with(|| (miss.clone(), cells.clone()));
                        if miss.len() < e.0.len() {
                            *e = (miss, cells.clone());
                        }
                    }
                    if scanned >= maps.max_leading_lines {
                        break;
                    }
                }
            }
        }
        header
            .map(|h| (h, rdr.position().clone()))
            .ok_or((scanned, missing))
    };
    let ((format, cols, header), start) = match found {
        Ok(x) => x,
        Err((scanned, missing)) => {
            let what = if scanned <= 1 {
                "header row".to_string()
            } else {
                format!("first {scanned} lines (no header row found)")
            };
            return Err(Error::input(path, no_format_message(maps, &what, &missing)));
        }
    };
    // Positions are relative to the text after the byte-order mark.
    let bytes = if skip > 0 {
        bytes[skip..].to_vec()
    } else {
        bytes
    };
    Ok(Table {
        file: path.display().to_string(),
        format,
        cols,
        header,
        rows: Rows::Csv { bytes, start },
    })
}

fn read_parquet(path: &Path, maps: &Maps) -> Result<Table> {
    let bad =
        |e: polars::error::PolarsError| Error::input(path, format!("cannot read Parquet: {e}"));
    let pl_path = PlRefPath::try_from_path(path).map_err(bad)?;
    let df = LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())
        .map_err(bad)?
        .collect()
        .map_err(bad)?;
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (format, cols) = match detect(maps, &header) {
        Detected::Found(f, c) => (f, c),
        Detected::Missing(m) => {
            let missing: Missing = m
                .into_iter()
                .map(|(f, miss)| (f, (miss, header.clone())))
                .collect();
            return Err(Error::input(
                path,
                no_format_message(maps, "column names", &missing),
            ));
        }
    };
    // Float money / quantities are refused outright (data contract).
    let mut floats = Vec::new();
    for f in money_fields(&format.name)
        .iter()
        .chain(quantity_fields(&format.name))
    {
        if let Some(&i) = cols.get(*f) {
            let c = &df.columns()[i];
            if matches!(c.dtype(), DataType::Float32 | DataType::Float64) {
                floats.push(format!("{} ({})", header[i], c.dtype()));
            }
        }
    }
    if !floats.is_empty() {
        return Err(Error::input(
            path,
            format!(
                "float money/quantity column(s) {}: binary floats cannot hold decimal amounts exactly and are refused, never rounded; write Decimal, integer or string columns",
                floats.join(", ")
            ),
        ));
    }
    let height = df.height();
    let mut columns: Vec<Vec<String>> = Vec::with_capacity(header.len());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let v: Vec<String> = match s.dtype() {
            DataType::Datetime(_, Some(_)) => {
                let x = s
                    .cast(&DataType::Datetime(
                        TimeUnit::Microseconds,
                        Some(PlTimeZone::UTC),
                    ))
                    .and_then(|x| x.cast(&DataType::Int64))
                    .map_err(bad)?;
                let ca = x.i64().map_err(bad)?;
                (0..height)
                    .map(|i| ca.get(i).map(fmt_utc_micros).unwrap_or_default())
                    .collect()
            }
            DataType::Datetime(_, None) => {
                let x = s
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                    .and_then(|x| x.cast(&DataType::Int64))
                    .map_err(bad)?;
                let ca = x.i64().map_err(bad)?;
                (0..height)
                    .map(|i| ca.get(i).map(fmt_naive_micros).unwrap_or_default())
                    .collect()
            }
            _ => {
                let x = s.cast(&DataType::String).map_err(bad)?;
                let ca = x.str().map_err(bad)?;
                (0..height)
                    .map(|i| ca.get(i).unwrap_or("").to_string())
                    .collect()
            }
        };
        columns.push(v);
    }
    let rows = (0..height)
        .map(|r| {
            let mut rec = StringRecord::new();
            for c in &columns {
                rec.push_field(&c[r]);
            }
            (r as u64 + 2, rec)
        })
        .collect();
    Ok(Table {
        file: path.display().to_string(),
        format,
        cols,
        header,
        rows: Rows::Records(rows),
    })
}

/// The statement files of `path`: itself, or a directory's `.csv` / `.parquet`
/// files sorted by name.
fn statement_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::input(path, format!("cannot list directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".")
                .starts_with('.')
        })
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(|e| e.to_ascii_lowercase())
                    .as_deref(),
                Some("csv" | "parquet" | "pq")
            )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::input(
            path,
            "directory holds no .csv or .parquet statement files",
        ));
    }
    Ok(files)
}

/// Read a vendor statement: a CSV or Parquet file, or a directory of them
/// (all read, sorted by name), in any format of `map_dir/headers.toml`.
pub fn read_statement(path: &Path, catalog: &Catalog, map_dir: &Path) -> Result<Statement> {
    read_statement_with(path, catalog, map_dir, false)
}

/// [`read_statement`], the lines kept in the pieces they were read in
/// ([`Statement::pieces`]) instead of moved into one vector.
pub fn read_statement_in_pieces(
    path: &Path,
    catalog: &Catalog,
    map_dir: &Path,
) -> Result<Statement> {
    read_statement_with(path, catalog, map_dir, true)
}

fn read_statement_with(
    path: &Path,
    catalog: &Catalog,
    map_dir: &Path,
    in_pieces: bool,
) -> Result<Statement> {
    let maps = load_maps(map_dir)?;
    let items = ItemIndex::new(catalog);
    let mut st = Statement::default();
    for file in statement_files(path)? {
        let table = if is_parquet(&file) {
            read_parquet(&file, &maps)?
        } else {
            read_csv(&file, &maps)?
        };
        let source = Arc::from(table.file.as_str());
        let mut cx = Cx {
            catalog,
            items: &items,
            maps: &maps,
            st: &mut st,
            file: &table.file,
            source: &source,
        };
        cx.table(&table, in_pieces)?;
    }
    Ok(st)
}

// ---------------------------------------------------------------------------
// Rows → lines

/// One data row of a table.
struct Row<'a> {
    t: &'a Table,
    line: u64,
    cells: &'a StringRecord,
}

impl<'a> Row<'a> {
    fn has(&self, field: &str) -> bool {
        self.t.cols.contains_key(field)
    }
    /// The cell text, trimmed; `None` when the column is absent or the cell null.
    fn text(&self, field: &str) -> Option<&'a str> {
        let i = *self.t.cols.get(field)?;
        let v = trimmed(cell(self.cells, i)?);
        (!is_null_trimmed(v)).then_some(v)
    }
    /// The header text of a field's column (the field name when absent).
    fn col(&self, field: &str) -> String {
        self.t
            .cols
            .get(field)
            .and_then(|&i| self.t.header.get(i))
            .cloned()
            .unwrap_or_else(|| field.to_string())
    }
    /// The header of the first present column among `fields`.
    fn col_of(&self, fields: &[&str]) -> String {
        fields
            .iter()
            .find(|f| self.has(f))
            .map(|f| self.col(f))
            .unwrap_or_else(|| fields.join("/"))
    }
}

/// `text` in lower case, copied as it stands when it has no upper case
/// (canonical statements' charge types, on every line).
fn lowercase(text: &str) -> CompactString {
    if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) {
        text.into()
    } else {
        text.to_lowercase().into()
    }
}

/// Vendor texts → normalised texts (nulls dropped).
fn texts(v: &[Option<&str>]) -> Vec<String> {
    v.iter().flatten().map(|s| norm(s)).collect()
}

fn join_sku(parts: &[Option<&str>]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for p in parts.iter().flatten() {
        if !out.contains(p) {
            out.push(p);
        }
    }
    out.join(" / ")
}

/// `(currency, unit)` of a price-unit text such as `USD/次`, `元/分钟`, `CNY per minute`.
fn split_price_unit(text: &str) -> (Option<&str>, &str) {
    let t = text.trim();
    if let Some((l, r)) = t.split_once('/') {
        return (Some(l.trim()).filter(|s| !s.is_empty()), r.trim());
    }
    let lower = t.to_lowercase();
    if let Some(i) = lower.find(" per ") {
        if t.is_char_boundary(i) && t.is_char_boundary(i + 5) {
            return (
                Some(t[..i].trim()).filter(|s| !s.is_empty()),
                t[i + 5..].trim(),
            );
        }
    }
    (None, t)
}

/// Add `text` to `notes` unless it is there already (first occurrence kept).
fn add_note(notes: &mut Vec<String>, text: String) {
    if !notes.contains(&text) {
        notes.push(text);
    }
}

/// Reading context: the statement being filled and the current file.
struct Cx<'a> {
    catalog: &'a Catalog,
    items: &'a ItemIndex,
    maps: &'a Maps,
    st: &'a mut Statement,
    file: &'a str,
    /// `file`, shared by every line read from it.
    source: &'a Arc<str>,
}

/// The catalog's metered and subscription item ids, each with its
/// product's billing offset: looked up for every statement line (several
/// times), where the catalog itself is searched item by item.
struct ItemIndex(HashMap<String, i32>);

impl ItemIndex {
    fn new(catalog: &Catalog) -> ItemIndex {
        let mut ids = HashMap::default();
        for p in &catalog.products {
            let offset = catalog::parse_offset(&p.timezone).unwrap_or(DEFAULT_OFFSET);
            // The first product naming an id, as the catalog's own search.
            for id in p.items.iter().map(|i| &i.id) {
                ids.entry(id.clone()).or_insert(offset);
            }
        }
        for p in &catalog.products {
            let offset = catalog::parse_offset(&p.timezone).unwrap_or(DEFAULT_OFFSET);
            for id in p.subscriptions.iter().map(|s| &s.id) {
                ids.entry(id.clone()).or_insert(offset);
            }
        }
        ItemIndex(ids)
    }

    /// Whether `id` is a metered or subscription item of the catalog.
    fn known(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// The billing offset of `id`'s product (the default when unknown).
    fn offset(&self, id: &str) -> i32 {
        self.0.get(id).copied().unwrap_or(DEFAULT_OFFSET)
    }
}

/// Fields of a line being built.
struct Draft {
    line_id: Option<CompactString>,
    account_id: CompactString,
    item: CompactString,
    vendor_sku: CompactString,
    charge_type: CompactString,
    billing_period: CompactString,
    cycle_start: Option<Micros>,
    usage: Option<Decimal>,
    deducted: Option<Decimal>,
    billed: Option<Decimal>,
    unit_price: Option<Decimal>,
    amount: Decimal,
    currency: CompactString,
}

impl Cx<'_> {
    fn problem(&mut self, row: &Row, column: impl Into<String>, value: Option<&str>, reason: &str) {
        self.st.problems.push(StatementProblem {
            file: self.file.to_string(),
            row: row.line,
            column: column.into(),
            value: value.map(str::to_string),
            reason: reason.to_string(),
        });
    }

    fn note(&mut self, text: String) {
        add_note(&mut self.st.notes, text);
    }

    fn push(&mut self, row: &Row, format: &'static str, d: Draft) {
        self.st.lines.push(StatementLine {
            source_file: Arc::clone(self.source),
            source_row: row.line,
            line_id: d.line_id,
            format,
            account_id: d.account_id,
            item: Some(d.item),
            vendor_sku: d.vendor_sku,
            charge_type: d.charge_type,
            billing_period: d.billing_period,
            cycle_start: d.cycle_start,
            usage_quantity: d.usage,
            deducted_quantity: d.deducted,
            billed_quantity: d.billed,
            unit_price: d.unit_price,
            amount: d.amount,
            currency: d.currency,
        });
    }

    /// A decimal cell: `Ok(None)` when null, `Err` (reported) when bad.
    fn dec(
        &mut self,
        row: &Row,
        field: &str,
        kind: DecKind,
    ) -> std::result::Result<Option<Decimal>, ()> {
        let Some(v) = row.text(field) else {
            return Ok(None);
        };
        match parse_decimal(v, kind) {
            Ok(d) => Ok(Some(d)),
            Err(()) => {
                self.problem(row, row.col(field), Some(v), "bad_decimal");
                Err(())
            }
        }
    }

    /// A required money cell: reported as `missing_value` / `bad_decimal`.
    fn required_money(&mut self, row: &Row, field: &str) -> Option<Decimal> {
        match self.dec(row, field, DecKind::Money) {
            Ok(Some(d)) => Some(d),
            Ok(None) => {
                self.problem(row, row.col(field), row.text(field), "missing_value");
                None
            }
            Err(()) => None,
        }
    }

    /// An optional decimal: a bad value is reported and left empty.
    fn opt(&mut self, row: &Row, field: &str, kind: DecKind) -> Option<Decimal> {
        self.dec(row, field, kind).unwrap_or(None)
    }

    fn account(&mut self, row: &Row, fields: &[&str]) -> Option<CompactString> {
        match fields.iter().find_map(|f| row.text(f)) {
            Some(a) => Some(a.into()),
            None => {
                self.problem(row, row.col_of(fields), None, "missing_value");
                None
            }
        }
    }

    /// Item id of a matched rule (or a catalog id), checked against the catalog.
    fn item(
        &mut self,
        row: &Row,
        rule_item: Option<&str>,
        column: &dyn Fn() -> String,
        vendor_sku: &str,
    ) -> Option<CompactString> {
        let Some(item) = rule_item else {
            self.problem(row, column(), Some(vendor_sku), "unmapped_sku");
            return None;
        };
        if !self.items.known(item) {
            self.problem(row, column(), Some(vendor_sku), "unknown_item");
            return None;
        }
        Some(item.into())
    }

    /// Charge type from the first `(field, rule source)` whose text a rule
    /// matches; `usage` when all are empty; reported when text matches none.
    fn charge_type(&mut self, row: &Row, sources: &[(&str, &str)]) -> Option<CompactString> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (field, source) in sources {
            if let Some(v) = row.text(field) {
                if let Some(ct) = self.maps.charge(source, v) {
                    return Some(ct.into());
                }
                seen.push((field, v));
            }
        }
        match seen.first() {
            None => Some("usage".into()),
            Some((field, _)) => {
                let col = row.col(field);
                let v = seen.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(" / ");
                self.problem(row, col, Some(&v), "unknown_charge_type");
                None
            }
        }
    }

    /// Currency from `field`; when the cell is empty and `fallback` is given
    /// (vendor exports), from the price unit or the item's catalog currency.
    fn currency(
        &mut self,
        row: &Row,
        field: &str,
        hint: Option<&str>,
        fallback_item: Option<&str>,
    ) -> Option<CompactString> {
        if let Some(v) = row.text(field) {
            return match self.maps.currency(v) {
                Some(c) => Some(c),
                None => {
                    self.problem(row, row.col(field), Some(v), "unknown_currency");
                    None
                }
            };
        }
        let Some(item) = fallback_item else {
            self.problem(row, row.col(field), None, "missing_value");
            return None;
        };
        if let Some(c) = hint.and_then(|h| self.maps.currency(h)) {
            return Some(c);
        }
        let product = self
            .catalog
            .product_of_item(item)
            .or_else(|| self.catalog.subscription(item).map(|(p, _)| p));
        match product.and_then(|p| self.maps.currency(&p.currency)) {
            Some(c) => {
                let file = self.file;
                self.note(format!(
                    "{file}: rows without a currency are taken in the catalog currency of their product (e.g. {c} for {item})"
                ));
                Some(c)
            }
            None => {
                self.problem(row, row.col(field), None, "missing_value");
                None
            }
        }
    }

    /// Billing-time-zone offset of an item's product.
    fn offset(&self, item: &str) -> i32 {
        self.items.offset(item)
    }

    /// A timestamp cell; a bad one is reported (`bad_timestamp`) and empty.
    fn time(&mut self, row: &Row, field: &str, offset: i32) -> Option<Micros> {
        let v = row.text(field)?;
        let t = parse_time(v, offset);
        if t.is_none() {
            self.problem(row, row.col(field), Some(v), "bad_timestamp");
        }
        t
    }

    /// `YYYY-MM`: from the first period field with a value, else from the
    /// first time field with a value (in the billing time zone).
    fn period(
        &mut self,
        row: &Row,
        period_fields: &[&str],
        time_fields: &[&str],
        offset: i32,
    ) -> Option<CompactString> {
        for f in period_fields {
            if let Some(v) = row.text(f) {
                return match parse_period(v) {
                    Some(p) => Some(p),
                    None => {
                        self.problem(row, row.col(f), Some(v), "bad_period");
                        None
                    }
                };
            }
        }
        for f in time_fields {
            if let Some(v) = row.text(f) {
                return match parse_time(v, offset) {
                    Some(t) => Some(period_of(t, offset).into()),
                    None => {
                        self.problem(row, row.col(f), Some(v), "bad_period");
                        None
                    }
                };
            }
        }
        let mut fields: Vec<&str> = period_fields.to_vec();
        fields.extend_from_slice(time_fields);
        self.problem(row, row.col_of(&fields), None, "bad_period");
        None
    }

    /// Billing unit of a metered item (`None` for subscriptions).
    fn billing_unit(&self, item: &str) -> Option<String> {
        self.catalog.item(item).map(|(_, i)| i.unit.clone())
    }

    /// Factor turning a quantity in `vendor_unit` into the item's billing unit
    /// as (multiply, divide); reported when the unit is unknown or mismatched.
    fn unit_factor(
        &mut self,
        row: &Row,
        column: &str,
        vendor_unit: &str,
        item: &str,
    ) -> Option<(Decimal, Decimal)> {
        let Some(bu) = self.billing_unit(item) else {
            return Some((Decimal::ONE, Decimal::ONE));
        };
        let Some((vdim, vsize)) = self.maps.unit(vendor_unit).cloned() else {
            self.problem(row, column, Some(vendor_unit), "unknown_unit");
            return None;
        };
        let Some((bdim, bsize)) = self.maps.unit(&bu).cloned() else {
            self.problem(
                row,
                column,
                Some(&format!(
                    "{vendor_unit} (billing unit {bu} of {item} is not in units.toml)"
                )),
                "unknown_unit",
            );
            return None;
        };
        if vdim != bdim {
            self.problem(
                row,
                column,
                Some(&format!(
                    "{vendor_unit} ({vdim}) for {item} billed per {bu} ({bdim})"
                )),
                "unit_mismatch",
            );
            return None;
        }
        Some((vsize, bsize))
    }

    /// Read `t`'s rows into lines, appended to `lines` or, `in_pieces`,
    /// to `pieces`.
    fn table(&mut self, t: &Table, in_pieces: bool) -> Result<()> {
        let format = t.format.name.clone();
        let disambiguate = if format == "tencent_bill_details" {
            tencent_repeated_ids(t)?
        } else {
            Default::default()
        };
        // Runs of rows are turned into lines in parallel, each into a
        // statement of its own, appended in row order: what one pass would
        // have made (notes keep their first occurrence). Room for every line
        // at once: doubling would copy the lines read so far and briefly
        // hold them twice.
        if !in_pieces {
            self.st.lines.reserve_exact(t.rows_at_most());
        }
        let mut totals: Vec<u64> = Vec::new();
        let (catalog, items, maps, file, source) =
            (self.catalog, self.items, self.maps, self.file, self.source);
        let st = &mut *self.st;
        t.par_runs(
            // Each run shares a file name of its own among its lines: one
            // shared by every run would have both cores count references
            // to one counter, line after line.
            |rows| {
                let mut st = Statement::default();
                st.lines.reserve_exact(rows);
                (st, Vec::new(), Arc::<str>::from(&**source))
            },
            |(st, totals, source): &mut (Statement, Vec<u64>, Arc<str>), line, cells| {
                let first = (0..cells.len())
                    .filter_map(|i| cell(cells, i))
                    .find(|c| !trimmed(c).is_empty());
                let Some(first) = first else {
                    return;
                };
                let first = norm_cow(first);
                if maps.total_labels.iter().any(|l| *l == *first) {
                    totals.push(line);
                    return;
                }
                let mut cx = Cx {
                    catalog,
                    items,
                    maps,
                    st,
                    file,
                    source,
                };
                let row = Row { t, line, cells };
                match format.as_str() {
                    "tencent_bill_details" => cx.tencent(&row, &disambiguate),
                    "alibaba_billing_details" => cx.alibaba(&row),
                    "focus" => cx.focus(&row),
                    _ => cx.canonical(&row),
                }
            },
            |(part, part_totals, _)| {
                if in_pieces {
                    if !part.lines.is_empty() {
                        st.pieces.push(part.lines);
                    }
                } else {
                    st.lines.extend(part.lines);
                }
                st.problems.extend(part.problems);
                for n in part.notes {
                    add_note(&mut st.notes, n);
                }
                totals.extend(part_totals);
            },
        )?;
        if let Some(first) = totals.first() {
            let file = self.file;
            self.note(format!(
                "{file}: {} totals row(s) skipped (first at line {first})",
                totals.len()
            ));
        }
        let file = self.file;
        match format.as_str() {
            "tencent_bill_details"
                if !(t.cols.contains_key("raw_usage") && t.cols.contains_key("deducted_usage")) =>
            {
                self.note(format!(
                    "{file}: the Tencent bill details carry only settled usage (after package deduction), no raw or deducted measures: package deduction can only be checked against reckon's own ledger"
                ));
            }
            "alibaba_billing_details" if !t.cols.contains_key("deducted_by_resource_plan") => {
                self.note(format!(
                    "{file}: the Alibaba billing details have no \"deducted by resource plan\" column: package deduction can only be checked against reckon's own ledger"
                ));
            }
            "focus" => {
                self.note(format!(
                    "{file}: FOCUS export read; Tencent Cloud and Alibaba Cloud describe their FOCUS exports as previews not meant for reconciliation"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Usage-line quantities in billing units: `(quantity × mul) / div`.
    fn scaled(q: Option<Decimal>, f: Option<(Decimal, Decimal)>) -> Option<Decimal> {
        let q = q?;
        let (mul, div) = f?;
        if mul == div {
            return Some(q);
        }
        q.checked_mul(mul)?.checked_div(div)
    }

    /// A unit price per vendor unit as a price per billing unit:
    /// `price × div / mul` for the quantity factor `(mul, div)`.
    fn per_billing_unit(p: Option<Decimal>, f: Option<(Decimal, Decimal)>) -> Option<Decimal> {
        let p = p?;
        let (mul, div) = f?;
        if mul == div {
            return Some(p);
        }
        p.checked_mul(div)?.checked_div(mul)
    }

    fn tencent(&mut self, row: &Row, repeated: &HashMap<String, bool>) {
        const F: &str = "tencent_bill_details";
        let Some(account) = self.account(row, &["owner_account_id", "payer_account_id"]) else {
            return;
        };
        let product = row.text("product_name");
        let code = row.text("product_code");
        let sub = row.text("sub_product");
        let comp = row.text("component_name");
        let inst = row.text("instance_type");
        let vendor_sku = join_sku(&[product.or(code), sub, comp, inst]);
        let tx = Texts {
            product: texts(&[product, code]),
            sub_product: texts(&[sub]),
            component: texts(&[comp]),
            instance_type: texts(&[inst]),
            sku: Vec::new(),
        };
        let rule = best_rule(&self.maps.tencent, &tx);
        let Some(item) = self.item(
            row,
            rule.map(|r| r.item.as_str()),
            &|| row.col("component_name"),
            &vendor_sku,
        ) else {
            return;
        };
        let Some(ct) = self.charge_type(
            row,
            &[
                ("transaction_type", "transaction_type"),
                ("billing_mode", "billing_mode"),
            ],
        ) else {
            return;
        };
        let ct = self.final_charge_type(ct, rule.and_then(|r| r.charge_type.as_deref()), &item);

        // Amount: total after discount, else original cost, else the payments.
        let amount = if row.text("total_after_discount").is_some() {
            self.required_money(row, "total_after_discount")
        } else if row.text("original_cost").is_some() {
            self.required_money(row, "original_cost")
        } else {
            let pays = ["cash_payment", "voucher_payment", "free_credit_payment"];
            if pays.iter().any(|f| row.text(f).is_some()) {
                let mut sum = Some(Decimal::ZERO);
                for f in pays {
                    match self.dec(row, f, DecKind::Money) {
                        Ok(v) => sum = sum.map(|s| s + v.unwrap_or_default()),
                        Err(()) => sum = None,
                    }
                }
                sum
            } else {
                self.problem(
                    row,
                    row.col_of(&["total_after_discount", "original_cost"]),
                    None,
                    "missing_value",
                );
                None
            }
        };
        let Some(amount) = amount else { return };

        let price_unit = row.text("price_unit");
        let (price_cur, price_per) = price_unit.map(split_price_unit).unwrap_or((None, ""));
        let Some(currency) = self.currency(row, "currency", price_cur, Some(&item)) else {
            return;
        };
        let offset = self.offset(&item);
        let Some(period) = self.period(
            row,
            &["billing_cycle"],
            &["usage_start", "transaction_time"],
            offset,
        ) else {
            return;
        };
        let cycle_start = self.time(row, "usage_start", offset);

        let settled = self.opt(row, "usage", DecKind::Quantity);
        let raw = self.opt(row, "raw_usage", DecKind::Quantity);
        let ded = self.opt(row, "deducted_usage", DecKind::Quantity);
        let list_price = self.opt(row, "list_price", DecKind::Money);
        let (usage, deducted, billed, unit_price) = if ct == "usage" {
            let unit = row
                .text("usage_unit")
                .or((!price_per.is_empty()).then_some(price_per));
            let unit_col = row.col_of(&["usage_unit", "price_unit"]);
            let qf = match unit {
                Some(u) => self.unit_factor(row, &unit_col, u, &item),
                None => Some((Decimal::ONE, Decimal::ONE)),
            };
            let pf = if price_per.is_empty() {
                Some((Decimal::ONE, Decimal::ONE))
            } else if Some(price_per) == unit {
                qf
            } else {
                self.unit_factor(row, &row.col("price_unit"), price_per, &item)
            };
            let billed = Self::scaled(settled, qf)
                .or_else(|| Self::scaled(raw.zip(ded).map(|(r, d)| r - d), qf));
            let usage = Self::scaled(raw, qf);
            let deducted = Self::scaled(ded, qf).or_else(|| usage.zip(billed).map(|(u, b)| u - b));
            let price = Self::per_billing_unit(list_price, pf);
            (usage, deducted, billed, price)
        } else {
            (settled.or(raw), None, settled.or(raw), list_price)
        };

        let line_id = row.text("line_id").map(str::to_string).or_else(|| {
            row.text("transaction_id").map(|id| {
                if repeated.get(id).copied().unwrap_or(false) {
                    let parts: Vec<&str> = [comp, row.text("instance_id"), row.text("usage_start")]
                        .into_iter()
                        .flatten()
                        .collect();
                    format!("{id}/{}", parts.join("/"))
                } else {
                    id.to_string()
                }
            })
        });
        self.push(
            row,
            F,
            Draft {
                line_id: line_id.map(Into::into),
                account_id: account,
                item,
                vendor_sku: vendor_sku.into(),
                charge_type: ct,
                billing_period: period,
                cycle_start,
                usage,
                deducted,
                billed,
                unit_price,
                amount,
                currency,
            },
        );
    }

    /// Subscriptions are never `usage`/`purchase`; a rule's charge type
    /// replaces `usage`/`purchase` (never a refund or an adjustment).
    fn final_charge_type(
        &self,
        ct: CompactString,
        rule_ct: Option<&str>,
        item: &str,
    ) -> CompactString {
        if !matches!(ct.as_str(), "usage" | "purchase") {
            return ct;
        }
        if self.catalog.subscription(item).is_some() {
            return "subscription".into();
        }
        rule_ct.map(CompactString::from).unwrap_or(ct)
    }

    fn alibaba(&mut self, row: &Row) {
        const F: &str = "alibaba_billing_details";
        let Some(account) = self.account(row, &["owner_account_id", "payer_account_id"]) else {
            return;
        };
        let product = row.text("product_name");
        let code = row.text("product_code");
        let detail = row.text("sub_product");
        let bi = row.text("billable_item");
        let bi_code = row.text("billable_item_code");
        let vendor_sku = join_sku(&[product.or(code), bi.or(bi_code)]);
        let tx = Texts {
            product: texts(&[product, code]),
            sub_product: texts(&[detail]),
            component: texts(&[bi, bi_code]),
            instance_type: Vec::new(),
            sku: Vec::new(),
        };
        let rule = best_rule(&self.maps.alibaba, &tx);
        let Some(item) = self.item(
            row,
            rule.map(|r| r.item.as_str()),
            &|| row.col_of(&["billable_item", "billable_item_code"]),
            &vendor_sku,
        ) else {
            return;
        };
        let Some(ct) = self.charge_type(
            row,
            &[
                ("bill_type", "bill_type"),
                ("subscription_type", "subscription_type"),
            ],
        ) else {
            return;
        };
        let ct = self.final_charge_type(ct, rule.and_then(|r| r.charge_type.as_deref()), &item);
        let Some(amount) = self.required_money(row, "pretax_amount") else {
            return;
        };
        let price_unit = row.text("price_unit");
        let (price_cur, price_per) = price_unit.map(split_price_unit).unwrap_or((None, ""));
        let Some(currency) = self.currency(row, "currency", price_cur, Some(&item)) else {
            return;
        };
        let offset = self.offset(&item);
        let Some(period) = self.period(row, &["billing_cycle"], &["usage_start"], offset) else {
            return;
        };
        let cycle_start = self.time(row, "usage_start", offset);

        let qty = self.opt(row, "usage", DecKind::Quantity);
        let list_price = self.opt(row, "list_price", DecKind::Money);
        let (usage, deducted, billed, unit_price) = if ct == "usage" {
            let unit = row
                .text("usage_unit")
                .or((!price_per.is_empty()).then_some(price_per));
            let unit_col = row.col_of(&["usage_unit", "price_unit"]);
            let qf = match unit {
                Some(u) => self.unit_factor(row, &unit_col, u, &item),
                None => Some((Decimal::ONE, Decimal::ONE)),
            };
            let usage = Self::scaled(qty, qf);
            // "Deducted by resource plan": "120 minutes", "120", "-", empty.
            let deducted = if !row.has("deducted_by_resource_plan") {
                None
            } else {
                match row.text("deducted_by_resource_plan") {
                    None => Some(Decimal::ZERO),
                    Some(v) => {
                        let col = row.col("deducted_by_resource_plan");
                        let (num, u) = split_number_unit(v);
                        match parse_decimal(num, DecKind::Quantity) {
                            Err(()) => {
                                self.problem(row, col, Some(v), "bad_decimal");
                                None
                            }
                            Ok(d) => {
                                let f = if u.is_empty() {
                                    qf
                                } else {
                                    self.unit_factor(row, &col, u, &item)
                                };
                                Self::scaled(Some(d), f)
                            }
                        }
                    }
                }
            };
            let billed = usage.zip(deducted).map(|(u, d)| u - d);
            let pf = if price_per.is_empty() {
                Some((Decimal::ONE, Decimal::ONE))
            } else if Some(price_per) == unit {
                qf
            } else {
                self.unit_factor(row, &row.col("price_unit"), price_per, &item)
            };
            let price = Self::per_billing_unit(list_price, pf);
            (usage, deducted, billed, price)
        } else {
            (qty, None, qty, list_price)
        };
        self.push(
            row,
            F,
            Draft {
                line_id: row.text("line_id").map(CompactString::from),
                account_id: account,
                item,
                vendor_sku: vendor_sku.into(),
                charge_type: ct,
                billing_period: period,
                cycle_start,
                usage,
                deducted,
                billed,
                unit_price,
                amount,
                currency,
            },
        );
    }

    fn focus(&mut self, row: &Row) {
        const F: &str = "focus";
        let Some(account) = self.account(row, &["sub_account_id", "billing_account_id"]) else {
            return;
        };
        let sku = row.text("sku_id");
        let sku_price = row.text("sku_price_id");
        let service = row.text("service_name");
        let vendor_sku = join_sku(&[service, sku]);
        let direct = sku.filter(|s| self.items.known(s));
        let rule = if direct.is_some() {
            None
        } else {
            let tx = Texts {
                product: texts(&[service]),
                sku: texts(&[sku, sku_price]),
                ..Default::default()
            };
            best_rule(&self.maps.focus, &tx)
        };
        let Some(item) = self.item(
            row,
            direct.or(rule.map(|r| r.item.as_str())),
            &|| row.col_of(&["sku_id", "service_name"]),
            &vendor_sku,
        ) else {
            return;
        };
        // reckon's own export names its charge type (x_ChargeType): it wins.
        let own = row
            .text("x_charge_type")
            .filter(|c| CHARGE_TYPES.contains(c))
            .map(CompactString::from);
        let ct = match &own {
            Some(c) => c.clone(),
            None => {
                let Some(ct) = self.charge_type(row, &[("charge_category", "charge_category")])
                else {
                    return;
                };
                ct
            }
        };
        let Some(amount) = self.required_money(row, "billed_cost") else {
            return;
        };
        let ct = if own.is_some() {
            ct
        } else {
            let category = row.text("charge_category").map(norm).unwrap_or_default();
            let class = row.text("charge_class").map(norm).unwrap_or_default();
            let frequency = row.text("charge_frequency").map(norm).unwrap_or_default();
            if category == "purchase" && amount < Decimal::ZERO {
                "refund".into()
            } else if category == "purchase" && frequency == "recurring" {
                "subscription".into()
            } else if ct == "usage" && class == "correction" {
                "adjustment".into()
            } else {
                self.final_charge_type(ct, rule.and_then(|r| r.charge_type.as_deref()), &item)
            }
        };
        let Some(currency) = self.currency(row, "billing_currency", None, None) else {
            return;
        };
        let offset = self.offset(&item);
        let Some(period) = self.period(
            row,
            &[],
            &["billing_period_start", "charge_period_start"],
            offset,
        ) else {
            return;
        };
        let cycle_start = self.time(row, "charge_period_start", offset);

        let (qf_field, unit_field) =
            if row.text("pricing_quantity").is_some() || !row.has("consumed_quantity") {
                ("pricing_quantity", "pricing_unit")
            } else {
                ("consumed_quantity", "consumed_unit")
            };
        let qty = self.opt(row, qf_field, DecKind::Quantity);
        let list_price = match row.text("list_unit_price") {
            Some(_) => self.opt(row, "list_unit_price", DecKind::Money),
            None => self.opt(row, "contracted_unit_price", DecKind::Money),
        };
        let status = row
            .text("commitment_discount_status")
            .map(norm)
            .unwrap_or_default();
        let (usage, deducted, billed, unit_price) = if ct == "usage" {
            let f = match row.text(unit_field) {
                Some(u) => self.unit_factor(row, &row.col(unit_field), u, &item),
                None => Some((Decimal::ONE, Decimal::ONE)),
            };
            let q = Self::scaled(qty, f);
            let price = Self::per_billing_unit(list_price, f);
            match status.as_str() {
                "used" => (q, q, Some(Decimal::ZERO), None),
                "unused" => (None, None, None, None),
                _ => (q, Some(Decimal::ZERO), q, price),
            }
        } else {
            (qty, None, qty, list_price)
        };
        let file_name = Path::new(self.file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let line_id = row
            .text("line_id")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{file_name}#{}", row.line));
        self.push(
            row,
            F,
            Draft {
                line_id: Some(line_id.into()),
                account_id: account,
                item,
                vendor_sku: vendor_sku.into(),
                charge_type: ct,
                billing_period: period,
                cycle_start,
                usage,
                deducted,
                billed,
                unit_price,
                amount,
                currency,
            },
        );
    }

    fn canonical(&mut self, row: &Row) {
        const F: &str = "canonical";
        let Some(account) = self.account(row, &["account_id"]) else {
            return;
        };
        let Some(text) = row.text("item") else {
            self.problem(row, row.col("item"), None, "missing_value");
            return;
        };
        let direct = self.items.known(text).then_some(text);
        let rule = if direct.is_some() {
            None
        } else {
            best_rule(
                &self.maps.focus,
                &Texts {
                    sku: texts(&[Some(text)]),
                    ..Default::default()
                },
            )
        };
        let Some(item) = self.item(
            row,
            direct.or(rule.map(|r| r.item.as_str())),
            &|| row.col("item"),
            text,
        ) else {
            return;
        };
        let ct = match row.text("charge_type").map(|c| (c, lowercase(c.trim()))) {
            Some((_, c)) if CHARGE_TYPES.contains(&c.as_str()) => c,
            other => {
                let other = other.map(|(c, _)| c);
                let reason = if other.is_some() {
                    "unknown_charge_type"
                } else {
                    "missing_value"
                };
                self.problem(row, row.col("charge_type"), other, reason);
                return;
            }
        };
        let Some(amount) = self.required_money(row, "amount") else {
            return;
        };
        let Some(currency) = self.currency(row, "currency", None, None) else {
            return;
        };
        let Some(period) = self.period(row, &["billing_period"], &[], DEFAULT_OFFSET) else {
            return;
        };
        let offset = self.offset(&item);
        let cycle_start = self.time(row, "cycle_start", offset);
        let usage = self.opt(row, "usage_quantity", DecKind::Quantity);
        let deducted = self.opt(row, "deducted_quantity", DecKind::Quantity);
        let billed = self.opt(row, "billed_quantity", DecKind::Quantity);
        let unit_price = self.opt(row, "unit_price", DecKind::Money);
        self.push(
            row,
            F,
            Draft {
                line_id: row.text("line_id").map(CompactString::from),
                account_id: account,
                item,
                vendor_sku: text.into(),
                charge_type: ct,
                billing_period: period,
                cycle_start,
                usage,
                deducted,
                billed,
                unit_price,
                amount,
                currency,
            },
        );
    }
}

/// Tencent transaction ids shared by rows of different components, instances
/// or usage windows: those rows' line ids get `/component/instance/start`.
fn tencent_repeated_ids(t: &Table) -> Result<HashMap<String, bool>> {
    let get = |cells: &StringRecord, f: &str| -> String {
        t.cols
            .get(f)
            .and_then(|&i| cell(cells, i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    // (id, key) per row, in parallel runs, then met in row order.
    let mut seen: HashMap<String, (String, bool)> = HashMap::default();
    t.par_runs(
        |_| Vec::new(),
        |ids: &mut Vec<(String, String)>, _, cells| {
            let id = get(cells, "transaction_id");
            if is_null(&id) {
                return;
            }
            let key = format!(
                "{}\u{1}{}\u{1}{}",
                get(cells, "component_name"),
                get(cells, "instance_id"),
                get(cells, "usage_start")
            );
            ids.push((id, key));
        },
        |ids| {
            for (id, key) in ids {
                seen.entry(id)
                    .and_modify(|(k, differs)| {
                        if *k != key {
                            *differs = true;
                        }
                    })
                    .or_insert((key, false));
            }
        },
    )?;
    Ok(seen.into_iter().map(|(id, (_, d))| (id, d)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn normal_text_borrowed_only_when_norm_leaves_it_whole() {
        let mut texts: Vec<String> = [
            "",
            " ",
            "acct-000001",
            "Acct",
            "a b",
            "a  b",
            " a",
            "a ",
            "a\tb",
            "a\u{b}b",
            "\u{1c}x",
            "usage",
            "CNY",
            "元",
            "ｕｓａｇｅ",
            "a\u{3000}b",
            "\u{feff}id",
            "x\u{85}y",
            "total",
            "Total",
            "合计",
            "a-b_c.d/e",
            "~!@#$%^&*()",
            "\u{7f}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every pair of the bytes that matter, at both ends and inside.
        let bytes = [b'a', b'Z', b' ', b'\t', b'\r', b'\x0b', b'\x1f', b'-', b'0'];
        for &x in &bytes {
            for &y in &bytes {
                for s in [vec![x, y], vec![b'q', x, y, b'q'], vec![x, b'q', y]] {
                    texts.push(String::from_utf8(s).unwrap());
                }
            }
        }
        for t in &texts {
            let cow = norm_cow(t);
            assert_eq!(*cow, norm_chars(t), "{t:?}");
            if let std::borrow::Cow::Borrowed(b) = cow {
                assert_eq!(b, t.as_str(), "{t:?}");
            }
        }
        assert!(matches!(
            norm_cow("acct-000001"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(norm_cow("a b"), std::borrow::Cow::Borrowed(_)));
        assert!(matches!(norm_cow("a  b"), std::borrow::Cow::Owned(_)));
    }

    #[test]
    fn period_fast_form_agrees_with_the_general_parse() {
        for year in ["0000", "1899", "1900", "2026", "9999", "12a4"] {
            for month in ["00", "01", "09", "10", "12", "13", "99", "1x"] {
                let t = format!("{year}-{month}");
                assert_eq!(
                    parse_period(&t).as_deref(),
                    parse_period_chars(&t).as_deref(),
                    "{t}"
                );
            }
        }
        assert_eq!(parse_period("2026-10").as_deref(), Some("2026-10"));
        assert_eq!(parse_period(" 2026/10 ").as_deref(), Some("2026-10"));
        assert_eq!(parse_period("2026-13"), None);
    }

    /// A CSV table whose data rows start after its first line.
    fn csv_table(text: &str) -> Table {
        let bytes = text.as_bytes().to_vec();
        let mut rdr = csv_reader(std::io::Cursor::new(bytes.as_slice()));
        rdr.read_record(&mut StringRecord::new()).unwrap();
        let start = rdr.position().clone();
        Table {
            file: "t.csv".into(),
            format: FormatSpec::default(),
            cols: HashMap::default(),
            header: Vec::new(),
            rows: Rows::Csv { bytes, start },
        }
    }

    type Seen = Vec<(u64, Vec<String>)>;

    fn in_runs(t: &Table, piece_bytes: usize, run_rows: usize) -> (Seen, usize) {
        let mut runs = Vec::new();
        t.par_runs_sized(
            piece_bytes,
            run_rows,
            |_| Vec::new(),
            |v: &mut Seen, line, rec| v.push((line, rec.iter().map(str::to_string).collect())),
            |v| runs.push(v),
        )
        .unwrap();
        (runs.concat(), runs.len())
    }

    fn one_by_one(t: &Table) -> Seen {
        let mut v = Vec::new();
        t.each_row(|line, rec| v.push((line, rec.iter().map(str::to_string).collect())))
            .unwrap();
        v
    }

    #[test]
    fn rows_read_in_parallel_pieces_keep_their_order_and_line_numbers() {
        // No quote: the text is cut at line breaks (CRLF and a blank line too).
        let mut text = String::from("a,b\n");
        for i in 0..500 {
            let end = if i % 7 == 0 { "\r\n" } else { "\n" };
            text.push_str(&format!("r{i},{}{end}", "x".repeat(i % 13)));
            if i == 250 {
                text.push('\n');
            }
        }
        let t = csv_table(&text);
        let want = one_by_one(&t);
        assert_eq!(want.len(), 500);
        let lines: Vec<u64> = want.iter().map(|(l, _)| *l).collect();
        let rows: Vec<u64> = (0..500).map(|i| i + if i > 250 { 3 } else { 2 }).collect();
        assert_eq!(
            lines, rows,
            "each row's own line, after CRLF and a blank line too"
        );
        for piece in [1, 7, 64, 1000, 1 << 20] {
            let (got, runs) = in_runs(&t, piece, 3);
            assert_eq!(got, want, "pieces of {piece} bytes");
            assert!(piece > 100 || runs > 50, "{runs} pieces of {piece} bytes");
        }

        // Quotes (a line break inside a cell): one reader, runs of rows.
        let text = "a,b\n\"x\ny\",1\nplain,2\n\"q,\"\"r\"\"\",3\nlast,4\n";
        let t = csv_table(text);
        let want = one_by_one(&t);
        assert_eq!(
            want.iter()
                .map(|(l, c)| (*l, c[0].as_str()))
                .collect::<Vec<_>>(),
            [(2, "x\ny"), (4, "plain"), (5, "q,\"r\""), (6, "last")]
        );
        for run in [1, 2, 3, 100] {
            let (got, runs) = in_runs(&t, 1, run);
            assert_eq!(got, want, "runs of {run} rows");
            assert_eq!(runs, 4usize.div_ceil(run));
        }
    }

    #[test]
    fn decimals() {
        let m = DecKind::Money;
        assert_eq!(parse_decimal("1,234.50", m), Ok(d("1234.50")));
        assert_eq!(parse_decimal("$1,234.50", m), Ok(d("1234.50")));
        assert_eq!(parse_decimal("-$420.00", m), Ok(d("-420")));
        assert_eq!(parse_decimal("¥-3.5", m), Ok(d("-3.5")));
        assert_eq!(parse_decimal("0.06500000", m), Ok(d("0.065")));
        assert_eq!(parse_decimal(".5", m), Ok(d("0.5")));
        assert!(parse_decimal("1e3", m).is_err());
        assert!(parse_decimal("1.5E2", m).is_err());
        assert!(parse_decimal("0.123456789", m).is_err());
        assert!(parse_decimal("1,23.0", m).is_err());
        assert!(parse_decimal("12,5", m).is_err());
        assert!(parse_decimal("abc", m).is_err());
        assert!(parse_decimal("--1", m).is_err());
        assert!(parse_decimal("5.", m).is_err());
        assert_eq!(
            parse_decimal("462.06666666666666666666666667", DecKind::Quantity),
            Ok(d("462.06666666666666666666666667"))
        );
        assert!(parse_decimal("462.066666666666666666666666667", DecKind::Quantity).is_err());
        assert!(parse_decimal("99999999999999999999999999999999", DecKind::Quantity).is_err());
        assert_eq!(
            parse_decimal("0.0333333333333333333333333333", DecKind::Quantity),
            Ok(d("0.0333333333333333333333333333"))
        );
    }

    #[test]
    fn plain_decimals_parse_as_the_general_parse() {
        // Every text the allocation-free path accepts is the decimal (the
        // same mantissa and scale) the general parse makes of it; and it
        // accepts the plain forms of the statements (up to 28 places).
        let mut texts: Vec<String> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = 1 + (next() % 32) as usize;
            let mut t: String = (0..len)
                .map(|_| char::from(b'0' + (next() % 10) as u8))
                .collect();
            if next() % 4 > 0 {
                let at = (next() % (len as u64 + 1)) as usize;
                t.insert(at, '.');
            }
            if next() % 3 == 0 {
                t.insert(0, '-');
            }
            texts.push(t);
        }
        texts.extend(
            [
                "0",
                "-0",
                "0.0",
                "000.500",
                "-",
                ".",
                "-.5",
                "5.",
                "1.2.3",
                "79228162514264337593543950335",
                "79228162514264337593543950336",
            ]
            .map(String::from),
        );
        let mut plain = 0;
        for t in &texts {
            for max in [MONEY_DECIMALS, QUANTITY_DECIMALS] {
                if let Some(d) = plain_decimal(t, max) {
                    plain += 1;
                    let g = general_decimal(t, max).expect(t);
                    assert_eq!((d.mantissa(), d.scale()), (g.mantissa(), g.scale()), "{t}");
                }
            }
        }
        assert!(plain > 10_000, "{plain}");
        for (t, m) in [
            ("5200.1833333333333333333333333", 28),
            ("-420.00", 8),
            ("0.065", 8),
        ] {
            assert!(plain_decimal(t, m).is_some(), "{t}");
        }
    }

    #[test]
    fn periods_and_times() {
        assert_eq!(parse_period("2026-10").as_deref(), Some("2026-10"));
        assert_eq!(parse_period("2026/10").as_deref(), Some("2026-10"));
        assert_eq!(parse_period("202610").as_deref(), Some("2026-10"));
        assert_eq!(parse_period("2026年10月").as_deref(), Some("2026-10"));
        assert_eq!(
            parse_period("2026-10-01 00:00:00").as_deref(),
            Some("2026-10")
        );
        assert_eq!(parse_period("2026-13"), None);
        assert_eq!(parse_period("Oct 2026"), None);
        let cst = 8 * 3600;
        let t = parse_time("2026-10-31T17:30:00Z", cst).unwrap();
        assert_eq!(period_of(t, cst), "2026-11");
        let t = parse_time("2026-11-01 01:30:00", cst).unwrap();
        assert_eq!(t, parse_time("2026-10-31T17:30:00Z", 0).unwrap());
        assert!(parse_time("yesterday", cst).is_none());
    }

    #[test]
    fn currency_codes_as_written_read_as_their_normal_text_does() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/statements");
        let maps = load_maps(&dir).expect("the shipped maps load");
        assert_eq!(maps.codes.len(), catalog::CURRENCIES.len());
        for t in [
            "CNY",
            "USD",
            " USD ",
            "cny",
            "usd",
            "人民币",
            "元",
            "美元",
            "EUR",
            "XYZ",
            "",
        ] {
            assert_eq!(maps.currency(t), maps.currency_of(t), "{t:?}");
        }
        assert_eq!(maps.currency("CNY").as_deref(), Some("CNY"));
        assert_eq!(maps.currency("USD").as_deref(), Some("USD"));
    }

    #[test]
    fn cell_texts_trim_as_str_trim_does() {
        for t in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "\u{3000}1.5\u{3000}",
            "\u{a0}x",
            "x\u{2003}",
            "acct-1",
            "—",
            " － ",
            "--",
            "-",
            "\u{feff}a",
            "é",
            " é ",
        ] {
            assert_eq!(trimmed(t), t.trim(), "{t:?}");
            assert_eq!(
                is_null_trimmed(trimmed(t)),
                matches!(t.trim(), "" | "-" | "--" | "—" | "－"),
                "{t:?}"
            );
        }
        let rec = StringRecord::from(vec!["\u{feff}id", "x"]);
        assert_eq!(
            (cell(&rec, 0), cell(&rec, 1), cell(&rec, 2)),
            (Some("id"), Some("x"), None)
        );
    }

    #[test]
    fn globs_and_norm() {
        assert!(glob("*资源包*", "图片跳舞资源包100次"));
        assert!(glob(
            "*image animate*pack*",
            "image animate resource package"
        ));
        assert!(!glob("*qps*", "calls"));
        assert_eq!(norm(" 图片人脸融合（基础版） "), "图片人脸融合(基础版)");
        assert_eq!(unit_norm("1K_Tokens"), unit_norm("1k tokens"));
        assert_eq!(split_number_unit("120 minutes"), ("120", "minutes"));
        assert_eq!(split_number_unit("1,200分钟"), ("1,200", "分钟"));
        assert_eq!(split_price_unit("USD/次"), (Some("USD"), "次"));
        assert_eq!(split_price_unit("CNY per Minute"), (Some("CNY"), "Minute"));
    }
}
