// approvalcard.js - one canary approval: target, weight, the step's
// analysis, the candidate's metrics next to production's, and (for
// approvers, while pending) approve / reject with a comment.
import * as api from './api.js';
import { h, badge, ago, dl, entries, fmtNumber, table, errorBox, idPart }
    from './render.js';

const obj = v => v && typeof v === 'object' && !Array.isArray(v) ? v : null;

const OPS = {
	'>=': (x, y) => x >= y, '>': (x, y) => x > y, '<=': (x, y) => x <= y,
	'<': (x, y) => x < y, '==': (x, y) => x === y, '!=': (x, y) => x !== y,
};

// The canary's analysis gates (from the pipeline's canary steps) against
// the latest metrics its steps reported.
function gatesFromSteps(a) {
	const metrics = obj(a.canary_metrics) ?? {};
	const prod = obj(obj(a.production) && a.production.metrics) ?? {};
	const rows = [];
	(Array.isArray(a.canary_steps) ? a.canary_steps : []).forEach((st, i) => {
		const an = obj(st) && obj(st.analysis);
		for (const g of an && Array.isArray(an.gates) ? an.gates : []) {
			if (!obj(g))
				continue;
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
				gate: `step ${i + 1} (${st.weight ?? '?'}%): ` +
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

// Gate results of the step's analysis, as [{gate, observed, ok}].
function analysisRows(a) {
	const an = a.analysis ?? a.analysis_results ?? null;
	const gates = Array.isArray(an) ? an : obj(an) && (an.gates ??
	    an.results ?? an.checks);
	if (!Array.isArray(gates))
		return gatesFromSteps(a);
	return gates.filter(obj).map(g => {
		const threshold = g.value ?? g.threshold ??
		    (g.baseline ? g.baseline + (g.tolerance !== undefined ?
		    ' − ' + fmtNumber(g.tolerance) : '') : '');
		const ok = g.passed ?? g.ok ?? g.pass ??
		    (g.result ? g.result === 'passed' || g.result === 'pass' :
		    undefined);
		return {
			gate: [g.metric ?? g.name, g.op, typeof threshold ===
			    'number' ? fmtNumber(threshold) : threshold]
			    .filter(x => x !== undefined && x !== null && x !== '')
			    .join(' '),
			observed: g.observed ?? g.actual ?? g.measured ??
			    g.current,
			ok,
			message: g.message,
		};
	});
}

function analysisSummary(a) {
	const an = obj(a.analysis ?? a.analysis_results);
	const ro = obj(a.rollout);
	if (!an && ro)
		return h('p', { class: 'analysis-summary' }, 'Rollout ',
		    badge(ro.status), ro.current_weight !== undefined ?
		    ' at ' + ro.current_weight + '%' : '', ro.current_step ?
		    ', step ' + ro.current_step + ' of ' + (ro.steps ?? '?') : '',
		    ro.message ? ' — ' + ro.message : '');
	if (!an)
		return null;
	const bits = [];
	if (an.status)
		bits.push(badge(an.status));
	if (an.duration)
		bits.push(' over ', String(an.duration));
	if (an.message)
		bits.push(' — ', String(an.message));
	return bits.length ? h('p', { class: 'analysis-summary' }, bits) : null;
}

// {candidate: {metric: n}, production: {metric: n}} wherever it lives.
function metricSides(a) {
	const m = obj(a.metrics);
	const cand = obj(a.candidate_metrics) ?? obj(m && m.candidate) ??
	    obj(obj(a.candidate) && a.candidate.metrics) ?? {};
	const prod = obj(a.production_metrics) ?? obj(m && m.production) ??
	    obj(obj(a.production) && a.production.metrics) ?? {};
	return { cand, prod };
}

function modelLabel(side) {
	const o = obj(side);
	if (!o)
		return null;
	const name = o.name ?? o.model, v = o.version;
	if (name && v !== undefined)
		return h('a', { href: '#/models/' + api.seg(name) }, String(name),
		    ' v', String(v));
	return o.uri ? h('code', {}, String(o.uri)) : null;
}

function comparison(a) {
	const { cand, prod } = metricSides(a);
	const names = [...new Set([...Object.keys(cand), ...Object.keys(prod)])]
	    .sort();
	if (!names.length)
		return h('p', { class: 'muted' }, 'No evaluation metrics reported.');
	const num = v => typeof v === 'number' ? fmtNumber(v) : '—';
	return table(names, [
		['Metric', n => n],
		['Candidate', n => num(cand[n]), 'num'],
		['Production', n => num(prod[n]), 'num'],
		['Difference', n => {
			const c = cand[n], p = prod[n];
			if (typeof c !== 'number' || typeof p !== 'number')
				return '';
			const d = c - p;
			return h('span', { class: d > 0 ? 'up' : d < 0 ? 'down' :
			    '' }, (d > 0 ? '+' : '') + fmtNumber(d));
		}, 'num'],
	], { caption: 'Evaluation: candidate vs production' });
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

// The card.  opts: {canDecide, showRun, onDecided(approval)}.
export function approvalCard(a, { canDecide = false, showRun = true,
    onDecided = () => {} } = {}) {
	const id = String(a.id);
	const pid = idPart(id);
	const pending = (a.status ?? 'pending') === 'pending';
	const card = h('article', { class: ['card', 'approval',
	    pending ? 'pending' : 'decided'], id: 'approval-' + pid,
	    'aria-labelledby': 'approval-title-' + pid });
	const weight = a.weight ?? (obj(a.step) && a.step.weight);
	const steps = a.steps ?? a.total_steps ?? (obj(a.rollout) &&
	    a.rollout.steps) ?? (Array.isArray(a.canary_steps) ?
	    a.canary_steps.length || undefined : undefined);
	card.append(
	    h('header', { class: 'card-head' },
		h('h3', { id: 'approval-title-' + pid },
		    'Promote ', h('strong', {}, String(a.target ?? '?')),
		    ' to ', String(weight ?? '?'), '%'),
		badge(a.status ?? 'pending')),
	    dl([
		['Run', showRun && a.run !== undefined ? h('a', { href: '#/runs/' +
		    api.seg(a.run) }, '#' + a.run) : null],
		['Pipeline', a.pipeline ? h('a', { href: '#/pipelines/' +
		    api.seg(a.pipeline) }, String(a.pipeline)) : null],
		['Stage', a.stage ?? null],
		['Step', a.step !== undefined && !obj(a.step) ? String(a.step) +
		    (steps ? ' of ' + steps : '') : null],
		['Candidate', modelLabel(a.candidate) ?? (a.model_version ?
		    String(a.model_version) : null)],
		['In production', modelLabel(a.production)],
		['Requested', ago(a.requested_at)],
		['Expires', pending && a.expires_at ? ago(a.expires_at) : null],
	    ]),
	    h('h4', {}, 'Analysis'), analysis(a),
	    h('h4', {}, 'Metrics'), comparison(a));
	if (!pending) {
		card.append(h('p', { class: 'decision' },
		    a.status === 'expired' ? 'Expired ' :
		    [String(a.status ?? '').replace(/^./, c => c.toUpperCase()),
			' by ', h('strong', {}, String(a.decided_by ?? '?')), ' '],
		    ago(a.decided_at),
		    a.comment ? [': ', h('q', {}, String(a.comment))] : null));
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
				const res = await api.post('/api/v1/approvals/' +
				    api.seg(id) + '/' + verb,
				    { comment: comment.value.trim() });
				onDecided(res && res.id !== undefined ? res :
				    { ...a, status: verb === 'approve' ?
					'approved' : 'rejected' });
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
		    (a.status ?? 'pending') === 'pending'))) {
			out.push(old.el);
			continue;
		}
		const el = approvalCard(a, opts);
		cache.set(key, { sig, el, pending: (a.status ?? 'pending') ===
		    'pending' });
		out.push(el);
	}
	for (const k of [...cache.keys()])
		if (!keep.has(k))
			cache.delete(k);
	return out;
}
