package com.possdk.demo

import com.possdk.CancelledException
import com.possdk.CardData
import com.possdk.CardReader
import com.possdk.CardRequest
import com.possdk.ChipCompletion
import com.possdk.ChipOutcome
import com.possdk.EntryMode
import com.possdk.PinEntry
import com.possdk.PinPad
import com.possdk.PinRequest
import com.possdk.QrRequest
import com.possdk.QrScanner

/**
 * A simulated magnetic-stripe reader: "swipes" a test card of possdk-host's default provisioning after a
 * short pause (as a person would), honouring cancellation while it waits.
 */
class SimulatedCardReader(
    @Volatile var pan: String = "6225880123456789",
    @Volatile var expiry: String = "3012",
    private val delayMs: Long = 400
) : CardReader {
    override fun readCard(request: CardRequest): CardData {
        val until = System.currentTimeMillis() + delayMs
        while (System.currentTimeMillis() < until) {
            if (request.isCancelled()) throw CancelledException("card wait cancelled")
            Thread.sleep(20)
        }
        // Track 2 equivalent: PAN, separator, YYMM, service code 101, discretionary data.
        return CardData(EntryMode.SWIPE, track2 = "${pan}D${expiry}1010000000000")
    }

    override fun completeChip(completion: ChipCompletion): ChipOutcome =
        ChipOutcome(completion.hostAnswered && completion.responseCode == "00")
}

/** A simulated PIN pad that "types" the test card's PIN. A real pad returns an encrypted block instead. */
class SimulatedPinPad(@Volatile var pin: String = "123456") : PinPad {
    override fun getPin(request: PinRequest): PinEntry = PinEntry.Clear(pin.toCharArray())
}

/** A simulated scanner returning a customer payment code the test host accepts. */
class SimulatedQrScanner(@Volatile var code: String = "134567890123456789") : QrScanner {
    override fun scan(request: QrRequest): String = code
}
