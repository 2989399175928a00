#!/usr/bin/env python3
"""Write the vendors' statements for the sample month, 2026-10, in the
vendors' own export layouts, from reckon's finished invoice.

    make demo                                   # out/2026-10/invoice_lines.csv
    python3 data/sample/make_statements.py      # [INVOICE_LINES] [--out DIR]

writes into data/sample/statements/:

  tencent-bill-details-2026-10.csv     Tencent Cloud console "账单明细" (bill
      details) export: UTF-8 with BOM, a title line, then CHINESE headers; one
      row per account, item and charge (one per daily settlement for the
      daily-settled video-understanding items, one per resource package or
      subscription bought); money with 8 decimals, `-` for empty, refunds
      negative; transaction ids (交易ID) as line ids.
  alibaba-billing-details-2026-10.csv  Alibaba Cloud billing details by
      billable item (计费项明细), ENGLISH headers; one row per IMS account and
      billable item for the month (the hourly cycles summed).

Deterministic: standard library only (Python 3.11, `tomllib`), no clock, no
randomness; running it twice gives byte-identical files. Every header text,
vendor product / component / billable-item name and unit written is checked
against data/statements/headers.toml, sku-map.toml and units.toml (the same
matching rules as src/statement.rs), so a drifted map fails here, loudly.

The statements AGREE with reckon's invoice except for exactly three planted,
realistic discrepancies (`reckon run ... --statement data/sample/statements`
must report these and nothing else):

  (a) acct-010, tencent.style_transfer, usage -- class `deduction_mismatch`.
      The vendor did not apply the account's 50 free pictures and billed all
      10,000 pictures at the 10,000+ tier, 0.06 USD: 600.00 USD. reckon
      deducts 50 (free package) and bills 9,950 x 0.08 = 796.00 USD.
      Delta (vendor - reckon) = -196.00 USD.
  (b) acct-005, tencent.image_animate, purchase -- class `duplicate_charge`.
      The 100-call resource package pkg-005-p1 (420.00 USD) is listed twice
      with the same transaction id (交易ID). Delta = +420.00 USD.
  (c) acct-041, alibaba.ims.text_generation, usage -- class `amount_mismatch`.
      Same usage (128 x 1k tokens), same list price (0.12 CNY), but the
      vendor's monthly line says 15.37 CNY where reckon's hourly lines sum to
      15.36 CNY. Delta = +0.01 CNY.

The same list, with the layouts, is in data/sample/statements/README.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import pathlib
import sys
import tomllib
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

ROOT = pathlib.Path(__file__).resolve().parents[2]
PERIOD = "2026-10"
MAP_DIR = ROOT / "data" / "statements"
CATALOG_DIR = ROOT / "data" / "catalog"
OUT_DIR = ROOT / "data" / "sample" / "statements"
TENCENT_FILE = f"tencent-bill-details-{PERIOD}.csv"
ALIBABA_FILE = f"alibaba-billing-details-{PERIOD}.csv"

# The planted discrepancies (see the docstring and README.md).
PLANT_DEDUCTION = ("acct-010", "tencent.style_transfer")  # (a)
PLANT_DEDUCTION_PRICE = Decimal("0.06")
PLANT_DUPLICATE = ("acct-005", "tencent.image_animate", "pkg-005-p1")  # (b)
PLANT_AMOUNT = ("acct-041", "alibaba.ims.text_generation")  # (c)
PLANT_AMOUNT_DELTA = Decimal("0.01")

# ---------------------------------------------------------------------------
# Vendor names per reckon item. Tencent: (产品名称, 子产品名称, 组件名称, 组件类型,
# usage unit, price unit); Alibaba: (billable item, usage unit, price unit,
# usage factor from reckon's billing unit to the usage unit).

TENCENT_USAGE = {
    "tencent.image_animate": ("视频创作大模型", "图片跳舞", "调用次数", "调用量", "次", "次"),
    "tencent.style_transfer": ("图像创作大模型", "图像风格化", "生成张数", "调用量", "张", "张"),
    "tencent.face_fusion.image_basic": ("人脸融合", "图片人脸融合（基础版）", "调用次数", "调用量", "次", "次"),
    "tencent.face_fusion.video_single": ("人脸融合", "视频人脸融合（单脸）", "调用次数", "调用量", "次", "次"),
    "tencent.face_fusion.image_basic.material": ("人脸融合", "图片人脸融合（基础版）", "素材数", "素材量", "个", "个"),
    "tencent.face_fusion.video_single.material": ("人脸融合", "视频人脸融合（单脸）", "素材数", "素材量", "个", "个"),
    # Video understanding: usage exported in seconds, priced per minute.
    "tencent.video_tags": ("视频理解", "媒体智能标签", "视频智能标签", "处理时长", "秒", "分钟"),
    "tencent.audio_tags": ("视频理解", "媒体智能标签", "音频智能标签", "处理时长", "秒", "分钟"),
}

# Resource packages: (产品名称, 子产品名称, 组件名称, 实例类型 prefix, package unit).
TENCENT_PACKAGE = {
    "tencent.image_animate": ("视频创作大模型", "图片跳舞", "资源包", "图片跳舞资源包", "次"),
    "tencent.style_transfer": ("图像创作大模型", "图像风格化", "资源包", "图像风格化资源包", "张"),
    "tencent.face_fusion.image_basic": ("人脸融合", "图片人脸融合（基础版）", "资源包", "图片人脸融合资源包", "次"),
    "tencent.face_fusion.video_single": ("人脸融合", "视频人脸融合（单脸）", "资源包", "视频人脸融合资源包", "次"),
    "tencent.face_fusion.image_basic.material": ("人脸融合", "图片人脸融合（基础版）", "素材数", "图片人脸融合素材包", "个"),
    "tencent.video_tags": ("视频理解", "媒体智能标签", "时长包", "视频智能标签时长包", "分钟"),
}

# Subscriptions (concurrency / QPS): (产品名称, 子产品名称, 组件名称, unit word).
TENCENT_SUBSCRIPTION = {
    "tencent.image_animate.concurrency": ("视频创作大模型", "图片跳舞", "并发数", "并发"),
    "tencent.style_transfer.concurrency": ("图像创作大模型", "图像风格化", "并发数", "并发"),
    "tencent.face_fusion.image_basic.qps": ("人脸融合", "图片人脸融合（基础版）", "QPS", "QPS"),
    "tencent.face_fusion.video_single.qps": ("人脸融合", "视频人脸融合（单脸）", "QPS", "QPS"),
}

ALIBABA_USAGE = {
    "alibaba.ims.text_generation": ("Intelligent Text Generation", "Tokens", "1K Tokens", Decimal(1000)),
    "alibaba.ims.image_text.common": ("Image-Text Matching (Common Scenarios)", "Minute", "Minute", Decimal(1)),
    "alibaba.ims.image_text.movie_collection": ("Image-Text Matching (Movie Collections)", "Minute", "Minute", Decimal(1)),
    "alibaba.ims.image_text.sports_highlights": ("Image-Text Matching (Sports Highlights)", "Minute", "Minute", Decimal(1)),
    "alibaba.ims.image_text.highlight_mashup": ("Image-Text Matching (Highlight Mashup)", "Minute", "Minute", Decimal(1)),
    "alibaba.ims.highlight_extraction": ("Highlight Extraction", "Minute", "Minute", Decimal(1)),
    "alibaba.ims.script_to_video": ("Script-to-Video", "Minute", "Minute", Decimal(1)),
}
ALIBABA_PRODUCT_CODE = "ice"
ALIBABA_PRODUCT_NAME = "Intelligent Media Services"
ALIBABA_PRODUCT_DETAIL = "IMS Batch Video Production"

# The exported column layouts. Texts not in headers.toml are listed in
# *_IGNORED: real export columns reckon does not read.
TENCENT_TITLE = f"腾讯云账单明细（账单月份：{PERIOD}）"
TENCENT_HEADER = [
    "账单月份", "交易ID", "支付者UIN", "使用者UIN", "产品名称", "子产品名称", "计费模式",
    "项目名称", "地域", "交易类型", "扣费时间", "开始使用时间", "结束使用时间", "实例类型",
    "资源ID", "组件类型", "组件名称", "组件刊例价", "组件价格单位", "原始用量", "抵扣用量",
    "组件用量", "组件用量单位", "原价", "折扣率", "优惠后总价", "代金券支付", "现金支付", "币种",
]
TENCENT_IGNORED = {"项目名称", "地域"}
ALIBABA_HEADER = [
    "Billing Cycle", "Account ID", "Account Name", "Owner ID", "Product Code", "Product Name",
    "Product Detail", "Subscription Type", "Instance ID", "Region", "Billable Item",
    "List Price", "List Price Unit", "Usage", "Usage Unit", "Deducted By Resource Plan",
    "Pretax Gross Amount", "Discount", "Coupon Deduction", "Pretax Amount", "Currency",
    "Primary Key",
]
ALIBABA_IGNORED = {"Account Name", "Region"}

NULL = "-"
LOCAL = "+08:00"  # billing time zone of every catalog product


# ---------------------------------------------------------------------------
# Map checks: the same normalisation and rule scoring as src/statement.rs.


def norm(s: str) -> str:
    out = []
    for c in s.replace("\ufeff", ""):
        if c == "\u3000":
            c = " "
        elif "\uff01" <= c <= "\uff5e":
            c = chr(ord(c) - 0xFEE0)
        out.append(c)
    return " ".join("".join(out).split()).lower()


def unit_norm(s: str) -> str:
    n = norm(s)
    n = n.removeprefix("per ")
    return "".join(c for c in n if not c.isspace() and c not in "_-")


def glob(pattern: str, text: str) -> bool:
    p, t = pattern, text
    pi = ti = 0
    star = None
    while ti < len(t):
        if pi < len(p) and p[pi] != "*" and p[pi] == t[ti]:
            pi += 1
            ti += 1
        elif pi < len(p) and p[pi] == "*":
            star = (pi, ti)
            pi += 1
        elif star is not None:
            pi, ti = star[0] + 1, star[1] + 1
            star = (star[0], star[1] + 1)
        else:
            return False
    while pi < len(p) and p[pi] == "*":
        pi += 1
    return pi == len(p)


def any_match(patterns, texts) -> bool:
    return any(glob(norm(p), t) for p in patterns for t in texts)


def rule_score(rule: dict, texts: dict) -> int | None:
    score = 0
    for field, weight in (("product", 1), ("sub_product", 2), ("instance_type", 3), ("component", 4)):
        pats = rule.get(field, [])
        if not pats:
            continue
        if not any_match(pats, texts.get(field, [])):
            return None
        score += weight
    if rule.get("any"):
        ws = [w for f, w in (("component", 4), ("instance_type", 3), ("sub_product", 2))
              if any_match(rule["any"], texts.get(f, []))]
        if not ws:
            return None
        score += max(ws)
    return score


class Maps:
    def __init__(self, map_dir: pathlib.Path):
        with open(map_dir / "headers.toml", "rb") as f:
            self.headers = tomllib.load(f)
        with open(map_dir / "sku-map.toml", "rb") as f:
            self.sku = tomllib.load(f)
        with open(map_dir / "units.toml", "rb") as f:
            self.units = tomllib.load(f)
        self.unit_of = {}
        for u in self.units["unit"]:
            for name in u["names"]:
                self.unit_of[unit_norm(name)] = (u["dimension"], Decimal(u["size"]))

    def check_header(self, fmt: str, header: list[str], ignored: set[str]) -> None:
        spec = self.headers["formats"][fmt]
        aliases = {norm(h): fld for lang in spec["headers"].values() for h, fld in lang.items()}
        fields = set()
        for h in header:
            if h in ignored:
                if norm(h) in aliases:
                    sys.exit(f"{fmt}: {h!r} is meant to be ignored but headers.toml maps it")
                continue
            if norm(h) not in aliases:
                sys.exit(f"{fmt}: header {h!r} is not in data/statements/headers.toml")
            fields.add(aliases[norm(h)])
        for group in spec["required"]:
            if not any(g in fields for g in group.split("|")):
                sys.exit(f"{fmt}: the header row misses required field {group}")
        for other, ospec in self.headers["formats"].items():
            if other == fmt:
                continue
            oal = {norm(h): fld for lang in ospec["headers"].values() for h, fld in lang.items()}
            ofields = {oal[norm(h)] for h in header if norm(h) in oal}
            if all(any(g in ofields for g in grp.split("|")) for grp in ospec["required"]):
                if len([h for h in header if norm(h) in oal]) >= len([h for h in header if norm(h) in aliases]):
                    sys.exit(f"{fmt}: the header row would be read as {other}")

    def item(self, vendor: str, texts: dict) -> tuple[str | None, str | None]:
        best = None
        for rule in self.sku[vendor]:
            s = rule_score(rule, texts)
            if s is not None and (best is None or s > best[0]):
                best = (s, rule)
        if best is None:
            return None, None
        return best[1]["item"], best[1].get("charge_type")

    def charge(self, source: str, text: str) -> str | None:
        for rule in self.sku["charge_types"][source]:
            if any(glob(norm(p), norm(text)) for p in rule["match"]):
                return rule["type"]
        return None

    def currency(self, text: str) -> str | None:
        for k, v in self.headers["currencies"].items():
            if k.lower() == text.strip().lower():
                return v
        return None

    def check_unit(self, vendor_unit: str, billing_unit: str) -> Decimal:
        """Size ratio vendor / billing unit (same dimension, both known)."""
        v = self.unit_of.get(unit_norm(vendor_unit))
        b = self.unit_of.get(unit_norm(billing_unit))
        if v is None or b is None or v[0] != b[0]:
            sys.exit(f"units.toml: {vendor_unit!r} cannot be read as {billing_unit!r}")
        return v[1] / b[1]


# ---------------------------------------------------------------------------
# Catalog (list prices shown on rows fully covered by packages).


def load_catalog(catalog_dir: pathlib.Path) -> dict:
    items = {}
    for path in sorted(catalog_dir.glob("*.toml")):
        with open(path, "rb") as f:
            prod = tomllib.load(f)["product"]
        for it in prod.get("items", []):
            tiers = [t for pl in it.get("price_lists", []) for t in pl.get("tiers", [])]
            items[it["id"]] = {
                "unit": it["unit"],
                "cycle": it.get("cycle", "month"),
                "first_price": Decimal(tiers[0]["unit_price"]) if tiers else None,
                "currency": prod["currency"],
            }
        for sub in prod.get("subscriptions", []):
            items[sub["id"]] = {"unit": sub["unit"], "cycle": None, "first_price": None,
                                "currency": prod["currency"]}
    return items


# ---------------------------------------------------------------------------
# Formatting.


def dec(s: str) -> Decimal:
    return Decimal(s) if s not in ("", None) else Decimal(0)


def qty(d: Decimal) -> str:
    """A quantity as the consoles show it: no trailing zeros, no exponent."""
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def money8(d: Decimal) -> str:
    return format(d.quantize(Decimal("0.00000001")), "f")


def money2(d: Decimal) -> str:
    return format(d.quantize(Decimal("0.01")), "f")


def local(ts: str) -> datetime:
    """reckon's `2026-10-01T00:00:00+08:00` as a naive local datetime."""
    dt = datetime.fromisoformat(ts)
    if dt.utcoffset() != timedelta(hours=8):
        sys.exit(f"unexpected offset in {ts}")
    return dt.replace(tzinfo=None)


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def month_end(dt: datetime) -> datetime:
    nxt = (dt.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
    return nxt - timedelta(seconds=1)


def tx_id(*parts: str, when: datetime) -> str:
    """A Tencent-like numeric transaction id: deal date + 12 digits of a hash."""
    h = int(hashlib.sha256("|".join(parts).encode()).hexdigest(), 16) % 10**12
    return f"{when:%Y%m%d}{h:012d}"


def primary_key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def to_seconds(minutes: Decimal) -> Decimal:
    """Whole seconds behind a minute quantity shown with 6 decimals."""
    s = (minutes * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if abs(s / 60 - minutes) > Decimal("0.000001"):
        sys.exit(f"{minutes} minutes is not a whole number of seconds")
    return s


# ---------------------------------------------------------------------------
# Tencent bill details.


def tencent_rows(lines: list[dict], maps: Maps, catalog: dict) -> list[dict]:
    rows: list[dict] = []

    def row(**kw) -> dict:
        r = {h: NULL for h in TENCENT_HEADER}
        r.update({"账单月份": PERIOD, "项目名称": "默认项目", "折扣率": "1", "代金券支付": money8(Decimal(0))})
        r.update(kw)
        return r

    def check_item(r: dict, want_item: str, want_ct: str) -> None:
        texts = {
            "product": [norm(r["产品名称"])],
            "sub_product": [norm(r["子产品名称"])] if r["子产品名称"] != NULL else [],
            "component": [norm(r["组件名称"])],
            "instance_type": [norm(r["实例类型"])] if r["实例类型"] != NULL else [],
        }
        item, rule_ct = maps.item("tencent", texts)
        ct = maps.charge("transaction_type", r["交易类型"]) or maps.charge("billing_mode", r["计费模式"])
        if ct in ("usage", "purchase"):
            if want_item in TENCENT_SUBSCRIPTION:
                ct = "subscription"
            elif rule_ct:
                ct = rule_ct
        if item != want_item or ct != want_ct:
            sys.exit(f"sku-map.toml reads {r['产品名称']} / {r['子产品名称']} / {r['组件名称']} / "
                     f"{r['实例类型']} ({r['交易类型']}) as {item} {ct}, not {want_item} {want_ct}")
        if maps.currency(r["币种"]) != r["_currency"]:
            sys.exit(f"headers.toml: currency {r['币种']!r} is not {r['_currency']}")

    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for l in lines:
        by_key[(l["account_id"], l["item"], l["charge_type"])].append(l)

    for (acct, item, ct), ls in sorted(by_key.items()):
        cat = catalog[item]
        cur = ls[0]["currency"]
        if ct == "usage":
            product, sub, comp, ctype, uunit, punit = TENCENT_USAGE[item]
            if cat["unit"] == "minute":
                maps.check_unit(uunit, cat["unit"])  # seconds -> minutes
                conv = to_seconds
            else:
                if maps.check_unit(uunit, cat["unit"]) != 1:
                    sys.exit(f"{item}: usage unit {uunit} is not the billing unit")
                conv = lambda q: q  # noqa: E731
            maps.check_unit(punit, cat["unit"])
            daily = cat["cycle"] == "day"
            for l in ls:
                raw = dec(l["usage_quantity"])
                if raw == 0 and dec(l["amount"]) == 0:
                    continue  # nothing used (covered by a subscription): no vendor row
                ded = dec(l["free_quantity"]) + dec(l["campaign_quantity"]) + dec(l["prepaid_quantity"])
                billed = dec(l["postpaid_quantity"])
                price = dec(l["unit_price"]) if l["unit_price"] else cat["first_price"]
                amount = dec(l["amount"])
                if (acct, item) == PLANT_DEDUCTION:
                    # (a) the vendor ignored the free package and used the 10,000+ tier.
                    ded, billed, price = Decimal(0), raw, PLANT_DEDUCTION_PRICE
                    amount = (billed * price).quantize(Decimal("0.01"))
                start = local(l["cycle_start"])
                if daily:
                    end = start + timedelta(days=1) - timedelta(seconds=1)
                    settled = start + timedelta(days=1, hours=2)
                    tx_type = "按量计费日结"
                else:
                    end = month_end(start)
                    settled = end + timedelta(seconds=1, days=1, hours=3)
                    tx_type = "按量计费月结"
                r = row(**{
                    "交易ID": tx_id(acct, item, l["cycle_start"], when=settled),
                    "支付者UIN": acct, "使用者UIN": acct,
                    "产品名称": product, "子产品名称": sub, "计费模式": "按量计费",
                    "交易类型": tx_type, "扣费时间": stamp(settled),
                    "开始使用时间": stamp(start), "结束使用时间": stamp(end),
                    "资源ID": NULL, "组件类型": ctype, "组件名称": comp,
                    "组件刊例价": money8(price) if price is not None else NULL,
                    "组件价格单位": f"{'元' if cur == 'CNY' else cur}/{punit}",
                    "原始用量": qty(conv(raw)), "抵扣用量": qty(conv(ded)),
                    "组件用量": qty(conv(billed)), "组件用量单位": uunit,
                    "原价": money8(amount), "优惠后总价": money8(amount),
                    "现金支付": money8(amount), "币种": cur, "_currency": cur,
                })
                if conv(raw) != conv(ded) + conv(billed):
                    sys.exit(f"{acct} {item}: raw != deducted + billed")
                check_item(r, item, ct)
                rows.append(r)
        elif ct in ("purchase", "refund"):
            product, sub, comp, inst, unit = TENCENT_PACKAGE[item]
            orders: dict[str, list[dict]] = defaultdict(list)
            for l in ls:
                orders[l["cycle_start"]].append(l)
            for when_s, order in sorted(orders.items()):
                when = local(when_s)
                # One order (交易ID) per purchase time; one row per package bought.
                tid = tx_id(acct, item, ct, when_s, when=when)
                for l in sorted(order, key=lambda x: x["reference"]):
                    size = l["tier"].split(" package of ")[1].split(" x ")[0]
                    q = dec(l["usage_quantity"])
                    price = dec(l["unit_price"])
                    amount = dec(l["amount"])
                    r = row(**{
                        "交易ID": tid, "支付者UIN": acct, "使用者UIN": acct,
                        "产品名称": product, "子产品名称": sub, "计费模式": "资源包",
                        "交易类型": "退费" if ct == "refund" else "资源包新购",
                        "扣费时间": stamp(when), "开始使用时间": stamp(when),
                        "结束使用时间": NULL if ct == "refund" else
                        stamp(when.replace(year=when.year + 1) - timedelta(seconds=1)),
                        "实例类型": f"{inst}({size}{unit})", "资源ID": l["reference"],
                        "组件类型": "资源包", "组件名称": comp,
                        "组件刊例价": money8(price), "组件价格单位": f"{'元' if cur == 'CNY' else cur}/个",
                        "组件用量": qty(q), "组件用量单位": "个",
                        "原价": money8(amount), "优惠后总价": money8(amount),
                        "现金支付": money8(amount), "币种": cur, "_currency": cur,
                    })
                    check_item(r, item, ct)
                    rows.append(r)
                    if (acct, item, l["reference"]) == PLANT_DUPLICATE and ct == "purchase":
                        rows.append(dict(r))  # (b) the same transaction listed twice
        elif ct == "subscription":
            product, sub, comp, word = TENCENT_SUBSCRIPTION[item]
            for l in ls:
                # tier text: "2 x 5 day(s) per concurrency, tier [0,inf)"
                count, rest = l["tier"].split(" x ", 1)
                n, term = rest.split(" ")[0], rest.split(" ")[1]
                start = local(l["cycle_start"])
                if term.startswith("day"):
                    end = start + timedelta(days=int(n)) - timedelta(seconds=1)
                    per, uword = "天", f"{word}·天"
                else:
                    end = month_end(start)
                    per, uword = "月", f"{word}·月"
                price = dec(l["unit_price"])
                amount = dec(l["amount"])
                r = row(**{
                    "交易ID": tx_id(acct, item, l["cycle_start"], when=start),
                    "支付者UIN": acct, "使用者UIN": acct,
                    "产品名称": product, "子产品名称": sub, "计费模式": "包年包月",
                    "交易类型": "包年包月新购", "扣费时间": stamp(start),
                    "开始使用时间": stamp(start), "结束使用时间": stamp(end),
                    "实例类型": f"{comp}（{count}{word}×{n}{per}）", "资源ID": l["reference"],
                    "组件类型": "预付费", "组件名称": comp,
                    "组件刊例价": money8(price), "组件价格单位": f"{cur}/{word}/{per}",
                    "组件用量": qty(dec(l["usage_quantity"])), "组件用量单位": uword,
                    "原价": money8(amount), "优惠后总价": money8(amount),
                    "现金支付": money8(amount), "币种": cur, "_currency": cur,
                })
                check_item(r, item, ct)
                rows.append(r)
        else:
            sys.exit(f"no Tencent layout for charge type {ct}")
    return rows


# ---------------------------------------------------------------------------
# Alibaba billing details.


def alibaba_rows(lines: list[dict], maps: Maps, catalog: dict) -> list[dict]:
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for l in lines:
        if l["charge_type"] != "usage":
            sys.exit(f"no Alibaba layout for charge type {l['charge_type']}")
        by_key[(l["account_id"], l["item"])].append(l)
    rows = []
    for (acct, item), ls in sorted(by_key.items()):
        cat = catalog[item]
        bi, uunit, punit, factor = ALIBABA_USAGE[item]
        if maps.check_unit(uunit, cat["unit"]) * factor != 1:
            sys.exit(f"{item}: usage unit {uunit} x {factor} is not the billing unit")
        maps.check_unit(punit, cat["unit"])
        usage = sum((dec(l["usage_quantity"]) for l in ls), Decimal(0))
        ded = sum((dec(l["free_quantity"]) + dec(l["campaign_quantity"]) + dec(l["prepaid_quantity"])
                   for l in ls), Decimal(0))
        amount = sum((dec(l["amount"]) for l in ls), Decimal(0))
        if usage == 0 and amount == 0:
            continue  # nothing billable (e.g. script-to-video without a price): no row
        prices = {l["unit_price"] for l in ls if l["unit_price"] and dec(l["postpaid_quantity"]) != 0}
        if len(prices) != 1:
            sys.exit(f"{acct} {item}: expected one list price, got {prices}")
        price = Decimal(prices.pop())
        if (acct, item) == PLANT_AMOUNT:
            amount += PLANT_AMOUNT_DELTA  # (c) the vendor's monthly line is 0.01 off
        cur = ls[0]["currency"]
        r = {
            "Billing Cycle": PERIOD, "Account ID": acct, "Account Name": acct, "Owner ID": acct,
            "Product Code": ALIBABA_PRODUCT_CODE, "Product Name": ALIBABA_PRODUCT_NAME,
            "Product Detail": ALIBABA_PRODUCT_DETAIL, "Subscription Type": "Pay-As-You-Go",
            "Instance ID": NULL, "Region": "China (Shanghai)", "Billable Item": bi,
            "List Price": qty(price), "List Price Unit": f"{cur}/{punit}",
            "Usage": qty(usage * factor), "Usage Unit": uunit,
            "Deducted By Resource Plan": qty(ded * factor),
            "Pretax Gross Amount": money2(amount), "Discount": money2(Decimal(0)),
            "Coupon Deduction": money2(Decimal(0)), "Pretax Amount": money2(amount),
            "Currency": cur, "Primary Key": primary_key(PERIOD, acct, item),
        }
        texts = {"product": [norm(ALIBABA_PRODUCT_NAME), norm(ALIBABA_PRODUCT_CODE)],
                 "sub_product": [norm(ALIBABA_PRODUCT_DETAIL)], "component": [norm(bi)]}
        got, _ = maps.item("alibaba", texts)
        ct = maps.charge("subscription_type", r["Subscription Type"])
        if got != item or ct != "usage" or maps.currency(cur) != cur:
            sys.exit(f"sku-map.toml reads {ALIBABA_PRODUCT_NAME} / {bi} as {got} {ct}, not {item} usage")
        rows.append(r)
    return rows


# ---------------------------------------------------------------------------


def write_csv(path: pathlib.Path, header: list[str], rows: list[dict], title: str | None) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if title is not None:
        w.writerow([title])
    w.writerow(header)
    for r in rows:
        w.writerow([r[h] for h in header])
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("invoice_lines", nargs="?", default=str(ROOT / "out" / PERIOD / "invoice_lines.csv"))
    ap.add_argument("--out", default=str(OUT_DIR))
    ap.add_argument("--maps", default=str(MAP_DIR))
    ap.add_argument("--catalog", default=str(CATALOG_DIR))
    a = ap.parse_args()

    maps = Maps(pathlib.Path(a.maps))
    maps.check_header("tencent_bill_details", TENCENT_HEADER, TENCENT_IGNORED)
    maps.check_header("alibaba_billing_details", ALIBABA_HEADER, ALIBABA_IGNORED)
    catalog = load_catalog(pathlib.Path(a.catalog))

    with open(a.invoice_lines, newline="", encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    if not lines:
        sys.exit(f"{a.invoice_lines}: no invoice lines")
    for l in lines:
        if not l["cycle_start"].startswith(PERIOD):
            sys.exit(f"{a.invoice_lines}: a line outside {PERIOD}: {l['cycle_start']}")
    tencent = [l for l in lines if l["item"].startswith("tencent.")]
    alibaba = [l for l in lines if l["item"].startswith("alibaba.")]
    if len(tencent) + len(alibaba) != len(lines):
        sys.exit("invoice lines of an unknown vendor")

    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    trows = tencent_rows(tencent, maps, catalog)
    arows = alibaba_rows(alibaba, maps, catalog)
    write_csv(out / TENCENT_FILE, TENCENT_HEADER, trows, TENCENT_TITLE)
    write_csv(out / ALIBABA_FILE, ALIBABA_HEADER, arows, None)
    print(f"{out / TENCENT_FILE}: {len(trows)} rows")
    print(f"{out / ALIBABA_FILE}: {len(arows)} rows")


if __name__ == "__main__":
    main()
