#!/usr/bin/env python3
"""flood-report.py: the counting side of bench/bench-flood.sh.

  flood-report.py snap OUT.json EDGE_NS DEV SG_BIN GEN_BIN [PID=NAME ...]
      Every counter a flood run is judged by, read at one moment: the
      machine's /proc/stat, the edge device's link and ethtool (veth)
      statistics, the XDP filter's counters (streamgate filter stats),
      the nft rule counters by comment, the edge's SNMP counters, its
      conntrack count, and the CPU time (/proc/PID/schedstat, ns) of the
      named threads (the NAPI threads).
  flood-report.py run RESULTS CONFIG FLOOD BEFORE AFTER GEN_LINE BASE
      One flood run: the differences, the edge's CPU per packet, where
      every packet went; one JSON line appended to RESULTS.
  flood-report.py base OUT BEFORE AFTER
      The idle machine's system+irq+softirq per second (subtracted).
  flood-report.py legit RESULTS CONFIG RATE WRK_LINE [FLOOD_LINE]
      One legit run under a flood at RATE (0: none).
  flood-report.py conn RESULTS CONFIG CONN_LINE PUSH_STATUS BEFORE AFTER
      The connection flood.
  flood-report.py report RESULTS LEGIT_RPS
      The tables and the final line.

The edge's CPU per flood packet: the time the edge's NAPI thread (every
packet that reaches the edge is received, filtered, answered or dropped
there: bench-flood.sh makes fe0's NAPI threaded) and the daemon's threads
ran during the flood, from /proc/PID/task/TID/schedstat (ns), over the
packets the generator sent.  The machine's view is kept beside it
("machine"): /proc/stat's system + irq + softirq of all cores over the run
(USER_HZ ticks), less the generator's own system time (getrusage: the
utime/stime of /proc/PID/stat), less the NAPI thread of the attacker's end
of the link (it drops the edge's answers to spoofed sources), less what the
idle machine spent in those states over as long.  That view also holds
whatever else the kernel did meanwhile for anyone (the generator's page
pools are released by kworkers; on a VM shared with other work, their
system time), which is why it is not the headline.
"""
import json
import os
import subprocess
import sys

USER_HZ = os.sysconf("SC_CLK_TCK")


def sh(*cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True).stdout


def in_ns(ns, *cmd):
    return sh("nsenter", "--net=/run/netns/" + ns, *cmd)


def snmp(text):
    out, lines = {}, text.splitlines()
    for a, b in zip(lines[::2], lines[1::2]):
        ka, kb = a.split(), b.split()
        if ka and kb and ka[0] == kb[0]:
            for k, v in zip(ka[1:], kb[1:]):
                try:
                    out[ka[0].rstrip(":") + k] = int(v)
                except ValueError:
                    pass
    return out


