#!/usr/bin/env bash
# The backend host's side of direct server return behind ipvs-maglev scale-out nodes (README
# "Scale-out"). Run it as root on each backend (or inside its network namespace):
#
#   scripts/backend-dsr.sh up   [--gue-port PORT] [--no-tunnel] VIP...
#   scripts/backend-dsr.sh down [--gue-port PORT] VIP...
#
# up: puts every VIP on lo (the backend accepts packets addressed to the VIP and answers from it,
#     straight to the client's router, never through a load balancer), brings up tunl0 to
#     decapsulate IPVS tunnel forwarding (IPIP; with --gue-port also GUE on that UDP port through
#     fou), and sets the ARP and reverse-path knobs DSR needs:
#       arp_ignore=1    answer ARP only for addresses on the asking interface: never for a VIP on lo,
#                       or the LAN's router would send clients straight here, around the balancers
#       arp_announce=2  never use a VIP as the source of our own ARP requests
#       rp_filter=0     (all, default, tunl0) a decapsulated packet arrives on tunl0 from the client's
#                       address, whose route points out of eth0: strict reverse-path filtering drops it
#     --no-tunnel: for forwarding "droute" only (same L2 segment as the balancers, no tunnel device).
# down: removes the VIPs and the GUE port; the sysctls stay (they are harmless without VIPs).
set -euo pipefail
usage() { sed -n '5,6p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1
shift
gue_port=""
tunnel=1
vips=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gue-port) gue_port=${2:?--gue-port needs a port}; shift 2 ;;
    --no-tunnel) tunnel=0; shift ;;
    -h|--help) usage ;;
    -*) echo "backend-dsr: unknown option $1" >&2; usage ;;
    *) vips+=("$1"); shift ;;
  esac
done
[ "${#vips[@]}" -gt 0 ] || { echo "backend-dsr: name at least one VIP" >&2; usage; }
for v in "${vips[@]}"; do
  [[ "$v" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || "$v" == *:* ]] || { echo "backend-dsr: \"$v\" is not an IP address" >&2; exit 2; }
done
if [ -n "$gue_port" ] && ! [[ "$gue_port" =~ ^[0-9]+$ && "$gue_port" -ge 1 && "$gue_port" -le 65535 ]]; then
  echo "backend-dsr: --gue-port must be 1-65535" >&2
  exit 2
fi
plen() { [[ "$1" == *:* ]] && echo 128 || echo 32; }

case "$action" in
  up)
    if [ "$tunnel" = 1 ]; then
      modprobe ipip 2>/dev/null || true # the module gives every namespace its tunl0
      [ -n "$gue_port" ] && { modprobe fou 2>/dev/null || true; }
    fi
    {
      for v in "${vips[@]}"; do echo "addr replace $v/$(plen "$v") dev lo"; done
      [ "$tunnel" = 1 ] && echo "link set tunl0 up"
      [ -n "$gue_port" ] && echo "fou add port $gue_port gue"
    } | ip -force -batch - 2>&1 | grep -v 'File exists' >&2 || true
    ip link show tunl0 >/dev/null 2>&1 || [ "$tunnel" = 0 ] || { echo "backend-dsr: no tunl0: this kernel has no ipip module (use --no-tunnel for droute only)" >&2; exit 1; }
    keys=(net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0)
    [ "$tunnel" = 1 ] && keys+=(net.ipv4.conf.tunl0.rp_filter=0)
    sysctl -qw "${keys[@]}"
    echo "backend-dsr: up: ${vips[*]} on lo${gue_port:+, GUE on udp $gue_port}$([ "$tunnel" = 1 ] && echo ', tunl0 up')" >&2
    ;;
  down)
    {
      for v in "${vips[@]}"; do echo "addr del $v/$(plen "$v") dev lo"; done
      [ -n "$gue_port" ] && echo "fou del port $gue_port"
    } | ip -force -batch - 2>/dev/null || true
    echo "backend-dsr: down: ${vips[*]} removed from lo" >&2
    ;;
  *) usage ;;
esac
