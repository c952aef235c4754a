// JVM test harness for the JNI bridge: a terminal day through PosTerminal with Kotlin device callbacks, a
// Kotlin security module holding the keys and a Kotlin DeviceInfo giving the serial number, then the failure
// paths (a callback that throws, a security module that throws, cancel() from another thread, close() with a
// call in flight, close() twice, a call after close); then an SM-family day (docs/PROTOCOL.md §11) with a Kotlin
// SM security module on BouncyCastle's SM2 and SM4. Run by ffi-jni/tests/jvm_day.rs; args: <host address>
// <work dir> <tests/vectors/crypto.json> [<SM-family host address>]. Prints one line per check and
// "N passed, M failed" last; exits 1 on any failure.
package possdk.jvmtest

import com.possdk.AidParams
import com.possdk.CancelledException
import com.possdk.Capk
import com.possdk.CardData
import com.possdk.CardReader
import com.possdk.CardRequest
import com.possdk.ChipCompletion
import com.possdk.ChipOutcome
import com.possdk.DeviceException
import com.possdk.DeviceInfo
import com.possdk.EncryptedKey
import com.possdk.Endpoint
import com.possdk.ErrorCode
import com.possdk.HostException
import com.possdk.HostPublicKey
import com.possdk.HostTimeoutException
import com.possdk.KeyFamily
import com.possdk.KeySlot
import com.possdk.Outcome
import com.possdk.EntryMode
import com.possdk.EventListener
import com.possdk.OriginalRef
import com.possdk.Payment
import com.possdk.PinEntry
import com.possdk.PinPad
import com.possdk.PinRequest
import com.possdk.PosConfig
import com.possdk.PosEvent
import com.possdk.PosException
import com.possdk.PosSecurityException
import com.possdk.PosTerminal
import com.possdk.QrRequest
import com.possdk.QrScanner
import com.possdk.QrDisplay
import com.possdk.QrShow
import com.possdk.RequestException
import com.possdk.SealKeyProvider
import com.possdk.SecurityModule
import com.possdk.SecurityModuleException
import com.possdk.TmkTransport
import com.possdk.TransactionResult
import com.possdk.internal.CallbackBridge
import com.possdk.internal.NativeBridge
import com.possdk.Printer
import com.possdk.Slip
import com.possdk.SlipAlign
import com.possdk.SlipCopy
import com.possdk.SlipLine
import com.possdk.SignatureImage
import com.possdk.SignaturePad
import com.possdk.SignatureRequest
import java.io.File
import java.math.BigInteger
import java.security.KeyFactory
import java.security.SecureRandom
import java.security.spec.RSAPublicKeySpec
import java.util.Arrays
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
import javax.crypto.Cipher
import javax.crypto.spec.SecretKeySpec
import org.bouncycastle.asn1.gm.GMNamedCurves
import org.bouncycastle.crypto.engines.SM2Engine
import org.bouncycastle.crypto.engines.SM4Engine
import org.bouncycastle.crypto.params.ECDomainParameters
import org.bouncycastle.crypto.params.ECPublicKeyParameters
import org.bouncycastle.crypto.params.KeyParameter
import org.bouncycastle.crypto.params.ParametersWithRandom
import org.json.JSONObject
import kotlin.system.exitProcess

/** A simulated card reader: swipes the test card, or throws, or waits until cancelled, as told. */
class SimCardReader : CardReader {
    enum class Mode { SWIPE, THROW, BLOCK }

    @Volatile var mode = Mode.SWIPE
    @Volatile var pan = "6225880123456789"
    @Volatile var expiry = "3012"
    /** Counted down when a BLOCK read starts waiting. */
    @Volatile var waiting = CountDownLatch(1)
    @Volatile var reads = 0

    override fun readCard(request: CardRequest): CardData {
        reads++
        when (mode) {
            Mode.THROW -> throw IllegalStateException("card reader jammed (simulated)")
            Mode.BLOCK -> {
                waiting.countDown()
                val deadline = System.currentTimeMillis() + 20_000
                while (!request.isCancelled()) {
                    if (System.currentTimeMillis() > deadline) throw java.util.concurrent.TimeoutException("no card")
                    Thread.sleep(10)
                }
                throw CancelledException("card wait cancelled")
            }
            Mode.SWIPE -> return CardData(EntryMode.SWIPE, track2 = "${pan}D${expiry}1010000000000")
        }
    }

    override fun completeChip(completion: ChipCompletion): ChipOutcome =
        ChipOutcome(completion.hostAnswered && completion.responseCode == "00")

    @Volatile var aids: List<AidParams> = emptyList()
    @Volatile var capks: List<Capk> = emptyList()

    override fun loadEmvParameters(aids: List<AidParams>, capks: List<Capk>) {
        // The core loads the whole set after each download; keep the latest of each.
        if (aids.isNotEmpty()) this.aids = aids
        if (capks.isNotEmpty()) this.capks = capks
    }
}

class SimPinPad : PinPad {
    @Volatile var pin = "123456"
    @Volatile var asked = 0
    override fun getPin(request: PinRequest): PinEntry {
        asked++
        check(request.maskedPan.contains("*")) { "masked PAN is not masked" }
        return PinEntry.Clear(pin.toCharArray())
    }
}

/** Signs with a 128 x 32 diagonal stroke. */
class SimSignaturePad : SignaturePad {
    @Volatile var taken = 0
    override fun capture(request: SignatureRequest): SignatureImage {
        val stride = 16
        val bits = ByteArray(stride * 32)
        for (x in 4 until 124) {
            val y = (x / 4) % 32
            bits[y * stride + x / 8] = (bits[y * stride + x / 8].toInt() or (0x80 ushr (x % 8))).toByte()
        }
        taken++
        return SignatureImage(128, 32, bits)
    }
}

/** Keeps every slip it is given. */
class SimPrinter : Printer {
    val slips: MutableList<Slip> = Collections.synchronizedList(ArrayList())
    override fun print(slip: Slip) {
        slips.add(slip)
    }
}

class SimQrScanner : QrScanner {
    @Volatile var code = "134567890123456789"
    override fun scan(request: QrRequest): String = code
}

class SimQrDisplay : QrDisplay {
    val shown: MutableList<QrShow> = Collections.synchronizedList(ArrayList())
    @Volatile var cleared = 0
    override fun showQr(show: QrShow) {
        shown.add(show)
    }
    override fun clearQr() {
        cleared++
    }
}

