#!/usr/bin/env python3
"""Write reckon's bundled sample month, 2026-10, as CSV into this directory.

    python3 data/sample/make_sample.py        # rewrites usage.csv, packages.csv,
                                              # accounts.csv, subscriptions.csv

Deterministic: standard library only, one fixed seed, no clock; running it
twice gives byte-identical files. Columns follow shared/spec/data-contract.md.

Billing time zone UTC+08:00: October 2026 runs from 2026-09-30T16:00:00Z to
2026-10-31T16:00:00Z. Timestamps are written with an offset, a mix of the
`Z` and `+08:00` forms; decimals are plain decimal strings; empty = null.

Scenario accounts (the full story and the expected amounts: README.md here)

| account  | product                  | what it shows                                              |
|----------|--------------------------|------------------------------------------------------------|
| acct-001 | Image Animate            | guide example: 5 free left, 1,100 calls -> 4,161.00 USD     |
| acct-002 | Image Animate            | three 100-call packages bought mid-month (1,260.00)        |
| acct-003 | Image Animate            | postpaid NOT enabled, packages run out -> exceptions       |
| acct-004 | Image Animate            | unused package refunded 3 days after purchase (honoured)   |
| acct-005 | Image Animate            | refund requested 9 days after purchase (rejected)          |
| acct-006 | Image Animate            | concurrent billing mode, 2 concurrency x month             |
| acct-010 | Image Style Transfer     | guide example: 50 free left, 10,000 pictures -> 796.00 USD |
| acct-011 | Image Style Transfer     | concurrency add-on, day term (2 x 5 days)                  |
| acct-012 | Image Style Transfer     | refund after partial use (rejected)                        |
| acct-013 | Image Style Transfer     | free > campaign > prepaid order; concurrency month term    |
| acct-014 | Image Style Transfer     | prepaid package expires mid-month with balance left        |
| acct-015 | Image Style Transfer     | suspension window with usage inside it                     |
| acct-020 | Face Fusion image basic  | postpaid reaches the 10,000 volume tier (0.050)            |
| acct-021 | Face Fusion image basic  | prepaid package bought mid-month and used                  |
| acct-022 | Face Fusion              | QPS billing mode: month and day QPS subscriptions          |
| acct-023 | Face Fusion video single | period-edge events (09-30T16:30Z in, 10-31T23:30Z out)     |
| acct-024 | Face Fusion material     | material quota: free then a package bought mid-month       |
| acct-030 | Video Understanding      | 500-hour package (30,000 min) bought on Oct 3              |
| acct-031 | Video Understanding      | free package expiring Oct 20; 2 s = 0.01; audio tags beta  |
| acct-040 | IMS                      | guide example hour: 90 s + 23 s and 900 tokens -> 0.72 CNY |
| acct-041 | IMS                      | several tasks per hour across hours, every IMS feature     |
| acct-042 | IMS                      | script-to-video (no price -> no_price), preview-only free  |
| acct-050 .. acct-063 | mixed        | background accounts: ordinary packages + postpaid          |

Planted bad usage rows (each must be rejected or counted once, never billed):

| # | event_id        | account  | what is wrong                                         |
|---|-----------------|----------|-------------------------------------------------------|
| 1 | tc-dup-021      | acct-021 | duplicate event_id, the row repeated exactly          |
| 2 | ims-dup-041     | acct-041 | duplicate event_id, repeated with a later event_time  |
| 3 | tc-bad-item     | acct-052 | unknown item tencent.face_fusion.video_multi          |
| 4 | tc-bad-negqty   | acct-030 | negative quantity (-42 seconds of video)              |
| 5 | tc-bad-time     | acct-015 | impossible timestamp 2026-10-32T09:15:00+08:00        |
| 6 | tc-bad-naive    | acct-015 | timestamp without offset 2026-10-12T10:00:00          |
| 7 | tc-bad-status   | acct-021 | status "ok" (only success / failed are valid)         |
| 8 | tc-bad-noacct   | (empty)  | empty account_id                                      |
| 9 | tc-bad-qtytext  | acct-013 | quantity "twelve" (not a decimal)                     |
|10 | (empty)         | acct-011 | empty event_id                                        |

Not bad but outside the period: tc-edge-nov (acct-023, 2026-10-31T23:30:00Z,
which is November in UTC+08:00); tc-edge-oct1 (2026-09-30T16:30:00Z) is
inside October and billed.
"""

from __future__ import annotations

import csv
import os
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

SEED = 20261001
HERE = os.path.dirname(os.path.abspath(__file__))

