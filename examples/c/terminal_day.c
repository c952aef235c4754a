/*
 * A full terminal day through possdk's C ABI, with simulated devices written in C.
 *
 *   terminal_day HOST:PORT JOURNAL_PATH
 *
 * HOST:PORT is a possdk-host (gateway and management platform on one port). The simulated card reader
 * swipes the host's default test cards (docs/PROTOCOL.md section 12), the PIN pad types their PIN, the QR
 * scanner shows a wallet code. Every step is checked; the program exits 0 only when the whole day went
 * as expected, and prints a line per step.
 *
 * Build (see docs/C-API.md): gcc -std=c99 -Iinclude examples/c/terminal_day.c -Ltarget/debug -lpossdk -lpthread
 */
#include "possdk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------- */
/* Simulated devices. possdk calls them on the thread that runs the operation.                     */

typedef struct sim_card {
    const char *track2; /* PAN D YYMM service discretionary */
    const char *pin;
} sim_card;

static const sim_card CARD_OK = {"6225880123456789D30121010000000000", "123456"};
static const sim_card CARD_WRONG_PIN = {"6225880123456789D30121010000000000", "654321"};

typedef struct devices {
    const sim_card *card;   /* what the next read_card / get_pin returns */
    int wait_for_cancel;    /* read_card blocks until the operation is cancelled */
    const char *qr_code;
    int reads, pins, scans, events, emv_loads;
    size_t aids, capks;
    int destroyed;          /* bit per device: destroy is called exactly once each */
    int clock_reads;
    int slips[2];           /* slips printed, per copy (merchant, cardholder) */
    int slip_lines, slip_sale_type, slip_bold_centre;
    int signatures;         /* signatures given */
    int slip_signatures;    /* signature lines printed (merchant copies) */
    int qr_shown, qr_cleared, qr_polls;
    char qr_payload[512];   /* the last merchant-presented code shown */
} devices;

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static pos_hal_status sim_read_card(void *ctx, const pos_card_request *req, pos_card_data *out) {
    devices *d = (devices *)ctx;
    d->reads++;
    if (d->wait_for_cancel) {
        int i;
        for (i = 0; i < 500; i++) { /* up to 5 s */
            if (pos_cancel_token_is_cancelled(req->cancel)) return POS_HAL_CANCELLED;
            sleep_ms(10);
        }
        return POS_HAL_TIMEOUT;
    }
    if (!req->allow_swipe || d->card == NULL) return POS_HAL_ERROR;
    out->entry = POS_ENTRY_SWIPE;
    copy_str(out->track2, sizeof out->track2, d->card->track2);
    return POS_HAL_OK;
}

static pos_hal_status sim_load_emv(void *ctx, const pos_aid *aids, size_t aid_count, const pos_capk *capks,
                                   size_t capk_count) {
    devices *d = (devices *)ctx;
    size_t i;
    for (i = 0; i < aid_count; i++)
        if (aids[i].aid == NULL || aids[i].aid_len < 5) return POS_HAL_ERROR;
    for (i = 0; i < capk_count; i++)
        if (capks[i].rid_len != 5 || capks[i].modulus_len == 0) return POS_HAL_ERROR;
    d->emv_loads++;
    d->aids = aid_count;
    d->capks = capk_count;
    return POS_HAL_OK;
}

static pos_hal_status sim_get_pin(void *ctx, const pos_pin_request *req, const char *pan, pos_pin_entry *out) {
    devices *d = (devices *)ctx;
    (void)pan; /* the full PAN is for secure pads; never print it */
    d->pins++;
    if (d->card == NULL) return POS_HAL_ERROR;
    if (pos_cancel_token_is_cancelled(req->cancel)) return POS_HAL_CANCELLED;
    out->kind = POS_PIN_CLEAR;
    copy_str(out->pin, sizeof out->pin, d->card->pin);
    return POS_HAL_OK;
}

static pos_hal_status sim_scan(void *ctx, const pos_qr_request *req, char *code, size_t code_len) {
    devices *d = (devices *)ctx;
    (void)req;
    d->scans++;
    if (d->qr_code == NULL || strlen(d->qr_code) >= code_len) return POS_HAL_ERROR;
    copy_str(code, code_len, d->qr_code);
    return POS_HAL_OK;
}

static pos_hal_status sim_serial(void *ctx, char *buf, size_t len) {
    (void)ctx;
    copy_str(buf, len, "SN0001");
    return POS_HAL_OK;
}

