#!/usr/bin/env bash
# Builds the guest image: Debian trixie's stock kernel plus an initramfs made only from unpacked
# trixie packages (never installed into the system), the kernel modules the block tests need,
# our /init (guest/init/init.sh) and, when given, host-built blktests / zonefs-tools checkouts.
#
# Usage: guest/build-image.sh            (env: KVMM_CACHE, BLKTESTS_DIR, ZONEFS_TOOLS_DIR,
#                                          KVMM_INITRD_COMPRESS=none|gzip|zstd|lz4, KVMM_GUEST_REBUILD=1)
# The image lives in $KVMM_CACHE/guest/<inputs-hash>/ (vmlinuz, initrd.img, config, manifest.txt);
# $KVMM_CACHE/guest/current points at the newest. Progress goes to stderr; the LAST stdout line is
# the absolute image directory. The image is rebuilt only when an input changes: the files under
# guest/, the resolved package versions, the optional checkouts' HEAD and dirty state, the
# compression choice and the host compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/trixie-apt.sh"

t_start=$(date +%s.%N)
step=start
failed_reported=
fail() { echo "build-image: FAILED in step '$step': $*" >&2; failed_reported=1; exit 1; }
on_exit() {
  local rc=$?
  [ -n "${work:-}" ] && rm -rf "$work"
  [ $rc -eq 0 ] || [ -n "$failed_reported" ] || echo "build-image: FAILED in step '$step' (exit $rc)" >&2
}
trap on_exit EXIT
log() { echo "build-image: $*" >&2; }

compress=${KVMM_INITRD_COMPRESS:-none}
case $compress in none|gzip|zstd|lz4) ;; *) fail "KVMM_INITRD_COMPRESS must be none|gzip|zstd|lz4";; esac
py=/usr/bin/python3; [ -x "$py" ] || py=python3

# ---------------------------------------------------------------- resolve inputs (fast path too)
step="apt update"
trixie_apt_update || fail "cannot prepare the private trixie apt configuration"

step="resolve packages"
# apt-cache reloads the whole index on every call (~0.8 s), so the resolution is cached, keyed by
# the package lists (name, size, mtime), packages.conf and the resolver itself.
roots=$(sed -n 's/^root[[:space:]]\+//p' "$here/packages.conf" | tr '\n' ' ')
mkdir -p "$KVMM_CACHE/guest"
rkey=$( { find "$TRIXIE_APT_ROOT/lists" -maxdepth 1 -type f -printf '%f %s %T@\n' | sort
          sha256sum "$here/packages.conf" "$here/lib/resolve-deps.py" "$here/lib/trixie-apt.sh"; } |
        sha256sum | cut -c1-16)
rcache="$KVMM_CACHE/guest/.resolved-$rkey"
if [ -s "$rcache" ]; then
  pkginfo=$(cat "$rcache")
