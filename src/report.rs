//! The reconciliation report: one self-contained HTML page for a financial
//! controller (inline CSS and SVG; no script, no network, no external fonts
//! or images; a Content-Security-Policy forbids them too).
//!
//! Sections: totals per vendor and currency and per currency; counts by class
//! (every class of [`CLASSES`], zeros included); the largest differences
//! (top 50 by |Δ|); a bar chart of Δ by account per currency (top 20); one
//! section per account (`id="acct-<account_id>"`); notes.
//!
//! Δ is always `theirs − ours`: positive when the vendor charges more than
//! reckon's invoice. Money is shown with exactly the currency's minor digits
//! and thousands separators; amounts are never added across currencies.
//! Every text is HTML-escaped, and the output is deterministic (no clock).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{TimeZone as _, Utc};
use rust_decimal::prelude::*;

use crate::catalog;
use crate::model::Micros;
use crate::recon_model::{Discrepancy, CLASSES};

/// Rows in "largest differences".
pub const TOP_DIFFERENCES: usize = 50;
/// Accounts per currency in the bar chart.
pub const TOP_ACCOUNTS_CHART: usize = 20;

/// What the report shows.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// `YYYY-MM`.
    pub period: String,
    pub discrepancies: &'a [Discrepancy],
    pub statement_notes: &'a [String],
    /// Statement rows reckon could not use.
    pub problems: usize,
    pub ours_by_currency: BTreeMap<String, Decimal>,
    pub theirs_by_currency: BTreeMap<String, Decimal>,
    /// (vendor, currency, ours, theirs). The vendor is a catalog vendor id
    /// (`tencent`, shown as `Tencent Cloud`) or a display name.
    pub vendors: Vec<(String, String, Decimal, Decimal)>,
}

/// One line of explanation per class, for the counts table.
pub fn class_meaning(class: &str) -> &'static str {
    match class {
        "missing_from_statement" => "On reckon's invoice, not on the vendor's statement",
        "unexpected_charge" => "On the vendor's statement, not on reckon's invoice",
        "quantity_mismatch" => "Usage quantities differ",
        "deduction_mismatch" => "Package deductions differ",
        "price_mismatch" => "Unit prices differ",
        "amount_mismatch" => "Same quantities and prices, different money",
        "currency_mismatch" => "Billed in a different currency",
        "refused_usage_billed" => {
            "The vendor billed usage reckon refused (postpaid off, suspended, no price)"
        }
        "duplicate_charge" => "The same charge appears more than once on the statement",
        _ => "Other difference",
    }
}

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn group_thousands(int: &str) -> String {
    let digits: Vec<char> = int.chars().collect();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    out
}

