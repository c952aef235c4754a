//! The payment algorithms of the SM (国密) key family, docs/PROTOCOL.md §11: SM4 check values, the sign-in field 62,
//! the 16-byte PIN block, the CUP-SM4 MAC, track encryption and the SM2 TMK transport.
//!
//! SM2, SM3 and SM4 themselves come from the RustCrypto crates (`sm2.rs`, `sm4.rs`, [`super::sm3`]); the layouts
//! here are payment-specific and follow the protocol table. Every function is checked byte for byte against
//! tests/vectors/sm.json (core/tests/vectors_sm.rs).
use super::sm2::Sm2PublicKey;
use super::sm4::{self, Sm4Key};
use super::CryptoError;
use zeroize::Zeroizing;

/// Bytes of one working key in field 62: the key under the TMK (16) and its check value (4).
const F62_ENTRY_LEN: usize = 20;
/// The sign-in field 62 of the SM family: PIK, MAK, TDK entries.
pub const F62_LEN: usize = 3 * F62_ENTRY_LEN;
/// A track with fewer digits than this is sent clear (docs/PROTOCOL.md §11, "Track encryption").
pub const TRACK_MIN_ENCRYPTED_DIGITS: usize = 33;

/// Check value of an SM4 key: the first 4 bytes of SM4-ECB(key, 16 × 00).
pub fn check_value(key: &Sm4Key) -> [u8; 4] {
    key.kcv()
}

/// Accept a check value of 3 to 16 bytes that matches the start of the key's check block (hosts send 4; the
/// TDES side accepts 3 too, and so does this one).
pub fn check_value_matches(key: &Sm4Key, check_value: &[u8]) -> bool {
    let block = key.check_block();
    (3..=16).contains(&check_value.len())
        && super::mac::mac_eq(&block[..check_value.len()], check_value)
}

/// Decrypt a 16-byte key under `kek` (SM4-ECB) and verify its check value.
pub fn unwrap_key(kek: &Sm4Key, encrypted: &[u8], cv: &[u8]) -> Result<Sm4Key, CryptoError> {
    if encrypted.len() != 16 {
        return Err(CryptoError::KeyLength(encrypted.len()));
    }
    let clear = Zeroizing::new(sm4::decrypt_ecb(kek, encrypted)?);
    let key = Sm4Key::from_bytes(&clear)?;
    if !check_value_matches(&key, cv) {
        return Err(CryptoError::CheckValue);
    }
    Ok(key)
}

/// SM4-ECB(kek, key): a key as the host sends it (field 62 entries, DF21).
pub fn wrap_key(kek: &Sm4Key, key: &Sm4Key) -> [u8; 16] {
    let mut block = [0u8; 16];
    block.copy_from_slice(key.as_bytes());
    kek.encrypt_block(&mut block);
    block
}

/// The three working keys of a sign-in. Each zeroizes on drop; Debug shows check values only.
#[derive(Debug)]
pub struct WorkingKeys {
    pub pik: Sm4Key,
    pub mak: Sm4Key,
    pub tdk: Sm4Key,
}

/// Terminal side of the sign-in: field 62 (60 bytes: PIK, MAK, TDK, each 16 bytes under the TMK and a 4-byte
/// check value) to the three keys. A wrong length or any check value that does not match fails the whole field.
pub fn unwrap_sign_in(tmk: &Sm4Key, f62: &[u8]) -> Result<WorkingKeys, CryptoError> {
    if f62.len() != F62_LEN {
        return Err(CryptoError::DataLength(f62.len()));
    }
    let entry = |i: usize| {
        let e = &f62[i * F62_ENTRY_LEN..(i + 1) * F62_ENTRY_LEN];
        unwrap_key(tmk, &e[..16], &e[16..])
    };
    Ok(WorkingKeys {
        pik: entry(0)?,
        mak: entry(1)?,
        tdk: entry(2)?,
    })
}

