//! plan / apply over SSH against a real sshd and real HAProxy processes on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{G, PidFiles, http_ok_server, http_status, load, site_yaml};
use rackpipe_haproxy_gen::deploy::{Target, apply, plan, plan_diff};
use rackpipe_haproxy_gen::{Error, Redacted, RenderOptions, render};
use rackpipe_model::Site;
use rackpipe_model::documents::RenderedFile;
use rackpipe_ssh::testing::SshServer;
use rackpipe_testkit::free_port;

// Field order is drop order: stop the HAProxy masters (pid files) before the directory goes.
struct Lab {
    _pids: PidFiles,
    server: SshServer,
    dir: tempfile::TempDir,
    vip_port: u16,
}

const VIP: &str = "127.0.0.10";

fn site(vip_port: u16, stats_port: u16, backend_ports: (u16, u16), balance: &str) -> Site {
    let lb = format!(
        "  vips:\n    - {{name: V, address: {VIP}, segment: lan, vrid: 51, interface: {iface}, unicast: true}}\n  instances:\n    - {{name: lb1, guest: lb1, priority: 150}}\n    - {{name: lb2, guest: lb2, priority: 120}}\n    - {{name: lb3, guest: lb3, priority: 100}}\n  stats: {{port: {stats_port}}}\n  services:\n    - {{name: web, vip: V, port: {vip_port}, mode: http, check: http, balance: {balance}, check_interval: 500ms, backends: [{{target: b1, port: {}}}, {{target: b2, port: {}}}]}}\n",
        backend_ports.0,
        backend_ports.1,
        iface = host_interface()
    );
    load(&site_yaml(
        "127.0.0.0/8",
        &[
            G("lb1", "127.0.0.11/8"),
            G("lb2", "127.0.0.12/8"),
            G("lb3", "127.0.0.13/8"),
            G("b1", "127.0.0.21/8"),
            G("b2", "127.0.0.22/8"),
        ],
        &lb,
    ))
}

/// A non-loopback interface of this machine (keepalived -t insists that it exists and refuses `lo`).
fn host_interface() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .find(|n| n != "lo")
        .unwrap_or_else(|| "eth0".to_owned())
}

fn options(dir: &Path, templates: Option<PathBuf>) -> RenderOptions {
    let d = dir.display();
    RenderOptions {
        templates_dir: templates,
        haproxy_cfg: format!("{d}/{{instance}}/haproxy.cfg"),
        keepalived_conf: format!("{d}/{{instance}}/keepalived.conf"),
        check_script: format!("{d}/{{instance}}/check_haproxy.sh"),
        admin_socket: format!("{d}/{{instance}}/admin.sock"),
        pid_file: format!("{d}/{{instance}}/haproxy.pid"),
        chroot: None,
        user: None,
        group: None,
        syslog: false,
        ..RenderOptions::default()
    }
}

impl Lab {
    fn start() -> Option<Self> {
        rackpipe_testkit::require_tool("haproxy")?;
        rackpipe_testkit::require_tool("curl")?;
        let server = SshServer::start()?;
        let dir = rackpipe_testkit::temp_dir();
        for i in ["lb1", "lb2", "lb3"] {
            std::fs::create_dir(dir.path().join(i)).unwrap();
        }
        let pids = PidFiles(
            ["lb1", "lb2", "lb3"]
                .iter()
                .map(|i| dir.path().join(i).join("haproxy.pid"))
                .collect(),
        );
        Some(Self {
            server,
            dir,
            vip_port: free_port(),
            _pids: pids,
        })
    }

    fn targets(&self) -> Vec<Target> {
        ["lb1", "lb2", "lb3"]
            .iter()
            .map(|i| {
                let d = self.dir.path().join(i);
                let (cfg, pid) = (d.join("haproxy.cfg"), d.join("haproxy.pid"));
                let mut t = Target::new(*i, self.server.options());
                // Hitless reload of the master-worker process (start it the first time).
                t.reload_haproxy = format!(
                    "if [ -s {p} ] && kill -0 $(cat {p}) 2>/dev/null; then kill -USR2 $(cat {p}); else haproxy -W -D -f {c} -p {p}; fi",
                    p = pid.display(),
                    c = cfg.display()
                );
                t.reload_keepalived = "true".to_owned();
                t
            })
            .collect()
    }

