"""The numpy MiniLM encoder against sentence-transformers, the Chroma embedding function,
and the cost of importing the knowledge package."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from elixir_scope.knowledge.encoder import EMBEDDING_DIM, MiniLMEncoder, packaged_model_dir
from elixir_scope.knowledge.errors import ModelNotFoundError

TEXTS = [
    "GenServer.call timed out after 5000 ms",
    "the mailbox of the consumer keeps growing",
    "DBConnection.ConnectionError: connection not available and request was dropped from queue",
    "x",
    "Ünïcödé and emoji 🚀 in a log line, plus CJK 日本語",
    # longer than max_seq_length (256 tokens): both must truncate the same way
    " ".join(["supervisor restart intensity crash loop"] * 80),
]


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder.load()


def test_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(packaged_model_dir()), device="cpu")
    want = reference.encode(TEXTS, normalize_embeddings=False, convert_to_numpy=True)
    got = encoder.encode(TEXTS)
    assert got.shape == (len(TEXTS), EMBEDDING_DIM) and got.dtype == np.float32
    diff = float(np.abs(got - want).max())
    print(f"\nmax |numpy - sentence-transformers| = {diff:.2e}")
    assert diff < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_order_and_batching_do_not_change_vectors(encoder):
    many = [f"process {i} leaks memory {'and more ' * (i % 7)}" for i in range(70)]
    together = encoder.encode(many)
    alone = np.stack([encoder.encode([t])[0] for t in many[:5]])
    assert np.abs(together[:5] - alone).max() < 1e-5
    assert encoder.encode([]).shape == (0, EMBEDDING_DIM)
    with pytest.raises(TypeError):
        encoder.encode("a single string")


def test_missing_or_wrong_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="tokenizer.json"):
        MiniLMEncoder.load(tmp_path)
    src = packaged_model_dir()
    for name in ("tokenizer.json", "model.safetensors"):
        (tmp_path / name).symlink_to(src / name)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 768, "num_hidden_layers": 12}))
    with pytest.raises(ModelNotFoundError, match="does not hold all-MiniLM-L6-v2"):
        MiniLMEncoder.load(tmp_path)


def test_embedding_function_is_registered_and_its_config_is_portable():
    from chromadb.utils.embedding_functions import known_embedding_functions

    from elixir_scope.knowledge.embedding import MiniLMEmbeddingFunction

    ef = MiniLMEmbeddingFunction()
    assert known_embedding_functions[ef.name()] is MiniLMEmbeddingFunction
    config = ef.get_config()
    assert str(packaged_model_dir()) not in json.dumps(config)  # no absolute path stored
    rebuilt = MiniLMEmbeddingFunction.build_from_config(config)
    assert not rebuilt.is_legacy()
    vectors = rebuilt(["a timer leak"])
    assert len(vectors) == 1 and len(vectors[0]) == EMBEDDING_DIM
    with pytest.raises(ModelNotFoundError, match="Rebuild the index"):
        MiniLMEmbeddingFunction.build_from_config({**config, "model": "some-other-model"})


def test_importing_the_package_loads_nothing_heavy():
    code = (
        "import sys, json, elixir_scope.knowledge, elixir_scope.knowledge.retrieve, "
        "elixir_scope.knowledge.index, elixir_scope.knowledge.kb; "
        "heavy = ['chromadb', 'torch', 'sentence_transformers', 'transformers', 'numpy', 'onnxruntime']; "
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