/// Host side of the sign-in: the 60-byte field 62 for three working keys.
pub fn wrap_sign_in(tmk: &Sm4Key, keys: &WorkingKeys) -> [u8; F62_LEN] {
    let mut out = [0u8; F62_LEN];
    for (i, k) in [&keys.pik, &keys.mak, &keys.tdk].into_iter().enumerate() {
        let e = &mut out[i * F62_ENTRY_LEN..(i + 1) * F62_ENTRY_LEN];
        e[..16].copy_from_slice(&wrap_key(tmk, k));
        e[16..].copy_from_slice(&check_value(k));
    }
    out
}

/// Clear 16-byte SM4 PIN block: `0` ‖ N ‖ PIN ‖ `F` padding to 32 nibbles, XOR 20 zero nibbles ‖ the 12
/// right-most PAN digits excluding the check digit (the format-0 layout of crypto/pin_block.rs in 16 bytes).
pub fn pin_block_clear(pin: &str, pan: &str) -> Result<Zeroizing<[u8; 16]>, CryptoError> {
    super::pin_block::clear_block(super::pin_block::PinFormat::Iso0, pin, pan)
}

/// Field 52 of the SM family: the clear block under the PIK (SM4-ECB), 16 bytes.
pub fn pin_block_encrypt(pik: &Sm4Key, pin: &str, pan: &str) -> Result<[u8; 16], CryptoError> {
    let mut block = pin_block_clear(pin, pan)?;
    pik.encrypt_block(&mut block);
    Ok(*block)
}

/// Recover the PIN from a clear 16-byte block: control nibble 0, length 4..=12, decimal digits, `F` padding.
pub fn pin_block_parse(clear: &[u8; 16], pan: &str) -> Result<Zeroizing<String>, CryptoError> {
    super::pin_block::parse_block(super::pin_block::PinFormat::Iso0, clear, pan)
}

/// Host side: decrypt field 52 under the PIK and recover the PIN.
pub fn pin_block_decrypt(
    pik: &Sm4Key,
    block: &[u8; 16],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    let mut clear = Zeroizing::new(*block);
    pik.decrypt_block(&mut clear);
    pin_block_parse(&clear, pan)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Intermediate values of the CUP-SM4 MAC, for known-answer tests and debugging a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CupSm4Steps {
    /// XOR of all zero-padded 16-byte blocks of the MAB (16 zero bytes for an empty MAB).
    pub xor_result: [u8; 16],
    /// `xor_result` as 32 upper-case ASCII hex characters.
    pub hex: [u8; 32],
    /// SM4 of the first 16 characters, XOR the last 16, SM4 again.
    pub enc2: [u8; 16],
    /// First 8 bytes of `enc2`, binary: field 64.
    pub mac: [u8; 8],
}

/// CUP-SM4 MAC with its intermediate values.
pub fn cup_sm4_steps(mak: &Sm4Key, mab: &[u8]) -> CupSm4Steps {
    let mut xor_result = [0u8; 16];
    // `chunks` leaves a short last chunk: XOR-ing it into the start of the block is the zero padding.
    for chunk in mab.chunks(16) {
        for (a, b) in xor_result.iter_mut().zip(chunk) {
            *a ^= b;
        }
    }
    let mut hex = [0u8; 32];
    for (i, v) in xor_result.iter().enumerate() {
        hex[2 * i] = HEX_UPPER[(v >> 4) as usize];
        hex[2 * i + 1] = HEX_UPPER[(v & 0x0F) as usize];
    }
    let mut enc2 = [0u8; 16];
    enc2.copy_from_slice(&hex[..16]);
    mak.encrypt_block(&mut enc2);
    for (a, b) in enc2.iter_mut().zip(&hex[16..]) {
        *a ^= b;
    }
    mak.encrypt_block(&mut enc2);
    let mut mac = [0u8; 8];
    mac.copy_from_slice(&enc2[..8]);
    CupSm4Steps {
        xor_result,
        hex,
        enc2,
        mac,
    }
}

/// CUP-SM4 MAC: the 8 binary bytes of field 64 in the SM family (no final hex expansion, unlike CUP-ECB).
pub fn cup_sm4_mac(mak: &Sm4Key, mab: &[u8]) -> [u8; 8] {
    cup_sm4_steps(mak, mab).mac
}

/// Pack a track (digits and the separator `D` or `=`) as BCD; an odd digit count gets a trailing `0` nibble.
pub fn pack_track(track: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'D' | b'd' | b'=' => Ok(0x0D),
        _ => Err(CryptoError::TrackFormat),
    };
    let mut packed = Zeroizing::new(Vec::with_capacity(track.len().div_ceil(2)));
    for pair in track.as_bytes().chunks(2) {
        let low = match pair.get(1) {
            Some(&b) => nibble(b)?,
            None => 0,
        };
        packed.push((nibble(pair[0])? << 4) | low);
    }
    Ok(packed)
}

