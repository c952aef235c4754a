//! Known-answer tests of the SM (国密) key family: every value of tests/vectors/sm.json and the key pair in
//! tests/vectors/sm2/ reproduced byte for byte (docs/PROTOCOL.md §11).
use possdk_core::crypto::sm::{self, WorkingKeys};
use possdk_core::crypto::sm2::{Sm2PrivateKey, Sm2PublicKey};
use possdk_core::crypto::sm4::Sm4Key;
use possdk_core::crypto::{sha256, sm3, CryptoError};
use serde_json::Value;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("vectors")
}

fn load() -> Value {
    let p = vectors_dir().join("sm.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("missing string {k}"))
}

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(s(v, k)).unwrap_or_else(|e| panic!("bad hex in {k}: {e}"))
}

fn up(b: &[u8]) -> String {
    hex::encode_upper(b)
}

fn key(v: &Value, k: &str) -> Sm4Key {
    Sm4Key::from_hex(s(v, k)).unwrap()
}

fn list<'a>(d: &'a Value, k: &str) -> &'a Vec<Value> {
    d[k].as_array()
        .unwrap_or_else(|| panic!("missing list {k}"))
}

#[test]
fn sm3_standard_messages() {
    let d = load();
    let v = &d["sm3"];
    assert_eq!(up(&sm3(b"abc")), s(v, "abc"));
    assert_eq!(up(&sm3("abcd".repeat(16).as_bytes())), s(v, "abcd_x16"));
}

#[test]
fn sm4_check_values() {
    let d = load();
    let l = list(&d, "kcv");
    assert_eq!(l.len(), 6);
    for v in l {
        let k = key(v, "key");
        assert_eq!(up(&sm::check_value(&k)), s(v, "kcv4"));
        assert_eq!(format!("{k:?}"), format!("Sm4Key(kcv={})", s(v, "kcv4")));
    }
}

#[test]
fn sign_in_field_62() {
    let d = load();
    let v = &d["sign_in_f62"];
    let tmk = key(v, "tmk");
    let f62 = h(v, "f62");
    assert_eq!(f62.len(), sm::F62_LEN);

    // Terminal side: the three keys come out with their check values verified.
    let keys = sm::unwrap_sign_in(&tmk, &f62).unwrap();
    assert_eq!(up(keys.pik.as_bytes()), s(v, "pik"));
    assert_eq!(up(keys.mak.as_bytes()), s(v, "mak"));
    assert_eq!(up(keys.tdk.as_bytes()), s(v, "tdk"));

    // Host side: the same 60 bytes.
    let given = WorkingKeys {
        pik: key(v, "pik"),
        mak: key(v, "mak"),
        tdk: key(v, "tdk"),
    };
    assert_eq!(up(&sm::wrap_sign_in(&tmk, &given)), s(v, "f62"));

    // A corrupted check value refuses the whole field.
    for i in [16, 36, 59] {
        let mut bad = f62.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            sm::unwrap_sign_in(&tmk, &bad).unwrap_err(),
            CryptoError::CheckValue
        );
    }
    // The same field under another TMK fails its check values.
    let other = Sm4Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    assert_eq!(
        sm::unwrap_sign_in(&other, &f62).unwrap_err(),
        CryptoError::CheckValue
    );
}

#[test]
fn pin_blocks_sm4() {
    let d = load();
    let l = list(&d, "pin_block_sm4");
    assert_eq!(l.len(), 4);
    for v in l {
        let (pin, pan) = (s(v, "pin"), s(v, "pan"));
        let pik = key(v, "pik");
        let clear = sm::pin_block_clear(pin, pan).unwrap();
        assert_eq!(up(&clear[..]), s(v, "clear_block"), "PIN {pin}");
        let enc = sm::pin_block_encrypt(&pik, pin, pan).unwrap();
        assert_eq!(up(&enc), s(v, "encrypted"), "PIN {pin}");
        let enc: [u8; 16] = h(v, "encrypted").try_into().unwrap();
        assert_eq!(
            sm::pin_block_decrypt(&pik, &enc, pan).unwrap().as_str(),
            pin
        );
    }
}

#[test]
fn cup_sm4_macs() {
    let d = load();
    let l = list(&d, "cup_sm4_mac");
    assert_eq!(l.len(), 8);
    // The edge sizes the README names, plus the real frame.
    let sizes: Vec<usize> = l.iter().map(|v| h(v, "mab").len()).collect();
    for n in [0, 1, 15, 16, 17, 32, 255] {
        assert!(sizes.contains(&n), "no MAB of {n} bytes");
    }
    for v in l {
        let mak = key(v, "mak");
        let mab = h(v, "mab");
        let mac = sm::cup_sm4_mac(&mak, &mab);
        assert_eq!(up(&mac), s(v, "mac"), "MAB of {} bytes", mab.len());
        let steps = sm::cup_sm4_steps(&mak, &mab);
        assert_eq!(steps.hex.to_vec(), up(&steps.xor_result).into_bytes());
        assert_eq!(steps.mac[..], steps.enc2[..8]);
    }
}

#[test]
fn cup_sm4_mac_of_a_real_frame_matches_its_mab() {
    // The first MAC vector is over the MAB of the sale request in messages.json: check the MAB really is that
    // frame's MAC'd span, so the vector ties the algorithm to the wire.
    let d = load();
    let v = &list(&d, "cup_sm4_mac")[0];
    assert_eq!(s(v, "from"), "sale_swipe_pin_request");
    let p = vectors_dir().join("messages.json");
    let messages = std::fs::read_to_string(&p).unwrap();
    assert!(
        messages.contains(s(v, "mab")),
        "the MAB is not a span of a frame in messages.json"
    );
}

