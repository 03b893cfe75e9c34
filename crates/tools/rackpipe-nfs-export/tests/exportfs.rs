//! Every rendered exports file goes through the real `exportfs` (nfs-utils, Debian's
//! nfs-kernel-server) in a private mount namespace: it must load with no warning at all and
//! `exportfs -v` must show each client with the access the site asked for. The linter must
//! agree with exportfs on the classic mistakes.

use crate::common;

use common::{ExportfsSandbox, LINUX, load, site_yaml};
use rackpipe_nfs_export::linux::parse_exportfs_v;

fn opts<'a>(active: &'a [(String, String, Vec<String>)], path: &str, client: &str) -> &'a [String] {
    active
        .iter()
        .find(|(p, c, _)| p == path && c == client)
        .map(|(_, _, o)| o.as_slice())
        .unwrap_or_else(|| panic!("{client}:{path} is not active: {active:#?}"))
}

#[test]
fn rendered_exports_load_cleanly_in_exportfs() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    let root = sandbox.root();
    let site = load(&site_yaml(&root, LINUX));
    let files = rackpipe_nfs_export::render(&site, None).unwrap();
    let exports = files
        .iter()
        .find(|f| f.path == "/etc/exports.d/lab.exports")
        .unwrap();
    for name in ["runner-cache", "k8s-prod", "k8s-nonprod", "pve"] {
        std::fs::create_dir_all(format!("{root}/{name}")).unwrap();
    }
    std::fs::write(sandbox.exports_d().join("lab.exports"), &exports.content).unwrap();

    let (code, _, stderr) = sandbox.run(&["-ra"]);
    assert_eq!(code, 0, "exportfs -ra failed: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "exportfs warned about our file:\n{stderr}\n{}",
        exports.content
    );

    let (code, stdout, stderr) = sandbox.run(&["-v"]);
    assert_eq!(code, 0, "{stderr}");
    let active = parse_exportfs_v(&stdout);
    assert_eq!(active.len(), 6, "{stdout}");
    let has = |o: &[String], want: &[&str]| want.iter().all(|w| o.iter().any(|x| x == w));
    let o = opts(&active, &format!("{root}/runner-cache"), "198.18.20.0/24");
    assert!(
        has(o, &["rw", "sync", "no_subtree_check", "root_squash"]),
        "{o:?}"
    );
    let o = opts(&active, &format!("{root}/k8s-prod"), "198.18.20.5");
    assert!(has(o, &["rw", "no_root_squash"]), "{o:?}");
    let o = opts(&active, &format!("{root}/k8s-prod"), "*.lab.example");
    assert!(has(o, &["ro", "sec=sys:krb5"]), "{o:?}");
    let o = opts(&active, &format!("{root}/k8s-nonprod"), "198.18.20.0/24");
    assert!(
        has(o, &["all_squash", "anonuid=1000", "anongid=1000"]),
        "{o:?}"
    );
    let o = opts(&active, &format!("{root}/pve"), "198.18.30.0/24");
    assert!(has(o, &["fsid=17", "crossmnt", "no_root_squash"]), "{o:?}");
    // `exportfs -v` does not print secure/insecure; the etab it wrote does.
    let etab = std::fs::read_to_string(sandbox.dir.path().join("state/etab")).unwrap();
    let pve = etab
        .lines()
        .find(|l| l.starts_with(&format!("{root}/pve\t198.18.30.0/24(")))
        .expect("pve in etab");
    assert!(pve.contains(",insecure,"), "{pve}");
    let cache = etab
        .lines()
        .find(|l| l.starts_with(&format!("{root}/runner-cache\t")))
        .expect("cache in etab");
    assert!(
        cache.contains(",secure,") || !cache.contains("insecure"),
        "{cache}"
    );
    let o = opts(&active, &format!("{root}/pve"), "198.18.40.0/24");
    // exportfs -v prints no_subtree_check only; its absence means subtree_check.
    assert!(has(o, &["ro"]) && !has(o, &["no_subtree_check"]), "{o:?}");
    assert!(
        active.iter().all(|(_, c, _)| c != "<world>"),
        "nothing may reach the world: {stdout}"
    );
}

#[test]
fn linter_agrees_with_exportfs_on_the_space_mistake_and_bad_options() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    let root = sandbox.root();
    std::fs::create_dir_all(format!("{root}/data")).unwrap();

    // 1. `host (rw)`: exportfs silently exports to the world; the linter must call it an error.
    let text = format!("{root}/data 198.18.1.10 (rw,sync,no_subtree_check)\n");
    std::fs::write(sandbox.exports_d().join("space.exports"), &text).unwrap();
    let (code, _, _) = sandbox.run(&["-ra"]);
    assert_eq!(code, 0, "exportfs accepts the mistake (that is the danger)");
    let (_, stdout, _) = sandbox.run(&["-v"]);
    assert!(
        parse_exportfs_v(&stdout)
            .iter()
            .any(|(_, c, o)| c == "<world>" && o.iter().any(|x| x == "rw")),
        "{stdout}"
    );
    let report = rackpipe_nfs_export::exports::lint("space.exports", &text);
    assert!(!report.valid);
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.rule == "world-export-space" && d.position.is_some_and(|p| p.line == 1))
    );

    // 2. An unknown option: exportfs refuses (exit 1), and so does the linter.
    let text = format!("{root}/data 198.18.1.10(rw,sync,no_subtree_check,bogus)\n");
    std::fs::write(sandbox.exports_d().join("space.exports"), &text).unwrap();
    let (code, _, stderr) = sandbox.run(&["-ra"]);
    assert_ne!(code, 0, "exportfs must reject bogus: {stderr}");
    assert!(stderr.contains("bogus"), "{stderr}");
    let report = rackpipe_nfs_export::exports::lint("space.exports", &text);
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.rule == "unknown-option" && d.is_error())
    );

    // 3. A clean line: exportfs is silent and so is the linter.
    let text = format!("{root}/data \\\n\t198.18.1.0/24(ro,sync,no_subtree_check,root_squash)\n");
    std::fs::write(sandbox.exports_d().join("space.exports"), &text).unwrap();
    let (code, _, stderr) = sandbox.run(&["-ra"]);
    assert!(code == 0 && stderr.trim().is_empty(), "{stderr}");
    assert!(
        rackpipe_nfs_export::exports::lint("space.exports", &text)
            .diagnostics
            .is_empty()
    );

    // 4. Missing sync/subtree decisions: exportfs warns, the linter warns (not an error).
    let text = format!("{root}/data 198.18.1.0/24(ro)\n");
    std::fs::write(sandbox.exports_d().join("space.exports"), &text).unwrap();
    let (code, _, stderr) = sandbox.run(&["-ra"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("subtree_check"), "{stderr}");
    let report = rackpipe_nfs_export::exports::lint("space.exports", &text);
    assert!(report.valid);
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.rule == "missing-subtree-check")
    );
    assert!(report.diagnostics.iter().any(|d| d.rule == "missing-sync"));
}
