//! Hand-built event logs for the unit tests: a `Log` that numbers positions and times, and a small
//! network (`Scenario`) that several projections' tests start from.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use nic_events::catalog::*;
use nic_events::{NicEvent, Text, Title};
use uuid::Uuid;

use crate::Recorded;

pub fn t(s: &str) -> Title {
    Title::parse(s).unwrap()
}

pub fn x(s: &str) -> Text {
    Text::parse(s).unwrap()
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A log whose positions run 1, 2, 3… and whose events are recorded a minute apart.
#[derive(Default)]
pub struct Log {
    pub events: Vec<Recorded>,
}

impl Log {
    pub fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_735_689_600, 0).unwrap() // 2025-01-01T00:00:00Z
    }

    pub fn time_of(position: u64) -> DateTime<Utc> {
        Self::start() + Duration::minutes(position as i64)
    }

    /// Appends `event` to the stream `category-entity`; returns its position.
    pub fn push(&mut self, category: &str, entity: Uuid, event: NicEvent) -> u64 {
        let position = self.events.len() as u64 + 1;
        self.events.push(
            Recorded::new(
                position,
                Self::time_of(position),
                format!("{category}-{entity}"),
                Some("token:test".into()),
                event,
            )
            .expect("a catalog stream"),
        );
        position
    }

    pub fn net(&mut self, event: NicEvent) -> u64 {
        self.push("network", NET, event)
    }
}

pub const NET: Uuid = Uuid::from_u128(1);
pub const ECO: Uuid = Uuid::from_u128(2);
pub const ECO_B: Uuid = Uuid::from_u128(3);
pub const PROG_A: Uuid = Uuid::from_u128(10);
pub const PROG_B: Uuid = Uuid::from_u128(11);
pub const PRIMARY: Uuid = Uuid::from_u128(20);
pub const SECONDARY: Uuid = Uuid::from_u128(21);
pub const IDEA: Uuid = Uuid::from_u128(22);
pub const MEASURE: Uuid = Uuid::from_u128(30);

pub fn aim(statement: &str, target: f64) -> Aim {
    Aim {
        statement: x(statement),
        what: t("post-secondary STEM enrolment"),
        for_whom: t("program alumni"),
        baseline: Some(38.0),
        target,
        unit: t("percent"),
        by_when: day(2027, 9, 1),
    }
}

/// A network with an aim, two ecosystems, two programs, a primary and a secondary driver, the
/// change idea "Peer mentoring huddles" and a monthly ratio measure tracking it.
pub fn scenario() -> Log {
    let mut log = Log::default();
    log.net(NicEvent::NetworkChartered(NetworkChartered {
        network_id: NET,
        name: t("STEM PUSH"),
        purpose: x("Access to STEM degrees"),
    }));
    log.net(NicEvent::AimStated(AimStated {
        aim: aim("Increase alumni STEM enrolment from 38% to 50%", 50.0),
    }));
    for (eco, name) in [
        (ECO, "Pittsburgh"),
        (ECO_B, "Chicago STEM Learning Ecosystem"),
    ] {
        log.net(NicEvent::EcosystemAdded(EcosystemAdded {
            ecosystem_id: eco,
            name: t(name),
            region: t(name),
        }));
    }
    for (p, name, eco) in [(PROG_A, "Program A", ECO), (PROG_B, "Program B", ECO_B)] {
        log.push(
            "program",
            p,
            NicEvent::ProgramEnrolled(ProgramEnrolled {
                program_id: p,
                network_id: NET,
                name: t(name),
                ecosystem_id: eco,
                region: t("PA"),
            }),
        );
    }
    log.net(NicEvent::DriverAdded(DriverAdded {
        node_id: PRIMARY,
        kind: DriverKind::Primary,
        title: t("Students see themselves in STEM"),
        definition: x("Identity"),
    }));
    log.net(NicEvent::DriverAdded(DriverAdded {
        node_id: SECONDARY,
        kind: DriverKind::Secondary,
        title: t("Near-peer mentoring"),
        definition: x(""),
    }));
    log.net(NicEvent::NodesLinked(NodesLinked {
        from: SECONDARY,
        to: PRIMARY,
        strength: LinkStrength::Strong,
    }));
    log.net(NicEvent::ChangeIdeaProposed(ChangeIdeaProposed {
        node_id: IDEA,
        title: t("Peer mentoring huddles"),
        definition: x("Weekly huddles of alumni mentors"),
        proposed_by_program: Some(PROG_A),
        rationale: x(""),
    }));
    log.net(NicEvent::NodesLinked(NodesLinked {
        from: IDEA,
        to: SECONDARY,
        strength: LinkStrength::Weak,
    }));
    log.net(NicEvent::ChangeIdeaAccepted(ChangeIdeaAccepted {
        node_id: IDEA,
        note: x(""),
    }));
    log.push(
        "measure",
        MEASURE,
        NicEvent::MeasureDefined(ratio_measure(MEASURE, "Alumni STEM enrolment", vec![IDEA])),
    );
    log
}

