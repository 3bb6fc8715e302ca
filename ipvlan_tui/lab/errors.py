"""Errors of the kernel lab (the throwaway qemu VM).

Every error carries a message saying what went wrong and, where there is
one, how to fix it. `exit_code` is what `ipvlan-tui lab ...` exits with.
"""

from __future__ import annotations

from ipvlan_tui.errors import IpvlanTuiError

EXIT_LAB_ERROR = 125      # the lab itself failed (not set up, boot failure, ...)
EXIT_QEMU_MISSING = 127   # qemu-system-x86_64 is not installed
EXIT_TIMEOUT = 124        # like timeout(1)
EXIT_KERNEL_PANIC = 126   # the guest kernel panicked


class LabError(IpvlanTuiError):
    """The lab could not do its job. `hint` says how to fix it."""

    exit_code = EXIT_LAB_ERROR

    def __init__(self, message: str, hint: str = "", details: str = "") -> None:
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text

    def full_text(self) -> str:
        """The message plus any details (console tail, qemu output)."""
        if self.details:
            return f"{self}\n{self.details.rstrip()}"
        return str(self)


class LabNotSetUp(LabError):
    """The kernel or initramfs pieces are not in the cache yet."""


class LabSetupError(LabError):
    """`lab setup` could not get a piece (not Debian, not root, apt failed...)."""


class QemuMissing(LabError):
    exit_code = EXIT_QEMU_MISSING


class LabTimeout(LabError):
    exit_code = EXIT_TIMEOUT


class KernelPanic(LabError):
    exit_code = EXIT_KERNEL_PANIC


class LabBootError(LabError):
    """The VM started but never ran the command (init failure, qemu error)."""
