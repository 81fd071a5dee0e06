// pages/pipelines.js - the pipelines (#/pipelines) and one pipeline
// (#/pipelines/NAME): its current definition, the commit it came from,
// validation errors as FILE:LINE:COL, recent runs, and (operators) a form
// to start a run with params.
import * as api from '../api.js';
import { live, listPage } from '../live.js';
import { graph } from '../dag.js';
import { runsTable } from './runs.js';
import { h, replace, badge, ago, table, dl, entries, shortSha, errorBox,
    idPart, append, commitLine }
    from '../render.js';

// An error of a pipeline file as "FILE:LINE:COL: message".
export function errorText(e) {
	return `${e.file}:${e.line}:${e.column}: ${e.message}`;
}

// Errors of the newest version seen (GET /api/v1/pipelines/NAME).
const errorsOf = p => p.latest ? p.latest.errors : [];

// Is the newest version seen valid?
const validOf = p => p.latest !== null && p.latest.valid;

// The page of a pipeline; with the repository when two repositories
// hold a pipeline of that name.
export function pipelineHref(name, repository) {
	return api.withQuery('#/pipelines/' + api.seg(name),
	    { repository });
}

// ---- list ---------------------------------------------------------------

function mountList(ctx) {
	return listPage(ctx, 'Pipelines', async (box, signal) => {
		const data = await api.get('/api/v1/pipelines?limit=200',
		    { signal });
		if (signal.aborted)
			return;
		const list = data.pipelines;
		const count = new Map();
		for (const p of list)
			count.set(p.name, (count.get(p.name) || 0) + 1);
		// An invalid file whose name cannot be read has no page: its
		// errors show in the row.
		const firstError = p => p.errors && p.errors.length ?
		    h('div', { class: 'error-line' }, h('code', {},
			errorText(p.errors[0])), p.errors.length > 1 ?
			' (+' + (p.errors.length - 1) + ' more)' : '') : null;
		replace(box, table(list, [
			['Pipeline', p => p.name === null ? h('span', {},
			    h('code', {}, p.file), ' ', h('span', { class: 'muted' },
				'(no readable name)')) :
			    h('a', { href: pipelineHref(p.name,
			    count.get(p.name) > 1 ? p.repository : null) }, p.name)],
			['Repository', p => p.repository],
			['File', p => h('code', {}, p.file), 'wide-only'],
			['Commit', p => p.latest ? h('span', { class: 'commit' },
			    h('code', { title: p.latest.commit },
				shortSha(p.latest.commit))) : '', 'wide-only'],
			['Definition', p => p.deleted ? badge('deleted') :
			    [badge(validOf(p) ? 'valid' : 'invalid'),
				validOf(p) ? null : firstError(p)]],
			['Next scheduled', p => p.next_fire_at ?
			    ago(p.next_fire_at) : '', 'wide-only'],
			['Last run', p => p.last_run ? h('span', {},
			    h('a', { href: '#/runs/' + api.seg(p.last_run.id) },
				'#' + p.last_run.id), ' ', badge(p.last_run.status)) :
			    ''],
		], { caption: 'Pipelines', empty: 'No pipelines yet. Add a ' +
		    'repository holding pipeline files, or push one.' }));
	});
}

// ---- one pipeline -------------------------------------------------------

function stagesTable(stages) {
	return table(stages, [
		['Stage', st => h('strong', {}, st.name)],
		['Type', st => st.type],
		['Needs', st => st.needs.join(', ')],
		['Command', st => h('code', { class: 'cmd' }, st.command.join(' ')),
		    'wide-only'],
		['Resources', st => {
			const r = st.resources;
			return [r.gpu ? r.gpu + ' × ' + r.gpu_resource :
			    '', r.cpu ? 'cpu ' + r.cpu : '', r.memory ? 'mem ' +
			    r.memory : ''].filter(Boolean).join(', ');
		}],
		['Gates', st => st.gates.map(g =>
		    h('code', { class: 'gate' }, [g.metric, g.op, g.baseline ?
			g.baseline + (g.tolerance ? ' − ' + g.tolerance : '') :
			g.value].join(' '))), 'wide-only'],
		['Canary', st => st.canary ?
		    [st.canary.target, ': ', st.canary.steps
			.map(x => x.weight + '%' + (x.approval === 'required' ?
			' (approval)' : x.analysis ? ' (analysis ' +
			x.analysis.duration + ')' : '')).join(' → ')] : ''],
	], { caption: 'Stages' });
}

