//! Each program's portfolio against the network's quality standards: per standard (code, title),
//! the program's self-ratings over time, by assessment date ascending, each with the evidence it
//! cites. Evidence held by the ledger (a cycle, a measure, a synthesis) is shown with its title as
//! the log names it at the view's position; a document is shown by its reference.
//!
//! The standards matrix (`Portfolios::matrix`) is the network's view across programs: each
//! program's latest rating per standard, in the rating scale's words, its change since the
//! assessment before, and how old it is.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use nic_events::catalog::*;
use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::names::Names;
use crate::run_charts::RunCharts;
use crate::{is_new, OnBase, ReadModels, Recorded, WithBase};

/// Every program's self-assessments, folded from the log (names are read from the base).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Portfolios {
    position: u64,
    applied: bool,
    descriptions: BTreeMap<Uuid, String>,
    assessments: BTreeMap<Uuid, Vec<(u64, StandardSelfAssessed)>>,
}

/// The portfolios with a base of their own: a projection by itself.
pub type Portfolio = WithBase<Portfolios>;

impl Portfolio {
    /// A program's portfolio; `None` for a program the log does not know.
    pub fn view(&self, program_id: Uuid) -> Option<PortfolioView> {
        self.model.view(&self.base, program_id)
    }

    /// Programs the log has enrolled, by id.
    pub fn programs(&self) -> Vec<Uuid> {
        self.model.programs(&self.base)
    }

    /// A program's admissions statement (`Portfolios::admissions`).
    pub fn admissions(&self, program_id: Uuid) -> Option<AdmissionsStatement> {
        self.model.admissions(&self.base, program_id)
    }

    /// The network's standards × programs matrix (`Portfolios::matrix`).
    pub fn matrix(&self, network_id: Uuid, today: NaiveDate) -> StandardsMatrix {
        self.model.matrix(&self.base, network_id, today)
    }
}

/// The words of each self-rating, 1 to 4.
pub const RATING_WORDS: [&str; 4] = ["not yet", "developing", "meets the standard", "exemplary"];

/// A rating's words ("" outside the scale).
pub fn rating_words(rating: u8) -> &'static str {
    usize::from(rating)
        .checked_sub(1)
        .and_then(|i| RATING_WORDS.get(i))
        .copied()
        .unwrap_or("")
}

/// The lowest rating that meets a standard ("meets the standard").
pub const RATING_MEETS: u8 = 3;

/// Where a program stands on one standard, for admissions offices.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StandardStanding {
    pub code: String,
    pub title: String,
    /// Its latest self-rating is at least `RATING_MEETS`.
    pub meets: bool,
    pub latest_rating: Option<u8>,
    pub words: &'static str,
    /// Since when it has met the standard: the first assessment of its latest unbroken run of
    /// ratings that meet it.
    pub since: Option<NaiveDate>,
}

/// Which quality standards a program meets, and since when, as of `position`; `rests_on` is the
/// log position of the latest self-assessment the statement rests on (None: none yet).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AdmissionsStatement {
    pub program_id: Uuid,
    pub program_name: String,
    pub network_name: String,
    pub ecosystem: String,
    pub withdrawn: bool,
    pub position: u64,
    pub standards: Vec<StandardStanding>,
    pub rests_on: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MatrixStandard {
    pub standard_id: Uuid,
    pub code: String,
    pub title: String,
}

