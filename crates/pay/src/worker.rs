//! The payment worker.

use std::sync::Arc;

use crate::Pay;

/// Runs the payment worker until the process ends.
pub fn spawn(_pay: Arc<Pay>) {}
