// chart.js - a small inline SVG chart of one metric across a pipeline's
// recent runs, and the bounded loader of those runs.
import * as api from './api.js';
import { s, fmtNumber } from './render.js';

const W = 132, H = 30, P = 3;
export const HISTORY_RUNS = 20;
const CONCURRENCY = 4, TTL_MS = 15000;

// points: [{run, value, current}] oldest first.  label names the metric.
export function sparkline(points, label) {
	const vals = points.map(p => p.value);
	const lo = Math.min(...vals), hi = Math.max(...vals);
	const span = hi - lo || 1;
	const x = i => points.length === 1 ? W / 2 :
	    P + i * (W - 2 * P) / (points.length - 1);
	const y = v => hi === lo ? H / 2 : H - P - (v - lo) * (H - 2 * P) /
	    span;
	const cur = points.findIndex(p => p.current);
	const desc = `${label} over the last ${points.length} run` +
	    (points.length === 1 ? '' : 's') + `: from ${fmtNumber(vals[0])}` +
	    ` to ${fmtNumber(vals[vals.length - 1])}, lowest ${fmtNumber(lo)},` +
	    ` highest ${fmtNumber(hi)}` + (cur >= 0 ?
	    `; this run ${fmtNumber(vals[cur])}` : '');
	const line = points.map((p, i) => `${x(i).toFixed(1)},` +
	    `${y(p.value).toFixed(1)}`).join(' ');
	return s('svg', { class: 'spark', viewBox: `0 0 ${W} ${H}`, width: W,
	    height: H, role: 'img', 'aria-label': desc },
	    s('title', {}, desc),
	    s('line', { x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5,
		class: 'spark-base' }),
	    points.length > 1 ? s('polyline', { points: line,
		class: 'spark-line' }) : null,
	    points.map((p, i) => s('circle', { cx: x(i).toFixed(1),
		cy: y(p.value).toFixed(1), r: p.current ? 3.2 : 1.6,
		class: p.current ? 'spark-dot current' : 'spark-dot' })));
}

// Metric series of a pipeline's recent runs: Map("stage.metric" →
// [{run, value}]) oldest first.  At most HISTORY_RUNS runs and as many
// requests; cached briefly so that live refreshes do not refetch.
const cache = new Map();	// pipeline → {at, promise}

export function history(pipeline, { fresh = false } = {}) {
	const hit = cache.get(pipeline);
	if (hit && !fresh && Date.now() - hit.at < TTL_MS)
		return hit.promise;
	const promise = load(pipeline);
	cache.set(pipeline, { at: Date.now(), promise });
	promise.catch(() => cache.delete(pipeline));
	return promise;
}

async function load(pipeline) {
	const data = await api.get(api.withQuery('/api/v1/runs',
	    { pipeline, limit: HISTORY_RUNS }));
	const list = data.runs.slice(0, HISTORY_RUNS);
	// A list has stages as name and status only: fetch each run (its
	// metrics), a few at a time.
	const out = new Array(list.length);
	let next = 0;
	const worker = async () => {
		while (next < list.length) {
			const i = next++;
			try {
				out[i] = await api.get('/api/v1/runs/' +
				    api.seg(list[i].id));
			} catch {
				out[i] = null;
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(CONCURRENCY,
	    list.length) }, worker));
	const runs = out.filter(Boolean);
	runs.sort((a, b) => a.id - b.id);
	const series = new Map();
	for (const r of runs) {
		for (const st of r.stages) {
			for (const [k, v] of Object.entries(st.metrics)) {
				if (!Number.isFinite(v))
					continue;
				const key = st.name + '.' + k;
				if (!series.has(key))
					series.set(key, []);
				series.get(key).push({ run: String(r.id), value: v });
			}
		}
	}
	return series;
}

// One analysis query of a canary step measured against its threshold
// (GET /api/v1/runs/{id}: rollouts[].measurements).  ms: that query's
// measurements of that step, by slot; op and threshold are the query's.
// Values are points on a line; failed ones are marked, inconclusive ones
// (no value) sit on the bottom edge.
const AW = 260, AH = 64, AP = 5;

export function analysisChart(ms, label) {
	const op = ms[ms.length - 1].op;
	const thr = ms[ms.length - 1].threshold;
	const vals = ms.filter(m => typeof m.value === 'number').map(m =>
	    m.value);
	const lo0 = Math.min(thr, ...vals), hi0 = Math.max(thr, ...vals);
	const pad = hi0 === lo0 ? (Math.abs(hi0) || 1) / 2 : 0;
	const lo = lo0 - pad, hi = hi0 + pad;
	const last = Math.max(...ms.map(m => m.slot), 1);
	const x = slot => last === 1 ? AW / 2 :
	    AP + (slot - 1) * (AW - 2 * AP) / (last - 1);
	const y = v => AH - AP - (v - lo) * (AH - 2 * AP) / (hi - lo);
	const count = r => ms.filter(m => m.result === r).length;
	const tail = ms[ms.length - 1];
	const desc = `${label}: ${ms.length} measurement` +
	    (ms.length === 1 ? '' : 's') + `, ${count('pass')} passed, ` +
	    `${count('fail')} failed, ${count('inconclusive')} inconclusive;` +
	    ` threshold ${op} ${fmtNumber(thr)}; last ` +
	    (typeof tail.value === 'number' ? fmtNumber(tail.value) :
	    'inconclusive');
	const pts = ms.filter(m => typeof m.value === 'number');
	return s('svg', { class: 'analysis-chart', viewBox: `0 0 ${AW} ${AH}`,
	    width: AW, height: AH, role: 'img', 'aria-label': desc },
	    s('title', {}, desc),
	    s('line', { x1: 0, x2: AW, y1: y(thr).toFixed(1),
		y2: y(thr).toFixed(1), class: 'an-threshold' }),
	    pts.length > 1 ? s('polyline', { class: 'an-line',
		points: pts.map(m => `${x(m.slot).toFixed(1)},` +
		`${y(m.value).toFixed(1)}`).join(' ') }) : null,
	    ms.map(m => typeof m.value === 'number' ?
		s('circle', { cx: x(m.slot).toFixed(1),
		    cy: y(m.value).toFixed(1), r: m.result === 'fail' ? 3 : 2,
		    class: 'an-dot an-' + m.result }) :
		s('rect', { x: (x(m.slot) - 2).toFixed(1), y: AH - 5,
		    width: 4, height: 4, class: 'an-dot an-inconclusive' })));
}
