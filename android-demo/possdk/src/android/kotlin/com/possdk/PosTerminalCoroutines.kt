// Coroutine-friendly wrappers. Compiled only by the Android build (this source set needs
// kotlinx-coroutines, which the host-JVM test does not have); see possdk/build.gradle.kts.
package com.possdk

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope

/**
 * Run a blocking [PosTerminal] operation on [dispatcher] (IO by default) and suspend until it returns.
 * Cancelling the calling coroutine calls [PosTerminal.cancel], so the operation stops waiting for the card,
 * PIN, code or host (a request already sent is reversed by the core) and the coroutine completes promptly.
 *
 * ```
 * val result = terminal.await { sale(1_00) }
 * ```
 */
suspend fun <T> PosTerminal.await(dispatcher: CoroutineDispatcher = Dispatchers.IO, block: PosTerminal.() -> T): T =
    coroutineScope {
        val call = async(dispatcher) { block() }
        try {
            call.await()
        } catch (e: CancellationException) {
            // The blocking call does not see coroutine cancellation: tell the terminal. coroutineScope then
            // waits for the call to return before it rethrows.
            this@await.cancel()
            throw e
        }
    }

suspend fun PosTerminal.awaitActivate(deviceToken: String): ActivationResult = await { activate(deviceToken) }
suspend fun PosTerminal.awaitDownloadMasterKey(): MasterKeyResult = await { downloadMasterKey() }
suspend fun PosTerminal.awaitSignIn(): SignInResult = await { signIn() }
suspend fun PosTerminal.awaitDownloadCapks(): DownloadResult = await { downloadCapks() }
suspend fun PosTerminal.awaitDownloadAids(): DownloadResult = await { downloadAids() }
suspend fun PosTerminal.awaitSale(amount: Long, payment: Payment = Payment.FromCardReader): TransactionResult =
    await { sale(amount, payment) }
suspend fun PosTerminal.awaitPreauth(amount: Long, payment: Payment = Payment.FromCardReader): TransactionResult =
    await { preauth(amount, payment) }
suspend fun PosTerminal.awaitVoid(stan: Long, card: CardInput? = null): TransactionResult = await { void(stan, card) }
suspend fun PosTerminal.awaitRefund(amount: Long, original: OriginalRef, card: CardInput? = null): TransactionResult =
    await { refund(amount, original, card) }
suspend fun PosTerminal.awaitBalance(card: CardInput? = null): TransactionResult = await { balance(card) }
suspend fun PosTerminal.awaitQueryDetails(batch: Long? = null): DetailQueryResult = await { queryDetails(batch) }
suspend fun PosTerminal.awaitSettle(): SettlementResult = await { settle() }
suspend fun PosTerminal.awaitStatus(): StatusResult = await { status() }
