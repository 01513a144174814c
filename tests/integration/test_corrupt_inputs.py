"""Empty inputs are one clear error naming the file, never a trace from inside a library."""

from __future__ import annotations

import pytest

from arm_exp.errors import ArtifactError, ConfigError
from arm_exp.stages import synthesize, train
from tests.conftest import run_stage


def test_empty_trajectories_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "trajectories.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"trajectories\.jsonl is empty"):
        run_stage(synthesize, "synthesize", [f"input_dir={tmp_path / 'in'}"], tmp_path / "out")


def test_empty_triplets_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "triplets.jsonl").write_text("")
    with pytest.raises((ConfigError, ArtifactError), match=r"triplets\.jsonl"):
        run_stage(train, "train", [f"input_dir={tmp_path / 'in'}"], tmp_path / "out")