pub fn ratio_measure(measure_id: Uuid, name: &str, tracks: Vec<Uuid>) -> MeasureDefined {
    MeasureDefined {
        measure_id,
        network_id: NET,
        name: t(name),
        kind: MeasureKind::Outcome,
        description: x("Alumni enrolled in STEM"),
        scale: MeasureScale::Ratio,
        data_type: Some(DataType::Proportion),
        numerator: Some(x("enrolled")),
        denominator: Some(x("alumni")),
        unit: t("percent"),
        period: PeriodKind::Month,
        direction: Direction::Up,
        target: Some(0.5),
        inclusions: x(""),
        exclusions: x(""),
        data_source: x(""),
        collected_by: x(""),
        tracks,
    }
}

pub fn point(
    log: &mut Log,
    measure: Uuid,
    point_id: Uuid,
    program_id: Uuid,
    period: &str,
    numerator: f64,
    denominator: f64,
) -> u64 {
    log.push(
        "measure",
        measure,
        NicEvent::DataPointRecorded(DataPointRecorded {
            point_id,
            program_id,
            period: period.parse().expect("a period label"),
            numerator: Some(numerator),
            denominator: Some(denominator),
            value: None,
            note: x(""),
        }),
    )
}

pub struct CyclePlan {
    pub cycle_id: Uuid,
    pub program_id: Uuid,
    pub ideas: Vec<Uuid>,
    pub previous: Option<Uuid>,
    pub ramp_id: Uuid,
    pub number: u32,
    pub title: &'static str,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub measures: Vec<Uuid>,
    pub predictions: bool,
}

pub fn plan(log: &mut Log, p: CyclePlan) -> u64 {
    let questions = if p.predictions {
        vec![Question {
            question: x("Do mentors come?"),
            prediction: x("Most of them"),
            reason: x(""),
        }]
    } else {
        Vec::new()
    };
    log.push(
        "pdsa",
        p.cycle_id,
        NicEvent::PdsaCyclePlanned(PdsaCyclePlanned {
            cycle_id: p.cycle_id,
            network_id: NET,
            program_id: p.program_id,
            change_idea_ids: p.ideas,
            driver_ids: vec![SECONDARY],
            previous_cycle_id: p.previous,
            adapted_from_cycle_id: None,
            ramp_id: p.ramp_id,
            cycle_number: p.number,
            title: t(p.title),
            purpose: CyclePurpose::Test,
            scale: t("one mentor"),
            planned_start: p.start,
            planned_end: p.end,
            plan: Plan {
                objective: x("Try huddles"),
                questions: questions.clone(),
                who_what_when_where: x(""),
                tasks: vec![],
                measure_ids: p.measures,
                data_collection_plan: x(""),
            },
        }),
    )
}

/// Runs a planned cycle through Do, Study (when `study`) and Act.
pub fn run_through(
    log: &mut Log,
    cycle_id: Uuid,
    started: NaiveDate,
    completed: NaiveDate,
    study: bool,
    decision: Option<(ActDecision, &str)>,
) {
    log.push(
        "pdsa",
        cycle_id,
        NicEvent::PdsaCycleStarted(PdsaCycleStarted {
            cycle_id,
            started_on: started,
        }),
    );
    log.push(
        "pdsa",
        cycle_id,
        NicEvent::PdsaDoRecorded(PdsaDoRecorded {
            cycle_id,
            done: Do {
                carried_out_as_planned: true,
                what_happened: x("Huddles ran"),
                problems_and_surprises: x(""),
                observations: vec![],
                completed_on: completed,
            },
        }),
    );
    if study {
        log.push(
            "pdsa",
            cycle_id,
            NicEvent::PdsaStudyRecorded(PdsaStudyRecorded {
                cycle_id,
                study: Study {
                    results: vec![],
                    summary: x("Mentors came"),
                },
            }),
        );
    }
    if let Some((decision, reason)) = decision {
        log.push(
            "pdsa",
            cycle_id,
            NicEvent::PdsaActDecided(PdsaActDecided {
                cycle_id,
                act: Act {
                    decision,
                    reason: x(reason),
                    next_cycle: x(""),
                    decided_on: completed,
                },
            }),
        );
    }
}
