//! The container image (issue: install it like a real tool): `ci/image.sh` builds the OCI
//! archive from this build's binaries without a container daemon (mmdebstrap + ci/oci.py) and
//! `--smoke` runs each binary's `--version` and `validate` of the example inside it, as the
//! image's non-root user. It runs here, beside the other tests, because it mostly waits on
//! dpkg and gzip; the release image is the same script with `--bin-dir target/release`.
#![allow(clippy::print_stderr)]

use std::process::Command;

use crate::support::TOOLS;

#[test]
fn the_image_builds_without_a_daemon_and_its_binaries_run_as_the_image_user() {
    for tool in ["mmdebstrap", "unshare", "chroot", "strip", "python3"] {
        if rackpipe_testkit::require_tool(tool).is_none() {
            return;
        }
    }
    if rackpipe_testkit::require_root("the image build (mmdebstrap)").is_none() {
        return;
    }
    // This build's binaries, stripped (the debug ones are 80 MB each; the image step only
    // needs them to run).
    let work = rackpipe_testkit::temp_dir();
    let bins = work.path().join("bin");
    std::fs::create_dir(&bins).unwrap();
    for tool in TOOLS {
        let copy = bins.join(tool);
        std::fs::copy(crate::support::bin(tool), &copy).unwrap();
        let status = Command::new("strip").arg(&copy).status().unwrap();
        assert!(status.success(), "strip {tool}");
    }
    let archive = work.path().join("rackpipe-test-oci.tar");
    let out = Command::new("bash")
        .arg("ci/image.sh")
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--out")
        .arg(&archive)
        .arg("--tag")
        .arg("test")
        // A throwaway image: gzip level 1 (the published one uses 6; same format, and the
        // 300 MB of debug binaries take a quarter of the CPU time to compress).
        .args(["--gzip-level", "1"])
        .arg("--smoke")
        .current_dir(crate::support::root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ci/image.sh --smoke failed:\n{stdout}\n{stderr}"
    );
    assert!(archive.is_file());
    eprintln!("{stdout}{stderr}");
}
