//! SQL values as JSON: the conversions every dialect shares.

use serde_json::{Number, Value};

/// JSON for a float: a number when finite, else the string `NaN`, `Infinity` or `-Infinity`
/// (JSON has no such numbers; dropping them would lose the value).
pub(crate) fn float_value(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".to_owned()),
        None if f.is_sign_positive() => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// JSON for a single-precision float, by its shortest decimal form (0.1f32 stays 0.1, not
/// 0.10000000149011612).
pub(crate) fn float32_value(f: f32) -> Value {
    match f.to_string().parse::<f64>() {
        Ok(wide) => float_value(wide),
        Err(_) => float_value(f64::from(f)),
    }
}

/// JSON for binary data: standard base64 with padding.
pub(crate) fn bytes_value(bytes: &[u8]) -> Value {
    use base64::Engine as _;
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// ISO 8601 without offset: `2024-01-02T03:04:05` plus a fraction only when there is one.
pub(crate) fn naive_datetime_value(dt: chrono::NaiveDateTime) -> Value {
    Value::String(dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// ISO 8601 in UTC: `2024-01-02T03:04:05Z`.
pub(crate) fn utc_datetime_value(dt: chrono::DateTime<chrono::Utc>) -> Value {
    Value::String(dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

pub(crate) fn date_value(d: chrono::NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}

pub(crate) fn time_value(t: chrono::NaiveTime) -> Value {
    Value::String(t.format("%H:%M:%S%.f").to_string())
}

/// Parses a text value of a configured JSON column.
pub(crate) fn json_text_value(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _, Utc};

    #[test]
    fn floats_keep_their_shortest_form_and_non_finite_values_survive() {
        assert_eq!(float32_value(0.1), serde_json::json!(0.1));
        assert_eq!(float_value(f64::NAN), serde_json::json!("NaN"));
        assert_eq!(
            float_value(f64::NEG_INFINITY),
            serde_json::json!("-Infinity")
        );
    }

    #[test]
    fn dates_and_times_print_as_iso_8601() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let dt = d.and_hms_opt(3, 4, 5).unwrap();
        assert_eq!(
            naive_datetime_value(dt),
            serde_json::json!("2024-02-29T03:04:05")
        );
        let dt_micro = d.and_hms_micro_opt(3, 4, 5, 120_000).unwrap();
        assert_eq!(
            naive_datetime_value(dt_micro),
            serde_json::json!("2024-02-29T03:04:05.120")
        );
        let utc = Utc.from_utc_datetime(&dt);
        assert_eq!(
            utc_datetime_value(utc),
            serde_json::json!("2024-02-29T03:04:05Z")
        );
        assert_eq!(date_value(d), serde_json::json!("2024-02-29"));
        assert_eq!(bytes_value(&[0, 255]), serde_json::json!("AP8="));
    }
}
