/*
 * urls.c: `streamgate stream-urls` (see urls.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "urls.h"

#define URL_LEN		(CONFIG_KEY_LEN + 512)

int
urls_host_check(const char *host)
{
	size_t n = strlen(host);
	struct in6_addr a6;
	char buf[64];

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -1;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 ? 0 : -1;
	}
	if (n == 0 || n > 253 || host[0] == '-' || host[0] == '.' ||
	    host[n - 1] == '-' || strstr(host, "..") != NULL)
		return -1;
	return strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n ? 0 : -1;
}

/* The first listener with a certificate, or NULL. */
static const struct config_listen *
tls_listener(const struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].tls_cert[0])
			return &c->listen[i];
	return NULL;
}

static unsigned
listen_port(const struct config_listen *l)
{
	if (l->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
}

/* Before-Message-Send: the daemon's deadline. */
static unsigned
bms_deadline_ms(const struct config *c)
{
	return c->hook_deadline_ms.before_message_send;
}

/* What Stream should wait for a Before-Message-Send: the daemon's
 * deadline and the margin, at most what Stream allows. */
static unsigned
bms_timeout_ms(const struct config *c)
{
	unsigned t = bms_deadline_ms(c) + URLS_BMS_MARGIN_MS;

	return t > URLS_BMS_TIMEOUT_MAX ? URLS_BMS_TIMEOUT_MAX : t;
}

/* https://HOST[:PORT]ROUTE[SUFFIX] */
static void
url_make(char *buf, size_t len, const char *host, unsigned port,
    const char *route, const char *suffix)
{
	char p[16] = "";

	if (port != 443)
		snprintf(p, sizeof(p), ":%u", port);
	snprintf(buf, len, "https://%s%s%s%s", host, p, route, suffix);
}

int
urls_print(FILE *fp, const struct config *c, const char *config,
    const char *host, int json)
{
	const struct config_listen *tls = tls_listener(c);
	unsigned port = tls ? listen_port(tls) : 443;
	unsigned timeout = bms_timeout_ms(c);
	char push[URL_LEN], bms[URL_LEN], cmds[URL_LEN], path_form[URL_LEN];
	const char *from = config[0] ? config : "the daemon's defaults (no "
	    "config file)";
	cJSON *o, *h, *it;
	char *text;

	url_make(push, sizeof(push), host, port, c->route_push, "");
	url_make(bms, sizeof(bms), host, port, c->route_bms, "");
	url_make(cmds, sizeof(cmds), host, port, c->route_commands,
	    "?type={type}");
	if (tls == NULL)
		log_warnx("note: no TLS listener in %s: these URLs assume a "
		    "TLS terminator on %s:443 that hands the requests to "
		    "streamgated", from, host);
	if (bms_deadline_ms(c) + URLS_BMS_MARGIN_MS > URLS_BMS_TIMEOUT_MAX)
		log_warnx("note: the Before-Message-Send deadline (%u ms) "
		    "leaves less than %u ms before Stream gives up (%u ms at "
		    "most): Stream may time out before streamgated answers",
		    bms_deadline_ms(c), URLS_BMS_MARGIN_MS,
		    URLS_BMS_TIMEOUT_MAX);
	if (c->hook_deadline_ms.custom_commands + URLS_BMS_MARGIN_MS >
	    URLS_COMMANDS_WAIT_MS)
		log_warnx("note: the Custom Commands deadline (%u ms) leaves "
		    "less than %u ms before Stream gives up (about %u ms, not "
		    "configurable): Stream may time out before streamgated "
		    "answers", c->hook_deadline_ms.custom_commands,
		    URLS_BMS_MARGIN_MS, URLS_COMMANDS_WAIT_MS);

	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "webhook_url", push) == NULL ||
	    cJSON_AddStringToObject(o, "before_message_send_hook_url",
	    bms) == NULL ||
	    cJSON_AddNumberToObject(o,
	    "before_message_send_hook_attempt_timeout_ms", timeout) == NULL ||
	    cJSON_AddStringToObject(o, "custom_action_handler_url",
	    cmds) == NULL)
		fatalx("%s: out of memory", __func__);
	if (json) {
		if ((text = cJSON_PrintUnformatted(o)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n", text);
		free(text);
		cJSON_Delete(o);
		return 0;
	}

	fprintf(fp, "Stream app settings for streamgated at https://%s",
	    host);
	if (port != 443)
		fprintf(fp, ":%u", port);
	fprintf(fp, "\n(%s; ", from);
	if (tls)
		fprintf(fp, "TLS listener %s)\n\n", tls->text);
	else
		fprintf(fp, "no TLS listener)\n\n");
	fprintf(fp, "  %-44s %s\n", "webhook_url", push);
	fprintf(fp, "  %-44s %s\n", "before_message_send_hook_url", bms);
	fprintf(fp, "  %-44s %u\n", "before_message_send_hook_attempt_timeout_ms",
	    timeout);
	fprintf(fp, "  %-44s %s\n", "custom_action_handler_url", cmds);
	url_make(path_form, sizeof(path_form), host, port, c->route_commands,
	    "/{type}");
	fprintf(fp, "\nStream puts the command's name in place of {type}; "
	    "it may be in the path instead:\n  %s\n", path_form);

	if ((h = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(h, "hook_type", "webhook") == NULL ||
	    cJSON_AddTrueToObject(h, "enabled") == NULL ||
	    cJSON_AddArrayToObject(h, "event_types") == NULL ||
	    cJSON_AddStringToObject(h, "webhook_url", push) == NULL ||
	    (text = cJSON_PrintUnformatted(h)) == NULL)
		fatalx("%s: out of memory", __func__);
	fprintf(fp, "\nPush as an entry of event_hooks instead of webhook_url "
	    "(an app's SQS and SNS\nhooks stay in that list beside it; "
	    "streamgated does not replace them):\n  %s\n", text);
	free(text);
	cJSON_Delete(h);

	fprintf(fp, "\nupdateAppSettings (server SDKs: "
	    "client.updateAppSettings(...), update_app_settings(...)):\n{");
	cJSON_ArrayForEach(it, o) {
		if ((text = cJSON_PrintUnformatted(it)) == NULL)
			fatalx("%s: out of memory", __func__);
		fprintf(fp, "%s\n  \"%s\": %s", it == o->child ? "" : ",",
		    it->string, text);
		free(text);
	}
	fprintf(fp, "\n}\n");
	cJSON_Delete(o);
	return 0;
}
