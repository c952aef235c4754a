//! Engine tests: a terminal on possdk-host running in this process. Every message the executor builds
//! goes over TCP to the acquirer simulator, which checks it and answers per PROTOCOL.md (MACs under real
//! keys); a tap on the transport keeps each request, decoded, for the assertions. possdk-host's admin
//! faults make it misbehave; where a test needs an answer possdk-host never gives (wrong key check values,
//! a corrupt CAPK checksum), the tap rewrites that one answer.

use possdk_core::api::{call_json, CardInput, OriginalRef, Payment, TransactionResult};
use possdk_core::hal::{CancelToken, Endpoint, EntryMode, Hal, Transport, TransportError};
use possdk_core::iso8583::{decode_frame, encode_frame, Message};
use possdk_core::tlv::{self, Tlv};
use possdk_core::transport::TcpTransport;
use possdk_core::TxState;
use possdk_core::{Config, ErrorKind, Terminal};
use possdk_host::{Host, HostConfig};
use possdk_sim::fixture::{
    TestCard, CUP_LOW_BALANCE, CUP_SWIPE, DEVICE_SN, DEVICE_TOKEN, MID, QR_CODE_2, SEAL_KEY_HEX,
    TID,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, LockResult, Mutex, MutexGuard};

/// Response timeout of the test terminals: every unanswered request costs this much.
const RESPONSE_MS: u64 = 1_000;

/// Rewrites the answer (second argument) to a request (first argument).
type Tamper = Box<dyn FnMut(&Message, &mut Message) + Send>;

/// What crossed the terminal's transport.
#[derive(Default)]
struct Wire {
    /// Every request sent, decoded.
    requests: Vec<Message>,
    /// Applied to every answer while set.
    tamper: Option<Tamper>,
}

impl Wire {
    fn mtis(&self) -> Vec<u16> {
        self.requests.iter().map(|m| m.mti.0).collect()
    }
    fn last(&self, mti: u16) -> Option<&Message> {
        self.requests.iter().rev().find(|m| m.mti.0 == mti)
    }
}

/// The TCP transport with a tap: records each request and passes each answer through the tamper.
struct Tap {
    tcp: TcpTransport,
    wire: Arc<Mutex<Wire>>,
}

impl Transport for Tap {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let request = decode_frame(frame)
            .expect("the terminal sends frames the codec reads")
            .message;
        self.wire.lock().unwrap().requests.push(request.clone());
        let answer = self.tcp.exchange(endpoint, frame, cancel)?;
        let mut wire = self.wire.lock().unwrap();
        let Some(tamper) = wire.tamper.as_mut() else {
            return Ok(answer);
        };
        let mut f = decode_frame(&answer).expect("possdk-host answers frames the codec reads");
        tamper(&request, &mut f.message);
        Ok(encode_frame(&f).expect("re-encode the answer"))
    }
}

/// Network management code (60.3) of a request.
fn nmc(m: &Message) -> &str {
    m.get_str(60).and_then(|s| s.get(8..11)).unwrap_or("")
}

/// possdk-host (fixed keys, its own database) and the tap of the terminals that talk to it; the
/// directory holds the host database and the terminal's journal and key store.
struct Acquirer {
    host: Host,
    wire: Arc<Mutex<Wire>>,
    dir: PathBuf,
}

impl Acquirer {
    /// The default provisioning (possdk_sim::fixture's terminal, device and cards).
    fn start(name: &str) -> Acquirer {
        Self::start_with(name, None)
    }

    /// Provisioned from this JSON (docs/HOST.md) instead.
    fn start_provisioned(name: &str, provision: &serde_json::Value) -> Acquirer {
        Self::start_with(name, Some(provision))
    }

