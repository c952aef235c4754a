//! RSA key transport (TMK download): a host public key given as modulus + exponent.
use super::CryptoError;
use ::rsa::{BoxedUint, PublicKey};

#[derive(Clone, PartialEq, Eq)]
pub struct HostPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

impl HostPublicKey {
    /// Big-endian modulus and exponent bytes (as DF02 / DF04 carry them).
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Result<Self, CryptoError> {
        let m = strip_leading_zeros(modulus);
        let e = strip_leading_zeros(exponent);
        if m.is_empty() {
            return Err(CryptoError::Rsa("modulus is empty".into()));
        }
        if e.is_empty() || e.len() > 8 {
            return Err(CryptoError::Rsa("exponent is empty or too long".into()));
        }
        let key = HostPublicKey {
            modulus: m.to_vec(),
            exponent: e.to_vec(),
        };
        // Validate now (size 1024..=8192 bits, odd modulus, exponent range) so later encryption cannot fail on the key.
        key.public_key()?;
        Ok(key)
    }

    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        let top = self.modulus.first().copied().unwrap_or(0);
        self.modulus.len() * 8 - top.leading_zeros() as usize
    }

    fn public_key(&self) -> Result<PublicKey, CryptoError> {
        let n = BoxedUint::from_be_slice_vartime(&self.modulus);
        let e = BoxedUint::from_be_slice_vartime(&self.exponent);
        PublicKey::new(n, e).map_err(|e| CryptoError::Rsa(format!("public key: {e}")))
    }

    /// SHA-256(modulus || exponent), the pinned fingerprint.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut buf = Vec::with_capacity(self.modulus.len() + self.exponent.len());
        buf.extend_from_slice(&self.modulus);
        buf.extend_from_slice(&self.exponent);
        super::sha256(&buf)
    }

    /// RSAES-PKCS1-v1_5 encryption with OS randomness.
    pub fn encrypt_pkcs1v15(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let pk = self.public_key()?;
        pk.pkcs1v15_encrypt(data)
            .map_err(|e| CryptoError::Rsa(format!("encrypt: {e}")))
    }
}

impl std::fmt::Debug for HostPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HostPublicKey(bits={}, sha256={})",
            self.bits(),
            hex::encode_upper(&self.fingerprint()[..8])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_keys() {
        assert!(HostPublicKey::new(&[], &[1, 0, 1]).is_err());
        assert!(HostPublicKey::new(&[0xC3; 16], &[1, 0, 1]).is_err()); // too small
        let mut even = vec![0xC3u8; 256];
        even[255] = 0xC2;
        assert!(HostPublicKey::new(&even, &[1, 0, 1]).is_err());
        assert!(HostPublicKey::new(&[0xC3; 256], &[]).is_err());
    }
}
