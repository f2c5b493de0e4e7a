#!/bin/bash
# /init of the kvmm guest initramfs (PID 1). Sets up the minimal system, loads the block modules,
# waits for the disks, runs the plans named on the kernel command line (see
# /usr/lib/kvmm/plans.sh and docs/guest-image.md) and ends the VM with a status:
#   0 all checks passed, 1 some check failed, 2 init itself broke.
# The status is written to the VMM's test-exit port 0xf4; then `reboot -f` ends the VM under any
# VMM (QEMU -no-reboot, or a VMM that exits on keyboard-controller reset with reboot=k).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
export HOME=/root TERM=linux LANG=C LC_ALL=C

# Boot marker first of all: lets the VMM report its time-to-init.
/usr/sbin/kvmm-outb 0x3f0 123 2>/dev/null

end_vm() {  # status
  local status=$1
  echo "KVMM-EXIT $status"
  sync
  # kvmm_end=poweroff on the kernel command line: power off (ACPI S5) instead of the exit port,
  # to test the VMM's power-off path (the status is then only in the KVMM-EXIT line).
  if grep -qw 'kvmm_end=poweroff' /proc/cmdline 2>/dev/null; then
    poweroff -f
    sleep 5
    echo "KVMM-EXIT poweroff failed"
  fi
  /usr/sbin/kvmm-outb 0xf4 "$status" 2>/dev/null
  # Still here: the VMM has no exit port. Reboot (the VMM or QEMU -no-reboot then ends the VM).
  sleep 0.2
  reboot -f
  sleep 5
  echo "KVMM-EXIT reboot failed; halting"
  while :; do sleep 3600; done
}

broken() {  # message
  echo "RESULT init fail $*"
  end_vm 2
}

mkdir -p /proc /sys /dev /run /tmp
mount -t proc proc /proc || broken "mount /proc"
mount -t sysfs sysfs /sys || broken "mount /sys"
mount -t devtmpfs -o mode=0755 devtmpfs /dev || broken "mount /dev"
# Console for everything that follows (the kernel hands PID 1 /dev/console already, but be sure).
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts || broken "mount /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run || broken "mount /run"
mount -t tmpfs -o mode=1777 tmpfs /tmp || broken "mount /tmp"
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for i in 0 1 2; do [ -e /dev/std$i ] || ln -s /proc/self/fd/$i /dev/std$(echo in out err | cut -d' ' -f$((i+1))); done
hostname kvmm-guest 2>/dev/null
# Keep kernel chatter from splitting RESULT lines on the console: warnings and worse only,
# unless the command line chose a loglevel itself (loglevel=N / debug / ignore_loglevel).
case " $(cat /proc/cmdline) " in
  *" loglevel="*|*" debug "*|*" ignore_loglevel "*) ;;
  *) echo 4 > /proc/sys/kernel/printk ;;
esac
echo "kvmm-init: started at $(cut -d' ' -f1 /proc/uptime) s uptime, kernel $(uname -r)"

# configfs (null_blk zoned devices, blktests) needs its module first.
modprobe configfs 2>/dev/null
mount -t configfs configfs /sys/kernel/config 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

if [ ! -r /usr/lib/kvmm/plans.sh ]; then broken "missing /usr/lib/kvmm/plans.sh"; fi
# The plans run in a child: whatever happens there, PID 1 survives to report and end the VM.
bash /usr/lib/kvmm/plans.sh
rc=$?
[ -e /run/kvmm-watchdog ] && end_vm 1
case $rc in
  0|1) end_vm "$rc" ;;
  *) broken "plan runner exited with status $rc" ;;
esac
