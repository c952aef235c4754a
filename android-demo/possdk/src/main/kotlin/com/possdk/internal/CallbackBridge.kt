package com.possdk.internal

import com.possdk.AidParams
import com.possdk.CancelSignal
import com.possdk.CancelledException
import com.possdk.Capk
import com.possdk.CardReader
import com.possdk.CardRequest
import com.possdk.ChipCompletion
import com.possdk.EventListener
import com.possdk.PinEntry
import com.possdk.PinPad
import com.possdk.PinRequest
import com.possdk.PosEvent
import com.possdk.PosException
import com.possdk.QrRequest
import com.possdk.QrScanner

/**
 * What the native code calls (ffi-jni/src/callbacks.rs): the app's devices behind methods that take and return
 * only strings, longs and arrays. Signatures here are a contract with the Rust side and are kept by the
 * consumer R8 rules; change both together. Exceptions thrown by the app's callbacks go through unchanged: the
 * native side classifies them with [classify] and hands them back to the caller as the `cause`.
 */
class CallbackBridge(
    private val cardReader: CardReader?,
    private val pinPad: PinPad?,
    private val qrScanner: QrScanner?,
    private val events: EventListener?
) : CancelSignal {
    /** Set by `PosTerminal.cancel()`/`close()`, cleared when an operation starts; devices poll it. */
    @Volatile
    @JvmField
    var cancelled: Boolean = false

    override fun isCancelled(): Boolean = cancelled

    fun flags(): Int =
        (if (cardReader != null) 1 else 0) or (if (pinPad != null) 2 else 0) or
            (if (qrScanner != null) 4 else 0) or (if (events != null) 8 else 0)

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

    /** `[0]` bypass, `[1] + 8-byte block`, `[2] + ASCII digits`. The native side wipes the array after reading. */
    fun getPin(
        transaction: String, maskedPan: String, pan: String, amount: Long, allowBypass: Boolean, timeoutMs: Long
    ): ByteArray {
        val pad = pinPad ?: throw IllegalStateException("no PinPad")
        return when (val e = pad.getPin(PinRequest(transaction, maskedPan, pan, amountOf(amount), allowBypass, timeoutMs, this))) {
            is PinEntry.Bypass -> byteArrayOf(0)
            is PinEntry.Block -> {
                val out = ByteArray(1 + e.block.size)
                out[0] = 1
                System.arraycopy(e.block, 0, out, 1, e.block.size)
                out
            }
            is PinEntry.Clear -> {
                val out = ByteArray(1 + e.digits.size)
                out[0] = 2
                for (i in e.digits.indices) out[i + 1] = e.digits[i].toByte()
                java.util.Arrays.fill(e.digits, '\u0000')
                out
            }
        }
    }

    fun scanQr(transaction: String, amount: Long, timeoutMs: Long): String {
        val scanner = qrScanner ?: throw IllegalStateException("no QrScanner")
        return scanner.scan(QrRequest(transaction, amountOf(amount), timeoutMs, this))
    }

    fun onEvent(json: String) {
        val listener = events ?: return
        listener.onEvent(parseEvent(json))
    }

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

        @JvmStatic
        fun newException(
            code: String, number: Int, message: String, field: String?, cause: Throwable?, outcome: String?, stan: Long
        ): Throwable = PosException.create(code, number, message, field, cause, outcome, stan)

        @JvmStatic
        fun parseEvent(json: String): PosEvent {
            val m = Json.parseObject(json)
            fun long(k: String) = (m[k] as? Number)?.toLong() ?: 0L
            return when (val name = m["event"] as? String ?: "") {
                "waiting_for_card" -> PosEvent.WaitingForCard
                "card_read" -> PosEvent.CardRead(m["masked_pan"] as? String ?: "")
                "waiting_for_pin" -> PosEvent.WaitingForPin
                "waiting_for_qr" -> PosEvent.WaitingForQr
                "connecting" -> PosEvent.Connecting
                "sending" -> PosEvent.Sending
                "receiving" -> PosEvent.Receiving
                "reversing" -> PosEvent.Reversing(long("stan"))
                "resending_advice" -> PosEvent.ResendingAdvice(long("stan"))
                "done" -> PosEvent.Done(m["approved"] as? Boolean ?: false, m["response_code"] as? String ?: "")
                else -> PosEvent.Other(name)
            }
        }

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
