//! Key material: zeroized on drop, Debug shows only the check value.
use super::fast_des::{self, Schedule as Des};
use super::CryptoError;

/// Cached key schedules (zeroized on drop).
// Inline (no Box): a key is built once and lives long; keeping the schedules inline avoids a pointer chase per block.
#[allow(clippy::large_enum_variant)]
enum Schedule {
    /// 8-byte key: single DES.
    Single(Des),
    /// 16- or 24-byte key: EDE with K1, K2, K3 (K3 = K1 for a double-length key).
    Triple(Des, Des, Des),
}

/// A single (8), double (16) or triple (24) length DES key. 8-byte keys act as single DES (K1=K2=K3).
pub struct DesKey {
    bytes: zeroize::Zeroizing<Vec<u8>>,
    schedule: Schedule,
}

fn des_of(part: &[u8]) -> Des {
    let mut k = [0u8; 8];
    k.copy_from_slice(part);
    let d = Des::new(&k);
    zeroize::Zeroize::zeroize(&mut k);
    d
}

#[inline(always)]
fn enc(d: &Des, block: &mut [u8; 8]) {
    *block = fast_des::des_encrypt(d, u64::from_be_bytes(*block)).to_be_bytes();
}

#[inline(always)]
fn dec(d: &Des, block: &mut [u8; 8]) {
    *block = fast_des::des_decrypt(d, u64::from_be_bytes(*block)).to_be_bytes();
}

impl DesKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let schedule = match bytes.len() {
            8 => Schedule::Single(des_of(bytes)),
            16 => Schedule::Triple(
                des_of(&bytes[..8]),
                des_of(&bytes[8..16]),
                des_of(&bytes[..8]),
            ),
            24 => Schedule::Triple(
                des_of(&bytes[..8]),
                des_of(&bytes[8..16]),
                des_of(&bytes[16..24]),
            ),
            n => return Err(CryptoError::KeyLength(n)),
        };
        Ok(DesKey {
            bytes: zeroize::Zeroizing::new(bytes.to_vec()),
            schedule,
        })
    }

    pub fn from_hex(hex: &str) -> Result<Self, CryptoError> {
        let raw = zeroize::Zeroizing::new(hex::decode(hex.trim()).map_err(|_| CryptoError::Hex)?);
        Self::from_bytes(&raw)
    }

    /// Raw key bytes (for sealing and for the host simulator). Never log them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Key length in bytes (8, 16 or 24).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a key has 8, 16 or 24 bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A second key holding the same bytes (both zeroize on drop).
    pub fn duplicate(&self) -> DesKey {
        // The length was validated when `self` was built.
        match DesKey::from_bytes(&self.bytes) {
            Ok(k) => k,
            Err(_) => unreachable!("DesKey always holds 8, 16 or 24 bytes"),
        }
    }

    /// The left 8 bytes as a single-DES key (X9.9, X9.19).
    pub fn left_half(&self) -> DesKey {
        match DesKey::from_bytes(&self.bytes[..8]) {
            Ok(k) => k,
            Err(_) => unreachable!("8 bytes is a valid single-DES length"),
        }
    }

    /// Encrypt one block in place (DES or TDES-EDE by key length).
    #[inline]
    pub fn encrypt_block(&self, block: &mut [u8; 8]) {
        match &self.schedule {
            Schedule::Single(d) => enc(d, block),
            Schedule::Triple(k1, k2, k3) => {
                *block =
                    fast_des::tdes_encrypt(k1, k2, k3, u64::from_be_bytes(*block)).to_be_bytes();
            }
        }
    }

    /// Decrypt one block in place (DES or TDES-EDE by key length).
    #[inline]
    pub fn decrypt_block(&self, block: &mut [u8; 8]) {
        match &self.schedule {
            Schedule::Single(d) => dec(d, block),
            Schedule::Triple(k1, k2, k3) => {
                *block =
                    fast_des::tdes_decrypt(k1, k2, k3, u64::from_be_bytes(*block)).to_be_bytes();
            }
        }
    }

    /// Single-DES encryption of one block with the left 8 bytes (K1) only.
    #[inline]
    pub(crate) fn encrypt_block_k1(&self, block: &mut [u8; 8]) {
        match &self.schedule {
            Schedule::Single(d) | Schedule::Triple(d, _, _) => enc(d, block),
        }
    }

    /// Single-DES decryption with K2 and encryption with K3 (the final step of the X9.19 retail MAC).
    #[inline]
    pub(crate) fn retail_final(&self, block: &mut [u8; 8]) {
        match &self.schedule {
            Schedule::Single(_) => {}
            Schedule::Triple(_, k2, k3) => {
                dec(k2, block);
                enc(k3, block);
            }
        }
    }

    /// TDES-ECB(key, 8 x 00).
    pub fn check_block(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        self.encrypt_block(&mut b);
        b
    }

    /// First 4 bytes of the check block: the CV of PROTOCOL.md.
    pub fn kcv(&self) -> [u8; 4] {
        let b = self.check_block();
        [b[0], b[1], b[2], b[3]]
    }
}

impl std::fmt::Debug for DesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DesKey(kcv={})", hex::encode_upper(self.kcv()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_debug() {
        assert_eq!(
            DesKey::from_bytes(&[0u8; 7]).unwrap_err(),
            CryptoError::KeyLength(7)
        );
        assert_eq!(
            DesKey::from_bytes(&[0u8; 32]).unwrap_err(),
            CryptoError::KeyLength(32)
        );
        assert_eq!(DesKey::from_hex("zz").unwrap_err(), CryptoError::Hex);
        let k = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        assert_eq!(format!("{k:?}"), "DesKey(kcv=08D7B4FB)");
        let mut b = *b"abcdefgh";
        k.encrypt_block(&mut b);
        assert_ne!(&b, b"abcdefgh");
        k.decrypt_block(&mut b);
        assert_eq!(&b, b"abcdefgh");
    }

    #[test]
    fn single_equals_triple_with_same_halves() {
        let s = DesKey::from_hex("BC3E76D5F4A4D6FE").unwrap();
        let d = DesKey::from_hex("BC3E76D5F4A4D6FEBC3E76D5F4A4D6FE").unwrap();
        let t = DesKey::from_hex("BC3E76D5F4A4D6FEBC3E76D5F4A4D6FEBC3E76D5F4A4D6FE").unwrap();
        assert_eq!(s.check_block(), d.check_block());
        assert_eq!(s.check_block(), t.check_block());
        assert_eq!(hex::encode_upper(s.check_block()), "96099E0F8A286121");
    }
}
