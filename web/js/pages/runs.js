// pages/runs.js - the runs, newest first: filters by pipeline and status,
// keyset paging (next_cursor), live over SSE (a change refetches the page
// on screen).
import * as api from '../api.js';
import { live } from '../live.js';
import { h, replace, badge, statusText, statusClass, ago, duration, table,
    shortSha, firstLine, errorBox, append }
    from '../render.js';

export const STATUSES = ['queued', 'running', 'waiting_approval', 'succeeded',
    'failed', 'canceled'];
const LIMIT = 25;

export function runLink(id) {
	return h('a', { href: '#/runs/' + api.seg(id), class: 'run-link' },
	    '#' + id);
}

// A run's stages as a row of small status marks, in order.
function stageDots(stages) {
	if (!stages.length)
		return '';
	const label = stages.map(s => s.name + ' ' + statusText(s.status))
	    .join(', ');
	return h('span', { class: 'dots', role: 'img', 'aria-label': label,
	    title: label }, stages.map(s => h('span', { class: ['dot',
	    statusClass(s.status)] })));
}

// The rows of a run list (runs page, a pipeline's recent runs).
export function runsTable(runs, { showPipeline = true, fresh } = {}) {
	return table(runs, [
		['Run', r => runLink(r.id)],
		showPipeline ? ['Pipeline', r => h('a', { href: '#/pipelines/' +
		    api.seg(r.pipeline) }, r.pipeline)] : null,
		['Status', r => badge(r.status)],
		['Stages', r => stageDots(r.stages), 'wide-only'],
		['Commit', r => h('span', { class: 'commit' },
		    h('code', {}, shortSha(r.commit.sha)),
		    r.commit.message ? h('span', { class: 'commit-msg' },
			' ', firstLine(r.commit.message)) : null), 'wide-only'],
		['Branch', r => r.branch ?? '', 'wide-only'],
		['Trigger', r => r.trigger ?? '', 'wide-only'],
		['Created', r => ago(r.created_at)],
		['Duration', r => duration(r.started_at, r.finished_at)],
	].filter(Boolean), {
		empty: 'No runs here yet. A push that touches a pipeline ' +
		    'starts one, and so does Start run on a pipeline page.',
		rowClass: r => fresh && fresh.has(String(r.id)) ? 'fresh' : null,
		caption: 'Runs',
	});
}

export function mount(ctx) {
	ctx.title('Runs');
	let q = readQuery(ctx.query);
	let prev = [];			// cursors of the pages before this one
	let seen = null;		// run ids shown before (to mark new ones)

	const pipelineSel = h('select', { id: 'f-pipeline', name: 'pipeline' },
	    h('option', { value: '' }, 'All pipelines'));
	const statusSel = h('select', { id: 'f-status', name: 'status' },
	    h('option', { value: '' }, 'Any status'),
	    STATUSES.map(st => h('option', { value: st },
		st.replace(/_/g, ' '))));
	const list = h('div', { class: 'list', 'aria-live': 'off' });
	const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of runs' });
	const form = h('form', { class: 'filters', role: 'search',
	    'aria-label': 'Filter runs' },
	    h('div', { class: 'field' },
		h('label', { for: 'f-pipeline' }, 'Pipeline'), pipelineSel),
	    h('div', { class: 'field' },
		h('label', { for: 'f-status' }, 'Status'), statusSel));
	form.addEventListener('submit', e => e.preventDefault());
	const onFilter = () => {
		prev = [];
		go({ pipeline: pipelineSel.value, status: statusSel.value,
		    cursor: '' });
	};
	pipelineSel.addEventListener('change', onFilter);
	statusSel.addEventListener('change', onFilter);

	append(ctx.el, h('div', { class: 'page-head' }, h('h1', {}, 'Runs')),
	    form, list, pager);

	function readQuery(query) {
		return {
			pipeline: query.get('pipeline') || '',
			status: query.get('status') || '',
			cursor: query.get('cursor') || '',
		};
	}

	function go(next) {
		ctx.navigate(api.withQuery('#/runs', next), { replace: true });
	}

	function syncForm() {
		if (q.pipeline && ![...pipelineSel.options].some(o =>
		    o.value === q.pipeline))
			pipelineSel.append(h('option', { value: q.pipeline },
			    q.pipeline));
		pipelineSel.value = q.pipeline;
		statusSel.value = STATUSES.includes(q.status) ? q.status : '';
	}

	async function loadPipelines() {
		try {
			const data = await api.get('/api/v1/pipelines?limit=200',
			    { signal: life.signal });
			const names = [...new Set(data.pipelines.map(p => p.name))]
			    .sort();
			for (const n of names)
				if (![...pipelineSel.options].some(o => o.value === n))
					pipelineSel.append(h('option', { value: n }, n));
			syncForm();
		} catch {
			// the filter still works with the pipeline typed in the URL
		}
	}

	async function load(signal) {
		const data = await api.get(api.withQuery('/api/v1/runs', {
		    pipeline: q.pipeline, status: q.status, limit: LIMIT,
		    cursor: q.cursor }), { signal });
		if (signal.aborted)
			return;
		const runs = data.runs;
		const ids = new Set(runs.map(r => String(r.id)));
		const fresh = new Set();
		if (seen)
			for (const id of ids)
				if (!seen.has(id))
					fresh.add(id);
		seen = ids;
		replace(list, runsTable(runs, { fresh }));
		renderPager(data.next_cursor);
	}

	function renderPager(next) {
		const items = [];
		if (q.cursor && prev.length) {
			items.push(h('button', { type: 'button', class: 'btn',
			    onclick: () => go({ ...q, cursor: prev.pop() }) },
			    'Newer'));
		} else if (q.cursor) {
			items.push(h('a', { href: api.withQuery('#/runs', {
			    pipeline: q.pipeline, status: q.status }),
			    class: 'btn' }, 'Newest'));
		}
		if (next) {
			items.push(h('button', { type: 'button', class: 'btn',
			    onclick: () => {
				prev.push(q.cursor);
				go({ ...q, cursor: String(next) });
			} }, 'Older'));
		}
		replace(pager, items);
	}

	const life = live(load, { events: ['run'], wait: 400,
	    fail: e => replace(list, errorBox(e)) });
	syncForm();
	loadPipelines();
	life.now();

	return {
		update(next) {
			const nq = readQuery(next.query);
			if (nq.cursor === '')
				prev = [];
			q = nq;
			seen = null;
			syncForm();
			life.now();
			return true;
		},
		unmount: life.stop,
	};
}
