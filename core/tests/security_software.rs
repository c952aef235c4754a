//! The software security module (core/src/security/software.rs) against the test vectors: TMK download
//! and activation, working keys, PIN block / MAC / track encryption, and the sealed key store on disk.

use possdk_core::crypto::rsa::HostPublicKey;
use possdk_core::crypto::sm::{self as smalg, WorkingKeys};
use possdk_core::crypto::sm2::Sm2PrivateKey;
use possdk_core::crypto::sm4::Sm4Key;
use possdk_core::crypto::{tdes, DesKey};
use possdk_core::security::software::SoftwareSecurityModule;
use possdk_core::security::{
    EncryptedKey, HostKey, KeyFamily, KeySlot, SecurityError, SecurityModule, TmkTransport,
};
use possdk_sim::fixture;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use zeroize::Zeroizing;

const TMK: &str = fixture::FIXED_TMK;
/// Any key but the TMK, as the TMK of a second download.
const OTHER_TMK: &str = fixture::FIXED_TDK;

/// The sealed store's layout (software.rs): `MAGIC (8) || nonce (12) || ciphertext || tag (16)`.
const MAGIC: &[u8; 8] = b"POSKEYS1";
const NONCE_LEN: usize = 12;

fn seal_key() -> [u8; 32] {
    fixture::seal_key()
}

