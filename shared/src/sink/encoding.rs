//! How each column of a file is encoded, chosen from the file's first batch.
//!
//! - **Dictionary** pays when values repeat: the file holds each distinct value once and small
//!   indices for the rows. When nearly every value is new (keys, timestamps, hashes, free
//!   text) the writer fills a dictionary page up to its size limit, falls back to plain
//!   encoding for the rest of the row group, and the file carries the dictionary, the indices
//!   and then the plain values: larger than plain alone, and slower to write.
//! - **Delta** (`DELTA_BINARY_PACKED`) pays for integers and times that move in small steps
//!   (keys, insertion times, running amounts): it stores the differences between neighbours,
//!   bit-packed in blocks, so a timestamp column written in time order takes a few bits a row
//!   where plain encoding takes eight bytes that zstd shrinks only by about a quarter. Athena
//!   (engine 3), Spark, DuckDB and pyarrow read it.
//! - Everything else is written plain, and zstd compresses each page.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use arrow::array::{Array, ArrayData, OffsetSizeTrait, RecordBatch};
use arrow::datatypes::DataType;

/// Values sampled per column (from the start of the first batch; a batch holds at most 65,536
/// rows). A sample this large sees values that repeat only every few ten thousand rows, such
/// as days or tags cycling through a table written in key order.
const SAMPLE: usize = 65_536;

/// A dictionary is kept when the sample's values repeat at least this often on average. The
/// sample is a prefix of the row group: values that already repeat twice in it usually
/// repeat many times over the whole group, and a dictionary that outgrows its page limit
/// falls back to plain on its own.
const MIN_REPEATS: usize = 2;

/// Delta encoding is chosen when its bit-packed size is at most this share of plain's.
/// Plain pages still go through zstd, which takes a quarter to a half off integers that
/// move steadily, so delta has to be clearly smaller to be worth it.
const DELTA_AT_MOST: f64 = 0.25;

/// Values per block of `DELTA_BINARY_PACKED`'s estimate (the crate writes 128-value blocks).
const DELTA_BLOCK: usize = 128;

/// Below this many sampled values the defaults stand: too few to judge.
const MIN_SAMPLE: usize = 256;

/// What the sample says about one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColumnEncoding {
    /// `Some(keep)` for a judged column; `None` keeps the writer's default (booleans, which
    /// Parquet never dictionary-encodes, nested types, and columns with too few values).
    pub dictionary: Option<bool>,
    /// Write the column with `DELTA_BINARY_PACKED` (and no dictionary).
    pub delta: bool,
}

/// One choice per column of `batch`.
pub fn choose(batch: &RecordBatch) -> Vec<ColumnEncoding> {
    let hasher = RandomState::new();
    batch
        .columns()
        .iter()
        .map(|column| choose_column(&column.to_data(), &hasher))
        .collect()
}

fn choose_column(data: &ArrayData, hasher: &RandomState) -> ColumnEncoding {
    let Some((distinct, sampled)) = distinct_values(data, hasher) else {
        return ColumnEncoding::default();
    };
    if distinct * MIN_REPEATS <= sampled {
        return ColumnEncoding {
            dictionary: Some(true),
            delta: false,
        };
    }
    let delta = integer_values(data).is_some_and(|(values, bits)| {
        delta_bits(&values) as f64 <= DELTA_AT_MOST * plain(&values, bits)
    });
    ColumnEncoding {
        dictionary: Some(false),
        delta,
    }
}

fn plain(values: &[i64], bits: usize) -> f64 {
    (values.len() * bits) as f64
}

