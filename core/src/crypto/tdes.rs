//! DES / TDES ECB on whole 8-byte blocks.
use super::{CryptoError, DesKey};

fn ecb(data: &[u8], mut f: impl FnMut(&mut [u8; 8])) -> Result<Vec<u8>, CryptoError> {
    if !data.len().is_multiple_of(8) {
        return Err(CryptoError::DataLength(data.len()));
    }
    let mut out = data.to_vec();
    for chunk in out.chunks_exact_mut(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        f(&mut b);
        chunk.copy_from_slice(&b);
    }
    Ok(out)
}

pub fn encrypt_ecb(key: &DesKey, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    ecb(data, |b| key.encrypt_block(b))
}

pub fn decrypt_ecb(key: &DesKey, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    ecb(data, |b| key.decrypt_block(b))
}

pub fn encrypt_block(key: &DesKey, block: &mut [u8; 8]) {
    key.encrypt_block(block)
}

pub fn decrypt_block(key: &DesKey, block: &mut [u8; 8]) {
    key.decrypt_block(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecb_round_trip_and_length() {
        let k = DesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let data: Vec<u8> = (0u8..24).collect();
        let c = encrypt_ecb(&k, &data).unwrap();
        assert_eq!(c.len(), 24);
        assert_eq!(decrypt_ecb(&k, &c).unwrap(), data);
        assert_eq!(
            encrypt_ecb(&k, &data[..7]).unwrap_err(),
            CryptoError::DataLength(7)
        );
        assert_eq!(encrypt_ecb(&k, &[]).unwrap(), Vec::<u8>::new());
    }
}
