"""WebShop's file format: streaming, cleaning, human goals, splits, the bundled mini catalog."""

from __future__ import annotations

import json
import random

import pytest

from arm_exp.data.webshop import generate_mini
from arm_exp.envs.webshop_data import (
    GOAL_SHUFFLE_SEED,
    WebShopDataError,
    find_data_files,
    iter_json,
    load_catalog,
    load_index_list,
    make_product_goal,
    mini_catalog_dir,
    sample_price_upper,
)

# Records written from WebShop's documented schema (items_shuffle*.json), with the irregular
# cases its loader handles: a price range, a missing price, a bullet string instead of a list,
# an option value with "/", null options, an asin of "nan", an over-long asin and a duplicate.
PRODUCTS = [
    {
        "asin": "B078GWRC1J",
        "name": "Bright Citrus Deodorant by Earthy Co | Natural and Safe for Sensitive Skin, 3-Ounce",
        "full_description": "A gentle deodorant made with natural ingredients.",
        "small_description": ["ALUMINUM FREE: no harsh chemicals", "Lasts all day"],
        "pricing": "$10.99",
        "images": ["https://example.com/a.jpg", "https://example.com/b.jpg"],
        "customization_options": {
            "Scent": [{"value": "Bright Citrus", "image": None}, {"value": "Lavender/Mint"}],
            "Size": [{"value": " 3 Ounce (Pack of 1) ", "image": "https://example.com/s.jpg"}],
        },
        "query": " Deodorant ",
        "category": "beauty",
        "product_category": "Beauty & Personal Care › Personal Care › Deodorants",
        "brand": "Earthy Co",
        "product_information": {"weight": "3 ounces"},
    },
    {
        "asin": "B09QQP3356",
        "name": "Hair Extensions Clip In, 20 Inch",
        "full_description": "",
        "small_description": "Natural looking clip in extensions",
        "pricing": "$15.99 to $24.50",
        "images": ["https://example.com/h.jpg"],
        "customization_options": None,
        "query": "hair extensions",
        "category": "beauty",
        "product_category": "Beauty & Personal Care › Hair Care › Hair Extensions",
    },
    {
        "asin": "nan",
        "name": "skipped",
        "full_description": "",
        "small_description": [],
        "pricing": "",
        "images": [],
        "customization_options": {},
        "query": "x",
        "category": "food",
        "product_category": "",
    },
    {
        "asin": "B0TOOLONGASIN",
        "name": "skipped",
        "full_description": "",
        "small_description": [],
        "pricing": "",
        "images": [],
        "customization_options": {},
        "query": "x",
        "category": "food",
        "product_category": "",
    },
    {
        "asin": "B07SNACK01",
        "name": "Spicy Beef Jerky, 4 Ounce (Pack of 2)",
        "full_description": "Smoked beef jerky. Gluten free and shelf stable.",
        "small_description": ["High protein snack"],
        "pricing": "",
        "images": ["https://example.com/j.jpg"],
        "customization_options": {"Flavor Name": [{"value": "Smoked Peppered"}]},
        "query": "beef jerky",
        "category": "food",
        "product_category": "Grocery & Gourmet Food › Snack Foods › Jerky",
    },
]
PRODUCTS.append(dict(PRODUCTS[0], name="duplicate: skipped"))
ATTRIBUTES = {
    "B078GWRC1J": {"attributes": ["sensitive skin", "aluminum free"], "instruction": "x"},
    "B07SNACK01": {"attributes": ["gluten free", "shelf stable"]},
}
HUMAN = {
    "B078GWRC1J": [
        {
            "asin": "B078GWRC1J",
            "instruction": "i would like a 3 ounce bottle of bright citrus deodorant for sensitive skin.",
            "instruction_attributes": ["sensitive skin"],
            "instruction_options": ["bright citrus", "3 ounce (pack of 1)"],
        },
        {
            "asin": "B078GWRC1J",
            "instruction": "no attributes: skipped",
            "instruction_attributes": [],
        },
    ],
    "B09QQP3356": [
        {
            "asin": "B09QQP3356",
            "instruction": "i need a long clip-in hair extension which is natural looking",
            "instruction_attributes": ["natural looking", "long"],
            "instruction_options": [],
        }
    ],
    "B07SNACK01": [
        {
            "asin": "B07SNACK01",
            "instruction": "i need gluten free smoked peppered beef jerky",
            "instruction_attributes": ["gluten free"],
            "instruction_options": ["smoked peppered"],
        }
    ],
    "B0NOTLOADED": [{"asin": "B0NOTLOADED", "instruction": "x", "instruction_attributes": ["y"]}],
}


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(PRODUCTS, indent=2))
    (tmp_path / "items_ins_v2_1000.json").write_text(json.dumps(ATTRIBUTES))
    (tmp_path / "items_human_ins.json").write_text(json.dumps(HUMAN))
    return tmp_path


