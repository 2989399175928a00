//! reckon: month-end rating, package deduction and invoicing for cloud AI API usage.

pub mod catalog;
pub mod catalog_load;
pub mod error;
pub mod ingest;
pub mod model;
pub mod engine;
pub mod period;
pub mod policy;
pub mod reduce;
pub mod output;
pub mod run;
pub mod cli;
pub mod generate;
pub mod recon_model;
pub mod reconcile;
pub mod faults;
pub mod focus;
pub mod report;
pub mod statement;
pub mod recon_run;
