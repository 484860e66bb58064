//! The expression language of guards (`when`), effects (`do`) and replies (`reply`): parsing,
//! type checking and evaluation.
//!
//! Grammar (keywords are lower case; `#` starts nothing, there are no comments):
//!
//! ```text
//! expr   := or
//! or     := and ("or" and)*
//! and    := not ("and" not)*
//! not    := "not" not | cmp
//! cmp    := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
//! sum    := atom (("+" | "-") atom)*
//! atom   := INTEGER | "true" | "false" | "none" | "active" | "superseded" | "revoked"
//!         | PATH | "(" expr ")"
//! effect := "mint child" | "supersede presented" | "supersede" PATH
//!         | "revoke" ("presented" | "presented.child" | "descendants" | "family" | "session" | "client" | "user")
//!         | "revoke" PATH                                          (the token a token-valued path names)
//!         | "revoke user except" ("family" | "session")            (the user's other sessions)
//!         | "revoke" ("access" | "presented.access" | "presented.child.access")
//!         | "revoke" ("family" | "session" | "request") "." FIELD      (a declared token field)
//!         | "revoke" ("presented" | "presented.child" | "minted") "." FIELD  (a token field of type token)
//!         | "set" ("family" | "session" | "request") "." FIELD "=" expr
//!         | "set" ("presented" | "presented.child" | "minted") "." FIELD "=" expr  (a declared token field)
//!         | "set" PATH "." FIELD "=" expr                         (a token field of the token PATH names)
//! PATH   := ROOT ("." LINK)*   (at most MAX_LINKS links)
//! ROOT   := "presented.parent" | "presented.child" | "minted" | a declared field of type token
//! LINK   := "parent" | "child" | a declared token field of type token
//! reply  := "ok" expr | "ok access-only" | "invalid_grant" | "invalid_request" | "server_error" | "signed_out"
//!         | "signed_in" | "session_kept" | "continue" | "ok" | "invalid_token"
//! ```
//!
//! Values are small non-negative integers: ticks, counts and token numbers (`none` is no
//! token). `-` stops at 0 (ticks and counts are never negative). Every name, its type and what
//! it reads are listed by [`Var`]; `docs/protocol-language.md` is the reference.

use super::FieldType;

/// The verbs of a server that deletes rows instead of marking them (`delete user`, `remove
/// family`): an effect that starts with one is answered with the `revoke` that says it.
const DELETE_VERBS: &[&str] = &["delete", "remove", "drop", "destroy", "erase", "purge"];

/// A value read by an expression from the read view of a handler ([`super::View`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Var {
    /// `now`: the server's clock, in ticks.
    Now,
    /// `presented`: the presented refresh token (a token).
    Presented,
    /// `presented.status`: `active`, `superseded` or `revoked`.
    Status,
    /// `presented.generation`: 0 at sign-in, its parent's plus one.
    Generation,
    /// `presented.rotated_at`: the tick it was first superseded (0 while active).
    RotatedAt,
    /// `presented.grace_uses`: redemptions after it was superseded that answered 2xx (a count).
    GraceUses,
    /// `presented.used`: it has been redeemed with a 2xx answer at least once.
    Used,
    /// `presented.issued_at`: the tick it was minted (the JWT's `iat`).
    IssuedAt,
    /// `presented.parent`: the token it was minted for (`none` at sign-in).
    Parent,
    /// `presented.child`: the newest child minted for it (`none` if none).
    Child,
    /// `presented.child.status`: that child's status (`none` without a child).
    ChildStatus,
    /// `presented.child.used`: that child has been redeemed with a 2xx answer.
    ChildUsed,
    /// `family.login_at`: the family's sign-in tick.
    LoginAt,
    /// `family.last_used_at`: the tick of the family's last 2xx redemption (sign-in at first).
    LastUsedAt,
    /// `family.newest_generation`: the highest generation of a token of the family that is
    /// not revoked.
    NewestGeneration,
    /// `family.<field>`: a field the protocol declares per family (index into the declared
    /// fields, sorted by name).
    FamilyField(u8),
    /// `session.<field>`: a field the protocol declares per client session (a device's sign-ins).
    SessionField(u8),
    /// `user.<field>`: a field the protocol declares per user (`fields.user`): the user row every
    /// family of every device belongs to (nocobase's `passwordChangeTz`), a tick or a count.
    UserField(u8),
    /// `request.<field>`: a field the protocol declares per request: it lives from the
    /// handler's first step to its answer (a local variable of the handler, 0 on arrival).
    RequestField(u8),
    /// `presented.<field>`: a field the protocol declares per refresh token (`fields.token`),
    /// of the presented token's row as the read saw it.
    TokenField(u8),
    /// `presented.child.<field>`: that field of the presented token's newest child, as the
    /// read saw it (0, `none`, without a child).
    ChildField(u8),
    /// `family.client`: the OAuth client the family was signed in with (0 unless
    /// `clients: per-device`, where device `d`'s client is `d`).
    Client,
    /// `minted`: the token this request minted (in an earlier effect of this rule, or an
    /// earlier step), or `none`.
    Minted,
    /// `presented.access.used`: the newest access token issued with the presented refresh
    /// token has been used in an ordinary request answered 2xx (MAS `first_used_at`).
    PresentedAccessUsed,
    /// `presented.access.revoked`: that access token is revoked.
    PresentedAccessRevoked,
    /// `presented.child.access.used`: the newest access token issued with the presented
    /// token's child has been used (MAS PR 3650: "the next access token was never used").
    ChildAccessUsed,
    /// `presented.child.access.revoked`: that access token is revoked.
    ChildAccessRevoked,
    /// `access.exp` (ordinary requests only): the presented access token's expiry tick.
    AccessExp,
    /// `access.issued_at` (ordinary requests only): the tick it was issued.
    AccessIssuedAt,
    /// `access.used` (ordinary requests only): it was used before, in a request answered 2xx.
    AccessUsed,
    /// `access.revoked` (ordinary requests only): it is revoked.
    AccessRevoked,
    /// `access.refresh_token` (where an access token is presented): the refresh token the
    /// presented access token was issued with (a token). In the `request` handler and a
    /// sign-out that presents the access token alone it is `presented`; in a sign-out that
    /// presents both tokens it may differ from the presented refresh token.
    AccessRefreshToken,
    /// `token_type` (a revocation sign-out only): the kind the presented token was found as,
    /// [`KIND_ACCESS`] or [`KIND_REFRESH`] (`access_token`, `refresh_token`).
    TokenType,
    /// `user.active_tokens`: how many of the user's refresh tokens (every family of every
    /// device) are active, on the step's read.
    UserActiveTokens,
    /// `user.active_families`: how many of the user's families (sign-ins) have an active
    /// token, on the step's read.
    UserActiveFamilies,
    /// `user.oldest`: the active token of the user's oldest family that has one (the earliest
    /// `family.login_at`, then the earliest sign-in; within it the lowest token number), or
    /// `none`: a cap's "the oldest session" (a refresh keeps its token's creation time).
    UserOldest,
    /// `user.newest`: the active token of the user's newest family that has one (the latest
    /// `family.login_at`, then the latest sign-in; within it the highest token number), or
    /// `none`.
    UserNewest,
    /// `user.least_recently_used`: the active token of the user's family whose last 2xx
    /// redemption (`family.last_used_at`, its sign-in tick until its first) is the earliest,
    /// then the earliest sign-in; within it the lowest token number; `none` if none. Keycloak's
    /// session limit orders the user's sessions so (`UserSessionLimitsAuthenticator`, by
    /// `getLastSessionRefresh`).
    UserLeastRecentlyUsed,
    /// `user.most_recently_used`: the active token of the user's family redeemed (or signed
    /// in) latest, then the latest sign-in; within it the highest token number; `none` if none.
    UserMostRecentlyUsed,
    /// `PATH.COLUMN`: a column of the token a token-valued path names (`family.current.used`,
    /// `presented.parent.status`, `presented.answer.generation`, `family.current.child.status`,
    /// `minted.F`), read from the row of that token as the read saw it. The first number is the
    /// followed [`Path`]'s index in [`Names::follows`] (and [`super::Protocol::follows`]): the
    /// read view keeps that row ([`crate::model::oauth::ReadView::follow`]). A path that is
    /// `none` at any link, or names a token the store has no row for, reads 0 (`none`,
    /// `false`) in every column.
    Follow(u8, Column),
}

/// A column of a followed token's row (`BASE.COLUMN`, [`Var::Follow`]): the columns the
/// store keeps for every refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// `status`: `active`, `superseded` or `revoked`.
    Status,
    /// `generation`.
    Generation,
    /// `rotated_at`: the tick it was first superseded (0 while active).
    RotatedAt,
    /// `grace_uses`: redemptions after it was superseded that answered 2xx.
    GraceUses,
    /// `used`: redeemed with a 2xx answer at least once.
    Used,
    /// `issued_at`: the tick it was minted.
    IssuedAt,
    /// `parent`: the token it was minted for.
    Parent,
    /// `child`: its newest child.
    Child,
    /// A declared per-token field (`fields.token`), by index in name order.
    Field(u8),
}

