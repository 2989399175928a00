//! `reckon generate`: a realistic synthetic month for tests and benchmarks.
//!
//! Deterministic for a seed (ChaCha8), written as Parquet part files of a
//! bounded number of rows, so memory does not grow with the event count.
//! Accounts use one to three products; a few heavy accounts carry much of the
//! traffic; packages are free, campaign and prepaid, some bought or expiring
//! mid-month, a few refunded; some accounts are suspended for a while, some
//! have postpaid off, some bill in concurrent / QPS mode with subscriptions.

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::catalog::{Catalog, Measure};
use crate::error::{Error, Result};
use crate::model::Micros;
use crate::period::{Period, DAY, HOUR};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub accounts: usize,
    pub events: u64,
    pub seed: u64,
    pub period: Period,
    pub out: PathBuf,
    /// Rows per usage part file.
    pub part_rows: usize,
    /// Also write `statement.csv` (a vendor statement agreeing with reckon's
    /// invoice except for this many injected discrepancies of each class) and
    /// `labels.csv` (their true classes). `None`: no statement.
    pub statement_faults: Option<usize>,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenSummary {
    pub out: PathBuf,
    pub accounts: usize,
    pub events: u64,
    pub parts: usize,
    pub packages: usize,
    pub subscriptions: usize,
    /// Discrepancies injected into `statement.csv`, when one was written.
    pub labels: Option<usize>,
}

/// One account's make-up.
struct Acct {
    id: String,
    items: Vec<usize>,
}

/// A usage item the generator draws from.
struct GenItem {
    id: String,
    product: String,
    measure: Measure,
    preview: bool,
}

fn gen_items(cat: &Catalog) -> Vec<GenItem> {
    let mut v = Vec::new();
    for p in &cat.products {
        for i in &p.items {
            v.push(GenItem {
                id: i.id.clone(),
                product: p.id.clone(),
                measure: i.measure,
                preview: i.free_when_preview,
            });
        }
    }
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let f = fs::File::create(path).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    ParquetWriter::new(f).finish(df)?;
    Ok(())
}

fn utc_time(v: Vec<Option<Micros>>, name: &str) -> Result<Column> {
    Ok(Column::new(name.into(), v).cast(&DataType::Datetime(
        TimeUnit::Microseconds,
        Some(TimeZone::UTC),
    ))?)
}