function triggerForm(ctx, name, def, declared, repository) {
	const params = entries(declared);
	const push = def.spec.triggers && def.spec.triggers.push;
	const branch = push && push.branches && push.branches[0] || 'main';
	const inputs = params.map(([k, v]) => {
		const id = 'param-' + idPart(k);
		return [k, h('div', { class: 'field' },
		    h('label', { for: id }, k),
		    h('input', { id, name: k, type: 'text', value: String(v),
			autocomplete: 'off', spellcheck: 'false' }))];
	});
	const ref = h('input', { id: 'run-ref', name: 'ref', type: 'text',
	    value: branch, autocomplete: 'off', spellcheck: 'false',
	    required: true, 'aria-describedby': 'run-ref-help' });
	const status = h('div', { class: 'form-status' });
	const button = h('button', { type: 'submit', class: 'btn-primary',
	    id: 'start-run' }, 'Start run');
	const form = h('form', { class: 'card trigger', 'aria-labelledby':
	    'h-trigger' },
	    h('h2', { id: 'h-trigger' }, 'Start a run'),
	    h('div', { class: 'field' }, h('label', { for: 'run-ref' },
		'Branch or commit'), ref, h('p', { class: 'help',
		id: 'run-ref-help' }, 'A watched branch (its last processed ' +
		'commit), or a commit SHA the controller has seen.')),
	    inputs.length ? h('fieldset', {}, h('legend', {}, 'Params'),
		inputs.map(([, el]) => el)) : null,
	    h('div', { class: 'actions' }, button), status);
	form.addEventListener('submit', async e => {
		e.preventDefault();
		const body = { params: {} };
		for (const [k, el] of inputs)
			body.params[k] = el.querySelector('input').value;
		const r = ref.value.trim();
		if (/^[0-9a-f]{7,64}$/i.test(r))
			body.commit = r;
		else
			body.ref = r;
		button.disabled = true;
		replace(status);
		try {
			const run = await api.post(api.withQuery('/api/v1/pipelines/' +
			    api.seg(name) + '/runs', { repository }), body);
			ctx.toast('Started run #' + run.id + '.');
			ctx.navigate('#/runs/' + api.seg(run.id));
		} catch (err) {
			replace(status, errorBox(err));
			button.disabled = false;
		}
	});
	return form;
}

// "schedule 0 3 * * 1-5 (Europe/Berlin) on main" per entry.
function scheduleText(triggers) {
	if (!triggers || !triggers.schedule)
		return [];
	return triggers.schedule.map(x => 'schedule ' + x.cron + ' (' +
	    x.timezone + ')' + (x.branch ? ' on ' + x.branch : '') +
	    (triggers.catch_up === 'last' ? ', catch up the last' : ''));
}

function headsTable(heads) {
	if (!heads.length)
		return null;
	return h('section', { 'aria-labelledby': 'h-heads' },
	    h('h2', { id: 'h-heads' }, 'At each branch'),
	    table(heads, [
		['Branch', x => x.branch],
		['Commit', x => h('code', { title: x.commit }, shortSha(x.commit))],
		['Definition', x => x.valid === null || x.valid === undefined ?
		    h('span', { class: 'muted' }, 'not in this commit') :
		    badge(x.valid ? 'valid' : 'invalid')],
	    ], { caption: 'The pipeline at each branch head' }));
}

