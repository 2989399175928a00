//! The shipped price catalog (`data/catalog`) and the catalog loader:
//! every number of billing-rules.md sections 2.1–2.5 is in the catalog, the
//! catalog checks clean, `check` catches each kind of problem, `show` cites
//! sources, regional and user-supplied price lists are picked correctly.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::DateTime;
use reckon::catalog::{self, Catalog, Cycle, Item, Measure, Postpaid, PriceList, TierMode};
use reckon::catalog_load::{self, check, show, validity_micros};
use rust_decimal::Decimal;

// ---------------------------------------------------------------------------
// Helpers

fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/catalog")
}

fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/catalog-examples/video-editing-prices.example.toml")
}

fn shipped() -> Catalog {
    catalog_load::load(&catalog_dir()).expect("the shipped catalog loads")
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("bad decimal {s:?}: {e}"))
}

fn item<'a>(cat: &'a Catalog, id: &str) -> &'a Item {
    cat.item(id).unwrap_or_else(|| panic!("no item {id}")).1
}

/// `(from, to, unit_price)` of a tier list, normalised for comparison.
type TierRow = (Decimal, Option<Decimal>, Decimal);

fn tier_rows(tiers: &[catalog::Tier]) -> Vec<TierRow> {
    tiers
        .iter()
        .map(|t| {
            (
                t.from.normalize(),
                t.to.map(|x| x.normalize()),
                t.unit_price.normalize(),
            )
        })
        .collect()
}

/// Expected tiers from `(from, to, price)` strings; `to = ""` for open-ended.
fn expect_tiers(rows: &[(&str, &str, &str)]) -> Vec<TierRow> {
    rows.iter()
        .map(|(from, to, price)| {
            let to = (!to.is_empty()).then(|| d(to).normalize());
            (d(from).normalize(), to, d(price).normalize())
        })
        .collect()
}

/// The single price list of an item.
fn only_list(item: &Item) -> &PriceList {
    assert_eq!(item.price_lists.len(), 1, "{}: price lists", item.id);
    &item.price_lists[0]
}

/// `(kind, size, price, validity)` of an item's packages.
type PkgRow = (String, Option<Decimal>, Option<Decimal>, String);

fn package_rows(item: &Item) -> Vec<PkgRow> {
    item.packages
        .iter()
        .map(|p| {
            (
                p.kind.clone(),
                p.size.map(|s| s.normalize()),
                p.price.map(|s| s.normalize()),
                p.validity.clone(),
            )
        })
        .collect()
}

fn free(size: &str, validity: &str) -> PkgRow {
    (
        "free".into(),
        Some(d(size).normalize()),
        None,
        validity.into(),
    )
}

fn prepaid(size: &str, price: &str) -> PkgRow {
    (
        "prepaid".into(),
        Some(d(size).normalize()),
        Some(d(price).normalize()),
        "1y".into(),
    )
}

/// The unit price a volume tier list gives a cycle quantity.
fn volume_price(list: &PriceList, q: Decimal) -> Decimal {
    assert_eq!(list.tier_mode, TierMode::Volume);
    list.tiers
        .iter()
        .find(|t| t.from <= q && t.to.is_none_or(|to| q < to))
        .map(|t| t.unit_price)
        .unwrap_or_else(|| panic!("no tier for {q}"))
}

fn term_tiers(cat: &Catalog, sub: &str, term: &str) -> Vec<TierRow> {
    let (_, s) = cat
        .subscription(sub)
        .unwrap_or_else(|| panic!("no subscription {sub}"));
    let t = s
        .terms
        .iter()
        .find(|t| t.term == term)
        .unwrap_or_else(|| panic!("{sub}: no {term} term"));
    tier_rows(&t.tiers)
}

/// Write `files` (name, text) into a fresh directory.
fn write_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write catalog file");
    }
    dir
}