/// Whether a track of `digits` characters is encrypted (33 or more) or sent clear.
pub fn track_is_encrypted(digits: usize) -> bool {
    digits >= TRACK_MIN_ENCRYPTED_DIGITS
}

/// The packed track with the 16 bytes that precede its last byte replaced by SM4-ECB(TDK, those bytes); a track
/// under 33 digits comes back packed and clear.
pub fn encrypt_track(tdk: &Sm4Key, track: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut packed = pack_track(track)?;
    if track_is_encrypted(track.len()) {
        let m = packed.len();
        let mut block = Zeroizing::new([0u8; 16]);
        block.copy_from_slice(&packed[m - 17..m - 1]);
        tdk.encrypt_block(&mut block);
        packed[m - 17..m - 1].copy_from_slice(&block[..]);
    }
    Ok(packed)
}

/// Host side: undo [`encrypt_track`] on a packed track of `digits` characters (in place).
pub fn decrypt_track(tdk: &Sm4Key, packed: &mut [u8], digits: usize) -> Result<(), CryptoError> {
    if packed.len() != digits.div_ceil(2) {
        return Err(CryptoError::DataLength(packed.len()));
    }
    if track_is_encrypted(digits) {
        let m = packed.len();
        let mut block = Zeroizing::new([0u8; 16]);
        block.copy_from_slice(&packed[m - 17..m - 1]);
        tdk.decrypt_block(&mut block);
        packed[m - 17..m - 1].copy_from_slice(&block[..]);
    }
    Ok(())
}

/// The terminal's half of the SM2 TMK download (`350`): a fresh random SM4 transport key R, DF23 = R under the
/// host's SM2 key (C1 ‖ C3 ‖ C2) and DF24 = the check value of R. R zeroizes on drop; Debug shows no key.
pub struct TmkRequest {
    /// R: kept by the terminal until the answer's DF21 is unwrapped.
    pub transport_key: Sm4Key,
    /// DF23.
    pub encrypted_transport_key: Vec<u8>,
    /// DF24.
    pub transport_key_cv: [u8; 4],
}

impl std::fmt::Debug for TmkRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TmkRequest")
            .field(
                "transport_key_cv",
                &hex::encode_upper(self.transport_key_cv),
            )
            .finish_non_exhaustive()
    }
}

/// Terminal side: make R and encrypt it to the host key.
pub fn tmk_request(host_key: &Sm2PublicKey) -> Result<TmkRequest, CryptoError> {
    let mut r = Zeroizing::new([0u8; 16]);
    super::random_bytes(&mut r[..])?;
    tmk_request_with(host_key, Sm4Key::from_bytes(&r[..])?)
}

/// [`tmk_request`] with a given R (tests and a host replaying a capture).
pub fn tmk_request_with(
    host_key: &Sm2PublicKey,
    transport_key: Sm4Key,
) -> Result<TmkRequest, CryptoError> {
    let encrypted_transport_key = host_key.encrypt(transport_key.as_bytes())?;
    let transport_key_cv = check_value(&transport_key);
    Ok(TmkRequest {
        transport_key,
        encrypted_transport_key,
        transport_key_cv,
    })
}

