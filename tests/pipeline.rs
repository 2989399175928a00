//! End to end: CSV / Parquet inputs through ingest, the polars reduction, the
//! per-account stage and the writers, as `reckon run` does it.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use reckon::policy::Policy;
use reckon::run::{self, RunOptions};

const USAGE_HEADER: &str = "event_id,account_id,item,event_time,status,quantity,input_seconds,output_seconds,preview_only,region,resolution\n";
const PACKAGES_HEADER: &str = "package_id,account_id,item,kind,size,remaining,effective_at,expires_at,price,currency,refunded_at\n";
const ACCOUNTS_HEADER: &str =
    "account_id,product,postpaid_enabled,billing_mode,suspended_from,suspended_until\n";

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(usage: &str, packages: &str, accounts: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        write_files(
            &input,
            &[
                ("usage.csv", &format!("{USAGE_HEADER}{usage}")),
                ("packages.csv", &format!("{PACKAGES_HEADER}{packages}")),
                ("accounts.csv", &format!("{ACCOUNTS_HEADER}{accounts}")),
            ],
        );
        Case { dir }
    }
    fn input(&self) -> PathBuf {
        self.dir.path().join("in")
    }
    fn out(&self, period: &str) -> PathBuf {
        self.dir.path().join("out").join(period)
    }
    fn run(&self, period: &str) -> run::Summary {
        run::run(&self.opts(period)).expect("run succeeds")
    }
    fn opts(&self, period: &str) -> RunOptions {
        RunOptions {
            period: period.into(),
            input: self.input(),
            out: self.out(period),
            catalog: root().join("data/catalog"),
            policy: Policy::default(),
            assume_offset: None,
            statement: None,
            statement_map: root().join("data/statements"),
            tolerance: Default::default(),
            progress: false,
            shard: None,
        }
    }
    /// Rows of an output CSV as maps.
    fn rows(&self, period: &str, table: &str) -> Vec<BTreeMap<String, String>> {
        let mut r = csv::Reader::from_path(self.out(period).join(format!("{table}.csv"))).unwrap();
        let headers = r.headers().unwrap().clone();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                headers
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }
}

/// `n` successful calls of one item, one second apart from `start`.
fn calls(prefix: &str, account: &str, item: &str, start: &str, n: usize) -> String {
    let t0 = chrono::DateTime::parse_from_rfc3339(start).unwrap();
    let mut s = String::new();
    for i in 0..n {
        let ti = t0 + chrono::Duration::seconds(i as i64);
        writeln!(
            s,
            "{prefix}{i},{account},{item},{},success,,,,,,",
            ti.to_rfc3339()
        )
        .unwrap();
    }
    s
}

fn total(s: &run::Summary, account: &str) -> String {
    s.invoices
        .iter()
        .find(|i| i.account_id == account)
        .map(|i| i.total.to_string())
        .unwrap_or_default()
}

#[test]
fn image_animate_and_style_transfer_examples_end_to_end() {
    let mut usage = calls(
        "ia",
        "a1",
        "tencent.image_animate",
        "2026-10-02T09:00:00+08:00",
        1100,
    );
    usage += &calls(
        "st",
        "a2",
        "tencent.style_transfer",
        "2026-10-03T09:00:00+08:00",
        10_000,
    );
    let packages = "f1,a1,tencent.image_animate,free,5,5,2026-03-01T00:00:00+08:00,2027-03-01T00:00:00+08:00,,,\n\
                    f2,a2,tencent.style_transfer,free,50,50,2026-03-01T00:00:00+08:00,2027-03-01T00:00:00+08:00,,,\n";
    let accounts =
        "a1,tencent.image_animate,true,usage,,\na2,tencent.style_transfer,true,usage,,\n";
    let c = Case::new(&usage, packages, accounts);
    let s = c.run("2026-10");
    assert_eq!(total(&s, "a1"), "4161.00");
    assert_eq!(total(&s, "a2"), "796.00");
    let lines = c.rows("2026-10", "invoice_lines");
    let a2 = lines.iter().find(|l| l["account_id"] == "a2").unwrap();
    assert_eq!(a2["free_quantity"], "50.000000");
    assert_eq!(a2["postpaid_quantity"], "9950.000000");
    assert_eq!(a2["unit_price"], "0.080000");
    assert_eq!(a2["cycle_start"], "2026-10-01T00:00:00+08:00");
}

