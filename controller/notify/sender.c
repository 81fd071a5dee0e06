/*
 * sender.c - the notification sender's thread; see notify.h.
 *
 * Each delivery is sent inside the transaction that locked its row and
 * recorded in that transaction: committed as delivered after a 2xx, it is
 * never taken again.  A controller killed after the receiver's 2xx and
 * before the commit leaves the row pending, unlocked by the dead backend,
 * and the next sender posts it again: at least once, and never again
 * once an acknowledgement is recorded.  Receivers can recognize a repeat
 * by X-Sluice-Delivery.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/cfg.h"
#include "base/hash.h"
#include "base/log.h"
#include "notify/notify.h"
#include "notify/notify_int.h"
#include "store/db.h"
#include "store/store_notify.h"

/*
 * Text past a buffer's cap is cut there (the caps are far above any real
 * message); the outcome of an append is deliberately not acted on.
 */
static void
capped(int rc)
{
	(void)rc;
}

struct notify {
	const struct cfg	*cfg;
	pthread_t		 thread;
	atomic_int		 stopping;
};

/* The wait before the retry after attempts tries: doubling, capped. */
static int64_t
backoff_ms(int attempts)
{
	int64_t ms = LIM_NOTIFY_BACKOFF_MS;

	for (int i = 1; i < attempts && ms < LIM_NOTIFY_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < LIM_NOTIFY_BACKOFF_MAX_MS ? ms : LIM_NOTIFY_BACKOFF_MAX_MS;
}

static const struct cfg_notification *
notification_find(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nnotifications; i++) {
		if (strcmp(cfg->notifications[i].name, name) == 0)
			return &cfg->notifications[i];
	}
	return NULL;
}

