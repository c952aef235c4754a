//! A whole terminal day at trace level, in each key family (TDES, then SM: docs/PROTOCOL.md §11): the SDK's log
//! output holds no credential. Every line possdk-core logs is captured and scanned for every test card's PAN,
//! track, PIN and expiry, the QR payment codes, the PIN blocks the day sent (8-byte TDES and 16-byte SM4), the
//! encrypted tracks, and every key of both families (whole and each half). The host runs with fixed keys so the
//! keys are known.

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::crypto::sm4::Sm4Key;
use possdk_core::crypto::{pin_block, sm, DesKey, KeyFamily};
use possdk_core::hal::Hal;
use possdk_e2e::*;
use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("possdk_core") {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            if let Ok(mut l) = LINES.lock() {
                l.push(line);
            }
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Whether `hay` shows `needle`. A long secret (PAN, track, QR code, key, PIN block) counts anywhere; a
/// short one (a PIN, an expiry) only as a whole token, not inside a longer run of letters or digits (the
/// merchant id `123456789012345` is not the PIN `123456`).
fn has_token(hay: &str, needle: &str) -> bool {
    if needle.len() >= 8 {
        return hay.contains(needle);
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    hay.match_indices(needle).any(|(i, _)| {
        !word(hay[..i].chars().next_back()) && !word(hay[i + needle.len()..].chars().next())
    })
}

#[test]
fn a_day_at_trace_level_logs_no_credential() {
    log::set_logger(&CAPTURE).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);
    // One after the other: the captured lines are scanned per family.
    day(KeyFamily::Tdes);
    LINES.lock().unwrap().clear();
    day(KeyFamily::Sm);
}

fn day(family: KeyFamily) {
    let dir = temp_dir("trace-host");
    let host = TestHost {
        host: possdk_host::Host::start(possdk_host::HostConfig {
            listen: "127.0.0.1:0".into(),
            db: dir.join("host.db"),
            provision: None,
            fixed_keys: true,
            wire_log: None,
            tls: None,
        })
        .expect("host starts"),
        dir,
        profile: None,
    };
    host.host.set_key_family(None, family).expect("host family");
    let tdir = temp_dir("trace-term");
    let mut config = host.config_json(&tdir, 5_000);
    config["encrypt_tracks"] = true.into();
    config["key_family"] = family.name().into();
    let t = possdk_core::Terminal::new(
        possdk_core::Config::from_json(&config.to_string()).expect("config"),
        Hal::default(),
    )
    .expect("terminal");
    initialise(&t).expect("initialisation");

    // The day: card and QR sales, a void, a tip and its void, a refund, a pre-auth and its completion,
    // declines, a balance inquiry, settlement.
    let sale = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap();
    let sale = t
        .sale(5_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    let tip = t.tip(sale.stan, 500).unwrap();
    t.tip_void(tip.stan).unwrap();
    let date = format!("{}{}", &sale.datetime[5..7], &sale.datetime[8..10]);
    let original = OriginalRef {
        reference: sale.reference.clone(),
        date: Some(date.clone()),
        ..Default::default()
    };
    t.refund(1_000, original, Some(swipe(&CUP_SWIPE))).unwrap();
    let pa = t
        .preauth(3_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    let pa_ref = OriginalRef {
        auth_code: pa.auth_code.clone(),
        date: Some(date),
        batch: Some(pa.batch),
        stan: Some(pa.stan),
        ..Default::default()
    };
    t.preauth_complete(3_000, pa_ref, Some(swipe(&CUP_SWIPE)))
        .unwrap();
    let qr = t.sale(1_250, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    t.void(qr.stan, None).unwrap();
    t.sale(50_000, Payment::Qr(Some(QR_CODE_DECLINED_51.into())))
        .unwrap();
    t.sale(100, Payment::Qr(Some(QR_CODE_2.into()))).unwrap();
    for card in [&CUP_LOW_BALANCE, &CUP_EXPIRED, &CUP_LOST, &VISA_CHIP] {
        t.sale(100, Payment::Card(Some(swipe(card)))).unwrap();
    }
    t.balance(Some(swipe(&CUP_SWIPE))).unwrap();
    assert!(t.settle().unwrap().balanced);

    let lines = LINES.lock().unwrap().join("\n");
    assert!(
        lines.contains("TRACE") || lines.contains("DEBUG"),
        "nothing was logged below INFO: the scan would prove nothing"
    );
    assert!(lines.contains("622588******6789"), "masked PANs are logged");
    assert!(
        lines.contains(&format!("{family} family")),
        "the day ran in the {family} family"
    );
    assert!(
        lines.contains(" 59=A3018"),
        "the QR sale's field 59 is logged (masked), so the scan covers it"
    );

    let pik = DesKey::from_hex(FIXED_PIK).unwrap();
    let sm_pik = Sm4Key::from_hex(FIXED_SM_PIK).unwrap();
    let sm_tdk = Sm4Key::from_hex(FIXED_SM_TDK).unwrap();
    let tdk = DesKey::from_hex(FIXED_TDK).unwrap();
    let mut secrets: Vec<(String, String)> = Vec::new();
    for card in ALL {
        let (pan, pin, expiry, service) = (card.pan, card.pin, card.expiry, card.service_code);
        secrets.push((format!("PAN of {}", &pan[..6]), pan.to_string()));
        for sep in ["D", "="] {
            secrets.push(("track".into(), format!("{pan}{sep}{expiry}{service}")));
        }
        secrets.push(("PIN".into(), pin.to_string()));
        secrets.push(("expiry".into(), expiry.to_string()));
        if let Ok(block) = pin_block::iso0_encrypt(&pik, pin, pan) {
            secrets.push(("PIN block".into(), hex::encode_upper(block)));
        }
        if let Ok(block) = sm::pin_block_encrypt(&sm_pik, pin, pan) {
            secrets.push(("SM4 PIN block".into(), hex::encode_upper(block)));
            secrets.push(("SM4 PIN block half".into(), hex::encode_upper(&block[..8])));
            secrets.push(("SM4 PIN block half".into(), hex::encode_upper(&block[8..])));
        }
        // The track as sent: its encrypted block (8 bytes TDES, 16 bytes SM4), and what follows the PAN.
        let track = format!("{pan}D{expiry}{service}0000000000");
        if let Ok(enc) = sm::encrypt_track(&sm_tdk, &track) {
            secrets.push(("SM4 track".into(), hex::encode_upper(&enc[..])));
        }
        let mut packed = hex::decode(format!(
            "{track}{}",
            if track.len() % 2 == 1 { "0" } else { "" }
        ))
        .unwrap();
        let n = packed.len();
        let mut block = [0u8; 8];
        block.copy_from_slice(&packed[n - 9..n - 1]);
        possdk_core::crypto::tdes::encrypt_block(&tdk, &mut block);
        packed[n - 9..n - 1].copy_from_slice(&block);
        secrets.push(("TDES track".into(), hex::encode_upper(&packed)));
        secrets.push((
            "track after the PAN".into(),
            format!("{expiry}{service}0000000000"),
        ));
    }
    for code in [QR_CODE, QR_CODE_2, QR_CODE_DECLINED_51] {
        secrets.push(("QR code".into(), code.to_string()));
    }
    for (name, key) in [
        ("TMK", FIXED_TMK),
        ("PIK", FIXED_PIK),
        ("MAK", FIXED_MAK),
        ("TDK", FIXED_TDK),
        ("SM4 TMK", FIXED_SM_TMK),
        ("SM4 PIK", FIXED_SM_PIK),
        ("SM4 MAK", FIXED_SM_MAK),
        ("SM4 TDK", FIXED_SM_TDK),
        ("host SM2 private key", FIXED_HOST_SM2_PRIVATE),
    ] {
        secrets.push((name.into(), key.to_string()));
        secrets.push((format!("{name} left half"), key[..16].to_string()));
        secrets.push((format!("{name} right half"), key[16..].to_string()));
    }
    let upper = lines.to_uppercase();
    for (what, value) in &secrets {
        assert!(
            !has_token(&lines, value) && !has_token(&upper, &value.to_uppercase()),
            "the log shows a {what}: {}",
            lines
                .lines()
                .find(|l| has_token(l, value) || has_token(&l.to_uppercase(), &value.to_uppercase()))
                .unwrap_or("")
        );
    }
    host.shutdown();
}
