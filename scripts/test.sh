#!/usr/bin/env bash
# The whole test suite from nothing, on a fresh Debian machine (as root):
# installs the Python package with its test extra, sets up the kernel lab
# (qemu, busybox, a Debian kernel with ipvlan/8021q/dummy), then runs pytest.
# Kernel- and Docker-marked tests run inside the lab VM (booted once) unless
# the host kernel has the drivers. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]' || exit 1
python3 -m ipvlan_tui lab setup || exit 1
python3 -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$rc"
