//! The sample network that `nic-ledger demo` loads into an empty ledger, so a new user sees a
//! living Networked Improvement Community rather than three rows (`load`, then `Summary::report`).
//!
//! The sample is the STEM PUSH Network over two years (October 2024 to September 2026, with its
//! charter and root cause analysis in the summer before): four regional STEM learning ecosystems,
//! twelve pre-college STEM programs (PCSPs, with invented names), a driver diagram that grows and
//! changes, five quality standards with self-assessments, a family of five monthly measures with
//! two years of data per program, a ramp of PDSA cycles in every program (29 cycles, in every
//! phase) and the syntheses the hub drew from them.
//!
//! Every event is decided by the `nic_domain` command functions on state folded from the events
//! before it, exactly as the API decides them, so the demo cannot write an event the domain would
//! refuse. Numbers come from a small deterministic generator seeded by `--seed`; entity ids are
//! UUID v8 derived from the seed and a counter. The same seed gives the same network.
//!
//! The data carry real run-chart signals, by design:
//! - *Students with a structured mentor check-in* (process) sits near 55% until programs adopt
//!   the check-in routine (two pilot programs from spring 2025, the others from July to September
//!   2025), then rises to about 75–80%: every point after the frozen eight-month baseline lies
//!   above its median, an IHI shift.
//! - *Seniors with a college application plan* (process) climbs month on month from mid-2025 as
//!   programs take up the application milestone tracker: an IHI trend. A new phase starts in
//!   March 2026, when the tracker runs in every program.
//! - The balancing measure (student attrition) stays flat: the changes did not cost retention.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use chrono::{Datelike, NaiveDate};
use nic_domain::cycle::{self, AbandonCycle, CorrectCycle, CycleState, PlanContext, PlanCycle};
use nic_domain::measure::{
    self, CorrectDataPoint, DefineMeasure, ExcludeDataPoint, FreezeBaseline, MeasureState,
    RecordDataPoint, StartPhase,
};
use nic_domain::network::{
    self, AcceptChangeIdea, AddDriver, AddEcosystem, ChangeStage, CharterNetwork,
    DeclineChangeIdea, DefineStandard, LinkNodes, NetworkState, ProposeChangeIdea, RecordRootCause,
    RetireNode, RewordNode, Serves, StateAim,
};
use nic_domain::program::{self, EnrollProgram, ProgramState, SelfAssess};
use nic_domain::synthesis::{self, SynthesisState, SynthesizeLearning};
use nic_domain::{Decision, DomainError};
use nic_events::catalog::*;
use nic_events::limits::APPEND_EVENTS_MAX;
use nic_events::{ExpectedVersion, Metadata, NicEvent, StreamId, Text, Title};
use nic_store::EventStore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The seed used when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 2027;

/// Who the demo's events say acted.
pub const ACTOR: &str = "system:demo";

/// Months of data per program and measure (October 2024 to September 2026).
pub const MONTHS: usize = 24;

/// What `load` appended.
#[derive(Debug, Clone)]
pub struct Summary {
    pub seed: u64,
    pub network_id: Uuid,
    /// Per stream category: streams and events.
    pub categories: BTreeMap<&'static str, (usize, usize)>,
    pub programs: usize,
    pub measures: usize,
    pub data_points: usize,
    pub cycles: usize,
    pub syntheses: usize,
    pub self_assessments: usize,
    /// The measure whose network-wide run chart shows the designed shift.
    pub shift_measure_id: Uuid,
    /// The measure whose network-wide run chart shows the designed trend.
    pub trend_measure_id: Uuid,
    pub first_program_id: Uuid,
}

impl Summary {
    /// What was loaded and where to look at it, for the person who loaded it.
    pub fn report(&self, database_url: &str) -> String {
        let events: usize = self.categories.values().map(|(_, e)| e).sum();
        let streams: usize = self.categories.values().map(|(s, _)| s).sum();
        let mut out = format!(
            "Loaded the STEM PUSH Network demo (seed {}): {events} events in {streams} streams.\n",
            self.seed
        );
        for (category, (s, e)) in &self.categories {
            out += &format!("  {category:<10} {s:>4} streams {e:>6} events\n");
        }
        out += &format!(
            "  {} programs, {} measures with {} monthly data points, {} PDSA cycles, {} self-assessments, {} syntheses.\n",
            self.programs, self.measures, self.data_points, self.cycles, self.self_assessments, self.syntheses
        );
        let (n, m, t, p) = (
            self.network_id,
            self.shift_measure_id,
            self.trend_measure_id,
            self.first_program_id,
        );
        let base = "http://127.0.0.1:8080/api/v1";
        out += &format!(
            "\nTo look at it, serve it:\n  nic-ledger serve --database-url {database_url}\n"
        );
        out +=
            "  (its first start prints an admin token: send it as `Authorization: Bearer TOKEN`)\n";
        out += "then open, e.g. with curl -H \"Authorization: Bearer $TOKEN\" URL:\n";
        for (path, what) in [
            (
                format!("networks/{n}"),
                "aim, ecosystems, driver diagram, standards, root causes",
            ),
            (
                format!("networks/{n}/driver-diagram?format=mermaid"),
                "the theory of improvement",
            ),
            (
                format!("measures/{m}/run-chart"),
                "mentor check-ins: a shift above the frozen baseline",
            ),
            (
                format!("measures/{t}/run-chart"),
                "application plans: a trend, then a new phase",
            ),
            (format!("programs/{p}/pdsa-board"), "a ramp of three cycles"),
            (
                format!("programs/{p}/portfolio"),
                "self-assessments and their evidence",
            ),
            (
                format!("networks/{n}/syntheses"),
                "what the network learned",
            ),
            ("timeline?limit=100".to_string(), "the story in order"),
        ] {
            out += &format!("  {base}/{path}\n      {what}\n");
        }
        out
    }
}

/// Loads the sample network into `store`, which must hold no events.
pub async fn load(store: &dyn EventStore, seed: u64) -> anyhow::Result<Summary> {
    let head = store.head_position().await.context("read the log's head")?;
    if head > 0 {
        bail!(
            "this database already holds events (the log's head is at position {head}); the demo \
             loads only into an empty ledger, so it never mixes with real records. Point \
             --database-url at a new database."
        );
    }
    let world = build(seed)?;
    // Each event is dated by the day it happened in the story; the ledger records it today.
    let metadata = |k: usize| Metadata {
        actor: Some(ACTOR.into()),
        occurred_on: Some(world.days[k]),
        ..Metadata::default()
    };
    let mut versions: BTreeMap<StreamId, u64> = BTreeMap::new();
    let mut i = 0;
    while i < world.log.len() {
        // One append per run of consecutive events of one stream: the global order stays the
        // order the events were decided in, which is causal.
        let stream = &world.log[i].0;
        let mut j = i;
        while j < world.log.len() && &world.log[j].0 == stream && j - i < APPEND_EVENTS_MAX {
            j += 1;
        }
        let events: Vec<_> = world.log[i..j]
            .iter()
            .enumerate()
            .map(|(k, (_, e))| e.to_new_event(&metadata(i + k)))
            .collect();
        let expected = versions
            .get(stream)
            .map_or(ExpectedVersion::NoStream, |v| ExpectedVersion::Exact(*v));
        let outcome = store
            .append(stream, expected, events)
            .await
            .with_context(|| format!("append to {stream}"))?;
        versions.insert(stream.clone(), outcome.stream_version);
        i = j;
    }
    Ok(world.summary(seed))
}

// ---------------------------------------------------------------------------------------------
// Deterministic numbers and ids
// ---------------------------------------------------------------------------------------------

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// Uniform in lo..=hi.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// Entity ids: UUID v8 from SHA-256 of the seed and a counter.
struct IdGen {
    seed: u64,
    counter: u64,
}

