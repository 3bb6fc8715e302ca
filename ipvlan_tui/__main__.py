from ipvlan_tui.cli import main

raise SystemExit(main())
