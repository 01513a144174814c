"""Generate the bundled WebShop MINI catalog: ``python -m arm_exp.data.webshop.generate_mini``.

NOT WebShop's data. WebShop's product files cannot be downloaded here, so tests and CPU demos
run on this small, made-up catalog written in WebShop's exact file format (``items_shuffle.json``,
``items_ins_v2.json``, ``items_human_ins.json``): 360 products in WebShop's five categories (six
product types each), with annotated attributes, customization options, prices (single, ranges
and missing) and two human-style instructions per product (1-3 attributes, 0-2 options), plus
the irregular records WebShop's loader must skip (an ``nan`` asin and a duplicate). Every choice
comes from one seeded ``random.Random``, so the output is byte-identical on every run; a test
regenerates it and compares. Numbers measured on it are not WebShop numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from pathlib import Path
from typing import Any

SEED = 20250211
PRODUCTS_PER_TYPE = 12
GOALS_PER_PRODUCT = 2
OUT = Path(__file__).resolve().parent / "mini"

# (category, query, category path, title nouns, attributes, options, price range, uses)
TYPES: list[dict[str, Any]] = [
    # -- beauty
    dict(
        cat="beauty",
        query="shampoo",
        path="Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos",
        noun="Shampoo",
        attrs=[
            "sulfate free",
            "paraben free",
            "cruelty free",
            "dry hair",
            "color treated hair",
            "natural ingredients",
            "tea tree",
            "argan oil",
            "long lasting",
        ],
        options={
            "Size": [
                "8 Fl Oz (Pack of 1)",
                "16 Fl Oz (Pack of 1)",
                "16 Fl Oz (Pack of 2)",
                "33.8 Fl Oz",
            ],
            "Scent": ["Coconut", "Lavender", "Citrus", "Unscented"],
        },
        price=(7, 38),
        use="gently cleans the scalp and leaves hair soft",
    ),
    dict(
        cat="beauty",
        query="face moisturizer",
        path="Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers › Face Moisturizers",
        noun="Face Moisturizer",
        attrs=[
            "sensitive skin",
            "fragrance free",
            "hyaluronic acid",
            "oil free",
            "spf 30",
            "anti aging",
            "vegan",
            "fine lines",
        ],
        options={"Size": ["1.7 Ounce", "2.5 Ounce", "3.4 Ounce"]},
        price=(11, 55),
        use="hydrates all day without a greasy feel",
    ),
    dict(
        cat="beauty",
        query="lipstick",
        path="Beauty & Personal Care › Makeup › Lips › Lipstick",
        noun="Lipstick",
        attrs=[
            "long lasting",
            "matte finish",
            "cruelty free",
            "moisturizing",
            "vitamin e",
            "waterproof",
            "highly pigmented",
        ],
        options={"Color": ["Ruby Red", "Nude Pink", "Berry", "Coral", "Mauve/Brown"]},
        price=(5, 29),
        use="glides on smoothly with rich color",
    ),
    dict(
        cat="beauty",
        query="hair extensions",
        path="Beauty & Personal Care › Hair Care › Hair Extensions, Wigs & Accessories › Hair Extensions",
        noun="Clip in Hair Extensions",
        attrs=[
            "natural looking",
            "clip in",
            "heat resistant",
            "human hair",
            "easy to apply",
            "long lasting",
            "synthetic hair",
        ],
        options={
            "Color": ["Jet Black", "Dark Brown", "Ash Blonde", "Auburn"],
            "Size": ["16 Inch", "20 Inch", "24 Inch"],
        },
        price=(14, 80),
        use="blends with your own hair in minutes",
    ),
    dict(
        cat="beauty",
        query="nail polish",
        path="Beauty & Personal Care › Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
        noun="Nail Polish Set",
        attrs=[
            "quick dry",
            "non toxic",
            "long lasting",
            "gel polish",
            "cruelty free",
            "easy to apply",
            "high gloss",
        ],
        options={
            "Color": ["Classic Red", "Pastel Mix", "Glitter Silver", "Navy Blue"],
            "Size": ["Pack of 6", "Pack of 12"],
        },
        price=(6, 32),
        use="gives a salon finish at home",
    ),
    dict(
        cat="beauty",
        query="deodorant",
        path="Beauty & Personal Care › Personal Care › Deodorants & Antiperspirants › Deodorants",
        noun="Deodorant",
        attrs=[
            "aluminum free",
            "sensitive skin",
            "natural ingredients",
            "long lasting",
            "baking soda free",
            "travel size",
            "vegan",
        ],
        options={
            "Scent": ["Bright Citrus", "Lavender", "Cedar & Sage", "Unscented"],
            "Size": ["2.65 Ounce", "3 Ounce (Pack of 1)", "3 Ounce (Pack of 2)"],
        },
        price=(6, 26),
        use="keeps you fresh from morning to night",
    ),
    # -- electronics
    dict(
        cat="electronics",
        query="wireless earbuds",
        path="Electronics › Headphones, Earbuds & Accessories › Earbuds",
        noun="Wireless Earbuds",
        attrs=[
            "noise cancelling",
            "bluetooth 5.3",
            "long battery life",
            "water resistant",
            "charging case",
            "built in microphone",
            "fast charging",
        ],
        options={"Color": ["Black", "White", "Navy Blue", "Rose Gold"]},
        price=(19, 149),
        use="deliver clear sound for calls and music",
    ),
    dict(
        cat="electronics",
        query="usb microphone",
        path="Electronics › Computers & Accessories › Computer Accessories & Peripherals › Audio & Video Accessories › Computer Microphones",
        noun="USB Microphone",
        attrs=[
            "noise cancelling",
            "plug and play",
            "cardioid pattern",
            "mute button",
            "tripod stand",
            "high quality",
            "gain control",
        ],
        options={"Color": ["Black", "White", "Red"]},
        price=(22, 129),
        use="records crisp voice for streaming and meetings",
    ),
    dict(
        cat="electronics",
        query="phone charger",
        path="Electronics › Cell Phones & Accessories › Accessories › Chargers & Power Adapters › Wall Chargers",
        noun="Fast Charger Block",
        attrs=[
            "fast charging",
            "usb c",
            "dual port",
            "compact design",
            "overheat protection",
            "foldable plug",
            "gan technology",
        ],
        options={"Size": ["20W", "35W", "65W"], "Color": ["White", "Black"]},
        price=(9, 49),
        use="charges a phone and a tablet at once",
    ),
    dict(
        cat="electronics",
        query="bluetooth speaker",
        path="Electronics › Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers",
        noun="Portable Bluetooth Speaker",
        attrs=[
            "waterproof",
            "long battery life",
            "stereo sound",
            "deep bass",
            "built in microphone",
            "easy to carry",
            "usb charging",
        ],
        options={"Color": ["Black", "Blue", "Teal", "Orange"]},
        price=(18, 119),
        use="fills a room with full sound",
    ),
    dict(
        cat="electronics",
        query="hdmi cable",
        path="Electronics › Television & Video › Accessories › Cables › HDMI Cables",
        noun="HDMI Cable",
        attrs=[
            "high speed",
            "4k resolution",
            "gold plated",
            "braided cord",
            "ethernet support",
            "dolby vision",
        ],
        options={"Size": ["3 ft", "6 ft", "10 ft", "15 ft"], "Style": ["Single", "2 Pack"]},
        price=(6, 35),
        use="connects a console or laptop to a tv",
    ),
    dict(
        cat="electronics",
        query="tv remote control",
        path="Electronics › Television & Video › Accessories › Remote Controls",
        noun="Replacement Remote Control",
        attrs=[
            "batteries included",
            "no programming",
            "smart tv",
            "backlit buttons",
            "easy to use",
            "voice control",
        ],
        options={"Style": ["Standard", "Backlit"]},
        price=(7, 29),
        use="works out of the box with most sets",
    ),
    # -- fashion
    dict(
        cat="fashion",
        query="running shoes",
        path="Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running",
        noun="Running Shoes",
        attrs=[
            "rubber sole",
            "non slip",
            "lightweight",
            "arch support",
            "breathable mesh",
            "memory foam",
            "wide toe box",
        ],
        options={
            "Color": ["Black/White", "Grey", "Navy", "Red"],
            "Size": ["7", "8", "9", "10", "11", "12"],
        },
        price=(29, 129),
        use="cushion every stride on road and track",
    ),
    dict(
        cat="fashion",
        query="t-shirt",
        path="Clothing, Shoes & Jewelry › Women › Clothing › Tops, Tees & Blouses › T-Shirts",
        noun="Crew Neck T-Shirt",
        attrs=[
            "short sleeve",
            "machine wash",
            "cotton blend",
            "relaxed fit",
            "soft fabric",
            "tagless",
            "long sleeve",
        ],
        options={
            "Color": ["White", "Black", "Heather Grey", "Olive Green", "Dusty Pink"],
            "Size": ["Small", "Medium", "Large", "X-Large", "XX-Large"],
        },
        price=(8, 34),
        use="is soft enough for every day",
    ),
    dict(
        cat="fashion",
        query="sweatpants",
        path="Clothing, Shoes & Jewelry › Men › Clothing › Active › Active Pants › Sweatpants",
        noun="Jogger Sweatpants",
        attrs=[
            "relaxed fit",
            "elastic waist",
            "drawstring closure",
            "side pockets",
            "machine wash",
            "fleece lined",
            "tapered leg",
        ],
        options={
            "Color": ["Black", "Charcoal", "Navy", "Khaki"],
            "Size": ["Small", "Medium", "Large", "X-Large", "XX-Large"],
        },
        price=(15, 49),
        use="keeps you warm on cool mornings",
    ),
    dict(
        cat="fashion",
        query="sandals",
        path="Clothing, Shoes & Jewelry › Women › Shoes › Sandals › Flat Sandals",
        noun="Flat Sandals",
        attrs=[
            "open toe",
            "rubber sole",
            "arch support",
            "ankle strap",
            "non slip",
            "memory foam",
            "vegan leather",
        ],
        options={
            "Color": ["Brown", "Black", "Tan", "Silver"],
            "Size": ["6", "7", "7.5", "8", "9", "10"],
        },
        price=(16, 69),
        use="stay comfortable through long summer walks",
    ),
    dict(
        cat="fashion",
        query="winter jacket",
        path="Clothing, Shoes & Jewelry › Women › Clothing › Coats, Jackets & Vests › Down Jackets & Parkas",
        noun="Puffer Jacket",
        attrs=[
            "water resistant",
            "detachable hood",
            "zipper closure",
            "warm lining",
            "machine wash",
            "packable",
            "windproof",
        ],
        options={
            "Color": ["Black", "Burgundy", "Olive", "Cream"],
            "Size": ["Small", "Medium", "Large", "X-Large"],
        },
        price=(39, 189),
        use="traps heat on the coldest days",
    ),
    dict(
        cat="fashion",
        query="baseball cap",
        path="Clothing, Shoes & Jewelry › Men › Accessories › Hats & Caps › Baseball Caps",
        noun="Baseball Cap",
        attrs=[
            "adjustable strap",
            "cotton twill",
            "sun protection",
            "breathable",
            "one size",
            "curved brim",
        ],
        options={"Color": ["Black", "Khaki", "Navy", "Red", "White"]},
        price=(8, 35),
        use="shades your eyes on sunny days",
    ),
    # -- food
    dict(
        cat="food",
        query="coffee beans",
        path="Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Whole Coffee Beans",
        noun="Whole Bean Coffee",
        attrs=[
            "medium roast",
            "dark roast",
            "single origin",
            "fair trade",
            "organic",
            "low acid",
            "decaf",
        ],
        options={
            "Size": ["12 Ounce (Pack of 1)", "2 Pound", "5 Pound"],
            "Flavor": ["Original", "Hazelnut", "Vanilla"],
        },
        price=(9, 69),
        use="brews a smooth and balanced cup",
    ),
    dict(
        cat="food",
        query="granola bars",
        path="Grocery & Gourmet Food › Snack Foods › Bars › Granola Bars",
        noun="Granola Bars",
        attrs=[
            "gluten free",
            "high protein",
            "low sugar",
            "non gmo",
            "individually wrapped",
            "vegan",
            "whole grain",
        ],
        options={
            "Flavor": ["Peanut Butter", "Dark Chocolate", "Honey Oat", "Mixed Berry"],
            "Size": ["12 Count", "24 Count"],
        },
        price=(6, 36),
        use="make an easy snack on the go",
    ),
    dict(
        cat="food",
        query="beef jerky",
        path="Grocery & Gourmet Food › Meat & Seafood › Jerky & Dried Meats › Beef Jerky",
        noun="Beef Jerky",
        attrs=[
            "high protein",
            "keto friendly",
            "gluten free",
            "grass fed",
            "no added sugar",
            "shelf stable",
            "low fat",
        ],
        options={
            "Flavor": ["Original", "Teriyaki", "Spicy Pepper", "Smoked Peppered"],
            "Size": ["2.85 Ounce", "8 Ounce", "4 Ounce (Pack of 2)"],
        },
        price=(7, 42),
        use="is slow smoked for a tender bite",
    ),
    dict(
        cat="food",
        query="herbal tea",
        path="Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Tea › Herbal",
        noun="Herbal Tea Bags",
        attrs=[
            "caffeine free",
            "organic",
            "non gmo",
            "individually wrapped",
            "sugar free",
            "kosher",
            "calming",
        ],
        options={
            "Flavor": ["Chamomile", "Peppermint", "Ginger Lemon", "Hibiscus"],
            "Size": ["20 Count", "40 Count", "20 Count (Pack of 6)"],
        },
        price=(4, 28),
        use="steeps into a soothing evening cup",
    ),
    dict(
        cat="food",
        query="crackers",
        path="Grocery & Gourmet Food › Snack Foods › Crackers",
        noun="Crackers",
        attrs=[
            "gluten free",
            "whole grain",
            "low sodium",
            "non gmo",
            "keto friendly",
            "shelf stable",
            "vegan",
        ],
        options={
            "Flavor": ["Sea Salt", "Cheddar", "Rosemary", "Everything"],
            "Size": ["4 Ounce", "8 Ounce (Pack of 3)"],
        },
        price=(3, 24),
        use="pair well with cheese and spreads",
    ),
    dict(
        cat="food",
        query="hot sauce",
        path="Grocery & Gourmet Food › Condiments & Salad Dressings › Hot Sauce",
        noun="Hot Sauce",
        attrs=[
            "extra hot",
            "no preservatives",
            "gluten free",
            "small batch",
            "vegan",
            "low sodium",
            "all natural",
        ],
        options={
            "Size": ["5 Fl Oz", "12 Fl Oz", "5 Fl Oz (Pack of 3)"],
            "Flavor": ["Habanero", "Chipotle", "Garlic"],
        },
        price=(4, 27),
        use="adds bright heat to any meal",
    ),
    # -- furniture
    dict(
        cat="furniture",
        query="ottoman bench",
        path="Home & Kitchen › Furniture › Living Room Furniture › Ottomans",
        noun="Storage Ottoman Bench",
        attrs=[
            "space saving",
            "faux leather",
            "easy assembly",
            "storage space",
            "living room",
            "tufted design",
            "solid wood legs",
        ],
        options={
            "Color": ["Grey", "Blue", "Beige", "Brown"],
            "Size": ["80x40x40cm", "100x45x45cm"],
        },
        price=(39, 179),
        use="adds seating and hidden storage",
    ),
    dict(
        cat="furniture",
        query="bookshelf",
        path="Home & Kitchen › Furniture › Home Office Furniture › Bookcases",
        noun="Bookshelf",
        attrs=[
            "easy assembly",
            "solid wood",
            "space saving",
            "industrial style",
            "living room",
            "anti tip",
            "5 tier",
        ],
        options={"Color": ["Rustic Brown", "White", "Black Oak"], "Size": ["3 Tier", "5 Tier"]},
        price=(35, 199),
        use="holds books, plants and decor",
    ),
    dict(
        cat="furniture",
        query="office chair",
        path="Home & Kitchen › Furniture › Home Office Furniture › Home Office Chairs › Desk Chairs",
        noun="Ergonomic Office Chair",
        attrs=[
            "lumbar support",
            "adjustable height",
            "mesh back",
            "easy assembly",
            "swivel wheels",
            "padded armrests",
            "high back",
        ],
        options={"Color": ["Black", "Grey", "White"]},
        price=(59, 299),
        use="keeps you comfortable through long work days",
    ),
    dict(
        cat="furniture",
        query="bedspread set",
        path="Home & Kitchen › Bedding › Quilts & Sets › Bedspreads & Coverlets",
        noun="Bedspread Set",
        attrs=[
            "machine washable",
            "all season",
            "soft microfiber",
            "queen size",
            "fade resistant",
            "lightweight",
        ],
        options={
            "Color": ["Redwood", "Ivory", "Sage", "Charcoal"],
            "Size": ["Twin", "Full/Queen", "King"],
        },
        price=(29, 129),
        use="dresses up the bed all year",
    ),
    dict(
        cat="furniture",
        query="coffee table",
        path="Home & Kitchen › Furniture › Living Room Furniture › Tables › Coffee Tables",
        noun="Coffee Table",
        attrs=[
            "living room",
            "easy assembly",
            "storage shelf",
            "tempered glass",
            "solid wood",
            "mid century",
            "lift top",
        ],
        options={"Color": ["Walnut", "White", "Black"]},
        price=(49, 249),
        use="anchors the living room",
    ),
    dict(
        cat="furniture",
        query="pillow cover",
        path="Home & Kitchen › Bedding › Decorative Pillows, Inserts & Covers › Throw Pillow Covers",
        noun="Throw Pillow Covers",
        attrs=[
            "hand painted",
            "hidden zipper",
            "machine washable",
            "soft velvet",
            "set of 2",
            "living room",
        ],
        options={
            "Color": ["Gingko Light", "Navy", "Mustard", "Blush Pink"],
            "Size": ["18x18 Inch", "20x20 Inch"],
        },
        price=(8, 39),
        use="refreshes a sofa or bed in seconds",
    ),
]

BRAND_A = [
    "Maple",
    "North",
    "Blue",
    "Silver",
    "Cedar",
    "Sunny",
    "Urban",
    "Pure",
    "Bright",
    "Happy",
    "Stone",
    "Golden",
    "River",
    "Lucky",
    "Misty",
]
BRAND_B = [
    "Peak",
    "Lane",
    "Craft",
    "Leaf",
    "Works",
    "Home",
    "Labs",
    "& Co",
    "Goods",
    "Bay",
    "Field",
    "Nest",
    "Studio",
    "Trail",
]
EXTRAS = [
    "Premium",
    "Classic",
    "Everyday",
    "Deluxe",
    "Essential",
    "Original",
    "Pro",
    "Ultra",
    "Signature",
]
OPENERS = [
    "i need",
    "i want",
    "im looking for",
    "i am looking for",
    "find me",
    "i would like",
    "can you find",
    "i want to buy",
    "search for",
    "get me",
]


def _asin(rng: random.Random, taken: set[str]) -> str:
    while True:
        a = "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))
        if a not in taken:
            taken.add(a)
            return a


def _price(rng: random.Random, low: float, high: float) -> str:
    r = rng.random()
    base = round(rng.uniform(low, high)) - 0.01
    if r < 0.04:
        return ""
    if r < 0.16:
        return f"${base:.2f} to ${base + rng.choice([3, 5, 8, 12]):.2f}"
    return f"${base:.2f}"


def _product(
    t: dict[str, Any], rng: random.Random, taken: set[str]
) -> tuple[dict[str, Any], list[str]]:
    attrs = rng.sample(t["attrs"], k=min(len(t["attrs"]), rng.randint(3, 5)))
    brand = f"{rng.choice(BRAND_A)} {rng.choice(BRAND_B)}"
    in_title = attrs[: rng.randint(1, 2)]
    spec = ", ".join(a.title() for a in in_title)
    title = f"{brand} {rng.choice(EXTRAS)} {t['noun']} - {spec}"
    options: dict[str, list[dict[str, str | None]]] = {}
    for name, values in t["options"].items():
        if rng.random() < 0.85:
            k = rng.randint(min(2, len(values)), len(values))
            picked = sorted(rng.sample(range(len(values)), k))
            options[name] = [{"value": values[i], "image": None} for i in picked]
    rest = [a for a in attrs if a not in in_title]
    asin = _asin(rng, taken)
    desc_attrs = rest[: len(rest) // 2]
    bullet_attrs = rest[len(rest) // 2 :]
    description = (
        f"The {brand} {t['noun'].lower()} {t['use']}."
        + "".join(
            rng.choice(
                [f" Made with {a} in mind.", f" Customers love the {a}.", f" Highlights: {a}."]
            )
            for a in desc_attrs
        )
        + f" Backed by {brand} customer care."
    )
    bullets = [f"{a.upper()}: designed with {a} in mind for daily use." for a in bullet_attrs]
    bullets += [f"WHAT YOU GET: one {t['noun'].lower()} and a friendly satisfaction guarantee."]
    record = {
        "asin": asin,
        "name": title,
        "full_description": description,
        "small_description": bullets if rng.random() < 0.9 else bullets[0],
        "pricing": _price(rng, *t["price"]),
        "images": [f"https://example.com/webshop-mini/{asin}.jpg"],
        "customization_options": options or None,
        "query": t["query"] if rng.random() < 0.9 else f"{rng.choice(attrs)} {t['query']}",
        "category": t["cat"],
        "product_category": t["path"],
        "brand": brand,
        "average_rating": round(rng.uniform(3.2, 4.9), 1),
        "total_reviews": rng.randint(0, 4000),
    }
    return record, attrs


def _instruction(t: dict[str, Any], rng: random.Random, attrs: list[str], opts: list[str]) -> str:
    head = f"{rng.choice(OPENERS)} {rng.choice(['a ', 'some ', 'a pack of ', ''])}{t['query']}"
    if len(attrs) == 1:
        body = rng.choice(
            [f"{head} that is {attrs[0]}", f"{head} with {attrs[0]}", f"{attrs[0]} {t['query']}"]
        )
        if body.startswith(attrs[0]):
            body = f"{rng.choice(OPENERS)} {body}"
    else:
        joined = ", ".join(attrs[:-1]) + f" and {attrs[-1]}"
        body = rng.choice(
            [
                f"{head} that is {joined}",
                f"{head}, it should be {joined}",
                f"{head} which is {joined}",
            ]
        )
    if opts:
        body += rng.choice(
            [", in ", " and i want it in ", ". pick the one in ", " with "]
        ) + " and ".join(opts)
    return body + rng.choice(["", ".", " please"])


def generate(seed: int = SEED) -> dict[str, Any]:
    """The three files' contents, as Python objects."""
    rng = random.Random(seed)
    taken: set[str] = set()
    products: list[dict[str, Any]] = []
    annotated: dict[str, Any] = {}
    human: dict[str, Any] = {}
    for t in TYPES:
        for _ in range(PRODUCTS_PER_TYPE):
            record, attrs = _product(t, rng, taken)
            products.append(record)
            if rng.random() < 0.97:  # a few products lack annotations: WebShop gives DUMMY_ATTR
                annotated[record["asin"]] = {"attributes": attrs}
            instructions = []
            for _ in range(GOALS_PER_PRODUCT):
                chosen = rng.sample(attrs, k=rng.randint(1, min(3, len(attrs))))
                opts: list[str] = []
                for vals in (record["customization_options"] or {}).values():
                    if len(opts) < 2 and rng.random() < 0.6:
                        opts.append(rng.choice(vals)["value"].replace("/", " | ").lower())
                text = _instruction(t, rng, chosen, opts)
                instructions.append(
                    {
                        "asin": record["asin"],
                        "instruction": text,
                        # ~2% of WebShop's instructions have no attributes and are skipped.
                        "instruction_attributes": chosen if rng.random() < 0.98 else [],
                        "instruction_options": opts,
                    }
                )
            human[record["asin"]] = instructions
    rng.shuffle(products)  # WebShop's file is items_*shuffle*
    # Records WebShop's loader drops: an asin of "nan" and a repeated product.
    junk = dict(products[0], asin="nan")
    products.insert(rng.randrange(len(products)), junk)
    products.append(dict(products[rng.randrange(len(products))]))
    return {
        "items_shuffle.json": products,
        "items_ins_v2.json": annotated,
        "items_human_ins.json": human,
    }


def write(out: Path = OUT, seed: int = SEED) -> list[Path]:
    """Write the catalog with one record per line (valid JSON, readable diffs)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate(seed).items():
        if isinstance(data, list):
            body = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in data) + "\n]\n"
        else:
            items = [
                f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items()
            ]
            body = "{\n" + ",\n".join(items) + "\n}\n"
        path = out / name
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    for p in write(args.out, args.seed):
        print(p)


if __name__ == "__main__":
    main()
