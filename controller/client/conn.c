/*
 * conn.c - the client's connection: server and token (flags, environment,
 * ~/.config/sluice/client.yaml), the terminal, HTTP over libcurl, and
 * answers turned into messages and exit statuses (client_int.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yaml.h>

#include "base/sys.h"
#include "base/version.h"
#include "client/client_int.h"
#include "client/table.h"

#define DEFAULT_SERVER	"http://127.0.0.1:8080"
#define CONFIG_PATH	".config/sluice/client.yaml"

void
client_say(const struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet)
		return;
	fprintf(stderr, "sluice %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- client.yaml ------------------------------------------------------ */

/* The value of a scalar node into *out (owned), or an error naming it. */
static int
yaml_scalar(yaml_document_t *doc, yaml_node_t *n, const char *path,
    const char *key, char **out, struct err *err)
{
	if (n->type != YAML_SCALAR_NODE)
		return err_set(err, ERR_INVALID, "%s:%lu: '%s' must be a "
		    "string", path, (unsigned long)n->start_mark.line + 1, key);
	(void)doc;
	free(*out);
	*out = xstrdup((const char *)n->data.scalar.value);
	return 0;
}

/*
 * server: and token: of the client file at path.  The file holds a token,
 * so it must be the user's own and closed to others (like ssh's keys);
 * an absent file is no error.
 */
static int
read_config(const char *path, char **server, char **token, struct err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	struct buf text;
	struct stat st;
	int rc = 0, have_doc = 0;

	buf_init_secret(&text, LIM_CLIENT_CONFIG);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, ERR_GENERIC, "cannot read %s: %s", path,
		    strerror(errno));
	}
	if ((st.st_mode & 077) != 0)
		return err_set(err, ERR_FORBIDDEN, "%s has mode %04o: it "
		    "holds a token, so it must be 0600 or stricter (chmod "
		    "600 %s)", path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_uid != getuid())
		return err_set(err, ERR_FORBIDDEN, "%s belongs to uid %u, "
		    "not to you (uid %u)", path, (unsigned)st.st_uid,
		    (unsigned)getuid());
	if ((rc = sys_read_file(path, "client file", LIM_CLIENT_CONFIG, 1,
	    &text, err)) < 0)
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		rc = err_set(err, ERR_NOMEM, "cannot start the YAML parser");
		goto out;
	}
	yaml_parser_set_input_string(&parser,
	    (const unsigned char *)(text.data != NULL ? text.data : ""),
	    text.len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = err_set(err, ERR_INVALID, "%s:%lu:%lu: %s", path,
		    (unsigned long)parser.problem_mark.line + 1,
		    (unsigned long)parser.problem_mark.column + 1,
		    parser.problem != NULL ? parser.problem : "bad YAML");
		yaml_parser_delete(&parser);
		goto out;
	}
	yaml_parser_delete(&parser);
	have_doc = 1;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		goto out;		/* empty file */
	if (root->type != YAML_MAPPING_NODE) {
		rc = err_set(err, ERR_INVALID, "%s: expected a mapping with "
		    "server: and token:", path);
		goto out;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	    p < root->data.mapping.pairs.top && rc == 0; p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		const char *name = k != NULL && k->type == YAML_SCALAR_NODE ?
		    (const char *)k->data.scalar.value : "";

		if (v == NULL)
			continue;
		if (strcmp(name, "server") == 0)
			rc = yaml_scalar(&doc, v, path, name, server, err);
		else if (strcmp(name, "token") == 0)
			rc = yaml_scalar(&doc, v, path, name, token, err);
		else
			rc = err_set(err, ERR_INVALID, "%s:%lu: unknown key "
			    "'%.64s' (the keys are server and token)", path,
			    (unsigned long)k->start_mark.line + 1, name);
	}
out:
	if (have_doc)
		yaml_document_delete(&doc);
	buf_release(&text);
	return rc;
}

/* ---- opening ----------------------------------------------------------- */

static int
set_server(struct client *c, const char *s)
{
	const char *scheme = strstr(s, "://") != NULL ? "" : "http://";
	size_t n;

	if (*s == '\0' || strlen(s) + strlen(scheme) >= sizeof(c->server))
		return -1;
	(void)snprintf(c->server, sizeof(c->server), "%s%s", scheme, s);
	if (strncmp(c->server, "http://", 7) != 0 &&
	    strncmp(c->server, "https://", 8) != 0)
		return -1;
	n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	return 0;
}

