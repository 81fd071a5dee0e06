/*
 * test_sys.c - base/sys.c: directories, capped file reads, checked array
 * growth, deadlines on the monotonic clock and the nullable strdup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "base/sys.h"

static char dir[256];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (snprintf(dir, sizeof(dir), "%s/sluice_sys_XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp") >= (int)sizeof(dir))
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[512];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* dir/name into a static buffer. */
static const char *
path_of(const char *name)
{
	static char p[512];

	assert_true(snprintf(p, sizeof(p), "%s/%s", dir, name) <
	    (int)sizeof(p));
	return p;
}

/* Write len bytes of data to dir/name; the path. */
static const char *
write_file(const char *name, const void *data, size_t len)
{
	const char *p = path_of(name);
	FILE *f = fopen(p, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return p;
}

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
sys__mkdir_p_makes_every_missing_parent_and_accepts_existing(void **state)
{
	struct err err;
	char big[LIM_PATH + 16];
	const char *p;

	(void)state;
	p = path_of("a/b/c");
	assert_int_equal(sys_mkdir_p(p, 0755, &err), 0);
	assert_true(is_dir(p));
	assert_true(is_dir(path_of("a/b")));
	/* again, and a parent that exists, and a trailing slash */
	assert_int_equal(sys_mkdir_p(p, 0755, &err), 0);
	assert_int_equal(sys_mkdir_p(path_of("a"), 0755, &err), 0);
	assert_int_equal(sys_mkdir_p(path_of("a/d/"), 0755, &err), 0);
	assert_true(is_dir(path_of("a/d")));

	/* a file in the way */
	(void)write_file("f", "x", 1);
	p = path_of("f/g");
	assert_int_equal(sys_mkdir_p(p, 0755, &err), ERR_GENERIC);
	assert_non_null(strstr(err.msg, "cannot create directory '"));
	assert_non_null(strstr(err.msg, "/f': not a directory"));
	assert_int_equal(sys_mkdir_p(path_of("f"), 0755, &err), ERR_GENERIC);

	/* a path past the cap is refused before anything is made */
	memset(big, 'x', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sys_mkdir_p(big, 0755, &err), ERR_TOOBIG);
	assert_non_null(strstr(err.msg, "path too long"));
}

static void
sys__read_file_reads_up_to_its_cap_and_refuses_past_it(void **state)
{
	size_t len = 40000;
	char *data = malloc(len + 1);
	struct buf b;
	struct err err;
	const char *p;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < len + 1; i++)
		data[i] = (char)('a' + i % 26);
	p = write_file("exact", data, len);
	buf_init(&b, 1 << 20);
	assert_int_equal(sys_read_file(p, "test file", len, 1, &b, &err), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, data, len);
	assert_int_equal(b.data[len], '\0');

	/* one byte more, read after what b already held: b is untouched */
	p = write_file("over", data, len + 1);
	assert_int_equal(sys_read_file(p, "test file", len, 1, &b, &err),
	    ERR_TOOBIG);
	assert_int_equal(b.len, len);
	assert_int_equal(b.data[len], '\0');
	assert_non_null(strstr(err.msg, "test file '"));
	assert_non_null(strstr(err.msg, "/over' is larger than 40000 bytes"));

	/* the buffer's own cap is a cap too */
	buf_release(&b);
	buf_init(&b, 100);
	assert_int_equal(sys_read_file(p, "test file", len + 1, 0, &b, &err),
	    ERR_TOOBIG);
	assert_int_equal(b.len, 0);

	/* an empty file reads as nothing */
	p = write_file("empty", "", 0);
	assert_int_equal(sys_read_file(p, "test file", len, 1, &b, &err), 0);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	free(data);
}

