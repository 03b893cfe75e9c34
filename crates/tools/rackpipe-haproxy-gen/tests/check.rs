//! Bad input: every LB rule fails with an error naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{G, full_site, site_yaml};
use rackpipe_haproxy_gen::{Redacted, RenderOptions, check, render};

fn guests() -> Vec<G<'static>> {
    vec![
        G("lb1", "198.18.0.11/24"),
        G("lb2", "198.18.0.12/24"),
        G("b1", "198.18.0.21/24"),
    ]
}

const INSTANCES: &str = "  instances:\n    - {name: lb1, guest: lb1, priority: 150}\n    - {name: lb2, guest: lb2, priority: 100}\n";

/// Loads through the model with haproxy-gen's checks (as the binary does) and returns the
/// error lines, or the rendered result's error.
fn errors(lb: &str) -> Vec<String> {
    let yaml = site_yaml("198.18.0.0/24", &guests(), lb);
    match rackpipe_model::load_and_validate_with("t.yaml", yaml.as_bytes(), &check) {
        Ok(loaded) => {
            // Also prove render refuses the same site.
            let errs: Vec<String> = check(&loaded.site)
                .iter()
                .filter(|d| d.is_error())
                .map(ToString::to_string)
                .collect();
            if !errs.is_empty() {
                assert!(render(&loaded.site, &RenderOptions::default(), &Redacted).is_err());
            }
            errs
        }
        Err(rackpipe_model::LoadError::Invalid { diagnostics, .. }) => diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

fn vip(extra: &str) -> String {
    format!(
        "  vips:\n    - {{name: V, address: 198.18.0.250, segment: lan, vrid: 10, interface: eth0{extra}}}\n"
    )
}

fn svc(name: &str, port: u16, mode: &str, extra: &str, target: &str) -> String {
    format!(
        "    - {{name: {name}, vip: V, port: {port}, mode: {mode}, check: tcp{extra}, backends: [{{target: {target}, port: 9000}}]}}\n"
    )
}

#[test]
fn good_site_has_no_errors() {
    let lb = format!(
        "{}{INSTANCES}  services:\n{}",
        vip(""),
        svc("a", 80, "tcp", "", "b1")
    );
    assert_eq!(errors(&lb), Vec::<String>::new());
}

#[test]
fn backend_that_does_not_resolve() {
    let lb = format!(
        "{}{INSTANCES}  services:\n{}",
        vip(""),
        svc("a", 80, "tcp", "", "ghost")
    );
    let e = errors(&lb);
    assert!(
        e.iter().any(
            |m| m.starts_with("load_balancer.services[0].backends[0].target: ")
                && m.contains("ghost")
        ),
        "{e:?}"
    );
}

#[test]
fn port_bound_twice() {
    let lb = format!(
        "{}{INSTANCES}  services:\n{}{}",
        vip(""),
        svc("a", 443, "tcp", "", "b1"),
        svc("b", 443, "tcp", "", "b1")
    );
    let e = errors(&lb);
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("load_balancer.services[1].port: port 443 on VIP V is bound twice")),
        "{e:?}"
    );
    // Different modes on one port.
    let lb = format!(
        "{}{INSTANCES}  services:\n{}{}",
        vip(""),
        svc("a", 443, "tcp", ", sni: a.x", "b1"),
        svc("b", 443, "http", "", "b1")
    );
    assert!(
        errors(&lb)
            .iter()
            .any(|m| m.contains("bound twice: mode http here")),
        "{:?}",
        errors(&lb)
    );
    // Same SNI twice.
    let lb = format!(
        "{}{INSTANCES}  services:\n{}{}",
        vip(""),
        svc("a", 443, "tcp", ", sni: a.x", "b1"),
        svc("b", 443, "tcp", ", sni: a.x", "b1")
    );
    assert!(
        errors(&lb)
            .iter()
            .any(|m| m.starts_with("load_balancer.services[1].sni: sni a.x")),
        "{:?}",
        errors(&lb)
    );
    // SNI routing on one port is fine.
    let lb = format!(
        "{}{INSTANCES}  services:\n{}{}",
        vip(""),
        svc("a", 443, "tcp", ", sni: a.x", "b1"),
        svc("b", 443, "tcp", "", "b1")
    );
    assert_eq!(errors(&lb), Vec::<String>::new());
}

#[test]
fn vip_outside_its_segment() {
    let lb = format!(
        "  vips:\n    - {{name: V, address: 198.19.0.250, segment: lan, vrid: 10, interface: eth0}}\n{INSTANCES}  services:\n{}",
        svc("a", 80, "tcp", "", "b1")
    );
    let e = errors(&lb);
    assert!(e.iter().any(|m| m == "load_balancer.vips[0].address: VIP 198.19.0.250 is outside its segment lan (198.18.0.0/24)"), "{e:?}");
}

#[test]
fn instance_without_priority() {
    let lb = format!(
        "{}  instances:\n    - {{name: lb1, guest: lb1}}\n    - {{name: lb2, guest: lb2, priority: 100}}\n  services:\n{}",
        vip(""),
        svc("a", 80, "tcp", "", "b1")
    );
    let e = errors(&lb);
    // The model's schema check rejects it. NOTE for the lead: today the message is reported at
    // `load_balancer` (the Option<> anyOf) instead of `load_balancer.instances[0].priority`.
    assert!(e.iter().any(|m| m.starts_with("load_balancer")), "{e:?}");
}

#[test]
fn duplicate_vrids_on_one_segment() {
    let lb = format!(
        "  vips:\n    - {{name: V, address: 198.18.0.250, segment: lan, vrid: 10, interface: eth0}}\n    - {{name: W, address: 198.18.0.251, segment: lan, vrid: 10, interface: eth0}}\n{INSTANCES}  services:\n{}",
        svc("a", 80, "tcp", "", "b1")
    );
    let e = errors(&lb);
    assert!(e.iter().any(|m| m.starts_with("load_balancer.vips[1].vrid: VRID 10 is already used on segment lan by load_balancer.vips[0] (V)")), "{e:?}");
}

#[test]
fn tls_termination_in_tcp_mode_and_readyz_without_tls() {
    let lb = format!(
        "{}{INSTANCES}  services:\n{}    - {{name: k, vip: V, port: 6443, mode: tcp, check: kubernetes_readyz, backend_tls: {{enabled: false}}, backends: [{{target: b1, port: 6443}}]}}\n",
        vip(""),
        svc("a", 443, "tcp", ", tls_certificate: /x.pem", "b1")
    );
    let e = errors(&lb);
    assert!(
        e.iter()
            .any(|m| m.starts_with("load_balancer.services[0].tls_certificate: ")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("load_balancer.services[1].backend_tls.enabled: ")),
        "{e:?}"
    );
}

#[test]
fn warnings_for_master_with_nopreempt_and_unverified_tls() {
    let site = common::load(&full_site());
    let d = check(&site);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    assert!(d.iter().any(|d| d.rule == "lb-check-unverified"
        && d.path == "load_balancer.services[0].backend_tls.ca_file"));
}
