#!/usr/bin/env bash
# scripts/debian/build-deb.sh BUILD VERSION: `make deb`.  Stages
# `make install PREFIX=/usr UNITDIR=/lib/systemd/system` (the binaries of
# BUILD, the BPF object, the units, the examples, the rules, the dashboard,
# the manual pages, the bash completion), adds what Debian wants beside
# them (copyright, changelog, compressed manual pages, stripped binaries,
# md5sums, the maintainer scripts of this directory) and builds
# BUILD/streamgate_VERSION_ARCH.deb with dpkg-deb, owned by root.  Prints the
# package's path.  Needs dpkg-dev (dpkg-shlibdeps) and make.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: build-deb.sh BUILD VERSION} VERSION=${2:?usage: build-deb.sh BUILD VERSION}
HERE=scripts/debian
ARCH=$(dpkg --print-architecture)
NAME=streamgate_${VERSION}_$ARCH
WORK=$PWD/$BUILD/deb
STAGE=$WORK/$NAME
DEB=$BUILD/$NAME.deb

rm -rf "$WORK"
mkdir -p "$STAGE"
umask 022
make -s BUILD="$BUILD" DESTDIR="$STAGE" PREFIX=/usr UNITDIR=/lib/systemd/system install >/dev/null

# binaries without their debug sections (the BPF object keeps its BTF:
# libbpf needs it to load the program)
for b in "$STAGE"/usr/sbin/streamgated "$STAGE"/usr/sbin/streamgate; do
	strip --remove-section=.comment --remove-section=.note --strip-unneeded "$b"
done
gzip -9n "$STAGE"/usr/share/man/man*/*
install -m 0644 "$HERE/copyright" "$STAGE/usr/share/doc/streamgate/copyright"
install -d -m 0755 "$STAGE/usr/share/lintian/overrides"
install -m 0644 "$HERE/lintian-overrides" "$STAGE/usr/share/lintian/overrides/streamgate"
# a native package's changelog; dated by the commit, so a rebuild of one
# commit is the same package
when=$(git log -1 --format=%aD 2>/dev/null || date -R)
{
	echo "streamgate ($VERSION) unstable; urgency=medium"
	echo
	echo "  * Built from the streamgate source tree ($(git describe --always --dirty --tags 2>/dev/null || echo unknown))."
	echo
	echo " -- streamgate maintainers <streamgate@example.com>  $when"
} | gzip -9n >"$STAGE/usr/share/doc/streamgate/changelog.gz"
chmod 0644 "$STAGE/usr/share/doc/streamgate/changelog.gz"

# Depends: from the libraries the binaries link (dpkg-shlibdeps reads
# debian/control, so give it one)
mkdir -p "$WORK/debian"
printf 'Source: streamgate\n\nPackage: streamgate\nArchitecture: any\n' >"$WORK/debian/control"
deps=$(cd "$WORK" && dpkg-shlibdeps -O -e"$NAME/usr/sbin/streamgated" -e"$NAME/usr/sbin/streamgate" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || { echo "build-deb: dpkg-shlibdeps found no dependency" >&2; exit 1; }

mkdir -p "$STAGE/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$deps/" "$HERE/control.in" >"$STAGE/DEBIAN/control"
install -m 0755 "$HERE/postinst" "$HERE/prerm" "$HERE/postrm" "$STAGE/DEBIAN/"
(cd "$STAGE" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums" "$STAGE/DEBIAN/control"
find "$STAGE" -type d -exec chmod 0755 {} +
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s) \
	dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
