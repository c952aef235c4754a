package com.possdk

import com.possdk.internal.CallbackBridge
import com.possdk.internal.Json
import com.possdk.internal.NativeBridge
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
 * Errors are [PosException]s (see its subclasses); a decline is a [TransactionResult] with `approved = false`.
 */
class PosTerminal @JvmOverloads constructor(
    configJson: String,
    cardReader: CardReader? = null,
    pinPad: PinPad? = null,
    qrScanner: QrScanner? = null,
    events: EventListener? = null
) : AutoCloseable {
    @JvmOverloads
    constructor(
        config: PosConfig,
        cardReader: CardReader? = null,
        pinPad: PinPad? = null,
        qrScanner: QrScanner? = null,
        events: EventListener? = null
    ) : this(config.toJson(), cardReader, pinPad, qrScanner, events)

    private val bridge = CallbackBridge(cardReader, pinPad, qrScanner, events)
    private val handle = AtomicLong(NativeBridge.create(configJson, bridge))

    val isClosed: Boolean get() = handle.get() == 0L

    /** Send one JSON-API request (`{"op": ...}`) and get its result object as JSON text. */
    fun callJson(requestJson: String): String {
        bridge.cancelled = false
        // A closed terminal's handle is 0: the native side refuses it with `invalid_state`.
        return NativeBridge.call(handle.get(), requestJson)
    }

    private fun call(op: String, params: Map<String, Any?> = emptyMap()): Obj {
        val req = LinkedHashMap<String, Any?>()
        req["op"] = op
        req.putAll(params)
        val out = callJson(Json.write(req))
        val parsed = try {
            Json.parseObject(out)
        } catch (e: Json.ParseException) {
            throw InternalException("internal", 501, "unreadable result from the native core: ${e.message}", null, e)
        }
        return Obj(parsed, "")
    }

    fun activate(deviceToken: String): ActivationResult =
        Results.activation(call("activate", mapOf("device_token" to deviceToken)))

    fun downloadMasterKey(): MasterKeyResult = Results.masterKey(call("download_master_key"))
    fun signIn(): SignInResult = Results.signIn(call("sign_in"))
    fun downloadCapks(): DownloadResult = Results.download(call("download_capks"))
    fun downloadAids(): DownloadResult = Results.download(call("download_aids"))

    private fun paid(op: String, amount: Long, payment: Payment): TransactionResult {
        val m = LinkedHashMap<String, Any?>()
        m["amount"] = amount
        payment.addTo(m)
        return Results.transaction(call(op, m))
    }

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
        Results.transaction(call("void", mapOf("stan" to stan, "card" to card?.toJsonMap())))

    @JvmOverloads
    fun refund(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
        Results.transaction(call("refund", mapOf("amount" to amount, "original" to original.toJsonMap(), "card" to card?.toJsonMap())))

    @JvmOverloads
    fun preauthVoid(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
        Results.transaction(call("preauth_void", mapOf("amount" to amount, "original" to original.toJsonMap(), "card" to card?.toJsonMap())))

    @JvmOverloads
    fun preauthComplete(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
        Results.transaction(call("preauth_complete", mapOf("amount" to amount, "original" to original.toJsonMap(), "card" to card?.toJsonMap())))

    @JvmOverloads
    fun preauthCompleteVoid(stan: Long, card: CardInput? = null): TransactionResult =
        Results.transaction(call("preauth_complete_void", mapOf("stan" to stan, "card" to card?.toJsonMap())))

    fun tip(stan: Long, tip: Long): TransactionResult = Results.transaction(call("tip", mapOf("stan" to stan, "tip" to tip)))
    fun tipVoid(stan: Long): TransactionResult = Results.transaction(call("tip_void", mapOf("stan" to stan)))

    @JvmOverloads
    fun balance(card: CardInput? = null): TransactionResult = Results.transaction(call("balance", mapOf("card" to card?.toJsonMap())))

    @JvmOverloads
    fun queryDetails(batch: Long? = null): DetailQueryResult = Results.details(call("query_details", mapOf("batch" to batch)))

    fun settle(): SettlementResult = Results.settlement(call("settle"))

    @JvmOverloads
    fun journal(batch: Long? = null): JournalResult = Results.journal(call("journal", mapOf("batch" to batch)))

    fun status(): StatusResult = Results.status(call("status"))

    /** A journal transaction's result and receipt again, marked as a reprint ([batch] null: the current one). */
    @JvmOverloads
    fun reprint(stan: Long, batch: Long? = null): TransactionResult =
        Results.transaction(call("reprint", mapOf("stan" to stan, "batch" to batch)))

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