#[test]
fn ims_example_rounds_each_task_then_sums_the_hour() {
    let usage = "e1,a,alibaba.ims.image_text.common,2026-10-10T08:15:00+08:00,success,,90,23,,,\n\
                 e2,a,alibaba.ims.text_generation,2026-10-10T08:40:00+08:00,success,900,,,,,\n\
                 e3,a,alibaba.ims.text_generation,2026-10-10T09:05:00+08:00,success,1001,,,,,\n";
    let c = Case::new(usage, "", "");
    let s = c.run("2026-10");
    let lines = c.rows("2026-10", "invoice_lines");
    let eight: Vec<_> = lines
        .iter()
        .filter(|l| l["cycle_start"] == "2026-10-10T08:00:00+08:00")
        .collect();
    let amounts: Vec<&str> = eight.iter().map(|l| l["amount"].as_str()).collect();
    assert_eq!(amounts, vec!["0.60", "0.12"], "{eight:#?}");
    // 1,001 tokens round up to 2,000 in the next hourly cycle.
    let nine = lines
        .iter()
        .find(|l| l["cycle_start"] == "2026-10-10T09:00:00+08:00")
        .unwrap();
    assert_eq!(
        (nine["usage_quantity"].as_str(), nine["amount"].as_str()),
        ("2.000000", "0.24")
    );
    assert_eq!(total(&s, "a"), "0.96");
}

#[test]
fn an_event_at_23_30_utc_on_the_last_day_belongs_to_the_next_month() {
    let usage = "late,a,tencent.face_fusion.image_basic,2026-10-31T23:30:00Z,success,,,,,,\n\
                 early,a,tencent.face_fusion.image_basic,2026-09-30T16:30:00Z,success,,,,,,\n";
    let c = Case::new(usage, "", "");
    let oct = c.run("2026-10");
    assert_eq!(
        total(&oct, "a"),
        "0.07",
        "only the 2026-09-30T16:30Z call is October's"
    );
    let rejects = c.rows("2026-10", "rejects");
    assert!(
        rejects
            .iter()
            .any(|r| r["reason"].starts_with("outside_period")),
        "{rejects:?}"
    );
    let nov = c.run("2026-11");
    assert_eq!(total(&nov, "a"), "0.07");
    let line = &c.rows("2026-11", "invoice_lines")[0];
    assert_eq!(line["cycle_start"], "2026-11-01T00:00:00+08:00");
}

#[test]
fn failed_calls_and_duplicates_are_never_billed_and_counts_add_up() {
    let usage = "e1,a,tencent.face_fusion.image_basic,2026-10-05T10:00:00+08:00,success,,,,,,\n\
                 e2,a,tencent.face_fusion.image_basic,2026-10-05T10:00:01+08:00,failed,,,,,,\n\
                 e1,a,tencent.face_fusion.image_basic,2026-10-05T10:00:02+08:00,success,,,,,,\n\
                 e3,a,tencent.face_fusion.image_basic,2026-10-05T10:00:03+08:00,success,,,,,,\n\
                 e4,a,no.such.item,2026-10-05T10:00:04+08:00,success,,,,,,\n\
                 e5,a,tencent.face_fusion.image_basic,2026-10-05T10:00:05+08:00,ok,,,,,,\n";
    let c = Case::new(usage, "", "");
    let s = c.run("2026-10");
    let u = s.stats.iter().find(|t| t.table == "usage").unwrap();
    assert_eq!((u.read, u.accepted, u.rejected, u.duplicates), (6, 3, 2, 1));
    let line = &c.rows("2026-10", "invoice_lines")[0];
    assert_eq!(
        line["usage_quantity"], "2.000000",
        "e1 once, e3; not the failed e2"
    );
    assert_eq!(line["events"], "2");
    let exc = c.rows("2026-10", "exceptions");
    assert!(exc.iter().any(|e| e["reason"] == "unknown_item"
        && e["item"] == "no.such.item"
        && e["event_id"] == "e4"));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.out("2026-10").join("manifest.json")).unwrap(),
    )
    .unwrap();
    let usage = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "usage")
        .unwrap();
    assert_eq!(usage["read"], 6);
    // Where the time went: every stage, and the two writes that run side
    // by side inside "write" (each no longer than the stage).
    let t = &manifest["timings_seconds"];
    for stage in [
        "scan_validate",
        "reduce",
        "deduct_rate",
        "write",
        "write.tables",
        "write.focus",
    ] {
        assert!(t[stage].as_f64().is_some(), "{stage} in {t}");
    }
    let write = t["write"].as_f64().unwrap();
    assert!(t["write.tables"].as_f64().unwrap() <= write + 0.001);
    assert!(t["write.focus"].as_f64().unwrap() <= write + 0.001);
}