def snap(out, ns, dev, sg, gen, threads):
    s = {}
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    s["cpu"] = [int(x) for x in cpu[1:]]
    try:
        link = json.loads(in_ns(ns, "ip", "-j", "-s", "link", "show", dev))[0]
        s["rx_packets"] = link["stats64"]["rx"]["packets"]
        s["rx_dropped"] = link["stats64"]["rx"]["dropped"]
    except (ValueError, IndexError, KeyError):
        s["rx_packets"] = s["rx_dropped"] = 0
    eth = {}
    for line in in_ns(ns, gen, "stats", "--dev", dev).splitlines():
        k, _, v = line.rpartition(" ")
        if v.isdigit():
            eth[k.strip()] = int(v)
    s["eth"] = eth
    xdp = {}
    try:
        st = json.loads(in_ns(ns, sg, "filter", "stats", "--json"))
        for k, r in st.get("dropped", {}).items():
            xdp["drop:" + k] = r["packets"]
        for k, r in st.get("unchecked", {}).items():
            xdp["skip:" + k] = r["packets"]
        for r in st.get("regions", []):
            xdp["pass"] = xdp.get("pass", 0) + r["packets"]
    except (ValueError, KeyError, TypeError):
        pass
    s["xdp"] = xdp
    nft = {}
    try:
        for o in json.loads(in_ns(ns, "nft", "-j", "list", "ruleset"))["nftables"]:
            r = o.get("rule")
            if not r or "comment" not in r:
                continue
            for e in r["expr"]:
                if isinstance(e.get("counter"), dict):
                    key = r["family"] + ":" + r["comment"]
                    nft[key] = nft.get(key, 0) + e["counter"]["packets"]
    except (ValueError, KeyError):
        pass
    s["nft"] = nft
    s["snmp"] = snmp(in_ns(ns, "cat", "/proc/net/snmp") +
                     in_ns(ns, "cat", "/proc/net/netstat"))
    try:
        s["conntrack"] = int(in_ns(ns, "cat",
                                   "/proc/sys/net/netfilter/nf_conntrack_count"))
    except ValueError:
        s["conntrack"] = 0
    s["threads"] = {}
    for t in threads:
        # every thread of PID (a kthread has one): schedstat's first
        # field is the time it ran, in ns
        pid, _, name = t.partition("=")
        s["threads"][name] = 0
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%s/task/%s/schedstat" % (pid, tid)) as f:
                    s["threads"][name] += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    with open(out, "w") as f:
        json.dump(s, f)


def load(p):
    with open(p) as f:
        return json.load(f)


def kv(line):
    return {k: v for k, _, v in (w.partition("=") for w in line.split()[1:])}


def d(a, b, *path):
    x, y = a, b
    for k in path:
        x, y = x.get(k, 0) if isinstance(x, dict) else 0, \
            y.get(k, 0) if isinstance(y, dict) else 0
    return (y or 0) - (x or 0)


def dsum(a, b, key):
    keys = set(a.get(key, {})) | set(b.get(key, {}))
    return {k: b.get(key, {}).get(k, 0) - a.get(key, {}).get(k, 0) for k in keys}


def busy_ticks(a, b):
    # /proc/stat cpu: user nice system idle iowait irq softirq steal ...
    return sum(b["cpu"][i] - a["cpu"][i] for i in (2, 5, 6))


def cmd_base(out, before, after, seconds):
    a, b = load(before), load(after)
    with open(out, "w") as f:
        json.dump({"ticks_per_s": busy_ticks(a, b) / float(seconds)}, f)


def cmd_run(results, config, flood, before, after, genline, base, seconds):
    a, b = load(before), load(after)
    g = kv(genline)
    sent = int(g["sent"])
    idle = load(base)["ticks_per_s"] * float(seconds)
    busy = busy_ticks(a, b) - idle
    th = dsum(a, b, "threads")
    gen_sys = float(g["sys_s"])
    sink = th.get("sink", 0) / 1e9
    machine_s = busy / USER_HZ - gen_sys - sink
    edge_s = (th.get("napi", 0) + th.get("daemon", 0)) / 1e9
    xdp, nft, sn = dsum(a, b, "xdp"), dsum(a, b, "nft"), dsum(a, b, "snmp")
    eth = dsum(a, b, "eth")
    ring = d(a, b, "rx_dropped")
    xdp_drop = sum(v for k, v in xdp.items() if k.startswith("drop:"))
    bare_drop = eth.get("rx_queue_0_xdp_drops", 0) if not xdp else 0
    nft_drop = sum(v for k, v in nft.items() if "not allowed" in k)
    # what reached the stack: TCP segments, UDP datagrams, IP fragments
    stack = (sn.get("TcpInSegs", 0) + sn.get("TcpInErrs", 0) +
             sn.get("UdpInDatagrams", 0) + sn.get("UdpNoPorts", 0) +
             sn.get("UdpInErrors", 0) + sn.get("IpReasmReqds", 0))
    if flood == "frag":
        # reassembly counts every fragment it queues, at the input hook
        # or ahead of conntrack: count those alone
        stack = sn.get("IpReasmReqds", 0)
    r = {
        "kind": "flood", "config": config, "flood": flood,
        "rate": float(g.get("pps", 0)), "sent": sent, "bad": int(g.get("bad", 0)),
        "gen_ns": (float(g["user_s"]) + gen_sys) * 1e9 / max(sent, 1),
        "mode": g.get("mode"),
        "edge_ns": edge_s * 1e9 / max(sent, 1),
        "machine_ns": machine_s * 1e9 / max(sent, 1),
        "napi_ns": th.get("napi", 0) / max(sent, 1),
        "sink_ns": th.get("sink", 0) / max(sent, 1),
        "ring": ring, "xdp_drop": xdp_drop, "bare_drop": bare_drop,
        "nft_drop": nft_drop, "nft": {k: v for k, v in nft.items() if v},
        "xdp": {k: v for k, v in xdp.items() if v},
        "stack": stack,
        "syncookies": sn.get("TcpExtSyncookiesSent", 0),
        "listen_drops": sn.get("TcpExtListenDrops", 0),
        "reasm_fails": sn.get("IpReasmFails", 0),
        "conntrack_after": b.get("conntrack", 0),
    }
    r["accounted"] = ring + xdp_drop + bare_drop + nft_drop + stack
    with open(results, "a") as f:
        f.write(json.dumps(r) + "\n")
    print("  %-12s %-9s sent %9d at %7.0f pps: edge %6.0f ns/pkt (napi %5.0f),"
          " generator %4.0f ns/pkt; ring %d xdp %d bare %d nft %d stack %d"
          " = %d" % (config, flood, sent, r["rate"], r["edge_ns"], r["napi_ns"],
                     r["gen_ns"], ring, xdp_drop, bare_drop, nft_drop, stack,
                     r["accounted"]))