CST = timezone(timedelta(hours=8))
UTC = timezone.utc
P_START = datetime(2026, 10, 1, tzinfo=CST)  # 2026-09-30T16:00:00Z
P_END = datetime(2026, 11, 1, tzinfo=CST)  # 2026-10-31T16:00:00Z

IA = "tencent.image_animate"
ST = "tencent.style_transfer"
FFI = "tencent.face_fusion.image_basic"
FFV = "tencent.face_fusion.video_single"
FFM = "tencent.face_fusion.image_basic.material"
VT = "tencent.video_tags"
AT = "tencent.audio_tags"
TG = "alibaba.ims.text_generation"
ITC = "alibaba.ims.image_text.common"
ITM = "alibaba.ims.image_text.movie_collection"
ITS = "alibaba.ims.image_text.sports_highlights"
ITH = "alibaba.ims.image_text.highlight_mashup"
HX = "alibaba.ims.highlight_extraction"
S2V = "alibaba.ims.script_to_video"

USAGE_COLS = [
    "event_id", "account_id", "item", "event_time", "status", "quantity",
    "input_seconds", "output_seconds", "preview_only", "region", "resolution",
]
PACKAGE_COLS = [
    "package_id", "account_id", "item", "kind", "size", "remaining",
    "effective_at", "expires_at", "price", "currency", "refunded_at",
]
ACCOUNT_COLS = [
    "account_id", "product", "postpaid_enabled", "billing_mode",
    "suspended_from", "suspended_until",
]
SUBSCRIPTION_COLS = [
    "subscription_id", "account_id", "item", "quantity", "term", "starts_at", "ends_at",
]

rng = random.Random(SEED)


# ---------------------------------------------------------------------------
# helpers


def local(s: str) -> datetime:
    """`2026-10-03 09:00:00` read as UTC+08:00 wall-clock time."""
    return datetime.fromisoformat(s).replace(tzinfo=CST)


def fmt(dt: datetime | None, form: str | None = None) -> str:
    """ISO 8601 with an offset: `Z` form or `+08:00` form (random when not given)."""
    if dt is None:
        return ""
    if form is None:
        form = "Z" if rng.random() < 0.5 else "+08"
    if form == "Z":
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.astimezone(CST).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def dec(x) -> str:
    """A plain decimal string (no exponent, no trailing zeros after the point)."""
    if x is None or x == "":
        return ""
    d = Decimal(str(x))
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def times(n: int, start: datetime, end: datetime) -> list[datetime]:
    """`n` random whole-second instants in [start, end), sorted."""
    span = int((end - start).total_seconds())
    return sorted(start + timedelta(seconds=rng.randrange(span)) for _ in range(n))


def year_after(dt: datetime) -> datetime:
    return dt.replace(year=dt.year + 1)


usage: list[dict] = []
packages: list[dict] = []
accounts: list[dict] = []
subscriptions: list[dict] = []


def use(account, item, t, status="success", quantity=None, input_seconds=None,
        output_seconds=None, preview_only=None, region=None, resolution=None,
        form=None, tag=None):
    row = {
        "event_id": None,  # numbered after sorting
        "account_id": account,
        "item": item,
        "_t": t,
        "event_time": fmt(t, form),
        "status": status,
        "quantity": dec(quantity),
        "input_seconds": dec(input_seconds),
        "output_seconds": dec(output_seconds),
        "preview_only": "" if preview_only is None else ("true" if preview_only else "false"),
        "region": region or "",
        "resolution": resolution or "",
        "_tag": tag,
    }
    usage.append(row)
    return row


def calls(account, item, n, start, end, failed=0):
    """`n` successful calls (quantity 1 each) and `failed` failed ones in [start, end)."""
    for t in times(n, start, end):
        use(account, item, t, quantity=1)
    for t in times(failed, start, end):
        use(account, item, t, status="failed", quantity=1)


def package(pid, account, item, kind, size, remaining, effective, expires=None,
            price=None, currency=None, refunded=None):
    packages.append({
        "package_id": pid,
        "account_id": account,
        "item": item,
        "kind": kind,
        "size": dec(size),
        "remaining": dec(remaining),
        "effective_at": fmt(effective),
        "expires_at": fmt(expires or year_after(effective)),
        "price": dec(price),
        "currency": currency or "",
        "refunded_at": fmt(refunded),
    })


