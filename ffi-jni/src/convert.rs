//! Errors across the boundary: core `Error` -> `PosException` (by kind, never by string), panics -> an
//! `internal` `PosException`, and the Java exception a callback threw carried back as the `cause`.

use jni::objects::{JClass, JObject, JString, JThrowable};
use jni::refs::Global;
use jni::{jni_sig, jni_str, Env, JValue};
use possdk_core::Error;
use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;

/// `com.possdk.internal.CallbackBridge`, resolved in `JNI_OnLoad` with the app's class loader (the loader of
/// the class that called `System.loadLibrary`), so lookups work on any thread later.
static BRIDGE_CLASS: OnceLock<Global<JClass<'static>>> = OnceLock::new();

pub fn cache_bridge_class(env: &mut Env) -> jni::errors::Result<()> {
    if BRIDGE_CLASS.get().is_some() {
        return Ok(());
    }
    let class = env.find_class(jni_str!("com/possdk/internal/CallbackBridge"))?;
    let global = env.new_global_ref(&class)?;
    let _ = BRIDGE_CLASS.set(global);
    Ok(())
}

pub fn bridge_class() -> jni::errors::Result<&'static Global<JClass<'static>>> {
    BRIDGE_CLASS
        .get()
        .ok_or(jni::errors::Error::UninitializedJavaVM)
}

thread_local! {
    /// The first Java exception a callback threw during the current operation on this thread.
    static THROWN: RefCell<Option<Global<JThrowable<'static>>>> = const { RefCell::new(None) };
}

/// Keep the exception a callback threw (the first one of the operation: the root cause).
pub fn remember_thrown(thrown: Global<JThrowable<'static>>) {
    THROWN.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            *t = Some(thrown);
        }
    });
}

/// Take the remembered exception (and so clear the slot).
pub fn take_thrown() -> Option<Global<JThrowable<'static>>> {
    THROWN.with(|t| t.borrow_mut().take())
}

/// What a native entry can fail with.
pub enum BridgeError {
    /// A core error: thrown as the matching `PosException` subclass.
    Pos(Error),
    /// A JNI failure. `JavaException` means an exception is already pending and goes to Java as it is.
    Jni(jni::errors::Error),
}

impl From<Error> for BridgeError {
    fn from(e: Error) -> Self {
        BridgeError::Pos(e)
    }
}

impl From<jni::errors::Error> for BridgeError {
    fn from(e: jni::errors::Error) -> Self {
        BridgeError::Jni(e)
    }
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Pos(e) => write!(f, "{e}"),
            BridgeError::Jni(e) => write!(f, "JNI failure: {e}"),
        }
    }
}

impl fmt::Debug for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Throw `error` as a `PosException` (via `CallbackBridge.newException`, which picks the subclass from the
/// code). Falls back to `IllegalStateException` if even that fails.
pub fn throw_pos(env: &mut Env, error: &Error, cause: Option<Global<JThrowable<'static>>>) {
    let r = (|| -> jni::errors::Result<JThrowable<'_>> {
        let class = bridge_class()?;
        let code = env.new_string(error.kind.code())?;
        let message = env.new_string(&error.message)?;
        let field = match &error.field {
            Some(f) => env.new_string(f)?,
            None => JString::null(),
        };
        let outcome = match error.outcome {
            Some(o) => env.new_string(o.as_str())?,
            None => JString::null(),
        };
        let null = JObject::null();
        let cause_ref: &JObject = match &cause {
            Some(c) => c,
            None => &null,
        };
        let ex = env
            .call_static_method(
                class,
                jni_str!("newException"),
                jni_sig!("(Ljava/lang/String;ILjava/lang/String;Ljava/lang/String;Ljava/lang/Throwable;Ljava/lang/String;J)Ljava/lang/Throwable;"),
                &[
                    JValue::from(&code),
                    JValue::Int(error.kind.number()),
                    JValue::from(&message),
                    JValue::from(&field),
                    JValue::Object(cause_ref),
                    JValue::from(&outcome),
                    JValue::Long(error.stan.map_or(-1, i64::from)),
                ],
            )?
            .l()?;
        env.cast_local::<JThrowable>(ex)
    })();
    match r {
        Ok(ex) => {
            // `throw` reports the now-pending exception as Err(JavaException): that is the point.
            let _ = env.throw(ex);
        }
        Err(e) => {
            env.exception_clear();
            log::error!("could not build a PosException ({e}); throwing IllegalStateException");
            let _ = env.throw_new(
                jni_str!("java/lang/IllegalStateException"),
                jni::strings::JNIString::from(error.to_string()),
            );
        }
    }
}

/// Error policy of every native entry: errors and panics become `PosException`s, never an abort.
pub struct ThrowPos;

impl<T: Default> jni::errors::ErrorPolicy<T, BridgeError> for ThrowPos {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        err: BridgeError,
    ) -> jni::errors::Result<T> {
        match err {
            BridgeError::Pos(e) => {
                let cause = take_thrown();
                if env.exception_check() {
                    // Should not happen (callbacks clear what they catch); keep the Java exception's word.
                    return Ok(T::default());
                }
                throw_pos(env, &e, cause);
            }
            BridgeError::Jni(e) => {
                drop(take_thrown());
                if !env.exception_check() {
                    throw_pos(env, &Error::internal(format!("JNI failure: {e}")), None);
                }
            }
        }
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut Self::Captures<'unowned_env_local, 'native_method>,
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        // Only a literal panic message is shown: a formatted one could carry data we must not leak.
        let what = payload
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("see the log");
        log::error!("panic in possdk native code: {what}");
        // Dropping an arbitrary payload could itself panic: leak it instead.
        std::mem::forget(payload);
        let cause = take_thrown();
        env.exception_clear();
        throw_pos(
            env,
            &Error::internal(format!("internal error in native code (panic: {what})")),
            cause,
        );
        Ok(T::default())
    }
}
