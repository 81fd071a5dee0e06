/*
 * cfg.c - configuration.  PLACEHOLDER: defaults plus SLUICE_LISTEN,
 * SLUICE_DATABASE_URL and SLUICE_STATE_DIR until the real loader lands.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"

int
cfg_load(struct cfg **out, const char *path, char *const *envp,
    const struct cfg_override *overrides, size_t n, struct err *err)
{
	struct cfg *c = xcalloc(1, sizeof(*c));

	const char *listen = "127.0.0.1:8080", *db = "postgresql:///sluice";
	const char *state = "./var";

	(void)path; (void)overrides; (void)n; (void)err;
	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, "SLUICE_LISTEN=", 14) == 0)
			listen = *envp + 14;
		else if (strncmp(*envp, "SLUICE_DATABASE_URL=", 20) == 0)
			db = *envp + 20;
		else if (strncmp(*envp, "SLUICE_STATE_DIR=", 17) == 0)
			state = *envp + 17;
	}
	c->listen = xstrdup(listen);
	c->database_url = xstrdup(db);
	c->state_dir = xstrdup(state);
	c->log_level = LOG_INFO;
	*out = c;
	return 0;
}

void
cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	free(c->listen);
	free(c->database_url);
	free(c->state_dir);
	free(c);
}
