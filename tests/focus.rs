//! reckon's invoice as a FOCUS 1.0 dataset: a small month with package-covered
//! and postpaid usage, purchases, refunds (this period's and last period's),
//! subscriptions and two currencies, written to `focus.parquet` /
//! `focus.csv` and checked column by column. When `RECKON_FOCUS_VALIDATOR`
//! names an executable (`ci/focus-validator.sh` prints one), it must accept
//! the CSV.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use common::*;
use polars::prelude::*;
use reckon::catalog::{Catalog, TierMode};
use reckon::engine::{self, AccountInput, Context};
use reckon::focus::{self, CUSTOM_COLUMNS, FOCUS_COLUMNS};
use reckon::model::Subscription;
use reckon::policy::Policy;
use reckon::run::{self, Month};
use rust_decimal::Decimal;

const IA: &str = "tencent.image_animate";
const IA_CONC: &str = "tencent.image_animate.concurrency";
const ST: &str = "tencent.style_transfer";
const FF: &str = "tencent.face_fusion.image_basic";
const FF_QPS: &str = "tencent.face_fusion.image_basic.qps";
const TG: &str = "alibaba.ims.text_generation";
const ITM: &str = "alibaba.ims.image_text.common";

fn prepaid(
    id: &str,
    account: &str,
    item: &str,
    size: &str,
    price: &str,
    from: &str,
    until: &str,
) -> reckon::model::Package {
    let mut p = pkg(id, account, item, "prepaid", size, size, from, until);
    p.price = Some(d(price));
    p
}

fn subscription(
    id: &str,
    account: &str,
    item: &str,
    quantity: &str,
    term: &str,
    from: &str,
    until: &str,
) -> Subscription {
    Subscription {
        subscription_id: id.into(),
        account_id: account.into(),
        item: item.into(),
        quantity: d(quantity),
        term: term.into(),
        starts_at: t(from),
        ends_at: t(until),
    }
}

fn inputs() -> Vec<AccountInput> {
    // Free (5 left) + a package bought in October, then postpaid.
    let mut a = input("acct-a");
    a.packages.push(free("free-a", "acct-a", IA, "5", "5"));
    a.packages.push(prepaid(
        "pkg-a",
        "acct-a",
        IA,
        "100",
        "420",
        "2026-10-05T10:00:00+08:00",
        "2027-10-05T10:00:00+08:00",
    ));
    a.settings.push(setting("acct-a", IA, Some(true)));
    a.buckets.push(oct_bucket(
        "acct-a",
        IA,
        "2026-10-06T00:00:00+08:00",
        "1100",
        1100,
    ));
    // Style transfer: a package bought in September covers part of the month.
    a.packages.push(prepaid(
        "pkg-a-st",
        "acct-a",
        ST,
        "1000",
        "75",
        "2026-09-10T10:00:00+08:00",
        "2027-09-10T10:00:00+08:00",
    ));
    a.settings.push(setting("acct-a", ST, Some(true)));
    a.buckets.push(oct_bucket(
        "acct-a",
        ST,
        "2026-10-07T00:00:00+08:00",
        "1250",
        1250,
    ));

    // Refunds: one bought and refunded in October, one bought in September and
    // refunded in October (a correction of September's invoice).
    let mut b = input("acct-b");
    let mut p = prepaid(
        "pkg-b-oct",
        "acct-b",
        IA,
        "100",
        "420",
        "2026-10-06T10:00:00+08:00",
        "2027-10-06T10:00:00+08:00",
    );
    p.refunded_at = Some(t("2026-10-09T10:00:00+08:00"));
    b.packages.push(p);
    let mut p = prepaid(
        "pkg-b-sep",
        "acct-b",
        IA,
        "1000",
        "4000",
        "2026-09-28T10:00:00+08:00",
        "2027-09-28T10:00:00+08:00",
    );
    p.refunded_at = Some(t("2026-10-02T10:00:00+08:00"));
    b.packages.push(p);

    // Concurrent billing mode: the month's subscription covers the calls.
    let mut c = input("acct-c");
    let mut s = setting("acct-c", IA, None);
    s.billing_mode = "concurrent".into();
    c.settings.push(s);
    c.subscriptions.push(subscription(
        "sub-c",
        "acct-c",
        IA_CONC,
        "2",
        "month",
        "2026-10-01T00:00:00+08:00",
        "2026-11-01T00:00:00+08:00",
    ));
    c.buckets.push(oct_bucket(
        "acct-c",
        IA,
        "2026-10-03T00:00:00+08:00",
        "60",
        60,
    ));
    // A QPS day-term subscription for Face Fusion, and volume-tier postpaid usage.
    c.subscriptions.push(subscription(
        "sub-c-qps",
        "acct-c",
        FF_QPS,
        "3",
        "day",
        "2026-10-20T00:00:00+08:00",
        "2026-10-25T00:00:00+08:00",
    ));
    c.packages
        .push(free("free-c-ff", "acct-c", FF, "1000", "10"));
    c.buckets.push(oct_bucket(
        "acct-c",
        FF,
        "2026-10-04T00:00:00+08:00",
        "10010",
        10010,
    ));

    // Alibaba, CNY, hourly cycles: tokens and minutes.
    let mut e = input("acct-e");
    e.buckets.push(bucket(
        "acct-e",
        TG,
        "2026-10-03T10:00:00+08:00",
        "2026-10-03T10:15:00+08:00",
        "37000",
        5,
    ));
    e.buckets.push(bucket(
        "acct-e",
        TG,
        "2026-10-03T11:00:00+08:00",
        "2026-10-03T11:30:00+08:00",
        "2000",
        2,
    ));
    e.buckets.push(bucket(
        "acct-e",
        ITM,
        "2026-10-04T09:00:00+08:00",
        "2026-10-04T09:10:00+08:00",
        "180",
        3,
    ));
    vec![a, b, c, e]
}

