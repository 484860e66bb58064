//! The protocol language: an authorization server's refresh and sign-out handlers, written in
//! the model file as data, and the presets that expand today's `auth_server` options into it.
//!
//! A protocol is a token store with a fixed row schema plus declared fields, and one handler
//! per endpoint. A handler is a sequence of steps, each one atomic action of the server; a
//! step is a list of rules, and the first rule whose `when` guard holds on the step's read
//! view decides: its effects (`do`) run in order and its `reply` is the answer, or `continue`
//! hands the request to the next step (or to the later step the rule's `next` names), which
//! any other action may precede. A handler written with `rules` alone is one step.
//!
//! ```json
//! "protocol": {
//!   "refresh": {
//!     "rules": [
//!       { "name": "rotate", "when": "presented.status == active",
//!         "do": ["mint child", "supersede presented"], "reply": "ok minted" },
//!       { "name": "reuse", "when": "presented.status == superseded", "reuse_detected": true,
//!         "do": ["revoke family"], "reply": "invalid_grant" }
//!     ]
//!   },
//!   "sign_out": { "rules": [ { "name": "revoke", "do": ["revoke family"], "reply": "signed_out" } ] }
//! }
//! ```
//!
//! The store's rows (one per refresh token ever minted) have the columns `status`,
//! `generation`, `parent`, `child`, `rotated_at`, `grace_uses`, `used` and `issued_at`; each
//! family (one per sign-in) has `login_at`, `last_used_at` and `newest_generation`. A protocol
//! may declare more fields per family or per client session (`fields`). Expressions, effects
//! and replies are defined in [`expr`]; `docs/protocol-language.md` is the reference with a
//! worked example per construct.
//!
//! Layout: [`ProtocolSpec`] is the language as written (serde, unknown fields refused);
//! [`Protocol::compile`] parses and checks it into [`Protocol`], which the authorization
//! server's actor interprets ([`crate::model::interpret`]); [`presets`] expands the options of
//! the `auth_server` section into a [`ProtocolSpec`], each option in one place.

pub mod directus;
pub mod expr;
pub mod presets;
pub mod sessions;
pub mod syntax;
pub mod user_fields;
pub mod wording;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Tick;
use expr::{Effect, ExprError, Names, ReplyForm, RevokeScope, Var};

/// The most fields a protocol may declare per scope: per refresh token, per family, per client
/// session and per request.
pub const MAX_FIELDS: usize = 4;
/// The most rules a step may have.
pub const MAX_RULES: usize = 32;
/// The most steps a handler may have.
pub const MAX_STEPS: usize = 8;

/// The type of a declared field: what it holds and how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A tick of the server's clock.
    Tick,
    /// A count.
    Count,
    /// A token number, or `none` (the initial value of every field is 0 / `none`).
    Token,
    /// An OAuth client: 0 (none) or a client's number counted from 1 (device N's client is
    /// client N with `clients: per-device`, client 1 for every device with `clients: one`;
    /// the attacker's is the number after the devices' last). Compared and copied as a
    /// number. A request field of this type is the `client_id` the request's sender presents
    /// (RFC 6749 §6, client authentication): set on arrival of a refresh, a sign-in or a
    /// password change to the sender's client, and written by no rule.
    Client,
}

/// Fields a protocol declares beyond the fixed schema, each starting at 0 (`none`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldsSpec {
    /// Per family (one sign-in's chain of tokens), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub family: BTreeMap<String, FieldType>,
    /// Per client session (one device's sign-ins; Keycloak's client session), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub session: BTreeMap<String, FieldType>,
    /// Per request, by name: a local variable of the handler, 0 when the request arrives (a
    /// field of type `client`: the client that sends it), kept from one step to the next and
    /// gone with the answer (what the request read in an earlier step, an upstream's answer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request: BTreeMap<String, FieldType>,
    /// Per refresh token, by name: columns of the token's own row (a cached answer for an
    /// idempotent replay, the request that claimed it, a per-token lock), 0 (`none`) at
    /// minting; read as `presented.NAME`, `presented.child.NAME`, `minted.NAME` or through any
    /// token-valued path (`family.current.NAME`), written with `set presented.NAME`, `set
    /// presented.child.NAME`, `set minted.NAME` and `set PATH.NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token: BTreeMap<String, FieldType>,
    /// Per user, by name: columns of the user row that every family of every device belongs to
    /// (nocobase's `passwordChangeTz`, a "tokens issued before X are invalid" stamp), a `tick`
    /// or a `count`; read as `user.NAME` by every handler, written with `set user.NAME = e`.
    /// Durable: a user field is never `in_memory`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, FieldType>,
    /// The declared fields kept in the server process's memory (a cache, a counter, a key
    /// map), as `family.NAME`, `session.NAME` or `token.NAME`: a restart resets them to 0;
    /// every other field and the token store are durable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_memory: Vec<String>,
}

/// What a step's rules read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// The store as it is when the step runs (the request's snapshot is taken anew): a
    /// statement that reads, or a conditional update (`UPDATE … WHERE status = 'active'`,
    /// compare-and-set). The default.
    #[default]
    Current,
    /// What the request's last `current` step read: a decision made on an earlier read and
    /// written blindly, so a write made meanwhile by another request is overwritten (the
    /// read-then-write of nightscout/nocturne before PR 326).
    Snapshot,
}

/// A lock a handler of several steps holds from its first step to its last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Lock {
    /// No lock. The default.
    #[default]
    None,
    /// One lock per family: a refresh of a family whose lock is held (another refresh of it is
    /// between two of its steps) waits undelivered (Keycloak's user-session refresh lock,
    /// `TokenManager.refreshAccessToken`; C12). The sign-out handler takes no lock.
    Family,
}

/// Where a handler's lock holds when the server runs as several instances
/// (`protocol.instances`): the scope of the mutex that serialises its refreshes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LockScope {
    /// One lock shared by every instance (a Redis `SET NX` lock, a database row lock or
    /// advisory lock): a refresh of a family waits while any instance serves another. The
    /// default.
    #[default]
    Global,
    /// One lock per instance (an in-process `asyncio.Lock`, `SemaphoreSlim`, `sync.Mutex` or
    /// singleflight map): a refresh of a family waits only while the instance it is routed to
    /// serves another; a load balancer may route it to an instance whose lock is free.
    Instance,
}

/// One token a request may present (an item of `sign_out.presents` or `refresh.presents`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// The refresh token the tab holds, where its mode keeps it (a revocation request's
    /// `token`, RFC 7009 §2.1; the body's `refresh_token`).
    RefreshToken,
    /// The access token the tab holds (an `Authorization: Bearer` header, RFC 6750 §2.1).
    AccessToken,
}

/// What a sign-out or a refresh presents, as written (`sign_out.presents`,
/// `refresh.presents`): one token, `"refresh_token"` (the default) or `"access_token"`, or a
/// list of them (`["access_token", "refresh_token"]`: the access token in the header and the
/// refresh token in the body). Compiled into [`Presents`]; an empty list or a token named
/// twice is refused at load, and so is a refresh that presents the access token alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum PresentsSpec {
    /// One token.
    One(Credential),
    /// Several tokens, in any order, each at most once.
    List(Vec<Credential>),
}

impl Default for PresentsSpec {
    fn default() -> Self {
        PresentsSpec::One(Credential::RefreshToken)
    }
}

/// A string names one token; a list names several. An unknown word is refused naming both
/// forms (`unknown variant …, expected one of `refresh_token`, `access_token` or a list of
/// them`); a list's unknown item names the two words.
impl<'de> Deserialize<'de> for PresentsSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PresentsSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"refresh_token\", \"access_token\" or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PresentsSpec, E> {
                // serde's own message would list the two words only; a list is accepted too.
                Credential::deserialize(serde::de::value::StrDeserializer::<E>::new(v)).map(PresentsSpec::One).map_err(
                    |_: E| {
                        E::custom(format!(
                            "unknown variant `{v}`, expected one of `refresh_token`, `access_token` or a list of \
                             them (`[\"access_token\", \"refresh_token\"]`)"
                        ))
                    },
                )
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<PresentsSpec, A::Error> {
                Vec::<Credential>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(PresentsSpec::List)
            }
        }
        d.deserialize_any(V)
    }
}

