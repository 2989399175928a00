//! Random months, checked for conservation and against a naive reference that
//! deducts one unit at a time in event order.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use reckon::engine::AccountInput;
use reckon::model::*;
use reckon::policy::Policy;
use rust_decimal::Decimal;

const ITEMS: [(&str, &str); 2] = [
    ("tencent.face_fusion.image_basic", "tencent.face_fusion"),
    ("tencent.image_animate", "tencent.image_animate"),
];
const HOUR_US: i64 = 3_600_000_000;

#[derive(Debug, Clone)]
struct Month {
    input: AccountInput,
}

fn oct_start() -> i64 {
    oct().start()
}

prop_compose! {
    fn package(i: usize)(item in 0..2usize, kind in 0..3usize, size in 1..40i64, used in 0..40i64,
                         from_h in -40..120i64, len_h in 1..160i64) -> Package {
        let kind = ["free", "campaign", "prepaid"][kind];
        let remaining = (size - used).max(0);
        let from = oct_start() + from_h * HOUR_US;
        let mut p = pkg(&format!("p{i}"), "a", ITEMS[item].0, kind, &size.to_string(), &remaining.to_string(),
                        "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z");
        p.effective_at = from;
        p.expires_at = from + len_h * HOUR_US;
        p
    }
}

prop_compose! {
    fn bucket_at()(item in 0..2usize, hour in 0..160i64, qty in 0..30i64) -> Bucket {
        let start = oct_start() + hour * HOUR_US;
        Bucket {
            account_id: "a".into(),
            item: ITEMS[item].0.into(),
            region: None,
            resolution: None,
            cycle_start: oct_start(),
            start,
            end: start + HOUR_US,
            quantity: Decimal::from(qty),
            events: 1,
            first_time: start,
            first_event_id: format!("e{hour}"),
            first_row: None,
        }
    }
}

fn month() -> impl Strategy<Value = Month> {
    (
        prop::collection::vec(bucket_at(), 0..25),
        (0..5usize).prop_flat_map(|n| (0..n).map(package).collect::<Vec<_>>()),
        any::<bool>(),
        prop::option::of((0..160i64, 1..60i64)),
    )
        .prop_map(|(mut buckets, packages, postpaid, suspension)| {
            // One bucket per item and hour, as the reduction produces.
            buckets.sort_by_key(|b| (b.item.clone(), b.start));
            buckets.dedup_by_key(|b| (b.item.clone(), b.start));
            let mut input = input("a");
            input.buckets = buckets;
            input.packages = packages;
            for (_, product) in ITEMS {
                let mut s = setting("a", product, Some(postpaid));
                if let Some((from, len)) = suspension {
                    s.suspended_from = Some(oct_start() + from * HOUR_US);
                    s.suspended_until = Some(oct_start() + (from + len) * HOUR_US);
                }
                input.settings.push(s);
            }
            Month { input }
        })
}

/// Deduct one unit at a time, in event order, from the valid packages in the
/// default policy order. Returns units drawn per package.
fn reference(m: &Month) -> BTreeMap<String, i64> {
    let mut balance: BTreeMap<String, i64> = m
        .input
        .packages
        .iter()
        .map(|p| (p.package_id.clone(), p.remaining.mantissa() as i64))
        .collect();
    let mut drawn: BTreeMap<String, i64> = BTreeMap::new();
    let mut buckets = m.input.buckets.clone();
    buckets.sort_by_key(|b| b.start);
    let rank = |k: PackageKind| match k {
        PackageKind::Free => 0,
        PackageKind::Campaign => 1,
        PackageKind::Prepaid => 2,
    };
    for b in &buckets {
        let s = &m.input.settings[0];
        if let (Some(f), Some(u)) = (s.suspended_from, s.suspended_until) {
            if f <= b.start && b.start < u {
                continue;
            }
        }
        for _ in 0..b.quantity.mantissa() {
            let mut valid: Vec<&Package> = m
                .input
                .packages
                .iter()
                .filter(|p| {
                    *p.item == *b.item
                        && p.effective_at <= b.start
                        && b.start < p.expires_at
                        && balance[&p.package_id] > 0
                })
                .collect();
            valid.sort_by_key(|p| {
                (
                    rank(p.kind),
                    p.expires_at,
                    p.effective_at,
                    p.package_id.clone(),
                )
            });
            if let Some(p) = valid.first() {
                *balance.get_mut(&p.package_id).unwrap() -= 1;
                *drawn.entry(p.package_id.clone()).or_default() += 1;
            }
        }
    }
    drawn
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn usage_is_conserved_and_packages_match_unit_by_unit_deduction(m in month()) {
        let r = run_with(m.input.clone(), &Policy::default());

        // Billable usage = free + campaign + prepaid + postpaid (+ refused, + covered).
        for (item, _) in ITEMS {
            let billable: Decimal = m.input.buckets.iter().filter(|b| &*b.item == item).map(|b| b.quantity).sum();
            let accounted: Decimal = r.lines.iter().filter(|l| l.item == item && l.charge_type == "usage")
                .map(|l| l.free_quantity + l.campaign_quantity + l.prepaid_quantity + l.postpaid_quantity
                     + l.subscription_quantity + l.refused_quantity)
                .sum();
            prop_assert_eq!(billable, accounted, "{}", item);
            for l in r.lines.iter().filter(|l| l.item == item && l.charge_type == "usage") {
                prop_assert_eq!(l.usage_quantity, l.free_quantity + l.campaign_quantity + l.prepaid_quantity + l.postpaid_quantity);
            }
        }

        // Package balances: never overdrawn, and the ledger balances.
        for row in &r.ledger {
            prop_assert!(row.deducted <= row.opening);
            prop_assert!(row.closing >= Decimal::ZERO);
            prop_assert_eq!(row.opening, row.deducted + row.expired + row.refunded + row.closing);
        }

        // Same draws per package as the unit-by-unit reference, so nothing is
        // drawn outside a validity window, while suspended or out of order.
        let expected = reference(&m);
        for row in &r.ledger {
            let want = Decimal::from(*expected.get(&row.package.package_id).unwrap_or(&0));
            prop_assert_eq!(row.deducted, want, "package {}", row.package.package_id);
        }

        // Refused usage only where the switch is off or the account suspended.
        let postpaid = m.input.settings[0].postpaid_enabled == Some(true);
        for l in r.lines.iter().filter(|l| l.charge_type == "usage") {
            if l.item == "tencent.face_fusion.image_basic" && m.input.settings[0].suspended_from.is_none() {
                prop_assert_eq!(l.refused_quantity, Decimal::ZERO);
            }
            if postpaid && m.input.settings[0].suspended_from.is_none() {
                prop_assert_eq!(l.refused_quantity, Decimal::ZERO);
            }
        }
    }
}
