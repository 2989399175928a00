//! The compact, typed rows the per-account stage works on, and the rows it
//! produces. Times are microseconds since the Unix epoch (UTC); the billing
//! time zone is applied where cycles and calendar days are computed.

use std::sync::Arc;

use rust_decimal::Decimal;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// Package kinds, in the default deduction order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PackageKind {
    Free,
    Campaign,
    Prepaid,
}

impl PackageKind {
    pub fn parse(s: &str) -> Option<PackageKind> {
        match s {
            "free" => Some(PackageKind::Free),
            "campaign" => Some(PackageKind::Campaign),
            "prepaid" => Some(PackageKind::Prepaid),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Free => "free",
            PackageKind::Campaign => "campaign",
            PackageKind::Prepaid => "prepaid",
        }
    }
}

/// One row of the `packages` input, validated. Quantities are in billing units
/// as in the file; `remaining_measure` is the exact balance in measure units
/// (seconds for minute-billed items) when the file carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub package_id: String,
    pub account_id: String,
    pub item: String,
    pub kind: PackageKind,
    pub size: Decimal,
    pub remaining: Decimal,
    pub remaining_measure: Option<Decimal>,
    pub effective_at: Micros,
    pub expires_at: Micros,
    pub price: Option<Decimal>,
    pub currency: Option<String>,
    pub refunded_at: Option<Micros>,
    /// Source position, for messages.
    pub file: String,
    pub row: u64,
}

/// Per account and product settings (`accounts` input), with catalog defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSetting {
    pub account_id: String,
    pub product: String,
    pub postpaid_enabled: Option<bool>,
    /// `usage`, `concurrent` or `qps`.
    pub billing_mode: String,
    pub suspended_from: Option<Micros>,
    pub suspended_until: Option<Micros>,
}

/// One row of the `subscriptions` input.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub subscription_id: String,
    pub account_id: String,
    pub item: String,
    pub quantity: Decimal,
    /// `day` or `month`.
    pub term: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
}

/// A reduced usage row: all successful, de-duplicated events of one account,
/// item and price key whose event time lies in `[start, end)`. Buckets never
/// straddle a cycle boundary, a package's effective / expiry / refund time or a
/// suspension edge, so everything deduction needs is constant inside one.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Text shared by an account's buckets (the reduction makes each
    /// account's id, items and price keys once per account).
    pub account_id: Arc<str>,
    pub item: Arc<str>,
    pub region: Option<Arc<str>>,
    pub resolution: Option<Arc<str>>,
    pub cycle_start: Micros,
    pub start: Micros,
    pub end: Micros,
    /// Billable quantity in measure units, after per-task rounding.
    pub quantity: Decimal,
    pub events: u64,
    /// Earliest event time in the bucket.
    pub first_time: Micros,
    /// The id of the bucket's event when it holds exactly one, else empty.
    /// Exceptions name an event only when exactly one is refused, so a wider
    /// bucket's id is never needed (its first time is). Empty too when
    /// `first_row` is given: the id is looked up only if an exception names it.
    pub first_event_id: String,
    /// The row key of the bucket's event when it holds exactly one and its
    /// id has not been read (the pipeline's buckets).
    pub first_row: Option<i64>,
}

/// `invoice_lines` row (the default: empty texts, zero quantities and amount).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvoiceLine {
    pub account_id: String,
    pub item: String,
    /// `usage`, `purchase`, `subscription` or `refund`.
    pub charge_type: String,
    pub cycle_start: Micros,
    pub usage_quantity: Decimal,
    pub free_quantity: Decimal,
    pub campaign_quantity: Decimal,
    pub prepaid_quantity: Decimal,
    pub postpaid_quantity: Decimal,
    pub tier: Option<String>,
    pub unit_price: Option<Decimal>,
    pub amount: Decimal,
    pub currency: String,
    /// `package_id:quantity` pairs drawn, `;`-separated.
    pub packages: String,
    // Columns after the contract's.
    pub region: Option<String>,
    pub resolution: Option<String>,
    /// Usage covered by a concurrency / QPS subscription (not rated per call).
    pub subscription_quantity: Decimal,
    /// Usage refused (postpaid off, suspended, no price): reported in exceptions.
    pub refused_quantity: Decimal,
    pub events: u64,
    /// Package or subscription id for purchase / refund / subscription lines.
    pub reference: Option<String>,
}

