//! Vendor statements for synthetic months: one that agrees with reckon's
//! invoice line for line, and the same with discrepancies injected on purpose,
//! each labelled with its true class.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::engine::round_money;
use crate::model::{ExceptionRow, InvoiceLine};
use crate::recon_model::{StatementLine, CLASSES};

/// A statement that agrees with `lines`: one canonical line per invoice line.
pub fn clean_statement<'a>(
    lines: impl IntoIterator<Item = &'a InvoiceLine>,
    period: &str,
) -> Vec<StatementLine> {
    lines
        .into_iter()
        .enumerate()
        .map(|(n, l)| {
            let ours = crate::reconcile::OurLine::from_line(l);
            StatementLine {
                source_file: "generated".into(),
                source_row: n as u64 + 2,
                line_id: Some(format!("L{n:08}").into()),
                format: "canonical",
                account_id: l.account_id.as_str().into(),
                item: Some(l.item.as_str().into()),
                vendor_sku: l.item.as_str().into(),
                charge_type: l.charge_type.as_str().into(),
                billing_period: period.into(),
                cycle_start: Some(l.cycle_start),
                usage_quantity: Some(l.usage_quantity),
                deducted_quantity: (l.charge_type == "usage").then_some(ours.deducted),
                billed_quantity: Some(ours.billed),
                unit_price: l.unit_price,
                amount: l.amount,
                currency: l.currency.as_str().into(),
            }
        })
        .collect()
}

/// An injected discrepancy and its true class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Label {
    pub account_id: String,
    pub item: String,
    pub charge_type: String,
    pub class: String,
}

