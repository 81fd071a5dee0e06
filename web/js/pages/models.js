// pages/models.js - the models (#/models) and one model's versions
// (#/models/NAME): which version is in production per target, the
// production history of each target as a timeline (and what served it
// at a given instant), each version's verdict and the metrics its gates
// judged against production's, promotion and rollback by hand for
// approvers, and the lineage graph commit → run → model version →
// rollout of a version.
import * as api from '../api.js';
import { live, listPage } from '../live.js';
import { showLineage } from '../lineage.js';
import { h, replace, badge, ago, table, entries, fmtNumber, fmtDate,
    errorBox, keepFocus, append, idPart, metricsComparison }
    from '../render.js';

// One entry of a target's production history, as a timeline item.
function historyItem(e) {
	return h('li', { class: 'timeline-item' },
	    h('time', { datetime: e.changed_at, title: fmtDate(e.changed_at) },
		ago(e.changed_at)), ' ',
	    h('strong', {}, e.model + ' v' + e.version), ' ',
	    badge(e.source), ' ',
	    e.previous ? h('span', { class: 'muted' }, 'after v' +
		e.previous.version + ' ') : null,
	    'by ', h('strong', {}, e.actor),
	    e.run ? [' (run ', h('a', { href: '#/runs/' + api.seg(e.run) },
		'#' + e.run), ')'] : null,
	    e.reason ? [': ', h('q', {}, e.reason)] : null,
	    e.traffic ? trafficLine(e.traffic) : null);
}

// The traffic that follows a change by hand: "Traffic (kserve fraud):
// pending — inferenceservice fraud not ready: ...".
function trafficLine(t) {
	return h('div', { class: 'traffic-follow' }, 'Traffic (' + t.provider +
	    ' ' + t.object + '): ', badge(t.state),
	    t.message ? [' — ', h('span', { class: 'traffic-message' },
		t.message)] : null);
}

// "What served TARGET at": a time field and the answer.
function atForm(target) {
	const id = 'at-' + idPart(target);
	const input = h('input', { type: 'datetime-local', id, step: 1,
	    name: 'at' });
	const out = h('div', { class: 'at-answer', role: 'status' });
	const ask = h('button', { type: 'button', class: 'btn btn-small' },
	    'Show');
	ask.addEventListener('click', async () => {
		if (!input.value) {
			replace(out, h('p', { class: 'muted' }, 'Pick a time first.'));
			return;
		}
		const at = new Date(input.value).toISOString();
		try {
			const r = await api.get(api.withQuery('/api/v1/targets/' +
			    api.seg(target) + '/history', { at }));
			replace(out, h('p', {}, 'At ' + fmtDate(r.at) + ': ',
			    h('strong', {}, r.entry.model + ' v' + r.entry.version),
			    ' (since ' + fmtDate(r.entry.changed_at) + ', by ' +
			    r.entry.actor + ')'));
		} catch (e) {
			replace(out, errorBox(e));
		}
	});
	return h('div', { class: 'at-form' }, h('label', { for: id },
	    'What served ' + target + ' at'), input, ask, out);
}

