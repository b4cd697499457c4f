//! Every route of the API in one table (`routes`): method, path, who may call it, handler and what
//! the OpenAPI document says of it. The router, the access check (`authenticate`) and the document
//! are all built from this table, so they cannot drift apart. A command's row names its body type:
//! the one command handler (`commands::handle`) runs it.

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{middleware, Extension, Router};
use nic_app::{Access, App};
use nic_domain::cycle::{AbandonCycle, CorrectCycle, CycleState, PlanCycle, StartCycle};
use nic_domain::measure::{
    ChooseControlChart, CorrectDataPoint, DefineMeasure, ExcludeDataPoint, FreezeBaseline,
    MeasureState, RecordDataPoint, StartPhase,
};
use nic_domain::network::{
    AcceptChangeIdea, AddDriver, AddEcosystem, ChangeStage, CharterNetwork, DeclineChangeIdea,
    DefineStandard, LinkNodes, NetworkState, ProposeChangeIdea, RecordRootCause, RetireNode,
    RewordNode, SetChartSettings, SetRetention, StateAim, UnlinkNodes,
};
use nic_domain::program::{EnrollProgram, ProgramState, SelfAssess, WithdrawProgram};
use nic_domain::synthesis::{SynthesisState, SynthesizeLearning};
use nic_events::catalog::{Act, Do, Study};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::commands::handle;
use crate::limits::REQUEST_BODY_BYTES_MAX;
use crate::live::{self, Live};
use crate::problem::{Problem, ProblemKind};
use crate::{dashboard, metrics, models as m, openapi, reads as api};
use std::collections::HashMap;
use std::sync::Arc;

/// The schema of a body or response, registered in the document's components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;
/// A query string's fields, as one inline object schema (each property a query parameter).
pub type QueryFn = fn() -> Schema;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn query<T: JsonSchema>() -> Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
}

