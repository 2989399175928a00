//! Loading, checking and describing the price catalog.
//!
//! * [`load`] reads every `*.toml` file of a catalog directory (sorted by file
//!   name), attaches user-supplied `[[extra_prices]]` to their items and
//!   fingerprints the files into the catalog version. It validates only the
//!   syntax and shape of the files (serde); the business rules are in
//!   [`check`], which the caller runs.
//! * [`check`] lists every problem of a loaded catalog, one line each.
//! * [`show`] describes one item or subscription item for `reckon catalog show`.
//!
//! The file format is documented in `data/catalog/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Months, NaiveDateTime};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::catalog::{
    self, Catalog, CatalogFile, Cycle, ExtraPrices, Item, Measure, PackageSpec, Postpaid,
    PriceList, Product, SubscriptionItem, Tier, TierMode,
};
use crate::error::{Error, Result};

/// Package kinds the catalog and the `packages` input know.
const PACKAGE_KINDS: &[&str] = &["free", "campaign", "prepaid"];
/// Subscription terms the engine charges.
const TERMS: &[&str] = &["day", "month"];
/// Billing modes (`accounts.billing_mode`) under which an item can be covered
/// by a subscription; `usage` is the default mode and covers nothing.
const COVERING_MODES: &[&str] = &["concurrent", "qps"];
/// The only rounding scope: per task (usage row).
const ROUNDING_SCOPE: &str = "task";
/// Rounding steps are turned into integer micro-units by the reduction.
const MAX_STEP_DECIMALS: u32 = 6;

/// The billing offset used by [`validity_micros`] for calendar arithmetic:
/// both vendors bill in China Standard Time (UTC+08:00).
const VALIDITY_OFFSET_SECONDS: i64 = 8 * 3600;
const MICROS_PER_SECOND: i64 = 1_000_000;

// ---------------------------------------------------------------------------
// Loading

/// Load every `*.toml` file of `dir`, sorted by file name.
///
/// Each file is a [`CatalogFile`]: an optional `[product]` and any number of
/// `[[extra_prices]]`, which are appended to the `price_lists` of the item they
/// name (in any file, before or after the product's own file). The catalog
/// `version` is the hex SHA-256 over the sorted files, each contributing its
/// file name, a NUL byte, its length (u64, little endian) and its bytes.
///
/// # Errors
///
/// [`Error::Catalog`], naming the file where there is one: a missing or
/// unreadable directory, a directory without `.toml` files, an unreadable or
/// non-UTF-8 file, a TOML or schema error (the toml crate's message, with line
/// and column), a number written as a bare TOML integer or float instead of a
/// string, a file with neither a product nor extra prices, and extra prices for
/// an unknown item. Business rules are not checked here: run [`check`] on the
/// result.
pub fn load(dir: &Path) -> Result<Catalog> {
    let files = catalog_files(dir)?;
    let mut hasher = Sha256::new();
    let mut products = Vec::new();
    let mut extras: Vec<(String, ExtraPrices)> = Vec::new();

    for path in &files {
        let name = file_name(path);
        let bytes = fs::read(path)
            .map_err(|e| Error::Catalog(format!("{name}: cannot read {}: {e}", path.display())))?;
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);

        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Error::Catalog(format!("{name}: not UTF-8 text: {e}")))?;
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| Error::Catalog(format!("{name}: {e}")))?;
        refuse_bare_numbers(&name, text)?;
        if file.product.is_none() && file.extra_prices.is_empty() {
            return Err(Error::Catalog(format!(
                "{name}: neither a [product] table nor [[extra_prices]] tables"
            )));
        }
        products.extend(file.product);
        extras.extend(file.extra_prices.into_iter().map(|x| (name.clone(), x)));
    }

    for (name, extra) in extras {
        let item = products
            .iter_mut()
            .flat_map(|p| p.items.iter_mut())
            .find(|i| i.id == extra.item)
            .ok_or_else(|| {
                Error::Catalog(format!(
                    "{name}: [[extra_prices]] for unknown item {:?}",
                    extra.item
                ))
            })?;
        item.price_lists.push(extra.list);
    }

    let version = hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    Ok(Catalog {
        products,
        version,
        files,
        positions: Default::default(),
    })
}

