/*
 * kubeconfig.c - kubeconfig files and the in-cluster service account into
 * a struct kube_auth; see kubeconfig.h.
 *
 * The files are read with libyaml's document API, after an event pass that
 * caps nesting (libyaml's scanner is quadratic in depth), and all of them
 * stay loaded until the context, cluster and user are resolved, because
 * with a $KUBECONFIG list each entry may come from a different file and its
 * relative paths resolve against that file's directory.  Certificates and
 * keys are checked with OpenSSL here so that a bad one fails at start-up
 * with the entry's name, not at the first handshake with a TLS error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/kubeconfig.h"

struct kc_file {
	char		*path;
	char		*dir;
	yaml_document_t	 doc;
	int		 loaded;
};

struct kc_set {
	struct kc_file	 files[LIM_KUBECONFIG_FILES];
	size_t		 n;
	const char	*paths;		/* as given, for messages */
};

static void
wipe_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	explicit_bzero(s, len);
	free(s);
}

static void
pem_release(struct kube_pem *p)
{
	wipe_free(p->data, p->len);
	p->data = NULL;
	p->len = 0;
}

void
kube_auth_free(struct kube_auth *a)
{
	if (a == NULL)
		return;
	free(a->origin);
	free(a->context);
	free(a->cluster);
	free(a->user);
	free(a->server);
	free(a->namespace);
	pem_release(&a->ca);
	pem_release(&a->cert);
	pem_release(&a->key);
	if (a->token != NULL)
		wipe_free(a->token, strlen(a->token));
	free(a->token_file);
	free(a->proxy);
	free(a);
}

static const char *
env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	}
	return NULL;
}

/*
 * Read a whole file into out (its cap applies) with sys_read_file.
 * ERR_NOTFOUND "what 'path' does not exist" when it does not exist,
 * ERR_TOOBIG past the cap, ERR_GENERIC otherwise; what names the file in
 * messages ("certificate-authority of cluster 'c'").
 */
static int
read_file(const char *path, struct buf *out, const char *what,
    struct err *err)
{
	int rc;

	rc = sys_read_file(path, what, out->max, 0, out, err);
	if (rc == ERR_NOTFOUND)
		return err_set(err, rc, "%s '%s' does not exist", what, path);
	if (rc == 0 && out->data == NULL && buf_puts(out, "") < 0)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	return rc;
}

int
kube_auth_read_token(const char *path, struct buf *out, struct err *err)
{
	struct buf b;
	size_t s = 0, e;
	int rc;

	buf_init(&b, out->max < LIM_KUBE_TOKEN ? out->max : LIM_KUBE_TOKEN);
	if ((rc = read_file(path, &b, "token file", err)) < 0)
		goto out;
	e = b.len;
	while (s < e && isspace((unsigned char)b.data[s]))
		s++;
	while (e > s && isspace((unsigned char)b.data[e - 1]))
		e--;
	if (s == e) {
		rc = err_set(err, ERR_INVALID, "token file '%s' is empty", path);
		goto out;
	}
	buf_reset(out);
	if (buf_append(out, b.data + s, e - s) < 0)
		rc = err_set(err, ERR_TOOBIG, "token file '%s' is too big", path);
out:
	if (b.data != NULL)
		explicit_bzero(b.data, b.alloc);
	buf_release(&b);
	return rc;
}

/* dir/rel, or rel when it is absolute.  Never NULL. */
static char *
path_join(const char *dir, const char *rel)
{
	struct buf b;

	if (rel[0] == '/' || dir == NULL || dir[0] == '\0')
		return xstrdup(rel);
	buf_init(&b, LIM_PATH);
	if (buf_printf(&b, "%s/%s", dir, rel) < 0) {
		buf_release(&b);
		return xstrdup(rel);	/* too long: open() will say so */
	}
	return buf_detach(&b);
}

static char *
dir_of(const char *path)
{
	char *abs = NULL, *d, *slash;
	char cwd[LIM_PATH];

	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		abs = path_join(cwd, path);
	else
		abs = xstrdup(path);
	slash = strrchr(abs, '/');
	if (slash == abs)
		d = xstrdup("/");
	else {
		*slash = '\0';
		d = xstrdup(abs);
	}
	free(abs);
	return d;
}