    fn start_with(name: &str, provision: Option<&serde_json::Value>) -> Acquirer {
        let dir = std::env::temp_dir().join(format!("possdk-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = HostConfig::new("127.0.0.1:0", dir.join("host.db"));
        config.fixed_keys = true;
        if let Some(p) = provision {
            let path = dir.join("provision.json");
            std::fs::write(&path, p.to_string()).unwrap();
            config.provision = Some(path);
        }
        Acquirer {
            host: Host::start(config).expect("possdk-host starts"),
            wire: Arc::default(),
            dir,
        }
    }

    /// The tap's record (and tamper slot).
    fn lock(&self) -> LockResult<MutexGuard<'_, Wire>> {
        self.wire.lock()
    }

    /// Queue an admin fault (`{"fault": ..., "count": ...}`) for whichever terminal sends next.
    fn fault(&self, fault: serde_json::Value) {
        let mut request = json!({"cmd": "fault"});
        request
            .as_object_mut()
            .unwrap()
            .extend(fault.as_object().unwrap().clone());
        let answer = self.host.admin(request);
        assert_eq!(answer["ok"], true, "{answer}");
    }

    /// The issuer's balance of a card.
    fn balance(&self, pan: &str) -> i64 {
        let answer = self.host.admin(json!({"cmd": "balance", "pan": pan}));
        answer["balance"].as_i64().expect("balance")
    }

    fn config(&self) -> Config {
        let host = self.host.addr().to_string();
        Config::from_json(
            &json!({
                "tid": TID, "mid": MID,
                "gateway": {"address": host, "tpdu": "6000030000"},
                "platform": {"address": host, "tpdu": "6000050000"},
                "journal_path": self.dir.join("journal.db").to_string_lossy(),
                "timeouts_ms": {"connect": 1000, "response": RESPONSE_MS},
                "device": {"serial": DEVICE_SN, "model": "test"},
                "seal_key": SEAL_KEY_HEX
            })
            .to_string(),
        )
        .expect("config")
    }

    /// A terminal on this host (journal in the host's directory).
    fn terminal(&self) -> Terminal {
        self.terminal_with(self.config(), Hal::default())
    }

    /// A terminal with this config and these devices; its transport is the tap.
    fn terminal_with(&self, config: Config, mut hal: Hal) -> Terminal {
        hal.transport = Some(Box::new(Tap {
            tcp: TcpTransport::new(),
            wire: self.wire.clone(),
        }));
        Terminal::new(config, hal).expect("terminal")
    }

    /// Activated, master key loaded, signed in.
    fn ready(&self) -> Terminal {
        let t = self.terminal();
        t.activate(DEVICE_TOKEN).expect("activate");
        t.download_master_key().expect("master key");
        t.sign_in().expect("sign in");
        t
    }
}

impl Drop for Acquirer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A ready terminal on a fresh host.
fn ready(name: &str) -> (Terminal, Acquirer) {
    let host = Acquirer::start(name);
    (host.ready(), host)
}

/// The fixture's terminal and device, two AIDs and two CAPKs.
fn two_aids_two_capks() -> serde_json::Value {
    let capk = |index: u8| {
        json!({"rid": "A000000333", "index": index, "expiry": "20301231",
               "modulus": "B5".repeat(128), "exponent": "03"})
    };
    json!({
        "terminals": [{"tid": TID, "mid": MID}],
        "devices": [{"sn": DEVICE_SN, "token": DEVICE_TOKEN, "tid": TID}],
        "aids": [{"aid": "A000000333010101"}, {"aid": "A000000333010102"}],
        "capks": [capk(0x80), capk(0x81)]
    })
}

/// A swiped card: track 2 `<pan>D3012101...` and the PIN, if any.
fn swipe_track(pan: &str, pin: Option<&str>) -> CardInput {
    CardInput {
        entry: Some(EntryMode::Swipe),
        track2: Some(zeroize::Zeroizing::new(format!("{pan}D3012101123456789"))),
        pin: pin.map(|p| zeroize::Zeroizing::new(p.to_string())),
        ..Default::default()
    }
}

/// A test card swiped, with its PIN.
fn swipe(card: &TestCard) -> CardInput {
    swipe_track(card.pan, Some(card.pin))
}

/// MMDD of a transaction, as the host dated it (field 61 of a reference to it).
fn mmdd(r: &TransactionResult) -> String {
    r.datetime[5..10].replace('-', "")
}

fn f(m: &Message, n: u8) -> Option<String> {
    m.get_str(n).map(str::to_string)
}

#[test]
fn card_sale_void_tip_refund_and_settlement() {
    let (t, host) = ready("day");

    // Sale with PIN: the request carries what docs/PROTOCOL.md §4 says.
    let sale = t
        .sale(1234, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved, "{sale:?}");
    assert_eq!(sale.response_code, "00");
    assert_eq!(sale.masked_pan.as_deref(), Some("622588******6789"));
    assert_eq!(sale.card_org.as_deref(), Some("CUP"));
    assert!(sale.reference.is_some() && sale.auth_code.is_some());
    assert!(sale.receipt.iter().any(|l| l.contains("622588******6789")));
    assert!(!sale.receipt.join("\n").contains("6225880123456789"));
    {
        let st = host.lock().unwrap();
        let req = st.last(200).unwrap();
        assert_eq!(f(req, 3).as_deref(), Some("000000"));
        assert_eq!(f(req, 4).as_deref(), Some("000000001234"));
        assert_eq!(f(req, 22).as_deref(), Some("021"));
        assert_eq!(f(req, 25).as_deref(), Some("00"));
        assert_eq!(f(req, 26).as_deref(), Some("12"));
        assert_eq!(f(req, 53).as_deref(), Some("2600000000000000"));
        assert_eq!(f(req, 14).as_deref(), Some("3012"));
        assert_eq!(f(req, 60).as_deref(), Some("22000001000500000"));
        assert_eq!(req.get(52).map(|v| v.len()), Some(8));
        assert!(req.has(35) && req.has(64));
    }

    // Void: amount and references of the original; original becomes voided.
    let void = t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap();
    assert!(void.approved);
    {
        let st = host.lock().unwrap();
        let req = st.last(200).unwrap();
        assert_eq!(f(req, 3).as_deref(), Some("200000"));
        assert_eq!(f(req, 4).as_deref(), Some("000000001234"));
        assert_eq!(f(req, 37), sale.reference);
        assert_eq!(f(req, 38), sale.auth_code);
        assert_eq!(
            f(req, 61),
            Some(format!("{:06}{:06}", sale.batch, sale.stan))
        );
        assert_eq!(f(req, 60).as_deref().map(|s| &s[..2]), Some("23"));
    }
    let j = t.journal(None).unwrap();
    assert_eq!(
        j.records
            .iter()
            .find(|r| r.stan == sale.stan)
            .unwrap()
            .state,
        TxState::Voided
    );

    // Void twice, tip on a voided sale: typed errors naming the STAN.
    let e = t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidState, Some("stan"))
    );
    let e = t.tip(sale.stan, 100).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidState, Some("stan"))
    );

    // A second sale, tipped, tip voided.
    let sale2 = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    let e = t.tip(sale2.stan, 2_001).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("tip"));
    let tip = t.tip(sale2.stan, 1_500).unwrap();
    assert!(tip.approved);
    assert_eq!((tip.amount, tip.tip), (11_500, 1_500));
    {
        let st = host.lock().unwrap();
        let req = st.last(220).unwrap();
        assert_eq!(f(req, 48).as_deref(), Some("000000001500"));
        assert_eq!(f(req, 4).as_deref(), Some("000000011500"));
        assert_eq!(f(req, 22).as_deref(), Some("021"));
        assert!(!req.has(35) && !req.has(52));
        assert_eq!(f(req, 61).map(|s| s.len()), Some(16));
    }
    let rows = t.journal(None).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == sale2.stan).unwrap().tip,
        1_500
    );
    let e = t.tip(sale2.stan, 100).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidState);
    let tv = t.tip_void(tip.stan).unwrap();
    assert!(tv.approved);
    assert_eq!(
        host.lock().unwrap().last(220).unwrap().get_str(4),
        Some("000000010000")
    );
    let rows = t.journal(None).unwrap().records;
    assert_eq!(rows.iter().find(|r| r.stan == sale2.stan).unwrap().tip, 0);

    // Refund by reference; over the original is refused locally.
    let orig = OriginalRef {
        reference: sale2.reference.clone(),
        date: Some(mmdd(&sale2)),
        ..Default::default()
    };
    let e = t
        .refund(10_001, orig.clone(), Some(swipe(&CUP_SWIPE)))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));
    let refund = t.refund(4_000, orig, Some(swipe(&CUP_SWIPE))).unwrap();
    assert!(refund.approved);
    {
        let st = host.lock().unwrap();
        let req = st.last(220).unwrap();
        assert_eq!(f(req, 63).as_deref(), Some("CUP"));
        assert_eq!(f(req, 37), sale2.reference);
    }

    // Pre-auth, completion (<= 115%), completion void.
    let pa = t
        .preauth(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(pa.approved);
    assert_eq!(
        host.lock().unwrap().last(100).unwrap().get_str(25),
        Some("06")
    );
    let pref = OriginalRef {
        auth_code: pa.auth_code.clone(),
        date: Some(mmdd(&pa)),
        batch: Some(pa.batch),
        stan: Some(pa.stan),
        ..Default::default()
    };
    let e = t
        .preauth_complete(11_501, pref.clone(), Some(swipe(&CUP_SWIPE)))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));
    let comp = t
        .preauth_complete(11_500, pref.clone(), Some(swipe(&CUP_SWIPE)))
        .unwrap();
    assert!(comp.approved);
    let rows = t.journal(None).unwrap().records;
    assert!(rows.iter().find(|r| r.stan == pa.stan).unwrap().completed);
    let e = t
        .preauth_complete(100, pref, Some(swipe(&CUP_SWIPE)))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidState);
    let cv = t
        .preauth_complete_void(comp.stan, Some(swipe(&CUP_SWIPE)))
        .unwrap();
    assert!(cv.approved);
    let rows = t.journal(None).unwrap().records;
    assert!(!rows.iter().find(|r| r.stan == pa.stan).unwrap().completed);

    // Balance.
    let bal = t.balance(Some(swipe(&CUP_SWIPE))).unwrap();
    // The issuer's balance: 1,000,000 less sale2 (10,000; its tip voided) and the reopened pre-auth's hold
    // (10,000), plus the refund (4,000); the voided sale and completion moved nothing.
    assert_eq!(bal.balance, Some(984_000));
    assert_eq!(bal.balance, Some(host.balance(CUP_SWIPE.pan)));
    assert!(!host.lock().unwrap().last(200).unwrap().has(4));

    // Detail query of the card transactions so far.
    let details = t.query_details(None).unwrap();
    assert!(!details.records.is_empty());
    assert!(details
        .records
        .iter()
        .all(|r| r.masked_pan.as_deref() == Some("622588******6789")));

    // QR sale and void.
    let qr = t
        .sale(8_800, Payment::Qr(Some("134567890123456789".into())))
        .unwrap();
    assert!(qr.approved);
    assert!(qr.voucher.as_deref().is_some_and(|v| v.len() == 20));
    {
        let st = host.lock().unwrap();
        let req = st.last(200).unwrap();
        assert_eq!(f(req, 59).as_deref(), Some("A3018134567890123456789"));
        assert_eq!(f(req, 22).as_deref(), Some("032"));
        assert!(!req.has(53) && !req.has(2));
    }
    let qv = t.void(qr.stan, None).unwrap();
    assert!(qv.approved);
    assert_eq!(qv.kind, "qr_void");
    assert_eq!(
        host.lock()
            .unwrap()
            .last(200)
            .unwrap()
            .get_str(59)
            .map(str::to_string),
        Some(format!("A4020{}", qr.voucher.clone().unwrap()))
    );

    // Settlement (balanced).
    let s = t.settle().unwrap();
    assert!(s.balanced);
    assert_eq!(s.uploaded, 0);
    assert_eq!(s.batch, 1);
    assert_eq!(s.next_batch, 2);
    // Debit: sale2 (10000, tip voided) ; completion voided, sale voided, QR voided. Credit: refund 4000.
    assert_eq!(s.terminal.domestic.debit.count, 1);
    assert_eq!(s.terminal.domestic.debit.amount, 10_000);
    assert_eq!(s.terminal.domestic.credit.amount, 4_000);
    assert_eq!(s.host, s.terminal);
    assert_eq!(t.status().unwrap().batch, 2);
}

