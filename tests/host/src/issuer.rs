//! The simulated issuer's chip cryptography (docs/PROTOCOL.md §5): ICC master key by option A, common
//! session key from the ATC, ARQC = ISO 9797-1 algorithm 3 (method-2 padding) over the CDOL1 data, ARPC
//! method 1. Implemented here from the DES primitives of `possdk_core::crypto` so the host checks the
//! terminal side independently.

use possdk_core::crypto::{emv, mac, tdes, DesKey};
use possdk_core::tlv::{self, Tlv};
use zeroize::Zeroizing;

/// Issuer master key for application cryptograms of the test issuer.
pub const IMK_AC: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];

/// Why a chip request cannot be verified (all answered `A7`, or `30` for a malformed field 55).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChipError {
    /// Field 55 is not BER-TLV.
    Format,
    /// A tag the ARQC needs is missing or has the wrong length (the tag is named).
    Missing(u32),
    /// The ARQC does not verify.
    Cryptogram,
}

fn key(bytes: &[u8]) -> DesKey {
    // 8 or 16 bytes by construction here.
    DesKey::from_bytes(bytes).expect("8- or 16-byte DES key")
}

fn adjust_parity(b: &mut [u8]) {
    for x in b.iter_mut() {
        let v = *x & 0xFE;
        *x = if v.count_ones() % 2 == 0 { v | 1 } else { v };
    }
}

/// ICC master key, option A: Y = rightmost 16 digits of PAN || PSN (2 digits); ZL = TDES(IMK, Y),
/// ZR = TDES(IMK, Y xor FF..); odd parity.
pub fn icc_master_key(imk: &[u8; 16], pan: &str, psn: &str) -> Option<Zeroizing<[u8; 16]>> {
    let s = format!("{pan}{psn}");
    if s.len() < 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y_hex = &s[s.len() - 16..];
    let y = hex::decode(y_hex).ok()?;
    let mut yl = [0u8; 8];
    yl.copy_from_slice(&y);
    let mut yr = yl;
    for b in yr.iter_mut() {
        *b ^= 0xFF;
    }
    let k = key(imk);
    tdes::encrypt_block(&k, &mut yl);
    tdes::encrypt_block(&k, &mut yr);
    let mut out = Zeroizing::new([0u8; 16]);
    out[..8].copy_from_slice(&yl);
    out[8..].copy_from_slice(&yr);
    adjust_parity(&mut out[..]);
    Some(out)
}

/// Common session key (EMV 4.x A1.3): R = ATC || 00..; SK = TDES(MK, ATC||F0||00*5) || TDES(MK, ATC||0F||00*5).
pub fn session_key(mk: &[u8; 16], atc: [u8; 2]) -> Zeroizing<[u8; 16]> {
    let k = key(mk);
    let mut l = [atc[0], atc[1], 0xF0, 0, 0, 0, 0, 0];
    let mut r = [atc[0], atc[1], 0x0F, 0, 0, 0, 0, 0];
    tdes::encrypt_block(&k, &mut l);
    tdes::encrypt_block(&k, &mut r);
    let mut out = Zeroizing::new([0u8; 16]);
    out[..8].copy_from_slice(&l);
    out[8..].copy_from_slice(&r);
    out
}

/// ISO 9797-1 MAC algorithm 3 with padding method 2 under a double-length key.
pub fn retail_mac(sk: &[u8; 16], data: &[u8]) -> [u8; 8] {
    let k1 = key(&sk[..8]);
    let k2 = key(&sk[8..]);
    let mut padded = data.to_vec();
    padded.push(0x80);
    while !padded.len().is_multiple_of(8) {
        padded.push(0);
    }
    let mut x = [0u8; 8];
    for chunk in padded.chunks(8) {
        for (a, b) in x.iter_mut().zip(chunk) {
            *a ^= b;
        }
        tdes::encrypt_block(&k1, &mut x);
    }
    tdes::decrypt_block(&k2, &mut x);
    tdes::encrypt_block(&k1, &mut x);
    x
}

/// ARPC method 1: TDES(SK, ARQC xor (ARC || 00*6)).
pub fn arpc(sk: &[u8; 16], arqc: &[u8; 8], arc: [u8; 2]) -> [u8; 8] {
    let mut b = *arqc;
    b[0] ^= arc[0];
    b[1] ^= arc[1];
    tdes::encrypt_block(&key(sk), &mut b);
    b
}

