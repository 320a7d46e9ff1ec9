"""The ONNX sentence encoder of the hybrid intent classifier: its embeddings against the
sentence-transformers reference, their independence from the batch, and the on-disk cache of the
built model (deterministic, written atomically)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from aiaas.router.intent_encoder import (
    DEFAULT_SPEC,
    EncoderSpec,
    OnnxSentenceEncoder,
    build_model_bytes,
    cached_model_path,
    encoder_available,
    spec_for_key,
)

pytestmark = pytest.mark.skipif(
    not encoder_available(), reason="router-embeddings extra not installed"
)

SENTENCES = [
    "where is my new card?",
    "I was charged twice for the same payment",
    "how do I top up with Apple Pay",
    "My PIN is blocked, what can I do",
    "can I change the currency of my account to euros",
    "¿Dónde está mi tarjeta?",
]
SMALL = EncoderSpec(layers=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoder-cache")


@pytest.fixture(scope="module")
def float32_encoder(cache: Path) -> OnnxSentenceEncoder:
    return OnnxSentenceEncoder(EncoderSpec(layers=6, int8=False), cache=cache)


def test_float32_graph_matches_sentence_transformers(
    float32_encoder: OnnxSentenceEncoder,
) -> None:
    from aiaas.router.intent_encoder_reference import (
        ReferenceSentenceEncoder,
        reference_available,
    )

    if not reference_available():
        pytest.skip("torch and sentence-transformers not installed")
    expected = ReferenceSentenceEncoder().encode(SENTENCES)
    np.testing.assert_allclose(float32_encoder.encode(SENTENCES), expected, atol=2e-4)


def test_int8_embeddings_stay_close_to_float32(
    float32_encoder: OnnxSentenceEncoder, cache: Path
) -> None:
    int8 = OnnxSentenceEncoder(EncoderSpec(layers=6, int8=True), cache=cache)
    cosines = (int8.encode(SENTENCES) * float32_encoder.encode(SENTENCES)).sum(axis=1)
    assert cosines.min() > 0.9
    assert cosines.mean() > 0.95


def test_each_pooled_part_has_unit_length_and_do_not_depend_on_the_batch(cache: Path) -> None:
    encoder = OnnxSentenceEncoder(DEFAULT_SPEC, cache=cache)
    together = encoder.encode(SENTENCES * 8)  # enough texts to take the parallel path
    alone = np.stack([encoder.encode([text])[0] for text in SENTENCES])
    np.testing.assert_array_equal(together[: len(SENTENCES)], alone)
    np.testing.assert_array_equal(together[len(SENTENCES) :], np.tile(alone, (7, 1)))
    parts = alone.reshape(len(SENTENCES), len(DEFAULT_SPEC.pooled), 384)
    np.testing.assert_allclose(np.linalg.norm(parts, axis=2), 1.0, rtol=1e-5)
    assert encoder.encode([]).shape == (0, DEFAULT_SPEC.dimension)


def test_pooled_layers_are_each_layer_embedding_side_by_side(cache: Path) -> None:
    pooled = OnnxSentenceEncoder(
        EncoderSpec(layers=2, int8=False, pooled_layers=(1, 2)), cache=cache
    )
    vectors = pooled.encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 2 * 384) == (len(SENTENCES), pooled.spec.dimension)
    for part, layers in enumerate((1, 2)):
        alone = OnnxSentenceEncoder(EncoderSpec(layers=layers, int8=False), cache=cache)
        np.testing.assert_allclose(
            vectors[:, part * 384 : (part + 1) * 384], alone.encode(SENTENCES), atol=1e-5
        )


def test_pooled_layers_must_exist_and_ascend() -> None:
    for pooled in ((), (2, 1), (1, 1), (0, 1), (1, 4)):
        with pytest.raises(ValueError, match="pooled_layers"):
            EncoderSpec(layers=3, pooled_layers=pooled)
    assert EncoderSpec(layers=3).pooled == (3,)
    assert EncoderSpec(layers=3, pooled_layers=(3,)).key == EncoderSpec(layers=3).key
    assert "pooled=1,3" in EncoderSpec(layers=3, pooled_layers=(1, 3)).key


def test_long_messages_are_truncated(cache: Path) -> None:
    encoder = OnnxSentenceEncoder(EncoderSpec(layers=1, max_tokens=16), cache=cache)
    assert len(encoder.tokens(["word " * 100])[0]) == 16
    assert encoder.encode(["word " * 100]).shape == (1, 384)


def test_progress_reaches_one(cache: Path) -> None:
    seen: list[float] = []
    OnnxSentenceEncoder(SMALL, cache=cache).encode(SENTENCES * 10, seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0


def test_the_built_model_is_deterministic() -> None:
    assert build_model_bytes(SMALL) == build_model_bytes(SMALL)


def test_cache_file_is_written_once_and_atomically(tmp_path: Path) -> None:
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(cached_model_path(SMALL, tmp_path)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]  # no temporary leftovers
    built = paths[0].stat().st_mtime_ns
    assert cached_model_path(SMALL, tmp_path).stat().st_mtime_ns == built  # reused, not rebuilt
    assert paths[0].read_bytes() == build_model_bytes(SMALL)


def test_specs_get_their_own_cache_files_and_keys(tmp_path: Path) -> None:
    other = EncoderSpec(layers=2)
    assert cached_model_path(SMALL, tmp_path) != cached_model_path(other, tmp_path)
    assert SMALL.key != other.key
    assert " (" not in DEFAULT_SPEC.key  # the model metadata appends versions after it


def test_a_stored_key_names_its_spec_back() -> None:
    for layers in range(1, 7):
        assert spec_for_key(EncoderSpec(layers=layers).key) == EncoderSpec(layers=layers)
    assert spec_for_key(DEFAULT_SPEC.key) == DEFAULT_SPEC
    # models trained before the encoder read 32 tokens read 128
    for layers in (3, 6):
        earlier = EncoderSpec(layers=layers, max_tokens=128)
        assert earlier.key != EncoderSpec(layers=layers).key
        assert spec_for_key(earlier.key) == earlier
    assert spec_for_key(EncoderSpec(max_tokens=64).key) is None
    assert spec_for_key(EncoderSpec(layers=3, pooled_layers=(1, 3)).key) is None
    assert spec_for_key("another-encoder onnx-r1 int8 layers=3 max_tokens=128") is None


def test_unwritable_cache_falls_back_to_building_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    encoder = OnnxSentenceEncoder(SMALL, cache=blocker / "cache")
    assert encoder.encode(SENTENCES[:1]).shape == (1, 384)
