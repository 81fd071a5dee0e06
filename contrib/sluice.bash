# bash completion for sluice: `source <(sluice completion bash)`, or copy
# this file to /usr/share/bash-completion/completions/sluice.  It is what
# `sluice completion bash` prints (a test checks that they agree).
_sluice() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd=${COMP_WORDS[1]} sub=${COMP_WORDS[2]} subs= flags=
	local top="runs run approvals rollouts models serve migrate validate token gc version help completion"
	case $prev in
	--server|--token|--comment|--target|--ref|--param|--pipeline|--limit|--name|--set)
		return ;;
	--config)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--role)
		COMPREPLY=($(compgen -W "viewer operator approver admin" -- "$cur"))
		return ;;
	--status)
		case $cmd in
		approvals) subs="pending approved rejected expired all" ;;
		models) subs="registered candidate production retired rejected" ;;
		*) subs="queued running waiting_approval succeeded failed canceled" ;;
		esac
		COMPREPLY=($(compgen -W "$subs" -- "$cur"))
		return ;;
	esac
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$top" -- "$cur"))
		return
	fi
	case $cmd in
	runs)
		subs="list get logs cancel retry"
		case $sub in
		list) flags="--pipeline --status --limit" ;;
		logs) flags="--follow" ;;
		esac ;;
	run) flags="--param --ref --wait" ;;
	approvals)
		subs="list approve reject"
		case $sub in
		list) flags="--status --limit" ;;
		approve|reject) flags="--comment" ;;
		esac ;;
	rollouts)
		subs="promote-full abort pause resume"
		flags="--comment" ;;
	models)
		subs="list promote rollback"
		case $sub in
		list) flags="--status --limit" ;;
		promote|rollback) flags="--target --comment" ;;
		esac ;;
	help)
		[ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "${top% help completion} completion" -- "$cur"))
		return ;;
	completion)
		[ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "bash" -- "$cur"))
		return ;;
	serve) flags="--config --set --migrate" ;;
	migrate) flags="--config --set --status" ;;
	validate) flags="--json" ;;
	gc) flags="--config --set --dry-run" ;;
	token)
		subs="create list revoke"
		flags="--name --role --config --set" ;;
	esac
	if [ -n "$subs" ] && [ "$COMP_CWORD" -eq 2 ]; then
		COMPREPLY=($(compgen -W "$subs" -- "$cur"))
		return
	fi
	if [[ $cur == -* ]]; then
		case $cmd in
		runs|run|approvals|rollouts|models)
			flags="$flags --server --token --json --no-color --help" ;;
		esac
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	fi
}
complete -o default -F _sluice sluice
