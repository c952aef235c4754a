// JVM test harness for the JNI bridge: a terminal day through PosTerminal with Kotlin device callbacks, then
// the failure paths (a callback that throws, cancel() from another thread, close() with a call in flight,
// close() twice, a call after close). Run by ffi-jni/tests/jvm_day.rs; args: <host address> <work dir>.
// Prints one line per check and "N passed, M failed" last; exits 1 on any failure.
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
import com.possdk.Endpoint
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
import com.possdk.PosTerminal
import com.possdk.QrRequest
import com.possdk.QrScanner
import com.possdk.RequestException
import com.possdk.TransactionResult
import com.possdk.internal.Json
import com.possdk.internal.NativeBridge
import java.io.File
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
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

class SimQrScanner : QrScanner {
    @Volatile var code = "134567890123456789"
    override fun scan(request: QrRequest): String = code
}

class Recorder : EventListener {
    val events: MutableList<PosEvent> = Collections.synchronizedList(ArrayList())
    @Volatile var explode = false
    override fun onEvent(event: PosEvent) {
        events.add(event)
        if (explode) throw RuntimeException("listener bug (simulated)")
    }
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

fun config(host: String, dir: File, name: String) = PosConfig(
    tid = "12345678",
    mid = "123456789012345",
    gateway = Endpoint(host, "6000030000"),
    platform = Endpoint(host, "6000050000"),
    journalPath = File(dir, "$name.db").path,
    connectTimeoutMs = 3_000,
    responseTimeoutMs = 10_000,
    deviceSerial = "SN0001",
    deviceModel = "jvm-test"
)

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
    if (args.size < 2) {
        System.err.println("usage: DayTest <host:port> <work dir>")
        exitProcess(2)
    }
    val host = args[0]
    val dir = File(args[1]).also { it.mkdirs() }

    check("json round trip") {
        val text = """{"a":[1,-2,3.5,"x\"y\u00e9"],"b":{"c":null,"d":true},"e":""}"""
        val v = Json.parseObject(text)
        expect(v["a"] == listOf(1L, -2L, 3.5, "x\"y\u00e9")) { "parsed $v" }
        expect(Json.write(mapOf("k" to "a\nb", "n" to null, "l" to listOf(1, true))) == """{"k":"a\nb","l":[1,true]}""") { "write" }
        expectThrows<Json.ParseException> { Json.parse("{\"a\":1} x") }
    }

    check("native library loads and reports its version") {
        expect(PosTerminal.version().isNotEmpty()) { "empty version" }
    }

    check("bad config is a typed RequestException, not a crash") {
        val e = expectThrows<PosException> { PosTerminal("{\"tid\": 5}") }
        expect(e is RequestException && (e.code == "invalid_json" || e.code == "invalid_request")) { "got $e" }
    }

    val reader = SimCardReader()
    val pinPad = SimPinPad()
    val scanner = SimQrScanner()
    val events = Recorder()
    val terminal = PosTerminal(config(host, dir, "day"), reader, pinPad, scanner, events)
    try {
        check("activate, master key, sign in, parameters") {
            val a = terminal.activate("TOKEN0001")
            expect(a.merchantName.isNotEmpty()) { "merchant $a" }
            val k = terminal.downloadMasterKey()
            expect(k.tmkCheckValue.isNotEmpty()) { "tmk $k" }
            val s = terminal.signIn()
            expect(s.batch > 0) { "sign-in $s" }
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

        check("sale with the Kotlin card reader and PIN pad, then its void") {
            events.events.clear()
            val r = terminal.sale(12_345)
            expect(r.approved && r.responseCode == "00") { "sale $r" }
            expect(r.outcome == Outcome.APPROVED) { "sale outcome $r" }
            expect(r.amount == 12_345L && r.maskedPan == "622588******6789") { "sale $r" }
            expect(r.receipt.isNotEmpty()) { "no receipt" }
            expect(pinPad.asked > 0) { "PIN pad not asked" }
            expect(events.events.contains(PosEvent.WaitingForCard)) { "events ${events.events}" }
            expect(events.events.any { it is PosEvent.Done && it.approved }) { "events ${events.events}" }
            val v = terminal.void(r.stan)
            expect(v.approved && v.kind.contains("void")) { "void $v" }
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
        val t2 = PosTerminal(config(host, dir, "day"), r2, SimPinPad(), null, null)
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
        val t3 = PosTerminal(config(host, dir, "day"), closing, SimPinPad(), null, null)
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

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
