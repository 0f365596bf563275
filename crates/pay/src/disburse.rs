//! Disbursement.

use std::sync::Arc;

use axum::Router;

use crate::Pay;

/// The disbursement endpoints.
pub(crate) fn routes() -> Router<Arc<Pay>> {
    Router::new()
}
