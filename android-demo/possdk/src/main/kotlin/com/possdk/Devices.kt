package com.possdk

/**
 * The devices the app provides. Every callback runs on the thread that called the [PosTerminal] operation and
 * may block (waiting for a card, a PIN, a code). A waiting callback should poll its request's `isCancelled()`
 * and then throw [CancelledException] (or `java.util.concurrent.CancellationException` /
 * `InterruptedException`); throw `java.util.concurrent.TimeoutException` when nothing came in time. Any other
 * exception fails the operation with a [DeviceException] whose cause is the exception thrown.
 *
 * Card data, PANs and PINs passed to or from these interfaces are secrets: never log them.
 */
interface CardReader {
    /** Wait for a card (swipe, chip or tap, as the request allows) and return what was read. */
    fun readCard(request: CardRequest): CardData

    /** Complete a chip transaction with the host's answer (second GENERATE AC). */
    fun completeChip(completion: ChipCompletion): ChipOutcome =
        throw UnsupportedOperationException("this card reader has no chip kernel")

    /** Load downloaded EMV parameters into the reader's kernel. A reader without a kernel has nothing to load. */
    fun loadEmvParameters(aids: List<AidParams>, capks: List<Capk>) {}
}

interface PinPad {
    /** Ask the cardholder for a PIN. `request.pan` is the full PAN, for a secure pad that builds the block itself. */
    fun getPin(request: PinRequest): PinEntry
}

interface QrScanner {
    /** Scan the customer's payment code. */
    fun scan(request: QrRequest): String
}

/**
 * Prints sales slips (签购单): called after every approved transaction with its merchant copy (商户存根), then
 * its cardholder copy (持卡人存根). A printer that throws is logged and changes nothing: the transaction
 * stands, and [PosTerminal.reprint] gives the slip again. The language is the config's `receipt.locale`.
 */
interface Printer {
    fun print(slip: Slip)
}

/**
 * The cardholder's electronic signature, asked after an approval of the kinds the config's `signature.kinds`
 * names (sales by default). The SDK compresses, journals and uploads it; a pad that throws is logged and changes
 * nothing (docs/PROTOCOL.md §8.8).
 */
interface SignaturePad {
    fun capture(request: SignatureRequest): SignatureImage
}

class SignatureRequest(val transaction: String, val stan: Long, val amount: Long?, val timeoutMs: Long, private val cancel: CancelSignal) {
    fun isCancelled(): Boolean = cancel.isCancelled()
    override fun toString() = "SignatureRequest($transaction, stan=$stan, amount=$amount)"
}

/** A 1-bit bitmap: [height] rows of `(width + 7) / 8` bytes, most significant bit first, 1 = ink. */
class SignatureImage(val width: Int, val height: Int, val bits: ByteArray)

enum class SlipCopy { MERCHANT, CARDHOLDER }

enum class SlipAlign { LEFT, CENTER, RIGHT }

/** One printer line: text with its layout, or a QR code (a QR transaction's voucher). */
sealed class SlipLine {
    data class Text(val text: String, val align: SlipAlign, val bold: Boolean, val doubleSize: Boolean) : SlipLine()
    data class Qr(val payload: String) : SlipLine()
    /** The cardholder's electronic signature on the merchant copy: a [SignatureImage]'s bitmap. */
    class Signature(val width: Int, val height: Int, val bits: ByteArray) : SlipLine()
}

data class Slip(val copy: SlipCopy, val lines: List<SlipLine>)

/**
 * The device's identity. The terminal reads the serial number when it is created and sends it at activation
 * (the host knows the device by it); it takes the place of `PosConfig.deviceSerial`.
 */
interface DeviceInfo {
    fun serialNumber(): String
    fun model(): String
}

interface EventListener {
    /** Progress for the UI. Called on the operation's thread; an exception thrown here is logged and ignored. */
    fun onEvent(event: PosEvent)
}

/** How a card was read (field 22). */
enum class EntryMode(val wire: String) {
    MANUAL("manual"), SWIPE("swipe"), CHIP("chip"), CONTACTLESS("contactless"), FALLBACK("fallback");

    companion object {
        @JvmStatic
        fun fromWire(s: String): EntryMode? = values().firstOrNull { it.wire == s }
    }
}

/** Something that can tell whether the operation was cancelled (backed by the terminal). */
interface CancelSignal {
    fun isCancelled(): Boolean
}

/** What the terminal asks the card reader for. [amount] in fen, null when the transaction has none. */
class CardRequest(
    val transaction: String,
    val amount: Long?,
    val swipe: Boolean,
    val chip: Boolean,
    val contactless: Boolean,
    val timeoutMs: Long,
    private val cancel: CancelSignal
) {
    fun isCancelled(): Boolean = cancel.isCancelled()
    override fun toString() =
        "CardRequest($transaction, amount=$amount, swipe=$swipe, chip=$chip, contactless=$contactless, timeoutMs=$timeoutMs)"
}

/**
 * Card data as read. Swipe: [track2] (digits, `D` or `=` separator) and optional [track3]. Chip / tap: [pan],
 * [expiry] (YYMM), [sequence] (3 digits) and [icc] (field 55 BER-TLV of the first GENERATE AC), [track2]
 * optional. `toString` shows only the masked PAN.
 */