/// The column names of a followed token, in the order the reference lists them.
pub const FOLLOW_COLUMNS: &[&str] =
    &["status", "generation", "rotated_at", "grace_uses", "used", "issued_at", "parent", "child"];

/// The most distinct token-valued paths a protocol may follow (`family.current.X`,
/// `presented.parent.X` and `family.current.child.X` are three): the read view keeps one row
/// per followed path, in every handler's state, so a protocol that follows none keeps nothing
/// more and its state count is unchanged.
pub const MAX_FOLLOWS: usize = 4;

/// The most links a followed path has after its root: `family.current.child.parent` (root
/// `family.current`, two links) names the third token of its chain. The links in between are
/// walked when the step reads; only the last token's row is kept.
pub const MAX_LINKS: usize = 2;

/// A token-valued path the read view follows: a root that names a token in the step's read
/// (`presented.parent`, `presented.child`, `minted`, or a declared field of type token:
/// [`Var::Parent`], [`Var::Child`], [`Var::Minted`], [`Var::FamilyField`],
/// [`Var::SessionField`], [`Var::RequestField`], [`Var::TokenField`], [`Var::ChildField`]),
/// then up to [`MAX_LINKS`] token-valued columns of the token reached so far
/// ([`Column::Parent`], [`Column::Child`], or a [`Column::Field`] of type token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    /// The token the path starts from, as the step's read names it.
    pub root: Var,
    /// The links followed from it, in order; `None` past the last.
    pub links: [Option<Column>; MAX_LINKS],
}

impl From<Var> for Path {
    fn from(root: Var) -> Self {
        Path { root, links: [None; MAX_LINKS] }
    }
}

/// The types of expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Ticks and counts.
    Num,
    /// `true` or `false`.
    Bool,
    /// A token number, or `none`.
    Token,
    /// A token status, or `none` (no such token).
    Status,
    /// The literal `none`: compares with tokens and statuses.
    None,
    /// A token kind: `access_token` or `refresh_token` (`token_type`).
    Kind,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Num => "a number (ticks or a count)",
            Ty::Bool => "a condition (true or false)",
            Ty::Token => "a token",
            Ty::Status => "a status (active, superseded, revoked)",
            Ty::None => "none",
            Ty::Kind => "a token type (access_token, refresh_token)",
        }
    }
}

pub use super::syntax::{did_you_mean, Cmp, MAX_TEXT};
use super::syntax::{want, Grammar, Parser, Tok, Tree, Words};

/// A parsed expression. Token statuses are encoded as [`STATUS_ACTIVE`], [`STATUS_SUPERSEDED`]
/// and [`STATUS_REVOKED`]; `none` is 0; booleans are 0 and 1.
pub type Expr = Tree<Var>;

/// `active` as a value.
pub const STATUS_ACTIVE: i32 = 1;
/// `superseded` as a value.
pub const STATUS_SUPERSEDED: i32 = 2;
/// `revoked` as a value.
pub const STATUS_REVOKED: i32 = 3;
/// `access_token` as a value of `token_type`.
pub const KIND_ACCESS: i32 = 1;
/// `refresh_token` as a value of `token_type`.
pub const KIND_REFRESH: i32 = 2;

impl Var {
    /// Whether this name is one of what the server knows of the user's sessions (`user.*`):
    /// a protocol that reads one keeps them on every read.
    pub fn is_user(&self) -> bool {
        matches!(
            self,
            Var::UserActiveTokens
                | Var::UserActiveFamilies
                | Var::UserOldest
                | Var::UserNewest
                | Var::UserLeastRecentlyUsed
                | Var::UserMostRecentlyUsed
        )
    }
}

/// What a `revoke` effect revokes: every token in it that is not revoked yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevokeScope {
    /// The presented token only.
    Presented,
    /// The presented token's newest child (as the read saw it).
    Child,
    /// Every token minted from the presented token, at any depth (its subtree, not itself).
    Descendants,
    /// Every token of the presented token's family.
    Family,
    /// Every token of every family of the presented token's client session (a device's
    /// sign-ins: Keycloak's client session).
    Session,
    /// Every token of every family signed in with the presented token's OAuth client (the
    /// user's one slot per client: Dex's `OfflineSessions.Refresh[clientID]`).
    Client,
    /// Every token of every family of the user (all devices).
    User,
    /// `revoke user except family`: every token of every family of the user but the presented
    /// token's own (better-auth `revokeOtherSessions`: every session but the caller's).
    UserExceptFamily,
    /// `revoke user except session`: every token of every family of the user but those of the
    /// presented token's client session (its device's sign-ins): in a password change, every
    /// other device (Laravel `logoutOtherDevices`, warmbly `RevokeOtherSessions`).
    UserExceptSession,
    /// `revoke access` (ordinary requests only): the presented access token.
    Access,
    /// `revoke presented.access`: every access token issued with the presented refresh token
    /// (ZITADEL: a refresh invalidates the previous pair's access token).
    PresentedAccess,
    /// `revoke presented.child.access`: every access token issued with the presented token's
    /// child, as the read saw it (MAS PR 3650 revokes the unused successor pair).
    ChildAccess,
    /// `revoke family.F`, `revoke session.F`, `revoke request.F`, `revoke presented.F`,
    /// `revoke presented.child.F`: the refresh token a declared field of type token names, as the step's view read it (before the rule's own effects);
    /// nothing when it is `none`. A server that keeps the current (and previous) token of a
    /// login in a row retires the token its write overwrites (Tractus-X EDC PR 3026's vault
    /// record `refreshToken` / `previousRefreshToken`).
    Field(Scope, u8),
}

/// Where a `set` writes a declared field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The presented token's family.
    Family,
    /// Its client session.
    Session,
    /// The user row (`fields.user`): one for every family of every device.
    User,
    /// The request being served (a `request.` field).
    Request,
    /// The presented refresh token's row (a `fields.token` field, `presented.F`).
    Presented,
    /// The presented token's newest child as the read saw it (`presented.child.F`): a write
    /// to no child writes nothing.
    Child,
    /// The token this request minted (`set minted.F`: after `mint child` in the rule's `do` or
    /// in a step after one that mints; skipped at run time for a request that minted nothing).
    /// Read, `minted.F` is the column `F` of the followed path `minted` ([`Var::Follow`]).
    Minted,
}

/// One effect of a rule, applied in order to the store as it is when the rule runs; every
/// expression in it reads the handler's read view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `mint child`: a new token, the next number, in the presented token's family, one
    /// generation down, active, issued now; it becomes the presented token's child. `mint
    /// child revoked` (`revoked`): the same row, born revoked: a token the server issues and
    /// answers with but that no handler will accept (goiabada issue 106's fix stamps a child
    /// racing the credential change with a generation already stale), so no property counts
    /// it as a live session.
    MintChild {
        /// The row is inserted revoked.
        revoked: bool,
    },
    /// `supersede presented`: unless it is revoked now, the presented token becomes superseded:
    /// at `now` with 0 grace uses if the read saw it active, or, if the read saw it already
    /// superseded, at its first rotation tick with one more grace use.
    SupersedePresented,
    /// `revoke X`.
    Revoke(RevokeScope),
    /// `set family.F = e` / `set session.F = e` / `set request.F = e` / `set presented.F = e`
    /// / `set presented.child.F = e` / `set minted.F = e`.
    Set(Scope, u8, Expr),
    /// `revoke PATH` (`revoke presented.parent`, `revoke family.current.child`, `revoke
    /// minted`): the token the expression names on the step's read (nothing when it is
    /// `none`), revoked in the store as it is now.
    RevokeToken(Expr),
    /// `supersede PATH` (`supersede presented.child`): the token the expression names on the
    /// step's read, superseded as `supersede presented` supersedes the presented token, by the
    /// status the read saw in its row (followed path number `.1`, [`Var::Follow`]): unless it
    /// is revoked now, superseded at now with 0 grace uses if the read saw it active (or saw
    /// no row), or with one more grace use at its first rotation tick if the read saw it
    /// superseded. Nothing when it is `none`.
    SupersedeToken(Expr, u8),
    /// `set PATH.F = e` (`set presented.parent.F = e`, `set family.current.F = e`): the
    /// declared token field `F` (index `.1`) of the token the path expression `.0` names on
    /// the step's read, written in the store as it is now; nothing when it is `none`.
    SetToken(Expr, u8, Expr),
    /// `revoke family of PATH` / `revoke session of PATH` (`revoke family of user.oldest`,
    /// `revoke session of request.victim`): every token of the family (or of every family of
    /// the client session) of the token the expression names on the step's read, revoked in
    /// the store as it is now; nothing when it is `none` or has no row.
    RevokeAround(Around, Expr),
}

impl Effect {
    /// Whether it is `mint child` (or `mint child revoked`).
    pub fn mints(&self) -> bool {
        matches!(self, Effect::MintChild { .. })
    }
}

