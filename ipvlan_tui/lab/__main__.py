import sys

from ipvlan_tui.lab.cli import main

raise SystemExit(main(sys.argv[1:]))
