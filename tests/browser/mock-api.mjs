// mock-api.mjs - a stand-in for the controller's REST API, serving web/
// with the controller's security headers.  The console tests use it to
// check rendering that the real controller cannot easily be made to
// produce (hostile strings, every status at once), and it previews the
// console without PostgreSQL:
//
//   node tests/browser/mock-api.mjs [PORT]     then sign in with "admin"
//
// Tokens: "admin", "approver", "operator", "viewer" (the role's name).
// One run (#3) progresses by itself; GET /mock/step advances it by hand.
//
// Every JSON answer is checked against its operation's response schema in
// docs/api.yaml (openapi.mjs) as it is sent; what does not match is kept
// in `violations` (and printed when run by hand), and the tests fail on
// it.  So the mock, and the console the tests drive with it, can only use
// the field names the document gives.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadApi } from './openapi.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.resolve(here, '../../web');
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; " +
    "frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js':
    'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml', '.png': 'image/png' };
// Every page of the console the mock has something for.
export const PAGES = ['#/runs', '#/runs/3', '#/runs/3/stages/prepare', '#/runs/4',
    '#/approvals', '#/pipelines', '#/pipelines/demo', '#/pipelines/broken',
    '#/repositories', '#/models', '#/models/demo'];
export const HOSTILE = '<img src=x onerror="window.__xss=1"> & <b>"bold"</b>';

const iso = ms => new Date(ms).toISOString();
const T0 = Date.now() - 3600e3;
const IMAGE_ID = 'ghcr.io/acme/train@sha256:' +
    '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae';

function stage(name, needs, status, extra = {}) {
	const done = ['succeeded', 'failed', 'canceled', 'skipped'].includes(status);
	const started = status === 'pending' ? null : iso(T0 + 60e3);
	return {
		name, type: extra.type ?? 'job', status, needs, position: 0,
		started_at: started, finished_at: done ? iso(T0 + 120e3) : null,
		waiting_reason: extra.waiting_reason ?? null,
		message: extra.message ?? null, reused_from_run: null,
		attempts: status === 'pending' ? [] : [{
			attempt: 1, kind: 'job', step: 0, weight: null,
			status: status === 'waiting_approval' ? 'running' : status,
			job: 'sluice-' + name + '-1', executor: 'local', gpus: 0,
			node: started ? 'gpu-node-7' : null, submitted_at: started,
			started_at: started, finished_at: done ? iso(T0 + 120e3) : null,
			exit_code: done ? (status === 'failed' ? 1 : 0) : null,
			message: status === 'failed' ? 'exit status 1' : null,
			image_id: started ? IMAGE_ID : null,
			gpu_product: started ? 'NVIDIA-H100-80GB-HBM3' : null,
			queue: null, flavor: null, admitted_at: null, evictions: 0,
			nodes: 1, ...extra.attempt,
		}],
		metrics: extra.metrics ?? {}, artifacts: extra.artifacts ?? {},
	};
}

const COMMIT_TIME = iso(T0 - 600e3);


function makeRun(id, status, stages, extra = {}) {
	stages.forEach((s, i) => { s.position = i; });
	return {
		id, pipeline: 'demo', repository: 'demo', pipeline_version: 1,
		status, message: extra.runMessage ?? null,
		commit: { sha: crypto.createHash('sha1').update('c' + id)
		    .digest('hex'), message: extra.message ?? 'Retrain ' + id,
		    author: 'Ada', author_email: 'ada@example.com',
		    time: COMMIT_TIME },
		branch: 'main', trigger: 'push', params: { seed: '42', epochs: '100' },
		parent_run: null, created_by: 'poller', reason: null,
		cancel_requested_at: null, cancel_requested_by: null,
		created_at: iso(T0 + id * 60e3),
		started_at: status === 'queued' ? null : iso(T0 + id * 60e3 + 5e3),
		finished_at: ['succeeded', 'failed', 'canceled'].includes(status) ?
		    iso(T0 + id * 60e3 + 300e3) : null,
		stages, model_versions: extra.model_versions ?? [], rollouts: [],
	};
}

// The fields of an approval in a run (the inbox has the rest).
const APPROVAL_FIELDS = ['id', 'run', 'stage', 'step', 'weight', 'target',
    'status', 'requested_at', 'expires_at', 'decided_by', 'decided_at',
    'comment'];

// GET /api/v1/runs/{id}: the run with its approvals and retries.
function runDoc(r) {
	return { ...r,
	    approvals: [...st.approvals.values()].filter(a => a.run === r.id)
		.map(a => Object.fromEntries(APPROVAL_FIELDS.map(k => [k, a[k]]))),
	    retries: [...st.runs.values()].filter(x => x.parent_run === r.id)
		.map(x => x.id) };
}