class Recorder : EventListener {
    val events: MutableList<PosEvent> = Collections.synchronizedList(ArrayList())
    @Volatile var explode = false
    override fun onEvent(event: PosEvent) {
        events.add(event)
        if (explode) throw RuntimeException("listener bug (simulated)")
    }
}

/**
 * The crypto of a software security module in Kotlin: TDES through javax.crypto ("DESede/ECB/NoPadding"),
 * check values, ISO 9564 format-0 PIN blocks and the CUP-ECB MAC (docs/PROTOCOL.md §7). Checked against
 * tests/vectors/crypto.json before the day uses it.
 */
object SoftCrypto {
    /** TDES-ECB with a single (K), double (K1K2) or triple-length key; the JCE wants all 24 bytes. */
    fun tdes(key: ByteArray, mode: Int, data: ByteArray): ByteArray {
        require((key.size == 8 || key.size == 16 || key.size == 24) && data.size % 8 == 0) { "TDES: bad key or data length" }
        val k = ByteArray(24)
        for (i in 0 until 24) k[i] = key[i % key.size]
        try {
            val c = Cipher.getInstance("DESede/ECB/NoPadding")
            c.init(mode, SecretKeySpec(k, "DESede"))
            return c.doFinal(data)
        } finally {
            Arrays.fill(k, 0)
        }
    }

    fun encrypt(key: ByteArray, data: ByteArray) = tdes(key, Cipher.ENCRYPT_MODE, data)
    fun decrypt(key: ByteArray, data: ByteArray) = tdes(key, Cipher.DECRYPT_MODE, data)
    fun checkBlock(key: ByteArray) = encrypt(key, ByteArray(8))
    fun kcv(key: ByteArray) = checkBlock(key).copyOf(4)

    /** Format 0: (0, length, digits, F padding) XOR (0000, 12 right-most PAN digits without the check digit). */
    fun iso0Clear(pin: CharArray, pan: String): ByteArray {
        require(pin.size in 4..12 && pin.all { it in '0'..'9' }) { "PIN format" }
        require(pan.length in 13..19 && pan.all { it in '0'..'9' }) { "PAN format" }
        val nibbles = IntArray(16) { 0xF }
        nibbles[0] = 0
        nibbles[1] = pin.size
        for (i in pin.indices) nibbles[2 + i] = pin[i] - '0'
        val panDigits = pan.substring(pan.length - 13, pan.length - 1)
        val panNibbles = IntArray(16)
        for (i in 0 until 12) panNibbles[4 + i] = panDigits[i] - '0'
        val block = ByteArray(8) {
            (((nibbles[2 * it] shl 4) or nibbles[2 * it + 1]) xor ((panNibbles[2 * it] shl 4) or panNibbles[2 * it + 1])).toByte()
        }
        Arrays.fill(nibbles, 0)
        return block
    }

    fun pinBlock(pik: ByteArray, pin: CharArray, pan: String): ByteArray {
        val clear = iso0Clear(pin, pan)
        try {
            return encrypt(pik, clear)
        } finally {
            Arrays.fill(clear, 0)
        }
    }

    /** XOR of the zero-padded 8-byte blocks as 16 hex characters; E(left 8) XOR right 8; E again; 8 hex characters. */
    fun cupEcb(mak: ByteArray, data: ByteArray): ByteArray {
        val x = ByteArray(8)
        for (i in data.indices) x[i % 8] = (x[i % 8].toInt() xor data[i].toInt()).toByte()
        val hex = hex(x).toByteArray(Charsets.US_ASCII)
        val enc1 = encrypt(mak, hex.copyOfRange(0, 8))
        for (i in 0 until 8) enc1[i] = (enc1[i].toInt() xor hex[8 + i].toInt()).toByte()
        return hex(encrypt(mak, enc1)).substring(0, 8).toByteArray(Charsets.US_ASCII)
    }
}

/**
 * The key store both Kotlin test modules share, as an app would put one in front of its keystore: the slots,
 * the transport key and pending TMK of the master-key download, check-value verification on every unwrap,
 * and call counts so the test can see the core used it. Keys live in this object only. The family's
 * algorithms (unwrap, check block) come from the subclass.
 */
abstract class KotlinKeyStore : SecurityModule {
    private val keys = HashMap<KeySlot, ByteArray>()
    private var transportKey: ByteArray? = null
    private var pendingTmk: ByteArray? = null
    val calls: MutableMap<String, Int> = Collections.synchronizedMap(HashMap())

    /** Decrypt a key block under [kek] in the family's cipher. */
    protected abstract fun decrypt(kek: ByteArray, data: ByteArray): ByteArray

    /** The family's check block of a key (its first bytes are the check value). */
    protected abstract fun checkBlock(key: ByteArray): ByteArray

    protected fun kcv(key: ByteArray): ByteArray = checkBlock(key).copyOf(4)

    protected fun count(name: String) {
        synchronized(calls) { calls[name] = (calls[name] ?: 0) + 1 }
    }

    fun calls(name: String): Int = calls[name] ?: 0

    /** Decrypt a 16-byte key under [kek] and verify its check value (3 bytes up to the whole check block). */
    private fun unwrap(kek: ByteArray, encrypted: ByteArray, checkValue: ByteArray, slot: KeySlot): ByteArray {
        require(encrypted.size == 16) { "$slot: ${encrypted.size} bytes" }
        val key = decrypt(kek, encrypted)
        val block = checkBlock(key)
        if (checkValue.size !in 3..block.size || (checkValue.indices).any { block[it] != checkValue[it] }) {
            Arrays.fill(key, 0)
            throw SecurityModuleException(SecurityModuleException.Reason.KEY_CHECK_FAILED, slot)
        }
        return key
    }

    protected fun key(slot: KeySlot): ByteArray =
        keys[slot] ?: throw SecurityModuleException(SecurityModuleException.Reason.MISSING_KEY, slot)

    /** A fresh random transport key R for a master-key download; a TMK still pending is forgotten. */
    protected fun newTransportKey(): ByteArray {
        val r = ByteArray(16)
        SecureRandom().nextBytes(r)
        transportKey = r
        pendingTmk = null
        return r
    }

    @Synchronized
    override fun receiveTmk(encryptedTmk: ByteArray, checkValue: ByteArray): ByteArray {
        count("receiveTmk")
        val r = transportKey ?: throw SecurityModuleException(SecurityModuleException.Reason.NO_TRANSPORT_KEY)
        transportKey = null
        try {
            val tmk = unwrap(r, encryptedTmk, checkValue, KeySlot.TMK)
            pendingTmk = tmk
            return kcv(tmk)
        } finally {
            Arrays.fill(r, 0)
        }
    }

