#!/bin/bash
# Why ipset restore and VIP binding cost what they do in the VM. Run it in the VM:
#   bash test/kernel/vm/run-in-vm.sh bash bench/results/dataplane-logs/why-ipset-and-vips.sh
cd "$(dirname "$0")/../../.." || exit 1
D=/tmp/exp; mkdir -p $D
node --no-warnings --input-type=module -e '
const { ipsetAdd, ipsetCreate } = await import("./bench/dataplane/kube-proxy-ipvs.ts");
const { makeWorkload } = await import("./bench/dataplane/workload.ts");
const fs = await import("node:fs");
const w = makeWorkload({ services: 1000, pods: ["10.0.1.1","10.0.1.2","10.0.1.3","10.0.1.4"], endpointsPerService: 4, targetPort: 8080, servicePort: 80 });
fs.writeFileSync("/tmp/exp/create.ipset", ipsetCreate());
fs.writeFileSync("/tmp/exp/add.ipset", ipsetAdd(w));
fs.writeFileSync("/tmp/exp/addnum.ipset", ipsetAdd(w).replaceAll(",tcp:", ",6:"));
'
ipset restore -exist < $D/create.ipset
echo "== ipset restore, 1000 services (tcp:80)"; ( time ipset restore -exist < $D/add.ipset ) 2>&1 | tr '\n' ' '; echo
ipset flush KUBE-CLUSTER-IP; ipset flush KUBE-LOOP-BACK
echo "== strace -c of the same"; strace -f -c -o $D/sc.txt ipset restore -exist < $D/add.ipset; head -14 $D/sc.txt
ipset flush KUBE-CLUSTER-IP; ipset flush KUBE-LOOP-BACK
echo "== files opened"; strace -f -e trace=openat -o $D/open.txt ipset restore -exist < $D/add.ipset; grep -o '"[^"]*"' $D/open.txt | sort | uniq -c | sort -rn | head -8
ipset flush KUBE-CLUSTER-IP; ipset flush KUBE-LOOP-BACK
echo "== ipset restore, numeric protocol (6:80)"; ( time ipset restore -exist < $D/addnum.ipset ) 2>&1 | tr '\n' ' '; echo
ipset list KUBE-CLUSTER-IP | sed -n 8,9p
ipset destroy KUBE-CLUSTER-IP; ipset destroy KUBE-LOOP-BACK
for n in 2500 5000; do
  ip link add expd type dummy
  seq 0 $((n-1)) | awk '{printf "address add 172.31.%d.%d/32 dev expd\n", int($1/254), $1%254+1}' > $D/addr.ip
  echo "== ip -batch: $n addresses on one dummy"; ( time ip -batch $D/addr.ip ) 2>&1 | tr '\n' ' '; echo
  ip link del expd
done