else
  excl=$(mktemp)
  sed -n 's/^exclude[[:space:]]\+//p' "$here/packages.conf" | tr ' ' '\n' > "$excl"
  # The kernel metapackage rides along so one apt-cache call also names the versioned image.
  # shellcheck disable=SC2086
  deps=$(trixie_apt_cache depends --recurse --no-recommends --no-suggests --no-conflicts \
           --no-breaks --no-replaces --no-enhances $roots linux-image-amd64 2>/dev/null) ||
    fail "apt-cache depends for the guest packages"
  # shellcheck disable=SC2086
  closure=$("$py" "$here/lib/resolve-deps.py" --exclude "$excl" $roots <<< "$deps") ||
    fail "dependency resolution"
  rm -f "$excl"
  kpkg=$(awk '/^linux-image-amd64$/{f=1; next} /^[^ ]/{f=0}
              f && /^ *Depends: linux-image-[0-9][^ ]*-amd64$/{print $2; exit}' <<< "$deps")
  [ -n "$kpkg" ] || fail "cannot resolve linux-image-amd64 in trixie"
  # One apt-cache call for every version and size: "name version deb-bytes installed-KiB kernel?"
  # shellcheck disable=SC2086
  pkginfo=$(trixie_apt_cache show --no-all-versions $closure "$kpkg" 2>/dev/null | awk -v k="$kpkg" '
    function out() { if (p != "") print p, v, s, i, (p == k ? "kernel" : "-"); p = "" }
    /^Package: /{p=$2} /^Version: /{v=$2} /^Size: /{s=$2} /^Installed-Size: /{i=$2}
    /^$/{out()} END{out()}' | sort -u)
  [ "$(wc -l <<< "$pkginfo")" -eq "$(( $(wc -w <<< "$closure") + 1 ))" ] ||
    fail "apt-cache show did not return exactly one version per package"
  rm -f "$KVMM_CACHE"/guest/.resolved-*
  echo "$pkginfo" > "$rcache"
fi
kpkg=$(awk '$5=="kernel"{print $1}' <<< "$pkginfo")
npkgs=$(awk '$5!="kernel"' <<< "$pkginfo" | wc -l)

step="hash inputs"
checkout_state() {  # name dir
  local name=$1 dir=$2
  [ -n "$dir" ] || { echo "$name: none"; return; }
  [ -d "$dir" ] || fail "$name=$dir is not a directory"
  if git -C "$dir" rev-parse HEAD >/dev/null 2>&1; then
    echo "$name: $(git -C "$dir" rev-parse HEAD) dirty=$( { git -C "$dir" status --porcelain; \
         git -C "$dir" diff HEAD; } | sha256sum | cut -c1-16)"
  else  # not a git checkout: hash its contents
    echo "$name: nogit $(cd "$dir" && find . -type f ! -path './.git/*' -print0 | sort -z |
                          xargs -0 sha256sum | sha256sum | cut -c1-16)"
  fi
}
inputs=$( {
  (cd "$here" && find . -type f ! -name '*~' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum)
  echo "$pkginfo"
  echo "compress: $compress"
  checkout_state blktests "${BLKTESTS_DIR:-}"
  checkout_state zonefs-tools "${ZONEFS_TOOLS_DIR:-}"
  g++ --version 2>/dev/null | head -1
} )
hash=$(echo "$inputs" | sha256sum | cut -c1-16)
out_root="$KVMM_CACHE/guest"
out="$out_root/$hash"
mkdir -p "$out_root"

if [ -f "$out/.done" ] && [ "${KVMM_GUEST_REBUILD:-0}" != 1 ]; then
  ln -sfn "$hash" "$out_root/current"
  log "inputs unchanged ($hash): reused cached image in $(awk "BEGIN{printf \"%.2f\", $(date +%s.%N)-$t_start}") s"
  echo "$out"
  exit 0
fi
log "building image $hash (packages: $npkgs, kernel package: $kpkg)"

# ---------------------------------------------------------------- download + unpack
step="download packages"
specs=$(awk '$5!="kernel"{print $1 "=" $2}' <<< "$pkginfo")
# shellcheck disable=SC2086
trixie_unpack_many $specs || fail "download/unpack of trixie packages"
step="fetch kernel"
kroot=$("$here/fetch-kernel.sh") || fail "guest/fetch-kernel.sh"
kver=$(ls "$kroot/usr/lib/modules" | head -1)
[ -f "$kroot/boot/vmlinuz-$kver" ] || fail "no boot/vmlinuz-$kver in $kroot"

work="$out_root/.build-$hash.$$"
rm -rf "$work"; mkdir -p "$work/root"
R="$work/root"

step="assemble root"
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{dev,proc,sys,run,tmp,mnt,root,etc,opt,boot,var/tmp}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$R/$d"; done
while read -r p v _; do
  [ "$p" = "$kpkg" ] && continue
  src="$TRIXIE_APT_ROOT/pkgs/${p}_${v//:/%}/root"
  [ -d "$src" ] || fail "package $p=$v was not unpacked ($src)"
  tar -C "$src" -cf - . | tar -C "$R" -xf - --keep-directory-symlink || fail "copying package $p"
done <<< "$pkginfo"

step="prune"
size_before=$(du -sk "$R" | cut -f1)
rm -rf "$R"/usr/share/{doc,man,info,locale,lintian,bash-completion,zsh,fish,bug,menu,gdb,i18n} \
       "$R"/usr/share/{common-licenses,zoneinfo,polkit-1,dbus-1,apport,initramfs-tools,doc-base} \
       "$R"/usr/include "$R"/usr/lib/udev/hwdb.d "$R"/usr/lib/systemd "$R"/etc/systemd \
       "$R"/usr/lib/x86_64-linux-gnu/systemd/libsystemd-core-*.so \
       "$R"/usr/lib/x86_64-linux-gnu/gconv "$R"/usr/sbin/xfs_scrub* "$R"/usr/lib/x86_64-linux-gnu/xfsprogs
find "$R" \( -name '*.a' -o -name '*.la' -o -name pkgconfig \) -prune -exec rm -rf {} +
size_after=$(du -sk "$R" | cut -f1)

step="busybox applets"
# Links the packages' maintainer scripts would create through update-alternatives.
ln -sfn gawk "$R/usr/bin/awk"
bb="$R/usr/bin/busybox"
[ -x "$bb" ] || fail "busybox-static did not provide usr/bin/busybox"
# Link every applet that no real package provides (real tools always win).
for applet in $("$bb" --list-full); do
  name=${applet##*/}
  [ -e "$R/usr/bin/$name" ] || [ -e "$R/usr/sbin/$name" ] || [ -L "$R/usr/bin/$name" ] ||
    ln -s /usr/bin/busybox "$R/usr/bin/$name"
done
[ -e "$R/usr/bin/sh" ] || ln -s busybox "$R/usr/bin/sh"

step="configuration files"
printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\ndisk:x:6:\nnogroup:x:65534:\n' > "$R/etc/group"
echo kvmm-guest > "$R/etc/hostname"
: > "$R/etc/fstab"
ln -sf /proc/self/mounts "$R/etc/mtab"
printf '#!/bin/sh\n# sudo shim: the guest runs everything as root already\nexec "$@"\n' > "$R/usr/bin/sudo"
chmod 755 "$R/usr/bin/sudo"
printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\nexport TERM=${TERM:-linux}\nexport HOME=/root\n' \
  > "$R/etc/profile"
cp "$here/init/init.sh" "$R/init"; chmod 755 "$R/init"
mkdir -p "$R/usr/lib/kvmm"
cp "$here/init/plans.sh" "$R/usr/lib/kvmm/plans.sh"
# Further plans live one per file (guest/init/plan-*.sh); plans.sh sources them.
for f in "$here"/init/plan-*.sh; do
  [ -e "$f" ] && cp "$f" "$R/usr/lib/kvmm/"
done

step="guest helpers"
g++ -static -O2 -Wall -o "$R/usr/sbin/kvmm-outb" "$here/tools/outb.cc" || fail "g++ -static guest/tools/outb.cc"
strip "$R/usr/sbin/kvmm-outb"
g++ -std=c++20 -static -O2 -Wall -o "$R/usr/sbin/kvmm-crashwriter" "$here/tools/crashwriter.cc" ||
  fail "g++ -static guest/tools/crashwriter.cc"
strip "$R/usr/sbin/kvmm-crashwriter"

step="kernel modules"
kmods="$kroot/usr/lib/modules/$kver"
mdst="$R/usr/lib/modules/$kver"
mkdir -p "$mdst"
cp "$kmods"/modules.order "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$mdst/"
# name -> path index (module names treat '-' and '_' alike)
declare -A modpath=()
while IFS= read -r f; do
  n=${f##*/}; n=${n%%.ko*}; modpath[${n//-/_}]=$f
done < <(find "$kmods/kernel" -name '*.ko*')
declare -A have=()
modinfo_field() {  # decompressed-module field  -> values (one per line)
  tr '\0' '\n' < "$1" | sed -n "s/^$2=//p"
}
add_module() {  # name [soft]: a soft dependency may be an alias or built in; then it is skipped
  local n=${1//-/_} src rel dst dep
  [ -n "${have[$n]:-}" ] && return 0
  src=${modpath[$n]:-}
  if [ -z "$src" ]; then
    grep -qE "/(${n}|${n//_/-})\.ko$" "$kmods/modules.builtin" && return 0
    [ "${2:-}" = soft ] && return 0
    fail "kernel module $1 not found (neither module nor built-in)"
  fi
  have[$n]=1
  rel=${src#"$kmods/"}; dst="$mdst/${rel%.xz}"
  mkdir -p "$(dirname "$dst")"
  case $src in *.xz) xz -dc "$src" > "$dst";; *.zst) zstd -qdc "$src" > "$dst";; *) cp "$src" "$dst";; esac
  for dep in $(modinfo_field "$dst" depends | tr ',' ' '); do
    [ -n "$dep" ] && add_module "$dep"
  done
  for dep in $(modinfo_field "$dst" softdep | sed 's/post:.*//; s/pre://g'); do
    add_module "$dep" soft
  done
  return 0
}
modlist=$(sed -n 's/^\(load\|ship\)[[:space:]]\+//p' "$here/modules.conf" | tr '\n' ' ')
loadlist=$(sed -n 's/^load[[:space:]]\+//p' "$here/modules.conf" | tr '\n' ' ')
for m in $modlist; do add_module "$m"; done
# Keep modules.order consistent with what is shipped (depmod warns about missing ones otherwise).
(cd "$mdst" && find kernel -name '*.ko' | sort > modules.shipped)
step="depmod"
# Run trixie's own depmod through the image's dynamic loader (the host needs no kmod at all).
ld="$R/usr/lib64/ld-linux-x86-64.so.2"
[ -x "$ld" ] || ld="$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
"$ld" --library-path "$R/usr/lib/x86_64-linux-gnu" --argv0 depmod "$R/usr/bin/kmod" \
  -b "$R" "$kver" 2>"$work/depmod.err" || { cat "$work/depmod.err" >&2; fail "depmod"; }
[ -s "$mdst/modules.dep" ] || fail "depmod produced no modules.dep"
rm -f "$mdst/modules.shipped"
echo "$loadlist" > "$R/usr/lib/kvmm/load-modules"
mkdir -p "$R/boot"
cp "$kroot/boot/config-$kver" "$R/boot/config-$kver"

step="optional checkouts"
build_checkout() {  # name srcdir dest-in-image build-commands
  local name=$1 src=$2 dest=$3 cmds=$4 b="$work/build-$1"
  log "building $name from $src on the host"
  mkdir -p "$b"
  (cd "$src" && tar --exclude=.git -cf - .) | tar -C "$b" -xf - || fail "copying $name checkout"
  (cd "$b" && bash -euo pipefail -c "$cmds") > "$work/build-$name.log" 2>&1 ||
    { tail -30 "$work/build-$name.log" >&2; fail "building $name (log above)"; }
  mkdir -p "$R$dest"
  tar -C "$b" -cf - . | tar -C "$R$dest" -xf -
}
if [ -n "${BLKTESTS_DIR:-}" ]; then
  build_checkout blktests "$BLKTESTS_DIR" /opt/blktests "make -j$(nproc)"
fi
if [ -n "${ZONEFS_TOOLS_DIR:-}" ]; then
  build_checkout zonefs-tools "$ZONEFS_TOOLS_DIR" /opt/zonefs-tools \
    "sh ./autogen.sh && ./configure --with-tests && make -j$(nproc)"
fi

step="library check"
# Every ELF program/library must find its NEEDED libraries inside the image.
libdirs="$R/usr/lib/x86_64-linux-gnu $R/usr/lib64 $R/usr/lib"
missing_libs=$(find "$R/usr/bin" "$R/usr/sbin" "$R/usr/lib/x86_64-linux-gnu" "$R/opt" -type f \
                 -size +1k 2>/dev/null | while read -r f; do
  head -c4 "$f" 2>/dev/null | grep -q 'ELF' || continue
  readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r lib; do
    found=
    for d in $libdirs "$R/usr/lib/x86_64-linux-gnu/systemd" "$R/usr/lib/x86_64-linux-gnu/ceph"; do
      [ -e "$d/$lib" ] && { found=1; break; }
    done
    [ -n "$found" ] || echo "${f#"$R"} needs $lib"
  done
done | sort -u)
if [ -n "$missing_libs" ]; then
  echo "$missing_libs" >&2
  fail "shared libraries missing from the image (see above)"
fi

step="pack initramfs"
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
   cpio -o -H newc -R 0:0 --reproducible --quiet) > "$work/initrd.cpio" || fail "cpio"
cpio_bytes=$(stat -c %s "$work/initrd.cpio")
case $compress in
  none) mv "$work/initrd.cpio" "$work/initrd.img";;
  gzip) gzip -6 -n -c "$work/initrd.cpio" > "$work/initrd.img";;
  zstd) zstd -q -T0 -10 -c "$work/initrd.cpio" > "$work/initrd.img";;
  lz4)  lz4 -q -l -9 -c "$work/initrd.cpio" > "$work/initrd.img";;
