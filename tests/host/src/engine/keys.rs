//! The host's side of the two key families (docs/PROTOCOL.md §3, §7 and §11): a terminal's keys are TDES or SM4
//! keys as its family says, and every key operation (wrap under the TMK, check values, MAC, PIN block, track
//! block) goes through [`FamilyKey`].
use possdk_core::crypto::pin_block::PinFormat;
use possdk_core::crypto::sm4::Sm4Key;
use possdk_core::crypto::{mac, pin_block, sm, tdes, DesKey, KeyFamily};
use zeroize::Zeroizing;

/// One key of a terminal, in its family.
// A handful of keys live at once; the TDES schedule inline (not boxed) keeps key material off extra heap blocks.
#[allow(clippy::large_enum_variant)]
pub enum FamilyKey {
    Des(DesKey),
    Sm4(Sm4Key),
}

impl FamilyKey {
    pub fn from_bytes(family: KeyFamily, bytes: &[u8]) -> Option<FamilyKey> {
        match family {
            KeyFamily::Tdes => DesKey::from_bytes(bytes).ok().map(FamilyKey::Des),
            KeyFamily::Sm => Sm4Key::from_bytes(bytes).ok().map(FamilyKey::Sm4),
        }
    }

    pub fn kcv(&self) -> [u8; 4] {
        match self {
            FamilyKey::Des(k) => k.kcv(),
            FamilyKey::Sm4(k) => k.kcv(),
        }
    }

    /// `cv` (3 bytes up to a whole check block) matches this key's check value.
    pub fn check_matches(&self, cv: &[u8]) -> bool {
        match self {
            FamilyKey::Des(k) => (3..=8).contains(&cv.len()) && k.check_block()[..cv.len()] == *cv,
            FamilyKey::Sm4(k) => sm::check_value_matches(k, cv),
        }
    }

    /// ECB encryption of a 16-byte key under this key (field 62 entries, DF21).
    pub fn wrap(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self {
            FamilyKey::Des(k) => tdes::encrypt_ecb(k, key).ok(),
            FamilyKey::Sm4(k) => {
                let key = Sm4Key::from_bytes(key).ok()?;
                Some(sm::wrap_key(k, &key).to_vec())
            }
        }
    }

    /// Field 64: CUP-ECB (8 ASCII bytes) or CUP-SM4 (8 binary bytes) of the MAC'd span.
    pub fn mac(&self, span: &[u8]) -> [u8; 8] {
        match self {
            FamilyKey::Des(k) => mac::cup_ecb(k, span),
            FamilyKey::Sm4(k) => sm::cup_sm4_mac(k, span),
        }
    }

    /// The PIN of field 52 under this PIK, in the profile's format: 8 bytes TDES, 16 bytes SM4 (format 0's
    /// layout). None: the block does not decode (or has the other family's size).
    pub fn pin(&self, format: PinFormat, block: &[u8], pan: &str) -> Option<Zeroizing<String>> {
        match self {
            FamilyKey::Des(k) => {
                let b: [u8; 8] = block.try_into().ok()?;
                pin_block::decrypt(format, k, &b, pan).ok()
            }
            FamilyKey::Sm4(k) => {
                let b: [u8; 16] = block.try_into().ok()?;
                sm::pin_block_decrypt(k, &b, pan).ok()
            }
        }
    }

    /// The family's block: 8 (TDES) or 16 (SM4) bytes.
    pub fn block_len(&self) -> usize {
        self.family().block_len()
    }

    pub fn family(&self) -> KeyFamily {
        match self {
            FamilyKey::Des(_) => KeyFamily::Tdes,
            FamilyKey::Sm4(_) => KeyFamily::Sm,
        }
    }

    /// Decrypt one block (of [`block_len`](Self::block_len) bytes) in place: the encrypted part of a track.
    pub fn decrypt_block(&self, block: &mut [u8]) -> Option<()> {
        match self {
            FamilyKey::Des(k) => {
                let b: &mut [u8; 8] = block.try_into().ok()?;
                tdes::decrypt_block(k, b);
            }
            FamilyKey::Sm4(k) => {
                let b: &mut [u8; 16] = block.try_into().ok()?;
                k.decrypt_block(b);
            }
        }
        Some(())
    }
}
