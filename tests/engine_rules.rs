//! The spec's rules and the guides' worked examples at the per-account stage
//! (deduction and rating over reduced buckets). Each test fails if its rule
//! breaks. End-to-end versions (from CSV through polars) are in `pipeline.rs`.

mod common;

use common::*;
use reckon::catalog::{PriceList, Tier, TierMode};
use reckon::engine;
use reckon::policy::{Policy, TieBreak};
use rust_decimal::Decimal;

const IA: &str = "tencent.image_animate";
const ST: &str = "tencent.style_transfer";
const FF: &str = "tencent.face_fusion.image_basic";
const VT: &str = "tencent.video_tags";

// ---- Worked examples -------------------------------------------------------

#[test]
fn image_animate_1100_calls_with_5_free_left_is_4161() {
    let mut a = input("a");
    a.packages.push(free("f", "a", IA, "5", "5"));
    a.settings.push(setting("a", IA, Some(true)));
    a.buckets.push(oct_bucket(
        "a",
        IA,
        "2026-10-01T00:00:00+08:00",
        "1100",
        1100,
    ));
    let r = run(a);
    let l = only_usage(&r, IA);
    assert_eq!(l.free_quantity, d("5"));
    assert_eq!(l.postpaid_quantity, d("1095"));
    assert_eq!(l.unit_price, Some(d("3.8")));
    assert_eq!(l.amount, d("4161.00"));
    assert_eq!(l.currency, "USD");
    assert_eq!(l.usage_quantity, d("1100"));
}

#[test]
fn image_animate_three_100_call_packages_cost_1260() {
    let mut a = input("a");
    for i in 0..3 {
        let mut p = pkg(
            &format!("p{i}"),
            "a",
            IA,
            "prepaid",
            "100",
            "100",
            "2026-10-05T10:00:00+08:00",
            "2027-10-05T10:00:00+08:00",
        );
        p.price = Some(d("420"));
        a.packages.push(p);
    }
    let r = run(a);
    let purchases: Vec<_> = r
        .lines
        .iter()
        .filter(|l| l.charge_type == "purchase")
        .collect();
    assert_eq!(purchases.len(), 3);
    let total: Decimal = purchases.iter().map(|l| l.amount).sum();
    assert_eq!(total, d("1260"));
    assert_eq!(
        reckon::run::invoices(&r.lines)[0].purchase_amount,
        d("1260.00")
    );
}

#[test]
fn purchase_without_price_uses_the_catalog_list_price() {
    let mut a = input("a");
    a.packages.push(pkg(
        "p",
        "a",
        ST,
        "prepaid",
        "10000",
        "10000",
        "2026-10-05T10:00:00+08:00",
        "2027-10-05T10:00:00+08:00",
    ));
    let r = run(a);
    assert_eq!(r.lines[0].amount, d("550"));
}

#[test]
fn style_transfer_10000_pictures_with_50_free_left_is_796() {
    let mut a = input("a");
    a.packages.push(free("f", "a", ST, "50", "50"));
    a.settings.push(setting("a", ST, Some(true)));
    a.buckets.push(oct_bucket(
        "a",
        ST,
        "2026-10-01T00:00:00+08:00",
        "10000",
        10000,
    ));
    let r = run(a);
    let l = only_usage(&r, ST);
    assert_eq!(l.postpaid_quantity, d("9950"));
    assert_eq!(
        l.unit_price,
        Some(d("0.08")),
        "9,950 is under 10,000: the 0.08 tier"
    );
    assert_eq!(l.amount, d("796.00"));
}

#[test]
fn style_transfer_200000_pictures_with_free_used_up_is_10000() {
    let mut a = input("a");
    a.packages.push(free("f", "a", ST, "50", "0"));
    a.settings.push(setting("a", ST, Some(true)));
    a.buckets.push(oct_bucket(
        "a",
        ST,
        "2026-10-01T00:00:00+08:00",
        "200000",
        200000,
    ));
    let l = only_usage(&run(a), ST).clone();
    assert_eq!(l.unit_price, Some(d("0.05")));
    assert_eq!(l.amount, d("10000.00"));
}

