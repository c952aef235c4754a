package com.possdk

/**
 * A security module of the app: the device's PIN pad, a secure element or the Android Keystore holds the
 * terminal's keys instead of the SDK. Without one, the SDK keeps the keys itself (in memory, sealed at rest
 * under `PosConfig.sealKey`).
 *
 * The methods mirror the core's security module (possdk-core `security::SecurityModule`) one to one. Keys
 * never arrive in clear: the TMK comes encrypted under the transport key the module made itself, and the
 * working keys (PIK, MAK, TDK) come encrypted under the TMK, each with its check value (the first bytes of
 * TDES(key, 8 zero bytes), or SM4(key, 16 zero bytes) in the SM family; hosts send 3 or more of them). A module
 * answers only with check values, PIN blocks, MACs and encrypted track blocks.
 *
 * A module works in one [keyFamily] (docs/PROTOCOL.md §11), which must be the config's `key_family`: [KeyFamily.TDES]
 * (RSA transport, TDES keys, CUP-ECB MAC, 8-byte PIN and track blocks) or [KeyFamily.SM] (SM2 transport, SM4
 * keys, CUP-SM4 MAC, 16-byte PIN and track blocks).
 *
 * Every method runs on the thread that called the [PosTerminal] operation. Arrays passed in are wiped (filled
 * with zeros) when the method returns: copy what you keep. Throw [SecurityModuleException] for the failures
 * the terminal acts on (a check value that does not match, a key that is missing, no master-key download in
 * progress); any other exception fails the operation with a [PosSecurityException] (`security`) whose cause
 * is the exception thrown.
 */
interface SecurityModule {
    /** The key family of the module's keys; TDES unless the module says otherwise. */
    val keyFamily: KeyFamily
        get() = KeyFamily.TDES

    /**
     * Start a master-key download: generate a random 16-byte transport key R, and return R encrypted to the
     * host's key with R's 4-byte check value: with PKCS#1 v1.5 padding to an RSA key (TDES family), or as
     * SM2 C1 ‖ C3 ‖ C2 to an SM2 key ([HostPublicKey.sm2PublicKey], SM family).
     */
    fun beginTmkDownload(hostKey: HostPublicKey): TmkTransport

    /**
     * Decrypt the TMK under R (TDES-ECB, or SM4-ECB in the SM family), verify its [checkValue], and keep it as the *pending* TMK (not used
     * until [activateTmk]). R is single use. Returns the TMK's 4-byte check value.
     */
    fun receiveTmk(encryptedTmk: ByteArray, checkValue: ByteArray): ByteArray

    /** The host approved the new master key: the pending TMK becomes the TMK, and the working keys are cleared. */
    fun activateTmk()

    /** Install PIK, MAK and TDK (each TDES-ECB or SM4-ECB under the TMK) after verifying every check value: all or none. */
    fun installWorkingKeys(pik: EncryptedKey, mak: EncryptedKey, tdk: EncryptedKey)

    fun hasKey(slot: KeySlot): Boolean

    /** The slot's 4-byte check value, or null when the slot is empty. */
    fun checkValue(slot: KeySlot): ByteArray?

    /**
     * The format-0 PIN block of [pin] (ASCII digits) and [pan], encrypted under the PIK: 8 bytes (TDES, ISO 9564)
     * or 16 bytes (SM4, docs/PROTOCOL.md §11).
     */
    fun pinBlock(pin: CharArray, pan: String): ByteArray

    /** The MAC of [data] under the MAK, 8 bytes: CUP-ECB's ASCII characters, or CUP-SM4's binary bytes. */
    fun mac(data: ByteArray): ByteArray

    /** One track block under the TDK: TDES-ECB of 8 bytes, or SM4-ECB of 16 bytes. */
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

/** The key families (docs/PROTOCOL.md §11). [number] is the family's number on the native side (as in the C API). */
enum class KeyFamily(val number: Int, val wire: String) {
    TDES(0, "tdes"), SM(1, "sm");

    companion object {
        @JvmStatic
        fun fromWire(s: String): KeyFamily? = values().firstOrNull { it.wire == s }
    }
}

/**
 * The host's key for the master-key download: an RSA key (big-endian [modulus] and [exponent]; TDES family), or
 * an SM2 key ([sm2PublicKey], the 65-byte `04 ‖ X ‖ Y`, with empty modulus and exponent; SM family).
 */
class HostPublicKey @JvmOverloads constructor(
    val modulus: ByteArray,
    val exponent: ByteArray,
    val sm2PublicKey: ByteArray? = null
) {
    val keyFamily: KeyFamily
        get() = if (sm2PublicKey != null) KeyFamily.SM else KeyFamily.TDES

    override fun toString() =
        if (sm2PublicKey != null) "HostPublicKey(SM2)" else "HostPublicKey(${modulus.size * 8} bits)"

    companion object {
        /** An SM2 host key. */
        @JvmStatic
        fun sm2(publicKey: ByteArray) = HostPublicKey(ByteArray(0), ByteArray(0), publicKey)
    }
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