/// Write a synthetic month into `opts.out` (`usage/part-*.parquet`,
/// `packages.parquet`, `accounts.parquet`, `subscriptions.parquet`).
pub fn generate(cat: &Catalog, opts: &GenOptions) -> Result<GenSummary> {
    if opts.accounts == 0 {
        return Err(Error::Config("--accounts must be at least 1".into()));
    }
    let items = gen_items(cat);
    if items.is_empty() {
        return Err(Error::Config("the catalog has no items".into()));
    }
    let usage_dir = opts.out.join("usage");
    if usage_dir.exists() {
        fs::remove_dir_all(&usage_dir)?;
    }
    fs::create_dir_all(&usage_dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (start, end) = (opts.period.start(), opts.period.end());

    // Accounts and their items: one to three products, all items of each
    // product equally likely (material quota rarely).
    let mut products: Vec<String> = items.iter().map(|i| i.product.clone()).collect();
    products.dedup();
    let accts: Vec<Acct> = (0..opts.accounts)
        .map(|i| {
            let n = rng.random_range(1..=3usize.min(products.len()));
            let mut chosen: Vec<&String> = Vec::new();
            while chosen.len() < n {
                let p = &products[rng.random_range(0..products.len())];
                if !chosen.contains(&p) {
                    chosen.push(p);
                }
            }
            let its = items
                .iter()
                .enumerate()
                .filter(|(_, it)| chosen.contains(&&it.product))
                .map(|(k, _)| k)
                .collect();
            Acct {
                id: format!("acct-{i:06}"),
                items: its,
            }
        })
        .collect();

    // Packages, accounts settings, subscriptions.
    let mut pk: [Vec<Option<String>>; 5] = Default::default();
    let mut pk_num: [Vec<Option<i64>>; 3] = Default::default();
    let mut pk_time: [Vec<Option<Micros>>; 3] = Default::default();
    let mut ac_s: [Vec<Option<String>>; 3] = Default::default();
    let mut ac_b: Vec<Option<bool>> = Vec::new();
    let mut ac_t: [Vec<Option<Micros>>; 2] = Default::default();
    let mut sb_s: [Vec<Option<String>>; 4] = Default::default();
    let mut sb_n: Vec<Option<i64>> = Vec::new();
    let mut sb_t: [Vec<Option<Micros>>; 2] = Default::default();
    let year = 365 * DAY;
    for a in &accts {
        let mut seen_products: Vec<&str> = Vec::new();
        for &k in &a.items {
            let it = &items[k];
            let spec = cat
                .item(&it.id)
                .map(|(_, i)| i.packages.clone())
                .unwrap_or_default();
            for s in &spec {
                let roll: f64 = rng.random();
                let (p_take, pid_kind) = match s.kind.as_str() {
                    "free" => (0.5, "free"),
                    "campaign" => (0.05, "campaign"),
                    _ => (0.08, "prepaid"),
                };
                if roll >= p_take {
                    continue;
                }
                let size = s
                    .size
                    .and_then(|d| i64::try_from(d.mantissa() / 10i128.pow(d.scale())).ok())
                    .unwrap_or(600);
                let size = size.min(100_000);
                // Bought before the month (partly used), or during it.
                let (eff, remaining) = if rng.random_bool(0.3) {
                    (start + rng.random_range(0..(end - start)), size)
                } else {
                    (
                        start - rng.random_range(DAY..year - DAY),
                        rng.random_range(0..=size),
                    )
                };
                let exp = if rng.random_bool(0.1) {
                    start + rng.random_range(HOUR..(end - start)) // expires mid-month
                } else {
                    eff + year
                };
                let refund = (pid_kind == "prepaid" && eff >= start && rng.random_bool(0.1))
                    .then(|| eff + rng.random_range(HOUR..10 * DAY));
                let price = if pid_kind == "prepaid" { s.price } else { None };
                pk[0].push(Some(format!("pkg-{}-{}-{}", a.id, it.id, pk[0].len())));
                pk[1].push(Some(a.id.clone()));
                pk[2].push(Some(it.id.clone()));
                pk[3].push(Some(pid_kind.to_string()));
                pk[4].push(price.map(|p| p.to_string()));
                pk_num[0].push(Some(size));
                pk_num[1].push(Some(remaining));
                pk_num[2].push(None);
                pk_time[0].push(Some(eff));
                pk_time[1].push(Some(exp.max(eff + HOUR)));
                pk_time[2].push(refund);
            }
            if !seen_products.contains(&it.product.as_str()) {
                seen_products.push(&it.product);
                let mode = match it.product.as_str() {
                    "tencent.image_animate" if rng.random_bool(0.05) => "concurrent",
                    "tencent.face_fusion" if rng.random_bool(0.05) => "qps",
                    _ => "usage",
                };
                let suspended = rng.random_bool(0.01).then(|| {
                    let f = start + rng.random_range(0..(end - start - DAY));
                    (f, f + rng.random_range(HOUR..3 * DAY))
                });
                ac_s[0].push(Some(a.id.clone()));
                ac_s[1].push(Some(it.product.clone()));
                ac_s[2].push(Some(mode.to_string()));
                ac_b.push(Some(rng.random_bool(0.85)));
                ac_t[0].push(suspended.map(|s| s.0));
                ac_t[1].push(suspended.map(|s| s.1));
                let sub = match mode {
                    "concurrent" => Some((
                        "tencent.image_animate.concurrency",
                        "month",
                        rng.random_range(1..5),
                    )),
                    "qps" => Some((
                        "tencent.face_fusion.image_basic.qps",
                        if rng.random_bool(0.5) { "day" } else { "month" },
                        rng.random_range(5..120),
                    )),
                    _ => None,
                };
                if let Some((item, term, q)) = sub {
                    sb_s[0].push(Some(format!("sub-{}-{}", a.id, sb_s[0].len())));
                    sb_s[1].push(Some(a.id.clone()));
                    sb_s[2].push(Some(item.to_string()));
                    sb_s[3].push(Some(term.to_string()));
                    sb_n.push(Some(q));
                    sb_t[0].push(Some(start - 3 * DAY));
                    sb_t[1].push(Some(end + 30 * DAY));
                }
            }
        }
    }
    let n_packages = pk[0].len();
    let mut packages = DataFrame::new(
        n_packages,
        vec![
            Column::new("package_id".into(), &pk[0]),
            Column::new("account_id".into(), &pk[1]),
            Column::new("item".into(), &pk[2]),
            Column::new("kind".into(), &pk[3]),
            Column::new("size".into(), &pk_num[0]),
            Column::new("remaining".into(), &pk_num[1]),
            utc_time(pk_time[0].clone(), "effective_at")?,
            utc_time(pk_time[1].clone(), "expires_at")?,
            Column::new("price".into(), &pk[4]).cast(&DataType::Decimal(38, 2))?,
            Column::new("currency".into(), vec![None::<String>; n_packages]),
            utc_time(pk_time[2].clone(), "refunded_at")?,
        ],
    )?;
    write_parquet(&mut packages, &opts.out.join("packages.parquet"))?;
    let mut accounts = DataFrame::new(
        ac_b.len(),
        vec![
            Column::new("account_id".into(), &ac_s[0]),
            Column::new("product".into(), &ac_s[1]),
            Column::new("postpaid_enabled".into(), &ac_b),
            Column::new("billing_mode".into(), &ac_s[2]),
            utc_time(ac_t[0].clone(), "suspended_from")?,
            utc_time(ac_t[1].clone(), "suspended_until")?,
        ],
    )?;
    write_parquet(&mut accounts, &opts.out.join("accounts.parquet"))?;
    let n_subs = sb_n.len();
    let mut subs = DataFrame::new(
        n_subs,
        vec![
            Column::new("subscription_id".into(), &sb_s[0]),
            Column::new("account_id".into(), &sb_s[1]),
            Column::new("item".into(), &sb_s[2]),
            Column::new("quantity".into(), &sb_n),
            Column::new("term".into(), &sb_s[3]),
            utc_time(sb_t[0].clone(), "starts_at")?,
            utc_time(sb_t[1].clone(), "ends_at")?,
        ],
    )?;
    write_parquet(&mut subs, &opts.out.join("subscriptions.parquet"))?;

    // Usage, part by part on rayon; each part draws from its own ChaCha
    // stream, so the files are the same whatever the thread count.
    let part_rows = opts.part_rows.max(1) as u64;
    let parts = opts.events.div_ceil(part_rows) as usize;
    let weights: Vec<Vec<(usize, f64)>> = accts.iter().map(|a| item_weights(a, &items)).collect();
    let gen = PartGen {
        opts,
        items: &items,
        accts: &accts,
        weights: &weights,
        dir: &usage_dir,
    };
    (0..parts)
        .into_par_iter()
        .map(|part| {
            let first = part as u64 * part_rows;
            let n = (opts.events - first).min(part_rows) as usize;
            gen.part(part, first, n)
        })
        .collect::<Result<Vec<()>>>()?;
    let labels = match opts.statement_faults {
        Some(n) => Some(write_statement(cat, opts, n)?),
        None => None,
    };
    Ok(GenSummary {
        out: opts.out.clone(),
        accounts: opts.accounts,
        events: opts.events,
        parts,
        packages: n_packages,
        subscriptions: n_subs,
        labels,
    })
}

/// Share of API calls per product. Image calls are many and cheap; IMS video
/// production jobs are few (and bill hourly, so each one is nearly always its
/// own invoice line). Products not named here weigh like image APIs.
fn product_weight(product: &str) -> f64 {
    match product {
        "alibaba.ims" => 1.0,
        "tencent.video_understanding" => 20.0,
        "tencent.image_animate" => 15.0,
        _ => 32.0,
    }
}

/// An account's items with cumulative call weights: its products by
/// [`product_weight`], split evenly over each product's items.
fn item_weights(a: &Acct, items: &[GenItem]) -> Vec<(usize, f64)> {
    let mut out = Vec::with_capacity(a.items.len());
    let mut acc = 0.0;
    for &k in &a.items {
        let p = &items[k].product;
        let siblings = a.items.iter().filter(|&&j| &items[j].product == p).count();
        acc += product_weight(p) / siblings as f64;
        out.push((k, acc));
    }
    out
}

struct PartGen<'a> {
    opts: &'a GenOptions,
    items: &'a [GenItem],
    accts: &'a [Acct],
    weights: &'a [Vec<(usize, f64)>],
    dir: &'a Path,
}

