//! A member program (a PCSP): its enrolment in a network and an ecosystem, its withdrawal, and its
//! self-assessments against the network's quality standards, in one `program-…` stream.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use nic_events::catalog::*;
use nic_events::{NicEvent, Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Checks, Decision, DomainError};
use crate::network::{reason_given, NetworkState};

/// Self-assessment ratings run from 1 (not yet) to 4 (exemplary).
pub const RATING_MIN: u8 = 1;
pub const RATING_MAX: u8 = 4;

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct ProgramState {
    pub id: Uuid,
    pub exists: bool,
    pub network_id: Uuid,
    pub name: Option<Title>,
    pub ecosystem_id: Uuid,
    pub region: Option<Title>,
    /// Why it withdrew, once it has.
    pub withdrawn: Option<Text>,
    pub self_assessments: Vec<StandardSelfAssessed>,
}

impl ProgramState {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    pub fn apply(&mut self, event: &NicEvent) {
        match event {
            NicEvent::ProgramEnrolled(e) => {
                self.exists = true;
                self.network_id = e.network_id;
                self.name = Some(e.name.clone());
                self.ecosystem_id = e.ecosystem_id;
                self.region = Some(e.region.clone());
            }
            NicEvent::ProgramWithdrawn(e) => self.withdrawn = Some(e.reason.clone()),
            NicEvent::StandardSelfAssessed(e) => self.self_assessments.push(e.clone()),
            _ => {}
        }
    }

    /// The program addressed by a command's path: it exists and has not withdrawn.
    pub fn require_active(&self) -> Result<(), DomainError> {
        if !self.exists {
            return Err(DomainError::NotFound {
                kind: "program",
                id: self.id,
            });
        }
        if self.withdrawn.is_some() {
            return Err(DomainError::transition(
                "the program has withdrawn from the network",
            ));
        }
        Ok(())
    }
}

/// Checks that a program named by a command's field is enrolled (and still active) in `network`.
pub fn enrolled_in(
    program: Option<&ProgramState>,
    network: Uuid,
    field: &str,
    id: Uuid,
) -> Result<(), DomainError> {
    match program {
        Some(p) if p.exists && p.network_id == network => {
            if p.withdrawn.is_some() {
                Err(DomainError::invalid(field, "the program has withdrawn"))
            } else {
                Ok(())
            }
        }
        _ => Err(DomainError::UnknownReference {
            field: field.into(),
            kind: "program",
            id,
        }),
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollProgram {
    pub name: Title,
    pub ecosystem_id: Uuid,
}

/// Enrols a new program in `network`; its region is its ecosystem's.
pub fn enroll(network: &NetworkState, program: &ProgramState, cmd: EnrollProgram) -> Decision {
    if !network.exists {
        return Err(DomainError::NotFound {
            kind: "network",
            id: network.id,
        });
    }
    if program.exists {
        return Err(DomainError::transition("the program is already enrolled"));
    }
    let ecosystem =
        network
            .ecosystems
            .get(&cmd.ecosystem_id)
            .ok_or(DomainError::UnknownReference {
                field: "ecosystem_id".into(),
                kind: "ecosystem",
                id: cmd.ecosystem_id,
            })?;
    Ok(vec![NicEvent::ProgramEnrolled(ProgramEnrolled {
        program_id: program.id,
        network_id: network.id,
        name: cmd.name,
        ecosystem_id: cmd.ecosystem_id,
        region: ecosystem.region.clone(),
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawProgram {
    pub reason: Text,
}

pub fn withdraw(program: &ProgramState, cmd: WithdrawProgram) -> Decision {
    program.require_active()?;
    reason_given(&cmd.reason)?;
    Ok(vec![NicEvent::ProgramWithdrawn(ProgramWithdrawn {
        program_id: program.id,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfAssess {
    pub standard_id: Uuid,
    /// 1 (not yet) to 4 (exemplary).
    pub rating: u8,
    pub assessed_on: NaiveDate,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub note: Text,
}

/// `known` holds the ids of the cycles, measures and syntheses of the network that the evidence
/// may cite (the caller loads those the command names).
pub fn self_assess(
    program: &ProgramState,
    network: &NetworkState,
    assessment_id: Uuid,
    known: &BTreeSet<(EvidenceKind, Uuid)>,
    cmd: SelfAssess,
) -> Decision {
    program.require_active()?;
    if !network.standards.contains_key(&cmd.standard_id) {
        return Err(DomainError::UnknownReference {
            field: "standard_id".into(),
            kind: "quality standard",
            id: cmd.standard_id,
        });
    }
    let mut c = Checks::new();
    c.check(
        (RATING_MIN..=RATING_MAX).contains(&cmd.rating),
        "rating",
        format!(
            "is {}; ratings run from {RATING_MIN} to {RATING_MAX}",
            cmd.rating
        ),
    );
    c.list(&cmd.evidence, "evidence");
    for (i, e) in cmd.evidence.iter().enumerate() {
        match e.kind {
            EvidenceKind::Document => c.check(
                e.reference.is_some() && e.id.is_none(),
                format!("evidence[{i}]"),
                "a document is cited by its reference, not an id",
            ),
            _ => c.check(
                e.id.is_some(),
                format!("evidence[{i}].id"),
                "a cycle, measure or synthesis is cited by its id",
            ),
        }
    }
    c.done()?;
    for (i, e) in cmd.evidence.iter().enumerate() {
        if let (Some(id), false) = (e.id, e.kind == EvidenceKind::Document) {
            if !known.contains(&(e.kind, id)) {
                return Err(DomainError::UnknownReference {
                    field: format!("evidence[{i}].id"),
                    kind: evidence_label(e.kind),
                    id,
                });
            }
        }
    }
    Ok(vec![NicEvent::StandardSelfAssessed(StandardSelfAssessed {
        assessment_id,
        program_id: program.id,
        standard_id: cmd.standard_id,
        rating: cmd.rating,
        assessed_on: cmd.assessed_on,
        evidence: cmd.evidence,
        note: cmd.note,
    })])
}

pub fn evidence_label(kind: EvidenceKind) -> &'static str {
    match kind {
        EvidenceKind::Cycle => "PDSA cycle",
        EvidenceKind::Measure => "measure",
        EvidenceKind::Synthesis => "synthesis",
        EvidenceKind::Document => "document",
    }
}
