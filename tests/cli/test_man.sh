#!/usr/bin/env bash
# The manual pages: streamgated(8), streamgated.json(5), streamgate(8).
# Each renders with man(1) at 80 columns without a warning, and each still
# says what the code does: every flag of `streamgated --help` (and of its
# option table), every key config.c accepts, every command and flag of
# `streamgate --help`; the configuration examples load with
# `streamgated --check-config`, and the full one is the installed example.
# man(1) is Debian's man-db; groff-base renders.
. "$(dirname "$0")/lib.sh"	# cd to the top; $T, removed on exit; check

BUILD=${BUILD:-build}
SGD=$BUILD/streamgated
D8=daemon/streamgated/streamgated.8
J5=daemon/streamgated/streamgated.json.5
S8IN=daemon/streamgate/streamgate.8.in
S8=$BUILD/man/streamgate.8		# the build makes it from $S8IN
SYNLINE='.\" @SYNOPSIS@'		# the template's line the build replaces

# ---- streamgate(8): the page the build generates ----
# the build makes it: the template with the command table's synopsis
check "the build made $S8" test -s "$S8"

# ---- helpers (check runs them: they print why when they fail) ----

# section FILE NAME: the lines of section .Sh NAME, without the .Sh lines
section() { sed -n "/^\.Sh $2\$/,/^\.Sh /p" "$1" | sed '1d;$d'; }

# have FILE ERE: a line of FILE matches
have() { grep -Eq -- "$2" "$1" || { echo "no line matches: $2"; return 1; }; }

# silent FILE: man --warnings at 80 columns prints nothing and exits 0
silent() {
	local out rc
	out=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null)
	rc=$?
	[ "$rc" -eq 0 ] && [ -z "$out" ] || { echo "exit $rc: $out"; return 1; }
}

# narrow FILE: rendered (ASCII), no line is wider than 80 columns
narrow() {
	LC_ALL=C MANWIDTH=80 man -l "$1" 2>/dev/null >"$T/rendered" &&
		[ -s "$T/rendered" ] || { echo "does not render"; return 1; }
	awk 'length($0) > 80 { print "too wide: " $0; bad = 1 } END { exit bad }' \
		"$T/rendered"
}

# synopsis_template: the SYNOPSIS of the template is exactly $SYNLINE
synopsis_template() {
	local body
	body=$(section "$S8IN" SYNOPSIS)
	[ "$body" = "$SYNLINE" ] || { echo "SYNOPSIS holds: $body"; return 1; }
}

# synopsis_made: the page rendered has .Nm lines in place of $SYNLINE
synopsis_made() {
	! grep -Fxq -- "$SYNLINE" "$S8" &&
		section "$S8" SYNOPSIS | grep -q '^\.Nm streamgate' ||
		{ echo "$S8: SYNOPSIS not made"; return 1; }
}

