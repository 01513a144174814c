"""WebShop data: products, human goals and splits, read from WebShop's own file format.

Files (as distributed with WebShop; put them in one folder and point ``paths.webshop_data`` at it):

- ``items_shuffle_1000.json`` (1k products) or ``items_shuffle.json`` (1.18M products): a JSON
  array of scraped products with ``asin``, ``name``, ``full_description``, ``small_description``
  (bullet points, a list or a string), ``pricing`` (``"$12.99"`` or ``"$10.99 to $20.99"``, may be
  empty), ``customization_options`` (``{option name: [{"value": ..., "image": ...}, ...]}`` or
  null), ``images``, ``query``, ``category``, ``product_category`` (``"a › b › c"``). The big file
  is streamed, never held as raw JSON.
- ``items_ins_v2_1000.json`` / ``items_ins_v2.json``: ``{asin: {"attributes": [...], ...}}``.
- ``items_human_ins.json``: ``{asin: [{"instruction": ..., "instruction_attributes": [...],
  "instruction_options": [...]}, ...]}``: the human-written goals.

Products are cleaned exactly as WebShop's ``engine.load_products`` does (first ``num_products``
records, asins that are ``"nan"`` or longer than 10 characters and duplicates dropped, option names
and values lower-cased with ``/`` turned into `` | ``, prices parsed from the ``$`` string, a
missing price shown as ``$100.0``, products without annotated attributes get ``["DUMMY_ATTR"]``).
Goals are built as WebShop's ``get_human_goals`` does, in product order, then shuffled with
``random.seed(233)``; task id ``i`` is the i-th goal after that shuffle, so ids match WebShop's
session indices (AgentBench's and ETO's goal indices) when the same product file is loaded.

Deviation (documented in the README): WebShop draws a product's price inside a ``$a to $b``
range and each goal's price bound from Python's *unseeded* global RNG, so the original's
``price lower than X dollars`` differs from run to run. Here both come from one
``random.Random(price_seed)`` consumed in the same order, so they are reproducible.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from arm_exp.errors import DataError

log = logging.getLogger(__name__)

# WebShop's price grid for goal price bounds (engine/goal.py: PRICE_RANGE).
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_BOUND = 1000000.0
GOAL_SHUFFLE_SEED = 233
CATEGORY_SEP = "›"

PRODUCT_FILES = {"full": "items_shuffle.json", "1k": "items_shuffle_1000.json"}
ATTRIBUTE_FILES = {"full": "items_ins_v2.json", "1k": "items_ins_v2_1000.json"}
HUMAN_GOAL_FILE = "items_human_ins.json"


class WebShopDataError(DataError):
    """A WebShop data file is missing or does not have WebShop's format; names file and record."""


@dataclass
class Product:
    """One cleaned product, with WebShop's field names for what pages and rewards read.

    ``name`` is the raw product name (the type reward compares names); ``Title`` is what pages
    show (the same text). ``pricing`` holds one price or a ``[low, high]`` range; ``Price`` is
    the tag pages show. ``options`` maps lower-cased option names to lower-cased values.
    """

    asin: str
    name: str
    Title: str
    Description: str
    BulletPoints: list[str]
    Price: str
    pricing: list[float]
    options: dict[str, list[str]]
    Attributes: list[str]
    query: str
    category: str
    product_category: str
    MainImage: str | None = None
    Reviews: list[dict[str, Any]] = field(default_factory=list)
    Rating: str = "N.A."
    instructions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Goal:
    """A shopping goal: what the purchase reward checks.

    ``attributes`` are the goal attributes (fuzzy-matched against the bought product's
    attributes, then looked up in its title, features and description); ``goal_options`` the
    option values wanted (a list for human goals; a ``{name: value}`` dict for goals synthesized
    from a product, of which the values are matched); ``price_upper`` the price bound
    (``1000000`` means none); ``asin`` the product the goal was written for.
    ``query``/``category``/``product_category``/``name`` are that product's, used by the type
    reward. ``source`` says where the goal comes from (``human`` or ``synthetic``).
    """

    asin: str
    instruction_text: str
    attributes: list[str]
    goal_options: list[str] | dict[str, str]
    price_upper: float
    query: str
    category: str
    product_category: str
    name: str
    weight: float = 1.0
    source: str = "human"

    def option_values(self) -> list[str]:
        if isinstance(self.goal_options, dict):
            return [str(v) for v in self.goal_options.values()]
        return [str(v) for v in self.goal_options]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Goal:
        return cls(**d)


