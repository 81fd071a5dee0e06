/* cmd_version.c - `sluice version`: ours and the linked libraries'. */
#include <stdio.h>

#include <curl/curl.h>
#include <git2.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "base/version.h"
#include "cmd.h"

int
cmd_version(int argc, char **argv)
{
	int maj, min, rev, pq;

	(void)argc;
	(void)argv;
	git_libgit2_version(&maj, &min, &rev);
	pq = PQlibVersion();
	printf("sluice %s\n", SLUICE_VERSION);
	printf("libgit2 %d.%d.%d\n", maj, min, rev);
	printf("libmicrohttpd %s\n", MHD_get_version());
	printf("libpq %d.%d\n", pq / 10000, pq % 10000);
	printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("jansson %s\n", jansson_version_str());
	printf("libyaml %s\n", yaml_get_version_string());
	printf("openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
	return 0;
}