/* The value of environment variable name, or NULL when unset or empty. */
static const char *
env_value(const char *name)
{
	const char *v = name != NULL ? getenv(name) : NULL;

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * Where and how delivery d goes: *url and the headers (hdr[], up to 4 and
 * a NULL; secrets in them are wiped by the caller).  ERR_NOTFOUND when
 * its receiver is no longer configured (never retried), ERR_INVALID when
 * a variable it needs is unset (retried: a restart may set it).
 */
static int
resolve(const struct cfg *cfg, const struct notify_delivery *d,
    struct buf *url, struct buf hdr[4], struct err *err)
{
	const struct cfg_notification *n;
	const struct cfg_repo *r;
	const char *v, *secret, *base;
	char sig[HASH_HMAC_SIG_LEN + 1];
	size_t blen;

	if (strcmp(d->channel, "notification") == 0) {
		if ((n = notification_find(cfg, d->target)) == NULL)
			return err_set(err, ERR_NOTFOUND, "notification '%s' "
			    "is no longer configured", d->target);
		if ((v = env_value(n->url_env)) == NULL)
			return err_set(err, ERR_INVALID, "variable %s (url_env) "
			    "is not set", n->url_env);
		capped(buf_puts(url, v));
		capped(buf_printf(&hdr[0], "X-Sluice-Delivery: %lld",
		    (long long)d->id));
		if (strcmp(n->format, "json") != 0)
			return 0;
		if ((secret = env_value(n->secret_env)) == NULL)
			return err_set(err, ERR_INVALID, "variable %s "
			    "(secret_env) is not set", n->secret_env);
		if (hash_hmac_sig(secret, d->body, strlen(d->body), sig,
		    sizeof(sig)) < 0)
			return err_set(err, ERR_GENERIC, "hmac-sha256 failed");
		capped(buf_printf(&hdr[1], "X-Sluice-Signature-256: %s", sig));
		return 0;
	}
	if ((r = cfg_repo_find(cfg, d->target)) == NULL ||
	    r->cs_provider == NULL || strcmp(r->cs_provider, d->format) != 0)
		return err_set(err, ERR_NOTFOUND, "commit_status of repository "
		    "'%s' is no longer configured", d->target);
	if ((v = env_value(r->cs_token_env)) == NULL)
		return err_set(err, ERR_INVALID, "variable %s (token_env) is "
		    "not set", r->cs_token_env);
	base = r->cs_api_url;
	if (strcmp(r->cs_provider, "github") == 0) {
		if (base == NULL)
			base = "https://api.github.com";
		capped(buf_printf(&hdr[0], "Authorization: Bearer %s", v));
		capped(buf_puts(&hdr[1], "Accept: application/vnd.github+json"));
	} else {
		if (base == NULL)
			base = "https://gitlab.com/api/v4";
		capped(buf_printf(&hdr[0], "PRIVATE-TOKEN: %s", v));
	}
	blen = strlen(base);
	if (blen > 0 && base[blen - 1] == '/')
		blen--;		/* the path starts with its own '/' */
	capped(buf_append(url, base, blen));
	capped(buf_puts(url, d->path != NULL ? d->path : ""));
	return 0;
}

/*
 * Post d and record the outcome, inside the transaction that holds its
 * row.  A 2xx is delivered; 4xx other than 408 and 429 will not get
 * better and fails at once; anything else is retried with backoff until
 * LIM_NOTIFY_ATTEMPTS.
 */
static int
send_one(const struct cfg *cfg, struct db *db, const struct notify_delivery *d,
    struct err *err)
{
	struct buf url, answer, hdr[4];
	const char *hv[5] = { NULL };
	struct err perr;
	char msg[512];
	int status = 0, rc, final, ok = 0, n = 0;

	buf_init_secret(&url, LIM_URL + LIM_URL);
	buf_init(&answer, 200);
	for (int i = 0; i < 4; i++)
		buf_init_secret(&hdr[i], 1024);
	err_clear(&perr);
	msg[0] = '\0';
	rc = resolve(cfg, d, &url, hdr, &perr);
	if (rc == 0) {
		for (int i = 0; i < 4; i++)
			if (hdr[i].data != NULL)
				hv[n++] = hdr[i].data;
		rc = notify_post(url.data, hv, d->body, LIM_NOTIFY_TIMEOUT_MS,
		    &status, &answer, &perr);
	}
	if (rc == 0 && status >= 200 && status < 300) {
		ok = 1;
	} else if (rc == 0) {
		(void)snprintf(msg, sizeof(msg), "HTTP %d%s%.*s", status,
		    answer.len > 0 ? ": " : "", (int)answer.len,
		    answer.data != NULL ? answer.data : "");
	} else {
		(void)str_copy(msg, sizeof(msg), perr.msg);
	}
	/*
	 * The answer is the receiver's bytes: kept printable ASCII, so the
	 * record of the attempt cannot fail on an encoding and leave the
	 * delivery to be sent again at once.
	 */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	final = !ok && (rc == ERR_NOTFOUND || d->attempts + 1 >=
	    LIM_NOTIFY_ATTEMPTS || (rc == 0 && status >= 400 && status < 500 &&
	    status != 408 && status != 429));
	if (ok)
		log_info("notification delivered", "delivery=%lld channel=%s "
		    "target=%s status=%d attempt=%d", (long long)d->id,
		    d->channel, d->target, status, d->attempts + 1);
	else
		log_warn(final ? "notification failed" :
		    "notification not delivered, retrying", "delivery=%lld "
		    "channel=%s target=%s attempt=%d error=\"%s\"",
		    (long long)d->id, d->channel, d->target, d->attempts + 1,
		    msg);
	rc = store_notify_delivery_result(db, d->id, ok, status, msg, final,
	    backoff_ms(d->attempts + 1), err);
	buf_release(&url);
	buf_release(&answer);
	for (int i = 0; i < 4; i++)
		buf_release(&hdr[i]);
	return rc;
}

/* Turn waiting outbox rows into deliveries, a batch per transaction. */
static int
fan_out(struct notify *nt, struct db *db, struct err *err)
{
	struct notify_outbox_row *rows = NULL;
	size_t n = 0;
	int rc;

	do {
		if ((rc = db_begin(db, err)) < 0)
			return rc;
		if ((rc = store_notify_outbox_claim(db, LIM_NOTIFY_BATCH,
		    &rows, &n, err)) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			if ((rc = notify_fan_out(nt->cfg, db, &rows[i],
			    err)) < 0 ||
			    (rc = store_notify_outbox_done(db, rows[i].id,
			    err)) < 0)
				goto out;
		}
		rc = db_commit(db, err);
out:
		db_rollback(db);
		store_notify_outbox_free(rows, n);
		rows = NULL;
	} while (rc == 0 && n == LIM_NOTIFY_BATCH &&
	    !atomic_load(&nt->stopping));
	return rc;
}

/* Send every due delivery, one transaction each. */
static int
send_due(struct notify *nt, struct db *db, struct err *err)
{
	struct notify_delivery d;
	int rc = 0;

	while (!atomic_load(&nt->stopping)) {
		if ((rc = db_begin(db, err)) < 0)
			return rc;
		rc = store_notify_delivery_claim(db, &d, err);
		if (rc == 0)
			rc = send_one(nt->cfg, db, &d, err);
		if (rc == 0)
			rc = db_commit(db, err);
		db_rollback(db);
		store_notify_delivery_release(&d);
		if (rc < 0)
			return rc == ERR_NOTFOUND ? 0 : rc;
	}
	return rc;
}

static void
nap(struct notify *nt, int ms)
{
	for (; ms > 0 && !atomic_load(&nt->stopping); ms -= 100) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void *
sender_main(void *arg)
{
	struct notify *nt = arg;
	struct db *db = NULL;
	struct err err;
	char ch[64], payload[256];
	int64_t idle;

	while (!atomic_load(&nt->stopping) &&
	    db_open(&db, nt->cfg->database_url, &err) < 0) {
		log_warn("notify: database unavailable", "error=\"%s\"",
		    err.msg);
		nap(nt, 2000);
	}
	if (db == NULL)
		return NULL;
	if (db_listen(db, "sluice_notify", &err) < 0)
		log_warn("notify: cannot listen", "error=\"%s\"", err.msg);
	while (!atomic_load(&nt->stopping)) {
		if (fan_out(nt, db, &err) < 0 || send_due(nt, db, &err) < 0) {
			log_warn("notify: cannot send", "error=\"%s\"",
			    err.msg);
			nap(nt, 1000);
			continue;
		}
		if (store_notify_idle_ms(db, 30 * 1000, &idle, &err) < 0)
			idle = 1000;
		/* Waits of 500 ms, so a stop is seen soon. */
		for (; idle > 0 && !atomic_load(&nt->stopping); idle -= 500) {
			if (db_wait_notify(db, (int)(idle < 500 ? idle : 500),
			    ch, sizeof(ch), payload, sizeof(payload),
			    &err) != 0)
				break;
		}
	}
	db_free(db);
	return NULL;
}

int
notify_start(struct notify **out, const struct cfg *cfg, struct err *err)
{
	struct notify *nt;

	*out = NULL;
	nt = xcalloc(1, sizeof(*nt));
	nt->cfg = cfg;
	atomic_init(&nt->stopping, 0);
	if (pthread_create(&nt->thread, NULL, sender_main, nt) != 0) {
		free(nt);
		return err_set(err, ERR_GENERIC, "cannot start the notification "
		    "sender");
	}
	log_info("notification sender started", "notifications=%zu",
	    cfg->nnotifications);
	*out = nt;
	return 0;
}

void
notify_stop(struct notify *nt)
{
	if (nt == NULL)
		return;
	atomic_store(&nt->stopping, 1);
	pthread_join(nt->thread, NULL);
	free(nt);
}
