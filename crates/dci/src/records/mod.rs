//! Registry record types (dci-spec §6). spx emits the property names of the canonical JSON-LD
//! model (`spdci/schemas`) and accepts the variants of the OpenAPI examples and samples.

pub mod common;
pub mod crvs;
pub mod dr;
pub mod fr;
pub mod ibr;
pub mod id;
pub mod social;
