"""What can be trained: the one typed TrainConfig (`config`: every field's range and help, which build the widgets,
the CLI and its errors), one builder per network in a registry (`architectures`), a preset per trial of the report
(`presets`), a network described as a table and a diagram (`describe`), and the check that an uploaded model file
is data, not code (`modelfile`).

A new network is a builder and an `Architecture` entry in `architectures`; a new trial is a `Preset`. Keras is
imported only when a network is built. May import: core.data.
"""