def account(acct, product, postpaid=None, mode="usage", suspended=None):
    accounts.append({
        "account_id": acct,
        "product": product,
        "postpaid_enabled": "" if postpaid is None else ("true" if postpaid else "false"),
        "billing_mode": mode,
        "suspended_from": fmt(suspended[0]) if suspended else "",
        "suspended_until": fmt(suspended[1]) if suspended else "",
    })


def subscription(sid, acct, item, quantity, term, starts, ends):
    subscriptions.append({
        "subscription_id": sid,
        "account_id": acct,
        "item": item,
        "quantity": dec(quantity),
        "term": term,
        "starts_at": fmt(starts),
        "ends_at": fmt(ends),
    })


D = lambda s: local(s)  # noqa: E731  (short name for the scenario tables below)

# ---------------------------------------------------------------------------
# Tencent Cloud Image Animate (USD, monthly)

# acct-001: the guide's example. 5 free calls left, postpaid enabled,
# 1,100 calls -> (1,100 - 5) x 3.8 = 4,161.00 USD.
account("acct-001", "tencent.image_animate", postpaid=True)
package("pkg-001-free", "acct-001", IA, "free", 5, 5, D("2026-04-01 10:00:00"))
calls("acct-001", IA, 1100, P_START, P_END)

# acct-002: three 100-call packages bought together on Oct 12 (3 x 420 =
# 1,260.00); 3 calls before the purchase (2 from the free package, 1 postpaid
# at 4.80), 240 after (100 + 100 + 40 from the three packages), 3 failed.
account("acct-002", "tencent.image_animate", postpaid=True)
package("pkg-002-free", "acct-002", IA, "free", 5, 2, D("2026-02-14 09:30:00"))
for k in "abc":
    package(f"pkg-002-{k}", "acct-002", IA, "prepaid", 100, 100, D("2026-10-12 14:05:00"),
            price=420, currency="USD")
calls("acct-002", IA, 3, D("2026-10-03 00:00:00"), D("2026-10-12 14:00:00"))
calls("acct-002", IA, 240, D("2026-10-12 15:00:00"), P_END, failed=3)

# acct-003: postpaid NOT enabled. 3 free + 20 prepaid left, 30 calls: the
# last 7 are refused (postpaid_disabled exceptions), nothing billed.
account("acct-003", "tencent.image_animate", postpaid=False)
package("pkg-003-free", "acct-003", IA, "free", 5, 3, D("2026-05-20 11:00:00"))
package("pkg-003-p1", "acct-003", IA, "prepaid", 100, 20, D("2026-08-02 16:45:00"),
        price=420, currency="USD")
calls("acct-003", IA, 30, D("2026-10-02 00:00:00"), D("2026-10-29 00:00:00"), failed=2)

# acct-004: a 100-call package bought Oct 6 and refunded unused on Oct 9
# (3 days later): purchase 420.00, refund -420.00. 4 calls from the free package.
account("acct-004", "tencent.image_animate", postpaid=True)
package("pkg-004-free", "acct-004", IA, "free", 5, 5, D("2026-09-01 08:00:00"))
package("pkg-004-p1", "acct-004", IA, "prepaid", 100, 100, D("2026-10-06 10:00:00"),
        price=420, currency="USD", refunded=D("2026-10-09 10:00:00"))
calls("acct-004", IA, 4, D("2026-10-07 00:00:00"), D("2026-10-21 00:00:00"))

# acct-005: a 100-call package bought Oct 2, refund requested Oct 11 (the
# window closed at the end of Oct 9): rejected; the package stays and pays
# for 10 later calls. Purchase 420.00.
account("acct-005", "tencent.image_animate", postpaid=False)
package("pkg-005-p1", "acct-005", IA, "prepaid", 100, 100, D("2026-10-02 11:00:00"),
        price=420, currency="USD", refunded=D("2026-10-11 09:30:00"))
calls("acct-005", IA, 10, D("2026-10-13 00:00:00"), D("2026-10-26 00:00:00"))

# acct-006: concurrent billing mode: 2 concurrent tasks for the month,
# 2 x 7,200 = 14,400.00; the 60 calls are covered, not rated.
account("acct-006", "tencent.image_animate", postpaid=False, mode="concurrent")
subscription("sub-006-ia-conc", "acct-006", "tencent.image_animate.concurrency", 2, "month",
             D("2026-09-01 00:00:00"), D("2026-12-01 00:00:00"))
calls("acct-006", IA, 60, P_START, P_END)

# ---------------------------------------------------------------------------
# Tencent Cloud Image Style Transfer (USD, monthly)

