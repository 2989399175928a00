//! Statement readers: each vendor form (Tencent bill details in English and
//! Chinese, Alibaba billing details, FOCUS, canonical, CSV and Parquet) is
//! normalised to reckon's lines; malformed files are errors naming the file and
//! what is missing; malformed rows are problems with row, column and reason.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use reckon::catalog::Catalog;
use reckon::recon_model::{Statement, StatementLine, StatementProblem};
use rust_decimal::Decimal;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalog() -> &'static Catalog {
    static CAT: OnceLock<Catalog> = OnceLock::new();
    CAT.get_or_init(|| {
        reckon::run::load_catalog(&root().join("data/catalog")).expect("shipped catalog loads")
    })
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn od(s: &str) -> Option<Decimal> {
    Some(d(s))
}

fn t(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn read(path: &Path) -> Statement {
    reckon::statement::read_statement(path, catalog(), &root().join("data/statements"))
        .expect("statement reads")
}

fn read_err(path: &Path) -> String {
    match reckon::statement::read_statement(path, catalog(), &root().join("data/statements")) {
        Ok(st) => panic!("expected an error, got {} lines", st.lines.len()),
        Err(e) => e.to_string(),
    }
}

fn by_id<'a>(st: &'a Statement, id: &str) -> &'a StatementLine {
    st.lines
        .iter()
        .find(|l| l.line_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no line {id} in {:#?}", st.lines))
}

/// The normalised figures of a line, for compact assertions:
/// (account, item, charge type, period, usage, deducted, billed, unit price, amount, currency).
type Figures = (
    String,
    String,
    String,
    String,
    Option<Decimal>,
    Option<Decimal>,
    Option<Decimal>,
    Option<Decimal>,
    Decimal,
    String,
);

fn figures(l: &StatementLine) -> Figures {
    (
        l.account_id.to_string(),
        l.item.as_deref().unwrap_or_default().to_string(),
        l.charge_type.to_string(),
        l.billing_period.to_string(),
        l.usage_quantity,
        l.deducted_quantity,
        l.billed_quantity,
        l.unit_price,
        l.amount,
        l.currency.to_string(),
    )
}

#[allow(clippy::too_many_arguments)]
fn fig(
    account: &str,
    item: &str,
    charge: &str,
    period: &str,
    usage: Option<Decimal>,
    deducted: Option<Decimal>,
    billed: Option<Decimal>,
    price: Option<Decimal>,
    amount: &str,
    currency: &str,
) -> Figures {
    (
        account.into(),
        item.into(),
        charge.into(),
        period.into(),
        usage,
        deducted,
        billed,
        price,
        d(amount),
        currency.into(),
    )
}

fn problem(
    file: &Path,
    row: u64,
    column: &str,
    value: Option<&str>,
    reason: &str,
) -> StatementProblem {
    StatementProblem {
        file: file.display().to_string(),
        row,
        column: column.into(),
        value: value.map(str::to_string),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------
// Tencent bill details

const TENCENT_EN: &str = "\
Payer Account ID,Owner Account ID,Product Name,Sub-product Name,Billing Mode,Transaction Type,Transaction ID,Transaction Time,Usage Start Time,Usage End Time,Instance Type,Component Name,Component List Price,Component Price Unit,Component Usage,Original Cost,Discount,Total Amount After Discount,Voucher Payment,Cash Payment,Free Credit Payment
100000000001,200000000001,Video Creation Large Model,Image Animate,Pay-as-you-go,Pay-as-you-go monthly settlement,T-0001,2026-11-02 10:00:00,2026-10-01 00:00:00,2026-10-31 23:59:59,-,Image Animate,3.80000000,USD/call,1095.00000000,4161.00000000,1,4161.00000000,0.00000000,4161.00000000,0.00000000
100000000001,200000000001,Video Creation Large Model,Image Animate,Resource package,Purchase,T-0002,2026-10-03 09:00:00,2026-10-03 09:00:00,2027-10-03 09:00:00,Image Animate Resource Package 100 calls,Image Animate,420.00000000,USD/package,3,\"1,260.00000000\",1,\"1,260.00000000\",0,\"$1,260.00\",0
100000000001,200000000001,Video Creation Large Model,Image Animate,Resource package,Refund,T-0003,2026-10-05 12:00:00,2026-10-03 09:00:00,-,Image Animate Resource Package 100 calls,Image Animate,420.00000000,USD/package,-1,-420.00000000,1,-420.00000000,0,-420.00000000,0
100000000001,200000000002,Video Creation Large Model,Image Animate,Monthly subscription,Purchase,T-0004,2026-10-01 00:00:00,2026-10-01 00:00:00,2026-10-31 23:59:59,-,Concurrent Tasks,7200.00000000,USD/task/month,2,14400.00000000,1,14400.00000000,0,14400.00000000,0
100000000001,200000000003,Image Creation Large Model,Image Style Transfer,Pay-as-you-go,Pay-as-you-go monthly settlement,T-0005,2026-12-01 10:00:00,2026-10-31T17:30:00Z,2026-11-30 23:59:59,-,Image Style Transfer,0.08000000,USD/picture,9950,796.00000000,1,796.00000000,0,796.00000000,0
100000000001,200000000004,Face Fusion,Image Face Fusion (Basic),Pay-as-you-go,Pay-as-you-go monthly settlement,T-0006,2026-11-01 10:00:00,2026-10-01 00:00:00,2026-10-31 23:59:59,-,Calls,0.06500000,USD/call,1000,-,1,-,10.00000000,55.00000000,0.00000000
";

#[test]
fn tencent_bill_details_english() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "tencent-en.csv", TENCENT_EN);
    let st = read(&p);
    assert_eq!(st.problems, vec![], "no problems");
    assert_eq!(st.lines.len(), 6);

    let l = by_id(&st, "T-0001");
    assert_eq!(
        figures(l),
        fig(
            "200000000001",
            "tencent.image_animate",
            "usage",
            "2026-10",
            None,
            None,
            od("1095"),
            od("3.8"),
            "4161",
            "USD"
        )
    );
    assert_eq!((l.format, l.source_row), ("tencent_bill_details", 2));
    assert_eq!(&*l.source_file, p.display().to_string());
    assert_eq!(l.vendor_sku, "Video Creation Large Model / Image Animate");
    assert_eq!(l.cycle_start, Some(t("2026-10-01T00:00:00+08:00")));

    // A resource package bought: a purchase of 3 packages, money with separators and `$`.
    assert_eq!(
        figures(by_id(&st, "T-0002")),
        fig(
            "200000000001",
            "tencent.image_animate",
            "purchase",
            "2026-10",
            od("3"),
            None,
            od("3"),
            od("420"),
            "1260",
            "USD"
        )
    );
    // Refunds stay negative.
    assert_eq!(
        figures(by_id(&st, "T-0003")),
        fig(
            "200000000001",
            "tencent.image_animate",
            "refund",
            "2026-10",
            od("-1"),
            None,
            od("-1"),
            od("420"),
            "-420",
            "USD"
        )
    );
    // A concurrency purchase is a subscription line of the subscription item.
    assert_eq!(
        figures(by_id(&st, "T-0004")),
        fig(
            "200000000002",
            "tencent.image_animate.concurrency",
            "subscription",
            "2026-10",
            od("2"),
            None,
            od("2"),
            od("7200"),
            "14400",
            "USD"
        )
    );
    // Usage starting 2026-10-31T17:30Z is November in UTC+08:00.
    let l = by_id(&st, "T-0005");
    assert_eq!(
        figures(l),
        fig(
            "200000000003",
            "tencent.style_transfer",
            "usage",
            "2026-11",
            None,
            None,
            od("9950"),
            od("0.08"),
            "796",
            "USD"
        )
    );
    assert_eq!(l.cycle_start, Some(t("2026-10-31T17:30:00Z")));
    // No total: the amount is the sum of the payments.
    assert_eq!(
        figures(by_id(&st, "T-0006")),
        fig(
            "200000000004",
            "tencent.face_fusion.image_basic",
            "usage",
            "2026-10",
            None,
            None,
            od("1000"),
            od("0.065"),
            "65",
            "USD"
        )
    );
    // Only settled usage in the export: the notes say what cannot be checked.
    assert!(
        st.notes.iter().any(
            |n| n.contains("package deduction can only be checked against reckon's own ledger")
        ),
        "{:?}",
        st.notes
    );
}

const TENCENT_ZH: &str = "\u{feff}账单明细,2026年10月
账号ID,使用者账号ID,产品名称,子产品名称,计费模式,交易类型,交易ID,扣费时间,使用开始时间,使用结束时间,实例类型,组件名称,组件刊例价,组件价格单位,原始用量,抵扣用量,组件用量,原价,折扣率,优惠后总价,代金券支付,现金账户支付,赠送账户支付,币种
100001,300001,视频理解,媒体智能标签,按量计费,按量计费日结,C-001,2026-10-06 03:00:00,2026-10-05 00:00:00,2026-10-05 23:59:59,-,视频智能标签,0.00250000,元/秒,9000,6000,3000,7.50000000,1,7.50000000,0,7.50000000,0,人民币
100001,300002,人脸融合,图片人脸融合（基础版）,按量计费,按量计费月结,C-002,2026-11-01 08:00:00,2026-10-01 00:00:00,2026-10-31 23:59:59,-,调用次数,0.06500000,USD/次,1500,1000,500,32.50000000,1,32.50000000,0,32.50000000,0,USD
100001,300002,人脸融合,视频人脸融合（单脸）,按量计费,按量计费月结,C-003,2026-11-01 08:00:00,2026-10-01 00:00:00,2026-10-31 23:59:59,-,调用次数,0.20000000,USD/次,210,200,10,2.00000000,1,2.00000000,0,2.00000000,0,美元
100001,300003,图像创作大模型,图像风格化,资源包,新购,C-004,2026-10-08 10:00:00,2026-10-08 10:00:00,2027-10-08 10:00:00,图像风格化资源包1000张,图像风格化,75.00000000,USD/个,-,-,1,75.00000000,1,75.00000000,0,75.00000000,0,USD
100001,300003,图像创作大模型,图像风格化,资源包,退费,C-005,2026-10-09 10:00:00,2026-10-08 10:00:00,-,图像风格化资源包1000张,图像风格化,75.00000000,USD/个,-,-,-1,-75.00000000,1,-75.00000000,0,-75.00000000,0,USD
100001,300004,云服务器,标准型S5,按量计费,按量计费小时结,C-006,2026-10-02 01:00:00,2026-10-02 00:00:00,2026-10-02 00:59:59,-,CPU,0.10000000,元/核/小时,4,-,4,0.40000000,1,0.40000000,0,0.40000000,0,人民币
合计,,,,,,,,,,,,,,,,,117.40000000,,117.40000000,,,,
";

#[test]
fn tencent_bill_details_chinese_with_title_line_and_bom() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "tencent-zh.csv", TENCENT_ZH);
    let st = read(&p);
    // The cloud server line has no mapping: reported with the vendor's text, not dropped silently.
    assert_eq!(
        st.problems,
        vec![problem(
            &p,
            8,
            "组件名称",
            Some("云服务器 / 标准型S5 / CPU"),
            "unmapped_sku"
        )]
    );
    assert_eq!(st.lines.len(), 5);

    // Raw and deducted measures are in the export: all three quantities, in
    // minutes (seconds / 60) at 0.0025 per second = 0.15 per minute.
    let l = by_id(&st, "C-001");
    assert_eq!(
        figures(l),
        fig(
            "300001",
            "tencent.video_tags",
            "usage",
            "2026-10",
            od("150"),
            od("100"),
            od("50"),
            od("0.15"),
            "7.5",
            "CNY"
        )
    );
    assert_eq!(
        l.source_row, 3,
        "title line 1, header line 2, first data row 3"
    );
    assert_eq!(l.cycle_start, Some(t("2026-10-05T00:00:00+08:00")));
    assert_eq!(l.vendor_sku, "视频理解 / 媒体智能标签 / 视频智能标签");

    assert_eq!(
        figures(by_id(&st, "C-002")),
        fig(
            "300002",
            "tencent.face_fusion.image_basic",
            "usage",
            "2026-10",
            od("1500"),
            od("1000"),
            od("500"),
            od("0.065"),
            "32.5",
            "USD"
        )
    );
    assert_eq!(
        figures(by_id(&st, "C-003")),
        fig(
            "300002",
            "tencent.face_fusion.video_single",
            "usage",
            "2026-10",
            od("210"),
            od("200"),
            od("10"),
            od("0.2"),
            "2",
            "USD"
        )
    );
    assert_eq!(
        figures(by_id(&st, "C-004")),
        fig(
            "300003",
            "tencent.style_transfer",
            "purchase",
            "2026-10",
            od("1"),
            None,
            od("1"),
            od("75"),
            "75",
            "USD"
        )
    );
    assert_eq!(
        figures(by_id(&st, "C-005")),
        fig(
            "300003",
            "tencent.style_transfer",
            "refund",
            "2026-10",
            od("-1"),
            None,
            od("-1"),
            od("75"),
            "-75",
            "USD"
        )
    );
    // The totals row is skipped and said so; raw/deducted present: no deduction note.
    assert!(
        st.notes
            .iter()
            .any(|n| n.contains("1 totals row(s) skipped (first at line 9)")),
        "{:?}",
        st.notes
    );
    assert!(
        !st.notes.iter().any(|n| n.contains("package deduction")),
        "{:?}",
        st.notes
    );
}

