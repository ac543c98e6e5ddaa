//! The receipt's shape (contract sections 4 and 5): members, types and kinds.

use alloc::format;
use alloc::string::String;
use core::ops::Deref;

use crate::Error;
use crate::instant::Instant;
use crate::json::Tree;
use crate::keys::Hash;

/// Whether `s` is an id: 1 to 128 characters of `A-Za-z0-9._:-`.
pub fn is_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The kind of decision record a receipt holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    AuthorizationCreated,
    Check,
    ConfirmationResolved,
    EscalationResolved,
    AuthorizationRevoked,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AuthorizationCreated => "authorization.created",
            Kind::Check => "check",
            Kind::ConfirmationResolved => "confirmation.resolved",
            Kind::EscalationResolved => "escalation.resolved",
            Kind::AuthorizationRevoked => "authorization.revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "authorization.created" => Kind::AuthorizationCreated,
            "check" => Kind::Check,
            "confirmation.resolved" => Kind::ConfirmationResolved,
            "escalation.resolved" => Kind::EscalationResolved,
            "authorization.revoked" => Kind::AuthorizationRevoked,
            _ => return None,
        })
    }
}

/// The common members of a payload whose shape has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub receipt_id: String,
    pub workspace_id: String,
    pub authorization_id: String,
    pub seq: u64,
    pub prev: Option<Hash>,
    pub issued_at: Instant,
    pub kid: String,
}

/// Step 2 of the order of checks: the outer object, its payload object, and
/// the version when `v` is an integer. Returns the payload.
pub(crate) fn check_envelope<S: Deref<Target = str>>(receipt: &Tree<S>) -> Result<&Tree<S>, Error> {
    let Some(payload) = receipt.get("payload") else {
        return Err(match receipt {
            Tree::Object(_) => Error::bad("payload", "missing"),
            other => Error::bad(
                "(receipt)",
                format!("must be a JSON object, not {}", other.type_name()),
            ),
        });
    };
    if payload.as_object().is_none() {
        return Err(Error::bad(
            "payload",
            format!("must be an object, not {}", payload.type_name()),
        ));
    }
    if let Some(v) = payload.get("v").and_then(Tree::as_integer)
        && v != 1
    {
        return Err(Error::UnsupportedVersion { version: v });
    }
    Ok(payload)
}

/// Step 3: the rest of the shape. Returns the checked header and the `sig` text.
pub(crate) fn check_shape<'a, S: Deref<Target = str>>(
    receipt: &'a Tree<S>,
    payload: &'a Tree<S>,
) -> Result<(Header, &'a str), Error> {
    let outer = Members::new(receipt, "");
    if let Some((name, _)) = receipt
        .as_object()
        .into_iter()
        .flatten()
        .find(|(k, _)| &**k != "payload" && &**k != "sig")
    {
        return Err(Error::bad(
            &crate::json::path_segment(name),
            "unexpected member: a receipt has exactly payload and sig",
        ));
    }
    let sig = outer.string("sig")?;
    let p = Members::new(payload, "payload");
    if p.get("v")?.as_integer().is_none() {
        return Err(p.bad("v", "must be the integer 1"));
    }
    let kind_text = p.string("kind")?;
    let kind = Kind::parse(kind_text).ok_or_else(|| {
        p.bad(
            "kind",
            format!("unknown kind {:?}", crate::json::shown(kind_text)),
        )
    })?;
    let receipt_id = p.id("receipt_id")?;
    let workspace_id = p.id("workspace_id")?;
    let authorization_id = p.id("authorization_id")?;
    let seq = p.count("seq")?;
    let prev = match p.get("prev")? {
        Tree::Null => None,
        Tree::String(s) => Some(Hash::parse_strict(s).ok_or_else(|| {
            p.bad(
                "prev",
                "must be sha256: followed by 64 lowercase hex digits",
            )
        })?),
        other => {
            return Err(p.bad(
                "prev",
                format!("must be a string or null, not {}", other.type_name()),
            ));
        }
    };
    if (seq == 0) != prev.is_none() {
        return Err(p.bad("prev", "must be null exactly when seq is 0"));
    }
    let issued_at = p.instant("issued_at")?;
    let kid = p.id("kid")?;
    if (seq == 0) != (kind == Kind::AuthorizationCreated) {
        return Err(p.bad(
            "seq",
            "must be 0 exactly when kind is authorization.created",
        ));
    }
    match kind {
        Kind::AuthorizationCreated => check_created(&p)?,
        Kind::Check => check_check(&p)?,
        Kind::ConfirmationResolved => {
            p.string("scope")?;
            p.string("confirm_nonce")?;
            p.boolean("approved")?;
            p.count("ttl_seconds")?;
        }
        Kind::EscalationResolved => {
            p.string("scope")?;
            p.string("escalation_id")?;
            p.boolean("approved")?;
            p.string("resolved_by")?;
        }
        Kind::AuthorizationRevoked => {
            p.string("revoked_by")?;
        }
    }
    Ok((
        Header {
            kind,
            receipt_id: String::from(receipt_id),
            workspace_id: String::from(workspace_id),
            authorization_id: String::from(authorization_id),
            seq,
            prev,
            issued_at,
            kid: String::from(kid),
        },
        sig,
    ))
}

