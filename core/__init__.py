"""The Keras training core of the classroom dashboard; never imports Streamlit.

Parts, each a package that says in its docstring what it owns and what it may import (tests/core/test_layout.py
holds them to it), from the bottom up: system (files, locks, helper processes), data (the datasets), networks
(config, architectures, presets), formatting, metrics (evaluation, statistics), storage (run folders), training,
analysis (reading runs), queue (jobs and workers), classroom (people, rules, assignments), explain (looking inside),
settings, cli.
"""
