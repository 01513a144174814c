"""WebShop's purchase reward (Yao et al. 2022, section 3.2; ``web_agent_site/engine/goal.py``).

For a bought product with selected options and price, and a goal ``(attributes, options,
price_upper, product type)``::

    r = r_type * (n_attr_matched + n_options_matched + [price <= price_upper])
                 / (n_goal_attributes + n_goal_options + 1)

- attribute match: a goal attribute counts if ``token_set_ratio`` (thefuzz semantics: lower-cased,
  non-alphanumerics to spaces, non-ASCII Latin-1 dropped, rounded to an int) with one of the
  product's annotated attributes is above 85, or else if it is a substring of the lower-cased
  title, bullet points or description;
- option match: each goal option counts if a selected option value scores above 85 against it,
  after both are normalised to the first colour word of WebShop's colour list they contain;
- type reward ``r_type``: 1 if the product's search query equals the goal's, or at least two
  ``›``-separated category levels are shared, or the title-noun overlap (share of the goal
  product's name nouns also in the bought product's name) is above 0.2; else 0.5; then 0.1 if
  the overlap is below 0.1, and 0 if it is 0 (no goal nouns: overlap 0.2).

Success is ``r == 1``.

Deviation: WebShop finds name nouns with spaCy's ``en_core_web_sm`` tagger (tokens tagged NOUN
or PROPN), a model that cannot be installed here. :class:`HeuristicNouns` replaces it: spaCy-like
tokenisation, then every token that is not a number, punctuation, a function word, or an
adjective by a closed lexicon and suffix rules counts as a noun. It is an approximation, not
spaCy: measured against spaCy 3.8 with ``en_core_web_sm`` 3.8.0 on the 360 product names of
the bundled mini catalog, its noun list is identical for 21 names (mean set F1 0.84, spaCy
tags most capitalised title words PROPN), and the type reward's band (title score 0, < 0.1,
0.1-0.2, > 0.2) agrees on 87% of 2,000 random (goal name, product name) pairs. On 4,602
purchases of the mini catalog scored against WebShop's own ``goal.py`` (issue 16), 97.9% of
rewards are equal (99.8% with :class:`SpacyNouns`): a product of the goal's own type mostly
scores the same, wrong products near the 0.1 / 0.2 thresholds can differ. Users with spaCy and
the model set ``benchmark.env.nouns._target_=arm_exp.envs.webshop_reward.SpacyNouns``.
Goals synthesized from a product keep their options as a ``{name: value}`` dict; WebShop passes
the dict's ``(name, value)`` pairs to its option matching, and so do we
(:func:`option_targets`): such an option is matched as the text ``"name value"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from arm_exp.envs.webshop_data import CATEGORY_SEP, Goal, Product

FUZZY_THRESHOLD = 85

# WebShop's colour list (engine/normalize.py: COLOR_SET), in its order: the first one contained
# in an option value replaces it before option matching.
COLOR_SET = (  # noqa: SIM905
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown "
    "burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee "
    "cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso fuchsia "
    "gold granite grape graphite grass gray green grey heather indigo ivory ivy khaki lavender "
    "lemon leopard light lilac lime magenta maroon mauve merlot midnight mint mocha multicolor "
    "mushroom mustard natural navy nude olive orange peach pewter pink plum purple rainbow red "
    "rose royal rust sand sapphire seashell silver skull slate steel stone stonewash sunflower "
    "tan taupe teal tiger turquoise violet walnut wheat white wine yellow"
).split()


def normalize_color(value: str) -> str:
    """The first colour of :data:`COLOR_SET` that is a substring of ``value``, else ``value``."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


_LATIN1 = {i: None for i in range(128, 256)}


def fuzzy_score(a: str, b: str) -> int:
    """thefuzz's ``fuzz.token_set_ratio(a, b)`` (its default processing and rounding), computed
    with rapidfuzz (lazy import: the ``webshop`` extra)."""
    from rapidfuzz import fuzz
    from rapidfuzz.utils import default_process

    pa = default_process(str(a).translate(_LATIN1))
    pb = default_process(str(b).translate(_LATIN1))
    return int(round(fuzz.token_set_ratio(pa, pb)))


# -- title nouns -------------------------------------------------------------------------------
class NounExtractor(Protocol):
    """Lower-cased nouns and proper nouns of a product name, in order (duplicates kept)."""

    def nouns(self, text: str) -> list[str]: ...


