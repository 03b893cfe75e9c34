//! The `import` verbs through the real binaries: the site on stdout validates, the report
//! (`--report FILE`) is an `ImportReport` that validates against its committed schema, no
//! secret value reaches stdout, stderr or the report; `--into SITE_FILE` writes the imported
//! section into an existing site keeping every other section and comment byte for byte, and
//! refuses a file that is not a site with one line, changing nothing.

use rackpipe_model::schema::check_document;

use crate::support::run;

/// A RouterOS v6 export (v6 exports print secrets) of a small router: no corpus needed.
const EXPORT: &str = r#"# jan/01/2024 10:00:00 by RouterOS 6.49.18
# model = RB5009UG+S+
/interface bridge
add name=bridge-lan
/ip address
add address=198.18.10.1/24 interface=bridge-lan
/ip ipsec peer
add address=203.0.113.7/32 name=office secret=Ipsec-Secret-Value-2
/ppp secret
add name=alice password=Ppp-Secret-Value-3 service=l2tp
/user
add group=full name=ops password=User-Secret-Value-5
/ip dns
set servers=9.9.9.9
"#;

const SECRETS: [&str; 3] = [
    "Ipsec-Secret-Value-2",
    "Ppp-Secret-Value-3",
    "User-Secret-Value-5",
];

/// A site a person wrote, with comments in and around every section.
const SITE: &str = "# yaml-language-server: $schema=../schemas/site.schema.json
#
# The lab, built step by step by the imports.
apiVersion: rackpipe/v1
kind: Site
metadata:
  name: lab   # the lab's name
  domain: lab.test

# The addressing plan, by hand.
segments:
  - name: lan          # the one LAN
    cidr: 198.18.10.0/24
    # no VLAN yet

hosts:
  - name: nas
    address: 198.18.10.5   # the NAS
    segment: lan

# closing words
";

fn report_of(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in the report");
    }
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        check_document("import-report.schema.json", &report),
        Ok(Vec::new()),
        "{report}"
    );
    report
}

#[test]
fn ros_render_import_prints_a_valid_site_and_an_import_report() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("router.rsc");
    std::fs::write(&export, EXPORT).unwrap();
    let report = dir.path().join("report.json");
    let out = run(
        "ros-render",
        &[
            "import",
            "--from-export",
            export.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for secret in SECRETS {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    }
    rackpipe_model::load::load_and_validate("stdout", out.stdout.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{}", out.stdout));
    let report = report_of(&report);
    assert_eq!(report["kind"], "ImportReport");
    assert_eq!(report["tool"], "ros-render");
    assert_eq!(report["sections"], serde_json::json!(["router"]));
    assert_eq!(report["source_version"], "6.49.18");
    assert_eq!(report["complete"], true);
    let c = &report["counts"];
    assert_eq!(
        c["typed"].as_u64().unwrap()
            + c["generic"].as_u64().unwrap()
            + c["not_imported"].as_u64().unwrap(),
        c["total"].as_u64().unwrap(),
        "{report}"
    );
    let secrets: Vec<&str> = report["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reference"].as_str().unwrap())
        .collect();
    assert!(
        secrets.contains(&"env:ROS_USER_NAME_OPS_PASSWORD"),
        "{secrets:?}"
    );
    // The line each secret came from.
    let user = report["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["reference"] == "env:ROS_USER_NAME_OPS_PASSWORD")
        .unwrap();
    assert_eq!(
        user["location"],
        format!("{}:12", export.display()),
        "{user}"
    );
    // Without --report: the same report as text on stderr.
    let out = run(
        "ros-render",
        &["import", "--from-export", "-"],
        Some(EXPORT.as_bytes()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("imported <stdin> (version 6.49.18): "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("  env:ROS_USER_NAME_OPS_PASSWORD  <- /user name=ops password (<stdin>:12)"),
        "{}",
        out.stderr
    );
}

#[test]
fn import_into_a_site_file_keeps_the_rest_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("router.rsc");
    std::fs::write(&export, EXPORT).unwrap();
    let site = dir.path().join("site.yaml");
    std::fs::write(&site, SITE).unwrap();
    let report = dir.path().join("report.json");
    let into = |report: &std::path::Path| {
        run(
            "ros-render",
            &[
                "import",
                "--from-export",
                export.to_str().unwrap(),
                "--into",
                site.to_str().unwrap(),
                "--report",
                report.to_str().unwrap(),
            ],
            None,
        )
    };
    let out = into(&report);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "", "with --into the site goes to the file");
    assert_eq!(
        out.stderr.trim_end(),
        format!("ros-render: wrote router into {}", site.display())
    );
    report_of(&report);
    let first = std::fs::read_to_string(&site).unwrap();
    for secret in SECRETS {
        assert!(!first.contains(secret));
    }
    // Every byte of the file is kept; the router (absent) is appended after a blank line,
    // with what the import says about itself as the comment above it.
    let added = first
        .strip_prefix(SITE)
        .unwrap_or_else(|| panic!("the file's text moved:\n{first}"));
    assert!(added.starts_with("\n# "), "{added}");
    assert!(added.contains("\nrouter:\n"), "{added}");
    let loaded = rackpipe_model::load::load_and_validate("site.yaml", first.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{first}"));
    assert_eq!(loaded.site.metadata.name.as_str(), "lab");
    assert!(loaded.site.router.is_some());
    // Again: the router section is replaced by the same, nothing else moves.
    let out = into(&report);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&site).unwrap(), first);

    // A file that is not a site: one line, exit 1, the file unchanged, nothing on stdout.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "just: [a, list\n").unwrap();
    let out = run(
        "ros-render",
        &[
            "import",
            "--from-export",
            export.to_str().unwrap(),
            "--into",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "ros-render: error: --into {}: not a readable site: ",
            bad.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("router:"));
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "just: [a, list\n");
}