function mountOne(ctx) {
	const name = ctx.params.name;
	const repository = ctx.query.get('repository') || null;
	ctx.title('Pipeline ' + name);
	const head = h('div', { class: 'page-head' }, h('h1', {}, name));
	const box = h('div', {});
	const runsBox = h('div', {});
	append(ctx.el, head, box, h('section', { 'aria-labelledby': 'h-runs' },
	    h('h2', { id: 'h-runs' }, 'Recent runs'), runsBox,
	    h('p', {}, h('a', { href: api.withQuery('#/runs',
		{ pipeline: name }) }, 'All runs of ' + name))));
	async function loadRuns(signal) {
		const data = await api.get(api.withQuery('/api/v1/runs',
		    { pipeline: name, limit: 10 }), { signal });
		if (!signal.aborted)
			replace(runsBox, runsTable(data.runs, { showPipeline: false }));
	}

	async function load() {
		let p;
		try {
			p = await api.get(api.withQuery('/api/v1/pipelines/' +
			    api.seg(name), { repository }), { signal: life.signal });
		} catch (e) {
			if (e.name !== 'AbortError')
				replace(box, errorBox(e.status === 404 ?
				    new Error('There is no pipeline called ' + name +
				    '.') : e));
			return;
		}
		const def = p.definition;
		const errs = errorsOf(p);
		const spec = def ? def.spec : {};
		const stages = def ? spec.stages : [];
		const newestValid = validOf(p);
		replace(head, h('h1', {}, p.name),
		    p.deleted ? badge('deleted') : null,
		    badge(newestValid ? 'valid' : 'invalid'));
		const edges = [];
		for (const st of stages)
			for (const n of st.needs)
				edges.push({ from: n, to: st.name });
		replace(box,
		    dl([
			['Repository', p.repository],
			['File', h('code', {}, p.file)],
			['Definition from', p.definition_commit ?
			    commitLine(p.definition_commit, 'pipeline-commit') : null],
			['Newest file at', !newestValid && p.latest ?
			    commitLine(p.latest.commit, 'pipeline-latest-commit') :
			    null],
			['Updated', p.updated_at ? ago(p.updated_at) : null],
			['Triggers', [spec.triggers && spec.triggers.push ?
			    'push to ' + (spec.triggers.push.branches || ['any branch'])
			    .join(', ') : null, spec.triggers && spec.triggers.webhook ?
			    'webhook' : null].concat(scheduleText(spec.triggers))
			    .filter(Boolean).join('; ') || null],
			['Next scheduled run', p.next_fire_at ?
			    h('span', { id: 'next-fire' }, ago(p.next_fire_at)) :
			    null],
			['Concurrency', def ? String(spec.concurrency) : null],
		    ]),
		    errs.length || !newestValid ? h('section', {
			class: 'card errors', 'aria-labelledby': 'h-errors' },
			h('h2', { id: 'h-errors' }, 'Validation errors'),
			h('p', {}, def ? 'The newest file has errors; runs use ' +
			    'the last valid definition until it is fixed:' :
			    'There is no valid definition, so pushes start no run:'),
			h('ul', { class: 'error-list' }, errs.map(e =>
			    h('li', {}, h('code', {}, errorText(e)))))) : null,
		    ctx.can('operator') && def && !p.deleted ? triggerForm(ctx, name,
			def, p.params, repository) : null,
		    headsTable(p.heads),
		    stages.length ? h('section', { 'aria-labelledby': 'h-def' },
			h('h2', { id: 'h-def' }, 'Definition'),
			h('div', { class: 'graph-box' }, graph(stages.map(st => ({
			    id: st.name, label: st.name, sub: st.type,
			    cls: 'st-defined',
			})), edges, { label: 'Stage graph of ' + name,
			    room: ctx.el.clientWidth || window.innerWidth - 32 })),
			stagesTable(stages),
			h('details', {}, h('summary', {}, 'Canonical JSON'),
			    h('pre', { class: 'json' },
				JSON.stringify(def, null, 2)))) : null);
	}

	// The definition changes with a push, which sends no event; the
	// recent runs follow the run events.
	const life = live(loadRuns, { events: ['run'], wait: 500,
	    fail: e => replace(runsBox, errorBox(e)) });
	load();
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
