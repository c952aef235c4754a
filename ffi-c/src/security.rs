//! A security module supplied by the application (a hardware PIN pad / secure element), as a C vtable
//! wrapped into the core's `SecurityModule` trait. Without it, the core's software module is used.
//!
//! Threading and ownership are those of the device callbacks (callbacks.rs): called on the thread that
//! runs the operation, `destroy` once when the terminal is freed. Keys never cross this interface in
//! clear: the module receives keys encrypted under the TMK (or the transport key) and returns only
//! check values, PIN blocks and MACs.
//!
//! The module works in one key family (docs/PROTOCOL.md §11), which it states in `key_family`: TDES (RSA
//! transport through `begin_tmk_download`, 8-byte PIN and track blocks) or SM (SM2 transport through
//! `begin_tmk_download_sm2`, SM4 keys, 16-byte PIN and track blocks, the CUP-SM4 MAC).

use crate::callbacks::{pos_hal_status, POS_HAL_OK};
use possdk_core::security::{
    EncryptedKey, HostKey, KeyFamily, KeySlot, SecurityError, SecurityModule, TmkTransport,
};
use std::ffi::{c_char, c_void, CString};
use zeroize::Zeroizing;

/// Key slot numbers (`uint32_t`).
pub type pos_key_slot = u32;
pub const POS_KEY_TMK: pos_key_slot = 0;
pub const POS_KEY_PIK: pos_key_slot = 1;
pub const POS_KEY_MAK: pos_key_slot = 2;
pub const POS_KEY_TDK: pos_key_slot = 3;

/// Key family numbers (`uint32_t`): the field `key_family` of the vtable and of `pos_status_result`.
pub type pos_key_family = u32;
/// RSA TMK transport, TDES keys, CUP-ECB MAC, 8-byte PIN and track blocks (the default: 0).
pub const POS_KEY_FAMILY_TDES: pos_key_family = 0;
/// SM2 TMK transport, SM4 keys, CUP-SM4 MAC, 16-byte PIN and track blocks.
pub const POS_KEY_FAMILY_SM: pos_key_family = 1;

pub(crate) fn family_c(f: KeyFamily) -> pos_key_family {
    match f {
        KeyFamily::Tdes => POS_KEY_FAMILY_TDES,
        KeyFamily::Sm => POS_KEY_FAMILY_SM,
    }
}

/// Security callbacks may also return these (besides `POS_HAL_OK` / `POS_HAL_ERROR`).
/// A received key's check value did not match (the key was not installed).
pub const POS_SECURITY_KEY_CHECK_FAILED: pos_hal_status = 10;
/// The slot needed is empty (or the TMK is not activated yet).
pub const POS_SECURITY_MISSING_KEY: pos_hal_status = 11;
/// `receive_tmk` / `activate_tmk` without a download in progress.
pub const POS_SECURITY_NO_TRANSPORT_KEY: pos_hal_status = 12;

fn slot_c(s: KeySlot) -> pos_key_slot {
    match s {
        KeySlot::Tmk => POS_KEY_TMK,
        KeySlot::Pik => POS_KEY_PIK,
        KeySlot::Mak => POS_KEY_MAK,
        KeySlot::Tdk => POS_KEY_TDK,
    }
}

/// Written by `begin_tmk_download` (RSA-PKCS#1 v1.5(host key, R)) or `begin_tmk_download_sm2` (SM2(host key, R),
/// C1 ‖ C3 ‖ C2, 113 bytes), with the check value of R.
#[repr(C)]
pub struct pos_tmk_transport {
    pub encrypted_key: [u8; 512],
    pub encrypted_key_len: usize,
    pub check_value: [u8; 4],
}

/// One working key as the sign-in response carries it: encrypted under the TMK, with its check value.
#[repr(C)]
pub struct pos_encrypted_key {
    pub encrypted: *const u8,
    pub encrypted_len: usize,
    pub check_value: [u8; 4],
}

