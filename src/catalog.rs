//! The price catalog: every billing item of the vendor guides as data.
//!
//! A catalog is a directory of TOML files (`data/catalog/*.toml`), one per
//! product. Every price carries `source`, the guide (and table) it comes from.
//! See `data/catalog/README.md` for the format.

use polars::prelude::PlHashMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What one usage row measures before per-task rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// One per event (calls, pictures); `quantity` is ignored unless present and > 1.
    Count,
    /// The usage row's `quantity` column (e.g. seconds of processed video).
    Quantity,
    /// `input_seconds + output_seconds` (IMS image-text matching).
    InputPlusOutputSeconds,
    /// `input_seconds` only (IMS highlight extraction).
    InputSeconds,
    /// The usage row's `quantity` as tokens (IMS text generation).
    Tokens,
    /// The usage row's `output_seconds` (video editing renders).
    OutputSeconds,
}

/// How the cycle's postpaid quantity turns into money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TierMode {
    /// The whole cycle quantity is billed at the unit price of the tier it reaches.
    #[default]
    Volume,
    /// Each slice of the quantity is billed at its own tier's price.
    Graduated,
}

/// Settlement cycle: tiers and rounding apply per cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cycle {
    Hour,
    Day,
    Month,
}

/// Whether usage falls back to postpaid once packages are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Postpaid {
    /// Switches to postpaid automatically.
    Auto,
    /// Only when the account has enabled it (`accounts.postpaid_enabled`).
    OptIn,
    /// No postpaid price at all (package-only items such as material quota).
    None,
}

/// One volume or graduated tier, in billing units: `from <= q < to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub from: Decimal,
    /// Exclusive upper bound; absent on the last tier.
    #[serde(default)]
    pub to: Option<Decimal>,
    pub unit_price: Decimal,
    /// Where the price comes from (guide file and table).
    pub source: String,
}

/// A price list of an item, optionally for one region and/or output resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    /// Price region (`cn-mainland`, `ap-southeast-1`, ...); `None` = any region.
    #[serde(default)]
    pub region: Option<String>,
    /// Output resolution (`720p`, `1080p`, ...); `None` = any resolution.
    #[serde(default)]
    pub resolution: Option<String>,
    /// Overrides the product currency (regional lists abroad bill in USD).
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub tier_mode: TierMode,
    pub tiers: Vec<Tier>,
}

/// A resource package on sale (or granted) for an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    /// `free`, `campaign` or `prepaid`.
    pub kind: String,
    /// Size in billing units; absent where set per account (video tags free package).
    #[serde(default)]
    pub size: Option<Decimal>,
    /// List price (prepaid only).
    #[serde(default)]
    pub price: Option<Decimal>,
    /// Validity: `1y`, `1mo`.
    pub validity: String,
    pub source: String,
}

/// Per-task rounding: each task's measure is rounded up to a multiple of `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounding {
    /// In measure units (1000 tokens, 60 seconds).
    pub step: Decimal,
    /// Only `task` is supported: rounding applies per usage row.
    pub scope: String,
    pub source: String,
}

/// A metered, package-deductible billing item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Billing item id as in the data contract (`tencent.image_animate`).
    pub id: String,
    pub name: String,
    /// Billing unit name (`call`, `picture`, `minute`, `1k_tokens`).
    pub unit: String,
    pub measure: Measure,
    /// Measure units per billing unit (60 seconds per minute, 1000 tokens).
    #[serde(default = "one")]
    pub unit_size: Decimal,
    #[serde(default)]
    pub rounding: Option<Rounding>,
    pub cycle: Cycle,
    pub postpaid: Postpaid,
    /// Preview-only tasks (`preview_only = true`) are free.
    #[serde(default)]
    pub free_when_preview: bool,
    /// Rated at zero but still reported (public beta).
    #[serde(default)]
    pub public_beta: bool,
    /// Billing modes under which this item is covered by a subscription
    /// instead of packages + postpaid (`concurrent`, `qps`).
    #[serde(default)]
    pub covered_by_modes: Vec<String>,
    #[serde(default)]
    pub price_lists: Vec<PriceList>,
    #[serde(default)]
    pub packages: Vec<PackageSpec>,
    pub source: String,
}

