//! The command line: `reckon run`, `reckon catalog check|show`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::catalog::Catalog;
use crate::policy::{Config, Policy};
use crate::run::{self, RunOptions, Summary};

#[derive(Debug, Parser)]
#[command(
    name = "reckon",
    version,
    about = "Close the month on cloud AI API spend: rate usage, deduct packages, write invoices"
)]
pub struct Cli {
    /// More log output (stage timings); RUST_LOG overrides.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Print one summary line and no progress.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rate a month of usage, deduct packages, write invoices, ledger and exceptions.
    Run {
        /// The billing month, YYYY-MM (in the catalog's billing time zone).
        #[arg(long)]
        period: String,
        /// Directory with usage, packages, accounts, subscriptions (Parquet or CSV).
        #[arg(long)]
        input: PathBuf,
        /// Output directory for this period (replaced whole when the run succeeds).
        #[arg(long)]
        out: PathBuf,
        /// Price catalog directory.
        #[arg(long, default_value = "data/catalog", env = "RECKON_CATALOG")]
        catalog: PathBuf,
        /// TOML config (`[deduction]` policy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Zone for naive timestamps (e.g. +08:00); without it they are rejected.
        #[arg(long)]
        assume_tz: Option<String>,
        /// Close one slice of the accounts, K of N (0-based): usage is
        /// validated and de-duplicated whole, then only accounts whose hash
        /// falls in slice K are closed. The N slices' totals add up to the
        /// whole month's.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        #[command(flatten)]
        recon: ReconArgs,
    },
    /// Reconcile a finished run's invoice against a vendor statement.
    Diff {
        /// A finished run's output directory (invoice_lines.csv, exceptions.csv, manifest.json).
        #[arg(long)]
        invoice: PathBuf,
        /// Where to write discrepancies and report.html (replaced whole).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "data/catalog", env = "RECKON_CATALOG")]
        catalog: PathBuf,
        /// TOML config (`[tolerance]`).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        recon: ReconArgs,
    },
    /// Write a synthetic month (Parquet part files) for tests and benchmarks.
    Generate {
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "2026-10")]
        period: String,
        #[arg(long)]
        out: PathBuf,
        /// Rows per usage part file.
        #[arg(long, default_value_t = 2_000_000)]
        part_rows: usize,
        /// Also write statement.csv with N discrepancies of every class injected (and labels.csv).
        #[arg(long)]
        statement_faults: Option<usize>,
        #[arg(long, default_value = "data/catalog", env = "RECKON_CATALOG")]
        catalog: PathBuf,
    },
    /// Inspect the price catalog.
    Catalog {
        #[command(subcommand)]
        action: CatalogAction,
        /// Price catalog directory.
        #[arg(
            long,
            default_value = "data/catalog",
            env = "RECKON_CATALOG",
            global = true
        )]
        catalog: PathBuf,
    },
}

/// Reconciliation options shared by `run` and `diff`.
#[derive(Debug, clap::Args)]
pub struct ReconArgs {
    /// The vendor's statement (Tencent bill details, Alibaba billing details,
    /// FOCUS or canonical; CSV or Parquet; a file or a directory).
    #[arg(long)]
    statement: Option<PathBuf>,
    /// Header and SKU maps for statements.
    #[arg(long, default_value = "data/statements")]
    statement_map: PathBuf,
    /// Exit 3 when discrepancies outside tolerance: none, any, or amount:N (total |delta| per currency).
    #[arg(long, default_value = "any")]
    fail_on: crate::reconcile::FailOn,
}

#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// Validate the catalog: tiers, currencies, package prices, time zones.
    Check,
    /// Print one item or subscription item with its prices and their sources.
    Show { item: String },
}