/* ---- YAML ---------------------------------------------------------- */

/* Reject nesting past LIM_YAML_DEPTH before building a document. */
static int
check_depth(const char *path, const struct buf *text, struct err *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, rc = 0, done = 0;
	size_t nodes = 0;

	if (!yaml_parser_initialize(&p))
		return err_set(err, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text->data,
	    text->len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = err_set(err, ERR_INVALID,
			    "kubeconfig '%s' is not valid YAML: %s at line %zu",
			    path, p.problem ? p.problem : "syntax error",
			    p.problem_mark.line + 1);
			break;
		}
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (++depth > LIM_YAML_DEPTH)
				rc = err_set(err, ERR_INVALID,
				    "kubeconfig '%s' nests deeper than %d levels",
				    path, LIM_YAML_DEPTH);
			nodes++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			nodes++;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (rc == 0 && nodes > LIM_YAML_NODES)
			rc = err_set(err, ERR_INVALID,
			    "kubeconfig '%s' has more than %d nodes", path,
			    LIM_YAML_NODES);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

static int
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n == NULL)
		return 1;
	if (n->type != YAML_SCALAR_NODE)
		return 0;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return strcmp(v, "") == 0 || strcmp(v, "~") == 0 ||
	    strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0;
}

static yaml_node_t *
map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *pr;
	yaml_node_t *k;

	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
	    pr++) {
		k = yaml_document_get_node(d, pr->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, pr->value);
	}
	return NULL;
}

/*
 * The string at key of mapping m: *out NULL when absent or null,
 * ERR_INVALID when it is not a scalar.  what names m in messages.
 */
static int
get_str(struct kc_file *f, yaml_node_t *m, const char *key, const char *what,
    const char **out, struct err *err)
{
	yaml_node_t *v = map_get(&f->doc, m, key);

	*out = NULL;
	if (is_null(v))
		return 0;
	if (v->type != YAML_SCALAR_NODE)
		return err_set(err, ERR_INVALID,
		    "kubeconfig '%s' line %zu: %s: %s must be a string",
		    f->path, v->start_mark.line + 1, what, key);
	*out = (const char *)v->data.scalar.value;
	return 0;
}

static int
get_bool(struct kc_file *f, yaml_node_t *m, const char *key, const char *what,
    int *out, struct err *err)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
		"Yes", "YES", "on", "On", "ON", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no",
		"No", "NO", "off", "Off", "OFF", NULL };
	yaml_node_t *v = map_get(&f->doc, m, key);
	const char *s;
	size_t i;

	*out = 0;
	if (is_null(v))
		return 0;
	if (v->type == YAML_SCALAR_NODE) {
		s = (const char *)v->data.scalar.value;
		for (i = 0; yes[i] != NULL; i++) {
			if (strcmp(s, yes[i]) == 0) {
				*out = 1;
				return 0;
			}
		}
		for (i = 0; no[i] != NULL; i++) {
			if (strcmp(s, no[i]) == 0)
				return 0;
		}
	}
	return err_set(err, ERR_INVALID,
	    "kubeconfig '%s' line %zu: %s: %s must be true or false", f->path,
	    v->start_mark.line + 1, what, key);
}

static void
set_release(struct kc_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->files[i].loaded)
			yaml_document_delete(&s->files[i].doc);
		free(s->files[i].path);
		free(s->files[i].dir);
	}
	s->n = 0;
}

