"""Generated: only ``vocabulary`` (the action table) is copied from ``cafetalk_core.controls``."""
