//! nfs-ganesha serves a rendered export inside network namespaces; libnfs clients in other
//! namespaces, with distinct addresses, show that the client specs do what the site says:
//! the storage segment writes (root squashed), a single read-only address reads but cannot
//! write, and an address the export does not name is refused.
//!
//! Namespaces are named `rp-<random>-*`, use 198.18.0.0/15 only, have no default route, and
//! are deleted when the test ends (also on panic).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rackpipe_testkit::{ChildGuard, require_tool};

pub(crate) struct Netns(pub(crate) String);

impl Netns {
    pub(crate) fn new(name: String) -> Self {
        run(&["ip", "netns", "add", &name]);
        run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Self(name)
    }

    pub(crate) fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", self.0.as_str(), "timeout", "15"];
        full.extend_from_slice(args);
        Command::new(full[0])
            .args(&full[1..])
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

pub(crate) fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Connects `client` to `server` with a veth pair on 198.18.<net>.0/24 (.1 server, .2 client).
pub(crate) fn link(tag: &str, server: &Netns, client: &Netns, net: u8, suffix: &str) {
    let (s_if, c_if) = (format!("rp{tag}s{suffix}"), format!("rp{tag}{suffix}"));
    run(&[
        "ip", "link", "add", &s_if, "netns", &server.0, "type", "veth", "peer", "name", &c_if,
        "netns", &client.0,
    ]);
    run(&[
        "ip",
        "-n",
        &server.0,
        "addr",
        "add",
        &format!("198.18.{net}.1/24"),
        "dev",
        &s_if,
    ]);
    run(&[
        "ip",
        "-n",
        &client.0,
        "addr",
        "add",
        &format!("198.18.{net}.2/24"),
        "dev",
        &c_if,
    ]);
    run(&["ip", "-n", &server.0, "link", "set", &s_if, "up"]);
    run(&["ip", "-n", &client.0, "link", "set", &c_if, "up"]);
}

fn site(root: &str) -> String {
    format!(
        r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {{name: ganesha-lab, domain: lab.example}}
segments:
  - {{name: storage, cidr: 198.18.1.0/24}}
  - {{name: apps, cidr: 198.18.2.0/24}}
hosts:
  - {{name: nas, address: 198.18.1.1, segment: storage}}
nas:
  host: nas
  server: {{kind: ganesha, ssh_user: root}}
  exports:
    - name: data
      path: {root}/data
      pseudo: /data
      clients:
        - {{segment: storage, rw: true}}
        - {{address: 198.18.2.2}}
"#
    )
}

#[test]
fn ganesha_enforces_rendered_client_specs_across_namespaces() {
    for tool in [
        "ip",
        "ganesha.nfsd",
        "nfs-cp",
        "nfs-cat",
        "nfs-ls",
        "timeout",
    ] {
        if require_tool(tool).is_none() {
            return;
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag = format!(
        "{:06x}",
        (nanos ^ std::process::id().rotate_left(11)) & 0xff_ffff
    );
    let server = Netns::new(format!("rp-{tag}-srv"));
    let writer = Netns::new(format!("rp-{tag}-rw"));
    let reader = Netns::new(format!("rp-{tag}-ro"));
    let outsider = Netns::new(format!("rp-{tag}-no"));
    link(&tag, &server, &writer, 1, "a");
    link(&tag, &server, &reader, 2, "b");
    link(&tag, &server, &outsider, 3, "c");
    for ns in [&server, &writer, &reader, &outsider] {
        let routes = Command::new("ip")
            .args(["-n", &ns.0, "route", "show", "default"])
            .output()
            .unwrap();
        assert!(routes.stdout.is_empty(), "no route out of {}", ns.0);
    }

    let dir = rackpipe_testkit::temp_dir();
    let root = dir.path().display().to_string();
    std::fs::create_dir_all(format!("{root}/data")).unwrap();
    std::fs::create_dir_all(format!("{root}/recov")).unwrap();
    run(&["chmod", "0777", &format!("{root}/data")]);

    let (site, _) =
        rackpipe_model::load("ganesha.yaml", site(&root).as_bytes()).expect("site loads");
    assert!(
        rackpipe_nfs_export::check(&site)
            .iter()
            .all(|d| !d.is_error())
    );
    let files = rackpipe_nfs_export::render(&site, None).expect("render");
    let exports = files
        .iter()
        .find(|f| f.path == "/etc/ganesha/ganesha-lab.conf")
        .expect("ganesha file");
    std::fs::write(format!("{root}/exports.conf"), &exports.content).unwrap();
    std::fs::write(
        format!("{root}/ganesha.conf"),
        format!(
            "NFS_CORE_PARAM {{ NFS_Port = 2049; Protocols = 4; Enable_NLM = false; Enable_RQUOTA = false; }}\n\
             NFSv4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = \"{root}/recov\"; }}\n\
             NFS_KRB5 {{ Active_krb5 = false; }}\n\
             %include \"{root}/exports.conf\"\n"
        ),
    )
    .unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &server.0, "ganesha.nfsd", "-F", "-f"])
        .arg(format!("{root}/ganesha.conf"))
        .args([
            "-L",
            &format!("{root}/ganesha.log"),
            "-p",
            &format!("{root}/ganesha.pid"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ganesha");
    let mut ganesha = ChildGuard::new("ganesha.nfsd", child);
    let log = || std::fs::read_to_string(format!("{root}/ganesha.log")).unwrap_or_default();

    // Wait (bounded) until the writer can list the export.
    let url = |net: u8, file: &str| format!("nfs://198.18.{net}.1/data/{file}?version=4");
    let start = Instant::now();
    loop {
        assert!(ganesha.is_running(), "ganesha exited:\n{}", log());
        if writer
            .exec(&["nfs-ls", "nfs://198.18.1.1/data?version=4"])
            .status
            .success()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ganesha did not serve in 20 s:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    std::fs::write(
        format!("{root}/payload.txt"),
        "written by the storage segment\n",
    )
    .unwrap();
    let payload = format!("{root}/payload.txt");

    // 1. The storage segment (rw) writes; root is squashed to the anonymous user.
    let out = writer.exec(&["nfs-cp", &payload, &url(1, "from-rw.txt")]);
    assert!(
        out.status.success(),
        "rw client could not write: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = format!("{root}/data/from-rw.txt");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        "written by the storage segment\n"
    );
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&written).unwrap());
    assert_ne!(
        uid, 0,
        "root_squash: root must not own files written by a squashed client"
    );

    // 2. The read-only address reads that file but cannot write.
    let out = reader.exec(&["nfs-cat", &url(2, "from-rw.txt")]);
    assert!(
        out.status.success(),
        "ro client could not read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "written by the storage segment\n"
    );
    let out = reader.exec(&["nfs-cp", &payload, &url(2, "from-ro.txt")]);
    assert!(!out.status.success(), "ro client wrote");
    assert!(!std::path::Path::new(&format!("{root}/data/from-ro.txt")).exists());

    // 3. An address the export does not name is refused entirely.
    let out = outsider.exec(&["nfs-ls", "nfs://198.18.3.1/data?version=4"]);
    assert!(!out.status.success(), "outsider listed the export");
    let out = outsider.exec(&["nfs-cp", &payload, &url(3, "from-outsider.txt")]);
    assert!(!out.status.success(), "outsider wrote");
    assert!(!std::path::Path::new(&format!("{root}/data/from-outsider.txt")).exists());

    ganesha.kill();
}
