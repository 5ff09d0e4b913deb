/*
 * probe.c: finding and asking the daemon (see probe.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "probe.h"

#define PROBE_BODY_MAX	(4u << 20)	/* a /metrics page is a few KiB */

void
probe_where(const struct cli_args *a, struct probe_where *w)
{
	char buf[PATH_MAX];
	int checkout;

	memset(w, 0, sizeof(*w));
	checkout = cli_exe_sibling(PROBE_CHECKOUT_CONFIG, R_OK, buf,
	    sizeof(buf)) == 0 && realpath(buf, w->config) != NULL;
	if (cli_has(a, CF_CONFIG)) {
		snprintf(w->config, sizeof(w->config), "%s", a->v[CF_CONFIG]);
		w->config_given = 1;
	} else if (!checkout)
		snprintf(w->config, sizeof(w->config), "%s", PROBE_CONFIG);
	if (cli_has(a, CF_RUN_DIR))
		snprintf(w->run_dir, sizeof(w->run_dir), "%s",
		    a->v[CF_RUN_DIR]);
	else if (checkout && cli_exe_sibling(PROBE_CHECKOUT_RUN_DIR, F_OK,
	    buf, sizeof(buf)) == 0 && realpath(buf, w->run_dir) != NULL)
		;	/* make run DEV=...'s */
	else
		snprintf(w->run_dir, sizeof(w->run_dir), "%s", PROBE_RUN_DIR);
	snprintf(w->pid_file, sizeof(w->pid_file), "%s/streamgated.pid",
	    w->run_dir);
}

int
probe_config(const struct probe_where *w, struct config **c, char *err,
    size_t errlen)
{
	if ((*c = calloc(1, sizeof(**c))) == NULL)
		fatal("%s", __func__);
	config_defaults(*c);
	if (!w->config_given && access(w->config, F_OK) != 0 &&
	    errno == ENOENT)
		return 0;
	if (config_load_file(w->config, *c, err, errlen) == 0)
		return 0;
	probe_config_free(*c);
	*c = NULL;
	return -1;
}

void
probe_config_free(struct config *c)
{
	if (c == NULL)
		return;
	config_free(c);
	free(c);
}

int
probe_pid_is_daemon(pid_t pid)
{
	char path[64], buf[512], *lp, *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, even ") " */
	if ((lp = strchr(buf, '(')) == NULL ||
	    (rp = strrchr(buf, ')')) == NULL || rp[1] != ' ')
		return 0;
	*rp = '\0';
	return strcmp(lp + 1, "streamgated") == 0 && rp[2] != 'Z' &&
	    rp[2] != 'X';
}

pid_t
probe_pid_read(const char *path)
{
	char buf[32], *end;
	long v;
	FILE *fp;
	int fd;

	/* never through a symlink: a pid file is a plain file of ours */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end != '\n' && *end != '\0') || v <= 1 ||
	    v > INT_MAX)
		return -1;
	return probe_pid_is_daemon((pid_t)v) ? (pid_t)v : -1;
}

void
probe_target(const struct config_listen *l, struct config_listen *to)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&to->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&to->addr;

	*to = *l;
	if (to->addr.ss_family == AF_INET &&
	    a4->sin_addr.s_addr == htonl(INADDR_ANY)) {
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		snprintf(to->text, sizeof(to->text), "127.0.0.1:%u",
		    ntohs(a4->sin_port));
	} else if (to->addr.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) {
		a6->sin6_addr = in6addr_loopback;
		snprintf(to->text, sizeof(to->text), "[::1]:%u",
		    ntohs(a6->sin6_port));
	}
}

struct answer {
	char	*buf;
	size_t	 len;
	int	 keep;		/* the caller wants the body */
};

static size_t
answer_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;
	char *nb;

	if (!a->keep)
		return n;
	if (a->len + n >= PROBE_BODY_MAX ||
	    (nb = realloc(a->buf, a->len + n + 1)) == NULL)
		return 0;	/* curl fails the transfer: a write error */
	memcpy(nb + a->len, data, n);
	a->buf = nb;
	a->len += n;
	a->buf[a->len] = '\0';
	return n;
}

int
probe_get(const struct config_listen *to, const char *path, int timeout_ms,
    char **body, char *err, size_t errlen)
{
	struct answer a = { .keep = body != NULL };
	char url[512], cerr[CURL_ERROR_SIZE] = "";
	long code = -1;
	CURLcode rc;
	CURL *h;

	if (body)
		*body = NULL;
	snprintf(url, sizeof(url), "%s://%s%s", to->tls_cert[0] ? "https" :
	    "http", to->text, path);
	if ((h = curl_easy_init()) == NULL) {
		log_errbuf(err, errlen, "GET %s: out of memory", url);
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");	/* always direct */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "streamgate-status");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, answer_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	if ((rc = curl_easy_perform(h)) != CURLE_OK) {
		log_errbuf(err, errlen, "GET %s: %s", url, cerr[0] ? cerr :
		    curl_easy_strerror(rc));
		free(a.buf);
		curl_easy_cleanup(h);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (body)
		*body = a.buf ? a.buf : strdup("");
	else
		free(a.buf);
	return (int)code;
}
