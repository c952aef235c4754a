//! CUP-ECB, X9.19 (retail) and X9.9 MACs.
use super::{CryptoError, DesKey};

/// Intermediate values of the CUP-ECB MAC (docs/PROTOCOL.md §7), for known-answer tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CupEcbSteps {
    /// XOR of all zero-padded 8-byte blocks.
    pub xor_result: [u8; 8],
    /// Encryption of the first 8 ASCII hex characters of `xor_result`.
    pub enc1: [u8; 8],
    /// `enc1` XOR the last 8 ASCII hex characters of `xor_result`.
    pub enc1_xor_right: [u8; 8],
    /// Encryption of `enc1_xor_right`.
    pub enc2: [u8; 8],
    /// First 8 upper-case ASCII hex characters of `enc2`: field 64.
    pub mac: [u8; 8],
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[inline(always)]
fn hex_expand(b: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, v) in b.iter().enumerate() {
        out[2 * i] = HEX_UPPER[(v >> 4) as usize];
        out[2 * i + 1] = HEX_UPPER[(v & 0x0F) as usize];
    }
    out
}

#[inline(always)]
fn xor_blocks(data: &[u8]) -> [u8; 8] {
    let mut acc = 0u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        acc ^= u64::from_be_bytes(b);
    }
    let rem = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rem.len()].copy_from_slice(rem);
    (acc ^ u64::from_be_bytes(last)).to_be_bytes()
}

/// CUP-ECB MAC with all its intermediate values.
pub fn cup_ecb_steps(mak: &DesKey, data: &[u8]) -> CupEcbSteps {
    let xor_result = xor_blocks(data);
    let hex = hex_expand(&xor_result);
    let mut enc1 = [0u8; 8];
    enc1.copy_from_slice(&hex[..8]);
    mak.encrypt_block(&mut enc1);
    let mut enc1_xor_right = enc1;
    for (a, b) in enc1_xor_right.iter_mut().zip(&hex[8..]) {
        *a ^= b;
    }
    let mut enc2 = enc1_xor_right;
    mak.encrypt_block(&mut enc2);
    let mut mac = [0u8; 8];
    mac.copy_from_slice(&hex_expand(&enc2)[..8]);
    CupEcbSteps {
        xor_result,
        enc1,
        enc1_xor_right,
        enc2,
        mac,
    }
}

/// CUP-ECB MAC (docs/PROTOCOL.md §7): returns the 8 upper-case ASCII hex characters that go into field 64.
pub fn cup_ecb(mak: &DesKey, data: &[u8]) -> [u8; 8] {
    cup_ecb_steps(mak, data).mac
}

/// Constant-time comparison of two MACs (avoid timing leaks when the host checks field 64).
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Single-DES CBC-MAC with K1 over zero-padded data (ISO 9797-1 padding method 1).
fn cbc_k1(key: &DesKey, data: &[u8], pad_method2: bool) -> [u8; 8] {
    let mut h = [0u8; 8];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        for (a, b) in h.iter_mut().zip(c) {
            *a ^= b;
        }
        key.encrypt_block_k1(&mut h);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() || pad_method2 || data.is_empty() {
        let mut last = [0u8; 8];
        last[..rem.len()].copy_from_slice(rem);
        if pad_method2 {
            last[rem.len()] = 0x80;
        }
        for (a, b) in h.iter_mut().zip(&last) {
            *a ^= b;
        }
        key.encrypt_block_k1(&mut h);
    }
    h
}

/// ANSI X9.19 retail MAC (ISO 9797-1 alg 3, zero padding) with a double-length key.
pub fn x9_19(key: &DesKey, data: &[u8]) -> Result<[u8; 8], CryptoError> {
    if key.len() != 16 {
        return Err(CryptoError::KeyLength(key.len()));
    }
    let mut h = cbc_k1(key, data, false);
    key.retail_final(&mut h);
    Ok(h)
}

/// ISO 9797-1 MAC algorithm 3 with padding method 2 (0x80 00..), as used for EMV ARQC/ARPC.
pub fn retail_mac_pad2(key: &DesKey, data: &[u8]) -> Result<[u8; 8], CryptoError> {
    if key.len() != 16 {
        return Err(CryptoError::KeyLength(key.len()));
    }
    let mut h = cbc_k1(key, data, true);
    key.retail_final(&mut h);
    Ok(h)
}

/// ANSI X9.9 (single-DES CBC-MAC, zero padding) with the left 8 bytes of `key`.
pub fn x9_9(key: &DesKey, data: &[u8]) -> [u8; 8] {
    cbc_k1(key, data, false)
}

/// ISO 9797-1 MAC algorithm 1 (CBC-MAC, zero padding) with the full (T)DES key.
pub fn tdes_cbc_mac_alg1(key: &DesKey, data: &[u8]) -> [u8; 8] {
    let mut h = [0u8; 8];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        for (a, b) in h.iter_mut().zip(c) {
            *a ^= b;
        }
        key.encrypt_block(&mut h);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() || data.is_empty() {
        for (a, b) in h.iter_mut().zip(rem) {
            *a ^= b;
        }
        key.encrypt_block(&mut h);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cup_ecb_external_frame() {
        let mak = DesKey::from_hex("0723C80DB5F4CD3D0723C80DB5F4CD3D").unwrap();
        let frame = hex::decode("007F600003000060321032007202003020048000C08015000000000000001234000002030099303030303030303139353237313831383232313738373531353600192600000100060000000000435F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C0230314233413039324145").unwrap();
        let span = &frame[13..frame.len() - 8];
        assert_eq!(&cup_ecb(&mak, span), b"B3A092AE");
        assert_eq!(&cup_ecb(&mak, span), &frame[frame.len() - 8..]);
        assert!(mac_eq(b"B3A092AE", &frame[frame.len() - 8..]));
        assert!(!mac_eq(b"B3A092AF", &frame[frame.len() - 8..]));
    }

    #[test]
    fn x9_19_needs_double_length() {
        let k = DesKey::from_hex("BC3E76D5F4A4D6FE").unwrap();
        assert_eq!(x9_19(&k, b"abc").unwrap_err(), CryptoError::KeyLength(8));
    }
}
