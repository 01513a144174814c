"""The policies: an LLM with an agent, uniform random over valid actions, and explorers that
take turns by run."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from arm_exp.agents.base import Agent, AgentContext, Proposal, reflection_prompt
from arm_exp.llm.base import LLM, USAGE_KEYS, Generation, Prompt, backend_counters, usage
from arm_exp.rollout import derive_seed
from arm_exp.tally import charge
from arm_exp.types import Trajectory


class RandomPolicy:
    """Uniform over ``valid_actions()``: the paper's random navigation, and a CPU baseline.

    Returns ``n`` proposals per context: distinct actions while there are enough, then repeats.
    A context without valid actions gets empty proposals.

    Args:
        exclude: regular expressions; matching actions are never drawn (ScienceWorld's
            ``focus on`` ends an episode at -100 when it picks the wrong object). If every valid
            action is excluded, the unfiltered list is used rather than stalling.
    """

    def __init__(self, exclude: list[str] | None = None) -> None:
        self._exclude = [re.compile(p) for p in (exclude or [])]
        self._lock = threading.Lock()
        self._counters = {"policy_calls": 0, "proposals": 0}

    def _allowed(self, actions: list[str]) -> list[str]:
        if not self._exclude:
            return actions
        kept = [a for a in actions if not any(p.search(a) for p in self._exclude)]
        return kept or actions

    def propose(
        self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None
    ) -> list[list[Proposal]]:
        with self._lock:
            self._counters["policy_calls"] += 1
            self._counters["proposals"] += n * len(contexts)
        charge(policy_calls=1, proposals=n * len(contexts))
        out = []
        for ctx in contexts:
            actions = self._allowed(ctx.valid_actions())
            if not actions:
                out.append([Proposal([]) for _ in range(n)])
                continue
            picks = ctx.rng.sample(actions, min(n, len(actions)))
            picks += [ctx.rng.choice(actions) for _ in range(n - len(picks))]
            out.append([Proposal([a], text=a) for a in picks])
        return out

    def propose_steps(
        self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None
    ) -> list[list[Proposal]]:
        """MCTS's ``propose`` expansion: for a random policy, ``n`` distinct valid actions."""
        return self.propose(contexts, n, temperature)

    def counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counters)

    def close(self) -> None:
        pass


class LLMPolicy:
    """An LLM prompted by a benchmark agent; one batched ``generate`` per ``propose`` call.

    When every context renders to the same prompt (the first step of Best-of-N, an MCTS
    expansion), it asks for ``n * len(contexts)`` samples of that one prompt, which vLLM serves
    from one prefix.

    Args:
        llm: any backend of the LLM protocol.
        agent: the benchmark's prompt builder and parser.
        temperature / top_p: sampling defaults (planners override temperature).
        max_tokens: per generation; None takes the agent's.
        seed: base seed (None: unseeded sampling). Each call's seed is derived from it and from
            the next draw of each context's own random stream, so it depends only on the
            episode's history: the same whatever other episodes run before or beside it.

    The LLM may be shared with other roles (the policy-judge scorer): :meth:`counters` are this
    policy's own usage plus the backend's counters (requests, latency), and every call is
    charged to the calling task's tally (:mod:`arm_exp.tally`).
    """

    def __init__(
        self,
        llm: LLM,
        agent: Agent,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = 0,
    ) -> None:
        self.llm = llm
        self.agent = agent
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.seed = seed
        self._lock = threading.Lock()
        # `proposals`: samples asked of the policy (a listing of next steps counts as one)
        self._usage: dict[str, float] = {k: 0 for k in (*USAGE_KEYS, "proposals")}

    def propose(
        self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None
    ) -> list[list[Proposal]]:
        if not contexts:
            return []
        temp = self.temperature if temperature is None else temperature
        prompts = [self.agent.prompt(c) for c in contexts]
        seed = (
            None
            if self.seed is None
            else derive_seed(self.seed, *(c.rng.getrandbits(32) for c in contexts))
        )
        kw: dict[str, Any] = dict(
            temperature=temp,
            top_p=self.top_p,
            max_tokens=self.max_tokens or self.agent.max_tokens,
            stop=self.agent.stop,
            seed=seed,
        )
        self._propose_count(n * len(contexts))
        keys = {json.dumps(p, sort_keys=True) for p in prompts}
        if len(contexts) > 1 and len(keys) == 1 and temp > 0:
            gen = self._generate([prompts[0]], n=n * len(contexts), **kw)[0]
            texts = [gen.texts[i * n : (i + 1) * n] for i in range(len(contexts))]
        else:
            texts = [g.texts for g in self._generate(prompts, n=n, **kw)]
        return [[self.agent.parse(t) for t in ts] for ts in texts]

    def propose_steps(
        self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None
    ) -> list[list[Proposal]]:
        """Possible next steps, listed by the model in one generation per context (Tree of
        Thoughts' "propose", ARMAP's Game of 24 MCTS expansion): the agent's
        ``propose_prompt(ctx)`` and ``parse_steps(text)``; at most ``n`` per context, in the
        order written. A context the agent has no propose prompt for (``None``, e.g. Game of 24
        when only the answer is left) gets ``n`` ordinary proposals instead."""
        make = getattr(self.agent, "propose_prompt", None)
        parse = getattr(self.agent, "parse_steps", None)
        if not callable(make) or not callable(parse):
            raise TypeError(
                f"planner.expansion_mode=propose: agent {type(self.agent).__name__} has no "
                "propose_prompt/parse_steps (Game of 24's agent has them)"
            )
        temp = self.temperature if temperature is None else temperature
        prompts = [make(c) for c in contexts]
        listed = [i for i, p in enumerate(prompts) if p is not None]
        out: list[list[Proposal]] = [[] for _ in contexts]
        if listed:
            self._propose_count(len(listed))
            seed = (
                None
                if self.seed is None
                else derive_seed(self.seed, *(contexts[i].rng.getrandbits(32) for i in listed))
            )
            gens = self._generate(
                [prompts[i] for i in listed],
                temperature=temp,
                top_p=self.top_p,
                max_tokens=self.max_tokens or self.agent.max_tokens,
                seed=seed,
            )
            for i, g in zip(listed, gens, strict=True):
                out[i] = parse(g.texts[0])[:n]
        rest = [i for i, p in enumerate(prompts) if p is None]
        if rest:
            for i, props in zip(
                rest, self.propose([contexts[i] for i in rest], n, temp), strict=True
            ):
                out[i] = props
        return out

    def _propose_count(self, proposals: int) -> None:
        with self._lock:
            self._usage["proposals"] += proposals
        charge(proposals=proposals)

    def _generate(self, prompts: Sequence[Prompt], **kw: Any) -> list[Generation]:
        """``llm.generate``, counted as this policy's usage and charged to the caller's task."""
        started = time.perf_counter()
        gens = self.llm.generate(prompts, **kw)
        used = usage(gens, time.perf_counter() - started)
        with self._lock:
            for k, v in used.items():
                self._usage[k] += v
        charge(**used)
        return gens

    def reflect(self, intent: str, trajectory: Trajectory, max_tokens: int = 128) -> str:
        """A Reflexion note on a failed attempt, written greedily by the policy LLM."""
        make = getattr(self.agent, "reflection_prompt", None) or reflection_prompt
        gen = self._generate([make(intent, trajectory)], temperature=0.0, max_tokens=max_tokens)[0]
        return gen.texts[0].strip()

    def counters(self) -> dict[str, float]:
        with self._lock:
            own = dict(self._usage)
        return {**own, **backend_counters(self.llm)}

    def close(self) -> None:
        """Close the LLM: stops a managed server or an in-process engine's workers."""
        self.llm.close()