/// What `revoke family of PATH` / `revoke session of PATH` revokes around the token named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Around {
    /// Every token of that token's family (one sign-in: Keycloak's user session with one
    /// client, a Supabase session).
    Family,
    /// Every token of every family of that token's client session (its device's sign-ins).
    Session,
}

/// A rule's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReplyForm {
    /// `ok minted`: 2xx with the token this request minted (in this step or an earlier one).
    OkMinted,
    /// `ok e`: 2xx with the token `e` evaluates to on the read view (`none`: 500).
    Ok(Expr),
    /// `ok access-only`: 2xx with a new access token and no refresh token: the client keeps
    /// the refresh token it has (get-convex/convex-auth PR 555).
    OkAccessOnly,
    /// `invalid_grant` (RFC 6749 §5.2): a refusal (the client's 4xx class); traces print
    /// `400 invalid_grant` unless the model's `wording.errors` says otherwise.
    InvalidGrant,
    /// `invalid_request`: 400.
    InvalidRequest,
    /// `server_error`: 500.
    ServerError,
    /// `signed_out`: the sign-out's 200, clearing the client's tokens.
    SignedOut,
    /// `signed_in`: the sign-in handler's answer (the new family's first token).
    SignedIn,
    /// `session_kept` (`password_change` handler only): the change is answered 200 and the
    /// device keeps the session it holds; no family is signed in (Django
    /// `update_session_auth_hash`, Laravel `logoutOtherDevices`).
    SessionKept,
    /// `continue`: no answer yet; the request goes on to the handler's next step.
    Continue,
    /// `ok` (ordinary requests only): 2xx, the resource served; no credential.
    OkServed,
    /// `invalid_token` (ordinary requests only; RFC 6750 §3.1): 401.
    InvalidToken,
}

/// A parse or type error: the message and the byte offset in the text where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// What was wrong and what was expected.
    pub message: String,
}

/// The names a protocol declares, for resolving `family.X` and `session.X`.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Per-family fields, sorted by name, with their types.
    pub family: Vec<(String, FieldType)>,
    /// Per-client-session fields, sorted by name.
    pub session: Vec<(String, FieldType)>,
    /// Per-request fields, sorted by name.
    pub request: Vec<(String, FieldType)>,
    /// Per-refresh-token fields, sorted by name.
    pub token: Vec<(String, FieldType)>,
    /// Per-user fields (`fields.user`), sorted by name: ticks and counts.
    pub user: Vec<(String, FieldType)>,
    /// The names are resolved for the ordinary-request handler: `access.` columns are
    /// readable there (and only there).
    pub ordinary: bool,
    /// The names are resolved for a sign-out that is a revocation endpoint
    /// (`sign_out.revocation`): `token_type`, `access_token` and `refresh_token` are readable
    /// there (and only there).
    pub revocation: bool,
    /// The token-valued paths ([`Path`]) some expression follows by a column, or some
    /// `supersede PATH` supersedes, in the order they were first parsed; at most
    /// [`MAX_FOLLOWS`]. Shared by the clones of these names (the ordinary-request handler's),
    /// so that an index means one path across the protocol.
    pub follows: std::rc::Rc<std::cell::RefCell<Vec<Path>>>,
}

fn err(message: String) -> ExprError {
    ExprError { message }
}

impl From<String> for ExprError {
    fn from(message: String) -> Self {
        ExprError { message }
    }
}

/// Every readable name, for "did you mean" and for the reference.
pub const BUILTIN_NAMES: &[&str] = &[
    "now",
    "presented",
    "presented.status",
    "presented.generation",
    "presented.rotated_at",
    "presented.grace_uses",
    "presented.used",
    "presented.issued_at",
    "presented.parent",
    "presented.child",
    "presented.child.status",
    "presented.child.used",
    "family.login_at",
    "family.last_used_at",
    "family.newest_generation",
    "family.client",
    "minted",
    "presented.access.used",
    "presented.access.revoked",
    "presented.child.access.used",
    "presented.child.access.revoked",
    "access.exp",
    "access.issued_at",
    "access.used",
    "access.revoked",
    "access.refresh_token",
    "user.active_tokens",
    "user.active_families",
    "user.oldest",
    "user.newest",
    "user.least_recently_used",
    "user.most_recently_used",
    "token_type",
];

impl Grammar for Names {
    type Var = Var;
    type Ty = Ty;
    const BOOL: Ty = Ty::Bool;
    const NUM: Ty = Ty::Num;
    const NONE: Ty = Ty::None;

    fn ty_name(t: Ty) -> &'static str {
        t.name()
    }

    fn nullable(t: Ty) -> bool {
        matches!(t, Ty::Token | Ty::Status)
    }

    fn name(&self, w: &str, _: &mut Parser<'_, Self>) -> Result<(Expr, Ty), String> {
        self.name(w)
    }
}

impl Names {
    fn name(&self, w: &str) -> Result<(Expr, Ty), String> {
        if let Some(direct) = self.direct(w) {
            return direct;
        }
        if let Some(followed) = self.follow(w) {
            return followed;
        }
        let declared = self.declared();
        let all = BUILTIN_NAMES.iter().copied().chain(declared.iter().map(String::as_str)).chain([
            "true",
            "false",
            "none",
            "active",
            "superseded",
            "revoked",
            "and",
            "or",
            "not",
        ]);
        // A declared field written without its scope (`current` for `family.current`).
        let scoped = declared.iter().find(|d| d.split_once('.').is_some_and(|(_, n)| n == w));
        let hint = match scoped.map(String::as_str).or_else(|| did_you_mean(w, all)) {
            // A family has no status of its own: its tokens have one each, and revoking the
            // family marks every one of them.
            _ if w == "family.status" => "; a family has no status column: each of its tokens has one (`presented.status`, or `family.F.status` for a declared token field `F`), and `revoke family` marks every token of the family `revoked`, so `presented.status == revoked` reads a revoked family".to_string(),
            // Outside the `request` handler no `access.` column is readable: never suggest one.
            Some(c) if !self.ordinary && c.starts_with("access.") => format!(
                "; `{c}` would be a column of the presented access token, readable only in the `request` handler (a refresh reads `presented.access.used` and `presented.access.revoked`)"
            ),
            Some(c) => format!("; did you mean `{c}`?"),
            None => String::new(),
        };
        let access = if self.ordinary { ", an `access.` column of the presented access token" } else { "" };
        Err(format!(
            "unknown name `{w}` (expected `now`, `presented`, a token status (`active`, `superseded`, `revoked`; `none`: no token), a `presented.` or `family.` column{access}, a `user.` count or token (`user.active_tokens`, `user.active_families`, `user.oldest`, `user.newest`, `user.least_recently_used`, `user.most_recently_used`), or a declared `family.`, `session.`, `user.`, per-token `presented.` or `request.` field{hint})"
        ))
    }

