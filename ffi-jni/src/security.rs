//! The app's `com.possdk.SecurityModule` (a PIN pad, secure element or keystore) as the core's
//! `SecurityModule` trait. Without one, the core uses its software module.
//!
//! The calls go through `CallbackBridge` like the device callbacks (callbacks.rs): on the thread that runs the
//! operation, with Java exceptions kept as the cause of the operation's error. Keys cross only as the trait
//! has them: encrypted under the RSA transport key or the TMK, with check values; what comes back is check
//! values, PIN blocks, MACs and encrypted track blocks. Every array crosses as a `byte[]`: the bridge wipes the
//! arrays it was handed when the app's method returns, and what the app returns is copied into zeroizing
//! memory here and the Java array overwritten.
//!
//! The module works in one key family (docs/PROTOCOL.md §11), read once from `SecurityModule.keyFamily` when the
//! terminal opens: TDES (RSA transport through `beginTmkDownload`, 8-byte PIN and track blocks) or SM (SM2
//! transport through `beginTmkDownload` with the 65-byte SM2 key, 16-byte PIN and track blocks, CUP-SM4 MAC).
//!
//! Key slots cross as the numbers of Kotlin's `KeySlot` (TMK 0, PIK 1, MAK 2, TDK 3, as in the C API). A
//! `SecurityModuleException` thrown by the app reports the failures the core acts on (a check value that does
//! not match, a missing key, no download in progress); any other exception is a `security` error.

use crate::callbacks::{byte_array, take_byte_array, Bridge, Failure, Step};
use jni::objects::{JObject, JThrowable};
use jni::{jni_sig, jni_str, Env, JValue};
use possdk_core::security::{
    EncryptedKey, HostKey, KeyFamily, KeySlot, SecurityError, SecurityModule, TmkTransport,
};
use zeroize::Zeroizing;

/// `KeySlot.number` on the Kotlin side.
const SLOTS: [(KeySlot, i32); 4] = [
    (KeySlot::Tmk, 0),
    (KeySlot::Pik, 1),
    (KeySlot::Mak, 2),
    (KeySlot::Tdk, 3),
];

fn slot_number(slot: KeySlot) -> i32 {
    SLOTS
        .iter()
        .find(|(s, _)| *s == slot)
        .map_or(0, |(_, n)| *n)
}

fn slot_of(number: i32) -> Option<KeySlot> {
    SLOTS.iter().find(|(_, n)| *n == number).map(|(s, _)| *s)
}

/// `KeyFamily.number` on the Kotlin side.
const FAMILIES: [(KeyFamily, i32); 2] = [(KeyFamily::Tdes, 0), (KeyFamily::Sm, 1)];

pub(crate) fn family_of(number: i32) -> Option<KeyFamily> {
    FAMILIES.iter().find(|(_, n)| *n == number).map(|(f, _)| *f)
}

/// `CallbackBridge.securityFailure(Throwable)`: `reason << 8 | slot` for a `SecurityModuleException`
/// (reason 1 key check failed, 2 missing key, 3 no transport key), 0 for any other exception.
const REASON_KEY_CHECK: i32 = 1;
const REASON_MISSING_KEY: i32 = 2;
const REASON_NO_TRANSPORT_KEY: i32 = 3;

fn security_failure(env: &mut Env, thrown: &JThrowable) -> i32 {
    let r = crate::convert::bridge_class().and_then(|class| {
        env.call_static_method(
            class,
            jni_str!("securityFailure"),
            jni_sig!("(Ljava/lang/Throwable;)I"),
            &[JValue::from(thrown)],
        )?
        .i()
    });
    r.unwrap_or_else(|_| {
        env.exception_clear();
        0
    })
}