impl PartGen<'_> {
    /// One usage part file: `n` events from global index `first`. A few heavy
    /// accounts (skewed pick), 2% failed calls, 0.05% repeated event ids.
    fn part(&self, part: usize, first: u64, n: usize) -> Result<()> {
        let opts = self.opts;
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(part as u64 + 1);
        let (start, end) = (opts.period.start(), opts.period.end());
        let mut ev_id = Vec::with_capacity(n);
        let mut acc = Vec::with_capacity(n);
        let mut item = Vec::with_capacity(n);
        let mut t = Vec::with_capacity(n);
        let mut status = Vec::with_capacity(n);
        let mut qty: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut ins: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut outs: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut preview: Vec<Option<bool>> = Vec::with_capacity(n);
        let mut res: Vec<Option<&str>> = Vec::with_capacity(n);
        for r in 0..n {
            let idx = first + r as u64;
            let dup = r > 0 && rng.random_bool(0.0005);
            ev_id.push(if dup {
                format!("e{:x}-{:011}", opts.seed, idx - 1)
            } else {
                format!("e{:x}-{:011}", opts.seed, idx)
            });
            let u: f64 = rng.random();
            let ai = ((u * u * u) * opts.accounts as f64) as usize % opts.accounts;
            let a = &self.accts[ai];
            let w = &self.weights[ai];
            let pick = rng.random::<f64>() * w.last().map_or(0.0, |x| x.1);
            let k = w.iter().find(|x| pick < x.1).unwrap_or(&w[w.len() - 1]).0;
            let it = &self.items[k];
            acc.push(a.id.clone());
            item.push(it.id.clone());
            t.push(start + rng.random_range(0..(end - start)));
            status.push(if rng.random_bool(0.02) {
                "failed"
            } else {
                "success"
            });
            let (q, i, o, pv, rs) = match it.measure {
                Measure::Count => (Some(1), None, None, None, None),
                Measure::Tokens => (Some(rng.random_range(50..6000)), None, None, None, None),
                Measure::Quantity => (Some(rng.random_range(1..1800)), None, None, None, None),
                Measure::InputPlusOutputSeconds => (
                    None,
                    Some(rng.random_range(5..900)),
                    Some(rng.random_range(5..180)),
                    None,
                    None,
                ),
                Measure::InputSeconds => (None, Some(rng.random_range(5..1800)), None, None, None),
                Measure::OutputSeconds => {
                    let pv = it.preview && rng.random_bool(0.3);
                    (
                        None,
                        None,
                        Some(rng.random_range(5..300)),
                        Some(pv),
                        Some("1080p"),
                    )
                }
            };
            qty.push(q);
            ins.push(i);
            outs.push(o);
            preview.push(pv);
            res.push(rs);
        }
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("event_id".into(), ev_id),
                Column::new("account_id".into(), acc),
                Column::new("item".into(), item),
                utc_time(t.into_iter().map(Some).collect(), "event_time")?,
                Column::new("status".into(), status),
                Column::new("quantity".into(), qty),
                Column::new("input_seconds".into(), ins),
                Column::new("output_seconds".into(), outs),
                Column::new("preview_only".into(), preview),
                Column::new("region".into(), vec![None::<&str>; n]),
                Column::new("resolution".into(), res),
            ],
        )?;
        write_parquet(&mut df, &self.dir.join(format!("part-{part:05}.parquet")))
    }
}

/// Close the generated month in memory, then write a statement that agrees
/// with it except for `per_class` injected discrepancies of every class.
fn write_statement(cat: &Catalog, opts: &GenOptions, per_class: usize) -> Result<usize> {
    let ing = crate::ingest::ingest(
        &opts.out,
        cat,
        &crate::ingest::IngestOptions {
            period_start: opts.period.start(),
            period_end: opts.period.end(),
            assume_offset: None,
        },
    )?;
    let month = crate::run::compute(
        cat,
        &opts.period,
        &crate::policy::Policy::default(),
        &ing,
        ing.packages.clone(),
        &mut crate::run::Timings::default(),
    )?;
    let mut st = crate::faults::clean_statement(&month.lines, &opts.period.label());
    let labels = crate::faults::inject(&mut st, &month.exceptions, per_class, opts.seed);
    crate::faults::write_canonical(&opts.out.join("statement.csv"), &st)?;
    crate::faults::write_labels(&opts.out.join("labels.csv"), &labels)?;
    Ok(labels.len())
}
