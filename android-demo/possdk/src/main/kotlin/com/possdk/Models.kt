package com.possdk

// Requests and results of the JSON API (JSON-API.md), as Kotlin classes with the same names in camelCase.
// Amounts are Long in fen; dates MMDD; date-times ISO 8601 local time. JSON is the platform's org.json.

import org.json.JSONArray
import org.json.JSONObject

/** One endpoint of the acquirer: `host:port` and the 10-digit TPDU. */
data class Endpoint(val address: String, val tpdu: String)

/**
 * Terminal configuration (JSON-API "Config"). [sealKey] (64 hex digits, from the Android Keystore or an SE)
 * seals keys and PANs at rest; `toString` hides it. Prefer giving [PosTerminal] a [SealKeyProvider] to writing the
 * key here. [production] makes a seal key required: without one the terminal refuses to start.
 */
class PosConfig(
    val tid: String,
    val mid: String,
    val gateway: Endpoint,
    val platform: Endpoint,
    val journalPath: String,
    val connectTimeoutMs: Long = 10_000,
    val responseTimeoutMs: Long = 30_000,
    val reversalAttempts: Int = 3,
    val maxTipPercent: Int = 20,
    val hostKeySha256: String? = null,
    val deviceSerial: String? = null,
    val deviceModel: String? = null,
    val sealKey: String? = null,
    val encryptTracks: Boolean = false,
    val production: Boolean = false,
    /** The acquirer profile (docs/PROFILES.md): a built-in name (`cup`, `ascii`) or a profile file's path. */
    val profile: String? = null,
    /** The acquirer profile given inline: the JSON text of a profile object (wins over [profile]). */
    val profileJson: String? = null,
    /** The key family (docs/PROTOCOL.md §11); a [SecurityModule] given to [PosTerminal] must work in the same one. */
    val keyFamily: KeyFamily = KeyFamily.TDES
) {
    fun toJson(): String = JSONObject()
        .put("tid", tid)
        .put("mid", mid)
        .put("gateway", JSONObject().put("address", gateway.address).put("tpdu", gateway.tpdu))
        .put("platform", JSONObject().put("address", platform.address).put("tpdu", platform.tpdu))
        .put("journal_path", journalPath)
        .put("timeouts_ms", JSONObject().put("connect", connectTimeoutMs).put("response", responseTimeoutMs))
        .put("reversal_attempts", reversalAttempts)
        .put("max_tip_percent", maxTipPercent)
        .put("host_key_sha256", hostKeySha256)
        .put("device", deviceSerial?.let { JSONObject().put("serial", it).put("model", deviceModel ?: "") })
        .put("seal_key", sealKey)
        .put("encrypt_tracks", encryptTracks)
        .put("production", production)
        .put("profile", profileJson?.let { JSONObject(it) } ?: profile)
        .put("key_family", keyFamily.wire)
        .toString()

    override fun toString() =
        "PosConfig(tid=$tid, mid=$mid, gateway=$gateway, platform=$platform, journalPath=$journalPath, production=$production, keyFamily=$keyFamily, sealKey=${if (sealKey != null) "<hidden>" else "null"})"
}

/**
 * Card data given inline (for apps without a [CardReader] callback). [pin] is blocked at once by the security
 * module and never stored. `toString` shows only the masked PAN.
 */
class CardInput(
    val entry: EntryMode,
    val pan: String? = null,
    val track2: String? = null,
    val track3: String? = null,
    val expiry: String? = null,
    val sequence: String? = null,
    val icc: ByteArray? = null,
    val pin: String? = null
) {
    internal fun toJson(): JSONObject = JSONObject()
        .put("entry", entry.wire)
        .put("pan", pan)
        .put("track2", track2)
        .put("track3", track3)
        .put("expiry", expiry)
        .put("sequence", sequence)
        .put("icc", icc?.let { hex(it) })
        .put("pin", pin)

    override fun toString() = "CardInput($entry, pan=${pan?.let { maskPan(it) }})"
}