/* Load one file into the set; ERR_NOTFOUND when it does not exist. */
static int
set_add(struct kc_set *s, const char *path, struct err *err)
{
	struct kc_file *f;
	struct buf text;
	yaml_parser_t p;
	yaml_node_t *root;
	int rc;

	if (s->n >= LIM_KUBECONFIG_FILES)
		return err_set(err, ERR_TOOBIG,
		    "more than %d kubeconfig files in '%s'",
		    LIM_KUBECONFIG_FILES, s->paths);
	buf_init(&text, LIM_KUBECONFIG_FILE);
	if ((rc = read_file(path, &text, "kubeconfig", err)) < 0)
		goto out;
	if ((rc = check_depth(path, &text, err)) < 0)
		goto out;
	f = &s->files[s->n];
	memset(f, 0, sizeof(*f));
	if (!yaml_parser_initialize(&p)) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text.data,
	    text.len);
	if (!yaml_parser_load(&p, &f->doc)) {
		rc = err_set(err, ERR_INVALID,
		    "kubeconfig '%s' is not valid YAML: %s at line %zu", path,
		    p.problem ? p.problem : "syntax error",
		    p.problem_mark.line + 1);
		yaml_parser_delete(&p);
		goto out;
	}
	yaml_parser_delete(&p);
	f->loaded = 1;
	f->path = xstrdup(path);
	f->dir = dir_of(path);
	s->n++;
	root = yaml_document_get_root_node(&f->doc);
	if (root != NULL && !is_null(root) && root->type != YAML_MAPPING_NODE)
		rc = err_set(err, ERR_INVALID,
		    "kubeconfig '%s' is not a mapping of clusters, contexts "
		    "and users", path);
out:
	buf_release(&text);
	return rc;
}

/*
 * Find the entry called name in the list `list` ("clusters", "contexts",
 * "users") of the first file that has it; *inner is its `field` mapping
 * ("cluster", "context", "user"), NULL when that is empty.  Returns 1 when
 * found, 0 when not, or ERR_INVALID when a list is malformed.
 */
static int
set_find(struct kc_set *s, const char *list, const char *field,
    const char *name, struct kc_file **file, yaml_node_t **inner,
    struct err *err)
{
	yaml_node_t *root, *seq, *item, *nm;
	yaml_node_item_t *it;
	size_t i;

	*file = NULL;
	*inner = NULL;
	for (i = 0; i < s->n; i++) {
		struct kc_file *f = &s->files[i];

		root = yaml_document_get_root_node(&f->doc);
		seq = map_get(&f->doc, root, list);
		if (is_null(seq))
			continue;
		if (seq->type != YAML_SEQUENCE_NODE)
			return err_set(err, ERR_INVALID,
			    "kubeconfig '%s' line %zu: %s must be a list",
			    f->path, seq->start_mark.line + 1, list);
		for (it = seq->data.sequence.items.start;
		    it < seq->data.sequence.items.top; it++) {
			item = yaml_document_get_node(&f->doc, *it);
			nm = map_get(&f->doc, item, "name");
			if (nm == NULL || nm->type != YAML_SCALAR_NODE ||
			    strcmp((const char *)nm->data.scalar.value,
			    name) != 0)
				continue;
			*file = f;
			*inner = map_get(&f->doc, item, field);
			if (*inner != NULL && is_null(*inner))
				*inner = NULL;
			if (*inner != NULL &&
			    (*inner)->type != YAML_MAPPING_NODE)
				return err_set(err, ERR_INVALID,
				    "kubeconfig '%s' line %zu: %s '%s': %s "
				    "must be a mapping", f->path,
				    (*inner)->start_mark.line + 1, list, name,
				    field);
			return 1;
		}
	}
	return 0;
}

/* ---- certificates ---------------------------------------------------- */

static int
b64_decode(const char *in, struct kube_pem *out)
{
	EVP_ENCODE_CTX *ctx;
	size_t inlen = strlen(in), cap;
	unsigned char *dst;
	int n = 0, m = 0, ok = 0;

	if (inlen > (size_t)LIM_KUBE_PEM * 2)
		return ERR_TOOBIG;
	cap = inlen / 4 * 3 + 8;
	if ((dst = malloc(cap + 1)) == NULL)
		return ERR_NOMEM;
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL) {
		free(dst);
		return ERR_NOMEM;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, dst, &n, (const unsigned char *)in,
	    (int)inlen) >= 0 && EVP_DecodeFinal(ctx, dst + n, &m) == 1)
		ok = 1;
	EVP_ENCODE_CTX_free(ctx);
	if (!ok || n + m == 0) {
		explicit_bzero(dst, cap);
		free(dst);
		return ERR_INVALID;
	}
	dst[n + m] = '\0';
	out->data = (char *)dst;
	out->len = (size_t)(n + m);
	return 0;
}

