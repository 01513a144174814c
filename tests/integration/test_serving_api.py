"""What a client of `serve-llm` and `serve-rm` meets: the official `openai` client against our
OpenAI-compatible server over the real embedded model (streaming, unknown model names), the
reward model's `POST /score` with well-formed and malformed bodies, and Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from arm_exp.llm.http_server import serve
from tests.conftest import ROOT
from tests.integration.interrupt import start

CHAT = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def llm_server(smollm2):
    httpd = serve(smollm2, "arm-exp-llm", port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_streaming_gives_the_same_text_as_a_plain_request(llm_server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=llm_server, api_key="none")
    args = {"model": "arm-exp-llm", "max_tokens": 8, "temperature": 0.0}
    plain = client.chat.completions.create(messages=CHAT, **args).choices[0]
    chunks = list(client.chat.completions.create(messages=CHAT, stream=True, **args))
    assert chunks, "stream=True returned no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == plain.message.content and text
    assert chunks[-1].choices[0].finish_reason == plain.finish_reason
    completion = client.completions.create(prompt="One, two,", stream=True, **args)
    streamed = "".join(c.choices[0].text for c in completion)
    assert streamed == client.completions.create(prompt="One, two,", **args).choices[0].text


def test_an_unknown_model_is_refused_as_openai_does(llm_server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=llm_server, api_key="none", max_retries=0)
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=CHAT, max_tokens=4)
    assert e.value.body["code"] == "model_not_found"
    assert "`gpt-4o` does not exist" in e.value.body["message"]
    assert "arm-exp-llm" in e.value.body["message"]  # what it does serve


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_score_takes_the_documented_body_and_names_what_is_malformed(tiny_rm_ckpt):
    from arm_exp.reward.scorer import RewardScorer
    from arm_exp.stages.serve_rm import serve as serve_rm
    from arm_exp.types import Step, Trajectory

    scorer = RewardScorer.from_checkpoint(tiny_rm_ckpt)
    httpd = serve_rm(scorer, port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/score"
    steps = [{"action": "4 + 4 = 8 (left: 6 8 8)", "observation": "ok"},
             {"action": "Answer: (4 + 4) * 6 / 2 = 24", "observation": "Correct"}]  # fmt: skip
    try:
        # The README's minimal body: intents and each trajectory's steps.
        status, out = _post(url, json.dumps({"intents": ["Use 4 4 6 8 to obtain 24."],
                                             "trajectories": [{"steps": steps}]}).encode())  # fmt: skip
        assert status == 200
        traj = Trajectory("x", "game24", "t", "Use 4 4 6 8 to obtain 24.", "",
                          [Step(**s) for s in steps])  # fmt: skip
        assert out["scores"] == pytest.approx(scorer.score([traj.intent], [traj]), abs=1e-5)
        bad = {
            b"[1, 2]": "the body must be a JSON object",
            b'{"intents": ["x"]}': 'equal-length lists "intents"',
            b'{"intents": ["x"], "trajectories": ["no"]}': "trajectories[0] must be an object",
            b'{"intents": ["x"], "trajectories": [{"stepz": []}]}':
                "trajectories[0]: unknown field 'stepz'",
            b'{"intents": ["x"], "trajectories": [{"steps": [{"action": "a"}]}]}':
                "trajectories[0].steps[0]: missing 'observation'",
            b'{"intents": [3], "trajectories": [{"steps": []}]}': "intents[0] must be a string",
        }  # fmt: skip
        for body, message in bad.items():
            status, out = _post(url, body)
            assert status == 400, body
            text = out["error"]["message"]
            assert message in text, (body, text)
            assert "Error" not in text and "__init__" not in text  # no Python exception text
    finally:
        httpd.shutdown()


def test_ctrl_c_stops_serve_rm_with_one_line(tiny_rm_ckpt, tmp_path):
    proc = start(
        ["arm_exp.stages.serve_rm", f"rm_ckpt={tiny_rm_ckpt}", "serve.port=0",
         f"hydra.run.dir={tmp_path}", f"paths.root_dir={ROOT}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "/score (Ctrl-C to stop)" in line, line + proc.stderr.read()[-2000:]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "arm-exp serve-rm: stopped", err[-2000:]
    assert "Traceback" not in err
