//! Java/Kotlin objects -> HAL traits.
//!
//! Every device callback goes through one Kotlin object, `com.possdk.internal.CallbackBridge`, which wraps
//! the app's `CardReader` / `PinPad` / `QrScanner` / `EventListener` / `DeviceInfo` / `SecurityModule` and
//! speaks only in strings, longs and byte arrays, so this side never constructs app classes and the
//! signatures below (and in `security`) are the whole contract (kept by the consumer R8 rules). A Java
//! exception thrown by the app's callback is caught here, classified by the bridge (cancelled / timeout /
//! device, or the security module's own failures), kept for the calling thread so the native entry can attach
//! it as the `cause` of the `PosException` it throws, and returned to the core as a `HalError` (or
//! `SecurityError`).
//!
//! Threading: the core runs callbacks on the thread that called the operation, which is a Java thread inside
//! a native method, so `attach_current_thread` is a no-op attach that only pushes a local frame (every local
//! reference made in a callback is freed when it returns; loops free their element references as they go).

use crate::convert;
use jni::objects::{JByteArray, JIntArray, JObject, JObjectArray, JString, JThrowable};
use jni::refs::Global;
use jni::{jni_sig, jni_str, Env, JValue, JavaVM};
use possdk_core::hal::{
    AidParams, Capk, CardData, CardReader, CardRequest, ChipCompletion, ChipOutcome, DeviceInfo,
    EntryMode, Event, EventSink, HalError, PinEntry, PinPad, PinRequest, QrDisplay, QrRequest,
    QrScanner, QrShow,
};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// Bits of `CallbackBridge.flags()`: which app callbacks exist.
pub const HAS_CARD_READER: i32 = 1;
pub const HAS_PIN_PAD: i32 = 2;
pub const HAS_QR_SCANNER: i32 = 4;
pub const HAS_EVENTS: i32 = 8;
pub const HAS_SECURITY_MODULE: i32 = 16;
pub const HAS_DEVICE_INFO: i32 = 32;
pub const HAS_QR_DISPLAY: i32 = 64;
pub const HAS_PRINTER: i32 = 128;
pub const HAS_SIGNATURE_PAD: i32 = 256;

/// `classify(Throwable)` answers.
const THROWN_CANCELLED: i32 = 1;
const THROWN_TIMEOUT: i32 = 2;

/// The Kotlin `CallbackBridge` instance, shared by the adapters of one terminal.
#[derive(Clone)]
pub struct Bridge {
    obj: Arc<Global<JObject<'static>>>,
}

/// What a JNI step inside a callback produced: a JNI failure (pending Java exception included) or a value.
pub type Step<T> = Result<T, jni::errors::Error>;

/// Why a callback failed.
pub enum Failure<C> {
    /// The app's code threw: what the classifier made of the exception, and the exception's class name.
    Thrown(C, String),
    /// JNI itself failed (the text names the callback).
    Jni(String),
}

impl Bridge {
    pub fn new(obj: Global<JObject<'static>>) -> Self {
        Bridge { obj: Arc::new(obj) }
    }

