//! The reconciliation report page: content, escaping, determinism, and a real
//! browser (headless Chromium) rendering it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use reckon::recon_model::{Discrepancy, CLASSES};
use reckon::report::{render_report, ReportInput, TOP_DIFFERENCES};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn disc(
    account: &str,
    item: &str,
    class: &str,
    ours: &str,
    theirs: &str,
    currency: &str,
    within: bool,
    explanation: &str,
    vendor_lines: &str,
) -> Discrepancy {
    let (ours, theirs) = (d(ours), d(theirs));
    Discrepancy {
        account_id: account.into(),
        item: item.into(),
        charge_type: "usage".into(),
        billing_period: "2026-10".into(),
        cycle_start: Some(1_790_784_000_000_000),
        class: class.into(),
        our_usage_quantity: Some(d("1100")),
        their_usage_quantity: Some(d("1110")),
        our_deducted_quantity: Some(d("5")),
        their_deducted_quantity: Some(d("5")),
        our_billed_quantity: Some(d("1095")),
        their_billed_quantity: Some(d("1105")),
        our_unit_price: Some(d("3.8")),
        their_unit_price: Some(d("3.8")),
        our_amount: ours,
        their_amount: theirs,
        delta_amount: theirs - ours,
        currency: currency.into(),
        within_tolerance: within,
        explanation: explanation.into(),
        vendor_lines: vendor_lines.into(),
    }
}

fn sample() -> Vec<Discrepancy> {
    vec![
        disc(
            "acct-001",
            "tencent.image_animate",
            "quantity_mismatch",
            "4161.00",
            "4199.00",
            "USD",
            false,
            "The vendor counts 1,110 calls, reckon 1,100 (+10 calls at 3.80 USD).",
            "tx-1001;tx-1002",
        ),
        disc(
            "acct-002",
            "tencent.style_transfer",
            "amount_mismatch",
            "796.00",
            "796.01",
            "USD",
            true,
            "One cent of rounding <script>alert('x')</script> & more",
            "tx-2001",
        ),
        disc(
            "acct-003",
            "alibaba.ims.text_generation",
            "unexpected_charge",
            "0",
            "1234567.5",
            "CNY",
            false,
            "A charge reckon does not have.",
            "pk-\"9\"",
        ),
        disc(
            "acct-<b>4</b>",
            "tencent.face_fusion.image_basic",
            "missing_from_statement",
            "500.00",
            "0",
            "USD",
            false,
            "Not on the statement.",
            "",
        ),
    ]
}

fn input(ds: &[Discrepancy], notes: &[String]) -> String {
    let mut ours = BTreeMap::new();
    ours.insert("USD".to_string(), d("12345.67"));
    ours.insert("CNY".to_string(), d("1000"));
    let mut theirs = BTreeMap::new();
    theirs.insert("USD".to_string(), d("12400"));
    theirs.insert("CNY".to_string(), d("1235567.5"));
    render_report(&ReportInput {
        period: "2026-10".into(),
        discrepancies: ds,
        statement_notes: notes,
        problems: 3,
        ours_by_currency: ours,
        theirs_by_currency: theirs,
        // As `reckon reconcile` passes them (a vendor id), and a display name.
        vendors: vec![
            ("tencent".into(), "USD".into(), d("12345.67"), d("12400")),
            (
                "Alibaba Cloud".into(),
                "CNY".into(),
                d("1000"),
                d("1235567.5"),
            ),
        ],
    })
}

fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id}"));
    let end = start + html[start..].find("</section>").unwrap();
    &html[start..end]
}

#[test]
fn report_shows_totals_classes_and_accounts() {
    let ds = sample();
    let notes = vec!["The export has no deducted quantities <i>at all</i>.".to_string()];
    let html = input(&ds, &notes);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("period 2026-10"));
    // Totals, with minor digits and thousands separators.
    let totals = section(&html, "totals");
    for s in [
        "12,345.67",
        "12,400.00",
        "+54.33",
        "1,000.00",
        "1,235,567.50",
        "+1,234,567.50",
        "Tencent Cloud",
        "Alibaba Cloud",
    ] {
        assert!(totals.contains(s), "totals lack {s}");
    }
    // Tencent USD: 0.01 within tolerance, the rest to resolve.
    assert!(totals.contains("+0.01"));
    assert!(totals.contains("+54.32"));
    // Every class, zero counts included.
    let classes = section(&html, "classes");
    for c in CLASSES {
        assert!(
            classes.contains(&format!("<td class=\"cls\">{c}</td>")),
            "class {c}"
        );
    }
    assert!(classes.contains("<tr class=\"zero\"><td class=\"cls\">price_mismatch</td>"));
    // Largest first.
    let largest = section(&html, "largest");
    let p1 = largest.find("acct-003").unwrap();
    let p2 = largest.find(">acct-001<").unwrap();
    let p3 = largest.find("acct-002").unwrap();
    assert!(p1 < p2 && p2 < p3, "sorted by |delta|");
    assert!(largest.contains("+1,234,567.50 CNY"));
    assert!(largest.contains("-500.00 USD"));
    assert!(largest.contains("tx-1001; tx-1002"));
    // Account anchors and links to them.
    for a in ["acct-001", "acct-002", "acct-003"] {
        assert!(
            html.contains(&format!("<h3 id=\"acct-{a}\">")),
            "anchor {a}"
        );
        assert!(html.contains(&format!("href=\"#acct-{a}\"")), "link {a}");
    }
    assert!(html.contains("id=\"acct-acct-&lt;b&gt;4&lt;/b&gt;\""));
    // Chart: one per currency.
    let chart = section(&html, "chart");
    assert_eq!(chart.matches("<svg").count(), 2);
    assert!(chart.contains("<h3>CNY</h3>") && chart.contains("<h3>USD</h3>"));
    // Notes and problems.
    let notes_html = section(&html, "notes");
    assert!(notes_html.contains("3 statement row(s) could not be used"));
    assert!(notes_html.contains("no deducted quantities &lt;i&gt;at all&lt;/i&gt;."));

    // Escaping: no markup from the data survives.
    assert!(!html.contains("<script"), "no script element at all");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<b>4</b>"));
    assert!(html.contains("pk-&quot;9&quot;"));
    // Self-contained: nothing fetched.
    for bad in ["<link", "src=", "@import", "url(", "https://"] {
        assert!(!html.contains(bad), "{bad}");
    }
    // Deterministic.
    assert_eq!(html, input(&ds, &notes));
}