#[test]
fn declines_are_results_not_errors() {
    let (t, host) = ready("decline");
    let r = t
        .sale(50_000, Payment::Card(Some(swipe(&CUP_LOW_BALANCE))))
        .unwrap();
    assert!(!r.approved);
    assert_eq!(r.response_code, "51");
    assert_eq!(r.message, "Insufficient funds");
    host.fault(json!({"fault": "decline", "code": "55"}));
    let r = t
        .sale(
            100,
            Payment::Card(Some(swipe_track(CUP_SWIPE.pan, Some("000000")))),
        )
        .unwrap();
    assert_eq!(r.response_code, "55");
    let rows = t.journal(None).unwrap().records;
    assert!(rows.iter().all(|r| r.state == TxState::Declined));
    assert!(t.status().unwrap().pending_reversal.is_none());
}

#[test]
fn no_answer_is_reversed_with_98() {
    let (t, host) = ready("timeout");
    host.fault(json!({"fault": "no_answer"}));
    let e = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout);
    let st = host.lock().unwrap();
    let mtis = st.mtis();
    assert_eq!(&mtis[mtis.len() - 2..], &[200, 400]);
    let rev = st.last(400).unwrap();
    assert_eq!(rev.get_str(39), Some("98"));
    assert_eq!(rev.get_str(11), st.last(200).unwrap().get_str(11));
    for dropped in [26u8, 35, 36, 37, 52, 53] {
        assert!(!rev.has(dropped), "0400 carries {dropped}");
    }
    drop(st);
    let rows = t.journal(None).unwrap().records;
    assert_eq!(rows.last().unwrap().state, TxState::Reversed);
    assert!(t.status().unwrap().pending_reversal.is_none());
}