/// Run the command line; the returned code is the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let level = if cli.verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reckon: error: {e:#}");
            2
        }
    }
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Run {
            period,
            input,
            out,
            catalog,
            config,
            assume_tz,
            shard,
            recon,
        } => {
            let cfg = match config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let policy = cfg.deduction.clone().unwrap_or_else(Policy::default);
            let assume_offset = assume_tz
                .as_deref()
                .map(crate::catalog::parse_offset)
                .transpose()?;
            let summary = run::run(&RunOptions {
                period: period.clone(),
                input: input.clone(),
                out: out.clone(),
                catalog: catalog.clone(),
                policy,
                assume_offset,
                statement: recon.statement.clone(),
                statement_map: recon.statement_map.clone(),
                tolerance: cfg.tolerance.clone().unwrap_or_default(),
                progress: !cli.quiet,
                shard: shard
                    .as_deref()
                    .map(crate::ingest::Shard::parse)
                    .transpose()?,
            });
            let summary = summary?;
            print_summary(&summary, cli.quiet);
            Ok(match &summary.recon {
                Some(r) => {
                    print_recon(r, &summary.out, cli.quiet);
                    if recon.fail_on.fails(&r.discrepancies) {
                        3
                    } else {
                        0
                    }
                }
                None => 0,
            })
        }
        Command::Diff {
            invoice,
            out,
            catalog,
            config,
            recon,
        } => {
            let cfg = match config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let Some(statement) = &recon.statement else {
                anyhow::bail!("reckon diff needs --statement PATH");
            };
            let cat = run::load_catalog(catalog)?;
            let r = crate::recon_run::diff(
                invoice,
                out,
                &cat,
                statement,
                &recon.statement_map,
                &cfg.tolerance.clone().unwrap_or_default(),
            )?;
            print_recon(&r, out, cli.quiet);
            Ok(if recon.fail_on.fails(&r.discrepancies) {
                3
            } else {
                0
            })
        }
        Command::Generate {
            accounts,
            events,
            seed,
            period,
            out,
            part_rows,
            statement_faults,
            catalog,
        } => {
            let cat = run::load_catalog(catalog)?;
            let period = crate::period::Period::parse(period, run::catalog_offset(&cat)?)?;
            let s = crate::generate::generate(
                &cat,
                &crate::generate::GenOptions {
                    accounts: *accounts,
                    events: *events,
                    seed: *seed,
                    period,
                    out: out.clone(),
                    part_rows: *part_rows,
                    statement_faults: *statement_faults,
                },
            )?;
            println!(
                "generated {} events for {} accounts in {} part(s), {} packages, {} subscriptions -> {}",
                s.events,
                s.accounts,
                s.parts,
                s.packages,
                s.subscriptions,
                s.out.display()
            );
            if let Some(n) = s.labels {
                println!("statement.csv written with {n} injected discrepancies (true classes in labels.csv)");
            }
            Ok(0)
        }
        Command::Catalog { action, catalog } => {
            let cat = Catalog::load(catalog)?;
            match action {
                CatalogAction::Check => {
                    let problems = crate::catalog_load::check(&cat);
                    if problems.is_empty() {
                        let items = cat.item_ids().len();
                        let subs = cat.subscription_ids().len();
                        println!(
                            "catalog {} ok: {} products, {items} items, {subs} subscription items (version {})",
                            catalog.display(),
                            cat.products.len(),
                            &cat.version[..12.min(cat.version.len())]
                        );
                        Ok(0)
                    } else {
                        for p in &problems {
                            println!("{p}");
                        }
                        eprintln!(
                            "reckon: catalog {} has {} problem(s)",
                            catalog.display(),
                            problems.len()
                        );
                        Ok(2)
                    }
                }
                CatalogAction::Show { item } => match crate::catalog_load::show(&cat, item) {
                    Some(text) => {
                        println!("{text}");
                        Ok(0)
                    }
                    None => {
                        eprintln!(
                            "reckon: error: no item {item:?} in catalog {} (known: {})",
                            catalog.display(),
                            cat.item_ids()
                                .into_iter()
                                .chain(cat.subscription_ids())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        Ok(2)
                    }
                },
            }
        }
    }
}

