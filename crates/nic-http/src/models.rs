//! The read models' handlers: the driver diagram (JSON, Mermaid, DOT, diffs), the learning
//! timeline, run charts (JSON, CSV), PDSA boards, portfolios, each live or `?as_of=` a position or
//! a time; the read models' progress and rebuilds.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use nic_app::read_models::Status;
use nic_app::App;
use nic_app::Principal;
use nic_projections::control_chart::ControlRules;
use nic_projections::driver_diagram::{self, DiagramDiff};
use nic_projections::limits::{REGISTER_CSV_ROWS_MAX, REGISTER_ROWS_DEFAULT, REGISTER_ROWS_MAX};
use nic_projections::pdsa_board::{PdsaBoardView, RegisterQuery};
use nic_projections::portfolio::{AdmissionsStatement, PortfolioView, StandardsMatrix};
use nic_projections::run_charts;
use nic_projections::timeline::{
    EntryKind, TimelineOrder, TimelinePage, TimelineQuery, PAGE_ENTRIES_MAX,
};
use nic_projections::AsOf;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::{as_of, as_of_opt, Ids, Params};
use crate::problem::{Problem, ProblemKind};

fn text(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn invalid(detail: String) -> Problem {
    Problem::new(ProblemKind::InvalidQuery, detail)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagramParams {
    /// json (default), mermaid or dot.
    #[schemars(extend("enum" = ["json", "mermaid", "dot"]))]
    format: Option<String>,
    /// A global position or an RFC 3339 time (the ledger as it stood then), or a day YYYY-MM-DD
    /// (the work as it stood at the end of that day).
    #[schemars(regex(pattern = r"^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$"))]
    as_of: Option<String>,
}

pub async fn driver_diagram(
    State(app): State<App>,
    Ids(network_id): Ids<Uuid>,
    Params(q): Params<DiagramParams>,
) -> Result<Response, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "mermaid" | "dot") {
        return Err(invalid(format!(
            "format is json, mermaid or dot; got {format:?}"
        )));
    }
    let view = app.read_models().driver_diagram(network_id, as_of).await?;
    Ok(match format {
        "mermaid" => text(
            "text/plain; charset=utf-8",
            driver_diagram::to_mermaid(&view),
        ),
        "dot" => text("text/plain; charset=utf-8", driver_diagram::to_dot(&view)),
        _ => Json(view).into_response(),
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    from: Option<String>,
    /// The live diagram when omitted.
    to: Option<String>,
}

pub async fn driver_diagram_diff(
    State(app): State<App>,
    Ids(network_id): Ids<Uuid>,
    Params(q): Params<DiffParams>,
) -> Result<Json<DiagramDiff>, Problem> {
    let Some(from) = q.from.as_deref() else {
        return Err(invalid(
            "from is required: a global position or an RFC 3339 time".into(),
        ));
    };
    let from = as_of("from", from)?;
    let to = as_of_opt("to", q.to.as_deref())?;
    let diff = app
        .read_models()
        .driver_diagram_diff(network_id, from, to)
        .await?;
    Ok(Json(diff))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    network_id: Option<Uuid>,
    program_id: Option<Uuid>,
    ecosystem_id: Option<Uuid>,
    driver_id: Option<Uuid>,
    change_idea_id: Option<Uuid>,
    /// Comma-separated entry kinds.
    kind: Option<String>,
    /// Happened on or after a day (YYYY-MM-DD), or recorded at or after a time (RFC 3339).
    from: Option<String>,
    /// Happened on or before a day (YYYY-MM-DD), or recorded before a time (RFC 3339).
    until: Option<String>,
    /// `happened` (the default: by the day each thing happened) or `recorded` (log order).
    order: Option<TimelineOrder>,
    /// The cursor: `next_after` of the previous page.
    after: Option<u64>,
    limit: Option<usize>,
    /// A global position or an RFC 3339 time (the ledger as it stood then), or a day YYYY-MM-DD
    /// (the work as it stood at the end of that day).
    #[schemars(regex(pattern = r"^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$"))]
    as_of: Option<String>,
}

fn entry_kinds(s: Option<&str>) -> Result<Vec<EntryKind>, Problem> {
    let Some(s) = s else {
        return Ok(Vec::new());
    };
    s.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            serde_json::from_value(serde_json::Value::String(k.to_string())).map_err(|_| {
                invalid(format!(
                    "kind {k:?} is not one of network, aim, diagram, root_cause, standard, \
                     program, measure, data, signal, cycle, decision, synthesis"
                ))
            })
        })
        .collect()
}

