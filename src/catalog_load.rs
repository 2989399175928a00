//! Loading and checking the catalog (owned by the catalog work; stub).

use std::path::Path;

use crate::catalog::Catalog;
use crate::error::Result;

pub fn load(_dir: &Path) -> Result<Catalog> {
    todo!("catalog loading")
}

/// `reckon catalog check`: every problem found, one line each (empty = valid).
pub fn check(_catalog: &Catalog) -> Vec<String> {
    todo!("catalog check")
}

/// `reckon catalog show ITEM`: a readable description of one item or subscription item.
pub fn show(_catalog: &Catalog, _id: &str) -> Option<String> {
    todo!("catalog show")
}
