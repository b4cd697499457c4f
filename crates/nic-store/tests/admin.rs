//! `Admin`'s checkpoints and leases on both backends: a lease has one holder until it expires or is
//! released; checkpoints are saved only by the lease's holder, never back to an earlier position,
//! never over a newer generation; a replacement makes a new generation. States larger than a part
//! round-trip whole, the parts of older saves are deleted, and the 0004 migration keeps the
//! checkpoints saved before it.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres).

use std::time::Duration;

use common::fresh_database;
use nic_store::admin::Admin;

mod common;

async fn fresh(postgres: bool) -> String {
    let url = fresh_database(postgres).await;
    migrate(&url).await;
    url
}

/// Applies every migration of the store at `url`.
async fn migrate(url: &str) {
    nic_store::open(url).await.unwrap().migrate().await.unwrap();
}

fn states(tag: &str) -> Vec<(&'static str, String)> {
    vec![
        ("a", format!("{{\"a\":\"{tag}\"}}")),
        ("b", format!("[\"{tag}\"]")),
    ]
}

async fn leases_have_one_holder(postgres: bool) {
    let admin = Admin::connect(&fresh(postgres).await).await.unwrap();
    let short = Duration::from_millis(300);
    assert!(admin.try_lease("p", "one", short).await.unwrap());
    assert!(!admin.try_lease("p", "two", short).await.unwrap());
    assert!(admin.try_lease("p", "one", short).await.unwrap(), "renewed");
    assert_eq!(admin.lease("p").await.unwrap().unwrap().holder, "one");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(admin.try_lease("p", "two", short).await.unwrap(), "expired");
    assert!(!admin.try_lease("p", "one", short).await.unwrap());
    admin.release_lease("p", "one").await.unwrap();
    assert_eq!(admin.lease("p").await.unwrap().unwrap().holder, "two");
    admin.release_lease("p", "two").await.unwrap();
    assert!(admin.lease("p").await.unwrap().is_none());
    assert!(
        admin.try_lease("p", "one", short).await.unwrap(),
        "released"
    );
}