    @Synchronized
    override fun activateTmk() {
        count("activateTmk")
        val tmk = pendingTmk ?: throw SecurityModuleException(SecurityModuleException.Reason.NO_TRANSPORT_KEY)
        pendingTmk = null
        for (k in keys.values) Arrays.fill(k, 0)
        keys.clear()
        keys[KeySlot.TMK] = tmk
    }

    @Synchronized
    override fun installWorkingKeys(pik: EncryptedKey, mak: EncryptedKey, tdk: EncryptedKey) {
        count("installWorkingKeys")
        val tmk = key(KeySlot.TMK)
        val p = unwrap(tmk, pik.encrypted, pik.checkValue, KeySlot.PIK)
        val m = unwrap(tmk, mak.encrypted, mak.checkValue, KeySlot.MAK)
        val t = unwrap(tmk, tdk.encrypted, tdk.checkValue, KeySlot.TDK)
        keys[KeySlot.PIK] = p
        keys[KeySlot.MAK] = m
        keys[KeySlot.TDK] = t
    }

    @Synchronized
    override fun hasKey(slot: KeySlot): Boolean = keys.containsKey(slot)

    @Synchronized
    override fun checkValue(slot: KeySlot): ByteArray? = keys[slot]?.let { kcv(it) }

    @Synchronized
    override fun clearWorkingKeys() {
        count("clearWorkingKeys")
        for (slot in listOf(KeySlot.PIK, KeySlot.MAK, KeySlot.TDK)) keys.remove(slot)?.let { Arrays.fill(it, 0) }
    }
}

/**
 * A TDES security module in Kotlin on [SoftCrypto], with RSA-PKCS#1 v1.5 for the transport key.
 */
class KotlinSecurityModule : KotlinKeyStore() {
    @Volatile var failMac = false

    override fun decrypt(kek: ByteArray, data: ByteArray): ByteArray = SoftCrypto.decrypt(kek, data)

    override fun checkBlock(key: ByteArray): ByteArray = SoftCrypto.checkBlock(key)

    @Synchronized
    override fun beginTmkDownload(hostKey: HostPublicKey): TmkTransport {
        count("beginTmkDownload")
        val pub = KeyFactory.getInstance("RSA")
            .generatePublic(RSAPublicKeySpec(BigInteger(1, hostKey.modulus), BigInteger(1, hostKey.exponent)))
        val rsa = Cipher.getInstance("RSA/ECB/PKCS1Padding")
        rsa.init(Cipher.ENCRYPT_MODE, pub)
        val r = newTransportKey()
        return TmkTransport(rsa.doFinal(r), kcv(r))
    }

    @Synchronized
    override fun pinBlock(pin: CharArray, pan: String): ByteArray {
        count("pinBlock")
        return SoftCrypto.pinBlock(key(KeySlot.PIK), pin, pan)
    }

    @Synchronized
    override fun mac(data: ByteArray): ByteArray {
        count("mac")
        if (failMac) throw IllegalStateException("MAC engine offline (simulated)")
        return SoftCrypto.cupEcb(key(KeySlot.MAK), data)
    }

    @Synchronized
    override fun encryptTrackBlock(block: ByteArray): ByteArray {
        count("encryptTrackBlock")
        return SoftCrypto.encrypt(key(KeySlot.TDK), block)
    }
}

/**
 * The SM family's payment layouts (docs/PROTOCOL.md §11) in Kotlin, on BouncyCastle's SM4: check values, the
 * 16-byte PIN block and the CUP-SM4 MAC. Checked against tests/vectors/sm.json before the SM day uses it.
 */
object SmCrypto {
    fun sm4(key: ByteArray, encrypt: Boolean, data: ByteArray): ByteArray {
        require(key.size == 16 && data.size % 16 == 0) { "SM4: bad key or data length" }
        val e = SM4Engine()
        e.init(encrypt, KeyParameter(key))
        val out = ByteArray(data.size)
        for (i in 0 until data.size step 16) e.processBlock(data, i, out, i)
        return out
    }

    fun encrypt(key: ByteArray, data: ByteArray) = sm4(key, true, data)
    fun decrypt(key: ByteArray, data: ByteArray) = sm4(key, false, data)
    fun checkBlock(key: ByteArray) = encrypt(key, ByteArray(16))
    fun kcv(key: ByteArray) = checkBlock(key).copyOf(4)

    /** `0` ‖ N ‖ PIN ‖ `F`… to 32 nibbles, XOR 20 zero nibbles ‖ the 12 right-most PAN digits without the check digit. */
    fun pinClear(pin: CharArray, pan: String): ByteArray {
        require(pin.size in 4..12 && pin.all { it in '0'..'9' }) { "PIN format" }
        require(pan.length in 13..19 && pan.all { it in '0'..'9' }) { "PAN format" }
        val nibbles = IntArray(32) { 0xF }
        nibbles[0] = 0
        nibbles[1] = pin.size
        for (i in pin.indices) nibbles[2 + i] = pin[i] - '0'
        val panDigits = pan.substring(pan.length - 13, pan.length - 1)
        val panNibbles = IntArray(32)
        for (i in 0 until 12) panNibbles[20 + i] = panDigits[i] - '0'
        val block = ByteArray(16) {
            (((nibbles[2 * it] shl 4) or nibbles[2 * it + 1]) xor ((panNibbles[2 * it] shl 4) or panNibbles[2 * it + 1])).toByte()
        }
        Arrays.fill(nibbles, 0)
        return block
    }

    fun pinBlock(pik: ByteArray, pin: CharArray, pan: String): ByteArray {
        val clear = pinClear(pin, pan)
        try {
            return encrypt(pik, clear)
        } finally {
            Arrays.fill(clear, 0)
        }
    }

    /** XOR of the zero-padded 16-byte blocks as 32 hex characters; E(left 16) XOR right 16; E again; first 8 bytes. */
    fun cupSm4(mak: ByteArray, data: ByteArray): ByteArray {
        val x = ByteArray(16)
        for (i in data.indices) x[i % 16] = (x[i % 16].toInt() xor data[i].toInt()).toByte()
        val hex = hex(x).toByteArray(Charsets.US_ASCII)
        val enc1 = encrypt(mak, hex.copyOfRange(0, 16))
        for (i in 0 until 16) enc1[i] = (enc1[i].toInt() xor hex[16 + i].toInt()).toByte()
        return encrypt(mak, enc1).copyOf(8)
    }