/// The month's invoice lines, in order, kept in the vectors the
/// per-account stage made them in (one per account) instead of moved into
/// one: at 100M events the month's 11.7M lines are 4.4 GB, and one vector
/// that size takes fresh pages from the system (2.5 s per GB to touch on the
/// benchmark machine), while an account's vector reuses what the allocator
/// already holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Lines {
    parts: Vec<Vec<InvoiceLine>>,
    /// The index of each part's first line.
    starts: Vec<usize>,
    len: usize,
}

impl Lines {
    /// Append `part`'s lines.
    pub fn push(&mut self, part: Vec<InvoiceLine>) {
        if !part.is_empty() {
            self.starts.push(self.len);
            self.len += part.len();
            self.parts.push(part);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> std::iter::Flatten<std::slice::Iter<'_, Vec<InvoiceLine>>> {
        self.parts.iter().flatten()
    }

    /// The lines of `r` (clipped to the lines there are), each with its
    /// index.
    pub fn range(
        &self,
        r: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, &InvoiceLine)> + Clone + '_ {
        let (start, end) = (r.start, r.end.min(self.len));
        // The part holding `start`, then on while parts start before `end`.
        let first = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        self.parts[first..]
            .iter()
            .zip(&self.starts[first..])
            .take_while(move |(_, &s)| s < end)
            .flat_map(move |(p, &s)| {
                let hi = (end - s).min(p.len());
                let lo = start.saturating_sub(s).min(hi);
                p[lo..hi]
                    .iter()
                    .enumerate()
                    .map(move |(k, l)| (s + lo + k, l))
            })
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Vec<InvoiceLine>] {
        &self.parts
    }

    /// The parts, taken over.
    pub fn into_parts(self) -> Vec<Vec<InvoiceLine>> {
        self.parts
    }
}

impl From<Vec<InvoiceLine>> for Lines {
    fn from(v: Vec<InvoiceLine>) -> Lines {
        let mut lines = Lines::default();
        lines.push(v);
        lines
    }
}

impl<'a> IntoIterator for &'a Lines {
    type Item = &'a InvoiceLine;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<InvoiceLine>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `package_ledger` row: the package as it closes the period.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    pub package: Package,
    pub opening: Decimal,
    pub deducted: Decimal,
    pub expired: Decimal,
    pub refunded: Decimal,
    pub closing: Decimal,
    /// Exact closing balance in measure units.
    pub closing_measure: Decimal,
}

/// `exceptions` row.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionRow {
    pub account_id: String,
    pub item: String,
    pub event_id: Option<String>,
    pub event_time: Option<Micros>,
    /// `postpaid_disabled`, `account_suspended`, `unknown_item`, `no_price`, `refund_rejected`.
    pub reason: String,
    pub quantity: Decimal,
    pub package_id: Option<String>,
    pub events: u64,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64) -> InvoiceLine {
        InvoiceLine {
            charge_type: "usage".into(),
            events: n,
            ..InvoiceLine::default()
        }
    }

    #[test]
    fn lines_in_parts_give_every_range_as_one_vector_would() {
        // Parts of 3, 0 (left out), 1, 5 and 2 lines: line k has k events.
        let mut lines = Lines::default();
        let mut next = 0;
        for size in [3, 0, 1, 5, 2] {
            lines.push((next..next + size).map(line).collect());
            next += size;
        }
        let flat: Vec<InvoiceLine> = (0..next).map(line).collect();
        assert_eq!(lines.len(), flat.len());
        assert_eq!(lines.parts().len(), 4, "an empty part is not kept");
        assert!(lines.iter().eq(flat.iter()));
        for start in 0..=12 {
            for end in 0..=13 {
                let want: Vec<(usize, u64)> =
                    (start..end.min(11)).map(|i| (i, flat[i].events)).collect();
                let got: Vec<(usize, u64)> = lines
                    .range(start..end)
                    .map(|(i, l)| (i, l.events))
                    .collect();
                assert_eq!(got, want, "{start}..{end}");
            }
        }
        assert_eq!(Lines::default().range(0..5).count(), 0);
        assert_eq!(Lines::from(flat.clone()).iter().count(), 11);
    }
}