static const char *
nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
client_open(struct client *c, const struct cmdargs *a)
{
	char path[LIM_PATH], *fserver = NULL, *ftoken = NULL;
	const char *server = a->server, *token = a->token, *home;
	const char *tsrc = "--token";
	struct winsize ws;
	struct err err;
	int rc = EXIT_USAGE;

	memset(c, 0, sizeof(*c));
	err_clear(&err);
	c->cmd = a->cmd;
	c->json = a->json;
	if (server == NULL)
		server = nonempty_env("SLUICE_SERVER");
	if (token == NULL && (token = nonempty_env("SLUICE_TOKEN")) != NULL)
		tsrc = "SLUICE_TOKEN";
	path[0] = '\0';
	if ((server == NULL || token == NULL) &&
	    (home = nonempty_env("HOME")) != NULL) {
		if (snprintf(path, sizeof(path), "%s/%s", home, CONFIG_PATH) >=
		    (int)sizeof(path)) {
			client_say(c, "$HOME is too long");
			goto out;
		}
		if (read_config(path, &fserver, &ftoken, &err) < 0) {
			client_say(c, "%s", err.msg);
			goto out;
		}
		if (server == NULL)
			server = fserver;
		if (token == NULL && ftoken != NULL) {
			token = ftoken;
			tsrc = path;
		}
	}
	if (server == NULL)
		server = DEFAULT_SERVER;
	if (set_server(c, server) < 0) {
		client_say(c, "bad server '%.200s': want http(s)://HOST:PORT",
		    server);
		goto out;
	}
	if (token != NULL) {
		c->token = xstrdup(token);
		(void)snprintf(c->token_src, sizeof(c->token_src), "%s", tsrc);
	}
	c->tty = isatty(STDOUT_FILENO);
	if (c->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		c->width = ws.ws_col;
	c->color = c->tty && !a->no_color && nonempty_env("NO_COLOR") == NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (c->curl = curl_easy_init()) == NULL) {
		client_say(c, "cannot start libcurl");
		goto out;
	}
	rc = 0;
out:
	if (ftoken != NULL)
		explicit_bzero(ftoken, strlen(ftoken));
	free(ftoken);
	free(fserver);
	return rc;
}

void
client_close(struct client *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	if (c->token != NULL) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
		c->token = NULL;
	}
}

/* ---- HTTP -------------------------------------------------------------- */

void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, LIM_CLIENT_ANSWER);
}

void
reply_release(struct reply *r)
{
	buf_release(&r->body);
}

struct xfer {
	CURL		*curl;
	struct reply	*r;
	client_sink	 sink;
	void		*arg;
	int		 toobig;
};

static size_t
on_body(char *data, size_t size, size_t n, void *p)
{
	struct xfer *x = p;
	size_t len = size * n;

	if (x->r->status == 0)
		(void)curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE,
		    &x->r->status);
	if (x->sink != NULL && x->r->status >= 200 && x->r->status < 300)
		return x->sink(x->arg, data, len) == 0 ? len : 0;
	if (buf_append(&x->r->body, data, len) < 0) {
		x->toobig = 1;
		return 0;
	}
	return len;
}

static size_t
on_header(char *data, size_t size, size_t n, void *p)
{
	struct xfer *x = p;
	size_t len = size * n, k;
	char v[LIM_NAME + 1];

	if (len > 16 && strncasecmp(data, "X-Sluice-Job:", 13) == 0) {
		for (k = 13; k < len && data[k] == ' '; k++)
			;
		(void)snprintf(v, sizeof(v), "%.*s", (int)(len - k), data + k);
		v[strcspn(v, "\r\n")] = '\0';
		memcpy(x->r->job, v, sizeof(v));
	} else if (len > 18 &&
	    strncasecmp(data, "X-Sluice-Attempt:", 17) == 0) {
		x->r->attempt = (int)strtol(data + 17, NULL, 10);
	}
	return len;
}

int
client_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~')
			rc = buf_putc(out, (char)ch);
		else if ((rc = buf_putc(out, '%')) == 0 &&
		    (rc = buf_putc(out, hex[ch >> 4])) == 0)
			rc = buf_putc(out, hex[ch & 15]);
	}
	return rc;
}

