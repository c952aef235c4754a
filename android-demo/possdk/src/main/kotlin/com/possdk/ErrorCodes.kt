// Generated from possdk-core's ErrorKind::ALL by ffi-jni/tests/kotlin_api.rs: do not edit. Regenerate
// with POSSDK_UPDATE_KOTLIN=1 cargo test -p possdk-jni --test kotlin_api
package com.possdk

/**
 * Every error of the core: its stable [code] (the JSON API's), its stable [number] (the C API's) and the
 * [PosException] subclass it is thrown as ([exceptionClass]).
 */
enum class ErrorCode(val code: String, val number: Int, val exceptionClass: Class<out PosException>) {
    INVALID_JSON("invalid_json", 100, RequestException::class.java),
    INVALID_REQUEST("invalid_request", 101, RequestException::class.java),
    NOT_ACTIVATED("not_activated", 102, RequestException::class.java),
    NOT_SIGNED_IN("not_signed_in", 103, RequestException::class.java),
    ORIGINAL_NOT_FOUND("original_not_found", 104, RequestException::class.java),
    INVALID_STATE("invalid_state", 105, RequestException::class.java),
    CANCELLED("cancelled", 106, CancelledException::class.java),
    HOST_UNREACHABLE("host_unreachable", 200, HostException::class.java),
    HOST_TIMEOUT("host_timeout", 201, HostTimeoutException::class.java),
    INVALID_RESPONSE("invalid_response", 202, HostException::class.java),
    HOST_REJECTED("host_rejected", 203, HostException::class.java),
    KEY_CHECK_FAILED("key_check_failed", 300, PosSecurityException::class.java),
    SECURITY("security", 301, PosSecurityException::class.java),
    DEVICE("device", 400, DeviceException::class.java),
    JOURNAL("journal", 500, InternalException::class.java),
    INTERNAL("internal", 501, InternalException::class.java);

    /** The exception this error is thrown as. */
    fun exception(message: String, field: String? = null, cause: Throwable? = null): PosException =
        when (this) {
            INVALID_JSON, INVALID_REQUEST, NOT_ACTIVATED, NOT_SIGNED_IN, ORIGINAL_NOT_FOUND, INVALID_STATE -> RequestException(code, number, message, field, cause)
            CANCELLED -> CancelledException(message, cause)
            HOST_UNREACHABLE, INVALID_RESPONSE, HOST_REJECTED -> HostException(code, number, message, field, cause)
            HOST_TIMEOUT -> HostTimeoutException(message, cause)
            KEY_CHECK_FAILED, SECURITY -> PosSecurityException(code, number, message, field, cause)
            DEVICE -> DeviceException(code, number, message, field, cause)
            JOURNAL, INTERNAL -> InternalException(code, number, message, field, cause)
        }

    companion object {
        /** The error of a code; null for a code this version does not know. */
        @JvmStatic
        fun fromCode(code: String): ErrorCode? = values().firstOrNull { it.code == code }
    }
}
