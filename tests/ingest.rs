//! Ingest: validation to rejects (file, row, column, reason), exact decimals,
//! time zones, dedupe across part files, and clear errors for unreadable files.

mod common;

use std::path::Path;

use common::*;
use polars::prelude::*;
use reckon::ingest::{self, IngestOptions, Ingested};

const USAGE_HEADER: &str = "event_id,account_id,item,event_time,status,quantity,input_seconds,output_seconds,preview_only,region,resolution\n";
const PACKAGES_HEADER: &str = "package_id,account_id,item,kind,size,remaining,effective_at,expires_at,price,currency,refunded_at\n";
const FF: &str = "tencent.face_fusion.image_basic";

fn opts() -> IngestOptions {
    let p = oct();
    IngestOptions { period_start: p.start(), period_end: p.end(), assume_offset: None }
}

fn dir_with(usage: &str, packages: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("usage.csv", &format!("{USAGE_HEADER}{usage}")), ("packages.csv", &format!("{PACKAGES_HEADER}{packages}"))]);
    d
}

fn read(dir: &Path) -> Ingested {
    ingest::ingest(dir, catalog(), &opts()).unwrap()
}

/// Rejects as (row, column, reason prefix) triples.
fn rejects(ing: &Ingested) -> Vec<(i64, String, String)> {
    let r = &ing.rejects;
    let row = r.column("row").unwrap().i64().unwrap();
    let colm = r.column("column").unwrap().str().unwrap();
    let reason = r.column("reason").unwrap().str().unwrap();
    (0..r.height())
        .map(|i| {
            let full = reason.get(i).unwrap();
            (row.get(i).unwrap(), colm.get(i).unwrap().to_string(), full.split(':').next().unwrap().to_string())
        })
        .collect()
}

fn usage_frame(ing: &Ingested) -> DataFrame {
    ing.usage.clone().sort(["event_id"], SortMultipleOptions::default()).collect().unwrap()
}

fn micro(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let c = df.column(name).unwrap().i64().unwrap().clone();
    (0..c.len()).map(|i| c.get(i)).collect()
}

#[test]
fn every_bad_cell_is_a_reject_with_its_row_column_and_reason() {
    let usage = format!(
        "ok1,a,{FF},2026-10-05T10:00:00+08:00,success,,,,,,\n\
         ,a,{FF},2026-10-05T10:00:00+08:00,success,,,,,,\n\
         e3,a,no.such.item,2026-10-05T10:00:00+08:00,success,,,,,,\n\
         e4,a,{FF},2026-10-32T10:00:00+08:00,success,,,,,,\n\
         e5,a,{FF},2026-10-05T10:00:00,success,,,,,,\n\
         e6,a,{FF},2026-10-05T10:00:00+08:00,ok,,,,,,\n\
         e7,a,{FF},2026-10-05T10:00:00+08:00,success,-3,,,,,\n\
         e8,a,{FF},2026-10-05T10:00:00+08:00,success,1e3,,,,,\n\
         e9,a,{FF},2026-10-05T10:00:00+08:00,success,0.1234567,,,,,\n\
         e10,a,{FF},2026-10-05T10:00:00+08:00,success,twelve,,,,,\n\
         e11,a,{FF},2026-10-05T10:00:00+08:00,success,,,,maybe,,\n\
         e12,,{FF},2026-10-05T10:00:00+08:00,success,,,,,,\n\
         e13,a,alibaba.ims.image_text.common,2026-10-05T10:00:00+08:00,success,,,,,,\n\
         e14,a,{FF},2026-10-31T23:30:00Z,success,,,,,,\n"
    );
    let d = dir_with(&usage, "");
    let ing = read(d.path());
    let got = rejects(&ing);
    let want = vec![
        (3, "event_id", "missing_value"),
        (4, "item", "unknown_item"),
        (5, "event_time", "bad_timestamp"),
        (6, "event_time", "naive_timestamp"),
        (7, "status", "bad_status"),
        (8, "quantity", "negative"),
        (9, "quantity", "bad_decimal"),
        (10, "quantity", "bad_decimal"),
        (11, "quantity", "bad_decimal"),
        (12, "preview_only", "bad_bool"),
        (13, "account_id", "missing_value"),
        (14, "input_seconds", "missing_value"),
        (14, "output_seconds", "missing_value"),
        (15, "event_time", "outside_period"),
    ];
    let want: Vec<(i64, String, String)> = want.into_iter().map(|(r, c, x)| (r, c.to_string(), x.to_string())).collect();
    assert_eq!(got, want);
    let u = &ing.stats[0];
    assert_eq!((u.read, u.accepted, u.rejected, u.duplicates), (14, 1, 13, 0));
    assert_eq!(u.read, u.accepted + u.rejected + u.duplicates);
    // The reject keeps the value as written and the file it came from.
    let value = ing.rejects.column("value").unwrap().str().unwrap().get(6).unwrap().to_string();
    assert_eq!(value, "1e3");
    let reason = |i: usize| ing.rejects.column("reason").unwrap().str().unwrap().get(i).unwrap().to_string();
    assert!(reason(6).contains("exponent"), "{}", reason(6));
    assert!(reason(8).contains("not a plain decimal") && !reason(8).contains("exponent"), "twelve: {}", reason(8));
    assert!(ing.rejects.column("file").unwrap().str().unwrap().get(0).unwrap().ends_with("usage.csv"));
    // The unknown item is summarised for the exceptions list.
    assert_eq!(ing.unknown_items.height(), 1);
}