    /// A name that is not a followed path: a literal, a built-in column, a declared field.
    /// `None` for anything else (`minted.F` included: it is the column `F` of the followed
    /// path `minted`).
    fn direct(&self, w: &str) -> Option<Result<(Expr, Ty), String>> {
        let var = |v: Var, t: Ty| Some(Ok((Expr::Var(v), t)));
        match w {
            "true" => Some(Ok((Expr::Const(1), Ty::Bool))),
            "false" => Some(Ok((Expr::Const(0), Ty::Bool))),
            "none" => Some(Ok((Expr::Const(0), Ty::None))),
            "active" => Some(Ok((Expr::Const(STATUS_ACTIVE), Ty::Status))),
            "superseded" => Some(Ok((Expr::Const(STATUS_SUPERSEDED), Ty::Status))),
            "revoked" => Some(Ok((Expr::Const(STATUS_REVOKED), Ty::Status))),
            "token_type" | "access_token" | "refresh_token" if !self.revocation => Some(Err(format!(
                "`{w}` is read only in a `sign_out` with `revocation` (a revocation endpoint that takes a token of either kind: `token_type` is the kind it was found as, `access_token` or `refresh_token`)"
            ))),
            "token_type" => var(Var::TokenType, Ty::Kind),
            "access_token" => Some(Ok((Expr::Const(KIND_ACCESS), Ty::Kind))),
            "refresh_token" => Some(Ok((Expr::Const(KIND_REFRESH), Ty::Kind))),
            "now" => var(Var::Now, Ty::Num),
            "presented" => var(Var::Presented, Ty::Token),
            "presented.status" => var(Var::Status, Ty::Status),
            "presented.generation" => var(Var::Generation, Ty::Num),
            "presented.rotated_at" => var(Var::RotatedAt, Ty::Num),
            "presented.grace_uses" => var(Var::GraceUses, Ty::Num),
            "presented.used" => var(Var::Used, Ty::Bool),
            "presented.issued_at" => var(Var::IssuedAt, Ty::Num),
            "presented.parent" => var(Var::Parent, Ty::Token),
            "presented.child" => var(Var::Child, Ty::Token),
            "presented.child.status" => var(Var::ChildStatus, Ty::Status),
            "presented.child.used" => var(Var::ChildUsed, Ty::Bool),
            "family.login_at" => var(Var::LoginAt, Ty::Num),
            "family.last_used_at" => var(Var::LastUsedAt, Ty::Num),
            "family.newest_generation" => var(Var::NewestGeneration, Ty::Num),
            "family.client" => var(Var::Client, Ty::Num),
            "minted" => var(Var::Minted, Ty::Token),
            "user.active_tokens" => var(Var::UserActiveTokens, Ty::Num),
            "user.active_families" => var(Var::UserActiveFamilies, Ty::Num),
            "user.oldest" => var(Var::UserOldest, Ty::Token),
            "user.newest" => var(Var::UserNewest, Ty::Token),
            "user.least_recently_used" => var(Var::UserLeastRecentlyUsed, Ty::Token),
            "user.most_recently_used" => var(Var::UserMostRecentlyUsed, Ty::Token),
            "presented.access.used" => var(Var::PresentedAccessUsed, Ty::Bool),
            "presented.access.revoked" => var(Var::PresentedAccessRevoked, Ty::Bool),
            "presented.child.access.used" => var(Var::ChildAccessUsed, Ty::Bool),
            "presented.child.access.revoked" => var(Var::ChildAccessRevoked, Ty::Bool),
            "access.exp" | "access.issued_at" | "access.used" | "access.revoked" | "access.refresh_token"
                if !self.ordinary =>
            {
                Some(Err(format!(
                    "`{w}` is a column of the presented access token: readable only in the `request` handler (an ordinary request presents an access token; a refresh reads `presented.access.used`)"
                )))
            }
            "access.exp" => var(Var::AccessExp, Ty::Num),
            "access.issued_at" => var(Var::AccessIssuedAt, Ty::Num),
            "access.used" => var(Var::AccessUsed, Ty::Bool),
            "access.revoked" => var(Var::AccessRevoked, Ty::Bool),
            "access.refresh_token" => var(Var::AccessRefreshToken, Ty::Token),
            _ => {
                let (scope, i, t) = self.field(w)?;
                let v = match scope {
                    Scope::Family => Var::FamilyField(i),
                    Scope::Session => Var::SessionField(i),
                    Scope::User => Var::UserField(i),
                    Scope::Request => Var::RequestField(i),
                    Scope::Presented => Var::TokenField(i),
                    Scope::Child => Var::ChildField(i),
                    // `minted.F` is followed: the row of the token this request minted.
                    Scope::Minted => return None,
                };
                var(v, field_ty(t))
            }
        }
    }

    /// The token-valued path `p` names, resolved by its words alone (nothing is registered):
    /// `Ok(None)` when `p` is no name at all, or is `presented` or a column of it that is no
    /// token (the caller reports the unknown name); an error when `p` names something that is
    /// not a token (`family.count`, `none`), a link is not a token-valued column, or the path
    /// has more than [`MAX_LINKS`] links. `w` (the whole name being read) and `next` (the
    /// column read after `p`) word the errors.
    fn path_of(&self, p: &str, w: &str, next: &str) -> Result<Option<Path>, String> {
        let expected = "a token-valued path: `presented.parent`, `presented.child`, `minted`, `user.oldest`, `user.newest`, `user.least_recently_used`, `user.most_recently_used`, or a declared field of type token (`family.F`, `session.F`, `request.F`, `presented.F`, `presented.child.F`), then up to two more token-valued columns (`parent`, `child`, a token field: `family.current.child`)";
        if let Some(direct) = self.direct(p) {
            let Ok((e, t)) = direct else { return Ok(None) };
            return match (e, t) {
                // `presented.X`: the presented token's own columns are names of their own; an
                // unknown one is reported as an unknown name.
                (Expr::Var(Var::Presented), _) => Ok(None),
                (_, Ty::None) => {
                    Err(format!("`{w}` follows `none`, which names no token: nothing to read (expected {expected})"))
                }
                (
                    Expr::Var(
                        v @ (Var::Parent
                        | Var::Child
                        | Var::Minted
                        | Var::UserOldest
                        | Var::UserNewest
                        | Var::UserLeastRecentlyUsed
                        | Var::UserMostRecentlyUsed
                        | Var::FamilyField(_)
                        | Var::SessionField(_)
                        | Var::RequestField(_)
                        | Var::TokenField(_)
                        | Var::ChildField(_)),
                    ),
                    Ty::Token,
                ) => Ok(Some(Path::from(v))),
                (_, Ty::Token) => Err(format!("`{w}`: `{p}` cannot be followed (expected {expected})")),
                (_, t) => Err(format!(
                    "`{w}`: `{p}` holds {}, not a token, so it has no column `{next}` (expected {expected})",
                    t.name()
                )),
            };
        }
        let Some((base, link)) = p.rsplit_once('.') else { return Ok(None) };
        let Some(mut path) = self.path_of(base, w, link)? else { return Ok(None) };
        let column = match link {
            "parent" => Column::Parent,
            "child" => Column::Child,
            _ => match self.token.iter().position(|(n, _)| n == link) {
                Some(i) if self.token[i].1 == FieldType::Token => Column::Field(i as u8),
                Some(i) => {
                    return Err(format!(
                        "`{w}`: `{p}` holds {}, not a token, so it has no column `{next}` (expected {expected})",
                        field_ty(self.token[i].1).name()
                    ))
                }
                None if FOLLOW_COLUMNS.contains(&link) => {
                    let ty = self.column(link).map_or(Ty::Num, |(_, t)| t);
                    return Err(format!(
                        "`{w}`: `{p}` holds {}, not a token, so it has no column `{next}` (expected {expected})",
                        ty.name()
                    ));
                }
                // `family.current.nosuch.status`: the whole name is unknown.
                None => return Ok(None),
            },
        };
        let Some(free) = path.links.iter_mut().find(|l| l.is_none()) else {
            return Err(format!(
                "`{w}` follows more than {} tokens (`{p}`): a path is a root and at most {MAX_LINKS} links (expected {expected})",
                MAX_LINKS + 1
            ));
        };
        *free = Some(column);
        Ok(Some(path))
    }

    /// A column of a followed token by name, with its type: a built-in column or a declared
    /// token field.
    fn column(&self, col: &str) -> Option<(Column, Ty)> {
        Some(match col {
            "status" => (Column::Status, Ty::Status),
            "generation" => (Column::Generation, Ty::Num),
            "rotated_at" => (Column::RotatedAt, Ty::Num),
            "grace_uses" => (Column::GraceUses, Ty::Num),
            "used" => (Column::Used, Ty::Bool),
            "issued_at" => (Column::IssuedAt, Ty::Num),
            "parent" => (Column::Parent, Ty::Token),
            "child" => (Column::Child, Ty::Token),
            _ => {
                let i = self.token.iter().position(|(n, _)| n == col)?;
                (Column::Field(i as u8), field_ty(self.token[i].1))
            }
        })
    }

    /// The slot of followed path `path` ([`Names::follows`]), registering it if it is new; an
    /// error naming `w` and `base` when [`MAX_FOLLOWS`] paths are followed already.
    fn slot(&self, path: Path, w: &str, base: &str) -> Result<u8, String> {
        let mut follows = self.follows.borrow_mut();
        match follows.iter().position(|f| *f == path) {
            Some(i) => Ok(i as u8),
            None if follows.len() < MAX_FOLLOWS => {
                follows.push(path);
                Ok((follows.len() - 1) as u8)
            }
            None => Err(format!(
                "`{w}` would follow a token-valued path beyond the {MAX_FOLLOWS} this protocol follows already (`{base}`); a protocol follows at most {MAX_FOLLOWS} (the read view keeps one row per followed path)"
            )),
        }
    }

