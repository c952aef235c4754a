package com.possdk

/**
 * Every failure of a [PosTerminal] call. The subclass is the error domain (the hundreds of [number]); [code]
 * is the stable snake_case code of the JSON API (`invalid_request`, `host_timeout`, ...) and [number] the
 * stable integer of the C API. [field] names the request field at fault when there is one. Messages never
 * carry a PIN, key, full PAN or track data.
 *
 * A declined transaction is not an exception: it is a [TransactionResult] with `approved = false`.
 *
 * When a callback of the app (card reader, PIN pad, QR scanner) threw, the exception it threw is the [cause].
 */
open class PosException(
    val code: String,
    val number: Int,
    message: String,
    val field: String? = null,
    cause: Throwable? = null
) : Exception(message, cause) {
    /** Financial operations: where the money stands (decides retry / ask the customer / nothing). */
    var outcome: Outcome? = null
        internal set

    /** Financial operations: the STAN of the request once it was journalled. */
    var stan: Long? = null
        internal set

    override fun toString(): String {
        val f = if (field != null) " ($field)" else ""
        return "${javaClass.simpleName}[$code$f]: $message"
    }

    companion object {
        /**
         * The exception for a core error (the native side calls this through the bridge). The class comes from
         * [ErrorCode], which is generated from the core's error table.
         */
        @JvmStatic
        fun create(
            code: String, number: Int, message: String, field: String?, cause: Throwable?,
            outcome: String? = null, stan: Long = -1
        ): PosException =
            (ErrorCode.fromCode(code)?.exception(message, field, cause) ?: PosException(code, number, message, field, cause)).also {
                it.outcome = Outcome.parse(outcome)
                it.stan = if (stan >= 0) stan else null
            }
    }
}

/** 1xx: the request or the terminal's state (`invalid_json`, `invalid_request`, `not_activated`,
 * `not_signed_in`, `original_not_found`, `invalid_state`, `cancelled`). */
open class RequestException(code: String, number: Int, message: String, field: String? = null, cause: Throwable? = null) :
    PosException(code, number, message, field, cause)

/** `cancelled`: [PosTerminal.cancel] (or a callback that gave up). Anything already sent is reversed. */
class CancelledException @JvmOverloads constructor(message: String, cause: Throwable? = null) :
    RequestException(ErrorCode.CANCELLED.code, ErrorCode.CANCELLED.number, message, null, cause)

/** 2xx: the host (`host_unreachable`, `host_timeout`, `invalid_response`, `host_rejected`). */
open class HostException(code: String, number: Int, message: String, field: String? = null, cause: Throwable? = null) :
    PosException(code, number, message, field, cause)

/** `host_timeout`: sent, no answer. A reversal is pending; the next operation sends it first. */
class HostTimeoutException @JvmOverloads constructor(message: String, cause: Throwable? = null) :
    HostException(ErrorCode.HOST_TIMEOUT.code, ErrorCode.HOST_TIMEOUT.number, message, null, cause)

/** 3xx: keys and MACs (`key_check_failed`, `security`). Named so it does not clash with java.lang.SecurityException. */
open class PosSecurityException(code: String, number: Int, message: String, field: String? = null, cause: Throwable? = null) :
    PosException(code, number, message, field, cause)

/** 4xx: a device callback failed (`device`); the app's own exception is the [cause]. */
open class DeviceException(code: String, number: Int, message: String, field: String? = null, cause: Throwable? = null) :
    PosException(code, number, message, field, cause)

/** 5xx: storage and internal failures (`journal`, `internal`). */
open class InternalException(code: String, number: Int, message: String, field: String? = null, cause: Throwable? = null) :
    PosException(code, number, message, field, cause)
