//! PostgreSQL's binary `numeric` (base-10000 digits) to a Decimal128 integer at a fixed scale.

/// What a binary numeric holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numeric {
    /// The value times `10^scale`.
    Finite(i128),
    /// NaN, Infinity or -Infinity: no Decimal128 holds them.
    Special,
}

const SIGN_NEG: u16 = 0x4000;
const SIGN_POS: u16 = 0x0000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;

/// Formats `raw` as PostgreSQL's `numeric_out` does: every digit, `dscale` of them after the
/// point, and `NaN`, `Infinity`, `-Infinity`. Exact at any precision and scale.
pub fn numeric_text(raw: &[u8]) -> Result<String, String> {
    if raw.len() < 8 {
        return Err(format!("numeric header is {} bytes, expected 8", raw.len()));
    }
    let be16 = |i: usize| u16::from_be_bytes([raw[i], raw[i + 1]]);
    let ndigits = be16(0) as usize;
    let weight = be16(2) as i16 as i64;
    let sign = be16(4);
    let dscale = be16(6) as usize;
    match sign {
        SIGN_NAN => return Ok("NaN".into()),
        SIGN_PINF => return Ok("Infinity".into()),
        SIGN_NINF => return Ok("-Infinity".into()),
        SIGN_POS | SIGN_NEG => {}
        other => return Err(format!("numeric sign {other:#x} unknown")),
    }
    if raw.len() != 8 + 2 * ndigits {
        return Err(format!(
            "numeric with {ndigits} digits has {} bytes",
            raw.len()
        ));
    }
    // The base-10000 digit of weight `w` (digit i has weight `weight - i`).
    let digit = |w: i64| -> Result<u16, String> {
        let i = weight - w;
        if i < 0 || i >= ndigits as i64 {
            return Ok(0);
        }
        let d = be16(8 + 2 * i as usize);
        if d > 9999 {
            return Err(format!("numeric digit {d} out of range"));
        }
        Ok(d)
    };
    let mut out = String::with_capacity(ndigits * 4 + dscale + 2);
    if sign == SIGN_NEG {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(weight)?.to_string());
        for w in (0..weight).rev() {
            out.push_str(&format!("{:04}", digit(w)?));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::with_capacity(dscale + 4);
        let mut w = -1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(w)?));
            w -= 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