#[test]
fn tencent_repeated_transaction_ids_get_distinct_line_ids() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
Owner Account ID,Product Name,Transaction Type,Transaction ID,Usage Start Time,Component Name,Component Price Unit,Component Usage,Total Amount After Discount
a1,Face Fusion,Pay-as-you-go settlement,TX-1,2026-10-01 00:00:00,Image Face Fusion (Basic),USD/call,10,0.65
a1,Face Fusion,Pay-as-you-go settlement,TX-1,2026-10-01 00:00:00,Video Face Fusion (Single Face),USD/call,10,2.00
a1,Face Fusion,Pay-as-you-go settlement,TX-2,2026-10-01 00:00:00,Video Face Fusion (Single Face),USD/call,1,0.20
";
    let p = write(dir.path(), "tx.csv", text);
    let st = read(&p);
    assert_eq!(st.problems, vec![]);
    let ids: Vec<&str> = st
        .lines
        .iter()
        .map(|l| l.line_id.as_deref().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            "TX-1/Image Face Fusion (Basic)/2026-10-01 00:00:00",
            "TX-1/Video Face Fusion (Single Face)/2026-10-01 00:00:00",
            "TX-2"
        ]
    );
    assert_eq!(
        st.lines[1].item.as_deref(),
        Some("tencent.face_fusion.video_single")
    );
}

