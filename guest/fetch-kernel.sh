#!/usr/bin/env bash
# Downloads (once) Debian trixie's stock amd64 kernel package, unpacks it into the cache and
# prints the unpacked root: boot/vmlinuz-*, boot/config-*, usr/lib/modules/<version>/.
# The guest image and the KVM test host both boot this kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/trixie-apt.sh"
trixie_apt_update
# linux-image-amd64 is the metapackage; its dependency names the versioned image package.
image=$(trixie_apt_cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)
[ -n "$image" ] || { echo "fetch-kernel: cannot resolve linux-image-amd64 in trixie" >&2; exit 1; }
trixie_unpack "$image"
