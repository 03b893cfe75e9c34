//! The simulator over real HTTP (reqwest on 127.0.0.1): CRUD, `.id`, errors, defaults and
//! dynamic entries, `move`, queries, export → parser, import, scheduler revert, lock-out,
//! stats, latency and TLS.
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use rackpipe_ros_sim::{SimConfig, Simulator, TlsIdentity};
use rackpipe_routeros::{Props, Selector, Verb};
use serde_json::{Value, json};

struct Api {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Api {
    fn new(sim: &Simulator) -> Api {
        let (user, password) = sim.credentials();
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: sim.base_url(),
            user,
            password: password.expose().to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/rest{path}", self.base))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, value) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.call(reqwest::Method::PUT, path, Some(body)).await;
        assert_eq!(status, 200, "PUT {path}: {value}");
        value
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.call(reqwest::Method::PATCH, path, Some(body)).await;
        assert_eq!(status, 200, "PATCH {path}: {value}");
        value
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "POST {path}: {value}");
        value
    }

    async fn error(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, value) = self.call(method, path, body).await;
        assert!(
            status >= 400,
            "{path}: expected an error, got {status} {value}"
        );
        (status, value)
    }
}

fn id(value: &Value) -> String {
    value[".id"].as_str().unwrap().to_owned()
}

