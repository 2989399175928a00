//! Reading and validating the inputs.
//!
//! Every table is scanned lazily with polars (CSV as text, Parquet typed) and
//! normalised per file into text values plus parsed columns and a reason
//! column per checked field. The usage table stays lazy end to end: one pass
//! collects the (few) bad rows for `rejects`, one counts, one finds repeated
//! event ids, and the returned frame re-scans with the same expressions. The
//! small tables (packages, accounts, subscriptions) are collected and turned
//! into typed rows.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use polars::prelude::*;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::catalog::{self, Catalog, Measure};
use crate::error::{Error, Result};
use crate::model::{AccountSetting, Micros, Package, PackageKind, Subscription};

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

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn f(name: &'static str, kind: Kind, required: bool) -> Field {
    Field { name, kind, required }
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

/// Names of the helper columns of a field.
fn v(name: &str) -> String {
    name.to_string()
}
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

const MICRO: i64 = 1_000_000;

/// The files of a table: `NAME.parquet`, `NAME.csv` or a directory `NAME/`.
fn table_files(dir: &Path, name: &str) -> Result<Option<Vec<PathBuf>>> {
    let pq = dir.join(format!("{name}.parquet"));
    let csv = dir.join(format!("{name}.csv"));
    let sub = dir.join(name);
    let mut found = Vec::new();
    if pq.is_file() {
        found.push(pq.clone());
    }
    if csv.is_file() {
        found.push(csv.clone());
    }
    if found.len() > 1 {
        return Err(Error::input(
            dir,
            format!("both {name}.parquet and {name}.csv exist: keep one"),
        ));
    }
    if sub.is_dir() {
        if !found.is_empty() {
            return Err(Error::input(dir, format!("both {name}/ and a {name} file exist: keep one")));
        }
        let mut parts: Vec<PathBuf> = std::fs::read_dir(&sub)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("csv" | "parquet")))
            .collect();
        parts.sort();
        if parts.is_empty() {
            return Err(Error::input(&sub, "directory holds no .csv or .parquet part files"));
        }
        return Ok(Some(parts));
    }
    Ok((!found.is_empty()).then_some(found))
}

fn file_info(path: &Path) -> Result<FileInfo> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::input(path, e.to_string()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::input(path, e.to_string()))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    Ok(FileInfo {
        path: path.to_path_buf(),
        bytes,
        sha256: format!("{:x}", h.finalize()),
        rows: 0,
    })
}

fn is_csv(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("csv")
}

/// The header of a CSV file, or a clear error.
fn csv_header(path: &Path) -> Result<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| Error::input(path, e.to_string()))?;
    let h = r
        .headers()
        .map_err(|e| Error::input(path, format!("cannot read the header: {e}")))?;
    Ok(h.iter().map(|s| s.trim_start_matches('\u{feff}').to_string()).collect())
}

/// After polars fails on a CSV, find the first malformed record with the csv crate.
fn csv_error(path: &Path, polars_error: &PolarsError) -> Error {
    let mut r = match csv::ReaderBuilder::new().has_headers(true).from_path(path) {
        Ok(r) => r,
        Err(e) => return Error::input(path, e.to_string()),
    };
    let width = r.headers().map(|h| h.len()).unwrap_or(0);
    for rec in r.records() {
        match rec {
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Error::input(path, format!("line {line}: malformed CSV record: {e}"));
            }
            Ok(rec) if rec.len() != width => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                return Error::input(
                    path,
                    format!("line {line}: {} fields where the header has {width}", rec.len()),
                );
            }
            Ok(_) => {}
        }
    }
    Error::input(path, format!("cannot read: {polars_error}"))
}

/// Every CSV record must have the header's number of fields: a short or long
/// row is a malformed file, named by its line (polars would pad a short row).
fn check_csv_shape(path: &Path) -> Result<()> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .map_err(|e| Error::input(path, e.to_string()))?;
    let mut rec = csv::ByteRecord::new();
    loop {
        match r.read_byte_record(&mut rec) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let what = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("{len} fields where the header has {expected_len}")
                    }
                    _ => e.to_string(),
                };
                return Err(Error::input(path, format!("line {line}: malformed CSV record: {what}")));
            }
        }
    }
}

