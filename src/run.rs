//! One period's run: ingest, reduce, deduct and rate, write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::PlHashMap;
use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::{self, Catalog};
use crate::engine::{self, AccountInput, Context, PartialBucket};
use crate::error::{Error, Result};
use crate::held;
use crate::ingest::{self, IngestOptions, Ingested, TableStats};
use crate::model::*;
use crate::output::{Col, Staging, Table, MONEY_SCALE, PRICE_SCALE, QTY_SCALE};
use crate::period::Period;
use crate::policy::Policy;
use crate::reduce::{self, Cut};
use crate::tally::Tally;

/// What a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub period: String,
    pub input: PathBuf,
    pub out: PathBuf,
    pub catalog: PathBuf,
    pub policy: Policy,
    pub assume_offset: Option<i32>,
    /// A vendor statement to reconcile against (file or directory).
    pub statement: Option<PathBuf>,
    /// Where the statement header and SKU maps live.
    pub statement_map: PathBuf,
    pub tolerance: crate::reconcile::Tolerance,
    /// Draw a progress line per stage when stderr is a terminal.
    pub progress: bool,
    /// Close only one slice of the accounts (after whole-input validation and dedupe).
    pub shard: Option<crate::ingest::Shard>,
}

/// The computed month, before it is written.
#[derive(Debug, Clone, Default)]
pub struct Month {
    pub lines: Lines,
    pub invoices: Vec<InvoiceRow>,
    pub ledger: Vec<LedgerRow>,
    pub exceptions: Vec<ExceptionRow>,
}

/// `invoices` row: one per account and currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvoiceRow {
    pub account_id: String,
    pub currency: String,
    pub usage_amount: Decimal,
    pub purchase_amount: Decimal,
    pub subscription_amount: Decimal,
    pub refund_amount: Decimal,
    pub total: Decimal,
}

/// What `reckon run` reports back.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub out: PathBuf,
    pub period: String,
    pub invoices: Vec<InvoiceRow>,
    pub totals: BTreeMap<String, Decimal>,
    pub exceptions: BTreeMap<String, u64>,
    pub stats: Vec<TableStats>,
    /// The reconciliation, when a statement was given.
    pub recon: Option<crate::recon_run::ReconSummary>,
}

/// The billing offset shared by every product of the catalog.
pub fn catalog_offset(cat: &Catalog) -> Result<i32> {
    let mut offsets: Vec<i32> = cat
        .products
        .iter()
        .map(|p| catalog::parse_offset(&p.timezone))
        .collect::<Result<_>>()?;
    offsets.sort();
    offsets.dedup();
    match offsets.as_slice() {
        [o] => Ok(*o),
        [] => Err(Error::Catalog("the catalog has no products".into())),
        _ => Err(Error::Catalog(
            "products bill in different time zones; run them with separate catalogs".into(),
        )),
    }
}

/// Load a catalog and refuse one that fails its checks.
pub fn load_catalog(dir: &Path) -> Result<Catalog> {
    let cat = Catalog::load(dir)?;
    let problems = crate::catalog_load::check(&cat);
    if !problems.is_empty() {
        return Err(Error::Catalog(format!(
            "{} fails its checks:\n  {}",
            dir.display(),
            problems.join("\n  ")
        )));
    }
    Ok(cat)
}

/// Cut points per account and item: package effective / expiry / refund times
/// and suspension edges (a product's suspension cuts each of its items).
pub fn cuts(cat: &Catalog, packages: &[Package], accounts: &[AccountSetting]) -> Vec<Cut> {
    let mut out = Vec::new();
    for p in packages {
        for at in [Some(p.effective_at), Some(p.expires_at), p.refunded_at]
            .into_iter()
            .flatten()
        {
            out.push(Cut {
                account_id: p.account_id.clone(),
                item: p.item.clone(),
                at,
            });
        }
    }
    for a in accounts {
        let Some(product) = cat.product(&a.product) else {
            continue;
        };
        for item in &product.items {
            for at in [a.suspended_from, a.suspended_until].into_iter().flatten() {
                out.push(Cut {
                    account_id: a.account_id.clone(),
                    item: item.id.clone(),
                    at,
                });
            }
        }
    }
    // Equal cuts are the same in every field, so the order among them
    // does not matter.
    out.par_sort_unstable();
    out.dedup();
    out
}

/// Stage timings, for the manifest and `--verbose`.
pub use crate::progress::Timings;

