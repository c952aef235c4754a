//! Known-answer tests: every value of tests/vectors/crypto.json and tests/vectors/rsa/ reproduced byte for byte.
use possdk_core::crypto::{emv, mac, pin_block, rsa::HostPublicKey, sm4, tdes, DesKey};
use possdk_core::tlv;
use serde_json::Value;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("vectors")
}

fn load(name: &str) -> Value {
    let p = vectors_dir().join(name);
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

fn key(v: &Value, k: &str) -> DesKey {
    DesKey::from_hex(s(v, k)).unwrap()
}

#[test]
fn kcv_all_forms() {
    let d = load("crypto.json");
    let list = d["kcv"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for v in list {
        let k = key(v, "key");
        assert_eq!(up(&k.check_block()), s(v, "enc_zero_block"));
        assert_eq!(up(&k.kcv()), s(v, "kcv4"));
        assert_eq!(up(&k.kcv()[..3]), s(v, "kcv3"));
        assert_eq!(
            up(&tdes::encrypt_ecb(&k, &[0u8; 8]).unwrap()),
            s(v, "enc_zero_block")
        );
        assert_eq!(format!("{k:?}"), format!("DesKey(kcv={})", s(v, "kcv4")));
    }
}

#[test]
fn pinblock_iso0() {
    let d = load("crypto.json");
    let v = &d["pinblock_iso0"];
    let (pin, pan) = (s(v, "pin"), s(v, "pan"));
    let pik = key(v, "pik");
    assert_eq!(up(&pik.kcv()[..3]), s(v, "pik_kcv"));
    let clear = pin_block::iso0_clear(pin, pan).unwrap();
    assert_eq!(up(&clear[..]), s(v, "clear_block"));
    // pin_field XOR pan_field = clear block.
    let pin_field = h(v, "pin_field");
    let pan_field = h(v, "pan_field");
    let x: Vec<u8> = pin_field
        .iter()
        .zip(&pan_field)
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(x, clear[..].to_vec());
    let enc = pin_block::iso0_encrypt(&pik, pin, pan).unwrap();
    assert_eq!(up(&enc), s(v, "encrypted_block"));
    assert_eq!(
        pin_block::iso0_decrypt(&pik, &enc, pan).unwrap().as_str(),
        pin
    );
    assert_eq!(pin_block::iso0_parse(&clear, pan).unwrap().as_str(), pin);

    let e = &d["pinblock_iso0_extra"];
    let (pin, pan) = (s(e, "pin"), s(e, "pan"));
    assert_eq!(
        up(&pin_block::iso0_clear(pin, pan).unwrap()[..]),
        s(e, "clear_block")
    );
    let enc = pin_block::iso0_encrypt(&pik, pin, pan).unwrap();
    assert_eq!(up(&enc), s(e, "encrypted_block"));
    assert_eq!(
        pin_block::iso0_decrypt(&pik, &enc, pan).unwrap().as_str(),
        pin
    );
}

#[test]
fn x919_x99_alg1() {
    let d = load("crypto.json");
    let list = d["x919"].as_array().unwrap();
    let mut alg1_seen = 0;
    let mut x99_seen = 0;
    for v in list {
        let k = key(v, "key");
        let data = h(v, "data");
        if let Some(a) = v["data_ascii"].as_str() {
            assert_eq!(a.as_bytes(), &data[..]);
        }
        assert_eq!(up(&mac::x9_19(&k, &data).unwrap()), s(v, "mac"));
        if v.get("x99_key_left_half_only").is_some() {
            assert_eq!(up(&mac::x9_9(&k, &data)), s(v, "x99_key_left_half_only"));
            assert_eq!(
                up(&mac::x9_9(&k.left_half(), &data)),
                s(v, "x99_key_left_half_only")
            );
            x99_seen += 1;
        }
        if v.get("tdes_cbc_mac_alg1").is_some() {
            assert_eq!(
                up(&mac::tdes_cbc_mac_alg1(&k, &data)),
                s(v, "tdes_cbc_mac_alg1")
            );
            alg1_seen += 1;
        }
    }
    assert_eq!((list.len(), x99_seen, alg1_seen), (3, 2, 1));
}

#[test]
fn cup_ecb_mac_with_intermediates() {
    let d = load("crypto.json");
    let list = d["cup_ecb_mac"].as_array().unwrap();
    assert_eq!(list.len(), 7);
    for v in list {
        let k = key(v, "mak");
        let data = h(v, "data");
        let st = mac::cup_ecb_steps(&k, &data);
        let label = s(v, "label");
        assert_eq!(up(&st.xor_result), s(v, "xor_result"), "{label}");
        assert_eq!(up(&st.xor_result), s(v, "xor_result_ascii"), "{label}");
        assert_eq!(up(&st.enc1), s(v, "enc1"), "{label}");
        assert_eq!(up(&st.enc1_xor_right), s(v, "enc1_xor_right"), "{label}");
        assert_eq!(up(&st.enc2), s(v, "enc2"), "{label}");
        assert_eq!(&st.mac, s(v, "mac_ascii").as_bytes(), "{label}");
        assert_eq!(up(&st.mac), s(v, "mac_hex"), "{label}");
        assert_eq!(mac::cup_ecb(&k, &data), st.mac);
        if v.get("full_frame").is_some() {
            let frame = h(v, "full_frame");
            assert_eq!(&frame[13..frame.len() - 8], &data[..]);
            assert_eq!(&frame[frame.len() - 8..], &st.mac);
        }
    }
}

#[test]
fn external_tak_under_tmk() {
    let d = load("crypto.json");
    let v = &d["external_tak_under_tmk"];
    let tmk = key(v, "tmk");
    let clear = tdes::decrypt_ecb(&tmk, &h(v, "tak_encrypted")).unwrap();
    assert_eq!(up(&clear), s(v, "tak_clear"));
    assert_eq!(
        up(&tdes::encrypt_ecb(&tmk, &clear).unwrap()),
        s(v, "tak_encrypted")
    );
    let tak = DesKey::from_bytes(&clear).unwrap();
    assert_eq!(up(&tak.check_block()), s(v, "tak_kcv"));
}

#[test]
fn sm4_gbt32907() {
    let d = load("crypto.json");
    let v = &d["sm4"];
    let k = sm4::Sm4Key::from_hex(s(v, "key")).unwrap();
    let ct = sm4::encrypt_ecb(&k, &h(v, "plaintext")).unwrap();
    assert_eq!(up(&ct), s(v, "ciphertext"));
    assert_eq!(sm4::decrypt_ecb(&k, &ct).unwrap(), h(v, "plaintext"));
    assert_eq!(up(&k.check_block()), s(v, "enc_zero_block_kcv"));
    let tb = &v["two_block"];
    let ct2 = sm4::encrypt_ecb(&k, &h(tb, "plaintext")).unwrap();
    assert_eq!(up(&ct2), s(tb, "ciphertext"));
    assert_eq!(sm4::decrypt_ecb(&k, &ct2).unwrap(), h(tb, "plaintext"));
    // GB/T 32907 example 2: the plaintext encrypted 1 000 000 times.
    let mut b: [u8; 16] = h(v, "plaintext").try_into().unwrap();
    for _ in 0..1_000_000 {
        k.encrypt_block(&mut b);
    }
    assert_eq!(up(&b), s(v, "iter_1e6"));
}

#[test]
fn emv_arqc_arpc() {
    let d = load("crypto.json");
    let v = &d["emv_arqc"];
    let imk = key(v, "imk_ac");
    let mk = emv::derive_icc_mk_option_a(&imk, s(v, "pan"), s(v, "psn")).unwrap();
    assert_eq!(up(mk.as_bytes()), s(v, "icc_mk_ac(optionA, parity adj)"));
    let atc: [u8; 2] = h(v, "atc").try_into().unwrap();
    let sk = emv::common_session_key(&mk, atc).unwrap();
    assert_eq!(
        up(sk.as_bytes()),
        s(v, "sk_ac(common SK, R=ATC||000000000000)")
    );
    let cdol1 = h(v, "cdol1_data");
    let arqc = emv::arqc(&sk, &cdol1).unwrap();
    assert_eq!(up(&arqc), s(v, "arqc"));
    let arc: [u8; 2] = h(v, "arpc_rc").try_into().unwrap();
    assert_eq!(
        up(&emv::arpc_method1(&sk, &arqc, arc)),
        s(v, "arpc_method1")
    );

    // The same CDOL1 data built from field-55 TLVs (the 9F10 of the sample 0200 carries the CVR at offset 3).
    let take = |off: usize, n: usize| cdol1[off..off + n].to_vec();
    let mut tlvs = vec![
        tlv::Tlv::primitive(0x9F26, arqc.to_vec()),
        tlv::Tlv::primitive(0x9F27, vec![0x80]),
        tlv::Tlv::primitive(
            0x9F10,
            hex::decode("07010103A00000010A010000000000ABCDEF12").unwrap(),
        ),
    ];
    let mut off = 0;
    for (tag, len) in emv::CDOL1_TAGS {
        tlvs.push(tlv::Tlv::primitive(tag, take(off, len)));
        off += len;
    }
    // Field 55 goes over the wire in a different order than the CDOL1: shuffle through an encode/decode.
    tlvs.reverse();
    let f55 = tlv::decode(&tlv::encode(&tlvs)).unwrap();
    assert_eq!(emv::arqc_input(&f55).unwrap(), cdol1);
    let arpc = emv::verify_arqc_and_make_arpc(&imk, s(v, "pan"), s(v, "psn"), &f55, arc).unwrap();
    assert_eq!(up(&arpc.unwrap()), s(v, "arpc_method1"));
    // A tampered ARQC is refused.
    let mut bad = f55.clone();
    for t in bad.iter_mut() {
        if t.tag == 0x9F26 {
            *t = tlv::Tlv::primitive(0x9F26, vec![0u8; 8]);
        }
    }
    assert_eq!(
        emv::verify_arqc_and_make_arpc(&imk, s(v, "pan"), s(v, "psn"), &bad, arc).unwrap(),
        None
    );
}

mod rsa_vectors {
    use super::*;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    use rsa::{oaep::Oaep, PrivateKey};

    /// Blinding randomness for the raw decryption, from the OS.
    struct OsRng;
    impl rsa::rand_core::TryRng for OsRng {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(getrandom::u32().expect("OS randomness"))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(getrandom::u64().expect("OS randomness"))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            getrandom::fill(dst).expect("OS randomness");
            Ok(())
        }
    }
    impl rsa::rand_core::TryCryptoRng for OsRng {}

    fn private_key() -> PrivateKey {
        let der = std::fs::read(vectors_dir().join("rsa").join("rsa_priv_pkcs8.der")).unwrap();
        PrivateKey::from_pkcs8_der(&der).unwrap()
    }

    fn host_key(pk: &PrivateKey) -> HostPublicKey {
        HostPublicKey::new(&pk.n().to_be_bytes(), &pk.e().to_be_bytes()).unwrap()
    }

    #[test]
    fn pkcs1v15_file_and_round_trip() {
        let j = load("rsa/rsa_vectors.json");
        let tmk = h(&j, "tmk");
        let pk = private_key();
        let hk = host_key(&pk);
        assert_eq!(up(hk.modulus()), s(&j, "n_hex"));
        assert_eq!(hk.exponent(), &[0x01, 0x00, 0x01]);
        assert_eq!(hk.bits(), 2048);
        let mut me = hk.modulus().to_vec();
        me.extend_from_slice(hk.exponent());
        assert_eq!(hk.fingerprint(), possdk_core::crypto::sha256(&me));

        let ct = std::fs::read(vectors_dir().join("rsa").join("rsa_ct_pkcs1v15.bin")).unwrap();
        assert_eq!(up(&ct), s(&j["ciphertexts"], "pkcs1v15"));
        let pt = pk.pkcs1v15_decrypt(&ct).unwrap();
        assert_eq!(pt, tmk);
        assert_eq!(
            up(&DesKey::from_bytes(&pt).unwrap().kcv()[..3]),
            s(&j, "tmk_kcv")
        );

        let ct2 = hk.encrypt_pkcs1v15(&tmk).unwrap();
        assert_eq!(ct2.len(), 256);
        assert_ne!(ct2, ct, "PKCS#1 v1.5 padding is random");
        assert_eq!(pk.pkcs1v15_decrypt(&ct2).unwrap(), tmk);
    }

    #[test]
    fn oaep_variants() {
        let j = load("rsa/rsa_vectors.json");
        let tmk = h(&j, "tmk");
        let pk = private_key();
        let c = &j["ciphertexts"];
        let a = pk
            .oaep_decrypt::<sha2::Sha256>(&h(c, "oaep_sha256_mgf1sha256"))
            .unwrap();
        assert_eq!(a, tmk);
        let b = pk
            .decrypt(
                Oaep::<sha2::Sha256, sha1::Sha1>::new_with_mgf_hash(),
                &h(c, "oaep_sha256_mgf1sha1"),
            )
            .unwrap();
        assert_eq!(b, tmk);
        let d = pk.oaep_decrypt::<sha1::Sha1>(&h(c, "oaep_sha1")).unwrap();
        assert_eq!(d, tmk);
    }

    #[test]
    fn raw_decryption_equals_em() {
        let j = load("rsa/rsa_vectors.json");
        let pk = private_key();
        let ct = h(&j["ciphertexts"], "pkcs1v15");
        let bits = pk.n().bits_precision();
        let c = rsa::BoxedUint::from_be_slice(&ct, bits).unwrap();
        let m = rsa::hazmat::rsa_decrypt_and_check(&pk, Some(&mut OsRng), &c).unwrap();
        let em = m.to_be_bytes();
        let mut full = vec![0u8; 256usize.saturating_sub(em.len())];
        full.extend_from_slice(&em);
        assert_eq!(
            up(&full[full.len() - 256..]),
            s(&j, "pkcs1v15_decrypted_em")
        );
    }
}