fn scan_file(path: &Path, fields: &[Field], table: &str) -> Result<(LazyFrame, Schema)> {
    let pl_path = PlRefPath::try_from_path(path).map_err(|e| Error::input(path, e.to_string()))?;
    let lf = if is_csv(path) {
        let header = csv_header(path)?;
        check_csv_shape(path)?;
        let missing: Vec<&str> = fields
            .iter()
            .filter(|f| f.required && !header.iter().any(|h| h == f.name))
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::input(
                path,
                format!("line 1: the {table} header lacks required column(s): {}", missing.join(", ")),
            ));
        }
        LazyCsvReader::new(pl_path)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_missing_is_null(true)
            .finish()
            .map_err(|e| Error::input(path, e.to_string()))?
    } else {
        LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())
            .map_err(|e| Error::input(path, format!("cannot read Parquet: {e}")))?
    };
    let mut lf = lf;
    let schema = lf
        .collect_schema()
        .map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    let schema = (*schema).clone();
    if !is_csv(path) {
        let missing: Vec<&str> = fields
            .iter()
            .filter(|f| f.required && schema.get(f.name).is_none())
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::input(
                path,
                format!("the {table} file lacks required column(s): {}", missing.join(", ")),
            ));
        }
    }
    Ok((lf, schema))
}

/// A plain decimal: digits, optional fraction; no sign, exponent or separators.
const DEC_RE: &str = r"^[0-9]{1,12}(\.[0-9]*)?$";
/// At most 6 significant fraction digits (trailing zeros are fine).
const DEC6_RE: &str = r"^[0-9]{1,12}(\.[0-9]{0,6}0*)?$";
const TIME_OFFSET_RE: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})$";
const TIME_NAIVE_RE: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?$";

fn reason_when(cond: Expr, reason: &str, otherwise: Expr) -> Expr {
    when(cond).then(lit(reason.to_string())).otherwise(otherwise)
}

fn null_str() -> Expr {
    lit(NULL).cast(DataType::String)
}

/// Micro-units of a validated decimal text.
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

/// Instant (µs UTC) of a validated ISO text with offset.
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
            StrptimeOptions {
                format: Some("%Y-%m-%dT%H:%M:%S%.f%:z".into()),
                strict: false,
                exact: true,
                cache: false,
            },
            lit("raise"),
        )
        .cast(DataType::Int64)
}

/// Instant (µs UTC) of a validated naive ISO text read at `offset`.
fn naive_instant_of(text: Expr, offset: i32) -> Expr {
    text.str()
        .replace(lit(" "), lit("T"), true)
        .str()
        .to_datetime(
            Some(TimeUnit::Microseconds),
            None,
            StrptimeOptions {
                format: Some("%Y-%m-%dT%H:%M:%S%.f".into()),
                strict: false,
                exact: true,
                cache: false,
            },
            lit("raise"),
        )
        .cast(DataType::Int64)
        - lit(i64::from(offset) * MICRO)
}

