//! Rendering: snapshots, and every rendered file checked by the real daemons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::path::Path;

use common::{
    G, Netns, example_sites, full_site, load, placeholder_pem, referenced_pems, site_yaml, test_pem,
};
use rackpipe_haproxy_gen::daemon::{check_haproxy_file, check_keepalived_file};
use rackpipe_haproxy_gen::{Redacted, RenderOptions, SecretSource, render};
use rackpipe_model::documents::RenderedFile;
use rackpipe_model::types::SecretRef;
use rackpipe_secrets::Secret;

/// Every secret is `s3cr3tpw`, except references to a `pem` key (`tls_certificate`), which
/// hold a test certificate, its CA and its key.
struct Fixed;
impl SecretSource for Fixed {
    fn resolve(&self, reference: &SecretRef, _: &str) -> Result<Secret, rackpipe_secrets::Error> {
        if reference.as_str().ends_with("#pem") {
            Ok(Secret::new(test_pem()))
        } else {
            Ok(Secret::new("s3cr3tpw"))
        }
    }
}

/// Renders `site` into `dir` (certs under `dir/certs`, script in `dir`) and runs
/// `haproxy -c -dW` and `keepalived -t` on every instance's files.
fn render_and_check(label: &str, site: &rackpipe_model::Site, dir: &Path) -> Vec<RenderedFile> {
    let openssl = rackpipe_testkit::require_tool("openssl");
    let options = RenderOptions {
        haproxy_cfg: format!("{}/{{instance}}/haproxy.cfg", dir.display()),
        keepalived_conf: format!("{}/{{instance}}/keepalived.conf", dir.display()),
        check_script: format!("{}/{{instance}}/check_haproxy.sh", dir.display()),
        cert_prefix: Some(format!("{}/certs", dir.display())),
        certs_dir: format!("{}/{{instance}}/certs", dir.display()),
        ..RenderOptions::default()
    };
    let files = render(site, &options, &Fixed).unwrap_or_else(|e| panic!("{label}: {e}"));
    for f in &files {
        let path = Path::new(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &f.content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = u32::from_str_radix(&f.mode, 8).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        if f.path.ends_with("haproxy.cfg") && openssl.is_some() {
            for (pem, with_key) in referenced_pems(&f.content) {
                if !pem.exists() {
                    placeholder_pem(&pem, with_key);
                }
            }
        }
    }
    // haproxy -c opens every crt/ca-file: without openssl for placeholders, skip it.
    let haproxy = rackpipe_testkit::require_tool("haproxy").filter(|_| openssl.is_some());
    let keepalived = rackpipe_testkit::require_tool("keepalived");
    let interfaces: Vec<String> = site
        .load_balancer
        .as_ref()
        .unwrap()
        .vips
        .iter()
        .map(|v| v.interface.to_string())
        .collect();
    let netns = keepalived
        .as_ref()
        .and_then(|_| Netns::with_interface(&interfaces[0]));
    for f in &files {
        if let (Some(h), true) = (&haproxy, f.path.ends_with("haproxy.cfg")) {
            check_haproxy_file(h, Path::new(&f.path))
                .unwrap_or_else(|e| panic!("{label} {}: {e}\n{}", f.host, f.content));
        }
        if let (Some(k), Some(ns), true) =
            (&keepalived, &netns, f.path.ends_with("keepalived.conf"))
        {
            check_keepalived_file(k, Path::new(&f.path), Some(&ns.name))
                .unwrap_or_else(|e| panic!("{label} {}: {e}\n{}", f.host, f.content));
        }
    }
    files
}

#[test]
fn full_site_renders_and_passes_both_daemons() {
    let site = load(&full_site());
    let dir = rackpipe_testkit::temp_dir();
    let files = render_and_check("full", &site, dir.path());
    assert_eq!(files.len(), 9);
    let cfg = &files
        .iter()
        .find(|f| f.host == "lb1" && f.path.ends_with("haproxy.cfg"))
        .unwrap()
        .content;
    // Vault: only the active node (200); not an ssl-hello-chk that would hide the HTTP check.
    assert!(cfg.contains("http-check send meth GET uri /v1/sys/health"));
    assert!(!cfg.contains("ssl-hello-chk"));
    assert!(cfg.contains("use_backend be_vault-sni if { req_ssl_sni -i vault.test.example }"));
    assert!(cfg.contains("default_backend be_ingress-https"));
    assert!(cfg.contains("bind 198.18.0.254:8443 transparent ssl crt "));
    let ka = &files
        .iter()
        .find(|f| f.host == "lb2" && f.path.ends_with("keepalived.conf"))
        .unwrap()
        .content;
    assert!(
        ka.contains("priority 110")
            && ka.contains("nopreempt")
            && ka.contains("virtual_router_id 254")
    );
    assert!(ka.contains("unicast_src_ip 198.18.0.12"));
    assert!(
        ka.contains("        198.18.0.11\n        198.18.0.13\n"),
        "{ka}"
    );
    assert!(ka.contains("weight -30"));
}

#[test]
fn certificate_from_a_secret_is_rendered_per_instance_and_passes_haproxy() {
    let site = load(&full_site().replace(
        "tls_certificate: /etc/haproxy/certs/other.pem",
        "tls_certificate: vault:kv/lb/other#pem",
    ));
    let dir = rackpipe_testkit::temp_dir();
    let files = render_and_check("secret-cert", &site, dir.path());
    assert_eq!(
        files.len(),
        12,
        "three files and the certificate per instance"
    );
    for host in ["lb1", "lb2", "lb3"] {
        let cert = files
            .iter()
            .find(|f| f.host == host && f.path.ends_with(".pem"))
            .unwrap();
        assert_eq!(
            cert.path,
            format!("{}/{host}/certs/other-tls.pem", dir.path().display())
        );
        assert_eq!(
            (cert.mode.as_str(), cert.content.as_str()),
            ("0600", test_pem().as_str())
        );
        let cfg = files
            .iter()
            .find(|f| f.host == host && f.path.ends_with("haproxy.cfg"))
            .unwrap();
        // The path certificate keeps its prefix; the deployed one is named by its file.
        assert!(
            cfg.content.contains(&format!(
                "ssl crt {0}/certs/etc/haproxy/certs/app.pem crt {0}/{host}/certs/other-tls.pem\n",
                dir.path().display()
            )),
            "{}",
            cfg.content
        );
    }
    // `render` output: a placeholder naming the reference, no key, at the default path.
    let shown = render(&site, &RenderOptions::default(), &Redacted).unwrap();
    let cert = shown
        .iter()
        .find(|f| f.host == "lb1" && f.path == "/etc/haproxy/certs/other-tls.pem")
        .unwrap();
    assert!(
        cert.content.contains("vault:kv/lb/other#pem"),
        "{}",
        cert.content
    );
    assert!(shown.iter().all(|f| !f.content.contains("PRIVATE KEY")));
}

#[test]
fn full_site_snapshot() {
    let site = load(&full_site());
    let files = render(&site, &RenderOptions::default(), &Redacted).unwrap();
    for f in files.iter().filter(|f| f.host == "lb1") {
        let name = f.path.rsplit('/').next().unwrap().replace('.', "_");
        insta::assert_snapshot!(format!("full_lb1_{name}"), f.content);
    }
}

#[test]
fn example_sites_render_and_pass_both_daemons() {
    for (name, text) in example_sites() {
        let site = match rackpipe_model::load_and_validate(&name, text.as_bytes()) {
            Ok(l) => l.site,
            Err(e) => panic!("example {name} does not load: {e}"),
        };
        let dir = rackpipe_testkit::temp_dir();
        let files = render_and_check(&name, &site, dir.path());
        assert!(!files.is_empty());
        let default = render(&site, &RenderOptions::default(), &Redacted).unwrap();
        for f in default.iter().filter(|f| f.host == default[0].host) {
            let file = f.path.rsplit('/').next().unwrap().replace('.', "_");
            insta::assert_snapshot!(format!("example_{name}_{file}"), f.content);
        }
    }
}

#[test]
fn secrets_never_reach_redacted_output() {
    let site = load(&full_site());
    let files = render(&site, &RenderOptions::default(), &Redacted).unwrap();
    let ka = files
        .iter()
        .find(|f| f.path.ends_with("keepalived.conf"))
        .unwrap();
    assert!(ka.content.contains("auth_pass ********"));
    let real = render(&site, &RenderOptions::default(), &Fixed).unwrap();
    assert!(
        real.iter()
            .any(|f| f.content.contains("auth_pass s3cr3tpw"))
    );
}

#[test]
fn too_long_vrrp_password_is_an_error_naming_the_field() {
    struct Long;
    impl SecretSource for Long {
        fn resolve(&self, _: &SecretRef, _: &str) -> Result<Secret, rackpipe_secrets::Error> {
            Ok(Secret::new("muchtoolongpassword"))
        }
    }
    let site = load(&full_site());
    let err = render(&site, &RenderOptions::default(), &Long)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("load_balancer.vips[0].auth_pass: "),
        "{err}"
    );
    assert!(!err.contains("muchtoolong"), "{err}");
}