    /** SM2 encryption (GB/T 32918.4) of [data] to the 65-byte public key, C1 ‖ C3 ‖ C2, by BouncyCastle. */
    fun sm2Encrypt(publicKey: ByteArray, data: ByteArray): ByteArray {
        val curve = GMNamedCurves.getByName("sm2p256v1")
        val domain = ECDomainParameters(curve.curve, curve.g, curve.n, curve.h)
        val engine = SM2Engine(SM2Engine.Mode.C1C3C2)
        engine.init(true, ParametersWithRandom(ECPublicKeyParameters(curve.curve.decodePoint(publicKey), domain), SecureRandom()))
        return engine.processBlock(data, 0, data.size)
    }
}

/** The SM family's security module in Kotlin: SM2 transport, SM4 keys, 16-byte PIN and track blocks, CUP-SM4. */
class KotlinSmSecurityModule : KotlinKeyStore() {
    @Volatile var lastPinBlockSize = 0
    @Volatile var lastTrackBlockSize = 0

    override val keyFamily: KeyFamily
        get() = KeyFamily.SM

    override fun decrypt(kek: ByteArray, data: ByteArray): ByteArray = SmCrypto.decrypt(kek, data)

    override fun checkBlock(key: ByteArray): ByteArray = SmCrypto.checkBlock(key)

    @Synchronized
    override fun beginTmkDownload(hostKey: HostPublicKey): TmkTransport {
        count("beginTmkDownload")
        val point = hostKey.sm2PublicKey ?: throw IllegalArgumentException("an SM-family module needs an SM2 host key")
        val r = newTransportKey()
        return TmkTransport(SmCrypto.sm2Encrypt(point, r), kcv(r))
    }

    @Synchronized
    override fun pinBlock(pin: CharArray, pan: String): ByteArray {
        count("pinBlock")
        return SmCrypto.pinBlock(key(KeySlot.PIK), pin, pan).also { lastPinBlockSize = it.size }
    }

    @Synchronized
    override fun mac(data: ByteArray): ByteArray {
        count("mac")
        return SmCrypto.cupSm4(key(KeySlot.MAK), data)
    }

    @Synchronized
    override fun encryptTrackBlock(block: ByteArray): ByteArray {
        count("encryptTrackBlock")
        lastTrackBlockSize = block.size
        return SmCrypto.encrypt(key(KeySlot.TDK), block)
    }
}

/** The device's identity from Kotlin; [fail] makes it throw. */
class SimDeviceInfo(private val serial: String) : DeviceInfo {
    @Volatile var asked = 0
    @Volatile var fail = false
    override fun serialNumber(): String {
        asked++
        if (fail) throw IllegalStateException("no serial (simulated)")
        return serial
    }
    override fun model(): String = "jvm-test"
}

var passed = 0
var failed = 0

fun check(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (t: Throwable) {
        failed++
        println("FAIL $name: $t")
        t.printStackTrace(System.out)
    }
}

fun expect(cond: Boolean, what: () -> String) {
    if (!cond) throw AssertionError(what())
}

inline fun <reified T : Throwable> expectThrows(body: () -> Unit): T {
    try {
        body()
    } catch (t: Throwable) {
        if (t is T) return t
        throw AssertionError("expected ${T::class.java.simpleName}, got $t", t)
    }
    throw AssertionError("expected ${T::class.java.simpleName}, nothing thrown")
}

/** [serial] null: the serial number comes from a [DeviceInfo]. */
fun config(
    host: String,
    dir: File,
    name: String,
    serial: String? = "SN0001",
    encryptTracks: Boolean = false,
    production: Boolean = false,
    keyFamily: KeyFamily = KeyFamily.TDES
) = PosConfig(
    tid = "12345678",
    mid = "123456789012345",
    gateway = Endpoint(host, "6000030000"),
    platform = Endpoint(host, "6000050000"),
    journalPath = File(dir, "$name.db").path,
    connectTimeoutMs = 3_000,
    responseTimeoutMs = 10_000,
    deviceSerial = serial,
    deviceModel = "jvm-test",
    encryptTracks = encryptTracks,
    production = production,
    keyFamily = keyFamily
)

/** The same config with a profile given by name or path, or inline. */
fun PosConfig.copyWith(profile: String? = null, profileJson: String? = null) = PosConfig(
    tid, mid, gateway, platform, journalPath, connectTimeoutMs, responseTimeoutMs, reversalAttempts, maxTipPercent,
    hostKeySha256, deviceSerial, deviceModel, sealKey, encryptTracks, production, profile, profileJson
)

/**
 * The test's stand-in for KeystoreSealKeyProvider (which needs Android): a fixed key, a fresh copy per call, and
 * each copy kept so the test can check that PosTerminal wiped it.
 */
class FakeSealKeyProvider(private val key: ByteArray) : SealKeyProvider {
    var asked = 0
    val handedOut = mutableListOf<ByteArray>()
    override fun sealKey(): ByteArray {
        asked++
        return key.copyOf().also { handedOut.add(it) }
    }
}

fun hex(b: ByteArray): String {
    val digits = "0123456789ABCDEF"
    val sb = StringBuilder(b.size * 2)
    for (v in b) {
        val i = v.toInt() and 0xff
        sb.append(digits[i shr 4]).append(digits[i and 0xf])
    }
    return sb.toString()
}

fun unhex(s: String): ByteArray = ByteArray(s.length / 2) { Integer.parseInt(s.substring(2 * it, 2 * it + 2), 16).toByte() }

/** MMDD of a result's local date-time (`YYYY-MM-DDThh:mm:ss`). */
fun mmdd(r: TransactionResult) = r.datetime.substring(5, 7) + r.datetime.substring(8, 10)

/** The reference to an original pre-authorisation. */
fun original(r: TransactionResult) =
    OriginalRef(reference = r.reference, authCode = r.authCode, date = mmdd(r), batch = r.batch, stan = r.stan, voucher = r.voucher)

/** Run [body] on another thread; the returned reference holds its result or what it threw. */
fun inBackground(body: () -> Any?): Pair<Thread, AtomicReference<Any?>> {
    val out = AtomicReference<Any?>(null)
    val t = Thread {
        out.set(
            try {
                body()
            } catch (e: Throwable) {
                e
            }
        )
    }
    t.start()
    return Pair(t, out)
}

