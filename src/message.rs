//! Text from input (file names, field names, values) on its way to a terminal or a CI log.

use std::borrow::Cow;

/// `text` with every control character escaped as Rust writes it in a string literal (`\n`,
/// `\t`, `\u{1b}`), so that input can neither start a line of its own (a forged `::error::`
/// annotation of a CI log) nor send escape sequences to a terminal. Text without control
/// characters is returned as it is.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("x\n::error::INJ\u{1b}[2J\t\u{9b}é"), "x\\n::error::INJ\\u{1b}[2J\\t\\u{9b}é");
        assert!(matches!(escape_controls("plain `text` ✓"), Cow::Borrowed(_)));
    }
}
