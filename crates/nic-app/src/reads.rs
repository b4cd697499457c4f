//! The reads that are not read models: the global log in order (the replay feed), one stream,
//! each resource's current state folded from its stream (with the stream's version), the
//! listings of a network's programs, measures and syntheses and of a program's cycles, and
//! whether the service is ready.

use nic_domain::cycle::CycleState;
use nic_domain::measure::MeasureState;
use nic_domain::network::NetworkState;
use nic_domain::program::ProgramState;
use nic_domain::synthesis::SynthesisState;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{NicEvent, RecordedEvent, StreamId};
use nic_store::ReadAll;
use serde::Serialize;
use uuid::Uuid;

use crate::command::{Kind, Loader};
use crate::limits::{PAGE_EVENTS_DEFAULT, READY_LAG_EVENTS_MAX};
use crate::{App, AppError, Principal};

/// A page of the global log.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Page {
    pub events: Vec<RecordedEvent>,
    /// Pass as `after` to read the next page.
    pub next_after: u64,
}

/// A resource's state with its stream's version (the `ETag`).
#[derive(Debug)]
pub struct Versioned<T> {
    pub version: u64,
    pub state: T,
}

/// A PDSA cycle with what a complete cycle has that it lacks.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CycleView {
    #[serde(flatten)]
    pub cycle: CycleState,
    pub gaps: Vec<&'static str>,
}

/// One entry of a listing: an entity of `kind`, by its title.
#[derive(Debug)]
pub struct Listed {
    pub kind: Kind,
    pub id: Uuid,
    pub title: String,
}

/// The page size asked for, or the default; `InvalidLimit` outside 1 to `READ_PAGE_EVENTS_MAX`.
pub fn page_limit(requested: Option<usize>) -> Result<usize, AppError> {
    match requested.unwrap_or(PAGE_EVENTS_DEFAULT) {
        n @ 1..=READ_PAGE_EVENTS_MAX => Ok(n),
        n => Err(AppError::InvalidLimit(format!(
            "limit is {n}; it must be 1 to {READ_PAGE_EVENTS_MAX}"
        ))),
    }
}

impl App {
    /// One page of the global log after `after`, filtered by stream categories and event types
    /// (none: all), as `reader` may read it (`Principal::log_categories`).
    pub async fn events(
        &self,
        reader: &Principal,
        after: u64,
        limit: Option<usize>,
        categories: Vec<String>,
        event_types: Vec<String>,
    ) -> Result<Page, AppError> {
        let read = ReadAll {
            after,
            limit: page_limit(limit)?,
            categories: reader.log_categories(categories)?,
            event_types,
            ..ReadAll::default()
        };
        let events = self.store().read_all(&read).await?;
        let next_after = events.last().map_or(after, |e| e.global_position);
        Ok(Page { events, next_after })
    }

    /// One stream's events from `from_version`, with the stream's version, if `reader` may read
    /// them.
    pub async fn stream(
        &self,
        reader: &Principal,
        stream_id: String,
        from_version: u64,
        limit: Option<usize>,
    ) -> Result<Versioned<Vec<RecordedEvent>>, AppError> {
        let id =
            StreamId::parse(stream_id).map_err(|e| AppError::InvalidStreamId(e.to_string()))?;
        reader.require_stream(&id)?;
        let Some(version) = self.store().stream_version(&id).await? else {
            return Err(AppError::NotFound(format!("stream {id} has no events")));
        };
        let limit = page_limit(limit)?;
        let state = self.store().read_stream(&id, from_version, limit).await?;
        Ok(Versioned { version, state })
    }

    /// The version of an entity's stream and a loader that has read it; `NotFound` when the
    /// entity does not exist.
    async fn existing(&self, kind: Kind, id: Uuid) -> Result<(u64, Loader), AppError> {
        let mut loader = Loader::new(self.store().clone(), self.inner.states.clone());
        match loader.version(&kind.stream(id)).await? {
            Some(version) => Ok((version, loader)),
            None => Err(AppError::NotFound(format!("no {} {id}", kind.category()))),
        }
    }

    pub async fn network(&self, id: Uuid) -> Result<Versioned<NetworkState>, AppError> {
        let (version, mut l) = self.existing(Kind::Network, id).await?;
        let state = (*l.network(id).await?).clone();
        Ok(Versioned { version, state })
    }

    pub async fn program(&self, id: Uuid) -> Result<Versioned<ProgramState>, AppError> {
        let (version, mut l) = self.existing(Kind::Program, id).await?;
        let state = (*l.program(id).await?).clone();
        Ok(Versioned { version, state })
    }

    pub async fn measure(&self, id: Uuid) -> Result<Versioned<MeasureState>, AppError> {
        let (version, mut l) = self.existing(Kind::Measure, id).await?;
        let state = (*l.measure(id).await?).clone();
        Ok(Versioned { version, state })
    }

