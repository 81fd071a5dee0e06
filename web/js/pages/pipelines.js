// pages/pipelines.js - the pipelines (#/pipelines) and one pipeline
// (#/pipelines/NAME): its current definition, the commit it came from,
// validation errors as FILE:LINE:COL, recent runs, and (operators) a form
// to start a run with params.
import * as api from '../api.js';
import * as sse from '../sse.js';
import { graph } from '../dag.js';
import { runsTable } from './runs.js';
import { h, replace, badge, ago, table, dl, entries, listOf, commitOf,
    shortSha, firstLine, errorBox, debounce, idPart, append }
    from '../render.js';

// Errors as "FILE:LINE:COL: message", from {file, line, column, message}
// objects or ready-made strings.
export function errorText(e) {
	if (typeof e === 'string')
		return e;
	if (!e || typeof e !== 'object')
		return String(e);
	const where = [e.file ?? e.path, e.line, e.column ?? e.col]
	    .filter(x => x !== undefined && x !== null && x !== '').join(':');
	return (where ? where + ': ' : '') + String(e.message ?? '');
}

// The newest version seen, valid or not ({version, valid, file, commit,
// errors}), from GET /api/v1/pipelines[/NAME].
const latestOf = p => p.latest && typeof p.latest === 'object' ? p.latest :
    {};

function errorsOf(p) {
	const v = p.errors ?? latestOf(p).errors;
	return Array.isArray(v) ? v : [];
}

function definitionOf(p) {
	const d = p.definition;
	return d && typeof d === 'object' ? d : null;
}

// Is the newest file valid?
function validOf(p) {
	if (typeof latestOf(p).valid === 'boolean')
		return latestOf(p).valid;
	if (typeof p.valid === 'boolean')
		return p.valid;
	return errorsOf(p).length === 0;
}

function fileOf(p) {
	return p.file ?? latestOf(p).file ?? p.file_path ?? '';
}

// A commit (a sha, or {sha, message, author}) as a short line.
function commitFacts(commit, id) {
	const c = commitOf({ commit });
	if (!c.sha)
		return null;
	return h('span', { class: 'commit', id },
	    h('code', { title: c.sha }, shortSha(c.sha)),
	    c.message ? [' ', h('span', { class: 'commit-msg' },
		firstLine(c.message))] : null,
	    c.author ? [' ', h('span', { class: 'muted' }, 'by ', c.author)] :
	    null);
}

// The page of a pipeline; with the repository when two repositories
// hold a pipeline of that name.
export function pipelineHref(name, repository) {
	return api.withQuery('#/pipelines/' + api.seg(name),
	    { repository });
}

function repoName(p) {
	const r = p.repository;
	return r && typeof r === 'object' ? r.name : r;
}

// ---- list ---------------------------------------------------------------