fun main(args: Array<String>) {
    if (args.size < 3) {
        System.err.println("usage: DayTest <host:port> <work dir> <tests/vectors/crypto.json>")
        exitProcess(2)
    }
    val host = args[0]
    val dir = File(args[1]).also { it.mkdirs() }

    check("the Kotlin security module's crypto gives the known answers of crypto.json") {
        val v = JSONObject(File(args[2]).readText())
        val kcvs = v.getJSONArray("kcv")
        for (i in 0 until kcvs.length()) {
            val k = kcvs.getJSONObject(i)
            expect(hex(SoftCrypto.checkBlock(unhex(k.getString("key")))) == k.getString("enc_zero_block")) { "kcv $i" }
        }
        val pb = v.getJSONObject("pinblock_iso0")
        val pik = unhex(pb.getString("pik"))
        val pin = pb.getString("pin").toCharArray()
        expect(hex(SoftCrypto.iso0Clear(pin, pb.getString("pan"))) == pb.getString("clear_block")) { "ISO-0 clear block" }
        expect(hex(SoftCrypto.pinBlock(pik, pin, pb.getString("pan"))) == pb.getString("encrypted_block")) { "ISO-0 block" }
        val extra = v.getJSONObject("pinblock_iso0_extra")
        expect(hex(SoftCrypto.pinBlock(pik, extra.getString("pin").toCharArray(), extra.getString("pan"))) ==
            extra.getString("encrypted_block")) { "ISO-0 block, 19-digit PAN" }
        val macs = v.getJSONArray("cup_ecb_mac")
        for (i in 0 until macs.length()) {
            val m = macs.getJSONObject(i)
            val mac = String(SoftCrypto.cupEcb(unhex(m.getString("mak")), unhex(m.getString("data"))), Charsets.US_ASCII)
            expect(mac == m.getString("mac_ascii")) { "CUP-ECB ${m.optString("label")}: $mac" }
        }
    }

    check("events parse with org.json; error codes map to their classes") {
        val done = CallbackBridge.parseEvent("""{"event":"done","approved":true,"response_code":"00"}""")
        expect(done == PosEvent.Done(true, "00")) { "parsed $done" }
        expect(CallbackBridge.parseEvent("""{"event":"reversing","stan":12}""") == PosEvent.Reversing(12)) { "reversing" }
        expect(CallbackBridge.parseEvent("""{"event":"new_thing"}""") == PosEvent.Other("new_thing")) { "unknown event" }
        for (e in ErrorCode.values()) {
            val x = PosException.create(e.code, e.number, "m", null, null)
            expect(x.javaClass == e.exceptionClass && x.code == e.code && x.number == e.number) { "$e made $x" }
        }
        expect(PosException.create("host_timeout", 201, "m", null, null) is HostTimeoutException) { "host_timeout" }
        expect(PosException.create("no_such_code", 999, "m", null, null).javaClass == PosException::class.java) { "unknown code" }
    }

    check("native library loads and reports its version") {
        expect(PosTerminal.version().isNotEmpty()) { "empty version" }
    }

    check("bad config is a typed RequestException, not a crash") {
        val e = expectThrows<PosException> { PosTerminal("{\"tid\": 5}") }
        expect(e is RequestException && (e.code == "invalid_json" || e.code == "invalid_request")) { "got $e" }
    }

    check("a DeviceInfo that throws: create fails with the exception as the cause") {
        val info = SimDeviceInfo("SN0001").apply { fail = true }
        val e = expectThrows<RequestException> {
            PosTerminal(config(host, dir, "noserial", serial = null), deviceInfo = info)
        }
        expect(e.code == "invalid_request" && e.field == "device.serial") { "got $e" }
        expect(e.cause is IllegalStateException) { "cause ${e.cause}" }
    }

    check("the DeviceInfo serial is the one the host sees at activation") {
        val info = SimDeviceInfo("SN9999")
        val t = PosTerminal(config(host, dir, "wrongserial", serial = null), deviceInfo = info)
        try {
            val e = expectThrows<HostException> { t.activate("TOKEN0001") }
            expect(e.code == "host_rejected") { "an unknown device must be refused: $e" }
        } finally {
            t.close()
        }
        expect(info.asked > 0) { "DeviceInfo not asked" }
    }

    check("the acquirer profile by name, by path and inline; status reports it; a bad one names the key") {
        val profiles = File(File(args[2]).absoluteFile.parentFile.parentFile.parentFile, "core/profiles")
        val byName = PosTerminal(config(host, dir, "profile-name").copyWith(profile = "ascii"))
        val named = byName.status().profile
        byName.close()
        expect(named != null && named.name == "ascii" && named.sha256.length == 64) { "by name: $named" }
        val path = File(profiles, "ascii.json").path
        val byPath = PosTerminal(config(host, dir, "profile-path").copyWith(profile = path))
        val pathed = byPath.status().profile
        byPath.close()
        expect(pathed == named) { "by path: $pathed, by name: $named" }
        val text = File(profiles, "cup.json").readText()
        val inline = PosTerminal(config(host, dir, "profile-inline").copyWith(profileJson = text))
        val inl = inline.status().profile
        inline.close()
        expect(inl?.name == "cup") { "inline: $inl" }
        val bad = JSONObject(text)
        bad.getJSONObject("kinds").getJSONObject("refund").put("delivery", "reversible")
        val e = expectThrows<RequestException> {
            PosTerminal(config(host, dir, "profile-bad").copyWith(profileJson = bad.toString()))
        }
        expect(e.field == "profile" && e.message?.contains("kinds.refund: mti 0220 is an advice") == true) { "got $e" }
    }

    check("production without a seal key is refused, naming seal_key") {
        val e = expectThrows<RequestException> {
            PosTerminal(config(host, dir, "prod-nokey", production = true))
        }
        expect(e.code == "invalid_request" && e.field == "seal_key") { "got $e" }
        expect(e.message?.contains("platform-held") == true) { "message: ${e.message}" }
    }

    check("a SealKeyProvider supplies seal_key: a production terminal starts, and the key array is wiped") {
        val provider = FakeSealKeyProvider(ByteArray(32) { (it * 7 + 1).toByte() })
        val t = PosTerminal(config(host, dir, "prod-provider", production = true), sealKeyProvider = provider)
        t.close()
        expect(provider.asked == 1) { "provider asked ${provider.asked} times" }
        expect(provider.handedOut.all { a -> a.all { it == 0.toByte() } }) { "the key array was not wiped" }
    }

    check("a SealKeyProvider that gives the wrong length is refused, naming seal_key") {
        val e = expectThrows<RequestException> {
            PosTerminal(config(host, dir, "prod-short", production = true), sealKeyProvider = FakeSealKeyProvider(ByteArray(16)))
        }
        expect(e.code == "invalid_request" && e.field == "seal_key") { "got $e" }
    }

    val reader = SimCardReader()
    val pinPad = SimPinPad()
    val scanner = SimQrScanner()
    val display = SimQrDisplay()
    val events = Recorder()
    val security = KotlinSecurityModule()
    val device = SimDeviceInfo("SN0001")
    val printer = SimPrinter()
    val signaturePad = SimSignaturePad()
    // The day's terminal keeps its keys in the Kotlin module (which also encrypts the tracks) and takes its
    // serial number from DeviceInfo.
    val terminal = PosTerminal(
        config(host, dir, "day", serial = null, encryptTracks = true), reader, pinPad, scanner, events, security, device,
        printer = printer, signaturePad = signaturePad, qrDisplay = display
    )
    try {
        check("activate (DeviceInfo serial), master key and sign in (keys in the Kotlin module), parameters") {
            val a = terminal.activate("TOKEN0001")
            expect(a.merchantName.isNotEmpty()) { "merchant $a" }
            expect(device.asked > 0) { "DeviceInfo not asked" }
            val k = terminal.downloadMasterKey()
            expect(k.tmkCheckValue.isNotEmpty()) { "tmk $k" }
            expect(security.calls("beginTmkDownload") == 1 && security.calls("receiveTmk") == 1 &&
                security.calls("activateTmk") == 1) { "TMK calls ${security.calls}" }
            val tmkCv = security.checkValue(KeySlot.TMK)
            expect(tmkCv != null && k.tmkCheckValue.equals(hex(tmkCv), ignoreCase = true)) {
                "TMK check value ${k.tmkCheckValue} is not the module's"
            }
            val s = terminal.signIn()
            expect(s.batch > 0) { "sign-in $s" }
            expect(security.calls("installWorkingKeys") == 1) { "working keys not installed by the module" }
            expect(KeySlot.values().all { security.hasKey(it) }) { "module keys ${security.calls}" }
            // The core's own key store was never written: the keys are only in the Kotlin module.
            expect(!File(dir, "day.db.keys").exists()) { "the software module's key store exists" }
            val c = terminal.downloadCapks()
            val d = terminal.downloadAids()
            expect(c.count > 0 && d.count > 0) { "capks $c aids $d" }
            // Handed to the Kotlin reader through the JNI arrays, element by element.
            expect(reader.capks.size.toLong() == c.count) { "reader got ${reader.capks.size} CAPKs of ${c.count}" }
            expect(reader.aids.size.toLong() == d.count) { "reader got ${reader.aids.size} AIDs of ${d.count}" }
            expect(reader.capks.all { it.rid.size == 5 && it.checksum.size == 20 && it.modulus.isNotEmpty() }) { "CAPK fields" }
            expect(reader.aids.all { it.aid.size in 5..16 }) { "AID fields" }
            expect(terminal.status().signedIn) { "not signed in" }
        }

        check("echo test, sign-off through the Kotlin module, sign-in again") {
            val e = terminal.echo()
            expect(e.responseCode == "00" && e.maced) { "echo $e" }
            val clears = security.calls("clearWorkingKeys")
            val off = terminal.signOff()
            expect(off.sent && off.responseCode == "00") { "sign-off $off" }
            expect(security.calls("clearWorkingKeys") == clears + 1) { "the module's keys were not cleared" }
            expect(!terminal.status().signedIn) { "still signed in after sign-off" }
            val refused = expectThrows<RequestException> { terminal.sale(100) }
            expect(refused.code == "not_signed_in") { "sale after sign-off: ${refused.code}" }
            expect(terminal.signIn().batch > 0) { "sign-in again" }
            expect(terminal.status().signedIn) { "not signed in again" }
        }

        check("sale with the Kotlin card reader and PIN pad, then its void") {
            events.events.clear()
            val macs = security.calls("mac")
            val r = terminal.sale(12_345)
            expect(r.approved && r.responseCode == "00") { "sale $r" }
            expect(r.outcome == Outcome.APPROVED) { "sale outcome $r" }
            expect(r.amount == 12_345L && r.maskedPan == "622588******6789") { "sale $r" }
            expect(r.receipt.isNotEmpty()) { "no receipt" }
            // The printer got both copies, in zh-CN (the default locale): 交易类型 消费, a bold centred title.
            val slips = printer.slips.takeLast(2)
            expect(slips.map { it.copy } == listOf(SlipCopy.MERCHANT, SlipCopy.CARDHOLDER)) { "slips $slips" }
            expect(slips.all { s -> s.lines.any { it is SlipLine.Text && it.text.contains("消费(SALE)") } }) { "slips $slips" }
            val title = slips[0].lines[0]
            expect(title is SlipLine.Text && title.bold && title.align == SlipAlign.CENTER) { "title $title" }
            expect(slips.none { s -> s.lines.any { it is SlipLine.Text && it.text.contains("6225880123456789") } }) {
                "a slip shows the full PAN"
            }
            expect(signaturePad.taken == 1) { "the sale was not signed (${signaturePad.taken})" }
            val sig = slips[0].lines.filterIsInstance<SlipLine.Signature>()
            expect(sig.size == 1 && sig[0].width == 128 && sig[0].bits.size == 16 * 32) { "merchant copy signature $sig" }
            expect(terminal.status().unsentUploads == 0L) { "the signature upload is owed" }
            expect(pinPad.asked > 0) { "PIN pad not asked" }
            expect(events.events.contains(PosEvent.WaitingForCard)) { "events ${events.events}" }
            expect(events.events.any { it is PosEvent.Done && it.approved }) { "events ${events.events}" }
            expect(security.calls("pinBlock") > 0) { "the PIN block was not made by the Kotlin module" }
            expect(security.calls("encryptTrackBlock") > 0) { "the track was not encrypted by the Kotlin module" }
            val v = terminal.void(r.stan)
            expect(v.approved && v.kind.contains("void")) { "void $v" }
            expect(security.calls("mac") >= macs + 2) { "sale and void not MAC'd by the Kotlin module" }
            val again = terminal.reprint(r.stan)
            expect(again.stan == r.stan && again.receipt.isNotEmpty()) { "reprint $again" }
        }

        check("sale, tip, tip void, refund") {
            val s = terminal.sale(10_000)
            expect(s.approved) { "sale $s" }
            val tip = terminal.tip(s.stan, 1_500)
            expect(tip.approved) { "tip $tip" }
            val tv = terminal.tipVoid(tip.stan)
            expect(tv.approved) { "tip void $tv" }
            val r = terminal.refund(3_000, OriginalRef(reference = s.reference, date = mmdd(s)))
            expect(r.approved) { "refund $r" }
        }

        check("balance inquiry (with an event listener that throws: ignored)") {
            events.explode = true
            try {
                val r = terminal.balance()
                expect(r.approved && r.balance != null) { "balance $r" }
            } finally {
                events.explode = false
            }
        }

        check("pre-auth, completion, completion void") {
            val pa = terminal.preauth(20_000)
            expect(pa.approved && pa.authCode != null) { "pre-auth $pa" }
            val c = terminal.preauthComplete(23_000, original(pa))
            expect(c.approved) { "completion $c" }
            val cv = terminal.preauthCompleteVoid(c.stan)
            expect(cv.approved) { "completion void $cv" }
        }

        check("QR sale with the Kotlin scanner, then its void") {
            val r = terminal.sale(8_800, Payment.FromQrScanner)
            expect(r.approved && r.voucher != null) { "QR sale $r" }
            val v = terminal.void(r.stan)
            expect(v.approved) { "QR void $v" }
        }

        check("merchant-presented QR order through the Kotlin display, then a QR query") {
            val r = terminal.qrOrder(6_600)
            expect(r.approved && r.qrState == "paid" && r.qrPayload != null) { "QR order $r" }
            expect(display.shown.size == 1 && display.shown[0].payload == r.qrPayload && display.shown[0].amount == 6_600L) {
                "display ${display.shown}"
            }
            expect(display.cleared == 1) { "display not cleared" }
            expect(events.events.any { it is PosEvent.QrPolling && it.stan == r.stan && it.state == "paid" }) {
                "no qr_polling event"
            }
            val q = terminal.qrQuery(order = r.stan)
            expect(q.approved && q.qrState == "paid" && q.stan == r.stan) { "QR query $q" }
            val byVoucher = terminal.qrQuery(voucher = r.voucher)
            expect(byVoucher.qrState == "paid") { "QR query by voucher $byVoucher" }
            // Refunded by its reference alone: the journal knows it as a QR payment.
            val refund = terminal.qrRefund(600, OriginalRef(reference = r.reference, date = mmdd(r)))
            expect(refund.approved && refund.kind == "qr_refund") { "QR refund by reference $refund" }
        }

        check("declines are results, not exceptions") {
            reader.pan = "6225881111111111" // balance 100 fen
            pinPad.pin = "111111"
            try {
                val r = terminal.sale(50_000)
                expect(!r.approved && r.responseCode == "51") { "expected a 51 decline, got $r" }
                expect(r.outcome == Outcome.DECLINED) { "a decline's outcome: $r" }
            } finally {
                reader.pan = "6225880123456789"
                pinPad.pin = "123456"
            }
            pinPad.pin = "000000"
            try {
                val r = terminal.sale(1_000)
                expect(!r.approved && r.responseCode == "55") { "expected a 55 decline, got $r" }
            } finally {
                pinPad.pin = "123456"
            }
        }

        check("detail query, journal, settlement") {
            val q = terminal.queryDetails()
            expect(q.records.isNotEmpty()) { "details $q" }
            val j = terminal.journal()
            expect(j.records.isNotEmpty()) { "journal $j" }
            val st = terminal.settle()
            expect(st.balanced) { "settle $st" }
            expect(st.nextBatch != st.batch) { "batch did not move: $st" }
            val status = terminal.status()
            expect(status.pendingReversal == null && status.batch == st.nextBatch) { "status $status" }
        }

        check("a callback that throws becomes DeviceException with the cause attached") {
            reader.mode = SimCardReader.Mode.THROW
            try {
                val e = expectThrows<DeviceException> { terminal.sale(100) }
                expect(e.code == "device" && e.number == 400) { "code ${e.code} ${e.number}" }
                expect(e.cause is IllegalStateException) { "cause ${e.cause}" }
                expect(!e.message.orEmpty().contains("jammed")) { "app message leaked into the error: ${e.message}" }
            } finally {
                reader.mode = SimCardReader.Mode.SWIPE
            }
            expect(terminal.status().pendingReversal == null) { "reversal pending after a device failure" }
        }

        check("a security module that throws becomes PosSecurityException with the cause attached") {
            security.failMac = true
            try {
                val e = expectThrows<PosSecurityException> { terminal.sale(100) }
                expect(e.code == "security" && e.number == 301) { "code ${e.code} ${e.number}" }
                expect(e.cause is IllegalStateException) { "cause ${e.cause}" }
                expect(!e.message.orEmpty().contains("offline")) { "app message leaked into the error: ${e.message}" }
                expect(e.outcome == Outcome.NOT_SENT) { "nothing was sent: ${e.outcome}" }
            } finally {
                security.failMac = false
            }
            val after = terminal.sale(150)
            expect(after.approved) { "terminal unusable after a security failure: $after" }
        }

        check("cancel() from another thread stops a waiting sale") {
            reader.mode = SimCardReader.Mode.BLOCK
            reader.waiting = CountDownLatch(1)
            try {
                val (t, out) = inBackground { terminal.sale(200) }
                expect(reader.waiting.await(10, TimeUnit.SECONDS)) { "reader never asked" }
                terminal.cancel()
                t.join(15_000)
                expect(!t.isAlive) { "sale did not return after cancel" }
                val r = out.get()
                expect(r is CancelledException && (r as CancelledException).code == "cancelled") { "got $r" }
                expect((r as PosException).outcome == Outcome.NOT_SENT) { "nothing was sent: ${r.outcome}" }
            } finally {
                reader.mode = SimCardReader.Mode.SWIPE
            }
            val after = terminal.sale(300)
            expect(after.approved) { "terminal unusable after cancel: $after" }
        }

        check("round-trip cost through the bridge (informational)") {
            fun median(n: Int, body: () -> Unit): Long {
                repeat(20) { body() }
                val times = LongArray(n)
                for (i in 0 until n) {
                    val t0 = System.nanoTime()
                    body()
                    times[i] = System.nanoTime() - t0
                }
                times.sort()
                return times[n / 2]
            }
            val status = median(300) { terminal.status() }
            val refused = median(300) {
                try {
                    terminal.callJson("{\"op\":\"no_such_op\"}")
                } catch (e: RequestException) {
                }
            }
            println("info status() median ${status / 1000} us; refused request (exception path) median ${refused / 1000} us")
        }

        check("invalid request names the problem") {
            val e = expectThrows<RequestException> { terminal.callJson("{\"op\":\"no_such_op\"}") }
            expect(e.code == "invalid_request" || e.code == "invalid_json") { "code ${e.code}" }
        }
    } finally {
        terminal.close()
    }

    check("close() with a call in flight, close() twice, call after close") {
        val r2 = SimCardReader().apply { mode = SimCardReader.Mode.BLOCK }
        val t2 = PosTerminal(config(host, dir, "day"), r2, SimPinPad(), null, null, security)
        val live = NativeBridge.liveTerminals()
        val (t, out) = inBackground { t2.sale(400) }
        expect(r2.waiting.await(10, TimeUnit.SECONDS)) { "reader never asked" }
        t2.close()
        // close() returned: the in-flight call has ended and the native terminal is gone.
        expect(NativeBridge.liveTerminals() == live - 1) { "terminal not freed: ${NativeBridge.liveTerminals()} live" }
        t.join(15_000)
        expect(!t.isAlive) { "in-flight sale did not return" }
        expect(out.get() is PosException) { "in-flight sale: ${out.get()}" }
        t2.close()
        expect(t2.isClosed) { "not closed" }
        val e = expectThrows<RequestException> { t2.status() }
        expect(e.code == "invalid_state") { "after close: ${e.code}" }
        // The native side refuses a stale handle too, not only the Kotlin wrapper.
        val e2 = expectThrows<RequestException> { NativeBridge.call(0x1234, "{\"op\":\"status\"}") }
        expect(e2.code == "invalid_state") { "forged handle: ${e2.code}" }
        expect(!NativeBridge.close(0x1234)) { "closing a forged handle" }
    }

    check("close() from inside a callback: no deadlock, freed when the call returns") {
        val holder = AtomicReference<PosTerminal?>(null)
        val closing = object : CardReader {
            override fun readCard(request: CardRequest): CardData {
                holder.get()?.close()
                expect(request.isCancelled()) { "close() did not cancel the operation" }
                throw CancelledException("closed while reading")
            }
        }
        val t3 = PosTerminal(config(host, dir, "day"), closing, SimPinPad(), null, null, security)
        holder.set(t3)
        val live = NativeBridge.liveTerminals()
        val e = expectThrows<PosException> { t3.sale(500) }
        expect(e is CancelledException) { "got $e" }
        expect(t3.isClosed) { "not closed" }
        expect(NativeBridge.liveTerminals() == live - 1) { "not freed after the call returned" }
    }

    check("no terminal left open") {
        expect(NativeBridge.liveTerminals() == 0) { "${NativeBridge.liveTerminals()} still open" }
    }

    if (args.size >= 4) smDay(args[3], dir, File(File(args[2]).parentFile, "sm.json"))

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}