# acct-010: the guide's example. 50 free left, postpaid enabled, 10,000
# pictures -> (10,000 - 50) x 0.08 = 796.00 USD (9,950 is under the 10,000 tier).
account("acct-010", "tencent.style_transfer", postpaid=True)
package("pkg-010-free", "acct-010", ST, "free", 50, 50, D("2026-07-15 13:20:00"))
calls("acct-010", ST, 10000, P_START, P_END)

# acct-011: concurrency add-on, 2 concurrency on a day term Oct 20-24
# (5 days x 2 x 200 = 2,000.00); 120 pictures from an old prepaid package.
account("acct-011", "tencent.style_transfer", postpaid=True)
package("pkg-011-p1", "acct-011", ST, "prepaid", 1000, 800, D("2026-03-03 10:10:00"),
        price=75, currency="USD")
subscription("sub-011-st-conc-day", "acct-011", "tencent.style_transfer.concurrency", 2, "day",
             D("2026-10-20 00:00:00"), D("2026-10-25 00:00:00"))
calls("acct-011", ST, 120, P_START, P_END)

# acct-012: 1,000-picture package bought Oct 14 (75.00), 30 pictures used
# before the refund request on Oct 16: rejected (partly used). 12 more later.
account("acct-012", "tencent.style_transfer", postpaid=False)
package("pkg-012-p1", "acct-012", ST, "prepaid", 1000, 1000, D("2026-10-14 09:00:00"),
        price=75, currency="USD", refunded=D("2026-10-16 09:00:00"))
calls("acct-012", ST, 30, D("2026-10-14 10:00:00"), D("2026-10-15 23:00:00"))
calls("acct-012", ST, 12, D("2026-10-20 00:00:00"), D("2026-10-31 00:00:00"))

# acct-013: free (10 left) > campaign (100) > prepaid (1,000, bought in
# September): 150 pictures -> 10 free, 100 campaign, 40 prepaid; nothing
# postpaid. 1 concurrency on a month term: 4,000.00.
account("acct-013", "tencent.style_transfer", postpaid=True)
package("pkg-013-free", "acct-013", ST, "free", 50, 10, D("2026-01-10 09:00:00"))
package("pkg-013-camp", "acct-013", ST, "campaign", 100, 100, D("2026-09-25 00:00:00"),
        expires=D("2027-01-01 00:00:00"))
package("pkg-013-p1", "acct-013", ST, "prepaid", 1000, 1000, D("2026-09-10 15:00:00"),
        price=75, currency="USD")
subscription("sub-013-st-conc-month", "acct-013", "tencent.style_transfer.concurrency", 1, "month",
             D("2026-10-01 00:00:00"), D("2026-11-01 00:00:00"))
calls("acct-013", ST, 150, P_START, P_END)

# acct-014: a prepaid package bought 2025-10-15 10:00 expires 2026-10-15
# 10:00 with 300 left; 80 pictures before (deducted), 220 expire, 60 after
# are postpaid: 60 x 0.08 = 4.80.
account("acct-014", "tencent.style_transfer", postpaid=True)
package("pkg-014-p1", "acct-014", ST, "prepaid", 1000, 300, D("2025-10-15 10:00:00"),
        expires=D("2026-10-15 10:00:00"), price=75, currency="USD")
calls("acct-014", ST, 80, P_START, D("2026-10-15 09:59:00"))
calls("acct-014", ST, 60, D("2026-10-15 10:00:00"), P_END)

# acct-015: suspended for arrears Oct 18 00:00 to Oct 20 00:00 (UTC+08:00).
# 20 free left: 10 pictures before (free), 25 inside the window (refused,
# account_suspended; the free package pauses), 90 after (10 free + 80
# postpaid): 80 x 0.08 = 6.40.
account("acct-015", "tencent.style_transfer", postpaid=True,
        suspended=(D("2026-10-18 00:00:00"), D("2026-10-20 00:00:00")))
package("pkg-015-free", "acct-015", ST, "free", 50, 20, D("2026-02-02 12:00:00"))
calls("acct-015", ST, 10, D("2026-10-02 00:00:00"), D("2026-10-17 00:00:00"))
calls("acct-015", ST, 25, D("2026-10-18 00:00:00"), D("2026-10-20 00:00:00"))
calls("acct-015", ST, 90, D("2026-10-20 00:00:00"), P_END)

# ---------------------------------------------------------------------------
# Tencent Cloud Face Fusion (USD, monthly, postpaid automatic)

