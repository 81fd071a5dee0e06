/*
 * cfg_notify.c - the "notifications" list: the keys of one entry
 * (cfg_notify_keys[]), walking the list, the checks across an entry's
 * fields and across entries, and cfg_notification_release().
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "base/cfg_int.h"

static const char *
check_format(const char *v)
{
	return strcmp(v, "slack") == 0 || strcmp(v, "json") == 0 ? NULL :
	    "is not a notification format (slack or json)";
}

static const char *
check_event(const char *v)
{
	static const char *const names[] = {
		"approval_requested", "run_failed", "model_promoted",
		"rollout_rolled_back",
	};

	for (size_t i = 0; i < NKEYS(names); i++) {
		if (strcmp(v, names[i]) == 0)
			return NULL;
	}
	return "is not an event (" CFG_NOTIFY_EVENTS ")";
}

/* Inside one notifications entry: a new key is one row here. */
#define N(f)	offsetof(struct cfg_notification, f)
const struct key cfg_notify_keys[] = {
	{ .path = "name", .type = K_STR, .off = N(name),
	  .check = cfg_check_label, .flags = CFG_REQUIRED | CFG_NONEMPTY },
	{ .path = "url_env", .type = K_STR, .off = N(url_env),
	  .check = cfg_check_envname, .flags = CFG_REQUIRED | CFG_NONEMPTY },
	{ .path = "format", .type = K_STR, .off = N(format), .def = "slack",
	  .check = check_format, .flags = CFG_NONEMPTY },
	{ .path = "events", .type = K_LIST, .off = N(events),
	  .off2 = N(nevents), .max = 4, .check = check_event,
	  .flags = CFG_REQUIRED },
	{ .path = "secret_env", .type = K_STR, .off = N(secret_env),
	  .check = cfg_check_envname, .flags = CFG_NULLABLE },
};
#undef N

const size_t cfg_nnotify_keys = NKEYS(cfg_notify_keys);

/* After l[i] was walked from item: required keys, defaults, cross. */
static int
notify_finish(struct ld *ld, yaml_node_t *item, struct cfg_notification *l,
    size_t i, const unsigned char *seen, const char *label)
{
	char alabel[LABEL_MAX];
	struct cfg_notification *n = &l[i];
	yaml_node_t *at;

	for (size_t j = 0; j < NKEYS(cfg_notify_keys); j++) {
		const struct key *k = &cfg_notify_keys[j];

		if (seen[j])
			continue;
		if (k->flags & CFG_REQUIRED)
			return cfg_fail(ld, &item->start_mark, label,
			    "\"%s\" is required", k->path);
		cfg_set_default(ld, k, n, label);
	}
	if (n->nevents == 0) {
		at = cfg_map_get(ld, item, "events");
		cfg_labelf(alabel, sizeof(alabel), "%s.events", label);
		return cfg_fail(ld, at ? &at->start_mark : NULL, alabel,
		    "must name at least one event (" CFG_NOTIFY_EVENTS ")");
	}
	if (strcmp(n->format, "json") == 0 && n->secret_env == NULL)
		return cfg_fail(ld, &item->start_mark, label,
		    "\"secret_env\" is required with format json (the key "
		    "of X-Sluice-Signature-256)");
	for (size_t j = 0; j < i; j++) {
		if (strcmp(l[j].name, n->name) != 0)
			continue;
		at = cfg_map_get(ld, item, "name");
		cfg_labelf(alabel, sizeof(alabel), "%s.name", label);
		return cfg_fail(ld, at ? &at->start_mark : NULL, alabel,
		    "\"%s\" is a duplicate of notifications[%zu].name",
		    n->name, j);
	}
	return 0;
}

void
cfg_notifications_store(struct cfg *c, struct cfg_notification *l, size_t n)
{
	for (size_t i = 0; i < c->nnotifications; i++)
		cfg_notification_release(&c->notifications[i]);
	free(c->notifications);
	c->notifications = l;
	c->nnotifications = n;
}

int
cfg_walk_notifications(struct ld *ld, yaml_node_t *seq, struct cfg *c)
{
	unsigned char seen[NKEYS(cfg_notify_keys)];
	char label[LABEL_MAX], lprefix[LABEL_MAX];
	struct cfg_notification *l = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (!cfg_is_null(seq))
		n = (size_t)(seq->data.sequence.items.top -
		    seq->data.sequence.items.start);
	if (n > LIM_CONFIG_NOTIFICATIONS)
		return cfg_fail(ld, &seq->start_mark, "notifications",
		    "has more than %d entries", LIM_CONFIG_NOTIFICATIONS);
	l = xcalloc(n, sizeof(*l));
	for (i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(ld->doc,
		    seq->data.sequence.items.start[i]);

		cfg_labelf(label, sizeof(label), "notifications[%zu]", i);
		cfg_labelf(lprefix, sizeof(lprefix), "notifications[%zu].",
		    i);
		if (item->type != YAML_MAPPING_NODE) {
			rc = cfg_wrong_type(ld, item, label, "a mapping");
			goto out;
		}
		memset(seen, 0, sizeof(seen));
		if ((rc = cfg_walk_map(ld, item, cfg_notify_keys,
		    NKEYS(cfg_notify_keys), "", &l[i], lprefix, seen)) < 0)
			goto out;
		if ((rc = notify_finish(ld, item, l, i, seen, label)) < 0)
			goto out;
	}
	cfg_notifications_store(c, n > 0 ? l : NULL, n);
	if (n > 0)
		l = NULL;
out:
	for (i = 0; l != NULL && i < n; i++)
		cfg_notification_release(&l[i]);
	free(l);
	return rc;
}

void
cfg_notification_release(struct cfg_notification *n)
{
	if (n == NULL)
		return;
	cfg_fields_free(cfg_notify_keys, NKEYS(cfg_notify_keys), n);
	memset(n, 0, sizeof(*n));
}