/// Copy the shipped catalog into a fresh directory.
fn copy_shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in fs::read_dir(catalog_dir()).expect("catalog dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

fn load_err(dir: &Path) -> String {
    match catalog_load::load(dir) {
        Ok(_) => panic!("{} loaded, expected an error", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn micros(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_micros()
}

// ---------------------------------------------------------------------------
// The shipped catalog

#[test]
fn shipped_catalog_loads_and_checks_clean() {
    let cat = shipped();
    let problems = check(&cat);
    assert!(
        problems.is_empty(),
        "catalog problems:\n{}",
        problems.join("\n")
    );

    assert_eq!(cat.version.len(), 64);
    assert!(cat
        .version
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let names: Vec<String> = cat
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "alibaba-ims.toml",
            "tencent-face-fusion.toml",
            "tencent-image-animate.toml",
            "tencent-style-transfer.toml",
            "tencent-video-understanding.toml",
        ]
    );

    assert_eq!(
        cat.item_ids(),
        [
            "alibaba.ims.highlight_extraction",
            "alibaba.ims.image_text.common",
            "alibaba.ims.image_text.highlight_mashup",
            "alibaba.ims.image_text.movie_collection",
            "alibaba.ims.image_text.sports_highlights",
            "alibaba.ims.script_to_video",
            "alibaba.ims.text_generation",
            "tencent.audio_tags",
            "tencent.face_fusion.image_basic",
            "tencent.face_fusion.image_basic.material",
            "tencent.face_fusion.video_single",
            "tencent.face_fusion.video_single.material",
            "tencent.image_animate",
            "tencent.image_tags",
            "tencent.style_transfer",
            "tencent.text_tags",
            "tencent.video_tags",
        ]
    );
    assert_eq!(
        cat.subscription_ids(),
        [
            "tencent.face_fusion.image_basic.qps",
            "tencent.face_fusion.video_single.qps",
            "tencent.image_animate.concurrency",
            "tencent.style_transfer.concurrency",
        ]
    );
    let products: Vec<&str> = cat.products.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        products,
        [
            "alibaba.ims",
            "tencent.face_fusion",
            "tencent.image_animate",
            "tencent.style_transfer",
            "tencent.video_understanding",
        ]
    );
}

#[test]
fn both_vendors_bill_in_china_standard_time() {
    for p in &shipped().products {
        assert_eq!(
            catalog::parse_offset(&p.timezone).unwrap(),
            8 * 3600,
            "{}",
            p.id
        );
    }
}

#[test]
fn every_number_cites_its_guide() {
    let cat = shipped();
    for p in &cat.products {
        let cites = |what: &str, source: &str| {
            assert!(
                source.starts_with(&format!("{}:", p.guide)) && source.len() > p.guide.len() + 10,
                "{what} of {}: source {source:?} does not cite {}",
                p.id,
                p.guide
            );
        };
        for i in &p.items {
            cites(&i.id, &i.source);
            for l in &i.price_lists {
                for t in &l.tiers {
                    cites(&format!("{} tier {}", i.id, t.from), &t.source);
                }
            }
            for k in &i.packages {
                cites(&format!("{} package", i.id), &k.source);
            }
            if let Some(r) = &i.rounding {
                cites(&format!("{} rounding", i.id), &r.source);
            }
        }
        for s in &p.subscriptions {
            cites(&s.id, &s.source);
            for t in s.terms.iter().flat_map(|t| &t.tiers) {
                cites(&format!("{} tier {}", s.id, t.from), &t.source);
            }
        }
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/seeds")
                .join(&p.guide)
                .exists()
                || !Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../shared/seeds")
                    .exists(),
            "{}: guide {} is not in shared/seeds",
            p.id,
            p.guide
        );
    }
}

/// billing-rules.md 2.1
#[test]
fn image_animate_numbers() {
    let cat = shipped();
    let p = cat.product("tencent.image_animate").expect("product");
    assert_eq!(
        (p.currency.as_str(), p.guide.as_str()),
        ("USD", "tencent-video-creation-image-animate.txt")
    );
    let i = item(&cat, "tencent.image_animate");
    assert_eq!(
        (i.unit.as_str(), i.measure, i.cycle),
        ("call", Measure::Count, Cycle::Month)
    );
    assert_eq!(i.unit_size, d("1"));
    assert_eq!(i.postpaid, Postpaid::OptIn);
    assert_eq!(i.covered_by_modes, ["concurrent"]);
    assert!(i.rounding.is_none());
    let list = only_list(i);
    assert_eq!(
        (list.region.as_deref(), list.resolution.as_deref()),
        (None, None)
    );
    assert_eq!(
        tier_rows(&list.tiers),
        expect_tiers(&[
            ("0", "100", "4.8"),
            ("100", "1000", "4.2"),
            ("1000", "10000", "3.8"),
            ("10000", "", "3.5"),
        ])
    );
    assert_eq!(
        package_rows(i),
        [
            free("5", "1y"),
            prepaid("100", "420"),
            prepaid("1000", "3800"),
            prepaid("10000", "37000"),
            prepaid("100000", "350000"),
        ]
    );
    // Worked examples: 420 × 3 = 1,260; (1,100 − 5) × 3.8 = 4,161.
    assert_eq!(i.packages[1].price.unwrap() * d("3"), d("1260"));
    assert_eq!(volume_price(list, d("1095")) * d("1095"), d("4161"));

    let (sp, sub) = cat
        .subscription("tencent.image_animate.concurrency")
        .expect("subscription");
    assert_eq!(sp.id, "tencent.image_animate");
    assert_eq!(sub.max_quantity, Some(d("50")));
    assert_eq!(sub.terms.len(), 1);
    assert_eq!(
        term_tiers(&cat, "tencent.image_animate.concurrency", "month"),
        expect_tiers(&[("0", "", "7200")])
    );
}

/// billing-rules.md 2.2
#[test]
fn style_transfer_numbers() {
    let cat = shipped();
    let p = cat.product("tencent.style_transfer").expect("product");
    assert_eq!(p.currency, "USD");
    let i = item(&cat, "tencent.style_transfer");
    assert_eq!(
        (i.unit.as_str(), i.measure, i.cycle),
        ("picture", Measure::Count, Cycle::Month)
    );
    assert_eq!(i.postpaid, Postpaid::OptIn);
    assert!(
        i.covered_by_modes.is_empty(),
        "the concurrency add-on is not a billing mode"
    );
    let list = only_list(i);
    assert_eq!(
        tier_rows(&list.tiers),
        expect_tiers(&[
            ("0", "10000", "0.08"),
            ("10000", "100000", "0.06"),
            ("100000", "1000000", "0.05"),
            ("1000000", "", "0.04"),
        ])
    );
    assert_eq!(
        package_rows(i),
        [
            free("50", "1y"),
            prepaid("1000", "75"),
            prepaid("10000", "550"),
            prepaid("100000", "4500"),
            prepaid("1000000", "30000"),
            prepaid("10000000", "200000"),
        ]
    );
    // Worked examples: 550 × 3 = 1,650; (10,000 − 50) × 0.08 = 796; 200,000 × 0.05 = 10,000.
    assert_eq!(i.packages[2].price.unwrap() * d("3"), d("1650"));
    assert_eq!(volume_price(list, d("9950")) * d("9950"), d("796"));
    assert_eq!(volume_price(list, d("200000")) * d("200000"), d("10000"));

    assert_eq!(
        term_tiers(&cat, "tencent.style_transfer.concurrency", "day"),
        expect_tiers(&[("0", "", "200")])
    );
    assert_eq!(
        term_tiers(&cat, "tencent.style_transfer.concurrency", "month"),
        expect_tiers(&[("0", "", "4000")])
    );
}

/// billing-rules.md 2.3
#[test]
fn face_fusion_numbers() {
    let cat = shipped();
    assert_eq!(
        cat.product("tencent.face_fusion")
            .expect("product")
            .currency,
        "USD"
    );

    let basic = item(&cat, "tencent.face_fusion.image_basic");
    assert_eq!(
        (basic.unit.as_str(), basic.measure, basic.cycle),
        ("call", Measure::Count, Cycle::Month)
    );
    assert_eq!(basic.postpaid, Postpaid::Auto);
    assert_eq!(basic.covered_by_modes, ["qps"]);
    assert_eq!(
        tier_rows(&only_list(basic).tiers),
        expect_tiers(&[
            ("0", "10000", "0.065"),
            ("10000", "100000", "0.050"),
            ("100000", "1000000", "0.035"),
            ("1000000", "10000000", "0.020"),
            ("10000000", "", "0.006"),
        ])
    );
    assert_eq!(
        package_rows(basic),
        [
            free("1000", "1y"),
            prepaid("1000", "60"),
            prepaid("10000", "450"),
            prepaid("100000", "3000"),
            prepaid("1000000", "17200"),
            prepaid("10000000", "45700"),
        ]
    );

    let video = item(&cat, "tencent.face_fusion.video_single");
    assert_eq!(
        (video.unit.as_str(), video.measure, video.cycle),
        ("call", Measure::Count, Cycle::Month)
    );
    assert_eq!(video.postpaid, Postpaid::Auto);
    assert_eq!(video.covered_by_modes, ["qps"]);
    assert_eq!(
        tier_rows(&only_list(video).tiers),
        expect_tiers(&[("0", "", "0.20")])
    );
    assert_eq!(
        package_rows(video),
        [
            free("200", "1y"),
            prepaid("1000", "180"),
            prepaid("10000", "1500"),
            prepaid("100000", "4300")
        ]
    );

    for (id, packages) in [
        (
            "tencent.face_fusion.image_basic.material",
            vec![
                free("10", "1y"),
                prepaid("10", "60"),
                prepaid("100", "460"),
                prepaid("1000", "3430"),
            ],
        ),
        (
            "tencent.face_fusion.video_single.material",
            vec![free("10", "1y"), prepaid("10", "300")],
        ),
    ] {
        let m = item(&cat, id);
        assert_eq!(
            (m.unit.as_str(), m.measure),
            ("material", Measure::Count),
            "{id}"
        );
        assert_eq!(m.postpaid, Postpaid::None, "{id}");
        assert!(m.price_lists.is_empty(), "{id}");
        assert_eq!(package_rows(m), packages, "{id}");
    }

    let qps = "tencent.face_fusion.image_basic.qps";
    assert_eq!(
        term_tiers(&cat, qps, "day"),
        expect_tiers(&[("0", "50", "75"), ("50", "100", "60"), ("100", "", "50")])
    );
    assert_eq!(
        term_tiers(&cat, qps, "month"),
        expect_tiers(&[
            ("0", "50", "1700"),
            ("50", "100", "1450"),
            ("100", "", "1300")
        ])
    );
    let qps = "tencent.face_fusion.video_single.qps";
    assert_eq!(
        term_tiers(&cat, qps, "day"),
        expect_tiers(&[("0", "10", "180"), ("10", "20", "160"), ("20", "", "150")])
    );
    assert_eq!(
        term_tiers(&cat, qps, "month"),
        expect_tiers(&[
            ("0", "10", "5000"),
            ("10", "20", "4500"),
            ("20", "", "4250")
        ])
    );
}

/// billing-rules.md 2.4
#[test]
fn ims_numbers() {
    let cat = shipped();
    let p = cat.product("alibaba.ims").expect("product");
    assert_eq!(p.currency, "CNY");
    assert_eq!(p.default_region.as_deref(), Some("cn-mainland"));

    // (id, unit, measure, unit size and rounding step, price)
    let priced = [
        (
            "alibaba.ims.text_generation",
            "1k_tokens",
            Measure::Tokens,
            "1000",
            "0.12",
        ),
        (
            "alibaba.ims.image_text.common",
            "minute",
            Measure::InputPlusOutputSeconds,
            "60",
            "0.3",
        ),
        (
            "alibaba.ims.image_text.movie_collection",
            "minute",
            Measure::InputPlusOutputSeconds,
            "60",
            "1",
        ),
        (
            "alibaba.ims.image_text.sports_highlights",
            "minute",
            Measure::InputPlusOutputSeconds,
            "60",
            "1",
        ),
        (
            "alibaba.ims.image_text.highlight_mashup",
            "minute",
            Measure::InputPlusOutputSeconds,
            "60",
            "2",
        ),
        (
            "alibaba.ims.highlight_extraction",
            "minute",
            Measure::InputSeconds,
            "60",
            "2",
        ),
    ];
    for (id, unit, measure, step, price) in priced {
        let i = item(&cat, id);
        assert_eq!(
            (i.unit.as_str(), i.measure, i.cycle, i.postpaid),
            (unit, measure, Cycle::Hour, Postpaid::Auto),
            "{id}"
        );
        assert_eq!(i.unit_size, d(step), "{id}");
        let r = i
            .rounding
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: rounding"));
        assert_eq!((r.step, r.scope.as_str()), (d(step), "task"), "{id}");
        assert!(
            !i.free_when_preview,
            "{id}: preview output is billed as the timeline's duration"
        );
        let list = only_list(i);
        assert_eq!(list.region.as_deref(), Some("cn-mainland"), "{id}");
        assert_eq!(
            tier_rows(&list.tiers),
            expect_tiers(&[("0", "", price)]),
            "{id}"
        );
        assert!(i.packages.is_empty(), "{id}");
    }

    let s2v = item(&cat, "alibaba.ims.script_to_video");
    assert_eq!(
        (s2v.unit.as_str(), s2v.measure, s2v.cycle),
        ("minute", Measure::OutputSeconds, Cycle::Hour)
    );
    assert_eq!(s2v.unit_size, d("60"));
    assert_eq!(s2v.rounding.as_ref().map(|r| r.step), Some(d("60")));
    assert!(s2v.free_when_preview);
    assert_eq!(s2v.postpaid, Postpaid::Auto);
    assert!(
        s2v.price_lists.is_empty(),
        "video-editing prices come from the user"
    );

    // Worked example: ⌈(90 + 23) / 60⌉ = 2 min × 0.3 = 0.60, plus ⌈900 / 1000⌉ × 0.12; 0.72.
    let ceil_units = |measure: Decimal, i: &Item| {
        let step = i.rounding.as_ref().unwrap().step;
        (measure / step).ceil() * step / i.unit_size
    };
    let common = item(&cat, "alibaba.ims.image_text.common");
    let text = item(&cat, "alibaba.ims.text_generation");
    let minutes = ceil_units(d("113"), common);
    let thousands = ceil_units(d("900"), text);
    assert_eq!((minutes, thousands), (d("2"), d("1")));
    let total = minutes * only_list(common).tiers[0].unit_price
        + thousands * only_list(text).tiers[0].unit_price;
    assert_eq!(total, d("0.72"));
}

/// billing-rules.md 2.5
#[test]
fn video_understanding_numbers() {
    let cat = shipped();
    let p = cat.product("tencent.video_understanding").expect("product");
    assert_eq!(
        (p.currency.as_str(), p.guide.as_str()),
        ("CNY", "tencent-video-understanding-zh.txt")
    );

    let v = item(&cat, "tencent.video_tags");
    assert_eq!(
        (v.unit.as_str(), v.measure, v.cycle),
        ("minute", Measure::Quantity, Cycle::Day)
    );
    assert_eq!(v.unit_size, d("60"));
    assert!(
        v.rounding.is_none(),
        "the guide sets no rounding: exact seconds / 60"
    );
    assert_eq!(v.postpaid, Postpaid::Auto);
    assert!(!v.public_beta);
    assert_eq!(
        tier_rows(&only_list(v).tiers),
        expect_tiers(&[("0", "", "0.15")])
    );
    assert_eq!(
        package_rows(v),
        [
            ("free".to_string(), None, None, "1mo".to_string()),
            prepaid("30000", "3500"),
            prepaid("60000", "6000"),
        ]
    );

    for (id, unit, measure, unit_size) in [
        ("tencent.audio_tags", "minute", Measure::Quantity, "60"),
        ("tencent.image_tags", "picture", Measure::Count, "1"),
        ("tencent.text_tags", "document", Measure::Count, "1"),
    ] {
        let i = item(&cat, id);
        assert!(i.public_beta, "{id}");
        assert_eq!(
            (i.unit.as_str(), i.measure, i.cycle),
            (unit, measure, Cycle::Day),
            "{id}"
        );
        assert_eq!(i.unit_size, d(unit_size), "{id}");
        assert_eq!(
            tier_rows(&only_list(i).tiers),
            expect_tiers(&[("0", "", "0")]),
            "{id}"
        );
        assert!(
            i.source.contains("公测阶段，暂不计费"),
            "{id}: {}",
            i.source
        );
    }
}

// ---------------------------------------------------------------------------
// Price lists: regions and user-supplied prices

#[test]
fn ims_prices_are_keyed_by_region() {
    let cat = shipped();
    for id in [
        "alibaba.ims.image_text.common",
        "alibaba.ims.text_generation",
    ] {
        let i = item(&cat, id);
        let mainland = catalog::price_list(i, Some("cn-mainland"), None).expect("mainland price");
        assert_eq!(mainland.region.as_deref(), Some("cn-mainland"));
        assert!(
            catalog::price_list(i, Some("ap-southeast-1"), None).is_none(),
            "{id}: no Singapore price"
        );
        // A resolution is ignored where the item does not price by it.
        assert!(catalog::price_list(i, Some("cn-mainland"), Some("1080p")).is_some());
    }
    // Items without regional lists price any region.
    let st = item(&cat, "tencent.style_transfer");
    assert!(catalog::price_list(st, Some("ap-southeast-1"), None).is_some());
    // Script-to-video has no price until the user supplies one.
    let s2v = item(&cat, "alibaba.ims.script_to_video");
    assert!(catalog::price_list(s2v, Some("cn-mainland"), Some("1080p")).is_none());
}

#[test]
fn extra_prices_attach_to_their_item() {
    let dir = copy_shipped();
    fs::copy(
        example_file(),
        dir.path().join("zz-video-editing-prices.toml"),
    )
    .expect("copy example");
    let cat = catalog_load::load(dir.path()).expect("catalog with user prices loads");
    assert!(check(&cat).is_empty(), "{:?}", check(&cat));
    assert_eq!(cat.files.len(), 6);
    assert_ne!(cat.version, shipped().version);

    let s2v = item(&cat, "alibaba.ims.script_to_video");
    let resolutions: Vec<_> = s2v
        .price_lists
        .iter()
        .map(|l| l.resolution.as_deref())
        .collect();
    assert_eq!(resolutions, [Some("720p"), Some("1080p")]);
    let hd = catalog::price_list(s2v, Some("cn-mainland"), Some("1080p")).expect("1080p price");
    assert_eq!(hd.resolution.as_deref(), Some("1080p"));
    assert_eq!(hd.tiers[0].unit_price, d("0.10"));
    assert!(hd.tiers[0].source.contains("EXAMPLE"));
    assert!(catalog::price_list(s2v, Some("cn-mainland"), Some("4k")).is_none());
    assert!(catalog::price_list(s2v, Some("cn-mainland"), None).is_none());
    // Other items are untouched.
    assert_eq!(
        item(&cat, "alibaba.ims.image_text.common"),
        item(&shipped(), "alibaba.ims.image_text.common")
    );

    // Extra prices may come before the product's file in name order.
    let dir = copy_shipped();
    fs::copy(example_file(), dir.path().join("00-prices.toml")).expect("copy example");
    let cat = catalog_load::load(dir.path()).expect("loads");
    assert_eq!(
        item(&cat, "alibaba.ims.script_to_video").price_lists.len(),
        2
    );
}

#[test]
fn extra_prices_for_an_unknown_item_fail_to_load() {
    let dir = copy_shipped();
    let text = fs::read_to_string(example_file())
        .expect("example")
        .replace("alibaba.ims.script_to_video", "alibaba.ims.video_editing");
    fs::write(dir.path().join("zz-prices.toml"), text).expect("write");
    let err = load_err(dir.path());
    assert!(
        err.contains("zz-prices.toml") && err.contains("alibaba.ims.video_editing"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Loading errors and the version

#[test]
fn a_missing_or_empty_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    assert!(load_err(&missing).contains("nope"));
    let err = load_err(dir.path());
    assert!(err.contains("no .toml file"), "{err}");
    fs::write(dir.path().join("notes.txt"), "not a catalog").expect("write");
    fs::create_dir(dir.path().join("sub.toml")).expect("a directory named like a file");
    assert!(load_err(dir.path()).contains("no .toml file"));
}

#[test]
fn toml_errors_name_the_file_line_and_column() {
    let dir = write_dir(&[("broken.toml", "[product]\nid = \"x\"\nvendor = \n")]);
    let err = load_err(dir.path());
    assert!(err.starts_with("catalog: broken.toml: "), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("column"), "{err}");

    // Schema errors too: an unknown field.
    let text = BASE.replace("unit = \"call\"", "unit = \"call\"\nunitt = \"x\"");
    let dir = write_dir(&[("typo.toml", &text)]);
    let err = load_err(dir.path());
    assert!(
        err.contains("typo.toml") && err.contains("unitt") && err.contains("line"),
        "{err}"
    );

    // A file with nothing in it.
    let dir = write_dir(&[("a.toml", BASE), ("empty.toml", "# nothing\n")]);
    assert!(load_err(dir.path()).contains("empty.toml"));
}

#[test]
fn bare_numbers_are_refused() {
    let text = BASE.replace("unit_price = \"2\"", "unit_price = 2.5");
    let dir = write_dir(&[("float.toml", &text)]);
    let err = load_err(dir.path());
    assert!(
        err.contains("float.toml") && err.contains("strings"),
        "{err}"
    );
    assert!(
        err.contains("product.items[0].price_lists[0].tiers[0].unit_price = 2.5"),
        "{err}"
    );
    let text = BASE.replace("size = \"100\"", "size = 100");
    let dir = write_dir(&[("int.toml", &text)]);
    assert!(load_err(dir.path()).contains("product.items[0].packages[0].size = 100"));
}

#[test]
fn the_version_fingerprints_names_and_bytes() {
    let a = write_dir(&[("a.toml", BASE)]);
    let v1 = catalog_load::load(a.path()).expect("loads").version;
    assert_eq!(
        catalog_load::load(a.path()).expect("loads").version,
        v1,
        "stable"
    );
    let b = write_dir(&[("b.toml", BASE)]);
    assert_ne!(
        catalog_load::load(b.path()).expect("loads").version,
        v1,
        "file name counts"
    );
    let c = write_dir(&[("a.toml", &BASE.replace("Test item", "Test item!"))]);
    assert_ne!(
        catalog_load::load(c.path()).expect("loads").version,
        v1,
        "bytes count"
    );
}

// ---------------------------------------------------------------------------
// Check: each kind of problem

/// A small valid catalog file; the cases below break one thing each.
const BASE: &str = r#"
[product]
id = "t.p"
vendor = "test"
name = "Test"
currency = "USD"
timezone = "+08:00"
guide = "test-guide.txt"

[[product.items]]
id = "t.item"
name = "Test item"
unit = "call"
measure = "count"
cycle = "month"
postpaid = "auto"
source = "test-guide.txt: item"

[product.items.rounding]
step = "1"
scope = "task"
source = "test-guide.txt: rounding"

[[product.items.price_lists]]
tier_mode = "volume"

[[product.items.price_lists.tiers]]
from = "0"
to = "10"
unit_price = "2"
source = "test-guide.txt: tier 1"

[[product.items.price_lists.tiers]]
from = "10"
unit_price = "1"
source = "test-guide.txt: tier 2"

[[product.items.packages]]
kind = "prepaid"
size = "100"
price = "150"
validity = "1y"
source = "test-guide.txt: package"

[[product.subscriptions]]
id = "t.sub"
name = "Test QPS"
unit = "QPS"
source = "test-guide.txt: qps"

[[product.subscriptions.terms]]
term = "day"

[[product.subscriptions.terms.tiers]]
from = "0"
unit_price = "5"
source = "test-guide.txt: qps day"
"#;

/// The price list block of [`BASE`] (to remove it).
const PRICES: &str = r#"[[product.items.price_lists]]
tier_mode = "volume"

[[product.items.price_lists.tiers]]
from = "0"
to = "10"
unit_price = "2"
source = "test-guide.txt: tier 1"

[[product.items.price_lists.tiers]]
from = "10"
unit_price = "1"
source = "test-guide.txt: tier 2"
"#;

/// `BASE` with `from` replaced by `to` (which must occur exactly once).
fn base_with(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} must occur once in BASE"
    );
    BASE.replace(from, to)
}

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    let dir = write_dir(files);
    let cat = catalog_load::load(dir.path()).unwrap_or_else(|e| panic!("test catalog loads: {e}"));
    check(&cat)
}

