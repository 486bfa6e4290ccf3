"""The package logger: Pipecat logs with loguru, so this adapter does too.

Records carry ``extra["name"] == "pipecat_smallest"`` so an application can filter them.
The core (``smallest_core``) logs through the standard library under ``smallest_core``;
its socket lifecycle lines (connect, idle close, transparent retry) are INFO/WARNING there.
"""

from loguru import logger as _loguru

logger = _loguru.bind(name="pipecat_smallest")

__all__ = ["logger"]