// ---------------------------------------------------------------------------
// Alibaba billing details

const ALIBABA_EN: &str = "\
Billing Cycle,Account ID,Owner ID,Product Code,Product,Subscription Type,Instance ID,Billable Item Code,Billable Item,List Price,List Price Unit,Usage,Usage Unit,Pretax Gross Amount,Discount,Coupons Deduction,Pretax Amount,Deducted By Resource Plan,Currency,Primary Key
2026-10,5001,5001,ice,Intelligent Media Services,Pay-As-You-Go,ims-1,ImageTextCommon,Image-Text Matching (Common Scenarios),0.3,CNY/Minute,100,Minute,24.00,0.00,0.00,24.00,20 minutes,CNY,PK-1
2026-10,5001,5001,ice,Intelligent Media Services,Pay-As-You-Go,ims-1,ImageTextCommon,Image-Text Matching (Common Scenarios),0.25,CNY/Minute,50,Minute,12.50,0.00,0.00,12.50,-,CNY,PK-2
2026-10,5001,5001,ice,Intelligent Media Services,Pay-As-You-Go,ims-1,TextGeneration,Intelligent Text Generation,0.00012,CNY/Token,2500,Token,0.18,0,0,0.18,1000,CNY,PK-3
2026-10,5001,5001,ice,Intelligent Media Services,Pay-As-You-Go,ims-1,HighlightExtraction,Highlight Extraction,2,CNY/Minute,300,Second,6.00,0,0,6.00,2 minutes,CNY,PK-4
2026-10,5001,5002,ice,Intelligent Media Services,Subscription,rp-1,TextGeneration,Intelligent Text Generation,100,CNY/package,1,package,100.00,0,0,100.00,-,CNY,PK-5
2026-10,5001,5001,ice,Intelligent Media Services,Pay-As-You-Go,ims-1,HighlightExtraction,Highlight Extraction,2,CNY/Minute,3,GB,6.00,0,0,6.00,-,CNY,PK-6
";

