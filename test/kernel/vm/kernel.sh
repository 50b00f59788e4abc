# Sourced by run-in-vm.sh: fetch and cache Debian's kernel, build and cache the initramfs.
# Cache layout (PROJECT/.cache/kernel, ignored by git):
#   <pkg>/vmlinuz, <pkg>/version, <pkg>/root/lib/modules/<version>/...   the extracted package
#   <pkg>/initramfs-<key>.cpio.gz                                          one per init/module-set version
#   current -> <pkg>                                                       what runs reuse without asking apt
# Set VM_KERNEL_REFRESH=1 to ask apt again which package linux-image-amd64 points to.

vm_log() { [ "${VM_QUIET:-0}" = 1 ] || echo "run-in-vm: $*" >&2; }
vm_die() { echo "run-in-vm: error: $*" >&2; exit 125; }

# Loaded at boot (with their dependencies), before anything runs: what the harness itself needs and
# what every suite touches. crc32c_generic first: libcrc32c (ip_vs, nf_conntrack) only soft-depends on
# a crc32c provider, so modprobe would not pull it in.
VM_MODULES_BOOT="crc32c_generic virtio_pci virtio_rng 9pnet_virtio 9p overlay
  ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_fo ip_vs_ovf ip_vs_lblc ip_vs_lblcr
  ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_twos ip_vs_mh veth dummy bridge"
# Also in the initramfs, loaded on demand by the kernel (modprobe is wired up): everything under
# kernel/net (netfilter, ipset, sched, tunnels, ...) and these drivers. VM_PRELOAD=netfilter loads the
# netfilter directories at boot (the set kernel-vm.md verified by hand), should autoload ever fall short.
VM_MODULES_EXTRA="ts_kmp ts_bm ts_fsm macvlan ipvlan vxlan geneve tun wireguard"
VM_MODULE_DIRS="kernel/net"
VM_MODULE_DIRS_PRELOAD="kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/bridge/netfilter"

vm_kernel_pkg() {
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    vm_log "apt has no linux-image-amd64 yet: apt-get update"
    apt-get update -qq >&2 || vm_die "apt-get update failed"
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || vm_die "cannot tell which kernel package linux-image-amd64 depends on"
  printf '%s\n' "$pkg"
}

