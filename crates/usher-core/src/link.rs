//! Several legacy systems, one person: linking a record of a second source to the user that
//! already holds its normalized email, instead of creating a duplicate account.
//!
//! Linking is decided by [`LinkConfig`] (`[link]` in usher.toml) in two steps:
//!
//! 1. [`LinkConfig::allows`]: the same normalized email on both sides, and the address
//!    verified on both sides (the legacy systems had proved the person owns it) unless
//!    `allow_unverified` says the operator trusts that side's source (`true` trusts every
//!    source, `["hr"]` only the named ones). Without the
//!    check, anyone who once signed up to product B with somebody else's address would take
//!    over that person's account from product A.
//! 2. [`LinkConfig::merge`]: one rule per field says whose value survives when both sides
//!    have one. A value missing on one side never erases the other's.
//!
//! ```toml
//! [link]
//! allow_unverified = false      # the default; or true, or the sources to trust: ["hr"]
//! default = "keep"              # keep | incoming | newest | "prefer:<source>"
//! [link.fields]
//! name = "newest"
//! phone = "prefer:shop"
//! ```
//!
//! Rules: `keep` (the stored user's value wins), `incoming` (the linked record's value wins),
//! `newest` (the side whose `updated_at` is later wins; the stored side on a tie),
//! `prefer:<source>` (the side that came from `<source>` wins; the stored side counts as from
//! `<source>` when one of its legacy links is). Fields: `username`, `phone`, `given_name`,
//! `family_name`, `name`, `middle_name`, `nickname`, `birthdate`, `locale`, `zoneinfo`,
//! `picture`, `status`, `credential` and `attributes` (applied per attribute key). The email
//! itself is the link and is kept as stored; `email_verified` is true if either side says so;
//! `created_at` is the earlier of the two, `updated_at` the later.
//!
//! Linking never changes whether an account is disabled: a disabled stored user stays disabled
//! under every `status` rule, and a record disabled in its source is not linked to a user who
//! is not (it is quarantined with the reason, for a person to decide).
//!
//! The name parts (`name`, `given_name`, `middle_name`, `family_name`) describe one person's
//! name, so they merge as one group: the side that wins (by the `name` rule, else the default)
//! gives all of them, and the other side's parts are used only when the winner has none. Rules
//! that name the parts one by one (any of `given_name`, `middle_name`, `family_name`) make each
//! part follow its own rule instead.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::config::{ConfigProblem, toml_key};
use crate::user::{Credential, Status, User};

/// The fields a rule may name.
pub const FIELDS: &[&str] = &[
    "username",
    "phone",
    "given_name",
    "family_name",
    "name",
    "middle_name",
    "nickname",
    "birthdate",
    "locale",
    "zoneinfo",
    "picture",
    "status",
    "credential",
    "attributes",
];

/// The parts of a name that merge as one group unless a rule names one of them; `name` alone
/// names the group's rule.
const NAME_PARTS: &[&str] = &["given_name", "middle_name", "family_name"];

/// Whose value survives a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Rule {
    /// The stored user's.
    #[default]
    Keep,
    /// The linked record's.
    Incoming,
    /// The side with the later `updated_at` (the stored one on a tie).
    Newest,
    /// The side that came from this source.
    Prefer(String),
}

