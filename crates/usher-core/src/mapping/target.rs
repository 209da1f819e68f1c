//! Targets: the canonical user fields a rule may write, and `attributes.<path>`.

use serde_json::{Map, Value};

use super::value::Kind;

/// A canonical field of [`User`](crate::User) that a rule may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Email,
    EmailVerified,
    Username,
    Phone,
    GivenName,
    FamilyName,
    Name,
    MiddleName,
    Nickname,
    Birthdate,
    Locale,
    Zoneinfo,
    Picture,
    Status,
    CreatedAt,
    UpdatedAt,
}

impl Field {
    pub(crate) const ALL: [Field; 16] = [
        Field::Email,
        Field::EmailVerified,
        Field::Username,
        Field::Phone,
        Field::GivenName,
        Field::FamilyName,
        Field::Name,
        Field::MiddleName,
        Field::Nickname,
        Field::Birthdate,
        Field::Locale,
        Field::Zoneinfo,
        Field::Picture,
        Field::Status,
        Field::CreatedAt,
        Field::UpdatedAt,
    ];

    /// The name used in the config and in errors.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::EmailVerified => "email_verified",
            Field::Username => "username",
            Field::Phone => "phone",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::Name => "name",
            Field::MiddleName => "middle_name",
            Field::Nickname => "nickname",
            Field::Birthdate => "birthdate",
            Field::Locale => "locale",
            Field::Zoneinfo => "zoneinfo",
            Field::Picture => "picture",
            Field::Status => "status",
            Field::CreatedAt => "created_at",
            Field::UpdatedAt => "updated_at",
        }
    }

    /// What the field holds.
    pub(crate) const fn kind(self) -> Kind {
        match self {
            Field::Email => Kind::Email,
            Field::EmailVerified => Kind::Bool,
            Field::Username => Kind::Username,
            Field::Phone => Kind::Phone,
            Field::Birthdate => Kind::Date,
            Field::Status => Kind::Status,
            Field::CreatedAt | Field::UpdatedAt => Kind::Timestamp,
            Field::GivenName
            | Field::FamilyName
            | Field::Name
            | Field::MiddleName
            | Field::Nickname
            | Field::Locale
            | Field::Zoneinfo
            | Field::Picture => Kind::Text,
        }
    }
}

/// Where a rule writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A canonical field.
    Field(Field),
    /// A path in `attributes`; empty for the attributes object itself (merged).
    Attributes(Vec<String>),
}

impl Target {
    /// Parses a target name, explaining what is wrong with a bad one.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        if let Some(f) = Field::ALL.iter().find(|f| f.name() == name) {
            return Ok(Target::Field(*f));
        }
        if name == "attributes" {
            return Ok(Target::Attributes(Vec::new()));
        }
        if let Some(path) = name.strip_prefix("attributes.") {
            let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err("has an empty segment in its attributes path".into());
            }
            return Ok(Target::Attributes(segments));
        }
        Err(match name {
            "password" | "credential" | "hash" => {
                "is not a field target: the password is configured in the `password` table".into()
            }
            "id" | "legacy_links" | "migration" => "is set by usher, not by a mapping".into(),
            _ => {
                let hint =
                    closest(name).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"));
                format!(
                    "is not a target{hint}: expected one of {}, or attributes.<path>",
                    Field::ALL.map(Field::name).join(", ")
                )
            }
        })
    }

    /// The kind a value for this target is parsed as, before any `as`.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Target::Field(f) => f.kind(),
            Target::Attributes(_) => Kind::Json,
        }
    }

    /// Whether two targets would write the same place.
    pub(crate) fn overlaps(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Field(a), Target::Field(b)) => a == b,
            (Target::Attributes(a), Target::Attributes(b)) => {
                // The whole-object merge may coexist with paths: paths are written after it.
                !a.is_empty() && !b.is_empty() && (a.starts_with(b) || b.starts_with(a))
            }
            _ => false,
        }
    }
}

/// Sets `value` at `path` in `attributes`, making objects on the way. A non-object in the
/// way is replaced: explicit rules win over copied unmapped columns.
pub(crate) fn set_attribute(attributes: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = attributes;
    for seg in parents {
        let slot = at
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        at = next;
    }
    at.insert(last.clone(), value);
}

/// The known target closest to a misspelt one, if any is within two edits.
fn closest(name: &str) -> Option<&'static str> {
    Field::ALL
        .iter()
        .map(|f| (f.name(), edit_distance(name, f.name())))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(n, _)| n)
}

/// Levenshtein distance over chars, for short config names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i.saturating_add(1);
        }
        for (j, cb) in b.iter().enumerate() {
            let (Some(&up), Some(&left)) = (row.get(j.saturating_add(1)), row.get(j)) else {
                continue;
            };
            let cost = usize::from(ca != *cb);
            let best = prev
                .saturating_add(cost)
                .min(up.saturating_add(1))
                .min(left.saturating_add(1));
            prev = up;
            if let Some(slot) = row.get_mut(j.saturating_add(1)) {
                *slot = best;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_canonical_field_and_attribute_paths_are_targets() {
        for f in Field::ALL {
            assert_eq!(Target::parse(f.name()).unwrap(), Target::Field(f));
        }
        assert_eq!(
            Target::parse("attributes.address.city").unwrap(),
            Target::Attributes(vec!["address".into(), "city".into()])
        );
        assert_eq!(
            Target::parse("attributes").unwrap(),
            Target::Attributes(vec![])
        );
    }

    #[test]
    fn misspelt_targets_suggest_the_closest_name() {
        let err = Target::parse("givenname").unwrap_err();
        assert!(err.contains("did you mean `given_name`?"), "{err}");
        assert!(Target::parse("attributes..x").is_err());
        assert!(
            Target::parse("password")
                .unwrap_err()
                .contains("`password` table")
        );
    }

    #[test]
    fn attribute_paths_overlap_when_one_contains_the_other() {
        let a = Target::parse("attributes.phone").unwrap();
        let b = Target::parse("attributes.phone.area").unwrap();
        let c = Target::parse("attributes.phone_area").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(!Target::parse("attributes").unwrap().overlaps(&a));
    }

    #[test]
    fn setting_an_attribute_builds_the_objects_on_its_path() {
        let mut m = Map::new();
        m.insert("phone".into(), json!("x"));
        set_attribute(&mut m, &["phone".into(), "area".into()], json!("415"));
        set_attribute(&mut m, &["plan".into()], json!(3));
        assert_eq!(
            Value::Object(m),
            json!({"phone": {"area": "415"}, "plan": 3})
        );
    }
}
