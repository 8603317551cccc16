"""Training one run into its run folder: the data split (`inputs`), the compiled network (`compiling`), the loop
(`trainer`: Keras' fit, or the fast path of `fast` with one stepper per backend), what happens each batch and epoch
(`callbacks`), a checkpoint every epoch (`checkpoint`) and continuing from it (`resume`), the learning-rate range
test (`lr_finder`) and what hardware trained it (`device`).

Owns the training process; knows nothing of queues, pages or classes. Keras is imported only where a network is
built or trained. May import: core.system, core.data, core.networks, core.metrics, core.storage.
"""
