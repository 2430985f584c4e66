// The initramfs /init: PID 1 of the guest, a busybox ash script. It reads
// the per-boot request (/smr/request, a second cpio archive appended to the
// initramfs; see request.ts), mounts the NBD-backed root disk, runs the
// command in it as docker run would, reports its exit status with a marker
// line carrying the boot's nonce, and powers the VM off.
//
// Marker lines (the host parses them; see console.ts), N = the nonce:
//   @@SMR-INIT:N uptime=S        init started (S = seconds since the kernel started)
//   @@SMR-PROBE:N                accelerator probe boot reached init
//   @@SMR-START:N uptime=S       the command is about to run
//   @@SMR-EXIT:N status=C timeout=0|1 uptime=S
//   @@SMR-ERROR:N MESSAGE        the command could not be started
export const INIT_SCRIPT = `#!/bin/sh
export PATH=/bin
R=/newroot

mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

up() { read -r u _ </proc/uptime; echo "$u"; }

off() {
    # A writable root is left clean: stop whatever the command left running
    # (kill -1 spares PID 1), then remount it read-only, which flushes it and
    # marks the filesystem clean (smr's images have no journal); otherwise the
    # next read-write mount warns "mounting unchecked fs".
    if [ "$SMR_WRITABLE" = 1 ] && grep -q " $R ext4 rw" /proc/mounts 2>/dev/null; then
        kill -KILL -1 2>/dev/null
        n=0
        # Killed processes close their files a moment later: until then, busy.
        until mount -o remount,ro $R 2>/dev/null; do
            n=$((n + 1))
            [ $n -gt 20 ] && { say "cannot remount $R read-only"; break; }
            sleep 0.05
        done
    fi
    sync
    poweroff -f
    sleep 1
    reboot -f
}

[ -r /smr/request ] || { echo "@@SMR-ERROR:none no /smr/request in the initramfs"; off; }
. /smr/request

fail() {
    echo "@@SMR-ERROR:$SMR_NONCE $*"
    off
}
say() { [ "$SMR_VERBOSE" = 1 ] && echo "init: $*"; return 0; }

echo "@@SMR-INIT:$SMR_NONCE uptime=$(up)"
if [ "$SMR_MODE" = probe ]; then
    echo "@@SMR-PROBE:$SMR_NONCE"
    off
fi
# Kernel messages would interleave with the command's output on the console.
[ "$SMR_VERBOSE" = 1 ] || echo 1 >/proc/sys/kernel/printk

# Modules in load order (dependencies first) for this boot's virtio bus.
while read -r m; do
    out=$(insmod "/lib/modules/$m.ko" 2>&1) || say "insmod $m: $out"
done <"/lib/modules/$SMR_BUS.list"
say "modules loaded at $(up)s"

i=0
while [ ! -b /dev/vda ]; do
    i=$((i + 1))
    [ $i -gt 1000 ] && fail "no disk /dev/vda after 10 s"
    sleep 0.01
done

if [ "$SMR_WRITABLE" = 1 ]; then
    mount -t ext4 -o rw /dev/vda $R || fail "cannot mount /dev/vda (ext4) read-write"
else
    # noload: a read-only disk cannot have its journal replayed
    mount -t ext4 -o ro,noload /dev/vda $R || fail "cannot mount /dev/vda (ext4) read-only"
fi
say "root mounted at $(up)s"

# API filesystems, where the image has the mount point (a read-only root
# cannot grow directories).
[ -d $R/proc ] && mount -t proc proc $R/proc
[ -d $R/sys ] && mount -t sysfs sysfs $R/sys
if [ -d $R/dev ]; then
    mkdir -p /dev/pts /dev/shm
    mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm
    mount -o rbind /dev $R/dev
fi
[ -d $R/tmp ] && mount -t tmpfs -o mode=1777 tmpfs $R/tmp

# Hostname, also in /etc/hostname and /etc/hosts where the image has them.
hostname "$SMR_HOSTNAME"
ip link set lo up 2>/dev/null
mkdir -p /run/smr
echo "$SMR_HOSTNAME" >/run/smr/hostname
printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n127.0.1.1\\t%s\\n' "$SMR_HOSTNAME" >/run/smr/hosts
for f in hostname hosts; do
    [ -f $R/etc/$f ] && mount -o bind /run/smr/$f $R/etc/$f
done

# User as docker run --user takes it: NAME or UID, optionally :GROUP or :GID,
# names looked up in the image's /etc/passwd and /etc/group. HOME comes from
# the passwd entry ("/" without one) unless the request sets it.
user=\${SMR_USER%%:*}
group=
case "$SMR_USER" in *:*) group=\${SMR_USER#*:} ;; esac
[ -n "$user" ] || user=0
entry=$(awk -F: -v u="$user" '$1 == u { print; exit }' $R/etc/passwd 2>/dev/null)
[ -n "$entry" ] || entry=$(awk -F: -v u="$user" '$3 == u { print; exit }' $R/etc/passwd 2>/dev/null)
if [ -n "$entry" ]; then
    uid=$(echo "$entry" | cut -d: -f3)
    gid=$(echo "$entry" | cut -d: -f4)
    home=$(echo "$entry" | cut -d: -f6)
else
    case "$user" in *[!0-9]*) fail "unable to find user $user: no matching entries in passwd file" ;; esac
    uid=$user gid=0 home=/
fi
if [ -n "$group" ]; then
    g=$(awk -F: -v g="$group" '$1 == g { print $3; exit }' $R/etc/group 2>/dev/null)
    if [ -z "$g" ]; then
        case "$group" in *[!0-9]*) fail "unable to find group $group: no matching entries in group file" ;; esac
        g=$group
    fi
    gid=$g
fi
[ -n "$home" ] || home=/

if [ ! -d "$R$SMR_CWD" ]; then
    [ "$SMR_WRITABLE" = 1 ] && mkdir -p "$R$SMR_CWD"
    [ -d "$R$SMR_CWD" ] || fail "working directory $SMR_CWD does not exist in the image"
fi

echo "@@SMR-START:$SMR_NONCE uptime=$(up)"
# smr_exec (from the request) execs the command through env -i (its
# environment, nothing of init's) and nsenter (chroot, working directory,
# uid, gid). HOME and PATH given here are defaults the request may override.
smr_exec "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "HOSTNAME=$SMR_HOSTNAME" "HOME=$home" </dev/null &
pid=$!
if [ "$SMR_TIMEOUT" -gt 0 ]; then
    ( sleep "$SMR_TIMEOUT"; touch /run/smr/timed-out; kill -KILL $pid ) &
fi
# (quiet: ash would report a killed job as "Killed" on the console)
wait $pid 2>/dev/null
rc=$?
timedout=0
[ -e /run/smr/timed-out ] && timedout=1
echo "@@SMR-EXIT:$SMR_NONCE status=$rc timeout=$timedout uptime=$(up)"
off
`;