/// The `*.toml` files of `dir`, sorted by file name; at least one.
fn catalog_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| {
        Error::Catalog(format!(
            "cannot read catalog directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            Error::Catalog(format!(
                "cannot list catalog directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = entry.path();
        let is_toml = path.extension().is_some_and(|x| x == "toml");
        // `fs::metadata` follows symbolic links: a linked file counts.
        if is_toml && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::Catalog(format!(
            "catalog directory {} has no .toml file",
            dir.display()
        )));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Every number of the catalog must be a TOML string (`unit_price = "4.8"`):
/// a bare TOML float would pass through binary floating point on its way to a
/// decimal, and mixing forms hides typos. Names every bare number's key path.
fn refuse_bare_numbers(name: &str, text: &str) -> Result<()> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| Error::Catalog(format!("{name}: {e}")))?;
    let mut found = Vec::new();
    for (key, value) in &table {
        bare_numbers(value, key, &mut found);
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::Catalog(format!(
        "{name}: numbers must be written as strings (unit_price = \"4.8\") so they stay exact decimals: {}",
        found.join(", ")
    )))
}

fn bare_numbers(value: &toml::Value, path: &str, found: &mut Vec<String>) {
    match value {
        toml::Value::Integer(n) => found.push(format!("{path} = {n}")),
        toml::Value::Float(x) => found.push(format!("{path} = {x}")),
        toml::Value::Table(table) => {
            for (key, v) in table {
                bare_numbers(v, &format!("{path}.{key}"), found);
            }
        }
        toml::Value::Array(values) => {
            for (i, v) in values.iter().enumerate() {
                bare_numbers(v, &format!("{path}[{i}]"), found);
            }
        }
        toml::Value::String(_) | toml::Value::Boolean(_) | toml::Value::Datetime(_) => {}
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

// ---------------------------------------------------------------------------
// Validity

/// A package validity: `Ny` (years), `Nmo` (months) or `Nd` (days), N >= 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    Years(u32),
    Months(u32),
    Days(u32),
}

fn parse_validity(text: &str) -> Option<Validity> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: u32 = digits.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "y" => Some(Validity::Years(n)),
        "mo" => Some(Validity::Months(n)),
        "d" => Some(Validity::Days(n)),
        _ => None,
    }
}

/// The instant (microseconds since the Unix epoch) at which a package valid for
/// `validity` (`1y`, `Nmo`, `Nd`) from `from_micros` expires (exclusive), or
/// `None` for an unknown validity or an out-of-range date.
///
/// Years and months are calendar steps on the local wall-clock time in UTC+08:00,
/// the vendors' billing zone, computed with chrono on the naive local date: the
/// same local time N months later, clamped to the end of a shorter month
/// (Jan 31 + `1mo` = Feb 28 or 29; Feb 29 + `1y` = Feb 28). Days are N × 24 h,
/// which in a fixed offset is the same local time N days later. (The Tencent
/// console shows the end of the local day as the expiry; the pipeline uses the
/// exact anniversary, as the `packages` input states `expires_at` explicitly.)
pub fn validity_micros(validity: &str, from_micros: i64) -> Option<i64> {
    let add_months = |months: u32| -> Option<i64> {
        let offset = VALIDITY_OFFSET_SECONDS * MICROS_PER_SECOND;
        let local: NaiveDateTime =
            DateTime::from_timestamp_micros(from_micros.checked_add(offset)?)?.naive_utc();
        let later = local.checked_add_months(Months::new(months))?;
        later.and_utc().timestamp_micros().checked_sub(offset)
    };
    match parse_validity(validity)? {
        Validity::Years(n) => add_months(n.checked_mul(12)?),
        Validity::Months(n) => add_months(n),
        Validity::Days(n) => {
            let span = Duration::days(i64::from(n)).num_microseconds()?;
            from_micros.checked_add(span)
        }
    }
}