    /// `PATH.COLUMN` ([`Var::Follow`]): `None` when `w` has no dot or its path is no name at
    /// all or is `presented` (the caller reports the unknown name); an error when the path is
    /// not a token-valued path, the column is unknown, or one path too many would be followed.
    fn follow(&self, w: &str) -> Option<Result<(Expr, Ty), String>> {
        let (base, col) = w.rsplit_once('.')?;
        let path = match self.path_of(base, w, col) {
            Ok(Some(p)) => p,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let Some((column, ty)) = self.column(col) else {
            let cols: Vec<String> =
                FOLLOW_COLUMNS.iter().map(|c| c.to_string()).chain(self.token.iter().map(|(n, _)| n.clone())).collect();
            let hint = did_you_mean(col, cols.iter().map(String::as_str))
                .map_or(String::new(), |c| format!("; did you mean `{base}.{c}`?"));
            return Some(Err(format!(
                "unknown column `{col}` of the token `{base}` names (expected one of {}, or a declared token field{}){hint}",
                FOLLOW_COLUMNS.join(", "),
                if self.token.is_empty() {
                    String::new()
                } else {
                    format!(": {}", self.token.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "))
                }
            )));
        };
        Some(self.slot(path, w, base).map(|slot| (Expr::Var(Var::Follow(slot, column)), ty)))
    }

    /// A token-valued path written where an effect takes a token (`revoke presented.parent`,
    /// `set family.current.F = e`): the expression naming the token on the step's read.
    /// `None` when `text` is no name (the caller reports what it expected); an error when it
    /// names no token.
    fn token_path(&self, text: &str) -> Option<Result<Expr, String>> {
        let w = text.trim();
        if w.is_empty() || w.contains(char::is_whitespace) {
            return None;
        }
        let (e, t) = match self.direct(w).or_else(|| self.follow(w))? {
            Ok(found) => found,
            Err(e) => return Some(Err(e)),
        };
        Some(match (&e, t) {
            (Expr::Var(_), Ty::Token) => Ok(e),
            (_, Ty::None) => Err(format!("`{w}` names no token")),
            (_, t) => Err(format!("`{w}` holds {}, not a token", t.name())),
        })
    }

    fn declared(&self) -> Vec<String> {
        let f = self.family.iter().map(|(n, _)| format!("family.{n}"));
        let s = self.session.iter().map(|(n, _)| format!("session.{n}"));
        let u = self.user.iter().map(|(n, _)| format!("user.{n}"));
        let r = self.request.iter().map(|(n, _)| format!("request.{n}"));
        let t = self.token.iter().flat_map(|(n, _)| [format!("presented.{n}"), format!("presented.child.{n}")]);
        f.chain(s).chain(u).chain(r).chain(t).collect()
    }

    fn field(&self, w: &str) -> Option<(Scope, u8, FieldType)> {
        let (scope, name, list) = if let Some(n) = w.strip_prefix("family.") {
            (Scope::Family, n, &self.family)
        } else if let Some(n) = w.strip_prefix("session.") {
            (Scope::Session, n, &self.session)
        } else if let Some(n) = w.strip_prefix("user.") {
            (Scope::User, n, &self.user)
        } else if let Some(n) = w.strip_prefix("request.") {
            (Scope::Request, n, &self.request)
        } else if let Some(n) = w.strip_prefix("presented.child.") {
            (Scope::Child, n, &self.token)
        } else if let Some(n) = w.strip_prefix("presented.") {
            (Scope::Presented, n, &self.token)
        } else if let Some(n) = w.strip_prefix("minted.") {
            (Scope::Minted, n, &self.token)
        } else {
            return None;
        };
        list.iter().position(|(f, _)| f == name).map(|i| (scope, i as u8, list[i].1))
    }
}

fn field_ty(t: FieldType) -> Ty {
    match t {
        FieldType::Tick | FieldType::Count | FieldType::Client => Ty::Num,
        FieldType::Token => Ty::Token,
    }
}

fn parser<'n>(text: &str, names: &'n Names) -> Result<Parser<'n, Names>, ExprError> {
    Ok(Parser::new(text, Words::Dotted, names)?)
}

/// Parses a guard: an expression of type condition.
pub fn parse_guard(text: &str, names: &Names) -> Result<Expr, ExprError> {
    let mut p = parser(text, names)?;
    let (e, t) = p.expr()?;
    p.end()?;
    want::<Names>(t, Ty::Bool, "a `when` guard")?;
    Ok(e)
}

/// Parses a condition other than a rule's guard (a step's `waits_until`); `what` names it in
/// the error when the expression is not a condition.
pub fn parse_condition(text: &str, names: &Names, what: &str) -> Result<Expr, ExprError> {
    let mut p = parser(text, names)?;
    let (e, t) = p.expr()?;
    p.end()?;
    want::<Names>(t, Ty::Bool, what)?;
    Ok(e)
}

