#!/usr/bin/env bash
# Says whether this machine can run tests/node/up.sh's real node: exits 0 when it can, else
# prints the reason and exits 1.
if [ "$(id -u)" != 0 ]; then echo "not root (containerd and the kubelet need root)"; exit 1; fi
[ "$(uname -s)" = Linux ] || { echo "not Linux"; exit 1; }
grep -qw overlay /proc/filesystems || { echo "no overlay filesystem in the kernel"; exit 1; }
for h in cpu cpuacct cpuset memory pids; do
  [ -d "/sys/fs/cgroup/$h" ] || { echo "no cgroup v1 $h hierarchy at /sys/fs/cgroup/$h (this node is set up for cgroup v1)"; exit 1; }
done
command -v go >/dev/null 2>&1 || { echo "no Go toolchain to build the kubelet and containerd"; exit 1; }
command -v flock >/dev/null 2>&1 || { echo "no flock (util-linux)"; exit 1; }
exit 0
