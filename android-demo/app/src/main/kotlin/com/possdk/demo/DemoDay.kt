package com.possdk.demo

import com.possdk.Endpoint
import com.possdk.OriginalRef
import com.possdk.Payment
import com.possdk.PosConfig
import com.possdk.PosTerminal
import com.possdk.TransactionResult
import com.possdk.await

/**
 * The terminal day of the CLI demo (`./build.sh demo`), step by step against [hostAddress]: activation, master
 * key, sign-in, EMV parameters, sale and void, sale with tip, tip void and refund, balance inquiry, pre-auth
 * with completion and completion void, QR sale and void, the detail query and the settlement. [say] receives one line per step (masked PANs only).
 */
class DemoDay(private val hostAddress: String, private val journalPath: String, private val say: (String) -> Unit) {

    fun config() = PosConfig(
        tid = "12345678",
        mid = "123456789012345",
        gateway = Endpoint(hostAddress, "6000030000"),
        platform = Endpoint(hostAddress, "6000050000"),
        journalPath = journalPath,
        deviceSerial = "SN0001",
        deviceModel = android.os.Build.MODEL ?: "android"
    )

    private fun fen(amount: Long) = "%d.%02d".format(amount / 100, amount % 100)

    private fun line(what: String, r: TransactionResult) {
        val verdict = if (r.approved) "approved" else "declined (${r.responseCode} ${r.message})"
        say("$what ${fen(r.amount)}: $verdict, STAN ${r.stan}, ${r.maskedPan ?: r.voucher ?: ""}")
    }

    private fun mmdd(r: TransactionResult) = r.datetime.substring(5, 7) + r.datetime.substring(8, 10)

    private fun original(r: TransactionResult) =
        OriginalRef(reference = r.reference, authCode = r.authCode, date = mmdd(r), batch = r.batch, stan = r.stan, voucher = r.voucher)

    suspend fun run(terminal: PosTerminal) {
        val a = terminal.await { activate("TOKEN0001") }
        say("activated: ${a.merchantName}, batch ${a.batch}")
        val k = terminal.await { downloadMasterKey() }
        say("master key loaded (check value ${k.tmkCheckValue})")
        val s = terminal.await { signIn() }
        say("signed in, batch ${s.batch}")
        val capks = terminal.await { downloadCapks() }
        val aids = terminal.await { downloadAids() }
        say("EMV parameters: ${capks.count} CAPKs, ${aids.count} AIDs")

        say("sale: swipe the card…")
        val sale = terminal.await { sale(12_345) }
        line("sale", sale)
        sale.receipt.forEach { say("  | $it") }
        line("void of STAN ${sale.stan}", terminal.await { void(sale.stan) })

        val sale2 = terminal.await { sale(10_000) }
        line("sale", sale2)
        val tip = terminal.await { tip(sale2.stan, 1_500) }
        line("tip", tip)
        line("tip void", terminal.await { tipVoid(tip.stan) })
        line("refund", terminal.await { refund(3_000, OriginalRef(reference = sale2.reference, date = mmdd(sale2))) })

        val bal = terminal.await { balance() }
        say("balance: ${bal.balance?.let { fen(it) } ?: "-"}")

        val pa = terminal.await { preauth(20_000) }
        line("pre-auth", pa)
        val completion = terminal.await { preauthComplete(23_000, original(pa)) }
        line("completion", completion)
        line("completion void", terminal.await { preauthCompleteVoid(completion.stan) })

        val qr = terminal.await { sale(8_800, Payment.FromQrScanner) }
        line("QR sale", qr)
        line("QR void", terminal.await { void(qr.stan) })

        val details = terminal.await { queryDetails() }
        say("host detail query: ${details.records.size} records")
        val settle = terminal.await { settle() }
        say("settlement of batch ${settle.batch}: ${if (settle.balanced) "balanced" else "not balanced"}, " +
            "${settle.uploaded} uploaded, next batch ${settle.nextBatch}")
    }
}