/// Decodes `raw` (ndigits, weight, sign, dscale, digits...) at `scale` decimal places.
/// Fails if the value has non-zero digits beyond `scale` or does not fit in 38 digits;
/// neither can happen for a column declared `numeric(p,s)` with `p <= 38`.
pub fn decode_numeric(raw: &[u8], scale: i8) -> Result<Numeric, String> {
    if raw.len() < 8 {
        return Err(format!("numeric header is {} bytes, expected 8", raw.len()));
    }
    let be16 = |i: usize| u16::from_be_bytes([raw[i], raw[i + 1]]);
    let ndigits = be16(0) as usize;
    let weight = be16(2) as i16 as i32;
    let sign = be16(4);
    if sign != SIGN_POS && sign != SIGN_NEG {
        return Ok(Numeric::Special);
    }
    if raw.len() != 8 + 2 * ndigits {
        return Err(format!(
            "numeric with {ndigits} digits has {} bytes",
            raw.len()
        ));
    }
    let scale = scale as i32;
    let overflow = || "numeric value does not fit in 38 digits".to_string();
    let mut acc: i128 = 0;
    // Power of ten of the last digit folded into `acc`.
    let mut last_power: Option<i32> = None;
    for i in 0..ndigits {
        let group = be16(8 + 2 * i) as i128;
        if group > 9999 {
            return Err(format!("numeric digit {group} out of range"));
        }
        let group_low_power = 4 * (weight - i as i32);
        if group_low_power >= -scale {
            acc = acc
                .checked_mul(10_000)
                .and_then(|a| a.checked_add(group))
                .ok_or_else(overflow)?;
            last_power = Some(group_low_power);
        } else {
            // The group straddles the scale: keep its leading digits, the rest must be zero.
            let keep = (group_low_power + 3 + scale + 1).max(0) as u32; // digits at powers >= -scale
            let drop = 4 - keep;
            let divisor = 10i128.pow(drop);
            if group % divisor != 0 {
                return Err(format!("numeric has digits beyond its scale {scale}"));
            }
            if keep > 0 {
                acc = acc
                    .checked_mul(10i128.pow(keep))
                    .and_then(|a| a.checked_add(group / divisor))
                    .ok_or_else(overflow)?;
                last_power = Some(-scale);
            }
        }
    }
    if let Some(p) = last_power {
        let shift = (p + scale) as u32;
        acc = 10i128
            .checked_pow(shift)
            .and_then(|m| acc.checked_mul(m))
            .ok_or_else(overflow)?;
    }
    if acc >= 10i128.pow(38) {
        return Err(overflow());
    }
    Ok(Numeric::Finite(if sign == SIGN_NEG { -acc } else { acc }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a decimal string the way PostgreSQL's numeric_send does (trailing zero groups stripped).
    fn encode(s: &str) -> Vec<u8> {
        let neg = s.starts_with('-');
        let s = s.trim_start_matches('-');
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let int = int.trim_start_matches('0');
        let pad_int = (4 - int.len() % 4) % 4;
        let int = format!("{}{}", "0".repeat(pad_int), int);
        let pad_frac = (4 - frac.len() % 4) % 4;
        let frac_p = format!("{}{}", frac, "0".repeat(pad_frac));
        let all = format!("{int}{frac_p}");
        let mut groups: Vec<u16> = all
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
            .collect();
        let mut weight = (int.len() / 4) as i32 - 1;
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let mut out = Vec::new();
        out.extend((groups.len() as u16).to_be_bytes());
        out.extend((weight as i16).to_be_bytes());
        out.extend((if neg { SIGN_NEG } else { SIGN_POS }).to_be_bytes());
        out.extend((frac.len() as u16).to_be_bytes());
        for g in groups {
            out.extend(g.to_be_bytes());
        }
        out
    }

    #[test]
    fn decodes_at_the_declared_scale() {
        let cases: &[(&str, i8, i128)] = &[
            ("0", 0, 0),
            ("0.00", 2, 0),
            ("1.5", 1, 15),
            ("1.5", 3, 1500),
            ("-1234.5678", 4, -12345678),
            ("10000", 0, 10000),
            ("0.0001", 4, 1),
            ("0.00012", 5, 12),
            (
                "123456789012345678901234567890.12345678",
                8,
                12345678901234567890123456789012345678,
            ),
            (
                "99999999999999999999999999999999999999",
                0,
                99999999999999999999999999999999999999,
            ),
            (
                "-0.99999999999999999999999999999999999999",
                38,
                -99999999999999999999999999999999999999,
            ),
            (
                "0.1234567890123456789012345678901234567",
                37,
                1234567890123456789012345678901234567,
            ),
        ];
        for (text, scale, want) in cases {
            assert_eq!(
                decode_numeric(&encode(text), *scale),
                Ok(Numeric::Finite(*want)),
                "{text} at scale {scale}"
            );
        }
    }

    #[test]
    fn text_form_is_numeric_out() {
        for text in [
            "0",
            "0.00",
            "123.456000",
            "-1234.5678",
            "10000",
            "0.0001",
            "0.00012",
            "100000000.5",
            "-0.000000001",
            "123456789012345678901234567890123456789012345.12345",
        ] {
            assert_eq!(numeric_text(&encode(text)).unwrap(), text);
        }
        let mut nan = encode("0");
        nan[4..6].copy_from_slice(&SIGN_NAN.to_be_bytes());
        assert_eq!(numeric_text(&nan).unwrap(), "NaN");
        nan[4..6].copy_from_slice(&SIGN_NINF.to_be_bytes());
        assert_eq!(numeric_text(&nan).unwrap(), "-Infinity");
    }

    #[test]
    fn specials_and_bad_input() {
        let mut nan = encode("0");
        nan[4..6].copy_from_slice(&0xC000u16.to_be_bytes());
        assert_eq!(decode_numeric(&nan, 2), Ok(Numeric::Special));
        assert!(
            decode_numeric(&encode("1.25"), 1).is_err(),
            "digits beyond scale"
        );
        assert!(decode_numeric(&encode("123456789012345678901234567890123456789"), 0).is_err());
        assert!(decode_numeric(&[0, 1], 0).is_err());
    }
}
