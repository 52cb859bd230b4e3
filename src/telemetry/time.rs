//! Source timestamps: epoch seconds or milliseconds (numbers or numeric text) and RFC 3339 text,
//! turned into milliseconds since the Unix epoch without a date-time crate.
//!
//! Numbers below [`SECONDS_THRESHOLD`] (1e11) are read as epoch *seconds*: 1e11 ms is only
//! March 1973, which no live sensor reports, while 1e11 s is the year 5138, so the two ranges
//! cannot be confused for real data. Everything before 1970 or from the year 10000 on is
//! rejected: such a time is a broken clock, and accepting it would let one bad reading decide
//! the ordering of all later ones.

use super::tape::JsonNode;

/// Epoch numbers below this are seconds, at or above it milliseconds.
pub const SECONDS_THRESHOLD: f64 = 1e11;

/// First millisecond of the year 10000 (10000-01-01T00:00:00Z): the first time rejected.
pub const END_MS: f64 = 253_402_300_800_000.0;

/// Parses a JSON timestamp into milliseconds since the Unix epoch.
///
/// Accepts a number (epoch milliseconds; below 1e11 epoch seconds), the same as numeric text
/// (`"1795615653000"`), or RFC 3339 text (`2026-11-25T14:07:33Z`, `2026-11-25T14:07:33.25+01:00`;
/// a space or lowercase `t`/`z` are accepted too, as RFC 3339 §5.6 allows). The error says why a
/// value was refused, for the bad-input log.
pub fn parse_timestamp(v: &serde_json::Value) -> Result<f64, String> {
    parse_timestamp_node(v)
}

/// [`parse_timestamp`] for any [`JsonNode`] (a `serde_json::Value` or a [`Tape`] node).
///
/// [`Tape`]: super::tape::Tape
pub fn parse_timestamp_node<'a>(v: impl JsonNode<'a>) -> Result<f64, String> {
    if let Some(n) = v.as_number() {
        return match n.as_f64() {
            Some(x) => from_epoch_number(x),
            None => Err(format!("{n} is not a representable number")),
        };
    }
    if let Some(s) = v.as_str() {
        return parse_timestamp_str(s);
    }
    Err(format!(
        "expected epoch milliseconds or RFC 3339 text, got {}",
        v.kind()
    ))
}

/// Parses timestamp text: numeric text as epoch milliseconds (or seconds below 1e11), anything
/// else as RFC 3339.
pub fn parse_timestamp_str(s: &str) -> Result<f64, String> {
    let t = s.trim();
    // Numeric text first: an RFC 3339 date never parses as a float, so the order is safe.
    if let Ok(x) = t.parse::<f64>() {
        return from_epoch_number(x);
    }
    parse_rfc3339(t)
}

/// Epoch seconds or milliseconds (see the module docs) to milliseconds, range-checked.
pub(crate) fn from_epoch_number(x: f64) -> Result<f64, String> {
    if !x.is_finite() {
        return Err(format!("{x} is not a finite time"));
    }
    let ms = if x.abs() < SECONDS_THRESHOLD {
        x * 1000.0
    } else {
        x
    };
    check_range(ms)
}

