"""The demo: a synthesizer (songs with known beats, sound effects, test signals) and the
demo catalog built from it. It stands above the services and may use them; nothing in
the services or core imports it (tests and benchmarks do)."""