function mountList(ctx) {
	ctx.title('Pipelines');
	const box = h('div', {});
	append(ctx.el, h('div', { class: 'page-head' },
	    h('h1', {}, 'Pipelines')), box);
	let abort = null;
	async function load() {
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		try {
			const data = await api.get('/api/v1/pipelines?limit=200',
			    { signal: ac.signal });
			const list = listOf(data, 'pipelines');
			const count = new Map();
			for (const p of list)
				count.set(p.name, (count.get(p.name) || 0) + 1);
			replace(box, table(list, [
				['Pipeline', p => h('a', { href: pipelineHref(p.name,
				    count.get(p.name) > 1 ? repoName(p) : null) },
				    String(p.name ?? ''))],
				['Repository', p => String(repoName(p) ?? '')],
				['File', p => h('code', {}, String(fileOf(p))),
				    'wide-only'],
				['Commit', p => commitFacts(latestOf(p).commit ??
				    p.commit) ?? '', 'wide-only'],
				['Definition', p => p.deleted ? badge('deleted') :
				    validOf(p) ? badge('valid') : h('span', {},
				    badge('invalid'), errorsOf(p).length ? ' ' +
				    errorsOf(p).length + ' error' +
				    (errorsOf(p).length === 1 ? '' : 's') : '')],
				['Last run', p => {
					const r = p.last_run ?? p.latest_run;
					return r && r.id !== undefined ? h('span', {},
					    h('a', { href: '#/runs/' + api.seg(r.id) },
						'#' + r.id), ' ', badge(r.status)) : '';
				}],
			], { caption: 'Pipelines', empty: 'No pipelines yet. Add a ' +
			    'repository holding pipeline files, or push one.' }));
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

// ---- one pipeline -------------------------------------------------------

function stagesTable(stages) {
	const cmd = st => Array.isArray(st.command) ? st.command.join(' ') : '';
	return table(stages, [
		['Stage', st => h('strong', {}, String(st.name ?? ''))],
		['Type', st => String(st.type ?? 'job')],
		['Needs', st => Array.isArray(st.needs) ? st.needs.join(', ') : ''],
		['Command', st => h('code', { class: 'cmd' }, cmd(st)), 'wide-only'],
		['Resources', st => {
			const r = st.resources || {};
			return [r.gpu ? r.gpu + ' × ' + (r.gpu_resource ?? 'gpu') :
			    '', r.cpu ? 'cpu ' + r.cpu : '', r.memory ? 'mem ' +
			    r.memory : ''].filter(Boolean).join(', ');
		}],
		['Gates', st => (Array.isArray(st.gates) ? st.gates : []).map(g =>
		    h('code', { class: 'gate' }, [g.metric, g.op, g.baseline ?
			g.baseline + (g.tolerance ? ' − ' + g.tolerance : '') :
			g.value].join(' '))), 'wide-only'],
		['Canary', st => st.canary && Array.isArray(st.canary.steps) ?
		    [String(st.canary.target ?? ''), ': ', st.canary.steps
			.map(x => x.weight + '%' + (x.approval === 'required' ?
			' (approval)' : x.analysis ? ' (analysis ' +
			x.analysis.duration + ')' : '')).join(' → ')] : ''],
	], { caption: 'Stages' });
}

function triggerForm(ctx, name, def, declared, repository) {
	const spec = def && def.spec || {};
	const params = entries(declared && typeof declared === 'object' &&
	    Object.keys(declared).length ? declared : spec.params);
	const push = spec.triggers && spec.triggers.push;
	const branch = push && Array.isArray(push.branches) && push.branches[0] ||
	    'main';
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

function headsTable(heads) {
	const list = Array.isArray(heads) ? heads.filter(x => x &&
	    typeof x === 'object') : [];
	if (!list.length)
		return null;
	return h('section', { 'aria-labelledby': 'h-heads' },
	    h('h2', { id: 'h-heads' }, 'At each branch'),
	    table(list, [
		['Branch', x => String(x.branch ?? '')],
		['Commit', x => h('code', { title: String(x.commit ?? '') },
		    shortSha(x.commit))],
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
	let abort = null;

	async function loadRuns() {
		try {
			const data = await api.get(api.withQuery('/api/v1/runs',
			    { pipeline: name, limit: 10 }));
			replace(runsBox, runsTable(listOf(data, 'runs'),
			    { showPipeline: false }));
		} catch (e) {
			replace(runsBox, errorBox(e));
		}
	}

	async function load() {
		if (abort)
			abort.abort();
		const ac = abort = new AbortController();
		let p;
		try {
			p = await api.get(api.withQuery('/api/v1/pipelines/' +
			    api.seg(name), { repository }), { signal: ac.signal });
		} catch (e) {
			if (e.name !== 'AbortError')
				replace(box, errorBox(e.status === 404 ?
				    new Error('There is no pipeline called ' + name +
				    '.') : e));
			return;
		}
		const def = definitionOf(p);
		const errs = errorsOf(p);
		const latest = latestOf(p);
		const spec = def && def.spec || {};
		const stages = Array.isArray(spec.stages) ? spec.stages : [];
		const newestValid = validOf(p);
		replace(head, h('h1', {}, String(p.name ?? name)),
		    p.deleted ? badge('deleted') : null,
		    badge(newestValid ? 'valid' : 'invalid'));
		const edges = [];
		for (const st of stages)
			for (const n of Array.isArray(st.needs) ? st.needs : [])
				edges.push({ from: String(n), to: String(st.name) });
		const defCommit = p.definition_commit ?? (newestValid ?
		    latest.commit : null);
		replace(box,
		    dl([
			['Repository', repoName(p) ?? null],
			['File', fileOf(p) ? h('code', {}, String(fileOf(p))) : null],
			['Definition from', commitFacts(defCommit, 'pipeline-commit')],
			['Newest file at', !newestValid ? commitFacts(latest.commit,
			    'pipeline-latest-commit') : null],
			['Updated', p.updated_at ? ago(p.updated_at) : null],
			['Triggers', [spec.triggers && spec.triggers.push ?
			    'push to ' + (spec.triggers.push.branches || ['any branch'])
			    .join(', ') : null, spec.triggers && spec.triggers.webhook ?
			    'webhook' : null].filter(Boolean).join('; ') || null],
			['Concurrency', spec.concurrency !== undefined ?
			    String(spec.concurrency) : null],
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
			    id: String(st.name), label: String(st.name),
			    sub: String(st.type ?? 'job'), cls: 'st-defined',
			})), edges, { label: 'Stage graph of ' + name,
			    room: ctx.el.clientWidth || window.innerWidth - 32 })),
			stagesTable(stages),
			h('details', {}, h('summary', {}, 'Canonical JSON'),
			    h('pre', { class: 'json' },
				JSON.stringify(def, null, 2)))) : null);
	}

	const refresh = debounce(loadRuns, 500);
	const offs = [sse.on('run', refresh), sse.on('open', refresh)];
	load();
	loadRuns();
	return {
		update() {
			return false;
		},
		unmount() {
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