    /// Run `f` with an attached env and the bridge object; map a thrown Java exception to a `HalError` and
    /// keep it as the cause for the operation's error.
    fn call<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut Env, &JObject) -> Step<T>,
    ) -> Result<T, HalError> {
        self.call_with(what, true, f)
    }

    fn call_with<T>(
        &self,
        what: &'static str,
        remember: bool,
        f: impl FnOnce(&mut Env, &JObject) -> Step<T>,
    ) -> Result<T, HalError> {
        self.invoke(what, remember, f, classify)
            .map_err(|failure| match failure {
                Failure::Thrown(THROWN_CANCELLED, _) => HalError::Cancelled,
                Failure::Thrown(THROWN_TIMEOUT, _) => HalError::Timeout,
                // The exception's message is the app's text and may hold card data: only its class goes in.
                Failure::Thrown(_, name) => HalError::Device(format!("{what} threw {name}")),
                Failure::Jni(m) => HalError::Device(m),
            })
    }

    /// Run `f` with an attached env and the bridge object. A Java exception it left pending is cleared,
    /// classified by `classify`, and (with `remember`) kept as the cause for the operation's error.
    pub fn invoke<T, C>(
        &self,
        what: &'static str,
        remember: bool,
        f: impl FnOnce(&mut Env, &JObject) -> Step<T>,
        classify: impl FnOnce(&mut Env, &JThrowable) -> C,
    ) -> Result<T, Failure<C>> {
        let vm =
            JavaVM::singleton().map_err(|e| Failure::Jni(format!("{what}: no Java VM ({e})")))?;
        let out = vm.attach_current_thread(|env| -> Step<Result<T, Failure<C>>> {
            match f(env, &self.obj) {
                Ok(v) => Ok(Ok(v)),
                // A JNI failure that left an exception behind still must not leak into the next call.
                Err(e)
                    if matches!(e, jni::errors::Error::JavaException) || env.exception_check() =>
                {
                    Ok(Err(take_exception(env, what, remember, classify)))
                }
                Err(e) => Ok(Err(Failure::Jni(format!("{what}: JNI failure: {e}")))),
            }
        });
        match out {
            Ok(r) => r,
            Err(e) => Err(Failure::Jni(format!("{what}: JNI failure: {e}"))),
        }
    }
}

/// Clear the pending exception, remember it for the native entry, and classify it.
fn take_exception<C>(
    env: &mut Env,
    what: &'static str,
    remember: bool,
    classify: impl FnOnce(&mut Env, &JThrowable) -> C,
) -> Failure<C> {
    let Some(thrown) = env.exception_occurred() else {
        return Failure::Jni(format!("{what} failed"));
    };
    env.exception_clear();
    let kind = classify(env, &thrown);
    let name = describe(env, &thrown);
    if remember {
        match env.new_global_ref(&thrown) {
            Ok(global) => convert::remember_thrown(global),
            Err(e) => log::warn!("{what}: could not keep the thrown exception: {e}"),
        }
    }
    log::info!("{what} threw {name}");
    Failure::Thrown(kind, name)
}

