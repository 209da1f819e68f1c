//! Phone numbers to E.164 with libphonenumber's metadata (the `phonenumber` crate), and their
//! parts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::{Mode, PhoneNumber};

use super::compile::SplitPart;
use crate::ids::PhoneE164;

/// Longest input accepted as a phone number, in bytes (libphonenumber stops at 250).
const MAX_INPUT: usize = 64;

/// A part of a phone number that `split` can write elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhonePart {
    /// `1` for +1 415 555 0123.
    CountryCode,
    /// `415`: the first group of the national number as libphonenumber groups it for
    /// international display (for a mobile number without area codes, its leading group).
    AreaCode,
    /// `5550123`: the national number after the area code.
    Number,
    /// `4155550123`: the whole national significant number.
    NationalNumber,
    /// `12` for "ext. 12".
    Extension,
    /// `US`: the region the number belongs to.
    Region,
}

impl SplitPart for PhonePart {
    const WHOLE: &'static str = "a phone number";
    const NAMES: &'static str =
        "country_code, area_code, number, national_number, extension, region";

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "country_code" => PhonePart::CountryCode,
            "area_code" => PhonePart::AreaCode,
            "number" => PhonePart::Number,
            "national_number" => PhonePart::NationalNumber,
            "extension" => PhonePart::Extension,
            "region" => PhonePart::Region,
            _ => return None,
        })
    }
}

/// Parses a region code such as `US` or `gb`.
pub(crate) fn parse_region(s: &str) -> Result<Id, String> {
    Id::from_str(&s.to_ascii_uppercase())
        .map_err(|_| format!("`{s}` is not a region code (ISO 3166 alpha-2, such as US or GB)"))
}

/// A parsed phone number: its E.164 form and libphonenumber's view of it.
#[derive(Debug)]
pub(crate) struct Phone {
    pub(crate) e164: PhoneE164,
    number: PhoneNumber,
}

/// Normalises `input` to E.164, reading numbers without a country code in `region`.
pub(crate) fn parse(input: &str, region: Option<Id>) -> Result<Phone, String> {
    let input = input.trim();
    if input.len() > MAX_INPUT {
        return Err(format!("is longer than {MAX_INPUT} bytes"));
    }
    let number = match valid(input, region) {
        Some(n) => n,
        // "00" is the international prefix nearly everywhere, also where the region's own is
        // another (011 in North America): no national number starts with 00.
        None => match input.strip_prefix("00") {
            Some(rest) => valid(&format!("+{rest}"), region),
            None => None,
        }
        .ok_or_else(|| match region {
            Some(r) if !input.starts_with('+') => {
                format!(
                    "is not a valid phone number (read in region {})",
                    r.as_ref()
                )
            }
            Some(_) => "is not a valid phone number".to_owned(),
            None if input.starts_with('+') => "is not a valid phone number".to_owned(),
            None => "is not a valid phone number (it has no country code, and the mapping \
                     sets no `region`)"
                .to_owned(),
        })?,
    };
    let e164 = number.format().mode(Mode::E164).to_string();
    let e164 = PhoneE164::parse(&e164).map_err(|e| e.to_string())?;
    Ok(Phone { e164, number })
}

/// Parses and validates, shielding the caller from any panic in the parser: it is
/// third-party code fed with arbitrary legacy data, and a bad row must not stop a backfill.
fn valid(input: &str, region: Option<Id>) -> Option<PhoneNumber> {
    catch_unwind(AssertUnwindSafe(|| {
        phonenumber::parse(region, input)
            .ok()
            .filter(phonenumber::is_valid)
    }))
    .ok()
    .flatten()
}

