#!/usr/bin/env bash
# `make lint`: every include of a controller header goes through its folder
# ("store/db.h"), and a layer includes only itself and the layers below it.
# The order, lowest first (docs/architecture.md explains each folder):
layers=(base pipeline store query git exec kube engine notify http client)
# Files directly in controller/ (main.c, cli.c, cmd_*.c) are the top and may
# include any layer.
set -uo pipefail
cd "$(dirname "$0")/.."
rank() {
	local i
	for i in "${!layers[@]}"; do
		[ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
	done
	echo -1
}
bad=0
for f in controller/*/*.[ch] controller/*.[ch]; do
	dir=$(dirname "$f")
	if [ "$dir" = controller ]; then me=${#layers[@]}; else
		me=$(rank "$(basename "$dir")")
		if [ "$me" -lt 0 ]; then
			echo "$f: folder '$(basename "$dir")' is not in the layer order of scripts/lint-layers.sh"
			bad=1; continue
		fi
	fi
	while IFS=: read -r line inc; do
		case $inc in
		*/*) ;;
		cmd.h|version.h) if [ "$dir" != controller ]; then
			echo "$f:$line: includes \"$inc\", the top of the program"; bad=1; fi
			continue ;;
		*) echo "$f:$line: include \"$inc\" without its folder"; bad=1; continue ;;
		esac
		layer=${inc%%/*}
		r=$(rank "$layer")
		if [ "$r" -lt 0 ]; then
			echo "$f:$line: \"$inc\" is in no layer"; bad=1
		elif [ "$r" -gt "$me" ]; then
			echo "$f:$line: \"$inc\" is in layer $layer, above $(basename "$dir")"
			bad=1
		fi
	done < <(grep -n '^#include "' "$f" | sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
done
[ "$bad" = 0 ] && echo "lint: layers ok (${layers[*]})"
exit "$bad"
