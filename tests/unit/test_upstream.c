/*
 * test_upstream.c: the URL an event is sent to.  An upstream without a
 * path is a reverse proxy (nginx's proxy_pass without a URI): the
 * request's own path and query on that host; one with a path is asked as
 * it is, with type=NAME for a custom command.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "upstream.h"

#define PUSH	"/webhooks/stream/push"
#define CMD	"/webhooks/stream/custom-commands"

struct url_case {
	const char	*url, *target, *command, *want;
};

/* The URL for url, target and command; the socket in sock when asked. */
static const char *
url(const char *u, const char *target, const char *command, char *out,
    size_t len, const char **sock)
{
	struct upstream_msg m;
	const char *s;
	char err[128] = "";

	memset(&m, 0, sizeof(m));
	m.url = u;
	m.target = target;
	m.command = command;
	if (upstream_url(&m, out, len, sock != NULL ? sock : &s, err,
	    sizeof(err)) != 0) {
		snprintf(out, len, "error: %s", err);
		return out;
	}
	if (sock == NULL)
		assert_null(s);
	return out;
}

static void
check_cases(const struct url_case *cases, size_t n)
{
	char out[UPSTREAM_URL_MAX];
	size_t i;

	for (i = 0; i < n; i++)
		assert_string_equal(url(cases[i].url, cases[i].target,
		    cases[i].command, out, sizeof(out), NULL), cases[i].want);
}

static void
test_without_a_path_the_target(void **state)
{
	static const struct url_case cases[] = {
		{ "http://127.0.0.1:3000", PUSH, NULL,
		    "http://127.0.0.1:3000" PUSH },
		{ "http://127.0.0.1:3000/", PUSH, NULL,
		    "http://127.0.0.1:3000" PUSH },
		{ "http://127.0.0.1:3000", PUSH "?x=1&y", NULL,
		    "http://127.0.0.1:3000" PUSH "?x=1&y" },
		/* a command by path or by query is in the target already */
		{ "http://127.0.0.1:3000", CMD "/ticket", "ticket",
		    "http://127.0.0.1:3000" CMD "/ticket" },
		{ "http://127.0.0.1:3000/", CMD "?type=giphy", "giphy",
		    "http://127.0.0.1:3000" CMD "?type=giphy" },
		{ "https://u:pw@app.example:8443", CMD, NULL,
		    "https://u:pw@app.example:8443" CMD },
		{ "http://[::1]:3000", PUSH, NULL, "http://[::1]:3000" PUSH },
		{ "http://app#frag", PUSH, NULL, "http://app" PUSH },
		{ "http://app/#frag", PUSH, NULL, "http://app" PUSH },
		{ "http://app", NULL, NULL, "http://app/" },
		{ "http://app", "", NULL, "http://app/" },
	};

	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_with_a_path_the_url(void **state)
{
	static const struct url_case cases[] = {
		{ "http://127.0.0.1:3000/hook", PUSH "?x=1", NULL,
		    "http://127.0.0.1:3000/hook" },
		{ "http://127.0.0.1:3000/hook/", PUSH, NULL,
		    "http://127.0.0.1:3000/hook/" },
		{ "http://127.0.0.1:3000/hook", CMD "/giphy", "giphy",
		    "http://127.0.0.1:3000/hook?type=giphy" },
		{ "http://127.0.0.1:3000/hook?a=1", CMD "?type=giphy", "giphy",
		    "http://127.0.0.1:3000/hook?a=1&type=giphy" },
		{ "http://127.0.0.1:3000/hook?a=1#f", CMD, "giphy",
		    "http://127.0.0.1:3000/hook?a=1&type=giphy" },
		{ "http://127.0.0.1:3000/hook", CMD, "",
		    "http://127.0.0.1:3000/hook" },
		/* a query alone is more than "no path": asked as it is */
		{ "http://app?k=v", PUSH, NULL, "http://app?k=v" },
		{ "http://app/?k=v", CMD "/x", "x", "http://app/?k=v&type=x" },
		{ "http://app/hook", CMD, "a b", "error: bad command name" },
	};

	(void)state;
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_unix_socket_the_target_on_localhost(void **state)
{
	char out[UPSTREAM_URL_MAX];
	const char *sock;

	(void)state;
	assert_string_equal(url("unix:/run/app.sock", PUSH, NULL, out,
	    sizeof(out), &sock), "http://localhost" PUSH);
	assert_string_equal(sock, "/run/app.sock");
	assert_string_equal(url("unix:/run/app.sock", CMD "/ticket?x=1",
	    "ticket", out, sizeof(out), &sock),
	    "http://localhost" CMD "/ticket?x=1");
	assert_string_equal(url("unix:/run/app.sock", CMD "?type=giphy",
	    "giphy", out, sizeof(out), &sock),
	    "http://localhost" CMD "?type=giphy");
}

static void
test_too_long(void **state)
{
	char target[3000], out[UPSTREAM_URL_MAX], small[40];

	(void)state;
	memset(target, 'a', sizeof(target) - 1);
	target[0] = '/';
	target[sizeof(target) - 1] = '\0';
	assert_string_equal(url("http://app", target, NULL, small,
	    sizeof(small), NULL), "error: upstream URL too long");
	assert_int_equal(strlen(url("http://app", target, NULL, out,
	    sizeof(out), NULL)), strlen("http://app") + strlen(target));
	assert_string_equal(url("http://app/0123456789012345678901234567",
	    CMD, "giphy", small, sizeof(small), NULL),
	    "error: upstream URL too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_a_path_the_target),
		cmocka_unit_test(test_with_a_path_the_url),
		cmocka_unit_test(test_unix_socket_the_target_on_localhost),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