/// Distinct values and non-null values among the first [`SAMPLE`] rows, for flat columns.
fn distinct_values<'a>(data: &'a ArrayData, hasher: &RandomState) -> Option<(usize, usize)> {
    let rows = data.len().min(SAMPLE);
    // The bytes of row `i`'s value, whatever the column's layout.
    let value: Box<dyn Fn(usize) -> &'a [u8] + 'a> = match data.data_type() {
        DataType::Boolean => return None,
        DataType::Utf8 | DataType::Binary => variable_width_values::<i32>(data),
        DataType::LargeUtf8 | DataType::LargeBinary => variable_width_values::<i64>(data),
        t => {
            let width = match t {
                DataType::FixedSizeBinary(n) => usize::try_from(*n).ok()?,
                t => t.primitive_width()?,
            };
            let values = fixed_width_values(data, width);
            Box::new(move |i| &values[i * width..(i + 1) * width])
        }
    };
    let mut seen = HashSet::with_capacity(rows);
    let mut sampled = 0;
    for i in (0..rows).filter(|&i| data.is_valid(i)) {
        seen.insert(hasher.hash_one(value(i)));
        sampled += 1;
    }
    if sampled < MIN_SAMPLE {
        return None;
    }
    Some((seen.len(), sampled))
}

/// Row `i`'s bytes in a string or binary column with `O` offsets (honouring the array's offset).
fn variable_width_values<'a, O: OffsetSizeTrait>(
    data: &'a ArrayData,
) -> Box<dyn Fn(usize) -> &'a [u8] + 'a> {
    let offsets = data.buffer::<O>(0);
    let values = data.buffers()[1].as_slice();
    Box::new(move |i| &values[offsets[i].as_usize()..offsets[i + 1].as_usize()])
}

/// The values buffer of a fixed-width column, from its first value. `ArrayData::buffer::<u8>`
/// would skip `offset` bytes, not values.
fn fixed_width_values(data: &ArrayData, width: usize) -> &[u8] {
    &data.buffers()[0].as_slice()[data.offset() * width..]
}

