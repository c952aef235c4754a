package com.possdk.demo

import android.app.Activity
import android.os.Bundle
import android.text.InputType
import android.view.ViewGroup.LayoutParams.MATCH_PARENT
import android.view.ViewGroup.LayoutParams.WRAP_CONTENT
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import com.possdk.EventListener
import com.possdk.PosEvent
import com.possdk.PosException
import com.possdk.PosTerminal
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File

/**
 * One screen: the acquirer host address, "Run the day", "Cancel", and the log. The day runs on IO threads
 * through the coroutine wrappers; Cancel cancels the coroutine, which cancels the terminal operation.
 */
class MainActivity : Activity() {
    private val scope = MainScope()
    private var day: Job? = null
    private lateinit var log: TextView
    private lateinit var scroll: ScrollView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val pad = (16 * resources.displayMetrics.density).toInt()
        val host = EditText(this).apply {
            hint = getString(R.string.host_hint)
            inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_URI
            setSingleLine()
            setText(getPreferences(MODE_PRIVATE).getString("host", ""))
        }
        val run = Button(this).apply { text = getString(R.string.run_day) }
        val cancel = Button(this).apply { text = getString(R.string.cancel); isEnabled = false }
        log = TextView(this).apply { setTextIsSelectable(true); typeface = android.graphics.Typeface.MONOSPACE }
        scroll = ScrollView(this).apply { addView(log) }
        val buttons = LinearLayout(this).apply {
            orientation = LinearLayout.HORIZONTAL
            addView(run)
            addView(cancel)
        }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(pad, pad, pad, pad)
            addView(host, LinearLayout.LayoutParams(MATCH_PARENT, WRAP_CONTENT))
            addView(buttons, LinearLayout.LayoutParams(MATCH_PARENT, WRAP_CONTENT))
            addView(scroll, LinearLayout.LayoutParams(MATCH_PARENT, 0, 1f))
        })

        run.setOnClickListener {
            val address = host.text.toString().trim()
            if (!Regex("""^[^\s:]+:\d{1,5}$""").matches(address)) {
                say("enter the host as host:port")
                return@setOnClickListener
            }
            getPreferences(MODE_PRIVATE).edit().putString("host", address).apply()
            log.text = ""
            run.isEnabled = false
            cancel.isEnabled = true
            day = scope.launch {
                try {
                    runDay(address)
                    say("day complete")
                } catch (e: CancellationException) {
                    say("cancelled")
                } catch (e: PosException) {
                    say("failed: ${e.code}${e.field?.let { " ($it)" } ?: ""}: ${e.message}")
                } finally {
                    run.isEnabled = true
                    cancel.isEnabled = false
                }
            }
        }
        cancel.setOnClickListener { day?.cancel() }
    }

    private suspend fun runDay(address: String) {
        val journal = File(filesDir, "possdk-journal.db").path
        val demo = DemoDay(address, journal) { line -> scope.launch { say(line) } }
        val events = object : EventListener {
            override fun onEvent(event: PosEvent) {
                scope.launch { say("  · $event") }
            }
        }
        // Opening the terminal opens its journal: off the main thread too.
        val terminal = withContext(Dispatchers.IO) {
            PosTerminal(demo.config(), SimulatedCardReader(), SimulatedPinPad(), SimulatedQrScanner(), events)
        }
        try {
            demo.run(terminal)
        } finally {
            // close() waits for a cancelled operation to return; it must run even though we are cancelled.
            withContext(NonCancellable + Dispatchers.IO) { terminal.close() }
        }
    }

    private fun say(line: String) {
        log.append(line + "\n")
        scroll.post { scroll.fullScroll(ScrollView.FOCUS_DOWN) }
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }
}
