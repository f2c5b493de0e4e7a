# Sourced: sets and exports KVMM_CACHE, the cache every script and test shares (guest images,
# test-host kernels and initramfs, Bazel output bases of the sanitizer and fuzz builds).
# Default: $XDG_CACHE_HOME/kvmm, else .cache/kvmm in the user's home as the password database
# has it - not $HOME, which Bazel points at a private directory inside tests - then $HOME, then
# /root.
if [ -z "${KVMM_CACHE:-}" ]; then
  _kvmm_home=$(getent passwd "$(id -u)" | cut -d: -f6)
  KVMM_CACHE=${XDG_CACHE_HOME:-${_kvmm_home:-${HOME:-/root}}/.cache}/kvmm
  unset _kvmm_home
fi
export KVMM_CACHE