/// What a sign-out or refresh request presents, compiled from [`PresentsSpec`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Presents {
    /// The refresh token the tab holds (RFC 7009 revocation of a refresh token). The default.
    #[default]
    RefreshToken,
    /// The access token the tab holds (an `Authorization: Bearer` header): `presented` is the
    /// refresh token it was issued with, and the rules read the `access.` columns and may
    /// `revoke access`, as the `request` handler's do (a logout that blacklists the access
    /// token's jti).
    AccessToken,
    /// Both: the access token (header) and the refresh token (body), each the one the tab
    /// holds. `presented` is the presented refresh token; the `access.` columns, `revoke
    /// access` and `access.refresh_token` are the presented access token's, which may have
    /// been issued with another refresh token (Eventra's logout after commit af64a09ce).
    Both,
}

impl Presents {
    /// The request carries the tab's access token.
    pub fn access(self) -> bool {
        self != Presents::RefreshToken
    }

    /// The request carries the tab's refresh token.
    pub fn refresh(self) -> bool {
        self != Presents::AccessToken
    }
}

/// The `token_type_hint` a revocation request carries beside its token (RFC 7009 §2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// No hint: the request carries the token alone. The default.
    #[default]
    None,
    /// `token_type_hint=access_token`.
    AccessToken,
    /// `token_type_hint=refresh_token`.
    RefreshToken,
}

/// How far a revocation endpoint looks for the presented token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Search {
    /// The hinted kind first, then every other kind (RFC 7009 §2.1: "If the server is unable
    /// to locate the token using the given hint, it MUST extend its search across all of its
    /// supported token types"): a token is always found as what it is. The default.
    #[default]
    All,
    /// The hinted kind only: a token of the other kind is not found, answered 200 (RFC 7009
    /// §2.2) and nothing is revoked (Spring Authorization Server before issue 175, where
    /// `findByToken(token, tokenType)` took the hint as the type). Needs a `hint`.
    Hinted,
}

/// A sign-out that is a revocation endpoint taking a token of either kind (RFC 7009 §2.1,
/// `sign_out.revocation`): the token is the one `presents` names (the refresh token or the
/// access token the tab holds), sent with `hint`; the server looks for it as `search` says.
/// Found, the rules run and read `token_type` (`access_token` or `refresh_token`: what it was
/// found as); not found, no rule runs and the answer is 200 (RFC 7009 §2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The `token_type_hint` the client sends (default `none`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub hint: Hint,
    /// How far the server looks for the token (default `all`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub search: Search,
}

impl Revocation {
    /// Whether the server finds a token of the kind `sent` presents: always, unless it
    /// searches the hinted kind only and the hint names the other kind.
    pub fn finds(self, sent: Presents) -> bool {
        match (self.search, self.hint) {
            (Search::All, _) | (_, Hint::None) => true,
            (Search::Hinted, Hint::AccessToken) => sent == Presents::AccessToken,
            (Search::Hinted, Hint::RefreshToken) => sent == Presents::RefreshToken,
        }
    }

    /// The hint as the request carries it (`token_type_hint=access_token`), `None` without one.
    pub fn hint_text(self) -> Option<&'static str> {
        match self.hint {
            Hint::None => None,
            Hint::AccessToken => Some("token_type_hint=access_token"),
            Hint::RefreshToken => Some("token_type_hint=refresh_token"),
        }
    }
}

/// Which OAuth client each device's sign-in uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Clients {
    /// Every sign-in uses one client (one app); each device's sign-ins form its own client
    /// session. The default.
    #[default]
    One,
    /// Each device is an app with its own OAuth client (device `d` is client `d`), and the
    /// user signed in to all of them through one single sign-on session: the families of
    /// every device form one session (Keycloak's user session holding one client session per
    /// client).
    PerDevice,
}

/// How a load balancer in front of two nodes routes requests (C09).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// Any request may go to either node (round robin, no affinity). The default.
    #[default]
    Any,
    /// Session affinity per client: a tab's first request may go to either node, and every
    /// later request of that tab goes to the same node.
    Sticky,
}

/// One rule of a handler, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A short name, shown in traces as the server's decision.
    pub name: String,
    /// The guard, an expression of type condition over the read view (default `true`).
    #[serde(default = "always", skip_serializing_if = "is_always")]
    #[schemars(extend("default" = "true"))]
    pub when: String,
    /// The effects, in order (default none).
    #[serde(default, rename = "do", skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<String>,
    /// The answer, by handler. `refresh`: `ok minted`, `ok TOKEN` (`ok presented.child`),
    /// `ok access-only`, `invalid_grant`, `invalid_request` or `server_error`. `sign_out`:
    /// `signed_out` only (RFC 7009 §2.2: a revocation is answered 200 whatever it revoked).
    /// `sign_in`: `signed_in` (or `continue`). `password_change`: `signed_in` (a new session
    /// for the device) or `session_kept` (the device keeps the session it holds), or
    /// `continue`. `request` (an ordinary call with an access
    /// token): `ok`, `invalid_token` (401), `invalid_request` or `server_error`. A refresh or
    /// sign-in of several steps: `continue` to its next step.
    /// `docs/protocol-language.md` "Replies" says what each answers.
    pub reply: String,
    /// With `reply: "continue"`: the name of the step the request goes to, a later step of
    /// the same handler (default: the step that follows). A handler only runs forward, so it
    /// always ends; the steps jumped over do not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Ghost: this rule is reuse detection (read by the theft properties, never by a rule).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub reuse_detected: bool,
    /// The rule's transaction is rolled back: its store effects are discarded, its reply and
    /// ghost marks stand (supabase/auth before PR 1312, C13).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub rolled_back: bool,
    /// Ghost, sign-in and password-change rules only: the families this rule's revocations end are the protocol's
    /// intended eviction, judged against the ground truth (`oldest`: the family the user signed
    /// in earliest among those still signed in; `least-recently-used`: the one redeemed least
    /// recently; `others`: every other family). Read by `no_spurious_logout`, never by a rule.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::jsonfile::not_null")]
    pub evicts: Option<Evicts>,
    /// Where this behaviour comes from (file and version, pull request, RFC section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Whether effect `e`, in a sign-in rule, revokes refresh tokens of sessions other than the one
/// signing in (a token or family named through a path such as `user.oldest`, a client's or the
/// user's), the effects an `evicts` rule needs: revoking an access token ends no session, and
/// `presented`, `child`, `descendants`, `family` and `session` name the new sign-in's own family,
/// which the sign-in spares.
fn revokes_refresh_tokens(e: &Effect) -> bool {
    match e {
        Effect::Revoke(scope) => !matches!(
            scope,
            RevokeScope::Access
                | RevokeScope::PresentedAccess
                | RevokeScope::ChildAccess
                | RevokeScope::Presented
                | RevokeScope::Child
                | RevokeScope::Descendants
                | RevokeScope::Family
                | RevokeScope::Session
        ),
        Effect::RevokeToken(_) | Effect::RevokeAround(..) => true,
        Effect::MintChild { .. }
        | Effect::SupersedePresented
        | Effect::Set(..)
        | Effect::SupersedeToken(..)
        | Effect::SetToken(..) => false,
    }
}

/// Which families a sign-in rule marked `evicts` is meant to end (a device cap, "sign out other
/// devices"): the ghost truth an eviction is judged against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Evicts {
    /// The family the user signed in earliest (by sign-in tick, then sign-in order) among the
    /// families still signed in, not signed out and not evicted before, other than the
    /// signing-in one: a cap that evicts the oldest session.
    Oldest,
    /// Every other family of the user: a sign-in that signs out the other devices.
    Others,
    /// The family redeemed least recently (`family.last_used_at`: its last 2xx refresh, or its
    /// sign-in tick before any; then by sign-in tick and sign-in order) among the families
    /// still signed in, not signed out and not evicted before, other than the signing-in one:
    /// Keycloak's session limit terminating "the oldest session" by `lastSessionRefresh`
    /// (`UserSessionLimitsAuthenticator.logoutOldestSessions`).
    LeastRecentlyUsed,
}

impl Evicts {
    /// The value as a model file writes it (`"least-recently-used"`).
    pub fn word(self) -> &'static str {
        match self {
            Evicts::Oldest => "oldest",
            Evicts::Others => "others",
            Evicts::LeastRecentlyUsed => "least-recently-used",
        }
    }
}

fn always() -> String {
    "true".into()
}