/** The SM family (docs/PROTOCOL.md §11) through the JNI bridge, with the keys in [KotlinSmSecurityModule]. */
fun smDay(host: String, dir: File, vectors: File) {
    check("the Kotlin SM module's crypto gives the known answers of sm.json") {
        val v = JSONObject(vectors.readText())
        val kcvs = v.getJSONArray("kcv")
        for (i in 0 until kcvs.length()) {
            val k = kcvs.getJSONObject(i)
            expect(hex(SmCrypto.kcv(unhex(k.getString("key")))) == k.getString("kcv4")) { "SM4 kcv $i" }
        }
        val pbs = v.getJSONArray("pin_block_sm4")
        for (i in 0 until pbs.length()) {
            val p = pbs.getJSONObject(i)
            val pin = p.getString("pin").toCharArray()
            expect(hex(SmCrypto.pinClear(pin, p.getString("pan"))) == p.getString("clear_block")) { "SM4 clear block $i" }
            expect(hex(SmCrypto.pinBlock(unhex(p.getString("pik")), pin, p.getString("pan"))) == p.getString("encrypted")) {
                "SM4 PIN block $i"
            }
        }
        val macs = v.getJSONArray("cup_sm4_mac")
        for (i in 0 until macs.length()) {
            val m = macs.getJSONObject(i)
            expect(hex(SmCrypto.cupSm4(unhex(m.getString("mak")), unhex(m.getString("mab")))) == m.getString("mac")) {
                "CUP-SM4 ${m.optString("from")}"
            }
        }
    }

    val security = KotlinSmSecurityModule()
    check("a TDES config with an SM security module is refused, naming key_family") {
        val e = expectThrows<RequestException> {
            PosTerminal(config(host, dir, "sm-mismatch"), SimCardReader(), SimPinPad(), null, null, security)
        }
        expect(e.field == "key_family") { "got $e" }
    }

    val reader = SimCardReader()
    val pinPad = SimPinPad()
    val terminal = PosTerminal(
        config(host, dir, "smday", encryptTracks = true, keyFamily = KeyFamily.SM), reader, pinPad, null, null, security
    )
    try {
        check("SM family: status says sm; activation, SM2 master key, SM4 sign-in in the Kotlin module") {
            expect(terminal.status().keyFamily == KeyFamily.SM) { "status ${terminal.status()}" }
            terminal.activate("TOKEN0001")
            val k = terminal.downloadMasterKey()
            expect(security.calls("beginTmkDownload") == 1 && security.calls("activateTmk") == 1) { "TMK calls ${security.calls}" }
            val tmkCv = security.checkValue(KeySlot.TMK)
            expect(tmkCv != null && k.tmkCheckValue.equals(hex(tmkCv), ignoreCase = true)) { "TMK check value ${k.tmkCheckValue}" }
            terminal.signIn()
            expect(KeySlot.values().all { security.hasKey(it) }) { "module keys ${security.calls}" }
            expect(!File(dir, "smday.db.keys").exists()) { "the software module's key store exists" }
        }

        check("SM family: sale with a 16-byte PIN block, SM4 track and CUP-SM4 MACs, its void, settlement") {
            val r = terminal.sale(8_800)
            expect(r.approved && r.responseCode == "00") { "sale $r" }
            expect(security.lastPinBlockSize == 16) { "PIN block ${security.lastPinBlockSize} bytes" }
            expect(security.lastTrackBlockSize == 16) { "track block ${security.lastTrackBlockSize} bytes" }
            expect(security.calls("mac") >= 2) { "MACs ${security.calls}" }
            val v = terminal.void(r.stan)
            expect(v.approved) { "void $v" }
            val st = terminal.settle()
            expect(st.balanced) { "settlement $st" }
        }
    } finally {
        terminal.close()
    }
}