static void
sys__read_file_names_a_missing_file_and_refuses_a_directory(void **state)
{
	struct buf b;
	struct err err;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(sys_read_file(path_of("absent"), "kubeconfig", 1024,
	    1, &b, &err), ERR_NOTFOUND);
	assert_true(strstr(err.msg, "cannot read kubeconfig '") == err.msg);
	assert_non_null(strstr(err.msg,
	    "/absent': No such file or directory"));
	assert_int_equal(sys_read_file(dir, "kubeconfig", 1024, 1, &b, &err),
	    ERR_GENERIC);
	assert_non_null(strstr(err.msg, "Is a directory"));
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

static void
sys__read_file_refuses_a_nul_byte_in_text_mode_only(void **state)
{
	static const char data[] = "key: v\0alue\n";
	struct buf b;
	struct err err;
	const char *p;

	(void)state;
	p = write_file("nul", data, sizeof(data) - 1);
	buf_init(&b, 1024);
	assert_int_equal(sys_read_file(p, "migration", 1024, 1, &b, &err),
	    ERR_INVALID);
	assert_non_null(strstr(err.msg, "/nul' contains a NUL byte"));
	assert_int_equal(b.len, 0);
	assert_int_equal(sys_read_file(p, "blob", 1024, 0, &b, &err), 0);
	assert_int_equal(b.len, sizeof(data) - 1);
	assert_memory_equal(b.data, data, sizeof(data) - 1);
	buf_release(&b);
}

static void
sys__grow_doubles_and_stops_at_the_max_and_at_overflow(void **state)
{
	int *items = NULL, *before;
	size_t cap = 0, n;

	(void)state;
	/* room left: nothing to do */
	assert_int_equal(sys_grow((void **)&items, 0, &cap, sizeof(*items),
	    0), 0);
	assert_non_null(items);
	assert_int_equal(cap, 16);
	for (n = 0; n < 40; n++) {
		assert_int_equal(sys_grow((void **)&items, n, &cap,
		    sizeof(*items), 0), 0);
		items[n] = (int)n;
	}
	assert_int_equal(cap, 64);
	for (n = 0; n < 40; n++)
		assert_int_equal(items[n], (int)n);

	/* the max: up to it, then ERR_TOOBIG with nothing changed */
	free(items);
	items = NULL;
	cap = 0;
	for (n = 0; n < 20; n++)
		assert_int_equal(sys_grow((void **)&items, n, &cap,
		    sizeof(*items), 20), 0);
	assert_int_equal(cap, 20);
	before = items;
	assert_int_equal(sys_grow((void **)&items, 20, &cap, sizeof(*items),
	    20), ERR_TOOBIG);
	assert_ptr_equal(items, before);
	assert_int_equal(cap, 20);

	/* a size whose product overflows size_t */
	assert_int_equal(sys_grow((void **)&items, 20, &cap, SIZE_MAX / 8,
	    0), ERR_TOOBIG);
	assert_ptr_equal(items, before);
	assert_int_equal(cap, 20);
	free(items);
}

/* b - a in milliseconds, rounded down. */
static int64_t
diff_ms(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void
sys__deadlines_carry_into_the_next_second(void **state)
{
	static const int64_t ms[] = { 0, 1, 999, 1000, 1001, 1999, 2500,
	    86400000 };
	struct timespec before, after, d;
	int crossed = 0;

	(void)state;
	for (int round = 0; round < 1000 && crossed < 10; round++) {
		for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
			clock_gettime(CLOCK_MONOTONIC, &before);
			d = sys_deadline_in(ms[i]);
			clock_gettime(CLOCK_MONOTONIC, &after);
			assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
			assert_true(diff_ms(&before, &d) >= ms[i] - 1);
			assert_true(diff_ms(&after, &d) <= ms[i]);
			if (before.tv_nsec + (ms[i] % 1000) * 1000000L >=
			    1000000000L)
				crossed++;
		}
	}
	assert_true(crossed >= 10);

	/* a negative wait is now */
	clock_gettime(CLOCK_MONOTONIC, &before);
	d = sys_deadline_in(-5000);
	clock_gettime(CLOCK_MONOTONIC, &after);
	assert_true(diff_ms(&before, &d) >= -1 && diff_ms(&after, &d) <= 0);

	/* sys_now_ms is the same clock */
	clock_gettime(CLOCK_MONOTONIC, &before);
	assert_true(sys_now_ms() >= (int64_t)before.tv_sec * 1000 +
	    before.tv_nsec / 1000000);
	assert_true(sys_wall_ms() > INT64_C(1600000000000));
}

static void
sys__a_monotonic_condition_variable_times_out_on_its_deadline(void **state)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c;
	struct timespec d;
	int64_t t0, waited;

	(void)state;
	sys_cond_init_monotonic(&c);
	pthread_mutex_lock(&m);
	t0 = sys_now_ms();
	d = sys_deadline_in(50);
	while (pthread_cond_timedwait(&c, &m, &d) == 0)
		;
	waited = sys_now_ms() - t0;
	pthread_mutex_unlock(&m);
	assert_true(waited >= 49);
	pthread_cond_destroy(&c);
}

static void
sys__strdup_or_null_keeps_null(void **state)
{
	char *s;

	(void)state;
	assert_null(sys_strdup_or_null(NULL));
	s = sys_strdup_or_null("abc");
	assert_string_equal(s, "abc");
	free(s);
	s = sys_strdup_or_null("");
	assert_string_equal(s, "");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    sys__mkdir_p_makes_every_missing_parent_and_accepts_existing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    sys__read_file_reads_up_to_its_cap_and_refuses_past_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    sys__read_file_names_a_missing_file_and_refuses_a_directory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    sys__read_file_refuses_a_nul_byte_in_text_mode_only,
		    setup, teardown),
		cmocka_unit_test(
		    sys__grow_doubles_and_stops_at_the_max_and_at_overflow),
		cmocka_unit_test(sys__deadlines_carry_into_the_next_second),
		cmocka_unit_test(
		    sys__a_monotonic_condition_variable_times_out_on_its_deadline),
		cmocka_unit_test(sys__strdup_or_null_keeps_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