impl IdGen {
    fn next(&mut self) -> Uuid {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(b"nic-ledger demo");
        h.update(self.seed.to_be_bytes());
        h.update(self.counter.to_be_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::new_v8(bytes)
    }

    fn many<const N: usize>(&mut self) -> [Uuid; N] {
        std::array::from_fn(|_| self.next())
    }
}

fn t(s: &str) -> Text {
    Text::parse(s).expect("the demo's texts are valid")
}

fn title(s: &str) -> Title {
    Title::parse(s).expect("the demo's titles are valid")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("the demo's dates are valid")
}

/// The first day of data month `m` (0: October 2024).
fn month_start(m: usize) -> NaiveDate {
    let months = 2024 * 12 + 9 + m as i32;
    date(months / 12, (months % 12) as u32 + 1, 1)
}

fn period(m: usize) -> nic_events::Period {
    month_start(m)
        .format("%Y-%m")
        .to_string()
        .parse()
        .expect("a month label")
}

fn ok(decision: Decision, what: &str) -> anyhow::Result<Vec<NicEvent>> {
    decision.map_err(|e: DomainError| anyhow::anyhow!("the domain refused the demo's {what}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The cast
// ---------------------------------------------------------------------------------------------

const ECOSYSTEMS: [(&str, &str); 4] = [
    ("Pittsburgh STEM Learning Ecosystem", "Pittsburgh, PA"),
    ("Philadelphia STEM Learning Ecosystem", "Philadelphia, PA"),
    ("Chicago STEM Learning Ecosystem", "Chicago, IL"),
    ("Los Angeles STEM Learning Ecosystem", "Los Angeles, CA"),
];

/// Twelve invented programs, three per ecosystem (program `i` is in ecosystem `i / 3`).
const PROGRAMS: [&str; 12] = [
    "Three Rivers Summer Research Academy",
    "Hill District Young Engineers",
    "Allegheny Environmental Science Scholars",
    "Schuylkill Biomedical Pathways",
    "North Philly Robotics Lab",
    "Delaware Valley Chemistry Corps",
    "South Side Data Science Fellows",
    "Lakefront Ecology Interns",
    "Pilsen Health Careers Program",
    "Boyle Heights Physics Circle",
    "Watts Coding Academy",
    "San Gabriel Valley Space Science Scholars",
];
const THREE_RIVERS: usize = 0;
const HILL_DISTRICT: usize = 1;
const ALLEGHENY: usize = 2;
const SCHUYLKILL: usize = 3;
const NORTH_PHILLY: usize = 4;
const DELAWARE_VALLEY: usize = 5;
const SOUTH_SIDE: usize = 6;
const LAKEFRONT: usize = 7;
const PILSEN: usize = 8;
const BOYLE_HEIGHTS: usize = 9;
const WATTS: usize = 10;
const SAN_GABRIEL: usize = 11;

const PRIMARY: [(&str, &str); 3] = [
    ("STEM identity and belonging", "Students see themselves as people who do STEM and feel they belong in STEM spaces, with mentors and peers who share and respect their backgrounds."),
    ("A clear pathway from program to college application", "Students leave the program with a plan, the materials and the support to apply to post-secondary STEM programs."),
    ("Admissions offices recognise PCSP experience", "Admissions readers understand and value what students did in a pre-college STEM program, through evidence they trust."),
];
const S_MENTORING: usize = 0;
const S_RESEARCH: usize = 1;
const S_FAMILY: usize = 2;
const S_APPLICATION: usize = 3;
const S_QUALITY: usize = 4;
const S_ADMISSIONS: usize = 5;
const P_IDENTITY: usize = 0;
const P_PATHWAY: usize = 1;
const P_RECOGNITION: usize = 2;

/// Secondary drivers and the primary drivers they serve (many-to-many, strong or weak).
/// Title, definition, and the primary drivers served.
type SecondarySpec = (&'static str, &'static str, &'static [(usize, LinkStrength)]);
const SECONDARY: [SecondarySpec; 6] = [
    ("Culturally responsive mentoring", "Mentors meet students regularly, know their goals and name racism in STEM rather than ignore it.", &[(P_IDENTITY, LinkStrength::Strong), (P_PATHWAY, LinkStrength::Weak)]),
    ("Authentic research with a product students can show", "Students do real research and leave with a poster, abstract or code they can point to.", &[(P_IDENTITY, LinkStrength::Strong), (P_PATHWAY, LinkStrength::Strong), (P_RECOGNITION, LinkStrength::Weak)]),
    ("Family and community engagement", "Families know what the program offers, what STEM majors lead to and how financial aid works.", &[(P_IDENTITY, LinkStrength::Weak), (P_PATHWAY, LinkStrength::Strong)]),
    ("Application support within the program year", "The program builds application milestones into its calendar instead of leaving them to the school counsellor.", &[(P_PATHWAY, LinkStrength::Strong)]),
    ("Documented quality against the STEM PUSH standards", "Programs hold evidence of meeting and improving along the quality standards, the basis of accreditation.", &[(P_RECOGNITION, LinkStrength::Strong)]),
    ("Relationships with admissions offices", "Program staff and admissions officers know each other and talk about students' work.", &[(P_RECOGNITION, LinkStrength::Strong), (P_PATHWAY, LinkStrength::Weak)]),
];

const CHECKINS: usize = 0;
const PODCAST: usize = 1;
const POSTERS: usize = 2;
const FAMILY_NIGHTS: usize = 3;
const TRACKER: usize = 4;
const ADMISSIONS_VISITS: usize = 5;
const PORTFOLIO: usize = 6;
const STIPENDS: usize = 7;
const TEXT_REMINDERS: usize = 8;
const ALUMNI_PANELS: usize = 9;
const FIRST_SEMESTER: usize = 10;
const BILINGUAL_WORKSHOPS: usize = 11;
const IDEAS: usize = 12;

/// A node a change idea serves: a secondary driver, or a primary driver directly.
#[derive(Clone, Copy)]
enum To {
    S(usize),
    P(usize),
}

/// Change ideas: title, definition, rationale, proposing program (None: the hub), what they serve.
type IdeaSpec = (
    &'static str,
    &'static str,
    &'static str,
    Option<usize>,
    &'static [(To, LinkStrength)],
);
const CHANGE_IDEAS: [IdeaSpec; IDEAS] = [
    ("Structured bi-weekly mentor check-ins", "Every student meets their mentor every other week for 15 minutes, with a three-question discussion routine about goals, obstacles and next steps.", "Students told us in the root cause interviews that no adult in the program asked about their plans.", None, &[(To::S(S_MENTORING), LinkStrength::Strong), (To::S(S_APPLICATION), LinkStrength::Weak)]),
    ("Staff discussion routine on racism in STEM", "Program staff listen to a podcast episode on racism in STEM (e.g. Radiolab, The Liberation of RNA) and discuss it with a protocol before the student season.", "Mentors said they did not know how to respond when students raised racism in science.", Some(HILL_DISTRICT), &[(To::S(S_MENTORING), LinkStrength::Strong)]),
    ("Research poster and abstract for the application", "Every student finishes with a research poster and a 150-word abstract written for an admissions reader.", "Students could not describe their research in their applications.", Some(BOYLE_HEIGHTS), &[(To::S(S_RESEARCH), LinkStrength::Strong), (To::S(S_APPLICATION), LinkStrength::Weak), (To::S(S_QUALITY), LinkStrength::Weak)]),
    ("Family STEM nights with a financial-aid walkthrough", "An evening event each term where families see students' work and walk through the FAFSA and scholarship options with a counsellor.", "Families in our program rarely attend daytime events and ask about cost first.", Some(PILSEN), &[(To::S(S_FAMILY), LinkStrength::Strong)]),
    ("Application milestone tracker", "A shared tracker of each senior's application milestones (college list, essay draft, recommendation, FAFSA), reviewed monthly by staff.", "Seniors who intended to apply to STEM programs missed early deadlines.", Some(SCHUYLKILL), &[(To::S(S_APPLICATION), LinkStrength::Strong), (To::S(S_FAMILY), LinkStrength::Weak)]),
    ("Admissions officers at program showcases", "Invite admissions officers from partner universities to the end-of-program showcase to hear students present.", "Admissions offices told the network they do not know what PCSPs do.", None, &[(To::S(S_ADMISSIONS), LinkStrength::Strong), (To::S(S_RESEARCH), LinkStrength::Weak)]),
    ("Program portfolio aligned to the quality standards", "Each program keeps a portfolio of evidence per STEM PUSH quality standard, updated each term.", "Accreditation with Middle States rests on evidence of meeting and improving along the standards.", None, &[(To::S(S_QUALITY), LinkStrength::Strong), (To::S(S_ADMISSIONS), LinkStrength::Weak)]),
    ("Stipends to replace summer jobs", "Pay every student a stipend equal to a summer job's wage.", "Students leave the program for paid summer work.", Some(WATTS), &[(To::P(P_PATHWAY), LinkStrength::Weak)]),
    ("Weekly text-message reminders", "Send each student a text reminder before every session.", "Attendance drops in the middle of the program.", None, &[(To::S(S_MENTORING), LinkStrength::Weak)]),
    ("Alumni panels", "Alumni talk to current students.", "Students want to hear from people like them.", Some(LAKEFRONT), &[(To::S(S_MENTORING), LinkStrength::Strong), (To::P(P_IDENTITY), LinkStrength::Weak)]),
    ("First-semester alumni check-ins", "Program staff check in monthly with alumni in their first college semester.", "Alumni who enrolled in STEM majors switched out in the first year.", Some(NORTH_PHILLY), &[(To::S(S_APPLICATION), LinkStrength::Weak), (To::P(P_PATHWAY), LinkStrength::Strong)]),
    ("Bilingual family application workshops", "Application and financial-aid workshops held in Spanish and English.", "Spanish-speaking families in our ecosystem asked for them.", Some(BOYLE_HEIGHTS), &[(To::S(S_FAMILY), LinkStrength::Strong)]),
];

const STANDARDS: [(&str, &str, &str); 5] = [
    ("S1", "Equitable access and recruitment", "The program recruits and retains Black, Latina/o/e and Indigenous students, removing barriers of cost, transport and eligibility."),
    ("S2", "Culturally responsive STEM learning", "Curriculum and pedagogy draw on students' cultures and communities and name inequity in STEM."),
    ("S3", "Mentoring and relationships", "Every student has regular, structured contact with a mentor who knows their goals."),
    ("S4", "Pathways to post-secondary STEM", "The program prepares students for college application and connects them with higher education."),
    ("S5", "Continuous improvement with data", "The program tests changes in PDSA cycles and tracks its measures over time."),
];
/// Per standard: the change ideas and the measure whose evidence bears on it.
const STANDARD_EVIDENCE: [(&[usize], usize); 5] = [
    (&[FAMILY_NIGHTS, BILINGUAL_WORKSHOPS], M_ATTRITION),
    (&[PODCAST, ALUMNI_PANELS], M_OUTCOME),
    (&[CHECKINS, TEXT_REMINDERS, PODCAST], M_CHECKINS),
    (
        &[TRACKER, POSTERS, ADMISSIONS_VISITS, FIRST_SEMESTER],
        M_APPLICATIONS,
    ),
    (
        &[
            CHECKINS,
            PODCAST,
            POSTERS,
            FAMILY_NIGHTS,
            TRACKER,
            ADMISSIONS_VISITS,
            PORTFOLIO,
            TEXT_REMINDERS,
            ALUMNI_PANELS,
        ],
        M_OUTCOME,
    ),
];

const ROOT_CAUSES: [(&str, &str, &str); 12] = [
    ("Recruitment and access", "Outreach reaches students already on STEM pathways", "Programs recruit through AP teachers and science fairs, missing students without those connections."),
    ("Recruitment and access", "Eligibility rules screen students out", "GPA cut-offs and recommendation letters exclude students whose schools offer fewer advanced courses."),
    ("Recruitment and access", "Cost, transport and summer jobs compete with the program", "Unpaid summer programs lose students who must earn."),
    ("Program design", "Programs end before application season", "Most programs end in August; applications are written from October on, without the program."),
    ("Program design", "Research is not framed as admissions evidence", "Students do real work but leave with nothing an admissions reader can see."),
    ("Program design", "Little culturally responsive pedagogy", "Curricula rarely draw on students' communities or name racism in STEM."),
    ("Mentoring and belonging", "Few mentors share students' backgrounds", "Mentor pools come from university labs that are themselves unrepresentative."),
    ("Mentoring and belonging", "Mentor contact is irregular", "Mentoring depends on individual mentors; some students never have a one-to-one conversation."),
    ("Admissions and higher education", "Admissions offices do not recognise PCSP participation", "An application lists the program in one line among many activities."),
    ("Admissions and higher education", "No common, credible signal of program quality", "Admissions readers cannot tell a rigorous program from a summer camp."),
    ("Family and community", "Families lack information on STEM majors and financial aid", "Cost fears steer students away from STEM majors they assume are expensive."),
    ("Data and measurement", "Programs rarely track alumni", "Few programs know where their alumni enrol, so they cannot learn what works."),
];

const M_OUTCOME: usize = 0;
const M_CHECKINS: usize = 1;
const M_APPLICATIONS: usize = 2;
const M_FAMILY: usize = 3;
const M_ATTRITION: usize = 4;

// ---------------------------------------------------------------------------------------------
// The world: the states, folded as events are decided, and the log in order
// ---------------------------------------------------------------------------------------------

struct Ids {
    network: Uuid,
    ecosystems: [Uuid; 4],
    programs: [Uuid; 12],
    primary: [Uuid; 3],
    secondary: [Uuid; 6],
    ideas: [Uuid; IDEAS],
    standards: [Uuid; 5],
    measures: [Uuid; 5],
}

/// What drives one program's numbers.
struct ProgramModel {
    /// Students enrolled in a month.
    size: i64,
    /// Seniors (applicants) this school year.
    seniors: i64,
    /// Alumni whose enrolment is confirmed in a month.
    alumni: i64,
    outcome_offset: f64,
    checkin_base: f64,
    checkin_lift: f64,
    /// The data month from which the program runs structured check-ins (its lift reaches full
    /// strength over three months).
    checkin_from: usize,
    plan_base: f64,
    /// The data month from which the program uses the application tracker.
    tracker_from: usize,
    family_base: f64,
    /// The data month from which the program holds family STEM nights.
    family_from: Option<usize>,
    attrition: f64,
}

pub(crate) struct World {
    ids: Ids,
    idgen: IdGen,
    rng: Rng,
    models: Vec<ProgramModel>,
    network: NetworkState,
    programs: BTreeMap<Uuid, ProgramState>,
    measures: BTreeMap<Uuid, MeasureState>,
    cycles: BTreeMap<Uuid, CycleState>,
    /// Cycles in the order they were planned.
    cycle_order: Vec<Uuid>,
    syntheses: BTreeMap<Uuid, SynthesisState>,
    /// Data points by measure, program and data month.
    points: BTreeMap<(usize, usize, usize), Uuid>,
    /// The log, in the order the events were decided.
    pub(crate) log: Vec<(StreamId, NicEvent)>,
    /// The day each event of `log` happened in the story (its metadata's `occurred_on`).
    days: Vec<NaiveDate>,
    /// The story's day while a step runs.
    day: NaiveDate,
}

impl World {
    fn emit(&mut self, category: &'static str, id: Uuid, events: Vec<NicEvent>) {
        for e in events {
            match category {
                "network" => self.network.apply(&e),
                "program" => self
                    .programs
                    .entry(id)
                    .or_insert_with(|| ProgramState::new(id))
                    .apply(&e),
                "measure" => self
                    .measures
                    .entry(id)
                    .or_insert_with(|| MeasureState::new(id))
                    .apply(&e),
                "pdsa" => self
                    .cycles
                    .entry(id)
                    .or_insert_with(|| CycleState::new(id))
                    .apply(&e),
                "synthesis" => self
                    .syntheses
                    .entry(id)
                    .or_insert_with(|| SynthesisState::new(id))
                    .apply(&e),
                other => unreachable!("no stream category {other}"),
            }
            self.log.push((StreamId::for_entity(category, id), e));
            self.days.push(self.day);
        }
    }

    fn program(&self, i: usize) -> &ProgramState {
        &self.programs[&self.ids.programs[i]]
    }

    fn measure(&self, i: usize) -> &MeasureState {
        &self.measures[&self.ids.measures[i]]
    }

    fn cycle(&self, id: Uuid) -> CycleState {
        self.cycles
            .get(&id)
            .cloned()
            .unwrap_or_else(|| CycleState::new(id))
    }

    fn known_measures(&self) -> BTreeSet<Uuid> {
        self.measures.keys().copied().collect()
    }

    fn known_cycles(&self) -> BTreeSet<Uuid> {
        self.cycles.keys().copied().collect()
    }

    // --- the network -------------------------------------------------------------------------

    fn network_cmd(&mut self, what: &str, decision: Decision) -> anyhow::Result<()> {
        let events = ok(decision, what)?;
        let id = self.ids.network;
        self.emit("network", id, events);
        Ok(())
    }

    fn propose(&mut self, idea: usize) -> anyhow::Result<()> {
        let (name, definition, rationale, by, serves) = CHANGE_IDEAS[idea];
        let serves = serves
            .iter()
            .map(|(to, strength)| Serves {
                node_id: match to {
                    To::S(s) => self.ids.secondary[*s],
                    To::P(p) => self.ids.primary[*p],
                },
                strength: *strength,
            })
            .collect();
        let proposer = by.map(|p| self.ids.programs[p]);
        let decision = network::propose_change_idea(
            &self.network,
            self.ids.ideas[idea],
            proposer.and_then(|p| self.programs.get(&p)),
            ProposeChangeIdea {
                title: title(name),
                definition: t(definition),
                proposed_by_program: proposer,
                rationale: t(rationale),
                serves,
            },
        );
        self.network_cmd("change idea proposal", decision)
    }

    fn accept(&mut self, idea: usize, note: &str) -> anyhow::Result<()> {
        let d = network::accept_change_idea(
            &self.network,
            self.ids.ideas[idea],
            AcceptChangeIdea { note: t(note) },
        );
        self.network_cmd("acceptance", d)
    }

    fn stage(&mut self, idea: usize, stage: ChangeIdeaStage, reason: &str) -> anyhow::Result<()> {
        let d = network::change_stage(
            &self.network,
            self.ids.ideas[idea],
            ChangeStage {
                stage,
                reason: t(reason),
            },
        );
        self.network_cmd("stage change", d)
    }

    // --- measures ----------------------------------------------------------------------------

    fn define_measure(&mut self, i: usize, cmd: DefineMeasure) -> anyhow::Result<()> {
        let id = self.ids.measures[i];
        let d = measure::define(&self.network, &MeasureState::new(id), cmd);
        let events = ok(d, "measure definition")?;
        self.emit("measure", id, events);
        Ok(())
    }

    fn measure_cmd(&mut self, i: usize, what: &str, decision: Decision) -> anyhow::Result<()> {
        let events = ok(decision, what)?;
        let id = self.ids.measures[i];
        self.emit("measure", id, events);
        Ok(())
    }

    /// The true numbers of measure `mi` for program `pi` in data month `m`.
    fn numbers(
        &mut self,
        mi: usize,
        pi: usize,
        m: usize,
    ) -> (Option<f64>, Option<f64>, Option<f64>) {
        let ramp =
            |from: usize, months: f64| ((m as f64 - from as f64 + 1.0) / months).clamp(0.0, 1.0);
        let rng = &mut self.rng;
        let pm = &self.models[pi];
        let ratio = |n: f64, d: i64| (Some(n.round().clamp(0.0, d as f64)), Some(d as f64), None);
        match mi {
            M_OUTCOME => {
                let d = (pm.alumni + rng.int(-2, 2)).max(3);
                let p = 0.37 + pm.outcome_offset + 0.10 * m as f64 / (MONTHS - 1) as f64;
                ratio(p * d as f64 + rng.range(-0.6, 0.6), d)
            }
            M_CHECKINS => {
                let d = pm.size + rng.int(-2, 2);
                let p = pm.checkin_base + pm.checkin_lift * ramp(pm.checkin_from, 3.0);
                ratio(p * d as f64 + rng.range(-1.0, 1.0), d)
            }
            M_APPLICATIONS => {
                // The cohort of seniors changes each September.
                let d = pm.seniors + if m >= 11 { 1 } else { 0 };
                let p = pm.plan_base + 0.035 * (m as f64 - pm.tracker_from as f64).clamp(0.0, 8.0);
                ratio(p * d as f64 + rng.range(-0.3, 0.3), d)
            }
            M_FAMILY => {
                let nights = pm.family_from.map_or(0.0, |f| 12.0 * ramp(f, 2.0));
                let v = (pm.family_base + nights + rng.range(-4.0, 4.0))
                    .round()
                    .max(0.0);
                (None, None, Some(v))
            }
            _ => {
                let d = pm.size + rng.int(-2, 2);
                ratio(pm.attrition * d as f64 + rng.range(-1.0, 1.0), d)
            }
        }
    }

    /// Records every program's value of every measure for data month `m`, with the slips a real
    /// network makes (corrected later) and one point the network excludes.
    fn record_month(&mut self, m: usize) -> anyhow::Result<()> {
        for mi in 0..5 {
            for pi in 0..PROGRAMS.len() {
                let (mut n, mut d, mut v) = self.numbers(mi, pi, m);
                let mut note = "";
                match (mi, pi, m) {
                    // Slips, each corrected in a later month.
                    (M_CHECKINS, THREE_RIVERS, 4) => d = d.map(|d| d + 6.0),
                    (M_OUTCOME, WATTS, 10) => d = d.map(|d| d * 10.0 + 1.0),
                    (M_FAMILY, PILSEN, 13) => v = v.map(|v| v * 10.0),
                    // The month the Boyle Heights site was closed.
                    (M_CHECKINS, BOYLE_HEIGHTS, 6) => {
                        n = d.map(|d| (d * 0.15).round());
                        note = "Site closed for three weeks after flooding.";
                    }
                    (M_FAMILY, _, _) if month_start(m).month() == 7 => {
                        note = "Summer session: family showcase week.";
                    }
                    _ => {}
                }
                let point_id = self.idgen.next();
                let program_id = self.ids.programs[pi];
                let d = measure::record_point(
                    self.measure(mi),
                    self.programs.get(&program_id),
                    point_id,
                    RecordDataPoint {
                        program_id,
                        period: period(m),
                        numerator: n,
                        denominator: d,
                        value: v,
                        note: t(note),
                    },
                );
                self.measure_cmd(mi, "data point", d)?;
                self.points.insert((mi, pi, m), point_id);
            }
        }
        Ok(())
    }

    fn correct(&mut self, mi: usize, pi: usize, m: usize, reason: &str) -> anyhow::Result<()> {
        let point_id = self.points[&(mi, pi, m)];
        let held = self.measure(mi).points[&point_id].clone();
        let (n, mut d, mut v) = (held.numerator, held.denominator, held.value);
        match mi {
            M_CHECKINS => d = d.map(|d| d - 6.0),
            M_OUTCOME => d = d.map(|d| ((d - 1.0) / 10.0).round()),
            _ => v = v.map(|v| (v / 10.0).round()),
        }
        let dec = measure::correct_point(
            self.measure(mi),
            point_id,
            CorrectDataPoint {
                numerator: n,
                denominator: d,
                value: v,
                reason: t(reason),
            },
        );
        self.measure_cmd(mi, "correction", dec)
    }

    // --- programs ----------------------------------------------------------------------------

    /// Every program assesses itself against every standard on `on` (`first`: the baseline year).
    fn self_assess_all(&mut self, on: NaiveDate, first: bool) -> anyhow::Result<()> {
        let known = self.known_evidence();
        for pi in 0..PROGRAMS.len() {
            for si in 0..STANDARD_EVIDENCE.len() {
                self.self_assess(pi, si, on, first, &known)?;
            }
        }
        Ok(())
    }

    /// What a self-assessment may cite: the cycles, measures and syntheses on record.
    fn known_evidence(&self) -> BTreeSet<(EvidenceKind, Uuid)> {
        let mut known: BTreeSet<(EvidenceKind, Uuid)> = BTreeSet::new();
        known.extend(self.cycles.keys().map(|id| (EvidenceKind::Cycle, *id)));
        known.extend(self.measures.keys().map(|id| (EvidenceKind::Measure, *id)));
        known.extend(
            self.syntheses
                .keys()
                .map(|id| (EvidenceKind::Synthesis, *id)),
        );
        known
    }

    /// Program `pi` assesses itself against standard `si`, citing its evidence.
    fn self_assess(
        &mut self,
        pi: usize,
        si: usize,
        on: NaiveDate,
        first: bool,
        known: &BTreeSet<(EvidenceKind, Uuid)>,
    ) -> anyhow::Result<()> {
        let program_id = self.ids.programs[pi];
        let (ideas, mi) = STANDARD_EVIDENCE[si];
        let standard_id = self.ids.standards[si];
        let idea_ids: Vec<Uuid> = ideas.iter().map(|i| self.ids.ideas[*i]).collect();
        let previous = self
            .program(pi)
            .self_assessments
            .iter()
            .rfind(|a| a.standard_id == standard_id)
            .map(|a| a.rating);
        let (evidence, cycles_cited) = self.evidence(program_id, &idea_ids, mi, on, first);
        let (rating, note) = self.rating(pi, si, previous, cycles_cited, on, first);
        let assessment_id = self.idgen.next();
        let d = program::self_assess(
            self.program(pi),
            &self.network,
            assessment_id,
            known,
            SelfAssess {
                standard_id,
                rating,
                assessed_on: on,
                evidence,
                note: t(note),
            },
        );
        let events = ok(d, "self-assessment")?;
        self.emit("program", program_id, events);
        Ok(())
    }

    /// A self-assessment's evidence (closed cycles, syntheses, run chart, worksheet) and how
    /// many cycles it cites.
    fn evidence(
        &self,
        program_id: Uuid,
        idea_ids: &[Uuid],
        mi: usize,
        on: NaiveDate,
        first: bool,
    ) -> (Vec<Evidence>, usize) {
        let mut evidence = Vec::new();
        let mut cycles_cited = 0;
        for id in &self.cycle_order {
            let c = &self.cycles[id];
            let Some(p) = &c.planned else { continue };
            if p.program_id == program_id
                && c.is_closed()
                && p.change_idea_ids.iter().any(|i| idea_ids.contains(i))
                && cycles_cited < 3
            {
                cycles_cited += 1;
                evidence.push(Evidence {
                    kind: EvidenceKind::Cycle,
                    id: Some(*id),
                    reference: None,
                    note: t(&format!("Cycle {}: {}", p.cycle_number, p.title)),
                });
            }
        }
        for (id, s) in &self.syntheses {
            let Some(s) = &s.synthesis else { continue };
            if s.node_ids.iter().any(|n| idea_ids.contains(n)) && !first {
                evidence.push(Evidence {
                    kind: EvidenceKind::Synthesis,
                    id: Some(*id),
                    reference: None,
                    note: t(&format!("Network learning: {}", s.title)),
                });
            }
        }
        if !first {
            evidence.push(Evidence {
                kind: EvidenceKind::Measure,
                id: Some(self.ids.measures[mi]),
                reference: None,
                note: t("The program's run chart for the year."),
            });
        }
        evidence.push(Evidence {
            kind: EvidenceKind::Document,
            id: None,
            reference: Some(title(&format!(
                "Program self-study worksheet, {}",
                on.format("%B %Y")
            ))),
            note: Text::default(),
        });
        (evidence, cycles_cited)
    }

    /// The rating program `pi` gives itself on standard `si`, and why.
    fn rating(
        &mut self,
        pi: usize,
        si: usize,
        previous: Option<u8>,
        cycles_cited: usize,
        on: NaiveDate,
        first: bool,
    ) -> (u8, &'static str) {
        match previous {
            None => (self.rng.int(1, 3) as u8, "Baseline self-assessment with the hub coach."),
            Some(r) if pi == WATTS && si == 0 && !first && on.year() == 2025 => (
                r.saturating_sub(1).max(1),
                "Bus passes ended with the district partnership; fewer students from outside the neighbourhood applied.",
            ),
            Some(r) if cycles_cited > 0 => (
                (r + 1).min(4),
                "The rating rose with changes the program tested and adopted.",
            ),
            Some(r) => (
                (r + u8::from(self.rng.int(0, 4) == 0)).min(4),
                "Annual self-assessment with the hub coach.",
            ),
        }
    }

    fn synthesize(&mut self, spec: &SynthesisSpec, cycles: Vec<Uuid>) -> anyhow::Result<()> {
        let id = self.idgen.next();
        let mut nodes: Vec<Uuid> = spec.ideas.iter().map(|i| self.ids.ideas[*i]).collect();
        nodes.extend(spec.secondary.iter().map(|s| self.ids.secondary[*s]));
        nodes.extend(spec.primary.iter().map(|p| self.ids.primary[*p]));
        let d = synthesis::synthesize(
            &self.network,
            &SynthesisState::new(id),
            &self.known_cycles(),
            &self.known_measures(),
            SynthesizeLearning {
                title: title(spec.title),
                statement: t(spec.statement),
                recommendation: t(spec.recommendation),
                cycle_ids: cycles,
                measure_ids: spec
                    .measures
                    .iter()
                    .map(|m| self.ids.measures[*m])
                    .collect(),
                node_ids: nodes,
            },
        );
        let events = ok(d, "synthesis")?;
        self.emit("synthesis", id, events);
        Ok(())
    }

    fn summary(&self, seed: u64) -> Summary {
        let mut categories: BTreeMap<&'static str, (BTreeSet<&StreamId>, usize)> = BTreeMap::new();
        for (s, e) in &self.log {
            let entry = categories.entry(e.category()).or_default();
            entry.0.insert(s);
            entry.1 += 1;
        }
        Summary {
            seed,
            network_id: self.ids.network,
            categories: categories
                .into_iter()
                .map(|(c, (s, e))| (c, (s.len(), e)))
                .collect(),
            programs: self.programs.len(),
            measures: self.measures.len(),
            data_points: self.measures.values().map(|m| m.points.len()).sum(),
            cycles: self.cycles.len(),
            syntheses: self.syntheses.len(),
            self_assessments: self
                .programs
                .values()
                .map(|p| p.self_assessments.len())
                .sum(),
            shift_measure_id: self.ids.measures[M_CHECKINS],
            trend_measure_id: self.ids.measures[M_APPLICATIONS],
            first_program_id: self.ids.programs[0],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PDSA ramps
// ---------------------------------------------------------------------------------------------

/// How a cycle of the sample ends (or where it stands).
enum End {
    Act(ActDecision, &'static str, &'static str),
    /// Abandoned while doing, with the reason.
    Abandon(&'static str),
    Planned,
    Doing,
    Studying,
}

struct CycleSpec {
    title: &'static str,
    purpose: CyclePurpose,
    scale: &'static str,
    start: (i32, u32, u32),
    days: i64,
    objective: &'static str,
    /// Question, prediction (empty: none made), reason.
    questions: &'static [(&'static str, &'static str, &'static str)],
    as_planned: bool,
    happened: &'static str,
    surprise: &'static str,
    /// Per question: result, whether the prediction held, what was learned.
    results: &'static [(&'static str, PredictionHeld, &'static str)],
    summary: &'static str,
    end: End,
}

struct RampSpec {
    program: usize,
    ideas: &'static [usize],
    secondary: &'static [usize],
    measures: &'static [usize],
    who: &'static str,
    data: &'static str,
    cycles: &'static [CycleSpec],
}

use ActDecision::{Adapt, Adopt};
use CyclePurpose::{CollectInformation, Develop, Implement, Test};
use PredictionHeld::{No, Partly, Yes};

const R_THREE_RIVERS: usize = 0;
const R_SOUTH_SIDE: usize = 1;
const R_SCHUYLKILL: usize = 2;
const R_WATTS: usize = 3;
const R_HILL: usize = 4;
const R_PILSEN: usize = 5;
const R_BOYLE: usize = 6;
const R_DELAWARE: usize = 10;

const RAMPS: &[RampSpec] = &[
    RampSpec {
        program: THREE_RIVERS,
        ideas: &[CHECKINS],
        secondary: &[S_MENTORING],
        measures: &[M_CHECKINS, M_ATTRITION],
        who: "The program coordinator and the volunteer mentors, in the lab building after sessions.",
        data: "Mentors log each check-in (date, minutes, the three questions answered) in a shared sheet; the coordinator counts students with a check-in each month.",
        cycles: &[
            CycleSpec { title: "One mentor tries the three-question check-in", purpose: Develop, scale: "one mentor, two students, two weeks", start: (2025, 1, 13), days: 14, objective: "Find out whether a 15-minute check-in with three fixed questions fits after a lab session.", questions: &[("Will the check-in fit in 15 minutes?", "Yes, for both students.", "The questions are short and the mentor knows the students."), ("Will students name a next step?", "At least one of the two will.", "Students rarely talk about plans unprompted.")], as_planned: true, happened: "Four check-ins ran, each 12 to 20 minutes.", surprise: "The second question (obstacles) opened long conversations about school schedules.", results: &[("Three of four fit in 15 minutes.", Partly, "The obstacles question needs a time box."), ("Both students named a next step each time.", Yes, "Students have plans; no one had asked.")], summary: "The routine works at tiny scale; the obstacles question runs long.", end: End::Act(Adapt, "It works but runs long.", "Time-box the obstacles question and try with all mentors of one cohort.") },
            CycleSpec { title: "All mentors of the robotics cohort use the check-in", purpose: Test, scale: "five mentors, 18 students, four weeks", start: (2025, 2, 10), days: 28, objective: "Test whether every student in one cohort gets two check-ins in a month.", questions: &[("Will every student get two check-ins in four weeks?", "16 of 18 will.", "Two mentors travel in February."), ("Will mentors log the check-ins?", "Most will, with a reminder.", "Logging is new.")], as_planned: true, happened: "17 of 18 students had two check-ins; mentors logged 31 of 35.", surprise: "Students asked for the check-in when a mentor forgot.", results: &[("17 of 18 students got two check-ins.", Yes, "Pairing mentors covers travel."), ("31 of 35 check-ins logged.", Partly, "A paper card at the lab door beats the online sheet.")], summary: "Coverage is nearly complete; logging needs an easier tool.", end: End::Act(Adapt, "Coverage is good; logging must get easier before the whole program uses it.", "Use paper cards collected weekly and extend to the whole program.") },
            CycleSpec { title: "Check-ins across the whole program with paper logs", purpose: Implement, scale: "whole program, 14 mentors, 34 students, eight weeks", start: (2025, 3, 24), days: 56, objective: "Run check-ins for every student for two months and see whether the share with a monthly check-in rises above 75%.", questions: &[("Will more than 75% of students have a check-in each month?", "Yes, about 85%.", "The cohort test reached 94%."), ("Will mentor hours stay within the contract?", "Yes.", "15 minutes every other week is one hour a month per student pair."), ("Will attrition change?", "No change in two months.", "Attrition moves slowly.")], as_planned: true, happened: "Check-ins ran for all cohorts; monthly coverage was 82% and 86%.", surprise: "Two mentors used the check-in to start application conversations.", results: &[("82% and 86% of students had a monthly check-in.", Yes, "The routine holds at full scale."), ("Mentor hours rose by under half an hour a month.", Yes, "The time box keeps it light."), ("Attrition was unchanged.", Yes, "No cost to retention so far.")], summary: "Structured check-ins hold at full scale without adding real mentor burden.", end: End::Act(Adopt, "It worked at full scale for two months with no cost to mentors or retention.", "Make it part of mentor training; share with the network.") },
        ],
    },
    RampSpec {
        program: SOUTH_SIDE,
        ideas: &[CHECKINS],
        secondary: &[S_MENTORING],
        measures: &[M_CHECKINS],
        who: "The fellowship director and graduate-student mentors, on video calls.",
        data: "The director counts students with at least one check-in each month from the mentors' calendar invitations.",
        cycles: &[
            CycleSpec { title: "Check-ins over video for remote fellows", purpose: Test, scale: "three mentors, nine fellows, three weeks", start: (2025, 3, 3), days: 21, objective: "Test the check-in routine over video for fellows who attend remotely.", questions: &[("Will fellows join a 15-minute video check-in?", "Seven of nine will.", "Remote fellows miss in-person sessions."), ("Will the three questions work on video?", "Yes.", "They worked in person at Three Rivers.")], as_planned: false, happened: "Six of nine joined; one mentor ran the check-ins as group calls instead.", surprise: "Group calls drew more talk about plans than one-to-one calls.", results: &[("Six of nine fellows joined.", Partly, "Evening slots are needed."), ("The questions worked; group calls worked too.", Partly, "Small groups are an option for remote fellows.")], summary: "Video check-ins work with evening slots; small groups are worth keeping.", end: End::Act(Adapt, "Reach was lower than predicted.", "Offer evening slots and allow groups of three.") },
            CycleSpec { title: "Evening and small-group check-ins", purpose: Test, scale: "all eight mentors, 26 fellows, five weeks", start: (2025, 4, 7), days: 35, objective: "Reach every fellow with a monthly check-in using evening and small-group slots.", questions: &[("Will more than 80% of fellows have a check-in?", "Yes.", "Evening slots remove the main barrier.")], as_planned: true, happened: "23 of 26 fellows had a check-in.", surprise: "", results: &[("88% had a check-in.", Yes, "Flexible slots reach remote fellows.")], summary: "Flexible check-ins reach nearly every fellow.", end: End::Act(Adopt, "Coverage above 80% with the flexible format.", "Keep; report to the network.") },
        ],
    },
    RampSpec {
        program: SCHUYLKILL,
        ideas: &[TRACKER],
        secondary: &[S_APPLICATION],
        measures: &[M_APPLICATIONS],
        who: "The college access coordinator with seniors, in the Saturday session.",
        data: "The coordinator counts seniors whose tracker shows a college list, an essay draft and a FAFSA date.",
        cycles: &[
            CycleSpec { title: "Paper milestone tracker with five seniors", purpose: Develop, scale: "one coordinator, five seniors, three weeks", start: (2025, 5, 5), days: 21, objective: "Develop a tracker seniors understand and keep up to date.", questions: &[("Will seniors fill in the tracker without help?", "Three of five will.", "The milestones are unfamiliar."), ("Which milestone is most often missing?", "The recommendation letter.", "Teachers are asked late.")], as_planned: true, happened: "Four of five filled it in; all five lacked a FAFSA date.", surprise: "Seniors did not know the FAFSA opens in October.", results: &[("Four of five filled it in.", Yes, "The format is clear."), ("The FAFSA date was missing for all five.", No, "Financial aid is the real gap.")], summary: "The tracker is usable; it must explain financial-aid dates.", end: End::Act(Adapt, "The tracker works but missed the biggest gap.", "Add a FAFSA explainer and try with the whole senior group.") },
            CycleSpec { title: "Tracker with FAFSA explainer for all seniors", purpose: Test, scale: "all 14 seniors, four weeks", start: (2025, 6, 9), days: 28, objective: "Test whether all seniors set milestone dates including the FAFSA.", questions: &[("Will every senior set a FAFSA date?", "12 of 14 will.", "The explainer answers their questions.")], as_planned: true, happened: "11 of 14 set all dates.", surprise: "Three seniors wanted families involved before committing to dates.", results: &[("11 of 14 set every date.", Partly, "Families need to be part of it.")], summary: "Most seniors set dates; families matter.", end: End::Act(Adapt, "Families shape the decisions.", "Send the tracker home and review it monthly with staff.") },
            CycleSpec { title: "Monthly tracker review with families", purpose: Test, scale: "all seniors and their families, six weeks", start: (2025, 7, 21), days: 42, objective: "See whether a monthly review that includes families keeps milestones on time.", questions: &[("Will seniors meet the August milestones?", "Most will.", "Families now know the dates."), ("Will families take part?", "Half will.", "Summer schedules vary.")], as_planned: true, happened: "Monthly reviews ran; 9 families joined at least one.", surprise: "", results: &[("12 of 15 met the August milestones.", Yes, "The review keeps momentum."), ("9 of 15 families took part.", Yes, "Text invitations worked.")], summary: "Monthly reviews with families keep seniors on time.", end: End::Act(Adopt, "Milestones met on time with family involvement.", "Run it for the whole application season.") },
            CycleSpec { title: "The tracker through application season", purpose: Implement, scale: "whole program, September to December", start: (2025, 9, 22), days: 90, objective: "Implement the tracker for the full application season and see the share of seniors with a plan climb.", questions: &[("Will 70% of seniors have a complete plan by December?", "Yes.", "The summer cohort reached 80%.")], as_planned: true, happened: "The tracker ran all season; 73% had complete plans by December.", surprise: "Two other programs asked for the template.", results: &[("73% had complete plans.", Yes, "The tracker scales.")], summary: "Implemented; ready to spread.", end: End::Act(Adopt, "Sustained through a full season.", "Offer the template to the network.") },
        ],
    },
    RampSpec {
        program: WATTS,
        ideas: &[TEXT_REMINDERS],
        secondary: &[S_MENTORING],
        measures: &[M_ATTRITION],
        who: "The program manager, from the program's texting account.",
        data: "The manager counts attendance per session from the sign-in sheet.",
        cycles: &[
            CycleSpec { title: "Text reminders before Saturday sessions", purpose: Test, scale: "one class, 22 students, three weeks", start: (2024, 12, 2), days: 21, objective: "Test whether a text the evening before raises Saturday attendance.", questions: &[("Will attendance rise by 10 points?", "Yes.", "Students say they forget.")], as_planned: true, happened: "Attendance went from 71% to 74%.", surprise: "Several students said they already had the session in their calendar.", results: &[("Attendance rose 3 points.", No, "Forgetting is not the main reason for absence.")], summary: "Little effect; absence has other causes.", end: End::Act(Adapt, "The effect was small; try personal messages from mentors.", "Mentors send the reminder, by name.") },
            CycleSpec { title: "Reminders from mentors by name", purpose: Test, scale: "two classes, 40 students, four weeks", start: (2025, 1, 13), days: 28, objective: "See whether a personal reminder from a mentor does better.", questions: &[("Will attendance rise by 10 points?", "Yes.", "A personal message carries weight.")], as_planned: true, happened: "Attendance stayed at 72%.", surprise: "Students who missed sessions were working or caring for siblings.", results: &[("No change.", No, "Reminders do not address why students miss sessions.")], summary: "Reminders do not move attendance; jobs and family care do.", end: End::Act(ActDecision::Abandon, "Two cycles showed no effect; the causes of absence lie elsewhere.", "Stop; bring what we learned about jobs and care to the network.") },
        ],
    },
    RampSpec {
        program: HILL_DISTRICT,
        ideas: &[PODCAST],
        secondary: &[S_MENTORING],
        measures: &[M_OUTCOME],
        who: "The program director with all staff, in the monthly staff meeting.",
        data: "A five-item staff survey before and after; the facilitator's notes.",
        cycles: &[
            CycleSpec { title: "Podcast discussion with the staff team", purpose: CollectInformation, scale: "eight staff, one meeting", start: (2025, 2, 3), days: 28, objective: "Learn whether staff are ready to discuss racism in STEM using a podcast episode and a protocol.", questions: &[("Will staff feel more prepared to respond to students?", "Yes, most will.", "The episode gives concrete language."), ("Will the protocol keep the talk focused?", "Yes.", "It has timed rounds.")], as_planned: true, happened: "All eight staff listened and discussed for 50 minutes.", surprise: "Staff wanted a second session on what to say to students.", results: &[("5 of 8 said they felt more prepared.", Partly, "One session raises awareness, not skill."), ("The protocol kept the talk focused.", Yes, "Timed rounds work.")], summary: "Staff are ready; they want practice responding to students.", end: End::Act(Adapt, "Awareness rose; skills need practice.", "Add role-play of student questions.") },
            CycleSpec { title: "Podcast discussion with role-play", purpose: Test, scale: "eight staff, two meetings", start: (2025, 3, 17), days: 35, objective: "Test whether adding role-play builds staff confidence to respond.", questions: &[("Will 7 of 8 staff feel prepared?", "Yes.", "Practice builds confidence.")], as_planned: true, happened: "Two sessions ran with role-play.", surprise: "", results: &[("8 of 8 felt prepared.", Yes, "Practice works.")], summary: "The routine with role-play prepares staff.", end: End::Act(Adopt, "Every staff member felt prepared.", "Run it before each student season; share the protocol.") },
        ],
    },
    RampSpec {
        program: PILSEN,
        ideas: &[FAMILY_NIGHTS],
        secondary: &[S_FAMILY],
        measures: &[M_FAMILY],
        who: "The family engagement lead and a financial-aid counsellor from the partner university.",
        data: "Sign-in sheets count family members attending; a three-question exit card.",
        cycles: &[
            CycleSpec { title: "First family STEM night", purpose: Test, scale: "one evening, families of one cohort", start: (2025, 8, 11), days: 14, objective: "Test whether families come to an evening event with students' work and a financial-aid walkthrough.", questions: &[("Will 20 family members attend?", "Yes.", "Families asked for evening events.")], as_planned: false, happened: "The event was cancelled.", surprise: "The community room was double-booked.", results: &[], summary: "", end: End::Abandon("The venue fell through a week before; we will reschedule with families choosing the date.") },
            CycleSpec { title: "Family night on a date families chose", purpose: Test, scale: "one evening, families of one cohort", start: (2025, 10, 6), days: 30, objective: "Test whether letting families choose the date raises attendance.", questions: &[("Will 20 family members attend?", "Yes, about 25.", "Families picked the date."), ("Will families leave knowing one aid option?", "Most will.", "The counsellor walks through the FAFSA.")], as_planned: true, happened: "31 family members attended.", surprise: "Families asked for the session in Spanish.", results: &[("31 attended.", Yes, "Choosing the date matters."), ("22 of 26 exit cards named an aid option.", Yes, "The walkthrough lands.")], summary: "Families come when they choose the date; they want Spanish sessions.", end: End::Act(Adapt, "Attendance was strong; language matters.", "Hold the walkthrough in Spanish and English.") },
            CycleSpec { title: "Bilingual family night", purpose: Implement, scale: "all cohorts, one evening each term", start: (2025, 11, 17), days: 45, objective: "Make family nights bilingual and hold them each term.", questions: &[("Will attendance stay above 25?", "Yes.", "Families asked for it.")], as_planned: true, happened: "38 family members attended.", surprise: "", results: &[("38 attended.", Yes, "Bilingual sessions widen reach.")], summary: "Family nights are part of the program now.", end: End::Act(Adopt, "Strong attendance twice.", "Hold every term; share with the Chicago ecosystem.") },
        ],
    },
    RampSpec {
        program: BOYLE_HEIGHTS,
        ideas: &[POSTERS],
        secondary: &[S_RESEARCH, S_APPLICATION],
        measures: &[M_APPLICATIONS, M_OUTCOME],
        who: "The lead instructor with the physics students, in the last weeks of the session.",
        data: "The instructor counts students with a finished poster and abstract; a rubric scores the abstracts.",
        cycles: &[
            CycleSpec { title: "Admissions-ready abstracts with a rubric", purpose: Develop, scale: "one class, 12 students, four weeks", start: (2025, 10, 6), days: 28, objective: "Develop an abstract format an admissions reader understands.", questions: &[("Will students write a 150-word abstract?", "Yes, all 12.", "They already write lab reports.")], as_planned: true, happened: "10 of 12 finished an abstract.", surprise: "Students wrote for physicists, not for admissions readers.", results: &[("10 of 12 finished.", Partly, "The audience needs to be explicit.")], summary: "Abstracts need an audience prompt.", end: End::Act(Adapt, "Abstracts missed their audience.", "Have an admissions officer review drafts.") },
            CycleSpec { title: "Abstracts reviewed by an admissions officer", purpose: Test, scale: "two classes, 24 students, six weeks", start: (2025, 11, 17), days: 42, objective: "Test whether feedback from an admissions officer makes abstracts usable in applications.", questions: &[("Will the officer rate most abstracts usable?", "Yes.", "Feedback targets the reader.")], as_planned: true, happened: "The officer reviewed 22 abstracts.", surprise: "The officer asked for posters at the showcase too.", results: &[("19 of 22 rated usable.", Yes, "Reader feedback works.")], summary: "Admissions feedback makes abstracts usable.", end: End::Act(Adopt, "Most abstracts were usable.", "Add posters at the showcase; extend to all classes.") },
            CycleSpec { title: "Posters and abstracts for every student", purpose: Implement, scale: "whole program, eight weeks", start: (2026, 2, 2), days: 60, objective: "Every student leaves with a poster and an abstract for applications.", questions: &[("Will 90% of students finish both?", "Yes.", "The format is settled.")], as_planned: true, happened: "56 of 60 finished both.", surprise: "", results: &[("93% finished.", Yes, "It is routine now.")], summary: "Implemented across the program.", end: End::Act(Adopt, "Nearly every student finished.", "Keep; share the template.") },
        ],
    },
    RampSpec {
        program: NORTH_PHILLY,
        ideas: &[ADMISSIONS_VISITS],
        secondary: &[S_ADMISSIONS],
        measures: &[M_OUTCOME],
        who: "The program director invites officers from two partner universities.",
        data: "Count of officers attending; a short survey of officers after the showcase.",
        cycles: &[
            CycleSpec { title: "Two admissions officers at the spring showcase", purpose: Test, scale: "one showcase, two officers", start: (2026, 3, 2), days: 45, objective: "Test whether officers attend and find the showcase useful.", questions: &[("Will both officers attend?", "Yes.", "They accepted the invitation."), ("Will they say it helps them read applications?", "Yes.", "They see the work first-hand.")], as_planned: true, happened: "One officer attended; the other sent a colleague.", surprise: "The officers wanted a one-page program description.", results: &[("Two attended, one a substitute.", Partly, "Invite early and invite a team."), ("Both said it helped.", Yes, "Seeing students present matters.")], summary: "Officers value the showcase; they need a program description.", end: End::Act(Adapt, "Useful, but officers need context.", "Bring a one-page program profile and invite four offices.") },
            CycleSpec { title: "Showcase with program profiles and four offices", purpose: Test, scale: "one showcase, four admissions offices", start: (2026, 8, 31), days: 35, objective: "Test whether a program profile helps officers read applications that mention the program.", questions: &[("Will three of four offices attend?", "Yes.", "Invited in the spring."), ("Will officers use the profile?", "Yes.", "They asked for it.")], as_planned: true, happened: "Three offices attended and took profiles.", surprise: "One office asked to list the program in its reader guide.", results: &[("Three of four attended.", Yes, "Early invitations work."), ("Officers took the profiles; use is not yet known.", Partly, "We will know after the reading season.")], summary: "Promising; we will know more after the reading season.", end: End::Studying },
        ],
    },
    RampSpec {
        program: LAKEFRONT,
        ideas: &[ALUMNI_PANELS],
        secondary: &[S_MENTORING],
        measures: &[M_OUTCOME],
        who: "The internship coordinator with two or three alumni now in college.",
        data: "A short student survey on sense of belonging after each panel.",
        cycles: &[
            CycleSpec { title: "One near-peer panel on choosing a major", purpose: Test, scale: "one panel, three alumni, 20 interns", start: (2026, 3, 9), days: 30, objective: "Test whether hearing from alumni a year or two ahead raises interns' sense of belonging.", questions: &[("Will belonging scores rise?", "Yes, a little.", "Near-peers are relatable.")], as_planned: true, happened: "The panel ran; 18 interns answered the survey.", surprise: "Interns asked most about switching majors.", results: &[("Belonging rose from 3.1 to 3.6 of 5.", Yes, "Near-peers matter.")], summary: "Near-peer panels raise belonging.", end: End::Act(Adapt, "It worked; interns want more on switching majors.", "A second panel with alumni who switched into STEM.") },
            CycleSpec { title: "Panels with alumni who switched into STEM", purpose: Test, scale: "two panels, 40 interns", start: (2026, 9, 21), days: 60, objective: "Test whether stories of switching into STEM keep interns considering STEM majors.", questions: &[("Will more interns say they will apply to a STEM major?", "Yes.", "Switching stories lower the stakes.")], as_planned: true, happened: "", surprise: "", results: &[], summary: "", end: End::Doing },
        ],
    },
    RampSpec {
        program: SAN_GABRIEL,
        ideas: &[CHECKINS],
        secondary: &[S_MENTORING],
        measures: &[M_CHECKINS],
        who: "The director and the JPL volunteer mentors.",
        data: "Mentors log check-ins.",
        cycles: &[
            CycleSpec { title: "Starting mentor check-ins", purpose: Test, scale: "four mentors, 16 students", start: (2026, 10, 26), days: 28, objective: "Try the network's check-in routine with our volunteer mentors.", questions: &[("Will volunteers keep to the schedule?", "", ""), ("Will students find it useful?", "", "")], as_planned: true, happened: "", surprise: "", results: &[], summary: "", end: End::Planned },
        ],
    },
    RampSpec {
        program: DELAWARE_VALLEY,
        ideas: &[PORTFOLIO],
        secondary: &[S_QUALITY],
        measures: &[M_OUTCOME],
        who: "The program director and the hub's improvement coach.",
        data: "The coach counts standards with at least two pieces of current evidence.",
        cycles: &[
            CycleSpec { title: "Portfolio for two standards", purpose: Develop, scale: "two standards, one term", start: (2025, 12, 1), days: 30, objective: "Develop a portfolio format for standards S3 and S5.", questions: &[("Can we find two pieces of evidence per standard in the ledger?", "Yes.", "We have cycles and run charts.")], as_planned: true, happened: "Evidence found for S5; S3 had only documents.", surprise: "", results: &[("One of two standards had ledger evidence.", Partly, "We need cycles on mentoring.")], summary: "The format works where we have tested changes.", end: End::Act(Adapt, "Evidence gaps show where to test next.", "Cover all five standards.") },
            CycleSpec { title: "Portfolio for all five standards", purpose: Test, scale: "five standards, one term", start: (2026, 2, 2), days: 45, objective: "Test the portfolio across all five standards.", questions: &[("Will every standard have current evidence?", "Four of five.", "S1 has little.")], as_planned: true, happened: "Four standards had evidence.", surprise: "Staff found the portfolio useful for their own planning.", results: &[("Four of five.", Yes, "S1 needs work.")], summary: "Nearly complete; S1 is the gap.", end: End::Act(Adapt, "S1 needs evidence.", "Add attrition data for S1 and review each term.") },
            CycleSpec { title: "Termly portfolio review", purpose: Implement, scale: "whole program, one term", start: (2026, 4, 6), days: 60, objective: "Make the portfolio review a termly routine.", questions: &[("Will the review take under two hours?", "Yes.", "The format is settled.")], as_planned: true, happened: "The review took 90 minutes.", surprise: "", results: &[("90 minutes.", Yes, "Sustainable.")], summary: "A sustainable routine.", end: End::Act(Adopt, "Works and is sustainable.", "Keep each term; offer to the network for accreditation.") },
        ],
    },
    RampSpec {
        program: ALLEGHENY,
        ideas: &[CHECKINS],
        secondary: &[S_MENTORING],
        measures: &[M_CHECKINS],
        who: "The coordinator and field-station mentors.",
        data: "Paper check-in cards, counted monthly.",
        cycles: &[
            CycleSpec { title: "Check-ins at the field station", purpose: Implement, scale: "whole program, one month", start: (2025, 7, 14), days: 30, objective: "Implement the network's check-in routine during the summer field season.", questions: &[("Will 80% of students have a check-in?", "Yes.", "The routine is proven elsewhere.")], as_planned: true, happened: "84% had a check-in.", surprise: "", results: &[("84%.", Yes, "The routine transfers.")], summary: "The routine transfers to a field setting.", end: End::Act(Adopt, "Met the target in the first month.", "Carry it into the school-year program.") },
            CycleSpec { title: "Check-ins in the school-year program", purpose: Implement, scale: "whole program, one month of Saturday sessions", start: (2025, 9, 15), days: 30, objective: "Keep the check-ins going when students come only on Saturdays.", questions: &[("Will 80% of students still have a monthly check-in?", "Yes, a little lower than summer.", "Saturdays leave less time.")], as_planned: true, happened: "78% had a check-in; mentors moved some to short phone calls.", surprise: "Phone check-ins worked as well as in person.", results: &[("78%.", Partly, "Allow phone check-ins on short Saturdays.")], summary: "The routine holds through the school year with phone check-ins allowed.", end: End::Act(Adopt, "Close to target and sustainable.", "Keep, with phone check-ins allowed.") },
        ],
    },
];

/// Dates of one cycle's steps.
#[derive(Clone, Copy)]
struct CycleDates {
    plan: NaiveDate,
    start: NaiveDate,
    end: NaiveDate,
    study: NaiveDate,
    act: NaiveDate,
}

fn cycle_dates(spec: &CycleSpec) -> CycleDates {
    let (y, m, d) = spec.start;
    let start = date(y, m, d);
    let end = start + chrono::Days::new(spec.days as u64);
    CycleDates {
        plan: start - chrono::Days::new(7),
        start,
        end,
        study: end + chrono::Days::new(2),
        act: end + chrono::Days::new(4),
    }
}

fn at(day: NaiveDate, hour: u32) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(hour, 0, 0).expect("a valid hour").and_utc()
}

impl World {
    fn plan_cycle(
        &mut self,
        ramp: &RampSpec,
        spec: &CycleSpec,
        id: Uuid,
        previous: Option<Uuid>,
    ) -> anyhow::Result<()> {
        let dates = cycle_dates(spec);
        let measure_ids: Vec<Uuid> = ramp
            .measures
            .iter()
            .map(|m| self.ids.measures[*m])
            .collect();
        let cmd = PlanCycle {
            title: title(spec.title),
            change_idea_ids: ramp.ideas.iter().map(|i| self.ids.ideas[*i]).collect(),
            driver_ids: ramp
                .secondary
                .iter()
                .map(|s| self.ids.secondary[*s])
                .collect(),
            previous_cycle_id: previous,
            adapted_from_cycle_id: None,
            purpose: spec.purpose,
            scale: title(spec.scale),
            planned_start: dates.start,
            planned_end: dates.end,
            plan: Plan {
                objective: t(spec.objective),
                questions: spec
                    .questions
                    .iter()
                    .map(|(q, p, r)| Question {
                        question: t(q),
                        prediction: t(p),
                        reason: t(r),
                    })
                    .collect(),
                who_what_when_where: t(ramp.who),
                tasks: vec![
                    title("Brief everyone taking part"),
                    title("Collect the data as planned"),
                    title("Hold the study meeting within a week of the end"),
                ],
                measure_ids,
                data_collection_plan: t(ramp.data),
            },
        };
        let prev_state = previous.map(|p| self.cycle(p));
        let program = self.program(ramp.program).clone();
        let d = cycle::plan(
            &CycleState::new(id),
            PlanContext {
                program: &program,
                network: &self.network,
                previous: prev_state.as_ref(),
                adapted_from: None,
                known_measures: &self.known_measures(),
            },
            cmd,
        );
        let events = ok(d, "cycle plan")?;
        self.emit("pdsa", id, events);
        self.cycle_order.push(id);
        Ok(())
    }

    fn cycle_cmd(
        &mut self,
        id: Uuid,
        what: &str,
        decide: impl FnOnce(&CycleState) -> Decision,
    ) -> anyhow::Result<()> {
        let state = self.cycle(id);
        let events = ok(decide(&state), what)?;
        self.emit("pdsa", id, events);
        Ok(())
    }

    fn study_of(spec: &CycleSpec) -> Study {
        Study {
            results: spec
                .results
                .iter()
                .enumerate()
                .map(|(i, (result, held, learned))| QuestionResult {
                    question_index: i as u32,
                    result: t(result),
                    prediction_held: *held,
                    learned: t(learned),
                })
                .collect(),
            summary: t(spec.summary),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Syntheses
// ---------------------------------------------------------------------------------------------

struct SynthesisSpec {
    date: (i32, u32, u32),
    title: &'static str,
    statement: &'static str,
    recommendation: &'static str,
    /// The ramps whose closed cycles it cites.
    ramps: &'static [usize],
    measures: &'static [usize],
    ideas: &'static [usize],
    secondary: &'static [usize],
    primary: &'static [usize],
}

const SYNTHESES: &[SynthesisSpec] = &[
    SynthesisSpec { date: (2025, 3, 10), title: "Text reminders do not bring students back", statement: "Two cycles at Watts Coding Academy found reminders, even personal ones, did not raise attendance: students miss sessions for jobs and family care, not because they forget.", recommendation: "Do not spread text reminders. Look at the timing and pay of programs (see the declined stipend idea and the root causes on cost).", ramps: &[R_WATTS], measures: &[M_ATTRITION], ideas: &[TEXT_REMINDERS], secondary: &[S_MENTORING], primary: &[] },
    SynthesisSpec { date: (2025, 6, 9), title: "A staff routine on racism in STEM prepares mentors", statement: "A podcast episode, a discussion protocol and role-play left every staff member at Hill District Young Engineers feeling prepared to respond when students raise racism in STEM.", recommendation: "Run the routine before each student season; the protocol is in the network library.", ramps: &[R_HILL], measures: &[], ideas: &[PODCAST], secondary: &[S_MENTORING], primary: &[P_IDENTITY] },
    SynthesisSpec { date: (2025, 6, 23), title: "Structured mentor check-ins reach nearly every student", statement: "At Three Rivers and South Side, a 15-minute, three-question check-in every other week reached over 80% of students each month, with flexible slots for remote fellows, no real rise in mentor hours and no change in attrition.", recommendation: "Spread the check-in routine to every program from July 2025; freeze the check-in measure's baseline on the months before.", ramps: &[R_THREE_RIVERS, R_SOUTH_SIDE], measures: &[M_CHECKINS, M_ATTRITION], ideas: &[CHECKINS], secondary: &[S_MENTORING], primary: &[P_IDENTITY] },
    SynthesisSpec { date: (2026, 2, 16), title: "An application milestone tracker moves plans earlier", statement: "Schuylkill Biomedical Pathways' tracker, reviewed monthly with families, raised the share of seniors with a complete application plan month after month; the network-wide run chart shows a trend as programs took it up.", recommendation: "Use the tracker in every program from March 2026 and start a new run-chart phase there.", ramps: &[R_SCHUYLKILL], measures: &[M_APPLICATIONS], ideas: &[TRACKER], secondary: &[S_APPLICATION, S_FAMILY], primary: &[P_PATHWAY] },
    SynthesisSpec { date: (2026, 4, 27), title: "Family nights work when families choose the date and the language", statement: "Pilsen Health Careers Program's family nights drew 31 and then 38 family members once families chose the date and the session ran in Spanish and English; the first attempt was abandoned for want of a room.", recommendation: "Hold family nights each term, bilingual where families ask; book the room with the families' date.", ramps: &[R_PILSEN], measures: &[M_FAMILY], ideas: &[FAMILY_NIGHTS], secondary: &[S_FAMILY], primary: &[] },
    SynthesisSpec { date: (2026, 7, 13), title: "Posters, abstracts and portfolios give admissions readers evidence", statement: "Abstracts reviewed by an admissions officer were rated usable, and a standards portfolio makes program quality visible; together they are the evidence admissions offices said they lacked.", recommendation: "Every program produces posters and abstracts and keeps a standards portfolio; bring both to admissions partners.", ramps: &[R_BOYLE, R_DELAWARE], measures: &[M_OUTCOME], ideas: &[POSTERS, PORTFOLIO], secondary: &[S_RESEARCH, S_QUALITY], primary: &[P_RECOGNITION] },
];

// ---------------------------------------------------------------------------------------------
// The story, in date order
// ---------------------------------------------------------------------------------------------

type Step = Box<dyn FnOnce(&mut World) -> anyhow::Result<()>>;

/// The story's steps, each on its day, in the order they were written.
#[derive(Default)]
struct Story(Vec<(NaiveDate, Step)>);

impl Story {
    /// Adds `step` on `day`, after the steps already written for that day.
    fn on(&mut self, day: NaiveDate, step: Step) {
        self.0.push((day, step));
    }

    /// Runs the story in date order (steps of one day in the order they were written).
    fn run(mut self, w: &mut World) -> anyhow::Result<()> {
        self.0.sort_by_key(|(d, _)| *d);
        for (day, step) in self.0 {
            w.day = day;
            step(w)?;
        }
        Ok(())
    }
}

/// Builds the whole sample in memory, deciding every event through the domain.
pub(crate) fn build(seed: u64) -> anyhow::Result<World> {
    let mut w = world(seed);
    let mut s = Story::default();
    founding(&mut s);
    data(&mut s);
    first_ideas(&mut s);
    check_ins_spread(&mut s);
    pathway_ideas(&mut s);
    diagram_matures(&mut s);
    ramps(&mut w, &mut s)?;
    syntheses(&mut s);
    annual_self_assessments(&mut s);
    s.run(&mut w)?;
    Ok(w)
}

/// A world with every entity's id drawn and every program's model, before any event.
fn world(seed: u64) -> World {
    let mut idgen = IdGen { seed, counter: 0 };
    let ids = Ids {
        network: idgen.next(),
        ecosystems: idgen.many(),
        programs: idgen.many(),
        primary: idgen.many(),
        secondary: idgen.many(),
        ideas: idgen.many(),
        standards: idgen.many(),
        measures: idgen.many(),
    };
    let mut rng = Rng(seed ^ 0x5EED_D3E0_0000_0001);
    let models = (0..PROGRAMS.len())
        .map(|pi| {
            let size = rng.int(18, 40);
            ProgramModel {
                size,
                seniors: (size * 4 / 10).max(6),
                alumni: rng.int(5, 10),
                outcome_offset: rng.range(-0.05, 0.05),
                checkin_base: rng.range(0.48, 0.62),
                checkin_lift: rng.range(0.18, 0.26),
                checkin_from: match pi {
                    THREE_RIVERS => 5,
                    SOUTH_SIDE => 6,
                    ALLEGHENY => 9,
                    _ => rng.int(9, 11) as usize,
                },
                plan_base: rng.range(0.22, 0.36),
                tracker_from: match pi {
                    SCHUYLKILL => 7,
                    _ => rng.int(8, 10) as usize,
                },
                family_base: rng.range(8.0, 30.0),
                family_from: match pi {
                    PILSEN => Some(13),
                    HILL_DISTRICT | LAKEFRONT => Some(16),
                    _ => None,
                },
                attrition: rng.range(0.03, 0.08),
            }
        })
        .collect();
    let mut w = World {
        ids,
        idgen,
        rng,
        models,
        network: NetworkState::new(Uuid::nil()),
        programs: BTreeMap::new(),
        measures: BTreeMap::new(),
        cycles: BTreeMap::new(),
        cycle_order: Vec::new(),
        syntheses: BTreeMap::new(),
        points: BTreeMap::new(),
        log: Vec::new(),
        days: Vec::new(),
        day: NaiveDate::MIN,
    };
    w.network = NetworkState::new(w.ids.network);
    w
}

/// Summer 2024: the charter, the root cause analysis, the aim, the theory of improvement.
fn founding(s: &mut Story) {
    s.on(date(2024, 6, 3), Box::new(charter));
    s.on(date(2024, 8, 1), Box::new(enrol));
    s.on(date(2024, 8, 19), Box::new(diagram));
    s.on(date(2024, 9, 9), Box::new(define_measures));
    s.on(
        date(2024, 10, 21),
        Box::new(|w| w.self_assess_all(date(2024, 10, 21), true)),
    );
}

/// Two years of monthly data, recorded on the fifth of the next month, and their upkeep.
fn data(s: &mut Story) {
    for m in 0..MONTHS {
        s.on(
            month_start(m + 1) + chrono::Days::new(4),
            Box::new(move |w| w.record_month(m)),
        );
    }
    s.on(
        date(2025, 4, 8),
        Box::new(|w| {
            w.correct(M_CHECKINS, THREE_RIVERS, 4, "The February roster still counted six students who had withdrawn in January; the denominator is re-counted from the roster.")
        }),
    );
    s.on(
        date(2025, 5, 12),
        Box::new(|w| {
            let point = w.points[&(M_CHECKINS, BOYLE_HEIGHTS, 6)];
            let d = measure::exclude_point(w.measure(M_CHECKINS), point, ExcludeDataPoint { reason: t("The Boyle Heights site was closed for three weeks after flooding; mentors could not meet students, so the month is not comparable.") });
            w.measure_cmd(M_CHECKINS, "exclusion", d)
        }),
    );
    s.on(
        date(2025, 7, 1),
        Box::new(|w| {
            let d = measure::freeze_baseline(w.measure(M_CHECKINS), FreezeBaseline { points: 8, reason: t("The median is frozen on the eight months (October 2024 to May 2025) before the check-in routine spread, so the run chart judges the change against where we started.") });
            w.measure_cmd(M_CHECKINS, "baseline", d)
        }),
    );
    s.on(
        date(2025, 9, 15),
        Box::new(|w| {
            w.correct(M_OUTCOME, WATTS, 10, "A typing slip: an extra digit was entered in the denominator (alumni whose enrolment was confirmed).")
        }),
    );
    s.on(
        date(2025, 12, 10),
        Box::new(|w| {
            w.correct(
                M_FAMILY,
                PILSEN,
                13,
                "An extra digit: the sign-in sheets count a tenth of the value entered.",
            )
        }),
    );
    s.on(
        date(2026, 3, 2),
        Box::new(|w| {
            let d = measure::start_phase(w.measure(M_APPLICATIONS), StartPhase { from_period: "2026-03".parse().expect("a month label"), label: title("Tracker in every program"), reason: t("From March 2026 every program uses the application milestone tracker; the run chart starts a new phase to judge the new level.") });
            w.measure_cmd(M_APPLICATIONS, "phase", d)
        }),
    );
}

/// The driver diagram, October 2024 to March 2025: reminders tried and retired, stipends declined.
fn first_ideas(s: &mut Story) {
    s.on(
        date(2024, 10, 14),
        Box::new(|w| {
            w.propose(TEXT_REMINDERS)?;
            w.accept(
                TEXT_REMINDERS,
                "Cheap to test; the hub suggests Watts tries it.",
            )
        }),
    );
    s.on(
        date(2024, 11, 25),
        Box::new(|w| {
            w.stage(
                TEXT_REMINDERS,
                ChangeIdeaStage::Testing,
                "Watts Coding Academy plans a first cycle.",
            )
        }),
    );
    s.on(date(2024, 12, 9), Box::new(|w| w.propose(PODCAST)));
    s.on(
        date(2025, 1, 6),
        Box::new(|w| {
            w.accept(
                PODCAST,
                "Several programs asked for help talking about racism in STEM.",
            )?;
            w.stage(
                CHECKINS,
                ChangeIdeaStage::Testing,
                "Three Rivers starts a ramp of cycles.",
            )
        }),
    );
    s.on(
        date(2025, 1, 27),
        Box::new(|w| {
            w.stage(
                PODCAST,
                ChangeIdeaStage::Testing,
                "Hill District tests it with its staff.",
            )
        }),
    );
    s.on(date(2025, 2, 10), Box::new(|w| w.propose(STIPENDS)));
    s.on(
        date(2025, 2, 24),
        Box::new(|w| {
            let d = network::decline_change_idea(&w.network, w.ids.ideas[STIPENDS], DeclineChangeIdea { reason: t("Stipends are a funding decision, not a change the network can test in PDSA cycles; the hub refers it to the funders' working group.") });
            w.network_cmd("decline", d)?;
            w.stage(
                TEXT_REMINDERS,
                ChangeIdeaStage::Abandoned,
                "Two cycles at Watts showed no effect on attendance.",
            )
        }),
    );
    s.on(
        date(2025, 3, 17),
        Box::new(|w| {
            let d = network::retire_node(&w.network, w.ids.ideas[TEXT_REMINDERS], RetireNode { reason: t("Abandoned after testing; kept on record with the synthesis on why students miss sessions.") });
            w.network_cmd("retirement", d)
        }),
    );
}

/// The driver diagram, April to August 2025: the tracker, and check-ins spread to every program.
fn check_ins_spread(s: &mut Story) {
    s.on(date(2025, 4, 7), Box::new(|w| w.propose(TRACKER)));
    s.on(
        date(2025, 4, 21),
        Box::new(|w| w.accept(TRACKER, "Fits the pathway driver; Schuylkill will test it.")),
    );
    s.on(
        date(2025, 4, 28),
        Box::new(|w| {
            w.stage(
                TRACKER,
                ChangeIdeaStage::Testing,
                "Schuylkill plans a ramp.",
            )
        }),
    );
    s.on(
        date(2025, 5, 5),
        Box::new(|w| {
            w.stage(
                PODCAST,
                ChangeIdeaStage::Implementing,
                "Hill District adopted the routine.",
            )
        }),
    );
    s.on(
        date(2025, 6, 2),
        Box::new(|w| {
            w.stage(
                CHECKINS,
                ChangeIdeaStage::Implementing,
                "Adopted at Three Rivers and South Side.",
            )
        }),
    );
    s.on(
        date(2025, 6, 30),
        Box::new(|w| {
            w.stage(
                CHECKINS,
                ChangeIdeaStage::Spreading,
                "The hub spreads the routine to every program from July.",
            )
        }),
    );
    s.on(date(2025, 7, 7), Box::new(|w| w.propose(FAMILY_NIGHTS)));
    s.on(
        date(2025, 7, 21),
        Box::new(|w| {
            w.accept(
                FAMILY_NIGHTS,
                "Serves family engagement, where we had no tested change.",
            )
        }),
    );
    s.on(
        date(2025, 8, 4),
        Box::new(|w| {
            w.stage(
                FAMILY_NIGHTS,
                ChangeIdeaStage::Testing,
                "Pilsen plans a first family night.",
            )
        }),
    );
}

/// The driver diagram, September 2025 to January 2026: portfolio, posters, admissions, alumni.
fn pathway_ideas(s: &mut Story) {
    s.on(
        date(2025, 9, 1),
        Box::new(|w| {
            w.propose(PORTFOLIO)?;
            w.accept(PORTFOLIO, "Needed for accreditation with Middle States.")
        }),
    );
    s.on(date(2025, 9, 8), Box::new(|w| w.propose(POSTERS)));
    s.on(
        date(2025, 9, 15),
        Box::new(|w| {
            w.stage(
                TRACKER,
                ChangeIdeaStage::Implementing,
                "Schuylkill adopted the tracker.",
            )
        }),
    );
    s.on(
        date(2025, 9, 22),
        Box::new(|w| {
            w.accept(POSTERS, "Serves research and admissions evidence.")?;
            w.stage(
                POSTERS,
                ChangeIdeaStage::Testing,
                "Boyle Heights plans a ramp.",
            )
        }),
    );
    s.on(
        date(2025, 11, 3),
        Box::new(|w| {
            w.stage(
                TRACKER,
                ChangeIdeaStage::Spreading,
                "Other programs take up the template.",
            )
        }),
    );
    s.on(
        date(2025, 11, 24),
        Box::new(|w| {
            w.stage(
                PORTFOLIO,
                ChangeIdeaStage::Testing,
                "Delaware Valley tests the format.",
            )
        }),
    );
    s.on(
        date(2025, 12, 1),
        Box::new(|w| {
            w.propose(ADMISSIONS_VISITS)?;
            w.accept(ADMISSIONS_VISITS, "Partner universities offered officers.")
        }),
    );
    s.on(
        date(2026, 1, 12),
        Box::new(|w| {
            w.propose(ALUMNI_PANELS)?;
            w.stage(
                FAMILY_NIGHTS,
                ChangeIdeaStage::Implementing,
                "Pilsen adopted bilingual family nights.",
            )
        }),
    );
    s.on(
        date(2026, 1, 26),
        Box::new(|w| w.accept(ALUMNI_PANELS, "Serves belonging; Lakefront will test it.")),
    );
}

/// The driver diagram, February to October 2026: rewording, a new link, the last ideas.
fn diagram_matures(s: &mut Story) {
    s.on(
        date(2026, 2, 9),
        Box::new(|w| {
            let d = network::reword_node(&w.network, w.ids.ideas[ALUMNI_PANELS], RewordNode { title: title("Near-peer alumni panels on choosing a STEM major"), definition: t("Alumni one or two years into college talk with current students about choosing, and switching into, a STEM major."), reason: t("The hub and Lakefront sharpened the idea: near-peers, and the choice of major.") });
            w.network_cmd("rewording", d)
        }),
    );
    s.on(
        date(2026, 2, 23),
        Box::new(|w| {
            w.stage(
                ADMISSIONS_VISITS,
                ChangeIdeaStage::Testing,
                "North Philly invites officers to the spring showcase.",
            )
        }),
    );
    s.on(
        date(2026, 3, 2),
        Box::new(|w| {
            w.stage(
                ALUMNI_PANELS,
                ChangeIdeaStage::Testing,
                "Lakefront plans a first panel.",
            )
        }),
    );
    s.on(
        date(2026, 4, 13),
        Box::new(|w| {
            w.stage(
                POSTERS,
                ChangeIdeaStage::Implementing,
                "Boyle Heights adopted posters and abstracts for every student.",
            )
        }),
    );
    s.on(
        date(2026, 4, 20),
        Box::new(|w| {
            let (from, to) = (w.ids.ideas[POSTERS], w.ids.secondary[S_APPLICATION]);
            let d = network::link_nodes(
                &w.network,
                LinkNodes {
                    from,
                    to,
                    strength: LinkStrength::Strong,
                },
            );
            w.network_cmd("link", d)
        }),
    );
    s.on(
        date(2026, 6, 15),
        Box::new(|w| {
            w.stage(
                PORTFOLIO,
                ChangeIdeaStage::Implementing,
                "Delaware Valley adopted the termly review.",
            )
        }),
    );
    s.on(
        date(2026, 9, 14),
        Box::new(|w| {
            w.propose(FIRST_SEMESTER)?;
            w.accept(FIRST_SEMESTER, "Persistence matters as much as enrolment.")
        }),
    );
    s.on(
        date(2026, 10, 19),
        Box::new(|w| w.propose(BILINGUAL_WORKSHOPS)),
    );
}

/// PDSA ramps: every cycle's id is drawn as it is scheduled, ramp by ramp.
fn ramps(w: &mut World, s: &mut Story) -> anyhow::Result<()> {
    for (ri, ramp) in RAMPS.iter().enumerate() {
        let mut previous: Option<(Uuid, NaiveDate)> = None;
        for (ci, spec) in ramp.cycles.iter().enumerate() {
            let id = w.idgen.next();
            let dates = cycle_dates(spec);
            if let Some((_, closed)) = previous {
                if dates.plan <= closed {
                    bail!("demo ramp {ri}: cycle {ci} is planned before the previous one closed");
                }
            }
            let prev = previous.map(|(p, _)| p);
            let Some(closed) = cycle_steps(s, ri, ci, id, prev) else {
                break;
            };
            previous = Some((id, closed));
            // The first Hill District cycle is corrected after it closed.
            if ri == R_HILL && ci == 0 {
                s.on(date(2025, 5, 12), hill_correction(id));
            }
        }
    }
    Ok(())
}

/// Schedules cycle `ci` of ramp `ri`; the day it closed, or None if it is still open.
fn cycle_steps(
    s: &mut Story,
    ri: usize,
    ci: usize,
    id: Uuid,
    prev: Option<Uuid>,
) -> Option<NaiveDate> {
    let spec = &RAMPS[ri].cycles[ci];
    let dates = cycle_dates(spec);
    s.on(
        dates.plan,
        Box::new(move |w| w.plan_cycle(&RAMPS[ri], &RAMPS[ri].cycles[ci], id, prev)),
    );
    if matches!(spec.end, End::Planned) {
        return None;
    }
    s.on(
        dates.start,
        Box::new(move |w| {
            w.cycle_cmd(id, "cycle start", |c| {
                cycle::start(
                    c,
                    cycle::StartCycle {
                        started_on: dates.start,
                    },
                )
            })
        }),
    );
    match spec.end {
        End::Abandon(reason) => {
            let when = dates.start + chrono::Days::new(spec.days as u64 / 2);
            s.on(
                when,
                Box::new(move |w| {
                    w.cycle_cmd(id, "abandonment", |c| {
                        cycle::abandon(c, AbandonCycle { reason: t(reason) })
                    })
                }),
            );
            Some(when)
        }
        End::Doing => None,
        _ => {
            s.on(dates.end, do_step(ri, ci, id, dates));
            s.on(
                dates.study,
                Box::new(move |w| {
                    w.cycle_cmd(id, "study", |c| {
                        cycle::record_study(c, World::study_of(&RAMPS[ri].cycles[ci]))
                    })
                }),
            );
            let End::Act(decision, reason, next) = spec.end else {
                return None;
            };
            s.on(
                dates.act,
                Box::new(move |w| {
                    w.cycle_cmd(id, "act", |c| {
                        cycle::decide_act(
                            c,
                            Act {
                                decision,
                                reason: t(reason),
                                next_cycle: t(next),
                                decided_on: dates.act,
                            },
                        )
                    })
                }),
            );
            Some(dates.act)
        }
    }
}

/// The step recording what happened while cycle `ci` of ramp `ri` was carried out.
fn do_step(ri: usize, ci: usize, id: Uuid, dates: CycleDates) -> Step {
    Box::new(move |w| {
        let s = &RAMPS[ri].cycles[ci];
        let done = Do {
            carried_out_as_planned: s.as_planned,
            what_happened: t(s.happened),
            problems_and_surprises: t(s.surprise),
            observations: vec![
                Observation {
                    at: at(dates.start, 17),
                    note: t(&format!("Started: {}.", s.scale)),
                },
                Observation {
                    at: at(dates.end, 16),
                    note: t(if s.surprise.is_empty() {
                        "Finished as planned."
                    } else {
                        s.surprise
                    }),
                },
            ],
            completed_on: dates.end,
        };
        w.cycle_cmd(id, "do", |c| cycle::record_do(c, done))
    })
}

/// The step correcting the first Hill District cycle's study after it closed.
fn hill_correction(id: Uuid) -> Step {
    Box::new(move |w| {
        let mut study = w.cycle(id).study.clone().expect("the cycle was studied");
        study.results[0] = QuestionResult {
                        question_index: 0,
                        result: t("4 of 8 said they felt more prepared (the survey of a ninth, visiting colleague had been counted)."),
                        prediction_held: Partly,
                        learned: t("One session raises awareness, not skill."),
                    };
        let known = w.known_measures();
        w.cycle_cmd(id, "correction", |c| cycle::correct(c, &known, CorrectCycle { correction: Correction::Study(study), reason: t("The survey count included a visiting colleague who was not on the staff; the result is 4 of 8, not 5 of 8.") }))
    })
}

/// Syntheses, citing the closed cycles of their ramps.
fn syntheses(s: &mut Story) {
    for (si, spec) in SYNTHESES.iter().enumerate() {
        let (y, m, d) = spec.date;
        s.on(
            date(y, m, d),
            Box::new(move |w| {
                let spec = &SYNTHESES[si];
                let programs: Vec<Uuid> = spec
                    .ramps
                    .iter()
                    .map(|r| w.ids.programs[RAMPS[*r].program])
                    .collect();
                let ideas: Vec<Uuid> = spec
                    .ramps
                    .iter()
                    .flat_map(|r| RAMPS[*r].ideas.iter().map(|i| w.ids.ideas[*i]))
                    .collect();
                let cycles = w
                    .cycle_order
                    .iter()
                    .filter(|id| {
                        let c = &w.cycles[*id];
                        c.is_closed()
                            && c.planned.as_ref().is_some_and(|p| {
                                programs.contains(&p.program_id)
                                    && p.change_idea_ids.iter().any(|i| ideas.contains(i))
                            })
                    })
                    .copied()
                    .collect();
                w.synthesize(spec, cycles)
            }),
        );
    }
}

/// The annual self-assessments of 2025 and 2026.
fn annual_self_assessments(s: &mut Story) {
    s.on(
        date(2025, 10, 20),
        Box::new(|w| w.self_assess_all(date(2025, 10, 20), false)),
    );
    s.on(
        date(2026, 9, 28),
        Box::new(|w| w.self_assess_all(date(2026, 9, 28), false)),
    );
}

fn charter(w: &mut World) -> anyhow::Result<()> {
    let d = network::charter(&w.network, CharterNetwork {
        name: title("STEM PUSH Network"),
        purpose: t("A national networked improvement community of pre-college STEM programs (PCSPs) in regional STEM learning ecosystems. Programs strengthen their programming through research-informed improvement cycles, align to the network's quality standards for a next-generation accreditation with Middle States Association, and work with admissions offices so that pre-college STEM experience carries weight for Black, Latina/o/e and Indigenous students."),
    });
    w.network_cmd("charter", d)?;
    for (i, (category, cause, description)) in ROOT_CAUSES.iter().enumerate() {
        let d = network::record_root_cause(
            &w.network,
            w.idgen.next(),
            RecordRootCause {
                category: title(category),
                cause: title(cause),
                description: t(description),
            },
        );
        w.network_cmd(&format!("root cause {i}"), d)?;
    }
    let d = network::state_aim(&w.network, StateAim {
        aim: Aim {
            statement: t("Increase the share of Black, Latina/o/e and Indigenous program alumni who enrol in post-secondary STEM from 38% to 50% by fall 2027."),
            what: title("post-secondary STEM enrolment"),
            for_whom: title("Black, Latina/o/e and Indigenous program alumni"),
            baseline: Some(38.0),
            target: 50.0,
            unit: title("percent"),
            by_when: date(2027, 9, 30),
        },
        reason: None,
    });
    w.network_cmd("aim", d)?;
    for (i, (name, region)) in ECOSYSTEMS.iter().enumerate() {
        let d = network::add_ecosystem(
            &w.network,
            w.ids.ecosystems[i],
            AddEcosystem {
                name: title(name),
                region: title(region),
            },
        );
        w.network_cmd("ecosystem", d)?;
    }
    for (i, (code, name, description)) in STANDARDS.iter().enumerate() {
        let d = network::define_standard(
            &w.network,
            w.ids.standards[i],
            DefineStandard {
                code: title(code),
                title: title(name),
                description: t(description),
            },
        );
        w.network_cmd("standard", d)?;
    }
    Ok(())
}

fn enrol(w: &mut World) -> anyhow::Result<()> {
    for (i, name) in PROGRAMS.iter().enumerate() {
        let id = w.ids.programs[i];
        let d = program::enroll(
            &w.network,
            &ProgramState::new(id),
            EnrollProgram {
                name: title(name),
                ecosystem_id: w.ids.ecosystems[i / 3],
            },
        );
        let events = ok(d, "enrolment")?;
        w.emit("program", id, events);
    }
    Ok(())
}

fn diagram(w: &mut World) -> anyhow::Result<()> {
    for (i, (name, definition)) in PRIMARY.iter().enumerate() {
        let d = network::add_driver(
            &w.network,
            w.ids.primary[i],
            AddDriver {
                kind: DriverKind::Primary,
                title: title(name),
                definition: t(definition),
                serves: vec![],
            },
        );
        w.network_cmd("primary driver", d)?;
    }
    for (i, (name, definition, serves)) in SECONDARY.iter().enumerate() {
        let serves = serves
            .iter()
            .map(|(p, strength)| Serves {
                node_id: w.ids.primary[*p],
                strength: *strength,
            })
            .collect();
        let d = network::add_driver(
            &w.network,
            w.ids.secondary[i],
            AddDriver {
                kind: DriverKind::Secondary,
                title: title(name),
                definition: t(definition),
                serves,
            },
        );
        w.network_cmd("secondary driver", d)?;
    }
    w.propose(CHECKINS)?;
    w.accept(
        CHECKINS,
        "From the root cause analysis: irregular mentor contact.",
    )
}

fn define_measures(w: &mut World) -> anyhow::Result<()> {
    let ids = (w.ids.primary, w.ids.secondary, w.ids.ideas);
    let ratio = |name: &str,
                 kind,
                 description: &str,
                 numerator: &str,
                 denominator: &str,
                 direction,
                 target,
                 tracks: Vec<Uuid>| DefineMeasure {
        name: title(name),
        kind,
        description: t(description),
        scale: MeasureScale::Ratio,
        data_type: Some(DataType::Proportion),
        numerator: Some(t(numerator)),
        denominator: Some(t(denominator)),
        unit: title("percent"),
        period: PeriodKind::Month,
        direction,
        target,
        inclusions: t("Students enrolled in the program that month (alumni, for the outcome)."),
        exclusions: t("Students who withdrew before the month began."),
        data_source: t("The program's roster and logs, entered by the fifth of the next month."),
        collected_by: t("Program coordinators; checked by the hub's improvement coach."),
        tracks,
    };
    let defs = [
        ratio("Alumni enrolled in post-secondary STEM", MeasureKind::Outcome, "Of the Black, Latina/o/e and Indigenous alumni whose enrolment was confirmed this month, the share enrolled in a post-secondary STEM program.", "Black, Latina/o/e and Indigenous alumni confirmed enrolled in a post-secondary STEM program this month", "Black, Latina/o/e and Indigenous alumni whose enrolment status was confirmed this month", Direction::Up, Some(0.5), vec![ids.0[P_PATHWAY], ids.0[P_RECOGNITION]]),
        ratio("Students with a structured mentor check-in", MeasureKind::Process, "The share of enrolled students who had at least one structured check-in with their mentor in the month.", "Students with at least one logged structured check-in in the month", "Students enrolled in the month", Direction::Up, Some(0.8), vec![ids.1[S_MENTORING], ids.2[CHECKINS]]),
        ratio("Seniors with a college application plan", MeasureKind::Process, "The share of seniors whose plan names a college list, an essay draft date, a recommender and a FAFSA date.", "Seniors with all four plan items", "Seniors enrolled this school year", Direction::Up, Some(0.7), vec![ids.1[S_APPLICATION]]),
        DefineMeasure {
            name: title("Family members attending program events"),
            kind: MeasureKind::Process,
            description: t("Family members (parents, guardians, siblings over 16) who signed in at any program event in the month."),
            scale: MeasureScale::Value,
            data_type: Some(DataType::Count),
            numerator: None,
            denominator: None,
            unit: title("people"),
            period: PeriodKind::Month,
            direction: Direction::Up,
            target: None,
            inclusions: t("Every event the program hosts, on site or online."),
            exclusions: t("Program staff and volunteers."),
            data_source: t("Event sign-in sheets."),
            collected_by: t("The family engagement lead or coordinator."),
            tracks: vec![ids.1[S_FAMILY]],
        },
        ratio("Student attrition", MeasureKind::Balancing, "The share of enrolled students who left the program during the month: the changes must not cost students.", "Students who left the program during the month", "Students enrolled at the start of the month", Direction::Down, None, vec![ids.0[P_IDENTITY]]),
    ];
    for (i, def) in defs.into_iter().enumerate() {
        w.define_measure(i, def)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_builds_the_same_network() {
        let a = build(7).unwrap();
        let b = build(7).unwrap();
        assert_eq!(a.log.len(), b.log.len());
        assert!(a.log.iter().zip(&b.log).all(|(x, y)| x == y));
        let c = build(8).unwrap();
        assert_ne!(a.log[0].0, c.log[0].0);
    }

    /// The network-wide series of a ratio measure: numerators and denominators summed per period
    /// over the points not excluded.
    fn network_series(m: &MeasureState) -> Vec<nic_projections::run_chart::Point> {
        let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for p in m.points.values().filter(|p| p.excluded.is_none()) {
            let e = sums.entry(p.period.as_str()).or_default();
            e.0 += p.numerator.unwrap();
            e.1 += p.denominator.unwrap();
        }
        sums.values()
            .map(|(n, d)| nic_projections::run_chart::Point {
                value: n / d,
                excluded: false,
            })
            .collect()
    }

    fn has(m: &MeasureState, rule: nic_projections::run_chart::Rule) -> bool {
        use nic_projections::run_chart::{analyse, Options, RuleSet};
        let options = Options {
            baseline_points: m.baseline_points.map(|p| p as usize),
            ..Options::default()
        };
        analyse(&network_series(m), &options)
            .phases
            .iter()
            .flat_map(|p| &p.signals)
            .any(|s| s.rule_set == RuleSet::Ihi && s.rule == rule)
    }

    #[test]
    fn every_seed_shows_the_designed_signals() {
        use nic_projections::run_chart::Rule;
        for seed in 0..24 {
            let w = build(seed).unwrap();
            assert!(
                has(w.measure(M_CHECKINS), Rule::Shift),
                "seed {seed}: shift"
            );
            assert!(
                has(w.measure(M_APPLICATIONS), Rule::Trend),
                "seed {seed}: trend"
            );
            assert_eq!(w.measure(M_CHECKINS).points.len(), PROGRAMS.len() * MONTHS);
        }
    }
}