/// Inject up to `per_class` discrepancies of every class into a clean
/// statement, each on its own account and item. Returns the labels.
pub fn inject(
    statement: &mut Vec<StatementLine>,
    exceptions: &[ExceptionRow],
    per_class: usize,
    seed: u64,
) -> Vec<Label> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17);
    // Account/items with refused usage are kept for `refused_usage_billed`
    // only, so no other fault is mistaken for it.
    let refused: BTreeSet<(String, String)> = exceptions
        .iter()
        .filter(|e| matches!(e.reason.as_str(), "postpaid_disabled" | "account_suspended"))
        .map(|e| (e.account_id.clone(), e.item.clone()))
        .collect();
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let mut labels = Vec::new();
    let mut next_id = statement.len();
    for class in CLASSES {
        for _ in 0..per_class {
            // Candidate lines on untouched account/items, in a seeded order.
            let mut cands: Vec<usize> = (0..statement.len())
                .filter(|&i| {
                    let l = &statement[i];
                    let key = (
                        l.account_id.to_string(),
                        l.item.as_deref().unwrap_or_default().to_string(),
                    );
                    !used.contains(&key) && !refused.contains(&key)
                })
                .collect();
            for i in (1..cands.len()).rev() {
                cands.swap(i, rng.random_range(0..=i));
            }
            let ok = |l: &StatementLine| -> bool {
                let billed = l.billed_quantity.unwrap_or_default();
                // Zero-priced lines (public beta) cannot show a price or quantity fault in money.
                let priced = l.unit_price.is_some_and(|p| p > Decimal::ZERO);
                match *class {
                    "missing_from_statement" => {
                        l.charge_type == "usage" && l.amount > Decimal::ZERO
                    }
                    "quantity_mismatch" | "price_mismatch" | "amount_mismatch" => {
                        l.charge_type == "usage" && billed > Decimal::ZERO && priced
                    }
                    "deduction_mismatch" => {
                        l.charge_type == "usage"
                            && l.deducted_quantity.unwrap_or_default() >= Decimal::ONE
                            && priced
                    }
                    "currency_mismatch" => l.amount > Decimal::ZERO,
                    "duplicate_charge" => {
                        l.charge_type == "purchase" || l.charge_type == "subscription"
                    }
                    _ => false,
                }
            };
            let label = |l: &StatementLine| Label {
                account_id: l.account_id.to_string(),
                item: l.item.as_deref().unwrap_or_default().to_string(),
                charge_type: l.charge_type.to_string(),
                class: class.to_string(),
            };
            match *class {
                "unexpected_charge" => {
                    // A charge for an account and item with nothing in the invoice.
                    let Some(&i) = cands.first() else { continue };
                    let mut l = statement[i].clone();
                    l.account_id = format!("{}-ghost", l.account_id).into();
                    l.charge_type = "usage".into();
                    l.amount = Decimal::new(rng.random_range(100..100_000), 2);
                    l.line_id = Some(format!("L{next_id:08}").into());
                    next_id += 1;
                    used.insert((
                        l.account_id.to_string(),
                        l.item.as_deref().unwrap_or_default().to_string(),
                    ));
                    labels.push(label(&l));
                    statement.push(l);
                }
                "refused_usage_billed" => {
                    // Bill usage reckon refused (postpaid off / suspended).
                    let Some(e) = exceptions.iter().find(|e| {
                        matches!(e.reason.as_str(), "postpaid_disabled" | "account_suspended")
                            && e.quantity > Decimal::ZERO
                            && !used.contains(&(e.account_id.clone(), e.item.clone()))
                    }) else {
                        continue;
                    };
                    used.insert((e.account_id.clone(), e.item.clone()));
                    let price = Decimal::new(5, 2);
                    let existing = statement.iter_mut().find(|l| {
                        l.account_id == e.account_id
                            && l.item.as_deref() == Some(&e.item)
                            && l.charge_type == "usage"
                    });
                    let l = match existing {
                        Some(l) => {
                            l.billed_quantity =
                                Some(l.billed_quantity.unwrap_or_default() + e.quantity);
                            l.usage_quantity = l.usage_quantity.map(|u| u + e.quantity);
                            l.amount += round_money(e.quantity * l.unit_price.unwrap_or(price), 2);
                            l.clone()
                        }
                        None => {
                            let l = StatementLine {
                                source_file: "generated".into(),
                                source_row: 0,
                                line_id: Some(format!("L{next_id:08}").into()),
                                format: "canonical",
                                account_id: e.account_id.as_str().into(),
                                item: Some(e.item.as_str().into()),
                                vendor_sku: e.item.as_str().into(),
                                charge_type: "usage".into(),
                                billing_period: statement
                                    .first()
                                    .map(|l| l.billing_period.clone())
                                    .unwrap_or_default(),
                                cycle_start: None,
                                usage_quantity: Some(e.quantity),
                                deducted_quantity: Some(Decimal::ZERO),
                                billed_quantity: Some(e.quantity),
                                unit_price: Some(price),
                                amount: round_money(e.quantity * price, 2),
                                currency: "USD".into(),
                            };
                            next_id += 1;
                            statement.push(l.clone());
                            l
                        }
                    };
                    labels.push(label(&l));
                }
                _ => {
                    let Some(&i) = cands.iter().find(|&&i| ok(&statement[i])) else {
                        continue;
                    };
                    let key = (
                        statement[i].account_id.to_string(),
                        statement[i].item.as_deref().unwrap_or_default().to_string(),
                    );
                    used.insert(key.clone());
                    let l = &mut statement[i];
                    labels.push(label(l));
                    let price = l.unit_price.unwrap_or_default();
                    match *class {
                        "missing_from_statement" => {
                            statement.retain(|l| {
                                !(l.account_id == key.0
                                    && l.item.as_deref() == Some(&key.1)
                                    && l.charge_type == "usage")
                            });
                        }
                        "quantity_mismatch" => {
                            let k = Decimal::from(rng.random_range(1..50));
                            l.usage_quantity = l.usage_quantity.map(|u| u + k);
                            l.billed_quantity = l.billed_quantity.map(|b| b + k);
                            l.amount =
                                round_money(l.billed_quantity.unwrap_or_default() * price, 2);
                        }
                        "deduction_mismatch" => {
                            let k = l
                                .deducted_quantity
                                .unwrap_or_default()
                                .min(Decimal::from(rng.random_range(1..20)))
                                .max(Decimal::ONE);
                            l.deducted_quantity = l.deducted_quantity.map(|d| d - k);
                            l.billed_quantity = l.billed_quantity.map(|b| b + k);
                            l.amount =
                                round_money(l.billed_quantity.unwrap_or_default() * price, 2);
                        }
                        "price_mismatch" => {
                            let p = (price * Decimal::new(75, 2)).round_dp(4);
                            l.unit_price = Some(p);
                            l.amount = round_money(l.billed_quantity.unwrap_or_default() * p, 2);
                            if l.amount
                                == round_money(l.billed_quantity.unwrap_or_default() * price, 2)
                            {
                                l.amount += Decimal::new(1, 2); // keep it visible on tiny lines
                            }
                        }
                        "amount_mismatch" => {
                            l.amount += Decimal::new(rng.random_range(1..100), 2);
                        }
                        "currency_mismatch" => {
                            l.currency = if l.currency == "USD" {
                                "CNY".into()
                            } else {
                                "USD".into()
                            };
                        }
                        "duplicate_charge" => {
                            let copy = l.clone();
                            statement.push(copy);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    labels.sort();
    labels
}

/// Write statement lines as a canonical statement CSV (the data contract's
/// columns, then `line_id` and `cycle_start`: [`crate::statement::CANONICAL_FIELDS`]).
pub fn write_canonical(
    path: &std::path::Path,
    lines: &[StatementLine],
) -> crate::error::Result<()> {
    let err = |e: csv::Error| crate::error::Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(crate::statement::CANONICAL_FIELDS)
        .map_err(err)?;
    let o = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
    for l in lines {
        w.write_record([
            l.account_id.to_string(),
            l.item.as_deref().unwrap_or(&l.vendor_sku).to_string(),
            l.charge_type.to_string(),
            l.billing_period.to_string(),
            o(l.usage_quantity),
            o(l.deducted_quantity),
            o(l.billed_quantity),
            o(l.unit_price),
            format!("{:.2}", l.amount),
            l.currency.to_string(),
            l.line_id.as_deref().unwrap_or_default().to_string(),
            l.cycle_start
                .map(|t| crate::period::format_time(t, 0))
                .unwrap_or_default(),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|e| crate::error::Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(())
}

/// Write the labels of injected discrepancies.
pub fn write_labels(path: &std::path::Path, labels: &[Label]) -> crate::error::Result<()> {
    let err = |e: csv::Error| crate::error::Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    for l in labels {
        w.serialize(l).map_err(err)?;
    }
    w.flush().map_err(|e| crate::error::Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(())
}