/// The security module vtable. Every function is required, except the TMK download of the family the module does
/// not work in (`begin_tmk_download` for TDES, `begin_tmk_download_sm2` for SM). Return `POS_HAL_OK`, one of
/// the `POS_SECURITY_*` values, or `POS_HAL_ERROR`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_security_module {
    pub ctx: *mut c_void,
    /// TDES family: generate a random transport key R, encrypt it to the host RSA key (big-endian
    /// modulus/exponent).
    pub begin_tmk_download: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            modulus: *const u8,
            modulus_len: usize,
            exponent: *const u8,
            exponent_len: usize,
            out: *mut pos_tmk_transport,
        ) -> pos_hal_status,
    >,
    /// Decrypt the TMK under R (TDES-ECB, or SM4-ECB in the SM family), verify its check value, keep it pending;
    /// write its 4-byte check value.
    pub receive_tmk: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            encrypted_tmk: *const u8,
            encrypted_tmk_len: usize,
            check_value: *const u8,
            check_value_len: usize,
            out_check_value: *mut u8,
        ) -> pos_hal_status,
    >,
    /// The pending TMK becomes active (working keys are cleared).
    pub activate_tmk: Option<unsafe extern "C" fn(ctx: *mut c_void) -> pos_hal_status>,
    /// Install PIK, MAK, TDK after verifying every check value: all or none.
    pub install_working_keys: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            pik: *const pos_encrypted_key,
            mak: *const pos_encrypted_key,
            tdk: *const pos_encrypted_key,
        ) -> pos_hal_status,
    >,
    pub has_key: Option<unsafe extern "C" fn(ctx: *mut c_void, slot: pos_key_slot) -> bool>,
    /// Write the slot's 4-byte check value; any status but `POS_HAL_OK` means "no key".
    pub check_value: Option<
        unsafe extern "C" fn(ctx: *mut c_void, slot: pos_key_slot, out: *mut u8) -> pos_hal_status,
    >,
    /// The format-0 PIN block under the PIK: 8 bytes (TDES) or 16 bytes (SM4) to `out`, which has room for 16.
    /// `pin` and `pan` are secrets.
    pub pin_block: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            pin: *const c_char,
            pan: *const c_char,
            out: *mut u8,
        ) -> pos_hal_status,
    >,
    /// The MAC under the MAK, the 8 bytes of field 64 to `out`: CUP-ECB (ASCII) or CUP-SM4 (binary).
    pub mac: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            data: *const u8,
            data_len: usize,
            out: *mut u8,
        ) -> pos_hal_status,
    >,
    /// ECB(TDK, block): 8 bytes in and out (TDES), 16 bytes in and out (SM4).
    pub encrypt_track_block: Option<
        unsafe extern "C" fn(ctx: *mut c_void, block: *const u8, out: *mut u8) -> pos_hal_status,
    >,
    pub clear_working_keys: Option<unsafe extern "C" fn(ctx: *mut c_void) -> pos_hal_status>,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// The module's key family: `POS_KEY_FAMILY_TDES` (0, what a zeroed vtable says) or `POS_KEY_FAMILY_SM`.
    /// It must be the config's `key_family`.
    pub key_family: pos_key_family,
    /// SM family: generate a random SM4 transport key R, encrypt it to the host SM2 key (`public_key`, the
    /// 65-byte `04 ‖ X ‖ Y`) as C1 ‖ C3 ‖ C2.
    pub begin_tmk_download_sm2: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            public_key: *const u8,
            public_key_len: usize,
            out: *mut pos_tmk_transport,
        ) -> pos_hal_status,
    >,
}

pub(crate) struct CSecurity {
    v: pos_security_module,
    family: KeyFamily,
}

// SAFETY: as for the device callbacks: the contract requires ctx usable from the calling threads.
unsafe impl Send for CSecurity {}

impl Drop for CSecurity {
    fn drop(&mut self) {
        if let Some(d) = self.v.destroy.take() {
            // SAFETY: the application's destroy with its ctx, exactly once.
            unsafe { d(self.v.ctx) };
        }
    }
}

