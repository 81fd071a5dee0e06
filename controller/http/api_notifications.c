/* api_notifications.c - notification deliveries; see api_notifications.h. */
#include "base/buf.h"
#include "base/caps.h"
#include "http/api_common.h"
#include "http/api_notifications.h"
#include "http/ctl.h"
#include "http/http.h"
#include "http/jsonin.h"
#include "query/store_query_notify.h"

static int
deliveries_query(struct db *db, void *arg, const struct page_in *in,
    struct buf *out, struct err *err)
{
	int status = *(const int *)arg;

	return store_query_deliveries_list(db, status >= 0 ?
	    store_delivery_statuses[status] : NULL, in, out, err);
}

void
api_notifications_deliveries(void *ctx, struct http_request *rq,
    struct http_response *rs)
{
	struct api_page pg;
	int status = -1;
	const struct jsonin_qparam params[] = {
		API_PAGE_QPARAMS(&pg),
		{ .name = "status", .type = JSONIN_Q_ENUM, .out = &status,
		  .choices = store_delivery_statuses },
		{ .name = NULL },
	};

	api_page_init(&pg, LIM_API_PAGE_DEFAULT);
	api_list_reply(ctx, rq, rs, params, &pg, "n1", 1, deliveries_query,
	    &status);
}
