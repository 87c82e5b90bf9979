//! Time for policy decisions, injectable so tests can pin it, and a small
//! UTC formatter for messages (no timezone database needed).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Environment variable that pins "now" (Unix seconds) for policy checks and
/// key generation. Honoured only by builds with the `test-clock` feature,
/// which only the test suite turns on: a release binary has no hidden clock
/// (docs/exit-codes.md, Environment).
pub const NOW_ENV: &str = "SEALPIPE_NOW";

/// Whether this build honours [`NOW_ENV`].
pub const CLOCK_IS_PINNABLE: bool = cfg!(feature = "test-clock");

/// The reference time for every policy decision of a run: the clock, or
/// `$SEALPIPE_NOW` in a test build.
pub fn now() -> Result<SystemTime> {
    let pinned = std::env::var(NOW_ENV).ok().filter(|_| CLOCK_IS_PINNABLE);
    Ok(pinned_time(pinned.as_deref())?.unwrap_or_else(SystemTime::now))
}

/// The time a `SEALPIPE_NOW` value pins, if one is given.
fn pinned_time(value: Option<&str>) -> Result<Option<SystemTime>> {
    value
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
                .map_err(|_| Error::Usage(format!("{NOW_ENV} must be Unix seconds, got '{s}'")))
        })
        .transpose()
}

/// `2026-11-22 13:45:00 UTC`
pub fn format_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        // Before 1970, round down too: half a second before is 23:59:59.
        .unwrap_or_else(|e| {
            let before = e.duration();
            -(before.as_secs() as i64) - i64::from(before.subsec_nanos() > 0)
        });
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_time_is_unix_seconds() {
        assert_eq!(pinned_time(None).unwrap(), None);
        let t = pinned_time(Some(" 1780272000\n")).unwrap();
        assert_eq!(t, Some(UNIX_EPOCH + Duration::from_secs(1_780_272_000)));
        assert!(pinned_time(Some("tomorrow")).is_err());
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_355_100);
        assert_eq!(format_utc(t), "2026-11-22 13:45:00 UTC");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format_utc(leap), "2000-02-29 00:00:00 UTC");
        let half = Duration::from_millis(500);
        assert_eq!(format_utc(UNIX_EPOCH + half), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(UNIX_EPOCH - half), "1969-12-31 23:59:59 UTC");
        let second = Duration::from_secs(1);
        assert_eq!(format_utc(UNIX_EPOCH - second), "1969-12-31 23:59:59 UTC");
    }

    /// Every day from 1600 to 2400 (two whole 400-year eras, each century
    /// rule, before and after 1970), against a calendar counted day by day,
    /// each at a different time of day.
    #[test]
    fn every_day_of_two_eras_matches_a_counted_calendar() {
        let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let days_in = |y: i64, m: i64| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut day: i64 = -(1600..1970)
            .map(|y| if leap(y) { 366 } else { 365 })
            .sum::<i64>();
        for year in 1600..=2400 {
            for month in 1..=12 {
                for dom in 1..=days_in(year, month) {
                    let of_day = day.rem_euclid(86_400 / 7) * 7 + day.rem_euclid(7);
                    let secs = day * 86_400 + of_day;
                    let t = match u64::try_from(secs) {
                        Ok(s) => UNIX_EPOCH + Duration::from_secs(s),
                        Err(_) => UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()),
                    };
                    let want = format!(
                        "{year:04}-{month:02}-{dom:02} {:02}:{:02}:{:02} UTC",
                        of_day / 3600,
                        of_day / 60 % 60,
                        of_day % 60
                    );
                    assert_eq!(format_utc(t), want, "day {day}");
                    day += 1;
                }
            }
        }
    }
}
