//! The word a model's text uses for a client (`browser.client_word`).
//!
//! The checker models every client as a tab of a browser: an actor holding its token where
//! the mode keeps it, racing the others. Many real clients are not tabs: a CLI process
//! (kcap-cli), a mobile app, a server-side renderer, a CI worker (woodpecker-ci/woodpecker
//! agents). `browser.client_word` names them in every text a person reads: trace steps and
//! actors, messages, snapshots' handlers, property claims, Mermaid lifelines, report headers
//! and query errors. It changes no state, step or verdict.
//!
//! The substitution is lexical and applies to the checker's own sentences: the word `tab`
//! standing alone (not part of `per-tab`, `tab_x` or `` `tab` ``), with its plural `tabs` and
//! capitalised forms. The default word `tab` leaves every text byte for byte as it is.

use std::borrow::Cow;

/// The default client word.
pub const TAB: &str = "tab";

/// Words a client may not be called: the query language's other actors and views, which a
/// query would read otherwise (`server A` is not a client).
const RESERVED: &[&str] = &[
    "server",
    "store",
    "clock",
    "attacker",
    "network",
    "node",
    "browser",
    "device",
    "jar",
    "storage",
    "tabs",
    "tokens",
    "token",
    "access",
    "family",
    "now",
    "stolen",
    "session",
    "requester",
    "page",
    "user",
];

/// A validated client word: lowercase ASCII letters, 2 to 12 of them, not a reserved word.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ClientWord(String);

impl Default for ClientWord {
    fn default() -> Self {
        ClientWord(TAB.into())
    }
}

impl ClientWord {
    /// Validates `w`; the error says what was found and what is expected.
    pub fn new(w: &str) -> Result<ClientWord, String> {
        let letters = w.chars().all(|c| c.is_ascii_lowercase());
        if !letters || !(2..=12).contains(&w.len()) {
            return Err(format!(
                "found {w:?}, expected a short lowercase word naming the clients (2 to 12 letters a-z), e.g. \"process\" or \"app\""
            ));
        }
        if RESERVED.contains(&w) {
            return Err(format!(
                "found {w:?}, a word the query language and traces use for something else ({}); choose another word for the clients",
                RESERVED.join(", ")
            ));
        }
        Ok(ClientWord(w.into()))
    }

    /// The word, e.g. `"process"`.
    pub fn word(&self) -> &str {
        &self.0
    }

    /// Whether this is the default word `tab`.
    pub fn is_tab(&self) -> bool {
        self.0 == TAB
    }

    /// The plural: `processes`, `apps`, `proxies`.
    pub fn plural(&self) -> String {
        plural(&self.0)
    }

    /// `text` with the client word in place of `tab` ([`reword`]); the default word borrows
    /// `text` unchanged.
    pub fn reword<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_tab() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(reword(text, &self.0))
        }
    }

    /// An error message in this word: [`reword`], except where `tab` is part of a name (after
    /// a `.`, as in `browser.tabs`, or before a `[`, as in `tab[A]`), and with a query's names
    /// written in backquotes (`` `tab` ``, `` `tab[A].status` ``) in the word a query of this
    /// model may write for them (`` `process` ``, `` `process[A].status` ``). The default word
    /// borrows `message` unchanged.
    pub fn reword_error<'a>(&self, message: &'a str) -> Cow<'a, str> {
        if self.is_tab() {
            return Cow::Borrowed(message);
        }
        let w = &self.0;
        let many = plural(w);
        let named = message
            .replace("`tabs`", &format!("`{many}`"))
            .replace("`tabs.", &format!("`{many}."))
            .replace("`tab`", &format!("`{w}`"))
            .replace("`tab[", &format!("`{w}["))
            .replace("`tab ", &format!("`{w} "));
        Cow::Owned(reword_with(&named, w, |c| c == '.', |c| c == '['))
    }

    /// An event pattern of a query in the checker's own words: a leading actor `process A`
    /// (this word, then a space) reads `tab A`; the rest, and its `text` filter, stay as
    /// written (a step's sentence is matched in the client word).
    pub fn event_in_tab_words<'a>(&self, event: &'a str) -> Cow<'a, str> {
        match event.strip_prefix(self.word()).filter(|r| !self.is_tab() && r.starts_with(' ')) {
            Some(rest) => Cow::Owned(format!("{TAB}{rest}")),
            None => Cow::Borrowed(event),
        }
    }

    /// A query condition in the checker's own words: `process[A]` reads `tab[A]` and
    /// `processes.logged_out` reads `tabs.logged_out` (the word, or its plural, standing alone
    /// before `[` or `.`); `processes[A]` reads `tabs[A]`, which the state view refuses
    /// naming `process[A]`.
    pub fn view_in_tab_words<'a>(&self, condition: &'a str) -> Cow<'a, str> {
        if self.is_tab() {
            return Cow::Borrowed(condition);
        }
        let one = replace_alone(condition, &format!("{}[", self.word()), "tab[");
        let many = replace_alone(&one, &format!("{}[", plural(self.word())), "tabs[");
        Cow::Owned(replace_alone(&many, &format!("{}.", plural(self.word())), "tabs."))
    }

    /// A step's actor in the checker's own words (`process A` reads `tab A`), as event
    /// patterns name it.
    pub fn actor_in_tab_words<'a>(&self, actor: &'a str) -> Cow<'a, str> {
        self.event_in_tab_words(actor)
    }
}