// ---------------------------------------------------------------------------
// Checking

/// `reckon catalog check`: every problem found, one line each (empty = valid).
///
/// Checks ids (no duplicates across files, items and subscriptions share one
/// namespace), currencies, time zones, every tier list (starts at 0, ascending,
/// contiguous, only the last open-ended, no negative price), price-list keys,
/// packages (kind, size, price, validity), rounding, unit sizes, postpaid items
/// without a price, subscription terms and that every number has a source.
pub fn check(catalog: &Catalog) -> Vec<String> {
    let mut problems = Vec::new();
    check_ids(catalog, &mut problems);
    for product in &catalog.products {
        check_product(product, &mut problems);
        for item in &product.items {
            check_item(item, &mut problems);
        }
        for sub in &product.subscriptions {
            check_subscription(sub, &mut problems);
        }
    }
    problems
}

/// Duplicate product ids, and duplicate ids among items and subscription items
/// (one namespace: `catalog show` and usage rows look ids up by name alone).
fn check_ids(catalog: &Catalog, problems: &mut Vec<String>) {
    let mut products: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &catalog.products {
        *products.entry(p.id.as_str()).or_default() += 1;
        for i in &p.items {
            ids.entry(i.id.as_str())
                .or_default()
                .push(format!("item of product {}", p.id));
        }
        for s in &p.subscriptions {
            ids.entry(s.id.as_str())
                .or_default()
                .push(format!("subscription item of product {}", p.id));
        }
    }
    for (id, n) in products {
        if n > 1 {
            problems.push(format!("product {id}: defined {n} times"));
        }
    }
    for (id, places) in ids {
        if id.trim().is_empty() {
            problems.push(format!("an empty id ({})", places.join(", ")));
        } else if places.len() > 1 {
            problems.push(format!("duplicate id {id}: {}", places.join(", ")));
        }
    }
}

fn check_product(p: &Product, problems: &mut Vec<String>) {
    let ctx = format!("product {}", p.id);
    if p.id.trim().is_empty() {
        problems.push(format!("product {:?}: empty id", p.name));
    }
    check_currency(&ctx, &p.currency, problems);
    if catalog::parse_offset(&p.timezone).is_err() {
        problems.push(format!(
            "{ctx}: timezone {:?} is not a fixed offset like +08:00",
            p.timezone
        ));
    }
    if p.guide.trim().is_empty() {
        problems.push(format!("{ctx}: no guide named"));
    }
}

fn check_currency(ctx: &str, currency: &str, problems: &mut Vec<String>) {
    if catalog::minor_units(currency).is_none() {
        let known: Vec<&str> = catalog::CURRENCIES.iter().map(|(c, _)| *c).collect();
        problems.push(format!(
            "{ctx}: unknown currency {currency:?} (known: {})",
            known.join(", ")
        ));
    }
}

fn check_source(ctx: &str, source: &str, problems: &mut Vec<String>) {
    if source.trim().is_empty() {
        problems.push(format!("{ctx}: no source (name the guide and table)"));
    }
}