#[test]
fn style_transfer_three_10000_packages_cost_1650() {
    let mut a = input("a");
    for i in 0..3 {
        let mut p = pkg(
            &format!("p{i}"),
            "a",
            ST,
            "prepaid",
            "10000",
            "10000",
            "2026-10-02T00:00:00+08:00",
            "2027-10-02T00:00:00+08:00",
        );
        p.price = Some(d("550"));
        a.packages.push(p);
    }
    let inv = reckon::run::invoices(&run(a).lines);
    assert_eq!(inv[0].total, d("1650"));
}

#[test]
fn ims_hour_with_image_text_and_text_generation_is_0_72_cny() {
    // After per-task rounding (done in polars): 113 s -> 120 s, 900 tokens -> 1000.
    let mut a = input("a");
    let hour = "2026-10-10T08:00:00+08:00";
    a.buckets.push(bucket(
        "a",
        "alibaba.ims.image_text.common",
        hour,
        "2026-10-10T08:10:00+08:00",
        "120",
        1,
    ));
    a.buckets.push(bucket(
        "a",
        "alibaba.ims.text_generation",
        hour,
        "2026-10-10T08:20:00+08:00",
        "1000",
        1,
    ));
    let r = run(a);
    let it = only_usage(&r, "alibaba.ims.image_text.common");
    assert_eq!(it.usage_quantity, d("2"));
    assert_eq!(it.amount, d("0.60"));
    let tg = only_usage(&r, "alibaba.ims.text_generation");
    assert_eq!(tg.usage_quantity, d("1"));
    assert_eq!(tg.amount, d("0.12"));
    let inv = reckon::run::invoices(&r.lines);
    assert_eq!(inv[0].currency, "CNY");
    assert_eq!(inv[0].total, d("0.72"));
}

// ---- Tiers -----------------------------------------------------------------

fn postpaid_only(item: &str, product: &str, qty: &str) -> reckon::model::InvoiceLine {
    let mut a = input("a");
    a.settings.push(setting("a", product, Some(true)));
    a.buckets
        .push(oct_bucket("a", item, "2026-10-01T00:00:00+08:00", qty, 1));
    only_usage(&run(a), item).clone()
}

#[test]
fn volume_tier_boundaries_are_inclusive_at_the_lower_end() {
    let cases = [
        (IA, IA, "99", "4.8"),
        (IA, IA, "100", "4.2"),
        (IA, IA, "999", "4.2"),
        (IA, IA, "1000", "3.8"),
        (IA, IA, "10000", "3.5"),
        (ST, ST, "9999", "0.08"),
        (ST, ST, "10000", "0.06"),
        (ST, ST, "100000", "0.05"),
        (ST, ST, "999999", "0.05"),
        (ST, ST, "1000000", "0.04"),
        (FF, "tencent.face_fusion", "9999", "0.065"),
        (FF, "tencent.face_fusion", "10000", "0.05"),
        (FF, "tencent.face_fusion", "10000000", "0.006"),
    ];
    for (item, product, q, price) in cases {
        let l = postpaid_only(item, product, q);
        assert_eq!(l.unit_price, Some(d(price)), "{item} at {q}");
        assert_eq!(
            l.amount,
            engine::round_money(d(q) * d(price), 2),
            "{item} at {q}: all of it at the tier price"
        );
    }
}

#[test]
fn the_tier_is_picked_by_the_postpaid_quantity_after_packages() {
    // 10,050 calls with 100 left in a package: 9,950 postpaid, the 0.065 tier.
    let mut a = input("a");
    a.packages.push(free("f", "a", FF, "1000", "100"));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-01T00:00:00+08:00", "10050", 1));
    let l = only_usage(&run(a), FF).clone();
    assert_eq!(l.postpaid_quantity, d("9950"));
    assert_eq!(l.unit_price, Some(d("0.065")));
}

#[test]
fn graduated_tiers_bill_each_slice_at_its_price() {
    let tiers = vec![
        Tier {
            from: d("0"),
            to: Some(d("100")),
            unit_price: d("4.8"),
            source: "t".into(),
        },
        Tier {
            from: d("100"),
            to: Some(d("1000")),
            unit_price: d("4.2"),
            source: "t".into(),
        },
        Tier {
            from: d("1000"),
            to: None,
            unit_price: d("3.8"),
            source: "t".into(),
        },
    ];
    let pl = PriceList {
        region: None,
        resolution: None,
        currency: None,
        tier_mode: TierMode::Graduated,
        tiers,
    };
    // 100 × 4.8 + 900 × 4.2 + 100 × 3.8 = 480 + 3780 + 380
    let r = engine::rate(&pl, d("1100"), Decimal::ONE, 2);
    assert_eq!(r.amount, d("4640.00"));
    let vol = PriceList {
        tier_mode: TierMode::Volume,
        ..pl
    };
    assert_eq!(
        engine::rate(&vol, d("1100"), Decimal::ONE, 2).amount,
        d("4180.00")
    );
}

