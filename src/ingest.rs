//! Reading and validating the inputs.
//!
//! Every table is found in the input directory as `NAME.parquet`, `NAME.csv`
//! or a directory `NAME/` of part files (sorted by name, one table). Each file
//! is scanned lazily with polars (CSV all text, Parquet typed; a Parquet
//! column of the wrong kind, float money included, is an error) and
//! normalised into text values and parsed columns (`NAME__t` µs UTC,
//! `NAME__m` micro-units, `NAME__b` booleans; null when the text does not
//! parse). Whether a row is valid needs only those; the reason columns
//! `NAME__r` (regex work) are computed for failing rows alone.
//!
//! CSV files get one pass in Rust first ([`scan_csv_bytes`]): size, SHA-256,
//! UTF-8, the field count of every record (a ragged row is an error naming its
//! line), and the map from polars' row index to the file's line numbers
//! (quoted line breaks take extra lines; blank lines, which polars reads as
//! all-null rows, are dropped).
//!
//! The usage table stays lazy end to end and is validated with expressions
//! only. Three streaming passes are collected: the bad rows (for `rejects`),
//! the count of valid rows with the ids that repeat, and (only when some do)
//! the rows carrying those ids. The returned frame re-scans with the same
//! expressions and drops the repeats by position, so nothing in it scales
//! with the number of events. The small tables (packages, accounts,
//! subscriptions) are collected and turned into typed rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::catalog::{self, Catalog, Measure};
use crate::error::{Error, Result};
use crate::model::{AccountSetting, Micros, Package, PackageKind, Subscription};
use crate::progress::Timings;

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
    /// Valid, de-duplicated usage rows (success and failed), lazily; `_row`
    /// identifies each row (see [`EventIds`]).
    pub usage: UsageScan,
    /// The event id of any usage row, by `_row`.
    pub event_ids: EventIds,
    /// Every `(region, resolution)` pair in the usage rows, as the usage
    /// frame has them (read from those two columns only).
    pub variants: DataFrame,
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

/// One slice of the accounts: `index` of `count` (`--shard INDEX/COUNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parse `K/N` with `0 <= K < N`.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Config(format!(
                "--shard {s}: expected K/N with 0 <= K < N, e.g. 0/8"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the row's `account_id` falls in this slice.
    fn expr(self) -> Expr {
        let s = SHARD_SEEDS;
        (col("account_id").hash(s[0], s[1], s[2], s[3]) % lit(u64::from(self.count)))
            .eq(lit(u64::from(self.index)))
    }

    fn keeps(self, ids: &[&str]) -> Result<Vec<bool>> {
        let df = df!("account_id" => ids)?
            .lazy()
            .select([self.expr().alias("k")])
            .collect()?;
        let k = df.column("k")?.bool()?;
        Ok((0..k.len()).map(|i| k.get(i) == Some(true)).collect())
    }
}

/// Event ids by row key (`_row`), read from the `event_id` column alone, so
/// that the event-level stages need not carry the id through their group-bys.
#[derive(Clone)]
pub struct EventIds {
    /// Per scan unit: `_row` and the raw `event_id`, and the column's type.
    units: Vec<(LazyFrame, Option<DataType>)>,
}

impl EventIds {
    /// From a frame of `_row` and `event_id` (text), as tests build usage.
    pub fn from_frame(frame: LazyFrame) -> EventIds {
        EventIds {
            units: vec![(frame, Some(DataType::String))],
        }
    }

    /// The event id of each of `rows` (as the usage frame has it: stripped),
    /// in one scan of the id column.
    pub fn lookup(&self, rows: Vec<i64>) -> Result<PlHashMap<i64, String>> {
        let mut out = PlHashMap::with_capacity_and_hasher(rows.len(), Default::default());
        if rows.is_empty() {
            return Ok(out);
        }
        let wanted = df!("_row" => rows)?.lazy();
        let frames = self
            .units
            .iter()
            .map(|(lf, dtype)| {
                lf.clone()
                    .join(
                        wanted.clone(),
                        [col("_row")],
                        [col("_row")],
                        JoinArgs::new(JoinType::Semi),
                    )
                    .select([
                        col("_row"),
                        text_of(col("event_id"), dtype.as_ref()).alias("event_id"),
                    ])
            })
            .collect::<Vec<_>>();
        let df = collect_streaming(concat(frames, UnionArgs::default())?)?;
        let row = df.column("_row")?.i64()?;
        let id = df.column("event_id")?.str()?;
        for k in 0..df.height() {
            if let (Some(r), Some(i)) = (row.get(k), id.get(k)) {
                out.insert(r, i.to_string());
            }
        }
        Ok(out)
    }
}

/// The kept usage rows as a lazy frame: every valid row but the dropped
/// duplicates, with the columns the event-level stages use, and `_row`.
/// Built from each scan unit's raw rows, so a scan of a few accounts can
/// filter the raw `account_id` as it reads, before any other column is
/// parsed ([`UsageScan::of_accounts`]).
#[derive(Clone)]
pub struct UsageScan {
    rows: UsageRows,
    /// The slice of accounts kept (`--shard`), if any.
    shard: Option<Shard>,
}

#[derive(Clone)]
enum UsageRows {
    /// A frame of the kept rows as it stands (tests).
    Frame(Box<LazyFrame>),
    Units {
        /// Per scan unit: its raw rows with their index, the expressions
        /// that parse them, and the raw `account_id` type.
        units: Vec<(LazyFrame, Vec<Expr>, Option<DataType>)>,
        /// Raw columns the parsing leaves behind, dropped.
        raws: Vec<String>,
        /// Row keys of the rows not kept (rejected, dropped duplicates).
        excluded: std::sync::Arc<Vec<i64>>,
    },
}

impl UsageScan {
    /// Kept rows given as a frame (its account filter runs after reading).
    pub fn from_frame(frame: LazyFrame) -> UsageScan {
        UsageScan {
            rows: UsageRows::Frame(Box::new(frame)),
            shard: None,
        }
    }

    /// Every kept row.
    pub fn frame(&self) -> Result<LazyFrame> {
        self.rows(None, false)
    }

    /// Every row read, with `_kept`: false for a rejected row or a dropped
    /// duplicate, so a consumer that looks at every row anyway (the
    /// reduction) leaves them out itself, without a filter's copy of the
    /// other rows of their batches.
    pub fn marked(&self) -> Result<LazyFrame> {
        self.rows(None, true)
    }

    /// The kept rows of `accounts` (sorted, distinct): the raw `account_id`
    /// is compared as the scan reads it (stripped, as the frame has it), so
    /// the other columns are parsed for those rows only.
    pub fn of_accounts(&self, accounts: &[&str]) -> Result<LazyFrame> {
        self.rows(Some(str_list(accounts)), false)
    }

    /// The kept rows (of `accounts`), or with `mark` every row with `_kept`.
    fn rows(&self, accounts: Option<Expr>, mark: bool) -> Result<LazyFrame> {
        let lf = match &self.rows {
            UsageRows::Frame(lf) => {
                let lf = match accounts {
                    Some(list) => (**lf).clone().filter(col("account_id").is_in(list, false)),
                    None => (**lf).clone(),
                };
                match mark {
                    true => lf.with_column(lit(true).alias("_kept")),
                    false => lf,
                }
            }
            UsageRows::Units {
                units,
                raws,
                excluded,
            } => {
                let frames = units
                    .iter()
                    .map(|(base, parse, account)| {
                        let base = match &accounts {
                            Some(list) => base.clone().filter(
                                text_of(col("account_id"), account.as_ref())
                                    .is_in(list.clone(), false),
                            ),
                            None => base.clone(),
                        };
                        base.select(parse.clone()).drop(cols(raws.clone()))
                    })
                    .collect::<Vec<_>>();
                let all = concat(frames, UnionArgs::default())?.with_column(row_key());
                match mark {
                    true => usage_columns(all.with_column(kept(excluded)), true),
                    false => usage_columns(exclude(all, excluded), false),
                }
            }
        };
        Ok(match self.shard {
            Some(shard) => lf.filter(shard.expr()),
            None => lf,
        })
    }
}

/// `lf` with its row key (`_row`) and without the rows of `keys`: see
/// [`exclude`].
fn without(lf: LazyFrame, keys: &[i64]) -> LazyFrame {
    exclude(lf.with_column(row_key()), keys)
}

/// `lf` (with its row key, `_row`) without the rows of `keys` (in any
/// order): a filter by [`kept_mask`] over the keys sorted, so a batch
/// holding none of them passes as it is, without a copy (an anti join,
/// before, copied every kept row of every column read).
fn exclude(lf: LazyFrame, keys: &[i64]) -> LazyFrame {
    if keys.is_empty() {
        return lf;
    }
    lf.filter(kept(keys))
}

/// `_kept` of each row of a frame with its row key (`_row`): whether its
/// key is not among `keys` (in any order), by [`kept_mask`].
fn kept(keys: &[i64]) -> Expr {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let keys = std::sync::Arc::new(keys);
    col("_row")
        .map(
            move |c| Ok(kept_mask(c.i64()?, &keys).into_column()),
            |_, _| {
                Ok(polars::prelude::Field::new(
                    "_kept".into(),
                    DataType::Boolean,
                ))
            },
        )
        .alias("_kept")
}

/// Whether each row of a batch is kept: its row key is not among `keys`
/// (sorted, distinct), looked up only among the keys inside the batch's
/// range of row keys (none, most often: then all true).
fn kept_mask(rows: &Int64Chunked, keys: &[i64]) -> BooleanChunked {
    let n = rows.len();
    let inside = match (rows.min(), rows.max()) {
        (Some(lo), Some(hi)) => {
            let from = &keys[keys.partition_point(|&k| k < lo)..];
            &from[..from.partition_point(|&k| k <= hi)]
        }
        _ => &[],
    };
    if inside.is_empty() {
        return BooleanChunked::full("_kept".into(), true, n);
    }
    rows.iter()
        .map(|r| r.is_none_or(|r| inside.binary_search(&r).is_err()))
        .collect::<BooleanChunked>()
        .with_name("_kept".into())
}

/// A row's key: its file index and row index in one integer.
fn row_key() -> Expr {
    (col(FIDX) * lit(ROW_KEY) + col(IDX)).alias("_row")
}

/// The columns of the usage rows, by their frame names (and `_kept`, with
/// `marked`).
fn usage_columns(frame: LazyFrame, marked: bool) -> LazyFrame {
    let mut columns = vec![
        col("event_id"),
        col("account_id"),
        col("item"),
        col("event_time__t").alias("t"),
        col("status").eq(lit("success")).alias("success"),
        col("quantity__m")
            .fill_null(lit(MICRO))
            .alias("quantity_micro"),
        col("input_seconds__m").alias("input_micro"),
        col("output_seconds__m").alias("output_micro"),
        col("preview_only__b")
            .fill_null(lit(false))
            .alias("preview_only"),
        col("region"),
        col("resolution"),
        col("_row"),
    ];
    if marked {
        columns.push(col("_kept"));
    }
    frame.select(columns)
}