fn check_item(item: &Item, problems: &mut Vec<String>) {
    let ctx = format!("item {}", item.id);
    check_source(&ctx, &item.source, problems);
    if item.unit_size <= Decimal::ZERO {
        problems.push(format!(
            "{ctx}: unit_size {} must be positive (measure units per billing unit)",
            item.unit_size
        ));
    }
    if let Some(r) = &item.rounding {
        if r.step <= Decimal::ZERO {
            problems.push(format!("{ctx}: rounding step {} must be positive", r.step));
        } else if r.step.normalize().scale() > MAX_STEP_DECIMALS {
            problems.push(format!(
                "{ctx}: rounding step {} has more than {MAX_STEP_DECIMALS} decimal places",
                r.step
            ));
        }
        if r.scope != ROUNDING_SCOPE {
            problems.push(format!(
                "{ctx}: rounding scope {:?} is not supported (only \"{ROUNDING_SCOPE}\")",
                r.scope
            ));
        }
        check_source(&format!("{ctx}: rounding"), &r.source, problems);
    }
    for mode in &item.covered_by_modes {
        if !COVERING_MODES.contains(&mode.as_str()) {
            problems.push(format!(
                "{ctx}: covered_by_modes names unknown billing mode {mode:?} (known: {})",
                COVERING_MODES.join(", ")
            ));
        }
    }

    let priced_postpaid = matches!(item.postpaid, Postpaid::Auto | Postpaid::OptIn);
    // Script-to-video (measure output_seconds) ships without prices on purpose:
    // video-editing prices come from the user, and usage without one is
    // reported as `no_price`.
    if priced_postpaid && item.price_lists.is_empty() && item.measure != Measure::OutputSeconds {
        problems.push(format!(
            "{ctx}: postpaid {} but no price list",
            postpaid_name(item.postpaid)
        ));
    }

    let mut keys: BTreeMap<(Option<&str>, Option<&str>), usize> = BTreeMap::new();
    for (n, list) in item.price_lists.iter().enumerate() {
        let list_ctx = format!("{ctx}: price list {} ({})", n + 1, list_key(list));
        if let Some(c) = &list.currency {
            check_currency(&list_ctx, c, problems);
        }
        check_tiers(&list_ctx, &list.tiers, problems);
        *keys
            .entry((list.region.as_deref(), list.resolution.as_deref()))
            .or_default() += 1;
    }
    for ((region, resolution), n) in keys {
        if n > 1 {
            problems.push(format!(
                "{ctx}: {n} price lists for {} (ambiguous)",
                key_text(region, resolution)
            ));
        }
    }

    let mut specs: BTreeMap<(&str, Option<Decimal>), usize> = BTreeMap::new();
    for (n, pkg) in item.packages.iter().enumerate() {
        let pkg_ctx = format!("{ctx}: package {} ({})", n + 1, pkg.kind);
        check_package(&pkg_ctx, pkg, problems);
        *specs
            .entry((pkg.kind.as_str(), pkg.size.map(|s| s.normalize())))
            .or_default() += 1;
    }
    for ((kind, size), n) in specs {
        if n > 1 {
            let size = size.map_or_else(|| "no size".to_string(), |s| format!("size {s}"));
            problems.push(format!(
                "{ctx}: {n} {kind} packages of {size} (ambiguous list price)"
            ));
        }
    }
}

fn check_package(ctx: &str, pkg: &PackageSpec, problems: &mut Vec<String>) {
    if !PACKAGE_KINDS.contains(&pkg.kind.as_str()) {
        problems.push(format!(
            "{ctx}: unknown package kind {:?} (known: {})",
            pkg.kind,
            PACKAGE_KINDS.join(", ")
        ));
    }
    match pkg.size {
        Some(size) if size <= Decimal::ZERO => {
            problems.push(format!("{ctx}: size {size} must be positive"));
        }
        None if pkg.kind != "free" => {
            problems.push(format!(
                "{ctx}: no size (only free packages may leave the size to the account)"
            ));
        }
        _ => {}
    }
    match pkg.price {
        Some(price) if price < Decimal::ZERO => {
            problems.push(format!("{ctx}: negative price {price}"));
        }
        None if pkg.kind == "prepaid" => {
            problems.push(format!("{ctx}: prepaid package without a price"));
        }
        _ => {}
    }
    if parse_validity(&pkg.validity).is_none() {
        problems.push(format!(
            "{ctx}: validity {:?} is not one of 1y, Nmo, Nd",
            pkg.validity
        ));
    }
    check_source(ctx, &pkg.source, problems);
}

