//! The PDSA board of each program: its cycles by phase (planned, doing, studying, acted,
//! abandoned) and its ramps in order (each ramp's cycles by cycle number), each cycle with its
//! title, change ideas, phase, decision and its gaps: what a complete cycle has that this one
//! lacks (`nic_domain::cycle::CycleState::gaps`, plus a plan that names no measure and an
//! adaptation that does not say what the next cycle changes). Each cycle is folded with the
//! domain's own `CycleState`, so the board and the rules read a cycle the same way.
//!
//! The register (`Boards::register`) lists every cycle of a network in one table, filtered by
//! change idea, driver (named by the cycle, or served by one of its change ideas through the
//! diagram's links), program, ecosystem, phase, act decision, overdue and planned dates, sorted and
//! paged; `Register::csv` writes the worksheet's fields, one row per cycle.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use nic_domain::cycle::CycleState;
use nic_events::catalog::*;
use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::names::Names;
use crate::run_charts::RunCharts;
use crate::{is_new, OnBase, ReadModels, Recorded, WithBase};

/// Every program's cycles, folded from the log (names are read from the base).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Boards {
    position: u64,
    applied: bool,
    cycles: BTreeMap<Uuid, CycleState>,
    /// The diagram's links, from each node to the nodes it serves (the register's driver filter).
    #[serde(default)]
    serves: BTreeMap<Uuid, BTreeSet<Uuid>>,
}

/// The boards with a base of their own: a projection by itself.
pub type PdsaBoard = WithBase<Boards>;

impl PdsaBoard {
    /// A program's board; `None` for a program the log has neither enrolled nor planned for.
    pub fn view(&self, program_id: Uuid) -> Option<PdsaBoardView> {
        self.model.view(&self.base, program_id)
    }

    /// Programs with at least one cycle, by id.
    pub fn programs(&self) -> Vec<Uuid> {
        self.model.programs()
    }