/// A program's standing on one standard: its latest self-rating.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MatrixCell {
    pub rating: u8,
    pub words: &'static str,
    pub assessed_on: NaiveDate,
    /// Days from the assessment to the matrix's day.
    pub age_days: i64,
    /// The rating of the assessment before (None: the first).
    pub previous_rating: Option<u8>,
    /// The latest rating minus the one before.
    pub change: Option<i16>,
    pub assessments: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MatrixRow {
    pub program_id: Uuid,
    pub program_name: String,
    pub ecosystem: String,
    pub withdrawn: bool,
    /// One per standard, in the matrix's order (None: never assessed).
    pub cells: Vec<Option<MatrixCell>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StandardsMatrix {
    pub network_id: Uuid,
    /// The log position the matrix is as of.
    pub position: u64,
    /// The day ages are counted to.
    pub today: NaiveDate,
    /// The scale, 1 to 4.
    pub scale: [&'static str; 4],
    /// By code.
    pub standards: Vec<MatrixStandard>,
    /// By program name.
    pub programs: Vec<MatrixRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct EvidenceView {
    pub kind: EvidenceKind,
    pub id: Option<Uuid>,
    pub reference: Option<String>,
    /// The cycle's, measure's or synthesis's title (the reference for a document); `None` when
    /// the log does not name it.
    pub title: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RatingView {
    pub assessment_id: Uuid,
    pub assessed_on: NaiveDate,
    pub rating: u8,
    pub note: String,
    pub position: u64,
    pub evidence: Vec<EvidenceView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StandardHistory {
    pub standard_id: Uuid,
    pub code: String,
    pub title: String,
    pub description: String,
    /// By assessment date ascending (then log order).
    pub ratings: Vec<RatingView>,
    pub latest_rating: Option<u8>,
    /// The latest rating minus the first.
    pub change: Option<i16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PortfolioView {
    pub program_id: Uuid,
    pub program_name: String,
    pub network_id: Option<Uuid>,
    /// The log position the portfolio is as of.
    pub position: u64,
    /// Every standard of the program's network (assessed or not), by code.
    pub standards: Vec<StandardHistory>,
}

impl OnBase for Portfolios {
    fn after(&mut self, r: &Recorded, _: &RunCharts) {
        if !is_new(self.position, self.applied, r.global_position) {
            return;
        }
        self.applied = true;
        self.position = r.global_position;
        match &r.event {
            NicEvent::StandardDefined(e) => {
                self.descriptions
                    .insert(e.standard_id, e.description.to_string());
            }
            NicEvent::StandardSelfAssessed(e) => self
                .assessments
                .entry(e.program_id)
                .or_default()
                .push((r.global_position, e.clone())),
            _ => {}
        }
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn reach(&mut self, position: u64) {
        crate::reach(&mut self.position, &mut self.applied, position);
    }

    fn of(models: &ReadModels) -> &Self {
        &models.portfolio
    }
}

impl Portfolios {
    /// Programs the log has enrolled, by id.
    pub fn programs(&self, base: &RunCharts) -> Vec<Uuid> {
        base.names().programs.keys().copied().collect()
    }

    /// A program's portfolio; `None` for a program the log does not know.
    pub fn view(&self, base: &RunCharts, program_id: Uuid) -> Option<PortfolioView> {
        let names = base.names();
        let program = names.programs.get(&program_id);
        let assessments = self.assessments.get(&program_id);
        if program.is_none() && assessments.is_none() {
            return None;
        }
        let network_id = program.map(|p| p.network_id);
        let mut histories: BTreeMap<Uuid, StandardHistory> = BTreeMap::new();
        for (id, s) in &names.standards {
            if Some(s.network_id) == network_id {
                histories.insert(*id, self.history(names, *id));
            }
        }
        for (pos, a) in self.assessed(program_id) {
            histories
                .entry(a.standard_id)
                .or_insert_with(|| self.history(names, a.standard_id))
                .ratings
                .push(RatingView {
                    assessment_id: a.assessment_id,
                    assessed_on: a.assessed_on,
                    rating: a.rating,
                    note: a.note.to_string(),
                    position: *pos,
                    evidence: a.evidence.iter().map(|e| evidence(names, e)).collect(),
                });
        }
        let mut standards: Vec<StandardHistory> = histories
            .into_values()
            .map(|mut h| {
                h.latest_rating = h.ratings.last().map(|r| r.rating);
                h.change = match (h.ratings.first(), h.ratings.last()) {
                    (Some(a), Some(b)) => Some(i16::from(b.rating) - i16::from(a.rating)),
                    _ => None,
                };
                h
            })
            .collect();
        standards.sort_by(|a, b| (&a.code, a.standard_id).cmp(&(&b.code, b.standard_id)));
        Some(PortfolioView {
            program_id,
            program_name: names.program(program_id),
            network_id,
            position: self.position,
            standards,
        })
    }

    /// A program's admissions statement: for each standard of its network, whether its latest
    /// self-rating meets it and since when; None for a program the log does not know.
    pub fn admissions(&self, base: &RunCharts, program_id: Uuid) -> Option<AdmissionsStatement> {
        let names = base.names();
        let program = names.programs.get(&program_id)?;
        let mine = self.assessed(program_id);
        let standards = standards_of(names, program.network_id)
            .into_iter()
            .map(|s| {
                let of = of_standard(&mine, s.standard_id);
                let latest = of.last().map(|a| a.rating);
                let meets = latest.is_some_and(|r| r >= RATING_MEETS);
                let since = meets
                    .then(|| {
                        of.iter()
                            .rev()
                            .take_while(|a| a.rating >= RATING_MEETS)
                            .last()
                            .map(|a| a.assessed_on)
                    })
                    .flatten();
                StandardStanding {
                    code: s.code.clone(),
                    title: s.title.clone(),
                    meets,
                    latest_rating: latest,
                    words: latest.map_or("not assessed", rating_words),
                    since,
                }
            })
            .collect();
        Some(AdmissionsStatement {
            program_id,
            program_name: program.name.clone(),
            network_name: names
                .networks
                .get(&program.network_id)
                .cloned()
                .unwrap_or_default(),
            ecosystem: names
                .ecosystems
                .get(&program.ecosystem_id)
                .cloned()
                .unwrap_or_default(),
            withdrawn: program.withdrawn,
            position: self.position,
            standards,
            rests_on: mine.iter().map(|(pos, _)| *pos).max(),
        })
    }

    /// Each of `network_id`'s programs against each of its standards: the latest self-rating
    /// (by assessment date, then log order), the one before, and its age on `today`.
    pub fn matrix(&self, base: &RunCharts, network_id: Uuid, today: NaiveDate) -> StandardsMatrix {
        let names = base.names();
        let standards = standards_of(names, network_id);
        let mut programs: Vec<MatrixRow> = names
            .programs
            .iter()
            .filter(|(_, p)| p.network_id == network_id)
            .map(|(id, p)| {
                let mine = self.assessed(*id);
                let cells = standards
                    .iter()
                    .map(|s| {
                        let of = of_standard(&mine, s.standard_id);
                        let latest = of.last()?;
                        let previous = of.len().checked_sub(2).map(|i| of[i].rating);
                        Some(MatrixCell {
                            rating: latest.rating,
                            words: rating_words(latest.rating),
                            assessed_on: latest.assessed_on,
                            age_days: (today - latest.assessed_on).num_days(),
                            previous_rating: previous,
                            change: previous.map(|p| i16::from(latest.rating) - i16::from(p)),
                            assessments: of.len(),
                        })
                    })
                    .collect();
                MatrixRow {
                    program_id: *id,
                    program_name: p.name.clone(),
                    ecosystem: names
                        .ecosystems
                        .get(&p.ecosystem_id)
                        .cloned()
                        .unwrap_or_default(),
                    withdrawn: p.withdrawn,
                    cells,
                }
            })
            .collect();
        programs
            .sort_by(|a, b| (&a.program_name, a.program_id).cmp(&(&b.program_name, b.program_id)));
        StandardsMatrix {
            network_id,
            position: self.position,
            today,
            scale: RATING_WORDS,
            standards,
            programs,
        }
    }

    /// A program's self-assessments with their log positions, by assessment date, then log order.
    fn assessed(&self, program_id: Uuid) -> Vec<&(u64, StandardSelfAssessed)> {
        let mut all: Vec<_> = self
            .assessments
            .get(&program_id)
            .into_iter()
            .flatten()
            .collect();
        all.sort_by_key(|(pos, a)| (a.assessed_on, *pos));
        all
    }

    fn history(&self, names: &Names, standard_id: Uuid) -> StandardHistory {
        let s = names.standards.get(&standard_id);
        StandardHistory {
            standard_id,
            code: s.map(|s| s.code.clone()).unwrap_or_default(),
            title: s
                .map(|s| s.title.clone())
                .unwrap_or_else(|| format!("standard {standard_id}")),
            description: self
                .descriptions
                .get(&standard_id)
                .cloned()
                .unwrap_or_default(),
            ratings: Vec::new(),
            latest_rating: None,
            change: None,
        }
    }
}

/// A network's standards, by code.
fn standards_of(names: &Names, network_id: Uuid) -> Vec<MatrixStandard> {
    let mut standards: Vec<MatrixStandard> = names
        .standards
        .iter()
        .filter(|(_, s)| s.network_id == network_id)
        .map(|(id, s)| MatrixStandard {
            standard_id: *id,
            code: s.code.clone(),
            title: s.title.clone(),
        })
        .collect();
    standards.sort_by(|a, b| (&a.code, a.standard_id).cmp(&(&b.code, b.standard_id)));
    standards
}

/// Of a program's self-assessments (`Portfolios::assessed`), one standard's, in the same order.
fn of_standard<'a>(
    assessed: &[&'a (u64, StandardSelfAssessed)],
    standard_id: Uuid,
) -> Vec<&'a StandardSelfAssessed> {
    assessed
        .iter()
        .map(|(_, a)| a)
        .filter(|a| a.standard_id == standard_id)
        .collect()
}

fn evidence(names: &Names, e: &Evidence) -> EvidenceView {
    let title = match (e.kind, e.id) {
        (EvidenceKind::Cycle, Some(id)) => names.cycles.get(&id).map(|c| c.title.clone()),
        (EvidenceKind::Measure, Some(id)) => names.measures.get(&id).map(|m| m.name.clone()),
        (EvidenceKind::Synthesis, Some(id)) => names.syntheses.get(&id).cloned(),
        (EvidenceKind::Document, _) => e.reference.as_ref().map(|r| r.to_string()),
        _ => None,
    };
    EvidenceView {
        kind: e.kind,
        id: e.id,
        reference: e.reference.as_ref().map(|r| r.to_string()),
        title,
        note: e.note.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold;
    use crate::testlog::*;

    #[test]
    fn ratings_run_by_date_with_their_evidence_named() {
        let mut log = scenario();
        for (sid, code, title) in [(id(40), "S2", "Mentoring"), (id(41), "S1", "Access")] {
            log.net(NicEvent::StandardDefined(StandardDefined {
                standard_id: sid,
                code: t(code),
                title: t(title),
                description: x(""),
            }));
        }
        plan(
            &mut log,
            CyclePlan {
                cycle_id: id(100),
                program_id: PROG_A,
                ideas: vec![IDEA],
                previous: None,
                ramp_id: id(100),
                number: 1,
                title: "Huddle pilot",
                start: day(2025, 3, 1),
                end: day(2025, 3, 2),
                measures: vec![],
                predictions: true,
            },
        );
        let assess = |log: &mut Log, aid, rating, on, evidence| {
            log.push(
                "program",
                PROG_A,
                NicEvent::StandardSelfAssessed(StandardSelfAssessed {
                    assessment_id: aid,
                    program_id: PROG_A,
                    standard_id: id(40),
                    rating,
                    assessed_on: on,
                    evidence,
                    note: x(""),
                }),
            );
        };
        // Recorded out of date order: the later assessment first.
        assess(
            &mut log,
            id(301),
            3,
            day(2025, 6, 1),
            vec![
                Evidence {
                    kind: EvidenceKind::Cycle,
                    id: Some(id(100)),
                    reference: None,
                    note: x("Huddles ran"),
                },
                Evidence {
                    kind: EvidenceKind::Measure,
                    id: Some(MEASURE),
                    reference: None,
                    note: x(""),
                },
                Evidence {
                    kind: EvidenceKind::Document,
                    id: None,
                    reference: Some(t("Mentor handbook v2")),
                    note: x(""),
                },
            ],
        );
        assess(&mut log, id(300), 1, day(2025, 1, 15), vec![]);
        let p = fold(Portfolio::new(), &log.events);
        let v = p.view(PROG_A).unwrap();
        let codes: Vec<&str> = v.standards.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes, vec!["S1", "S2"]);
        assert!(v.standards[0].ratings.is_empty());
        let s2 = &v.standards[1];
        assert_eq!(s2.title, "Mentoring");
        let ratings: Vec<(NaiveDate, u8)> = s2
            .ratings
            .iter()
            .map(|r| (r.assessed_on, r.rating))
            .collect();
        assert_eq!(ratings, vec![(day(2025, 1, 15), 1), (day(2025, 6, 1), 3)]);
        assert_eq!((s2.latest_rating, s2.change), (Some(3), Some(2)));
        let titles: Vec<Option<&str>> = s2.ratings[1]
            .evidence
            .iter()
            .map(|e| e.title.as_deref())
            .collect();
        assert_eq!(
            titles,
            vec![
                Some("Huddle pilot"),
                Some("Alumni STEM enrolment"),
                Some("Mentor handbook v2")
            ]
        );
        assert_eq!(s2.ratings[1].evidence[0].note, "Huddles ran");
        let b = p.view(PROG_B).unwrap();
        assert!(b.standards.iter().all(|s| s.ratings.is_empty()));
        assert!(p.view(id(999)).is_none());
    }

    #[test]
    fn the_matrix_shows_each_program_s_latest_rating_its_change_and_age() {
        let mut log = scenario();
        for (sid, code, title) in [(id(40), "S2", "Mentoring"), (id(41), "S1", "Access")] {
            log.net(NicEvent::StandardDefined(StandardDefined {
                standard_id: sid,
                code: t(code),
                title: t(title),
                description: x(""),
            }));
        }
        let assess = |log: &mut Log, n: u128, program, standard, rating, on| {
            log.push(
                "program",
                program,
                NicEvent::StandardSelfAssessed(StandardSelfAssessed {
                    assessment_id: id(n),
                    program_id: program,
                    standard_id: standard,
                    rating,
                    assessed_on: on,
                    evidence: vec![],
                    note: x(""),
                }),
            );
        };
        // Program A: S2 rated 3 in June after 1 in January (recorded out of date order); S1 never.
        assess(&mut log, 300, PROG_A, id(40), 3, day(2025, 6, 1));
        assess(&mut log, 301, PROG_A, id(40), 1, day(2025, 1, 15));
        // Program B: S1 rated 4 once.
        assess(&mut log, 302, PROG_B, id(41), 4, day(2025, 3, 1));
        let p = fold(Portfolio::new(), &log.events);
        let m = p.matrix(NET, day(2025, 7, 1));
        let codes: Vec<&str> = m.standards.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes, ["S1", "S2"]);
        let names: Vec<&str> = m.programs.iter().map(|r| r.program_name.as_str()).collect();
        assert_eq!(names, ["Program A", "Program B"]);
        let a = &m.programs[0];
        assert_eq!(a.ecosystem, "Pittsburgh");
        assert!(a.cells[0].is_none(), "A never assessed S1");
        let s2 = a.cells[1].as_ref().unwrap();
        assert_eq!(
            (
                s2.rating,
                s2.words,
                s2.previous_rating,
                s2.change,
                s2.age_days,
                s2.assessments
            ),
            (3, "meets the standard", Some(1), Some(2), 30, 2)
        );
        let b = m.programs[1].cells[0].as_ref().unwrap();
        assert_eq!(
            (b.rating, b.words, b.previous_rating, b.change),
            (4, "exemplary", None, None)
        );
        assert!(m.programs[1].cells[1].is_none());
        assert!(p.matrix(id(999), day(2025, 7, 1)).programs.is_empty());
    }
}
