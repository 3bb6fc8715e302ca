"""`lab shell` on a pseudo-terminal: size and TERM reach the guest, exit code comes back,
the VM powers off cleanly (no panic)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

from ipvlan_tui.lab import vm

pytestmark = pytest.mark.skipif(vm.in_lab(), reason="the lab VM cannot start itself (no nested lab)")

ROOT = Path(__file__).resolve().parents[2]


def test_shell_on_a_pty(lab_ready):
    env = dict(os.environ, TERM="xterm-256color", SHELL="/bin/sh")  # dash: no slow rc files
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI, on the pty
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "ipvlan_tui.lab", "shell"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    buf = bytearray()

    def read_until(pattern: bytes, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return False
                if not data:
                    return False
                buf.extend(data)
                if re.search(pattern, bytes(buf)):
                    return True
        return False

    try:
        assert read_until(rb"# $", 240), bytes(buf)[-2000:]
        os.write(fd, b"echo MARK$((6*7)) $TERM $IPVLAN_TUI_IN_LAB; stty size; pwd\r")
        assert read_until(rb"\n33 111\r*\n", 60), bytes(buf)[-2000:]
        os.write(fd, b"exit 3\r")
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            read_until(rb"(?!)", 0.5)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        assert status is not None and done, "lab shell did not exit after the shell exited"
        pid = 0
        read_until(rb"(?!)", 1)
        text = bytes(buf).decode(errors="replace")
        assert os.waitstatus_to_exitcode(status) == 3, text[-2000:]
        assert "MARK42 xterm-256color 1" in text
        assert f"\n{ROOT}\r" in text
        assert "Kernel panic" not in text
    finally:
        if pid:
            os.kill(pid, 15)  # the CLI we started: it kills its qemu and cleans up
            os.waitpid(pid, 0)
        os.close(fd)
