// pages/run.js - one run: stage graph, stages with attempts, why a stage
// waits, a live log tail, metrics with trends across the pipeline's
// recent runs, artifacts and model versions, approvals, the commit, the
// lineage; cancel and retry for operators.  SSE events about this run
// refetch it (debounced); nothing is patched from event payloads.
import * as api from '../api.js';
import * as sse from '../sse.js';
import { live } from '../live.js';
import { graph } from '../dag.js';
import { sparkline, history, HISTORY_RUNS, analysisChart } from '../chart.js';
import { keyedCards } from '../approvalcard.js';
import { keyedRolloutActions } from '../rolloutactions.js';
import { showLineage } from '../lineage.js';
import { h, replace, badge, ago, duration, table, dl, entries, commitLine,
    ranOn,
    fmtNumber, statusText, statusClass, errorBox, idPart, fmtDuration,
    parseTime, keepFocus }
    from '../render.js';

const ACTIVE = new Set(['queued', 'running', 'waiting_approval']);
const STAGE_ACTIVE = new Set(['submitted', 'running', 'waiting_approval']);
const STAGE_DONE = new Set(['succeeded', 'failed', 'canceled', 'skipped']);
const LOG_CAP = 512 * 1024;	// characters kept in the log view

const stageId = name => 'stage-' + idPart(name);

