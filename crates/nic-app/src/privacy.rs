//! Personal data: erasing a subject, redacting one field, erasing withdrawn programs' text when the
//! network's retention period passes, and the key file. The log keeps personal fields sealed, each
//! under a key of its own (`nic_store::sealing`); erasing destroys keys, so the events and their
//! hashes stay as they were and the text reads as `[erased]` everywhere, as of any time. Each
//! erasure is itself an event in a `privacy-…` stream: who asked, when, why, which keys; never the
//! erased content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

use chrono::{DateTime, Utc};
use nic_events::catalog::{
    ErasureBasis, ErasureSubject, NicEvent, PersonalDataErased, PersonalFieldRedacted,
    PersonalKeysExported,
};
use nic_events::limits::{ERASURE_KEYS_PER_EVENT_MAX, READ_PAGE_EVENTS_MAX};
use nic_events::{ExpectedVersion, Metadata, StreamId, Text, Title};
use nic_store::sealing::{new_key, open_text, seal_text, tokens};
use nic_store::{FieldKey, KeySubject};
use serde::Serialize;
use uuid::Uuid;

use nic_domain::DomainError;

use crate::limits::RETENTION_EVERY_MS;
use crate::{App, AppError};

/// The stream category of erasures, redactions and key exports.
pub const PRIVACY_CATEGORY: &str = "privacy";
/// Fields an erasure's report lists one by one (it counts them all).
pub const REPORT_FIELDS_MAX: usize = 1_000;
/// The shortest name an erasure searches a program's texts for, in characters.
pub const NAME_CHARS_MIN: usize = 3;

/// Whose or which personal data to erase.
#[derive(Clone, Debug)]
pub enum Subject {
    /// A token holder: the token's name and everything it wrote. A live token is revoked.
    Person { token_id: Uuid },
    /// Every personal text of a program (its own stream's, its cycles', its data points') that
    /// contains `name`, compared without regard to case. The name is not recorded.
    NamedInProgram { program_id: Uuid, name: String },
    /// One field of one event.
    Field { event_id: Uuid, field: String },
    /// A withdrawn program's free text (retention).
    WithdrawnProgram { program_id: Uuid },
}

/// One sealed field an erasure reached.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct FieldRef {
    pub stream_id: String,
    pub event_id: Uuid,
    pub field: String,
    pub class: String,
}

/// What an erasure did, or would do (`dry_run`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ErasureReport {
    /// The erasure's id (its stream is `privacy-<id>`); None for a dry run or when nothing matched.
    pub erasure_id: Option<Uuid>,
    pub dry_run: bool,
    pub fields: u32,
    pub events: u32,
    /// The fields, at most `REPORT_FIELDS_MAX`.
    pub found: Vec<FieldRef>,
    /// What stays: said in every report.
    pub kept: &'static str,
}

const KEPT: &str = "Events, their dates, types, ids and hashes stay, as do numbers (data points, \
     counts, ratings) and the network's shared vocabulary (names of programs, measures, drivers, \
     change ideas, standards): they carry no personal text, and the record and its charts depend \
     on them.";

/// A withdrawn program whose free text the network's retention period has reached.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RetentionDue {
    pub program_id: Uuid,
    pub network_id: Uuid,
    pub withdrawn_at: DateTime<Utc>,
    pub days: u32,
    pub report: ErasureReport,
}

