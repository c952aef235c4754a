package com.possdk

/**
 * A security module of the app: the device's PIN pad, a secure element or the Android Keystore holds the
 * terminal's keys instead of the SDK. Without one, the SDK keeps the keys itself (in memory, sealed at rest
 * under `PosConfig.sealKey`).
 *
 * The methods mirror the core's security module (possdk-core `security::SecurityModule`) one to one. Keys
 * never arrive in clear: the TMK comes encrypted under the transport key the module made itself, and the
 * working keys (PIK, MAK, TDK) come encrypted under the TMK, each with its check value (the first bytes of
 * TDES(key, 8 zero bytes); hosts send 3 to 8 of them). A module answers only with check values, PIN blocks,
 * MACs and encrypted track blocks.
 *
 * Every method runs on the thread that called the [PosTerminal] operation. Arrays passed in are wiped (filled
 * with zeros) when the method returns: copy what you keep. Throw [SecurityModuleException] for the failures
 * the terminal acts on (a check value that does not match, a key that is missing, no master-key download in
 * progress); any other exception fails the operation with a [PosSecurityException] (`security`) whose cause
 * is the exception thrown.
 */
interface SecurityModule {
    /**
     * Start a master-key download: generate a random double-length transport key R (16 bytes), and return R
     * encrypted to the host's RSA key with PKCS#1 v1.5 padding, with R's 4-byte check value.
     */
    fun beginTmkDownload(hostKey: HostPublicKey): TmkTransport

    /**
     * Decrypt the TMK under R (TDES-ECB), verify its [checkValue], and keep it as the *pending* TMK (not used
     * until [activateTmk]). R is single use. Returns the TMK's 4-byte check value.
     */
    fun receiveTmk(encryptedTmk: ByteArray, checkValue: ByteArray): ByteArray

    /** The host approved the new master key: the pending TMK becomes the TMK, and the working keys are cleared. */
    fun activateTmk()

    /** Install PIK, MAK and TDK (each TDES-ECB under the TMK) after verifying every check value: all or none. */
    fun installWorkingKeys(pik: EncryptedKey, mak: EncryptedKey, tdk: EncryptedKey)

    fun hasKey(slot: KeySlot): Boolean

    /** The slot's 4-byte check value, or null when the slot is empty. */
    fun checkValue(slot: KeySlot): ByteArray?

    /** The ISO 9564 format-0 PIN block of [pin] (ASCII digits) and [pan], encrypted under the PIK: 8 bytes. */
    fun pinBlock(pin: CharArray, pan: String): ByteArray

    /** The CUP-ECB MAC of [data] under the MAK: the 8 ASCII characters of field 64. */
    fun mac(data: ByteArray): ByteArray

    /** TDES-ECB of one 8-byte track block under the TDK. */
    fun encryptTrackBlock(block: ByteArray): ByteArray

    /** Forget PIK, MAK and TDK (the terminal must sign in again). */
    fun clearWorkingKeys()
}

/** The terminal's key slots. [number] is the slot's number on the native side (as in the C API). */
enum class KeySlot(val number: Int) {
    TMK(0), PIK(1), MAK(2), TDK(3);

    companion object {
        @JvmStatic
        fun fromNumber(n: Int): KeySlot? = values().firstOrNull { it.number == n }
    }
}

/** The host's RSA key for the master-key download: big-endian modulus and public exponent. */
class HostPublicKey(val modulus: ByteArray, val exponent: ByteArray) {
    override fun toString() = "HostPublicKey(${modulus.size * 8} bits)"
}

/** What [SecurityModule.beginTmkDownload] returns: RSA(host key, R) and R's 4-byte check value. */
class TmkTransport(val encryptedKey: ByteArray, val checkValue: ByteArray) {
    override fun toString() = "TmkTransport(${encryptedKey.size} bytes)"
}

/** A working key as the sign-in response carries it: 16 bytes under the TMK, and its check value. */
class EncryptedKey(val encrypted: ByteArray, val checkValue: ByteArray) {
    override fun toString() = "EncryptedKey(<hidden>)"
}

/**
 * The failures of a [SecurityModule] that the terminal acts on. [slot] is the key concerned (null: the slot of
 * the operation). A missing TMK makes the operation fail with `not_activated`, a missing working key with
 * `not_signed_in`, a check value that does not match with `key_check_failed`.
 */
class SecurityModuleException @JvmOverloads constructor(
    val reason: Reason,
    val slot: KeySlot? = null,
    message: String = reason.name + (if (slot != null) " ($slot)" else "")
) : Exception(message) {
    /** [number] is the reason's number on the native side. */
    enum class Reason(val number: Int) {
        KEY_CHECK_FAILED(1), MISSING_KEY(2), NO_TRANSPORT_KEY(3)
    }
}