# daemon_flag FLAG: streamgated(8) has it in SYNOPSIS (".Fl -x", or
# "| -x" after another one) and as an option item (".It Fl -x", or
# ".It Fl -a , Fl -x")
daemon_flag() {
	local f=${1#-}
	have "$T/d8.synopsis" "(Fl|[|]) $f( |\$)" &&
		have "$D8" "^\.It Fl (.*, Fl )?$f( |\$)"
}

# examples_load: each JSON example of streamgated.json(5) loads with
# streamgated --check-config, its /etc/streamgate/ files made under $T
examples_load() {
	local ex out n=0
	[ -x "$SGD" ] || { echo "no $SGD: build first"; return 1; }
	for ex in "$T"/example.*[0-9]; do
		head -c1 "$ex" | grep -q '{' || continue
		n=$((n + 1))
		sed "s|/etc/streamgate/|$T/etc/|g" "$ex" >"$ex.json"
		# --user root: the full example names "streamgate", a user
		# this host may not have (--check-config checks it exists)
		out=$("$SGD" --config "$ex.json" --user root --check-config 2>&1) ||
			{ echo "example $n: $out"; return 1; }
	done
	[ "$n" -ge 2 ] || { echo "$n JSON examples, want a minimal and a full"; return 1; }
}

# example_full: one example holds every key of streamgated.json.example,
# with the same values
example_full() {
	python3 - "$T" scripts/streamgated.json.example <<'EOF'
import glob, json, sys
want = json.load(open(sys.argv[2]))
for f in sorted(glob.glob(sys.argv[1] + "/example.*[0-9]")):
    try:
        got = json.load(open(f))
    except ValueError:
        continue
    if isinstance(got, dict) and set(got) >= set(want):
        diff = [k for k in want if got[k] != want[k]]
        if diff:
            sys.exit("the full example differs in " + ", ".join(diff))
        sys.exit(0)
sys.exit("no example has every key of streamgated.json.example")
EOF
}

# listed LINE FILE: FILE has LINE
listed() { grep -Fxq -- "$1" "$2" || { echo "not in the page"; return 1; }; }

# atleast N FILE WHAT: FILE has N lines or more
atleast() {
	local n
	n=$(wc -l <"$2")
	[ "$n" -ge "$1" ] || { echo "only $n $3 (is $SGD / $SG built?)"; return 1; }
}

# ---- rendering ----

if command -v man >/dev/null; then
	for p in "streamgated(8):$D8" "streamgated.json(5):$J5" \
	    "streamgate(8):$S8"; do
		check "${p%%:*}: man --warnings renders it silently" silent "${p#*:}"
		check "${p%%:*}: no line wider than 80 columns" narrow "${p#*:}"
	done
else
	echo "SKIP: rendering: no man(1) (apt-get install man-db groff-base)"
fi
check "streamgate.8.in: SYNOPSIS is the one line '$SYNLINE'" synopsis_template
check "streamgate(8): SYNOPSIS made in place of '$SYNLINE'" synopsis_made

# ---- streamgated(8): every flag ----

# The flags `streamgated --help` prints, and the option table in main.c
# (for flags the usage text leaves out).
{
	[ -x "$SGD" ] && "$SGD" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*'
	sed -n '/^static const struct option opts\[\]/,/^};/p' \
		daemon/streamgated/main.c |
		grep -oE '\{ *"[a-z][a-z-]*"' | sed -E 's/\{ *"/--/; s/"$//'
} | sort -u >"$T/sgd.flags"
check "streamgated: --help and its option table give flags" \
	atleast 10 "$T/sgd.flags" "flags"
section "$D8" SYNOPSIS >"$T/d8.synopsis"
while read -r f; do
	check "streamgated(8): $f in SYNOPSIS and as an option" daemon_flag "$f"
done <"$T/sgd.flags"

# ---- streamgated.json(5): every key config.c accepts ----

# The keys config.c accepts, from its field tables: in each
# "static const struct field NAME_fields[] = {" up to "};", the entries
# FIELD_NUM("key", ...), FIELD_STR("key", ...) and { "key", set_..., ... }.
# top_fields are the top-level keys, key_fields those of "keys" entries,
# the others those of the object of their NAME: "limits.body_bytes".
awk '/^static const struct field [a-z_]+_fields\[\] = \{/ {
		t = $5; sub(/_fields.*/, "", t); next }
	/^};/ { t = "" }
	t != "" && match($0, /(FIELD_(NUM|STR)\(|\{ )"[a-z_]+", *[a-z_]/) {
		k = substr($0, RSTART, RLENGTH)
		sub(/^[^"]*"/, "", k); sub(/".*/, "", k)
		print (t == "top" ? "" : (t == "key" ? "keys" : t) ".") k
	}' daemon/core/config.c | sort -u >"$T/keys"
# The keys streamgated.json(5) describes: in its "Top-level keys", each
# ".It Ic KEY" of the outer list, and "PARENT.KEY" for those of a list
# inside PARENT's item.
awk '/^\.Ss Top-level keys/ { on = 1; next }
	on && /^\.S[sh] / { on = 0 }
	!on { next }
	/^\.Bl/ { d++ } /^\.El/ { d-- }
	/^\.It Ic / && d == 1 { p = $3; print p }
	/^\.It Ic / && d == 2 { print p "." $3 }' "$J5" | sort -u >"$T/keys.man"
check "config.c: its field tables give keys" atleast 35 "$T/keys" "keys"
while read -r k; do
	check "streamgated.json(5): key $k" listed "$k" "$T/keys.man"
done <"$T/keys"
check "streamgated.json(5): no key that config.c does not accept" \
	sh -c '! comm -13 "$1" "$2" | grep .' - "$T/keys" "$T/keys.man"

# The examples, the files they name made under $T.
awk '/^\.Bd -literal/ { n++; inb = 1; next } /^\.Ed/ { inb = 0; next }
	inb { print > (dir "/example." n) }' dir="$T" "$J5"
mkdir -p "$T/etc/keys" "$T/etc/tls"
for f in YOUR_STREAM_API_KEY k1; do
	(umask 077; echo "secret-of-$f" >"$T/etc/keys/$f.secret")
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=localhost -days 1 -keyout "$T/etc/tls/privkey.pem" \
	-out "$T/etc/tls/fullchain.pem" >/dev/null 2>&1
chmod 600 "$T/etc/tls/privkey.pem"
cp "$T/etc/tls/fullchain.pem" "$T/etc/app-ca.pem"
check "streamgated.json(5): the examples load with --check-config" examples_load
check "streamgated.json(5): the full example is streamgated.json.example" \
	example_full

# ---- streamgate(8): every command and flag of streamgate --help ----

[ -x "$SG" ] && "$SG" --help >"$T/sg.help" 2>&1 || : >"$T/sg.help"
# "streamgate nft print|apply|diff [..." gives nft print, nft apply, nft diff
sed -nE 's/^(usage:)? *streamgate ([a-z][a-z|-]*( [a-z][a-z|-]*)*).*/\2/p' \
	"$T/sg.help" | while read -r line; do
	last=${line##* } prefix=
	[ "$last" != "$line" ] && prefix="${line% *} "
	for w in ${last//|/ }; do echo "$prefix$w"; done
done | sort -u >"$T/sg.cmds"
check "streamgate --help lists commands" atleast 15 "$T/sg.cmds" "commands"
section "$S8IN" COMMANDS >"$T/s8.commands"
while read -r c; do
	check "streamgate.8.in: command '$c' in COMMANDS" \
		have "$T/s8.commands" "^\.(It )?Cm $c( |\$)"
done <"$T/sg.cmds"
grep -oE -- '--[a-z][a-z-]*' "$T/sg.help" | sort -u >"$T/sg.flags"
check "streamgate --help lists flags" atleast 20 "$T/sg.flags" "flags"
while read -r f; do
	check "streamgate.8.in: flag $f" have "$S8IN" "Fl (.*, Fl )?${f#-}( |\$)"
done <"$T/sg.flags"

finish test_man
