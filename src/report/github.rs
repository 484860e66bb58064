//! GitHub Actions workflow annotations: one `::error` per difference, on the line of the model
//! file's `expect` entry (or on the golden trace file), then a `::notice` with the totals.
//!
//! Format and escaping as in GitHub's documentation "Workflow commands for GitHub Actions"
//! (setting an error message) and `@actions/core` `command.ts` (`escapeData`,
//! `escapeProperty`): in the message `%`, CR and LF are percent-encoded; in a property value
//! also `:` and `,`.

use std::io::{self, Write};
use std::path::Path;

use super::{outcome_words, SuiteReport};

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The 1-based line of `"<property>"` inside the `expect` object of a model file, if found.
pub fn expect_line(file: &Path, property: &str) -> Option<usize> {
    let text = crate::input::read_text(file).ok()?;
    let key = format!("\"{property}\"");
    let mut in_expect = false;
    for (i, line) in text.lines().enumerate() {
        if line.contains("\"expect\"") {
            in_expect = true;
        }
        if in_expect && line.contains(&key) {
            return Some(i + 1);
        }
    }
    None
}

/// Writes the annotations.
pub fn write(s: &SuiteReport, w: &mut impl Write) -> io::Result<()> {
    for m in &s.models {
        for p in &m.properties {
            let Some(message) = p.difference() else { continue };
            let golden_only = p.as_expected != Some(false);
            let (file, line) = match &p.golden {
                Some(g) if golden_only => (g.file.clone(), None),
                _ => (m.file.clone(), expect_line(&m.file, &p.name)),
            };
            let title = format!("refresh-check: {} {}", m.model, p.name);
            write!(w, "::error file={}", escape_property(&file.display().to_string()))?;
            if let Some(l) = line {
                write!(w, ",line={l}")?;
            }
            writeln!(w, ",title={}::{}", escape_property(&title), escape_data(&format!("{}: {message}", p.claim)))?;
        }
    }
    let t = &s.totals;
    writeln!(
        w,
        "::notice title=refresh-check::{}",
        escape_data(&format!(
            "{}, {}: {} as expected, {} differ, {} undecided; outcome {}",
            super::count(t.models, "model"),
            super::count(t.properties, "property"),
            t.as_expected,
            t.differ,
            t.undecided,
            outcome_words(s.outcome)
        ))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_properties_are_escaped_as_the_actions_toolkit_does() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
