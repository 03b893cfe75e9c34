//! JUnit XML for GitLab's `artifacts:reports:junit` (one test case per finding, or one passing
//! case for a valid site).

use rackpipe_model::documents::ValidationReport;

/// Escapes text for XML attributes and content.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Renders a validation report as JUnit XML.
#[must_use]
pub fn validation_report(report: &ValidationReport) -> String {
    let errors: Vec<_> = report.diagnostics.iter().filter(|d| d.is_error()).collect();
    let tool = xml_escape(&report.tool);
    let file = xml_escape(&report.source);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let tests = errors.len().max(1);
    xml.push_str(&format!(
        "  <testsuite name=\"{tool} validate\" tests=\"{tests}\" failures=\"{}\">\n",
        errors.len()
    ));
    if errors.is_empty() {
        xml.push_str(&format!(
            "    <testcase classname=\"{tool}\" name=\"site is valid\" file=\"{file}\"/>\n"
        ));
    }
    for (i, d) in errors.iter().enumerate() {
        let name = if d.path.is_empty() {
            format!("{} #{}", d.rule, i + 1)
        } else {
            d.path.clone()
        };
        xml.push_str(&format!(
            "    <testcase classname=\"{tool}\" name=\"{}\" file=\"{file}\"><failure message=\"{}\">{}</failure></testcase>\n",
            xml_escape(&name),
            xml_escape(&d.message),
            xml_escape(&d.display_with_source(&report.source).to_string()),
        ));
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackpipe_model::Diagnostic;

    #[test]
    fn failures_are_escaped_and_counted() {
        let report = ValidationReport {
            api_version: "rackpipe/v1".into(),
            kind: "ValidationReport".into(),
            tool: "ros-render".into(),
            source: "site.yaml".into(),
            valid: false,
            diagnostics: vec![Diagnostic::error(
                "x",
                "router.bridges[0]",
                "bad <name> & \"quote\"",
            )],
        };
        let xml = validation_report(&report);
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains("bad &lt;name&gt; &amp; &quot;quote&quot;"));
        assert!(xml.contains("name=\"router.bridges[0]\""));
    }
}