#[test]
fn reversal_survives_a_restart_and_goes_first() {
    let (t, host) = ready("restart");
    host.fault(json!({"fault": "no_answer", "count": 2}));
    let e = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout);
    let pending = t
        .status()
        .unwrap()
        .pending_reversal
        .expect("pending reversal");
    assert_eq!(pending.reason.as_deref(), Some("98"));
    assert_eq!(pending.attempts, 1);
    drop(t);

    // Reopen on the same journal (the keys are in the sealed key store beside it).
    let t = host.terminal();
    assert_eq!(
        t.status().unwrap().pending_reversal.map(|p| p.stan),
        Some(pending.stan)
    );
    let before = host.lock().unwrap().requests.len();
    let sale = t
        .sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved);
    let st = host.lock().unwrap();
    let after: Vec<u16> = st.requests[before..].iter().map(|m| m.mti.0).collect();
    assert_eq!(after, vec![400, 200]);
    assert_eq!(
        st.requests[before]
            .get_str(11)
            .map(|s| s.parse::<u32>().unwrap()),
        Some(pending.stan)
    );
}

#[test]
fn wrong_response_mac_reverses_with_a0_and_signs_out() {
    let (t, host) = ready("mac");
    host.fault(json!({"fault": "wrong_mac"}));
    let e = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    {
        let st = host.lock().unwrap();
        let rev = st.last(400).expect("reversal sent");
        assert_eq!(rev.get_str(39), Some("A0"));
        assert!(rev.has(38), "the auth id received goes into the 0400");
    }
    let status = t.status().unwrap();
    assert!(!status.signed_in);
    assert!(status.pending_reversal.is_none());
    let e = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn);
    t.sign_in().unwrap();
    assert!(
        t.sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
}