/// The sampled non-null values of a column Parquet stores as INT32 or INT64 (the only
/// physical types delta encoding takes), with their plain width in bits.
fn integer_values(data: &ArrayData) -> Option<(Vec<i64>, usize)> {
    let (width, bits) = match data.data_type() {
        DataType::Int8 | DataType::UInt8 => (1, 32),
        DataType::Int16 | DataType::UInt16 => (2, 32),
        DataType::Int32 | DataType::UInt32 | DataType::Date32 | DataType::Time32(_) => (4, 32),
        DataType::Int64
        | DataType::UInt64
        | DataType::Date64
        | DataType::Time64(_)
        | DataType::Timestamp(_, _) => (8, 64),
        // Decimals of up to 18 digits are stored as INT32/INT64 (their low bytes here).
        DataType::Decimal128(p, _) if *p <= 9 => (16, 32),
        DataType::Decimal128(p, _) if *p <= 18 => (16, 64),
        _ => return None,
    };
    let signed = !matches!(
        data.data_type(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
    );
    let raw = fixed_width_values(data, width);
    let rows = data.len().min(SAMPLE);
    let values = (0..rows)
        .filter(|&i| data.is_valid(i))
        .map(|i| {
            let mut le = [0u8; 8];
            let n = width.min(8);
            le[..n].copy_from_slice(&raw[i * width..i * width + n]);
            let negative = signed && n < 8 && le[n - 1] & 0x80 != 0;
            if negative {
                le[n..].fill(0xff);
            }
            i64::from_le_bytes(le)
        })
        .collect::<Vec<_>>();
    (values.len() >= MIN_SAMPLE).then_some((values, bits))
}

/// Bits `DELTA_BINARY_PACKED` needs for `values`: per block, the differences less the block's
/// smallest, packed at the width of the largest, plus the block's header.
fn delta_bits(values: &[i64]) -> usize {
    let deltas: Vec<i128> = values
        .windows(2)
        .map(|w| i128::from(w[1]) - i128::from(w[0]))
        .collect();
    deltas
        .chunks(DELTA_BLOCK)
        .map(|block| {
            let min = block.iter().min().copied().unwrap_or(0);
            let spread = block.iter().map(|d| d - min).max().unwrap_or(0);
            let width = 128 - spread.leading_zeros() as usize;
            DELTA_BLOCK * width + 64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int16Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(columns: Vec<ArrayRef>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    const DICTIONARY: ColumnEncoding = ColumnEncoding {
        dictionary: Some(true),
        delta: false,
    };
    const PLAIN: ColumnEncoding = ColumnEncoding {
        dictionary: Some(false),
        delta: false,
    };
    const DELTA: ColumnEncoding = ColumnEncoding {
        dictionary: Some(false),
        delta: true,
    };

    /// A deterministic scramble: consecutive inputs land far apart.
    fn scrambled(i: i64) -> i64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64)
            .rotate_left(17)
    }

    #[test]
    fn each_kind_of_column_gets_the_encoding_that_pays() {
        let n = 10_000i64;
        let b = batch(vec![
            // A key in order: steps of one.
            Arc::new(Int64Array::from_iter_values(0..n)),
            // Few distinct values.
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 50))),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("status {}", i % 5)),
            )),
            // Unique strings.
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("{:x}", scrambled(i))),
            )),
            // Insertion times, 17 s apart, with jitter.
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..n).map(|i| 1_600_000_000_000_000 + i * 17_000_000 + i % 7),
                )
                .with_timezone("UTC"),
            ),
            // Random 64-bit values: neither repeats nor small steps.
            Arc::new(Int64Array::from_iter_values((0..n).map(scrambled))),
            // Money with few distinct values, and money that climbs.
            Arc::new(
                Decimal128Array::from_iter_values((0..n).map(|i| i128::from(i % 100)))
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from_iter_values((0..n).map(|i| i128::from(i) * 1234))
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            // Small integers stepping by one, through zero.
            Arc::new(Int16Array::from_iter_values(
                (0..n).map(|i| (i - 5000) as i16),
            )),
            Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 3 == 0)))),
        ]);
        assert_eq!(
            choose(&b),
            vec![
                DELTA,
                DICTIONARY,
                DICTIONARY,
                PLAIN,
                DELTA,
                PLAIN,
                DICTIONARY,
                DELTA,
                DELTA,
                ColumnEncoding::default(),
            ]
        );
    }

    #[test]
    fn a_sliced_column_is_judged_on_its_own_rows() {
        // The first half repeats one value, the second half is scattered: a slice of the
        // second half must be judged on its own values, which it is only if the offset is
        // honoured.
        let values: Vec<i64> = (0..4000)
            .map(|i| if i < 2000 { 7 } else { scrambled(i) })
            .collect();
        let all = Int64Array::from(values);
        assert_eq!(
            choose(&batch(vec![Arc::new(all.slice(0, 2000))])),
            vec![DICTIONARY]
        );
        assert_eq!(
            choose(&batch(vec![Arc::new(all.slice(2000, 2000))])),
            vec![PLAIN]
        );
        let strings = StringArray::from_iter_values((0..4000).map(|i| {
            if i < 2000 {
                "x".to_string()
            } else {
                i.to_string()
            }
        }));
        assert_eq!(
            choose(&batch(vec![Arc::new(strings.slice(2000, 2000))])),
            vec![PLAIN]
        );
        let days = Date32Array::from_iter_values((0..4000).map(|i| if i < 2000 { 1 } else { i }));
        assert_eq!(
            choose(&batch(vec![Arc::new(days.slice(2000, 2000))])),
            vec![DELTA]
        );
    }

    #[test]
    fn nulls_are_not_counted_and_small_samples_are_not_judged() {
        let mostly_null =
            Int64Array::from_iter((0..10_000i64).map(|i| (i % 100 == 0).then_some(i)));
        assert_eq!(
            choose(&batch(vec![Arc::new(mostly_null)])),
            vec![ColumnEncoding::default()]
        );
        let few = Int64Array::from_iter_values(0..100);
        assert_eq!(
            choose(&batch(vec![Arc::new(few)])),
            vec![ColumnEncoding::default()]
        );
    }

    #[test]
    fn delta_size_follows_the_spread_of_each_block() {
        let steady: Vec<i64> = (0..1000).map(|i| i * 17).collect();
        assert_eq!(
            delta_bits(&steady),
            8 * 64,
            "zero-width blocks cost their header"
        );
        let alternating: Vec<i64> = (0..129).map(|i| if i % 2 == 0 { 0 } else { 255 }).collect();
        // Differences +255 and -255: a spread of 510 needs 9 bits.
        assert_eq!(delta_bits(&alternating), 128 * 9 + 64);
        assert_eq!(delta_bits(&[i64::MIN, i64::MAX, i64::MIN]), 128 * 65 + 64);
    }
}