/// A tier list: from 0, ascending, contiguous (`to` of one tier = `from` of the
/// next), only the last open-ended, no negative bound or price.
fn check_tiers(ctx: &str, tiers: &[Tier], problems: &mut Vec<String>) {
    let Some(first) = tiers.first() else {
        problems.push(format!("{ctx}: no tiers"));
        return;
    };
    if !first.from.is_zero() {
        problems.push(format!("{ctx}: tiers start at {}, not at 0", first.from));
    }
    for (n, tier) in tiers.iter().enumerate() {
        let tier_ctx = format!("{ctx}: tier {}", n + 1);
        if tier.from < Decimal::ZERO {
            problems.push(format!("{tier_ctx}: negative start {}", tier.from));
        }
        if tier.unit_price < Decimal::ZERO {
            problems.push(format!("{tier_ctx}: negative price {}", tier.unit_price));
        }
        if let Some(to) = tier.to {
            if to <= tier.from {
                problems.push(format!(
                    "{tier_ctx}: ends at {to}, not after its start {}",
                    tier.from
                ));
            }
        }
        check_source(&tier_ctx, &tier.source, problems);
    }
    for (n, pair) in tiers.windows(2).enumerate() {
        let (prev, next) = (&pair[0], &pair[1]);
        let (a, b) = (n + 1, n + 2);
        if next.from <= prev.from {
            problems.push(format!(
                "{ctx}: tiers not ascending: tier {b} starts at {} after tier {a} at {}",
                next.from, prev.from
            ));
            continue;
        }
        match prev.to {
            None => problems.push(format!(
                "{ctx}: tier {a} is open-ended but is not the last tier"
            )),
            Some(to) if next.from < to => problems.push(format!(
                "{ctx}: tiers overlap: tier {b} starts at {} before tier {a} ends at {to}",
                next.from
            )),
            Some(to) if next.from > to => problems.push(format!(
                "{ctx}: gap between tier {a} (ends at {to}) and tier {b} (starts at {})",
                next.from
            )),
            Some(_) => {}
        }
    }
    if let Some(to) = tiers.last().and_then(|t| t.to) {
        problems.push(format!(
            "{ctx}: the last tier ends at {to}, so quantities from {to} on have no price (leave out its `to`)"
        ));
    }
}

