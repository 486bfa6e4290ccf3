"""The plugin's logger, named like every LiveKit plugin's (``livekit.plugins.<name>``)."""

from __future__ import annotations

import logging

logger = logging.getLogger("livekit.plugins.smallest")
