// approvalcard.js - one canary approval: target, weight, the step's
// analysis, the metrics the candidate's gates judged next to
// production's, and (for approvers, while pending) approve / reject with
// a comment.
import * as api from './api.js';
import { rolloutActions } from './rolloutactions.js';
import { h, badge, ago, dl, fmtNumber, table, errorBox, idPart, entries,
    metricsComparison } from './render.js';

const OPS = {
	'>=': (x, y) => x >= y, '>': (x, y) => x > y, '<=': (x, y) => x <= y,
	'<': (x, y) => x < y, '==': (x, y) => x === y, '!=': (x, y) => x !== y,
};

// The canary's analysis gates (from the pipeline's canary steps) against
// the latest metrics its steps reported: [{gate, observed, ok, message}].
// The fields of the inbox (canary_steps, canary_metrics, production) may
// be missing on the run page when the inbox could not be read.
function analysisRows(a) {
	const metrics = a.canary_metrics ?? {};
	const prod = a.production ? a.production.metrics : {};
	const rows = [];
	(a.canary_steps ?? []).forEach((st, i) => {
		for (const g of st.analysis ? st.analysis.gates : []) {
			let threshold = g.value;
			let shown = fmtNumber(g.value);
			if (g.baseline !== undefined) {
				const base = prod[g.metric];
				const tol = Number(g.tolerance ?? 0);
				threshold = typeof base === 'number' ? (String(g.op)
				    .startsWith('<') ? base + tol : base - tol) : undefined;
				shown = g.baseline + (tol ? ' ∓ ' + fmtNumber(tol) : '');
			}
			const observed = metrics[g.metric];
			const cmp = OPS[g.op];
			rows.push({
				gate: `step ${i + 1} (${st.weight}%): ` +
				    `${g.metric} ${g.op} ${shown}`,
				observed: observed ?? '—',
				ok: typeof observed === 'number' && typeof threshold ===
				    'number' && cmp ? cmp(observed, threshold) : undefined,
				message: typeof observed === 'number' ? '' :
				    'not reported yet',
			});
		}
	});
	return rows;
}

// Where the canary's rollout is.
function analysisSummary(a) {
	const ro = a.rollout;
	if (!ro)
		return null;
	return h('p', { class: 'analysis-summary' }, 'Rollout ',
	    badge(ro.status), ' at ' + ro.current_weight + '%',
	    ro.current_step ? ', step ' + ro.current_step + ' of ' + ro.steps :
	    '', ro.message ? ' — ' + ro.message : '');
}

// A model of the inbox ({name, version, uri, metrics}) as a link.
function modelLabel(m) {
	return m ? h('a', { href: '#/models/' + api.seg(m.name) }, m.name,
	    ' v', String(m.version)) : null;
}

// The gate's own metrics (those the run's gates judged, e.g. the evaluate
// stage's) against production's; the producing stage's metrics when
// neither run had a gate.
function comparison(a) {
	const gc = a.candidate ? a.candidate.gate_metrics : null;
	const gp = a.production ? a.production.gate_metrics : null;
	if (entries(gc).length || entries(gp).length)
		return metricsComparison(gc, gp, { caption: 'Gate metrics: ' +
		    'candidate vs production' });
	return metricsComparison(a.candidate ? a.candidate.metrics : {},
	    a.production ? a.production.metrics : {},
	    { caption: 'Evaluation: candidate vs production',
		empty: 'No evaluation metrics reported.' });
}

function analysis(a) {
	const rows = analysisRows(a);
	const summary = analysisSummary(a);
	if (!rows.length && !summary)
		return h('p', { class: 'muted' },
		    'No analysis results for this step.');
	return h('div', {}, summary, rows.length ? table(rows, [
		['Gate', r => h('code', {}, r.gate)],
		['Observed', r => typeof r.observed === 'number' ?
		    fmtNumber(r.observed) : String(r.observed ?? '—'), 'num'],
		['Result', r => r.ok === undefined ? (r.message ?? '') :
		    badge(r.ok ? 'passed' : 'failed')],
	], { caption: 'Analysis of the canary' }) : null);
}