fn err(status: pos_hal_status, slot: KeySlot, what: &str) -> SecurityError {
    match status {
        POS_SECURITY_KEY_CHECK_FAILED => SecurityError::KeyCheck(slot),
        POS_SECURITY_MISSING_KEY => SecurityError::MissingKey(slot),
        POS_SECURITY_NO_TRANSPORT_KEY => SecurityError::NoTransportKey,
        other => SecurityError::Storage(format!("security module {what} failed (status {other})")),
    }
}

fn check(status: pos_hal_status, slot: KeySlot, what: &str) -> Result<(), SecurityError> {
    if status == POS_HAL_OK {
        Ok(())
    } else {
        Err(err(status, slot, what))
    }
}

fn missing(what: &str) -> SecurityError {
    SecurityError::Storage(format!("security module callback {what} is not set"))
}

impl CSecurity {
    /// Check that every function is present (a NULL one is a configuration error, not a later failure).
    pub(crate) fn new(v: pos_security_module) -> Result<CSecurity, String> {
        let family = match v.key_family {
            POS_KEY_FAMILY_TDES => Some(KeyFamily::Tdes),
            POS_KEY_FAMILY_SM => Some(KeyFamily::Sm),
            _ => None,
        };
        let s = CSecurity {
            v,
            family: family.unwrap_or_default(),
        };
        let Some(family) = family else {
            return Err(format!(
                "security.key_family {} is neither POS_KEY_FAMILY_TDES nor POS_KEY_FAMILY_SM",
                s.v.key_family
            ));
        };
        let names = [
            (
                "begin_tmk_download",
                s.v.begin_tmk_download.is_some() || family == KeyFamily::Sm,
            ),
            (
                "begin_tmk_download_sm2",
                s.v.begin_tmk_download_sm2.is_some() || family == KeyFamily::Tdes,
            ),
            ("receive_tmk", s.v.receive_tmk.is_some()),
            ("activate_tmk", s.v.activate_tmk.is_some()),
            ("install_working_keys", s.v.install_working_keys.is_some()),
            ("has_key", s.v.has_key.is_some()),
            ("check_value", s.v.check_value.is_some()),
            ("pin_block", s.v.pin_block.is_some()),
            ("mac", s.v.mac.is_some()),
            ("encrypt_track_block", s.v.encrypt_track_block.is_some()),
            ("clear_working_keys", s.v.clear_working_keys.is_some()),
        ];
        match names.iter().find(|(_, set)| !set) {
            // `s` drops here: destroy runs, as for every failure of pos_terminal_new.
            Some((name, _)) => Err(format!("security.{name} is NULL")),
            None => Ok(s),
        }
    }
}

impl CSecurity {
    /// The transport the module wrote, checked.
    fn transport(out: &pos_tmk_transport) -> Result<TmkTransport, SecurityError> {
        if out.encrypted_key_len == 0 || out.encrypted_key_len > out.encrypted_key.len() {
            return Err(SecurityError::Storage(format!(
                "begin_tmk_download returned encrypted_key_len {}",
                out.encrypted_key_len
            )));
        }
        Ok(TmkTransport {
            encrypted_key: out.encrypted_key[..out.encrypted_key_len].to_vec(),
            check_value: out.check_value,
        })
    }
}

impl SecurityModule for CSecurity {
    fn key_family(&self) -> KeyFamily {
        self.family
    }

