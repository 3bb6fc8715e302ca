"""The guest's initramfs: static busybox, the modules, and /init.

The archive does not depend on the command to run: that comes from the
writable share (`lab.env` + `run.sh`), so one archive per (init script,
busybox, modules) is built once and cached next to the kernel.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from ipvlan_tui.lab.provision import Manifest, find_static_busybox
from ipvlan_tui.lab.errors import LabNotSetUp

HOSTROOT_TAG = "hostroot"
SHARE_TAG = "labshare"
STDOUT_PORT = "lab.stdout"
STDERR_PORT = "lab.stderr"

# busybox sh. Runs as PID 1; must never exit (that panics the kernel).
INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

LAB_MODE=exec
say() { echo "lab-init: $*" > /dev/ttyS0; }
stage() { [ -n "$LAB_DEBUG" ] && read -r up _ < /proc/uptime && say "$up s: $*"; }
stop() {
    sync
    poweroff -f
    echo o > /proc/sysrq-trigger
    while :; do sleep 1; done
}
fail() {
    say "error: $*"
    [ -n "$SHARE_OK" ] && echo "$*" > /share/init-error
    stop
}

[ -e /proc/cmdline ] && case "$(cat /proc/cmdline)" in *lab.debug*) LAB_DEBUG=1 ;; esac
stage "init started"
while read -r m kind; do
    [ "$kind" = core ] && { insmod "/lib/modules/$m.ko" || say "insmod $m failed"; }
done < /modules.order

stage "modules loaded"
mkdir -p /lower /rw /newroot /share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 @SHARE@ /share \
    || fail "cannot mount the writable share (9p tag @SHARE@)"
SHARE_OK=1
. /share/lab.env || fail "cannot read /share/lab.env"
if [ -n "$LAB_MODULES" ]; then
    while read -r m kind; do
        case " $LAB_MODULES " in
            *" $m "*) [ "$kind" = core ] || insmod "/lib/modules/$m.ko" || say "insmod $m failed" ;;
        esac
    done < /modules.order
fi
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=$LAB_CACHE_MODE @ROOT@ /lower \
    || fail "cannot mount the host root (9p tag @ROOT@)"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "cannot mount a tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
    || fail "cannot mount the overlay root"
R=/newroot
mount -t proc proc $R/proc || fail "no /proc in the host tree"
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $R/run
[ -d $R/sys/fs/cgroup ] && mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
mkdir -p "$R$LAB_SHARE" && mount --bind /share "$R$LAB_SHARE" \
    || fail "cannot bind the share at $LAB_SHARE"
hostname ipvlan-lab
stage "root ready"
ip link set lo up

if [ "$LAB_MODE" = shell ]; then
    stty rows "$LAB_ROWS" cols "$LAB_COLS" < /dev/ttyS0
    setsid -c chroot $R /bin/sh "$LAB_SHARE/run.sh" < /dev/ttyS0 > /dev/ttyS0 2>&1
    rc=$?
else
    OUT=; ERR=; n=0
    while [ -z "$OUT" ] || [ -z "$ERR" ]; do
        for p in /sys/class/virtio-ports/*; do
            [ -e "$p/name" ] || continue
            case "$(cat "$p/name")" in
                @STDOUT@) [ -e "/dev/${p##*/}" ] && OUT=/dev/${p##*/} ;;
                @STDERR@) [ -e "/dev/${p##*/}" ] && ERR=/dev/${p##*/} ;;
            esac
        done
        n=$((n + 1))
        [ $n -gt 100 ] && fail "the output ports @STDOUT@/@STDERR@ did not appear"
        [ -z "$OUT" ] || [ -z "$ERR" ] && sleep 0.1
    done
    echo started > /share/started
    chroot $R /bin/sh "$LAB_SHARE/run.sh" < /dev/null > "$OUT" 2> "$ERR"
    rc=$?
fi
stage "command exited with $rc"
echo "$rc" > /share/rc.tmp && mv /share/rc.tmp /share/rc
stop
"""


def init_script() -> str:
    return (INIT_SCRIPT.replace("@SHARE@", SHARE_TAG).replace("@ROOT@", HOSTROOT_TAG)
            .replace("@STDOUT@", STDOUT_PORT).replace("@STDERR@", STDERR_PORT))


class _Newc:
    """A minimal writer of the cpio `newc` format the kernel unpacks."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        nameb = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0]
        self.ino += 1
        head = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.parts.append(head + nameb)
        self.parts.append(b"\0" * ((-len(head + nameb)) % 4))
        self.parts.append(data)
        self.parts.append(b"\0" * ((-len(data)) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        out = b"".join(self.parts)
        return out + b"\0" * ((-len(out)) % 512)


SIG_MAGIC = b"~Module signature appended~\n"


def strip_signature(ko: bytes) -> bytes:
    """Drop the appended module signature: the kernel (MODULE_SIG without
    MODULE_SIG_FORCE) loads the module unsigned, without spending TCG time on RSA."""
    if not ko.endswith(SIG_MAGIC):
        return ko
    body = ko[: -len(SIG_MAGIC)]
    sig_len = int.from_bytes(body[-4:], "big")
    cut = len(body) - 12 - sig_len  # struct module_signature is 12 bytes
    return body[:cut] if cut > 0 else ko


def build(man: Manifest, busybox: str) -> bytes:
    a = _Newc()
    for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules", "lower", "rw", "newroot", "share"):
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3)
    a.file("bin/busybox", Path(busybox).read_bytes(), 0o755)
    a.file("init", init_script().encode(), 0o755)
    core = set(man.core)
    for m in man.modules:
        a.file(f"lib/modules/{m}.ko", strip_signature(Path(man.module_dir, f"{m}.ko").read_bytes()))
    a.file("modules.order", "".join(f"{m} {'core' if m in core else 'opt'}\n" for m in man.modules).encode())
    return a.finish()


def ensure(man: Manifest) -> Path:
    """The cached initramfs for this manifest, built when missing or stale."""
    busybox = find_static_busybox()
    if busybox is None:
        raise LabNotSetUp("no static busybox on this host (the initramfs needs one)",
                          hint="run `ipvlan-tui lab setup` as root, or `apt-get install -y busybox-static`")
    h = hashlib.sha256()
    h.update(init_script().encode())
    st = os.stat(busybox)
    h.update(f"{busybox}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(man.module_dir.encode())
    for m in man.modules:
        h.update(f"{m}:{m in man.core}".encode())
    kdir = Path(man.module_dir).parent
    name = f"initramfs-{h.hexdigest()[:16]}.cpio"
    path = kdir / name
    if path.exists():
        return path
    if not os.access(kdir, os.W_OK):  # a cache set up by another user: build beside it
        path = Path(tempfile.gettempdir()) / f"ipvlan-tui-{os.getuid()}-{name}"
        if path.exists():
            return path
    else:
        for old in kdir.glob("initramfs-*.cpio"):
            if old.name != name:  # archives of older init scripts
                old.unlink(missing_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(build(man, busybox))
    tmp.replace(path)
    return path
