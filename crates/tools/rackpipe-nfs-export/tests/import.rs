//! `nfs-export import`: the example sites' `nas` sections applied to a real exportfs (private
//! mount namespace, over a local shell and over a real sshd on loopback) and to the DSM
//! simulator, imported back, validated, and planned against the same target: zero changes.
//! A hand-written exports file with options the model lacks lists them as not imported; the
//! importer never panics on mutated exports files.

use std::net::IpAddr;

use crate::common::ExportfsSandbox;
use proptest::prelude::*;
use rackpipe_model::Site;
use rackpipe_model::nas::NfsServer;
use rackpipe_nfs_export::import::{self, Imported, Skeleton};
use rackpipe_nfs_export::linux::{self, LinuxTarget, LocalShell, Remote, SshRemote};

fn example(name: &str) -> Site {
    let path = format!(
        "{}/../../../examples/{name}/site.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read(&path).expect("read the example site");
    match rackpipe_model::load(&path, &text) {
        Ok((site, _)) => site,
        Err(e) => panic!("{path}: {e}"),
    }
}

fn linux_skeleton() -> Skeleton {
    Skeleton {
        name: None,
        domain: None,
        address: Some(IpAddr::from([198, 18, 10, 11])),
        fqdn: None,
        server: NfsServer::Linux {
            ssh_user: "root".to_owned(),
        },
    }
}

/// The imported YAML validates on its own (what `nfs-export validate` of it does).
fn validates(imported: &Imported) {
    let loaded = rackpipe_model::load::load_and_validate("imported.yaml", imported.yaml.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{}", imported.yaml));
    assert_eq!(loaded.site, imported.site);
}

async fn linux_round_trip(remote: &impl Remote, sandbox: &ExportfsSandbox) {
    // rachuna-net's NAS, its export paths moved under the sandbox (exportfs stats them).
    let mut site = example("rachuna-net");
    let root = sandbox.root();
    let nas = site.nas.as_mut().expect("the example has a NAS");
    for e in &mut nas.exports {
        e.path = format!("{root}{}", e.path);
        std::fs::create_dir_all(&e.path).unwrap();
    }
    let target = LinuxTarget {
        exports_dir: sandbox.exports_d().display().to_string(),
        exportfs: sandbox.exportfs(),
        sudo: false,
    };
    linux::apply(&site, remote, &target, None)
        .await
        .expect("apply the example");

    let imported = import::from_linux(remote, &target, &linux_skeleton())
        .await
        .expect("import");
    validates(&imported);
    assert_eq!(imported.site.metadata.name.as_str(), "rachuna-net");
    assert!(
        imported.report.not_imported.is_empty(),
        "{:?}",
        imported.report
    );
    assert_eq!(
        imported.report.exports,
        site.nas.as_ref().unwrap().exports.len()
    );
    let plan = linux::plan(&imported.site, remote, &target)
        .await
        .expect("plan of the import");
    assert!(plan.changes.is_empty(), "{plan:#?}\n{}", imported.yaml);
}

/// Over a local shell, then (the example applied already) over a real sshd on loopback.
#[tokio::test]
async fn import_linux_example_plans_zero_changes() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    let shell = LocalShell {
        label: "localhost".to_owned(),
    };
    linux_round_trip(&shell, &sandbox).await;
    let Some(sshd) = rackpipe_ssh::testing::SshServer::start() else {
        return;
    };
    let ssh = SshRemote::connect(&sshd.options(), std::time::Duration::from_secs(30))
        .await
        .expect("ssh connect");
    linux_round_trip(&ssh, &sandbox).await;
    ssh.close().await;
}

#[tokio::test]
async fn import_lists_options_the_model_lacks() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    let root = sandbox.root();
    std::fs::create_dir_all(format!("{root}/media")).unwrap();
    let file = sandbox.exports_d().join("hand.exports");
    std::fs::write(
        &file,
        format!(
            "# written by hand\n{root}/media -sync 198.18.0.0/24(rw,no_subtree_check,no_wdelay,nohide) \\\n  198.18.1.7(ro,wdelay)\n"
        ),
    )
    .unwrap();
    let remote = LocalShell {
        label: "localhost".to_owned(),
    };
    let target = LinuxTarget {
        exports_dir: sandbox.exports_d().display().to_string(),
        exportfs: sandbox.exportfs(),
        sudo: false,
    };
    let imported = import::from_linux(&remote, &target, &linux_skeleton())
        .await
        .expect("import");
    validates(&imported);
    let listed: Vec<String> = imported
        .report
        .not_imported
        .iter()
        .map(|n| format!("{}: {}", n.location, n.what))
        .collect();
    let at = format!("{}:2", file.display());
    assert_eq!(
        listed,
        [
            format!("{at}: option no_wdelay of 198.18.0.0/24 on {root}/media"),
            format!("{at}: option nohide of 198.18.0.0/24 on {root}/media"),
        ]
    );
    for option in ["no_wdelay", "nohide"] {
        assert!(
            imported
                .yaml
                .contains(&format!("# not imported: option {option} of 198.18.0.0/24")),
            "{}",
            imported.yaml
        );
        assert!(
            imported
                .report
                .human()
                .contains(&format!("partly imported: {at}: option {option}")),
            "{}",
            imported.report.human()
        );
    }
    assert!(imported.yaml.contains("# wdelay is exportfs's default"));
    assert!(
        imported
            .report
            .choices
            .iter()
            .any(|c| c.contains("the first plan rewrites it")),
        "{:?}",
        imported.report.choices
    );
    assert_eq!(imported.site.metadata.name.as_str(), "hand");

    // A line the parser refuses: one line naming the file and line, no site.
    std::fs::write(&file, format!("{root}/media 198.18.0.0/24(rw\n")).unwrap();
    let err = import::from_linux(&remote, &target, &linux_skeleton())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1:", file.display())),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
}

