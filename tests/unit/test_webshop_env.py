"""The WebShop text env on the bundled mini catalog: pages, actions, rewards, splits, search."""

from __future__ import annotations

import json

import pytest

from arm_exp.envs.base import Env, UnknownSplitError, UnknownTaskError
from arm_exp.envs.webshop import SplitTooLargeError, WebShopEnv
from arm_exp.envs.webshop_data import make_product_goal
from arm_exp.envs.webshop_search import BM25Search

pytest.importorskip("bm25s")
pytest.importorskip("rapidfuzz")


@pytest.fixture
def env(tmp_path):
    return WebShopEnv(cache_dir=str(tmp_path / "cache"))


def _open(env: WebShopEnv, asin: str) -> str:
    """Search for a product's exact title and open it (it must rank on page 1)."""
    title = env.catalog.by_asin[asin].Title
    obs, _, _, info = env.step(f"search[{title}]")
    assert not info["invalid"] and asin in obs.split(" [SEP] ")[:25]
    obs, _, done, info = env.step(f"click[{asin.lower()}]")
    assert info["page"] == "item" and not done
    return obs


def _buy(env: WebShopEnv, asin: str, options: list[str]) -> tuple[float, dict]:
    _open(env, asin)
    for o in options:
        _, _, _, info = env.step(f"click[{o}]")
        assert not info["invalid"], o
    obs, reward, done, info = env.step("click[Buy Now]")
    assert done and info["page"] == "done" and info["purchased_asin"] == asin
    assert (
        obs == f"Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] {reward}"
    )
    assert info["score"] == reward and info["success"] == (reward == 1.0)
    return reward, info


def test_is_an_env_and_labels_the_mini_catalog(env):
    assert isinstance(env, Env) and env.benchmark == "webshop_mini"
    assert WebShopEnv(data_dir="/somewhere").benchmark == "webshop"


# Goal 0 of the mini catalog: "get me some bedspread set which is lightweight and soft microfiber,
# in king please, and price lower than 70.00 dollars", written for B0PO44UJDW ($40.99).
# Goal attributes [lightweight, soft microfiber], options [king], bound 70: the denominator is
# 2 + 1 + 1 = 4. Goal name nouns: labs, bedspread, set, season.
GOAL0_CASES = [
    # the goal's product with size king: 2 attributes + 1 option + price = 4/4, r_type 1
    ("B0PO44UJDW", ["king"], 1.0),
    # no option chosen: 3/4
    ("B0PO44UJDW", [], 0.75),
    # a wrong size: "twin" vs "king" scores 50 (not > 85): 3/4
    ("B0PO44UJDW", ["twin"], 0.75),
    # an extra option does not hurt: "redwood" normalises to the colour "red"; king matches
    ("B0PO44UJDW", ["redwood", "king"], 1.0),
    # another bedspread set with both attributes, king, $53.99 <= 70; same category path
    # (r_type 1 though its query differs): a different product can succeed, as in WebShop
    ("B0Q3JRRPZ0", ["king"], 1.0),
    # a bedspread set at $96.99 > 70 with only "lightweight": (1 + 1 + 0) / 4
    ("B04MOOZXPC", ["king"], 0.5),
    # herbal tea: no shared category level or query, no shared name noun -> r_type 0
    ("B0BSKNNIN7", [], 0.0),
]


@pytest.mark.parametrize(("asin", "options", "expected"), GOAL0_CASES)
def test_scripted_purchases_score_as_computed_by_hand(env, asin, options, expected):
    env.reset("0")
    assert env.current_goal().asin == "B0PO44UJDW"
    reward, _ = _buy(env, asin, options)
    assert reward == expected


def test_half_type_reward_for_a_weakly_related_title(env):
    # Goal 10: a coffee table (lift top, mid century; walnut; < $270), name nouns stone, trail,
    # coffee, table, lift, top. Sandals B00MDGXZBM ($36.99) share no category level or query and
    # only "trail": title score 1/6 is <= 0.2 and >= 0.1 -> r_type 0.5. Price only: 1/4 * 0.5.
    env.reset("10")
    reward, info = _buy(env, "B00MDGXZBM", ["8"])
    assert reward == 0.125
    assert info["reward_r_type"] == 0.5 and info["reward_title_score"] == pytest.approx(1 / 6)
    assert info["reward_r_price"] is True and info["reward_r_option"] == 0.0
    assert info["purchased_options"] == ["size: 8"]