impl App {
    /// Erases `subject`'s personal data (or, `dry_run`, lists what would go), recorded as done
    /// by `actor` for `basis`.
    pub async fn erase(
        &self,
        actor: &str,
        subject: Subject,
        basis: ErasureBasis,
        reference: Option<Title>,
        dry_run: bool,
    ) -> Result<ErasureReport, AppError> {
        let store = self.store();
        if let (Subject::Person { token_id }, false) = (&subject, dry_run) {
            // First, so that the revocation's own reason is erased with the rest.
            self.revoke_for_erasure(*token_id, actor).await?;
        }
        let (keys, recorded) = match &subject {
            Subject::Person { token_id } => {
                let mut keys = store
                    .find_keys(&KeySubject::Author(format!("token:{token_id}")))
                    .await?;
                let stream = StreamId::for_entity("token", *token_id);
                keys.extend(
                    store
                        .find_keys(&KeySubject::Stream(stream.as_str().to_string()))
                        .await?,
                );
                if keys.is_empty() && store.stream_version(&stream).await?.is_none() {
                    return Err(AppError::NotFound(format!("no token {token_id}")));
                }
                (
                    keys,
                    ErasureSubject::Person {
                        token_id: *token_id,
                    },
                )
            }
            Subject::NamedInProgram { program_id, name } => {
                let name = name.trim();
                if name.chars().count() < NAME_CHARS_MIN {
                    return Err(DomainError::invalid(
                        "name",
                        format!("a name of at least {NAME_CHARS_MIN} characters is searched for"),
                    )
                    .into());
                }
                let keys = store.find_keys(&KeySubject::Program(*program_id)).await?;
                (
                    self.naming(keys, name).await?,
                    ErasureSubject::NamedInProgram {
                        program_id: *program_id,
                    },
                )
            }
            Subject::Field { event_id, field } => (
                store
                    .find_keys(&KeySubject::Field {
                        event_id: *event_id,
                        field: field.clone(),
                    })
                    .await?,
                ErasureSubject::Field {
                    event_id: *event_id,
                    field: field.clone(),
                },
            ),
            Subject::WithdrawnProgram { program_id } => {
                let keys = store.find_keys(&KeySubject::Program(*program_id)).await?;
                (
                    keys.into_iter()
                        .filter(|k| k.class == "free-text")
                        .collect(),
                    ErasureSubject::WithdrawnProgram {
                        program_id: *program_id,
                    },
                )
            }
        };
        let mut keys = keys;
        keys.sort_by_key(|k| k.key_id);
        keys.dedup_by_key(|k| k.key_id);
        let events: HashSet<Uuid> = keys.iter().map(|k| k.event_id).collect();
        let mut report = ErasureReport {
            erasure_id: None,
            dry_run,
            fields: keys.len() as u32,
            events: events.len() as u32,
            found: keys
                .iter()
                .take(REPORT_FIELDS_MAX)
                .map(|k| FieldRef {
                    stream_id: k.stream_id.clone(),
                    event_id: k.event_id,
                    field: k.field.clone(),
                    class: k.class.clone(),
                })
                .collect(),
            kept: KEPT,
        };
        if dry_run || keys.is_empty() {
            return Ok(report);
        }
        let erasure_id = Uuid::now_v7();
        let ids: Vec<Uuid> = keys.iter().map(|k| k.key_id).collect();
        let records: Vec<NicEvent> = keys
            .chunks(ERASURE_KEYS_PER_EVENT_MAX)
            .map(|chunk| {
                let events: HashSet<Uuid> = chunk.iter().map(|k| k.event_id).collect();
                NicEvent::PersonalDataErased(PersonalDataErased {
                    erasure_id,
                    subject: recorded.clone(),
                    basis,
                    reference: reference.clone(),
                    keys: chunk.iter().map(|k| k.key_id).collect(),
                    fields: chunk.len() as u32,
                    events: events.len() as u32,
                })
            })
            .collect();
        self.record_privacy(erasure_id, actor, &records).await?;
        // The record comes first: every process's follower destroys the keys it names too, so an
        // erasure interrupted here completes.
        store.destroy_keys(&ids, &[]).await?;
        report.erasure_id = Some(erasure_id);
        Ok(report)
    }

    /// Replaces one field written by mistake with `replacement`; the original becomes unreadable.
    /// Its writer or an admin may (`may_redact`).
    pub async fn redact(
        &self,
        actor: &str,
        admin: bool,
        event_id: Uuid,
        field: &str,
        replacement: Text,
    ) -> Result<Uuid, AppError> {
        let store = self.store();
        let found = store
            .find_keys(&KeySubject::Field {
                event_id,
                field: field.to_string(),
            })
            .await?;
        let Some(original) = found.into_iter().next() else {
            return Err(AppError::NotFound(format!(
                "event {event_id} has no sealed personal field at {field:?} (or it is erased)"
            )));
        };
        if !admin && original.author.as_deref() != Some(actor) {
            return Err(AppError::Forbidden(
                "only the field's writer or an admin may redact it".into(),
            ));
        }
        let key_id = Uuid::now_v7();
        let key = new_key();
        let sealed = seal_text(key_id, &key, replacement.as_str());
        store
            .put_keys(&[FieldKey {
                key_id,
                key: Some(key),
                replacement: None,
                author: Some(actor.to_string()),
                created_at: Utc::now(),
                ..original.clone()
            }])
            .await?;
        store
            .destroy_keys(&[original.key_id], &[(original.key_id, sealed)])
            .await?;
        let erasure_id = Uuid::now_v7();
        let record = NicEvent::PersonalFieldRedacted(PersonalFieldRedacted {
            erasure_id,
            event_id,
            stream_id: original.stream_id.clone(),
            field: field.to_string(),
            replacement,
            keys: vec![original.key_id],
        });
        self.record_privacy(erasure_id, actor, &[record]).await?;
        Ok(erasure_id)
    }