/// What a route answers on success.
#[derive(Clone, Copy)]
pub enum Answer {
    /// A command: `CommandResult`, 201 when it creates a resource or part, else 200.
    Command { creates: bool },
    /// A read: JSON with this schema.
    Read(SchemaFn),
    /// A read: JSON with this schema, or (as its `format=` asks) one of these media types,
    /// comma-separated.
    ReadOr(SchemaFn, &'static str),
    /// Work started in the background (202, JSON saying where to watch it); 409 while it runs.
    Accepted(&'static str),
    /// An action with a JSON body that is not a command of the catalog (an erasure, a
    /// redaction): its status, what it means, and its JSON answer's schema.
    Action(&'static str, &'static str, SchemaFn),
    /// Plain text or a document described elsewhere.
    Other(&'static str),
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub body: Option<SchemaFn>,
    pub query: Option<QueryFn>,
    pub answer: Answer,
    /// Who may call it (checked by `authenticate`).
    pub access: Access,
    pub handler: fn() -> MethodRouter<App>,
}

macro_rules! command {
    ($access:ident, $path:literal, $tag:literal, $summary:literal, $body:ty, $creates:literal) => {
        Route {
            access: Access::$access,
            method: Method::POST,
            path: $path,
            tag: $tag,
            summary: $summary,
            body: Some(schema::<$body>),
            query: None,
            answer: Answer::Command { creates: $creates },
            handler: || on(MethodFilter::POST, handle::<$body>),
        }
    };
}

macro_rules! read {
    ($access:ident, $path:literal, $tag:literal, $summary:literal, $answer:expr, $h:expr) => {
        read!(@ $access, $path, $tag, $summary, $answer, $h, None)
    };
    ($access:ident, $path:literal, $tag:literal, $summary:literal, $answer:expr, $h:expr, $q:ty) => {
        read!(@ $access, $path, $tag, $summary, $answer, $h, Some(query::<$q>))
    };
    (@ $access:ident, $path:literal, $tag:literal, $summary:literal, $answer:expr, $h:expr, $query:expr) => {
        Route {
            access: Access::$access,
            method: Method::GET,
            path: $path,
            tag: $tag,
            summary: $summary,
            body: None,
            query: $query,
            answer: $answer,
            handler: || on(MethodFilter::GET, $h),
        }
    };
}

/// Every route of the service.
pub fn routes() -> Vec<Route> {
    vec![
        // The dashboard: a page and its assets, embedded in the binary. They hold no data; every
        // read the page makes needs a token.
        read!(Public, "/", "dashboard", "The dashboard (HTML): overview, driver diagram, learning timeline, run charts, PDSA boards and portfolios, live and as of any date. It asks for a token once and reads the API with it.", Answer::Other("text/html"), dashboard::index),
        read!(Public, "/assets/{file}", "dashboard", "The dashboard's embedded assets (app.js, app.css, icon.svg); named with ?v=<content hash> they are cached for a year, else revalidated by ETag.", Answer::Other("text/javascript, text/css, image/svg+xml"), dashboard::asset),
        read!(Public, "/healthz", "service", "The process is up.", Answer::Other("text/plain"), || async { "ok" }),
        read!(Public, "/readyz", "service", "Ready to serve: the database answers, its migrations are applied and the read models are caught up (503 with the reason otherwise).", Answer::Other("text/plain"), api::ready),
        read!(View, "/metrics", "service", "Prometheus metrics (text format).", Answer::Other("text/plain"), metrics::serve),
        read!(Public, "/api/v1/openapi.json", "service", "This document.", Answer::Other("application/json"), openapi::serve),
        // The log.
        read!(Log, "/api/v1/events", "log", "The global log in order, one page after a position (the replay feed); filter by category and type.", Answer::Read(schema::<nic_app::reads::Page>), api::events, api::EventsQuery),
        read!(Log, "/api/v1/streams/{stream_id}", "log", "One stream's events from a version; ETag is its version.", Answer::Read(schema::<Vec<nic_events::RecordedEvent>>), api::stream, api::StreamQuery),
        read!(Log, "/api/v1/export", "log", "The whole log up to its head when asked, streamed as NDJSON (application/x-ndjson), an attachment: ?format=ndjson (default; the recorded events exactly as stored, which `nic-ledger import` reads back) or ?format=cloudevents (one structured-mode CloudEvents 1.0 JSON event per line).", Answer::Other("application/x-ndjson"), api::export, api::ExportParams),
        // Networks and the driver diagram.
        read!(Token, "/api/v1/me", "service", "Who the token is: its name, its role and the programs it may write for.", Answer::Read(schema::<api::Me>), api::me),
        read!(View, "/api/v1/networks", "networks", "The networks.", Answer::Read(schema::<api::Listing>), api::networks),
        command!(Hub, "/api/v1/networks", "networks", "Charter a network.", CharterNetwork, true),
        read!(View, "/api/v1/networks/{network_id}", "networks", "A network: aim, ecosystems, driver diagram, standards, root causes.", Answer::Read(schema::<NetworkState>), api::network),
        command!(Hub, "/api/v1/networks/{network_id}/aim", "networks", "State the aim, or revise it (with a reason).", StateAim, false),
        command!(Hub, "/api/v1/networks/{network_id}/chart-settings", "networks", "Set the reporting deadline (days after a period ends; until then a network point missing a program's report is provisional) and the control-chart rule set.", SetChartSettings, false),
        command!(Hub, "/api/v1/networks/{network_id}/retention", "personal data", "Set how many days after a program's withdrawal its personal free text is erased (null: kept until erased by hand); the server erases it hourly, and POST /api/v1/retention/run with dry_run: true lists what would go.", SetRetention, false),
        command!(Hub, "/api/v1/networks/{network_id}/ecosystems", "networks", "Add a regional ecosystem.", AddEcosystem, true),
        command!(Hub, "/api/v1/networks/{network_id}/drivers", "driver diagram", "Add a primary or secondary driver.", AddDriver, true),
        command!(Program, "/api/v1/networks/{network_id}/change-ideas", "driver diagram", "Propose a change idea (by a member program or the hub).", ProposeChangeIdea, true),
        command!(Hub, "/api/v1/networks/{network_id}/change-ideas/{node_id}/accept", "driver diagram", "The hub accepts a proposed change idea.", AcceptChangeIdea, false),
        command!(Hub, "/api/v1/networks/{network_id}/change-ideas/{node_id}/decline", "driver diagram", "The hub declines a proposed change idea.", DeclineChangeIdea, false),
        command!(Hub, "/api/v1/networks/{network_id}/change-ideas/{node_id}/stage", "driver diagram", "Move an accepted change idea to another stage.", ChangeStage, false),
        command!(Hub, "/api/v1/networks/{network_id}/nodes/{node_id}/reword", "driver diagram", "Reword a driver or change idea.", RewordNode, false),
        command!(Hub, "/api/v1/networks/{network_id}/nodes/{node_id}/retire", "driver diagram", "Retire a driver or change idea (it stays on record).", RetireNode, false),
        command!(Hub, "/api/v1/networks/{network_id}/links", "driver diagram", "Link a node to a node it serves, or change the link's strength.", LinkNodes, false),
        command!(Hub, "/api/v1/networks/{network_id}/links/remove", "driver diagram", "Remove a link.", UnlinkNodes, false),
        command!(Hub, "/api/v1/networks/{network_id}/standards", "standards", "Define a quality standard.", DefineStandard, true),
        command!(Hub, "/api/v1/networks/{network_id}/root-causes", "networks", "Record a cause in the root cause analysis (fishbone).", RecordRootCause, true),
        // Programs.
        read!(View, "/api/v1/networks/{network_id}/programs", "programs", "The network's programs.", Answer::Read(schema::<api::Listing>), api::network_programs),
        command!(Hub, "/api/v1/networks/{network_id}/programs", "programs", "Enrol a program in an ecosystem of the network.", EnrollProgram, true),
        read!(View, "/api/v1/programs/{program_id}", "programs", "A program and its self-assessments.", Answer::Read(schema::<ProgramState>), api::program),
        command!(Hub, "/api/v1/programs/{program_id}/withdraw", "programs", "Withdraw a program from the network.", WithdrawProgram, false),
        command!(Program, "/api/v1/programs/{program_id}/self-assessments", "standards", "Record a self-assessment against a quality standard.", SelfAssess, true),
        // Measures.
        read!(View, "/api/v1/networks/{network_id}/measures", "measures", "The network's measures.", Answer::Read(schema::<api::Listing>), api::network_measures),
        command!(Hub, "/api/v1/networks/{network_id}/measures", "measures", "Define a measure.", DefineMeasure, true),
        read!(View, "/api/v1/measures/{measure_id}", "measures", "A measure, its data points and run-chart settings.", Answer::Read(schema::<MeasureState>), api::measure),
        command!(Program, "/api/v1/measures/{measure_id}/data-points", "measures", "Record a program's data point for a period.", RecordDataPoint, true),
        command!(Program, "/api/v1/measures/{measure_id}/data-points/{point_id}/correct", "measures", "Correct a data point, saying what was wrong.", CorrectDataPoint, false),
        command!(Program, "/api/v1/measures/{measure_id}/data-points/{point_id}/exclude", "measures", "Exclude a data point from run charts, with the reason.", ExcludeDataPoint, false),
        command!(Hub, "/api/v1/measures/{measure_id}/baseline", "measures", "Freeze the run chart's median on the first points.", FreezeBaseline, false),
        command!(Hub, "/api/v1/measures/{measure_id}/phases", "measures", "Start a new run-chart phase after a deliberate change.", StartPhase, false),
        command!(Hub, "/api/v1/measures/{measure_id}/control-chart", "measures", "Draw the measure's control chart as another type than its data type's (p_prime or u_prime for large subgroups).", ChooseControlChart, false),
        // PDSA cycles.
        read!(View, "/api/v1/programs/{program_id}/pdsa-cycles", "pdsa", "The program's PDSA cycles.", Answer::Read(schema::<api::Listing>), api::program_cycles),
        command!(Program, "/api/v1/programs/{program_id}/pdsa-cycles", "pdsa", "Plan a PDSA cycle (the first of a ramp, or the next after previous_cycle_id).", PlanCycle, true),
        read!(View, "/api/v1/pdsa-cycles/{cycle_id}", "pdsa", "A PDSA cycle, its phase and what it lacks.", Answer::Read(schema::<CycleState>), api::cycle),
        command!(Program, "/api/v1/pdsa-cycles/{cycle_id}/start", "pdsa", "Start the test (Do).", StartCycle, false),
        command!(Program, "/api/v1/pdsa-cycles/{cycle_id}/do", "pdsa", "Record what happened (Do).", Do, false),
        command!(Program, "/api/v1/pdsa-cycles/{cycle_id}/study", "pdsa", "Record results against predictions (Study).", Study, false),
        command!(Program, "/api/v1/pdsa-cycles/{cycle_id}/act", "pdsa", "Adopt, adapt or abandon (Act); the cycle closes.", Act, false),
        command!(Program, "/api/v1/pdsa-cycles/{cycle_id}/abandon", "pdsa", "Stop the cycle before acting on it.", AbandonCycle, false),
        command!(Program, "/api/v1/pdsa-cycles/{cycle_id}/corrections", "pdsa", "Correct a section of a closed cycle, saying what was wrong.", CorrectCycle, false),
        // Syntheses.
        read!(View, "/api/v1/networks/{network_id}/syntheses", "syntheses", "The network's syntheses.", Answer::Read(schema::<api::Listing>), api::network_syntheses),
        command!(Hub, "/api/v1/networks/{network_id}/syntheses", "syntheses", "Publish a synthesis of what the network learned.", SynthesizeLearning, true),
        read!(View, "/api/v1/syntheses/{synthesis_id}", "syntheses", "A synthesis.", Answer::Read(schema::<SynthesisState>), api::synthesis),
        // Read models, kept live from the log. Every one takes ?as_of=POSITION or ?as_of=RFC3339-TIME
        // (the ledger as it stood then) or ?as_of=YYYY-MM-DD (the network's work as it stood at the
        // end of that day, including what was recorded later).
        read!(View, "/api/v1/networks/{network_id}/driver-diagram", "read models", "The driver diagram with each change idea's evidence (cycles by phase, programs, decisions, synthesis, measures and their latest signal); ?format=mermaid or ?format=dot for a drawing; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::ReadOr(schema::<nic_projections::driver_diagram::DriverDiagramView>, "text/plain"), m::driver_diagram, m::DiagramParams),
        read!(View, "/api/v1/networks/{network_id}/driver-diagram/diff", "read models", "What changed in the driver diagram between ?from= and ?to= (positions or RFC 3339 times; to defaults to now): aim, nodes added, reworded, retired, restaged, links.", Answer::Read(schema::<nic_projections::driver_diagram::DiagramDiff>), m::driver_diagram_diff, m::DiffParams),
        read!(View, "/api/v1/timeline", "read models", "The learning timeline: one readable sentence per meaningful event; filters network_id, program_id, ecosystem_id, driver_id, change_idea_id, kind (comma-separated), from, until; pages with after= (next_after) and limit=; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::Read(schema::<nic_projections::timeline::TimelinePage>), m::timeline, m::TimelineParams),
        read!(View, "/api/v1/measures/{measure_id}/run-chart", "read models", "A measure's run chart: network-wide (each period with how many programs reported it, provisional until all due have or the reporting deadline passed), or one program's with ?program_id=; median, phases, run-chart signals, the control chart (?chart= p, p_prime, u, u_prime, c or i instead of the measure's own; ?rules= shewhart, making_data_count or health_care_data_guide) and the PDSA cycles in each period; ?format=csv for the numbers with limits and flags; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::ReadOr(schema::<nic_projections::run_charts::RunChartView>, "text/csv"), m::run_chart, m::RunChartParams),
        read!(View, "/api/v1/networks/{network_id}/pdsa-register", "read models", "The PDSA register: every cycle of the network with its program and ecosystem, filtered by change_idea_id, driver_id (cycles naming it or testing a change idea that serves it), program_id, ecosystem_id, phase, decision (adopt, adapt, abandon), overdue=true (past its planned end, not done), from and until (planned dates overlapping, YYYY-MM-DD); sort= newest, oldest, program, title or phase; offset= and limit= (50 by default, at most 500); ?format=csv for every cycle that passes the filters with the worksheet's fields, one row per cycle (at most 20,000); ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::ReadOr(schema::<nic_projections::pdsa_board::Register>, "text/csv"), m::pdsa_register, m::RegisterParams),
        read!(View, "/api/v1/programs/{program_id}/pdsa-board", "read models", "A program's PDSA cycles by phase and by ramp, with what each cycle lacks; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::Read(schema::<nic_projections::pdsa_board::PdsaBoardView>), m::pdsa_board, m::AsOfParams),
        read!(View, "/api/v1/networks/{network_id}/standards-matrix", "read models", "Each program of the network against each quality standard: its latest self-rating with the scale's words (1 not yet, 2 developing, 3 meets the standard, 4 exemplary), the rating before and the change since, when it was assessed and how many days ago; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::Read(schema::<nic_projections::portfolio::StandardsMatrix>), m::standards_matrix, m::AsOfParams),
        read!(Admissions, "/api/v1/programs/{program_id}/admissions", "standards", "A program's admissions statement, for admissions offices: which quality standards it meets (a latest self-rating of 3, meets the standard, or 4, exemplary) and since when, with a verification code (the log position of the self-assessment it rests on and the start of that event's hash) that anyone checks at /api/v1/verify/{code}; admins and admissions tokens granted the program; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::Read(schema::<m::Admissions>), m::admissions, m::AsOfParams),
        read!(Public, "/api/v1/verify/{code}", "standards", "Checks a statement's verification code against the log, with no token: valid when the self-assessment it names is in the log as it was recorded (its content matches its hash, and so does every earlier event of its program).", Answer::Read(schema::<m::Verified>), m::verify),
        read!(View, "/api/v1/programs/{program_id}/evidence-packet", "read models", "A program's evidence packet, for accreditation: its self-assessments over time with the evidence each cites, its PDSA cycles with their decisions, and its own run chart of each measure it reports with the latest value and signal; ?format=json (default) or ?format=csv (one table: a row per rating, cycle and measure), an attachment; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::ReadOr(schema::<nic_app::read_models::EvidencePacket>, "text/csv"), m::evidence_packet, m::PacketParams),
        read!(View, "/api/v1/programs/{program_id}/portfolio", "read models", "A program's self-ratings against each quality standard over time, with their evidence; ?as_of (a position or time: the ledger as it stood then; a day YYYY-MM-DD: the work as it stood then).", Answer::Read(schema::<nic_projections::portfolio::PortfolioView>), m::portfolio, m::AsOfParams),
        read!(View, "/api/v1/projections", "read models", "How far each read model has followed the log: its position, the head position and the lag between them; the generation and the saved checkpoint; whether this process runs them (holds their lease) and who does; the progress of a rebuild.", Answer::Read(schema::<nic_app::read_models::Status>), m::status, m::NoParams),
        Route {
            access: Access::Rebuild,
            method: Method::POST,
            path: "/api/v1/projections/rebuild",
            tag: "read models",
            summary: "Rebuild the read models from the whole log in the background (202, progress in GET /api/v1/projections; 409 while one runs); reads keep being served meanwhile, and the result is saved as a new generation of checkpoints.",
            body: None,
            query: None,
            answer: Answer::Accepted(
                "The rebuild started; GET /api/v1/projections (the Location) shows its progress.",
            ),
            handler: || on(MethodFilter::POST, m::rebuild),
        },
        // Personal data: erasures, redactions, retention.
        Route {
            access: Access::Hub,
            method: Method::POST,
            path: "/api/v1/erasures",
            tag: "personal data",
            summary: "Erase a subject's personal data (admins): a token holder (its name and everything it wrote; the token is revoked, so not the token making the request: 409), every personal text of a program that contains a name (the name is not recorded), one field, or a withdrawn program's free text. The keys of those sealed fields are destroyed, so they read as [erased] everywhere and as of any time; the erasure is an event (who, when, basis, reference, which keys), never the content. With dry_run: true, lists what would go and erases nothing. 200 with the report.",
            body: Some(schema::<crate::privacy::EraseBody>),
            query: None,
            answer: Answer::Action("200", "What was erased, or with dry_run what would be: fields and events counted, the first fields listed, and what stays.", schema::<nic_app::privacy::ErasureReport>),
            handler: || on(MethodFilter::POST, crate::privacy::erase),
        },
        Route {
            access: Access::Program,
            method: Method::POST,
            path: "/api/v1/redactions",
            tag: "personal data",
            summary: "Replace one personal field written by mistake (its writer or an admin): readers see the replacement from now on, and as of any time; the original's key is destroyed; a redaction event records it. 201.",
            body: Some(schema::<crate::privacy::RedactBody>),
            query: None,
            answer: Answer::Action("201", "The redaction's id (its stream is privacy-<id>).", schema::<crate::privacy::Redacted>),
            handler: || on(MethodFilter::POST, crate::privacy::redact),
        },
        Route {
            access: Access::Hub,
            method: Method::POST,
            path: "/api/v1/retention/run",
            tag: "personal data",
            summary: "Erase the free text of programs withdrawn longer than their network's retention period (admins; the server also does it every hour); with dry_run: true, lists each program and the fields that would go, erasing nothing.",
            body: Some(schema::<crate::privacy::RetentionBody>),
            query: None,
            answer: Answer::Action("200", "Each program the retention reached, with what was (or would be) erased.", schema::<crate::privacy::RetentionRun>),
            handler: || on(MethodFilter::POST, crate::privacy::retention),
        },
        // People: access tokens, for admins.
        read!(Hub, "/api/v1/tokens", "people", "Every access token ever issued, live ones first: id, name, role, programs, revoked (never the token nor its hash).", Answer::Read(schema::<crate::tokens::TokenList>), crate::tokens::list),
        Route {
            access: Access::Hub,
            method: Method::POST,
            path: "/api/v1/tokens",
            tag: "people",
            summary: "Issue an access token to a person (admins): a name unique among live tokens, a role, and for a facilitator or an admissions office its programs. 201 with the token, shown this once (only its SHA-256 is recorded), and its sign-in link's path (/#token=…: the token in the fragment, which no request carries).",
            body: Some(schema::<crate::tokens::IssueBody>),
            query: None,
            answer: Answer::Action("201", "The token's id, name, role and programs, the token itself and its sign-in path.", schema::<crate::tokens::Issued>),
            handler: || on(MethodFilter::POST, crate::tokens::issue),
        },
        Route {
            access: Access::Hub,
            method: Method::POST,
            path: "/api/v1/tokens/{token_id}/revoke",
            tag: "people",
            summary: "Revoke an access token (admins), with the reason: it opens nothing from then on and its live streams end. 404 for an unknown token, 409 once revoked or for the token making the request (another admin token or the CLI revokes it).",
            body: Some(schema::<crate::tokens::RevokeBody>),
            query: None,
            answer: Answer::Action("200", "The token's id, revoked.", schema::<crate::tokens::Revoked>),
            handler: || on(MethodFilter::POST, crate::tokens::revoke),
        },
        // The log, live.
        read!(Log, "/api/v1/live/events", "log", "The global log as server-sent events (id = global position, event = type, data = the recorded event; token records for admins only); filter by category= and type=; resumes after Last-Event-ID or after=; keep-alive comments; a client that falls behind is disconnected and resumes. At most 8 streams per token and 16 per address (429), 64 in all with the last 8 kept for admins (503); a stream lasts at most 30 minutes, then the client resumes.", Answer::Other("text/event-stream"), live::events, live::LiveParams),
        read!(View, "/api/v1/live/timeline", "read models", "The read models, live, as server-sent events for dashboards: each time they move on, one message (id = their position, event = timeline, data = {position, entries}) with the new entries of the learning timeline; ?network_id= for one network's; resumes after Last-Event-ID or after=; the same limits as /api/v1/live/events.", Answer::Other("text/event-stream"), live::timeline, live::TimelineParams),
    ]
}

/// What the access check needs: the application (its token registry) and each route's `Access`.
#[derive(Clone)]
pub struct AuthState {
    app: App,
    access: Arc<HashMap<(Method, &'static str), Access>>,
}

impl AuthState {
    /// The access a route asks; a method the route does not answer reaches the 405 fallback.
    pub fn access(&self, method: &Method, path: &str) -> Access {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.access
            .iter()
            .find(|((m, p), _)| m == method && *p == path)
            .map_or(Access::Public, |(_, a)| *a)
    }
}

/// The access check: finds the route's `Access`, checks the bearer token against it (401 without
/// a valid token, 403 when the role may not), and leaves the `Principal` in the request for the
/// handlers, which record it as each event's actor and check program-scoped writes.
pub async fn authenticate(
    State(state): State<AuthState>,
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
        return Problem::new(
            ProblemKind::Unauthorized,
            "send a token: Authorization: Bearer <token>",
        )
        .into_response();
    };
    let principal = match state.app.tokens().authenticate(&bearer).await {
        Ok(p) => p,
        Err(e) => return Problem::from(e).into_response(),
    };
    let what = format!("{} {}", req.method(), path.unwrap_or_default());
    if let Err(e) = principal.require(access, &what) {
        return Problem::from(e).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The service's router, from `routes()`, over `app`: the live feed, access control, metrics and
/// the body limit around every route.
pub fn router(app: App) -> Router {
    let mut router = Router::new();
    let mut access = HashMap::new();
    for r in routes() {
        access.insert((r.method.clone(), r.path), r.access);
        router = router.route(r.path, (r.handler)());
    }
    let auth = AuthState {
        app: app.clone(),
        access: Arc::new(access),
    };
    let live = Live::new(app.stopping());
    router
        .fallback(|uri: Uri| async move {
            Problem::new(
                ProblemKind::NotFound,
                format!("no route for {}", uri.path()),
            )
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            Problem::new(
                ProblemKind::MethodNotAllowed,
                format!("{} does not answer {method}", uri.path()),
            )
        })
        .layer(middleware::from_fn_with_state(auth, authenticate))
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(Extension(live))
        .with_state(app)
}
