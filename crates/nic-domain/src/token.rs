//! Access tokens: who may do what. Each token is its own `token-…` stream (issued, then perhaps
//! revoked); `Tokens` folds them all into the registry the service checks bearer tokens against.
//! Only a token's SHA-256 is ever recorded; the token itself is shown once, to whoever issued it.

use std::collections::BTreeMap;

use nic_events::catalog::{Role, TokenIssued, TokenRevoked};
use nic_events::{NicEvent, Text, Title};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Checks, Decision, DomainError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Token {
    pub token_id: Uuid,
    pub name: Title,
    pub role: Role,
    pub programs: Vec<Uuid>,
    /// Never serialised: the registry may be shown, the hashes are not.
    #[serde(skip)]
    pub token_sha256: String,
    pub revoked: bool,
}

/// Every token ever issued, by id, with an index by hash.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_id: BTreeMap<Uuid, Token>,
    by_hash: BTreeMap<String, Uuid>,
}

impl Tokens {
    pub fn apply(&mut self, event: &NicEvent) {
        match event {
            NicEvent::TokenIssued(e) => {
                self.by_hash.insert(e.token_sha256.clone(), e.token_id);
                self.by_id.insert(
                    e.token_id,
                    Token {
                        token_id: e.token_id,
                        name: e.name.clone(),
                        role: e.role,
                        programs: e.programs.clone(),
                        token_sha256: e.token_sha256.clone(),
                        revoked: false,
                    },
                );
            }
            NicEvent::TokenRevoked(e) => {
                if let Some(t) = self.by_id.get_mut(&e.token_id) {
                    t.revoked = true;
                }
            }
            _ => {}
        }
    }

    /// The live (not revoked) token with this hash.
    pub fn by_hash(&self, sha256: &str) -> Option<&Token> {
        self.by_hash
            .get(sha256)
            .and_then(|id| self.by_id.get(id))
            .filter(|t| !t.revoked)
    }

    /// The live token with this name.
    pub fn by_name(&self, name: &str) -> Option<&Token> {
        self.by_id
            .values()
            .find(|t| !t.revoked && t.name.as_str() == name)
    }

    pub fn get(&self, token_id: Uuid) -> Option<&Token> {
        self.by_id.get(&token_id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Token> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

pub struct IssueToken {
    pub name: Title,
    pub role: Role,
    pub programs: Vec<Uuid>,
    pub token_sha256: String,
}

pub fn issue(tokens: &Tokens, token_id: Uuid, cmd: IssueToken) -> Decision {
    let mut c = Checks::new();
    c.check(
        tokens.by_name(cmd.name.as_str()).is_none(),
        "name",
        "a live token has this name",
    );
    c.check(
        !matches!(cmd.role, Role::Facilitator | Role::Admissions) || !cmd.programs.is_empty(),
        "programs",
        "a facilitator token names the programs it writes for, an admissions token those it reads",
    );
    c.check(
        matches!(cmd.role, Role::Facilitator | Role::Admissions) || cmd.programs.is_empty(),
        "programs",
        "only a facilitator or an admissions token is limited to programs",
    );
    c.check(
        cmd.token_sha256.len() == 64
            && cmd
                .token_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "token_sha256",
        "a SHA-256 in lowercase hex",
    );
    c.list(&cmd.programs, "programs");
    c.done()?;
    Ok(vec![NicEvent::TokenIssued(TokenIssued {
        token_id,
        name: cmd.name,
        role: cmd.role,
        programs: cmd.programs,
        token_sha256: cmd.token_sha256,
    })])
}

/// Revokes the token `token_id`: not found unless issued, refused once revoked.
pub fn revoke(tokens: &Tokens, token_id: Uuid, reason: Text) -> Decision {
    let Some(t) = tokens.by_id.get(&token_id) else {
        return Err(DomainError::NotFound {
            kind: "token",
            id: token_id,
        });
    };
    if t.revoked {
        return Err(DomainError::transition(format!(
            "the token {:?} is already revoked",
            t.name.as_str()
        )));
    }
    Ok(vec![NicEvent::TokenRevoked(TokenRevoked {
        token_id: t.token_id,
        reason,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(events: &[NicEvent]) -> Tokens {
        let mut t = Tokens::default();
        events.iter().for_each(|e| t.apply(e));
        t
    }

    fn cmd(name: &str, role: Role, programs: Vec<Uuid>) -> IssueToken {
        IssueToken {
            name: Title::parse(name).unwrap(),
            role,
            programs,
            token_sha256: "a".repeat(64),
        }
    }

    #[test]
    fn issued_tokens_are_found_by_hash_until_revoked() {
        let id = Uuid::from_u128(1);
        let issued = issue(&Tokens::default(), id, cmd("ana", Role::Viewer, vec![])).unwrap();
        let tokens = fold(&issued);
        assert_eq!(tokens.by_hash(&"a".repeat(64)).unwrap().token_id, id);
        let revoked = revoke(&tokens, id, Text::default()).unwrap();
        assert_eq!(
            revoked,
            vec![NicEvent::TokenRevoked(TokenRevoked {
                token_id: id,
                reason: Text::default()
            })]
        );
        let tokens = fold(&[issued, revoked].concat());
        assert!(tokens.by_hash(&"a".repeat(64)).is_none());
        assert!(matches!(
            revoke(&tokens, id, Text::default()),
            Err(DomainError::InvalidTransition(_))
        ));
        assert!(matches!(
            revoke(&tokens, Uuid::from_u128(2), Text::default()),
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn names_are_unique_and_programs_belong_to_facilitators() {
        let tokens = fold(
            &issue(
                &Tokens::default(),
                Uuid::from_u128(1),
                cmd("ana", Role::Admin, vec![]),
            )
            .unwrap(),
        );
        let err = issue(&tokens, Uuid::from_u128(2), cmd("ana", Role::Admin, vec![])).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(ref f) if f[0].field == "name"));
        let p = vec![Uuid::from_u128(9)];
        assert!(issue(
            &tokens,
            Uuid::from_u128(3),
            cmd("f", Role::Facilitator, vec![])
        )
        .is_err());
        assert!(issue(
            &tokens,
            Uuid::from_u128(3),
            cmd("v", Role::Viewer, p.clone())
        )
        .is_err());
        assert!(issue(&tokens, Uuid::from_u128(3), cmd("f", Role::Facilitator, p)).is_ok());
        let mut bad = cmd("x", Role::Viewer, vec![]);
        bad.token_sha256 = "not hex".into();
        assert!(issue(&tokens, Uuid::from_u128(4), bad).is_err());
    }
}