impl Ingested {
    /// Only the accounts of `shard`, after validation and de-duplication of
    /// the whole input (so a slice sees exactly the events the whole month
    /// keeps). Rejects, duplicates and read counts stay those of the whole input.
    pub fn shard(mut self, shard: Shard) -> Result<Ingested> {
        self.usage.shard = Some(shard);
        self.unknown_items = self.unknown_items.lazy().filter(shard.expr()).collect()?;
        fn keep<T>(v: Vec<T>, shard: Shard, id: impl Fn(&T) -> &str) -> Result<Vec<T>> {
            let ids: Vec<&str> = v.iter().map(&id).collect();
            let k = shard.keeps(&ids)?;
            Ok(v.into_iter()
                .zip(k)
                .filter(|(_, k)| *k)
                .map(|(x, _)| x)
                .collect())
        }
        self.packages = keep(self.packages, shard, |p| &p.account_id)?;
        self.accounts = keep(self.accounts, shard, |a| &a.account_id)?;
        self.subscriptions = keep(self.subscriptions, shard, |s| &s.account_id)?;
        Ok(self)
    }
}

// ---------------------------------------------------------------------------
// Field specifications
// ---------------------------------------------------------------------------

/// How a field is checked and parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Text; `required` means non-empty.
    Text,
    /// ISO 8601 with an offset -> `NAME__t` (µs UTC).
    Time,
    /// Plain non-negative decimal, at most 6 places -> `NAME__m` (micro-units).
    Dec,
    /// `true` / `false` -> `NAME__b`.
    Bool,
}

impl Kind {
    /// What a Parquet column of this kind may be, for error messages.
    fn wanted(self) -> &'static str {
        match self {
            Kind::Text => "text (use a String column)",
            Kind::Time => "a timestamp (use a time-zone-aware Datetime or ISO 8601 text)",
            Kind::Dec => "a decimal (use a Decimal, integer or plain-decimal String column)",
            Kind::Bool => "a boolean (use a Boolean or true/false String column)",
        }
    }
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn f(name: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        name,
        kind,
        required,
    }
}

const USAGE: &[Field] = &[
    f("event_id", Kind::Text, true),
    f("account_id", Kind::Text, true),
    f("item", Kind::Text, true),
    f("event_time", Kind::Time, true),
    f("status", Kind::Text, true),
    f("quantity", Kind::Dec, false),
    f("input_seconds", Kind::Dec, false),
    f("output_seconds", Kind::Dec, false),
    f("preview_only", Kind::Bool, false),
    f("region", Kind::Text, false),
    f("resolution", Kind::Text, false),
];
const PACKAGES: &[Field] = &[
    f("package_id", Kind::Text, true),
    f("account_id", Kind::Text, true),
    f("item", Kind::Text, true),
    f("kind", Kind::Text, true),
    f("size", Kind::Dec, true),
    f("remaining", Kind::Dec, true),
    f("effective_at", Kind::Time, true),
    f("expires_at", Kind::Time, true),
    f("price", Kind::Dec, false),
    f("currency", Kind::Text, false),
    f("refunded_at", Kind::Time, false),
    f("remaining_measure", Kind::Dec, false),
];
const ACCOUNTS: &[Field] = &[
    f("account_id", Kind::Text, true),
    f("product", Kind::Text, true),
    f("postpaid_enabled", Kind::Bool, false),
    f("billing_mode", Kind::Text, false),
    f("suspended_from", Kind::Time, false),
    f("suspended_until", Kind::Time, false),
];
const SUBSCRIPTIONS: &[Field] = &[
    f("subscription_id", Kind::Text, true),
    f("account_id", Kind::Text, true),
    f("item", Kind::Text, true),
    f("quantity", Kind::Dec, true),
    f("term", Kind::Text, true),
    f("starts_at", Kind::Time, true),
    f("ends_at", Kind::Time, true),
];

/// Names of the helper columns of a field: reason, instant, micro-units, boolean.
fn r(name: &str) -> String {
    format!("{name}__r")
}
fn t(name: &str) -> String {
    format!("{name}__t")
}
fn m(name: &str) -> String {
    format!("{name}__m")
}
fn b(name: &str) -> String {
    format!("{name}__b")
}
/// Whether a non-text field has a value (non-blank text or a non-null typed value).
fn p(name: &str) -> String {
    format!("{name}__p")
}
/// A non-text field's column as read, kept for the text of failing rows.
fn raw(name: &str) -> String {
    format!("{name}__raw")
}

/// Index of the file in its table (file order).
const FIDX: &str = "__fidx";
/// Row index inside the file, 0-based, as polars reads it (blank CSV lines included).
const IDX: &str = "__idx";
/// Whether every field of a small table's row is fine ([`fields_ok`]).
const OK: &str = "__ok";

const MICRO: i64 = 1_000_000;
/// `FIDX * ROW_KEY + IDX` identifies a row of a table.
const ROW_KEY: i64 = 1 << 40;
/// Seeds of the event-id hash (any fixed values: the hash only picks candidates).
const ID_SEEDS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xbf58_476d_1ce4_e5b9,
    0x94d0_49bb_1331_11eb,
    0x2545_f491_4f6c_dd1d,
];
/// Seeds of the account hash that assigns accounts to shards.
const SHARD_SEEDS: [u64; 4] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
];
/// Integer units a decimal may reach (12 integer digits).
const MAX_UNITS: i64 = 1_000_000_000_000;

/// A reject: `file, row, column, value, reason`.
type Reject = (String, i64, String, Option<String>, String);

/// Collapse a (possibly multi-line) message to one line.
fn one_line(msg: impl Display) -> String {
    msg.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Collect on the streaming engine: memory follows the result, not the input.
fn collect_streaming(lf: LazyFrame) -> PolarsResult<DataFrame> {
    Ok(lf.collect_with_engine(Engine::Streaming)?.unwrap_single())
}

// ---------------------------------------------------------------------------
// Finding and opening files
// ---------------------------------------------------------------------------

/// The files of a table: `NAME.parquet`, `NAME.csv` or a directory `NAME/`.
fn table_files(dir: &Path, name: &str) -> Result<Option<Vec<PathBuf>>> {
    let pq = dir.join(format!("{name}.parquet"));
    let csv = dir.join(format!("{name}.csv"));
    let sub = dir.join(name);
    let found: Vec<PathBuf> = [pq, csv].into_iter().filter(|p| p.is_file()).collect();
    if found.len() > 1 {
        return Err(Error::input(
            dir,
            format!("both {name}.parquet and {name}.csv exist: keep one"),
        ));
    }
    if !sub.is_dir() {
        return Ok((!found.is_empty()).then_some(found));
    }
    if !found.is_empty() {
        return Err(Error::input(
            dir,
            format!("both {name}/ and a {name} file exist: keep one"),
        ));
    }
    let entries =
        std::fs::read_dir(&sub).map_err(|e| Error::input(&sub, format!("cannot list: {e}")))?;
    let mut parts = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::input(&sub, format!("cannot list: {e}")))?
            .path();
        if path.is_file()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("csv" | "parquet")
            )
        {
            parts.push(path);
        }
    }
    // Same directory: sorting the paths sorts by file name.
    parts.sort();
    if parts.is_empty() {
        return Err(Error::input(
            &sub,
            "directory holds no .csv or .parquet part files",
        ));
    }
    Ok(Some(parts))
}

fn is_csv(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("csv")
}

/// Size and SHA-256 of a file (Parquet; CSV gets them from [`scan_csv_bytes`]).
fn hash_file(path: &Path) -> Result<FileInfo> {
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(FileInfo {
        path: path.to_path_buf(),
        bytes,
        sha256: format!("{:x}", hasher.finalize()),
        rows: 0,
    })
}

/// How a CSV file's rows, in polars' numbering, map to the file's lines.
#[derive(Debug, Default)]
struct CsvLayout {
    /// Line of the first row after the header.
    first_line: i64,
    /// Row indices of blank lines (polars reads them as all-null rows; they are dropped).
    blank: Vec<i64>,
    /// `(row index, extra lines)`: from that row on, add the lines earlier
    /// quoted line breaks took. Ascending.
    shifts: Vec<(i64, i64)>,
    /// Data records, blank lines excluded.
    records: u64,
}

/// Where the rows of one file are: the number to report for a row index.
enum RowNumbers {
    Csv(CsvLayout),
    Parquet,
}

impl RowNumbers {
    /// CSV: the 1-based line the row starts on (the header is line 1).
    /// Parquet: the 1-based row index.
    fn row(&self, idx: i64) -> i64 {
        match self {
            RowNumbers::Parquet => idx + 1,
            RowNumbers::Csv(l) => {
                let k = l.shifts.partition_point(|(from, _)| *from <= idx);
                let extra = if k == 0 { 0 } else { l.shifts[k - 1].1 };
                l.first_line + idx + extra
            }
        }
    }
}

/// State of [`scan_csv_bytes`]: splits records the way polars does
/// (separator `,`, quote `"` only at the start of a field, `""` inside a
/// quoted field, records end at `\n` outside quotes, a `\r` before it ignored).
struct CsvScan {
    line: i64,
    rec_line: i64,
    seps: usize,
    rec_bytes: u64,
    field_start: bool,
    quoted: bool,
    in_quotes: bool,
    header_width: Option<usize>,
    row: i64,
    extra: i64,
    layout: CsvLayout,
}

