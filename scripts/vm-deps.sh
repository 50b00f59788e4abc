#!/usr/bin/env bash
# Debian packages for the real-kernel VM suite (test/kernel/vm) and the data-plane tools the
# kernel suites drive (bird2: the BGP speaker of the scale-out suite, bench and demo; dnsmasq and openssl: the real DNS
# and TLS servers of the health-check tests; strace: the system-call counts of bench netlink; chromium: the headless
# browser of the status page test, driven by playwright-core, which downloads no browser of its own). Idempotent: quiet
# when everything is present; runs `apt-get update` once,
# and only when something is missing.
set -euo pipefail

# package -> a command (or file) that proves it is installed
declare -A probe=(
  [qemu-system-x86]=qemu-system-x86_64
  [busybox-static]=/bin/busybox
  [kmod]=depmod
  [cpio]=cpio
  [gzip]=gzip
  [iproute2]=ip
  [ipvsadm]=ipvsadm
  [iptables]=iptables
  [nftables]=nft
  [ipset]=ipset
  [procps]=sysctl
  [conntrack]=conntrack
  [bird2]=bird
  [dnsmasq-base]=dnsmasq
  [openssl]=openssl
  [chromium]=/usr/bin/chromium
  [strace]=strace
)

missing=()
for pkg in "${!probe[@]}"; do
  p="${probe[$pkg]}"
  if [[ "$p" == /* ]]; then
    [ -e "$p" ] || missing+=("$pkg")
  else
    PATH="$PATH:/usr/sbin:/sbin" command -v "$p" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done
# busybox-static installs /bin/busybox; the dynamic busybox package does too, so check the binary is static.
if [ -e /bin/busybox ] && ! dpkg -s busybox-static >/dev/null 2>&1; then
  case " ${missing[*]} " in *" busybox-static "*) ;; *) missing+=(busybox-static) ;; esac
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "vm-deps: missing Debian packages: ${missing[*]} (run this script as root to install them)" >&2
  exit 1
fi
echo "vm-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
