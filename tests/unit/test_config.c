/* test_config.c: defaults, the JSON file, its refusals, flags, secrets. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ERRLEN	1024

static const char full[] =
    "{\n"
    "  \"listen\":   [\"0.0.0.0:443\", \"[::]:443\"],\n"
    "  \"keys\":     [{\"api_key\": \"k1\", \"secret_file\": \"/etc/k1\"},\n"
    "                {\"secret_file\": \"/etc/k1.new\", \"api_key\": \"k1\"},\n"
    "                {\"api_key\": \"k2\", \"secret_file\": \"k2.secret\"}],\n"
    "  \"store\":    \"redis://127.0.0.1:6379/2\",\n"
    "  \"upstream\": \"unix:/run/app.sock\",\n"
    "  \"metrics\":  \"127.0.0.1:9100\",\n"
    "  \"routes\":   {\"push\": \"/p\", \"before_message_send\": \"/b\",\n"
    "               \"custom_commands\": \"/c\", \"health\": \"/h\"},\n"
    "  \"limits\":   {\"header_bytes\": 8192, \"body_bytes\": 2097152,\n"
    "               \"inflated_bytes\": 8388608, \"connections\": 100,\n"
    "               \"header_timeout_ms\": 5000,\n"
    "               \"idle_timeout_ms\": 30000,\n"
    "               \"request_timeout_ms\": 20000,\n"
    "               \"body_min_bytes_per_s\": 0},\n"
    "  \"dedup_window_s\": 3600,\n"
    "  \"workers\":  4\n"
    "}\n";

/* Parse s over the defaults, expecting a refusal containing want. */
static void
refused(const char *s, const char *want)
{
	struct config c;
	char err[ERRLEN] = "";

	config_defaults(&c);
	if (config_parse(s, strlen(s), &c, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", s);
	if (strstr(err, want) == NULL)
		fail_msg("for %s\n  want '%s'\n  got  '%s'", s, want, err);
	config_free(&c);
}

static void
accepted(const char *s, struct config *c)
{
	char err[ERRLEN] = "";

	config_defaults(c);
	if (config_parse(s, strlen(s), c, err, sizeof(err)) != 0)
		fail_msg("refused: %s: %s", s, err);
}

static void
test_defaults(void **state)
{
	struct sockaddr_in *sin;
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].text, "127.0.0.1:8080");
	sin = (struct sockaddr_in *)&c.listen[0].addr;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 8080);
	assert_int_equal(c.listen[0].addrlen, sizeof(*sin));
	assert_int_equal(c.nkeys, 0);
	assert_string_equal(c.store, "sqlite:./var/streamgate.db");
	assert_string_equal(c.upstream, "");
	assert_int_equal(c.has_metrics, 0);
	assert_string_equal(c.route_push, "/webhooks/stream/push");
	assert_string_equal(c.route_bms,
	    "/webhooks/stream/before-message-send");
	assert_string_equal(c.route_commands,
	    "/webhooks/stream/custom-commands");
	assert_string_equal(c.route_health, "/healthz");
	assert_int_equal(c.limits.header_bytes, 16384);
	assert_int_equal(c.limits.body_bytes, 1048576);
	assert_int_equal(c.limits.inflated_bytes, 4194304);
	assert_int_equal(c.limits.connections, 4096);
	assert_int_equal(c.limits.header_timeout_ms, 10000);
	assert_int_equal(c.limits.idle_timeout_ms, 60000);
	assert_int_equal(c.limits.request_timeout_ms, 30000);
	assert_int_equal(c.limits.body_min_bytes_per_s, 1024);
	assert_int_equal(c.dedup_window_s, 86400);
	assert_int_equal(c.workers, 0);
	config_free(&c);
}

static void
test_full_file(void **state)
{
	struct config c;

	(void)state;
	accepted(full, &c);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[0].text, "0.0.0.0:443");
	assert_string_equal(c.listen[1].text, "[::]:443");
	assert_int_equal(c.nkeys, 3);
	assert_string_equal(c.keys[1].api_key, "k1");
	assert_string_equal(c.keys[1].secret_file, "/etc/k1.new");
	assert_string_equal(c.keys[2].secret_file, "k2.secret");
	assert_null(c.keys[0].secret.bytes);
	assert_string_equal(c.store, "redis://127.0.0.1:6379/2");
	assert_string_equal(c.upstream, "unix:/run/app.sock");
	assert_int_equal(c.has_metrics, 1);
	assert_string_equal(c.metrics.text, "127.0.0.1:9100");
	assert_string_equal(c.route_push, "/p");
	assert_string_equal(c.route_bms, "/b");
	assert_string_equal(c.route_commands, "/c");
	assert_string_equal(c.route_health, "/h");
	assert_int_equal(c.limits.header_bytes, 8192);
	assert_int_equal(c.limits.body_bytes, 2097152);
	assert_int_equal(c.limits.inflated_bytes, 8388608);
	assert_int_equal(c.limits.connections, 100);
	assert_int_equal(c.limits.header_timeout_ms, 5000);
	assert_int_equal(c.limits.idle_timeout_ms, 30000);
	assert_int_equal(c.limits.request_timeout_ms, 20000);
	assert_int_equal(c.limits.body_min_bytes_per_s, 0);
	assert_int_equal(c.dedup_window_s, 3600);
	assert_int_equal(c.workers, 4);
	config_free(&c);
}