fn classify(env: &mut Env, thrown: &JThrowable) -> i32 {
    let r = convert::bridge_class().and_then(|class| {
        env.call_static_method(
            class,
            jni_str!("classify"),
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

fn describe(env: &mut Env, thrown: &JThrowable) -> String {
    let r = convert::bridge_class().and_then(|class| {
        let v = env
            .call_static_method(
                class,
                jni_str!("describe"),
                jni_sig!("(Ljava/lang/Throwable;)Ljava/lang/String;"),
                &[JValue::from(thrown)],
            )?
            .l()?;
        let s = env.cast_local::<JString>(v)?;
        s.try_to_string(env)
    });
    r.unwrap_or_else(|_| {
        env.exception_clear();
        "an exception".to_string()
    })
}

fn opt_amount(amount: Option<u64>) -> i64 {
    amount.and_then(|a| i64::try_from(a).ok()).unwrap_or(-1)
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A nullable Java String to Rust.
pub fn opt_string(env: &mut Env, obj: JObject) -> Step<Option<String>> {
    if obj.is_null() {
        return Ok(None);
    }
    let s = env.cast_local::<JString>(obj)?;
    let r = s.try_to_string(env)?;
    env.delete_local_ref(s);
    Ok(Some(r))
}

pub fn byte_array<'l>(env: &mut Env<'l>, bytes: &[u8]) -> Step<JByteArray<'l>> {
    env.byte_array_from_slice(bytes)
}

/// A returned `byte[]` (or null) copied into zeroizing memory; the Java array is then overwritten with zeros
/// (the bridge hands the native side arrays of its own, so this wipes no app state).
pub fn take_byte_array(env: &mut Env, obj: JObject) -> Step<Option<Zeroizing<Vec<u8>>>> {
    if obj.is_null() {
        return Ok(None);
    }
    let arr = env.cast_local::<JByteArray>(obj)?;
    let bytes = Zeroizing::new(env.convert_byte_array(&arr)?);
    let zeros = vec![0i8; bytes.len()];
    arr.set_region(env, 0, &zeros)?;
    env.delete_local_ref(arr);
    Ok(Some(bytes))
}

/// `byte[][]` from slices, freeing each element reference as it goes.
fn byte_arrays<'l, 'a>(
    env: &mut Env<'l>,
    items: impl ExactSizeIterator<Item = &'a [u8]>,
) -> Step<JObjectArray<'l, JByteArray<'l>>> {
    let arr = JObjectArray::<JByteArray>::new(env, items.len(), JByteArray::null())?;
    for (i, item) in items.enumerate() {
        let el = env.byte_array_from_slice(item)?;
        arr.set_element(env, i, &el)?;
        env.delete_local_ref(el);
    }
    Ok(arr)
}

fn string_array<'l, 'a>(
    env: &mut Env<'l>,
    items: impl ExactSizeIterator<Item = &'a str>,
) -> Step<JObjectArray<'l, JString<'l>>> {
    let arr = JObjectArray::<JString>::new(env, items.len(), JString::null())?;
    for (i, item) in items.enumerate() {
        let el = env.new_string(item)?;
        arr.set_element(env, i, &el)?;
        env.delete_local_ref(el);
    }
    Ok(arr)
}

fn entry_from_name(name: &str) -> Result<EntryMode, HalError> {
    Ok(match name {
        "manual" => EntryMode::Manual,
        "swipe" => EntryMode::Swipe,
        "chip" => EntryMode::Chip,
        "contactless" => EntryMode::Contactless,
        "fallback" => EntryMode::Fallback,
        _ => {
            return Err(HalError::Device(
                "CardReader returned an unknown entry mode".into(),
            ))
        }
    })
}

fn hex_decode(field: &str, s: &str) -> Result<Vec<u8>, HalError> {
    if !s.len().is_multiple_of(2) {
        return Err(HalError::Device(format!(
            "CardReader returned odd-length hex in {field}"
        )));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| HalError::Device(format!("CardReader returned bad hex in {field}")))
        })
        .collect()
}

/// Decode `getPin`'s answer, tagged with the one PIN-entry numbering (`hal::PinEntry::{CLEAR, BLOCK,
/// BYPASS}`): `[CLEAR] + ASCII digits`, `[BLOCK] + 8-byte block`, `[BYPASS]`.
fn pin_entry(bytes: &[u8]) -> Result<PinEntry, HalError> {
    match bytes.split_first() {
        Some((&PinEntry::BYPASS, [])) => Ok(PinEntry::Bypass),
        Some((&PinEntry::BLOCK, block)) => {
            let block: [u8; 8] = block.try_into().map_err(|_| {
                HalError::Device("PinPad.getPin returned a PIN block that is not 8 bytes".into())
            })?;
            Ok(PinEntry::Block(block))
        }
        Some((&PinEntry::CLEAR, digits)) => {
            let mut pin = Zeroizing::new(String::with_capacity(digits.len()));
            for &d in digits {
                if !d.is_ascii_digit() {
                    pin.zeroize();
                    return Err(HalError::Device(
                        "PinPad.getPin returned a PIN with a non-digit".into(),
                    ));
                }
                pin.push(char::from(d));
            }
            Ok(PinEntry::Clear(pin))
        }
        _ => Err(HalError::Device(
            "PinPad.getPin returned an unknown answer".into(),
        )),
    }
}

/// Decode `completeChip`'s answer: `[approved 1/0] + script results`.
fn chip_outcome(answer: &[u8]) -> Result<ChipOutcome, HalError> {
    match answer.split_first() {
        Some((&flag @ (0 | 1), scripts)) => Ok(ChipOutcome {
            approved: flag == 1,
            script_results: (!scripts.is_empty()).then(|| scripts.to_vec()),
        }),
        Some(_) => Err(HalError::Device(
            "CardReader.completeChip returned an unknown flag".into(),
        )),
        None => Err(HalError::Device(
            "CardReader.completeChip returned an empty answer".into(),
        )),
    }
}

/// The app's card reader.
pub struct JavaCardReader(pub Bridge);

/// Positions in `readCard`'s `String[]` answer.
const CARD_FIELDS: usize = 7;

impl CardReader for JavaCardReader {
    fn read_card(&mut self, request: &CardRequest) -> Result<CardData, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let fields = self.0.call("CardReader.readCard", |env, bridge| {
            let transaction = env.new_string(request.transaction)?;
            let v = env
                .call_method(
                    bridge,
                    jni_str!("readCard"),
                    jni_sig!("(Ljava/lang/String;JZZZJ)[Ljava/lang/String;"),
                    &[
                        JValue::from(&transaction),
                        JValue::Long(opt_amount(request.amount)),
                        JValue::Bool(request.modes.swipe),
                        JValue::Bool(request.modes.chip),
                        JValue::Bool(request.modes.contactless),
                        JValue::Long(millis(request.timeout)),
                    ],
                )?
                .l()?;
            if v.is_null() {
                return Ok(None);
            }
            let arr = env.cast_local::<JObjectArray<JString>>(v)?;
            let n = arr.len(env)?;
            let mut out: Vec<Option<Zeroizing<String>>> = Vec::with_capacity(CARD_FIELDS);
            for i in 0..n.min(CARD_FIELDS) {
                let el = arr.get_element(env, i)?;
                out.push(opt_string(env, el.into())?.map(Zeroizing::new));
            }
            out.resize(CARD_FIELDS, None);
            Ok(Some(out))
        })?;
        let Some(mut f) = fields else {
            return Err(HalError::Device(
                "CardReader.readCard returned no card".into(),
            ));
        };
        let take =
            |f: &mut Vec<Option<Zeroizing<String>>>, i: usize| f.get_mut(i).and_then(Option::take);
        let entry = take(&mut f, 0).map(|e| entry_from_name(&e)).transpose()?;
        let pan = take(&mut f, 1);
        let track2 = take(&mut f, 2);
        let track3 = take(&mut f, 3);
        let expiry = take(&mut f, 4).map(|s| s.to_string());
        let sequence = take(&mut f, 5).map(|s| s.to_string());
        let icc = take(&mut f, 6).map(|h| hex_decode("icc", &h)).transpose()?;
        Ok(CardData {
            entry,
            pan,
            track2,
            track3,
            expiry,
            sequence,
            icc,
        })
    }

    fn complete_chip(&mut self, completion: &ChipCompletion) -> Result<ChipOutcome, HalError> {
        let answer = self.0.call("CardReader.completeChip", |env, bridge| {
            let rc = env.new_string(&completion.response_code)?;
            let icc = byte_array(env, &completion.icc_response)?;
            let v = env
                .call_method(
                    bridge,
                    jni_str!("completeChip"),
                    jni_sig!("(Ljava/lang/String;[BZ)[B"),
                    &[
                        JValue::from(&rc),
                        JValue::from(&icc),
                        JValue::Bool(completion.host_answered),
                    ],
                )?
                .l()?;
            if v.is_null() {
                return Ok(None);
            }
            let arr = env.cast_local::<JByteArray>(v)?;
            Ok(Some(env.convert_byte_array(&arr)?))
        })?;
        let Some(answer) = answer else {
            return Err(HalError::Device(
                "CardReader.completeChip returned nothing".into(),
            ));
        };
        chip_outcome(&answer)
    }

    fn load_emv_parameters(&mut self, aids: &[AidParams], capks: &[Capk]) -> Result<(), HalError> {
        self.0.call("CardReader.loadEmvParameters", |env, bridge| {
            let aid_ids = byte_arrays(env, aids.iter().map(|a| a.aid.as_slice()))?;
            let aid_tlvs = byte_arrays(env, aids.iter().map(|a| a.tlv.as_slice()))?;
            let rids = byte_arrays(env, capks.iter().map(|c| c.rid.as_slice()))?;
            let indexes: Vec<i32> = capks.iter().map(|c| i32::from(c.index)).collect();
            let idx = JIntArray::new(env, indexes.len())?;
            idx.set_region(env, 0, &indexes)?;
            let expiries = string_array(env, capks.iter().map(|c| c.expiry.as_str()))?;
            let moduli = byte_arrays(env, capks.iter().map(|c| c.modulus.as_slice()))?;
            let exponents = byte_arrays(env, capks.iter().map(|c| c.exponent.as_slice()))?;
            let checksums = byte_arrays(env, capks.iter().map(|c| c.checksum.as_slice()))?;
            env.call_method(
                bridge,
                jni_str!("loadEmvParameters"),
                jni_sig!("([[B[[B[[B[I[Ljava/lang/String;[[B[[B[[B)V"),
                &[
                    JValue::from(&aid_ids),
                    JValue::from(&aid_tlvs),
                    JValue::from(&rids),
                    JValue::from(&idx),
                    JValue::from(&expiries),
                    JValue::from(&moduli),
                    JValue::from(&exponents),
                    JValue::from(&checksums),
                ],
            )?
            .v()
        })
    }
}

