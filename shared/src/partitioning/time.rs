//! The calendar arithmetic of time partitions, in UTC. Times travel as whole seconds since the
//! Unix epoch (a row's wall-clock reading for `timestamp` and `date`, its instant for
//! `timestamptz`), so the planner and both engines agree on every boundary.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Timelike};

use crate::model::Granularity;

const DAY: i64 = 86_400;

impl Granularity {
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Year => "year",
            Granularity::Month => "month",
            Granularity::Day => "day",
            Granularity::Hour => "hour",
        }
    }

    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "year" => Some(Granularity::Year),
            "month" => Some(Granularity::Month),
            "day" => Some(Granularity::Day),
            "hour" => Some(Granularity::Hour),
            _ => None,
        }
    }

    /// The step of the planner's row counts: one level finer than the partition, so a
    /// partition too big for one file can be cut into several near the target size. A `date`
    /// column cannot be cut finer than a day.
    pub fn profile_step(self, date_column: bool) -> i64 {
        let step = match self {
            Granularity::Year | Granularity::Month => DAY,
            Granularity::Day => 3_600,
            Granularity::Hour => 60,
        };
        if date_column { step.max(DAY) } else { step }
    }

    /// The start of the period holding `secs`.
    pub fn period_start(self, secs: i64) -> i64 {
        let t = at(secs);
        let start = match self {
            Granularity::Year => date_time(t.year(), 1, 1),
            Granularity::Month => date_time(t.year(), t.month(), 1),
            Granularity::Day => t.date().and_hms_opt(0, 0, 0),
            Granularity::Hour => t.date().and_hms_opt(t.hour(), 0, 0),
        };
        start.map_or(secs, |s| s.and_utc().timestamp())
    }

    /// The start of the period after the one starting at `start`.
    pub fn period_end(self, start: i64) -> i64 {
        let t = at(start);
        let next = match self {
            Granularity::Year => date_time(t.year() + 1, 1, 1),
            Granularity::Month => t.checked_add_months(Months::new(1)),
            Granularity::Day => Some(t + chrono::Duration::days(1)),
            Granularity::Hour => Some(t + chrono::Duration::hours(1)),
        };
        next.map_or(i64::MAX, |n| n.and_utc().timestamp())
    }

    /// The partition value of the period starting at `start`: `2024`, `2024-03`,
    /// `2024-03-01` or `2024-03-01-13`. Only digits and `-`, so it needs no escaping.
    pub fn label(self, start: i64) -> String {
        at(start).format(self.chrono_format()).to_string()
    }

    fn chrono_format(self) -> &'static str {
        match self {
            Granularity::Year => "%Y",
            Granularity::Month => "%Y-%m",
            Granularity::Day => "%Y-%m-%d",
            Granularity::Hour => "%Y-%m-%d-%H",
        }
    }

    /// Athena's partition projection format for [`Granularity::label`] (Java `DateTimeFormatter`).
    pub fn projection_format(self) -> &'static str {
        match self {
            Granularity::Year => "yyyy",
            Granularity::Month => "yyyy-MM",
            Granularity::Day => "yyyy-MM-dd",
            Granularity::Hour => "yyyy-MM-dd-HH",
        }
    }

    /// Athena's partition projection `interval.unit`.
    pub fn projection_unit(self) -> &'static str {
        match self {
            Granularity::Year => "YEARS",
            Granularity::Month => "MONTHS",
            Granularity::Day => "DAYS",
            Granularity::Hour => "HOURS",
        }
    }
}

fn at(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp(secs, 0).map_or(NaiveDateTime::MIN, |d| d.naive_utc())
}

fn date_time(year: i32, month: u32, day: u32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(year, month, day).and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn periods_and_labels() {
        let t = secs("2024-02-29 13:45:10");
        let cases = [
            (
                Granularity::Year,
                "2024-01-01 00:00:00",
                "2025-01-01 00:00:00",
                "2024",
            ),
            (
                Granularity::Month,
                "2024-02-01 00:00:00",
                "2024-03-01 00:00:00",
                "2024-02",
            ),
            (
                Granularity::Day,
                "2024-02-29 00:00:00",
                "2024-03-01 00:00:00",
                "2024-02-29",
            ),
            (
                Granularity::Hour,
                "2024-02-29 13:00:00",
                "2024-02-29 14:00:00",
                "2024-02-29-13",
            ),
        ];
        for (g, start, end, label) in cases {
            let s = g.period_start(t);
            assert_eq!(s, secs(start), "{g:?}");
            assert_eq!(g.period_end(s), secs(end), "{g:?}");
            assert_eq!(g.label(s), label);
            assert_eq!(Granularity::parse(g.name()), Some(g));
        }
    }

    #[test]
    fn before_the_epoch_and_month_ends() {
        let t = secs("1969-12-31 23:59:59");
        assert_eq!(
            Granularity::Day.period_start(t),
            secs("1969-12-31 00:00:00")
        );
        assert_eq!(
            Granularity::Year.label(Granularity::Year.period_start(t)),
            "1969"
        );
        let jan31 = Granularity::Month.period_start(secs("2023-01-31 10:00:00"));
        assert_eq!(
            Granularity::Month.period_end(jan31),
            secs("2023-02-01 00:00:00")
        );
        assert_eq!(Granularity::Hour.profile_step(false), 60);
        assert_eq!(Granularity::Day.profile_step(true), DAY);
    }
}