/*
 * Fill out from `data` (base64, wins) or `file` (path relative to dir).
 * what is the field's name for messages ("certificate-authority").
 */
static int
load_pem(struct kube_pem *out, const char *data, const char *file,
    const char *dir, const char *what, const char *owner, struct err *err)
{
	struct buf b;
	char *path = NULL;
	int rc = 0;

	if (data != NULL) {
		rc = b64_decode(data, out);
		if (rc == ERR_INVALID)
			return err_set(err, rc, "%s: %s-data is not valid base64",
			    owner, what);
		if (rc < 0)
			return err_set(err, rc, "%s: %s-data is too big", owner,
			    what);
		return 0;
	}
	if (file == NULL)
		return 0;
	path = path_join(dir, file);
	buf_init(&b, LIM_KUBE_PEM);
	if ((rc = read_file(path, &b, what, err)) < 0) {
		err_prefix(err, "%s", owner);
		goto out;
	}
	out->len = b.len;
	out->data = buf_detach(&b);
	if (out->data == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	buf_release(&b);
	free(path);
	return rc;
}

static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;	/* encrypted keys are refused, never prompted for */
}

/* Check the PEMs with OpenSSL: CAs parse, the key matches the cert. */
static int
check_pems(const struct kube_auth *a, const char *owner_cluster,
    const char *owner_user, struct err *err)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int rc = 0, ncert = 0;

	if (a->ca.data != NULL) {
		bio = BIO_new_mem_buf(a->ca.data, (int)a->ca.len);
		while (bio != NULL &&
		    (x = PEM_read_bio_X509(bio, NULL, no_password, NULL)) !=
		    NULL) {
			ncert++;
			X509_free(x);
		}
		x = NULL;
		BIO_free(bio);
		bio = NULL;
		if (ncert == 0) {
			rc = err_set(err, ERR_INVALID,
			    "%s: certificate-authority holds no PEM "
			    "certificate", owner_cluster);
			goto out;
		}
	}
	if ((a->cert.data == NULL) != (a->key.data == NULL)) {
		rc = err_set(err, ERR_INVALID,
		    "%s: has a client-%s but no client-%s", owner_user,
		    a->cert.data ? "certificate" : "key",
		    a->cert.data ? "key" : "certificate");
		goto out;
	}
	if (a->cert.data == NULL)
		goto out;
	bio = BIO_new_mem_buf(a->cert.data, (int)a->cert.len);
	if (bio == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, no_password, NULL)) == NULL) {
		rc = err_set(err, ERR_INVALID,
		    "%s: client-certificate is not a PEM certificate",
		    owner_user);
		goto out;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(a->key.data, (int)a->key.len);
	if (bio == NULL ||
	    (pk = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)) ==
	    NULL) {
		rc = err_set(err, ERR_INVALID,
		    "%s: client-key is not an unencrypted PEM private key",
		    owner_user);
		goto out;
	}
	if (X509_check_private_key(x, pk) != 1)
		rc = err_set(err, ERR_INVALID,
		    "%s: client-key does not match client-certificate",
		    owner_user);
out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(bio);
	return rc;
}

/* ---- resolution ------------------------------------------------------ */

static int
normalize_server(const char *in, char **out)
{
	struct buf b;
	size_t len = strlen(in);

	*out = NULL;
	while (len > 0 && in[len - 1] == '/')
		len--;
	if (len == 0)
		return ERR_INVALID;
	buf_init(&b, LIM_URL);
	if (strstr(in, "://") == NULL && buf_puts(&b, "https://") < 0)
		goto toolong;
	if (buf_append(&b, in, len) < 0)
		goto toolong;
	if (strncmp(b.data, "https://", 8) != 0 &&
	    strncmp(b.data, "http://", 7) != 0) {
		buf_release(&b);
		return ERR_INVALID;
	}
	*out = buf_detach(&b);
	return 0;
toolong:
	buf_release(&b);
	return ERR_TOOBIG;
}

