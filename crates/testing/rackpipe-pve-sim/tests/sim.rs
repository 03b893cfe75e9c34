//! Integration tests of the PVE simulator over HTTP (raw reqwest, so we can send what a
//! careful client never would).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::time::Duration;

use rackpipe_pve_sim::{FailRule, GuestKind, GuestSpec, SimConfig, Simulator, TokenSpec};
use serde_json::{Value, json};
use sha2::Digest as _;

fn schema_path() -> Option<std::path::PathBuf> {
    Some(rackpipe_pve_sim::bundled_schema())
}

/// The bundled schema is the file `data/SOURCES.md` describes, byte for byte.
#[test]
fn bundled_schema_is_the_documented_upstream_subset() {
    let bytes = std::fs::read(rackpipe_pve_sim::bundled_schema()).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    assert_eq!(
        digest,
        "00a6430852197fe8462b3e1483e69c4172ed0ce89f52c825027038022a9dd0b9"
    );
    let sources =
        std::fs::read_to_string(rackpipe_pve_sim::bundled_schema().with_file_name("SOURCES.md"))
            .unwrap();
    assert!(
        sources.contains(&digest),
        "data/SOURCES.md names the digest"
    );
}

/// With `../shared` present: `data/make-subset.py` run on the full official schema gives the
/// bundled file byte for byte (nothing in it was edited by hand).
#[test]
fn bundled_schema_is_made_from_the_full_official_schema() {
    let Some(shared) = rackpipe_testkit::shared_dir() else {
        return;
    };
    let Some(python) = rackpipe_testkit::require_tool("python3") else {
        return;
    };
    let bundled = rackpipe_pve_sim::bundled_schema();
    let out = std::process::Command::new(python)
        .arg(bundled.with_file_name("make-subset.py"))
        .arg(shared.join("upstream/proxmox/pve-8.4-apidoc.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == std::fs::read(&bundled).unwrap(),
        "make-subset.py does not reproduce {}",
        bundled.display()
    );
}

async fn start(tweak: impl FnOnce(&mut SimConfig)) -> Option<Simulator> {
    let mut cfg = SimConfig::new(schema_path()?);
    cfg.lock_wait = Duration::from_millis(200);
    tweak(&mut cfg);
    let sim = Simulator::start(cfg).await.expect("simulator starts");
    sim.add_volume(
        "pve1",
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "vztmpl",
        120 << 20,
    )
    .unwrap();
    Some(sim)
}

struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    fn new(sim: &Simulator) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: format!("{}/api2/json", sim.base_url()),
            auth: sim.auth_header(),
        }
    }
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            req = req.query(form);
        } else {
            req = req.form(form);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str, q: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, q).await
    }
    async fn post(&self, path: &str, f: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, f).await
    }
    async fn put(&self, path: &str, f: &[(&str, &str)]) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, f).await
    }
    async fn wait(&self, upid: &str) -> Value {
        for _ in 0..1000 {
            let (s, v) = self
                .get(&format!("/nodes/pve1/tasks/{upid}/status"), &[])
                .await;
            assert_eq!(s, 200, "{v}");
            if v["data"]["status"] == "stopped" {
                return v["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {upid} did not finish");
    }
}

fn ct_create_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("vmid", "200"),
        (
            "ostemplate",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        ),
        ("hostname", "web1"),
        ("cores", "2"),
        ("memory", "1024"),
        ("swap", "0"),
        ("rootfs", "local-lvm:8"),
        ("net0", "name=eth0,bridge=vmbr0,ip=dhcp,tag=10,firewall=on"),
        ("features", "nesting=1,keyctl=1"),
        ("unprivileged", "1"),
        ("tags", "Web;db,web"),
        ("onboot", "1"),
    ]
}

