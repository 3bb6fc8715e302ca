"""ipvlan-tui: a terminal console for Linux ipvlan networking."""

__version__ = "0.1.0"