/// Deduct and rate an ingested period: the whole computation, no I/O but the
/// usage scans. Used by `run` and by tests that chain months in memory.
pub fn compute(
    cat: &Catalog,
    period: &Period,
    policy: &Policy,
    ing: &Ingested,
    packages: Vec<Package>,
    timings: &mut Timings,
) -> Result<Month> {
    let (buckets, held) = timings.time("reduce", || {
        // Its inputs too: each package's cut points, and the pairs whose
        // buckets may end partly refused (200k packages at 100k accounts).
        let (cut_points, refusable) = rayon::join(
            || cuts(cat, &packages, &ing.accounts),
            || held::refusable(cat, &packages, &ing.accounts),
        );
        reduce::reduce(
            ing.usage.marked()?,
            &ing.variants,
            cat,
            period,
            &cut_points,
            &refusable,
        )
    })?;

    // Buckets come as one vector per account (in no particular order of
    // accounts): each is looked up once and moved, not copied; then the
    // accounts are sorted.
    let inputs = timings.time("gather_accounts", || {
        let mut index: PlHashMap<String, usize> = PlHashMap::default();
        let mut inputs: Vec<AccountInput> = Vec::new();
        let mut at = |id: &str, last: &mut usize, inputs: &mut Vec<AccountInput>| {
            if inputs.get(*last).is_none_or(|a| a.account_id != id) {
                *last = account(&mut index, inputs, id);
            }
            *last
        };
        let mut last = usize::MAX;
        for run in buckets {
            let i = at(&run[0].account_id, &mut last, &mut inputs);
            if inputs[i].buckets.is_empty() {
                inputs[i].buckets = run;
            } else {
                inputs[i].buckets.extend(run);
            }
        }
        for p in packages {
            let i = at(&p.account_id, &mut last, &mut inputs);
            inputs[i].packages.push(p);
        }
        for s in &ing.accounts {
            let i = at(&s.account_id, &mut last, &mut inputs);
            inputs[i].settings.push(s.clone());
        }
        for s in &ing.subscriptions {
            let i = at(&s.account_id, &mut last, &mut inputs);
            inputs[i].subscriptions.push(s.clone());
        }
        inputs.par_sort_unstable_by(|a, b| a.account_id.cmp(&b.account_id));
        Ok(inputs)
    })?;

    let ctx = Context {
        catalog: cat,
        period: *period,
        policy,
    };
    // Deduction and rating are one pass per account (rating needs what the
    // packages left), timed together. Accounts run on rayon in batches; each
    // account's lines stay in the vector it made them in ([`Lines`]), so
    // they are never copied, and the month takes no fresh pages for one
    // vector of them all.
    let n = inputs.len() as u64;
    let mut month = Month::default();
    let mut drafts = Vec::new();
    let mut partials: Vec<PartialBucket> = Vec::new();
    timings.time_counted("deduct_rate", Some(n), |st| {
        let mut inputs = inputs.into_iter();
        // A batch's results are appended (one thread) while the next batch
        // runs on the other workers: the same order as appending each batch
        // before running the next.
        let mut done: Option<Vec<engine::AccountResult>> = None;
        loop {
            let batch: Vec<AccountInput> = inputs.by_ref().take(ACCOUNTS_PER_BATCH).collect();
            let (next, ()) = rayon::join(
                || (!batch.is_empty()).then(|| engine::run_accounts(&ctx, batch, &|| st.inc(1))),
                || {
                    for r in done.take().into_iter().flatten() {
                        // Second pass for partly refused buckets, in this order.
                        partials
                            .extend(r.exceptions.iter().flat_map(|e| e.partials.iter().cloned()));
                        month.lines.push(r.lines);
                        month.ledger.extend(r.ledger);
                        drafts.extend(r.exceptions);
                    }
                },
            );
            match next {
                Some(results) => done = Some(results),
                None => return Ok(()),
            }
        }
    })?;
    let resolved = timings.time("refine_exceptions", || {
        // The second pass walks the partly refused buckets over the events
        // the reduction held; the ids it needs and those of the one-event
        // buckets exceptions name are read in one scan, for them only. A
        // bucket not held is resolved by a scan of its accounts' rows.
        let plan = held.plan(&partials);
        tracing::info!(
            buckets = partials.len(),
            held_events = held.len(),
            not_held = plan.unresolved(),
            "second pass"
        );
        let mut rows: Vec<i64> = drafts.iter().filter_map(|d| d.wanted_row()).collect();
        rows.extend(plan.rows());
        let names = ing.event_ids.lookup(rows)?;
        for d in &mut drafts {
            if let Some(id) = d.wanted_row().and_then(|r| names.get(&r)) {
                d.name_first(id);
            }
        }
        plan.finish(&partials, &names, |rest| {
            reduce::resolve_partials(&ing.usage, cat, rest)
        })
    })?;
    drop(held);
    // `resolved` is in the order the partials were collected above.
    // The exceptions finished and sorted, the invoices summed.
    timings.time("finish_month", || {
        let mut resolved = resolved.into_iter();
        month.exceptions.reserve_exact(drafts.len());
        for e in drafts {
            let found: Vec<_> = resolved.by_ref().take(e.partials.len()).collect();
            month.exceptions.push(e.finish(&found));
        }
        month
            .exceptions
            .extend(unknown_item_exceptions(&ing.unknown_items)?);
        month.exceptions.par_sort_by(|a, b| {
            (
                &a.account_id,
                &a.item,
                a.event_time,
                &a.reason,
                &a.package_id,
            )
                .cmp(&(
                    &b.account_id,
                    &b.item,
                    b.event_time,
                    &b.reason,
                    &b.package_id,
                ))
        });
        month.invoices = month_invoices(&month.lines);
        Ok(())
    })?;
    Ok(month)
}

