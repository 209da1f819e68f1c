//! Dates and timestamps from the formats a rule lists, and from Unix epochs.
//!
//! Formats are chrono strftime patterns compiled once when the mapper is built, or the names
//! `rfc3339` and `rfc2822`. Timestamps written without an offset are read in the configured
//! one (UTC by default); a date-only format gives midnight there.

use chrono::format::{self, Fixed, Item, Numeric, Parsed, StrftimeItems};
use chrono::{DateTime, FixedOffset, Months, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use serde_json::Value;

use super::config::Epoch;

#[derive(Debug, Clone)]
enum Format {
    Rfc3339,
    Rfc2822,
    Pattern {
        items: Vec<Item<'static>>,
        /// `%y`: a two-digit year, which a birthdate reads as the latest past century.
        short_year: bool,
    },
}

/// How one rule reads dates or timestamps.
#[derive(Debug, Clone)]
pub(crate) struct DateSpec {
    formats: Vec<Format>,
    /// The formats as written, for error messages.
    described: String,
    epoch: Option<Epoch>,
    offset: FixedOffset,
}

/// Formats tried when a date rule lists none.
pub(crate) const DEFAULT_DATE_FORMATS: &[&str] = &["%Y-%m-%d", "rfc3339"];
/// Formats tried when a timestamp rule lists none: RFC 3339 and SQL's `DATETIME` text.
pub(crate) const DEFAULT_TIMESTAMP_FORMATS: &[&str] = &[
    "rfc3339",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d",
];

impl DateSpec {
    /// Compiles `formats`; on failure, the index of the bad format and why.
    pub(crate) fn new(
        formats: &[String],
        epoch: Option<Epoch>,
        offset: FixedOffset,
    ) -> Result<Self, (usize, String)> {
        let mut compiled = Vec::with_capacity(formats.len());
        for (i, f) in formats.iter().enumerate() {
            compiled.push(compile(f).map_err(|e| (i, e))?);
        }
        Ok(Self {
            formats: compiled,
            described: formats.join(", "),
            epoch,
            offset,
        })
    }

    /// A date. With `now`, the date is a birthdate: two-digit years fall in the past, and a
    /// date after `now` is refused.
    pub(crate) fn date(
        &self,
        value: &Value,
        now: Option<DateTime<Utc>>,
    ) -> Result<NaiveDate, String> {
        if let Some(t) = self.epoch_value(value)? {
            return Ok(t.with_timezone(&self.offset).date_naive());
        }
        let s = self.text(value)?;
        let mut date = None;
        for f in &self.formats {
            let found = match f {
                Format::Rfc3339 => DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| (t.date_naive(), false)),
                Format::Rfc2822 => DateTime::parse_from_rfc2822(s)
                    .ok()
                    .map(|t| (t.date_naive(), false)),
                Format::Pattern { items, short_year } => parse_items(s, items)
                    .and_then(|p| p.to_naive_date().ok())
                    .map(|d| (d, *short_year)),
            };
            if found.is_some() {
                date = found;
                break;
            }
        }
        let Some((mut date, short_year)) = date else {
            return Err(self.no_match("date"));
        };
        if let Some(now) = now {
            let today = now.date_naive();
            if short_year && date > today {
                date = date.checked_sub_months(Months::new(1200)).unwrap_or(date);
            }
            if date > today {
                return Err("is in the future".into());
            }
        }
        Ok(date)
    }

    /// A point in time.
    pub(crate) fn timestamp(&self, value: &Value) -> Result<DateTime<Utc>, String> {
        if let Some(t) = self.epoch_value(value)? {
            return Ok(t);
        }
        let s = self.text(value)?;
        for f in &self.formats {
            let found = match f {
                Format::Rfc3339 => DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
                Format::Rfc2822 => DateTime::parse_from_rfc2822(s).ok().map(|t| t.to_utc()),
                Format::Pattern { items, .. } => {
                    parse_items(s, items).and_then(|p| self.instant(&p))
                }
            };
            if let Some(t) = found {
                return Ok(t);
            }
        }
        Err(self.no_match("timestamp"))
    }

    fn instant(&self, p: &Parsed) -> Option<DateTime<Utc>> {
        if p.offset().is_some() {
            return p.to_datetime().ok().map(|t| t.to_utc());
        }
        let local = match p.to_naive_datetime_with_offset(0) {
            Ok(t) => t,
            Err(_) => p.to_naive_date().ok()?.and_time(NaiveTime::MIN),
        };
        self.offset
            .from_local_datetime(&local)
            .single()
            .map(|t| t.to_utc())
    }

    fn text<'v>(&self, value: &'v Value) -> Result<&'v str, String> {
        match value {
            Value::String(s) => Ok(s.trim()),
            Value::Number(_) => Err("is a number; set `epoch` to read Unix times".into()),
            _ => Err("is not text".into()),
        }
    }

    fn no_match(&self, what: &str) -> String {
        if self.formats.len() == 1 {
            format!("is not a {what} in the format {}", self.described)
        } else {
            format!("is not a {what} in any of the formats {}", self.described)
        }
    }

    /// The value as an epoch, if `epoch` is set and the value is a number or digits.
    fn epoch_value(&self, value: &Value) -> Result<Option<DateTime<Utc>>, String> {
        let Some(unit) = self.epoch else {
            return Ok(None);
        };
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) if looks_numeric(s.trim()) => s.trim().to_owned(),
            _ => return Ok(None),
        };
        from_epoch(&text, unit)
            .map(Some)
            .ok_or_else(|| "is not a Unix time in range".into())
    }
}

