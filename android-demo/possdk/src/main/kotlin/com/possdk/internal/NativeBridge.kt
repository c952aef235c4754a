package com.possdk.internal

/**
 * The natives of `libpossdk_jni` (ffi-jni/src/lib.rs). Not API: use [com.possdk.PosTerminal].
 * Every function throws a [com.possdk.PosException] on failure (including a panic on the native side).
 */
object NativeBridge {
    init {
        System.loadLibrary("possdk_jni")
    }

    /** A new terminal handle (never 0). */
    @JvmStatic
    external fun create(configJson: String, bridge: CallbackBridge?): Long

    /** The result JSON of one request (`{"op": ...}`, JSON-API.md). */
    @JvmStatic
    external fun call(handle: Long, requestJson: String): String

    /** Cancel the operation in flight on [handle]; a no-op for a closed handle. Any thread. */
    @JvmStatic
    external fun cancel(handle: Long)

    /** Close [handle]: true if this call closed it, false if it was already closed. Waits for calls in flight. */
    @JvmStatic
    external fun close(handle: Long): Boolean

    @JvmStatic
    external fun version(): String

    /** Terminals open in this process (leak checks). */
    @JvmStatic
    external fun liveTerminals(): Int
}
