/*
 * exec_kube_nodes.c - the GPU product of the nodes stage pods ran on
 * (label nvidia.com/gpu.product, set by NVIDIA's GPU feature discovery):
 * one GET per node name for the executor's life, by a worker, so that an
 * attempt's facts can say "on an H100 node".  Nodes are cluster-scoped:
 * without a ClusterRole granting get on nodes the answer is 403, said
 * once in the log, and the product stays unknown.
 */

#include <string.h>

#include "base/caps.h"
#include "base/log.h"
#include "base/sys.h"
#include "kube/exec_kube_int.h"

static struct knode *
find_node(struct kexec *x, const char *node)
{
	for (size_t i = 0; i < x->nnodes; i++) {
		if (strcmp(x->nodes[i].name, node) == 0)
			return &x->nodes[i];
	}
	return NULL;
}

void
kx_want_node(struct kexec *x, const char *node)
{
	struct knode *n;

	if (node == NULL || node[0] == '\0' || find_node(x, node) != NULL ||
	    x->nnodes >= LIM_KUBE_NODES_CACHED || x->nworkers == 0)
		return;
	if (sys_grow((void **)&x->nodes, x->nnodes, &x->anodes,
	    sizeof(*x->nodes), LIM_KUBE_NODES_CACHED) < 0)
		return;
	n = &x->nodes[x->nnodes++];
	memset(n, 0, sizeof(*n));
	(void)str_copy(n->name, sizeof(n->name), node);
	n->state = KNODE_ASKING;
	kx_enqueue(x, TASK_NODE, node);
}

const char *
kx_node_product(struct kexec *x, const char *node)
{
	struct knode *n = find_node(x, node);

	return n != NULL && n->state == KNODE_KNOWN ? n->product : "";
}

void
kx_fetch_node(struct kexec *x, const char *node)
{
	struct kube_node kn;
	struct knode *n;
	struct err err;
	int rc, say = 0;

	rc = kube_api_node_get(x->k, node, &kn, &err);
	pthread_mutex_lock(&x->mu);
	if ((n = find_node(x, node)) != NULL) {
		n->state = rc == 0 ? KNODE_KNOWN : KNODE_UNKNOWN;
		if (rc == 0)
			(void)str_copy(n->product, sizeof(n->product),
			    kn.gpu_product);
	}
	if (rc == ERR_FORBIDDEN && !x->nodes_forbidden) {
		x->nodes_forbidden = 1;
		say = 1;
	}
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
	if (say)
		log_warn("cannot read nodes: GPU products stay unknown (grant "
		    "get on nodes: deploy/optional/rbac-gpu-nodes.yaml)",
		    "node=%s error=\"%s\"", node, err.msg);
	else if (rc < 0 && rc != ERR_FORBIDDEN)
		log_info("cannot read node, its GPU product stays unknown",
		    "node=%s error=\"%s\"", node, err.msg);
}
