"""The Keras training core of the classroom dashboard: data, architectures, presets, training,
evaluation, runs and the job queue. Never imports Streamlit; imports Keras only where it trains."""