static int
resolve_cluster(struct kube_auth *a, struct kc_set *s, const char *name,
    struct err *err)
{
	struct kc_file *f;
	yaml_node_t *c;
	const char *server, *ca, *cadata, *proxy, *sni;
	char owner[256];
	int rc, found;

	snprintf(owner, sizeof(owner), "kubeconfig cluster '%s'", name);
	if ((found = set_find(s, "clusters", "cluster", name, &f, &c,
	    err)) < 0)
		return found;
	if (!found)
		return err_set(err, ERR_NOTFOUND,
		    "cluster '%s' of context '%s' is not defined in kubeconfig "
		    "'%s'", name, a->context, s->paths);
	if ((rc = get_str(f, c, "server", owner, &server, err)) < 0 ||
	    (rc = get_str(f, c, "certificate-authority", owner, &ca,
	    err)) < 0 ||
	    (rc = get_str(f, c, "certificate-authority-data", owner, &cadata,
	    err)) < 0 ||
	    (rc = get_str(f, c, "proxy-url", owner, &proxy, err)) < 0 ||
	    (rc = get_str(f, c, "tls-server-name", owner, &sni, err)) < 0 ||
	    (rc = get_bool(f, c, "insecure-skip-tls-verify", owner,
	    &a->insecure, err)) < 0)
		return rc;
	if (server == NULL || server[0] == '\0')
		return err_set(err, ERR_INVALID, "%s has no server (in '%s')",
		    owner, f->path);
	if ((rc = normalize_server(server, &a->server)) < 0)
		return err_set(err, rc,
		    "%s: server '%s' is not an http(s) URL", owner, server);
	if (sni != NULL)
		return err_set(err, ERR_INVALID,
		    "%s uses tls-server-name, which sluice does not support; "
		    "use a server URL whose host matches the certificate",
		    owner);
	if (a->insecure && (ca != NULL || cadata != NULL))
		return err_set(err, ERR_INVALID,
		    "%s: certificate-authority and insecure-skip-tls-verify "
		    "cannot be used together", owner);
	if (proxy != NULL && proxy[0] != '\0')
		a->proxy = xstrdup(proxy);
	if ((rc = load_pem(&a->ca, cadata, ca, f->dir,
	    "certificate-authority", owner, err)) < 0)
		return rc;
	return 0;
}

static int
resolve_user(struct kube_auth *a, struct kc_set *s, const char *name,
    struct err *err)
{
	struct kc_file *f;
	yaml_node_t *u, *v;
	const char *token, *tokenfile, *cert, *certdata, *key, *keydata, *x;
	char owner[256];
	struct buf tb;
	int rc, found;