fn month_with(cat: &Catalog) -> Month {
    let policy = Policy::default();
    let ctx = Context {
        catalog: cat,
        period: oct(),
        policy: &policy,
    };
    let mut m = Month::default();
    for input in inputs() {
        let r = engine::run_account(&ctx, input);
        m.lines.push(r.lines);
        m.ledger.extend(r.ledger);
        m.exceptions.extend(r.exceptions.into_iter().map(|e| e.row));
    }
    m.invoices = run::invoices(&m.lines);
    m
}

fn month() -> Month {
    month_with(catalog())
}

/// The CSV as rows of column -> text (empty = null).
fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn dec(row: &BTreeMap<String, String>, col: &str) -> Option<Decimal> {
    let s = &row[col];
    (!s.is_empty()).then(|| Decimal::from_str(s).unwrap_or_else(|e| panic!("{col} = {s:?}: {e}")))
}

fn text<'a>(row: &'a BTreeMap<String, String>, col: &str) -> Option<&'a str> {
    let s = row[col].as_str();
    (!s.is_empty()).then_some(s)
}

/// Write the FOCUS files the way `reckon run` does: into a staging directory
/// that is committed into place.
fn write(m: &Month, cat: &Catalog) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2026-10");
    let staging = reckon::output::Staging::begin(&out).unwrap();
    focus::write_focus(&staging, m, cat, &oct()).unwrap();
    staging.commit().unwrap();
    for f in ["focus.csv", "focus.parquet"] {
        std::fs::rename(out.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn focus_export_has_every_column_and_exact_numbers() {
    let m = month();
    assert!(m.exceptions.is_empty(), "{:#?}", m.exceptions);
    let kinds: BTreeSet<&str> = m.lines.iter().map(|l| l.charge_type.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["purchase", "refund", "subscription", "usage"])
    );
    let dir = write(&m, catalog());
    let (header, rows) = read_csv(&dir.path().join("focus.csv"));

    // Columns: FOCUS 1.0's, in its order, then reckon's x_ columns.
    let want: Vec<&str> = FOCUS_COLUMNS
        .iter()
        .chain(CUSTOM_COLUMNS)
        .copied()
        .collect();
    assert_eq!(header, want);
    assert_eq!(FOCUS_COLUMNS.len(), 43);

    // Every invoice line is there.
    let lines: BTreeSet<usize> = rows
        .iter()
        .map(|r| r["x_InvoiceLine"].parse().unwrap())
        .collect();
    assert_eq!(lines, (1..=m.lines.len()).collect());

    for (i, r) in rows.iter().enumerate() {
        let ctx = format!("row {}: {r:#?}", i + 2);
        // ListCost = ListUnitPrice × PricingQuantity, ContractedCost likewise, exactly.
        let q = dec(r, "PricingQuantity").expect(&ctx);
        let lp = dec(r, "ListUnitPrice").expect(&ctx);
        assert_eq!(lp * q, dec(r, "ListCost").unwrap(), "{ctx}");
        let cp = dec(r, "ContractedUnitPrice").expect(&ctx);
        assert_eq!(cp * q, dec(r, "ContractedCost").unwrap(), "{ctx}");
        assert!(lp >= Decimal::ZERO && cp >= Decimal::ZERO, "{ctx}");
        for c in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
            assert!(dec(r, c).is_some(), "{c} null: {ctx}");
        }
        // Mandatory, never null.
        for c in [
            "BillingAccountId",
            "BillingCurrency",
            "BillingPeriodStart",
            "BillingPeriodEnd",
            "ChargeCategory",
            "ChargeDescription",
            "ChargeFrequency",
            "ChargePeriodStart",
            "ChargePeriodEnd",
            "InvoiceIssuerName",
            "PricingCategory",
            "PricingUnit",
            "ProviderName",
            "PublisherName",
            "ServiceCategory",
            "ServiceName",
            "SkuId",
            "SkuPriceId",
            "SubAccountId",
        ] {
            assert!(text(r, c).is_some(), "{c} null: {ctx}");
        }
        // Date/times: UTC with Z; the charge period inside the billing period.
        for c in [
            "BillingPeriodStart",
            "BillingPeriodEnd",
            "ChargePeriodStart",
            "ChargePeriodEnd",
        ] {
            let v = &r[c];
            assert!(v.len() == 20 && v.ends_with('Z'), "{c} = {v}: {ctx}");
        }
        assert_eq!(r["BillingPeriodStart"], "2026-09-30T16:00:00Z");
        assert_eq!(r["BillingPeriodEnd"], "2026-10-31T16:00:00Z");
        assert!(r["ChargePeriodStart"] < r["ChargePeriodEnd"], "{ctx}");
        assert!(
            r["ChargePeriodStart"] >= r["BillingPeriodStart"]
                && r["ChargePeriodEnd"] <= r["BillingPeriodEnd"],
            "{ctx}"
        );
        assert!(["USD", "CNY"].contains(&&*r["BillingCurrency"]), "{ctx}");
        assert_eq!(r["ServiceCategory"], "AI and Machine Learning");
        assert_eq!(r["ProviderName"], r["PublisherName"]);
        assert_eq!(r["ProviderName"], r["InvoiceIssuerName"]);
        let vendor = if r["SkuId"].starts_with("tencent.") {
            "Tencent Cloud"
        } else {
            "Alibaba Cloud"
        };
        assert_eq!(r["ProviderName"], vendor, "{ctx}");
        assert_eq!(r["BillingAccountId"], r["SubAccountId"]);

        // Categories and the rules tying columns together.
        let cat = &*r["ChargeCategory"];
        let freq = &*r["ChargeFrequency"];
        match cat {
            "Usage" => {
                assert_eq!(freq, "Usage-Based", "{ctx}");
                assert!(
                    dec(r, "ConsumedQuantity").is_some() && text(r, "ConsumedUnit").is_some(),
                    "{ctx}"
                );
            }
            "Purchase" => {
                assert!(["One-Time", "Recurring"].contains(&freq), "{ctx}");
                assert!(
                    text(r, "ConsumedQuantity").is_none() && text(r, "ConsumedUnit").is_none(),
                    "{ctx}"
                );
            }
            other => panic!("unexpected ChargeCategory {other}: {ctx}"),
        }
        assert!(
            text(r, "ChargeClass").is_none() || r["ChargeClass"] == "Correction",
            "{ctx}"
        );
        let cd = text(r, "CommitmentDiscountId");
        for c in ["CommitmentDiscountCategory", "CommitmentDiscountType"] {
            assert_eq!(text(r, c).is_some(), cd.is_some(), "{c}: {ctx}");
        }
        match text(r, "CommitmentDiscountStatus") {
            Some(s) => {
                assert_eq!(s, "Used", "{ctx}");
                assert_eq!(cat, "Usage", "status only on usage: {ctx}");
                assert!(cd.is_some(), "{ctx}");
                assert_eq!(
                    dec(r, "BilledCost"),
                    Some(Decimal::ZERO),
                    "covered usage is not billed: {ctx}"
                );
            }
            None => assert!(cd.is_none() || cat != "Usage", "{ctx}"),
        }
        if cd.is_some() {
            assert_eq!(r["CommitmentDiscountCategory"], "Usage");
        }
        let want_pricing = if cd.is_some() {
            "Committed"
        } else {
            "Standard"
        };
        assert_eq!(r["PricingCategory"], want_pricing, "{ctx}");
        // Postpaid usage and subscriptions are billed as they are effective.
        if cd.is_none() {
            assert_eq!(dec(r, "EffectiveCost"), dec(r, "BilledCost"), "{ctx}");
        }
    }

    // BilledCost adds up to the invoices, per account and currency and per currency.
    let mut billed: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in &rows {
        *billed
            .entry((r["BillingAccountId"].clone(), r["BillingCurrency"].clone()))
            .or_default() += dec(r, "BilledCost").unwrap();
    }
    let invoiced: BTreeMap<(String, String), Decimal> = m
        .invoices
        .iter()
        .map(|i| ((i.account_id.clone(), i.currency.clone()), i.total))
        .collect();
    assert_eq!(billed, invoiced);
    let mut per_currency: BTreeMap<String, Decimal> = BTreeMap::new();
    for ((_, c), v) in &billed {
        *per_currency.entry(c.clone()).or_default() += v;
    }
    assert_eq!(per_currency, run::totals(&m.invoices));
    assert!(per_currency.contains_key("USD") && per_currency.contains_key("CNY"));

    // The worked examples.
    let find =
        |pred: &dyn Fn(&BTreeMap<String, String>) -> bool| -> Vec<&BTreeMap<String, String>> {
            rows.iter().filter(|r| pred(r)).collect()
        };
    // acct-a: 5 free + 100 from pkg-a + 995 postpaid at 4.2 (the 100-1,000 tier).
    let covered = find(&|r| {
        r["BillingAccountId"] == "acct-a"
            && r["SkuId"] == IA
            && r["ChargeCategory"] == "Usage"
            && !r["CommitmentDiscountId"].is_empty()
    });
    let ids: Vec<&str> = covered
        .iter()
        .map(|r| r["CommitmentDiscountId"].as_str())
        .collect();
    assert_eq!(ids, ["free-a", "pkg-a"]);
    assert_eq!(dec(covered[0], "PricingQuantity"), Some(d("5")));
    assert_eq!(
        dec(covered[0], "EffectiveCost"),
        Some(d("0")),
        "free packages cost nothing"
    );
    assert_eq!(dec(covered[1], "PricingQuantity"), Some(d("100")));
    assert_eq!(
        dec(covered[1], "EffectiveCost"),
        Some(d("420")),
        "amortised: 100 of 100 calls at 420"
    );
    assert_eq!(covered[1]["CommitmentDiscountType"], "Prepaid Package");
    let postpaid = find(&|r| {
        r["BillingAccountId"] == "acct-a"
            && r["SkuId"] == IA
            && r["CommitmentDiscountId"].is_empty()
            && r["ChargeCategory"] == "Usage"
    });
    assert_eq!(postpaid.len(), 1);
    assert_eq!(dec(postpaid[0], "PricingQuantity"), Some(d("995")));
    assert_eq!(dec(postpaid[0], "ListUnitPrice"), Some(d("4.2")));
    assert_eq!(dec(postpaid[0], "BilledCost"), Some(d("4179")));
    assert_eq!(postpaid[0]["PricingUnit"], "Calls");
    assert_eq!(
        postpaid[0]["ChargePeriodStart"], "2026-09-30T16:00:00Z",
        "monthly cycle"
    );
    // Style transfer from a September package: amortised at 75 / 1000 a picture.
    let st = find(&|r| r["SkuId"] == ST && r["CommitmentDiscountId"] == "pkg-a-st");
    assert_eq!(dec(st[0], "PricingQuantity"), Some(d("1000")));
    assert_eq!(dec(st[0], "EffectiveCost"), Some(d("75")));
    // Purchases and refunds.
    let purchase =
        find(&|r| r["x_ChargeType"] == "purchase" && r["CommitmentDiscountId"] == "pkg-a");
    assert_eq!(purchase.len(), 1);
    let p = purchase[0];
    assert_eq!(
        (p["ChargeCategory"].as_str(), p["ChargeFrequency"].as_str()),
        ("Purchase", "One-Time")
    );
    assert_eq!(dec(p, "BilledCost"), Some(d("420")));
    assert_eq!(
        dec(p, "EffectiveCost"),
        Some(d("0")),
        "pays for later usage"
    );
    assert!(text(p, "CommitmentDiscountStatus").is_none());
    let refunds = find(&|r| r["x_ChargeType"] == "refund");
    assert_eq!(refunds.len(), 2);
    for r in &refunds {
        assert_eq!(r["ChargeCategory"], "Purchase");
        assert_eq!(dec(r, "PricingQuantity"), Some(d("-1")));
        assert!(dec(r, "BilledCost").unwrap() < Decimal::ZERO);
        assert_eq!(dec(r, "ListCost"), dec(r, "BilledCost"));
    }
    let class = |id: &str| {
        refunds
            .iter()
            .find(|r| r["CommitmentDiscountId"] == id)
            .unwrap()["ChargeClass"]
            .clone()
    };
    assert_eq!(class("pkg-b-oct"), "", "bought and refunded in October");
    assert_eq!(
        class("pkg-b-sep"),
        "Correction",
        "corrects September's invoice"
    );
    // Subscriptions: recurring purchases; covered calls cost nothing here.
    let subs = find(&|r| r["x_ChargeType"] == "subscription");
    assert_eq!(subs.len(), 2);
    let conc = subs.iter().find(|r| r["SkuId"] == IA_CONC).unwrap();
    assert_eq!(conc["ChargeFrequency"], "Recurring");
    assert_eq!(dec(conc, "BilledCost"), Some(d("14400")));
    assert_eq!(conc["PricingUnit"], "Concurrent Tasks-Months");
    let qps = subs.iter().find(|r| r["SkuId"] == FF_QPS).unwrap();
    assert_eq!(qps["PricingUnit"], "QPS-Days");
    assert_eq!(dec(qps, "PricingQuantity"), Some(d("15")), "3 QPS × 5 days");
    let in_mode = find(&|r| {
        r["BillingAccountId"] == "acct-c" && r["SkuId"] == IA && r["ChargeCategory"] == "Usage"
    });
    assert_eq!(in_mode.len(), 1);
    assert_eq!(dec(in_mode[0], "PricingQuantity"), Some(d("60")));
    assert_eq!(dec(in_mode[0], "BilledCost"), Some(d("0")));
    // Face Fusion volume tier: 10,000 postpaid calls at 0.050.
    let ff = find(&|r| r["SkuId"] == FF && r["CommitmentDiscountId"].is_empty());
    assert_eq!(dec(ff[0], "BilledCost"), Some(d("500")));
    // Alibaba: hourly cycles, CNY, tokens consumed in tokens and priced per 1,000.
    let tg = find(&|r| r["SkuId"] == TG);
    assert_eq!(tg.len(), 2);
    assert_eq!(tg[0]["ChargePeriodStart"], "2026-10-03T02:00:00Z");
    assert_eq!(tg[0]["ChargePeriodEnd"], "2026-10-03T03:00:00Z");
    assert_eq!(tg[0]["PricingUnit"], "1000 Tokens");
    assert_eq!(dec(tg[0], "PricingQuantity"), Some(d("37")));
    assert_eq!(dec(tg[0], "ConsumedQuantity"), Some(d("37000")));
    assert_eq!(tg[0]["ConsumedUnit"], "Tokens");
    assert_eq!(tg[0]["RegionId"], "cn-mainland");
    assert_eq!(dec(tg[0], "BilledCost"), Some(d("4.44")));
    assert_eq!(tg[0]["ProviderName"], "Alibaba Cloud");
    let itm = find(&|r| r["SkuId"] == ITM);
    assert_eq!(
        (
            itm[0]["PricingUnit"].as_str(),
            itm[0]["ConsumedUnit"].as_str()
        ),
        ("Minutes", "Seconds")
    );
    assert_eq!(dec(itm[0], "ConsumedQuantity"), Some(d("180")));

    // Parquet: the same rows, typed.
    let pq = ParquetReader::new(std::fs::File::open(dir.path().join("focus.parquet")).unwrap())
        .finish()
        .unwrap();
    assert_eq!(pq.height(), rows.len());
    let names: Vec<&str> = pq.get_column_names().iter().map(|s| s.as_str()).collect();
    assert_eq!(names, want);
    assert!(matches!(
        pq.column("BilledCost").unwrap().dtype(),
        DataType::Decimal(_, _)
    ));
    assert!(matches!(
        pq.column("ListCost").unwrap().dtype(),
        DataType::Decimal(_, _)
    ));
    assert!(matches!(
        pq.column("ChargePeriodStart").unwrap().dtype(),
        DataType::Datetime(TimeUnit::Microseconds, Some(tz)) if tz.as_str() == "UTC"
    ));
    assert_eq!(
        pq.column("ChargeCategory").unwrap().dtype(),
        &DataType::String
    );

    // The validator reads FOCUS decimals as floats: it accepts the CSV, but
    // rejects Parquet DECIMAL columns by dtype, so only the CSV goes to it.
    validate_if_configured(&dir.path().join("focus.csv"));
}