/// The index in `inputs` of account `id`'s input, added (its index in
/// `index`) when new.
fn account(
    index: &mut PlHashMap<String, usize>,
    inputs: &mut Vec<AccountInput>,
    id: &str,
) -> usize {
    match index.get(id) {
        Some(&i) => i,
        None => {
            inputs.push(AccountInput {
                account_id: id.to_string(),
                ..Default::default()
            });
            index.insert(id.to_string(), inputs.len() - 1);
            inputs.len() - 1
        }
    }
}

fn unknown_item_exceptions(df: &polars::prelude::DataFrame) -> Result<Vec<ExceptionRow>> {
    use polars::prelude::*;
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let acc = df.column("account_id")?.str()?.clone();
    let item = df.column("item")?.str()?.clone();
    let id = df.column("event_id")?.str()?.clone();
    let t = df.column("event_time")?.cast(&DataType::Int64)?;
    let t = t.i64()?;
    let q = df.column("quantity_micro")?.cast(&DataType::Int64)?;
    let q = q.i64()?;
    let n = df.column("events")?.cast(&DataType::Int64)?;
    let n = n.i64()?;
    Ok((0..df.height())
        .map(|r| ExceptionRow {
            account_id: acc.get(r).unwrap_or_default().to_string(),
            item: item.get(r).unwrap_or_default().to_string(),
            event_id: id.get(r).map(str::to_string),
            event_time: t.get(r),
            reason: "unknown_item".into(),
            quantity: Decimal::new(q.get(r).unwrap_or(0), 6).normalize(),
            package_id: None,
            events: n.get(r).unwrap_or(0) as u64,
            detail: "usage naming an item the catalog does not know (rows are in rejects)".into(),
        })
        .collect())
}

/// Sum lines into one invoice per account and currency.
pub fn invoices<'a>(lines: impl IntoIterator<Item = &'a InvoiceLine>) -> Vec<InvoiceRow> {
    invoice_rows(invoice_sums(lines))
}

/// [`invoices`] of the month's lines, each part (an account's lines)
/// summed on rayon.
pub fn month_invoices(lines: &Lines) -> Vec<InvoiceRow> {
    invoice_rows(
        lines
            .parts()
            .par_iter()
            .flat_map_iter(invoice_sums)
            .collect(),
    )
}

/// Per account and currency: [usage, purchase, subscription, refund, total].
type InvoiceSums<'a> = Vec<((&'a str, &'a str), [Decimal; 5])>;

/// The sums of [`invoices`], in no particular order: summed in line order
/// under borrowed keys (a run of lines of one account and currency looked
/// up once).
fn invoice_sums<'a>(lines: impl IntoIterator<Item = &'a InvoiceLine>) -> InvoiceSums<'a> {
    let mut m: Tally<(&str, &str), [Decimal; 5]> = Tally::default();
    for l in lines {
        let r = m.at((&l.account_id, &l.currency));
        let k = match l.charge_type.as_str() {
            "usage" => 0,
            "purchase" => 1,
            "subscription" => 2,
            _ => 3,
        };
        r[k] += l.amount;
        r[4] += l.amount;
    }
    m.values
}

