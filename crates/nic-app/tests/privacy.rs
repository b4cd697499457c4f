//! Personal data, in process over the real stores (SQLite and PostgreSQL): a person erased (the
//! token's name and everything the token wrote; the token revoked), and the retention of a
//! withdrawn program's free text, with its dry run, at a time past the network's period; and a key
//! file read back into the database it came from.

mod common;

use chrono::Utc;
use common::{admin, body, id};
use nic_app::command::Write;
use nic_app::privacy::Subject;
use nic_app::{App, AppError};
use nic_domain::cycle::PlanCycle;
use nic_domain::network::{
    AcceptChangeIdea, AddDriver, AddEcosystem, CharterNetwork, ProposeChangeIdea, SetRetention,
};
use nic_domain::program::{EnrollProgram, WithdrawProgram};
use nic_events::catalog::{ErasureBasis, Role};
use nic_events::StreamId;
use serde_json::json;
use uuid::Uuid;

/// A network with two programs and an accepted change idea.
async fn network(app: &App, w: &Write) -> (Uuid, [Uuid; 2], Uuid) {
    let network = id(app
        .execute(body::<CharterNetwork>(json!({"name": "Net"})), (), w)
        .await);
    let eco = id(app
        .execute(
            body::<AddEcosystem>(json!({"name": "Pittsburgh", "region": "PA"})),
            network,
            w,
        )
        .await);
    let mut programs = [Uuid::nil(); 2];
    for (i, p) in programs.iter_mut().enumerate() {
        *p = id(app
            .execute(
                body::<EnrollProgram>(json!({"name": format!("Program {i}"), "ecosystem_id": eco})),
                network,
                w,
            )
            .await);
    }
    let driver = id(app
        .execute(
            body::<AddDriver>(json!({"kind": "primary", "title": "Identity"})),
            network,
            w,
        )
        .await);
    let idea = id(app
        .execute(
            body::<ProposeChangeIdea>(json!({"title": "Huddles", "serves": [{"node_id": driver}]})),
            network,
            w,
        )
        .await);
    id(app
        .execute(body::<AcceptChangeIdea>(json!({})), (network, idea), w)
        .await);
    (network, programs, idea)
}

/// A cycle of `program` whose plan says `text`, written by `w`.
async fn cycle(app: &App, w: &Write, program: Uuid, idea: Uuid, text: &str) -> Uuid {
    id(app
        .execute(
            body::<PlanCycle>(json!({"title": "Huddles", "change_idea_ids": [idea],
                "purpose": "test", "scale": "one mentor", "planned_start": "2025-03-03",
                "planned_end": "2025-03-14", "plan": {"objective": text,
                "questions": [{"question": "Q?", "prediction": "P"}]}})),
            program,
            w,
        )
        .await)
}