_FUNCTION_WORDS = frozenset(
    """a an the this that these those some any each every all both either neither no not
    and or but nor so yet plus vs versus
    for with without of in on at to by from into onto over under about above below between
    through during before after up down out off upon within along across around per via
    i me my we us our you your he him his she her it its they them their who whom which what
    is are was were be been being am do does did has have had can could will would shall should
    may might must as than then if when while because also very too just only more most less
    least much many few other another such same own again ever here there where how why""".split()  # noqa: SIM905
)

# Adjectives common in product names (spaCy tags them ADJ): sizes, qualities, colours. Material
# nouns used attributively ("cotton shirt") stay nouns, as spaCy tags them (compound NOUN).
_ADJECTIVES = frozenset(
    """new old big small large little tiny huge mini extra long short tall high low wide narrow
    thick thin heavy light soft hard smooth rough warm cool cold hot fresh dry wet clean clear
    natural organic pure real best good great fine premium deluxe luxury classic modern vintage
    everyday essential
    casual formal elegant cute pretty beautiful simple basic professional original authentic
    healthy gentle strong safe quick easy fast slow quiet loud bright full empty double single
    triple multi universal portable compact durable flexible comfortable adjustable reusable
    washable breathable waterproof wireless cordless stainless sturdy lightweight oversized slim
    sleek round square flat rectangular oval black white red blue green yellow orange purple
    pink brown gray grey beige navy ivory silver golden dark deep pale rich sweet spicy salty
    sour bitter mild savory crunchy creamy chewy vegan vegetarian kosher keto unscented scented
    sensitive oily normal unisex outdoor indoor electric digital smart automatic manual
    hypoallergenic antibacterial ergonomic solid faux genuine wooden woolen ceramic plastic
    free""".split()  # noqa: SIM905
)
# Adjective suffixes, and "-ed" participles ("Listed", "Padded"), which spaCy tags VERB or ADJ.
_ADJ_SUFFIXES = ("able", "ible", "ful", "less", "ous", "ive", "ic", "ical", "proof", "ed")
# Nouns that end like adjectives.
_NOUN_EXCEPTIONS = frozenset(
    """cable table vegetable turntable bible handful spoonful drive olive hive archive fabric
    music mic logic tunic tonic graphic comic clinic garlic mosaic picnic lyric attic topic
    bed shred flatbed daybed hundred
    family supply jelly belly assembly butterfly lily ally holly rally reply""".split()  # noqa: SIM905
)
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.'’][A-Za-z0-9]+)*\.?|[^\sA-Za-z0-9]")


class HeuristicNouns:
    """Nouns of a product name without a statistical tagger (see the module docstring).

    Tokens: runs of letters/digits (keeping ``3.5``, ``D.O.N.``), every other non-space
    character on its own (so ``Off-White`` -> ``Off``, ``-``, ``White``). A token is a noun unless
    it has no letter (numbers, symbols), is a function word, or is an adjective (lexicon, or an
    adjective or participle suffix such as ``-able``, ``-less``, ``-proof``, ``-ed``, or an
    adverb in ``-ly``, outside a short list of nouns). On the title pairs of WebShop's own reward
    tests it gives 0.294 and 0.154 where spaCy gives 0.3 and 0.15, and 0 for unrelated names; on
    other names it often differs from spaCy (same noun list for 21 of the mini catalog's 360
    names; the module docstring has the measurements).
    """

    def nouns(self, text: str) -> list[str]:
        out = []
        for tok in _TOKEN.findall(text or ""):
            low = tok.lower().rstrip(".")
            for possessive in ("'s", "’s"):
                low = low.removesuffix(possessive)
            if not any(c.isalpha() for c in low):
                continue
            if low in _FUNCTION_WORDS or low in _ADJECTIVES:
                continue
            if (
                low not in _NOUN_EXCEPTIONS
                and low.isalpha()
                and low.endswith(_ADJ_SUFFIXES)
                and not low.endswith("eed")  # seed, speed, brand names like "Saireed"
            ):
                continue
            if low.endswith("ly") and len(low) > 4 and low not in _NOUN_EXCEPTIONS:
                continue  # adverbs ("Individually Wrapped")
            out.append(low)
        return out


class SpacyNouns:
    """WebShop's own noun finder: spaCy tokens tagged NOUN or PROPN (needs ``spacy`` and the
    ``model`` package installed; loaded on first use)."""

    def __init__(self, model: str = "en_core_web_sm") -> None:
        self.model = model
        self._nlp: Any = None

    def nouns(self, text: str) -> list[str]:
        if self._nlp is None:
            try:
                import spacy
            except ImportError as e:
                raise ImportError(
                    "benchmark.env.nouns=SpacyNouns needs `pip install spacy` and the "
                    f"{self.model} model; the default HeuristicNouns needs neither"
                ) from e
            self._nlp = spacy.load(self.model)
        return [t.text.lower() for t in self._nlp(text) if t.pos_ in ("PNOUN", "NOUN", "PROPN")]


