//! The deduction policy: which packages are drawn first. The default is the
//! vendors' order (free > campaign > prepaid, expiring first); a run may load
//! another from a TOML config file.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{Package, PackageKind};

/// Tie-breakers within one kind, applied in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieBreak {
    /// Expiring first, so no quota expires unused while another is consumed.
    ExpiresAt,
    /// Earliest effective (purchase / activation) time first.
    EffectiveAt,
    /// Smallest remaining balance first.
    Remaining,
    PackageId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Kinds in the order they are drawn: a subset of `free`, `campaign`, `prepaid`
    /// (a kind left out is never drawn).
    pub kind_order: Vec<String>,
    /// Tie-breakers within a kind; `package_id` is always appended last so the
    /// order is total.
    pub tie_break: Vec<TieBreak>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            kind_order: vec!["free".into(), "campaign".into(), "prepaid".into()],
            tie_break: vec![
                TieBreak::ExpiresAt,
                TieBreak::EffectiveAt,
                TieBreak::PackageId,
            ],
        }
    }
}

/// The config file (`--config`): the `[deduction]` policy and the
/// reconciliation `[tolerance]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub deduction: Option<Policy>,
    #[serde(default)]
    pub tolerance: Option<crate::reconcile::Tolerance>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let cfg: Config =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if let Some(p) = &cfg.deduction {
            p.validate()?;
        }
        Ok(cfg)
    }
}

impl Policy {
    pub fn validate(&self) -> Result<()> {
        for k in &self.kind_order {
            if PackageKind::parse(k).is_none() {
                return Err(Error::Config(format!(
                    "deduction.kind_order: unknown kind {k:?} (free, campaign, prepaid)"
                )));
            }
        }
        let mut seen = self.kind_order.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.kind_order.len() {
            return Err(Error::Config(
                "deduction.kind_order names a kind twice".into(),
            ));
        }
        Ok(())
    }

    /// Rank of a kind, `None` when the policy never draws it.
    pub fn kind_rank(&self, kind: PackageKind) -> Option<usize> {
        self.kind_order.iter().position(|k| k == kind.as_str())
    }

    /// Total order in which packages are drawn (both must be drawable).
    pub fn compare(
        &self,
        a: &Package,
        b: &Package,
        remaining: (&rust_decimal::Decimal, &rust_decimal::Decimal),
    ) -> Ordering {
        let rank = |p: &Package| self.kind_rank(p.kind).unwrap_or(usize::MAX);
        rank(a).cmp(&rank(b)).then_with(|| {
            for t in &self.tie_break {
                let o = match t {
                    TieBreak::ExpiresAt => a.expires_at.cmp(&b.expires_at),
                    TieBreak::EffectiveAt => a.effective_at.cmp(&b.effective_at),
                    TieBreak::Remaining => remaining.0.cmp(remaining.1),
                    TieBreak::PackageId => a.package_id.cmp(&b.package_id),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.package_id.cmp(&b.package_id)
        })
    }
}
