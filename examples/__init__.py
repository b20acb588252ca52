"""The bundled example apps (Elixir sources, scenarios, READMEs), shipped in the wheel as
package data so that ``elixir-scope demo`` runs from an installed package, away from a
checkout. Nothing here is Python; ``cli/demo.py`` finds the apps beside this file."""