/// Host side: recover R from DF23 with the host's SM2 private key and check it against DF24.
pub fn tmk_transport_key(
    host_key: &super::sm2::Sm2PrivateKey,
    df23: &[u8],
    df24: &[u8],
) -> Result<Sm4Key, CryptoError> {
    let r = host_key.decrypt(df23)?;
    let key = Sm4Key::from_bytes(&r)?;
    if !check_value_matches(&key, df24) {
        return Err(CryptoError::CheckValue);
    }
    Ok(key)
}

/// Host side: DF21 = SM4-ECB(R, TMK) and DF22 = the TMK's check value.
pub fn tmk_wrap(transport_key: &Sm4Key, tmk: &Sm4Key) -> ([u8; 16], [u8; 4]) {
    (wrap_key(transport_key, tmk), check_value(tmk))
}

/// Terminal side: the TMK from DF21 under R, checked against DF22.
pub fn tmk_unwrap(transport_key: &Sm4Key, df21: &[u8], df22: &[u8]) -> Result<Sm4Key, CryptoError> {
    unwrap_key(transport_key, df21, df22)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "6225880123456789";

    fn key(hex: &str) -> Sm4Key {
        Sm4Key::from_hex(hex).unwrap()
    }

    #[test]
    fn pin_block_refusals_and_round_trip() {
        assert_eq!(
            pin_block_clear("123", PAN).unwrap_err(),
            CryptoError::PinFormat
        );
        assert_eq!(
            pin_block_clear("12a4", PAN).unwrap_err(),
            CryptoError::PinFormat
        );
        assert_eq!(
            pin_block_clear("1234", "622588012345").unwrap_err(),
            CryptoError::PanFormat
        );
        let pik = key("7AC2B3618E4F5D09A1C63E2B94F0D857");
        for pin in ["1234", "123456", "123456789012"] {
            let b = pin_block_encrypt(&pik, pin, PAN).unwrap();
            assert_eq!(pin_block_decrypt(&pik, &b, PAN).unwrap().as_str(), pin);
        }
        let good = pin_block_clear("123456", PAN).unwrap();
        let mut bad = *good;
        bad[0] ^= 0x10;
        assert_eq!(
            pin_block_parse(&bad, PAN).unwrap_err(),
            CryptoError::PinBlockFormat
        );
        let mut bad = *good;
        bad[15] ^= 0x01;
        assert_eq!(
            pin_block_parse(&bad, PAN).unwrap_err(),
            CryptoError::PinBlockFormat
        );
    }

    #[test]
    fn sign_in_refuses_bad_check_values_and_lengths() {
        let tmk = key("3C5A1E9F0B7D24E8C6419A2F5D83B07E");
        let keys = WorkingKeys {
            pik: key("7AC2B3618E4F5D09A1C63E2B94F0D857"),
            mak: key("04F4108A1C9B3DB0CD62FD264CABDA10"),
            tdk: key("0123456789ABCDEFFEDCBA9876543210"),
        };
        let f62 = wrap_sign_in(&tmk, &keys);
        let back = unwrap_sign_in(&tmk, &f62).unwrap();
        assert_eq!(back.mak.as_bytes(), keys.mak.as_bytes());
        let mut bad = f62;
        bad[36] ^= 1; // the MAK's check value
        assert_eq!(
            unwrap_sign_in(&tmk, &bad).unwrap_err(),
            CryptoError::CheckValue
        );
        assert_eq!(
            unwrap_sign_in(&tmk, &f62[..59]).unwrap_err(),
            CryptoError::DataLength(59)
        );
        // Debug shows check values, never key bytes.
        let shown = format!("{back:?}");
        assert!(shown.contains("kcv="));
        assert!(!shown.contains("04F4108A"));
    }

    #[test]
    fn track_round_trip_and_refusal() {
        let tdk = key("0123456789ABCDEFFEDCBA9876543210");
        let track = "6225880123456789=30121011234567890123";
        let mut packed = encrypt_track(&tdk, track).unwrap();
        assert_ne!(*packed, *pack_track(track).unwrap());
        decrypt_track(&tdk, &mut packed, track.len()).unwrap();
        assert_eq!(*packed, *pack_track(track).unwrap());
        assert_eq!(pack_track("62X5").unwrap_err(), CryptoError::TrackFormat);
    }
}
