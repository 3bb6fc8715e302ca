"""`lab setup`: get the host tools and a Debian kernel with its modules.

Everything lands in one cache directory (default ~/.cache/ipvlan-tui/lab,
override with IPVLAN_TUI_LAB_CACHE):

    linux-image-<ver>.deb       the downloaded package (kept: re-extracting
                                 needs no network)
    kernel/<kver>/vmlinuz
    kernel/<kver>/modules/*.ko  only the modules the guest needs, decompressed
    manifest.json               kernel version, module load order, paths

All external programs run with argument lists, never through a shell.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ipvlan_tui.lab.errors import LabNotSetUp, LabSetupError, QemuMissing

MANIFEST_VERSION = 2

# Modules the guest must load (names as in `modinfo`, '-' and '_' are equal).
# Their dependencies are added from `modinfo -F depends`.
REQUIRED_MODULES = [
    "virtio_ring", "virtio", "virtio_pci", "virtio_console",
    "netfs", "fscache", "9pnet", "9pnet_virtio", "9p",
    "overlay",
    "llc", "stp", "garp", "mrp", "8021q",
    "ipvlan", "dummy", "veth", "macvlan", "bridge",
]
# Loaded when the kernel has them; the two-VM wire needs the net ones.
OPTIONAL_MODULES = [
    "failover", "net_failover", "virtio_net",
    "tun", "br_netfilter", "macvtap", "ipvtap", "vxlan",
]

# command on the host -> Debian package that provides it
HOST_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "cpio": "cpio",
    "modinfo": "kmod",
    "ip": "iproute2",
    # dockerd runs inside the VM for the Docker tests; keyed on dockerd, not
    # docker: a client alone (e.g. in /usr/local/bin) is not enough.
    "dockerd": "docker.io",
}
BUSYBOX_PACKAGE = "busybox-static"
BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"]
META_PACKAGE = "linux-image-amd64"

Log = Callable[[str], None]


def _log_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _sudo_user() -> tuple[str, int, int] | None:
    """(home, uid, gid) of the user behind `sudo`, when we run as root under sudo."""
    name = os.environ.get("SUDO_USER")
    if os.geteuid() != 0 or not name or name == "root":
        return None
    try:
        import pwd
        pw = pwd.getpwnam(name)
    except (KeyError, ImportError):
        return None
    return pw.pw_dir, pw.pw_uid, pw.pw_gid


def cache_dir() -> Path:
    """IPVLAN_TUI_LAB_CACHE, else ~/.cache/ipvlan-tui/lab (under sudo: the invoking
    user's home, so `sudo ... lab setup` prepares the cache that user's tests use)."""
    env = os.environ.get("IPVLAN_TUI_LAB_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    sudo = _sudo_user()
    if sudo:
        return Path(sudo[0]) / ".cache" / "ipvlan-tui" / "lab"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ipvlan-tui" / "lab"


def _give_back(cache: Path) -> None:
    """Under sudo: hand the cache (and its parents we made) to the invoking user."""
    sudo = _sudo_user()
    if not sudo:
        return
    _, uid, gid = sudo
    for parent in (cache.parent.parent, cache.parent):
        try:
            if parent.stat().st_uid == 0 and str(parent).startswith(sudo[0]):
                os.chown(parent, uid, gid)
        except OSError:
            pass
    for root, dirs, files in os.walk(cache):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            try:
                os.chown(name, uid, gid)
            except OSError:
                pass


def norm(name: str) -> str:
    return name.replace("-", "_")


# ---------------------------------------------------------------- host tools

def is_static_elf(path: str | os.PathLike[str]) -> bool:
    """True when `path` is an ELF executable without a PT_INTERP header."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
                return False
            little = head[5] == 1
            order = "little" if little else "big"
            phoff = int.from_bytes(head[32:40], order)
            phentsize = int.from_bytes(head[54:56], order)
            phnum = int.from_bytes(head[56:58], order)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
    except OSError:
        return False
    for i in range(phnum):
        p_type = int.from_bytes(table[i * phentsize:i * phentsize + 4], order)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def find_static_busybox() -> str | None:
    env = os.environ.get("IPVLAN_TUI_LAB_BUSYBOX")
    candidates = [env] if env else []
    which = shutil.which("busybox")
    candidates += BUSYBOX_CANDIDATES + ([which] if which else [])
    for cand in candidates:
        if cand and os.path.isfile(cand) and is_static_elf(cand):
            return os.path.realpath(cand)
    return None