// In a list: stages as name and status only.
function runSummary(r) {
	const { stages, model_versions, rollouts, ...rest } = r;
	return { ...rest, stages: stages.map(s => ({ name: s.name,
	    status: s.status })) };
}

// One production history entry of demo-api.
function historyEntry(id, version, prev, at, actor, source, reason) {
	return { id, target: 'demo-api', model: 'demo', version,
	    uri: 'file:///m/' + version, previous: prev ? { model: 'demo',
	    version: prev } : null, changed_at: iso(at), actor, source, reason,
	    run: source === 'rollout' ? version : null,
	    rollout: source === 'rollout' ? version : null,
	    // a change by hand moves demo-api's traffic (provider kserve)
	    traffic: source === 'rollout' ? null : { provider: 'kserve',
		object: 'demo', state: 'pending', message: null, tries: 0,
		updated_at: iso(at) } };
}

const st = {
	prod: 2,
	history: [],
	runs: new Map(),
	approvals: new Map(),
	sessions: new Map(),
	clients: new Set(),
	logs: new Map(),
};

function seed() {
	st.history.push(historyEntry(1, 1, 0, T0 + 110e3, 'amy', 'rollout',
	    'rollout of run 1 completed'));
	st.history.push(historyEntry(2, 2, 1, T0 + 170e3, 'amy', 'rollout',
	    HOSTILE));
	for (let id = 1; id <= 2; id++) {
		st.runs.set(id, makeRun(id, 'succeeded', [
			stage('prepare', [], 'succeeded', { artifacts:
			    { dataset: 'file:///tmp/d' + id } }),
			stage('train', ['prepare'], 'succeeded', { metrics:
			    { loss: 0.3 - id * 0.02 }, artifacts: { model:
			    'file:///m/' + id } }),
			stage('evaluate', ['train'], 'succeeded', { metrics:
			    { auc: 0.9 + id * 0.01 } }),
			stage('rollout', ['evaluate'], 'succeeded', { type: 'canary' }),
		], { model_versions: [{ name: 'demo', version: id, status: id === 2 ?
		    'production' : 'retired', target: 'demo-api', uri:
		    'file:///m/' + id, stage: 'train', metrics: { loss: 0.3 - id *
		    0.02 }, created_at: iso(T0 + id * 60e3 + 200e3), promoted_at:
		    iso(T0 + id * 60e3 + 250e3), retired_at: id === 2 ? null :
		    iso(T0 + 400e3) }] }));
	}
	const def = JSON.parse(fs.readFileSync(path.join(here,
	    'fixtures/demo-definition.json'), 'utf8'));
	const a = { id: 1, run: 3, pipeline: 'demo', stage: 'rollout', step: 2,
	    weight: 50, target: 'demo-api', status: 'pending',
	    requested_at: iso(Date.now() - 60e3), expires_at: iso(Date.now() +
	    86400e3), decided_by: null, decided_at: null, comment: null,
	    run_status: 'waiting_approval',
	    rollout: { id: 1, status: 'waiting_approval', steps: 3,
	    current_step: 2, current_weight: 50, analysis_started_at: null,
	    message: null, action: null, paused_by: null },
	    canary_steps: def.spec.stages.find(s => s.name === 'rollout')
	    .canary.steps,
	    canary_metrics: { error_rate: 0.004, canary_requests: 1000 },
	    candidate: { name: 'demo', version: 3, uri: 'file:///m/3',
	    metrics: { auc: 0.934, loss: 0.21 },
	    gate_metrics: { auc: 0.934, f1: 0.71 } },
	    production: { name: 'demo', version: 2, uri: 'file:///m/2',
	    metrics: { auc: 0.92, loss: 0.23 },
	    gate_metrics: { auc: 0.92, f1: 0.7 } } };
	st.approvals.set(1, a);
	st.approvals.set(2, { ...a, id: 2, run: 2, status: 'approved', step: 3,
	    weight: 100, decided_by: 'ops-lead', decided_at: iso(T0 + 400e3),
	    comment: HOSTILE });
	st.runs.set(3, makeRun(3, 'waiting_approval', [
		stage('prepare', [], 'succeeded', { artifacts:
		    { dataset: 'file:///tmp/<script>alert(1)</script>' } }),
		stage('train', ['prepare'], 'succeeded', { metrics: { loss: 0.21 },
		    artifacts: { model: 'file:///m/3' }, attempt: { executor:
		    'kubernetes', queue: 'ml-training', flavor: 'h100',
		    admitted_at: iso(T0 + 50e3), evictions: 1, nodes: 2 } }),
		stage('evaluate', ['train'], 'succeeded', { metrics: { auc: 0.934 } }),
		stage('rollout', ['evaluate'], 'waiting_approval', { type: 'canary',
		    waiting_reason: 'waiting for approval of step 2 (weight 50%)' }),
		stage('report', ['train'], 'pending', { waiting_reason:
		    'waiting for 1 GPUs (2 of kubernetes.max_gpus 2 in use)' }),
	], { message: HOSTILE + '\n\nSecond line of the message.' }));
	st.runs.get(3).rollouts = [{ id: 1, stage: 'rollout', attempt: 1,
	    target: 'demo-api', status: 'waiting_approval', steps: 3,
	    current_step: 2, current_weight: 50,
	    model: { name: 'demo', version: 3, uri: 'file:///m/3',
	    status: 'candidate' },
	    previous_model: { name: 'demo', version: 2, uri: 'file:///m/2',
	    status: 'production' },
	    analysis_started_at: null, message: null,
	    started_at: iso(T0 + 200e3), finished_at: null, action: null,
	    action_by: null, action_at: null, action_reason: null,
	    paused_at: null, paused_by: null,
	    measurements: [0.004, 0.006, null, 0.02, 0.03].map((v, i) => ({
		step: 1, query: 'error_rate', slot: i + 1,
		measured_at: iso(T0 + 210e3 + i * 30e3),
		result: v === null ? 'inconclusive' : v <= 0.01 ? 'pass' :
		    'fail', value: v, message: v === null ? HOSTILE : null,
		op: '<=', threshold: 0.01 })) }];
	st.runs.set(4, makeRun(4, 'failed', [
		stage('prepare', [], 'succeeded'),
		stage('train', ['prepare'], 'failed', { message:
		    'attempt 2 of 2 failed: exit status 1' }),
		stage('evaluate', ['train'], 'skipped'),
	], { runMessage: 'stage train failed' }));
	Object.assign(st.runs.get(4).stages[2], { attempts: [], started_at: null,
	    finished_at: null });
	st.logs.set('4/train', 'epoch 1\nTraceback (most recent call last):\n' +
	    'ValueError: ' + HOSTILE + '\n');
	// run 3's train ran on 2 nodes: one log each ("#1": node 1's)
	st.logs.set('3/train', 'rank 0: waiting for 1 more rank\n');
	st.logs.set('3/train#1', 'rank 1: ' + HOSTILE + '\n');
	st.logs.set('3/prepare', 'rows=4000\n::artifact dataset=file:///tmp/d\n' +
	    HOSTILE + '\n');
}
seed();

