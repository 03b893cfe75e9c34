//! Strict JSON Schemas of the kubeadm configuration kinds, written from the upstream type
//! definitions (`cmd/kubeadm/app/apis/kubeadm/v1beta4` and `v1beta3`, as summarised in
//! `../shared/reference/lb-etcd-kubeadm.md` §4) — independently of how this crate renders.
//! Unknown fields are errors, as in `kubeadm config validate`.

use serde_json::{Value, json};

use crate::ApiVersion;

fn strict(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": properties, "required": required})
}

/// Extra arguments: a `{name, value}` list in v1beta4, a string map in v1beta3.
fn extra_args(version: ApiVersion) -> Value {
    match version {
        ApiVersion::V1beta4 => {
            json!({"type": "array", "items": strict(json!({"name": {"type": "string", "minLength": 1}, "value": {"type": "string"}}), &["name", "value"])})
        }
        ApiVersion::V1beta3 => {
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        }
    }
}

fn taint() -> Value {
    strict(
        json!({"key": {"type": "string", "minLength": 1}, "value": {"type": "string"},
               "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]}, "timeAdded": {"type": "string"}}),
        &["key", "effect"],
    )
}

fn node_registration(version: ApiVersion) -> Value {
    let mut props = json!({
        "name": {"type": "string", "minLength": 1},
        "criSocket": {"type": "string", "pattern": "^(unix|npipe)://"},
        "taints": {"type": ["array", "null"], "items": taint()},
        "kubeletExtraArgs": extra_args(version),
        "ignorePreflightErrors": {"type": "array", "items": {"type": "string"}},
        "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    });
    if version == ApiVersion::V1beta4 {
        props["imagePullSerial"] = json!({"type": "boolean"});
    }
    strict(props, &[])
}

fn api_endpoint() -> Value {
    strict(
        json!({"advertiseAddress": {"type": "string"}, "bindPort": {"type": "integer", "minimum": 1, "maximum": 65535}}),
        &[],
    )
}

fn timeouts() -> Value {
    let d = json!({"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"});
    strict(
        json!({"controlPlaneComponentHealthCheck": d, "kubeletHealthCheck": d, "kubernetesAPICall": d, "etcdAPICall": d,
               "tlsBootstrap": d, "discovery": d, "upgradeManifests": d}),
        &[],
    )
}

fn header(version: ApiVersion, kind: &str) -> Value {
    json!({"apiVersion": {"const": version.as_str()}, "kind": {"const": kind}})
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

/// Schema of `InitConfiguration`.
#[must_use]
pub fn init_configuration(version: ApiVersion) -> Value {
    let token = strict(
        json!({"token": {"type": "string", "pattern": "^[a-z0-9]{6}\\.[a-z0-9]{16}$"}, "description": {"type": "string"},
               "ttl": {"type": "string"}, "expires": {"type": "string"}, "usages": {"type": "array", "items": {"type": "string"}},
               "groups": {"type": "array", "items": {"type": "string"}}}),
        &["token"],
    );
    let mut props = merge(
        header(version, "InitConfiguration"),
        json!({"bootstrapTokens": {"type": "array", "items": token}, "nodeRegistration": node_registration(version),
               "localAPIEndpoint": api_endpoint(), "certificateKey": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
               "skipPhases": {"type": "array", "items": {"type": "string"}}, "patches": strict(json!({"directory": {"type": "string"}}), &[])}),
    );
    if version == ApiVersion::V1beta4 {
        props["dryRun"] = json!({"type": "boolean"});
        props["timeouts"] = timeouts();
    }
    strict(props, &["apiVersion", "kind"])
}

/// Schema of `ClusterConfiguration`.
#[must_use]
pub fn cluster_configuration(version: ApiVersion) -> Value {
    let component = || {
        let mut p = json!({"extraArgs": extra_args(version), "extraVolumes": {"type": "array"}});
        if version == ApiVersion::V1beta4 {
            p["extraEnvs"] = json!({"type": "array"});
        }
        p
    };
    let mut api_server = merge(
        component(),
        json!({"certSANs": {"type": "array", "items": {"type": "string", "minLength": 1}}}),
    );
    if version == ApiVersion::V1beta3 {
        api_server["timeoutForControlPlane"] = json!({"type": "string"});
    }
    let local_etcd = strict(
        merge(
            component(),
            json!({"imageRepository": {"type": "string"}, "imageTag": {"type": "string"}, "dataDir": {"type": "string"},
                   "serverCertSANs": {"type": "array", "items": {"type": "string"}}, "peerCertSANs": {"type": "array", "items": {"type": "string"}}}),
        ),
        &[],
    );
    let external_etcd = strict(
        json!({"endpoints": {"type": "array", "items": {"type": "string"}, "minItems": 1}, "caFile": {"type": "string"},
               "certFile": {"type": "string"}, "keyFile": {"type": "string"}}),
        &["endpoints"],
    );
    let cidr = json!({"type": "string", "pattern": "^[0-9a-fA-F.:]+/[0-9]{1,3}(,[0-9a-fA-F.:]+/[0-9]{1,3})?$"});
    let mut props = merge(
        header(version, "ClusterConfiguration"),
        json!({
            "etcd": strict(json!({"local": local_etcd, "external": external_etcd}), &[]),
            "networking": strict(json!({"serviceSubnet": cidr, "podSubnet": cidr, "dnsDomain": {"type": "string"}}), &[]),
            "kubernetesVersion": {"type": "string", "pattern": "^(v[0-9]+\\.[0-9]+\\.[0-9]+.*|stable.*|latest.*)$"},
            "controlPlaneEndpoint": {"type": "string", "pattern": "^[A-Za-z0-9.:\\[\\]-]+(:[0-9]{1,5})?$"},
            "apiServer": strict(api_server, &[]),
            "controllerManager": strict(component(), &[]),
            "scheduler": strict(component(), &[]),
            "dns": strict(json!({"imageRepository": {"type": "string"}, "imageTag": {"type": "string"}, "disabled": {"type": "boolean"}}), &[]),
            "certificatesDir": {"type": "string"},
            "imageRepository": {"type": "string"},
            "featureGates": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "clusterName": {"type": "string"},
        }),
    );
    if version == ApiVersion::V1beta4 {
        props["proxy"] = strict(json!({"disabled": {"type": "boolean"}}), &[]);
        props["encryptionAlgorithm"] =
            json!({"enum": ["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256"]});
        props["certificateValidityPeriod"] = json!({"type": "string"});
        props["caCertificateValidityPeriod"] = json!({"type": "string"});
    } else {
        // v1beta3 has no dns.disabled.
        props["dns"] = strict(
            json!({"imageRepository": {"type": "string"}, "imageTag": {"type": "string"}}),
            &[],
        );
    }
    strict(props, &["apiVersion", "kind"])
}

/// Schema of `JoinConfiguration`.
#[must_use]
pub fn join_configuration(version: ApiVersion) -> Value {
    let bootstrap = strict(
        json!({"token": {"type": "string", "pattern": "^[a-z0-9]{6}\\.[a-z0-9]{16}$"}, "apiServerEndpoint": {"type": "string", "minLength": 1},
               "caCertHashes": {"type": "array", "items": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}},
               "unsafeSkipCAVerification": {"type": "boolean"}}),
        &["token"],
    );
    let mut discovery = json!({"bootstrapToken": bootstrap, "file": strict(json!({"kubeConfigPath": {"type": "string"}}), &["kubeConfigPath"]),
                               "tlsBootstrapToken": {"type": "string"}});
    if version == ApiVersion::V1beta3 {
        discovery["timeout"] = json!({"type": "string"});
    }
    let mut props = merge(
        header(version, "JoinConfiguration"),
        json!({"nodeRegistration": node_registration(version), "caCertPath": {"type": "string"}, "discovery": strict(discovery, &[]),
               "controlPlane": strict(json!({"localAPIEndpoint": api_endpoint(), "certificateKey": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}), &[]),
               "skipPhases": {"type": "array", "items": {"type": "string"}}, "patches": strict(json!({"directory": {"type": "string"}}), &[])}),
    );
    if version == ApiVersion::V1beta4 {
        props["dryRun"] = json!({"type": "boolean"});
        props["timeouts"] = timeouts();
    }
    strict(props, &["apiVersion", "kind", "discovery"])
}

/// Checks one kubeadm document against the schema of its kind; returns every violation.
#[must_use]
pub fn check_document(document: &Value) -> Vec<String> {
    let version = match document.get("apiVersion").and_then(Value::as_str) {
        Some("kubeadm.k8s.io/v1beta4") => ApiVersion::V1beta4,
        Some("kubeadm.k8s.io/v1beta3") => ApiVersion::V1beta3,
        other => return vec![format!("unknown apiVersion {other:?}")],
    };
    let schema = match document.get("kind").and_then(Value::as_str) {
        Some("InitConfiguration") => init_configuration(version),
        Some("ClusterConfiguration") => cluster_configuration(version),
        Some("JoinConfiguration") => join_configuration(version),
        other => return vec![format!("unknown kind {other:?}")],
    };
    match jsonschema::validator_for(&schema) {
        Ok(v) => v
            .iter_errors(document)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect(),
        Err(e) => vec![format!("internal: schema does not compile: {e}")],
    }
}