# Sets KDIR (cached package dir), KVER (kernel version), VMLINUZ.
vm_ensure_kernel() {
  local cache=$1 pkg
  mkdir -p "$cache"
  if [ "${VM_KERNEL_REFRESH:-0}" != 1 ] && [ -r "$cache/current/version" ] && [ -r "$cache/current/vmlinuz" ]; then
    KDIR=$(cd "$cache/current" && pwd -P)
  else
    pkg=$(vm_kernel_pkg)
    KDIR="$cache/$pkg"
    if [ ! -r "$KDIR/version" ]; then
      vm_log "downloading $pkg (Debian's linux-image-amd64) into $KDIR"
      local tmp
      tmp=$(mktemp -d "$cache/dl.XXXXXX")
      (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>"$tmp/apt.err") \
        || { cat "$tmp/apt.err" >&2; rm -rf "$tmp"; vm_die "apt-get download $pkg failed"; }
      dpkg-deb -x "$tmp"/*.deb "$tmp/root" || { rm -rf "$tmp"; vm_die "dpkg-deb -x failed"; }
      rm -f "$tmp"/*.deb "$tmp/apt.err"
      local ver
      ver=$(ls "$tmp/root/lib/modules" | head -n1)
      [ -n "$ver" ] && [ -r "$tmp/root/boot/vmlinuz-$ver" ] || { rm -rf "$tmp"; vm_die "$pkg has no vmlinuz/modules"; }
      depmod -b "$tmp/root" "$ver" || { rm -rf "$tmp"; vm_die "depmod failed"; }
      ln -s "root/boot/vmlinuz-$ver" "$tmp/vmlinuz"
      echo "$ver" >"$tmp/version"
      rm -rf "$KDIR"
      mv "$tmp" "$KDIR"
    fi
    ln -sfn "$pkg" "$cache/current.tmp.$$" && mv -T "$cache/current.tmp.$$" "$cache/current"
  fi
  KVER=$(cat "$KDIR/version")
  VMLINUZ="$KDIR/vmlinuz"
}

# Module paths (relative to lib/modules/<ver>), dependencies first, for the names/paths on stdin.
vm_module_order() {
  local mdir="$KDIR/root/lib/modules/$KVER"
  { cat; echo "#dep"; cat "$mdir/modules.dep"; } | awk '
    /^#dep/ { mode = "dep"; next }
    mode != "dep" { if ($0 != "") want[++nw] = $0; next }
    {
      path = $1; sub(/:$/, "", path)
      n = path; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n)
      byname[n] = path
      deps[path] = ""
      for (i = 2; i <= NF; i++) deps[path] = deps[path] " " $i
    }
    function visit(p,   k, parts, cnt) {
      if (p in seen) return
      seen[p] = 1
      cnt = split(deps[p], parts, " ")
      for (k = cnt; k >= 1; k--) visit(parts[k])
      print p
    }
    END {
      for (i = 1; i <= nw; i++) {
        w = want[i]
        if (w ~ /\.ko/) p = w
        else { gsub(/-/, "_", w); if (!(w in byname)) { print "run-in-vm: no module " w " in this kernel (skipped)" > "/dev/stderr"; continue } p = byname[w] }
        visit(p)
      }
    }'
}

vm_boot_modules() { for m in $VM_MODULES_BOOT; do echo "$m"; done | vm_module_order; }
vm_dir_modules() {
  local mdir="$KDIR/root/lib/modules/$KVER" d
  for d in "$@"; do (cd "$mdir" && find "$d" -name '*.ko' -printf '%p\n' | LC_ALL=C sort); done
}
vm_all_modules() {
  { for m in $VM_MODULES_BOOT $VM_MODULES_EXTRA; do echo "$m"; done; vm_dir_modules $VM_MODULE_DIRS; } | vm_module_order
}
vm_preload_modules() { vm_dir_modules $VM_MODULE_DIRS_PRELOAD | vm_module_order; }

# Sets INITRAMFS. Rebuilt only when init.sh, the module set or busybox changes.
vm_ensure_initramfs() {
  local here=$1 order boot preload key stage
  order=$(vm_all_modules 2>/dev/null)
  boot=$(vm_boot_modules 2>/dev/null)
  preload=$(vm_preload_modules 2>/dev/null)
  [ -x /bin/busybox ] || vm_die "/bin/busybox missing: run scripts/vm-deps.sh"
  key=$( { cat "$here/init.sh"; echo "$order"; echo "$boot"; echo "$preload"; sha256sum /bin/busybox; } | sha256sum | cut -c1-16)
  INITRAMFS="$KDIR/initramfs-$key.cpio.gz"
  [ -s "$INITRAMFS" ] && return 0
  vm_log "building initramfs $INITRAMFS"
  stage=$(mktemp -d "$KDIR/stage.XXXXXX")
  mkdir -p "$stage/bin" "$stage/dev" "$stage/lib/modules/$KVER"
  cp /bin/busybox "$stage/bin/busybox"
  cp "$here/init.sh" "$stage/init"
  chmod 0755 "$stage/init"
  mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
  mknod -m 666 "$stage/dev/null" c 1 3 2>/dev/null || true
  local mdir="$KDIR/root/lib/modules/$KVER" p
  while IFS= read -r p; do
    mkdir -p "$stage/lib/modules/$KVER/$(dirname "$p")"
    cp "$mdir/$p" "$stage/lib/modules/$KVER/$p"
  done <<<"$order"
  cp "$mdir"/modules.order "$mdir"/modules.builtin "$mdir"/modules.builtin.modinfo "$stage/lib/modules/$KVER/" 2>/dev/null || true
  depmod -b "$stage" "$KVER" || vm_die "depmod of the initramfs modules failed"
  printf '%s\n' "$boot" >"$stage/modules.boot"
  # For VM_PRELOAD=netfilter, in dependency order.
  printf '%s\n' "$preload" | grep -vxF -f "$stage/modules.boot" >"$stage/modules.rest" || true
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$INITRAMFS.tmp.$$" \
    || { rm -rf "$stage" "$INITRAMFS.tmp.$$"; vm_die "cpio failed"; }
  mv "$INITRAMFS.tmp.$$" "$INITRAMFS"
  rm -rf "$stage"
  # Older initramfs versions: qemu reads -initrd at start, so an hour-old one is no longer in use.
  find "$KDIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${INITRAMFS##*/}" -mmin +60 -delete 2>/dev/null || true
}
