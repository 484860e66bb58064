//! JUnit XML, the test-report format CI systems display (GitHub, GitLab, Jenkins): one test
//! suite per model file, one test case per property (classname: the model, name: the
//! property). A property that differs is a `failure` whose message is the difference in one
//! line (model, property, expected and found verdict, trace file, or the golden trace's first
//! differing step) and whose text gives the details and the counterexample's steps; an
//! undecided property is an `error` of type `incomplete`. Each scenario query is a test case
//! too (name: `query <name>`): a `failure` of type `query` when its answer is not the
//! expected one, an `error` of type `incomplete` when unknown. Written with `quick-junit`.

use std::io::{self, Write};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{verdict, ModelReport, PropertyReport, QueryReport, SuiteReport, Traces};
use crate::trace;

fn details(m: &ModelReport, p: &PropertyReport, traces: &Traces) -> String {
    let browsers = crate::report::clients_summary(
        m.devices,
        m.tabs,
        m.client_word.as_deref().unwrap_or(crate::model::client_word::TAB),
    );
    let mut s = format!("model: {} ({}, {browsers}; {})\n", m.model, m.file.display(), m.policy);
    let kind = match p.kind {
        crate::properties::Kind::Always => "always",
        crate::properties::Kind::Sometimes => "sometimes",
    };
    s += &format!("property: {} ({kind}): {}\n", p.name, p.claim);
    s += &format!("expected: {}\n", p.expected.map(verdict).unwrap_or("-"));
    s += &format!("found: {}\n", verdict(p.status));
    if let Some(t) = &p.trace {
        s += &format!("trace: {}", t.display());
        if let Some(n) = p.steps {
            s += &format!(" ({n} steps)");
        }
        s += "\n";
    }
    if let Some(g) = &p.golden {
        if let Some(step) = g.step {
            s += &format!("golden trace: {} first differs at step {step}\n", g.file.display());
        }
        if let Some(msg) = &g.message {
            s += &format!("{msg}\n");
        }
    }
    if let Some(t) = traces.get(&(m.model.clone(), p.name.clone())) {
        s += &format!("counterexample found now ({} steps):\n{}", t.steps.len(), trace::render_text(t));
    }
    s
}

fn case(m: &ModelReport, p: &PropertyReport, traces: &Traces) -> TestCase {
    let status = if let Some(diff) = p.difference() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let golden = p.as_expected != Some(false);
        st.set_type(if golden { "golden-trace" } else { "verdict" });
        st.set_message(format!("{} {}: {diff}", m.model, p.name));
        st.set_description(details(m, p, traces));
        st
    } else if p.as_expected.is_none() {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_type("incomplete");
        st.set_message(format!(
            "{} {}: unknown: the search stopped ({}) before deciding",
            m.model,
            p.name,
            super::ending_word(m.ending)
        ));
        st.set_description(details(m, p, traces));
        st
    } else {
        TestCaseStatus::success()
    };
    let mut c = TestCase::new(p.name.as_str(), status);
    c.set_classname(m.model.as_str());
    c
}

/// One scenario query's test case (classname: the model, name: `query <name>`): a `failure`
/// of type `query` when the answer is final and not the expected one, an `error` of type
/// `incomplete` when a limit stopped its search.
fn query_case(m: &ModelReport, q: &QueryReport) -> TestCase {
    let details = || {
        let mut s = format!("model: {} ({})\n{} {}: {}\n", m.model, m.file.display(), q.kind, q.name, q.claim);
        s += &format!("expected: {}\nfound: {}\n", q.expected.as_deref().unwrap_or("-"), q.answer);
        if let Some(t) = &q.trace {
            s += &format!("trace: {}", t.display());
            if let Some(n) = q.steps {
                s += &format!(" ({n} steps)");
            }
            s += "\n";
        }
        s
    };
    let status = if q.answer == "unknown" {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_type("incomplete");
        st.set_message(format!("{} query {}: unknown: a limit stopped the search before an answer", m.model, q.name));
        st.set_description(details());
        st
    } else if !q.as_expected {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
        st.set_type("query");
        st.set_message(format!(
            "{} query {}: expected {}, found {}",
            m.model,
            q.name,
            q.expected.as_deref().unwrap_or("-"),
            q.answer
        ));
        st.set_description(details());
        st
    } else {
        TestCaseStatus::success()
    };
    let mut c = TestCase::new(format!("query {}", q.name), status);
    c.set_classname(m.model.as_str());
    c
}

/// Writes the JUnit XML of a suite report.
pub fn write(s: &SuiteReport, traces: &Traces, w: &mut impl Write) -> io::Result<()> {
    let mut report = Report::new("refresh-check");
    let mut total = 0.0;
    for m in &s.models {
        let mut suite = TestSuite::new(m.model.as_str());
        suite.set_time(Duration::from_secs_f64(m.seconds.max(0.0)));
        total += m.seconds.max(0.0);
        for (k, v) in [
            ("file", m.file.display().to_string()),
            ("policy", m.policy.clone()),
            ("tabs", m.tabs.to_string()),
            ("ending", super::ending_word(m.ending)),
            ("states", m.states.to_string()),
            ("unique_states", m.unique_states.to_string()),
            ("max_depth", m.max_depth.to_string()),
        ] {
            suite.add_property((k, v.as_str()));
        }
        suite.add_test_cases(m.properties.iter().map(|p| case(m, p, traces)));
        suite.add_test_cases(m.queries.iter().map(|q| query_case(m, q)));
        report.add_test_suite(suite);
    }
    report.set_time(Duration::from_secs_f64(total));
    let xml = report.to_string().map_err(io::Error::other)?;
    w.write_all(xml.as_bytes())?;
    writeln!(w)
}
