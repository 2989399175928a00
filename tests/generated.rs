//! A generated 1,000-account month with a vendor statement: every injected
//! discrepancy is found with its true class and nothing else; a clean
//! statement reconciles to nothing. Through the command line, as cron runs it.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::root;

fn reckon(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reckon"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// The named columns of every row of a CSV file.
fn columns<const N: usize>(path: &std::path::Path, names: [&str; N]) -> Vec<[String; N]> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let at: Vec<usize> = names
        .iter()
        .map(|n| h.iter().position(|x| x == *n).unwrap())
        .collect();
    r.records()
        .map(|x| x.unwrap())
        .map(|x| std::array::from_fn(|k| x[at[k]].to_string()))
        .collect()
}

fn csv_rows(path: &std::path::Path) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records().map(|x| x.unwrap()).collect()
}

#[test]
fn a_generated_month_reconciles_to_exactly_its_injected_faults() {
    let dir = tempfile::tempdir().unwrap();
    let month = dir.path().join("month");
    let m = month.to_str().unwrap();
    let o = reckon(&[
        "generate",
        "--accounts",
        "1000",
        "--events",
        "40000",
        "--seed",
        "11",
        "--out",
        m,
        "--statement-faults",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let out = dir.path().join("out");
    let statement = month.join("statement.csv");
    let o = reckon(&[
        "run",
        "--quiet",
        "--period",
        "2026-10",
        "--input",
        m,
        "--out",
        out.to_str().unwrap(),
        "--statement",
        statement.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "discrepancies exit 3: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let labels: BTreeSet<(String, String, String, String)> = csv_rows(&month.join("labels.csv"))
        .iter()
        .map(|r| {
            (
                r[0].to_string(),
                r[1].to_string(),
                r[2].to_string(),
                r[3].to_string(),
            )
        })
        .collect();
    let classes: BTreeSet<&str> = labels.iter().map(|l| l.3.as_str()).collect();
    assert_eq!(classes.len(), 9, "every class injected: {classes:?}");
    let found: BTreeSet<(String, String, String, String)> = columns(
        &out.join("discrepancies.csv"),
        ["account_id", "item", "charge_type", "class"],
    )
    .into_iter()
    .map(|[a, i, c, k]| (a, i, c, k))
    .collect();
    let missed: Vec<_> = labels.difference(&found).collect();
    let extra: Vec<_> = found.difference(&labels).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:#?}\nextra {extra:#?}"
    );
    assert!(std::fs::read_to_string(out.join("report.html"))
        .unwrap()
        .contains("acct-"));

    // The clean statement (no faults) reconciles to nothing and exits 0.
    let clean = dir.path().join("clean");
    let o = reckon(&[
        "generate",
        "--accounts",
        "1000",
        "--events",
        "40000",
        "--seed",
        "11",
        "--out",
        clean.to_str().unwrap(),
        "--statement-faults",
        "0",
    ]);
    assert!(o.status.success());
    let out2 = dir.path().join("out2");
    let o = reckon(&[
        "run",
        "--quiet",
        "--period",
        "2026-10",
        "--input",
        clean.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
        "--statement",
        clean.join("statement.csv").to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(csv_rows(&out2.join("discrepancies.csv")).is_empty());

    // reckon diff over the finished run gives the same discrepancies.
    let out3 = dir.path().join("out3");
    let o = reckon(&[
        "diff",
        "--quiet",
        "--invoice",
        out.to_str().unwrap(),
        "--statement",
        statement.to_str().unwrap(),
        "--out",
        out3.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Same keys, classes and money (diff reads the 6-decimal CSV, so a summed
    // minute quantity may differ in its last written digit).
    let key = |dir: &std::path::Path| {
        columns(
            &dir.join("discrepancies.csv"),
            ["account_id", "item", "class", "delta_amount", "currency"],
        )
    };
    assert_eq!(key(&out), key(&out3));
}

/// The rows of a CSV file, sorted (header left out).
fn sorted_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = csv_rows(path)
        .iter()
        .map(|r| r.iter().map(str::to_string).collect())
        .collect();
    v.sort();
    v
}

#[test]
fn account_slices_add_up_to_the_whole_month() {
    let dir = tempfile::tempdir().unwrap();
    let month = dir.path().join("month");
    let m = month.to_str().unwrap();
    let o = reckon(&[
        "generate",
        "--accounts",
        "600",
        "--events",
        "30000",
        "--seed",
        "5",
        "--out",
        m,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = |out: &std::path::Path, shard: Option<&str>| {
        let mut args = vec![
            "run",
            "--quiet",
            "--period",
            "2026-10",
            "--input",
            m,
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let o = reckon(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let whole = dir.path().join("whole");
    run(&whole, None);
    let slices: Vec<_> = (0..3)
        .map(|k| {
            let out = dir.path().join(format!("slice-{k}"));
            run(&out, Some(&format!("{k}/3")));
            out
        })
        .collect();
    for table in [
        "invoice_lines.csv",
        "invoices.csv",
        "package_ledger.csv",
        "exceptions.csv",
    ] {
        let mut parts: Vec<Vec<String>> = Vec::new();
        for s in &slices {
            let rows = sorted_rows(&s.join(table));
            if table == "invoice_lines.csv" {
                assert!(!rows.is_empty(), "every slice has accounts");
            }
            parts.extend(rows);
        }
        parts.sort();
        assert_eq!(parts, sorted_rows(&whole.join(table)), "{table}");
    }
    // Rejects and duplicates are decided on the whole input, in every slice.
    assert_eq!(
        sorted_rows(&slices[1].join("duplicates.csv")),
        sorted_rows(&whole.join("duplicates.csv"))
    );
    let o = reckon(&[
        "run", "--period", "2026-10", "--input", m, "--out", "x", "--shard", "3/3",
    ]);
    assert!(!o.status.success(), "a slice index must be below the count");
}
