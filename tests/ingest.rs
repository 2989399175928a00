//! Ingest: validation to rejects (file, row, column, value, reason), exact
//! decimals, time zones, dedupe across part files, CSV line numbers, typed
//! Parquet, and clear errors for unreadable files.
//!
//! The catalog is built here from the structs of `reckon::catalog`, so these
//! tests do not depend on the shipped catalog files.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::TimeZone as _;
use polars::prelude::*;
use reckon::catalog::{
    Catalog, Cycle, Item, Measure, Postpaid, Product, SubscriptionItem, TermPrice, Tier,
};
use reckon::ingest::{self, IngestOptions, Ingested};
use rust_decimal::Decimal;

const FF: &str = "tencent.face_fusion.image_basic";
const TAGS: &str = "tencent.video_tags";
const IMS: &str = "alibaba.ims.image_text.common";
const USAGE_HEADER: &str =
    "event_id,account_id,item,event_time,status,quantity,input_seconds,output_seconds,preview_only,region,resolution\n";
const PACKAGES_HEADER: &str =
    "package_id,account_id,item,kind,size,remaining,effective_at,expires_at,price,currency,refunded_at\n";
const CST: i32 = 8 * 3600;

// ---------------------------------------------------------------------------
// Catalog and helpers
// ---------------------------------------------------------------------------

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn item(id: &str, measure: Measure, unit_size: &str) -> Item {
    Item {
        id: id.into(),
        name: id.into(),
        unit: "call".into(),
        measure,
        unit_size: dec(unit_size),
        rounding: None,
        cycle: Cycle::Month,
        postpaid: Postpaid::Auto,
        free_when_preview: false,
        public_beta: false,
        covered_by_modes: vec![],
        price_lists: vec![],
        packages: vec![],
        source: "test".into(),
    }
}

fn subscription(id: &str, terms: &[&str], max: Option<&str>) -> SubscriptionItem {
    SubscriptionItem {
        id: id.into(),
        name: id.into(),
        unit: "qps".into(),
        terms: terms
            .iter()
            .map(|t| TermPrice {
                term: t.to_string(),
                tiers: vec![Tier {
                    from: dec("0"),
                    to: None,
                    unit_price: dec("1"),
                    source: "test".into(),
                }],
            })
            .collect(),
        max_quantity: max.map(dec),
        source: "test".into(),
    }
}

fn product(
    id: &str,
    currency: &str,
    items: Vec<Item>,
    subscriptions: Vec<SubscriptionItem>,
) -> Product {
    Product {
        id: id.into(),
        vendor: id.split('.').next().unwrap().into(),
        name: id.into(),
        currency: currency.into(),
        timezone: "+08:00".into(),
        guide: "test".into(),
        default_region: None,
        items,
        subscriptions,
    }
}

fn catalog() -> Catalog {
    Catalog {
        products: vec![
            product(
                "tencent.face_fusion",
                "USD",
                vec![item(FF, Measure::Count, "1")],
                vec![subscription(
                    "tencent.face_fusion.image_basic.qps",
                    &["day", "month"],
                    None,
                )],
            ),
            product(
                "tencent.image_animate",
                "USD",
                vec![item("tencent.image_animate", Measure::Count, "1")],
                vec![subscription(
                    "tencent.image_animate.concurrency",
                    &["month"],
                    Some("50"),
                )],
            ),
            product(
                "tencent.video_understanding",
                "CNY",
                vec![item(TAGS, Measure::Quantity, "60")],
                vec![],
            ),
            product(
                "alibaba.ims",
                "CNY",
                vec![
                    item(IMS, Measure::InputPlusOutputSeconds, "60"),
                    item(
                        "alibaba.ims.highlight_extraction",
                        Measure::InputSeconds,
                        "60",
                    ),
                ],
                vec![],
            ),
        ],
        version: "test".into(),
        files: vec![],
        positions: Default::default(),
    }
}

