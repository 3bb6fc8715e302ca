"""The widgets of the main screen: resource tables, the detail area, the log."""
