// pages/models.js - the models (#/models) and one model's versions
// (#/models/NAME): which version is in production per target, and the
// lineage graph commit → run → model version → rollout of a version.
import * as api from '../api.js';
import * as sse from '../sse.js';
import { showLineage } from '../lineage.js';
import { h, replace, badge, ago, table, listOf, entries, fmtNumber,
    errorBox, debounce, keepFocus, append }
    from '../render.js';

function versionsOf(data) {
	const l = listOf(data, 'versions');
	return l.length ? l : listOf(data, 'model_versions');
}

const runOf = v => v.run ?? v.run_id;

// Production versions per target, from a model's summary or its versions.
function productionOf(m, versions) {
	const p = m && (m.production ?? m.production_versions);
	if (Array.isArray(p))
		return p.filter(Boolean).map(x => ({ target: x.target,
		    version: x.version ?? x }));
	if (p && typeof p === 'object')
		return entries(p).map(([target, v]) => ({ target,
		    version: v && typeof v === 'object' ? v.version : v }));
	return (versions || []).filter(v => v.status === 'production')
	    .map(v => ({ target: v.target, version: v.version }));
}

function mountList(ctx) {
	ctx.title('Models');
	const box = h('div', {});
	append(ctx.el, h('div', { class: 'page-head' }, h('h1', {}, 'Models')),
	    box);
	let abort = null;
	async function load() {
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		try {
			const data = await api.get('/api/v1/models?limit=200',
			    { signal: ac.signal });
			replace(box, table(listOf(data, 'models'), [
				['Model', m => h('a', { href: '#/models/' +
				    api.seg(m.name) }, String(m.name ?? ''))],
				['Versions', m => String(m.versions_count ??
				    m.version_count ?? (Array.isArray(m.versions) ?
				    m.versions.length : m.versions ?? '')), 'num'],
				['Latest', m => {
					const l = m.latest_version ?? m.latest;
					return l === undefined || l === null ? '' :
					    'v' + (typeof l === 'object' ? l.version : l);
				}, 'num'],
				['In production', m => {
					const p = productionOf(m, Array.isArray(m.versions) ?
					    m.versions : []);
					return p.length ? h('ul', { class: 'plain' },
					    p.map(x => h('li', {}, String(x.target ?? '?'),
						': v', String(x.version ?? '?')))) :
					    h('span', { class: 'muted' }, 'none');
				}],
				['Updated', m => ago(m.updated_at ?? m.created_at),
				    'wide-only'],
			], { caption: 'Models', empty: 'No model registered yet. A ' +
			    'stage that reports "::artifact model=URI" registers one.' }));
		} catch (e) {
			if (e.name !== 'AbortError')
				replace(box, errorBox(e));
		}
	}
	const refresh = debounce(load, 1000);
	const offs = [sse.on('run', refresh), sse.on('open', refresh)];
	load();
	return {
		update(next) {
			return !next.params.name && (load(), true);
		},
		unmount() {
			refresh.cancel();
			offs.forEach(off => off());
			if (abort)
				abort.abort();
		},
	};
}

function mountOne(ctx) {
	const name = ctx.params.name;
	ctx.title('Model ' + name);
	const prodBox = h('div', {});
	const box = h('div', {});
	const lineageTitle = h('h2', { id: 'h-lineage' }, 'Lineage');
	const lineageBox = h('div', { class: 'graph-box' });
	append(ctx.el, h('div', { class: 'page-head' }, h('h1', {}, name)),
	    h('section', { 'aria-labelledby': 'h-prod' },
		h('h2', { id: 'h-prod' }, 'In production'), prodBox),
	    h('section', { 'aria-labelledby': 'h-versions' },
		h('h2', { id: 'h-versions' }, 'Versions'), box),
	    h('section', { 'aria-labelledby': 'h-lineage' }, lineageTitle,
		lineageBox));
	let abort = null, shown = null;
	const life = new AbortController();

	function lineage(v) {
		const run = runOf(v);
		shown = String(v.version);
		lineageTitle.textContent = 'Lineage of ' + name + ' v' + v.version;
		if (run === undefined || run === null) {
			replace(lineageBox, h('p', { class: 'muted' },
			    'This version has no run recorded.'));
			return;
		}
		replace(lineageBox, h('p', { class: 'muted' }, 'Loading…'));
		showLineage(lineageBox, run, { signal: life.signal });
	}

	async function load() {
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		let versions;
		try {
			versions = versionsOf(await api.get('/api/v1/models/' +
			    api.seg(name) + '/versions?limit=100',
			    { signal: ac.signal }));
		} catch (e) {
			if (e.name !== 'AbortError')
				replace(box, errorBox(e.status === 404 ?
				    new Error('There is no model called ' + name + '.') :
				    e));
			return;
		}
		versions.sort((a, b) => Number(b.version) - Number(a.version));
		const prod = productionOf(null, versions);
		replace(prodBox, prod.length ? h('ul', { class: 'plain prod' },
		    prod.map(p => h('li', {}, h('strong', {}, String(p.target ?? '?')),
			': version ', String(p.version)))) :
		    h('p', { class: 'muted' }, 'No version of ' + name +
			' is in production.'));
		keepFocus(() => replace(box, table(versions, [
			['Version', v => 'v' + String(v.version ?? '')],
			['Status', v => badge(v.status)],
			['Target', v => String(v.target ?? '')],
			['Run', v => runOf(v) !== undefined && runOf(v) !== null ?
			    h('a', { href: '#/runs/' + api.seg(runOf(v)) }, '#' +
			    runOf(v)) : ''],
			['Metrics', v => h('ul', { class: 'chips' },
			    entries(v.metrics).map(([k, x]) => h('li', {},
				h('code', {}, k + '=' + fmtNumber(x))))),
			    'wide-only'],
			['URI', v => h('code', { class: 'uri' }, String(v.uri ?? '')),
			    'wide-only'],
			['Registered', v => ago(v.created_at)],
			['Lineage', v => h('button', { type: 'button',
			    class: 'btn btn-small', id: 'lineage-v' +
			    String(v.version).replace(/[^0-9]/g, ''),
			    'aria-pressed': shown === String(v.version) ? 'true' :
			    'false', onclick: () => {
				lineage(v);
				load();
			    } }, 'Show')],
		], { caption: 'Versions of ' + name,
		    empty: 'No versions of ' + name + '.' })));
		if (shown === null && versions.length) {
			const first = versions.find(v => v.status === 'production') ??
			    versions[0];
			lineage(first);
		}
	}
	const refresh = debounce(load, 1000);
	const offs = [sse.on('run', refresh), sse.on('open', refresh)];
	load();
	return {
		update() {
			return false;
		},
		unmount() {
			life.abort();
			refresh.cancel();
			offs.forEach(off => off());
			if (abort)
				abort.abort();
		},
	};
}

export function mount(ctx) {
	return ctx.params.name ? mountOne(ctx) : mountList(ctx);
}
