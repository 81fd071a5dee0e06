/*
 * api_lineage.h - lineage from a commit and the audit export.
 *
 *	GET /api/v1/lineage?commit=SHA			(viewer)
 *		everything that came from a commit (store_query_runs.h,
 *		store_query_commit_lineage): SHA is 7 to 64 hex digits, the
 *		start of one commit's id.  400 for anything else, 404 when
 *		no commit starts so, 409 "ambiguous" naming the candidates
 *		when several do.
 *	GET /api/v1/audit?since=&until=&format=json|csv&limit=&cursor=
 *							(admin)
 *		decisions and administrative changes, oldest first
 *		(store_query_audit.h).  since and until are RFC 3339
 *		instants, [since, until).  json: keyset pages
 *		{"entries", "next_cursor"}; csv: the whole window as
 *		text/csv, a header row then one record per entry, streamed
 *		page by page (each page borrows a pooled connection for
 *		that moment), limit and cursor not taken.
 */
#ifndef SLUICE_API_LINEAGE_H
#define SLUICE_API_LINEAGE_H

struct http_request;
struct http_response;

void	api_lineage_commit(void *ctx, struct http_request *rq,
	    struct http_response *rs);
void	api_audit(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
