//! The real daemons `up` starts with `options.daemons`: OpenBao on the Vault guests, HAProxy
//! and keepalived on the load balancers, etcd on the Kubernetes masters, nfs-ganesha on the
//! NAS, each recorded in `lab.json` with its health probe.

use serde_json::Value;

use super::Lab;
use crate::error::LabError;
use crate::host::Host;
use crate::labsite::LabSite;
use crate::state::{DaemonRecord, LabHost, Probe, Role};

impl Lab {
    /// The real daemons of [`crate::daemons`]: OpenBao on the Vault guests, HAProxy and
    /// keepalived on the load balancers, etcd on the Kubernetes masters, nfs-ganesha on the
    /// NAS; all with certificates from the lab CA.
    pub(super) fn start_daemons(&mut self, site: &LabSite) -> Result<(), LabError> {
        use crate::daemons::{self, etcd, ganesha, haproxy, openbao, pki};
        let creds = self.creds();
        let ca = pki::Ca::from_files(&creds.join("ca.pem"), &creds.join("ca-key.pem"));
        let doc = &site.document;
        let all_hosts = self.state.hosts.clone();
        let hosts_with = |role: Role| -> Vec<LabHost> {
            all_hosts
                .iter()
                .filter(|h| h.roles.contains(&role))
                .cloned()
                .collect()
        };
        let vault = hosts_with(Role::Vault);
        if !vault.is_empty() {
            tracing::info!("lab: OpenBao on {} hosts", vault.len());
            let options = openbao::Options {
                extra_ips: doc
                    .pointer("/load_balancer/vips")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("address")?.as_str()?.parse().ok())
                    .collect(),
                extra_dns: doc
                    .pointer("/vault/fqdn")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .into_iter()
                    .chain(vault.iter().filter_map(|h| h.fqdn.clone()))
                    .collect(),
                ..openbao::Options::default()
            };
            let hosts: Vec<Host> = vault.iter().map(|h| h.host.clone()).collect();
            let cluster = openbao::start(&hosts, &ca, &options)?;
            for (node, h) in cluster.nodes.iter().zip(&vault) {
                self.record_external(&node.daemon)?;
                self.component(
                    h,
                    "openbao",
                    Probe::Https {
                        port: openbao::API_PORT,
                        path: "/v1/sys/health".into(),
                    },
                );
            }
            self.state.extra.insert(
                "vault_ca_file".into(),
                Value::from(cluster.ca.display().to_string()),
            );
            self.state.extra.insert(
                "openbao".into(),
                serde_json::to_value(&cluster).unwrap_or_default(),
            );
            self.state.save()?;
        }
        for h in hosts_with(Role::LoadBalancer) {
            tracing::info!("lab: HAProxy and keepalived on {}", h.host.name);
            let hp = haproxy::start_haproxy(&h.host)?;
            self.record_external(&hp.daemon)?;
            self.component(
                &h,
                daemons::HAPROXY,
                Probe::Tcp {
                    port: haproxy::STATS_PORT,
                },
            );
            let ka = haproxy::start_keepalived(&h.host)?;
            self.record_external(&ka.daemon)?;
            self.component(
                &h,
                daemons::KEEPALIVED,
                Probe::Pid {
                    daemon: daemons::KEEPALIVED.into(),
                },
            );
            self.state.save()?;
        }
        let masters = hosts_with(Role::KubernetesMaster);
        if !masters.is_empty() {
            // kubeadm creates the masters' etcd (a static pod the kubelet starts), so it is
            // not running before `kubeadm init`: kubeadm's preflight wants 2379/2380 free.
            // The kubeadm stand-in runs each master's `kubelet-standin`, which starts it.
            tracing::info!(
                "lab: etcd on {} masters, started by kubeadm init/join (kubelet-standin)",
                masters.len()
            );
            let hosts: Vec<Host> = masters.iter().map(|h| h.host.clone()).collect();
            let client = etcd::prepare_for_kubeadm(&hosts, &ca)?;
            for (key, p) in [
                ("etcd_ca", &ca.cert),
                ("etcd_client_cert", &client.cert),
                ("etcd_client_key", &client.key),
            ] {
                self.state
                    .extra
                    .insert(key.into(), Value::from(p.display().to_string()));
            }
            self.state.save()?;
        }
        if let Some(nas) = self.host_with(Role::Nas)
            && doc.pointer("/nas/server/kind").and_then(Value::as_str) != Some("synology")
        {
            tracing::info!("lab: nfs-ganesha on {}", nas.host.name);
            let segments = &site.segments;
            // The root namespace runs the CI jobs (the lab's runner): its address on the
            // NAS's bridges may mount every export (`nfs-export sync` of the backup jobs).
            let runner: Vec<String> = self
                .state
                .bridges
                .iter()
                .map(|b| b.address.addr().to_string())
                .collect();
            let exports: Vec<ganesha::Export> = doc
                .pointer("/nas/exports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, e)| {
                    let name = e.get("name")?.as_str()?;
                    let clients = e
                        .get("clients")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|c| {
                            c.get("address")
                                .or_else(|| c.get("network"))
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                                .or_else(|| {
                                    let seg = c.get("segment")?.as_str()?;
                                    segments
                                        .iter()
                                        .find(|s| s.name == seg)
                                        .map(|s| s.lab.to_string())
                                })
                        })
                        .chain(runner.iter().cloned())
                        .collect();
                    let id = u16::try_from(i + 1).ok()?;
                    // Clients see the site's path (nfs-ganesha: its pseudo path), as on the
                    // real NAS; the data lives in the lab's directory.
                    let pseudo = e
                        .get("pseudo")
                        .or_else(|| e.get("path"))
                        .and_then(Value::as_str)
                        .unwrap_or("/");
                    Some(ganesha::Export::lab(&nas.host, id, name, clients).at(pseudo))
                })
                .collect();
            // Where each export's data lives, for checks of what clients wrote.
            let dirs: serde_json::Map<String, Value> = exports
                .iter()
                .filter_map(|e| {
                    let name = e.path.file_name()?.to_str()?.to_owned();
                    Some((name, Value::from(e.path.display().to_string())))
                })
                .collect();
            self.state
                .extra
                .insert("nas_exports".into(), Value::Object(dirs));
            let g = ganesha::start(
                &nas.host,
                &ganesha::Options {
                    exports,
                    includes: Vec::new(),
                },
            )?;
            self.record_external(&g.daemon)?;
            self.component(
                &nas,
                daemons::GANESHA,
                Probe::Tcp {
                    port: ganesha::NFS_PORT,
                },
            );
            self.state.save()?;
        }
        Ok(())
    }

    fn record_external(&mut self, d: &crate::daemons::Daemon) -> Result<(), LabError> {
        self.state.daemons.push(DaemonRecord {
            name: d.name.clone(),
            host: d.host.clone(),
            pid: d.pid,
            log: d.log.clone(),
            command: format!(
                "(started by crate::daemons; pid file {})",
                d.pid_file.display()
            ),
            argv: Vec::new(),
        });
        self.state.save()
    }
}
