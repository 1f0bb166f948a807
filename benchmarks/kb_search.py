"""Knowledge-base search and suggestions over 5,000 articles, server side, next to the floor.

Generates articles from a realistic vocabulary (a few hundred product and support words
plus a long tail of rarer ones, drawn with a Zipf-like skew, so some words are in most
articles and most words in few), then runs 200 queries of 1-3 words (some cut short,
as prefixes are typed) through ``kb.search`` and ``kb.suggest`` on a reading session of
the desk's ``Database``, and ``SELECT 1`` through the same layer as the floor. SQLite
always; PostgreSQL too when its binaries are here (a throw-away server, as the tests
start one). Target (issue 11): p99 <= 20 ms. The machine's load average is printed
with the figures (other work on the machine shows in the p99).

The articles and the query mix are the same since the benchmark was written; the
search changed (articles with every word first, the last word as a prefix). The mix
still holds the costly cases: a single common word or short prefix matches up to
half the articles, all ranked (33 of the 200 queries match over 1,000 articles with
every word), and 36 of them (a common word with a rare one, a word no article has in
full) find fewer than ten articles with every word, so the articles with some of the
words (1,300-3,600 of them) are ranked as well.

Beside the mix, and not part of the issue's target, ``suggest`` is also measured on
100 briefs of 5-12 words (function words among them, the last word cut short in
40 %), since that is what the tray sends while a customer types: hardly any article
has every word of a brief, so nearly every brief ranks the articles with some of its
words, most of the 5,000.

    .venv/bin/python benchmarks/kb_search.py [--articles 5000] [--queries 200] [--no-postgres]

Other benchmarks can call :func:`fill_articles` and :func:`make_queries`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from vxassist.desk import kb
from vxassist.desk.db import Database, upgrade
from vxassist.desk.models import KbArticle


def _words(line: str) -> list[str]:
    return line.split()


#: English function words: the most frequent in any text, rarely typed into a search
FUNCTION = _words(
    "the of and to a in is it you that for on was with as be this are or not by at from "
    "but have an they which one can all there when if will do so no what up out about "
    "then them these would into has more her two like him see time could may first way "
    "been who its now find any new most only after other some very just also should"
)
COMMON = _words(
    "recording calls call server license avaya cisco mitel panasonic smdr cdr trunk "
    "extension report database backup restore service agent install upgrade patch "
    "windows sql network port firewall certificate error missing slow login password "
    "user queue voicemail playback export archive disk storage channel codec sip "
    "gateway timeout restart configure settings version update screen dashboard "
    "alarm schedule retention encryption audio quality lost dropped duplicate time "
    "zone clock sync email notification printer browser client console log file"
)
_SYLLABLES = _words("ka lo mi ne ra so tu ve xi ba ce di fo gu ha je ki lu mo nu pe qui re sa ti")


def vocabulary(rng: random.Random, rare: int = 6000) -> list[str]:
    """Function words first (most frequent), then the support words, then a long tail of
    made-up rarer words; with Zipf weights this gives text whose word frequencies look like
    English, where a support word is in a good share of articles but not in nearly all."""
    tail: set[str] = set()
    while len(tail) < rare:
        tail.add("".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))))
    return list(FUNCTION) + list(COMMON) + sorted(tail - set(FUNCTION) - set(COMMON))


def _zipf_weights(n: int) -> list[float]:
    return [1.0 / (rank + 1) ** 1.05 for rank in range(n)]


def make_articles(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = _zipf_weights(len(words))
    now = datetime.now(UTC)
    rows = []
    for _ in range(count):
        title = " ".join(rng.choices(words, weights, k=rng.randint(3, 8))).capitalize()
        paragraphs = [
            " ".join(rng.choices(words, weights, k=rng.randint(30, 90)))
            for _ in range(rng.randint(2, 6))
        ]
        rows.append(
            {
                "title": title,
                "body": ".\n\n".join(paragraphs) + ".",
                "tags": rng.sample(COMMON[:20], 2),
                "versions": ["7.2"],
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def fill_articles(db: Database, count: int, seed: int = 11) -> None:
    """``count`` generated articles (the database's triggers or columns index them)."""
    rows = make_articles(count, seed)
    with db.writing() as session:
        for start in range(0, len(rows), 500):
            session.execute(insert(KbArticle), rows[start : start + 500])


def make_queries(count: int, seed: int = 5) -> list[str]:
    """Queries of 1-3 words as people type them: support words (common ones most often)
    and rarer ones, no function words, the last word cut short in 40 % of them."""
    rng = random.Random(seed)
    words = vocabulary(random.Random(11))[len(FUNCTION) :]
    weights = _zipf_weights(len(words))
    out = []
    for _ in range(count):
        picked = rng.choices(words, weights, k=rng.randint(1, 3))
        if rng.random() < 0.4:  # the last word still being typed
            last = picked[-1]
            picked[-1] = last[: max(3, len(last) - rng.randint(1, 3))]
        out.append(" ".join(picked))
    return out


#: the row of suggestions for typed briefs
BRIEFS = "suggest (a brief)"


def make_briefs(count: int, seed: int = 7) -> list[str]:
    """Briefs of 5-12 words as the tray sends them while a customer types (suggestions):
    function words among the support and rarer words, the last word cut short in 40 %."""
    rng = random.Random(seed)
    vocab = vocabulary(random.Random(11))
    words = vocab[len(FUNCTION) :]
    weights = _zipf_weights(len(words))
    out = []
    for _ in range(count):
        picked = [
            rng.choice(FUNCTION) if rng.random() < 0.4 else rng.choices(words, weights)[0]
            for _ in range(rng.randint(5, 12))
        ]
        if rng.random() < 0.4:
            last = picked[-1]
            picked[-1] = last[: max(3, len(last) - rng.randint(1, 3))]
        out.append(" ".join(picked).capitalize())
    return out


def _timed(work: Callable[[str], Any], queries: list[str]) -> list[float]:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        work(q)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(
    db: Database, queries: list[str], briefs: list[str] | None = None, rounds: int = 3
) -> dict[str, list[float]]:
    """Milliseconds per call for search, suggest and SELECT 1 (and suggest for typed
    briefs when given), taken in turns."""

    def run(call: Callable[[Any, str], Any]) -> Callable[[str], Any]:
        def one(q: str) -> Any:
            with db.reading() as session:
                return call(session, q)

        return one

    kinds: dict[str, tuple[Callable[[str], Any], list[str]]] = {
        "floor (SELECT 1)": (run(lambda s, q: s.execute(text("SELECT 1")).all()), queries),
        "search (limit 10)": (run(lambda s, q: kb.search(s, q, 10)), queries),
        "suggest": (run(lambda s, q: kb.suggest(s, q)), queries),
    }
    if briefs:
        kinds[BRIEFS] = (run(lambda s, q: kb.suggest(s, q)), briefs)
    for work, asked in kinds.values():  # warm up: statements compiled, pages cached
        _timed(work, asked[:20])
    out: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(rounds):
        for name, (work, asked) in kinds.items():
            out[name] += _timed(work, asked)
    return out


def _load() -> str:
    try:
        return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load unknown"


def report(label: str, figures: dict[str, list[float]]) -> list[str]:
    lines = [f"{label} ({_load()})"]
    for name, times in figures.items():
        lines.append(
            f"  {name:<20} p50 {statistics.median(times):7.2f} ms   p99 {_p(times, 99):7.2f} ms"
        )
    # the target is for the query mix; typed briefs are shown beside it
    judged = [n for n in figures if not n.startswith("floor") and n != BRIEFS]
    worst = max(_p(figures[n], 99) for n in judged)
    lines.append(f"  target p99 <= 20 ms: {'MET' if worst <= 20 else 'MISSED'} ({worst:.1f} ms)")
    if BRIEFS in figures:
        brief = _p(figures[BRIEFS], 99)
        lines.append(f"  typed briefs, beside the target: p99 {brief:.1f} ms")
    return lines


def bench(url: str, articles: int, queries: list[str], briefs: list[str]) -> dict[str, list[float]]:
    upgrade(url)
    db = Database(url)
    try:
        t0 = time.perf_counter()
        fill_articles(db, articles)
        fill_s = time.perf_counter() - t0
        if db.dialect == "postgresql":
            with db.writing() as session:
                session.execute(text("ANALYZE kb_articles"))
        print(f"{db.dialect}: {articles} articles in {fill_s:.1f} s", file=sys.stderr)
        return measure(db, queries, briefs)
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    queries = make_queries(args.queries)
    briefs = make_briefs(args.queries // 2)
    with tempfile.TemporaryDirectory(prefix="vx-kb-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'kb.sqlite3'}"
        print("\n".join(report("SQLite", bench(url, args.articles, queries, briefs))))
    if args.no_postgres:
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fixtures.postgres import PostgresUnavailable, running_postgres

    try:
        with running_postgres() as server:
            url = server.fresh_database()
            print("\n".join(report("PostgreSQL", bench(url, args.articles, queries, briefs))))
    except PostgresUnavailable as exc:
        print(f"PostgreSQL: not measured ({exc})")


if __name__ == "__main__":
    main()
