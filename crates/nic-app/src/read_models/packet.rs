//! A program's evidence packet, for accreditation: its self-assessments over time with the
//! evidence each cites, the PDSA cycles it ran with their decisions, and the measures it reports
//! with their latest values and signals, as of any point on either clock; as one JSON document,
//! or as one CSV table a spreadsheet opens (a row per rating, cycle and measure).

use nic_projections::pdsa_board::{CycleCard, PdsaBoardView};
use nic_projections::portfolio::PortfolioView;
use nic_projections::run_charts::{csv_text, RunChartView};
use nic_projections::AsOf;
use serde::Serialize;
use uuid::Uuid;

use super::Service;
use crate::AppError;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct EvidencePacket {
    pub program_id: Uuid,
    pub program_name: String,
    /// The log position the packet is as of.
    pub position: u64,
    pub portfolio: PortfolioView,
    pub pdsa_board: PdsaBoardView,
    /// The program's own run chart of each measure it has reported.
    pub measures: Vec<RunChartView>,
}

impl Service {
    /// The packet of `program`, whose network defines `measures`, as of `as_of`.
    pub async fn evidence_packet(
        &self,
        program: Uuid,
        measures: &[Uuid],
        as_of: Option<AsOf>,
    ) -> Result<EvidencePacket, AppError> {
        let portfolio = self.portfolio(program, as_of).await?;
        let pdsa_board = self.pdsa_board(program, as_of).await?;
        let mut charts = Vec::new();
        for &m in measures {
            // A measure defined later than `as_of` has no chart then: it is not in the packet.
            let Ok(chart) = self.run_chart(m, Some(program), as_of).await else {
                continue;
            };
            let reported = chart.points.iter().any(|p| {
                p.contributions
                    .iter()
                    .any(|c| c.program_id == program && !c.excluded)
            });
            if reported {
                charts.push(chart);
            }
        }
        Ok(EvidencePacket {
            program_id: program,
            program_name: pdsa_board.program_name.clone(),
            position: pdsa_board.position,
            portfolio,
            pdsa_board,
            measures: charts,
        })
    }
}

impl EvidencePacket {
    /// One table: `section` (self-assessment, pdsa cycle, measure), then what each row is, its
    /// date, its value, its decision or signal, and its evidence or change ideas.
    pub fn csv(&self) -> String {
        let mut out =
            String::from("section,name,date,value,decision_or_signal,evidence_or_detail\n");
        let mut row = |cells: [&str; 6]| {
            let line: Vec<String> = cells.iter().map(|c| csv_text(c)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        };
        for st in &self.portfolio.standards {
            let name = format!("{} {}", st.code, st.title);
            for r in &st.ratings {
                let evidence: Vec<String> = r
                    .evidence
                    .iter()
                    .map(|e| {
                        let what = e.title.clone().or(e.reference.clone()).unwrap_or_default();
                        format!("{}: {what}", serde_plain(&e.kind))
                    })
                    .collect();
                row([
                    "self-assessment",
                    &name,
                    &r.assessed_on.to_string(),
                    &r.rating.to_string(),
                    &r.note,
                    &evidence.join("; "),
                ]);
            }
        }
        let c = &self.pdsa_board.columns;
        let mut cycles: Vec<&CycleCard> =
            [&c.planned, &c.doing, &c.studying, &c.acted, &c.abandoned]
                .into_iter()
                .flatten()
                .collect();
        cycles.sort_by_key(|c| (c.planned_start, c.cycle_number));
        for cy in cycles {
            let decision = match (&cy.decision, &cy.decision_reason) {
                (Some(d), Some(why)) => format!("{}: {why}", serde_plain(d)),
                (Some(d), None) => serde_plain(d),
                _ => cy.abandoned_reason.clone().unwrap_or_default(),
            };
            let ideas: Vec<&str> = cy.change_ideas.iter().map(|i| i.title.as_str()).collect();
            row([
                "pdsa cycle",
                &cy.title,
                &format!(
                    "{} to {}",
                    cy.planned_start,
                    cy.completed_on.unwrap_or(cy.planned_end)
                ),
                &serde_plain(&cy.phase),
                &decision,
                &ideas.join("; "),
            ]);
        }
        for m in &self.measures {
            let latest = m.points.iter().rev().find(|p| p.plotted.is_some());
            let signal = m
                .phases
                .iter()
                .flat_map(|ph| &ph.signals)
                .last()
                .map_or("no signal".to_string(), |s| s.message.clone());
            row([
                "measure",
                &m.measure_name,
                &latest.map(|p| p.period.to_string()).unwrap_or_default(),
                &latest
                    .and_then(|p| p.plotted)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                &signal,
                &m.unit,
            ]);
        }
        out
    }
}

/// An enum as its JSON name (`adopt`, `acted`, `cycle`).
fn serde_plain<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