/// Normalise one file: text values, parsed columns and a reason per field.
fn normalize(
    path: &Path,
    file_idx: i64,
    lf: LazyFrame,
    schema: &Schema,
    fields: &[Field],
    opts: &IngestOptions,
) -> Result<LazyFrame> {
    let csv = is_csv(path);
    let mut exprs: Vec<Expr> = vec![
        lit(path.display().to_string()).alias("_file"),
        lit(file_idx).alias("_fidx"),
        (col("_row").cast(DataType::Int64) + lit(if csv { 2i64 } else { 1 })).alias("_row"),
    ];
    for fld in fields {
        let name = fld.name;
        let dtype = schema.get(name).cloned();
        // Text value of the cell (null when absent or empty).
        let text = match &dtype {
            None => null_str(),
            Some(DataType::String) => col(name),
            Some(DataType::Float32 | DataType::Float64) if fld.kind == Kind::Dec => {
                return Err(Error::input(
                    path,
                    format!("column {name}: float money/quantity refused: use Decimal or integer columns"),
                ))
            }
            Some(DataType::Datetime(_, _)) if fld.kind == Kind::Time => col(name).cast(DataType::String),
            Some(_) => col(name).cast(DataType::String),
        };
        let text = when(text.clone().str().len_chars().eq(lit(0)))
            .then(null_str())
            .otherwise(text.clone().str().strip_chars(lit(NULL)));
        exprs.push(text.clone().alias(v(name)));
        let missing = text.clone().is_null();
        let required = if fld.required {
            reason_when(missing.clone(), "missing_value: required", null_str())
        } else {
            null_str()
        };
        match fld.kind {
            Kind::Text => exprs.push(required.alias(r(name))),
            Kind::Bool => {
                let lower = text.clone().str().to_lowercase();
                let parsed = when(lower.clone().eq(lit("true")))
                    .then(lit(true))
                    .when(lower.clone().eq(lit("false")))
                    .then(lit(false))
                    .otherwise(lit(NULL).cast(DataType::Boolean));
                exprs.push(parsed.alias(b(name)));
                let reason = when(missing.clone().not().and(lower.is_in(lit(Series::new("".into(), ["true", "false"])).implode(false), false).not()))
                    .then(lit("bad_bool: expected true or false"))
                    .otherwise(required);
                exprs.push(reason.alias(r(name)));
            }
            Kind::Dec => {
                let ok = text.clone().str().contains(lit(DEC6_RE), true);
                let reason = when(missing.clone())
                    .then(required)
                    .when(ok.clone())
                    .then(null_str())
                    .when(text.clone().str().contains(lit(r"^[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+$"), true))
                    .then(lit("bad_decimal: exponent notation is not a plain decimal"))
                    .when(text.clone().str().starts_with(lit("-")))
                    .then(lit("negative: must be zero or more"))
                    .when(text.clone().str().contains(lit(DEC_RE), true))
                    .then(lit("bad_decimal: more than 6 decimal places (not rounded)"))
                    .otherwise(lit("bad_decimal: not a plain decimal number"));
                exprs.push(reason.alias(r(name)));
                exprs.push(
                    when(ok)
                        .then(micro_of(text.clone()))
                        .otherwise(lit(NULL).cast(DataType::Int64))
                        .alias(m(name)),
                );
            }
            Kind::Time => {
                let instant = match &dtype {
                    Some(DataType::Datetime(_, Some(_))) => col(name)
                        .cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
                        .cast(DataType::Int64),
                    Some(DataType::Datetime(_, None)) => match opts.assume_offset {
                        Some(o) => {
                            col(name).cast(DataType::Datetime(TimeUnit::Microseconds, None)).cast(DataType::Int64)
                                - lit(i64::from(o) * MICRO)
                        }
                        None => lit(NULL).cast(DataType::Int64),
                    },
                    _ => {
                        let aware = text.clone().str().contains(lit(TIME_OFFSET_RE), true);
                        let naive = text.clone().str().contains(lit(TIME_NAIVE_RE), true);
                        let none = lit(NULL).cast(DataType::Int64);
                        let fallback = match opts.assume_offset {
                            Some(o) => when(naive).then(naive_instant_of(text.clone(), o)).otherwise(none),
                            None => none,
                        };
                        when(aware).then(instant_of(text.clone())).otherwise(fallback)
                    }
                };
                let naive_typed = matches!(&dtype, Some(DataType::Datetime(_, None))) && opts.assume_offset.is_none();
                let naive_text = text.clone().str().contains(lit(TIME_NAIVE_RE), true);
                let reason = when(missing.clone())
                    .then(required)
                    .when(lit(naive_typed))
                    .then(lit("naive_timestamp: no offset (use --assume-tz to state the zone)"))
                    .when(instant.clone().is_null().and(naive_text))
                    .then(lit("naive_timestamp: no offset (use --assume-tz to state the zone)"))
                    .when(instant.clone().is_null())
                    .then(lit("bad_timestamp: not ISO 8601 with an offset"))
                    .otherwise(null_str());
                exprs.push(reason.alias(r(name)));
                exprs.push(instant.alias(t(name)));
            }
        }
    }
    Ok(lf.with_row_index("_row", None).select(exprs))
}

