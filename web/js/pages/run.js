// pages/run.js - one run: stage graph, stages with attempts, why a stage
// waits, a live log tail, metrics with trends across the pipeline's
// recent runs, artifacts and model versions, approvals, the commit, the
// lineage; cancel and retry for operators.  SSE events about this run
// refetch it (debounced); nothing is patched from event payloads.
import * as api from '../api.js';
import * as sse from '../sse.js';
import { graph } from '../dag.js';
import { sparkline, history, HISTORY_RUNS } from '../chart.js';
import { keyedCards } from '../approvalcard.js';
import { showLineage } from '../lineage.js';
import { h, replace, badge, ago, duration, table, dl, entries, commitOf,
    shortSha, firstLine, fmtNumber, statusText, statusClass, errorBox,
    debounce, idPart, listOf, fmtDuration, parseTime, keepFocus }
    from '../render.js';

const ACTIVE = new Set(['queued', 'running', 'waiting_approval']);
const STAGE_ACTIVE = new Set(['submitted', 'running', 'waiting_approval']);
const STAGE_DONE = new Set(['succeeded', 'failed', 'canceled', 'skipped']);
const LOG_CAP = 512 * 1024;	// characters kept in the log view

const stageId = name => 'stage-' + idPart(name);

// Why a stage is not running yet, for people.
function waitingText(st, stages) {
	const reason = st.waiting_reason;
	if (reason) {
		const r = String(reason);
		const known = {
			gpu: 'GPU capacity: waiting for free GPUs',
			gpu_capacity: 'GPU capacity: waiting for free GPUs',
			queue: 'Queued: waiting for its turn in the queue',
			concurrency: 'Waiting for other runs of this pipeline',
			approval: 'Waiting for approval',
			capacity: 'Waiting for a free stage slot',
		};
		return known[r] || r;
	}
	if (st.status === 'waiting_approval')
		return 'Waiting for approval';
	if (st.status === 'pending') {
		const needs = Array.isArray(st.needs) ? st.needs : [];
		const open = needs.filter(n => {
			const dep = stages.find(x => x.name === n);
			return !dep || !STAGE_DONE.has(dep.status);
		});
		if (open.length)
			return 'Waiting for ' + open.join(', ');
	}
	return null;
}

function attemptsOf(st) {
	return Array.isArray(st.attempts) ? st.attempts : [];
}

// ---- the log view -------------------------------------------------------

class LogView {
	constructor(runId) {
		this.runId = runId;
		this.stage = null;
		this.abort = null;
		this.streaming = false;
		this.sig = '';
		this.which = '';
		this.title = h('h2', { id: 'log-title' }, 'Log');
		this.state = h('span', { class: 'log-state', role: 'status' });
		this.text = document.createTextNode('');
		this.pre = h('pre', { class: 'log', id: 'log-text', tabindex: 0,
		    'aria-labelledby': 'log-title' }, this.text);
		this.close = h('button', { type: 'button', class: 'btn-quiet',
		    id: 'log-close' }, 'Close log');
		this.el = h('section', { class: 'log-panel card', id: 'log-panel',
		    'aria-labelledby': 'log-title', hidden: true },
		    h('div', { class: 'card-head' }, this.title, this.state,
			this.close),
		    this.pre);
	}

	// Show stage st's log; follow it while the stage is active.
	open(st) {
		const sig = st.status + ':' + attemptsOf(st).length;
		if (this.stage === st.name && (this.streaming || this.sig === sig))
			return;
		this.stop();
		this.stage = st.name;
		this.sig = sig;
		this.el.hidden = false;
		this.title.textContent = 'Log of ' + st.name;
		this.text.data = '';
		this.load(st, !STAGE_DONE.has(st.status));
	}

	// A new state of the shown stage: reopen when it moved on.
	refresh(st) {
		if (this.stage === st.name && !this.streaming &&
		    this.sig !== st.status + ':' + attemptsOf(st).length)
			this.open(st);
	}

	stop() {
		if (this.abort)
			this.abort.abort();
		this.abort = null;
		this.streaming = false;
	}

	hide() {
		this.stop();
		this.stage = null;
		this.el.hidden = true;
	}

