"""The pack's modules import each other by top-level name, as the Pulumi CLI runs them (the pack's
folder first on sys.path); the tests import them the same way, so each module has one name."""

from __future__ import annotations

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))
