// lineage.js - GET /api/v1/runs/{id}/lineage as a graph: commit →
// pipeline version → run → stages → artifacts → model versions →
// rollouts.  Nodes {id, type, label} link to their page when there is one.
import * as api from './api.js';
import { graph } from './dag.js';
import { h, replace, errorBox, statusText, statusClass, ranOn } from
    './render.js';

const TYPE_RE = /^[a-z][a-z_]{0,31}$/;

// The console's page of a node: a run's, a model's, a pipeline's, and a
// stage of the run shown (the graph's stages are all of that run).
function hrefOf(n, runId) {
	switch (n.type) {
	case 'run':
		return '#/runs/' + api.seg(n.run);
	case 'model_version':
		return '#/models/' + api.seg(n.name);
	case 'pipeline_version':
		return '#/pipelines/' + api.seg(n.pipeline);
	case 'stage':
		return '#/runs/' + api.seg(runId) + '/stages/' + api.seg(n.name);
	default:
		return null;
	}
}

// The lineage graph of run, filled into box (which says it is loading).
export async function showLineage(box, runId, { signal } = {}) {
	let data;
	try {
		data = await api.get('/api/v1/runs/' + api.seg(runId) +
		    '/lineage', { signal });
	} catch (e) {
		if (e.name !== 'AbortError')
			replace(box, errorBox(e));
		return;
	}
	const nodes = data.nodes.map(n => {
		const type = TYPE_RE.test(n.type) ? n.type : 'other';
		// where it ran: a model version's own attempt, a stage's last
		const ran = ranOn(type === 'stage' && Array.isArray(n.attempts) ?
		    n.attempts[n.attempts.length - 1] : type === 'model_version' ?
		    n : null);
		return {
			id: n.id,
			label: n.label,
			sub: statusText(type) + (n.status ? ' · ' +
			    statusText(n.status) : ''),
			cls: ['t-' + type, n.status ? statusClass(n.status) : null]
			    .filter(Boolean).join(' '),
			href: hrefOf(n, data.run),
			title: statusText(type) + ' ' + n.label +
			    (n.status ? ', ' + statusText(n.status) : '') +
			    (ran ? ', ' + ran : ''),
			ran,
		};
	});
	const edges = data.edges.map(e => ({ from: e.from, to: e.to,
	    cls: TYPE_RE.test(e.kind) ? 'k-' + e.kind : null }));
	if (!nodes.length) {
		replace(box, h('p', { class: 'muted' }, 'No lineage recorded.'));
		return;
	}
	const ran = nodes.filter(n => n.ran);
	replace(box, graph(nodes, edges, { label: 'Lineage of run ' + runId,
	    room: box.clientWidth || window.innerWidth - 32 }),
	    ran.length ? h('dl', { class: 'ran-on' }, ...ran.flatMap(n => [
		h('dt', {}, n.label), h('dd', {}, n.ran)])) : null);
}