fn looks_numeric(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Reads a decimal epoch without going through floating point (so `1700000000.123` is exact).
fn from_epoch(text: &str, unit: Epoch) -> Option<DateTime<Utc>> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    // Nanoseconds of the fraction, in the unit: seconds keep 9 digits, milliseconds 6.
    let places = match unit {
        Epoch::Seconds => 9,
        Epoch::Milliseconds => 6,
    };
    let frac: String = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(places)
        .collect();
    let frac: i64 = frac.parse().ok()?;
    let (secs, nanos) = match unit {
        Epoch::Seconds => (whole, frac),
        Epoch::Milliseconds => (
            whole.div_euclid(1000),
            whole
                .rem_euclid(1000)
                .checked_mul(1_000_000)?
                .checked_add(frac)?,
        ),
    };
    let t = DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)?;
    if negative {
        let since = t.signed_duration_since(DateTime::UNIX_EPOCH);
        DateTime::UNIX_EPOCH.checked_sub_signed(since)
    } else {
        Some(t)
    }
}

fn parse_items(s: &str, items: &[Item<'static>]) -> Option<Parsed> {
    let mut p = Parsed::new();
    format::parse(&mut p, s, items.iter()).ok()?;
    Some(p)
}

fn compile(f: &str) -> Result<Format, String> {
    match f {
        "rfc3339" => return Ok(Format::Rfc3339),
        "rfc2822" => return Ok(Format::Rfc2822),
        _ => {}
    }
    let items = StrftimeItems::new(f)
        .parse_to_owned()
        .map_err(|_| format!("`{f}` is not a valid strftime format"))?;
    if !items
        .iter()
        .any(|i| matches!(i, Item::Numeric(..) | Item::Fixed(..)))
    {
        return Err(format!("`{f}` has no date or time fields"));
    }
    let short_year = items
        .iter()
        .any(|i| matches!(i, Item::Numeric(Numeric::YearMod100, _)));
    // A format that can only yield a time of day never makes a date.
    let has_date = items.iter().any(|i| {
        matches!(
            i,
            Item::Numeric(
                Numeric::Year
                    | Numeric::YearMod100
                    | Numeric::IsoYear
                    | Numeric::IsoYearMod100
                    | Numeric::Timestamp,
                _
            ) | Item::Fixed(Fixed::RFC2822 | Fixed::RFC3339)
        )
    });
    if !has_date {
        return Err(format!("`{f}` has no year"));
    }
    Ok(Format::Pattern { items, short_year })
}

/// Parses `UTC`, `Z` or an offset such as `+02:00`.
pub(crate) fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    match s {
        "UTC" | "utc" | "Z" | "z" => Ok(Utc.fix()),
        _ => s.parse::<FixedOffset>().map_err(|_| {
            format!(
                "`{s}` is not a UTC offset such as `+02:00` (named time zones are not supported)"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(formats: &[&str], epoch: Option<Epoch>, tz: &str) -> DateSpec {
        let formats: Vec<String> = formats.iter().map(|s| (*s).to_owned()).collect();
        DateSpec::new(&formats, epoch, parse_offset(tz).unwrap()).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2024-06-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_us_date_is_read_by_its_format() {
        let s = spec(&["%m/%d/%Y", "%Y-%m-%d"], None, "UTC");
        let want = NaiveDate::from_ymd_opt(1987, 3, 14).unwrap();
        assert_eq!(s.date(&json!("03/14/1987"), Some(now())).unwrap(), want);
        assert_eq!(s.date(&json!("1987-03-14"), Some(now())).unwrap(), want);
    }

    #[test]
    fn a_bad_date_says_which_formats_were_tried() {
        let s = spec(&["%m/%d/%Y"], None, "UTC");
        assert_eq!(
            s.date(&json!("14/03/1987"), None).unwrap_err(),
            "is not a date in the format %m/%d/%Y"
        );
        assert!(s.date(&json!("02/30/1987"), None).is_err());
        assert!(
            s.date(&json!(19870314), None)
                .unwrap_err()
                .contains("epoch")
        );
    }

    #[test]
    fn birthdates_with_two_digit_years_fall_in_the_past_and_future_ones_are_refused() {
        let s = spec(&["%m/%d/%y"], None, "UTC");
        assert_eq!(
            s.date(&json!("01/02/45"), Some(now())).unwrap().to_string(),
            "1945-01-02"
        );
        assert_eq!(
            s.date(&json!("01/02/05"), Some(now())).unwrap().to_string(),
            "2005-01-02"
        );
        let full = spec(&["%Y-%m-%d"], None, "UTC");
        assert_eq!(
            full.date(&json!("2030-01-01"), Some(now())).unwrap_err(),
            "is in the future"
        );
    }

    #[test]
    fn timestamps_without_an_offset_are_read_in_the_configured_one() {
        let s = spec(DEFAULT_TIMESTAMP_FORMATS, None, "+02:00");
        assert_eq!(
            s.timestamp(&json!("2020-01-01 10:00:00"))
                .unwrap()
                .to_rfc3339(),
            "2020-01-01T08:00:00+00:00"
        );
        assert_eq!(
            s.timestamp(&json!("2020-01-01T10:00:00Z"))
                .unwrap()
                .to_rfc3339(),
            "2020-01-01T10:00:00+00:00"
        );
        assert_eq!(
            s.timestamp(&json!("2020-01-01")).unwrap().to_rfc3339(),
            "2019-12-31T22:00:00+00:00"
        );
    }

    #[test]
    fn epochs_in_seconds_and_milliseconds_are_exact() {
        let secs = spec(&[], Some(Epoch::Seconds), "UTC");
        assert_eq!(
            secs.timestamp(&json!(1_700_000_000)).unwrap().to_rfc3339(),
            "2023-11-14T22:13:20+00:00"
        );
        assert_eq!(
            secs.timestamp(&json!("1700000000.5"))
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
        let ms = spec(&[], Some(Epoch::Milliseconds), "UTC");
        assert_eq!(
            ms.timestamp(&json!(1_700_000_000_123_i64))
                .unwrap()
                .timestamp_subsec_millis(),
            123
        );
        assert_eq!(
            secs.timestamp(&json!(-86400)).unwrap().to_rfc3339(),
            "1969-12-31T00:00:00+00:00"
        );
        assert!(secs.timestamp(&json!(1e300)).is_err());
        assert!(secs.timestamp(&json!("99999999999999999999")).is_err());
    }

    #[test]
    fn bad_formats_are_refused_when_compiled() {
        assert!(compile("%Q").is_err());
        assert!(compile("hello").is_err());
        assert!(compile("%H:%M").is_err());
        assert!(compile("rfc3339").is_ok());
        assert!(parse_offset("Europe/Paris").is_err());
        assert_eq!(parse_offset("-05:30").unwrap().local_minus_utc(), -19800);
    }
}
