//! The Consul storage design (HashiCorp Vault, which OpenBao cannot run): after `init` every
//! node is initialized and only needs unsealing, never a raft join. Three mocked nodes answer
//! the seal/health/unseal API the way Vault does (`storage_type: consul`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rackpipe_vault_bootstrap::{
    ClientOptions, Cluster, NodeState, Secret, UnsealOptions, status, unseal,
};
use serde_json::{Value, json};

#[derive(Default)]
struct Node {
    sealed: bool,
    progress: u64,
    active: bool,
    joins: u64,
    unseal_calls: u64,
}

type Shared = Arc<Mutex<Node>>;

fn seal_status(n: &Node) -> Value {
    json!({"type": "shamir", "initialized": true, "sealed": n.sealed, "t": 3, "n": 5,
           "progress": n.progress, "storage_type": "consul", "version": "1.18.0"})
}

async fn get_seal(State(s): State<Shared>) -> Json<Value> {
    Json(seal_status(&s.lock().unwrap()))
}

async fn health(State(s): State<Shared>) -> (StatusCode, Json<Value>) {
    let n = s.lock().unwrap();
    let code = if n.sealed {
        StatusCode::SERVICE_UNAVAILABLE
    } else if n.active {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    (
        code,
        Json(json!({"initialized": true, "sealed": n.sealed, "standby": !n.active && !n.sealed})),
    )
}

async fn put_unseal(State(s): State<Shared>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let mut n = s.lock().unwrap();
    n.unseal_calls += 1;
    if body.get("reset") == Some(&Value::Bool(true)) {
        n.progress = 0;
        return (StatusCode::OK, Json(seal_status(&n)));
    }
    let key = body.get("key").and_then(Value::as_str).unwrap_or_default();
    if !key.starts_with("good-") {
        n.progress = 0;
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": ["invalid key"]})),
        );
    }
    if n.sealed {
        n.progress += 1;
        if n.progress >= 3 {
            n.sealed = false;
            n.progress = 0;
        }
    }
    (StatusCode::OK, Json(seal_status(&n)))
}

async fn join(State(s): State<Shared>) -> (StatusCode, Json<Value>) {
    s.lock().unwrap().joins += 1;
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"errors": ["raft storage is not in use"]})),
    )
}

async fn serve(node: Shared) -> String {
    let app = Router::new()
        .route("/v1/sys/seal-status", get(get_seal))
        .route("/v1/sys/health", get(health))
        .route("/v1/sys/unseal", put(put_unseal))
        .route("/v1/sys/storage/raft/join", post(join))
        .with_state(node);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_nodes_are_unsealed_without_joins() {
    let mut nodes = Vec::new();
    let mut urls = Vec::new();
    for i in 0..3 {
        let node = Arc::new(Mutex::new(Node {
            sealed: true,
            active: i == 0,
            ..Node::default()
        }));
        urls.push((format!("ct0100{}", i + 5), serve(node.clone()).await));
        nodes.push(node);
    }
    let cluster = Cluster::new(&urls, &ClientOptions::default()).unwrap();
    let keys: Vec<Secret> = (1..=5).map(|i| Secret::new(format!("good-{i}"))).collect();

    let e = unseal(&cluster, &keys[..2], &UnsealOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ct01005: unseal failed: too few unseal keys: 2 given, threshold is 3"
    );
    let bad = [
        Secret::new("good-1"),
        Secret::new("bad"),
        Secret::new("good-3"),
    ];
    let e = unseal(&cluster, &bad, &UnsealOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ct01005: unseal failed: key 2 rejected: invalid key"
    );

    let report = unseal(&cluster, &keys[2..], &UnsealOptions::default())
        .await
        .unwrap();
    let after: Vec<NodeState> = report.nodes.iter().map(|n| n.after).collect();
    assert_eq!(
        after,
        [NodeState::Active, NodeState::Standby, NodeState::Standby]
    );
    assert!(report.nodes.iter().all(|n| !n.joined));
    for n in &nodes {
        assert_eq!(n.lock().unwrap().joins, 0, "no raft join on consul storage");
    }
    // Idempotent: nothing sealed, nothing sent.
    let calls: u64 = nodes.iter().map(|n| n.lock().unwrap().unseal_calls).sum();
    unseal(&cluster, &keys, &UnsealOptions::default())
        .await
        .unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| n.lock().unwrap().unseal_calls)
            .sum::<u64>(),
        calls
    );

    let st = status(&cluster, None).await.unwrap();
    assert_eq!(st.leader.as_deref(), Some("ct01005"));
    assert_eq!(st.nodes[1].storage_type.as_deref(), Some("consul"));
    let doc = serde_json::to_value(&st).unwrap();
    assert_eq!(doc["nodes"][2]["state"], "standby");
}