fn check_range(ms: f64) -> Result<f64, String> {
    if ms < 0.0 {
        Err("is before 1970".to_owned())
    } else if ms >= END_MS {
        Err("is after the year 9999".to_owned())
    } else {
        Ok(ms)
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into epoch milliseconds.
///
/// A leap second (`:60`) is accepted and lands on the first millisecond of the next minute:
/// readings only need an ordering, and refusing a valid RFC 3339 time would drop data.
pub fn parse_rfc3339(s: &str) -> Result<f64, String> {
    const EXPECTED: &str = "expected RFC 3339 text like 2026-11-25T14:07:33Z";
    let b = s.as_bytes();
    let bad = |what: &str| Err(format!("\"{}\": {what}; {EXPECTED}", shorten(s)));
    if b.len() < 20 {
        return bad("too short");
    }
    // Fixed layout of the date and time; `get` keeps slicing panic-free on odd input.
    let sep_ok = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !sep_ok {
        return bad("misplaced separators");
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(b, 0, 4),
        digits(b, 5, 2),
        digits(b, 8, 2),
        digits(b, 11, 2),
        digits(b, 14, 2),
        digits(b, 17, 2),
    ) else {
        return bad("non-digit in date or time");
    };
    if !(1..=12).contains(&month) {
        return bad("month out of range");
    }
    if day < 1 || day > days_in_month(year as i64, month) {
        return bad("day out of range for the month");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return bad("time of day out of range");
    }
    // Fractional seconds: any number of digits, at least one; precision beyond 1 µs is noise.
    let mut i = 19;
    let mut frac_ms = 0.0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100.0;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac_ms += f64::from(d - b'0') * scale;
            scale /= 10.0;
            i += 1;
        }
        if i == start {
            return bad("no digits after the decimal point");
        }
    }
    let offset_minutes: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (Some(oh), Some(om)) = (digits(b, i + 1, 2), digits(b, i + 4, 2)) else {
                return bad("non-digit in the UTC offset");
            };
            if oh > 23 || om > 59 {
                return bad("UTC offset out of range");
            }
            let m = i64::from(oh * 60 + om);
            if sign == b'-' { -m } else { m }
        }
        Some(_) => return bad("expected Z or a ±HH:MM offset at the end"),
        None => return bad("missing time zone (Z or ±HH:MM)"),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset_minutes * 60;
    // i64 seconds → f64 ms is exact for every year 0..=9999 (|ms| < 2^53).
    check_range(seconds as f64 * 1000.0 + frac_ms)
        .map_err(|why| format!("\"{}\" {why}", shorten(s)))
}

