//! Where each network's events are in the log: the global positions of the events of its streams
//! (the network's own, and its programs', measures', PDSA cycles' and syntheses'). Every view of a
//! network (its driver diagram, its timeline, its measures' run charts, its programs' boards and
//! portfolios) is a fold of that network's own events, so a read "as of" a past moment can fold
//! only them: its cost is the network's history, not the whole log's.

use std::collections::BTreeMap;

use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::run_charts::RunCharts;
use crate::{is_new, OnBase, ReadModels, Recorded, WithBase};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkIndex {
    position: u64,
    applied: bool,
    /// Per network, the positions of its events, ascending.
    positions: BTreeMap<Uuid, Vec<u64>>,
}

/// The index with a base of its own: a projection by itself.
pub type NetworkIndexed = WithBase<NetworkIndex>;

/// What an as-of read is about: the network whose events it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Network(Uuid),
    Program(Uuid),
    Measure(Uuid),
    /// Every network's events: the whole log.
    Whole,
}

impl NetworkIndex {
    /// The network a scope belongs to, as the base names it; None for the whole log, or for a
    /// program or measure the log has not (yet) named.
    pub fn network_of(base: &RunCharts, scope: Scope) -> Option<Uuid> {
        let names = base.names();
        match scope {
            Scope::Network(id) => Some(id),
            Scope::Program(id) => names.programs.get(&id).map(|p| p.network_id),
            Scope::Measure(id) => names.measures.get(&id).map(|m| m.network_id),
            Scope::Whole => None,
        }
    }

    /// The positions of a network's events, at or before `up_to`, ascending.
    pub fn positions(&self, network: Uuid, up_to: u64) -> &[u64] {
        let all = self.positions.get(&network).map_or(&[][..], Vec::as_slice);
        &all[..all.partition_point(|&p| p <= up_to)]
    }

    /// The network whose stream holds `r` (after the base applied it); None for the service's own
    /// streams (access tokens).
    fn network_of_event(r: &Recorded, base: &RunCharts) -> Option<Uuid> {
        let entity = r.entity_id();
        let names = base.names();
        let (category, _) = r.stream_id.split_once('-')?;
        match (category, &r.event) {
            ("network", _) => Some(entity),
            ("program", _) => names.programs.get(&entity).map(|p| p.network_id),
            ("measure", _) => names.measures.get(&entity).map(|m| m.network_id),
            ("pdsa", _) => names.cycles.get(&entity).map(|c| c.network_id),
            ("synthesis", NicEvent::LearningSynthesized(e)) => Some(e.network_id),
            _ => None,
        }
    }
}

impl OnBase for NetworkIndex {
    fn after(&mut self, r: &Recorded, base: &RunCharts) {
        if !is_new(self.position, self.applied, r.global_position) {
            return;
        }
        self.applied = true;
        self.position = r.global_position;
        if let Some(network) = Self::network_of_event(r, base) {
            self.positions
                .entry(network)
                .or_default()
                .push(r.global_position);
        }
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn reach(&mut self, position: u64) {
        crate::reach(&mut self.position, &mut self.applied, position);
    }

    fn of(models: &ReadModels) -> &Self {
        &models.network_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver_diagram::DriverDiagram;
    use crate::testlog::*;
    use crate::{fold, fold_as_of, AsOf, Projection};

    fn network_last(own: &[Recorded]) -> u64 {
        own.last().map_or(0, |e| e.global_position)
    }

    /// Two networks' logs interleaved: each network's events alone fold to the same diagram as the
    /// whole log, at every position.
    #[test]
    fn a_network_folded_from_its_own_events_reads_as_the_whole_log() {
        let one = scenario().events;
        // The same story again under other ids, as a second network.
        let other: Vec<Recorded> = one
            .iter()
            .map(|e| {
                let json = serde_json::to_string(&e.event)
                    .unwrap()
                    .replace("00000000-0000-0000-0000-", "00000000-0000-0000-0001-");
                Recorded::new(
                    e.global_position,
                    e.recorded_at,
                    e.stream_id
                        .replace("00000000-0000-0000-0000-", "00000000-0000-0000-0001-"),
                    e.actor.clone(),
                    serde_json::from_str(&json).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let mut log = Vec::new();
        for (a, b) in one.into_iter().zip(other) {
            log.push(a);
            log.push(b);
        }
        for (i, e) in log.iter_mut().enumerate() {
            e.global_position = i as u64 + 1;
        }
        let index = fold(NetworkIndexed::new(), &log);
        let networks = fold(DriverDiagram::new(), &log).networks();
        assert_eq!(networks.len(), 2, "two networks");
        for network in networks {
            let mine = index.model.positions(network, u64::MAX);
            assert!(mine.len() * 2 <= log.len() + 1 && !mine.is_empty());
            for at in [log.len() as u64 / 3, log.len() as u64 / 2, log.len() as u64] {
                let whole =
                    fold_as_of(DriverDiagram::new(), &log, AsOf::Position(at)).view(network);
                let own: Vec<Recorded> = index
                    .model
                    .positions(network, at)
                    .iter()
                    .map(|&p| log[p as usize - 1].clone())
                    .collect();
                let mut alone = fold(DriverDiagram::new(), &own);
                assert!(alone.position() < at || network_last(&own) == at);
                alone.reach(at);
                assert_eq!(alone.view(network), whole, "network {network} at {at}");
            }
        }
    }
}