#[test]
fn a_package_bought_mid_month_covers_only_calls_from_its_purchase_second() {
    // Calls every second from 10:59:58; the package is effective at 11:00:00.5.
    let usage = calls(
        "c",
        "a",
        "tencent.face_fusion.image_basic",
        "2026-10-15T10:59:58+08:00",
        6,
    );
    let packages = "p,a,tencent.face_fusion.image_basic,prepaid,1000,1000,2026-10-15T11:00:00.5+08:00,2027-10-15T11:00:00.5+08:00,60,USD,\n";
    let c = Case::new(&usage, packages, "");
    c.run("2026-10");
    let lines = c.rows("2026-10", "invoice_lines");
    let usage = lines.iter().find(|l| l["charge_type"] == "usage").unwrap();
    assert_eq!(
        usage["postpaid_quantity"], "3.000000",
        "10:59:58, 10:59:59 and 11:00:00.0 are before it"
    );
    assert_eq!(usage["prepaid_quantity"], "3.000000");
    let purchase = lines
        .iter()
        .find(|l| l["charge_type"] == "purchase")
        .unwrap();
    assert_eq!(purchase["amount"], "60.00");
    let ledger = c.rows("2026-10", "package_ledger");
    assert_eq!(
        (
            ledger[0]["deducted"].as_str(),
            ledger[0]["remaining"].as_str()
        ),
        ("3.000000", "997.000000")
    );
}

#[test]
fn calls_after_the_packages_run_out_name_the_first_refused_call() {
    let usage = calls(
        "c",
        "a",
        "tencent.image_animate",
        "2026-10-15T10:00:00+08:00",
        8,
    );
    let packages = "f,a,tencent.image_animate,free,5,5,2026-03-01T00:00:00+08:00,2027-03-01T00:00:00+08:00,,,\n";
    let c = Case::new(&usage, packages, "");
    c.run("2026-10");
    let exc = c.rows("2026-10", "exceptions");
    assert_eq!(exc.len(), 1);
    let e = &exc[0];
    assert_eq!(e["reason"], "postpaid_disabled");
    assert_eq!(e["quantity"], "3.000000");
    assert_eq!(e["events"], "3");
    assert_eq!(
        e["event_time"], "2026-10-15T10:00:05+08:00",
        "the sixth call is the first refused"
    );
    assert_eq!(e["event_id"], "", "several calls: no single event to name");

    // With six calls only the sixth is refused, and it is named.
    let usage = calls(
        "c",
        "a",
        "tencent.image_animate",
        "2026-10-15T10:00:00+08:00",
        6,
    );
    let c = Case::new(&usage, packages, "");
    c.run("2026-10");
    let e = &c.rows("2026-10", "exceptions")[0];
    assert_eq!((e["event_id"].as_str(), e["events"].as_str()), ("c5", "1"));
}