// What the mock answered that docs/api.yaml does not allow.
export const violations = [];
let spec = null;

function send(res, status, body, headers = {}) {
	const data = body === undefined ? '' : JSON.stringify(body);
	if (res.apiCall && spec) {
		const bad = spec.check(res.apiCall.method, res.apiCall.path, status,
		    body);
		violations.push(...bad);
		if (bad.length && res.apiCall.loud)
			console.error(bad.join('\n'));
	}
	res.writeHead(status, { 'Content-Type': 'application/json',
	    'Content-Security-Policy': CSP, 'Content-Length':
	    Buffer.byteLength(data), ...headers });
	res.end(data);
}
const fail = (res, status, code, message, h) =>
    send(res, status, { error: { code, message } }, h);

// An event as GET /api/v1/events sends it: {id, type, run, entity, ...}.
let eventSeq = 0;
function emit(type, run, entity = run) {
	const data = { id: ++eventSeq, type, run, entity, action: 'transition',
	    from: null, to: null, actor: 'mock', reason: null,
	    at: iso(Date.now()) };
	for (const c of st.clients)
		c.write(`id: ${data.id}\nevent: ${type}\n` +
		    `data: ${JSON.stringify(data)}\n\n`);
}

function who(req) {
	const m = /(?:^|;\s*)sluice_session=([^;]+)/.exec(req.headers.cookie || '');
	const s = m && st.sessions.get(m[1]);
	if (!s)
		return null;
	return { ...s, sid: m[1] };
}

const RANK = { viewer: 0, operator: 1, approver: 2, admin: 3 };

async function body(req) {
	let b = '';
	for await (const c of req)
		b += c;
	try {
		return b ? JSON.parse(b) : {};
	} catch {
		return null;
	}
}

