"""Reading our own source in tests (import rules, hygiene checks)."""

from __future__ import annotations

import ast
import gc

__all__ = ["parse"]


def parse(source: str) -> ast.Module:
    """``ast.parse`` with the cyclic GC paused: on CPython 3.11 (seen on 3.11.7), a
    collection that runs Python code mid-parse (an earlier test's leaked asyncio Task
    logging "exception was never retrieved") can make the parse raise ``SystemError: AST
    constructor recursion depth mismatch`` (cf. python/cpython#106905), in whichever test
    parses next. Every test that parses source goes through here."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()