/// Scan and normalise every file of a table, concatenated in file order.
fn scan_table(
    dir: &Path,
    table: &str,
    fields: &[Field],
    required: bool,
    opts: &IngestOptions,
) -> Result<Option<(LazyFrame, Vec<FileInfo>)>> {
    let Some(files) = table_files(dir, table)? else {
        if required {
            return Err(Error::input(
                dir.join(format!("{table}.csv")),
                format!("required table {table} not found (as {table}.parquet, {table}.csv or {table}/)"),
            ));
        }
        return Ok(None);
    };
    let mut frames = Vec::new();
    let mut infos = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let (lf, schema) = scan_file(path, fields, table)?;
        // Count rows now: a corrupt or ragged file fails here, with its name.
        let rows = lf
            .clone()
            .select([len().alias("n")])
            .collect()
            .map_err(|e| if is_csv(path) { csv_error(path, &e) } else { Error::input(path, format!("cannot read: {e}")) })?;
        let n = rows.column("n")?.cast(&DataType::Int64)?.i64()?.get(0).unwrap_or(0);
        let mut info = file_info(path)?;
        info.rows = n as u64;
        infos.push(info);
        frames.push(normalize(path, i as i64, lf, &schema, fields, opts)?);
    }
    let lf = concat(frames, UnionArgs::default())?;
    Ok(Some((lf, infos)))
}

fn reason_cols(fields: &[Field]) -> Vec<String> {
    fields.iter().map(|f| r(f.name)).collect()
}

/// Null when every reason is null, else the first.
fn any_reason(names: &[String]) -> Expr {
    coalesce(&names.iter().map(|n| col(n.as_str())).collect::<Vec<_>>())
}

/// Reject rows (`file, row, column, value, reason`) from collected bad rows.
fn push_rejects(out: &mut Vec<(String, i64, String, Option<String>, String)>, bad: &DataFrame, fields: &[Field], extra: &[(&str, &str)]) -> Result<()> {
    let file = bad.column("_file")?.str()?.clone();
    let row = bad.column("_row")?.i64()?.clone();
    let mut cols: Vec<(String, String)> = fields.iter().map(|f| (f.name.to_string(), r(f.name))).collect();
    cols.extend(extra.iter().map(|(c, rc)| (c.to_string(), rc.to_string())));
    for (name, rname) in cols {
        let reasons = bad.column(&rname)?.str()?.clone();
        let values = bad.column(&name)?.cast(&DataType::String)?;
        let values = values.str()?;
        for i in 0..bad.height() {
            if let Some(reason) = reasons.get(i) {
                out.push((
                    file.get(i).unwrap_or_default().to_string(),
                    row.get(i).unwrap_or(0),
                    name.clone(),
                    values.get(i).map(str::to_string),
                    reason.to_string(),
                ));
            }
        }
    }
    Ok(())
}

fn str_series(items: &[String]) -> Expr {
    lit(Series::new("".into(), items)).implode(false)
}

