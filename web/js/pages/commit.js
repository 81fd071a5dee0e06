// pages/commit.js - everything that came from one commit (#/commits/SHA,
// SHA a prefix of 7 or more hex digits): its pipeline versions, runs and
// their retries, model versions, rollouts and approvals, from
// GET /api/v1/lineage?commit=.
import * as api from '../api.js';
import { h, replace, badge, ago, table, dl, errorBox, shortSha,
    firstLine, append } from '../render.js';

function runLink(id) {
	return h('a', { href: '#/runs/' + api.seg(id) }, '#' + id);
}

function section(id, title, body) {
	return h('section', { 'aria-labelledby': id }, h('h2', { id }, title),
	    body);
}

function render(ctx, box, d) {
	const c = d.commit;
	ctx.title('Commit ' + shortSha(c.sha));
	replace(box,
	    dl([['Commit', h('code', {}, c.sha)],
		['Message', firstLine(c.message)],
		['Author', c.author],
		['Time', ago(c.time)],
		['Repositories', (c.repositories || []).join(', ')]]),
	    section('h-runs', 'Runs', table(d.runs, [
		['Run', r => runLink(r.id)],
		['Pipeline', r => r.pipeline],
		['Status', r => badge(r.status)],
		['Trigger', r => r.trigger + (r.parent_run ?
		    ' of #' + r.parent_run : '')],
		['Started', r => ago(r.created_at), 'wide-only'],
	    ], { caption: 'Runs of this commit',
		empty: 'No run started from this commit.' })),
	    section('h-models', 'Model versions', table(d.model_versions, [
		['Model', m => h('a', { href: '#/models/' + api.seg(m.name) +
		    '?version=' + api.seg(m.version) }, m.name + ' v' +
		    m.version)],
		['Status', m => badge(m.status)],
		['Target', m => m.target ?? ''],
		['Run', m => runLink(m.run)],
	    ], { caption: 'Model versions', empty: 'No model version.' })),
	    section('h-rollouts', 'Rollouts', table(d.rollouts, [
		['Run', r => runLink(r.run)],
		['Target', r => r.target],
		['Status', r => badge(r.status)],
		['Weight', r => r.current_weight + '%', 'num'],
		['Model', r => r.model ? r.model.name + ' v' +
		    r.model.version : ''],
	    ], { caption: 'Rollouts', empty: 'No rollout.' })),
	    section('h-approvals', 'Approvals', table(d.approvals, [
		['Run', a => runLink(a.run)],
		['Step', a => String(a.step) + ' (' + a.weight + '%)'],
		['Status', a => badge(a.status)],
		['Decided by', a => a.decided_by ?? ''],
		['Comment', a => a.comment ?? '', 'wide-only'],
	    ], { caption: 'Approvals', empty: 'No approval.' })),
	    section('h-versions', 'Pipeline versions',
		table(d.pipeline_versions, [
		    ['Pipeline', v => v.pipeline ? h('a', { href:
			'#/pipelines/' + api.seg(v.pipeline) }, v.pipeline) :
			''],
		    ['File', v => h('code', {}, v.file)],
		    ['Valid', v => v.valid ? 'yes' : 'no (' +
			v.errors.length + ' errors)'],
		], { caption: 'Pipeline files at this commit',
		    empty: 'No pipeline file at this commit.' })));
}

// The candidates a 409 names, as links to their own pages.
function ambiguous(box, err) {
	const shas = (err.message.match(/[0-9a-f]{40,64}/g) || []);
	replace(box, errorBox(err), h('ul', { class: 'plain' },
	    shas.map(s => h('li', {}, h('a', { href: '#/commits/' + s },
		h('code', {}, s))))));
}

export function mount(ctx) {
	const sha = ctx.params.sha.toLowerCase();
	const box = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
	const ctl = new AbortController();
	ctx.title('Commit ' + shortSha(sha));
	append(ctx.el, h('div', { class: 'page-head' },
	    h('h1', {}, 'Commit ', h('code', {}, shortSha(sha)))), box);
	api.get(api.withQuery('/api/v1/lineage', { commit: sha }),
	    { signal: ctl.signal }).then(d => render(ctx, box, d), err => {
		if (ctl.signal.aborted)
			return;
		if (err.status === 409)
			ambiguous(box, err);
		else if (err.status === 404 && /^\d+$/.test(sha))
			ctx.navigate('#/runs/' + String(Number(sha)),
			    { replace: true });
		else
			replace(box, errorBox(err.status === 404 ?
			    new Error('No commit starts with ' + sha + '.') :
			    err));
	});
	return { unmount: () => ctl.abort() };
}