    fn begin_tmk_download(&mut self, host_key: &HostKey) -> Result<TmkTransport, SecurityError> {
        if host_key.family() != self.family {
            return Err(SecurityError::Family(self.family));
        }
        let mut out = Box::new(pos_tmk_transport {
            encrypted_key: [0; 512],
            encrypted_key_len: 0,
            check_value: [0; 4],
        });
        let status = match host_key {
            HostKey::Rsa(key) => {
                let f = self
                    .v
                    .begin_tmk_download
                    .ok_or_else(|| missing("begin_tmk_download"))?;
                let (m, e) = (key.modulus(), key.exponent());
                // SAFETY: application callback; slices and `out` valid for the call.
                unsafe {
                    f(
                        self.v.ctx,
                        m.as_ptr(),
                        m.len(),
                        e.as_ptr(),
                        e.len(),
                        &mut *out,
                    )
                }
            }
            HostKey::Sm2(key) => {
                let f = self
                    .v
                    .begin_tmk_download_sm2
                    .ok_or_else(|| missing("begin_tmk_download_sm2"))?;
                let point = key.to_uncompressed();
                // SAFETY: application callback; the 65 bytes and `out` valid for the call.
                unsafe { f(self.v.ctx, point.as_ptr(), point.len(), &mut *out) }
            }
        };
        check(status, KeySlot::Tmk, "begin_tmk_download")?;
        Self::transport(&out)
    }

    fn receive_tmk(
        &mut self,
        encrypted_tmk: &[u8],
        check_value: &[u8],
    ) -> Result<[u8; 4], SecurityError> {
        let f = self.v.receive_tmk.ok_or_else(|| missing("receive_tmk"))?;
        let mut cv = [0u8; 4];
        // SAFETY: as above; `cv` has the 4 bytes the contract promises.
        let status = unsafe {
            f(
                self.v.ctx,
                encrypted_tmk.as_ptr(),
                encrypted_tmk.len(),
                check_value.as_ptr(),
                check_value.len(),
                cv.as_mut_ptr(),
            )
        };
        check(status, KeySlot::Tmk, "receive_tmk")?;
        Ok(cv)
    }

    fn activate_tmk(&mut self) -> Result<(), SecurityError> {
        let f = self.v.activate_tmk.ok_or_else(|| missing("activate_tmk"))?;
        // SAFETY: application callback.
        check(unsafe { f(self.v.ctx) }, KeySlot::Tmk, "activate_tmk")
    }

    fn install_working_keys(
        &mut self,
        pik: &EncryptedKey,
        mak: &EncryptedKey,
        tdk: &EncryptedKey,
    ) -> Result<(), SecurityError> {
        let f = self
            .v
            .install_working_keys
            .ok_or_else(|| missing("install_working_keys"))?;
        let c = |k: &EncryptedKey| pos_encrypted_key {
            encrypted: k.encrypted.as_ptr(),
            encrypted_len: k.encrypted.len(),
            check_value: k.check_value,
        };
        let (p, m, t) = (c(pik), c(mak), c(tdk));
        // SAFETY: application callback; the structs and their buffers live for the call.
        let status = unsafe { f(self.v.ctx, &p, &m, &t) };
        // Which key failed is not reported through C; PIK is the first checked.
        check(status, KeySlot::Pik, "install_working_keys")
    }

    fn has_key(&self, slot: KeySlot) -> bool {
        match self.v.has_key {
            // SAFETY: application callback.
            Some(f) => unsafe { f(self.v.ctx, slot_c(slot)) },
            None => false,
        }
    }

