"""The `elixir-scope` command line."""