/// `len` ASCII digits at `at` as a number, or None when any is missing or not a digit.
fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    let slice = b.get(at..at.checked_add(len)?)?;
    slice.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Gregorian leap year rule: every 4th year, except centuries not divisible by 400.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`; 0 for an invalid month.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12, day 1–31).
///
/// Counts in 400-year eras (146097 days each, the Gregorian cycle) with the year starting in
/// March, so the leap day is the last day of the shifted year and month lengths follow the
/// 153-days-per-5-months pattern; no tables and no loops.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let m = i64::from(month);
    let d = i64::from(day);
    // Shift so the year starts in March: January and February belong to the previous year.
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // 0..=399
    let shifted_month = (m + 9) % 12; // March = 0 … February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + d - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468 = days from 0000-03-01 (era 0, day 0) to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// Cuts text quoted in error messages so one bad frame cannot produce a huge log line.
fn shorten(s: &str) -> &str {
    const MAX: usize = 40;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// "a boolean", "an object", … for error messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "text",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-11-25T14:07:33Z, computed independently: 20782 days after 1970-01-01.
    const REF_MS: f64 = 1_795_615_653_000.0;

    fn ok(v: serde_json::Value) -> f64 {
        match parse_timestamp(&v) {
            Ok(ms) => ms,
            Err(e) => panic!("{v} was refused: {e}"),
        }
    }

    fn refused(v: serde_json::Value) -> String {
        match parse_timestamp(&v) {
            Ok(ms) => panic!("{v} was accepted as {ms}"),
            Err(e) => e,
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 25), 20_782);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        // Consecutive days across every month boundary of a leap and a common year.
        for year in [2023, 2024, 1900, 2000] {
            let mut expected = days_from_civil(year, 1, 1);
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                }
            }
            assert_eq!(days_from_civil(year + 1, 1, 1), expected);
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2026));
        assert_eq!(
            ok(json!("2024-02-29T00:00:00Z")),
            ok(json!("2024-03-01T00:00:00Z")) - 86_400_000.0
        );
        assert!(refused(json!("2026-02-29T00:00:00Z")).contains("day out of range"));
        assert!(refused(json!("1900-02-29T00:00:00Z")).contains("day out of range"));
        ok(json!("2000-02-29T12:00:00Z"));
    }

    #[test]
    fn epoch_numbers_are_milliseconds_or_seconds_below_1e11() {
        assert_eq!(ok(json!(1_795_615_653_000u64)), REF_MS);
        assert_eq!(ok(json!(1_795_615_653)), REF_MS, "epoch seconds");
        assert_eq!(
            ok(json!(1_795_615_653.5)),
            REF_MS + 500.0,
            "fractional seconds"
        );
        assert_eq!(ok(json!(0)), 0.0);
        assert_eq!(ok(json!("1795615653000")), REF_MS, "numeric text");
        assert_eq!(
            ok(json!(" 1795615653 ")),
            REF_MS,
            "numeric text, seconds, padded"
        );
    }

    #[test]
    fn rfc3339_text_with_fraction_and_offsets() {
        assert_eq!(ok(json!("2026-11-25T14:07:33Z")), REF_MS);
        assert_eq!(ok(json!("2026-11-25t14:07:33z")), REF_MS);
        assert_eq!(ok(json!("2026-11-25 14:07:33Z")), REF_MS);
        assert_eq!(ok(json!("2026-11-25T14:07:33.25Z")), REF_MS + 250.0);
        assert_eq!(
            ok(json!("2026-11-25T14:07:33.123456789Z")).round(),
            REF_MS + 123.0
        );
        assert_eq!(ok(json!("2026-11-25T15:07:33+01:00")), REF_MS);
        assert_eq!(ok(json!("2026-11-25T09:37:33-04:30")), REF_MS);
        assert_eq!(
            ok(json!("2026-11-26T00:07:33+10:00")),
            REF_MS,
            "offset crosses midnight"
        );
        assert_eq!(
            ok(json!("2026-11-25T14:07:60Z")),
            REF_MS + 27_000.0,
            "leap second"
        );
    }

    #[test]
    fn out_of_range_times_are_refused() {
        assert!(refused(json!(-1)).contains("before 1970"));
        assert!(refused(json!("1969-12-31T23:59:59Z")).contains("before 1970"));
        assert!(refused(json!("1970-01-01T00:30:00+01:00")).contains("before 1970"));
        ok(json!("1970-01-01T00:00:00Z"));
        ok(json!("9999-12-31T23:59:59.999Z"));
        assert!(refused(json!("9999-12-31T23:00:00-05:00")).contains("after the year 9999"));
        assert!(refused(json!(1e300)).contains("after the year 9999"));
    }

    #[test]
    fn non_finite_and_wrong_types_are_refused_with_a_reason() {
        assert!(refused(json!("NaN")).contains("finite"));
        assert!(refused(json!("inf")).contains("finite"));
        assert!(refused(json!(true)).contains("a boolean"));
        assert!(refused(json!(null)).contains("null"));
        assert!(refused(json!({"t": 1})).contains("an object"));
    }

    #[test]
    fn malformed_text_is_refused_with_a_reason() {
        for (text, why) in [
            ("", "too short"),
            ("yesterday", "too short"),
            ("2026-11-25T14:07:33", "too short"),
            ("2026-11-25T14:07:33+0100", "expected Z or"),
            ("2026-11-25T14:07:33.Z", "no digits after the decimal point"),
            ("2026/11/25T14:07:33Z", "misplaced separators"),
            ("2026-1x-25T14:07:33Z", "non-digit"),
            ("2026-13-25T14:07:33Z", "month out of range"),
            ("2026-00-25T14:07:33Z", "month out of range"),
            ("2026-04-31T14:07:33Z", "day out of range"),
            ("2026-11-25T24:00:00Z", "time of day out of range"),
            ("2026-11-25T14:60:00Z", "time of day out of range"),
            ("2026-11-25T14:07:33+24:00", "UTC offset out of range"),
            ("2026-11-25T14:07:33Zjunk", "expected Z or"),
            ("2026-11-25T14:07:33+01:0x", "non-digit in the UTC offset"),
            ("２０２６-11-25T14:07:33Z", "misplaced separators"),
        ] {
            let e = refused(json!(text));
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn error_messages_stay_short_for_huge_input() {
        let long = format!("2026-11-25T14:07:33Z{}", "é".repeat(10_000));
        assert!(refused(json!(long)).len() < 200);
    }
}