def test_observations_follow_webshops_text_format(env):
    obs = env.reset("0")
    instr = env.intent()
    assert obs == f"WebShop [SEP] Instruction: [SEP] {instr} [SEP] Search"
    obs, _, _, _ = env.step("search[bedspread set king size]")
    head = f"Instruction: [SEP] {instr} [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] "
    assert obs.startswith(head)
    items = obs[len(head) :].split(" [SEP] ")
    assert len(items) == 30  # 10 products x (asin, title, price)
    for asin, title, price in zip(items[::3], items[1::3], items[2::3], strict=True):
        p = env.catalog.by_asin[asin]
        assert (title, price) == (p.Title, p.Price)
    item = _open(env, "B0PO44UJDW")
    p = env.catalog.by_asin["B0PO44UJDW"]
    assert item == (
        f"Instruction: [SEP] {instr} [SEP] Back to Search [SEP] < Prev [SEP] color [SEP] redwood [SEP] "
        f"ivory [SEP] size [SEP] twin [SEP] full | queen [SEP] king [SEP] {p.Title} [SEP] "
        "Price: $40.99 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"
    )
    sub = f"Instruction: [SEP] {instr} [SEP] Back to Search [SEP] < Prev [SEP] "
    assert env.step("click[description]")[0] == sub + p.Description
    assert env.step("click[< prev]")[0] == item
    assert env.step("click[features]")[0] == sub + " [SEP] ".join(p.BulletPoints)
    assert env.step("click[< prev]")[3]["page"] == "item"
    assert env.step("click[reviews]")[0] == sub.removesuffix(" [SEP] ")  # WebShop ships no reviews
    assert env.step("click[attributes]")[3]["invalid"]  # only with show_attrs


def test_clickables_and_valid_actions(env):
    env.reset("0")
    assert env.valid_actions() == [
        "search[get me some bedspread set which is lightweight and soft microfiber, in king please]",
        f"search[{env.intent()}]",
    ]
    env.step("search[bedspread set lightweight]")
    acts = env.valid_actions()
    assert acts[:2] == ["click[back to search]", "click[next >]"] and len(acts) == 12
    _open(env, "B0PO44UJDW")
    assert env.valid_actions() == [
        "click[back to search]", "click[< prev]", "click[description]", "click[features]",
        "click[reviews]", "click[buy now]", "click[redwood]", "click[ivory]", "click[twin]",
        "click[full | queen]", "click[king]",
    ]  # fmt: skip
    env.step("click[buy now]")
    assert env.valid_actions() == []
    shown = WebShopEnv(show_attrs=True)
    shown.reset("0")
    _open(shown, "B0PO44UJDW")
    assert "click[attributes]" in shown.valid_actions()
    obs = shown.step("click[attributes]")[0]
    assert obs.endswith(
        " [SEP] ".join([*shown.catalog.by_asin["B0PO44UJDW"].Attributes, "furniture"])
        + " [SEP] soft microfiber bedspread set [SEP] Home & Kitchen › Bedding › Quilts & Sets › Bedspreads & Coverlets"
    )


def test_result_pages_hold_ten_products_and_navigate(tmp_path):
    env = WebShopEnv(cache_dir=str(tmp_path), max_steps=30)
    env.reset("0")
    obs, _, _, _ = env.step("search[bedspread set lightweight]")
    first = env.snapshot()[2].results
    assert len(first) == 50 and len(set(first)) == 50
    obs, _, _, _ = env.step("click[next >]")
    assert "Page 2 (Total results: 50) [SEP] < Prev [SEP] Next > [SEP] " + first[10] in obs
    for _ in range(4):
        obs, _, _, _ = env.step("click[next >]")
    assert obs.endswith(
        "Page 6 (Total results: 50) [SEP] < Prev [SEP] Next >"
    )  # past the end, as WebShop
    obs, _, _, _ = env.step("click[< prev]")
    assert "Page 5 " in obs and obs.endswith(env.catalog.by_asin[first[49]].Price)
    env.step(f"click[{first[42].lower()}]")
    obs, _, _, info = env.step("click[< prev]")  # item -> the results page it came from
    assert info["page"] == "results" and "Page 5 " in obs
    obs, _, _, info = env.step("click[back to search]")
    assert obs == f"WebShop [SEP] Instruction: [SEP] {env.intent()} [SEP] Search"
    # A query sharing no word with the catalog finds nothing.
    obs, _, _, _ = env.step("search[zzzqqq]")
    assert "Page 1 (Total results: 0) [SEP] Next >" in obs


