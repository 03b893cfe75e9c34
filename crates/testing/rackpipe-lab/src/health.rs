//! `health`: every component checked for real: the daemon's process is alive, and its port
//! answers (TCP connect, or an HTTPS GET verified against the lab CA; any HTTP status counts).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::process::alive;
use crate::state::{LabState, Probe};

/// Per-check timeout.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The result for one component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentHealth {
    /// Lab host.
    pub host: String,
    /// Address checked.
    pub address: Ipv4Addr,
    /// Component kind.
    pub kind: String,
    /// Whether it answered.
    pub up: bool,
    /// What was checked and what happened.
    pub detail: String,
}

/// Checks every component and daemon recorded in `state`.
pub async fn check(state: &LabState) -> Vec<ComponentHealth> {
    let ca = state
        .creds
        .ca_file
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|pem| reqwest::Certificate::from_pem(&pem).ok());
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .tls_certs_only(ca)
        .build()
        .ok();
    let mut out = Vec::new();
    for c in &state.components {
        let (up, detail) = match &c.probe {
            Probe::Tcp { port } => tcp(SocketAddr::from((c.address, *port))).await,
            Probe::Https { port, path } => {
                let url = format!("https://{}:{port}{path}", c.address);
                match &client {
                    Some(client) => match client.get(&url).send().await {
                        Ok(r) => (true, format!("GET {url}: HTTP {}", r.status().as_u16())),
                        Err(e) => (false, format!("GET {url}: {}", error_chain(&e))),
                    },
                    None => (false, "no HTTP client (lab CA unreadable?)".to_owned()),
                }
            }
            Probe::Pid { daemon } => pid(state, &c.host, daemon),
        };
        out.push(ComponentHealth {
            host: c.host.clone(),
            address: c.address,
            kind: c.kind.clone(),
            up,
            detail,
        });
    }
    for d in &state.daemons {
        let address = state
            .host(&d.host)
            .map_or(Ipv4Addr::UNSPECIFIED, |h| h.host.address);
        let (up, detail) = pid(state, &d.host, &d.name);
        out.push(ComponentHealth {
            host: d.host.clone(),
            address,
            kind: format!("{} (process)", d.name),
            up,
            detail,
        });
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

async fn tcp(addr: SocketAddr) -> (bool, String) {
    match tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => (true, format!("tcp {addr}: connected")),
        Ok(Err(e)) => (false, format!("tcp {addr}: {e}")),
        Err(_) => (false, format!("tcp {addr}: timed out after {TIMEOUT:?}")),
    }
}

fn pid(state: &LabState, host: &str, daemon: &str) -> (bool, String) {
    match state
        .daemons
        .iter()
        .find(|d| d.host == host && d.name == daemon)
    {
        Some(d) if alive(d.pid) => (true, format!("pid {} alive", d.pid)),
        Some(d) => (
            false,
            format!("pid {} gone (log: {})", d.pid, d.log.display()),
        ),
        None => (false, format!("{daemon} not started")),
    }
}
