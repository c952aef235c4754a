package com.possdk

/**
 * Where the terminal's seal key comes from: 32 bytes that seal the keys and PANs the SDK keeps at rest (its key
 * store and journal). A production terminal needs one the platform holds, so that copying the app's files off the
 * device does not open them; without one the SDK derives a key from the terminal id and serial number, which only
 * obfuscates and is meant for simulators (`PosConfig.production = true` refuses to start that way).
 *
 * On Android, [KeystoreSealKeyProvider] (compiled only into the Android library) keeps the key wrapped by a
 * non-exportable Android Keystore key. Give the provider to [PosTerminal]; it puts the key into the configuration
 * as `seal_key` and wipes the array.
 *
 * [sealKey] must return the same 32 bytes every time for the same terminal (a different key cannot open what the
 * previous one sealed) and a fresh array the caller may wipe.
 */
interface SealKeyProvider {
    fun sealKey(): ByteArray
}

/** Length of a seal key in bytes. */
const val SEAL_KEY_LENGTH = 32

/**
 * [configJson] with `seal_key` set from [provider] (hex), replacing any `seal_key` it had; unchanged when
 * [provider] is null or the text is not a JSON object (the native side then reports the JSON error). The key array
 * is wiped; the hex text lives in an immutable String until it is collected, which the JSON configuration cannot
 * avoid.
 */
internal fun withSealKey(configJson: String, provider: SealKeyProvider?): String {
    if (provider == null) return configJson
    val obj = try {
        org.json.JSONObject(configJson)
    } catch (e: org.json.JSONException) {
        return configJson
    }
    val key = try {
        provider.sealKey()
    } catch (e: Exception) {
        throw ErrorCode.INVALID_REQUEST.exception("the seal key provider failed: ${e.javaClass.simpleName}", "seal_key", e)
    }
    try {
        if (key.size != SEAL_KEY_LENGTH) {
            throw ErrorCode.INVALID_REQUEST.exception(
                "the seal key provider gave ${key.size} bytes, not $SEAL_KEY_LENGTH", "seal_key"
            )
        }
        return obj.put("seal_key", hex(key)).toString()
    } finally {
        key.fill(0)
    }
}