#[test]
fn alibaba_billing_details_with_tier_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "alibaba.csv", ALIBABA_EN);
    let st = read(&p);
    // A unit reckon does not know: reported, the line kept without quantities.
    assert_eq!(
        st.problems,
        vec![problem(&p, 7, "Usage Unit", Some("GB"), "unknown_unit")]
    );
    assert_eq!(st.lines.len(), 6);

    // One billable item, two tier lines: both kept, each with its own key.
    let a = by_id(&st, "PK-1");
    assert_eq!(
        figures(a),
        fig(
            "5001",
            "alibaba.ims.image_text.common",
            "usage",
            "2026-10",
            od("100"),
            od("20"),
            od("80"),
            od("0.3"),
            "24",
            "CNY"
        )
    );
    assert_eq!((a.format, a.source_row), ("alibaba_billing_details", 2));
    assert_eq!(
        a.vendor_sku,
        "Intelligent Media Services / Image-Text Matching (Common Scenarios)"
    );
    assert_eq!(
        figures(by_id(&st, "PK-2")),
        fig(
            "5001",
            "alibaba.ims.image_text.common",
            "usage",
            "2026-10",
            od("50"),
            od("0"),
            od("50"),
            od("0.25"),
            "12.5",
            "CNY"
        )
    );
    let tiers: Decimal = st
        .lines
        .iter()
        .filter(|l| l.item.as_deref() == Some("alibaba.ims.image_text.common"))
        .map(|l| l.amount)
        .sum();
    assert_eq!(tiers, d("36.50"));
    // Tokens → thousands of tokens; a bare "1000" deducted is in the usage unit.
    assert_eq!(
        figures(by_id(&st, "PK-3")),
        fig(
            "5001",
            "alibaba.ims.text_generation",
            "usage",
            "2026-10",
            od("2.5"),
            od("1"),
            od("1.5"),
            od("0.12"),
            "0.18",
            "CNY"
        )
    );
    // Seconds → minutes; "2 minutes" deducted in its own unit.
    assert_eq!(
        figures(by_id(&st, "PK-4")),
        fig(
            "5001",
            "alibaba.ims.highlight_extraction",
            "usage",
            "2026-10",
            od("5"),
            od("2"),
            od("3"),
            od("2"),
            "6",
            "CNY"
        )
    );
    // A subscription (resource plan) line is a purchase; the owner is the account.
    assert_eq!(
        figures(by_id(&st, "PK-5")),
        fig(
            "5002",
            "alibaba.ims.text_generation",
            "purchase",
            "2026-10",
            od("1"),
            None,
            od("1"),
            od("100"),
            "100",
            "CNY"
        )
    );
    let l = by_id(&st, "PK-6");
    assert_eq!(
        (l.usage_quantity, l.billed_quantity, l.amount),
        (None, None, d("6"))
    );
}

#[test]
fn alibaba_billing_details_chinese() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
账期,账号ID,产品Code,产品,消费类型,计费项,定价,单价单位,用量,用量单位,原价,优惠金额,优惠券抵扣,应付金额,资源包抵扣,币种,主键
2026-10,6001,ice,智能媒体服务,后付费,高光提取,2,元/分钟,90,秒,3.00,0,0,3.00,-,人民币,PK-CN-1
2026-10,6001,ice,智能媒体服务,后付费,智能文本生成,0.12,元/千Tokens,3,千Tokens,0.36,0,0,0.36,1千Tokens,人民币,PK-CN-2
";
    let p = write(dir.path(), "alibaba-zh.csv", text);
    let st = read(&p);
    assert_eq!(st.problems, vec![]);
    assert_eq!(
        figures(by_id(&st, "PK-CN-1")),
        fig(
            "6001",
            "alibaba.ims.highlight_extraction",
            "usage",
            "2026-10",
            od("1.5"),
            od("0"),
            od("1.5"),
            od("2"),
            "3",
            "CNY"
        )
    );
    assert_eq!(
        figures(by_id(&st, "PK-CN-2")),
        fig(
            "6001",
            "alibaba.ims.text_generation",
            "usage",
            "2026-10",
            od("3"),
            od("1"),
            od("2"),
            od("0.12"),
            "0.36",
            "CNY"
        )
    );
}

// ---------------------------------------------------------------------------
// FOCUS