#[test]
fn bad_input_is_a_typed_error_and_leaves_the_journal_alone() {
    let state = Acquirer::start("badinput");
    let t = state.terminal();
    let e = t
        .sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotActivated);
    t.activate(DEVICE_TOKEN).unwrap();
    t.download_master_key().unwrap();
    let e = t
        .sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn);
    t.sign_in().unwrap();
    let sale = t.sale(500, Payment::Card(Some(swipe(&CUP_SWIPE)))).unwrap();
    t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap();

    let before = (t.journal(None).unwrap().records, t.status().unwrap());
    let sent_before = state.lock().unwrap().requests.len();
    let card = || Some(swipe(&CUP_SWIPE));
    let cases: Vec<(possdk_core::Error, ErrorKind, &str)> = vec![
        (
            t.sale(0, Payment::Card(card())).unwrap_err(),
            ErrorKind::InvalidRequest,
            "amount",
        ),
        (
            t.sale(1_000_000_000_000, Payment::Card(card()))
                .unwrap_err(),
            ErrorKind::InvalidRequest,
            "amount",
        ),
        (
            t.sale(
                100,
                Payment::Card(Some(swipe_track("62258801234X6789", None))),
            )
            .unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.track2",
        ),
        (
            t.sale(
                100,
                Payment::Card(Some(possdk_core::api::CardInput {
                    entry: Some(possdk_core::hal::EntryMode::Chip),
                    pan: Some(zeroize::Zeroizing::new("6225ABCD".into())),
                    icc: Some(vec![0x9F, 0x26, 0x01, 0x00]),
                    ..Default::default()
                })),
            )
            .unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.pan",
        ),
        (
            t.sale(
                100,
                Payment::Card(Some(swipe_track(CUP_SWIPE.pan, Some("12")))),
            )
            .unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.pin",
        ),
        (
            t.void(999, card()).unwrap_err(),
            ErrorKind::OriginalNotFound,
            "stan",
        ),
        (
            t.tip(sale.stan, 10).unwrap_err(),
            ErrorKind::InvalidState,
            "stan",
        ),
        (
            t.sale(100, Payment::Qr(Some("13 bad".into()))).unwrap_err(),
            ErrorKind::InvalidRequest,
            "qr_code",
        ),
        (
            t.sale(100, Payment::Card(None)).unwrap_err(),
            ErrorKind::InvalidRequest,
            "card",
        ),
    ];
    for (e, kind, field) in cases {
        assert_eq!((e.kind, e.field.as_deref()), (kind, Some(field)), "{e}");
    }
    let after = (t.journal(None).unwrap().records, t.status().unwrap());
    assert_eq!(before, after, "the journal changed");
    assert_eq!(
        state.lock().unwrap().requests.len(),
        sent_before,
        "something was sent"
    );
}

