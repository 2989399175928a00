//! Types shared by reconciliation: the vendor statement in reckon's canonical
//! shape, and the discrepancies found against reckon's own invoice.

use std::sync::Arc;

use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::Micros;

/// One vendor statement line, normalised. Quantities are in the item's billing
/// unit (calls, pictures, minutes, 1,000 tokens); money in `currency`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementLine {
    /// The file and 1-based row (CSV: line number, header = 1) it came from.
    /// Shared by the lines of one file.
    pub source_file: Arc<str>,
    pub source_row: u64,
    /// The vendor's own line id (Tencent transaction id, Alibaba `Primary Key`, FOCUS row key), if any.
    pub line_id: Option<CompactString>,
    /// `tencent_bill_details`, `alibaba_billing_details`, `focus`, `canonical`.
    pub format: &'static str,
    pub account_id: CompactString,
    /// reckon item id; `None` when the vendor SKU has no mapping.
    pub item: Option<CompactString>,
    /// The vendor's own product / component / billable-item text, kept for reports.
    pub vendor_sku: CompactString,
    /// `usage`, `purchase`, `subscription`, `refund`, `adjustment`.
    pub charge_type: CompactString,
    /// `YYYY-MM`.
    pub billing_period: CompactString,
    /// Start of the usage window when the line has one (UTC µs).
    pub cycle_start: Option<Micros>,
    /// Raw metered usage before package deduction.
    pub usage_quantity: Option<Decimal>,
    /// Covered by packages.
    pub deducted_quantity: Option<Decimal>,
    /// Billed postpaid.
    pub billed_quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub amount: Decimal,
    pub currency: CompactString,
}

/// A statement row reckon could not use: reported, never dropped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementProblem {
    pub file: String,
    pub row: u64,
    pub column: String,
    pub value: Option<String>,
    /// `unmapped_sku`, `unknown_currency`, `float_money`, `bad_decimal`, `bad_period`, `missing_value`, ...
    pub reason: String,
}

/// A statement as read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Statement {
    pub lines: Vec<StatementLine>,
    /// Lines after `lines`, kept in the pieces they were read in
    /// ([`crate::statement::read_statement_in_pieces`]): a 100M-event
    /// month's statement has 11.7M lines, 3.7 GB, and one vector that size
    /// takes fresh pages from the system where pieces reuse memory the run
    /// has freed.
    pub pieces: Vec<Vec<StatementLine>>,
    pub problems: Vec<StatementProblem>,
    /// Notes for the report (e.g. "the export has no deducted quantities: package
    /// deduction is checked against reckon's own ledger only").
    pub notes: Vec<String>,
}

impl Statement {
    /// Lines in all.
    pub fn len(&self) -> usize {
        self.lines.len() + self.pieces.iter().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every line, in statement order.
    pub fn all_lines(&self) -> impl Iterator<Item = &StatementLine> {
        self.lines.iter().chain(self.pieces.iter().flatten())
    }

    /// Every line, on rayon (collected, in statement order).
    pub fn par_lines(&self) -> impl rayon::iter::ParallelIterator<Item = &StatementLine> {
        use rayon::prelude::*;
        self.lines
            .par_iter()
            .chain(self.pieces.par_iter().flat_map_iter(|p| p.iter()))
    }

    /// Free the lines on rayon (millions of small strings).
    pub fn drop_lines(self) {
        use rayon::prelude::*;
        self.lines.into_par_iter().for_each(drop);
        self.pieces.into_par_iter().for_each(drop);
    }
}

/// Every difference gets exactly one class.
pub const CLASSES: &[&str] = &[
    "missing_from_statement",
    "unexpected_charge",
    "quantity_mismatch",
    "deduction_mismatch",
    "price_mismatch",
    "amount_mismatch",
    "currency_mismatch",
    "refused_usage_billed",
    "duplicate_charge",
];

/// One difference between reckon's invoice and the vendor's statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discrepancy {
    pub account_id: String,
    pub item: String,
    pub charge_type: String,
    pub billing_period: String,
    pub cycle_start: Option<Micros>,
    /// One of [`CLASSES`].
    pub class: String,
    pub our_usage_quantity: Option<Decimal>,
    pub their_usage_quantity: Option<Decimal>,
    pub our_deducted_quantity: Option<Decimal>,
    pub their_deducted_quantity: Option<Decimal>,
    pub our_billed_quantity: Option<Decimal>,
    pub their_billed_quantity: Option<Decimal>,
    pub our_unit_price: Option<Decimal>,
    pub their_unit_price: Option<Decimal>,
    pub our_amount: Decimal,
    pub their_amount: Decimal,
    /// `their_amount - our_amount`, in `currency`.
    pub delta_amount: Decimal,
    pub currency: String,
    /// Inside the configured tolerance: counted as matched.
    pub within_tolerance: bool,
    /// One sentence with the numbers.
    pub explanation: String,
    /// The vendor line ids behind it, `;`-separated.
    pub vendor_lines: String,
}