    fn render(&self, site: &Site, templates: Option<PathBuf>) -> Vec<RenderedFile> {
        render(site, &options(self.dir.path(), templates), &Redacted).unwrap()
    }

    fn vip(&self) -> String {
        format!("{VIP}:{}", self.vip_port)
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_plan_stale_reject_and_hitless_roll() {
    let Some(lab) = Lab::start() else { return };
    let (p1, p2) = (free_port(), free_port());
    http_ok_server(&format!("127.0.0.21:{p1}"));
    http_ok_server(&format!("127.0.0.22:{p2}"));
    let stats = free_port();
    let site_v1 = site(lab.vip_port, stats, (p1, p2), "roundrobin");
    let files = lab.render(&site_v1, None);
    let targets = lab.targets();

    // 1. First plan creates 9 files; apply starts HAProxy; the VIP serves.
    let p = plan("test-site", &files, &targets).await.unwrap();
    assert_eq!(p.summary.create, 9, "{p:#?}");
    assert!(plan_diff(&p).contains("+++ b"));
    let result = apply(&p, &files, &targets).await.unwrap();
    assert_eq!(result.summary.create, 9);
    assert!(rackpipe_testkit::wait_until(
        Duration::from_secs(10),
        || http_status(&lab.vip(), "/") == Some(200)
    ));

    // 2. Second plan: zero changes.
    let again = plan("test-site", &files, &targets).await.unwrap();
    assert_eq!(again.summary.total(), 0, "{:#?}", again.changes);

    // 3. Stale plan: the remote changed after planning -> refused, nothing changed.
    let site_v2 = site(lab.vip_port, stats, (p1, p2), "leastconn");
    let files_v2 = lab.render(&site_v2, None);
    let p2plan = plan("test-site", &files_v2, &targets).await.unwrap();
    assert_eq!(p2plan.summary.update, 3, "{:#?}", p2plan.changes);
    let lb2_cfg = files
        .iter()
        .find(|f| f.host == "lb2" && f.path.ends_with("haproxy.cfg"))
        .unwrap()
        .path
        .clone();
    let before = read(&lb2_cfg);
    std::fs::write(&lb2_cfg, format!("{before}# edited by hand\n")).unwrap();
    let err = apply(&p2plan, &files_v2, &targets).await.unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    assert!(err.to_string().contains("lb2:"), "{err}");
    assert!(read(&lb2_cfg).ends_with("# edited by hand\n"));
    let lb1_cfg = files
        .iter()
        .find(|f| f.host == "lb1" && f.path.ends_with("haproxy.cfg"))
        .unwrap()
        .path
        .clone();
    assert!(
        read(&lb1_cfg).contains("balance roundrobin"),
        "lb1 must be untouched"
    );
    // A plan made from other files is refused too.
    let err = apply(&again, &files_v2, &targets).await.unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");

    // 4. Hitless rolling apply: a bounded request loop through the VIP while apply reloads
    //    the three instances one after the other.
    let fresh = plan("test-site", &files_v2, &targets).await.unwrap();
    assert_eq!(fresh.summary.update, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let vip = lab.vip();
    let looper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, 0u32);
            let deadline = Instant::now() + Duration::from_secs(60);
            while (!stop.load(Ordering::Relaxed) || ok + failed < 200)
                && ok + failed < 20_000
                && Instant::now() < deadline
            {
                if http_status(&vip, "/") == Some(200) {
                    ok += 1
                } else {
                    failed += 1
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let result = apply(&fresh, &files_v2, &targets).await.unwrap();
    let rolled = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = looper.join().unwrap();
    eprintln!(
        "FIGURE hitless rolling apply: 3 instances in {rolled:.2?}; requests ok={ok} failed={failed}"
    );
    assert_eq!(result.summary.update, 3);
    assert_eq!(
        failed, 0,
        "requests failed during the rolling reload (ok={ok})"
    );
    assert!(ok >= 200);
    for f in files_v2.iter().filter(|f| f.path.ends_with("haproxy.cfg")) {
        assert!(read(&f.path).contains("balance leastconn"));
    }
    assert_eq!(
        plan("test-site", &files_v2, &targets)
            .await
            .unwrap()
            .summary
            .total(),
        0
    );

    // 5. A config the remote check rejects: the running config stays, other instances untouched.
    let tpl = rackpipe_testkit::temp_dir();
    let broken = rackpipe_haproxy_gen::render::TEMPLATES[0].1.to_owned() + "    bogus-keyword on\n";
    std::fs::write(tpl.path().join("haproxy.cfg.j2"), broken).unwrap();
    let files_bad = lab.render(&site_v2, Some(tpl.path().to_path_buf()));
    let bad_plan = plan("test-site", &files_bad, &targets).await.unwrap();
    assert_eq!(bad_plan.summary.update, 3);
    let snapshot: Vec<String> = files_v2.iter().map(|f| read(&f.path)).collect();
    let err = apply(&bad_plan, &files_bad, &targets).await.unwrap_err();
    assert!(matches!(err, Error::RemoteCheck { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("lb1 (127.0.0.1:") && msg.contains("haproxy.cfg: remote check rejected"),
        "{msg}"
    );
    assert_eq!(
        files_v2.iter().map(|f| read(&f.path)).collect::<Vec<_>>(),
        snapshot
    );
    let leftovers: Vec<_> = std::fs::read_dir(lab.dir.path().join("lb1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rackpipe"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(http_status(&lab.vip(), "/"), Some(200));
}

#[tokio::test]
async fn unreachable_host_and_wrong_host_key_change_nothing() {
    let Some(lab) = Lab::start() else { return };
    let site = site(
        lab.vip_port,
        free_port(),
        (free_port(), free_port()),
        "roundrobin",
    );
    let files = lab.render(&site, None);

    // lb3 unreachable: plan fails naming it, transient (exit 75).
    let mut targets = lab.targets();
    targets[2].ssh.port = free_port();
    let err = plan("test-site", &files, &targets).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "127.0.0.1:{}: cannot connect",
            targets[2].ssh.port
        )),
        "{err}"
    );

    // A plan made with good targets, applied while lb2's host key is wrong: refused before any change.
    let good = lab.targets();
    let p = plan("test-site", &files, &good).await.unwrap();
    let mut bad = lab.targets();
    bad[1].ssh.host_key = rackpipe_ssh::HostKeyPolicy::Fingerprint(
        "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into(),
    );
    let err = apply(&p, &files, &bad).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("host key") && err.to_string().starts_with("127.0.0.1:"),
        "{err}"
    );
    for f in &files {
        assert!(!Path::new(&f.path).exists(), "{} was written", f.path);
    }
}

/// A valid haproxy.cfg (one listener) ending with `tail`.
fn small_cfg(tail: &str) -> String {
    format!(
        "global\n    maxconn 100\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n\nfrontend f\n    bind 127.0.0.1:1\n    default_backend b\n\nbackend b\n    server s 127.0.0.1:2\n{tail}"
    )
}

/// One instance `lb1` whose haproxy.cfg lives in `dir`, reloaded by `reload` (a shell
/// command), verified by `true`.
fn single_target(server: &SshServer, reload: &str) -> Vec<Target> {
    let mut t = Target::new("lb1", server.options());
    t.reload_haproxy = reload.to_owned();
    t.reload_keepalived = "true".to_owned();
    t.verify = Some("true".to_owned());
    vec![t]
}

fn cfg_file(dir: &Path, content: String) -> RenderedFile {
    RenderedFile {
        host: "lb1".into(),
        path: dir.join("haproxy.cfg").display().to_string(),
        mode: "0644".into(),
        content,
    }
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Sets sshd's soft file-size limit (RLIMIT_FSIZE, inherited by every session it forks):
/// a write past it fails part-way, as on a full disk, without root or a small file system.
fn limit_file_size(server: &SshServer, soft: &str) {
    let prlimit = rackpipe_testkit::require_tool("prlimit").expect("prlimit");
    let status = std::process::Command::new(prlimit)
        .arg("--pid")
        .arg(server.pid().to_string())
        .arg(format!("--fsize={soft}:"))
        .status()
        .unwrap();
    assert!(status.success(), "prlimit --fsize={soft}");
}

/// The backup copy of the file being replaced fails part-way (16 KiB of a 64 KiB file, the
/// disk "full"): apply stops before moving anything, the original is byte-identical and no
/// half-written backup or staged file is left. Before, the half-written backup was moved over
/// the intact original ("restore").
#[tokio::test]
async fn backup_that_fails_part_way_leaves_the_original_intact() {
    if rackpipe_testkit::require_tool("haproxy").is_none()
        || rackpipe_testkit::require_tool("prlimit").is_none()
    {
        return;
    }
    let Some(server) = SshServer::start() else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let padding: String = (0..1024)
        .map(|i| format!("# padding line {i:05} of the file as it was before the apply ......\n"))
        .collect();
    let original = small_cfg(&padding);
    assert!(original.len() > 64 * 1024);
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, &original).unwrap();
    let files = vec![cfg_file(dir.path(), small_cfg("# new\n"))];
    let targets = single_target(&server, "true");
    let p = plan("test-site", &files, &targets).await.unwrap();
    assert_eq!(p.changes.len(), 1);

    limit_file_size(&server, "16384");
    let err = apply(&p, &files, &targets).await.unwrap_err();
    let now = std::fs::read(&cfg).unwrap();
    assert!(
        now == original.as_bytes(),
        "the original haproxy.cfg changed: {} bytes now, {} before ({err})",
        now.len(),
        original.len()
    );
    let text = err.to_string();
    assert!(matches!(err, Error::Deploy { .. }), "{text}");
    assert!(
        text.contains("backing up the current files failed")
            && text.contains("nothing was changed"),
        "{text}"
    );
    assert_eq!(names(dir.path()), vec!["haproxy.cfg"], "leftovers");

    // Space again: the same plan applies, and the backup is gone afterwards.
    limit_file_size(&server, "unlimited");
    apply(&p, &files, &targets).await.unwrap();
    assert_eq!(read(&files[0].path), files[0].content);
    assert_eq!(names(dir.path()), vec!["haproxy.cfg"]);
}

/// The reload fails and the backup is no longer what the file was (here cut to 10 bytes by
/// the reload command): restore leaves the new, complete file in place and says it could not
/// restore, instead of moving the broken backup over it. A good backup is restored exactly.
#[tokio::test]
async fn restore_never_moves_a_damaged_backup_over_the_file() {
    if rackpipe_testkit::require_tool("haproxy").is_none() {
        return;
    }
    let Some(server) = SshServer::start() else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let cfg = dir.path().join("haproxy.cfg");
    let original = small_cfg("# before\n");
    std::fs::write(&cfg, &original).unwrap();
    let files = vec![cfg_file(dir.path(), small_cfg("# after\n"))];
    let prev = format!("{}.rackpipe-prev", cfg.display());

    // A failing reload with a good backup: the original comes back byte for byte.
    let targets = single_target(&server, "false");
    let p = plan("test-site", &files, &targets).await.unwrap();
    let err = apply(&p, &files, &targets).await.unwrap_err().to_string();
    assert!(err.ends_with("previous files restored"), "{err}");
    assert_eq!(std::fs::read(&cfg).unwrap(), original.as_bytes());

    // A failing reload that also damages the backup: the new file stays, named in the error.
    let targets = single_target(&server, &format!("truncate -s 10 '{prev}'; false"));
    let p = plan("test-site", &files, &targets).await.unwrap();
    let err = apply(&p, &files, &targets).await.unwrap_err().to_string();
    assert!(
        err.contains("NOT all restored")
            && err.contains(&format!("{}: kept as it is", cfg.display())),
        "{err}"
    );
    assert_eq!(read(&files[0].path), files[0].content);
}
