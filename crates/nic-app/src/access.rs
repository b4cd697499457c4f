//! Who may do what: bearer tokens, stored only as SHA-256 hashes in `token-…` streams, the
//! `Principal` a token stands for, and what each role may do (`Access`). The HTTP edge names an
//! `Access` for every route and asks `Access::allows`; commands ask `Principal::require_program`
//! for program-scoped writes.
//!
//! | role | may |
//! |---|---|
//! | admin | everything (the network hub) |
//! | facilitator | write for the programs it is granted; read the network and the log |
//! | improvement scientist | read the network and the log: replay, export, rebuild |
//! | viewer | projections and resources, and the live timeline (dashboards) |
//! | admissions | its programs' admissions statements only (admissions offices) |
//!
//! Token records (`token-…` streams) are read by admins only, in every read of the log.

use std::sync::Arc;

use nic_domain::token::{self, IssueToken, Tokens};
use nic_domain::DomainError;
use nic_events::catalog::{Role, CATEGORIES};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{ExpectedVersion, Metadata, NicEvent, StreamId, Text, Title};
use nic_store::{EventStore, ReadAll};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::command::{Loader, States};
use crate::AppError;

/// The stream category of the tokens' records.
pub(crate) const TOKEN_CATEGORY: &str = "token";

/// What an operation asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, readiness, the OpenAPI document.
    Public,
    /// Any valid token, whatever its role: who the token is.
    Token,
    /// Any valid token: projections, resources, the live timeline, metrics.
    View,
    /// The raw log (events, streams, export, the live log): everyone but viewers.
    Log,
    /// Writes for one program: admins, and facilitators granted that program (checked again by
    /// the command, which knows the program).
    Program,
    /// The network's own records (charter, aim, driver diagram, measures, standards, syntheses,
    /// enrolments): admins.
    Hub,
    /// Rebuilding the read models from the log: admins and improvement scientists.
    Rebuild,
    /// A program's admissions statement: admins, and admissions tokens granted the program
    /// (checked again by the handler, which knows the program).
    Admissions,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Access::Public | Access::Token => true,
            Access::View => role != Admissions,
            Access::Log => !matches!(role, Viewer | Admissions),
            Access::Program => matches!(role, Admin | Facilitator),
            Access::Hub => role == Admin,
            Access::Rebuild => matches!(role, Admin | ImprovementScientist),
            Access::Admissions => matches!(role, Admin | Admissions),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Access::Public => "no token",
            Access::Token => "any token",
            Access::View => "any token but an admissions token",
            Access::Log => "admin, facilitator or improvement scientist",
            Access::Program => "admin, or a facilitator granted the program",
            Access::Hub => "admin",
            Access::Rebuild => "admin or improvement scientist",
            Access::Admissions => "admin, or an admissions token granted the program",
        }
    }
}

/// Who is asking: the token that authenticated the request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's id: events record the principal by it (`actor`), never by its name.
    pub token_id: Uuid,
    pub name: String,
    pub role: Role,
    pub programs: Vec<Uuid>,
}

