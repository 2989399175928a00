//! Writing a period's outputs: every table as Parquet and CSV, plus
//! `manifest.json`, into a temporary directory that is renamed into place, so a
//! crash or a concurrent run never leaves a half-written month.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;
use rust_decimal::prelude::*;

use crate::direct::DirectFile;
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
pub enum Col<'a> {
    Str(&'static str, Vec<Option<String>>),
    /// Text borrowed from the rows being written (no copy per cell).
    Text(&'static str, Vec<Option<&'a str>>),
    /// Decimal with a fixed scale: Parquet Decimal(38, scale), CSV text.
    Dec(&'static str, u32, Vec<Option<Decimal>>),
    /// An instant: Parquet Datetime(µs, UTC); CSV ISO 8601 in the billing offset.
    Time(&'static str, Vec<Option<Micros>>),
    Int(&'static str, Vec<Option<i64>>),
    Bool(&'static str, Vec<Option<bool>>),
}

impl Col<'_> {
    fn name(&self) -> &'static str {
        match self {
            Col::Str(n, _)
            | Col::Text(n, _)
            | Col::Dec(n, _, _)
            | Col::Time(n, _)
            | Col::Int(n, _)
            | Col::Bool(n, _) => n,
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Str(_, v) => v.len(),
            Col::Text(_, v) => v.len(),
            Col::Dec(_, _, v) => v.len(),
            Col::Time(_, v) => v.len(),
            Col::Int(_, v) => v.len(),
            Col::Bool(_, v) => v.len(),
        }
    }
}

/// A table to write: its columns and the billing offset for CSV times.
pub struct Table<'a> {
    pub name: &'static str,
    pub columns: Vec<Col<'a>>,
    pub offset: i32,
}

/// Take each item `next` makes, in order, while `next` makes the one after
/// (`rayon::join`): a writer hands one part to the file on one thread while
/// the following part is made on the others. The same order and the same
/// results as making and taking one after the other; the first error stops
/// it (a take's before the next make's).
pub(crate) fn overlapped<T: Send>(
    mut next: impl FnMut() -> Option<Result<T>> + Send,
    mut take: impl FnMut(T) -> Result<()> + Send,
) -> Result<()> {
    let mut current = next().transpose()?;
    while let Some(item) = current {
        let (following, taken) = rayon::join(|| next().transpose(), || take(item));
        taken?;
        current = following?;
    }
    Ok(())
}

/// Powers of ten, 10⁰ to 10²⁸.
const POW10: [i128; 29] = {
    let mut p = [1i128; 29];
    let mut k = 1;
    while k < 29 {
        p[k] = p[k - 1] * 10;
        k += 1;
    }
    p
};

/// `d` rounded half away from zero to `scale` digits: the mantissa at that scale.
fn mantissa_at(d: Decimal, scale: u32) -> i128 {
    rounded_mantissa(d, scale).unwrap_or_else(|| rounded(d, scale).mantissa())
}

/// The mantissa of `d` at a `scale` no smaller than its own (one
/// multiplication by a power of ten), or `None` where that would pass
/// rust_decimal's 96 bits or 28 places.
pub(crate) fn scaled_up(d: Decimal, scale: u32) -> Option<i128> {
    if scale > 28 || d.scale() > scale {
        return None;
    }
    d.mantissa()
        .checked_mul(POW10[(scale - d.scale()) as usize])
        .filter(|x| x.unsigned_abs() < 1u128 << 96)
}

/// `d` rounded half away from zero to `scale` digits, by rust_decimal.
fn rounded(d: Decimal, scale: u32) -> Decimal {
    let mut r = d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(scale);
    r
}

/// The mantissa of [`rounded`] in integer arithmetic (every table writes
/// each decimal cell twice, Parquet and CSV), or `None` where that would
/// overflow or `scale` is past rust_decimal's 28.
fn rounded_mantissa(d: Decimal, scale: u32) -> Option<i128> {
    let (m, s) = (d.mantissa(), d.scale());
    if scale > 28 {
        return None;
    }
    if s <= scale {
        return scaled_up(d, scale);
    }
    let p = POW10[(s - scale) as usize];
    let (q, r) = (m / p, m % p);
    // Half away from zero: a remainder of half the divisor or more rounds up in size.
    Some(if 2 * r.unsigned_abs() >= p.unsigned_abs() {
        q + m.signum()
    } else {
        q
    })
}

/// A Decimal(38, `scale`) column of mantissas at that scale (exact).
pub fn decimal_column(
    name: PlSmallStr,
    mantissas: impl Iterator<Item = Option<i128>>,
    scale: u32,
) -> Result<Column> {
    Ok(Int128Chunked::from_iter_options(name, mantissas)
        .into_decimal(38, scale as usize)?
        .into_series()
        .into_column())
}

/// A text column made run by run: a value equal to the previous row's is
/// not copied again (a long one is stored once per run, as polars' own
/// `extend_constant` stores it). Output rows run in account and line order,
/// so most values repeat; the column's values are those of collecting them.
pub fn text_column<'a>(name: PlSmallStr, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    use polars_arrow::array::MutableBinaryViewArray;
    // Equal text: the same bytes (often the very same string), else the same text.
    let same = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b,
        _ => false,
    };
    let mut out = MutableBinaryViewArray::<str>::with_capacity(values.size_hint().0);
    // (`extend_constant` of a null adds no views: nulls go by `extend_null`.)
    let flush = |out: &mut MutableBinaryViewArray<str>, (v, n): (Option<&str>, usize)| match v {
        Some(_) => out.extend_constant(n, v),
        None => out.extend_null(n),
    };
    let mut run: Option<(Option<&str>, usize)> = None;
    for v in values {
        match &mut run {
            Some((p, n)) if same(*p, v) => *n += 1,
            _ => {
                if let Some(done) = run.replace((v, 1)) {
                    flush(&mut out, done);
                }
            }
        }
    }
    if let Some(done) = run {
        flush(&mut out, done);
    }
    StringChunked::with_chunk(name, out.freeze()).into_column()
}

/// A Datetime(µs, UTC) column of instants.
pub fn utc_column(
    name: PlSmallStr,
    micros: impl Iterator<Item = Option<Micros>>,
) -> Result<Column> {
    Ok(Int64Chunked::from_iter_options(name, micros)
        .into_column()
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))?)
}

/// `d` as CSV text with exactly `scale` digits after the point.
fn push_fixed(buf: &mut Vec<u8>, d: Decimal, scale: u32) {
    match rounded_mantissa(d, scale) {
        // A zero keeps the sign rust_decimal gives it: left to rust_decimal.
        Some(m) if m != 0 || !d.is_sign_negative() => push_scaled(buf, m, scale),
        _ => push_decimal(
            buf,
            d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero),
            scale as usize,
        ),
    }
}