/// Parses one effect.
pub fn parse_effect(text: &str, names: &Names) -> Result<Effect, ExprError> {
    if text.len() > MAX_TEXT {
        return Err(err(format!("a text of {} bytes (at most {MAX_TEXT})", text.len())));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["mint", "child"] => return Ok(Effect::MintChild { revoked: false }),
        ["mint", "child", "revoked"] => return Ok(Effect::MintChild { revoked: true }),
        ["revoke", around @ ("family" | "session"), "of", what] => {
            let around_of = if *around == "family" { Around::Family } else { Around::Session };
            return match names.token_path(what) {
                Some(Ok(e)) => Ok(Effect::RevokeAround(around_of, e)),
                Some(Err(e)) => Err(err(format!("cannot revoke the {around} of `{what}`: {e}"))),
                None => Err(err(format!(
                    "cannot revoke the {around} of `{what}`: not a token (expected `revoke {around} of PATH` with PATH a token: `user.oldest`, `user.least_recently_used`, a declared field of type token such as `request.victim`, or a token-valued path such as `presented.parent`)"
                ))),
            };
        }
        ["revoke", "user", "except", what] => {
            return match *what {
                "family" => Ok(Effect::Revoke(RevokeScope::UserExceptFamily)),
                "session" => Ok(Effect::Revoke(RevokeScope::UserExceptSession)),
                other => Err(err(format!(
                    "cannot revoke the user's sessions except `{other}` (expected `revoke user except family`, every family but the presented token's, or `revoke user except session`, every family but those of its client session)"
                ))),
            };
        }
        ["revoke", "user", ..] if words.len() > 2 => {
            return Err(err(format!(
                "cannot parse `{}` (expected `revoke user`, `revoke user except family` or `revoke user except session`)",
                words.join(" ")
            )))
        }
        ["revoke", "family" | "session", ..] if words.len() > 2 => {
            return Err(err(format!(
                "cannot parse `{}` (expected `revoke family`, `revoke session`, or `revoke family of PATH` / `revoke session of PATH` with PATH a token such as `user.oldest`)",
                words.join(" ")
            )))
        }
        ["supersede", "presented"] => return Ok(Effect::SupersedePresented),
        ["supersede", what] => {
            // The row the read saw is followed, for its status.
            let path = match names.path_of(what, what, "status") {
                Ok(Some(path)) => path,
                Ok(None) => {
                    return Err(err(format!(
                        "cannot supersede `{what}` (expected `supersede presented` or `supersede PATH` with PATH a token-valued path: `presented.child`, `presented.parent`, `family.current`, `family.current.child`)"
                    )))
                }
                Err(e) => return Err(err(format!("cannot supersede `{what}`: {e}"))),
            };
            let token = match names.token_path(what) {
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(err(format!("cannot supersede `{what}`: {e}"))),
                None => return Err(err(format!("cannot supersede `{what}`: not a token-valued path"))),
            };
            let slot = names.slot(path, what, what)?;
            return Ok(Effect::SupersedeToken(token, slot));
        }
        ["revoke", what] => {
            let scope = match *what {
                "presented" => RevokeScope::Presented,
                "presented.child" => RevokeScope::Child,
                "descendants" => RevokeScope::Descendants,
                "family" => RevokeScope::Family,
                "session" => RevokeScope::Session,
                "client" => RevokeScope::Client,
                "user" => RevokeScope::User,
                "access" if names.ordinary => RevokeScope::Access,
                "presented.access" => RevokeScope::PresentedAccess,
                "presented.child.access" => RevokeScope::ChildAccess,
                field if names.field(field).is_some() => match names.field(field) {
                    Some((Scope::Minted, _, FieldType::Token)) => match names.token_path(field) {
                        Some(Ok(e)) => return Ok(Effect::RevokeToken(e)),
                        Some(Err(e)) => return Err(err(format!("cannot revoke `{field}`: {e}"))),
                        None => return Err(err(format!("cannot revoke `{field}`"))),
                    },
                    Some((scope, i, FieldType::Token)) => RevokeScope::Field(scope, i),
                    _ => {
                        return Err(err(format!(
                            "cannot revoke `{field}`: it holds a number (tick or count); only a field of type token names a token to revoke"
                        )))
                    }
                },
                other if names.token_path(other).is_some() => {
                    return match names.token_path(other) {
                        Some(Ok(e)) => Ok(Effect::RevokeToken(e)),
                        Some(Err(e)) => Err(err(format!(
                            "cannot revoke `{other}`: {e} (expected presented, presented.child, descendants, family, session, client, user, presented.access, presented.child.access, a declared token field such as `family.F`, or a token-valued path such as `presented.parent`)"
                        ))),
                        None => unreachable!("checked by the guard"),
                    };
                }
                other => {
                    let declared = names.declared();
                    let all = [
                        "presented",
                        "presented.child",
                        "descendants",
                        "family",
                        "session",
                        "client",
                        "user",
                        "presented.access",
                        "presented.child.access",
                        "access",
                    ]
                    .into_iter()
                    .chain(declared.iter().map(String::as_str));
                    // A field name (written with or without its scope) is suggested among the
                    // declared fields only: `family` for `family.nosuch` would revoke far more.
                    let field_like = other.contains('.') && !other.starts_with("presented");
                    let tokens: Vec<String> = [
                        ("family", &names.family),
                        ("session", &names.session),
                        ("request", &names.request),
                        ("presented", &names.token),
                    ]
                    .into_iter()
                        .flat_map(|(scope, list)| {
                            list.iter().filter(|(_, t)| *t == FieldType::Token).map(move |(n, _)| format!("{scope}.{n}"))
                        })
                        .collect();
                    let scoped = declared.iter().find(|d| d.split_once('.').is_some_and(|(_, n)| n == other));
                    let hint = if other == "access" {
                        // Outside the request handler the access token is the presented refresh
                        // token's (or its child's).
                        "; `revoke access` only in the `request` handler: a refresh revokes `presented.access` or `presented.child.access`".to_string()
                    } else if let Some(d) = scoped {
                        format!("; did you mean `{d}`?")
                    } else if field_like {
                        match did_you_mean(other, tokens.iter().map(String::as_str)) {
                            Some(c) => format!("; did you mean `{c}`?"),
                            None if tokens.is_empty() => "; no token field is declared (`fields`)".to_string(),
                            None => format!("; the declared token fields are {}", tokens.join(", ")),
                        }
                    } else {
                        did_you_mean(other, all).map_or(String::new(), |c| format!("; did you mean `{c}`?"))
                    };
                    return Err(err(format!(
                        "cannot revoke `{other}` (expected presented, presented.child, descendants, family, session, client, user, presented.access, presented.child.access or a declared token field such as `family.F`{hint})"
                    )));
                }
            };
            return Ok(Effect::Revoke(scope));
        }
        ["set", ..] => {}
        _ => {
            let whole = words.join(" ");
            let forms = [
                "mint child",
                "supersede presented",
                "revoke presented",
                "revoke presented.child",
                "revoke descendants",
                "revoke family",
                "revoke session",
                "revoke client",
                "revoke user",
                "revoke presented.access",
                "revoke presented.child.access",
            ];
            let hint = match words.as_slice() {
                // A server that deletes rows: a row gone reads as not active (docs, "Deleting rows").
                [verb, rest @ ..] if DELETE_VERBS.contains(verb) && !rest.is_empty() => format!(
                    "; a deleted row is said with `revoke`: did you mean `revoke {}`? (docs/protocol-language.md, \"Deleting rows\")",
                    match rest.iter().filter(|w| **w != "the").copied().collect::<Vec<_>>().as_slice() {
                        // The row of the token presented.
                        [] | ["row" | "token" | "it" | "rows" | "tokens", ..] => "presented".to_string(),
                        named => named.join(" "),
                    }
                ),
                _ => did_you_mean(&whole, forms).map_or(String::new(), |c| format!("; did you mean `{c}`?")),
            };
            return Err(err(format!(
                "unknown effect `{}` (expected `mint child`; `supersede presented` or `supersede PATH`; `revoke SCOPE` with SCOPE one of presented, presented.child, descendants, family, session, client, user, presented.access, presented.child.access (access in the `request` handler); `revoke family.F` / `revoke session.F` / `revoke request.F` (a declared token field); `revoke PATH` with PATH a token-valued path (`presented.parent`, `family.current.child`, `minted`, `user.oldest`); `revoke family of PATH` / `revoke session of PATH` (the whole family or client session of that token); `set family.F = e` / `set session.F = e` / `set request.F = e` / `set presented.F = e` / `set PATH.F = e`{hint})",
                text.trim()
            )));
        }
    }
    let rest = text.trim_start().strip_prefix("set").unwrap_or("");
    let mut p = parser(rest, names)?;
    let target = match p.peek() {
        Some(Tok::Word(w)) => w.clone(),
        _ => return Err(err("`set` needs a declared field: `set family.F = e` or `set session.F = e`".into())),
    };
    p.advance();
    let through = match names.field(&target) {
        Some(_) => None,
        None => set_through_path(&target, names)?,
    };
    if let Some((token, i, ft)) = through {
        if !p.op("=") {
            return Err(err(format!("expected `=` after `set {target}`")));
        }
        p.advance();
        let (e, t) = p.expr()?;
        p.end()?;
        if !(t == field_ty(ft) || (t == Ty::None && ft == FieldType::Token)) {
            return Err(err(format!("`{target}` holds {}, found {}", field_ty(ft).name(), t.name())));
        }
        return Ok(Effect::SetToken(token, i, e));
    }
    let Some((scope, i, ft)) = names.field(&target) else {
        let declared = names.declared();
        let hint = did_you_mean(&target, declared.iter().map(String::as_str))
            .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
        let list = if declared.is_empty() { "none are declared in `fields`".to_string() } else { declared.join(", ") };
        return Err(err(format!("`set` writes a declared field, found `{target}` (declared: {list}{hint})")));
    };
    if !p.op("=") {
        return Err(err(format!("expected `=` after `set {target}`")));
    }
    p.advance();
    let (e, t) = p.expr()?;
    p.end()?;
    let ok = t == field_ty(ft) || (t == Ty::None && ft == FieldType::Token);
    if !ok {
        return Err(err(format!("`{target}` holds {}, found {}", field_ty(ft).name(), t.name())));
    }
    if scope == Scope::Request && ft == FieldType::Client {
        return Err(err(format!(
            "`{target}` is a request field of type `client`: the client that sends the request sets it \
             (its `client_id`), no rule writes it; copy it into a field of another type or scope instead"
        )));
    }
    Ok(Effect::Set(scope, i, e))
}

/// `set PATH.F` where `target` is not a declared field itself: the token-valued path `PATH`
/// as an expression, and the index and type of the declared token field `F`. `Ok(None)` when
/// `target` is not of that form (the caller reports the unknown field).
fn set_through_path(target: &str, names: &Names) -> Result<Option<(Expr, u8, FieldType)>, ExprError> {
    let Some((base, f)) = target.rsplit_once('.') else { return Ok(None) };
    let Some(i) = names.token.iter().position(|(n, _)| n == f) else { return Ok(None) };
    match names.token_path(base) {
        Some(Ok(token)) => Ok(Some((token, i as u8, names.token[i].1))),
        Some(Err(e)) => Err(err(format!("`set {target}`: {e}, so it has no field `{f}`"))),
        None => Ok(None),
    }
}