impl CsvScan {
    fn new() -> CsvScan {
        CsvScan {
            line: 1,
            rec_line: 1,
            seps: 0,
            rec_bytes: 0,
            field_start: true,
            quoted: false,
            in_quotes: false,
            header_width: None,
            row: 0,
            extra: 0,
            layout: CsvLayout::default(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        for &c in bytes {
            match c {
                b'\n' => {
                    self.line += 1;
                    if self.in_quotes {
                        self.rec_bytes += 1;
                    } else {
                        self.end_record()?;
                    }
                    continue;
                }
                b',' if !self.in_quotes => {
                    self.seps += 1;
                    self.rec_bytes += 1;
                    self.field_start = true;
                    self.quoted = false;
                    continue;
                }
                b'"' if self.field_start => {
                    self.quoted = true;
                    self.in_quotes = true;
                }
                b'"' if self.quoted => self.in_quotes = !self.in_quotes,
                _ => {}
            }
            if c != b'\r' {
                self.rec_bytes += 1;
            }
            self.field_start = false;
        }
        Ok(())
    }

    fn end_record(&mut self) -> std::result::Result<(), String> {
        let fields = self.seps + 1;
        let blank = self.rec_bytes == 0;
        match self.header_width {
            None if blank => {
                return Err(format!("line {}: the header line is empty", self.rec_line))
            }
            None => {
                self.header_width = Some(fields);
                self.layout.first_line = self.line;
            }
            Some(_) if blank => {
                self.layout.blank.push(self.row);
                self.row += 1;
            }
            Some(width) => {
                if fields != width {
                    return Err(format!(
                        "line {}: malformed CSV record: {fields} fields where the header has {width}",
                        self.rec_line
                    ));
                }
                self.layout.records += 1;
                self.row += 1;
                let span = self.line - self.rec_line;
                if span > 1 {
                    self.extra += span - 1;
                    self.layout.shifts.push((self.row, self.extra));
                }
            }
        }
        self.rec_line = self.line;
        self.seps = 0;
        self.rec_bytes = 0;
        self.field_start = true;
        self.quoted = false;
        Ok(())
    }

    fn finish(mut self) -> std::result::Result<CsvLayout, String> {
        if self.in_quotes {
            return Err(format!(
                "line {}: a quoted field is never closed",
                self.rec_line
            ));
        }
        if self.rec_bytes > 0 || self.seps > 0 {
            // Last record without a line break.
            self.line += 1;
            self.end_record()?;
        }
        if self.header_width.is_none() {
            return Err("empty file: no header line".into());
        }
        Ok(self.layout)
    }
}

/// One pass over a CSV file: size, SHA-256, UTF-8 check and [`CsvLayout`].
/// A ragged record, invalid UTF-8 or an unclosed quote is an error naming the line.
fn scan_csv_bytes(path: &Path) -> Result<(FileInfo, CsvLayout)> {
    let err = |msg: String| Error::input(path, msg);
    let mut file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    // Bytes of a UTF-8 sequence cut by the previous read, kept at the front of `buf`.
    let mut carry = 0usize;
    let mut bytes = 0u64;
    let mut scan = CsvScan::new();
    loop {
        let n = file
            .read(&mut buf[carry..])
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[carry..carry + n]);
        let all = &buf[..carry + n];
        let keep = match std::str::from_utf8(all) {
            Ok(_) => 0,
            Err(e) if e.error_len().is_none() => all.len() - e.valid_up_to(),
            Err(e) => {
                let line = scan.line
                    + all[..e.valid_up_to()]
                        .iter()
                        .filter(|&&c| c == b'\n')
                        .count() as i64;
                return Err(err(format!("line {line}: not valid UTF-8 text")));
            }
        };
        scan.feed(&buf[carry..carry + n]).map_err(err)?;
        let end = carry + n;
        buf.copy_within(end - keep..end, 0);
        carry = keep;
    }
    if carry > 0 {
        return Err(err(format!(
            "line {}: not valid UTF-8 text (cut at the end of the file)",
            scan.line
        )));
    }
    let layout = scan.finish().map_err(err)?;
    let info = FileInfo {
        path: path.to_path_buf(),
        bytes,
        sha256: format!("{:x}", hasher.finalize()),
        rows: layout.records,
    };
    Ok((info, layout))
}

/// The header of a CSV file (quotes and a byte-order mark handled).
fn csv_header(path: &Path) -> Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| Error::input(path, one_line(e)))?;
    let header = reader.headers().map_err(|e| {
        Error::input(
            path,
            format!("line 1: cannot read the header: {}", one_line(e)),
        )
    })?;
    Ok(header
        .iter()
        .map(|s| s.trim_start_matches('\u{feff}').to_string())
        .collect())
}

/// The line a byte offset of a file is on.
fn line_at(path: &Path, byte: u64) -> Option<u64> {
    let mut file = std::fs::File::open(path).ok()?.take(byte);
    let mut buf = vec![0u8; 1 << 16];
    let mut line = 1u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            return Some(line);
        }
        line += buf[..n].iter().filter(|&&c| c == b'\n').count() as u64;
    }
}

/// After polars fails on a CSV file, find its first malformed record with the
/// `csv` crate. Lines come from the record's byte offset (csv-core's own line
/// count skips line breaks inside quoted fields).
fn csv_problem(path: &Path) -> Option<Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .ok()?;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().and_then(|p| line_at(path, p.byte()));
                let what = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("{len} fields where the header has {expected_len}")
                    }
                    _ => one_line(&e),
                };
                let line = at.map(|l| format!("line {l}: ")).unwrap_or_default();
                return Some(Error::input(
                    path,
                    format!("{line}malformed CSV record: {what}"),
                ));
            }
        }
    }
}

/// One opened input file of a table.
struct Source {
    path: PathBuf,
    info: FileInfo,
    rows: RowNumbers,
    /// The raw scan.
    lf: LazyFrame,
    schema: Schema,
}

/// Check that a Parquet column can hold a field.
fn check_column(path: &Path, fld: &Field, dtype: &DataType, opts: &IngestOptions) -> Result<()> {
    let name = fld.name;
    let ok = match (fld.kind, dtype) {
        (_, DataType::Null | DataType::String) => true,
        (Kind::Text, d) => d.is_integer(),
        (Kind::Dec, d) if d.is_float() => {
            return Err(Error::input(
                path,
                format!(
                    "column {name}: {dtype}: float money/quantity refused: use Decimal or integer"
                ),
            ))
        }
        (Kind::Dec, d) => d.is_integer() || d.is_decimal(),
        (Kind::Bool, DataType::Boolean) => true,
        (Kind::Time, DataType::Datetime(_, Some(_))) => true,
        (Kind::Time, DataType::Datetime(_, None)) => {
            if opts.assume_offset.is_none() {
                return Err(Error::input(
                    path,
                    format!(
                        "column {name}: naive timestamp (Datetime without a time zone): \
                         store time-zone-aware timestamps or state the zone (--assume-tz)"
                    ),
                ));
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            path,
            format!(
                "column {name}: a {dtype} column cannot hold {}",
                fld.kind.wanted()
            ),
        ))
    }
}

/// Open one file: check its header or schema, count its rows.
fn open_source(path: &Path, fields: &[Field], table: &str, opts: &IngestOptions) -> Result<Source> {
    let pl_path = PlRefPath::try_from_path(path).map_err(|e| Error::input(path, one_line(e)))?;
    if is_csv(path) {
        let (info, layout) = scan_csv_bytes(path)?;
        let header = csv_header(path)?;
        let missing: Vec<&str> = fields
            .iter()
            .filter(|f| f.required && !header.iter().any(|h| h == f.name))
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::input(
                path,
                format!(
                    "line 1: the {table} header lacks required column(s): {}",
                    missing.join(", ")
                ),
            ));
        }
        let mut lf = LazyCsvReader::new(pl_path)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .finish()
            .map_err(|e| csv_problem(path).unwrap_or_else(|| Error::input(path, one_line(e))))?;
        let schema = lf
            .collect_schema()
            .map_err(|e| csv_problem(path).unwrap_or_else(|| Error::input(path, one_line(e))))?;
        return Ok(Source {
            path: path.to_path_buf(),
            info,
            rows: RowNumbers::Csv(layout),
            lf,
            schema: (*schema).clone(),
        });
    }
    let mut info = hash_file(path)?;
    let bad = |e: PolarsError| Error::input(path, format!("cannot read Parquet: {}", one_line(e)));
    let mut lf = LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()).map_err(bad)?;
    let schema = (*lf.collect_schema().map_err(bad)?).clone();
    let missing: Vec<&str> = fields
        .iter()
        .filter(|f| f.required && schema.get(f.name).is_none())
        .map(|f| f.name)
        .collect();
    if !missing.is_empty() {
        return Err(Error::input(
            path,
            format!(
                "the {table} file lacks required column(s): {}",
                missing.join(", ")
            ),
        ));
    }
    for fld in fields {
        if let Some(dtype) = schema.get(fld.name) {
            check_column(path, fld, dtype, opts)?;
        }
    }
    // Parquet knows its row count: this reads the metadata only.
    let n = lf
        .clone()
        .select([len().cast(DataType::Int64).alias("n")])
        .collect()
        .map_err(bad)?;
    info.rows = n.column("n")?.i64()?.get(0).unwrap_or(0) as u64;
    Ok(Source {
        path: path.to_path_buf(),
        info,
        rows: RowNumbers::Parquet,
        lf,
        schema,
    })
}

// ---------------------------------------------------------------------------
// Field expressions
// ---------------------------------------------------------------------------

/// At most 6 significant fraction digits (trailing zeros are fine), at most 12 integer digits.
const DEC_OK: &str = r"^[0-9]{1,12}(\.[0-9]{0,6}0*)?$";
const DEC_NAN: &str = r"(?i)^[+-]?(nan|inf|infinity)$";
const DEC_EXP: &str = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+$";
const DEC_NEG: &str = r"^-([0-9]+\.?[0-9]*|\.[0-9]+)$";
const DEC_PLUS: &str = r"^\+([0-9]+\.?[0-9]*|\.[0-9]+)$";
const DEC_NO_INT: &str = r"^\.[0-9]+$";
const DEC_BIG: &str = r"^[0-9]{13,}(\.[0-9]*)?$";
const DEC_PLACES: &str = r"^[0-9]{1,12}\.[0-9]*$";
const TIME_OFFSET: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})$";
const TIME_NAIVE: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?$";

const NAIVE_REASON: &str = "naive_timestamp: no offset (use --assume-tz to state the zone)";

fn null_str() -> Expr {
    lit(NULL).cast(DataType::String)
}

fn null_i64() -> Expr {
    lit(NULL).cast(DataType::Int64)
}

fn matches(text: &Expr, re: &str) -> Expr {
    text.clone().str().contains(lit(re), true)
}

/// A literal list of texts, for `is_in`.
pub(crate) fn str_list(items: &[&str]) -> Expr {
    lit(Series::new("".into(), items)).implode(false)
}

/// Micro-units of a text that matched [`DEC_OK`]: integer digits and the
/// fraction padded (or cut, only zeros beyond 6) to 6 digits, as one integer.
fn micro_of(text: Expr) -> Expr {
    let int = text.clone().str().extract(lit(r"^([0-9]+)"), 1);
    let frac = text
        .str()
        .extract(lit(r"\.([0-9]{0,6})"), 1)
        .fill_null(lit(""))
        .str()
        .pad_end(lit(6), '0');
    concat_str([int, frac], "", false).cast(DataType::Int64)
}

fn strptime(format: &str) -> StrptimeOptions {
    StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache: false,
    }
}

/// Instant (µs UTC) of a text that matched [`TIME_OFFSET`]; null if the calendar values are impossible.
fn instant_of(text: Expr) -> Expr {
    let norm = text
        .str()
        .replace(lit(" "), lit("T"), true)
        .str()
        .replace(lit("Z$"), lit("+00:00"), false)
        .str()
        .replace(lit(r"([+-][0-9]{2})([0-9]{2})$"), lit("${1}:${2}"), false);
    norm.str()
        .to_datetime(
            Some(TimeUnit::Microseconds),
            Some(TimeZone::UTC),
            strptime("%Y-%m-%dT%H:%M:%S%.f%:z"),
            lit("raise"),
        )
        .cast(DataType::Int64)
}

/// Instant (µs UTC) of a text that matched [`TIME_NAIVE`], read as local time at `offset`.
fn naive_instant_of(text: Expr, offset: i32) -> Expr {
    text.str()
        .replace(lit(" "), lit("T"), true)
        .str()
        .to_datetime(
            Some(TimeUnit::Microseconds),
            None,
            strptime("%Y-%m-%dT%H:%M:%S%.f"),
            lit("raise"),
        )
        .cast(DataType::Int64)
        - lit(i64::from(offset) * MICRO)
}