	snprintf(owner, sizeof(owner), "kubeconfig user '%s'", name);
	if ((found = set_find(s, "users", "user", name, &f, &u, err)) < 0)
		return found;
	if (!found)
		return err_set(err, ERR_NOTFOUND,
		    "user '%s' of context '%s' is not defined in kubeconfig "
		    "'%s'", name, a->context, s->paths);
	if (u == NULL)
		return 0;	/* no credentials: anonymous */
	if ((v = map_get(&f->doc, u, "exec")) != NULL && !is_null(v))
		return err_set(err, ERR_INVALID,
		    "kubeconfig user '%s' uses an exec credential plugin, "
		    "which sluice does not support; use a token or client "
		    "certificate", name);
	if ((v = map_get(&f->doc, u, "auth-provider")) != NULL &&
	    !is_null(v))
		return err_set(err, ERR_INVALID,
		    "kubeconfig user '%s' uses an auth provider, which sluice "
		    "does not support; use a token or client certificate",
		    name);
	if ((rc = get_str(f, u, "username", owner, &x, err)) < 0)
		return rc;
	if (x != NULL)
		return err_set(err, ERR_INVALID,
		    "kubeconfig user '%s' uses basic auth (username and "
		    "password), which sluice does not support; use a token or "
		    "client certificate", name);
	if ((v = map_get(&f->doc, u, "as")) != NULL && !is_null(v))
		return err_set(err, ERR_INVALID,
		    "kubeconfig user '%s' uses impersonation (as), which sluice "
		    "does not support", name);
	if ((rc = get_str(f, u, "token", owner, &token, err)) < 0 ||
	    (rc = get_str(f, u, "tokenFile", owner, &tokenfile, err)) < 0 ||
	    (rc = get_str(f, u, "client-certificate", owner, &cert,
	    err)) < 0 ||
	    (rc = get_str(f, u, "client-certificate-data", owner, &certdata,
	    err)) < 0 ||
	    (rc = get_str(f, u, "client-key", owner, &key, err)) < 0 ||
	    (rc = get_str(f, u, "client-key-data", owner, &keydata, err)) < 0)
		return rc;
	if (tokenfile != NULL && tokenfile[0] != '\0') {
		a->token_file = path_join(f->dir, tokenfile);
		buf_init(&tb, LIM_KUBE_TOKEN);
		rc = kube_auth_read_token(a->token_file, &tb, err);
		if (tb.data != NULL)
			explicit_bzero(tb.data, tb.alloc);
		buf_release(&tb);
		if (rc < 0)
			return err_prefix(err, "%s", owner);
	} else if (token != NULL && token[0] != '\0') {
		a->token = xstrdup(token);
	}
	if ((rc = load_pem(&a->cert, certdata, cert, f->dir,
	    "client-certificate", owner, err)) < 0 ||
	    (rc = load_pem(&a->key, keydata, key, f->dir, "client-key",
	    owner, err)) < 0)
		return rc;
	return 0;
}

static int
resolve(struct kube_auth *a, struct kc_set *s, const char *context,
    struct err *err)
{
	struct kc_file *f;
	yaml_node_t *root, *c;
	const char *cur = NULL, *cluster, *user, *ns;
	char owner[256], cowner[256], uowner[256];
	size_t i;
	int rc, found;

	if (context == NULL || context[0] == '\0') {
		for (i = 0; i < s->n && cur == NULL; i++) {
			root = yaml_document_get_root_node(&s->files[i].doc);
			if ((rc = get_str(&s->files[i], root, "current-context",
			    "kubeconfig", &cur, err)) < 0)
				return rc;
			if (cur != NULL && cur[0] == '\0')
				cur = NULL;
		}
		if (cur == NULL)
			return err_set(err, ERR_INVALID,
			    "kubeconfig '%s' has no current-context; set "
			    "kubernetes.context", s->paths);
		context = cur;
	}
	a->context = xstrdup(context);
	if ((found = set_find(s, "contexts", "context", context, &f, &c,
	    err)) < 0)
		return found;
	if (!found)
		return err_set(err, ERR_NOTFOUND,
		    "context '%s' is not defined in kubeconfig '%s'", context,
		    s->paths);
	snprintf(owner, sizeof(owner), "kubeconfig context '%s'", context);
	if ((rc = get_str(f, c, "cluster", owner, &cluster, err)) < 0 ||
	    (rc = get_str(f, c, "user", owner, &user, err)) < 0 ||
	    (rc = get_str(f, c, "namespace", owner, &ns, err)) < 0)
		return rc;
	if (cluster == NULL || cluster[0] == '\0')
		return err_set(err, ERR_INVALID, "%s names no cluster", owner);
	a->cluster = xstrdup(cluster);
	a->namespace = xstrdup(ns != NULL && ns[0] != '\0' ? ns : "default");
	if ((rc = resolve_cluster(a, s, cluster, err)) < 0)
		return rc;
	if (user != NULL && user[0] != '\0') {
		a->user = xstrdup(user);
		if ((rc = resolve_user(a, s, user, err)) < 0)
			return rc;
	}
	snprintf(cowner, sizeof(cowner), "kubeconfig cluster '%s'", cluster);
	snprintf(uowner, sizeof(uowner), "kubeconfig user '%s'",
	    user ? user : "");
	return check_pems(a, cowner, uowner, err);
}

