//! Personal data in events: which text fields of each event type may hold it, and of what kind.
//!
//! Each text field of the catalog says so in its schema, with the keyword `x-personal` (`name`,
//! `free-text`, `contact`, or `none` for the network's shared vocabulary and record); that
//! attribute is the only source. `personal_fields` reads the current schemas once and lists, per
//! event type, the fields whose class is not `none`, as JSON pointers into the event's data. The
//! store keeps those fields sealed (`SEALED_PREFIX`); a reader whose key is gone reads
//! `ERASED_TEXT`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::NicEvent;
pub use crate::text::SEALED_PREFIX;

/// The schema keyword that classifies a text field.
pub const PERSONAL_KEYWORD: &str = "x-personal";
/// What a sealed field reads as once its key is destroyed.
pub const ERASED_TEXT: &str = "[erased]";

/// The kind of personal data a text field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Personal {
    /// A person's name.
    Name,
    /// Prose people write about their work, which may name a student or a mentor.
    FreeText,
    /// A way to reach a person: an email address, a phone number.
    Contact,
}

impl Personal {
    /// The class as the schema spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::FreeText => "free-text",
            Self::Contact => "contact",
        }
    }

    /// Reads a schema's `x-personal`: `Ok(None)` for `none`, `Err` for a value that is no class.
    pub fn from_schema(value: &str) -> Result<Option<Self>, String> {
        match value {
            "name" => Ok(Some(Self::Name)),
            "free-text" => Ok(Some(Self::FreeText)),
            "contact" => Ok(Some(Self::Contact)),
            "none" => Ok(None),
            other => Err(format!(
                "{PERSONAL_KEYWORD} is {other:?}; it is one of name, free-text, contact, none"
            )),
        }
    }
}

impl std::fmt::Display for Personal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field of an event's data that may hold personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PersonalField {
    /// A JSON pointer into the event's data, `*` standing for every index of an array, e.g.
    /// `/study/results/*/result` or `/plan/tasks/*`.
    pub pointer: String,
    pub class: Personal,
}

/// The fields of an event type's data (at its current version) that may hold personal data, by
/// pointer; empty for a type without any and for a type the catalog does not hold.
pub fn personal_fields(event_type: &str) -> &'static [PersonalField] {
    static FIELDS: LazyLock<BTreeMap<&'static str, Vec<PersonalField>>> = LazyLock::new(|| {
        NicEvent::current_schemas()
            .into_iter()
            .map(|(event_type, _, schema)| {
                let fields = fields_of(schema.as_value())
                    .unwrap_or_else(|e| panic!("the schema of {event_type}: {e}"));
                (event_type, fields)
            })
            .collect()
    });
    FIELDS.get(event_type).map(Vec::as_slice).unwrap_or(&[])
}

/// The personal fields of a root schema (one with its `$defs`).
fn fields_of(schema: &Value) -> Result<Vec<PersonalField>, String> {
    let mut out = Vec::new();
    walk(schema, schema, "", None, 0, &mut out)?;
    out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    out.dedup_by(|a, b| a.pointer == b.pointer);
    Ok(out)
}

/// Definitions a schema may pass through on one path; the catalog's types are not recursive.
const REF_DEPTH_MAX: usize = 16;

/// Collects the personal string leaves under `schema`. A class written on an array or on an
/// option (`anyOf`, `oneOf`) holds for the strings in it, not across a property or a `$ref`.
fn walk(
    root: &Value,
    schema: &Value,
    pointer: &str,
    class: Option<&str>,
    depth: usize,
    out: &mut Vec<PersonalField>,
) -> Result<(), String> {
    let class = schema
        .get(PERSONAL_KEYWORD)
        .map(|v| {
            v.as_str()
                .ok_or(format!("{pointer}: {PERSONAL_KEYWORD} is no string"))
        })
        .transpose()?
        .or(class);
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if depth >= REF_DEPTH_MAX {
            return Err(format!("{pointer}: more than {REF_DEPTH_MAX} nested $ref"));
        }
        let name = r
            .strip_prefix("#/$defs/")
            .ok_or(format!("{pointer}: $ref {r} is not into $defs"))?;
        let def = root
            .get("$defs")
            .and_then(|d| d.get(name))
            .ok_or(format!("{pointer}: $ref {r} names no definition"))?;
        walk(root, def, pointer, None, depth + 1, out)?;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let name = name.replace('~', "~0").replace('/', "~1");
            walk(root, prop, &format!("{pointer}/{name}"), None, depth, out)?;
        }
    }
    if let Some(items) = schema.get("items") {
        walk(root, items, &format!("{pointer}/*"), class, depth, out)?;
    }
    for keyword in ["anyOf", "oneOf", "allOf"] {
        for branch in schema
            .get(keyword)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(root, branch, pointer, class, depth, out)?;
        }
    }
    if is_text_leaf(schema) {
        if let Some(class) = class.map(Personal::from_schema).transpose()?.flatten() {
            out.push(PersonalField {
                pointer: pointer.to_string(),
                class,
            });
        }
    }
    Ok(())
}