fn assert_problem(text: &str, expected: &str) {
    let found = problems(&[("test.toml", text)]);
    assert!(
        found.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got {found:#?}"
    );
}

fn assert_clean(text: &str) {
    let found = problems(&[("test.toml", text)]);
    assert!(found.is_empty(), "expected no problem, got {found:#?}");
}

#[test]
fn the_base_test_catalog_is_clean() {
    assert_clean(BASE);
}

#[test]
fn check_catches_bad_tiers() {
    let first = "from = \"0\"\nto = \"10\"\nunit_price = \"2\"";
    let second = "from = \"10\"\nunit_price = \"1\"";
    assert_problem(
        &base_with(first, "from = \"1\"\nto = \"10\"\nunit_price = \"2\""),
        "item t.item: price list 1 (any region, any resolution): tiers start at 1, not at 0",
    );
    assert_problem(
        &base_with(second, "from = \"12\"\nunit_price = \"1\""),
        "gap between tier 1 (ends at 10) and tier 2 (starts at 12)",
    );
    assert_problem(
        &base_with(second, "from = \"8\"\nunit_price = \"1\""),
        "tiers overlap: tier 2 starts at 8 before tier 1 ends at 10",
    );
    assert_problem(
        &base_with(second, "from = \"0\"\nunit_price = \"1\""),
        "tiers not ascending",
    );
    assert_problem(
        &base_with(first, "from = \"0\"\nunit_price = \"2\""),
        "tier 1 is open-ended but is not the last tier",
    );
    assert_problem(
        &base_with(second, "from = \"10\"\nto = \"100\"\nunit_price = \"1\""),
        "the last tier ends at 100",
    );
    assert_problem(
        &base_with("unit_price = \"2\"", "unit_price = \"-2\""),
        "tier 1: negative price -2",
    );
    assert_problem(
        &base_with(first, "from = \"0\"\nto = \"0\"\nunit_price = \"2\""),
        "tier 1: ends at 0, not after its start 0",
    );
    assert_problem(
        &base_with(PRICES, "[[product.items.price_lists]]\ntiers = []\n"),
        "price list 1 (any region, any resolution): no tiers",
    );
    assert_problem(
        &base_with("source = \"test-guide.txt: tier 2\"", "source = \" \""),
        "tier 2: no source",
    );
    // Subscription tiers are checked the same way.
    assert_problem(
        &base_with(
            "from = \"0\"\nunit_price = \"5\"",
            "from = \"1\"\nunit_price = \"5\"",
        ),
        "subscription t.sub: term day: tiers start at 1",
    );
    assert_problem(
        &base_with("unit_price = \"5\"", "unit_price = \"-5\""),
        "subscription t.sub: term day: tier 1: negative price",
    );
}

#[test]
fn check_catches_bad_product_settings() {
    assert_problem(
        &base_with("currency = \"USD\"", "currency = \"EUR\""),
        "product t.p: unknown currency \"EUR\"",
    );
    assert_problem(
        &base_with(
            "tier_mode = \"volume\"",
            "tier_mode = \"volume\"\ncurrency = \"JPY\"",
        ),
        "item t.item: price list 1 (any region, any resolution): unknown currency \"JPY\"",
    );
    assert_problem(
        &base_with("timezone = \"+08:00\"", "timezone = \"Asia/Shanghai\""),
        "product t.p: timezone \"Asia/Shanghai\"",
    );
    assert_problem(
        &base_with("timezone = \"+08:00\"", "timezone = \"+8\""),
        "is not a fixed offset",
    );
    let regional = PRICES.replace("tier_mode = \"volume\"", "region = \"cn-mainland\"");
    assert_problem(
        &base_with(PRICES, &format!("{regional}\n{regional}")),
        "item t.item: 2 price lists for region cn-mainland, any resolution (ambiguous)",
    );
}

#[test]
fn check_catches_bad_packages() {
    assert_problem(
        &base_with("kind = \"prepaid\"", "kind = \"gift\""),
        "item t.item: package 1 (gift): unknown package kind \"gift\"",
    );
    assert_problem(
        &base_with("price = \"150\"\n", ""),
        "package 1 (prepaid): prepaid package without a price",
    );
    assert_problem(
        &base_with("size = \"100\"\n", ""),
        "package 1 (prepaid): no size",
    );
    assert_problem(
        &base_with("size = \"100\"\n", "").replace("kind = \"prepaid\"", "kind = \"campaign\""),
        "package 1 (campaign): no size",
    );
    assert_problem(
        &base_with("size = \"100\"", "size = \"0\""),
        "size 0 must be positive",
    );
    assert_problem(
        &base_with("price = \"150\"", "price = \"-150\""),
        "negative price -150",
    );
    assert_problem(
        &base_with("validity = \"1y\"", "validity = \"1 year\""),
        "validity \"1 year\" is not one of 1y, Nmo, Nd",
    );
    assert_problem(
        &base_with("validity = \"1y\"", "validity = \"0d\""),
        "validity \"0d\"",
    );
    assert_problem(
        &base_with("source = \"test-guide.txt: package\"", "source = \"\""),
        "package 1 (prepaid): no source",
    );
    // Two prepaid packages of one size: which list price?
    let twice = "kind = \"prepaid\"\nsize = \"100\"\nprice = \"150\"\nvalidity = \"1y\"\nsource = \"test-guide.txt: package\"\n";
    assert_problem(
        &base_with(
            twice,
            &format!(
                "{twice}\n[[product.items.packages]]\n{}",
                twice.replace("150", "160")
            ),
        ),
        "2 prepaid packages of size 100",
    );
    // Fine: a free package without a size (set per account), other validities.
    assert_clean(&base_with(
        "kind = \"prepaid\"\nsize = \"100\"\nprice = \"150\"\n",
        "kind = \"free\"\n",
    ));
    for validity in ["2y", "1mo", "6mo", "30d"] {
        assert_clean(&base_with(
            "validity = \"1y\"",
            &format!("validity = \"{validity}\""),
        ));
    }
}

#[test]
fn check_catches_bad_rounding_and_units() {
    assert_problem(
        &base_with("step = \"1\"", "step = \"0\""),
        "item t.item: rounding step 0 must be positive",
    );
    assert_problem(
        &base_with("step = \"1\"", "step = \"-60\""),
        "rounding step -60 must be positive",
    );
    assert_problem(
        &base_with("step = \"1\"", "step = \"0.0000001\""),
        "more than 6 decimal places",
    );
    assert_problem(
        &base_with("scope = \"task\"", "scope = \"cycle\""),
        "rounding scope \"cycle\" is not supported",
    );
    assert_problem(
        &base_with("source = \"test-guide.txt: rounding\"", "source = \"\""),
        "item t.item: rounding: no source",
    );
    assert_problem(
        &base_with(
            "measure = \"count\"",
            "measure = \"count\"\nunit_size = \"0\"",
        ),
        "item t.item: unit_size 0 must be positive",
    );
    assert_problem(
        &base_with(
            "measure = \"count\"",
            "measure = \"count\"\nunit_size = \"-60\"",
        ),
        "unit_size -60 must be positive",
    );
    assert_problem(
        &base_with(
            "postpaid = \"auto\"",
            "postpaid = \"auto\"\ncovered_by_modes = [\"monthly\"]",
        ),
        "unknown billing mode \"monthly\"",
    );
    assert_problem(
        &base_with("source = \"test-guide.txt: item\"", "source = \"\""),
        "item t.item: no source",
    );
}

#[test]
fn check_catches_postpaid_items_without_prices() {
    let unpriced = base_with(PRICES, "");
    assert_problem(&unpriced, "item t.item: postpaid auto but no price list");
    assert_problem(
        &unpriced.replace("postpaid = \"auto\"", "postpaid = \"opt_in\""),
        "item t.item: postpaid opt_in but no price list",
    );
    // Package-only items and script-to-video style items (priced by the user) are fine.
    assert_clean(&unpriced.replace("postpaid = \"auto\"", "postpaid = \"none\""));
    assert_clean(&unpriced.replace("measure = \"count\"", "measure = \"output_seconds\""));
}

#[test]
fn check_catches_bad_subscriptions() {
    assert_problem(
        &base_with("term = \"day\"", "term = \"week\""),
        "subscription t.sub: term \"week\" is not one of day, month",
    );
    let term = "[[product.subscriptions.terms]]\nterm = \"day\"\n\n[[product.subscriptions.terms.tiers]]\nfrom = \"0\"\nunit_price = \"5\"\nsource = \"test-guide.txt: qps day\"\n";
    assert_problem(
        &base_with(term, &format!("{term}\n{term}")),
        "subscription t.sub: term day priced 2 times",
    );
    assert_problem(
        &base_with("unit = \"QPS\"", "unit = \"QPS\"\nmax_quantity = \"0\""),
        "max_quantity 0 must be positive",
    );
    assert_problem(
        &base_with("source = \"test-guide.txt: qps\"\n", "source = \"\"\n"),
        "subscription t.sub: no source",
    );
}

#[test]
fn check_catches_duplicate_ids_across_files() {
    let other = BASE
        .replace("id = \"t.p\"", "id = \"t.q\"")
        .replace("id = \"t.sub\"", "id = \"t.sub2\"");
    let found = problems(&[("a.toml", BASE), ("b.toml", &other)]);
    assert!(
        found
            .iter()
            .any(|p| p == "duplicate id t.item: item of product t.p, item of product t.q"),
        "{found:#?}"
    );
    // A subscription id clashing with an item id.
    let other = BASE
        .replace("id = \"t.p\"", "id = \"t.q\"")
        .replace("id = \"t.item\"", "id = \"t.sub\"")
        .replace(
            "id = \"t.sub\"\nname = \"Test QPS\"",
            "id = \"t.sub3\"\nname = \"Test QPS\"",
        );
    let found = problems(&[("a.toml", BASE), ("b.toml", &other)]);
    assert!(
        found.iter().any(|p| p.starts_with("duplicate id t.sub:")),
        "{found:#?}"
    );
    // The same product twice.
    let other = BASE
        .replace("id = \"t.item\"", "id = \"t.item2\"")
        .replace("id = \"t.sub\"", "id = \"t.sub2\"");
    let found = problems(&[("a.toml", BASE), ("b.toml", &other)]);
    assert!(
        found.iter().any(|p| p == "product t.p: defined 2 times"),
        "{found:#?}"
    );
}

// ---------------------------------------------------------------------------
// Show

#[test]
fn show_describes_an_item_with_its_sources() {
    let cat = shipped();
    let text = show(&cat, "tencent.image_animate").expect("known item");
    for needle in [
        "item tencent.image_animate",
        "USD",
        "call",
        "count",
        "month",
        "opt_in",
        "concurrent",
        "4.8",
        "3.5",
        "37000",
        "tencent-video-creation-image-animate.txt: Postpaid table, 'Calls < 100  4.8'",
        "tencent-video-creation-image-animate.txt: Free Quota table",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    let text = show(&cat, "alibaba.ims.text_generation").expect("known item");
    for needle in [
        "CNY",
        "1k_tokens = 1000 tokens",
        "multiple of 1000 tokens",
        "region cn-mainland",
        "0.12",
        "Token counts are rounded up",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let text = show(&cat, "alibaba.ims.script_to_video").expect("known item");
    assert!(
        text.contains("no_price") && text.contains("preview-only tasks are free"),
        "{text}"
    );
    let text = show(&cat, "tencent.video_tags").expect("known item");
    assert!(
        text.contains("per account") && text.contains("1mo") && text.contains("0.15元/分钟"),
        "{text}"
    );
}

#[test]
fn show_describes_a_subscription_item() {
    let text =
        show(&shipped(), "tencent.face_fusion.video_single.qps").expect("known subscription");
    for needle in [
        "term day",
        "term month",
        "180",
        "4250",
        "'QPS >= 20  4,250 USD/QPS/month'",
        "tencent-face-fusion.txt",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let text = show(&shipped(), "tencent.image_animate.concurrency").expect("known subscription");
    assert!(
        text.contains("50 per account") && text.contains("7200"),
        "{text}"
    );
    assert!(show(&shipped(), "no.such.item").is_none());
}

// ---------------------------------------------------------------------------
// Validity

#[test]
fn validity_adds_calendar_time_in_china_standard_time() {
    let at = |s| micros(s);
    assert_eq!(
        validity_micros("1y", at("2026-03-01T00:00:00+08:00")),
        Some(at("2027-03-01T00:00:00+08:00"))
    );
    // The local date decides: 2026-10-31T17:30Z is already November 1 in UTC+08:00.
    assert_eq!(
        validity_micros("1mo", at("2026-10-31T17:30:00Z")),
        Some(at("2026-12-01T01:30:00+08:00"))
    );
    assert_eq!(
        validity_micros("1mo", at("2026-01-31T12:00:00+08:00")),
        Some(at("2026-02-28T12:00:00+08:00"))
    );
    assert_eq!(
        validity_micros("1y", at("2028-02-29T09:00:00+08:00")),
        Some(at("2029-02-28T09:00:00+08:00"))
    );
    assert_eq!(
        validity_micros("30d", at("2026-10-01T00:00:00+08:00")),
        Some(at("2026-10-31T00:00:00+08:00"))
    );
    for bad in ["", "1", "1year", "0mo", "y"] {
        assert_eq!(validity_micros(bad, 0), None, "{bad:?}");
    }
    // Every validity in the shipped catalog is understood.
    for p in &shipped().products {
        for k in p.items.iter().flat_map(|i| &i.packages) {
            assert!(validity_micros(&k.validity, 0).is_some(), "{}", k.validity);
        }
    }
}
