//! EMV application cryptograms (EMV Book 2 annex A1): ICC master key derivation option A, common session key,
//! ARQC (ISO 9797-1 MAC algorithm 3, padding method 2) and ARPC method 1. Used by the host simulator (verify ARQC,
//! return ARPC in tag 91) and the simulated chip card (compute ARQC).
use super::{mac, CryptoError, DesKey};
use crate::tlv::{self, Tlv};

/// Errors building the cryptogram input from field-55 TLVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmvError {
    /// A tag needed for the CDOL1 data is missing.
    MissingTag(u32),
    /// A tag has the wrong length.
    BadLength(u32),
    /// PAN / PSN not decimal digits, or ATC not 2 bytes.
    Format(&'static str),
    Crypto(CryptoError),
}

impl std::fmt::Display for EmvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmvError::MissingTag(t) => write!(f, "EMV tag {t:X} missing"),
            EmvError::BadLength(t) => write!(f, "EMV tag {t:X} has a bad length"),
            EmvError::Format(w) => write!(f, "EMV {w} invalid"),
            EmvError::Crypto(e) => write!(f, "EMV crypto: {e}"),
        }
    }
}
impl std::error::Error for EmvError {}

impl From<CryptoError> for EmvError {
    fn from(e: CryptoError) -> Self {
        EmvError::Crypto(e)
    }
}

impl From<EmvError> for crate::error::Error {
    fn from(e: EmvError) -> Self {
        crate::error::Error::new(crate::error::ErrorKind::InvalidResponse, e.to_string())
    }
}

/// Set odd parity on every byte (bit 0 adjusted).
pub fn adjust_odd_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | if ones % 2 == 0 { 1 } else { 0 };
    }
}

/// ICC master key derivation, option A: Y = rightmost 16 digits of PAN || PSN (left-padded with zeros),
/// ZL = TDES(IMK, Y), ZR = TDES(IMK, Y xor FF..FF), MK = ZL || ZR with odd parity.
pub fn derive_icc_mk_option_a(imk: &DesKey, pan: &str, psn: &str) -> Result<DesKey, EmvError> {
    if pan.is_empty() || pan.len() > 19 || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmvError::Format("PAN"));
    }
    let psn = if psn.is_empty() { "00" } else { psn };
    if psn.len() != 2 || !psn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmvError::Format("PSN"));
    }
    let digits: Vec<u8> = pan.bytes().chain(psn.bytes()).map(|b| b - b'0').collect();
    let mut y16 = [0u8; 16];
    let take = digits.len().min(16);
    y16[16 - take..].copy_from_slice(&digits[digits.len() - take..]);
    let mut y = [0u8; 8];
    for i in 0..8 {
        y[i] = (y16[2 * i] << 4) | y16[2 * i + 1];
    }
    let mut mk = zeroize::Zeroizing::new([0u8; 16]);
    let mut zl = y;
    imk.encrypt_block(&mut zl);
    let mut zr = y.map(|b| b ^ 0xFF);
    imk.encrypt_block(&mut zr);
    mk[..8].copy_from_slice(&zl);
    mk[8..].copy_from_slice(&zr);
    zeroize::Zeroize::zeroize(&mut zl);
    zeroize::Zeroize::zeroize(&mut zr);
    adjust_odd_parity(&mut mk[..]);
    Ok(DesKey::from_bytes(&mk[..])?)
}

/// EMV common session key (EMV Book 2 A1.3): R = ATC || 00*6;
/// SK = TDES(MK, R with byte 2 = F0) || TDES(MK, R with byte 2 = 0F), odd parity adjusted.
pub fn common_session_key(mk: &DesKey, atc: [u8; 2]) -> Result<DesKey, EmvError> {
    let mut l = [atc[0], atc[1], 0xF0, 0, 0, 0, 0, 0];
    let mut r = [atc[0], atc[1], 0x0F, 0, 0, 0, 0, 0];
    mk.encrypt_block(&mut l);
    mk.encrypt_block(&mut r);
    let mut sk = zeroize::Zeroizing::new([0u8; 16]);
    sk[..8].copy_from_slice(&l);
    sk[8..].copy_from_slice(&r);
    zeroize::Zeroize::zeroize(&mut l);
    zeroize::Zeroize::zeroize(&mut r);
    adjust_odd_parity(&mut sk[..]);
    Ok(DesKey::from_bytes(&sk[..])?)
}