pub async fn timeline(
    State(app): State<App>,
    Params(q): Params<TimelineParams>,
) -> Result<Json<TimelinePage>, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    if let Some(n) = q.limit {
        if !(1..=PAGE_ENTRIES_MAX).contains(&n) {
            return Err(Problem::new(
                ProblemKind::InvalidLimit,
                format!("limit is {n}; it must be 1 to {PAGE_ENTRIES_MAX}"),
            ));
        }
    }
    let query = TimelineQuery {
        network_id: q.network_id,
        program_id: q.program_id,
        ecosystem_id: q.ecosystem_id,
        driver_id: q.driver_id,
        change_idea_id: q.change_idea_id,
        kinds: entry_kinds(q.kind.as_deref())?,
        from: None,
        until: None,
        happened_from: None,
        happened_until: None,
        order: q.order.unwrap_or_default(),
        after: q.after,
        limit: q.limit,
    };
    // A day is the network's clock (when it happened), a time the ledger's (when recorded).
    let mut query = query;
    for (field, value) in [("from", &q.from), ("until", &q.until)] {
        let Some(value) = value.as_deref() else {
            continue;
        };
        match crate::extract::as_of(field, value)? {
            AsOf::Happened(day) if field == "from" => query.happened_from = Some(day),
            AsOf::Happened(day) => query.happened_until = Some(day),
            AsOf::Time(t) if field == "from" => query.from = Some(t),
            AsOf::Time(t) => query.until = Some(t),
            AsOf::Position(_) => {
                return Err(invalid(format!(
                    "{field} is a day (YYYY-MM-DD: when it happened) or an RFC 3339 time (when it was recorded), not a position"
                )))
            }
        }
    }
    Ok(Json(app.read_models().timeline(&query, as_of).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunChartParams {
    /// One program's series; the network-wide series when omitted.
    program_id: Option<Uuid>,
    /// json (default) or csv.
    #[schemars(extend("enum" = ["json", "csv"]))]
    format: Option<String>,
    /// A global position or an RFC 3339 time (the ledger as it stood then), or a day YYYY-MM-DD
    /// (the work as it stood at the end of that day).
    #[schemars(regex(pattern = r"^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$"))]
    as_of: Option<String>,
    /// The control chart's type instead of the one the measure's numbers call for: p, p_prime,
    /// u, u_prime, c or i.
    #[schemars(extend("enum" = ["p", "p_prime", "u", "u_prime", "c", "i"]))]
    chart: Option<String>,
    /// The control chart's rule set instead of the default: shewhart, making_data_count or
    /// health_care_data_guide.
    #[schemars(extend("enum" = ["shewhart", "making_data_count", "health_care_data_guide"]))]
    rules: Option<String>,
}

/// A unit variant named as the API names it, or a 400 saying which names there are.
fn variant<T: serde::de::DeserializeOwned>(
    field: &str,
    given: Option<&str>,
    names: &str,
) -> Result<Option<T>, Problem> {
    given
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.to_string()))
                .map_err(|_| invalid(format!("{field} is one of {names}; got {name:?}")))
        })
        .transpose()
}