/// Invoice rows from sums, sorted by account and currency; sums of one key
/// from different runs of lines added together.
fn invoice_rows(mut sums: InvoiceSums<'_>) -> Vec<InvoiceRow> {
    sums.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut rows: Vec<InvoiceRow> = Vec::with_capacity(sums.len());
    let mut last: Option<(&str, &str)> = None;
    for ((account, currency), [u, p, s, r, t]) in sums {
        if last == Some((account, currency)) {
            let row = rows.last_mut().expect("a row for the last key");
            row.usage_amount += u;
            row.purchase_amount += p;
            row.subscription_amount += s;
            row.refund_amount += r;
            row.total += t;
            continue;
        }
        last = Some((account, currency));
        rows.push(InvoiceRow {
            account_id: account.to_string(),
            currency: currency.to_string(),
            usage_amount: u,
            purchase_amount: p,
            subscription_amount: s,
            refund_amount: r,
            total: t,
        });
    }
    rows
}

/// `reckon run`: the whole month, written atomically.
pub fn run(opts: &RunOptions) -> Result<Summary> {
    let mut timings = Timings::with_progress(opts.progress);
    let cat = timings.time("catalog", || load_catalog(&opts.catalog))?;
    let offset = catalog_offset(&cat)?;
    let period = Period::parse(&opts.period, offset)?;
    if !opts.input.is_dir() {
        return Err(Error::input(&opts.input, "input directory not found"));
    }
    let ing = ingest::ingest_timed(
        &opts.input,
        &cat,
        &IngestOptions {
            period_start: period.start(),
            period_end: period.end(),
            assume_offset: opts.assume_offset,
        },
        &mut timings,
    )?;
    let ing = match opts.shard {
        Some(sh) => ing.shard(sh)?,
        None => ing,
    };
    let mut month = compute(
        &cat,
        &period,
        &opts.policy,
        &ing,
        ing.packages.clone(),
        &mut timings,
    )?;

    let staging = Staging::begin(&opts.out)?;
    // The tables and the FOCUS export are written side by side (each on
    // both cores when the other waits on a write: 1.6 s less at 100M
    // events than one after the other); "write" is both, "write.tables"
    // and "write.focus" each one's own time inside it.
    let timed = |f: &(dyn Fn() -> Result<()> + Sync)| {
        let t = std::time::Instant::now();
        let r = f();
        (r, t.elapsed().as_secs_f64())
    };
    let (tables_s, focus_s) = timings.time("write", || {
        let ((tables, tables_s), (focus, focus_s)) = rayon::join(
            || {
                timed(&|| {
                    staging.write_table_chunks(
                        "invoice_lines",
                        month.lines.len(),
                        LINES_PER_CHUNK,
                        |r| {
                            let run: Vec<&InvoiceLine> =
                                month.lines.range(r).map(|(_, l)| l).collect();
                            lines_table(&run, offset)
                        },
                    )?;
                    for t in tables(&month, offset) {
                        staging.write_table(&t)?;
                    }
                    staging.write_frame("rejects", &ing.rejects)?;
                    staging.write_frame("duplicates", &ing.duplicates)
                })
            },
            || timed(&|| crate::focus::write_focus(&staging, &month, &cat, &period)),
        );
        tables?;
        focus?;
        Ok((tables_s, focus_s))
    })?;
    timings.part("write.tables", tables_s);
    timings.part("write.focus", focus_s);
    // Made durable on a thread of its own while the statement is reconciled.
    staging.sync_written();
    // Written: from here on the lines are needed only as reconciliation's
    // figures, so they are handed over (not copied) before the statement is read.
    let line_count = month.lines.len();
    let recon = match &opts.statement {
        Some(path) => Some(timings.time("reconcile", || {
            // Each account's lines made into figures in a vector of their
            // own size (collected in place, the figures would keep the
            // lines' larger blocks).
            let ours: Vec<Vec<_>> = std::mem::take(&mut month.lines)
                .into_parts()
                .into_par_iter()
                .map(|p| {
                    let mut v = Vec::with_capacity(p.len());
                    v.extend(p.into_iter().map(crate::reconcile::OurLine::from_owned));
                    v
                })
                .collect();
            let refs: Vec<&crate::reconcile::OurLine> = ours.iter().flatten().collect();
            let summary = crate::recon_run::reconcile_into(
                &staging,
                &cat,
                &period.label(),
                offset,
                &refs,
                &month.exceptions,
                path,
                &opts.statement_map,
                &opts.tolerance,
            );
            // Millions of small strings: freed on both cores, or left to
            // the process's exit (`discard`).
            drop(refs);
            crate::discard::discard_with(ours, |o| o.into_par_iter().for_each(drop));
            summary
        })?),
        None => None,
    };
    let totals = totals(&month.invoices);
    let mut exceptions: BTreeMap<String, u64> = BTreeMap::new();
    for e in &month.exceptions {
        *exceptions.entry(e.reason.clone()).or_default() += 1;
    }
    let manifest = serde_json::json!({
        "reckon_version": env!("CARGO_PKG_VERSION"),
        "period": period.label(),
        "billing_offset": crate::period::format_time(period.start(), offset)[19..].to_string(),
        "period_start_utc": crate::period::format_time(period.start(), 0),
        "period_end_utc": crate::period::format_time(period.end(), 0),
        "catalog": { "version": cat.version, "files": cat.files },
        "policy": opts.policy,
        "shard": opts.shard,
        "inputs": ing.stats,
        "outputs": {
            "invoice_lines": line_count,
            "invoices": month.invoices.len(),
            "package_ledger": month.ledger.len(),
            "exceptions": month.exceptions.len(),
            "rejects": ing.rejects.height(),
            "duplicates": ing.duplicates.height(),
        },
        "exceptions_by_reason": exceptions,
        "totals": totals,
        "reconciliation": recon.as_ref().map(|r| serde_json::json!({
            "statement": opts.statement,
            "discrepancies": r.discrepancies.iter().filter(|d| !d.within_tolerance).count(),
            "within_tolerance": r.discrepancies.iter().filter(|d| d.within_tolerance).count(),
            "by_class": r.classes,
            "ours": r.ours,
            "theirs": r.theirs,
            "statement_problems": r.problems,
        })),
        "timings_seconds": timings.seconds,
        "peak_rss_mb_after_stage": timings.peak_rss_mb,
    });
    staging.write_text(
        "manifest.json",
        &(serde_json::to_string_pretty(&manifest).expect("json") + "\n"),
    )?;
    // What is left of the month is plain data: freed here, or left to the
    // process's exit (`discard`).
    let Month {
        lines,
        invoices,
        ledger,
        exceptions: exception_rows,
    } = month;
    crate::discard::discard((lines, ledger, exception_rows));
    let Ingested {
        packages, stats, ..
    } = ing;
    crate::discard::discard(packages);
    let out = staging.commit()?;
    Ok(Summary {
        out,
        period: period.label(),
        invoices,
        totals,
        exceptions,
        stats,
        recon,
    })
}

