//! Shared test helpers: the shipped catalog, and small builders for packages,
//! buckets and account inputs. All numbers are decimals parsed from text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use reckon::catalog::Catalog;
use reckon::engine::{self, AccountInput, AccountResult, Context};
use reckon::model::*;
use reckon::period::Period;
use reckon::policy::Policy;
use rust_decimal::Decimal;

pub const CST: i32 = 8 * 3600;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn catalog() -> &'static Catalog {
    static CAT: OnceLock<Catalog> = OnceLock::new();
    CAT.get_or_init(|| {
        reckon::run::load_catalog(&root().join("data/catalog")).expect("shipped catalog loads")
    })
}

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// An instant from RFC 3339 text.
pub fn t(s: &str) -> Micros {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

pub fn oct() -> Period {
    Period::parse("2026-10", CST).unwrap()
}

#[allow(clippy::too_many_arguments)]
pub fn pkg(
    id: &str,
    account: &str,
    item: &str,
    kind: &str,
    size: &str,
    remaining: &str,
    from: &str,
    until: &str,
) -> Package {
    Package {
        package_id: id.into(),
        account_id: account.into(),
        item: item.into(),
        kind: PackageKind::parse(kind).unwrap(),
        size: d(size),
        remaining: d(remaining),
        remaining_measure: None,
        effective_at: t(from),
        expires_at: t(until),
        price: None,
        currency: None,
        refunded_at: None,
        file: "test".into(),
        row: 0,
    }
}

/// A free package active for the whole of October.
pub fn free(id: &str, account: &str, item: &str, size: &str, remaining: &str) -> Package {
    pkg(
        id,
        account,
        item,
        "free",
        size,
        remaining,
        "2026-01-01T00:00:00+08:00",
        "2027-01-01T00:00:00+08:00",
    )
}

/// A bucket of `quantity` measure units at `start` (an aligned bucket of one second).
pub fn bucket(
    account: &str,
    item: &str,
    cycle_start: &str,
    start: &str,
    quantity: &str,
    events: u64,
) -> Bucket {
    let s = t(start);
    Bucket {
        account_id: account.into(),
        item: item.into(),
        region: None,
        resolution: None,
        cycle_start: t(cycle_start),
        start: s,
        end: s + 1_000_000,
        quantity: d(quantity),
        events,
        first_time: s,
        first_event_id: format!("{account}-{item}-{start}"),
        first_row: None,
    }
}

/// A monthly-cycle bucket in October.
pub fn oct_bucket(account: &str, item: &str, start: &str, quantity: &str, events: u64) -> Bucket {
    bucket(
        account,
        item,
        "2026-10-01T00:00:00+08:00",
        start,
        quantity,
        events,
    )
}

pub fn setting(account: &str, product: &str, postpaid: Option<bool>) -> AccountSetting {
    AccountSetting {
        account_id: account.into(),
        product: product.into(),
        postpaid_enabled: postpaid,
        billing_mode: "usage".into(),
        suspended_from: None,
        suspended_until: None,
    }
}

pub fn run_with(input: AccountInput, policy: &Policy) -> AccountResult {
    let ctx = Context {
        catalog: catalog(),
        period: oct(),
        policy,
    };
    engine::run_account(&ctx, input)
}

pub fn run(input: AccountInput) -> AccountResult {
    run_with(input, &Policy::default())
}

pub fn input(account: &str) -> AccountInput {
    AccountInput {
        account_id: account.into(),
        ..Default::default()
    }
}

pub fn usage_lines<'a>(r: &'a AccountResult, item: &str) -> Vec<&'a InvoiceLine> {
    r.lines
        .iter()
        .filter(|l| l.charge_type == "usage" && l.item == item)
        .collect()
}

pub fn only_usage<'a>(r: &'a AccountResult, item: &str) -> &'a InvoiceLine {
    let v = usage_lines(r, item);
    assert_eq!(v.len(), 1, "one usage line for {item}: {:#?}", r.lines);
    v[0]
}

pub fn ledger<'a>(r: &'a AccountResult, id: &str) -> &'a LedgerRow {
    r.ledger
        .iter()
        .find(|l| l.package.package_id == id)
        .expect("ledger row")
}

/// Write CSV text files into a directory.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}
