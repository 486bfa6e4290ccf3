"""Soak: many concurrent sessions through every adapter, random barge-ins and faults.

The soak itself lives in ``tests/support/soak.py`` (its docstring says what it checks), so
that ``tests/reliability/test_soak.py`` runs its short form with the same code. This runs
the long form: ``uv run --no-sync python bench/soak.py [--sessions 50] [--utterances 200]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ is first on the path when run as a script, and bench/livekit.py would shadow the
# livekit package: put the repository root there instead (the soak lives in tests/).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tests.support.soak import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