int
kube_auth_from_kubeconfig(struct kube_auth **out, const char *paths,
    const char *context, struct err *err)
{
	struct kc_set s;
	struct kube_auth *a = NULL;
	char *list = NULL, *p, *next;
	int rc = 0, single;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	s.paths = paths;
	if (paths == NULL || paths[0] == '\0')
		return err_set(err, ERR_INVALID, "no kubeconfig path");
	single = strchr(paths, ':') == NULL;
	list = xstrdup(paths);
	for (p = list; p != NULL; p = next) {
		if ((next = strchr(p, ':')) != NULL)
			*next++ = '\0';
		if (*p == '\0')
			continue;
		rc = set_add(&s, p, err);
		if (rc == ERR_NOTFOUND && !single) {
			rc = 0;		/* kubectl skips missing list entries */
			continue;
		}
		if (rc < 0)
			goto out;
	}
	if (s.n == 0) {
		rc = err_set(err, ERR_NOTFOUND,
		    "none of the kubeconfig files '%s' exists", paths);
		goto out;
	}
	a = xcalloc(1, sizeof(*a));
	{
		struct buf o;

		buf_init(&o, LIM_PATH + 64);
		if (buf_printf(&o, "kubeconfig %s", paths) < 0)
			buf_reset(&o);
		a->origin = buf_detach(&o);
	}
	if ((rc = resolve(a, &s, context, err)) < 0)
		goto out;
	if (a->insecure)
		log_warn("kubernetes TLS verification disabled",
		    "context=%s cluster=%s reason=insecure-skip-tls-verify",
		    a->context, a->cluster);
	*out = a;
	a = NULL;
out:
	kube_auth_free(a);
	set_release(&s);
	free(list);
	return rc;
}

static int
valid_host(const char *h)
{
	size_t i;

	if (h == NULL || h[0] == '\0' || strlen(h) > 253)
		return 0;
	for (i = 0; h[i] != '\0'; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-' && h[i] != ':' && h[i] != '_')
			return 0;
	}
	return 1;
}

int
kube_auth_in_cluster(struct kube_auth **out, const char *host,
    const char *port, const char *sa_dir, struct err *err)
{
	struct kube_auth *a = NULL;
	struct buf b, nsb;
	char *path = NULL;
	long pn;
	char *end;
	int rc = 0;

	*out = NULL;
	buf_init(&b, LIM_URL);
	buf_init(&nsb, 256);
	if (sa_dir == NULL)
		sa_dir = KUBE_SA_DIR;
	if (!valid_host(host) || port == NULL || port[0] == '\0') {
		rc = err_set(err, ERR_INVALID,
		    "in-cluster configuration needs KUBERNETES_SERVICE_HOST "
		    "and KUBERNETES_SERVICE_PORT");
		goto out;
	}
	errno = 0;
	pn = strtol(port, &end, 10);
	if (errno != 0 || *end != '\0' || pn < 1 || pn > 65535) {
		rc = err_set(err, ERR_INVALID,
		    "KUBERNETES_SERVICE_PORT '%s' is not a port number", port);
		goto out;
	}
	a = xcalloc(1, sizeof(*a));
	a->origin = xstrdup("in-cluster service account");
	if (buf_printf(&b, strchr(host, ':') ? "https://[%s]:%ld" :
	    "https://%s:%ld", host, pn) < 0) {
		rc = err_set(err, ERR_TOOBIG, "server URL too long");
		goto out;
	}
	a->server = buf_detach(&b);
	a->token_file = path_join(sa_dir, "token");
	{
		struct buf tb;

		buf_init(&tb, LIM_KUBE_TOKEN);
		rc = kube_auth_read_token(a->token_file, &tb, err);
		if (tb.data != NULL)
			explicit_bzero(tb.data, tb.alloc);
		buf_release(&tb);
		if (rc < 0) {
			err_prefix(err, "in-cluster service account");
			goto out;
		}
	}
	path = path_join(sa_dir, "ca.crt");
	if ((rc = load_pem(&a->ca, NULL, path, NULL, "certificate-authority",
	    "in-cluster service account", err)) < 0)
		goto out;
	free(path);
	path = path_join(sa_dir, "namespace");
	if (read_file(path, &nsb, "namespace file", NULL) == 0) {
		size_t s = 0, e = nsb.len;

		while (s < e && isspace((unsigned char)nsb.data[s]))
			s++;
		while (e > s && isspace((unsigned char)nsb.data[e - 1]))
			e--;
		if (e > s) {
			nsb.data[e] = '\0';
			a->namespace = xstrdup(nsb.data + s);
		}
	}
	if (a->namespace == NULL)
		a->namespace = xstrdup("default");
	if ((rc = check_pems(a, "in-cluster service account",
	    "in-cluster service account", err)) < 0)
		goto out;
	*out = a;
	a = NULL;
out:
	kube_auth_free(a);
	free(path);
	buf_release(&b);
	buf_release(&nsb);
	return rc;
}

