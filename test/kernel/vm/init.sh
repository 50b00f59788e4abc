#!/bin/busybox sh
# /init of the test VM's initramfs (busybox). Loads the modules, builds a writable root (the host's
# `/` over 9p, read-only, under a tmpfs overlay), runs the caller's command in a chroot and powers off.
# The host (run-in-vm.sh) shares a per-run directory with mount tag `ipvsrun`; its vm.conf says where
# that directory lives on the host (the guest mounts it at the same path) and which other host
# directories to mount writable. Nothing but fixed words travels on the kernel command line.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

fail() {
  echo "ipvs-vm: $*"
  echo "@@IPVSVM:EXIT=125@@"
  poweroff -f
  sleep 5
}

stage() { echo "ipvs-vm: $(cut -d' ' -f1 /proc/uptime)s $*"; }
stage "init started"
kver=$(uname -r)
load_modules() {
  while read -r mod; do
    insmod "/lib/modules/$kver/$mod" >>/modload.log 2>&1 || echo "insmod $mod failed" >>/modload.log
  done <"$1"
}
load_modules /modules.boot
# Everything else loads on demand: the kernel runs /sbin/modprobe from the initramfs (busybox, over its
# modules.dep/modules.alias) for nft expressions, xt matches, qdiscs, link types, ... Tools inside the
# chroot that read /proc/sys/kernel/modprobe (iptables-legacy) find the host's kmod at the same path.
mkdir -p /sbin
ln -sf /bin/busybox /sbin/modprobe
echo /sbin/modprobe >/proc/sys/kernel/modprobe
stage "modules loaded"

mkdir -p /share /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ipvsrun /share || fail "cannot mount the run share"
[ -r /share/vm.conf ] || fail "no vm.conf in the run share"
. /share/vm.conf
if [ "$PRELOAD_ALL" = 1 ]; then
  load_modules /modules.rest
  stage "netfilter modules loaded"
fi

mount -t 9p -o "trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose" hostroot /lower || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 rw /rw || fail "cannot mount the tmpfs for the overlay"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "cannot mount the overlay root"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=0755 run $R/run
mkdir -p $R/run/netns $R/run/lock $R/run/ipvs-vm
# /tmp gets a fresh tmpfs unless the project itself lives there (a CI clone under /tmp): the overlay
# already makes it writable, and hiding the checkout would break the run.
[ "$TMP_TMPFS" = 1 ] && mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t bpf bpf $R/sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
# The modules, where the chroot's own modprobe (kmod) looks for them.
mkdir -p "$R/lib/modules/$kver"
mount --bind "/lib/modules/$kver" "$R/lib/modules/$kver"
cp /modload.log $R/run/ipvs-vm/modload.log

mkdir -p "$R$RUNDIR"
mount --bind /share "$R$RUNDIR" || fail "cannot bind the run share at $RUNDIR"
i=0
while [ "$i" -lt "${RW_COUNT:-0}" ]; do
  eval "dir=\$RW_$i"
  mkdir -p "$R$dir"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "rw$i" "$R$dir" || fail "cannot mount writable share $dir"
  i=$((i + 1))
done

stage "root ready"
hostname ipvs-vm
ip link set lo up
echo 1 >/proc/sys/net/ipv4/ip_forward
# A process that dies of a signal leaves its core in the run share; the host keeps it and prints a
# backtrace (run-in-vm.sh), so a rare crash under emulation is evidence, not a mystery.
mkdir -p /share/cores
echo "$RUNDIR/cores/core.%e.%p.sig%s" >/proc/sys/kernel/core_pattern

echo "@@IPVSVM:START@@"
chroot $R /bin/bash "$RUNDIR/guest.sh"
rc=$?
[ -r /share/status ] && rc=$(cat /share/status)
echo "@@IPVSVM:EXIT=$rc@@"
sync
poweroff -f
sleep 5
