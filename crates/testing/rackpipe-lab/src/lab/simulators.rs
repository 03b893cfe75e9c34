//! The simulators `up` starts: RouterOS on the router, Proxmox VE on the hypervisor, DSM on a
//! Synology NAS, each with a lab-CA certificate and a spec (users, ports, tokens, storages)
//! taken from the lab site.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use super::{Lab, LabOptions, set_mode};
use crate::error::LabError;
use crate::labsite::LabSite;
use crate::sims::{SimKind, SimSpec, StorageDef, TemplateGuest};
use crate::state::{Component, LabHost, Probe, Role};
use crate::tls::{self, LabCa};

impl Lab {
    pub(super) fn start_sims(
        &mut self,
        site: &LabSite,
        ca: &LabCa,
        secrets: &BTreeMap<String, String>,
        options: &LabOptions,
    ) -> Result<(), LabError> {
        let doc = &site.document;
        let lab_binary = match &options.lab_binary {
            Some(p) => p.clone(),
            None => {
                std::env::current_exe().map_err(|e| LabError::State(format!("current exe: {e}")))?
            }
        };
        let sims_dir = self.creds().join("sims");
        std::fs::create_dir_all(&sims_dir).map_err(|e| LabError::io(&sims_dir, &e))?;
        set_mode(&sims_dir, 0o700)?;
        let resolve = |v: Option<&Value>| -> Option<String> {
            let r = v?.as_str()?;
            r.strip_prefix("env:")
                .and_then(|var| secrets.get(var).cloned())
        };
        let mut sims: Vec<(String, SimSpec, u16)> = Vec::new();
        if let Some(router) = self.host_with(Role::Router) {
            let user = doc
                .pointer("/router/management/user")
                .and_then(Value::as_str)
                .unwrap_or("admin")
                .to_owned();
            let password = resolve(doc.pointer("/router/management/password"))
                .ok_or_else(|| LabError::Site("router.management.password: no lab value".into()))?;
            let port = doc
                .pointer("/router/management/rest_port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443);
            let mut ports: Vec<String> = doc
                .pointer("/router/ethernet")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    e.get("default_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            if ports.is_empty() {
                ports = (1..=8).map(|i| format!("ether{i}")).collect();
            }
            let spec = self.sim_spec(SimKind::RosSim, ca, &router, &sims_dir)?;
            sims.push((
                router.host.name.clone(),
                SimSpec {
                    users: vec![(user, password)],
                    ethernet_ports: ports,
                    ..spec
                },
                port,
            ));
        }
        if let Some(pve) = self.host_with(Role::Proxmox) {
            let schema = options
                .pve_schema
                .clone()
                .unwrap_or_else(rackpipe_pve_sim::bundled_schema);
            if !schema.is_file() {
                return Err(LabError::State(format!(
                    "{}: missing (the Proxmox simulator's API schema)",
                    schema.display()
                )));
            }
            let token = resolve(doc.pointer("/proxmox/api/token"))
                .ok_or_else(|| LabError::Site("proxmox.api.token: no lab value".into()))?;
            let (tokenid, secret) = token
                .rsplit_once('=')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| {
                    LabError::Site("proxmox.api.token: not USER@REALM!ID=SECRET".into())
                })?;
            let port = doc
                .pointer("/proxmox/api/port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(8006);
            let arr = |p: &str| {
                doc.pointer(p)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            let nodes: Vec<String> = arr("/proxmox/nodes")
                .iter()
                .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let storages = arr("/proxmox/storages")
                .iter()
                .map(|s| StorageDef {
                    id: s
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    plugin: s
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("dir")
                        .to_owned(),
                    content: s
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect(),
                    shared: s.get("shared").and_then(Value::as_bool).unwrap_or(false),
                })
                .collect();
            let mut templates: Vec<TemplateGuest> = Vec::new();
            for g in arr("/proxmox/guests") {
                if let Some(vmid) = g.pointer("/source/clone/vmid").and_then(Value::as_u64)
                    && let Ok(vmid) = u32::try_from(vmid)
                    && !templates.iter().any(|t| t.vmid == vmid)
                {
                    templates.push(TemplateGuest {
                        vmid,
                        node: nodes.first().cloned().unwrap_or_default(),
                        storage: g
                            .pointer("/disks/0/storage")
                            .and_then(Value::as_str)
                            .unwrap_or("local-lvm")
                            .to_owned(),
                    });
                }
            }
            let remote_files = arr("/proxmox/templates")
                .iter()
                .filter_map(|t| t.get("url").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let spec = self.sim_spec(SimKind::PveSim, ca, &pve, &sims_dir)?;
            sims.push((
                pve.host.name.clone(),
                SimSpec {
                    schema: Some(schema),
                    nodes,
                    storages,
                    tokens: vec![(tokenid, secret)],
                    templates,
                    remote_files,
                    ..spec
                },
                port,
            ));
        }
        if let Some(nas) = self.host_with(Role::Nas)
            && doc.pointer("/nas/server/kind").and_then(Value::as_str) == Some("synology")
        {
            let user = doc
                .pointer("/nas/server/user")
                .and_then(Value::as_str)
                .unwrap_or("rackpipe")
                .to_owned();
            let password = resolve(doc.pointer("/nas/server/password")).unwrap_or_default();
            let port = doc
                .pointer("/nas/server/port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(5001);
            let shares = doc
                .pointer("/nas/exports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let spec = self.sim_spec(SimKind::DsmSim, ca, &nas, &sims_dir)?;
            sims.push((
                nas.host.name.clone(),
                SimSpec {
                    users: vec![(user, password)],
                    shares,
                    ..spec
                },
                port,
            ));
        }
        for (host_name, spec, port) in sims {
            let host = self
                .state
                .host(&host_name)
                .cloned()
                .ok_or_else(|| LabError::State(format!("{host_name}: no such lab host")))?;
            let kind = spec.kind;
            let spec_file = sims_dir.join(format!("{}.json", kind.name()));
            let text = serde_json::to_string_pretty(&spec)
                .map_err(|e| LabError::State(format!("sim spec: {e}")))?;
            tls::write_file(&spec_file, text.as_bytes(), 0o600)?;
            let listen = SocketAddr::from((host.host.address, port));
            let mut cmd = host.host.command(&lab_binary);
            cmd.args(["serve", kind.name(), "--listen"])
                .arg(listen.to_string())
                .arg("--spec")
                .arg(&spec_file);
            self.spawn_daemon(&host.host, kind.name(), cmd)?;
            self.state.components.push(Component {
                host: host.host.name.clone(),
                address: host.host.address,
                kind: kind.name().into(),
                probe: Probe::Https {
                    port,
                    path: match kind {
                        SimKind::RosSim => "/rest/system/resource".into(),
                        SimKind::PveSim => "/api2/json/version".into(),
                        SimKind::DsmSim => "/webapi/query.cgi".into(),
                    },
                },
            });
            self.state.save()?;
        }
        Ok(())
    }

    /// Issues the simulator's certificate and returns a spec with only the TLS files set.
    fn sim_spec(
        &mut self,
        kind: SimKind,
        ca: &LabCa,
        host: &LabHost,
        dir: &Path,
    ) -> Result<SimSpec, LabError> {
        let mut names = vec![host.host.address.to_string()];
        names.extend(host.fqdn.clone());
        names.push(host.host.name.clone());
        let issued = ca.issue(&names)?;
        let cert_file = dir.join(format!("{}.crt", kind.name()));
        let key_file = dir.join(format!("{}.key", kind.name()));
        tls::write_file(&cert_file, issued.cert_pem.as_bytes(), 0o644)?;
        tls::write_file(&key_file, issued.key_pem.as_bytes(), 0o600)?;
        self.state
            .creds
            .fingerprints
            .insert(kind.name().to_owned(), issued.fingerprint);
        Ok(SimSpec {
            kind,
            cert_file,
            key_file,
            users: Vec::new(),
            ethernet_ports: Vec::new(),
            schema: None,
            nodes: Vec::new(),
            storages: Vec::new(),
            tokens: Vec::new(),
            templates: Vec::new(),
            remote_files: Vec::new(),
            shares: Vec::new(),
        })
    }
}
