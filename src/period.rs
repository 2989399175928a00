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

/// Midnight starting a valid local date, in UTC µs: the day count times a
/// day, less the offset (plain integer arithmetic: periods and cycles ask
/// for it once per row written, and chrono's checked path weighed on that).
fn local_midnight(tz: FixedOffset, year: i32, month: u32, day: u32) -> Micros {
    debug_assert!(NaiveDate::from_ymd_opt(year, month, day).is_some());
    let secs =
        days_from_civil(i64::from(year), month, day) * 86_400 - i64::from(tz.local_minus_utc());
    secs * SECOND
}

/// Days from 1970-01-01 to a proleptic Gregorian date (negative before),
/// Howard Hinnant's `days_from_civil`.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) `days` after 1970-01-01, Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    fn calendar_arithmetic_matches_chrono() {
        // Every day from 1600 to 2400 both ways, and midnights in several zones.
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut date = NaiveDate::from_ymd_opt(1600, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(2400, 12, 31).unwrap();
        while date <= last {
            let days = (date - epoch).num_days();
            let (y, m, d) = (i64::from(date.year()), date.month(), date.day());
            assert_eq!(days_from_civil(y, m, d), days, "{date}");
            assert_eq!(civil_from_days(days), (y, m, d), "{date}");
            date = date.succ_opt().unwrap();
        }
        for offset in [0, CST, -5 * 3600, 5 * 3600 + 1800, -9000] {
            for s in ["2026-01-01", "2024-02-29", "1999-12-31", "2100-03-01"] {
                let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
                let tz = FixedOffset::east_opt(offset).unwrap();
                let want = tz
                    .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                    .single()
                    .unwrap()
                    .timestamp_micros();
                assert_eq!(date_start(date, offset), want, "{s} {offset}");
            }
        }
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
