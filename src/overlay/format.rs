//! Value and age text for labels.
//!
//! Conventions, chosen once so every label agrees:
//! - negative numbers use the typographic minus `−` (U+2212), which has the width of `+` and
//!   reads better at a distance; exponents keep the programmer's `e-5`;
//! - a space separates a number from its unit (SI style: `21.5 °C`, `3.2 bar`), except for
//!   `%`, `‰` and the bare angle signs `°`, `′`, `″` (`45%`, `90°`);
//! - booleans read `on` / `off` and carry no unit;
//! - NaN reads `—` (no value), infinities `∞` / `−∞`;
//! - no thousands separators: labels are short and separators differ by locale.

use crate::overlay::rules::MAX_PRECISION;
use crate::telemetry::Value;

/// Longest text value shown, in characters; longer text ends in `…` within this count.
pub const MAX_TEXT_CHARS: usize = 24;

/// Shown instead of a number that is not a number.
pub const NOT_A_NUMBER: &str = "—";

const MINUS: char = '\u{2212}';

/// Units written straight after the number.
const UNSPACED_UNITS: &[&str] = &["%", "‰", "°", "′", "″"];

/// Units that take an SI prefix as they are (`MW`, `GPa`); anything else (`bar`, `m³/h`,
/// `rpm`, `kW`, which already has a prefix) would change meaning, so huge values in those
/// units use scientific notation instead.
const PREFIXABLE_UNITS: &[&str] = &[
    "W", "Wh", "VA", "var", "J", "Pa", "V", "A", "Hz", "Ω", "N", "B", "bit", "g", "m", "t",
];

/// SI prefixes for exponents 6, 9, 12, 15, 18.
const BIG_PREFIXES: &[(i32, &str)] = &[(6, "M"), (9, "G"), (12, "T"), (15, "P"), (18, "E")];

/// From this magnitude up, numbers are shown with an SI prefix or in scientific notation so
/// a label never grows past a few characters.
const HUGE: f64 = 1e6;

/// Below this magnitude (and above zero), numbers without a fixed precision are shown in
/// scientific notation; with a fixed precision they round like any other number.
const TINY: f64 = 1e-3;

/// A value as label text, with its unit.
///
/// `precision` fixes the decimals (capped at 6). Without it, the sensor's `range` sets them
/// so the span shows about four significant digits (span ≥ 1000: 0 decimals, ≥ 100: 1,
/// ≥ 10: 2, …), keeping the width steady as the value moves. With neither, the value's own
/// magnitude sets about four significant digits and trailing zeros are dropped.
pub fn format_value(
    value: &Value,
    unit: Option<&str>,
    precision: Option<u8>,
    range: Option<[f64; 2]>,
) -> String {
    match value {
        Value::Bool(true) => "on".to_owned(),
        Value::Bool(false) => "off".to_owned(),
        Value::Text(text) => truncate_text(text),
        Value::Number(v) => format_number(*v, unit, precision, range),
    }
}

fn format_number(
    v: f64,
    unit: Option<&str>,
    precision: Option<u8>,
    range: Option<[f64; 2]>,
) -> String {
    if v.is_nan() {
        return NOT_A_NUMBER.to_owned();
    }
    if v.is_infinite() {
        let body = if v > 0.0 {
            "∞".to_owned()
        } else {
            format!("{MINUS}∞")
        };
        return with_unit(body, unit);
    }
    if v.abs() >= HUGE {
        return huge(v, unit);
    }
    let body = match (precision, range.and_then(range_decimals)) {
        (Some(p), _) => fixed(v, usize::from(p.min(MAX_PRECISION))),
        (None, Some(Decimals::Fixed(d))) => fixed(v, d),
        // A range narrower than a thousandth needs more than 6 decimals: go scientific.
        (None, Some(Decimals::Scientific)) if v != 0.0 => scientific(v, 2),
        (None, Some(Decimals::Scientific)) => "0".to_owned(),
        (None, None) => automatic(v),
    };
    with_unit(body, unit)
}

enum Decimals {
    Fixed(usize),
    Scientific,
}

/// Decimals for about four significant digits of the range's span.
fn range_decimals([lo, hi]: [f64; 2]) -> Option<Decimals> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return None;
    }
    let d = 3 - span.log10().floor() as i64;
    Some(if d > i64::from(MAX_PRECISION) {
        Decimals::Scientific
    } else {
        Decimals::Fixed(d.max(0) as usize)
    })
}