/** How a sale or pre-authorisation is paid. */
sealed class Payment {
    /** Ask the app's [CardReader] (the default). */
    object FromCardReader : Payment()
    /** Ask the app's [QrScanner]. */
    object FromQrScanner : Payment()
    /** Card data given inline. */
    class Card(val card: CardInput) : Payment() {
        override fun toString() = "Payment.Card($card)"
    }
    /** A payment code given inline. */
    class Qr(val code: String) : Payment() {
        override fun toString() = "Payment.Qr(<code>)"
    }

    /** The request field that says how (the card reader, the default, needs none). */
    internal fun param(): Pair<String, Any?> = when (this) {
        is Card -> "card" to card.toJson()
        is Qr -> "qr_code" to code
        is FromQrScanner -> "payment" to "qr"
        is FromCardReader -> "payment" to null
    }
}

/** Reference to an original that may not be in the journal (refund, pre-auth void / completion). */
data class OriginalRef(
    val reference: String? = null,
    val authCode: String? = null,
    /** MMDD */
    val date: String? = null,
    val batch: Long? = null,
    val stan: Long? = null,
    /** QR voucher: makes the request a QR one. */
    val voucher: String? = null
) {
    internal fun toJson(): JSONObject = JSONObject()
        .put("reference", reference).put("auth_code", authCode).put("date", date)
        .put("batch", batch).put("stan", stan).put("voucher", voucher)
}

data class ActivationResult(
    val merchantName: String,
    val batch: Long,
    val responseTimeoutS: Long,
    val reversalAttempts: Long,
    val maxTipPercent: Long,
    val hostKeySha256: String?
)

data class MasterKeyResult(val tmkCheckValue: String, val hostKeySha256: String)

data class SignInResult(val batch: Long, val datetime: String, val capksRequired: Boolean, val aidsRequired: Boolean)

data class DownloadResult(val count: Long, val rejected: Long)

/** Sign-off: [sent] false when the terminal was not signed in; [responseCode] null when nothing answered. */
data class SignOffResult(val sent: Boolean, val responseCode: String?)

/** Echo test: [maced] true when the terminal was signed in and the request carried a MAC. */
data class EchoResult(val responseCode: String, val datetime: String, val maced: Boolean, val roundTripMs: Long)

/**
 * Where the money stands after a financial operation, on every [TransactionResult] and on every [PosException]
 * of a financial operation. Decide from it alone (docs/JSON-API.md, "Outcome"):
 * [APPROVED] done; [DECLINED] ask for another means of payment; [REVERSED], [REVERSAL_PENDING] and [NOT_SENT]
 * nothing moved, the operation may be tried again; [ADVICE_PENDING] the terminal resends it by itself: never
 * repeat the operation.
 */
enum class Outcome(/** The JSON name (`reversal_pending`, ...). */ val wire: String) {
    APPROVED("approved"), DECLINED("declined"), REVERSED("reversed"), REVERSAL_PENDING("reversal_pending"),
    ADVICE_PENDING("advice_pending"), NOT_SENT("not_sent");

    companion object {
        @JvmStatic
        fun parse(s: String?): Outcome? = values().firstOrNull { it.wire == s }
    }
}

/** A transaction's result. `approved = false` is a decline (the call worked, the issuer said no). */
data class TransactionResult(
    val outcome: Outcome,
    val approved: Boolean,
    val responseCode: String,
    val message: String,
    val kind: String,
    val stan: Long,
    val batch: Long,
    val amount: Long,
    val tip: Long,
    val reference: String?,
    val authCode: String?,
    val maskedPan: String?,
    val voucher: String?,
    val cardOrg: String?,
    val datetime: String,
    /** Balance inquiry: fen, negative when the account is in debit. */
    val balance: Long?,
    val receipt: List<String>,
    /** QR payments: the host's last state (`paid`, `waiting`, `paying`, `not_paid`, `closed`, `expired`, `not_found`). */
    val qrState: String? = null,
    /** `qrOrder`: the code payload the customer scans. */
    val qrPayload: String? = null
)

data class CountAmount(val count: Long, val amount: Long)
data class Totals(val debit: CountAmount, val credit: CountAmount)
data class SettlementTotals(val domestic: Totals, val foreign: Totals)

