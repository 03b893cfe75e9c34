//! HAProxy's built-in Prometheus exporter, rendered from `monitoring.targets.haproxy`: the
//! real HAProxy accepts the config (`haproxy -c -dW`) and answers `GET /metrics` on the stats
//! listener (loopback), next to the stats page. Without the target, no exporter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{G, http_ok_server, load, site_yaml};
use rackpipe_haproxy_gen::{Redacted, RenderOptions, render};
use rackpipe_testkit::{ChildGuard, free_port};

use crate::common;

/// One HTTP GET over a fresh connection: status and body.
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn site(stats_port: u16, service_port: u16, monitoring: &str) -> rackpipe_model::Site {
    let lb = format!(
        "  vips:\n    - {{name: V, address: 127.0.0.10, segment: lan, vrid: 9, interface: eth0}}\n  instances:\n    - {{name: lb1, guest: lb1, priority: 100}}\n  stats: {{port: {stats_port}, uri: /stats}}\n  services:\n    - {{name: web, vip: V, port: {service_port}, mode: http, check: http, backends: [{{target: b1, port: {}}}]}}\n{monitoring}",
        service_port + 1
    );
    load(&site_yaml(
        "127.0.0.0/8",
        &[G("lb1", "127.0.0.11/8"), G("b1", "127.0.0.21/8")],
        &lb,
    ))
}

fn options(dir: &Path) -> RenderOptions {
    let d = dir.display().to_string();
    RenderOptions {
        haproxy_cfg: format!("{d}/haproxy.cfg"),
        keepalived_conf: format!("{d}/keepalived.conf"),
        check_script: format!("{d}/check_haproxy.sh"),
        notify_script: format!("{d}/keepalived_notify.sh"),
        admin_socket: format!("{d}/admin.sock"),
        pid_file: format!("{d}/haproxy.pid"),
        chroot: None,
        user: None,
        group: None,
        syslog: false,
        ..RenderOptions::default()
    }
}

#[test]
fn haproxy_serves_prometheus_metrics_on_the_stats_listener() {
    let Some(haproxy) = rackpipe_testkit::require_tool("haproxy") else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let (stats, service) = (free_port(), free_port());
    let monitoring = "monitoring:\n  deploy: external\n  targets:\n    haproxy: {path: /metrics}\n";
    let site = site(stats, service, monitoring);
    let files = render(&site, &options(dir.path()), &Redacted).unwrap();
    let cfg = files
        .iter()
        .find(|f| f.path.ends_with("haproxy.cfg"))
        .unwrap();
    assert!(
        cfg.content
            .contains("http-request use-service prometheus-exporter if { path /metrics }"),
        "{}",
        cfg.content
    );
    std::fs::write(&cfg.path, &cfg.content).unwrap();
    rackpipe_haproxy_gen::daemon::check_haproxy_file(&haproxy, Path::new(&cfg.path)).unwrap();
    http_ok_server(&format!("127.0.0.21:{}", service + 1));
    let child = Command::new(&haproxy)
        .args(["-W", "-db", "-f", &cfg.path])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _haproxy = ChildGuard::new("haproxy", child);
    let at = format!("127.0.0.11:{stats}");
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(10), || get(&at, "/metrics")
            .is_some_and(|(s, _)| s == 200)),
        "no /metrics on {at}"
    );
    let (_, body) = get(&at, "/metrics").unwrap();
    for series in [
        "# TYPE haproxy_process_uptime_seconds",
        "haproxy_frontend_status{proxy=\"fe_v_",
        "haproxy_backend_status{proxy=\"be_web\"",
    ] {
        assert!(
            body.contains(series),
            "{series} missing from:\n{body:.2000}"
        );
    }
    assert_eq!(
        get(&at, "/stats").map(|(s, _)| s),
        Some(200),
        "the stats page stays"
    );
}

#[test]
fn without_the_target_haproxy_has_no_exporter_and_keepalived_no_notify() {
    let dir = rackpipe_testkit::temp_dir();
    let off = "monitoring:\n  deploy: external\n  targets:\n    haproxy: {enabled: false}\n    keepalived: {enabled: false}\n";
    for (monitoring, exporter) in [("", false), (off, false)] {
        let site = site(18404, 18080, monitoring);
        let files = render(&site, &options(dir.path()), &Redacted).unwrap();
        let cfg = files
            .iter()
            .find(|f| f.path.ends_with("haproxy.cfg"))
            .unwrap();
        assert_eq!(cfg.content.contains("prometheus-exporter"), exporter);
        let ka = files
            .iter()
            .find(|f| f.path.ends_with("keepalived.conf"))
            .unwrap();
        assert!(!ka.content.contains("notify"), "{}", ka.content);
        assert!(
            !files
                .iter()
                .any(|f| f.path.ends_with("keepalived_notify.sh"))
        );
    }
}