# acct-020: 10 free left, 10,010 calls (and 12 failed): postpaid 10,000
# reaches the 10,000 tier: 10,000 x 0.050 = 500.00.
account("acct-020", "tencent.face_fusion", postpaid=True)
package("pkg-020-free", "acct-020", FFI, "free", 1000, 10, D("2025-11-20 10:00:00"))
calls("acct-020", FFI, 10010, P_START, P_END, failed=12)

# acct-021: 150 free left; 180 calls before a 1,000-call package bought Oct 10
# 16:20 (150 free + 30 postpaid at 0.065 = 1.95), 350 after (prepaid).
# Purchase 60.00; total 61.95.
account("acct-021", "tencent.face_fusion", postpaid=True)
package("pkg-021-free", "acct-021", FFI, "free", 1000, 150, D("2026-03-08 09:00:00"))
package("pkg-021-p1", "acct-021", FFI, "prepaid", 1000, 1000, D("2026-10-10 16:20:00"),
        price=60, currency="USD")
calls("acct-021", FFI, 180, P_START, D("2026-10-10 16:00:00"))
calls("acct-021", FFI, 350, D("2026-10-10 16:30:00"), P_END)

# acct-022: QPS billing mode. Image basic 5 QPS for the month (5 x 1,700 =
# 8,500.00) and video single 12 QPS for 3 days Oct 20-22 (12 x 3 x 160 =
# 5,760.00). 120 image basic calls are covered by the QPS subscription.
account("acct-022", "tencent.face_fusion", postpaid=True, mode="qps")
subscription("sub-022-ib-qps-month", "acct-022", "tencent.face_fusion.image_basic.qps", 5, "month",
             D("2026-10-01 00:00:00"), D("2026-11-01 00:00:00"))
subscription("sub-022-vs-qps-day", "acct-022", "tencent.face_fusion.video_single.qps", 12, "day",
             D("2026-10-20 00:00:00"), D("2026-10-23 00:00:00"))
calls("acct-022", FFI, 120, P_START, P_END)

# acct-023: video single face, 30 free left, 90 calls in October (including
# one at 2026-09-30T16:30:00Z = Oct 1 00:30 local, and one at
# 2026-10-31T15:59:59Z = the last second); 60 x 0.20 = 12.00. Plus one call
# at 2026-10-31T23:30:00Z: November, rejected as outside the period.
account("acct-023", "tencent.face_fusion", postpaid=True)
package("pkg-023-free", "acct-023", FFV, "free", 200, 30, D("2026-06-30 18:00:00"))
use("acct-023", FFV, datetime(2026, 9, 30, 16, 30, tzinfo=UTC), quantity=1, form="Z", tag="tc-edge-oct1")
calls("acct-023", FFV, 88, D("2026-10-01 01:00:00"), D("2026-10-31 23:00:00"))
use("acct-023", FFV, datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC), quantity=1, form="Z", tag="tc-edge-last")
use("acct-023", FFV, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), quantity=1, form="Z", tag="tc-edge-nov")

# acct-024: material quota: 4 free left, a 10-material package bought Oct 8
# (60.00); 9 materials after the purchase: 4 free + 5 prepaid. 120 image basic
# calls from the free call package (800 left).
account("acct-024", "tencent.face_fusion", postpaid=True)
package("pkg-024-free", "acct-024", FFI, "free", 1000, 800, D("2026-05-05 10:00:00"))
package("pkg-024-mat-free", "acct-024", FFM, "free", 10, 4, D("2026-05-05 10:00:00"))
package("pkg-024-mat-p1", "acct-024", FFM, "prepaid", 10, 10, D("2026-10-08 11:00:00"),
        price=60, currency="USD")
calls("acct-024", FFI, 120, P_START, P_END)
calls("acct-024", FFM, 9, D("2026-10-08 12:00:00"), D("2026-10-30 00:00:00"))

# ---------------------------------------------------------------------------
# Tencent Cloud Video Understanding, video tags (CNY, daily; quantity = seconds)

# acct-030: a 500-hour package (30,000 minutes, 3,500.00) bought Oct 3 09:00.
# Before it, postpaid at 0.15/min per day: Oct 1 1,280 s -> 3.20; Oct 2
# 3,721 s -> 9.30; Oct 3 before 09:00 1,812 s -> 4.53. Everything after comes
# from the package. Total 3,500 + 17.03 = 3,517.03 CNY.
account("acct-030", "tencent.video_understanding", postpaid=True)
package("pkg-030-p1", "acct-030", VT, "prepaid", 30000, 30000, D("2026-10-03 09:00:00"),
        price=3500, currency="CNY")