def price_text(price_upper: float) -> str:
    """The clause WebShop appends to an instruction for a price bound ('' for none)."""
    return (
        "" if price_upper >= NO_PRICE_BOUND else f", and price lower than {price_upper:.2f} dollars"
    )


def sample_price_upper(price: float, rng: random.Random) -> float:
    """WebShop's price bound for a product at ``price``: the larger of two distinct values drawn
    from the next four grid prices above it; none (1000000) if fewer than two are left."""
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_BOUND
    return sorted(rng.sample(above, 2))[1]


def make_product_goal(
    product: Product,
    instruction: str,
    attributes: list[str],
    options: dict[str, str] | list[str],
    price_upper: float | None = None,
    price: float | None = None,
    rng: random.Random | None = None,
    source: str = "synthetic",
) -> Goal:
    """A goal for ``product`` that is not one of the human goals (ARMAP's synthesized goals).

    ``instruction`` is the shopping instruction without the price clause (it is appended here
    as WebShop does). ``price_upper`` fixes the bound; otherwise it is sampled from ``price``
    (the product's price, required then) with ``rng`` as WebShop's goals do.
    """
    if not attributes:
        raise ValueError(f"make_product_goal({product.asin}): a goal needs at least one attribute")
    if price_upper is None:
        if price is None or rng is None:
            raise ValueError("make_product_goal: pass price_upper, or price and rng to sample it")
        price_upper = sample_price_upper(price, rng)
    return Goal(
        asin=product.asin,
        instruction_text=instruction.strip().strip(".") + price_text(price_upper),
        attributes=list(attributes),
        goal_options=dict(options) if isinstance(options, dict) else list(options),
        price_upper=float(price_upper),
        query=product.query,
        category=product.category,
        product_category=product.product_category,
        name=product.name,
        source=source,
    )


# -- streaming JSON ----------------------------------------------------------------------------
_WS = " \t\r\n"


def iter_json(path: str | Path, chunk_chars: int = 1 << 20) -> Iterator[Any]:
    """Stream the top-level container of a JSON file: an array's elements, or an object's
    ``(key, value)`` pairs. Memory stays at about one element plus one chunk, so the 1.18M
    product file never sits in memory as raw JSON."""
    path = Path(path)
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8") as f:
        buf = f.read(chunk_chars)
        pos = 0
        eof = not buf

        def fill() -> bool:
            nonlocal buf, pos, eof
            more = f.read(chunk_chars)
            if not more:
                eof = True
                return False
            buf = buf[pos:] + more
            pos = 0
            return True

        def skip_ws() -> str | None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in _WS:
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not fill():
                    return None

        def decode() -> Any:
            nonlocal pos
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as e:
                    if not eof and fill():
                        continue
                    raise WebShopDataError(
                        f"{path}: invalid JSON near character {e.pos}: {e.msg}"
                    ) from None
                # A number or literal cut by the chunk end could decode short: need a delimiter.
                if end == len(buf) and not eof and fill():
                    continue
                pos = end
                return value

        opener = skip_ws()
        if opener not in ("[", "{"):
            raise WebShopDataError(f"{path}: expected a JSON array or object, found {opener!r}")
        pos += 1
        closer = "]" if opener == "[" else "}"
        first = True
        while True:
            ch = skip_ws()
            if ch is None:
                raise WebShopDataError(f"{path}: truncated JSON (no closing {closer!r})")
            if ch == closer:
                return
            if not first:
                if ch != ",":
                    raise WebShopDataError(f"{path}: expected ',' or {closer!r}, found {ch!r}")
                pos += 1
                skip_ws()
            first = False
            if opener == "[":
                yield decode()
                continue
            key = decode()
            if not isinstance(key, str) or skip_ws() != ":":
                raise WebShopDataError(f"{path}: malformed object member near key {key!r}")
            pos += 1
            skip_ws()
            yield key, decode()