/* Keys the file leaves out keep their defaults, nested ones too. */
static void
test_partial_file(void **state)
{
	struct config c;

	(void)state;
	accepted("{}", &c);
	assert_string_equal(c.listen[0].text, "127.0.0.1:8080");
	accepted("{\"limits\": {\"connections\": 7}, \"routes\": "
	    "{\"health\": \"/up\"}, \"upstream\": null, \"metrics\": null}",
	    &c);
	assert_int_equal(c.limits.connections, 7);
	assert_int_equal(c.limits.body_bytes, 1048576);
	assert_string_equal(c.route_health, "/up");
	assert_string_equal(c.route_push, "/webhooks/stream/push");
	assert_string_equal(c.upstream, "");
	assert_int_equal(c.has_metrics, 0);
	/* Ranges are inclusive; a whole number may be written 1.024e3. */
	accepted("{\"limits\": {\"header_bytes\": 1024, \"body_bytes\": "
	    "1073741824, \"inflated_bytes\": 4294967296, \"connections\": "
	    "1000000}, \"dedup_window_s\": 2592000, \"workers\": 256}", &c);
	assert_int_equal(c.limits.inflated_bytes, 4294967296ULL);
	assert_int_equal(c.workers, 256);
	accepted("{\"limits\": {\"request_timeout_ms\": 3600000, "
	    "\"body_min_bytes_per_s\": 1073741824}}", &c);
	assert_int_equal(c.limits.request_timeout_ms, 3600000);
	assert_int_equal(c.limits.body_min_bytes_per_s, 1073741824);
	accepted("{\"limits\": {\"header_bytes\": 1.024e3}}", &c);
	assert_int_equal(c.limits.header_bytes, 1024);
	accepted("{\"upstream\": \"https://app.internal:8443/hooks\"}", &c);
	assert_string_equal(c.upstream, "https://app.internal:8443/hooks");
	accepted("{\"store\": \"redis://[::1]:6379\"}", &c);
	accepted("{\"store\": \"redis://cache.local:6379\"}", &c);
	accepted("{\"keys\": []}", &c);
	assert_int_equal(c.nkeys, 0);
}

static void
test_syntax(void **state)
{
	(void)state;
	refused("{\n\"listen\": [\n\"1.2.3.4:80\",,\n]}", "line 3: JSON "
	    "syntax error");
	refused("{\"workers\": 1", "line 1: JSON syntax error");
	refused("{} {}", "line 1: JSON syntax error");
	refused("", "empty");
	refused("[]", "top level must be an object");
	refused("\n\"x\"", "line 2: the top level must be an object");
	refused("null", "top level must be an object");
	refused("{\"store\": \"sqlite:a\\u0000b\"}", "\\u0000");
}

