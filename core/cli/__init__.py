"""`python -m core`: the dashboard's training without the dashboard (`main`: presets, train, resume, runs, data,
pretrain), and the commands its helper processes run (worker, explainer); `explain` and `export` add their commands.

The top of the house: reads the settings once and hands them down. May import: every part of core.
"""