/// A subscription term price (`day` or `month`), tiered by quantity bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermPrice {
    /// `day` or `month`.
    pub term: String,
    /// Volume tiers over the quantity bought (a single tier from 0 when flat).
    pub tiers: Vec<Tier>,
}

/// Concurrency / QPS purchases, charged per unit per day or month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionItem {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub terms: Vec<TermPrice>,
    /// Most units one account may hold (Image Animate: 50).
    #[serde(default)]
    pub max_quantity: Option<Decimal>,
    pub source: String,
}

/// One product of one vendor: a TOML file of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// `tencent.image_animate`, `tencent.face_fusion`, `alibaba.ims`, ...
    pub id: String,
    pub vendor: String,
    pub name: String,
    pub currency: String,
    /// Billing time zone as a fixed offset (`+08:00`).
    pub timezone: String,
    /// The guide file in `shared/seeds/` this product comes from.
    pub guide: String,
    /// Region assumed for usage rows with no `region` (where items have regional prices).
    #[serde(default)]
    pub default_region: Option<String>,
    #[serde(default)]
    pub items: Vec<Item>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionItem>,
}

/// Extra price lists supplied by the user for an existing item (for example the
/// video-editing prices script-to-video renders need). Any catalog file may hold
/// `[[extra_prices]]` tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraPrices {
    pub item: String,
    #[serde(flatten)]
    pub list: PriceList,
}

/// The on-disk shape of one catalog file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub product: Option<Product>,
    #[serde(default)]
    pub extra_prices: Vec<ExtraPrices>,
}

/// Currencies the catalog may name, with their minor-unit digits.
pub const CURRENCIES: &[(&str, u32)] = &[("USD", 2), ("CNY", 2)];

fn one() -> Decimal {
    Decimal::ONE
}

/// The loaded catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub products: Vec<Product>,
    /// Hex SHA-256 over the catalog files (sorted by name): the catalog version.
    pub version: String,
    pub files: Vec<PathBuf>,
    /// Where each metered item is, found on the first look-up (leave it
    /// `Default::default()`).
    pub positions: ItemPositions,
}

/// Each metered item id's (product, item) position in a catalog, found on
/// first use: [`Catalog::item`] is looked up for every bucket and invoice
/// line of a month (tens of millions at 100M events), where a search
/// compares the id with every item's. A position is checked against the id
/// it is used for, and the search decides when it does not hold or the id
/// has none (products changed after the first look-up). A loaded catalog
/// never names an id twice, so the position is the search's answer.
#[derive(Debug, Clone, Default)]
pub struct ItemPositions(std::sync::OnceLock<PlHashMap<String, (usize, usize)>>);

impl Catalog {
    /// Load every `*.toml` of `dir` (sorted by file name).
    pub fn load(dir: &Path) -> Result<Catalog> {
        crate::catalog_load::load(dir)
    }

    pub fn item(&self, id: &str) -> Option<(&Product, &Item)> {
        let positions = self.positions.0.get_or_init(|| {
            let mut m = PlHashMap::default();
            for (pk, p) in self.products.iter().enumerate() {
                for (ik, i) in p.items.iter().enumerate() {
                    m.entry(i.id.clone()).or_insert((pk, ik));
                }
            }
            m
        });
        let at = positions.get(id).and_then(|&(pk, ik)| {
            let p = self.products.get(pk)?;
            let i = p.items.get(ik)?;
            (i.id == id).then_some((p, i))
        });
        at.or_else(|| self.item_searched(id))
    }

    /// [`Catalog::item`] by comparing `id` with every item's.
    fn item_searched(&self, id: &str) -> Option<(&Product, &Item)> {
        self.products
            .iter()
            .find_map(|p| p.items.iter().find(|i| i.id == id).map(|i| (p, i)))
    }