/* The bytes are not NUL-terminated, and a NUL byte is refused. */
static void
test_unterminated(void **state)
{
	static const char ws[] = "{\"workers\": 3}";
	struct config c;
	char err[ERRLEN];
	char *p;

	(void)state;
	p = malloc(sizeof(ws) - 1);
	assert_non_null(p);
	memcpy(p, ws, sizeof(ws) - 1);
	config_defaults(&c);
	assert_int_equal(config_parse(p, sizeof(ws) - 1, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.workers, 3);
	/* Cut short inside a string. */
	memcpy(p, "{\"store\":\"sqli", sizeof(ws) - 1);
	assert_int_equal(config_parse(p, 14, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "JSON syntax error"));
	free(p);
	assert_int_equal(config_parse("{}\0{}", 5, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL byte"));
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	refused("{\"frobnicate\": 1}", "frobnicate: unknown key");
	refused("{\"limits\": {\"frob\": 1}}", "limits.frob: unknown key");
	refused("{\"routes\": {\"frob\": \"/x\"}}", "routes.frob: unknown key");
	refused("{\"keys\": [{\"api_key\": \"a\", \"secret_file\": \"f\", "
	    "\"x\": 1}]}", "keys[0].x: unknown key");
	refused("{\"wor\\u001bkers\": 1}", "wor?kers: unknown key");
	refused("{\"workers\": 1, \"workers\": 2}", "workers: given twice");
	refused("{\"limits\": {\"connections\": 1, \"connections\": 2}}",
	    "limits.connections: given twice");
}

static void
test_numbers(void **state)
{
	(void)state;
	refused("{\"limits\": {\"body_bytes\": 1023}}", "limits.body_bytes: "
	    "must be a whole number from 1024 to 1073741824");
	refused("{\"limits\": {\"body_bytes\": 1073741825}}",
	    "limits.body_bytes: must be a whole number");
	refused("{\"limits\": {\"body_bytes\": 1500.5}}",
	    "limits.body_bytes: must be a whole number");
	refused("{\"limits\": {\"body_bytes\": \"2048\"}}",
	    "limits.body_bytes: must be a whole number");
	refused("{\"limits\": {\"header_bytes\": 1048577}}",
	    "limits.header_bytes: must be a whole number from 1024 to "
	    "1048576");
	refused("{\"limits\": {\"connections\": 0}}", "limits.connections:");
	refused("{\"limits\": {\"request_timeout_ms\": 99}}",
	    "limits.request_timeout_ms: must be a whole number from 100 to "
	    "3600000");
	refused("{\"limits\": {\"body_min_bytes_per_s\": -1}}",
	    "limits.body_min_bytes_per_s: must be a whole number from 0 to "
	    "1073741824");
	refused("{\"limits\": {\"body_min_bytes_per_s\": 1073741825}}",
	    "limits.body_min_bytes_per_s: must be a whole number");
	refused("{\"limits\": {\"connections\": 1e20}}", "limits.connections:");
	refused("{\"limits\": {\"connections\": 1e999}}",
	    "limits.connections:");
	refused("{\"limits\": {\"header_timeout_ms\": 99}}",
	    "limits.header_timeout_ms: must be a whole number from 100 to "
	    "600000");
	refused("{\"limits\": {\"idle_timeout_ms\": 3600001}}",
	    "limits.idle_timeout_ms: must be a whole number from 100 to "
	    "3600000");
	refused("{\"limits\": {\"inflated_bytes\": 4294967297}}",
	    "limits.inflated_bytes: must be a whole number");
	refused("{\"dedup_window_s\": 0}", "dedup_window_s: must be a whole "
	    "number from 1 to 2592000");
	refused("{\"dedup_window_s\": null}", "dedup_window_s: must be");
	refused("{\"workers\": 1.5}", "workers: must be a whole number from "
	    "0 to 256");
	refused("{\"workers\": -1}", "workers: must be a whole number");
	refused("{\"workers\": -0}", "workers: must be a whole number");
	refused("{\"workers\": 257}", "workers: must be a whole number");
	refused("{\"workers\": true}", "workers: must be a whole number");
	refused("{\"limits\": 5}", "limits: must be an object");
	/* inflated below body, whichever of the two the file sets. */
	refused("{\"limits\": {\"body_bytes\": 8388608}}",
	    "limits.inflated_bytes: 4194304 is less than limits.body_bytes");
	refused("{\"limits\": {\"inflated_bytes\": 2048, \"body_bytes\": "
	    "4096}}", "limits.inflated_bytes:");
}

static void
test_routes(void **state)
{
	char buf[400], route[300];

	(void)state;
	refused("{\"routes\": {\"push\": \"push\"}}",
	    "routes.push: must start with '/'");
	refused("{\"routes\": {\"push\": \"\"}}", "routes.push: must start");
	refused("{\"routes\": {\"push\": \"/a b\"}}", "routes.push: must be "
	    "printable characters without spaces");
	refused("{\"routes\": {\"health\": \"/h?x=1\"}}",
	    "routes.health: must be a path without '?'");
	refused("{\"routes\": {\"push\": 1}}", "routes.push: must be a string");
	refused("{\"routes\": []}", "routes: must be an object");
	refused("{\"routes\": {\"health\": \"/webhooks/stream/push\"}}",
	    "routes.health: same path as routes.push");
	refused("{\"routes\": {\"push\": \"/x\", \"custom_commands\": "
	    "\"/x\"}}", "routes.custom_commands: same path as routes.push");
	memset(route, 'a', 256);
	route[0] = '/';
	route[256] = '\0';
	snprintf(buf, sizeof(buf), "{\"routes\": {\"push\": \"%s\"}}", route);
	refused(buf, "routes.push: longer than 255");
}

static void
test_listen(void **state)
{
	char buf[1024];
	size_t i, off;

	(void)state;
	refused("{\"listen\": [\"1.2.3.4\"]}",
	    "listen[0]: '1.2.3.4' is not ADDR:PORT");
	refused("{\"listen\": [\"1.2.3.4:80\", \"localhost:80\"]}",
	    "listen[1]: 'localhost:80' is not ADDR:PORT: host names are not "
	    "resolved");
	refused("{\"listen\": [\"1.2.3.4:80\", \"1.2.3.4:80\"]}",
	    "listen[1]: same address as listen[0]");
	refused("{\"listen\": [\"[::1]:80\", \"[0::1]:80\"]}",
	    "listen[1]: same address as listen[0]");
	refused("{\"listen\": []}", "listen: empty");
	refused("{\"listen\": \"1.2.3.4:80\"}", "listen: must be an array");
	refused("{\"listen\": [80]}", "listen[0]: must be \"ADDR:PORT\" or an object");
	off = (size_t)snprintf(buf, sizeof(buf), "{\"listen\": [");
	for (i = 0; i <= CONFIG_MAX_LISTEN; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "%s\"127.0.0.1:%zu\"", i ? "," : "", 1000 + i);
	snprintf(buf + off, sizeof(buf) - off, "]}");
	refused(buf, "listen: more than 16 addresses");
	refused("{\"metrics\": \"9100\"}", "metrics: '9100' is not ADDR:PORT");
	refused("{\"metrics\": 9100}", "metrics: must be a string or null");
}

static void
test_keys(void **state)
{
	char buf[8192], k[200];
	size_t i, off;

	(void)state;
	refused("{\"keys\": [{\"api_key\": \"a\", \"secret_file\": \"f\"}, "
	    "{\"api_key\": \"b\", \"secret_file\": \"g\"}, "
	    "{\"api_key\": \"c\"}]}", "keys[2].secret_file: missing");
	refused("{\"keys\": [{\"secret_file\": \"f\"}]}",
	    "keys[0].api_key: missing");
	refused("{\"keys\": [\"a=f\"]}", "keys[0]: must be an object");
	refused("{\"keys\": {}}", "keys: must be an array");
	refused("{\"keys\": [{\"api_key\": \"a b\", \"secret_file\": "
	    "\"f\"}]}", "keys[0].api_key: must be 1 to 127 printable");
	refused("{\"keys\": [{\"api_key\": \"\", \"secret_file\": \"f\"}]}",
	    "keys[0].api_key: must be 1 to 127");
	refused("{\"keys\": [{\"api_key\": \"a\", \"secret_file\": \"\"}]}",
	    "keys[0].secret_file: is empty");
	refused("{\"keys\": [{\"api_key\": \"a\", \"secret_file\": "
	    "\"f\\n\"}]}", "keys[0].secret_file: has a control character");
	refused("{\"keys\": [{\"api_key\": \"a\", \"secret_file\": \"f\"}, "
	    "{\"api_key\": \"a\", \"secret_file\": \"f\"}]}",
	    "keys[1]: same api_key and secret_file as keys[0]");
	memset(k, 'k', 128);
	k[128] = '\0';
	snprintf(buf, sizeof(buf), "{\"keys\": [{\"api_key\": \"%s\", "
	    "\"secret_file\": \"f\"}]}", k);
	refused(buf, "keys[0].api_key: must be 1 to 127");
	off = (size_t)snprintf(buf, sizeof(buf), "{\"keys\": [");
	for (i = 0; i <= CONFIG_MAX_KEYS; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "%s{\"api_key\": \"k%zu\", \"secret_file\": \"f\"}",
		    i ? "," : "", i);
	snprintf(buf + off, sizeof(buf) - off, "]}");
	refused(buf, "keys: more than 64 entries");
}

static void
test_store_upstream(void **state)
{
	struct config *c;
	static const char *bad_store[] = {
		"\"postgres://x\"", "\"sqlite:\"", "\"redis://h\"",
		"\"redis://:6379\"", "\"redis://h:0\"", "\"redis://h:65536\"",
		"\"redis://h:6379/\"", "\"redis://h:6379/256\"",
		"\"redis://h o:6379\"", "\"redis://[zz]:6379\"",
	};
	static const char *bad_up[] = {
		"\"ftp://x\"", "\"http://\"", "\"unix:\"", "\"unix:/\"",
		"\"unix:relative\"", "\"\"",
	};
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_store) / sizeof(bad_store[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"store\": %s}", bad_store[i]);
		refused(buf, strcmp(bad_store[i], "\"\"") == 0 ? "store: " :
		    "store: must be sqlite:PATH, redis://HOST:PORT[/DB] or "
		    "nats://HOST:PORT[,HOST:PORT...] (tls:// for TLS, at most "
		    "16)");
	}
	/* NATS: a cluster's servers; the "nats" keys checked by name */
	assert_non_null(c = calloc(1, sizeof(*c)));
	accepted("{\"store\": \"nats://a:4222,10.0.0.2:4222,[::1]:4\"}", c);
	accepted("{\"store\": \"tls://n1.example:4222\"}", c);
	refused("{\"store\": \"nats://a:4222,\"}", "store: must be");
	refused("{\"store\": \"nats://a\"}", "store: must be");
	accepted("{\"nats\": {\"stream\": \"SG_1\", \"subject_prefix\": "
	    "\"acme.sg\", \"replicas\": 5, \"creds\": null, \"ca\": null}}",
	    c);
	assert_int_equal(c->nats.replicas, 5);
	assert_string_equal(c->nats.subject_prefix, "acme.sg");
	assert_string_equal(c->nats.ca, "");
	accepted("{\"nats\": {\"creds\": \"/etc/sg/u.creds\", "
	    "\"ca\": \"/etc/sg/nats-ca.pem\"}}", c);
	assert_string_equal(c->nats.creds, "/etc/sg/u.creds");
	assert_string_equal(c->nats.ca, "/etc/sg/nats-ca.pem");
	config_free(c);
	free(c);
	refused("{\"nats\": {\"replicas\": 6}}", "nats.replicas: ");
	refused("{\"nats\": {\"stream\": \"a.b\"}}", "nats.stream: must be");
	refused("{\"nats\": {\"subject_prefix\": \"a..b\"}}",
	    "nats.subject_prefix: must be");
	refused("{\"nats\": {\"replica\": 3}}", "nats.replica: unknown key");
	refused("{\"nats\": {\"ca\": 1}}", "nats.ca: must be a string or null");
	refused("{\"nats\": {\"ca\": \"a\\nb\"}}", "nats.ca: ");
	refused("{\"store\": null}", "store: must be a string");
	for (i = 0; i < sizeof(bad_up) / sizeof(bad_up[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"upstream\": %s}", bad_up[i]);
		refused(buf, "upstream: ");
	}
	refused("{\"upstream\": \"ftp://x\"}",
	    "upstream: must be http://, https:// or unix:/path");
	refused("{\"upstream\": \"http://a b\"}",
	    "upstream: must not contain spaces");
	refused("{\"upstream\": 1}", "upstream: must be a string or null");
}

/* Delivery, hooks, retention, per-route upstreams, the Redis prefix. */
static void
test_delivery(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.delivery.backoff_base_ms, 1000);
	assert_int_equal(c.delivery.backoff_cap_ms, 300000);
	assert_int_equal(c.delivery.max_attempts, 12);
	assert_int_equal(c.hook_deadline_ms.before_message_send, 1200);
	assert_int_equal(c.hook_deadline_ms.custom_commands, 700);
	assert_true(c.order_by_user);
	assert_int_equal(c.retention_s, 7 * 86400);
	assert_string_equal(c.redis_prefix, "streamgate");
	assert_string_equal(config_upstream(&c, CR_PUSH), "");

	accepted("{\"upstream\": \"http://127.0.0.1:3000/all\",\n"
	    " \"upstreams\": {\"before_message_send\": \"unix:/run/bms.sock\","
	    " \"push\": null},\n"
	    " \"delivery\": {\"backoff_base_ms\": 50, \"backoff_cap_ms\": 200,"
	    " \"max_attempts\": 3, \"timeout_ms\": 2000, \"concurrency\": 8},\n"
	    " \"hook_deadline_ms\": 900, \"retention_s\": 0,"
	    " \"redis_prefix\": \"edge:eu-1\"}", &c);
	assert_string_equal(config_upstream(&c, CR_PUSH),
	    "http://127.0.0.1:3000/all");
	assert_string_equal(config_upstream(&c, CR_BMS), "unix:/run/bms.sock");
	assert_string_equal(config_upstream(&c, CR_COMMANDS),
	    "http://127.0.0.1:3000/all");
	assert_int_equal(c.delivery.backoff_base_ms, 50);
	assert_int_equal(c.delivery.backoff_cap_ms, 200);
	assert_int_equal(c.delivery.max_attempts, 3);
	assert_int_equal(c.delivery.timeout_ms, 2000);
	assert_int_equal(c.delivery.concurrency, 8);
	assert_int_equal(c.hook_deadline_ms.before_message_send, 900);
	assert_int_equal(c.hook_deadline_ms.custom_commands, 900);
	assert_int_equal(c.retention_s, 0);
	assert_string_equal(c.redis_prefix, "edge:eu-1");
	config_free(&c);

	accepted("{\"upstream_ca_file\": \"/etc/streamgate/app-ca.pem\"}", &c);
	assert_string_equal(c.upstream_ca_file, "/etc/streamgate/app-ca.pem");
	config_free(&c);
	refused("{\"upstream_ca_file\": 1}",
	    "upstream_ca_file: must be a string or null");
	refused("{\"upstreams\": {\"pusher\": null}}",
	    "upstreams.pusher: unknown key");
	refused("{\"upstreams\": {\"push\": \"ftp://x\"}}",
	    "upstreams.push: must be http://, https:// or unix:/path");
	refused("{\"delivery\": {\"max_attempts\": 0}}",
	    "delivery.max_attempts: must be a whole number from 1 to 1000");
	refused("{\"delivery\": {\"backoff_base_ms\": 5000,"
	    " \"backoff_cap_ms\": 1000}}",
	    "delivery.backoff_cap_ms: 1000 is less than "
	    "delivery.backoff_base_ms (5000)");
	refused("{\"delivery\": {\"retry\": 1}}", "delivery.retry: unknown key");
	/* one deadline per hook; Stream lets Before-Message-Send wait 5 s */
	accepted("{\"hook_deadline_ms\": {\"before_message_send\": 4700,"
	    " \"custom_commands\": 1}, \"order_by_user\": false}", &c);
	assert_int_equal(c.hook_deadline_ms.before_message_send, 4700);
	assert_int_equal(c.hook_deadline_ms.custom_commands, 1);
	assert_false(c.order_by_user);
	config_free(&c);
	accepted("{\"hook_deadline_ms\": {\"custom_commands\": 5000}}", &c);
	assert_int_equal(c.hook_deadline_ms.before_message_send, 1200);
	assert_int_equal(c.hook_deadline_ms.custom_commands, 5000);
	config_free(&c);
	refused("{\"hook_deadline_ms\": 5001}",
	    "hook_deadline_ms: must be a whole number from 1 to 5000");
	refused("{\"hook_deadline_ms\": 0}",
	    "hook_deadline_ms: must be a whole number from 1 to 5000");
	refused("{\"hook_deadline_ms\": {\"before_message_send\": 5001}}",
	    "hook_deadline_ms.before_message_send: must be a whole number "
	    "from 1 to 5000");
	refused("{\"hook_deadline_ms\": {\"custom_commands\": 0.5}}",
	    "hook_deadline_ms.custom_commands: must be a whole number");
	refused("{\"hook_deadline_ms\": {\"push\": 100}}",
	    "hook_deadline_ms.push: unknown key");
	refused("{\"hook_deadline_ms\": \"1s\"}",
	    "hook_deadline_ms: must be a number or an object "
	    "{before_message_send, custom_commands}");
	refused("{\"order_by_user\": 1}",
	    "order_by_user: must be true or false");
	refused("{\"retention_s\": -1}", "retention_s: must be a whole number");
	refused("{\"redis_prefix\": \"a b\"}",
	    "redis_prefix: must be letters, digits and : _ . - only");
	refused("{\"redis_prefix\": \"\"}", "redis_prefix: must be letters");
}

/* TLS per listener, the user to drop to. */
static void
test_tls_user(void **state)
{
	struct config c;
	char err[ERRLEN] = "";

	(void)state;
	accepted("{\"listen\": [\"127.0.0.1:8080\", {\"addr\": \"0.0.0.0:443\","
	    " \"tls_cert\": \"/etc/c.pem\", \"tls_key\": \"/etc/k.pem\"}],"
	    " \"user\": \"sg_user\", \"limits\": {\"handshake_timeout_ms\": 3000}}",
	    &c);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[0].tls_cert, "");
	assert_string_equal(c.listen[1].text, "0.0.0.0:443");
	assert_string_equal(c.listen[1].tls_cert, "/etc/c.pem");
	assert_string_equal(c.listen[1].tls_key, "/etc/k.pem");
	assert_string_equal(c.user, "sg_user");
	assert_int_equal(c.limits.handshake_timeout_ms, 3000);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);

	/* flags: --tls-* belong to the --listen before them */
	assert_int_equal(config_flag_tls(&c, 0, "/c", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "--tls-cert: give it after the --listen it "
	    "belongs to");
	assert_int_equal(config_flag_listen(&c, "127.0.0.1:8443", 1, err,
	    sizeof(err)), 0);
	assert_int_equal(config_flag_tls(&c, 0, "/c", 1, err, sizeof(err)), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "127.0.0.1:8443: --tls-cert without --tls-key: "
	    "TLS needs both a certificate and a key");
	assert_int_equal(config_flag_tls(&c, 1, "/k", 1, err, sizeof(err)), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(config_flag_tls(&c, 1, "/k2", 1, err, sizeof(err)), -1);
	assert_string_equal(err, "--tls-key: given twice for 127.0.0.1:8443");
	assert_int_equal(config_flag_user(&c, "-x", err, sizeof(err)), -1);
	assert_string_equal(err, "--user: must be a user name (letters, digits, "
	    ". _ -)");
	config_free(&c);

	refused("{\"listen\": [{\"addr\": \"0.0.0.0:443\", \"tls_cert\": \"/c\"}]}",
	    "listen[0].tls_key: missing: TLS needs both tls_cert and tls_key");
	refused("{\"listen\": [{\"tls_cert\": \"/c\", \"tls_key\": \"/k\"}]}",
	    "listen[0].addr: missing");
	refused("{\"listen\": [{\"addr\": \"0.0.0.0:443\", \"cert\": \"/c\"}]}",
	    "listen[0].cert: unknown key");
	refused("{\"listen\": [1]}", "listen[0]: must be \"ADDR:PORT\" or an "
	    "object");
	refused("{\"user\": \"a b\"}", "user: must be a user name");
	refused("{\"limits\": {\"handshake_timeout_ms\": 10}}",
	    "limits.handshake_timeout_ms: must be a whole number from 100");
}

/* A refused file leaves the config as it was. */
static void
test_atomic(void **state)
{
	static const char bad[] = "{\"workers\": 9, \"listen\": "
	    "[\"10.0.0.1:1\"], \"keys\": [{\"api_key\": \"a\", "
	    "\"secret_file\": \"f\"}], \"store\": \"nope\"}";
	struct config c, before;
	char err[ERRLEN];

	(void)state;
	config_defaults(&c);
	before = c;
	assert_int_equal(config_parse(bad, strlen(bad), &c, err, sizeof(err)),
	    -1);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/test_config.XXXXXX", err[ERRLEN];
	struct config c;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\n\"workers\": 2,\n\"x\": 1}", 23), 23);
	close(fd);
	config_defaults(&c);
	assert_int_equal(config_load_file(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ": x: unknown key"));
	assert_int_equal(c.workers, 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "{\"workers\": 2}", 14), 14);
	close(fd);
	assert_int_equal(config_load_file(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 2);
	unlink(path);
	assert_int_equal(config_load_file(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

static void
test_addr(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
		int		 family;
	} good[] = {
		{ "127.0.0.1:8080", "127.0.0.1:8080", AF_INET },
		{ "0.0.0.0:443", "0.0.0.0:443", AF_INET },
		{ "1.2.3.4:1", "1.2.3.4:1", AF_INET },
		{ "1.2.3.4:65535", "1.2.3.4:65535", AF_INET },
		{ "[::1]:8080", "[::1]:8080", AF_INET6 },
		{ "[::]:443", "[::]:443", AF_INET6 },
		{ "[2001:DB8:0:0::1]:80", "[2001:db8::1]:80", AF_INET6 },
		{ "[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80", AF_INET6 },
	};
	static const char *bad[] = {
		"", ":80", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536",
		"1.2.3.4:123456", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:8a",
		"1.2.3:80", "256.1.1.1:80", "::1:80", "[::1]", "[::1:80",
		"[::1]80", "::1]:80", "[1.2.3.4]:80", "[fe80::1%eth0]:80",
		"localhost:80", "example.com:443", " 1.2.3.4:80",
		"1.2.3.4:80 ", "[]:80",
	};
	struct config_listen l;
	struct sockaddr_in6 *s6;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&l, 0xa5, sizeof(l));
		if (config_parse_addr(good[i].in, &l) != 0)
			fail_msg("refused %s", good[i].in);
		assert_string_equal(l.text, good[i].out);
		assert_int_equal(l.addr.ss_family, good[i].family);
		assert_int_equal(l.addrlen, good[i].family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	s6 = (struct sockaddr_in6 *)&l.addr;
	assert_int_equal(ntohs(s6->sin6_port), 80);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_addr(bad[i], &l) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

static void
test_flags(void **state)
{
	struct config c;
	char err[ERRLEN];

	(void)state;
	accepted(full, &c);
	/* The first --listen replaces the file's list, the next append. */
	assert_int_equal(config_flag_listen(&c, "10.0.0.1:80", 1, err,
	    sizeof(err)), 0);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].text, "10.0.0.1:80");
	assert_int_equal(config_flag_listen(&c, "[::1]:81", 0, err,
	    sizeof(err)), 0);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[1].text, "[::1]:81");
	assert_int_equal(config_flag_listen(&c, "10.0.0.1:80", 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "--listen: 10.0.0.1:80 given twice"));
	assert_int_equal(config_flag_listen(&c, "1.2.3.4", 0, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "--listen: '1.2.3.4' is not ADDR:PORT");
	assert_int_equal(c.nlisten, 2);

	assert_int_equal(config_flag_key(&c, "kx=/etc/kx", 1, err,
	    sizeof(err)), 0);
	assert_int_equal(c.nkeys, 1);
	assert_string_equal(c.keys[0].api_key, "kx");
	assert_string_equal(c.keys[0].secret_file, "/etc/kx");
	assert_int_equal(config_flag_key(&c, "kx=/etc/kx2", 0, err,
	    sizeof(err)), 0);
	assert_int_equal(config_flag_key(&c, "ky=a=b", 0, err,
	    sizeof(err)), 0);
	assert_int_equal(c.nkeys, 3);
	assert_string_equal(c.keys[2].secret_file, "a=b");
	assert_int_equal(config_flag_key(&c, "abc", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "--key: 'abc' is not API_KEY=SECRET_FILE");
	assert_int_equal(config_flag_key(&c, "=f", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "--key: '=f': API_KEY must be 1 to 127 "
	    "printable characters without spaces");
	assert_int_equal(config_flag_key(&c, "k=", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--key: 'k=': SECRET_FILE is empty"));
	assert_int_equal(config_flag_key(&c, "kx=/etc/kx", 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "given twice"));
	/* A refused first --key leaves the list alone. */
	assert_int_equal(config_flag_key(&c, "bad key=f", 1, err,
	    sizeof(err)), -1);
	assert_int_equal(c.nkeys, 3);

	assert_int_equal(config_flag_store(&c, "sqlite:/var/lib/sg.db", err,
	    sizeof(err)), 0);
	assert_string_equal(c.store, "sqlite:/var/lib/sg.db");
	assert_int_equal(config_flag_store(&c, "mysql:x", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "--store: must be sqlite:PATH, "
	    "redis://HOST:PORT[/DB] or nats://HOST:PORT[,HOST:PORT...] "
	    "(tls:// for TLS, at most 16)");
	assert_string_equal(c.store, "sqlite:/var/lib/sg.db");
	assert_int_equal(config_flag_upstream(&c, "http://127.0.0.1:3000",
	    err, sizeof(err)), 0);
	assert_string_equal(c.upstream, "http://127.0.0.1:3000");
	assert_int_equal(config_flag_upstream(&c, "gopher://x", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "--upstream: must be http://, https:// or "
	    "unix:/path");
	assert_int_equal(config_flag_metrics(&c, "[::1]:9100", err,
	    sizeof(err)), 0);
	assert_string_equal(c.metrics.text, "[::1]:9100");
	assert_int_equal(config_flag_metrics(&c, "host:9100", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "--metrics: 'host:9100' is not "
	    "ADDR:PORT"));
	assert_string_equal(c.metrics.text, "[::1]:9100");
	config_free(&c);
}

static void
test_flag_limits(void **state)
{
	struct config c;
	char err[ERRLEN], arg[32];
	size_t i;

	(void)state;
	config_defaults(&c);
	for (i = 0; i < CONFIG_MAX_LISTEN; i++) {
		snprintf(arg, sizeof(arg), "127.0.0.1:%zu", 2000 + i);
		assert_int_equal(config_flag_listen(&c, arg, i == 0, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(config_flag_listen(&c, "127.0.0.1:9", 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "--listen: more than 16"));
	for (i = 0; i < CONFIG_MAX_KEYS; i++) {
		snprintf(arg, sizeof(arg), "k%zu=f", i);
		assert_int_equal(config_flag_key(&c, arg, i == 0, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(config_flag_key(&c, "kk=f", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--key: 'kk=f': more than 64"));
	assert_int_equal(config_flag_key(&c, "kk=f", 1, err, sizeof(err)), 0);
	assert_int_equal(c.nkeys, 1);
	config_free(&c);
}

/* A secret file in a fresh directory; path gets its name. */
static void
secret_file(char *dir, char *path, size_t len, const char *name,
    const char *body, mode_t mode)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_secrets(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", err[ERRLEN];
	char p1[256], p2[256], p3[256], arg[300];
	struct secret out[4];
	struct config c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	secret_file(dir, p1, sizeof(p1), "old", "old-secret\n", 0600);
	secret_file(dir, p2, sizeof(p2), "new", "  new-secret  \n", 0400);
	secret_file(dir, p3, sizeof(p3), "open", "s\n", 0644);

	config_defaults(&c);
	/* Nothing loaded yet: no secret is handed out. */
	snprintf(arg, sizeof(arg), "k1=%s", p1);
	assert_int_equal(config_flag_key(&c, arg, 1, err, sizeof(err)), 0);
	assert_int_equal(config_secrets_for(&c, "k1", 2, out, 4), 0);
	/* Rotation: the same API key twice. */
	snprintf(arg, sizeof(arg), "k1=%s", p2);
	assert_int_equal(config_flag_key(&c, arg, 0, err, sizeof(err)), 0);
	snprintf(arg, sizeof(arg), "k2=%s", p1);
	assert_int_equal(config_flag_key(&c, arg, 0, err, sizeof(err)), 0);
	assert_int_equal(config_load_secrets(&c, err, sizeof(err)), 0);
	assert_int_equal(config_secrets_for(&c, "k1", 2, out, 4), 2);
	assert_int_equal(out[0].len, 10);
	assert_memory_equal(out[0].bytes, "old-secret", 10);
	assert_int_equal(out[1].len, 10);
	assert_memory_equal(out[1].bytes, "new-secret", 10);
	assert_int_equal(config_secrets_for(&c, "k1", 2, out, 1), 1);
	assert_int_equal(config_secrets_for(&c, "k2", 2, out, 4), 1);
	assert_int_equal(config_secrets_for(&c, "k3", 2, out, 4), 0);
	assert_int_equal(config_secrets_for(&c, "k", 1, out, 4), 0);
	assert_int_equal(config_secrets_for(&c, "k1x", 3, out, 4), 0);
	assert_int_equal(config_secrets_for(&c, "k1x", 2, out, 4), 2);
	/* Loading again reloads. */
	assert_int_equal(config_load_secrets(&c, err, sizeof(err)), 0);
	assert_int_equal(config_secrets_for(&c, "k1", 2, out, 4), 2);
	config_free(&c);
	assert_null(c.keys[0].secret.bytes);
	assert_int_equal(config_secrets_for(&c, "k1", 2, out, 4), 0);

	/* A file readable by others is refused, naming the entry. */
	snprintf(arg, sizeof(arg), "kopen=%s", p3);
	assert_int_equal(config_flag_key(&c, arg, 0, err, sizeof(err)), 0);
	assert_int_equal(config_load_secrets(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "keys[3] (API key 'kopen'): "));
	assert_non_null(strstr(err, p3));
	assert_non_null(strstr(err, "0644"));
	config_free(&c);

	snprintf(arg, sizeof(arg), "kgone=%s/missing", dir);
	assert_int_equal(config_flag_key(&c, arg, 1, err, sizeof(err)), 0);
	assert_int_equal(config_load_secrets(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "keys[0] (API key 'kgone'): "));
	config_free(&c);

	unlink(p1);
	unlink(p2);
	unlink(p3);
	rmdir(dir);
}

/* A file that replaces the key list releases the old secrets. */
static void
test_reload_keys(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", err[ERRLEN], p[256];
	char json[512];
	struct secret out[2];
	struct config c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	secret_file(dir, p, sizeof(p), "s", "abc\n", 0600);
	snprintf(json, sizeof(json), "{\"keys\": [{\"api_key\": \"a\", "
	    "\"secret_file\": \"%s\"}]}", p);
	accepted(json, &c);
	assert_int_equal(config_load_secrets(&c, err, sizeof(err)), 0);
	assert_int_equal(config_secrets_for(&c, "a", 1, out, 2), 1);
	assert_int_equal(config_parse(json, strlen(json), &c, err,
	    sizeof(err)), 0);
	assert_null(c.keys[0].secret.bytes);
	assert_int_equal(config_secrets_for(&c, "a", 1, out, 2), 0);
	config_free(&c);
	unlink(p);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_partial_file),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_store_upstream),
		cmocka_unit_test(test_delivery),
		cmocka_unit_test(test_tls_user),
		cmocka_unit_test(test_atomic),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_flag_limits),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_reload_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
