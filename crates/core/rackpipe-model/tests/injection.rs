//! No injection through the site (issue 16, item 5): every site string that a tool writes into
//! a daemon configuration, a script or a command line refuses the characters that would end
//! the directive or start another, and `validate` names the exact field.

use rackpipe_model::load::{LoadError, parse};
use rackpipe_model::{Diagnostic, load_and_validate};
use serde_json::Value;

/// Values that, rendered raw, end a directive, open or close a block, start a comment or a
/// statement, split a field, escape a quote or read as an option.
const HOSTILE: &[&str] = &[
    "x\ny",
    "x\r\ny",
    "x y",
    "x\ty",
    "x\"y",
    "x'y",
    "x{y",
    "x}y",
    "x#y",
    "x;y",
    "x!y",
    "x\\y",
    "x$(id)y",
    "x`id`y",
    "x\u{1}y",
    "x\u{7f}y",
    "x\u{85}y",
    "x\u{2028}y",
    "x,y=z",
];

/// A field, where it is in the document, and what goes before a hostile value so that only
/// the hostile part is wrong (an absolute path starts with `/`).
struct Field {
    path: &'static str,
    pointer: &'static str,
    prefix: &'static str,
}

const FIELDS: &[Field] = &[
    Field {
        path: "router.identity",
        pointer: "/router/identity",
        prefix: "",
    },
    Field {
        path: "load_balancer.vips[0].interface",
        pointer: "/load_balancer/vips/0/interface",
        prefix: "",
    },
    Field {
        path: "load_balancer.stats.uri",
        pointer: "/load_balancer/stats/uri",
        prefix: "/",
    },
    Field {
        path: "load_balancer.services[0].tls_certificate",
        pointer: "/load_balancer/services/0/tls_certificate",
        prefix: "/etc/haproxy/",
    },
    Field {
        path: "load_balancer.services[0].backend_tls.ca_file",
        pointer: "/load_balancer/services/0/backend_tls/ca_file",
        prefix: "/etc/haproxy/",
    },
    Field {
        path: "nas.exports[0].path",
        pointer: "/nas/exports/0/path",
        prefix: "/srv/",
    },
    Field {
        path: "nas.exports[0].pseudo",
        pointer: "/nas/exports/0/pseudo",
        prefix: "/srv/",
    },
    Field {
        path: "runners.cache.mountpoint",
        pointer: "/runners/cache/mountpoint",
        prefix: "/",
    },
    Field {
        path: "runners.cache.path",
        pointer: "/runners/cache/path",
        prefix: "/srv/nfs/gitlab-runner-cache/",
    },
    Field {
        path: "nas.exports[0].clients[0].sec[0]",
        pointer: "/nas/exports/0/clients/0/sec/0",
        prefix: "",
    },
    Field {
        path: "nas.exports[0].clients[0].fsid",
        pointer: "/nas/exports/0/clients/0/fsid",
        prefix: "",
    },
    Field {
        path: "runners.cache.options[0]",
        pointer: "/runners/cache/options/0",
        prefix: "",
    },
    Field {
        path: "kubernetes.storage_classes[0].reclaim_policy",
        pointer: "/kubernetes/storage_classes/0/reclaim_policy",
        prefix: "Retain",
    },
    Field {
        path: "vault.tls.cert_file",
        pointer: "/vault/tls/cert_file",
        prefix: "/etc/",
    },
    Field {
        path: "vault.tls.key_file",
        pointer: "/vault/tls/key_file",
        prefix: "/etc/",
    },
    Field {
        path: "vault.tls.ca_file",
        pointer: "/vault/tls/ca_file",
        prefix: "/etc/",
    },
    Field {
        path: "vault.audit[0].file",
        pointer: "/vault/audit/0/file",
        prefix: "/var/log/",
    },
    Field {
        path: "kubernetes.workers[0].labels.topology.kubernetes.io/zone",
        pointer: "/kubernetes/workers/0/labels/topology.kubernetes.io~1zone",
        prefix: "",
    },
    Field {
        path: "kubernetes.workers[5].taints[0]",
        pointer: "/kubernetes/workers/5/taints/0",
        prefix: "dedicated=",
    },
    Field {
        path: "kubernetes.workers[5].taints[1]",
        pointer: "/kubernetes/workers/5/taints/1",
        prefix: "",
    },
];