/// No precision and no range: about four significant digits of the value, trailing zeros
/// dropped (a counter reads `42`, not `42.00`).
fn automatic(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if v.abs() < TINY {
        return scientific(v, 2);
    }
    let d = (3 - v.abs().log10().floor() as i64).clamp(0, 3) as usize;
    let mut s = fixed(v, d);
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    s
}

/// `v` with `decimals` decimals; a value that rounds to zero loses its sign (no `−0.00`).
fn fixed(v: f64, decimals: usize) -> String {
    let digits = format!("{:.*}", decimals, v.abs());
    let is_zero = digits.bytes().all(|b| b == b'0' || b == b'.');
    if v < 0.0 && !is_zero {
        format!("{MINUS}{digits}")
    } else {
        digits
    }
}

/// Scientific notation with `significant` digits: `1.2e-5`, `−3.4e7`.
fn scientific(v: f64, significant: usize) -> String {
    let body = format!("{:.*e}", significant.saturating_sub(1), v.abs());
    if v < 0.0 {
        format!("{MINUS}{body}")
    } else {
        body
    }
}

/// |v| ≥ 1e6: an SI prefix when the unit can take one (`1.25 MW`, or `1.25 M` without a
/// unit), otherwise scientific notation before the unit (`1.25e6 m³/h`).
fn huge(v: f64, unit: Option<&str>) -> String {
    let unit = unit.map(str::trim).filter(|u| !u.is_empty());
    let prefixable = unit.is_none_or(|u| PREFIXABLE_UNITS.contains(&u));
    // Three significant digits; formatting first lets the formatter do the rounding, so
    // 999.96e6 becomes 1.00e9 and then "1.00 G" rather than "1000 M".
    let sci = format!("{:.2e}", v.abs());
    let sign = if v < 0.0 {
        MINUS.to_string()
    } else {
        String::new()
    };
    let parsed = sci
        .split_once('e')
        .and_then(|(mantissa, exp)| Some((mantissa.replace('.', ""), exp.parse::<i32>().ok()?)));
    if prefixable
        && let Some((digits, exp)) = parsed
        && let Some((_, prefix)) = BIG_PREFIXES.iter().find(|(e, _)| exp >= *e && exp < *e + 3)
        && digits.len() == 3
    {
        // 3 digits, point after 1, 2 or 3 of them: 1.25, 12.5, 125.
        let shift = (exp.rem_euclid(3)) as usize + 1;
        let (int, frac) = digits.split_at(shift);
        let number = if frac.is_empty() {
            int.to_owned()
        } else {
            format!("{int}.{frac}")
        };
        return format!("{sign}{number} {prefix}{}", unit.unwrap_or(""));
    }
    with_unit(format!("{sign}{sci}"), unit)
}

/// Appends the unit with the separator the conventions above ask for.
fn with_unit(mut number: String, unit: Option<&str>) -> String {
    let Some(unit) = unit.map(str::trim).filter(|u| !u.is_empty()) else {
        return number;
    };
    if !UNSPACED_UNITS.contains(&unit) {
        number.push(' ');
    }
    number.push_str(unit);
    number
}

