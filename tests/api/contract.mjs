// contract.mjs - every answer the integration tests recorded, checked
// against docs/api.yaml.
//
//   node tests/api/contract.mjs RECORD_DIR [--no-coverage]
//
// RECORD_DIR holds the JSON lines tests/support/testapi.c writes when
// SLUICE_TEST_API_RECORD is set (method, path, status, content_type, head,
// body).  For each answer: the operation is found by method and path
// template; its status must be documented; a JSON body must match the
// documented schema of that status and media type; headers the document
// marks required must be there.  A path answered with a method it does not
// document must be 405 with the error shape and an Allow header.  Then
// coverage: every operation has at least one recorded answer for every
// status it documents.  Prints each mismatch and ends with "N passed, N
// failed" (a failed answer or a missing status is one failure).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
// The schemas are read by the console tests' converter: objects closed,
// so a renamed or invented field fails as surely as a missing one.
import { loadApi } from "../browser/openapi.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const docPath = join(here, "..", "..", "docs", "api.yaml");
const args = process.argv.slice(2);
const recordDir = args.find((a) => !a.startsWith("--"));
const coverage = !args.includes("--no-coverage");
if (!recordDir) {
	console.error("usage: contract.mjs RECORD_DIR [--no-coverage]");
	process.exit(2);
}

const api = await loadApi(docPath);
const doc = api.doc;

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

function deref(obj) {
	while (obj && obj.$ref) {
		const parts = obj.$ref.replace(/^#\//, "").split("/")
			.map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
		obj = parts.reduce((o, k) => o[k], doc);
	}
	return obj;
}

// The path template of a request path, from the operations openapi.mjs
// already matches (a literal template before one with parameters).
const templates = [...new Map(api.operations.map((o) => [o.path,
	{ template: o.path, re: o.re }])).values()]
	.sort((x, y) => x.template.includes("{") - y.template.includes("{"));

function findPath(path) {
	const bare = path.split("?")[0];
	return templates.find((p) => p.re.test(bare));
}

function headerOf(head, name) {
	const m = head.split(/\r?\n/).find((l) => l.toLowerCase()
		.startsWith(name.toLowerCase() + ":"));
	return m === undefined ? undefined : m.slice(name.length + 1).trim();
}

const records = [];
for (const f of readdirSync(recordDir).filter((f) => f.endsWith(".jsonl")))
	for (const line of readFileSync(join(recordDir, f), "utf8").split("\n"))
		if (line.trim() !== "")
			records.push({ ...JSON.parse(line), file: f });

const seen = new Map();		// "template method" -> Set(status)
const problems = new Map();	// message -> { count, example }
let checked = 0;
function problem(msg, r) {
	const p = problems.get(msg) ?? { count: 0, example: r };
	p.count++;
	problems.set(msg, p);
}

// The error shape, as every error answer must have it.
const errorCheck = (body) => api.check("GET", "/api/v1/runs/1", 404, body)
	.length === 0;

for (const r of records) {
	const p = findPath(r.path);
	if (!p) {
		if (r.path.startsWith("/api/")) {
			checked++;
			if (r.status !== 404)
				problem(`${r.method} ${r.path.split("?")[0]}: no such path, answered ${r.status} (expected 404)`, r);
			else if (!errorCheck(safeJSON(r.body)))
				problem("404 of an unknown path: body is not the error shape", r);
		}
		continue;	// the console's static files
	}
	checked++;
	let method = r.method.toLowerCase();
	const ops = doc.paths[p.template];
	if (method === "head" && !ops.head && ops.get)
		method = "get";
	const op = ops[method];
	if (!op) {
		if (r.status !== 405)
			problem(`${r.method} ${p.template}: method not documented, answered ${r.status} (expected 405)`, r);
		else if (!headerOf(r.head, "Allow"))
			problem(`${r.method} ${p.template}: 405 without Allow`, r);
		else if (!errorCheck(safeJSON(r.body)))
			problem(`${r.method} ${p.template}: 405 body is not the error shape`, r);
		continue;
	}
	const status = String(r.status);
	const k = `${p.template} ${method}`;
	if (!seen.has(k))
		seen.set(k, new Set());
	seen.get(k).add(status);
	const resp = op.responses[status] ?? op.responses.default;
	if (!resp) {
		problem(`${method.toUpperCase()} ${p.template}: status ${status} is not documented`, r);
		continue;
	}
	const dresp = deref(resp);
	for (const [name, h] of Object.entries(dresp.headers ?? {}))
		if (deref(h).required && headerOf(r.head, name) === undefined)
			problem(`${method.toUpperCase()} ${p.template} ${status}: header ${name} missing`, r);
	if (r.method === "HEAD" || !dresp.content) {
		if (!dresp.content && r.body !== "" && r.method !== "HEAD")
			problem(`${method.toUpperCase()} ${p.template} ${status}: a body where none is documented`, r);
		continue;
	}
	const media = (r.content_type || "").split(";")[0].trim().toLowerCase();
	if (!dresp.content[media]) {
		problem(`${method.toUpperCase()} ${p.template} ${status}: Content-Type "${media}" not documented (${Object.keys(dresp.content).join(", ")})`, r);
		continue;
	}
	if (media !== "application/json")
		continue;
	const body = safeJSON(r.body);
	if (body === undefined) {
		problem(`${method.toUpperCase()} ${p.template} ${status}: body is not JSON`, r);
		continue;
	}
	for (const e of api.check(method.toUpperCase(), r.path.split("?")[0],
	    r.status, body).slice(0, 3))
		problem(e.replace(/^(\S+) \S+/, `$1 ${p.template}`), r);
}

function safeJSON(s) {
	try { return JSON.parse(s); } catch { return undefined; }
}

let missing = 0;
if (coverage) {
	for (const [template, ops] of Object.entries(doc.paths)) {
		for (const m of METHODS) {
			if (!ops[m])
				continue;
			const got = seen.get(`${template} ${m}`) ?? new Set();
			for (const s of Object.keys(ops[m].responses)) {
				if (s === "default" || got.has(s))
					continue;
				missing++;
				console.log(`not covered: ${m.toUpperCase()} ${template} ${s}`);
			}
		}
	}
}

for (const [msg, p] of problems) {
	const e = p.example;
	console.log(`mismatch (${p.count}x): ${msg}\n    e.g. ${e.method} ${e.path} -> ${e.status} [${e.file}] ${String(e.body).slice(0, 200)}`);
}
const failed = problems.size + missing;
console.log(`contract: ${records.length} answers recorded, ${checked} checked, ${problems.size} kinds of mismatch, ${missing} documented statuses without an answer`);
console.log(`${failed === 0 ? 1 : 0} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