int
kube_auth_load(struct kube_auth **out, const struct kube_auth_opts *o,
    struct err *err)
{
	struct kube_auth *a = NULL;
	const char *kc, *host, *home;
	char *homecfg = NULL;
	struct stat st;
	int rc = 0;

	*out = NULL;
	kc = env_get(o->envp, "KUBECONFIG");
	host = env_get(o->envp, "KUBERNETES_SERVICE_HOST");
	home = env_get(o->envp, "HOME");
	if (o->kubeconfig != NULL && o->kubeconfig[0] != '\0') {
		if (strchr(o->kubeconfig, ':') != NULL) {
			rc = err_set(err, ERR_INVALID,
			    "kubernetes.kubeconfig '%s' must be one file",
			    o->kubeconfig);
			goto out;
		}
		rc = kube_auth_from_kubeconfig(&a, o->kubeconfig, o->context,
		    err);
	} else if (kc != NULL && kc[0] != '\0') {
		rc = kube_auth_from_kubeconfig(&a, kc, o->context, err);
		if (rc < 0)
			err_prefix(err, "$KUBECONFIG");
	} else if (host != NULL && host[0] != '\0') {
		if (o->context != NULL && o->context[0] != '\0') {
			rc = err_set(err, ERR_INVALID,
			    "kubernetes.context '%s' needs a kubeconfig, but "
			    "sluice is using the in-cluster service account",
			    o->context);
			goto out;
		}
		rc = kube_auth_in_cluster(&a, host,
		    env_get(o->envp, "KUBERNETES_SERVICE_PORT"), o->sa_dir,
		    err);
	} else {
		if (home != NULL && home[0] != '\0')
			homecfg = path_join(home, ".kube/config");
		if (homecfg == NULL || stat(homecfg, &st) != 0) {
			rc = err_set(err, ERR_NOTFOUND,
			    "no Kubernetes access configured: set "
			    "kubernetes.kubeconfig or $KUBECONFIG, or run sluice "
			    "in a cluster with a service account");
			goto out;
		}
		rc = kube_auth_from_kubeconfig(&a, homecfg, o->context, err);
	}
	if (rc < 0)
		goto out;
	if (o->namespace != NULL && o->namespace[0] != '\0') {
		free(a->namespace);
		a->namespace = xstrdup(o->namespace);
	}
	*out = a;
	a = NULL;
out:
	kube_auth_free(a);
	free(homecfg);
	return rc;
}

int
kube_auth_describe(const struct kube_auth *a, struct buf *out)
{
	const char *auth = "none";

	if (a->token_file != NULL)
		auth = "token-file";
	else if (a->token != NULL)
		auth = "token";
	if (a->cert.data != NULL)
		auth = a->token_file || a->token ? "token+client-cert" :
		    "client-cert";
	return buf_printf(out,
	    "server=%s context=%s user=%s namespace=%s auth=%s ca=%s "
	    "insecure=%s%s",
	    a->server, a->context ? a->context : "-",
	    a->user ? a->user : "-", a->namespace, auth,
	    a->ca.data ? "yes" : "system", a->insecure ? "yes" : "no",
	    a->proxy ? " proxy=yes" : "");
}
