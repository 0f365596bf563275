//! Integration tests of the expr crate: each dialect against DCI samples, SQL lowering, the
//! evaluator, and properties tying them together.

mod db;
mod eval;
mod nosql;
mod predicate;
mod props;
mod schema;
mod sql;
mod text;