// An approver's promote / rollback form for the model on target; status
// is the box its outcome is written to, kept by the caller so the outcome
// stays when the form is built again for the versions the change moved.
function manualForm(name, versions, target, status, done) {
	const pid = idPart(target);
	const choices = versions.filter(v => v.status === 'registered' ||
	    v.status === 'retired');
	const pick = h('select', { id: 'promote-v-' + pid, name: 'version' },
	    choices.length ? choices.map(v => h('option', { value:
		String(v.version) }, 'v' + v.version + ' (' + v.status + ')')) :
		h('option', { value: '' }, 'no registered or retired version'));
	const comment = h('input', { type: 'text', id: 'manual-comment-' + pid,
	    maxlength: 1000, name: 'comment' });
	const act = async (path, btns) => {
		btns.forEach(b => { b.disabled = true; });
		status.replaceChildren();
		try {
			const e = await api.post(path, { target,
			    comment: comment.value.trim() || null });
			replace(status, h('p', { class: 'notice' }, target +
			    ' now serves v' + e.version + '.', e.traffic ?
			    ' The controller moves its traffic (' +
			    e.traffic.provider + ' ' + e.traffic.object +
			    '); the timeline shows when it is done.' : ''));
			comment.value = '';
			done();
		} catch (err) {
			status.replaceChildren(errorBox(err));
		}
		btns.forEach(b => { b.disabled = false; });
	};
	const promote = h('button', { type: 'button', class: 'btn-primary',
	    id: 'promote-' + pid }, 'Promote');
	const rollback = h('button', { type: 'button', class: 'btn-danger',
	    id: 'rollback-' + pid }, 'Roll back');
	promote.addEventListener('click', () => act('/api/v1/models/' +
	    api.seg(name) + '/versions/' + api.seg(pick.value) + '/promote',
	    [promote, rollback]));
	rollback.addEventListener('click', () => act('/api/v1/models/' +
	    api.seg(name) + '/rollback', [promote, rollback]));
	if (!choices.length)
		promote.disabled = true;
	return h('div', { class: 'decide manual' },
	    h('h4', {}, 'By hand (not while a rollout holds ' + target + ')'),
	    h('label', { for: 'promote-v-' + pid }, 'Version'), pick,
	    h('label', { for: 'manual-comment-' + pid }, 'Comment'), comment,
	    h('div', { class: 'actions' }, promote, rollback), status);
}

// "TARGET: vN" of each production version ({target: version}).
function productionList(production) {
	const p = entries(production);
	return p.length ? h('ul', { class: 'plain' }, p.map(([target, v]) =>
	    h('li', {}, target, ': v', String(v)))) :
	    h('span', { class: 'muted' }, 'none');
}

function mountList(ctx) {
	return listPage(ctx, 'Models', async (box, signal) => {
		const data = await api.get('/api/v1/models?limit=200', { signal });
		if (signal.aborted)
			return;
		replace(box, table(data.models, [
			['Model', m => h('a', { href: '#/models/' +
			    api.seg(m.name) }, m.name)],
			['Versions', m => String(m.versions), 'num'],
			['Latest', m => m.latest ? 'v' + m.latest.version : '',
			    'num'],
			['In production', m => productionList(m.production)],
			['Updated', m => ago(m.latest && m.latest.created_at),
			    'wide-only'],
		], { caption: 'Models', empty: 'No model registered yet. A ' +
		    'stage that reports "::artifact model=URI" registers one.' }));
	});
}

