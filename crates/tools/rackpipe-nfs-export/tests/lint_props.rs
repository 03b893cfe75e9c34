//! The exports(5) parser and linter never panic, whatever the input, and keep their
//! promises: positions point into the text, `valid` means no error, and a rendered client
//! entry always lints clean.

use proptest::prelude::*;
use rackpipe_nfs_export::exports::{escape_path, lint, lint_files, parse, unescape_path};

fn line_count(text: &str) -> u64 {
    text.split('\n').count() as u64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let report = lint("fuzz.exports", &text);
        prop_assert_eq!(report.valid, !report.diagnostics.iter().any(|d| d.is_error()));
        for d in &report.diagnostics {
            if let Some(p) = d.position {
                prop_assert!(p.line >= 1 && p.line <= line_count(&text), "{:?}", d);
            }
            prop_assert!(!d.message.contains('\n'));
        }
    }

    #[test]
    fn never_panics_on_exports_shaped_text(
        lines in proptest::collection::vec(
            "(#.*|[ \t]*|-?[a-z_=,0-9]{0,20}|\"?/[a-z /\\\\0-9]{0,12}\"?( +[a-z0-9.*?@:/\\[\\]-]{0,16}(\\([a-z_=,0-9:]{0,30}\\)?)?){0,4}( \\\\)?)",
            0..12,
        )
    ) {
        let text = lines.join("\n");
        let _ = parse(&text);
        let reports = lint_files(&[("a".to_owned(), text.clone()), ("b".to_owned(), text)]);
        prop_assert_eq!(reports.len(), 2);
    }

    #[test]
    fn path_escaping_round_trips(path in "/[ -~]{0,40}") {
        prop_assert_eq!(unescape_path(&escape_path(&path)), path.clone());
        let escaped = escape_path(&path);
        prop_assert!(!escaped.contains(' ') && !escaped.contains('#'));
    }

    #[test]
    fn rendered_style_entries_lint_clean(
        a in 1u8..=223, b in 0u8..=255, prefix in 16u8..=30,
        rw in any::<bool>(), squash in 0usize..3,
    ) {
        let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(a, b, 7, 0), prefix).unwrap().trunc();
        let squash = ["root_squash", "no_root_squash", "all_squash"][squash];
        let text = format!("/srv/x \\\n\t{net}({},sync,no_subtree_check,{squash})\n", if rw { "rw" } else { "ro" });
        let report = lint("t", &text);
        prop_assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    }
}

/// `nfs-export lint` prints one `NfsLint` document holding every file's report, matching its
/// committed schema (`RACKPIPE_BLESS=1` regenerates it).
#[test]
fn lint_document_holds_every_report_and_matches_its_schema() {
    use rackpipe_nfs_export::exports::{LINT_SCHEMA, LintReport, lint_schema};
    let schema = lint_schema();
    rackpipe_model::schema::check_committed(LINT_SCHEMA, &schema).unwrap();
    let reports = lint_files(&[
        (
            "good".to_owned(),
            "/srv/ok 198.18.0.0/24(rw,sync,no_subtree_check)\n".to_owned(),
        ),
        (
            "bad".to_owned(),
            "/srv/data 198.18.0.10 (rw,sync)\n".to_owned(),
        ),
    ]);
    let doc = serde_json::to_value(LintReport::new(reports.clone()).document()).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "apiVersion": "rackpipe/v1",
            "kind": "NfsLint",
            "valid": false,
            "reports": serde_json::to_value(&reports).unwrap(),
        })
    );
    assert_eq!(
        (
            doc["reports"][0]["valid"].clone(),
            doc["reports"][1]["valid"].clone()
        ),
        (serde_json::json!(true), serde_json::json!(false))
    );
    assert_eq!(
        rackpipe_model::schema::check_against(&schema, &doc),
        Ok(Vec::new())
    );
}