    pub async fn cycle(&self, id: Uuid) -> Result<Versioned<CycleView>, AppError> {
        let (version, mut l) = self.existing(Kind::Cycle, id).await?;
        let cycle = (*l.cycle(id).await?).clone();
        let state = CycleView {
            gaps: cycle.gaps(),
            cycle,
        };
        Ok(Versioned { version, state })
    }

    pub async fn synthesis(&self, id: Uuid) -> Result<Versioned<SynthesisState>, AppError> {
        let (version, mut l) = self.existing(Kind::Synthesis, id).await?;
        let state = (*l.synthesis(id).await?).clone();
        Ok(Versioned { version, state })
    }

    /// Events of one type in log order, whole: the listings below scan them until a read model
    /// serves these lists.
    async fn scan(&self, event_type: &str) -> Result<Vec<NicEvent>, AppError> {
        self.scan_recorded(&[event_type])
            .await?
            .iter()
            .map(|e| Ok(NicEvent::from_recorded(e)?))
            .collect()
    }

    /// The recorded events of these types in log order, the whole log read page by page.
    pub(crate) async fn scan_recorded(
        &self,
        event_types: &[&str],
    ) -> Result<Vec<RecordedEvent>, AppError> {
        let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
        read.event_types = event_types.iter().map(|t| t.to_string()).collect();
        let mut out = Vec::new();
        loop {
            let page = self.store().read_all(&read).await?;
            let full = page.len() == READ_PAGE_EVENTS_MAX;
            if let Some(last) = page.last() {
                read.after = last.global_position;
            }
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Every network.
    pub async fn networks(&self) -> Result<Vec<Listed>, AppError> {
        Ok(listed(self.scan("NetworkChartered").await?, |e| match e {
            NicEvent::NetworkChartered(n) => Some((Kind::Network, n.network_id, n.name.as_str())),
            _ => None,
        }))
    }

    /// A network's programs.
    pub async fn network_programs(&self, network: Uuid) -> Result<Vec<Listed>, AppError> {
        Ok(listed(self.scan("ProgramEnrolled").await?, |e| match e {
            NicEvent::ProgramEnrolled(p) if p.network_id == network => {
                Some((Kind::Program, p.program_id, p.name.as_str()))
            }
            _ => None,
        }))
    }

    /// A network's measures.
    pub async fn network_measures(&self, network: Uuid) -> Result<Vec<Listed>, AppError> {
        Ok(listed(self.scan("MeasureDefined").await?, |e| match e {
            NicEvent::MeasureDefined(m) if m.network_id == network => {
                Some((Kind::Measure, m.measure_id, m.name.as_str()))
            }
            _ => None,
        }))
    }

    /// A network's syntheses.
    pub async fn network_syntheses(&self, network: Uuid) -> Result<Vec<Listed>, AppError> {
        Ok(listed(
            self.scan("LearningSynthesized").await?,
            |e| match e {
                NicEvent::LearningSynthesized(s) if s.network_id == network => {
                    Some((Kind::Synthesis, s.synthesis_id, s.title.as_str()))
                }
                _ => None,
            },
        ))
    }

    /// A program's PDSA cycles.
    pub async fn program_cycles(&self, program: Uuid) -> Result<Vec<Listed>, AppError> {
        Ok(listed(self.scan("PdsaCyclePlanned").await?, |e| match e {
            NicEvent::PdsaCyclePlanned(c) if c.program_id == program => {
                Some((Kind::Cycle, c.cycle_id, c.title.as_str()))
            }
            _ => None,
        }))
    }

    /// Ready to serve: the database answers (its event log, so its migrations, are there) and the
    /// read models trail the log by at most `READY_LAG_EVENTS_MAX` events; `NotReady` saying why
    /// otherwise.
    pub async fn ready(&self) -> Result<(), AppError> {
        let position = self.read_models().position().await;
        let head = self.store().head_position().await.map_err(|e| {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            AppError::NotReady("the database does not answer".into())
        })?;
        let lag = head.saturating_sub(position);
        if lag > READY_LAG_EVENTS_MAX {
            return Err(AppError::NotReady(format!(
                "the read models are {lag} events behind the log (at most {READY_LAG_EVENTS_MAX})"
            )));
        }
        Ok(())
    }
}

fn listed(
    events: Vec<NicEvent>,
    pick: impl Fn(&NicEvent) -> Option<(Kind, Uuid, &str)>,
) -> Vec<Listed> {
    events
        .iter()
        .filter_map(pick)
        .map(|(kind, id, title)| Listed {
            kind,
            id,
            title: title.to_string(),
        })
        .collect()
}
