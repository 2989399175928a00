//! Writing a reconciliation: `discrepancies`, `discrepancy_summary`,
//! `statement_problems` (Parquet + CSV) and `report.html`.

use std::collections::BTreeMap;

use std::path::Path;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::model::ExceptionRow;
use crate::output::{Col, Staging, Table, MONEY_SCALE, PRICE_SCALE, QTY_SCALE};
use crate::recon_model::{Discrepancy, Statement};
use crate::reconcile::{self, OurLine, Tolerance};
use crate::tally::Tally;

/// What a reconciliation found, for the summary line and the exit code.
#[derive(Debug, Clone, Serialize)]
pub struct ReconSummary {
    pub discrepancies: Vec<Discrepancy>,
    pub classes: BTreeMap<&'static str, u64>,
    /// Per currency: reckon's total, the statement's total.
    pub ours: BTreeMap<String, Decimal>,
    pub theirs: BTreeMap<String, Decimal>,
    /// Sum of |delta| inside tolerance, per currency.
    pub matched_within_tolerance: BTreeMap<String, Decimal>,
    /// Per vendor and currency: reckon's total, the statement's total.
    pub by_vendor: BTreeMap<(String, String), (Decimal, Decimal)>,
    pub problems: usize,
    pub notes: Vec<String>,
}

/// The vendor an item id belongs to (`tencent`, `alibaba`).
fn vendor_of(item: &str) -> &str {
    item.split('.').next().unwrap_or("")
}

/// Read the statement, reconcile and write the outputs into `staging`.
#[allow(clippy::too_many_arguments)]
pub fn reconcile_into(
    staging: &Staging,
    catalog: &Catalog,
    period: &str,
    offset: i32,
    ours: &[&OurLine],
    exceptions: &[ExceptionRow],
    statement_path: &Path,
    map_dir: &Path,
    tolerance: &Tolerance,
) -> Result<ReconSummary> {
    let t = std::time::Instant::now();
    let statement = crate::statement::read_statement_in_pieces(statement_path, catalog, map_dir)?;
    let read_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let summary = reconcile_statement(period, ours, exceptions, &statement, tolerance);
    let compare_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    write(staging, period, offset, &statement, &summary)?;
    tracing::info!(
        lines = statement.len(),
        read_s,
        compare_s,
        write_s = t.elapsed().as_secs_f64(),
        "reconcile: statement read, compared, written"
    );
    crate::discard::discard_with(statement, crate::recon_model::Statement::drop_lines);
    Ok(summary)
}

/// Reconcile an already read statement.
pub fn reconcile_statement(
    period: &str,
    ours: &[&OurLine],
    exceptions: &[ExceptionRow],
    statement: &Statement,
    tolerance: &Tolerance,
) -> ReconSummary {
    // Totals per currency and per vendor and currency, summed under
    // borrowed keys in line order: ours and the statement's each on their
    // own, beside the comparison (each is one pass over millions of lines).
    type Sums<'a> = (Tally<&'a str, Decimal>, Tally<(&'a str, &'a str), Decimal>);
    // (currency, item, amount) of each line.
    fn sums<'a>(lines: impl Iterator<Item = (&'a str, &'a str, Decimal)>) -> Sums<'a> {
        let (mut tot, mut vendor): Sums = Default::default();
        for (currency, item, amount) in lines {
            *tot.at(currency) += amount;
            *vendor.at((vendor_of(item), currency)) += amount;
        }
        (tot, vendor)
    }
    let our_sums = || sums(ours.iter().map(|l| (&*l.currency, &*l.item, l.amount)));
    let their_sums = || {
        sums(
            statement
                .all_lines()
                .filter(|l| l.billing_period == period)
                .map(|l| {
                    let item = l.item.as_deref().unwrap_or(&l.vendor_sku);
                    (&*l.currency, item, l.amount)
                }),
        )
    };
    let ((ds, (our_tot, our_vendor)), (their_tot, their_vendor)) = rayon::join(
        || {
            rayon::join(
                || reconcile::reconcile(period, ours, exceptions, statement, tolerance),
                our_sums,
            )
        },
        their_sums,
    );
    let owned = |m: Tally<&str, Decimal>| -> BTreeMap<String, Decimal> {
        m.values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    };
    let (our_tot, their_tot) = (owned(our_tot), owned(their_tot));
    let mut by_vendor: BTreeMap<(String, String), (Decimal, Decimal)> = BTreeMap::new();
    for ((v, c), x) in our_vendor.values {
        by_vendor
            .entry((v.to_string(), c.to_string()))
            .or_default()
            .0 += x;
    }
    for ((v, c), x) in their_vendor.values {
        by_vendor
            .entry((v.to_string(), c.to_string()))
            .or_default()
            .1 += x;
    }
    let mut matched: BTreeMap<String, Decimal> = BTreeMap::new();
    for d in ds.iter().filter(|d| d.within_tolerance) {
        *matched.entry(d.currency.clone()).or_default() += d.delta_amount.abs();
    }
    ReconSummary {
        classes: reconcile::class_counts(&ds),
        discrepancies: ds,
        ours: our_tot,
        theirs: their_tot,
        matched_within_tolerance: matched,
        by_vendor,
        problems: statement.problems.len(),
        notes: statement.notes.clone(),
    }
}