for when, secs in [
    ("2026-10-01 10:12:07", 1243), ("2026-10-01 18:40:55", 37),
    ("2026-10-02 08:01:00", 3601), ("2026-10-02 11:30:30", 59), ("2026-10-02 23:59:59", 61),
    ("2026-10-03 00:00:00", 7), ("2026-10-03 08:59:59", 1805),
    ("2026-10-03 09:00:00", 4000),
]:
    use("acct-030", VT, D(when), quantity=secs)
for t in times(32, D("2026-10-03 10:00:00"), P_END):
    use("acct-030", VT, t, quantity=rng.choice([7, 59, 61, 119, 601, 1199, 1801, 3599, 3601, 5399])
        + rng.randrange(0, 13))
use("acct-030", VT, D("2026-10-09 12:00:00"), status="failed", quantity=2400)

# acct-031: a new-account free package of 600 minutes (200 left) valid
# 2026-09-20 10:00 to 2026-10-20 10:00. 5,988 s on Oct 2-19 plus 12 s at
# Oct 20 09:59:59 come from it (100 min); the other 100 min expire. After
# expiry, postpaid per day: Oct 20 20 s -> 0.05 (the call at exactly 10:00:00
# is after expiry); Oct 21 1,000 s -> 2.50; Oct 22 334 s -> 0.835 -> 0.84;
# Oct 25 2 s -> 0.005 -> 0.01; Oct 28 4,321 s -> 10.8025 -> 10.80. Total
# 14.20 CNY. Audio tags (public beta) are rated at zero.
account("acct-031", "tencent.video_understanding", postpaid=True)
package("pkg-031-free", "acct-031", VT, "free", 600, 200, D("2026-09-20 10:00:00"),
        expires=D("2026-10-20 10:00:00"))
for when, secs in [
    ("2026-10-02 09:00:00", 1234), ("2026-10-05 14:22:10", 987), ("2026-10-09 20:05:00", 2222),
    ("2026-10-13 07:45:45", 45), ("2026-10-19 23:10:00", 1500), ("2026-10-20 09:59:59", 12),
    ("2026-10-20 10:00:00", 20),
    ("2026-10-21 13:00:00", 1000),
    ("2026-10-22 10:00:00", 333), ("2026-10-22 16:00:00", 1),
    ("2026-10-25 11:11:11", 2),
    ("2026-10-28 21:00:00", 4321),
]:
    use("acct-031", VT, D(when), quantity=secs)
for t in times(15, P_START, P_END):
    use("acct-031", AT, t, quantity=rng.randrange(30, 900))

# ---------------------------------------------------------------------------
# Alibaba Cloud IMS batch video production (CNY, hourly)

# acct-040: the guide's example hour, 2026-10-10 08:00-09:00: a common
# image-text task of 90 s in + 23 s out (2 min x 0.3 = 0.60) and 900 tokens
# (1 x 0.12): 0.72 CNY.
use("acct-040", ITC, D("2026-10-10 08:12:40"), input_seconds=90, output_seconds=23, form="+08")
use("acct-040", TG, D("2026-10-10 08:41:05"), quantity=900, form="Z")

# acct-041: several tasks per hour across hours on several days, every
# priced IMS feature. Each task rounds up on its own (minutes, thousands of
# tokens). Some image-text tasks are preview-only (still billed: the output
# is the timeline's duration); some highlight-extraction rows carry an
# output_seconds that must be ignored; a few rows name region cn-mainland.
account("acct-041", "alibaba.ims", postpaid=True)
ims_rows = [  # the hand-checked hour 2026-10-14 15:00-16:00
    (D("2026-10-14 15:02:00"), ITC, dict(input_seconds="59.5", output_seconds="0.5")),  # 60 s -> 1 min
    (D("2026-10-14 15:09:30"), ITC, dict(input_seconds=60, output_seconds="0.001")),  # -> 2 min
    (D("2026-10-14 15:20:00"), TG, dict(quantity=1000)),  # 1
    (D("2026-10-14 15:21:00"), TG, dict(quantity=1001)),  # 2
    (D("2026-10-14 15:40:00"), HX, dict(input_seconds=61, output_seconds=30)),  # 2 min x 2
    (D("2026-10-14 15:55:00"), ITH, dict(input_seconds=100, output_seconds=20, preview_only=True)),  # 2 min x 2
]
for r in ims_rows:
    use("acct-041", r[1], r[0], **r[2])
