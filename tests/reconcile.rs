//! The guides' worked examples, with the vendor's statement altered one way at
//! a time: each alteration gives exactly one discrepancy of the expected class
//! and delta; the clean statement gives none.

mod common;

use common::*;
use reckon::faults;
use reckon::model::{ExceptionRow, InvoiceLine};
use reckon::recon_model::{Discrepancy, Statement, StatementLine};
use reckon::reconcile::{self, FailOn, OurLine, Tolerance};
use rust_decimal::Decimal;

const IA: &str = "tencent.image_animate";
const ST: &str = "tencent.style_transfer";

/// The month: the Style Transfer 796 and 1,650 examples, the Image Animate
/// 4,161 example, an account with postpaid off that ran out, the IMS 0.72 hour.
fn month() -> (Vec<InvoiceLine>, Vec<ExceptionRow>) {
    let mut lines = Vec::new();
    let mut exceptions = Vec::new();
    let mut push = |r: reckon::engine::AccountResult| {
        lines.extend(r.lines);
        exceptions.extend(r.exceptions.into_iter().map(|e| e.finish(&[])));
    };
    let mut a = input("st796");
    a.packages.push(free("f", "st796", ST, "50", "50"));
    a.settings.push(setting("st796", ST, Some(true)));
    a.buckets.push(oct_bucket(
        "st796",
        ST,
        "2026-10-01T00:00:00+08:00",
        "10000",
        10000,
    ));
    for i in 0..3 {
        let mut p = pkg(
            &format!("p{i}"),
            "st796",
            ST,
            "prepaid",
            "10000",
            "10000",
            "2026-10-20T00:00:00+08:00",
            "2027-10-20T00:00:00+08:00",
        );
        p.price = Some(d("550"));
        a.packages.push(p);
    }
    push(run(a));
    let mut b = input("ia4161");
    b.packages.push(free("f", "ia4161", IA, "5", "5"));
    b.settings.push(setting("ia4161", IA, Some(true)));
    b.buckets.push(oct_bucket(
        "ia4161",
        IA,
        "2026-10-01T00:00:00+08:00",
        "1100",
        1100,
    ));
    push(run(b));
    let mut c = input("iaoff");
    c.packages.push(free("f", "iaoff", IA, "5", "5"));
    c.buckets
        .push(oct_bucket("iaoff", IA, "2026-10-02T00:00:00+08:00", "8", 8));
    push(run(c));
    let mut e = input("ims");
    let hour = "2026-10-10T08:00:00+08:00";
    e.buckets.push(bucket(
        "ims",
        "alibaba.ims.image_text.common",
        hour,
        "2026-10-10T08:10:00+08:00",
        "120",
        1,
    ));
    e.buckets.push(bucket(
        "ims",
        "alibaba.ims.text_generation",
        hour,
        "2026-10-10T08:20:00+08:00",
        "1000",
        1,
    ));
    push(run(e));
    (lines, exceptions)
}

fn diff(alter: impl Fn(&mut Vec<StatementLine>)) -> Vec<Discrepancy> {
    diff_with(alter, &Tolerance::default())
}

fn diff_with(alter: impl Fn(&mut Vec<StatementLine>), tol: &Tolerance) -> Vec<Discrepancy> {
    let (lines, exceptions) = month();
    let mut st = faults::clean_statement(&lines, "2026-10");
    alter(&mut st);
    let ours: Vec<OurLine> = lines.iter().map(OurLine::from_line).collect();
    let statement = Statement {
        lines: st,
        ..Default::default()
    };
    let ours: Vec<&OurLine> = ours.iter().collect();
    reconcile::reconcile("2026-10", &ours, &exceptions, &statement, tol)
}

fn line<'a>(st: &'a mut [StatementLine], account: &str, charge: &str) -> &'a mut StatementLine {
    st.iter_mut()
        .find(|l| l.account_id == account && l.charge_type == charge)
        .unwrap()
}

