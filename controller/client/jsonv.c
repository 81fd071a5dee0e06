/*
 * jsonv.c - reading the API's answers: fields of a JSON object, times,
 * ages and durations, and the colour of a status (client_int.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/sys.h"
#include "client/client_int.h"
#include "client/table.h"

const char *
jv_str(const json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long
jv_int(const json_t *o, const char *key, long long def)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

json_t *
jv_obj(const json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	return json_is_object(v) ? v : NULL;
}

json_t *
jv_arr(const json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	return json_is_array(v) ? v : NULL;
}

void
jv_text(const json_t *v, char *out, size_t outlen)
{
	if (json_is_string(v))
		(void)snprintf(out, outlen, "%s", json_string_value(v));
	else if (json_is_integer(v))
		(void)snprintf(out, outlen, "%lld",
		    (long long)json_integer_value(v));
	else if (json_is_real(v))
		(void)snprintf(out, outlen, "%.4g", json_real_value(v));
	else if (json_is_boolean(v))
		(void)snprintf(out, outlen, "%s", json_is_true(v) ? "true" :
		    "false");
	else
		(void)snprintf(out, outlen, "-");
}

int64_t
jv_time(const char *s)
{
	struct tm tm;
	const char *rest;
	int64_t ms = 0;
	time_t t;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*rest == '.') {
		int64_t scale = 100;

		for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
			ms += (*rest - '0') * scale;
			scale /= 10;
		}
	}
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* the API's times are UTC ("Z" or "+00:00") */
	return (int64_t)t * 1000 + ms;
}

void
jv_duration(int64_t ms, char *out, size_t outlen)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		(void)snprintf(out, outlen, "-");
	else if (ms < 1000)
		(void)snprintf(out, outlen, "%lldms", (long long)ms);
	else if (s < 60)
		(void)snprintf(out, outlen, "%llds", (long long)s);
	else if (s < 3600)
		(void)snprintf(out, outlen, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		(void)snprintf(out, outlen, "%lldh%02lldm",
		    (long long)(s / 3600), (long long)(s % 3600 / 60));
}

void
jv_age(const char *ts, char *out, size_t outlen)
{
	int64_t t = jv_time(ts), s;

	if (t < 0) {
		(void)snprintf(out, outlen, "-");
		return;
	}
	s = (sys_wall_ms() - t) / 1000;
	if (s < 0)
		s = 0;
	if (s < 60)
		(void)snprintf(out, outlen, "%llds", (long long)s);
	else if (s < 3600)
		(void)snprintf(out, outlen, "%lldm", (long long)(s / 60));
	else if (s < 48 * 3600)
		(void)snprintf(out, outlen, "%lldh", (long long)(s / 3600));
	else
		(void)snprintf(out, outlen, "%lldd", (long long)(s / 86400));
}

int
jv_status_color(const char *status)
{
	static const struct {
		const char	*status;
		int		 color;
	} colors[] = {
		{ "succeeded", TC_GREEN }, { "approved", TC_GREEN },
		{ "production", TC_GREEN },
		{ "failed", TC_RED }, { "rejected", TC_RED },
		{ "rolled_back", TC_RED }, { "rolling_back", TC_RED },
		{ "running", TC_BLUE }, { "submitted", TC_BLUE },
		{ "progressing", TC_BLUE }, { "analyzing", TC_BLUE },
		{ "waiting_approval", TC_YELLOW }, { "pending", TC_YELLOW },
		{ "candidate", TC_YELLOW },
		{ "canceled", TC_DIM }, { "skipped", TC_DIM },
		{ "expired", TC_DIM }, { "retired", TC_DIM },
	};

	for (size_t i = 0; status != NULL &&
	    i < sizeof(colors) / sizeof(colors[0]); i++)
		if (strcmp(status, colors[i].status) == 0)
			return colors[i].color;
	return TC_NONE;
}

int
jv_run_done(const char *status)
{
	return status != NULL && (strcmp(status, "succeeded") == 0 ||
	    strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0);
}