hours = sorted(rng.sample(range(24 * 31), 40))
for h in hours:
    start = P_START + timedelta(hours=h)
    if start.date() == D("2026-10-14 00:00:00").date() and start.hour == 15:
        continue
    for t in times(rng.randint(2, 5), start, start + timedelta(hours=1)):
        item = rng.choice([TG, TG, ITC, ITC, ITM, ITS, ITH, HX])
        region = "cn-mainland" if rng.random() < 0.1 else None
        if item == TG:
            use("acct-041", item, t, quantity=rng.randrange(120, 8000), region=region)
        elif item == HX:
            use("acct-041", item, t, input_seconds=rng.randrange(10, 1800),
                output_seconds=rng.choice([None, None, rng.randrange(5, 120)]), region=region)
        else:
            use("acct-041", item, t, input_seconds=rng.randrange(5, 900),
                output_seconds=rng.randrange(5, 180),
                preview_only=rng.choice([None, None, False, True]), region=region)
use("acct-041", ITC, D("2026-10-21 10:10:10"), status="failed", input_seconds=300, output_seconds=60)
use("acct-041", TG, D("2026-10-21 10:20:00"), status="failed", quantity=5000)

# acct-042: script-to-video renders: 12 real renders (no video-editing price
# in the catalog -> no_price exceptions, not billed) and 8 preview-only
# timelines (free). Plus 5 common image-text tasks, billed.
account("acct-042", "alibaba.ims", postpaid=True)
for i, t in enumerate(times(20, D("2026-10-05 00:00:00"), D("2026-10-26 00:00:00"))):
    preview = i % 5 in (1, 3)
    use("acct-042", S2V, t, output_seconds=rng.randrange(15, 240), preview_only=preview,
        resolution="1080p" if i % 3 else "720p")
for t in times(5, D("2026-10-05 00:00:00"), D("2026-10-26 00:00:00")):
    use("acct-042", ITC, t, input_seconds=rng.randrange(30, 600), output_seconds=rng.randrange(10, 90))

# ---------------------------------------------------------------------------
# Background accounts: ordinary usage, packages left from earlier months,
# postpaid enabled where a product needs it. No edge cases.

PRODUCTS = ["ia", "st", "ff", "vt", "ims"]
for n in range(50, 64):
    acct = f"acct-{n:03d}"
    chosen = sorted(rng.sample(PRODUCTS, rng.randint(1, 3)), key=PRODUCTS.index)
    for p in chosen:
        act = P_START - timedelta(days=rng.randrange(20, 330), seconds=rng.randrange(86400))
        if p == "ia":
            account(acct, "tencent.image_animate", postpaid=True)
            package(f"pkg-{n:03d}-ia-free", acct, IA, "free", 5, rng.randint(0, 5), act)
            calls(acct, IA, rng.randint(8, 40), P_START, P_END, failed=rng.randint(0, 2))
        elif p == "st":
            account(acct, "tencent.style_transfer", postpaid=True)
            package(f"pkg-{n:03d}-st-free", acct, ST, "free", 50, rng.randint(0, 50), act)
            if rng.random() < 0.5:
                package(f"pkg-{n:03d}-st-p1", acct, ST, "prepaid", 1000, rng.randint(0, 400),
                        act + timedelta(days=3), price=75, currency="USD")
            calls(acct, ST, rng.randint(40, 250), P_START, P_END, failed=rng.randint(0, 3))
        elif p == "ff":
            account(acct, "tencent.face_fusion", postpaid=True)
            package(f"pkg-{n:03d}-ffi-free", acct, FFI, "free", 1000, rng.randint(0, 150), act)
            calls(acct, FFI, rng.randint(50, 300), P_START, P_END, failed=rng.randint(0, 3))
            if rng.random() < 0.5:
                package(f"pkg-{n:03d}-ffv-free", acct, FFV, "free", 200, rng.randint(0, 30), act)
                calls(acct, FFV, rng.randint(10, 60), P_START, P_END)
        elif p == "vt":
            for t in times(rng.randint(6, 18), P_START, P_END):
                use(acct, VT, t, quantity=rng.randrange(3, 3600))
        else:
            for t in times(rng.randint(8, 24), P_START, P_END):
                item = rng.choice([TG, ITC, ITC, HX])
                if item == TG:
                    use(acct, item, t, quantity=rng.randrange(200, 6000))
                elif item == HX:
                    use(acct, item, t, input_seconds=rng.randrange(10, 1200))
                else:
                    use(acct, item, t, input_seconds=rng.randrange(5, 600),
                        output_seconds=rng.randrange(5, 120))