fn print_summary(s: &Summary, quiet: bool) {
    let totals: Vec<String> = s
        .totals
        .iter()
        .map(|(c, t)| format!("{} {c}", m2(*t)))
        .collect();
    let exc: u64 = s.exceptions.values().sum();
    let usage = s.stats.iter().find(|t| t.table == "usage");
    let counts = usage
        .map(|u| {
            format!(
                "usage rows read {} = accepted {} + rejected {} + duplicates {}",
                u.read, u.accepted, u.rejected, u.duplicates
            )
        })
        .unwrap_or_default();
    if quiet {
        println!(
            "reckon {}: {} invoices, total {}, {exc} exceptions, {counts}; outputs in {}",
            s.period,
            s.invoices.len(),
            totals.join(" + "),
            s.out.display()
        );
        return;
    }
    println!("reckon closed {} -> {}", s.period, s.out.display());
    println!("{counts}");
    println!();
    // One invoice per line: 155,000 at 100M events, written through one
    // buffer (standard output flushes at every line end on its own).
    {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut table = || -> std::io::Result<()> {
            writeln!(
                out,
                "{:<16} {:>4} {:>14} {:>14} {:>14} {:>14} {:>14}",
                "account", "cur", "usage", "purchases", "subscriptions", "refunds", "total"
            )?;
            for i in &s.invoices {
                writeln!(
                    out,
                    "{:<16} {:>4} {:>14} {:>14} {:>14} {:>14} {:>14}",
                    i.account_id,
                    i.currency,
                    m2(i.usage_amount),
                    m2(i.purchase_amount),
                    m2(i.subscription_amount),
                    m2(i.refund_amount),
                    m2(i.total)
                )?;
            }
            writeln!(out)?;
            out.flush()
        };
        if let Err(e) = table() {
            eprintln!("reckon: cannot print the invoices: {e}");
        }
    }
    println!("totals: {}", totals.join(", "));
    let by_reason: Vec<String> = s
        .exceptions
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    println!("exceptions: {exc} ({})", by_reason.join(", "));
    println!(
        "outputs: invoice_lines, invoices, package_ledger, exceptions, rejects, duplicates, focus (.parquet and .csv), manifest.json in {}",
        s.out.display()
    );
}

fn print_recon(r: &crate::recon_run::ReconSummary, out: &std::path::Path, quiet: bool) {
    let outside: Vec<_> = r
        .discrepancies
        .iter()
        .filter(|d| !d.within_tolerance)
        .collect();
    let mut delta: std::collections::BTreeMap<&str, rust_decimal::Decimal> = Default::default();
    for d in &outside {
        *delta.entry(d.currency.as_str()).or_default() += d.delta_amount;
    }
    let delta: Vec<String> = delta
        .iter()
        .map(|(c, d)| format!("{} {c}", m2(*d)))
        .collect();
    let classes: Vec<String> = r
        .classes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    if quiet {
        println!(
            "reconciliation: {} discrepancies ({}), net delta {}, {} within tolerance, {} statement problems; report {}",
            outside.len(),
            classes.join(", "),
            if delta.is_empty() { "0".to_string() } else { delta.join(", ") },
            r.discrepancies.len() - outside.len(),
            r.problems,
            out.join("report.html").display()
        );
        return;
    }
    println!();
    let totals = |m: &std::collections::BTreeMap<String, rust_decimal::Decimal>| {
        m.iter()
            .map(|(c, v)| format!("{} {c}", m2(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "statement: reckon {} | vendor {}",
        totals(&r.ours),
        totals(&r.theirs)
    );
    println!(
        "discrepancies: {} outside tolerance ({}), {} within tolerance, {} statement problems",
        outside.len(),
        if classes.is_empty() {
            "none".to_string()
        } else {
            classes.join(", ")
        },
        r.discrepancies.len() - outside.len(),
        r.problems
    );
    for note in &r.notes {
        println!("note: {note}");
    }
    println!("report: {}", out.join("report.html").display());
}

/// Money with two decimals, as on an invoice.
fn m2(d: rust_decimal::Decimal) -> String {
    format!("{d:.2}")
}