fn check_created<S: Deref<Target = str>>(p: &Members<'_, S>) -> Result<(), Error> {
    p.string("user_id")?;
    p.string("agent_id")?;
    for (i, scope) in p.array("scopes")?.iter().enumerate() {
        // The path is written only for an error.
        let s = Members {
            value: scope,
            path: "payload.scopes",
            index: Some(i),
        };
        if scope.as_object().is_none() {
            return Err(Error::bad(
                &s.path(),
                format!("must be an object, not {}", scope.type_name()),
            ));
        }
        s.string("name")?;
        s.object("constraints")?;
    }
    p.strings("requires_confirm_for")?;
    p.strings("requires_escalation_for")?;
    for (name, target) in p.object("escalation_targets")? {
        if target.as_str().is_none() {
            return Err(Error::bad(
                &format!(
                    "payload.escalation_targets{}",
                    crate::json::member_path(name)
                ),
                format!("must be a string, not {}", target.type_name()),
            ));
        }
    }
    p.nullable("expires_at", |m, n| m.instant(n).map(drop))?;
    p.nullable("budget_limit_micros", |m, n| m.count(n).map(drop))?;
    p.object("metadata")?;
    Ok(())
}

fn check_check<S: Deref<Target = str>>(p: &Members<'_, S>) -> Result<(), Error> {
    p.string("scope")?;
    let decision = p.string("decision")?;
    if !matches!(decision, "allow" | "deny" | "confirm" | "escalate") {
        return Err(p.bad(
            "decision",
            format!(
                "must be allow, deny, confirm or escalate, not {:?}",
                crate::json::shown(decision)
            ),
        ));
    }
    let reason = p.string("reason")?;
    if (decision == "allow") != (reason == "ok") {
        return Err(p.bad(
            "reason",
            "must be \"ok\" exactly when the decision is allow",
        ));
    }
    for name in [
        "resource",
        "session_id",
        "confirm_nonce",
        "escalation_id",
        "escalation_to",
    ] {
        p.nullable(name, |m, n| m.string(n).map(drop))?;
    }
    p.object("context")?;
    p.nullable("estimated_cost_micros", |m, n| m.count(n).map(drop))?;
    p.nullable("budget", |m, n| {
        let budget = m.get(n)?;
        if budget.as_object().is_none() {
            return Err(m.bad(
                n,
                format!("must be an object or null, not {}", budget.type_name()),
            ));
        }
        let b = Members::new(budget, "payload.budget");
        for figure in ["limit_micros", "spent_before_micros", "spent_after_micros"] {
            b.count(figure)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Typed access to an object's members, with errors that name the path:
/// `path`, then `[index]` for an element of an array.
struct Members<'a, S> {
    value: &'a Tree<S>,
    path: &'a str,
    index: Option<usize>,
}

impl<'a, S: Deref<Target = str>> Members<'a, S> {
    fn new(value: &'a Tree<S>, path: &'a str) -> Self {
        Members {
            value,
            path,
            index: None,
        }
    }

    fn path(&self) -> String {
        match self.index {
            None => String::from(self.path),
            Some(i) => format!("{}[{i}]", self.path),
        }
    }

    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            String::from(name)
        } else {
            format!("{}.{name}", self.path())
        }
    }

    fn bad(&self, name: &str, reason: impl Into<String>) -> Error {
        Error::bad(&self.path_of(name), reason)
    }

    fn get(&self, name: &str) -> Result<&'a Tree<S>, Error> {
        self.value
            .get(name)
            .ok_or_else(|| self.bad(name, "missing"))
    }

    fn typed<T>(
        &self,
        name: &str,
        want: &str,
        f: impl FnOnce(&'a Tree<S>) -> Option<T>,
    ) -> Result<T, Error> {
        let v = self.get(name)?;
        f(v).ok_or_else(|| self.bad(name, format!("must be {want}, not {}", v.type_name())))
    }

    fn string(&self, name: &str) -> Result<&'a str, Error> {
        self.typed(name, "a string", Tree::as_str)
    }

    fn boolean(&self, name: &str) -> Result<bool, Error> {
        self.typed(name, "a boolean", Tree::as_bool)
    }

    fn object(&self, name: &str) -> Result<&'a [(S, Tree<S>)], Error> {
        self.typed(name, "an object", Tree::as_object)
    }

    fn array(&self, name: &str) -> Result<&'a [Tree<S>], Error> {
        self.typed(name, "an array", Tree::as_array)
    }

    fn strings(&self, name: &str) -> Result<(), Error> {
        for (i, item) in self.array(name)?.iter().enumerate() {
            if item.as_str().is_none() {
                return Err(Error::bad(
                    &format!("{}[{i}]", self.path_of(name)),
                    format!("must be a string, not {}", item.type_name()),
                ));
            }
        }
        Ok(())
    }

    fn id(&self, name: &str) -> Result<&'a str, Error> {
        let s = self.string(name)?;
        if !is_id(s) {
            return Err(self.bad(name, "must be an id: 1 to 128 characters of A-Za-z0-9._:-"));
        }
        Ok(s)
    }

    /// An integer ≥ 0.
    fn count(&self, name: &str) -> Result<u64, Error> {
        let v = self.get(name)?;
        match v.as_integer() {
            Some(n) if n >= 0 => Ok(n as u64),
            Some(_) => Err(self.bad(name, "must not be negative")),
            None => Err(self.bad(
                name,
                format!("must be an integer, not {}", describe_number(v)),
            )),
        }
    }

    fn instant(&self, name: &str) -> Result<Instant, Error> {
        let s = self.string(name)?;
        Instant::parse(s).ok_or_else(|| {
            self.bad(
                name,
                "must be an RFC 3339 UTC instant: YYYY-MM-DDTHH:MM:SS[.fraction]Z",
            )
        })
    }

    /// The member must be present: null, or what `check` accepts.
    fn nullable(
        &self,
        name: &str,
        check: impl FnOnce(&Self, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self.get(name)? {
            Tree::Null => Ok(()),
            _ => check(self, name),
        }
    }
}

fn describe_number<S: Deref<Target = str>>(v: &Tree<S>) -> &'static str {
    match v {
        Tree::Number(_) => "a fraction",
        other => other.type_name(),
    }
}
