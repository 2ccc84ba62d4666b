"""Recommendations on MovieLens (ml-latest-small) with a temporal split, and serving latency.

Protocol (every rating is an implicit interaction, weight 1):

* Ratings are sorted by time; the split ``T`` is the 80% quantile of their timestamps. Train =
  ratings before ``T``.
* Each user with at least 2 ratings after ``T`` is an evaluation user: the first half of their
  test-period ratings (in time order) is *streamed*, the items of the second half that they had
  not rated before are the ground truth.
* popularity: the most rated train items the user has not rated (train + streamed).
* batch ALS (anchor, ``implicit`` CPU ALS, retrained at the split): factors fitted on train; a
  train user is ranked by their fitted factor with their rated items filtered
  (``implicit``'s ``recommend(..., filter_already_liked_items=True)`` given train + streamed
  items); a user the model never saw gets popularity (what a batch system serves them).
* ours: the recommend app end to end: train events streamed through its pipeline (embedded
  stream, kv, vectors), ``retrain`` at ``T`` (same ALS hyperparameters; its item factors are
  checked equal to the anchor's), then the streamed half of the test period goes through the
  pipeline, each event folding the user's vector in, and ``recommend`` answers (vector backend,
  seen exclusion, MMR, cold-start fill) with its defaults.

Claims (``ratio`` higher is better for us):
  recommend_ndcg10_vs_batch_als   ours nDCG@10 / batch ALS nDCG@10, goal 1.0
  recommend_ndcg10_vs_popularity  ours nDCG@10 / popularity nDCG@10, goal 2.0
  recommend_api_p99_ms_10k        p99 of GET /api/recommend/{user} (service, embedded backends,
                                  10k items, impressions recorded) vs the 10 ms budget
                                  (ratio = 10 / ours, goal 1.0)
Recall@10 and catalogue coverage of the three are printed as figures, and the check that ours
without MMR returns implicit's own top-10 (``recalculate_user=True``) for train users.
Two reference lines, not claims, show what other models reach on this split: EASE
(``--ease-lambda``) and popularity counted over only the last days before ``T``
(``--recent-days``), each with its setting chosen on ``--validation``.

Capacity settings changed from the defaults (none of them a model hyperparameter):
``profile_items=5000`` (MovieLens users have up to 2,698 ratings; the default keeps 500) and
``window_days=36500`` for the retraining at ``T`` (the data spans 22 years; the default window
is 7 days).

``--validation`` runs the quality part on the ratings before ``T`` only, split there the same
way (the test period is never read), and ``--set KEY=VALUE`` changes a ``[recommend]`` setting
(ALS ones for the anchor too): settings are chosen this way, never on the test split.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/recommend_ml.py [--only quality|latency]
     [--validation] [--set factors=128 ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.sparse import csr_matrix

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.model import AlsParams, als_model
from skybridge.apps.recommend.pipeline import drain_events
from skybridge.apps.recommend.profiles import in_model_space
from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Recommender, open_recommender
from skybridge.apps.recommend.training import retrain

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "movielens-small"
K = 10
Rating = tuple[str, str, float]


def context(home: Path, **env: str) -> AppContext[Any]:
    os.chdir(home)
    for key in [k for k in os.environ if k.startswith("SKYBRIDGE__")]:
        del os.environ[key]
    os.environ.update({f"SKYBRIDGE__RECOMMEND__{k.upper()}": v for k, v in env.items()})
    spec = find_app(discover_apps(), "recommend")
    return AppContext.create(spec, load_settings([spec]))


def line(claim: str, ours: float, anchor: float, ratio: float, goal: float, note: str = "") -> None:
    verdict = "PASS" if ratio >= goal else "FAIL"
    extra = f"  # {note}" if note else ""
    print(
        f"{claim}: ours={ours:.4f} anchor={anchor:.4f} ratio={ratio:.3f} goal={goal} "
        f"{verdict}{extra}"
    )


# -- data ---------------------------------------------------------------------------------------


def load_ratings() -> list[Rating]:
    with (DATA / "ratings.csv").open() as f:
        rows = [
            (f"u{r['userId']}", f"m{r['movieId']}", float(r["timestamp"]))
            for r in csv.DictReader(f)
        ]
    return sorted(rows, key=lambda r: (r[2], r[0], r[1]))


def load_items() -> list[Item]:
    with (DATA / "movies.csv").open() as f:
        return [
            Item(f"m{r['movieId']}", r["title"][:500], r["genres"].split("|")[0][:100])
            for r in csv.DictReader(f)
        ]


def split(
    ratings: list[Rating],
) -> tuple[float, list[Rating], dict[str, list[str]], dict[str, set[str]]]:
    """``T``, train, streamed items per eval user (time order), ground truth per eval user."""
    cut = float(np.quantile([r[2] for r in ratings], 0.8))
    train = [r for r in ratings if r[2] < cut]
    seen: dict[str, set[str]] = defaultdict(set)
    for user, item, _ in train:
        seen[user].add(item)
    later: dict[str, list[str]] = defaultdict(list)
    for user, item, ts in ratings:
        if ts >= cut:
            later[user].append(item)
    streamed: dict[str, list[str]] = {}
    truth: dict[str, set[str]] = {}
    for user, items in later.items():
        if len(items) < 2:
            continue
        half = len(items) // 2
        known = seen[user] | set(items[:half])
        future = {i for i in items[half:] if i not in known}
        if future:
            streamed[user], truth[user] = items[:half], future
    return cut, train, streamed, truth


# -- metrics ------------------------------------------------------------------------------------


def ndcg(recs: list[str], truth: set[str]) -> float:
    dcg = sum(1.0 / np.log2(n + 2) for n, i in enumerate(recs[:K]) if i in truth)
    ideal = sum(1.0 / np.log2(n + 2) for n in range(min(K, len(truth))))
    return float(dcg / ideal)


def recall(recs: list[str], truth: set[str]) -> float:
    return len(set(recs[:K]) & truth) / min(K, len(truth))


def scores(
    name: str, recs: dict[str, list[str]], truth: dict[str, set[str]], items: int
) -> dict[str, float]:
    found = {
        "ndcg": float(np.mean([ndcg(recs[u], truth[u]) for u in truth])),
        "recall": float(np.mean([recall(recs[u], truth[u]) for u in truth])),
        "coverage": len({i for r in recs.values() for i in r}) / items,
    }
    print(
        f"  {name:<12} nDCG@10={found['ndcg']:.4f} Recall@10={found['recall']:.4f} "
        f"coverage={found['coverage']:.4f} users={len(truth)}"
    )
    return found


# -- anchors ------------------------------------------------------------------------------------


def popularity(
    train: list[Rating], seen: dict[str, set[str]], users: Iterable[str]
) -> dict[str, list[str]]:
    ranked = [
        i
        for i, _ in sorted(Counter(i for _, i, _ in train).items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    out = {}
    for user in users:
        out[user] = [i for i in ranked[: K + len(seen[user]) + 1] if i not in seen[user]][:K]
    return out


def recent_popularity(
    train: list[Rating], cut: float, days: float, seen: dict[str, set[str]], users: Iterable[str]
) -> dict[str, list[str]]:
    """A reference, not an anchor: popularity over the ``days`` before the split only."""
    return popularity([r for r in train if r[2] >= cut - days * 86_400], seen, users)


def train_matrix(train: list[Rating]) -> tuple[dict[str, int], list[str], Any]:
    """Row of each train user, the sorted item ids, and the binary (users x items) matrix."""
    user_ids = sorted({u for u, _, _ in train})
    item_ids = sorted({i for _, i, _ in train})
    row = {u: n for n, u in enumerate(user_ids)}
    col = {i: n for n, i in enumerate(item_ids)}
    pairs = sorted({(row[u], col[i]) for u, i, _ in train})
    matrix = csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), ([p[0] for p in pairs], [p[1] for p in pairs])),
        shape=(len(user_ids), len(item_ids)),
    )
    return row, item_ids, matrix


def batch_als(
    train: list[Rating], params: AlsParams, seen: dict[str, set[str]], users: Iterable[str]
) -> tuple[Any, list[str], dict[str, list[str]]]:
    """The anchor: implicit ALS fitted at the split; popularity for users it never saw."""
    row, item_ids, matrix = train_matrix(train)
    col = {i: n for n, i in enumerate(item_ids)}
    model = als_model(params)
    start = time.perf_counter()
    model.fit(matrix, show_progress=False)
    print(
        f"  batch ALS fit: {time.perf_counter() - start:.2f} s on {matrix.shape} "
        f"({matrix.nnz} nonzeros)"
    )
    fallback = popularity(train, seen, users)
    out = {}
    for user in users:
        if user not in row:
            out[user] = fallback[user]
            continue
        liked = sorted({col[i] for i in seen[user] if i in col})
        history = csr_matrix(
            (np.ones(len(liked), dtype=np.float32), ([0] * len(liked), liked)),
            shape=(1, len(item_ids)),
        )
        ids, _ = model.recommend(row[user], history, N=K, filter_already_liked_items=True)
        out[user] = [item_ids[n] for n in ids]
    return model, item_ids, out


def ease(
    train: list[Rating], seen: dict[str, set[str]], users: Iterable[str], lam: float
) -> dict[str, list[str]]:
    """EASE (Steck, 2019), a reference and not an anchor: the closed-form item-item model
    ``B = I - P / diag(P)``, ``P = (XᵀX + λI)⁻¹``, fitted at the split; a user's scores are their
    train + streamed items times ``B``. Among the strongest simple models on MovieLens."""
    _, item_ids, matrix = train_matrix(train)
    col = {i: n for n, i in enumerate(item_ids)}
    x = matrix.astype(np.float64)
    start = time.perf_counter()
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = inverse / -np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    print(f"  EASE fit (lambda={lam:g}): {time.perf_counter() - start:.1f} s")
    out = {}
    for user in users:
        known = [col[i] for i in seen[user] if i in col]
        scores_ = weights[known].sum(axis=0)
        scores_[known] = -np.inf
        top = np.argpartition(-scores_, K)[:K]
        out[user] = [item_ids[n] for n in top[np.argsort(-scores_[top], kind="stable")]]
    return out


# -- ours ---------------------------------------------------------------------------------------


def stream(ctx: AppContext[Any], engine: Recommender, events: list[UserEvent]) -> tuple[int, float]:
    """Publish ``events`` and run the pipeline until all are applied; (records, seconds)."""
    for start in range(0, len(events), 5000):
        engine.publish(events[start : start + 5000])
    began = time.perf_counter()
    applied = drain_events(ctx, idle=0.5, timeout=3600)
    return applied, time.perf_counter() - began


def quality(
    settings: dict[str, str] | None = None,
    *,
    validation: bool = False,
    ease_lambda: float = 0.0,
    recent_days: float = 0.0,
) -> None:
    ratings = load_ratings()
    if validation:  # the test period is never read: T is taken again within the ratings before it
        before = float(np.quantile([r[2] for r in ratings], 0.8))
        ratings = [r for r in ratings if r[2] < before]
    cut, train, streamed, truth = split(ratings)
    print(
        f"MovieLens small: {len(ratings)} ratings, split at "
        f"{time.strftime('%Y-%m-%d', time.gmtime(cut))}; train {len(train)}, eval users "
        f"{len(truth)}, streamed events {sum(map(len, streamed.values()))}"
    )
    seen: dict[str, set[str]] = defaultdict(set)
    for user, item, _ in train:
        seen[user].add(item)
    for user, items in streamed.items():
        seen[user].update(items)
    home = Path(tempfile.mkdtemp(prefix="recommend-ml-"))
    ctx = context(home, profile_items="5000", record_impressions="false", **(settings or {}))
    params = params_of_ctx(ctx)
    pop = popularity(train, seen, truth)
    anchor_model, anchor_items, batch = batch_als(train, params, seen, truth)
    with open_recommender(ctx) as engine:
        engine.catalogue.put(load_items())
        n, seconds = stream(ctx, engine, [UserEvent(u, "view", ts, i) for u, i, ts in train])
        print(f"  ours: {n} train events through the pipeline in {seconds:.1f} s")
        report = retrain(engine, window_days=36_500, now=cut)
        _, factors = engine.require_model()
        same = factors.ids == anchor_items and np.allclose(
            factors.factors, anchor_model.item_factors, atol=1e-5
        )
        print(
            f"  ours: retrained {report.version} in {report.seconds:.2f} s; "
            f"item factors equal to the anchor's: {same}"
        )
        test = [
            UserEvent(u, "view", ts, i)
            for u, i, ts in ratings
            if ts >= cut and u in streamed and i in streamed[u]
        ]
        test = _streamed_only(test, streamed)
        n, seconds = stream(ctx, engine, test)
        print(
            f"  ours: {n} test-period events streamed (fold-in per event) in {seconds:.2f} s "
            f"= {n / seconds:.0f} events/s"
        )
        ours = {u: recommend(engine, u, k=K, record=False).ids() for u in truth}
    agreement = check_equal(home, anchor_model, anchor_items, train)
    print(
        f"  ours without MMR vs implicit recommend(recalculate_user=True), 100 train users: "
        f"{agreement:.0%} identical top-10 lists"
    )
    items = len(anchor_items)
    p, b, o = (
        scores("popularity", pop, truth, items),
        scores("batch ALS", batch, truth, items),
        scores("ours", ours, truth, items),
    )
    line("recommend_ndcg10_vs_batch_als", o["ndcg"], b["ndcg"], o["ndcg"] / b["ndcg"], 1.0)
    line("recommend_ndcg10_vs_popularity", o["ndcg"], p["ndcg"], o["ndcg"] / p["ndcg"], 2.0)
    if recent_days:
        r = scores(
            f"pop {recent_days:g} d",
            recent_popularity(train, cut, recent_days, seen, truth),
            truth,
            items,
        )
        print(
            f"# reference, not a claim: popularity over the {recent_days:g} days before T "
            f"nDCG@10={r['ndcg']:.4f} = {r['ndcg'] / p['ndcg']:.3f}x popularity, "
            f"{o['ndcg'] / r['ndcg']:.3f} of it is ours"
        )
    if ease_lambda:
        e = scores("EASE", ease(train, seen, truth, ease_lambda), truth, items)
        print(
            f"# reference, not a claim: EASE (lambda={ease_lambda:g}) nDCG@10={e['ndcg']:.4f} = "
            f"{e['ndcg'] / p['ndcg']:.3f}x popularity, {o['ndcg'] / e['ndcg']:.3f} of it is ours"
        )


def params_of_ctx(ctx: AppContext[Any]) -> AlsParams:
    c = ctx.config
    return AlsParams(c.factors, c.regularization, c.alpha, c.iterations)


def _streamed_only(events: list[UserEvent], streamed: dict[str, list[str]]) -> list[UserEvent]:
    """The first half of each eval user's test-period events (the rest is ground truth)."""
    left = {u: len(items) for u, items in streamed.items()}
    out = []
    for e in events:
        if left.get(e.user, 0) > 0:
            out.append(e)
            left[e.user] -= 1
    return out