# A subscription that ended as October began ([starts_at, ends_at) does not
# overlap the period): not charged.
subscription("sub-057-st-conc-old", "acct-057", "tencent.style_transfer.concurrency", 1, "month",
             D("2026-09-01 00:00:00"), D("2026-10-01 00:00:00"))

# ---------------------------------------------------------------------------
# Event ids (in time order, per vendor prefix) and the planted bad rows.

usage.sort(key=lambda r: (r["_t"], r["account_id"], r["item"]))
seq = {"tc": 0, "ims": 0}
for r in usage:
    if r["_tag"]:
        r["event_id"] = r["_tag"]
        continue
    v = "ims" if r["item"].startswith("alibaba.") else "tc"
    seq[v] += 1
    r["event_id"] = f"{v}-{seq[v]:06d}"


def after(pred, row_or_fn):
    """Insert a bad row right after the first usage row matching `pred`."""
    for i, r in enumerate(usage):
        if pred(r):
            new = row_or_fn(r) if callable(row_or_fn) else row_or_fn
            usage.insert(i + 1, new)
            return
    raise SystemExit("no row to place a bad row after")


def raw(event_id, acct, item, event_time, status="success", quantity="1", **kw):
    row = {c: "" for c in USAGE_COLS}
    row.update(event_id=event_id, account_id=acct, item=item, event_time=event_time,
               status=status, quantity=quantity, _tag="bad")
    row.update(kw)
    return row


def in_day(acct, item, day):
    return lambda r: r["account_id"] == acct and r["item"] == item and r["_t"] >= D(day)


def from_time(day):
    """The first generated row at or after a local time (bad rows have no `_t`)."""
    return lambda r: r.get("_t") is not None and r["_t"] >= D(day)


# 1 duplicate, exact copy (counted once)
def dup_exact(r):
    r["event_id"] = "tc-dup-021"
    return dict(r)


after(in_day("acct-021", FFI, "2026-10-20 00:00:00"), dup_exact)


# 2 duplicate id, later event_time (the first row seen counts)
def dup_later(r):
    r["event_id"] = "ims-dup-041"
    d = dict(r)
    d["event_time"] = fmt(r["_t"] + timedelta(minutes=7), "+08")
    return d


after(in_day("acct-041", ITC, "2026-10-16 00:00:00"), dup_later)
# 3 unknown item
after(from_time("2026-10-08 12:00:00"),
      raw("tc-bad-item", "acct-052", "tencent.face_fusion.video_multi", "2026-10-08T12:00:00+08:00"))
# 4 negative quantity
after(from_time("2026-10-12 09:00:00"),
      raw("tc-bad-negqty", "acct-030", VT, "2026-10-12T01:00:00Z", quantity="-42"))
# 5 impossible timestamp
after(from_time("2026-10-18 09:15:00"),
      raw("tc-bad-time", "acct-015", ST, "2026-10-32T09:15:00+08:00"))
# 6 timestamp without offset
after(from_time("2026-10-12 10:00:00"),
      raw("tc-bad-naive", "acct-015", ST, "2026-10-12T10:00:00"))
# 7 status "ok"
after(from_time("2026-10-22 14:00:00"),
      raw("tc-bad-status", "acct-021", FFI, "2026-10-22T06:00:00Z", status="ok"))
# 8 empty account_id
after(from_time("2026-10-25 08:00:00"),
      raw("tc-bad-noacct", "", IA, "2026-10-25T08:00:00+08:00"))
# 9 quantity not a decimal
after(from_time("2026-10-27 20:00:00"),
      raw("tc-bad-qtytext", "acct-013", ST, "2026-10-27T12:00:00Z", quantity="twelve"))
# 10 empty event_id
after(from_time("2026-10-29 10:00:00"),
      raw("", "acct-011", ST, "2026-10-29T10:00:00+08:00"))


# ---------------------------------------------------------------------------
# Write.


def write(name, cols, rows):
    path = os.path.join(HERE, name)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    counts = {
        "usage.csv": write("usage.csv", USAGE_COLS, usage),
        "packages.csv": write("packages.csv", PACKAGE_COLS, sorted(packages, key=lambda p: p["package_id"])),
        "accounts.csv": write("accounts.csv", ACCOUNT_COLS, accounts),
        "subscriptions.csv": write("subscriptions.csv", SUBSCRIPTION_COLS, subscriptions),
    }
    for k, v in counts.items():
        print(f"{k}: {v} rows")
