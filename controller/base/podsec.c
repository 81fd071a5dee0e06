/* podsec.c - a stage pod's identity keys; see podsec.h. */
#include <string.h>

#include "base/podsec.h"

const char *const podsec_keys[PODSEC_NKEYS] = {
	"run_as_user", "run_as_group", "fs_group", "run_as_non_root",
};

void
podsec_init(struct podsec *s)
{
	s->set = 0;
	for (size_t i = 0; i < 3; i++)
		s->id[i] = -1;
	s->run_as_non_root = -1;
}

void
podsec_default(struct podsec *s)
{
	podsec_init(s);
	s->set = 1;
	s->id[PODSEC_RUN_AS_USER] = PODSEC_DEFAULT_UID;
	s->id[PODSEC_FS_GROUP] = PODSEC_DEFAULT_UID;
	s->run_as_non_root = 1;
}

int
podsec_key_index(const char *name, size_t len)
{
	for (int i = 0; i < PODSEC_NKEYS; i++) {
		if (strlen(podsec_keys[i]) == len &&
		    memcmp(podsec_keys[i], name, len) == 0)
			return i;
	}
	return -1;
}

const char *
podsec_contradiction(const struct podsec *s)
{
	if (s->run_as_non_root == 1 && s->id[PODSEC_RUN_AS_USER] == 0)
		return "run_as_non_root: true contradicts run_as_user: 0 "
		    "(the kubelet would refuse to start the pod)";
	return NULL;
}
