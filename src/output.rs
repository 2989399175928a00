//! Writing a period's outputs: every table as Parquet and CSV, plus
//! `manifest.json`, into a temporary directory that is renamed into place, so a
//! crash or a concurrent run never leaves a half-written month.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rust_decimal::prelude::*;

use crate::error::{Error, Result};
use crate::model::Micros;
use crate::period;

/// Digits after the point for money columns (USD and CNY minor units).
pub const MONEY_SCALE: u32 = 2;
/// Digits after the point for unit prices.
pub const PRICE_SCALE: u32 = 6;
/// Digits after the point for quantities. Quantities are exact at this scale
/// except minutes derived from seconds (1 s = 0.01666… min), which are shown
/// rounded here; amounts and ledger balances (`remaining_measure`) stay exact.
pub const QTY_SCALE: u32 = 6;

/// A column under construction, in the order the contract lists.
pub enum Col {
    Str(&'static str, Vec<Option<String>>),
    /// Decimal with a fixed scale: Parquet Decimal(38, scale), CSV text.
    Dec(&'static str, u32, Vec<Option<Decimal>>),
    /// An instant: Parquet Datetime(µs, UTC); CSV ISO 8601 in the billing offset.
    Time(&'static str, Vec<Option<Micros>>),
    Int(&'static str, Vec<Option<i64>>),
    Bool(&'static str, Vec<Option<bool>>),
}

/// A table to write: its columns and the billing offset for CSV times.
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<Col>,
    pub offset: i32,
}

fn fixed(d: Decimal, scale: u32) -> String {
    let r = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    format!("{:.*}", scale as usize, r)
}

impl Table {
    fn height(&self) -> usize {
        self.columns
            .first()
            .map(|c| match c {
                Col::Str(_, v) => v.len(),
                Col::Dec(_, _, v) => v.len(),
                Col::Time(_, v) => v.len(),
                Col::Int(_, v) => v.len(),
                Col::Bool(_, v) => v.len(),
            })
            .unwrap_or(0)
    }

    /// The frame; `csv` renders instants as text in the billing offset.
    pub fn frame(&self, csv: bool) -> Result<DataFrame> {
        let mut cols = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let col: Column = match c {
                Col::Str(n, v) => Column::new((*n).into(), v),
                Col::Int(n, v) => Column::new((*n).into(), v),
                Col::Bool(n, v) => Column::new((*n).into(), v),
                Col::Dec(n, scale, v) => {
                    if csv {
                        let text: Vec<Option<String>> =
                            v.iter().map(|d| d.map(|d| fixed(d, *scale))).collect();
                        Column::new((*n).into(), text)
                    } else {
                        // Exact: the mantissa at the column's scale, as Decimal(38, scale).
                        let mantissas = v.iter().map(|d| {
                            d.map(|d| {
                                let mut r = d.round_dp_with_strategy(
                                    *scale,
                                    RoundingStrategy::MidpointAwayFromZero,
                                );
                                r.rescale(*scale);
                                r.mantissa()
                            })
                        });
                        Int128Chunked::from_iter_options((*n).into(), mantissas)
                            .into_decimal(38, *scale as usize)?
                            .into_series()
                            .into_column()
                    }
                }
                Col::Time(n, v) => {
                    if csv {
                        let text: Vec<Option<String>> = v
                            .iter()
                            .map(|t| t.map(|t| period::format_time(t, self.offset)))
                            .collect();
                        Column::new((*n).into(), text)
                    } else {
                        Column::new((*n).into(), v).cast(&DataType::Datetime(
                            TimeUnit::Microseconds,
                            Some(TimeZone::UTC),
                        ))?
                    }
                }
            };
            cols.push(col);
        }
        Ok(DataFrame::new(self.height(), cols)?)
    }
}

/// A directory being written; [`Staging::commit`] renames it into place.
pub struct Staging {
    pub dir: PathBuf,
    target: PathBuf,
    _lock: File,
}

impl Staging {
    /// Take the output lock for `target` and create a fresh temporary sibling.
    pub fn begin(target: &Path) -> Result<Staging> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| out_err(parent, e))?;
        let name = target
            .file_name()
            .ok_or_else(|| {
                Error::Config(format!("--out {} has no directory name", target.display()))
            })?
            .to_string_lossy()
            .to_string();
        let lock_path = parent.join(format!(".{name}.lock"));
        let lock = File::create(&lock_path).map_err(|e| out_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Output {
                    path: target.to_path_buf(),
                    message: "another reckon run is writing this output directory".into(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(out_err(&lock_path, e)),
        }
        let dir = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| out_err(&dir, e))?;
        }
        fs::create_dir(&dir).map_err(|e| out_err(&dir, e))?;
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            _lock: lock,
        })
    }

    /// Write a table as `NAME.parquet` and `NAME.csv`.
    pub fn write_table(&self, table: &Table) -> Result<()> {
        let mut pq = table.frame(false)?;
        let path = self.dir.join(format!("{}.parquet", table.name));
        let f = File::create(&path).map_err(|e| out_err(&path, e))?;
        ParquetWriter::new(f).finish(&mut pq)?;
        let mut csv = table.frame(true)?;
        let path = self.dir.join(format!("{}.csv", table.name));
        let f = File::create(&path).map_err(|e| out_err(&path, e))?;
        CsvWriter::new(f).include_header(true).finish(&mut csv)?;
        Ok(())
    }

    /// Write a frame made elsewhere (rejects, duplicates) as Parquet and CSV.
    pub fn write_frame(&self, name: &str, df: &DataFrame) -> Result<()> {
        let mut df = df.clone();
        let path = self.dir.join(format!("{name}.parquet"));
        let f = File::create(&path).map_err(|e| out_err(&path, e))?;
        ParquetWriter::new(f).finish(&mut df)?;
        let path = self.dir.join(format!("{name}.csv"));
        let f = File::create(&path).map_err(|e| out_err(&path, e))?;
        CsvWriter::new(f).include_header(true).finish(&mut df)?;
        Ok(())
    }

    /// Write a small text file (manifest, notes).
    pub fn write_text(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        let mut f = File::create(&path).map_err(|e| out_err(&path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| out_err(&path, e))?;
        f.sync_all().map_err(|e| out_err(&path, e))?;
        Ok(())
    }

    /// Move the finished directory into place, replacing an earlier run.
    pub fn commit(self) -> Result<PathBuf> {
        let target = self.target.clone();
        if target.exists() {
            let old = self.dir.with_extension("old");
            fs::rename(&target, &old).map_err(|e| out_err(&target, e))?;
            fs::rename(&self.dir, &target).map_err(|e| out_err(&target, e))?;
            fs::remove_dir_all(&old).map_err(|e| out_err(&old, e))?;
        } else {
            fs::rename(&self.dir, &target).map_err(|e| out_err(&target, e))?;
        }
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // A run that failed before commit leaves nothing behind.
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn out_err(path: &Path, e: std::io::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
