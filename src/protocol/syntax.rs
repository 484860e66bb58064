//! The expression syntax shared by the model file's three expression languages: the guards,
//! effects and replies of a `protocol` ([`super::expr`]), the rules and statements of a
//! `session_server` ([`super::sessions`]) and the conditions of queries and invariants over the
//! state view ([`crate::query::view`]).
//!
//! One lexer, one precedence parser and one typed tree ([`Tree`]) serve all three; each language
//! supplies a [`Grammar`]: its types, which of them `==` and `<` may compare, and its names
//! (what a word reads, and anything after it that belongs to the name, such as `tab[A].status`).
//!
//! ```text
//! expr := and ("or" and)*
//! and  := not ("and" not)*
//! not  := "not" not | cmp
//! cmp  := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
//! sum  := atom (("+" | "-") atom)*
//! atom := INTEGER | NAME | "(" expr ")"
//! ```
//!
//! Values are small non-negative integers (0 to [`MAX_VALUE`]): ticks, counts, token numbers,
//! statuses; conditions are 0 and 1. `+` stops at [`MAX_VALUE`] and `-` at 0. A text is at most
//! [`MAX_TEXT`] bytes and nests parentheses and `not` at most [`MAX_DEPTH`] deep, so no input
//! can exhaust the stack.

/// The longest expression, effect, reply or statement, in bytes.
pub const MAX_TEXT: usize = 1000;
/// The deepest nesting of parentheses and `not`.
pub const MAX_DEPTH: usize = 32;
/// The largest value (and integer literal): every value the languages read fits a byte.
pub const MAX_VALUE: i32 = 255;

/// A token of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// An integer literal, 0 to [`MAX_VALUE`].
    Int(i32),
    /// A name or keyword.
    Word(String),
    /// An operator or bracket.
    Op(&'static str),
}

/// How a language spells its names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Words {
    /// Dotted paths are one word (`presented.child.status`); a word starts with a letter or `_`.
    Dotted,
    /// Words are letters, digits and `_` (so `2A` is one word, and digits alone an integer);
    /// `.`, `[` and `]` are operators that a grammar's names consume (`tab[2A].token.status`).
    Indexed,
}

