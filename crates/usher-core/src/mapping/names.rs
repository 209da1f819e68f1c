//! Splitting a full name into given, middle and family names.
//!
//! Names do not split reliably; this covers what legacy `full_name` columns mostly hold:
//! "Ann Lee", "Ann Marie Lee", "Lee, Ann Marie", "Ludwig van Beethoven", "Martin Luther
//! King Jr.", and family-first orders ("山田 太郎", "Nagy Péter") when configured. A single
//! word is a given name. Whatever the split, the full name itself is kept in `name`.

use super::compile::SplitPart;
use super::config::NameOrder;

/// A part of a full name that `split` can write elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamePart {
    Given,
    Middle,
    Family,
}

impl SplitPart for NamePart {
    const WHOLE: &'static str = "a name";
    const NAMES: &'static str = "given_name, middle_name, family_name";

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "given_name" => NamePart::Given,
            "middle_name" => NamePart::Middle,
            "family_name" => NamePart::Family,
            _ => return None,
        })
    }
}

/// The parts of a name; each is `None` when the name has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NameParts {
    pub(crate) given: Option<String>,
    pub(crate) middle: Option<String>,
    pub(crate) family: Option<String>,
}

impl NameParts {
    pub(crate) fn get(&self, part: NamePart) -> Option<&str> {
        match part {
            NamePart::Given => self.given.as_deref(),
            NamePart::Middle => self.middle.as_deref(),
            NamePart::Family => self.family.as_deref(),
        }
    }
}

/// Lower-case words that belong to the family name that follows them.
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "du", "la", "le",
    "ter", "ten", "bin", "ibn", "al", "el", "st.", "af", "av", "zu",
];

/// Generational and academic suffixes, kept with the family name.
const SUFFIXES: &[&str] = &[
    "jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "v", "phd", "ph.d.", "md", "m.d.", "esq", "esq.",
];

/// Where the run of words at the end of `words` that are in `list` (ignoring case) starts,
/// leaving at least `keep` words before it.
fn trailing_run(words: &[&str], list: &[&str], keep: usize) -> usize {
    let mut start = words.len();
    while start > keep
        && words
            .get(start.saturating_sub(1))
            .is_some_and(|w| list.contains(&w.to_lowercase().as_str()))
    {
        start = start.saturating_sub(1);
    }
    start
}

fn join(words: &[&str]) -> Option<String> {
    if words.is_empty() {
        None
    } else {
        Some(words.join(" "))
    }
}

/// Splits `full` into parts.
pub(crate) fn split(full: &str, order: NameOrder) -> NameParts {
    // "Lee, Ann Marie": the family name is written first, whatever the configured order.
    if let Some((family, rest)) = full.split_once(',') {
        let family: Vec<&str> = family.split_whitespace().collect();
        let rest: Vec<&str> = rest.split_whitespace().filter(|w| *w != ",").collect();
        if !family.is_empty() && !rest.is_empty() {
            let (given, middle) = rest
                .split_first()
                .map_or((None, None), |(g, m)| (Some((*g).to_owned()), join(m)));
            return NameParts {
                given,
                middle,
                family: join(&family),
            };
        }
    }
    let words: Vec<&str> = full.split_whitespace().collect();
    match order {
        NameOrder::FamilyFirst => {
            let Some((family, rest)) = words.split_first() else {
                return NameParts::default();
            };
            if rest.is_empty() {
                // One word in a family-first culture is still most often what people are
                // called by; keep it as the given name, like the given-first case.
                return NameParts {
                    given: Some((*family).to_owned()),
                    ..NameParts::default()
                };
            }
            let (given, middle) = rest
                .split_first()
                .map_or((None, None), |(g, m)| (Some((*g).to_owned()), join(m)));
            NameParts {
                given,
                middle,
                family: Some((*family).to_owned()),
            }
        }
        NameOrder::GivenFirst => {
            let Some((given, rest)) = words.split_first() else {
                return NameParts::default();
            };
            // Suffixes stay with the family name: "King Jr.".
            let end = trailing_run(rest, SUFFIXES, 1);
            let (body, suffix) = rest.split_at(end);
            let Some((last, before)) = body.split_last() else {
                return NameParts {
                    given: Some((*given).to_owned()),
                    ..NameParts::default()
                };
            };
            // Particles before the last word join the family name: "van Beethoven".
            let start = trailing_run(before, PARTICLES, 0);
            let (middle, particles) = before.split_at(start);
            let family: Vec<&str> = particles
                .iter()
                .chain(std::iter::once(last))
                .chain(suffix.iter())
                .copied()
                .collect();
            NameParts {
                given: Some((*given).to_owned()),
                middle: join(middle),
                family: join(&family),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(full: &str, order: NameOrder) -> (Option<String>, Option<String>, Option<String>) {
        let p = split(full, order);
        (p.given, p.middle, p.family)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn western_names_split_into_given_middle_and_family() {
        use NameOrder::GivenFirst as G;
        assert_eq!(parts("Ann Lee", G), (s("Ann"), None, s("Lee")));
        assert_eq!(
            parts("  Ann   Marie  Lee ", G),
            (s("Ann"), s("Marie"), s("Lee"))
        );
        assert_eq!(parts("Lee, Ann Marie", G), (s("Ann"), s("Marie"), s("Lee")));
        assert_eq!(parts("Cher", G), (s("Cher"), None, None));
        assert_eq!(parts("", G), (None, None, None));
    }

    #[test]
    fn particles_and_suffixes_stay_with_the_family_name() {
        use NameOrder::GivenFirst as G;
        assert_eq!(
            parts("Ludwig van Beethoven", G),
            (s("Ludwig"), None, s("van Beethoven"))
        );
        assert_eq!(
            parts("Martin Luther King Jr.", G),
            (s("Martin"), s("Luther"), s("King Jr."))
        );
        assert_eq!(
            parts("Maria de la Cruz", G),
            (s("Maria"), None, s("de la Cruz"))
        );
    }

    #[test]
    fn unicode_names_split_on_any_whitespace() {
        use NameOrder::{FamilyFirst as F, GivenFirst as G};
        assert_eq!(parts("José Álvarez", G), (s("José"), None, s("Álvarez")));
        assert_eq!(
            parts("Zoë\u{00A0}Ødegård", G),
            (s("Zoë"), None, s("Ødegård"))
        );
        assert_eq!(parts("山田 太郎", F), (s("太郎"), None, s("山田")));
        assert_eq!(parts("Nagy Péter", F), (s("Péter"), None, s("Nagy")));
        assert_eq!(parts("山田太郎", F), (s("山田太郎"), None, None));
    }
}
