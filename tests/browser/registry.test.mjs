// registry.test.mjs - the model registry in the console, against the mock
// API (mock-api.mjs), as an ML lead reads it: the approval card compares
// the metrics the candidate's gates judged (the evaluate stage's) with
// production's, side by side with the difference; the models page shows a
// timeline per target, and a promotion by hand says that the controller
// moves the traffic and, on the timeline, when it has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, violations } from './mock-api.mjs';
import { launch, signedInPages, visit } from './lib.mjs';

let mock, chrome, pages;

before(async () => {
	mock = await start(0);
	chrome = await launch();
	pages = signedInPages(chrome.browser, mock.url);
});

after(async () => {
	await pages?.close();
	await chrome?.close();
	mock?.close();
});

test('registry: the approval card compares the gate\'s metrics with ' +
    'production\'s, with the difference', async () => {
	const page = await pages.get('approver');
	await visit(page, '#/approvals');
	const card = page.locator('#approval-1');
	const cmp = card.locator('table', { has: page.locator('caption',
	    { hasText: 'Gate metrics: candidate vs production' }) });
	await cmp.waitFor();
	assert.match(await cmp.locator('tr', { hasText: 'auc' }).innerText(),
	    /0\.934\s+0\.92\s+\+0\.014/);
	assert.match(await cmp.locator('tr', { hasText: 'f1' }).innerText(),
	    /0\.71\s+0\.7\s+\+0\.01/);
	// the training metrics are not what it compares
	assert.equal(await cmp.locator('tr', { hasText: 'loss' }).count(), 0);
	assert.deepEqual(page.errors, []);
});

test('registry: a promotion by hand shows on the target\'s timeline, ' +
    'with the traffic the controller moves', async () => {
	const page = await pages.get('approver');
	await visit(page, '#/models/demo');
	const hist = page.locator('#history-demo-api');
	await hist.locator('.timeline-item').nth(1).waitFor();
	await page.locator('#promote-v-demo-api').selectOption('1');
	await page.locator('#manual-comment-demo-api').fill('back to v1');
	await page.locator('#promote-demo-api').click();
	await page.getByText('demo-api now serves v1. The controller moves ' +
	    'its traffic (kserve demo)').waitFor();
	const first = hist.locator('.timeline-item').first();
	await first.getByText('back to v1').waitFor();
	assert.match(await first.innerText(),
	    /demo v1.*promote.*after v2.*Traffic \(kserve demo\)/s);
	// once moved, the timeline says so (the page is read again)
	await visit(page, '#/runs');
	await visit(page, '#/models/demo');
	await first.locator('.badge', { hasText: 'done' }).waitFor();
	assert.match(await first.locator('.traffic-follow').innerText(),
	    /serves file:\/\/\/m\/1 to every request/);
	assert.deepEqual(page.errors, []);
});

// Last: everything the mock answered during these tests.
test('registry: every answer matched docs/api.yaml', () => {
	assert.deepEqual(violations, []);
});