async fn checkpoints_are_fenced(postgres: bool) {
    let admin = Admin::connect(&fresh(postgres).await).await.unwrap();
    let long = Duration::from_secs(60);
    assert_eq!(admin.checkpoint_generation().await.unwrap(), None);
    assert!(!admin
        .save_checkpoints("p", "one", 0, 5, states("x"))
        .await
        .unwrap());
    assert!(
        admin.load_checkpoints().await.unwrap().is_empty(),
        "not the holder"
    );
    assert!(admin.try_lease("p", "one", long).await.unwrap());
    assert!(admin
        .save_checkpoints("p", "one", 0, 5, states("five"))
        .await
        .unwrap());
    assert!(!admin
        .save_checkpoints("p", "one", 0, 4, states("four"))
        .await
        .unwrap());
    let saved = admin.load_checkpoints().await.unwrap();
    assert_eq!(saved.len(), 2);
    assert!(saved
        .iter()
        .all(|c| c.position == 5 && c.generation == 0 && c.state.contains("five")));
    assert_eq!(admin.checkpoint_heads().await.unwrap()[0].state, "");

    assert_eq!(
        admin
            .replace_checkpoints(3, states("rebuilt"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(admin.checkpoint_generation().await.unwrap(), Some(1));
    assert!(
        !admin
            .save_checkpoints("p", "one", 0, 9, states("stale"))
            .await
            .unwrap(),
        "an older generation writes nothing"
    );
    let saved = admin.load_checkpoint("a").await.unwrap().unwrap();
    assert_eq!((saved.generation, saved.position), (1, 3));
    assert!(saved.state.contains("rebuilt"));
    assert!(admin
        .save_checkpoints("p", "one", 1, 9, states("nine"))
        .await
        .unwrap());
    assert_eq!(
        admin.load_checkpoint("b").await.unwrap().unwrap().position,
        9
    );
}

#[tokio::test]
async fn leases_on_sqlite() {
    leases_have_one_holder(false).await;
}

#[tokio::test]
async fn leases_on_postgres() {
    leases_have_one_holder(true).await;
}

#[tokio::test]
async fn checkpoints_on_sqlite() {
    checkpoints_are_fenced(false).await;
}

#[tokio::test]
async fn checkpoints_on_postgres() {
    checkpoints_are_fenced(true).await;
}

/// How many checkpoint parts the database holds.
async fn parts_stored(url: &str) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM projection_checkpoint_parts";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(SQL).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(SQL).fetch_one(&pool).await.unwrap()
    }
}

/// How many distinct parts these states are cut into.
fn distinct_parts(states: &[(&str, String)]) -> usize {
    let parts: std::collections::BTreeSet<&str> = states
        .iter()
        .flat_map(|(_, state)| nic_store::admin::split_parts(state))
        .collect();
    parts.len()
}

/// A state of `entries` varied entries, like a timeline's, with entry `edited` reworded.
fn timeline(entries: usize, edited: Option<usize>) -> String {
    let entries: Vec<String> = (0..entries)
        .map(|i| {
            let title = if Some(i) == edited {
                "Reworded after the study".to_string()
            } else {
                format!(
                    "Huddle try {i}: {:x}",
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                )
            };
            format!("{{\"position\":{i},\"sentence\":\"{title}\"}}")
        })
        .collect();
    format!("[{}]", entries.join(","))
}

async fn large_states_round_trip_in_parts(postgres: bool) {
    use nic_store::limits::CHECKPOINT_PART_BYTES_MAX;
    let url = fresh(postgres).await;
    let admin = Admin::connect(&url)
        .await
        .unwrap()
        .keep_unnamed_parts(Duration::ZERO);
    assert!(admin
        .try_lease("p", "one", Duration::from_secs(60))
        .await
        .unwrap());
    // A state of several parts, with multi-byte characters everywhere a cut may fall.
    let mut multibyte = String::from("[\"");
    while multibyte.len() < CHECKPOINT_PART_BYTES_MAX * 5 / 2 {
        multibyte.push_str("é€😀 huddle ");
    }
    multibyte.push_str("\"]");
    let first = vec![("a", timeline(40_000, None)), ("b", multibyte)];
    assert!(
        distinct_parts(&first[..1]) > 10,
        "the state takes many parts"
    );
    assert!(admin
        .save_checkpoints("p", "one", 0, 5, first.clone())
        .await
        .unwrap());
    let saved = admin.load_checkpoints().await.unwrap();
    assert_eq!(saved.len(), 2);
    assert_eq!(
        saved[0].state, first[0].1,
        "the large state reads back whole"
    );
    assert_eq!(
        saved[1].state, first[1].1,
        "multi-byte text reads back whole"
    );
    let stored = parts_stored(&url).await;
    assert_eq!(stored, distinct_parts(&first) as i64);

    // One entry reworded in the middle, a few appended: only the parts around them are new, and
    // the parts only the first save named are deleted.
    let second = vec![("a", timeline(40_100, Some(20_000))), ("b", String::new())];
    assert!(admin
        .save_checkpoints("p", "one", 0, 8, second.clone())
        .await
        .unwrap());
    let saved = admin.load_checkpoints().await.unwrap();
    assert_eq!((saved[0].position, &saved[0].state), (8, &second[0].1));
    assert_eq!(saved[1].state, "", "an empty state reads back empty");
    assert_eq!(parts_stored(&url).await, distinct_parts(&second) as i64);
    let shared = {
        let before: std::collections::BTreeSet<&str> = nic_store::admin::split_parts(&first[0].1)
            .into_iter()
            .collect();
        nic_store::admin::split_parts(&second[0].1)
            .into_iter()
            .filter(|p| before.contains(p))
            .count()
    };
    assert!(
        shared + 4 >= distinct_parts(&second[..1]),
        "an edit changes only the parts around it ({shared} of {} kept)",
        distinct_parts(&second[..1])
    );

    // A refused save (an earlier position) changes no checkpoint, and its parts do not stay.
    assert!(!admin
        .save_checkpoints("p", "one", 0, 6, first.clone())
        .await
        .unwrap());
    assert_eq!(
        admin.load_checkpoints().await.unwrap()[0].state,
        second[0].1
    );
    assert_eq!(parts_stored(&url).await, distinct_parts(&second) as i64);

    // A rebuild's new generation replaces them too.
    assert_eq!(
        admin.replace_checkpoints(2, first.clone()).await.unwrap(),
        1
    );
    let saved = admin.load_checkpoints().await.unwrap();
    assert_eq!((saved[0].generation, &saved[0].state), (1, &first[0].1));
    assert_eq!(parts_stored(&url).await, distinct_parts(&first) as i64);

    // Parts no checkpoint names yet are kept for a while: a save in progress keeps its parts.
    let keeping = Admin::connect(&url).await.unwrap();
    assert!(
        !keeping
            .save_checkpoints("p", "one", 0, 9, second.clone())
            .await
            .unwrap(),
        "an older generation writes nothing"
    );
    assert!(parts_stored(&url).await > distinct_parts(&first) as i64);
}

#[tokio::test]
async fn large_states_on_sqlite() {
    large_states_round_trip_in_parts(false).await;
}

#[tokio::test]
async fn large_states_on_postgres() {
    large_states_round_trip_in_parts(true).await;
}

/// A checkpoint saved whole (0003) is its one part after 0004, and saves go on from it.
async fn checkpoints_survive_the_parts_migration(postgres: bool) {
    let url = fresh_database(postgres).await;
    let (folder, insert) = if postgres {
        ("postgres", "INSERT INTO projection_checkpoints (name, generation, position, state, saved_at) VALUES ('a', 2, 7, '{\"old\":true}', now())")
    } else {
        ("sqlite", "INSERT INTO projection_checkpoints (name, generation, position, state, saved_at) VALUES ('a', 2, 7, '{\"old\":true}', 0)")
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(folder);
    let mut up_to_0003 = sqlx::migrate::Migrator::new(dir).await.unwrap();
    up_to_0003.migrations = up_to_0003
        .migrations
        .iter()
        .filter(|m| m.version <= 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    if postgres {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        up_to_0003.run(&pool).await.unwrap();
        sqlx::query(insert).execute(&pool).await.unwrap();
    } else {
        let options = url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        up_to_0003.run(&pool).await.unwrap();
        sqlx::query(insert).execute(&pool).await.unwrap();
    }
    migrate(&url).await;
    let admin = Admin::connect(&url)
        .await
        .unwrap()
        .keep_unnamed_parts(Duration::ZERO);
    let saved = admin.load_checkpoints().await.unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (
            saved[0].generation,
            saved[0].position,
            saved[0].state.as_str()
        ),
        (2, 7, "{\"old\":true}")
    );
    assert!(admin
        .try_lease("p", "one", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(admin
        .save_checkpoints("p", "one", 2, 9, vec![("a", "{}".to_string())])
        .await
        .unwrap());
    assert_eq!(admin.load_checkpoints().await.unwrap()[0].state, "{}");
    assert_eq!(parts_stored(&url).await, 1, "the migrated part is deleted");
}

#[tokio::test]
async fn migrated_checkpoints_on_sqlite() {
    checkpoints_survive_the_parts_migration(false).await;
}

#[tokio::test]
async fn migrated_checkpoints_on_postgres() {
    checkpoints_survive_the_parts_migration(true).await;
}