/// The core's error for a failed security callback. `slot` is the one the operation was about, used when
/// the app's exception names none.
fn to_security_error(what: &str, slot: KeySlot, failure: Failure<i32>) -> SecurityError {
    match failure {
        Failure::Thrown(code, name) => {
            let named = slot_of(code & 0xFF).unwrap_or(slot);
            match code >> 8 {
                REASON_KEY_CHECK => SecurityError::KeyCheck(named),
                REASON_MISSING_KEY => SecurityError::MissingKey(named),
                REASON_NO_TRANSPORT_KEY => SecurityError::NoTransportKey,
                // Only the exception's class: its message is the app's text.
                _ => SecurityError::Storage(format!("security module: {what} threw {name}")),
            }
        }
        Failure::Jni(m) => SecurityError::Storage(m),
    }
}

/// Exactly `N` bytes of a returned array.
fn fixed<const N: usize>(
    what: &str,
    bytes: Option<Zeroizing<Vec<u8>>>,
) -> Result<[u8; N], SecurityError> {
    let bytes = bytes
        .ok_or_else(|| SecurityError::Storage(format!("security module: {what} returned null")))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        SecurityError::Storage(format!(
            "security module: {what} returned {} bytes, not {N}",
            bytes.len()
        ))
    })
}

/// The app's security module, in the key family it stated.
pub struct JavaSecurity {
    pub bridge: Bridge,
    pub family: KeyFamily,
}

/// Exactly one block of `family` (8 or 16 bytes) of a returned array.
fn block(
    what: &str,
    family: KeyFamily,
    bytes: Option<Zeroizing<Vec<u8>>>,
) -> Result<Vec<u8>, SecurityError> {
    let bytes = bytes
        .ok_or_else(|| SecurityError::Storage(format!("security module: {what} returned null")))?;
    if bytes.len() != family.block_len() {
        return Err(SecurityError::Storage(format!(
            "security module: {what} returned {} bytes, not the {} of the {family} key family",
            bytes.len(),
            family.block_len()
        )));
    }
    Ok(bytes.to_vec())
}

impl JavaSecurity {
    fn call<T>(
        &self,
        what: &'static str,
        slot: KeySlot,
        f: impl FnOnce(&mut Env, &JObject) -> Step<T>,
    ) -> Result<T, SecurityError> {
        self.bridge
            .invoke(what, true, f, security_failure)
            .map_err(|failure| to_security_error(what, slot, failure))
    }

    /// A method that takes byte arrays and returns one.
    fn bytes_call(
        &self,
        what: &'static str,
        slot: KeySlot,
        method: &'static jni::strings::JNIStr,
        sig: jni::signature::MethodSignature<'static, 'static>,
        args: &[&[u8]],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, SecurityError> {
        self.call(what, slot, |env, bridge| {
            let mut arrays = Vec::with_capacity(args.len());
            for a in args {
                arrays.push(byte_array(env, a)?);
            }
            let values: Vec<JValue> = arrays.iter().map(JValue::from).collect();
            let v = env.call_method(bridge, method, &sig, &values)?.l()?;
            for a in arrays {
                env.delete_local_ref(a);
            }
            take_byte_array(env, v)
        })
    }
}

impl SecurityModule for JavaSecurity {
    fn key_family(&self) -> KeyFamily {
        self.family
    }

    fn begin_tmk_download(&mut self, host_key: &HostKey) -> Result<TmkTransport, SecurityError> {
        let what = "SecurityModule.beginTmkDownload";
        if host_key.family() != self.family {
            return Err(SecurityError::Family(self.family));
        }
        // Answer: the transport key's 4-byte check value, then R under the host key (RSA or SM2).
        let answer = match host_key {
            HostKey::Rsa(key) => self.bytes_call(
                what,
                KeySlot::Tmk,
                jni_str!("beginTmkDownload"),
                jni_sig!("([B[B)[B"),
                &[key.modulus(), key.exponent()],
            )?,
            HostKey::Sm2(key) => self.bytes_call(
                what,
                KeySlot::Tmk,
                jni_str!("beginTmkDownloadSm2"),
                jni_sig!("([B)[B"),
                &[&key.to_uncompressed()[..]],
            )?,
        };
        let answer = answer.ok_or_else(|| {
            SecurityError::Storage(format!("security module: {what} returned null"))
        })?;
        match answer.split_first_chunk::<4>() {
            Some((cv, encrypted)) if !encrypted.is_empty() => Ok(TmkTransport {
                encrypted_key: encrypted.to_vec(),
                check_value: *cv,
            }),
            _ => Err(SecurityError::Storage(format!(
                "security module: {what} returned no encrypted key"
            ))),
        }
    }

