//! The simulated issuer's chip cryptography (docs/PROTOCOL.md §8): ICC master key by option A, common
//! session key from the ATC, ARQC = ISO 9797-1 algorithm 3 (method-2 padding) over the CDOL1 data, ARPC
//! method 1 — all from `possdk_core::crypto::emv`, whose known-answer tests cover crypto.json's vector.

use possdk_core::crypto::emv::{self, EmvError};
use possdk_core::crypto::{mac, DesKey};
use possdk_core::tlv::{self, Tlv};

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

impl From<EmvError> for ChipError {
    fn from(e: EmvError) -> Self {
        match e {
            EmvError::MissingTag(t) | EmvError::BadLength(t) => ChipError::Missing(t),
            EmvError::Format(_) | EmvError::Crypto(_) => ChipError::Cryptogram,
        }
    }
}

/// The issuer's key for application cryptograms: the test issuer's (`fixture::IMK_AC`), the key the
/// simulated chip cards derive their card keys from.
pub fn imk_ac() -> DesKey {
    DesKey::from_hex(possdk_sim::fixture::IMK_AC).expect("IMK_AC is a 16-byte key")
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

/// Verify the ARQC (9F26) of a request's field 55 for `pan` / `psn` (2 digits).
pub fn verify_arqc(field55: &[u8], pan: &str, psn: &str) -> Result<Verified, ChipError> {
    let items = tlv::decode(field55).map_err(|_| ChipError::Format)?;
    // Named-tag errors first (a missing tag is reported as such).
    let input = emv::arqc_input(&items)?;
    let got = match tlv::get(&items, 0x9F26) {
        Some(v) if v.len() == 8 => v,
        _ => return Err(ChipError::Missing(0x9F26)),
    };
    let mk = emv::derive_icc_mk_option_a(&imk_ac(), pan, psn).map_err(|_| ChipError::Cryptogram)?;
    let sk = emv::common_session_key(&mk, emv::atc(&items)?).map_err(|_| ChipError::Cryptogram)?;
    let expected = emv::arqc(&sk, &input).map_err(|_| ChipError::Cryptogram)?;
    if !mac::mac_eq(&expected, got) {
        return Err(ChipError::Cryptogram);
    }
    Ok(Verified { sk, arqc: expected })
}

/// Verify a TC (9F26, 9F27 `40`) in a field 55: the ARQC's session key and algorithm over the same
/// cryptogram input followed by `arc`: `00` for the second GENERATE AC of an approved online transaction
/// (the TC upload, docs/PROTOCOL.md §8.6), `Y1` for an offline approval (§8.7). Returns the TC.
pub fn verify_tc(
    field55: &[u8],
    pan: &str,
    psn: &str,
    arc: &[u8; 2],
) -> Result<[u8; 8], ChipError> {
    let items = tlv::decode(field55).map_err(|_| ChipError::Format)?;
    let mut input = emv::arqc_input(&items)?;
    let got = match tlv::get(&items, 0x9F26) {
        Some(v) if v.len() == 8 => v,
        _ => return Err(ChipError::Missing(0x9F26)),
    };
    if tlv::get(&items, 0x9F27) != Some(&[0x40][..]) {
        return Err(ChipError::Missing(0x9F27));
    }
    let mk = emv::derive_icc_mk_option_a(&imk_ac(), pan, psn).map_err(|_| ChipError::Cryptogram)?;
    let sk = emv::common_session_key(&mk, emv::atc(&items)?).map_err(|_| ChipError::Cryptogram)?;
    input.extend_from_slice(arc);
    let expected = emv::arqc(&sk, &input).map_err(|_| ChipError::Cryptogram)?;
    if !mac::mac_eq(&expected, got) {
        return Err(ChipError::Cryptogram);
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tags_are_named_and_garbage_is_a_format_error() {
        assert_eq!(
            verify_arqc(&[0x9F], "6225884444444444", "01").err(),
            Some(ChipError::Format)
        );
        let only_amount = tlv::encode(&[Tlv::primitive(0x9F02, vec![0; 6])]);
        assert_eq!(
            verify_arqc(&only_amount, "6225884444444444", "01").err(),
            Some(ChipError::Missing(0x9F03))
        );
    }
}