/// The app's PIN pad.
pub struct JavaPinPad(pub Bridge);

impl PinPad for JavaPinPad {
    fn get_pin(&mut self, request: &PinRequest, pan: &str) -> Result<PinEntry, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let answer = self.0.call("PinPad.getPin", |env, bridge| {
            let transaction = env.new_string(request.transaction)?;
            let masked = env.new_string(&request.masked_pan)?;
            let full = env.new_string(pan)?;
            let v = env
                .call_method(
                    bridge,
                    jni_str!("getPin"),
                    jni_sig!("(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;JZJ)[B"),
                    &[
                        JValue::from(&transaction),
                        JValue::from(&masked),
                        JValue::from(&full),
                        JValue::Long(opt_amount(request.amount)),
                        JValue::Bool(request.allow_bypass),
                        JValue::Long(millis(request.timeout)),
                    ],
                )?
                .l()?;
            // The PIN (or block) lives on only in zeroizing memory.
            take_byte_array(env, v)
        })?;
        let Some(bytes) = answer else {
            return Err(HalError::Device("PinPad.getPin returned nothing".into()));
        };
        pin_entry(&bytes)
    }
}

/// The app's QR scanner.
pub struct JavaQrScanner(pub Bridge);

impl QrScanner for JavaQrScanner {
    fn scan(&mut self, request: &QrRequest) -> Result<String, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let code = self.0.call("QrScanner.scan", |env, bridge| {
            let transaction = env.new_string(request.transaction)?;
            let v = env
                .call_method(
                    bridge,
                    jni_str!("scanQr"),
                    jni_sig!("(Ljava/lang/String;JJ)Ljava/lang/String;"),
                    &[
                        JValue::from(&transaction),
                        JValue::Long(opt_amount(request.amount)),
                        JValue::Long(millis(request.timeout)),
                    ],
                )?
                .l()?;
            opt_string(env, v)
        })?;
        code.ok_or_else(|| HalError::Device("QrScanner.scan returned no code".into()))
    }
}

