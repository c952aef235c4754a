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
 * key, sign-in, EMV parameters, a card sale, a QR sale, a void, a balance inquiry, a refund, the detail query
 * and the settlement. [say] receives one line per step (masked PANs only).
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

        val qr = terminal.await { sale(800, Payment.FromQrScanner) }
        line("QR sale", qr)

        val void = terminal.await { void(sale.stan) }
        line("void of STAN ${sale.stan}", void)

        val bal = terminal.await { balance() }
        say("balance: ${bal.balance?.let { fen(it) } ?: "-"}")

        val second = terminal.await { sale(5_000) }
        line("sale", second)
        val mmdd = second.datetime.substring(5, 7) + second.datetime.substring(8, 10)
        val refund = terminal.await { refund(1_000, OriginalRef(reference = second.reference, date = mmdd)) }
        line("refund", refund)

        val details = terminal.await { queryDetails() }
        say("host detail query: ${details.records.size} records")
        val settle = terminal.await { settle() }
        say("settlement of batch ${settle.batch}: ${if (settle.balanced) "balanced" else "not balanced"}, " +
            "${settle.uploaded} uploaded, next batch ${settle.nextBatch}")
    }
}
