/*
 * fuzz_kubeconfig.c - libFuzzer target for kubeconfig files
 * (kube/kubeconfig.c; `make fuzz`, scripts/fuzz.sh).
 *
 * The loader reads files, so the input is written to a private directory
 * that also holds the certificate, keys and token of
 * tests/fixtures/kubeconfig (so that relative paths in the seeds resolve)
 * and loaded with kube_auth_from_kubeconfig.  An input with a NUL byte is
 * two files, merged as $KUBECONFIG=a:b would be.
 *
 * Besides crashes, leaks and timeouts it checks what must always hold: a
 * refusal says why, with one of the documented codes; an accepted file
 * gives an http(s) server without a trailing '/', a namespace, a client
 * certificate exactly when there is a key, and a description.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/kubeconfig.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path_a[128], path_b[128], paths[256];
static const char *const aux[] = { "ca.crt", "client.crt", "client.key",
	"other.key", "token" };

static void
fail(const char *what, const struct err *err)
{
	fprintf(stderr, "fuzz_kubeconfig: %s%s%s\n", what,
	    err != NULL ? ": " : "", err != NULL ? err->msg : "");
	abort();
}

static void
write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0)
		fail("cannot write the input file", NULL);
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("cannot write the input file", NULL);
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

static void
cleanup(void)
{
	char p[192];

	for (size_t i = 0; i < sizeof(aux) / sizeof(aux[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s/%s", dir, aux[i]);
		(void)unlink(p);
	}
	(void)unlink(path_a);
	(void)unlink(path_b);
	(void)rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct buf b;
	struct err err;
	char p[192];

	(void)argc;
	(void)argv;
	log_setup(LOG_ERROR, LOG_TEXT, stderr);
	if (snprintf(dir, sizeof(dir), "%s/fuzz_kubeconfig.XXXXXX",
	    tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp") >= (int)sizeof(dir)
	    || mkdtemp(dir) == NULL)
		fail("cannot make a directory", NULL);
	atexit(cleanup);
	(void)snprintf(path_a, sizeof(path_a), "%s/a.yaml", dir);
	(void)snprintf(path_b, sizeof(path_b), "%s/b.yaml", dir);
	(void)snprintf(paths, sizeof(paths), "%s:%s", path_a, path_b);
	for (size_t i = 0; i < sizeof(aux) / sizeof(aux[0]); i++) {
		buf_init(&b, 1 << 20);
		(void)snprintf(p, sizeof(p), "tests/fixtures/kubeconfig/%s",
		    aux[i]);
		if (sys_read_file(p, "fixture", 1 << 20, 0, &b, &err) == 0) {
			(void)snprintf(p, sizeof(p), "%s/%s", dir, aux[i]);
			write_file(p, b.data != NULL ? b.data : "", b.len);
		} else {
			fprintf(stderr, "fuzz_kubeconfig: %s (run from the "
			    "top of the repository)\n", err.msg);
		}
		buf_release(&b);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	struct kube_auth *a = NULL;
	struct buf d;
	struct err err;
	int rc;

	if (nul != NULL) {
		write_file(path_a, data, (size_t)(nul - data));
		write_file(path_b, nul + 1, size - (size_t)(nul - data) - 1);
	} else {
		write_file(path_a, data, size);
		(void)unlink(path_b);
	}
	rc = kube_auth_from_kubeconfig(&a, nul != NULL ? paths : path_a,
	    NULL, &err);
	if (rc < 0) {
		if ((rc != ERR_INVALID && rc != ERR_NOTFOUND &&
		    rc != ERR_TOOBIG && rc != ERR_GENERIC) ||
		    err.code != rc || err.msg[0] == '\0')
			fail("a refusal without a documented code and a message",
			    &err);
		if (a != NULL)
			fail("a refusal with a result", &err);
		return 0;
	}
	if (a == NULL || a->server == NULL || a->namespace == NULL ||
	    a->namespace[0] == '\0' || a->origin == NULL)
		fail("an accepted file without server, namespace or origin",
		    NULL);
	if ((strncmp(a->server, "https://", 8) != 0 &&
	    strncmp(a->server, "http://", 7) != 0) ||
	    a->server[strlen(a->server) - 1] == '/')
		fail("a server not http(s) or ending in '/'", NULL);
	if ((a->cert.data == NULL) != (a->key.data == NULL))
		fail("a client certificate without a key or a key without one",
		    NULL);
	buf_init(&d, 4096);
	if (kube_auth_describe(a, &d) != 0 || d.data == NULL)
		fail("an accepted file does not describe itself", NULL);
	buf_release(&d);
	kube_auth_free(a);
	return 0;
}