def check_equal(home: Path, model: Any, item_ids: list[str], train: list[Rating]) -> float:
    """Share of train users whose top-10 from ours (MMR off, no filters) equals implicit's."""
    ctx = context(home, profile_items="5000", record_impressions="false", mmr_lambda="1.0")
    col = {i: n for n, i in enumerate(item_ids)}
    by_user: dict[str, set[str]] = defaultdict(set)
    for u, i, _ in train:
        by_user[u].add(i)
    users = sorted(by_user)[:100]
    same = 0
    with open_recommender(ctx) as engine:
        for user in users:
            profile = engine.profiles.get(user)
            liked = sorted(col[i] for i in profile["items"] if i in col)
            history = csr_matrix(
                (np.ones(len(liked), dtype=np.float32), ([0] * len(liked), liked)),
                shape=(1, len(item_ids)),
            )
            ids, _ = model.recommend(
                0, history, N=K, filter_already_liked_items=True, recalculate_user=True
            )
            same += [item_ids[n] for n in ids] == recommend(engine, user, k=K, record=False).ids()
    return same / len(users)


# -- latency ------------------------------------------------------------------------------------


def synthetic_events(items: int, users: int, per_user: int, seed: int = 1) -> list[UserEvent]:
    rng = random.Random(seed)
    now = time.time() - 3_600
    weights = [1.0 / (n + 1) ** 0.8 for n in range(items)]
    events = [
        UserEvent(f"u{n % users:05d}", "view", now - rng.uniform(0, 86_400), f"i{n:05d}")
        for n in range(items)
    ]
    for u in range(users):
        for item in rng.choices(range(items), weights=weights, k=per_user):
            events.append(
                UserEvent(
                    f"u{u:05d}",
                    rng.choice(["view", "click", "purchase"]),
                    now - rng.uniform(0, 86_400),
                    f"i{item:05d}",
                )
            )
    return sorted(events, key=lambda e: e.ts)