/// `text` with each `from` that stands alone (no letter, digit, `_` or `.` just before it)
/// replaced by `to`.
fn replace_alone(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let alone = rest[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        out.push_str(&rest[..at]);
        out.push_str(if alone { to } else { from });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// The English plural of a lowercase word.
pub fn plural(w: &str) -> String {
    let consonant_y = w.len() > 1 && w.ends_with('y') && !w[..w.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']);
    if consonant_y {
        format!("{}ies", &w[..w.len() - 1])
    } else if w.ends_with(['s', 'x', 'z']) || w.ends_with("ch") || w.ends_with("sh") {
        format!("{w}es")
    } else {
        format!("{w}s")
    }
}

/// Replaces the words `tab`, `tabs`, `Tab` and `Tabs` standing alone in `text` by `word`, its
/// plural and their capitalised forms. A word stands alone when the characters on either side
/// are neither letters, digits, `_`, `-` nor a backtick (so `per-tab`, `requesters_per_tab`,
/// `TabSendsRefresh` and `` `tab` `` stay).
pub fn reword(text: &str, word: &str) -> String {
    reword_with(text, word, |_| false, |_| false)
}

/// [`reword`], a word also not standing alone after a character `before` accepts or before
/// one `after` accepts.
fn reword_with(text: &str, word: &str, before: impl Fn(char) -> bool, after: impl Fn(char) -> bool) -> String {
    let capital = |w: &str| w[..1].to_uppercase() + &w[1..];
    let forms =
        [("tabs", plural(word)), ("Tabs", capital(&plural(word))), ("tab", word.to_string()), ("Tab", capital(word))];
    let joined = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '`';
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    'scan: while i < text.len() {
        let prev_ok = text[..i].chars().next_back().is_none_or(|c| !joined(c) && !before(c));
        if prev_ok {
            for (from, to) in &forms {
                if text[i..].starts_with(from) {
                    let next_ok = text[i + from.len()..].chars().next().is_none_or(|c| !joined(c) && !after(c));
                    if next_ok {
                        out.push_str(to);
                        i += from.len();
                        continue 'scan;
                    }
                }
            }
        }
        let c = text[i..].chars().next().expect("in bounds");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_word_leaves_text_unchanged_and_another_replaces_tab_standing_alone() {
        let t = "tab A's requester 2 gets 200; every tab's cookies are gone (2 tabs, per-tab storage, `tab`, TabSendsRefresh, refreshes_per_tab). Tabs wait.";
        assert_eq!(ClientWord::default().reword(t), t);
        assert_eq!(
            ClientWord::new("process").unwrap().reword(t),
            "process A's requester 2 gets 200; every process's cookies are gone (2 processes, per-tab storage, `tab`, TabSendsRefresh, refreshes_per_tab). Processes wait."
        );
        assert_eq!(reword("tab A holds token=1", "app"), "app A holds token=1");
    }

    #[test]
    fn queries_may_write_the_client_word_for_tab() {
        let w = ClientWord::new("process").unwrap();
        assert_eq!(
            w.event_in_tab_words("process A TabSendsRefresh text `process B`"),
            "tab A TabSendsRefresh text `process B`"
        );
        assert_eq!(w.event_in_tab_words("server ServerReceivesRefresh"), "server ServerReceivesRefresh");
        assert_eq!(
            w.view_in_tab_words("process[A].status == logged_out and tab[B].token == none and myprocess[C]"),
            "tab[A].status == logged_out and tab[B].token == none and myprocess[C]"
        );
        assert_eq!(ClientWord::default().view_in_tab_words("process[A]"), "process[A]");
        assert_eq!(
            ClientWord::new("process").unwrap().view_in_tab_words("processes.logged_out >= 1 and subprocesses.x"),
            "tabs.logged_out >= 1 and subprocesses.x"
        );
    }

    #[test]
    fn an_error_names_the_clients_in_the_word_but_keeps_field_names() {
        let w = ClientWord::new("process").unwrap();
        assert_eq!(
            w.reword_error("tab `C`, but device 1 has 2 tabs (A to B); field `browser.tabs`, tab[A] (did you mean `tab`?) `tab[A].status`"),
            "process `C`, but device 1 has 2 processes (A to B); field `browser.tabs`, tab[A] (did you mean `process`?) `process[A].status`"
        );
        assert_eq!(ClientWord::default().reword_error("2 tabs, `tab`"), "2 tabs, `tab`");
        // A query event's actor, as the query checker names it.
        assert_eq!(
            w.reword_error("`tab C`: the model has 2 tabs per device (A to B); `tab 1A`: 1 tab"),
            "`process C`: the model has 2 processes per device (A to B); `process 1A`: 1 process"
        );
    }

    #[test]
    fn plurals_follow_english_spelling() {
        assert_eq!(plural("process"), "processes");
        assert_eq!(plural("app"), "apps");
        assert_eq!(plural("proxy"), "proxies");
        assert_eq!(plural("day"), "days");
        assert_eq!(plural("worker"), "workers");
    }

    #[test]
    fn a_word_that_is_not_lowercase_letters_or_is_reserved_is_refused() {
        for bad in ["", "x", "Process", "cli process", "worker2", "averyveryverylongword", "server", "node"] {
            assert!(ClientWord::new(bad).is_err(), "{bad}");
        }
        assert!(ClientWord::new("server").unwrap_err().contains("something else"));
        assert_eq!(ClientWord::new("worker").unwrap().word(), "worker");
    }
}