#[test]
fn unbalanced_settlement_uploads_the_batch() {
    let (t, host) = ready("upload");
    t.sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    t.sale(2_000, Payment::Qr(Some(QR_CODE_2.into()))).unwrap();
    host.fault(json!({"fault": "unbalanced_settlement"}));
    let s = t.settle().unwrap();
    assert_eq!(s.uploaded, 2);
    assert!(s.balanced);
    let st = host.lock().unwrap();
    let uploads: Vec<_> = st.requests.iter().filter(|m| m.mti.0 == 320).collect();
    assert_eq!(uploads.len(), 3);
    assert_eq!(uploads[0].get_str(2), Some(CUP_SWIPE.pan));
    assert!(uploads[1]
        .get_str(59)
        .is_some_and(|v| v.starts_with("A4020")));
    assert_eq!(uploads[2].get_str(48), Some("0002"));
    assert_eq!(uploads[2].get_str(60).map(|s| &s[8..]), Some("202"));
}

#[test]
fn sign_in_with_bad_check_values_stays_signed_out() {
    let (t, host) = ready("kcv");
    // possdk-host always sends true check values: spoil the three of its next sign-in answer.
    host.lock().unwrap().tamper = Some(Box::new(|req, resp| {
        if req.mti.0 == 800 && nmc(req) == "004" {
            let mut f62 = resp.get(62).expect("sign-in keys").to_vec();
            for key in 0..3 {
                f62[key * 20 + 16] ^= 0xFF;
            }
            resp.set(62, f62);
        }
    }));
    let e = t.sign_in().unwrap_err();
    assert_eq!(e.kind, ErrorKind::KeyCheckFailed);
    assert!(!t.status().unwrap().signed_in);
}

