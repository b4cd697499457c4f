//! The people who may use the ledger, for admins: list the access tokens, issue one (shown once,
//! with a sign-in link that carries it in the fragment only) and revoke one, over the same
//! registry as `nic-ledger token`. Bodies are parsed as commands are (`Body`): unknown fields,
//! wrong types and out-of-bounds text are 422 and nothing is issued.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nic_app::access::token_id;
use nic_app::{App, Principal};
use nic_events::catalog::Role;
use nic_events::{Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::{Body, Ids};
use crate::problem::{Problem, ProblemKind};

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// A name people recognise, unique among live tokens, e.g. "Ana, Lab Explorers".
    pub name: Title,
    pub role: Role,
    /// The programs a facilitator writes for, or an admissions office reads; none for other roles.
    #[serde(default)]
    pub programs: Vec<Uuid>,
}

/// `POST /api/v1/tokens/{token_id}/revoke`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why, for the record (e.g. "left the program").
    #[serde(default)]
    pub reason: Text,
}

/// A token as listed: never the token itself, nor its hash.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Listed {
    pub token_id: Uuid,
    pub name: String,
    pub role: Role,
    pub programs: Vec<Uuid>,
    pub revoked: bool,
}

/// Why a token may not revoke (or erase) itself through the API: the request that locks its own
/// holder out could be the last admin's.
pub const SELF_REVOCATION: &str = "a token cannot revoke itself: revoke it with another admin \
     token, or with `nic-ledger token revoke`";

/// `GET /api/v1/tokens`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenList {
    pub items: Vec<Listed>,
}

/// A token just issued: shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Issued {
    pub token_id: Uuid,
    pub name: Title,
    pub role: Role,
    pub programs: Vec<Uuid>,
    /// The token itself: only its SHA-256 is kept.
    pub token: String,
    /// The sign-in link's path: the token in the fragment, which no request carries.
    pub sign_in: String,
}

/// A token revoked.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Revoked {
    pub token_id: Uuid,
    pub revoked: bool,
}

/// Every token ever issued, live ones first, then by name.
pub async fn list(State(app): State<App>) -> Result<Response, Problem> {
    let tokens = app.tokens().tokens().await?;
    let mut items: Vec<Listed> = tokens
        .all()
        .map(|t| Listed {
            token_id: t.token_id,
            name: t.name.to_string(),
            role: t.role,
            programs: t.programs.clone(),
            revoked: t.revoked,
        })
        .collect();
    items.sort_by(|a, b| (a.revoked, &a.name).cmp(&(b.revoked, &b.name)));
    Ok(Json(TokenList { items }).into_response())
}

/// Issues a token (admins): 201 with the token, shown this once, and its sign-in link's path.
pub async fn issue(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Body(body, _): Body<IssueBody>,
) -> Result<Response, Problem> {
    let token = app
        .tokens()
        .create(
            body.name.as_str(),
            body.role,
            body.programs.clone(),
            &who.actor(),
        )
        .await?;
    let id = token_id(&token);
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(Issued {
            token_id: id,
            name: body.name,
            role: body.role,
            programs: body.programs,
            sign_in: format!("/#token={token}"),
            token,
        }),
    )
        .into_response())
}

/// Revokes a token (admins): 200; it opens nothing from then on, and its live streams end.
pub async fn revoke(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Ids(id): Ids<Uuid>,
    Body(body, _): Body<RevokeBody>,
) -> Result<Response, Problem> {
    if id == who.token_id {
        return Err(Problem::new(
            ProblemKind::InvalidTransition,
            SELF_REVOCATION,
        ));
    }
    app.tokens()
        .revoke_id(id, body.reason, &who.actor())
        .await?;
    Ok(Json(Revoked {
        token_id: id,
        revoked: true,
    })
    .into_response())
}