/// A string people write: of type string, with no format (a uuid, a date) and no fixed values.
fn is_text_leaf(schema: &Value) -> bool {
    let string = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    string
        && ["format", "enum", "const"]
            .iter()
            .all(|k| schema.get(k).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CATALOG;

    fn listed(event_type: &str) -> Vec<(&str, Personal)> {
        personal_fields(event_type)
            .iter()
            .map(|f| (f.pointer.as_str(), f.class))
            .collect()
    }

    #[test]
    fn a_study_lists_its_summary_and_every_result_and_lesson() {
        assert_eq!(
            listed("PdsaStudyRecorded"),
            [
                ("/study/results/*/learned", Personal::FreeText),
                ("/study/results/*/result", Personal::FreeText),
                ("/study/summary", Personal::FreeText),
            ]
        );
    }

    #[test]
    fn a_plan_lists_its_prose_its_tasks_and_its_questions() {
        let fields = listed("PdsaCyclePlanned");
        for pointer in [
            "/title",
            "/scale",
            "/plan/objective",
            "/plan/questions/*/question",
            "/plan/questions/*/prediction",
            "/plan/questions/*/reason",
            "/plan/who_what_when_where",
            "/plan/tasks/*",
            "/plan/data_collection_plan",
        ] {
            assert!(
                fields.contains(&(pointer, Personal::FreeText)),
                "{pointer} in {fields:?}"
            );
        }
        assert_eq!(fields.len(), 9, "{fields:?}");
        // A correction's section is read through the adjacent tag's content.
        assert!(listed("PdsaCycleCorrected")
            .contains(&("/correction/corrected/objective", Personal::FreeText)));
    }

    #[test]
    fn a_token_holder_name_is_a_name_and_the_shared_vocabulary_is_not_personal() {
        assert_eq!(listed("TokenIssued"), [("/name", Personal::Name)]);
        for none in [
            "AimStated",
            "NetworkChartered",
            "DriverAdded",
            "MeasureDefined",
            "PersonalKeysExported",
            "RetentionSet",
        ] {
            assert_eq!(listed(none), [], "{none}");
        }
        assert_eq!(listed("AimRevised"), [("/reason", Personal::FreeText)]);
        assert_eq!(
            listed("PersonalFieldRedacted"),
            [("/replacement", Personal::FreeText)]
        );
        assert_eq!(listed("NoSuchEvent"), []);
    }

    #[test]
    fn evidence_notes_and_references_are_free_text() {
        assert_eq!(
            listed("StandardSelfAssessed"),
            [
                ("/evidence/*/note", Personal::FreeText),
                ("/evidence/*/reference", Personal::FreeText),
                ("/note", Personal::FreeText),
            ]
        );
    }

    #[test]
    fn every_catalog_type_reads_and_classes_spell_as_in_the_schema() {
        for info in CATALOG {
            for f in personal_fields(info.event_type) {
                assert!(f.pointer.starts_with('/'), "{}: {f:?}", info.event_type);
            }
        }
        for class in [Personal::Name, Personal::FreeText, Personal::Contact] {
            let json = serde_json::to_value(class).unwrap();
            assert_eq!(json, class.as_str());
            assert_eq!(Personal::from_schema(class.as_str()), Ok(Some(class)));
        }
        assert_eq!(Personal::from_schema("none"), Ok(None));
        assert!(Personal::from_schema("secret").is_err());
    }

    #[test]
    fn a_class_holds_for_arrays_and_options_but_not_across_properties() {
        let schema = serde_json::json!({
            "type": "object",
            "x-personal": "name",
            "properties": {
                "tags": {"type": "array", "x-personal": "free-text", "items": {"type": "string"}},
                "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}], "x-personal": "contact"},
                "id": {"type": "string", "format": "uuid", "x-personal": "name"},
                "plain": {"type": "string"},
                "inner": {"$ref": "#/$defs/Inner", "x-personal": "name"}
            },
            "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "string"}}}}
        });
        let fields = fields_of(&schema).unwrap();
        let got: Vec<_> = fields
            .iter()
            .map(|f| (f.pointer.as_str(), f.class))
            .collect();
        assert_eq!(
            got,
            [
                ("/maybe", Personal::Contact),
                ("/tags/*", Personal::FreeText)
            ]
        );
        let bad =
            serde_json::json!({"properties": {"a": {"type": "string", "x-personal": "secret"}}});
        assert!(fields_of(&bad).is_err());
    }
}
