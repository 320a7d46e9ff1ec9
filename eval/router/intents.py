"""Intent classification on BANKING77: the platform's classifier against plain baselines, all
trained and scored in one run, plus out-of-scope detection with held-out intents.

Data: BANKING77 (Casanueva et al. 2020, CC BY 4.0): 10,003 training and 3,080 test messages of
online-banking customers, 77 intents. Only the training split is used for training and for every
choice (thresholds, temperatures; the defaults were chosen with ``--split validation``); the test
split is only scored.

    python -m eval.router.intents                        # every variant, scored on the test split
    python -m eval.router.intents --split validation     # score on 10% of train instead (tuning)
    python -m eval.router.intents --variants baseline,sparse --no-oos
    python -m eval.router.intents --json results.json

The data folder (``train.csv``, ``test.csv`` with columns ``text,category``) is found through
``--data``, ``$AIAAS_BANKING77_DIR``, ``eval/data/banking77`` or ``../shared/data/banking77``.
"""

from __future__ import annotations

import os

# as recommended for the worker: on a busy machine, OpenMP threads that spin while they wait
# for each other slow torch down several times; passive waiting costs little when it is idle
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import make_union
from sklearn.svm import LinearSVC

from aiaas.router.intent import IntentClassifier, IntentModel, IntentTrainingOptions, Method
from aiaas.router.intent_dense import DEFAULT_SPEC, DenseHead, DenseHeadOptions, shared_encoder

ROOT = Path(__file__).resolve().parents[2]
LATENCY_MESSAGES = 200
OOS_INTENTS = 10
VARIANTS = (
    "baseline",
    "sparse",
    "embeddings-lr",
    "embeddings-mlp",
    "concat-svm",
    "hybrid",
    "hybrid-always",
)
EMBEDDING_VARIANTS = {"embeddings-lr", "embeddings-mlp", "concat-svm", "hybrid", "hybrid-always"}

Examples = list[tuple[str, str]]