static pos_hal_status sim_model(void *ctx, char *buf, size_t len) {
    (void)ctx;
    copy_str(buf, len, "c-demo");
    return POS_HAL_OK;
}

/* The customer-facing screen: a real terminal renders the payload as a QR code. */
static pos_hal_status sim_show_qr(void *ctx, const pos_qr_show *show) {
    devices *d = (devices *)ctx;
    d->qr_shown++;
    copy_str(d->qr_payload, sizeof d->qr_payload, show->payload);
    printf("    (display) QR for %llu fen, %u s: %s\n", (unsigned long long)show->amount,
           (unsigned)show->expires_in_s, show->payload);
    return POS_HAL_OK;
}

static void sim_clear_qr(void *ctx) { ((devices *)ctx)->qr_cleared++; }

static void sim_event(void *ctx, const pos_event *e) {
    devices *d = (devices *)ctx;
    d->events++;
    if (e->kind == POS_EVENT_QR_POLLING) d->qr_polls++;
    if (e->kind == POS_EVENT_REVERSING) printf("    (event) reversing STAN %06u\n", (unsigned)e->stan);
}

static void destroy_reader(void *ctx) { ((devices *)ctx)->destroyed |= 1; }
static void destroy_pad(void *ctx) { ((devices *)ctx)->destroyed |= 2; }
static void destroy_scanner(void *ctx) { ((devices *)ctx)->destroyed |= 4; }
static void destroy_device(void *ctx) { ((devices *)ctx)->destroyed |= 8; }
static void destroy_events(void *ctx) { ((devices *)ctx)->destroyed |= 16; }
static void destroy_clock(void *ctx) { ((devices *)ctx)->destroyed |= 32; }
static void destroy_printer(void *ctx) { ((devices *)ctx)->destroyed |= 128; }
static void destroy_signature_pad(void *ctx) { ((devices *)ctx)->destroyed |= 256; }

/* The signature pad: a 256 x 64 zigzag stroke (1 bit per pixel, rows MSB first). */
static pos_hal_status sim_signature(void *ctx, const pos_signature_request *req, pos_signature_image *out) {
    devices *d = (devices *)ctx;
    const unsigned w = 256, h = 64, stride = (256 + 7) / 8;
    unsigned x;
    if (req == NULL || out == NULL || out->bits == NULL || out->bits_cap < stride * h) return POS_HAL_ERROR;
    memset(out->bits, 0, stride * h);
    for (x = 8; x < w - 8; x++) {
        unsigned y = 16 + (x % 32 < 16 ? x % 16 : 15 - x % 16) * 2;
        out->bits[y * stride + x / 8] |= (uint8_t)(0x80u >> (x % 8));
        out->bits[(y + 1) * stride + x / 8] |= (uint8_t)(0x80u >> (x % 8));
    }
    out->width = (uint16_t)w;
    out->height = (uint16_t)h;
    out->bits_len = stride * h;
    d->signatures++;
    return POS_HAL_OK;
}

/* The printer: counts the copies and checks the layout (the default locale is zh-CN: 交易类型 消费). */
static pos_hal_status sim_print(void *ctx, pos_slip_copy copy, const pos_print_line *lines, size_t count) {
    devices *d = (devices *)ctx;
    size_t i;
    if (copy > POS_COPY_CARDHOLDER || lines == NULL || count == 0) return POS_HAL_ERROR;
    d->slips[copy]++;
    for (i = 0; i < count; i++) {
        if (lines[i].text == NULL) return POS_HAL_ERROR;
        d->slip_lines++;
        if (strstr(lines[i].text, "\xe6\xb6\x88\xe8\xb4\xb9(SALE)") != NULL) d->slip_sale_type++; /* 消费 */
        if (i == 0 && lines[i].kind == POS_PRINT_TEXT && lines[i].align == POS_ALIGN_CENTER && lines[i].bold)
            d->slip_bold_centre++;
        if (lines[i].kind == POS_PRINT_SIGNATURE) {
            if (copy != POS_COPY_MERCHANT || lines[i].data == NULL || lines[i].width != 256 ||
                lines[i].data_len != (size_t)32 * lines[i].height)
                return POS_HAL_ERROR;
            d->slip_signatures++;
        }
    }
    return POS_HAL_OK;
}
static void destroy_display(void *ctx) { ((devices *)ctx)->destroyed |= 64; }

