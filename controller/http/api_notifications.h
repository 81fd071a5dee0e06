/*
 * api_notifications.h - GET /api/v1/notifications/deliveries (admin):
 * what the notification sender delivered, is retrying or gave up on.
 */
#ifndef SLUICE_API_NOTIFICATIONS_H
#define SLUICE_API_NOTIFICATIONS_H

struct http_request;
struct http_response;

void	api_notifications_deliveries(void *ctx, struct http_request *rq,
	    struct http_response *rs);

#endif
