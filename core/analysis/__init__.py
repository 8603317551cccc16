"""Reading finished runs: which runs reproduce the report's trials and why others differ (`reproduction`), how long
a run will take here (`estimate`), and runs out of the dashboard as tables and TensorBoard files (`export`).

Pure functions of run folders; no training, no Streamlit. May import: core.system, core.data, core.networks,
core.metrics, core.storage, core.formatting.
"""
