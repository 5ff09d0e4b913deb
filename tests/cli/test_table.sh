#!/usr/bin/env bash
# The control tool's one command table, seen from outside: every command
# and subcommand answers --help with its own synopsis and flags (exit 0),
# both binaries answer --version with the Makefile's version, and the bash
# completion that the table writes completes every command, subcommand
# and flag that --help shows.  No network, no BPF.
. "$(dirname "$0")/lib.sh"
SGD=${BUILD:-build}/streamgated
COMP=${BUILD:-build}/streamgate.bash-completion
VERSION=$(sed -n 's/^VERSION[[:space:]]*:= *//p' Makefile)

# The commands, from the top-level --help: "regions", "filter attach", ...
"$SG" --help >"$T/help" 2>&1
check "--help exits 0" test -s "$T/help"
sed -nE 's/^(usage:)? +streamgate ([a-z][a-z-]*)( ([a-z]+))?.*/\2 \4/p' "$T/help" |
	sed 's/ *$//' >"$T/cmds"
check "--help lists 19 commands" test "$(wc -l <"$T/cmds")" -eq 19

# cmd_help CMD...: the command's --help names its synopsis and each flag
# of that synopsis on a line of its own, with words after it.
cmd_help() {
	local out rc=0 flags f
	out=$("$SG" "$@" --help 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || { echo "rc $rc: $out"; return 1; }
	grep -q "^usage: streamgate $* " <<<"$out$( [ -n "$out" ] && echo ' ')" ||
		{ echo "no 'usage: streamgate $*': $out"; return 1; }
	flags=$(sed -n '/^usage:/,/^$/p' <<<"$out" | grep -oE -- '--[a-z-]+' | sort -u)
	for f in $flags; do
		grep -qE "^  $f( [^ ]+)? +[a-z]|^  $f( [^ ]+)?\$" <<<"$out" ||
			{ echo "$f not described: $out"; return 1; }
	done
	grep -q -- '-h, --help' <<<"$out"
}
while read -r cmd; do
	# shellcheck disable=SC2086
	check "$cmd --help: exit 0, its synopsis and flags" cmd_help $cmd
done <"$T/cmds"

for group in filter nft inbox; do
	check "$group --help lists its subcommands" sh -c "
		out=\$('$SG' $group --help) || exit 1
		for s in \$(sed -n 's/^$group //p' '$T/cmds'); do
			echo \"\$out\" | grep -qE \"^  \$s +[A-Z]\" || { echo \"no \$s\"; exit 1; }
		done"
done
check "filter attach --help needs no device" sh -c "'$SG' filter attach --help | grep -q 'DEV  *a device name'"
check "inbox show --help needs no SEQ" sh -c "'$SG' inbox show --help | grep -q '^usage: streamgate inbox show SEQ'"
check "a help flag after other flags still helps" sh -c "'$SG' nft print --table x --help | grep -q '^usage: streamgate nft print'"

check "streamgate --version: the Makefile's version" sh -c "'$SG' --version | grep -qx 'streamgate $VERSION\( (git .*)\)\?'"
check "streamgated --version: the same version" sh -c "'$SGD' --version | grep -qx 'streamgated $VERSION\( (git .*)\)\?'"
check "streamgated --version before a bad --config" sh -c "'$SGD' --version --config /nonexistent | grep -q '^streamgated $VERSION'"
if git rev-parse --git-dir >/dev/null 2>&1; then
	check "--version carries git describe in a checkout" sh -c "'$SG' --version | grep -q '(git [0-9a-f]'"
fi

# complete WORD...: what the completion offers for the last word
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		_streamgate; printf "%s\n" "${COMPREPLY[@]}"' - "$COMP" streamgate "$@" | sort
}
check "completion: the file is valid bash" bash -n "$COMP"
check "completion: every command" sh -c "[ \"\$(cut -d' ' -f1 '$T/cmds' | sort -u)\" = \"\$(bash -c '. \"$COMP\"; COMP_WORDS=(streamgate \"\"); COMP_CWORD=1; _streamgate; printf \"%s\n\" \"\${COMPREPLY[@]}\"' | grep -v '^--' | sort)\" ]"
while read -r cmd sub; do
	if [ -n "$sub" ]; then
		check "completion: $cmd offers $sub" sh -c "$(declare -f complete_words); COMP='$COMP'; complete_words $cmd '' | grep -qx '$sub'"
	fi
	want=$( { "$SG" $cmd $sub --help | sed -n '/^usage:/,/^$/p' | grep -oE -- '--[a-z-]+'; echo --help; } | sort -u)
	# "SEQ|--dead" names a flag in the arguments, not as a flag word
	got=$(complete_words $cmd $sub -- | sort -u)
	check "completion: $cmd${sub:+ $sub} flags = its --help" test "$want" = "$got"
done <"$T/cmds"
check "completion: --mode values" sh -c "$(declare -f complete_words); COMP='$COMP'; [ \"\$(complete_words nft print --mode '' | tr '\n' ' ')\" = 'ports strict ' ]"
check "completion: --state values" sh -c "$(declare -f complete_words); COMP='$COMP'; complete_words inbox list --state '' | grep -qx dead"
check "completion: a DEV argument completes devices" sh -c "$(declare -f complete_words); COMP='$COMP'; complete_words filter attach '' | grep -qx lo"

finish table