fn is_always(s: &String) -> bool {
    s == "true"
}

/// One step of a handler, as written: one atomic action of the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// A short name (`read`, `claim`, `insert`), shown in traces.
    pub name: String,
    /// What its rules read (default `current`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub reads: Reads,
    /// A condition on the store as it is now (the syntax of a `when` guard): the step is
    /// enabled only while it holds. A request that reaches the step while it does not is
    /// blocked there (no action, not polling) until another action (another request's step, a
    /// sign-out, a clock tick) makes it hold; then the step runs as any step does. A request
    /// whose condition never holds stays unanswered (a restart fails it with 500). Default:
    /// none, the step runs as soon as the scheduler picks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits_until: Option<String>,
    /// The rules, first match decides; no rule matching answers `invalid_grant`.
    pub rules: Vec<RuleSpec>,
}

/// A handler, as written: `rules` (one atomic step) or `steps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandlerSpec {
    /// A lock held from the first step to the last (a refresh of several steps only: a
    /// sign-out and an ordinary request are one step, a sign-in takes none; default none).
    #[serde(default, skip_serializing_if = "is_default")]
    pub lock: Lock,
    /// Where the lock holds when `protocol.instances` is 2 or more: `global` (a shared lock) or
    /// `instance` (a lock in each instance's memory). Needs `lock: family`; required with it
    /// when there are several instances; default `global` (one instance: the same thing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_scope: Option<LockScope>,
    /// The token or tokens the request presents (the sign-out and refresh handlers; default
    /// `refresh_token`; a refresh presents the refresh token, alone or with the access token
    /// the tab holds): [`PresentsSpec`].
    #[serde(default, skip_serializing_if = "is_default")]
    pub presents: PresentsSpec,
    /// A revocation endpoint that takes a token of either kind (the sign-out only; default
    /// none): the `token_type_hint` sent beside the token `presents` names, and how far the
    /// server searches ([`Revocation`]). Its rules read `token_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// The rules of a handler that is one atomic step; first match decides; no rule matching
    /// answers `invalid_grant` (refresh) or `signed_out` (sign-out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleSpec>,
    /// The steps of a handler that is several actions, in order (a refresh, or a sign-in
    /// during the run). A sign-out and an ordinary request are one action each: with `steps`
    /// they have one step, as with `rules`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    /// The steps are one database transaction (several steps only; default false): a
    /// `rolled_back` rule undoes every store write the request made in its earlier steps
    /// too; writes to `in_memory` fields survive (they are not in the database).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub transaction: bool,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The most server instances a protocol may run (`protocol.instances`).
pub const MAX_INSTANCES: u8 = 4;

fn one() -> u8 {
    1
}

fn is_one(v: &u8) -> bool {
    *v == 1
}

/// The `protocol` section of a model file: an authorization server written in the language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSpec {
    /// Declared fields beyond the fixed schema.
    #[serde(default, skip_serializing_if = "is_default")]
    pub fields: FieldsSpec,
    /// The claimed reuse interval in ticks: `rotated_token_expires` checks that no superseded token
    /// is accepted more than this many ticks after its rotation (default 0).
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("default" = 0))]
    pub reuse_interval: Tick,
    /// `grant_type=refresh_token` (RFC 6749 §6).
    pub refresh: HandlerSpec,
    /// Sign-out: revocation of the presented refresh token (RFC 7009).
    pub sign_out: HandlerSpec,
    /// Sign-in: run once for each sign-in, in order (device 1's first, then device 2's; with
    /// per-tab logins tab by tab) before anything else, `presented` being the new family's
    /// first token (default: none, every sign-in leaves the others alone); for the devices of
    /// `browser.sign_ins`, when the user signs in during the run, racing the other steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<HandlerSpec>,
    /// The user's password change (with `browser.re_sign_in_is: "password-change"`): run for
    /// each sign-in again, instead of `sign_in`, which then serves only the start-up sign-ins
    /// and the sign-ins during the run (so several devices may be signed in). Its rules
    /// `revoke` and `set` as a sign-in's do and answer `signed_in` (a new session for the
    /// device) or `session_kept` (the device keeps the session it holds: Django
    /// `update_session_auth_hash`, Laravel `logoutOtherDevices`). Default: none, the
    /// `sign_in` handler is the change.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::jsonfile::not_null")]
    pub password_change: Option<HandlerSpec>,
    /// An ordinary request (an API call presenting an access token; the resource server's
    /// check, RFC 6750): one step whose rules read the presented access token (`access.exp`,
    /// `access.issued_at`, `access.used`, `access.revoked`), the refresh token it was issued
    /// with (`presented`) and its family, and answer `ok` (2xx) or `invalid_token` (401).
    /// Default: [`default_request`], accept an unexpired, unrevoked access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<HandlerSpec>,
    /// Which OAuth client each device signs in with (default `one`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub clients: Clients,
    /// Server nodes, each with its own copy of the store, 1 (default) or 2 (C09).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(extend("default" = 1), range(min = 1, max = 2))]
    pub replicas: u8,
    /// With two nodes: how the load balancer routes requests (default `any`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub routing: Routing,
    /// Server instances sharing one store, 1 (default) to 4: the same process run several
    /// times behind a load balancer that routes each request to any instance. Only a lock
    /// whose `lock_scope` is `instance` tells them apart.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(extend("default" = 1), range(min = 1, max = MAX_INSTANCES))]
    pub instances: u8,
    /// How many times the server process may restart, 0 (default) to 2: a restart loses the
    /// `in_memory` fields and every request in progress, each answered as a failed request
    /// (500: the connection dropped).
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("default" = 0), range(max = 2))]
    pub restarts: u8,
    /// How traces name the requests and error answers (default: the Directus words and the
    /// RFC 6749 / RFC 6750 codes; [`wording`]).
    #[serde(default, skip_serializing_if = "is_default")]
    pub wording: wording::Wording,
}

/// A compiled rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// The guard.
    pub when: expr::Expr,
    /// The effects.
    pub effects: Vec<Effect>,
    /// The answer.
    pub reply: ReplyForm,
    /// The answer as written (shown in traces).
    pub reply_text: String,
    /// With a `continue` reply: the index of the step the request goes to, always later than
    /// this rule's step (the step that follows unless the rule names one); `None` otherwise.
    pub next: Option<u8>,
    /// Ghost: reuse detection.
    pub reuse_detected: bool,
    /// Store effects discarded.
    pub rolled_back: bool,
    /// Ghost, sign-in rules only: the families its revocations end are an intended eviction.
    pub evicts: Option<Evicts>,
}

/// A compiled step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// What it reads.
    pub reads: Reads,
    /// The condition the step waits for, read on the store as it is now: `None` for a step
    /// that runs as soon as it is scheduled.
    pub waits_until: Option<expr::Expr>,
    /// The condition as written (shown in traces).
    pub waits_until_text: Option<String>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A compiled handler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Handler {
    /// The lock between the first step and the last.
    pub lock: Lock,
    /// Where the lock holds (`global` unless written `instance`).
    pub lock_scope: LockScope,
    /// The steps, at least one.
    pub steps: Vec<Step>,
    /// The steps are one transaction: a rolled-back rule undoes the earlier steps' writes.
    pub transaction: bool,
}

