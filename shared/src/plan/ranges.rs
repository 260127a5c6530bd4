//! Key ranges: the split of a key's span into half-open ranges, evenly or by quantiles, and
//! the quantiles drawn from row counts of key ranges.

use crate::model::KeyRange;

/// Splits `[min, max]` into at most `parts` half-open ranges of near-equal key span. The first
/// range is unbounded below and the last unbounded above, so together they cover every key.
pub fn split_key_range(min: i64, max: i64, parts: u64) -> Vec<KeyRange> {
    debug_assert!(min <= max);
    let span = (max as i128) - (min as i128) + 1;
    let parts = (parts.max(1) as i128).min(span);
    let mut bounds: Vec<i64> = Vec::with_capacity(parts as usize);
    for i in 1..parts {
        let b = (min as i128 + span * i / parts) as i64;
        if bounds.last() != Some(&b) {
            bounds.push(b);
        }
    }
    ranges_between(bounds)
}

/// Splits `[min, max]` into at most `parts` ranges holding near-equal numbers of rows, from
/// `quantiles`: equal-frequency bucket bounds of the key, such as PostgreSQL's `pg_stats`
/// histogram (each bucket holds the same share of rows). A boundary between two quantiles is
/// placed by linear interpolation. With fewer than two quantiles this is [`split_key_range`].
pub fn split_by_quantiles(min: i64, max: i64, quantiles: &[i64], parts: u64) -> Vec<KeyRange> {
    if quantiles.len() < 2 || quantiles.windows(2).any(|w| w[0] > w[1]) {
        return split_key_range(min, max, parts);
    }
    let buckets = (quantiles.len() - 1) as u128;
    let parts = parts.max(1) as u128;
    let mut bounds: Vec<i64> = Vec::with_capacity(parts as usize);
    for i in 1..parts {
        // Position i/parts of the way through the rows, in buckets: whole part and remainder.
        let scaled = i * buckets;
        let (b, rem) = ((scaled / parts) as usize, scaled % parts);
        let (lo, hi) = (
            quantiles[b] as i128,
            quantiles[(b + 1).min(quantiles.len() - 1)] as i128,
        );
        let value = lo + (hi - lo) * rem as i128 / parts as i128;
        // Boundaries must be strictly increasing and leave no empty range at either end.
        if value > min as i128
            && value <= max as i128
            && bounds.last().is_none_or(|last| (*last as i128) < value)
        {
            bounds.push(value as i64);
        }
    }
    ranges_between(bounds)
}

/// `n + 1` equal-frequency quantiles (the first the smallest key, the last the largest) from
/// row counts of consecutive inclusive key ranges `(lo, hi, rows)`, sorted: the input of
/// [`split_by_quantiles`] for a source that can count rows in a range but keeps no histogram.
/// Within a range, keys are taken as evenly spread. Empty when there are no rows.
pub fn quantiles_from_counts(ranges: &[(i64, i64, u64)], n: usize) -> Vec<i64> {
    let total: u128 = ranges.iter().map(|r| r.2 as u128).sum();
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return vec![];
    };
    if total == 0 || n == 0 {
        return vec![];
    }
    let mut out = Vec::with_capacity(n + 1);
    out.push(first.0);
    let mut seen: u128 = 0;
    let mut i = 0;
    for q in 1..n {
        let want = total * q as u128 / n as u128;
        while i < ranges.len() && seen + ranges[i].2 as u128 <= want {
            seen += ranges[i].2 as u128;
            i += 1;
        }
        let Some(&(lo, hi, rows)) = ranges.get(i) else {
            break;
        };
        let span = hi as i128 - lo as i128 + 1;
        let into = span * (want - seen) as i128 / (rows as i128).max(1);
        let value = (lo as i128 + into).min(hi as i128) as i64;
        if out.last().is_none_or(|l| *l <= value) {
            out.push(value);
        }
    }
    out.push(last.1.max(*out.last().unwrap_or(&last.1)));
    out
}