#[tokio::test]
async fn schema_rejects_unknown_param_and_bad_enum() {
    let Some(sim) = start(|_| {}).await else {
        return;
    };
    let api = Api::new(&sim);
    let (s, v) = api.get("/cluster/resources", &[("type", "vms")]).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"]["type"],
        "value 'vms' does not have a value in the enumeration 'vm, storage, node, sdn'"
    );
    assert_eq!(v["message"], "Parameter verification failed.\n");
    assert_eq!(v["data"], Value::Null);

    let (s, v) = api.get("/cluster/resources", &[("bogus", "1")]).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"]["bogus"],
        "property is not defined in schema and the schema does not allow additional properties"
    );
    let mut form = ct_create_form();
    form.push(("protection", "true"));
    form.push(("net1", "name=eth1,tag=5000"));
    form.push(("mp256", "local-lvm:1,mp=/x"));
    let (s, v) = api.post("/nodes/pve1/lxc", &form).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["errors"]["protection"],
        "type check ('boolean') failed - got 'true'"
    );
    assert!(
        v["errors"]["net1"]
            .as_str()
            .unwrap()
            .contains("net1.tag: value must have a maximum value of 4094"),
        "{v}"
    );
    assert!(
        v["errors"]["mp256"]
            .as_str()
            .unwrap()
            .contains("not defined in schema")
    );
    let (s, v) = api.get("/nodes/pve1/qemu/99/config", &[]).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"]["vmid"],
        "value must have a minimum value of 100"
    );
    let (s, v) = api.post("/nodes/pve1/lxc", &[("vmid", "201")]).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"]["ostemplate"],
        "property is missing and it is not optional"
    );
    assert_eq!(sim.stats().rejected.len(), 5);

    let (s, v) = api.get("/nodes/pve1/bogus", &[]).await;
    assert_eq!(s, 501);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Method 'GET /nodes/pve1/bogus' not implemented")
    );
}

#[tokio::test]
async fn auth_and_permissions() {
    let Some(sim) = start(|c| {
        c.tokens.push(TokenSpec {
            tokenid: "ci@pve!sync".into(),
            secret: "s3cret".into(),
            privileges: Some(vec![
                ("/vms".into(), "VM.Audit".into()),
                ("/vms".into(), "VM.Config.Options".into()),
            ]),
        });
    })
    .await
    else {
        return;
    };
    sim.add_guest(GuestSpec {
        vmid: 100,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![("scsi0".into(), "local-lvm:vm-100-disk-0,size=32G".into())],
        running: false,
    })
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api2/json/version", sim.base_url());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let bad = http
        .get(&url)
        .header("Authorization", "PVEAPIToken=root@pam!sim=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let mut api = Api::new(&sim);
    api.auth = "PVEAPIToken=ci@pve!sync=s3cret".into();
    let (s, _) = api.get("/nodes/pve1/qemu/100/config", &[]).await;
    assert_eq!(s, 200);
    let (s, v) = api
        .put(
            "/nodes/pve1/qemu/100/resize",
            &[("disk", "scsi0"), ("size", "+1G")],
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        v["message"],
        "Permission check failed (/vms/100, VM.Config.Disk)\n"
    );
    let (s, _) = api
        .put("/nodes/pve1/qemu/100/config", &[("tags", "a")])
        .await;
    assert_eq!(s, 200);
    let (s, v) = api
        .put("/nodes/pve1/qemu/100/config", &[("cores", "4")])
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        v["message"],
        "Permission check failed (/vms/100, VM.Config.CPU)\n"
    );
}

