"""Lab pieces that need no VM: module order, initramfs archive, env, run script."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

from ipvlan_tui.lab import initramfs, provision, vm
from ipvlan_tui.lab.errors import LabSetupError


def test_load_order_puts_dependencies_first_and_skips_missing_optional():
    deps = {"9p": ["9pnet", "fscache", "netfs"], "fscache": ["netfs"], "9pnet": [], "netfs": [],
            "ipvlan": [], "virtio_net": ["net_failover"], "net_failover": ["failover"], "failover": [],
            "macvtap": ["tap"]}
    index = {n: None for n in deps if n != "tap"}  # only membership matters
    order, skipped = provision.load_order(["9p", "ipvlan", "ipv6"], ["virtio_net", "nope", "macvtap"], index,
                                          {"ipv6"}, lambda n: deps[n])
    assert order.index("netfs") < order.index("fscache") < order.index("9p")
    assert order.index("9pnet") < order.index("9p")
    assert order[-3:] == ["failover", "net_failover", "virtio_net"]
    assert "ipv6" not in order and skipped == ["nope", "macvtap"]  # macvtap: its dep `tap` is missing


def test_load_order_fails_clearly_on_missing_required_module():
    with pytest.raises(LabSetupError, match="no module `dummy`"):
        provision.load_order(["dummy"], [], {}, set(), lambda n: [])


def test_module_names_normalise_dashes():
    assert provision.norm("nf-conntrack") == "nf_conntrack"


def test_static_busybox_detection():
    assert not provision.is_static_elf(sys.executable)  # python is dynamically linked
    bb = provision.find_static_busybox()
    if bb is not None:
        assert provision.is_static_elf(bb)


def test_initramfs_archive_lists_with_cpio(tmp_path):
    if not shutil.which("cpio"):
        pytest.fail("cpio is not installed (run `python -m ipvlan_tui.lab setup`)")
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "dummy.ko").write_bytes(b"\x7fELF-not-really")
    (tmp_path / "bb").write_bytes(b"busybox-bytes")
    man = provision.Manifest("linux-image-x", "6.1.0-x", str(tmp_path / "vmlinuz"), str(tmp_path / "mods"),
                             ["dummy"], core=["dummy"])
    data = initramfs.build(man, str(tmp_path / "bb"))
    assert len(data) % 512 == 0
    res = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True, check=True)
    names = res.stdout.decode().split()
    for want in ("init", "bin/busybox", "lib/modules/dummy.ko", "modules.order", "dev/console"):
        assert want in names
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-i", "--quiet", "--no-absolute-filenames"], input=data, cwd=out,
                   check=True, capture_output=True)
    assert (out / "modules.order").read_text() == "dummy core\n"
    assert (out / "init").read_text().startswith("#!/bin/busybox sh")


def test_guest_env_passes_essentials_only():
    env = vm.guest_env({"EXTRA": "1"}, base={"PATH": "/x", "VIRTUAL_ENV": "/v", "SECRET_TOKEN": "no",
                                             "PYTHONPATH": "/p", "HOME": "/h", "LC_ALL": "C"})
    assert env == {"PATH": "/x", "VIRTUAL_ENV": "/v", "PYTHONPATH": "/p", "HOME": "/h", "LC_ALL": "C",
                   "EXTRA": "1", "IPVLAN_TUI_IN_LAB": "1"}


def test_run_script_quotes_everything():
    text = vm._run_script(["printf", "%s\\n", "a b", "$(x)", "'q'"], {"V": "x y", "bad-name": "z"}, "/w d")
    assert "export V='x y'" in text and "bad-name" not in text
    assert "cd '/w d' || exit 125" in text
    last = text.strip().splitlines()[-1]
    assert shlex.split(last) == ["exec", "printf", "%s\\n", "a b", "$(x)", "'q'"]


def test_qemu_argv_has_no_outside_nic(tmp_path, monkeypatch):
    monkeypatch.setenv("IPVLAN_TUI_LAB_ACCEL", "tcg")
    man = provision.Manifest("p", "k", "/vmlinuz", "/mods", [])
    argv = vm.qemu_argv("qemu", man, tmp_path / "i", tmp_path, memory_mb=1024, cpus=2, mode="exec",
                        console_log=tmp_path / "c", stdout_sock=tmp_path / "o", stderr_sock=tmp_path / "e")
    assert argv[argv.index("-nic") + 1] == "none" and "-nodefaults" in argv
    assert not any(a.startswith(("user", "tap")) for a in argv)
    assert argv[argv.index("-m") + 1] == "1024"
    assert argv[argv.index("-accel") + 1].startswith("tcg")


def test_strip_signature():
    body = b"\x7fELF module body"
    sig = b"S" * 20
    info = bytes([0, 0, 2, 0, 0, 0, 0, 0]) + len(sig).to_bytes(4, "big")  # struct module_signature
    assert initramfs.strip_signature(body + sig + info + initramfs.SIG_MAGIC) == body
    assert initramfs.strip_signature(body) == body


def test_closure_and_extra_modules():
    man = provision.Manifest("p", "k", "/v", "/m", ["tap", "macvlan", "macvtap", "dummy"],
                             depends={"macvtap": ["macvlan", "tap"], "tap": [], "macvlan": [], "dummy": []},
                             core=["macvlan", "dummy"])
    assert man.closure(["macvtap"]) == {"macvtap", "macvlan", "tap"}
    assert vm.extra_modules(man, ["macvtap"]) == ["macvtap", "tap"]
    assert vm.extra_modules(man, ["all"]) == ["tap", "macvtap"]


def test_setup_without_root_says_how(monkeypatch, tmp_path):
    monkeypatch.setattr(provision, "missing_host_packages", lambda: ["qemu-system-x86", "busybox-static"])
    monkeypatch.setattr(provision, "_check_debian", lambda: None)
    monkeypatch.setattr(provision.os, "geteuid", lambda: 1000)
    with pytest.raises(LabSetupError) as err:
        provision.setup(lambda _: None, cache=tmp_path)
    text = str(err.value)
    assert "qemu-system-x86, busybox-static" in text and "needs root" in text and "sudo" in text


def test_setup_off_debian_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(provision, "missing_host_packages", lambda: ["qemu-system-x86"])
    real_which = shutil.which
    monkeypatch.setattr(provision.shutil, "which", lambda n: None if n in ("apt-get", "apt-cache", "dpkg-deb")
                        else real_which(n))
    monkeypatch.setattr(provision.platform, "machine", lambda: "x86_64")
    with pytest.raises(LabSetupError, match="not Debian/Ubuntu") as err:
        provision.setup(lambda _: None, cache=tmp_path)
    assert "qemu-system-x86_64" in str(err.value)


def test_kernel_package_name_is_resolved_exactly():
    m = provision.KERNEL_RE.search("  Depends: linux-image-6.1.0-56-amd64")
    assert m and m.group(0) == "linux-image-6.1.0-56-amd64"
    assert provision.KERNEL_RE.search("Depends: linux-image-amd64") is None