// ---- Money -----------------------------------------------------------------

#[test]
fn video_tags_bill_exact_seconds_divided_once_and_round_half_away_from_zero() {
    // 2 s = 0.0333… min × 0.15 = 0.005 exactly: rounds up to 0.01, not down.
    let day = "2026-10-03T00:00:00+08:00";
    let mut a = input("a");
    a.buckets
        .push(bucket("a", VT, day, "2026-10-03T09:00:00+08:00", "2", 1));
    let l = only_usage(&run(a), VT).clone();
    assert_eq!(l.amount, d("0.01"));
    assert_eq!(engine::round_money(d("0.005"), 2), d("0.01"));
    assert_eq!(engine::round_money(d("-0.005"), 2), d("-0.01"));
    assert_eq!(engine::round_money(d("0.004999"), 2), d("0.00"));
}

#[test]
fn daily_cycles_are_rated_separately_and_summed() {
    // 1 s a day for three days: each day 0.0025 -> 0.00; one 3 s day would be 0.0075 -> 0.01.
    let mut a = input("a");
    for day in ["03", "04", "05"] {
        let c = format!("2026-10-{day}T00:00:00+08:00");
        let s = format!("2026-10-{day}T12:00:00+08:00");
        a.buckets.push(bucket("a", VT, &c, &s, "1", 1));
    }
    let r = run(a);
    assert_eq!(
        usage_lines(&r, VT).len(),
        3,
        "one usage line per daily cycle"
    );
    assert!(usage_lines(&r, VT).iter().all(|l| l.amount == d("0.00")));
    let mut b = input("b");
    b.buckets.push(bucket(
        "b",
        VT,
        "2026-10-03T00:00:00+08:00",
        "2026-10-03T12:00:00+08:00",
        "3",
        3,
    ));
    assert_eq!(only_usage(&run(b), VT).amount, d("0.01"));
}

// ---- Deduction order and scope ----------------------------------------------

#[test]
fn free_then_campaign_then_prepaid_then_postpaid_with_one_bucket_split_across_all() {
    let mut a = input("a");
    a.packages.push(pkg(
        "pre",
        "a",
        FF,
        "prepaid",
        "1000",
        "4",
        "2026-01-01T00:00:00+08:00",
        "2026-12-01T00:00:00+08:00",
    ));
    a.packages.push(pkg(
        "camp",
        "a",
        FF,
        "campaign",
        "10",
        "2",
        "2026-01-01T00:00:00+08:00",
        "2027-06-01T00:00:00+08:00",
    ));
    a.packages.push(free("fr", "a", FF, "1000", "3"));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-02T00:00:00+08:00", "12", 1));
    let r = run(a);
    let l = only_usage(&r, FF);
    assert_eq!(
        (
            l.free_quantity,
            l.campaign_quantity,
            l.prepaid_quantity,
            l.postpaid_quantity
        ),
        (d("3"), d("2"), d("4"), d("3"))
    );
    assert_eq!(l.packages, "camp:2;fr:3;pre:4");
    assert_eq!(l.amount, d("0.20")); // 3 × 0.065 = 0.195 -> 0.20
}

#[test]
fn within_a_kind_the_package_expiring_first_is_drawn_first() {
    let mut a = input("a");
    a.packages.push(pkg(
        "late",
        "a",
        FF,
        "prepaid",
        "1000",
        "1000",
        "2026-01-01T00:00:00+08:00",
        "2027-03-01T00:00:00+08:00",
    ));
    a.packages.push(pkg(
        "soon",
        "a",
        FF,
        "prepaid",
        "1000",
        "1000",
        "2026-02-01T00:00:00+08:00",
        "2027-01-01T00:00:00+08:00",
    ));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-02T00:00:00+08:00", "1500", 1));
    let r = run(a);
    assert_eq!(ledger(&r, "soon").deducted, d("1000"));
    assert_eq!(ledger(&r, "late").deducted, d("500"));
}

