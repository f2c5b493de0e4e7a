# Sourced helper: a private apt configuration for Debian trixie packages that never touches the
# system's apt state or dpkg database. The archive URI is read from the machine's own apt sources
# at run time, so no registry host is written into the repository.
#
# Provides: KVMM_CACHE (cache root), trixie_apt_update, trixie_apt_get ARGS, trixie_apt_cache ARGS,
#           trixie_unpack PKG (prints the dpkg -x root of the package's candidate version).

KVMM_CACHE=${KVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmm}
TRIXIE_APT_ROOT="$KVMM_CACHE/apt-trixie"

_trixie_apt_opts() {
  local r="$TRIXIE_APT_ROOT"
  printf '%s\n' \
    -o "Dir::Etc::SourceList=$r/sources.list" -o "Dir::Etc::SourceParts=$r/empty" \
    -o "Dir::Etc::Preferences=$r/empty/none" -o "Dir::Etc::PreferencesParts=$r/empty" \
    -o "Dir::State::Lists=$r/lists" -o "Dir::State::status=$r/empty-status" \
    -o "Dir::Cache=$r/cache" -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" \
    -o "APT::Sandbox::User=root"
}

_trixie_apt_init() {
  local r="$TRIXIE_APT_ROOT" uri
  mkdir -p "$r/lists/partial" "$r/cache/archives/partial" "$r/empty" "$r/pkgs"
  : > "$r/empty-status"
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  if [ -z "$uri" ]; then
    uri=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
            /etc/apt/sources.list 2>/dev/null | head -1)
  fi
  if [ -z "$uri" ]; then
    echo "trixie-apt: no Debian archive URI found in /etc/apt/sources.list.d/debian.sources" >&2
    return 1
  fi
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" \
    > "$r/sources.list"
}

trixie_apt_get() { mapfile -t _o < <(_trixie_apt_opts); apt-get -q "${_o[@]}" "$@"; }
trixie_apt_cache() { mapfile -t _o < <(_trixie_apt_opts); apt-cache "${_o[@]}" "$@"; }

# Refreshes the package lists when they are missing, older than a week, or KVMM_APT_REFRESH=1.
trixie_apt_update() {
  _trixie_apt_init || return 1
  local stamp="$TRIXIE_APT_ROOT/lists/.updated"
  if [ "${KVMM_APT_REFRESH:-0}" = 1 ] || [ ! -f "$stamp" ] || \
     [ -n "$(find "$stamp" -mtime +7 2>/dev/null)" ]; then
    trixie_apt_get update >&2 || { echo "trixie-apt: apt-get update for trixie failed" >&2; return 1; }
    touch "$stamp"
  fi
}

# Candidate version of a package, or fails with a message naming it.
trixie_version() {
  local v
  v=$(trixie_apt_cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
  [ -n "$v" ] || { echo "trixie-apt: package $1 not found in trixie" >&2; return 1; }
  echo "$v"
}

# Downloads and unpacks one package (candidate version) once; prints its unpacked root.
trixie_unpack() {
  local pkg=$1 ver dir deb
  ver=$(trixie_version "$pkg") || return 1
  dir="$TRIXIE_APT_ROOT/pkgs/${pkg}_${ver//:/%}"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir/root"
    (cd "$dir" && trixie_apt_get download "$pkg=$ver" >&2) || \
      { echo "trixie-apt: download of $pkg=$ver failed" >&2; return 1; }
    deb=$(ls "$dir"/*.deb | head -1)
    dpkg-deb -x "$deb" "$dir/root" || { echo "trixie-apt: cannot unpack $deb" >&2; return 1; }
    rm -f "$deb"
    touch "$dir/.done"
  fi
  echo "$dir/root"
}

# Batch variant of trixie_unpack for many packages in one apt-get call. Arguments are PKG=VERSION
# (exact versions, as resolved by the caller). Each lands in the same place trixie_unpack uses,
# $TRIXIE_APT_ROOT/pkgs/<pkg>_<version>/root, and already unpacked ones are skipped.
trixie_unpack_many() {
  local spec pkg ver dir deb dl need=()
  for spec in "$@"; do
    pkg=${spec%%=*}; ver=${spec#*=}
    [ -f "$TRIXIE_APT_ROOT/pkgs/${pkg}_${ver//:/%}/.done" ] || need+=("$spec")
  done
  [ ${#need[@]} -gt 0 ] || return 0
  dl="$TRIXIE_APT_ROOT/download.$$"
  rm -rf "$dl"; mkdir -p "$dl"
  echo "trixie-apt: downloading ${#need[@]} packages" >&2
  (cd "$dl" && trixie_apt_get download "${need[@]}" >&2) || \
    { echo "trixie-apt: apt-get download of ${#need[@]} packages failed" >&2; rm -rf "$dl"; return 1; }
  for deb in "$dl"/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package) && ver=$(dpkg-deb -f "$deb" Version) || \
      { echo "trixie-apt: cannot read control of $deb" >&2; return 1; }
    dir="$TRIXIE_APT_ROOT/pkgs/${pkg}_${ver//:/%}"
    rm -rf "$dir"; mkdir -p "$dir/root"
    dpkg-deb -x "$deb" "$dir/root" || { echo "trixie-apt: cannot unpack $deb" >&2; return 1; }
    touch "$dir/.done"
  done
  rm -rf "$dl"
}