def find_qemu() -> str:
    env = os.environ.get("IPVLAN_TUI_LAB_QEMU")
    path = env or shutil.which("qemu-system-x86_64")
    if not path or not os.access(path, os.X_OK):
        raise QemuMissing(
            "qemu-system-x86_64 is not installed, so the lab VM cannot start",
            hint="run `ipvlan-tui lab setup` as root (installs the Debian package "
                 "qemu-system-x86), or `sudo apt-get install -y qemu-system-x86`",
        )
    return path


def missing_host_packages() -> list[str]:
    """Debian packages whose tools are missing on this host."""
    missing = [pkg for cmd, pkg in HOST_TOOLS.items() if not shutil.which(cmd)
               and not os.path.exists(f"/usr/sbin/{cmd}") and not os.path.exists(f"/sbin/{cmd}")]
    if find_static_busybox() is None:
        missing.append(BUSYBOX_PACKAGE)
    return missing


def _tool(name: str) -> str:
    path = shutil.which(name)
    for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if path:
            break
        if os.access(f"{d}/{name}", os.X_OK):
            path = f"{d}/{name}"
    if not path:
        raise LabSetupError(f"`{name}` is not installed", hint=f"install the package that provides {name}")
    return path


def _run(argv: list[str], log: Log, *, cwd: Path | None = None, capture: bool = False,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    log("  $ " + " ".join(argv))
    try:
        return subprocess.run(argv, cwd=cwd, env=env, text=True, check=False,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError as exc:
        raise LabSetupError(f"cannot run {argv[0]}: {exc}") from exc


def _check_debian() -> None:
    if platform.machine() not in ("x86_64", "amd64"):
        raise LabSetupError(
            f"the lab needs an x86_64 host (this is {platform.machine()})",
            hint="run the kernel tests on an x86_64 machine or one whose kernel has ipvlan, 8021q and dummy")
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb") or not shutil.which("apt-cache"):
        raise LabSetupError(
            "this host is not Debian/Ubuntu (apt-get, apt-cache or dpkg-deb missing), "
            "so `lab setup` cannot fetch the pieces itself",
            hint="install qemu-system-x86_64, a static busybox, cpio and kmod with your package "
                 "manager, then run `lab setup` on a Debian-based machine or container to fetch the kernel")


def _apt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


class _Apt:
    """apt-get with a once-per-run `apt-get update`."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.updated = False

    def need_root(self, what: str) -> None:
        if os.geteuid() != 0:
            raise LabSetupError(
                f"{what} needs root (apt-get), and this process runs as uid {os.geteuid()}",
                hint="run `sudo ipvlan-tui lab setup` (or `sudo python -m ipvlan_tui.lab setup`)")

    def update(self) -> None:
        if self.updated:
            return
        self.need_root("`apt-get update`")
        res = _run(["apt-get", "update"], self.log, env=_apt_env())
        if res.returncode != 0:
            raise LabSetupError("`apt-get update` failed", hint="check the network and /etc/apt/sources.list")
        self.updated = True

    def install(self, packages: list[str]) -> None:
        self.need_root("installing " + ", ".join(packages))
        self.update()
        res = _run(["apt-get", "install", "-y", "--no-install-recommends", *packages],
                   self.log, env=_apt_env())
        if res.returncode != 0:
            raise LabSetupError("`apt-get install " + " ".join(packages) + "` failed",
                                hint="see apt's message above")


# ---------------------------------------------------------------- kernel

KERNEL_RE = re.compile(r"\blinux-image-(\d[\w.+~-]*)-amd64\b")


def resolve_kernel_package(apt: _Apt) -> str:
    """`linux-image-amd64` -> its one dependency `linux-image-6.1.0-NN-amd64`."""
    for attempt in range(2):
        res = subprocess.run(["apt-cache", "depends", META_PACKAGE], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        for line in res.stdout.splitlines():
            line = line.strip()
            if line.startswith("Depends:"):
                m = KERNEL_RE.search(line)
                if m and m.group(0) != META_PACKAGE:
                    return m.group(0)
        if attempt == 0 and not apt.updated:
            apt.log(f"  apt does not know {META_PACKAGE} yet; running apt-get update")
            apt.update()
    raise LabSetupError(
        f"could not resolve {META_PACKAGE} to a kernel package (`apt-cache depends {META_PACKAGE}` "
        "gave no linux-image-*-amd64)",
        hint="enable the Debian main archive in /etc/apt/sources.list and run apt-get update")


def _decompress(src: Path, dst: Path) -> None:
    name = src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".ko"):
        shutil.copyfile(src, dst)
    elif name.endswith(".ko.xz"):
        dst.write_bytes(lzma.decompress(src.read_bytes()))
    elif name.endswith(".ko.gz"):
        dst.write_bytes(gzip.decompress(src.read_bytes()))
    elif name.endswith(".ko.bz2"):
        dst.write_bytes(bz2.decompress(src.read_bytes()))
    elif name.endswith(".ko.zst"):
        try:
            import zstandard  # type: ignore[import-not-found]
            dst.write_bytes(zstandard.ZstdDecompressor().decompressobj().decompress(src.read_bytes()))
            return
        except ImportError:
            pass
        zstd = shutil.which("zstd")
        if not zstd:
            raise LabSetupError(f"module {name} is zstd-compressed and neither the zstd tool nor "
                                "the python zstandard module is installed",
                                hint="apt-get install -y zstd")
        subprocess.run([zstd, "-q", "-d", "-f", "-o", str(dst), str(src)], check=True)
    else:
        raise LabSetupError(f"unknown module format: {src}")


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The ELF vmlinux inside a bzImage (like the kernel's scripts/extract-vmlinux).

    qemu boots it through its PVH entry point, which skips the in-guest
    decompression: under TCG that halves the boot time."""
    tries: list[tuple[bytes, Callable[[bytes], bytes]]] = [
        (b"\xfd7zXZ\x00", lambda d: lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(d)),
        (b"\x1f\x8b\x08", lambda d: __import__("zlib").decompressobj(31).decompress(d)),
    ]
    zstd = shutil.which("zstd")
    if zstd:
        tries.append((b"\x28\xb5\x2f\xfd", lambda d: subprocess.run(
            [zstd, "-q", "-d", "-c"], input=d, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout))
    for magic, fn in tries:
        pos = bzimage.find(magic)
        while pos != -1:
            try:
                out = fn(bzimage[pos:])
            except Exception:  # noqa: BLE001 - a false magic match; keep looking
                out = b""
            if out[:4] == b"\x7fELF" and _has_pvh_note(out):
                return out
            pos = bzimage.find(magic, pos + 1)
    raise LabSetupError("found no PVH-capable vmlinux (xz/gzip/zstd) inside the kernel image")


def _has_pvh_note(elf: bytes) -> bool:
    """True when a 64-bit little-endian ELF has the Xen note XEN_ELFNOTE_PHYS32_ENTRY (18)."""
    if elf[4:6] != b"\x02\x01":
        return False
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    phnum = int.from_bytes(elf[56:58], "little")
    for i in range(phnum):
        ph = elf[phoff + i * phentsize: phoff + (i + 1) * phentsize]
        if int.from_bytes(ph[0:4], "little") != 4:  # PT_NOTE
            continue
        off = int.from_bytes(ph[8:16], "little")
        end = off + int.from_bytes(ph[32:40], "little")
        while off + 12 <= end:
            namesz, descsz, ntype = (int.from_bytes(elf[off + k:off + k + 4], "little") for k in (0, 4, 8))
            name = elf[off + 12: off + 12 + namesz].rstrip(b"\x00")
            if name == b"Xen" and ntype == 18:
                return True
            off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


MOD_SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst", ".ko.bz2")


def _module_index(moddir: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in moddir.rglob("*.ko*"):
        for suf in MOD_SUFFIXES:
            if path.name.endswith(suf):
                index.setdefault(norm(path.name[: -len(suf)]), path)
                break
    return index


def _builtin(moddir: Path) -> set[str]:
    names: set[str] = set()
    f = moddir / "modules.builtin"
    if f.exists():
        for line in f.read_text().splitlines():
            base = line.strip().rsplit("/", 1)[-1]
            if base.endswith(".ko"):
                names.add(norm(base[:-3]))
    return names


def module_depends(ko: Path) -> list[str]:
    """`modinfo -F depends FILE` (FILE uncompressed), as normalised names."""
    res = subprocess.run([_tool("modinfo"), "-F", "depends", str(ko)], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        raise LabSetupError(f"modinfo failed on {ko}: {res.stderr.strip()}")
    return [norm(x) for x in res.stdout.strip().split(",") if x.strip()]


def load_order(wanted: list[str], optional: list[str], index: dict[str, Path], builtin: set[str],
               depends: Callable[[str], list[str]]) -> tuple[list[str], list[str]]:
    """Dependency-first order of the modules to insmod; returns (order, skipped_optional)."""
    order: list[str] = []
    done: set[str] = set()
    skipped: list[str] = []

    def visit(name: str, stack: tuple[str, ...], required: bool) -> bool:
        if name in done:
            return True
        if name in builtin:
            done.add(name)
            return True
        if name not in index:
            if required:
                raise LabSetupError(
                    f"the kernel package has no module `{name}` (needed by "
                    f"{' -> '.join(stack) or 'the lab'}) and it is not built in")
            return False
        if name in stack:
            raise LabSetupError(f"module dependency cycle: {' -> '.join(stack + (name,))}")
        for dep in depends(name):
            if not visit(dep, stack + (name,), required):
                return False
        done.add(name)
        order.append(name)
        return True

    for name in wanted:
        visit(norm(name), (), True)
    for name in optional:
        if not visit(norm(name), (), False):
            skipped.append(name)
    return order, skipped


@dataclass
class Manifest:
    kernel_package: str
    kernel_version: str
    vmlinuz: str
    module_dir: str
    modules: list[str]                       # insmod order
    skipped_optional: list[str] = field(default_factory=list)
    depends: dict[str, list[str]] = field(default_factory=dict)   # module -> its deps (loaded ones)
    core: list[str] = field(default_factory=list)                  # always loaded at boot
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text())
        return cls(**data)

    def boot_image(self) -> str:
        """The uncompressed vmlinux (PVH entry: no in-guest decompression) when
        setup made one, else the bzImage."""
        vmlinux = os.path.join(os.path.dirname(self.vmlinuz), "vmlinux")
        if os.environ.get("IPVLAN_TUI_LAB_BZIMAGE") != "1" and os.path.isfile(vmlinux):
            return vmlinux
        return self.vmlinuz

    def complete(self) -> bool:
        if self.version != MANIFEST_VERSION or not os.path.isfile(self.vmlinuz):
            return False
        return all(os.path.isfile(os.path.join(self.module_dir, f"{m}.ko")) for m in self.modules)

    def wants(self) -> bool:
        """The manifest was made for the current module lists."""
        have = set(self.modules) | set(self.skipped_optional)
        return all(norm(m) in have for m in REQUIRED_MODULES + OPTIONAL_MODULES)

    def closure(self, names: list[str]) -> set[str]:
        """`names` plus everything they depend on (only modules we have)."""
        out: set[str] = set()
        todo = [norm(n) for n in names]
        while todo:
            n = todo.pop()
            if n in out or n not in self.modules:
                continue
            out.add(n)
            todo.extend(self.depends.get(n, []))
        return out


def manifest_path(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "manifest.json"


def load_manifest(cache: Path | None = None) -> Manifest:
    """The set-up kernel; LabNotSetUp when `lab setup` has not run (or is stale)."""
    path = manifest_path(cache)
    hint = "run `ipvlan-tui lab setup` (as root on a fresh machine: it installs qemu and fetches the kernel)"
    try:
        man = Manifest.load(path)
    except FileNotFoundError:
        raise LabNotSetUp(f"the lab is not set up: {path} does not exist", hint=hint) from None
    except (ValueError, TypeError) as exc:
        raise LabNotSetUp(f"the lab cache is damaged ({path}: {exc})", hint=hint) from None
    if not man.complete():
        raise LabNotSetUp(f"the lab cache at {path.parent} is incomplete", hint=hint)
    return man


def _fetch_kernel(cache: Path, apt: _Apt, log: Log) -> Manifest:
    package = resolve_kernel_package(apt)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        log(f"fetching kernel package {package}")
        with tempfile.TemporaryDirectory(dir=cache, prefix="dl-") as tmp:
            res = _run(["apt-get", "download", "-o", "APT::Sandbox::User=root", package]
                       if os.geteuid() == 0 else ["apt-get", "download", package], log, cwd=Path(tmp))
            got = sorted(Path(tmp).glob(f"{package}_*.deb"))
            if res.returncode != 0 or not got:
                if not apt.updated and os.geteuid() == 0:
                    apt.update()
                    res = _run(["apt-get", "download", "-o", "APT::Sandbox::User=root", package],
                               log, cwd=Path(tmp))
                    got = sorted(Path(tmp).glob(f"{package}_*.deb"))
                if res.returncode != 0 or not got:
                    raise LabSetupError(f"`apt-get download {package}` failed",
                                        hint="check the network; as root run `apt-get update` first")
            for old in cache.glob("linux-image-*.deb"):
                old.unlink()
            target = cache / got[0].name
            shutil.move(str(got[0]), target)
            debs = [target]
    else:
        log(f"kernel package already downloaded: {debs[-1].name}")
    deb = debs[-1]

    log(f"extracting {deb.name}")
    with tempfile.TemporaryDirectory(dir=cache, prefix="x-") as tmp:
        res = _run(["dpkg-deb", "-x", str(deb), tmp], log)
        if res.returncode != 0:
            deb.unlink(missing_ok=True)
            raise LabSetupError(f"`dpkg-deb -x {deb}` failed (the download may be damaged; deleted it)",
                                hint="run `lab setup` again")
        root = Path(tmp)
        vmlinuzes = sorted((root / "boot").glob("vmlinuz-*"))
        moddirs = sorted(p for p in (root / "lib" / "modules").glob("*") if p.is_dir()) \
            if (root / "lib" / "modules").is_dir() else []
        if not moddirs and (root / "usr" / "lib" / "modules").is_dir():
            moddirs = sorted(p for p in (root / "usr" / "lib" / "modules").glob("*") if p.is_dir())
        if not vmlinuzes or not moddirs:
            raise LabSetupError(f"{deb.name} holds no boot/vmlinuz-* or lib/modules/<version>")
        moddir = moddirs[-1]
        kver = moddir.name
        index = _module_index(moddir)
        builtin = _builtin(moddir)

        kdir = cache / "kernel" / kver
        if kdir.exists():
            shutil.rmtree(kdir)
        outmods = kdir / "modules"
        outmods.mkdir(parents=True)
        decompressed: dict[str, Path] = {}

        def plain(name: str) -> Path:
            if name not in decompressed:
                dst = outmods / f"{name}.ko"
                _decompress(index[name], dst)
                decompressed[name] = dst
            return decompressed[name]

        deps: dict[str, list[str]] = {}

        def dep_of(name: str) -> list[str]:
            deps[name] = [d for d in module_depends(plain(name)) if d not in builtin]
            return deps[name]

        order, skipped = load_order(REQUIRED_MODULES, OPTIONAL_MODULES, index, builtin, dep_of)
        core, _ = load_order(REQUIRED_MODULES, [], index, builtin, lambda n: deps[n])
        # drop files decompressed for a failed optional branch
        for name, path in decompressed.items():
            if name not in order:
                path.unlink(missing_ok=True)
        shutil.copyfile(vmlinuzes[-1], kdir / "vmlinuz")
        try:
            (kdir / "vmlinux").write_bytes(extract_vmlinux(vmlinuzes[-1].read_bytes()))
        except LabSetupError as exc:
            log(f"  (no uncompressed vmlinux, booting the bzImage: {exc})")
        config = root / "boot" / f"config-{kver}"
        if config.exists():
            shutil.copyfile(config, kdir / "config")
    log(f"kernel {kver}: {len(order)} modules in load order"
        + (f" (not in this kernel, skipped: {', '.join(skipped)})" if skipped else ""))
    return Manifest(kernel_package=package, kernel_version=kver, vmlinuz=str(kdir / "vmlinuz"),
                    module_dir=str(outmods), modules=order, skipped_optional=skipped,
                    depends={n: deps.get(n, []) for n in order}, core=core)


def setup(log: Log = _log_stderr, *, cache: Path | None = None) -> bool:
    """Install the host tools and fetch the kernel. Returns True when it did something.

    Idempotent: a second run finds everything in place and changes nothing.
    """
    cache = cache or cache_dir()
    did = False
    missing = missing_host_packages()
    try:
        man: Manifest | None = load_manifest(cache)
    except LabNotSetUp:
        man = None
    if man is not None and not man.wants():
        log("the lab cache was made for another module list; rebuilding it")
        man = None
    if not missing and man is not None:
        return False

    _check_debian()
    apt = _Apt(log)
    if missing:
        log("installing host packages: " + " ".join(missing))
        apt.install(missing)
        still = missing_host_packages()
        if still:
            raise LabSetupError("still missing after apt-get install: " + " ".join(still),
                                hint="install them by hand")
        did = True
    if man is None:
        cache.mkdir(parents=True, exist_ok=True)
        man = _fetch_kernel(cache, apt, log)
        tmp = manifest_path(cache).with_suffix(".tmp")
        tmp.write_text(man.to_json())
        tmp.replace(manifest_path(cache))
        did = True
    # remove kernel dirs of older versions
    for old in (cache / "kernel").glob("*"):
        if old.is_dir() and old.name != man.kernel_version:
            shutil.rmtree(old, ignore_errors=True)
    if did:
        from ipvlan_tui.lab import initramfs  # late: initramfs imports this module
        initramfs.ensure(man)
        _give_back(cache)
    return did
