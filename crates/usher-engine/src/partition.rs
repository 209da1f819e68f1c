//! Key-range partitions: how `--concurrency` splits an integer-keyed source.

use usher_core::{KeyRange, LegacyKey};

/// One key range of a source, worked through by one task with its own checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its number (the checkpoint's partition).
    pub number: u32,
    /// Its keys: `after < key <= until`; the first starts open, the last ends open, so rows
    /// added to the source during the job still belong to a partition.
    pub range: KeyRange,
}

/// Splits `[min, max]` into `n` contiguous ranges for an integer-keyed source; text keys (and
/// `n <= 1`) give one open partition, since their order is the database's collation.
pub fn plan(bounds: Option<(LegacyKey, LegacyKey)>, n: u32) -> Vec<Partition> {
    let whole = || {
        vec![Partition {
            number: 0,
            range: KeyRange::default(),
        }]
    };
    let Some((LegacyKey::Int(min), LegacyKey::Int(max))) = bounds else {
        return whole();
    };
    if n <= 1 || max <= min {
        return whole();
    }
    // i64 bounds in i128 arithmetic: none of this can overflow, but say so with saturation.
    let span = i128::from(max)
        .saturating_sub(i128::from(min))
        .saturating_add(1);
    let n_i = i128::from(n).min(span).max(1);
    let step = span.checked_div(n_i).unwrap_or(span);
    let mut out = Vec::new();
    let mut after: Option<LegacyKey> = None;
    for p in 0..n_i {
        let last = p == n_i.saturating_sub(1);
        let until = if last {
            None
        } else {
            // min - 1 + step * (p + 1) stays within [min, max], so it fits i64.
            i64::try_from(
                i128::from(min)
                    .saturating_sub(1)
                    .saturating_add(step.saturating_mul(p.saturating_add(1))),
            )
            .ok()
            .map(LegacyKey::Int)
        };
        out.push(Partition {
            number: u32::try_from(p).unwrap_or(u32::MAX),
            range: KeyRange {
                after: after.clone(),
                until: until.clone(),
            },
        });
        after = until;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(p: &[Partition]) -> Vec<(Option<i64>, Option<i64>)> {
        let k = |k: &Option<LegacyKey>| match k {
            Some(LegacyKey::Int(i)) => Some(*i),
            _ => None,
        };
        p.iter()
            .map(|p| (k(&p.range.after), k(&p.range.until)))
            .collect()
    }

    #[test]
    fn integer_ranges_split_contiguously_with_open_ends() {
        let p = plan(Some((LegacyKey::Int(1), LegacyKey::Int(100))), 4);
        assert_eq!(
            ints(&p),
            vec![
                (None, Some(25)),
                (Some(25), Some(50)),
                (Some(50), Some(75)),
                (Some(75), None)
            ]
        );
    }

    #[test]
    fn text_keys_and_single_partitions_stay_whole() {
        assert_eq!(
            plan(
                Some((LegacyKey::Text("a".into()), LegacyKey::Text("z".into()))),
                4
            )
            .len(),
            1
        );
        assert_eq!(
            plan(Some((LegacyKey::Int(1), LegacyKey::Int(100))), 1).len(),
            1
        );
        assert_eq!(plan(None, 4).len(), 1);
    }

    #[test]
    fn tiny_ranges_get_no_empty_partitions() {
        let p = plan(Some((LegacyKey::Int(5), LegacyKey::Int(6))), 8);
        assert_eq!(ints(&p), vec![(None, Some(5)), (Some(5), None)]);
    }

    #[test]
    fn extreme_keys_do_not_overflow() {
        let p = plan(
            Some((LegacyKey::Int(i64::MIN), LegacyKey::Int(i64::MAX))),
            3,
        );
        assert_eq!(p.len(), 3);
    }
}
