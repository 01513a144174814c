import json

from arm_exp.types import Candidate, Episode, Step, Trajectory, Triplet, to_dict, to_json


def _traj(i: str = "t#0") -> Trajectory:
    return Trajectory(
        id=i,
        benchmark="game24",
        task_id="900",
        intent="Use 4 5 6 10 to obtain 24.",
        initial_observation="Input: 4 5 6 10",
        steps=[
            Step(
                "4 * 5 = 20 (left: 6 10 20)",
                "Remaining numbers: 6 10 20",
                0.0,
                False,
                "",
                {"left": ["6"]},
            ),
            Step(
                "Answer: x",
                "Wrong",
                0.125,
                True,
                "thought ü",
                {"score": 0.125, "nested": {"a": [1, 2]}},
            ),
        ],
        score=0.125,
        success=False,
        meta={"seed": 123456789012345, "rejected": [{"step": 0, "action": "x"}]},
    )


def test_trajectory_round_trip_is_lossless():
    t = _traj()
    assert Trajectory.from_dict(json.loads(to_json(t))) == t
    assert to_dict(Trajectory.from_dict(to_dict(t))) == to_dict(t)


def test_triplet_and_episode_round_trip():
    tr = Triplet(
        "p",
        "game24",
        "Use 4 5 6 10 to obtain 17.",
        _traj("a"),
        _traj("b"),
        {"kind": "wrong_arithmetic"},
    )
    assert Triplet.from_dict(json.loads(to_json(tr))) == tr
    ep = Episode(
        id="900",
        benchmark="game24",
        split="test",
        task_id="900",
        planner="best_of_n",
        policy="llm",
        scorer="rm",
        trajectory=_traj(),
        score=1.0,
        success=True,
        scorer_score=0.3,
        candidates=[Candidate(0.3, 1.0, True, 4), Candidate(None, 0.0, False, 2)],
        counters={"llm_calls": 1.0},
        wall_s=1.5,
    )
    back = Episode.from_dict(json.loads(to_json(ep)))
    assert back == ep and isinstance(back.candidates[0], Candidate)


def test_json_line_has_no_newline():
    t = _traj()
    t.steps[0].observation = "line1\nline2"
    assert "\n" not in to_json(t)
    assert Trajectory.from_dict(json.loads(to_json(t))).steps[0].observation == "line1\nline2"
