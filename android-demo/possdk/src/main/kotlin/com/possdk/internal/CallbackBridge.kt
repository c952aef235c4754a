package com.possdk.internal

import com.possdk.AidParams
import com.possdk.CancelSignal
import com.possdk.CancelledException
import com.possdk.Capk
import com.possdk.CardReader
import com.possdk.CardRequest
import com.possdk.ChipCompletion
import com.possdk.DeviceInfo
import com.possdk.EncryptedKey
import com.possdk.EventListener
import com.possdk.HostPublicKey
import com.possdk.KeyFamily
import com.possdk.KeySlot
import com.possdk.PinEntry
import com.possdk.PinPad
import com.possdk.PinRequest
import com.possdk.PosEvent
import com.possdk.PosException
import com.possdk.Printer
import com.possdk.QrDisplay
import com.possdk.QrRequest
import com.possdk.QrScanner
import com.possdk.QrShow
import com.possdk.SecurityModule
import com.possdk.SecurityModuleException
import com.possdk.SignaturePad
import com.possdk.SignatureRequest
import com.possdk.Slip
import com.possdk.SlipAlign
import com.possdk.SlipCopy
import com.possdk.SlipLine
import org.json.JSONObject
import java.util.Arrays

/**
 * What the native code calls (ffi-jni/src/callbacks.rs and security.rs): the app's devices and security module
 * behind methods that take and return only strings, numbers and arrays. Signatures here are a contract with the
 * Rust side and are kept by the consumer R8 rules; change both together. Exceptions thrown by the app's
 * callbacks go through unchanged: the native side classifies them with [classify] (or [securityFailure]) and
 * hands them back to the caller as the `cause`.
 *
 * Arrays: the security-module methods wipe the arrays the native side passed when the app's method returns,
 * and return copies of what the app returned (the native side overwrites them after reading).
 */