/// ARQC (also TC/AAC) = ISO 9797-1 MAC algorithm 3 with padding method 2 over the CDOL1 data.
pub fn arqc(sk: &DesKey, cdol1_data: &[u8]) -> Result<[u8; 8], EmvError> {
    Ok(mac::retail_mac_pad2(sk, cdol1_data)?)
}

/// ARPC method 1 = TDES(SK, ARQC xor (ARC || 00*6)).
pub fn arpc_method1(sk: &DesKey, arqc: &[u8; 8], arc: [u8; 2]) -> [u8; 8] {
    let mut b = *arqc;
    b[0] ^= arc[0];
    b[1] ^= arc[1];
    sk.encrypt_block(&mut b);
    b
}

/// The CDOL1 tags (with their fixed lengths) in the order the ARQC input uses.
pub const CDOL1_TAGS: [(u32, usize); 10] = [
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
];

/// CDOL1 data for the ARQC from field-55 TLVs: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36, then the CVR
/// (4 bytes of 9F10 issuer application data starting at offset 3).
pub fn arqc_input(tlvs: &[Tlv]) -> Result<Vec<u8>, EmvError> {
    let mut out = Vec::with_capacity(37);
    for (tag, len) in CDOL1_TAGS {
        let v = tlv::get(tlvs, tag).ok_or(EmvError::MissingTag(tag))?;
        if v.len() != len {
            return Err(EmvError::BadLength(tag));
        }
        out.extend_from_slice(v);
    }
    let iad = tlv::get(tlvs, 0x9F10).ok_or(EmvError::MissingTag(0x9F10))?;
    let cvr = iad.get(3..7).ok_or(EmvError::BadLength(0x9F10))?;
    out.extend_from_slice(cvr);
    Ok(out)
}

/// ATC (9F36) from field-55 TLVs.
pub fn atc(tlvs: &[Tlv]) -> Result<[u8; 2], EmvError> {
    let v = tlv::get(tlvs, 0x9F36).ok_or(EmvError::MissingTag(0x9F36))?;
    v.try_into().map_err(|_| EmvError::BadLength(0x9F36))
}

/// Issuer side: derive the card's session key, check the ARQC (9F26) over the field-55 data in constant time,
/// and return the ARPC for the given response code (ARC, e.g. `b"00"`).
pub fn verify_arqc_and_make_arpc(
    imk_ac: &DesKey,
    pan: &str,
    psn: &str,
    tlvs: &[Tlv],
    arc: [u8; 2],
) -> Result<Option<[u8; 8]>, EmvError> {
    let mk = derive_icc_mk_option_a(imk_ac, pan, psn)?;
    let sk = common_session_key(&mk, atc(tlvs)?)?;
    let expected = arqc(&sk, &arqc_input(tlvs)?)?;
    let got = tlv::get(tlvs, 0x9F26).ok_or(EmvError::MissingTag(0x9F26))?;
    if !mac::mac_eq(&expected, got) {
        return Ok(None);
    }
    Ok(Some(arpc_method1(&sk, &expected, arc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity() {
        let mut k = [0x00u8, 0x01, 0xFE, 0xFF];
        adjust_odd_parity(&mut k);
        assert_eq!(k, [0x01, 0x01, 0xFE, 0xFE]);
    }

    #[test]
    fn arqc_input_errors() {
        assert_eq!(arqc_input(&[]).unwrap_err(), EmvError::MissingTag(0x9F02));
        let t = vec![Tlv::primitive(0x9F02, vec![0; 5])];
        assert_eq!(arqc_input(&t).unwrap_err(), EmvError::BadLength(0x9F02));
    }
}
