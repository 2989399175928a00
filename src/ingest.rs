//! Reading and validating the inputs (stub: see the ingest work).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::model::{AccountSetting, Micros, Package, Subscription};

/// Options for one period's ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Period bounds in UTC microseconds, `[start, end)` (billing time zone applied).
    pub period_start: Micros,
    pub period_end: Micros,
    /// Offset (seconds east of UTC) to assume for naive timestamps; `None` = naive is an error.
    pub assume_offset: Option<i32>,
}

/// One input file as read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub rows: u64,
}

/// Row counts of one input table: `read = accepted + rejected + duplicates`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TableStats {
    pub table: String,
    pub files: Vec<FileInfo>,
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
}

/// Everything read from an input directory.
pub struct Ingested {
    /// Valid, de-duplicated usage rows (success and failed), lazily.
    pub usage: LazyFrame,
    pub packages: Vec<Package>,
    pub accounts: Vec<AccountSetting>,
    pub subscriptions: Vec<Subscription>,
    /// `file, row, column, value, reason`.
    pub rejects: DataFrame,
    /// `file, row, event_id, first_file, first_row`.
    pub duplicates: DataFrame,
    /// Rejected usage rows naming an unknown item, per account and item:
    /// `account_id, item, event_id (when one), event_time (µs, first), quantity_micro (sum), events`.
    pub unknown_items: DataFrame,
    pub stats: Vec<TableStats>,
}

pub fn ingest(_input: &Path, _catalog: &Catalog, _opts: &IngestOptions) -> Result<Ingested> {
    todo!("ingest")
}