/// The app's printer: each copy of a slip as the JSON of `possdk_core::slip::Slip`, which the bridge turns
/// into Kotlin's `Slip`.
pub struct JavaPrinter(pub Bridge);

impl possdk_core::hal::Printer for JavaPrinter {
    fn print(&mut self, slip: &possdk_core::slip::Slip) -> Result<(), HalError> {
        let json = serde_json::to_string(slip)
            .map_err(|e| HalError::Device(format!("slip does not serialise: {e}")))?;
        self.0.call_with("Printer.print", false, |env, bridge| {
            let j = env.new_string(&json)?;
            env.call_method(
                bridge,
                jni_str!("printSlip"),
                jni_sig!("(Ljava/lang/String;)V"),
                &[JValue::from(&j)],
            )?;
            Ok(())
        })
    }
}

/// The app's signature pad: `captureSignature` answers width and height (big-endian u16 each) and the
/// bitmap, the layout of `possdk_core::signature::SignatureImage`.
pub struct JavaSignaturePad(pub Bridge);

impl possdk_core::hal::SignaturePad for JavaSignaturePad {
    fn capture(
        &mut self,
        request: &possdk_core::hal::SignatureRequest,
    ) -> Result<possdk_core::signature::SignatureImage, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let bytes = self.0.call("SignaturePad.capture", |env, bridge| {
            let transaction = env.new_string(request.transaction)?;
            let v = env
                .call_method(
                    bridge,
                    jni_str!("captureSignature"),
                    jni_sig!("(Ljava/lang/String;JJJ)[B"),
                    &[
                        JValue::from(&transaction),
                        JValue::Long(i64::from(request.stan)),
                        JValue::Long(opt_amount(request.amount)),
                        JValue::Long(millis(request.timeout)),
                    ],
                )?
                .l()?;
            if v.is_null() {
                return Ok(None);
            }
            let arr = env.cast_local::<JByteArray>(v)?;
            Ok(Some(env.convert_byte_array(&arr)?))
        })?;
        match bytes {
            Some(b) if b.len() >= 4 => Ok(possdk_core::signature::SignatureImage {
                width: u16::from_be_bytes([b[0], b[1]]),
                height: u16::from_be_bytes([b[2], b[3]]),
                bits: b[4..].to_vec(),
            }),
            _ => Err(HalError::Device(
                "SignaturePad.capture returned no image".into(),
            )),
        }
    }
}