/// Splits `text` into tokens; the error names the first character that is not allowed.
pub fn lex(text: &str, words: Words) -> Result<Vec<Tok>, String> {
    let b = text.as_bytes();
    let (mut i, mut out) = (0, vec![]);
    let word_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || (words == Words::Dotted && c == b'.');
    let int = |w: &str| -> Result<Tok, String> {
        match w.parse::<i32>() {
            Ok(n) if n <= MAX_VALUE => Ok(Tok::Int(n)),
            _ => Err(format!("the number {w} is too large (at most {MAX_VALUE})")),
        }
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() && words == Words::Dotted {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push(int(&text[start..i])?);
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < b.len() && word_char(b[i]) {
                i += 1;
            }
            let w = &text[start..i];
            out.push(if w.bytes().all(|c| c.is_ascii_digit()) { int(w)? } else { Tok::Word(w.to_string()) });
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let indexed: &[&'static str] = if words == Words::Indexed { &["[", "]", "."] } else { &[] };
            if let Some(op) = ["==", "!=", "<=", ">="].into_iter().find(|o| *o == two) {
                out.push(Tok::Op(op));
                i += 2;
            } else if let Some(op) =
                ["<", ">", "+", "-", "(", ")", "="].iter().chain(indexed).find(|o| o.as_bytes()[0] == c)
            {
                out.push(Tok::Op(op));
                i += 1;
            } else {
                let shown: String = text[i..].chars().next().into_iter().flat_map(char::escape_default).collect();
                let ops = if words == Words::Indexed { " [ ] ." } else { "" };
                return Err(format!(
                    "unexpected character `{shown}` (expected a name, a number or one of == != < <= > >= + - ( ){ops})"
                ));
            }
        }
    }
    Ok(out)
}

/// A token as an error message shows it.
pub fn show(t: &Tok) -> String {
    match t {
        Tok::Int(n) => format!("`{n}`"),
        Tok::Word(w) => format!("`{w}`"),
        Tok::Op(o) => format!("`{o}`"),
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed expression over the variables `V` of one language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Tree<V> {
    Const(i32),
    Var(V),
    Not(Box<Tree<V>>),
    And(Box<Tree<V>>, Box<Tree<V>>),
    Or(Box<Tree<V>>, Box<Tree<V>>),
    Cmp(Cmp, Box<Tree<V>>, Box<Tree<V>>),
    /// Addition stopping at [`MAX_VALUE`].
    Add(Box<Tree<V>>, Box<Tree<V>>),
    /// Subtraction stopping at 0.
    Sub(Box<Tree<V>>, Box<Tree<V>>),
}

impl<V> Tree<V> {
    /// Evaluates the expression, `read(v)` giving each variable's value; conditions are 0 and 1.
    #[inline]
    pub fn eval(&self, read: &impl Fn(&V) -> i32) -> i32 {
        match self {
            Tree::Const(n) => *n,
            Tree::Var(v) => read(v),
            Tree::Not(e) => i32::from(e.eval(read) == 0),
            Tree::And(a, b) => i32::from(a.eval(read) != 0 && b.eval(read) != 0),
            Tree::Or(a, b) => i32::from(a.eval(read) != 0 || b.eval(read) != 0),
            Tree::Cmp(op, a, b) => {
                let (a, b) = (a.eval(read), b.eval(read));
                i32::from(match op {
                    Cmp::Eq => a == b,
                    Cmp::Ne => a != b,
                    Cmp::Lt => a < b,
                    Cmp::Le => a <= b,
                    Cmp::Gt => a > b,
                    Cmp::Ge => a >= b,
                })
            }
            Tree::Add(a, b) => a.eval(read).saturating_add(b.eval(read)).min(MAX_VALUE),
            Tree::Sub(a, b) => a.eval(read).saturating_sub(b.eval(read)).max(0),
        }
    }

    /// Calls `f` on every variable the expression reads, left to right.
    pub fn visit_vars<'a>(&'a self, f: &mut impl FnMut(&'a V)) {
        match self {
            Tree::Const(_) => {}
            Tree::Var(v) => f(v),
            Tree::Not(e) => e.visit_vars(f),
            Tree::And(a, b) | Tree::Or(a, b) | Tree::Cmp(_, a, b) | Tree::Add(a, b) | Tree::Sub(a, b) => {
                a.visit_vars(f);
                b.visit_vars(f);
            }
        }
    }

    /// The first variable, left to right, for which `f` gives a value.
    pub fn find_var<'a, T>(&'a self, f: impl Fn(&'a V) -> Option<T>) -> Option<T> {
        let mut found = None;
        self.visit_vars(&mut |v| {
            if found.is_none() {
                found = f(v);
            }
        });
        found
    }
}

/// What one language adds to the shared syntax: its types and its names.
pub trait Grammar: Sized {
    /// What a name reads.
    type Var;
    /// The types of the language's values.
    type Ty: Copy + PartialEq;
    /// The type of conditions.
    const BOOL: Self::Ty;
    /// The type of ticks and counts.
    const NUM: Self::Ty;
    /// The type of the literal `none`.
    const NONE: Self::Ty;
    /// The type as an error message names it ("a token", "a number (ticks or a count)").
    fn ty_name(t: Self::Ty) -> &'static str;
    /// Whether `none` is a value of type `t` (no token, no status): nothing by default.
    fn nullable(_t: Self::Ty) -> bool {
        false
    }
    /// Whether `==` and `!=` may compare values of types `l` and `r`: the same type, or `none`
    /// with a [`Grammar::nullable`] type.
    fn comparable(l: Self::Ty, r: Self::Ty) -> bool {
        l == r || (l == Self::NONE && Self::nullable(r)) || (r == Self::NONE && Self::nullable(l))
    }
    /// Whether `<`, `<=`, `>` and `>=` may compare values of type `t` (numbers by default).
    fn ordered(t: Self::Ty) -> bool {
        t == Self::NUM
    }
    /// The name `word` (just consumed from `p`), with whatever follows it that belongs to the
    /// name (indices, fields): its expression and type, or an error naming what was expected.
    fn name(&self, word: &str, p: &mut Parser<'_, Self>) -> Result<(Tree<Self::Var>, Self::Ty), String>;
}

/// A parser over the tokens of one text, for the language `G`.
pub struct Parser<'g, G: Grammar> {
    toks: Vec<Tok>,
    at: usize,
    depth: usize,
    /// The language's names.
    pub grammar: &'g G,
}

impl<'g, G: Grammar> Parser<'g, G> {
    /// Lexes `text`; an error if it is longer than [`MAX_TEXT`] or has a character no token
    /// starts with.
    pub fn new(text: &str, words: Words, grammar: &'g G) -> Result<Self, String> {
        if text.len() > MAX_TEXT {
            return Err(format!("a text of {} bytes (at most {MAX_TEXT})", text.len()));
        }
        Ok(Parser { toks: lex(text, words)?, at: 0, depth: 0, grammar })
    }

    /// The next token, if any.
    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    /// Moves past the next token.
    pub fn advance(&mut self) {
        self.at += 1;
    }

    /// The next token, consumed.
    pub fn next_tok(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += usize::from(t.is_some());
        t
    }

    /// Whether the next token is the word `w`.
    pub fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    /// Whether the next token is the operator `o`.
    pub fn op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(x)) if *x == o)
    }

    /// Consumes the word `w` or says it was expected.
    pub fn expect_word(&mut self, w: &str) -> Result<(), String> {
        if self.word(w) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{w}`, found {}", self.found()))
        }
    }

    /// Consumes the operator `o` or says it was expected.
    pub fn expect_op(&mut self, o: &str) -> Result<(), String> {
        if self.op(o) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{o}`, found {}", self.found()))
        }
    }

    /// The next token as an error message shows it, or "the end".
    pub fn found(&self) -> String {
        self.peek().map_or("the end".into(), show)
    }

    /// An error unless every token was read.
    pub fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected {} after the end of the expression", show(t))),
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} deep (parentheses and `not`)"));
        }
        Ok(())
    }

    /// A whole expression (`or` binds loosest).
    pub fn expr(&mut self) -> Result<(Tree<G::Var>, G::Ty), String> {
        let (mut l, mut lt) = self.and()?;
        while self.word("or") {
            self.at += 1;
            let (r, rt) = self.and()?;
            want::<G>(lt, G::BOOL, "or")?;
            want::<G>(rt, G::BOOL, "or")?;
            (l, lt) = (Tree::Or(Box::new(l), Box::new(r)), G::BOOL);
        }
        Ok((l, lt))
    }

    fn and(&mut self) -> Result<(Tree<G::Var>, G::Ty), String> {
        let (mut l, mut lt) = self.not()?;
        while self.word("and") {
            self.at += 1;
            let (r, rt) = self.not()?;
            want::<G>(lt, G::BOOL, "and")?;
            want::<G>(rt, G::BOOL, "and")?;
            (l, lt) = (Tree::And(Box::new(l), Box::new(r)), G::BOOL);
        }
        Ok((l, lt))
    }

    fn not(&mut self) -> Result<(Tree<G::Var>, G::Ty), String> {
        if self.word("not") {
            self.at += 1;
            self.deeper()?;
            let (e, t) = self.not()?;
            self.depth -= 1;
            want::<G>(t, G::BOOL, "not")?;
            return Ok((Tree::Not(Box::new(e)), G::BOOL));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<(Tree<G::Var>, G::Ty), String> {
        let (l, lt) = self.sum()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => Cmp::Eq,
            Some(Tok::Op("!=")) => Cmp::Ne,
            Some(Tok::Op("<")) => Cmp::Lt,
            Some(Tok::Op("<=")) => Cmp::Le,
            Some(Tok::Op(">")) => Cmp::Gt,
            Some(Tok::Op(">=")) => Cmp::Ge,
            Some(Tok::Op("=")) => return Err("`=` compares nothing: write `==`".into()),
            _ => return Ok((l, lt)),
        };
        self.at += 1;
        let (r, rt) = self.sum()?;
        if !G::comparable(lt, rt) {
            return Err(format!("cannot compare {} with {}", G::ty_name(lt), G::ty_name(rt)));
        }
        if !matches!(op, Cmp::Eq | Cmp::Ne) && !G::ordered(lt) {
            return Err(format!("<, <=, > and >= cannot order {}", G::ty_name(lt)));
        }
        Ok((Tree::Cmp(op, Box::new(l), Box::new(r)), G::BOOL))
    }

    /// A sum of atoms: what a statement's operand is (it stops before any word that is not
    /// an operator).
    pub fn sum(&mut self) -> Result<(Tree<G::Var>, G::Ty), String> {
        let (mut l, mut lt) = self.atom()?;
        loop {
            let add = match self.peek() {
                Some(Tok::Op("+")) => true,
                Some(Tok::Op("-")) => false,
                _ => return Ok((l, lt)),
            };
            self.at += 1;
            let (r, rt) = self.atom()?;
            want::<G>(lt, G::NUM, "+ and -")?;
            want::<G>(rt, G::NUM, "+ and -")?;
            l = if add { Tree::Add(Box::new(l), Box::new(r)) } else { Tree::Sub(Box::new(l), Box::new(r)) };
            lt = G::NUM;
        }
    }

    fn atom(&mut self) -> Result<(Tree<G::Var>, G::Ty), String> {
        let Some(tok) = self.next_tok() else {
            return Err("the expression ends too early (expected a name, a number or `(`)".into());
        };
        match tok {
            Tok::Int(n) => Ok((Tree::Const(n), G::NUM)),
            Tok::Op("(") => {
                self.deeper()?;
                let e = self.expr()?;
                self.depth -= 1;
                if !self.op(")") {
                    return Err("a `(` is not closed (expected `)`)".into());
                }
                self.at += 1;
                Ok(e)
            }
            Tok::Op(o) => Err(format!("unexpected `{o}` (expected a name, a number or `(`)")),
            Tok::Word(w) => {
                let grammar = self.grammar;
                grammar.name(&w, self)
            }
        }
    }
}

