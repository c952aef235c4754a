//! The SM (国密) key family end to end against possdk-host (docs/PROTOCOL.md §11): SM2 master-key download with
//! the host key pinned, SM4 working keys, the 16-byte PIN block, CUP-SM4 MACs both ways, SM4 track encryption,
//! a chip sale and settlement; and a terminal whose family differs from the host's refuses activation and stores
//! nothing.

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::crypto::KeyFamily;
use possdk_core::hal::Hal;
use possdk_core::{ErrorKind, Terminal, TxState};
use possdk_e2e::*;

fn card() -> Option<possdk_core::api::CardInput> {
    Some(swipe(&CUP_SWIPE))
}

#[test]
fn an_sm_family_day_is_approved_end_to_end() {
    use possdk_sim::{SimCard, SimDevices};
    let host = TestHost::start("sm-day");
    host.set_key_family("sm");
    let dir = temp_dir("sm-day-term");
    let dev = SimDevices::new();
    let t = Terminal::new(host.config_in(&dir, "sm", true), dev.hal()).unwrap();
    assert_eq!(t.status().unwrap().key_family, KeyFamily::Sm);

    let act = t.activate(DEVICE_TOKEN).unwrap();
    let pin = act.host_key_sha256.clone().expect("the host states its SM2 key's pin (DF56)");
    let mk = t.download_master_key().unwrap();
    assert_eq!(mk.host_key_sha256, pin, "the SM2 host key matches the pin");
    t.sign_in().unwrap();
    t.download_aids().unwrap();
    t.download_capks().unwrap();
    let st = t.status().unwrap();
    assert!(st.activated && st.master_key_loaded && st.signed_in, "{st:?}");

    // Sale with a PIN: the host decrypts the SM4 PIN block, the 34-digit track 2 under SM4 and checks the
    // CUP-SM4 MAC; the terminal checks the answer's.
    let before = host.balance(CUP_SWIPE.pan);
    let sale = t.sale(12_345, Payment::Card(card())).unwrap();
    assert!(sale.approved, "{sale:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before - 12_345);
    let tx = host.tx(sale.stan);
    assert_eq!((tx["found"].clone(), tx["amount"].clone()), (true.into(), 12_345.into()), "{tx}");

    // The wrong PIN is found wrong: the block is really decrypted and compared.
    let wrong = t
        .sale(100, Payment::Card(Some(swipe_with_pin(&CUP_SWIPE, Some("999999")))))
        .unwrap();
    assert_eq!(wrong.response_code, "55", "{wrong:?}");

    let void = t.void(sale.stan, card()).unwrap();
    assert!(void.approved, "{void:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before);

    let sale2 = t.sale(10_000, Payment::Card(card())).unwrap();
    assert!(sale2.approved, "{sale2:?}");
    let refund = t
        .refund(
            3_000,
            OriginalRef {
                reference: sale2.reference.clone(),
                date: Some(sale2.datetime[5..10].replace('-', "")),
                ..Default::default()
            },
            card(),
        )
        .unwrap();
    assert!(refund.approved, "{refund:?}");
    let bal = t.balance(card()).unwrap();
    assert!(bal.approved && bal.balance.is_some(), "{bal:?}");

    // A chip card through the simulated reader and PIN pad.
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let chip = t.sale(4_200, Payment::Card(None)).unwrap();
    assert!(chip.approved, "{chip:?}");

    let settled = t.settle().unwrap();
    assert!(settled.balanced, "{settled:?}");
    assert_eq!(settled.terminal, settled.host);
    let rows = t.journal(Some(settled.batch)).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == sale.stan).unwrap().state,
        TxState::Voided
    );
    assert!(t.status().unwrap().pending_reversal.is_none());
    host.shutdown();
}

/// A wrong response MAC in the SM family is caught like in TDES: the sale is reversed (`A0`).
#[test]
fn a_bad_cup_sm4_mac_on_an_answer_is_refused() {
    let host = TestHost::start("sm-mac");
    host.set_key_family("sm");
    let dir = temp_dir("sm-mac-term");
    let t = Terminal::new(host.config_in(&dir, "sm", false), Hal::default()).unwrap();
    initialise(&t).unwrap();
    let before = host.balance(CUP_SWIPE.pan);
    host.fault("wrong_mac", 1);
    let err = t.sale(500, Payment::Card(card())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse, "{err:?}");
    // The terminal signs in again (docs/PROTOCOL.md §7) and the reversal goes out with or before the next sale:
    // the first sale's money comes back.
    assert!(!t.status().unwrap().signed_in);
    t.sign_in().unwrap();
    let next = t.sale(600, Payment::Card(card())).unwrap();
    assert!(next.approved, "{next:?}");
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(host.balance(CUP_SWIPE.pan), before - 600);
    host.shutdown();
}

/// docs/PROTOCOL.md §11: a terminal whose configured family differs from DF57 refuses the activation, names the
/// family, and stores nothing; in both directions.
#[test]
fn a_family_mismatch_refuses_activation_and_stores_nothing() {
    for (host_family, terminal_family) in [("sm", "tdes"), ("tdes", "sm")] {
        let host = TestHost::start("sm-mismatch");
        host.set_key_family(host_family);
        let dir = temp_dir("sm-mismatch-term");
        let t = Terminal::new(host.config_in(&dir, terminal_family, false), Hal::default()).unwrap();
        let err = t.activate(DEVICE_TOKEN).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Security, "{err:?}");
        assert_eq!(err.field.as_deref(), Some("key_family"));
        assert!(
            err.message.contains(host_family) && err.message.contains(terminal_family),
            "the error names both families: {}",
            err.message
        );
        let st = t.status().unwrap();
        assert!(!st.activated && !st.master_key_loaded, "{st:?}");
        assert_eq!(
            t.download_master_key().unwrap_err().kind,
            ErrorKind::NotActivated
        );
        drop(t);
        // Nothing of the refused activation was kept: reopened, the terminal is still not activated.
        let t = Terminal::new(host.config_in(&dir, terminal_family, false), Hal::default()).unwrap();
        assert!(!t.status().unwrap().activated);
        host.shutdown();
    }
}

/// The SM2 host key is pinned like the RSA key: a pin that does not match stops the master-key download.
#[test]
fn a_pinned_sm2_host_key_that_does_not_match_is_refused() {
    let host = TestHost::start("sm-pin");
    host.set_key_family("sm");
    let dir = temp_dir("sm-pin-term");
    let mut config = host.config_in(&dir, "sm", false);
    config.host_key_sha256 = Some("00".repeat(32));
    let t = Terminal::new(config, Hal::default()).unwrap();
    t.activate(DEVICE_TOKEN).unwrap();
    let err = t.download_master_key().unwrap_err();
    assert_eq!(err.kind, ErrorKind::KeyCheckFailed, "{err:?}");
    assert!(!t.status().unwrap().master_key_loaded);
    host.shutdown();
}