def _load(data_dir, **kw):
    return load_catalog(*find_data_files(data_dir, "auto"), **kw)


def test_loader_cleans_products_as_webshop_does(data_dir):
    cat = _load(data_dir)
    assert [p.asin for p in cat.products] == ["B078GWRC1J", "B09QQP3356", "B07SNACK01"]
    deo, hair, jerky = cat.products
    assert deo.Title == deo.name and deo.query == "deodorant"
    assert deo.options == {
        "scent": ["bright citrus", "lavender | mint"],
        "size": ["3 ounce (pack of 1)"],
    }
    assert deo.Price == "$10.99" and deo.pricing == [10.99] and cat.prices["B078GWRC1J"] == 10.99
    assert deo.Attributes == ["sensitive skin", "aluminum free"]
    assert (
        deo.MainImage == "https://example.com/a.jpg" and deo.Rating == "N.A." and deo.Reviews == []
    )
    assert hair.Price == "$15.99 to $24.5" and hair.pricing == [15.99, 24.5]
    assert 15.99 <= cat.prices["B09QQP3356"] <= 24.5
    assert hair.BulletPoints == ["Natural looking clip in extensions"] and hair.options == {}
    assert hair.Attributes == ["DUMMY_ATTR"]  # not annotated
    assert jerky.Price == "$100.0" and cat.prices["B07SNACK01"] == 100.0
    assert jerky.options == {"flavor name": ["smoked peppered"]}


def test_human_goals_follow_webshop(data_dir):
    cat = _load(data_dir, price_seed=3)
    # One goal per instruction with attributes, in product order, then shuffled with seed 233.
    rng = random.Random(3)
    prices = [10.99, rng.uniform(15.99, 24.5), 100.0]
    bounds = [sample_price_upper(p, rng) for p in prices]
    expected = [
        (
            "B078GWRC1J",
            "i would like a 3 ounce bottle of bright citrus deodorant for sensitive skin",
            bounds[0],
        ),
        ("B09QQP3356", "i need a long clip-in hair extension which is natural looking", bounds[1]),
        ("B07SNACK01", "i need gluten free smoked peppered beef jerky", bounds[2]),
    ]
    random.Random(GOAL_SHUFFLE_SEED).shuffle(expected)
    assert [(g.asin, g.price_upper) for g in cat.goals] == [(a, b) for a, _, b in expected]
    for g, (_, text, bound) in zip(cat.goals, expected, strict=True):
        assert g.instruction_text == f"{text}, and price lower than {bound:.2f} dollars"
    deo = next(g for g in cat.goals if g.asin == "B078GWRC1J")
    assert deo.goal_options == ["bright citrus", "3 ounce (pack of 1)"] and deo.query == "deodorant"
    assert deo.name == PRODUCTS[0]["name"] and deo.category == "beauty"
    # Same seed, same goals; the bound is the larger of two of the four grid prices above.
    assert [g.to_dict() for g in _load(data_dir, price_seed=3).goals] == [
        g.to_dict() for g in cat.goals
    ]
    assert bounds[0] in (20.0, 30.0, 40.0, 50.0) and bounds[0] > 10.99


def test_price_bound_grid_edges():
    rng = random.Random(0)
    assert sample_price_upper(985.0, rng) == 1000000.0  # fewer than two grid prices above
    assert sample_price_upper(975.0, rng) == 990.0  # {980, 990}: the larger
    for _ in range(50):
        assert sample_price_upper(12.0, rng) in (30.0, 40.0, 50.0)


def test_num_products_limits_raw_records(data_dir):
    assert [p.asin for p in _load(data_dir, num_products=3).products] == [
        "B078GWRC1J",
        "B09QQP3356",
    ]