/// Totals per currency (never added across currencies).
pub fn totals(invoices: &[InvoiceRow]) -> BTreeMap<String, Decimal> {
    let mut t: BTreeMap<String, Decimal> = BTreeMap::new();
    for i in invoices {
        *t.entry(i.currency.clone()).or_default() += i.total;
    }
    t
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Accounts deducted and rated per batch (see [`compute`]).
const ACCOUNTS_PER_BATCH: usize = 4096;

/// Invoice lines per table chunk when they are written (see
/// [`Staging::write_table_chunks`]).
const LINES_PER_CHUNK: usize = 1 << 18;

/// The `invoice_lines` table of `l` (the whole month's or a run of it), in
/// contract column order.
pub fn lines_table<'a>(l: &[&'a InvoiceLine], offset: i32) -> Table<'a> {
    // Every column filled in one pass over the lines: a chunk's lines
    // (about 100 MB) do not fit the cache, and a pass per column read them
    // from memory twenty times.
    let n = l.len();
    type Texts<'a> = Vec<Option<&'a str>>;
    type Decs = Vec<Option<Decimal>>;
    let texts = || -> Texts<'a> { Vec::with_capacity(n) };
    let decs = || -> Decs { Vec::with_capacity(n) };
    let (mut account, mut item, mut charge_type, mut tier, mut currency) =
        (texts(), texts(), texts(), texts(), texts());
    let (mut packages, mut region, mut resolution, mut reference) =
        (texts(), texts(), texts(), texts());
    let (mut usage, mut free, mut campaign, mut prepaid, mut postpaid) =
        (decs(), decs(), decs(), decs(), decs());
    let (mut unit_price, mut amount, mut subscription, mut refused) =
        (decs(), decs(), decs(), decs());
    let mut cycle_start = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    for &x in l {
        account.push(Some(x.account_id.as_str()));
        item.push(Some(x.item.as_str()));
        charge_type.push(Some(x.charge_type.as_str()));
        cycle_start.push(Some(x.cycle_start));
        usage.push(Some(x.usage_quantity));
        free.push(Some(x.free_quantity));
        campaign.push(Some(x.campaign_quantity));
        prepaid.push(Some(x.prepaid_quantity));
        postpaid.push(Some(x.postpaid_quantity));
        tier.push(x.tier.as_deref());
        unit_price.push(x.unit_price);
        amount.push(Some(x.amount));
        currency.push(Some(x.currency.as_str()));
        packages.push(Some(x.packages.as_str()));
        region.push(x.region.as_deref());
        resolution.push(x.resolution.as_deref());
        subscription.push(Some(x.subscription_quantity));
        refused.push(Some(x.refused_quantity));
        events.push(Some(x.events as i64));
        reference.push(x.reference.as_deref());
    }
    Table {
        name: "invoice_lines",
        offset,
        columns: vec![
            Col::Text("account_id", account),
            Col::Text("item", item),
            Col::Text("charge_type", charge_type),
            Col::Time("cycle_start", cycle_start),
            Col::Dec("usage_quantity", QTY_SCALE, usage),
            Col::Dec("free_quantity", QTY_SCALE, free),
            Col::Dec("campaign_quantity", QTY_SCALE, campaign),
            Col::Dec("prepaid_quantity", QTY_SCALE, prepaid),
            Col::Dec("postpaid_quantity", QTY_SCALE, postpaid),
            Col::Text("tier", tier),
            Col::Dec("unit_price", PRICE_SCALE, unit_price),
            Col::Dec("amount", MONEY_SCALE, amount),
            Col::Text("currency", currency),
            Col::Text("packages", packages),
            Col::Text("region", region),
            Col::Text("resolution", resolution),
            Col::Dec("subscription_quantity", QTY_SCALE, subscription),
            Col::Dec("refused_quantity", QTY_SCALE, refused),
            Col::Int("events", events),
            Col::Text("reference", reference),
        ],
    }
}

