//! reckon: month-end rating, package deduction and invoicing for cloud AI API usage.

pub mod catalog;
pub mod catalog_load;
pub mod cli;
pub mod direct;
pub mod discard;
pub mod engine;
pub mod error;
pub mod faults;
pub mod focus;
pub mod generate;
pub mod grouping;
pub mod held;
pub mod ingest;
pub mod model;
pub mod output;
pub mod period;
pub mod policy;
pub mod progress;
pub mod recon_model;
pub mod recon_run;
pub mod reconcile;
pub mod reduce;
pub mod report;
pub mod run;
pub mod statement;
pub mod tally;