# -- the reward --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TypeReward:
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


@dataclass(frozen=True)
class PurchaseReward:
    """The total and its parts, as WebShop's ``get_reward(..., verbose=True)`` reports them."""

    reward: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: bool
    n_attr_matched: int
    n_option_matched: int
    query_match: bool
    category_match: bool
    title_score: float

    def info(self) -> dict[str, Any]:
        return {
            "reward": self.reward,
            "r_type": self.r_type,
            "r_att": self.r_att,
            "r_option": self.r_option,
            "r_price": self.r_price,
            "query_match": self.query_match,
            "category_match": self.category_match,
            "title_score": self.title_score,
        }


def _categories(product_category: str) -> set[str]:
    return {x.strip() for x in product_category.split(CATEGORY_SEP)}


def type_reward(product: Product, goal: Goal, nouns: NounExtractor) -> TypeReward:
    query_match = product.query == goal.query
    category_match = (
        len(_categories(product.product_category) & _categories(goal.product_category)) >= 2
    )
    bought = nouns.nouns(product.name)
    wanted = nouns.nouns(goal.name)
    title_score = 0.2 if not wanted else len(set(bought) & set(wanted)) / len(wanted)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeReward(r_type, query_match, category_match, title_score)


def attribute_matches(product: Product, goal_attributes: Sequence[str]) -> int:
    """How many goal attributes the product has (fuzzy on its attributes, else substring of its
    title, bullet points or description)."""
    title = product.Title.lower()
    bullets = " ".join(product.BulletPoints).lower()
    desc = product.Description.lower()
    n = 0
    for g in goal_attributes:
        fuzzy = any(fuzzy_score(p, g) > FUZZY_THRESHOLD for p in product.Attributes)
        if fuzzy or g in title or g in bullets or g in desc:
            n += 1
    return n


def option_targets(goal_options: Sequence[str] | dict[str, str]) -> list[str]:
    """The goal options as WebShop's ``get_option_reward`` compares them.

    A list (human goals): each value normalised to its first colour (substring). A ``{name:
    value}`` dict (goals synthesized from a product): WebShop passes the dict's ``items()``, so
    each target is a ``(name, value)`` tuple; ``normalize_color`` on a tuple finds a colour only
    when it *equals* the name or the value, and fuzzy matching reads the tuple's text, i.e.
    ``"name value"`` after thefuzz's processing. So ``{"size": "x-large"}`` must match
    ``"size x-large"``: a chosen ``"xx-large"`` no longer passes, as in the original.
    """
    if isinstance(goal_options, dict):
        out = []
        for name, value in goal_options.items():
            pair = (str(name), str(value))
            out.append(next((c for c in COLOR_SET if c in pair), f"{pair[0]} {pair[1]}"))
        return out
    return [normalize_color(str(o)) for o in goal_options]


def option_matches(selected: Sequence[str], goal_options: Sequence[str] | dict[str, str]) -> int:
    """How many goal options a chosen option matches (fuzzy score above 85)."""
    chosen = [normalize_color(o) for o in selected]
    n = 0
    for g in option_targets(goal_options):
        if any(fuzzy_score(p, g) > FUZZY_THRESHOLD for p in chosen):
            n += 1
    return n


def purchase_reward(
    product: Product,
    goal: Goal,
    price: float,
    selected_options: dict[str, str],
    nouns: NounExtractor,
) -> PurchaseReward:
    """WebShop's reward for buying ``product`` at ``price`` with ``selected_options`` for
    ``goal`` (see the module docstring)."""
    t = type_reward(product, goal, nouns)
    n_att = attribute_matches(product, goal.attributes)
    wanted = goal.option_values()
    n_opt = option_matches(list(selected_options.values()), goal.goal_options)
    r_price = price <= goal.price_upper
    denom = len(goal.attributes) + len(wanted) + 1
    total = (n_att + n_opt + int(r_price)) / denom * t.r_type
    return PurchaseReward(
        reward=total,
        r_type=t.r_type,
        r_att=n_att / len(goal.attributes) if goal.attributes else 0.0,
        r_option=n_opt / len(wanted) if wanted else None,
        r_price=r_price,
        n_attr_matched=n_att,
        n_option_matched=n_opt,
        query_match=t.query_match,
        category_match=t.category_match,
        title_score=t.title_score,
    )
