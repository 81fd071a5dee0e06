// lineage.js - GET /api/v1/runs/{id}/lineage as a graph: commit →
// pipeline version → run → stages → artifacts → model versions →
// rollouts.  Nodes {id, type, label} link to their page when there is one.
import * as api from './api.js';
import { graph } from './dag.js';
import { h, replace, errorBox, statusText } from './render.js';

const TYPE_RE = /^[a-z][a-z_]{0,31}$/;

function digits(v) {
	const m = /(\d+)\s*$/.exec(String(v ?? ''));
	return m ? m[1] : null;
}

function hrefOf(n, runId) {
	const type = String(n.type ?? '');
	if (type === 'run') {
		const id = n.run ?? digits(n.id);
		return id ? '#/runs/' + api.seg(id) : null;
	}
	if (type === 'model_version' || type === 'model') {
		const name = n.model ?? n.name;
		return name ? '#/models/' + api.seg(name) : null;
	}
	if (type === 'pipeline' || type === 'pipeline_version') {
		const name = n.pipeline;
		return name ? '#/pipelines/' + api.seg(name) : null;
	}
	if (type === 'stage' && (n.stage ?? n.name))
		return '#/runs/' + api.seg(n.run ?? runId) + '/stages/' +
		    api.seg(n.stage ?? n.name);
	return null;
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
	const nodes = (Array.isArray(data && data.nodes) ? data.nodes : [])
	    .filter(n => n && n.id !== undefined)
	    .map(n => {
		const type = TYPE_RE.test(String(n.type)) ? n.type : 'other';
		return {
			id: String(n.id),
			label: String(n.label ?? n.id),
			sub: statusText(type) + (n.status ? ' · ' +
			    statusText(n.status) : ''),
			cls: ['t-' + type, n.status ? 'st-' + (TYPE_RE.test(
			    String(n.status)) ? n.status : 'unknown') : null]
			    .filter(Boolean).join(' '),
			href: hrefOf(n, data.run ?? runId),
			title: statusText(type) + ' ' + String(n.label ?? n.id) +
			    (n.status ? ', ' + statusText(n.status) : ''),
		};
	});
	const edges = (Array.isArray(data && data.edges) ? data.edges : [])
	    .filter(e => e && e.from !== undefined && e.to !== undefined)
	    .map(e => ({ from: String(e.from), to: String(e.to),
		cls: TYPE_RE.test(String(e.kind)) ? 'k-' + e.kind : null }));
	if (!nodes.length) {
		replace(box, h('p', { class: 'muted' }, 'No lineage recorded.'));
		return;
	}
	replace(box, graph(nodes, edges, { label: 'Lineage of run ' + runId,
	    room: box.clientWidth || window.innerWidth - 32 }));
}