fn check_subscription(sub: &SubscriptionItem, problems: &mut Vec<String>) {
    let ctx = format!("subscription {}", sub.id);
    check_source(&ctx, &sub.source, problems);
    if sub.terms.is_empty() {
        problems.push(format!("{ctx}: no terms"));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for term in &sub.terms {
        if !TERMS.contains(&term.term.as_str()) {
            problems.push(format!(
                "{ctx}: term {:?} is not one of {}",
                term.term,
                TERMS.join(", ")
            ));
        }
        *seen.entry(term.term.as_str()).or_default() += 1;
        check_tiers(&format!("{ctx}: term {}", term.term), &term.tiers, problems);
    }
    for (term, n) in seen {
        if n > 1 {
            problems.push(format!("{ctx}: term {term} priced {n} times"));
        }
    }
    if let Some(max) = sub.max_quantity {
        if max <= Decimal::ZERO {
            problems.push(format!("{ctx}: max_quantity {max} must be positive"));
        }
    }
}

// ---------------------------------------------------------------------------
// Describing

/// `reckon catalog show ITEM`: a readable description of one item or
/// subscription item, with the source of every number; `None` if the catalog
/// has no such id.
pub fn show(catalog: &Catalog, id: &str) -> Option<String> {
    if let Some((product, item)) = catalog.item(id) {
        return Some(show_item(product, item));
    }
    catalog
        .subscription(id)
        .map(|(product, sub)| show_subscription(product, sub))
}

fn show_item(p: &Product, item: &Item) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<11} {value}");
    };
    let measure_units = measure_units(item.measure);
    field("product", product_line(p));
    field("guide", p.guide.clone());
    field("currency", p.currency.clone());
    field("time zone", p.timezone.clone());
    field(
        "unit",
        format!("{} = {} {measure_units}", item.unit, item.unit_size),
    );
    field(
        "measure",
        format!(
            "{}: {}",
            measure_name(item.measure),
            measure_text(item.measure)
        ),
    );
    field(
        "cycle",
        format!(
            "{}: tiers and rounding apply per {} (billing time zone {})",
            cycle_name(item.cycle),
            cycle_name(item.cycle),
            p.timezone
        ),
    );
    field(
        "rounding",
        match &item.rounding {
            Some(r) => format!(
                "each {} rounded up to a multiple of {} {measure_units}\n{:14}source: {}",
                r.scope, r.step, "", r.source
            ),
            None if item.unit_size == Decimal::ONE => "none".into(),
            None => format!(
                "none (exact {measure_units} / {}: fractional {}s are kept)",
                item.unit_size, item.unit
            ),
        },
    );
    field(
        "postpaid",
        format!(
            "{}: {}",
            postpaid_name(item.postpaid),
            postpaid_text(item.postpaid)
        ),
    );
    if item.free_when_preview {
        field("preview", "preview-only tasks are free".into());
    }
    if item.public_beta {
        field("public beta", "rated at zero, still reported".into());
    }
    if !item.covered_by_modes.is_empty() {
        field(
            "covered",
            format!(
                "by a subscription in billing mode {} (no packages or postpaid then)",
                item.covered_by_modes.join(", ")
            ),
        );
    }
    field("source", item.source.clone());

    let mut text = format!("item {}: {}\n{out}", item.id, item.name);
    if item.price_lists.is_empty() {
        let why = match item.postpaid {
            Postpaid::None => "package-only item",
            _ => "usage without a user-supplied price ([[extra_prices]]) is reported as no_price",
        };
        let _ = writeln!(text, "  price lists: none ({why})");
    }
    for (n, list) in item.price_lists.iter().enumerate() {
        let currency = list.currency.as_deref().unwrap_or(&p.currency);
        let _ = writeln!(
            text,
            "  price list {}: {}, {currency}, {} tiers, per {}",
            n + 1,
            list_key(list),
            tier_mode_name(list.tier_mode),
            item.unit
        );
        text.push_str(&tier_table(&list.tiers, "unit price"));
    }
    if item.packages.is_empty() {
        text.push_str("  packages: none\n");
    } else {
        let _ = writeln!(text, "  packages (size in {}s):", item.unit);
        let mut rows = vec![row(["kind", "size", "price", "validity", "source"])];
        for pkg in &item.packages {
            rows.push(vec![
                pkg.kind.clone(),
                pkg.size
                    .map_or_else(|| "per account".into(), |s| s.to_string()),
                pkg.price.map_or_else(|| "-".into(), |x| x.to_string()),
                pkg.validity.clone(),
                pkg.source.clone(),
            ]);
        }
        text.push_str(&table(&rows));
    }
    text
}

fn show_subscription(p: &Product, sub: &SubscriptionItem) -> String {
    let mut text = format!("subscription item {}: {}\n", sub.id, sub.name);
    let _ = writeln!(text, "  {:<11} {}", "product", product_line(p));
    let _ = writeln!(text, "  {:<11} {}", "guide", p.guide);
    let _ = writeln!(text, "  {:<11} {}", "currency", p.currency);
    let _ = writeln!(text, "  {:<11} {}", "unit", sub.unit);
    if let Some(max) = sub.max_quantity {
        let _ = writeln!(text, "  {:<11} {max} per account", "at most");
    }
    let _ = writeln!(text, "  {:<11} {}", "source", sub.source);
    for term in &sub.terms {
        let _ = writeln!(
            text,
            "  term {}: price per {} per {}, volume tiers over the quantity bought",
            term.term, sub.unit, term.term
        );
        text.push_str(&tier_table(&term.tiers, "unit price"));
    }
    text
}

fn product_line(p: &Product) -> String {
    format!("{} ({}), vendor {}", p.id, p.name, p.vendor)
}

