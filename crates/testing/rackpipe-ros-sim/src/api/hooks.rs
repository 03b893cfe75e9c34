//! The `/__sim/...` test hooks: stats, reachability, dynamic rows, bulk data, export, log.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rackpipe_routeros::Props;
use serde_json::{Value, json};

use crate::state::{ApiError, Router};
use crate::{Stats, lock};

use super::{Shared, error_response};

/// Synthetic bulk data for benchmarks.
pub(crate) fn populate(r: &mut Router, filter_rules: usize, leases: usize) -> Result<(), String> {
    let err = |e: ApiError| e.detail.unwrap_or_default();
    for i in 0..filter_rules {
        let props = Props::from_pairs([
            ("chain", "input".to_owned()),
            ("action", "accept".to_owned()),
            ("protocol", "tcp".to_owned()),
            (
                "src-address",
                format!("10.{}.{}.0/24", (i / 256) % 256, i % 256),
            ),
            ("dst-port", format!("{}", 10_000 + i % 50_000)),
            ("comment", format!("synthetic rule {i}")),
        ]);
        r.add("/ip/firewall/filter", &props).map_err(err)?;
    }
    for i in 0..leases {
        let n = u32::try_from(i).unwrap_or(0);
        let props = Props::from_pairs([
            ("address", format!("10.200.{}.{}", n / 250, n % 250 + 2)),
            (
                "mac-address",
                format!("02:00:00:00:{:02X}:{:02X}", n / 256, n % 256),
            ),
            ("comment", format!("synthetic lease {i}")),
        ]);
        r.add("/ip/dhcp-server/lease", &props).map_err(err)?;
    }
    Ok(())
}

pub(super) async fn sim_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(lock(&shared.stats).clone()).into_response()
}

pub(super) async fn sim_reset_stats(State(shared): State<Arc<Shared>>) -> Response {
    *lock(&shared.stats) = Stats::default();
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn sim_reachable_get(State(shared): State<Arc<Shared>>) -> Response {
    let result = shared.with_router(|r| r.reachable());
    axum::Json(json!({ "reachable": result.is_ok(), "reason": result.err() })).into_response()
}

pub(super) async fn sim_reachable_post(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "body must be {\"reachable\": bool}",
        )
            .into_response();
    };
    let Some(reachable) = value.get("reachable").and_then(Value::as_bool) else {
        return (
            StatusCode::BAD_REQUEST,
            "body must be {\"reachable\": bool}",
        )
            .into_response();
    };
    // `{"reachable": false, "when_scheduled": NAME}`: cut later, right after the request that
    // adds the scheduler entry NAME (see `Router::cut_when_scheduled`).
    if let Some(name) = value.get("when_scheduled").and_then(Value::as_str) {
        if reachable {
            return (
                StatusCode::BAD_REQUEST,
                "when_scheduled goes with reachable: false",
            )
                .into_response();
        }
        let name = name.to_owned();
        shared.with_router(|r| r.cut_when_scheduled = Some(name));
    } else {
        shared.with_router(|r| {
            r.forced_unreachable = !reachable;
            r.cut_when_scheduled = None;
        });
    }
    sim_reachable_get(State(shared)).await
}

pub(super) async fn sim_dynamic(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed: Result<(String, Props), String> = serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            let menu = v
                .get("menu")
                .and_then(Value::as_str)
                .ok_or("missing menu")?
                .to_owned();
            let props: Props = serde_json::from_value(v.get("props").cloned().unwrap_or(json!({})))
                .map_err(|e| e.to_string())?;
            Ok((menu, props))
        });
    match parsed {
        Ok((menu, props)) => match shared.with_router(|r| r.add_dynamic(&menu, props)) {
            Ok(id) => axum::Json(json!({ ".id": format!("*{id:X}") })).into_response(),
            Err(e) => error_response(&e),
        },
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

pub(super) async fn sim_populate(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let count = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    match shared.with_router(|r| populate(r, count("filter_rules"), count("leases"))) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

pub(super) async fn sim_export(State(shared): State<Arc<Shared>>) -> Response {
    shared.with_router(|r| r.export_text()).into_response()
}

pub(super) async fn sim_log(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.with_router(|r| r.log.clone())).into_response()
}
