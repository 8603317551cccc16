"""The classroom dashboard: train the report's networks with sliders, compare runs, inspect mistakes.

Run with `make run` (or `streamlit run streamlit_app.py`). The pages talk to the training core
(`core/`) through its API and read run folders; training happens in worker processes.
"""

import streamlit as st

from pages.common import init_session

st.set_page_config(page_title="How networks train", page_icon=":material/show_chart:", layout="wide")
init_session()

# Material icons ship with Streamlit; emoji need a font that classroom machines may lack.
page = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/inspect.py", title="Inspect", icon=":material/search:"),
        st.Page("pages/report.py", title="The report", icon=":material/description:"),
    ]
)
page.run()