const FOCUS_CSV: &str = "\
BillingAccountId,SubAccountId,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,ChargeFrequency,BilledCost,EffectiveCost,ListCost,ListUnitPrice,PricingQuantity,PricingUnit,ConsumedQuantity,BillingCurrency,SkuId,SkuPriceId,CommitmentDiscountId,CommitmentDiscountStatus,ServiceName,x_LineId
payer,acct-1,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Usage,,Usage-Based,0,0,24.00,4.8,5,Calls,5,USD,tencent.image_animate,,pkg-free-1,Used,Video Creation Large Model,F1
payer,acct-1,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Usage,,Usage-Based,4161.00,4161.00,4161.00,3.8,1095,Calls,1095,USD,tencent.image_animate,,,,Video Creation Large Model,F2
payer,acct-1,2026-09-30T16:00:00Z,2026-10-03T01:00:00Z,2026-10-31T16:00:00Z,Purchase,,One-Time,1260.00,0,1260.00,420,3,Packages,,USD,tencent.image_animate,,pkg-1,,Video Creation Large Model,F3
payer,acct-1,2026-09-30T16:00:00Z,2026-10-05T04:00:00Z,2026-10-31T16:00:00Z,Credit,,One-Time,-420.00,0,-420.00,420,-1,Packages,,USD,tencent.image_animate,,pkg-1,,Video Creation Large Model,F4
payer,acct-2,2026-09-30T16:00:00Z,2026-10-05T04:00:00Z,2026-10-31T16:00:00Z,Purchase,Correction,One-Time,-420.00,0,-420.00,420,-1,Packages,,USD,tencent.image_animate,,pkg-2,,Video Creation Large Model,F5
payer,acct-2,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Purchase,,Recurring,14400.00,14400.00,14400.00,7200,2,Concurrent Tasks,,USD,Image Animate Concurrency,,,,Video Creation Large Model,F6
payer,acct-3,2026-09-30T16:00:00Z,2026-10-05T00:00:00Z,2026-10-06T00:00:00Z,Usage,,Usage-Based,0.23,0.23,0.225,0.0025,90,Seconds,90,CNY,视频智能标签,,,,Video Understanding,F7
payer,,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Usage,,Usage-Based,0.20,0.20,0.20,0.2,1,Calls,1,USD,tencent.face_fusion.video_single,,,,Face Fusion,F8
payer,acct-1,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Tax,,One-Time,12.00,12.00,12.00,,,,,USD,tencent.image_animate,,,,Video Creation Large Model,F9
payer,acct-1,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Usage,,Usage-Based,1.00,1.00,1.00,1,1,Calls,1,USD,Mystery SKU,,,,Mystery Service,F10
payer,acct-1,2026-09-30T16:00:00Z,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,Adjustment,,One-Time,-5.00,-5.00,-5.00,,,,,USD,tencent.image_animate,,,,Video Creation Large Model,F11
";

#[test]
fn focus_csv() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "focus.csv", FOCUS_CSV);
    let st = read(&p);
    assert_eq!(
        st.problems,
        vec![
            problem(&p, 10, "ChargeCategory", Some("Tax"), "unknown_charge_type"),
            problem(
                &p,
                11,
                "SkuId",
                Some("Mystery Service / Mystery SKU"),
                "unmapped_sku"
            ),
        ]
    );
    assert_eq!(st.lines.len(), 9);
    let ia = "tencent.image_animate";
    // Committed (package) usage: deducted; postpaid usage: billed.
    let l = by_id(&st, "F1");
    assert_eq!(
        figures(l),
        fig(
            "acct-1",
            ia,
            "usage",
            "2026-10",
            od("5"),
            od("5"),
            od("0"),
            None,
            "0",
            "USD"
        )
    );
    assert_eq!((l.format, l.source_row), ("focus", 2));
    assert_eq!(l.cycle_start, Some(t("2026-09-30T16:00:00Z")));
    assert_eq!(
        figures(by_id(&st, "F2")),
        fig(
            "acct-1",
            ia,
            "usage",
            "2026-10",
            od("1095"),
            od("0"),
            od("1095"),
            od("3.8"),
            "4161",
            "USD"
        )
    );
    assert_eq!(
        figures(by_id(&st, "F3")),
        fig(
            "acct-1",
            ia,
            "purchase",
            "2026-10",
            od("3"),
            None,
            od("3"),
            od("420"),
            "1260",
            "USD"
        )
    );
    // Credit and a negative purchase are refunds, kept negative.
    assert_eq!(
        figures(by_id(&st, "F4")),
        fig(
            "acct-1",
            ia,
            "refund",
            "2026-10",
            od("-1"),
            None,
            od("-1"),
            od("420"),
            "-420",
            "USD"
        )
    );
    assert_eq!(
        figures(by_id(&st, "F5")),
        fig(
            "acct-2",
            ia,
            "refund",
            "2026-10",
            od("-1"),
            None,
            od("-1"),
            od("420"),
            "-420",
            "USD"
        )
    );
    // A vendor SKU name mapped to a subscription item; a recurring purchase.
    assert_eq!(
        figures(by_id(&st, "F6")),
        fig(
            "acct-2",
            "tencent.image_animate.concurrency",
            "subscription",
            "2026-10",
            od("2"),
            None,
            od("2"),
            od("7200"),
            "14400",
            "USD"
        )
    );
    // Seconds → minutes, price per second → per minute.
    assert_eq!(
        figures(by_id(&st, "F7")),
        fig(
            "acct-3",
            "tencent.video_tags",
            "usage",
            "2026-10",
            od("1.5"),
            od("0"),
            od("1.5"),
            od("0.15"),
            "0.23",
            "CNY"
        )
    );
    // No SubAccountId: the billing account.
    assert_eq!(by_id(&st, "F8").account_id, "payer");
    assert_eq!(
        figures(by_id(&st, "F11")),
        fig(
            "acct-1",
            ia,
            "adjustment",
            "2026-10",
            None,
            None,
            None,
            None,
            "-5",
            "USD"
        )
    );
}

