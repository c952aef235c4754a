package com.possdk

import com.possdk.internal.CallbackBridge
import com.possdk.internal.NativeBridge
import org.json.JSONException
import org.json.JSONObject
import java.util.concurrent.atomic.AtomicLong

/**
 * A payment terminal (possdk core through JNI).
 *
 * Every operation blocks until the host answered (seconds): call it from a worker thread, never the UI
 * thread (see `PosTerminalCoroutines.kt` for suspend wrappers). Operations are serialised by the core;
 * [cancel] may be called from any thread and stops the operation waiting for a card, a PIN, a code or the
 * host (a request already sent is reversed). [close] frees the native terminal exactly once: it cancels the
 * operation in flight and waits for it to return; later calls throw [RequestException] (`invalid_state`).
 *
 * The devices are optional. Without a [SecurityModule] the SDK keeps the keys itself; without a [DeviceInfo]
 * the serial number comes from the configuration. A [SealKeyProvider] supplies the key that seals keys and PANs at
 * rest (`seal_key`, replacing any in the configuration); on Android use [KeystoreSealKeyProvider].
 *
 * Errors are [PosException]s (see its subclasses); a decline is a [TransactionResult] with `approved = false`.
 */
class PosTerminal @JvmOverloads constructor(
    configJson: String,
    cardReader: CardReader? = null,
    pinPad: PinPad? = null,
    qrScanner: QrScanner? = null,
    events: EventListener? = null,
    securityModule: SecurityModule? = null,
    deviceInfo: DeviceInfo? = null,
    sealKeyProvider: SealKeyProvider? = null,
    printer: Printer? = null,
    signaturePad: SignaturePad? = null,
    qrDisplay: QrDisplay? = null
) : AutoCloseable {
    @JvmOverloads
    constructor(
        config: PosConfig,
        cardReader: CardReader? = null,
        pinPad: PinPad? = null,
        qrScanner: QrScanner? = null,
        events: EventListener? = null,
        securityModule: SecurityModule? = null,
        deviceInfo: DeviceInfo? = null,
        sealKeyProvider: SealKeyProvider? = null,
        printer: Printer? = null,
        signaturePad: SignaturePad? = null,
        qrDisplay: QrDisplay? = null
    ) : this(
        config.toJson(), cardReader, pinPad, qrScanner, events, securityModule, deviceInfo, sealKeyProvider, printer,
        signaturePad, qrDisplay
    )

    private val bridge =
        CallbackBridge(cardReader, pinPad, qrScanner, events, securityModule, deviceInfo, printer, signaturePad, qrDisplay)
    private val handle = AtomicLong(NativeBridge.create(withSealKey(configJson, sealKeyProvider), bridge))

    val isClosed: Boolean get() = handle.get() == 0L

    /** Send one JSON-API request (`{"op": ...}`) and get its result object as JSON text. */
    fun callJson(requestJson: String): String {
        bridge.cancelled = false
        // A closed terminal's handle is 0: the native side refuses it with `invalid_state`.
        return NativeBridge.call(handle.get(), requestJson)
    }

    /** [params]: values are strings, numbers, booleans or [JSONObject]s; null values are left out. */
    private fun call(op: String, vararg params: Pair<String, Any?>): Obj {
        val req = JSONObject().put("op", op)
        for ((k, v) in params) req.put(k, v)
        val out = callJson(req.toString())
        val parsed = try {
            JSONObject(out)
        } catch (e: JSONException) {
            throw ErrorCode.INTERNAL.exception("unreadable result from the native core: ${e.message}", null, e)
        }
        return Obj(parsed, "")
    }

    fun activate(deviceToken: String): ActivationResult =
        Results.activation(call("activate", "device_token" to deviceToken))

    fun downloadMasterKey(): MasterKeyResult = Results.masterKey(call("download_master_key"))
    fun signIn(): SignInResult = Results.signIn(call("sign_in"))

    /** Sign off: the working keys are erased whatever the host answers; sign in before the next transaction. */
    fun signOff(): SignOffResult = Results.signOff(call("sign_off"))

    /** Echo test: a round trip to the gateway that changes nothing. */
    fun echo(): EchoResult = Results.echo(call("echo"))
    fun downloadCapks(): DownloadResult = Results.download(call("download_capks"))
    fun downloadAids(): DownloadResult = Results.download(call("download_aids"))

    private fun paid(op: String, amount: Long, payment: Payment): TransactionResult =
        Results.transaction(call(op, "amount" to amount, payment.param()))

    @JvmOverloads
    fun sale(amount: Long, payment: Payment = Payment.FromCardReader): TransactionResult = paid("sale", amount, payment)

    @JvmOverloads
    fun preauth(amount: Long, payment: Payment = Payment.FromCardReader): TransactionResult = paid("preauth", amount, payment)

    /**
     * Void a sale of the current batch by its STAN; [card] only without a card reader (card originals).
     * `void` is a Java keyword: from Java this is `voidTransaction(stan)`.
     */
    @JvmOverloads
    @JvmName("voidTransaction")
    fun void(stan: Long, card: CardInput? = null): TransactionResult =
        Results.transaction(call("void", "stan" to stan, "card" to card?.toJson()))

    @JvmOverloads
    fun refund(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
        Results.transaction(call("refund", "amount" to amount, "original" to original.toJson(), "card" to card?.toJson()))

    /**
     * Refund of a QR payment: by `original.voucher`, or by reference alone (the journal's voucher, or none where
     * the host allows it: config `qr.refund_by_reference`).
     */
    fun qrRefund(amount: Long, original: OriginalRef): TransactionResult =
        Results.transaction(call("refund", "amount" to amount, "original" to original.toJson(), "payment" to "qr"))

    @JvmOverloads
    fun preauthVoid(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
        Results.transaction(call("preauth_void", "amount" to amount, "original" to original.toJson(), "card" to card?.toJson()))

    @JvmOverloads
    fun preauthComplete(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
        Results.transaction(call("preauth_complete", "amount" to amount, "original" to original.toJson(), "card" to card?.toJson()))

    @JvmOverloads
    fun preauthCompleteVoid(stan: Long, card: CardInput? = null): TransactionResult =
        Results.transaction(call("preauth_complete_void", "stan" to stan, "card" to card?.toJson()))

    fun tip(stan: Long, tip: Long): TransactionResult = Results.transaction(call("tip", "stan" to stan, "tip" to tip))
    fun tipVoid(stan: Long): TransactionResult = Results.transaction(call("tip_void", "stan" to stan))

    @JvmOverloads
    fun balance(card: CardInput? = null): TransactionResult = Results.transaction(call("balance", "card" to card?.toJson()))

    /**
     * Merchant-presented QR order: the host's code (in `qrPayload`) is shown to the customer and its status
     * polled until it is paid, expired or closed; [cancel] closes it at the host.
     */
    fun qrOrder(amount: Long): TransactionResult = Results.transaction(call("qr_order", "amount" to amount))

    /** One QR status query for a journal QR payment ([order], its STAN) or a [voucher]; the state is in `qrState`. */
    @JvmOverloads
    fun qrQuery(order: Long? = null, voucher: String? = null): TransactionResult =
        Results.transaction(call("qr_query", "order" to order, "voucher" to voucher))

    @JvmOverloads
    fun queryDetails(batch: Long? = null): DetailQueryResult = Results.details(call("query_details", "batch" to batch))

    fun settle(): SettlementResult = Results.settlement(call("settle"))

    @JvmOverloads
    fun journal(batch: Long? = null): JournalResult = Results.journal(call("journal", "batch" to batch))

    fun status(): StatusResult = Results.status(call("status"))

    /** A journal transaction's result and receipt again, marked as a reprint ([batch] null: the current one). */
    @JvmOverloads
    fun reprint(stan: Long, batch: Long? = null): TransactionResult =
        Results.transaction(call("reprint", "stan" to stan, "batch" to batch))

    /** Stop the operation in flight (from any thread). A no-op when nothing runs or the terminal is closed. */
    fun cancel() {
        bridge.cancelled = true
        NativeBridge.cancel(handle.get())
    }

    /** Free the native terminal. Idempotent; cancels and waits for an operation in flight. */
    override fun close() {
        val h = handle.getAndSet(0L)
        if (h != 0L) {
            bridge.cancelled = true
            NativeBridge.close(h)
        }
    }

    companion object {
        /** The SDK version of the native library. */
        @JvmStatic
        fun version(): String = NativeBridge.version()
    }
}