#[test]
fn graduated_postpaid_is_one_row_per_tier_slice() {
    // The shipped catalog prices by volume; make Style Transfer graduated.
    let mut cat = catalog().clone();
    for p in &mut cat.products {
        for i in &mut p.items {
            if i.id == ST {
                for pl in &mut i.price_lists {
                    pl.tier_mode = TierMode::Graduated;
                }
            }
        }
    }
    let mut a = input("acct-g");
    a.settings.push(setting("acct-g", ST, Some(true)));
    a.buckets.push(oct_bucket(
        "acct-g",
        ST,
        "2026-10-07T00:00:00+08:00",
        "12345",
        12345,
    ));
    let policy = Policy::default();
    let ctx = Context {
        catalog: &cat,
        period: oct(),
        policy: &policy,
    };
    let r = engine::run_account(&ctx, a);
    let mut m = Month {
        lines: r.lines.into(),
        ledger: r.ledger,
        ..Default::default()
    };
    m.invoices = run::invoices(&m.lines);
    let line = m.lines.iter().find(|l| l.item == ST).unwrap().clone();
    let dir = write(&m, &cat);
    let (_, rows) = read_csv(&dir.path().join("focus.csv"));
    let st: Vec<_> = rows.iter().filter(|r| r["SkuId"] == ST).collect();
    assert!(st.len() > 1, "one row per tier slice: {st:#?}");
    let q: Decimal = st.iter().map(|r| dec(r, "PricingQuantity").unwrap()).sum();
    assert_eq!(q, d("12345"));
    let billed: Decimal = st.iter().map(|r| dec(r, "BilledCost").unwrap()).sum();
    assert_eq!(billed, line.amount);
    let list: Decimal = st.iter().map(|r| dec(r, "ListCost").unwrap()).sum();
    assert_eq!(
        list.round_dp(2),
        line.amount,
        "the slices at list price are the graduated amount"
    );
    let prices: BTreeSet<String> = st.iter().map(|r| r["SkuPriceId"].clone()).collect();
    assert_eq!(prices.len(), st.len(), "each slice names its tier");
    validate_if_configured(&dir.path().join("focus.csv"));
}