pub async fn run_chart(
    State(app): State<App>,
    Ids(measure_id): Ids<Uuid>,
    Params(q): Params<RunChartParams>,
) -> Result<Response, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(invalid(format!("format is json or csv; got {format:?}")));
    }
    let chart_type = variant("chart", q.chart.as_deref(), "p, p_prime, u, u_prime, c, i")?;
    let rules: Option<ControlRules> = variant(
        "rules",
        q.rules.as_deref(),
        "shewhart, making_data_count, health_care_data_guide",
    )?;
    let mut chart = app
        .read_models()
        .run_chart(measure_id, q.program_id, as_of)
        .await?;
    if chart_type.is_some() || rules.is_some() {
        chart = chart.with_control(chart_type, rules);
    }
    Ok(match format {
        "csv" => text("text/csv; charset=utf-8", run_charts::to_csv(&chart)),
        _ => Json(chart).into_response(),
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterParams {
    change_idea_id: Option<Uuid>,
    driver_id: Option<Uuid>,
    program_id: Option<Uuid>,
    ecosystem_id: Option<Uuid>,
    /// planned, doing, studying, acted or abandoned.
    #[schemars(extend("enum" = ["planned", "doing", "studying", "acted", "abandoned"]))]
    phase: Option<String>,
    /// adopt, adapt or abandon.
    #[schemars(extend("enum" = ["adopt", "adapt", "abandon"]))]
    decision: Option<String>,
    /// true: only cycles past their planned end and not done yet.
    overdue: Option<bool>,
    /// Only cycles whose planned dates overlap from..until (YYYY-MM-DD, inclusive).
    from: Option<String>,
    until: Option<String>,
    /// newest (default), oldest, program, title or phase.
    #[schemars(extend("enum" = ["newest", "oldest", "program", "title", "phase"]))]
    sort: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    /// json (default) or csv (every cycle that passes the filters, up to REGISTER_CSV_ROWS_MAX).
    #[schemars(extend("enum" = ["json", "csv"]))]
    format: Option<String>,
    /// A global position or an RFC 3339 time (the ledger as it stood then), or a day YYYY-MM-DD
    /// (the work as it stood at the end of that day).
    #[schemars(regex(pattern = r"^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$"))]
    as_of: Option<String>,
}

fn date(field: &str, s: Option<&str>) -> Result<Option<chrono::NaiveDate>, Problem> {
    s.map(|d| {
        d.parse()
            .map_err(|_| invalid(format!("{field} is a date, YYYY-MM-DD; got {d:?}")))
    })
    .transpose()
}

pub async fn pdsa_register(
    State(app): State<App>,
    Ids(network_id): Ids<Uuid>,
    Params(q): Params<RegisterParams>,
) -> Result<Response, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    let format = q.format.as_deref().unwrap_or("json");
    let most = match format {
        "json" => REGISTER_ROWS_MAX,
        "csv" => REGISTER_CSV_ROWS_MAX,
        _ => return Err(invalid(format!("format is json or csv; got {format:?}"))),
    };
    let limit = match q.limit {
        Some(n) if !(1..=most).contains(&n) => {
            return Err(Problem::new(
                ProblemKind::InvalidLimit,
                format!("limit is {n}; it must be 1 to {most} for {format}"),
            ))
        }
        Some(n) => n,
        None if format == "csv" => most,
        None => REGISTER_ROWS_DEFAULT,
    };
    let query = RegisterQuery {
        change_idea_id: q.change_idea_id,
        driver_id: q.driver_id,
        program_id: q.program_id,
        ecosystem_id: q.ecosystem_id,
        phase: variant(
            "phase",
            q.phase.as_deref(),
            "planned, doing, studying, acted, abandoned",
        )?,
        decision: variant("decision", q.decision.as_deref(), "adopt, adapt, abandon")?,
        overdue: q.overdue.unwrap_or(false),
        from: date("from", q.from.as_deref())?,
        until: date("until", q.until.as_deref())?,
        sort: variant(
            "sort",
            q.sort.as_deref(),
            "newest, oldest, program, title, phase",
        )?
        .unwrap_or_default(),
        offset: q.offset.unwrap_or(0),
        limit,
    };
    let register = app
        .read_models()
        .pdsa_register(network_id, &query, as_of)
        .await?;
    Ok(match format {
        "csv" => {
            let mut res = text("text/csv; charset=utf-8", register.csv());
            res.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                header::HeaderValue::from_static("attachment; filename=\"pdsa-register.csv\""),
            );
            res
        }
        _ => Json(register).into_response(),
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    /// A global position or an RFC 3339 time (the ledger as it stood then), or a day YYYY-MM-DD
    /// (the work as it stood at the end of that day).
    #[schemars(regex(pattern = r"^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$"))]
    as_of: Option<String>,
}

pub async fn pdsa_board(
    State(app): State<App>,
    Ids(program_id): Ids<Uuid>,
    Params(q): Params<AsOfParams>,
) -> Result<Json<PdsaBoardView>, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    Ok(Json(app.read_models().pdsa_board(program_id, as_of).await?))
}

pub async fn standards_matrix(
    State(app): State<App>,
    Ids(network_id): Ids<Uuid>,
    Params(q): Params<AsOfParams>,
) -> Result<Json<StandardsMatrix>, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    Ok(Json(
        app.read_models()
            .standards_matrix(network_id, as_of)
            .await?,
    ))
}

/// A program's admissions statement with the code that checks it against the log.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Admissions {
    #[serde(flatten)]
    statement: AdmissionsStatement,
    /// None until the program has assessed itself.
    verification: Option<Verification>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Verification {
    /// `POSITION-HASH`: the log position of the self-assessment the statement rests on and the
    /// start of that event's hash.
    code: String,
    /// Where anyone checks the code, with no token.
    check: String,
}

/// Hex digits of an event's hash a verification code carries.
pub(crate) const CODE_HASH_DIGITS: usize = 16;

pub async fn admissions(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Ids(program_id): Ids<Uuid>,
    Params(q): Params<AsOfParams>,
) -> Result<Json<Admissions>, Problem> {
    who.require_admissions(program_id)?;
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    let statement = app.read_models().admissions(program_id, as_of).await?;
    let verification = match statement.rests_on {
        Some(position) => app
            .store()
            .read_positions(&[position])
            .await
            .map_err(nic_app::AppError::from)?
            .first()
            .map(|e| {
                let code = format!(
                    "{position}-{}",
                    &e.hash[..CODE_HASH_DIGITS.min(e.hash.len())]
                );
                Verification {
                    check: format!("/api/v1/verify/{code}"),
                    code,
                }
            }),
        None => None,
    };
    Ok(Json(Admissions {
        statement,
        verification,
    }))
}