    fn receive_tmk(
        &mut self,
        encrypted_tmk: &[u8],
        check_value: &[u8],
    ) -> Result<[u8; 4], SecurityError> {
        let what = "SecurityModule.receiveTmk";
        let cv = self.bytes_call(
            what,
            KeySlot::Tmk,
            jni_str!("receiveTmk"),
            jni_sig!("([B[B)[B"),
            &[encrypted_tmk, check_value],
        )?;
        fixed(what, cv)
    }

    fn activate_tmk(&mut self) -> Result<(), SecurityError> {
        self.call("SecurityModule.activateTmk", KeySlot::Tmk, |env, bridge| {
            env.call_method(bridge, jni_str!("activateTmk"), jni_sig!("()V"), &[])?
                .v()
        })
    }

    fn install_working_keys(
        &mut self,
        pik: &EncryptedKey,
        mak: &EncryptedKey,
        tdk: &EncryptedKey,
    ) -> Result<(), SecurityError> {
        self.call(
            "SecurityModule.installWorkingKeys",
            KeySlot::Pik,
            |env, bridge| {
                let mut arrays = Vec::with_capacity(6);
                for k in [pik, mak, tdk] {
                    arrays.push(byte_array(env, &k.encrypted)?);
                    arrays.push(byte_array(env, &k.check_value)?);
                }
                let values: Vec<JValue> = arrays.iter().map(JValue::from).collect();
                env.call_method(
                    bridge,
                    jni_str!("installWorkingKeys"),
                    jni_sig!("([B[B[B[B[B[B)V"),
                    &values,
                )?
                .v()?;
                for a in arrays {
                    env.delete_local_ref(a);
                }
                Ok(())
            },
        )
    }

    fn has_key(&self, slot: KeySlot) -> bool {
        let r = self.call("SecurityModule.hasKey", slot, |env, bridge| {
            env.call_method(
                bridge,
                jni_str!("hasKey"),
                jni_sig!("(I)Z"),
                &[JValue::Int(slot_number(slot))],
            )?
            .z()
        });
        r.unwrap_or_else(|e| {
            log::warn!("SecurityModule.hasKey failed: {e}");
            false
        })
    }

    fn check_value(&self, slot: KeySlot) -> Option<[u8; 4]> {
        let what = "SecurityModule.checkValue";
        let r = self.call(what, slot, |env, bridge| {
            let v = env
                .call_method(
                    bridge,
                    jni_str!("checkValue"),
                    jni_sig!("(I)[B"),
                    &[JValue::Int(slot_number(slot))],
                )?
                .l()?;
            take_byte_array(env, v)
        });
        match r {
            // null: no key in the slot.
            Ok(None) => None,
            Ok(cv) => fixed(what, cv).map_err(|e| log::warn!("{e}")).ok(),
            Err(e) => {
                log::warn!("{what} failed: {e}");
                None
            }
        }
    }

    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<Vec<u8>, SecurityError> {
        let what = "SecurityModule.pinBlock";
        let out = self.call(what, KeySlot::Pik, |env, bridge| {
            // The bridge wipes the PIN array (and its char copy) when the app's method returns.
            let pin = byte_array(env, pin.as_bytes())?;
            let pan = env.new_string(pan)?;
            let v = env
                .call_method(
                    bridge,
                    jni_str!("pinBlock"),
                    jni_sig!("([BLjava/lang/String;)[B"),
                    &[JValue::from(&pin), JValue::from(&pan)],
                )?
                .l()?;
            take_byte_array(env, v)
        })?;
        block(what, self.family, out)
    }

    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        let what = "SecurityModule.mac";
        let mac = self.bytes_call(
            what,
            KeySlot::Mak,
            jni_str!("mac"),
            jni_sig!("([B)[B"),
            &[data],
        )?;
        fixed(what, mac)
    }

