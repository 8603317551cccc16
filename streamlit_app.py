"""The classroom dashboard: train the report's networks with sliders, compare runs, inspect mistakes.

Run with `make run` (or `streamlit run streamlit_app.py`). The pages (pages/) are short scripts that read like
the page they draw; their logic is in ui/ (Streamlit helpers) and core/ (no Streamlit). Training happens in
worker processes, never in the web server. docs/architecture.md has the picture.
"""

import streamlit as st

from ui import navigation

st.set_page_config(page_title="How networks train", page_icon="📈", layout="wide")
navigation.run()