/// What a verification code proves.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Verified {
    valid: bool,
    code: String,
    /// When the self-assessment the statement rests on was recorded (a valid code only).
    recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    detail: String,
}

/// `GET /api/v1/verify/{code}`: whether the self-assessment a statement's code names is in the log
/// as it was recorded (its content matches its hash, and so does every event of its stream before
/// it). Public: it says nothing of any other event.
pub async fn verify(
    State(app): State<App>,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Result<Json<Verified>, Problem> {
    let parsed = code.split_once('-').and_then(|(p, h)| {
        let ok = h.len() >= CODE_HASH_DIGITS
            && h.len() <= 64
            && h.bytes().all(|b| b.is_ascii_hexdigit());
        Some((p.parse::<u64>().ok()?, h.to_ascii_lowercase())).filter(|_| ok)
    });
    let Some((position, prefix)) = parsed else {
        return Err(invalid(format!(
            "a verification code is POSITION-HASH, the hash at least {CODE_HASH_DIGITS} hex digits; got {code:?}"
        )));
    };
    let proof = nic_store::verify_event(app.stored().as_ref(), position)
        .await
        .map_err(nic_app::AppError::from)?;
    let answer = |valid: bool, recorded_at, detail: &str| {
        Json(Verified {
            valid,
            code: code.clone(),
            recorded_at,
            detail: detail.to_string(),
        })
    };
    let Some(proof) = proof.filter(|p| p.event.event_type == "StandardSelfAssessed") else {
        return Ok(answer(
            false,
            None,
            "No statement rests on this code: the log holds no self-assessment at that position.",
        ));
    };
    if !proof.event.hash.starts_with(&prefix) {
        return Ok(answer(false, None, "The code does not match the self-assessment at that position: the statement was altered, or the code mistyped."));
    }
    if proof.first_break.is_some() {
        return Ok(answer(false, None, "The self-assessment, or an earlier event of its program, no longer matches its hash: the log was altered after it was recorded."));
    }
    Ok(answer(
        true,
        Some(proof.event.recorded_at),
        "The log holds this self-assessment as it was recorded: its content matches its hash, and so does every earlier event of its program.",
    ))
}

pub async fn portfolio(
    State(app): State<App>,
    Ids(program_id): Ids<Uuid>,
    Params(q): Params<AsOfParams>,
) -> Result<Json<PortfolioView>, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    Ok(Json(app.read_models().portfolio(program_id, as_of).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketParams {
    /// A global position or an RFC 3339 time (the ledger as it stood then), or a day YYYY-MM-DD
    /// (the work as it stood at the end of that day).
    #[schemars(regex(pattern = r"^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T.+)?)$"))]
    as_of: Option<String>,
    /// `json` (the default) or `csv`.
    #[schemars(extend("enum" = ["json", "csv"]))]
    format: Option<String>,
}

/// A program's evidence packet as one JSON document or one CSV table, an attachment either way.
pub async fn evidence_packet(
    State(app): State<App>,
    Ids(program_id): Ids<Uuid>,
    Params(q): Params<PacketParams>,
) -> Result<Response, Problem> {
    let as_of = as_of_opt("as_of", q.as_of.as_deref())?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(invalid(format!("format is json or csv, not {other:?}"))),
    };
    let portfolio = app.read_models().portfolio(program_id, as_of).await?;
    let measures: Vec<Uuid> = match portfolio.network_id {
        Some(network) => app
            .network_measures(network)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect(),
        None => Vec::new(),
    };
    let packet = app
        .read_models()
        .evidence_packet(program_id, &measures, as_of)
        .await?;
    let name: String = packet
        .program_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let disposition = format!(
        "attachment; filename=\"evidence-packet-{name}.{}\"",
        if csv { "csv" } else { "json" }
    );
    Ok(if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            packet.csv(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_DISPOSITION, disposition)], Json(packet)).into_response()
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub async fn status(
    State(app): State<App>,
    Params(NoParams {}): Params<NoParams>,
) -> Result<Json<Status>, Problem> {
    Ok(Json(app.read_models().status().await?))
}

/// `POST /api/v1/projections/rebuild`: starts a rebuild in a task of the server and answers 202
/// with where to watch it; 409 while one runs.
pub async fn rebuild(State(app): State<App>) -> Result<Response, Problem> {
    app.read_models().start_rebuild()?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, "/api/v1/projections")],
        Json(serde_json::json!({
            "status": "rebuilding",
            "progress": "/api/v1/projections",
        })),
    )
        .into_response())
}