impl Rule {
    /// Parses `keep`, `incoming`, `newest` or `prefer:<source>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(Rule::Keep),
            "incoming" => Ok(Rule::Incoming),
            "newest" => Ok(Rule::Newest),
            _ => match s.strip_prefix("prefer:") {
                Some(source) if !source.trim().is_empty() => {
                    Ok(Rule::Prefer(source.trim().to_owned()))
                }
                _ => Err(format!(
                    "unknown rule {s:?}: expected keep, incoming, newest or prefer:<source>"
                )),
            },
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Keep => f.write_str("keep"),
            Rule::Incoming => f.write_str("incoming"),
            Rule::Newest => f.write_str("newest"),
            Rule::Prefer(s) => write!(f, "prefer:{s}"),
        }
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Rule::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Whose unverified addresses may still link: `allow_unverified = false | true | ["hr", …]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowUnverified {
    /// Both sides must be verified (the default).
    #[default]
    Never,
    /// Every source's addresses are trusted.
    Always,
    /// The addresses of these sources are trusted; every other side must be verified.
    Sources(Vec<String>),
}

impl AllowUnverified {
    /// Whether an unverified address that came from `source` is trusted.
    fn trusts(&self, source: Option<&str>) -> bool {
        match self {
            AllowUnverified::Never => false,
            AllowUnverified::Always => true,
            AllowUnverified::Sources(names) => source.is_some_and(|s| names.iter().any(|n| n == s)),
        }
    }
}

impl<'de> Deserialize<'de> for AllowUnverified {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Sources(Vec<String>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "allow_unverified is true, false or a list of source names such as [\"hr\"]",
            )
        })? {
            Raw::Flag(true) => Ok(AllowUnverified::Always),
            Raw::Flag(false) => Ok(AllowUnverified::Never),
            Raw::Sources(names) => Ok(AllowUnverified::Sources(names)),
        }
    }
}

/// `[link]`: whether and how records of different sources sharing an email become one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Link even when an address is not verified on both sides: for every source (`true`) or
    /// for the named ones. Only for sources whose addresses the operator trusts: otherwise one
    /// person could take over another's account by having signed up with their address.
    #[serde(default)]
    pub allow_unverified: AllowUnverified,
    /// The rule for fields without their own.
    #[serde(default)]
    pub default: Rule,
    /// Per-field rules.
    #[serde(default)]
    pub fields: BTreeMap<String, Rule>,
}

/// Why two records were not linked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotLinked {
    /// One side has no email, or the normalized addresses differ.
    #[error("the addresses differ")]
    DifferentEmail,
    /// An address is not verified (and `allow_unverified` does not trust its source).
    #[error(
        "the address is not verified in {side} (linking needs it verified on both sides, \
         unless [link] allow_unverified trusts that side's source)"
    )]
    Unverified {
        /// `"the stored user"` or `"the linked record"`.
        side: &'static str,
    },
    /// The linked record is disabled in its source and the stored user is not: a merge would
    /// either open an account legacy shut or shut one that is in use. A person decides.
    #[error(
        "the linked record is disabled in its source and the stored user is not (decide by \
         hand: disable the user, or enable the record in legacy and run again)"
    )]
    Disabled,
}

/// What the linking rules make of a record whose normalized email a stored user holds: the
/// one decision the backfill (for a chunk's records) and the login bridge (for a record a
/// password just proved) both take ([`LinkConfig::decide`]).
#[derive(Debug, Clone, PartialEq)]
pub enum LinkDecision {
    /// Link: the stored user becomes `user`, and its credential is written when
    /// `replace_credential`.
    Link {
        /// The merged user (the stored id, email, migration record and legacy links).
        user: Box<User>,
        /// Whether the merged credential replaces the stored one.
        replace_credential: bool,
    },
    /// The stored user already has a record of this source: not a second source of the same
    /// person but a duplicate within one source (quarantined as such, never linked).
    SameSource,
    /// The rules refuse the link.
    Refused(NotLinked),
}

/// The quarantine reason of a record whose link to `stored` the rules refused.
pub fn refused_reason(stored: &User, why: &dyn fmt::Display) -> String {
    let from = match stored.legacy_links.first() {
        Some(l) => format!("legacy id {} of source {}", l.legacy_id.as_str(), l.source),
        None => "registered in the new system".into(),
    };
    format!(
        "duplicate email: same address as user {} ({from}); not linked: {why}",
        stored.id
    )
}

/// The quarantine reason of a record whose link to `stored` would give the merged user a
/// `field` value that `holder` already has.
pub fn taken_reason(stored: &User, field: &str, holder: &dyn fmt::Display) -> String {
    format!(
        "duplicate email: same address as user {}; not linked: the merged {field} belongs to \
         {holder}",
        stored.id
    )
}

/// Which side a merged value came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Stored,
    Incoming,
}

impl LinkConfig {
    /// Checks the rules name known fields, and `allow_unverified` names configured `sources`:
    /// every problem, each naming its key relative to `[link]` (`fields.emial`,
    /// `allow_unverified[0]`).
    pub fn validate<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = self
            .fields
            .keys()
            .filter(|f| !FIELDS.contains(&f.as_str()))
            .map(|f| {
                ConfigProblem::new(
                    format!("fields.{}", toml_key(f)),
                    format!("unknown field (known: {})", FIELDS.join(", ")),
                )
            })
            .collect();
        if let AllowUnverified::Sources(names) = &self.allow_unverified {
            for (i, name) in names.iter().enumerate() {
                if !sources.clone().into_iter().any(|s| s == name) {
                    problems.push(ConfigProblem::new(
                        format!("allow_unverified[{i}]"),
                        format!("names {name:?}, which is not a [sources.*] table"),
                    ));
                }
            }
        }
        problems
    }

    /// The link rule: whether `incoming`, a record of `incoming_source` whose address `stored`
    /// holds, is linked to `stored`, and as what user.
    ///
    /// `proven`: a credential the person has just proved with their password (a login); it
    /// becomes the merged user's credential whatever the rules say about stored values, and
    /// opens an account imported without a password (never one an operator made reset its
    /// password). Without one (a backfill), the `credential` rule decides, and the merged
    /// credential is written only when it differs from the stored one.
    pub fn decide(
        &self,
        stored: &User,
        incoming: &User,
        incoming_source: &str,
        proven: Option<&Credential>,
    ) -> LinkDecision {
        if stored
            .legacy_links
            .iter()
            .any(|l| l.source == incoming_source)
        {
            return LinkDecision::SameSource;
        }
        if let Err(why) = self.allows(stored, incoming, incoming_source) {
            return LinkDecision::Refused(why);
        }
        let mut user = self.merge(stored, incoming, incoming_source);
        let replace_credential = match proven {
            Some(fresh) => {
                user.credential = Some(fresh.clone());
                if user.status == Status::PasswordResetRequired && stored.credential.is_none() {
                    user.status = Status::Active;
                }
                true
            }
            None => user.credential != stored.credential,
        };
        LinkDecision::Link {
            user: Box::new(user),
            replace_credential,
        }
    }

    /// Whether `incoming`, a record of `incoming_source`, may be linked to `stored`.
    pub fn allows(
        &self,
        stored: &User,
        incoming: &User,
        incoming_source: &str,
    ) -> Result<(), NotLinked> {
        let same = match (&stored.email, &incoming.email) {
            (Some(a), Some(b)) => a.normalized() == b.normalized(),
            _ => false,
        };
        if !same {
            return Err(NotLinked::DifferentEmail);
        }
        // The stored address came with the stored user's first migration.
        let stored_source = stored.migration.as_ref().map(|m| m.source.as_str());
        if !stored.email_verified && !self.allow_unverified.trusts(stored_source) {
            return Err(NotLinked::Unverified {
                side: "the stored user",
            });
        }
        if !incoming.email_verified && !self.allow_unverified.trusts(Some(incoming_source)) {
            return Err(NotLinked::Unverified {
                side: "the linked record",
            });
        }
        if incoming.status == Status::Disabled && stored.status != Status::Disabled {
            return Err(NotLinked::Disabled);
        }
        Ok(())
    }

    fn rule(&self, field: &str) -> &Rule {
        self.fields.get(field).unwrap_or(&self.default)
    }

    /// Which side wins `field` when both have a value.
    fn winner(&self, field: &str, stored: &User, incoming: &User, incoming_source: &str) -> Side {
        match self.rule(field) {
            Rule::Keep => Side::Stored,
            Rule::Incoming => Side::Incoming,
            Rule::Newest => {
                if incoming.updated_at > stored.updated_at {
                    Side::Incoming
                } else {
                    Side::Stored
                }
            }
            Rule::Prefer(source) => {
                let stored_from = stored.legacy_links.iter().any(|l| &l.source == source)
                    || stored
                        .migration
                        .as_ref()
                        .is_some_and(|m| &m.source == source);
                if !stored_from && incoming_source == source {
                    Side::Incoming
                } else {
                    Side::Stored
                }
            }
        }
    }

    /// The user `stored` becomes when `incoming`, mapped from a record of `incoming_source`,
    /// is linked to it. Keeps the stored id, email, migration record and legacy links.
    pub fn merge(&self, stored: &User, incoming: &User, incoming_source: &str) -> User {
        let mut out = stored.clone();
        let win = |field: &str| self.winner(field, stored, incoming, incoming_source);
        fn pick<T: Clone>(side: Side, stored: &Option<T>, incoming: &Option<T>) -> Option<T> {
            match (stored, incoming) {
                (Some(s), Some(i)) => Some(if side == Side::Incoming { i } else { s }.clone()),
                (Some(s), None) => Some(s.clone()),
                (None, i) => i.clone(),
            }
        }
        out.username = pick(win("username"), &stored.username, &incoming.username);
        out.phone = pick(win("phone"), &stored.phone, &incoming.phone);
        let (sp, ip, op) = (&stored.profile, &incoming.profile, &mut out.profile);
        if NAME_PARTS.iter().any(|f| self.fields.contains_key(*f)) {
            op.given_name = pick(win("given_name"), &sp.given_name, &ip.given_name);
            op.family_name = pick(win("family_name"), &sp.family_name, &ip.family_name);
            op.name = pick(win("name"), &sp.name, &ip.name);
            op.middle_name = pick(win("middle_name"), &sp.middle_name, &ip.middle_name);
        } else {
            let has_name = |p: &crate::user::Profile| {
                p.name.is_some()
                    || p.given_name.is_some()
                    || p.middle_name.is_some()
                    || p.family_name.is_some()
            };
            let from = match (has_name(sp), has_name(ip), win("name")) {
                (_, true, Side::Incoming) | (false, true, _) => ip,
                _ => sp,
            };
            op.given_name.clone_from(&from.given_name);
            op.family_name.clone_from(&from.family_name);
            op.name.clone_from(&from.name);
            op.middle_name.clone_from(&from.middle_name);
        }
        op.nickname = pick(win("nickname"), &sp.nickname, &ip.nickname);
        op.birthdate = pick(win("birthdate"), &sp.birthdate, &ip.birthdate);
        op.locale = pick(win("locale"), &sp.locale, &ip.locale);
        op.zoneinfo = pick(win("zoneinfo"), &sp.zoneinfo, &ip.zoneinfo);
        op.picture = pick(win("picture"), &sp.picture, &ip.picture);
        out.credential = pick(win("credential"), &stored.credential, &incoming.credential);
        let attributes_side = win("attributes");
        for (key, value) in &incoming.attributes {
            if attributes_side == Side::Incoming || !out.attributes.contains_key(key) {
                out.attributes.insert(key.clone(), value.clone());
            }
        }
        out.status = if win("status") == Side::Incoming {
            incoming.status
        } else {
            stored.status
        };
        // Linking never opens a shut account, whatever the rules say ([`LinkConfig::allows`]
        // refuses the other way round: a shut record joining an open account).
        if stored.status == Status::Disabled {
            out.status = Status::Disabled;
        }
        // A reset-required user that gained a credential from the linked side may log in.
        if out.status == Status::PasswordResetRequired
            && stored.credential.is_none()
            && out.credential.is_some()
            && incoming.status == Status::Active
        {
            out.status = Status::Active;
        }
        out.email_verified = stored.email_verified || incoming.email_verified;
        out.created_at = stored.created_at.min(incoming.created_at);
        out.updated_at = stored.updated_at.max(incoming.updated_at);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use chrono::{TimeZone as _, Utc};
    use serde_json::json;

    use super::*;
    use crate::ids::{Email, LegacyId, PhoneE164, UserId, Username};
    use crate::user::{Credential, LegacyLink, Profile};

    fn user(email: &str, verified: bool, day: u32) -> User {
        let t = Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap();
        User {
            id: UserId::new(),
            email: Some(Email::parse(email).unwrap()),
            email_verified: verified,
            username: None,
            phone: None,
            profile: Profile::default(),
            attributes: serde_json::Map::new(),
            credential: None,
            status: Status::Active,
            created_at: t,
            updated_at: t,
            legacy_links: vec![],
            migration: None,
        }
    }

    fn config(toml_text: &str) -> LinkConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn linking_needs_the_same_address_verified_on_both_sides() {
        let strict = LinkConfig::default();
        let a = user("Ann@Example.com", true, 1);
        assert_eq!(
            strict.allows(&a, &user("ann@example.com", true, 2), "b"),
            Ok(())
        );
        assert_eq!(
            strict.allows(&a, &user("ann@example.com", false, 2), "b"),
            Err(NotLinked::Unverified {
                side: "the linked record"
            })
        );
        assert_eq!(
            strict.allows(&user("ann@example.com", false, 1), &a, "b"),
            Err(NotLinked::Unverified {
                side: "the stored user"
            })
        );
        assert_eq!(
            strict.allows(&a, &user("bo@example.com", true, 2), "b"),
            Err(NotLinked::DifferentEmail)
        );
        let trusting = config("allow_unverified = true");
        assert_eq!(
            trusting.allows(&a, &user("ann@example.com", false, 2), "b"),
            Ok(())
        );
        assert_eq!(
            trusting.allows(&a, &user("bo@example.com", false, 2), "b"),
            Err(NotLinked::DifferentEmail)
        );
    }

    #[test]
    fn a_disabled_record_links_only_to_a_disabled_user() {
        let rules = LinkConfig::default();
        let open = user("ann@example.com", true, 1);
        let mut shut = user("ann@example.com", true, 2);
        shut.status = Status::Disabled;
        assert_eq!(rules.allows(&open, &shut, "b"), Err(NotLinked::Disabled));
        // Both shut: nothing opens or closes by linking.
        let mut stored = open.clone();
        stored.status = Status::Disabled;
        assert_eq!(rules.allows(&stored, &shut, "b"), Ok(()));
        // An open record joins a shut user, who stays shut under every status rule.
        assert_eq!(rules.allows(&stored, &open, "b"), Ok(()));
        for rule in ["keep", "incoming", "newest", "prefer:b"] {
            let rules = config(&format!("default = \"{rule}\""));
            assert_eq!(
                rules.merge(&stored, &open, "b").status,
                Status::Disabled,
                "{rule}"
            );
        }
    }

    #[test]
    fn allow_unverified_can_trust_only_the_named_sources() {
        let rules = config(r#"allow_unverified = ["hr"]"#);
        let verified = user("ann@example.com", true, 1);
        let unverified = user("ann@example.com", false, 2);
        // The incoming side is trusted only when its own source is named.
        assert_eq!(rules.allows(&verified, &unverified, "hr"), Ok(()));
        assert_eq!(
            rules.allows(&verified, &unverified, "shop"),
            Err(NotLinked::Unverified {
                side: "the linked record"
            })
        );
        // The stored side counts as from the source its first migration came from.
        let mut stored = user("ann@example.com", false, 1);
        assert_eq!(
            rules.allows(&stored, &verified, "shop"),
            Err(NotLinked::Unverified {
                side: "the stored user"
            })
        );
        stored.migration = Some(crate::user::Migration {
            method: crate::user::Method::Bulk,
            at: stored.created_at,
            source: "hr".into(),
            original: json!({}),
            warnings: Vec::new(),
        });
        assert_eq!(rules.allows(&stored, &verified, "shop"), Ok(()));
        // Names are checked against the configured sources.
        assert_eq!(rules.validate(["hr", "shop"]), Vec::new());
        let problems = rules.validate(["shop"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].to_string().contains("\"hr\""), "{problems:?}");
        assert_eq!(problems[0].key, "allow_unverified[0]");
        assert!(toml::from_str::<LinkConfig>("allow_unverified = 3").is_err());
        assert_eq!(
            config("allow_unverified = true").allow_unverified,
            AllowUnverified::Always
        );
    }

    #[test]
    fn name_parts_merge_as_one_group() {
        // The stored user has a full name only; the linked record has the parts of another
        // spelling. Taking the parts from one side and the name from the other would give a
        // person who never existed.
        let mut stored = user("ann@example.com", true, 1);
        stored.profile.name = Some("Björn Li".into());
        let mut incoming = user("ann@example.com", true, 2);
        incoming.profile.given_name = Some("Σοφία".into());
        incoming.profile.family_name = Some("Smith-Jones".into());

        let kept = LinkConfig::default().merge(&stored, &incoming, "shop");
        assert_eq!(kept.profile.name.as_deref(), Some("Björn Li"));
        assert_eq!(kept.profile.given_name, None);
        assert_eq!(kept.profile.family_name, None);

        let taken = config(r#"default = "incoming""#).merge(&stored, &incoming, "shop");
        assert_eq!(taken.profile.name, None);
        assert_eq!(taken.profile.given_name.as_deref(), Some("Σοφία"));
        assert_eq!(taken.profile.family_name.as_deref(), Some("Smith-Jones"));

        // `name` alone sets the group's rule.
        let by_name = config("[fields]\nname = \"incoming\"").merge(&stored, &incoming, "shop");
        assert_eq!(by_name.profile.given_name.as_deref(), Some("Σοφία"));
        assert_eq!(by_name.profile.name, None);

        // A side without any name part gives way to the other.
        let nameless = user("ann@example.com", true, 1);
        let filled = LinkConfig::default().merge(&nameless, &incoming, "shop");
        assert_eq!(filled.profile.family_name.as_deref(), Some("Smith-Jones"));

        // Rules that name the parts one by one merge them one by one.
        let one_by_one = config("[fields]\ngiven_name = \"keep\"\nfamily_name = \"keep\"");
        let parts = one_by_one.merge(&stored, &incoming, "shop");
        assert_eq!(parts.profile.name.as_deref(), Some("Björn Li"));
        assert_eq!(parts.profile.given_name.as_deref(), Some("Σοφία"));
    }

    #[test]
    fn keep_fills_gaps_and_never_erases() {
        let mut stored = user("ann@example.com", true, 1);
        stored.profile.given_name = Some("Ann".into());
        stored.attributes.insert("plan".into(), json!("gold"));
        let mut incoming = user("ann@example.com", false, 5);
        incoming.profile.given_name = Some("Annie".into());
        incoming.profile.family_name = Some("Lee".into());
        incoming.phone = Some(PhoneE164::parse("+14155550123").unwrap());
        incoming.attributes.insert("plan".into(), json!("free"));
        incoming.attributes.insert("shop_id".into(), json!(7));
        let merged = LinkConfig::default().merge(&stored, &incoming, "shop");
        assert_eq!(merged.id, stored.id);
        assert_eq!(merged.profile.given_name.as_deref(), Some("Ann"));
        // The name is one group: the stored side has one, so its parts stand together (no
        // "Ann" from one source with "Lee" from another).
        assert_eq!(merged.profile.family_name, None);
        assert_eq!(merged.phone, incoming.phone);
        assert_eq!(merged.attributes["plan"], json!("gold"));
        assert_eq!(merged.attributes["shop_id"], json!(7));
        assert!(merged.email_verified);
        assert_eq!(merged.created_at, stored.created_at);
        assert_eq!(merged.updated_at, incoming.updated_at);
    }

    #[test]
    fn newest_incoming_and_prefer_decide_per_field() {
        let mut stored = user("ann@example.com", true, 3);
        stored.legacy_links.push(LegacyLink {
            source: "app".into(),
            legacy_id: LegacyId::parse("1").unwrap(),
        });
        stored.profile.name = Some("Ann Stored".into());
        stored.profile.locale = Some("en-GB".into());
        stored.username = Some(Username::parse("ann").unwrap());
        let mut older = user("ann@example.com", true, 2);
        older.profile.name = Some("Ann Older".into());
        older.profile.locale = Some("fr-FR".into());
        older.username = Some(Username::parse("annie").unwrap());
        let rules = config(
            r#"
            default = "incoming"
            [fields]
            name = "newest"
            locale = "prefer:app"
            "#,
        );
        let merged = rules.merge(&stored, &older, "shop");
        assert_eq!(merged.profile.name.as_deref(), Some("Ann Stored")); // stored is newer
        assert_eq!(merged.profile.locale.as_deref(), Some("en-GB")); // stored came from app
        assert_eq!(merged.username.as_ref().unwrap().as_str(), "annie"); // default incoming
        let mut newer = older.clone();
        newer.updated_at = Utc.with_ymd_and_hms(2024, 1, 9, 0, 0, 0).unwrap();
        assert_eq!(
            rules.merge(&stored, &newer, "shop").profile.name.as_deref(),
            Some("Ann Older")
        );
        // The stored side is not from `shop`, the incoming one is: shop wins.
        let shop_first = config(r#"default = "prefer:shop""#);
        assert_eq!(
            shop_first
                .merge(&stored, &older, "shop")
                .profile
                .locale
                .as_deref(),
            Some("fr-FR")
        );
        assert_eq!(
            shop_first
                .merge(&stored, &older, "crm")
                .profile
                .locale
                .as_deref(),
            Some("en-GB")
        );
    }

    #[test]
    fn a_credential_from_the_linked_side_lets_a_reset_required_user_in() {
        let mut stored = user("ann@example.com", true, 1);
        stored.status = Status::PasswordResetRequired;
        let mut incoming = user("ann@example.com", true, 2);
        incoming.credential = Some(Credential {
            hash: "$2b$10$abcdefghijklmnopqrstuu0123456789012345678901234567890".into(),
            scheme: usher_hash::Scheme::Bcrypt,
        });
        let merged = LinkConfig::default().merge(&stored, &incoming, "b");
        assert_eq!(merged.credential, incoming.credential);
        assert_eq!(merged.status, Status::Active);
        // A disabled side stays disabled under keep.
        stored.status = Status::Disabled;
        assert_eq!(
            LinkConfig::default().merge(&stored, &incoming, "b").status,
            Status::Disabled
        );
    }

    #[test]
    fn rules_and_fields_are_checked() {
        assert!(Rule::parse("prefer:").is_err());
        assert!(Rule::parse("oldest").unwrap_err().contains("oldest"));
        assert_eq!(
            Rule::parse("prefer: shop").unwrap().to_string(),
            "prefer:shop"
        );
        let bad = config(
            r#"
            [fields]
            emial = "keep"
            "#,
        );
        assert_eq!(bad.validate(["a"]).len(), 1);
        assert!(bad.validate(["a"])[0].to_string().contains("emial"));
        assert_eq!(bad.validate(["a"])[0].key, "fields.emial");
        assert!(toml::from_str::<LinkConfig>("default = \"oldest\"").is_err());
    }
}