/// An instant (µs UTC) from RFC 3339 text.
fn t(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

/// October 2026 in UTC+08:00.
fn opts() -> IngestOptions {
    let cst = chrono::FixedOffset::east_opt(CST).unwrap();
    let start = cst
        .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .unwrap()
        .timestamp_micros();
    let end = cst
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .unwrap()
        .timestamp_micros();
    assert_eq!(start, t("2026-09-30T16:00:00Z"));
    assert_eq!(end, t("2026-10-31T16:00:00Z"));
    IngestOptions {
        period_start: start,
        period_end: end,
        assume_offset: None,
    }
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn usage_csv(rows: &[&str]) -> String {
    let mut s = USAGE_HEADER.to_string();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn packages_csv(rows: &[&str]) -> String {
    let mut s = PACKAGES_HEADER.to_string();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// A directory with `usage.csv` and `packages.csv`.
fn dir_with(usage: &[&str], packages: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", usage_csv(usage));
    write(d.path(), "packages.csv", packages_csv(packages));
    d
}

fn try_read(dir: &Path, o: &IngestOptions) -> reckon::error::Result<Ingested> {
    ingest::ingest(dir, &catalog(), o)
}

fn read(dir: &Path) -> Ingested {
    try_read(dir, &opts()).unwrap()
}

/// The error message of an ingest that must fail.
fn error(dir: &Path) -> String {
    match try_read(dir, &opts()) {
        Ok(_) => panic!("ingest of {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// A reject: file name, row, column, value, reason.
type Rej = (String, i64, String, Option<String>, String);

fn all_rejects(ing: &Ingested) -> Vec<Rej> {
    let r = &ing.rejects;
    let file = r.column("file").unwrap().str().unwrap();
    let row = r.column("row").unwrap().i64().unwrap();
    let column = r.column("column").unwrap().str().unwrap();
    let value = r.column("value").unwrap().str().unwrap();
    let reason = r.column("reason").unwrap().str().unwrap();
    (0..r.height())
        .map(|i| {
            let name = Path::new(file.get(i).unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            (
                name,
                row.get(i).unwrap(),
                column.get(i).unwrap().to_string(),
                value.get(i).map(str::to_string),
                reason.get(i).unwrap().to_string(),
            )
        })
        .collect()
}

/// Rejects of one file as (row, column, reason code) triples.
fn codes(ing: &Ingested, file: &str) -> Vec<(i64, String, String)> {
    all_rejects(ing)
        .into_iter()
        .filter(|r| r.0 == file)
        .map(|(_, row, c, _, reason)| (row, c, reason.split(':').next().unwrap().to_string()))
        .collect()
}

fn triples(v: &[(i64, &str, &str)]) -> Vec<(i64, String, String)> {
    v.iter()
        .map(|(r, c, x)| (*r, c.to_string(), x.to_string()))
        .collect()
}

/// The full reason of the reject at (file, row, column).
fn reason(ing: &Ingested, file: &str, row: i64, column: &str) -> String {
    all_rejects(ing)
        .into_iter()
        .find(|r| r.0 == file && r.1 == row && r.2 == column)
        .unwrap_or_else(|| panic!("no reject at {file} {row} {column}"))
        .4
}

/// (read, accepted, rejected, duplicates) of a table, checking that they add up.
fn counts(ing: &Ingested, table: &str) -> (u64, u64, u64, u64) {
    let s = ing.stats.iter().find(|s| s.table == table).unwrap();
    assert_eq!(
        s.read,
        s.accepted + s.rejected + s.duplicates,
        "{table}: read = accepted + rejected + duplicates"
    );
    (s.read, s.accepted, s.rejected, s.duplicates)
}

fn usage(ing: &Ingested) -> DataFrame {
    ing.usage
        .frame()
        .unwrap()
        .sort(["event_id"], SortMultipleOptions::default())
        .collect()
        .unwrap()
}

fn i64s(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let c = df.column(name).unwrap().cast(&DataType::Int64).unwrap();
    let c = c.i64().unwrap();
    (0..c.len()).map(|i| c.get(i)).collect()
}

fn strs(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let c = df.column(name).unwrap().str().unwrap();
    (0..c.len()).map(|i| c.get(i).map(str::to_string)).collect()
}

fn bools(df: &DataFrame, name: &str) -> Vec<Option<bool>> {
    let c = df.column(name).unwrap().bool().unwrap();
    (0..c.len()).map(|i| c.get(i)).collect()
}

fn ids(df: &DataFrame) -> Vec<String> {
    strs(df, "event_id")
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

fn write_parquet(path: &Path, mut df: DataFrame) {
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

fn time_col(name: &str, values: &[i64], tz: Option<&str>) -> Column {
    let tz = tz.map(|z| TimeZone::opt_try_new(Some(z)).unwrap().unwrap());
    Column::new(name.into(), values)
        .cast(&DataType::Datetime(TimeUnit::Microseconds, tz))
        .unwrap()
}

fn str_col(name: &str, values: &[&str]) -> Column {
    Column::new(name.into(), values)
}

fn frame(cols: Vec<Column>) -> DataFrame {
    let height = cols[0].len();
    DataFrame::new(height, cols).unwrap()
}

// ---------------------------------------------------------------------------
// Usage validation
// ---------------------------------------------------------------------------

#[test]
fn every_bad_usage_cell_is_a_reject_with_its_file_row_column_value_and_reason() {
    let ok = "2026-10-05T10:00:00+08:00";
    let rows = [
        format!("ok1,a,{FF},{ok},success,,,,,,"),        // 2
        format!(",a,{FF},{ok},success,,,,,,"),           // 3
        format!("e3,  ,{FF},{ok},success,,,,,,"),        // 4
        format!("e4,a,no.such.item,{ok},success,,,,,,"), // 5
        format!("e5,a,{FF},2026-10-32T10:00:00+08:00,success,,,,,,"), // 6
        format!("e6,a,{FF},2026-10-05T10:00:00,success,,,,,,"), // 7
        format!("e7,a,{FF},yesterday,success,,,,,,"),    // 8
        format!("e8,a,{FF},{ok},ok,,,,,,"),              // 9
        format!("e9,a,{TAGS},{ok},success,-3,,,,,"),     // 10
        format!("e10,a,{TAGS},{ok},success,1e3,,,,,"),   // 11
        format!("e11,a,{TAGS},{ok},success,0.1234567,,,,,"), // 12
        format!("e12,a,{TAGS},{ok},success,twelve,,,,,"), // 13
        format!("e13,a,{TAGS},{ok},success,NaN,,,,,"),   // 14
        format!("e14,a,{TAGS},{ok},success,+5,,,,,"),    // 15
        format!("e15,a,{TAGS},{ok},success,1234567890123,,,,,"), // 16
        format!("e16,a,{FF},{ok},success,,,,maybe,,"),   // 17
        format!("e17,a,{IMS},{ok},success,,,,,,"),       // 18
        format!("e18,a,{FF},2026-10-31T23:30:00Z,success,,,,,,"), // 19
        format!("e19,a,{FF},2026-09-30T15:59:59Z,success,,,,,,"), // 20
        format!("e20,a,{FF},2026-09-30T16:00:00Z,success,,,,,,"), // 21: the first instant of October
        format!("e21,a,{FF},2026-10-31T16:00:00Z,success,,,,,,"), // 22: the first instant of November
        format!("e22,,{FF},{ok},nope,-1,,,,,"),                   // 23: three bad cells, one row
        format!("e23,a,{TAGS},{ok},success,.5,,,,,"),             // 24
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let d = dir_with(&rows, &[]);
    let ing = read(d.path());
    let want = triples(&[
        (3, "event_id", "missing_value"),
        (4, "account_id", "missing_value"),
        (5, "item", "unknown_item"),
        (6, "event_time", "bad_timestamp"),
        (7, "event_time", "naive_timestamp"),
        (8, "event_time", "bad_timestamp"),
        (9, "status", "bad_status"),
        (10, "quantity", "negative"),
        (11, "quantity", "bad_decimal"),
        (12, "quantity", "bad_decimal"),
        (13, "quantity", "bad_decimal"),
        (14, "quantity", "bad_decimal"),
        (15, "quantity", "bad_decimal"),
        (16, "quantity", "bad_decimal"),
        (17, "preview_only", "bad_bool"),
        (18, "input_seconds", "missing_value"),
        (18, "output_seconds", "missing_value"),
        (19, "event_time", "outside_period"),
        (20, "event_time", "outside_period"),
        (22, "event_time", "outside_period"),
        (23, "account_id", "missing_value"),
        (23, "quantity", "negative"),
        (23, "status", "bad_status"),
        (24, "quantity", "bad_decimal"),
    ]);
    assert_eq!(codes(&ing, "usage.csv"), want);
    // The reason says why.
    assert!(reason(&ing, "usage.csv", 11, "quantity").contains("exponent"));
    assert!(reason(&ing, "usage.csv", 12, "quantity").contains("more than 6 decimal places"));
    let twelve = reason(&ing, "usage.csv", 13, "quantity");
    assert!(
        twelve.contains("not a plain decimal") && !twelve.contains("exponent"),
        "{twelve}"
    );
    assert!(reason(&ing, "usage.csv", 14, "quantity").contains("NaN"));
    assert!(reason(&ing, "usage.csv", 15, "quantity").contains("sign"));
    assert!(reason(&ing, "usage.csv", 16, "quantity").contains("12 integer digits"));
    // One row with three bad cells counts once.
    assert_eq!(counts(&ing, "usage"), (23, 2, 21, 0));
    assert_eq!(ids(&usage(&ing)), vec!["e20", "ok1"]);
    // The value as written; null when the cell is empty.
    let all = all_rejects(&ing);
    let at = |row: i64, c: &str| {
        all.iter()
            .find(|r| r.1 == row && r.2 == c)
            .unwrap()
            .3
            .clone()
    };
    assert_eq!(at(11, "quantity").as_deref(), Some("1e3"));
    assert_eq!(
        at(19, "event_time").as_deref(),
        Some("2026-10-31T23:30:00Z")
    );
    assert_eq!(at(3, "event_id"), None);
    assert_eq!(at(4, "account_id"), None, "a blank cell is empty");
    // The file is the path as given.
    let file = ing
        .rejects
        .column("file")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert_eq!(file, d.path().join("usage.csv").display().to_string());
    // Contract types.
    let schema = ing.rejects.schema();
    for (name, dtype) in [
        ("file", DataType::String),
        ("row", DataType::Int64),
        ("column", DataType::String),
        ("value", DataType::String),
        ("reason", DataType::String),
    ] {
        assert_eq!(schema.get(name), Some(&dtype), "{name}");
    }
}

#[test]
fn decimals_are_exact_micro_units_and_quantity_defaults_to_one() {
    let ok = "2026-10-05T10:00:00+08:00";
    let rows = [
        format!("a,x,{FF},{ok},success,,,,,,"),
        format!("b,x,{TAGS},{ok},success,2.500000000,,,,,"),
        format!("c,x,{TAGS},{ok},success,0.000001,,,,,"),
        format!("d,x,{TAGS},{ok},success,999999999999.999999,,,,,"),
        format!("e,x,{TAGS},{ok},success,5.,,,,,"),
        format!("f,x,{TAGS},{ok},success, 0.100000 ,,,,,"),
        format!("g,x,{IMS},{ok},success,,90.5,23,,,"),
        format!("h,x,{TAGS},{ok},success,0.1234567,,,,,"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let d = dir_with(&rows, &[]);
    let ing = read(d.path());
    let df = usage(&ing);
    assert_eq!(
        ids(&df),
        vec!["a", "b", "c", "d", "e", "f", "g"],
        "0.1234567 is rejected, not rounded"
    );
    assert_eq!(
        i64s(&df, "quantity_micro"),
        vec![
            Some(1_000_000),
            Some(2_500_000),
            Some(1),
            Some(999_999_999_999_999_999),
            Some(5_000_000),
            Some(100_000),
            Some(1_000_000)
        ]
    );
    assert_eq!(
        i64s(&df, "input_micro"),
        vec![None, None, None, None, None, None, Some(90_500_000)]
    );
    assert_eq!(
        i64s(&df, "output_micro"),
        vec![None, None, None, None, None, None, Some(23_000_000)]
    );

    // No quantity column at all: every event counts one.
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "usage.csv",
        format!("event_id,account_id,item,event_time,status\nq,x,{FF},{ok},failed\n"),
    );
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let df = usage(&read(d.path()));
    assert_eq!(i64s(&df, "quantity_micro"), vec![Some(1_000_000)]);
    assert_eq!(
        bools(&df, "success"),
        vec![Some(false)],
        "failed rows are kept, flagged"
    );
    assert_eq!(bools(&df, "preview_only"), vec![Some(false)]);
    assert_eq!(strs(&df, "region"), vec![None]);
}

#[test]
fn offsets_in_every_form_give_the_same_instant_and_naive_needs_a_stated_zone() {
    let rows = [
        format!("a,x,{FF},2026-10-05T02:00:00Z,success,,,,,,"),
        format!("b,x,{FF},2026-10-05T10:00:00+08:00,success,,,,,,"),
        format!("c,x,{FF},2026-10-05 10:00:00+0800,success,,,,,,"),
        format!("d,x,{FF},2026-10-05T10:00:00.000+08:00,success,,,,,,"),
        format!("e,x,{FF},2026-10-04T21:00:00-05:00,success,,,,,,"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let d = dir_with(&rows, &[]);
    let df = usage(&read(d.path()));
    let want = t("2026-10-05T02:00:00Z");
    assert_eq!(i64s(&df, "t"), vec![Some(want); 5]);

    // Fractional seconds are kept to the microsecond.
    let d = dir_with(
        &[&format!(
            "f,x,{FF},2026-10-05T02:00:00.123456Z,success,,,,,,"
        )],
        &[],
    );
    assert_eq!(
        i64s(&usage(&read(d.path())), "t"),
        vec![Some(want + 123_456)]
    );

    // A naive time is rejected, unless the zone is stated.
    let d = dir_with(
        &[&format!("n,x,{FF},2026-10-05 10:00:00,success,,,,,,")],
        &[],
    );
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "usage.csv"),
        triples(&[(2, "event_time", "naive_timestamp")])
    );
    let mut o = opts();
    o.assume_offset = Some(CST);
    let ing = try_read(d.path(), &o).unwrap();
    assert_eq!(i64s(&usage(&ing), "t"), vec![Some(want)]);
}

#[test]
fn unknown_items_are_summarised_per_account_and_item() {
    let ok = "2026-10-05T10:00:00+08:00";
    let rows = [
        "u1,a,x.new,2026-10-06T10:00:00+08:00,success,2,,,,,".to_string(),
        format!("u2,a,x.new,{ok},success,,,,,,"),
        format!("u3,b,x.new,{ok},success,0.5,,,,,"),
        format!("u4,b,x.new,{ok},broken,,,,,,"), // another problem too: not summarised
        format!("u5,b,{FF},{ok},success,,,,,,"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let d = dir_with(&rows, &[]);
    let ing = read(d.path());
    let u = &ing.unknown_items;
    assert_eq!(
        strs(u, "account_id"),
        vec![Some("a".into()), Some("b".into())]
    );
    assert_eq!(
        strs(u, "item"),
        vec![Some("x.new".into()), Some("x.new".into())]
    );
    assert_eq!(
        strs(u, "event_id"),
        vec![None, Some("u3".into())],
        "an id only for a single event"
    );
    assert_eq!(
        i64s(u, "event_time"),
        vec![Some(t("2026-10-05T02:00:00Z")); 2]
    );
    assert_eq!(
        i64s(u, "quantity_micro"),
        vec![Some(3_000_000), Some(500_000)]
    );
    assert_eq!(i64s(u, "events"), vec![Some(2), Some(1)]);
    assert_eq!(counts(&ing, "usage"), (5, 1, 4, 0));
}

/// A month whose usage is two part files, `usage/part-a.csv` and
/// `usage/part-b.csv`, and whose packages table is empty.
fn two_parts(a: &[String], b: &[String]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let parts = d.path().join("usage");
    std::fs::create_dir(&parts).unwrap();
    let text = |rows: &[String]| usage_csv(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    write(&parts, "part-a.csv", text(a));
    write(&parts, "part-b.csv", text(b));
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    d
}

/// A usage row of item `FF` at 10:00 (UTC+08:00) on `day` of October 2026.
fn row(id: &str, account: &str, status: &str, quantity: u32, day: u32) -> String {
    format!("{id},{account},{FF},2026-10-{day:02}T10:00:00+08:00,{status},{quantity},,,,,")
}

#[test]
fn a_repeated_event_id_counts_once_keeping_the_first_even_across_part_files() {
    let d = two_parts(
        &[
            row("e1", "x", "success", 1, 5),
            // e3's first row is invalid: the later valid one is not a duplicate.
            row("e3", "x", "bogus", 1, 5),
        ],
        &[
            row("e2", "x", "success", 2, 6),
            row("e1", "x", "success", 5, 7),
            row("e3", "x", "success", 3, 7),
            row("e2", "x", "failed", 9, 8),
            row("e1", "x", "success", 6, 9),
        ],
    );
    // Not a part file: ignored.
    write(&d.path().join("usage"), "_SUCCESS", "");
    let ing = read(d.path());
    assert_eq!(counts(&ing, "usage"), (7, 3, 1, 3));
    let df = usage(&ing);
    assert_eq!(ids(&df), vec!["e1", "e2", "e3"]);
    assert_eq!(
        i64s(&df, "quantity_micro"),
        vec![Some(1_000_000), Some(2_000_000), Some(3_000_000)]
    );
    let dup = &ing.duplicates;
    let name = |c: &str| -> Vec<String> {
        strs(dup, c)
            .into_iter()
            .map(|p| {
                Path::new(&p.unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into()
            })
            .collect()
    };
    assert_eq!(name("file"), vec!["part-b.csv"; 3]);
    assert_eq!(i64s(dup, "row"), vec![Some(3), Some(5), Some(6)]);
    assert_eq!(
        strs(dup, "event_id"),
        vec![Some("e1".into()), Some("e2".into()), Some("e1".into())]
    );
    assert_eq!(
        name("first_file"),
        vec!["part-a.csv", "part-b.csv", "part-a.csv"]
    );
    assert_eq!(i64s(dup, "first_row"), vec![Some(2), Some(2), Some(2)]);
}

/// The second pass reads only some accounts' rows, filtering the raw
/// account as the scan reads it: the same rows as the whole frame's,
/// padded ids included, rejected rows and dropped duplicates excluded.
/// Accounts a, b (one id padded) and c over two part files, with a
/// rejected row (e4, bogus status) and a duplicate (the second e2).
fn three_accounts_in_two_parts() -> tempfile::TempDir {
    two_parts(
        &[
            row("e1", "a", "success", 1, 5),
            row("e2", " b ", "success", 2, 5),
            row("e3", "c", "success", 3, 6),
            row("e4", "b", "bogus", 4, 6),
        ],
        &[
            row("e2", "b", "success", 7, 7),
            row("e5", "b", "failed", 5, 7),
            row("e6", "a", "success", 6, 8),
        ],
    )
}

#[test]
fn the_kept_rows_of_some_accounts_are_the_whole_frames_rows_of_those_accounts() {
    let d = three_accounts_in_two_parts();
    let ing = read(d.path());
    assert_eq!(counts(&ing, "usage"), (7, 5, 1, 1));
    let sorted = |lf: LazyFrame| {
        lf.sort(["event_id"], SortMultipleOptions::default())
            .collect()
            .unwrap()
    };
    let whole = ing.usage.frame().unwrap();
    for accounts in [
        vec![],
        vec!["b"],
        vec!["a", "c"],
        vec!["a", "b", "c"],
        vec!["zz"],
    ] {
        let list = lit(Series::new("".into(), accounts.as_slice())).implode(false);
        let want = sorted(whole.clone().filter(col("account_id").is_in(list, false)));
        let got = sorted(ing.usage.of_accounts(&accounts).unwrap());
        assert!(
            got.equals_missing(&want),
            "{accounts:?}: {got} against {want}"
        );
    }
    let b = sorted(ing.usage.of_accounts(&["b"]).unwrap());
    assert_eq!(ids(&b), vec!["e2", "e5"]);
    assert_eq!(
        i64s(&b, "quantity_micro"),
        vec![Some(2_000_000), Some(5_000_000)]
    );
}

#[test]
fn the_marked_rows_are_every_row_read_and_only_the_kept_are_marked_kept() {
    // e4 rejected (bogus status), the second e2 a duplicate.
    let d = three_accounts_in_two_parts();
    let ing = read(d.path());
    let marked = ing.usage.marked().unwrap().collect().unwrap();
    assert_eq!(marked.height(), 7, "every row read");
    let kept = marked
        .clone()
        .lazy()
        .filter(col("_kept"))
        .drop(cols(["_kept"]))
        .sort(["_row"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    let frame = ing
        .usage
        .frame()
        .unwrap()
        .sort(["_row"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    assert!(kept.equals_missing(&frame), "{kept} against {frame}");
    let left_out = marked.lazy().filter(col("_kept").not()).collect().unwrap();
    // The rejected row, and the later e2 (the one in the second part).
    assert_eq!(left_out.height(), 2);
    assert_eq!(
        i64s(&left_out, "quantity_micro")
            .into_iter()
            .filter(|q| *q == Some(7_000_000))
            .count(),
        1,
        "{left_out}"
    );
}

#[test]
fn csv_line_numbers_count_quoted_line_breaks_and_blank_lines_are_not_rows() {
    let ok = "2026-10-05T10:00:00+08:00";
    let text = format!(
        "\u{feff}{}a1,x,{FF},{ok},success,,,,,\"cn\r\nnorth\",\r\n\r\na2,x,{FF},{ok},success,,,,,\"multi\n\nline\",\r\na3,x,{FF},{ok},bad,,,,,,\r\n\n",
        USAGE_HEADER.replace('\n', "\r\n")
    );
    // Lines: 1 header (after a byte-order mark), 2-3 a1, 4 blank, 5-7 a2, 8 a3 (bad), 9 blank.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", text);
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "usage.csv"),
        triples(&[(8, "status", "bad_status")])
    );
    assert_eq!(
        counts(&ing, "usage"),
        (3, 2, 1, 0),
        "blank lines are not rows"
    );
    let df = usage(&ing);
    assert_eq!(
        strs(&df, "region"),
        vec![Some("cn\r\nnorth".into()), Some("multi\n\nline".into())]
    );

    // A ragged row after a multi-line record is named by its real line.
    let text = format!(
        "{USAGE_HEADER}a1,x,{FF},{ok},success,,,,,\"two\nlines\",\na2,x,{FF},{ok},success\n"
    );
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", text);
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let err = error(d.path());
    assert!(
        err.contains("usage.csv") && err.contains("line 4") && err.contains("5 fields"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Parquet
// ---------------------------------------------------------------------------

#[test]
fn parquet_usage_is_typed_validated_like_csv_and_numbered_by_row() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let instant = t("2026-10-05T02:00:00Z");
    let df = frame(vec![
        str_col("event_id", &["p1", "p2", "p3", "p1"]),
        str_col("account_id", &["a", "a", "a", "a"]),
        str_col("item", &[TAGS, "nope", IMS, TAGS]),
        // A zone other than UTC: the instant is what counts.
        time_col("event_time", &[instant; 4], Some("Asia/Shanghai")),
        str_col("status", &["success", "success", "success", "failed"]),
        Column::new("quantity".into(), ["12.5", "1", "1", "7"])
            .cast(&DataType::Decimal(38, 9))
            .unwrap(),
        Column::new("input_seconds".into(), [None, None, Some(90i64), None]),
        Column::new("output_seconds".into(), [None, None, Some("23.25"), None]),
        Column::new("preview_only".into(), [Some(true), None, Some(false), None]),
    ]);
    write_parquet(&d.path().join("usage.parquet"), df);
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "usage.parquet"),
        triples(&[(2, "item", "unknown_item")]),
        "rows are 1-based"
    );
    assert_eq!(counts(&ing, "usage"), (4, 2, 1, 1));
    let out = usage(&ing);
    assert_eq!(ids(&out), vec!["p1", "p3"]);
    assert_eq!(
        i64s(&out, "quantity_micro"),
        vec![Some(12_500_000), Some(1_000_000)]
    );
    assert_eq!(i64s(&out, "t"), vec![Some(instant); 2]);
    assert_eq!(i64s(&out, "input_micro"), vec![None, Some(90_000_000)]);
    assert_eq!(i64s(&out, "output_micro"), vec![None, Some(23_250_000)]);
    assert_eq!(bools(&out, "preview_only"), vec![Some(true), Some(false)]);
    assert_eq!(i64s(&ing.duplicates, "row"), vec![Some(4)]);
    assert_eq!(i64s(&ing.duplicates, "first_row"), vec![Some(1)]);
    let info = &ing.stats[0].files[0];
    assert_eq!((info.rows, info.sha256.len()), (4, 64));
    assert_eq!(
        info.bytes,
        std::fs::metadata(d.path().join("usage.parquet"))
            .unwrap()
            .len()
    );
}

#[test]
fn typed_parquet_numbers_are_read_without_text_and_rejected_with_their_value() {
    // Integer and 2-place decimal columns take the typed path (no text round
    // trip); a failing row still shows its value as text in rejects.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let instant = t("2026-10-05T02:00:00Z");
    let n = 5;
    let df = frame(vec![
        str_col("event_id", &["q1", "q2", "q3", "q4", "q5"]),
        str_col("account_id", &["a"; 5]),
        str_col("item", &[IMS; 5]),
        time_col("event_time", &[instant; 5], Some("UTC")),
        str_col("status", &["success"; 5]),
        Column::new(
            "quantity".into(),
            [Some(3i64), Some(-3), Some(2_000_000_000_000), None, Some(0)],
        ),
        Column::new(
            "input_seconds".into(),
            ["1.25", "2", "3", "-0.50", "999999999999.99"],
        )
        .cast(&DataType::Decimal(14, 2))
        .unwrap(),
        Column::new(
            "output_seconds".into(),
            [Some(1i32), Some(1), Some(1), Some(1), None],
        ),
        Column::new(
            "preview_only".into(),
            [Some(true), Some(false), None, None, None],
        ),
    ]);
    assert_eq!(df.height(), n);
    write_parquet(&d.path().join("usage.parquet"), df);
    let ing = read(d.path());
    let rejects: Vec<_> = all_rejects(&ing)
        .into_iter()
        .map(|(_, row, c, v, reason)| (row, c, v, reason.split(':').next().unwrap().to_string()))
        .collect();
    assert_eq!(
        rejects,
        vec![
            (
                2,
                "quantity".to_string(),
                Some("-3".to_string()),
                "negative".to_string()
            ),
            (
                3,
                "quantity".to_string(),
                Some("2000000000000".to_string()),
                "bad_decimal".to_string()
            ),
            (
                4,
                "input_seconds".to_string(),
                Some("-0.50".to_string()),
                "negative".to_string()
            ),
            (
                5,
                "output_seconds".to_string(),
                None,
                "missing_value".to_string()
            ),
        ]
    );
    let out = usage(&ing);
    assert_eq!(ids(&out), vec!["q1"]);
    assert_eq!(i64s(&out, "quantity_micro"), vec![Some(3_000_000)]);
    assert_eq!(i64s(&out, "input_micro"), vec![Some(1_250_000)]);
    assert_eq!(i64s(&out, "output_micro"), vec![Some(1_000_000)]);
    assert_eq!(bools(&out, "preview_only"), vec![Some(true)]);
}

fn usage_parquet(quantity: Column, event_time: Column) -> DataFrame {
    frame(vec![
        str_col("event_id", &["e1"]),
        str_col("account_id", &["a"]),
        str_col("item", &[TAGS]),
        event_time,
        str_col("status", &["success"]),
        quantity,
    ])
}

#[test]
fn parquet_float_money_naive_timestamps_and_wrong_kinds_are_errors() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let path = d.path().join("usage.parquet");
    let aware = || time_col("event_time", &[t("2026-10-05T02:00:00Z")], Some("UTC"));
    let qty = || Column::new("quantity".into(), [12i64]);

    write_parquet(
        &path,
        usage_parquet(Column::new("quantity".into(), [12.5f64]), aware()),
    );
    let err = error(d.path());
    assert!(
        err.contains("usage.parquet") && err.contains("quantity") && err.contains("float"),
        "{err}"
    );

    write_parquet(
        &path,
        usage_parquet(Column::new("quantity".into(), [true]), aware()),
    );
    let err = error(d.path());
    assert!(
        err.contains("usage.parquet") && err.contains("quantity"),
        "{err}"
    );

    write_parquet(
        &path,
        usage_parquet(qty(), Column::new("event_time".into(), [1i64])),
    );
    let err = error(d.path());
    assert!(
        err.contains("usage.parquet") && err.contains("event_time"),
        "{err}"
    );

    // Naive: 10:00 local at UTC+08:00 when the zone is stated.
    write_parquet(
        &path,
        usage_parquet(
            qty(),
            time_col("event_time", &[t("2026-10-05T10:00:00Z")], None),
        ),
    );
    let err = error(d.path());
    assert!(err.contains("event_time") && err.contains("naive"), "{err}");
    let mut o = opts();
    o.assume_offset = Some(CST);
    let ing = try_read(d.path(), &o).unwrap();
    let out = usage(&ing);
    assert_eq!(i64s(&out, "t"), vec![Some(t("2026-10-05T02:00:00Z"))]);
    assert_eq!(
        i64s(&out, "quantity_micro"),
        vec![Some(12_000_000)],
        "integers are exact"
    );
}

#[test]
fn a_part_directory_may_mix_csv_and_parquet() {
    let d = tempfile::tempdir().unwrap();
    let parts = d.path().join("usage");
    std::fs::create_dir(&parts).unwrap();
    write(
        &parts,
        "1.csv",
        usage_csv(&[&format!(
            "c1,a,{TAGS},2026-10-05T10:00:00+08:00,success,3,,,,,"
        )]),
    );
    write_parquet(
        &parts.join("2.parquet"),
        usage_parquet(
            Column::new("quantity".into(), ["4.5"])
                .cast(&DataType::Decimal(10, 2))
                .unwrap(),
            time_col("event_time", &[t("2026-10-05T02:00:00Z")], Some("UTC")),
        ),
    );
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let ing = read(d.path());
    assert_eq!(counts(&ing, "usage"), (2, 2, 0, 0));
    assert_eq!(
        i64s(&usage(&ing), "quantity_micro"),
        vec![Some(3_000_000), Some(4_500_000)]
    );
    assert_eq!(ing.stats[0].files.len(), 2);
}

// ---------------------------------------------------------------------------
// Unreadable inputs
// ---------------------------------------------------------------------------

#[test]
fn unreadable_inputs_are_errors_naming_the_file_line_and_column() {
    let ok = "2026-10-05T10:00:00+08:00";
    let full = format!("e1,x,{FF},{ok},success,,,,,,");

    // Missing tables and directories.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", USAGE_HEADER);
    let err = error(d.path());
    assert!(err.contains("packages"), "{err}");
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let err = error(d.path());
    assert!(
        err.contains(&d.path().join("usage").display().to_string()),
        "{err}"
    );
    let err = error(&d.path().join("nowhere"));
    assert!(err.contains("nowhere"), "{err}");

    // Short and long rows.
    let d = dir_with(&[&full, &format!("e2,x,{FF},{ok},success")], &[]);
    let err = error(d.path());
    assert!(
        err.contains("usage.csv") && err.contains("line 3") && err.contains("5 fields"),
        "{err}"
    );
    let d = dir_with(&[&format!("{full},extra")], &[]);
    let err = error(d.path());
    assert!(
        err.contains("usage.csv") && err.contains("line 2") && err.contains("12 fields"),
        "{err}"
    );

    // A header without a required column.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", "event_id,account_id,item,status\n");
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let err = error(d.path());
    assert!(
        err.contains("usage.csv") && err.contains("event_time"),
        "{err}"
    );

    // Not Parquet at all.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.parquet", "not parquet at all");
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let err = error(d.path());
    assert!(err.contains("usage.parquet"), "{err}");

    // Invalid UTF-8, an unclosed quote, an empty file.
    let d = tempfile::tempdir().unwrap();
    let mut bytes = usage_csv(&[&full]).into_bytes();
    bytes.extend_from_slice(b"e2,x,\xff\xfe,");
    bytes.extend_from_slice(format!("{ok},success,,,,,,\n").as_bytes());
    write(d.path(), "usage.csv", bytes);
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let err = error(d.path());
    assert!(err.contains("line 3") && err.contains("UTF-8"), "{err}");
    let d = dir_with(
        &[&full, &format!("e2,x,{FF},{ok},success,,,,,\"open,")],
        &[],
    );
    let err = error(d.path());
    assert!(err.contains("line 3") && err.contains("quoted"), "{err}");
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", "");
    write(d.path(), "packages.csv", PACKAGES_HEADER);
    let err = error(d.path());
    assert!(err.contains("usage.csv") && err.contains("header"), "{err}");

    // Both forms of one table.
    let d = dir_with(&[], &[]);
    write(d.path(), "packages.parquet", "x");
    let err = error(d.path());
    assert!(
        err.contains("packages.parquet") && err.contains("packages.csv"),
        "{err}"
    );

    // Every message is one line.
    assert!(!err.contains('\n'));
}

// ---------------------------------------------------------------------------
// Packages, accounts, subscriptions
// ---------------------------------------------------------------------------

#[test]
fn package_rows_are_validated_typed_and_repeated_ids_rejected() {
    let win = "2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00";
    let rows = [
        format!("p1,a,{FF},prepaid,1000,999.5,{win},60.125,USD,2026-10-02T00:00:00Z"), // 2
        format!("p1,a,{FF},prepaid,1000,1000,{win},60,USD,"),                          // 3
        format!("p2,a,{FF},gift,10,10,{win},,,"),                                      // 4
        format!("p3,a,{FF},free,10,11,{win},,,"),                                      // 5
        format!("p4,a,{FF},free,10,5,2027-10-01T00:00:00+08:00,2026-10-01T00:00:00+08:00,,,"), // 6
        format!("p5,a,{FF},prepaid,10,10,{win},60.5,EUR,"),                            // 7
        format!("p6,a,{FF},prepaid,10,10,{win},6e1,USD,"),                             // 8
        format!("p7,a,{FF},prepaid,0,0,{win},,,"),                                     // 9
        format!("p8,a,{FF},prepaid,10,-1,{win},,,"),                                   // 10
        format!("p9,a,no.such,free,10,10,{win},,EUR,"), // 11: two problems
        format!("p10,a,{FF},free,10,10,2026-10-01T00:00:00,2027-10-01T00:00:00+08:00,,,"), // 12
        format!("p11,a,{TAGS},free,500,0.5,{win},,,"),  // 13
        format!(",a,{FF},free,10,10,{win},,,"),         // 14
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let d = dir_with(&[], &rows);
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "packages.csv"),
        triples(&[
            (3, "package_id", "duplicate_package_id"),
            (4, "kind", "bad_kind"),
            (5, "remaining", "bad_remaining"),
            (6, "expires_at", "bad_window"),
            (7, "currency", "unknown_currency"),
            (8, "price", "bad_decimal"),
            (9, "size", "bad_size"),
            (10, "remaining", "negative"),
            (11, "currency", "unknown_currency"),
            (11, "item", "unknown_item"),
            (12, "effective_at", "naive_timestamp"),
            (14, "package_id", "missing_value"),
        ])
    );
    assert!(reason(&ing, "packages.csv", 3, "package_id").contains("row 2"));
    assert_eq!(counts(&ing, "packages"), (13, 2, 11, 0));
    let p = &ing.packages[0];
    assert_eq!(
        (
            p.package_id.as_str(),
            p.account_id.as_str(),
            p.item.as_str()
        ),
        ("p1", "a", FF)
    );
    assert_eq!(p.kind, reckon::model::PackageKind::Prepaid);
    assert_eq!((p.size, p.remaining), (dec("1000"), dec("999.5")));
    assert_eq!(
        (p.price, p.currency.as_deref()),
        (Some(dec("60.125")), Some("USD"))
    );
    assert_eq!(
        (p.effective_at, p.expires_at),
        (t("2026-09-30T16:00:00Z"), t("2027-09-30T16:00:00Z"))
    );
    assert_eq!(p.refunded_at, Some(t("2026-10-02T00:00:00Z")));
    assert_eq!(p.remaining_measure, None);
    assert!(p.file.ends_with("packages.csv"));
    assert_eq!(p.row, 2);
    assert_eq!(
        (ing.packages[1].package_id.as_str(), ing.packages[1].row),
        ("p11", 13)
    );
}

#[test]
fn remaining_measure_is_the_exact_balance_and_must_agree() {
    let header = PACKAGES_HEADER.replace('\n', ",remaining_measure\n");
    let win = "2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00";
    // Video tags: 60 seconds a minute; 1 s left is 0.016667 minutes as written.
    let text = format!(
        "{header}m1,a,{TAGS},prepaid,30000,0.016667,{win},,,,1\nm2,a,{TAGS},prepaid,30000,1,{win},,,,61\nm3,a,{TAGS},prepaid,30000,1,{win},,,,\n"
    );
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", USAGE_HEADER);
    write(d.path(), "packages.csv", text);
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "packages.csv"),
        triples(&[(3, "remaining_measure", "bad_remaining_measure")])
    );
    let got: Vec<_> = ing
        .packages
        .iter()
        .map(|p| (p.package_id.clone(), p.remaining_measure))
        .collect();
    assert_eq!(
        got,
        vec![("m1".into(), Some(dec("1"))), ("m3".into(), None)]
    );
}

#[test]
fn parquet_packages_with_decimal_columns_are_exact() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "usage.csv", USAGE_HEADER);
    let df = frame(vec![
        str_col("package_id", &["q1", "q2"]),
        str_col("account_id", &["a", "a"]),
        str_col("item", &[FF, FF]),
        str_col("kind", &["prepaid", "free"]),
        Column::new("size".into(), [1000i64, 10]),
        Column::new("remaining".into(), ["999.123456", "10"])
            .cast(&DataType::Decimal(20, 6))
            .unwrap(),
        time_col("effective_at", &[t("2026-09-30T16:00:00Z"); 2], Some("UTC")),
        time_col(
            "expires_at",
            &[t("2027-09-30T16:00:00Z"), t("2026-09-30T16:00:00Z")],
            Some("UTC"),
        ),
        Column::new("price".into(), [Some("60.10"), None])
            .cast(&DataType::Decimal(10, 2))
            .unwrap(),
        Column::new("currency".into(), [Some("USD"), None]),
    ]);
    write_parquet(&d.path().join("packages.parquet"), df);
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "packages.parquet"),
        triples(&[(2, "expires_at", "bad_window")])
    );
    let p = &ing.packages[0];
    assert_eq!(
        (p.size, p.remaining, p.price),
        (dec("1000"), dec("999.123456"), Some(dec("60.1")))
    );
    assert_eq!(p.row, 1);

    // Float money is refused.
    let df = frame(vec![
        str_col("package_id", &["q1"]),
        str_col("account_id", &["a"]),
        str_col("item", &[FF]),
        str_col("kind", &["prepaid"]),
        Column::new("size".into(), [1000i64]),
        Column::new("remaining".into(), [1000i64]),
        time_col("effective_at", &[0], Some("UTC")),
        time_col("expires_at", &[1], Some("UTC")),
        Column::new("price".into(), [60.1f64]),
    ]);
    write_parquet(&d.path().join("packages.parquet"), df);
    let err = error(d.path());
    assert!(
        err.contains("packages.parquet") && err.contains("price") && err.contains("float"),
        "{err}"
    );
}

#[test]
fn account_settings_are_validated() {
    let d = dir_with(&[], &[]);
    write(
        d.path(),
        "accounts.csv",
        "account_id,product,postpaid_enabled,billing_mode,suspended_from,suspended_until\n\
         a,tencent.image_animate,true,,,\n\
         a,tencent.face_fusion,false,qps,2026-10-10T00:00:00+08:00,2026-10-12T00:00:00+08:00\n\
         a,tencent.image_animate,false,usage,,\n\
         b,tencent.nothing,,,,\n\
         b,tencent.face_fusion,yes,,,\n\
         b,tencent.image_animate,,hourly,,\n\
         c,tencent.face_fusion,,,2026-10-12T00:00:00+08:00,2026-10-10T00:00:00+08:00\n\
         c,tencent.image_animate,,,2026-10-12T00:00:00+08:00,\n\
         d,alibaba.ims,,concurrent,,\n",
    );
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "accounts.csv"),
        triples(&[
            (4, "product", "duplicate_account_product"),
            (5, "product", "unknown_product"),
            (6, "postpaid_enabled", "bad_bool"),
            (7, "billing_mode", "bad_billing_mode"),
            (8, "suspended_until", "bad_window"),
            (9, "suspended_until", "missing_value"),
        ])
    );
    assert_eq!(counts(&ing, "accounts"), (9, 3, 6, 0));
    let got: Vec<_> = ing
        .accounts
        .iter()
        .map(|a| {
            (
                a.account_id.as_str(),
                a.product.as_str(),
                a.postpaid_enabled,
                a.billing_mode.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "tencent.image_animate", Some(true), "usage"),
            ("a", "tencent.face_fusion", Some(false), "qps"),
            ("d", "alibaba.ims", None, "concurrent"),
        ]
    );
    assert_eq!(
        ing.accounts[1].suspended_from,
        Some(t("2026-10-09T16:00:00Z"))
    );
    assert_eq!(
        ing.accounts[1].suspended_until,
        Some(t("2026-10-11T16:00:00Z"))
    );
}

#[test]
fn subscriptions_are_validated_against_the_catalog() {
    let d = dir_with(&[], &[]);
    let win = "2026-10-01T00:00:00+08:00,2026-11-01T00:00:00+08:00";
    write(
        d.path(),
        "subscriptions.csv",
        format!(
            "subscription_id,account_id,item,quantity,term,starts_at,ends_at\n\
             s1,a,tencent.image_animate.concurrency,50,month,{win}\n\
             s2,a,tencent.face_fusion.image_basic.qps,2.5,day,{win}\n\
             s1,b,tencent.image_animate.concurrency,1,month,{win}\n\
             s3,a,{FF},1,month,{win}\n\
             s4,a,tencent.image_animate.concurrency,51,month,{win}\n\
             s5,a,tencent.image_animate.concurrency,0,month,{win}\n\
             s6,a,tencent.image_animate.concurrency,1,day,{win}\n\
             s7,a,tencent.image_animate.concurrency,1,month,2026-11-01T00:00:00+08:00,2026-10-01T00:00:00+08:00\n"
        ),
    );
    let ing = read(d.path());
    assert_eq!(
        codes(&ing, "subscriptions.csv"),
        triples(&[
            (4, "subscription_id", "duplicate_subscription_id"),
            (5, "item", "unknown_item"),
            (6, "quantity", "over_max_quantity"),
            (7, "quantity", "bad_quantity"),
            (8, "term", "bad_term"),
            (9, "ends_at", "bad_window"),
        ])
    );
    assert_eq!(counts(&ing, "subscriptions"), (8, 2, 6, 0));
    let s = &ing.subscriptions[1];
    assert_eq!(
        (s.subscription_id.as_str(), s.quantity, s.term.as_str()),
        ("s2", dec("2.5"), "day")
    );
    assert_eq!(
        (s.starts_at, s.ends_at),
        (t("2026-09-30T16:00:00Z"), t("2026-10-31T16:00:00Z"))
    );
}

// ---------------------------------------------------------------------------
// The whole result
// ---------------------------------------------------------------------------

#[test]
fn rejects_of_all_tables_are_one_sorted_frame_and_optional_tables_may_be_absent() {
    let ok = "2026-10-05T10:00:00+08:00";
    let d = dir_with(
        &[
            &format!("e1,a,{FF},{ok},nope,,,,,,"),
            &format!("e2,a,{FF},{ok},success,x,,,bad,,"),
        ],
        &[&format!("p1,a,{FF},gift,1,1,{ok},{ok},,,")],
    );
    let ing = read(d.path());
    let keys: Vec<(String, i64, String)> = all_rejects(&ing)
        .into_iter()
        .map(|r| (r.0, r.1, r.2))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(
        keys,
        vec![
            ("packages.csv".into(), 2, "expires_at".into()),
            ("packages.csv".into(), 2, "kind".into()),
            ("usage.csv".into(), 2, "status".into()),
            ("usage.csv".into(), 3, "preview_only".into()),
            ("usage.csv".into(), 3, "quantity".into()),
        ]
    );
    let tables: Vec<&str> = ing.stats.iter().map(|s| s.table.as_str()).collect();
    assert_eq!(
        tables,
        vec!["usage", "packages", "accounts", "subscriptions"]
    );
    assert_eq!(counts(&ing, "accounts"), (0, 0, 0, 0));
    assert!(ing.accounts.is_empty() && ing.subscriptions.is_empty());
}

#[test]
fn the_usage_frame_has_the_contract_columns_and_the_same_input_gives_the_same_frames() {
    let ok = "2026-10-05T10:00:00+08:00";
    let rows: Vec<String> = (0..50)
        .map(|i| {
            format!(
                "e{},a{},{TAGS},{ok},success,{}.5,,,TRUE,cn,720p",
                i % 40,
                i % 3,
                i
            )
        })
        .chain([format!("bad,a,{TAGS},{ok},success,-1,,,,,")])
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let d = dir_with(&rows, &[]);
    let a = read(d.path());
    let df = usage(&a);
    let want = [
        ("event_id", DataType::String),
        ("account_id", DataType::String),
        ("item", DataType::String),
        ("t", DataType::Int64),
        ("success", DataType::Boolean),
        ("quantity_micro", DataType::Int64),
        ("input_micro", DataType::Int64),
        ("output_micro", DataType::Int64),
        ("preview_only", DataType::Boolean),
        ("region", DataType::String),
        ("resolution", DataType::String),
        // The row key the event-level stages look event ids up by.
        ("_row", DataType::Int64),
    ];
    let got: Vec<(String, DataType)> = df
        .schema()
        .iter()
        .map(|(n, d)| (n.to_string(), d.clone()))
        .collect();
    let want: Vec<(String, DataType)> = want
        .iter()
        .map(|(n, d)| (n.to_string(), d.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(counts(&a, "usage"), (51, 40, 1, 10));
    assert_eq!(bools(&df, "preview_only")[0], Some(true));
    assert_eq!(strs(&df, "resolution")[0].as_deref(), Some("720p"));

    let b = read(d.path());
    assert!(usage(&b).equals_missing(&df));
    assert!(
        a.usage
            .frame()
            .unwrap()
            .collect()
            .unwrap()
            .equals_missing(&b.usage.frame().unwrap().collect().unwrap()),
        "row order too"
    );
    assert!(a.rejects.equals_missing(&b.rejects));
    assert!(a.duplicates.equals_missing(&b.duplicates));
    assert!(a.unknown_items.equals_missing(&b.unknown_items));
}