#[test]
fn track_encryption_sm4() {
    let d = load();
    let l = list(&d, "track_sm4");
    assert_eq!(l.len(), 4);
    for v in l {
        let tdk = key(v, "tdk");
        let track = s(v, "track");
        let digits = v["digits"].as_u64().unwrap() as usize;
        assert_eq!(track.len(), digits);
        assert_eq!(up(&sm::pack_track(track).unwrap()), s(v, "packed_clear"));
        let enc = sm::encrypt_track(&tdk, track).unwrap();
        assert_eq!(up(&enc), s(v, "packed_encrypted"), "{digits} digits");
        assert_eq!(
            sm::track_is_encrypted(digits),
            v["encrypted"].as_bool().unwrap()
        );
        let mut back = enc.to_vec();
        sm::decrypt_track(&tdk, &mut back, digits).unwrap();
        assert_eq!(up(&back), s(v, "packed_clear"));
    }
}

#[test]
fn sm2_tmk_download() {
    let d = load();
    let v = &d["sm2_tmk_download"];

    // The host key pair: the hex in sm.json and the PEM files are the same key.
    let host = Sm2PrivateKey::from_bytes(&h(v, "host_private_key")).unwrap();
    let public = Sm2PublicKey::from_uncompressed(&h(v, "host_public_key")).unwrap();
    assert_eq!(host.public_key(), public);
    assert_eq!(up(&public.to_uncompressed()), s(v, "host_public_key"));

    let pem = std::fs::read_to_string(vectors_dir().join("sm2/host_sm2_priv.pem")).unwrap();
    use sm2::pkcs8::{DecodePrivateKey, DecodePublicKey};
    let from_pem = sm2::SecretKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(up(&from_pem.to_bytes()), s(v, "host_private_key"));
    let pem = std::fs::read_to_string(vectors_dir().join("sm2/host_sm2_pub.pem")).unwrap();
    let pub_from_pem = sm2::PublicKey::from_public_key_pem(&pem).unwrap();
    assert_eq!(up(&pub_from_pem.to_sec1_bytes()), s(v, "host_public_key"));

    // The pin: SHA-256 of the 65-byte key.
    assert_eq!(up(&public.fingerprint()), s(v, "host_public_key_sha256"));
    assert_eq!(
        up(&sha256(&h(v, "host_public_key"))),
        s(v, "host_public_key_sha256")
    );

    // The recorded DF23 decrypts to R with the host's private key, and matches DF24.
    let df23 = h(v, "DF23_sm2_c1c3c2");
    assert_eq!(
        df23.len(),
        16 + possdk_core::crypto::sm2::CIPHERTEXT_OVERHEAD
    );
    assert_eq!(up(&host.decrypt(&df23).unwrap()), s(v, "R"));
    let r = sm::tmk_transport_key(&host, &df23, &h(v, "DF24_kcv_R")).unwrap();
    assert_eq!(up(r.as_bytes()), s(v, "R"));
    assert_eq!(up(&sm::check_value(&r)), s(v, "DF24_kcv_R"));
    assert_eq!(
        sm::tmk_transport_key(&host, &df23, &[0, 0, 0, 0]).unwrap_err(),
        CryptoError::CheckValue
    );
    let mut tampered = df23.clone();
    tampered[70] ^= 0x01; // inside C3
    assert_eq!(host.decrypt(&tampered).unwrap_err(), CryptoError::Sm2);

    // Host answer: DF21 = SM4-ECB(R, TMK), DF22 = CV of the TMK.
    let tmk = key(v, "tmk");
    let (df21, df22) = sm::tmk_wrap(&r, &tmk);
    assert_eq!(up(&df21), s(v, "DF21_tmk_under_R"));
    assert_eq!(up(&df22), s(v, "DF22_kcv_tmk"));

    // Terminal side: the TMK out of DF21, checked against DF22.
    let got = sm::tmk_unwrap(&r, &h(v, "DF21_tmk_under_R"), &h(v, "DF22_kcv_tmk")).unwrap();
    assert_eq!(up(got.as_bytes()), s(v, "tmk"));

    // The terminal's own request with the vectors' R: a fresh (randomised) DF23 that the host still opens.
    let req = sm::tmk_request_with(&public, Sm4Key::from_hex(s(v, "R")).unwrap()).unwrap();
    assert_ne!(req.encrypted_transport_key, df23);
    assert_eq!(up(&req.transport_key_cv), s(v, "DF24_kcv_R"));
    assert_eq!(
        up(&host.decrypt(&req.encrypted_transport_key).unwrap()),
        s(v, "R")
    );
    assert!(!format!("{req:?}").contains(s(v, "R")));

    // And with a random R, end to end.
    let req = sm::tmk_request(&public).unwrap();
    let r2 =
        sm::tmk_transport_key(&host, &req.encrypted_transport_key, &req.transport_key_cv).unwrap();
    let (df21, df22) = sm::tmk_wrap(&r2, &tmk);
    let got = sm::tmk_unwrap(&req.transport_key, &df21, &df22).unwrap();
    assert_eq!(got.as_bytes(), tmk.as_bytes());
}

#[test]
fn vector_files_are_the_shared_copies() {
    // The README describes sm.json and sm2/; a copy that lost them would leave this suite testing nothing new.
    let readme = std::fs::read_to_string(vectors_dir().join("README.md")).unwrap();
    assert!(readme.contains("sm.json and sm2/"));
    assert!(vectors_dir().join("sm2/host_sm2_pub.pem").exists());
}
