#!/usr/bin/env bash
# Checks that the Containerfile's runtime stage installs every shared library the outpost binary needs.
#
# Usage: deploy/container/check-runtime-libs.sh [BINARY]   (default: .build/debug/outpost)
#
# The image cannot be built here, so this checks the next best thing: each library `ldd` resolves for the binary
# is mapped to its Debian package with `dpkg -S`, and that package must appear on the Containerfile's
# `# runtime-packages:` line, which must equal the runtime stage's `apt-get install` list. Libraries from the
# Swift toolchain are skipped: the image links the Swift runtime statically (--static-swift-stdlib), while the
# debug binary CI builds links it dynamically. Runs in well under a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build/debug/outpost}
containerfile=${OUTPOST_CONTAINERFILE:-deploy/container/Containerfile}

fail() { echo "check-runtime-libs: $*" >&2; exit 1; }
[ -x "$binary" ] || fail "$binary is not an executable: build it first (swift build)"
command -v ldd >/dev/null 2>&1 || fail "ldd is missing"
command -v dpkg >/dev/null 2>&1 || fail "dpkg is missing: this check needs a Debian-based machine"

declared=$(sed -n 's/^# runtime-packages: *//p' "$containerfile")
[ -n "$declared" ] || fail "$containerfile has no '# runtime-packages:' line"
installed=$(sed -n 's/.*apt-get install -y --no-install-recommends \(.*\) \\$/\1/p' "$containerfile" | tail -n 1)
[ -n "$installed" ] || fail "$containerfile: no runtime 'apt-get install -y --no-install-recommends … \\' line"
[ "$declared" = "$installed" ] \
    || fail "$containerfile: '# runtime-packages: $declared' differs from the runtime stage's install list '$installed'"

# What the rest of the image relies on: the static Swift runtime (else the toolchain libraries skipped below would
# be needed), a numeric non-root user, and a HEALTHCHECK whose subcommand this binary has.
grep -q -- '--static-swift-stdlib' "$containerfile" || fail "$containerfile: the build no longer uses --static-swift-stdlib"
grep -Eq '^USER [1-9][0-9]*:[1-9][0-9]*$' "$containerfile" || fail "$containerfile: USER must be a numeric non-root uid:gid"
probe=$(sed -n 's/.*CMD \["\/usr\/local\/bin\/outpost", "\([a-z-]*\)".*/\1/p' "$containerfile" | head -n 1)
[ -n "$probe" ] || fail "$containerfile: no exec-form HEALTHCHECK CMD running /usr/local/bin/outpost"
"$binary" "$probe" --help 2>&1 | grep -q "USAGE: outpost $probe " || fail "the HEALTHCHECK runs 'outpost $probe', which $binary does not have"

# The Swift toolchain's library directory: its libraries are linked statically into the image's binary.
swift_libs=$(dirname "$(dirname "$(command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)")")/lib/swift

ldd_out=$(ldd "$binary") || fail "ldd $binary failed"
if grep -q 'not found' <<<"$ldd_out"; then
    fail "libraries not found on this machine: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ')"
fi

missing=()
checked=0
while read -r line; do
    # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    path=$(awk '{ if ($2 == "=>") print $3; else print $1 }' <<<"$line")
    case "$path" in
        "" | linux-vdso.so.* | "(0x"*) continue ;;
        "$swift_libs"/* | */lib/swift/linux/*) continue ;;
    esac
    real=$(readlink -f "$path")
    # dpkg knows files by the path the package installed: try the path as given, then resolved, then under /usr
    # (Debian 12 merged /lib into /usr/lib).
    package=""
    for candidate in "$path" "$real" "/usr$path" "/usr$real" "${path#/usr}" "${real#/usr}"; do
        if package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$package" ]; then
            break
        fi
    done
    [ -n "$package" ] || fail "no Debian package owns $path (ldd: $line)"
    checked=$((checked + 1))
    if ! grep -qw -- "$package" <<<" $declared "; then
        missing+=("$package ($path)")
    fi
done <<<"$ldd_out"

[ "$checked" -gt 0 ] || fail "ldd listed no system libraries for $binary: the parsing is wrong"
if [ ${#missing[@]} -gt 0 ]; then
    fail "the runtime stage of $containerfile does not install: ${missing[*]}"
fi
echo "check-runtime-libs: $checked system libraries of $binary are covered by: $declared"
