# tests/support/lib.sh - what the shell tests in tests/integration share.
# shellcheck shell=bash
# Sourced, after `set -euo pipefail`:
#
#	. "$(dirname "$0")/../support/lib.sh"
#
#   t_free_port            a TCP port on 127.0.0.1 nobody listens on (below
#                          the ephemeral range)
#   t_psql CONNINFO ARG... psql: quiet, unaligned, tuples only, no psqlrc,
#                          stops at the first error
#   t_db_create DB [empty] CREATE DATABASE DB on the test cluster: a copy of
#                          the migrated template scripts/test.sh makes
#                          ($SLUICE_TEST_PG_TEMPLATE), or an empty one with
#                          "empty" (a test of the migrations) or without a
#                          template
#   t_db_drop DB           DROP DATABASE IF EXISTS DB WITH (FORCE); never fails
#   t_db_url DB            DB's conninfo
#   t_git ARG...           git as a test user, new repositories on main
#   t_git_remote DIR       DIR/repo.git (bare) and DIR/work, its clone
#   t_git_push WORK MSG    commit everything in WORK and push it to main
#
# Needs SLUICE_TEST_PG_URL and SLUICE_TEST_PG_BIN (from scripts/test.sh)
# for the t_db_* and t_psql functions only.

# Below Linux's ephemeral range (32768-60999), unlike a port from bind(0):
# no client connection of a test running in parallel takes it meanwhile.
t_free_port() {
	python3 -c '
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port")'
}

t_psql() {
	"${SLUICE_TEST_PG_BIN:?}/psql" -qAtX -v ON_ERROR_STOP=1 "$@"
}

t_db_url() {
	echo "${SLUICE_TEST_PG_URL/dbname=postgres/dbname=$1}"
}

t_db_create() {
	local tmpl=
	if [ "${2:-}" != empty ] && [ -n "${SLUICE_TEST_PG_TEMPLATE:-}" ]; then
		tmpl=" TEMPLATE $SLUICE_TEST_PG_TEMPLATE"
	fi
	t_psql "${SLUICE_TEST_PG_URL:?}" -c "CREATE DATABASE $1$tmpl"
}

t_db_drop() {
	t_psql "${SLUICE_TEST_PG_URL:?}" \
	    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" || true
}

t_git() {
	git -c user.name=T -c user.email=t@example.com \
	    -c init.defaultBranch=main "$@"
}

t_git_remote() {
	t_git init -q --bare "$1/repo.git"
	t_git clone -q "$1/repo.git" "$1/work" 2>/dev/null
}

t_git_push() {
	(cd "$1" && t_git add -A && t_git commit -qm "$2" &&
	    t_git push -q origin main)
}
