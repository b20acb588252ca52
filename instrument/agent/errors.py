"""The root of the agent loader's errors (the tree: :mod:`.attach`)."""


class AgentLoadError(Exception):
    """The agent could not be loaded on the target; the message says why and what to do."""
