"""WebShop's purchase reward, part by part, on hand-made products and goals."""

from __future__ import annotations

import pytest

from arm_exp.envs.webshop_data import Goal, Product
from arm_exp.envs.webshop_reward import (
    HeuristicNouns,
    SpacyNouns,
    attribute_matches,
    fuzzy_score,
    normalize_color,
    option_matches,
    option_targets,
    purchase_reward,
    type_reward,
)

pytest.importorskip("rapidfuzz")
NOUNS = HeuristicNouns()


def product(**kw) -> Product:
    base = dict(
        asin="B000000001",
        name="Acme Tea Tree Shampoo",
        Title="Acme Tea Tree Shampoo",
        Description="",
        BulletPoints=[],
        Price="$10.0",
        pricing=[10.0],
        options={},
        Attributes=["DUMMY_ATTR"],
        query="shampoo",
        category="beauty",
        product_category="Beauty › Hair Care › Shampoo",
    )
    base.update(kw)
    if "name" in kw and "Title" not in kw:
        base["Title"] = kw["name"]
    return Product(**base)  # type: ignore[arg-type]


def goal(**kw) -> Goal:
    base = dict(
        asin="B000000001",
        instruction_text="i need a tea tree shampoo",
        attributes=["tea tree"],
        goal_options=[],
        price_upper=20.0,
        query="shampoo",
        category="beauty",
        product_category="Beauty › Hair Care › Shampoo",
        name="Acme Tea Tree Shampoo",
    )
    base.update(kw)
    return Goal(**base)  # type: ignore[arg-type]


def test_fuzzy_score_has_thefuzz_semantics():
    assert fuzzy_score("XL", "xl") == 100  # lower-cased
    assert fuzzy_score("cool powder snow", "powder snow") == 100  # token *set* ratio
    assert fuzzy_score("essential oil", "essential oils") == 96  # 2 * 13 / 27, rounded
    assert fuzzy_score("grey, XL!", "xl grey") == 100  # punctuation becomes spaces
    assert fuzzy_score("crème", "crme") == 100  # Latin-1 letters dropped (force_ascii)
    assert fuzzy_score("twin", "king") == 50
    assert fuzzy_score("", "king") == 0


def test_colors_normalise_to_webshops_first_listed_colour():
    assert normalize_color("dark brown") == "brown"  # list order, not position in the value
    assert normalize_color("navy blue") == "blue"
    assert normalize_color("redwood") == "red"
    assert normalize_color("pack of 12") == "pack of 12"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        # same query, category and name
        ({}, (1.0, True, True, 1.0)),
        # another query, but two shared category levels (order ignored)
        (
            {"query": "conditioner", "product_category": "Hair Care › Beauty › Other"},
            (1.0, False, True, 1.0),
        ),
        # nothing shared but 2 of 4 name nouns (acme, tea, tree, shampoo): 0.5 > 0.2
        (
            {"query": "x", "product_category": "A › B", "name": "Tea Tree Soap"},
            (1.0, False, False, 0.5),
        ),
        # 1 of 5 nouns = 0.2 is not above 0.2, and not below 0.1: half
        (
            {"query": "x", "product_category": "A › B", "name": "Shampoo Bottle"},
            (0.5, False, False, 0.2),
        ),
    ],
)
def test_type_reward_branches(kw, expected):
    g = goal(name="Acme Tea Tree Shampoo Bar") if "Bottle" in kw.get("name", "") else goal()
    t = type_reward(product(**kw), g, NOUNS)
    assert (t.r_type, t.query_match, t.category_match, t.title_score) == pytest.approx(expected)


def test_type_reward_low_overlap_and_no_nouns():
    many = goal(name="Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa Lambda")  # 11 nouns
    assert (
        NOUNS.nouns(many.name)
        == "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()  # noqa: SIM905
    )
    t = type_reward(product(name="Alpha Shampoo", query="x", product_category="Z"), many, NOUNS)
    assert t.title_score == pytest.approx(1 / 11) and t.r_type == 0.1  # below 0.1
    t = type_reward(product(name="Nothing Alike", query="x", product_category="Z"), many, NOUNS)
    assert t.title_score == 0 and t.r_type == 0.0
    # A goal name without nouns scores 0.2 (not above 0.2): r_type 1 only with query/category.
    nounless = goal(name="Big and Small")
    assert type_reward(product(), nounless, NOUNS).r_type == 1.0
    assert type_reward(product(query="x", product_category="Z"), nounless, NOUNS).r_type == 0.5


