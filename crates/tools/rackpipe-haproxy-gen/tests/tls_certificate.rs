//! TLS termination with a certificate taken from a secret reference (Vault PKI → KV v2 →
//! HAProxy): a CA and server certificates made with `openssl`, stored in a real OpenBao dev
//! server, rendered (and checked by `haproxy -c -dW`), then planned and applied over a real
//! sshd to two real HAProxy processes on loopback, rotated and rolled back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{G, PidFiles, http_ok_server, load, site_yaml};
use rackpipe_haproxy_gen::daemon::check_haproxy_file;
use rackpipe_haproxy_gen::deploy::{Target, apply, plan, plan_diff};
use rackpipe_haproxy_gen::{Error, RenderOptions, render, render_redacted};
use rackpipe_model::Site;
use rackpipe_model::documents::{Action, RenderedFile};
use rackpipe_secrets::testing::DevVault;
use rackpipe_ssh::testing::SshServer;
use rackpipe_testkit::free_port;
use serde_json::json;

const REFERENCE: &str = "vault:secret/lb/ingress#pem";
const VIP: &str = "127.0.0.10";
const NAME: &str = "ingress.test.example";

use rackpipe_testkit::openssl;

/// A test CA in `dir` (`ca.crt`, `ca.key`).
fn make_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=rackpipe test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
}

/// Key formats as Vault and openssl write them.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    /// `EC PRIVATE KEY` (SEC1; Vault PKI's default for EC keys).
    EcSec1,
    /// `RSA PRIVATE KEY` (PKCS#1; Vault PKI's default for RSA keys).
    RsaPkcs1,
    /// `PRIVATE KEY` (PKCS#8).
    Pkcs8,
}

/// A server certificate for [`NAME`] signed by the CA in `dir`, with serial `serial`:
/// (certificate, private key) as PEM.
fn make_server(dir: &Path, kind: KeyKind, serial: &str) -> (String, String) {
    let key = format!("srv-{serial}.key");
    let _ = match kind {
        KeyKind::EcSec1 => openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        ),
        KeyKind::RsaPkcs1 => openssl(dir, &["genrsa", "-traditional", "-out", &key, "2048"]),
        KeyKind::Pkcs8 => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        ),
    };
    let csr = format!("srv-{serial}.csr");
    let crt = format!("srv-{serial}.crt");
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=DNS:{NAME}\n")).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={NAME}"),
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "10",
            "-extfile",
            "ext.cnf",
            "-out",
            &crt,
        ],
    );
    (
        std::fs::read_to_string(dir.join(crt)).unwrap(),
        std::fs::read_to_string(dir.join(key)).unwrap(),
    )
}

/// The KV `pem` field as vault-bootstrap writes it: certificate, chain, key.
fn bundle(dir: &Path, cert: &str, key: &str) -> String {
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    format!("{}\n{}\n{}", cert.trim_end(), ca.trim_end(), key.trim_end())
}