/* The terminal's clock: local time from the C library (the system's time zone). */
static pos_hal_status sys_now(void *ctx, pos_date_time *out) {
    time_t now = time(NULL);
    struct tm tm;
    devices *d = (devices *)ctx;
    d->clock_reads++;
    if (localtime_r(&now, &tm) == NULL) return POS_HAL_ERROR; /* possdk then uses UTC+8 */
    out->year = (uint16_t)(tm.tm_year + 1900);
    out->month = (uint8_t)(tm.tm_mon + 1);
    out->day = (uint8_t)tm.tm_mday;
    out->hour = (uint8_t)tm.tm_hour;
    out->minute = (uint8_t)tm.tm_min;
    out->second = (uint8_t)(tm.tm_sec > 59 ? 59 : tm.tm_sec);
    return POS_HAL_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Checking                                                                                         */

static int failures = 0;

static void fail_details(const pos_terminal *t, const char *step, pos_result r) {
    pos_error_details d;
    failures++;
    /* Without a handle (pos_terminal_new), the calling thread's last error has the details. */
    if ((t != NULL && pos_terminal_last_error(t, &d) == POS_OK) || (t == NULL && pos_last_error(&d) == POS_OK)) {
        fprintf(stderr, "FAIL %s: %d %s (field '%s'): %s\n", step, (int)r, d.code, d.field, d.message);
    } else {
        fprintf(stderr, "FAIL %s: %d %s\n", step, (int)r, pos_result_message(r));
    }
}

#define CHECK_OK(t, step, call)                                                                           \
    do {                                                                                                  \
        pos_result r_ = (call);                                                                           \
        if (r_ != POS_OK) {                                                                               \
            fail_details((t), (step), r_);                                                                \
            goto done;                                                                                    \
        }                                                                                                 \
    } while (0)

#define EXPECT(cond, step)                                                                                \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            fprintf(stderr, "FAIL %s: expected %s\n", (step), #cond);                                     \
            failures++;                                                                                   \
            goto done;                                                                                    \
        }                                                                                                 \
    } while (0)

static void show(const char *step, const pos_transaction_result *r) {
    printf("%-22s %s rc=%s stan=%06u batch=%06u amount=%llu tip=%llu ref=%s auth=%s pan=%s voucher=%s\n", step,
           r->approved ? "APPROVED" : "DECLINED", r->response_code, (unsigned)r->stan, (unsigned)r->batch,
           (unsigned long long)r->amount, (unsigned long long)r->tip, r->reference, r->auth_code, r->masked_pan,
           r->voucher);
}

/* MMDD of an ISO date-time "YYYY-MM-DDThh:mm:ss". */
static void mmdd(const char *iso, char out[5]) {
    out[0] = iso[5];
    out[1] = iso[6];
    out[2] = iso[8];
    out[3] = iso[9];
    out[4] = '\0';
}

/* ---------------------------------------------------------------------------------------------- */
/* pos_cancel from another thread                                                                    */

typedef struct canceller {
    pos_terminal *terminal;
    pthread_mutex_t lock;
    int stop;
    int calls;
} canceller;

