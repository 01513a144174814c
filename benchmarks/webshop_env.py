"""WebShop env costs on this machine: step latency (search, click) and BM25 index build time.

    python benchmarks/webshop_env.py [--episodes 200] [--tiny]

Runs on the bundled MINI catalog (not WebShop's data). The 1k figure builds an index over 1,000
synthetic documents of WebShop-like length (mini product texts concatenated to ~``--words``
words: title + description + first bullet + options of WebShop's items run to a few hundred
words), so it is an estimate, not a measurement on WebShop's items_shuffle_1000.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace

from benchlib import result, tiny_arg

from arm_exp.envs.webshop import WebShopEnv
from arm_exp.envs.webshop_search import BM25Search, product_document


def _ms(xs: list[float]) -> str:
    return f"mean {1e3 * statistics.fmean(xs):.2f} ms, p50 {1e3 * statistics.median(xs):.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--words", type=int, default=250)
    tiny_arg(ap)
    args = ap.parse_args()
    if args.tiny:
        args.episodes, args.words = 5, 20
    env = WebShopEnv(cache_dir=None)
    cat = env.catalog
    words = [len(product_document(p).split()) for p in cat.products]

    t0 = time.perf_counter()
    BM25Search(cat.products, cache_dir=None)
    mini_build = time.perf_counter() - t0  # bm25s is imported by now: time a second build
    t0 = time.perf_counter()
    BM25Search(cat.products, cache_dir=None)
    mini_build = time.perf_counter() - t0
    print(
        f"index build, mini ({len(cat.products)} products, {statistics.fmean(words):.0f} words/doc): {mini_build:.3f} s"
    )

    rng = random.Random(0)
    fake = []
    for i in range(1000):
        base = rng.choice(cat.products)
        text = base.Description
        while len(text.split()) < args.words:
            text += " " + rng.choice(cat.products).Description
        fake.append(replace(base, asin=f"B{i:09d}", Description=text))
    t0 = time.perf_counter()
    BM25Search(fake, cache_dir=None)
    k_build = time.perf_counter() - t0
    per_word = mini_build / sum(words)
    linear = per_word * 1000 * args.words
    print(
        f"index build, 1k synthetic products of ~{args.words} words: {k_build:.3f} s measured, "
        f"{linear:.3f} s linear extrapolation from mini"
    )

    search, click = [], []
    for k in range(args.episodes):
        env.reset(str(k % len(cat.goals)))
        query = env.valid_actions()[0]
        t0 = time.perf_counter()
        env.step(query)
        search.append(time.perf_counter() - t0)
        for _ in range(6):
            acts = env.valid_actions()
            if not acts:
                break
            a = rng.choice([x for x in acts if x != "click[buy now]"] or acts)
            t0 = time.perf_counter()
            env.step(a)
            click.append(time.perf_counter() - t0)
    print(f"step latency, search (uncached query, {len(search)}): {_ms(search)}")
    print(f"step latency, click ({len(click)}): {_ms(click)}")
    t0 = time.perf_counter()
    for _ in range(200):
        env.engine.search("bedspread set lightweight")
    print(f"search, repeated query (LRU hit): {1e6 * (time.perf_counter() - t0) / 200:.1f} us")
    result("webshop_env_search_ms", 1e3 * statistics.median(search), "none", "ms")
    result("webshop_env_click_ms", 1e3 * statistics.median(click), "none", "ms")
    result("webshop_env_index_build_1k_s", k_build, "none", "s")


if __name__ == "__main__":
    main()
