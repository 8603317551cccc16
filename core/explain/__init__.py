"""Looking inside a trained network: Grad-CAM, saliency, each layer's activations, the first layer's filters, the
test set's map (`views`), drawn by a helper process beside the web server into a cache the pages read
(`explainer`).

May import: core.system, core.data, core.networks, core.storage.
"""