/// The reason a decimal text fails (null when it is fine or empty).
fn decimal_reason(text: &Expr) -> Expr {
    when(matches(text, DEC_OK))
        .then(null_str())
        .when(matches(text, DEC_NAN))
        .then(lit("bad_decimal: NaN or infinity is not a number"))
        .when(matches(text, DEC_EXP))
        .then(lit("bad_decimal: exponent notation is not a plain decimal"))
        .when(matches(text, DEC_NEG))
        .then(lit("negative: must be zero or more"))
        .when(matches(text, DEC_PLUS))
        .then(lit("bad_decimal: a sign is not allowed"))
        .when(matches(text, DEC_NO_INT))
        .then(lit("bad_decimal: needs a digit before the decimal point"))
        .when(matches(text, DEC_BIG))
        .then(lit("bad_decimal: more than 12 integer digits"))
        .when(matches(text, DEC_PLACES))
        .then(lit("bad_decimal: more than 6 decimal places (not rounded)"))
        .otherwise(lit("bad_decimal: not a plain decimal number"))
}

/// The columns of one field in one file: its text (named as the field, null
/// when absent or blank) and the parsed column of its kind (null when the
/// text does not parse). Reasons come later, from these columns only, and
/// only for rows that fail ([`field_ok`], [`field_reason`]).
///
/// With `micro` false, a decimal's parsed column only tells whether its
/// text is a plain decimal (0 if so, else null): the small tables read
/// their decimals from the text, and working out the micro-units (two
/// pattern extractions per value) was a seventh of reading them.
fn parsed_exprs(
    fld: &Field,
    dtype: Option<&DataType>,
    opts: &IngestOptions,
    micro: bool,
) -> Vec<Expr> {
    let name = fld.name;
    let text = text_of(col(name), dtype);
    let parsed = match fld.kind {
        Kind::Text => None,
        Kind::Bool => {
            let lower = text.clone().str().to_lowercase();
            Some(
                when(lower.clone().eq(lit("true")))
                    .then(lit(true))
                    .when(lower.eq(lit("false")))
                    .then(lit(false))
                    .otherwise(lit(NULL).cast(DataType::Boolean))
                    .alias(b(name)),
            )
        }
        Kind::Dec => Some(
            when(matches(&text, DEC_OK))
                .then(if micro {
                    micro_of(text.clone())
                } else {
                    lit(0i64)
                })
                .otherwise(null_i64())
                .alias(m(name)),
        ),
        Kind::Time => Some(
            match dtype {
                Some(DataType::Datetime(_, Some(_))) => col(name)
                    .cast(DataType::Datetime(
                        TimeUnit::Microseconds,
                        Some(TimeZone::UTC),
                    ))
                    .cast(DataType::Int64),
                // Only reached with an assumed offset (checked with the schema).
                Some(DataType::Datetime(_, None)) => {
                    col(name)
                        .cast(DataType::Datetime(TimeUnit::Microseconds, None))
                        .cast(DataType::Int64)
                        - lit(i64::from(opts.assume_offset.unwrap_or(0)) * MICRO)
                }
                _ => {
                    let from_naive = match opts.assume_offset {
                        Some(o) => when(matches(&text, TIME_NAIVE))
                            .then(naive_instant_of(text.clone(), o))
                            .otherwise(null_i64()),
                        None => null_i64(),
                    };
                    when(matches(&text, TIME_OFFSET))
                        .then(instant_of(text.clone()))
                        .otherwise(from_naive)
                }
            }
            .alias(t(name)),
        ),
    };
    let mut out = vec![text.clone().alias(name)];
    if fld.kind != Kind::Text {
        out.push(text.is_not_null().alias(p(name)));
    }
    out.extend(parsed);
    out
}

/// The columns of one field for the event-level scan, without its text
/// unless it is a text field: the presence flag and the parsed column, read
/// straight from typed Parquet columns (no text round trip), and the raw
/// column as `NAME__raw` for [`text_of_raw`] on the rows that fail.
fn fast_exprs(fld: &Field, dtype: Option<&DataType>, opts: &IngestOptions) -> Vec<Expr> {
    let name = fld.name;
    let parsed = match (fld.kind, dtype) {
        (Kind::Dec, Some(d)) if d.is_integer() => {
            let v = col(name).cast(DataType::Int64);
            Some(
                when(v.clone().gt_eq(lit(0i64)).and(v.clone().lt(lit(MAX_UNITS))))
                    .then(v * lit(MICRO))
                    .otherwise(null_i64()),
            )
        }
        (Kind::Dec, Some(DataType::Decimal(_, scale))) if *scale <= 6 => {
            let v = col(name)
                .cast(DataType::Decimal(38, 6))
                .to_physical()
                .cast(DataType::Int64);
            Some(
                when(
                    v.clone()
                        .gt_eq(lit(0i64))
                        .and(v.clone().lt(lit(MAX_UNITS * MICRO))),
                )
                .then(v)
                .otherwise(null_i64()),
            )
        }
        (Kind::Bool, Some(DataType::Boolean)) => Some(col(name)),
        _ => None,
    };
    let Some(parsed) = parsed else {
        // Text fields, text columns, times and wide decimals: the usual
        // expressions, with a non-text field's text swapped for its raw
        // column (the text is rebuilt from it for failing rows only).
        let mut v = parsed_exprs(fld, dtype, opts, true);
        if fld.kind != Kind::Text {
            v[0] = match dtype {
                None => null_str(),
                Some(_) => col(name),
            }
            .alias(raw(name));
        }
        return v;
    };
    let suffix = match fld.kind {
        Kind::Dec => m(name),
        _ => b(name),
    };
    vec![
        col(name).alias(raw(name)),
        col(name).is_not_null().alias(p(name)),
        parsed.alias(suffix),
    ]
}

/// The text of a column read as `dtype` (`None`: absent): stripped, blank as null.
fn text_of(column: Expr, dtype: Option<&DataType>) -> Expr {
    let raw = match dtype {
        None | Some(DataType::Null) => null_str(),
        Some(DataType::String) => column,
        // polars' own text, made faster (a sixth of reading the small tables).
        Some(DataType::Datetime(unit, Some(tz))) if tz.as_str() == "UTC" => {
            let unit = *unit;
            column.map(
                move |c| Ok(crate::output::utc_column_text(&c, unit)?.into_column()),
                text_field,
            )
        }
        Some(_) => column.cast(DataType::String),
    };
    raw.map(|c| Ok(stripped_text(c.str()?).into_column()), text_field)
}

/// The field of a column made text by [`text_of`]: its name, as String.
fn text_field(_: &Schema, f: &polars::prelude::Field) -> PolarsResult<polars::prelude::Field> {
    Ok(polars::prelude::Field::new(
        f.name().clone(),
        DataType::String,
    ))
}

/// `s` without leading and trailing whitespace (as `str::trim`, which is
/// polars' `strip_chars` without a pattern), blank as null. A batch with
/// nothing to strip or null (the usual case) is returned as it is, without
/// building a new array.
fn stripped_text(ca: &StringChunked) -> StringChunked {
    // A value is clean when it is not empty and starts and ends with an
    // ASCII character that is not whitespace, else when `trim` leaves it
    // whole (a non-empty value it leaves whole is not blank).
    let edge_ok = |b: u8| b.is_ascii() && !b.is_ascii_whitespace();
    let clean = |s: &str| match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&z)) => (edge_ok(a) && edge_ok(z)) || s.trim().len() == s.len(),
        _ => false,
    };
    // Array by array, the non-null values only.
    let all_clean = ca
        .downcast_iter()
        .all(|arr| arr.non_null_values_iter().all(clean));
    if all_clean {
        return ca.clone();
    }
    ca.iter()
        .map(|v| v.map(str::trim).filter(|s| !s.is_empty()))
        .collect::<StringChunked>()
        .with_name(ca.name().clone())
}

/// The text of a non-text field from its raw column (`NAME__raw`), as
/// [`parsed_exprs`] makes it.
fn text_of_raw(fld: &Field, dtype: Option<&DataType>) -> Expr {
    text_of(col(raw(fld.name)), dtype).alias(fld.name)
}

/// Whether a field of a normalised row is fine: present when required, and
/// parsed when present. Never null.
fn field_ok(fld: &Field) -> Expr {
    let name = fld.name;
    let present = match fld.kind {
        Kind::Text => col(name).is_not_null(),
        _ => col(p(name)),
    };
    let parsed = match fld.kind {
        Kind::Text => present.clone(),
        Kind::Time => col(t(name)).is_not_null(),
        Kind::Dec => col(m(name)).is_not_null(),
        Kind::Bool => col(b(name)).is_not_null(),
    };
    match (fld.required, fld.kind) {
        (true, _) => parsed,
        (false, Kind::Text) => lit(true),
        (false, _) => present.not().or(parsed),
    }
}

/// Why a field of a normalised row fails ([`field_ok`]), null when it does not.
fn field_reason(fld: &Field, opts: &IngestOptions) -> Expr {
    let name = fld.name;
    let text = col(name);
    let when_missing = if fld.required {
        lit("missing_value: required")
    } else {
        null_str()
    };
    let when_present = match fld.kind {
        Kind::Text => null_str(),
        Kind::Bool => when(col(b(name)).is_null())
            .then(lit("bad_bool: expected true or false"))
            .otherwise(null_str()),
        Kind::Dec => decimal_reason(&text),
        Kind::Time => when(col(t(name)).is_not_null())
            .then(null_str())
            .when(matches(&text, TIME_NAIVE).and(lit(opts.assume_offset.is_none())))
            .then(lit(NAIVE_REASON))
            .otherwise(lit(
                "bad_timestamp: not an ISO 8601 date-time with an offset",
            )),
    };
    when(text.is_null())
        .then(when_missing)
        .otherwise(when_present)
        .alias(r(name))
}

/// Every field fine.
fn fields_ok(fields: &[Field]) -> Expr {
    fields
        .iter()
        .map(field_ok)
        .reduce(|a, e| a.and(e))
        .unwrap_or(lit(true))
}