#[test]
fn a_suspension_window_refuses_usage_inside_it_only() {
    let usage = calls(
        "c",
        "a",
        "tencent.face_fusion.image_basic",
        "2026-10-10T23:59:58+08:00",
        4,
    );
    let accounts =
        "a,tencent.face_fusion,,usage,2026-10-11T00:00:00+08:00,2026-10-11T00:00:01+08:00\n";
    let c = Case::new(&usage, "", accounts);
    c.run("2026-10");
    let line = &c.rows("2026-10", "invoice_lines")[0];
    assert_eq!(
        (
            line["postpaid_quantity"].as_str(),
            line["refused_quantity"].as_str()
        ),
        ("3.000000", "1.000000")
    );
    let e = &c.rows("2026-10", "exceptions")[0];
    assert_eq!(
        (e["reason"].as_str(), e["event_id"].as_str()),
        ("account_suspended", "c2")
    );
}

#[test]
fn daily_and_hourly_cycles_split_lines_in_billing_time() {
    // 2026-10-03T15:59:59Z is Oct 3 23:59:59 local; one second later is Oct 4.
    let usage = "v1,a,tencent.video_tags,2026-10-03T15:59:59Z,success,30,,,,,\n\
                 v2,a,tencent.video_tags,2026-10-03T16:00:00Z,success,30,,,,,\n\
                 i1,a,alibaba.ims.highlight_extraction,2026-10-03T15:59:59Z,success,,30,,,,\n\
                 i2,a,alibaba.ims.highlight_extraction,2026-10-03T16:00:00Z,success,,30,,,,\n";
    let c = Case::new(usage, "", "");
    c.run("2026-10");
    let lines = c.rows("2026-10", "invoice_lines");
    let vt: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["item"] == "tencent.video_tags")
        .map(|l| (l["cycle_start"].as_str(), l["amount"].as_str()))
        .collect();
    assert_eq!(
        vt,
        vec![
            ("2026-10-03T00:00:00+08:00", "0.08"),
            ("2026-10-04T00:00:00+08:00", "0.08")
        ]
    );
    let hx: Vec<&str> = lines
        .iter()
        .filter(|l| l["item"] == "alibaba.ims.highlight_extraction")
        .map(|l| l["cycle_start"].as_str())
        .collect();
    assert_eq!(
        hx,
        vec!["2026-10-03T23:00:00+08:00", "2026-10-04T00:00:00+08:00"]
    );
}