#[test]
fn the_deduction_order_is_a_policy_the_user_can_change() {
    let mut a = input("a");
    a.packages.push(free("fr", "a", FF, "1000", "10"));
    a.packages.push(pkg(
        "pre",
        "a",
        FF,
        "prepaid",
        "1000",
        "10",
        "2026-01-01T00:00:00+08:00",
        "2027-01-01T00:00:00+08:00",
    ));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-02T00:00:00+08:00", "10", 1));
    let policy = Policy {
        kind_order: vec!["prepaid".into(), "free".into(), "campaign".into()],
        tie_break: vec![TieBreak::ExpiresAt],
    };
    let r = run_with(a.clone(), &policy);
    assert_eq!(ledger(&r, "pre").deducted, d("10"));
    assert_eq!(ledger(&r, "fr").deducted, d("0"));
    let r = run(a);
    assert_eq!(ledger(&r, "fr").deducted, d("10"));
}

#[test]
fn a_package_deducts_only_inside_effective_at_to_expires_at() {
    let from = "2026-10-10T12:00:00+08:00";
    let until = "2026-10-20T12:00:00+08:00";
    let mut a = input("a");
    a.packages
        .push(pkg("p", "a", FF, "prepaid", "1000", "1000", from, until));
    // One second before, at effective_at, one second before expiry, at expiry.
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-10T11:59:59+08:00", "1", 1));
    a.buckets.push(oct_bucket("a", FF, from, "2", 1));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-20T11:59:59+08:00", "4", 1));
    a.buckets.push(oct_bucket("a", FF, until, "8", 1));
    let r = run(a);
    assert_eq!(
        ledger(&r, "p").deducted,
        d("6"),
        "only the buckets at and after effective_at, before expires_at"
    );
    assert_eq!(only_usage(&r, FF).postpaid_quantity, d("9"));
}

#[test]
fn no_cross_item_deduction() {
    let mut a = input("a");
    a.packages.push(free(
        "f",
        "a",
        "tencent.face_fusion.video_single",
        "200",
        "200",
    ));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-02T00:00:00+08:00", "10", 1));
    let r = run(a);
    assert_eq!(only_usage(&r, FF).postpaid_quantity, d("10"));
    assert_eq!(ledger(&r, "f").deducted, d("0"));
}

#[test]
fn what_is_left_at_expiry_expires_and_the_ledger_balances() {
    let mut a = input("a");
    a.packages.push(pkg(
        "p",
        "a",
        FF,
        "prepaid",
        "1000",
        "600",
        "2025-10-15T00:00:00+08:00",
        "2026-10-15T00:00:00+08:00",
    ));
    a.packages.push(free("f", "a", FF, "1000", "1000"));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-02T00:00:00+08:00", "1100", 1));
    let r = run(a);
    let p = ledger(&r, "p");
    assert_eq!(
        (p.opening, p.deducted, p.expired, p.closing),
        (d("600"), d("100"), d("500"), d("0"))
    );
    for row in &r.ledger {
        assert_eq!(
            row.opening,
            row.deducted + row.expired + row.refunded + row.closing
        );
    }
    assert_eq!(ledger(&r, "f").closing, d("0"));
    assert_eq!(
        ledger(&r, "f").package.remaining,
        d("0"),
        "the ledger's remaining is the closing balance"
    );
}

// ---- Postpaid switch, suspension -------------------------------------------

#[test]
fn postpaid_not_enabled_refuses_calls_after_the_packages_run_out() {
    let mut a = input("a");
    a.packages.push(free("f", "a", IA, "5", "5"));
    a.buckets
        .push(oct_bucket("a", IA, "2026-10-02T00:00:00+08:00", "8", 8));
    let r = run(a);
    let l = only_usage(&r, IA);
    assert_eq!(
        (
            l.free_quantity,
            l.postpaid_quantity,
            l.refused_quantity,
            l.amount
        ),
        (d("5"), d("0"), d("3"), d("0"))
    );
    let e = &r.exceptions[0];
    assert_eq!(e.row.reason, "postpaid_disabled");
    assert_eq!(e.row.quantity, d("3"));
    assert_eq!(
        e.partials.len(),
        1,
        "the bucket was partly funded: the second pass finds the first refused event"
    );
    assert_eq!(e.partials[0].funded, d("5"));
}

