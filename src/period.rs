//! Billing periods, cycles and calendar days in the billing time zone.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};

use crate::error::{Error, Result};
use crate::model::Micros;

pub const SECOND: Micros = 1_000_000;
pub const MINUTE: Micros = 60 * SECOND;
pub const HOUR: Micros = 60 * MINUTE;
pub const DAY: Micros = 24 * HOUR;

/// One calendar month in a billing time zone (a fixed offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub month: u32,
    /// Seconds east of UTC.
    pub offset: i32,
}

impl Period {
    /// Parse `YYYY-MM`.
    pub fn parse(s: &str, offset: i32) -> Result<Period> {
        let bad = || Error::Config(format!("period {s:?} is not YYYY-MM"));
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period {
            year,
            month,
            offset,
        })
    }

    pub fn label(&self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    pub fn next(&self) -> Period {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        Period {
            year,
            month,
            ..*self
        }
    }

    fn tz(&self) -> FixedOffset {
        FixedOffset::east_opt(self.offset).expect("offset validated by the catalog")
    }

    /// First instant of the period (UTC µs).
    pub fn start(&self) -> Micros {
        local_midnight(self.tz(), self.year, self.month, 1)
    }

    /// First instant after the period (UTC µs).
    pub fn end(&self) -> Micros {
        self.next().start()
    }

    pub fn contains(&self, t: Micros) -> bool {
        self.start() <= t && t < self.end()
    }
}

fn local_midnight(tz: FixedOffset, year: i32, month: u32, day: u32) -> Micros {
    let date = NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
    tz.from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offsets are unambiguous")
        .timestamp_micros()
}

/// The calendar date of an instant in the zone `offset`.
pub fn local_date(t: Micros, offset: i32) -> NaiveDate {
    to_datetime(t, offset).date_naive()
}

/// An instant in the zone `offset`.
pub fn to_datetime(t: Micros, offset: i32) -> DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(offset).expect("valid offset");
    Utc.timestamp_micros(t)
        .single()
        .expect("timestamp in range")
        .with_timezone(&tz)
}

/// ISO 8601 text of an instant in the zone `offset` (`2026-10-01T00:00:00+08:00`).
pub fn format_time(t: Micros, offset: i32) -> String {
    let dt = to_datetime(t, offset);
    if dt.timestamp_subsec_micros() == 0 {
        dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
    }
}

/// Midnight (UTC µs) starting a local calendar date.
pub fn date_start(date: NaiveDate, offset: i32) -> Micros {
    let tz = FixedOffset::east_opt(offset).expect("valid offset");
    local_midnight(tz, date.year(), date.month(), date.day())
}

/// Calendar days (in the zone) that `[from, until)` overlaps within `period`.
pub fn overlapping_days(from: Micros, until: Micros, period: &Period) -> i64 {
    let lo = from.max(period.start());
    let hi = until.min(period.end());
    if lo >= hi {
        return 0;
    }
    let first = local_date(lo, period.offset);
    let last = local_date(hi - 1, period.offset);
    (last - first).num_days() + 1
}

/// Whether a refund requested at `requested` for a purchase at `purchased` is
/// within the 7-day window: purchase day plus 7 calendar days, inclusive
/// (bought May 1: refundable through the end of May 8).
pub fn within_refund_window(purchased: Micros, requested: Micros, offset: i32) -> bool {
    if requested < purchased {
        return false;
    }
    let last_day = local_date(purchased, offset) + Duration::days(7);
    local_date(requested, offset) <= last_day
}

/// Last calendar day a purchase at `purchased` may be refunded.
pub fn refund_deadline(purchased: Micros, offset: i32) -> NaiveDate {
    local_date(purchased, offset) + Duration::days(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CST: i32 = 8 * 3600;

    fn utc(s: &str) -> Micros {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn november_starts_at_16_utc_on_october_31() {
        let p = Period::parse("2026-11", CST).unwrap();
        assert_eq!(p.start(), utc("2026-10-31T16:00:00Z"));
        assert_eq!(p.end(), utc("2026-11-30T16:00:00Z"));
        // The spec's example: 2026-10-31T17:30:00Z belongs to November.
        assert!(p.contains(utc("2026-10-31T17:30:00Z")));
        let oct = Period::parse("2026-10", CST).unwrap();
        assert!(!oct.contains(utc("2026-10-31T23:30:00Z")));
        assert!(oct.contains(utc("2026-10-31T15:59:59Z")));
    }

    #[test]
    fn december_rolls_into_next_year() {
        let p = Period::parse("2026-12", CST).unwrap();
        assert_eq!(p.end(), utc("2026-12-31T16:00:00Z"));
        assert!(Period::parse("2026-13", CST).is_err());
        assert!(Period::parse("26-01", CST).is_err());
    }

    #[test]
    fn refund_window_is_seven_days_inclusive_in_billing_time() {
        let bought = utc("2023-05-01T10:00:00+08:00");
        assert!(within_refund_window(
            bought,
            utc("2023-05-08T23:59:59+08:00"),
            CST
        ));
        assert!(!within_refund_window(
            bought,
            utc("2023-05-09T00:00:00+08:00"),
            CST
        ));
        // 2023-05-08T16:30Z is already May 9 in UTC+08:00.
        assert!(!within_refund_window(
            bought,
            utc("2023-05-08T16:30:00Z"),
            CST
        ));
        assert!(!within_refund_window(bought, bought - 1, CST));
    }

    #[test]
    fn days_overlapped_count_partial_days() {
        let p = Period::parse("2026-10", CST).unwrap();
        let from = utc("2026-10-03T23:00:00+08:00");
        let until = utc("2026-10-05T01:00:00+08:00");
        assert_eq!(overlapping_days(from, until, &p), 3);
        assert_eq!(overlapping_days(p.start() - DAY, p.end() + DAY, &p), 31);
        assert_eq!(overlapping_days(p.end(), p.end() + DAY, &p), 0);
    }
}
