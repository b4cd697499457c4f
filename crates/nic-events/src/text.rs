//! Bounded text, parsed once at the edge: a `Title` is never empty nor longer than
//! `TITLE_CHARS_MAX`; a `Text` is never longer than `TEXT_CHARS_MAX`. Events and commands carry
//! these types, so inner code never sees an oversized or blank title.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use crate::limits::{TEXT_CHARS_MAX, TITLE_CHARS_MAX};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be blank")]
    Blank,
    #[error("is {chars} characters; at most {max} are allowed")]
    TooLong { chars: usize, max: usize },
    #[error("must not contain control characters other than line breaks and tabs")]
    Control,
    #[error("must not contain bidirectional embeddings, overrides or isolates (U+202A-U+202E, U+2066-U+2069)")]
    Bidi,
    #[error("has no visible character: only invisible ones such as zero-width spaces")]
    Invisible,
    #[error("must not begin with `sealed:v1:`, the form sealed personal data is stored in")]
    Sealed,
}

/// How a sealed personal field begins in stored data: `sealed:v1:<key id>:<base64url nonce and
/// ciphertext>` (see `personal`). Text someone sends never does (`check_sent`).
pub const SEALED_PREFIX: &str = "sealed:v1:";

fn check(s: &str, max: usize, allow_newlines: bool) -> Result<(), TextError> {
    let chars = s.chars().count();
    if chars > max {
        return Err(TextError::TooLong { chars, max });
    }
    let bad = |c: char| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t'));
    if s.chars().any(bad) {
        return Err(TextError::Control);
    }
    Ok(())
}

/// Refuses, in text someone sends now, what reads other than it is: bidirectional embeddings,
/// overrides and isolates (they can make "exe.png" show as "png.exe"), and text with characters
/// but none visible (zero-width spaces, joiners, fillers), and text that begins as sealed personal
/// data is stored (`SEALED_PREFIX`), which a reader would try to open. Checked where commands come
/// in, not by `Title` and `Text` themselves, so that events stored before the check keep being
/// read, and sealed fields with them.
pub fn check_sent(s: &str) -> Result<(), TextError> {
    if s.starts_with(SEALED_PREFIX) {
        return Err(TextError::Sealed);
    }
    if s.chars().any(is_bidi_control) {
        return Err(TextError::Bidi);
    }
    let invisible = s.chars().any(is_invisible);
    if invisible && s.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(TextError::Invisible);
    }
    Ok(())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's default-ignorable code points: drawn as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A name or title: one line, 1 to `TITLE_CHARS_MAX` characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    pub fn parse(s: impl Into<String>) -> Result<Self, TextError> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err(TextError::Blank);
        }
        check(&s, TITLE_CHARS_MAX, false)?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text written by a person: up to `TEXT_CHARS_MAX` characters, line breaks allowed, may be
/// empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub fn parse(s: impl Into<String>) -> Result<Self, TextError> {
        let s = s.into();
        check(&s, TEXT_CHARS_MAX, true)?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

macro_rules! string_like {
    ($t:ident, $schema:expr) => {
        impl TryFrom<String> for $t {
            type Error = TextError;
            fn try_from(s: String) -> Result<Self, TextError> {
                Self::parse(s)
            }
        }
        impl From<$t> for String {
            fn from(t: $t) -> String {
                t.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                stringify!($t).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

// The patterns say in the schema what `check` and `Title::parse` refuse: control characters
// (Unicode Cc: U+0000-U+001F, U+007F-U+009F; a text may hold tabs and line breaks) and, in a
// title, nothing but white space.
string_like!(
    Title,
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": TITLE_CHARS_MAX,
        "pattern": r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    })
);
string_like!(
    Text,
    json_schema!({
        "type": "string",
        "maxLength": TEXT_CHARS_MAX,
        "pattern": r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    })
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_bounded_single_lines() {
        assert!(Title::parse("Peer mentoring huddles").is_ok());
        assert_eq!(Title::parse("  "), Err(TextError::Blank));
        assert_eq!(Title::parse("a\nb"), Err(TextError::Control));
        assert!(matches!(
            Title::parse("x".repeat(TITLE_CHARS_MAX + 1)),
            Err(TextError::TooLong { .. })
        ));
        assert!(Title::parse("é".repeat(TITLE_CHARS_MAX)).is_ok());
    }

    #[test]
    fn sent_text_reads_as_it_is() {
        assert!(check_sent("Peer mentoring huddles").is_ok());
        assert!(check_sent("").is_ok());
        assert!(check_sent("  ").is_ok(), "blankness is the types' business");
        assert!(check_sent("שלום and مرحبا, with a zero\u{200B}width space").is_ok());
        assert!(check_sent("👩\u{200D}🔬 scientist").is_ok());
        assert_eq!(check_sent("RTL \u{202E}gnp.exe"), Err(TextError::Bidi));
        assert_eq!(check_sent("\u{2067}x\u{2069}"), Err(TextError::Bidi));
        assert_eq!(check_sent("\u{200B}"), Err(TextError::Invisible));
        assert_eq!(check_sent(" \u{FEFF}\u{2060} "), Err(TextError::Invisible));
        assert_eq!(check_sent("\u{3164}"), Err(TextError::Invisible));
        assert_eq!(
            check_sent("sealed:v1:0190f1a2-5b00-7000-8000-0000000d0001:AAAA"),
            Err(TextError::Sealed)
        );
        assert!(check_sent("We sealed:v1: the envelope").is_ok());
        assert!(check_sent("Sealed: v1 of the plan").is_ok());
        assert!(TextError::Sealed.to_string().contains(SEALED_PREFIX));
    }

    #[test]
    fn texts_allow_line_breaks_and_emptiness() {
        assert!(Text::parse("").unwrap().is_blank());
        assert!(Text::parse("line one\nline two").is_ok());
        assert_eq!(Text::parse("bell\u{7}"), Err(TextError::Control));
        assert!(Text::parse("x".repeat(TEXT_CHARS_MAX + 1)).is_err());
        let json = serde_json::to_string(&Text::parse("hi").unwrap()).unwrap();
        assert_eq!(json, "\"hi\"");
        assert!(serde_json::from_str::<Title>("\"\"").is_err());
    }
}