#[test]
fn emv_parameters_are_paged_and_checked() {
    // Two AIDs and two CAPKs, the second CAPK's checksum spoilt on the way (possdk-host's are right).
    let host = Acquirer::start_provisioned("emv", &two_aids_two_capks());
    let t = host.ready();
    host.lock().unwrap().tamper = Some(Box::new(|req, resp| {
        let items = req
            .get(62)
            .and_then(|v| tlv::decode(v).ok())
            .unwrap_or_default();
        if req.mti.0 == 800 && nmc(req) == "370" && tlv::get(&items, 0x9F22) == Some(&[0x81][..]) {
            let v = resp.get(62).expect("CAPK").to_vec();
            let mut capk = tlv::decode(&v[1..]).expect("CAPK TLVs");
            for item in capk.iter_mut().filter(|t| t.tag == 0xDF03) {
                let mut sum = item.bytes().unwrap_or_default().to_vec();
                sum[0] ^= 1;
                *item = Tlv::primitive(0xDF03, sum);
            }
            let mut out = v[..1].to_vec();
            out.extend(tlv::encode(&capk));
            resp.set(62, out);
        }
    }));
    let c = t.download_capks().unwrap();
    assert_eq!((c.count, c.rejected), (1, 1));
    let a = t.download_aids().unwrap();
    assert_eq!(a.count, 2);
}

#[test]
fn json_envelope() {
    let (t, _host) = ready("json");
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, "{nope")).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "invalid_json");
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, r#"{"op":"sale"}"#)).unwrap();
    assert_eq!(v["error"]["code"], "invalid_request");
    assert_eq!(v["error"]["field"], "amount");
    let v: serde_json::Value = serde_json::from_str(&call_json(
        &t,
        r#"{"op":"sale","amount":0,"qr_code":"134567890123456789"}"#,
    ))
    .unwrap();
    assert_eq!(v["error"]["field"], "amount");
    let req = r#"{"op":"sale","amount":50000,"card":{"entry":"swipe","track2":"6225881111111111=3012101","pin":"111111"}}"#;
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, req)).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"]["approved"], false);
    assert_eq!(v["result"]["response_code"], "51");
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, r#"{"op":"status"}"#)).unwrap();
    assert_eq!(v["result"]["signed_in"], true);
    let v: serde_json::Value =
        serde_json::from_str(&call_json(&t, r#"{"op":"void","stan":424242}"#)).unwrap();
    assert_eq!(v["error"]["code"], "original_not_found");
    assert_eq!(v["error"]["field"], "stan");
}

#[test]
fn cancel_from_another_thread_after_sending_reverses_with_06() {
    let (t, host) = ready("cancel");
    // The host takes the sale and answers long after the app cancels (and after the response timeout, so
    // an ignored cancel would show as a timeout).
    host.fault(json!({"fault": "delay", "ms": 3 * RESPONSE_MS}));
    let t = std::sync::Arc::new(t);
    let t2 = t.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        t2.cancel();
    });
    let e = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    let st = host.lock().unwrap();
    assert_eq!(st.last(400).expect("reversal").get_str(39), Some("06"));
    drop(st);
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(
        t.journal(None).unwrap().records.last().unwrap().state,
        TxState::Reversed
    );
}

#[test]
fn terminal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<possdk_core::Terminal>();
}

#[test]
fn unanswered_advice_is_resent_identically_with_the_same_stan() {
    let (t, host) = ready("advice");
    let sale = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    host.fault(json!({"fault": "no_answer", "count": 3}));
    let e = t.tip(sale.stan, 500).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout);
    assert_eq!(t.status().unwrap().unsent_advices, 1);
    let sent: Vec<_> = host
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|m| m.mti.0 == 220)
        .cloned()
        .collect();
    assert_eq!(sent.len(), 3, "three attempts");
    assert!(
        sent.windows(2).all(|w| w[0] == w[1]),
        "resends are identical"
    );
    // Before the next transaction the advice goes again, same STAN, and is applied.
    let next = t.sale(100, Payment::Card(Some(swipe(&CUP_SWIPE)))).unwrap();
    assert!(next.approved);
    let st = host.lock().unwrap();
    let advices: Vec<_> = st.requests.iter().filter(|m| m.mti.0 == 220).collect();
    assert_eq!(advices.len(), 4);
    assert_eq!(advices[3], &sent[0]);
    drop(st);
    assert_eq!(t.status().unwrap().unsent_advices, 0);
    let rows = t.journal(None).unwrap().records;
    assert_eq!(rows.iter().find(|r| r.stan == sale.stan).unwrap().tip, 500);
}