fn fixed(items: &[Tlv], tag: u32, len: usize) -> Result<Vec<u8>, ChipError> {
    match tlv::get(items, tag) {
        Some(v) if v.len() == len => Ok(v.to_vec()),
        _ => Err(ChipError::Missing(tag)),
    }
}

/// CDOL1 data: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 + CVR (4 bytes of 9F10 from offset 3).
pub fn arqc_input(items: &[Tlv]) -> Result<Vec<u8>, ChipError> {
    let mut out = Vec::with_capacity(37);
    for (tag, len) in [
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F37, 4),
        (0x82, 2),
        (0x9F36, 2),
    ] {
        out.extend(fixed(items, tag, len)?);
    }
    match tlv::get(items, 0x9F10) {
        Some(iad) if iad.len() >= 7 => out.extend_from_slice(&iad[3..7]),
        _ => return Err(ChipError::Missing(0x9F10)),
    }
    Ok(out)
}

/// An issuer script template 72: script id 9F18 and one command 86 (an APPLICATION UNBLOCK-style
/// `84 24 00 00 08` with 8 bytes of MAC), for the card's second GENERATE AC to report in DF31.
pub fn script_template(id: u32) -> Vec<u8> {
    let mut cmd = vec![0x84, 0x24, 0x00, 0x00, 0x08];
    cmd.extend_from_slice(&possdk_core::crypto::sha256(&id.to_be_bytes())[..8]);
    tlv::encode(&[Tlv::constructed(
        0x72,
        vec![
            Tlv::primitive(0x9F18, id.to_be_bytes().to_vec()),
            Tlv::primitive(0x86, cmd),
        ],
    )])
}

/// A verified request cryptogram, ready to answer with 91.
pub struct Verified {
    sk: DesKey,
    arqc: [u8; 8],
}

impl Verified {
    /// Field-55 response TLVs: 91 = ARPC || ARC (`3030` approve, `3035` decline).
    pub fn response_55(&self, approved: bool) -> Vec<u8> {
        let arc = if approved { *b"00" } else { *b"05" };
        let mut v = emv::arpc_method1(&self.sk, &self.arqc, arc).to_vec();
        v.extend_from_slice(&arc);
        tlv::encode(&[Tlv::primitive(0x91, v)])
    }
}

/// Verify the ARQC (9F26) of a request's field 55 for `pan` / `psn` (2 digits) with the production
/// implementation in `possdk_core::crypto::emv` (the functions above are the independent test-card side).
pub fn verify_arqc(field55: &[u8], pan: &str, psn: &str) -> Result<Verified, ChipError> {
    let items = tlv::decode(field55).map_err(|_| ChipError::Format)?;
    // Named-tag errors first (a missing tag is reported as such).
    arqc_input(&items)?;
    let got = fixed(&items, 0x9F26, 8)?;
    let imk = key(&IMK_AC);
    let mk = emv::derive_icc_mk_option_a(&imk, pan, psn).map_err(|_| ChipError::Cryptogram)?;
    let atc = emv::atc(&items).map_err(|_| ChipError::Missing(0x9F36))?;
    let sk = emv::common_session_key(&mk, atc).map_err(|_| ChipError::Cryptogram)?;
    let input = emv::arqc_input(&items).map_err(|_| ChipError::Format)?;
    let expected = emv::arqc(&sk, &input).map_err(|_| ChipError::Cryptogram)?;
    if !mac::mac_eq(&expected, &got) {
        return Err(ChipError::Cryptogram);
    }
    Ok(Verified { sk, arqc: expected })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn crypto_json_emv_vector() {
        let mk = icc_master_key(&IMK_AC, "6225880123456789", "00").unwrap();
        assert_eq!(mk[..], h("38FE7A4F75DA8A98B385465E5BCEAEB9")[..]);
        let sk = session_key(&mk, [0, 1]);
        // The vector lists the session key without parity adjustment; DES ignores parity bits.
        let expect = h("D0A7DC32DF1FD09B8C07495E466B109D");
        for (a, b) in sk.iter().zip(&expect) {
            assert_eq!(a & 0xFE, b & 0xFE);
        }
        let data = h("00000001234500000000000001560000000000015625010100123456787C00000103A00000");
        let arqc = retail_mac(&sk, &data);
        assert_eq!(arqc[..], h("F4E68E21802FEB34")[..]);
        assert_eq!(arpc(&sk, &arqc, *b"00")[..], h("4A3306FBE1FD2206")[..]);
    }
}
