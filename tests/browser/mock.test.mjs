// mock.test.mjs - the console against the mock API (mock-api.mjs), which
// answers in docs/api.yaml's shapes with hostile strings in every free-text
// field and every status at once.  What is checked here is rendering:
// escaping, role-aware controls, keyboard use, live updates from SSE, a
// hidden tab's silence, the size budget; and that every answer the mock
// gave matches docs/api.yaml, so the console reads the documented field
// names.  Layout, light and dark are in mock-layout.test.mjs, which runs
// beside this with a mock of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, HOSTILE, PAGES, violations } from './mock-api.mjs';
import { loadApi } from './openapi.mjs';
import { launch, newPage, signIn, signedInPages, visit, firstLoadBytes,
    BUDGET } from './lib.mjs';

let mock, chrome, pages;

before(async () => {
	mock = await start(0);
	chrome = await launch();
	pages = signedInPages(chrome.browser, mock.url);
});

test('the schemas of docs/api.yaml catch a renamed field', async () => {
	const api = await loadApi();
	const repo = { name: 'demo', url: 'file:///x.git', branches: ['main'],
	    path: 'pipelines', interval_ms: null, auth: {}, source: 'config',
	    poll_status: 'ok', last_poll_at: null, last_success_at: null,
	    last_error: null, next_poll_at: '2026-01-01T00:00:00Z',
	    consecutive_failures: 0, refresh_requested_at: null, heads: {},
	    pipelines: 1, created_at: '2026-01-01T00:00:00Z' };
	const list = r => ({ repositories: [r], next_cursor: null });
	assert.deepEqual(api.check('GET', '/api/v1/repositories', 200,
	    list(repo)), []);
	const { poll_status, ...renamed } = repo;
	const bad = api.check('GET', '/api/v1/repositories', 200,
	    list({ ...renamed, status: poll_status }));
	assert.ok(bad.some(m => /required property 'poll_status'/.test(m)),
	    bad.join('\n'));
	assert.ok(bad.some(m => /additional properties "status"/.test(m)),
	    bad.join('\n'));
	// A field the document lists but does not require, renamed deep in
	// a run: the closed objects notice.
	const r = await fetch(mock.url + '/api/v1/session', { method: 'POST',
	    body: JSON.stringify({ token: 'viewer' }) });
	const cookie = r.headers.get('set-cookie').split(';')[0];
	const run = await (await fetch(mock.url + '/api/v1/runs/3',
	    { headers: { cookie } })).json();
	assert.deepEqual(api.check('GET', '/api/v1/runs/3', 200, run), []);
	run.stages[0].start_time = run.stages[0].started_at;
	delete run.stages[0].started_at;
	assert.match(api.check('GET', '/api/v1/runs/3', 200, run).join('\n'),
	    /\/stages\/0 must NOT have additional properties "start_time"/);
	assert.match(api.check('GET', '/api/v1/runs/3', 500, {}).join('\n'),
	    /not documented/);
	assert.ok(api.check('GET', '/api/v1/nowhere', 200, {}).length > 0,
	    'an undocumented path passes');
});

test('mock: every API answer matches docs/api.yaml', async () => {
	const cookie = await (async () => {
		const r = await fetch(mock.url + '/api/v1/session', { method: 'POST',
		    body: JSON.stringify({ token: 'viewer' }) });
		return r.headers.get('set-cookie').split(';')[0];
	})();
	const before = violations.length;
	for (const p of ['/api/v1/session', '/api/v1/runs?limit=25',
	    '/api/v1/runs?pipeline=demo&status=failed', '/api/v1/runs/3',
	    '/api/v1/runs/4', '/api/v1/runs/3/lineage', '/api/v1/approvals',
	    '/api/v1/approvals?status=pending', '/api/v1/approvals/1',
	    '/api/v1/approvals/99', '/api/v1/pipelines', '/api/v1/pipelines/demo',
	    '/api/v1/pipelines/broken', '/api/v1/pipelines/nope',
	    '/api/v1/repositories', '/api/v1/models',
	    '/api/v1/models/demo/versions', '/api/v1/targets/demo-api/history',
	    '/api/v1/targets/demo-api/history?at=2000-01-01T00:00:00Z',
	    '/api/v1/targets/demo-api/history?at=2999-01-01T00:00:00Z']) {
		const r = await fetch(mock.url + p, { headers: { cookie } });
		assert.ok(r.status === 200 || r.status === 404, p + ' ' + r.status);
		await r.arrayBuffer();
	}
	assert.deepEqual(violations.slice(before), []);
});

