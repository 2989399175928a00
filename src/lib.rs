//! reckon: month-end rating, package deduction and invoicing for cloud AI API usage.

pub mod catalog;
pub mod catalog_load;
pub mod error;
pub mod ingest;
pub mod model;