/// The app's QR display (merchant-presented codes).
pub struct JavaQrDisplay(pub Bridge);

impl QrDisplay for JavaQrDisplay {
    fn show_qr(&mut self, show: &QrShow) -> Result<(), HalError> {
        self.0.call("QrDisplay.showQr", |env, bridge| {
            let payload = env.new_string(&show.payload)?;
            env.call_method(
                bridge,
                jni_str!("showQr"),
                jni_sig!("(Ljava/lang/String;JJJ)V"),
                &[
                    JValue::from(&payload),
                    JValue::Long(i64::try_from(show.amount).unwrap_or(i64::MAX)),
                    JValue::Long(i64::try_from(show.expires_in.as_secs()).unwrap_or(i64::MAX)),
                    JValue::Long(i64::from(show.stan)),
                ],
            )?
            .v()
        })
    }

    fn clear_qr(&mut self) {
        let r = self.0.call_with("QrDisplay.clearQr", false, |env, bridge| {
            env.call_method(bridge, jni_str!("clearQr"), jni_sig!("()V"), &[])?
                .v()
        });
        if let Err(e) = r {
            log::warn!("QrDisplay.clearQr failed: {e}");
        }
    }
}

/// The app's event listener. A listener that throws is logged and ignored: events are advisory.
pub struct JavaEvents(pub Bridge);

