// dag.js - a directed acyclic graph as inline SVG: the stage graph of a
// run or pipeline, and the lineage graph (commit → run → model version →
// rollout).
//
// Layout by topological levels (longest path from a source), left to
// right, or top to bottom when the graph is wider than the room it has
// (phones).  Within a level, nodes are ordered by the mean position of
// their predecessors, which keeps simple pipelines free of crossings.
// Colours come from CSS classes (st-<status>, t-<type>); every node has
// an accessible name, and nodes with a link are focusable.

import { s, h } from './render.js';

const W = 164, H = 50, PAD = 8;
let seq = 0;

function clip(text, max) {
	const t = String(text ?? '');
	return t.length > max ? t.slice(0, max - 1) + '…' : t;
}

// Levels and order; returns {levels: [[node]], level: Map(id → n)}.
function layout(nodes, edges) {
	const byId = new Map(nodes.map(n => [n.id, n]));
	const preds = new Map(nodes.map(n => [n.id, []]));
	const succs = new Map(nodes.map(n => [n.id, []]));
	for (const e of edges) {
		if (!byId.has(e.from) || !byId.has(e.to) || e.from === e.to)
			continue;
		preds.get(e.to).push(e.from);
		succs.get(e.from).push(e.to);
	}
	// Kahn's algorithm, longest path; a cycle's nodes go last.
	const indeg = new Map(nodes.map(n => [n.id, preds.get(n.id).length]));
	const level = new Map();
	let queue = nodes.filter(n => indeg.get(n.id) === 0).map(n => n.id);
	for (const id of queue)
		level.set(id, 0);
	while (queue.length) {
		const next = [];
		for (const id of queue) {
			for (const t of succs.get(id)) {
				level.set(t, Math.max(level.get(t) ?? 0,
				    level.get(id) + 1));
				indeg.set(t, indeg.get(t) - 1);
				if (indeg.get(t) === 0)
					next.push(t);
			}
		}
		queue = next;
	}
	let max = Math.max(0, ...level.values());
	for (const n of nodes)
		if (!level.has(n.id) || indeg.get(n.id) > 0)
			level.set(n.id, ++max);
	const levels = [];
	for (const n of nodes)
		(levels[level.get(n.id)] ||= []).push(n);
	const pos = new Map();
	levels.forEach((lv, li) => {
		if (li > 0) {
			const mean = n => {
				const p = preds.get(n.id).filter(x => pos.has(x));
				return p.length ? p.reduce((a, x) => a +
				    pos.get(x), 0) / p.length : Infinity;
			};
			const keyed = lv.map((n, i) => [mean(n), i, n]);
			keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
			lv.splice(0, lv.length, ...keyed.map(k => k[2]));
		}
		lv.forEach((n, i) => pos.set(n.id, i));
	});
	return { levels: levels.filter(Boolean), byId, preds };
}

// Build the graph.  nodes: [{id, label, sub, cls, href, title}], edges:
// [{from, to}]; opts: {label (accessible name), room (px available)}.
export function graph(nodes, edges, { label = 'Graph', room = 0 } = {}) {
	const { levels } = layout(nodes, edges);
	const widest = Math.max(1, ...levels.map(l => l.length));
	const hGap = 52, hRow = 18, vGap = 40, vCol = 16;
	const horizW = PAD * 2 + levels.length * W + (levels.length - 1) * hGap;
	const vertical = room > 0 && horizW > room && levels.length > 1;
	const pos = new Map();
	let width, height;
	if (!vertical) {
		width = horizW;
		height = PAD * 2 + widest * H + (widest - 1) * hRow;
		levels.forEach((lv, li) => {
			const off = (height - PAD * 2 - (lv.length * H +
			    (lv.length - 1) * hRow)) / 2;
			lv.forEach((n, i) => pos.set(n.id, {
				x: PAD + li * (W + hGap),
				y: PAD + off + i * (H + hRow),
			}));
		});
	} else {
		width = PAD * 2 + widest * W + (widest - 1) * vCol;
		height = PAD * 2 + levels.length * H + (levels.length - 1) * vGap;
		levels.forEach((lv, li) => {
			const off = (width - PAD * 2 - (lv.length * W +
			    (lv.length - 1) * vCol)) / 2;
			lv.forEach((n, i) => pos.set(n.id, {
				x: PAD + off + i * (W + vCol),
				y: PAD + li * (H + vGap),
			}));
		});
	}
	const marker = 'arrow-' + (++seq);
	const svg = s('svg', {
		class: ['graph-svg', vertical ? 'vertical' : 'horizontal'],
		viewBox: `0 0 ${width} ${height}`,
		width, height, role: 'group', 'aria-label': label,
	},
	s('defs', {}, s('marker', { id: marker, viewBox: '0 0 10 10',
	    refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
	    orient: 'auto-start-reverse' },
	    s('path', { d: 'M0 0L10 5L0 10z', class: 'arrow' }))));
	const g = s('g', { class: 'edges', 'aria-hidden': 'true' });
	svg.append(g);
	for (const e of edges) {
		const a = pos.get(e.from), b = pos.get(e.to);
		if (!a || !b || e.from === e.to)
			continue;
		let d;
		if (!vertical) {
			const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2,
			    y2 = b.y + H / 2, mx = (x1 + x2) / 2;
			d = `M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`;
		} else {
			const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2,
			    y2 = b.y - 2, my = (y1 + y2) / 2;
			d = `M${x1} ${y1}C${x1} ${my} ${x2} ${my} ${x2} ${y2}`;
		}
		g.append(s('path', { d, class: ['edge', e.cls],
		    'marker-end': `url(#${marker})` }));
	}
	for (const n of nodes) {
		const p = pos.get(n.id);
		const title = n.title || [n.label, n.sub].filter(Boolean)
		    .join(', ');
		const body = [
			s('title', {}, title),
			s('rect', { x: p.x, y: p.y, width: W, height: H, rx: 8,
			    class: ['node', n.cls] }),
			s('rect', { x: p.x, y: p.y, width: 6, height: H, rx: 3,
			    class: ['node-bar', n.cls] }),
			s('text', { x: p.x + 16, y: p.y + (n.sub ? 21 : 30),
			    class: 'node-label' }, clip(n.label, 19)),
			n.sub ? s('text', { x: p.x + 16, y: p.y + 38,
			    class: 'node-sub' }, clip(n.sub, 24)) : null,
		];
		svg.append(n.href ?
		    s('a', { href: n.href, class: ['node-link', n.selected &&
			'selected'], 'aria-label': title,
			id: n.domId }, body) :
		    s('g', { role: 'img', 'aria-label': title,
			class: 'node-g' }, body));
	}
	return h('div', { class: 'graph' }, svg);
}
