/*
 * kubeconfig.h - how Sluice reaches the Kubernetes API: a kubeconfig file
 * or the in-cluster service account, resolved into one struct kube_auth.
 *
 * Where the access comes from, first match wins:
 *
 *	1. kubernetes.kubeconfig (an explicit file; it must exist)
 *	2. $KUBECONFIG, a ':'-separated list merged like kubectl does: for
 *	   every named cluster, context and user the first file that defines
 *	   it wins, and so does the first non-empty current-context; files
 *	   that do not exist are skipped
 *	3. the in-cluster service account, when KUBERNETES_SERVICE_HOST is set
 *	   (https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the
 *	   token, ca.crt and namespace files of the service account directory)
 *	4. $HOME/.kube/config when it exists
 *
 * In a kubeconfig: the named context (kubernetes.context) or the
 * current-context; its cluster's server, certificate-authority (file) or
 * certificate-authority-data (base64; wins over the file), proxy-url and
 * insecure-skip-tls-verify; its user's token or tokenFile (the file wins
 * and is re-read when it rotates), client-certificate(-data) and
 * client-key(-data); its namespace.  Relative paths are resolved against
 * the directory of the file that holds them, as kubectl does.
 * insecure-skip-tls-verify is honoured only when set to true explicitly,
 * and logged as a warning.  Exec credential plugins, auth providers, basic
 * auth, impersonation and tls-server-name are refused with a message that
 * says so.  Certificates and keys are read and checked (PEM that OpenSSL
 * parses, the key matching the certificate) when loading, so a bad file
 * fails at start-up rather than at the first TLS handshake.
 *
 * Secrets (tokens, keys) are held in memory only as long as the struct
 * lives and are never logged; kube_auth_describe() prints none of them.
 */
#ifndef SLUICE_KUBECONFIG_H
#define SLUICE_KUBECONFIG_H

#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define KUBE_SA_DIR	"/var/run/secrets/kubernetes.io/serviceaccount"

/* PEM text, NUL-terminated; data NULL when absent. */
struct kube_pem {
	char	*data;
	size_t	 len;
};

/* Everything needed to talk to one API server.  All strings owned. */
struct kube_auth {
	char		*origin;	/* "kubeconfig FILE" or "in-cluster
					   service account", for messages */
	char		*context;	/* context used; NULL in-cluster */
	char		*cluster;	/* cluster name; NULL in-cluster */
	char		*user;		/* user name; NULL in-cluster */
	char		*server;	/* "https://host:port", no trailing '/' */
	char		*namespace;	/* never NULL ("default" at worst) */
	struct kube_pem	 ca;		/* trusted CAs; empty = system store */
	struct kube_pem	 cert;		/* client certificate, or empty */
	struct kube_pem	 key;		/* its private key, or empty */
	char		*token;		/* static bearer token, or NULL */
	char		*token_file;	/* absolute path, or NULL; wins over
					   token and is re-read on rotation */
	char		*proxy;		/* proxy-url, or NULL */
	int		 insecure;	/* insecure-skip-tls-verify: true */
};

struct kube_auth_opts {
	const char	*kubeconfig;	/* kubernetes.kubeconfig; NULL/"" = env */
	const char	*context;	/* NULL/"" = current-context */
	const char	*namespace;	/* NULL/"" = context's, else in-cluster
					   namespace file, else "default" */
	char *const	*envp;		/* KUBECONFIG, KUBERNETES_SERVICE_HOST,
					   KUBERNETES_SERVICE_PORT, HOME;
					   NULL = an empty environment */
	const char	*sa_dir;	/* NULL = KUBE_SA_DIR (tests override) */
};

/*
 * Resolve access in the order above.  On success *out is a new struct the
 * caller frees with kube_auth_free().  Errors: ERR_NOTFOUND when nothing
 * is configured or a named file or context does not exist, ERR_INVALID for
 * a bad or unsupported kubeconfig (the message names the file, entry and
 * field), ERR_TOOBIG past LIM_KUBECONFIG_FILE / LIM_KUBE_PEM /
 * LIM_KUBE_TOKEN, ERR_GENERIC when a file cannot be read.  Reads files
 * only; never blocks on the network.
 */
int	kube_auth_load(struct kube_auth **out, const struct kube_auth_opts *o,
	    struct err *err) __attribute__((warn_unused_result));

/*
 * Read kubeconfig files: paths is one path or a ':'-separated list (then
 * missing files are skipped, as with $KUBECONFIG; a single path must
 * exist).  context NULL or "" means current-context.  Same results as
 * kube_auth_load(); the namespace is the context's or "default".
 */
int	kube_auth_from_kubeconfig(struct kube_auth **out, const char *paths,
	    const char *context, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * The in-cluster service account: host and port as in
 * KUBERNETES_SERVICE_HOST/PORT (an IPv6 host is bracketed), sa_dir the
 * directory with token, ca.crt and namespace (NULL = KUBE_SA_DIR).  The
 * token file must be readable now; it is re-read by the client when it
 * rotates.  ERR_INVALID for a bad host or port, ERR_NOTFOUND when the
 * token or ca.crt is missing.
 */
int	kube_auth_in_cluster(struct kube_auth **out, const char *host,
	    const char *port, const char *sa_dir, struct err *err)
	    __attribute__((warn_unused_result));

/* Free; NULL is a no-op.  Secrets are wiped before they are freed. */
void	kube_auth_free(struct kube_auth *a);

/*
 * Append a one-line description without secrets to out, e.g.
 * "server=https://k:6443 context=prod user=ci namespace=ml
 *  auth=token-file ca=yes client-cert=no insecure=no".
 */
int	kube_auth_describe(const struct kube_auth *a, struct buf *out)
	    __attribute__((warn_unused_result));

/*
 * Read a bearer token file into out (buf cap LIM_KUBE_TOKEN or less),
 * surrounding whitespace removed.  ERR_NOTFOUND when missing, ERR_INVALID
 * when empty, ERR_TOOBIG, ERR_GENERIC.  Used by kube_api on rotation.
 */
int	kube_auth_read_token(const char *path, struct buf *out,
	    struct err *err) __attribute__((warn_unused_result));

#endif