data class SettlementResult(
    val batch: Long,
    val terminal: SettlementTotals,
    val host: SettlementTotals,
    val balanced: Boolean,
    val uploaded: Long,
    val nextBatch: Long
)

data class DetailRecord(
    val stan: Long,
    val kind: String,
    val amount: Long,
    val tip: Long,
    val maskedPan: String?,
    val voucher: String?,
    val reference: String?,
    val authCode: String?,
    val datetime: String,
    /** `approved`, `voided`, `reversed`, `tipped` */
    val state: String
)

data class DetailQueryResult(val batch: Long?, val records: List<DetailRecord>)

data class PendingReversal(val stan: Long, val reason: String?, val attempts: Long, val flagged: Boolean)

data class StatusResult(
    val activated: Boolean,
    val masterKeyLoaded: Boolean,
    val signedIn: Boolean,
    val batch: Long,
    val nextStan: Long,
    val pendingReversal: PendingReversal?,
    val unsentAdvices: Long,
    /** Chip uploads (TC, script results) still owed. */
    val unsentUploads: Long,
    /** The active acquirer profile. */
    val profile: AcquirerProfile? = null,
    /** `tdes` or `sm` (docs/PROTOCOL.md §11). */
    val keyFamily: KeyFamily
)

/** An acquirer profile's name and the SHA-256 (hex) of its canonical bytes (docs/PROFILES.md). */
data class AcquirerProfile(val name: String, val sha256: String)

/** A local journal record (masked PAN only). */
data class JournalRecord(
    val id: Long,
    val kind: String,
    val batch: Long,
    val stan: Long,
    val amount: Long,
    val tip: Long,
    val maskedPan: String?,
    val entryMode: String?,
    val voucher: String?,
    val cardOrg: String?,
    val reference: String?,
    val authCode: String?,
    val responseCode: String?,
    val state: String,
    val createdAt: String
)

data class JournalResult(val batch: Long, val records: List<JournalRecord>)

internal fun hex(b: ByteArray): String {
    val digits = "0123456789ABCDEF"
    val sb = StringBuilder(b.size * 2)
    for (x in b) {
        val v = x.toInt() and 0xff
        sb.append(digits[v shr 4]).append(digits[v and 0xf])
    }
    return sb.toString()
}

/** Reading the core's result JSON. A missing required field is a bug between the two sides: internal error. */
internal class Obj(private val o: JSONObject, private val path: String) {
    private fun bad(key: String, what: String): Nothing =
        throw ErrorCode.INTERNAL.exception("result field $path$key: $what", "$path$key", null)

    /** The value of [key]; null when it is absent or JSON null. */
    private fun raw(key: String): Any? = o.opt(key)?.takeUnless { it == JSONObject.NULL }

    fun has(key: String) = raw(key) != null
    fun long(key: String): Long = (raw(key) as? Number)?.toLong() ?: bad(key, "missing or not a number")
    fun optLong(key: String): Long? = raw(key)?.let { (it as? Number)?.toLong() ?: bad(key, "not a number") }
    fun bool(key: String): Boolean = raw(key) as? Boolean ?: bad(key, "missing or not a boolean")
    fun str(key: String): String = raw(key) as? String ?: bad(key, "missing or not a string")
    fun optStr(key: String): String? = raw(key)?.let { it as? String ?: it.toString() }
    fun obj(key: String): Obj = Obj(raw(key) as? JSONObject ?: bad(key, "missing or not an object"), "$path$key.")
    fun optObj(key: String): Obj? = if (raw(key) == null) null else obj(key)
    fun objs(key: String): List<Obj> {
        val a = raw(key) as? JSONArray ?: bad(key, "missing or not an array")
        return (0 until a.length()).map { i ->
            Obj(a.opt(i) as? JSONObject ?: bad("$key[$i]", "not an object"), "$path$key[$i].")
        }
    }
    fun strings(key: String): List<String> {
        val a = raw(key) as? JSONArray ?: return emptyList()
        return (0 until a.length()).map { i -> a.opt(i)?.takeUnless { it == JSONObject.NULL }?.toString() ?: "" }
    }
}