def test_streaming_equals_json_load_at_any_chunk_size(tmp_path):
    data = [{"a": [1, 2.5, "x]y", {"k": None}]}, {"b": '€ ünïcode \\ " ,'}, {}, {"n": 12345}]
    path = tmp_path / "f.json"
    path.write_text(" \n" + json.dumps(data, indent=1) + "\n")
    for chunk in (1, 2, 3, 7, 64, 1 << 20):
        assert list(iter_json(path, chunk_chars=chunk)) == data
    obj = {"x": [1, 2], "y": {"z": "w"}}
    path.write_text(json.dumps(obj))
    assert dict(iter_json(path, chunk_chars=3)) == obj


@pytest.mark.parametrize("text", ['[{}, {"a": 1}', "[{}} ", '[{"a": }]', "42", "[1 2]"])
def test_malformed_json_names_the_file(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(WebShopDataError, match="bad.json"):
        list(iter_json(path, chunk_chars=4))


def test_bad_records_and_missing_files_fail_with_clear_errors(tmp_path, data_dir):
    with pytest.raises(WebShopDataError, match="is not a directory"):
        find_data_files(tmp_path / "nope", "auto")
    (data_dir / "items_human_ins.json").unlink()
    with pytest.raises(WebShopDataError, match="items_human_ins.json: missing"):
        find_data_files(data_dir, "1k")
    with pytest.raises(WebShopDataError, match="variant='2k'"):
        find_data_files(data_dir, "2k")
    (data_dir / "items_human_ins.json").write_text("{}")
    bad = [dict(PRODUCTS[0], pricing="$abc")]
    (data_dir / "items_shuffle_1000.json").write_text(json.dumps(bad))
    with pytest.raises(WebShopDataError, match=r"record 0: cannot parse 'pricing'"):
        _load(data_dir)
    (data_dir / "items_shuffle_1000.json").write_text(json.dumps([{"asin": "B0X"}]))
    with pytest.raises(WebShopDataError, match=r"record 0: missing field\(s\)"):
        _load(data_dir)


def test_product_goal_for_synthesis(data_dir):
    cat = _load(data_dir)
    deo = cat.products[0]
    g = make_product_goal(
        deo, "i want a citrus deodorant.", ["aluminum free"], {"scent": "bright citrus"}, 20.0
    )
    assert g.instruction_text == "i want a citrus deodorant, and price lower than 20.00 dollars"
    assert g.option_values() == ["bright citrus"] and g.source == "synthetic" and g.asin == deo.asin
    sampled = make_product_goal(deo, "x", ["a"], [], price=10.99, rng=random.Random(0))
    assert sampled.price_upper in (20.0, 30.0, 40.0, 50.0)
    with pytest.raises(ValueError, match="at least one attribute"):
        make_product_goal(deo, "x", [], [], 20.0)


def test_eto_index_lists_ship_with_the_package():
    test, test500, train = (
        load_index_list(n) for n in ("test_indices", "test_indices_500", "train_indices")
    )
    assert (len(test), len(test500), len(train)) == (200, 500, 1824)
    # Facts of the shipped lists (reported, not fixed): the 500-goal test list is disjoint from
    # the train list, the 200-goal one shares 21 goals with it, and one train index repeats.
    assert not set(test500) & set(train) and len(set(test) & set(train)) == 21
    assert len(set(train)) == 1823


def test_mini_catalog_is_generated_by_the_seeded_script(tmp_path):
    written = generate_mini.write(tmp_path)
    for path in written:
        assert path.read_bytes() == (mini_catalog_dir() / path.name).read_bytes(), path.name


def test_mini_catalog_loads_in_webshop_format():
    cat = load_catalog(*find_data_files(mini_catalog_dir(), "full"), label="webshop_mini")
    assert len(cat.products) == 360 and len(cat.goals) >= 700
    assert {p.category for p in cat.products} == {
        "beauty",
        "electronics",
        "fashion",
        "food",
        "furniture",
    }
    assert any(p.Attributes == ["DUMMY_ATTR"] for p in cat.products)
    assert any(len(p.pricing) == 2 for p in cat.products) and any(
        p.Price == "$100.0" for p in cat.products
    )
    assert all(g.asin in cat.by_asin and g.attributes for g in cat.goals)
    options = {v for p in cat.products for vs in p.options.values() for v in vs}
    assert all(set(g.goal_options) <= options for g in cat.goals)
