//! Linux plan/apply: read the current file and `exportfs -v`, diff, write atomically,
//! `exportfs -ra`, verify with `exportfs -v`; a second plan has zero changes. Runs over a
//! real sshd on loopback (rackpipe-ssh) and over a local shell. exportfs is the real one in a
//! private mount namespace (see common::ExportfsSandbox): /etc is never touched.

use crate::common;

use common::{ExportfsSandbox, LINUX, load, site_yaml};
use rackpipe_model::documents::Action;
use rackpipe_nfs_export::Error;
use rackpipe_nfs_export::linux::{self, LinuxTarget, LocalShell, Remote, SshRemote};

fn prepare(sandbox: &ExportfsSandbox) -> (rackpipe_model::Site, LinuxTarget) {
    let root = sandbox.root();
    for name in ["runner-cache", "k8s-prod", "k8s-nonprod", "pve"] {
        std::fs::create_dir_all(format!("{root}/{name}")).unwrap();
    }
    let target = LinuxTarget {
        exports_dir: sandbox.exports_d().display().to_string(),
        exportfs: sandbox.exportfs(),
        sudo: false,
    };
    (load(&site_yaml(&root, LINUX)), target)
}

async fn round_trip(remote: &impl Remote, sandbox: &ExportfsSandbox) {
    let (site, target) = prepare(sandbox);
    let file = sandbox.exports_d().join("lab.exports");

    let plan = linux::plan(&site, remote, &target).await.expect("plan");
    assert_eq!(plan.changes.len(), 1, "{plan:#?}");
    assert_eq!(plan.changes[0].action, Action::Create);
    assert!(!file.exists(), "plan changes nothing");

    let result = linux::apply(&site, remote, &target, Some(&plan))
        .await
        .expect("apply");
    assert_eq!(result.summary.create, 1);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("198.18.20.0/24(rw,sync,no_subtree_check,root_squash)"),
        "{written}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644);
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.exports_d())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    let again = linux::plan(&site, remote, &target)
        .await
        .expect("second plan");
    assert!(
        again.changes.is_empty(),
        "second plan must be empty: {again:#?}"
    );

    // Someone edits the file by hand: plan shows an update with a diff; apply restores it.
    std::fs::write(&file, written.replace("root_squash)", "no_root_squash)")).unwrap();
    let drift = linux::plan(&site, remote, &target).await.unwrap();
    assert_eq!(drift.changes[0].action, Action::Update);
    assert!(
        drift.changes[0]
            .diff
            .as_deref()
            .unwrap()
            .contains("+\t198.18.20.0/24(rw,sync,no_subtree_check,root_squash)")
    );
    // The file changed after the plan was made: the stale plan is refused.
    std::fs::write(&file, "# changed again\n").unwrap();
    let err = linux::apply(&site, remote, &target, Some(&drift))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StalePlan { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# changed again\n",
        "nothing changed"
    );
    linux::apply(&site, remote, &target, None)
        .await
        .expect("apply without a saved plan");
    assert!(
        linux::plan(&site, remote, &target)
            .await
            .unwrap()
            .changes
            .is_empty()
    );

    // Another file on the server exports one of our paths to the same client: plan refuses,
    // and lists that file as unmanaged once the clash is gone.
    let other = sandbox.exports_d().join("zz-other.exports");
    std::fs::write(
        &other,
        format!(
            "{}/pve 198.18.30.0/24(ro,sync,no_subtree_check)\n",
            sandbox.root()
        ),
    )
    .unwrap();
    let err = linux::plan(&site, remote, &target).await.unwrap_err();
    assert!(
        matches!(err, Error::Invalid { .. }) && err.to_string().contains("already exported"),
        "{err}"
    );
    std::fs::write(
        &other,
        format!(
            "{}/pve 198.18.99.0/24(ro,sync,no_subtree_check)\n",
            sandbox.root()
        ),
    )
    .unwrap();
    let listed = linux::plan(&site, remote, &target).await.unwrap();
    assert_eq!(listed.unmanaged, [other.display().to_string()]);
    std::fs::remove_file(&other).unwrap();

    // Written but never loaded (exportfs -ra forgotten): plan notices the export is not active.
    std::fs::remove_file(sandbox.dir.path().join("state/etab")).unwrap();
    std::fs::write(sandbox.dir.path().join("state/etab"), "").unwrap();
    let inactive = linux::plan(&site, remote, &target).await.unwrap();
    assert_eq!(inactive.changes.len(), 1, "{inactive:#?}");
    assert!(inactive.changes[0].resource.contains("active exports"));
    linux::apply(&site, remote, &target, None).await.unwrap();
    assert!(
        linux::plan(&site, remote, &target)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
}

#[tokio::test]
async fn plan_apply_over_a_local_shell() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    round_trip(
        &LocalShell {
            label: "localhost".to_owned(),
        },
        &sandbox,
    )
    .await;
}

#[tokio::test]
async fn plan_apply_over_ssh_on_loopback() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    let Some(server) = rackpipe_ssh::testing::SshServer::start() else {
        return;
    };
    let remote = SshRemote::connect(&server.options(), std::time::Duration::from_secs(30))
        .await
        .expect("ssh connect");
    round_trip(&remote, &sandbox).await;
    remote.close().await;
}

#[tokio::test]
async fn a_failed_reload_restores_the_previous_file() {
    let Some(sandbox) = ExportfsSandbox::new() else {
        return;
    };
    let (site, target) = prepare(&sandbox);
    let remote = LocalShell {
        label: "localhost".to_owned(),
    };
    linux::apply(&site, &remote, &target, None).await.unwrap();
    let good = std::fs::read_to_string(sandbox.exports_d().join("lab.exports")).unwrap();
    // A path that vanished makes exportfs -ra fail ("Failed to stat"): apply must put the old
    // file back and report the failing command.
    let moved = load(&site_yaml(&format!("{}/gone", sandbox.root()), LINUX));
    let err = linux::apply(&moved, &remote, &target, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    assert!(
        err.to_string().contains("-ra") || err.to_string().contains("not active"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.exports_d().join("lab.exports")).unwrap(),
        good
    );
}
