"""Knowledge: the OTP-pattern knowledge base with its offline vector index, and static
analysis of Elixir sources. Never calls the live node."""