/// Add the reason column of every field.
fn with_reasons(lf: LazyFrame, fields: &[Field], opts: &IngestOptions) -> LazyFrame {
    lf.with_columns(
        fields
            .iter()
            .map(|f| field_reason(f, opts))
            .collect::<Vec<_>>(),
    )
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// A table: its files and the normalised rows of all of them, lazily.
struct Table {
    name: String,
    /// What errors about the whole table name: the file, or the `NAME/` directory.
    path: PathBuf,
    sources: Vec<Source>,
    /// Several Parquet files of one schema are read as one multi-file scan
    /// (polars then reads a few files ahead, not all at once: concatenated
    /// per-file scans held hundreds of MB per file). Its row index runs
    /// across the files: `FIDX` is 0 and `IDX` is that global index.
    merged: Option<Merged>,
    /// `FIDX, IDX`, then per field its text and parsed columns.
    frame: LazyFrame,
}

struct Merged {
    source: Source,
    /// First global row of each file, in file order.
    offsets: Vec<i64>,
}

impl Table {
    /// What to normalise: the merged scan, else every file with its index.
    fn units(&self) -> Vec<(i64, &Source)> {
        match &self.merged {
            Some(m) => vec![(0, &m.source)],
            None => self
                .sources
                .iter()
                .enumerate()
                .map(|(i, s)| (i as i64, s))
                .collect(),
        }
    }

    /// The file and reported row number of a row.
    fn locate(&self, fidx: i64, idx: i64) -> (String, i64) {
        let (k, line) = self.locate_at(fidx, idx);
        (self.file_name(k), line)
    }

    /// [`Table::locate`] with the file as its index in `sources` (`None`:
    /// the table's own path), so a caller can name it once per file.
    fn locate_at(&self, fidx: i64, idx: i64) -> (Option<usize>, i64) {
        if let Some(m) = &self.merged {
            let k = m.offsets.partition_point(|&o| o <= idx).saturating_sub(1);
            return (Some(k), self.sources[k].rows.row(idx - m.offsets[k]));
        }
        match usize::try_from(fidx)
            .ok()
            .filter(|&i| i < self.sources.len())
        {
            Some(i) => (Some(i), self.sources[i].rows.row(idx)),
            None => (None, idx + 1),
        }
    }

    /// The name a message gives file `k` of [`Table::locate_at`].
    fn file_name(&self, k: Option<usize>) -> String {
        match k {
            Some(k) => self.sources[k].path.display().to_string(),
            None => self.path.display().to_string(),
        }
    }

    fn read(&self) -> u64 {
        self.sources.iter().map(|s| s.info.rows).sum()
    }

    fn files(&self) -> Vec<FileInfo> {
        self.sources.iter().map(|s| s.info.clone()).collect()
    }

    /// An input error for a polars failure while reading the table: the first
    /// malformed CSV record when the `csv` crate finds one, else polars' message.
    fn read_error(&self, e: PolarsError) -> Error {
        self.sources
            .iter()
            .filter(|s| is_csv(&s.path))
            .find_map(|s| csv_problem(&s.path))
            .unwrap_or_else(|| {
                Error::input(
                    &self.path,
                    format!("cannot read the {} table: {}", self.name, one_line(e)),
                )
            })
    }
}

/// Normalise one file: row position, then the expressions of every field
/// (decimals checked, not converted: [`parsed_exprs`]; the usage scan
/// makes its own).
fn normalize(src: &Source, fidx: i64, fields: &[Field], opts: &IngestOptions) -> LazyFrame {
    let exprs = fields
        .iter()
        .flat_map(|fld| parsed_exprs(fld, src.schema.get(fld.name), opts, false));
    indexed(src, fidx, exprs)
}

/// The raw columns [`fast_exprs`] adds.
fn raw_cols(fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| f.kind != Kind::Text)
        .map(|f| raw(f.name))
        .collect()
}

/// One file's rows (blank CSV lines left out) with `FIDX`, `IDX` and `exprs`.
fn indexed(src: &Source, fidx: i64, exprs: impl Iterator<Item = Expr>) -> LazyFrame {
    raw_rows(src).select(indexed_exprs(fidx, exprs))
}

/// One file's raw rows (blank CSV lines left out) with their index `IDX`.
fn raw_rows(src: &Source) -> LazyFrame {
    let mut lf = src.lf.clone().with_row_index(IDX, None);
    if let RowNumbers::Csv(layout) = &src.rows {
        if !layout.blank.is_empty() {
            let blank = lit(Series::new("".into(), layout.blank.as_slice())).implode(false);
            lf = lf.filter(col(IDX).cast(DataType::Int64).is_in(blank, false).not());
        }
    }
    lf
}

/// `FIDX`, `IDX` and `exprs`, over [`raw_rows`].
fn indexed_exprs(fidx: i64, exprs: impl Iterator<Item = Expr>) -> Vec<Expr> {
    let mut all = vec![
        lit(fidx).cast(DataType::Int64).alias(FIDX),
        col(IDX).cast(DataType::Int64).alias(IDX),
    ];
    all.extend(exprs);
    all
}

/// Find, open and normalise every file of a table (`None`: an optional table that is absent).
fn scan_table(
    dir: &Path,
    table: &str,
    fields: &[Field],
    required: bool,
    opts: &IngestOptions,
) -> Result<Option<Table>> {
    let Some(files) = table_files(dir, table)? else {
        if required {
            return Err(Error::input(
                dir.join(table),
                format!("required table {table} not found: expected {table}.parquet, {table}.csv or a {table}/ directory"),
            ));
        }
        return Ok(None);
    };
    let path = if files.len() == 1 {
        files[0].clone()
    } else {
        dir.join(table)
    };
    // In parallel: each Parquet file is hashed (SHA-256) for the manifest.
    let sources = files
        .par_iter()
        .map(|p| open_source(p, fields, table, opts))
        .collect::<Result<Vec<_>>>()?;
    let merged = merge_parquet(&sources, &path)?;
    let mut t = Table {
        name: table.to_string(),
        path,
        sources,
        merged,
        frame: LazyFrame::default(),
    };
    let frames: Vec<LazyFrame> = t
        .units()
        .into_iter()
        .map(|(i, s)| normalize(s, i, fields, opts))
        .collect();
    t.frame = concat(frames, UnionArgs::default())?;
    Ok(Some(t))
}

/// One multi-file scan for two or more Parquet files of the same schema.
fn merge_parquet(sources: &[Source], path: &Path) -> Result<Option<Merged>> {
    let all_parquet = sources
        .iter()
        .all(|s| matches!(s.rows, RowNumbers::Parquet));
    if sources.len() < 2 || !all_parquet || sources.iter().any(|s| s.schema != sources[0].schema) {
        return Ok(None);
    }
    let paths = sources
        .iter()
        .map(|s| PlRefPath::try_from_path(&s.path).map_err(|e| Error::input(&s.path, one_line(e))))
        .collect::<Result<Vec<_>>>()?;
    let lf = LazyFrame::scan_parquet_files(paths.into(), ScanArgsParquet::default())
        .map_err(|e| Error::input(path, format!("cannot read Parquet: {}", one_line(e))))?;
    let mut offsets = Vec::with_capacity(sources.len());
    let mut at = 0i64;
    for s in sources {
        offsets.push(at);
        at += s.info.rows as i64;
    }
    Ok(Some(Merged {
        source: Source {
            path: path.to_path_buf(),
            info: sources[0].info.clone(),
            rows: RowNumbers::Parquet,
            lf,
            schema: sources[0].schema.clone(),
        },
        offsets,
    }))
}

fn reason_cols(fields: &[Field]) -> Vec<String> {
    fields.iter().map(|f| r(f.name)).collect()
}

/// Rejects (one per failing field) of collected bad rows.
fn push_rejects(
    out: &mut Vec<Reject>,
    table: &Table,
    bad: &DataFrame,
    fields: &[Field],
) -> Result<()> {
    let fidx = bad.column(FIDX)?.i64()?;
    let idx = bad.column(IDX)?.i64()?;
    for fld in fields {
        let reasons = bad.column(&r(fld.name))?.str()?;
        let values = bad.column(fld.name)?.str()?;
        for i in 0..bad.height() {
            if let Some(reason) = reasons.get(i) {
                let (file, row) = table.locate(fidx.get(i).unwrap_or(0), idx.get(i).unwrap_or(0));
                out.push((
                    file,
                    row,
                    fld.name.to_string(),
                    values.get(i).map(str::to_string),
                    reason.to_string(),
                ));
            }
        }
    }
    Ok(())
}

/// Read and validate the input directory.
pub fn ingest(input: &Path, catalog: &Catalog, opts: &IngestOptions) -> Result<Ingested> {
    ingest_timed(input, catalog, opts, &mut Timings::default())
}

/// [`ingest`], timing its stages (`scan_validate`, `dedupe`, `small_tables`).
pub fn ingest_timed(
    input: &Path,
    catalog: &Catalog,
    opts: &IngestOptions,
    timings: &mut Timings,
) -> Result<Ingested> {
    if !input.is_dir() {
        return Err(Error::input(input, "input directory not found"));
    }
    let mut rejects: Vec<Reject> = Vec::new();
    let mut stats = Vec::new();

    let usage = read_usage(input, catalog, opts, &mut rejects, &mut stats, timings)?;
    // Packages on one core while accounts and then subscriptions are read
    // on the other (at 100,000 accounts, 200k rows each, and building the
    // typed rows is one thread's work); each keeps its own rejects and
    // counts, added in table order, and the first table's error wins, as
    // when they were read one after another.
    let (packages, accounts, subscriptions) = timings.time("small_tables", || {
        let read_packages = || {
            small_table(
                input,
                "packages",
                PACKAGES,
                true,
                opts,
                Unique {
                    column: "package_id",
                    reason: "duplicate_package_id",
                    key: |p: &Package| p.package_id.clone(),
                },
                |row, rej| package_row(catalog, row, rej),
            )
        };
        let read_accounts = || {
            small_table(
                input,
                "accounts",
                ACCOUNTS,
                false,
                opts,
                Unique {
                    column: "product",
                    reason: "duplicate_account_product",
                    key: |a: &AccountSetting| format!("{}\u{0}{}", a.account_id, a.product),
                },
                |row, rej| account_row(catalog, row, rej),
            )
        };
        let read_subscriptions = || {
            small_table(
                input,
                "subscriptions",
                SUBSCRIPTIONS,
                false,
                opts,
                Unique {
                    column: "subscription_id",
                    reason: "duplicate_subscription_id",
                    key: |s: &Subscription| s.subscription_id.clone(),
                },
                |row, rej| subscription_row(catalog, row, rej),
            )
        };
        let (packages, rest) = rayon::join(read_packages, || -> Result<_> {
            // Subscriptions are not read past an error in accounts, as before.
            let accounts = read_accounts()?;
            Ok((accounts, read_subscriptions()?))
        });
        let (packages, (accounts, subscriptions)) = (packages?, rest?);
        let packages = kept_rows(packages, &mut rejects, &mut stats);
        let accounts = kept_rows(accounts, &mut rejects, &mut stats);
        let subscriptions = kept_rows(subscriptions, &mut rejects, &mut stats);
        Ok((packages, accounts, subscriptions))
    })?;
    rejects.sort();
    let rejects = df!(
        "file" => rejects.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
        "row" => rejects.iter().map(|x| x.1).collect::<Vec<_>>(),
        "column" => rejects.iter().map(|x| x.2.clone()).collect::<Vec<_>>(),
        "value" => rejects.iter().map(|x| x.3.clone()).collect::<Vec<_>>(),
        "reason" => rejects.iter().map(|x| x.4.clone()).collect::<Vec<_>>(),
    )?;
    Ok(Ingested {
        usage: usage.scan,
        event_ids: usage.event_ids,
        variants: usage.variants,
        packages,
        accounts,
        subscriptions,
        rejects,
        duplicates: usage.duplicates,
        unknown_items: usage.unknown_items,
        stats,
    })
}

/// A small table's rows, its rejects and counts added to the run's.
fn kept_rows<T>(
    (rows, r, s): SmallTable<T>,
    rejects: &mut Vec<Reject>,
    stats: &mut Vec<TableStats>,
) -> Vec<T> {
    rejects.extend(r);
    stats.push(s);
    rows
}

// ---------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------

struct Usage {
    scan: UsageScan,
    event_ids: EventIds,
    variants: DataFrame,
    duplicates: DataFrame,
    unknown_items: DataFrame,
}

/// Item ids of the catalog whose measure is one of `measures`.
fn items_measuring(catalog: &Catalog, measures: &[Measure]) -> Vec<String> {
    catalog
        .products
        .iter()
        .flat_map(|p| p.items.iter())
        .filter(|i| measures.contains(&i.measure))
        .map(|i| i.id.clone())
        .collect()
}

