// pages/models.js - the models (#/models) and one model's versions
// (#/models/NAME): which version is in production per target, and the
// lineage graph commit → run → model version → rollout of a version.
import * as api from '../api.js';
import { live, listPage } from '../live.js';
import { showLineage } from '../lineage.js';
import { h, replace, badge, ago, table, entries, fmtNumber,
    errorBox, keepFocus, append }
    from '../render.js';

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
	const lineageTitle = h('h2', { id: 'h-lineage' }, 'Lineage');
	const lineageBox = h('div', { class: 'graph-box' });
	append(ctx.el, h('div', { class: 'page-head' }, h('h1', {}, name)),
	    h('section', { 'aria-labelledby': 'h-prod' },
		h('h2', { id: 'h-prod' }, 'In production'), prodBox),
	    h('section', { 'aria-labelledby': 'h-versions' },
		h('h2', { id: 'h-versions' }, 'Versions'), box),
	    h('section', { 'aria-labelledby': 'h-lineage' }, lineageTitle,
		lineageBox));
	let shown = null;

	function lineage(v) {
		shown = String(v.version);
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
		}
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
