from arm_exp.reward.render import Renderer
from arm_exp.types import Step, Trajectory


def _traj():
    return Trajectory(
        "t",
        "scienceworld",
        "boil/1",
        "Boil water.",
        "You are in the kitchen.",
        [
            Step("open door", "The door is open.", thought="I need to get out."),
            Step("go to hallway", "You are in the hallway."),
            Step("focus on water", "Task completed! Score 100.", done=True),
        ],
    )


def test_render_turns_and_hides_terminal_verdict():
    head, tail = Renderer().render("Boil water.", _traj())
    assert head == "User: Boil water.\nYou are in the kitchen."
    assert "Agent: Thought: I need to get out.\nAction: open door" in tail
    assert (
        "Observation: The door is open." in tail and "Observation: You are in the hallway." in tail
    )
    assert "Task completed" not in tail
    assert tail.endswith("Answer yes or no.")


def test_render_without_observations_or_thoughts():
    head, tail = Renderer(observations=False, thoughts=False).render("Boil water.", _traj())
    assert "Observation" not in tail and "Thought" not in tail
    assert tail.splitlines()[:3] == [
        "Agent: open door",
        "Agent: go to hallway",
        "Agent: focus on water",
    ]


def test_intent_is_the_given_one_not_the_trajectorys():
    head, _ = Renderer().render("Make tea.", _traj())
    assert head.startswith("User: Make tea.")