/// Two months: in memory with the ledger passed on directly, versus the
/// October ledger written, read back as November's `packages`, and run.
#[test]
fn the_ledger_fed_back_gives_the_same_november_as_a_two_month_run() {
    let mut usage = String::new();
    // Odd seconds of video against a 500-hour package, both months.
    for (i, day) in ["2026-10-03", "2026-10-20", "2026-11-02", "2026-11-25"]
        .iter()
        .enumerate()
    {
        writeln!(
            usage,
            "v{i},a,tencent.video_tags,{day}T10:00:00+08:00,success,{},,,,,",
            1_001 + i
        )
        .unwrap();
    }
    usage += &calls(
        "ia",
        "b",
        "tencent.image_animate",
        "2026-10-30T10:00:00+08:00",
        3,
    );
    usage += &calls(
        "ib",
        "b",
        "tencent.image_animate",
        "2026-11-03T10:00:00+08:00",
        2,
    );
    let packages = "vt,a,tencent.video_tags,prepaid,30000,30000,2026-09-01T00:00:00+08:00,2027-09-01T00:00:00+08:00,3500,CNY,\n\
                    fr,b,tencent.image_animate,free,5,5,2026-03-01T00:00:00+08:00,2027-03-01T00:00:00+08:00,,,\n\
                    rf,b,tencent.image_animate,prepaid,100,100,2026-10-29T00:00:00+08:00,2027-10-29T00:00:00+08:00,420,USD,2026-11-04T12:00:00+08:00\n";
    let c = Case::new(&usage, packages, "b,tencent.image_animate,true,usage,,\n");
    let cat = catalog();
    let policy = Policy::default();

    // October, then November in memory.
    let ingest = |period: &reckon::period::Period, dir: &Path| {
        reckon::ingest::ingest(
            dir,
            cat,
            &reckon::ingest::IngestOptions {
                period_start: period.start(),
                period_end: period.end(),
                assume_offset: None,
            },
        )
        .unwrap()
    };
    let oct = oct();
    let nov = oct.next();
    let mut timings = run::Timings::default();
    let ing_oct = ingest(&oct, &c.input());
    let m_oct = run::compute(
        cat,
        &oct,
        &policy,
        &ing_oct,
        ing_oct.packages.clone(),
        &mut timings,
    )
    .unwrap();
    let carried: Vec<_> = m_oct.ledger.iter().map(|l| l.package.clone()).collect();
    let ing_nov = ingest(&nov, &c.input());
    let in_memory = run::compute(cat, &nov, &policy, &ing_nov, carried, &mut timings).unwrap();

    // October written; its ledger becomes November's packages as it stands.
    c.run("2026-10");
    let nov_dir = c.dir.path().join("in-nov");
    std::fs::create_dir(&nov_dir).unwrap();
    std::fs::copy(c.input().join("usage.csv"), nov_dir.join("usage.csv")).unwrap();
    std::fs::copy(
        c.out("2026-10").join("package_ledger.parquet"),
        nov_dir.join("packages.parquet"),
    )
    .unwrap();
    std::fs::copy(c.input().join("accounts.csv"), nov_dir.join("accounts.csv")).unwrap();
    let ing_fed = ingest(&nov, &nov_dir);
    let pk = ing_fed
        .stats
        .iter()
        .find(|t| t.table == "packages")
        .unwrap();
    assert_eq!(
        (pk.read, pk.rejected),
        (3, 0),
        "the ledger is a valid packages input: {:?}",
        ing_fed.rejects
    );
    let fed = run::compute(
        cat,
        &nov,
        &policy,
        &ing_fed,
        ing_fed.packages.clone(),
        &mut timings,
    )
    .unwrap();

    assert_eq!(fed.lines, in_memory.lines);
    assert_eq!(fed.exceptions, in_memory.exceptions);
    let closing = |m: &run::Month| {
        m.ledger
            .iter()
            .map(|l| (l.package.package_id.clone(), l.closing_measure))
            .collect::<Vec<_>>()
    };
    assert_eq!(closing(&fed), closing(&in_memory));
    // The refund asked for on Nov 4 of a package bought Oct 29 (day 6) is honoured in November.
    assert!(fed
        .lines
        .iter()
        .any(|l| l.charge_type == "refund" && l.amount == d("-420")));
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_reckon")
}