#[test]
fn focus_without_line_ids_gets_row_keys() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
BillingAccountId,BillingPeriodStart,ChargeCategory,BilledCost,BillingCurrency,SkuId,PricingQuantity,PricingUnit
a1,2026-10-01T00:00:00+08:00,Usage,0.65,USD,tencent.face_fusion.image_basic,10,Calls
";
    let p = write(dir.path(), "f.csv", text);
    let st = read(&p);
    assert_eq!(st.lines[0].line_id.as_deref(), Some("f.csv#2"));
    assert_eq!(st.lines[0].billing_period, "2026-10");
}

// ---------------------------------------------------------------------------
// Canonical

#[test]
fn canonical_round_trips_what_reckon_writes() {
    let dir = tempfile::tempdir().unwrap();
    // Seconds / 60 as reckon writes them: 28 decimals, or 29 significant digits.
    let third = Decimal::from(2) / Decimal::from(60);
    let long = Decimal::from(27724) / Decimal::from(60);
    assert_eq!(long.to_string(), "462.06666666666666666666666667");
    let mk = |id: &str,
              item: &str,
              ct: &str,
              usage: Option<Decimal>,
              ded: Option<Decimal>,
              billed: Option<Decimal>,
              price: Option<Decimal>,
              amount: &str,
              cur: &str| StatementLine {
        source_file: "generated".into(),
        source_row: 0,
        line_id: Some(id.into()),
        format: "canonical",
        account_id: "acct-9".into(),
        item: Some(item.into()),
        vendor_sku: item.into(),
        charge_type: ct.into(),
        billing_period: "2026-10".into(),
        cycle_start: None,
        usage_quantity: usage,
        deducted_quantity: ded,
        billed_quantity: billed,
        unit_price: price,
        amount: d(amount),
        currency: cur.into(),
    };
    let lines = vec![
        mk(
            "L1",
            "tencent.video_tags",
            "usage",
            Some(third),
            Some(Decimal::ZERO),
            Some(third),
            od("0.15"),
            "0.00",
            "CNY",
        ),
        mk(
            "L5",
            "tencent.audio_tags",
            "usage",
            Some(long),
            Some(Decimal::ZERO),
            Some(long),
            od("0"),
            "0.00",
            "CNY",
        ),
        mk(
            "L2",
            "tencent.image_animate",
            "purchase",
            od("1"),
            None,
            od("1"),
            od("420"),
            "420",
            "USD",
        ),
        mk(
            "L3",
            "tencent.image_animate",
            "refund",
            od("-1"),
            None,
            od("-1"),
            od("420"),
            "-420",
            "USD",
        ),
        mk(
            "L4",
            "tencent.face_fusion.image_basic.qps",
            "subscription",
            od("62"),
            None,
            od("62"),
            od("75"),
            "4650",
            "USD",
        ),
    ];
    let p = dir.path().join("statement.csv");
    reckon::faults::write_canonical(&p, &lines).unwrap();
    let st = read(&p);
    assert_eq!(st.problems, vec![]);
    assert_eq!(st.lines.len(), 5);
    for (got, want) in st.lines.iter().zip(&lines) {
        assert_eq!(figures(got), figures(want));
        assert_eq!(got.line_id, want.line_id);
        assert_eq!(got.format, "canonical");
    }
    assert_eq!(
        st.lines[0].usage_quantity,
        Some(third),
        "28 decimals kept exactly"
    );
    assert_eq!(
        st.lines[1].usage_quantity,
        Some(long),
        "29 significant digits kept exactly"
    );
    assert_eq!(st.lines[4].source_row, 6);
}

// ---------------------------------------------------------------------------
// Malformed statements