    /// The register of a network's cycles (`Boards::register`).
    pub fn register(&self, network_id: Uuid, q: &RegisterQuery, today: NaiveDate) -> Register {
        self.model.register(&self.base, network_id, q, today)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NamedRef {
    pub id: Uuid,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CycleCard {
    pub cycle_id: Uuid,
    pub ramp_id: Uuid,
    pub cycle_number: u32,
    pub previous_cycle_id: Option<Uuid>,
    pub title: String,
    pub purpose: CyclePurpose,
    pub scale: String,
    pub change_ideas: Vec<NamedRef>,
    pub drivers: Vec<NamedRef>,
    pub phase: CyclePhase,
    pub decision: Option<ActDecision>,
    pub decision_reason: Option<String>,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub abandoned_reason: Option<String>,
    pub corrections: usize,
    /// What a complete cycle has that this one lacks; empty for a complete one.
    pub gaps: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PhaseColumns {
    pub planned: Vec<CycleCard>,
    pub doing: Vec<CycleCard>,
    pub studying: Vec<CycleCard>,
    pub acted: Vec<CycleCard>,
    pub abandoned: Vec<CycleCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Ramp {
    pub ramp_id: Uuid,
    /// The change ideas any of its cycles tests, in order of first appearance.
    pub change_ideas: Vec<NamedRef>,
    /// By cycle number.
    pub cycles: Vec<CycleCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PdsaBoardView {
    pub program_id: Uuid,
    pub program_name: String,
    /// The log position the board is as of.
    pub position: u64,
    /// Each column by planned start, then cycle number.
    pub columns: PhaseColumns,
    /// By the planned start of their first cycle.
    pub ramps: Vec<Ramp>,
    /// Cycles with at least one gap.
    pub cycles_with_gaps: usize,
}

impl OnBase for Boards {
    fn after(&mut self, r: &Recorded, _: &RunCharts) {
        if !is_new(self.position, self.applied, r.global_position) {
            return;
        }
        self.applied = true;
        self.position = r.global_position;
        let cycle_id = match &r.event {
            NicEvent::NodesLinked(e) => {
                self.serves.entry(e.from).or_default().insert(e.to);
                return;
            }
            NicEvent::NodesUnlinked(e) => {
                if let Some(to) = self.serves.get_mut(&e.from) {
                    to.remove(&e.to);
                }
                return;
            }
            NicEvent::PdsaCyclePlanned(e) => e.cycle_id,
            NicEvent::PdsaCycleStarted(e) => e.cycle_id,
            NicEvent::PdsaDoRecorded(e) => e.cycle_id,
            NicEvent::PdsaStudyRecorded(e) => e.cycle_id,
            NicEvent::PdsaActDecided(e) => e.cycle_id,
            NicEvent::PdsaCycleAbandoned(e) => e.cycle_id,
            NicEvent::PdsaCycleCorrected(e) => e.cycle_id,
            _ => return,
        };
        self.cycles
            .entry(cycle_id)
            .or_insert_with(|| CycleState::new(cycle_id))
            .apply(&r.event);
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn reach(&mut self, position: u64) {
        crate::reach(&mut self.position, &mut self.applied, position);
    }

    fn of(models: &ReadModels) -> &Self {
        &models.pdsa_board
    }
}

impl Boards {
    /// Programs with at least one cycle, by id.
    pub fn programs(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .cycles
            .values()
            .filter_map(|c| c.planned.as_ref().map(|p| p.program_id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// A program's board; `None` for a program the log has neither enrolled nor planned for.
    pub fn view(&self, base: &RunCharts, program_id: Uuid) -> Option<PdsaBoardView> {
        let names = base.names();
        let mut cards: Vec<CycleCard> = self
            .cycles
            .values()
            .filter(|c| {
                c.planned
                    .as_ref()
                    .is_some_and(|p| p.program_id == program_id)
            })
            .filter_map(|c| self.card(names, c))
            .collect();
        if cards.is_empty() && !names.programs.contains_key(&program_id) {
            return None;
        }
        cards.sort_by_key(|c| (c.planned_start, c.cycle_number, c.cycle_id));
        let mut columns = PhaseColumns::default();
        let mut ramps: BTreeMap<Uuid, Vec<CycleCard>> = BTreeMap::new();
        for card in &cards {
            let column = match card.phase {
                CyclePhase::Planned => &mut columns.planned,
                CyclePhase::Doing => &mut columns.doing,
                CyclePhase::Studying => &mut columns.studying,
                CyclePhase::Acted => &mut columns.acted,
                CyclePhase::Abandoned => &mut columns.abandoned,
            };
            column.push(card.clone());
            ramps.entry(card.ramp_id).or_default().push(card.clone());
        }
        let mut ramps: Vec<Ramp> = ramps
            .into_iter()
            .map(|(ramp_id, mut cycles)| {
                cycles.sort_by_key(|c| (c.cycle_number, c.planned_start, c.cycle_id));
                let mut change_ideas: Vec<NamedRef> = Vec::new();
                for c in &cycles {
                    for idea in &c.change_ideas {
                        if !change_ideas.iter().any(|i| i.id == idea.id) {
                            change_ideas.push(idea.clone());
                        }
                    }
                }
                Ramp {
                    ramp_id,
                    change_ideas,
                    cycles,
                }
            })
            .collect();
        ramps.sort_by_key(|r| {
            let first = r.cycles.first();
            (first.map(|c| c.planned_start), r.ramp_id)
        });
        Some(PdsaBoardView {
            program_id,
            program_name: names.program(program_id),
            position: self.position,
            cycles_with_gaps: cards.iter().filter(|c| !c.gaps.is_empty()).count(),
            columns,
            ramps,
        })
    }

    fn named(&self, names: &Names, ids: &[Uuid]) -> Vec<NamedRef> {
        ids.iter()
            .map(|&id| NamedRef {
                id,
                title: names.node(id),
            })
            .collect()
    }

    fn card(&self, names: &Names, c: &CycleState) -> Option<CycleCard> {
        let p = c.planned.as_ref()?;
        let phase = c.phase?;
        let mut gaps: Vec<String> = c.gaps().into_iter().map(String::from).collect();
        if p.plan.measure_ids.is_empty() {
            gaps.push("no measures".into());
        }
        if c.act
            .as_ref()
            .is_some_and(|a| a.decision == ActDecision::Adapt && a.next_cycle.is_blank())
        {
            gaps.push("adapted without saying what the next cycle changes".into());
        }
        Some(CycleCard {
            cycle_id: c.id,
            ramp_id: p.ramp_id,
            cycle_number: p.cycle_number,
            previous_cycle_id: p.previous_cycle_id,
            title: p.title.to_string(),
            purpose: p.purpose,
            scale: p.scale.to_string(),
            change_ideas: self.named(names, &p.change_idea_ids),
            drivers: self.named(names, &p.driver_ids),
            phase,
            decision: c.act.as_ref().map(|a| a.decision),
            decision_reason: c.act.as_ref().map(|a| a.reason.to_string()),
            planned_start: p.planned_start,
            planned_end: p.planned_end,
            started_on: c.started_on,
            completed_on: c.done.as_ref().map(|d| d.completed_on),
            abandoned_reason: c.abandoned.as_ref().map(|a| a.reason.to_string()),
            corrections: c.corrections.len(),
            gaps,
        })
    }
}

/// Which of a network's cycles the register lists: every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegisterQuery {
    pub change_idea_id: Option<Uuid>,
    /// Cycles that name the driver, or test a change idea that serves it (through secondary
    /// drivers too).
    pub driver_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub ecosystem_id: Option<Uuid>,
    pub phase: Option<CyclePhase>,
    pub decision: Option<ActDecision>,
    /// Only cycles past their planned end and not done yet (planned, or in Do).
    pub overdue: bool,
    /// Only cycles whose planned dates overlap these (inclusive).
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub sort: RegisterSort,
    pub offset: usize,
    pub limit: usize,
}

/// The register's order; ties go by planned start, then program, then cycle number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterSort {
    /// Latest planned start first.
    #[default]
    Newest,
    /// Earliest planned start first.
    Oldest,
    /// By program name.
    Program,
    /// By title.
    Title,
    /// By phase, planned first.
    Phase,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RegisterRow {
    pub program: NamedRef,
    pub ecosystem: NamedRef,
    /// Past its planned end and not done yet.
    pub overdue: bool,
    pub cycle: CycleCard,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Register {
    pub network_id: Uuid,
    /// The log position the register is as of.
    pub position: u64,
    /// The day "overdue" is judged on.
    pub today: NaiveDate,
    /// Cycles that pass the filters, in all; `rows` is the page asked for.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub rows: Vec<RegisterRow>,
    /// The worksheet of each row, for `csv` (not part of the JSON answer).
    #[serde(skip)]
    sheets: Vec<CycleState>,
}

impl Boards {
    /// The register of `network_id`'s cycles as `q` asks, judged on `today`.
    pub fn register(
        &self,
        base: &RunCharts,
        network_id: Uuid,
        q: &RegisterQuery,
        today: NaiveDate,
    ) -> Register {
        let names = base.names();
        let served = q.driver_id.map(|d| self.served_by(d));
        let mut rows: Vec<(RegisterRow, &CycleState)> = Vec::new();
        for c in self.cycles.values() {
            let Some(p) = c.planned.as_ref().filter(|p| p.network_id == network_id) else {
                continue;
            };
            let Some(card) = self.card(names, c) else {
                continue;
            };
            let ecosystem_id = names.programs.get(&p.program_id).map(|n| n.ecosystem_id);
            let overdue = matches!(card.phase, CyclePhase::Planned | CyclePhase::Doing)
                && p.planned_end < today;
            let keep = q
                .change_idea_id
                .is_none_or(|i| p.change_idea_ids.contains(&i))
                && served.as_ref().is_none_or(|(driver, ideas)| {
                    p.driver_ids.contains(driver)
                        || p.change_idea_ids.iter().any(|i| ideas.contains(i))
                })
                && q.program_id.is_none_or(|id| id == p.program_id)
                && q.ecosystem_id.is_none_or(|id| Some(id) == ecosystem_id)
                && q.phase.is_none_or(|ph| ph == card.phase)
                && q.decision.is_none_or(|d| Some(d) == card.decision)
                && (!q.overdue || overdue)
                && q.from.is_none_or(|f| p.planned_end >= f)
                && q.until.is_none_or(|u| p.planned_start <= u);
            if !keep {
                continue;
            }
            let ecosystem = ecosystem_id.map_or_else(
                || NamedRef {
                    id: Uuid::nil(),
                    title: String::new(),
                },
                |id| NamedRef {
                    id,
                    title: names.ecosystems.get(&id).cloned().unwrap_or_default(),
                },
            );
            let row = RegisterRow {
                program: NamedRef {
                    id: p.program_id,
                    title: names.program(p.program_id),
                },
                ecosystem,
                overdue,
                cycle: card,
            };
            rows.push((row, c));
        }
        let key = |r: &RegisterRow| {
            (
                r.cycle.planned_start,
                r.program.title.clone(),
                r.cycle.cycle_number,
                r.cycle.cycle_id,
            )
        };
        match q.sort {
            RegisterSort::Newest => rows.sort_by_key(|r| std::cmp::Reverse(key(&r.0))),
            RegisterSort::Oldest => rows.sort_by_key(|a| key(&a.0)),
            RegisterSort::Program => rows.sort_by(|a, b| {
                (&a.0.program.title, key(&a.0)).cmp(&(&b.0.program.title, key(&b.0)))
            }),
            RegisterSort::Title => rows
                .sort_by(|a, b| (&a.0.cycle.title, key(&a.0)).cmp(&(&b.0.cycle.title, key(&b.0)))),
            RegisterSort::Phase => rows.sort_by(|a, b| {
                (phase_order(a.0.cycle.phase), key(&a.0))
                    .cmp(&(phase_order(b.0.cycle.phase), key(&b.0)))
            }),
        }
        let total = rows.len();
        let (rows, sheets): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|(row, c)| (row, c.clone()))
            .unzip();
        Register {
            network_id,
            position: self.position,
            today,
            total,
            offset: q.offset,
            limit: q.limit,
            rows,
            sheets,
        }
    }

    /// `driver` and every node that serves it, directly or through others (the diagram's links).
    fn served_by(&self, driver: Uuid) -> (Uuid, BTreeSet<Uuid>) {
        let mut reached = BTreeSet::from([driver]);
        loop {
            let more: Vec<Uuid> = self
                .serves
                .iter()
                .filter(|(from, to)| {
                    !reached.contains(*from) && to.iter().any(|t| reached.contains(t))
                })
                .map(|(from, _)| *from)
                .collect();
            if more.is_empty() {
                return (driver, reached);
            }
            reached.extend(more);
        }
    }
}

fn phase_order(p: CyclePhase) -> u8 {
    match p {
        CyclePhase::Planned => 0,
        CyclePhase::Doing => 1,
        CyclePhase::Studying => 2,
        CyclePhase::Acted => 3,
        CyclePhase::Abandoned => 4,
    }
}

impl Register {
    /// The page as CSV, one row per cycle, with the worksheet's fields: each question, its
    /// prediction and its result in columns of their own (`question_1`, `prediction_1`,
    /// `result_1`, `held_1`, …, as many as the page's longest plan asks).
    pub fn csv(&self) -> String {
        use crate::run_charts::csv_text;
        let questions = self
            .sheets
            .iter()
            .filter_map(|c| c.planned.as_ref().map(|p| p.plan.questions.len()))
            .max()
            .unwrap_or(0);
        let mut head: Vec<String> = [
            "cycle_id",
            "program",
            "ecosystem",
            "title",
            "cycle_number",
            "previous_cycle_id",
            "change_ideas",
            "drivers",
            "purpose",
            "scale",
            "phase",
            "overdue",
            "planned_start",
            "planned_end",
            "started_on",
            "completed_on",
            "objective",
            "who_what_when_where",
            "data_collection_plan",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for i in 1..=questions {
            for f in [
                "question",
                "prediction",
                "reason",
                "result",
                "held",
                "learned",
            ] {
                head.push(format!("{f}_{i}"));
            }
        }
        head.extend(
            [
                "carried_out_as_planned",
                "what_happened",
                "problems_and_surprises",
                "study_summary",
                "decision",
                "decision_reason",
                "next_cycle",
                "decided_on",
                "abandoned_reason",
                "corrections",
                "gaps",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let mut out = head.join(",");
        out.push('\n');
        for (row, c) in self.rows.iter().zip(&self.sheets) {
            let Some(p) = c.planned.as_ref() else {
                continue;
            };
            let card = &row.cycle;
            let titles = |refs: &[NamedRef]| {
                refs.iter()
                    .map(|r| r.title.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
            let mut f: Vec<String> = vec![
                card.cycle_id.to_string(),
                csv_text(&row.program.title),
                csv_text(&row.ecosystem.title),
                csv_text(&card.title),
                card.cycle_number.to_string(),
                card.previous_cycle_id
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                csv_text(&titles(&card.change_ideas)),
                csv_text(&titles(&card.drivers)),
                csv_text(&serde_label(&card.purpose)),
                csv_text(&card.scale),
                serde_label(&card.phase),
                row.overdue.to_string(),
                card.planned_start.to_string(),
                card.planned_end.to_string(),
                date(card.started_on),
                date(card.completed_on),
                csv_text(p.plan.objective.as_str()),
                csv_text(p.plan.who_what_when_where.as_str()),
                csv_text(p.plan.data_collection_plan.as_str()),
            ];
            for i in 0..questions {
                let q = p.plan.questions.get(i);
                let r = c
                    .study
                    .as_ref()
                    .and_then(|s| s.results.iter().find(|r| r.question_index as usize == i));
                f.push(csv_text(q.map_or("", |q| q.question.as_str())));
                f.push(csv_text(q.map_or("", |q| q.prediction.as_str())));
                f.push(csv_text(q.map_or("", |q| q.reason.as_str())));
                f.push(csv_text(r.map_or("", |r| r.result.as_str())));
                f.push(
                    r.map(|r| serde_label(&r.prediction_held))
                        .unwrap_or_default(),
                );
                f.push(csv_text(r.map_or("", |r| r.learned.as_str())));
            }
            let d = c.done.as_ref();
            let a = c.act.as_ref();
            f.extend([
                d.map(|d| d.carried_out_as_planned.to_string())
                    .unwrap_or_default(),
                csv_text(d.map_or("", |d| d.what_happened.as_str())),
                csv_text(d.map_or("", |d| d.problems_and_surprises.as_str())),
                csv_text(c.study.as_ref().map_or("", |s| s.summary.as_str())),
                a.map(|a| serde_label(&a.decision)).unwrap_or_default(),
                csv_text(a.map_or("", |a| a.reason.as_str())),
                csv_text(a.map_or("", |a| a.next_cycle.as_str())),
                date(a.map(|a| a.decided_on)),
                csv_text(card.abandoned_reason.as_deref().unwrap_or("")),
                card.corrections.to_string(),
                csv_text(&card.gaps.join("; ")),
            ]);
            out.push_str(&f.join(","));
            out.push('\n');
        }
        out
    }
}

/// A unit enum's name as its JSON spells it (`adapt`, `studying`).
fn serde_label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold;
    use crate::testlog::*;

    #[test]
    fn cycles_sit_in_their_phase_and_ramp_with_their_gaps() {
        let mut log = scenario();
        let cycle = |cycle_id, number, previous, title, start, measures, predictions| CyclePlan {
            cycle_id,
            program_id: PROG_A,
            ideas: vec![IDEA],
            previous,
            ramp_id: id(100),
            number,
            title,
            start,
            end: start,
            measures,
            predictions,
        };
        plan(
            &mut log,
            cycle(
                id(100),
                1,
                None,
                "Pilot",
                day(2025, 3, 1),
                vec![MEASURE],
                true,
            ),
        );
        // Acted without a study (an incomplete cycle the board shows as such).
        run_through(
            &mut log,
            id(100),
            day(2025, 3, 1),
            day(2025, 3, 2),
            false,
            Some((ActDecision::Adapt, "Shorter")),
        );
        plan(
            &mut log,
            cycle(
                id(101),
                2,
                Some(id(100)),
                "Shorter",
                day(2025, 4, 1),
                vec![],
                false,
            ),
        );
        // Another ramp of Program A, abandoned; and Program B's cycle, not on A's board.
        plan(
            &mut log,
            CyclePlan {
                ramp_id: id(102),
                ..cycle(
                    id(102),
                    1,
                    None,
                    "Other",
                    day(2025, 2, 1),
                    vec![MEASURE],
                    true,
                )
            },
        );
        log.push(
            "pdsa",
            id(102),
            NicEvent::PdsaCycleAbandoned(PdsaCycleAbandoned {
                cycle_id: id(102),
                in_phase: CyclePhase::Planned,
                reason: x("No mentors"),
            }),
        );
        plan(
            &mut log,
            CyclePlan {
                program_id: PROG_B,
                ramp_id: id(103),
                ..cycle(id(103), 1, None, "B", day(2025, 2, 1), vec![MEASURE], true)
            },
        );
        let board = fold(PdsaBoard::new(), &log.events);
        assert_eq!(board.programs(), vec![PROG_A, PROG_B]);
        let v = board.view(PROG_A).unwrap();
        assert_eq!(v.program_name, "Program A");
        let titles = |cards: &[CycleCard]| -> Vec<String> {
            cards.iter().map(|c| c.title.clone()).collect::<Vec<_>>()
        };
        assert_eq!(titles(&v.columns.acted), vec!["Pilot"]);
        assert_eq!(titles(&v.columns.planned), vec!["Shorter"]);
        assert_eq!(titles(&v.columns.abandoned), vec!["Other"]);
        assert!(v.columns.doing.is_empty() && v.columns.studying.is_empty());
        let ramp_ids: Vec<Uuid> = v.ramps.iter().map(|r| r.ramp_id).collect();
        assert_eq!(ramp_ids, vec![id(102), id(100)]);
        let ramp = &v.ramps[1];
        let numbers: Vec<u32> = ramp.cycles.iter().map(|c| c.cycle_number).collect();
        assert_eq!(numbers, vec![1, 2]);
        assert_eq!(ramp.change_ideas[0].title, "Peer mentoring huddles");
        let pilot = &ramp.cycles[0];
        assert_eq!(pilot.decision, Some(ActDecision::Adapt));
        assert_eq!(
            pilot.gaps,
            vec![
                "no study",
                "adapted without saying what the next cycle changes"
            ]
        );
        assert_eq!(ramp.cycles[1].gaps, vec!["no questions", "no measures"]);
        assert_eq!(
            v.ramps[0].cycles[0].abandoned_reason.as_deref(),
            Some("No mentors")
        );
        assert!(v.ramps[0].cycles[0].gaps.is_empty());
        assert_eq!(v.cycles_with_gaps, 2);
        assert!(board.view(id(999)).is_none());
    }

    #[test]
    fn the_register_filters_sorts_pages_and_writes_the_worksheet_as_csv() {
        let mut log = scenario();
        let cycle = |cycle_id, program_id, ideas, title, start, end| CyclePlan {
            cycle_id,
            program_id,
            ideas,
            previous: None,
            ramp_id: cycle_id,
            number: 1,
            title,
            start,
            end,
            measures: vec![MEASURE],
            predictions: true,
        };
        let (pilot, late, other) = (id(100), id(101), id(102));
        plan(
            &mut log,
            cycle(
                pilot,
                PROG_A,
                vec![IDEA],
                "Pilot",
                day(2025, 3, 1),
                day(2025, 3, 2),
            ),
        );
        run_through(
            &mut log,
            pilot,
            day(2025, 3, 1),
            day(2025, 3, 2),
            true,
            Some((ActDecision::Adapt, "Shorter huddles")),
        );
        plan(
            &mut log,
            cycle(
                late,
                PROG_A,
                vec![IDEA],
                "Late, \"quoted\"",
                day(2025, 4, 1),
                day(2025, 4, 10),
            ),
        );
        // Program B tests an idea on no link to the primary driver.
        plan(
            &mut log,
            cycle(
                other,
                PROG_B,
                vec![id(23)],
                "=Other",
                day(2025, 2, 1),
                day(2025, 2, 5),
            ),
        );
        let board = fold(PdsaBoard::new(), &log.events);
        let today = day(2025, 5, 1);
        let ids = |q: RegisterQuery| -> Vec<Uuid> {
            let q = RegisterQuery { limit: 100, ..q };
            board
                .register(NET, &q, today)
                .rows
                .iter()
                .map(|r| r.cycle.cycle_id)
                .collect()
        };
        assert_eq!(
            ids(RegisterQuery::default()),
            vec![late, pilot, other],
            "newest first"
        );
        assert_eq!(
            ids(RegisterQuery {
                sort: RegisterSort::Oldest,
                ..Default::default()
            }),
            vec![other, pilot, late]
        );
        assert_eq!(
            ids(RegisterQuery {
                change_idea_id: Some(IDEA),
                decision: Some(ActDecision::Adapt),
                ..Default::default()
            }),
            vec![pilot]
        );
        assert_eq!(
            ids(RegisterQuery {
                overdue: true,
                ..Default::default()
            }),
            vec![late, other]
        );
        assert_eq!(
            ids(RegisterQuery {
                driver_id: Some(PRIMARY),
                ..Default::default()
            }),
            vec![late, pilot],
            "the primary driver is served by the idea through the secondary driver"
        );
        assert_eq!(
            ids(RegisterQuery {
                ecosystem_id: Some(ECO_B),
                ..Default::default()
            }),
            vec![other]
        );
        assert_eq!(
            ids(RegisterQuery {
                from: Some(day(2025, 3, 2)),
                until: Some(day(2025, 3, 31)),
                ..Default::default()
            }),
            vec![pilot]
        );
        assert!(ids(RegisterQuery {
            program_id: Some(id(999)),
            ..Default::default()
        })
        .is_empty());
        let page = board.register(
            NET,
            &RegisterQuery {
                offset: 1,
                limit: 1,
                ..Default::default()
            },
            today,
        );
        assert_eq!((page.total, page.rows.len()), (3, 1));
        assert_eq!(page.rows[0].program.title, "Program A");
        assert_eq!(page.rows[0].ecosystem.title, "Pittsburgh");

        let all = board.register(
            NET,
            &RegisterQuery {
                sort: RegisterSort::Oldest,
                limit: 100,
                ..Default::default()
            },
            today,
        );
        let csv = all.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        let head: Vec<&str> = lines[0].split(',').collect();
        for column in [
            "program",
            "question_1",
            "prediction_1",
            "result_1",
            "decision",
            "gaps",
        ] {
            assert!(head.contains(&column), "{column} in {head:?}");
        }
        assert!(
            lines[1].contains(",'=Other,"),
            "a formula is defused: {}",
            lines[1]
        );
        assert!(
            lines[2].contains("Huddles ran") && lines[2].contains(",adapt,"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("\"Late, \"\"quoted\"\"\""),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains(",true,"), "overdue: {}", lines[3]);
    }
}
