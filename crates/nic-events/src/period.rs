//! Periods of a measure's data, parsed once from their labels: `2025-03` (a month), `2025-W09`
//! (an ISO week), `2025-T1` to `2025-T3` (a school term). A `Period` holds only a valid period,
//! so the code that reads one never checks its label again; it is written (in events, in the
//! JSON API, in checkpoints) as its label, the same string it was read from.
//!
//! Periods order by time: by their first day, then (for periods starting on the same day) the
//! shorter kind first. Labels of one kind sort the same way as plain strings.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{Days, Months, NaiveDate, Weekday};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Terms in a school year: T1 spring (from January), T2 summer (from May), T3 autumn (from
/// September), four months each.
pub const TERMS_PER_YEAR: u32 = 3;
/// Months of a school term.
const TERM_MONTHS: u32 = 12 / TERMS_PER_YEAR;
/// Bytes of the longest label (`2025-W09`).
const LABEL_BYTES_MAX: usize = 8;

/// How often a measure is collected. Period labels: `2025-03` (month), `2025-W09` (ISO week),
/// `2025-T1` to `2025-T3` (school term).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Week,
    Month,
    Term,
}

impl PeriodKind {
    /// The kind in words: "week", "month", "term".
    pub fn name(self) -> &'static str {
        match self {
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Term => "term",
        }
    }

    /// How a label of this kind is written, with an example.
    pub fn shape(self) -> &'static str {
        match self {
            PeriodKind::Week => "YYYY-Www, e.g. 2025-W09",
            PeriodKind::Month => "YYYY-MM, e.g. 2025-03",
            PeriodKind::Term => "YYYY-T1 to YYYY-T3, e.g. 2025-T2",
        }
    }
}

/// A label that is no period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a period: write a month as {month}, an ISO week as {week} or a school term as \
     {term}",
    month = PeriodKind::Month.shape(),
    week = PeriodKind::Week.shape(),
    term = PeriodKind::Term.shape()
)]
pub struct PeriodError(pub String);

/// A month, an ISO week or a school term, parsed from its label.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    start: NaiveDate,
    kind: PeriodKind,
    /// The label, ASCII: its first `len` bytes.
    label: [u8; LABEL_BYTES_MAX],
    len: u8,
}

impl Period {
    /// Parses a label: `YYYY-MM`, `YYYY-Www` (a week that exists in that ISO year) or `YYYY-Tn`
    /// (n from 1 to `TERMS_PER_YEAR`), digits exactly as shown.
    pub fn parse(label: &str) -> Result<Self, PeriodError> {
        let refused = || PeriodError(label.to_string());
        let (kind, start) = parse_label(label).ok_or_else(refused)?;
        let mut bytes = [0; LABEL_BYTES_MAX];
        bytes
            .get_mut(..label.len())
            .ok_or_else(refused)?
            .copy_from_slice(label.as_bytes());
        Ok(Self {
            start,
            kind,
            label: bytes,
            len: label.len() as u8,
        })
    }

    pub fn kind(&self) -> PeriodKind {
        self.kind
    }

    /// The first day: a week's Monday, a month's first, a term's first of January, May or
    /// September.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The last day.
    pub fn end(&self) -> NaiveDate {
        let next = match self.kind {
            PeriodKind::Week => self.start.checked_add_days(Days::new(7)),
            PeriodKind::Month => self.start.checked_add_months(Months::new(1)),
            PeriodKind::Term => self.start.checked_add_months(Months::new(TERM_MONTHS)),
        };
        next.and_then(|d| d.pred_opt())
            .expect("a period of a four-digit year ends within chrono's range")
    }

    /// The label, as it was parsed.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.label[..usize::from(self.len)]).expect("a label is ASCII")
    }
}

/// (kind, first day) of a label, if it is one.
fn parse_label(label: &str) -> Option<(PeriodKind, NaiveDate)> {
    let (year, rest) = label.split_once('-')?;
    let year = digits(year, 4)? as i32;
    if let Some(week) = rest.strip_prefix('W') {
        let start = NaiveDate::from_isoywd_opt(year, digits(week, 2)?, Weekday::Mon)?;
        Some((PeriodKind::Week, start))
    } else if let Some(term) = rest.strip_prefix('T') {
        let term = digits(term, 1)?;
        if !(1..=TERMS_PER_YEAR).contains(&term) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, 1 + (term - 1) * TERM_MONTHS, 1)?;
        Some((PeriodKind::Term, start))
    } else {
        Some((
            PeriodKind::Month,
            NaiveDate::from_ymd_opt(year, digits(rest, 2)?, 1)?,
        ))
    }
}

/// The number `s` writes in exactly `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// In time order: by first day, then the shorter kind first.
impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start, self.kind).cmp(&(other.start, other.kind))
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Period({:?})", self.as_str())
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, PeriodError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Period {
    type Error = PeriodError;
    fn try_from(s: String) -> Result<Self, PeriodError> {
        Self::parse(&s)
    }
}

