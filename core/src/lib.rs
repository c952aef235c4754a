//! possdk core: everything a Chinese-acquirer POS terminal does, behind HAL traits.
//!
//! No FFI types and no global state live here; the C and JNI bridges convert and call into this crate.

// Layers point one way (docs/ARCHITECTURE.md):
//   protocol: iso8583, tlv, crypto            (public: hosts and tools reuse the codec and algorithms)
//   domain:   config, model, flows, journal, security, hal, transport
//   facade:   terminal (Terminal), api (requests, JSON, the op table)
// Bridges (ffi-c, ffi-jni) see only what is re-exported here and the public modules.

pub mod acquirer;
pub mod api;
mod config;
pub mod crypto;
mod error;
mod flows;
pub mod hal;
pub mod iso8583;
mod journal;
mod model;
mod receipt;
pub mod security;
pub mod signature;
pub mod slip;
mod terminal;
pub mod tlv;
pub mod transport;

pub use config::{Config, DeviceConfig, EndpointConfig, JournalConfig, ReceiptConfig, Timeouts};
pub use error::{Error, ErrorKind, Outcome, Result};
pub use journal::{TxRecord, TxState};
pub use terminal::Terminal;

/// Entry points for the fuzz targets in `fuzz/`: the parsers of host-supplied data (several of them
/// private), each reached through a one-line wrapper or re-export so the targets do not depend on the
/// module tree. Not an API: compiled only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::api::DetailRecord;
    use crate::security::{EncryptedKey, SecurityError};
    use crate::tlv::Tlv;
    use crate::Result;

    pub use crate::crypto::KeyFamily;
    pub use crate::flows::build::qr_get;
    pub use crate::flows::init::capk_from_tlvs;
    pub use crate::flows::outcome::parse_balance;
    pub use crate::flows::query::record_from_tlvs;

    static CUP: std::sync::LazyLock<std::sync::Arc<crate::acquirer::Profile>> =
        std::sync::LazyLock::new(crate::acquirer::Profile::cup);

    /// A 0510 field 48 in the CUP layout.
    pub fn parse_field48(f48: &str) -> Option<(crate::model::SettlementTotals, u8, u8)> {
        crate::flows::settlement::parse_field48(&CUP.subfields, f48)
    }
    pub use crate::iso8583::mask::masked;
    pub use crate::iso8583::profile::{field, Format};
    pub use crate::iso8583::{decode_frame, decode_frame_for, encode_frame, mac_span, Frame};
    pub use crate::security::{HostKey, KeySlot};
    pub use crate::tlv::{ascii59, decode as tlv_decode, encode as tlv_encode};

    /// Field 62 of a platform answer as TLVs (after the status byte when `skip_status`).
    pub fn f62_items(f62: &[u8], skip_status: bool) -> Result<Vec<Tlv>> {
        crate::flows::init::f62_items(f62, skip_status)
    }

    /// Status byte and TLVs of a paged query answer (parameter and detail queries).
    pub fn query_page(f62: &[u8]) -> Result<(u8, Vec<Tlv>)> {
        crate::flows::query_page(f62)
    }

    /// The host key answer (`352`): RID, index, key (RSA, or SM2 with DF25 `SM2`).
    pub fn host_key_from_tlvs(items: &[Tlv]) -> Result<(Vec<u8>, Vec<u8>, HostKey)> {
        crate::flows::init::host_key_from_tlvs(items)
    }

    /// The TMK download answer (`350`): encrypted TMK and check value.
    pub fn tmk_from_tlvs(items: &[Tlv]) -> Result<(&[u8], &[u8])> {
        crate::flows::init::tmk_from_tlvs(items)
    }

    /// Sign-in field 62 in the CUP layout: PIK, MAK, TDK under the TMK.
    pub fn working_keys(f62: &[u8]) -> Result<[EncryptedKey; 3]> {
        crate::flows::init::working_keys(&CUP.subfields, f62)
    }

    /// A key block unwrapped under `kek` (8, 16 or 24 bytes) and checked against `check_value`;
    /// returns the key's check value.
    pub fn unwrap_key(
        kek: &[u8],
        encrypted: &[u8],
        check_value: &[u8],
        slot: KeySlot,
    ) -> std::result::Result<[u8; 4], SecurityError> {
        let kek = crate::crypto::DesKey::from_bytes(kek)?;
        crate::security::software::unwrap_key(&kek, encrypted, check_value, slot).map(|k| k.kcv())
    }

    /// An SM4 key block unwrapped under the SM4 `kek` and checked against `check_value` (the SM family's
    /// sign-in and TMK download); returns the key's check value.
    pub fn unwrap_sm4_key(
        kek: &[u8],
        encrypted: &[u8],
        check_value: &[u8],
    ) -> std::result::Result<[u8; 4], crate::crypto::CryptoError> {
        let kek = crate::crypto::sm4::Sm4Key::from_bytes(kek)?;
        crate::crypto::sm::unwrap_key(&kek, encrypted, check_value).map(|k| k.kcv())
    }

    /// A parameter query answer split into entries, each starting at 9F06.
    pub fn emv_entries(items: Vec<Tlv>) -> Vec<Vec<Tlv>> {
        crate::flows::init::entries(items)
    }

    /// An AID download answer's TLV bytes.
    pub fn aid_tlv(f62: &[u8]) -> Result<Vec<u8>> {
        crate::flows::init::aid_tlv(f62)
    }

    /// The records of one detail query page.
    pub fn page_records(page: &[Tlv]) -> Result<Vec<DetailRecord>> {
        crate::flows::query::page_records(page)
    }
}

/// SDK version sent in activation (DF43).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Mask a PAN to first 6 / last 4 (`622588******6789`). Anything shorter than 11 digits is fully masked.
pub fn mask_pan(pan: &str) -> String {
    let n = pan.chars().count();
    if n < 11 {
        return "*".repeat(n);
    }
    pan.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mask_pan_keeps_6_and_4() {
        assert_eq!(super::mask_pan("6225880123456789"), "622588******6789");
        assert_eq!(super::mask_pan("1234"), "****");
    }
}