fn example() -> Value {
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-net");
    parse("rachuna-net.yaml", &bytes)
        .expect("example parses")
        .value
}

/// Sets `pointer` to `value`, creating the objects (or the next array element) on the way.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut node = doc;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if node.is_null() && token.parse::<usize>().is_ok() {
            *node = Value::Array(Vec::new());
        }
        node = match node {
            Value::Array(items) => {
                let i: usize = token.parse().expect("array index");
                while items.len() <= i {
                    items.push(Value::Null);
                }
                &mut items[i]
            }
            other => {
                if !other.is_object() {
                    *other = Value::Object(serde_json::Map::new());
                }
                other
                    .as_object_mut()
                    .expect("object")
                    .entry(token)
                    .or_insert(Value::Null)
            }
        };
    }
    *node = value;
}

fn diagnostics(doc: &Value) -> Vec<Diagnostic> {
    // serde_json leaves DEL and the Unicode line separators raw, which the YAML reader refuses
    // as a syntax error before any field is looked at: escape them as JSON does allow.
    let text: String = serde_json::to_string(doc)
        .expect("serialises")
        .chars()
        .map(|c| match c {
            '\u{7f}' | '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => {
                format!("\\u{:04x}", u32::from(c))
            }
            c => c.to_string(),
        })
        .collect();
    match load_and_validate("t.json", text.as_bytes()) {
        Ok(loaded) => loaded.warnings,
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("unexpected load error: {other}"),
    }
}

fn errors_at(diags: &[Diagnostic], path: &str) -> bool {
    diags.iter().any(|d| d.is_error() && d.path == path)
}