    fn check_value(&self, slot: KeySlot) -> Option<[u8; 4]> {
        let f = self.v.check_value?;
        let mut cv = [0u8; 4];
        // SAFETY: application callback; 4 writable bytes.
        let status = unsafe { f(self.v.ctx, slot_c(slot), cv.as_mut_ptr()) };
        (status == POS_HAL_OK).then_some(cv)
    }

    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<Vec<u8>, SecurityError> {
        let f = self.v.pin_block.ok_or_else(|| missing("pin_block"))?;
        let pin_c = Zeroizing::new(cstring_secret(pin));
        let pan_c = Zeroizing::new(cstring_secret(pan));
        let mut out = [0u8; 16];
        // SAFETY: application callback; NUL-terminated strings and 16 writable bytes.
        let status = unsafe {
            f(
                self.v.ctx,
                pin_c.as_ptr().cast(),
                pan_c.as_ptr().cast(),
                out.as_mut_ptr(),
            )
        };
        check(status, KeySlot::Pik, "pin_block")?;
        Ok(out[..self.family.block_len()].to_vec())
    }

    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        let f = self.v.mac.ok_or_else(|| missing("mac"))?;
        let mut out = [0u8; 8];
        // SAFETY: application callback.
        let status = unsafe { f(self.v.ctx, data.as_ptr(), data.len(), out.as_mut_ptr()) };
        check(status, KeySlot::Mak, "mac")?;
        Ok(out)
    }

    fn encrypt_track_block(&mut self, block: &[u8]) -> Result<Vec<u8>, SecurityError> {
        let f = self
            .v
            .encrypt_track_block
            .ok_or_else(|| missing("encrypt_track_block"))?;
        let n = self.family.block_len();
        if block.len() != n {
            return Err(SecurityError::Family(self.family));
        }
        let mut out = Zeroizing::new([0u8; 16]);
        // SAFETY: application callback; one block of the family's size in, as many writable bytes out.
        let status = unsafe { f(self.v.ctx, block.as_ptr(), out.as_mut_ptr()) };
        check(status, KeySlot::Tdk, "encrypt_track_block")?;
        Ok(out[..n].to_vec())
    }

    fn clear_working_keys(&mut self) -> Result<(), SecurityError> {
        let f = self
            .v
            .clear_working_keys
            .ok_or_else(|| missing("clear_working_keys"))?;
        // SAFETY: application callback.
        check(unsafe { f(self.v.ctx) }, KeySlot::Pik, "clear_working_keys")
    }
}

/// NUL-terminated bytes of a secret string (cut at an interior NUL, which digits never contain).
fn cstring_secret(s: &str) -> Vec<u8> {
    let end = s.as_bytes().iter().position(|b| *b == 0).unwrap_or(s.len());
    CString::new(&s.as_bytes()[..end])
        .unwrap_or_default()
        .into_bytes_with_nul()
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn fail(
        _ctx: *mut c_void,
        _a: *const u8,
        _n: usize,
        _out: *mut u8,
    ) -> pos_hal_status {
        POS_SECURITY_MISSING_KEY
    }

    #[test]
    fn incomplete_vtable_is_refused_and_statuses_map() {
        let v = pos_security_module {
            ctx: std::ptr::null_mut(),
            begin_tmk_download: None,
            receive_tmk: None,
            activate_tmk: None,
            install_working_keys: None,
            has_key: None,
            check_value: None,
            pin_block: None,
            mac: Some(fail),
            encrypt_track_block: None,
            clear_working_keys: None,
            destroy: None,
            key_family: POS_KEY_FAMILY_TDES,
            begin_tmk_download_sm2: None,
        };
        assert_eq!(
            CSecurity::new(v).err().unwrap(),
            "security.begin_tmk_download is NULL"
        );
        // The SM family needs its own download callback; an unknown family number is refused.
        let sm = pos_security_module {
            key_family: POS_KEY_FAMILY_SM,
            ..v
        };
        assert_eq!(
            CSecurity::new(sm).err().unwrap(),
            "security.begin_tmk_download_sm2 is NULL"
        );
        let odd = pos_security_module { key_family: 7, ..v };
        assert!(CSecurity::new(odd).err().unwrap().contains("key_family 7"));
        let mut s = CSecurity {
            v,
            family: KeyFamily::Tdes,
        };
        assert_eq!(
            s.mac(b"data").unwrap_err(),
            SecurityError::MissingKey(KeySlot::Mak)
        );
        assert!(!s.has_key(KeySlot::Tmk));
        assert_eq!(s.check_value(KeySlot::Pik), None);
        assert_eq!(
            err(POS_SECURITY_KEY_CHECK_FAILED, KeySlot::Tmk, "x"),
            SecurityError::KeyCheck(KeySlot::Tmk)
        );
        assert!(matches!(
            err(3, KeySlot::Tmk, "x"),
            SecurityError::Storage(_)
        ));
    }
}