#[test]
fn decimals_are_exact_micro_units_and_quantity_defaults_to_one() {
    let usage = format!(
        "a,x,{FF},2026-10-05T10:00:00+08:00,success,,,,,,\n\
         b,x,tencent.video_tags,2026-10-05T10:00:00+08:00,success,2.500000000,,,,,\n\
         c,x,tencent.video_tags,2026-10-05T10:00:00+08:00,success,0.000001,,,,,\n\
         d,x,tencent.video_tags,2026-10-05T10:00:00+08:00,success,123456789012,,,,,\n"
    );
    let d = dir_with(&usage, "");
    let df = usage_frame(&read(d.path()));
    assert_eq!(micro(&df, "quantity_micro"), vec![Some(1_000_000), Some(2_500_000), Some(1), Some(123_456_789_012_000_000)]);
}

#[test]
fn offsets_in_every_form_give_the_same_instant_and_naive_needs_a_stated_zone() {
    let usage = format!(
        "a,x,{FF},2026-10-05T02:00:00Z,success,,,,,,\n\
         b,x,{FF},2026-10-05T10:00:00+08:00,success,,,,,,\n\
         c,x,{FF},2026-10-05 10:00:00+0800,success,,,,,,\n\
         d,x,{FF},2026-10-05T10:00:00.000+08:00,success,,,,,,\n"
    );
    let d = dir_with(&usage, "");
    let df = usage_frame(&read(d.path()));
    let want = t("2026-10-05T02:00:00Z");
    assert_eq!(micro(&df, "t"), vec![Some(want); 4]);

    let d = dir_with(&format!("n,x,{FF},2026-10-05T10:00:00,success,,,,,,\n"), "");
    assert_eq!(read(d.path()).stats[0].rejected, 1);
    let mut o = opts();
    o.assume_offset = Some(CST);
    let ing = ingest::ingest(d.path(), catalog(), &o).unwrap();
    assert_eq!(micro(&usage_frame(&ing), "t"), vec![Some(want)]);
}

#[test]
fn a_repeated_event_id_counts_once_keeping_the_first_even_across_part_files() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("usage")).unwrap();
    write_files(
        &d.path().join("usage"),
        &[
            ("part-0.csv", &format!("{USAGE_HEADER}e1,x,{FF},2026-10-05T10:00:00+08:00,success,1,,,,,\n")),
            ("part-1.csv", &format!("{USAGE_HEADER}e2,x,{FF},2026-10-05T10:00:00+08:00,success,1,,,,,\ne1,x,{FF},2026-10-06T10:00:00+08:00,success,5,,,,,\n")),
        ],
    );
    write_files(d.path(), &[("packages.csv", PACKAGES_HEADER)]);
    let ing = read(d.path());
    let u = &ing.stats[0];
    assert_eq!((u.read, u.accepted, u.rejected, u.duplicates), (3, 2, 0, 1));
    let df = usage_frame(&ing);
    assert_eq!(micro(&df, "quantity_micro"), vec![Some(1_000_000), Some(1_000_000)], "the first e1 is kept");
    let dup = &ing.duplicates;
    assert!(dup.column("file").unwrap().str().unwrap().get(0).unwrap().ends_with("part-1.csv"));
    assert!(dup.column("first_file").unwrap().str().unwrap().get(0).unwrap().ends_with("part-0.csv"));
    assert_eq!(dup.column("row").unwrap().i64().unwrap().get(0), Some(3));
}

