"""The benchmark: the bridge side by side with the reference jet-bridge and with its ceilings.

Run `bench/run` (or `.venv/bin/python -m bench`); it sets up what it needs (wrk from Debian,
the reference server in `bench/.peer-venv`), starts every server on 127.0.0.1, measures each
scenario in interleaved rounds, prints a table and writes `bench/RESULTS.md`.
"""
