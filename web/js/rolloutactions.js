// rolloutactions.js - an approver's actions on a running rollout
// (promote to 100 %, abort, pause, resume), each behind a confirmation
// that names the target and the weights, with an optional comment.
// The element keeps its own state (which confirmation is open, the
// comment being typed); callers keep it across refreshes with
// keyedRolloutActions().
import * as api from './api.js';
import { h, replace, errorBox, idPart } from './render.js';

const ACTIVE = new Set(['progressing', 'analyzing', 'waiting_approval']);

// What each action says before it is done, for rollout ro of target.
const ACTIONS = {
	'promote-full': {
		label: 'Promote to 100%', yes: 'Yes, promote',
		cls: 'btn-primary',
		ask: (t, w) => `Promote ${t} from ${w}% to 100% now, skipping ` +
		    'the remaining steps and approvals?',
		done: t => `Promoting ${t} to 100%…`,
	},
	abort: {
		label: 'Abort', yes: 'Yes, roll back', cls: 'btn-danger',
		ask: (t, w) => `Abort the rollout of ${t} at ${w}% and roll ` +
		    'traffic back to 0% (the stable model)?',
		done: t => `Rolling ${t} back…`,
	},
	pause: {
		label: 'Pause', yes: 'Yes, pause', cls: 'btn',
		ask: (t, w) => `Pause the rollout of ${t} at ${w}%? Analysis ` +
		    'and approval expiry stop until it is resumed.',
		done: t => `Paused the rollout of ${t}.`,
	},
	resume: {
		label: 'Resume', yes: 'Yes, resume', cls: 'btn',
		ask: (t, w) => `Resume the rollout of ${t} at ${w}%?`,
		done: t => `Resumed the rollout of ${t}.`,
	},
};

// What the element shows of a rollout: a new one is built when it changes.
const sigOf = ro => [ro.status, ro.action, ro.paused_by, ro.current_weight]
    .join('|');

// The actions that apply to a rollout ({status, action, paused_by}).
export function applicable(ro) {
	if (!ro || !ACTIVE.has(ro.status) || ro.action)
		return [];
	return ['promote-full', 'abort', ro.paused_by ? 'resume' : 'pause'];
}

// The element for rollout ro ({id, status, current_weight, action,
// paused_by}) of run `run` to target.  onDone(rollout, message) after an
// action was accepted.  null when nothing applies.
export function rolloutActions(ro, run, target, { onDone = () => {} } = {}) {
	let verbs = applicable(ro);
	if (!verbs.length)
		return null;
	const pid = idPart(String(ro.id));
	const box = h('div', { class: 'rollout-actions', id: 'rollout-actions-' +
	    pid, role: 'group', 'aria-label': 'Rollout of ' + target });
	const status = h('div', { class: 'form-status' });

	function buttons() {
		box.dataset.sig = sigOf(ro);
		if (!verbs.length) {
			replace(box, status);
			return;
		}
		replace(box, ro.paused_by ? h('p', { class: 'muted' },
		    'Paused by ', h('strong', {}, ro.paused_by)) : null,
		    h('div', { class: 'actions' }, verbs.map(v =>
			h('button', { type: 'button', class: 'btn',
			    id: 'rollout-' + v + '-' + pid,
			    onclick: () => confirm(v) }, ACTIONS[v].label))),
		    status);
	}

	function confirm(verb) {
		const a = ACTIONS[verb];
		const comment = h('input', { type: 'text', maxlength: 1000,
		    id: 'rollout-comment-' + pid, name: 'comment' });
		const yes = h('button', { type: 'button', class: a.cls,
		    id: 'rollout-confirm-' + pid }, a.yes);
		const keep = h('button', { type: 'button', class: 'btn',
		    id: 'rollout-keep-' + pid, onclick: () => {
			buttons();
			document.getElementById('rollout-' + verb + '-' + pid)
			    ?.focus();
		} }, 'Keep it');
		yes.addEventListener('click', async () => {
			yes.disabled = keep.disabled = true;
			replace(status);
			try {
				const res = await api.post('/api/v1/runs/' +
				    api.seg(run) + '/rollout/' + verb,
				    { comment: comment.value.trim() });
				ro = res;
				verbs = applicable(ro);
				buttons();
				onDone(res, a.done(target));
			} catch (e) {
				replace(status, errorBox(e));
				yes.disabled = keep.disabled = false;
			}
		});
		replace(box,
		    h('p', { class: 'confirm-text', id: 'rollout-ask-' + pid },
			a.ask(target, ro.current_weight)),
		    h('label', { for: 'rollout-comment-' + pid }, 'Comment'),
		    comment,
		    h('div', { class: 'actions' }, yes, keep), status);
		yes.focus();
	}

	buttons();
	return box;
}

// Keep one element per rollout while what it shows stays the same (also
// after it updated itself from an action's answer), so a refresh does not
// close a confirmation being read.
export function keyedRolloutActions(cache, ro, run, target, opts) {
	const key = String(ro.id);
	const old = cache.get(key);
	if (old !== undefined && (old === null ? !applicable(ro).length :
	    old.dataset.sig === sigOf(ro)))
		return old;
	const el = rolloutActions(ro, run, target, opts);
	cache.set(key, el);
	return el;
}