def latency(requests: int, n_items: int = 10_000) -> None:
    """p99 of ``GET /api/recommend/{user}`` on ``skybridge up`` (uvicorn, embedded backends),
    one keep-alive client on loopback, each answer recorded as served."""

    home = Path(tempfile.mkdtemp(prefix="recommend-p99-"))
    ctx = context(home)
    users = 3000
    with open_recommender(ctx) as engine:
        engine.catalogue.put(Item(f"i{n:05d}", f"item {n}", f"c{n % 20}") for n in range(n_items))
        n, seconds = stream(ctx, engine, synthetic_events(n_items, users, 20))
        print(f"latency setup: {n} events streamed in {seconds:.1f} s")
        report = retrain(engine)
        print(f"  model {report.version}: {report.items} items, {report.users} users")
        version, factors = engine.require_model()
        rng = random.Random(2)
        chosen = [f"u{rng.randrange(users):05d}" for _ in range(requests)]
        vectors = {
            u: in_model_space(engine.profiles.get(u), version.version, factors, engine.config)
            for u in set(chosen)
        }
    token = _token(home)
    anchor = implicit_latency(factors.factors, vectors, chosen)
    served = _served_p99(home, token, chosen, background=False)
    line(
        "recommend_api_p99_ms_10k (API process; pipelines and jobs in skybridge worker)",
        served,
        10.0,
        10.0 / served,
        1.0,
        "anchor = the 10 ms budget",
    )
    together = _served_p99(home, token, chosen, background=True)
    print(f"# with every app's pipelines and jobs in the API process: p99={together:.2f} ms")
    print(
        "  implicit recommend in-process (no HTTP, no filters): "
        f"p50={anchor[0]:.3f} ms p99={anchor[1]:.3f} ms"
    )