    fn encrypt_track_block(&mut self, data: &[u8]) -> Result<Vec<u8>, SecurityError> {
        let what = "SecurityModule.encryptTrackBlock";
        if data.len() != self.family.block_len() {
            return Err(SecurityError::Family(self.family));
        }
        let out = self.bytes_call(
            what,
            KeySlot::Tdk,
            jni_str!("encryptTrackBlock"),
            jni_sig!("([B)[B"),
            &[data],
        )?;
        block(what, self.family, out)
    }

    fn clear_working_keys(&mut self) -> Result<(), SecurityError> {
        self.call(
            "SecurityModule.clearWorkingKeys",
            KeySlot::Pik,
            |env, bridge| {
                env.call_method(bridge, jni_str!("clearWorkingKeys"), jni_sig!("()V"), &[])?
                    .v()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_core_errors() {
        let t = |code| Failure::Thrown(code, "x.Y".to_string());
        assert_eq!(
            to_security_error("m", KeySlot::Pik, t(REASON_KEY_CHECK << 8 | 2)),
            SecurityError::KeyCheck(KeySlot::Mak)
        );
        assert_eq!(
            to_security_error("m", KeySlot::Mak, t(REASON_MISSING_KEY << 8 | 0xFF)),
            SecurityError::MissingKey(KeySlot::Mak),
            "an unknown slot number falls back to the operation's slot"
        );
        assert_eq!(
            to_security_error("m", KeySlot::Tmk, t(REASON_NO_TRANSPORT_KEY << 8)),
            SecurityError::NoTransportKey
        );
        match to_security_error("SecurityModule.mac", KeySlot::Mak, t(0)) {
            SecurityError::Storage(m) => assert!(m.contains("SecurityModule.mac threw x.Y"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fixed::<4>("m", Some(Zeroizing::new(vec![1, 2, 3]))),
            Err(SecurityError::Storage(_))
        ));
        assert_eq!(
            fixed::<4>("m", Some(Zeroizing::new(vec![1, 2, 3, 4]))).ok(),
            Some([1, 2, 3, 4])
        );
        assert!(fixed::<4>("m", None).is_err());
    }

    /// The slot numbers here are those of Kotlin's `KeySlot` enum.
    #[test]
    fn slot_numbers_match_kotlin() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../android-demo/possdk/src/main/kotlin/com/possdk/Security.kt");
        let src = std::fs::read_to_string(&path).expect("Security.kt");
        for (slot, n) in SLOTS {
            let name = format!("{slot:?}").to_uppercase();
            assert!(
                src.contains(&format!("{name}({n})")),
                "Security.kt: KeySlot.{name} must be number {n}"
            );
            assert_eq!(slot_of(n), Some(slot));
            assert_eq!(slot_number(slot), n);
        }
        for (family, n) in FAMILIES {
            let name = format!("{family:?}").to_uppercase();
            assert!(
                src.contains(&format!("{name}({n}")),
                "Security.kt: KeyFamily.{name} must be number {n}"
            );
            assert_eq!(family_of(n), Some(family));
        }
        assert_eq!(family_of(2), None);
        assert!(matches!(
            block("m", KeyFamily::Sm, Some(Zeroizing::new(vec![0; 8]))),
            Err(SecurityError::Storage(_))
        ));
        assert_eq!(
            block("m", KeyFamily::Sm, Some(Zeroizing::new(vec![0; 16]))).ok(),
            Some(vec![0; 16])
        );
        for (reason, n) in [
            ("KEY_CHECK_FAILED", REASON_KEY_CHECK),
            ("MISSING_KEY", REASON_MISSING_KEY),
            ("NO_TRANSPORT_KEY", REASON_NO_TRANSPORT_KEY),
        ] {
            assert!(
                src.contains(&format!("{reason}({n})")),
                "Security.kt: SecurityModuleException.Reason.{reason} must be number {n}"
            );
        }
    }
}