fn listing(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_field_accepts_a_benign_value() {
    for f in FIELDS {
        let mut doc = example();
        let benign = if f.path.contains("taints[") {
            format!("{}benign:NoSchedule", f.prefix)
        } else if f.path.ends_with("reclaim_policy") {
            f.prefix.to_owned()
        } else {
            format!("{}benign", f.prefix)
        };
        set(&mut doc, f.pointer, Value::String(benign.clone()));
        let diags = diagnostics(&doc);
        assert!(
            !diags.iter().any(Diagnostic::is_error),
            "{} = {benign:?} is refused:\n{}",
            f.path,
            listing(&diags)
        );
    }
}

#[test]
fn validate_refuses_each_hostile_value_naming_the_field() {
    // One document per hostile value, with the value in every field at once: the schema
    // reports every violation, so each field must be named (and it keeps the test quick).
    let base = example();
    for hostile in HOSTILE {
        let mut doc = base.clone();
        for f in FIELDS {
            let value = if f.path.contains("taints[") {
                format!("{}{hostile}:NoSchedule", f.prefix)
            } else {
                format!("{}{hostile}", f.prefix)
            };
            set(&mut doc, f.pointer, Value::String(value));
        }
        let diags = diagnostics(&doc);
        for f in FIELDS {
            assert!(
                errors_at(&diags, f.path),
                "{} = {:?}: no error at that path:\n{}",
                f.path,
                format!("{}{hostile}", f.prefix),
                listing(&diags)
            );
        }
    }
}

#[test]
fn leading_dash_never_reaches_a_command_line() {
    // Values that would read as an option: names and labels must start alphanumeric, paths
    // with '/'.
    for (pointer, path, value) in [
        (
            "/load_balancer/vips/0/interface",
            "load_balancer.vips[0].interface",
            "-eth0",
        ),
        ("/nas/exports/0/path", "nas.exports[0].path", "-rf"),
        (
            "/kubernetes/cni/version",
            "kubernetes.cni.version",
            "-v3.29.1",
        ),
        (
            "/kubernetes/cni/version",
            "kubernetes.cni.version",
            "v3.29.1/../../x",
        ),
        ("/kubernetes/cni/name", "kubernetes.cni.name", "--calico"),
        (
            "/kubernetes/workers/5/taints/0",
            "kubernetes.workers[5].taints[0]",
            "--overwrite:NoSchedule",
        ),
        (
            "/kubernetes/workers/0/labels/topology.kubernetes.io~1zone",
            "kubernetes.workers[0].labels.topology.kubernetes.io/zone",
            "-x",
        ),
    ] {
        let mut doc = example();
        set(&mut doc, pointer, Value::String(value.to_owned()));
        let diags = diagnostics(&doc);
        assert!(
            errors_at(&diags, path),
            "{path} = {value:?}:\n{}",
            listing(&diags)
        );
    }
}

#[test]
fn label_keys_follow_the_kubernetes_syntax() {
    // A bad key is named at the labels map (the key is the problem, not a value).
    for key in [
        "-zone",
        "zone,evil=1",
        "Topology.example.com/zone",
        "a/b/c",
        "z one",
        "zone\n",
        &"k".repeat(64),
    ] {
        let mut doc = example();
        let labels = &mut doc["kubernetes"]["workers"][0]["labels"];
        labels
            .as_object_mut()
            .expect("labels")
            .insert(key.to_owned(), Value::String("v".to_owned()));
        let diags = diagnostics(&doc);
        assert!(
            errors_at(&diags, "kubernetes.workers[0].labels"),
            "key {key:?}:\n{}",
            listing(&diags)
        );
    }
    // Values: 63 characters at most, alphanumeric at both ends.
    let mut doc = example();
    set(
        &mut doc,
        "/kubernetes/workers/0/labels/topology.kubernetes.io~1zone",
        Value::String("v".repeat(64)),
    );
    assert!(errors_at(
        &diagnostics(&doc),
        "kubernetes.workers[0].labels.topology.kubernetes.io/zone"
    ));
    for (taint, ok) in [
        ("dedicated=nonprod:PreferNoSchedule", true),
        ("example.com/gpu:NoExecute", true),
        ("dedicated=nonprod", false),
        ("dedicated=nonprod:Sometimes", false),
        ("dedicated=non prod:NoSchedule", false),
    ] {
        let mut doc = example();
        set(
            &mut doc,
            "/kubernetes/workers/5/taints/0",
            Value::String(taint.to_owned()),
        );
        let refused = errors_at(&diagnostics(&doc), "kubernetes.workers[5].taints[0]");
        assert_eq!(refused, !ok, "{taint:?}");
    }
}

#[test]
fn routeros_property_names_are_typed() {
    // A firewall rule's property name is written unquoted before '=' in the router script
    // (RouterOS has no quoting for a parameter name): a space or '=' adds an argument, ';' or a
    // newline a command. A bad name is named at the properties map.
    for key in [
        "out-interface disabled",
        "a=b",
        "x;/system/reboot",
        "x\n/user add",
        "Out-Interface",
        "-x",
        "a[b]",
        "",
    ] {
        let mut doc = example();
        doc["router"]["firewall"]["filter"][0]["properties"]
            .as_object_mut()
            .expect("properties")
            .insert(key.to_owned(), Value::String("v".to_owned()));
        let diags = diagnostics(&doc);
        assert!(
            errors_at(&diags, "router.firewall.filter[0].properties"),
            "key {key:?}:\n{}",
            listing(&diags)
        );
    }
    let mut doc = example();
    doc["router"]["firewall"]["filter"][0]["properties"]
        .as_object_mut()
        .expect("properties")
        .insert("dst-port".to_owned(), Value::String("22,8291".to_owned()));
    assert!(!diagnostics(&doc).iter().any(Diagnostic::is_error));
}

#[test]
fn consul_storage_cri_socket_and_ingress_are_typed() {
    // (pointer, field path, a benign value, where a hostile value goes: before, after it)
    let fields = [
        (
            "/vault/storage/address",
            "vault.storage.address",
            "127.0.0.1:8501",
            ("127.0.0.1", ":8501"),
        ),
        (
            "/vault/storage/path",
            "vault.storage.path",
            "vault/rachuna/",
            ("vault/", ""),
        ),
        (
            "/vault/storage/datacenter",
            "vault.storage.datacenter",
            "dc-1_a",
            ("dc", ""),
        ),
        (
            "/kubernetes/cri_socket",
            "kubernetes.cri_socket",
            "unix:///var/run/crio/crio.sock",
            ("unix:///run/", ".sock"),
        ),
        (
            "/kubernetes/ingress/name",
            "kubernetes.ingress.name",
            "traefik",
            ("traefik", ""),
        ),
    ];
    for (pointer, path, benign, _) in fields {
        let mut doc = example();
        set(&mut doc, pointer, Value::String(benign.to_owned()));
        let diags = diagnostics(&doc);
        assert!(
            !errors_at(&diags, path),
            "{path} = {benign:?}:\n{}",
            listing(&diags)
        );
    }
    for hostile in HOSTILE {
        let mut doc = example();
        for (pointer, _, _, (before, after)) in fields {
            set(
                &mut doc,
                pointer,
                Value::String(format!("{before}{hostile}{after}")),
            );
        }
        let diags = diagnostics(&doc);
        for (_, path, _, _) in fields {
            assert!(
                errors_at(&diags, path),
                "{path} with {hostile:?}:\n{}",
                listing(&diags)
            );
        }
    }
    for (pointer, path, value) in [
        (
            "/kubernetes/cri_socket",
            "kubernetes.cri_socket",
            "--cri-socket=x",
        ),
        (
            "/kubernetes/cri_socket",
            "kubernetes.cri_socket",
            "/run/containerd/containerd.sock",
        ),
        ("/vault/storage/path", "vault.storage.path", "/vault"),
        ("/vault/storage/path", "vault.storage.path", "vault//x"),
        (
            "/vault/storage/address",
            "vault.storage.address",
            "127.0.0.1",
        ),
    ] {
        let mut doc = example();
        set(&mut doc, pointer, Value::String(value.to_owned()));
        assert!(errors_at(&diagnostics(&doc), path), "{path} = {value:?}");
    }
}

#[test]
fn secret_references_are_one_line() {
    // Vault's server config names the Consul token's reference in a comment: a newline in
    // it would start an HCL directive.
    for hostile in ["x\ny", "x\r\ny", "x\u{0}y", "x\u{7f}y", "x\u{85}y"] {
        let mut doc = example();
        set(
            &mut doc,
            "/vault/storage/token",
            Value::String(format!("file:/etc/{hostile}")),
        );
        let diags = diagnostics(&doc);
        assert!(
            errors_at(&diags, "vault.storage.token"),
            "{hostile:?}:\n{}",
            listing(&diags)
        );
    }
}

#[test]
fn a_tagged_storage_variant_names_its_own_field() {
    // `vault.storage` is a oneOf of the raft and consul variants: the schema errors of the
    // variant whose `backend` matches are reported at their field, not "not valid under any
    // of the schemas" at `vault.storage`.
    let (_, bytes) = rackpipe_testkit::example_site("rachuna-dev");
    let mut doc = parse("rachuna-dev.yaml", &bytes)
        .expect("example parses")
        .value;
    assert_eq!(doc["vault"]["storage"]["backend"], "raft");
    set(
        &mut doc,
        "/vault/storage/path",
        Value::String("/var/lib/vault\"\n}\nstorage \"inmem\" {".to_owned()),
    );
    let diags = diagnostics(&doc);
    assert!(
        errors_at(&diags, "vault.storage.path") && !errors_at(&diags, "vault.storage"),
        "{}",
        listing(&diags)
    );
}
