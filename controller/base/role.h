/*
 * role.h - API roles, ordered: viewer < operator < approver < admin.
 *
 * Each role can do everything the roles below it can, so an access check
 * is a comparison:
 *
 *	if (caller_role < ROLE_OPERATOR)
 *		return err_set(err, ERR_FORBIDDEN, "...");
 *
 * ROLE_NONE (no token, anonymous_read off) is below all of them.
 */
#ifndef SLUICE_ROLE_H
#define SLUICE_ROLE_H

#include "base/err.h"

enum role {
	ROLE_NONE = 0,
	ROLE_VIEWER,
	ROLE_OPERATOR,
	ROLE_APPROVER,
	ROLE_ADMIN,
};

/*
 * Parse "viewer", "operator", "approver" or "admin" (exactly, lowercase)
 * into *out.  Errors: ERR_INVALID naming the accepted values; *out is then
 * untouched.
 */
int	role_parse(const char *s, enum role *out, struct err *err)
	    __attribute__((warn_unused_result));

/* The name of a role ("none" for ROLE_NONE), a static string. */
const char *role_name(enum role r);

#endif