fn one(ds: &[Discrepancy]) -> &Discrepancy {
    assert_eq!(ds.len(), 1, "exactly one discrepancy: {ds:#?}");
    &ds[0]
}

#[test]
fn a_clean_statement_gives_no_discrepancy() {
    assert!(diff(|_| {}).is_empty());
}

#[test]
fn free_quota_not_applied_is_a_deduction_mismatch_with_the_tier_explained() {
    // The vendor billed 10,000 pictures at 0.06 (600.00); 50 free remained, so
    // 9,950 fall in the 0.08 tier: 796.00 expected.
    let ds = diff(|st| {
        let l = line(st, "st796", "usage");
        l.deducted_quantity = Some(d("0"));
        l.billed_quantity = Some(d("10000"));
        l.unit_price = Some(d("0.06"));
        l.amount = d("600.00");
    });
    let x = one(&ds);
    assert_eq!(x.class, "deduction_mismatch");
    assert_eq!(x.delta_amount, d("-196.00"));
    assert!(
        x.explanation.contains("796.00")
            && x.explanation.contains("600.00")
            && x.explanation.contains("0.06"),
        "{}",
        x.explanation
    );
}

#[test]
fn a_wrong_tier_price_is_a_price_mismatch() {
    let ds = diff(|st| {
        let l = line(st, "st796", "usage");
        l.unit_price = Some(d("0.06"));
        l.amount = d("597.00");
    });
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("price_mismatch", d("-199.00"))
    );
}

#[test]
fn different_metering_is_a_quantity_mismatch() {
    let ds = diff(|st| {
        let l = line(st, "ia4161", "usage");
        l.usage_quantity = Some(d("1110"));
        l.billed_quantity = Some(d("1105"));
        l.amount = d("4199.00");
    });
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("quantity_mismatch", d("38.00"))
    );
}

#[test]
fn equal_inputs_with_a_different_amount_is_an_amount_mismatch() {
    let ds = diff(|st| line(st, "ims", "usage").amount = d("0.61"));
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount, x.currency.as_str()),
        ("amount_mismatch", d("0.01"), "CNY")
    );
}

#[test]
fn a_charge_in_another_currency_is_a_currency_mismatch() {
    let ds = diff(|st| line(st, "ia4161", "usage").currency = "CNY".into());
    assert_eq!(one(&ds).class, "currency_mismatch");
}

#[test]
fn a_missing_line_and_an_unexpected_line() {
    let ds = diff(|st| st.retain(|l| !(l.account_id == "ia4161" && l.charge_type == "usage")));
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("missing_from_statement", d("-4161.00"))
    );

    let ds = diff(|st| {
        let mut l = line(st, "ia4161", "usage").clone();
        l.account_id = "stranger".into();
        l.line_id = Some("X1".into());
        st.push(l);
    });
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("unexpected_charge", d("4161.00"))
    );
}

#[test]
fn billing_refused_calls_is_refused_usage_billed() {
    // Postpaid off: 3 calls were refused; the vendor billed them at 4.8.
    let ds = diff(|st| {
        let l = line(st, "iaoff", "usage");
        l.usage_quantity = Some(d("8"));
        l.billed_quantity = Some(d("3"));
        l.unit_price = Some(d("4.8"));
        l.amount = d("14.40");
    });
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("refused_usage_billed", d("14.40"))
    );
}

#[test]
fn a_package_purchase_charged_twice_is_a_duplicate_charge() {
    // Same vendor line id twice.
    let ds = diff(|st| {
        let l = line(st, "st796", "purchase").clone();
        st.push(l);
    });
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("duplicate_charge", d("550"))
    );
    // A fourth 550 purchase line with its own id, where three were bought (1,650).
    let ds = diff(|st| {
        let mut l = line(st, "st796", "purchase").clone();
        l.line_id = Some("P-extra".into());
        st.push(l);
    });
    let x = one(&ds);
    assert_eq!(
        (x.class.as_str(), x.delta_amount),
        ("duplicate_charge", d("550"))
    );
}