#[tokio::test]
async fn create_container_poll_and_read_back() {
    // Long enough that the read below surely happens while the task runs.
    let Some(sim) = start(|c| c.task_duration = Duration::from_millis(1500)).await else {
        return;
    };
    let api = Api::new(&sim);
    sim.add_pool("web", "");
    let mut form = ct_create_form();
    form.push(("pool", "web"));
    let (s, v) = api.post("/nodes/pve1/lxc", &form).await;
    assert_eq!(s, 200, "{v}");
    let upid = v["data"].as_str().unwrap().to_owned();
    assert!(
        upid.starts_with("UPID:pve1:") && upid.ends_with(":vzcreate:200:root@pam!sim:"),
        "{upid}"
    );
    // While the task runs the config carries lock: create.
    let (_, v) = api.get("/nodes/pve1/lxc/200/config", &[]).await;
    assert_eq!(v["data"]["lock"], "create");
    let status = api.wait(&upid).await;
    assert_eq!(status["exitstatus"], "OK");
    assert_eq!(status["user"], "root@pam");
    let (_, v) = api.get("/nodes/pve1/lxc/200/config", &[]).await;
    let c = &v["data"];
    assert_eq!(c["cores"], 2);
    assert_eq!(c["unprivileged"], 1);
    assert_eq!(c["tags"], "db;web");
    assert_eq!(c["rootfs"], "local-lvm:vm-200-disk-0,size=8G");
    assert_eq!(c["features"], "keyctl=1,nesting=1");
    let net0 = c["net0"].as_str().unwrap();
    assert!(
        net0.starts_with("name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:"),
        "{net0}"
    );
    assert!(net0.ends_with(",ip=dhcp,tag=10,type=veth"), "{net0}");
    assert_eq!(c["digest"].as_str().unwrap().len(), 40);
    assert!(c.get("lock").is_none());
    let (_, v) = api.get("/cluster/resources", &[("type", "vm")]).await;
    let entry = &v["data"][0];
    assert_eq!(entry["id"], "lxc/200");
    assert_eq!(entry["pool"], "web");
    assert_eq!(entry["name"], "web1");
    let (_, v) = api.get(&format!("/nodes/pve1/tasks/{upid}/log"), &[]).await;
    assert_eq!(
        v["data"].as_array().unwrap().last().unwrap()["t"],
        "TASK OK"
    );
    assert!(sim.stats().rejected.is_empty());
}

