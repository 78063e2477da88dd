//! Wall-clock stamps: the run directory's name and the lines of the runner's own log, in UTC, as
//! the servers' logs write them.

/// The wall-clock time now, as the servers' logs write it (`2026-03-21T10:15:02.123Z`), for the
/// runner's own log.
pub fn wall_clock_text() -> String {
    // The runner's log is read beside the servers', which stamp lines with the wall clock.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let stamp = utc_stamp(since.as_secs());
    format!(
        "{}-{}-{}T{}:{}:{}.{:03}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15],
        since.subsec_millis()
    )
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the Unix epoch, in UTC.
pub fn utc_stamp(secs: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(951_782_400 + 86_399), "20000229T235959Z");
        assert_eq!(utc_stamp(4_102_444_800), "21000101T000000Z");
    }
}