impl Phone {
    /// One part of the number, as text; `None` when the number has no such part.
    pub(crate) fn part(&self, part: PhonePart) -> Option<String> {
        let n = &self.number;
        match part {
            PhonePart::CountryCode => Some(n.code().value().to_string()),
            PhonePart::NationalNumber => Some(n.national().to_string()),
            PhonePart::Extension => n.extension().map(|e| e.to_string()),
            PhonePart::Region => n.country().id().map(|id| id.as_ref().to_owned()),
            PhonePart::AreaCode => {
                let groups = self.groups();
                if groups.len() < 2 {
                    return None;
                }
                groups.first().cloned()
            }
            PhonePart::Number => {
                let groups = self.groups();
                if groups.len() < 2 {
                    return Some(n.national().to_string());
                }
                Some(groups.get(1..).unwrap_or_default().concat())
            }
        }
    }

    /// The groups of the national number in international format: `+1 415-555-0123` gives
    /// `415`, `555`, `0123`.
    fn groups(&self) -> Vec<String> {
        let formatted = catch_unwind(AssertUnwindSafe(|| {
            self.number.format().mode(Mode::International).to_string()
        }))
        .unwrap_or_default();
        let without_ext = formatted.split(" ext").next().unwrap_or_default();
        without_ext
            .split([' ', '-'])
            .filter(|g| !g.is_empty() && !g.starts_with('+'))
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(s: &str, region: Option<Id>) -> Result<String, String> {
        parse(s, region).map(|p| p.e164.as_str().to_owned())
    }

    #[test]
    fn us_numbers_in_every_usual_shape_normalise_to_e164() {
        for s in [
            "(415) 555-0123",
            "415.555.0123",
            "415-555-0123",
            "4155550123",
            "+1 415 555 0123",
            "1-415-555-0123",
            " 011 1 415 555 0123 ",
        ] {
            assert_eq!(e164(s, Some(Id::US)).unwrap(), "+14155550123", "{s}");
        }
    }

    #[test]
    fn international_numbers_keep_their_country_whatever_the_default_region() {
        for (s, region) in [
            ("+44 20 7946 0958", Some(Id::US)),
            ("0044 20 7946 0958", Some(Id::US)),
            ("0044 20 7946 0958", Some(Id::GB)),
            ("020 7946 0958", Some(Id::GB)),
        ] {
            assert_eq!(e164(s, region).unwrap(), "+442079460958", "{s}");
        }
        assert_eq!(e164("+33 6 12 34 56 78", None).unwrap(), "+33612345678");
    }

    #[test]
    fn garbage_and_numbers_without_a_country_are_refused_with_a_reason() {
        assert!(
            e164("garbage", Some(Id::US))
                .unwrap_err()
                .contains("region US")
        );
        assert!(e164("555-0123", Some(Id::US)).is_err());
        assert!(
            e164("4155550123", None)
                .unwrap_err()
                .contains("no country code")
        );
        assert!(
            e164(&"1".repeat(100), Some(Id::US))
                .unwrap_err()
                .contains("longer")
        );
        assert!(e164("  2 22#:", None).is_err());
    }

    #[test]
    fn parts_split_the_area_code_from_the_number() {
        let p = parse("(415) 555-0123 ext. 12", Some(Id::US)).unwrap();
        assert_eq!(p.part(PhonePart::CountryCode).unwrap(), "1");
        assert_eq!(p.part(PhonePart::AreaCode).unwrap(), "415");
        assert_eq!(p.part(PhonePart::Number).unwrap(), "5550123");
        assert_eq!(p.part(PhonePart::NationalNumber).unwrap(), "4155550123");
        assert_eq!(p.part(PhonePart::Extension).unwrap(), "12");
        assert_eq!(p.part(PhonePart::Region).unwrap(), "US");
        let uk = parse("+44 20 7946 0958", None).unwrap();
        assert_eq!(uk.part(PhonePart::AreaCode).unwrap(), "20");
        assert_eq!(uk.part(PhonePart::Number).unwrap(), "79460958");
        assert_eq!(uk.part(PhonePart::Extension), None);
    }

    #[test]
    fn regions_are_checked_and_case_insensitive() {
        assert_eq!(parse_region("us").unwrap(), Id::US);
        assert!(parse_region("XX").is_err());
        assert!(parse_region("USA").is_err());
    }
}