// Why a stage is not running yet, for people: the controller's reason
// (free GPUs, a slot, an approval...), else the stages it still needs.
function waitingText(st, stages) {
	if (st.waiting_reason)
		return st.waiting_reason;
	if (st.status === 'waiting_approval')
		return 'Waiting for approval';
	if (st.status === 'pending') {
		const open = st.needs.filter(n => {
			const dep = stages.find(x => x.name === n);
			return !dep || !STAGE_DONE.has(dep.status);
		});
		if (open.length)
			return 'Waiting for ' + open.join(', ');
	}
	return null;
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
		this.node = 0;		// the node of a multi-node stage shown
		this.nodes = h('select', { class: 'log-node', id: 'log-node',
		    'aria-label': 'Node', hidden: true });
		this.title = h('h2', { id: 'log-title' }, 'Log');
		this.state = h('span', { class: 'log-state', role: 'status' });
		this.text = document.createTextNode('');
		this.pre = h('pre', { class: 'log', id: 'log-text', tabindex: 0,
		    'aria-labelledby': 'log-title' }, this.text);
		this.close = h('button', { type: 'button', class: 'btn-quiet',
		    id: 'log-close' }, 'Close log');
		this.el = h('section', { class: 'log-panel card', id: 'log-panel',
		    'aria-labelledby': 'log-title', hidden: true },
		    h('div', { class: 'card-head' }, this.title, this.nodes,
			this.state, this.close),
		    this.pre);
	}

	// Show stage st's log; follow it while the stage is active.  A
	// multi-node stage shows node 0 first, with a picker for the others.
	open(st) {
		const sig = st.status + ':' + st.attempts.length;
		if (this.stage === st.name && (this.streaming || this.sig === sig))
			return;
		this.stop();
		if (this.stage !== st.name)
			this.node = 0;
		const last = st.attempts[st.attempts.length - 1];
		const n = last && Number.isInteger(last.nodes) ? last.nodes : 1;
		this.nodes.replaceChildren(...Array.from({ length: n }, (_, i) =>
		    h('option', { value: String(i) }, 'Node ' + i)));
		this.nodes.hidden = n < 2;
		this.nodes.value = String(this.node < n ? this.node : 0);
		this.nodes.onchange = () => {
			this.node = Number(this.nodes.value);
			this.stop();
			this.sig = '';
			this.open(st);
		};
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
		    this.sig !== st.status + ':' + st.attempts.length)
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
		    api.seg(st.name) + '/logs' + (this.node > 0 ? '?node=' +
		    this.node + (follow ? '&follow=1' : '') : follow ?
		    '?follow=1' : '');
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
			    'pending' && !st.attempts.length ?
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
	let run = null, confirming = false, lastStatus = null;
	let trends = null;		// Map "stage.metric" → points of other runs
	let trendsFor = null;
	const approvalCache = new Map();
	const rolloutCache = new Map();
	const inboxCache = new Map();	// "id:status:run status" → inbox's
	const canOperate = ctx.can('operator');
	let jump = false;		// the next stage route scrolls to its card

	ctx.title('Run #' + id);
	const head = h('div', { class: 'page-head' });
	const actions = h('div', { class: 'actions', id: 'run-actions' });
	const actionStatus = h('div', { class: 'form-status' });
	const glance = h('section', { class: 'glance', id: 'run-glance',
	    'aria-label': 'Where the run is', hidden: true });
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
	    head, glance, actionStatus, summary,
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
		    h('h1', {}, 'Run #', String(run.id), ' ',
			h('span', { class: 'muted' }, run.pipeline)),
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
			if (verb === 'retry') {
				ctx.toast('Started run #' + res.id + ', a retry of #' +
				    id + '.');
				ctx.navigate('#/runs/' + api.seg(res.id));
				return;
			}
			ctx.toast('Canceling run #' + id + '…');
			await life.now();
		} catch (e) {
			replace(actionStatus, errorBox(e));
			renderHead();
		}
	}

	// -- at a glance: where the run is, and the stage that matters

	// {text, stage}: a sentence about the run and the stage it names.
	function whereTheRunIs() {
		const stages = run.stages;
		const named = (st, what, rest) => ({ stage: st.name,
		    text: [what, ' ', h('strong', {}, st.name), rest ? [': ', rest] :
			null] });
		if (run.status === 'failed') {
			const st = stages.find(x => x.status === 'failed');
			if (st)
				return named(st, 'Failed at stage',
				    st.message);
			return { text: ['Failed', run.message ? ': ' + run.message :
			    ''] };
		}
		if (run.status === 'canceled')
			return { text: ['Canceled', run.cancel_requested_by ? ' by ' +
			    run.cancel_requested_by : ''] };
		if (run.status === 'succeeded')
			return { text: ['Succeeded', run.started_at && run.finished_at ?
			    [' in ', duration(run.started_at, run.finished_at)] :
			    ''] };
		const waiting = stages.find(x => !STAGE_DONE.has(x.status) &&
		    (x.waiting_reason || x.status === 'waiting_approval'));
		if (waiting)
			return named(waiting, 'Waiting at stage',
			    waitingText(waiting, stages));
		const running = stages.filter(x => STAGE_ACTIVE.has(x.status));
		if (running.length)
			return named(running[0], 'Running stage', running.length > 1 ?
			    'and ' + (running.length - 1) + ' more' : null);
		const next = stages.find(x => x.status === 'pending');
		if (next && waitingText(next, stages))
			return named(next, 'Next: stage', waitingText(next, stages));
		return { text: [statusText(run.status)
		    .replace(/^./, c => c.toUpperCase())] };
	}

	function renderGlance() {
		const where = whereTheRunIs();
		const done = run.stages.filter(x => x.status === 'succeeded').length;
		const href = where.stage ? '#/runs/' + api.seg(id) + '/stages/' +
		    api.seg(where.stage) : null;
		glance.hidden = false;
		glance.className = 'glance ' + statusClass(run.status);
		replace(glance,
		    h('p', { class: 'glance-text' }, where.text),
		    h('p', { class: 'glance-meta muted' }, done + ' of ' +
			run.stages.length + ' stages succeeded'),
		    href ? h('a', { href, class: 'btn btn-small', id: 'glance-stage',
			onclick: e => {
				jump = true;
				if (location.hash === href) {
					e.preventDefault();
					showStage();
				}
			} }, 'Go to ' + where.stage) : null);
	}

	// -- summary

	function renderSummary() {
		const c = run.commit;
		const params = entries(run.params);
		replace(summary, dl([
			['Pipeline', h('a', { href: '#/pipelines/' +
			    api.seg(run.pipeline) }, run.pipeline)],
			['Commit', commitLine(c, 'run-commit')],
			['Branch', run.branch],
			['Trigger', [run.trigger, run.parent_run !== null ?
			    [' of ', h('a', { href: '#/runs/' +
				api.seg(run.parent_run) }, '#' + run.parent_run)] :
			    null]],
			['Retried as', run.retries.length ?
			    run.retries.map((r, i) => [i ? ', ' : '', h('a',
				{ href: '#/runs/' + api.seg(r) }, '#' + r)]) : null],
			['Started by', run.created_by],
			['Cancel requested', run.cancel_requested_at && !run.finished_at ?
			    [ago(run.cancel_requested_at), run.cancel_requested_by ?
				' by ' + run.cancel_requested_by : ''] : null],
			['Reason', run.reason],
			['Params', params.length ? h('ul', { class: 'chips' },
			    params.map(([k, v]) => h('li', {}, h('code', {},
				k + '=' + (typeof v === 'string' ? v :
				JSON.stringify(v)))))) : null],
			['Created', ago(run.created_at)],
			['Started', run.started_at ? ago(run.started_at) : null],
			['Finished', run.finished_at ? ago(run.finished_at) : null],
			['Duration', run.started_at ? duration(run.started_at,
			    run.finished_at) : null],
			['Message', run.message],
		]),
		c.message.trim().includes('\n') ? h('details',
		    { class: 'commit-full' }, h('summary', {},
			'Full commit message'), h('pre', {}, c.message.trim())) :
		    null);
	}

	// -- stages

	function stageDuration(st) {
		const a = parseTime(st.started_at), b = parseTime(st.finished_at);
		if (a === null)
			return '';
		return fmtDuration((b ?? Date.now()) - a);
	}

	function renderGraph(stages) {
		const nodes = stages.map(st => {
			const at = st.attempts;
			const sub = [statusText(st.status), stageDuration(st),
			    at.length > 1 ? at.length + ' attempts' : '']
			    .filter(Boolean).join(' · ');
			return {
				id: st.name, label: st.name,
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
			for (const n of st.needs)
				edges.push({ from: n, to: st.name });
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
		], { caption: 'Metrics of ' + st.name, stack: false });
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
		const at = st.attempts;
		if (!at.length)
			return null;
		return table(at, [
			['Attempt', a => [String(a.attempt), a.kind !== 'job' ?
			    h('span', { class: 'muted' }, ' ' +
			    statusText(a.kind) + (a.step ? ' ' + a.step : '') +
			    (a.weight !== undefined && a.weight !== null ?
			    ' @' + a.weight + '%' : '')) : null]],
			['Status', a => badge(a.status)],
			['Job', a => h('code', {}, a.job), 'wide-only'],
			['Started', a => ago(a.started_at)],
			['Duration', a => duration(a.started_at, a.finished_at)],
			['Exit', a => a.exit_code === null ? '' : String(a.exit_code),
			    'num'],
			['Ran on', a => ranOn(a) ? h('span', { class: 'ran-on',
			    title: a.image_id ?? '' }, ranOn(a)) : '', 'wide-only'],
			['Message', a => a.message ?? ''],
		].concat(at.some(a => a.queue) ? [kueueColumn] : []),
		    { caption: 'Attempts of ' + st.name });
	}

	// Kueue: the queue, the flavor it was admitted on, when, evictions
	const kueueColumn = ['Kueue', a => !a.queue ? '' : [
		h('code', {}, a.queue),
		a.flavor ? h('span', {}, ' on ', h('code', {}, a.flavor)) : null,
		a.admitted_at ? h('span', { class: 'muted' }, ' admitted ',
		    ago(a.admitted_at)) : h('span', { class: 'muted' },
		    ' not admitted'),
		a.evictions ? [' ', h('span', { class: 'chip' }, 'evicted ' +
		    a.evictions + (a.evictions === 1 ? ' time' : ' times'))] :
		    null]];

	function stageCard(st, stages) {
		const name = st.name;
		const wait = STAGE_DONE.has(st.status) ? null :
		    waitingText(st, stages);
		const open = selected === name;
		const sid = stageId(name);
		return h('article', { class: ['card', 'stage', open && 'selected'],
		    id: sid, 'aria-labelledby': sid + '-title' },
		    h('header', { class: 'card-head' },
			h('h3', { id: sid + '-title' }, name),
			st.type !== 'job' ? h('span', { class: 'chip' }, st.type) :
			    null,
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
		    st.message ? h('p', { class: 'stage-msg' }, st.message) : null,
		    st.reused_from_run !== null ?
			h('p', { class: 'stage-msg' }, 'Reused from ', h('a', {
			    href: '#/runs/' + api.seg(st.reused_from_run) + '/stages/' +
			    api.seg(name) }, 'run #' + st.reused_from_run),
			    ': its attempts, metrics and artifacts.') : null,
		    attemptsTable(st),
		    metricsTable(st),
		    artifactsList(st));
	}

	function renderStages() {
		const stages = run.stages;
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
		approvalsSec.hidden = run.approvals.length === 0;
		replace(approvalsBox, keyedCards(approvalCache, run.approvals, {
			canDecide: ctx.can('approver'), showRun: false,
			onDecided: a => {
				ctx.toast((a.status === 'approved' ? 'Approved' :
				    'Rejected') + ' the promotion to ' + a.weight + '%.');
				life.soon();
			},
			onRollout: null,
		}));
	}

	function rolloutDone(ro, msg) {
		ctx.toast(msg);
		life.soon();
	}

	function modelRef(m) {
		return m ? h('a', { href: '#/models/' + api.seg(m.name) }, m.name,
		    ' v', String(m.version)) : '';
	}

	// One chart per step and query of a rollout's analysis measurements.
	function analysisCharts(r) {
		const groups = new Map();
		for (const m of r.measurements ?? []) {
			const key = m.step + '\u0000' + m.query;
			if (!groups.has(key))
				groups.set(key, []);
			groups.get(key).push(m);
		}
		if (!groups.size)
			return null;
		return h('div', { class: 'analysis-charts', 'aria-label':
		    'Analysis of the rollout to ' + r.target },
		    [...groups.values()].map(ms => {
			const m = ms[ms.length - 1];
			const label = `Step ${m.step}: ${m.query}`;
			return h('figure', { class: 'analysis' },
			    analysisChart(ms, label),
			    h('figcaption', {}, label, ` ${m.op} `,
				fmtNumber(m.threshold), ' · last ',
				m.result === 'inconclusive' ?
				'inconclusive' + (m.message ? ': ' + m.message :
				'') : fmtNumber(m.value) + ' (' + m.result + ')'));
		    }));
	}

	function renderModels() {
		const mv = run.model_versions, ro = run.rollouts;
		modelsSec.hidden = !mv.length && !ro.length;
		replace(modelsSec, h('h2', { id: 'h-models' }, 'Models and rollouts'),
		    mv.length ? table(mv, [
			['Model', m => h('a', { href: '#/models/' + api.seg(m.name) },
			    m.name)],
			['Version', m => String(m.version), 'num'],
			['Status', m => badge(m.status)],
			['Target', m => m.target ?? ''],
			['URI', m => h('code', { class: 'uri' }, m.uri), 'wide-only'],
		    ], { caption: 'Model versions registered by this run' }) : null,
		    ro.length ? table(ro, [
			['Target', r => r.target],
			['Status', r => badge(r.status)],
			['Step', r => `${r.current_step} of ${r.steps}`, 'num'],
			['Weight', r => r.current_weight + '%', 'num'],
			['Model', r => modelRef(r.model)],
			['Replacing', r => modelRef(r.previous_model), 'wide-only'],
			['Message', r => r.paused_by ? 'paused by ' + r.paused_by :
			    r.action_reason ?? r.message ?? ''],
		    ], { caption: 'Rollouts' }) : null,
		    ro.map(analysisCharts),
		    ctx.can('approver') ? ro.map(r => keyedRolloutActions(
			rolloutCache, r, run.id, r.target,
			{ onDone: rolloutDone })) : null);
	}

	// -- loading

	async function loadTrends(fresh) {
		const pipeline = run.pipeline;
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

	async function load(signal) {
		const data = await api.get('/api/v1/runs/' + api.seg(id),
		    { signal });
		if (signal.aborted)
			return;
		// An approval's analysis and metrics come from the inbox, one
		// request per approval not seen yet in this state.
		await Promise.all(data.approvals.map(async a => {
			const key = a.id + ':' + a.status + ':' + data.status;
			if (inboxCache.has(key))
				return;
			try {
				inboxCache.set(key, await api.get('/api/v1/approvals/' +
				    api.seg(a.id), { signal }));
			} catch (e) {
				if (e.name !== 'AbortError')
					inboxCache.set(key, {});
			}
		}));
		if (signal.aborted)
			return;
		data.approvals = data.approvals.map(a => ({
		    ...inboxCache.get(a.id + ':' + a.status + ':' + data.status),
		    ...a }));
		replace(actionStatus);
		const first = !run;
		run = data;
		ctx.title('Run #' + id + ' ' + statusText(run.status));
		keepFocus(() => {
			renderHead();
			renderGlance();
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
			showStage();
	}

	// Bring the selected stage into view: its card, from the summary's
	// link; else its log, right under the card.
	function showStage() {
		const card = jump && selected &&
		    document.getElementById(stageId(selected));
		jump = false;
		if (card) {
			card.scrollIntoView({ block: 'start' });
			return;
		}
		const el = document.getElementById('log-panel');
		if (el && !el.hidden)
			el.scrollIntoView({ block: 'nearest' });
	}

	const life = live(load, { events: ['*'], wait: 250,
	    match: data => sse.runOf(data) === String(id),
	    fail: e => {
		if (!run)
			replace(head, h('h1', {}, 'Run #' + id));
		replace(actionStatus, errorBox(e.status === 404 ?
		    new Error('There is no run #' + id + '.') : e));
	    } });
	life.listen(window.matchMedia('(max-width: 700px)'), 'change', () => {
		if (run)
			keepFocus(renderStages);
	});
	life.onStop(() => log.stop());
	life.now();

	return {
		update(next) {
			if (String(next.params.id) !== String(id))
				return false;
			selected = next.params.stage || null;
			if (run)
				keepFocus(renderStages);
			if (selected)
				showStage();
			return true;
		},
		unmount: life.stop,
	};
}
