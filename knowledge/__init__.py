"""Knowledge: the OTP-pattern knowledge base with its offline vector index, and static
analysis of Elixir sources. Never calls the live node.

Importing this package is cheap on purpose (the MCP server imports it at start-up): the
names below load only the standard library. Chroma and the embedding model are imported
when an index is opened (`KnowledgeIndex.open`, `Retriever.open`) or when
`MiniLMEmbeddingFunction` is first used.

    kb = KnowledgeBase.load()                     # the packaged entries
    retriever = Retriever.open(kb=kb)             # opens + syncs the per-user index
    retriever.search("callers time out", ["call:cycle"])
"""

from .errors import EntryError, KnowledgeError, ModelNotFoundError, SignatureError, VectorIndexError
from .index import KnowledgeIndex, SyncReport, default_index_dir
from .kb import CATEGORIES, Entry, KnowledgeBase
from .retrieve import Hit, Retriever
from .signatures import VOCABULARY as SIGNATURES

__all__ = [
    "CATEGORIES",
    "Entry",
    "EntryError",
    "Hit",
    "KnowledgeBase",
    "KnowledgeError",
    "KnowledgeIndex",
    "MiniLMEmbeddingFunction",
    "ModelNotFoundError",
    "Retriever",
    "SIGNATURES",
    "SignatureError",
    "SyncReport",
    "VectorIndexError",
    "default_index_dir",
]


def __getattr__(name: str):
    # The embedding function imports chromadb (~1.5 s): only when someone asks for it.
    if name == "MiniLMEmbeddingFunction":
        from .embedding import MiniLMEmbeddingFunction

        return MiniLMEmbeddingFunction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