impl Principal {
    /// How events record this principal: by the token's id, so that the log holds no name in
    /// the clear (the name is sealed in the token's own stream).
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }

    /// Refuses a write for `program` unless this principal may write for it.
    pub fn require_program(&self, program: Uuid) -> Result<(), AppError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Facilitator if self.programs.contains(&program) => Ok(()),
            _ => Err(AppError::Forbidden(format!(
                "token {:?} may not write for program {program}",
                self.name
            ))),
        }
    }

    /// Refuses a program's admissions statement unless this principal is an admin or an admissions
    /// token granted the program.
    pub fn require_admissions(&self, program: Uuid) -> Result<(), AppError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Admissions if self.programs.contains(&program) => Ok(()),
            _ => Err(AppError::Forbidden(format!(
                "token {:?} may not read program {program}'s admissions statement",
                self.name
            ))),
        }
    }

    /// Refuses unless this principal is an admin (the hub).
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(AppError::Forbidden(
                "only the hub (an admin token) may do this".into(),
            )),
        }
    }

    /// The stream categories this principal reads when it asks the log for `asked` (empty: all):
    /// admins get what they ask; everyone else every catalog category but `token`, whose records
    /// (names, roles, grants and hashes of tokens) are for admins only, and is refused `token`.
    pub fn log_categories(&self, asked: Vec<String>) -> Result<Vec<String>, AppError> {
        if self.role == Role::Admin {
            return Ok(asked);
        }
        if asked.iter().any(|c| c == TOKEN_CATEGORY) {
            return Err(self.no_token_records());
        }
        if !asked.is_empty() {
            return Ok(asked);
        }
        Ok(CATEGORIES
            .iter()
            .filter(|c| **c != TOKEN_CATEGORY)
            .map(|c| c.to_string())
            .collect())
    }

    /// Refuses a read of `stream` unless this principal may read its records.
    pub fn require_stream(&self, stream: &StreamId) -> Result<(), AppError> {
        if stream.category() == TOKEN_CATEGORY && self.role != Role::Admin {
            return Err(self.no_token_records());
        }
        Ok(())
    }

    fn no_token_records(&self) -> AppError {
        AppError::Forbidden(format!(
            "token records are for admins only; token {:?} is {:?}",
            self.name, self.role
        ))
    }

    /// Refuses unless `access` allows this principal's role.
    pub fn require(&self, access: Access, what: &str) -> Result<(), AppError> {
        if access.allows(self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{what} needs {}; token {:?} is {:?}",
                access.describe(),
                self.name,
                self.role
            )))
        }
    }
}

/// Checks bearer tokens, issues and revokes them. A token's stream is named after its hash
/// (`token_id_for`), so a check needs one stream, kept with the process's decided states
/// (`command::States`): read once, then kept in step with the log, so a check reads nothing while
/// the follower is in step. A token issued or revoked by this process counts at once, one issued or
/// revoked by another process as soon as the follower reads it (milliseconds; a token not kept is
/// read fresh).
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn EventStore>,
    states: Arc<States>,
}

impl Registry {
    pub fn new(store: Arc<dyn EventStore>, states: Arc<States>) -> Self {
        Self { store, states }
    }

