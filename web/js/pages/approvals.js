// pages/approvals.js - the approvals inbox: every pending canary step
// (approve / reject with a comment, approvers only), then the decided
// ones with who, when and the comment.  Live over SSE.
import * as api from '../api.js';
import { live } from '../live.js';
import { keyedCards } from '../approvalcard.js';
import { h, replace, errorBox, keepFocus, append }
    from '../render.js';

const DECIDED_LIMIT = 20;

export function mount(ctx) {
	ctx.title('Approvals');
	const canDecide = ctx.can('approver');
	const cache = new Map();
	const pendingBox = h('div', { class: 'cards', id: 'pending-approvals' });
	const decidedBox = h('div', { class: 'cards', id: 'decided-approvals' });
	const more = h('div', { class: 'pager' });
	let decided = [], cursor = null;

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
			    ' the promotion of ' + a.target + ' to ' + a.weight + '%.');
			life.now();
		},
		onRollout: (ro, msg) => {
			ctx.toast(msg);
			life.now();
		},
	};

	async function load(signal) {
		const [p, d] = await Promise.all([
			api.get('/api/v1/approvals?status=pending&limit=100',
			    { signal }),
			api.get(api.withQuery('/api/v1/approvals',
			    { limit: DECIDED_LIMIT }), { signal }),
		]);
		if (signal.aborted)
			return;
		decided = d.approvals.filter(a => a.status !== 'pending');
		cursor = d.next_cursor;
		render(p.approvals);
	}

	async function loadMore() {
		try {
			const d = await api.get(api.withQuery('/api/v1/approvals',
			    { limit: DECIDED_LIMIT, cursor }), { signal: life.signal });
			decided = decided.concat(d.approvals.filter(a =>
			    a.status !== 'pending'));
			cursor = d.next_cursor;
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

	const life = live(load, { events: ['approval'], wait: 300,
	    fail: e => replace(pendingBox, errorBox(e)) });
	life.now();
	return { unmount: life.stop };
}