/// A compiled protocol, ready to interpret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Protocol {
    /// The refresh handler.
    pub refresh: Handler,
    /// The sign-out handler.
    pub sign_out: Handler,
    /// What a sign-out presents: the tab's refresh token (default), its access token, or both.
    pub sign_out_presents: Presents,
    /// What a refresh presents: the tab's refresh token (default) or both tokens
    /// ([`Presents::Both`]: the access token the tab holds beside it, read as `access.*`).
    pub refresh_presents: Presents,
    /// The sign-out is a revocation endpoint that takes a token of either kind: the hint it
    /// is sent with and how far the server searches (`sign_out.revocation`).
    pub revocation: Option<Revocation>,
    /// The sign-in handler, if any: one step, or several for a device that signs in during
    /// the run (`browser.sign_ins`).
    pub sign_in: Option<Handler>,
    /// The password-change handler, if any: serves every sign-in again (a device that holds a
    /// session signs in on it again) instead of [`Self::sign_in`].
    pub password_change: Option<Handler>,
    /// The ordinary-request handler (one step): the model file's, or [`default_request`].
    pub request: Handler,
    /// The model file declares a `request` handler, or some rule reads or revokes an access
    /// token: the store keeps a row per access token ([`crate::model::oauth::AccessRow`]).
    pub uses_access: bool,
    /// Which client each device signs in with.
    pub clients: Clients,
    /// Per-request fields, sorted by name.
    pub request_fields: Vec<(String, FieldType)>,
    /// Declared per-family fields, sorted by name.
    pub family_fields: Vec<(String, FieldType)>,
    /// Declared per-client-session fields, sorted by name.
    pub session_fields: Vec<(String, FieldType)>,
    /// Declared per-refresh-token fields, sorted by name.
    pub token_fields: Vec<(String, FieldType)>,
    /// Declared per-user fields (`fields.user`), sorted by name: ticks and counts.
    pub user_fields: Vec<(String, FieldType)>,
    /// Some rule reads `presented.issued_at`: the store records each token's issue tick (else
    /// it keeps 0, so that states differing only in it are one state).
    pub records_issued_at: bool,
    /// Some rule or wait reads what the server knows of the user's sessions (`user.*`): the
    /// read view then keeps it ([`crate::model::oauth::UserView`]); otherwise it stays zero,
    /// so that states are as they were.
    pub reads_user: bool,
    /// The claimed reuse interval, ticks.
    pub reuse_interval: Tick,
    /// Nodes, 1 or 2.
    pub replicas: u8,
    /// Routing between two nodes.
    pub routing: Routing,
    /// Server instances sharing the store, 1 to 4 ([`Protocol::refresh_lock_holders`]).
    pub instances: u8,
    /// Restarts the server may make.
    pub restarts: u8,
    /// Per-family fields lost at a restart (indices into `family_fields`).
    pub memory_family: Vec<u8>,
    /// Per-client-session fields lost at a restart (indices into `session_fields`).
    pub memory_session: Vec<u8>,
    /// Per-refresh-token fields lost at a restart (indices into `token_fields`).
    pub memory_token: Vec<u8>,
    /// The token-valued paths some expression follows by a column (`family.current.used`,
    /// `family.current.child.status`: [`Var::Follow`]) or some `supersede PATH` supersedes, at
    /// most [`expr::MAX_FOLLOWS`], in slot order: each read captures the rows they name
    /// ([`crate::model::oauth::ReadView::follow`]). Empty for a protocol that follows none,
    /// whose read views keep nothing more.
    pub follows: Vec<expr::Path>,
    /// How traces name the requests and error answers.
    pub wording: wording::Wording,
}