/// Text as shown: control characters (which would break the label's line) become spaces,
/// surrounding space goes, and more than [`MAX_TEXT_CHARS`] characters end in `…`. Counted in
/// characters, not bytes, so multibyte text is never cut inside a character.
fn truncate_text(text: &str) -> String {
    let clean = text.trim();
    let mut out = String::with_capacity(clean.len().min(MAX_TEXT_CHARS * 4));
    for (i, c) in clean.chars().enumerate() {
        if i == MAX_TEXT_CHARS - 1 && clean.chars().nth(MAX_TEXT_CHARS).is_some() {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// A reading's age as text: `3 s`, `2 min`, `1 h 5 min`, `3 d`; rounded down, since "1 min"
/// should not appear before a full minute has passed. Negative ages (clock skew) read `0 s`;
/// NaN and infinite ages read `—`.
pub fn format_age(age_ms: f64) -> String {
    if !age_ms.is_finite() {
        return NOT_A_NUMBER.to_owned();
    }
    // Saturating cast: a negative age is 0, an absurd one stays a (large) number of days.
    let s = (age_ms / 1000.0).floor().max(0.0) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s / 3600, (s % 3600) / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: f64, unit: Option<&str>, precision: Option<u8>, range: Option<[f64; 2]>) -> String {
        format_value(&Value::Number(v), unit, precision, range)
    }

    #[test]
    fn explicit_precision_fixes_the_decimals() {
        assert_eq!(num(21.456, None, Some(1), None), "21.5");
        assert_eq!(num(21.0, None, Some(2), None), "21.00");
        assert_eq!(num(21.6, None, Some(0), None), "22");
        assert_eq!(num(1.0, None, Some(200), None), "1.000000", "capped at 6");
        // Explicit precision beats the range.
        assert_eq!(num(21.456, None, Some(1), Some([0.0, 1.0])), "21.5");
    }

    #[test]
    fn range_span_sets_about_four_significant_digits() {
        assert_eq!(num(512.345, None, None, Some([0.0, 1000.0])), "512");
        assert_eq!(num(512.345, None, None, Some([0.0, 999.0])), "512.3");
        assert_eq!(num(51.2345, None, None, Some([0.0, 100.0])), "51.2");
        assert_eq!(num(5.12345, None, None, Some([0.0, 10.0])), "5.12");
        assert_eq!(num(0.512345, None, None, Some([0.0, 1.0])), "0.512");
        assert_eq!(
            num(0.0, None, None, Some([0.0, 100.0])),
            "0.0",
            "width stays steady"
        );
        assert_eq!(num(3.0, None, None, Some([-50.0, 150.0])), "3.0");
        // A degenerate range falls back to automatic precision.
        assert_eq!(num(3.0, None, None, Some([5.0, 5.0])), "3");
        assert_eq!(num(3.0, None, None, Some([0.0, f64::NAN])), "3");
    }

    #[test]
    fn hair_thin_range_uses_scientific_notation() {
        assert_eq!(
            num(5.04e-5, Some("mbar"), None, Some([0.0, 1e-4])),
            "5.0e-5 mbar"
        );
        assert_eq!(num(0.0, Some("mbar"), None, Some([0.0, 1e-4])), "0 mbar");
    }

    #[test]
    fn automatic_precision_drops_trailing_zeros() {
        assert_eq!(num(42.0, None, None, None), "42");
        assert_eq!(num(21.456, None, None, None), "21.46");
        assert_eq!(num(0.5, None, None, None), "0.5");
        assert_eq!(num(1234.56, None, None, None), "1235");
        assert_eq!(num(999_999.4, None, None, None), "999999");
        assert_eq!(num(0.0, None, None, None), "0");
        assert_eq!(num(0.001, None, None, None), "0.001");
    }

    #[test]
    fn units_are_spaced_si_style_except_percent_and_bare_degrees() {
        assert_eq!(num(21.5, Some("°C"), Some(1), None), "21.5 °C");
        assert_eq!(num(45.0, Some("°"), Some(0), None), "45°");
        assert_eq!(num(87.0, Some("%"), Some(0), None), "87%");
        assert_eq!(num(3.0, Some("µm"), Some(0), None), "3 µm");
        assert_eq!(num(2.5, Some("m²"), Some(1), None), "2.5 m²");
        assert_eq!(num(12.0, Some("m³/h"), Some(0), None), "12 m³/h");
        assert_eq!(num(470.0, Some("Ω"), Some(0), None), "470 Ω");
        assert_eq!(
            num(1.0, Some(" bar "), Some(0), None),
            "1 bar",
            "unit is trimmed"
        );
        assert_eq!(num(1.0, Some(""), Some(0), None), "1");
    }

    #[test]
    fn nan_is_a_dash_and_infinities_are_signed() {
        assert_eq!(num(f64::NAN, Some("°C"), Some(1), None), "—");
        assert_eq!(num(f64::INFINITY, None, None, None), "∞");
        assert_eq!(num(f64::NEG_INFINITY, Some("bar"), None, None), "−∞ bar");
    }

    #[test]
    fn huge_values_use_si_prefixes_on_plain_units() {
        assert_eq!(num(1_250_000.0, None, None, None), "1.25 M");
        assert_eq!(num(1_250_000.0, Some("W"), Some(0), None), "1.25 MW");
        assert_eq!(num(12_500_000.0, Some("Pa"), None, None), "12.5 MPa");
        assert_eq!(num(125_000_000.0, Some("Hz"), None, None), "125 MHz");
        assert_eq!(num(3.2e9, Some("Ω"), None, None), "3.20 GΩ");
        assert_eq!(num(-2e6, Some("V"), None, None), "−2.00 MV");
        assert_eq!(
            num(999.996e6, None, None, None),
            "1.00 G",
            "rounding carries the prefix"
        );
        assert_eq!(num(1e6, None, None, None), "1.00 M");
    }

    #[test]
    fn huge_values_in_compound_or_prefixed_units_use_scientific_notation() {
        assert_eq!(num(1_250_000.0, Some("m³/h"), None, None), "1.25e6 m³/h");
        assert_eq!(num(2e6, Some("kW"), None, None), "2.00e6 kW");
        assert_eq!(num(2e6, Some("%"), None, None), "2.00e6%");
        assert_eq!(num(4.2e21, None, None, None), "4.20e21", "beyond exa");
    }

    #[test]
    fn tiny_values_use_scientific_notation_only_without_fixed_precision() {
        assert_eq!(num(1.23e-5, None, None, None), "1.2e-5");
        assert_eq!(num(-1.23e-5, Some("A"), None, None), "−1.2e-5 A");
        assert_eq!(num(1.23e-5, None, Some(2), None), "0.00");
        assert_eq!(num(1.23e-5, None, None, Some([0.0, 100.0])), "0.0");
    }

    #[test]
    fn negative_numbers_use_the_minus_sign_and_negative_zero_is_zero() {
        assert_eq!(num(-3.26, Some("°C"), Some(1), None), "−3.3 °C");
        assert_eq!(num(-0.0004, None, Some(2), None), "0.00");
        assert_eq!(num(-0.0, None, None, None), "0");
        assert_eq!(num(-0.0, None, Some(1), None), "0.0");
        assert_eq!(num(-0.04, None, None, Some([-1.0, 1.0])), "−0.040");
        assert_eq!(num(-0.00004, None, None, Some([-1.0, 1.0])), "0.000");
    }

    #[test]
    fn booleans_read_on_and_off_without_a_unit() {
        assert_eq!(
            format_value(&Value::Bool(true), Some("V"), None, None),
            "on"
        );
        assert_eq!(
            format_value(&Value::Bool(false), None, Some(2), None),
            "off"
        );
    }

    #[test]
    fn text_is_shown_as_given_up_to_24_characters() {
        let text = |t: &str| format_value(&Value::Text(t.into()), Some("°C"), None, None);
        assert_eq!(text("RUNNING"), "RUNNING");
        let exact = "abcdefghijklmnopqrstuvwx";
        assert_eq!(text(exact), exact);
        assert_eq!(
            text("abcdefghijklmnopqrstuvwxy"),
            "abcdefghijklmnopqrstuvw…"
        );
        assert_eq!(text("line\nbreak"), "line break");
        assert_eq!(text("  padded  "), "padded");
    }

    #[test]
    fn multibyte_text_is_truncated_by_characters() {
        let text = "温度センサー異常が発生しました。直ちに点検してください";
        let shown = format_value(&Value::Text(text.into()), None, None, None);
        assert_eq!(shown.chars().count(), MAX_TEXT_CHARS);
        assert!(shown.ends_with('…'));
        assert!(text.starts_with(shown.trim_end_matches('…')));
        let emoji = "🔥".repeat(30);
        let shown = format_value(&Value::Text(emoji), None, None, None);
        assert_eq!(shown, format!("{}…", "🔥".repeat(23)));
    }

    #[test]
    fn ages_read_in_the_largest_sensible_unit() {
        assert_eq!(format_age(0.0), "0 s");
        assert_eq!(format_age(3_999.0), "3 s");
        assert_eq!(format_age(59_999.0), "59 s");
        assert_eq!(format_age(60_000.0), "1 min");
        assert_eq!(format_age(125_000.0), "2 min");
        assert_eq!(format_age(3_600_000.0), "1 h");
        assert_eq!(format_age(3_900_000.0), "1 h 5 min");
        assert_eq!(format_age(86_399_999.0), "23 h 59 min");
        assert_eq!(format_age(3.0 * 86_400_000.0 + 5.0), "3 d");
        assert_eq!(format_age(-5_000.0), "0 s", "clock skew");
        assert_eq!(format_age(f64::NAN), "—");
        assert_eq!(format_age(f64::INFINITY), "—");
    }
}