#[test]
fn package_rows_are_validated_and_repeated_ids_rejected() {
    let pk = format!(
        "p1,a,{FF},prepaid,1000,1000,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,60,USD,\n\
         p1,a,{FF},prepaid,1000,1000,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,60,USD,\n\
         p2,a,{FF},gift,10,10,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,,,\n\
         p3,a,{FF},free,10,11,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,,,\n\
         p4,a,{FF},free,10,5,2027-10-01T00:00:00+08:00,2026-10-01T00:00:00+08:00,,,\n\
         p5,a,{FF},prepaid,10,10,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,60.5,EUR,\n\
         p6,a,{FF},prepaid,10,10,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,6e1,USD,\n"
    );
    let d = dir_with("", &pk);
    let ing = read(d.path());
    assert_eq!(ing.packages.len(), 1);
    let got: Vec<(i64, String, String)> = rejects(&ing);
    assert_eq!(
        got,
        vec![
            (3, "package_id".into(), "duplicate_package_id".into()),
            (4, "kind".into(), "bad_kind".into()),
            (5, "remaining".into(), "bad_remaining".into()),
            (6, "expires_at".into(), "bad_window".into()),
            (7, "currency".into(), "unknown_currency".into()),
            (8, "price".into(), "bad_decimal".into()),
        ]
    );
}

fn write_parquet(path: &Path, mut df: DataFrame) {
    ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(&mut df).unwrap();
}

#[test]
fn parquet_inputs_are_typed_and_float_money_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("packages.csv", PACKAGES_HEADER)]);
    let times = Column::new("event_time".into(), vec![t("2026-10-05T02:00:00Z")])
        .cast(&DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
        .unwrap();
    let base = |q: Column| {
        DataFrame::new(
            1,
            vec![
                Column::new("event_id".into(), ["e1"]),
                Column::new("account_id".into(), ["a"]),
                Column::new("item".into(), ["tencent.video_tags"]),
                times.clone(),
                Column::new("status".into(), ["success"]),
                q,
            ],
        )
        .unwrap()
    };
    let dec = Column::new("quantity".into(), ["12.5"]).cast(&DataType::Decimal(38, 3)).unwrap();
    write_parquet(&d.path().join("usage.parquet"), base(dec));
    let ing = read(d.path());
    let df = usage_frame(&ing);
    assert_eq!(micro(&df, "quantity_micro"), vec![Some(12_500_000)]);
    assert_eq!(micro(&df, "t"), vec![Some(t("2026-10-05T02:00:00Z"))]);

    write_parquet(&d.path().join("usage.parquet"), base(Column::new("quantity".into(), [12.5f64])));
    let err = ingest::ingest(d.path(), catalog(), &opts()).err().unwrap().to_string();
    assert!(err.contains("usage.parquet") && err.contains("quantity") && err.contains("float"), "{err}");
}

#[test]
fn unreadable_inputs_are_errors_naming_the_file_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("usage.csv", USAGE_HEADER)]);
    let err = ingest::ingest(d.path(), catalog(), &opts()).err().unwrap().to_string();
    assert!(err.contains("packages"), "{err}");

    let d = dir_with(&format!("e1,x,{FF},2026-10-05T10:00:00+08:00,success\n"), "");
    let err = ingest::ingest(d.path(), catalog(), &opts()).err().unwrap().to_string();
    assert!(err.contains("usage.csv") && err.contains("line 2"), "{err}");

    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("usage.csv", "event_id,account_id,item,status\n"), ("packages.csv", PACKAGES_HEADER)]);
    let err = ingest::ingest(d.path(), catalog(), &opts()).err().unwrap().to_string();
    assert!(err.contains("usage.csv") && err.contains("event_time"), "{err}");

    let d = tempfile::tempdir().unwrap();
    write_files(d.path(), &[("usage.parquet", "not parquet at all"), ("packages.csv", PACKAGES_HEADER)]);
    let err = ingest::ingest(d.path(), catalog(), &opts()).err().unwrap().to_string();
    assert!(err.contains("usage.parquet"), "{err}");
}
