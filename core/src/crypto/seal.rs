//! Sealing at rest: AES-256-GCM under a 32-byte platform key, random 96-bit nonce, optional associated data.
//! Layout: nonce(12) || ciphertext || tag(16).
use super::CryptoError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

fn cipher(key: &[u8; 32]) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len()))
}

/// Seal `plaintext`, binding it to `aad` (e.g. the row it belongs to).
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    super::random_bytes(&mut nonce)?;
    let ct = cipher(key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Seal)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a sealed blob; a wrong key, wrong `aad` or any tampering is `CryptoError::Seal`.
pub fn open(
    key: &[u8; 32],
    sealed: &[u8],
    aad: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Seal);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Seal)?;
    cipher(key)?
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
        .map(zeroize::Zeroizing::new)
        .map_err(|_| CryptoError::Seal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"6225880123456789", b"pan:1").unwrap();
        assert_eq!(sealed.len(), 12 + 16 + 16);
        assert_eq!(
            &open(&key, &sealed, b"pan:1").unwrap()[..],
            b"6225880123456789"
        );
        assert_eq!(open(&key, &sealed, b"pan:2"), Err(CryptoError::Seal));
        assert_eq!(open(&[8u8; 32], &sealed, b"pan:1"), Err(CryptoError::Seal));
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert_eq!(open(&key, &bad, b"pan:1"), Err(CryptoError::Seal));
        assert_eq!(open(&key, &sealed[..10], b"pan:1"), Err(CryptoError::Seal));
        // Two seals of the same text differ (random nonce).
        assert_ne!(
            seal(&key, b"x", b"").unwrap(),
            seal(&key, b"x", b"").unwrap()
        );
    }
}
