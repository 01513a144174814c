"""WebShop (Yao et al. 2022) as a text environment, rebuilt over WebShop's own data format.

Task x: a shopping instruction (a human goal of ``items_human_ins.json``; task id = its index
in WebShop's shuffled goal list, as in AgentBench and ETO; see :mod:`webshop_data`). Output y:
a sequence of actions ``search[keywords]`` and ``click[<button, product or option>]`` ending
with ``click[buy now]``. Reward r: WebShop's purchase reward in [0, 1] for the bought product,
options and price (:mod:`webshop_reward`); success is r = 1; no purchase within ``max_steps``
actions scores 0.

Pages and observations follow WebShop's text environment (``WebAgentTextEnv`` in its ``text``
mode): the visible texts of each page joined by ``" [SEP] "``:

- search: ``WebShop [SEP] Instruction: [SEP] <instruction> [SEP] Search``;
- results (10 per page of the top 50 BM25 hits): ``Instruction: [SEP] <instruction> [SEP] Back
  to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] <ASIN> [SEP] <title> [SEP]
  <price> ...`` (``< Prev`` from page 2 on; ``Next >`` always, as in WebShop);
- item: ``... [SEP] Back to Search [SEP] < Prev [SEP] <option name> [SEP] <value> ... [SEP]
  <title> [SEP] Price: <price> [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews
  [SEP] Buy Now`` (``Attributes`` too with ``show_attrs``);
- description / features / reviews / attributes tabs: ``... [SEP] Back to Search [SEP] < Prev
  [SEP] <content>``;
- done: ``Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] <r>``.

Clickables are WebShop's: lower-cased button texts, product asins (lower-cased) and option
values; ``click`` arguments are lower-cased before lookup, ``search`` works from any page (as in
WebShop), clicking ``search`` does nothing. Differences from WebShop's env, all on malformed
input: action names are matched case-insensitively and arguments stripped; an action WebShop
silently ignores is reported as invalid (the observation says why, then repeats the page) as
arm-exp's Env protocol requires; the done page leaves out the hidden debug block (goal and
purchase details) that WebShop's HTML carries; ``reveal_score=False`` also drops the score;
WebShop's developer search prefixes (``<r>``, ``<a>``, ``<c>``, ``<q>``) are plain words here.

Invalid replies, as ARMAP's harness (AgentBench's, ``Eval/webshop/src/server/tasks/webshop/
__init__.py:82-99``) treats them: an action that is not ``search[...]`` or ``click[...]``
(``think[...]`` included) ends the episode with reward 0; a well-formed one WebShop ignores (a
click on something not on the page) returns the page unchanged and costs a step. With
``step_feedback`` (ours) neither ends the episode: the observation says why the action was
invalid, then repeats the page, and ``think[...]`` returns the page unchanged (WebShop's own
env does; it costs a step). ``info["invalid"]`` marks all of these.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from arm_exp.envs.base import StepResult, UnknownSplitError, UnknownTaskError
from arm_exp.envs.webshop_data import (
    Catalog,
    Goal,
    Product,
    find_data_files,
    load_catalog,
    load_index_list,
    mini_catalog_dir,
)
from arm_exp.envs.webshop_reward import (
    HeuristicNouns,
    NounExtractor,
    PurchaseReward,
    purchase_reward,
)
from arm_exp.envs.webshop_search import BM25Search
from arm_exp.errors import DataError

log = logging.getLogger(__name__)

PRODUCT_WINDOW = 10
MAX_ACTION_CHARS = 1000
SEP = " [SEP] "
END_BUTTON = "buy now"
NEXT_PAGE = "next >"
PREV_PAGE = "< prev"
BACK_TO_SEARCH = "back to search"
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
_ACTION = re.compile(r"^\s*(search|click|think)\s*\[(.*)\]", re.IGNORECASE | re.DOTALL)
_PRICE_CLAUSE = re.compile(r",? and price lower than [\d.]+ dollars\s*$")

# Splits by goal index (WebShop's shuffled human goals). test: AgentBench "webshop-std" (ARMAP);
# test500 / dev / il_train: WebShop's own test / eval / IL-RL train ranges; train: every goal
# outside WebShop's 500 test goals (ARMAP samples its training products outside them).
RANGE_SPLITS: dict[str, tuple[int, int | None]] = {
    "test": (0, 200),
    "test500": (0, 500),
    "dev": (500, 1500),
    "train": (500, None),
    "il_train": (1500, None),
    "all": (0, None),
}
# ETO's goal index lists (arm_exp/data/webshop/<file>.json).
INDEX_SPLITS = {
    "eto_train": "train_indices",
    "eto_test": "test_indices",
    "eto_test500": "test_indices_500",
}
EXTRA_SPLIT = "extra"


class SplitTooLargeError(DataError):
    """A split of WebShop's goal list that the loaded catalog does not have enough goals for."""


