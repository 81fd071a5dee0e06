/*
 * testsh.h - shell commands and git repositories for integration tests,
 * made with the real git CLI.  Each helper fails the running cmocka test
 * (with the command in the message) when a command does not exit 0.
 *
 *	test_git_remote("/t/up.git", "/t/work");
 *	test_sh("cd /t/work && " TEST_GIT "commit -q --allow-empty -m one && "
 *	    TEST_GIT "push -q origin HEAD:main");
 *	test_capture(hex, sizeof(hex), "git -C /t/work rev-parse HEAD");
 */
#ifndef SLUICE_TESTSH_H
#define SLUICE_TESTSH_H

#include <stddef.h>

/* git as a test user, on branch main, for commands given to test_sh. */
#define TEST_GIT "git -c user.name=T -c user.email=t@example.com " \
    "-c init.defaultBranch=main -c advice.detachedHead=false "

/* Run a command built like printf with sh -c. */
void	test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first line a command prints, without its newline, into out. */
void	test_capture(char *out, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* An empty bare repository bare (on main) and its clone work. */
void	test_git_remote(const char *bare, const char *work);

#endif