fn string_list(items: &[String]) -> Expr {
    lit(Series::new("".into(), items)).implode(false)
}

/// Whether `text` is one of `items`: for a few items, equality with each
/// (a comparison of each row's inline prefix, mostly), for more a look-up
/// of every row in a table of them (`is_in`). Null where `text` is null,
/// but for no items at all (false), which a check only ever ANDs with.
fn one_of(text: Expr, items: &[String]) -> Expr {
    if items.len() > 8 {
        return text.is_in(string_list(items), false);
    }
    items
        .iter()
        .map(|i| text.clone().eq(lit(i.as_str())))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

/// A usage check beyond the fields' own: where it fails (never null), the
/// field it is reported on and why.
struct Check {
    field: &'static str,
    fails: Expr,
    reason: &'static str,
}

/// The usage checks that need the catalog or the period.
fn usage_checks(catalog: &Catalog, opts: &IngestOptions) -> Vec<Check> {
    let items = catalog.item_ids();
    let needs_input = items_measuring(
        catalog,
        &[Measure::InputPlusOutputSeconds, Measure::InputSeconds],
    );
    let needs_output = items_measuring(
        catalog,
        &[Measure::InputPlusOutputSeconds, Measure::OutputSeconds],
    );
    let time = || col("event_time__t");
    let checks = [
        (
            "item",
            col("item").is_in(string_list(&items), false).not(),
            "unknown_item: not in the catalog",
        ),
        (
            "status",
            one_of(col("status"), &["success".into(), "failed".into()]).not(),
            "bad_status: expected success or failed",
        ),
        (
            "event_time",
            time()
                .lt(lit(opts.period_start))
                .or(time().gt_eq(lit(opts.period_end))),
            "outside_period: event time is not in the period (billing time zone)",
        ),
        (
            "input_seconds",
            col(p("input_seconds"))
                .not()
                .and(one_of(col("item"), &needs_input)),
            "missing_value: input_seconds is required for this item",
        ),
        (
            "output_seconds",
            col(p("output_seconds"))
                .not()
                .and(one_of(col("item"), &needs_output)),
            "missing_value: output_seconds is required for this item",
        ),
    ];
    checks
        .into_iter()
        .map(|(field, fails, reason)| Check {
            field,
            // A null operand (an absent value, reported by its own field) is no failure here.
            fails: fails.fill_null(lit(false)),
            reason,
        })
        .collect()
}

fn read_usage(
    input: &Path,
    catalog: &Catalog,
    opts: &IngestOptions,
    rejects: &mut Vec<Reject>,
    stats: &mut Vec<TableStats>,
    timings: &mut Timings,
) -> Result<Usage> {
    let table = scan_table(input, "usage", USAGE, true, opts)?
        .ok_or_else(|| Error::input(input.join("usage"), "required table usage not found"))?;
    let checks = usage_checks(catalog, opts);
    // Cheap on every row: parsed columns and set lookups, no reason text.
    let is_valid = checks
        .iter()
        .fold(fields_ok(USAGE), |acc, c| acc.and(c.fails.clone().not()));
    let raws = raw_cols(USAGE);
    // Per scan unit: raw rows, the expressions that parse them, the raw
    // account type (kept for the kept rows' scans, [`UsageScan`]).
    let units: Vec<(LazyFrame, Vec<Expr>, Option<DataType>)> = table
        .units()
        .into_iter()
        .map(|(i, src)| {
            let parse = USAGE
                .iter()
                .flat_map(|fld| fast_exprs(fld, src.schema.get(fld.name), opts));
            (
                raw_rows(src),
                indexed_exprs(i, parse),
                src.schema.get("account_id").cloned(),
            )
        })
        .collect();
    let fast: Vec<(LazyFrame, &Source)> = units
        .iter()
        .zip(table.units())
        .map(|((rows, parse, _), (_, src))| (rows.clone().select(parse.clone()), src))
        .collect();

    // The bad rows (few), with their reasons, for rejects and the
    // unknown-item summary: the text of typed columns is made for them only.
    // A check's reason is added where the field has none.
    let bad_frames = fast
        .iter()
        .map(|(lf, src)| {
            lf.clone()
                .filter(is_valid.clone().not())
                .with_columns(
                    USAGE
                        .iter()
                        .filter(|f| f.kind != Kind::Text)
                        .map(|f| text_of_raw(f, src.schema.get(f.name)))
                        .collect::<Vec<_>>(),
                )
                .drop(cols(raws.clone()))
        })
        .collect::<Vec<_>>();
    let bad_rows = with_reasons(concat(bad_frames, UnionArgs::default())?, USAGE, opts)
        .with_columns(
            checks
                .iter()
                .map(|c| {
                    let rc = r(c.field);
                    when(col(rc.as_str()).is_null().and(c.fails.clone()))
                        .then(lit(c.reason))
                        .otherwise(col(rc.as_str()))
                        .alias(rc)
                })
                .collect::<Vec<_>>(),
        );

    // The valid rows. Which event ids may repeat is found from a 64-bit hash
    // of each: one scan of every row streams the hash of each valid row into
    // a vector (8 bytes a row, sorted afterwards: far less memory than a hash
    // table of the ids) and counts the invalid rows. A repeated hash only
    // makes its rows candidates; the exact text decides below, so a hash
    // collision can never merge two events. Only when some row is invalid
    // does a second scan collect the bad rows with their reasons.
    let id_hash = || col("event_id").hash(ID_SEEDS[0], ID_SEEDS[1], ID_SEEDS[2], ID_SEEDS[3]);
    let all = concat(
        fast.iter()
            .map(|(lf, _)| lf.clone().drop(cols(raws.clone())))
            .collect::<Vec<_>>(),
        UnionArgs::default(),
    )?;
    let (hashes, invalid, pairs) = timings.time("scan_validate", || {
        id_hashes(
            all.clone().select([
                when(is_valid.clone())
                    .then(id_hash())
                    .otherwise(lit(NULL).cast(DataType::UInt64))
                    .alias("_h"),
                col("region"),
                col("resolution"),
            ]),
            table.read() as usize,
        )
        .map_err(|e| table.read_error(e))
    })?;
    let valid_rows = hashes.len() as u64;
    let repeated = timings.time("sort_ids", || Ok(repeated_hashes(hashes)))?;
    let bad = if invalid > 0 {
        timings.time("rejects", || {
            collect_streaming(bad_rows).map_err(|e| table.read_error(e))
        })?
    } else {
        collect_streaming(bad_rows.slice(0, 0)).map_err(|e| table.read_error(e))?
    };
    push_rejects(rejects, &table, &bad, USAGE)?;
    let unknown_items = unknown_items(&bad)?;

    // The rejected rows by row key: later scans leave them out by a filter
    // on these keys ([`exclude`]) instead of evaluating the checks again.
    let mut invalid_keys = Vec::with_capacity(bad.height());
    if bad.height() > 0 {
        let fidx = bad.column(FIDX)?.i64()?;
        let idx = bad.column(IDX)?.i64()?;
        for r in 0..bad.height() {
            if let (Some(f), Some(i)) = (fidx.get(r), idx.get(r)) {
                invalid_keys.push(f * ROW_KEY + i);
            }
        }
    }
    // Only with repeats: where each candidate id occurs, exactly.
    let (duplicates, dropped) = timings.time("dedupe", || {
        if repeated.is_empty() {
            return Ok((duplicate_frame(Vec::new())?, Vec::new()));
        }
        // A semi join builds the candidate set once (an `is_in` literal
        // would be rebuilt for every batch).
        let cands = df!("_h" => repeated)?;
        let rows = collect_streaming(
            without(all.clone(), &invalid_keys)
                .select([col("event_id"), col(FIDX), col(IDX), id_hash().alias("_h")])
                .join(
                    cands.lazy(),
                    [col("_h")],
                    [col("_h")],
                    JoinArgs::new(JoinType::Semi),
                )
                .select([col("event_id"), col(FIDX), col(IDX)]),
        )
        .map_err(|e| table.read_error(e))?;
        duplicate_rows(&table, &rows)
    })?;

    let read = table.read();
    let rejected = bad.height() as u64;
    let dup_count = duplicates.height() as u64;
    if read != rejected + valid_rows {
        return Err(Error::input(
            &table.path,
            format!(
                "polars read {} rows where the files hold {read}: unusual line endings or quoting?",
                rejected + valid_rows
            ),
        ));
    }
    stats.push(TableStats {
        table: "usage".into(),
        files: table.files(),
        read,
        accepted: valid_rows - dup_count,
        rejected,
        duplicates: dup_count,
    });

    // The rows kept: every row but the rejected and the dropped duplicates,
    // both known by row key now. The checks are not evaluated again (the
    // parsed columns of a valid row are the same either way).
    let mut excluded = dropped;
    excluded.extend(invalid_keys);
    let scan = UsageScan {
        rows: UsageRows::Units {
            units,
            raws,
            excluded: std::sync::Arc::new(excluded),
        },
        shard: None,
    };
    // Event ids by row key and the distinct (region, resolution) pairs, from
    // the raw columns of each scan unit (a projection: only those are read).
    let event_ids = EventIds {
        units: table
            .units()
            .into_iter()
            .map(|(i, src)| {
                (
                    indexed(src, i, std::iter::once(col("event_id")))
                        .select([row_key(), col("event_id")]),
                    src.schema.get("event_id").cloned(),
                )
            })
            .collect(),
    };
    // The distinct (region, resolution) pairs of every row, valid or not,
    // sorted (no region or resolution first).
    let (region, resolution): (Vec<Option<String>>, Vec<Option<String>>) =
        pairs.into_iter().unzip();
    let variants = df!("region" => region, "resolution" => resolution)?;
    Ok(Usage {
        scan,
        event_ids,
        variants,
        duplicates,
        unknown_items,
    })
}

/// Stream `_h` (the id hash of a valid row, null for an invalid one) into a
/// vector; also count the invalid rows, and gather the distinct (`region`,
/// `resolution`) pairs of every row.
#[allow(clippy::type_complexity)]
fn id_hashes(
    lf: LazyFrame,
    capacity: usize,
) -> PolarsResult<(Vec<u64>, u64, BTreeSet<(Option<String>, Option<String>)>)> {
    use std::sync::{Arc, Mutex};
    type Acc = (Vec<u64>, u64, BTreeSet<(Option<String>, Option<String>)>);
    let acc: Arc<Mutex<Acc>> = Arc::new(Mutex::new((
        Vec::with_capacity(capacity),
        0,
        BTreeSet::new(),
    )));
    let sink = Arc::clone(&acc);
    lf.sink_batches(
        PlanCallback::new(move |df: DataFrame| {
            let h = df.column("_h")?.u64()?.clone();
            let (region, resolution) =
                (df.column("region")?.str()?, df.column("resolution")?.str()?);
            // A batch's pairs first (most rows have neither), then the
            // new ones kept.
            let n = df.height();
            let mut bare = false;
            let mut seen: PlHashSet<(Option<&str>, Option<&str>)> = PlHashSet::default();
            if region.null_count() == n && resolution.null_count() == n {
                bare = n > 0;
            } else {
                for (g, s) in region.iter().zip(resolution.iter()) {
                    match (g, s) {
                        (None, None) => bare = true,
                        pair => {
                            seen.insert(pair);
                        }
                    }
                }
            }
            let mut g = sink.lock().expect("no panics while held");
            for arr in h.downcast_iter() {
                for x in arr.iter() {
                    match x {
                        Some(v) => g.0.push(*v),
                        None => g.1 += 1,
                    }
                }
            }
            if bare {
                g.2.insert((None, None));
            }
            for (a, b) in seen {
                g.2.insert((a.map(str::to_string), b.map(str::to_string)));
            }
            Ok(false)
        }),
        false,
        None,
    )?
    .collect_with_engine(Engine::Streaming)?;
    let out = std::mem::take(&mut *acc.lock().expect("no panics while held"));
    Ok(out)
}

/// The hashes that occur more than once, sorted.
fn repeated_hashes(mut v: Vec<u64>) -> Vec<u64> {
    v.par_sort_unstable();
    let mut out: Vec<u64> = v
        .par_windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    out.dedup();
    out
}

/// Usage rows whose only problem is an unknown item, per account and item.
fn unknown_items(bad: &DataFrame) -> Result<DataFrame> {
    let only_item = reason_cols(USAGE)
        .iter()
        .filter(|n| n.as_str() != "item__r")
        .fold(
            col("item__r").str().starts_with(lit("unknown_item")),
            |acc, n| acc.and(col(n.as_str()).is_null()),
        );
    Ok(bad
        .clone()
        .lazy()
        .filter(only_item)
        .group_by([col("account_id"), col("item")])
        .agg([
            when(len().eq(lit(1)))
                .then(col("event_id").first())
                .otherwise(null_str())
                .alias("event_id"),
            col("event_time__t").min().alias("event_time"),
            col("quantity__m")
                .fill_null(lit(MICRO))
                .sum()
                .alias("quantity_micro"),
            len().cast(DataType::Int64).alias("events"),
        ])
        .sort(["account_id", "item"], SortMultipleOptions::default())
        .collect()?)
}

type DupRow = (String, i64, String, String, i64);

fn duplicate_frame(mut rows: Vec<DupRow>) -> Result<DataFrame> {
    rows.sort();
    Ok(df!(
        "file" => rows.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
        "row" => rows.iter().map(|x| x.1).collect::<Vec<_>>(),
        "event_id" => rows.iter().map(|x| x.2.clone()).collect::<Vec<_>>(),
        "first_file" => rows.iter().map(|x| x.3.clone()).collect::<Vec<_>>(),
        "first_row" => rows.iter().map(|x| x.4).collect::<Vec<_>>(),
    )?)
}

/// From every occurrence of the repeated ids: the duplicates table and the
/// row keys to drop (all but the first by file, then row).
fn duplicate_rows(table: &Table, occurrences: &DataFrame) -> Result<(DataFrame, Vec<i64>)> {
    let sorted = occurrences.sort([FIDX, IDX], SortMultipleOptions::default())?;
    let id = sorted.column("event_id")?.str()?;
    let fidx = sorted.column(FIDX)?.i64()?;
    let idx = sorted.column(IDX)?.i64()?;
    let mut first: BTreeMap<&str, (String, i64)> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut dropped = Vec::new();
    for i in 0..sorted.height() {
        let (Some(eid), Some(fi), Some(ix)) = (id.get(i), fidx.get(i), idx.get(i)) else {
            continue;
        };
        let (file, row) = table.locate(fi, ix);
        match first.get(eid) {
            Some((ff, fr)) => {
                rows.push((file, row, eid.to_string(), ff.clone(), *fr));
                dropped.push(fi * ROW_KEY + ix);
            }
            None => {
                first.insert(eid, (file, row));
            }
        }
    }
    Ok((duplicate_frame(rows)?, dropped))
}

// ---------------------------------------------------------------------------
// Small tables
// ---------------------------------------------------------------------------

/// One collected row of a small table: text (borrowed from the collected
/// frame), parsed values and reasons by field, in field order (a dozen
/// fields: a short list, not a map, per row).
struct Row<'a> {
    file: &'a str,
    row: i64,
    text: Vec<(&'static str, Option<&'a str>)>,
    time: Vec<(&'static str, Option<Micros>)>,
    boolean: Vec<(&'static str, Option<bool>)>,
    reason: Vec<(&'static str, Option<&'a str>)>,
}

/// The value of field `k` in a row's list.
fn field<T: Copy>(v: &[(&'static str, Option<T>)], k: &str) -> Option<Option<T>> {
    // Names are short: compared here byte by byte, which costs less than
    // a call to `memcmp` for each name of the same length (a sixth of
    // building 400k small-table rows).
    let same = |n: &str| n.len() == k.len() && n.bytes().zip(k.bytes()).all(|(a, b)| a == b);
    v.iter().find(|(n, _)| same(n)).map(|(_, x)| *x)
}

impl Row<'_> {
    /// The text of a field (null when absent or blank).
    fn s(&self, k: &str) -> Option<String> {
        field(&self.text, k).flatten().map(str::to_string)
    }
    /// Whether a field passed its own check.
    fn ok(&self, k: &str) -> bool {
        field(&self.reason, k).is_some_and(|r| r.is_none())
    }
    /// The flag of a boolean field (null when absent or unreadable).
    fn boolean(&self, k: &str) -> Option<bool> {
        field(&self.boolean, k).flatten()
    }
    /// The exact decimal of a field that passed its check.
    fn dec(&self, k: &str) -> Option<Decimal> {
        self.ok(k)
            .then(|| self.s(k))
            .flatten()
            .and_then(|v| Decimal::from_str(&v).ok())
    }
    /// The instant of a field that passed its check.
    fn time(&self, k: &str) -> Option<Micros> {
        self.ok(k).then(|| field(&self.time, k).flatten()).flatten()
    }
    /// The text of a field that passed its check.
    fn good(&self, k: &str) -> Option<String> {
        self.ok(k).then(|| self.s(k)).flatten()
    }
}

/// A row's list of one kind of field, values still unset ([`refill`]).
fn slots<'a, T: PolarsDataType>(
    columns: &[(&'static str, &'a ChunkedArray<T>)],
) -> Vec<(&'static str, Option<T::Physical<'a>>)> {
    columns.iter().map(|(k, _)| (*k, None)).collect()
}

/// Each field's value in row `i` of its column, into a row's list made by
/// [`slots`] for these columns.
fn refill<'a, T: PolarsDataType>(
    slots: &mut [(&'static str, Option<T::Physical<'a>>)],
    columns: &[(&'static str, &'a ChunkedArray<T>)],
    i: usize,
) {
    for (slot, (_, c)) in slots.iter_mut().zip(columns) {
        slot.1 = c.get(i);
    }
}

/// Rejects of one row: (column, reason).
type RowRejects = Vec<(&'static str, String)>;

/// A uniqueness rule: a later row with the same key is rejected on `column`.
struct Unique<T> {
    column: &'static str,
    reason: &'static str,
    key: fn(&T) -> String,
}

/// A small table's typed rows, its rejects and its counts.
type SmallTable<T> = (Vec<T>, Vec<Reject>, TableStats);

/// Read a small table and build its typed rows; `build` adds its own rejects
/// and returns a value only for a row with none.
fn small_table<T>(
    dir: &Path,
    name: &str,
    fields: &'static [Field],
    required: bool,
    opts: &IngestOptions,
    unique: Unique<T>,
    mut build: impl FnMut(&Row, &mut RowRejects) -> Option<T>,
) -> Result<SmallTable<T>> {
    let mut rejects = Vec::new();
    let Some(table) = scan_table(dir, name, fields, required, opts)? else {
        let stats = TableStats {
            table: name.into(),
            ..Default::default()
        };
        return Ok((Vec::new(), rejects, stats));
    };
    // Every field's reason only for the rows with a field that fails (a
    // reason is a chain of `when`s and patterns, which polars works out
    // for every row it is given: a third of reading 400k rows).
    let df = table
        .frame
        .clone()
        .with_column(fields_ok(fields).alias(OK))
        .collect()
        .map_err(|e| table.read_error(e))?;
    let ok = df.column(OK)?.bool()?;
    let failing = with_reasons(df.filter(&!ok)?.lazy(), fields, opts)
        .collect()
        .map_err(|e| table.read_error(e))?;
    let fidx = df.column(FIDX)?.i64()?;
    let idx = df.column(IDX)?.i64()?;
    let mut texts = Vec::new();
    let mut reasons = Vec::new();
    let mut times = Vec::new();
    let mut bools = Vec::new();
    for fld in fields {
        texts.push((fld.name, df.column(fld.name)?.str()?));
        reasons.push((fld.name, failing.column(&r(fld.name))?.str()?));
        match fld.kind {
            Kind::Time => times.push((fld.name, df.column(&t(fld.name))?.i64()?)),
            Kind::Bool => bools.push((fld.name, df.column(&b(fld.name))?.bool()?)),
            Kind::Text | Kind::Dec => {}
        }
    }
    // Room for every row up front (200k package rows at 100k accounts):
    // grown by doubling, the rows and the keys seen were copied and
    // rehashed again and again.
    let mut out = Vec::with_capacity(df.height());
    let mut rejected = 0u64;
    // Each file named once; rows borrow the name.
    let names: Vec<String> = (0..table.sources.len())
        .map(|k| table.file_name(Some(k)))
        .collect();
    let own_name = table.file_name(None);
    let mut seen: PlHashMap<String, (&str, i64)> =
        PlHashMap::with_capacity_and_hasher(df.height(), Default::default());
    // One row's lists, refilled for each row (the fields never change).
    let mut row = Row {
        file: &own_name,
        row: 0,
        text: slots(&texts),
        time: slots(&times),
        boolean: slots(&bools),
        reason: slots(&reasons),
    };
    // The failing rows' reasons, in row order.
    let mut failed = 0..failing.height();
    for i in 0..df.height() {
        let (file, line) = table.locate_at(fidx.get(i).unwrap_or(0), idx.get(i).unwrap_or(0));
        row.file = file.map_or(own_name.as_str(), |k| names[k].as_str());
        row.row = line;
        refill(&mut row.text, &texts, i);
        refill(&mut row.time, &times, i);
        refill(&mut row.boolean, &bools, i);
        match ok.get(i) {
            Some(true) => row.reason.iter_mut().for_each(|(_, v)| *v = None),
            _ => {
                let j = failed.next().expect("a failing row has its reasons");
                refill(&mut row.reason, &reasons, j);
            }
        }
        let row = &row;
        let mut rej: RowRejects = row
            .reason
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v.to_string())))
            .collect();
        let built = build(row, &mut rej).filter(|_| rej.is_empty());
        if let Some(x) = &built {
            let key = (unique.key)(x);
            if let Some((f, l)) = seen.get(&key) {
                rej.push((
                    unique.column,
                    format!("{}: first at {f} row {l}", unique.reason),
                ));
            } else {
                seen.insert(key, (row.file, row.row));
            }
        }
        match built {
            Some(x) if rej.is_empty() => out.push(x),
            _ => {
                rejected += 1;
                if rej.is_empty() {
                    rej.push(("", "invalid_row: cannot be read".into()));
                }
                for (c, reason) in rej {
                    rejects.push((
                        row.file.to_string(),
                        row.row,
                        c.to_string(),
                        row.s(c),
                        reason,
                    ));
                }
            }
        }
    }
    let stats = TableStats {
        table: name.into(),
        files: table.files(),
        read: table.read(),
        accepted: out.len() as u64,
        rejected,
        duplicates: 0,
    };
    Ok((out, rejects, stats))
}