function mountOne(ctx) {
	const name = ctx.params.name;
	ctx.title('Model ' + name);
	const prodBox = h('div', {});
	const box = h('div', {});
	const histBox = h('div', {});
	const cmpBox = h('div', {});
	const canAct = ctx.can('approver');
	const forms = new Map();	// target → {at, manual}, kept across loads
	const lineageTitle = h('h2', { id: 'h-lineage' }, 'Lineage');
	const lineageBox = h('div', { class: 'graph-box' });
	append(ctx.el, h('div', { class: 'page-head' }, h('h1', {}, name)),
	    h('section', { 'aria-labelledby': 'h-prod' },
		h('h2', { id: 'h-prod' }, 'In production'), prodBox),
	    h('section', { 'aria-labelledby': 'h-history' },
		h('h2', { id: 'h-history' }, 'Production history'), histBox),
	    h('section', { 'aria-labelledby': 'h-versions' },
		h('h2', { id: 'h-versions' }, 'Versions'), box),
	    h('section', { 'aria-labelledby': 'h-compare' },
		h('h2', { id: 'h-compare' }, 'Gate metrics against production'),
		cmpBox),
	    h('section', { 'aria-labelledby': 'h-lineage' }, lineageTitle,
		lineageBox));
	let shown = null;

	// The metrics v's gates judged next to those of production's.
	function compare(v) {
		const p = v.production;
		replace(cmpBox, v.status === 'production' ? h('p',
		    { class: 'muted' }, 'v' + v.version + ' is in production on ' +
		    v.target + '.') : metricsComparison(v.gate_metrics,
		    p ? p.gate_metrics : null, {
			caption: 'v' + v.version + (p ? ' vs v' + p.version +
			    ' in production on ' + p.target : ''),
			candidate: 'v' + v.version,
			production: p ? 'v' + p.version : 'Production',
			empty: 'Neither v' + v.version + ' nor production has ' +
			    'gate metrics.' }));
	}

	// The timeline of each target the versions name.
	async function history(versions, signal) {
		const targets = [...new Set(versions.map(v => v.target)
		    .filter(t => t))].sort();
		const parts = [];
		for (const t of targets) {
			const r = await api.get('/api/v1/targets/' + api.seg(t) +
			    '/history?limit=50', { signal });
			if (signal.aborted)
				return;
			if (!forms.has(t))
				forms.set(t, { at: atForm(t), manual: null, sig: '',
				    status: h('div', { class: 'form-status' }) });
			const f = forms.get(t);
			// the form stays (and what is typed in it) while the
			// versions it offers stay the same
			const sig = versions.map(v => v.version + v.status).join();
			if (canAct && sig !== f.sig) {
				f.manual = manualForm(name, versions, t,
				    f.status, () => life.now());
				f.sig = sig;
			}
			parts.push(h('div', { class: 'target-history',
			    id: 'history-' + idPart(t) },
			    h('h3', {}, t),
			    r.history.length ? h('ol', { class: 'timeline' },
				r.history.map(historyItem)) :
				h('p', { class: 'muted' }, 'Nothing has been in ' +
				    'production on ' + t + ' yet.'),
			    f.at, f.manual));
		}
		keepFocus(() => replace(histBox, parts.length ? parts :
		    h('p', { class: 'muted' }, 'No version of ' + name +
			' has been rolled out yet.')));
	}

	function lineage(v) {
		shown = String(v.version);
		compare(v);
		lineageTitle.textContent = 'Lineage of ' + name + ' v' + v.version;
		replace(lineageBox, h('p', { class: 'muted' }, 'Loading…'));
		showLineage(lineageBox, v.run, { signal: life.signal });
	}

	async function load(signal) {
		const data = await api.get('/api/v1/models/' + api.seg(name) +
		    '/versions?limit=100', { signal });
		if (signal.aborted)
			return;
		const versions = data.versions;
		const prod = versions.filter(v => v.status === 'production');
		replace(prodBox, prod.length ? h('ul', { class: 'plain prod' },
		    prod.map(p => h('li', {}, h('strong', {}, p.target),
			': version ', String(p.version)))) :
		    h('p', { class: 'muted' }, 'No version of ' + name +
			' is in production.'));
		keepFocus(() => replace(box, table(versions, [
			['Version', v => 'v' + v.version],
			['Status', v => badge(v.status)],
			['Target', v => v.target ?? ''],
			['Verdict', v => v.rejected_reason ? h('span',
			    { class: 'verdict' }, v.rejected_reason) : ''],
			['Run', v => h('a', { href: '#/runs/' + api.seg(v.run) },
			    '#' + v.run)],
			['Metrics', v => h('ul', { class: 'chips' },
			    entries(v.metrics).map(([k, x]) => h('li', {},
				h('code', {}, k + '=' + fmtNumber(x))))),
			    'wide-only'],
			['URI', v => h('code', { class: 'uri' }, v.uri), 'wide-only'],
			['Registered', v => ago(v.created_at)],
			['Lineage', v => h('button', { type: 'button',
			    class: 'btn btn-small', id: 'lineage-v' +
			    String(v.version).replace(/[^0-9]/g, ''),
			    'aria-pressed': shown === String(v.version) ? 'true' :
			    'false', onclick: () => {
				lineage(v);
				life.now();
			    } }, 'Show')],
		], { caption: 'Versions of ' + name,
		    empty: 'No versions of ' + name + '.' })));
		if (shown === null && versions.length) {
			/* ?version=N (the search box) picks the version shown */
			const want = ctx.query.get('version');
			const first = versions.find(v => String(v.version) === want) ??
			    versions.find(v => v.status === 'production') ??
			    versions[0];
			lineage(first);
		} else if (shown !== null) {
			const v = versions.find(x => String(x.version) === shown);
			if (v)
				compare(v);
		}
		await history(versions, signal);
	}
	const life = live(load, { events: ['run'], wait: 1000,
	    fail: e => replace(box, errorBox(e.status === 404 ?
		new Error('There is no model called ' + name + '.') : e)) });
	life.now();
	return {
		update() {
			return false;
		},
		unmount: life.stop,
	};
}

export function mount(ctx) {
	return ctx.params.name ? mountOne(ctx) : mountList(ctx);
}