/// Issue 17: every missing secret of the load balancer is named in one run, one line each with
/// its field path (not one per run).
#[test]
fn every_missing_secret_is_reported_at_once() {
    struct Missing;
    impl SecretSource for Missing {
        fn resolve(&self, r: &SecretRef, field: &str) -> Result<Secret, rackpipe_secrets::Error> {
            Err(rackpipe_secrets::Error::new(
                field,
                r.as_str(),
                rackpipe_secrets::ErrorKind::NotFound("nope".to_owned()),
            ))
        }
    }
    let mut site = load(&full_site());
    // A second reference (the example has one): the same VIP twice, checked before rendering.
    let lb = {
        let lb = site.load_balancer.as_mut().unwrap();
        let mut vip = lb.vips[0].clone();
        vip.auth_pass = Some("env:RP_TEST_SECOND_PASS".parse().unwrap());
        lb.vips.push(vip);
        lb.clone()
    };
    let lb = &lb;
    let mut expected = Vec::new();
    for (i, svc) in lb.services.iter().enumerate() {
        if let Some(rackpipe_model::loadbalancer::TlsCertificate::Secret(r)) = &svc.tls_certificate
        {
            expected.push(format!(
                "load_balancer.services[{i}].tls_certificate: {r}: nope"
            ));
        }
    }
    for (i, vip) in lb.vips.iter().enumerate() {
        if let Some(r) = &vip.auth_pass {
            expected.push(format!("load_balancer.vips[{i}].auth_pass: {r}: nope"));
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");
    let err = rackpipe_haproxy_gen::secrets::check_all(lb, &Missing).unwrap_err();
    assert!(
        matches!(err, rackpipe_haproxy_gen::Error::Secrets(_)),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(err.to_string(), expected.join("\n"));
}

/// Generated variants: every combination of mode, check kind, balance, SNI and TLS that the
/// model allows must pass both daemons.
#[test]
fn generated_variants_pass_both_daemons() {
    let checks = [
        "vault_active",
        "consul_leader",
        "kubernetes_readyz",
        "traefik_ping",
        "http",
        "tcp",
    ];
    let balances = ["roundrobin", "first", "leastconn", "source"];
    let mut services = String::new();
    let mut port = 10000;
    for (i, check) in checks.iter().enumerate() {
        for (j, balance) in balances.iter().enumerate() {
            for mode in ["tcp", "http"] {
                port += 1;
                let tls = if *check == "kubernetes_readyz" {
                    ", backend_tls: {enabled: true}"
                } else {
                    ""
                };
                let extra = match (mode, (i + j) % 3) {
                    ("http", 0) => format!(", tls_certificate: /etc/haproxy/certs/v{port}.pem"),
                    ("tcp", 1) => format!(", sni: s{port}.test.example"),
                    _ => String::new(),
                };
                services.push_str(&format!(
                    "    - {{name: s{port}, vip: V, port: {port}, mode: {mode}, check: {check}, balance: {balance}{tls}{extra}, check_interval: 3s, check_fall: 3, check_rise: 1, backends: [{{target: b1, port: 9000}}, {{target: b2, port: 9000}}]}}\n"
                ));
            }
        }
    }
    let lb = format!(
        "  vips:\n    - {{name: V, address: 198.18.1.250, segment: lan, vrid: 7, interface: ens18, unicast: false}}\n    - {{name: W, address: 198.18.1.251, segment: lan, vrid: 8, interface: ens18, unicast: true, check: {{weight: -10}}}}\n  instances:\n    - {{name: a, guest: a, priority: 150, state: MASTER}}\n    - {{name: b, guest: b, priority: 100}}\n  services:\n{services}"
    );
    let yaml = site_yaml(
        "198.18.1.0/24",
        &[
            G("a", "198.18.1.1/24"),
            G("b", "198.18.1.2/24"),
            G("b1", "198.18.1.21/24"),
            G("b2", "198.18.1.22/24"),
        ],
        &lb,
    );
    let site = load(&yaml);
    let dir = rackpipe_testkit::temp_dir();
    let files = render_and_check("variants", &site, dir.path());
    let ka = &files
        .iter()
        .find(|f| f.host == "a" && f.path.ends_with("keepalived.conf"))
        .unwrap()
        .content;
    assert!(ka.contains("state MASTER"), "{ka}");
    assert!(!ka.contains("unicast_peer {\n    }"));
}