fn currency_list() -> String {
    catalog::CURRENCIES
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

fn package_row(cat: &Catalog, row: &Row, rej: &mut RowRejects) -> Option<Package> {
    let item = row.good("item");
    let unit_size = item.as_deref().and_then(|i| match cat.item(i) {
        Some((_, it)) => Some(it.unit_size),
        None => {
            rej.push(("item", "unknown_item: not in the catalog".into()));
            None
        }
    });
    let kind = row.good("kind").and_then(|k| {
        let parsed = PackageKind::parse(&k);
        if parsed.is_none() {
            rej.push((
                "kind",
                "bad_kind: expected free, campaign or prepaid".into(),
            ));
        }
        parsed
    });
    let (size, remaining) = (row.dec("size"), row.dec("remaining"));
    if size.is_some_and(|s| s <= Decimal::ZERO) {
        rej.push(("size", "bad_size: must be more than zero".into()));
    }
    if let (Some(s), Some(rem)) = (size, remaining) {
        if rem > s {
            rej.push((
                "remaining",
                "bad_remaining: more than the package size".into(),
            ));
        }
    }
    let (eff, exp) = (row.time("effective_at"), row.time("expires_at"));
    if let (Some(a), Some(z)) = (eff, exp) {
        if a >= z {
            rej.push((
                "expires_at",
                "bad_window: expires_at must be after effective_at".into(),
            ));
        }
    }
    let currency = row.good("currency");
    if currency
        .as_deref()
        .is_some_and(|c| catalog::minor_units(c).is_none())
    {
        rej.push((
            "currency",
            format!("unknown_currency: expected one of {}", currency_list()),
        ));
    }
    let remaining_measure = row.dec("remaining_measure");
    if let (Some(rm), Some(unit), Some(s), Some(rem)) =
        (remaining_measure, unit_size, size, remaining)
    {
        // The exact balance must agree with `remaining` as written (6 places).
        let shown = (rm / unit)
            .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        if shown != rem.round_dp(6) || rm > s * unit {
            rej.push((
                "remaining_measure",
                "bad_remaining_measure: disagrees with remaining".into(),
            ));
        }
    }
    if !rej.is_empty() {
        return None;
    }
    Some(Package {
        package_id: row.good("package_id")?,
        account_id: row.good("account_id")?,
        item: item?,
        kind: kind?,
        size: size?,
        remaining: remaining?,
        remaining_measure,
        effective_at: eff?,
        expires_at: exp?,
        price: row.dec("price"),
        currency,
        refunded_at: row.time("refunded_at"),
        file: row.file.to_string(),
        row: u64::try_from(row.row).unwrap_or(0),
    })
}

fn account_row(cat: &Catalog, row: &Row, rej: &mut RowRejects) -> Option<AccountSetting> {
    let product = row.good("product");
    if product.as_deref().is_some_and(|p| cat.product(p).is_none()) {
        rej.push(("product", "unknown_product: not in the catalog".into()));
    }
    let mode = row.s("billing_mode").unwrap_or_else(|| "usage".into());
    if !matches!(mode.as_str(), "usage" | "concurrent" | "qps") {
        rej.push((
            "billing_mode",
            "bad_billing_mode: expected usage, concurrent or qps".into(),
        ));
    }
    let (from, until) = (row.time("suspended_from"), row.time("suspended_until"));
    if row.ok("suspended_from") && row.ok("suspended_until") {
        match (from, until) {
            (Some(a), Some(z)) if a >= z => rej.push((
                "suspended_until",
                "bad_window: suspended_until must be after suspended_from".into(),
            )),
            (Some(_), None) => rej.push((
                "suspended_until",
                "missing_value: a suspension needs both ends".into(),
            )),
            (None, Some(_)) => rej.push((
                "suspended_from",
                "missing_value: a suspension needs both ends".into(),
            )),
            _ => {}
        }
    }
    if !rej.is_empty() {
        return None;
    }
    Some(AccountSetting {
        account_id: row.good("account_id")?,
        product: product?,
        postpaid_enabled: row.boolean("postpaid_enabled"),
        billing_mode: mode,
        suspended_from: from,
        suspended_until: until,
    })
}

fn subscription_row(cat: &Catalog, row: &Row, rej: &mut RowRejects) -> Option<Subscription> {
    let item = row.good("item");
    let sub = item.as_deref().and_then(|i| match cat.subscription(i) {
        Some((_, s)) => Some(s),
        None => {
            rej.push((
                "item",
                "unknown_item: not a subscription item of the catalog".into(),
            ));
            None
        }
    });
    let quantity = row.dec("quantity");
    if let Some(q) = quantity {
        if q <= Decimal::ZERO {
            rej.push(("quantity", "bad_quantity: must be more than zero".into()));
        } else if let Some(max) = sub.and_then(|s| s.max_quantity) {
            if q > max {
                rej.push((
                    "quantity",
                    format!("over_max_quantity: at most {max} per account"),
                ));
            }
        }
    }
    let term = row.good("term");
    if let (Some(term), Some(sub)) = (&term, sub) {
        if !sub.terms.iter().any(|t| &t.term == term) {
            let terms: Vec<&str> = sub.terms.iter().map(|t| t.term.as_str()).collect();
            rej.push(("term", format!("bad_term: expected {}", terms.join(" or "))));
        }
    }
    let (start, end) = (row.time("starts_at"), row.time("ends_at"));
    if let (Some(a), Some(z)) = (start, end) {
        if a >= z {
            rej.push((
                "ends_at",
                "bad_window: ends_at must be after starts_at".into(),
            ));
        }
    }
    if !rej.is_empty() {
        return None;
    }
    Some(Subscription {
        subscription_id: row.good("subscription_id")?,
        account_id: row.good("account_id")?,
        item: item?,
        quantity: quantity?,
        term: term?,
        starts_at: start?,
        ends_at: end?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few items compared one by one give what `is_in` gives, nulls
    /// included (and false for no items at all, where `is_in` leaves a null
    /// row null); as a check (null read as false), the same for every list.
    #[test]
    fn one_of_a_few_items_is_is_in() {
        let texts: Vec<Option<&str>> = vec![
            Some("alibaba.ims.edit.hd"),
            None,
            Some("tencent.face_fusion.image_basic"),
            Some(""),
            Some("alibaba.ims.edit.4k"),
            Some("alib"),
            Some("success"),
            Some("failed"),
            Some("Success"),
        ];
        let df = df!("t" => texts).unwrap();
        let lists: Vec<Vec<String>> = vec![
            vec![],
            vec!["success".into(), "failed".into()],
            vec!["alibaba.ims.edit.hd".into()],
            (0..9).map(|k| format!("alibaba.ims.edit.{k}")).collect(),
            [
                "alibaba.ims.edit.hd",
                "alibaba.ims.edit.4k",
                "alib",
                "x",
                "y",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for items in &lists {
            let out = df
                .clone()
                .lazy()
                .select([
                    one_of(col("t"), items).alias("a"),
                    col("t").is_in(string_list(items), false).alias("b"),
                    one_of(col("t"), items).fill_null(lit(false)).alias("ca"),
                    col("t")
                        .is_in(string_list(items), false)
                        .fill_null(lit(false))
                        .alias("cb"),
                ])
                .collect()
                .unwrap();
            let got = |c: &str| -> Vec<Option<bool>> {
                out.column(c).unwrap().bool().unwrap().iter().collect()
            };
            assert_eq!(got("ca"), got("cb"), "{items:?}");
            if !items.is_empty() {
                assert_eq!(got("a"), got("b"), "{items:?}");
            }
        }
    }

    /// A batch's rows whose keys are excluded, and only those, are dropped,
    /// the keys at either end of the batch's range included, whatever the
    /// order of its rows; a batch with no excluded key keeps every row.
    #[test]
    fn a_batch_drops_exactly_its_excluded_rows() {
        let mask = |rows: &[Option<i64>], keys: &[i64]| -> Vec<Option<bool>> {
            kept_mask(&rows.iter().copied().collect(), keys)
                .iter()
                .collect()
        };
        let keys = [1, 3, 5, 7, 20];
        let (t, f) = (Some(true), Some(false));
        assert_eq!(
            mask(&[Some(3), Some(4), Some(5), Some(6), Some(7)], &keys),
            [f, t, f, t, f]
        );
        assert_eq!(mask(&[Some(7), Some(2), Some(3)], &keys), [f, t, f]);
        assert_eq!(mask(&[Some(8), None, Some(19)], &keys), [t, t, t]);
        assert_eq!(mask(&[Some(20), Some(0)], &keys), [f, t]);
        assert_eq!(mask(&[None, None], &keys), [t, t]);
        // As a filter over a frame of several chunks, the keys in any order
        // and repeated.
        let mut df = df!("_row" => [0i64, 1, 2]).unwrap();
        df.vstack_mut(&df!("_row" => [3i64, 4, 5, 6]).unwrap())
            .unwrap();
        let kept = exclude(df.lazy(), &[5, 4, 2, 4, 1]).collect().unwrap();
        let rows: Vec<_> = kept.column("_row").unwrap().i64().unwrap().iter().collect();
        assert_eq!(rows, [Some(0), Some(3), Some(6)]);
    }

    #[test]
    fn text_is_stripped_as_polars_strips_and_blank_is_null() {
        let clean: StringChunked = [Some("acct-1"), None, Some("a b"), Some("é")]
            .into_iter()
            .collect();
        let same = stripped_text(&clean);
        assert_eq!(
            same.iter().collect::<Vec<_>>(),
            clean.iter().collect::<Vec<_>>()
        );
        // Without nulls.
        let no_nulls: StringChunked = [Some("acct-1"), Some("x "), Some("y")]
            .into_iter()
            .collect();
        assert_eq!(
            stripped_text(&no_nulls).iter().collect::<Vec<_>>(),
            vec![Some("acct-1"), Some("x"), Some("y")]
        );
        let messy: StringChunked = [
            Some(" acct-1"),
            Some("x\t"),
            Some("   "),
            Some(""),
            None,
            Some("\u{3000}y\u{a0}"),
            Some("ok"),
        ]
        .into_iter()
        .collect();
        let got = stripped_text(&messy);
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            vec![
                Some("acct-1"),
                Some("x"),
                None,
                None,
                None,
                Some("y"),
                Some("ok")
            ]
        );
        // The same as the expression it stands for.
        let df = df!("v" => messy.into_series()).unwrap();
        let by_polars = df
            .lazy()
            .select([col("v").str().strip_chars(lit(NULL))])
            .collect()
            .unwrap();
        let by_polars: Vec<Option<String>> = by_polars
            .column("v")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.filter(|s| !s.is_empty()).map(str::to_string))
            .collect();
        let got: Vec<Option<String>> = got.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(got, by_polars);
    }
}