def test_attributes_match_fuzzily_then_in_the_texts():
    p = product(
        Attributes=["essential oil", "natural ingredients"],
        Title="Shampoo",
        BulletPoints=["This shampoo has tea tree and smells like lemons"],
        Description="Made for DRY HAIR",
    )
    assert (
        attribute_matches(p, ["essential oils", "natural ingredient", "tea tree", "dry hair"]) == 4
    )
    assert attribute_matches(p, ["sulfate free", "oil free"]) == 0
    # The text fallback is a case-sensitive substring test of the goal attribute (as WebShop).
    assert attribute_matches(p, ["Dry Hair"]) == 0


def test_dict_goal_options_are_matched_as_name_value_as_webshop_does():
    """WebShop's get_reward passes ``goal_options.items()``: tuples, colour-normalised only when
    a colour equals the name or the value, fuzzy-matched as "name value"."""
    targets = option_targets({"size": "x-large", "color": "black", "flavor": "dark chocolate"})
    assert targets == ["size x-large", "black", "flavor dark chocolate"]
    assert option_matches(["x-large"], {"size": "x-large"}) == 1
    # value-to-value would accept a neighbouring size (token_set_ratio 93); the original does not
    assert option_matches(["xx-large"], ["x-large"]) == 1
    assert option_matches(["xx-large"], {"size": "x-large"}) == 0


def test_option_matches():
    assert option_matches(["pack of 12", "grey", "xl"], ["grey", "XL", "pack of 12"]) == 3
    assert option_matches(["pack of 12", "blue", "xl"], ["grey", "XL", "pack of 12"]) == 2
    assert option_matches(["heather grey"], ["light grey"]) == 1  # both normalise to "grey"
    assert option_matches(["dark grey"], ["light grey"]) == 0  # "dark" is listed before "grey"
    assert option_matches([], ["grey"]) == 0


def test_purchase_reward_combines_the_parts():
    p = product(Attributes=["tea tree", "sulfate free"])
    g = goal(
        attributes=["tea tree", "paraben free"],
        goal_options=["16 fl oz", "lavender"],
        price_upper=20.0,
    )
    r = purchase_reward(p, g, 12.5, {"size": "16 fl oz", "scent": "citrus"}, NOUNS)
    # (1 attribute + 1 option + price) / (2 + 2 + 1), r_type 1
    assert r.reward == pytest.approx(3 / 5)
    assert (r.r_att, r.r_option, r.r_price, r.r_type) == (0.5, 0.5, True, 1.0)
    assert purchase_reward(p, g, 25.0, {}, NOUNS).reward == pytest.approx(1 / 5)
    synthetic = goal(goal_options={"size": "16 fl oz"}, price_upper=1000000.0)
    r = purchase_reward(p, synthetic, 500.0, {"size": "16 fl oz"}, NOUNS)
    assert r.reward == 1.0 and r.info()["r_option"] == 1.0
    assert purchase_reward(p, goal(), 10.0, {}, NOUNS).r_option is None


def test_heuristic_nouns_close_to_spacy_on_webshops_examples():
    def score(wanted: str, bought: str) -> float:
        w, b = NOUNS.nouns(wanted), NOUNS.nouns(bought)
        return len(set(w) & set(b)) / len(w)

    cord = "BRST AC Power Cord Outlet Socket Cable Plug Lead for Panasonic SC-HT830V DVD/VCR Combo Home Theater System"
    # spaCy (WebShop's tests): 0.3 and 0.15
    assert score(
        "Saireed UL Listed 2 Prong Power Cord for JBL Bar 3.1 Bar 2.1 Channel 4K Ultra HD Soundbar Home Theater System Subwoofer",
        cord,
    ) == pytest.approx(5 / 17)
    assert score(
        "Saireed UL Listed 2 Prong Power Cord for JBL Bar 3.1 Bar 2.1 Channel 4K Ultra HD Soundbar",
        cord,
    ) == pytest.approx(2 / 13)
    assert (
        score(
            "Rusticware 921ORB Kitchen and Bath Cabinet Knob",
            "Minkissy 2pcs Stainless Steel Eyebrow Tweezers (Silver)",
        )
        == 0
    )
    assert NOUNS.nouns("Women's Lightweight Running Shoes, Breathable - Size 8") == [
        "women",
        "running",
        "shoes",
        "size",
    ]


def test_spacy_nouns_is_lazy_and_says_what_it_needs():
    nouns = SpacyNouns()
    try:
        import spacy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install spacy"):
            nouns.nouns("Tea Tree Shampoo")
