/* role.c - API roles; see role.h. */
#include <string.h>

#include "base/role.h"

static const char *const names[] = {
	[ROLE_NONE] = "none",
	[ROLE_VIEWER] = "viewer",
	[ROLE_OPERATOR] = "operator",
	[ROLE_APPROVER] = "approver",
	[ROLE_ADMIN] = "admin",
};

int
role_parse(const char *s, enum role *out, struct err *err)
{
	for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++) {
		if (s != NULL && strcmp(s, names[r]) == 0) {
			*out = (enum role)r;
			return 0;
		}
	}
	return err_set(err, ERR_INVALID,
	    "role '%s' is not one of viewer, operator, approver, admin",
	    s != NULL ? s : "");
}

const char *
role_name(enum role r)
{
	if ((int)r < ROLE_NONE || r > ROLE_ADMIN)
		return "none";
	return names[r];
}