    /// The withdrawn programs whose free text the network's retention period has reached by
    /// `now`, each with what an erasure would take (nothing is erased).
    pub async fn retention_due(&self, now: DateTime<Utc>) -> Result<Vec<RetentionDue>, AppError> {
        let mut days: HashMap<Uuid, u32> = HashMap::new();
        let mut network_of: HashMap<Uuid, Uuid> = HashMap::new();
        let mut withdrawn: BTreeMap<Uuid, DateTime<Utc>> = BTreeMap::new();
        for e in self
            .scan_recorded(&["RetentionSet", "ProgramEnrolled", "ProgramWithdrawn"])
            .await?
        {
            match NicEvent::from_recorded(&e) {
                Ok(NicEvent::RetentionSet(r)) => match r.withdrawn_program_text_days {
                    Some(d) => {
                        days.insert(r.network_id, d);
                    }
                    None => {
                        days.remove(&r.network_id);
                    }
                },
                Ok(NicEvent::ProgramEnrolled(p)) => {
                    network_of.insert(p.program_id, p.network_id);
                }
                Ok(NicEvent::ProgramWithdrawn(p)) => {
                    withdrawn.insert(p.program_id, e.recorded_at);
                }
                _ => {}
            }
        }
        let mut due = Vec::new();
        for (program_id, withdrawn_at) in withdrawn {
            let Some(&network_id) = network_of.get(&program_id) else {
                continue;
            };
            let Some(&d) = days.get(&network_id) else {
                continue;
            };
            if withdrawn_at + chrono::Duration::days(i64::from(d)) > now {
                continue;
            }
            let report = self
                .erase(
                    "",
                    Subject::WithdrawnProgram { program_id },
                    ErasureBasis::Retention,
                    None,
                    true,
                )
                .await?;
            if report.fields > 0 {
                due.push(RetentionDue {
                    program_id,
                    network_id,
                    withdrawn_at,
                    days: d,
                    report,
                });
            }
        }
        Ok(due)
    }

