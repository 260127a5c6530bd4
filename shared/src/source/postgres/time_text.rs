//! `time` and `timetz` from their binary form to PostgreSQL's ISO text form (what `::text`
//! gives under `DateStyle = ISO`): Athena has no time-of-day type, so both are exported as text.

/// `HH:MM:SS[.ffffff]` from microseconds since midnight (up to `24:00:00`), trailing zeros of
/// the fraction trimmed as PostgreSQL trims them.
pub fn time_text(micros: i64) -> Result<String, String> {
    if !(0..=86_400_000_000).contains(&micros) {
        return Err(format!("time of {micros} microseconds is out of range"));
    }
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut out = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    Ok(out)
}

/// [`time_text`] followed by the zone's offset east of UTC, `+HH[:MM[:SS]]`. PostgreSQL sends
/// the zone as seconds west of UTC.
pub fn timetz_text(micros: i64, zone_west: i32) -> Result<String, String> {
    let mut out = time_text(micros)?;
    let east = -(zone_west as i64);
    out.push(if east < 0 { '-' } else { '+' });
    let east = east.abs();
    let (h, m, s) = (east / 3600, east / 60 % 60, east % 60);
    out.push_str(&format!("{h:02}"));
    if m != 0 || s != 0 {
        out.push_str(&format!(":{m:02}"));
    }
    if s != 0 {
        out.push_str(&format!(":{s:02}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_postgresql_prints_them() {
        assert_eq!(time_text(0).unwrap(), "00:00:00");
        assert_eq!(time_text(86_399_999_999).unwrap(), "23:59:59.999999");
        assert_eq!(time_text(45_296_500_000).unwrap(), "12:34:56.5");
        assert_eq!(time_text(86_400_000_000).unwrap(), "24:00:00");
        assert!(time_text(-1).is_err());
        assert_eq!(
            timetz_text(86_399_999_999, -14 * 3600).unwrap(),
            "23:59:59.999999+14"
        );
        assert_eq!(
            timetz_text(43_200_000_000, 3 * 3600 + 1800).unwrap(),
            "12:00:00-03:30"
        );
        assert_eq!(timetz_text(0, 0).unwrap(), "00:00:00+00");
        assert_eq!(
            timetz_text(0, -(5 * 3600 + 7)).unwrap(),
            "00:00:00+05:00:07"
        );
    }
}