# Guards the two per-process caches below (envs of one process share one catalog and index).
_SHARED_LOCK = threading.RLock()


@cache
def _catalog(
    data_dir: str | None, variant: str, num_products: int | None, price_seed: int
) -> Catalog:
    """One catalog per process and data source, shared by every env of a pool (read-only)."""
    if data_dir is None:
        root = mini_catalog_dir()
        log.warning(
            "webshop: paths.webshop_data is not set: using the bundled MINI catalog (%s). "
            "Its numbers are NOT WebShop numbers; they are reported as benchmark 'webshop_mini'.",
            root,
        )
        files = find_data_files(root, "full")
        label = "webshop_mini"
    else:
        files = find_data_files(data_dir, variant)
        label = "webshop"
    return load_catalog(*files, num_products=num_products, price_seed=price_seed, label=label)


@cache
def _search_engine(catalog_args: tuple[Any, ...], cache_dir: str | None) -> BM25Search:
    return BM25Search(_catalog(*catalog_args).products, cache_dir=cache_dir)


@dataclass(frozen=True)
class _State:
    """Immutable, so a snapshot is the state object itself (O(1))."""

    page: str = "search"  # search | results | item | sub | done
    keywords: str = ""
    results: tuple[str, ...] = ()
    page_num: int = 1
    asin: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    sub: str | None = None
    n_steps: int = 0
    done: bool = False
    score: float = 0.0

    def selected(self) -> dict[str, str]:
        return dict(self.options)


