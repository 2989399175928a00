//! Vendor statement readers (stub until the readers land).

use std::path::Path;

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::recon_model::Statement;

pub fn read_statement(path: &Path, _catalog: &Catalog, _map_dir: &Path) -> Result<Statement> {
    Err(Error::input(path, "statement readers are not built yet"))
}