#[test]
fn row_problems_are_reported_with_row_column_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
account_id,item,charge_type,billing_period,usage_quantity,deducted_quantity,billed_quantity,unit_price,amount,currency,line_id
a1,tencent.image_animate,usage,2026-10,10,0,10,4.8,48.00,EUR,R1
a1,mystery.item,usage,2026-10,1,0,1,1,1.00,USD,R2
a1,tencent.image_animate,usage,2026-10,10,0,10,4.8,1e3,USD,R3
a1,tencent.image_animate,usage,2026-10,10,0,10,4.8,48.000000001,USD,R4
a1,tencent.image_animate,refund,2026-10,-1,,-1,420,-420.00,USD,R5
,tencent.image_animate,usage,2026-10,1,0,1,4.8,4.80,USD,R6
a1,tencent.image_animate,usage,Oct 2026,1,0,1,4.8,4.80,USD,R7
a1,tencent.image_animate,usage,2026-10,abc,0,1,4.8,\"$1,004.80\",USD,R8
a1,tencent.image_animate,bonus,2026-10,1,0,1,4.8,4.80,USD,R9
a1,tencent.image_animate,usage,2026-10,1,0,1,4.8,,USD,R10
";
    let p = write(dir.path(), "bad.csv", text);
    let st = read(&p);
    assert_eq!(
        st.problems,
        vec![
            problem(&p, 2, "currency", Some("EUR"), "unknown_currency"),
            problem(&p, 3, "item", Some("mystery.item"), "unmapped_sku"),
            problem(&p, 4, "amount", Some("1e3"), "bad_decimal"),
            problem(&p, 5, "amount", Some("48.000000001"), "bad_decimal"),
            problem(&p, 7, "account_id", None, "missing_value"),
            problem(&p, 8, "billing_period", Some("Oct 2026"), "bad_period"),
            problem(&p, 9, "usage_quantity", Some("abc"), "bad_decimal"),
            problem(&p, 10, "charge_type", Some("bonus"), "unknown_charge_type"),
            problem(&p, 11, "amount", None, "missing_value"),
        ]
    );
    // The refund is kept, negative; the bad quantity leaves only that field empty.
    let ids: Vec<&str> = st
        .lines
        .iter()
        .map(|l| l.line_id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, vec!["R5", "R8"]);
    assert_eq!(by_id(&st, "R5").amount, d("-420"));
    assert_eq!(by_id(&st, "R5").charge_type, "refund");
    let r8 = by_id(&st, "R8");
    assert_eq!(
        (r8.usage_quantity, r8.billed_quantity, r8.amount),
        (None, od("1"), d("1004.80"))
    );
}

#[test]
fn tencent_bad_amounts_name_the_chinese_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
使用者账号ID,产品名称,子产品名称,交易类型,交易ID,使用开始时间,组件名称,组件价格单位,组件用量,优惠后总价,币种
u1,视频创作大模型,图片跳舞,按量计费月结,X1,2026-10-01 00:00:00,图片跳舞,USD/次,100,1E2,USD
u1,视频创作大模型,图片跳舞,按量计费月结,X2,2026-10-01 00:00:00,图片跳舞,USD/次,100,420.123456789,USD
u1,视频创作大模型,图片跳舞,按量计费月结,X3,2026-10-01 00:00:00,图片跳舞,USD/次,100,420.00,欧元
u1,视频创作大模型,图片跳舞,冲销,X4,2026-10-01 00:00:00,图片跳舞,USD/次,100,420.00,USD
u1,视频创作大模型,图片跳舞,按量计费月结,X5,下个月,图片跳舞,USD/次,100,420.00,USD
u1,视频创作大模型,图片跳舞,按量计费月结,X6,2026-10-01 00:00:00,图片跳舞,USD/次,100,420.00,USD
";
    let p = write(dir.path(), "zh-bad.csv", text);
    let st = read(&p);
    assert_eq!(
        st.problems,
        vec![
            problem(&p, 2, "优惠后总价", Some("1E2"), "bad_decimal"),
            problem(&p, 3, "优惠后总价", Some("420.123456789"), "bad_decimal"),
            problem(&p, 4, "币种", Some("欧元"), "unknown_currency"),
            problem(&p, 5, "交易类型", Some("冲销"), "unknown_charge_type"),
            problem(&p, 6, "使用开始时间", Some("下个月"), "bad_period"),
        ]
    );
    assert_eq!(st.lines.len(), 1);
    assert_eq!(st.lines[0].line_id.as_deref(), Some("X6"));
    assert_eq!(st.lines[0].billed_quantity, od("100"));
}

#[test]
fn missing_required_columns_are_an_error_naming_file_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    // A Tencent export without component name and transaction type / billing mode.
    let text = "\
Payer Account ID,Owner Account ID,Product Name,Transaction ID,Usage Start Time,Component Usage,Total Amount After Discount
1,2,Face Fusion,T1,2026-10-01 00:00:00,10,0.65
";
    let p = write(dir.path(), "no-component.csv", text);
    let e = read_err(&p);
    assert!(e.contains("no-component.csv"), "{e}");
    assert!(
        e.contains(
            "tencent_bill_details (missing: component_name (\"Component Name\" / \"组件名称\")"
        ),
        "{e}"
    );
    assert!(e.contains("transaction_type"), "{e}");
    for f in ["alibaba_billing_details", "focus", "canonical"] {
        assert!(e.contains(f), "{e}");
    }
}

#[test]
fn unreadable_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "random.csv", "foo,bar\n1,2\n");
    let e = read_err(&p);
    assert!(
        e.contains("random.csv") && e.contains("no known statement format fits"),
        "{e}"
    );

    let p = dir.path().join("gbk.csv");
    std::fs::write(&p, b"\xd5\xcb\xba\xc5ID,x\n1,2\n").unwrap();
    let e = read_err(&p);
    assert!(e.contains("not UTF-8"), "{e}");

    let p = write(dir.path(), "empty.csv", "");
    assert!(read_err(&p).contains("empty"));

    let e = read_err(&dir.path().join("absent.csv"));
    assert!(e.contains("absent.csv"), "{e}");

    let p = write(dir.path(), "broken.parquet", "PAR1 not really");
    assert!(read_err(&p).contains("Parquet"));
}

