//! The HTTP edge of NIC Ledger over the application layer (`nic_app::App`): the route table
//! (`routes`, with each route's access), extractors that parse input once (`extract`), `Problem`
//! as the one place any error becomes RFC 9457 problem details (`problem`), the one handler of
//! every command (`commands`), the reads (`reads`) and read models (`models`), server-sent events
//! (`live`), the request middleware and `/metrics` (`metrics`), the OpenAPI document (`openapi`)
//! the dashboard's page and assets (`dashboard`), personal data (`privacy`) and the
//! access tokens, for admins (`tokens`). `router(app)` is the whole API, to drive in
//! process or to `serve` over a socket with the edge's timeouts and connection limit.

pub mod commands;
pub mod dashboard;
pub mod extract;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod privacy;
pub mod problem;
pub mod reads;
pub mod routes;
pub mod serve;
pub mod tokens;

pub use problem::{Problem, ProblemKind};
pub use routes::router;
pub use serve::{serve, Edge};
