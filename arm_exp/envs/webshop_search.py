"""WebShop's search engine: BM25 over product documents, with ``bm25s``.

WebShop indexes each product as ``"<title> <description> <first bullet point> <options>"``
lower-cased (``search_engine/convert_product_file_format.py``) with pyserini's Lucene defaults
(English analyzer: standard tokenizer, Lucene's English stop words, Porter stemming; BM25 with
k1 = 0.9, b = 0.4) and returns the top 50 hits. Here the same documents go to ``bm25s`` with
Lucene's BM25 variant and the same k1, b, stop words and (original) Porter stemmer (PyStemmer).
The tokenizer approximates Lucene's StandardTokenizer (runs of letters and digits, keeping
``3.5`` and ``o'neil``, dropping a possessive ``'s``), so rankings can differ from pyserini's in
rare ties and tokenisation corner cases. Ties are broken by catalog order, so results are
deterministic.

The index is built once and cached on disk under ``<cache_dir>/webshop_bm25/<key>/``, where the
key hashes every indexed document with the analyzer and BM25 settings: a changed catalog gets
a new index, an unchanged one loads in a fraction of the build time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from arm_exp.envs.webshop_data import Product

log = logging.getLogger(__name__)

SEARCH_RETURN_N = 50
ANALYZER_VERSION = "lucene-like-v1"
# Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
LUCENE_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "  # noqa: SIM905
    "there these they this to was will with".split()
)
_TOKEN = re.compile(r"[^\W_]+(?:[.'’][^\W_]+)*")


def product_document(p: Product) -> str:
    """The text WebShop indexes for a product."""
    option_text = ", and ".join(
        f"{name}: {', '.join(values)}" for name, values in p.options.items()
    )
    first_bullet = p.BulletPoints[0] if p.BulletPoints else ""
    return " ".join([p.Title, p.Description, first_bullet, option_text]).lower()


class Analyzer:
    """Lower-case, tokenize, drop Lucene's English stop words, Porter-stem (PyStemmer)."""

    def __init__(self) -> None:
        try:
            import Stemmer
        except ImportError as e:
            raise ImportError(
                "WebShop search needs the `webshop` extra: pip install -e '.[webshop]' "
                "(bm25s, PyStemmer, rapidfuzz)"
            ) from e
        self._stemmer = Stemmer.Stemmer("porter")

    def __call__(self, text: str) -> list[str]:
        tokens = []
        for tok in _TOKEN.findall(text.lower()):
            for possessive in ("'s", "’s"):
                tok = tok.removesuffix(possessive)
            if tok and tok not in LUCENE_STOPWORDS:
                tokens.append(tok)
        return self._stemmer.stemWords(tokens)


class BM25Search:
    """Top-50 BM25 search over a catalog's products; the index is cached on disk.

    Args:
        products: the catalog, in order (ties rank earlier products first).
        cache_dir: where indexes are cached (``${paths.cache_dir}``); None builds in memory.
        k1, b: BM25 parameters (pyserini's defaults).
        top_k: hits returned (WebShop: 50).
        query_cache: recent queries whose results are kept (search is deterministic).
    """

    def __init__(
        self,
        products: list[Product],
        cache_dir: str | Path | None = None,
        k1: float = 0.9,
        b: float = 0.4,
        top_k: int = SEARCH_RETURN_N,
        query_cache: int = 4096,
    ) -> None:
        self.ids = [p.asin for p in products]
        self.k1 = k1
        self.b = b
        self.top_k = top_k
        self._analyzer = Analyzer()
        self._cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = query_cache
        self.stats: dict[str, float] = {"index_build_s": 0.0, "index_load_s": 0.0}
        docs = [product_document(p) for p in products]
        self.key = self._key(docs)
        self.index_dir: Path | None = None
        if cache_dir is not None:
            self.index_dir = Path(cache_dir) / "webshop_bm25" / self.key
        self._retriever = self._load_or_build(docs)

    def _key(self, docs: list[str]) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps([ANALYZER_VERSION, self.k1, self.b]).encode())
        for asin, doc in zip(self.ids, docs, strict=True):
            h.update(asin.encode())
            h.update(b"\0")
            h.update(doc.encode())
            h.update(b"\1")
        return h.hexdigest()

    def _load_or_build(self, docs: list[str]) -> Any:
        import bm25s

        if self.index_dir is not None and (self.index_dir / "ids.json").is_file():
            t0 = time.perf_counter()
            retriever = bm25s.BM25.load(str(self.index_dir), mmap=False, show_progress=False)
            ids = json.loads((self.index_dir / "ids.json").read_text(encoding="utf-8"))
            if ids != self.ids:
                raise RuntimeError(
                    f"{self.index_dir}: cached index lists other products; delete it to rebuild"
                )
            self.stats["index_load_s"] = time.perf_counter() - t0
            log.info(
                "webshop: loaded BM25 index %s (%.2fs)", self.index_dir, self.stats["index_load_s"]
            )
            return retriever
        t0 = time.perf_counter()
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        retriever.index([self._analyzer(d) for d in docs], show_progress=False)
        self.stats["index_build_s"] = time.perf_counter() - t0
        log.info(
            "webshop: built BM25 index over %d products (%.2fs)",
            len(docs),
            self.stats["index_build_s"],
        )
        if self.index_dir is not None:
            self._save(retriever)
        return retriever

    def _save(self, retriever: Any) -> None:
        assert self.index_dir is not None
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.index_dir.parent))
        try:
            retriever.save(str(tmp), show_progress=False)
            (tmp / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
            os.replace(tmp, self.index_dir)
        except OSError:
            # Another process saved the same index first: theirs is identical, keep it.
            if not (self.index_dir / "ids.json").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def search(self, query: str) -> tuple[str, ...]:
        """The asins of the top hits for ``query`` (at most ``top_k``; documents sharing no
        term with the query are not hits, as in Lucene).

        Thread-safe: the envs of a pool share one index, and ``plan`` may run them in threads
        (the query cache and PyStemmer's stemmer are not safe to share; a search takes ~0.1 ms).
        """
        with self._lock:
            hit = self._cache.get(query)
            if hit is not None:
                self._cache.move_to_end(query)
                return hit
            result = self._search(query)
            self._cache[query] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return result

    def _search(self, query: str) -> tuple[str, ...]:
        import numpy as np

        tokens = self._analyzer(query)
        if not tokens:
            return ()
        scores = self._retriever.get_scores(tokens)
        idx = np.flatnonzero(scores > 0)
        if len(idx) > 4 * self.top_k:
            # Keep everything at or above the k-th best score (ties included), then sort.
            kth = np.partition(scores[idx], len(idx) - self.top_k)[len(idx) - self.top_k]
            idx = idx[scores[idx] >= kth]
        order = np.lexsort((idx, -scores[idx]))[: self.top_k]
        return tuple(self.ids[i] for i in idx[order])