/// Exactly the text of `format!("{:.prec$}", d)`, without the formatting
/// machinery (the CSV writers spend much of their time here): sign, whole
/// digits, then `prec` digits after the point, zero-padded. `d` must need
/// no more than `prec` digits (others go through `format!`).
pub(crate) fn push_decimal(buf: &mut Vec<u8>, d: Decimal, prec: usize) {
    let scale = d.scale() as usize;
    if prec < scale || prec > 28 {
        put(buf, format_args!("{:.*}", prec, d));
        return;
    }
    push_digits_of(
        buf,
        d.is_sign_negative(),
        d.mantissa().unsigned_abs(),
        scale,
        prec,
    );
}

/// The decimal `m` × 10^-`scale` with exactly `scale` digits after the
/// point (`scale` at most 28), zero without a sign: [`push_decimal`] of
/// that value, from its mantissa.
pub(crate) fn push_scaled(buf: &mut Vec<u8>, m: i128, scale: u32) {
    let scale = scale.min(28) as usize;
    push_digits_of(buf, m < 0, m.unsigned_abs(), scale, scale);
}

/// Sign, whole digits, the point and `prec` digits (`scale` of them from
/// the mantissa `m`, then zeros).
fn push_digits_of(buf: &mut Vec<u8>, negative: bool, m: u128, scale: usize, prec: usize) {
    if negative {
        buf.push(b'-');
    }
    // Digits of the mantissa, least significant first, at least `scale`.
    let mut digits = [b'0'; 40];
    let mut n = 0;
    let mut m = m;
    while m > u128::from(u64::MAX) {
        digits[n] = b'0' + (m % 10) as u8;
        m /= 10;
        n += 1;
    }
    let mut m = m as u64;
    while m > 0 {
        digits[n] = b'0' + (m % 10) as u8;
        m /= 10;
        n += 1;
    }
    let n = n.max(scale);
    if n == scale {
        buf.push(b'0');
    } else {
        buf.extend(digits[scale..n].iter().rev());
    }
    if prec > 0 {
        buf.push(b'.');
        buf.extend(digits[..scale].iter().rev());
        buf.resize(buf.len() + (prec - scale), b'0');
    }
}

impl Table<'_> {
    fn height(&self) -> usize {
        self.columns.first().map(Col::len).unwrap_or(0)
    }

    /// Rows `[offset, offset + len)` as a frame typed for Parquet
    /// (Decimal(38, scale), Datetime(µs, UTC), String, Int64, Boolean).
    fn parquet_frame(&self, offset: usize, len: usize) -> Result<DataFrame> {
        let r = offset..offset + len;
        let cols = self
            .columns
            .par_iter()
            .map(|c| -> Result<Column> {
                let n = c.name().into();
                Ok(match c {
                    Col::Str(_, v) => text_column(n, v[r.clone()].iter().map(|s| s.as_deref())),
                    Col::Text(_, v) => text_column(n, v[r.clone()].iter().copied()),
                    Col::Int(_, v) => {
                        Int64Chunked::from_iter_options(n, v[r.clone()].iter().copied())
                            .into_column()
                    }
                    Col::Bool(_, v) => {
                        BooleanChunked::from_iter_options(n, v[r.clone()].iter().copied())
                            .into_column()
                    }
                    Col::Dec(_, scale, v) => {
                        // Exact: the mantissa at the column's scale, as Decimal(38, scale).
                        let m = v[r.clone()]
                            .iter()
                            .map(|d| d.map(|d| mantissa_at(d, *scale)));
                        decimal_column(n, m, *scale)?
                    }
                    Col::Time(_, v) => utc_column(n, v[r.clone()].iter().copied())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DataFrame::new(len, cols)?)
    }

    /// One CSV record (with its line end): text as is, decimals at the
    /// column's scale, instants in the billing offset.
    fn csv_row(&self, i: usize, buf: &mut Vec<u8>) {
        for (k, c) in self.columns.iter().enumerate() {
            if k > 0 {
                buf.push(b',');
            }
            match c {
                Col::Str(_, v) => push_text(buf, v[i].as_deref()),
                Col::Text(_, v) => push_text(buf, v[i]),
                Col::Dec(_, scale, v) => {
                    if let Some(d) = v[i] {
                        push_fixed(buf, d, *scale);
                    }
                }
                Col::Time(_, v) => {
                    if let Some(t) = v[i] {
                        push_time(buf, t, self.offset);
                    }
                }
                Col::Int(_, v) => {
                    if let Some(x) = v[i] {
                        put(buf, format_args!("{x}"));
                    }
                }
                Col::Bool(_, v) => match v[i] {
                    Some(true) => buf.extend_from_slice(b"true"),
                    Some(false) => buf.extend_from_slice(b"false"),
                    None => {}
                },
            }
        }
        buf.push(b'\n');
    }
}

/// A directory being written; [`Staging::commit`] makes it durable and
/// renames it into place.
pub struct Staging {
    pub dir: PathBuf,
    target: PathBuf,
    _lock: File,
    /// Files being made durable on threads of their own
    /// ([`Staging::sync_written`]), joined by [`Staging::commit`].
    syncing: std::sync::Mutex<Vec<std::thread::JoinHandle<Result<()>>>>,
}

/// `fsync` every file in `dir` (each one's data and size; for a file already
/// synced, or written with `O_DIRECT` and not grown since, this is cheap);
/// an error names the file.
fn sync_files(dir: &Path) -> Result<()> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .and_then(|d| d.map(|e| e.map(|e| e.path())).collect())
        .map_err(|e| out_err(dir, e))?;
    names.sort();
    for path in names.into_iter().filter(|p| p.is_file()) {
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| out_err(&path, e))?;
    }
    Ok(())
}

