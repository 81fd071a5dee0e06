/*
 * checkout.c - a run's checkout for the local executor: exported once
 * under state_dir/work/<run>, removed when the run ends.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/caps.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/sys.h"
#include "engine/engine_int.h"
#include "engine/pass.h"
#include "git/gitsrc.h"
/* The temporary name of checkout dir, "<dir>.tmp"; -1 when too long. */
static int
tmp_name(char *tmp, size_t len, const char *dir)
{
	return snprintf(tmp, len, "%s.tmp", dir) >= (int)len ? -1 : 0;
}

/* Remove a work folder (nothing when it is not there); failures are logged. */
void
eng_work_dir_remove(const char *dir)
{
	struct err err;

	if (gitsrc_remove_dir(dir, &err) < 0)
		log_warn("cannot remove checkout", "dir=%s error=\"%s\"", dir,
		    err.msg);
}

/*
 * What an export of checkout dir that failed left under its temporary
 * name: nothing else will use it (the next export starts afresh).
 */
static void
remove_checkout_tmp(const char *dir)
{
	char tmp[LIM_PATH];

	if (tmp_name(tmp, sizeof(tmp), dir) == 0)
		eng_work_dir_remove(tmp);
}

/*
 * The run's checkout, state_dir/work/<run>: exported once (into a
 * temporary name, then renamed, so a crash never leaves half a tree under
 * the real name; a failed export removes what it wrote).  Errors:
 * gitsrc_checkout_commit()'s.
 */
int
eng_checkout_ensure(struct engine *e, const struct snap_run *r, const char *dir,
    struct err *err)
{
	char tmp[LIM_PATH];
	struct stat sb;
	int rc;

	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return 0;
	if (sys_mkdir_p(e->workroot, 0755, err) < 0) {
		err->code = ERR_TRANSIENT;	/* the disk may recover */
		return ERR_TRANSIENT;
	}
	if (tmp_name(tmp, sizeof(tmp), dir) < 0)
		return err_set(err, ERR_INVALID, "path too long");
	if ((rc = gitsrc_remove_dir(tmp, err)) < 0)
		return rc;
	if ((rc = gitsrc_checkout_commit(e->cfg->state_dir, r->repo, r->commit,
	    tmp, err)) < 0) {
		eng_work_dir_remove(tmp);	/* what the export wrote before failing */
		return rc;
	}
	if (rename(tmp, dir) < 0) {
		rc = err_set(err, ERR_TRANSIENT, "cannot rename '%s': %s", tmp,
		    strerror(errno));
		eng_work_dir_remove(tmp);
		return rc;
	}
	log_info("checkout exported", "run=%lld commit=%s dir=%s",
	    (long long)r->id, r->commit, dir);
	return 0;
}

/* A run ended: its checkout goes, and a failed export's leftovers. */
void
eng_checkout_remove(struct engine *e, int64_t run_id)
{
	char dir[LIM_PATH];

	if (e->cfg->executor != EXECUTOR_LOCAL ||
	    snprintf(dir, sizeof(dir), "%s/%lld", e->workroot,
	    (long long)run_id) >= (int)sizeof(dir))
		return;
	eng_work_dir_remove(dir);
	remove_checkout_tmp(dir);
}
