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