#[test]
fn postpaid_enabled_bills_the_same_calls() {
    let mut a = input("a");
    a.packages.push(free("f", "a", IA, "5", "5"));
    a.settings.push(setting("a", IA, Some(true)));
    a.buckets
        .push(oct_bucket("a", IA, "2026-10-02T00:00:00+08:00", "8", 8));
    let r = run(a);
    assert_eq!(only_usage(&r, IA).amount, d("14.40"));
    assert!(r.exceptions.is_empty());
}

#[test]
fn face_fusion_switches_to_postpaid_by_itself() {
    let mut a = input("a");
    a.settings
        .push(setting("a", "tencent.face_fusion", Some(false)));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-02T00:00:00+08:00", "10", 10));
    assert_eq!(only_usage(&run(a), FF).amount, d("0.65"));
}

#[test]
fn usage_while_suspended_is_refused_and_packages_pause() {
    let mut a = input("a");
    a.packages.push(free("f", "a", FF, "1000", "1000"));
    let mut s = setting("a", "tencent.face_fusion", None);
    s.suspended_from = Some(t("2026-10-10T00:00:00+08:00"));
    s.suspended_until = Some(t("2026-10-12T00:00:00+08:00"));
    a.settings.push(s);
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-09T23:59:59+08:00", "1", 1));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-10T00:00:00+08:00", "7", 3));
    a.buckets
        .push(oct_bucket("a", FF, "2026-10-12T00:00:00+08:00", "2", 1));
    let r = run(a);
    assert_eq!(ledger(&r, "f").deducted, d("3"));
    let l = only_usage(&r, FF);
    assert_eq!(l.refused_quantity, d("7"));
    let e = &r.exceptions[0];
    assert_eq!(
        (e.row.reason.as_str(), e.row.quantity, e.row.events),
        ("account_suspended", d("7"), 3)
    );
    assert_eq!(e.first.as_ref().unwrap().0, t("2026-10-10T00:00:00+08:00"));
}

#[test]
fn concurrent_mode_usage_is_not_rated_per_call() {
    let mut a = input("a");
    let mut s = setting("a", IA, None);
    s.billing_mode = "concurrent".into();
    a.settings.push(s);
    a.packages.push(free("f", "a", IA, "5", "5"));
    a.buckets
        .push(oct_bucket("a", IA, "2026-10-02T00:00:00+08:00", "40", 40));
    let r = run(a);
    let l = only_usage(&r, IA);
    assert_eq!(
        (l.subscription_quantity, l.amount, l.free_quantity),
        (d("40"), d("0"), d("0"))
    );
    assert!(r.exceptions.is_empty());
}

// ---- Refunds ---------------------------------------------------------------

fn refund_case(refunded_at: &str, used: bool) -> reckon::engine::AccountResult {
    let mut a = input("a");
    let mut p = pkg(
        "p",
        "a",
        IA,
        "prepaid",
        "100",
        "100",
        "2026-10-01T10:00:00+08:00",
        "2027-10-01T10:00:00+08:00",
    );
    p.price = Some(d("420"));
    p.refunded_at = Some(t(refunded_at));
    a.packages.push(p);
    if used {
        a.buckets
            .push(oct_bucket("a", IA, "2026-10-02T00:00:00+08:00", "1", 1));
    }
    run(a)
}

#[test]
fn refund_on_day_7_is_honoured_and_on_day_8_rejected() {
    // Bought October 1: refundable through the end of October 8 (UTC+08:00).
    let r = refund_case("2026-10-08T23:59:00+08:00", false);
    let refund: Vec<_> = r
        .lines
        .iter()
        .filter(|l| l.charge_type == "refund")
        .collect();
    assert_eq!(refund.len(), 1);
    assert_eq!(refund[0].amount, d("-420"));
    assert_eq!(ledger(&r, "p").refunded, d("100"));
    assert_eq!(ledger(&r, "p").closing, d("0"));
    assert_eq!(
        reckon::run::invoices(&r.lines)[0].total,
        d("0"),
        "purchase and refund cancel"
    );

    let r = refund_case("2026-10-09T00:00:00+08:00", false);
    assert!(r.lines.iter().all(|l| l.charge_type != "refund"));
    assert_eq!(r.exceptions[0].row.reason, "refund_rejected");
    assert_eq!(
        ledger(&r, "p").closing,
        d("100"),
        "a rejected refund leaves the package in use"
    );
}