#[test]
fn differences_inside_tolerance_count_as_matched() {
    let mut tol = Tolerance::default();
    tol.absolute.insert("USD".into(), d("0.01"));
    let ds = diff_with(|st| line(st, "st796", "usage").amount = d("796.01"), &tol);
    let x = one(&ds);
    assert!(x.within_tolerance);
    assert!(!FailOn::Any.fails(&ds));
    let ds = diff_with(|st| line(st, "st796", "usage").amount = d("796.02"), &tol);
    assert!(!one(&ds).within_tolerance);
    assert!(FailOn::Any.fails(&ds));
    assert!(!FailOn::Amount(d("0.05")).fails(&ds));
    assert!(FailOn::Amount(d("0.01")).fails(&ds));
    assert!(!FailOn::None.fails(&ds));
}

#[test]
fn every_injected_fault_is_found_with_its_class_and_nothing_else() {
    let (lines, exceptions) = month();
    let mut st = faults::clean_statement(&lines, "2026-10");
    let labels = faults::inject(&mut st, &exceptions, 1, 7);
    let classes: std::collections::BTreeSet<&str> =
        labels.iter().map(|l| l.class.as_str()).collect();
    assert!(classes.len() >= 6, "{labels:#?}");
    let ours: Vec<OurLine> = lines.iter().map(OurLine::from_line).collect();
    let ours: Vec<&OurLine> = ours.iter().collect();
    let ds = reconcile::reconcile(
        "2026-10",
        &ours,
        &exceptions,
        &Statement {
            lines: st,
            ..Default::default()
        },
        &Tolerance::default(),
    );
    let mut found: Vec<faults::Label> = ds
        .iter()
        .map(|d| faults::Label {
            account_id: d.account_id.clone(),
            item: d.item.clone(),
            charge_type: d.charge_type.clone(),
            class: d.class.clone(),
        })
        .collect();
    found.sort();
    assert_eq!(found, labels);
    let _ = Decimal::ZERO;
}

#[test]
fn the_order_of_the_lines_does_not_change_what_is_found() {
    // A purchase line three times (two repeats), with both sides' lines in
    // their order, reversed, and interleaved (a key's lines apart).
    let (lines, exceptions) = month();
    let mut st = faults::clean_statement(&lines, "2026-10");
    let p = line(&mut st, "st796", "purchase").clone();
    st.push(p.clone());
    st.push(p);
    line(&mut st, "ia4161", "usage").amount += d("0.01");
    let ours: Vec<OurLine> = lines.iter().map(OurLine::from_line).collect();
    let find = |st: Vec<StatementLine>, ours: &[OurLine]| {
        let ours: Vec<&OurLine> = ours.iter().collect();
        let statement = Statement {
            lines: st,
            ..Default::default()
        };
        reconcile::reconcile(
            "2026-10",
            &ours,
            &exceptions,
            &statement,
            &Tolerance::default(),
        )
    };
    let base = find(st.clone(), &ours);
    let classes: Vec<&str> = base.iter().map(|d| d.class.as_str()).collect();
    assert_eq!(
        classes,
        vec!["amount_mismatch", "duplicate_charge", "duplicate_charge"],
        "{base:#?}"
    );
    let (mut rev_st, mut rev_ours) = (st.clone(), ours.clone());
    rev_st.reverse();
    rev_ours.reverse();
    assert_eq!(find(rev_st, &rev_ours), base);
    fn interleave<T: Clone>(v: &[T]) -> Vec<T> {
        v.iter()
            .step_by(2)
            .chain(v.iter().skip(1).step_by(2))
            .cloned()
            .collect()
    }
    assert_eq!(find(interleave(&st), &interleave(&ours)), base);
}