fn run_cli(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn same_input_same_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let outs: Vec<PathBuf> = ["1", "4"]
        .iter()
        .map(|n| {
            let out = dir.path().join(format!("t{n}"));
            let o = run_cli(
                &[
                    "run",
                    "--period",
                    "2026-10",
                    "--input",
                    "data/sample",
                    "--out",
                    out.to_str().unwrap(),
                    "--quiet",
                ],
                &[("RAYON_NUM_THREADS", n), ("POLARS_MAX_THREADS", n)],
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            out
        })
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(&outs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    names.sort();
    assert!(names.len() >= 13, "{names:?}");
    for name in names {
        let a = std::fs::read(outs[0].join(&name)).unwrap();
        let b = std::fs::read(outs[1].join(&name)).unwrap();
        if name == "manifest.json" {
            let strip = |v: &[u8]| {
                let mut j: serde_json::Value = serde_json::from_slice(v).unwrap();
                j.as_object_mut().unwrap().remove("timings_seconds");
                j.as_object_mut().unwrap().remove("peak_rss_mb_after_stage");
                j
            };
            assert_eq!(
                strip(&a),
                strip(&b),
                "manifest differs beyond timings and memory"
            );
        } else {
            assert!(a == b, "{name} differs between 1 and 4 threads");
        }
    }
}

#[test]
fn bad_paths_and_inputs_give_one_clear_line_and_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = run_cli(
        &[
            "run",
            "--period",
            "2026-10",
            "--input",
            "/no/such/dir",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/no/such/dir"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.exists());

    // A required table missing: the run stops before writing.
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write_files(&input, &[("usage.csv", USAGE_HEADER)]);
    let o = run_cli(
        &[
            "run",
            "--period",
            "2026-10",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("packages"));
    assert!(!out.exists());

    let o = run_cli(
        &[
            "run",
            "--period",
            "2026-13",
            "--input",
            "data/sample",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("YYYY-MM"));
}

#[test]
fn a_float_looking_price_is_rejected_not_rounded() {
    let usage = calls(
        "c",
        "a",
        "tencent.face_fusion.image_basic",
        "2026-10-15T10:00:00+08:00",
        1,
    );
    let packages = "p,a,tencent.face_fusion.image_basic,prepaid,1000,1000,2026-10-01T00:00:00+08:00,2027-10-01T00:00:00+08:00,6e1,USD,\n";
    let c = Case::new(&usage, packages, "");
    let s = c.run("2026-10");
    let rejects = c.rows("2026-10", "rejects");
    assert!(
        rejects
            .iter()
            .any(|r| r["column"] == "price" && r["value"] == "6e1"),
        "{rejects:?}"
    );
    let p = s.stats.iter().find(|t| t.table == "packages").unwrap();
    assert_eq!((p.read, p.rejected), (1, 1));
}

#[test]
fn catalog_commands() {
    let o = run_cli(&["catalog", "check"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_cli(&["catalog", "show", "tencent.style_transfer"], &[]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("0.08") && text.contains("tencent-image-creation-style-transfer.txt"),
        "{text}"
    );
    let o = run_cli(&["catalog", "show", "no.such.item"], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_failed_run_leaves_an_earlier_month_untouched() {
    let c = Case::new(
        &calls(
            "c",
            "a",
            "tencent.face_fusion.image_basic",
            "2026-10-15T10:00:00+08:00",
            2,
        ),
        "",
        "",
    );
    c.run("2026-10");
    let before = std::fs::read(c.out("2026-10").join("invoices.csv")).unwrap();
    std::fs::remove_file(c.input().join("packages.csv")).unwrap();
    assert!(run::run(&c.opts("2026-10")).is_err());
    assert_eq!(
        std::fs::read(c.out("2026-10").join("invoices.csv")).unwrap(),
        before
    );
    let leftovers: Vec<_> = std::fs::read_dir(c.dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_sample_month_reconciles_against_the_sample_vendor_statements() {
    // Tencent bill details (Chinese headers, title line, BOM) and Alibaba
    // billing details, with three planted differences (data/sample/statements/README.md).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = run_cli(
        &[
            "run",
            "--quiet",
            "--period",
            "2026-10",
            "--input",
            "data/sample",
            "--out",
            out.to_str().unwrap(),
            "--statement",
            "data/sample/statements",
        ],
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "differences exit 3 by default: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut r = csv::Reader::from_path(out.join("discrepancies.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let at = |n: &str| h.iter().position(|x| x == n).unwrap();
    let got: Vec<(String, String, String, String)> = r
        .records()
        .map(|x| x.unwrap())
        .map(|x| {
            (
                x[at("account_id")].into(),
                x[at("class")].into(),
                x[at("delta_amount")].into(),
                x[at("currency")].into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "acct-005".into(),
                "duplicate_charge".into(),
                "420.00".into(),
                "USD".into()
            ),
            (
                "acct-010".into(),
                "deduction_mismatch".into(),
                "-196.00".into(),
                "USD".into()
            ),
            (
                "acct-041".into(),
                "amount_mismatch".into(),
                "0.01".into(),
                "CNY".into()
            ),
        ]
    );
    let problems = std::fs::read_to_string(out.join("statement_problems.csv")).unwrap();
    assert_eq!(
        problems.lines().count(),
        1,
        "no statement problems: {problems}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("acct-010") && html.contains("796.00") && html.contains("600.00"));
}