    /// The principal a bearer token stands for: `Unauthorized` unless it is live.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AppError> {
        let sha = sha256_hex(token);
        let stream = StreamId::for_entity(TOKEN_CATEGORY, token_id_for(&sha));
        let folded = Loader::trusting(self.store.clone(), self.states.clone())
            .folded(&stream)
            .await?;
        folded
            .tokens()
            .and_then(|t| t.by_hash(&sha))
            .map(|t| Principal {
                token_id: t.token_id,
                name: t.name.to_string(),
                role: t.role,
                programs: t.programs.clone(),
            })
            .ok_or_else(|| AppError::Unauthorized("the token is unknown or revoked".into()))
    }

    /// Every token ever issued, from the whole log.
    pub async fn tokens(&self) -> Result<Tokens, AppError> {
        let mut tokens = Tokens::default();
        let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
        read.categories = vec![TOKEN_CATEGORY.into()];
        loop {
            let page = self.store.read_all(&read).await?;
            for e in &page {
                tokens.apply(&NicEvent::from_recorded(e)?);
            }
            match page.last() {
                Some(last) if page.len() == READ_PAGE_EVENTS_MAX => {
                    read.after = last.global_position
                }
                _ => return Ok(tokens),
            }
        }
    }

    /// Issues a token and returns it (its id is `token_id(&token)`); only its hash is recorded.
    /// Each program it names must be enrolled.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        programs: Vec<Uuid>,
        actor: &str,
    ) -> Result<String, AppError> {
        let mut loader = Loader::trusting(self.store.clone(), self.states.clone());
        for (i, &id) in programs.iter().enumerate() {
            if !loader.program(id).await?.exists {
                return Err(DomainError::UnknownReference {
                    field: format!("programs[{i}]"),
                    kind: "program",
                    id,
                }
                .into());
            }
        }
        let tokens = self.tokens().await?;
        let secret = new_token();
        let sha = sha256_hex(&secret);
        let token_id = token_id_for(&sha);
        let cmd = IssueToken {
            name: Title::parse(name).map_err(|e| DomainError::invalid("name", e.to_string()))?,
            role,
            programs,
            token_sha256: sha,
        };
        let events = token::issue(&tokens, token_id, cmd)?;
        self.append(
            StreamId::for_entity(TOKEN_CATEGORY, token_id),
            ExpectedVersion::NoStream,
            &events,
            actor,
        )
        .await?;
        Ok(secret)
    }

    /// Revokes the live token named `name`: it opens nothing from then on.
    pub async fn revoke(&self, name: &str, reason: &str, actor: &str) -> Result<(), AppError> {
        let id = self
            .tokens()
            .await?
            .by_name(name)
            .map(|t| t.token_id)
            .ok_or_else(|| AppError::NotFound(format!("no live token is named {name:?}")))?;
        let reason =
            Text::parse(reason).map_err(|e| DomainError::invalid("reason", e.to_string()))?;
        self.revoke_id(id, reason, actor).await
    }

    /// Revokes the token `token_id`: it opens nothing from then on, in this process at once.
    pub async fn revoke_id(
        &self,
        token_id: Uuid,
        reason: Text,
        actor: &str,
    ) -> Result<(), AppError> {
        let (tokens, version) = self.token_record(token_id).await?;
        let events = token::revoke(&tokens, token_id, reason)?;
        // At the version decided on: of two revocations at once, the second is a conflict.
        let expected = version.map_or(ExpectedVersion::StreamExists, ExpectedVersion::Exact);
        self.append(
            StreamId::for_entity(TOKEN_CATEGORY, token_id),
            expected,
            &events,
            actor,
        )
        .await
    }

    /// The token `token_id` alone, read from its own stream (which shows this process's appends
    /// at once, where a read of the whole log may still be proving them), and that stream's
    /// version.
    pub async fn token_record(&self, token_id: Uuid) -> Result<(Tokens, Option<u64>), AppError> {
        let stream = StreamId::for_entity(TOKEN_CATEGORY, token_id);
        let mut tokens = Tokens::default();
        let mut version = None;
        loop {
            let from = version.map_or(0, |v: u64| v + 1);
            let page = self
                .store
                .read_stream(&stream, from, READ_PAGE_EVENTS_MAX)
                .await?;
            for e in &page {
                tokens.apply(&NicEvent::from_recorded(e)?);
                version = Some(e.stream_version);
            }
            if page.len() < READ_PAGE_EVENTS_MAX {
                return Ok((tokens, version));
            }
        }
    }

    async fn append(
        &self,
        stream: StreamId,
        expected: ExpectedVersion,
        events: &[NicEvent],
        actor: &str,
    ) -> Result<(), AppError> {
        let metadata = Metadata {
            actor: Some(actor.to_string()),
            ..Metadata::default()
        };
        let epoch = self.states.epoch();
        let new: Vec<_> = events.iter().map(|e| e.to_new_event(&metadata)).collect();
        let ids: Vec<Uuid> = new.iter().map(|e| e.event_id).collect();
        let outcome = self.store.append(&stream, expected, new).await?;
        // A revocation counts at once in this process: its kept record gains the event.
        let appended: Vec<_> = ids.into_iter().zip(events).collect();
        self.states.extend(
            &stream,
            epoch,
            outcome.stream_version + 1 - appended.len() as u64,
            &appended,
        );
        Ok(())
    }
}

/// The id of a token (the token itself, as issued).
pub fn token_id(token: &str) -> Uuid {
    token_id_for(&sha256_hex(token))
}

/// A token's id (and so its stream): a UUID made of the first 16 bytes of its SHA-256.
fn token_id_for(sha256_hex: &str) -> Uuid {
    let mut bytes = [0u8; 16];
    if let Ok(digest) = hex::decode(sha256_hex) {
        bytes.copy_from_slice(&digest[..16]);
    }
    Uuid::new_v8(bytes)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A new random token: `nic_` and 64 hex digits (244 random bits, from two UUID v4s).
fn new_token() -> String {
    format!("nic_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}