def cmd_legit(results, config, rate, wrkline, floodline=""):
    w = kv(wrkline)
    g = kv(floodline) if floodline else {}
    r = {"kind": "legit", "config": config, "rate": float(rate),
         "sent_pps": float(g.get("pps", 0)) if g else 0.0,
         "rps": float(w["rps"]), "p99_ms": int(w["p99_us"]) / 1000.0,
         "ok": int(w["ok"]), "non200": int(w["non200"]),
         "errors": sum(int(w[k]) for k in ("err_connect", "err_read",
                                           "err_write", "err_timeout"))}
    with open(results, "a") as f:
        f.write(json.dumps(r) + "\n")
    print("  %-12s legit at flood %7.0f pps: %7.0f req/s, p99 %7.2f ms, %d non-200,"
          " %d socket errors" % (config, r["sent_pps"], r["rps"], r["p99_ms"],
                                 r["non200"], r["errors"]))


def cmd_conn(results, config, connline, status, before, after):
    c = kv(connline)
    a, b = load(before), load(after)
    nft, xdp = dsum(a, b, "nft"), dsum(a, b, "xdp")
    r = {"kind": "conn", "config": config, "push": status,
         "nft_drop": sum(v for k, v in nft.items() if "not allowed" in k),
         "xdp_drop": sum(v for k, v in xdp.items() if k.startswith("drop:"))}
    r.update({k: int(v) for k, v in c.items()})
    with open(results, "a") as f:
        f.write(json.dumps(r) + "\n")
    print("  %-12s conn flood: %d tried, %d established, %d closed by the server,"
          " %d pending; a new signed push meanwhile: %s" % (
              config, r["tried"], r["established"], r["closed"], r["pending"],
              status))


LABEL = {
    "none": "nothing (listening socket, SYN cookies)",
    "nft-input": "nft inet (ports)",
    "nft-strict": "nft inet (strict)",
    "nft-ingress": "nft netdev ingress (ports)",
    "bare": "bare XDP_DROP (the floor)",
    "xdp": "streamgate XDP (ports)",
    "xdp-strict": "streamgate XDP (strict)",
    "up": "streamgate up (XDP + nft inet)",
}