/// A stream's events as read (opened) and as stored, each as one text.
async fn texts(app: &App, stream: &str) -> (String, String) {
    let stream = StreamId::parse(stream.to_string()).unwrap();
    let opened = app.store().read_stream(&stream, 0, 1000).await.unwrap();
    let stored = app.stored().read_stream(&stream, 0, 1000).await.unwrap();
    let text = |events: &[nic_events::RecordedEvent]| {
        events
            .iter()
            .map(|e| format!("{} {}", e.data.get(), e.metadata.get()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    (text(&opened), text(&stored))
}

/// The service on a migrated store at `url`.
async fn app_on(url: &str) -> App {
    let store = nic_store::open(url).await.unwrap();
    store.migrate().await.unwrap();
    App::in_memory(store)
}

async fn a_person_erased(url: &str) {
    let app = app_on(url).await;
    let w = admin();
    let (_, [program, _], idea) = network(&app, &w).await;
    let secret = app
        .tokens()
        .create("Maria Lopez", Role::Facilitator, vec![program], "test")
        .await
        .unwrap();
    let maria = app.tokens().authenticate(&secret).await.unwrap();
    let token_id = maria.token_id;
    let as_maria = Write::by(maria, "test");
    let c = cycle(&app, &as_maria, program, idea, "Maria Lopez tries huddles").await;
    // Someone else's cycle of the same program, which stays.
    let other = cycle(&app, &w, program, idea, "The hub's own plan").await;

    // The name is nowhere in the clear: not in the token's stream, not in the metadata.
    let (opened, stored) = texts(&app, &format!("token-{token_id}")).await;
    assert!(opened.contains("Maria Lopez"));
    assert!(!stored.contains("Maria"), "{stored}");
    let (opened, stored) = texts(&app, &format!("pdsa-{c}")).await;
    assert!(opened.contains("Maria Lopez tries huddles"));
    assert!(opened.contains(&format!("token:{token_id}")), "{opened}");
    assert!(!stored.contains("Maria"), "{stored}");

    let report = app
        .erase(
            "token:hub",
            Subject::Person { token_id },
            ErasureBasis::Request,
            None,
            false,
        )
        .await
        .unwrap();
    // The token's name, and the cycle's title, scale, objective and question texts.
    assert!(report.fields >= 2, "{report:?}");
    assert!(report.erasure_id.is_some());
    let (opened, _) = texts(&app, &format!("token-{token_id}")).await;
    assert!(!opened.contains("Maria"), "{opened}");
    assert!(opened.contains("[erased]"));
    let (opened, _) = texts(&app, &format!("pdsa-{c}")).await;
    assert!(!opened.contains("Maria"), "{opened}");
    assert!(opened.contains("[erased]"));
    let (opened, _) = texts(&app, &format!("pdsa-{other}")).await;
    assert!(opened.contains("The hub's own plan"), "{opened}");
    assert!(
        matches!(
            app.tokens().authenticate(&secret).await,
            Err(AppError::Unauthorized(_))
        ),
        "the erased person's token is revoked"
    );
    let listed = app.tokens().tokens().await.unwrap();
    let t = listed.all().find(|t| t.token_id == token_id).unwrap();
    assert_eq!(t.name.as_str(), "[erased]");
    assert!(t.revoked);
    // Nothing left to erase; an unknown token is not found.
    let again = app
        .erase(
            "token:hub",
            Subject::Person { token_id },
            ErasureBasis::Request,
            None,
            false,
        )
        .await
        .unwrap();
    assert!(again.erasure_id.is_none(), "{again:?}");
    assert!(matches!(
        app.erase(
            "token:hub",
            Subject::Person {
                token_id: Uuid::now_v7()
            },
            ErasureBasis::Request,
            None,
            true
        )
        .await,
        Err(AppError::NotFound(_))
    ));
}

async fn retention(url: &str) {
    let app = app_on(url).await;
    let w = admin();
    let (network, [gone, stays], idea) = network(&app, &w).await;
    id(app
        .execute(
            body::<SetRetention>(json!({"withdrawn_program_text_days": 30})),
            network,
            &w,
        )
        .await);
    let c_gone = cycle(&app, &w, gone, idea, "Notes of a program that leaves").await;
    let c_stays = cycle(&app, &w, stays, idea, "Notes of a program that stays").await;
    id(app
        .execute(
            body::<WithdrawProgram>(json!({"reason": "Lost its funding"})),
            gone,
            &w,
        )
        .await);

    let now = Utc::now();
    assert!(app.retention_due(now).await.unwrap().is_empty());
    let later = now + chrono::Duration::days(31);
    let due = app.retention_due(later).await.unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].program_id, gone);
    assert_eq!(due[0].days, 30);
    assert!(due[0].report.dry_run && due[0].report.fields >= 3);
    // A dry run erases nothing.
    let (opened, _) = texts(&app, &format!("pdsa-{c_gone}")).await;
    assert!(opened.contains("Notes of a program that leaves"));

    let done = app
        .run_retention("system:retention", later, false)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert!(done[0].report.erasure_id.is_some());
    let (opened, _) = texts(&app, &format!("pdsa-{c_gone}")).await;
    assert!(
        !opened.contains("Notes of a program that leaves"),
        "{opened}"
    );
    assert!(opened.contains("[erased]"));
    // The withdrawal's reason is the program's free text too; the program's name is not.
    let (opened, _) = texts(&app, &format!("program-{gone}")).await;
    assert!(!opened.contains("Lost its funding"), "{opened}");
    assert!(opened.contains("Program 0"));
    let (opened, _) = texts(&app, &format!("pdsa-{c_stays}")).await;
    assert!(opened.contains("Notes of a program that stays"));
    assert!(app.retention_due(later).await.unwrap().is_empty());
}

/// A key file read back into the database it came from: every key is kept already (most derived
/// from their event's key), so nothing is written, and the next file holds the same keys.
async fn a_key_file_read_back(url: &str) {
    let app = app_on(url).await;
    let w = admin();
    let (_, [program, _], idea) = network(&app, &w).await;
    let mut last = Uuid::nil();
    for i in 0..3 {
        last = cycle(&app, &w, program, idea, &format!("Plan {i}")).await;
    }
    let mut file = Vec::new();
    let count = app.export_keys("token:hub", None, &mut file).await.unwrap();
    // Each planned cycle seals eight texts.
    assert!(count >= 24, "{count}");
    let (written, left_out) = app.import_keys(&mut file.as_slice()).await.unwrap();
    assert_eq!((written, left_out), (0, 0));
    let mut again = Vec::new();
    assert_eq!(
        app.export_keys("token:hub", None, &mut again)
            .await
            .unwrap(),
        count
    );
    assert_eq!(again, file, "the same keys, in the same order");
    let (opened, _) = texts(&app, &format!("pdsa-{last}")).await;
    assert!(opened.contains("Plan 2"), "{opened}");
}

#[tokio::test]
async fn a_key_file_read_back_writes_nothing_sqlite() {
    a_key_file_read_back(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn a_key_file_read_back_writes_nothing_postgres() {
    let url = nic_store::scratch::create_postgres("nic_privacy").await;
    a_key_file_read_back(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}

#[tokio::test]
async fn a_person_erased_loses_name_and_writing_sqlite() {
    a_person_erased(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn a_person_erased_loses_name_and_writing_postgres() {
    let url = nic_store::scratch::create_postgres("nic_privacy").await;
    a_person_erased(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}

#[tokio::test]
async fn a_withdrawn_programs_text_goes_after_the_retention_period_sqlite() {
    retention(&nic_store::scratch::sqlite_url()).await;
}

#[tokio::test]
async fn a_withdrawn_programs_text_goes_after_the_retention_period_postgres() {
    let url = nic_store::scratch::create_postgres("nic_privacy").await;
    retention(&url).await;
    nic_store::scratch::drop_postgres(&url).await;
}