/// An error unless `found` is `expected`: "`op` takes `expected`, found `found`".
pub fn want<G: Grammar>(found: G::Ty, expected: G::Ty, op: &str) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{op} takes {}, found {}", G::ty_name(expected), G::ty_name(found)))
    }
}

/// Names other servers and papers give a column this language names otherwise, as
/// `(their name, ours)`: a word ending in the first is answered with the second before any
/// misspelling is guessed (`presented.superseded_at` is `presented.rotated_at`, the tick the
/// token was superseded; `replaced_by` is `child`, the token that superseded it).
pub const SYNONYMS: &[(&str, &str)] = &[
    ("superseded_at", "rotated_at"),
    ("replaced_at", "rotated_at"),
    ("replaced_by", "child"),
    ("successor", "child"),
    ("predecessor", "parent"),
    ("created_at", "issued_at"),
    // A token status in another vocabulary: ours are `active`, `superseded`, `revoked`.
    ("retired", "superseded"),
    ("replaced", "superseded"),
    ("invalidated", "revoked"),
    ("blacklisted", "revoked"),
];

/// A scope written in another vocabulary, and ours: `attacker.tokens` is the state view's
/// `stolen_tokens` (the attacker's copies are what it stole).
pub const SCOPE_SYNONYMS: &[(&str, &str)] =
    &[("attacker.", "stolen_"), ("attacker_", "stolen_"), ("thief.", "stolen_")];