impl EventSink for JavaEvents {
    fn on_event(&mut self, event: &Event) {
        let json = match serde_json::to_string(event) {
            Ok(j) => j,
            Err(e) => {
                log::warn!("event not serialisable: {e}");
                return;
            }
        };
        let r = self
            .0
            .call_with("EventListener.onEvent", false, |env, bridge| {
                let s = env.new_string(&json)?;
                env.call_method(
                    bridge,
                    jni_str!("onEvent"),
                    jni_sig!("(Ljava/lang/String;)V"),
                    &[JValue::from(&s)],
                )?
                .v()
            });
        if let Err(e) = r {
            log::warn!("EventListener.onEvent failed: {e}");
        }
    }
}

/// The app's device information. The core asks for the serial number when the terminal is created (it
/// goes into activation); a `DeviceInfo` that throws leaves it empty, which `create` refuses with the
/// exception as the cause.
pub struct JavaDeviceInfo(pub Bridge);

impl JavaDeviceInfo {
    fn text(&self, what: &'static str, method: &'static jni::strings::JNIStr) -> String {
        let r = self.0.call(what, |env, bridge| {
            let v = env
                .call_method(bridge, method, jni_sig!("()Ljava/lang/String;"), &[])?
                .l()?;
            opt_string(env, v)
        });
        match r {
            Ok(Some(s)) => s,
            Ok(None) => {
                log::warn!("{what} returned null");
                String::new()
            }
            Err(e) => {
                log::warn!("{what} failed: {e}");
                String::new()
            }
        }
    }
}

impl DeviceInfo for JavaDeviceInfo {
    fn serial_number(&self) -> String {
        self.text("DeviceInfo.serialNumber", jni_str!("serialNumber"))
    }

    fn model(&self) -> String {
        self.text("DeviceInfo.model", jni_str!("model"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_answers_decode() {
        assert!(matches!(pin_entry(&[2]), Ok(PinEntry::Bypass)));
        match pin_entry(&[1, 1, 2, 3, 4, 5, 6, 7, 8]) {
            Ok(PinEntry::Block(b)) => assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8]),
            other => panic!("{other:?}"),
        }
        match pin_entry(b"\x00123456") {
            Ok(PinEntry::Clear(p)) => assert_eq!(p.as_str(), "123456"),
            other => panic!("{other:?}"),
        }
        for bad in [
            &[][..],
            &[2, 1][..],
            &[1, 1, 2][..],
            &b"\x0012a4"[..],
            &[3][..],
        ] {
            assert!(
                matches!(pin_entry(bad), Err(HalError::Device(_))),
                "{bad:?}"
            );
        }
        // The error never echoes the digits.
        if let Err(HalError::Device(m)) = pin_entry(b"\x009876x") {
            assert!(!m.contains("9876"), "{m}");
        }
    }

    #[test]
    fn chip_answers_decode() {
        assert_eq!(
            chip_outcome(&[1]).ok(),
            Some(ChipOutcome {
                approved: true,
                script_results: None
            })
        );
        assert_eq!(
            chip_outcome(&[0, 0xDF, 0x31, 1, 0]).ok(),
            Some(ChipOutcome {
                approved: false,
                script_results: Some(vec![0xDF, 0x31, 1, 0])
            })
        );
        assert!(chip_outcome(&[]).is_err());
        assert!(chip_outcome(&[7]).is_err());
    }

    #[test]
    fn card_fields_decode() {
        assert_eq!(entry_from_name("swipe").ok(), Some(EntryMode::Swipe));
        assert_eq!(
            entry_from_name("contactless").ok(),
            Some(EntryMode::Contactless)
        );
        assert!(entry_from_name("SWIPE").is_err());
        assert_eq!(
            hex_decode("icc", "9F2608A1").ok(),
            Some(vec![0x9F, 0x26, 0x08, 0xA1])
        );
        assert!(hex_decode("icc", "9F2").is_err());
        assert!(hex_decode("icc", "9G").is_err());
        assert_eq!(opt_amount(Some(5)), 5);
        assert_eq!(opt_amount(None), -1);
        assert_eq!(opt_amount(Some(u64::MAX)), -1);
    }
}
