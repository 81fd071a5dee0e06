/*
 * kubefake.h - run tests/fakes/kube_apiserver.py (through
 * tests/fakes/kube_fake.sh) from a C test: HTTPS with a throwaway CA,
 * kubeconfigs for token, token-file and client-certificate auth, and the
 * fake's control API (/_fake/...).
 *
 * The fake exits by itself if the test process dies.  Failures print why
 * on stderr and return -1 (or abort where noted), so tests can
 * assert_int_equal(..., 0).
 */
#ifndef SLUICE_TEST_KUBEFAKE_H
#define SLUICE_TEST_KUBEFAKE_H

#include <sys/types.h>

struct kubefake {
	char	dir[256];	/* ca.crt, kubeconfig*, token, fake.log */
	char	url[64];	/* https://127.0.0.1:PORT */
	int	port;
	pid_t	pid;
};

/*
 * Start the fake with extra arguments for kube_apiserver.py (NULL-
 * terminated, may be NULL), e.g. { "--gpus", "nvidia.com/gpu=4", NULL }.
 */
int	kubefake_start(struct kubefake *f, const char *const *args);

/* Stop it and remove its directory. */
void	kubefake_stop(struct kubefake *f);

/* f->dir/name in a static buffer (two alternate, so two may be in use). */
const char *kubefake_path(const struct kubefake *f, const char *name);

/*
 * Call the control API: method, path ("/_fake/faults"), JSON body or NULL.
 * Returns the HTTP status (or -1); *body, when not NULL, receives the
 * answer (caller frees).
 */
int	kubefake_call(const struct kubefake *f, const char *method,
	    const char *path, const char *json, char **body);

/* POST json to path and expect 200; aborts the test otherwise. */
void	kubefake_post(const struct kubefake *f, const char *path,
	    const char *json);

/*
 * A number from GET /_fake/stats: key "requests.list jobs" (a request
 * count by "verb resource"), "by_token.NAME", or a top-level key such as
 * "total", "rv", "watch_gone".  0 when absent; aborts when the fake does
 * not answer.
 */
long	kubefake_stat(const struct kubefake *f, const char *key);

#endif