static void *cancel_loop(void *arg) {
    canceller *c = (canceller *)arg;
    for (;;) {
        int stop;
        pthread_mutex_lock(&c->lock);
        stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop) break;
        sleep_ms(50);
        /* Cancelling repeatedly (and when nothing runs) is allowed. */
        if (pos_cancel(c->terminal) != POS_OK) return NULL;
        c->calls++;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    devices dev;
    pos_card_reader reader;
    pos_pin_pad pad;
    pos_qr_scanner scanner;
    pos_device_info info;
    pos_event_sink sink;
    pos_clock clock;
    pos_printer printer;
    pos_signature_pad signature_pad;
    pos_qr_display display;
    pos_hal hal;
    pos_terminal *t = NULL;
    char config[1024];
    pos_result r;
    pos_activation_result act;
    pos_master_key_result mk;
    pos_sign_in_result si;
    pos_sign_off_result so;
    pos_echo_result echo;
    pos_download_result dl;
    pos_status_result st;
    pos_transaction_result sale1, sale2, tx;
    pos_records_result recs;
    pos_settlement_result settle;
    pos_error_details err;
    pos_sale_request sale_req;
    pos_void_request void_req;
    pos_tip_request tip_req;
    pos_refund_request ref_req;
    char date[5];
    uint32_t tip_stan, completion_stan;
    pos_transaction_result preauth;
    char *json;

    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST:PORT JOURNAL_PATH\n", argv[0]);
        return 2;
    }
    memset(&dev, 0, sizeof dev);
    memset(&sale1, 0, sizeof sale1);
    memset(&sale2, 0, sizeof sale2);
    memset(&tx, 0, sizeof tx);
    memset(&preauth, 0, sizeof preauth);

    reader.ctx = &dev;
    reader.read_card = sim_read_card;
    reader.complete_chip = NULL; /* swipe only: no chip completion */
    reader.load_emv_parameters = sim_load_emv;
    reader.destroy = destroy_reader;
    pad.ctx = &dev;
    pad.get_pin = sim_get_pin;
    pad.destroy = destroy_pad;
    scanner.ctx = &dev;
    scanner.scan = sim_scan;
    scanner.destroy = destroy_scanner;
    info.ctx = &dev;
    info.serial_number = sim_serial;
    info.model = sim_model;
    info.destroy = destroy_device;
    sink.ctx = &dev;
    sink.on_event = sim_event;
    sink.destroy = destroy_events;
    clock.ctx = &dev;
    clock.now = sys_now;
    clock.destroy = destroy_clock;
    printer.ctx = &dev;
    printer.print = sim_print;
    printer.destroy = destroy_printer;
    signature_pad.ctx = &dev;
    signature_pad.capture = sim_signature;
    signature_pad.destroy = destroy_signature_pad;
    display.ctx = &dev;
    display.show_qr = sim_show_qr;
    display.clear_qr = sim_clear_qr;
    display.destroy = destroy_display;
    memset(&hal, 0, sizeof hal); /* members this program does not set stay NULL */
    hal.card_reader = &reader;
    hal.pin_pad = &pad;
    hal.qr_scanner = &scanner;
    hal.device = &info;
    hal.events = &sink;
    hal.security = NULL; /* possdk's software security module */
    hal.clock = &clock;
    hal.transport = NULL; /* possdk's TCP transport */
    hal.printer = &printer;
    hal.signature_pad = &signature_pad;
    hal.qr_display = &display;

    printf("possdk %s\n", pos_version());

    /* A bad config is an error naming the field, not a crash (and the callbacks are destroyed). */
    {
        devices scratch;
        pos_card_reader r2 = reader;
        pos_hal h2;
        pos_terminal *none = NULL;
        memset(&scratch, 0, sizeof scratch);
        memset(&h2, 0, sizeof h2);
        r2.ctx = &scratch;
        h2.card_reader = &r2;
        r = pos_terminal_new("{\"tid\": 12}", &h2, &none);
        EXPECT(r == POS_INVALID_REQUEST || r == POS_INVALID_JSON, "bad config rejected");
        EXPECT(none == NULL, "bad config leaves *out untouched");
        EXPECT(scratch.destroyed == 1, "bad config destroys the callbacks");
        EXPECT(pos_last_error(&err) == POS_OK && err.result == r, "pos_last_error after a bad config");
        printf("%-22s %s (field '%s')\n", "bad config", err.code, err.field);
    }

    snprintf(config, sizeof config,
             "{\"tid\":\"12345678\",\"mid\":\"123456789012345\","
             "\"gateway\":{\"address\":\"%s\",\"tpdu\":\"6000030000\"},"
             "\"platform\":{\"address\":\"%s\",\"tpdu\":\"6000050000\"},"
             "\"journal_path\":\"%s\",\"timeouts_ms\":{\"connect\":3000,\"response\":10000},"
             "\"qr\":{\"poll_interval_ms\":50}}",
             argv[1], argv[1], argv[2]);
    CHECK_OK(NULL, "pos_terminal_new", pos_terminal_new(config, &hal, &t));

    /* Management: activation, master key, sign-in, EMV parameters. */
    CHECK_OK(t, "activate", pos_terminal_activate(t, "TOKEN0001", &act));
    printf("%-22s merchant='%s' batch=%06u\n", "activate", act.merchant_name, (unsigned)act.batch);
    CHECK_OK(t, "download_master_key", pos_terminal_download_master_key(t, &mk));
    printf("%-22s tmk cv=%s\n", "download_master_key", mk.tmk_check_value);
    CHECK_OK(t, "sign_in", pos_terminal_sign_in(t, &si));
    printf("%-22s batch=%06u at %s\n", "sign_in", (unsigned)si.batch, si.datetime);
    CHECK_OK(t, "download_capks", pos_terminal_download_capks(t, &dl));
    printf("%-22s count=%u rejected=%u\n", "download_capks", (unsigned)dl.count, (unsigned)dl.rejected);
    EXPECT(dl.count > 0, "CAPKs downloaded");
    CHECK_OK(t, "download_aids", pos_terminal_download_aids(t, &dl));
    printf("%-22s count=%u\n", "download_aids", (unsigned)dl.count);
    EXPECT(dl.count > 0, "AIDs downloaded");
    EXPECT(dev.emv_loads > 0, "EMV parameters loaded into the reader");
    CHECK_OK(t, "status", pos_terminal_status(t, &st));
    EXPECT(st.activated && st.signed_in && !st.has_pending_reversal, "status after sign-in");

    /* Echo test (MAC'd while signed in), then a sign-off: the next sale needs a sign-in. */
    CHECK_OK(t, "echo", pos_terminal_echo(t, &echo));
    printf("%-22s rc=%s maced=%d %llu ms\n", "echo", echo.response_code, (int)echo.maced,
           (unsigned long long)echo.round_trip_ms);
    EXPECT(strcmp(echo.response_code, "00") == 0 && echo.maced, "echo answered 00, MAC'd");
    CHECK_OK(t, "sign_off", pos_terminal_sign_off(t, &so));
    printf("%-22s sent=%d rc=%s\n", "sign_off", (int)so.sent, so.response_code);
    EXPECT(so.sent && strcmp(so.response_code, "00") == 0, "sign-off acknowledged");
    CHECK_OK(t, "status", pos_terminal_status(t, &st));
    EXPECT(!st.signed_in, "signed out after sign-off");
    memset(&sale_req, 0, sizeof sale_req);
    sale_req.amount = 100;
    sale_req.method = POS_PAYMENT_CARD;
    dev.card = &CARD_OK;
    r = pos_terminal_sale(t, &sale_req, &sale1);
    EXPECT(r != POS_OK, "a sale after sign-off is refused");
    EXPECT(pos_terminal_last_error(t, &err) == POS_OK && strcmp(err.code, "not_signed_in") == 0,
           "refused as not_signed_in");
    CHECK_OK(t, "sign_in", pos_terminal_sign_in(t, &si));

    /* Sale, then void it. */
    dev.card = &CARD_OK;
    memset(&sale_req, 0, sizeof sale_req);
    sale_req.amount = 10000;
    sale_req.method = POS_PAYMENT_CARD;
    sale_req.card = NULL; /* ask the card reader */
    CHECK_OK(t, "sale", pos_terminal_sale(t, &sale_req, &sale1));
    show("sale", &sale1);
    EXPECT(sale1.approved && strcmp(sale1.response_code, "00") == 0, "sale approved");
    EXPECT(sale1.outcome == POS_OUTCOME_APPROVED, "sale outcome approved");
    EXPECT(strcmp(sale1.masked_pan, "622588******6789") == 0, "masked PAN 6+4");
    EXPECT(sale1.receipt != NULL && strstr(sale1.receipt, "6789") != NULL, "receipt text");
    EXPECT(strstr(sale1.receipt, "6225880123456789") == NULL, "receipt never shows the full PAN");
    printf("---- receipt ----\n%s\n-----------------\n", sale1.receipt);
    EXPECT(dev.slips[POS_COPY_MERCHANT] == 1 && dev.slips[POS_COPY_CARDHOLDER] == 1,
           "both copies of the sale's slip printed");
    EXPECT(dev.slip_sale_type == 2 && dev.slip_bold_centre == 2, "slip lines: 交易类型 消费, bold centred title");
    EXPECT(dev.signatures == 1, "the cardholder signed the sale on the pad");
    EXPECT(dev.slip_signatures == 1, "the merchant copy carries the signature");
    EXPECT(strstr(sale1.receipt, "\xe5\x95\x86\xe6\x88\xb7\xe5\xad\x98\xe6\xa0\xb9") != NULL,
           "the text receipt is the merchant copy (商户存根)");

    memset(&void_req, 0, sizeof void_req);
    void_req.stan = sale1.stan;
    CHECK_OK(t, "void", pos_terminal_void(t, &void_req, &tx));
    show("void", &tx);
    EXPECT(tx.approved, "void approved");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;

    /* Voiding it again: the host refuses (12) or possdk refuses locally. Either way no crash. */
    r = pos_terminal_void(t, &void_req, &tx);
    if (r == POS_OK) {
        show("void again", &tx);
        EXPECT(!tx.approved, "second void declined");
        pos_string_free(tx.receipt);
        tx.receipt = NULL;
    } else {
        EXPECT(pos_terminal_last_error(t, &err) == POS_OK && err.result == r, "last error of second void");
        printf("%-22s refused: %s (%s)\n", "void again", err.code, err.message);
    }

    /* Sale with tip, tip void, partial refund. */
    sale_req.amount = 5000;
    CHECK_OK(t, "sale 2", pos_terminal_sale(t, &sale_req, &sale2));
    show("sale 2", &sale2);
    EXPECT(sale2.approved, "sale 2 approved");
    tip_req.stan = sale2.stan;
    tip_req.tip = 500;
    CHECK_OK(t, "tip", pos_terminal_tip(t, &tip_req, &tx));
    show("tip", &tx);
    EXPECT(tx.approved, "tip approved");
    tip_stan = tx.stan;
    pos_string_free(tx.receipt);
    tx.receipt = NULL;
    CHECK_OK(t, "tip_void", pos_terminal_tip_void(t, tip_stan, &tx));
    show("tip_void", &tx);
    EXPECT(tx.approved, "tip void approved");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;

    memset(&ref_req, 0, sizeof ref_req);
    mmdd(sale2.datetime, date);
    ref_req.amount = 2000;
    ref_req.original.reference = sale2.reference;
    ref_req.original.date = date;
    CHECK_OK(t, "refund", pos_terminal_refund(t, &ref_req, &tx));
    show("refund", &tx);
    EXPECT(tx.approved, "refund approved");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;

    /* Pre-auth, completion (within 115 %), completion void; a second pre-auth voided. */
    sale_req.amount = 30000;
    CHECK_OK(t, "preauth", pos_terminal_preauth(t, &sale_req, &preauth));
    show("preauth", &preauth);
    EXPECT(preauth.approved && preauth.auth_code[0] != '\0', "preauth approved with an auth code");
    memset(&ref_req, 0, sizeof ref_req);
    mmdd(preauth.datetime, date);
    ref_req.amount = 32000;
    ref_req.original.auth_code = preauth.auth_code;
    ref_req.original.date = date;
    ref_req.original.batch = preauth.batch;
    ref_req.original.stan = preauth.stan;
    CHECK_OK(t, "preauth_complete", pos_terminal_preauth_complete(t, &ref_req, &tx));
    show("preauth_complete", &tx);
    EXPECT(tx.approved, "completion approved");
    completion_stan = tx.stan;
    pos_string_free(tx.receipt);
    tx.receipt = NULL;
    void_req.stan = completion_stan;
    CHECK_OK(t, "preauth_complete_void", pos_terminal_preauth_complete_void(t, &void_req, &tx));
    show("preauth_complete_void", &tx);
    EXPECT(tx.approved, "completion void approved");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;
    pos_string_free(preauth.receipt);
    preauth.receipt = NULL;

    sale_req.amount = 10000;
    CHECK_OK(t, "preauth 2", pos_terminal_preauth(t, &sale_req, &preauth));
    EXPECT(preauth.approved, "preauth 2 approved");
    memset(&ref_req, 0, sizeof ref_req);
    mmdd(preauth.datetime, date);
    ref_req.amount = 10000;
    ref_req.original.auth_code = preauth.auth_code;
    ref_req.original.date = date;
    ref_req.original.batch = preauth.batch;
    ref_req.original.stan = preauth.stan;
    CHECK_OK(t, "preauth_void", pos_terminal_preauth_void(t, &ref_req, &tx));
    show("preauth_void", &tx);
    EXPECT(tx.approved, "preauth void approved");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;

    /* Balance inquiry. */
    CHECK_OK(t, "balance", pos_terminal_balance(t, NULL, &tx));
    show("balance", &tx);
    EXPECT(tx.approved && tx.has_balance && tx.balance > 0, "balance returned");
    printf("%-22s %lld fen\n", "balance", (long long)tx.balance);
    pos_string_free(tx.receipt);
    tx.receipt = NULL;

    /* Wrong PIN: a decline is POS_OK with approved == false. */
    dev.card = &CARD_WRONG_PIN;
    sale_req.amount = 100;
    CHECK_OK(t, "sale wrong PIN", pos_terminal_sale(t, &sale_req, &tx));
    show("sale wrong PIN", &tx);
    EXPECT(!tx.approved && strcmp(tx.response_code, "55") == 0, "wrong PIN declined 55");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;
    dev.card = &CARD_OK;

    /* QR sale through the scanner callback. */
    dev.qr_code = "134567890123456789";
    sale_req.amount = 1234;
    sale_req.method = POS_PAYMENT_QR;
    sale_req.qr_code = NULL; /* ask the scanner */
    CHECK_OK(t, "qr sale", pos_terminal_sale(t, &sale_req, &tx));
    show("qr sale", &tx);
    EXPECT(tx.approved && tx.voucher[0] != '\0', "QR sale approved with a voucher");
    pos_string_free(tx.receipt);
    tx.receipt = NULL;
    sale_req.method = POS_PAYMENT_CARD;

    /* Merchant-presented QR: the code goes to the display callback, the status is polled until paid
     * (possdk-host's default payer pays at the second query); then one status query by its STAN. */
    {
        uint32_t order_stan;
        CHECK_OK(t, "qr order", pos_terminal_qr_order(t, 4321, &tx));
        show("qr order", &tx);
        EXPECT(tx.approved && strcmp(tx.qr_state, "paid") == 0, "QR order paid");
        EXPECT(dev.qr_shown == 1 && dev.qr_cleared == 1, "QR code shown once and cleared");
        EXPECT(strcmp(dev.qr_payload, tx.qr_payload) == 0, "displayed payload is the result's");
        EXPECT(dev.qr_polls >= 2, "each poll is an event");
        order_stan = tx.stan;
        pos_string_free(tx.receipt);
        tx.receipt = NULL;
        CHECK_OK(t, "qr query", pos_terminal_qr_query(t, order_stan, NULL, &tx));
        show("qr query", &tx);
        EXPECT(tx.approved && tx.stan == order_stan && strcmp(tx.qr_state, "paid") == 0, "QR query says paid");
        pos_string_free(tx.receipt);
        tx.receipt = NULL;
        r = pos_terminal_qr_query(t, 0, NULL, &tx);
        EXPECT(r == POS_INVALID_REQUEST, "QR query without order or voucher refused");
    }

    /* Card data inline (no card-reader or PIN-pad call): the scripting-host way, from C. */
    {
        pos_card_input inline_card;
        int reads_before = dev.reads, pins_before = dev.pins;
        memset(&inline_card, 0, sizeof inline_card);
        inline_card.entry = POS_ENTRY_SWIPE;
        inline_card.track2 = CARD_OK.track2;
        inline_card.pin = CARD_OK.pin;
        sale_req.amount = 250;
        sale_req.method = POS_PAYMENT_CARD;
        sale_req.card = &inline_card;
        CHECK_OK(t, "inline card sale", pos_terminal_sale(t, &sale_req, &tx));
        show("inline card sale", &tx);
        EXPECT(tx.approved, "inline card sale approved");
        EXPECT(dev.reads == reads_before && dev.pins == pins_before, "no device callback for inline data");
        pos_string_free(tx.receipt);
        tx.receipt = NULL;
        sale_req.card = NULL;
    }

    /* Cancel a sale waiting for a card, from another thread (several times). */
    {
        canceller c;
        pthread_t th;
        memset(&c, 0, sizeof c);
        c.terminal = t;
        pthread_mutex_init(&c.lock, NULL);
        dev.wait_for_cancel = 1;
        if (pthread_create(&th, NULL, cancel_loop, &c) != 0) {
            fprintf(stderr, "FAIL pthread_create\n");
            failures++;
            goto done;
        }
        sale_req.amount = 777;
        r = pos_terminal_sale(t, &sale_req, &tx);
        pthread_mutex_lock(&c.lock);
        c.stop = 1;
        pthread_mutex_unlock(&c.lock);
        pthread_join(th, NULL);
        pthread_mutex_destroy(&c.lock);
        dev.wait_for_cancel = 0;
        printf("%-22s %d %s (pos_cancel called %d times)\n", "cancelled sale", (int)r, pos_result_code(r), c.calls);
        EXPECT(r == POS_CANCELLED, "sale cancelled while waiting for the card");
        EXPECT(c.calls >= 2, "pos_cancel called at least twice");
    }

    /* Unknown STAN: an error naming the field, details readable afterwards. */
    void_req.stan = 999999;
    r = pos_terminal_void(t, &void_req, &tx);
    EXPECT(r != POS_OK, "void of an unknown STAN fails");
    CHECK_OK(t, "last_error", pos_terminal_last_error(t, &err));
    printf("%-22s %d %s field='%s' message='%s'\n", "void unknown STAN", (int)err.result, err.code, err.field,
           err.message);
    EXPECT(err.result == r, "last error matches");
    {
        char small[4];
        size_t need = 0;
        EXPECT(pos_terminal_last_error_message(t, small, sizeof small, &need) == POS_BUFFER_TOO_SMALL || need < 4,
               "small buffer reported");
    }

    /* Reprint the first sale from the journal (nothing goes to the host). */
    CHECK_OK(t, "reprint", pos_terminal_reprint(t, sale1.stan, 0, &tx));
    EXPECT(tx.stan == sale1.stan && tx.receipt != NULL && strstr(tx.receipt, "6789") != NULL, "reprint receipt");
    printf("%-22s stan=%06u (%d receipt bytes)\n", "reprint", (unsigned)tx.stan, (int)strlen(tx.receipt));
    pos_string_free(tx.receipt);
    tx.receipt = NULL;

    /* Detail query (host) and journal (local): lists come as owned JSON. */
    CHECK_OK(t, "query_details", pos_terminal_query_details(t, 0, &recs));
    printf("%-22s %u records\n", "query_details", (unsigned)recs.count);
    EXPECT(recs.count > 0 && recs.records_json != NULL && recs.records_json[0] == '[', "detail records");
    pos_string_free(recs.records_json);
    CHECK_OK(t, "journal", pos_terminal_journal(t, 0, &recs));
    printf("%-22s %u records\n", "journal", (unsigned)recs.count);
    EXPECT(recs.count > 0, "journal records");
    EXPECT(strstr(recs.records_json, "6225880123456789") == NULL, "journal listing masks PANs");
    pos_string_free(recs.records_json);

    /* The JSON entry point on the same handle. */
    json = pos_call_json(t, "{\"op\":\"status\"}");
    EXPECT(json != NULL && strstr(json, "\"ok\":true") != NULL, "JSON status");
    printf("%-22s %s\n", "json status", json);
    pos_string_free(json);
    json = pos_call_json(t, "{\"op\":");
    EXPECT(json != NULL && strstr(json, "invalid_json") != NULL, "JSON malformed request");
    pos_string_free(json);

    /* Settlement. */
    CHECK_OK(t, "settle", pos_terminal_settle(t, &settle));
    printf("%-22s batch=%06u balanced=%d uploaded=%u next=%06u domestic debit %u/%llu credit %u/%llu\n", "settle",
           (unsigned)settle.batch, (int)settle.balanced, (unsigned)settle.uploaded, (unsigned)settle.next_batch,
           (unsigned)settle.terminal.domestic.debit.count,
           (unsigned long long)settle.terminal.domestic.debit.amount,
           (unsigned)settle.terminal.domestic.credit.count,
           (unsigned long long)settle.terminal.domestic.credit.amount);
    EXPECT(settle.balanced, "settlement balanced");
    EXPECT(settle.terminal.domestic.debit.count == settle.host.domestic.debit.count &&
               settle.terminal.domestic.debit.amount == settle.host.domestic.debit.amount,
           "terminal totals equal host totals");

