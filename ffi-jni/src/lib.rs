//! possdk JNI bridge: the terminal for Android (and any JVM).
//!
//! Thin: natives on `com.possdk.internal.NativeBridge` convert, call `possdk-core`, and map errors. Requests
//! and results cross as JSON (the `core::api` model, JSON-API.md); the Kotlin `PosTerminal` turns them into
//! data classes. Device callbacks reach the app through `CallbackBridge` (see `callbacks`), and so does the
//! app's security module (see `security`). Every entry runs under `EnvUnowned::with_env`, which catches
//! panics; errors and panics become `PosException`s.

mod callbacks;
mod convert;
mod handle;
mod security;

use callbacks::{
    Bridge, JavaCardReader, JavaDeviceInfo, JavaEvents, JavaPinPad, JavaPrinter, JavaQrDisplay,
    JavaQrScanner, JavaSignaturePad,
};
use convert::{BridgeError, ThrowPos};
use jni::objects::{JClass, JObject, JString};
use jni::sys::{jboolean, jint, jlong, JNI_ERR, JNI_VERSION_1_6};
use jni::{jni_sig, jni_str, EnvUnowned, JavaVM};
use possdk_core::api::Request;
use possdk_core::hal::Hal;
use possdk_core::security::SecurityModule;
use possdk_core::{Config, Error, Terminal};
use std::ffi::c_void;
use zeroize::Zeroizing;

/// Cache the JavaVM and the bridge class (with the app's class loader: this runs on the thread that called
/// `System.loadLibrary`, inside the app's loader).
///
/// # Safety
/// Called by the JVM with a valid `JavaVM` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn JNI_OnLoad(
    vm: *mut jni::sys::JavaVM,
    _reserved: *mut c_void,
) -> jint {
    let r = std::panic::catch_unwind(|| {
        #[cfg(target_os = "android")]
        android_logger::init_once(
            android_logger::Config::default()
                .with_max_level(log::LevelFilter::Info)
                .with_tag("possdk"),
        );
        if vm.is_null() {
            return JNI_ERR;
        }
        // SAFETY: the JVM hands JNI_OnLoad a valid VM pointer.
        let vm = unsafe { JavaVM::from_raw(vm) };
        match vm.attach_current_thread(convert::cache_bridge_class) {
            Ok(()) => JNI_VERSION_1_6,
            Err(e) => {
                log::error!("possdk_jni: cannot resolve com.possdk.internal.CallbackBridge: {e}");
                JNI_ERR
            }
        }
    });
    r.unwrap_or(JNI_ERR)
}

/// The app's callbacks as the core's HAL, and its security module when it gave one.
type AppDevices = (Hal, Option<Box<dyn SecurityModule>>);

fn build_hal(env: &mut jni::Env, bridge: &JObject) -> Result<AppDevices, BridgeError> {
    let flags = env
        .call_method(bridge, jni_str!("flags"), jni_sig!("()I"), &[])?
        .i()?;
    // The security module's key family (Kotlin `KeyFamily.number`), asked once.
    let family = if flags & callbacks::HAS_SECURITY_MODULE != 0 {
        let n = env
            .call_method(bridge, jni_str!("keyFamily"), jni_sig!("()I"), &[])?
            .i()?;
        Some(security::family_of(n).ok_or_else(|| {
            Error::invalid(
                "security.key_family",
                format!("SecurityModule.keyFamily number {n} is neither TDES (0) nor SM (1)"),
            )
        })?)
    } else {
        None
    };
    let global = env.new_global_ref(bridge)?;
    let bridge = Bridge::new(global);
    let mut hal = Hal::default();
    if flags & callbacks::HAS_CARD_READER != 0 {
        hal.card_reader = Some(Box::new(JavaCardReader(bridge.clone())));
    }
    if flags & callbacks::HAS_PIN_PAD != 0 {
        hal.pin_pad = Some(Box::new(JavaPinPad(bridge.clone())));
    }
    if flags & callbacks::HAS_QR_SCANNER != 0 {
        hal.qr_scanner = Some(Box::new(JavaQrScanner(bridge.clone())));
    }
    if flags & callbacks::HAS_QR_DISPLAY != 0 {
        hal.qr_display = Some(Box::new(JavaQrDisplay(bridge.clone())));
    }
    if flags & callbacks::HAS_EVENTS != 0 {
        hal.events = Some(Box::new(JavaEvents(bridge.clone())));
    }
    if flags & callbacks::HAS_DEVICE_INFO != 0 {
        hal.device = Some(Box::new(JavaDeviceInfo(bridge.clone())));
    }
    if flags & callbacks::HAS_PRINTER != 0 {
        hal.printer = Some(Box::new(JavaPrinter(bridge.clone())));
    }
    if flags & callbacks::HAS_SIGNATURE_PAD != 0 {
        hal.signature_pad = Some(Box::new(JavaSignaturePad(bridge.clone())));
    }
    let security: Option<Box<dyn SecurityModule>> = match family {
        Some(family) => Some(Box::new(security::JavaSecurity { bridge, family })),
        None => None,
    };
    Ok((hal, security))
}

