//! Access control: bearer tokens, stored only as SHA-256 hashes in `token-…` streams, and what each
//! role may do. Every route names its `Access` in the route table; `authenticate` checks it for
//! every request and leaves the `Principal` for the handlers, which record it as each event's
//! actor and check program-scoped writes (`Principal::require_program`).
//!
//! | role | may |
//! |---|---|
//! | admin | everything (the network hub) |
//! | facilitator | write for the programs it is granted; read the network and the log |
//! | improvement scientist | read everything: the log, replay, export, rebuild |
//! | viewer | projections, resources and live streams only (dashboards) |

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nic_domain::token::{self, IssueToken, Tokens};
use nic_events::catalog::Role;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{ExpectedVersion, Metadata, NicEvent, StreamId, Text, Title};
use nic_store::{EventStore, ReadAll};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::problem::Problem;

/// What a route asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, readiness, the OpenAPI document.
    Public,
    /// Any valid token: projections, resources, live streams, metrics.
    View,
    /// The raw log (events, streams, export): everyone but viewers.
    Log,
    /// Writes for one program: admins, and facilitators granted that program (checked by the
    /// handler, which knows the program).
    Program,
    /// The network's own records (charter, aim, driver diagram, measures, standards, syntheses,
    /// enrolments): admins.
    Hub,
    /// Rebuilding the read models from the log: admins and improvement scientists.
    Rebuild,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Access::Public | Access::View => true,
            Access::Log => role != Viewer,
            Access::Program => matches!(role, Admin | Facilitator),
            Access::Hub => role == Admin,
            Access::Rebuild => matches!(role, Admin | ImprovementScientist),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Access::Public => "no token",
            Access::View => "any token",
            Access::Log => "admin, facilitator or improvement scientist",
            Access::Program => "admin, or a facilitator granted the program",
            Access::Hub => "admin",
            Access::Rebuild => "admin or improvement scientist",
        }
    }
}

/// Who is asking: the token that authenticated the request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub programs: Vec<Uuid>,
}

impl Principal {
    /// How events record this principal.
    pub fn actor(&self) -> String {
        format!("token:{}", self.name)
    }

    /// Refuses a write for `program` unless this principal may write for it.
    pub fn require_program(&self, program: Uuid) -> Result<(), Problem> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Facilitator if self.programs.contains(&program) => Ok(()),
            _ => Err(Problem::new(
                "forbidden",
                format!("token {:?} may not write for program {program}", self.name),
            )),
        }
    }
}

/// Checks bearer tokens. A token's stream is named after its hash (`token_id_for`), so a check is
/// one read of one stream: read-your-writes on every backend, and a token issued or revoked by any
/// process of the service counts at once.
pub struct Registry {
    store: Arc<dyn EventStore>,
}

impl Registry {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    /// The principal a bearer token stands for, if it is live.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, Problem> {
        let sha = sha256_hex(token);
        let stream = StreamId::for_entity("token", token_id_for(&sha));
        let mut tokens = Tokens::default();
        for e in self
            .store
            .read_stream(&stream, 0, READ_PAGE_EVENTS_MAX)
            .await?
        {
            tokens.apply(&NicEvent::from_recorded(&e)?);
        }
        Ok(tokens.by_hash(&sha).map(|t| Principal {
            name: t.name.to_string(),
            role: t.role,
            programs: t.programs.clone(),
        }))
    }

    /// Every token ever issued, from the whole log.
    pub async fn tokens(&self) -> Result<Tokens, Problem> {
        let mut tokens = Tokens::default();
        let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
        read.categories = vec!["token".into()];
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
}

/// A token's id (and so its stream): a UUID made of the first 16 bytes of its SHA-256.
fn token_id_for(sha256_hex: &str) -> Uuid {
    let mut bytes = [0u8; 16];
    if let Ok(digest) = hex::decode(sha256_hex) {
        bytes.copy_from_slice(&digest[..16]);
    }
    Uuid::new_v8(bytes)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A new random token: `nic_` and 64 hex digits (244 random bits, from two UUID v4s).
fn new_token() -> String {
    format!("nic_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// Issues a token and returns it; only its hash is recorded.
pub async fn create_token(
    store: &Arc<dyn EventStore>,
    name: &str,
    role: Role,
    programs: Vec<Uuid>,
    actor: &str,
) -> anyhow::Result<String> {
    let registry = Registry::new(store.clone());
    let tokens = registry
        .tokens()
        .await
        .map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let secret = new_token();
    let token_id = token_id_for(&sha256_hex(&secret));
    let cmd = IssueToken {
        name: Title::parse(name).map_err(|e| anyhow::anyhow!("name {e}"))?,
        role,
        programs,
        token_sha256: sha256_hex(&secret),
    };
    let events = token::issue(&tokens, token_id, cmd).map_err(|e| anyhow::anyhow!("{e}"))?;
    append(
        store,
        StreamId::for_entity("token", token_id),
        ExpectedVersion::NoStream,
        &events,
        actor,
    )
    .await?;
    Ok(secret)
}

pub async fn revoke_token(
    store: &Arc<dyn EventStore>,
    name: &str,
    reason: &str,
    actor: &str,
) -> anyhow::Result<()> {
    let tokens = Registry::new(store.clone())
        .tokens()
        .await
        .map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let reason = Text::parse(reason).map_err(|e| anyhow::anyhow!("reason {e}"))?;
    let events = token::revoke(&tokens, name, reason).map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = tokens
        .by_name(name)
        .map(|t| t.token_id)
        .expect("revoke found it");
    append(
        store,
        StreamId::for_entity("token", id),
        ExpectedVersion::StreamExists,
        &events,
        actor,
    )
    .await
}

async fn append(
    store: &Arc<dyn EventStore>,
    stream: StreamId,
    expected: ExpectedVersion,
    events: &[NicEvent],
    actor: &str,
) -> anyhow::Result<()> {
    let metadata = Metadata {
        actor: Some(actor.to_string()),
        ..Metadata::default()
    };
    let new = events.iter().map(|e| e.to_new_event(&metadata)).collect();
    store.append(&stream, expected, new).await?;
    Ok(())
}

/// The middleware: finds the route's `Access`, checks the bearer token against it (401 without a
/// valid token, 403 when the role may not), and leaves the `Principal` in the request.
pub async fn authenticate(
    State(state): State<crate::routes::AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let access = path
        .as_deref()
        .map_or(Access::Public, |p| state.access(req.method(), p));
    if access == Access::Public {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    let Some(bearer) = bearer else {
        return unauthorized("send a token: Authorization: Bearer <token>");
    };
    let principal = match state.registry.authenticate(&bearer).await {
        Ok(Some(p)) => p,
        Ok(None) => return unauthorized("the token is unknown or revoked"),
        Err(p) => return p.into_response(),
    };
    if !access.allows(principal.role) {
        return Problem::new(
            "forbidden",
            format!(
                "{} {} needs {}; token {:?} is {:?}",
                req.method(),
                path.unwrap_or_default(),
                access.describe(),
                principal.name,
                principal.role
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn unauthorized(detail: &str) -> Response {
    let mut res = Problem::new("unauthorized", detail).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    res
}
