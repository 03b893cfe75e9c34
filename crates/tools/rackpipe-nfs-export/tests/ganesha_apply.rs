//! `nfs-export plan/apply` on an nfs-ganesha NAS, against the real daemon: ganesha runs in a
//! network namespace (198.18.0.0/15, no route out) on a private D-Bus system bus, with a main
//! configuration that `%include`s the file nfs-export manages. apply writes that file, makes
//! ganesha re-read its exports (SIGHUP, what `systemctl reload nfs-ganesha` sends) and reads
//! the live exports back over D-Bus; a libnfs client in another namespace lists what appeared.
//! Before, apply on a ganesha NAS wrote `/etc/exports.d` and ran `exportfs`, which ganesha
//! never reads: the export never appeared.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rackpipe_model::documents::Action;
use rackpipe_nfs_export::ganesha::{self, GaneshaTarget};
use rackpipe_nfs_export::linux::LocalShell;
use rackpipe_testkit::{ChildGuard, require_root, require_tool};

use crate::ganesha::{Netns, link, run};

fn site(root: &str, exports: &[(&str, &str)]) -> rackpipe_model::Site {
    let mut yaml = r#"
apiVersion: rackpipe/v1
kind: Site
metadata: {name: ganesha-apply, domain: lab.example}
segments:
  - {name: storage, cidr: 198.18.1.0/24}
hosts:
  - {name: nas, address: 198.18.1.1, segment: storage}
nas:
  host: nas
  server: {kind: ganesha, ssh_user: root}
  exports:
"#
    .to_owned();
    for (name, dir) in exports {
        yaml.push_str(&format!(
            "    - name: {name}\n      path: {root}/{dir}\n      pseudo: /{name}\n      clients:\n        - {{segment: storage, rw: true}}\n"
        ));
    }
    rackpipe_model::load("ganesha-apply.yaml", yaml.as_bytes())
        .expect("site loads")
        .0
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
#[allow(clippy::too_many_lines)]
fn apply_writes_ganesha_include_reloads_and_the_export_appears() {
    if require_root("network namespaces for nfs-ganesha").is_none() {
        return;
    }
    for tool in [
        "ip",
        "ganesha.nfsd",
        "dbus-daemon",
        "dbus-send",
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
        (nanos ^ std::process::id().rotate_left(7)) & 0xff_ffff
    );
    let server = Netns::new(format!("rp-{tag}-gs"));
    let client = Netns::new(format!("rp-{tag}-gc"));
    link(&tag, &server, &client, 1, "g");

    let dir = rackpipe_testkit::temp_dir();
    let root = dir.path().display().to_string();
    for d in ["data", "logs", "recov", "etc"] {
        std::fs::create_dir_all(format!("{root}/{d}")).unwrap();
    }
    std::fs::write(format!("{root}/data/hello.txt"), "hello\n").unwrap();

    // A private system bus, so ganesha's export manager answers D-Bus as on a real NAS.
    let bus = format!("unix:path={root}/bus");
    std::fs::write(
        format!("{root}/bus.conf"),
        format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
             <busconfig><type>system</type><listen>{bus}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow user=\"root\"/><allow own=\"*\"/><allow send_destination=\"*\"/>\
             <allow receive_sender=\"*\"/></policy></busconfig>\n"
        ),
    )
    .unwrap();
    let daemon = Command::new("dbus-daemon")
        .arg(format!("--config-file={root}/bus.conf"))
        .arg("--nofork")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon");
    let _bus = ChildGuard::new("dbus-daemon", daemon);

    // ganesha.conf as the NAS admin keeps it: it includes the file nfs-export manages.
    let include = format!("{root}/etc/ganesha-apply.conf");
    std::fs::write(&include, "").unwrap();
    let main = format!("{root}/etc/ganesha.conf");
    std::fs::write(
        &main,
        format!(
            "NFS_CORE_PARAM {{ NFS_Port = 2049; Protocols = 4; Enable_NLM = false; Enable_RQUOTA = false; }}\n\
             NFSv4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = \"{root}/recov\"; }}\n\
             NFS_KRB5 {{ Active_krb5 = false; }}\n\
             %include \"{include}\"\n"
        ),
    )
    .unwrap();
    let start = Instant::now();
    while !std::path::Path::new(&format!("{root}/bus")).exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "no D-Bus socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    let child = Command::new("ip")
        .args(["netns", "exec", &server.0, "env"])
        .arg(format!("DBUS_SYSTEM_BUS_ADDRESS={bus}"))
        .args(["ganesha.nfsd", "-F", "-f", &main])
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
    let mut daemon = ChildGuard::new("ganesha.nfsd", child);
    let log = || std::fs::read_to_string(format!("{root}/ganesha.log")).unwrap_or_default();

    let target = GaneshaTarget {
        config_dir: format!("{root}/etc"),
        main_config: main.clone(),
        // What `systemctl reload nfs-ganesha` does (ExecReload=/bin/kill -HUP $MAINPID).
        reload: format!("kill -HUP \"$(cat '{root}/ganesha.pid')\""),
        show_exports: format!("DBUS_SYSTEM_BUS_ADDRESS='{bus}' {}", ganesha::SHOW_EXPORTS),
        sudo: false,
        // A broken export below never loads: give up on it after 3 s.
        reload_timeout: Duration::from_secs(3),
    };
    let shell = LocalShell {
        label: "nas".to_owned(),
    };
    let rt = rt();
    // Until ganesha answers on D-Bus.
    let start = Instant::now();
    loop {
        assert!(daemon.is_running(), "ganesha exited:\n{}", log());
        let probe = Command::new("sh")
            .arg("-c")
            .arg(&target.show_exports)
            .output()
            .unwrap();
        if probe.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ganesha not on D-Bus in 20 s:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let lists = |pseudo: &str| {
        client
            .exec(&["nfs-ls", &format!("nfs://198.18.1.1/{pseudo}?version=4")])
            .status
            .success()
    };
    assert!(!lists("data"), "nothing exported yet");

    // A main configuration that does not include the managed file: refused in one line.
    let both = site(&root, &[("data", "data"), ("logs", "logs")]);
    let other = format!("{root}/etc/other.conf");
    std::fs::write(&other, "NFS_CORE_PARAM { Protocols = 4; }\n").unwrap();
    let refused = rt
        .block_on(ganesha::plan(
            &both,
            &shell,
            &GaneshaTarget {
                main_config: other.clone(),
                ..target.clone()
            },
        ))
        .unwrap_err()
        .to_string();
    assert_eq!(
        refused,
        format!(
            "nas:{other}: does not %include \"{include}\", so ganesha would never load the site's exports: add that line (nfs-export manages only its own include file, never ganesha.conf)"
        )
    );

    // Plan, apply: the include file is written, ganesha reloads, both exports are live.
    let p = rt.block_on(ganesha::plan(&both, &shell, &target)).unwrap();
    assert_eq!(p.changes.len(), 1, "{:#?}", p.changes);
    assert_eq!(p.changes[0].resource, include);
    assert_eq!(p.changes[0].action, Action::Update);
    let r = rt
        .block_on(ganesha::apply(&both, &shell, &target, Some(&p)))
        .unwrap();
    assert_eq!(r.summary.update, 1);
    let written = std::fs::read_to_string(&include).unwrap();
    assert!(written.contains("Export_Id = 1;") && written.contains("Export_Id = 2;"));
    assert!(
        !std::path::Path::new("/etc/exports.d/ganesha-apply.exports").exists(),
        "nothing for the kernel server"
    );
    assert!(lists("data"), "the export appeared:\n{}", log());
    assert!(lists("logs"));
    let out = client.exec(&["nfs-ls", "nfs://198.18.1.1/data?version=4"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello.txt"));

    // Nothing changed: no change planned, nothing applied.
    let p2 = rt.block_on(ganesha::plan(&both, &shell, &target)).unwrap();
    assert!(p2.changes.is_empty(), "{:#?}", p2.changes);

    // An export dropped from the site is gone from ganesha after apply.
    let one = site(&root, &[("data", "data")]);
    rt.block_on(ganesha::apply(&one, &shell, &target, None))
        .unwrap();
    assert!(!lists("logs"), "dropped export still served");
    assert!(lists("data"));

    // An export ganesha cannot load (its directory does not exist): apply names it, puts the
    // previous file back, and what was served stays served.
    let before = std::fs::read_to_string(&include).unwrap();
    let broken = site(&root, &[("data", "data"), ("gone", "no-such-dir")]);
    let err = rt
        .block_on(ganesha::apply(&broken, &shell, &target, None))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("nas: {}: ganesha did not load {include} as written: Export_Id 2 ({root}/no-such-dir) not live", target.reload)),
        "{err}"
    );
    assert!(err.ends_with("the previous file is restored"), "{err}");
    assert_eq!(std::fs::read_to_string(&include).unwrap(), before);
    assert!(lists("data"));
    assert!(
        rt.block_on(ganesha::plan(&one, &shell, &target))
            .unwrap()
            .changes
            .is_empty()
    );

    daemon.kill();
    run(&["true"]);
}
