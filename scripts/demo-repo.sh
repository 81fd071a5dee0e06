#!/usr/bin/env bash
# Create the demo Git repository for `make run` (once) and print the
# `repositories:` section of the demo configuration on stdout.
#
#   STATE/demo.git    a bare repository, the "remote" Sluice polls
#   STATE/demo        a clone of it to edit and `git push` from
#
# The repository is seeded from pipelines/ (as pipelines/ at its root).
set -euo pipefail
state=$1
top=$(cd "$(dirname "$0")/.." && pwd)
bare=$state/demo.git
work=$state/demo
git=(git -c user.name="Sluice Demo" -c user.email=demo@sluice.invalid
	-c init.defaultBranch=main -c advice.detachedHead=false)

if [ ! -d "$bare" ]; then
	"${git[@]}" init -q --bare "$bare"
	rm -rf "$work"
	"${git[@]}" clone -q "$bare" "$work" 2>/dev/null
	mkdir -p "$work/pipelines"
	cp -R "$top/pipelines/." "$work/pipelines/"
	cat >"$work/README.md" <<'MD'
# Sluice demo repository

Edit a pipeline under pipelines/, commit and `git push`: Sluice polls this
repository and starts a run at the pushed commit.
MD
	(cd "$work" && "${git[@]}" add -A &&
	    "${git[@]}" commit -qm "Demo pipelines" &&
	    "${git[@]}" push -q origin HEAD:main) >&2
fi

cat <<YAML
repositories:
  - name: demo
    url: file://$bare
    branches: [main]
    path: pipelines
    interval: 2s
YAML