# -- cleaning ----------------------------------------------------------------------------------
def parse_pricing(raw: Any, where: str) -> tuple[list[float], str]:
    """``(pricing, price tag)`` from WebShop's price string, as ``load_products`` computes them."""
    if raw is None or raw == "" or raw == []:
        return [100.0], "$100.0"
    if not isinstance(raw, str):
        raise WebShopDataError(f"{where}: 'pricing' must be a '$...' string, got {raw!r}")
    try:
        prices = [float(Decimal(re.sub(r"[^\d.]", "", p))) for p in raw.split("$")[1:]]
    except InvalidOperation:
        raise WebShopDataError(f"{where}: cannot parse 'pricing' {raw!r}") from None
    if not prices:
        raise WebShopDataError(f"{where}: no '$' price in 'pricing' {raw!r}")
    if len(prices) == 1:
        return prices, f"${prices[0]}"
    return prices[:2], f"${prices[0]} to ${prices[1]}"


def clean_options(raw: Any, where: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    if not raw:
        return options
    if not isinstance(raw, dict):
        raise WebShopDataError(f"{where}: 'customization_options' must be an object, got {raw!r}")
    for name, contents in raw.items():
        if contents is None:
            continue
        try:
            values = [str(c["value"]).strip().replace("/", " | ").lower() for c in contents]
        except (TypeError, KeyError):
            raise WebShopDataError(
                f"{where}: option {name!r} must be a list of {{'value': ...}} objects"
            ) from None
        options[str(name).lower()] = values
    return options


_REQUIRED = ("asin", "name", "full_description", "small_description", "query", "category")


def clean_product(
    raw: dict[str, Any], attributes: dict[str, Any], human: dict[str, Any], where: str
) -> Product:
    """One raw product record -> :class:`Product` (WebShop's ``load_products`` cleaning)."""
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise WebShopDataError(f"{where}: missing field(s) {missing}")
    asin = str(raw["asin"])
    bullets = raw["small_description"]
    pricing, price_tag = parse_pricing(raw.get("pricing"), where)
    ann = attributes.get(asin)
    attrs = list(ann["attributes"]) if isinstance(ann, dict) and "attributes" in ann else []
    images = raw.get("images") or []
    return Product(
        asin=asin,
        name=str(raw["name"]),
        Title=str(raw["name"]),
        Description=str(raw["full_description"] or ""),
        BulletPoints=[str(b) for b in bullets] if isinstance(bullets, list) else [str(bullets)],
        Price=price_tag,
        pricing=pricing,
        options=clean_options(raw.get("customization_options"), where),
        Attributes=attrs or ["DUMMY_ATTR"],
        query=str(raw["query"]).lower().strip(),
        category=str(raw["category"]),
        product_category=str(raw.get("product_category") or ""),
        MainImage=str(images[0]) if images else None,
        instructions=list(human.get(asin, [])),
    )


# -- the catalog -------------------------------------------------------------------------------
@dataclass
class Catalog:
    """Products (in file order), their sampled prices and the shuffled human goals."""

    products: list[Product]
    by_asin: dict[str, Product]
    prices: dict[str, float]
    goals: list[Goal]
    label: str
    source: str

    def product(self, asin: str) -> Product:
        return self.by_asin[asin]


def _load_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise WebShopDataError(f"{path}: file not found")
    out: dict[str, Any] = {}
    for item in iter_json(path):
        if not isinstance(item, tuple):
            raise WebShopDataError(f"{path}: expected a JSON object keyed by asin")
        out[item[0]] = item[1]
    return out


def load_catalog(
    product_file: str | Path,
    attribute_file: str | Path,
    human_goal_file: str | Path,
    num_products: int | None = None,
    price_seed: int = 0,
    label: str = "webshop",
) -> Catalog:
    """Read WebShop's three files into a :class:`Catalog` (see the module docstring)."""
    product_file = Path(product_file)
    if not product_file.is_file():
        raise WebShopDataError(f"{product_file}: product file not found")
    attributes = _load_mapping(Path(attribute_file))
    human = _load_mapping(Path(human_goal_file))
    products: list[Product] = []
    seen: set[str] = set()
    for i, raw in enumerate(iter_json(product_file)):
        if num_products is not None and i >= num_products:
            break
        where = f"{product_file}: record {i}"
        if not isinstance(raw, dict):
            raise WebShopDataError(f"{where}: expected a product object")
        asin = str(raw.get("asin"))
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        products.append(clean_product(raw, attributes, human, where))
    if not products:
        raise WebShopDataError(f"{product_file}: no products")
    rng = random.Random(price_seed)
    prices = {p.asin: _sample_price(p.pricing, rng) for p in products}
    goals = human_goals(products, prices, rng)
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    log.info("webshop: %d products, %d goals from %s", len(products), len(goals), product_file)
    return Catalog(
        products=products,
        by_asin={p.asin: p for p in products},
        prices=prices,
        goals=goals,
        label=label,
        source=str(product_file),
    )


def _sample_price(pricing: list[float], rng: random.Random) -> float:
    if len(pricing) == 1:
        return pricing[0]
    return rng.uniform(*pricing[:2])


def human_goals(
    products: list[Product], prices: dict[str, float], rng: random.Random
) -> list[Goal]:
    """WebShop's ``get_human_goals``: one goal per human instruction with attributes."""
    goals = []
    for p in products:
        for ins in p.instructions:
            attrs = list(ins.get("instruction_attributes") or [])
            if not attrs:
                continue
            bound = sample_price_upper(prices[p.asin], rng)
            goals.append(
                Goal(
                    asin=p.asin,
                    instruction_text=str(ins["instruction"]).strip(".") + price_text(bound),
                    attributes=attrs,
                    goal_options=list(ins.get("instruction_options") or []),
                    price_upper=bound,
                    query=p.query,
                    category=p.category,
                    product_category=p.product_category,
                    name=p.name,
                )
            )
    return goals


def find_data_files(data_dir: str | Path, variant: str) -> tuple[Path, Path, Path]:
    """The (products, attributes, human goals) files of ``data_dir`` for ``variant``
    (``full``, ``1k`` or ``auto``: full if its file is there, else 1k)."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise WebShopDataError(f"paths.webshop_data={str(data_dir)!r} is not a directory")
    if variant == "auto":
        variant = "full" if (root / PRODUCT_FILES["full"]).is_file() else "1k"
    if variant not in PRODUCT_FILES:
        raise WebShopDataError(f"webshop variant={variant!r}: expected one of full, 1k, auto")
    files = (root / PRODUCT_FILES[variant], root / ATTRIBUTE_FILES[variant], root / HUMAN_GOAL_FILE)
    for f in files:
        if not f.is_file():
            raise WebShopDataError(
                f"{f}: missing; paths.webshop_data must hold WebShop's {PRODUCT_FILES[variant]}, "
                f"{ATTRIBUTE_FILES[variant]} and {HUMAN_GOAL_FILE} (see README, WebShop section)"
            )
    return files


def mini_catalog_dir() -> Path:
    """The bundled mini catalog (``arm_exp/data/webshop/mini``): NOT WebShop's data."""
    return Path(str(resources.files("arm_exp.data").joinpath("webshop/mini")))


def load_index_list(name: str) -> list[int]:
    """ETO's goal index lists shipped in ``arm_exp/data/webshop/<name>.json``."""
    text = resources.files("arm_exp.data").joinpath(f"webshop/{name}.json").read_text("utf-8")
    return [int(x) for x in json.loads(text)]