/// An error in a `protocol` section: the field path (`protocol.refresh.rules[2].when`), the
/// text found, and what is wrong and expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// Field path below the model file's root.
    pub field: String,
    /// The text found, as written.
    pub found: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl Protocol {
    /// Some request field is of type `client`: every refresh, sign-in and password change
    /// carries its sender's OAuth client, and `mode_binding` judges that a refresh is answered
    /// 2xx only to the client its token's family signed in with.
    pub fn sends_client(&self) -> bool {
        self.request_fields.iter().any(|(_, t)| *t == FieldType::Client)
    }

    /// The most tokens one request can mint: the number of refresh steps with a rule that
    /// mints (a rule mints at most one).
    pub fn mints_per_request(&self) -> u16 {
        let mints = |s: &Step| s.rules.iter().any(|r| r.effects.iter().any(Effect::mints));
        self.refresh.steps.iter().filter(|s| mints(s)).count() as u16
    }

    /// How many refreshes of one family may be in progress at once under the refresh
    /// handler's lock: `None` without a lock, 1 with a global one, `instances` with a lock of
    /// each instance (each instance serves at most one refresh of the family at a time, and the
    /// load balancer may route a refresh to any instance whose lock is free).
    pub fn refresh_lock_holders(&self) -> Option<usize> {
        match (self.refresh.lock, self.refresh.lock_scope) {
            (Lock::None, _) => None,
            (Lock::Family, LockScope::Global) => Some(1),
            (Lock::Family, LockScope::Instance) => Some(usize::from(self.instances)),
        }
    }

    /// Parses and checks every expression, effect and reply of `spec`; `at` is the field path
    /// of the section (`protocol`, or `auth_server` for an expanded preset).
    pub fn compile(spec: &ProtocolSpec, at: &str) -> Result<Protocol, ProtocolError> {
        spec.wording.check(&format!("{at}.wording"), wording::PROTOCOL_ERRORS)?;
        let fail = |field: String, found: &str, message: String| ProtocolError { field, found: found.into(), message };
        for (scope, map) in [
            ("family", &spec.fields.family),
            ("session", &spec.fields.session),
            ("request", &spec.fields.request),
            ("token", &spec.fields.token),
            ("user", &spec.fields.user),
        ] {
            if map.len() > MAX_FIELDS {
                return Err(fail(
                    format!("{at}.fields.{scope}"),
                    &format!("{} fields", map.len()),
                    format!("at most {MAX_FIELDS} fields per {scope}"),
                ));
            }
            for name in map.keys() {
                let ok =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                let builtin = if scope == "token" {
                    // Read as `presented.NAME` and `presented.child.NAME`: no built-in column
                    // of a token, and no name a built-in path goes through.
                    ["parent", "child", "access"].contains(&name.as_str())
                        || expr::BUILTIN_NAMES.contains(&format!("presented.{name}").as_str())
                        || expr::BUILTIN_NAMES.contains(&format!("presented.child.{name}").as_str())
                } else {
                    expr::BUILTIN_NAMES.contains(&format!("{scope}.{name}").as_str())
                };
                if !ok || builtin {
                    return Err(fail(
                        format!("{at}.fields.{scope}"),
                        name,
                        "a field name of lower-case letters, digits and `_` that is not a built-in column".into(),
                    ));
                }
                if scope == "user" {
                    user_fields::check_type(&format!("{at}.fields.user.{name}"), map[name])?;
                }
            }
        }
        if !(1..=2).contains(&spec.replicas) {
            return Err(fail(format!("{at}.replicas"), &spec.replicas.to_string(), "an integer from 1 to 2".into()));
        }
        if spec.routing == Routing::Sticky && spec.replicas < 2 {
            return Err(fail(
                format!("{at}.routing"),
                "\"sticky\" with one node",
                "\"any\" unless `replicas` is 2 (routing chooses between nodes)".into(),
            ));
        }
        if spec.restarts > 2 || (spec.restarts > 0 && spec.replicas > 1) {
            return Err(fail(
                format!("{at}.restarts"),
                &spec.restarts.to_string(),
                "an integer from 0 to 2, and 0 with two nodes (`replicas` 2)".into(),
            ));
        }
        if !(1..=MAX_INSTANCES).contains(&spec.instances) {
            return Err(fail(
                format!("{at}.instances"),
                &spec.instances.to_string(),
                format!("an integer from 1 to {MAX_INSTANCES}"),
            ));
        }
        if spec.instances > 1 {
            // Instances share the store and differ only in what each keeps in its own memory:
            // the lock of `lock_scope: instance`. Memory fields, restarts and nodes with their
            // own copies of the store would need a copy per instance, which is not modelled.
            let clash = if spec.replicas > 1 {
                Some("`replicas` 2 (nodes with their own copies of the store)")
            } else if spec.restarts > 0 {
                Some("`restarts` (a restart of one instance is not modelled)")
            } else if !spec.fields.in_memory.is_empty() {
                Some("`fields.in_memory` (each instance would keep its own copy; not modelled)")
            } else {
                None
            };
            if let Some(clash) = clash {
                return Err(fail(format!("{at}.instances"), &spec.instances.to_string(), format!("1 with {clash}")));
            }
            if spec.refresh.lock != Lock::None && spec.refresh.lock_scope.is_none() {
                return Err(fail(
                    format!("{at}.refresh.lock"),
                    "family",
                    format!(
                        "a `lock_scope` beside the lock with {} instances: \"instance\" (a mutex in each instance's memory) or \"global\" (a lock every instance shares)",
                        spec.instances
                    ),
                ));
            }
        }
        if spec.replicas > 1
            && (spec.sign_in.is_some() || spec.password_change.is_some() || spec.clients != Clients::One)
        {
            return Err(fail(
                format!("{at}.replicas"),
                "2",
                "1 with a `sign_in` or `password_change` handler or `clients: per-device` (two nodes sign in no one)"
                    .into(),
            ));
        }
        if spec.replicas > 1 && !spec.refresh.steps.is_empty() {
            return Err(fail(
                format!("{at}.refresh.steps"),
                &format!("{} steps", spec.refresh.steps.len()),
                "`rules` (one step) when `replicas` is 2 (each node serves a request in one action)".into(),
            ));
        }
        let names = Names {
            family: spec.fields.family.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            session: spec.fields.session.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            request: spec.fields.request.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            token: spec.fields.token.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            user: spec.fields.user.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            ordinary: false,
            revocation: false,
            follows: Default::default(),
        };
        let (mut memory_family, mut memory_session, mut memory_token) = (vec![], vec![], vec![]);
        for (k, name) in spec.fields.in_memory.iter().enumerate() {
            let found = if let Some(n) = name.strip_prefix("family.") {
                names.family.iter().position(|(f, _)| f == n).map(|i| memory_family.push(i as u8))
            } else if let Some(n) = name.strip_prefix("session.") {
                names.session.iter().position(|(f, _)| f == n).map(|i| memory_session.push(i as u8))
            } else if let Some(n) = name.strip_prefix("token.") {
                names.token.iter().position(|(f, _)| f == n).map(|i| memory_token.push(i as u8))
            } else {
                None
            };
            if found.is_none() {
                let declared: Vec<String> = names
                    .family
                    .iter()
                    .map(|(n, _)| format!("family.{n}"))
                    .chain(names.session.iter().map(|(n, _)| format!("session.{n}")))
                    .chain(names.token.iter().map(|(n, _)| format!("token.{n}")))
                    .collect();
                let hint = expr::did_you_mean(name, declared.iter().map(String::as_str))
                    .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
                return Err(fail(
                    format!("{at}.fields.in_memory[{k}]"),
                    name,
                    format!("a declared field, `family.NAME`, `session.NAME` or `token.NAME`{hint}"),
                ));
            }
        }
        for (h, name) in [
            (spec.sign_in.as_ref(), "sign_in"),
            (spec.password_change.as_ref(), "password_change"),
            (spec.request.as_ref(), "request"),
        ] {
            if let Some(h) = h.filter(|h| h.presents != PresentsSpec::default()) {
                return Err(fail(
                    format!("{at}.{name}.presents"),
                    &serde_json::to_string(&h.presents).unwrap_or_default(),
                    "no `presents` here: only `refresh` and `sign_out` choose what they present (a sign-in presents no token, an ordinary request an access token)".into(),
                ));
            }
        }
        for (h, name) in [
            (Some(&spec.refresh), "refresh"),
            (spec.sign_in.as_ref(), "sign_in"),
            (spec.password_change.as_ref(), "password_change"),
            (spec.request.as_ref(), "request"),
        ] {
            if let Some(r) = h.and_then(|h| h.revocation) {
                return Err(fail(
                    format!("{at}.{name}.revocation"),
                    &serde_json::to_string(&r).unwrap_or_default(),
                    "no `revocation` here: only `sign_out` is a revocation endpoint (RFC 7009)".into(),
                ));
            }
        }
        let refresh_presents = compile_presents(&spec.refresh.presents, &format!("{at}.refresh.presents"))?;
        if refresh_presents == Presents::AccessToken {
            return Err(fail(
                format!("{at}.refresh.presents"),
                &serde_json::to_string(&spec.refresh.presents).unwrap_or_default(),
                "\"refresh_token\" or [\"refresh_token\", \"access_token\"] (a refresh presents the refresh token; the access token only beside it)".into(),
            ));
        }
        let refresh_access = refresh_presents.access();
        if refresh_access && spec.replicas > 1 {
            return Err(fail(
                format!("{at}.refresh.presents"),
                &serde_json::to_string(&spec.refresh.presents).unwrap_or_default(),
                "\"refresh_token\" when `replicas` is 2 (access tokens are kept by one node)".into(),
            ));
        }
        let refresh_names = Names { ordinary: refresh_access, ..names.clone() };
        let refresh = compile_handler(&spec.refresh, &format!("{at}.refresh"), &refresh_names, Endpoint::Refresh)
            .map_err(|mut e| {
                if !refresh_access && (e.message.contains("access token") || e.message.contains("`revoke access`")) {
                    e.message.push_str(
                        "; a refresh that presents the access token beside its refresh token reads it with `\"presents\": [\"refresh_token\", \"access_token\"]` in `refresh`",
                    );
                }
                e
            })?;
        if refresh_presents == Presents::Both {
            refuse_newest_access_columns(&refresh, &spec.refresh, &format!("{at}.refresh"), "a refresh")?;
        }
        let presents = compile_presents(&spec.sign_out.presents, &format!("{at}.sign_out.presents"))?;
        let by_access = presents.access();
        if by_access && spec.replicas > 1 {
            return Err(fail(
                format!("{at}.sign_out.presents"),
                &serde_json::to_string(&spec.sign_out.presents).unwrap_or_default(),
                "\"refresh_token\" when `replicas` is 2 (access tokens are kept by one node)".into(),
            ));
        }
        let revocation = spec.sign_out.revocation;
        if let Some(r) = revocation {
            let found = serde_json::to_string(&r).unwrap_or_default();
            let at = format!("{at}.sign_out.revocation");
            if presents == Presents::Both {
                return Err(fail(
                    at,
                    &found,
                    "a revocation request carries one token (RFC 7009 §2.1 `token`): `presents` \"refresh_token\" or \"access_token\", not both".into(),
                ));
            }
            if r.search == Search::Hinted && r.hint == Hint::None {
                return Err(fail(
                    at,
                    &found,
                    "a `hint` (\"access_token\" or \"refresh_token\") with `search: \"hinted\"`: without a hint the server searches every kind".into(),
                ));
            }
            if spec.replicas > 1 {
                return Err(fail(
                    at,
                    &found,
                    "no `revocation` when `replicas` is 2 (access tokens are kept by one node)".into(),
                ));
            }
        }
        let sign_out_names =
            Names { ordinary: by_access || revocation.is_some(), revocation: revocation.is_some(), ..names.clone() };
        let sign_out = compile_handler(&spec.sign_out, &format!("{at}.sign_out"), &sign_out_names, Endpoint::SignOut)
            .map_err(|mut e| {
                if !by_access && (e.message.contains("access token") || e.message.contains("`revoke access`")) {
                    e.message.push_str(
                        "; a sign-out that presents the access token reads it with `\"presents\": \"access_token\"` in `sign_out` (`[\"access_token\", \"refresh_token\"]` when it presents both)",
                    );
                }
                e
            })?;
        if presents == Presents::Both {
            refuse_newest_access_columns(&sign_out, &spec.sign_out, &format!("{at}.sign_out"), "a sign-out")?;
        }
        let sign_in = match &spec.sign_in {
            Some(h) => Some(compile_handler(h, &format!("{at}.sign_in"), &names, Endpoint::SignIn)?),
            None => None,
        };
        let password_change = match &spec.password_change {
            Some(h) => Some(compile_handler(h, &format!("{at}.password_change"), &names, Endpoint::PasswordChange)?),
            None => None,
        };
        if spec.request.is_some() && spec.replicas > 1 {
            return Err(fail(
                format!("{at}.request"),
                "a `request` handler with two nodes",
                "no `request` handler when `replicas` is 2 (access tokens are kept by one node)".into(),
            ));
        }
        let ordinary_names = Names { ordinary: true, ..names.clone() };
        let request = match &spec.request {
            Some(h) => compile_handler(h, &format!("{at}.request"), &ordinary_names, Endpoint::Request)?,
            None => compile_handler(&default_request(), &format!("{at}.request"), &ordinary_names, Endpoint::Request)
                .expect("the default request handler compiles"),
        };
        let mut records_issued_at = false;
        let mut reads_user = false;
        let mut uses_access = spec.request.is_some() || by_access || refresh_access;
        let all_rules = refresh
            .steps
            .iter()
            .chain(&sign_out.steps)
            .chain(sign_in.iter().flat_map(|h| &h.steps))
            .chain(password_change.iter().flat_map(|h| &h.steps))
            .chain(&request.steps)
            .flat_map(|s| &s.rules);
        for r in all_rules {
            let mut reads_access = false;
            let mut see = |v: &Var| {
                records_issued_at |= matches!(v, Var::IssuedAt | Var::Follow(_, expr::Column::IssuedAt));
                reads_user |= v.is_user();
                reads_access |= matches!(
                    v,
                    Var::PresentedAccessUsed
                        | Var::PresentedAccessRevoked
                        | Var::ChildAccessUsed
                        | Var::ChildAccessRevoked
                );
            };
            r.when.visit_vars(&mut see);
            for e in &r.effects {
                for x in effect_exprs(e) {
                    x.visit_vars(&mut see);
                }
            }
            if let ReplyForm::Ok(x) = &r.reply {
                x.visit_vars(&mut see);
            }
            let revokes_access = r
                .effects
                .iter()
                .any(|e| matches!(e, Effect::Revoke(RevokeScope::PresentedAccess | RevokeScope::ChildAccess)));
            uses_access |= reads_access || revokes_access;
        }
        let follows = names.follows.borrow().clone();
        let waits = refresh
            .steps
            .iter()
            .chain(sign_in.iter().flat_map(|h| &h.steps))
            .chain(password_change.iter().flat_map(|h| &h.steps))
            .filter_map(|s| s.waits_until.as_ref());
        for w in waits {
            w.visit_vars(&mut |v: &Var| {
                reads_user |= v.is_user();
            });
        }
        reads_user |= follows.iter().any(|p| p.root.is_user());
        if reads_user && spec.replicas > 1 {
            return Err(fail(
                format!("{at}.replicas"),
                "2",
                "1 when a rule reads `user.` (what one node knows of the user's sessions is not modelled for two)"
                    .into(),
            ));
        }
        Ok(Protocol {
            refresh,
            sign_out,
            sign_out_presents: presents,
            refresh_presents,
            revocation: spec.sign_out.revocation,
            sign_in,
            password_change,
            request,
            uses_access,
            clients: spec.clients,
            request_fields: names.request,
            family_fields: names.family,
            session_fields: names.session,
            token_fields: names.token,
            user_fields: names.user,
            records_issued_at,
            reads_user,
            reuse_interval: spec.reuse_interval,
            replicas: spec.replicas,
            routing: spec.routing,
            instances: spec.instances,
            restarts: spec.restarts,
            memory_family,
            memory_session,
            memory_token,
            follows,
            wording: spec.wording.clone(),
        })
    }
}