/// Parses a reply.
pub fn parse_reply(text: &str, names: &Names) -> Result<ReplyForm, ExprError> {
    let t = text.trim();
    match t {
        "invalid_grant" => return Ok(ReplyForm::InvalidGrant),
        "invalid_request" => return Ok(ReplyForm::InvalidRequest),
        "server_error" => return Ok(ReplyForm::ServerError),
        "signed_out" => return Ok(ReplyForm::SignedOut),
        "signed_in" => return Ok(ReplyForm::SignedIn),
        "session_kept" => return Ok(ReplyForm::SessionKept),
        "continue" => return Ok(ReplyForm::Continue),
        "ok minted" => return Ok(ReplyForm::OkMinted),
        "ok access-only" => return Ok(ReplyForm::OkAccessOnly),
        "ok" => return Ok(ReplyForm::OkServed),
        "invalid_token" => return Ok(ReplyForm::InvalidToken),
        _ => {}
    }
    if let Some(rest) = t.strip_prefix("ok ") {
        let mut p = parser(rest, names)?;
        let (e, ty) = p.expr().map_err(|e| {
            err(format!(
                "a 2xx answers `ok minted`, the token this request minted, or an existing token: `ok presented`, `ok presented.child`; here {e}"
            ))
        })?;
        p.end()?;
        if ty != Ty::Token {
            return Err(err(format!("`ok` answers with a token, found {}", ty.name())));
        }
        return Ok(ReplyForm::Ok(e));
    }
    let all = [
        "ok minted",
        "ok access-only",
        "ok presented",
        "ok presented.child",
        "invalid_grant",
        "invalid_request",
        "server_error",
        "signed_out",
        "signed_in",
        "session_kept",
        "invalid_token",
    ];
    let hint = did_you_mean(t, all).map_or(String::new(), |c| format!("; did you mean `{c}`?"));
    Err(err(format!(
        "unknown reply `{t}` (expected `ok minted`, `ok TOKEN`, `invalid_grant`, `invalid_request`, `server_error`, `signed_out`, `signed_in`, `session_kept`, `continue`, or for an ordinary request `ok` or `invalid_token`{hint})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            family: vec![],
            session: vec![("count".into(), FieldType::Count), ("current".into(), FieldType::Token)],
            request: vec![],
            user: vec![],
            token: vec![("answer".into(), FieldType::Token), ("claims".into(), FieldType::Count)],
            ordinary: false,
            revocation: false,
            follows: Default::default(),
        }
    }

    fn eval(text: &str, f: impl Fn(Var) -> i32) -> i32 {
        parse_guard(text, &names()).unwrap().eval(&|v: &Var| f(*v))
    }

    #[test]
    fn precedence_and_saturating_subtraction() {
        let read = |v: Var| match v {
            Var::Now => 3,
            Var::RotatedAt => 1,
            Var::Status => STATUS_SUPERSEDED,
            Var::NewestGeneration => 1,
            Var::Generation => 2,
            _ => 0,
        };
        assert_eq!(eval("presented.status == superseded and now <= presented.rotated_at + 2", read), 1);
        assert_eq!(eval("presented.status == superseded and now <= presented.rotated_at + 1", read), 0);
        assert_eq!(eval("not presented.status == active or false", read), 1);
        assert_eq!(eval("family.newest_generation - presented.generation <= 0", read), 1, "1 - 2 stops at 0");
        assert_eq!(eval("session.current == none and (1 + 2 > 2)", read), 1);
    }

    #[test]
    fn errors_name_what_was_expected() {
        let e = parse_guard("presented.stauts == active", &names()).unwrap_err().message;
        assert!(e.contains("unknown name `presented.stauts`") && e.contains("did you mean `presented.status`?"), "{e}");
        let e = parse_guard("presented.status == 3", &names()).unwrap_err().message;
        assert!(e.contains("cannot compare a status"), "{e}");
        // A status in another vocabulary: the statuses are named, and ours is offered.
        let e = parse_guard("presented.status == retired", &names()).unwrap_err().message;
        assert!(e.contains("unknown name `retired`") && e.contains("(`active`, `superseded`, `revoked`"), "{e}");
        assert!(e.contains("did you mean `superseded`?"), "{e}");
        let e = parse_guard("presented.status == invalidated", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `revoked`?"), "{e}");
        // A refresh rule cannot read `access.`: the nearest name is not offered, the reason is.
        let e = parse_guard("not access.revokd", &names()).unwrap_err().message;
        assert!(!e.contains("did you mean"), "{e}");
        assert!(e.contains("`access.revoked` would be a column of the presented access token, readable only in the `request` handler"), "{e}");
        let o = Names { ordinary: true, ..names() };
        let e = parse_guard("not access.revokd", &o).unwrap_err().message;
        assert!(e.contains("did you mean `access.revoked`?"), "{e}");
        let e = parse_guard("now + 1", &names()).unwrap_err().message;
        assert!(e.contains("a `when` guard takes a condition"), "{e}");
        let e = parse_guard("now = 1", &names()).unwrap_err().message;
        assert!(e.contains("write `==`"), "{e}");
        let e = parse_guard("(now > 1", &names()).unwrap_err().message;
        assert!(e.contains("not closed"), "{e}");
        let e = parse_effect("revoke famly", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `family`?"), "{e}");
        let e = parse_effect("supercede presented", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `supersede presented`?"), "{e}");
        let e = parse_reply("ok new", &names()).unwrap_err().message;
        assert!(e.contains("`ok minted`"), "{e}");
        let e = parse_effect("set session.cout = 1", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `session.count`?"), "{e}");
        let e = parse_effect("set session.current = now", &names()).unwrap_err().message;
        assert!(e.contains("holds a token, found a number"), "{e}");
        let e = parse_reply("ok now", &names()).unwrap_err().message;
        assert!(e.contains("answers with a token"), "{e}");
        let e = parse_reply("invalid_grnat", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `invalid_grant`?"), "{e}");
        // A field that is not declared is never answered with a broader revocation.
        let e = parse_effect("revoke family.nosuch", &names()).unwrap_err().message;
        assert!(
            e.contains("the declared token fields are session.current") && !e.contains("did you mean `family`"),
            "{e}"
        );
        let e = parse_effect("revoke current", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `session.current`?"), "{e}");
        // A declared field without its scope is suggested with it.
        let e = parse_reply("ok current", &names()).unwrap_err().message;
        assert!(e.contains("unknown name `current`") && e.contains("did you mean `session.current`?"), "{e}");
        let e = parse_guard("now > 300", &names()).unwrap_err().message;
        assert!(e.contains("too large"), "{e}");
        let e = parse_guard("now > 1 \u{1b}", &names()).unwrap_err().message;
        assert!(e.contains("`\\u{1b}`"), "control characters are escaped: {e}");
    }

    /// `BASE.COLUMN`: a token-valued path followed by a column of that token's row; the names
    /// share one list of followed paths (at most two), and the errors name what is expected.
    #[test]
    fn a_token_valued_path_is_followed_by_a_column() {
        let n = names();
        let v = |text: &str| parse_guard(text, &n).map(|e| e).map_err(|e| e.message);
        assert_eq!(
            v("session.current.used").unwrap(),
            Expr::Var(Var::Follow(0, Column::Used)),
            "the first followed path takes slot 0"
        );
        assert_eq!(
            v("presented.answer.status == active").unwrap(),
            Expr::Cmp(
                Cmp::Eq,
                Box::new(Expr::Var(Var::Follow(1, Column::Status))),
                Box::new(Expr::Const(STATUS_ACTIVE))
            )
        );
        // The same path again reuses its slot, whatever the column; a declared token field is a column.
        assert_eq!(v("session.current.claims > 0").unwrap(), parse_guard("session.current.claims > 0", &n).unwrap());
        let r = parse_reply("ok session.current.child", &n).unwrap();
        assert_eq!(r, ReplyForm::Ok(Expr::Var(Var::Follow(0, Column::Child))));
        assert_eq!(*n.follows.borrow(), [Path::from(Var::SessionField(1)), Path::from(Var::TokenField(0))]);
        // A clone (the ordinary-request handler's names) shares the list.
        let o = Names { ordinary: true, ..n.clone() };
        assert_eq!(
            parse_guard("session.current.generation == 0", &o).unwrap(),
            Expr::Cmp(Cmp::Eq, Box::new(Expr::Var(Var::Follow(0, Column::Generation))), Box::new(Expr::Const(0)))
        );
        // Four paths in all, a chain counting as one path; a fifth is refused.
        assert_eq!(v("presented.parent.used").unwrap(), Expr::Var(Var::Follow(2, Column::Used)));
        assert_eq!(
            v("session.current.child.status == active").unwrap(),
            v("session.current.child.status == active").unwrap()
        );
        assert_eq!(
            n.follows.borrow()[3],
            Path { root: Var::SessionField(1), links: [Some(Column::Child), None] },
            "only the chain's last token is kept"
        );
        let e = v("presented.parent.parent.used").unwrap_err();
        assert!(e.contains("beyond the 4") && e.contains("at most 4"), "{e}");
        // The existing `presented.child.*` names are unchanged.
        let fresh = names();
        assert_eq!(parse_guard("presented.child.used", &fresh).unwrap(), Expr::Var(Var::ChildUsed));
        assert_eq!(
            parse_guard("presented.child.status == none", &fresh).unwrap(),
            parse_guard("presented.child.status == none", &names()).unwrap()
        );
        assert!(fresh.follows.borrow().is_empty(), "no path followed");
        assert_eq!(
            parse_guard("presented.child.generation > presented.parent.generation", &fresh).unwrap(),
            Expr::Cmp(
                Cmp::Gt,
                Box::new(Expr::Var(Var::Follow(0, Column::Generation))),
                Box::new(Expr::Var(Var::Follow(1, Column::Generation)))
            )
        );
        // Errors: not a token, an unknown column, `none`, two levels, `minted`, an unknown base.
        let e = |text: &str| parse_guard(text, &names()).unwrap_err().message;
        let m = e("session.count.status == active");
        assert!(
            m.contains("`session.count` holds a number (ticks or a count), not a token")
                && m.contains("no column `status`"),
            "{m}"
        );
        let m = e("session.current.stauts == active");
        assert!(m.contains("unknown column `stauts`") && m.contains("did you mean `session.current.status`?"), "{m}");
        let m = e("session.current.claim > 0");
        assert!(m.contains("did you mean `session.current.claims`?") && m.contains("answer, claims"), "{m}");
        let m = e("none.status == active");
        assert!(m.contains("follows `none`, which names no token"), "{m}");
        let m = e("presented.parent.parent.parent.parent.status == active");
        assert!(m.contains("follows more than 3 tokens (`presented.parent.parent.parent.parent`)"), "{m}");
        let m = e("session.current.claims.status == active");
        assert!(m.contains("`session.current.claims` holds a number") && m.contains("no column `status`"), "{m}");
        let m = e("presented.status.used");
        assert!(m.contains("holds a status"), "{m}");
        let m = e("family.nosuch.status == active");
        assert!(m.contains("unknown name `family.nosuch.status`"), "{m}");
    }

    /// Chains (`presented.parent.parent.status`, `session.current.answer.child.used`), `minted.F`
    /// read through the followed path `minted`, and effects that take a token-valued path.
    #[test]
    fn chains_minted_columns_and_effects_through_paths() {
        let n = names();
        let g = |text: &str| parse_guard(text, &n).map_err(|e| e.message);
        assert_eq!(
            g("presented.parent.parent.status == revoked").unwrap(),
            g("presented.parent.parent.status == revoked").unwrap()
        );
        assert_eq!(g("session.current.answer.child.used").unwrap(), Expr::Var(Var::Follow(1, Column::Used)));
        assert_eq!(
            g("minted.claims == 0").unwrap(),
            Expr::Cmp(Cmp::Eq, Box::new(Expr::Var(Var::Follow(2, Column::Field(1)))), Box::new(Expr::Const(0)))
        );
        assert_eq!(
            *n.follows.borrow(),
            [
                Path { root: Var::Parent, links: [Some(Column::Parent), None] },
                Path { root: Var::SessionField(1), links: [Some(Column::Field(0)), Some(Column::Child)] },
                Path::from(Var::Minted),
            ]
        );
        // Effects through a path: the expression names the token on the step's read.
        let n = names();
        let fx = |text: &str| parse_effect(text, &n).map_err(|e| e.message);
        assert_eq!(fx("revoke presented.parent").unwrap(), Effect::RevokeToken(Expr::Var(Var::Parent)));
        assert_eq!(
            fx("revoke session.current.child").unwrap(),
            Effect::RevokeToken(Expr::Var(Var::Follow(0, Column::Child)))
        );
        assert_eq!(
            fx("set presented.parent.claims = presented.parent.claims + 1").unwrap(),
            Effect::SetToken(
                Expr::Var(Var::Parent),
                1,
                Expr::Add(Box::new(Expr::Var(Var::Follow(1, Column::Field(1)))), Box::new(Expr::Const(1)))
            )
        );
        assert_eq!(
            fx("set session.current.answer = minted").unwrap(),
            Effect::SetToken(Expr::Var(Var::SessionField(1)), 0, Expr::Var(Var::Minted))
        );
        assert_eq!(fx("supersede presented.child").unwrap(), Effect::SupersedeToken(Expr::Var(Var::Child), 2));
        assert_eq!(n.follows.borrow()[2], Path::from(Var::Child), "the superseded token's row is followed");
        // Refusals: not a token, a count field written through a path with a token, none.
        let m = fx("revoke session.current.claims").unwrap_err();
        assert!(m.contains("holds a number"), "{m}");
        let m = fx("set presented.parent.answer = now").unwrap_err();
        assert!(m.contains("`presented.parent.answer` holds a token, found a number"), "{m}");
        let m = fx("set session.count.claims = 1").unwrap_err();
        assert!(m.contains("`session.count` holds a number"), "{m}");
        let m = fx("supersede family").unwrap_err();
        assert!(m.contains("cannot supersede `family`"), "{m}");
        let m = fx("supersede now").unwrap_err();
        assert!(m.contains("holds a number"), "{m}");
    }

    /// `revoke family of PATH` / `revoke session of PATH` take any token (a `user.` root, a
    /// declared token field, a followed path) and refuse what is no token, with the form expected.
    #[test]
    fn a_whole_family_or_session_through_a_token() {
        let n = names();
        let fx = |text: &str| parse_effect(text, &n).map_err(|e| e.message);
        assert_eq!(
            fx("revoke family of user.oldest").unwrap(),
            Effect::RevokeAround(Around::Family, Expr::Var(Var::UserOldest))
        );
        assert_eq!(
            fx("revoke  session of  user.least_recently_used").unwrap(),
            Effect::RevokeAround(Around::Session, Expr::Var(Var::UserLeastRecentlyUsed))
        );
        assert_eq!(
            fx("revoke family of session.current").unwrap(),
            Effect::RevokeAround(Around::Family, Expr::Var(Var::SessionField(1)))
        );
        assert_eq!(
            fx("revoke family of presented.parent").unwrap(),
            Effect::RevokeAround(Around::Family, Expr::Var(Var::Parent))
        );
        assert_eq!(
            fx("revoke family of user.most_recently_used.child").unwrap(),
            Effect::RevokeAround(Around::Family, Expr::Var(Var::Follow(0, Column::Child)))
        );
        // The plain forms are unchanged.
        assert_eq!(fx("revoke family").unwrap(), Effect::Revoke(RevokeScope::Family));
        assert_eq!(fx("revoke session").unwrap(), Effect::Revoke(RevokeScope::Session));
        let m = fx("revoke family of user.active_tokens").unwrap_err();
        assert!(m.contains("cannot revoke the family of `user.active_tokens`") && m.contains("holds a number"), "{m}");
        let m = fx("revoke session of session.count").unwrap_err();
        assert!(m.contains("cannot revoke the session of `session.count`"), "{m}");
        let m = fx("revoke family of user.oldset").unwrap_err();
        assert!(m.contains("not a token") && m.contains("`revoke family of PATH`"), "{m}");
        let m = fx("revoke family user.oldest").unwrap_err();
        assert!(m.contains("`revoke family of PATH`"), "{m}");
        let m = fx("revoke client of user.oldest").unwrap_err();
        assert!(m.contains("unknown effect") && m.contains("`revoke family of PATH`"), "{m}");
        // The recency roots are `user.` names: read as tokens, followed like `user.oldest`.
        let g = |text: &str| parse_guard(text, &n).map_err(|e| e.message);
        assert_eq!(
            g("user.least_recently_used == presented").unwrap(),
            Expr::Cmp(Cmp::Eq, Box::new(Expr::Var(Var::UserLeastRecentlyUsed)), Box::new(Expr::Var(Var::Presented)))
        );
        assert!(Var::UserMostRecentlyUsed.is_user() && !Var::Presented.is_user());
        let m = g("user.least_recently_used >= 1").unwrap_err();
        assert!(m.contains("number"), "{m}");
    }

    #[test]
    fn deep_nesting_and_long_texts_are_refused_not_a_stack_overflow() {
        let deep = format!("{}true{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse_guard(&deep, &names()).unwrap_err().message.contains("bytes"));
        let deep = format!("{}true{}", "(".repeat(40), ")".repeat(40));
        assert!(parse_guard(&deep, &names()).unwrap_err().message.contains("nested more than 32 deep"));
        let nots = format!("{}true", "not ".repeat(40));
        assert!(parse_guard(&nots, &names()).unwrap_err().message.contains("nested"));
        let sum = format!("now + {} > 1", vec!["255"; 150].join(" + "));
        assert_eq!(parse_guard(&sum, &names()).unwrap().eval(&|_| 0), 1, "sums saturate, never overflow");
    }

    #[test]
    fn effects_and_replies_parse() {
        assert_eq!(parse_effect("mint child", &names()).unwrap(), Effect::MintChild { revoked: false });
        assert_eq!(parse_effect("mint child revoked", &names()).unwrap(), Effect::MintChild { revoked: true });
        assert_eq!(parse_effect(" revoke  presented.child ", &names()).unwrap(), Effect::Revoke(RevokeScope::Child));
        assert_eq!(
            parse_effect("revoke session.current", &names()).unwrap(),
            Effect::Revoke(RevokeScope::Field(Scope::Session, 1))
        );
        let e = parse_effect("revoke session.count", &names()).unwrap_err().message;
        assert!(e.contains("holds a number") && e.contains("type token"), "{e}");
        let e = parse_effect("revoke session.curent", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `session.current`?"), "{e}");
        assert_eq!(
            parse_effect("set session.count = session.count + 1", &names()).unwrap(),
            Effect::Set(
                Scope::Session,
                0,
                Expr::Add(Box::new(Expr::Var(Var::SessionField(0))), Box::new(Expr::Const(1)))
            )
        );
        assert_eq!(parse_reply("ok presented.child", &names()).unwrap(), ReplyForm::Ok(Expr::Var(Var::Child)));
        // Declared per-token fields (name order: answer, claims).
        assert_eq!(parse_reply("ok presented.answer", &names()).unwrap(), ReplyForm::Ok(Expr::Var(Var::TokenField(0))));
        assert_eq!(
            parse_reply("ok presented.child.answer", &names()).unwrap(),
            ReplyForm::Ok(Expr::Var(Var::ChildField(0)))
        );
        assert_eq!(
            parse_effect("revoke presented.answer", &names()).unwrap(),
            Effect::Revoke(RevokeScope::Field(Scope::Presented, 0))
        );
        assert_eq!(
            parse_effect("set minted.claims = 1", &names()).unwrap(),
            Effect::Set(Scope::Minted, 1, Expr::Const(1))
        );
        let e = parse_effect("revoke presented.claims", &names()).unwrap_err().message;
        assert!(e.contains("holds a number"), "{e}");
        let n = names();
        assert_eq!(
            parse_effect("revoke minted.answer", &n).unwrap(),
            Effect::RevokeToken(Expr::Var(Var::Follow(0, Column::Field(0))))
        );
        assert_eq!(*n.follows.borrow(), [Path::from(Var::Minted)]);
        let e = parse_guard("presented.claim == 1", &names()).unwrap_err().message;
        assert!(e.contains("did you mean `presented.claims`?"), "{e}");
        let e = parse_effect("set presented.status = active", &names()).unwrap_err().message;
        assert!(e.contains("`set` writes a declared field") && e.contains("presented.answer"), "{e}");
        assert_eq!(parse_reply("ok minted", &names()).unwrap(), ReplyForm::OkMinted);
    }
}