class WebShopEnv:
    """WebShop's text environment (see the module docstring for x, y, r and the pages).

    Args:
        data_dir: a folder with WebShop's data files (``paths.webshop_data``); None uses the
            bundled mini catalog, which is NOT WebShop's data: its trajectories are labelled
            benchmark ``webshop_mini``.
        variant: ``full`` (items_shuffle.json), ``1k`` (items_shuffle_1000.json) or ``auto``.
        num_products: read only the first N product records (WebShop's ``num_products``).
        price_seed: seeds range prices and goal price bounds (unseeded in WebShop).
        cache_dir: where the BM25 index is cached (``${paths.cache_dir}``).
        max_steps: actions before an episode without purchase ends with score 0.
        show_attrs: show the item page's ``Attributes`` tab (WebShop's ``show_attrs``).
        reveal_score: the done page states the score, as WebShop's does; turn off when final
            observations feed a reward model.
        nouns: the title noun finder of the type reward (default :class:`HeuristicNouns`).
        goals_file: optional JSONL of extra goals (``{"id": ..., "goal": {Goal fields}}`` per
            line, e.g. goals synthesized from sampled products), addressed by their ids and
            listed by split ``extra``.
        step_feedback: invalid actions are explained and never end the episode (ours; the
            module docstring has ARMAP's rule, the default).
    """

    # snapshot()/restore() are O(1) (an immutable state plus the goal): several trajectories may
    # share one env in lock-step.
    cheap_snapshot = True

    def __init__(
        self,
        data_dir: str | None = None,
        variant: str = "auto",
        num_products: int | None = None,
        price_seed: int = 0,
        cache_dir: str | None = None,
        max_steps: int = 10,
        show_attrs: bool = False,
        reveal_score: bool = True,
        nouns: NounExtractor | None = None,
        goals_file: str | None = None,
        step_feedback: bool = False,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps={max_steps}: must be >= 1")
        self.benchmark = "webshop" if data_dir is not None else "webshop_mini"
        self._catalog_args = (
            None if data_dir is None else str(data_dir),
            variant,
            num_products,
            price_seed,
        )
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.max_steps = max_steps
        self.show_attrs = show_attrs
        self.reveal_score = reveal_score
        self.nouns: NounExtractor = nouns if nouns is not None else HeuristicNouns()
        self.goals_file = goals_file
        self.step_feedback = step_feedback
        self._extra: dict[str, Goal] | None = None
        self._engine: BM25Search | None = None
        self._goal: Goal | None = None
        self._last_purchase: PurchaseReward | None = None
        self._task_id: str | None = None
        self._state: _State | None = None
        self._counters: dict[str, float] = {
            "env_steps": 0,
            "resets": 0,
            "searches": 0,
            "clicks": 0,
            "purchases": 0,
            "invalid_actions": 0,
            "valid_actions_calls": 0,
            "search_s": 0.0,
        }

    # -- data --------------------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        with _SHARED_LOCK:
            return _catalog(*self._catalog_args)

    @property
    def engine(self) -> BM25Search:
        if self._engine is None:
            # The envs of a pool may run in threads (`plan` with several tasks at once): the
            # first ones must not build (and write the cache of) the shared index twice.
            with _SHARED_LOCK:
                self._engine = _search_engine(self._catalog_args, self.cache_dir)
        return self._engine

    def extra_goals(self) -> dict[str, Goal]:
        if self._extra is None:
            self._extra = {} if self.goals_file is None else _read_goals_file(Path(self.goals_file))
        return self._extra

    # -- tasks -------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        n = len(self.catalog.goals)
        if split in RANGE_SPLITS:
            start, end = RANGE_SPLITS[split]
            if (end is not None and end > n) or start >= n:
                raise SplitTooLargeError(
                    f"split={split!r} is goals {start}-{'end' if end is None else end - 1} but "
                    f"this catalog ({self.benchmark}, {self.catalog.source}) has {n} goals"
                )
            return [str(i) for i in range(start, n if end is None else end)]
        if split in INDEX_SPLITS:
            idx = load_index_list(INDEX_SPLITS[split])
            if max(idx) >= n:
                raise SplitTooLargeError(
                    f"split={split!r} (ETO's goal indices, up to {max(idx)}) needs WebShop's full "
                    f"data; this catalog ({self.benchmark}) has {n} goals"
                )
            # dict.fromkeys: the shipped train list repeats one index; task ids must be unique.
            return [str(i) for i in dict.fromkeys(idx)]
        if split == EXTRA_SPLIT and self.goals_file is not None:
            return list(self.extra_goals())
        raise UnknownSplitError(self.benchmark, split, self.splits())

    def splits(self) -> list[str]:
        extra = [EXTRA_SPLIT] if self.goals_file is not None else []
        return [*RANGE_SPLITS, *INDEX_SPLITS, *extra]

    def goal(self, task_id: str) -> Goal:
        """The goal of a task id (a goal index, or an id of ``goals_file``)."""
        task_id = str(task_id)
        if task_id.isdigit():
            goals = self.catalog.goals
            if int(task_id) < len(goals):
                return goals[int(task_id)]
        elif task_id in self.extra_goals():
            return self.extra_goals()[task_id]
        raise UnknownTaskError(
            f"{self.benchmark} task id {task_id!r}: expected a goal index 0..{len(self.catalog.goals) - 1}"
            + (f" or an id of {self.goals_file}" if self.goals_file else "")
        )

    def task_type(self, task_id: str) -> str:
        """The goal product's WebShop category (beauty, electronics, fashion, food, furniture)."""
        return self.goal(task_id).category

    def task_meta(self, task_id: str) -> dict[str, Any]:
        """Kept in each trajectory's meta: the whole goal, so a later stage can replay actions
        against it (synthesis's replayed negatives) without this env's ``goals_file``."""
        goal = self.goal(task_id)
        return {"goal": goal.to_dict(), "goal_source": goal.source}

    # -- episode -----------------------------------------------------------------------------
    def reset(self, task_id: str) -> str:
        return self.reset_goal(self.goal(task_id), str(task_id))

    def reset_goal(self, goal: Goal, task_id: str = "custom") -> str:
        """Start an episode on any goal (e.g. one built with ``make_product_goal``)."""
        if goal.asin not in self.catalog.by_asin:
            raise UnknownTaskError(f"goal for asin {goal.asin!r}: not a product of this catalog")
        self._goal = goal
        self._task_id = task_id
        self._state = _State()
        self._counters["resets"] += 1
        return self.render(self._state)

    def intent(self) -> str:
        return self._require_goal().instruction_text

    def current_goal(self) -> Goal:
        return self._require_goal()

    def _require_goal(self) -> Goal:
        if self._goal is None:
            raise RuntimeError("WebShopEnv used before reset()")
        return self._goal

    def _require_state(self) -> _State:
        if self._state is None:
            raise RuntimeError("WebShopEnv.step/valid_actions called before reset()")
        return self._state

    # -- pages -------------------------------------------------------------------------------
    def _product(self, asin: str | None) -> Product:
        assert asin is not None
        return self.catalog.by_asin[asin]

    def clickables(self, state: _State | None = None) -> dict[str, tuple[str, str]]:
        """WebShop's ``text_to_clickable`` for a page: lower-cased text -> (kind, target).

        Buttons and product links in page order, then option values (which, as in WebShop,
        overwrite an equal key: a value shared by two options selects the last option)."""
        s = state or self._require_state()
        out: dict[str, tuple[str, str]] = {}
        if s.page == "search":
            out["search"] = ("button", "search")
        elif s.page == "results":
            out[BACK_TO_SEARCH] = ("button", BACK_TO_SEARCH)
            if s.page_num > 1:
                out[PREV_PAGE] = ("button", PREV_PAGE)
            out[NEXT_PAGE] = ("button", NEXT_PAGE)
            for asin in self._page_products(s):
                out[asin.lower()] = ("product", asin)
        elif s.page == "item":
            for b in (BACK_TO_SEARCH, PREV_PAGE, *self._tabs(), END_BUTTON):
                out[b.lower()] = ("button", b)
            for name, values in self._product(s.asin).options.items():
                for v in values:
                    out[v] = ("option", name)
        elif s.page == "sub":
            out[BACK_TO_SEARCH] = ("button", BACK_TO_SEARCH)
            out[PREV_PAGE] = ("button", PREV_PAGE)
        return out

    def _tabs(self) -> tuple[str, ...]:
        return SUB_PAGES if self.show_attrs else SUB_PAGES[:3]

    def _page_products(self, s: _State) -> tuple[str, ...]:
        return s.results[(s.page_num - 1) * PRODUCT_WINDOW : s.page_num * PRODUCT_WINDOW]

    def render(self, s: _State) -> str:
        """A page's observation in WebShop's ``text`` mode (visible texts joined by [SEP])."""
        goal = self._require_goal()
        head = ["Instruction:", goal.instruction_text]
        if s.page == "search":
            texts = ["WebShop", *head, "Search"]
        elif s.page == "results":
            texts = [
                *head,
                "Back to Search",
                f"Page {s.page_num} (Total results: {len(s.results)})",
            ]
            if s.page_num > 1:
                texts.append("< Prev")
            texts.append("Next >")
            for asin in self._page_products(s):
                p = self._product(asin)
                texts += [p.asin, p.Title, p.Price]
        elif s.page == "item":
            p = self._product(s.asin)
            texts = [*head, "Back to Search", "< Prev"]
            for name, values in p.options.items():
                texts += [name, *values]
            texts += [p.Title, f"Price: {p.Price}", f"Rating: {p.Rating}", *self._tabs(), "Buy Now"]
        elif s.page == "sub":
            texts = [*head, "Back to Search", "< Prev", *self._sub_page(s)]
        else:
            texts = ["Thank you for shopping with us!"]
            if self.reveal_score:
                texts += ["Your score (min 0.0, max 1.0)", str(s.score)]
        return SEP.join(t.strip() for t in texts if t and t.strip())

    def _sub_page(self, s: _State) -> list[str]:
        p = self._product(s.asin)
        if s.sub == "Description":
            return [p.Description]
        if s.sub == "Features":
            return list(p.BulletPoints)
        if s.sub == "Reviews":
            out = []
            for r in p.Reviews:
                out += [f'"{r.get("title", "")}"', str(r.get("score", "")), str(r.get("body", ""))]
            return out
        return [*p.Attributes, p.category, p.query, p.product_category]

    # -- actions -----------------------------------------------------------------------------
    def valid_actions(self) -> list[str]:
        """Search actions on the search page (the instruction, with and without its price
        clause, as WebShop's baseline agents search), clicks on every other page."""
        s = self._require_state()
        self._counters["valid_actions_calls"] += 1
        if s.done:
            return []
        if s.page == "search":
            text = self._require_goal().instruction_text.lower()
            queries = dict.fromkeys([_PRICE_CLAUSE.sub("", text).strip(), text])
            return [f"search[{q}]" for q in queries if q]
        return [f"click[{c}]" for c in self.clickables(s) if c != "search"]

    def step(self, action: str) -> StepResult:
        s = self._require_state()
        self._counters["env_steps"] += 1
        if s.done:
            return "The episode is over.", 0.0, True, self._info(s, invalid=True)
        if not self.step_feedback and not _is_reply(action):
            self._counters["invalid_actions"] += 1
            self._state = replace(s, n_steps=s.n_steps + 1, done=True, score=0.0)
            info = {**self._info(self._state, invalid=True), "stop_reason": "invalid_action"}
            obs = "Invalid action: expected search[keywords] or click[value]. The episode is over."
            return obs, 0.0, True, info
        nxt, error = self._transition(s, action)
        if nxt is None:
            self._counters["invalid_actions"] += 1
            nxt = replace(s, n_steps=s.n_steps + 1)
            page = self.render(s)
            obs = f"Invalid action: {error}.\n{page}" if self.step_feedback else page
            return self._finish(s, nxt, obs, invalid=True)
        return self._finish(s, nxt, self.render(nxt))

    def _finish(self, prev: _State, nxt: _State, obs: str, invalid: bool = False) -> StepResult:
        truncated = False
        if not nxt.done and nxt.n_steps >= self.max_steps:
            nxt = replace(nxt, done=True, score=0.0)
            truncated = True
            obs += f"\nOut of steps: no purchase within {self.max_steps} actions."
        self._state = nxt
        info = self._info(nxt, invalid=invalid)
        if truncated:
            info["truncated"] = True
        if nxt.page == "done" and prev.page != "done":
            info.update(self._purchase_info(nxt))
        return obs, nxt.score - prev.score, nxt.done, info

    def _transition(self, s: _State, action: Any) -> tuple[_State | None, str]:
        if not isinstance(action, str) or not action.strip():
            return None, "empty action; expected search[keywords] or click[value]"
        if len(action) > MAX_ACTION_CHARS:
            return None, f"action longer than {MAX_ACTION_CHARS} characters"
        m = _ACTION.match(action)
        if m is None or "\n" in m.group(2):
            return None, "expected search[keywords], click[value] or think[...] on one line"
        name, arg = m.group(1).lower(), m.group(2).strip().lower()
        n = s.n_steps + 1
        if name == "think":
            # WebShop's text env answers any action but search/click with the page unchanged
            # (ReAct-style prompts from the original use think[...]); it costs a turn.
            return replace(s, n_steps=n), ""
        if name == "search":
            if not arg:
                return None, "search[] needs keywords"
            return self._search(arg, 1, n), ""
        clickables = self.clickables(s)
        if arg not in clickables or arg == "search":
            shown = ", ".join(c for c in clickables if c != "search") or "none: use search[...]"
            return None, f"{arg!r} is not clickable on this page (clickables: {shown})"
        self._counters["clicks"] += 1
        kind, target = clickables[arg]
        if arg == END_BUTTON:
            return self._buy(s, n), ""
        if arg == BACK_TO_SEARCH:
            return _State(n_steps=n), ""
        if arg == NEXT_PAGE and s.page == "results":
            return self._search(s.keywords, s.page_num + 1, n), ""
        if arg == PREV_PAGE and s.page == "results":
            return self._search(s.keywords, s.page_num - 1, n), ""
        if arg == PREV_PAGE and s.page == "sub":
            return replace(s, page="item", sub=None, n_steps=n), ""
        if arg == PREV_PAGE and s.page == "item":
            return replace(s, page="results", asin=None, options=(), n_steps=n), ""
        if arg in (t.lower() for t in SUB_PAGES):
            return replace(s, page="sub", sub=arg.capitalize(), n_steps=n), ""
        if kind == "product":
            return replace(s, page="item", asin=target, n_steps=n), ""
        options = {**s.selected(), target: arg}
        return replace(s, page="item", options=tuple(options.items()), n_steps=n), ""

    def _search(self, keywords: str, page_num: int, n_steps: int) -> _State:
        # WebShop splits keywords on spaces and joins them back for the engine.
        t0 = time.perf_counter()
        results = self.engine.search(keywords)
        self._counters["search_s"] += time.perf_counter() - t0
        self._counters["searches"] += 1
        return _State(
            page="results", keywords=keywords, results=results, page_num=page_num, n_steps=n_steps
        )

    def _buy(self, s: _State, n_steps: int) -> _State:
        self._counters["purchases"] += 1
        r = self._last_purchase = self.purchase(s)
        return replace(s, page="done", sub=None, n_steps=n_steps, done=True, score=r.reward)

    def purchase(self, s: _State | None = None) -> PurchaseReward:
        """WebShop's reward (with its parts) for buying the current item with its options."""
        s = s or self._require_state()
        p = self._product(s.asin)
        return purchase_reward(
            p, self._require_goal(), self.catalog.prices[p.asin], s.selected(), self.nouns
        )

    def reward_for(self, asin: str, options: dict[str, str]) -> PurchaseReward:
        """WebShop's reward (the one ``click[buy now]`` gives) for buying product ``asin`` with
        ``options`` (``{option name: value}``) for the current goal."""
        if asin not in self.catalog.by_asin:
            raise UnknownTaskError(f"asin {asin!r}: not a product of this catalog")
        return self.purchase(_State(page="item", asin=asin, options=tuple(options.items())))

    def _purchase_info(self, s: _State) -> dict[str, Any]:
        r = self._last_purchase or self.purchase(s)
        info = {f"reward_{k}": v for k, v in r.info().items() if k != "reward"}
        info["purchased_asin"] = s.asin
        info["purchased_price"] = self.catalog.prices[self._product(s.asin).asin]
        info["purchased_options"] = [f"{k}: {v}" for k, v in s.options]
        return info

    def _info(self, s: _State, invalid: bool = False) -> dict[str, Any]:
        return {
            "score": s.score,
            "success": s.score == 1.0,
            "invalid": invalid,
            "page": s.page,
        }

    # -- search support ----------------------------------------------------------------------
    def snapshot(self) -> tuple[Goal, str | None, _State]:
        return self._require_goal(), self._task_id, self._require_state()

    def restore(self, snapshot: tuple[Goal, str | None, _State]) -> None:
        self._goal, self._task_id, self._state = snapshot

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def close(self) -> None:
        self._state = None


def _is_reply(action: Any) -> bool:
    """Whether ARMAP's harness finds an action in the reply: ``search[...]`` or ``click[...]``
    with an argument, on one line."""
    if not isinstance(action, str) or len(action) > MAX_ACTION_CHARS:
        return False
    m = _ACTION.match(action)
    return (
        m is not None
        and m.group(1).lower() != "think"
        and "\n" not in m.group(2)
        and bool(m.group(2).strip())
    )


def _read_goals_file(path: Path) -> dict[str, Goal]:
    if not path.is_file():
        raise FileNotFoundError(f"benchmark.env.goals_file={str(path)!r}: file not found")
    goals: dict[str, Goal] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            gid, goal = str(rec["id"]), Goal.from_dict(rec["goal"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"{path}:{lineno}: expected {{'id': ..., 'goal': {{...}}}}: {e}"
            ) from e
        if gid.isdigit() or gid in goals:
            raise ValueError(f"{path}:{lineno}: goal id {gid!r} is numeric or repeated")
        goals[gid] = goal
    return goals