fn grouped(d: Decimal, scale: u32) -> String {
    let s = format!("{:.*}", scale as usize, d.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = group_thousands(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `1,234,567.80` for an amount in `currency`: exactly the currency's minor
/// digits (2 when unknown), rounded half away from zero, thousands separated.
pub fn format_money(d: Decimal, currency: &str) -> String {
    let minor = catalog::minor_units(currency).unwrap_or(2);
    let r = d.round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero);
    let sign = if r.is_sign_negative() && !r.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{}", grouped(r, minor))
}

/// Like [`format_money`], with `+` on positive values (for deltas).
pub fn format_delta(d: Decimal, currency: &str) -> String {
    let s = format_money(d, currency);
    if s.starts_with('-') || s.trim_start_matches(['0', '.', ',']).is_empty() {
        s
    } else {
        format!("+{s}")
    }
}

fn format_qty(q: Option<Decimal>) -> String {
    match q {
        Some(q) => {
            let n = q.round_dp(6).normalize();
            let sign = if n.is_sign_negative() && !n.is_zero() {
                "-"
            } else {
                ""
            };
            format!("{sign}{}", grouped(n, n.scale()))
        }
        None => "—".into(),
    }
}

fn format_cycle(t: Option<Micros>) -> String {
    match t.and_then(|t| Utc.timestamp_micros(t).single()) {
        Some(dt) => dt.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "—".into(),
    }
}

/// An item id, escaped, with break opportunities after its dots.
fn item_html(item: &str) -> String {
    esc(item).replace('.', ".<wbr>")
}

/// The anchor of an account's section (`acct-<account_id>`, whitespace as `_`).
pub fn account_anchor(account_id: &str) -> String {
    let id: String = account_id
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!("acct-{id}")
}

/// Whether `vendor` (e.g. `tencent` or `Tencent Cloud`) is the vendor of
/// `item` (ids start with the vendor: `tencent.image_animate`).
fn vendor_of_item(vendor: &str, item: &str) -> bool {
    let prefix = item.split('.').next().unwrap_or("").to_lowercase();
    !prefix.is_empty()
        && vendor
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == prefix)
}

/// Largest |Δ| first; ties in a fixed order.
fn by_size(a: &&Discrepancy, b: &&Discrepancy) -> std::cmp::Ordering {
    b.delta_amount
        .abs()
        .cmp(&a.delta_amount.abs())
        .then_with(|| {
            (
                &a.account_id,
                &a.item,
                &a.charge_type,
                a.cycle_start,
                &a.class,
                &a.currency,
                &a.vendor_lines,
            )
                .cmp(&(
                    &b.account_id,
                    &b.item,
                    &b.charge_type,
                    b.cycle_start,
                    &b.class,
                    &b.currency,
                    &b.vendor_lines,
                ))
        })
}

/// Net Δ per currency, as `+1.00 USD<br>-2.00 CNY`.
fn per_currency(ds: &[&Discrepancy]) -> String {
    let mut m: BTreeMap<&str, Decimal> = BTreeMap::new();
    for d in ds {
        *m.entry(d.currency.as_str()).or_default() += d.delta_amount;
    }
    if m.is_empty() {
        return "—".into();
    }
    m.iter()
        .map(|(c, v)| format!("{} {}", esc(&format_delta(*v, c)), esc(c)))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn delta_class(d: Decimal) -> &'static str {
    if d > Decimal::ZERO {
        "num pos"
    } else if d < Decimal::ZERO {
        "num neg"
    } else {
        "num"
    }
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d2330;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; }
header { background: #1f3a5f; color: #fff; padding: 22px 28px; }
header .inner { max-width: 1240px; margin: 0 auto; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; }
header p { margin: 0; color: #d6e0ee; }
nav { margin: 12px 0 0; font-size: 13px; }
nav a { color: #fff; margin-right: 16px; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 16px 20px; margin: 18px 0; }
h2 { font-size: 18px; margin: 0 0 10px; color: #1f3a5f; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 6px 0 4px; }
.card { border: 1px solid #dde1e7; border-radius: 6px; padding: 10px 14px; min-width: 210px; background: #fafbfc; }
.card .label { color: #5b6472; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { border-bottom: 1px solid #e6e9ee; padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #c9ced6; }
.pos { color: #b03a2e; }
.neg { color: #1f5fa8; }
.muted { color: #6b7380; }
.zero { color: #9aa1ab; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; background: #e7f3ea; color: #256b38; white-space: nowrap; }
.cls { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
td.item { min-width: 150px; }
td.expl { min-width: 240px; }
td.qty { white-space: nowrap; font-variant-numeric: tabular-nums; }
.ids { min-width: 90px; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 11px; color: #4a5160; word-break: break-all; }
.legend { font-size: 12px; color: #5b6472; margin: 4px 0 8px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
@media print { body { background: #fff; } section { border: none; padding: 0; } header { background: #fff; color: #000; } header p, nav a { color: #000; } }
"#;

/// Render the whole page.
pub fn render_report(input: &ReportInput) -> String {
    let ds: Vec<&Discrepancy> = input.discrepancies.iter().collect();
    let mut h = String::new();
    let title = format!("Reconciliation report {}", input.period);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let outside = ds.iter().filter(|d| !d.within_tolerance).count();
    let _ = write!(
        h,
        "<header><div class=\"inner\"><h1>Reconciliation report &mdash; period {}</h1>\
         <p>reckon's invoice against the vendors' statements. &Delta; = theirs &minus; ours: \
         positive when the vendor charges more.</p>\
         <nav><a href=\"#totals\">Totals</a><a href=\"#classes\">By class</a>\
         <a href=\"#largest\">Largest differences</a><a href=\"#chart\">By account</a>\
         <a href=\"#accounts\">Accounts</a><a href=\"#notes\">Notes</a></nav></div></header>\n<main>\n",
        esc(&input.period)
    );

    // Summary cards.
    let _ = write!(
        h,
        "<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">"
    );
    let currencies: Vec<&String> = {
        let mut c: Vec<&String> = input
            .ours_by_currency
            .keys()
            .chain(input.theirs_by_currency.keys())
            .collect();
        c.sort();
        c.dedup();
        c
    };
    for c in &currencies {
        let ours = input.ours_by_currency.get(*c).copied().unwrap_or_default();
        let theirs = input
            .theirs_by_currency
            .get(*c)
            .copied()
            .unwrap_or_default();
        let delta = theirs - ours;
        let _ = write!(
            h,
            "<div class=\"card\"><div class=\"label\">&Delta; {c}</div>\
             <div class=\"value {cls}\">{v} {c}</div>\
             <div class=\"muted\">ours {o} &middot; theirs {t}</div></div>",
            c = esc(c),
            cls = delta_class(delta),
            v = esc(&format_delta(delta, c)),
            o = esc(&format_money(ours, c)),
            t = esc(&format_money(theirs, c)),
        );
    }
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"label\">Discrepancies</div><div class=\"value\">{}</div>\
         <div class=\"muted\">{} to resolve &middot; {} within tolerance</div></div>\
         <div class=\"card\"><div class=\"label\">Statement problems</div><div class=\"value\">{}</div>\
         <div class=\"muted\">rows reckon could not use</div></div>",
        ds.len(),
        outside,
        ds.len() - outside,
        input.problems
    );
    h.push_str("</div></section>\n");

    totals_section(&mut h, input, &ds, &currencies);
    classes_section(&mut h, &ds);
    largest_section(&mut h, &ds);
    chart_section(&mut h, &ds);
    accounts_section(&mut h, &ds);
    notes_section(&mut h, input);

    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn totals_section(
    h: &mut String,
    input: &ReportInput,
    ds: &[&Discrepancy],
    currencies: &[&String],
) {
    h.push_str(
        "<section id=\"totals\"><h2>Totals by vendor and currency</h2>\
         <p class=\"legend\">&ldquo;Within tolerance&rdquo; is the part of &Delta; from differences inside the \
         configured tolerance, counted as matched; &ldquo;to resolve&rdquo; is the rest.</p>\
         <div class=\"scroll\"><table><thead><tr><th>Vendor</th><th>Currency</th><th class=\"num\">Ours</th>\
         <th class=\"num\">Theirs</th><th class=\"num\">&Delta;</th><th class=\"num\">&Delta; within tolerance</th>\
         <th class=\"num\">&Delta; to resolve</th><th class=\"num\">Differences</th></tr></thead><tbody>",
    );
    let mut vendors = input.vendors.clone();
    vendors.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (vendor, cur, ours, theirs) in &vendors {
        let mine: Vec<&&Discrepancy> = ds
            .iter()
            .filter(|d| &d.currency == cur && vendor_of_item(vendor, &d.item))
            .collect();
        let within: Decimal = mine
            .iter()
            .filter(|d| d.within_tolerance)
            .map(|d| d.delta_amount)
            .sum();
        let delta = *theirs - *ours;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&crate::focus::provider_name(vendor)),
            esc(cur),
            esc(&format_money(*ours, cur)),
            esc(&format_money(*theirs, cur)),
            delta_class(delta),
            esc(&format_delta(delta, cur)),
            esc(&format_delta(within, cur)),
            delta_class(delta - within),
            esc(&format_delta(delta - within, cur)),
            mine.len()
        );
    }
    for c in currencies {
        let ours = input.ours_by_currency.get(*c).copied().unwrap_or_default();
        let theirs = input
            .theirs_by_currency
            .get(*c)
            .copied()
            .unwrap_or_default();
        let delta = theirs - ours;
        let mine: Vec<&&Discrepancy> = ds.iter().filter(|d| &d.currency == *c).collect();
        let within: Decimal = mine
            .iter()
            .filter(|d| d.within_tolerance)
            .map(|d| d.delta_amount)
            .sum();
        let _ = write!(
            h,
            "<tr class=\"total\"><td>All vendors</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td></tr>",
            esc(c),
            esc(&format_money(ours, c)),
            esc(&format_money(theirs, c)),
            delta_class(delta),
            esc(&format_delta(delta, c)),
            esc(&format_delta(within, c)),
            delta_class(delta - within),
            esc(&format_delta(delta - within, c)),
            mine.len()
        );
    }
    h.push_str("</tbody></table></div></section>\n");
}

fn classes_section(h: &mut String, ds: &[&Discrepancy]) {
    h.push_str(
        "<section id=\"classes\"><h2>Differences by class</h2><div class=\"scroll\"><table><thead><tr>\
         <th>Class</th><th>Meaning</th><th class=\"num\">Count</th><th class=\"num\">Within tolerance</th>\
         <th class=\"num\">Net &Delta;</th></tr></thead><tbody>",
    );
    let mut classes: Vec<&str> = CLASSES.to_vec();
    let mut extra: Vec<&str> = ds
        .iter()
        .map(|d| d.class.as_str())
        .filter(|c| !CLASSES.contains(c))
        .collect();
    extra.sort();
    extra.dedup();
    classes.extend(extra);
    for class in classes {
        let mine: Vec<&Discrepancy> = ds.iter().filter(|d| d.class == class).copied().collect();
        let within = mine.iter().filter(|d| d.within_tolerance).count();
        let zero = if mine.is_empty() {
            " class=\"zero\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr{zero}><td class=\"cls\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            esc(class),
            esc(class_meaning(class)),
            mine.len(),
            within,
            per_currency(&mine)
        );
    }
    let _ = writeln!(
        h,
        "<tr class=\"total\"><td>All</td><td></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td></tr></tbody></table></div></section>",
        ds.len(),
        ds.iter().filter(|d| d.within_tolerance).count(),
        per_currency(ds)
    );
}

fn discrepancy_cells(h: &mut String, d: &Discrepancy) {
    let tol = if d.within_tolerance {
        " <span class=\"badge\">within tolerance</span>"
    } else {
        ""
    };
    let _ = write!(
        h,
        "<td class=\"cls\">{}{tol}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"{}\">{}</td><td class=\"expl\">{}</td><td class=\"ids\">{}</td>",
        esc(&d.class),
        esc(&format!(
            "{} {}",
            format_money(d.our_amount, &d.currency),
            d.currency
        )),
        esc(&format!(
            "{} {}",
            format_money(d.their_amount, &d.currency),
            d.currency
        )),
        delta_class(d.delta_amount),
        esc(&format!(
            "{} {}",
            format_delta(d.delta_amount, &d.currency),
            d.currency
        )),
        esc(&d.explanation),
        esc(&d.vendor_lines.replace(';', "; ")),
    );
}

fn largest_section(h: &mut String, ds: &[&Discrepancy]) {
    let mut sorted = ds.to_vec();
    sorted.sort_by(by_size);
    let shown = sorted.len().min(TOP_DIFFERENCES);
    let _ = write!(
        h,
        "<section id=\"largest\"><h2>Largest differences</h2><p class=\"legend\">{} of {} differences, \
         largest |&Delta;| first.</p>",
        shown,
        sorted.len()
    );
    if sorted.is_empty() {
        h.push_str("<p>No differences: the statements match reckon's invoice.</p></section>\n");
        return;
    }
    h.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>#</th><th>Account</th><th>Item / charge type</th>\
         <th>Class</th><th class=\"num\">Ours</th><th class=\"num\">Theirs</th><th class=\"num\">&Delta;</th>\
         <th>Explanation</th><th>Vendor lines</th></tr></thead><tbody>",
    );
    for (i, d) in sorted.iter().take(TOP_DIFFERENCES).enumerate() {
        let _ = write!(
            h,
            "<tr><td class=\"num\">{}</td><td><a href=\"#{}\">{}</a></td><td class=\"item\">{}<br>\
             <span class=\"muted\">{}</span></td>",
            i + 1,
            esc(&account_anchor(&d.account_id)),
            esc(&d.account_id),
            item_html(&d.item),
            esc(&d.charge_type)
        );
        discrepancy_cells(h, d);
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div></section>\n");
}

/// Horizontal bars of net Δ per account, one chart per currency.
fn chart_section(h: &mut String, ds: &[&Discrepancy]) {
    let _ = write!(
        h,
        "<section id=\"chart\"><h2>&Delta; by account</h2><p class=\"legend\">Net &Delta; per account (top {} by |&Delta;| \
         per currency). <span class=\"pos\">&#9632;</span> the vendor charges more than reckon \
         &nbsp; <span class=\"neg\">&#9632;</span> the vendor charges less.</p>",
        TOP_ACCOUNTS_CHART
    );
    let mut by_cur: BTreeMap<&str, BTreeMap<&str, Decimal>> = BTreeMap::new();
    for d in ds {
        *by_cur
            .entry(d.currency.as_str())
            .or_default()
            .entry(d.account_id.as_str())
            .or_default() += d.delta_amount;
    }
    if by_cur.is_empty() {
        h.push_str("<p>No differences.</p></section>\n");
        return;
    }
    for (cur, accounts) in by_cur {
        let mut rows: Vec<(&str, Decimal)> = accounts.into_iter().collect();
        rows.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then_with(|| a.0.cmp(b.0)));
        rows.truncate(TOP_ACCOUNTS_CHART);
        let max = rows.iter().map(|r| r.1.abs()).max().unwrap_or_default();
        let px_width = 1120.0_f64;
        let px_label = 190.0_f64;
        let px_value = 130.0_f64;
        let px_row = 24.0_f64;
        let px_top = 28.0_f64;
        let px_half = (px_width - px_label - 2.0 * px_value) / 2.0;
        let px_zero = px_label + px_value + px_half;
        let px_height = px_top + px_row * rows.len() as f64 + 12.0;
        let _ = write!(
            h,
            "<h3>{c}</h3><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"100%\" \
             viewBox=\"0 0 {px_width} {px_height}\" style=\"max-width:{px_width}px\">\
             <title>Net difference by account in {c}</title>\
             <text x=\"{px_zero}\" y=\"16\" text-anchor=\"middle\" font-size=\"11\" fill=\"#5b6472\">0</text>\
             <line x1=\"{px_zero}\" y1=\"22\" x2=\"{px_zero}\" y2=\"{px_bottom}\" stroke=\"#8a929e\" stroke-width=\"1\"/>",
            c = esc(cur),
            px_bottom = px_height - 6.0,
        );
        for (i, (account, delta)) in rows.iter().enumerate() {
            let px_y = px_top + px_row * i as f64;
            let px_len = if max.is_zero() {
                0.0
            } else {
                (delta.abs() / max).to_f64().unwrap_or(0.0) * px_half
            };
            let px_len = if px_len > 0.0 { px_len.max(1.5) } else { 0.0 };
            let positive = *delta > Decimal::ZERO;
            let (px_x, fill) = if positive {
                (px_zero, "#c0392b")
            } else {
                (px_zero - px_len, "#2e6da4")
            };
            let (px_tx, anchor) = if positive {
                (px_zero + px_len + 6.0, "start")
            } else {
                (px_zero - px_len - 6.0, "end")
            };
            let value = format!("{} {}", format_delta(*delta, cur), cur);
            let _ = write!(
                h,
                "<a href=\"#{anchor_id}\"><text x=\"{px_lx}\" y=\"{px_ty:.1}\" text-anchor=\"end\" font-size=\"12\" \
                 fill=\"#1d2330\">{acct}</text></a>\
                 <rect x=\"{px_x:.2}\" y=\"{px_ry:.1}\" width=\"{px_len:.2}\" height=\"{px_h:.1}\" fill=\"{fill}\" rx=\"2\">\
                 <title>{acct}: {v}</title></rect>\
                 <text x=\"{px_tx:.2}\" y=\"{px_ty:.1}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#3a4150\">{v}</text>",
                anchor_id = esc(&account_anchor(account)),
                px_lx = px_label - 8.0,
                px_ty = px_y + px_row / 2.0 + 4.0,
                acct = esc(&truncate(account, 28)),
                px_ry = px_y + 4.0,
                px_h = px_row - 8.0,
                v = esc(&value),
            );
        }
        h.push_str("</svg>");
    }
    h.push_str("</section>\n");
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

fn accounts_section(h: &mut String, ds: &[&Discrepancy]) {
    h.push_str("<section id=\"accounts\"><h2>Accounts</h2>");
    let mut by_account: BTreeMap<&str, Vec<&Discrepancy>> = BTreeMap::new();
    for d in ds {
        by_account.entry(d.account_id.as_str()).or_default().push(d);
    }
    if by_account.is_empty() {
        h.push_str("<p>No account has a difference.</p>");
    } else {
        h.push_str("<p class=\"legend\">");
        let links: Vec<String> = by_account
            .keys()
            .map(|a| format!("<a href=\"#{}\">{}</a>", esc(&account_anchor(a)), esc(a)))
            .collect();
        h.push_str(&links.join(" &middot; "));
        h.push_str("</p>");
    }
    for (account, mut mine) in by_account {
        mine.sort_by(by_size);
        let within = mine.iter().filter(|d| d.within_tolerance).count();
        let _ = write!(
            h,
            "<h3 id=\"{}\">Account {}</h3><p class=\"muted\">{} difference(s), {} within tolerance; net &Delta; {}</p>\
             <div class=\"scroll\"><table><thead><tr><th>Item / charge type / cycle</th>\
             <th>Quantities ours / theirs</th><th>Class</th><th class=\"num\">Ours</th><th class=\"num\">Theirs</th>\
             <th class=\"num\">&Delta;</th><th>Explanation</th><th>Vendor lines</th></tr></thead><tbody>",
            esc(&account_anchor(account)),
            esc(account),
            mine.len(),
            within,
            per_currency(&mine).replace("<br>", "; ")
        );
        for d in mine {
            let pair = |label: &str, a: Option<Decimal>, b: Option<Decimal>| {
                if a.is_none() && b.is_none() {
                    String::new()
                } else {
                    format!(
                        "<span class=\"muted\">{label}</span> {}<br>",
                        esc(&format!("{} / {}", format_qty(a), format_qty(b)))
                    )
                }
            };
            let qty = [
                pair("usage", d.our_usage_quantity, d.their_usage_quantity),
                pair(
                    "deducted",
                    d.our_deducted_quantity,
                    d.their_deducted_quantity,
                ),
                pair("billed", d.our_billed_quantity, d.their_billed_quantity),
                pair("unit price", d.our_unit_price, d.their_unit_price),
            ]
            .concat();
            let _ = write!(
                h,
                "<tr><td class=\"item\">{}<br><span class=\"muted\">{} &middot; {}</span></td>\
                 <td class=\"qty\">{}</td>",
                item_html(&d.item),
                esc(&d.charge_type),
                esc(&format_cycle(d.cycle_start)),
                if qty.is_empty() {
                    "—".to_string()
                } else {
                    qty.trim_end_matches("<br>").to_string()
                },
            );
            discrepancy_cells(h, d);
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>\n");
}

fn notes_section(h: &mut String, input: &ReportInput) {
    h.push_str("<section id=\"notes\"><h2>Notes</h2><ul>");
    if input.problems > 0 {
        let _ = write!(
            h,
            "<li>{} statement row(s) could not be used (unmapped SKU, unknown currency, bad value, ...): they are \
             listed with the reconciliation outputs and are not part of the totals above.</li>",
            input.problems
        );
    } else {
        h.push_str("<li>Every statement row was used.</li>");
    }
    for n in input.statement_notes {
        let _ = write!(h, "<li>{}</li>", esc(n));
    }
    h.push_str(
        "<li>&Delta; is theirs &minus; ours. Amounts are per currency and never added across currencies; \
         money is rounded to the currency's minor unit for display only.</li></ul></section>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_has_minor_digits_and_separators() {
        assert_eq!(format_money(d("1234567.8"), "USD"), "1,234,567.80");
        assert_eq!(format_money(d("-1234.005"), "CNY"), "-1,234.01");
        assert_eq!(format_money(d("0"), "USD"), "0.00");
        assert_eq!(format_money(d("-0.001"), "USD"), "0.00");
        assert_eq!(format_money(d("999"), "USD"), "999.00");
        assert_eq!(format_money(d("100000"), "USD"), "100,000.00");
        assert_eq!(format_delta(d("12.5"), "USD"), "+12.50");
        assert_eq!(format_delta(d("-12.5"), "USD"), "-12.50");
        assert_eq!(format_delta(d("0"), "USD"), "0.00");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn vendors_match_item_prefixes() {
        assert!(vendor_of_item("Tencent Cloud", "tencent.image_animate"));
        assert!(vendor_of_item("alibaba", "alibaba.ims.text_generation"));
        assert!(!vendor_of_item("Alibaba Cloud", "tencent.image_animate"));
    }
}
