// pages/pipelines.js - the pipelines (#/pipelines) and one pipeline
// (#/pipelines/NAME): its current definition, the commit it came from,
// validation errors as FILE:LINE:COL, recent runs, and (operators) a form
// to start a run with params.
import * as api from '../api.js';
import * as sse from '../sse.js';
import { graph } from '../dag.js';
import { runsTable } from './runs.js';
import { h, replace, badge, ago, table, dl, entries, listOf, commitOf,
    shortSha, firstLine, errorBox, debounce, idPart } from '../render.js';

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

function errorsOf(p) {
	const v = p.errors ?? (p.latest_version && p.latest_version.errors);
	return Array.isArray(v) ? v : [];
}

function definitionOf(p) {
	const d = p.definition ?? (p.latest_version &&
	    p.latest_version.definition) ?? (p.current &&
	    p.current.definition);
	return d && typeof d === 'object' ? d : null;
}

function validOf(p) {
	if (typeof p.valid === 'boolean')
		return p.valid;
	return errorsOf(p).length === 0;
}

function fileOf(p) {
	return p.file_path ?? p.file ?? p.path ?? (p.latest_version &&
	    p.latest_version.file_path) ?? '';
}

function commitFacts(p) {
	const c = commitOf(p.commit !== undefined ? p :
	    { commit: p.latest_commit ?? (p.latest_version &&
	    p.latest_version.commit) });
	if (!c.sha)
		return null;
	return h('span', { class: 'commit', id: 'pipeline-commit' },
	    h('code', { title: c.sha }, shortSha(c.sha)),
	    c.message ? [' ', h('span', { class: 'commit-msg' },
		firstLine(c.message))] : null,
	    c.author ? [' ', h('span', { class: 'muted' }, 'by ', c.author)] :
	    null);
}

function repoName(p) {
	const r = p.repository;
	return r && typeof r === 'object' ? r.name : r;
}

// ---- list ---------------------------------------------------------------

function mountList(ctx) {
	ctx.title('Pipelines');
	const box = h('div', {});
	ctx.el.append(h('div', { class: 'page-head' },
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
			replace(box, table(list, [
				['Pipeline', p => h('a', { href: '#/pipelines/' +
				    api.seg(p.name) }, String(p.name ?? ''))],
				['Repository', p => String(repoName(p) ?? '')],
				['File', p => h('code', {}, String(fileOf(p))),
				    'wide-only'],
				['Commit', p => commitFacts(p) ?? '', 'wide-only'],
				['Definition', p => validOf(p) ? badge('valid') :
				    h('span', {}, badge('invalid'), ' ',
					errorsOf(p).length + ' error' +
					(errorsOf(p).length === 1 ? '' : 's'))],
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

function triggerForm(ctx, name, def) {
	const spec = def && def.spec || {};
	const params = entries(spec.params);
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
		id: 'run-ref-help' }, 'A branch name, or a full commit SHA.')),
	    inputs.length ? h('fieldset', {}, h('legend', {}, 'Params'),
		inputs.map(([, el]) => el)) : null,
	    h('div', { class: 'actions' }, button), status);
	form.addEventListener('submit', async e => {
		e.preventDefault();
		const body = { params: {} };
		for (const [k, el] of inputs)
			body.params[k] = el.querySelector('input').value;
		const r = ref.value.trim();
		if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(r))
			body.commit = r;
		else
			body.ref = r;
		button.disabled = true;
		replace(status);
		try {
			const run = await api.post('/api/v1/pipelines/' +
			    api.seg(name) + '/runs', body);
			ctx.toast('Started run #' + run.id + '.');
			ctx.navigate('#/runs/' + api.seg(run.id));
		} catch (err) {
			replace(status, errorBox(err));
			button.disabled = false;
		}
	});
	return form;
}

function mountOne(ctx) {
	const name = ctx.params.name;
	ctx.title('Pipeline ' + name);
	const head = h('div', { class: 'page-head' }, h('h1', {}, name));
	const box = h('div', {});
	const runsBox = h('div', {});
	ctx.el.append(head, box, h('section', { 'aria-labelledby': 'h-runs' },
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
			p = await api.get('/api/v1/pipelines/' + api.seg(name),
			    { signal: ac.signal });
		} catch (e) {
			if (e.name !== 'AbortError')
				replace(box, errorBox(e.status === 404 ?
				    new Error('There is no pipeline called ' + name +
				    '.') : e));
			return;
		}
		const def = definitionOf(p);
		const errs = errorsOf(p);
		const spec = def && def.spec || {};
		const stages = Array.isArray(spec.stages) ? spec.stages : [];
		replace(head, h('h1', {}, String(p.name ?? name)),
		    validOf(p) ? badge('valid') : badge('invalid'));
		const edges = [];
		for (const st of stages)
			for (const n of Array.isArray(st.needs) ? st.needs : [])
				edges.push({ from: String(n), to: String(st.name) });
		replace(box,
		    dl([
			['Repository', repoName(p) ?? null],
			['File', fileOf(p) ? h('code', {}, String(fileOf(p))) : null],
			['Commit', commitFacts(p)],
			['Updated', p.updated_at ? ago(p.updated_at) : null],
			['Triggers', [spec.triggers && spec.triggers.push ?
			    'push to ' + (spec.triggers.push.branches || ['any branch'])
			    .join(', ') : null, spec.triggers && spec.triggers.webhook ?
			    'webhook' : null].filter(Boolean).join('; ') || null],
			['Concurrency', spec.concurrency !== undefined ?
			    String(spec.concurrency) : null],
		    ]),
		    errs.length ? h('section', { class: 'card errors',
			'aria-labelledby': 'h-errors' },
			h('h2', { id: 'h-errors' }, 'Validation errors'),
			h('p', {}, validOf(p) ? 'An older definition is in use; ' +
			    'the latest file has errors:' : 'This definition ' +
			    'is invalid, so pushes start no run:'),
			h('ul', { class: 'error-list' }, errs.map(e =>
			    h('li', {}, h('code', {}, errorText(e)))))) : null,
		    ctx.can('operator') && def ? triggerForm(ctx, name, def) : null,
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