#[test]
fn refund_after_partial_use_is_rejected() {
    let r = refund_case("2026-10-03T00:00:00+08:00", true);
    assert!(r.lines.iter().all(|l| l.charge_type != "refund"));
    let e = r
        .exceptions
        .iter()
        .find(|e| e.row.reason == "refund_rejected")
        .unwrap();
    assert!(e.row.detail.contains("partly used"), "{}", e.row.detail);
}

#[test]
fn usage_after_an_honoured_refund_does_not_draw_the_package() {
    let mut a = input("a");
    let mut p = pkg(
        "p",
        "a",
        IA,
        "prepaid",
        "100",
        "100",
        "2026-10-01T10:00:00+08:00",
        "2027-10-01T10:00:00+08:00",
    );
    p.price = Some(d("420"));
    p.refunded_at = Some(t("2026-10-03T00:00:00+08:00"));
    a.packages.push(p);
    a.settings.push(setting("a", IA, Some(true)));
    a.buckets
        .push(oct_bucket("a", IA, "2026-10-03T00:00:00+08:00", "2", 2));
    let r = run(a);
    assert_eq!(ledger(&r, "p").deducted, d("0"));
    assert_eq!(only_usage(&r, IA).postpaid_quantity, d("2"));
}

#[test]
fn free_and_campaign_packages_are_not_refundable() {
    for kind in ["free", "campaign"] {
        let mut a = input("a");
        let mut p = pkg(
            "p",
            "a",
            IA,
            kind,
            "5",
            "5",
            "2026-10-01T10:00:00+08:00",
            "2027-10-01T10:00:00+08:00",
        );
        p.refunded_at = Some(t("2026-10-02T00:00:00+08:00"));
        a.packages.push(p);
        let r = run(a);
        assert_eq!(r.exceptions[0].row.reason, "refund_rejected", "{kind}");
        assert!(r.lines.iter().all(|l| l.charge_type != "refund"));
    }
}

// ---- Subscriptions ---------------------------------------------------------

#[test]
fn day_terms_charge_each_calendar_day_and_qps_prices_follow_the_quantity_bought() {
    let mut a = input("a");
    a.subscriptions.push(reckon::model::Subscription {
        subscription_id: "s1".into(),
        account_id: "a".into(),
        item: "tencent.style_transfer.concurrency".into(),
        quantity: d("2"),
        term: "day".into(),
        starts_at: t("2026-10-03T12:00:00+08:00"),
        ends_at: t("2026-10-05T12:00:00+08:00"),
    });
    a.subscriptions.push(reckon::model::Subscription {
        subscription_id: "s2".into(),
        account_id: "a".into(),
        item: "tencent.face_fusion.image_basic.qps".into(),
        quantity: d("60"),
        term: "month".into(),
        starts_at: t("2026-09-15T00:00:00+08:00"),
        ends_at: t("2026-11-15T00:00:00+08:00"),
    });
    let r = run(a);
    let s1 = r
        .lines
        .iter()
        .find(|l| l.reference.as_deref() == Some("s1"))
        .unwrap();
    assert_eq!(
        (s1.usage_quantity, s1.unit_price, s1.amount),
        (d("6"), Some(d("200")), d("1200"))
    );
    let s2 = r
        .lines
        .iter()
        .find(|l| l.reference.as_deref() == Some("s2"))
        .unwrap();
    assert_eq!((s2.unit_price, s2.amount), (Some(d("1450")), d("87000")));
}

// ---- Unpriced usage --------------------------------------------------------

#[test]
fn script_to_video_without_a_user_price_is_a_no_price_exception_not_dropped() {
    let mut a = input("a");
    let mut b = bucket(
        "a",
        "alibaba.ims.script_to_video",
        "2026-10-10T08:00:00+08:00",
        "2026-10-10T08:10:00+08:00",
        "180",
        2,
    );
    b.resolution = Some("1080p".into());
    a.buckets.push(b);
    let r = run(a);
    let l = only_usage(&r, "alibaba.ims.script_to_video");
    assert_eq!((l.refused_quantity, l.amount), (d("3"), d("0")));
    let e = &r.exceptions[0];
    assert_eq!(
        (e.row.reason.as_str(), e.row.quantity, e.row.events),
        ("no_price", d("3"), 2)
    );
}