class CardData(
    val entry: EntryMode,
    val pan: String? = null,
    val track2: String? = null,
    val track3: String? = null,
    val expiry: String? = null,
    val sequence: String? = null,
    val icc: ByteArray? = null
) {
    override fun toString() = "CardData($entry, pan=${pan?.let { maskPan(it) }})"
}

/** The host's answer for the chip: 39, field 55 of the response, and whether the host answered at all. */
class ChipCompletion(val responseCode: String, val iccResponse: ByteArray, val hostAnswered: Boolean) {
    override fun toString() = "ChipCompletion($responseCode, ${iccResponse.size} bytes, hostAnswered=$hostAnswered)"
}

/** The card's decision after the second GENERATE AC; [scriptResults] as BER-TLV, if any. */
class ChipOutcome(val approved: Boolean, val scriptResults: ByteArray? = null) {
    override fun toString() = "ChipOutcome(approved=$approved)"
}

/** An AID as downloaded: the AID and every TLV of its download response. */
class AidParams(val aid: ByteArray, val tlv: ByteArray)

/** A CA public key, checksum already verified. [expiry] YYYYMMDD. */
class Capk(
    val rid: ByteArray,
    val index: Int,
    val expiry: String,
    val modulus: ByteArray,
    val exponent: ByteArray,
    val checksum: ByteArray
)

/** What the PIN pad is asked for. [pan] is the full PAN (secure pads build the block themselves): never log it. */
class PinRequest(
    val transaction: String,
    val maskedPan: String,
    val pan: String,
    val amount: Long?,
    val allowBypass: Boolean,
    val timeoutMs: Long,
    private val cancel: CancelSignal
) {
    fun isCancelled(): Boolean = cancel.isCancelled()
    override fun toString() = "PinRequest($transaction, $maskedPan, amount=$amount, allowBypass=$allowBypass)"
}

/** The PIN pad's answer. [code] is the kind's number on the native side (the same in every API). */
sealed class PinEntry(val code: Int) {
    /** A format-0 PIN block already encrypted under the PIK by a secure pad (8 bytes). */
    class Block(val block: ByteArray) : PinEntry(BLOCK) {
        override fun toString() = "PinEntry.Block(<hidden>)"
    }

    /** A clear PIN, blocked at once by the security module; the array is wiped after use. */
    class Clear(val digits: CharArray) : PinEntry(CLEAR) {
        override fun toString() = "PinEntry.Clear(<hidden>)"
    }

    /** The cardholder bypassed PIN entry (honoured only when the request allows it). */
    object Bypass : PinEntry(BYPASS) {
        override fun toString() = "PinEntry.Bypass"
    }

    companion object {
        // possdk-core hal::PinEntry::{CLEAR, BLOCK, BYPASS}; ffi-jni/tests/kotlin_api.rs checks they are equal.
        const val CLEAR = 0
        const val BLOCK = 1
        const val BYPASS = 2
    }
}

class QrRequest(val transaction: String, val amount: Long?, val timeoutMs: Long, private val cancel: CancelSignal) {
    fun isCancelled(): Boolean = cancel.isCancelled()
    override fun toString() = "QrRequest($transaction, amount=$amount, timeoutMs=$timeoutMs)"
}

/** A merchant-presented QR code to show: render [payload] as a QR code ([amount] in fen). */
class QrShow(val payload: String, val amount: Long, val expiresInS: Long, val stan: Long) {
    override fun toString() = "QrShow(amount=$amount, expiresInS=$expiresInS, stan=$stan)"
}

/** A screen the customer scans merchant-presented QR codes from (`PosTerminal.qrOrder`). */
interface QrDisplay {
    /** Show the code; throwing is logged and the order goes on (the payload is in the result too). */
    fun showQr(show: QrShow)

    /** The order is final (paid, expired, closed): take the code down. */
    fun clearQr() {}
}

/** Progress events (JSON-API event names). */
sealed class PosEvent {
    object WaitingForCard : PosEvent()
    data class CardRead(val maskedPan: String) : PosEvent()
    object WaitingForPin : PosEvent()
    object WaitingForQr : PosEvent()
    object Connecting : PosEvent()
    object Sending : PosEvent()
    object Receiving : PosEvent()
    data class Reversing(val stan: Long) : PosEvent()
    data class ResendingAdvice(val stan: Long) : PosEvent()
    data class Done(val approved: Boolean, val responseCode: String) : PosEvent()
    /** A QR status query was answered: the payment's [state] (`waiting`, `paying`, `paid`, ...) at poll [poll]. */
    data class QrPolling(val stan: Long, val poll: Long, val state: String) : PosEvent()
    /** An event this version of the API does not know yet. */
    data class Other(val name: String) : PosEvent()

    /** Objects print their name; the data classes print their fields (none of them secret). */
    override fun toString(): String = javaClass.simpleName
}

/** First 6 and last 4 digits; shorter than 11 digits: all masked. */
fun maskPan(pan: String): String {
    val n = pan.length
    if (n < 11) return "*".repeat(n)
    val sb = StringBuilder(n)
    for (i in 0 until n) sb.append(if (i < 6 || i >= n - 4) pan[i] else '*')
    return sb.toString()
}