fn quick() -> SimConfig {
    SimConfig {
        unreachable_timeout: Duration::from_secs(15),
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_is_basic_and_errors_are_routeros_shaped() {
    let sim = Simulator::start(quick()).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/interface/bridge", sim.rest_url());
    let response = http
        .get(&url)
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": 401, "message": "Unauthorized"})
    );
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = http
        .head(&url)
        .basic_auth("admin", Some("sim-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 501);
    assert!(!format!("{:?}", sim.credentials()).contains("sim-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn crud_with_ids_and_string_values() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    assert_eq!(api.get("/interface/bridge").await, json!([]));
    let bridge = api
        .put(
            "/interface/bridge",
            json!({"name": "br0", "vlan-filtering": "yes", "pvid": 1}),
        )
        .await;
    let bridge_id = id(&bridge);
    assert!(
        bridge_id.starts_with('*') && bridge_id.len() > 1,
        "{bridge_id}"
    );
    assert_eq!(bridge["vlan-filtering"], "true");
    assert_eq!(bridge["pvid"], "1");
    assert_eq!(bridge["protocol-mode"], "rstp", "defaults are returned");
    assert_eq!(bridge["disabled"], "false");
    assert!(bridge.get("comment").is_none(), "empty comment is omitted");
    // By id, by name, by filtered list (terraform's read).
    assert_eq!(
        api.get(&format!("/interface/bridge/{bridge_id}")).await,
        bridge
    );
    assert_eq!(api.get("/interface/bridge/br0").await, bridge);
    assert_eq!(
        api.get(&format!("/interface/bridge?.id={bridge_id}")).await,
        json!([bridge.clone()])
    );
    // PATCH returns the whole object; `.id` is stable.
    let patched = api
        .patch(
            &format!("/interface/bridge/{bridge_id}"),
            json!({"comment": "core", "vlan-filtering": "no"}),
        )
        .await;
    assert_eq!(
        (
            id(&patched),
            patched["comment"].as_str(),
            patched["vlan-filtering"].as_str()
        ),
        (bridge_id.clone(), Some("core"), Some("false"))
    );
    let unset = api
        .patch(
            &format!("/interface/bridge/{bridge_id}"),
            json!({"!comment": ""}),
        )
        .await;
    assert!(unset.get("comment").is_none());
    // Ports refer to the bridge; renaming the bridge renames the reference.
    let port = api
        .put(
            "/interface/bridge/port",
            json!({"bridge": "br0", "interface": "ether2", "pvid": "10"}),
        )
        .await;
    api.patch(
        &format!("/interface/bridge/{bridge_id}"),
        json!({"name": "core"}),
    )
    .await;
    assert_eq!(
        api.get(&format!("/interface/bridge/port/{}", id(&port)))
            .await["bridge"],
        "core"
    );
    // A second bridge gets a new id; DELETE then 404.
    let other = api.put("/interface/bridge", json!({"name": "br1"})).await;
    assert_ne!(id(&other), bridge_id);
    let (status, body) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/interface/bridge/{}", id(&other)),
            None,
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = api
        .error(
            reqwest::Method::DELETE,
            &format!("/interface/bridge/{}", id(&other)),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (404, json!({"error": 404, "message": "Not Found"}))
    );
    // Singletons: bare objects, set with POST .../set or PATCH.
    assert_eq!(
        api.get("/system/identity").await,
        json!({"name": "MikroTik"})
    );
    assert_eq!(
        api.post("/system/identity/set", json!({"name": "rb5009"}))
            .await,
        json!([])
    );
    assert_eq!(api.get("/system/identity").await["name"], "rb5009");
    let dns = api
        .patch(
            "/ip/dns",
            json!({"servers": "1.1.1.1,9.9.9.9", "allow-remote-requests": "yes"}),
        )
        .await;
    assert_eq!(dns["allow-remote-requests"], "true");
    assert!(dns.get(".id").is_none());
    // /ip/address computes the network.
    let address = api
        .put(
            "/ip/address",
            json!({"address": "10.1.0.1/24", "interface": "core"}),
        )
        .await;
    assert_eq!(address["network"], "10.1.0.0");
    // Every reply value is a string.
    for row in api.get("/ip/address").await.as_array().unwrap() {
        assert!(
            row.as_object().unwrap().values().all(Value::is_string),
            "{row}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_for_unknown_missing_and_bad_values() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    let cases: Vec<(reqwest::Method, &str, Value, u16, &str)> = vec![
        (
            reqwest::Method::PUT,
            "/interface/bridge",
            json!({"name": "b", "colour": "red"}),
            400,
            "unknown parameter colour",
        ),
        (
            reqwest::Method::PUT,
            "/interface/vlan",
            json!({"name": "v", "interface": "ether1"}),
            400,
            "missing value(s) of argument(s) vlan-id",
        ),
        (
            reqwest::Method::PUT,
            "/interface/vlan",
            json!({"name": "v", "interface": "ether1", "vlan-id": 5000}),
            400,
            "value of vlan-id out of range (1..4094)",
        ),
        (
            reqwest::Method::PUT,
            "/interface/vlan",
            json!({"name": "v", "interface": "ether42", "vlan-id": 5}),
            400,
            "input does not match any value of interface",
        ),
        (
            reqwest::Method::PUT,
            "/interface/vlan",
            json!({"name": "ether1", "interface": "ether2", "vlan-id": 5}),
            400,
            "failure: already have interface with such name",
        ),
        (
            reqwest::Method::PUT,
            "/ip/address",
            json!({"address": "10.0.0.300/24", "interface": "ether2"}),
            400,
            "invalid value for argument address",
        ),
        (
            reqwest::Method::PUT,
            "/interface/bonding",
            json!({"name": "bond0", "slaves": "ether2", "mode": "fast"}),
            400,
            "input does not match any value of mode",
        ),
        (
            reqwest::Method::PUT,
            "/interface/bridge",
            json!({"name": "b", "vlan-filtering": "maybe"}),
            400,
            "value of vlan-filtering must be yes or no",
        ),
        (
            reqwest::Method::PUT,
            "/interface/bridge",
            json!({"name": "b", "vlan-filtering": true}),
            400,
            "value of vlan-filtering must be a string or an integer",
        ),
        (
            reqwest::Method::PUT,
            "/interface/ethernet",
            json!({"name": "x"}),
            400,
            "no such command or directory (add)",
        ),
        (
            reqwest::Method::DELETE,
            "/interface/ethernet/ether1",
            json!(null),
            406,
            "no such command or directory (remove)",
        ),
        (
            reqwest::Method::GET,
            "/frobnicate",
            json!(null),
            400,
            "no such command or directory (frobnicate)",
        ),
        (
            reqwest::Method::GET,
            "/ip/address/10.0.0.1",
            json!(null),
            400,
            "no such command prefix",
        ),
        (
            reqwest::Method::PATCH,
            "/interface/ethernet/ether1",
            json!({"default-name": "x"}),
            400,
            "failure: default-name is read-only",
        ),
        (
            reqwest::Method::POST,
            "/ip/address/frob",
            json!({}),
            400,
            "no such command or directory (frob)",
        ),
    ];
    for (method, path, body, status, detail) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let (got, value) = api.error(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        let message = if status == 406 {
            "Not Acceptable"
        } else {
            "Bad Request"
        };
        assert_eq!(
            value,
            json!({"error": status, "message": message, "detail": detail}),
            "{method} {path}"
        );
    }
    let port = api.put("/interface/bridge", json!({"name": "br0"})).await;
    assert!(port.is_object());
    api.put(
        "/interface/bridge/port",
        json!({"bridge": "br0", "interface": "ether3"}),
    )
    .await;
    let (_, value) = api
        .error(
            reqwest::Method::PUT,
            "/interface/bridge/port",
            Some(json!({"bridge": "br0", "interface": "ether3"})),
        )
        .await;
    assert_eq!(
        value["detail"],
        "failure: device already added as bridge port"
    );
    assert!(sim.stats().errors >= 16);
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_builtins_and_dynamic_entries() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    let ports = api.get("/interface/ethernet").await;
    let names: Vec<&str> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["default-name"].as_str().unwrap())
        .collect();
    assert_eq!(names[..3], ["ether1", "ether2", "ether3"]);
    // terraform: find by default-name, then PATCH by .id.
    let ether2 = &api.get("/interface/ethernet?default-name=ether2").await[0];
    let renamed = api
        .patch(
            &format!("/interface/ethernet/{}", id(ether2)),
            json!({"name": "uplink", "mtu": 9000}),
        )
        .await;
    assert_eq!(
        (
            renamed["name"].as_str(),
            renamed["default-name"].as_str(),
            renamed["mtu"].as_str()
        ),
        (Some("uplink"), Some("ether2"), Some("9000"))
    );
    let services = api.get("/ip/service?name=ssh").await;
    assert_eq!(services[0]["port"], "22");
    let actions = api.get("/system/logging/action?default=true").await;
    assert_eq!(actions.as_array().unwrap().len(), 4);
    let (status, value) = api
        .error(
            reqwest::Method::DELETE,
            &format!("/system/logging/action/{}", id(&actions[0])),
            None,
        )
        .await;
    assert_eq!(
        (status, value["detail"].as_str()),
        (400, Some("failure: can not remove default item"))
    );
    // Dynamic: injected lease and timed address-list entry.
    let lease_id = sim
        .add_dynamic(
            "/ip/dhcp-server/lease",
            Props::from_pairs([
                ("address", "192.168.88.50"),
                ("mac-address", "02:00:00:00:00:50"),
                ("host-name", "laptop"),
            ]),
        )
        .unwrap();
    let lease = api.get(&format!("/ip/dhcp-server/lease/{lease_id}")).await;
    assert_eq!(lease["dynamic"], "true");
    let (_, value) = api
        .error(
            reqwest::Method::PATCH,
            &format!("/ip/dhcp-server/lease/{lease_id}"),
            Some(json!({"comment": "x"})),
        )
        .await;
    assert_eq!(value["detail"], "failure: can not change dynamic");
    let (_, value) = api
        .error(
            reqwest::Method::DELETE,
            &format!("/ip/dhcp-server/lease/{lease_id}"),
            None,
        )
        .await;
    assert_eq!(value["detail"], "failure: can not remove dynamic item");
    let timed = api
        .put(
            "/ip/firewall/address-list",
            json!({"list": "blocked", "address": "203.0.113.9", "timeout": "1h"}),
        )
        .await;
    assert_eq!(timed["dynamic"], "true");
    let static_lease = api
        .put(
            "/ip/dhcp-server/lease",
            json!({"address": "192.168.88.60", "mac-address": "02:00:00:00:00:60"}),
        )
        .await;
    assert_eq!(static_lease["dynamic"], "false");
    let export = sim.export_text();
    assert!(
        export.contains("192.168.88.60")
            && !export.contains("192.168.88.50")
            && !export.contains("203.0.113.9"),
        "{export}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn firewall_order_move_place_before_and_queries() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    let mut ids = Vec::new();
    for comment in ["a", "b", "c", "d"] {
        let rule = api
            .put(
                "/ip/firewall/filter",
                json!({"chain": "forward", "action": "accept", "comment": comment}),
            )
            .await;
        assert!(
            rule.get("disabled").is_none(),
            "firewall rules omit unwritten defaults: {rule}"
        );
        assert_eq!(rule["bytes"], "0");
        ids.push(id(&rule));
    }
    let order = |rows: &Value| {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["comment"].as_str().unwrap().to_owned())
            .collect::<String>()
    };
    // Docs form: one id before a destination.
    api.post(
        "/ip/firewall/filter/move",
        json!({".id": ids[3], "destination": ids[0]}),
    )
    .await;
    assert_eq!(order(&api.get("/ip/firewall/filter").await), "dabc");
    // terraform form: numbers list moved in order before the destination.
    api.post(
        "/ip/firewall/filter/move",
        json!({"numbers": format!("{},{}", ids[2], ids[1]), "destination": ids[3]}),
    )
    .await;
    assert_eq!(order(&api.get("/ip/firewall/filter").await), "cbda");
    // place-before on add.
    api.put(
        "/ip/firewall/filter",
        json!({"chain": "forward", "comment": "e", "place-before": ids[0]}),
    )
    .await;
    assert_eq!(order(&api.get("/ip/firewall/filter").await), "cbdea");
    // .proplist and equality filters.
    let rows = api
        .get("/ip/firewall/filter?comment=e&.proplist=.id,comment")
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(
        rows[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        [".id", "comment"]
    );
    let rows = api.get("/ip/firewall/filter?.proplist=comment").await;
    assert!(
        rows[0].get(".id").is_none(),
        "docs: .id only when asked for"
    );
    // POST print with a query stack.
    let rows = api
        .post(
            "/ip/firewall/filter/print",
            json!({".proplist": ["comment"], ".query": ["comment=a", "comment=e", "#|"]}),
        )
        .await;
    assert_eq!(order(&rows), "ea");
    // POST remove with numbers.
    api.post(
        "/ip/firewall/filter/remove",
        json!({"numbers": format!("{},{}", ids[0], ids[1])}),
    )
    .await;
    assert_eq!(order(&api.get("/ip/firewall/filter").await), "cde");
    let added = api
        .post(
            "/ip/firewall/nat/add",
            json!({"chain": "srcnat", "action": "masquerade", "out-interface": "ether1"}),
        )
        .await;
    assert!(added["ret"].as_str().unwrap().starts_with('*'));
}

/// A router configured over REST, as ros-render would.
async fn configure(api: &Api) {
    api.patch(
        &format!(
            "/interface/ethernet/{}",
            id(&api.get("/interface/ethernet?default-name=ether8").await[0])
        ),
        json!({"name": "wan", "comment": "Uplink \"ISP\""}),
    )
    .await;
    api.put("/interface/bonding", json!({"name": "bond1", "slaves": "ether6,ether7", "mode": "802.3ad", "transmit-hash-policy": "layer-3-and-4"})).await;
    api.put(
        "/interface/bridge",
        json!({"name": "bridge", "vlan-filtering": "yes", "dhcp-snooping": "yes"}),
    )
    .await;
    for iface in ["ether2", "ether3", "bond1"] {
        let pvid = if iface == "ether2" { "20" } else { "1" };
        let trusted = if iface == "bond1" { "yes" } else { "no" };
        api.put(
            "/interface/bridge/port",
            json!({"bridge": "bridge", "interface": iface, "pvid": pvid, "trusted": trusted}),
        )
        .await;
    }
    api.put("/interface/bridge/vlan", json!({"bridge": "bridge", "vlan-ids": "20", "tagged": "bridge,bond1", "untagged": "ether2"})).await;
    api.put(
        "/interface/vlan",
        json!({"name": "vlan20", "interface": "bridge", "vlan-id": 20}),
    )
    .await;
    api.put(
        "/ip/address",
        json!({"address": "10.20.0.1/24", "interface": "vlan20"}),
    )
    .await;
    api.put(
        "/ip/pool",
        json!({"name": "pool20", "ranges": "10.20.0.100-10.20.0.200"}),
    )
    .await;
    api.put("/ip/dhcp-server", json!({"name": "dhcp20", "interface": "vlan20", "address-pool": "pool20", "lease-time": "1h", "dynamic-lease-identifiers": "client-mac"})).await;
    api.put(
        "/ip/dhcp-server/network",
        json!({"address": "10.20.0.0/24", "gateway": "10.20.0.1", "dns-server": "10.20.0.1"}),
    )
    .await;
    api.put("/ip/dhcp-server/lease", json!({"address": "10.20.0.10", "mac-address": "02:aa:bb:cc:dd:ee", "server": "dhcp20", "comment": "nas"})).await;
    api.patch(
        "/ip/dns",
        json!({"servers": "1.1.1.1", "allow-remote-requests": "yes"}),
    )
    .await;
    api.put(
        "/ip/dns/static",
        json!({"name": "nas.lan", "address": "10.20.0.10"}),
    )
    .await;
    api.put(
        "/ip/firewall/address-list",
        json!({"list": "mgmt", "address": "192.168.88.0/24"}),
    )
    .await;
    api.put(
        "/ip/firewall/filter",
        json!({"chain": "input", "action": "accept", "connection-state": "established,related"}),
    )
    .await;
    api.put(
        "/ip/firewall/filter",
        json!({"chain": "input", "action": "accept", "src-address-list": "mgmt"}),
    )
    .await;
    api.put(
        "/ip/firewall/nat",
        json!({"chain": "srcnat", "action": "masquerade", "out-interface": "wan"}),
    )
    .await;
    api.patch("/ip/service/telnet", json!({"disabled": "yes"}))
        .await;
    api.patch("/system/clock", json!({"time-zone-name": "Europe/Warsaw"}))
        .await;
    api.patch("/system/identity", json!({"name": "edge-1"}))
        .await;
    api.patch(
        "/system/ntp/client",
        json!({"enabled": "yes", "servers": "pool.ntp.org"}),
    )
    .await;
    api.put(
        "/system/logging/action",
        json!({"name": "syslog", "target": "remote", "remote": "10.20.0.10"}),
    )
    .await;
    api.put(
        "/system/logging",
        json!({"topics": "dhcp,!debug", "action": "syslog", "prefix": "dhcp"}),
    )
    .await;
    let info = api.get("/system/logging?topics=info&default=true").await;
    api.patch(
        &format!("/system/logging/{}", id(&info[0])),
        json!({"topics": "info,!dhcp"}),
    )
    .await;
    api.post(
        "/system/ntp/server/set",
        json!({"enabled": "yes", "manycast": "yes"}),
    )
    .await;
    api.put(
        "/system/scheduler",
        json!({"name": "noop", "start-time": "startup", "on-event": ":log info \"$x?\""}),
    )
    .await;
}

/// Every non-dynamic row of every exported menu, without `.id`.
async fn snapshot(api: &Api, menus: &[&str]) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for menu in menus {
        let value = api.get(menu).await;
        let rows = match value {
            Value::Array(rows) => rows,
            other => vec![other],
        };
        let rows = rows
            .into_iter()
            .map(|mut row| {
                if let Some(obj) = row.as_object_mut() {
                    for volatile in [
                        ".id",
                        "time",
                        "date",
                        "creation-time",
                        "next-run",
                        "run-count",
                        "mac-address",
                        "orig-mac-address",
                    ] {
                        obj.remove(volatile);
                    }
                }
                row
            })
            .collect();
        out.push(((*menu).to_owned(), rows));
    }
    out
}

const MENUS: [&str; 24] = [
    "/interface/ethernet",
    "/interface/bonding",
    "/interface/bridge",
    "/interface/bridge/port",
    "/interface/bridge/vlan",
    "/interface/vlan",
    "/ip/address",
    "/ip/pool",
    "/ip/dhcp-server",
    "/ip/dhcp-server/network",
    "/ip/dhcp-server/lease",
    "/ip/dns",
    "/ip/dns/static",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ip/firewall/address-list",
    "/ip/service",
    "/system/identity",
    "/system/clock",
    "/system/ntp/client",
    "/system/ntp/server",
    "/system/logging/action",
    "/system/logging",
    "/system/scheduler",
];

#[tokio::test(flavor = "multi_thread")]
async fn export_parses_and_import_restores_the_same_data() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    configure(&api).await;
    let before = snapshot(&api, &MENUS).await;

    let text = api.post("/export", json!({})).await["ret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.starts_with("# ") && text.contains("by RouterOS 7.16.2"),
        "{text}"
    );
    let config = rackpipe_routeros::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(config.header.routeros_version.as_deref(), Some("7.16.2"));
    let eth: Vec<_> = config.commands("/interface/ethernet").collect();
    assert_eq!(eth.len(), 1, "{text}");
    assert_eq!(
        eth[0].selector,
        Some(Selector::find("default-name", "ether8"))
    );
    assert_eq!(eth[0].props.get("comment"), Some("Uplink \"ISP\""));
    let ports: Vec<_> = config.commands("/interface/bridge/port").collect();
    assert_eq!(ports.len(), 3);
    assert!(ports.iter().all(|c| c.verb == Verb::Add));
    let service = config.commands("/ip/service").next().unwrap();
    assert_eq!(
        (service.selector.clone(), service.props.get("disabled")),
        (Some(Selector::Item("telnet".into())), Some("yes"))
    );
    let identity = config.commands("/system/identity").next().unwrap();
    assert_eq!(
        (identity.selector.as_ref(), identity.props.get("name")),
        (None, Some("edge-1"))
    );
    let script = config.commands("/system/scheduler").next().unwrap();
    assert_eq!(script.props.get("on-event"), Some(":log info \"$x?\""));
    assert!(
        config
            .commands("/ip/dns")
            .next()
            .unwrap()
            .props
            .get("allow-remote-requests")
            == Some("yes")
    );
    // Compact: defaults are not printed.
    assert!(!text.contains("protocol-mode="), "{text}");
    // A changed default logging rule by print index, as RouterOS exports it; new rules and
    // the NTP server singleton as usual.
    assert!(
        text.contains("/system logging\nset 0 topics=info,!dhcp\nadd action=syslog prefix=dhcp topics=dhcp,!debug\n"),
        "{text}"
    );
    assert!(
        text.contains("/system ntp server\nset enabled=yes manycast=yes\n"),
        "{text}"
    );
    assert!(
        text.contains("dhcp-snooping=yes") && text.contains("trusted=yes"),
        "{text}"
    );
    // `terse` gives the same model.
    let terse = api.post("/export", json!({"terse": ""})).await["ret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(terse.contains("\n/interface bridge port add "), "{terse}");
    assert_eq!(rackpipe_routeros::parse(&terse).unwrap(), config);
    // The simulator's /__sim/export agrees with the REST export.
    let hook = reqwest::get(format!("{}/__sim/export", sim.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(rackpipe_routeros::parse(&hook).unwrap(), config);

    // Write it to a file, wipe the router, import it: same data.
    assert_eq!(
        api.post("/export", json!({"file": "saved"})).await,
        json!([])
    );
    let files = api.get("/file?name=saved.rsc").await;
    assert_eq!(files[0]["type"], "script");
    // keep-users: an export holds no users, so without it the API user would be gone.
    sim.run_script(
        "/system reset-configuration no-defaults=yes keep-users=yes run-after-reset=saved.rsc",
    )
    .unwrap();
    let after = snapshot(&api, &MENUS).await;
    for ((menu, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{menu} differs after export → reset → import");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_reverts_a_lockout_unless_removed() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    api.patch("/system/identity", json!({"name": "before"}))
        .await;
    // 1. Save a binary backup, schedule its load, apply a breaking change.
    api.post(
        "/system/backup/save",
        json!({"name": "rollback", "password": "one-time"}),
    )
    .await;
    let entry = api
        .put(
            "/system/scheduler",
            json!({"name": "rackpipe-rollback", "interval": "1s",
                   "on-event": "/system backup load name=rollback.backup password=one-time"}),
        )
        .await;
    assert!(entry["next-run"].is_string(), "{entry}");
    let address = &api.get("/ip/address?address=192.168.88.1/24").await[0];
    api.patch("/system/identity", json!({"name": "after"}))
        .await;
    let started = Instant::now();
    // This PATCH removes the management path; its reply still comes (the change is applied
    // first), but the next request hangs until the scheduler restores the export.
    api.patch(
        &format!("/ip/address/{}", id(address)),
        json!({"disabled": "yes"}),
    )
    .await;
    assert!(sim.reachable().is_err());
    let identity = api.get("/system/identity").await;
    let waited = started.elapsed();
    assert_eq!(identity["name"], "before", "the backup was loaded");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(sim.stats().while_unreachable >= 1);
    assert_eq!(
        api.get("/ip/address?address=192.168.88.1/24").await[0]["disabled"],
        "false"
    );
    assert_eq!(
        api.get("/system/scheduler").await,
        json!([]),
        "the rollback entry was not in the saved backup"
    );
    assert!(
        sim.log()
            .iter()
            .any(|l| l == "scheduler rackpipe-rollback: ran"),
        "{:?}",
        sim.log()
    );

    // 2. Confirmed apply: the entry is removed before it fires, nothing is reverted.
    api.post("/export", json!({"file": "rollback"})).await;
    let entry = api
        .put("/system/scheduler", json!({"name": "rb2", "interval": "700ms", "on-event": "/import file-name=rollback.rsc"}))
        .await;
    api.patch("/system/identity", json!({"name": "confirmed"}))
        .await;
    api.call(
        reqwest::Method::DELETE,
        &format!("/system/scheduler/{}", id(&entry)),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(api.get("/system/identity").await["name"], "confirmed");

    // 3. Backup/load flavour through /execute.
    api.post(
        "/system/backup/save",
        json!({"name": "pre", "dont-encrypt": "yes"}),
    )
    .await;
    api.patch("/system/identity", json!({"name": "changed"}))
        .await;
    let ret = api
        .post(
            "/execute",
            json!({"script": "/system/backup/load name=pre", "as-string": ""}),
        )
        .await;
    assert_eq!(ret, json!({"ret": ""}));
    assert_eq!(api.get("/system/identity").await["name"], "confirmed");
    let ret = api
        .post(
            "/execute",
            json!({"script": "/ip/address/add address=1.2.3.4/24 interface=nope", "as-string": ""}),
        )
        .await;
    assert!(
        ret["ret"]
            .as_str()
            .unwrap()
            .contains("input does not match any value of interface"),
        "{ret}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_rules_follow_bridge_vlan_service_and_firewall() {
    let sim = Simulator::start(quick()).await.unwrap();
    assert_eq!(sim.reachable(), Ok(()));
    // Moving the management port into a bridge without moving the address locks out.
    sim.run_script(
        "/interface bridge add name=br0\n/interface bridge port add bridge=br0 interface=ether1",
    )
    .unwrap();
    assert!(
        sim.reachable()
            .unwrap_err()
            .contains("no enabled /ip/address")
    );
    sim.run_script("/ip address set [ find address=192.168.88.1/24 ] interface=br0")
        .unwrap();
    assert_eq!(sim.reachable(), Ok(()));
    // vlan-filtering with the port's pvid different from the bridge's: locked out.
    sim.run_script("/interface bridge port set [ find interface=ether1 ] pvid=99\n/interface bridge set br0 vlan-filtering=yes").unwrap();
    assert!(sim.reachable().is_err());
    sim.run_script("/interface bridge port set [ find interface=ether1 ] pvid=1")
        .unwrap();
    assert_eq!(sim.reachable(), Ok(()));
    // Service restrictions.
    sim.run_script("/ip service set www address=10.0.0.0/8")
        .unwrap();
    assert!(sim.reachable().unwrap_err().contains("excludes"));
    sim.run_script("/ip service set www address=192.168.88.0/24")
        .unwrap();
    assert_eq!(sim.reachable(), Ok(()));
    // Firewall: accept from the management list first, then drop: reachable; drop first: not.
    sim.run_script("/ip firewall address-list add list=mgmt address=192.168.88.0/24\n/ip firewall filter add chain=input action=accept src-address-list=mgmt\n/ip firewall filter add chain=input action=drop").unwrap();
    assert_eq!(sim.reachable(), Ok(()));
    sim.run_script("/ip firewall filter disable [ find action=accept ]")
        .unwrap();
    assert!(
        sim.reachable()
            .unwrap_err()
            .contains("drops the API connection")
    );
    sim.run_script("/ip firewall filter remove [ find action=drop ]")
        .unwrap();
    assert_eq!(sim.reachable(), Ok(()));
    // Forced, through the control endpoint.
    let http = reqwest::Client::new();
    let value: Value = http
        .post(format!("{}/__sim/reachable", sim.base_url()))
        .json(&json!({"reachable": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value["reachable"], false);
    sim.set_reachable(true);
    assert_eq!(sim.reachable(), Ok(()));
}

#[tokio::test(flavor = "multi_thread")]
async fn tagged_management_vlan_needs_the_bridge_vlan_table() {
    let config = SimConfig {
        management: Some(rackpipe_ros_sim::Management {
            vlan: Some(88),
            ..Default::default()
        }),
        ..quick()
    };
    let sim = Simulator::start(config).await.unwrap();
    // Factory address is untagged on ether1; a tagged client cannot reach it.
    assert!(sim.reachable().is_err());
    sim.run_script(
        "/interface bridge add name=br0 vlan-filtering=yes\n/interface bridge port add bridge=br0 interface=ether1\n/interface vlan add name=mgmt interface=br0 vlan-id=88\n/ip address set [ find address=192.168.88.1/24 ] interface=mgmt",
    )
    .unwrap();
    assert!(
        sim.reachable().is_err(),
        "vlan 88 is not in the bridge VLAN table"
    );
    sim.run_script("/interface bridge vlan add bridge=br0 vlan-ids=88 tagged=br0,ether1")
        .unwrap();
    assert_eq!(sim.reachable(), Ok(()));
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_count_requests_and_latency_is_serial() {
    let config = SimConfig {
        latency: Duration::from_millis(20),
        ..quick()
    };
    let sim = Simulator::start(config).await.unwrap();
    sim.populate_synthetic(2000, 500).unwrap();
    let api = Api::new(&sim);
    sim.reset_stats();
    let started = Instant::now();
    let rules = api.get("/ip/firewall/filter").await;
    assert_eq!(rules.as_array().unwrap().len(), 2000);
    assert_eq!(
        api.get("/ip/dhcp-server/lease")
            .await
            .as_array()
            .unwrap()
            .len(),
        500
    );
    let mut tasks = Vec::new();
    for i in 0..5 {
        let http = api.http.clone();
        let url = format!("{}/rest/ip/firewall/filter/{}", api.base, id(&rules[i]));
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .basic_auth("admin", Some("sim-password"))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().as_u16(), 200);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(7 * 20),
        "{:?}",
        started.elapsed()
    );
    let stats: Value = reqwest::get(format!("{}/__sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 7);
    assert_eq!(stats["by_route"]["GET /ip/firewall/filter"], 1);
    assert_eq!(stats["by_route"]["GET /ip/firewall/filter/{id}"], 5);
    assert_eq!(sim.stats().requests, 7);
    assert!(
        sim.reachable().is_ok(),
        "synthetic rules accept, the router stays reachable"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_pinned_ca() {
    let Some(openssl) = rackpipe_testkit::require_tool("openssl") else {
        return;
    };
    let dir = rackpipe_testkit::temp_dir();
    let path = |name: &str| dir.path().join(name);
    let run = |args: &[&str]| {
        let status = std::process::Command::new(&openssl)
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"],
        &ec[..],
        &[
            "-days",
            "1",
            "-subj",
            "/CN=sim-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    ]
    .concat());
    run(&[
        &["req"],
        &ec[..],
        &[
            "-subj",
            "/CN=router.sim",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ],
    ]
    .concat());
    std::fs::write(
        path("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let ca_pem = std::fs::read_to_string(path("ca.pem")).unwrap();
    let identity = TlsIdentity {
        cert_pem: std::fs::read_to_string(path("cert.pem")).unwrap(),
        key_pem: rackpipe_ros_sim::Secret::new(std::fs::read_to_string(path("key.pem")).unwrap()),
    };
    let sim = Simulator::start(SimConfig {
        tls: Some(identity),
        ..quick()
    })
    .await
    .unwrap();
    assert!(sim.base_url().starts_with("https://"));
    let pinned = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let response = pinned
        .get(format!("{}/system/identity", sim.rest_url()))
        .basic_auth("admin", Some("sim-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"name": "MikroTik"})
    );
    let unpinned = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(
        unpinned
            .get(format!("{}/system/identity", sim.rest_url()))
            .send()
            .await
            .is_err()
    );
    // With TLS the www-ssl service carries the API.
    assert_eq!(sim.reachable(), Ok(()));
    sim.run_script("/ip service set www-ssl disabled=yes")
        .unwrap();
    assert!(sim.reachable().unwrap_err().contains("www-ssl"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_v6_export_imports_and_locks_out_rest() {
    let Some(shared) = rackpipe_testkit::shared_dir() else {
        return;
    };
    let text =
        std::fs::read_to_string(shared.join("corpus/routeros/andreansx-ccr-config.rsc")).unwrap();
    let source = rackpipe_routeros::parse(&text).unwrap();
    let modelled: Vec<&str> = rackpipe_ros_sim::schema::menus()
        .iter()
        .map(|m| m.path)
        .collect();
    let mut config = source.clone();
    config.menus.retain(|m| modelled.contains(&m.path.as_str()));
    let skipped: Vec<&str> = source
        .paths()
        .into_iter()
        .filter(|p| !modelled.contains(p))
        .collect();
    assert_eq!(
        skipped,
        [
            "/interface/wireless/security-profiles",
            "/ip/route",
            "/system/package/update"
        ]
    );

    let mut ports = vec!["ether1".to_owned()];
    ports.extend((1..=12).map(|i| format!("sfp-sfpplus{i}")));
    // The laptop on ether1 (bridge br-mgmt, 10.10.10.0/24) is the management client.
    let management = rackpipe_ros_sim::Management {
        client: "10.10.10.50".to_owned(),
        ..Default::default()
    };
    let config_sim = SimConfig {
        ethernet_ports: ports,
        management: Some(management),
        // The reachability checks right after each reset need no boot time.
        reboot_time: Duration::ZERO,
        ..quick()
    };
    let sim = Simulator::start(config_sim).await.unwrap();
    sim.run_script("/system reset-configuration no-defaults=yes")
        .unwrap();
    sim.import(&config).unwrap();
    let exported = rackpipe_routeros::parse(&sim.export_text()).unwrap();
    for menu in config.paths() {
        let adds = |c: &rackpipe_routeros::Config| {
            c.commands(menu).filter(|c| c.verb == Verb::Add).count()
        };
        assert_eq!(adds(&exported), adds(&config), "{menu}");
    }
    let filter: Vec<_> = exported.commands("/ip/firewall/filter").collect();
    assert_eq!(
        filter[7].props.get("comment"),
        Some("allow users to access servers")
    );
    // `set www disabled=yes`: the REST API is off, exactly what the lock-out rule models.
    assert_eq!(
        sim.reachable(),
        Err("/ip/service www is disabled".to_owned())
    );
    sim.run_script("/ip service set www disabled=no").unwrap();
    assert_eq!(
        sim.reachable(),
        Ok(()),
        "br-mgmt carries the laptop; 10.10.10.0/24 is accepted on input"
    );
    // Importing again on top fails like RouterOS does; on a clean router, an unmodelled
    // menu is an error with its line.
    assert_eq!(
        sim.import(&config),
        Err("line 7: failure: already have interface with such name".to_owned())
    );
    sim.run_script("/system reset-configuration no-defaults=yes")
        .unwrap();
    let error = sim.import(&source).unwrap_err();
    assert!(
        error.starts_with("line ")
            && error
                .contains("no such command or directory (/interface/wireless/security-profiles)"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_rules_ntp_server_and_dhcp_snooping() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    // The four factory rules: default=yes, not removable, but changeable and disableable.
    let rules = api.get("/system/logging").await;
    let rules = rules.as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = rules
        .iter()
        .map(|r| {
            (
                r["topics"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["default"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("info", "memory", "true"),
            ("error", "memory", "true"),
            ("warning", "memory", "true"),
            ("critical", "echo", "true"),
        ]
    );
    let (status, value) = api
        .error(
            reqwest::Method::DELETE,
            &format!("/system/logging/{}", id(&rules[3])),
            None,
        )
        .await;
    assert_eq!(
        (status, value["detail"].as_str()),
        (400, Some("failure: can not remove default item"))
    );
    let disabled = api
        .patch(
            &format!("/system/logging/{}", id(&rules[3])),
            json!({"disabled": "yes"}),
        )
        .await;
    assert_eq!(disabled["disabled"], "true");
    // New rules: defaults filled in, the action must exist, topics must be known.
    let added = api.put("/system/logging", json!({"topics": "dhcp"})).await;
    assert_eq!(
        (
            added["action"].as_str(),
            added["default"].as_str(),
            added["prefix"].as_str()
        ),
        (Some("memory"), Some("false"), Some(""))
    );
    for (body, detail) in [
        (
            json!({"topics": "info", "action": "nowhere"}),
            "input does not match any value of action",
        ),
        (
            json!({"topics": "info,bogus"}),
            "input does not match any value of topics",
        ),
        (
            json!({"topics": "info", "level": "x"}),
            "unknown parameter level",
        ),
    ] {
        let (status, value) = api
            .error(reqwest::Method::PUT, "/system/logging", Some(body))
            .await;
        assert_eq!((status, value["detail"].as_str()), (400, Some(detail)));
    }
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/system/logging/{}", id(&added)),
            None,
        )
        .await;
    assert_eq!(status, 204);

    // /system/ntp/server is one object: GET gives it bare, set works, add does not.
    let server = api.get("/system/ntp/server").await;
    assert_eq!(
        (
            server["enabled"].as_str(),
            server["local-clock-stratum"].as_str(),
            server.get(".id")
        ),
        (Some("false"), Some("5"), None)
    );
    let set = api
        .patch("/system/ntp/server", json!({"enabled": "yes"}))
        .await;
    assert_eq!(set["enabled"], "true");
    let (status, _) = api
        .error(
            reqwest::Method::PUT,
            "/system/ntp/server",
            Some(json!({"enabled": "yes"})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, value) = api
        .error(
            reqwest::Method::PATCH,
            "/system/ntp/server",
            Some(json!({"local-clock-stratum": "17"})),
        )
        .await;
    assert_eq!(
        value["detail"].as_str(),
        Some("value of local-clock-stratum out of range (1..16)")
    );

    // Bridge DHCP snooping, trusted ports, DHCP server lease identifiers.
    let bridge = api.put("/interface/bridge", json!({"name": "br0"})).await;
    assert_eq!(
        (
            bridge["dhcp-snooping"].as_str(),
            bridge["add-dhcp-option82"].as_str()
        ),
        (Some("false"), Some("false"))
    );
    let port = api
        .put(
            "/interface/bridge/port",
            json!({"bridge": "br0", "interface": "ether2", "trusted": "yes"}),
        )
        .await;
    assert_eq!(port["trusted"], "true");
    let server = api
        .put("/ip/dhcp-server", json!({"name": "d0", "interface": "br0"}))
        .await;
    assert_eq!(server["dynamic-lease-identifiers"], "client-mac,client-id");
    let (_, value) = api
        .error(
            reqwest::Method::PATCH,
            &format!("/ip/dhcp-server/{}", id(&server)),
            Some(json!({"dynamic-lease-identifiers": "client-mac,hostname"})),
        )
        .await;
    assert_eq!(
        value["detail"].as_str(),
        Some("input does not match any value of dynamic-lease-identifiers")
    );
    let (_, value) = api
        .error(
            reqwest::Method::PATCH,
            &format!("/interface/bridge/{}", id(&bridge)),
            Some(json!({"dhcp-snooping": "maybe"})),
        )
        .await;
    assert_eq!(
        value["detail"].as_str(),
        Some("value of dhcp-snooping must be yes or no")
    );
}

/// An HTTPS simulator with a pinned-by-CA client, for the certificate tests.
async fn tls_sim(dir: &std::path::Path, config: SimConfig) -> (Simulator, reqwest::Client) {
    let tls = rackpipe_testkit::loopback_tls(dir);
    let identity = TlsIdentity {
        cert_pem: std::fs::read_to_string(&tls.cert).unwrap(),
        key_pem: rackpipe_ros_sim::Secret::new(std::fs::read_to_string(&tls.key).unwrap()),
    };
    let sim = Simulator::start(SimConfig {
        tls: Some(identity),
        ..config
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    (sim, client)
}

/// Logs in as `user` with `password` and reads the identity: the HTTP status (0: no answer).
async fn login(client: &reqwest::Client, sim: &Simulator, user: &str, password: &str) -> u16 {
    match client
        .get(format!("{}/system/identity", sim.rest_url()))
        .basic_auth(user, Some(password))
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// Users, SSH keys, a WireGuard interface (generated key) and an IPsec secret, as an
/// operator would have them before rackpipe touches the router.
fn seed_secrets(sim: &Simulator) {
    sim.run_script(
        "/user add name=ops group=full password=ops-secret\n\
         /user ssh-keys add user=ops key=\"ssh-ed25519 AAAAC3Nza ops@laptop\"\n\
         /interface wireguard add name=wg0 listen-port=51820\n\
         /ip ipsec peer add name=hq address=198.18.0.9\n\
         /ip ipsec identity add peer=hq secret=psk-secret",
    )
    .unwrap();
}

fn wireguard_key(sim: &Simulator) -> String {
    sim.rows("/interface/wireguard")[0]["private-key"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_leaves_out_users_and_private_keys_and_hides_sensitive_values() {
    let sim = Simulator::start(quick()).await.unwrap();
    let api = Api::new(&sim);
    seed_secrets(&sim);
    let key = wireguard_key(&sim);
    assert_eq!(key.len(), 44, "a generated 32-byte key, base64");
    // Passwords are never shown, not even to a full user.
    let users = api.get("/user").await;
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    assert!(users[1].get("password").is_none(), "{users}");
    let plain = api.post("/export", json!({})).await["ret"]
        .as_str()
        .unwrap()
        .to_owned();
    let sensitive = api.post("/export", json!({"show-sensitive": ""})).await["ret"]
        .as_str()
        .unwrap()
        .to_owned();
    for text in [&plain, &sensitive] {
        for absent in [
            "/user",
            "ops-secret",
            "sim-password",
            "ssh-ed25519",
            "/certificate",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        assert!(text.contains("/interface wireguard\nadd listen-port=51820 name=wg0"));
    }
    assert!(
        !plain.contains(&key) && !plain.contains("psk-secret"),
        "{plain}"
    );
    assert!(
        sensitive.contains(&format!("private-key=\"{key}\""))
            || sensitive.contains(&format!("private-key={key}")),
        "{sensitive}"
    );
    assert!(sensitive.contains("secret=psk-secret"), "{sensitive}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_configuration_loses_users_certificates_and_keys_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = tls_sim(dir.path(), quick()).await;
    seed_secrets(&sim);
    assert_eq!(login(&client, &sim, "admin", "sim-password").await, 200);
    let certs = sim.rows("/certificate");
    assert_eq!(certs[0]["name"], "sim-https");
    assert_eq!(certs[0]["private-key"], "true");
    assert!(
        certs[0].get("key").is_none(),
        "private keys are never shown"
    );

    // The old revert: reset + a plain export. The export cannot bring back what it lacks.
    let key = wireguard_key(&sim);
    let export = sim.export_text();
    sim.run_script("/system reset-configuration no-defaults=yes skip-backup=yes")
        .unwrap();
    sim.import(&rackpipe_routeros::parse(&export).unwrap())
        .unwrap_or(());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(sim.rows("/certificate").is_empty());
    assert!(
        sim.reachable()
            .unwrap_err()
            .contains("no longer in /certificate"),
        "HTTPS is gone with the certificate"
    );
    let users: Vec<String> = sim
        .rows("/user")
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["admin"], "only the factory user is left");
    assert!(sim.rows("/user/ssh-keys").is_empty());
    assert_ne!(
        wireguard_key(&sim),
        key,
        "wg0 came back from the export with a new key"
    );
    assert_eq!(
        login(&client, &sim, "admin", "sim-password").await,
        0,
        "no HTTPS"
    );

    // keep-users keeps the users with their passwords and keys, not the certificates.
    // (No management path: `no-defaults` also removes the factory address.)
    let sim = Simulator::start(SimConfig {
        management: None,
        ..quick()
    })
    .await
    .unwrap();
    seed_secrets(&sim);
    sim.run_script("/system reset-configuration no-defaults=yes keep-users=yes")
        .unwrap();
    let api = Api::new(&sim);
    assert_eq!(api.get("/user").await.as_array().unwrap().len(), 2);
    assert_eq!(sim.rows("/user/ssh-keys").len(), 1);
    assert!(sim.rows("/interface/wireguard").is_empty());
    // Without keep-users the API user is gone: 401.
    sim.run_script("/system reset-configuration no-defaults=yes")
        .unwrap();
    let (status, _) = api
        .call(reqwest::Method::GET, "/system/identity", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_backup_round_trips_everything_and_load_reboots() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, client) = tls_sim(dir.path(), quick()).await;
    seed_secrets(&sim);
    let key = wireguard_key(&sim);
    let fingerprint = sim.rows("/certificate")[0]["fingerprint"].clone();
    sim.run_script("/system backup save name=pre password=backup-pw")
        .unwrap();
    let file = sim
        .rows("/file")
        .into_iter()
        .find(|f| f["name"] == "pre.backup")
        .unwrap();
    let contents = file["contents"].as_str().unwrap();
    for secret in [
        "backup-pw",
        "ops-secret",
        "sim-password",
        "psk-secret",
        key.as_str(),
    ] {
        assert!(!contents.contains(secret), "{secret} in plaintext");
    }

    // Lose everything: reset without keep-users.
    sim.run_script("/system reset-configuration no-defaults=yes")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(sim.reachable().is_err());
    // A wrong password changes nothing.
    assert_eq!(
        sim.run_script("/system backup load name=pre password=wrong"),
        Err("failure: wrong password or damaged backup file".to_owned())
    );
    assert!(sim.rows("/certificate").is_empty());
    // The right one restores users, passwords, SSH keys, the certificate with its key,
    // WireGuard and IPsec secrets, and reboots.
    sim.run_script("/system backup load name=pre password=backup-pw")
        .unwrap();
    assert_eq!(sim.reachable(), Err("rebooting".to_owned()));
    let started = Instant::now();
    assert_eq!(login(&client, &sim, "ops", "ops-secret").await, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the request waited for the boot"
    );
    assert_eq!(login(&client, &sim, "admin", "sim-password").await, 200);
    assert_eq!(login(&client, &sim, "ops", "nope").await, 401);
    assert_eq!(sim.rows("/certificate")[0]["fingerprint"], fingerprint);
    assert_eq!(wireguard_key(&sim), key);
    assert_eq!(sim.rows("/user/ssh-keys").len(), 1);
    assert!(
        sim.export_text_with(true).contains("secret=psk-secret"),
        "IPsec secret restored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reboot_keeps_the_configuration_and_loses_ram_files() {
    let sim = Simulator::start(SimConfig {
        flash: true,
        ..quick()
    })
    .await
    .unwrap();
    let api = Api::new(&sim);
    assert_eq!(api.get("/file?name=flash").await[0]["type"], "directory");
    api.patch("/system/identity", json!({"name": "kept"})).await;
    api.post("/export", json!({"file": "ram"})).await;
    api.post("/export", json!({"file": "flash/kept"})).await;
    sim.add_dynamic(
        "/ip/dhcp-server/lease",
        rackpipe_routeros::Props::from_pairs([("address", "10.0.0.9")]),
    )
    .unwrap();
    api.post("/system/reboot", json!({})).await;
    assert_eq!(sim.reachable(), Err("rebooting".to_owned()));
    assert_eq!(api.get("/system/identity").await["name"], "kept");
    let names: Vec<String> = api
        .get("/file")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["flash", "flash/kept.rsc"]);
    assert_eq!(api.get("/ip/dhcp-server/lease").await, json!([]));
}

/// Menus the simulator does not model, once accepted, behave as RouterOS's REST API does for
/// any menu: add, read, set, move, remove, and a singleton's `set`.
#[tokio::test(flavor = "multi_thread")]
async fn generic_menus_over_rest() {
    let sim = Simulator::start(SimConfig {
        management: None,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sim);
    // Not accepted by default: an unknown menu is RouterOS's error.
    let (status, _) = api.call(reqwest::Method::GET, "/ip/route", None).await;
    assert_eq!(status, 400);
    sim.accept_generic_menus();
    assert_eq!(api.get("/ip/route").await, json!([]));
    let first = api
        .put(
            "/ip/route",
            json!({"dst-address": "10.9.0.0/16", "gateway": "192.0.2.1", "disabled": "no"}),
        )
        .await;
    let id1 = first[".id"].as_str().unwrap().to_owned();
    assert_eq!(first["disabled"], "false");
    let second = api
        .put(
            "/ip/route",
            json!({"dst-address": "0.0.0.0/0", "gateway": "192.0.2.1"}),
        )
        .await;
    let id2 = second[".id"].as_str().unwrap().to_owned();
    let patched = api
        .patch(
            &format!("/ip/route/{id1}"),
            json!({"distance": "5", "!disabled": ""}),
        )
        .await;
    assert_eq!(patched["distance"], "5");
    assert!(patched.get("disabled").is_none(), "{patched}");
    api.post(
        "/ip/route/move",
        json!({"numbers": id2, "destination": id1}),
    )
    .await;
    let ids: Vec<String> = api
        .get("/ip/route")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[".id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [id2.clone(), id1.clone()]);
    let (status, _) = api
        .call(reqwest::Method::DELETE, &format!("/ip/route/{id2}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(api.get("/ip/route").await.as_array().unwrap().len(), 1);
    // A bad property name is refused as RouterOS refuses an unknown one.
    let (status, body) = api
        .call(reqwest::Method::PUT, "/ip/route", Some(json!({"a:b": "1"})))
        .await;
    assert_eq!(status, 400, "{body}");
    // A `set` without numbers makes a settings menu (a singleton: GET gives an object).
    api.post(
        "/ip/neighbor/discovery-settings/set",
        json!({"discover-interface-list": "LAN"}),
    )
    .await;
    assert_eq!(
        api.get("/ip/neighbor/discovery-settings").await,
        json!({"discover-interface-list": "LAN"})
    );
    // A GET by name under a modelled menu is still one.
    api.put("/interface/bridge", json!({"name": "br9"})).await;
    assert_eq!(api.get("/interface/bridge/br9").await["name"], "br9");
}

/// The simulator started from each export of the shared corpus serves every menu of the
/// export over REST, with an entry for each `add` of a menu it does not model (and the
/// built-in entries the export `set`s).
#[tokio::test(flavor = "multi_thread")]
async fn started_from_each_corpus_export() {
    let Some(shared) = rackpipe_testkit::shared_dir() else {
        return;
    };
    let dir = shared.join("corpus/routeros");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rsc"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{}", dir.display());
    let specs = rackpipe_ros_sim::schema::menus();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let config = rackpipe_routeros::export::parse(&text).unwrap();
        let sim = Simulator::start_from_export(
            SimConfig {
                management: None,
                ..SimConfig::default()
            },
            &text,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let api = Api::new(&sim);
        for path in config.paths() {
            let (status, body) = api.call(reqwest::Method::GET, path, None).await;
            assert_eq!(status, 200, "{name}: GET {path}: {body}");
            if specs.iter().any(|s| s.path == path) {
                continue;
            }
            let adds = config
                .commands(path)
                .filter(|c| c.verb == Verb::Add)
                .count();
            let rows = match &body {
                Value::Array(rows) => rows.len(),
                Value::Object(_) => 0,
                other => panic!("{name}: GET {path}: {other}"),
            };
            assert!(
                rows >= adds,
                "{name}: {path}: {rows} rows for {adds} adds: {body}"
            );
        }
    }
}
