// The Android seal key provider. Compiled only by the Android build (it needs android.jar, which the host-JVM test
// does not have); see possdk/build.gradle.kts.
package com.possdk

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.io.File
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * A [SealKeyProvider] backed by the Android Keystore.
 *
 * The seal key is 32 random bytes made on first use. It is stored wrapped: AES-256-GCM under a key that lives in
 * the `AndroidKeyStore` (generated there, non-exportable, usable only for encrypt and decrypt in GCM without
 * padding), so the app's files alone do not give it away. The wrapped blob and its IV are kept in [file], by
 * default in `noBackupFilesDir` so that neither a cloud backup nor a device transfer carries it to a device whose
 * Keystore cannot open it.
 *
 * If the Keystore key is gone while the blob remains (the user cleared credentials, the Keystore was reset),
 * [sealKey] throws [IllegalStateException]: what the old key sealed cannot be opened, and the terminal must be
 * provisioned again after the app deletes [file] and the SDK's journal and key store.
 */
class KeystoreSealKeyProvider @JvmOverloads constructor(
    context: Context,
    private val alias: String = DEFAULT_ALIAS,
    private val file: File = File(context.noBackupFilesDir, DEFAULT_FILE)
) : SealKeyProvider {

    override fun sealKey(): ByteArray = synchronized(LOCK) {
        val store = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        val wrapping = store.getKey(alias, null) as SecretKey?
        when {
            wrapping != null && file.isFile -> unwrap(wrapping, file.readBytes())
            wrapping == null && file.isFile -> throw IllegalStateException(
                "the Keystore key '$alias' that wraps the seal key is gone: the stored terminal data cannot be opened"
            )
            else -> create(wrapping ?: generateWrappingKey())
        }
    }

    /** A new random seal key, stored wrapped under [wrapping]. */
    private fun create(wrapping: SecretKey): ByteArray {
        val key = ByteArray(SEAL_KEY_LENGTH).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        // The Keystore chooses the IV (randomised encryption is required for its keys).
        cipher.init(Cipher.ENCRYPT_MODE, wrapping)
        cipher.updateAAD(aad())
        val sealed = cipher.doFinal(key)
        val iv = cipher.iv
        // Format: version (1), IV length (1), IV, AES-GCM(key) with its 16-byte tag.
        val blob = ByteArray(2 + iv.size + sealed.size)
        blob[0] = FORMAT_VERSION
        blob[1] = iv.size.toByte()
        System.arraycopy(iv, 0, blob, 2, iv.size)
        System.arraycopy(sealed, 0, blob, 2 + iv.size, sealed.size)
        // Write a temporary file and rename it, so a crash never leaves a half-written blob.
        file.parentFile?.mkdirs()
        val tmp = File(file.path + ".tmp")
        tmp.writeBytes(blob)
        if (!tmp.renameTo(file)) {
            tmp.delete()
            key.fill(0)
            throw IllegalStateException("cannot store the wrapped seal key in ${file.path}")
        }
        return key
    }

    private fun unwrap(wrapping: SecretKey, blob: ByteArray): ByteArray {
        val ivLength = if (blob.size > 2) blob[1].toInt() and 0xff else 0
        if (blob.size < 2 || blob[0] != FORMAT_VERSION || ivLength == 0 ||
            blob.size != 2 + ivLength + SEAL_KEY_LENGTH + TAG_BYTES
        ) {
            throw IllegalStateException("${file.path} is not a wrapped seal key")
        }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, wrapping, GCMParameterSpec(TAG_BYTES * 8, blob, 2, ivLength))
        cipher.updateAAD(aad())
        // A tag that does not verify throws AEADBadTagException: the blob was altered or belongs to another key.
        return cipher.doFinal(blob, 2 + ivLength, blob.size - 2 - ivLength)
    }

    private fun generateWrappingKey(): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
            .build()
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(spec)
        return generator.generateKey()
    }

    /** The blob is bound to its alias: a blob copied under another alias does not open. */
    private fun aad(): ByteArray = "possdk-seal-key:$alias".toByteArray(Charsets.UTF_8)

    override fun toString() = "KeystoreSealKeyProvider(alias=$alias, file=${file.path})"

    companion object {
        const val DEFAULT_ALIAS = "possdk-seal-key-wrap"
        const val DEFAULT_FILE = "possdk-seal-key.bin"
        private const val KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val TAG_BYTES = 16
        private const val FORMAT_VERSION: Byte = 1
        /** One process-wide lock: two providers must not both create a key for the same file. */
        private val LOCK = Any()
    }
}