/// Read and validate the input directory.
pub fn ingest(input: &Path, catalog: &Catalog, opts: &IngestOptions) -> Result<Ingested> {
    if !input.is_dir() {
        return Err(Error::input(input, "input directory not found"));
    }
    let mut rejects: Vec<(String, i64, String, Option<String>, String)> = Vec::new();
    let mut stats = Vec::new();

    // ---- usage ----------------------------------------------------------
    let (raw, files) = scan_table(input, "usage", USAGE, true, opts)?.expect("required");
    let items = catalog.item_ids();
    let needs_input: Vec<String> = catalog
        .products
        .iter()
        .flat_map(|p| p.items.iter())
        .filter(|i| matches!(i.measure, Measure::InputPlusOutputSeconds | Measure::InputSeconds))
        .map(|i| i.id.clone())
        .collect();
    let needs_output: Vec<String> = catalog
        .products
        .iter()
        .flat_map(|p| p.items.iter())
        .filter(|i| matches!(i.measure, Measure::OutputSeconds | Measure::InputPlusOutputSeconds))
        .map(|i| i.id.clone())
        .collect();
    let checked = raw.with_columns([
        // Field checks beyond the generic ones.
        when(col("item__r").is_null().and(col("item").is_in(str_series(&items), false).not()))
            .then(lit("unknown_item: not in the catalog"))
            .otherwise(col("item__r"))
            .alias("item__r"),
        when(col("status__r").is_null().and(col("status").is_in(str_series(&["success".into(), "failed".into()]), false).not()))
            .then(lit("bad_status: expected success or failed"))
            .otherwise(col("status__r"))
            .alias("status__r"),
        when(col("event_time__r").is_null().and(
            col("event_time__t")
                .lt(lit(opts.period_start))
                .or(col("event_time__t").gt_eq(lit(opts.period_end))),
        ))
        .then(lit("outside_period: event time is not in the period (billing time zone)"))
        .otherwise(col("event_time__r"))
        .alias("event_time__r"),
        when(col("input_seconds__r").is_null().and(col("input_seconds").is_null()).and(col("item").is_in(str_series(&needs_input), false)))
            .then(lit("missing_value: input_seconds is required for this item"))
            .otherwise(col("input_seconds__r"))
            .alias("input_seconds__r"),
        when(col("output_seconds__r").is_null().and(col("output_seconds").is_null()).and(col("item").is_in(str_series(&needs_output), false)))
            .then(lit("missing_value: output_seconds is required for this item"))
            .otherwise(col("output_seconds__r"))
            .alias("output_seconds__r"),
    ]);
    let reasons = reason_cols(USAGE);
    let checked = checked.with_column(any_reason(&reasons).alias("_bad"));
    let bad = checked.clone().filter(col("_bad").is_not_null()).collect()?;
    push_rejects(&mut rejects, &bad, USAGE, &[])?;
    let read: u64 = files.iter().map(|f| f.rows).sum();
    let rejected = bad.height() as u64;

    // Unknown items, per account and item (rows whose only problem is the item).
    let unknown_items = {
        let others: Vec<Expr> = reasons.iter().filter(|n| *n != "item__r").map(|n| col(n.as_str()).is_null()).collect();
        let only_item = others.into_iter().fold(col("item__r").str().starts_with(lit("unknown_item")), |a, e| a.and(e));
        bad.clone()
            .lazy()
            .filter(only_item)
            .group_by([col("account_id"), col("item")])
            .agg([
                when(len().eq(lit(1)))
                    .then(col("event_id").first())
                    .otherwise(null_str())
                    .alias("event_id"),
                col("event_time__t").min().alias("event_time"),
                col("quantity__m").fill_null(lit(MICRO)).sum().alias("quantity_micro"),
                len().cast(DataType::Int64).alias("events"),
            ])
            .sort(["account_id", "item"], SortMultipleOptions::default())
            .collect()?
    };

    // Duplicates among valid rows: the first by (file, row) is kept.
    let valid = checked.filter(col("_bad").is_null());
    let repeated = valid
        .clone()
        .group_by([col("event_id")])
        .agg([len().alias("_n")])
        .filter(col("_n").gt(lit(1)));
    let dup_rows = valid
        .clone()
        .join(repeated, [col("event_id")], [col("event_id")], JoinArgs::new(JoinType::Semi))
        .select([col("event_id"), col("_file"), col("_fidx"), col("_row")])
        .sort(["event_id", "_fidx", "_row"], SortMultipleOptions::default())
        .collect()?;
    let (mut d_file, mut d_row, mut d_id, mut d_ffile, mut d_frow) = (vec![], vec![], vec![], vec![], vec![]);
    {
        let id = dup_rows.column("event_id")?.str()?;
        let file = dup_rows.column("_file")?.str()?;
        let row = dup_rows.column("_row")?.i64()?;
        let mut first: Option<(String, String, i64)> = None;
        for i in 0..dup_rows.height() {
            let (eid, fl, rw) = (id.get(i).unwrap_or_default(), file.get(i).unwrap_or_default(), row.get(i).unwrap_or(0));
            match &first {
                Some((fid, ff, fr)) if fid == eid => {
                    d_file.push(fl.to_string());
                    d_row.push(rw);
                    d_id.push(eid.to_string());
                    d_ffile.push(ff.clone());
                    d_frow.push(*fr);
                }
                _ => first = Some((eid.to_string(), fl.to_string(), rw)),
            }
        }
    }
    let duplicates = df!(
        "file" => d_file,
        "row" => d_row,
        "event_id" => d_id,
        "first_file" => d_ffile,
        "first_row" => d_frow,
    )?
    .sort(["file", "row"], SortMultipleOptions::default())?;
    let dup_count = duplicates.height() as u64;
    stats.push(TableStats {
        table: "usage".into(),
        files,
        read,
        accepted: read - rejected - dup_count,
        rejected,
        duplicates: dup_count,
    });
    let usage = valid
        .unique_stable(Some(cols(["event_id"])), UniqueKeepStrategy::First)
        .select([
            col("event_id"),
            col("account_id"),
            col("item"),
            col("event_time__t").alias("t"),
            col("status").eq(lit("success")).alias("success"),
            col("quantity__m").fill_null(lit(MICRO)).alias("quantity_micro"),
            col("input_seconds__m").alias("input_micro"),
            col("output_seconds__m").alias("output_micro"),
            col("preview_only__b").fill_null(lit(false)).alias("preview_only"),
            col("region"),
            col("resolution"),
        ]);

    // ---- small tables -----------------------------------------------------
    let packages = small_table(input, "packages", PACKAGES, true, opts, &mut rejects, &mut stats, ("package_id", |p: &Package| p.package_id.clone()), |row, rej| {
        package_row(catalog, row, rej)
    })?;
    let accounts = small_table(input, "accounts", ACCOUNTS, false, opts, &mut rejects, &mut stats, ("product", |a: &AccountSetting| format!("{}\u{0}{}", a.account_id, a.product)), |row, rej| {
        account_row(catalog, row, rej)
    })?;
    let subscriptions = small_table(input, "subscriptions", SUBSCRIPTIONS, false, opts, &mut rejects, &mut stats, ("subscription_id", |x: &Subscription| x.subscription_id.clone()), |row, rej| {
        subscription_row(catalog, row, rej)
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
        usage,
        packages,
        accounts,
        subscriptions,
        rejects,
        duplicates,
        unknown_items,
        stats,
    })
}