fn write(
    staging: &Staging,
    period: &str,
    offset: i32,
    statement: &Statement,
    s: &ReconSummary,
) -> Result<()> {
    let ds = &s.discrepancies;
    let st = |f: &dyn Fn(&Discrepancy) -> String| ds.iter().map(|d| Some(f(d))).collect::<Vec<_>>();
    let od = |f: &dyn Fn(&Discrepancy) -> Option<Decimal>| ds.iter().map(f).collect::<Vec<_>>();
    staging.write_table(&Table {
        name: "discrepancies",
        offset,
        columns: vec![
            Col::Str("account_id", st(&|d| d.account_id.clone())),
            Col::Str("item", st(&|d| d.item.clone())),
            Col::Str("charge_type", st(&|d| d.charge_type.clone())),
            Col::Str("billing_period", st(&|d| d.billing_period.clone())),
            Col::Time("cycle_start", ds.iter().map(|d| d.cycle_start).collect()),
            Col::Str("class", st(&|d| d.class.clone())),
            Col::Dec(
                "our_usage_quantity",
                QTY_SCALE,
                od(&|d| d.our_usage_quantity),
            ),
            Col::Dec(
                "their_usage_quantity",
                QTY_SCALE,
                od(&|d| d.their_usage_quantity),
            ),
            Col::Dec(
                "our_deducted_quantity",
                QTY_SCALE,
                od(&|d| d.our_deducted_quantity),
            ),
            Col::Dec(
                "their_deducted_quantity",
                QTY_SCALE,
                od(&|d| d.their_deducted_quantity),
            ),
            Col::Dec(
                "our_billed_quantity",
                QTY_SCALE,
                od(&|d| d.our_billed_quantity),
            ),
            Col::Dec(
                "their_billed_quantity",
                QTY_SCALE,
                od(&|d| d.their_billed_quantity),
            ),
            Col::Dec("our_unit_price", PRICE_SCALE, od(&|d| d.our_unit_price)),
            Col::Dec("their_unit_price", PRICE_SCALE, od(&|d| d.their_unit_price)),
            Col::Dec("our_amount", MONEY_SCALE, od(&|d| Some(d.our_amount))),
            Col::Dec("their_amount", MONEY_SCALE, od(&|d| Some(d.their_amount))),
            Col::Dec("delta_amount", MONEY_SCALE, od(&|d| Some(d.delta_amount))),
            Col::Str("currency", st(&|d| d.currency.clone())),
            Col::Bool(
                "within_tolerance",
                ds.iter().map(|d| Some(d.within_tolerance)).collect(),
            ),
            Col::Str("explanation", st(&|d| d.explanation.clone())),
            Col::Str("vendor_lines", st(&|d| d.vendor_lines.clone())),
        ],
    })?;
    let rows = reconcile::summarize(ds);
    staging.write_table(&Table {
        name: "discrepancy_summary",
        offset,
        columns: vec![
            Col::Str(
                "account_id",
                rows.iter().map(|r| Some(r.account_id.clone())).collect(),
            ),
            Col::Str(
                "class",
                rows.iter().map(|r| Some(r.class.clone())).collect(),
            ),
            Col::Str(
                "currency",
                rows.iter().map(|r| Some(r.currency.clone())).collect(),
            ),
            Col::Int("count", rows.iter().map(|r| Some(r.count as i64)).collect()),
            Col::Dec(
                "ours",
                MONEY_SCALE,
                rows.iter().map(|r| Some(r.ours)).collect(),
            ),
            Col::Dec(
                "theirs",
                MONEY_SCALE,
                rows.iter().map(|r| Some(r.theirs)).collect(),
            ),
            Col::Dec(
                "delta",
                MONEY_SCALE,
                rows.iter().map(|r| Some(r.delta)).collect(),
            ),
            Col::Int(
                "within_tolerance",
                rows.iter()
                    .map(|r| Some(r.within_tolerance as i64))
                    .collect(),
            ),
        ],
    })?;
    let p = &statement.problems;
    staging.write_table(&Table {
        name: "statement_problems",
        offset,
        columns: vec![
            Col::Str("file", p.iter().map(|x| Some(x.file.clone())).collect()),
            Col::Int("row", p.iter().map(|x| Some(x.row as i64)).collect()),
            Col::Str("column", p.iter().map(|x| Some(x.column.clone())).collect()),
            Col::Str("value", p.iter().map(|x| x.value.clone()).collect()),
            Col::Str("reason", p.iter().map(|x| Some(x.reason.clone())).collect()),
        ],
    })?;
    let html = crate::report::render_report(&crate::report::ReportInput {
        period: period.to_string(),
        discrepancies: ds,
        statement_notes: &s.notes,
        problems: s.problems,
        ours_by_currency: s.ours.clone(),
        theirs_by_currency: s.theirs.clone(),
        vendors: s
            .by_vendor
            .iter()
            .map(|((v, c), (o, t))| (v.clone(), c.clone(), *o, *t))
            .collect(),
    });
    staging.write_text("report.html", &html)
}

