#!/usr/bin/env python3
"""tests/ops/promql_check.py: the dashboard and the alert rules against what
a live streamgated exports.

  promql_check.py METRICS_FILE DASHBOARD.json RULES.yml OUT_RULES.yml

METRICS_FILE is one scrape of /metrics (Prometheus text).  Prints one
"PASS: ..." or "FAIL: ...: why" line per check:

  - the dashboard is JSON with panels, a datasource variable, and every
    panel and target on that variable;
  - every metric name in every dashboard expression (and the instance
    variable's label_values) is one the daemon exports: a family, or a
    histogram's _bucket/_sum/_count;
  - every family the daemon exports is on the dashboard;
  - every metric name in the alert rules is exported (or Prometheus' own
    `up`);
  - every rule has a `for:`, a severity label, a summary and a description.

It also writes OUT_RULES.yml: each dashboard expression as a recording rule
(Grafana's $variables replaced by values), for `promtool check rules` to
parse as PromQL.
"""
import json
import re
import sys

import yaml

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on",
            "ignoring", "group_left", "group_right", "inf", "nan", "atan2"}

nfail = 0


def report(name, bad):
    global nfail
    if bad:
        nfail += 1
        print("FAIL: %s: %s" % (name, bad))
    else:
        print("PASS: %s" % name)


def exported(path):
    """Family names and their types, from the text format."""
    fam = {}
    for ln in open(path):
        m = re.match(r"# TYPE (\S+) (\S+)", ln)
        if m:
            fam[m.group(1)] = m.group(2)
    names = set(fam)
    for f, t in fam.items():
        if t in ("histogram", "summary"):
            names |= {f + "_bucket", f + "_sum", f + "_count"}
    return fam, names


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # strings
    s = re.sub(r"\$\{?\w+\}?", "", s)                        # $variables
    s = re.sub(r"\{[^}]*\}", "", s)                          # matchers
    s = re.sub(r"\[[^\]]*\]", "", s)                         # ranges
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", "", s)                          # label lists
    s = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+|[smhdwy]+)?\b", "", s)
    out = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        tok = m.group(0)
        if tok.lower() in KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue
        out.add(tok)
    return out


def main():
    mfile, dfile, rfile, out_rules = sys.argv[1:5]
    fam, names = exported(mfile)

    # ---- the dashboard
    try:
        d = json.load(open(dfile))
    except ValueError as e:
        report("dashboard: valid JSON", str(e))
        return 1
    report("dashboard: valid JSON with a title, a uid and panels",
           "" if d.get("title") and d.get("uid") and d.get("panels") else
           "title/uid/panels missing")
    tvars = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    report("dashboard: a Prometheus data source variable",
           "" if tvars.get("datasource", {}).get("type") == "datasource"
           else "no templating variable 'datasource'")
    exprs, offside = [], []
    for p in d["panels"]:
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            offside.append(p.get("title"))
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                offside.append("%s/%s" % (p.get("title"), t.get("refId")))
            exprs.append((p.get("title"), t["expr"]))
    report("dashboard: every panel and target on ${datasource}",
           ", ".join(offside))
    used, unknown = set(), []
    for title, e in exprs:
        n = metric_names(e)
        used |= n
        unknown += ["%s: %s" % (title, x) for x in sorted(n - names)]
    for v in tvars.values():
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", q)
        if m:
            used.add(m.group(1))
            if m.group(1) not in names:
                unknown.append("variable %s: %s" % (v["name"], m.group(1)))
    report("dashboard: %d expressions name only metrics the daemon exports"
           % len(exprs), "; ".join(unknown))
    missing = sorted(f for f in fam
                     if not ({f, f + "_bucket", f + "_sum", f + "_count"}
                             & used))
    report("dashboard: every family the daemon exports (%d) is on it"
           % len(fam), ", ".join(missing))
    with open(out_rules, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
            {"record": "dashboard:expr_%d" % i,
             "expr": e.replace("$__rate_interval", "5m")
                      .replace("$instance", ".*")}
            for i, (_, e) in enumerate(exprs)]}]}, f)

    # ---- the rules
    groups = yaml.safe_load(open(rfile))["groups"]
    rules = [r for g in groups for r in g["rules"]]
    unknown, shape = [], []
    for r in rules:
        n = metric_names(r["expr"]) - {"up"}
        unknown += ["%s: %s" % (r.get("alert"), x) for x in sorted(n - names)]
        if "alert" in r:
            for need, have in (("for", r.get("for")),
                               ("severity", r.get("labels", {}).get("severity")),
                               ("summary", r.get("annotations", {}).get("summary")),
                               ("description", r.get("annotations", {}).get("description"))):
                if not have:
                    shape.append("%s: no %s" % (r["alert"], need))
    report("rules: %d alerts name only metrics the daemon exports (and up)"
           % len(rules), "; ".join(unknown))
    report("rules: every alert has for:, severity, summary and description",
           "; ".join(shape))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
