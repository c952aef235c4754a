//! SM4 (GB/T 32907) ECB on whole 16-byte blocks: groundwork for national-crypto (SM) key support.
use super::CryptoError;
use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

/// A 128-bit SM4 key. Raw bytes and the key schedule zeroize on drop; Debug shows only the check value.
pub struct Sm4Key {
    bytes: zeroize::Zeroizing<[u8; 16]>,
    cipher: ::sm4::Sm4,
}

impl Sm4Key {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 16] = bytes
            .try_into()
            .map_err(|_| CryptoError::KeyLength(bytes.len()))?;
        let bytes = zeroize::Zeroizing::new(arr);
        let cipher = ::sm4::Sm4::new(&(*bytes).into());
        Ok(Sm4Key { bytes, cipher })
    }

    pub fn from_hex(hex: &str) -> Result<Self, CryptoError> {
        let raw = zeroize::Zeroizing::new(hex::decode(hex.trim()).map_err(|_| CryptoError::Hex)?);
        Self::from_bytes(&raw)
    }

    /// Raw key bytes. Never log them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..]
    }

    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        let mut b = (*block).into();
        self.cipher.encrypt_block(&mut b);
        *block = b.into();
    }

    pub fn decrypt_block(&self, block: &mut [u8; 16]) {
        let mut b = (*block).into();
        self.cipher.decrypt_block(&mut b);
        *block = b.into();
    }

    /// SM4-ECB(key, 16 x 00).
    pub fn check_block(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.encrypt_block(&mut b);
        b
    }

    /// First 4 bytes of the check block.
    pub fn kcv(&self) -> [u8; 4] {
        let b = self.check_block();
        [b[0], b[1], b[2], b[3]]
    }
}

impl std::fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sm4Key(kcv={})", hex::encode_upper(self.kcv()))
    }
}

fn ecb(data: &[u8], mut f: impl FnMut(&mut [u8; 16])) -> Result<Vec<u8>, CryptoError> {
    if !data.len().is_multiple_of(16) {
        return Err(CryptoError::DataLength(data.len()));
    }
    let mut out = data.to_vec();
    for chunk in out.chunks_exact_mut(16) {
        let mut b = [0u8; 16];
        b.copy_from_slice(chunk);
        f(&mut b);
        chunk.copy_from_slice(&b);
    }
    Ok(out)
}

/// SM4-ECB encryption of whole 16-byte blocks (no padding).
pub fn encrypt_ecb(key: &Sm4Key, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    ecb(data, |b| key.encrypt_block(b))
}

/// SM4-ECB decryption of whole 16-byte blocks (no padding).
pub fn decrypt_ecb(key: &Sm4Key, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    ecb(data, |b| key.decrypt_block(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbt_example_and_errors() {
        let k = Sm4Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let pt = hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let ct = encrypt_ecb(&k, &pt).unwrap();
        assert_eq!(hex::encode_upper(&ct), "681EDF34D206965E86B3E94F536E4246");
        assert_eq!(decrypt_ecb(&k, &ct).unwrap(), pt);
        assert_eq!(
            encrypt_ecb(&k, &pt[..15]).unwrap_err(),
            CryptoError::DataLength(15)
        );
        assert_eq!(
            Sm4Key::from_bytes(&[0; 8]).unwrap_err(),
            CryptoError::KeyLength(8)
        );
        assert_eq!(format!("{k:?}"), "Sm4Key(kcv=2677F46B)");
    }
}