/// `fsync` a directory, so that the names in it (a rename into it) last.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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
            syncing: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Start making the files written so far durable, on a thread of its
    /// own, while the run goes on (reconciliation, on both cores); the
    /// flush of the file system's journal that the first `fsync` waits on
    /// (0.2 to 0.7 s after a month's writes on this machine's disk) is then
    /// not on the run's path. [`Staging::commit`] waits for it and fails
    /// with its error, if any: a failed `fsync` is reported once, and a
    /// second `fsync` of the same file may then succeed without the data.
    pub fn sync_written(&self) {
        let dir = self.dir.clone();
        let handle = std::thread::spawn(move || sync_files(&dir));
        self.syncing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Write a table as `NAME.parquet` and `NAME.csv`, one row group (Parquet)
    /// and one block of rows (CSV) at a time.
    pub fn write_table(&self, table: &Table) -> Result<()> {
        self.write_parts(table.name, table.height(), std::iter::once(table))
    }

    /// Write a table of `height` rows made `chunk` rows at a time by `make`
    /// (given the row range), so that only one chunk's columns are held. The
    /// files are those [`Staging::write_table`] writes of the whole table.
    pub fn write_table_chunks<'a>(
        &self,
        name: &'static str,
        height: usize,
        chunk: usize,
        make: impl Fn(std::ops::Range<usize>) -> Table<'a> + Sync,
    ) -> Result<()> {
        let chunk = chunk.max(1);
        let starts: Vec<usize> = if height == 0 {
            vec![0]
        } else {
            (0..height).step_by(chunk).collect()
        };
        let parts = starts.into_iter().map(|s| make(s..(s + chunk).min(height)));
        self.write_parts(name, height, parts)
    }

    /// Write consecutive parts of one table (at least one, for the schema).
    fn write_parts<'a, T: std::borrow::Borrow<Table<'a>> + Send + Sync>(
        &self,
        name: &str,
        height: usize,
        parts: impl Iterator<Item = T> + Send,
    ) -> Result<()> {
        let mut parts = parts.peekable();
        let first = parts
            .peek()
            .ok_or_else(|| Error::Config(format!("internal: table {name} has no parts")))?;
        let schema = first.borrow().parquet_frame(0, 0)?.schema().clone();
        let names: Vec<&str> = first.borrow().columns.iter().map(Col::name).collect();
        let mut pq =
            ParquetGroups::create(&self.dir.join(format!("{name}.parquet")), &schema, height)?;
        let mut csv = CsvFile::create(&self.dir.join(format!("{name}.csv")))?;
        csv.header(&names)?;
        // The next part is made while this one is written.
        overlapped(
            || parts.next().map(Ok),
            |part| {
                let t = part.borrow();
                let h = t.height();
                let mut at = 0;
                for n in row_groups(h) {
                    pq.push(t.parquet_frame(at, n)?)?;
                    at += n;
                }
                csv.rows(h, |i, buf| t.csv_row(i, buf))
            },
        )?;
        pq.finish()?;
        csv.finish()
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

    /// Write a small text file (manifest, notes); made durable by
    /// [`Staging::commit`].
    pub fn write_text(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        let mut f = File::create(&path).map_err(|e| out_err(&path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| out_err(&path, e))?;
        Ok(())
    }

    /// Make every file durable (`fsync`), then the directory, then move it
    /// into place, replacing an earlier run, and make the rename durable:
    /// after a power cut the month is either the old one or the whole new
    /// one.
    pub fn commit(self) -> Result<PathBuf> {
        let t = std::time::Instant::now();
        let earlier = std::mem::take(&mut *self.syncing.lock().unwrap_or_else(|e| e.into_inner()));
        for h in earlier {
            h.join().unwrap_or_else(|_| {
                Err(out_err(
                    &self.dir,
                    std::io::Error::other("the thread syncing the outputs panicked"),
                ))
            })?;
        }
        sync_files(&self.dir)?;
        sync_dir(&self.dir).map_err(|e| out_err(&self.dir, e))?;
        tracing::info!(seconds = t.elapsed().as_secs_f64(), "outputs synced");
        let target = self.target.clone();
        if target.exists() {
            let old = self.dir.with_extension("old");
            fs::rename(&target, &old).map_err(|e| out_err(&target, e))?;
            fs::rename(&self.dir, &target).map_err(|e| out_err(&target, e))?;
            fs::remove_dir_all(&old).map_err(|e| out_err(&old, e))?;
        } else {
            fs::rename(&self.dir, &target).map_err(|e| out_err(&target, e))?;
        }
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        sync_dir(parent).map_err(|e| out_err(parent, e))?;
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

/// polars' default rows per row group.
const ROW_GROUP: usize = 512 * 512;

/// Rows per row group: what polars' `ParquetWriter::finish` makes of a
/// single-chunk frame of `height` rows (its default row group size is 512²;
/// a taller frame is cut into `height / 512²` groups of equal size, the last
/// taking the remainder). Writing the groups one at a time with these sizes
/// gives the same file as writing the whole frame at once.
pub fn row_groups(height: usize) -> Vec<usize> {
    if height == 0 {
        return Vec::new();
    }
    let n = height / ROW_GROUP;
    if n <= 1 {
        return vec![height];
    }
    let size = height / n;
    let mut out = vec![size; n - 1];
    out.push(height - size * (n - 1));
    out
}

/// A Parquet file written one row group at a time, with the row groups polars
/// would make of the whole frame ([`row_groups`]). Frames of any height are
/// pushed in row order; a group is written as soon as it is complete.
///
/// polars' batched writer encodes and compresses a row group's pages one
/// column after another while it writes them; here the columns are encoded
/// and compressed in parallel (with the writer's own schema, encodings and
/// options, the way polars' streaming sink does) and the finished pages
/// handed to the writer, so the file is byte for byte the same.
pub struct ParquetGroups {
    path: PathBuf,
    writer: polars::io::parquet::write::BatchedWriter<DirectFile>,
    file: DirectFile,
    encoder: ColumnEncoder,
    sizes: VecDeque<usize>,
    /// Rows not announced ([`ParquetGroups::create_open`]): groups of
    /// [`ROW_GROUP`] rows, the last one the rest.
    open: bool,
    pending: Vec<DataFrame>,
    pending_rows: usize,
}

/// What encoding a frame's columns into compressed Parquet pages needs.
struct ColumnEncoder {
    arrow: ArrowSchema,
    parquet: polars_parquet::write::SchemaDescriptor,
    encodings: Vec<Vec<polars_parquet::write::Encoding>>,
    options: polars_parquet::write::WriteOptions,
    /// Per column: text whose distinct values were too many for a
    /// dictionary in an earlier row group goes straight to polars (the
    /// bytes are the same either way; this only skips building a
    /// dictionary that would be dropped).
    many_values: Vec<std::sync::atomic::AtomicBool>,
}

impl ColumnEncoder {
    /// The encoder of a polars `ParquetWriter` with these `compression` and
    /// `statistics` (its pages are version 1 of the default size).
    fn new(
        schema: &Schema,
        compression: ParquetCompression,
        statistics: StatisticsOptions,
    ) -> Result<ColumnEncoder> {
        let arrow = schema.to_arrow(CompatLevel::newest());
        let parquet = polars_parquet::write::to_parquet_schema(&arrow)?;
        let encodings: Vec<Vec<_>> = polars::io::parquet::write::get_encodings(&arrow)
            .iter()
            .cloned()
            .collect();
        let options = polars_parquet::write::WriteOptions {
            statistics,
            compression: compression.into(),
            version: polars_parquet::write::Version::V1,
            data_page_size: None,
        };
        let many_values = (0..encodings.len())
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        Ok(ColumnEncoder {
            arrow,
            parquet,
            encodings,
            options,
            many_values,
        })
    }

    /// The compressed pages of every column of `df`, columns in parallel.
    fn encode(&self, df: &DataFrame) -> Result<Vec<Vec<polars_parquet::write::CompressedPage>>> {
        let per_column = df
            .columns()
            .par_iter()
            .enumerate()
            .map(|(i, c)| -> Result<_> {
                let field = self.arrow.get_at_index(i).expect("a field per column").1;
                let array = c.as_materialized_series().rechunk().to_arrow_with_field(
                    0,
                    std::borrow::Cow::Borrowed(field),
                    true,
                )?;
                use std::sync::atomic::Ordering::Relaxed;
                let dictionary = match self.encodings[i].as_slice() {
                    [polars_parquet::write::Encoding::RleDictionary]
                        if !self.many_values[i].load(Relaxed) =>
                    {
                        let text = array
                            .as_any()
                            .downcast_ref::<polars_arrow::array::Utf8ViewArray>();
                        let found = text.and_then(dictionary_of);
                        if let Some((_, polars_parquet::write::Encoding::Plain)) = found {
                            self.many_values[i].store(true, Relaxed);
                        }
                        found
                    }
                    _ => None,
                };
                let (array, encodings) = match dictionary {
                    Some((array, encoding)) => (array, vec![encoding]),
                    None => (array, self.encodings[i].clone()),
                };
                let leaves = polars_parquet::write::array_to_columns(
                    array,
                    self.parquet.fields()[i].clone(),
                    self.options,
                    &encodings,
                )?;
                let mut out = Vec::with_capacity(leaves.len());
                for pages in leaves {
                    let pages = pages.map(|p| {
                        p.map_err(|e| {
                            polars_parquet::parquet::error::ParquetError::FeatureNotSupported(
                                format!("reraised in polars: {e}"),
                            )
                        })
                    });
                    let compressed = polars_parquet::write::Compressor::new_from_vec(
                        pages,
                        self.options.compression,
                        Vec::new(),
                    )
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(PolarsError::from)?;
                    out.push(compressed);
                }
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(per_column.into_iter().flatten().collect())
    }
}

/// A string column the way polars' Parquet writer would encode it, found
/// cheaply: `Some((dictionary, RleDictionary))` where polars would write a
/// dictionary, `Some((the text, Plain))` where it would fall back to plain
/// values, `None` (empty or all null) to leave the column to polars.
///
/// polars estimates the column's distinct values (HyperLogLog over every
/// value, a null counting as the empty string), writes plain values when
/// there are more than 128 rows and the estimate exceeds three quarters of
/// them, and otherwise casts the column to a dictionary: keys in row order,
/// values in order of first occurrence. Both steps hash every value. Here a
/// value equal to the previous row's reuses its key without hashing (output
/// rows run in account and line order, so most values repeat), only new
/// values are looked up, and the estimate is made over the distinct values
/// (plus the empty string when there are nulls): HyperLogLog depends only on
/// the set of values, so it is polars' estimate. The pages are those of
/// polars' own writer, byte for byte (a test compares whole files).
fn dictionary_of(
    array: &polars_arrow::array::Utf8ViewArray,
) -> Option<(
    Box<dyn polars_arrow::array::Array>,
    polars_parquet::write::Encoding,
)> {
    use polars_arrow::array::{Array, DictionaryArray, MutableBinaryViewArray, PrimitiveArray};
    use polars_arrow::datatypes::{ArrowDataType, IntegerType};
    use polars_parquet::write::Encoding;
    let n = array.len();
    let nulls = array.null_count();
    if n == 0 || nulls == n {
        return None;
    }
    let validity = array.validity();
    let mut keys: Vec<u32> = Vec::with_capacity(n);
    let mut index: PlHashMap<&str, u32> = PlHashMap::default();
    let mut values: Vec<&str> = Vec::new();
    let mut prev: Option<(&str, u32)> = None;
    for i in 0..n {
        if validity.is_some_and(|v| !v.get_bit(i)) {
            keys.push(0);
            continue;
        }
        let v = array.value(i);
        let key = match prev {
            Some((p, k)) if p == v => k,
            _ => {
                let next = values.len() as u32;
                let k = *index.entry(v).or_insert_with(|| {
                    values.push(v);
                    next
                });
                prev = Some((v, k));
                k
            }
        };
        keys.push(key);
    }
    let distinct = MutableBinaryViewArray::<str>::from_values_iter(
        values.iter().copied().chain((nulls > 0).then_some("")),
    )
    .freeze();
    let estimate = polars_compute::cardinality::estimate_cardinality(&distinct);
    if n > 128 && (estimate as f64) / (n as f64) > 0.75 {
        return Some((array.to_boxed(), Encoding::Plain));
    }
    let values = MutableBinaryViewArray::<str>::from_values_iter(values.iter().copied()).freeze();
    let keys = PrimitiveArray::<u32>::new(ArrowDataType::UInt32, keys.into(), validity.cloned());
    let dtype = ArrowDataType::Dictionary(
        IntegerType::UInt32,
        Box::new(ArrowDataType::Utf8View),
        false,
    );
    let dictionary = DictionaryArray::<u32>::try_new(dtype, keys, values.boxed())
        .expect("every key names one of the values");
    Some((dictionary.boxed(), Encoding::RleDictionary))
}

impl ParquetGroups {
    /// Create `path` for `height` rows of `schema`.
    pub fn create(path: &Path, schema: &Schema, height: usize) -> Result<ParquetGroups> {
        let file = DirectFile::create(path).map_err(|e| out_err(path, e))?;
        // polars' defaults (zstd, min / max / null-count statistics), given
        // to the writer and the encoder alike.
        let (compression, statistics) =
            (ParquetCompression::default(), StatisticsOptions::default());
        Ok(ParquetGroups {
            path: path.to_path_buf(),
            writer: ParquetWriter::new(file.clone())
                .with_compression(compression)
                .with_statistics(statistics)
                .batched(schema)?,
            file,
            encoder: ColumnEncoder::new(schema, compression, statistics)?,
            sizes: row_groups(height).into(),
            open: false,
            pending: Vec::new(),
            pending_rows: 0,
        })
    }

    /// Create `path` for rows of `schema` whose count is not known until
    /// the last is pushed: row groups of polars' default size (262,144
    /// rows), the last holding the rest.
    pub fn create_open(path: &Path, schema: &Schema) -> Result<ParquetGroups> {
        let mut w = ParquetGroups::create(path, schema, 0)?;
        w.open = true;
        Ok(w)
    }

    /// Add the next rows.
    pub fn push(&mut self, mut df: DataFrame) -> Result<()> {
        while df.height() > 0 {
            let size = match self.sizes.front() {
                Some(&size) => size,
                None if self.open => ROW_GROUP,
                None => return Err(self.err("more rows than announced")),
            };
            let need = size - self.pending_rows;
            if df.height() < need {
                self.pending_rows += df.height();
                self.pending.push(df);
                return Ok(());
            }
            let (head, tail) = df.split_at(need as i64);
            self.pending.push(head);
            self.write_pending()?;
            self.sizes.pop_front();
            df = tail;
        }
        Ok(())
    }

    /// Write the pending frames as one row group.
    fn write_pending(&mut self) -> Result<()> {
        let mut parts = self.pending.drain(..);
        let Some(mut group) = parts.next() else {
            return Ok(());
        };
        for p in parts {
            group.vstack_mut(&p)?;
        }
        let pages = self.encoder.encode(&group)?;
        self.writer.write_row_group(group.height() as u64, &pages)?;
        self.pending_rows = 0;
        Ok(())
    }

    /// Write the footer; every announced row must have been pushed.
    pub fn finish(mut self) -> Result<()> {
        if self.open {
            self.write_pending()?;
        } else if !self.sizes.is_empty() {
            return Err(self.err("fewer rows than announced"));
        }
        self.writer.finish()?;
        self.file.finish().map_err(|e| out_err(&self.path, e))
    }

    fn err(&self, message: &str) -> Error {
        Error::Output {
            path: self.path.clone(),
            message: message.into(),
        }
    }
}

/// Rows serialised per task when a block of CSV rows is rendered in parallel.
const CSV_PIECE: usize = 4096;
/// Rows rendered before they are written out.
const CSV_BLOCK: usize = 64 * CSV_PIECE;

/// A CSV file written the way polars' `CsvWriter` writes (header, `,`
/// separator, `\n` line ends, null as nothing, text quoted only when needed),
/// from typed values without building a frame of strings.
pub struct CsvFile {
    path: PathBuf,
    w: DirectFile,
}

impl CsvFile {
    pub fn create(path: &Path) -> Result<CsvFile> {
        Ok(CsvFile {
            path: path.to_path_buf(),
            w: DirectFile::create(path).map_err(|e| out_err(path, e))?,
        })
    }

    /// The header line.
    pub fn header(&mut self, names: &[&str]) -> Result<()> {
        let mut buf = Vec::new();
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            push_text(&mut buf, Some(n));
        }
        buf.push(b'\n');
        self.write_all(&buf)
    }

    /// Rows `0..n`; `row(i, buf)` appends record `i` with its line end.
    /// Blocks of rows are rendered in parallel and written in order.
    pub fn rows(&mut self, n: usize, row: impl Fn(usize, &mut Vec<u8>) + Sync) -> Result<()> {
        let render = |start: usize| -> Vec<Vec<u8>> {
            let end = (start + CSV_BLOCK).min(n);
            (start..end)
                .into_par_iter()
                .step_by(CSV_PIECE)
                .map(|s| {
                    let mut buf = Vec::with_capacity(CSV_PIECE * 64);
                    for i in s..(s + CSV_PIECE).min(end) {
                        row(i, &mut buf);
                    }
                    buf
                })
                .collect()
        };
        // A block is written (one thread: the copies into the page cache)
        // while the next is rendered.
        let mut starts = (0..n).step_by(CSV_BLOCK);
        overlapped(
            || starts.next().map(|start| Ok(render(start))),
            |pieces| {
                for p in &pieces {
                    self.write_all(p)?;
                }
                Ok(())
            },
        )
    }

    /// Flush and close.
    pub fn finish(self) -> Result<()> {
        self.w.finish().map_err(|e| out_err(&self.path, e))
    }

    /// Append bytes already rendered as CSV records.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes).map_err(|e| out_err(&self.path, e))
    }
}

/// Format into a byte buffer (cannot fail).
pub(crate) fn put(buf: &mut Vec<u8>, args: std::fmt::Arguments) {
    buf.write_fmt(args).expect("writing to memory");
}

/// Whether a cell holds `,`, `"`, CR or LF: 16 bytes at a time without an
/// early exit inside a block, which the compiler turns into vector compares.
fn needs_quotes(b: &[u8]) -> bool {
    let special = |c: u8| (c == b',') | (c == b'"') | (c == b'\n') | (c == b'\r');
    let mut blocks = b.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |a, &c| a | special(c)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&c| special(c))
}

/// A text cell as polars writes it: null as nothing, the empty string as
/// `""`, quoted (with quotes doubled) when it holds `,`, `"`, CR or LF.
pub fn push_text(buf: &mut Vec<u8>, s: Option<&str>) {
    let Some(s) = s else {
        return;
    };
    if s.is_empty() {
        buf.extend_from_slice(b"\"\"");
        return;
    }
    let b = s.as_bytes();
    if !needs_quotes(b) {
        buf.extend_from_slice(b);
        return;
    }
    // Quoted: the text between quotes copied whole (`find` looks for the
    // quote with `memchr`), each quote doubled. Descriptions hold commas,
    // so every FOCUS row has one cell to quote.
    buf.push(b'"');
    let mut rest = s;
    while let Some(k) = rest.find('"') {
        buf.extend_from_slice(&rest.as_bytes()[..=k]);
        buf.push(b'"');
        rest = &rest[k + 1..];
    }
    buf.extend_from_slice(rest.as_bytes());
    buf.push(b'"');
}

fn push_digits(buf: &mut Vec<u8>, v: u32, width: u32) {
    for k in (0..width).rev() {
        buf.push(b'0' + (v / 10u32.pow(k) % 10) as u8);
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of the calendar time `secs` seconds after
/// 1970-01-01T00:00:00 (already in the wanted zone), when its year has four
/// digits; `false` (nothing written) otherwise. Integer arithmetic only:
/// every table and the FOCUS export write one or more times per row.
fn push_date_time(buf: &mut Vec<u8>, secs: i64) -> bool {
    // The date's text is kept per thread for the next call: rows written
    // one after another mostly fall on the same day.
    thread_local! {
        static LAST_DAY: std::cell::Cell<(i64, [u8; 10])> =
            const { std::cell::Cell::new((i64::MIN, [0; 10])) };
    }
    let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let date = LAST_DAY.with(|last| match last.get() {
        (d, text) if d == days => Some(text),
        _ => {
            let (year, month, day) = period::civil_from_days(days);
            if !(1000..=9999).contains(&year) {
                return None;
            }
            let y = year as u32;
            let mut text = [b'-'; 10];
            text[..4].copy_from_slice(&[
                b'0' + (y / 1000) as u8,
                b'0' + (y / 100 % 10) as u8,
                b'0' + (y / 10 % 10) as u8,
                b'0' + (y % 10) as u8,
            ]);
            text[5..7].copy_from_slice(&two(month));
            text[8..10].copy_from_slice(&two(day));
            last.set((days, text));
            Some(text)
        }
    });
    let Some(date) = date else {
        return false;
    };
    let mut out = [0u8; 19];
    out[..10].copy_from_slice(&date);
    out[10] = b'T';
    out[11..13].copy_from_slice(&two(sod / 3600));
    out[13] = b':';
    out[14..16].copy_from_slice(&two(sod / 60 % 60));
    out[16] = b':';
    out[17..19].copy_from_slice(&two(sod % 60));
    buf.extend_from_slice(&out);
    true
}

/// [`period::format_time`] into a buffer: `2026-10-01T00:00:00+08:00`, with
/// `.ffffff` when the instant has microseconds.
pub fn push_time(buf: &mut Vec<u8>, t: Micros, offset: i32) {
    let (secs, micros) = (t.div_euclid(1_000_000), t.rem_euclid(1_000_000) as u32);
    if offset % 60 != 0 || !push_date_time(buf, secs + i64::from(offset)) {
        buf.extend_from_slice(period::format_time(t, offset).as_bytes());
        return;
    }
    if micros != 0 {
        buf.push(b'.');
        push_digits(buf, micros, 6);
    }
    buf.push(if offset < 0 { b'-' } else { b'+' });
    let abs = offset.unsigned_abs();
    push_digits(buf, abs / 3600, 2);
    buf.push(b':');
    push_digits(buf, abs / 60 % 60, 2);
}

/// polars' text of a `Datetime(unit, "UTC")` column (its cast to String:
/// `%F %T%.f%:z` with 3, 6 or 9 digits by unit, `2026-10-01
/// 00:00:00.000000+00:00`), written by day counts instead of chrono's
/// format string, which polars parses again for every value. polars' own
/// cast for a column with an instant outside the years 1000 to 9999.
pub(crate) fn utc_column_text(c: &Column, unit: TimeUnit) -> PolarsResult<StringChunked> {
    let (per, width) = match unit {
        TimeUnit::Milliseconds => (1_000, 3),
        TimeUnit::Microseconds => (1_000_000, 6),
        TimeUnit::Nanoseconds => (1_000_000_000, 9),
    };
    let mut fits = true;
    let mut text = Vec::with_capacity(40);
    let out = c
        .datetime()?
        .physical()
        .apply_into_string_amortized(|v, s| {
            text.clear();
            if push_date_time(&mut text, v.div_euclid(per)) {
                text[10] = b' ';
                text.push(b'.');
                push_digits(&mut text, v.rem_euclid(per) as u32, width);
                text.extend_from_slice(b"+00:00");
                s.push_str(std::str::from_utf8(&text).expect("ASCII"));
            } else {
                fits = false;
            }
        });
    if fits {
        Ok(out.with_name(c.name().clone()))
    } else {
        Ok(c.cast(&DataType::String)?.str()?.clone())
    }
}

/// An instant in UTC to the second: `2026-10-01T00:00:00Z`.
pub fn push_utc(buf: &mut Vec<u8>, t: Micros) {
    if !push_date_time(buf, t.div_euclid(1_000_000)) {
        let dt = period::to_datetime(t, 0).naive_utc();
        put(buf, format_args!("{}", dt.format("%Y-%m-%dT%H:%M:%SZ")));
        return;
    }
    buf.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` decimals from a 96-bit random sequence started at `seed`: the
    /// mantissa `pick(k, x)` of the `k`th number `x`, scale `k % 29`, every
    /// third one negative.
    fn spread(seed: u128, n: u32, pick: impl Fn(u32, u128) -> u128) -> Vec<Decimal> {
        let mut x = seed;
        (0..n)
            .map(|k| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    % (1 << 96);
                let d = Decimal::from_i128_with_scale(pick(k, x) as i128, k % 29);
                if k % 3 == 0 {
                    -d
                } else {
                    d
                }
            })
            .collect()
    }

    #[test]
    fn a_commit_holds_files_written_before_and_after_the_early_sync() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("month");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("old.csv"), "earlier run").unwrap();
        let staging = Staging::begin(&out).unwrap();
        staging.write_text("a.csv", "written before\n").unwrap();
        staging.sync_written();
        staging.write_text("b.csv", "written after\n").unwrap();
        // A second early sync, perhaps while the first still runs.
        staging.sync_written();
        staging.write_text("c.csv", "written last\n").unwrap();
        assert_eq!(staging.commit().unwrap(), out);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        names.sort();
        assert_eq!(names, ["month"]);
        let mut files: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(files, ["a.csv", "b.csv", "c.csv"]);
        assert_eq!(
            std::fs::read_to_string(out.join("b.csv")).unwrap(),
            "written after\n"
        );
    }

    #[test]
    fn text_columns_made_by_runs_hold_every_value() {
        let long = "a value longer than twelve bytes";
        let owned = long.to_string();
        // Runs of one value (the same string, and an equal copy), nulls
        // first, inside and last, short and long values.
        let values: Vec<Option<&str>> = vec![
            None,
            None,
            Some(long),
            Some(long),
            Some(owned.as_str()),
            Some("short"),
            None,
            Some("short"),
            Some(long),
            None,
        ];
        let got = text_column("x".into(), values.iter().copied());
        let want = StringChunked::from_iter_options("x".into(), values.iter().copied());
        let got: Vec<Option<&str>> = got.str().unwrap().iter().collect();
        assert_eq!(got, want.iter().collect::<Vec<_>>());
        assert_eq!(text_column("x".into(), std::iter::empty()).len(), 0);
        let nulls = text_column("x".into(), [None, None].into_iter());
        assert_eq!(nulls.null_count(), 2);
    }

    #[test]
    fn decimals_are_written_as_format_writes_them() {
        use std::str::FromStr;
        let mut cases: Vec<Decimal> = [
            "0",
            "-0",
            "0.00",
            "-0.000",
            "1",
            "-1",
            "0.5",
            "-0.05",
            "10",
            "123.456",
            "-987654.321",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7922816251426433759354395033.5",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551617.25",
        ]
        .iter()
        .map(|s| Decimal::from_str(s).unwrap())
        .collect();
        // A spread of mantissas and scales, both signs.
        cases.extend(spread(1, 200, |k, x| {
            if k % 2 == 0 {
                x % 1_000_000_000_000
            } else {
                x
            }
        }));
        let mut compared = 0;
        for d in &cases {
            let d = *d;
            for prec in [0, 1, 2, 6, 12, 28, 30] {
                // rust_decimal's own text is at most 32 bytes long.
                let whole = d.trunc().abs().to_string().len();
                if prec >= d.scale() as usize && whole + prec + 2 <= 32 {
                    let mut got = Vec::new();
                    push_decimal(&mut got, d, prec);
                    let want = format!("{:.*}", prec, d);
                    assert_eq!(String::from_utf8(got).unwrap(), want, "{d:?} at {prec}");
                    compared += 1;
                }
            }
        }
        assert!(compared > cases.len(), "only {compared} compared");
    }

    #[test]
    fn cells_round_as_rust_decimal_rounds() {
        // Mantissas of every size and scale, both signs, midpoints and
        // values that round to a signed zero, at every column scale.
        let mut cases: Vec<Decimal> = ["-0.0000005", "-0.0000004", "0.0000005", "2.5", "-2.5"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        cases.push(Decimal::MAX);
        cases.push(Decimal::MIN);
        cases.push(-Decimal::ZERO);
        let mut zero = Decimal::new(0, 3);
        zero.set_sign_negative(true);
        cases.push(zero);
        cases.extend(spread(7, 400, |k, x| match k % 4 {
            0 => x % 1_000_000,
            1 => x % 1_000_000_000_000,
            2 => (x % 1_000) * 10u128.pow(k % 20) + 5 * 10u128.pow(k % 20) / 10,
            _ => x,
        }));
        for d in cases {
            for scale in [0, 2, 6, 12, 28] {
                let want = rounded(d, scale);
                if want.scale() == scale {
                    assert_eq!(mantissa_at(d, scale), want.mantissa(), "{d:?} at {scale}");
                }
                if let Some(m) = rounded_mantissa(d, scale) {
                    assert_eq!(m, want.mantissa(), "{d:?} at {scale}");
                }
                let mut got = Vec::new();
                push_fixed(&mut got, d, scale);
                let mut old = Vec::new();
                push_decimal(
                    &mut old,
                    d.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero),
                    scale as usize,
                );
                assert_eq!(got, old, "{d:?} at {scale}");
            }
        }
    }

    #[test]
    fn parquet_groups_write_the_bytes_of_polars_own_writer() {
        // Two row groups (polars cuts 600,000 rows into 2 × 300,000), every
        // column type the outputs use, nulls, repeated and distinct text.
        let n = 600_000usize;
        let dir = tempfile::tempdir().unwrap();
        let text = (0..n).map(|i| (i % 7 != 0).then(|| format!("acct-{:06}", i % 50_000)));
        // Text columns as reckon builds their dictionaries (`dictionary_of`):
        // runs of long values with nulls and empty strings; every value
        // distinct (written plain); distinct values near three quarters of
        // the rows, where polars' estimate decides; no value at all.
        let runs = (0..n).map(|i| match i % 11 {
            0 => None,
            1 => Some(String::new()),
            _ => Some(format!("Tencent Cloud service {}", (i / 1000 + i % 3) % 5)),
        });
        let unique = (0..n).map(|i| Some(format!("usage line {i} of the month, described")));
        // Distinct values per row group (300,000 rows): 226,000 (polars'
        // estimate 224,963: under three quarters, a dictionary, though an
        // exact count is over) and 226,500 (estimate 225,506: plain).
        let near = |d: usize| {
            (0..n).map(move |i| Some(format!("{}", ((i % 300_000) % d) * 7919 % 1_000_003)))
        };
        let none = (0..n).map(|_| None::<&str>);
        let df = DataFrame::new(
            n,
            vec![
                StringChunked::from_iter_options("account".into(), text).into_column(),
                StringChunked::from_iter_options("runs".into(), runs).into_column(),
                StringChunked::from_iter_options("unique".into(), unique).into_column(),
                StringChunked::from_iter_options("near_dict".into(), near(226_000)).into_column(),
                StringChunked::from_iter_options("near_plain".into(), near(226_500)).into_column(),
                StringChunked::from_iter_options("none".into(), none).into_column(),
                Int64Chunked::from_iter_values("n".into(), (0..n as i64).map(|i| i * 37 % 1001))
                    .into_column(),
                decimal_column(
                    "amount".into(),
                    (0..n as i128).map(|i| (i % 5 != 0).then_some(i * 1_234_567 - 10_000)),
                    6,
                )
                .unwrap(),
                utc_column(
                    "at".into(),
                    (0..n as i64).map(|i| Some(1_790_000_000_000_000 + i * 1_000_003)),
                )
                .unwrap(),
            ],
        )
        .unwrap();
        let theirs = dir.path().join("polars.parquet");
        ParquetWriter::new(File::create(&theirs).unwrap())
            .finish(&mut df.clone())
            .unwrap();
        let ours = dir.path().join("ours.parquet");
        let mut w = ParquetGroups::create(&ours, df.schema(), n).unwrap();
        // Pushed in uneven pieces that straddle the group boundary.
        let mut at = 0;
        for len in [1, 99_999, 250_000, 150_000, 100_000] {
            w.push(df.slice(at as i64, len)).unwrap();
            at += len;
        }
        assert_eq!(at, n);
        w.finish().unwrap();
        let (a, b) = (fs::read(&theirs).unwrap(), fs::read(&ours).unwrap());
        assert!(a == b, "{} bytes against polars' {}", b.len(), a.len());
    }

    /// The text of UTC instants is polars' cast to String, for each unit,
    /// before 1970, with and without fractions, and past the years the day
    /// counts write (where polars' own cast is used).
    #[test]
    fn utc_instants_have_polars_text() {
        for (unit, per) in [
            (TimeUnit::Milliseconds, 1_000i64),
            (TimeUnit::Microseconds, 1_000_000),
            (TimeUnit::Nanoseconds, 1_000_000_000),
        ] {
            let mut x: i64 = 1_790_000_000_123_456_789 / (1_000_000_000 / per);
            let mut values: Vec<Option<i64>> =
                vec![Some(0), Some(-1), None, Some(per * 86_400 * 366)];
            for k in 0..20_000i64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Years about 1000 to 9999 (seconds -3e10 to 2.5e11), or
                // the years nanoseconds reach (1678 to 2261).
                let secs = if per == 1_000_000_000 {
                    x.rem_euclid(18_000_000_000) - 9_000_000_000
                } else {
                    x.rem_euclid(280_000_000_000) - 30_000_000_000
                };
                let frac = if k % 3 == 0 { 0 } else { x.rem_euclid(per) };
                values.push(Some(secs * per + frac));
            }
            let column = |v: &[Option<i64>]| {
                Int64Chunked::from_iter_options("t".into(), v.iter().copied())
                    .into_datetime(unit, Some(TimeZone::UTC))
                    .into_column()
            };
            let c = column(&values);
            let ours = utc_column_text(&c, unit).unwrap();
            let theirs = c.cast(&DataType::String).unwrap();
            assert!(
                ours.into_series()
                    .equals_missing(theirs.as_materialized_series()),
                "{unit:?}"
            );
            // An instant in the year 12000: polars' own cast, for the column.
            if unit != TimeUnit::Nanoseconds {
                let far = column(&[Some(0), Some(315_537_897_600 * per)]);
                let ours = utc_column_text(&far, unit).unwrap();
                let theirs = far.cast(&DataType::String).unwrap();
                assert!(ours
                    .into_series()
                    .equals_missing(theirs.as_materialized_series()));
            }
        }
    }

    #[test]
    fn open_parquet_groups_are_of_polars_default_size_the_rest_last() {
        let n = 2 * ROW_GROUP + 5;
        let df = DataFrame::new(
            n,
            vec![Int64Chunked::from_iter_values("n".into(), 0..n as i64).into_column()],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("open.parquet");
        let mut w = ParquetGroups::create_open(&path, df.schema()).unwrap();
        let mut at = 0;
        for len in [7, ROW_GROUP, ROW_GROUP - 10, 8] {
            w.push(df.slice(at as i64, len)).unwrap();
            at += len;
        }
        assert_eq!(at, n);
        w.finish().unwrap();
        let meta = polars_parquet::read::read_metadata(&mut File::open(&path).unwrap()).unwrap();
        let sizes: Vec<usize> = meta.row_groups.iter().map(|g| g.num_rows()).collect();
        assert_eq!(sizes, vec![ROW_GROUP, ROW_GROUP, 5]);
        let back = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert!(back.equals(&df));
        // No rows: the schema and no row group.
        let w = ParquetGroups::create_open(&path, df.schema()).unwrap();
        w.finish().unwrap();
        let back = ParquetReader::new(File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!((back.height(), back.schema()), (0, df.schema()));
    }

    #[test]
    fn overlapped_takes_every_item_in_order_and_stops_at_the_first_error() {
        let mut made = 0..1000;
        let mut taken = Vec::new();
        overlapped(
            || made.next().map(Ok),
            |x| {
                taken.push(x);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(taken, (0..1000).collect::<Vec<_>>());
        // A failed make after item 4: items 0 to 4 taken, then the error.
        let mut made = 0..10;
        let mut taken = Vec::new();
        let r = overlapped(
            || {
                made.next().map(|x| {
                    if x == 5 {
                        Err(Error::Config("make".into()))
                    } else {
                        Ok(x)
                    }
                })
            },
            |x| {
                taken.push(x);
                Ok(())
            },
        );
        assert!(matches!(r, Err(Error::Config(m)) if m == "make"));
        assert_eq!(taken, vec![0, 1, 2, 3, 4]);
        // A failed take stops it there.
        let mut made = 0..10;
        let mut taken = Vec::new();
        let r = overlapped(
            || made.next().map(Ok),
            |x| {
                if x == 3 {
                    return Err(Error::Config("take".into()));
                }
                taken.push(x);
                Ok(())
            },
        );
        assert!(matches!(r, Err(Error::Config(m)) if m == "take"));
        assert_eq!(taken, vec![0, 1, 2]);
    }

    #[test]
    fn csv_rows_are_written_in_order_across_blocks() {
        // More rows than two blocks, the last one short: rendered in
        // parallel pieces, each block written while the next is rendered.
        let n = 2 * CSV_BLOCK + 12_345;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let mut csv = CsvFile::create(&path).unwrap();
        csv.header(&["i", "sq"]).unwrap();
        csv.rows(n, |i, buf| put(buf, format_args!("{i},{}\n", i * i)))
            .unwrap();
        csv.finish().unwrap();
        let mut want = String::from("i,sq\n");
        for i in 0..n {
            want.push_str(&format!("{i},{}\n", i * i));
        }
        assert!(fs::read_to_string(&path).unwrap() == want);
        // No rows: the header alone.
        let mut csv = CsvFile::create(&path).unwrap();
        csv.header(&["i"]).unwrap();
        csv.rows(0, |_, _| unreachable!()).unwrap();
        csv.finish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "i\n");
    }

    #[test]
    fn row_groups_follow_polars() {
        assert_eq!(row_groups(0), Vec::<usize>::new());
        assert_eq!(row_groups(10), vec![10]);
        assert_eq!(row_groups(524_287), vec![524_287]);
        assert_eq!(row_groups(524_288), vec![262_144, 262_144]);
        assert_eq!(row_groups(793_862), vec![264_620, 264_620, 264_622]);
    }

    #[test]
    fn times_match_the_chrono_formats() {
        // Both writers against chrono's text of the same instant.
        let check = |t: Micros, offset: i32| {
            let mut buf = Vec::new();
            push_time(&mut buf, t, offset);
            let want = period::format_time(t, offset);
            assert_eq!(String::from_utf8(buf).unwrap(), want, "{t} {offset}");
            let mut buf = Vec::new();
            push_utc(&mut buf, t);
            let want = period::to_datetime(t, 0)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(String::from_utf8(buf).unwrap(), want, "{t}");
        };
        let mut x: i64 = 1_790_000_000_123_456;
        for offset in [
            0,
            8 * 3600,
            -5 * 3600,
            5 * 3600 + 1800,
            5 * 3600 + 2700,
            -9000,
        ] {
            for k in 0..2000 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                // Instants from 1970 to ~2100; every other one on a whole second.
                let mut t = (x >> 1).rem_euclid(4_102_444_800_000_000);
                if k % 2 == 0 {
                    t -= t % 1_000_000;
                }
                check(t, offset);
            }
            // Before 1970, and years of fewer or more than four digits
            // (written by chrono's own format).
            for t in [
                -1,
                -1_000_000,
                -86_400_000_001,
                -31_000_000_000_000_000,
                -62_000_000_000_000_000,
                253_402_300_799_000_000,
                253_402_300_800_000_000,
                300_000_000_000_123_456,
            ] {
                check(t, offset);
            }
        }
    }

    #[test]
    fn text_is_quoted_like_polars() {
        let cell = |s: Option<&str>| {
            let mut b = Vec::new();
            push_text(&mut b, s);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(cell(None), "");
        assert_eq!(cell(Some("")), "\"\"");
        assert_eq!(cell(Some("a b")), "a b");
        assert_eq!(cell(Some("a,b")), "\"a,b\"");
        assert_eq!(cell(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(cell(Some("x\ny")), "\"x\ny\"");
        // A special byte anywhere in a long cell (inside a 16-byte block or
        // in the remainder) quotes it; none leaves it bare.
        let plain = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        assert_eq!(cell(Some(plain)), plain);
        for at in 0..plain.len() {
            for c in [',', '"', '\n', '\r'] {
                let mut s = plain.to_string();
                s.replace_range(at..at + 1, &c.to_string());
                let quoted = cell(Some(&s));
                assert_eq!(quoted, format!("\"{}\"", s.replace('"', "\"\"")), "{s:?}");
            }
        }
        // Quotes first, last, side by side, among other text.
        for s in [
            "\"",
            "\"\"",
            "\"a",
            "a\"",
            "a\"\"b,",
            "音频\"标签\", x\"",
            ",\"\"\",",
        ] {
            assert_eq!(
                cell(Some(s)),
                format!("\"{}\"", s.replace('"', "\"\"")),
                "{s:?}"
            );
        }
    }
}
