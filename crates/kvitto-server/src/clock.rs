//! Wall-clock time in milliseconds and its RFC 3339 spelling (the only clock reads).

use std::time::{SystemTime, UNIX_EPOCH};

use kvitto_core::Instant;

/// Milliseconds since the Unix epoch, now (UTC).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `ms` as an RFC 3339 UTC instant with exactly three fraction digits,
/// `2026-11-22T01:15:00.123Z`. Out-of-range values clamp to 1970 / 9999.
pub fn rfc3339_ms(ms: i64) -> String {
    let ms = ms.clamp(0, 253_402_300_799_999);
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let whole = Instant::from_unix(secs, 0)
        .map(|i| i.to_string())
        .unwrap_or_else(|| String::from("1970-01-01T00:00:00Z"));
    format!("{}.{frac:03}Z", whole.trim_end_matches('Z'))
}

/// Parse an RFC 3339 instant (the contract's spelling) to milliseconds,
/// rounding a sub-millisecond fraction up (so `t` ≤ the result).
pub fn parse_ms(s: &str) -> Option<i64> {
    let i = Instant::parse(s)?;
    let sub = i64::from(i.subsec_nanos());
    Some(i.unix_seconds() * 1000 + (sub + 999_999) / 1_000_000)
}

/// The UTC day number (days since 1970-01-01) of `ms`.
pub fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_and_parses_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_310_100_123), "2026-11-22T01:15:00.123Z");
        assert_eq!(
            parse_ms("2026-11-22T01:15:00.123Z"),
            Some(1_795_310_100_123)
        );
        assert_eq!(parse_ms("2026-11-22T01:15:00Z"), Some(1_795_310_100_000));
        assert_eq!(
            parse_ms("2026-11-22T01:15:00.0001Z"),
            Some(1_795_310_100_001)
        );
        assert_eq!(parse_ms("2026-11-22 01:15:00Z"), None);
        assert_eq!(utc_day(86_400_000 - 1), 0);
        assert_eq!(utc_day(86_400_000), 1);
        assert!(Instant::parse(&rfc3339_ms(now_ms())).is_some());
    }
}