fn required_string(env: &jni::Env, s: &JString, field: &str) -> Result<String, BridgeError> {
    if s.is_null() {
        return Err(Error::invalid(field, format!("{field} is null")).into());
    }
    Ok(s.try_to_string(env)?)
}

/// `long create(String configJson, CallbackBridge bridge)`: a new terminal handle (never 0).
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_possdk_internal_NativeBridge_create<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    config_json: JString<'l>,
    bridge: JObject<'l>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong, BridgeError> {
            // The config may carry the seal key.
            let json = Zeroizing::new(required_string(env, &config_json, "config")?);
            let config = Config::from_json(&json)?;
            // A DeviceInfo or SecurityModule that throws while the terminal opens is this call's cause.
            drop(convert::take_thrown());
            let (hal, security) = if bridge.is_null() {
                (Hal::default(), None)
            } else {
                build_hal(env, &bridge)?
            };
            let terminal = match security {
                Some(security) => Terminal::with_security(config, hal, security)?,
                None => Terminal::new(config, hal)?,
            };
            drop(convert::take_thrown());
            let handle = handle::TERMINALS.register(terminal);
            log::info!("terminal opened ({} live)", handle::TERMINALS.len());
            Ok(handle)
        })
        .resolve::<ThrowPos>()
}

/// `String call(long handle, String requestJson)`: the result JSON of one operation, or a `PosException`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_possdk_internal_NativeBridge_call<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    request_json: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<JString<'l>, BridgeError> {
            drop(convert::take_thrown());
            // Inline card data (PAN, track, PIN) may be in the request: wipe our copy after parsing.
            let json = Zeroizing::new(required_string(env, &request_json, "request")?);
            let guard = handle::TERMINALS.enter(handle)?;
            let request = Request::from_json(&json)?;
            let result = guard.value().execute(request);
            drop(guard);
            let value = result?;
            // Success: a callback may still have thrown something the core recovered from.
            drop(convert::take_thrown());
            Ok(env.new_string(value.to_json())?)
        })
        .resolve::<ThrowPos>()
}

/// `void cancel(long handle)`: from any thread; a no-op for a closed handle.
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_possdk_internal_NativeBridge_cancel<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    unowned
        .with_env(|_env| -> Result<(), BridgeError> {
            handle::TERMINALS.cancel(handle);
            Ok(())
        })
        .resolve::<ThrowPos>()
}

/// `boolean close(long handle)`: true when this call closed the terminal, false when it was already closed.
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_possdk_internal_NativeBridge_close<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jboolean {
    unowned
        .with_env(|_env| -> Result<jboolean, BridgeError> {
            let closed = handle::TERMINALS.close(handle);
            if closed != handle::CloseOutcome::WasClosed {
                log::info!(
                    "terminal closed ({:?}, {} live)",
                    closed,
                    handle::TERMINALS.len()
                );
            }
            Ok(closed != handle::CloseOutcome::WasClosed)
        })
        .resolve::<ThrowPos>()
}

/// `String version()`: the SDK version.
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_possdk_internal_NativeBridge_version<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<JString<'l>, BridgeError> {
            Ok(env.new_string(possdk_core::SDK_VERSION)?)
        })
        .resolve::<ThrowPos>()
}

/// `int liveTerminals()`: how many terminals are open (leak checks in tests).
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_possdk_internal_NativeBridge_liveTerminals<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> jint {
    unowned
        .with_env(|_env| -> Result<jint, BridgeError> {
            Ok(jint::try_from(handle::TERMINALS.len()).unwrap_or(jint::MAX))
        })
        .resolve::<ThrowPos>()
}
