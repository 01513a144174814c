"""The errors a user fixes, and the exit status each gives an ``arm-exp`` command.

Every error a stage reports as one line (no traceback) derives from :class:`ArmExpError`; its
class says what the user has to fix and with which exit status the command ends:

- exit 0: the stage completed (or was complete already);
- exit 1: a stage could not finish: :class:`ArtifactError` (an input or output file: missing,
  corrupt, made elsewhere), :class:`LLMError` (an LLM backend or server retries cannot fix),
  :class:`StageFailed` (a stage that ``arm-exp pipeline`` ran failed; its log says why; exit 2
  when the stage exited 2);
- exit 2: what the command was given is wrong: :class:`ConfigError` (a config value, from the
  command line, an experiment or any group file), :class:`DataError` (a benchmark's data files:
  not set, missing, not in their format), and a config Hydra cannot compose (unknown key,
  wrong type);
- exit 130 / 143: stopped by Ctrl-C / SIGTERM (an interrupted stage resumes).

Domain errors derive from these bases where they are raised (``UnknownSplitError`` is a
:class:`ConfigError`, ``WebShopDataError`` a :class:`DataError`, ``JsonlError`` an
:class:`ArtifactError`); anything else that escapes a stage is a bug, and its traceback is shown.
"""

from __future__ import annotations


class ArmExpError(Exception):
    """An error the user can fix from its one-line message; ``exit_code`` ends the command."""

    exit_code = 1


class ConfigError(ArmExpError, ValueError):
    """A config value is missing or wrong; the message names the key (and where it was set)."""

    exit_code = 2


class ArtifactError(ArmExpError, RuntimeError):
    """A missing, corrupt or incompatible artifact; the message names the file and line."""


class DataError(ArmExpError, ValueError):
    """A benchmark's data files are not set, missing or not in their format; the message names
    the file and record (and the key that points to them)."""

    exit_code = 2


class LLMError(ArmExpError, RuntimeError):
    """A backend failed in a way retries cannot fix; the message names the model or endpoint."""


class StageFailed(ArmExpError, RuntimeError):
    """A stage that ``pipeline`` ran failed; the message names its log and its command."""


# Hydra's and OmegaConf's own errors (a config that does not compose): exit status 2.
CONFIG_EXIT = 2
# Exit statuses of a stage stopped by a signal: 128 + the signal's number.
SIGINT_EXIT = 130
