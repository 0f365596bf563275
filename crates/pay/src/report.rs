//! Reconciliation.

use std::sync::Arc;

use axum::Router;

use crate::Pay;

/// The report's endpoint.
pub(crate) fn routes() -> Router<Arc<Pay>> {
    Router::new()
}