#[tokio::test]
async fn import_synology_example_from_the_dsm_simulator_plans_zero_changes() {
    use crate::synology::{PASSWORD, pki, target};
    use rackpipe_dsm_sim::{DsmSim, SimConfig};
    use rackpipe_nfs_export::synology::{self, DsmClient, Trust};

    let site = example("rachuna-dev");
    let NfsServer::Synology { volume, .. } = &site.nas.as_ref().unwrap().server else {
        panic!("rachuna-dev's NAS is a Synology");
    };
    let shares: Vec<String> = site
        .nas
        .as_ref()
        .unwrap()
        .exports
        .iter()
        .map(|e| e.path.trim_start_matches(&format!("{volume}/")).to_owned())
        .collect();
    let pki = pki();
    let config = SimConfig {
        users: [("rackpipe".to_owned(), PASSWORD.to_owned())].into(),
        shares: shares.iter().map(|s| (s.clone(), Vec::new())).collect(),
        save_latency: std::time::Duration::from_millis(1),
    };
    let sim = DsmSim::start_tls(config, pki.tls.clone())
        .await
        .expect("start DSM simulator");
    let client = DsmClient::login(target(&sim, Trust::CaPem(pki.ca_pem.clone().into_bytes())))
        .await
        .expect("login");
    synology::apply(&site, &client, None)
        .await
        .expect("apply the example");

    let skeleton = Skeleton {
        name: Some("rachuna-dev".to_owned()),
        domain: Some("rachuna.dev".to_owned()),
        address: Some(IpAddr::from([127, 0, 0, 1])),
        fqdn: None,
        server: site.nas.as_ref().unwrap().server.clone(),
    };
    let imported = import::from_synology(&client, &shares, &skeleton)
        .await
        .expect("import");
    validates(&imported);
    assert!(imported.report.not_imported.is_empty());
    let plan = synology::plan(&imported.site, &client)
        .await
        .expect("plan of the import");
    assert!(plan.changes.is_empty(), "{plan:#?}\n{}", imported.yaml);

    // A rule the model cannot hold (root mapped to DSM's admin) is listed, not dropped.
    sim.set_rules(
        &shares[0],
        vec![
            serde_json::json!({"client": "198.18.2.0/24", "privilege": "rw", "root_squash": "guest", "security_flavor": {"sys": true}}),
            serde_json::json!({"client": "198.18.3.1", "privilege": "rw", "root_squash": "admin", "security_flavor": {"sys": true}}),
        ],
    );
    let imported = import::from_synology(&client, &shares, &skeleton)
        .await
        .expect("import");
    assert_eq!(
        imported.report.not_imported.len(),
        1,
        "{:?}",
        imported.report.not_imported
    );
    assert_eq!(imported.report.not_imported[0].what, "rule for 198.18.3.1");
    assert!(
        imported
            .yaml
            .contains("# not imported: rule for 198.18.3.1")
    );
    client.logout().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the file holds, the import returns a site or one error line: never a panic.
    #[test]
    fn import_never_panics_on_mutated_exports_files(
        lines in proptest::collection::vec(
            "(#.*|[ \t]*|-?[a-z_=,0-9]{0,20}|\"?/[a-z /\\\\0-9]{0,12}\"?( +[a-z0-9.*?@:/\\[\\]-]{0,16}(\\([a-z_=,0-9:]{0,30}\\)?)?){0,4}( \\\\)?)",
            0..12,
        ),
        cut in 0usize..64,
        byte in any::<u8>(),
    ) {
        let mut text = lines.join("\n");
        // Mutate: a byte inserted at a char boundary.
        let at = (0..=cut.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert(at, char::from(byte));
        let files = vec![("/etc/exports.d/fuzz.exports".to_owned(), text)];
        match import::from_exports_files(&files, "/etc/exports.d", &linux_skeleton(), "fuzz") {
            Ok(imported) => validates(&imported),
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{}", e),
        }
    }
}