#[tokio::test]
async fn locks_and_digest() {
    let Some(sim) = start(|c| c.task_duration = Duration::from_millis(2000)).await else {
        return;
    };
    let api = Api::new(&sim);
    sim.add_guest(GuestSpec {
        vmid: 9000,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![
            ("template".into(), "1".into()),
            ("name".into(), "debian12".into()),
            ("scsi0".into(), "local-lvm:base-9000-disk-0,size=4G".into()),
            (
                "net0".into(),
                "virtio=BC:24:11:00:00:01,bridge=vmbr0".into(),
            ),
        ],
        running: false,
    })
    .unwrap();
    let (s, v) = api
        .post(
            "/nodes/pve1/qemu/9000/clone",
            &[("newid", "101"), ("name", "app1")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let upid = v["data"].as_str().unwrap().to_owned();
    // The clone holds the target's config lock and `lock: clone`.
    let (s, v) = api
        .put("/nodes/pve1/qemu/101/config", &[("cores", "2")])
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        v["message"],
        "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout\n"
    );
    assert_eq!(api.wait(&upid).await["exitstatus"], "OK");
    let (_, v) = api.get("/nodes/pve1/qemu/101/config", &[]).await;
    let digest = v["data"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        v["data"]["scsi0"],
        "local-lvm:base-9000-disk-0/vm-101-disk-0,size=4G"
    );
    assert_ne!(v["data"]["net0"], "virtio=BC:24:11:00:00:01,bridge=vmbr0");
    let (s, _) = api
        .put(
            "/nodes/pve1/qemu/101/config",
            &[("cores", "2"), ("digest", &digest)],
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = api
        .put(
            "/nodes/pve1/qemu/101/config",
            &[("cores", "4"), ("digest", &digest)],
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        v["message"],
        "checksum mismatch (file change by other user?)\n"
    );
    // Linked clone with a storage is refused.
    let (s, v) = api
        .post(
            "/nodes/pve1/qemu/9000/clone",
            &[("newid", "102"), ("full", "0"), ("storage", "local-lvm")],
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        v["message"],
        "parameter 'storage' not allowed for linked clones\n"
    );
}

#[tokio::test]
async fn resize_grows_and_refuses_shrink() {
    let Some(sim) = start(|_| {}).await else {
        return;
    };
    let api = Api::new(&sim);
    sim.add_guest(GuestSpec {
        vmid: 100,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![(
            "scsi0".into(),
            "local-lvm:vm-100-disk-0,iothread=1,size=32G".into(),
        )],
        running: false,
    })
    .unwrap();
    let (_, v) = api
        .put(
            "/nodes/pve1/qemu/100/resize",
            &[("disk", "scsi0"), ("size", "+8G")],
        )
        .await;
    assert_eq!(
        api.wait(v["data"].as_str().unwrap()).await["exitstatus"],
        "OK"
    );
    assert_eq!(
        sim.guest_config(100).unwrap()["scsi0"],
        "local-lvm:vm-100-disk-0,iothread=1,size=40G"
    );
    let (_, v) = api
        .put(
            "/nodes/pve1/qemu/100/resize",
            &[("disk", "scsi0"), ("size", "20G")],
        )
        .await;
    let upid = v["data"].as_str().unwrap().to_owned();
    let st = api.wait(&upid).await;
    assert_eq!(st["exitstatus"], "shrinking disks is not supported");
    let (_, log) = api.get(&format!("/nodes/pve1/tasks/{upid}/log"), &[]).await;
    assert_eq!(
        log["data"].as_array().unwrap().last().unwrap()["t"],
        "TASK ERROR: shrinking disks is not supported"
    );
    let (s, _) = api
        .put(
            "/nodes/pve1/qemu/100/resize",
            &[("disk", "scsi0"), ("size", "-1G")],
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn protected_delete_refused_and_failures_injected() {
    let Some(sim) = start(|_| {}).await else {
        return;
    };
    let api = Api::new(&sim);
    sim.add_guest(GuestSpec {
        vmid: 300,
        kind: GuestKind::Lxc,
        node: "pve1".into(),
        config: vec![
            ("protection".into(), "1".into()),
            ("rootfs".into(), "local-lvm:vm-300-disk-0,size=8G".into()),
        ],
        running: false,
    })
    .unwrap();
    let (s, v) = api
        .call(
            reqwest::Method::DELETE,
            "/nodes/pve1/lxc/300",
            &[("purge", "1")],
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        v["message"],
        "can't remove CT 300 - protection mode enabled\n"
    );
    let (s, _) = api
        .put("/nodes/pve1/lxc/300/config", &[("delete", "protection")])
        .await;
    assert_eq!(s, 200);
    let (_, v) = api
        .call(
            reqwest::Method::DELETE,
            "/nodes/pve1/lxc/300",
            &[("purge", "1")],
        )
        .await;
    assert_eq!(
        api.wait(v["data"].as_str().unwrap()).await["exitstatus"],
        "OK"
    );
    assert!(sim.guest_config(300).is_none());

    sim.fail_next_task(FailRule {
        task_type: "vzcreate".into(),
        id: None,
        message: "unpack failed".into(),
    });
    let (_, v) = api.post("/nodes/pve1/lxc", &ct_create_form()).await;
    let st = api.wait(v["data"].as_str().unwrap()).await;
    assert_eq!(st["exitstatus"], "unpack failed");
    assert!(
        sim.guest_config(200).is_none(),
        "a failed create leaves no guest"
    );
}

#[tokio::test]
async fn download_url_with_checksum() {
    let Some(sim) = start(|_| {}).await else {
        return;
    };
    let api = Api::new(&sim);
    let url = "https://images.example.invalid/debian-13.tar.zst";
    sim.add_remote_file(url, 1000, &[("sha256", "ab12")]);
    let form = [
        ("url", url),
        ("content", "vztmpl"),
        ("filename", "debian-13.tar.zst"),
        ("checksum", "ab12"),
        ("checksum-algorithm", "sha256"),
    ];
    let (s, v) = api
        .post("/nodes/pve1/storage/local/download-url", &form)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        api.wait(v["data"].as_str().unwrap()).await["exitstatus"],
        "OK"
    );
    let (_, v) = api
        .get(
            "/nodes/pve1/storage/local/content",
            &[("content", "vztmpl")],
        )
        .await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["volid"] == "local:vztmpl/debian-13.tar.zst")
    );
    let (s, v) = api
        .post(
            "/nodes/pve1/storage/local/download-url",
            &[("url", url), ("content", "vztmpl"), ("filename", "x.iso")],
        )
        .await;
    assert_eq!(
        (s, v["errors"]["filename"].clone()),
        (400, json!("wrong file extension"))
    );
    let (s, v) = api
        .post(
            "/nodes/pve1/storage/local-lvm/download-url",
            &[
                ("url", url),
                ("content", "vztmpl"),
                ("filename", "x.tar.zst"),
            ],
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        v["message"],
        "storage 'local-lvm' is not configured for content-type 'vztmpl'\n"
    );
}

#[tokio::test]
async fn pending_ha_pools_and_stats() {
    let Some(sim) = start(|_| {}).await else {
        return;
    };
    let api = Api::new(&sim);
    sim.add_guest(GuestSpec {
        vmid: 100,
        kind: GuestKind::Qemu,
        node: "pve1".into(),
        config: vec![("cores".into(), "2".into()), ("name".into(), "db1".into())],
        running: true,
    })
    .unwrap();
    // Running VM: cores is not hot-pluggable, so it goes pending; name applies at once.
    let (s, v) = api
        .put(
            "/nodes/pve1/qemu/100/config",
            &[("cores", "4"), ("name", "db2"), ("onboot", "1")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = api.get("/nodes/pve1/qemu/100/pending", &[]).await;
    let cores = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "cores")
        .unwrap()
        .clone();
    assert_eq!(
        (cores["value"].clone(), cores["pending"].clone()),
        (json!(2), json!(4))
    );
    let (_, v) = api.get("/nodes/pve1/qemu/100/config", &[]).await;
    assert_eq!(v["data"]["cores"], 4);
    let (_, v) = api
        .get("/nodes/pve1/qemu/100/config", &[("current", "1")])
        .await;
    assert_eq!(v["data"]["cores"], 2);
    assert_eq!(v["data"]["name"], "db2");

    // HA: create, duplicate, and destroy without purge is refused.
    let (s, _) = api
        .post(
            "/cluster/ha/resources",
            &[("sid", "vm:100"), ("state", "started")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = api.post("/cluster/ha/resources", &[("sid", "100")]).await;
    assert_eq!(
        (s, v["message"].clone()),
        (500, json!("resource ID 'vm:100' already defined\n"))
    );
    let (_, v) = api.get("/cluster/resources", &[("type", "vm")]).await;
    assert_eq!(v["data"][0]["hastate"], "started");
    let (_, v) = api.post("/nodes/pve1/qemu/100/status/stop", &[]).await;
    let st = api.wait(v["data"].as_str().unwrap()).await;
    assert_eq!(st["type"], "hastop");
    let (s, v) = api
        .call(reqwest::Method::DELETE, "/nodes/pve1/qemu/100", &[])
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        v["message"],
        "unable to remove VM 100 - used in HA resources and purge parameter not set.\n"
    );

    // Pools.
    let (s, _) = api
        .post("/pools", &[("poolid", "prod"), ("comment", "production")])
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .put("/pools", &[("poolid", "prod"), ("vms", "100")])
        .await;
    assert_eq!(s, 200);
    let (_, v) = api.get("/pools", &[("poolid", "prod")]).await;
    assert_eq!(v["data"][0]["members"][0]["vmid"], 100);

    // Task log carries `total`; unknown UPIDs are 400 like PVE.
    let (_, v) = api
        .get(
            &format!("/nodes/pve1/tasks/{}/log", st["upid"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(v["total"], v["data"].as_array().unwrap().len());
    let (s, v) = api
        .get(
            "/nodes/pve1/tasks/UPID:pve1:00000001:00000001:00000001:qmstart:1:root@pam:/status",
            &[],
        )
        .await;
    assert_eq!(
        (s, v["errors"]["upid"].clone()),
        (400, json!("no such task"))
    );

    // The test-only stats endpoint.
    let stats: Value = reqwest::get(format!("{}/__sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats["requests"].as_u64().unwrap() >= 12);
    assert_eq!(stats["by_route"]["GET /nodes/{node}/qemu/{vmid}/config"], 2);
    assert!(stats["rejected"].as_array().unwrap().is_empty());
}