#[test]
fn a_directory_is_read_whole_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b-tencent.csv", TENCENT_EN);
    write(dir.path(), "a-alibaba.csv", ALIBABA_EN);
    write(dir.path(), "README.txt", "not a statement");
    let st = read(dir.path());
    assert_eq!(st.lines.len(), 12);
    assert!(st.lines[..6]
        .iter()
        .all(|l| l.format == "alibaba_billing_details"));
    assert!(st.lines[6..]
        .iter()
        .all(|l| l.format == "tencent_bill_details"));
    assert_eq!(st.problems.len(), 1);

    let empty = tempfile::tempdir().unwrap();
    assert!(read_err(empty.path()).contains("no .csv or .parquet"));
}

// ---------------------------------------------------------------------------
// Parquet

fn write_parquet(path: &Path, df: &mut polars::prelude::DataFrame) {
    use polars::prelude::ParquetWriter;
    let f = std::fs::File::create(path).unwrap();
    ParquetWriter::new(f).finish(df).unwrap();
}

#[test]
fn parquet_focus_with_typed_columns() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let start = t("2026-09-30T16:00:00Z");
    let mut df = df!(
        "BillingAccountId" => ["a1", "a1"],
        "ChargeCategory" => ["Usage", "Purchase"],
        "BilledCost" => ["4161.00", "420.00"],
        "BillingCurrency" => ["USD", "USD"],
        "SkuId" => ["tencent.image_animate", "tencent.image_animate"],
        "PricingQuantity" => [1095i64, 1],
        "PricingUnit" => ["Calls", "Packages"],
        "ListUnitPrice" => ["3.8", "420"],
        "BillingPeriodStart" => [start, start],
        "x_LineId" => ["P1", "P2"],
    )
    .unwrap();
    let ts = df
        .column("BillingPeriodStart")
        .unwrap()
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap();
    df.with_column(ts).unwrap();
    // Money as a Decimal(10, 2) column.
    let price = df
        .column("ListUnitPrice")
        .unwrap()
        .cast(&DataType::Decimal(10, 2))
        .unwrap();
    assert_eq!(price.dtype(), &DataType::Decimal(10, 2));
    df.with_column(price).unwrap();
    let p = dir.path().join("focus.parquet");
    write_parquet(&p, &mut df);
    let st = read(&p);
    assert_eq!(st.problems, vec![]);
    let l = by_id(&st, "P1");
    assert_eq!(
        figures(l),
        fig(
            "a1",
            "tencent.image_animate",
            "usage",
            "2026-10",
            od("1095"),
            od("0"),
            od("1095"),
            od("3.8"),
            "4161",
            "USD"
        )
    );
    assert_eq!(l.source_row, 2);
    assert_eq!(by_id(&st, "P2").charge_type, "purchase");
}

#[test]
fn parquet_float_money_is_refused() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let mut df = df!(
        "BillingAccountId" => ["a1"],
        "ChargeCategory" => ["Usage"],
        "BilledCost" => [4161.0f64],
        "BillingCurrency" => ["USD"],
        "SkuId" => ["tencent.image_animate"],
        "BillingPeriodStart" => ["2026-09-30T16:00:00Z"],
    )
    .unwrap();
    let p = dir.path().join("float.parquet");
    write_parquet(&p, &mut df);
    let e = read_err(&p);
    assert!(
        e.contains("float.parquet") && e.contains("BilledCost") && e.contains("float"),
        "{e}"
    );
}

#[test]
fn a_statement_read_in_pieces_has_the_lines_of_reading_it_whole() {
    // 40,000 canonical lines (about 5 MB of CSV, several pieces of text).
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<StatementLine> = (0..40_000)
        .map(|n| StatementLine {
            source_file: "generated".into(),
            source_row: 0,
            line_id: Some(format!("L{n}").into()),
            format: "canonical",
            account_id: format!("acct-{}", n % 97).into(),
            item: Some("tencent.video_tags".into()),
            vendor_sku: "tencent.video_tags".into(),
            charge_type: "usage".into(),
            billing_period: "2026-10".into(),
            cycle_start: None,
            usage_quantity: Some(Decimal::from(n)),
            deducted_quantity: Some(Decimal::ZERO),
            billed_quantity: Some(Decimal::from(n)),
            unit_price: od("0.15"),
            amount: Decimal::from(n) * d("0.15"),
            currency: "CNY".into(),
        })
        .collect();
    let p = dir.path().join("statement.csv");
    reckon::faults::write_canonical(&p, &lines).unwrap();
    let whole = read(&p);
    let pieces =
        reckon::statement::read_statement_in_pieces(&p, catalog(), &root().join("data/statements"))
            .unwrap();
    assert_eq!(whole.lines.len(), 40_000);
    assert!(whole.pieces.is_empty());
    assert!(pieces.lines.is_empty());
    assert!(pieces.pieces.len() > 1, "{} pieces", pieces.pieces.len());
    assert_eq!(pieces.len(), 40_000);
    assert!(pieces.all_lines().eq(whole.lines.iter()));
    use rayon::prelude::*;
    let collected: Vec<&StatementLine> = pieces.par_lines().collect();
    assert!(collected.into_iter().eq(whole.all_lines()));
    assert_eq!(pieces.problems, whole.problems);
    assert_eq!(pieces.notes, whole.notes);
}
