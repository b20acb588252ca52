"""Errors of the source analysis.

    SourceAnalysisError          everything this package raises
    ├── SourcePathError          the path to analyze does not exist / is not what was asked
    └── SymptomError             rank_candidates was given an empty symptom

Problems inside the analyzed code (syntax errors, unreadable files) are not raised: they are
reported in SourceAnalysis.errors and the file is skipped, because one broken file must not
hide the rest of a project.
"""

from __future__ import annotations


class SourceAnalysisError(Exception):
    """Base of every error raised by elixir_scope.knowledge.source."""


class SourcePathError(SourceAnalysisError, ValueError):
    """The path given to analyze_tree / analyze_file cannot be analyzed."""


class SymptomError(SourceAnalysisError, ValueError):
    """rank_candidates needs a non-empty symptom description."""
