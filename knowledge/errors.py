"""The knowledge base's errors — one hierarchy, so callers can catch the layer as a whole.

    KnowledgeError
    ├── EntryError            an entry file is malformed (names the file and the field)
    ├── SignatureError        a trace-signature token is not in the vocabulary
    ├── ModelNotFoundError    the packaged embedding model is missing or not the expected one
    └── VectorIndexError      the vector index cannot be opened, built or queried

Source-analysis errors live with the source analysis; they do not derive from these.
"""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base class of every error raised by the knowledge base."""


class EntryError(KnowledgeError):
    """A knowledge-base entry is malformed. The message names the file and what to fix."""


class SignatureError(KnowledgeError):
    """A trace-signature token is unknown or badly formed."""


class ModelNotFoundError(KnowledgeError):
    """The all-MiniLM-L6-v2 model files cannot be found or are not the expected model."""


class VectorIndexError(KnowledgeError):
    """The Chroma index cannot be opened, synchronised or queried."""