    /// Erases what the retention periods have reached by `now` (or lists it, `dry_run`).
    pub async fn run_retention(
        &self,
        actor: &str,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<RetentionDue>, AppError> {
        let mut due = self.retention_due(now).await?;
        if !dry_run {
            for d in &mut due {
                d.report = self
                    .erase(
                        actor,
                        Subject::WithdrawnProgram {
                            program_id: d.program_id,
                        },
                        ErasureBasis::Retention,
                        None,
                        false,
                    )
                    .await?;
            }
        }
        Ok(due)
    }

    /// Applies the retention periods every `RETENTION_EVERY_MS` until the service stops, in the
    /// process that runs the read models (one process of several does it). The caller owns the
    /// task.
    pub fn retain(&self) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        let mut stop = self.stopping();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(std::time::Duration::from_millis(RETENTION_EVERY_MS));
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tick.tick() => {}
                }
                if !app.read_models().is_runner() {
                    continue;
                }
                match app
                    .run_retention("system:retention", Utc::now(), false)
                    .await
                {
                    Ok(due) => {
                        for d in due {
                            tracing::info!(program = %d.program_id, fields = d.report.fields, "retention erased a withdrawn program's free text");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the retention run failed; it runs again later")
                    }
                }
            }
        })
    }

    /// Writes the key file (one `FieldKey` per line), after recording that `actor` exported it.
    /// Returns how many keys it holds.
    pub async fn export_keys(
        &self,
        actor: &str,
        reason: Option<Title>,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u32, AppError> {
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = self.store().keys_page(after, READ_PAGE_EVENTS_MAX).await?;
            after = page.last().map(|k| k.key_id);
            let full = page.len() == READ_PAGE_EVENTS_MAX;
            // The read models' checkpoint keys stay: a checkpoint does not travel.
            keys.extend(page.into_iter().filter(|k| k.class != "checkpoint"));
            if !full {
                break;
            }
        }
        let export_id = Uuid::now_v7();
        let record = NicEvent::PersonalKeysExported(PersonalKeysExported {
            export_id,
            keys: keys.len() as u32,
            reason,
        });
        self.record_privacy(export_id, actor, &[record]).await?;
        for k in &keys {
            let line = serde_json::to_string(k)
                .map_err(|e| AppError::Internal(format!("a key does not serialise: {e}")))?;
            writeln!(out, "{line}").map_err(|e| AppError::Internal(e.to_string()))?;
        }
        Ok(keys.len() as u32)
    }

    /// Reads a key file into the store, leaving out every key an erasure or a redaction in the
    /// log destroyed, however old the file: returns (written, left out).
    pub async fn import_keys(&self, input: &mut dyn BufRead) -> Result<(u64, u64), AppError> {
        let destroyed = self.destroyed_keys().await?;
        let mut keys = Vec::new();
        let mut left_out = 0;
        for (n, line) in input.lines().enumerate() {
            let line = line.map_err(|e| DomainError::invalid("key file", e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let key: FieldKey = serde_json::from_str(&line)
                .map_err(|e| DomainError::invalid("key file", format!("line {}: {e}", n + 1)))?;
            if key.key.is_some() && destroyed.contains(&key.key_id) {
                left_out += 1;
                continue;
            }
            keys.push(key);
        }
        let written = self.store().put_keys(&keys).await?;
        Ok((written, left_out))
    }

    /// Every key the log's erasures and redactions name.
    async fn destroyed_keys(&self) -> Result<HashSet<Uuid>, AppError> {
        Ok(self
            .scan_recorded(&nic_store::sealing::PRIVACY_EVENT_TYPES)
            .await?
            .iter()
            .flat_map(nic_store::sealing::privacy_keys)
            .collect())
    }

    /// The keys among `keys` whose text contains `name`, compared without regard to case.
    async fn naming(&self, keys: Vec<FieldKey>, name: &str) -> Result<Vec<FieldKey>, AppError> {
        let needle = name.to_lowercase();
        let by_id: HashMap<Uuid, FieldKey> = keys.into_iter().map(|k| (k.key_id, k)).collect();
        let streams: HashSet<&str> = by_id.values().map(|k| k.stream_id.as_str()).collect();
        let stored = self.stored();
        let mut found = Vec::new();
        for stream in streams {
            let stream = StreamId::parse(stream.to_string())
                .map_err(|e| AppError::Internal(format!("a key's stream: {e}")))?;
            let mut from = 0;
            loop {
                let page = stored
                    .read_stream(&stream, from, READ_PAGE_EVENTS_MAX)
                    .await?;
                for e in &page {
                    for (_, key_id, payload) in tokens(e.data.get()) {
                        let Some(k) = by_id.get(&key_id) else {
                            continue;
                        };
                        let text = match (&k.key, &k.replacement) {
                            (Some(key), _) => open_text(key_id, key, payload),
                            (None, Some(sealed)) => self.open_replacement(sealed).await?,
                            (None, None) => None,
                        };
                        if text.is_some_and(|t| t.to_lowercase().contains(&needle)) {
                            found.push(k.clone());
                        }
                    }
                }
                if page.len() < READ_PAGE_EVENTS_MAX {
                    break;
                }
                from += page.len() as u64;
            }
        }
        Ok(found)
    }

    async fn open_replacement(&self, sealed: &str) -> Result<Option<String>, AppError> {
        let json = serde_json::to_string(sealed).expect("a string serialises");
        let Some((_, key_id, payload)) = tokens(&json).next() else {
            return Ok(None);
        };
        let key = self.store().read_keys(&[key_id]).await?;
        Ok(key
            .first()
            .and_then(|k| k.key)
            .and_then(|key| open_text(key_id, &key, payload)))
    }

    async fn revoke_for_erasure(&self, token_id: Uuid, actor: &str) -> Result<(), AppError> {
        let (tokens, _) = self.tokens().token_record(token_id).await?;
        if tokens.get(token_id).is_some_and(|t| !t.revoked) {
            let reason = Text::parse("its holder's personal data is erased").expect("bounded");
            self.tokens().revoke_id(token_id, reason, actor).await?;
        }
        Ok(())
    }

    async fn record_privacy(
        &self,
        id: Uuid,
        actor: &str,
        records: &[NicEvent],
    ) -> Result<(), AppError> {
        let metadata = Metadata {
            actor: Some(actor.to_string()),
            ..Metadata::default()
        };
        let events = records.iter().map(|e| e.to_new_event(&metadata)).collect();
        self.store()
            .append(
                &StreamId::for_entity(PRIVACY_CATEGORY, id),
                ExpectedVersion::NoStream,
                events,
            )
            .await?;
        Ok(())
    }
}
