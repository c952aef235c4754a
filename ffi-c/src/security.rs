//! A security module supplied by the application (a hardware PIN pad / secure element), as a C vtable
//! wrapped into the core's `SecurityModule` trait. Without it, the core's software module is used.
//!
//! Threading and ownership are those of the device callbacks (callbacks.rs): called on the thread that
//! runs the operation, `destroy` once when the terminal is freed. Keys never cross this interface in
//! clear: the module receives keys encrypted under the TMK (or the RSA transport key) and returns only
//! check values, PIN blocks and MACs.

use crate::callbacks::{pos_hal_status, POS_HAL_OK};
use possdk_core::crypto::rsa::HostPublicKey;
use possdk_core::security::{EncryptedKey, KeySlot, SecurityError, SecurityModule, TmkTransport};
use std::ffi::{c_char, c_void, CString};
use zeroize::Zeroizing;

/// Key slot numbers (`uint32_t`).
pub type pos_key_slot = u32;
pub const POS_KEY_TMK: pos_key_slot = 0;
pub const POS_KEY_PIK: pos_key_slot = 1;
pub const POS_KEY_MAK: pos_key_slot = 2;
pub const POS_KEY_TDK: pos_key_slot = 3;

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

/// Written by `begin_tmk_download`: RSA-PKCS#1 v1.5(host key, R) and the check value of R.
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

/// The security module vtable. Every function is required. Return `POS_HAL_OK`, one of the
/// `POS_SECURITY_*` values, or `POS_HAL_ERROR`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_security_module {
    pub ctx: *mut c_void,
    /// Generate a random transport key R, encrypt it to the host RSA key (big-endian modulus/exponent).
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
    /// Decrypt the TMK under R, verify its check value, keep it pending; write its check value.
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
    /// ISO 9564 format-0 PIN block under the PIK (8 bytes to `out`). `pin` and `pan` are secrets.
    pub pin_block: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            pin: *const c_char,
            pan: *const c_char,
            out: *mut u8,
        ) -> pos_hal_status,
    >,
    /// CUP-ECB MAC under the MAK: the 8 ASCII bytes of field 64 to `out`.
    pub mac: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            data: *const u8,
            data_len: usize,
            out: *mut u8,
        ) -> pos_hal_status,
    >,
    /// TDES-ECB(TDK, block) (8 bytes in, 8 bytes out).
    pub encrypt_track_block: Option<
        unsafe extern "C" fn(ctx: *mut c_void, block: *const u8, out: *mut u8) -> pos_hal_status,
    >,
    pub clear_working_keys: Option<unsafe extern "C" fn(ctx: *mut c_void) -> pos_hal_status>,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CSecurity {
    v: pos_security_module,
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
        let s = CSecurity { v };
        let names = [
            ("begin_tmk_download", s.v.begin_tmk_download.is_some()),
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

impl SecurityModule for CSecurity {
    fn begin_tmk_download(
        &mut self,
        host_key: &HostPublicKey,
    ) -> Result<TmkTransport, SecurityError> {
        let f = self
            .v
            .begin_tmk_download
            .ok_or_else(|| missing("begin_tmk_download"))?;
        let mut out = Box::new(pos_tmk_transport {
            encrypted_key: [0; 512],
            encrypted_key_len: 0,
            check_value: [0; 4],
        });
        let (m, e) = (host_key.modulus(), host_key.exponent());
        // SAFETY: application callback; slices and `out` valid for the call.
        let status = unsafe {
            f(
                self.v.ctx,
                m.as_ptr(),
                m.len(),
                e.as_ptr(),
                e.len(),
                &mut *out,
            )
        };
        check(status, KeySlot::Tmk, "begin_tmk_download")?;
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

    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<[u8; 8], SecurityError> {
        let f = self.v.pin_block.ok_or_else(|| missing("pin_block"))?;
        let pin_c = Zeroizing::new(cstring_secret(pin));
        let pan_c = Zeroizing::new(cstring_secret(pan));
        let mut out = [0u8; 8];
        // SAFETY: application callback; NUL-terminated strings and 8 writable bytes.
        let status = unsafe {
            f(
                self.v.ctx,
                pin_c.as_ptr().cast(),
                pan_c.as_ptr().cast(),
                out.as_mut_ptr(),
            )
        };
        check(status, KeySlot::Pik, "pin_block")?;
        Ok(out)
    }

    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        let f = self.v.mac.ok_or_else(|| missing("mac"))?;
        let mut out = [0u8; 8];
        // SAFETY: application callback.
        let status = unsafe { f(self.v.ctx, data.as_ptr(), data.len(), out.as_mut_ptr()) };
        check(status, KeySlot::Mak, "mac")?;
        Ok(out)
    }

    fn encrypt_track_block(&mut self, block: &[u8; 8]) -> Result<[u8; 8], SecurityError> {
        let f = self
            .v
            .encrypt_track_block
            .ok_or_else(|| missing("encrypt_track_block"))?;
        let mut out = [0u8; 8];
        // SAFETY: application callback; 8 bytes in, 8 writable bytes out.
        let status = unsafe { f(self.v.ctx, block.as_ptr(), out.as_mut_ptr()) };
        check(status, KeySlot::Tdk, "encrypt_track_block")?;
        Ok(out)
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
        };
        assert_eq!(
            CSecurity::new(v).err().unwrap(),
            "security.begin_tmk_download is NULL"
        );
        let mut s = CSecurity { v };
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