def test_search_works_from_any_page_and_resets_options(env):
    env.reset("0")
    _open(env, "B0PO44UJDW")
    env.step("click[king]")
    env.step("search[lightweight bedspread]")
    state = env.snapshot()[2]
    assert (
        state.page == "results"
        and state.options == ()
        and state.keywords == "lightweight bedspread"
    )


MALFORMED = [
    "",
    "   ",
    "click[nothing]",
    "click[]",
    "search[]",
    "search[  ]",
    "click[search]",
    "click[buy now",
    "click buy now]",
    "buy now",
    "jump[b0po44uj]",
    "click[[king]",
    "search[" + "x" * 10_000 + "]",
    "x" * 10_000,
    "click[king]\nclick[buy now]",
    None,
]


@pytest.mark.parametrize("action", MALFORMED, ids=lambda a: repr(a)[:20])
def test_step_feedback_explains_malformed_actions_and_changes_nothing(tmp_path, action):
    env = WebShopEnv(cache_dir=str(tmp_path / "cache"), step_feedback=True)
    env.reset("0")
    env.step("search[bedspread set lightweight]")
    before = env.snapshot()[2]
    page = env.render(before)
    obs, reward, done, info = env.step(action)
    assert isinstance(obs, str) and obs.startswith("Invalid action: ") and obs.endswith(page)
    assert reward == 0.0 and not done and info["invalid"]
    after = env.snapshot()[2]
    assert after.page == before.page and after.results == before.results
    assert after.n_steps == before.n_steps + 1
    assert env.counters()["invalid_actions"] == 1


IGNORED = ["click[nothing]", "click[search]", "click[[king]"]


@pytest.mark.parametrize("action", MALFORMED, ids=lambda a: repr(a)[:20])
def test_an_invalid_reply_ends_the_episode_with_reward_0_as_armaps_harness(env, action):
    """ARMAP's harness (AgentBench's) ends the episode with reward 0 when a reply holds no
    search[...]/click[...]; a well-formed action WebShop ignores returns the page unchanged
    (fidelity row 28)."""
    env.reset("0")
    env.step("search[bedspread set lightweight]")
    before = env.snapshot()[2]
    page = env.render(before)
    obs, reward, done, info = env.step(action)
    assert reward == 0.0 and info["invalid"] and env.counters()["invalid_actions"] == 1
    after = env.snapshot()[2]
    assert after.n_steps == before.n_steps + 1 and after.results == before.results
    if action in IGNORED:
        assert obs == page and not done and after.page == before.page
    else:
        assert done and info["score"] == 0.0 and info["stop_reason"] == "invalid_action"
        assert obs.endswith("The episode is over.")


def test_lenient_but_equivalent_spellings(env):
    env.reset("0")
    assert not env.step("Search[Bedspread Set]")[3]["invalid"]
    assert env.snapshot()[2].keywords == "bedspread set"  # WebShop lower-cases arguments
    assert not env.step(" click[ Next > ] trailing text")[3]["invalid"]


def test_out_of_steps_scores_zero_and_episode_ends(tmp_path):
    env = WebShopEnv(cache_dir=str(tmp_path), max_steps=3)
    env.reset("0")
    env.step("search[bedspread]")
    env.step("click[next >]")
    obs, reward, done, info = env.step("click[nothing]")
    assert done and info["truncated"] and reward == 0.0 and "Out of steps" in obs
    obs, _, done, info = env.step("click[back to search]")
    assert done and info["invalid"] and obs == "The episode is over."


def test_snapshot_restore_is_exact(env):
    env.reset("0")
    env.step("search[bedspread set lightweight]")
    snap = env.snapshot()
    obs = env.render(snap[2])
    env.step("click[next >]")
    env.reset("5")
    env.restore(snap)
    assert env.render(env.snapshot()[2]) == obs and env.current_goal().asin == "B0PO44UJDW"
    assert env.step("click[next >]")[3]["page"] == "results"


