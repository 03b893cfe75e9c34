//! `render --out` writes every file with the mode its tool declares (the router script 0600,
//! keepalived's configuration 0640, the check script 0755), whatever the umask: run through
//! the real binaries under umask 022 and 077.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use crate::support::{bin, root};

#[test]
fn render_out_writes_the_declared_modes_whatever_the_umask() {
    let mut seen = std::collections::BTreeSet::new();
    for umask in ["022", "077"] {
        for tool in ["ros-render", "haproxy-gen", "kubeadm-join"] {
            let dir = rackpipe_testkit::temp_dir();
            let out = dir.path().join("out");
            let run = Command::new("sh")
                .arg("-c")
                .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
                .arg(bin(tool))
                .args(["render", "examples/rachuna-net/site.yaml", "--out"])
                .arg(&out)
                .current_dir(root())
                .env_remove("RACKPIPE_LOG")
                .output()
                .expect("run sh");
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "{tool} (umask {umask}): {stderr}");
            let doc: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
            let files = doc["files"].as_array().unwrap();
            assert!(!files.is_empty(), "{tool}");
            for f in files {
                let declared = f["mode"].as_str().unwrap();
                let rel = std::path::Path::new(f["host"].as_str().unwrap())
                    .join(f["path"].as_str().unwrap().trim_start_matches('/'));
                let meta = std::fs::metadata(out.join(&rel)).unwrap();
                let actual = format!("{:04o}", meta.permissions().mode() & 0o7777);
                assert_eq!(
                    actual,
                    declared,
                    "{tool} --out {} (umask {umask})",
                    rel.display()
                );
                seen.insert(declared.to_owned());
            }
            // No temporary file is left beside them.
            let mut stack = vec![out.clone()];
            let mut count = 0;
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_dir() {
                        stack.push(e.path());
                    } else {
                        count += 1;
                    }
                }
            }
            assert_eq!(count, files.len(), "{tool}: only the rendered files");
        }
    }
    for mode in ["0600", "0640", "0644", "0755"] {
        assert!(
            seen.contains(mode),
            "a file declared {mode} was checked: {seen:?}"
        );
    }
}