fn tier_table(tiers: &[Tier], price_header: &str) -> String {
    let mut rows = vec![row(["from", "to", price_header, "source"])];
    for t in tiers {
        rows.push(vec![
            t.from.to_string(),
            t.to.map_or_else(|| "-".into(), |x| x.to_string()),
            t.unit_price.to_string(),
            t.source.clone(),
        ]);
    }
    table(&rows)
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(ToString::to_string).collect()
}

/// Rows as aligned columns, indented by four spaces; the last column (the
/// source, possibly non-ASCII) is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        out.push_str("    ");
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push('\n');
    }
    out
}

fn list_key(list: &PriceList) -> String {
    key_text(list.region.as_deref(), list.resolution.as_deref())
}

fn key_text(region: Option<&str>, resolution: Option<&str>) -> String {
    format!(
        "{}, {}",
        region.map_or_else(|| "any region".into(), |r| format!("region {r}")),
        resolution.map_or_else(|| "any resolution".into(), |r| format!("resolution {r}"))
    )
}

fn measure_name(m: Measure) -> &'static str {
    match m {
        Measure::Count => "count",
        Measure::Quantity => "quantity",
        Measure::InputPlusOutputSeconds => "input_plus_output_seconds",
        Measure::InputSeconds => "input_seconds",
        Measure::Tokens => "tokens",
        Measure::OutputSeconds => "output_seconds",
    }
}

fn measure_text(m: Measure) -> &'static str {
    match m {
        Measure::Count => "one per successful event (or its quantity when > 1)",
        Measure::Quantity => {
            "the usage row's quantity (seconds of processed media for minute units)"
        }
        Measure::InputPlusOutputSeconds => "input_seconds + output_seconds of each task",
        Measure::InputSeconds => "input_seconds of each task",
        Measure::Tokens => "the usage row's quantity, in tokens",
        Measure::OutputSeconds => "output_seconds of each task",
    }
}

/// What one measure unit is called, for the `unit` and `rounding` lines.
fn measure_units(m: Measure) -> &'static str {
    match m {
        Measure::Count => "event(s)",
        Measure::Quantity => "quantity units",
        Measure::InputPlusOutputSeconds | Measure::InputSeconds | Measure::OutputSeconds => {
            "seconds"
        }
        Measure::Tokens => "tokens",
    }
}

fn cycle_name(c: Cycle) -> &'static str {
    match c {
        Cycle::Hour => "hour",
        Cycle::Day => "day",
        Cycle::Month => "month",
    }
}

fn postpaid_name(p: Postpaid) -> &'static str {
    match p {
        Postpaid::Auto => "auto",
        Postpaid::OptIn => "opt_in",
        Postpaid::None => "none",
    }
}

fn postpaid_text(p: Postpaid) -> &'static str {
    match p {
        Postpaid::Auto => "switches to postpaid by itself once packages are used up",
        Postpaid::OptIn => {
            "postpaid only for accounts that enabled it; otherwise usage beyond the packages is an anomaly"
        }
        Postpaid::None => "no postpaid price: packages only",
    }
}

fn tier_mode_name(m: TierMode) -> &'static str {
    match m {
        TierMode::Volume => "volume",
        TierMode::Graduated => "graduated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validities_parse() {
        assert_eq!(parse_validity("1y"), Some(Validity::Years(1)));
        assert_eq!(parse_validity("1mo"), Some(Validity::Months(1)));
        assert_eq!(parse_validity("30d"), Some(Validity::Days(30)));
        for bad in ["", "y", "0y", "1", "1m", "1 y", "-1d", "1yr", "1Y"] {
            assert_eq!(parse_validity(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn months_clamp_to_the_end_of_a_shorter_month() {
        // 2026-01-31T12:00:00+08:00 = 2026-01-31T04:00:00Z
        let from = 1_769_832_000 * MICROS_PER_SECOND;
        // 2026-02-28T12:00:00+08:00 = 2026-02-28T04:00:00Z
        let to = 1_772_251_200 * MICROS_PER_SECOND;
        assert_eq!(validity_micros("1mo", from), Some(to));
    }
}