class AlternatingPolicy:
    """Several explorers taking turns by run: run ``k`` of a task (record id ``<task>#<k>``,
    ``arm-exp explore``'s) is explorer ``k % len(policies)``'s, and its trajectory records
    ``meta["explorer"] = k % len(policies)``.

    ARMAP's WebShop data (``Eval/webshop/data_generation/utils.py:65-66``): a 70B and an 8B run
    on each goal, the higher reward the positive. With two explorers and
    ``explore.num_per_task`` even, runs ``2i`` and ``2i + 1`` of a goal are one of each, which
    the WebShop kit's ``pairs=true`` pairs off (records are written in task, run order).
    """

    def __init__(self, policies: Sequence[Any]) -> None:
        if len(policies) < 2:
            raise ValueError(f"explorer.policies: {len(policies)} given, at least 2 needed")
        self.policies = list(policies)

    def _turn(self, ctx: AgentContext) -> int:
        task_id, sep, run = ctx.trajectory.id.rpartition("#")
        if not sep or not task_id or not run.isdigit():
            raise ValueError(
                f"explorer=llm_pair: trajectory id {ctx.trajectory.id!r} is not an explore "
                "record id <task>#<k>; alternating explorers only drive `arm-exp explore`"
            )
        return int(run) % len(self.policies)

    def propose(
        self, contexts: list[AgentContext], n: int = 1, temperature: float | None = None
    ) -> list[list[Proposal]]:
        out: list[list[Proposal]] = [[] for _ in contexts]
        turns = [self._turn(ctx) for ctx in contexts]
        for i, policy in enumerate(self.policies):
            mine = [j for j, turn in enumerate(turns) if turn == i]
            if not mine:
                continue
            for j in mine:
                contexts[j].trajectory.meta["explorer"] = i
            for j, props in zip(
                mine, policy.propose([contexts[j] for j in mine], n, temperature), strict=True
            ):
                out[j] = props
        return out

    def counters(self) -> dict[str, float]:
        """The explorers' counters summed (each also under ``explorer<i>/``)."""
        out: dict[str, float] = {}
        for i, policy in enumerate(self.policies):
            for k, v in policy.counters().items():
                out[k] = out.get(k, 0) + v
                out[f"explorer{i}/{k}"] = v
        return out

    def close(self) -> None:
        for policy in self.policies:
            policy.close()