impl ProtocolError {
    fn at(field: String, found: &str, message: String) -> ProtocolError {
        ProtocolError { field, found: found.into(), message }
    }
}

/// `presents` as written, compiled: one token or a list naming each at most once (`at` is
/// the field's path for the error).
fn compile_presents(spec: &PresentsSpec, at: &str) -> Result<Presents, ProtocolError> {
    Ok(match spec {
        PresentsSpec::One(Credential::RefreshToken) => Presents::RefreshToken,
        PresentsSpec::One(Credential::AccessToken) => Presents::AccessToken,
        PresentsSpec::List(list) => {
            let has = |c: Credential| list.iter().filter(|&&x| x == c).count();
            match (has(Credential::RefreshToken), has(Credential::AccessToken)) {
                (1, 0) => Presents::RefreshToken,
                (0, 1) => Presents::AccessToken,
                (1, 1) => Presents::Both,
                _ => {
                    return Err(ProtocolError::at(
                        at.to_string(),
                        &serde_json::to_string(spec).unwrap_or_default(),
                        "a list of \"refresh_token\" and \"access_token\", each at most once and at least one of them"
                            .into(),
                    ))
                }
            }
        }
    })
}

/// In a handler whose request presents both tokens, `presented.access.*` (the newest access
/// token of the presented refresh token) is refused: its rules read the presented access token
/// as `access.*`. `at` is the handler's path, `what` names the request for the message.
fn refuse_newest_access_columns(h: &Handler, spec: &HandlerSpec, at: &str, what: &str) -> Result<(), ProtocolError> {
    let rules = h.steps.iter().enumerate().flat_map(|(s, st)| st.rules.iter().enumerate().map(move |(i, r)| (s, i, r)));
    for (s, i, r) in rules {
        let mut found = None;
        let mut see = |v: &Var| match v {
            Var::PresentedAccessUsed => found = Some("presented.access.used"),
            Var::PresentedAccessRevoked => found = Some("presented.access.revoked"),
            _ => {}
        };
        r.when.visit_vars(&mut see);
        for e in &r.effects {
            for x in effect_exprs(e) {
                x.visit_vars(&mut see);
            }
        }
        if let Some(name) = found {
            let column = name.rsplit('.').next().unwrap_or_default();
            let rule = if spec.steps.is_empty() { format!("rules[{i}]") } else { format!("steps[{s}].rules[{i}]") };
            return Err(ProtocolError::at(
                format!("{at}.{rule}"),
                name,
                format!("`access.{column}` ({what} that presents both tokens reads the presented access token as `access.`, and the refresh token it was issued with as `access.refresh_token`)"),
            ));
        }
    }
    Ok(())
}

/// Which handler is compiled: what its rules may do and answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Refresh,
    SignOut,
    SignIn,
    /// The `password_change` handler: a sign-in's rules, and the answer `session_kept`.
    PasswordChange,
    Request,
}

impl Endpoint {
    /// A sign-in's handler (`sign_in` or `password_change`): its rules revoke and set, and
    /// may mark an eviction; no lock or transaction.
    fn signs_in(self) -> bool {
        matches!(self, Endpoint::SignIn | Endpoint::PasswordChange)
    }
}

/// The ordinary-request handler of a protocol that declares none: the resource server
/// accepts an access token that has not expired and was not revoked (a self-contained JWT
/// whose revocation the resource server learns, RFC 7662 introspection) and refuses any other
/// with 401 `invalid_token` (RFC 6750 §3.1).
pub fn default_request() -> HandlerSpec {
    let rule = |name: &str, when: &str, reply: &str| RuleSpec {
        name: name.into(),
        when: when.into(),
        effects: vec![],
        reply: reply.into(),
        next: None,
        reuse_detected: false,
        rolled_back: false,
        evicts: None,
        source: Some("RFC 6750 §3.1; RFC 7662 §2.2".into()),
    };
    HandlerSpec {
        lock: Lock::None,
        lock_scope: None,
        presents: PresentsSpec::default(),
        revocation: None,
        rules: vec![
            rule("unexpired and not revoked", "access.exp >= now and not access.revoked", "ok"),
            rule("expired or revoked", "true", "invalid_token"),
        ],
        steps: vec![],
        transaction: false,
    }
}