impl TryFrom<&str> for Period {
    type Error = PeriodError;
    fn try_from(s: &str) -> Result<Self, PeriodError> {
        Self::parse(s)
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.as_str().to_string()
    }
}

/// A period equals its label.
impl PartialEq<str> for Period {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Period {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Read from its label, without copying it first.
impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Label;
        impl serde::de::Visitor<'_> for Label {
            type Value = Period;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a period label such as 2025-03, 2025-W09 or 2025-T1")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Period, E> {
                Period::parse(s).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Label)
    }
}

/// A string; the pattern says the shape of a label (a week must also exist in its ISO year,
/// which only the reader checks).
impl JsonSchema for Period {
    fn schema_name() -> Cow<'static, str> {
        "Period".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2]|W(0[1-9]|[1-4][0-9]|5[0-3])|T[1-3])$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(label: &str) -> Period {
        Period::parse(label).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn labels_of_each_kind_parse_and_others_are_refused() {
        assert_eq!(p("2025-03").kind(), PeriodKind::Month);
        assert_eq!(p("2025-W09").kind(), PeriodKind::Week);
        assert_eq!(p("2025-T3").kind(), PeriodKind::Term);
        for bad in [
            "2025-13",
            "2025-00",
            "2025-3",
            "2025-W54",
            "2025-W00",
            "2025-W9",
            "2025-T4",
            "2025-T0",
            "2025-T01",
            "March",
            "March 2025",
            "",
            "25-03",
            "2025",
            "2025-",
            "2025-W",
            "2025-T",
            "+025-03",
            "2025-03 ",
            " 2025-03",
            "2025-W09x",
            "２０２５-03",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad:?} parses");
        }
        // A week 53 exists only in some ISO years.
        assert!(Period::parse("2020-W53").is_ok());
        assert!(Period::parse("2025-W53").is_err());
        let e = Period::parse("March").unwrap_err().to_string();
        assert!(e.contains("YYYY-MM"), "{e}");
        assert!(e.contains("YYYY-Www") && e.contains("YYYY-T1"), "{e}");
    }

    #[test]
    fn periods_have_start_and_end_dates_and_order_by_time() {
        assert_eq!(p("2025-W01").start(), day(2024, 12, 30));
        assert_eq!(p("2025-W01").end(), day(2025, 1, 5));
        assert_eq!(p("2025-02").start(), day(2025, 2, 1));
        assert_eq!(p("2025-02").end(), day(2025, 2, 28));
        assert_eq!(p("2024-02").end(), day(2024, 2, 29));
        assert_eq!(p("2025-T1").start(), day(2025, 1, 1));
        assert_eq!(p("2025-T2").start(), day(2025, 5, 1));
        assert_eq!(p("2025-T3").start(), day(2025, 9, 1));
        assert_eq!(p("2025-T3").end(), day(2025, 12, 31));
        assert_eq!(p("9999-12").end(), day(9999, 12, 31));
        assert!(p("2025-T2") < p("2025-T3"));
        assert!(p("2025-09") > p("2025-08"));
        assert!(p("2024-W52") < p("2025-W01"));
        // Of periods starting on the same day, the shorter first.
        assert!(p("2025-01") < p("2025-T1"));
        assert!(p("2024-12") < p("2025-W01"));
    }

    #[test]
    fn labels_of_one_kind_sort_as_their_periods() {
        for labels in [
            ["2024-W52", "2025-W01", "2025-W02", "2025-W10", "2026-W53"],
            ["0999-12", "1000-01", "2025-02", "2025-10", "2025-11"],
            ["2024-T3", "2025-T1", "2025-T2", "2025-T3", "2026-T1"],
        ] {
            for a in labels {
                for b in labels {
                    assert_eq!(p(a).cmp(&p(b)), a.cmp(b), "{a} against {b}");
                }
            }
        }
    }

    #[test]
    fn a_period_reads_and_writes_as_its_label() {
        for label in ["2025-03", "2025-W09", "2025-T1", "0000-W01"] {
            let period = p(label);
            assert_eq!(period.to_string(), label);
            assert_eq!(period, label);
            assert_eq!(String::from(period), label);
            let json = serde_json::to_string(&period).unwrap();
            assert_eq!(json, format!("\"{label}\""));
            assert_eq!(serde_json::from_str::<Period>(&json).unwrap(), period);
            assert_eq!(label.parse::<Period>().unwrap(), period);
        }
        let e = serde_json::from_str::<Period>("\"2025-13\"").unwrap_err();
        assert!(e.to_string().contains("is not a period"), "{e}");
        assert!(serde_json::from_str::<Period>("202503").is_err());
    }
}
