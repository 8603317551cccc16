"""Run storage: run folders on disk (`runs`: the record and its files), the listing of many runs (`listing`), the
results a tested run writes (`results`), an owner's edits (`edits`, checked by `ownership`), and runs as zip files
(`archive`).

Owns the run folder format (docs/run-format.md). Who may change a run is a policy it is handed: an `Actor`
(core.classroom's Identity fits it); it knows nothing of classes, queues or training. May import: core.system,
core.data, core.networks, core.metrics, core.formatting; never Keras.
"""
