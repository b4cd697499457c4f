//! Period labels of a measure's data: `2025-03` (month), `2025-W09` (ISO week), `2025-T1` to
//! `2025-T3` (school term). Labels of one kind sort in time order as plain strings.

use chrono::NaiveDate;
use nic_events::catalog::PeriodKind;

/// Terms in a school year.
pub const TERMS_PER_YEAR: u32 = 3;

/// Checks that `label` is a period of `kind`; the error says what the label should look like.
pub fn check(kind: PeriodKind, label: &str) -> Result<(), String> {
    let ok = match kind {
        PeriodKind::Month => parse_month(label).is_some(),
        PeriodKind::Week => parse_week(label).is_some(),
        PeriodKind::Term => parse_term(label).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{label:?} is not a {} period; write {}",
            name(kind),
            example(kind)
        ))
    }
}

/// The first day of a period (terms start on the first of January, May and September), for
/// placing periods of any kind on a time line.
pub fn start(kind: PeriodKind, label: &str) -> Option<NaiveDate> {
    match kind {
        PeriodKind::Month => parse_month(label),
        PeriodKind::Week => parse_week(label),
        PeriodKind::Term => parse_term(label),
    }
}

fn name(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Week => "week",
        PeriodKind::Month => "month",
        PeriodKind::Term => "term",
    }
}

fn example(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Week => "YYYY-Www, e.g. 2025-W09",
        PeriodKind::Month => "YYYY-MM, e.g. 2025-03",
        PeriodKind::Term => "YYYY-T1 to YYYY-T3, e.g. 2025-T2",
    }
}

fn year(s: &str) -> Option<i32> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn two_digits(s: &str) -> Option<u32> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_month(label: &str) -> Option<NaiveDate> {
    let (y, m) = label.split_once('-')?;
    NaiveDate::from_ymd_opt(year(y)?, two_digits(m)?, 1)
}

fn parse_week(label: &str) -> Option<NaiveDate> {
    let (y, w) = label.split_once("-W")?;
    NaiveDate::from_isoywd_opt(year(y)?, two_digits(w)?, chrono::Weekday::Mon)
}

fn parse_term(label: &str) -> Option<NaiveDate> {
    let (y, t) = label.split_once("-T")?;
    if t.len() != 1 {
        return None;
    }
    let (y, t) = (year(y)?, t.parse::<u32>().ok()?);
    if !(1..=TERMS_PER_YEAR).contains(&t) {
        return None;
    }
    // Terms of a calendar year: T1 spring (January), T2 summer (May), T3 autumn (September).
    let month = [1, 5, 9][t as usize - 1];
    NaiveDate::from_ymd_opt(y, month, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_each_kind_parse_and_others_are_refused() {
        assert!(check(PeriodKind::Month, "2025-03").is_ok());
        assert!(check(PeriodKind::Month, "2025-13").is_err());
        assert!(check(PeriodKind::Month, "2025-3").is_err());
        assert!(check(PeriodKind::Month, "2025-W03").is_err());
        assert!(check(PeriodKind::Week, "2025-W09").is_ok());
        assert!(check(PeriodKind::Week, "2025-W54").is_err());
        assert!(check(PeriodKind::Term, "2025-T3").is_ok());
        assert!(check(PeriodKind::Term, "2025-T4").is_err());
        assert!(check(PeriodKind::Term, "2025-T01").is_err());
        let e = check(PeriodKind::Month, "March").unwrap_err();
        assert!(e.contains("YYYY-MM"), "{e}");
    }

    #[test]
    fn periods_have_start_dates_in_order() {
        assert_eq!(
            start(PeriodKind::Week, "2025-W01"),
            NaiveDate::from_ymd_opt(2024, 12, 30)
        );
        assert!(start(PeriodKind::Term, "2025-T2") < start(PeriodKind::Term, "2025-T3"));
        assert!(start(PeriodKind::Month, "2025-09") > start(PeriodKind::Month, "2025-08"));
    }
}
