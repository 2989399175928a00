#!/usr/bin/env bash
# Install the FinOps Foundation's FOCUS validator (PyPI `focus-validator`) into
# .venv-focus (once) and print the path of `reckon-focus-validate`, a wrapper
# that validates one FOCUS file (CSV or Parquet) against FOCUS 1.0 and exits
# non-zero when it fails:
#
#   validator=$(ci/focus-validator.sh)
#   "$validator" out/2026-10/focus.csv
#   RECKON_FOCUS_VALIDATOR="$validator" cargo test --test focus
#
# Why a wrapper around `focus-validator`:
# * it always exits 0, printing "Validation failed!" or "Validation succeeded.";
# * it reads its ISO 4217 currency list from a path relative to the working
#   directory (focus_validator/utils/currency_codes.csv), so it must run from
#   its site-packages directory or every currency check fails;
# * its FOCUS "1.0" rule set still names five columns as in 1.0-preview
#   (Provider, Publisher, InvoiceIssuer, ResourceID, and ChargeType inside the
#   SkuPriceId rule). FOCUS 1.0 renamed them ProviderName, PublisherName,
#   InvoiceIssuerName, ResourceId and ChargeCategory, and reckon writes the 1.0
#   names; those five stale checks are skipped with the validator's own
#   --override-file. Every other check of the set runs. (tests/focus.rs checks
#   the renamed columns itself.)
#
# The versions are pinned: focus-validator 1.0.0 is the only release on PyPI,
# and it breaks with multimethod >= 2 (pandera 0.17 imports
# multimethod.overload), so its dependencies are pinned to a set verified with
# Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.venv-focus"
PINS=(
  focus-validator==1.0.0
  multimethod==1.10
  pandera==0.17.2
  pandas==2.3.3
  numpy==1.26.4
  pyarrow==18.1.0
  pandasql==0.7.3
  sqlglot==18.17.0
  SQLAlchemy==2.1.9
  pydantic==2.14.3
  pydantic_core==2.50.4
  pytz==2023.4
  PyYAML==6.0.3
  requests==2.34.2
  tabulate==0.10.0
  typeguard==4.6.0
  typing-inspect==0.9.0
  wrapt==2.5.2
)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("focus-validator") != "1.0.0" or m.version("multimethod") != "1.10" or m.version("pyarrow") != "18.1.0")' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" >&2
fi

cat > "$VENV/focus-1.0-overrides.yaml" <<'YAML'
# Checks of focus-validator 1.0.0's "1.0" rule set that use 1.0-preview column
# names (FOCUS 1.0: ProviderName, PublisherName, InvoiceIssuerName, ResourceId,
# ChargeCategory). Written by ci/focus-validator.sh.
overrides:
  - Provider_Required
  - Publisher_Required
  - InvoiceIssuer_Required
  - ResourceID_Required
  - SkuPriceId_Nullable
YAML

cat > "$VENV/bin/reckon-focus-validate" <<'SH'
#!/usr/bin/env bash
# Validate one FOCUS 1.0 file (CSV or Parquet) with focus-validator 1.0.0.
# Exit 0 only when it prints "Validation succeeded.". Made by ci/focus-validator.sh.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 FILE.csv|FILE.parquet" >&2
  exit 2
fi
file=$(realpath "$1")
bin=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=$(dirname "$bin")
site=$("$bin/python" -c 'import os, focus_validator; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')
cd "$site"
status=0
out=$("$bin/focus-validator" --validate-version 1.0 --override-file "$venv/focus-1.0-overrides.yaml" --data-file "$file" 2>&1) || status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ] || ! grep -qx 'Validation succeeded.' <<<"$out"; then
  echo "FOCUS 1.0 validation of $file failed" >&2
  exit 1
fi
SH
chmod +x "$VENV/bin/reckon-focus-validate"
echo "$VENV/bin/reckon-focus-validate"
