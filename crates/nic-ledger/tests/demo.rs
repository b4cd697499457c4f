//! Black-box: `nic-ledger demo` loads the sample network into a fresh SQLite file; the log it
//! leaves is read back with the store, checked event by event against the catalog, and its
//! designed run-chart signal is found by the run-chart analysis. A second run appends nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use nic_domain::measure::MeasureState;
use nic_events::catalog::{ActDecision, CyclePhase, MeasureKind, MeasureScale};
use nic_events::{NicEvent, RecordedEvent};
use nic_projections::run_chart::{analyse, Options, Point, Rule, RuleSet};
use nic_store::{EventStore, ReadAll};

fn demo(url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nic-ledger"))
        .args(["demo", "--database-url", url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run nic-ledger demo")
}

async fn everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &RecordedEvent| e.global_position);
        let page = store
            .read_all(&ReadAll::after(after, 10_000))
            .await
            .unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

#[tokio::test]
async fn demo_loads_a_living_network_once() {
    let db = std::env::temp_dir().join(format!("nic-demo-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}", db.display());

    let out = demo(&url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("STEM PUSH Network"), "{stdout}");
    assert!(stdout.contains("nic-ledger serve"), "{stdout}");

    let store = nic_store::open(&url).await.unwrap();
    let log = everything(store.as_ref()).await;

    // Every event reads back as a catalog event, by the demo's actor, in its category's stream.
    let mut events = Vec::new();
    let mut streams: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &log {
        let event = NicEvent::from_recorded(e).unwrap_or_else(|err| panic!("{e:?}: {err}"));
        assert_eq!(e.stream_id.category(), event.category());
        assert_eq!(e.metadata().unwrap().actor.as_deref(), Some("system:demo"));
        streams
            .entry(e.stream_id.category().to_string())
            .or_default()
            .insert(e.stream_id.to_string());
        events.push(event);
    }
    let count = |f: fn(&NicEvent) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(streams["network"].len(), 1);
    assert!(streams["program"].len() >= 12, "{streams:?}");
    assert!(streams["measure"].len() >= 5);
    assert!(streams["pdsa"].len() >= 20);
    assert!(streams["synthesis"].len() >= 4);
    assert!(count(|e| matches!(e, NicEvent::ProgramEnrolled(_))) >= 12);
    assert!(count(|e| matches!(e, NicEvent::EcosystemAdded(_))) >= 3);
    assert!(count(|e| matches!(e, NicEvent::RootCauseRecorded(_))) >= 6);
    assert!(count(|e| matches!(e, NicEvent::StandardDefined(_))) >= 5);
    assert!(count(|e| matches!(e, NicEvent::StandardSelfAssessed(_))) >= 60);
    assert!(count(|e| matches!(e, NicEvent::ChangeIdeaProposed(_))) >= 10);
    for kind in [
        MeasureKind::Outcome,
        MeasureKind::Process,
        MeasureKind::Balancing,
    ] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, NicEvent::MeasureDefined(d) if d.kind == kind)),
            "{kind:?}"
        );
    }
    // Two years of monthly data for every program and measure.
    assert!(count(|e| matches!(e, NicEvent::DataPointRecorded(_))) >= 2 * 12 * 12 * 5);
    for f in [
        (|e: &NicEvent| matches!(e, NicEvent::DataPointCorrected(_))) as fn(&NicEvent) -> bool,
        |e| matches!(e, NicEvent::DataPointExcluded(_)),
        |e| matches!(e, NicEvent::BaselineFrozen(_)),
        |e| matches!(e, NicEvent::PhaseStarted(_)),
        |e| matches!(e, NicEvent::ChangeIdeaDeclined(_)),
        |e| matches!(e, NicEvent::NodeRetired(_)),
        |e| matches!(e, NicEvent::NodeReworded(_)),
        |e| matches!(e, NicEvent::PdsaCycleCorrected(_)),
    ] {
        assert!(count(f) >= 1);
    }
    assert!(count(|e| matches!(e, NicEvent::LearningSynthesized(_))) >= 4);

    // PDSA cycles in every phase, with every act decision.
    let mut phases: BTreeMap<String, CyclePhase> = BTreeMap::new();
    let mut decisions = BTreeSet::new();
    for (e, event) in log.iter().zip(&events) {
        let phase = match event {
            NicEvent::PdsaCyclePlanned(_) => CyclePhase::Planned,
            NicEvent::PdsaCycleStarted(_) => CyclePhase::Doing,
            NicEvent::PdsaDoRecorded(_) => CyclePhase::Studying,
            NicEvent::PdsaActDecided(a) => {
                decisions.insert(format!("{:?}", a.act.decision));
                CyclePhase::Acted
            }
            NicEvent::PdsaCycleAbandoned(_) => CyclePhase::Abandoned,
            _ => continue,
        };
        phases.insert(e.stream_id.to_string(), phase);
    }
    assert!(phases.len() >= 20);
    let seen: BTreeSet<CyclePhase> = phases.values().copied().collect();
    for phase in [
        CyclePhase::Planned,
        CyclePhase::Doing,
        CyclePhase::Studying,
        CyclePhase::Acted,
        CyclePhase::Abandoned,
    ] {
        assert!(seen.contains(&phase), "no cycle ends {phase:?}");
    }
    for d in [ActDecision::Adopt, ActDecision::Adapt, ActDecision::Abandon] {
        assert!(decisions.contains(&format!("{d:?}")), "no {d:?}");
    }

    // The measure designed to shift shows an IHI shift on its network-wide run chart, judged as
    // its own settings say (the frozen baseline).
    let mut measures: BTreeMap<String, MeasureState> = BTreeMap::new();
    for (e, event) in log.iter().zip(&events) {
        if e.stream_id.category() == "measure" {
            let id = e.stream_id.as_str()["measure-".len()..].parse().unwrap();
            measures
                .entry(e.stream_id.to_string())
                .or_insert_with(|| MeasureState::new(id))
                .apply(event);
        }
    }
    let checkins = measures
        .values()
        .find(|m| {
            m.definition
                .as_ref()
                .is_some_and(|d| d.name.as_str() == "Students with a structured mentor check-in")
        })
        .expect("the check-in measure");
    assert_eq!(
        checkins.definition.as_ref().unwrap().scale,
        MeasureScale::Ratio
    );
    let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for p in checkins.points.values().filter(|p| p.excluded.is_none()) {
        let s = sums.entry(p.period.as_str()).or_default();
        s.0 += p.numerator.unwrap();
        s.1 += p.denominator.unwrap();
    }
    assert_eq!(sums.len(), 24, "two years of months");
    let series: Vec<Point> = sums
        .values()
        .map(|(n, d)| Point {
            value: n / d,
            excluded: false,
        })
        .collect();
    let options = Options {
        baseline_points: checkins.baseline_points.map(|p| p as usize),
        ..Options::default()
    };
    assert!(options.baseline_points.is_some());
    let analysis = analyse(&series, &options);
    let shift = analysis
        .phases
        .iter()
        .flat_map(|p| &p.signals)
        .find(|s| s.rule_set == RuleSet::Ihi && s.rule == Rule::Shift)
        .expect("an IHI shift on the check-in measure");
    assert!(shift.points.len() >= 6);

    let report = nic_store::verify_chains(store.as_ref(), |_| {})
        .await
        .unwrap();
    assert!(report.first_break.is_none(), "{:?}", report.first_break);
    assert_eq!(report.events_checked as usize, log.len());

    // A second run refuses the non-empty database and appends nothing.
    let head = store.head_position().await.unwrap();
    let again = demo(&url);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds events"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(store.head_position().await.unwrap(), head);

    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
