//! The PDSA board of each program: its cycles by phase (planned, doing, studying, acted,
//! abandoned) and its ramps in order (each ramp's cycles by cycle number), each cycle with its
//! title, change ideas, phase, decision and its gaps: what a complete cycle has that this one
//! lacks (`nic_domain::cycle::CycleState::gaps`, plus a plan that names no measure and an
//! adaptation that does not say what the next cycle changes). Each cycle is folded with the
//! domain's own `CycleState`, so the board and the rules read a cycle the same way.

use std::collections::BTreeMap;

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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedRef {
    pub id: Uuid,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseColumns {
    pub planned: Vec<CycleCard>,
    pub doing: Vec<CycleCard>,
    pub studying: Vec<CycleCard>,
    pub acted: Vec<CycleCard>,
    pub abandoned: Vec<CycleCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ramp {
    pub ramp_id: Uuid,
    /// The change ideas any of its cycles tests, in order of first appearance.
    pub change_ideas: Vec<NamedRef>,
    /// By cycle number.
    pub cycles: Vec<CycleCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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
}
