"""arm-exp: automatic reward modeling and planning for LLM agents (ARMAP), as a framework."""

import os
import sys

# OpenMP threads that finish a parallel region spin-wait for the next one by default. When the
# CPU is oversubscribed (a shared box, two stages or test workers at once) the spinning threads
# take the cores from the ones doing work: the embedded LLM fell from ~10 to ~1 token/s in
# `plan` (issue 19). Sleeping waiters cost little when the CPU is free. Set before torch loads
# its OpenMP runtime; a value the user exported wins.
#: True when torch's OpenMP runtime was loaded before this package could set the policy (a
#: script that imports torch first): its threads spin, and the embedded LLM says so on load.
OMP_SPINNING = "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