def find_data(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get("AIAAS_BANKING77_DIR")]
    candidates += [str(ROOT / "eval/data/banking77"), str(ROOT.parent / "shared/data/banking77")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train.csv").is_file():
            return Path(candidate)
    raise SystemExit("BANKING77 not found: pass --data DIR or set AIAAS_BANKING77_DIR")


def read_split(folder: Path, name: str) -> Examples:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def validation_split(
    train: Examples, fraction: float = 0.1, seed: int = 1
) -> tuple[Examples, Examples]:
    """A stratified part of train to score on while tuning (a different seed than the one the
    classifier uses for its own holdout)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, (_, label) in enumerate(train):
        by_label.setdefault(label, []).append(index)
    held: set[int] = set()
    for label in sorted(by_label):
        members = by_label[label]
        held.update(
            rng.choice(members, size=round(len(members) * fraction), replace=False).tolist()
        )
    return [e for i, e in enumerate(train) if i not in held], [
        e for i, e in enumerate(train) if i in held
    ]


@dataclass
class Result:
    name: str
    method: str
    accuracy: float
    macro_f1: float
    train_seconds: float
    train_cpu_seconds: float
    latency_ms: float
    notes: str = ""


class Predictor:
    """What each variant gives the harness: labels for a batch and for one message at a time."""

    def __init__(self, batch: Callable[[list[str]], list[str]]) -> None:
        self.batch = batch


@dataclass(frozen=True)
class Took:
    """Wall-clock and process CPU seconds (on a shared machine CPU time shows what waiting hides;
    with two threads it can exceed the wall-clock time)."""

    wall: float
    cpu: float

    def __add__(self, other: Took) -> Took:
        return Took(self.wall + other.wall, self.cpu + other.cpu)


def timed(function: Callable[[], Any]) -> tuple[Any, Took]:
    started, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, Took(time.perf_counter() - started, time.process_time() - cpu)


def score(
    name: str, method: str, predictor: Predictor, took: Took, test: Examples, notes: str = ""
) -> Result:
    texts = [text for text, _ in test]
    gold = [label for _, label in test]
    predicted = predictor.batch(texts)
    predictor.batch(texts[:5])  # warm up single-message shapes before timing them
    started = time.perf_counter()
    for text in texts[:LATENCY_MESSAGES]:
        predictor.batch([text])
    latency = (time.perf_counter() - started) / min(LATENCY_MESSAGES, len(texts)) * 1000
    result = Result(
        name,
        method,
        accuracy_score(gold, predicted),
        f1_score(gold, predicted, average="macro"),
        took.wall,
        took.cpu,
        latency,
        notes,
    )
    print(
        f"  {name}: accuracy {result.accuracy:.4f}, macro-F1 {result.macro_f1:.4f}, "
        f"train {took.wall:.1f} s ({took.cpu:.1f} s CPU), {latency:.2f} ms/message",
        flush=True,
    )
    return result


def baseline(train: Examples, test: Examples) -> Result:
    """Plain TF-IDF (word 1-2 + char_wb 2-5 grams, sublinear tf) and logistic regression."""

    def fit() -> Any:
        union = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        )
        matrix = union.fit_transform([t for t, _ in train])
        model = LogisticRegression(C=10, max_iter=2000).fit(matrix, [lab for _, lab in train])
        return union, model

    (union, model), seconds = timed(fit)
    predictor = Predictor(lambda texts: list(model.predict(union.transform(texts))))
    return score(
        "TF-IDF word 1-2 + char 2-5, logistic regression (C=10)",
        "baseline",
        predictor,
        seconds,
        test,
    )


def product(
    method: Method, train: Examples, test: Examples, *, always_encode: bool = False
) -> tuple[Result, IntentModel]:
    """The platform's classifier with its defaults; ``always_encode``: a hybrid model without
    encoder skips (every message through the encoder), to show what they cost."""
    options = IntentTrainingOptions(method=method)
    if always_encode:
        options = replace(options, skip_encoder_confidence=None)
    model, seconds = timed(lambda: IntentClassifier.train(train, seed=0, options=options))
    predictor = Predictor(lambda texts: [p.label for p in model.predict_batch(texts)])
    info = model.info
    val = info.validation or {}
    notes = (
        f"own holdout: acc {val.get('accuracy', 0):.4f}; threshold {info.threshold:.3f}; "
        f"artifact {len(model.to_bytes()) / 1e6:.1f} MB"
    )
    if method == "hybrid":
        share = model.encoded_share([text for text, _ in test])
        notes += f"; encoder run for {share * 100:.1f}% of messages"
    pooled = (
        f", layers {', '.join(map(str, DEFAULT_SPEC.pooled))} mean-pooled side by side"
        if len(DEFAULT_SPEC.pooled) > 1
        else ""
    )
    title = {
        "sparse": "platform `sparse`: TF-IDF word 1-3 + char 2-5, linear SVM, calibrated",
        "hybrid": "platform `hybrid`: `sparse` + MLP on MiniLM-L6 embeddings (first"
        f" {DEFAULT_SPEC.layers} layers, first {DEFAULT_SPEC.max_tokens} tokens, int8"
        f" ONNX{pooled}), calibrated ensemble",
    }[method]
    if method == "hybrid":
        title += (
            ", every message encoded"
            if always_encode
            else f", sparse answer kept at confidence >= {options.skip_encoder_confidence}"
        )
    return score(title, method, predictor, seconds, test, notes), model


class Embedded:
    """Embeddings of train and test for the research variants, computed once; the time to embed
    the training texts is added to each variant's training time, as it would be in production."""

    def __init__(self, train: Examples, test: Examples) -> None:
        self.encoder = shared_encoder(DEFAULT_SPEC)
        self.train_x, self.encode_took = timed(lambda: self.encoder.encode([t for t, _ in train]))
        self.test_x = self.encoder.encode([t for t, _ in test])
        self.test_index = {text: i for i, (text, _) in enumerate(test)}

    def lookup(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:  # single messages are embedded live, so latency includes the encoder
            return self.encoder.encode(texts)
        return self.test_x[[self.test_index[t] for t in texts]]


def embeddings_lr(emb: Embedded, train: Examples, test: Examples) -> Result:
    labels = [lab for _, lab in train]
    model, seconds = timed(lambda: LogisticRegression(C=10, max_iter=3000).fit(emb.train_x, labels))
    predictor = Predictor(lambda texts: list(model.predict(emb.lookup(texts))))
    return score(
        "MiniLM-L6 embeddings, logistic regression (C=10)",
        "research",
        predictor,
        seconds + emb.encode_took,
        test,
    )


def embeddings_mlp(emb: Embedded, train: Examples, test: Examples) -> Result:
    names = sorted({lab for _, lab in train})
    index = {name: i for i, name in enumerate(names)}
    targets = np.array([index[lab] for _, lab in train], dtype=np.int64)
    head, seconds = timed(
        lambda: DenseHead.fit(emb.train_x, targets, len(names), options=DenseHeadOptions(), seed=0)
    )
    predictor = Predictor(
        lambda texts: [names[i] for i in head.scores(emb.lookup(texts)).argmax(axis=1)]
    )
    return score(
        "MiniLM-L6 embeddings, MLP (1024 hidden)",
        "research",
        predictor,
        seconds + emb.encode_took,
        test,
    )


def concat_svm(emb: Embedded, train: Examples, test: Examples) -> Result:
    def fit() -> Any:
        union = make_union(
            TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        )
        matrix = sp.hstack(
            [union.fit_transform([t for t, _ in train]), sp.csr_matrix(emb.train_x)], format="csr"
        )
        return union, LinearSVC(C=1.0).fit(matrix, [lab for _, lab in train])

    (union, model), seconds = timed(fit)

    def predict(texts: list[str]) -> list[str]:
        matrix = sp.hstack([union.transform(texts), sp.csr_matrix(emb.lookup(texts))], format="csr")
        return list(model.predict(matrix))

    return score(
        "TF-IDF word 1-3 + char 2-5 and MiniLM-L6 embeddings side by side, linear SVM",
        "research",
        Predictor(predict),
        seconds + emb.encode_took,
        test,
    )


def out_of_scope(method: Method, train: Examples, test: Examples) -> dict[str, Any]:
    """Train on 67 intents; the other 10 intents' test messages must come out as out of scope.
    The threshold is the one the classifier chose on its own holdout (in-scope examples only)."""
    intents = sorted({lab for _, lab in train})
    rng = np.random.default_rng(0)
    unseen = set(rng.choice(intents, size=OOS_INTENTS, replace=False).tolist())
    model, seconds = timed(
        lambda: IntentClassifier.train(
            [e for e in train if e[1] not in unseen],
            seed=0,
            options=IntentTrainingOptions(method=method),
        )
    )
    predictions = model.predict_batch([t for t, _ in test])
    is_oos = np.array([lab in unseen for _, lab in test])
    flagged = np.array([p.out_of_scope for p in predictions])
    confidence = np.array([p.confidence for p in predictions])
    right = np.array([p.label == lab for p, (_, lab) in zip(predictions, test, strict=True)])
    true_positive = int((flagged & is_oos).sum())
    report = {
        "method": method,
        "unseen_intents": sorted(unseen),
        "threshold": model.threshold,
        "oos_precision": true_positive / max(1, int(flagged.sum())),
        "oos_recall": true_positive / max(1, int(is_oos.sum())),
        "oos_auroc": float(roc_auc_score(is_oos, -confidence)),
        "in_scope_accuracy": float(right[~is_oos].mean()),
        "in_scope_accepted": float((~flagged[~is_oos]).mean()),
        "in_scope_accuracy_when_accepted": float(right[~is_oos & ~flagged].mean()),
        "train_seconds": seconds.wall,
        "train_cpu_seconds": seconds.cpu,
    }
    print(
        f"  out-of-scope ({method}): precision {report['oos_precision']:.3f}, recall "
        f"{report['oos_recall']:.3f}, AUROC {report['oos_auroc']:.3f}, threshold "
        f"{report['threshold']:.3f}, in-scope accepted {report['in_scope_accepted']:.3f}",
        flush=True,
    )
    return report


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout  # noqa: S607
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in lines.splitlines()
                if ln.startswith("Model name")
            ),
            model,
        )
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "scipy", "sklearn", "torch", "onnxruntime", "tokenizers"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "load_average": os.getloadavg(),
        "versions": versions,
    }