/// Seal `plain` as the module seals its store.
fn seal(seal_key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(possdk_core::crypto::seal::seal(seal_key, plain, MAGIC).expect("seal"));
    out
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn json(name: &str) -> serde_json::Value {
    let text = fs::read_to_string(vectors_dir().join(name)).expect("vector file");
    serde_json::from_str(&text).expect("vector json")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// A fresh directory under the system temp dir.
fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "possdk-keys-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The host's side of the TMK download: RSA-decrypt R with the test private key, return DF21 and DF22.
fn host_wraps_tmk(transport: &TmkTransport, tmk_hex: &str) -> (Vec<u8>, [u8; 4]) {
    use rsa::pkcs8::DecodePrivateKey;
    let der = fs::read(vectors_dir().join("rsa/rsa_priv_pkcs8.der")).expect("private key");
    let private = rsa::PrivateKey::from_pkcs8_der(&der).expect("pkcs8");
    let r = Zeroizing::new(
        private
            .pkcs1v15_decrypt(&transport.encrypted_key)
            .expect("rsa decrypt"),
    );
    assert_eq!(r.len(), 16, "R is 16 bytes");
    let r_key = DesKey::from_bytes(&r).expect("R");
    assert_eq!(r_key.kcv(), transport.check_value, "DF24 is the CV of R");
    let tmk = DesKey::from_hex(tmk_hex).expect("tmk");
    let df21 = tdes::encrypt_ecb(&r_key, tmk.as_bytes()).expect("wrap");
    (df21, tmk.kcv())
}

fn host_key() -> HostKey {
    let v = json("rsa/rsa_vectors.json");
    let n = unhex(v["n_hex"].as_str().expect("n_hex"));
    HostKey::Rsa(HostPublicKey::new(&n, &[0x01, 0x00, 0x01]).expect("host key"))
}

/// Field 62 of the golden sign-in response, split into the three keys.
fn signin_keys() -> (EncryptedKey, EncryptedKey, EncryptedKey) {
    let m = json("messages.json");
    let f62 = unhex(m["signin_response"]["fields"]["62"].as_str().expect("62"));
    assert_eq!(f62.len(), 60);
    let part = |i: usize| {
        let chunk = &f62[i * 20..i * 20 + 20];
        let mut cv = [0u8; 4];
        cv.copy_from_slice(&chunk[16..]);
        EncryptedKey {
            encrypted: chunk[..16].to_vec(),
            check_value: cv,
        }
    };
    (part(0), part(1), part(2))
}

/// TMK download + activation of the vectors' TMK.
fn activated(store: Option<PathBuf>) -> SoftwareSecurityModule {
    let mut sm = SoftwareSecurityModule::open(store, &seal_key()).expect("open");
    let transport = sm.begin_tmk_download(&host_key()).expect("begin");
    let (df21, df22) = host_wraps_tmk(&transport, TMK);
    let cv = sm.receive_tmk(&df21, &df22).expect("receive");
    assert_eq!(hex::encode_upper(cv), "72E689DF");
    sm.activate_tmk().expect("activate");
    sm
}

fn signed_in(store: Option<PathBuf>) -> SoftwareSecurityModule {
    let mut sm = activated(store);
    let (pik, mak, tdk) = signin_keys();
    sm.install_working_keys(&pik, &mak, &tdk).expect("install");
    sm
}

#[test]
fn tmk_download_is_pending_until_activated() {
    let mut sm = SoftwareSecurityModule::open(None, &seal_key()).expect("open");
    assert!(!sm.has_key(KeySlot::Tmk));
    let transport = sm.begin_tmk_download(&host_key()).expect("begin");
    assert_eq!(transport.encrypted_key.len(), 256);
    let (df21, df22) = host_wraps_tmk(&transport, TMK);
    sm.receive_tmk(&df21, &df22).expect("receive");
    // Pending: unusable.
    assert!(!sm.has_key(KeySlot::Tmk));
    assert_eq!(sm.check_value(KeySlot::Tmk), None);
    let (pik, mak, tdk) = signin_keys();
    assert_eq!(
        sm.install_working_keys(&pik, &mak, &tdk),
        Err(SecurityError::MissingKey(KeySlot::Tmk))
    );
    sm.activate_tmk().expect("activate");
    assert!(sm.has_key(KeySlot::Tmk));
    assert_eq!(
        sm.check_value(KeySlot::Tmk)
            .map(hex::encode_upper)
            .as_deref(),
        Some("72E689DF")
    );
    // The pending slot was consumed.
    assert_eq!(sm.activate_tmk(), Err(SecurityError::NoTransportKey));
}

#[test]
fn transport_key_is_fresh_and_single_use() {
    let mut sm = SoftwareSecurityModule::open(None, &seal_key()).expect("open");
    assert_eq!(
        sm.receive_tmk(&[0u8; 16], &[0u8; 4]),
        Err(SecurityError::NoTransportKey)
    );
    let a = sm.begin_tmk_download(&host_key()).expect("begin");
    let b = sm.begin_tmk_download(&host_key()).expect("begin");
    assert_ne!(a.check_value, b.check_value, "R must be random");
    let (df21, df22) = host_wraps_tmk(&b, TMK);
    sm.receive_tmk(&df21, &df22).expect("receive");
    assert_eq!(
        sm.receive_tmk(&df21, &df22),
        Err(SecurityError::NoTransportKey)
    );
}

#[test]
fn wrong_tmk_check_value_is_rejected() {
    let mut sm = SoftwareSecurityModule::open(None, &seal_key()).expect("open");
    let transport = sm.begin_tmk_download(&host_key()).expect("begin");
    let (df21, mut df22) = host_wraps_tmk(&transport, TMK);
    df22[3] ^= 0x01;
    assert_eq!(
        sm.receive_tmk(&df21, &df22),
        Err(SecurityError::KeyCheck(KeySlot::Tmk))
    );
    assert_eq!(sm.activate_tmk(), Err(SecurityError::NoTransportKey));
    assert!(!sm.has_key(KeySlot::Tmk));
    // Wrong length of DF21 is a typed error too.
    sm.begin_tmk_download(&host_key()).expect("begin");
    assert!(matches!(
        sm.receive_tmk(&df21[..8], &df22),
        Err(SecurityError::Crypto(_))
    ));
}

#[test]
fn working_keys_match_the_vectors() {
    let mut sm = signed_in(None);
    let keys = &json("messages.json")["keys"];
    for (slot, name) in [
        (KeySlot::Pik, "pik"),
        (KeySlot::Mak, "mak"),
        (KeySlot::Tdk, "tdk"),
    ] {
        let expected = DesKey::from_hex(keys[name].as_str().expect("key"))
            .expect("key")
            .kcv();
        assert_eq!(sm.check_value(slot), Some(expected), "{slot:?}");
    }
    // PIN block (crypto.json pinblock_iso0 uses the same PIK).
    let pb = &json("crypto.json")["pinblock_iso0"];
    let block = sm
        .pin_block(
            pb["pin"].as_str().expect("pin"),
            pb["pan"].as_str().expect("pan"),
        )
        .expect("pin block");
    assert_eq!(
        hex::encode_upper(block),
        pb["encrypted_block"].as_str().expect("block")
    );
    // CUP-ECB MAC with the double-length MAK 04F4...
    let cup = json("crypto.json")["cup_ecb_mac"]
        .as_array()
        .expect("cup")
        .iter()
        .find(|v| v["mak"] == fixture::FIXED_MAK)
        .cloned()
        .expect("vector");
    let mac = sm
        .mac(&unhex(cup["data"].as_str().expect("data")))
        .expect("mac");
    assert_eq!(
        hex::encode_upper(mac),
        cup["mac_hex"].as_str().expect("mac_hex")
    );
    // MAC of the golden sale frame: MTI .. field 63, field 64 is the last 8 bytes.
    let frame = unhex(
        json("messages.json")["sale_swipe_pin_request"]["frame"]
            .as_str()
            .expect("frame"),
    );
    let mac = sm.mac(&frame[13..frame.len() - 8]).expect("mac");
    assert_eq!(mac[..], frame[frame.len() - 8..]);
    // Track block under the TDK 0123...3210: the zero block gives its check block.
    let enc = sm.encrypt_track_block(&[0u8; 8]).expect("track");
    assert_eq!(hex::encode_upper(enc), "08D7B4FB629D0885");
}

#[test]
fn wrong_working_key_check_value_installs_nothing() {
    let mut sm = activated(None);
    let (pik, mut mak, tdk) = signin_keys();
    mak.check_value[0] ^= 0xFF;
    assert_eq!(
        sm.install_working_keys(&pik, &mak, &tdk),
        Err(SecurityError::KeyCheck(KeySlot::Mak))
    );
    for slot in [KeySlot::Pik, KeySlot::Mak, KeySlot::Tdk] {
        assert!(!sm.has_key(slot), "{slot:?} must not be installed");
    }
    assert_eq!(
        sm.mac(b"data"),
        Err(SecurityError::MissingKey(KeySlot::Mak))
    );
    assert_eq!(
        sm.pin_block("1234", fixture::CUP_SWIPE.pan),
        Err(SecurityError::MissingKey(KeySlot::Pik))
    );
    assert_eq!(
        sm.encrypt_track_block(&[0u8; 8]),
        Err(SecurityError::MissingKey(KeySlot::Tdk))
    );

    // With keys already installed, a bad set leaves the old ones in place.
    let (pik, mak, mut tdk) = signin_keys();
    sm.install_working_keys(&pik, &mak, &tdk).expect("install");
    let before = sm.check_value(KeySlot::Pik);
    tdk.encrypted[0] ^= 0x01;
    assert_eq!(
        sm.install_working_keys(&pik, &mak, &tdk),
        Err(SecurityError::KeyCheck(KeySlot::Tdk))
    );
    assert_eq!(sm.check_value(KeySlot::Pik), before);
    assert!(sm.has_key(KeySlot::Tdk));
}

#[test]
fn activation_and_clear_drop_working_keys() {
    let mut sm = signed_in(None);
    sm.clear_working_keys().expect("clear");
    assert!(sm.has_key(KeySlot::Tmk));
    assert!(!sm.has_key(KeySlot::Pik) && !sm.has_key(KeySlot::Mak) && !sm.has_key(KeySlot::Tdk));

    let mut sm = signed_in(None);
    let transport = sm.begin_tmk_download(&host_key()).expect("begin");
    let (df21, df22) = host_wraps_tmk(&transport, OTHER_TMK);
    sm.receive_tmk(&df21, &df22).expect("receive");
    // Until activation the old TMK and working keys stay usable.
    assert!(sm.has_key(KeySlot::Mak));
    assert_eq!(
        sm.check_value(KeySlot::Tmk)
            .map(hex::encode_upper)
            .as_deref(),
        Some("72E689DF")
    );
    sm.activate_tmk().expect("activate");
    assert_eq!(
        sm.check_value(KeySlot::Tmk)
            .map(hex::encode_upper)
            .as_deref(),
        Some("08D7B4FB")
    );
    assert!(!sm.has_key(KeySlot::Mak));
}

#[test]
fn sealed_store_survives_reopen() {
    let dir = temp_dir();
    let path = dir.join("keys.bin");
    let mac_before = {
        let mut sm = signed_in(Some(path.clone()));
        // A download in progress and a pending TMK are memory only.
        let transport = sm.begin_tmk_download(&host_key()).expect("begin");
        let (df21, df22) = host_wraps_tmk(&transport, OTHER_TMK);
        sm.receive_tmk(&df21, &df22).expect("receive");
        sm.mac(b"0200 sample body").expect("mac")
    };
    let raw = fs::read(&path).expect("store");
    assert!(
        !raw.windows(16).any(|w| w == unhex(TMK).as_slice()),
        "keys must not be stored in clear"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "store must be private");
    }
    let mut sm = SoftwareSecurityModule::open(Some(path.clone()), &seal_key()).expect("reopen");
    assert_eq!(
        sm.check_value(KeySlot::Tmk)
            .map(hex::encode_upper)
            .as_deref(),
        Some("72E689DF")
    );
    assert_eq!(sm.mac(b"0200 sample body").expect("mac"), mac_before);
    assert_eq!(
        sm.activate_tmk(),
        Err(SecurityError::NoTransportKey),
        "pending TMK is not persisted"
    );
    assert_eq!(
        sm.receive_tmk(&[0u8; 16], &[0u8; 4]),
        Err(SecurityError::NoTransportKey)
    );

    sm.clear_working_keys().expect("clear");
    let sm = SoftwareSecurityModule::open(Some(path.clone()), &seal_key()).expect("reopen");
    assert!(sm.has_key(KeySlot::Tmk) && !sm.has_key(KeySlot::Mak));
    assert!(!dir.join("keys.bin.tmp").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn tampered_or_foreign_store_is_a_storage_error() {
    let dir = temp_dir();
    let path = dir.join("keys.bin");
    drop(signed_in(Some(path.clone())));
    let good = fs::read(&path).expect("store");

    let other_key = [0xA5u8; 32];
    assert!(matches!(
        SoftwareSecurityModule::open(Some(path.clone()), &other_key),
        Err(SecurityError::Storage(_))
    ));

    for i in [
        0,
        MAGIC.len(),
        MAGIC.len() + NONCE_LEN,
        good.len() / 2,
        good.len() - 1,
    ] {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).expect("write");
        let r = SoftwareSecurityModule::open(Some(path.clone()), &seal_key());
        assert!(matches!(r, Err(SecurityError::Storage(_))), "flip at {i}");
    }
    for bad in [
        Vec::new(),
        good[..20].to_vec(),
        b"not a key store at all, just text".to_vec(),
    ] {
        fs::write(&path, &bad).expect("write");
        assert!(matches!(
            SoftwareSecurityModule::open(Some(path.clone()), &seal_key()),
            Err(SecurityError::Storage(_))
        ));
    }
    // A sealed but malformed record set is refused as well.
    let sealed = seal(&seal_key(), &[b'X', 16, 0, 0]);
    fs::write(&path, &sealed).expect("write");
    assert!(matches!(
        SoftwareSecurityModule::open(Some(path.clone()), &seal_key()),
        Err(SecurityError::Storage(_))
    ));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_store_file_means_no_keys() {
    let dir = temp_dir();
    let sm = SoftwareSecurityModule::open(Some(dir.join("absent.bin")), &seal_key()).expect("open");
    assert!(!sm.has_key(KeySlot::Tmk));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn debug_shows_check_values_only() {
    let sm = signed_in(None);
    let text = format!("{sm:?}");
    assert!(text.contains("72E689DF"), "{text}");
    let keys = &json("messages.json")["keys"];
    for name in ["tmk", "pik", "mak", "tdk"] {
        let k = keys[name].as_str().expect("key");
        assert!(
            !text.contains(k) && !text.contains(&k.to_lowercase()),
            "{name} leaked"
        );
    }
}

/// The SM family end to end in the software module, against tests/vectors/sm.json: SM2 TMK transport (the host
/// decrypts R with its private key), SM4 working keys with check values, the 16-byte PIN block, CUP-SM4 MAC, a
/// 16-byte track block; and the sealed store records the family.
#[test]
fn sm_family_module_against_the_vectors() {
    let v = json("sm.json");
    let dl = &v["sm2_tmk_download"];
    let host = Sm2PrivateKey::from_bytes(&unhex(dl["host_private_key"].as_str().unwrap())).unwrap();
    let dir = temp_dir();
    let path = dir.join("keys.bin");
    let mut sm =
        SoftwareSecurityModule::open_family(Some(path.clone()), &seal_key(), KeyFamily::Sm)
            .unwrap();
    assert_eq!(sm.key_family(), KeyFamily::Sm);
    // An RSA host key belongs to the other family.
    assert_eq!(
        sm.begin_tmk_download(&host_key()).unwrap_err(),
        SecurityError::Family(KeyFamily::Sm)
    );
    let transport = sm
        .begin_tmk_download(&HostKey::Sm2(host.public_key()))
        .unwrap();
    assert_eq!(transport.encrypted_key.len(), 16 + 97);
    let r =
        smalg::tmk_transport_key(&host, &transport.encrypted_key, &transport.check_value).unwrap();
    let f62v = &v["sign_in_f62"];
    let tmk = Sm4Key::from_hex(f62v["tmk"].as_str().unwrap()).unwrap();
    let (df21, df22) = smalg::tmk_wrap(&r, &tmk);
    let cv = sm.receive_tmk(&df21, &df22).unwrap();
    assert_eq!(cv, tmk.kcv());
    sm.activate_tmk().unwrap();
    let f62 = unhex(f62v["f62"].as_str().unwrap());
    let key = |i: usize| EncryptedKey {
        encrypted: f62[i * 20..i * 20 + 16].to_vec(),
        check_value: f62[i * 20 + 16..i * 20 + 20].try_into().unwrap(),
    };
    let (pik, mut mak, tdk) = (key(0), key(1), key(2));
    mak.check_value[1] ^= 1;
    assert_eq!(
        sm.install_working_keys(&pik, &mak, &tdk),
        Err(SecurityError::KeyCheck(KeySlot::Mak))
    );
    sm.install_working_keys(&pik, &key(1), &tdk).unwrap();
    let keys = WorkingKeys {
        pik: Sm4Key::from_hex(f62v["pik"].as_str().unwrap()).unwrap(),
        mak: Sm4Key::from_hex(f62v["mak"].as_str().unwrap()).unwrap(),
        tdk: Sm4Key::from_hex(f62v["tdk"].as_str().unwrap()).unwrap(),
    };
    assert_eq!(sm.check_value(KeySlot::Mak), Some(keys.mak.kcv()));
    let block = sm.pin_block("123456", "6225880123456789").unwrap();
    assert_eq!(block.len(), 16);
    let block: [u8; 16] = block.try_into().unwrap();
    assert_eq!(
        &smalg::pin_block_decrypt(&keys.pik, &block, "6225880123456789").unwrap()[..],
        "123456"
    );
    assert_eq!(
        sm.mac(b"0200 sample body").unwrap(),
        smalg::cup_sm4_mac(&keys.mak, b"0200 sample body")
    );
    let enc = sm.encrypt_track_block(&[0u8; 16]).unwrap();
    assert_eq!(enc, keys.tdk.check_block().to_vec());
    assert!(matches!(
        sm.encrypt_track_block(&[0u8; 8]),
        Err(SecurityError::Crypto(_))
    ));
    drop(sm);

    // The store says SM: it reopens in the SM family with the same keys, and refuses the TDES family.
    let sm = SoftwareSecurityModule::open_family(Some(path.clone()), &seal_key(), KeyFamily::Sm)
        .unwrap();
    assert_eq!(sm.check_value(KeySlot::Pik), Some(keys.pik.kcv()));
    let err = SoftwareSecurityModule::open(Some(path.clone()), &seal_key()).unwrap_err();
    assert!(
        matches!(&err, SecurityError::Storage(m) if m.contains("sm keys") && m.contains("tdes")),
        "{err:?}"
    );
    // And a TDES store is refused in the SM family.
    let tdes_path = dir.join("tdes.bin");
    drop(signed_in(Some(tdes_path.clone())));
    assert!(matches!(
        SoftwareSecurityModule::open_family(Some(tdes_path), &seal_key(), KeyFamily::Sm),
        Err(SecurityError::Storage(_))
    ));
    let _ = fs::remove_dir_all(&dir);
}