// The card.  opts: {canDecide, showRun, onDecided(approval),
// onRollout(rollout, message): the rollout's actions, unless null (the
// run page shows them with its rollouts)}.
export function approvalCard(a, { canDecide = false, showRun = true,
    onDecided = () => {}, onRollout = () => {} } = {}) {
	const id = String(a.id);
	const pid = idPart(id);
	const pending = a.status === 'pending';
	const card = h('article', { class: ['card', 'approval',
	    pending ? 'pending' : 'decided'], id: 'approval-' + pid,
	    'aria-labelledby': 'approval-title-' + pid });
	card.append(
	    h('header', { class: 'card-head' },
		h('h3', { id: 'approval-title-' + pid },
		    'Promote ', h('strong', {}, a.target),
		    ' to ', String(a.weight), '%'),
		badge(a.status)),
	    dl([
		['Run', showRun ? h('a', { href: '#/runs/' +
		    api.seg(a.run) }, '#' + a.run) : null],
		['Pipeline', a.pipeline ? h('a', { href: '#/pipelines/' +
		    api.seg(a.pipeline) }, a.pipeline) : null],
		['Stage', a.stage],
		['Step', String(a.step) + (a.rollout ? ' of ' + a.rollout.steps :
		    '')],
		['Candidate', modelLabel(a.candidate)],
		['In production', modelLabel(a.production)],
		['Requested', ago(a.requested_at)],
		['Expires', pending && a.expires_at ? ago(a.expires_at) : null],
	    ]),
	    h('h4', {}, 'Analysis'), analysis(a),
	    h('h4', {}, 'Metrics'), comparison(a));
	if (!pending) {
		card.append(h('p', { class: 'decision' },
		    a.status === 'expired' ? 'Expired ' :
		    [a.status.replace(/^./, c => c.toUpperCase()),
			' by ', h('strong', {}, a.decided_by), ' '],
		    ago(a.decided_at),
		    a.comment ? [': ', h('q', {}, a.comment)] : null));
	} else if (canDecide) {
		const comment = h('textarea', { id: 'comment-' + pid, rows: 2,
		    maxlength: 1000, name: 'comment' });
		const status = h('div', { class: 'form-status' });
		const approve = h('button', { type: 'button', class: 'btn-primary',
		    id: 'approve-' + pid }, 'Approve');
		const reject = h('button', { type: 'button', class: 'btn-danger',
		    id: 'reject-' + pid }, 'Reject');
		const decide = async verb => {
			approve.disabled = reject.disabled = true;
			status.replaceChildren();
			try {
				onDecided(await api.post('/api/v1/approvals/' +
				    api.seg(id) + '/' + verb,
				    { comment: comment.value.trim() }));
			} catch (e) {
				status.replaceChildren(errorBox(e));
				approve.disabled = reject.disabled = false;
			}
		};
		approve.addEventListener('click', () => decide('approve'));
		reject.addEventListener('click', () => decide('reject'));
		card.append(h('div', { class: 'decide' },
		    h('label', { for: 'comment-' + pid }, 'Comment'),
		    comment,
		    h('div', { class: 'actions' }, approve, reject),
		    status));
		const ra = a.rollout && onRollout ? rolloutActions(a.rollout, a.run, a.target,
		    { onDone: onRollout }) : null;
		if (ra)
			card.append(h('h4', {}, 'Rollout'), ra);
	}
	return card;
}

// Keep cards keyed by id and status, so a refresh does not lose a comment
// being typed.  Returns the list of cards for the approvals given.
export function keyedCards(cache, approvals, opts) {
	const out = [];
	const keep = new Set();
	for (const a of approvals) {
		const key = String(a.id);
		const sig = JSON.stringify(a);
		keep.add(key);
		const old = cache.get(key);
		// A pending card stays as it is while it stays pending.
		if (old && (old.sig === sig || (old.pending &&
		    a.status === 'pending'))) {
			out.push(old.el);
			continue;
		}
		const el = approvalCard(a, opts);
		cache.set(key, { sig, el, pending: a.status === 'pending' });
		out.push(el);
	}
	for (const k of [...cache.keys()])
		if (!keep.has(k))
			cache.delete(k);
	return out;
}