    pub fn subscription(&self, id: &str) -> Option<(&Product, &SubscriptionItem)> {
        self.products
            .iter()
            .find_map(|p| p.subscriptions.iter().find(|s| s.id == id).map(|s| (p, s)))
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// The product an item belongs to.
    pub fn product_of_item(&self, item: &str) -> Option<&Product> {
        self.item(item).map(|(p, _)| p)
    }

    /// All metered item ids, sorted.
    pub fn item_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .products
            .iter()
            .flat_map(|p| p.items.iter().map(|i| i.id.clone()))
            .collect();
        v.sort();
        v
    }

    /// All subscription item ids, sorted.
    pub fn subscription_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .products
            .iter()
            .flat_map(|p| p.subscriptions.iter().map(|i| i.id.clone()))
            .collect();
        v.sort();
        v
    }

    /// Map item id -> product id.
    pub fn item_products(&self) -> BTreeMap<String, String> {
        self.products
            .iter()
            .flat_map(|p| p.items.iter().map(move |i| (i.id.clone(), p.id.clone())))
            .collect()
    }
}

/// Minor-unit digits of a currency, if known.
pub fn minor_units(currency: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, d)| *d)
}

/// Parse a fixed offset like `+08:00` into seconds east of UTC.
pub fn parse_offset(tz: &str) -> Result<i32> {
    let bad = || {
        Error::Catalog(format!(
            "time zone {tz:?} is not a fixed offset like +08:00"
        ))
    };
    let (sign, rest) = match tz.as_bytes().first() {
        Some(b'+') => (1, &tz[1..]),
        Some(b'-') => (-1, &tz[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Pick the price list for a region / resolution. A key the item prices by
/// (some list names it) must match exactly; a key no list of the item names is
/// ignored. Among fitting lists the most specific wins. `None`: no price.
pub fn price_list<'a>(
    item: &'a Item,
    region: Option<&str>,
    resolution: Option<&str>,
) -> Option<&'a PriceList> {
    let by_region = item.price_lists.iter().any(|pl| pl.region.is_some());
    let by_resolution = item.price_lists.iter().any(|pl| pl.resolution.is_some());
    let fits = |keyed: bool, want: Option<&str>, have: &Option<String>| -> Option<u8> {
        if !keyed {
            return Some(0);
        }
        match (want, have) {
            (Some(w), Some(h)) if w == h => Some(1),
            (None, None) => Some(0),
            _ => None,
        }
    };
    item.price_lists
        .iter()
        .filter_map(|pl| {
            let a = fits(by_region, region, &pl.region)?;
            let b = fits(by_resolution, resolution, &pl.resolution)?;
            Some((a + b, pl))
        })
        .max_by_key(|(score, _)| *score)
        .map(|(_, pl)| pl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: Option<(&Product, &Item)>, b: Option<(&Product, &Item)>) -> bool {
        match (a, b) {
            (Some((p, i)), Some((q, j))) => std::ptr::eq(p, q) && std::ptr::eq(i, j),
            (None, None) => true,
            _ => false,
        }
    }

    #[test]
    fn items_found_by_position_are_the_items_searched_for() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/catalog");
        let cat = Catalog::load(&dir).expect("the shipped catalog loads");
        let mut ids: Vec<String> = cat.item_ids();
        assert!(ids.len() > 10);
        ids.extend(["tencent.nope".to_string(), String::new()]);
        for id in &ids {
            assert!(same(cat.item(id), cat.item_searched(id)), "{id}");
        }
        // Positions found before the products changed are checked, not trusted.
        let mut moved = cat.clone();
        assert!(moved.item(&ids[0]).is_some());
        moved.products.reverse();
        for p in &mut moved.products {
            p.items.reverse();
        }
        moved.products[0].items.pop();
        for id in &ids {
            assert!(same(moved.item(id), moved.item_searched(id)), "{id}");
        }
    }
}
