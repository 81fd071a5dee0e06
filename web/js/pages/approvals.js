// pages/approvals.js - the approvals inbox: every pending canary step
// (approve / reject with a comment, approvers only), then the decided
// ones with who, when and the comment.  Live over SSE.
import * as api from '../api.js';
import * as sse from '../sse.js';
import { keyedCards } from '../approvalcard.js';
import { h, replace, listOf, errorBox, debounce, keepFocus, append }
    from '../render.js';

const DECIDED_LIMIT = 20;

export function mount(ctx) {
	ctx.title('Approvals');
	const canDecide = ctx.can('approver');
	const cache = new Map();
	const pendingBox = h('div', { class: 'cards', id: 'pending-approvals' });
	const decidedBox = h('div', { class: 'cards', id: 'decided-approvals' });
	const more = h('div', { class: 'pager' });
	let decided = [], cursor = null, abort = null;

	append(ctx.el, 
	    h('div', { class: 'page-head' }, h('h1', {}, 'Approvals')),
	    canDecide ? null : h('p', { class: 'notice' },
		'You can see approvals; deciding them needs the approver role.'),
	    h('section', { 'aria-labelledby': 'h-pending' },
		h('h2', { id: 'h-pending' }, 'Waiting for a decision'),
		pendingBox),
	    h('section', { 'aria-labelledby': 'h-decided' },
		h('h2', { id: 'h-decided' }, 'Decided'), decidedBox, more));

	const opts = {
		canDecide,
		onDecided: a => {
			ctx.toast((a.status === 'approved' ? 'Approved' : 'Rejected') +
			    ' the promotion of ' + (a.target ?? '?') + ' to ' +
			    (a.weight ?? '?') + '%.');
			load();
		},
	};

	async function load() {
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		try {
			const [p, d] = await Promise.all([
				api.get('/api/v1/approvals?status=pending&limit=100',
				    { signal: ac.signal }),
				api.get(api.withQuery('/api/v1/approvals',
				    { limit: DECIDED_LIMIT }), { signal: ac.signal }),
			]);
			if (ac !== abort)
				return;
			const pending = listOf(p, 'approvals').filter(a =>
			    (a.status ?? 'pending') === 'pending');
			decided = listOf(d, 'approvals').filter(a =>
			    (a.status ?? 'pending') !== 'pending');
			cursor = d && d.next_cursor;
			render(pending);
		} catch (e) {
			if (e.name !== 'AbortError')
				replace(pendingBox, errorBox(e));
		}
	}

	async function loadMore() {
		try {
			const d = await api.get(api.withQuery('/api/v1/approvals',
			    { limit: DECIDED_LIMIT, cursor }));
			decided = decided.concat(listOf(d, 'approvals').filter(a =>
			    (a.status ?? 'pending') !== 'pending'));
			cursor = d && d.next_cursor;
			renderDecided();
		} catch (e) {
			replace(more, errorBox(e));
		}
	}

	function render(pending) {
		keepFocus(() => {
			replace(pendingBox, pending.length ? keyedCards(cache,
			    pending.sort((a, b) => Number(a.id) - Number(b.id)),
			    opts) : h('p', { class: 'empty' },
			    'Nothing is waiting for approval.'));
			renderDecided();
		});
	}

	function renderDecided() {
		const seen = new Set();
		const list = decided.filter(a => !seen.has(String(a.id)) &&
		    seen.add(String(a.id)));
		replace(decidedBox, list.length ? list.map(a =>
		    keyedCards(new Map(), [a], opts)) :
		    h('p', { class: 'empty' }, 'No approval has been decided yet.'));
		replace(more, cursor ? h('button', { type: 'button', class: 'btn',
		    onclick: loadMore }, 'Older decisions') : null);
	}

	const refresh = debounce(load, 300);
	const offs = [sse.on('approval', refresh), sse.on('open', refresh)];
	load();
	return {
		unmount() {
			refresh.cancel();
			offs.forEach(off => off());
			if (abort)
				abort.abort();
		},
	};
}