/// The month's other tables (invoices, package ledger, exceptions) in
/// contract column order.
pub fn tables(m: &Month, offset: i32) -> Vec<Table<'_>> {
    let inv = &m.invoices;
    let di =
        |f: &dyn Fn(&InvoiceRow) -> Decimal| inv.iter().map(|x| Some(f(x))).collect::<Vec<_>>();
    let invoices = Table {
        name: "invoices",
        offset,
        columns: vec![
            Col::Text(
                "account_id",
                inv.iter().map(|x| Some(x.account_id.as_str())).collect(),
            ),
            Col::Text(
                "currency",
                inv.iter().map(|x| Some(x.currency.as_str())).collect(),
            ),
            Col::Dec("usage_amount", MONEY_SCALE, di(&|x| x.usage_amount)),
            Col::Dec("purchase_amount", MONEY_SCALE, di(&|x| x.purchase_amount)),
            Col::Dec(
                "subscription_amount",
                MONEY_SCALE,
                di(&|x| x.subscription_amount),
            ),
            Col::Dec("refund_amount", MONEY_SCALE, di(&|x| x.refund_amount)),
            Col::Dec("total", MONEY_SCALE, di(&|x| x.total)),
        ],
    };
    let g = &m.ledger;
    let dl = |f: &dyn Fn(&LedgerRow) -> Decimal| g.iter().map(|x| Some(f(x))).collect::<Vec<_>>();
    let ledger = Table {
        name: "package_ledger",
        offset,
        columns: vec![
            Col::Text(
                "package_id",
                g.iter()
                    .map(|x| Some(x.package.package_id.as_str()))
                    .collect(),
            ),
            Col::Text(
                "account_id",
                g.iter()
                    .map(|x| Some(x.package.account_id.as_str()))
                    .collect(),
            ),
            Col::Text(
                "item",
                g.iter().map(|x| Some(x.package.item.as_str())).collect(),
            ),
            Col::Text(
                "kind",
                g.iter().map(|x| Some(x.package.kind.as_str())).collect(),
            ),
            Col::Dec("size", QTY_SCALE, dl(&|x| x.package.size)),
            Col::Dec("remaining", QTY_SCALE, dl(&|x| x.closing)),
            Col::Time(
                "effective_at",
                g.iter().map(|x| Some(x.package.effective_at)).collect(),
            ),
            Col::Time(
                "expires_at",
                g.iter().map(|x| Some(x.package.expires_at)).collect(),
            ),
            Col::Dec(
                "price",
                MONEY_SCALE,
                g.iter().map(|x| x.package.price).collect(),
            ),
            Col::Text(
                "currency",
                g.iter().map(|x| x.package.currency.as_deref()).collect(),
            ),
            Col::Time(
                "refunded_at",
                g.iter().map(|x| x.package.refunded_at).collect(),
            ),
            Col::Dec("opening", QTY_SCALE, dl(&|x| x.opening)),
            Col::Dec("deducted", QTY_SCALE, dl(&|x| x.deducted)),
            Col::Dec("expired", QTY_SCALE, dl(&|x| x.expired)),
            Col::Dec("refunded", QTY_SCALE, dl(&|x| x.refunded)),
            Col::Dec("closing", QTY_SCALE, dl(&|x| x.closing)),
            Col::Dec("remaining_measure", QTY_SCALE, dl(&|x| x.closing_measure)),
        ],
    };
    let e = &m.exceptions;
    let exceptions = Table {
        name: "exceptions",
        offset,
        columns: vec![
            Col::Text(
                "account_id",
                e.iter().map(|x| Some(x.account_id.as_str())).collect(),
            ),
            Col::Text("item", e.iter().map(|x| Some(x.item.as_str())).collect()),
            Col::Text(
                "event_id",
                e.iter().map(|x| x.event_id.as_deref()).collect(),
            ),
            Col::Time("event_time", e.iter().map(|x| x.event_time).collect()),
            Col::Text(
                "reason",
                e.iter().map(|x| Some(x.reason.as_str())).collect(),
            ),
            Col::Dec(
                "quantity",
                QTY_SCALE,
                e.iter().map(|x| Some(x.quantity)).collect(),
            ),
            Col::Text(
                "package_id",
                e.iter().map(|x| x.package_id.as_deref()).collect(),
            ),
            Col::Int("events", e.iter().map(|x| Some(x.events as i64)).collect()),
            Col::Text("detail", e.iter().map(|x| opt(&x.detail)).collect()),
        ],
    };
    vec![invoices, ledger, exceptions]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account: &str, currency: &str, charge_type: &str, amount: &str) -> InvoiceLine {
        InvoiceLine {
            account_id: account.into(),
            item: "x".into(),
            charge_type: charge_type.into(),
            amount: amount.parse().unwrap(),
            currency: currency.into(),
            events: 1,
            ..InvoiceLine::default()
        }
    }

    #[test]
    fn the_months_invoices_by_parts_are_the_invoices_of_all_its_lines() {
        // Accounts out of order, two currencies, every charge type, and
        // one account and currency split over two parts.
        let parts = vec![
            vec![
                line("b", "USD", "usage", "1.25"),
                line("b", "CNY", "purchase", "100"),
                line("b", "USD", "refund", "-0.5"),
            ],
            vec![
                line("a", "CNY", "subscription", "30.10"),
                line("a", "CNY", "usage", "0.01"),
            ],
            vec![
                line("b", "USD", "usage", "2.5"),
                line("c", "USD", "other", "7"),
            ],
        ];
        let mut lines = Lines::default();
        for p in parts {
            lines.push(p);
        }
        let by_parts = month_invoices(&lines);
        assert_eq!(by_parts, invoices(lines.iter()));
        let keys: Vec<(&str, &str)> = by_parts
            .iter()
            .map(|r| (r.account_id.as_str(), r.currency.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("a", "CNY"), ("b", "CNY"), ("b", "USD"), ("c", "USD")]
        );
        let b_usd = &by_parts[2];
        assert_eq!(b_usd.usage_amount, "3.75".parse::<Decimal>().unwrap());
        assert_eq!(b_usd.refund_amount, "-0.5".parse::<Decimal>().unwrap());
        assert_eq!(b_usd.total, "3.25".parse::<Decimal>().unwrap());
        assert_eq!(by_parts[3].refund_amount, Decimal::from(7));
    }
}