	append(chunk) {
		const pre = this.pre;
		const atEnd = pre.scrollTop + pre.clientHeight >=
		    pre.scrollHeight - 24;
		this.text.appendData(chunk);
		if (this.text.length > LOG_CAP) {
			const cut = this.text.data.indexOf('\n',
			    this.text.length - LOG_CAP * 0.75);
			this.text.deleteData(0, cut < 0 ? this.text.length -
			    LOG_CAP * 0.75 : cut + 1);
			this.text.insertData(0, '[… earlier lines not shown]\n');
		}
		if (atEnd)
			pre.scrollTop = pre.scrollHeight;
	}

	async load(st, follow) {
		const ac = this.abort = new AbortController();
		const path = '/api/v1/runs/' + api.seg(this.runId) + '/stages/' +
		    api.seg(st.name) + '/logs' + (follow ? '?follow=1' : '');
		this.state.textContent = follow ? 'Following…' : 'Loading…';
		this.streaming = true;
		try {
			const res = await api.request('GET', path, undefined,
			    { signal: ac.signal, raw: true });
			const reader = res.body.getReader();
			const dec = new TextDecoder();
			const which = [res.headers.get('X-Sluice-Attempt') ? 'attempt ' +
			    res.headers.get('X-Sluice-Attempt') : '',
			    res.headers.get('X-Sluice-Job') || ''].filter(Boolean)
			    .join(', ');
			this.which = which ? ' (' + which + ')' : '';
			this.state.textContent = (!follow ? '' : st.status ===
			    'pending' && !attemptsOf(st).length ?
			    'Waiting for the stage to start' : 'Following') +
			    this.which;
			for (;;) {
				const { done, value } = await reader.read();
				if (done)
					break;
				this.append(dec.decode(value, { stream: true }));
			}
			this.append(dec.decode());
			if (ac === this.abort)
				this.state.textContent = (this.text.length ?
				    'End of log' : 'The log is empty') + this.which;
		} catch (e) {
			if (e.name === 'AbortError' || ac !== this.abort)
				return;
			this.state.textContent = e.status !== 404 ?
			    'Cannot read the log: ' + e.message :
			    STAGE_DONE.has(st.status) ? 'No log: the stage did not run' :
			    'No log yet: the stage has not started';
		} finally {
			if (ac === this.abort)
				this.streaming = false;
		}
	}
}

// ---- the page -----------------------------------------------------------