class CallbackBridge(
    private val cardReader: CardReader?,
    private val pinPad: PinPad?,
    private val qrScanner: QrScanner?,
    private val events: EventListener?,
    private val securityModule: SecurityModule? = null,
    private val deviceInfo: DeviceInfo? = null,
    private val printer: Printer? = null,
    private val signaturePad: SignaturePad? = null,
    private val qrDisplay: QrDisplay? = null
) : CancelSignal {
    /** Set by `PosTerminal.cancel()`/`close()`, cleared when an operation starts; devices poll it. */
    @Volatile
    @JvmField
    var cancelled: Boolean = false

    override fun isCancelled(): Boolean = cancelled

    fun flags(): Int =
        (if (cardReader != null) 1 else 0) or (if (pinPad != null) 2 else 0) or
            (if (qrScanner != null) 4 else 0) or (if (events != null) 8 else 0) or
            (if (securityModule != null) 16 else 0) or (if (deviceInfo != null) 32 else 0) or
            (if (qrDisplay != null) 64 else 0) or (if (printer != null) 128 else 0) or
            (if (signaturePad != null) 256 else 0)

    /** `[width (2, big-endian), height (2)] + bitmap` */
    fun captureSignature(transaction: String, stan: Long, amount: Long, timeoutMs: Long): ByteArray {
        val pad = signaturePad ?: throw IllegalStateException("no SignaturePad")
        val img = pad.capture(SignatureRequest(transaction, stan, amountOf(amount), timeoutMs, this))
        val out = ByteArray(4 + img.bits.size)
        out[0] = (img.width shr 8).toByte()
        out[1] = img.width.toByte()
        out[2] = (img.height shr 8).toByte()
        out[3] = img.height.toByte()
        System.arraycopy(img.bits, 0, out, 4, img.bits.size)
        return out
    }

    /** One copy of a slip as the core's JSON (`{"copy", "lines": [{"type": "text"|"qr", ...}]}`), to the app. */
    fun printSlip(json: String) {
        val p = printer ?: throw IllegalStateException("no Printer")
        val o = JSONObject(json)
        val copy = if (o.getString("copy") == "cardholder") SlipCopy.CARDHOLDER else SlipCopy.MERCHANT
        val arr = o.getJSONArray("lines")
        val lines = (0 until arr.length()).map { i ->
            val l = arr.getJSONObject(i)
            when (l.getString("type")) {
                "qr" -> SlipLine.Qr(l.getString("payload"))
                "signature" -> SlipLine.Signature(l.getInt("width"), l.getInt("height"), bytesOfHex(l.getString("bits")))
                else -> SlipLine.Text(
                    l.getString("text"),
                    when (l.getString("align")) {
                        "center" -> SlipAlign.CENTER
                        "right" -> SlipAlign.RIGHT
                        else -> SlipAlign.LEFT
                    },
                    l.getBoolean("bold"),
                    l.getBoolean("double")
                )
            }
        }
        p.print(Slip(copy, lines))
    }

    private fun amountOf(a: Long): Long? = if (a < 0) null else a

    /** `[entry, pan, track2, track3, expiry, sequence, iccHex]` */
    fun readCard(
        transaction: String, amount: Long, swipe: Boolean, chip: Boolean, contactless: Boolean, timeoutMs: Long
    ): Array<String?> {
        val reader = cardReader ?: throw IllegalStateException("no CardReader")
        val card = reader.readCard(CardRequest(transaction, amountOf(amount), swipe, chip, contactless, timeoutMs, this))
        return arrayOf(card.entry.wire, card.pan, card.track2, card.track3, card.expiry, card.sequence, card.icc?.let { hexOf(it) })
    }

    /** `[approved ? 1 : 0] + script results` */
    fun completeChip(responseCode: String, iccResponse: ByteArray, hostAnswered: Boolean): ByteArray {
        val reader = cardReader ?: throw IllegalStateException("no CardReader")
        val outcome = reader.completeChip(ChipCompletion(responseCode, iccResponse, hostAnswered))
        val scripts = outcome.scriptResults ?: ByteArray(0)
        val out = ByteArray(1 + scripts.size)
        out[0] = if (outcome.approved) 1 else 0
        System.arraycopy(scripts, 0, out, 1, scripts.size)
        return out
    }

    fun loadEmvParameters(
        aids: Array<ByteArray>, aidTlvs: Array<ByteArray>, rids: Array<ByteArray>, indexes: IntArray,
        expiries: Array<String>, moduli: Array<ByteArray>, exponents: Array<ByteArray>, checksums: Array<ByteArray>
    ) {
        val reader = cardReader ?: throw IllegalStateException("no CardReader")
        val aidList = aids.indices.map { AidParams(aids[it], aidTlvs[it]) }
        val capkList = rids.indices.map { Capk(rids[it], indexes[it], expiries[it], moduli[it], exponents[it], checksums[it]) }
        reader.loadEmvParameters(aidList, capkList)
    }

    /**
     * `[PinEntry.code]` then: ASCII digits (clear), the 8-byte block (block), nothing (bypass). The native side
     * wipes the array after reading.
     */
    fun getPin(
        transaction: String, maskedPan: String, pan: String, amount: Long, allowBypass: Boolean, timeoutMs: Long
    ): ByteArray {
        val pad = pinPad ?: throw IllegalStateException("no PinPad")
        val e = pad.getPin(PinRequest(transaction, maskedPan, pan, amountOf(amount), allowBypass, timeoutMs, this))
        val body = when (e) {
            is PinEntry.Bypass -> ByteArray(0)
            is PinEntry.Block -> e.block
            is PinEntry.Clear -> ByteArray(e.digits.size) { e.digits[it].toByte() }.also { Arrays.fill(e.digits, '\u0000') }
        }
        val out = ByteArray(1 + body.size)
        out[0] = e.code.toByte()
        System.arraycopy(body, 0, out, 1, body.size)
        if (e is PinEntry.Clear) Arrays.fill(body, 0)
        return out
    }

    fun scanQr(transaction: String, amount: Long, timeoutMs: Long): String {
        val scanner = qrScanner ?: throw IllegalStateException("no QrScanner")
        return scanner.scan(QrRequest(transaction, amountOf(amount), timeoutMs, this))
    }

    fun showQr(payload: String, amount: Long, expiresInS: Long, stan: Long) {
        val display = qrDisplay ?: throw IllegalStateException("no QrDisplay")
        display.showQr(QrShow(payload, amount, expiresInS, stan))
    }

    fun clearQr() {
        qrDisplay?.clearQr()
    }

    fun onEvent(json: String) {
        val listener = events ?: return
        listener.onEvent(parseEvent(json))
    }

    fun serialNumber(): String = (deviceInfo ?: throw IllegalStateException("no DeviceInfo")).serialNumber()

    fun model(): String = (deviceInfo ?: throw IllegalStateException("no DeviceInfo")).model()

    private fun security(): SecurityModule = securityModule ?: throw IllegalStateException("no SecurityModule")

    /** Run [body], then wipe [arrays] (what the native side passed) whatever happened. */
    private inline fun <T> wiping(vararg arrays: ByteArray, body: () -> T): T =
        try {
            body()
        } finally {
            for (a in arrays) Arrays.fill(a, 0)
        }

    /** `[4-byte check value of R] + RSA(host key, R)` */
    fun beginTmkDownload(modulus: ByteArray, exponent: ByteArray): ByteArray {
        val t = security().beginTmkDownload(HostPublicKey(modulus.copyOf(), exponent.copyOf()))
        if (t.checkValue.size != 4) throw IllegalStateException("TmkTransport.checkValue must be 4 bytes")
        val out = ByteArray(4 + t.encryptedKey.size)
        System.arraycopy(t.checkValue, 0, out, 0, 4)
        System.arraycopy(t.encryptedKey, 0, out, 4, t.encryptedKey.size)
        return out
    }

    /** `[4-byte check value of R] + SM2(host key, R)` (C1 ‖ C3 ‖ C2); [publicKey] is the 65-byte SM2 point. */
    fun beginTmkDownloadSm2(publicKey: ByteArray): ByteArray {
        val t = security().beginTmkDownload(HostPublicKey.sm2(publicKey.copyOf()))
        if (t.checkValue.size != 4) throw IllegalStateException("TmkTransport.checkValue must be 4 bytes")
        val out = ByteArray(4 + t.encryptedKey.size)
        System.arraycopy(t.checkValue, 0, out, 0, 4)
        System.arraycopy(t.encryptedKey, 0, out, 4, t.encryptedKey.size)
        return out
    }

    /** The security module's [KeyFamily.number]. */
    fun keyFamily(): Int = security().keyFamily.number

    fun receiveTmk(encryptedTmk: ByteArray, checkValue: ByteArray): ByteArray =
        wiping(encryptedTmk, checkValue) { security().receiveTmk(encryptedTmk, checkValue).copyOf() }

    fun activateTmk() = security().activateTmk()

    fun installWorkingKeys(
        pik: ByteArray, pikCheck: ByteArray, mak: ByteArray, makCheck: ByteArray, tdk: ByteArray, tdkCheck: ByteArray
    ) = wiping(pik, pikCheck, mak, makCheck, tdk, tdkCheck) {
        security().installWorkingKeys(EncryptedKey(pik, pikCheck), EncryptedKey(mak, makCheck), EncryptedKey(tdk, tdkCheck))
    }

    fun hasKey(slot: Int): Boolean = security().hasKey(slotOf(slot))

    fun checkValue(slot: Int): ByteArray? = security().checkValue(slotOf(slot))?.copyOf()

    /** [pin] is ASCII digits; it and its char copy are wiped when the module returns. */
    fun pinBlock(pin: ByteArray, pan: String): ByteArray {
        val digits = CharArray(pin.size) { (pin[it].toInt() and 0xff).toChar() }
        return try {
            wiping(pin) { security().pinBlock(digits, pan).copyOf() }
        } finally {
            Arrays.fill(digits, '\u0000')
        }
    }

    fun mac(data: ByteArray): ByteArray = wiping(data) { security().mac(data).copyOf() }

    fun encryptTrackBlock(block: ByteArray): ByteArray = wiping(block) { security().encryptTrackBlock(block).copyOf() }

    fun clearWorkingKeys() = security().clearWorkingKeys()

    private fun slotOf(n: Int): KeySlot = KeySlot.fromNumber(n) ?: throw IllegalArgumentException("key slot $n")

    companion object {
        /** 1 cancelled, 2 timed out, 0 any other failure. */
        @JvmStatic
        fun classify(t: Throwable): Int = when (t) {
            is CancelledException, is java.util.concurrent.CancellationException, is InterruptedException -> 1
            is java.util.concurrent.TimeoutException -> 2
            else -> 0
        }

        /** The class of a thrown exception: its message is the app's text and may hold card data. */
        @JvmStatic
        fun describe(t: Throwable): String = t.javaClass.name

        /**
         * `reason.number shl 8 or slot.number` for a [SecurityModuleException] (slot 0xFF when it names none),
         * 0 for any other exception.
         */
        @JvmStatic
        fun securityFailure(t: Throwable): Int =
            if (t is SecurityModuleException) (t.reason.number shl 8) or (t.slot?.number ?: 0xFF) else 0

        @JvmStatic
        fun newException(
            code: String, number: Int, message: String, field: String?, cause: Throwable?, outcome: String?, stan: Long
        ): Throwable = PosException.create(code, number, message, field, cause, outcome, stan)

        @JvmStatic
        fun parseEvent(json: String): PosEvent {
            val m = JSONObject(json)
            fun long(k: String) = m.optLong(k, 0L)
            return when (val name = m.optString("event", "")) {
                "waiting_for_card" -> PosEvent.WaitingForCard
                "card_read" -> PosEvent.CardRead(m.optString("masked_pan", ""))
                "waiting_for_pin" -> PosEvent.WaitingForPin
                "waiting_for_qr" -> PosEvent.WaitingForQr
                "connecting" -> PosEvent.Connecting
                "sending" -> PosEvent.Sending
                "receiving" -> PosEvent.Receiving
                "reversing" -> PosEvent.Reversing(long("stan"))
                "resending_advice" -> PosEvent.ResendingAdvice(long("stan"))
                "done" -> PosEvent.Done(m.optBoolean("approved", false), m.optString("response_code", ""))
                "qr_polling" -> PosEvent.QrPolling(long("stan"), long("poll"), m.optString("state", ""))
                else -> PosEvent.Other(name)
            }
        }

        /** Upper- or lower-case hex digits (the core writes them) to bytes. */
        private fun bytesOfHex(h: String): ByteArray =
            ByteArray(h.length / 2) { i -> ((Character.digit(h[2 * i], 16) shl 4) or Character.digit(h[2 * i + 1], 16)).toByte() }

        private fun hexOf(b: ByteArray): String {
            val digits = "0123456789ABCDEF"
            val sb = StringBuilder(b.size * 2)
            for (x in b) {
                val v = x.toInt() and 0xff
                sb.append(digits[v shr 4]).append(digits[v and 0xf])
            }
            return sb.toString()
        }
    }
}