internal object Results {
    fun activation(o: Obj) = ActivationResult(
        o.str("merchant_name"), o.long("batch"), o.long("response_timeout_s"), o.long("reversal_attempts"),
        o.long("max_tip_percent"), o.optStr("host_key_sha256")
    )

    fun masterKey(o: Obj) = MasterKeyResult(o.str("tmk_check_value"), o.str("host_key_sha256"))

    fun signIn(o: Obj) = SignInResult(o.long("batch"), o.str("datetime"), o.bool("capks_required"), o.bool("aids_required"))

    fun download(o: Obj) = DownloadResult(o.long("count"), o.long("rejected"))

    fun signOff(o: Obj) = SignOffResult(o.bool("sent"), o.optStr("response_code"))

    fun echo(o: Obj) = EchoResult(o.str("response_code"), o.str("datetime"), o.bool("maced"), o.long("round_trip_ms"))

    fun transaction(o: Obj) = TransactionResult(
        outcome = Outcome.parse(o.str("outcome")) ?: throw IllegalStateException("unknown outcome"),
        approved = o.bool("approved"),
        responseCode = o.str("response_code"),
        message = o.optStr("message") ?: "",
        kind = o.str("kind"),
        stan = o.long("stan"),
        batch = o.long("batch"),
        amount = o.long("amount"),
        tip = o.optLong("tip") ?: 0,
        reference = o.optStr("reference"),
        authCode = o.optStr("auth_code"),
        maskedPan = o.optStr("masked_pan"),
        voucher = o.optStr("voucher"),
        cardOrg = o.optStr("card_org"),
        datetime = o.optStr("datetime") ?: "",
        balance = o.optLong("balance"),
        receipt = o.strings("receipt"),
        qrState = o.optStr("qr_state"),
        qrPayload = o.optStr("qr_payload")
    )

    private fun countAmount(o: Obj) = CountAmount(o.long("count"), o.long("amount"))
    private fun totals(o: Obj) = Totals(countAmount(o.obj("debit")), countAmount(o.obj("credit")))
    private fun settlementTotals(o: Obj) = SettlementTotals(totals(o.obj("domestic")), totals(o.obj("foreign")))

    fun settlement(o: Obj) = SettlementResult(
        o.long("batch"), settlementTotals(o.obj("terminal")), settlementTotals(o.obj("host")),
        o.bool("balanced"), o.long("uploaded"), o.long("next_batch")
    )

    fun details(o: Obj) = DetailQueryResult(
        o.optLong("batch"),
        o.objs("records").map {
            DetailRecord(
                it.long("stan"), it.str("kind"), it.long("amount"), it.optLong("tip") ?: 0, it.optStr("masked_pan"),
                it.optStr("voucher"), it.optStr("reference"), it.optStr("auth_code"), it.optStr("datetime") ?: "",
                it.optStr("state") ?: ""
            )
        }
    )

    fun status(o: Obj) = StatusResult(
        o.bool("activated"), o.bool("master_key_loaded"), o.bool("signed_in"), o.long("batch"), o.long("next_stan"),
        o.optObj("pending_reversal")?.let {
            PendingReversal(it.long("stan"), it.optStr("reason"), it.optLong("attempts") ?: 0, it.bool("flagged"))
        },
        o.optLong("unsent_advices") ?: 0,
        o.optLong("unsent_uploads") ?: 0,
        o.optObj("profile")?.let { AcquirerProfile(it.str("name"), it.str("sha256")) },
        KeyFamily.fromWire(o.optStr("key_family") ?: "tdes") ?: KeyFamily.TDES
    )

    fun journal(o: Obj) = JournalResult(
        o.long("batch"),
        o.objs("records").map {
            JournalRecord(
                it.long("id"), it.str("kind"), it.long("batch"), it.long("stan"), it.long("amount"),
                it.optLong("tip") ?: 0, it.optStr("masked_pan"), it.optStr("entry_mode"), it.optStr("voucher"),
                it.optStr("card_org"), it.optStr("reference"), it.optStr("auth_code"), it.optStr("response_code"),
                it.optStr("state") ?: "", it.optStr("created_at") ?: ""
            )
        }
    )
}