int
client_call(struct client *c, const char *method, const char *path,
    const char *body, client_sink sink, void *arg, struct reply *r)
{
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE], url[LIM_URL * 2];
	struct buf auth;
	struct xfer x;
	CURLcode cc;
	int rc = EXIT_USAGE;

	buf_init_secret(&auth, LIM_TOKEN + 64);
	if (snprintf(url, sizeof(url), "%s%s", c->server, path) >=
	    (int)sizeof(url)) {
		client_say(c, "request too long");
		goto out;
	}
	x = (struct xfer){ .curl = c->curl, .r = r, .sink = sink, .arg = arg };
	r->status = 0;
	r->attempt = 0;
	r->job[0] = '\0';
	buf_reset(&r->body);
	curl_easy_reset(c->curl);
	errbuf[0] = '\0';
	h = curl_slist_append(h, "Accept: application/json");
	if (body != NULL)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (c->token != NULL) {
		if (buf_printf(&auth, "Authorization: Bearer %s",
		    c->token) < 0) {
			client_say(c, "the token is too long");
			goto out;
		}
		h = curl_slist_append(h, auth.data);
	}
	if (h == NULL) {
		client_say(c, "out of memory");
		goto out;
	}
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "sluice/" SLUICE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)LIM_CLIENT_CONNECT_MS);
	if (sink == NULL)
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
		    (long)LIM_CLIENT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &x);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		    body != NULL ? body : "");
	}
	cc = curl_easy_perform(c->curl);
	if (r->status == 0)
		(void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    &r->status);
	if (x.toobig) {
		client_say(c, "the answer of %s is larger than %d bytes", url,
		    LIM_CLIENT_ANSWER);
		goto out;
	}
	/* a sink that stopped the transfer is not an error */
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->status != 0)) {
		if (r->status == 0)
			client_say(c, "cannot reach the server at %s: %s",
			    c->server, errbuf[0] != '\0' ? errbuf :
			    curl_easy_strerror(cc));
		else
			client_say(c, "the answer of %s broke off: %s",
			    c->server, errbuf[0] != '\0' ? errbuf :
			    curl_easy_strerror(cc));
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(h);
	buf_release(&auth);
	return rc;
}

/* ---- answers ----------------------------------------------------------- */

int
client_refused(struct client *c, const struct reply *r)
{
	const char *msg = NULL, *code = NULL;
	json_t *j = NULL, *e;
	int rc;

	if (r->body.len > 0)
		j = json_loadb(r->body.data, r->body.len, 0, NULL);
	if ((e = jv_obj(j, "error")) != NULL) {
		msg = jv_str(e, "message");
		code = jv_str(e, "code");
	}
	if (r->status == 401) {
		if (c->token == NULL)
			client_say(c, "the server wants a token (401): give "
			    "--token, set SLUICE_TOKEN, or put token: in "
			    "~/" CONFIG_PATH);
		else
			client_say(c, "the server refused the token from %s "
			    "(401 unauthorized): it is wrong, revoked or "
			    "expired", c->token_src);
		rc = EXIT_USAGE;
	} else if (msg == NULL) {
		client_say(c, "%s answered HTTP %ld, not the Sluice API "
		    "(is it a Sluice controller?)", c->server, r->status);
		rc = EXIT_USAGE;
	} else {
		client_say(c, "%s (%ld %s)", msg, r->status,
		    code != NULL ? code : "");
		rc = r->status >= 500 || r->status == 429 ? EXIT_USAGE :
		    EXIT_REFUSED;
	}
	json_decref(j);
	return rc;
}

int
client_object(struct client *c, const struct reply *r, json_t **out)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	if (r->status < 200 || r->status > 299)
		return client_refused(c, r);
	j = json_loadb(r->body.data != NULL ? r->body.data : "", r->body.len,
	    0, &je);
	if (j == NULL || !json_is_object(j)) {
		client_say(c, "the answer of %s is not a JSON object (is it a "
		    "Sluice controller?)", c->server);
		json_decref(j);
		return EXIT_USAGE;
	}
	*out = j;
	return 0;
}

static int
call_object(struct client *c, const char *method, const char *path,
    const char *body, json_t **out)
{
	struct reply r;
	json_t *j = NULL;
	int rc;

	reply_init(&r);
	if (out != NULL)
		*out = NULL;
	if ((rc = client_call(c, method, path, body, NULL, NULL, &r)) != 0 ||
	    (rc = client_object(c, &r, &j)) != 0)
		goto out;
	if (c->json) {
		fwrite(r.body.data, 1, r.body.len, stdout);
		if (r.body.len > 0 && r.body.data[r.body.len - 1] != '\n')
			putchar('\n');
	}
	if (out != NULL) {
		*out = j;
		j = NULL;
	}
out:
	json_decref(j);
	reply_release(&r);
	return rc;
}

int
client_get(struct client *c, const char *path, json_t **out)
{
	return call_object(c, "GET", path, NULL, out);
}

int
client_post(struct client *c, const char *path, const char *body,
    json_t **out)
{
	return call_object(c, "POST", path, body, out);
}

int
client_print_table(const struct client *c, const struct table *t)
{
	struct buf out;
	int rc;

	buf_init(&out, LIM_CLIENT_ANSWER);
	if ((rc = table_render(t, c->width, c->color, &out)) == 0)
		fwrite(out.data, 1, out.len, stdout);
	else
		client_say(c, "the table is too large");
	buf_release(&out);
	return rc == 0 ? EXIT_OK : EXIT_USAGE;
}