def _served_p99(home: Path, token: str, chosen: list[str], background: bool) -> float:
    """p99 of the route on ``skybridge up``: with the apps' pipelines and jobs in the same
    process (``background``, what ``skybridge up --demo`` does), or without them, as a serving
    deployment runs it (``skybridge up --no-background`` beside ``skybridge worker``)."""
    import httpx

    from skybridge.testing.browser import running_service

    env = {"SKYBRIDGE__SERVER__TOKEN_RATE_PER_SECOND": "0", "OPENBLAS_NUM_THREADS": "1"}
    env["SKYBRIDGE__SERVER__BACKGROUND"] = "true" if background else "false"
    times = []
    with (
        running_service(home, home / "service.log", env=env, ready_timeout=120) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        for user in chosen[:200]:
            client.get(f"/api/recommend/{user}")
        for user in chosen:
            start = time.perf_counter()
            response = client.get(f"/api/recommend/{user}")
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == K
        health = []
        for _ in range(500):
            start = time.perf_counter()
            client.get("/healthz")
            health.append((time.perf_counter() - start) * 1000)
    p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
    where = "in the same process" if background else "in other processes"
    print(
        f"  ours over HTTP, background work {where}: p50={p50:.2f} ms p99={p99:.2f} ms "
        f"({len(chosen)} requests); /healthz on the same service "
        f"p50={np.percentile(health, 50):.2f} ms p99={np.percentile(health, 99):.2f} ms"
    )
    return p99


def _token(home: Path) -> str:
    """A read token for the service in ``home`` (``skybridge token create``)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    out = subprocess.run(
        [sys.executable, "-m", "skybridge.cli", "token", "create", "bench", "--json"],
        cwd=home,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return str(json.loads(out)["token"])


def implicit_latency(
    item_factors: Any, vectors: dict[str, Any], users: list[str]
) -> tuple[float, float]:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=item_factors.shape[1])
    names = sorted(vectors)
    model.user_factors = np.stack([vectors[u] for u in names]).astype(np.float32)
    model.item_factors = item_factors
    row = {u: n for n, u in enumerate(names)}
    empty = csr_matrix((1, item_factors.shape[0]), dtype=np.float32)
    times = []
    for user in users:
        start = time.perf_counter()
        model.recommend(row[user], empty, N=K, filter_already_liked_items=False)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["quality", "latency"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--validation",
        action="store_true",
        help="quality on the ratings before T only, split the same way (for choosing settings "
        "without looking at the test period)",
    )
    parser.add_argument(
        "--ease-lambda",
        type=float,
        default=500.0,
        help="also score EASE with this L2 weight as a reference (0: skip it); 500 was the "
        "best of 50/200/500/1500 on the --validation split",
    )
    parser.add_argument(
        "--recent-days",
        type=float,
        default=2920.0,
        help="also score popularity over only this many days before T as a reference (0: skip "
        "it); 2920 was the best of 90/180/365/730/1460/2920 on the --validation split",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [recommend] setting for ours and, where it is an ALS one, the anchor",
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"MovieLens small is not at {DATA}")
    settings = dict(item.split("=", 1) for item in args.set)
    if args.only in (None, "quality"):
        quality(
            settings,
            validation=args.validation,
            ease_lambda=args.ease_lambda,
            recent_days=args.recent_days,
        )
    if args.only in (None, "latency"):
        latency(args.requests)


if __name__ == "__main__":
    main()