/// `reckon diff`: reconcile a finished run's invoice against a statement and
/// write the reconciliation outputs into `out` (staged, renamed into place).
pub fn diff(
    invoice_dir: &Path,
    out: &Path,
    catalog: &Catalog,
    statement_path: &Path,
    map_dir: &Path,
    tolerance: &Tolerance,
) -> Result<ReconSummary> {
    let manifest_path = invoice_dir.join("manifest.json");
    let manifest: serde_json::Value = std::fs::read_to_string(&manifest_path)
        .map_err(|e| crate::error::Error::input(&manifest_path, e.to_string()))
        .and_then(|t| {
            serde_json::from_str(&t)
                .map_err(|e| crate::error::Error::input(&manifest_path, e.to_string()))
        })?;
    let period = manifest["period"]
        .as_str()
        .ok_or_else(|| crate::error::Error::input(&manifest_path, "no period"))?
        .to_string();
    let offset = crate::run::catalog_offset(catalog)?;
    let ours = reconcile::read_our_lines(invoice_dir)?;
    let ours: Vec<&OurLine> = ours.iter().collect();
    let exceptions = reconcile::read_exceptions(invoice_dir)?;
    let staging = Staging::begin(out)?;
    let s = reconcile_into(
        &staging,
        catalog,
        &period,
        offset,
        &ours,
        &exceptions,
        statement_path,
        map_dir,
        tolerance,
    )?;
    staging.commit()?;
    Ok(s)
}