export function mount(ctx) {
	const id = ctx.params.id;
	let selected = ctx.params.stage || null;
	let run = null, abort = null, confirming = false, lastStatus = null;
	let trends = null;		// Map "stage.metric" → points of other runs
	let trendsFor = null;
	const approvalCache = new Map();
	const inboxCache = new Map();	// "id:status:run status" → inbox's
	const life = new AbortController();
	const canOperate = ctx.can('operator');

	ctx.title('Run #' + id);
	const head = h('div', { class: 'page-head' });
	const actions = h('div', { class: 'actions', id: 'run-actions' });
	const actionStatus = h('div', { class: 'form-status' });
	const summary = h('div', { class: 'summary' });
	const graphBox = h('div', { class: 'graph-box' });
	const stageList = h('div', { class: 'stages' });
	const log = new LogView(id);
	const approvalsSec = h('section', { 'aria-labelledby': 'h-approvals',
	    hidden: true }, h('h2', { id: 'h-approvals' }, 'Approvals'));
	const approvalsBox = h('div', { class: 'cards' });
	approvalsSec.append(approvalsBox);
	const modelsSec = h('section', { 'aria-labelledby': 'h-models',
	    hidden: true });
	const lineageBox = h('div', { class: 'graph-box' },
	    h('p', { class: 'muted' }, 'Loading lineage…'));
	const body = h('div', { class: 'run-page' },
	    head, actionStatus, summary,
	    h('section', { 'aria-labelledby': 'h-stages' },
		h('h2', { id: 'h-stages' }, 'Stages'), graphBox, stageList),
	    approvalsSec, modelsSec,
	    h('section', { 'aria-labelledby': 'h-lineage' },
		h('h2', { id: 'h-lineage' }, 'Lineage'), lineageBox));
	ctx.el.append(body);
	log.close.addEventListener('click', () =>
	    ctx.navigate('#/runs/' + api.seg(id)));

	// -- header and actions

	function renderHead() {
		replace(head,
		    h('h1', {}, 'Run #', String(run.id ?? id), ' ',
			h('span', { class: 'muted' }, String(run.pipeline ?? ''))),
		    badge(run.status), actions);
		const items = [];
		if (canOperate && ACTIVE.has(run.status)) {
			if (!confirming) {
				items.push(h('button', { type: 'button', class: 'btn',
				    id: 'cancel-run', onclick: () => {
					confirming = true;
					renderHead();
					document.getElementById('cancel-confirm')
					    ?.focus();
				} }, 'Cancel run'));
			} else {
				items.push(h('span', { class: 'confirm-text' },
				    'Cancel run #' + id + '?'),
				h('button', { type: 'button', class: 'btn-danger',
				    id: 'cancel-confirm', onclick: () =>
				    act('cancel') }, 'Yes, cancel it'),
				h('button', { type: 'button', class: 'btn',
				    id: 'cancel-keep', onclick: () => {
					confirming = false;
					renderHead();
					document.getElementById('cancel-run')
					    ?.focus();
				} }, 'Keep it running'));
			}
		}
		if (canOperate && (run.status === 'failed' ||
		    run.status === 'canceled'))
			items.push(h('button', { type: 'button', class: 'btn',
			    id: 'retry-run', onclick: () => act('retry') },
			    'Retry run'));
		replace(actions, items);
	}

	async function act(verb) {
		confirming = false;
		for (const b of actions.querySelectorAll('button'))
			b.disabled = true;
		replace(actionStatus);
		try {
			const res = await api.post('/api/v1/runs/' + api.seg(id) +
			    '/' + verb, {});
			if (verb === 'retry' && res && res.id !== undefined &&
			    String(res.id) !== String(id)) {
				ctx.toast('Started run #' + res.id + ', a retry of #' +
				    id + '.');
				ctx.navigate('#/runs/' + api.seg(res.id));
				return;
			}
			ctx.toast(verb === 'cancel' ? 'Canceling run #' + id + '…' :
			    'Retrying run #' + id + '…');
			await load();
		} catch (e) {
			replace(actionStatus, errorBox(e));
			renderHead();
		}
	}

	// -- summary

	function renderSummary() {
		const c = commitOf(run);
		const params = entries(run.params);
		replace(summary, dl([
			['Pipeline', h('a', { href: '#/pipelines/' +
			    api.seg(run.pipeline) }, String(run.pipeline ?? ''))],
			['Commit', c.sha ? h('span', { class: 'commit', id:
			    'run-commit' }, h('code', { title: c.sha },
			    shortSha(c.sha)),
			    c.message ? [' ', h('span', { class: 'commit-msg' },
				firstLine(c.message))] : null,
			    c.author ? [' ', h('span', { class: 'muted' }, 'by ',
				c.author)] : null) : null],
			['Branch', run.branch ?? null],
			['Trigger', run.trigger ? [String(run.trigger),
			    run.parent_run !== null && run.parent_run !== undefined ?
			    [' of ', h('a', { href: '#/runs/' +
				api.seg(run.parent_run) }, '#' + run.parent_run)] :
			    null] : null],
			['Retried as', Array.isArray(run.retries) && run.retries.length ?
			    run.retries.map((r, i) => [i ? ', ' : '', h('a',
				{ href: '#/runs/' + api.seg(r) }, '#' + r)]) : null],
			['Started by', run.created_by ?? null],
			['Cancel requested', run.cancel_requested_at && !run.finished_at ?
			    [ago(run.cancel_requested_at), run.cancel_requested_by ?
				' by ' + run.cancel_requested_by : ''] : null],
			['Reason', run.reason ?? null],
			['Params', params.length ? h('ul', { class: 'chips' },
			    params.map(([k, v]) => h('li', {}, h('code', {},
				k + '=' + (typeof v === 'string' ? v :
				JSON.stringify(v)))))) : null],
			['Created', ago(run.created_at)],
			['Started', run.started_at ? ago(run.started_at) : null],
			['Finished', run.finished_at ? ago(run.finished_at) : null],
			['Duration', run.started_at ? duration(run.started_at,
			    run.finished_at) : null],
			['Message', run.message ?? null],
		]),
		c.message.trim().includes('\n') ? h('details',
		    { class: 'commit-full' }, h('summary', {},
			'Full commit message'), h('pre', {}, c.message.trim())) :
		    null);
	}

	// -- stages

	function stageDuration(st) {
		const at = attemptsOf(st);
		const start = st.started_at ?? (at[0] && at[0].started_at);
		const end = st.finished_at ?? (STAGE_DONE.has(st.status) &&
		    at.length ? at[at.length - 1].finished_at : null);
		const a = parseTime(start), b = parseTime(end);
		if (a === null)
			return '';
		return fmtDuration((b ?? Date.now()) - a);
	}

	function renderGraph(stages) {
		const nodes = stages.map(st => {
			const at = attemptsOf(st);
			const sub = [statusText(st.status), stageDuration(st),
			    at.length > 1 ? at.length + ' attempts' : '']
			    .filter(Boolean).join(' · ');
			return {
				id: String(st.name), label: String(st.name),
				sub, cls: statusClass(st.status),
				href: '#/runs/' + api.seg(id) + '/stages/' +
				    api.seg(st.name),
				selected: st.name === selected,
				domId: 'node-' + idPart(st.name),
				title: st.name + ': ' + sub + (st.type === 'canary' ?
				    ', canary' : '') + '. Show its log.',
			};
		});
		const edges = [];
		for (const st of stages)
			for (const n of Array.isArray(st.needs) ? st.needs : [])
				edges.push({ from: String(n), to: String(st.name) });
		replace(graphBox, graph(nodes, edges, { label: 'Stage graph of run ' +
		    id, room: graphBox.clientWidth || window.innerWidth - 32 }));
	}

	function metricsTable(st) {
		const rows = entries(st.metrics).filter(([, v]) =>
		    typeof v === 'number');
		if (!rows.length)
			return null;
		return table(rows, [
			['Metric', ([k]) => k],
			['Value', ([, v]) => fmtNumber(v), 'num'],
			[`Last ${HISTORY_RUNS} runs`, ([k, v]) => trendCell(st.name,
			    k, v), 'trend'],
		], { caption: 'Metrics of ' + st.name });
	}

	function trendCell(stage, metric, value) {
		if (!trends)
			return h('span', { class: 'muted' }, '…');
		const key = stage + '.' + metric;
		const pts = (trends.get(key) || []).filter(p => p.run !== String(id))
		    .map(p => ({ ...p, current: false }));
		pts.push({ run: String(id), value, current: true });
		pts.sort((a, b) => Number(a.run) - Number(b.run));
		return sparkline(pts.slice(-HISTORY_RUNS), key);
	}

	function artifactsList(st) {
		const rows = entries(st.artifacts);
		if (!rows.length)
			return null;
		return h('div', {}, h('h4', {}, 'Artifacts'), dl(rows.map(([k, v]) =>
		    [k, h('code', { class: 'uri' }, typeof v === 'string' ? v :
		    JSON.stringify(v))]), 'artifacts'));
	}

	function attemptsTable(st) {
		const at = attemptsOf(st);
		if (!at.length)
			return null;
		return table(at, [
			['Attempt', a => [String(a.attempt ?? ''), a.kind &&
			    a.kind !== 'job' ? h('span', { class: 'muted' }, ' ' +
			    statusText(a.kind) + (a.step ? ' ' + a.step : '') +
			    (a.weight !== undefined && a.weight !== null ?
			    ' @' + a.weight + '%' : '')) : null]],
			['Status', a => badge(a.status)],
			['Job', a => h('code', {}, String(a.job ?? '')), 'wide-only'],
			['Started', a => ago(a.started_at)],
			['Duration', a => duration(a.started_at, a.finished_at)],
			['Exit', a => a.exit_code === null || a.exit_code ===
			    undefined ? '' : String(a.exit_code), 'num'],
			['Message', a => String(a.message ?? '')],
		], { caption: 'Attempts of ' + st.name });
	}

	function stageCard(st, stages) {
		const name = String(st.name);
		const wait = STAGE_DONE.has(st.status) ? null :
		    waitingText(st, stages);
		const open = selected === name;
		const sid = stageId(name);
		return h('article', { class: ['card', 'stage', open && 'selected'],
		    id: sid, 'aria-labelledby': sid + '-title' },
		    h('header', { class: 'card-head' },
			h('h3', { id: sid + '-title' }, name),
			st.type && st.type !== 'job' ? h('span', { class: 'chip' },
			    String(st.type)) : null,
			badge(st.status),
			h('span', { class: 'muted' }, stageDuration(st)),
			h('a', { href: open ? '#/runs/' + api.seg(id) :
			    '#/runs/' + api.seg(id) + '/stages/' + api.seg(name),
			    class: 'btn btn-small', id: sid + '-log',
			    'aria-controls': 'log-panel',
			    'aria-expanded': open ? 'true' : 'false' },
			    open ? 'Hide log' : 'Show log')),
		    wait ? h('p', { class: 'waiting' }, h('strong', {},
			'Waiting: '), wait) : null,
		    st.message ? h('p', { class: 'stage-msg' },
			String(st.message)) : null,
		    st.reused_from_run !== null && st.reused_from_run !== undefined ?
			h('p', { class: 'stage-msg' }, 'Reused from ', h('a', {
			    href: '#/runs/' + api.seg(st.reused_from_run) + '/stages/' +
			    api.seg(name) }, 'run #' + st.reused_from_run),
			    ': its attempts, metrics and artifacts.') : null,
		    attemptsTable(st),
		    metricsTable(st),
		    artifactsList(st));
	}

	function renderStages() {
		const stages = Array.isArray(run.stages) ? run.stages : [];
		renderGraph(stages);
		// The log opens right under its stage's card; the same element
		// moves, so a log being followed keeps streaming.
		const top = log.pre.scrollTop;
		const cards = [];
		for (const st of stages) {
			cards.push(stageCard(st, stages));
			if (st.name === selected)
				cards.push(log.el);
		}
		replace(stageList, cards.length ? cards : h('p', { class: 'empty' },
		    'This run has no stages.'));
		log.pre.scrollTop = top;
		if (selected) {
			const st = stages.find(x => x.name === selected);
			if (st)
				log.open(st);
		} else {
			log.hide();
		}
		for (const st of stages)
			log.refresh(st);
	}

	// -- approvals, models, rollouts

	function renderApprovals() {
		const list = Array.isArray(run.approvals) ? run.approvals : [];
		approvalsSec.hidden = list.length === 0;
		const sorted = [...list].sort((a, b) => Number(a.id) -
		    Number(b.id));
		replace(approvalsBox, keyedCards(approvalCache, sorted, {
			canDecide: ctx.can('approver'), showRun: false,
			onDecided: a => {
				ctx.toast((a.status === 'approved' ? 'Approved' :
				    'Rejected') + ' the promotion to ' +
				    (a.weight ?? '?') + '%.');
				refresh();
			},
		}));
	}

	function modelRef(m) {
		if (!m || typeof m !== 'object' || !m.name)
			return null;
		return h('a', { href: '#/models/' + api.seg(m.name) },
		    String(m.name), ' v', String(m.version ?? '?'));
	}

	function renderModels() {
		const mv = listOf(run.model_versions ?? run.models, 'model_versions');
		const ro = listOf(run.rollouts, 'rollouts');
		modelsSec.hidden = !mv.length && !ro.length;
		replace(modelsSec, h('h2', { id: 'h-models' }, 'Models and rollouts'),
		    mv.length ? table(mv, [
			['Model', m => h('a', { href: '#/models/' +
			    api.seg(m.name ?? m.model) }, String(m.name ?? m.model ??
			    ''))],
			['Version', m => String(m.version ?? ''), 'num'],
			['Status', m => badge(m.status)],
			['Target', m => String(m.target ?? '')],
			['URI', m => h('code', { class: 'uri' }, String(m.uri ?? '')),
			    'wide-only'],
		    ], { caption: 'Model versions registered by this run' }) : null,
		    ro.length ? table(ro, [
			['Target', r => String(r.target ?? '')],
			['Status', r => badge(r.status)],
			['Step', r => r.current_step !== undefined ?
			    `${r.current_step} of ${r.steps ?? '?'}` : '', 'num'],
			['Weight', r => r.current_weight !== undefined ?
			    r.current_weight + '%' : '', 'num'],
			['Model', r => modelRef(r.model) ?? String(r.model_version ??
			    '')],
			['Replacing', r => modelRef(r.previous_model) ?? '',
			    'wide-only'],
			['Message', r => String(r.message ?? '')],
		    ], { caption: 'Rollouts' }) : null);
	}

	// -- loading

	async function loadTrends(fresh) {
		const pipeline = run && run.pipeline;
		if (!pipeline)
			return;
		trendsFor = pipeline;
		try {
			trends = await history(pipeline, { fresh });
		} catch {
			trends = new Map();
		}
		if (life.signal.aborted || !run || trendsFor !== run.pipeline)
			return;
		keepFocus(renderStages);
	}

	async function load() {
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		let data;
		try {
			data = await api.get('/api/v1/runs/' + api.seg(id),
			    { signal: ac.signal });
		} catch (e) {
			if (e.name === 'AbortError')
				return;
			if (!run)
				replace(head, h('h1', {}, 'Run #' + id));
			replace(actionStatus, errorBox(e.status === 404 ?
			    new Error('There is no run #' + id + '.') : e));
			return;
		}
		if (ac !== abort || life.signal.aborted)
			return;
		// An approval's analysis and metrics come from the inbox, one
		// request per approval not seen yet in this state.
		if (Array.isArray(data && data.approvals) && data.approvals.length) {
			await Promise.all(data.approvals.map(async a => {
				const key = a.id + ':' + a.status + ':' + data.status;
				if (inboxCache.has(key))
					return;
				try {
					inboxCache.set(key, await api.get('/api/v1/approvals/' +
					    api.seg(a.id), { signal: ac.signal }));
				} catch (e) {
					if (e.name !== 'AbortError')
						inboxCache.set(key, {});
				}
			}));
			if (ac !== abort || life.signal.aborted)
				return;
			data.approvals = data.approvals.map(a => ({
			    ...inboxCache.get(a.id + ':' + a.status + ':' + data.status),
			    ...a }));
		}
		replace(actionStatus);
		const first = !run;
		run = data || {};
		ctx.title('Run #' + id + ' ' + statusText(run.status));
		keepFocus(() => {
			renderHead();
			renderSummary();
			renderStages();
			renderApprovals();
			renderModels();
		});
		if (first || run.status !== lastStatus) {
			showLineage(lineageBox, id, { signal: life.signal });
			if (first || !ACTIVE.has(run.status))
				loadTrends(!first);
		}
		lastStatus = run.status;
		if (first && selected)
			scrollToStage();
	}

	function scrollToStage() {
		const el = document.getElementById('log-panel');
		if (el && !el.hidden)
			el.scrollIntoView({ block: 'nearest' });
	}

	const refresh = debounce(load, 250);
	const mine = (data, type) => sse.runOf(data, type) === String(id);
	const offs = [
		sse.on('*', (data, type) => {
			if (mine(data, type))
				refresh();
		}),
		sse.on('open', refresh),
	];
	const media = window.matchMedia('(max-width: 700px)');
	const relayout = () => {
		if (run)
			keepFocus(renderStages);
	};
	media.addEventListener('change', relayout);
	load();

	return {
		update(next) {
			if (String(next.params.id) !== String(id))
				return false;
			selected = next.params.stage || null;
			if (run)
				keepFocus(renderStages);
			if (selected)
				scrollToStage();
			return true;
		},
		unmount() {
			life.abort();
			refresh.cancel();
			offs.forEach(off => off());
			media.removeEventListener('change', relayout);
			log.stop();
			if (abort)
				abort.abort();
		},
	};
}