function serveStatic(req, res, p) {
	const rel = p === '/' ? '/index.html' : p;
	const file = path.join(WEB, path.normalize(rel));
	if (!file.startsWith(WEB + path.sep) || !fs.existsSync(file) ||
	    !fs.statSync(file).isFile())
		return fail(res, 404, 'not_found', `no such page '${p}'`);
	const data = fs.readFileSync(file);
	res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ??
	    'application/octet-stream', 'Content-Length': data.length,
	    'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' });
	res.end(req.method === 'HEAD' ? undefined : data);
}

// Advance run 3 by one step (approve → rollout succeeded, report runs...).
function step() {
	const r = st.runs.get(3);
	const report = r.stages.find(s => s.name === 'report');
	if (report.status === 'pending') {
		Object.assign(report, { ...stage('report', ['train'], 'running'),
		    position: report.position });
		st.logs.set('3/report', 'starting report\n');
	} else if (report.status === 'running') {
		st.logs.set('3/report', st.logs.get('3/report') + 'step\n');
	}
	emit('stage', 3, 97);
}

async function api(req, res, url) {
	const p = url.pathname, m = req.method;
	if (p === '/api/v1/session' && m === 'POST') {
		const b = await body(req);
		if (!b || typeof b.token !== 'string')
			return fail(res, 400, 'invalid', 'missing field "token"');
		if (!(b.token in RANK))
			return fail(res, 401, 'unauthorized', 'unknown token');
		const sid = crypto.randomBytes(16).toString('hex');
		const csrf = crypto.randomBytes(16).toString('hex');
		st.sessions.set(sid, { name: b.token + '-user', role: b.token, csrf });
		return send(res, 201, { name: b.token + '-user', role: b.token,
		    csrf_token: csrf, expires_at: iso(Date.now() + 3600e3) },
		    { 'Set-Cookie': `sluice_session=${sid}; Path=/; HttpOnly; ` +
		    'SameSite=Strict' });
	}
	const w = who(req);
	if (!w)
		return fail(res, 401, 'unauthorized', 'not signed in');
	if (m !== 'GET' && req.headers['x-csrf-token'] !== w.csrf)
		return fail(res, 403, 'csrf', 'X-CSRF-Token does not match');
	const need = r => {
		if (RANK[w.role] >= RANK[r])
			return false;
		fail(res, 403, 'forbidden', `this needs the ${r} role`);
		return true;
	};
	let g;
	if (p === '/api/v1/session' && m === 'GET')
		return send(res, 200, { name: w.name, role: w.role, via: 'session',
		    expires_at: null });
	if (p === '/api/v1/session' && m === 'DELETE') {
		st.sessions.delete(w.sid);
		res.writeHead(204, { 'Set-Cookie': 'sluice_session=; Max-Age=0' });
		return res.end();
	}
	if (p === '/api/v1/events') {
		res.writeHead(200, { 'Content-Type': 'text/event-stream',
		    'Cache-Control': 'no-cache' });
		res.write(': hello\n\n');
		st.clients.add(res);
		req.on('close', () => st.clients.delete(res));
		return;
	}
	if (p === '/api/v1/runs' && m === 'GET') {
		let list = [...st.runs.values()].sort((a, b) => b.id - a.id);
		const pl = url.searchParams.get('pipeline');
		const s = url.searchParams.get('status');
		if (pl)
			list = list.filter(r => r.pipeline === pl);
		if (s)
			list = list.filter(r => r.status === s);
		const cursor = Number(url.searchParams.get('cursor') || Infinity);
		list = list.filter(r => r.id < cursor);
		const limit = Number(url.searchParams.get('limit') || 25);
		const page = list.slice(0, limit);
		return send(res, 200, { runs: page.map(runSummary),
		    next_cursor: list.length > limit ?
		    String(page[page.length - 1].id) : null });
	}
	if ((g = /^\/api\/v1\/runs\/(\d+)$/.exec(p))) {
		const r = st.runs.get(Number(g[1]));
		if (!r)
			return fail(res, 404, 'not_found', 'no run ' + g[1]);
		return send(res, 200, runDoc(r));
	}
	if ((g = /^\/api\/v1\/runs\/(\d+)\/(cancel|retry)$/.exec(p)) && m === 'POST') {
		if (need('operator'))
			return;
		const r = st.runs.get(Number(g[1]));
		if (g[2] === 'cancel') {
			r.status = 'canceled';
			r.finished_at = iso(Date.now());
			emit('run', r.id);
			return send(res, 202, runDoc(r));
		}
		const id = Math.max(...st.runs.keys()) + 1;
		const n = { ...structuredClone(r), id, status: 'queued',
		    trigger: 'retry', parent_run: r.id, started_at: null,
		    finished_at: null, created_at: iso(Date.now()) };
		st.runs.set(id, n);
		emit('run', id);
		return send(res, 201, runDoc(n));
	}
	if ((g = /^\/api\/v1\/runs\/(\d+)\/stages\/([^/]+)\/logs$/.exec(p))) {
		const node = Number(url.searchParams.get('node') ?? 0);
		const key = g[1] + '/' + g[2] + (node > 0 ? '#' + node : '');
		if (!st.logs.has(key))
			return fail(res, 404, 'not_found', 'no log yet');
		res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
		res.write(st.logs.get(key));
		if (url.searchParams.get('follow') !== '1')
			return res.end();
		let sent = st.logs.get(key).length;
		const t = setInterval(() => {
			const cur = st.logs.get(key);
			if (cur.length > sent) {
				res.write(cur.slice(sent));
				sent = cur.length;
			}
		}, 100);
		req.on('close', () => clearInterval(t));
		return;
	}
	if ((g = /^\/api\/v1\/runs\/(\d+)\/lineage$/.exec(p))) {
		const id = Number(g[1]);
		return send(res, 200, { run: id, nodes: [
			{ id: 'commit:abc', type: 'commit', label: 'abc1234' },
			{ id: 'pipeline_version:1', type: 'pipeline_version',
			    label: 'demo (pipelines/demo.yaml)', pipeline: 'demo' },
			{ id: 'run:' + id, type: 'run', label: 'run ' + id, run: id },
			{ id: 'stage:' + id, type: 'stage', label: 'train',
			    name: 'train', status: 'succeeded' },
			{ id: 'artifact:' + id, type: 'artifact', label: 'model',
			    name: 'model', uri: 'file:///m/' + id },
			{ id: 'model_version:' + id, type: 'model_version', label:
			    'demo v' + id, name: 'demo', version: id,
			    image_id: IMAGE_ID, node: 'gpu-node-7',
			    gpu_product: 'NVIDIA-H100-80GB-HBM3' },
			{ id: 'rollout:' + id, type: 'rollout', label: 'demo-api 50%',
			    status: 'progressing' },
		], edges: [
			{ from: 'commit:abc', to: 'pipeline_version:1', kind: 'defines' },
			{ from: 'pipeline_version:1', to: 'run:' + id, kind: 'runs' },
			{ from: 'run:' + id, to: 'stage:' + id, kind: 'stage' },
			{ from: 'stage:' + id, to: 'artifact:' + id, kind: 'produced' },
			{ from: 'artifact:' + id, to: 'model_version:' + id,
			    kind: 'registered' },
			{ from: 'model_version:' + id, to: 'rollout:' + id,
			    kind: 'candidate' },
		] });
	}
	if ((g = /^\/api\/v1\/approvals\/(\d+)$/.exec(p))) {
		const a = st.approvals.get(Number(g[1]));
		return a ? send(res, 200, a) : fail(res, 404, 'not_found',
		    'no approval ' + g[1]);
	}
	if (p === '/api/v1/approvals') {
		const s = url.searchParams.get('status');
		const list = [...st.approvals.values()].filter(a => !s ||
		    a.status === s).sort((a, b) => b.id - a.id);
		return send(res, 200, { approvals: list, next_cursor: null });
	}
	if ((g = /^\/api\/v1\/approvals\/(\d+)\/(approve|reject)$/.exec(p)) &&
	    m === 'POST') {
		if (need('approver'))
			return;
		const a = st.approvals.get(Number(g[1]));
		const b = await body(req);
		if (!a)
			return fail(res, 404, 'not_found', 'no approval');
		if (a.status !== 'pending')
			return fail(res, 409, 'conflict', 'already ' + a.status);
		Object.assign(a, { status: g[2] === 'approve' ? 'approved' :
		    'rejected', decided_by: w.name, decided_at: iso(Date.now()),
		    comment: b.comment || null });
		const r = st.runs.get(a.run);
		const ro = r.stages.find(s => s.name === 'rollout');
		Object.assign(ro, { status: g[2] === 'approve' ? 'running' :
		    'failed', waiting_reason: null });
		r.status = g[2] === 'approve' ? 'running' : 'failed';
		emit('approval', a.run, a.id);
		emit('run', a.run);
		return send(res, 200, a);
	}
	if ((g = /^\/api\/v1\/runs\/(\d+)\/rollout\/(promote-full|abort|pause|resume)$/
	    .exec(p)) && m === 'POST') {
		if (need('approver'))
			return;
		const r = st.runs.get(Number(g[1]));
		const b = await body(req);
		const ro = r?.rollouts.find(x => !x.finished_at) ?? r?.rollouts.at(-1);
		if (!ro)
			return fail(res, 404, 'not_found', r ? 'run ' + g[1] +
			    ' has no rollout' : 'run ' + g[1] + ' not found');
		const active = ['progressing', 'analyzing', 'waiting_approval']
		    .includes(ro.status) && !ro.action;
		const verb = g[2];
		if (!active || (verb === 'pause' && ro.paused_by) ||
		    (verb === 'resume' && !ro.paused_by))
			return fail(res, 409, 'conflict', 'rollout ' + ro.id +
			    ' of run ' + r.id + ' is ' + ro.status + ': ' + verb +
			    ' does not apply');
		const why = { 'promote-full': 'promoted to 100 % by', abort:
		    'aborted by', pause: 'rollout paused by', resume: 'resumed by' }
		    [verb] + ' ' + w.name + (b.comment ? ': ' + b.comment : '');
		const now = iso(Date.now());
		const inbox = [...st.approvals.values()].find(a => a.run === r.id &&
		    a.status === 'pending');
		if (verb === 'pause' || verb === 'resume') {
			Object.assign(ro, verb === 'pause' ? { paused_at: now,
			    paused_by: w.name } : { paused_at: null,
			    paused_by: null });
		} else {
			Object.assign(ro, { action: verb === 'abort' ? 'abort' :
			    'promote_full', action_by: w.name, action_at: now,
			    action_reason: why, paused_at: null, paused_by: null });
			if (inbox)
				Object.assign(inbox, { status: verb === 'abort' ?
				    'expired' : 'approved', decided_by: verb ===
				    'abort' ? null : w.name, decided_at: now,
				    comment: why });
		}
		if (inbox)
			Object.assign(inbox.rollout, { action: ro.action,
			    paused_by: ro.paused_by });
		st.log = (st.log ?? []).concat([{ run: r.id, verb, actor: w.name,
		    comment: b.comment || null }]);
		emit('run', r.id);
		return send(res, 200, ro);
	}
	const COMMIT = { sha: 'a'.repeat(40), message: 'Demo pipelines',
	    author: 'Ada', author_email: 'ada@example.com', time: iso(T0) };
	const BROKEN = [{ file: 'pipelines/broken.yaml', line: 7, column: 5,
	    message: 'unknown field "comand" ' + HOSTILE }];
	if (p === '/api/v1/pipelines')
		return send(res, 200, { pipelines: [
			{ name: 'demo', repository: 'demo', file: 'pipelines/demo.yaml',
			    deleted: false, latest: { version: 1, commit: COMMIT.sha,
			    valid: true, created_at: iso(T0) }, errors: [],
			    next_fire_at: iso(T0 + 7200 * 1000), last_run: { id: 3,
			    status: 'waiting_approval', created_at: iso(T0) } },
			{ name: 'broken', repository: 'demo', file:
			    'pipelines/broken.yaml', deleted: false, latest: { version: 2,
			    commit: COMMIT.sha, valid: false, created_at: iso(T0) },
			    errors: BROKEN, next_fire_at: null, last_run: null },
			{ name: null, repository: 'demo', file:
			    'pipelines/nameless.yaml', deleted: false, latest: { version: 4,
			    commit: COMMIT.sha, valid: false, branch: 'main',
			    created_at: iso(T0) }, errors: [{ file:
			    'pipelines/nameless.yaml', line: 3, column: 1, message:
			    'missing required field "name"' }], next_fire_at: null,
			    last_run: null },
		], next_cursor: null });
	if ((g = /^\/api\/v1\/pipelines\/([^/]+)$/.exec(p))) {
		const name = decodeURIComponent(g[1]);
		if (name === 'broken')
			return send(res, 200, { name, repository: 'demo', file:
			    'pipelines/broken.yaml', deleted: false, version: null,
			    definition: null, params: {}, definition_commit: null,
			    latest: { version: 2, valid: false, file:
			    'pipelines/broken.yaml', commit: COMMIT, errors: BROKEN,
			    created_at: iso(T0) }, heads: [{ branch: 'main', commit:
			    COMMIT.sha, version: 2, valid: false }], next_fire_at: null,
			    last_run: null });
		if (name !== 'demo')
			return fail(res, 404, 'not_found', 'no pipeline ' + name);
		const def = JSON.parse(fs.readFileSync(path.join(here,
		    'fixtures/demo-definition.json'), 'utf8'));
		return send(res, 200, { name, repository: 'demo', file:
		    'pipelines/demo.yaml', deleted: false, version: 1, definition: def,
		    params: def.spec.params, definition_commit: COMMIT,
		    latest: { version: 1, valid: true, file: 'pipelines/demo.yaml',
		    commit: COMMIT, errors: [], created_at: iso(T0) },
		    heads: [{ branch: 'main', commit: COMMIT.sha, version: 1,
		    valid: true }], next_fire_at: iso(T0 + 7200 * 1000),
		    last_run: { id: 3, status: 'waiting_approval',
		    created_at: iso(T0) } });
	}
	if ((g = /^\/api\/v1\/pipelines\/([^/]+)\/runs$/.exec(p)) && m === 'POST') {
		if (need('operator'))
			return;
		const b = await body(req);
		const id = Math.max(...st.runs.keys()) + 1;
		const n = makeRun(id, 'queued', [stage('prepare', [], 'pending')]);
		n.trigger = 'api';
		n.created_by = w.name;
		n.params = b.params || {};
		st.runs.set(id, n);
		emit('run', id);
		return send(res, 201, runDoc(n));
	}
	if (p === '/api/v1/repositories' && m === 'GET')
		return send(res, 200, { repositories: [
			{ name: 'demo', url: 'file:///var/demo.git', branches: ['main'],
			    path: 'pipelines', interval_ms: 15000, auth: {},
			    source: 'config', poll_status: 'ok',
			    last_poll_at: iso(Date.now() - 5e3), last_success_at:
			    iso(Date.now() - 5e3), last_error: null,
			    next_poll_at: iso(Date.now() + 10e3),
			    consecutive_failures: 0, refresh_requested_at: null,
			    heads: { main: 'a'.repeat(40) }, pipelines: 2,
			    created_at: iso(T0) },
			{ name: 'flaky', url: 'https://git.invalid/x.git', branches:
			    ['main', 'dev'], path: 'ml', interval_ms: null,
			    auth: { token_env: 'GIT_TOKEN' }, source: 'api',
			    poll_status: 'failing', last_poll_at: iso(Date.now() - 20e3),
			    last_success_at: null, last_error: 'cannot resolve ' +
			    HOSTILE, next_poll_at: iso(Date.now() + 60e3),
			    consecutive_failures: 3, refresh_requested_at: null,
			    heads: {}, pipelines: 0, created_at: iso(T0) },
		], next_cursor: null });
	if ((g = /^\/api\/v1\/repositories\/([^/]+)\/refresh$/.exec(p))) {
		if (need('operator'))
			return;
		return send(res, 202, { refresh_requested: decodeURIComponent(g[1]) });
	}
	if (p === '/api/v1/lineage') {
		const c = url.searchParams.get('commit') || '';
		const sha = 'abc1234' + 'e'.repeat(33);
		if (!/^[0-9a-fA-F]{7,64}$/.test(c))
			return fail(res, 400, 'invalid', 'query parameter "commit": '
			    + 'expected 7 to 64 hex digits');
		if (c === 'ddddddd')
			return fail(res, 409, 'ambiguous', "commit 'ddddddd' is "
			    + 'ambiguous: ' + 'd'.repeat(40) + ', ' +
			    'd'.repeat(39) + 'e');
		if (!sha.startsWith(c.toLowerCase()))
			return fail(res, 404, 'not_found', `commit '${c}' not found`);
		const run = st.runs.get(3);
		return send(res, 200, {
			commit: { sha, message: HOSTILE, author: HOSTILE,
			    author_email: 'ada@example.com', time: iso(T0),
			    repositories: ['demo'] },
			pipeline_versions: [{ id: 1, pipeline: 'demo',
			    repository: 'demo', file: 'pipelines/demo.yaml',
			    valid: true, errors: [] }],
			runs: run ? [runSummary(run)] : [],
			attempts: [],
			artifacts: [{ id: 7, run: 3, stage: 'train', name: 'model',
			    uri: 'file:///m/2', model_name: null }],
			model_versions: [{ run: 3, name: 'demo', version: 2,
			    uri: 'file:///m/2', status: 'production',
			    target: 'demo-api', stage: 'train', metrics: {},
			    created_at: iso(T0), promoted_at: iso(T0 + 60e3),
			    retired_at: null }],
			rollouts: [],
			approvals: [{ id: 9, run: 3, stage: 'rollout', step: 2,
			    weight: 50, target: 'demo-api', status: 'approved',
			    requested_at: iso(T0), expires_at: iso(T0 + 3600e3),
			    decided_by: 'amy', decided_at: iso(T0 + 60e3),
			    comment: HOSTILE }],
		});
	}
	if (p === '/api/v1/models')
		return send(res, 200, { models: [{ name: 'demo', versions: 2,
		    latest: { version: 2, status: 'production', uri: 'file:///m/2',
		    created_at: iso(T0 + 120e3) }, production: { 'demo-api': 2 } }],
		    next_cursor: null });
	if ((g = /^\/api\/v1\/models\/([^/]+)\/versions$/.exec(p)))
		return send(res, 200, { versions: [3, 2, 1].map(v => ({
		    name: 'demo', version: v, uri: 'file:///m/' + v, status:
		    st.prod === v ? 'production' : v === 3 ? 'rejected' :
		    'retired', target: 'demo-api', run: v,
		    pipeline: 'demo', stage: 'train', metrics: { auc: 0.9 +
		    v / 100 }, created_at: iso(T0 + v * 60e3), promoted_at:
		    iso(T0 + v * 60e3 + 50e3), retired_at: st.prod === v ? null :
		    iso(T0 + 400e3), rejected_reason: v === 3 ?
		    'gate failed: ' + HOSTILE : null,
		    gate_metrics: { auc: 0.8 + v / 100, f1: 0.7 },
		    production: st.prod === v ? null : { version: st.prod,
			target: 'demo-api', gate_metrics: { auc: 0.8 +
			st.prod / 100 } } })), next_cursor: null });
	if ((g = /^\/api\/v1\/targets\/([^/]+)\/history$/.exec(p))) {
		if (decodeURIComponent(g[1]) !== 'demo-api')
			return fail(res, 404, 'not_found', 'target \'' +
			    decodeURIComponent(g[1]) + '\' not found');
		const at = url.searchParams.get('at');
		const list = st.history.slice().reverse();
		if (at === null) {
			send(res, 200, { history: list, next_cursor: null });
			// the controller moves the traffic: the next read says so
			for (const x of st.history.filter(x => x.traffic &&
			    x.traffic.state === 'pending'))
				Object.assign(x.traffic, { state: 'done', tries: 1,
				    message: 'inferenceservice demo serves ' + x.uri +
				    ' to every request', updated_at: iso(Date.now()) });
			return;
		}
		const t = Date.parse(at);
		if (Number.isNaN(t))
			return fail(res, 400, 'invalid', 'query parameter "at": ' +
			    'expected an RFC 3339 time');
		const e = list.find(x => Date.parse(x.changed_at) <= t);
		if (!e)
			return fail(res, 404, 'not_found', 'nothing was in ' +
			    'production on target \'demo-api\' at ' + at);
		return send(res, 200, { target: 'demo-api', at: iso(t), entry: e });
	}
	if ((g = /^\/api\/v1\/models\/demo\/(?:versions\/(\d+)\/promote|rollback)$/
	    .exec(p)) && m === 'POST') {
		if (need('approver'))
			return;
		const b = await body(req);
		const prev = st.prod;
		const v = g[1] ? Number(g[1]) : st.history.filter(x =>
		    x.version !== prev).at(-1)?.version;
		if (!v || v === 3 || v === prev)
			return fail(res, 409, 'conflict', 'nothing to do');
		st.prod = v;
		st.history.push(historyEntry(st.history.length + 1, v, prev,
		    Date.now(), w.name, g[1] ? 'promote' : 'rollback',
		    b.comment || null));
		return send(res, 200, st.history.at(-1));
	}
	return fail(res, 404, 'not_found', `no route for '${p}'`);
}

export async function start(port = 0, { loud = false } = {}) {
	spec = spec || await loadApi();
	const server = http.createServer((req, res) => {
		const url = new URL(req.url, 'http://x');
		if (url.pathname === '/mock/step') {
			step();
			return send(res, 200, { ok: true });
		}
		if (url.pathname.startsWith('/api/')) {
			res.apiCall = { method: req.method, path: url.pathname, loud };
			return api(req, res, url).catch(e => fail(res, 500, 'internal',
			    String(e)));
		}
		if (req.method !== 'GET' && req.method !== 'HEAD')
			return fail(res, 405, 'method_not_allowed', 'no');
		return serveStatic(req, res, url.pathname);
	});
	return new Promise(resolve => server.listen(port, '127.0.0.1', () =>
	    resolve({ server, url: `http://127.0.0.1:${server.address().port}`,
		close: () => {
			for (const c of st.clients)
				c.end();
			server.closeAllConnections();
			server.close();
		} })));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const { url } = await start(Number(process.argv[2] || 8081),
	    { loud: true });
	console.log('mock console at ' + url + ' (tokens: admin, approver, ' +
	    'operator, viewer)');
}