/// The half-open ranges between increasing `bounds`, unbounded at both ends.
fn ranges_between(bounds: Vec<i64>) -> Vec<KeyRange> {
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for b in bounds {
        ranges.push(KeyRange { lo, hi: Some(b) });
        lo = Some(b);
    }
    ranges.push(KeyRange { lo, hi: None });
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::assert_partition;

    #[test]
    fn quantiles_follow_the_counts() {
        // 99% of the rows in keys 1..=1000, 1% spread over a billion keys.
        let counts = [(1, 1000, 9900), (1001, 1_000_000_000, 100)];
        let q = quantiles_from_counts(&counts, 100);
        assert_eq!(q.len(), 101);
        assert_eq!(q[0], 1);
        assert_eq!(q[50], 1 + 1000 * 5000 / 9900);
        assert_eq!(*q.last().unwrap(), 1_000_000_000);
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
        assert!(q[98] <= 1000 && q[99] > 1000, "{:?}", &q[97..]);
        // Split into 7 ranges, the dense keys get all but the last.
        let ranges = split_by_quantiles(1, 1_000_000_000, &q, 7);
        assert_eq!(ranges.len(), 7);
        assert!(ranges[5].hi.unwrap() <= 1001, "{ranges:?}");
        assert!(quantiles_from_counts(&[], 10).is_empty());
        assert!(quantiles_from_counts(&[(5, 9, 0)], 10).is_empty());
    }

    #[test]
    fn ranges_cover_every_key_exactly_once_on_the_edges() {
        let edges = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for (min, max, parts) in [
            (1, 1, 4),
            (0, 9, 3),
            (-100, 100, 7),
            (i64::MIN, i64::MAX, 16),
            (i64::MAX - 2, i64::MAX, 10),
            (i64::MIN, i64::MIN + 5, 3),
            (5, 1_000_000, 1),
        ] {
            let ranges = split_key_range(min, max, parts);
            assert!(ranges.len() as u64 <= parts.max(1));
            assert_eq!(ranges.first().unwrap().lo, None);
            assert_eq!(ranges.last().unwrap().hi, None);
            assert_partition(
                &ranges,
                edges.iter().copied().chain([min, max, min / 2 + max / 2]),
            );
            for w in ranges.windows(2) {
                assert_eq!(w[0].hi, w[1].lo, "ranges are contiguous");
                assert!(
                    w[0].lo.is_none_or(|lo| lo < w[0].hi.unwrap()),
                    "no empty range"
                );
            }
        }
    }

    #[test]
    fn quantiles_balance_skewed_keys() {
        // 99% of rows in keys 0..10_000, 1% spread up to 1_000_000: an even split of the span
        // would put nearly every row in the first range.
        let mut keys: Vec<i64> = (0..99_000)
            .map(|i| i / 10 + (i % 10) * 1000 % 10_000)
            .collect();
        keys.extend((0..1_000).map(|i| 10_000 + i * 990));
        keys.sort();
        let quantiles: Vec<i64> = (0..=100)
            .map(|i| keys[(i * (keys.len() - 1)) / 100])
            .collect();
        let ranges = split_by_quantiles(keys[0], *keys.last().unwrap(), &quantiles, 10);
        assert_eq!(ranges.len(), 10);
        assert_partition(&ranges, keys.iter().copied().chain([i64::MIN, i64::MAX]));
        let counts: Vec<usize> = ranges
            .iter()
            .map(|r| keys.iter().filter(|k| r.contains(**k)).count())
            .collect();
        let (lo, hi) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        assert!(hi <= 2 * lo, "row counts per range within 2x: {counts:?}");
        let even = split_key_range(keys[0], *keys.last().unwrap(), 10);
        let first = keys.iter().filter(|k| even[0].contains(**k)).count();
        assert!(
            first > keys.len() * 9 / 10,
            "the even split is skewed, so the test means something"
        );
    }

    #[test]
    fn quantiles_that_are_missing_or_flat_fall_back_or_collapse() {
        assert_eq!(split_by_quantiles(0, 99, &[], 4), split_key_range(0, 99, 4));
        assert_eq!(
            split_by_quantiles(0, 99, &[50, 10], 4),
            split_key_range(0, 99, 4)
        );
        // One value holds every row: nothing to split.
        assert_eq!(split_by_quantiles(7, 7, &[7, 7, 7], 5), vec![KeyRange::ALL]);
    }

    #[test]
    fn one_row_table_and_more_parts_than_keys() {
        assert_eq!(split_key_range(42, 42, 8), vec![KeyRange::ALL]);
        assert_eq!(split_key_range(0, 2, 100).len(), 3);
    }
}
