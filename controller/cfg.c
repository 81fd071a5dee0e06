/* cfg.c - configuration.  Defaults only until the loader lands. */
#include <stdlib.h>

#include "buf.h"
#include "cfg.h"

int
cfg_load(struct cfg **out, const char *path, char *const *envp,
    const struct cfg_override *overrides, size_t n, struct err *err)
{
	struct cfg *c = xcalloc(1, sizeof(*c));

	(void)path; (void)envp; (void)overrides; (void)n; (void)err;
	c->listen = xstrdup("127.0.0.1:8080");
	c->database_url = xstrdup("postgresql:///sluice");
	c->state_dir = xstrdup("./var");
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