esac
cp "$kroot/boot/vmlinuz-$kver" "$work/vmlinuz"
cp "$kroot/boot/config-$kver" "$work/config"

step="manifest"
t_end=$(date +%s.%N)
{
  echo "# kvmm guest image manifest"
  echo "inputs-hash: $hash"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(awk "BEGIN{printf \"%.1f\", $t_end-$t_start}") s"
  echo "kernel: $kver (package $kpkg $(awk '$5=="kernel"{print $2}' <<< "$pkginfo"))"
  echo "vmlinuz-bytes: $(stat -c %s "$work/vmlinuz")"
  echo "initrd-compression: $compress"
  echo "initrd-bytes: $(stat -c %s "$work/initrd.img")"
  echo "initrd-uncompressed-cpio-bytes: $cpio_bytes"
  echo "root-kib-before-prune: $size_before"
  echo "root-kib-after-prune: $size_after"
  echo "modules-loaded-at-boot: $loadlist"
  echo "modules-shipped: $(cd "$mdst" && find kernel -name '*.ko' -printf '%f\n' | sed 's/\.ko$//' | sort | tr '\n' ' ')"
  checkout_state blktests "${BLKTESTS_DIR:-}"
  checkout_state zonefs-tools "${ZONEFS_TOOLS_DIR:-}"
  echo "host-compiler: $(g++ --version | head -1)"
  echo "# packages (trixie): name version deb-bytes installed-KiB kernel?"
  echo "$pkginfo" | sed 's/^/package: /'
  echo "# inputs (sha256 of files under guest/)"
  (cd "$here" && find . -type f ! -name '*~' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum) |
    sed 's/^/input: /'
} > "$work/manifest.txt"

step="publish"
mkdir -p "$work/image"
mv "$work/vmlinuz" "$work/initrd.img" "$work/config" "$work/manifest.txt" "$work/image/"
touch "$work/image/.done"
if [ -f "$out/.done" ] && [ "${KVMM_GUEST_REBUILD:-0}" != 1 ]; then
  log "a concurrent build already published $out; keeping it"
else
  rm -rf "$out"
  mv -T "$work/image" "$out" || fail "cannot move the image to $out"
fi
ln -sfn "$hash" "$out_root/current"
# Each image is ~140 MB: keep the newest few (older inputs, e.g. other branches), drop the rest.
step="prune old images"
find "$out_root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -printf '%T@ %p\n' | sort -rn |
  tail -n +"${KVMM_GUEST_KEEP:-3}" | cut -d' ' -f2- | while read -r old; do rm -rf "$old"; done
log "built in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$t_start}") s: initrd $(( $(stat -c %s "$out/initrd.img") / 1024 )) KiB ($compress), cpio $(( cpio_bytes / 1024 )) KiB"
echo "$out"