after(async () => {
	await pages?.close();
	await chrome?.close();
	mock?.close();
});

// Before any test moves run 3 on.
test('mock: the run page starts with where the run is, and a link there',
    async () => {
	const page = await pages.get('viewer', { width: 390, height: 844 });
	await visit(page, '#/runs/4');
	const glance = page.locator('#run-glance');
	await glance.getByText('Failed at stage train: attempt 2 of 2 failed: ' +
	    'exit status 1').waitFor();
	await glance.getByText('1 of 3 stages succeeded').waitFor();
	// It is the first thing under the title.
	assert.equal(await page.evaluate(() => document.querySelector(
	    '.run-page .page-head').nextElementSibling.id), 'run-glance');
	await glance.getByRole('link', { name: 'Go to train' }).click();
	await page.waitForURL(/#\/runs\/4\/stages\/train$/);
	await page.waitForFunction(() => {
		const r = document.getElementById('stage-train')
		    .getBoundingClientRect();
		return r.top >= 0 && r.top < 40;
	});
	await visit(page, '#/runs/3');
	await glance.getByText('Waiting at stage rollout: waiting for approval ' +
	    'of step 2 (weight 50%)').waitFor();
	await glance.getByRole('link', { name: 'Go to rollout' }).waitFor();
	assert.deepEqual(page.errors, []);
});

test('mock: the run page and the lineage say where an attempt ran',
    async () => {
	const page = await pages.get('viewer');
	const ran = 'image sha256:2c26b46b68ff… on node gpu-node-7 ' +
	    '(NVIDIA-H100-80GB-HBM3)';
	await visit(page, '#/runs/4');
	await page.locator('#stage-train').getByText(ran).first().waitFor();
	await page.locator('dl.ran-on').getByText(ran).first().waitFor();
	assert.deepEqual(page.errors, []);
});

test('mock: a Kueue attempt shows its queue, flavor, admission and evictions',
    async () => {
	const page = await pages.get('viewer');
	await visit(page, '#/runs/3');
	const table = page.getByRole('table', { name: 'Attempts of train' });
	await table.getByRole('columnheader', { name: 'Kueue' }).waitFor();
	const cell = await table.getByRole('row').nth(1).getByRole('cell')
	    .last().innerText();
	assert.match(cell, /^ml-training on h100 admitted .+ ago evicted 1 time$/s);
	// a stage without a queue has no Kueue column
	await page.getByRole('table', { name: 'Attempts of prepare' }).waitFor();
	assert.equal(await page.getByRole('table', { name: 'Attempts of ' +
	    'prepare' }).getByRole('columnheader', { name: 'Kueue' }).count(), 0);
	assert.deepEqual(page.errors, []);
});

async function plainText(page, hash) {
	const text = await page.locator('main').innerText();
	assert.doesNotMatch(text, /\b(null|undefined|NaN)\b|\[object /,
	    hash + ' shows a JavaScript value instead of a fact');
}

test('mock: every page renders API values as text, with no console error',
    async () => {
	const page = await pages.get('admin');
	for (const hash of PAGES) {
		await visit(page, hash);
		await plainText(page, hash);
	}
	await visit(page, '#/pipelines/broken');
	await page.getByText('pipelines/broken.yaml:7:5: unknown field "comand" ' +
	    HOSTILE).waitFor();
	await visit(page, '#/runs/3');
	await page.getByText(HOSTILE).first().waitFor();
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	assert.equal(await page.locator('main img').count(), 0,
	    'an <img> from an API value was parsed as HTML');
	assert.equal(await page.locator('main b').count(), 0);
	assert.deepEqual(page.errors, []);
	assert.deepEqual(page.foreign, [], 'requests to other hosts');
});

test('mock: an invalid file without a name is listed with its error',
    async () => {
	const page = await pages.get('viewer');
	await visit(page, '#/pipelines');
	await page.getByText('pipelines/nameless.yaml:3:1: missing required ' +
	    'field "name"').waitFor();
	await page.getByText('(no readable name)').waitFor();
	await page.getByText('pipelines/broken.yaml:7:5: unknown field ' +
	    '"comand" ' + HOSTILE).first().waitFor();
	await visit(page, '#/pipelines/demo');
	await page.locator('#next-fire').waitFor();
	assert.deepEqual(page.errors, []);
});

test('mock: first load stays under 150 KB', async () => {
	for (const [hash, token] of [['#/runs', null], ['#/runs', 'viewer'],
	    ['#/runs/3', 'viewer']]) {
		const { total, sizes } = await firstLoadBytes(chrome.browser,
		    mock.url, hash, token);
		assert.ok(sizes.has('/index.html') || sizes.has('/'),
		    'index.html was loaded');
		assert.ok(sizes.has('/app.css') && sizes.has('/js/app.js'));
		assert.ok(total < BUDGET, `${hash}: ${total} bytes: ` +
		    JSON.stringify([...sizes]));
	}
});

test('mock: a rollout\'s analysis is charted per query against its threshold', async () => {
	const page = await pages.get('viewer');
	await visit(page, '#/runs/3');
	const chart = page.locator('.analysis-charts svg.analysis-chart');
	await chart.first().waitFor();
	assert.equal(await chart.count(), 1);
	assert.equal(await chart.getAttribute('aria-label'), 'Step 1: ' +
	    'error_rate: 5 measurements, 2 passed, 2 failed, 1 inconclusive; ' +
	    'threshold <= 0.01; last 0.03');
	assert.equal(await page.locator('.analysis-charts .an-threshold')
	    .count(), 1);
	assert.equal(await page.locator('.analysis-charts .an-fail').count(), 2);
	assert.equal(await page.locator('.analysis-charts figcaption')
	    .innerText(), 'Step 1: error_rate <= 0.01 · last 0.03 (fail)');
	assert.deepEqual(page.errors, []);
});

test('mock: a viewer sees no control it cannot use', async () => {
	const page = await pages.get('viewer');
	assert.equal(await page.locator('#who-role').textContent(), 'viewer');
	await visit(page, '#/approvals');
	await page.getByText('Promote demo-api to 50%').waitFor();
	assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Reject' }).count(), 0);
	await visit(page, '#/runs/3');
	assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);
	await visit(page, '#/pipelines/demo');
	assert.equal(await page.getByRole('button', { name: 'Start run' }).count(), 0);
	await visit(page, '#/repositories');
	assert.equal(await page.getByRole('button', { name: 'Refresh now' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Add repository' }).count(), 0);
	await visit(page, '#/models/demo');
	await page.locator('#history-demo-api .timeline-item').first().waitFor();
	assert.equal(await page.getByRole('button', { name: 'Roll back' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Promote' }).count(), 0);
	for (const hash of PAGES) {
		await visit(page, hash);
		await plainText(page, hash);
	}
	assert.deepEqual(page.errors, []);
});

test('mock: an approver pauses and resumes a rollout, each confirmed',
    async () => {
	const page = await pages.get('approver');
	// the inbox: pause, with a confirmation naming target and weight
	await visit(page, '#/approvals');
	const card = page.locator('#approval-1');
	await card.getByRole('button', { name: 'Pause' }).click();
	await card.getByText('Pause the rollout of demo-api at 50%?').waitFor();
	await card.locator('#rollout-comment-1').fill('checking latency');
	await card.getByRole('button', { name: 'Yes, pause' }).click();
	await card.getByText('Paused by approver').waitFor();
	await card.getByRole('button', { name: 'Resume' }).waitFor();
	// the run page's rollout card: the same actions, resume it there
	await visit(page, '#/runs/3');
	const box = page.locator('#rollout-actions-1');
	await box.getByText('Paused by approver').waitFor();
	await box.getByRole('button', { name: 'Resume' }).click();
	await box.getByText('Resume the rollout of demo-api at 50%?').waitFor();
	await box.getByRole('button', { name: 'Yes, resume' }).click();
	await box.getByRole('button', { name: 'Pause' }).waitFor();
	// promote-full and abort say what they will do; "Keep it" does nothing
	await box.getByRole('button', { name: 'Promote to 100%' }).click();
	await box.getByText('Promote demo-api from 50% to 100% now, skipping '
	    + 'the remaining steps and approvals?').waitFor();
	await box.getByRole('button', { name: 'Keep it' }).click();
	await box.getByRole('button', { name: 'Abort' }).click();
	await box.getByText('Abort the rollout of demo-api at 50% and roll '
	    + 'traffic back to 0% (the stable model)?').waitFor();
	await box.getByRole('button', { name: 'Keep it' }).click();
	await box.getByRole('button', { name: 'Abort' }).waitFor();
	assert.deepEqual(page.errors, []);
	// a viewer and an operator see none of it
	for (const role of ['viewer', 'operator']) {
		const v = await pages.get(role);
		await visit(v, '#/runs/3');
		await v.locator('#h-models').waitFor();
		assert.equal(await v.locator('.rollout-actions').count(), 0);
	}
});

test('mock: an operator can cancel and start runs but not approve',
    async () => {
	const page = await pages.get('operator');
	await visit(page, '#/runs/3');
	await page.getByRole('button', { name: 'Cancel run' }).waitFor();
	assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
	await visit(page, '#/pipelines/demo');
	await page.getByLabel('epochs').fill('7');
	await page.getByRole('button', { name: 'Start run' }).click();
	await page.waitForURL(/#\/runs\/\d+$/);
	await page.getByText('epochs=7').waitFor();
	await visit(page, '#/repositories');
	await page.getByRole('button', { name: 'Refresh now' }).first().waitFor();
	assert.equal(await page.getByRole('button', { name: 'Remove' }).count(), 0);
	assert.deepEqual(page.errors, []);
});

test('mock: approve with the keyboard alone', async () => {
	const page = await pages.get('approver');
	await visit(page, '#/approvals');
	const comment = page.getByLabel('Comment');
	await comment.focus();
	await page.keyboard.type('canary is healthy');
	await page.keyboard.press('Tab');
	const focused = await page.evaluate(() => document.activeElement.textContent);
	assert.equal(focused, 'Approve');
	await page.keyboard.press('Enter');
	await page.locator('#decided-approvals').getByText('canary is healthy')
	    .waitFor();
	await page.getByText('Nothing is waiting for approval.').waitFor();
	assert.deepEqual(page.errors, []);
});

test('mock: a stage starts and logs live, without reloading', async () => {
	const page = await pages.get('viewer');
	await visit(page, '#/runs/3');
	await page.locator('#live[data-state="live"]').waitFor();
	const report = page.locator('#stage-report');
	await report.getByText('pending').waitFor();
	await page.evaluate(() => { window.__same = true; });
	await fetch(mock.url + '/mock/step');
	await report.getByText('running', { exact: true }).first().waitFor();
	await report.getByRole('link', { name: 'Show log' }).click();
	await page.locator('#log-text').getByText('starting report').waitFor();
	await fetch(mock.url + '/mock/step');
	await page.locator('#log-text').getByText('step').waitFor();
	assert.equal(await page.evaluate(() => window.__same), true,
	    'the page was reloaded');
	assert.deepEqual(page.errors, []);
});

test('mock: a multi-node stage shows node 0\'s log first, the others ' +
    'by the picker', async () => {
	const page = await pages.get('viewer');
	await visit(page, '#/runs/3');
	await page.locator('#stage-train').getByRole('link',
	    { name: 'Show log' }).click();
	await page.locator('#log-text').getByText('rank 0: waiting').waitFor();
	const picker = page.getByRole('combobox', { name: 'Node' });
	await picker.waitFor();
	assert.deepEqual(await picker.locator('option').allInnerTexts(),
	    ['Node 0', 'Node 1']);
	await picker.selectOption('1');
	await page.locator('#log-text').getByText('rank 1: ').waitFor();
	assert.match(await page.locator('#log-text').innerText(),
	    /^rank 1: <img src=x onerror=/);
	// a single-node stage has no picker
	await page.locator('#stage-prepare').getByRole('link',
	    { name: 'Show log' }).click();
	await page.locator('#log-text').getByText('rows=4000').waitFor();
	assert.equal(await picker.isVisible(), false);
	assert.deepEqual(page.errors, []);
});

test('mock: a hidden tab fetches nothing, and catches up when shown',
    async () => {
	const { context, page } = await newPage(chrome.browser, mock.url);
	await signIn(page, 'viewer');
	await visit(page, '#/repositories');
	await page.locator('#repo-demo').waitFor();
	const setHidden = hidden => page.evaluate(value => {
		Object.defineProperty(document, 'hidden', { configurable: true,
		    get: () => value });
		document.dispatchEvent(new Event('visibilitychange'));
	}, hidden);
	await setHidden(true);
	await page.waitForTimeout(300);		// an answer on its way
	let polls = 0;
	const isPoll = r => new URL(r.url()).pathname === '/api/v1/repositories';
	page.on('request', r => {
		if (isPoll(r))
			polls++;
	});
	await page.waitForTimeout(6500);	// the page polls every 5 s
	assert.equal(polls, 0, 'a hidden tab polled the repositories');
	const shown = page.waitForRequest(isPoll, { timeout: 3000 });
	await setHidden(false);
	await shown;
	assert.deepEqual(page.errors, []);
	await context.close();
});

test('mock: the model page shows each target\'s production history, the ' +
    'gate metrics against production, and rolls back by hand', async () => {
	const page = await pages.get('approver');
	await visit(page, '#/models/demo');
	const hist = page.locator('#history-demo-api');
	await hist.locator('.timeline-item').nth(1).waitFor();
	// newest first, the reason as text
	assert.match(await hist.locator('.timeline-item').first().innerText(),
	    /demo v2.*rollout.*after v1.*by amy.*<img src=x onerror=/s);
	// the verdict of the rejected version, and its gate metrics against
	// production's, with the difference
	await page.locator('td', { hasText: 'gate failed: <img' }).waitFor();
	await page.locator('#lineage-v3').click();
	const cmp = page.locator('#h-compare + div table');
	await cmp.locator('caption', { hasText: 'v3 vs v2 in production on ' +
	    'demo-api' }).waitFor();
	assert.match(await cmp.locator('tr', { hasText: 'auc' }).innerText(),
	    /0\.83\s+0\.82\s+\+0\.01/);
	// what served at an instant
	// (the field takes local time; a minute ago is after the history)
	const local = Date.now() - 60e3 - new Date().getTimezoneOffset() * 60e3;
	await hist.getByLabel('What served demo-api at').fill(
	    new Date(local).toISOString().slice(0, 19));
	await hist.getByRole('button', { name: 'Show' }).click();
	await hist.locator('.at-answer', { hasText: 'demo v2' }).waitFor();
	// roll back by hand: v1 serves again, the timeline says so
	await page.locator('#manual-comment-demo-api').fill('too slow');
	await page.locator('#rollback-demo-api').click();
	await hist.locator('.timeline-item').first()
	    .getByText('too slow').waitFor();
	assert.match(await hist.locator('.timeline-item').first().innerText(),
	    /demo v1.*rollback.*after v2/s);
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	assert.deepEqual(page.errors, []);
});

test('mock: the search box takes a commit, a run id and a model version',
    async () => {
	const page = await pages.get('viewer');
	await visit(page, '#/runs');
	const box = page.getByRole('searchbox',
	    { name: 'Find' });
	// a commit prefix: everything that came from it
	await box.fill('ABC1234');
	await box.press('Enter');
	await page.waitForURL(/#\/commits\/abc1234$/);
	await page.getByRole('heading', { name: 'Runs' }).waitFor();
	await page.getByRole('link', { name: 'demo v2' }).waitFor();
	assert.equal(await page.locator('main a[href="#/runs/3"]').count() > 0,
	    true);
	assert.equal(await page.evaluate(() => window.__xss), undefined);
	// several commits share it: both are offered
	await box.fill('ddddddd');
	await box.press('Enter');
	await page.getByRole('alert').getByText('is ambiguous').waitFor();
	assert.equal(await page.locator('main a[href^="#/commits/dddd"]')
	    .count(), 2);
	// a run id, a model version
	await box.fill('3');
	await box.press('Enter');
	await page.waitForURL(/#\/runs\/3$/);
	await box.fill('demo v1');
	await box.press('Enter');
	await page.waitForURL(/#\/models\/demo\?version=1$/);
	await page.getByRole('heading', { name: 'Lineage of demo v1' })
	    .waitFor();
	// the browser logs the 409 it was answered, as it does any 4xx
	assert.deepEqual(page.errors.filter(e => !/status of 409/.test(e)),
	    []);
});

// Last: everything the mock answered during these tests.
test('mock: every answer during the tests matched docs/api.yaml', () => {
	assert.deepEqual(violations, []);
});