/// The scope of a dotted name: what stands before its first `.` or `[` (`family` in
/// `family.status`, `tab` in `tab[A].status`); the whole word when it has neither.
fn scope_of(w: &str) -> &str {
    w.split(['.', '[']).next().unwrap_or(w)
}

/// The last part of a dotted name (`status` in `family.status`), if it has a `.`.
fn field_of(w: &str) -> Option<&str> {
    w.rsplit_once('.').map(|(_, f)| f)
}

/// The closest of `candidates` to `word`, preferring the field a reader means:
/// 1. a candidate that is `word` with a [`SYNONYMS`] name replaced by ours, or with a
///    [`SCOPE_SYNONYMS`] scope replaced by ours (`attacker.tokens`: `stolen_tokens`);
/// 2. for a dotted name, a candidate of the same field under another scope (`family.status`:
///    `presented.status`), one of the same scope first, then one as deep, then the closest
///    spelling;
/// 3. a candidate close enough to be a likely misspelling (Jaro-Winkler above 0.8), one of
///    the same scope (`presented.` for `presented.stauts`) before the others, then the
///    closest.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let synonym = SYNONYMS.iter().find_map(|(theirs, ours)| {
        let stem = word.strip_suffix(theirs)?;
        candidates.iter().copied().find(|c| c.strip_prefix(stem) == Some(ours))
    });
    let scope_synonym = || {
        SCOPE_SYNONYMS.iter().find_map(|(theirs, ours)| {
            let rest = word.strip_prefix(theirs)?;
            candidates.iter().copied().find(|c| c.strip_prefix(ours) == Some(rest))
        })
    };
    if let Some(c) = synonym.or_else(scope_synonym) {
        return Some(c);
    }
    let scope = scope_of(word);
    let depth = |w: &str| w.matches('.').count();
    // Same scope first (`true` sorts after `false`), then a path as deep as the word
    // (`presented.status` for `family.status`, not `presented.child.status`), then the closest
    // spelling.
    let rank = |c: &str| ((scope_of(c) == scope, depth(c) == depth(word)), strsim::jaro_winkler(word, c));
    let best = |it: &mut dyn Iterator<Item = &'a str>| {
        it.map(|c| (rank(c), c)).max_by(|a, b| a.0 .0.cmp(&b.0 .0).then(a.0 .1.total_cmp(&b.0 .1))).map(|(_, c)| c)
    };
    if let Some(field) = field_of(word) {
        let mut same_field = candidates.iter().copied().filter(|c| *c != word && field_of(c) == Some(field));
        if let Some(c) = best(&mut same_field) {
            return Some(c);
        }
    }
    best(&mut candidates.iter().copied().filter(|c| strsim::jaro_winkler(word, c) > 0.8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_vocabularys_column_name_is_answered_with_ours() {
        let cols = ["presented.issued_at", "presented.rotated_at", "presented.child"];
        assert_eq!(did_you_mean("presented.superseded_at", cols), Some("presented.rotated_at"));
        assert_eq!(did_you_mean("superseded_at", ["issued_at", "rotated_at"]), Some("rotated_at"));
        assert_eq!(did_you_mean("presented.replaced_by", cols), Some("presented.child"));
        // No synonym among the candidates: the closest spelling, as before.
        assert_eq!(did_you_mean("presented.isued_at", cols), Some("presented.issued_at"));
        assert_eq!(did_you_mean("superseded_at", ["issued_at"]), None);
    }

    #[test]
    fn the_field_a_reader_means_comes_before_a_close_spelling() {
        // The same field under another scope: a family has no status, its tokens do.
        let cols = ["presented.status", "presented.child.status", "family.login_at", "family.last_used_at"];
        assert_eq!(did_you_mean("family.status", cols), Some("presented.status"));
        // The attacker's tokens are the stolen ones, not the count of its redemptions.
        let view = ["stolen_tokens", "stolen_tokens.live", "attacker_redeemed", "tokens"];
        assert_eq!(did_you_mean("attacker.tokens", view), Some("stolen_tokens"));
        assert_eq!(did_you_mean("attacker.tokens.live", view), Some("stolen_tokens.live"));
        // A misspelling within a scope stays in it.
        assert_eq!(did_you_mean("presented.stauts", cols), Some("presented.status"));
        assert_eq!(did_you_mean("family.last_usd_at", cols), Some("family.last_used_at"));
    }

    /// A language of two numbers `x` and `y` and a condition `c`.
    struct Tiny;

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum T {
        Num,
        Bool,
    }

    impl Grammar for Tiny {
        type Var = char;
        type Ty = T;
        const BOOL: T = T::Bool;
        const NUM: T = T::Num;
        const NONE: T = T::Num;
        fn ty_name(t: T) -> &'static str {
            if t == T::Num {
                "a number"
            } else {
                "a condition"
            }
        }
        fn name(&self, word: &str, _: &mut Parser<'_, Self>) -> Result<(Tree<char>, T), String> {
            match word {
                "x" => Ok((Tree::Var('x'), T::Num)),
                "y" => Ok((Tree::Var('y'), T::Num)),
                "c" => Ok((Tree::Var('c'), T::Bool)),
                _ => Err(format!("unknown name `{word}`")),
            }
        }
    }

    fn parse(text: &str) -> Result<(Tree<char>, T), String> {
        let mut p = Parser::new(text, Words::Dotted, &Tiny)?;
        let e = p.expr()?;
        p.end()?;
        Ok(e)
    }

    fn eval(text: &str) -> i32 {
        parse(text).unwrap().0.eval(&|v| match v {
            'x' => 3,
            'y' => 250,
            _ => 1,
        })
    }

    #[test]
    fn precedence_saturation_and_types() {
        assert_eq!(eval("x - 5"), 0, "- stops at 0");
        assert_eq!(eval("y + 10"), MAX_VALUE, "+ stops at the largest value");
        assert_eq!(eval("not c or x == 3 and y < 2"), 0, "and binds tighter than or");
        assert_eq!(eval("(not c or x == 3) and y > 2"), 1);
        assert_eq!(parse("x and c").unwrap_err(), "and takes a condition, found a number");
        assert_eq!(parse("c < x").unwrap_err(), "cannot compare a condition with a number");
        assert_eq!(parse("c < c").unwrap_err(), "<, <=, > and >= cannot order a condition");
        assert_eq!(parse("x = 1").unwrap_err(), "`=` compares nothing: write `==`");
        assert_eq!(parse("x 1").unwrap_err(), "unexpected `1` after the end of the expression");
        assert_eq!(parse("256").unwrap_err(), "the number 256 is too large (at most 255)");
        assert!(parse("x ~ 1").unwrap_err().starts_with("unexpected character `~`"));
    }

    #[test]
    fn deep_nesting_and_long_texts_are_refused_not_a_stack_overflow() {
        let deep = format!("{}c{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("nested more than 32 deep"));
        let nots = "not ".repeat(40) + "c";
        assert!(parse(&nots).unwrap_err().contains("nested more than 32 deep"));
        let long = "x + ".repeat(300) + "1";
        assert!(parse(&long).unwrap_err().contains("at most 1000"));
    }

    #[test]
    fn indexed_words_keep_digits_and_brackets_apart() {
        let toks = lex("tab[2A].status == 12", Words::Indexed).unwrap();
        let words: Vec<String> = toks.iter().map(show).collect();
        assert_eq!(words, ["`tab`", "`[`", "`2A`", "`]`", "`.`", "`status`", "`==`", "`12`"]);
        let toks = lex("presented.child.status==2", Words::Dotted).unwrap();
        assert_eq!(toks, [Tok::Word("presented.child.status".into()), Tok::Op("=="), Tok::Int(2)]);
        assert_eq!(parse("x+y").unwrap().0.find_var(|v| (*v == 'y').then_some(*v)), Some('y'));
    }
}