done:
    pos_string_free(sale1.receipt);
    pos_string_free(sale2.receipt);
    pos_string_free(tx.receipt);
    pos_string_free(preauth.receipt);
    pos_terminal_free(t);
    if (t != NULL && dev.destroyed != 511) {
        fprintf(stderr, "FAIL destroy: callbacks destroyed mask %d, expected 511\n", dev.destroyed);
        failures++;
    }
    if (t != NULL) {
        /* The handle is checked on every call: once freed it is refused (never used), and freeing it
         * again is harmless. */
        if (pos_terminal_status(t, &st) != POS_INVALID_HANDLE || pos_cancel(t) != POS_INVALID_HANDLE) {
            fprintf(stderr, "FAIL freed handle: expected POS_INVALID_HANDLE\n");
            failures++;
        }
        pos_terminal_free(t);
    }
    pos_terminal_free(NULL); /* no-op */
    pos_string_free(NULL);   /* no-op */
    printf("events=%d card reads=%d PINs=%d scans=%d clock reads=%d slips=%d+%d (%d lines) signatures=%d\n",
           dev.events, dev.reads, dev.pins, dev.scans, dev.clock_reads, dev.slips[0], dev.slips[1], dev.slip_lines,
           dev.signatures);
    if (t != NULL && dev.clock_reads == 0) {
        fprintf(stderr, "FAIL clock: the pos_clock callback was never read\n");
        failures++;
    }
    if (failures) {
        printf("terminal day FAILED (%d)\n", failures);
        return 1;
    }
    printf("terminal day OK\n");
    return 0;
}