fn compile_handler(h: &HandlerSpec, at: &str, names: &Names, endpoint: Endpoint) -> Result<Handler, ProtocolError> {
    // A sign-in may have several steps: it then runs as a request of its own, racing the
    // others, for a device that signs in during the run (`browser.sign_ins`; the model file
    // checks that pairing).
    let one_step = matches!(endpoint, Endpoint::SignOut | Endpoint::Request);
    let fail = |field: String, found: &str, message: &str| ProtocolError {
        field,
        found: found.into(),
        message: message.into(),
    };
    let written: Vec<(String, StepSpec)> = match (h.rules.is_empty(), h.steps.is_empty()) {
        (false, true) => {
            vec![(
                at.to_string(),
                StepSpec { name: "serve".into(), reads: Reads::Current, waits_until: None, rules: h.rules.clone() },
            )]
        }
        (true, false) => h.steps.iter().enumerate().map(|(i, s)| (format!("{at}.steps[{i}]"), s.clone())).collect(),
        (empty, _) => {
            let found = if empty { "neither `rules` nor `steps`" } else { "both `rules` and `steps`" };
            return Err(fail(
                at.to_string(),
                found,
                "either `rules` (a handler that is one atomic step) or `steps` (several)",
            ));
        }
    };
    if one_step && written.len() > 1 {
        return Err(fail(
            format!("{at}.steps"),
            &format!("{} steps", written.len()),
            "`rules`: a sign-out (RFC 7009 revocation) and an ordinary request are one action each",
        ));
    }
    if endpoint.signs_in() && (h.lock != Lock::None || h.transaction) {
        let (field, found) = if h.lock != Lock::None { ("lock", "family") } else { ("transaction", "true") };
        return Err(fail(
            format!("{at}.{field}"),
            found,
            "no `lock` or `transaction` in a sign-in (the new family has no refresh to lock against, and a sign-in's rules roll nothing back)",
        ));
    }
    if h.transaction && written.len() < 2 {
        return Err(fail(
            format!("{at}.transaction"),
            "true",
            "false for a handler of one step (a step is atomic already; `transaction` spans several)",
        ));
    }
    if written.len() > MAX_STEPS {
        return Err(fail(format!("{at}.steps"), &format!("{} steps", written.len()), "at most 8 steps"));
    }
    if h.lock == Lock::None && h.lock_scope.is_some() {
        return Err(fail(
            format!("{at}.lock_scope"),
            &serde_json::to_string(&h.lock_scope).unwrap_or_default(),
            "no `lock_scope` without `lock: \"family\"` (the scope of a lock the handler does not take)",
        ));
    }
    if h.lock != Lock::None && written.len() < 2 {
        return Err(fail(
            format!("{at}.lock"),
            "family",
            "expected \"none\" for a handler of one step (the lock is held from the first step to the last)",
        ));
    }
    // Every step's name first: a rule's `next` is resolved by name, so a duplicate is reported
    // as itself, not as a `next` that names the wrong step.
    for (k, (here, step)) in written.iter().enumerate() {
        if !name_ok(&step.name) || written[..k].iter().any(|(_, o)| o.name == step.name) {
            return Err(fail(
                format!("{here}.name"),
                &step.name,
                "a short name no other step of this handler has: 1 to 80 characters, no backtick or control character",
            ));
        }
    }
    let mut steps = vec![];
    for (k, (here, step)) in written.iter().enumerate() {
        let waits_until = match &step.waits_until {
            None => None,
            Some(_) if one_step => {
                return Err(fail(
                    format!("{here}.waits_until"),
                    step.waits_until.as_deref().unwrap_or_default(),
                    "no `waits_until` here: only a refresh handler's steps can wait (a sign-out, a sign-in and an ordinary request are one action each)",
                ));
            }
            Some(text) => Some(expr::parse_condition(text, names, "a `waits_until` condition").map_err(|e| {
                ProtocolError { field: format!("{here}.waits_until"), found: text.clone(), message: e.message }
            })?),
        };
        if k == 0 && step.reads == Reads::Snapshot {
            return Err(fail(
                format!("{here}.reads"),
                "snapshot",
                "expected \"current\" in the first step (there is no earlier read)",
            ));
        }
        let last = k + 1 == written.len();
        let earlier_mint = steps.iter().flat_map(|s: &Step| &s.rules).any(|r| r.effects.iter().any(Effect::mints));
        let mut rules = compile_rules(&step.rules, here, names, (endpoint, last, earlier_mint))?;
        if step.reads == Reads::Snapshot {
            snapshot_follows_no_request_field(&rules, &step.rules, here, names)?;
        }
        for (i, (rule, written_rule)) in rules.iter_mut().zip(&step.rules).enumerate() {
            rule.next = next_step(&written, k, rule, written_rule, &format!("{here}.rules[{i}].next"))?;
        }
        let waits_until_text = step.waits_until.as_ref().map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "));
        steps.push(Step { name: step.name.clone(), reads: step.reads, waits_until, waits_until_text, rules });
    }
    Ok(Handler { lock: h.lock, lock_scope: h.lock_scope.unwrap_or_default(), steps, transaction: h.transaction })
}

