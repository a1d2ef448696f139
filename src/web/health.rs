//! `/healthz` (the process is alive) and `/readyz` (database round trip, master key still
//! matches the database, migrations current; 503 otherwise). Both answer on any Host so load
//! balancers can probe by IP.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::store::{MigrationState, settings};

pub async fn healthz() -> Response {
    Json(json!({ "status": "alive" })).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let check = async {
        let store = &state.svc.store;
        store.ping().await.map_err(|_| "database unreachable")?;
        match store.migration_state().await {
            Ok(MigrationState::Current) => {}
            Ok(_) => return Err("migrations not current"),
            Err(_) => return Err("database unreachable"),
        }
        let stored = settings::find(store, settings::KEY_CHECK)
            .await
            .map_err(|_| "database unreachable")?
            .ok_or("master key check missing")?;
        state
            .svc
            .keyring
            .master()
            .verify_key_check(&stored)
            .map_err(|_| "master key does not match the database")?;
        Ok::<(), &'static str>(())
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(reason)) => not_ready(reason),
        Err(_) => not_ready("database did not answer within 2 s"),
    }
}

fn not_ready(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "not ready", "reason": reason })),
    )
        .into_response()
}