def test_splits_and_task_types(env):
    n = len(env.catalog.goals)
    assert env.task_ids("test") == [str(i) for i in range(200)]
    assert env.task_ids("test500")[-1] == "499" and env.task_ids("train") == [
        str(i) for i in range(500, n)
    ]
    with pytest.raises(
        SplitTooLargeError, match=r"split='dev' is goals 500-1499 but .* has 707 goals"
    ):
        env.task_ids("dev")
    with pytest.raises(SplitTooLargeError, match="needs WebShop's full data"):
        env.task_ids("eto_test")
    with pytest.raises(UnknownSplitError, match="valid splits"):
        env.task_ids("nope")
    with pytest.raises(UnknownTaskError, match="goal index"):
        env.reset(str(n))
    assert env.task_type("0") == "furniture"


def test_goals_from_sampled_products(env, tmp_path):
    product = env.catalog.by_asin["B0Q3JRRPZ0"]
    goal = make_product_goal(
        product,
        "i want a fade resistant bedspread set in sage",
        ["fade resistant"],
        {"color": "sage"},
        60.0,
    )
    obs = env.reset_goal(goal)
    assert (
        env.intent()
        == "i want a fade resistant bedspread set in sage, and price lower than 60.00 dollars"
    )
    assert obs.endswith(env.intent() + " [SEP] Search")
    reward, _ = _buy(env, "B0Q3JRRPZ0", ["sage"])
    assert reward == 1.0  # 1 attribute + 1 option + $53.99 <= 60
    path = tmp_path / "goals.jsonl"
    path.write_text(json.dumps({"id": "syn-0", "goal": goal.to_dict()}) + "\n")
    extra = WebShopEnv(cache_dir=str(tmp_path / "cache"), goals_file=str(path))
    assert extra.task_ids("extra") == ["syn-0"] and extra.goal("syn-0") == goal
    extra.reset("syn-0")
    assert extra.intent() == goal.instruction_text
    path.write_text(json.dumps({"id": "7", "goal": goal.to_dict()}) + "\n")
    with pytest.raises(ValueError, match="numeric or repeated"):
        WebShopEnv(goals_file=str(path)).task_ids("extra")


def test_search_index_is_cached_by_catalog_content(env, tmp_path):
    products = env.catalog.products
    built = BM25Search(products, cache_dir=tmp_path)
    assert built.stats["index_build_s"] > 0 and built.index_dir is not None
    assert (built.index_dir / "ids.json").is_file()
    loaded = BM25Search(products, cache_dir=tmp_path)
    assert loaded.stats["index_build_s"] == 0 and loaded.stats["index_load_s"] > 0
    for q in ("bedspread set king", "noise cancelling usb microphone", "gluten free crackers"):
        assert loaded.search(q) == built.search(q)
    changed = [
        *products[:-1],
        type(products[-1])(**{**vars(products[-1]), "Title": "something else"}),
    ]
    assert BM25Search(changed, cache_dir=tmp_path).key != built.key


def test_search_ranks_the_exact_title_first(env):
    for p in env.catalog.products[:40]:
        assert env.engine.search(p.Title.lower())[0] == p.asin or p.Title in {
            q.Title for q in env.catalog.products if q.asin != p.asin
        }


def test_think_ends_the_episode_in_armaps_harness(env):
    env.reset("0")
    env.step("search[bedspread set king]")
    obs, reward, done, info = env.step("think[I should open the first product.]")
    assert done and reward == 0.0 and info["invalid"] and info["score"] == 0.0


def test_think_returns_the_page_unchanged_with_step_feedback_as_webshop_does(tmp_path):
    """WebShop's text env answers any action but search/click with the page as it was; ReAct
    prompts from the original use ``think[...]``. With step feedback it is valid and costs a
    turn."""
    env = WebShopEnv(cache_dir=str(tmp_path / "cache"), step_feedback=True)
    env.reset("0")
    page = env.step("search[bedspread set king]")[0]
    obs, reward, done, info = env.step("think[I should open the first product.]")
    assert obs == page and reward == 0.0 and not done and not info["invalid"]
    assert env.snapshot()[2].n_steps == 2
    assert env.step("Think [ ]")[0] == page  # case and spacing as for search/click