#[test]
fn pin_policy_bypass_only_where_configured() {
    use possdk_sim::{SimCard, SimCardReader, SimPin, SimPinPad};
    for (allowed, expect_ok) in [(false, false), (true, true)] {
        let state = Acquirer::start(if allowed {
            "bypass-ok"
        } else {
            "bypass-refused"
        });
        let mut cfg = state.config();
        if allowed {
            cfg.pin_bypass_allowed = Some(vec!["sale".into()]);
        }
        let reader = SimCardReader::with_default(SimCard::swipe(&CUP_SWIPE));
        let pad = SimPinPad::new(SimPin::Bypass);
        let hal = possdk_core::hal::Hal {
            card_reader: Some(Box::new(reader)),
            pin_pad: Some(Box::new(pad.clone())),
            ..Default::default()
        };
        let t = state.terminal_with(cfg, hal);
        t.activate(DEVICE_TOKEN).unwrap();
        t.download_master_key().unwrap();
        t.sign_in().unwrap();
        let r = t.sale(1_000, Payment::Card(None));
        assert_eq!(pad.requests().len(), 1);
        assert_eq!(pad.requests()[0].allow_bypass, allowed);
        if expect_ok {
            assert!(r.unwrap().approved);
            let st = state.lock().unwrap();
            let req = st.last(200).unwrap();
            assert_eq!(req.get_str(22), Some("022"));
            assert_eq!(req.get_str(53), Some("0600000000000000"));
            assert!(!req.has(52) && !req.has(26));
        } else {
            let e = r.unwrap_err();
            assert_eq!(
                (e.kind, e.field.as_deref()),
                (ErrorKind::InvalidRequest, Some("card.pin"))
            );
            assert!(t.journal(None).unwrap().records.is_empty());
        }
    }
}

#[test]
fn a_flagged_reversal_still_goes_before_every_transaction() {
    let (t, host) = ready("flagged");
    let card = || Some(swipe(&CUP_SWIPE));
    let reversals = |host: &Acquirer| -> usize {
        let st = host.lock().unwrap();
        st.requests.iter().filter(|m| m.mti.0 == 400).count()
    };
    // The sale and the immediate reversal attempt: no answer.
    host.fault(json!({"fault": "no_answer", "count": 2}));
    t.sale(1_000, Payment::Card(card())).unwrap_err();
    // Before the next sale: the two remaining attempts, unanswered too -> flagged, and the sale is not
    // sent: a transaction never goes ahead of a reversal owed.
    host.fault(json!({"fault": "no_answer", "count": 2}));
    let e = t.sale(2_000, Payment::Card(card())).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout, "{e}");
    assert_eq!(e.outcome, Some(possdk_core::Outcome::NotSent), "{e}");
    let p = t.status().unwrap().pending_reversal.expect("still owed");
    assert!(p.flagged);
    assert_eq!(p.attempts, 3);
    assert_eq!(reversals(&host), 3);
    assert!(
        !host
            .lock()
            .unwrap()
            .requests
            .iter()
            .any(|m| m.get_str(4) == Some("000000002000")),
        "the refused sale never left"
    );
    // Once the host answers, the flagged reversal goes first, then the sale.
    assert!(t.sale(3_000, Payment::Card(card())).unwrap().approved);
    assert_eq!(reversals(&host), 4);
    assert!(t.status().unwrap().pending_reversal.is_none());
    {
        let st = host.lock().unwrap();
        let i400 = st.requests.iter().rposition(|m| m.mti.0 == 400).unwrap();
        let i200 = st.requests.iter().rposition(|m| m.mti.0 == 200).unwrap();
        assert!(i400 < i200);
    }
    let s = t.settle().unwrap();
    assert!(s.balanced);
    assert_eq!(s.terminal.domestic.debit.amount, 3_000);
}
