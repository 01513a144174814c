"""The embedded SmolLM2 really generates, batched, with the protocol's semantics."""

from __future__ import annotations

CHAT = [{"role": "user", "content": "List three colors, one per line."}]


def test_greedy_is_deterministic_and_counts_tokens(smollm2):
    a = smollm2.generate([CHAT, "The capital of France is"], temperature=0, max_tokens=12)
    b = smollm2.generate([CHAT, "The capital of France is"], temperature=0, max_tokens=12)
    assert [g.texts for g in a] == [g.texts for g in b]
    for g in a:
        assert len(g.texts) == 1 and g.texts[0].strip()
        assert g.prompt_tokens > 0 and 0 < g.completion_tokens[0] <= 12
    c = smollm2.counters()
    assert c["llm_calls"] >= 2 and c["completion_tokens"] > 0


def test_sampling_n_and_seed(smollm2):
    g1 = smollm2.generate([CHAT], n=4, temperature=1.0, max_tokens=10, seed=7)[0]
    g2 = smollm2.generate([CHAT], n=4, temperature=1.0, max_tokens=10, seed=7)[0]
    assert len(g1.texts) == 4 and g1.texts == g2.texts
    assert len(set(g1.texts)) > 1  # 4 samples at T=1 are not all identical


def test_stop_strings_are_cut(smollm2):
    g = smollm2.generate([CHAT], temperature=0, max_tokens=30, stop=["\n"])[0]
    assert "\n" not in g.texts[0]
    full = smollm2.generate([CHAT], temperature=0, max_tokens=30)[0].texts[0]
    assert full.startswith(g.texts[0])


def test_shared_prefill_gives_the_same_tokens(smollm2):
    """n samples of a prompt reuse one prefill: the KV cache of a left-padded batch, repeated
    per sample, yields the same next tokens as running every copy through the model."""
    import torch

    model, tok = smollm2._load()
    texts = [smollm2.render(CHAT), "The capital of France is"]  # different lengths: padding
    kw = {"max_new_tokens": 8, "pad_token_id": tok.pad_token_id, "do_sample": False}
    with torch.inference_mode():
        shared = smollm2._generate_rows(model, tok, texts, [2, 3], kw)
        plain = smollm2._generate_rows(model, tok, texts, [1, 1], kw)
    assert shared == [plain[0]] * 2 + [plain[1]] * 3


def test_many_samples_of_long_prompts_share_prefill(smollm2):
    prompts = [CHAT, [{"role": "user", "content": "Name two animals."}]]
    assert smollm2.share_prefill and smollm2.batch_size < 20  # samples split over micro-batches
    a = smollm2.generate(prompts, n=20, temperature=1.0, max_tokens=6, seed=3)
    b = smollm2.generate(prompts, n=20, temperature=1.0, max_tokens=6, seed=3)
    assert [len(g.texts) for g in a] == [20, 20] and [g.texts for g in a] == [g.texts for g in b]
    assert all(len(g.completion_tokens) == 20 for g in a)


def test_concurrent_calls_are_merged_into_shared_batches(smollm2):
    import threading

    before = smollm2.counters()
    barrier = threading.Barrier(4)
    out: dict[int, list] = {}

    def call(k: int) -> None:
        barrier.wait()  # four tasks call at the same time
        prompt = [{"role": "user", "content": f"Name {k + 2} colors."}]
        out[k] = smollm2.generate([prompt], n=2, temperature=1.0, max_tokens=6, seed=k)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = smollm2.counters()
    assert after["llm_calls"] - before["llm_calls"] == 4
    assert after["llm_batches"] - before["llm_batches"] < 4  # some calls shared a batch
    assert all(len(g[0].texts) == 2 and len(g[0].completion_tokens) == 2 for g in out.values())


def test_row_sampler_draws_do_not_depend_on_batch_neighbours():
    """Each row samples with its own generator: a row's draws are the same alone or in a batch
    (the property that lets concurrent calls share a batch without changing their samples)."""
    import torch

    from arm_exp.llm.hf_local import _RowSampler

    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    alone = _RowSampler([11], temperature=1.0, top_p=0.9)
    batched = _RowSampler([5, 11, 7], temperature=1.0, top_p=0.9)
    for _ in range(20):
        solo = alone(None, logits[1:2]).argmax(-1)
        rows = batched(None, logits).argmax(-1)
        assert rows[1] == solo[0]
        kept = torch.softmax(logits[1], -1).sort(descending=True)
        assert solo[0] in kept.indices[: int((kept.values.cumsum(0) < 0.9).sum()) + 1]


def test_merged_calls_with_different_n_get_their_own_samples(smollm2):
    """Two calls with the same sampling settings but different ``n`` share the worker's run:
    each gets its own number of samples, the ones it gets when it runs alone."""
    from arm_exp.llm.base import Sampling
    from arm_exp.llm.hf_local import _Call

    text = smollm2.render(CHAT)

    def call(n: int, seed: int) -> _Call:
        return _Call([text], Sampling(n, 1.0, 1.0, 5, None, seed), seed)

    (_, two), (_, three) = smollm2._run_calls([call(2, 1), call(3, 2)])
    assert [len(two[0]), len(three[0])] == [2, 3]
    assert two == smollm2._run_calls([call(2, 1)])[0][1]
    assert three == smollm2._run_calls([call(3, 2)])[0][1]
