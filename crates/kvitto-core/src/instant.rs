//! RFC 3339 UTC instants as the contract restricts them, compared exactly.

use core::fmt;

/// A point in time to the nanosecond, ordered exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Seconds since 1970-01-01T00:00:00Z.
    secs: i64,
    nanos: u32,
}

impl Instant {
    /// Parse `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, years 1970 to 9999, a real date,
    /// hours 00–23, no leap second. Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Instant> {
        let b = s.as_bytes();
        if b.len() < 20 || b.last() != Some(&b'Z') {
            return None;
        }
        let num = |r: core::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let nanos = match &b[19..b.len() - 1] {
            [] => 0,
            [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
                let digits = num(20..20 + frac.len())?;
                digits * 10u32.pow(9 - frac.len() as u32)
            }
            _ => return None,
        };
        let days = days_from_civil(i64::from(year), month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        Some(Instant { secs, nanos })
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// The sub-second part, in nanoseconds.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// The instant at `secs` and `nanos` since the epoch, if it lies in 1970..=9999.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Instant> {
        const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        ((0..=MAX).contains(&secs) && nanos < 1_000_000_000).then_some(Instant { secs, nanos })
    }
}

/// Writes the canonical form: the fraction with trailing zeros dropped, none when zero.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        if self.nanos != 0 {
            let mut frac = self.nanos;
            let mut width = 9;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width -= 1;
            }
            write!(f, ".{frac:0width$}")?;
        }
        f.write_str("Z")
    }
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn accepts_and_orders() {
        let a = Instant::parse("2026-11-22T01:15:00Z").unwrap();
        let b = Instant::parse("2026-11-22T01:15:00.000000001Z").unwrap();
        let c = Instant::parse("2026-11-22T01:15:00.1Z").unwrap();
        assert!(a < b && b < c);
        assert_eq!(Instant::parse("2026-11-22T01:15:00.0Z"), Some(a));
        assert_eq!(
            Instant::parse("1970-01-01T00:00:00Z")
                .unwrap()
                .unix_seconds(),
            0
        );
        assert_eq!(
            Instant::parse("2024-02-29T12:00:00Z").unwrap().to_string(),
            "2024-02-29T12:00:00Z"
        );
        assert_eq!(c.to_string(), "2026-11-22T01:15:00.1Z");
        assert!(Instant::parse("9999-12-31T23:59:59.999999999Z").is_some());
    }

    #[test]
    fn rejects() {
        for bad in [
            "2026-11-22T01:15:00z",
            "2026-11-22t01:15:00Z",
            "2026-11-22T01:15:00+00:00",
            "2026-11-22 01:15:00Z",
            "2026-11-22T01:15:00.Z",
            "2026-11-22T01:15:00.1234567890Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T23:59:60Z",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "10000-01-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "2026-11-22T01:15:0\u{0660}Z",
            "2026-1-22T01:15:00Z",
            "",
        ] {
            assert_eq!(Instant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_civil() {
        for days in [0i64, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m as u32, d as u32), days);
        }
    }
}