/// A `reads: snapshot` step reads the view an earlier step captured, with the rows of the
/// followed paths as they were then; a request field may have been written since, so the
/// token it names now may not be the token whose row was captured. Such a step may not follow
/// a `request.F` (`request.F.COLUMN`): the error names the rule's field.
fn snapshot_follows_no_request_field(
    rules: &[Rule],
    written: &[RuleSpec],
    here: &str,
    names: &Names,
) -> Result<(), ProtocolError> {
    let follows = names.follows.borrow();
    for (i, (r, w)) in rules.iter().zip(written).enumerate() {
        let mut exprs: Vec<(String, &str, &expr::Expr)> = vec![(format!("{here}.rules[{i}].when"), &w.when, &r.when)];
        for (k, e) in r.effects.iter().enumerate() {
            for x in effect_exprs(e) {
                exprs.push((format!("{here}.rules[{i}].do[{k}]"), &w.effects[k], x));
            }
        }
        if let ReplyForm::Ok(x) = &r.reply {
            exprs.push((format!("{here}.rules[{i}].reply"), &w.reply, x));
        }
        for (field, text, x) in exprs {
            let found = x.find_var(|v| match v {
                Var::Follow(slot, _) => match follows.get(*slot as usize).map(|p| p.root) {
                    Some(Var::RequestField(f)) => Some(f),
                    _ => None,
                },
                _ => None,
            });
            if let Some(f) = found {
                let name = &names.request[f as usize].0;
                return Err(ProtocolError {
                    field,
                    found: text.to_string(),
                    message: format!(
                        "no `request.{name}.COLUMN` in a `reads: snapshot` step: the snapshot holds the rows of the tokens the earlier read followed, and `request.{name}` may name another token now; follow it in a `reads: current` step, or keep the column in a request field there"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The expressions an effect evaluates on the step's read: a `set`'s value, and the token
/// expression of an effect through a path.
pub fn effect_exprs(e: &Effect) -> Vec<&expr::Expr> {
    match e {
        Effect::Set(_, _, x) | Effect::RevokeToken(x) | Effect::SupersedeToken(x, _) | Effect::RevokeAround(_, x) => {
            vec![x]
        }
        Effect::SetToken(t, _, x) => vec![t, x],
        Effect::MintChild { .. } | Effect::SupersedePresented | Effect::Revoke(_) => vec![],
    }
}

/// The step a rule of step `k` hands its request to: `None` unless it answers `continue`;
/// the step its `next` names, which must be a later step of the handler (a handler runs
/// forward only, so it always ends); else step `k + 1`. `at` is the `next` field's path.
fn next_step(
    written: &[(String, StepSpec)],
    k: usize,
    rule: &Rule,
    spec: &RuleSpec,
    at: &str,
) -> Result<Option<u8>, ProtocolError> {
    let fail = |found: &str, message: String| ProtocolError { field: at.to_string(), found: found.into(), message };
    let Some(name) = &spec.next else {
        return Ok((rule.reply == ReplyForm::Continue).then_some((k + 1) as u8));
    };
    if rule.reply != ReplyForm::Continue {
        return Err(fail(
            name,
            format!("no `next` with `reply: {}` (`next` names the step a `continue` goes to)", rule.reply_text),
        ));
    }
    match written.iter().position(|(_, s)| s.name == *name) {
        Some(j) if j > k => Ok(Some(j as u8)),
        Some(j) => Err(fail(
            name,
            format!(
                "a later step than `{}` (step {}): `{name}` is step {}; a handler runs forward only, so it always ends",
                written[k].1.name,
                k + 1,
                j + 1
            ),
        )),
        None => {
            let later: Vec<&str> = written[k + 1..].iter().map(|(_, s)| s.name.as_str()).collect();
            let hint = expr::did_you_mean(name, later.iter().copied())
                .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
            let list = later.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            Err(fail(name, format!("the name of a later step of this handler ({list}){hint}")))
        }
    }
}

/// The longest name of a step or rule, and the longest wording text, in characters: one
/// line of a trace's step list or of its chart.
pub const MAX_NAME_CHARS: usize = 80;

/// Whether a rule's or step's name can be shown in a trace line: 1 to [`MAX_NAME_CHARS`]
/// characters, no backtick (names are quoted with backticks) and no character a trace line
/// cannot show ([`unshowable`]). Used by the `protocol` and `session_server` languages alike.
pub(crate) fn name_ok(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(|c| c == '`' || unshowable(c))
}

/// Whether `c` may not appear in a model-file text that a trace line shows: a control character
/// (a line break, an escape sequence), a line or paragraph separator (U+2028, U+2029), or a
/// bidirectional formatting character (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to
/// U+2069: Unicode Standard Annex 9), which would reorder the rest of the line as it is shown.
pub(crate) fn unshowable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn compile_rules(
    written: &[RuleSpec],
    at: &str,
    names: &Names,
    (endpoint, last, earlier_mint): (Endpoint, bool, bool),
) -> Result<Vec<Rule>, ProtocolError> {
    let fail =
        |field: String, found: &str, e: ExprError| ProtocolError { field, found: found.into(), message: e.message };
    let msg = |m: &str| ExprError { message: m.into() };
    let sign_out = endpoint != Endpoint::Refresh;
    let what = match endpoint {
        Endpoint::SignIn => "sign-in",
        Endpoint::PasswordChange => "password-change",
        Endpoint::Request => "ordinary request",
        _ => "sign-out",
    };
    if written.len() > MAX_RULES {
        return Err(fail(format!("{at}.rules"), &format!("{} rules", written.len()), msg("at most 32 rules")));
    }
    let mut rules = vec![];
    for (i, r) in written.iter().enumerate() {
        let here = format!("{at}.rules[{i}]");
        if !name_ok(&r.name) {
            return Err(fail(
                format!("{here}.name"),
                &r.name,
                msg(
                    "a short name for the rule (shown in traces): 1 to 80 characters, no backtick or control character",
                ),
            ));
        }
        if sign_out && (r.reuse_detected || r.rolled_back) {
            return Err(fail(
                here.clone(),
                &r.name,
                msg(&format!(
                    "a {what} rule without `reuse_detected` or `rolled_back` (they mark a refresh's reuse detection and its rolled-back transaction)"
                )),
            ));
        }
        if written[..i].iter().any(|o| o.name == r.name) {
            return Err(fail(format!("{here}.name"), &r.name, msg("a name no other rule of this step has")));
        }
        match (r.evicts, endpoint) {
            (None, _) | (Some(Evicts::Others), Endpoint::SignOut) => {}
            (Some(_), e) if e.signs_in() => {}
            (Some(evicts), Endpoint::SignOut) => {
                return Err(fail(
                    format!("{here}.evicts"),
                    evicts.word(),
                    msg("\"others\" in a `sign_out` rule (\"sign out everywhere\": the sessions of the other devices \
                         its revocations end; `oldest` and `least-recently-used` are a sign-in's cap)"),
                ));
            }
            (Some(evicts), _) => {
                return Err(fail(
                    format!("{here}.evicts"),
                    evicts.word(),
                    msg("`evicts` only in a `sign_in` or `password_change` rule (the sessions a sign-in is meant to \
                         end) or a `sign_out` rule (\"others\": a sign-out that ends every device's session)"),
                ));
            }
        }
        let when = expr::parse_guard(&r.when, names).map_err(|e| fail(format!("{here}.when"), &r.when, e))?;
        let mut effects = vec![];
        for (k, text) in r.effects.iter().enumerate() {
            let e = expr::parse_effect(text, names).map_err(|e| fail(format!("{here}.do[{k}]"), text, e))?;
            if sign_out
                && matches!(e, Effect::MintChild { .. } | Effect::SupersedePresented | Effect::SupersedeToken(..))
            {
                return Err(fail(
                    format!("{here}.do[{k}]"),
                    text,
                    msg(if endpoint == Endpoint::Request {
                        "a `revoke` or a `set` (an ordinary request mints and rotates nothing)"
                    } else {
                        "a `revoke` or a `set` (a sign-out or a sign-in mints and rotates nothing)"
                    }),
                ));
            }
            if matches!(e, Effect::Set(expr::Scope::Minted, ..)) && !earlier_mint && !effects.iter().any(Effect::mints)
            {
                return Err(fail(
                    format!("{here}.do[{k}]"),
                    text,
                    msg("`minted` is none here, a token with no row: write `minted.F` after `mint child` in this rule's `do`, or in a step after one that mints"),
                ));
            }
            effects.push(e);
        }
        // A sign-out's `revoke session` ends the presented token's client session, which may
        // span other devices (one SSO session of several clients).
        let ends_others = |e: &Effect| {
            revokes_refresh_tokens(e) || (endpoint == Endpoint::SignOut && *e == Effect::Revoke(RevokeScope::Session))
        };
        if let (Some(evicts), true, Endpoint::SignOut) = (r.evicts, !effects.iter().any(ends_others), endpoint) {
            return Err(fail(
                format!("{here}.evicts"),
                evicts.word(),
                msg("`evicts` on a sign-out rule whose `do` revokes other devices' refresh tokens: the \
                     sessions it ends are the ones its revocations end, and this rule revokes only the \
                     presented token's family (expected `revoke user`, `revoke client`, `revoke session`, \
                     `revoke session of …` or `revoke family of …` in this rule's `do`)"),
            ));
        }
        if let (Some(evicts), false, false) =
            (r.evicts, effects.iter().any(revokes_refresh_tokens), endpoint == Endpoint::SignOut)
        {
            return Err(fail(
                format!("{here}.evicts"),
                evicts.word(),
                msg("`evicts` on a rule whose `do` revokes refresh tokens: the sessions a sign-in ends are \
                     the ones its revocations end, and this rule revokes none (expected a `revoke` of a token, \
                     a family or a session of another sign-in in this rule's `do`: `revoke user.oldest`, \
                     `revoke family of request.victim`, `revoke session of user.least_recently_used`, \
                     `revoke user`; `revoke family`, `revoke presented` and the like name the new \
                     sign-in's own family, which it spares; or `evicts` on the rule that does)"),
            ));
        }
        let mints = effects.iter().filter(|e| e.mints()).count();
        if mints > 1 {
            return Err(fail(format!("{here}.do"), "two `mint child`", msg("at most one `mint child` per rule")));
        }
        let reply = expr::parse_reply(&r.reply, names).map_err(|e| fail(format!("{here}.reply"), &r.reply, e))?;
        if reply == ReplyForm::OkMinted && mints == 0 && !earlier_mint {
            return Err(fail(
                format!("{here}.reply"),
                &r.reply,
                msg("`ok minted` only in a rule whose `do` has `mint child`, or after a step that mints"),
            ));
        }
        let one_action = matches!(endpoint, Endpoint::SignOut | Endpoint::Request);
        if reply == ReplyForm::Continue && (last || one_action) {
            return Err(fail(
                format!("{here}.reply"),
                &r.reply,
                msg("expected an answer: `continue` only in a step that another step follows"),
            ));
        }
        let fits = match endpoint {
            Endpoint::Refresh => !matches!(
                reply,
                ReplyForm::SignedOut
                    | ReplyForm::SignedIn
                    | ReplyForm::SessionKept
                    | ReplyForm::OkServed
                    | ReplyForm::InvalidToken
            ),
            Endpoint::SignOut => reply == ReplyForm::SignedOut,
            Endpoint::SignIn => matches!(reply, ReplyForm::SignedIn | ReplyForm::Continue),
            Endpoint::PasswordChange => {
                matches!(reply, ReplyForm::SignedIn | ReplyForm::SessionKept | ReplyForm::Continue)
            }
            Endpoint::Request => matches!(
                reply,
                ReplyForm::OkServed | ReplyForm::InvalidToken | ReplyForm::InvalidRequest | ReplyForm::ServerError
            ),
        };
        if !fits {
            let expected = if endpoint == Endpoint::SignOut {
                "expected `signed_out` (the sign-out's answer)"
            } else if endpoint == Endpoint::SignIn {
                "expected `signed_in` (the sign-in's answer), or `continue` in a step that another step follows; `session_kept` only in a `password_change` rule"
            } else if endpoint == Endpoint::PasswordChange {
                "expected `signed_in` (a new session for the device), `session_kept` (the device keeps the session it holds), or `continue` in a step that another step follows"
            } else if endpoint == Endpoint::Request {
                "expected `ok`, `invalid_token`, `invalid_request` or `server_error` (an ordinary request's answer)"
            } else {
                "expected `ok minted`, `ok TOKEN`, `invalid_grant`, `invalid_request`, `server_error` or `continue` (a refresh's answer)"
            };
            return Err(fail(format!("{here}.reply"), &r.reply, msg(expected)));
        }
        if r.rolled_back
            && matches!(reply, ReplyForm::Ok(_) | ReplyForm::OkMinted | ReplyForm::OkAccessOnly | ReplyForm::Continue)
        {
            return Err(fail(
                format!("{here}.reply"),
                &r.reply,
                msg("an error answer in a rolled-back rule (a transaction that is rolled back answers an error)"),
            ));
        }
        rules.push(Rule {
            name: r.name.clone(),
            when,
            effects,
            reply,
            reply_text: r.reply.split_whitespace().collect::<Vec<_>>().join(" "),
            next: None,
            reuse_detected: r.reuse_detected,
            rolled_back: r.rolled_back,
            evicts: r.evicts,
        });
    }
    Ok(rules)
}