#[test]
fn largest_differences_stop_at_fifty_and_chart_at_twenty_accounts() {
    let ds: Vec<Discrepancy> = (0..60)
        .map(|i| {
            disc(
                &format!("acct-{i:03}"),
                "tencent.image_animate",
                "price_mismatch",
                "100",
                &format!("{}", 100 + i),
                "USD",
                false,
                "Price differs.",
                &format!("tx-{i}"),
            )
        })
        .collect();
    let html = input(&ds, &[]);
    let largest = section(&html, "largest");
    assert_eq!(
        largest.matches("<tr><td class=\"num\">").count(),
        TOP_DIFFERENCES
    );
    assert!(largest.contains(">acct-059<"), "the largest is shown");
    assert!(!largest.contains(">acct-009<"), "small ones are cut");
    let chart = section(&html, "chart");
    assert_eq!(chart.matches("<rect").count(), 20);
    assert_eq!(section(&html, "accounts").matches("<h3 id=").count(), 60);
}

#[test]
fn empty_reconciliation_still_renders() {
    let html = input(&[], &[]);
    assert!(html.contains("No differences"));
    assert!(section(&html, "classes").contains("<td class=\"cls\">duplicate_charge</td>"));
}

/// Run a command, killing it after `limit`.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let started = Instant::now();
    let out_reader = {
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).ok();
            s
        })
    };
    let err_reader = {
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut err, &mut s).ok();
            s
        })
    };
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (ok, out_reader.join().unwrap(), err_reader.join().unwrap())
}

fn chromium_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

#[test]
fn chromium_renders_the_report() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        if std::env::var("RECKON_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!(
                "RECKON_SKIP_BROWSER=1: skipped the headless Chromium test (no /usr/bin/chromium)"
            );
            return;
        }
        panic!(
            "/usr/bin/chromium is missing: install it with `apt-get update && apt-get install -y chromium` \
             (or set RECKON_SKIP_BROWSER=1 to skip this test)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let notes = vec!["A note for the controller.".to_string()];
    std::fs::write(&page, input(&sample(), &notes)).unwrap();
    let url = format!("file://{}", page.display());

    // The DOM as the browser built it.
    let profile = tempfile::tempdir().unwrap();
    let (ok, dom, err) = run_with_timeout(
        Command::new(chromium)
            .args(chromium_args(profile.path()))
            .arg("--dump-dom")
            .arg(&url),
        Duration::from_secs(120),
    );
    assert!(ok, "chromium --dump-dom failed:\n{err}");
    for s in [
        "12,345.67",
        "12,400.00",
        "+54.33 USD",
        "+1,234,567.50 CNY",
        "id=\"acct-acct-001\"",
    ] {
        assert!(dom.contains(s), "the rendered DOM lacks {s}:\n{err}");
    }
    assert!(!dom.contains("<script"), "no script element in the DOM");
    assert!(
        dom.contains("&lt;script&gt;"),
        "the explanation's markup stays text"
    );

    // A screenshot of the page.
    let profile = tempfile::tempdir().unwrap();
    let png = dir.path().join("report.png");
    let (ok, _, err) = run_with_timeout(
        Command::new(chromium)
            .args(chromium_args(profile.path()))
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1280,2000")
            .arg(&url),
        Duration::from_secs(120),
    );
    assert!(ok, "chromium --screenshot failed:\n{err}");
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}\n{err}", png.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "screenshot too small ({} bytes): a blank page?",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("RECKON_KEEP_SCREENSHOT") {
        // For a look by eye: the screenshot, and the page next to it.
        std::fs::copy(&png, &keep).unwrap();
        std::fs::copy(&page, Path::new(&keep).with_extension("html")).unwrap();
    }
}
