//! Schema evolution: stored events keep the shape they were written in; readers upgrade older
//! versions to the current one here, keyed by (type, version), one step at a time.
//!
//! - `DataPointRecorded` v1 → v2: v1 carried one `amount`; v2 calls it `value` and adds
//!   `numerator` and `denominator` for ratio measures, so a v1 point becomes a v2 point with only
//!   `value` set.

use serde_json::Value;

use crate::catalog::{CatalogError, EventInfo};

/// Upgrades `data`, written at `version`, to `info.schema_version`.
pub(crate) fn to_current(
    info: &EventInfo,
    version: u32,
    mut data: Value,
) -> Result<Value, CatalogError> {
    let unknown = || CatalogError::UnknownVersion {
        event_type: info.event_type.into(),
        version,
    };
    if version == 0 || version > info.schema_version {
        return Err(unknown());
    }
    for from in version..info.schema_version {
        data = match step(info.event_type, from, data) {
            Step::Upgraded(d) => d,
            Step::Missing => return Err(unknown()),
            Step::Malformed(why) => {
                return Err(CatalogError::Shape {
                    event_type: info.event_type.into(),
                    version,
                    source: serde::de::Error::custom(why),
                })
            }
        };
    }
    Ok(data)
}

enum Step {
    Upgraded(Value),
    /// No upgrade from this version exists.
    Missing,
    /// The stored data does not have the shape of its version.
    Malformed(&'static str),
}

/// One upgrade, from `from` to `from + 1`.
fn step(event_type: &str, from: u32, mut data: Value) -> Step {
    match (event_type, from) {
        ("DataPointRecorded", 1) => {
            let Some(obj) = data.as_object_mut() else {
                return Step::Malformed("a v1 DataPointRecorded is an object");
            };
            let Some(amount) = obj.remove("amount") else {
                return Step::Malformed("a v1 DataPointRecorded carries an amount");
            };
            obj.insert("value".into(), amount);
            obj.entry("numerator").or_insert(Value::Null);
            obj.entry("denominator").or_insert(Value::Null);
            Step::Upgraded(data)
        }
        _ => Step::Missing,
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::NicEvent;

    #[test]
    fn a_v1_data_point_reads_as_the_current_shape() {
        let v1 = r#"{"point_id":"0190c7e2-0000-7000-8000-000000000001",
            "program_id":"0190c7e2-0000-7000-8000-000000000002","period":"2025-03","amount":12.0}"#;
        let NicEvent::DataPointRecorded(p) =
            NicEvent::from_stored("DataPointRecorded", 1, v1).unwrap()
        else {
            panic!("wrong variant")
        };
        assert_eq!(p.value, Some(12.0));
        assert_eq!(p.numerator, None);
        assert_eq!(p.period, "2025-03");
    }

    #[test]
    fn a_v1_data_point_without_its_amount_is_a_shape_error() {
        let v1 = r#"{"point_id":"0190c7e2-0000-7000-8000-000000000001",
            "program_id":"0190c7e2-0000-7000-8000-000000000002","period":"2025-03"}"#;
        assert!(matches!(
            NicEvent::from_stored("DataPointRecorded", 1, v1),
            Err(crate::CatalogError::Shape { version: 1, .. })
        ));
    }
}
