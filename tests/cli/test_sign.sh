#!/usr/bin/env bash
# `streamgate sign` and `streamgate verify`: Stream's X-Signature (hex of
# HMAC-SHA256 over the uncompressed body), checked against openssl(1).
. "$(dirname "$0")/lib.sh"

# run BODYFILE ARGS...: streamgate with BODYFILE on stdin; sets rc, out, err
run() {
	local body=$1; shift
	rc=0
	"$SG" "$@" <"$body" >"$T/o" 2>"$T/e" || rc=$?
	out=$(cat "$T/o") err=$(cat "$T/e")
}

# expect NAME RC OUT_PATTERN ERR_PATTERN: after run
expect() {
	local name=$1 want=$2 opat=$3 epat=$4
	check "$name" sh -c '[ "$1" -eq "$2" ] && printf "%s\n" "$3" | grep -q -- "$4" &&
		printf "%s\n" "$5" | grep -q -- "$6" ||
		{ echo "rc $1, stdout: $3, stderr: $5"; exit 1; }' \
		- "$rc" "$want" "$out" "$opat" "$err" "$epat"
}

umask 077
printf 'x7k2m9p4q8r3t6v1\n' >"$T/secret"
printf 'another-secret\n' >"$T/other"
printf '{"type":"message.new","message":{"text":"hi"},"user":{"id":"jane"}}' >"$T/body.json"
KEY=x7k2m9p4q8r3t6v1
want=$(openssl dgst -sha256 -hmac "$KEY" <"$T/body.json" | sed 's/^.*= //')

run "$T/body.json" sign --secret-file "$T/secret"
expect "sign: the openssl HMAC-SHA256, lower-case hex" 0 "^$want\$" ""
sig=$out
check "sign: 64 hex digits and a newline" sh -c "[ \$(wc -c <'$T/o') -eq 65 ]"

run "$T/body.json" verify --secret-file "$T/secret" --signature "$sig"
expect "verify: round trip matches" 0 "^signature matches\$" ""
upper=$(printf '%s' "$sig" | tr a-f A-F)
run "$T/body.json" verify --secret-file "$T/secret" --signature "$upper"
expect "verify: upper-case hex matches" 0 "^signature matches\$" ""

# A known vector: RFC 4231 case 2 through the tool and through openssl.
printf 'Jefe\n' >"$T/jefe"
printf 'what do ya want for nothing?' >"$T/rfc2"
rfc=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
check "openssl agrees on RFC 4231 case 2" sh -c "openssl dgst -sha256 -hmac Jefe <'$T/rfc2' | grep -q $rfc"
run "$T/rfc2" sign --secret-file "$T/jefe"
expect "sign: RFC 4231 case 2" 0 "^$rfc\$" ""

# gzip: the signature covers the inflated bytes.
gzip -c <"$T/body.json" >"$T/body.gz"
run "$T/body.gz" sign --secret-file "$T/secret"
expect "sign: gzip body signed over its inflated bytes" 0 "^$want\$" "gzip.*inflated"
run "$T/body.gz" verify --secret-file "$T/secret" --signature "$sig"
expect "verify: gzip body checked inflated, with a note" 0 "^signature matches\$" "gzip.*inflated"
head -c 20 "$T/body.gz" >"$T/trunc.gz"
run "$T/trunc.gz" sign --secret-file "$T/secret"
expect "sign: truncated gzip fails" 1 "^\$" "not one valid gzip member"
cat "$T/body.gz" "$T/body.gz" >"$T/two.gz"
run "$T/two.gz" verify --secret-file "$T/secret" --signature "$sig"
expect "verify: two gzip members refused" 1 "^\$" "trailing bytes"

run "$T/body.json" verify --secret-file "$T/other" --signature "$sig"
expect "verify: wrong secret does not match" 1 "^signature does not match\$" ""
printf '{"type":"message.new"} ' >"$T/changed.json"
run "$T/changed.json" verify --secret-file "$T/secret" --signature "$sig"
expect "verify: changed body does not match" 1 "^signature does not match\$" ""

run "$T/body.json" verify --secret-file "$T/secret" --signature "${sig%?}"
expect "verify: 63 digits: hint names the length" 1 "does not match" "hint: --signature has 63 characters"
run "$T/body.json" verify --secret-file "$T/secret" --signature "${sig}0"
expect "verify: 65 digits: hint names the length" 1 "does not match" "hint: --signature has 65 characters"
run "$T/body.json" verify --secret-file "$T/secret" --signature "g${sig#?}"
expect "verify: non-hex: hint names the position" 1 "does not match" "non-hex character at position 1"
run "$T/body.json" verify --secret-file "$T/secret" --signature "sha256=${sig}"
expect "verify: prefixed signature: hint" 1 "does not match" "hint: --signature has 71 characters"

cp "$T/secret" "$T/open" && chmod 0644 "$T/open"
run "$T/body.json" sign --secret-file "$T/open"
expect "sign: secret file mode 0644 refused, exit 2" 2 "^\$" \
	"--secret-file: $T/open: readable by group or others (mode 0644): chmod 600 $T/open"
check "the refusal does not print the secret" sh -c "! grep -q '$KEY' '$T/e'"
run "$T/body.json" verify --secret-file "$T/open" --signature "$sig"
expect "verify: secret file mode 0644 refused, exit 2" 2 "^\$" "--secret-file: .*mode 0644"
ln -s "$T/secret" "$T/link"
run "$T/body.json" sign --secret-file "$T/link"
expect "sign: symlinked secret file refused" 2 "^\$" "--secret-file: .*symbolic link"
run "$T/body.json" sign --secret-file "$T/none"
expect "sign: missing secret file" 2 "^\$" "--secret-file: .*No such file"
: >"$T/empty" && chmod 600 "$T/empty"
run "$T/body.json" sign --secret-file "$T/empty"
expect "sign: empty secret file" 2 "^\$" "--secret-file: .*empty secret"

run "$T/body.json" sign
expect "sign without --secret-file: usage" 2 "^\$" "--secret-file FILE is required"
run "$T/body.json" verify --secret-file "$T/secret"
expect "verify without --signature: usage" 2 "^\$" "--signature HEX is required"
run "$T/body.json" sign --secret-file "$T/secret" --signature "$sig"
expect "sign takes no --signature" 2 "^\$" "--signature does not apply"
run "$T/body.json" sign --secret-file "$T/secret" body.json
expect "sign: body as an argument is refused" 2 "^\$" "unexpected argument"
run /dev/null sign --secret-file "$T/secret"
expect "sign: empty body" 0 "^$(openssl dgst -sha256 -hmac "$KEY" </dev/null | sed 's/^.*= //')\$" ""
check "--help shows sign and verify" sh -c "$SG --help | grep -q 'streamgate sign --secret-file' && $SG --help | grep -q 'streamgate verify'"

finish sign