def table(results: Sequence[Result]) -> str:
    lines = [
        "| Method | Kind | Accuracy | Macro-F1 | Train s (CPU s) | Predict ms/message | Notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.method} | {r.accuracy * 100:.2f}% | {r.macro_f1 * 100:.2f}% "
            f"| {r.train_seconds:.1f} ({r.train_cpu_seconds:.1f}) | {r.latency_ms:.2f} "
            f"| {r.notes} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data")
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--no-oos", action="store_true", help="skip the out-of-scope experiment")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(wanted) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    available = IntentClassifier.available_methods()
    if "hybrid" not in available:
        skipped = [v for v in wanted if v in EMBEDDING_VARIANTS]
        if skipped:
            print(f"embeddings not installed (router-embeddings extra): skipping {skipped}")
        wanted = [v for v in wanted if v not in EMBEDDING_VARIANTS]

    folder = find_data(args.data)
    train = read_split(folder, "train")
    test = read_split(folder, "test")
    if args.split == "validation":
        train, test = validation_split(train)
    info = machine()
    print(
        f"BANKING77 from {folder}: {len(train)} training, {len(test)} scored ({args.split}); "
        f"{info['cpu']}, {info['cores']} cores, load {info['load_average']}",
        flush=True,
    )

    results: list[Result] = []
    emb: Embedded | None = None
    for variant in wanted:
        if variant in ("embeddings-lr", "embeddings-mlp", "concat-svm") and emb is None:
            emb = Embedded(train, test)
        if variant == "baseline":
            results.append(baseline(train, test))
        elif variant in ("sparse", "hybrid", "hybrid-always"):
            method: Method = "sparse" if variant == "sparse" else "hybrid"
            always = variant == "hybrid-always"
            results.append(product(method, train, test, always_encode=always)[0])
        elif variant == "embeddings-lr" and emb is not None:
            results.append(embeddings_lr(emb, train, test))
        elif variant == "embeddings-mlp" and emb is not None:
            results.append(embeddings_mlp(emb, train, test))
        elif variant == "concat-svm" and emb is not None:
            results.append(concat_svm(emb, train, test))
    methods: list[Method] = ["hybrid", "sparse"] if "hybrid" in available else ["sparse"]
    oos = [] if args.no_oos else [out_of_scope(m, train, test) for m in methods]

    print()
    print(table(results))
    for report in oos:
        print(
            f"\nOut of scope ({report['method']}, {OOS_INTENTS} unseen intents, threshold "
            f"{report['threshold']:.3f} chosen on the classifier's own holdout): precision "
            f"{report['oos_precision'] * 100:.1f}%, recall {report['oos_recall'] * 100:.1f}%, "
            f"AUROC {report['oos_auroc']:.3f}; in-scope accuracy "
            f"{report['in_scope_accuracy'] * 100:.2f}%, accepted "
            f"{report['in_scope_accepted'] * 100:.1f}%, accuracy when accepted "
            f"{report['in_scope_accuracy_when_accepted'] * 100:.2f}%"
        )
    info["load_average_end"] = os.getloadavg()
    print(
        f"\nMachine: {info['cpu']}, {info['cores']} cores; {info['date']}; load average "
        f"{info['load_average'][0]:.1f} at start, {info['load_average_end'][0]:.1f} at end; "
        f"versions {info['versions']}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "split": args.split,
                    "machine": info,
                    "results": [r.__dict__ for r in results],
                    "out_of_scope": oos,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