fn key_body(key: &str) -> String {
    key.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn site(vip_port: u16, stats_port: u16, backend_port: u16) -> Site {
    let lb = format!(
        "  vips:\n    - {{name: V, address: {VIP}, segment: lan, vrid: 52, interface: eth0, unicast: true}}\n  instances:\n    - {{name: lb1, guest: lb1, priority: 150}}\n    - {{name: lb2, guest: lb2, priority: 120}}\n  stats: {{port: {stats_port}}}\n  services:\n    - {{name: ingress, vip: V, port: {vip_port}, mode: http, sni: {NAME}, tls_certificate: \"{REFERENCE}\", check: http, check_interval: 500ms, backends: [{{target: b1, port: {backend_port}}}]}}\n"
    );
    load(&site_yaml(
        "127.0.0.0/8",
        &[
            G("lb1", "127.0.0.11/8"),
            G("lb2", "127.0.0.12/8"),
            G("b1", "127.0.0.21/8"),
        ],
        &lb,
    ))
}

fn options(dir: &Path) -> RenderOptions {
    let d = dir.display();
    RenderOptions {
        haproxy_cfg: format!("{d}/{{instance}}/haproxy.cfg"),
        keepalived_conf: format!("{d}/{{instance}}/keepalived.conf"),
        check_script: format!("{d}/{{instance}}/check_haproxy.sh"),
        admin_socket: format!("{d}/{{instance}}/admin.sock"),
        pid_file: format!("{d}/{{instance}}/haproxy.pid"),
        certs_dir: format!("{d}/{{instance}}/certs"),
        chroot: None,
        user: None,
        group: None,
        syslog: false,
        ..RenderOptions::default()
    }
}

fn targets(server: &SshServer, dir: &Path) -> Vec<Target> {
    ["lb1", "lb2"]
        .iter()
        .map(|i| {
            let d = dir.join(i);
            let (cfg, pid) = (d.join("haproxy.cfg"), d.join("haproxy.pid"));
            let mut t = Target::new(*i, server.options());
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

/// The serial of the certificate the VIP serves for [`NAME`] (`openssl s_client`), if any.
fn served_serial(vip: &str) -> Option<String> {
    let script = format!(
        "timeout 5 openssl s_client -connect {vip} -servername {NAME} </dev/null 2>/dev/null | openssl x509 -noout -serial"
    );
    let out = Command::new("sh").args(["-c", &script]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .strip_prefix("serial=")
        .map(str::to_ascii_uppercase)
}

/// An HTTPS GET through the VIP, verified against the test CA; the status code.
fn https_status(vip_port: u16, ca: &Path) -> Option<u16> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "5",
            "--cacert",
        ])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{NAME}:{vip_port}:{VIP}"))
        .arg(format!("https://{NAME}:{vip_port}/"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn cert_files(files: &[RenderedFile]) -> Vec<&RenderedFile> {
    files.iter().filter(|f| f.path.ends_with(".pem")).collect()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn openssl_key_formats_are_accepted_and_bad_pems_rejected() {
    let Some(_) = rackpipe_testkit::require_tool("openssl") else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    make_ca(dir.path());
    for (i, kind) in [KeyKind::EcSec1, KeyKind::RsaPkcs1, KeyKind::Pkcs8]
        .into_iter()
        .enumerate()
    {
        let (cert, key) = make_server(dir.path(), kind, &format!("0x{:x}", 0x100 + i));
        let info = rackpipe_haproxy_gen::certificate::inspect(&bundle(dir.path(), &cert, &key))
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(info.subject, format!("CN={NAME}"), "{kind:?}");
        assert_eq!(info.chain, 1);
        assert_eq!(info.serial, format!("01:{:02x}", i), "{kind:?}");
    }
    let (cert, _) = make_server(dir.path(), KeyKind::EcSec1, "0x200");
    let (_, other) = make_server(dir.path(), KeyKind::EcSec1, "0x201");
    let e =
        rackpipe_haproxy_gen::certificate::inspect(&bundle(dir.path(), &cert, &other)).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "the private key does not match the certificate (CN={NAME}, serial 02:00)"
        )),
        "{e}"
    );
    assert!(!e.contains(&key_body(&other)[..40]));
}

// Not a tokio test: DevVault's helpers block on their own runtime; plan/apply run on `rt`.
#[test]
fn certificate_from_vault_is_checked_deployed_rotated_and_rolled_back() {
    let Some(_) = rackpipe_testkit::require_tool("openssl") else {
        return;
    };
    let Some(_) = rackpipe_testkit::require_tool("haproxy") else {
        return;
    };
    let Some(_) = rackpipe_testkit::require_tool("curl") else {
        return;
    };
    let Some(vault) = DevVault::start() else {
        return;
    };
    let Some(server) = SshServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pki = rackpipe_testkit::temp_dir();
    make_ca(pki.path());
    let ca = pki.path().join("ca.crt");
    let (cert1, key1) = make_server(pki.path(), KeyKind::EcSec1, "0x1001");
    let pem1 = bundle(pki.path(), &cert1, &key1);
    vault.put_kv2("secret", "lb/ingress", &json!({"pem": pem1}));

    let (vip_port, stats, backend) = (free_port(), free_port(), free_port());
    http_ok_server(&format!("127.0.0.21:{backend}"));
    let site = site(vip_port, stats, backend);

    // 1. Render with the real secret, one Vault read for both instances; haproxy -c -dW
    //    passes with the certificate file written where the config points.
    let check_dir = rackpipe_testkit::temp_dir();
    let resolver = vault.resolver();
    let files = render(&site, &options(check_dir.path()), &resolver).unwrap();
    assert_eq!(
        resolver.vault_requests(),
        1,
        "one reference, one read for both instances"
    );
    let certs = cert_files(&files);
    assert_eq!(certs.len(), 2, "one certificate per instance");
    for f in &certs {
        assert_eq!(f.mode, "0600");
        assert_eq!(f.content, format!("{pem1}\n"));
        assert_eq!(
            f.path,
            format!(
                "{}/{}/certs/ingress.pem",
                check_dir.path().display(),
                f.host
            )
        );
    }
    for f in &files {
        let path = Path::new(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &f.content).unwrap();
    }
    let haproxy = PathBuf::from("haproxy");
    for f in files.iter().filter(|f| f.path.ends_with("haproxy.cfg")) {
        assert!(
            f.content.contains(&format!(
                "ssl crt {}/{}/certs/ingress.pem",
                check_dir.path().display(),
                f.host
            )),
            "{}",
            f.content
        );
        check_haproxy_file(&haproxy, Path::new(&f.path))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.host, f.content));
    }

    // 2. `haproxy-gen render` output: no key, no Vault access.
    let shown = render_redacted(&site, None).unwrap();
    let shown_text = serde_json::to_string(&shown).unwrap();
    assert!(!shown_text.contains("PRIVATE KEY"), "{shown_text}");
    assert!(!shown_text.contains(&key_body(&key1)[..40]));
    let shown_cert = shown
        .iter()
        .find(|f| f.path == "/etc/haproxy/certs/ingress.pem")
        .unwrap();
    assert!(
        shown_cert.content.contains(REFERENCE),
        "{}",
        shown_cert.content
    );
    assert_eq!(shown_cert.mode, "0600");
    assert!(
        shown
            .iter()
            .any(|f| f.content.contains("ssl crt /etc/haproxy/certs/ingress.pem"))
    );

    // 3. Deploy: the plan creates the certificate (described, never shown), apply uploads it
    //    (0600, directory created 0700) before haproxy -c; the VIP serves it.
    let lab = rackpipe_testkit::temp_dir();
    for i in ["lb1", "lb2"] {
        std::fs::create_dir(lab.path().join(i)).unwrap();
    }
    let _pids = PidFiles(
        ["lb1", "lb2"]
            .iter()
            .map(|i| lab.path().join(i).join("haproxy.pid"))
            .collect(),
    );
    let targets = targets(&server, lab.path());
    let files = render(&site, &options(lab.path()), &vault.resolver()).unwrap();
    let p = rt.block_on(plan("test-site", &files, &targets)).unwrap();
    assert_eq!(p.summary.create, 8, "{:#?}", p.changes);
    let plan_text = serde_json::to_string(&p).unwrap() + &plan_diff(&p);
    assert!(!plan_text.contains("PRIVATE KEY"));
    assert!(!plan_text.contains(&key_body(&key1)[..40]));
    let cert_changes: Vec<_> = p
        .changes
        .iter()
        .filter(|c| c.resource.ends_with("/certs/ingress.pem"))
        .collect();
    assert_eq!(cert_changes.len(), 2);
    for c in &cert_changes {
        assert_eq!(c.action, Action::Create);
        let diff = c.diff.as_deref().unwrap();
        assert!(
            diff.contains(&format!(
                "+# certificate CN={NAME}, serial 10:01, not after "
            )),
            "{diff}"
        );
    }
    let result = rt.block_on(apply(&p, &files, &targets)).unwrap();
    assert_eq!(result.summary.create, 8);
    for i in ["lb1", "lb2"] {
        let path = lab.path().join(i).join("certs/ingress.pem");
        assert_eq!(mode_of(&path), 0o600, "{}", path.display());
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{pem1}\n"));
    }
    let vip = format!("{VIP}:{vip_port}");
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(10), || https_status(vip_port, &ca)
            == Some(200)),
        "HTTPS through the VIP with the Vault certificate"
    );
    assert_eq!(served_serial(&vip).as_deref(), Some("1001"));

    // 4. Unchanged: zero changes.
    let again = rt.block_on(plan("test-site", &files, &targets)).unwrap();
    assert_eq!(again.summary.total(), 0, "{:#?}", again.changes);

    // 5. Rotated in Vault: one planned change per instance, applied with a reload.
    let (cert2, key2) = make_server(pki.path(), KeyKind::RsaPkcs1, "0x1002");
    let pem2 = bundle(pki.path(), &cert2, &key2);
    vault.put_kv2("secret", "lb/ingress", &json!({"pem": pem2}));
    let files2 = render(&site, &options(lab.path()), &vault.resolver()).unwrap();
    let rotated = rt.block_on(plan("test-site", &files2, &targets)).unwrap();
    assert_eq!(rotated.summary.update, 2, "{:#?}", rotated.changes);
    assert_eq!(rotated.summary.total(), 2);
    assert!(
        rotated
            .changes
            .iter()
            .all(|c| c.resource.ends_with("/certs/ingress.pem"))
    );
    let diff = plan_diff(&rotated);
    assert!(
        diff.contains("-# certificate CN=ingress.test.example, serial 10:01"),
        "{diff}"
    );
    assert!(
        diff.contains("+# certificate CN=ingress.test.example, serial 10:02"),
        "{diff}"
    );
    assert!(!diff.contains(&key_body(&key2)[..40]) && !diff.contains(&key_body(&key1)[..40]));
    assert_ne!(rotated.desired_digest, again.desired_digest);
    rt.block_on(apply(&rotated, &files2, &targets)).unwrap();
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(10), || served_serial(&vip).as_deref()
            == Some("1002")),
        "the rotated certificate is served after the reload"
    );
    assert_eq!(https_status(vip_port, &ca), Some(200));
    assert_eq!(
        rt.block_on(plan("test-site", &files2, &targets))
            .unwrap()
            .summary
            .total(),
        0
    );

    // 6. A reload that fails: the previous certificate is restored, later instances untouched.
    let (cert3, key3) = make_server(pki.path(), KeyKind::Pkcs8, "0x1003");
    vault.put_kv2(
        "secret",
        "lb/ingress",
        &json!({"pem": bundle(pki.path(), &cert3, &key3)}),
    );
    let files3 = render(&site, &options(lab.path()), &vault.resolver()).unwrap();
    let p3 = rt.block_on(plan("test-site", &files3, &targets)).unwrap();
    assert_eq!(p3.summary.update, 2);
    let mut failing = targets.clone();
    failing[0].reload_haproxy = "echo reload refused >&2; false".to_owned();
    let err = rt.block_on(apply(&p3, &files3, &failing)).unwrap_err();
    assert!(matches!(err, Error::Deploy { .. }), "{err}");
    assert!(err.to_string().contains("previous files restored"), "{err}");
    assert!(!err.to_string().contains("PRIVATE KEY"));
    for i in ["lb1", "lb2"] {
        let path = lab.path().join(i).join("certs/ingress.pem");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{pem2}\n"),
            "{i}"
        );
        assert_eq!(mode_of(&path), 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(lab.path().join("lb1/certs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rackpipe"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(served_serial(&vip).as_deref(), Some("1002"));

    // 7. A PEM without its key: one line naming the field, no certificate deployed.
    vault.put_kv2(
        "secret",
        "lb/ingress",
        &json!({"pem": format!("{cert3}{}", std::fs::read_to_string(&ca).unwrap())}),
    );
    let e = render(&site, &options(lab.path()), &vault.resolver()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "load_balancer.services[0].tls_certificate: {REFERENCE}: no private key in the PEM (certificate CN={NAME}); HAProxy's crt needs the certificate, its chain and its key in one file"
        )
    );
    assert!(!e.is_transient());
    // A value that is not a PEM at all.
    vault.put_kv2("secret", "lb/ingress", &json!({"pem": "hunter2"}));
    let e = render(&site, &options(lab.path()), &vault.resolver()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "load_balancer.services[0].tls_certificate: {REFERENCE}: not a PEM (no -----BEGIN line)"
        )
    );
    assert!(!e.to_string().contains("hunter2"));
}
