//! Decodes one non-NULL value of any shape: a scalar, an array into nested lists (kept,
//! or flattened and counted when its dimensions differ from the column's), a composite value
//! into a struct.

use super::scalar::decode_scalar;
use super::shape::Shape;
use crate::columns::ColumnBuilder;
use crate::model::LossyRule;

/// Decodes one non-NULL value of any shape and appends it.
pub(super) fn decode_value(
    shape: &Shape,
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    match shape {
        Shape::Scalar(wire) => decode_scalar(*wire, v, builder, lossy),
        Shape::Array { dims, element } => decode_array(*dims, element, v, builder, lossy),
        Shape::Record(fields) => decode_record(fields, v, builder, lossy),
    }
}

fn be32(v: &[u8], at: usize) -> Result<i32, String> {
    v.get(at..at + 4)
        .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| "value truncated".to_string())
}

/// Decodes one non-NULL composite value into one struct value: the attribute count, then per
/// attribute its type oid, its length (-1 for NULL) and its bytes.
fn decode_record(
    fields: &[Shape],
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    let ColumnBuilder::Struct(record) = builder else {
        return Err("internal: a record's builder is not a struct".into());
    };
    let count = be32(v, 0)?;
    if usize::try_from(count).ok() != Some(fields.len()) {
        return Err(format!(
            "record has {count} attributes, its type had {} when the export was planned",
            fields.len()
        ));
    }
    let mut pos = 4;
    for (shape, child) in fields.iter().zip(record.children.iter_mut()) {
        let len = be32(v, pos + 4)?;
        pos += 8;
        if len < 0 {
            child.append_null();
            continue;
        }
        let end = pos + len as usize;
        let value = v.get(pos..end).ok_or("record attribute truncated")?;
        decode_value(shape, value, child, lossy)?;
        pos = end;
    }
    record.close();
    Ok(())
}

/// Decodes one non-NULL array into one value of `dims` nested lists: header (ndim, flags,
/// element oid), dimensions (size, lower bound), then the elements in row-major order, each
/// with its own length. An array of `dims` dimensions keeps its shape; one of other dimensions
/// is flattened into the innermost list (inside outer lists of one), counted; an empty array
/// (no dimensions) is an empty list.
fn decode_array(
    dims: usize,
    element: &Shape,
    v: &[u8],
    builder: &mut ColumnBuilder,
    lossy: &mut dyn FnMut(LossyRule),
) -> Result<(), String> {
    let ndim = be32(v, 0)?;
    if !(0..=6).contains(&ndim) {
        return Err(format!("array has {ndim} dimensions"));
    }
    if ndim == 0 {
        let ColumnBuilder::List(list) = builder else {
            return Err("internal: an array's builder is not a list".into());
        };
        return list.close().map_err(|e| e.to_string());
    }
    let mut sizes = Vec::with_capacity(ndim as usize);
    let mut count: usize = 1;
    for d in 0..ndim as usize {
        let size = usize::try_from(be32(v, 12 + 8 * d)?).map_err(|_| "negative array size")?;
        let lower = be32(v, 16 + 8 * d)?;
        count = count.checked_mul(size).ok_or("array too large")?;
        sizes.push(size);
        if lower != 1 {
            lossy(LossyRule::ArrayLowerBoundDropped);
        }
    }
    if sizes.len() != dims {
        lossy(LossyRule::ArrayFlattened);
        sizes = vec![1; dims];
        sizes[dims - 1] = count;
    }
    let mut pos = 12 + 8 * ndim as usize;
    let mut next = |b: &mut ColumnBuilder| -> Result<(), String> {
        let len = be32(v, pos)?;
        pos += 4;
        if len < 0 {
            b.append_null();
            return Ok(());
        }
        let end = pos + len as usize;
        let value = v.get(pos..end).ok_or("array element truncated")?;
        pos = end;
        decode_value(element, value, b, lossy)
    };
    fill_lists(&sizes, builder, &mut next)
}

