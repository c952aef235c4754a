/*
 * Handles under misuse, from C: use after free, double free, forged handles, a freed slot reused, a
 * cancel from another thread during a call, and a free while another thread is inside a call. Every case
 * must be a result code (POS_INVALID_HANDLE) or an error envelope, never a hang, crash or abort.
 * ffi-c/tests/misuse.rs compiles it with -fsanitize=address,undefined and runs it.
 *
 *   misuse SCRATCH_DIR
 */
#include "possdk.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;

#define EXPECT(cond, what)                                              \
    do {                                                                \
        if (cond) {                                                     \
            printf("ok   %s\n", what);                                  \
        } else {                                                        \
            printf("FAIL %s (line %d)\n", what, __LINE__);              \
            failures++;                                                 \
        }                                                               \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* A transport that blocks until the operation is cancelled (it never sends). */
typedef struct net {
    int waiting;   /* set once an exchange is waiting (read with __atomic) */
    int destroyed; /* destroy calls */
} net;

static pos_transport_status wait_for_cancel(void *ctx, const pos_endpoint *endpoint, const uint8_t *request,
                                            size_t request_len, uint8_t *response, size_t response_cap,
                                            size_t *response_len, const pos_cancel_token *cancel) {
    net *n = (net *)ctx;
    int i;
    (void)endpoint; (void)request; (void)request_len; (void)response; (void)response_cap; (void)response_len;
    __atomic_store_n(&n->waiting, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < 30000; i++) { /* 30 s at most: the test fails rather than hangs */
        if (pos_cancel_token_is_cancelled(cancel)) return POS_TRANSPORT_CANCELLED_NOT_SENT;
        sleep_ms(1);
    }
    return POS_TRANSPORT_NOT_SENT;
}

static void destroy_net(void *ctx) { __atomic_add_fetch(&((net *)ctx)->destroyed, 1, __ATOMIC_SEQ_CST); }

static char config[1024];

static pos_terminal *new_terminal(net *n, pos_transport *tr) {
    pos_hal hal;
    pos_terminal *t = NULL;
    memset(&hal, 0, sizeof hal);
    if (n != NULL) {
        tr->ctx = n;
        tr->exchange = wait_for_cancel;
        tr->destroy = destroy_net;
        hal.transport = tr;
    }
    if (pos_terminal_new(config, &hal, &t) != POS_OK) return NULL;
    return t;
}

/* Every entry point that takes a handle, on a handle that is not live. */
static void every_entry_point_refuses(pos_terminal *t, const char *label) {
    char what[128];
    int bad = 0;
    pos_error_details d;
    pos_transaction_result tx;
    pos_status_result st;
    pos_activation_result act;
    pos_settlement_result settle;
    pos_records_result recs;
    pos_sale_request sale;
    char buf[64];
    size_t written = 0;
    char *json;

    memset(&sale, 0, sizeof sale);
    sale.amount = 100;
    if (pos_terminal_status(t, &st) != POS_INVALID_HANDLE) bad |= 1;
    if (pos_terminal_sale(t, &sale, &tx) != POS_INVALID_HANDLE) bad |= 2;
    if (pos_terminal_activate(t, "TOKEN", &act) != POS_INVALID_HANDLE) bad |= 4;
    if (pos_terminal_settle(t, &settle) != POS_INVALID_HANDLE) bad |= 8;
    if (pos_terminal_journal(t, 0, &recs) != POS_INVALID_HANDLE) bad |= 16;
    if (pos_terminal_tip_void(t, 1, &tx) != POS_INVALID_HANDLE) bad |= 32;
    if (pos_terminal_last_error(t, &d) != POS_INVALID_HANDLE) bad |= 64;
    if (pos_terminal_last_error_message(t, buf, sizeof buf, &written) != POS_INVALID_HANDLE) bad |= 128;
    if (pos_cancel(t) != POS_INVALID_HANDLE) bad |= 256;
    json = pos_call_json(t, "{\"op\":\"status\"}");
    if (json == NULL || strstr(json, "\"invalid_handle\"") == NULL) bad |= 512;
    pos_string_free(json);
    pos_terminal_free(t); /* ignored */
    if (pos_last_error(&d) != POS_OK || d.result != POS_INVALID_HANDLE) bad |= 1024;
    snprintf(what, sizeof what, "%s: every entry point answers POS_INVALID_HANDLE (mask %d)", label, bad);
    EXPECT(bad == 0, what);
}

typedef struct call {
    pos_terminal *t;
    pos_result result;
    int done;
} call;

static void *activate_thread(void *arg) {
    call *c = (call *)arg;
    pos_activation_result act;
    c->result = pos_terminal_activate(c->t, "TOKEN0001", &act);
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int wait_until(int *flag) {
    int i;
    for (i = 0; i < 10000; i++) {
        if (__atomic_load_n(flag, __ATOMIC_SEQ_CST)) return 1;
        sleep_ms(1);
    }
    return 0;
}

int main(int argc, char **argv) {
    pos_terminal *t, *t2;
    pos_status_result st;
    int on_stack = 0;
    int *on_heap;
    pos_transport tr;
    net n;
    call c;
    pthread_t th;

    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(config, sizeof config,
             "{\"tid\":\"12345678\",\"mid\":\"123456789012345\","
             "\"gateway\":{\"address\":\"127.0.0.1:9\",\"tpdu\":\"6000030000\"},"
             "\"platform\":{\"address\":\"127.0.0.1:9\",\"tpdu\":\"6000050000\"},"
             "\"journal_path\":\"%s/journal.db\",\"device\":{\"serial\":\"SN0001\",\"model\":\"misuse\"}}",
             argv[1]);

    /* Use after free and double free. */
    t = new_terminal(NULL, NULL);
    EXPECT(t != NULL, "terminal created");
    EXPECT(pos_terminal_status(t, &st) == POS_OK, "live handle works");
    pos_terminal_free(t);
    every_entry_point_refuses(t, "freed handle");
    pos_terminal_free(t); /* a third free: still harmless */

    /* Forged handles: small integers, an address on the stack, a heap block, all-ones. */
    every_entry_point_refuses((pos_terminal *)(uintptr_t)0x1234, "forged 0x1234");
    every_entry_point_refuses((pos_terminal *)(void *)&on_stack, "stack address");
    on_heap = (int *)malloc(64);
    every_entry_point_refuses((pos_terminal *)(void *)on_heap, "heap address");
    free(on_heap);
    every_entry_point_refuses((pos_terminal *)(uintptr_t)UINTPTR_MAX, "all ones");

    /* A freed slot reused by a new terminal: the old handle still names nothing. */
    t = new_terminal(NULL, NULL);
    pos_terminal_free(t);
    t2 = new_terminal(NULL, NULL);
    EXPECT(t2 != NULL && t2 != t, "new terminal gets a new handle");
    EXPECT(pos_terminal_status(t, &st) == POS_INVALID_HANDLE, "stale handle refused after reuse");
    EXPECT(pos_terminal_status(t2, &st) == POS_OK, "new handle works");
    pos_terminal_free(t2);

    /* pos_cancel from another thread while a call waits. */
    memset(&n, 0, sizeof n);
    memset(&tr, 0, sizeof tr);
    t = new_terminal(&n, &tr);
    memset(&c, 0, sizeof c);
    c.t = t;
    pthread_create(&th, NULL, activate_thread, &c);
    EXPECT(wait_until(&n.waiting), "the call is waiting in the transport");
    EXPECT(pos_cancel(t) == POS_OK, "pos_cancel from another thread");
    pthread_join(th, NULL);
    EXPECT(c.result == POS_CANCELLED, "the waiting call returned POS_CANCELLED");

    /* pos_terminal_free while another thread is inside a call: it cancels and waits for it. */
    __atomic_store_n(&n.waiting, 0, __ATOMIC_SEQ_CST);
    memset(&c, 0, sizeof c);
    c.t = t;
    pthread_create(&th, NULL, activate_thread, &c);
    EXPECT(wait_until(&n.waiting), "the call is waiting again");
    pos_terminal_free(t);
    EXPECT(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST) == 1, "free returned after the call finished");
    EXPECT(__atomic_load_n(&n.destroyed, __ATOMIC_SEQ_CST) == 1, "transport destroyed once, by free");
    pthread_join(th, NULL);
    EXPECT(c.result == POS_CANCELLED, "the call in flight was cancelled");
    every_entry_point_refuses(t, "handle freed during a call");

    if (failures) {
        printf("misuse FAILED (%d)\n", failures);
        return 1;
    }
    printf("misuse OK\n");
    return 0;
}