def median(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def cmd_report(results, legit_rps):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    configs = []
    for r in rows:
        if r["config"] not in configs:
            configs.append(r["config"])
    fl = [r for r in rows if r["kind"] == "flood"]
    lg = [r for r in rows if r["kind"] == "legit"]
    cn = [r for r in rows if r["kind"] == "conn"]

    def ladder(c, flood="syn"):
        v = [r for r in fl if r["config"] == c and r["flood"] == flood]
        return v[0] if v else None

    syn = [r for r in fl if r["flood"] == "syn"]
    if syn:
        print("\nThe ladder: a SYN flood to the protected port from random foreign"
              " sources at %.0f pps offered" % median([r["rate"] for r in syn]))
        print("(edge: the edge's NAPI thread + the daemon, schedstat; napi: the"
              " NAPI thread alone;\n machine: /proc/stat system+irq+softirq less"
              " the generator, the far end and idle; generator: its own CPU)")
        print("%-40s %8s %8s %10s %10s  %s" % (
            "layer on the edge", "edge ns", "napi ns", "machine ns", "generator",
            "accounted/sent"))
        for r in sorted(syn, key=lambda r: r["edge_ns"]):
            print("%-40s %8.0f %8.0f %10.0f %10.0f  %d/%d" % (
                LABEL.get(r["config"], r["config"]), r["edge_ns"], r["napi_ns"],
                r["machine_ns"], r["gen_ns"], r["accounted"], r["sent"]))
    kinds = [k for k in ("udp443", "udp9", "syn-allowed", "frag") if
             any(r["flood"] == k for r in fl)]
    if kinds:
        print("\nOther floods, edge ns per packet (where the packets went):")
        print("%-13s" % "layer" + "".join("%28s" % k for k in kinds))
        for c in configs:
            line = "%-13s" % c
            for k in kinds:
                r = ladder(c, k)
                if r is None:
                    line += "%28s" % "-"
                    continue
                where = []
                if r["ring"]:
                    where.append("ring %d" % r["ring"])
                if r["xdp_drop"] or r["bare_drop"]:
                    where.append("xdp %d" % (r["xdp_drop"] + r["bare_drop"]))
                if r["nft_drop"]:
                    where.append("nft %d" % r["nft_drop"])
                if r["stack"]:
                    where.append("stack %d" % r["stack"])
                line += "%28s" % ("%5.0f %s" % (r["edge_ns"],
                                              "+".join(where) or "-"))
            print(line)
        sa = [r for r in fl if r["flood"] == "syn-allowed"]
        if sa:
            print("SYN spoofing an allowed address (198.51.100.8, passes every layer"
                  " by design): SYN cookies sent per config: " +
                  ", ".join("%s %d" % (r["config"], r["syncookies"]) for r in sa) +
                  "; conntrack entries after it: " +
                  ", ".join("%s %d" % (r["config"], r["conntrack_after"]) for r in sa))
    bad = [r for r in fl if abs(r["accounted"] - r["sent"]) > max(50, r["sent"] // 1000)]
    print("\nEvery packet accounted for (ring drops + XDP drops + nft drops + what"
          " the stack counted = sent, within 0.1%%): %s" % (
              "yes" if not bad else "NO: " + ", ".join(
                  "%s/%s %d of %d" % (r["config"], r["flood"], r["accounted"],
                                      r["sent"]) for r in bad)))
    if cn:
        print("\nConnection flood from one foreign source (203.0.113.200 -> 443):")
        for r in cn:
            print("  %-12s %5d tried, %5d established, %5d closed by the server,"
                  " %5d pending; a new signed push meanwhile: %s" % (
                      r["config"], r["tried"], r["established"], r["closed"],
                      r["pending"], r["push"]))

    kept = {}
    best = {}
    rates = sorted({r["rate"] for r in lg if r["rate"] > 0})
    if lg:
        print("\nLegit: signed pushes offered at %s req/s (wrk, 2 threads, 16"
              " keep-alive connections) while a SYN flood runs" % legit_rps)
        hdr = "%-13s %16s" % ("layer", "no flood")
        for rt in rates:
            hdr += " %21s" % ("%.0fk pps" % (rt / 1000))
        print(hdr + "   highest >= 0.9")
        for c in configs:
            base = [r for r in lg if r["config"] == c and r["rate"] == 0]
            if not base:
                continue
            b0 = base[0]["rps"]
            line = "%-13s %7.0f %6.2f ms" % (c, b0, base[0]["p99_ms"])
            hi = 0
            for rt in rates:
                v = [r for r in lg if r["config"] == c and r["rate"] == rt]
                if not v:
                    line += " %21s" % "-"
                    continue
                k = v[0]["rps"] / b0 if b0 else 0
                kept[(c, rt)] = k
                if k >= 0.9 and all(kept.get((c, x), 0) >= 0.9 for x in rates
                                    if x < rt):
                    hi = rt
                line += " %6.0f %4.2f %7.1fms" % (v[0]["rps"], k, v[0]["p99_ms"])
            best[c] = hi
            print(line + "   %s" % ("%.0fk pps" % (hi / 1000) if hi else "none"))
        print("(each cell: req/s answered, kept = req/s / no-flood req/s, p99;"
              " the flood's offered rate as asked of the generator)")

    def ns(c):
        r = ladder(c)
        return r["edge_ns"] if r else float("nan")

    # R: the lowest offered rate at which nothing keeps <= 0.75
    R = next((rt for rt in rates if kept.get(("none", rt), 1) <= 0.75), None)
    if R is None and rates:
        R = rates[-1]
    line = ("flood: ns/pkt xdp %.0f bare %.0f nft-ingress %.0f nft-input %.0f"
            " none %.0f" % (ns("xdp"), ns("bare"), ns("nft-ingress"),
                             ns("nft-input"), ns("none")))
    if R:
        line += "; legit kept at %.0f pps: xdp %.2f nft-input %.2f none %.2f" % (
            R, kept.get(("xdp", R), float("nan")),
            kept.get(("nft-input", R), float("nan")),
            kept.get(("none", R), float("nan")))
    print("\ntargets:")

    def v(ok):
        return "met" if ok else "MISSED"
    x, b = ns("xdp"), ns("bare")
    print("  our XDP <= 1.2x bare XDP_DROP: %s (%.2fx)" % (v(x <= 1.2 * b), x / b))
    layers = [c for c in configs if c not in ("bare",) and ladder(c)]
    cheapest = min(layers, key=ns) if layers else None
    print("  our XDP the cheapest layer: %s (cheapest: %s)" % (
        v(cheapest in ("xdp", "xdp-strict", "up")), cheapest))
    nfts = [c for c in configs if c.startswith("nft") and ladder(c)]
    print("  every nft variant cheaper than nothing: %s (%s vs none %.0f)" % (
        v(all(ns(c) < ns("none") for c in nfts)),
        ", ".join("%s %.0f" % (c, ns(c)) for c in nfts), ns("none")))
    if R:
        at = {c: kept.get((c, R)) for c in configs if (c, R) in kept}
        top = max(at, key=lambda c: at[c]) if at else None
        # up is XDP too (with the nft table behind it)
        print("  XDP keeps the highest legit rate at %.0f pps: %s (%s)" % (
            R, v(top in ("xdp", "xdp-strict", "up")),
            ", ".join("%s %.2f" % (c, at[c]) for c in at)))
        print("  XDP >= 0.90 where none <= 0.75: %s (xdp %.2f, none %.2f)" % (
            v(at.get("xdp", 0) >= 0.9 and at.get("none", 1) <= 0.75),
            at.get("xdp", float("nan")), at.get("none", float("nan"))))
    print(line)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "snap":
        snap(a[1], a[2], a[3], a[4], a[5], a[6:])
    elif a[0] == "base":
        cmd_base(a[1], a[2], a[3], a[4])
    elif a[0] == "run":
        cmd_run(*a[1:9])
    elif a[0] == "legit":
        cmd_legit(*a[1:6])
    elif a[0] == "conn":
        cmd_conn(*a[1:7])
    elif a[0] == "report":
        cmd_report(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