/// Appends one value of nested lists of `sizes` (outermost first), taking each element from
/// `next`.
fn fill_lists(
    sizes: &[usize],
    builder: &mut ColumnBuilder,
    next: &mut dyn FnMut(&mut ColumnBuilder) -> Result<(), String>,
) -> Result<(), String> {
    let ColumnBuilder::List(list) = builder else {
        return Err("internal: an array's builder is not a list".into());
    };
    for _ in 0..sizes[0] {
        if sizes.len() == 1 {
            next(&mut list.elements)?;
        } else {
            fill_lists(&sizes[1..], &mut list.elements, next)?;
        }
    }
    list.close().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use crate::model::LossyRule;
    use crate::source::postgres::decode::TupleDecoder;
    use crate::source::postgres::decode::tests::{column, header, tuple};
    use crate::types::ValueKind;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    /// PostgreSQL's binary array: dimensions as (size, lower bound), elements in row-major order.
    fn array(dims: &[(i32, i32)], elements: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut v = (dims.len() as i32).to_be_bytes().to_vec();
        v.extend(0i32.to_be_bytes());
        v.extend(23i32.to_be_bytes());
        for (size, lower) in dims {
            v.extend(size.to_be_bytes());
            v.extend(lower.to_be_bytes());
        }
        for e in elements {
            match e {
                None => v.extend((-1i32).to_be_bytes()),
                Some(b) => {
                    v.extend((b.len() as i32).to_be_bytes());
                    v.extend(b);
                }
            }
        }
        v
    }

    fn int4(i: i32) -> Option<Vec<u8>> {
        Some(i.to_be_bytes().to_vec())
    }

    #[test]
    fn arrays_keep_their_dimensions_or_are_flattened_and_counted() {
        let grid = crate::source::postgres::typemap::nested_lists(ValueKind::Int32, 2);
        let cols = [column("g", grid, "int4")];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        let two = array(&[(2, 1), (2, 1)], &[int4(1), int4(2), None, int4(4)]);
        let one = array(&[(3, 0)], &[int4(7), int4(8), int4(9)]);
        let empty = array(&[], &[]);
        s.extend(tuple(&[Some(&two)]));
        s.extend(tuple(&[Some(&one)]));
        s.extend(tuple(&[Some(&empty)]));
        s.extend(tuple(&[None]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let shown: Vec<String> = {
            use arrow::util::display::{ArrayFormatter, FormatOptions};
            let options = FormatOptions::default().with_null("NULL");
            let f = ArrayFormatter::try_new(b.column(0).as_ref(), &options).unwrap();
            (0..4).map(|i| f.value(i).to_string()).collect()
        };
        assert_eq!(shown, ["[[1, 2], [NULL, 4]]", "[[7, 8, 9]]", "[]", "NULL"]);
        assert_eq!(dec.lossy_counts()["g"][&LossyRule::ArrayFlattened], 1);
        assert_eq!(
            dec.lossy_counts()["g"][&LossyRule::ArrayLowerBoundDropped],
            1
        );
    }

    #[test]
    fn records_decode_into_structs_with_null_fields_and_nested_arrays() {
        use crate::types::StructField;
        let kind = ValueKind::Struct {
            fields: vec![
                StructField {
                    name: "a".into(),
                    kind: ValueKind::Int32,
                },
                StructField {
                    name: "xs".into(),
                    kind: crate::source::postgres::typemap::nested_lists(ValueKind::Int32, 1),
                },
            ],
        };
        let record = |a: Option<Vec<u8>>, xs: Option<Vec<u8>>| {
            let mut v = 2i32.to_be_bytes().to_vec();
            for (oid, f) in [(23i32, a), (1007, xs)] {
                v.extend(oid.to_be_bytes());
                match f {
                    None => v.extend((-1i32).to_be_bytes()),
                    Some(b) => {
                        v.extend((b.len() as i32).to_be_bytes());
                        v.extend(b);
                    }
                }
            }
            v
        };
        let cols = [column("r", kind, "(int4,int4)")];
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        s.extend(tuple(&[Some(&record(
            int4(5),
            Some(array(&[(2, 1)], &[int4(1), None])),
        ))]));
        s.extend(tuple(&[Some(&record(None, None))]));
        s.extend(tuple(&[None]));
        dec.decode(&s).unwrap();
        let b = dec.finish_batch().unwrap();
        let r = b.column(0).as_struct();
        assert!(!r.is_null(0) && !r.is_null(1) && r.is_null(2));
        let a = r.column(0).as_primitive::<Int32Type>();
        assert_eq!(a.value(0), 5);
        assert!(a.is_null(1));
        let xs = r.column(1).as_list::<i32>();
        assert_eq!(xs.value(0).as_primitive::<Int32Type>().len(), 2);
        assert!(xs.is_null(1));
        // A record of another width than planned is an error, not a shifted row.
        let mut dec = TupleDecoder::new(&cols, 4).unwrap();
        let mut s = header();
        s.extend(tuple(&[Some(&1i32.to_be_bytes()[..])]));
        assert!(dec.decode(&s).is_err());
    }
}
