"""The bare baseline for `make bench`: DuckDB doing the event-level work on the
usage Parquet -- one row per event_id, successful rows only, grouped by
account, item and billing day (UTC+08:00) -- written to Parquet so the result
is materialised. Usage: duckdb_baseline.py USAGE_DIR OUT_PARQUET"""
import sys

import duckdb

usage, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(
    f"""
    COPY (
        SELECT account_id, item,
               CAST(event_time + INTERVAL 8 HOUR AS DATE) AS day,
               count(*) AS events,
               sum(coalesce(quantity, 1)) AS quantity
        FROM (
            SELECT * FROM read_parquet('{usage}/*.parquet')
            QUALIFY row_number() OVER (PARTITION BY event_id) = 1
        )
        WHERE status = 'success'
        GROUP BY ALL
    ) TO '{out}' (FORMAT parquet)
    """
)
print(con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0])