#[test]
fn provider_filter_keeps_one_vendor() {
    let m = month();
    let tencent = focus::focus_rows(&m, catalog(), &oct(), Some("tencent"));
    let alibaba = focus::focus_rows(&m, catalog(), &oct(), Some("Alibaba Cloud"));
    let all = focus::focus_rows(&m, catalog(), &oct(), None);
    assert!(tencent.iter().all(|r| r.provider_name == "Tencent Cloud"));
    assert!(alibaba.iter().all(|r| r.provider_name == "Alibaba Cloud"));
    assert!(!tencent.is_empty() && !alibaba.is_empty());
    assert_eq!(tencent.len() + alibaba.len(), all.len());
    let df = focus::focus_table(&m, catalog(), &oct(), Some("alibaba")).unwrap();
    assert_eq!(df.height(), alibaba.len());
}

/// The export finds its scales from rows made without their text: they
/// must have the numbers of the written rows, or the scales would not fit.
#[test]
fn first_pass_rows_have_the_numbers_of_the_written_rows() {
    let m = month();
    let full = focus::focus_rows(&m, catalog(), &oct(), None);
    let numbers = focus::focus_numbers(&m, catalog(), &oct());
    let kinds: BTreeSet<&str> = full.iter().map(|r| &*r.x_charge_type).collect();
    assert!(
        kinds.len() >= 3,
        "usage, purchases, subscriptions at least: {kinds:?}"
    );
    assert_eq!(numbers.len(), full.len());
    for (n, f) in numbers.iter().zip(&full) {
        let nums = |r: &focus::FocusRow<'static>| {
            (
                r.billed_cost,
                r.consumed_quantity,
                r.contracted_cost,
                r.contracted_unit_price,
                r.effective_cost,
                r.list_cost,
                r.list_unit_price,
                r.pricing_quantity,
                r.billing_currency.to_string(),
                r.x_invoice_line,
            )
        };
        assert_eq!(nums(n), nums(f));
        // Usage rows, nearly all of a month's, skip their text.
        if f.x_charge_type == "usage" {
            assert!(n.charge_description.is_empty() && n.billing_account_id.is_empty());
        }
    }
}

/// Run `$RECKON_FOCUS_VALIDATOR FILE` when the variable is set.
fn validate_if_configured(file: &Path) {
    let Some(exe) = std::env::var_os("RECKON_FOCUS_VALIDATOR").filter(|v| !v.is_empty()) else {
        eprintln!("RECKON_FOCUS_VALIDATOR not set: FOCUS validator not run (ci/focus-validator.sh installs it)");
        return;
    };
    let out = std::process::Command::new(&exe)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "FOCUS validator rejected {}:\n{stdout}\n{stderr}",
        file.display()
    );
    eprintln!("{}: {}", file.display(), stdout.trim());
}