/// One collected row of a small table: text, parsed values and reasons by field.
struct Row {
    file: String,
    row: i64,
    text: BTreeMap<&'static str, Option<String>>,
    time: BTreeMap<&'static str, Option<Micros>>,
    boolean: BTreeMap<&'static str, Option<bool>>,
    reason: BTreeMap<&'static str, Option<String>>,
}

impl Row {
    fn s(&self, k: &str) -> Option<String> {
        self.text.get(k).cloned().flatten()
    }
    fn dec(&self, k: &str) -> Option<Decimal> {
        self.s(k).and_then(|v| Decimal::from_str(&v).ok())
    }
    fn time(&self, k: &str) -> Option<Micros> {
        self.time.get(k).copied().flatten()
    }
}

/// Rejects of one row: (column, reason).
type RowRejects = Vec<(&'static str, String)>;

#[allow(clippy::too_many_arguments)]
fn small_table<T>(
    dir: &Path,
    table: &str,
    fields: &'static [Field],
    required: bool,
    opts: &IngestOptions,
    rejects: &mut Vec<(String, i64, String, Option<String>, String)>,
    stats: &mut Vec<TableStats>,
    unique: (&'static str, fn(&T) -> String),
    mut build: impl FnMut(&Row, &mut RowRejects) -> Option<T>,
) -> Result<Vec<T>> {
    let Some((lf, files)) = scan_table(dir, table, fields, required, opts)? else {
        stats.push(TableStats {
            table: table.into(),
            ..Default::default()
        });
        return Ok(Vec::new());
    };
    let df = lf.collect()?;
    let mut out = Vec::new();
    let mut rejected = 0u64;
    let mut seen: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let file = df.column("_file")?.str()?.clone();
    let rowc = df.column("_row")?.i64()?.clone();
    let mut cols_text = BTreeMap::new();
    let mut cols_reason = BTreeMap::new();
    let mut cols_time = BTreeMap::new();
    let mut cols_bool = BTreeMap::new();
    for fld in fields {
        cols_text.insert(fld.name, df.column(fld.name)?.str()?.clone());
        cols_reason.insert(fld.name, df.column(&r(fld.name))?.str()?.clone());
        if fld.kind == Kind::Time {
            cols_time.insert(fld.name, df.column(&t(fld.name))?.i64()?.clone());
        }
        if fld.kind == Kind::Bool {
            cols_bool.insert(fld.name, df.column(&b(fld.name))?.bool()?.clone());
        }
    }
    for i in 0..df.height() {
        let row = Row {
            file: file.get(i).unwrap_or_default().to_string(),
            row: rowc.get(i).unwrap_or(0),
            text: cols_text.iter().map(|(k, c)| (*k, c.get(i).map(str::to_string))).collect(),
            time: cols_time.iter().map(|(k, c)| (*k, c.get(i))).collect(),
            boolean: cols_bool.iter().map(|(k, c)| (*k, c.get(i))).collect(),
            reason: cols_reason.iter().map(|(k, c)| (*k, c.get(i).map(str::to_string))).collect(),
        };
        let mut rej: RowRejects = row
            .reason
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
            .collect();
        let mut built = if rej.is_empty() { build(&row, &mut rej) } else { None };
        if let Some(x) = &built {
            let key = (unique.1)(x);
            if let Some((f, r)) = seen.get(&key) {
                rej.push((unique.0, format!("duplicate_{}: first at {f} row {r}", unique.0)));
                built = None;
            } else {
                seen.insert(key, (row.file.clone(), row.row));
            }
        }
        match built {
            Some(x) if rej.is_empty() => out.push(x),
            _ => {
                rejected += 1;
                if rej.is_empty() {
                    rej.push(("", "invalid row".into()));
                }
                for (c, reason) in rej {
                    rejects.push((row.file.clone(), row.row, c.to_string(), row.s(c), reason));
                }
            }
        }
    }
    let read: u64 = files.iter().map(|f| f.rows).sum();
    stats.push(TableStats {
        table: table.into(),
        files,
        read,
        accepted: out.len() as u64,
        rejected,
        duplicates: 0,
    });
    Ok(out)
}

fn package_row(cat: &Catalog, row: &Row, rej: &mut RowRejects) -> Option<Package> {
    let id = row.s("package_id")?;
    let item = row.s("item")?;
    let unit_size = match cat.item(&item) {
        Some((_, i)) => i.unit_size,
        None => {
            rej.push(("item", "unknown_item: not in the catalog".into()));
            return None;
        }
    };
    let kind = match PackageKind::parse(&row.s("kind")?) {
        Some(k) => k,
        None => {
            rej.push(("kind", "bad_kind: expected free, campaign or prepaid".into()));
            return None;
        }
    };
    let size = row.dec("size")?;
    let remaining = row.dec("remaining")?;
    if size <= Decimal::ZERO {
        rej.push(("size", "bad_size: must be more than zero".into()));
    }
    if remaining > size {
        rej.push(("remaining", "bad_remaining: more than the package size".into()));
    }
    let (eff, exp) = (row.time("effective_at")?, row.time("expires_at")?);
    if eff >= exp {
        rej.push(("expires_at", "bad_window: expires_at must be after effective_at".into()));
    }
    let currency = row.s("currency");
    if let Some(c) = &currency {
        if catalog::minor_units(c).is_none() {
            rej.push(("currency", "unknown_currency: expected USD or CNY".into()));
        }
    }
    let remaining_measure = row.dec("remaining_measure");
    if let Some(rm) = remaining_measure {
        // The exact balance must agree with `remaining` as written (6 places).
        let shown = (rm / unit_size).round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        if shown != remaining.round_dp(6) || rm > size * unit_size {
            rej.push(("remaining_measure", "bad_remaining_measure: disagrees with remaining".into()));
        }
    }
    if !rej.is_empty() {
        return None;
    }
    Some(Package {
        package_id: id,
        account_id: row.s("account_id")?,
        item,
        kind,
        size,
        remaining,
        remaining_measure,
        effective_at: eff,
        expires_at: exp,
        price: row.dec("price"),
        currency,
        refunded_at: row.time("refunded_at"),
        file: row.file.clone(),
        row: row.row as u64,
    })
}

fn account_row(cat: &Catalog, row: &Row, rej: &mut RowRejects) -> Option<AccountSetting> {
    let product = row.s("product")?;
    if cat.product(&product).is_none() {
        rej.push(("product", "unknown_product: not in the catalog".into()));
    }
    let mode = row.s("billing_mode").unwrap_or_else(|| "usage".into());
    if !matches!(mode.as_str(), "usage" | "concurrent" | "qps") {
        rej.push(("billing_mode", "bad_billing_mode: expected usage, concurrent or qps".into()));
    }
    let (from, until) = (row.time("suspended_from"), row.time("suspended_until"));
    match (from, until) {
        (Some(a), Some(b)) if a >= b => rej.push(("suspended_until", "bad_window: must be after suspended_from".into())),
        (Some(_), None) => rej.push(("suspended_until", "missing_value: a suspension needs both ends".into())),
        (None, Some(_)) => rej.push(("suspended_from", "missing_value: a suspension needs both ends".into())),
        _ => {}
    }
    if !rej.is_empty() {
        return None;
    }
    Some(AccountSetting {
        account_id: row.s("account_id")?,
        product,
        postpaid_enabled: row.boolean.get("postpaid_enabled").copied().flatten(),
        billing_mode: mode,
        suspended_from: from,
        suspended_until: until,
    })
}

fn subscription_row(cat: &Catalog, row: &Row, rej: &mut RowRejects) -> Option<Subscription> {
    let item = row.s("item")?;
    let Some((_, sub)) = cat.subscription(&item) else {
        rej.push(("item", "unknown_item: not a subscription item of the catalog".into()));
        return None;
    };
    let quantity = row.dec("quantity")?;
    if quantity <= Decimal::ZERO {
        rej.push(("quantity", "bad_quantity: must be more than zero".into()));
    }
    if let Some(max) = sub.max_quantity {
        if quantity > max {
            rej.push(("quantity", format!("over_max_quantity: at most {max} per account")));
        }
    }
    let term = row.s("term")?;
    if !sub.terms.iter().any(|t| t.term == term) {
        let terms: Vec<&str> = sub.terms.iter().map(|t| t.term.as_str()).collect();
        rej.push(("term", format!("bad_term: expected {}", terms.join(" or "))));
    }
    let (s, e) = (row.time("starts_at")?, row.time("ends_at")?);
    if s >= e {
        rej.push(("ends_at", "bad_window: ends_at must be after starts_at".into()));
    }
    if !rej.is_empty() {
        return None;
    }
    Some(Subscription {
        subscription_id: row.s("subscription_id")?,
        account_id: row.s("account_id")?,
        item,
        quantity,
        term,
        starts_at: s,
        ends_at: e,
    })
}
